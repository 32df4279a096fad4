//! The one template syntax: literal text, `$name`, `${name}` (to separate a variable from
//! the text after it) and `$1`..`$9` (one digit, as nginx reads it).

use super::TemplateError;

/// One piece of a template's text.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// Text copied as written.
    Lit(&'a str),
    /// A variable, by name (without `$` and braces).
    Var(&'a str),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `s` into literal text and variable names; adjacent literal text stays one token.
pub(super) fn tokens(s: &str) -> Result<Vec<Token<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        if pos > 0 {
            out.push(Token::Lit(&rest[..pos]));
        }
        let after = &rest[pos + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| {
                TemplateError::new(format!("unclosed `${{` in `{s}`; hint: write `${{name}}`"))
            })?;
            (&braced[..end], &braced[end + 1..])
        } else if after.starts_with(|c: char| c.is_ascii_digit()) {
            after.split_at(1)
        } else {
            let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            after.split_at(end)
        };
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(TemplateError::new(format!(
                "`$` without a variable name in `{s}`"
            )));
        }
        out.push(Token::Var(name));
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(Token::Lit(rest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Token::{Lit, Var};

    #[test]
    fn names_braces_digits_and_text() {
        assert_eq!(
            tokens("a$x-${y}z$12").unwrap(),
            [
                Lit("a"),
                Var("x"),
                Lit("-"),
                Var("y"),
                Lit("z"),
                Var("1"),
                Lit("2")
            ]
        );
        assert_eq!(tokens("").unwrap(), []);
        assert_eq!(tokens("plain").unwrap(), [Lit("plain")]);
    }

    #[test]
    fn mistakes() {
        for bad in ["$", "a$-b", "${}", "${a-b}"] {
            let e = tokens(bad).unwrap_err().to_string();
            assert!(e.contains("without a variable name"), "{bad}: {e}");
        }
        let e = tokens("${arg_x").unwrap_err().to_string();
        assert!(e.contains("unclosed"), "{e}");
    }
}
