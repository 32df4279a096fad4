//! A handlebars template file that reloads when it changes, without a restart. Strict mode
//! and HTML escaping are on; a broken edit keeps the last good template (and is logged).

use super::error::PageError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use handlebars::Handlebars;
use once_cell::sync::Lazy;

const NAME: &str = "page";
static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

/// A reloadable template.
pub struct Template {
    path: PathBuf,
    current: ArcSwap<Handlebars<'static>>,
    mtime: Mutex<Option<SystemTime>>,
    last_check_ms: AtomicU64,
    check_every: Duration,
    generation: AtomicU64,
}

fn compile(path: &Path) -> Result<Handlebars<'static>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read template {}: {e}", path.display()))?;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string(NAME, text)
        .map_err(|e| format!("template {}: {e}", path.display()))?;
    Ok(hb)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Template {
    /// Loads and compiles `path` (errors name the file and the template problem).
    pub fn load(path: PathBuf, check_every: Duration) -> Result<Template, PageError> {
        let hb = compile(&path).map_err(PageError)?;
        Ok(Template {
            mtime: Mutex::new(mtime(&path)),
            current: ArcSwap::from_pointee(hb),
            path,
            last_check_ms: AtomicU64::new(0),
            check_every,
            generation: AtomicU64::new(0),
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
        let Ok(mut seen) = self.mtime.lock() else {
            return;
        };
        let m = mtime(&self.path);
        if m == *seen {
            return;
        }
        *seen = m;
        match compile(&self.path) {
            Ok(hb) => {
                self.current.store(Arc::new(hb));
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

    /// Renders with `data` (call [`generation`](Self::generation) first to pick up changes).
    pub fn render(&self, data: &serde_json::Value) -> Result<String, PageError> {
        self.current
            .load()
            .render(NAME, data)
            .map_err(|e| PageError(format!("rendering {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_is_strict_and_reloads_keeping_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.hbs");
        std::fs::write(&path, "<p>{{name}}</p>").unwrap();
        let t = Template::load(path.clone(), Duration::ZERO).unwrap();
        assert_eq!(
            t.render(&json!({"name": "<b>"})).unwrap(),
            "<p>&lt;b&gt;</p>"
        );
        assert!(
            t.render(&json!({})).is_err(),
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
        assert_eq!(t.render(&json!({"name": "x"})).unwrap(), "<i>x</i>");

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
        assert_eq!(t.render(&json!({"name": "y"})).unwrap(), "<i>y</i>");
    }

    #[test]
    fn broken_template_fails_to_load_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.hbs");
        std::fs::write(&path, "{{#each}}").unwrap();
        let err = Template::load(path, Duration::ZERO).err().unwrap();
        assert!(err.to_string().contains("bad.hbs"), "{err}");
    }
}
