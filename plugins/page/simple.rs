//! Simple templates rendered without handlebars' generic evaluation.
//!
//! Most page templates are literal HTML with `{{source.field}}` expressions. For those,
//! handlebars builds a combined data object (a copy of every source value), resolves every
//! path through its render context and escapes into a fresh string per expression. A
//! template made only of literal text, comments, and dotted `{{a.b}}` / `{{{a.b}}}` value
//! expressions (no helper, block or parameter) is compiled here once more into segments, rendered
//! by looking the paths up in the parsed sources where they are (`doc.rs`: strings are
//! spans of the stored bytes), escaping straight into the output. The result is byte for byte what handlebars renders; whenever it could differ (a
//! path not found: strict mode's error or the `missing` setting; an array or object value),
//! [`Simple::render`] declines and the caller renders with handlebars.

use std::collections::BTreeMap;
use std::io::Write;

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg};
use serde_json::Number;

use super::doc::{Doc, Node, Str, Text};
use super::escape::{escape_into, escape_json_into};

/// One piece of a simple template.
enum Segment {
    /// Literal text.
    Raw(String),
    /// A value at this path, HTML-escaped (`{{ }}`) or not (`{{{ }}}`).
    Value { path: Vec<String>, escape: bool },
}

/// A template compiled to segments.
pub struct Simple {
    segments: Vec<Segment>,
}

/// Where a path's first segment points.
pub enum Root<'a> {
    /// A parsed JSON document (a source's data or its fallback).
    Doc(&'a Doc),
    /// The request parameters (`params`).
    Params(&'a BTreeMap<String, String>),
}

impl Simple {
    /// The segments of template `name` in `hb`, when it is simple (see the module docs).
    pub fn compile(hb: &Handlebars<'static>, name: &str) -> Option<Simple> {
        let template = hb.get_template(name)?;
        let mut segments = Vec::with_capacity(template.elements.len());
        for e in &template.elements {
            match e {
                TemplateElement::RawString(s) => segments.push(Segment::Raw(s.clone())),
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                    let plain = ht.params.is_empty()
                        && ht.hash.is_empty()
                        && !ht.block
                        && ht.template.is_none()
                        && ht.inverse.is_none()
                        && ht.block_param.is_none();
                    // A dotted path names no helper (the page registers only handlebars'
                    // built-in ones, none of them dotted); `{{name}}` alone might.
                    let path = match &ht.name {
                        Parameter::Path(Path::Relative((segs, _))) if plain && segs.len() >= 2 => {
                            named(segs)?
                        }
                        _ => return None,
                    };
                    let escape = matches!(e, TemplateElement::Expression(_));
                    segments.push(Segment::Value { path, escape });
                }
                _ => return None,
            }
        }
        Some(Simple { segments })
    }

    /// Renders with `root` resolving a path's first segment; `None` when a path is not found
    /// or is an array or object (handlebars must render then). `size` is a capacity hint.
    pub fn render<'a>(
        &self,
        root: impl Fn(&str) -> Option<Root<'a>>,
        size: usize,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(size);
        for s in &self.segments {
            match s {
                Segment::Raw(text) => out.extend_from_slice(text.as_bytes()),
                Segment::Value { path, escape } => {
                    let (first, rest) = path.split_first()?;
                    let value = match root(first)? {
                        Root::Params(p) => match rest {
                            [] => return None, // an object
                            [key] => Leaf::Str(p.get(key)?.as_bytes()),
                            _ => return None,
                        },
                        Root::Doc(doc) => {
                            let mut n = doc.root();
                            for seg in rest {
                                n = doc.child(n, seg)?;
                            }
                            Leaf::of(doc, n)?
                        }
                    };
                    value.write(&mut out, *escape);
                }
            }
        }
        Some(out)
    }
}

/// The segments of a path made of plain names only (no `this`, `..`, `@root`, ...).
fn named(segs: &[PathSeg]) -> Option<Vec<String>> {
    segs.iter()
        .map(|s| match s {
            PathSeg::Named(n) if !n.is_empty() && !n.starts_with('@') && n != "this" => {
                Some(n.clone())
            }
            _ => None,
        })
        .collect()
}

