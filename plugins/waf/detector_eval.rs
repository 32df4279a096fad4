//! Issue 19 item 11: a tokenizer-based detector (libinjection's pure-Rust port,
//! `libinjectionrs`) measured beside the regex rules, on attacks and on benign look-alikes.
//! Run with `cargo test -p edgeproxy-plugins --lib detector_eval -- --ignored --nocapture`;
//! the figures are in docs/gateway.md ("Detection: regexes and libinjection").

use super::corpus_tests::{
    corpus_lines, waf, waf_fields, ATTACKS, BENIGN, GAP_ATTACKS, GAP_BENIGN,
};
use super::*;

/// Attacks outside the classes the rules were written for (stacked queries, time-based,
/// error-based, comment-terminated logins, other tags).
const EXTRA_ATTACKS: &[&str] = &[
    "/s?id=1;+DROP+TABLE+users--",
    "/s?id=1%27;+DROP+TABLE+users--",
    "/s?id=1%27+AND+SLEEP(5)--",
    "/s?id=1+AND+SLEEP(5)",
    "/s?id=1%27+waitfor+delay+%270:0:5%27--",
    "/login?user=admin%27--",
    "/login?user=admin%27%23",
    "/s?id=1%27+AND+extractvalue(1,concat(0x7e,version()))--",
    "/s?id=1+AND+(SELECT+1+FROM+(SELECT+COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x+FROM+information_schema.tables+GROUP+BY+x)a)",
    "/s?id=1%27+AND+1=CONVERT(int,@@version)--",
    "/s?id=1+order+by+10--",
    "/s?id=-1%27+having+1=1--",
    "/s?q=%3Ciframe+src=%22data:text/html,x%22%3E",
    "/s?q=%3Cdetails+open+ontoggle=alert(1)%3E",
    "/s?q=%3Cobject+data=x%3E",
    "/s?q=%3Cbase+href=//evil.example/%3E",
    "/s?q=%3Cmeta+http-equiv=refresh+content=0;url=//evil.example%3E",
    "/s?q=%3Cembed+src=x.swf%3E",
];

/// Everyday search and form values that look like attacks.
const EXTRA_BENIGN: &[&str] = &[
    "/s?q=iphone+15+pro+max+case",
    "/s?q=nike+air+max+90+size+10",
    "/s?q=o%27neill+wetsuit",
    "/s?q=levi%27s+501+jeans",
    "/s?q=select+comfort+mattress",
    "/s?q=union+jack+flag",
    "/s?q=drop+leaf+table",
    "/s?q=and1+basketball+shoes",
    "/s?q=3%2F4+sleeve+or+short+sleeve",
    "/s?q=Dr.+O%27Malley%27s+clinic",
    "/s?q=if+x+%3C+3+and+y+%3E+2",
    "/s?q=1%27+2%22+hose+adapter",
    "/s?q=table+or+desk",
    "/s?q=order+by+price",
    "/s?q=having+fun+outdoors",
    "/s?q=sleep+mask",
    "/s?q=%3Cp%3Ehello%3C%2Fp%3E",
    "/s?q=it%27s+1+or+2",
    "/s?q=user%27s+guide+--+2nd+edition",
    "/s?q=5%27+10%22+height",
];

/// Whether libinjection, ungated, calls the value (normalized as the rules see it) SQLi
/// or XSS.
fn raw_detector(waf: &Waf, raw: &str) -> bool {
    let text = normalize(raw, waf.rounds);
    libinjectionrs::detect_sqli(text.as_bytes()).is_injection()
        || libinjectionrs::detect_xss(text.as_bytes()).is_injection()
}

/// `(blocked by the regexes alone, by regexes + the detector as shipped, by the ungated
/// detector on an argument)` for a request target.
fn verdicts(regex_only: &Waf, shipped: &Waf, target: &str) -> (bool, bool, bool) {
    let req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
    let blocked = |w: &Waf| w.inspect(&req, "eval").iter().any(|h| h.blocks);
    let query = req.uri.query().unwrap_or("");
    let raw = query
        .split('&')
        .filter_map(arg)
        .any(|(n, v)| raw_detector(shipped, n) || raw_detector(shipped, v));
    (blocked(regex_only), blocked(shipped), raw)
}

/// The targets, each once.
fn distinct<'a>(targets: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = targets.collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
#[ignore = "an evaluation: prints figures"]
fn regexes_alone_and_with_libinjection() {
    let shipped = waf();
    let Ok(rules) = Rules::compile(
        true,
        &["sqli-libinjection".into(), "xss-libinjection".into()],
        vec![],
        false,
    ) else {
        panic!("rules compile");
    };
    let regex_only = Waf {
        rules,
        ..waf_fields()
    };
    let attacks = distinct(
        ATTACKS
            .iter()
            .map(|(t, _)| *t)
            .chain(corpus_lines(GAP_ATTACKS))
            .chain(EXTRA_ATTACKS.iter().copied()),
    );
    let benign = distinct(
        BENIGN
            .iter()
            .copied()
            .chain(corpus_lines(GAP_BENIGN))
            .chain(EXTRA_BENIGN.iter().copied()),
    );
    let mut missed = [0; 3];
    let mut blocked = [0; 3];
    for t in &attacks {
        let (re, with, raw) = verdicts(&regex_only, &shipped, t);
        for (n, hit) in missed.iter_mut().zip([re, with, re || raw]) {
            *n += usize::from(!hit);
        }
        if !with {
            println!("missed by regex + libinjection: {t}");
        }
    }
    for t in &benign {
        let (re, with, raw) = verdicts(&regex_only, &shipped, t);
        for (n, hit) in blocked.iter_mut().zip([re, with, re || raw]) {
            *n += usize::from(hit);
        }
        if raw {
            println!("ungated libinjection flags benign {t}");
        }
    }
    println!(
        "{:<36} {:>14} {:>14}",
        "", "attacks missed", "benign blocked"
    );
    println!(
        "{:<36} {:>14} {:>14}",
        "corpus size",
        attacks.len(),
        benign.len()
    );
    for (i, what) in [
        "regexes only",
        "regexes + libinjection (shipped)",
        "regexes + ungated libinjection",
    ]
    .iter()
    .enumerate()
    {
        println!("{what:<36} {:>14} {:>14}", missed[i], blocked[i]);
    }
}
