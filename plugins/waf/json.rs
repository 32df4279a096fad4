//! JSON bodies for the WAF, read the way the strictest backend could read them, and never
//! more weakly: every string (keys and values) is checked as it is parsed, escapes undone,
//! **duplicate keys included** (a backend may keep the first occurrence or the last); a
//! UTF-8 BOM is skipped; and a body that does not parse — cut at the inspected size, a
//! trailing comma, a stray byte — is still read string literal by string literal (escapes
//! undone as far as they go) as well as as one text value, so padding a JSON body or
//! breaking its syntax never turns `\u003cscript` back into unreadable text.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Calls `check(name, value)` for every string of JSON `body` (a key's own value has the
/// key as its name), until one returns true (a blocking match); returns whether one did.
pub fn each_string(body: &[u8], check: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut blocked = false;
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        name: "",
        check: &mut *check,
        blocked: &mut blocked,
    };
    let parsed = walk.deserialize(&mut de).and_then(|()| de.end());
    if blocked {
        return true;
    }
    if parsed.is_ok() {
        return false;
    }
    literals(body, check) || check("", &String::from_utf8_lossy(body))
}

/// Every string literal of a text that is not valid JSON, decoded as far as it goes.
fn literals(body: &[u8], check: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        while j < body.len() && body[j] != b'"' {
            j += if body[j] == b'\\' { 2 } else { 1 };
        }
        let raw = &body[start..j.min(body.len())];
        if check("", &decode(raw)) {
            return true;
        }
        i = j + 1;
    }
    false
}

/// A literal's text with its JSON escapes undone; a cut escape at the end is dropped, and a
/// literal that does not decode is taken as it is.
fn decode(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    for cut in 0..=6 {
        let Some(end) = text.len().checked_sub(cut) else {
            break;
        };
        let Some(head) = text.get(..end) else {
            continue;
        };
        if let Ok(s) = serde_json::from_str::<String>(&format!("\"{head}\"")) {
            return s;
        }
    }
    text.into_owned()
}

/// Visits every string of one JSON value.
struct Walk<'a, 'c> {
    name: &'a str,
    check: &'c mut dyn FnMut(&str, &str) -> bool,
    blocked: &'c mut bool,
}

impl Walk<'_, '_> {
    fn see<E: de::Error>(&mut self, name: &str, value: &str) -> Result<(), E> {
        if (self.check)(name, value) {
            *self.blocked = true;
            return Err(E::custom("blocked"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        let name = self.name;
        self.see(name, v)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                name: self.name,
                check: &mut *self.check,
                blocked: &mut *self.blocked,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // Every entry, duplicates included: nothing is collected into a map.
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            self.see::<A::Error>(&key, &key)?;
            map.next_value_seed(Walk {
                name: &key,
                check: &mut *self.check,
                blocked: &mut *self.blocked,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(body: &str) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        each_string(body.as_bytes(), &mut |n, v| {
            seen.push((n.to_string(), v.to_string()));
            false
        });
        seen
    }

    fn has(seen: &[(String, String)], value: &str) -> bool {
        seen.iter().any(|(_, v)| v == value)
    }

    #[test]
    fn every_string_with_escapes_undone_and_duplicate_keys_all_seen() {
        let seen = strings(r#"{"q":"\u003cscript>","q":"benign","a":["x",1,{"b":"y"}]}"#);
        assert!(
            has(&seen, "<script>"),
            "the first of two `q` is seen: {seen:?}"
        );
        assert!(has(&seen, "benign") && has(&seen, "x") && has(&seen, "y"));
        assert!(seen.contains(&("b".into(), "y".into())), "{seen:?}");
    }

    #[test]
    fn bom_trailing_commas_and_cut_bodies_are_still_read_string_by_string() {
        let bom = strings("\u{feff}{\"q\":\"\\u0075nion select\"}");
        assert!(has(&bom, "union select"), "{bom:?}");
        let comma = strings(r#"{"q":"\u003cscript>",}"#);
        assert!(has(&comma, "<script>"), "{comma:?}");
        let cut = strings(r#"{"pad":"aaaa","q":"\u003cscript>alert(1)\u00"#);
        assert!(has(&cut, "<script>alert(1)"), "{cut:?}");
        // The text too, for what sits outside strings in a broken body.
        assert!(cut
            .iter()
            .any(|(n, v)| n.is_empty() && v.starts_with("{\"pad\"")));
    }

    #[test]
    fn the_first_blocking_value_stops_the_walk() {
        let mut n = 0;
        let blocked = each_string(br#"["a","b","c"]"#, &mut |_, v| {
            n += 1;
            v == "b"
        });
        assert!(blocked);
        assert_eq!(n, 2);
    }
}
