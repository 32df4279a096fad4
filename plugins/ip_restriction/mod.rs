//! `ip-restriction` (access phase): allow and deny lists of IPv4/IPv6 networks, written in
//! the config and/or read from files that reload when they change.
//!
//! Decision, for the client address (`ctx.client_ip()`: the TCP peer, or the real client
//! behind trusted proxies when the server block has `real_ip`):
//!
//! 1. in the deny list → denied (deny wins, whatever the allow list says);
//! 2. else, when an allow list is configured (`allow` or `allow_file`, even if the file
//!    is empty) → allowed only if in it;
//! 3. else → allowed.
//!
//! Unlike nginx's `allow`/`deny` (first matching line wins), order does not matter; this is
//! APISIX `ip-restriction`'s reading, plus a deny list beside the allow list. A request
//! whose client address is unknown is denied. IPv4-mapped IPv6 clients match IPv4 rules.
//!
//! Reload in place: each list (its table, and its file's last state) is carried to the next
//! generation while the plugin's config is unchanged (key: `allow:`/`deny:`, the resolved
//! file path and the config fingerprint), so an unchanged file is not read again; a file
//! that changed is read at the reload, so the new list is in force when `-s reload` returns.
//!
//! ```toml
//! { name = "ip-restriction", config = { allow = ["10.0.0.0/8", "2001:db8::/32"], deny = ["10.0.66.0/24"], deny_file = "deny.txt" } }
//! ```

mod list;

pub use edgeproxy::kit::{Cidr, CidrError, CidrTable as Table};
pub use list::{parse_lines, List};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::refusal_status;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{Bytes, RequestHeader};
use serde::Deserialize;

use crate::support::carried::{carry_try, Origin};

/// Config of the `ip-restriction` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRestrictionConfig {
    /// Networks allowed (CIDR, bare address or `all`); with an allow list, anything not in
    /// it is denied.
    pub allow: Option<Vec<Cidr>>,
    /// Networks denied; deny wins over allow.
    #[serde(default)]
    pub deny: Vec<Cidr>,
    /// A file of allowed networks (one per line, `#` comments), reloaded on change.
    pub allow_file: Option<String>,
    /// A file of denied networks, reloaded on change.
    pub deny_file: Option<String>,
    /// Status of a denial (400–599, default 403).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Body of a denial (default: `"<status> <reason>\n"`).
    pub message: Option<String>,
    /// How often at most a list file's modification time is checked (default `"1s"`).
    #[serde(
        default = "default_check_every",
        deserialize_with = "edgeproxy::kit::de_duration"
    )]
    pub check_every: Duration,
}

fn default_status() -> u16 {
    403
}

fn default_check_every() -> Duration {
    Duration::from_secs(1)
}

/// What the lists decided for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request through.
    Allow,
    /// Answer with the configured denial.
    Deny,
}

/// The `ip-restriction` plugin.
pub struct IpRestriction {
    allow: Option<Arc<List>>,
    deny: Option<Arc<List>>,
    status: u16,
    message: Bytes,
}

impl PluginFactory for IpRestriction {
    const NAME: &'static str = "ip-restriction";
    type Config = IpRestrictionConfig;

    fn build(cfg: IpRestrictionConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        refusal_status(cfg.status)?;
        if cfg.allow.as_ref().is_some_and(|a| a.is_empty()) && cfg.allow_file.is_none() {
            return Err("`allow = []` would deny every request; use `deny = [\"all\"]` to say so, or drop `allow`".into());
        }
        if cfg.allow.is_none()
            && cfg.allow_file.is_none()
            && cfg.deny.is_empty()
            && cfg.deny_file.is_none()
        {
            return Err("no list: set `allow`, `deny`, `allow_file` or `deny_file`".into());
        }
        let list = |kind: &'static str, inline: Vec<Cidr>, file: Option<String>| {
            let path = file.map(|f| shared.resolve_path(&f));
            // The resolved path too: the same text in another config directory is another file.
            let key = format!("{kind}:{path:?}:{}", shared.carry.config());
            let (list, origin) = carry_try(shared, &key, || {
                List::new(kind, inline, path, cfg.check_every)
            })?;
            if origin == Origin::Kept {
                list.reload_if_changed();
            }
            Ok::<_, String>(list)
        };
        let allow = match (cfg.allow, cfg.allow_file) {
            (None, None) => None,
            (inline, file) => Some(list("allow", inline.unwrap_or_default(), file)?),
        };
        let deny = match (cfg.deny.is_empty(), cfg.deny_file) {
            (true, None) => None,
            (_, file) => Some(list("deny", cfg.deny, file)?),
        };
        let message = match cfg.message {
            Some(m) => m,
            None => {
                let reason = http::StatusCode::from_u16(cfg.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("denied");
                format!("{} {reason}\n", cfg.status)
            }
        };
        Ok(Arc::new(IpRestriction {
            allow,
            deny,
            status: cfg.status,
            message: Bytes::from(message),
        }))
    }
}

impl IpRestriction {
    /// The decision for a client at `ip` (`None`: unknown address, denied).
    pub fn decide(&self, ip: Option<IpAddr>) -> Verdict {
        let Some(ip) = ip else {
            return Verdict::Deny;
        };
        if self.deny.as_ref().is_some_and(|d| d.table().contains(ip)) {
            return Verdict::Deny;
        }
        match &self.allow {
            Some(a) if !a.table().contains(ip) => Verdict::Deny,
            _ => Verdict::Allow,
        }
    }
}

#[async_trait]
impl Plugin for IpRestriction {
    async fn access(&self, _req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        match self.decide(ctx.client_ip()) {
            Verdict::Allow => Ok(Flow::Continue),
            Verdict::Deny => {
                tracing::debug!(request_id = %ctx.request_id, client = ?ctx.client_ip(), "ip-restriction: denied");
                Ok(Flow::Respond(Response::text(
                    self.status,
                    self.message.clone(),
                )?))
            }
        }
    }
}

#[cfg(test)]
mod tests;
