//! A cached value with its freshness, and its wire format in Redis.
//!
//! Redis values carry a small header so that a value kept past its freshness (for
//! stale-if-error) and a negative (404) entry can be told apart from a fresh value:
//! `b"EP1"`, a kind byte (`b'V'` value, `b'N'` negative), the fresh-until time as
//! big-endian Unix milliseconds (8 bytes), then the payload.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::derived::{next_version, Derived, Version};

const MAGIC: &[u8; 3] = b"EP1";
const HEADER_LEN: usize = MAGIC.len() + 1 + 8;

/// One cached answer: a value, or `None` for a remembered origin 404.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value; `None` means the origin said "not found" (negative entry).
    pub value: Option<Bytes>,
    /// Served as fresh until this instant.
    pub fresh_until: Instant,
    /// Kept (for stale-if-error) until this instant.
    pub stale_until: Instant,
    /// L1 generation the entry was stored under (see `L1::demote_all`).
    pub generation: u64,
    /// After a stale answer: until then, answer `STALE` from L1 without retrying L2 and
    /// the origin (so an outage is not paid for with one origin timeout per request).
    pub retry_after: Option<Instant>,
    /// This stored value's identity (new for every entry made from bytes).
    pub version: Version,
    /// What users derived from the value (e.g. its parsed form), shared by clones.
    pub derived: Derived,
}

impl Entry {
    /// An entry fresh for `fresh`, kept `grace` longer for stale-if-error.
    pub fn new(value: Option<Bytes>, fresh: Duration, grace: Duration) -> Self {
        let now = Instant::now();
        Entry {
            value,
            fresh_until: now + fresh,
            stale_until: now + fresh + grace,
            generation: 0,
            retry_after: None,
            version: next_version(),
            derived: Derived::default(),
        }
    }

    /// Whether the entry may still be served as fresh.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }

    /// Whether a recent stale answer should simply be repeated now.
    pub fn in_stale_backoff(&self) -> bool {
        self.retry_after.is_some_and(|t| Instant::now() < t)
    }

    /// Bytes accounted against the L1 budget (payload only; the caller adds key and overhead).
    pub fn payload_len(&self) -> usize {
        self.value.as_ref().map_or(0, Bytes::len)
    }

    /// The Redis representation, fresh until `fresh_until` (wall clock).
    pub fn encode(&self) -> Vec<u8> {
        let remaining = self.fresh_until.saturating_duration_since(Instant::now());
        let until_ms = unix_ms(SystemTime::now() + remaining);
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload_len());
        out.extend_from_slice(MAGIC);
        out.push(if self.value.is_some() { b'V' } else { b'N' });
        out.extend_from_slice(&until_ms.to_be_bytes());
        if let Some(v) = &self.value {
            out.extend_from_slice(v);
        }
        out
    }

    /// Parses a Redis value; `None` if it was not written by this engine. `grace` sets how
    /// long past its freshness the decoded entry is kept locally.
    pub fn decode(raw: &[u8], grace: Duration) -> Option<Entry> {
        if raw.len() < HEADER_LEN || &raw[..MAGIC.len()] != MAGIC {
            return None;
        }
        let kind = raw[MAGIC.len()];
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&raw[MAGIC.len() + 1..HEADER_LEN]);
        let until_ms = u64::from_be_bytes(ms);
        let value = match kind {
            b'V' => Some(Bytes::copy_from_slice(&raw[HEADER_LEN..])),
            b'N' => None,
            _ => return None,
        };
        let now_ms = unix_ms(SystemTime::now());
        let now = Instant::now();
        let fresh_until = if until_ms > now_ms {
            now + Duration::from_millis(until_ms - now_ms)
        } else {
            // Already expired: fresh_until lies in the past by the elapsed time, if representable.
            now.checked_sub(Duration::from_millis(now_ms - until_ms))
                .unwrap_or(now)
        };
        Some(Entry {
            value,
            fresh_until,
            stale_until: fresh_until + grace,
            generation: 0,
            retry_after: None,
            version: next_version(),
            derived: Derived::default(),
        })
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_value_and_negative() {
        let e = Entry::new(
            Some(Bytes::from_static(b"hello")),
            Duration::from_secs(10),
            Duration::ZERO,
        );
        let d = Entry::decode(&e.encode(), Duration::from_secs(1)).unwrap();
        assert_eq!(d.value.as_deref(), Some(&b"hello"[..]));
        assert!(d.is_fresh());
        let n = Entry::new(None, Duration::from_secs(10), Duration::ZERO);
        let d = Entry::decode(&n.encode(), Duration::ZERO).unwrap();
        assert!(d.value.is_none());
        assert!(d.is_fresh());
    }

    #[test]
    fn expired_value_decodes_as_not_fresh() {
        let e = Entry::new(
            Some(Bytes::from_static(b"x")),
            Duration::ZERO,
            Duration::ZERO,
        );
        let d = Entry::decode(&e.encode(), Duration::from_secs(5)).unwrap();
        assert!(!d.is_fresh());
        assert!(d.stale_until > Instant::now());
    }

    #[test]
    fn foreign_values_are_rejected() {
        assert!(Entry::decode(b"plain", Duration::ZERO).is_none());
        assert!(Entry::decode(b"EP1X00000000", Duration::ZERO).is_none());
    }
}
