//! Response compression (gzip, brotli, zstd) with nginx's `gzip` semantics, for proxied
//! responses and local ones (content phase, errors) alike.
//!
//! It runs as a Pingora downstream module ([`module::CompressModule`]): Pingora passes
//! every response written to the client through it, proxied or written by
//! [`crate::proxy`] itself, after the plugins' header and body filters (plugins see the
//! uncompressed body). The gzip and zstd encoders are Pingora's (`pingora-core`'s
//! `protocols::http::compression`: flate2, zstd); the brotli one is [`brotli`], on the same
//! `brotli` crate, because Pingora 0.9.1's never finishes its stream. Pingora's own decision logic
//! (`ResponseCompressionCtx`) is not used: it ignores q-values (`gzip;q=0` still gets gzip),
//! has a fixed minimum length (20 bytes) and a fixed type list (every `application/*`),
//! does not look at `Cache-Control: no-transform`, picks the client's first coding rather
//! than the server's preference, and would decompress upstream responses. [`decide`] is
//! the replacement; see docs/edge.md for the rules.

mod accept;
pub mod brotli;
mod decide;
mod module;

pub use accept::Accepted;
pub use decide::{decide, Decision, RequestInfo};
pub use module::{configure, same, start, CompressModule, CompressModuleBuilder};

/// A content coding edgeproxy can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (flate2).
    Gzip,
    /// `br` (brotli).
    Brotli,
    /// `zstd`.
    Zstd,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The coding a token names (case-insensitive; `x-gzip` is `gzip`).
    pub fn from_token(t: &str) -> Option<Coding> {
        const NAMES: [(&str, Coding); 4] = [
            ("gzip", Coding::Gzip),
            ("x-gzip", Coding::Gzip),
            ("br", Coding::Brotli),
            ("zstd", Coding::Zstd),
        ];
        NAMES
            .iter()
            .find(|(name, _)| t.eq_ignore_ascii_case(name))
            .map(|&(_, c)| c)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The media types compressed by default: nginx's `text/html` plus the usual text formats.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/html",
    "text/css",
    "text/plain",
    "text/xml",
    "text/javascript",
    "text/markdown",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/problem+json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "image/svg+xml",
    "image/x-icon",
    "font/ttf",
    "font/otf",
];

/// Which media types are compressed (nginx `gzip_types`): exact `type/subtype`,
/// `type/*`, or `*` for all; `text/html` always is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Types {
    any: bool,
    exact: Vec<String>,
    majors: Vec<String>,
}

impl Types {
    /// The list from `entries` (already checked by the config reader), plus `text/html`.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Types {
        let mut t = Types {
            any: false,
            exact: vec!["text/html".to_string()],
            majors: Vec::new(),
        };
        for e in entries {
            let e = e.trim().to_ascii_lowercase();
            if e == "*" {
                t.any = true;
            } else if let Some(major) = e.strip_suffix("/*") {
                t.majors.push(major.to_string());
            } else if !t.exact.contains(&e) {
                t.exact.push(e);
            }
        }
        t
    }

    /// Whether a `Content-Type` value (parameters ignored, any case) is in the list.
    pub fn matches(&self, content_type: &str) -> bool {
        if self.any {
            return true;
        }
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let major = mime.split('/').next().unwrap_or("");
        self.exact.iter().any(|t| t.eq_ignore_ascii_case(mime))
            || self.majors.iter().any(|m| m.eq_ignore_ascii_case(major))
    }
}

/// How a server block or route compresses (`compression = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionSpec {
    /// The codings offered, in the server's order of preference (ties in q-value).
    pub algorithms: Vec<Coding>,
    /// gzip level 1..=9 (nginx `gzip_comp_level`, default 1).
    pub gzip_level: u32,
    /// brotli quality 1..=11 (default 4).
    pub brotli_level: u32,
    /// zstd level 1..=19 (default 3).
    pub zstd_level: u32,
    /// Responses whose `Content-Length` is below this are sent as they are (nginx
    /// `gzip_min_length`, default 20); a response without `Content-Length` is compressed.
    pub min_length: u64,
    /// The media types compressed (nginx `gzip_types`).
    pub types: Types,
    /// Add `Vary: Accept-Encoding` to every response that could be compressed, whether this
    /// one was or not (nginx `gzip_vary`; default on here, off in nginx).
    pub vary: bool,
}

impl Default for CompressionSpec {
    /// br, zstd, gzip; levels 4, 3, 1; 20 bytes; [`DEFAULT_TYPES`]; `Vary` on.
    fn default() -> Self {
        CompressionSpec {
            algorithms: vec![Coding::Brotli, Coding::Zstd, Coding::Gzip],
            gzip_level: 1,
            brotli_level: 4,
            zstd_level: 3,
            min_length: 20,
            types: Types::new(DEFAULT_TYPES.iter().copied()),
            vary: true,
        }
    }
}

impl CompressionSpec {
    /// The configured level of `c`.
    pub fn level(&self, c: Coding) -> u32 {
        match c {
            Coding::Gzip => self.gzip_level,
            Coding::Brotli => self.brotli_level,
            Coding::Zstd => self.zstd_level,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_lists() {
        let t = Types::new(["application/json", "font/*"]);
        assert!(t.matches("text/html; charset=utf-8"));
        assert!(t.matches("Application/JSON"));
        assert!(t.matches("font/woff2"));
        assert!(!t.matches("text/css"));
        assert!(!t.matches("image/png"));
        assert!(!t.matches(""));
        assert!(Types::new(["*"]).matches("image/png"));
        let d = CompressionSpec::default().types;
        assert!(d.matches("text/css") && d.matches("application/javascript"));
        assert!(!d.matches("application/octet-stream") && !d.matches("image/jpeg"));
    }

    #[test]
    fn coding_tokens() {
        assert_eq!(Coding::from_token("GZIP"), Some(Coding::Gzip));
        assert_eq!(Coding::from_token("x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::from_token("br"), Some(Coding::Brotli));
        assert_eq!(Coding::from_token("zstd"), Some(Coding::Zstd));
        assert_eq!(Coding::from_token("deflate"), None);
    }
}
