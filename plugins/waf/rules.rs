//! WAF rules: the default set, rules from the config, and their compilation into one
//! [`regex::RegexSet`] per target, so one pass over a value checks every rule that applies
//! to it. Each rule has its match counter resolved once (no label hashing per request).

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec};
use regex::RegexSet;
use serde::de::{self, Deserializer};
use serde::Deserialize;

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
    /// The request body (its start, up to `body_bytes`): form fields, JSON strings,
    /// multipart fields, or the text of any other body.
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
pub const DEFAULT_RULES: [(&str, &str); 7] = [
    // `union select`, `union all select`, `1union(select`: the keywords next to each other
    // (comments and whitespace between them are gone), not "union ... select" anywhere.
    (
        "sqli-union-select",
        r"(?i)(?:^|[^a-z_])union[\s(]*(?:(?:all|distinct|distinctrow)[\s(]*)?select(?:[^a-z0-9_]|$)",
    ),
    // `or 1=1`, `' OR '1'='1`, `1)or(2>1`, `|| 1=1`, `and 1=2`: a boolean operator followed
    // by a comparison of numbers.
    (
        "sqli-tautology-number",
        r#"(?i)(?:^|[^a-z_])(?:or|and|xor|\|\||&&)[\s(]*['"`]?\s*\d+(?:\.\d+)?\s*['"`]?\s*(?:<=>|<>|!=|>=|<=|=|<|>|like\b|is\b)\s*\(?\s*['"`]?\s*\d"#,
    ),
    // `' or 'a'='a`, `" or ""="`: a quote closed, then a comparison of strings.
    (
        "sqli-tautology-string",
        r#"(?i)['"`]\s*(?:or|and|xor|\|\||&&)[\s(]*['"`][^'"`]{0,64}['"`]\s*(?:=|<>|!=|like\b)\s*['"`]"#,
    ),
    // `' or true`, `' or 1-- -`: a quote closed, then an always-true operand.
    (
        "sqli-or-true",
        r#"(?i)['"`]\s*(?:or|\|\|)\s*(?:true|not\s+false|\d+)\s*(?:--|#|;|$)"#,
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
    /// The rules, defaults first.
    pub rules: Vec<Rule>,
    /// Per target (in [`Target::ALL`] order).
    pub sets: [TargetSet; 4],
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
        for id in disabled {
            if !DEFAULT_RULES.iter().any(|(d, _)| d == id) {
                let known: Vec<&str> = DEFAULT_RULES.iter().map(|r| r.0).collect();
                return Err(format!(
                    "disable_rules: no default rule `{id}` (default rules: {})",
                    known.join(", ")
                ));
            }
        }
        let mut all: Vec<RuleConfig> = Vec::new();
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
                .filter(|&i| all[i].targets.contains(&target))
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
        Ok(Rules { rules, sets })
    }

    /// The set for `target`.
    pub fn set(&self, target: Target) -> &TargetSet {
        &self.sets[target as usize]
    }
}
