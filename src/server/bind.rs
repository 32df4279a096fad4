//! Listening sockets bound before Pingora starts its services, then handed to Pingora.
//!
//! Binding here instead of letting Pingora bind inside each service start does three
//! things: an address in use fails the start at once with its block named (nginx:
//! "Address already in use", exit 1), where Pingora would retry for 30 s and then serve
//! only some blocks; no other program can take the port between that check and the bind
//! (there is no gap); and a listen entry with port 0 gets a port from the OS, which is
//! known before the services are built and reported on the `edgeproxy running` line — how
//! tests start the binary without racing other programs for a port. The sockets listen
//! from here on, as nginx's do: a connection made before the services run waits in the
//! backlog.
//!
//! The hand-over uses Pingora's table of listening descriptors (`ListenFds`), the one a
//! graceful upgrade fills with the old process's sockets: [`PreBound`] wraps a service and,
//! when Pingora starts it (after the bootstrap received any inherited sockets), adds its
//! sockets under their address. Pingora's listener finds the address in the table and
//! adopts the socket instead of binding, exactly as for an inherited one, and hands it to
//! the next process on an upgrade.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::IntoRawFd;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ListenFds, RuntimeOpts, ShutdownWatch};
use pingora::services::Service;

use super::{RunOptions, StartError};
use crate::assembly::App;

/// Every listen entry of an app, in config order (blocks, then entries), with the address
/// it listens on and, unless the socket comes from the running process on an upgrade, the
/// socket already bound.
pub struct Bound {
    blocks: Vec<Vec<BoundListener>>,
}

/// One listen entry's socket.
struct BoundListener {
    /// Where it listens: the configured address, with the OS's port for port 0.
    addr: SocketAddr,
    /// The listening socket; `None` when Pingora takes it over from the old process.
    socket: Option<TcpListener>,
}

/// Binds the listen entries of `app` (server blocks, then stream blocks). With
/// `opts.upgrade` only those with port 0 are bound (the old process hands the others
/// over); every other entry is bound now, and one that cannot be is the error.
pub fn bind(app: &App, opts: RunOptions) -> Result<Bound, StartError> {
    let mut blocks = Vec::with_capacity(app.servers.len() + app.streams.len());
    let servers = app.servers.iter().map(|b| (&b.name, &b.listen));
    let streams = app.streams.iter().map(|b| (&b.name, &b.listen));
    for (name, listen) in servers.chain(streams) {
        let mut bound = Vec::with_capacity(listen.len());
        for addr in listen.iter().map(|l| l.addr) {
            if opts.upgrade && addr.port() != 0 {
                bound.push(BoundListener { addr, socket: None });
                continue;
            }
            let listen_error = |source| StartError::Listen {
                addr,
                server: name.to_string(),
                source,
            };
            // std sets SO_REUSEADDR (as Pingora does) and listens at once: nobody can bind
            // the port from here on; connections wait in the backlog until Pingora accepts.
            let socket = TcpListener::bind(addr).map_err(listen_error)?;
            // Pingora's tokio listener expects a non-blocking socket.
            socket.set_nonblocking(true).map_err(listen_error)?;
            let addr = socket.local_addr().map_err(listen_error)?;
            bound.push(BoundListener {
                addr,
                socket: Some(socket),
            });
        }
        blocks.push(bound);
    }
    Ok(Bound { blocks })
}

impl Bound {
    /// Every address listened on, in config order.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.blocks.iter().flatten().map(|l| l.addr)
    }

    /// The addresses of server block `index`'s listen entries, in config order.
    pub(super) fn block_addrs(&self, index: usize) -> Vec<SocketAddr> {
        self.blocks
            .get(index)
            .map(|b| b.iter().map(|l| l.addr).collect())
            .unwrap_or_default()
    }

    /// Takes server block `index`'s sockets, keyed as Pingora's listener looks them up.
    pub(super) fn take_block(&mut self, index: usize) -> Vec<(String, TcpListener)> {
        let Some(block) = self.blocks.get_mut(index) else {
            return Vec::new();
        };
        block
            .iter_mut()
            .filter_map(|l| Some((l.addr.to_string(), l.socket.take()?)))
            .collect()
    }
}

/// `127.0.0.1:8080,[::1]:8443`: the addresses, as the `edgeproxy running` line reports them.
impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, addr) in self.addrs().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{addr}")?;
        }
        Ok(())
    }
}

/// A listening service whose sockets are already bound: they go into Pingora's table of
/// listening descriptors when the service starts, where its listeners adopt them.
pub struct PreBound<S> {
    inner: S,
    sockets: Vec<(String, TcpListener)>,
}

impl<S> PreBound<S> {
    /// `inner` (whose listeners are added under the same address strings), with `sockets`.
    pub fn new(inner: S, sockets: Vec<(String, TcpListener)>) -> Self {
        PreBound { inner, sockets }
    }
}

#[async_trait]
impl<S: Service> Service for PreBound<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let Some(fds) = &fds {
            let mut table = fds.lock();
            for (addr, socket) in self.sockets.drain(..) {
                // An address already there came from the old process: that one is used
                // (ours is closed on drop).
                if table.get(&addr).is_none() {
                    table.add(addr, socket.into_raw_fd());
                }
            }
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn runtime_opts_override(&self, global: &RuntimeOpts) -> Option<RuntimeOpts> {
        self.inner.runtime_opts_override(global)
    }

    fn on_startup_delay(&self, time_waited: Duration) {
        self.inner.on_startup_delay(time_waited)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}
