use super::*;

fn req(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
    let mut r = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

fn eval(t: &str, r: &RequestHeader) -> Option<String> {
    let t = KeyTemplate::parse(t).unwrap();
    let mut out = String::from("garbage");
    let ok = t.eval(r, Some("10.1.2.3:5555".parse().unwrap()), &mut out);
    assert_eq!(ok, !out.is_empty(), "return value must agree with output");
    ok.then_some(out)
}

#[test]
fn args_are_found_decoded_and_case_insensitive() {
    let r = req("/p?a=1&productId=ab%20c&shopId=7&productId=zzz", &[]);
    assert_eq!(eval("$arg_productId", &r).as_deref(), Some("ab c"));
    assert_eq!(eval("$arg_productid", &r).as_deref(), Some("ab c"));
    assert_eq!(
        eval("$arg_productId:$arg_shopId", &r).as_deref(),
        Some("ab c:7")
    );
    assert_eq!(eval("${arg_shopId}x", &r).as_deref(), Some("7x"));
    assert_eq!(eval("$arg_missing", &r), None);
    assert_eq!(eval("$arg_productId:$arg_missing", &r), None);
    assert_eq!(eval("$arg_x", &req("/p", &[])), None);
    assert_eq!(eval("$arg_x", &req("/p?x=", &[])), None, "empty = missing");
    assert_eq!(
        eval("$arg_x", &req("/p?x=a+b", &[])).as_deref(),
        Some("a b")
    );
}

#[test]
fn headers_cookies_host() {
    let r = req(
        "/",
        &[
            ("X-Tenant-Id", "t1"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("Cookie", "sid=abc; uid=42"),
            ("Cookie", "other=1"),
            ("Host", "Example.COM:8080"),
        ],
    );
    assert_eq!(eval("$http_x_tenant_id", &r).as_deref(), Some("t1"));
    assert_eq!(eval("$http_X_Tenant_ID", &r).as_deref(), Some("t1"));
    assert_eq!(eval("$http_x_multi", &r).as_deref(), Some("a, b"));
    assert_eq!(eval("$http_x_none", &r), None);
    assert_eq!(eval("$cookie_uid", &r).as_deref(), Some("42"));
    assert_eq!(eval("$cookie_sid", &r).as_deref(), Some("abc"));
    assert_eq!(eval("$cookie_other", &r).as_deref(), Some("1"));
    assert_eq!(eval("$cookie_nope", &r), None);
    assert_eq!(eval("$host", &r).as_deref(), Some("example.com"));
    let v6 = req("/", &[("Host", "[::1]:80")]);
    assert_eq!(eval("$host", &v6).as_deref(), Some("[::1]"));
}

#[test]
fn uri_request_uri_args_remote_addr() {
    let r = req("/a%20b/c?x=1&y=%41", &[]);
    assert_eq!(eval("$uri", &r).as_deref(), Some("/a b/c"));
    assert_eq!(
        eval("$request_uri", &r).as_deref(),
        Some("/a%20b/c?x=1&y=%41")
    );
    assert_eq!(eval("$args", &r).as_deref(), Some("x=1&y=%41"));
    assert_eq!(eval("$remote_addr", &r).as_deref(), Some("10.1.2.3"));
    let t = KeyTemplate::parse("$remote_addr").unwrap();
    let mut out = String::new();
    assert!(!t.eval(&r, None, &mut out), "no client address = missing");
    assert_eq!(eval("literal", &r).as_deref(), Some("literal"));
}

#[test]
fn regex_captures() {
    let t =
        KeyTemplate::parse_with_path_regex("p$1-${2}", Some(r"^/item/(\d+)/shop/(\w+)")).unwrap();
    let mut out = String::new();
    assert!(t.eval(&req("/item/123/shop/ab?x=1", &[]), None, &mut out));
    assert_eq!(out, "p123-ab");
    assert!(!t.eval(&req("/other", &[]), None, &mut out));
    assert_eq!(out, "");
    // optional group that did not participate = missing
    let t = KeyTemplate::parse_with_path_regex("$1", Some(r"^/(x)?")).unwrap();
    assert!(!t.eval(&req("/y", &[]), None, &mut out));
}

#[test]
fn parse_errors_are_helpful() {
    for (t, needle) in [
        ("$foo", "unknown variable `$foo`"),
        ("$", "without a variable name"),
        ("a$-b", "without a variable name"),
        ("${arg_x", "unclosed"),
        ("$arg_", "needs a name"),
        ("$1", "needs a `path_regex`"),
        ("$0", "start at 1"),
        ("", "empty hash key"),
    ] {
        let e = KeyTemplate::parse(t).unwrap_err().to_string();
        assert!(e.contains(needle), "{t:?}: {e}");
    }
    let e = KeyTemplate::parse_with_path_regex("$2", Some("^/(a)"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("only 1 capture group"), "{e}");
    let e = KeyTemplate::parse_with_path_regex("$1", Some("("))
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid path_regex"), "{e}");
    assert_eq!(KeyTemplate::parse("$arg_a").unwrap().as_str(), "$arg_a");
}

#[test]
fn uri_is_the_normalized_path_and_request_uri_the_target_as_received() {
    let mut r = req("//item/../p%2Fa%20b/./1?x=%2F", &[("host", "h")]);
    crate::request::conform(&mut r).unwrap();
    assert_eq!(eval("$uri", &r).as_deref(), Some("/p/a b/1"));
    assert_eq!(
        eval("$request_uri", &r).as_deref(),
        Some("//item/../p%2Fa%20b/./1?x=%2F")
    );
    // A rewrite changes `$uri`, never `$request_uri`.
    r.set_uri(http::Uri::from_static("/rewritten"));
    assert_eq!(eval("$uri", &r).as_deref(), Some("/rewritten"));
    assert_eq!(
        eval("$request_uri", &r).as_deref(),
        Some("//item/../p%2Fa%20b/./1?x=%2F")
    );
}

#[test]
fn plugin_variables_come_from_the_request_vars() {
    let t = KeyTemplate::parse("$consumer:$jwt_tenant").unwrap();
    let r = req("/p", &[]);
    let mut vars = Vars::new();
    let mut out = String::new();
    assert!(!t.eval_with(&r, None, &vars, &mut out), "unset = missing");
    vars.set("consumer", "alice");
    vars.set("jwt_tenant", "7");
    assert!(t.eval_with(&r, None, &vars, &mut out));
    assert_eq!(out, "alice:7");
    assert!(!t.eval(&r, None, &mut out), "eval without vars: missing");
    let e = KeyTemplate::parse("$jwt_").unwrap_err().to_string();
    assert!(e.contains("unknown variable `$jwt_`"), "{e}");
}
