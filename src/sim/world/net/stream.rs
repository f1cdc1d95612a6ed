//! [`Stream`]: one connection of a simulated host, with tokio's `AsyncRead` and `AsyncWrite`,
//! and its halves.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::ReadBuf;

use super::{connection_gone, resolve, ToSocketAddrs};
use crate::async_stream::{connected, linger_ran_out, read_into, write_from};
use crate::conn::{Connection, Stats};
use crate::endpoint::ConnectionHandle;
use crate::io_error::begin_close;
use crate::io_error::{close_progress, CloseOutcome};
use crate::rendezvous::Relayed;
use crate::sim::world::context::{self, WaitingOn};
use crate::sim::world::core::{host_gone, Core};
use crate::sim::world::host::SocketKey;
use crate::sim::world::socket::{FerrySocket, Held, Socket};
use crate::sim::world::time::timeout;

/// A Ferry connection of a simulated host, used like `ferry::tokio::Stream` (and
/// `tokio::net::TcpStream`): tokio's `AsyncRead` and `AsyncWrite`, [`split`](Self::split) and
/// [`into_split`](Self::into_split).
///
/// Dropping it closes the connection without waiting, as `ferry::tokio`'s drop does: a FIN
/// after the data written (a RST if received data was left unread), and the host's stack
/// goes on sending until the peer has everything, for at most the
/// [linger](Self::set_linger), then resets. [`close`](Self::close) waits and reports.
pub struct Stream {
    inner: Rc<Inner>,
}

/// The connection behind a stream or its halves; the last one dropped closes it.
struct Inner {
    core: Rc<RefCell<Core>>,
    key: SocketKey,
    handle: ConnectionHandle,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.core.borrow_mut().release_stream(self.key, self.handle);
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("local", &self.inner.local)
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Open a connection to `addr` from a new socket on an ephemeral port of the running
    /// program's host, waiting for the handshake as long as the SYN retries last (about two
    /// minutes of simulated time with the defaults), or until the peer refuses
    /// (`ConnectionRefused`: its host has no socket on that port, or it reset). Each address
    /// `addr` stands for is tried in turn. Panics outside a world's program.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Stream> {
        let mut last_error = None;
        for peer in resolve(&addr)? {
            match Stream::connect_to(peer).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(connection_gone))
    }

    async fn connect_to(peer: SocketAddr) -> io::Result<Stream> {
        let current = context::current("ferry::sim::world::net::Stream::connect");
        let (key, handle, local) = {
            let mut core = current.core.borrow_mut();
            let unspecified = match peer.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let any_port = SocketAddr::new(unspecified, 0);
            let source = core.route_from(current.host, any_port, peer)?;
            let linger = core.linger;
            let key = core.open_socket(
                current.host,
                current.incarnation,
                any_port,
                |bound, endpoint| {
                    Socket::Ferry(Box::new(FerrySocket::new(
                        endpoint,
                        bound,
                        Some(peer),
                        linger,
                    )))
                },
            )?;
            let socket = core.ferry_socket_mut(key).ok_or_else(host_gone)?;
            let handle = socket.endpoint.connect(peer)?;
            socket.hold(handle, peer);
            core.mark_dirty(key);
            (key, handle, SocketAddr::new(source.ip(), key.port))
        };
        let stream = Stream::new(Rc::clone(&current.core), key, handle, peer, local);
        poll_fn(|cx| {
            stream
                .inner
                .poll_connection(cx, WaitingOn::Connect(peer), |connection| {
                    connected(connection)
                })
        })
        .await?;
        Ok(stream)
    }

    /// A stream holding `handle`, which socket `key` already holds for it.
    pub(super) fn new(
        core: Rc<RefCell<Core>>,
        key: SocketKey,
        handle: ConnectionHandle,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Stream {
        Stream {
            inner: Rc::new(Inner {
                core,
                key,
                handle,
                peer,
                local,
            }),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// The local address: the host's address toward the peer, and the socket's port (a
    /// stream accepted by a [`Listener`](super::Listener) shares the listener's port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    /// The connection's counters and RTT estimate.
    pub fn stats(&self) -> Stats {
        let mut core = self.inner.core.borrow_mut();
        core.ferry_socket_mut(self.inner.key)
            .and_then(|socket| socket.endpoint.connection(self.inner.handle))
            .map_or_else(Stats::unused, Connection::stats)
    }

    /// Whether this stream's datagrams go through a rendezvous server's relay: a stream from
    /// [`punch`](Self::punch) that found no direct path to its peer.
    pub fn is_relayed(&self) -> bool {
        self.relayed().is_some()
    }

    /// Through which rendezvous server this stream's datagrams go, and what blocked the
    /// direct path, if they go through a relay.
    pub fn relayed(&self) -> Option<Relayed> {
        let mut core = self.inner.core.borrow_mut();
        core.ferry_socket_mut(self.inner.key)
            .and_then(|socket| socket.endpoint.relayed(self.inner.handle))
    }

    /// How long a close may take to have the data and FIN acknowledged, as
    /// `ferry::tokio::Stream::set_linger` (30 s unless the world's
    /// [`Builder::linger`](crate::sim::world::Builder::linger) says otherwise):
    /// [`close`](Self::close) waits that long, and a dropped stream's close is reset when it
    /// runs out. `Some(Duration::ZERO)` resets at once; `None` lets a dropped stream's close
    /// run until the connection's own limits end it.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.with_held(|held| held.linger = linger)
    }

    /// The linger; see [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.with_held(|held| held.linger)
    }

    /// `TCP_NODELAY`, as `ferry::tokio::Stream::set_nodelay`: `true` turns the Nagle
    /// algorithm off; `false` (the default) lets small writes coalesce while an earlier short
    /// segment is unacknowledged (RFC 9293 section 3.7.4).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let inner = &self.inner;
        let mut core = inner.core.borrow_mut();
        let socket = core.ferry_socket_mut(inner.key).ok_or_else(host_gone)?;
        socket
            .endpoint
            .connection_mut(inner.handle)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?
            .set_nodelay(nodelay);
        core.mark_dirty(inner.key);
        Ok(())
    }

    /// Whether the Nagle algorithm is off; see [`set_nodelay`](Self::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        let mut core = self.inner.core.borrow_mut();
        let socket = core
            .ferry_socket_mut(self.inner.key)
            .ok_or_else(host_gone)?;
        socket
            .endpoint
            .connection(self.inner.handle)
            .map(|connection| connection.config().nodelay)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Fail the connection with `TimedOut` once the peer has said nothing for `timeout` since
    /// we sent it something that needs an answer, as `ferry::tokio::Stream::set_user_timeout`.
    /// A zero timeout is `InvalidInput`.
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero timeout is not valid; use None to wait forever",
            ));
        }
        let inner = &self.inner;
        let mut core = inner.core.borrow_mut();
        let socket = core.ferry_socket_mut(inner.key).ok_or_else(host_gone)?;
        socket.endpoint.set_user_timeout(inner.handle, timeout);
        core.mark_dirty(inner.key);
        Ok(())
    }

    /// Close the connection and wait for the outcome, as `ferry::tokio::Stream::close`: a FIN
    /// after the data written, then `Ok` once the peer has acknowledged both; `TimedOut` (and
    /// the connection reset) if that takes longer than the [linger](Self::set_linger); the
    /// connection's error if it failed. With received data left unread the connection is reset
    /// instead (RFC 9293 section 3.6.1, RFC 2525).
    pub async fn close(self) -> io::Result<()> {
        let inner = &self.inner;
        let outcome = {
            let mut core = inner.core.borrow_mut();
            let default_linger = core.linger;
            let socket = core.ferry_socket_mut(inner.key).ok_or_else(host_gone)?;
            let linger = socket
                .held(inner.handle)
                .map_or(default_linger, |held| held.linger);
            let outcome = begin_close(&mut socket.endpoint, inner.handle, linger)?;
            socket.wake_connection(inner.handle);
            core.mark_dirty(inner.key);
            outcome
        };
        match outcome {
            CloseOutcome::Now(result) => result,
            CloseOutcome::WaitForFinAck(linger) => {
                let acknowledged = poll_fn(|cx| self.inner.poll_fin_acknowledged(cx));
                match timeout(linger, acknowledged).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.inner.reset();
                        Err(linger_ran_out(linger))
                    }
                }
            }
        }
    }
}

