//! Helpers for typed plugin configs: human-friendly durations and sizes with serde.
//!
//! ```ignore
//! #[derive(serde::Deserialize)]
//! struct Cfg {
//!     #[serde(deserialize_with = "edgeproxy::plugin_api::de_duration")]
//!     ttl: std::time::Duration,          // "10m", "250ms"
//! }
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes `"10m"`, `"1s 500ms"` (humantime) into a [`Duration`].
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {s:?}: {e} (e.g. \"500ms\", \"10m\")"
        ))
    })
}

/// Like [`de_duration`] for `Option<Duration>` fields (use with `#[serde(default)]`).
pub fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}
