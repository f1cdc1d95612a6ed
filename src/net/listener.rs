//! [`Listener`]: accepts connections on one UDP socket, like `std::net::TcpListener`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::driver::Shared;
use super::{first_address, SocketConfig, Stream};

/// How many connections may wait to be accepted unless told otherwise (Linux's `somaxconn`
/// was 128 for years).
const DEFAULT_BACKLOG: usize = 128;

/// Accepts Ferry connections on one UDP socket. Every accepted [`Stream`] shares the socket.
pub struct Listener {
    shared: Arc<Shared>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.shared.local_addr())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Listen on `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Listener::bind_with(addr, &SocketConfig::default())
    }

    /// Listen with these settings (faults and backlog included).
    pub fn bind_with(addr: impl ToSocketAddrs, config: &SocketConfig) -> io::Result<Listener> {
        let local = first_address(addr)?;
        let config = SocketConfig {
            backlog: Some(config.backlog.unwrap_or(DEFAULT_BACKLOG)),
            ..config.clone()
        };
        let shared = Shared::start(local, None, &config)?;
        Ok(Listener { shared })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local_addr())
    }

    /// Wait for the next connection whose handshake completed.
    pub fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let mut state = self.shared.lock();
        loop {
            if let Some(kind) = state.socket_error {
                return Err(io::Error::new(kind, "the listening socket failed"));
            }
            if let Some(handle) = state.endpoint.accept() {
                let peer = state
                    .endpoint
                    .connection(handle)
                    .map(|connection| connection.remote())
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotConnected, "the connection is gone")
                    })?;
                state.users += 1;
                drop(state);
                return Ok((Stream::new(Arc::clone(&self.shared), handle, peer), peer));
            }
            state = self.shared.wait(state, None).0;
        }
    }

    /// An endless iterator of accepted connections, as `TcpListener::incoming`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl Drop for Listener {
    /// Stop listening: connections not yet accepted are reset; accepted ones live on.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.endpoint.stop_listening();
        state.users -= 1;
        self.shared.after_application_call(&mut state);
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
