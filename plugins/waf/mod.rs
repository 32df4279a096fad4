//! `waf` (access and request body phases): regex rules over the decoded path, the query
//! arguments, chosen request headers and the start of the request body (`body.rs`: form
//! fields, JSON strings, multipart fields, else the text), after undoing the usual evasions (`normalize.rs`: repeated URL
//! decoding, HTML references, SQL comments, whitespace variants). The rules of each target
//! are one [`regex::RegexSet`]: one pass per value checks them all, and a value no rule
//! matches (nearly all of them) costs that one pass.
//!
//! A match is counted in `edgeproxy_waf_matches_total{rule, action}` and logged (warn,
//! with the request id, the rule, where it matched and the start of the normalized value;
//! rate-limited per call site by the framework). A `block` rule answers 403 (`status`,
//! `message`); `log` rules and `detect_only = true` only count and log.
//!
//! The body is checked in the request body phase, before any of the request goes
//! upstream, up to `body_bytes` (at most 64 KiB); a longer body is checked in part, or
//! refused with 413 under `body_limit_action = "reject"`.
//!
//! ```toml
//! { name = "waf", config = { detect_only = false, headers = ["user-agent", "referer"], rules = [
//!     { id = "no-passwd", pattern = "(?i)/etc/passwd", targets = ["path", "args"] },
//! ] } }
//! ```

pub mod body;
mod json;
mod normalize;
mod rules;

pub use normalize::{normalize, MAX_ROUNDS};
pub use rules::{Action, Pattern, RuleConfig, Rules, Target, DEFAULT_RULES};

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::refusal_status;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{
    BoxError, Flow, Plugin, PluginFactory, RequestBody, RequestCtx, Response, Shared,
    MAX_REQUEST_BODY_BYTES,
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
    /// A body longer than `body_bytes`: `partial` (default: its start is checked, the rest
    /// passes) or `reject` (413).
    #[serde(default)]
    pub body_limit_action: BodyLimitAction,
}

/// What to do with a body longer than `body_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyLimitAction {
    /// Check the start, let the rest pass.
    #[default]
    Partial,
    /// Refuse with 413.
    Reject,
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
        for (name, value) in req.uri.query().unwrap_or("").split('&').filter_map(arg) {
            if self.check(Target::Args, name, name, request_id, &mut hits)
                || self.check(Target::Args, name, value, request_id, &mut hits)
            {
                return hits;
            }
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

    /// Every rule match in the start of a request body (see `body.rs`); stops after the
    /// value that first matched a blocking rule.
    pub fn inspect_body(&self, req: &RequestHeader, body: &[u8], request_id: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        let body = &body[..body.len().min(self.body_bytes)];
        for kind in body::kinds(req) {
            let blocked = body::each_value(&kind, body, &mut |name, value| {
                self.check(Target::Body, name, value, request_id, &mut hits)
            });
            if blocked {
                break;
            }
        }
        hits
    }

    fn deny(&self, ctx: &RequestCtx) -> Result<Flow, BoxError> {
        Ok(Flow::Respond(match &self.message {
            Some(m) => Response::text(self.status, m.clone())?,
            None => Response::error(self.status, "Forbidden", &ctx.request_id),
        }))
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
        if !set.set.is_match(&text) {
            return false;
        }
        let mut blocks = false;
        for i in set.set.matches(&text).iter() {
            let Some(rule) = set.rules.get(i).and_then(|&r| self.rules.rules.get(r)) else {
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
        let longer = !body.complete || body.bytes.len() > self.body_bytes;
        if longer && self.body_limit_action == BodyLimitAction::Reject {
            tracing::warn!(request_id = %ctx.request_id, limit = self.body_bytes, "waf: body longer than body_bytes refused");
            return Ok(Flow::Respond(Response::error(
                413,
                "request body too large to inspect",
                &ctx.request_id,
            )));
        }
        let hits = self.inspect_body(req, &body.bytes, &ctx.request_id);
        if !hits.iter().any(|h| h.blocks) {
            return Ok(Flow::Continue);
        }
        self.deny(ctx)
    }
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
