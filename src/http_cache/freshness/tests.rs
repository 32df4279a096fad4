use std::time::{Duration, SystemTime};

use httpdate::fmt_http_date;
use pingora::cache::RespCacheable;
use pingora::http::{RequestHeader, ResponseHeader};

use super::decide;
use crate::http_cache::HttpCacheSpec;

fn get() -> RequestHeader {
    RequestHeader::build("GET", b"/a", None).unwrap()
}

fn resp(headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(200, None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

/// Seconds of freshness left, `None` if not stored.
fn fresh_for(spec: &HttpCacheSpec, req: &RequestHeader, r: &ResponseHeader) -> Option<i64> {
    match decide(spec, req, r, false) {
        RespCacheable::Cacheable(m) => {
            let now = SystemTime::now();
            Some(match m.fresh_until().duration_since(now) {
                Ok(d) => d.as_secs_f64().round() as i64,
                Err(e) => -(e.duration().as_secs_f64().round() as i64),
            })
        }
        RespCacheable::Uncacheable(_) => None,
    }
}

/// HTTP dates have whole seconds: a lifetime read from them is within a second.
fn about(got: Option<i64>, want: i64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= 1)
}

fn ago(secs: u64) -> String {
    fmt_http_date(SystemTime::now() - Duration::from_secs(secs))
}

#[test]
fn received_age_counts_against_the_lifetime() {
    let spec = HttpCacheSpec::default();
    let r = resp(&[("cache-control", "max-age=100"), ("age", "40")]);
    assert_eq!(fresh_for(&spec, &get(), &r), Some(60));
    let date = ago(30);
    let r = resp(&[("cache-control", "max-age=100"), ("date", &date)]);
    assert!(about(fresh_for(&spec, &get(), &r), 70));
    let r = resp(&[("cache-control", "max-age=100"), ("age", "7200")]);
    assert!(fresh_for(&spec, &get(), &r).unwrap() < 0);
}

#[test]
fn expires_is_read_against_date_and_bad_values_are_stale() {
    let spec = HttpCacheSpec::default();
    let date = ago(0);
    let expires = fmt_http_date(SystemTime::now() + Duration::from_secs(50));
    let r = resp(&[("date", &date), ("expires", &expires)]);
    assert!(about(fresh_for(&spec, &get(), &r), 50));
    let r = resp(&[("expires", "0")]);
    assert!(fresh_for(&spec, &get(), &r).unwrap() < 0);
    let r = resp(&[("cache-control", "max-age=\"60\" , max-age=abc")]);
    assert!(fresh_for(&spec, &get(), &r).unwrap() <= 0);
    let r = resp(&[("cache-control", "s-maxage=30, max-age=100")]);
    assert_eq!(fresh_for(&spec, &get(), &r), Some(30));
}

#[test]
fn what_is_never_stored() {
    let spec = HttpCacheSpec::default();
    for h in [
        [("cache-control", "max-age=60, no-store")],
        [("cache-control", "private, max-age=60")],
        [("vary", "*")],
        [("set-cookie", "a=b")],
    ] {
        let mut r = resp(&h);
        r.append_header("cache-control", "max-age=60").unwrap();
        assert_eq!(fresh_for(&spec, &get(), &r), None, "{h:?}");
    }
    // No freshness information, no validator, no default TTL: not stored.
    assert_eq!(fresh_for(&spec, &get(), &resp(&[])), None);
    // A request's no-store, and Authorization without public/s-maxage/must-revalidate.
    let mut req = get();
    req.insert_header("cache-control", "no-store").unwrap();
    let r = resp(&[("cache-control", "max-age=60")]);
    assert_eq!(fresh_for(&spec, &req, &r), None);
    let mut req = get();
    req.insert_header("authorization", "Basic eDp5").unwrap();
    assert_eq!(fresh_for(&spec, &req, &r), None);
    let r = resp(&[("cache-control", "max-age=60, public")]);
    assert_eq!(fresh_for(&spec, &req, &r), Some(60));
}

#[test]
fn set_cookie_named_by_private_is_stripped_and_the_rest_stored() {
    let spec = HttpCacheSpec::default();
    let r = resp(&[
        ("cache-control", "max-age=60, private=\"set-cookie\""),
        ("set-cookie", "a=b"),
    ]);
    match decide(&spec, &get(), &r, false) {
        RespCacheable::Cacheable(m) => assert!(m.headers().get("set-cookie").is_none()),
        RespCacheable::Uncacheable(why) => panic!("not stored: {why:?}"),
    }
}

#[test]
fn heuristic_and_default_freshness() {
    let mut spec = HttpCacheSpec::default();
    let (date, modified) = (ago(0), ago(1000));
    let r = resp(&[("date", &date), ("last-modified", &modified)]);
    assert!(about(fresh_for(&spec, &get(), &r), 100));
    spec.default_ttl = Some(Duration::from_secs(5));
    assert_eq!(fresh_for(&spec, &get(), &resp(&[])), Some(5));
    let mut teapot = resp(&[]);
    teapot.set_status(418).unwrap();
    assert_eq!(fresh_for(&spec, &get(), &teapot), None);
    let r = resp(&[("cache-control", "no-cache"), ("etag", "\"x\"")]);
    assert!(
        fresh_for(&spec, &get(), &r).unwrap() < 0,
        "stored, always revalidated"
    );
}

#[test]
fn hop_by_hop_fields_and_those_connection_names_are_not_stored() {
    let spec = HttpCacheSpec::default();
    let r = resp(&[
        ("cache-control", "max-age=60"),
        ("connection", "a, B"),
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
        ("keep-alive", "timeout=5"),
    ]);
    let RespCacheable::Cacheable(m) = decide(&spec, &get(), &r, false) else {
        panic!("not stored");
    };
    let h = m.headers();
    assert!(["connection", "a", "b", "keep-alive"]
        .iter()
        .all(|n| !h.contains_key(*n)));
    assert_eq!(h["c"], "3");
}

#[test]
fn an_unreadable_age_makes_the_response_stale() {
    let spec = HttpCacheSpec::default();
    for age in ["abc", "-10", "1.0", "5;x=1", "0, 0", "10, 10"] {
        let r = resp(&[("cache-control", "max-age=3600"), ("age", age)]);
        assert!(fresh_for(&spec, &get(), &r).unwrap() <= 0, "Age: {age}");
    }
    let mut two = resp(&[("cache-control", "max-age=3600"), ("age", "0")]);
    two.append_header("age", "0").unwrap();
    assert!(fresh_for(&spec, &get(), &two).unwrap() <= 0);
    let r = resp(&[("cache-control", "max-age=3600"), ("age", "0,7200")]);
    assert!(about(fresh_for(&spec, &get(), &r), 3600));
}

#[test]
fn surrogate_control_decides_over_cache_control_and_is_not_stored() {
    let spec = HttpCacheSpec::default();
    let r = resp(&[
        ("cache-control", "max-age=3600"),
        ("surrogate-control", "no-store"),
    ]);
    assert_eq!(fresh_for(&spec, &get(), &r), None);
    let r = resp(&[
        ("cache-control", "no-store"),
        ("surrogate-control", "max-age=600"),
    ]);
    assert!(about(fresh_for(&spec, &get(), &r), 600));
    let r = resp(&[
        ("cache-control", "max-age=3600"),
        ("surrogate-control", "max-age=5"),
    ]);
    let RespCacheable::Cacheable(m) = decide(&spec, &get(), &r, false) else {
        panic!("not stored");
    };
    assert!(m.headers().get("surrogate-control").is_none());
    let targeted = resp(&[("surrogate-control", "max-age=3600;other-device")]);
    assert!(fresh_for(&spec, &get(), &targeted).is_none_or(|f| f <= 0));
    let ours = resp(&[
        ("cache-control", "no-store"),
        ("surrogate-control", "max-age=60;edgeproxy"),
    ]);
    assert!(about(fresh_for(&spec, &get(), &ours), 60));
}

#[test]
fn must_understand_stores_only_status_codes_we_understand() {
    let spec = HttpCacheSpec::default();
    let cc = [("cache-control", "max-age=60, must-understand, no-store")];
    assert!(about(fresh_for(&spec, &get(), &resp(&cc)), 60));
    let mut odd = resp(&[("cache-control", "max-age=60, must-understand")]);
    odd.set_status(599).unwrap();
    assert_eq!(fresh_for(&spec, &get(), &odd), None);
}
