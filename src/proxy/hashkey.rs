//! The balance phase's hash key: the group's key template, its fallback, and the metric that
//! counts requests lacking the primary key (a missing key must never be a silent hot spot).

use std::net::SocketAddr;

use pingora::http::RequestHeader;

use crate::request::Vars;
use crate::upstream::{KeySource, UpstreamGroup};

/// The request's hash key for `group` (`None` = round robin), counting requests that lack
/// the primary key in `edgeproxy_hash_key_missing_total{group, used}`.
pub(crate) fn hash_key(
    group: &UpstreamGroup,
    req: &RequestHeader,
    client: Option<SocketAddr>,
    vars: &Vars,
) -> Option<String> {
    let mut key = String::new();
    match group.hash_key(req, client, vars, &mut key) {
        KeySource::NotHashed => None,
        KeySource::Primary => Some(key),
        KeySource::Fallback => {
            group.metrics().hash_key_missing(true);
            Some(key)
        }
        KeySource::Missing => {
            group.metrics().hash_key_missing(false);
            None
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::metrics;
    use crate::upstream::{GroupSpec, ServerSpec};

    fn group(name: &str) -> UpstreamGroup {
        let server = ServerSpec::new(([127, 0, 0, 1], 1).into());
        UpstreamGroup::new(
            GroupSpec::new(name, vec![server])
                .hashed("$arg_productId", Some("$http_x_user"))
                .unwrap(),
        )
    }

    fn missing(group: &str, used: &str) -> u64 {
        metrics::HASH_KEY_MISSING
            .with_label_values(&[group, used])
            .get()
    }

    #[test]
    fn missing_primary_key_is_counted_by_what_was_used_instead() {
        let g = group("hashkey-metric-test");
        let name = g.name();
        let mut with_id = RequestHeader::build("GET", b"/p?productId=42", None).unwrap();
        with_id.insert_header("x-user", "u1").unwrap();
        assert_eq!(
            hash_key(&g, &with_id, None, &Vars::new()).as_deref(),
            Some("42")
        );
        assert_eq!(
            (missing(name, "fallback"), missing(name, "round_robin")),
            (0, 0)
        );

        let mut user_only = RequestHeader::build("GET", b"/p", None).unwrap();
        user_only.insert_header("x-user", "u1").unwrap();
        assert_eq!(
            hash_key(&g, &user_only, None, &Vars::new()).as_deref(),
            Some("u1")
        );
        assert_eq!(missing(name, "fallback"), 1);

        let bare = RequestHeader::build("GET", b"/p?productId=", None).unwrap();
        assert_eq!(hash_key(&g, &bare, None, &Vars::new()), None);
        assert_eq!(
            (missing(name, "fallback"), missing(name, "round_robin")),
            (1, 1)
        );
    }
}
