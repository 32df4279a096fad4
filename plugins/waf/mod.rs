//! `waf` (access and request body phases): regex rules over the decoded path, the query
//! arguments, chosen request headers and the request body (`body.rs`: form fields, JSON
//! strings, multipart parts read strictly, else the text), after undoing the usual
//! evasions (`normalize.rs`: repeated URL decoding, overlong UTF-8, HTML references, SQL
//! comments, whitespace variants, and path tricks as a second reading). The values of a
//! parameter given more than once are also checked joined (`repeats.rs`). The rules of
//! each target are one [`regex::RegexSet`]: one pass per value checks them all, and a
//! value no rule matches (nearly all of them) costs that one pass.
//!
//! A match is counted in `edgeproxy_waf_matches_total{rule, action}` and logged (warn,
//! with the request id, the rule, where it matched and the start of the normalized value;
//! rate-limited per call site by the framework). A `block` rule answers 403 (`status`,
//! `message`); `log` rules and `detect_only = true` only count and log.
//!
//! The body is checked in the request body phase, before any of the body goes upstream,
//! up to `body_bytes` (at most 64 KiB). A longer body cannot be checked whole, so by
//! default (`body_limit_action = "reject"`) it is refused with 413: padding must not
//! carry an attack past the rules. `body_limit_action = "partial"` is the operator's
//! explicit opt-out (its start is checked, the rest passes unread), for routes that take
//! uploads. A multipart body that could be read two ways is refused with 400.
//!
//! ```toml
//! { name = "waf", config = { detect_only = false, headers = ["user-agent", "referer"], rules = [
//!     { id = "no-passwd", pattern = "(?i)/etc/passwd", targets = ["path", "args"] },
//! ] } }
//! ```

pub mod body;
mod detect;
mod json;
mod multipart;
mod normalize;
mod path;
mod refuse;
mod repeats;
mod rules;

pub use body::Malformed;
use detect::Gate;
pub use normalize::{normalize, MAX_ROUNDS};
pub use path::path_form;
pub use rules::{Action, Pattern, RuleConfig, Rules, Target, DEFAULT_RULES};

use std::borrow::Cow;
use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::refusal_status;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{
    BoxError, Flow, Plugin, PluginFactory, RequestBody, RequestCtx, Shared, MAX_REQUEST_BODY_BYTES,
};
use serde::Deserialize;

/// Config of the `waf` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafConfig {
    /// Use the default rules (`DEFAULT_RULES`; default true).
    #[serde(default = "yes")]
    pub default_rules: bool,
    /// Ids of default rules to leave out.
    #[serde(default)]
    pub disable_rules: Vec<String>,
    /// More rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Count and log matches, never block.
    #[serde(default)]
    pub detect_only: bool,
    /// Request headers whose values are checked (default: cookie, referer, user-agent).
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// URL-decoding passes at most (1–8, default 3).
    #[serde(default = "default_rounds")]
    pub decode_rounds: u8,
    /// Status of a block (400–599, default 403).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Body of a block (default: `"<status> Forbidden"` and the request id).
    pub message: Option<String>,
    /// How much of a request body is checked (0 = none; at most 65536, the default).
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
    /// A body longer than `body_bytes`: `reject` (default: 413; only logged under
    /// `detect_only`) or `partial` (its start is checked, the rest passes unread).
    #[serde(default)]
    pub body_limit_action: BodyLimitAction,
}

/// What to do with a body longer than `body_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyLimitAction {
    /// Refuse with 413 (what cannot be inspected whole does not pass).
    #[default]
    Reject,
    /// Check the start, let the rest pass unread (an explicit opt-out).
    Partial,
}

fn default_body_bytes() -> usize {
    MAX_REQUEST_BODY_BYTES
}

fn yes() -> bool {
    true
}

fn default_headers() -> Vec<String> {
    ["cookie", "referer", "user-agent"]
        .map(String::from)
        .to_vec()
}

fn default_rounds() -> u8 {
    3
}

fn default_status() -> u16 {
    403
}

/// The `waf` plugin.
pub struct Waf {
    rules: Rules,
    headers: Vec<http::HeaderName>,
    rounds: u8,
    status: u16,
    message: Option<String>,
    /// 0 when no rule looks at bodies.
    body_bytes: usize,
    body_limit_action: BodyLimitAction,
    detect_only: bool,
}

/// A rule that matched a request value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule's id.
    pub rule: String,
    /// Whether it blocks.
    pub blocks: bool,
    /// Where: `path`, `args`, `headers` or `body`.
    pub target: &'static str,
    /// The argument or header name (empty for the path).
    pub name: String,
}

impl PluginFactory for Waf {
    const NAME: &'static str = "waf";
    type Config = WafConfig;

