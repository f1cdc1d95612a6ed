//! [`Listener`]: accepts connections on one port of a simulated host, like
//! `ferry::tokio::Listener`.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{bind_first, connection_gone, Stream, ToSocketAddrs};
use crate::endpoint::EndpointStats;
use crate::sim::world::context::{self, WaitingOn};
use crate::sim::world::core::{host_gone, Core};
use crate::sim::world::host::SocketKey;
use crate::sim::world::socket::{FerrySocket, Socket};

/// How many connections may wait to be accepted, as for `ferry::tokio::Listener`.
const DEFAULT_BACKLOG: usize = 128;

/// Accepts Ferry connections on one port of a simulated host, used like
/// `ferry::tokio::Listener`. Every accepted [`Stream`] shares its socket. Dropping the
/// listener stops listening: connections not yet accepted are reset; accepted ones live on.
pub struct Listener {
    core: Rc<RefCell<Core>>,
    key: SocketKey,
    local: SocketAddr,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Listen on `addr` of the running program's host: the unspecified address (`0.0.0.0`,
    /// `::`) for all of the host's addresses of that family, or one of them; port 0 picks a
    /// free ephemeral port. `AddrInUse` if a socket has the port already. Panics outside a
    /// world's program.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        let (core, key, local) = bind_first(
            &addr,
            "ferry::sim::world::net::Listener::bind",
            |bound, mut endpoint, linger| {
                endpoint.listen(DEFAULT_BACKLOG);
                let mut socket = FerrySocket::new(endpoint, bound, None, linger);
                socket.users = 1;
                Socket::Ferry(Box::new(socket))
            },
        )?;
        Ok(Listener { core, key, local })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// What the listener's endpoint counted.
    pub fn stats(&self) -> EndpointStats {
        let mut core = self.core.borrow_mut();
        core.ferry_socket_mut(self.key)
            .map(|socket| socket.endpoint.stats())
            .unwrap_or_default()
    }

    /// Wait for the next connection whose handshake completed. Cancel-safe: a connection is
    /// taken only when the future completes.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`accept`](Self::accept) as a poll.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, SocketAddr)>> {
        let mut core = self.core.borrow_mut();
        let socket = core.ferry_socket_mut(self.key).ok_or_else(host_gone)?;
        let Some(handle) = socket.endpoint.accept() else {
            socket.wait_to_accept(cx.waker());
            drop(core);
            context::note_wait(WaitingOn::Accept(self.local));
            return Poll::Pending;
        };
        let peer = socket
            .endpoint
            .connection(handle)
            .ok_or_else(connection_gone)?
            .remote();
        socket.hold(handle, peer);
        let bound = socket.local;
        let local = core
            .source_address(self.key.host, bound, peer)
            .unwrap_or(bound);
        core.mark_dirty(self.key);
        drop(core);
        let stream = Stream::new(Rc::clone(&self.core), self.key, handle, peer, local);
        Poll::Ready(Ok((stream, peer)))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.core.borrow_mut().release_listener(self.key);
    }
}
