//! nginx-style `log_format` templates: `$variable` and `${variable}` over literal text,
//! parsed once; `combined` is nginx's own, so existing log tooling keeps working.

use std::fmt::Write;

use edgeproxy::kit::{LogEntry, RequestCtx};

/// nginx's `combined` format.
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                            $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// `combined` plus host, request time, upstream address and time, cache level, request id.
pub const COMBINED_EXT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                                $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \
                                host=$host rt=$request_time ua=\"$upstream_addr\" \
                                urt=$upstream_response_time cache=$upstream_cache_status \
                                id=$request_id";

/// The variables a template may use (for error messages).
pub const VARIABLES: &str = "$remote_addr, $remote_port, $realip_remote_addr, $scheme, $remote_user, $time_local, $time_iso8601, $request, \
                             $request_method, $request_uri, $uri, $args, $server_protocol, \
                             $status, $body_bytes_sent, $bytes_sent, $request_time, \
                             $upstream_addr, $upstream_response_time, $upstream_cache_status, \
                             $request_id, $host, $server_name, $route, $upstream_group, \
                             $consumer, $jwt_NAME, $http_NAME";

#[derive(Debug, Clone, PartialEq)]
enum Var {
    RemoteAddr,
    RemotePort,
    RealipRemoteAddr,
    Scheme,
    RemoteUser,
    TimeLocal,
    TimeIso8601,
    Request,
    Method,
    RequestUri,
    Uri,
    Args,
    Protocol,
    Status,
    BodyBytes,
    RequestTime,
    UpstreamAddr,
    UpstreamTime,
    CacheStatus,
    RequestId,
    Host,
    ServerName,
    Route,
    UpstreamGroup,
    /// Set by a plugin (`$consumer`, `$jwt_NAME`).
    Plugin(Box<str>),
    Header(http::HeaderName),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A parsed log format.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    parts: Vec<Part>,
}

impl Format {
    /// Parses `template` (`combined` and `combined_ext` name the built-in ones).
    pub fn parse(template: &str) -> Result<Format, String> {
        let template = match template {
            "combined" => COMBINED,
            "combined_ext" => COMBINED_EXT,
            t => t,
        };
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = match after.strip_prefix('{') {
                Some(b) => {
                    let end = b.find('}').ok_or("unclosed `${` in log format")?;
                    (&b[..end], &b[end + 1..])
                }
                None => {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            if name.is_empty() {
                return Err("`$` without a variable name in log format".into());
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(variable(name)?));
            rest = tail;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Format { parts })
    }

    /// One log line (without the newline) for a finished request.
    pub fn render(&self, e: &LogEntry<'_>, ctx: &RequestCtx, out: &mut String) {
        let req = e.request;
        for part in &self.parts {
            let var = match part {
                Part::Lit(l) => {
                    out.push_str(l);
                    continue;
                }
                Part::Var(v) => v,
            };
            match var {
                Var::RemoteAddr => opt(out, ctx.client_ip()),
                Var::RemotePort => opt(out, ctx.client_addr.map(|a| a.port())),
                Var::RealipRemoteAddr => opt(out, ctx.peer_addr.map(|a| a.ip())),
                Var::Scheme => out.push_str(if ctx.https { "https" } else { "http" }),
                Var::RemoteUser => out.push('-'),
                Var::TimeLocal => {
                    let _ = write!(
                        out,
                        "{}",
                        chrono::Local::now().format("%d/%b/%Y:%H:%M:%S %z")
                    );
                }
                Var::TimeIso8601 => {
                    let _ = write!(
                        out,
                        "{}",
                        chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
                    );
                }
                Var::Request => {
                    escaped(out, req.method.as_str());
                    out.push(' ');
                    escaped(out, &req.uri.to_string());
                    let _ = write!(out, " {:?}", req.version);
                }
                Var::Method => escaped(out, req.method.as_str()),
                Var::RequestUri => escaped(out, &req.uri.to_string()),
                Var::Uri => escaped(out, req.uri.path()),
                Var::Args => escaped(out, req.uri.query().unwrap_or("")),
                Var::Protocol => {
                    let _ = write!(out, "{:?}", req.version);
                }
                Var::Status => {
                    let _ = write!(out, "{}", e.status);
                }
                Var::BodyBytes => {
                    let _ = write!(out, "{}", e.body_bytes);
                }
                Var::RequestTime => secs(out, Some(e.duration)),
                Var::UpstreamAddr => opt(out, ctx.upstream_addr),
                Var::UpstreamTime => secs(out, e.upstream_time),
                Var::CacheStatus => out.push_str(ctx.cache_level.map_or("-", |l| l.as_str())),
                Var::RequestId => escaped(out, &ctx.request_id),
                Var::Host => {
                    let host = req
                        .headers
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok());
                    dash_or(out, host.or(req.uri.host()));
                }
                Var::ServerName => escaped(out, &ctx.server),
                Var::Route => dash_or(out, ctx.route.as_deref()),
                Var::UpstreamGroup => dash_or(out, ctx.upstream.as_deref()),
                Var::Plugin(name) => dash_or(out, ctx.vars.get(name)),
                Var::Header(name) => {
                    dash_or(out, req.headers.get(name).and_then(|v| v.to_str().ok()))
                }
            }
        }
    }
}

