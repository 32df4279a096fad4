//! `Surrogate-Control` (W3C Edge Architecture 1.0): `Cache-Control` for surrogates (reverse
//! proxies and CDNs) only. When a response has it, its `no-store` and `max-age` decide over
//! `Cache-Control` (which then governs the clients downstream), and it is removed before the
//! response leaves us. We announce ourselves to origins as `Surrogate-Capability:
//! edgeproxy="Surrogate/1.0"`; a directive targeted at another device (`max-age=60;other`)
//! is ignored, one targeted `;edgeproxy` is ours.

use std::time::Duration;

use pingora::cache::cache_control::CacheControl;
use pingora::http::ResponseHeader;

/// The header's name.
pub const CONTROL: &str = "surrogate-control";

/// Our device token: directives targeted `;edgeproxy` are ours.
pub const TARGET: &str = "edgeproxy";

/// The `Surrogate-Capability` value sent to origins on cached routes.
pub const CAPABILITY: &str = "edgeproxy=\"Surrogate/1.0\"";

/// The response's `Surrogate-Control` directives meant for us (without a `;target`, or
/// targeted `;edgeproxy`), parsed like `Cache-Control`.
pub fn control(resp: &ResponseHeader) -> Option<CacheControl> {
    let ours: Vec<&str> = resp
        .headers
        .get_all(CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter_map(|d| match d.split_once(';') {
            None => Some(d),
            Some((d, target)) => (target.trim() == TARGET).then_some(d),
        })
        .filter(|d| !d.is_empty())
        .collect();
    let value = http::HeaderValue::from_str(&ours.join(", ")).ok()?;
    let mut headers = http::HeaderMap::new();
    headers.insert(CONTROL, value);
    CacheControl::from_headers_named(CONTROL, &headers)
}

/// The lifetime its `max-age` gives: zero (stale) when the value is not delta-seconds.
pub fn lifetime(sc: &CacheControl) -> Option<Duration> {
    match sc.max_age() {
        Ok(Some(s)) => Some(Duration::from_secs(s as u64)),
        Ok(None) => None,
        Err(_) => Some(Duration::ZERO),
    }
}
