//! A span-keeping reader over a parsed TOML document that records every problem instead of
//! stopping at the first (serde's derive stops at the first error; `-t` must show them all).

use std::cell::RefCell;
use std::ops::Range;
use std::time::Duration;

use toml_edit::{Item, TableLike, Value};

use super::diag::{closest, Diagnostics};

/// A table being read: remembers which keys were used so leftovers are reported as unknown.
pub struct Tbl<'a> {
    table: &'a dyn TableLike,
    /// Span of the table (header or inline table).
    pub span: Option<Range<usize>>,
    used: RefCell<Vec<&'static str>>,
}

impl<'a> Tbl<'a> {
    /// Wraps `item` if it is a table or inline table; otherwise records an error.
    pub fn of(d: &mut Diagnostics, item: &'a Item, what: &str) -> Option<Tbl<'a>> {
        match item.as_table_like() {
            Some(table) => Some(Tbl {
                table,
                span: item_span(item),
                used: RefCell::new(Vec::new()),
            }),
            None => {
                d.error(item_span(item), format!("{what} must be a table"));
                None
            }
        }
    }

    /// The raw item under `key`, marking the key as known.
    pub fn item(&self, key: &'static str) -> Option<&'a Item> {
        self.used.borrow_mut().push(key);
        self.table.get(key)
    }

    /// Span of the key `key` itself (for "defined here" errors), else of the table.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .or_else(|| self.span.clone())
    }

    /// Reports every key that was never asked for, with a "did you mean" hint.
    pub fn finish(self, d: &mut Diagnostics, what: &str) {
        let used = self.used.take();
        for (key, _) in self.table.iter() {
            if used.contains(&key) {
                continue;
            }
            let hint = match closest(key, used.iter().copied()) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys in {what}: {}", used.join(", ")),
            };
            d.push(
                self.key_span(key),
                format!("unknown key `{key}` in {what}"),
                Some(hint),
            );
        }
    }

    /// A required string.
    pub fn req_str(&self, d: &mut Diagnostics, key: &'static str) -> Option<Spanned<String>> {
        match self.item(key) {
            Some(item) => string(d, item, key),
            None => {
                d.error(self.span.clone(), format!("missing required key `{key}`"));
                None
            }
        }
    }

    /// An optional string.
    pub fn opt_str(&self, d: &mut Diagnostics, key: &'static str) -> Option<Spanned<String>> {
        self.item(key).and_then(|item| string(d, item, key))
    }

    /// An optional boolean (`default` when absent or wrong).
    pub fn bool(&self, d: &mut Diagnostics, key: &'static str, default: bool) -> bool {
        match self.item(key) {
            None => default,
            Some(item) => match item.as_bool() {
                Some(b) => b,
                None => {
                    d.error(item_span(item), format!("`{key}` must be true or false"));
                    default
                }
            },
        }
    }

    /// An optional non-negative integer within `range`.
    pub fn int(
        &self,
        d: &mut Diagnostics,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<Spanned<i64>> {
        let item = self.item(key)?;
        match item.as_integer() {
            Some(n) if range.contains(&n) => Some(Spanned::new(n, item_span(item))),
            Some(n) => {
                d.error(
                    item_span(item),
                    format!(
                        "`{key}` = {n} is out of range {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            None => {
                d.error(item_span(item), format!("`{key}` must be an integer"));
                None
            }
        }
    }

    /// An optional number (integer or float) within `range`.
    pub fn number(
        &self,
        d: &mut Diagnostics,
        key: &'static str,
        range: std::ops::RangeInclusive<f64>,
    ) -> Option<Spanned<f64>> {
        let item = self.item(key)?;
        let n = item
            .as_float()
            .or_else(|| item.as_integer().map(|i| i as f64));
        match n {
            Some(n) if range.contains(&n) => Some(Spanned::new(n, item_span(item))),
            Some(n) => {
                d.error(
                    item_span(item),
                    format!(
                        "`{key}` = {n} is out of range {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            None => {
                d.error(item_span(item), format!("`{key}` must be a number"));
                None
            }
        }
    }

    /// An optional duration such as `"1s"`, `"250ms"`, `"1m 30s"`.
    pub fn duration(&self, d: &mut Diagnostics, key: &'static str) -> Option<Duration> {
        let s = self.opt_str(d, key)?;
        match humantime::parse_duration(&s.value) {
            Ok(v) => Some(v),
            Err(e) => {
                d.push(
                    s.span,
                    format!("`{key}`: invalid duration {:?}: {e}", s.value),
                    Some("use a number with a unit, e.g. \"500ms\", \"5s\", \"1m\""),
                );
                None
            }
        }
    }

    /// An optional size such as `"16KiB"`, `"1MiB"`, `"512"` (bytes).
    pub fn size(&self, d: &mut Diagnostics, key: &'static str) -> Option<u64> {
        let item = self.item(key)?;
        if let Some(n) = item.as_integer() {
            if n >= 0 {
                return Some(n as u64);
            }
        }
        let parsed = item.as_str().and_then(parse_size);
        if parsed.is_none() {
            d.push(
                item_span(item),
                format!("`{key}`: invalid size"),
                Some("use bytes or a unit: \"512\", \"16KiB\", \"1MiB\", \"2GiB\""),
            );
        }
        parsed
    }

    /// An optional array of strings.
    pub fn str_list(&self, d: &mut Diagnostics, key: &'static str) -> Vec<Spanned<String>> {
        let Some(item) = self.item(key) else {
            return Vec::new();
        };
        match item.as_array() {
            Some(arr) => arr
                .iter()
                .filter_map(|v| match v.as_str() {
                    Some(s) => Some(Spanned::new(s.to_string(), v.span())),
                    None => {
                        d.error(v.span(), format!("`{key}` entries must be strings"));
                        None
                    }
                })
                .collect(),
            None => {
                d.error(
                    item_span(item),
                    format!("`{key}` must be an array of strings"),
                );
                Vec::new()
            }
        }
    }
}

/// A value with the source span it came from.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Option<Range<usize>>,
}

impl<T> Spanned<T> {
    /// Pairs a value with a span.
    pub fn new(value: T, span: Option<Range<usize>>) -> Self {
        Spanned { value, span }
    }
}

fn string(d: &mut Diagnostics, item: &Item, key: &str) -> Option<Spanned<String>> {
    match item.as_str() {
        Some(s) => Some(Spanned::new(s.to_string(), item_span(item))),
        None => {
            d.error(item_span(item), format!("`{key}` must be a string"));
            None
        }
    }
}

/// The span of an item (value or table header).
pub fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Value(v) => v.span(),
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

/// Items of an array of tables or an inline array of inline tables, as `Item`s.
pub fn table_items(item: &Item) -> Option<Vec<Item>> {
    match item {
        Item::ArrayOfTables(a) => Some(a.iter().cloned().map(Item::Table).collect()),
        Item::Value(Value::Array(a)) => Some(a.iter().cloned().map(Item::Value).collect()),
        _ => None,
    }
}

/// Parses `"16KiB"`-style sizes (B, K/KB/KiB, M/MB/MiB, G/GB/GiB; all binary multiples).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("16KiB"), Some(16384));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("1.5MiB"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
    }
}
