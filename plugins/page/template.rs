//! A handlebars template file that reloads when it changes, without a restart. Strict mode
//! and HTML escaping are on; a broken edit keeps the last good template (and is logged).
//! A field missing from the data renders per the page's `missing` setting (`missing.rs`).

use super::error::PageError;
use super::missing::{Missing, MissingLog};
use super::simple::{Root, Simple};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use handlebars::{Context, Handlebars, RenderErrorReason};
use once_cell::sync::Lazy;

const NAME: &str = "page";
static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

/// A compiled template: the strict registry, the lenient one used after a strict render
/// failed for a missing variable (`None` when `missing = "strict"`), and its segments when
/// it is a simple template (`simple.rs`).
struct Compiled {
    strict: Handlebars<'static>,
    lenient: Option<Handlebars<'static>>,
    simple: Option<Simple>,
}

/// A reloadable template.
pub struct Template {
    path: PathBuf,
    missing: Missing,
    log: MissingLog,
    current: ArcSwap<Compiled>,
    mtime: Mutex<Option<SystemTime>>,
    last_check_ms: AtomicU64,
    check_every: Duration,
    generation: AtomicU64,
    /// Size of the last page rendered: the next output buffer starts this big.
    size_hint: AtomicUsize,
}

fn compile(path: &Path, missing: &Missing) -> Result<Compiled, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read template {}: {e}", path.display()))?;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(super::escape::escape_html);
    hb.register_template_string(NAME, text)
        .map_err(|e| format!("template {}: {e}", path.display()))?;
    Ok(Compiled {
        lenient: missing.lenient(&hb),
        simple: Simple::compile(&hb, NAME),
        strict: hb,
    })
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Template {
    /// Loads and compiles `path` (errors name the file and the template problem); `label`
    /// names it in metrics and logs (the path as configured), `missing` says what a field
    /// missing from the data renders as.
    pub fn load(
        path: PathBuf,
        label: &str,
        missing: Missing,
        check_every: Duration,
    ) -> Result<Template, PageError> {
        let compiled = compile(&path, &missing).map_err(PageError)?;
        Ok(Template {
            mtime: Mutex::new(mtime(&path)),
            current: ArcSwap::from_pointee(compiled),
            log: MissingLog::new(label),
            missing,
            path,
            last_check_ms: AtomicU64::new(0),
            check_every,
            generation: AtomicU64::new(0),
            size_hint: AtomicUsize::new(1024),
        })
    }

    /// Reloads the file if it changed since the last check (at most once per `check_every`).
    pub fn refresh(&self) {
        let now = EPOCH.elapsed().as_millis() as u64;
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.check_every.as_millis() as u64
            || self
                .last_check_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.reload_if_changed();
    }

    /// Reloads the file now if its modification time changed since it was last seen (a
    /// carried template, at `-s reload`); a bad file keeps the last good template.
    pub fn reload_if_changed(&self) {
        let Ok(mut seen) = self.mtime.lock() else {
            return;
        };
        let m = mtime(&self.path);
        if m == *seen {
            return;
        }
        *seen = m;
        match compile(&self.path, &self.missing) {
            Ok(compiled) => {
                self.current.store(Arc::new(compiled));
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!(template = %self.path.display(), "template reloaded");
            }
            Err(e) => tracing::error!("{e}; keeping the last good template"),
        }
    }

    /// Checks for changes (see [`refresh`](Self::refresh)) and returns the generation of the
    /// template in use: it changes with every successful reload.
    pub fn generation(&self) -> u64 {
        self.refresh();
        self.generation.load(Ordering::Acquire)
    }

    /// Renders a simple template straight from the values `root` resolves (see `simple.rs`);
    /// `None` when the template is not simple or handlebars must render this data.
    pub fn render_simple<'a>(&self, root: impl Fn(&str) -> Option<Root<'a>>) -> Option<Vec<u8>> {
        let compiled = self.current.load();
        let hint = self.size_hint.load(Ordering::Relaxed);
        let out = compiled.simple.as_ref()?.render(root, hint + hint / 4)?;
        self.size_hint.store(out.len(), Ordering::Relaxed);
        Some(out)
    }

    /// Renders with `data` (call [`generation`](Self::generation) first to pick up changes)
    /// into UTF-8 bytes. Strictly first; a missing variable is then forgiven as the `missing`
    /// setting says (counted and logged), any other failure is an error. The data is handed
    /// over, not copied (handlebars' `render` would serialize a copy of it).
    pub fn render(&self, data: serde_json::Value) -> Result<Vec<u8>, PageError> {
        let compiled = self.current.load();
        let failed = |e: handlebars::RenderError| {
            PageError(format!("rendering {}: {e}", self.path.display()))
        };
        let ctx = Context::from(data);
        let hint = self.size_hint.load(Ordering::Relaxed);
        let mut out = Vec::with_capacity(hint + hint / 4);
        let e = match compiled
            .strict
            .render_with_context_to_write(NAME, &ctx, &mut out)
        {
            Ok(()) => {
                self.size_hint.store(out.len(), Ordering::Relaxed);
                return Ok(out);
            }
            Err(e) => e,
        };
        let (RenderErrorReason::MissingVariable(field), Some(lenient)) =
            (e.reason(), &compiled.lenient)
        else {
            return Err(failed(e));
        };
        out.clear();
        lenient
            .render_with_context_to_write(NAME, &ctx, &mut out)
            .map_err(failed)?;
        self.log.record(field.as_deref(), e.line_no);
        Ok(out)
    }

    /// Pages rendered so far with a field missing (all templates with this one's label).
    #[cfg(test)]
    pub fn missing_count(&self) -> u64 {
        self.log.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(r: Result<Vec<u8>, PageError>) -> String {
        String::from_utf8(r.unwrap()).unwrap()
    }

    #[test]
    fn escapes_is_strict_and_reloads_keeping_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.hbs");
        std::fs::write(&path, "<p>{{name}}</p>").unwrap();
        let t = Template::load(path.clone(), "t", Missing::Strict, Duration::ZERO).unwrap();
        assert_eq!(text(t.render(json!({"name": "<b>"}))), "<p>&lt;b&gt;</p>");
        assert!(
            t.render(json!({})).is_err(),
            "strict mode: missing field is an error"
        );

        std::fs::write(&path, "<i>{{name}}</i>").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(t.generation(), 1, "reloaded");
        assert_eq!(text(t.render(json!({"name": "x"}))), "<i>x</i>");

        std::fs::write(&path, "{{#if}}broken").unwrap();
        let later = later + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            t.generation(),
            1,
            "a broken edit keeps the last good template"
        );
        assert_eq!(text(t.render(json!({"name": "y"}))), "<i>y</i>");
    }

    #[test]
    fn broken_template_fails_to_load_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.hbs");
        std::fs::write(&path, "{{#each}}").unwrap();
        let err = Template::load(path, "bad", Missing::Empty, Duration::ZERO)
            .err()
            .unwrap();
        assert!(err.to_string().contains("bad.hbs"), "{err}");
    }

    #[test]
    fn a_missing_field_renders_as_configured_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.hbs");
        std::fs::write(
            &path,
            "<p>{{p.name}}: {{p.price}}</p>{{#each p.tags}}[{{this}}]{{/each}}",
        )
        .unwrap();
        let data = json!({"p": {"name": "Phone"}});
        let full = json!({"p": {"name": "Phone", "price": 5, "tags": ["a"]}});
        let load = |label: &str, missing| {
            Template::load(path.clone(), label, missing, Duration::ZERO).unwrap()
        };

        let strict = load("m-strict", Missing::Strict);
        let err = strict.render(data.clone()).err().unwrap().to_string();
        assert!(err.contains("p.price") && err.contains("m.hbs"), "{err}");
        assert_eq!(strict.missing_count(), 0);

        let empty = load("m-empty", Missing::Empty);
        assert_eq!(text(empty.render(data.clone())), "<p>Phone: </p>");
        assert_eq!(text(empty.render(full.clone())), "<p>Phone: 5</p>[a]");
        assert_eq!(
            empty.missing_count(),
            1,
            "only the page that lacked a field"
        );

        let default = load("m-default", Missing::Default("<n/a>".into()));
        assert_eq!(
            text(default.render(data.clone())),
            "<p>Phone: &lt;n/a&gt;</p>"
        );
        assert_eq!(
            text(default.render(data.clone())),
            "<p>Phone: &lt;n/a&gt;</p>"
        );
        assert_eq!(default.missing_count(), 2);
    }

    #[test]
    fn other_render_errors_stay_errors_whatever_missing_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.hbs");
        std::fs::write(&path, "{{nosuchhelper p.name}}").unwrap();
        let t = Template::load(path, "h", Missing::Empty, Duration::ZERO).unwrap();
        let err = t.render(json!({"p": {"name": "x"}})).err().unwrap();
        assert!(err.to_string().contains("nosuchhelper"), "{err}");
        assert_eq!(t.missing_count(), 0);
    }
}
