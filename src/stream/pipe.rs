//! Bytes both ways between a client and its upstream until both sides have closed, or
//! neither sent anything for the idle timeout (nginx `proxy_timeout`); each side's end of
//! stream is passed on as a half-close. Counts the bytes.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Buffer per direction.
const BUF: usize = 16 * 1024;

/// How a piped connection went.
#[derive(Debug, Default, Clone, Copy)]
pub struct Piped {
    /// Bytes from the client to the upstream.
    pub sent: u64,
    /// Bytes from the upstream to the client.
    pub received: u64,
    /// Why it ended: `closed` (both sides), `idle`, `client error`, `upstream error`.
    pub ended: &'static str,
}

/// Copies between `client` and `upstream` (which already got `sent` bytes).
pub async fn pipe<C, U>(client: C, upstream: U, idle: Duration, sent: u64) -> Piped
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut up_buf, mut down_buf) = (vec![0u8; BUF], vec![0u8; BUF]);
    let mut p = Piped {
        sent,
        ended: "closed",
        ..Piped::default()
    };
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        tokio::select! {
            r = cr.read(&mut up_buf), if client_open => match r {
                Ok(0) => { client_open = false; let _ = uw.shutdown().await; }
                Ok(n) => {
                    if uw.write_all(&up_buf[..n]).await.is_err() { p.ended = "upstream error"; break; }
                    p.sent += n as u64;
                }
                Err(_) => { p.ended = "client error"; break; }
            },
            r = ur.read(&mut down_buf), if upstream_open => match r {
                Ok(0) => { upstream_open = false; let _ = cw.shutdown().await; }
                Ok(n) => {
                    // Pingora's client stream buffers writes: flushed at once.
                    let wrote = match cw.write_all(&down_buf[..n]).await {
                        Ok(()) => cw.flush().await,
                        Err(e) => Err(e),
                    };
                    if wrote.is_err() { p.ended = "client error"; break; }
                    p.received += n as u64;
                }
                Err(_) => { p.ended = "upstream error"; break; }
            },
            _ = tokio::time::sleep(idle) => { p.ended = "idle"; break; }
        }
    }
    p
}
