//! A source value parsed once and kept with its stored bytes (`Derived`): the JSON's
//! structure, with its strings left where they are in those bytes instead of copied.
//!
//! A product's 4–8 KB description is then held once (in the bytes L1 stores) rather than
//! twice (bytes + a `serde_json::Value` string). A string without escapes is a span of the
//! bytes; one with escapes (`\"`, `\n`, `\u00e9`) is a span of its raw JSON text, decoded
//! each time it is read (`jsonstr.rs`), so it costs no copy either. What the document adds
//! is its structure: 24 bytes a value, 48 an object field. Numbers are `serde_json::Number`s,
//! so they print exactly as handlebars prints a `Value` (`0.99`, `1e21`); objects keep every
//! field in source order and a lookup takes the last of equal keys, as `serde_json::Map`
//! does.

use std::cell::Cell;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::jsonstr;

/// A parsed JSON document over the bytes it was parsed from.
pub struct Doc {
    bytes: Bytes,
    root: Node,
}

/// One JSON value of a [`Doc`] (its strings are read through the document).
pub enum Node {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string.
    Str(Text),
    /// An array.
    Array(Box<[Node]>),
    /// An object's fields in source order (duplicates included: the last one counts).
    Object(Box<[(Text, Node)]>),
}

/// A string of a [`Doc`]: where it lies in the document's bytes, or a copy.
pub enum Text {
    /// The string is `bytes[start..start + len]` (its JSON text had no escapes).
    Raw(Span),
    /// `bytes[start..start + len]` is the string's JSON text, escapes and all.
    Escaped(Span),
    /// A copy (object keys with escapes; strings whose text was not found in the bytes).
    Owned(Box<str>),
}

