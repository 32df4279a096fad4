//! WAF rules: the default set, rules from the config, and their compilation into one
//! [`regex::RegexSet`] per target, so one pass over a value checks every rule that applies
//! to it. Each rule has its match counter resolved once (no label hashing per request).

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec};
use regex::RegexSet;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::detect::{head, Detector, Gate};

/// Matches, by rule id and action taken (`block` or `log`).
pub static MATCHES: Lazy<IntCounterVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter_vec(
        "edgeproxy_waf_matches_total",
        "Request values matched by a WAF rule, by rule id and the action taken (block or log)",
        &["rule", "action"],
    )
});

/// Where a rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The request path (decoded).
    Path,
    /// Each query argument's name and value (decoded, `+` as space).
    Args,
    /// The values of the headers named in the config's `headers`.
    Headers,
    /// The request body (up to `body_bytes`): form fields, JSON strings, multipart
    /// parts, or the text of any other body.
    Body,
}

impl Target {
    /// Every target, in the order requests are checked.
    pub const ALL: [Target; 4] = [Target::Path, Target::Args, Target::Headers, Target::Body];

    /// The target's name in configs and logs.
    pub fn name(self) -> &'static str {
        match self {
            Target::Path => "path",
            Target::Args => "args",
            Target::Headers => "headers",
            Target::Body => "body",
        }
    }
}

/// What a match does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deny the request (403 by default).
    #[default]
    Block,
    /// Count and log only.
    Log,
}

/// A regex, checked when the config is read (so `-t` points at it).
#[derive(Clone, Debug)]
pub struct Pattern(pub String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PatternVisitor)
    }
}

/// Compiles inside the visitor, so the config reader puts the error at the pattern.
struct PatternVisitor;

impl de::Visitor<'_> for PatternVisitor {
    type Value = Pattern;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a regular expression")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Pattern, E> {
        match regex::Regex::new(v) {
            Ok(_) => Ok(Pattern(v.to_string())),
            Err(e) => Err(E::custom(format!(
                "invalid pattern: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim_start_matches("error: ")
            ))),
        }
    }
}

/// A rule as written in the config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name in logs and metrics; unique.
    pub id: String,
    /// Rust regex over the normalized value (`(?i)` for case-insensitive).
    pub pattern: Pattern,
    /// Where to look (default: everywhere).
    #[serde(default = "all_targets")]
    pub targets: Vec<Target>,
    /// `block` (default) or `log`.
    #[serde(default)]
    pub action: Action,
}

fn all_targets() -> Vec<Target> {
    Target::ALL.to_vec()
}

