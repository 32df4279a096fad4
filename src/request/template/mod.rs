//! The one request-variable engine: nginx-style templates (`$arg_productId:$arg_shopId`,
//! `$remote_addr - [$time_local] "$request" $status`) parsed once, when the config is read,
//! and evaluated per request. Hash keys, rate-limit and gray-release keys, Kafka message
//! keys, redirect locations and access-log formats all use it, so a variable means the same
//! everywhere (APISIX's one `ctx.var`).
//!
//! - Syntax (`syntax.rs`): literal text, `$name`, `${name}`, `$1`..`$9`.
//! - Request variables (`request.rs`, read from a [`RequestView`]): what the request, its
//!   client and the variables plugins set give (`$arg_NAME`, `$http_NAME`, `$uri`, `$host`,
//!   `$consumer`, ...).
//! - More variables come from an [`Extra`] set the user of the template adds: the access
//!   log's `$status`, `$request_time`, `$upstream_addr`, ... are resolved there, with what
//!   the log phase knows. Keys use none ([`NoExtra`]).
//! - `$1`..`$9`: capture groups of a `path_regex` given at parse time, matched on `$uri`.
//!
//! Three ways to evaluate: as a key ([`Template::eval`]: values as they are, and the whole
//! template is missing when one variable is missing or empty, so the caller can apply its
//! fallback instead of hashing a constant), as a log line ([`Template::render`]: values
//! escaped as nginx escapes logs, `-` for a missing one), or as text ([`Template::expand`]:
//! a missing variable is nothing, as in nginx's `return`).

mod request;
mod sink;
mod syntax;

use std::fmt;

use pingora::http::RequestHeader;
use regex::Regex;

pub use request::RequestView;
use request::{decoded_path, Lookup, RequestVar};
pub use sink::{escape, Escaped, Raw, Sink};

/// Why a template was rejected; the message names the template and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl TemplateError {
    fn new(message: String) -> Self {
        TemplateError(message)
    }

    /// The same error with `what` (e.g. `fallback`) in front of its message.
    pub fn context(self, what: &str) -> Self {
        TemplateError(format!("{what}: {}", self.0))
    }
}

/// Variables a template's user adds to the request variables, resolved from their names
/// at parse time and written per evaluation from what that user passes (`Input`).
pub trait Extra: Sized {
    /// What the variables read for one evaluation.
    type Input<'a>;
    /// Their names, for the error that lists what a template may use.
    const NAMES: &'static str;
    /// The variable `$name`, if the set has it (request variables are looked up first).
    fn variable(name: &str) -> Option<Self>;
    /// Writes the value into `out`; nothing when it is missing.
    fn write<S: Sink>(&self, input: &Self::Input<'_>, out: &mut S);
}

/// No variables beyond the request's (keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExtra {}

impl Extra for NoExtra {
    type Input<'a> = ();
    const NAMES: &'static str = "";

    fn variable(_: &str) -> Option<Self> {
        None
    }

    fn write<S: Sink>(&self, _: &(), _: &mut S) {
        match *self {}
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone)]
enum Part<X> {
    Lit(Box<str>),
    Req(RequestVar),
    Extra(X),
    /// Capture group `n` of the template's `path_regex` on `$uri`.
    Capture(usize),
}

/// A parsed template; cheap to evaluate per request.
#[derive(Debug, Clone)]
pub struct Template<X = NoExtra> {
    source: String,
    parts: Vec<Part<X>>,
    path_regex: Option<Regex>,
    /// Some part reads the decoded path (`$uri`, captures): decoded once per evaluation.
    needs_path: bool,
}

impl<X: Extra> Template<X> {
    /// Parses a template without regex captures.
    pub fn parse(s: &str) -> Result<Self, TemplateError> {
        Self::parse_with_path_regex(s, None)
    }

