//! Config diagnostics: every problem found, each with a source span and an optional hint,
//! rendered as `FILE:LINE:COL: message`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One config problem.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Byte range in the source file, when known.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// All problems found in one config file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The file the spans refer to.
    pub file: PathBuf,
    /// The file's text (for line/column computation).
    pub source: String,
    /// The problems, in source order.
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list for `file`.
    pub fn new(file: &Path, source: String) -> Self {
        Diagnostics {
            file: file.to_path_buf(),
            source,
            errors: Vec::new(),
        }
    }

    /// Records a problem.
    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.push(span, message, None::<String>);
    }

    /// Records a problem with a hint.
    pub fn push(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<impl Into<String>>,
    ) {
        self.errors.push(Diagnostic {
            span,
            message: message.into(),
            hint: hint.map(Into::into),
        });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// 1-based line and column (in characters) of byte offset `at`.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.source.len());
        let before = self.source.get(..at).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before
            .get(line_start..)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    /// `FILE:LINE:COL: warning: message` (for problems that do not stop the config).
    pub fn render_warning(&self, span: Option<Range<usize>>, message: &str) -> String {
        let file = self.file.display();
        match span {
            Some(span) => {
                let (line, col) = self.line_col(span.start);
                format!("{file}:{line}:{col}: warning: {message}")
            }
            None => format!("{file}: warning: {message}"),
        }
    }

    /// Sorts errors by position (errors without a span last).
    pub fn sort(&mut self) {
        self.errors
            .sort_by_key(|d| d.span.as_ref().map(|s| s.start).unwrap_or(usize::MAX));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        for d in &self.errors {
            match &d.span {
                Some(span) => {
                    let (line, col) = self.line_col(span.start);
                    write!(f, "{file}:{line}:{col}: error: {}", d.message)?;
                }
                None => write!(f, "{file}: error: {}", d.message)?,
            }
            writeln!(f)?;
            if let Some(hint) = &d.hint {
                writeln!(f, "  hint: {hint}")?;
            }
        }
        let n = self.errors.len();
        write!(f, "{n} error{} in {file}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word` (for "did you mean" hints), if reasonably close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let d = Diagnostics::new(Path::new("x.toml"), "a = 1\nbb = 2\n".into());
        assert_eq!(d.line_col(0), (1, 1));
        assert_eq!(d.line_col(6), (2, 1));
        assert_eq!(d.line_col(8), (2, 3));
    }

    #[test]
    fn closest_suggests_typos_only() {
        let keys = ["upstream", "hosts", "path_prefix"];
        assert_eq!(closest("upstrem", keys), Some("upstream"));
        assert_eq!(closest("zzzzzzzz", keys), None);
    }
}