/// The default rules: `(id, pattern)`, applied to every target with action `block`. They
/// match the normalized value (see `normalize.rs`: decoded, comments removed, whitespace
/// squeezed), so the evasions are handled there, not here.
pub const DEFAULT_RULES: [(&str, &str); 11] = [
    // `union select`, `union all select`, `1union(select`: the keywords next to each other
    // (comments and whitespace between them are gone), not "union ... select" anywhere.
    (
        "sqli-union-select",
        r"(?i)(?:^|[^a-z_])union[\s(]*(?:(?:all|distinct|distinctrow)[\s(]*)?select(?:[^a-z0-9_]|$)",
    ),
    // `or 1=1`, `' OR '1'='1`, `1)or(2>1`, `|| 1=1`, `and 1=2`, `or 0x1=0x1`: a boolean
    // operator followed by a comparison of numbers (decimal or hex).
    (
        "sqli-tautology-number",
        r#"(?i)(?:^|[^a-z_])(?:or|and|xor|\|\||&&)[\s(]*['"`]?\s*(?:0x[0-9a-f]+|\d+(?:\.\d+)?)\s*['"`]?\s*(?:<=>|<>|!=|>=|<=|=|<|>|like\b|is\b|rlike\b|regexp\b)\s*\(?\s*['"`]?\s*(?:0x[0-9a-f]|\d)"#,
    ),
    // `' or 'a'='a`, `" or ""="`, `' or 'a' like 'a`: a quote closed, then a comparison of
    // strings.
    (
        "sqli-tautology-string",
        r#"(?i)['"`]\s*(?:or|and|xor|\|\||&&)[\s(]*['"`][^'"`]{0,64}['"`]\s*(?:=|<>|!=|like\b|rlike\b|regexp\b)\s*['"`]"#,
    ),
    // `' or true`, `' or 1-- -`: a quote closed, then an always-true operand.
    (
        "sqli-or-true",
        r#"(?i)['"`]\s*(?:or|\|\|)\s*(?:true|not\s+false|\d+)\s*(?:--|#|;|$)"#,
    ),
    // `' or name like '%`, `or 1 between 0 and 2`, `' or 'b' between 'a' and 'c`: a
    // boolean operator then a `LIKE` with a wildcard or a `BETWEEN` of literals.
    (
        "sqli-like-between",
        r#"(?i)(?:['"`)]\s*(?:or|and|xor|\|\||&&)\s+\(?\s*[a-z_][\w.]*\s+(?:not\s+)?like\s+['"`]\s*%|(?:^|[^a-z_])(?:or|and|xor|\|\||&&)[\s(]*(?:['"`][^'"`]{0,64}['"`]|0x[0-9a-f]+|\d+)\s+(?:not\s+)?between\s+(?:['"`][^'"`]{0,64}['"`]|0x[0-9a-f]+|\d+)\s+and\s+['"`0-9])"#,
    ),
    // `<script>`, `</ScRiPt>`, `<script/src=…>`.
    ("xss-script-tag", r"(?i)<\s*/?\s*script(?:[\s/>]|$)"),
    // `javascript:alert(1)`, `java\tscript:…`, `vbscript:…`, followed by code (punctuation,
    // or a name followed by `(`, `=`, `[` or a backtick), so a title such as
    // "JavaScript: The Good Parts" passes.
    (
        "xss-javascript-uri",
        r"(?i)(?:^|[^a-z0-9_])(?:j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:\s*(?:[^\sa-z]|[a-z_$][\w$.]*\s*[(=\[`])",
    ),
    // `<img src=x onerror=…>`, `<svg/onload=…>`: an event handler inside a tag.
    (
        "xss-event-handler",
        r#"(?i)<[a-z][^>]*?[\s/"']on[a-z]{3,}\s*="#,
    ),
    // `" onmouseover=…`, `' autofocus onfocus=…`: a quoted attribute closed, then (after
    // bare attributes) an event handler — the value is reflected into a tag.
    (
        "xss-attribute-injection",
        r#"(?i)['"`][\s/]+(?:[a-z-]+(?:\s*=\s*[^\s>]*)?[\s/]+)*on[a-z]{3,}\s*="#,
    ),
    // `../`, `..\`, `....//`: a parent-directory step (after `path_form`: `..;/` too).
    ("path-traversal", r"(?:^|[/\\])\.{2,}[/\\]"),
    // `/etc/passwd`, `/proc/self/environ`, `\windows\win.ini`: files read to prove a
    // traversal or an inclusion.
    (
        "path-system-file",
        r"(?i)(?:^|[/\\])(?:etc[/\\]+(?:passwd|shadow|group|gshadow|sudoers|master\.passwd)|proc[/\\]+self[/\\]|(?:windows|winnt)[/\\]+(?:win\.ini|system\.ini|system32[/\\])|boot\.ini)",
    ),
];

/// A compiled rule.
pub struct Rule {
    /// Its id.
    pub id: String,
    /// Whether a match denies the request (`block` and not `detect_only`).
    pub blocks: bool,
    /// The action taken, as counted and logged.
    pub action: &'static str,
    counter: IntCounter,
}

impl Rule {
    /// Counts one match.
    pub fn count(&self) {
        self.counter.inc();
    }

    /// Matches counted so far for this rule and action (all instances).
    pub fn matches(&self) -> u64 {
        self.counter.get()
    }
}

/// The rules of one target in one set: `set`'s i-th pattern is rule `rules[i]`.
pub struct TargetSet {
    /// One regex per rule that applies to the target.
    pub set: RegexSet,
    /// Index into [`Rules::rules`] of each pattern.
    pub rules: Vec<usize>,
}

