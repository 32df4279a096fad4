//! One stored response: Pingora's serialized [`CacheMeta`] (internal part and header) and
//! the body, with the tags and the lifetime the storage tiers need; its Redis encoding.

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;

/// The response headers whose values tag a stored response for purges by tag.
pub const TAG_HEADERS: [&str; 2] = ["surrogate-key", "cache-tag"];

/// Leading bytes of an encoded object (format version 1).
const MAGIC: &[u8; 4] = b"EPH1";

/// How long a stale object with a validator is kept past its stale windows, so that it can
/// be revalidated (a 304 then refreshes it instead of a full refetch).
const KEEP_FOR_REVALIDATION: Duration = Duration::from_secs(3600);

/// A stored response. Cheap to share (`Arc` in L1); immutable once stored.
#[derive(Debug, Clone)]
pub struct Object {
    /// `CacheMeta::serialize`'s internal part.
    pub internal: Bytes,
    /// `CacheMeta::serialize`'s header part.
    pub header: Bytes,
    /// The whole body.
    pub body: Bytes,
    /// Until when the tiers keep it (fresh, then stale windows, then a revalidation grace).
    pub keep_until: SystemTime,
    /// The purge tags (`Surrogate-Key` / `Cache-Tag`), space or comma separated.
    pub tags: Box<[String]>,
}

impl Object {
    /// The object for `meta` with `body`; `None` if the meta cannot be serialized.
    pub fn new(meta: &CacheMeta, body: Bytes) -> Option<Object> {
        let (internal, header) = meta.serialize().ok()?;
        Some(Object {
            internal: internal.into(),
            header: header.into(),
            body,
            keep_until: keep_until(meta),
            tags: tags(meta.response_header()),
        })
    }

    /// The same body under a new meta (after a 304 revalidation).
    pub fn with_meta(&self, meta: &CacheMeta) -> Option<Object> {
        Object::new(meta, self.body.clone())
    }

    /// The meta, deserialized (once per hit, as Pingora's own storages do).
    pub fn meta(&self) -> Option<CacheMeta> {
        CacheMeta::deserialize(&self.internal, &self.header).ok()
    }

    /// Bytes it holds.
    pub fn size(&self) -> usize {
        self.internal.len() + self.header.len() + self.body.len()
    }

    /// How long from now the tiers should keep it (zero: already past).
    pub fn ttl(&self) -> Duration {
        self.keep_until
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// The Redis value: magic, keep-until (ms since the epoch), lengths, parts.
    pub fn encode(&self) -> Vec<u8> {
        let keep = self
            .keep_until
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut v = Vec::with_capacity(20 + self.size());
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&keep.to_be_bytes());
        v.extend_from_slice(&(self.internal.len() as u32).to_be_bytes());
        v.extend_from_slice(&(self.header.len() as u32).to_be_bytes());
        v.extend_from_slice(&self.internal);
        v.extend_from_slice(&self.header);
        v.extend_from_slice(&self.body);
        v
    }

    /// Reads [`encode`](Self::encode)'s output; `None` for anything else (a foreign or
    /// truncated value is a miss, never an error).
    pub fn decode(raw: Bytes) -> Option<Object> {
        if raw.len() < 20 || &raw[..4] != MAGIC {
            return None;
        }
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_be_bytes(raw.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let keep = u64::from_be_bytes(raw.get(4..12)?.try_into().ok()?);
        let (ilen, hlen) = (u32_at(12)?, u32_at(16)?);
        let body_at = 20usize.checked_add(ilen)?.checked_add(hlen)?;
        if raw.len() < body_at {
            return None;
        }
        let internal = raw.slice(20..20 + ilen);
        let header = raw.slice(20 + ilen..body_at);
        let body = raw.slice(body_at..);
        let meta = CacheMeta::deserialize(&internal, &header).ok()?;
        Some(Object {
            internal,
            header,
            body,
            keep_until: SystemTime::UNIX_EPOCH + Duration::from_millis(keep),
            tags: tags(meta.response_header()),
        })
    }
}

/// Fresh lifetime, then the longer stale window, then the revalidation grace when the
/// response has a validator (`ETag` or `Last-Modified`).
fn keep_until(meta: &CacheMeta) -> SystemTime {
    let stale = meta
        .stale_while_revalidate_sec()
        .max(meta.stale_if_error_sec());
    let h = meta.headers();
    let grace = match h.contains_key("etag") || h.contains_key("last-modified") {
        true => KEEP_FOR_REVALIDATION,
        false => Duration::ZERO,
    };
    let until = meta.fresh_until().max(SystemTime::now());
    until + Duration::from_secs(stale as u64) + grace
}

/// The purge tags of `resp`: every value of [`TAG_HEADERS`], split on spaces and commas.
pub fn tags(resp: &ResponseHeader) -> Box<[String]> {
    TAG_HEADERS
        .iter()
        .flat_map(|name| resp.headers.get_all(*name).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([' ', ',']))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Accumulates a miss's body up to `max` bytes; past it, gives up (the response streams on
/// to the client, unstored) and holds nothing.
#[derive(Debug)]
pub struct BodyBuffer {
    buf: Option<BytesMut>,
    max: usize,
}

impl BodyBuffer {
    /// An empty buffer taking at most `max` bytes.
    pub fn new(max: usize) -> Self {
        BodyBuffer {
            buf: Some(BytesMut::new()),
            max,
        }
    }

    /// Appends `data`; past the limit the buffer is dropped for good.
    pub fn push(&mut self, data: &[u8]) {
        if let Some(b) = &mut self.buf {
            if b.len() + data.len() > self.max {
                self.buf = None;
            } else {
                b.extend_from_slice(data);
            }
        }
    }

    /// The whole body, or `None` if it went past the limit.
    pub fn finish(self) -> Option<Bytes> {
        self.buf.map(BytesMut::freeze)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(tags: &str) -> CacheMeta {
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.insert_header("surrogate-key", tags).unwrap();
        h.insert_header("etag", "\"v1\"").unwrap();
        let now = SystemTime::now();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, h)
    }

    #[test]
    fn encoding_round_trips_and_foreign_values_are_misses() {
        let o = Object::new(&meta("a b,c"), Bytes::from_static(b"body")).unwrap();
        assert_eq!(&*o.tags, ["a", "b", "c"]);
        let back = Object::decode(o.encode().into()).unwrap();
        assert_eq!(back.body, o.body);
        assert_eq!(&*back.tags, ["a", "b", "c"]);
        assert!(back.meta().unwrap().is_fresh(SystemTime::now()));
        assert!(Object::decode(Bytes::from_static(b"EPH1 short")).is_none());
        assert!(Object::decode(Bytes::from_static(b"{\"json\": \"page data\"}")).is_none());
        let mut cut = o.encode();
        cut.truncate(30);
        assert!(Object::decode(cut.into()).is_none());
    }

    #[test]
    fn a_body_past_the_limit_is_dropped_not_kept() {
        let mut b = BodyBuffer::new(5);
        b.push(b"abc");
        b.push(b"def");
        b.push(b"g");
        assert!(b.finish().is_none());
        let mut b = BodyBuffer::new(5);
        b.push(b"abcde");
        assert_eq!(b.finish().unwrap(), "abcde");
    }
}
