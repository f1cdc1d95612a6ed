//! [`Listener`]: accepts connections on one UDP socket, like `std::net::TcpListener`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::driver::Shared;
use super::wake::WaitFor;
use super::{connection_of, each_address, socket_failed, SocketConfig, Stream};
use crate::endpoint::EndpointStats;

/// How many connections may wait to be accepted unless told otherwise (Linux's `somaxconn`
/// was 128 for years).
const DEFAULT_BACKLOG: usize = 128;

/// Accepts Ferry connections on one UDP port. Every accepted [`Stream`] shares the listener's
/// endpoint, and gets a UDP socket of its own on the port, connected to its peer, while the
/// process has descriptors to spare.
/// The crate docs' [table](crate::net#stdnet-and-ferry) pairs each `TcpListener` method with
/// this type's.
pub struct Listener {
    listening: Arc<Listening>,
}

/// What the clones of one listener share; the last one dropped stops listening.
struct Listening {
    shared: Arc<Shared>,
    /// `accept` returns `WouldBlock` instead of waiting.
    nonblocking: AtomicBool,
    /// `take_error` already reported the socket's failure.
    error_taken: AtomicBool,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.listening.shared.local_addr())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Listen on `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)). If
    /// `addr` resolves to several addresses, each is tried in turn until one binds, as
    /// `TcpListener::bind` does.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Listener::bind_with(addr, &SocketConfig::default())
    }

    /// Listen with these settings (faults and backlog included).
    pub fn bind_with(addr: impl ToSocketAddrs, config: &SocketConfig) -> io::Result<Listener> {
        let config = SocketConfig {
            backlog: Some(config.backlog.unwrap_or(DEFAULT_BACKLOG)),
            ..config.clone()
        };
        let shared = each_address(addr, |local| Shared::start(local, None, &config))?;
        Ok(Listener {
            listening: Arc::new(Listening {
                shared,
                nonblocking: AtomicBool::new(false),
                error_taken: AtomicBool::new(false),
            }),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.listening.shared.local_addr())
    }

    /// What the listener's endpoint counted: SYNs dropped because the accept queue (the
    /// backlog, [`SocketConfig::backlog`]) was full, SYNs answered with a SYN cookie because
    /// the half-open table was full and the connections those cookies opened, RSTs sent to
    /// strays and those the rate limit held back, corrupt and malformed datagrams.
    pub fn stats(&self) -> EndpointStats {
        self.listening.shared.lock().endpoint.stats()
    }

    /// Another handle to the same listener, as `TcpListener::try_clone`: both accept from
    /// the same queue, and they share the nonblocking mode. Listening stops when the last
    /// handle is dropped.
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(Listener {
            listening: Arc::clone(&self.listening),
        })
    }

    /// Wait for the next connection whose handshake completed; in nonblocking mode, fail
    /// with `WouldBlock` at once if there is none. Accepted streams start in blocking mode,
    /// as they do on Linux.
    pub fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let shared = &self.listening.shared;
        let mut state = shared.lock();
        loop {
            if let Some(kind) = state.socket_error {
                return Err(socket_failed(kind));
            }
            if let Some(handle) = state.endpoint.accept() {
                let peer = connection_of(&state.endpoint, handle)?.remote();
                state.users += 1;
                let stream = Stream::new(Arc::clone(shared), &mut state, handle, peer);
                // The accept queue is one shorter: the readiness handle may stop showing it.
                state.update_readiness();
                drop(state);
                return Ok((stream, peer));
            }
            if self.listening.nonblocking.load(Ordering::Relaxed) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the listener is nonblocking and no connection waits",
                ));
            }
            state = shared.wait(state, WaitFor::Accept, None).0;
        }
    }

    /// A descriptor for a poll loop to wait on, as on a nonblocking `TcpListener`'s socket:
    /// readable (`POLLIN`) exactly while [`accept`](Self::accept) would not give
    /// `WouldBlock` (a connection waits, or the socket failed); never writable. Made on the
    /// first call; later calls and clones get the same one. See
    /// [`ReadinessHandle`](super::ReadinessHandle).
    pub fn readiness_handle(&self) -> io::Result<super::ReadinessHandle> {
        let mut state = self.listening.shared.lock();
        let handle = state.ready.for_accept()?;
        state.update_readiness();
        Ok(handle)
    }

    /// An endless iterator of accepted connections, as `TcpListener::incoming`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// In nonblocking mode, [`accept`](Self::accept) returns `WouldBlock` at once when no
    /// connection waits, as std's does. Shared by clones.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.listening
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// Set the time-to-live (IPv4 TTL; the unicast hop limit on IPv6) of the datagrams the
    /// listener's socket sends, for every stream it accepted too: they share the setting.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.listening.shared.set_ttl(ttl)
    }

    /// The time-to-live of the datagrams the listener's socket sends.
    pub fn ttl(&self) -> io::Result<u32> {
        self.listening.shared.ttl()
    }

    /// The error that failed the listener's socket, once: a later call gives `Ok(None)`, as
    /// `SO_ERROR` is cleared by reading it. A connection's failure is its stream's, not the
    /// listener's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let Some(kind) = self.listening.shared.lock().socket_error else {
            return Ok(None);
        };
        let taken_before = self.listening.error_taken.swap(true, Ordering::Relaxed);
        Ok((!taken_before).then(|| socket_failed(kind)))
    }
}

impl Drop for Listening {
    /// Stop listening: connections not yet accepted are reset; accepted ones live on.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.endpoint.stop_listening();
        state.users -= 1;
        self.shared.after_application_call(&mut state, None);
        self.shared.wake_driver();
    }
}
/// The iterator [`Listener::incoming`] returns.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a Listener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<Stream>;

    fn next(&mut self) -> Option<io::Result<Stream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}
