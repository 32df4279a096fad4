//! One `[[streams]]` block's connections (a Pingora `ServerApp`): the connection limit,
//! the ClientHello's server name when routing or hashing by it, a member of the group
//! (skipping members already tried; connect failures count toward `max_fails` and move to
//! the next member, up to the group's `retries`), the PROXY header, then the bytes both
//! ways; an access line per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::{pipe, sni, upstream_header, StreamBlock};
use crate::config::StreamHash;
use crate::generation::World;
use crate::upstream::UpstreamGroup;

/// How long a client may take to send its whole first TLS record (nginx
/// `preread_timeout`, 30 s).
const PREREAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The handler of the `index`th `[[streams]]` block of `world`'s generations.
pub struct StreamApp {
    world: World,
    index: usize,
    /// Open connections (fixed for the process: `max_connections`).
    limit: Arc<Semaphore>,
}

impl StreamApp {
    /// The handler of block `index`.
    pub fn new(world: World, index: usize, max_connections: usize) -> Self {
        StreamApp {
            world,
            index,
            limit: Arc::new(Semaphore::new(max_connections)),
        }
    }
}

#[async_trait]
impl ServerApp for StreamApp {
    async fn process_new(self: &Arc<Self>, mut io: Stream, _: &ShutdownWatch) -> Option<Stream> {
        let gen = self.world.current();
        let block = gen.app.streams.get(self.index)?;
        let m = &block.metrics;
        let Ok(_permit) = self.limit.clone().try_acquire_owned() else {
            m.refused.inc();
            return None; // closed at once: beyond max_connections
        };
        m.open.inc();
        let started = Instant::now();
        let (client, local) = addrs(&io);
        let line = serve(block, &gen.app.upstreams, &mut io, client, local).await;
        m.open.dec();
        let took = started.elapsed().as_millis();
        info!(target: "edgeproxy::stream", stream = %block.name, client = ?client, "{line} {took}ms");
        None
    }
}

/// Serves one connection; its access line (without the duration).
async fn serve(
    block: &StreamBlock,
    groups: &crate::upstream::Upstreams,
    io: &mut Stream,
    client: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> String {
    let m = &block.metrics;
    let (first, name) = match block.prereads() {
        false => (Vec::new(), None),
        true => match tokio::time::timeout(PREREAD_TIMEOUT, read_hello(io)).await {
            Ok(Some((bytes, name))) => (bytes, name),
            _ => {
                m.preread.inc();
                return "no TLS ClientHello: closed".to_string();
            }
        },
    };
    let sni = name.as_deref().unwrap_or("-");
    let Some(group) = block.group_for(name.as_deref()).and_then(|g| groups.get(g)) else {
        m.no_upstream.inc();
        return format!("sni={sni} no route: closed");
    };
    let key = match block.spec.hash {
        StreamHash::None => None,
        StreamHash::Client => client.map(|c| c.ip().to_string()),
        StreamHash::Sni => name.clone(),
    };
    let Some((addr, mut upstream)) = connect(group, key.as_deref().map(str::as_bytes)).await else {
        m.no_upstream.inc();
        return format!("sni={sni} group={} no live upstream: closed", group.name());
    };
    let mut head = match (block.spec.proxy_protocol, client, local) {
        (Some(v), Some(c), Some(l)) => upstream_header::header(v, c, l),
        _ => Vec::new(),
    };
    head.extend_from_slice(&first);
    if !head.is_empty() && upstream.write_all(&head).await.is_err() {
        m.no_upstream.inc();
        return format!("sni={sni} upstream={addr} write failed: closed");
    }
    m.proxied.inc();
    let p = pipe::pipe(io, upstream, block.spec.idle_timeout, first.len() as u64).await;
    m.sent.inc_by(p.sent);
    m.received.inc_by(p.received);
    format!(
        "sni={sni} upstream={addr} sent={} received={} ended={}",
        p.sent, p.received, p.ended
    )
}

/// A connection to a member of `group`: failures reported (passive health) and the next
/// member tried, `retries` more at most.
async fn connect(
    group: &Arc<UpstreamGroup>,
    key: Option<&[u8]>,
) -> Option<(SocketAddr, TcpStream)> {
    let mut tried = Vec::new();
    let timeout = group.spec().timeouts.connect;
    while tried.len() <= group.spec().retries {
        let addr = group.select(key, &tried)?;
        tried.push(addr);
        let why = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Some((addr, s));
            }
            Ok(Err(e)) => format!("connect to {addr}: {e}"),
            Err(_) => format!("connect to {addr}: timed out after {timeout:?}"),
        };
        warn!(target: "edgeproxy::stream", group = group.name(), "{why}");
        group.report_failure(addr, &why);
        group.metrics().connect_failure();
    }
    None
}

/// The first TLS record and its server name (`None` without SNI); `None` when the
/// client sends something else or closes first.
async fn read_hello(io: &mut Stream) -> Option<(Vec<u8>, Option<String>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let want = sni::record_len(&buf)?;
        if buf.len() >= want {
            let name = sni::server_name(&buf[..want]);
            return Some((buf, name));
        }
        if want > sni::MAX_RECORD {
            return None;
        }
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The client's and the listener's addresses.
fn addrs(io: &Stream) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Some(d) = io.get_socket_digest() else {
        return (None, None);
    };
    let inet = |a: Option<&pingora::protocols::l4::socket::SocketAddr>| {
        a.and_then(|a| a.as_inet()).copied()
    };
    (inet(d.peer_addr()), inet(d.local_addr()))
}
