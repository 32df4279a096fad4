//! nginx-style `log_format` templates on the core's one variable engine
//! ([`Template`]): the request variables every template has (`$remote_addr`, `$request`,
//! `$uri`, `$host`, `$http_NAME`, `$consumer`, ...) plus the log's own ([`LogVar`]:
//! `$status`, `$request_time`, `$upstream_addr`, ...), resolved from what the log phase
//! knows. Parsed once; `combined` is nginx's own, so existing log tooling keeps working.

use edgeproxy::kit::{Extra, LogEntry, RequestCtx, Sink, Template, TemplateError};

/// nginx's `combined` format.
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                            $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// `combined` plus host, request time, upstream address and time, cache level, request id.
pub const COMBINED_EXT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                                $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \
                                host=$host rt=$request_time ua=\"$upstream_addr\" \
                                urt=$upstream_response_time cache=$upstream_cache_status \
                                id=$request_id";

/// The log's own variables, beside the request variables every template has.
#[derive(Debug, Clone, PartialEq)]
pub enum LogVar {
    /// `$remote_port`: the client's port (after `real_ip`).
    RemotePort,
    /// `$realip_remote_addr`: the TCP peer's address.
    RealipRemoteAddr,
    /// `$scheme`: `http` or `https`.
    Scheme,
    /// `$remote_user`: always missing (no basic auth), as nginx writes `-`.
    RemoteUser,
    /// `$time_local`: `07/Dec/2026:05:00:00 +0000`.
    TimeLocal,
    /// `$time_iso8601`.
    TimeIso8601,
    /// `$status`.
    Status,
    /// `$body_bytes_sent` (`$bytes_sent`).
    BodyBytes,
    /// `$request_time`: seconds with milliseconds.
    RequestTime,
    /// `$upstream_addr`.
    UpstreamAddr,
    /// `$upstream_response_time` (`$upstream_header_time`).
    UpstreamTime,
    /// `$upstream_cache_status`: the cache level that answered.
    CacheStatus,
    /// `$request_id`.
    RequestId,
    /// `$server_name`: the server block.
    ServerName,
    /// `$route`.
    Route,
    /// `$upstream_group`: the group the request went to.
    UpstreamGroup,
    /// `$grpc_status`: the `grpc-status` a gRPC call ended with (nginx has none; Envoy's
    /// `%GRPC_STATUS_NUMBER%`).
    GrpcStatus,
}

/// What the log's variables read: the finished request and its context.
pub struct LogInput<'a> {
    /// The finished request.
    pub entry: &'a LogEntry<'a>,
    /// Its context.
    pub ctx: &'a RequestCtx,
}

impl Extra for LogVar {
    type Input<'a> = LogInput<'a>;
    const NAMES: &'static str = "$remote_port, $realip_remote_addr, $scheme, $remote_user, \
                                 $time_local, $time_iso8601, $status, $body_bytes_sent, \
                                 $bytes_sent, $request_time, $upstream_addr, \
                                 $upstream_response_time, $upstream_cache_status, $request_id, \
                                 $server_name, $route, $upstream_group, $grpc_status";

    fn variable(name: &str) -> Option<Self> {
        Some(match name {
            "remote_port" => LogVar::RemotePort,
            "realip_remote_addr" => LogVar::RealipRemoteAddr,
            "scheme" => LogVar::Scheme,
            "remote_user" => LogVar::RemoteUser,
            "time_local" => LogVar::TimeLocal,
            "time_iso8601" => LogVar::TimeIso8601,
            "status" => LogVar::Status,
            "body_bytes_sent" | "bytes_sent" => LogVar::BodyBytes,
            "request_time" => LogVar::RequestTime,
            "upstream_addr" => LogVar::UpstreamAddr,
            "upstream_response_time" | "upstream_header_time" => LogVar::UpstreamTime,
            "upstream_cache_status" => LogVar::CacheStatus,
            "request_id" => LogVar::RequestId,
            "server_name" => LogVar::ServerName,
            "route" => LogVar::Route,
            "upstream_group" => LogVar::UpstreamGroup,
            "grpc_status" => LogVar::GrpcStatus,
            _ => return None,
        })
    }

    fn write<S: Sink>(&self, input: &LogInput<'_>, out: &mut S) {
        let (e, ctx) = (input.entry, input.ctx);
        match self {
            LogVar::RemotePort => {
                if let Some(a) = ctx.client_addr {
                    out.push_display(a.port());
                }
            }
            LogVar::RealipRemoteAddr => {
                if let Some(a) = ctx.peer_addr {
                    out.push_display(a.ip());
                }
            }
            LogVar::Scheme => out.push_str(if ctx.https { "https" } else { "http" }),
            LogVar::RemoteUser => {}
            LogVar::TimeLocal => {
                out.push_display(chrono::Local::now().format("%d/%b/%Y:%H:%M:%S %z"))
            }
            LogVar::TimeIso8601 => {
                out.push_display(chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z"))
            }
            LogVar::Status => out.push_display(e.status),
            LogVar::BodyBytes => out.push_display(e.body_bytes),
            LogVar::RequestTime => secs(out, Some(e.duration)),
            LogVar::UpstreamAddr => {
                if let Some(a) = &ctx.upstream_addr {
                    out.push_display(a);
                }
            }
            LogVar::UpstreamTime => secs(out, e.upstream_time),
            LogVar::CacheStatus => out.push_str(ctx.cache_level.map_or("", |l| l.as_str())),
            LogVar::RequestId => out.push_str(&ctx.request_id),
            LogVar::ServerName => out.push_str(&ctx.server),
            LogVar::Route => out.push_str(ctx.route.as_deref().unwrap_or_default()),
            LogVar::UpstreamGroup => out.push_str(ctx.upstream.as_deref().unwrap_or_default()),
            LogVar::GrpcStatus => {
                if let Some(code) = ctx.grpc_status {
                    out.push_display(code);
                }
            }
        }
    }
}

/// A parsed log format.
#[derive(Debug, Clone)]
pub struct Format {
    template: Template<LogVar>,
}

impl Format {
    /// Parses `template` (`combined` and `combined_ext` name the built-in ones).
    pub fn parse(template: &str) -> Result<Format, TemplateError> {
        let template = match template {
            "combined" => COMBINED,
            "combined_ext" => COMBINED_EXT,
            t => t,
        };
        Ok(Format {
            template: Template::parse(template)?,
        })
    }

    /// One log line (without the newline) for a finished request, appended to `out`.
    pub fn render(&self, e: &LogEntry<'_>, ctx: &RequestCtx, out: &mut String) {
        let input = LogInput { entry: e, ctx };
        self.template.render(&ctx.view(e.request), &input, out);
    }
}

/// Seconds with milliseconds (`0.005`); nothing when unknown.
fn secs<S: Sink>(out: &mut S, d: Option<std::time::Duration>) {
    if let Some(d) = d {
        out.push_display(format_args!("{:.3}", d.as_secs_f64()));
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
        let e = Format::parse("$remote_addr $nope").unwrap_err().to_string();
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