    fn build(cfg: WafConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        refusal_status(cfg.status)?;
        if !(1..=MAX_ROUNDS).contains(&cfg.decode_rounds) {
            return Err(format!("decode_rounds must be 1 to {MAX_ROUNDS}").into());
        }
        let headers = cfg
            .headers
            .iter()
            .map(|h| {
                http::HeaderName::try_from(h.as_str()).map_err(|e| format!("header `{h}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if cfg.body_bytes > MAX_REQUEST_BODY_BYTES {
            return Err(format!(
                "body_bytes is at most {MAX_REQUEST_BODY_BYTES} (what the proxy reads ahead of proxying)"
            )
            .into());
        }
        let rules = Rules::compile(
            cfg.default_rules,
            &cfg.disable_rules,
            cfg.rules,
            cfg.detect_only,
        )?;
        let body_rules = !rules.set(Target::Body).rules.is_empty();
        Ok(Arc::new(Waf {
            rules,
            headers,
            rounds: cfg.decode_rounds,
            status: cfg.status,
            message: cfg.message,
            body_bytes: if body_rules { cfg.body_bytes } else { 0 },
            body_limit_action: cfg.body_limit_action,
            detect_only: cfg.detect_only,
        }))
    }
}

impl Waf {
    /// Every rule match in `req`, in order path, args, headers; stops after the value that
    /// first matched a blocking rule (the request is denied anyway).
    pub fn inspect(&self, req: &RequestHeader, request_id: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        if self.check(Target::Path, "", req.uri.path(), request_id, &mut hits) {
            return hits;
        }
        let args = req.uri.query().unwrap_or("").split('&').filter_map(arg);
        let mut names = repeats::Names::default();
        for (name, value) in args.clone() {
            names.add(name);
            if self.check(Target::Args, name, name, request_id, &mut hits)
                || self.check(Target::Args, name, value, request_id, &mut hits)
            {
                return hits;
            }
        }
        if names.may_repeat()
            && repeats::each_joined(args, &mut |name, joined| {
                self.check(Target::Args, name, joined, request_id, &mut hits)
            })
        {
            return hits;
        }
        for h in &self.headers {
            for v in req.headers.get_all(h) {
                let v = String::from_utf8_lossy(v.as_bytes());
                if self.check(Target::Headers, h.as_str(), &v, request_id, &mut hits) {
                    return hits;
                }
            }
        }
        hits
    }

    /// Every rule match in a request body, or its start when `complete` is false (see
    /// `body.rs`); stops after the value that first matched a blocking rule. A body that
    /// could be read two ways is [`Malformed`].
    pub fn inspect_body(
        &self,
        req: &RequestHeader,
        body: &[u8],
        complete: bool,
        request_id: &str,
    ) -> Result<Vec<Hit>, Malformed> {
        let mut hits = Vec::new();
        let complete = complete && body.len() <= self.body_bytes;
        let body = &body[..body.len().min(self.body_bytes)];
        for kind in body::kinds(req) {
            let blocked = body::each_value(&kind, body, complete, &mut |name, value| {
                self.check(Target::Body, name, value, request_id, &mut hits)
            })?;
            if blocked {
                break;
            }
        }
        Ok(hits)
    }

    /// Checks one value against `target`'s rules; records, counts and logs the matches;
    /// returns whether one of them blocks.
    fn check(
        &self,
        target: Target,
        name: &str,
        raw: &str,
        request_id: &str,
        hits: &mut Vec<Hit>,
    ) -> bool {
        if raw.is_empty() {
            return false;
        }
        let set = self.rules.set(target);
        let text = normalize(raw, self.rounds);
        let gate = Gate::of(&text);
        let mut regex = set.set.is_match(&text);
        let second = if gate.path && !regex {
            path_form(&text)
        } else {
            None
        };
        let text = match second {
            Some(p) => {
                regex = set.set.is_match(&p);
                Cow::Owned(p)
            }
            None => text,
        };
        let detected = self.rules.detected(target, &text, gate);
        if !regex && detected.iter().all(Option::is_none) {
            return false;
        }
        let by_regex = regex
            .then(|| set.set.matches(&text))
            .into_iter()
            .flat_map(|m| m.into_iter())
            .filter_map(|i| set.rules.get(i).copied());
        let mut blocks = false;
        for r in by_regex.chain(detected.into_iter().flatten()) {
            let Some(rule) = self.rules.rules.get(r) else {
                continue;
            };
            rule.count();
            blocks |= rule.blocks;
            let excerpt: String = text.chars().take(120).collect();
            tracing::warn!(
                request_id,
                rule = %rule.id,
                action = rule.action,
                target = target.name(),
                name,
                value = ?excerpt,
                "waf: rule matched"
            );
            hits.push(Hit {
                rule: rule.id.clone(),
                blocks: rule.blocks,
                target: target.name(),
                name: name.to_string(),
            });
        }
        blocks
    }
}

/// A query argument as `(name, value)`, raw (still encoded); `None` for an empty one.
fn arg(pair: &str) -> Option<(&str, &str)> {
    if pair.is_empty() {
        return None;
    }
    Some(pair.split_once('=').unwrap_or((pair, "")))
}

#[async_trait]
impl Plugin for Waf {
    async fn access(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        if self.declared_too_long(req) {
            if let Some(refused) = self.too_long(ctx) {
                return refused;
            }
        }
        let hits = self.inspect(req, &ctx.request_id);
        if !hits.iter().any(|h| h.blocks) {
            return Ok(Flow::Continue);
        }
        self.deny(ctx)
    }

    fn request_body_bytes(&self) -> usize {
        self.body_bytes
    }

    async fn request_body(
        &self,
        req: &RequestHeader,
        body: &RequestBody,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        if !body.complete || body.bytes.len() > self.body_bytes {
            if let Some(refused) = self.too_long(ctx) {
                return refused;
            }
        }
        let hits = match self.inspect_body(req, &body.bytes, body.complete, &ctx.request_id) {
            Ok(hits) => hits,
            Err(Malformed(why)) => return self.malformed(why, ctx),
        };
        if !hits.iter().any(|h| h.blocks) {
            return Ok(Flow::Continue);
        }
        self.deny(ctx)
    }
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod detector_eval;
#[cfg(test)]
mod multipart_tests;
#[cfg(test)]
mod tests;
