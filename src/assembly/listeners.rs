//! Listener entries built: TLS certificates loaded and checked (an unusable pair is an
//! error at the listen entry; one expiring within [`EXPIRY_WARNING_SECS`] a warning).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Diagnostics, ListenSpec};
use crate::tls::{self, CertPaths, ListenerTls, EXPIRY_WARNING_SECS};

/// One listening socket, ready to bind.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Live certificates, for a TLS listener.
    pub tls: Option<Arc<ListenerTls>>,
    /// HTTP/2 by ALPN (TLS) or prior-knowledge h2c (plain).
    pub http2: bool,
    /// A PROXY protocol header is expected first.
    pub proxy_protocol: bool,
}

/// Builds the listeners of server block `server`; certificate problems go to `d`, warnings
/// (rendered `FILE:LINE:COL: warning: ...`) to `warnings`. `self_signed` pairs are generated
/// when missing, except for `check_only` (`-t` writes nothing). A `proxy_protocol` listener
/// in a block without `real_ip` is a warning: no balancer is trusted with the address.
pub fn build(
    d: &mut Diagnostics,
    warnings: &mut Vec<String>,
    server: &Arc<str>,
    specs: Vec<ListenSpec>,
    base: &Path,
    check_only: bool,
    has_real_ip: bool,
) -> Vec<Listener> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        if spec.proxy_protocol && !has_real_ip {
            warnings.push(d.render_warning(
                spec.span.clone(),
                &format!(
                    "listener {}: the PROXY header is required but its address is used only \
                     from balancers in the server block's real_ip.from (none set)",
                    spec.addr
                ),
            ));
        }
        let tls = spec.tls.as_ref().and_then(|tls| {
            let mut paths: Vec<CertPaths> = Vec::new();
            for entry in &tls.certificates {
                let p = CertPaths {
                    cert: base.join(&entry.paths.cert),
                    key: base.join(&entry.paths.key),
                };
                if entry.self_signed && check_only && !p.cert.exists() && !p.key.exists() {
                    return None; // generated at the first start
                }
                match tls::ensure_self_signed(entry, &p) {
                    Ok(true) => warnings.push(d.render_warning(
                        spec.span.clone(),
                        &format!("generated a self-signed certificate {}", p.cert.display()),
                    )),
                    Ok(false) => {}
                    Err(e) => d.error(spec.span.clone(), e.to_string()),
                }
                paths.push(p);
            }
            match ListenerTls::load(server.clone(), &paths) {
                Ok(live) => Some(Arc::new(live)),
                Err((i, e)) => {
                    d.push(
                        spec.span.clone(),
                        format!("listener {}: certificate #{}: {e}", spec.addr, i + 1),
                        Some("check the files (PEM, key of this certificate, not expired)"),
                    );
                    None
                }
            }
        });
        if let Some(live) = &tls {
            for pair in live.pairs() {
                let left = pair.expires_in();
                if left < EXPIRY_WARNING_SECS {
                    warnings.push(d.render_warning(
                        spec.span.clone(),
                        &format!(
                            "listener {}: the certificate in {} expires in {}",
                            spec.addr,
                            pair.paths.cert.display(),
                            humantime::format_duration(std::time::Duration::from_secs(
                                left.max(0).unsigned_abs() / 3600 * 3600
                            ))
                        ),
                    ));
                }
            }
        }
        out.push(Listener {
            addr: spec.addr,
            tls,
            http2: spec.http2,
            proxy_protocol: spec.proxy_protocol,
        });
    }
    out
}