/// A string of a [`Doc`] as it lies in the document's bytes.
pub enum Str<'a> {
    /// Its UTF-8.
    Plain(&'a [u8]),
    /// Its JSON text between the quotes, escapes and all (see `jsonstr::decode`).
    Escaped(&'a [u8]),
}

/// A range of a document's bytes.
#[derive(Clone, Copy)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Doc {
    /// Parses `bytes` (one JSON value, whitespace around it allowed), as
    /// `serde_json::from_slice::<Value>` would accept it.
    pub fn parse(bytes: Bytes) -> Result<Doc, serde_json::Error> {
        let root = {
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let cursor = Cell::new(Some(0));
            let root = NodeSeed {
                base: &bytes,
                cursor: &cursor,
            }
            .deserialize(&mut de)?;
            de.end()?;
            root
        };
        Ok(Doc { bytes, root })
    }

    /// The document `null` (a missing source without a fallback).
    pub fn null() -> &'static Doc {
        static NULL: Doc = Doc {
            bytes: Bytes::new(),
            root: Node::Null,
        };
        &NULL
    }

    /// The document of a `Value` (a source's configured fallback).
    pub fn from_value(v: &Value) -> Result<Doc, serde_json::Error> {
        Doc::parse(Bytes::from(serde_json::to_vec(v)?))
    }

    /// The top-level value.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// String `t` as it lies in the document's bytes (or its copy).
    pub fn str<'a>(&'a self, t: &'a Text) -> Str<'a> {
        match t {
            Text::Raw(span) => Str::Plain(self.span(*span)),
            Text::Escaped(span) => Str::Escaped(self.span(*span)),
            Text::Owned(s) => Str::Plain(s.as_bytes()),
        }
    }

    /// Hands the UTF-8 of string `t` to `piece`, in one piece or more (between escapes).
    pub fn pieces(&self, t: &Text, mut piece: impl FnMut(&[u8])) {
        match self.str(t) {
            Str::Plain(bytes) => piece(bytes),
            // Checked to decode to the string serde_json read when parsing.
            Str::Escaped(raw) => {
                jsonstr::decode(raw, piece);
            }
        }
    }

    fn span(&self, Span { start, len }: Span) -> &[u8] {
        let (start, len) = (start as usize, len as usize);
        self.bytes.get(start..start + len).unwrap_or_default()
    }

    /// Whether string `t` is `s`.
    fn text_is(&self, t: &Text, s: &str) -> bool {
        match t {
            Text::Raw(span) => self.span(*span) == s.as_bytes(),
            Text::Escaped(span) => jsonstr::decodes_to(self.span(*span), s),
            Text::Owned(o) => **o == *s,
        }
    }

    /// A child as handlebars looks it up: an object's field (the last of equal keys), or an
    /// array's element at the index `seg` spells.
    pub fn child<'a>(&'a self, n: &'a Node, seg: &str) -> Option<&'a Node> {
        match n {
            Node::Object(fields) => fields
                .iter()
                .rev()
                .find(|(k, _)| self.text_is(k, seg))
                .map(|(_, v)| v),
            Node::Array(items) => items.get(seg.parse::<usize>().ok()?),
            _ => None,
        }
    }

    /// The whole document as a `serde_json::Value` (for handlebars).
    pub fn to_value(&self) -> Value {
        self.value_of(&self.root)
    }

    fn value_of(&self, n: &Node) -> Value {
        match n {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(x) => Value::Number(x.clone()),
            Node::Str(t) => Value::String(self.string(t)),
            Node::Array(items) => Value::Array(items.iter().map(|i| self.value_of(i)).collect()),
            Node::Object(fields) => {
                let mut map = Map::new();
                for (k, v) in fields.iter() {
                    map.insert(self.string(k), self.value_of(v));
                }
                Value::Object(map)
            }
        }
    }

    fn string(&self, t: &Text) -> String {
        let mut bytes = Vec::new();
        self.pieces(t, |p| bytes.extend_from_slice(p));
        // Spans are cut from strings serde_json validated: never lossy.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

/// Where the next string serde_json reads starts at the earliest: the offset after the last
/// string found (only numbers, literals, punctuation and spaces, never a quote, lie between
/// two strings), `None` after a string was not found (strings with escapes are then copied
/// until one without escapes sets it again).
type Cursor<'c> = &'c Cell<Option<usize>>;

/// The [`Text`] of a string serde_json read, `borrowed` straight from the input `base` or
/// unescaped into a copy: a span of `base` when the string is found there.
fn text(base: &[u8], cursor: Cursor<'_>, s: &str, borrowed: bool) -> Text {
    let from = cursor.get();
    let found = || {
        let (start, end) = if borrowed {
            let start = (s.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
            (start, start.checked_add(s.len())?)
        } else {
            jsonstr::locate(base, from?)?
        };
        let raw = base.get(start..end)?;
        // Checked once, here: the very bytes, or escapes decoding to them.
        let same = if borrowed {
            raw == s.as_bytes()
        } else {
            jsonstr::decodes_to(raw, s)
        };
        let span = Span {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(raw.len()).ok()?,
        };
        same.then_some((span, end + 1))
    };
    let found = found();
    cursor.set(found.map(|(_, next)| next));
    match found {
        Some((span, _)) if borrowed => Text::Raw(span),
        Some((span, _)) => Text::Escaped(span),
        None => Text::Owned(s.into()),
    }
}

/// Builds a [`Node`] from serde_json's events, knowing the input (`base`) for spans.
#[derive(Clone, Copy)]
struct NodeSeed<'b> {
    base: &'b [u8],
    cursor: Cursor<'b>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node, E> {
        // As serde_json's `Value`: a float without a JSON form is null.
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Node, E> {
        Ok(Node::Str(text(self.base, self.cursor, s, true)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(text(self.base, self.cursor, s, false)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Node::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed {
            base: self.base,
            cursor: self.cursor,
        })? {
            fields.push((key, map.next_value_seed(self)?));
        }
        Ok(Node::Object(fields.into_boxed_slice()))
    }
}

/// Reads an object key as a [`Text`].
struct KeySeed<'b> {
    base: &'b [u8],
    cursor: Cursor<'b>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Text;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Text;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text, E> {
        Ok(text(self.base, self.cursor, s, true))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        Ok(text(self.base, self.cursor, s, false))
    }
}

#[cfg(test)]
#[path = "doc_tests.rs"]
mod tests;
