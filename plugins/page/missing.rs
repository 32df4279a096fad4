//! What a page template renders for a field its data lacks: the `missing` setting.
//!
//! Templates render in handlebars strict mode, so a mistake in a template (a misspelt
//! field) is an error, never a silently empty spot. One record lacking a field would make
//! that page a 500 on every request, though; `missing` lets the operator say what such a
//! field renders as instead:
//!
//! - `"strict"` (default): the error stands (500);
//! - `"empty"`: nothing;
//! - `{ default = "n/a" }`: that text (HTML-escaped like any value).
//!
//! Only a strict-mode *missing variable* is forgiven: the page is rendered strictly first,
//! and only when that fails for a missing variable is it rendered again without strict
//! mode. Each such page is counted in `edgeproxy_page_missing_fields_total{template}` and
//! logged (warn, at most once per [`WARN_EVERY`] per template, with the number of pages
//! since the last warning), naming the missing field and the template line.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use handlebars::{Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext};
use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// At most one warning per template this often.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Pages rendered with a field missing from their data, by template.
static MISSING_FIELDS: Lazy<IntCounterVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter_vec(
        "edgeproxy_page_missing_fields_total",
        "Pages rendered with a field missing from their data (per the template's `missing` setting), by template",
        &["template"],
    )
});

/// The `missing` setting of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Missing {
    /// A missing field fails the page (500).
    #[default]
    Strict,
    /// A missing field renders as nothing.
    Empty,
    /// A missing field renders as this text.
    Default(String),
}

impl<'de> Deserialize<'de> for Missing {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MissingVisitor)
    }
}

struct MissingVisitor;

impl<'de> Visitor<'de> for MissingVisitor {
    type Value = Missing;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#""strict", "empty" or { default = "text" }"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Missing, E> {
        match v {
            "strict" => Ok(Missing::Strict),
            "empty" => Ok(Missing::Empty),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Missing, A::Error> {
        let mut text = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "default" if text.is_none() => text = Some(map.next_value::<String>()?),
                "default" => return Err(de::Error::duplicate_field("default")),
                other => return Err(de::Error::unknown_field(other, &["default"])),
            }
        }
        text.map(Missing::Default)
            .ok_or_else(|| de::Error::missing_field("default"))
    }
}

impl Missing {
    /// The registry used after a strict render failed for a missing variable: `strict`
    /// without strict mode, and for a default text a `helperMissing` hook writing it.
    /// `None` for [`Missing::Strict`].
    pub fn lenient(&self, strict: &Handlebars<'static>) -> Option<Handlebars<'static>> {
        let text = match self {
            Missing::Strict => return None,
            Missing::Empty => None,
            Missing::Default(t) => Some(handlebars::html_escape(t)),
        };
        let mut hb = strict.clone();
        hb.set_strict_mode(false);
        if let Some(text) = text {
            hb.register_helper("helperMissing", Box::new(DefaultText(text)));
        }
        Some(hb)
    }
}

/// `helperMissing` in the lenient registry: a field without a value renders as the text.
struct DefaultText(String);

impl HelperDef for DefaultText {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(&self.0)?;
        Ok(())
    }
}

/// The count and rate-limited warning of one template's pages rendered with missing fields.
pub struct MissingLog {
    template: String,
    counter: IntCounter,
    started: Instant,
    /// Milliseconds since `started` of the last warning, plus one (0: never warned).
    last_warn: AtomicU64,
    since_warn: AtomicU64,
}

impl MissingLog {
    /// The log of the template labelled `template` (as configured, e.g. `templates/p.hbs`).
    pub fn new(template: &str) -> Self {
        MissingLog {
            template: template.to_string(),
            counter: MISSING_FIELDS.with_label_values(&[template]),
            started: Instant::now(),
            last_warn: AtomicU64::new(0),
            since_warn: AtomicU64::new(0),
        }
    }

    /// Counts one page rendered without `field` (from the strict error), at `line`.
    pub fn record(&self, field: Option<&str>, line: Option<usize>) {
        self.counter.inc();
        let pages = self.since_warn.fetch_add(1, Relaxed) + 1;
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_warn.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if !due
            || self
                .last_warn
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        self.since_warn.fetch_sub(pages, Relaxed);
        tracing::warn!(
            template = %self.template,
            field = field.unwrap_or("?"),
            line = line.unwrap_or(0),
            pages,
            "page rendered with a field missing from its data (template `missing` setting); \
             {pages} page(s) since the last warning"
        );
    }

    /// Pages counted so far for this template (all instances with the same label).
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.counter.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Missing, String> {
        serde_json::from_str::<Missing>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_strict_empty_or_a_default() {
        assert_eq!(parse(r#""strict""#), Ok(Missing::Strict));
        assert_eq!(parse(r#""empty""#), Ok(Missing::Empty));
        assert_eq!(
            parse(r#"{"default": "n/a"}"#),
            Ok(Missing::Default("n/a".into()))
        );
        for bad in [r#""lenient""#, r#"{"text": "x"}"#, "{}", "1"] {
            let err = parse(bad).err().unwrap_or_default();
            assert!(
                err.contains("expected") || err.contains("`default`"),
                "{bad}: {err}"
            );
        }
    }
}