    /// Parses a template; `$1`..`$9` refer to capture groups of `path_regex` on `$uri`.
    pub fn parse_with_path_regex(s: &str, path_regex: Option<&str>) -> Result<Self, TemplateError> {
        let path_regex = match path_regex {
            Some(re) => Some(
                Regex::new(re)
                    .map_err(|e| TemplateError::new(format!("invalid path_regex `{re}`: {e}")))?,
            ),
            None => None,
        };
        let mut parts = Vec::new();
        for token in syntax::tokens(s)? {
            parts.push(match token {
                syntax::Token::Lit(l) => Part::Lit(l.into()),
                syntax::Token::Var(name) => variable(name, s, path_regex.as_ref())?,
            });
        }
        if parts.is_empty() {
            return Err(TemplateError::new(
                "empty template; hint: use a variable such as `$arg_productId`".into(),
            ));
        }
        let needs_path = parts.iter().any(|p| match p {
            Part::Req(v) => v.needs_path(),
            Part::Capture(_) => true,
            _ => false,
        });
        Ok(Template {
            source: s.to_string(),
            parts,
            path_regex,
            needs_path,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates the template as a key into `out` (cleared first): values as they are.
    /// Returns `false`, with `out` empty, when a variable is missing or empty.
    pub fn eval_with(&self, r: &RequestView<'_>, extra: &X::Input<'_>, out: &mut String) -> bool {
        out.clear();
        let complete = self.write(r, extra, &mut Raw(out), |_| false);
        if !complete {
            out.clear();
        }
        complete
    }

    /// Evaluates the template into `out` (cleared first) the way nginx's `return` does:
    /// values as they are, a missing variable as nothing (a location, a header value).
    pub fn expand(&self, r: &RequestView<'_>, extra: &X::Input<'_>, out: &mut String) {
        out.clear();
        self.write(r, extra, &mut Raw(out), |_| true);
    }

    /// Evaluates the template as a log line, appended to `out`: values escaped as nginx
    /// escapes logs, `-` for a variable that is missing or empty.
    pub fn render(&self, r: &RequestView<'_>, extra: &X::Input<'_>, out: &mut String) {
        self.write(r, extra, &mut Escaped(out), |s| {
            s.push_literal("-");
            true
        });
    }

    /// Writes every part into `out`; a variable that writes nothing is handed to `missing`,
    /// which says whether to go on. Returns whether every part was written.
    #[inline]
    fn write<S: Sink>(
        &self,
        r: &RequestView<'_>,
        extra: &X::Input<'_>,
        out: &mut S,
        mut missing: impl FnMut(&mut S) -> bool,
    ) -> bool {
        let path = match self.needs_path {
            true => decoded_path(r.header),
            false => Default::default(),
        };
        let mut caps: Option<Option<regex::Captures<'_>>> = None;
        for part in &self.parts {
            let before = out.written();
            match part {
                Part::Lit(l) => {
                    out.push_literal(l);
                    continue;
                }
                Part::Req(v) => v.write(r, &path, out),
                Part::Extra(x) => x.write(extra, out),
                Part::Capture(n) => {
                    let c = caps.get_or_insert_with(|| {
                        self.path_regex.as_ref().and_then(|re| re.captures(&path))
                    });
                    if let Some(m) = c.as_ref().and_then(|c| c.get(*n)) {
                        out.push_str(m.as_str());
                    }
                }
            }
            if out.written() == before && !missing(out) {
                return false;
            }
        }
        true
    }
}

impl Template<NoExtra> {
    /// [`Template::eval_with`] for a template of request variables only.
    pub fn eval(&self, r: &RequestView<'_>, out: &mut String) -> bool {
        self.eval_with(r, &(), out)
    }

    /// Evaluates a key on `req` from `client`, without plugin variables (`$consumer` and
    /// `$jwt_NAME` are missing). See [`Template::eval_with`].
    pub fn eval_request(
        &self,
        req: &RequestHeader,
        client: Option<std::net::SocketAddr>,
        out: &mut String,
    ) -> bool {
        let vars = crate::request::Vars::new();
        self.eval(
            &RequestView {
                header: req,
                client,
                vars: &vars,
            },
            out,
        )
    }
}

impl<X> fmt::Display for Template<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The part for variable `$name` of template `s`.
fn variable<X: Extra>(name: &str, s: &str, re: Option<&Regex>) -> Result<Part<X>, TemplateError> {
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return capture(name, s, re).map(Part::Capture);
    }
    match RequestVar::parse(name, s) {
        Lookup::Found(v) => return Ok(Part::Req(v)),
        Lookup::Bad(e) => return Err(TemplateError::new(e)),
        Lookup::Unknown => {}
    }
    if let Some(x) = X::variable(name) {
        return Ok(Part::Extra(x));
    }
    let extra = match X::NAMES {
        "" => String::new(),
        names => format!(", {names}"),
    };
    let captures = match re {
        Some(_) => ", $1..$9",
        None => "",
    };
    Err(TemplateError::new(format!(
        "unknown variable `${name}` in `{s}`; supported: {}{extra}{captures}",
        request::NAMES
    )))
}

/// Capture group `$name` (digits) of `re`, checked against its group count.
fn capture(name: &str, s: &str, re: Option<&Regex>) -> Result<usize, TemplateError> {
    let n: usize = name.parse().unwrap_or(0);
    if n == 0 {
        return Err(TemplateError::new(format!(
            "`${name}` in `{s}`: capture groups start at 1"
        )));
    }
    match re {
        None => Err(TemplateError::new(format!(
            "`${n}` in `{s}` needs a `path_regex` with capture groups; \
             hint: path_regex = \"^/item/(\\\\d+)\""
        ))),
        Some(re) if n >= re.captures_len() => Err(TemplateError::new(format!(
            "`${n}` in `{s}`: path_regex `{}` has only {} capture group(s)",
            re.as_str(),
            re.captures_len() - 1
        ))),
        Some(_) => Ok(n),
    }
}

#[cfg(test)]
mod tests;
