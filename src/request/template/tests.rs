use super::*;
use crate::request::Vars;

const NO_VARS: &Vars = &Vars::new();

fn view<'a>(r: &'a RequestHeader, client: Option<&str>, vars: &'a Vars) -> RequestView<'a> {
    RequestView {
        header: r,
        client: client.map(|c| c.parse().unwrap()),
        vars,
    }
}

fn req(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
    let mut r = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

fn eval(t: &str, r: &RequestHeader) -> Option<String> {
    let t = Template::<NoExtra>::parse(t).unwrap();
    let mut out = String::from("garbage");
    let ok = t.eval(&view(r, Some("10.1.2.3:5555"), NO_VARS), &mut out);
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
    let t = Template::<NoExtra>::parse("$remote_addr").unwrap();
    let mut out = String::new();
    assert!(
        !t.eval(&view(&r, None, NO_VARS), &mut out),
        "no client address = missing"
    );
    assert_eq!(eval("literal", &r).as_deref(), Some("literal"));
}

#[test]
fn regex_captures() {
    let t =
        Template::<NoExtra>::parse_with_path_regex("p$1-${2}", Some(r"^/item/(\d+)/shop/(\w+)"))
            .unwrap();
    let mut out = String::new();
    assert!(t.eval_request(&req("/item/123/shop/ab?x=1", &[]), None, &mut out));
    assert_eq!(out, "p123-ab");
    assert!(!t.eval_request(&req("/other", &[]), None, &mut out));
    assert_eq!(out, "");
    // optional group that did not participate = missing
    let t = Template::<NoExtra>::parse_with_path_regex("$1", Some(r"^/(x)?")).unwrap();
    assert!(!t.eval_request(&req("/y", &[]), None, &mut out));
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
        ("", "empty template"),
    ] {
        let e = Template::<NoExtra>::parse(t).unwrap_err().to_string();
        assert!(e.contains(needle), "{t:?}: {e}");
    }
    let e = Template::<NoExtra>::parse_with_path_regex("$2", Some("^/(a)"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("only 1 capture group"), "{e}");
    let e = Template::<NoExtra>::parse_with_path_regex("$1", Some("("))
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid path_regex"), "{e}");
    assert_eq!(
        Template::<NoExtra>::parse("$arg_a").unwrap().as_str(),
        "$arg_a"
    );
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
    let t = Template::<NoExtra>::parse("$consumer:$jwt_tenant").unwrap();
    let r = req("/p", &[]);
    let mut vars = Vars::new();
    let mut out = String::new();
    assert!(!t.eval(&view(&r, None, &vars), &mut out), "unset = missing");
    vars.set("consumer", "alice");
    vars.set("jwt_tenant", "7");
    assert!(t.eval(&view(&r, None, &vars), &mut out));
    assert_eq!(out, "alice:7");
    assert!(
        !t.eval_request(&r, None, &mut out),
        "eval without vars: missing"
    );
    let e = Template::<NoExtra>::parse("$jwt_").unwrap_err().to_string();
    assert!(e.contains("unknown variable `$jwt_`"), "{e}");
}

/// `t` rendered as a log line on `r` from 10.1.2.3.
fn render(t: &str, r: &RequestHeader) -> String {
    let t = Template::<NoExtra>::parse(t).unwrap();
    let mut out = String::new();
    t.render(&view(r, Some("10.1.2.3:5555"), NO_VARS), &(), &mut out);
    out
}

#[test]
fn a_log_line_escapes_values_and_writes_a_dash_for_a_missing_one() {
    let r = req(
        "/a%20b?q=1",
        &[("user-agent", "x \"y\"\t"), ("Host", "Shop.Example:81")],
    );
    assert_eq!(
        render("$remote_addr \"$http_user_agent\" $arg_none $host $uri", &r),
        "10.1.2.3 \"x \\x22y\\x22\\x09\" - shop.example /a b"
    );
    // Literal text is the operator's: not escaped.
    assert_eq!(render("\"[$args]\"", &r), "\"[q=1]\"");
    assert_eq!(render("$request", &r), "GET /a%20b?q=1 HTTP/1.1");
    assert_eq!(
        render("$request_method $server_protocol", &r),
        "GET HTTP/1.1"
    );
}

#[test]
fn a_variable_means_the_same_in_a_key_and_in_a_log_line() {
    let mut r = req(
        "//x/../p%2Fa?id=7",
        &[("host", "A.test:8080"), ("x-multi", "a"), ("x-multi", "b")],
    );
    crate::request::conform(&mut r).unwrap();
    for t in [
        "$host",
        "$uri",
        "$request_uri",
        "$args",
        "$http_x_multi",
        "$arg_id",
        "$remote_addr",
    ] {
        assert_eq!(eval(t, &r).unwrap(), render(t, &r), "{t}");
    }
}

/// An extra set, as the access log adds one.
#[derive(Debug)]
enum Status {
    Code,
}

impl Extra for Status {
    type Input<'a> = u16;
    const NAMES: &'static str = "$status";

    fn variable(name: &str) -> Option<Self> {
        (name == "status").then_some(Status::Code)
    }

    fn write<S: Sink>(&self, input: &u16, out: &mut S) {
        out.push_display(*input);
    }
}

#[test]
fn extra_variables_come_from_their_set() {
    let t = Template::<Status>::parse("$uri $status").unwrap();
    let r = req("/p", &[]);
    let mut out = String::new();
    t.render(&view(&r, None, NO_VARS), &404, &mut out);
    assert_eq!(out, "/p 404");
    assert!(t.eval_with(&view(&r, None, NO_VARS), &200, &mut out));
    assert_eq!(out, "/p 200");
    let e = Template::<NoExtra>::parse("$status")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variable `$status`"), "{e}");
    let e = Template::<Status>::parse("$nope").unwrap_err().to_string();
    assert!(
        e.contains("$jwt_NAME, $status"),
        "the extra names are listed: {e}"
    );
}