fn variable(name: &str) -> Result<Var, String> {
    if let Some(h) = name.strip_prefix("http_") {
        let h = h.replace('_', "-").to_ascii_lowercase();
        return http::HeaderName::try_from(h.as_str())
            .map(Var::Header)
            .map_err(|_| format!("`$http_{h}` is not a valid header name"));
    }
    Ok(match name {
        "remote_addr" => Var::RemoteAddr,
        "remote_port" => Var::RemotePort,
        "realip_remote_addr" => Var::RealipRemoteAddr,
        "scheme" => Var::Scheme,
        "remote_user" => Var::RemoteUser,
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso8601,
        "request" => Var::Request,
        "request_method" => Var::Method,
        "request_uri" => Var::RequestUri,
        "uri" => Var::Uri,
        "args" | "query_string" => Var::Args,
        "server_protocol" => Var::Protocol,
        "status" => Var::Status,
        "body_bytes_sent" | "bytes_sent" => Var::BodyBytes,
        "request_time" => Var::RequestTime,
        "upstream_addr" => Var::UpstreamAddr,
        "upstream_response_time" | "upstream_header_time" => Var::UpstreamTime,
        "upstream_cache_status" => Var::CacheStatus,
        "request_id" => Var::RequestId,
        "host" => Var::Host,
        "server_name" => Var::ServerName,
        "route" => Var::Route,
        "upstream_group" => Var::UpstreamGroup,
        n if edgeproxy::kit::is_plugin_variable(n) => Var::Plugin(n.into()),
        _ => {
            return Err(format!(
                "unknown variable `${name}` in log format; known: {VARIABLES}"
            ))
        }
    })
}

fn opt(out: &mut String, v: Option<impl std::fmt::Display>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push('-'),
    }
}

fn dash_or(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) if !v.is_empty() => escaped(out, v),
        _ => out.push('-'),
    }
}

fn secs(out: &mut String, d: Option<std::time::Duration>) {
    match d {
        Some(d) => {
            let _ = write!(out, "{:.3}", d.as_secs_f64());
        }
        None => out.push('-'),
    }
}

/// nginx's default escaping: `"`, `\` and bytes outside printable ASCII as `\xHH`, so a
/// client cannot forge fields or lines.
fn escaped(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => {
                let _ = write!(out, "\\x{b:02X}");
            }
            _ => out.push(b as char),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproxy::kit::RequestHeader;

    #[test]
    fn combined_renders_like_nginx_and_escapes_what_clients_send() {
        let f = Format::parse("combined").unwrap();
        let mut req = RequestHeader::build("GET", b"/p?id=1", None).unwrap();
        req.insert_header("user-agent", "curl/8 \"x\"\t").unwrap();
        let mut ctx = RequestCtx::for_test();
        ctx.client_addr = Some(([10, 0, 0, 1], 5555).into());
        let entry = LogEntry {
            request: &req,
            status: 200,
            body_bytes: 42,
            duration: std::time::Duration::from_millis(5),
            error: None,
            upstream_time: None,
        };
        let mut line = String::new();
        f.render(&entry, &ctx, &mut line);
        assert!(line.starts_with("10.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /p?id=1 HTTP/1.1\" 200 42 \"-\" \"curl/8 \\x22x\\x22\\x09\""),
            "{line}"
        );
    }

    #[test]
    fn plugin_variables_and_upstream_group() {
        let f = Format::parse("$upstream_group $consumer $jwt_sub $jwt_role").unwrap();
        let req = RequestHeader::build("GET", b"/", None).unwrap();
        let mut ctx = RequestCtx::for_test();
        ctx.upstream = Some("canary".into());
        ctx.set_consumer("alice");
        ctx.vars.set("jwt_sub", "u \"1\"");
        let entry = LogEntry {
            request: &req,
            status: 200,
            body_bytes: 0,
            duration: std::time::Duration::ZERO,
            error: None,
            upstream_time: None,
        };
        let mut line = String::new();
        f.render(&entry, &ctx, &mut line);
        assert_eq!(line, "canary alice u \\x221\\x22 -");
    }

    #[test]
    fn unknown_variables_are_config_errors() {
        let e = Format::parse("$remote_addr $nope").unwrap_err();
        assert!(e.contains("unknown variable `$nope`"), "{e}");
        assert!(Format::parse("${remote_addr}:$status").is_ok());
        assert!(Format::parse("${status").is_err());
    }

    #[test]
    fn real_ip_variables() {
        let f = Format::parse("$remote_addr:$remote_port via $realip_remote_addr $scheme").unwrap();
        let req = RequestHeader::build("GET", b"/", None).unwrap();
        let mut ctx = RequestCtx::for_test();
        ctx.peer_addr = Some(([10, 0, 0, 9], 4000).into());
        ctx.client_addr = Some(([192, 0, 2, 1], 0).into());
        let entry = LogEntry {
            request: &req,
            status: 200,
            body_bytes: 0,
            duration: std::time::Duration::ZERO,
            error: None,
            upstream_time: None,
        };
        let mut line = String::new();
        f.render(&entry, &ctx, &mut line);
        assert_eq!(line, "192.0.2.1:0 via 10.0.0.9 http");
    }
}
