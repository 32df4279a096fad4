//! `multipart/form-data` read as strictly as the strictest common backend parser
//! (Go's `mime/multipart`, Python's `multipart`/werkzeug, PHP), so that no backend can be
//! told a story the WAF did not read: what those parsers could read two ways is refused
//! ([`Malformed`], 400) instead of read one way.
//!
//! Refused:
//! - in `Content-Type`: a parameter that does not parse (RFC 9110 §5.6.6), `boundary=`
//!   twice, or hidden inside another parameter (PHP takes the first `boundary=` anywhere in
//!   the field), a quoted-pair in a quoted value (Go and werkzeug undo it, PHP does not),
//!   a boundary that is not 1–70 of RFC 2046's characters;
//! - in the body: anything before the first delimiter (a preamble) or after the last
//!   (an epilogue, but for one CRLF), a delimiter line not ended by CRLF right away, a line
//!   ended by a bare LF or CR in a part's header, a folded header line, the boundary
//!   inside a part, a missing closing delimiter (in a body seen whole);
//! - in a part: no `Content-Disposition`, two of them, a type other than `form-data`, no
//!   `name`, a parameter given twice (`name`, `filename`…), a `Content-Transfer-Encoding`
//!   other than `7bit`, `8bit` or `binary`.
//!
//! Every part is inspected: its `name`, its `filename` (and `filename*`), and its content
//! (file parts included), as text, and as JSON strings too when the part says it is JSON.
//!
//! Hand-written rather than a crate's: the multipart crates (`multer`, `mime`) are built
//! to accept what browsers send and recover from the rest, which is the opposite of the
//! point here; this reads a body already in memory and refuses what they would recover.

/// Why a body was refused: it could be read more than one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// The boundary of a `multipart/form-data` `Content-Type` whose parameters are `params`
/// (the text after the media type).
pub fn boundary(params: &str) -> Result<String, Malformed> {
    let lower = params.to_ascii_lowercase();
    let mentions = lower
        .match_indices("boundary")
        .filter(|(i, _)| lower[i + 8..].trim_start().starts_with('='))
        .count();
    // A parameter given twice (two `boundary`) is refused by `parameters`.
    let Some((_, b)) = parameters(params)?
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
    else {
        return Err(Malformed("multipart without a boundary"));
    };
    if mentions != 1 {
        return Err(Malformed("`boundary=` inside another parameter"));
    }
    let bchar = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if b.is_empty() || b.len() > 70 || b.ends_with(' ') || !b.chars().all(bchar) {
        return Err(Malformed("boundary is not 1-70 RFC 2046 characters"));
    }
    Ok(b)
}

/// The `;`-separated `name=value` parameters of a header field, values unquoted.
pub fn parameters(s: &str) -> Result<Vec<(String, String)>, Malformed> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches([' ', '\t']);
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or(Malformed("parameters not separated by `;`"))?
            .trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break; // a trailing `;`, as browsers never send but every parser takes
        }
        let name_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let after = after
            .strip_prefix('=')
            .filter(|_| !name.is_empty())
            .ok_or(Malformed("a parameter is not name=value"))?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted
                    .find('"')
                    .ok_or(Malformed("an unclosed quoted value"))?;
                let value = &quoted[..end];
                if has_quoted_pair(value) {
                    return Err(Malformed("a quoted-pair in a quoted value"));
                }
                (value, &quoted[end + 1..])
            }
            None => {
                let len = after.find(|c: char| !is_tchar(c)).unwrap_or(after.len());
                (&after[..len], &after[len..])
            }
        };
        if out
            .iter()
            .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(name))
        {
            return Err(Malformed("a parameter given twice"));
        }
        out.push((name.to_string(), value.to_string()));
        rest = after.trim_start_matches([' ', '\t']);
    }
    Ok(out)
}

/// A backslash before a backslash or the end of the value (where a `\"` was cut).
fn has_quoted_pair(v: &str) -> bool {
    v.contains("\\\\") || v.ends_with('\\')
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Calls `check(name, value)` for each part's name, filename and content (see the module
/// docs), until one returns true; returns whether one did. `complete`: the body is whole
/// (a missing closing delimiter is then refused).
pub fn each_value(
    body: &[u8],
    boundary: &str,
    complete: bool,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<bool, Malformed> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n{dash}");
    let mut rest = body
        .strip_prefix(dash.as_bytes())
        .ok_or(Malformed("a preamble before the first boundary"))?;
    loop {
        if let Some(epilogue) = rest.strip_prefix(b"--") {
            if !epilogue.is_empty() && epilogue != b"\r\n" {
                return Err(Malformed("an epilogue after the closing boundary"));
            }
            return Ok(false);
        }
        rest = match rest.strip_prefix(b"\r\n") {
            Some(r) => r,
            None if rest.is_empty() && !complete => return Ok(false),
            None => return Err(Malformed("a boundary line not ended by CRLF")),
        };
        let (part, next) = match find(rest, delimiter.as_bytes()) {
            Some(at) => (&rest[..at], Some(&rest[at + delimiter.len()..])),
            None if complete => return Err(Malformed("no closing boundary")),
            None => (rest, None),
        };
        if find(part, dash.as_bytes()).is_some() {
            return Err(Malformed("the boundary inside a part"));
        }
        if one_part(part, next.is_some(), check)? {
            return Ok(true);
        }
        match next {
            Some(n) => rest = n,
            None => return Ok(false),
        }
    }
}

/// One part: its header, then the checks.
fn one_part(
    part: &[u8],
    whole: bool,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<bool, Malformed> {
    let (head, content) = match find(part, b"\r\n\r\n") {
        Some(at) => (&part[..at], &part[at + 4..]),
        None if whole => return Err(Malformed("a part without a header end")),
        None => return Ok(false), // cut inside the header (partial inspection)
    };
    let head = String::from_utf8_lossy(head);
    let mut disposition = None;
    let mut json = false;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if line.contains(['\r', '\n']) {
            return Err(Malformed("a bare CR or LF in a part header"));
        }
        if line.starts_with([' ', '\t']) {
            return Err(Malformed("a folded part header"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(Malformed("a part header line without `:`"))?;
        let value = value.trim_matches([' ', '\t']);
        match name.to_ascii_lowercase().as_str() {
            "content-disposition" if disposition.is_some() => {
                return Err(Malformed("two Content-Disposition in a part"));
            }
            "content-disposition" => disposition = Some(value.to_string()),
            "content-transfer-encoding"
                if !["7bit", "8bit", "binary"]
                    .iter()
                    .any(|e| value.eq_ignore_ascii_case(e)) =>
            {
                return Err(Malformed("a Content-Transfer-Encoding that is decoded"));
            }
            "content-type" => {
                let mime = value.split(';').next().unwrap_or("").trim();
                json = super::body::is_json(&mime.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    let disposition = disposition.ok_or(Malformed("a part without Content-Disposition"))?;
    let (kind, params) = disposition.split_at(disposition.find(';').unwrap_or(disposition.len()));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(Malformed("a part that is not form-data"));
    }
    let params = parameters(params)?;
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let name = get("name").ok_or(Malformed("a part without a name"))?;
    let text = String::from_utf8_lossy(content);
    let filename_star = get("filename*").map(|v| {
        let v = v.rsplit('\'').next().unwrap_or(v);
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    });
    Ok(check(name, name)
        || get("filename").is_some_and(|f| check(name, f))
        || filename_star.is_some_and(|f| check(name, &f))
        || (json && super::json::each_string(content, check))
        || check(name, &text))
}

/// The first index of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}
