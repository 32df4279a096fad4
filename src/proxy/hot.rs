//! Hot keys on the request path: for a group with a `hot` table the hash key is computed
//! before proxying (not in `upstream_peer`), counted by the group's detector, and a hot key
//! is spread over every member and, the first time, prewarmed on them. [`HotState`] is
//! what a request knows of it.

use std::sync::Arc;

use pingora::http::{RequestHeader, ResponseHeader};

use crate::generation::Generation;
use crate::hot::{Hit, HotGroup, HotGroups};
use crate::plugin_api::{RequestCtx, Response};
use crate::upstream::UpstreamGroup;

use super::first_hop::{self, Capture};
use super::hashkey;

/// Where a request stands with hot-key handling.
#[derive(Default)]
pub enum HotState {
    /// Not counted before proxying (the group has no `hot` table, or the request is not
    /// proxied): the hash key is computed when the peer is chosen.
    #[default]
    Off,
    /// The hash key was computed and counted before proxying; not hot. `first_hop`: the
    /// group serves hot keys from the first hop (its `Surrogate-Key` header is removed).
    Counted {
        /// The group serves hot keys from the first hop.
        first_hop: bool,
    },
    /// The key is hot in `group`.
    Hot {
        /// The group's hot-key machinery.
        group: Arc<HotGroup>,
        /// What to do with the key.
        hit: Hit,
        /// The response being captured for the first-hop store, if any.
        capture: Option<Box<Capture>>,
    },
}

impl HotState {
    /// The hash key is already in the request's context (computed before proxying).
    pub fn key_ready(&self) -> bool {
        !matches!(self, HotState::Off)
    }

    /// Whether the request's key is hot in a group that spreads hot keys (then it goes
    /// round robin instead of to its hash node). Counts the first attempt's handling.
    pub fn spread(&self, first_attempt: bool) -> bool {
        let HotState::Hot { group, .. } = self else {
            return false;
        };
        let spread = group.spec().spread;
        if first_attempt {
            match spread {
                true => group.metrics().spread.inc(),
                false => group.metrics().hashed.inc(),
            }
        }
        spread
    }

    /// The upstream's response header: captured when the key is served from the first hop;
    /// the tags header never reaches the client of a group that serves from the first hop.
    pub fn on_header(&mut self, resp: &mut ResponseHeader) {
        let strip = match self {
            HotState::Off => false,
            HotState::Counted { first_hop } => *first_hop,
            HotState::Hot { group, capture, .. } => {
                first_hop::on_header(capture, resp);
                group.edge().is_some()
            }
        };
        if strip {
            first_hop::strip_tags(resp);
        }
    }

    /// A chunk of the upstream's response body (captured when the key is served from the
    /// first hop).
    pub fn on_body(&mut self, body: &Option<bytes::Bytes>, eos: bool) {
        if let HotState::Hot { capture, .. } = self {
            first_hop::on_body(capture, body, eos);
        }
    }
}

/// Computes and counts the hash key of a request about to be proxied to `group`, when the
/// group has hot-key handling (the key goes into `ctx.hash_key`); says whether it is hot.
pub(crate) fn observe(
    hot: &HotGroups,
    group: &UpstreamGroup,
    req: &RequestHeader,
    ctx: &mut RequestCtx,
) -> HotState {
    let Some(h) = hot.get(group.name()) else {
        return HotState::Off;
    };
    ctx.hash_key = hashkey::hash_key(group, req, ctx.client_addr, &ctx.vars);
    let counted = HotState::Counted {
        first_hop: h.edge().is_some(),
    };
    let Some(key) = ctx.hash_key.as_deref() else {
        return counted;
    };
    let Some(hit) = h.observe(key) else {
        return counted;
    };
    if hit.prewarm {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let target = req
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        h.spawn_prewarm(key, host, target);
    }
    HotState::Hot {
        group: h.clone(),
        hit,
        capture: None,
    }
}

/// Hot-key handling of a request about to be proxied on generation `gen` (groups with a
/// `hot` table): counted (the result is the request's [`HotState`]), and answered from the
/// first hop's store when its key is served there and stored (else a capture is arranged
/// for its response).
pub(crate) fn before_proxy(
    gen: &Generation,
    req: &RequestHeader,
    ctx: &mut RequestCtx,
) -> (HotState, Option<Response>) {
    if gen.app.hot.is_empty() {
        return (HotState::Off, None);
    }
    let Some(group) = gen.group(ctx) else {
        return (HotState::Off, None);
    };
    let mut state = observe(&gen.app.hot, group, req, ctx);
    let answer = match &mut state {
        HotState::Hot {
            group,
            hit,
            capture,
        } if hit.edge => match first_hop::lookup(group, req, &mut ctx.cache_level) {
            Ok(resp) => Some(resp),
            Err(c) => {
                *capture = c;
                None
            }
        },
        _ => None,
    };
    (state, answer)
}
