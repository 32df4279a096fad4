//! Shared setup of the cache-engine tests: specs, engines, a versioned origin and the HTTP
//! loader for it, small assertions.

use std::time::Duration;

use super::eventually;
use super::origin::{Origin, OriginBuilder};
use edgeproxy::cache::{
    CacheSpec, HttpOrigin, HttpOriginLimits, Lookup, RedisMode, RedisSpec, TieredCache, Ttls,
};

/// Long lifetimes: nothing expires during a test unless it says so.
pub const TTLS: Ttls = Ttls {
    fresh: Duration::from_secs(30),
    negative: Duration::from_secs(30),
    stale_grace: Duration::from_secs(60),
};

/// A spec for `mode` with short timeouts and a quick breaker.
pub fn spec(mode: RedisMode) -> CacheSpec {
    let mut r = RedisSpec::new(mode);
    r.timeout = Duration::from_millis(100);
    r.connect_timeout = Duration::from_millis(300);
    r.breaker_failures = 3;
    r.breaker_cooldown = Duration::from_millis(300);
    r.lock_ttl = Duration::from_secs(3);
    r.lock_wait = Duration::from_secs(1);
    r.key_prefix = "t:".into();
    CacheSpec {
        l1_capacity_bytes: 16 << 20,
        redis: Some(r),
    }
}

/// [`node_with`] the [`spec`] for the standalone Redis at `url`.
pub async fn node(url: &str) -> TieredCache {
    node_with(spec(RedisMode::Single(url.to_string()))).await
}

/// An engine whose purge subscriber is already listening (its first subscription clears
/// L1, which would otherwise race with the level assertions).
pub async fn node_with(spec: CacheSpec) -> TieredCache {
    let c = TieredCache::new(spec);
    assert!(c.start_background());
    eventually("the purge subscriber", Duration::from_secs(5), || async {
        c.is_subscribed()
    })
    .await
    .unwrap();
    c
}

/// An origin whose body for target T is `v<version>:T` (see [`Origin::set_version`]).
pub fn origin() -> OriginBuilder {
    Origin::builder().template("v{version}:{target}")
}

/// An HTTP loader for the origin double.
pub fn loader(o: &Origin) -> HttpOrigin {
    let a = o.addr;
    let limits = HttpOriginLimits {
        request_timeout: Duration::from_secs(3),
        ..HttpOriginLimits::default()
    };
    HttpOrigin::new(move || Some(a), limits).unwrap()
}

/// The value of a positive lookup, as text.
pub fn found(l: &Lookup) -> String {
    String::from_utf8(l.value.clone().expect("a value").to_vec()).unwrap()
}

/// A blocking Redis connection, for inspecting keys.
pub fn sync_conn(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// Hang detector: a call must return within 2s.
pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(2), f)
        .await
        .expect("cache call hung for more than 2s")
}
