use super::*;
use crate::cache::CacheSpec;

fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(status, None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

const MAX: Duration = Duration::from_secs(2);

#[test]
fn only_what_a_shared_cache_may_keep_is_cacheable() {
    assert_eq!(cacheable(&resp(200, &[]), MAX), Some(MAX));
    assert_eq!(
        cacheable(&resp(200, &[("cache-control", "public, max-age=1")]), MAX),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        cacheable(
            &resp(200, &[("cache-control", "max-age=60, s-maxage=1")]),
            MAX
        ),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        cacheable(&resp(200, &[("cache-control", "max-age=600")]), MAX),
        Some(MAX),
        "capped"
    );
    for refused in [
        resp(404, &[]),
        resp(206, &[]),
        resp(200, &[("set-cookie", "a=b")]),
        resp(200, &[("vary", "accept-language")]),
        resp(200, &[("cache-control", "no-store")]),
        resp(200, &[("cache-control", "public, no-cache")]),
        resp(200, &[("cache-control", "private")]),
        resp(200, &[("cache-control", "max-age=0")]),
        resp(200, &[("cache-control", "s-maxage=0, max-age=60")]),
        resp(200, &[("cache-control", "max-age=soon")]),
    ] {
        assert_eq!(cacheable(&refused, MAX), None, "{:?}", refused.headers);
    }
}

#[test]
fn only_plain_gets_and_heads_have_a_store_key() {
    let mut get = RequestHeader::build("GET", b"/product?productId=1", None).unwrap();
    get.insert_header("host", "shop.example").unwrap();
    assert_eq!(
        request_key(&get).as_deref(),
        Some("shop.example /product?productId=1")
    );
    let head = RequestHeader::build("HEAD", b"/p", None).unwrap();
    assert_eq!(request_key(&head).as_deref(), Some(" /p"));
    assert_eq!(
        request_key(&RequestHeader::build("POST", b"/p", None).unwrap()),
        None
    );
    let mut auth = get.clone();
    auth.insert_header("authorization", "Bearer x").unwrap();
    assert_eq!(request_key(&auth), None);
    let mut range = get.clone();
    range.insert_header("range", "bytes=0-1").unwrap();
    assert_eq!(request_key(&range), None);
}

fn stored(keys: &[&str]) -> Stored {
    let r = resp(
        200,
        &[
            ("surrogate-key", &keys.join(" ")),
            ("connection", "keep-alive"),
            ("x-a", "1"),
        ],
    );
    let header = storable_header(&r);
    assert!(header.headers.get("connection").is_none() && header.headers.get(TAGS).is_none());
    assert_eq!(header.headers["x-a"], "1");
    Stored {
        header,
        body: Bytes::from_static(b"page"),
        tags: tags(&r),
        stored: Instant::now(),
        ttl: Duration::from_secs(60),
    }
}

fn store() -> (Arc<FirstHopStore>, TieredCache) {
    let cache = TieredCache::new(CacheSpec::default());
    (
        FirstHopStore::new(FirstHopSpec::default(), cache.clone()),
        cache,
    )
}

#[tokio::test]
async fn purges_of_the_cache_drop_tagged_copies_by_tag_and_untagged_ones_always() {
    let (s, cache) = store();
    assert!(s.serving(), "no redis: local purges are all there is");
    let t = s.begin();
    assert!(s.put("a".into(), stored(&["product_info_1", "shop_info_1"]), t));
    assert!(s.put("b".into(), stored(&["product_info_2", "shop_info_1"]), t));
    assert!(s.put("c".into(), stored(&[]), t));
    assert!(s.get("a").is_some() && s.get("c").is_some());
    cache.purge("product_info_9").await;
    assert!(s.get("a").is_some() && s.get("b").is_some());
    assert!(s.get("c").is_none(), "untagged: dropped by any purge");
    cache.purge("product_info_1").await;
    assert!(s.get("a").is_none());
    assert!(s.get("b").is_some());
    cache.purge_prefix("shop_info_").await;
    assert!(s.get("b").is_none());
}

#[tokio::test]
async fn a_capture_that_overlapped_a_purge_is_not_stored() {
    let (s, cache) = store();
    let began = s.begin();
    cache.purge("unrelated").await;
    assert!(!s.put("a".into(), stored(&["x"]), began));
    assert!(s.get("a").is_none());
    assert!(s.put("a".into(), stored(&["x"]), s.begin()));
    assert_eq!(s.usage().0, 1);
}

#[test]
fn expired_copies_are_not_served() {
    let (s, _cache) = store();
    let mut old = stored(&["x"]);
    old.ttl = Duration::from_millis(1);
    assert!(s.put("a".into(), old, s.begin()));
    std::thread::sleep(Duration::from_millis(5));
    assert!(s.get("a").is_none());
}
