//! Request header names an upstream could read as another header, dropped before anything
//! sees the request — nginx's `ignore_invalid_headers on` with `underscores_in_headers
//! off`, its defaults.
//!
//! Servers behind CGI, WSGI or Rack conventions turn `-` into `_` (`X-User-Id` becomes
//! `HTTP_X_USER_ID`), so a client's own `X_User_Id: admin` or `X-User_Id: admin` reaches
//! the application as the header a plugin verified and set (`jwt-auth`'s claim headers),
//! or as one the proxy sets (`X-Real-IP`). A name with an underscore — or any character
//! other than a letter, a digit or `-` — is removed (silently, as nginx does). A server
//! block can keep underscores with `underscores_in_headers = true`; plugins that set
//! headers still remove the names that map onto theirs (`jwt-auth`).

use http::HeaderName;
use pingora::http::RequestHeader;

/// Removes the header fields whose names are not letters, digits and `-` (and `_` when
/// `underscores` allows it). Returns how many names were removed.
pub fn drop_invalid_names(req: &mut RequestHeader, underscores: bool) -> usize {
    let valid = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || (underscores && *b == b'_');
    let bad: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| !name.as_str().as_bytes().iter().all(valid))
        .cloned()
        .collect();
    for name in &bad {
        req.remove_header(name);
    }
    bad.len()
}

/// Whether `name` is read as `header` by a server that folds `_` into `-` and ignores
/// case (`X_User-ID` and `x-user-id`).
pub fn same_after_folding(name: &str, header: &str) -> bool {
    name.len() == header.len()
        && name.bytes().zip(header.bytes()).all(|(a, b)| {
            let fold = |c: u8| match c {
                b'_' => b'-',
                c => c.to_ascii_lowercase(),
            };
            fold(a) == fold(b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(names: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for n in names {
            r.append_header(n.to_string(), "v").unwrap();
        }
        r
    }

    #[test]
    fn underscored_and_odd_names_are_dropped_unless_allowed() {
        let names = [
            "X-User-Id",
            "X_User_Id",
            "X-User_Id",
            "x.user.id",
            "Accept",
            "x~y",
        ];
        let mut r = req(&names);
        assert_eq!(drop_invalid_names(&mut r, false), 4);
        let kept: Vec<_> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(kept, ["x-user-id", "accept"]);
        let mut r = req(&names);
        assert_eq!(drop_invalid_names(&mut r, true), 2);
        assert!(r.headers.contains_key("x_user_id") && r.headers.contains_key("x-user_id"));
        let mut r = req(&["Host", "Content-Type"]);
        assert_eq!(drop_invalid_names(&mut r, false), 0);
    }

    #[test]
    fn folding_maps_underscores_and_case() {
        assert!(same_after_folding("X_User_Id", "x-user-id"));
        assert!(same_after_folding("x-user_id", "x-user-id"));
        assert!(!same_after_folding("x-user-idx", "x-user-id"));
        assert!(!same_after_folding("x-userid", "x-user-id"));
    }
}
