//! [`Listener`]: accepts connections on one UDP socket, like `tokio::net::TcpListener`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::net::ToSocketAddrs;

use super::driver::Shared;
use super::{check_config, each_address, Stream};
use crate::endpoint::EndpointStats;
use crate::net::connection_of;
use crate::net::SocketConfig;

/// How many connections may wait to be accepted unless told otherwise, as for
/// [`crate::Listener`].
const DEFAULT_BACKLOG: usize = 128;

/// Accepts Ferry connections on one UDP socket, used like `tokio::net::TcpListener`. Every
/// accepted [`Stream`] shares the socket and its one driver task. Dropping the listener stops
/// listening: connections not yet accepted are reset; accepted ones live on.
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
    /// Listen on `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)),
    /// trying each address it resolves to until one binds, as `TcpListener::bind` does. The
    /// driver task is spawned on the current runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Listener::bind_with(addr, &SocketConfig::default()).await
    }

    /// Listen with these settings (the backlog, the connections' [`Config`](crate::Config),
    /// linger, user timeout, faults, capture, trace), as [`crate::Listener::bind_with`].
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
    ) -> io::Result<Listener> {
        check_config(config)?;
        let config = SocketConfig {
            backlog: Some(config.backlog.unwrap_or(DEFAULT_BACKLOG)),
            ..config.clone()
        };
        let shared = each_address(addr, |local| {
            std::future::ready(Shared::start(local, None, &config))
        })
        .await?;
        Ok(Listener { shared })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local_addr())
    }

    /// Set the time-to-live (IPv4 TTL; the unicast hop limit on IPv6) of the UDP datagrams
    /// the listener's socket sends, which its accepted streams share.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.shared.set_ttl(ttl)
    }

    /// The time-to-live of the datagrams the listener's socket sends.
    pub fn ttl(&self) -> io::Result<u32> {
        self.shared.ttl()
    }

    /// What the listener's endpoint counted, as [`crate::Listener::stats`].
    pub fn stats(&self) -> EndpointStats {
        self.shared.lock().endpoint.stats()
    }

    /// Wait for the next connection whose handshake completed. Several tasks may wait at
    /// once; each connection goes to one of them. Cancel-safe: a connection is taken only
    /// when the future completes.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`accept`](Self::accept) as a poll: `Pending` (with the task woken when a connection
    /// may be ready) or the next connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, SocketAddr)>> {
        let mut state = self.shared.lock();
        state.check_socket()?;
        let Some(handle) = state.endpoint.accept() else {
            state.tasks.wait_to_accept(cx.waker());
            return Poll::Pending;
        };
        let peer = connection_of(&state.endpoint, handle)?.remote();
        state.users += 1;
        let stream = Stream::new(Arc::clone(&self.shared), &mut state, handle, peer);
        drop(state);
        Poll::Ready(Ok((stream, peer)))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.endpoint.stop_listening();
        state.users -= 1;
        self.shared.finish(state);
        self.shared.wake_driver();
    }
}
