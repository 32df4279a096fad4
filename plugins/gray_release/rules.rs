//! The request-side rules of `gray-release` besides the address list: a header or cookie
//! value, and a sticky percentage (a hash of a declared key, so a user stays on one side
//! while the percentage grows: bucket `b` is canary for every percentage above `b`).

use edgeproxy::kit::Template;
use edgeproxy::kit::{RequestCtx, RequestHeader};
use http::header::COOKIE;
use serde::Deserialize;

/// A header or cookie rule as written: the name, and the values that mean canary (any
/// value when empty).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueRule {
    /// Header or cookie name.
    pub name: String,
    /// Values that send the request to the canary; empty: any value.
    #[serde(default)]
    pub values: Vec<String>,
}

impl ValueRule {
    fn accepts(&self, v: &str) -> bool {
        self.values.is_empty() || self.values.iter().any(|x| x == v)
    }
}

/// A header rule, name parsed.
pub struct HeaderRule {
    name: http::HeaderName,
    rule: ValueRule,
}

impl HeaderRule {
    /// From the config.
    pub fn new(rule: ValueRule) -> Result<Self, String> {
        let name = http::HeaderName::try_from(rule.name.as_str())
            .map_err(|_| format!("header: `{}` is not a header name", rule.name))?;
        Ok(HeaderRule { name, rule })
    }

    /// Whether `req` carries the header with an accepted value.
    pub fn matches(&self, req: &RequestHeader) -> bool {
        req.headers
            .get_all(&self.name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| self.rule.accepts(v.trim()))
    }
}

/// Whether `req` has cookie `rule.name` with an accepted value.
pub fn cookie_matches(rule: &ValueRule, req: &RequestHeader) -> bool {
    req.headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(k, v)| k == rule.name && rule.accepts(v.trim()))
}

/// The sticky percentage.
pub struct Percent {
    /// Canary when the key's bucket (0–9999) is below this.
    threshold: u64,
    key: Template,
}

impl Percent {
    /// `percent` (0–100, two decimals count) of the keys `key` evaluates to.
    pub fn new(percent: f64, key: &str) -> Result<Self, String> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("percent must be 0 to 100, not {percent}"));
        }
        let key = Template::parse(key).map_err(|e| format!("percent_key: {e}"))?;
        Ok(Percent {
            threshold: (percent * 100.0).round() as u64,
            key,
        })
    }

    /// Whether the request's key falls in the percentage (a missing key: no).
    pub fn matches(&self, req: &RequestHeader, ctx: &RequestCtx) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut key = String::new();
        self.key.eval(&ctx.view(req), &mut key) && bucket(key.as_bytes()) < self.threshold
    }
}

/// The key's bucket, 0–9999: FNV-1a then a 64-bit finalizer (so similar keys spread), the
/// same in every process and version.
pub fn bucket(key: &[u8]) -> u64 {
    let mut h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h % 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn headers_and_cookies() {
        let h = HeaderRule::new(ValueRule {
            name: "x-canary".into(),
            values: vec!["1".into(), "yes".into()],
        })
        .unwrap();
        assert!(h.matches(&req(&[("x-canary", "yes")])));
        assert!(!h.matches(&req(&[("x-canary", "0")])));
        assert!(!h.matches(&req(&[])));
        let any = ValueRule {
            name: "beta".into(),
            values: vec![],
        };
        assert!(cookie_matches(&any, &req(&[("cookie", "a=1; beta=x")])));
        assert!(!cookie_matches(&any, &req(&[("cookie", "abeta=1")])));
    }

    #[test]
    fn percentages_are_sticky_and_about_right() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("user-{i}")).collect();
        let share = |p: f64| {
            let pct = Percent::new(p, "$cookie_uid").unwrap();
            let ctx = RequestCtx::for_test();
            keys.iter()
                .filter(|k| pct.matches(&req(&[("cookie", &format!("uid={k}"))]), &ctx))
                .cloned()
                .collect::<Vec<_>>()
        };
        let (five, twenty) = (share(5.0), share(20.0));
        assert!((900..=1100).contains(&five.len()), "{}", five.len());
        assert!((3700..=4300).contains(&twenty.len()), "{}", twenty.len());
        assert!(
            five.iter().all(|k| twenty.contains(k)),
            "5% stays inside 20%"
        );
        assert!(share(0.0).is_empty());
        assert_eq!(share(100.0).len(), keys.len());
        let ctx = RequestCtx::for_test();
        let pct = Percent::new(100.0, "$cookie_uid").unwrap();
        assert!(!pct.matches(&req(&[]), &ctx), "no key: stable");
        assert!(Percent::new(101.0, "$remote_addr").is_err());
    }
}
