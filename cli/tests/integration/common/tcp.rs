//! A raw TCP peer for stream tests: a server on a free loopback port answering each read
//! of each connection with a function of it, recording what it read; killed on demand (new
//! connections refused) and on `Drop`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP server on a free port answering each connection with `answer` (its first read in,
/// the bytes to send back), until stopped.
pub struct TcpPeer {
    /// Its address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Every read of every connection, in order.
    pub seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl TcpPeer {
    /// Starts one answering each read with `answer(bytes read)`.
    pub fn start(answer: fn(&[u8]) -> Vec<u8>) -> TcpPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, seen) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (s, log) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let log = log.clone();
                std::thread::spawn(move || {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        // Logged before answering: a client that has the answer sees it.
                        log.lock().unwrap().push(buf[..n].to_vec());
                        if c.write_all(&answer(&buf[..n])).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        TcpPeer { addr, stop, seen }
    }

    /// Stops accepting and closes the listener (new connections are refused).
    pub fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
        super::wait_until("the peer's port to close", Duration::from_secs(5), || {
            TcpStream::connect(self.addr).is_err()
        })
        .unwrap();
    }
}

impl Drop for TcpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
