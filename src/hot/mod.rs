//! Hot keys: finding the hash keys that take a large part of a group's traffic.
//!
//! ```text
//! request ─► Detector::observe(key)  (striped HeavyKeeper sketches, one per tick)
//!                  │ every tick (window / 10)
//!                  ▼
//!            Window (last 10 ticks → rates per key and in all)
//! ```

mod detector;
mod window;

pub use detector::{Detector, Tick};
pub use window::{Rates, Window};