/// All rules of a `waf` instance, compiled.
pub struct Rules {
    /// The rules, defaults first, then the detector's, then the config's.
    pub rules: Vec<Rule>,
    /// Per target (in [`Target::ALL`] order).
    pub sets: [TargetSet; 4],
    /// The detector's readings in force, with the index of their rule in `rules`.
    pub detectors: Vec<(Detector, usize)>,
}

impl Rules {
    /// Compiles the default rules (unless `defaults` is false; minus `disabled` ids) and
    /// `custom`; `detect_only` turns every `block` into `log`.
    pub fn compile(
        defaults: bool,
        disabled: &[String],
        custom: Vec<RuleConfig>,
        detect_only: bool,
    ) -> Result<Rules, String> {
        let default_ids = || {
            DEFAULT_RULES
                .iter()
                .map(|r| r.0)
                .chain(Detector::ALL.iter().map(|d| d.0))
        };
        for id in disabled {
            if !default_ids().any(|d| d == id) {
                let known: Vec<&str> = default_ids().collect();
                return Err(format!(
                    "disable_rules: no default rule `{id}` (default rules: {})",
                    known.join(", ")
                ));
            }
        }
        let mut all: Vec<RuleConfig> = Vec::new();
        let mut detectors = Vec::new();
        let on = |id: &str| defaults && !disabled.iter().any(|d| d == id);
        if defaults {
            all.extend(
                DEFAULT_RULES
                    .iter()
                    .filter(|(id, _)| !disabled.iter().any(|d| d == id))
                    .map(|(id, p)| RuleConfig {
                        id: id.to_string(),
                        pattern: Pattern(p.to_string()),
                        targets: all_targets(),
                        action: Action::Block,
                    }),
            );
        }
        let regex_rules = all.len();
        for (id, detector) in Detector::ALL {
            if on(id) {
                detectors.push((detector, all.len()));
                all.push(RuleConfig {
                    id: id.to_string(),
                    pattern: Pattern(String::new()),
                    targets: vec![Target::Path, Target::Args, Target::Body],
                    action: Action::Block,
                });
            }
        }
        let detector_rules = regex_rules..all.len();
        for c in custom {
            if all.iter().any(|r| r.id == c.id) {
                return Err(format!("rule id `{}` is used twice", c.id));
            }
            if c.targets.is_empty() {
                return Err(format!("rule `{}` has no targets", c.id));
            }
            all.push(c);
        }
        if all.is_empty() {
            return Err("no rules: keep `default_rules` or add `rules`".into());
        }
        let build = |target: Target| -> Result<TargetSet, String> {
            let rules: Vec<usize> = (0..all.len())
                .filter(|&i| all[i].targets.contains(&target) && !detector_rules.contains(&i))
                .collect();
            let set = RegexSet::new(rules.iter().map(|&i| &all[i].pattern.0))
                .map_err(|e| format!("the {} rules do not compile together: {e}", target.name()))?;
            Ok(TargetSet { set, rules })
        };
        let sets = [
            build(Target::Path)?,
            build(Target::Args)?,
            build(Target::Headers)?,
            build(Target::Body)?,
        ];
        let rules = all
            .into_iter()
            .map(|c| {
                let blocks = c.action == Action::Block && !detect_only;
                let action = if blocks { "block" } else { "log" };
                Rule {
                    counter: MATCHES.with_label_values(&[&c.id, action]),
                    id: c.id,
                    blocks,
                    action,
                }
            })
            .collect();
        Ok(Rules {
            rules,
            sets,
            detectors,
        })
    }

    /// The rules (indices into [`Rules::rules`]) whose detector calls `text`, found in
    /// `target`, an injection (never for headers, see `detect.rs`); `gate` is
    /// [`Gate::of`] `text`.
    pub fn detected(&self, target: Target, text: &str, gate: Gate) -> [Option<usize>; 2] {
        let mut out = [None; 2];
        if target == Target::Headers || self.detectors.is_empty() || !gate.detector() {
            return out;
        }
        let text = head(text);
        for (slot, (d, r)) in out.iter_mut().zip(&self.detectors) {
            if d.fires(text, gate) {
                *slot = Some(*r);
            }
        }
        out
    }

    /// The set for `target`.
    pub fn set(&self, target: Target) -> &TargetSet {
        &self.sets[target as usize]
    }
}