impl Inner {
    fn with_held<T>(&self, change: impl FnOnce(&mut Held) -> T) -> io::Result<T> {
        let mut core = self.core.borrow_mut();
        let socket = core.ferry_socket_mut(self.key).ok_or_else(host_gone)?;
        let held = socket.held_mut(self.handle).ok_or_else(connection_gone)?;
        Ok(change(held))
    }

    /// Run `attempt` on the connection. If it gives a result, the world sends what the
    /// connection now has to send; if not, the task waits on the connection for `waiting`.
    fn poll_connection<T>(
        &self,
        cx: &mut Context<'_>,
        waiting: WaitingOn,
        attempt: impl FnOnce(&mut Connection) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut core = self.core.borrow_mut();
        let socket = core.ferry_socket_mut(self.key).ok_or_else(host_gone)?;
        let connection = socket
            .endpoint
            .connection_mut(self.handle)
            .ok_or_else(connection_gone)?;
        match attempt(connection) {
            Some(result) => {
                core.mark_dirty(self.key);
                Poll::Ready(result)
            }
            None => {
                socket.wait(self.handle, cx.waker());
                drop(core);
                context::note_wait(waiting);
                Poll::Pending
            }
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.poll_connection(cx, WaitingOn::Read(self.peer), |connection| {
            read_into(connection, buf)
        })
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_connection(cx, WaitingOn::Write(self.peer), |connection| {
            write_from(connection, buf)
        })
    }

    /// Queue the FIN (once), then wait as [`poll_fin_acknowledged`](Self::poll_fin_acknowledged).
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut_write();
        self.poll_fin_acknowledged(cx)
    }

    fn poll_fin_acknowledged(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_connection(cx, WaitingOn::Acknowledgment(self.peer), |connection| {
            close_progress(connection)
        })
    }

    /// Queue the FIN, without waiting (nothing, if the host crashed).
    fn shut_write(&self) {
        let mut core = self.core.borrow_mut();
        let Some(socket) = core.ferry_socket_mut(self.key) else {
            return;
        };
        if let Some(connection) = socket.endpoint.connection_mut(self.handle) {
            connection.shutdown();
        }
        core.mark_dirty(self.key);
    }

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The linger ran out in [`Stream::close`]: reset, as a dropped stream's would be.
    fn reset(&self) {
        let mut core = self.core.borrow_mut();
        if let Some(socket) = core.ferry_socket_mut(self.key) {
            if let Some(connection) = socket.endpoint.connection_mut(self.handle) {
                connection.abort();
            }
            core.mark_dirty(self.key);
        }
    }
}

crate::async_stream::stream_halves!(Stream, Rc);