/// A value handlebars renders as text.
enum Leaf<'a> {
    /// A string's UTF-8 bytes (a parameter).
    Str(&'a [u8]),
    /// A string of a document.
    Text(&'a Doc, &'a Text),
    Number(&'a Number),
    Bool(bool),
    Null,
}

impl<'a> Leaf<'a> {
    fn of(doc: &'a Doc, n: &'a Node) -> Option<Leaf<'a>> {
        match n {
            Node::Str(t) => Some(Leaf::Text(doc, t)),
            Node::Number(x) => Some(Leaf::Number(x)),
            Node::Bool(b) => Some(Leaf::Bool(*b)),
            Node::Null => Some(Leaf::Null),
            Node::Array(_) | Node::Object(_) => None,
        }
    }

    /// As handlebars' `JsonRender` writes it, escaped like `escape_html` when asked.
    fn write(&self, out: &mut Vec<u8>, escape: bool) {
        match self {
            Leaf::Str(s) if escape => escape_into(s, out),
            Leaf::Str(s) => out.extend_from_slice(s),
            Leaf::Text(doc, t) => match doc.str(t) {
                Str::Plain(s) if escape => escape_into(s, out),
                // Checked to decode when the document was parsed (so never `false` here).
                Str::Escaped(raw) if escape => {
                    escape_json_into(raw, out);
                }
                _ => doc.pieces(t, |p| out.extend_from_slice(p)),
            },
            // `JsonRender`: numbers and booleans by `to_string`, null as nothing; none of
            // them contains a character to escape.
            Leaf::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Leaf::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Leaf::Null => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn registry(text: &str) -> Handlebars<'static> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(crate::page::escape::escape_html);
        hb.register_template_string("t", text).unwrap();
        hb
    }

    /// Renders `text` both ways with `data` (an object: `params` + sources).
    fn both(text: &str, data: &Value) -> (Option<String>, Result<String, String>) {
        let hb = registry(text);
        let params: BTreeMap<String, String> = data["params"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let docs: BTreeMap<&str, Doc> = data
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), Doc::from_value(v).unwrap()))
            .collect();
        let root = |name: &str| match name {
            "params" => Some(Root::Params(&params)),
            other => docs.get(other).map(Root::Doc),
        };
        let fast = Simple::compile(&hb, "t")
            .and_then(|s| s.render(root, 16))
            .map(|b| String::from_utf8(b).unwrap());
        (fast, hb.render("t", data).map_err(|e| e.to_string()))
    }

    #[test]
    fn renders_exactly_what_handlebars_renders() {
        let data = json!({
            "params": { "productId": "7", "shopId": "3" },
            "product": { "name": "Product <7> & 'friends' `x` = \"y\"", "price": 99.5,
                         "id": 7, "neg": -3, "big": 1e21, "ok": true, "none": null,
                         "tags": ["a", "b"], "nested": { "deep": { "v": "ünï & co" } },
                         "description": "Lorem ipsum dolor sit amet; 5.5\" & more" },
            "shop": { "name": "Shop 3", "goodCommentRate": 0.99, "level": 5 },
        });
        for text in [
            "<h1>{{product.name}}</h1>{{! a comment }}<p>{{product.price}} {{product.id}}</p>",
            "{{product.neg}}|{{product.big}}|{{product.ok}}|{{product.none}}|{{shop.level}}",
            "{{{product.name}}} raw, {{product.nested.deep.v}}, {{product.tags.1}}",
            "{{params.productId}}/{{params.shopId}} {{shop.goodCommentRate}}\n  {{shop.name}}\n",
            "{{~product.id~}}  trimmed  {{~shop.name}} {{product.description}}",
            "{{this.product.name}} {{./shop.name}}",
        ] {
            let (fast, slow) = both(text, &data);
            assert_eq!(fast.as_deref(), Some(slow.as_deref().unwrap()), "{text}");
        }
    }

    #[test]
    fn declines_what_only_handlebars_can_render() {
        let data = json!({ "params": {}, "product": { "name": "x", "tags": ["a"], "o": {} } });
        // Not simple templates: helpers, blocks, single names, `@root`.
        for text in [
            "{{#if product.name}}y{{/if}}",
            "{{lookup product \"name\"}}",
            "{{product}}",
            "{{@root.product.name}}",
            "{{len product.tags}}",
        ] {
            let hb = registry(text);
            assert!(Simple::compile(&hb, "t").is_none(), "{text}");
        }
        // Simple templates, but this data needs handlebars (missing field, array, object).
        for text in [
            "{{product.price}}",
            "{{product.tags}}",
            "{{product.o}}",
            "{{shop.name}}",
        ] {
            assert_eq!(both(text, &data).0, None, "{text}");
        }
    }
}
