//! Rendered pages, reused while the template and every source value are the very same.
//!
//! A cache hit of every source hands back the same `Bytes` allocation as last time, so a page
//! rendered from them can be served again without parsing JSON or running the template.
//! Identity (pointer and length) is the test; each entry holds clones of the source values,
//! so an allocation cannot be freed and reused for other content while an entry refers to it.

use std::sync::Arc;

use bytes::Bytes;
use moka::sync::Cache;

/// One rendered page and what it was rendered from.
struct Entry {
    generation: u64,
    sources: Vec<Option<Bytes>>,
    html: Bytes,
}

/// A bounded cache of rendered pages keyed by the canonical request parameters.
pub struct Memo {
    pages: Option<Cache<String, Arc<Entry>>>,
}

fn same(a: &Option<Bytes>, b: &Option<Bytes>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.as_ptr() == b.as_ptr() && a.len() == b.len(),
        (None, None) => true,
        _ => false,
    }
}

impl Memo {
    /// A memo bounded to `capacity_bytes` (rendered HTML plus the source values it pins);
    /// 0 disables it.
    pub fn new(capacity_bytes: u64) -> Memo {
        let pages = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &String, e: &Arc<Entry>| {
                    let pinned: usize = e.sources.iter().flatten().map(Bytes::len).sum();
                    (k.len() + e.html.len() + pinned + 64)
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .build()
        });
        Memo { pages }
    }

    /// Whether the memo is on (capacity above 0).
    pub fn enabled(&self) -> bool {
        self.pages.is_some()
    }

    /// The page rendered for `key` by template `generation` from exactly `sources`.
    pub fn get(&self, key: &str, generation: u64, sources: &[Option<Bytes>]) -> Option<Bytes> {
        let e = self.pages.as_ref()?.get(key)?;
        let hit = e.generation == generation
            && e.sources.len() == sources.len()
            && e.sources.iter().zip(sources).all(|(a, b)| same(a, b));
        hit.then(|| e.html.clone())
    }

    /// Remembers a rendered page.
    pub fn put(&self, key: String, generation: u64, sources: Vec<Option<Bytes>>, html: Bytes) {
        if let Some(pages) = &self.pages {
            pages.insert(
                key,
                Arc::new(Entry {
                    generation,
                    sources,
                    html,
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_only_for_identical_sources_and_template() {
        let memo = Memo::new(1 << 20);
        // Heap values, as bodies read from the network are (static literals may share storage).
        let a = Bytes::from(r#"{"x":1}"#.to_string());
        let copy = Bytes::from(r#"{"x":1}"#.to_string());
        memo.put(
            "k".into(),
            1,
            vec![Some(a.clone()), None],
            Bytes::from("page"),
        );
        assert_eq!(
            memo.get("k", 1, &[Some(a.clone()), None]).as_deref(),
            Some(&b"page"[..])
        );
        assert!(
            memo.get("k", 2, &[Some(a.clone()), None]).is_none(),
            "template reloaded"
        );
        assert!(
            memo.get("k", 1, &[Some(copy), None]).is_none(),
            "equal bytes, other value"
        );
        assert!(memo
            .get("k", 1, &[Some(a.clone()), Some(a.clone())])
            .is_none());
        assert!(memo.get("other", 1, &[Some(a), None]).is_none());
        assert!(Memo::new(0).get("k", 1, &[]).is_none());
    }
}

#[cfg(test)]
mod micro {
    //! Rough per-operation costs of the page hot path (run by hand:
    //! `cargo test --release --bin edgeproxy micro -- --ignored --nocapture`).
    use std::time::Instant;

    #[test]
    #[ignore]
    fn micro_costs() {
        let product = br#"{"id":7,"name":"Product <7> & 'friends'","price":99.5,"pictureList":"a.jpg,b.jpg,c.jpg","specification":"iphone7 plus 128G, 5.5 inch","service":"7 days no reason return, free shipping","color":"red, white, black","size":"5.5"}"#;
        let shop = br#"{"id":3,"name":"Shop 3","level":5,"goodCommentRate":0.99}"#;
        let n = 100_000;
        let t = Instant::now();
        for _ in 0..n {
            let a: serde_json::Value = serde_json::from_slice(product).unwrap();
            let b: serde_json::Value = serde_json::from_slice(shop).unwrap();
            std::hint::black_box((a, b));
        }
        println!("json parse x2: {:?}/op", t.elapsed() / n);
        let tpl = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/edgeproxy/product.hbs"
        ))
        .unwrap();
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_template_string("p", tpl).unwrap();
        let a: serde_json::Value = serde_json::from_slice(product).unwrap();
        let b: serde_json::Value = serde_json::from_slice(shop).unwrap();
        let data = serde_json::json!({"product": a, "shop": b, "params": {"productId": "7", "shopId": "3"}});
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(hb.render("p", &data).unwrap());
        }
        println!("handlebars render: {:?}/op", t.elapsed() / n);
        let t = Instant::now();
        for _ in 0..n {
            let mut m = serde_json::Map::new();
            m.insert("product".into(), a.clone());
            m.insert("shop".into(), b.clone());
            std::hint::black_box(m);
        }
        println!("clone values into data: {:?}/op", t.elapsed() / n);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let cache: moka::future::Cache<String, bytes::Bytes> =
            moka::future::Cache::builder().max_capacity(1000).build();
        rt.block_on(async {
            for i in 0..1000 {
                cache
                    .insert(
                        format!("product_info_{i}"),
                        bytes::Bytes::from(vec![0u8; 300]),
                    )
                    .await;
            }
            let t = Instant::now();
            for i in 0..n {
                let k = format!("product_info_{}", i % 1000);
                std::hint::black_box(cache.get(&k).await);
            }
            println!("moka future get (+format key): {:?}/op", t.elapsed() / n);
        });
    }
}
