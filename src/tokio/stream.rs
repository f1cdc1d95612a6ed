//! [`Stream`]: one connection, with tokio's `AsyncRead` and `AsyncWrite`, and its halves.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::ToSocketAddrs;

use super::driver::{DriverState, Held, Shared, Side};
use super::{check_config, each_address};
use crate::conn::{Connection, ReadError, Stats, WriteError};
use crate::endpoint::ConnectionHandle;
use crate::net::close::{close_outcome, close_progress, CloseOutcome};
use crate::net::connection_of_mut;
use crate::net::SocketConfig;

/// A Ferry connection over UDP, used like `tokio::net::TcpStream`: [`AsyncRead`] and
/// [`AsyncWrite`], [`split`](Self::split) and [`into_split`](Self::into_split).
///
/// Dropping it closes the connection as [`crate::Stream`]'s drop does, without blocking: a
/// FIN follows the data written (a RST if received data was left unread), and the driver task
/// goes on sending until the peer has everything, for at most the
/// [linger](Self::set_linger). [`close`](Self::close) waits for that and reports how it
/// went. The [module docs](super#closing) say what happens when the runtime
/// or the process ends first.
pub struct Stream {
    inner: Arc<Inner>,
}

/// The connection behind a stream or its halves; the last one dropped closes it.
struct Inner {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    peer: SocketAddr,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.release(self.handle);
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("local", &self.inner.shared.local_addr())
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Open a connection to `addr`, waiting for the handshake as long as the SYN retries last
    /// (about two minutes with the defaults) or until the peer refuses (`ConnectionRefused`).
    /// Each address `addr` resolves to is tried in turn, as `TcpStream::connect` does: the
    /// first connection made, or the last address's error. Wrap it in
    /// `tokio::time::timeout` to give up sooner: a connect dropped before it completes
    /// leaves nothing behind.
    ///
    /// Each stream connected this way has its own UDP socket and driver task.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Stream> {
        Stream::connect_with(addr, &SocketConfig::default()).await
    }

    /// Like [`connect`](Self::connect), with these settings (the connection's
    /// [`Config`](crate::Config), linger, user timeout). Faults and captures are not supported by this
    /// driver yet: a config asking for them is `InvalidInput` (use [`crate::net`]).
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
    ) -> io::Result<Stream> {
        check_config(config)?;
        let config = SocketConfig {
            backlog: None,
            ..config.clone()
        };
        each_address(addr, |peer| Stream::connect_to(peer, &config)).await
    }

    async fn connect_to(peer: SocketAddr, config: &SocketConfig) -> io::Result<Stream> {
        let unspecified = match peer.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let shared = Shared::start(SocketAddr::new(unspecified, 0), Some(peer), config)?;
        let stream = {
            let mut state = shared.lock();
            let handle = match state.endpoint.connect(peer) {
                Ok(handle) => handle,
                Err(error) => {
                    state.users -= 1;
                    drop(state);
                    shared.wake_driver();
                    return Err(error.into());
                }
            };
            let stream = Stream::new(Arc::clone(&shared), &mut state, handle, peer);
            shared.finish(state);
            stream
        };
        poll_fn(|cx| {
            stream
                .inner
                .poll_connection(cx, Side::Writer, |connection| {
                    if connection.is_connected() {
                        Some(Ok(()))
                    } else {
                        connection.error().map(|error| Err(error.into()))
                    }
                })
        })
        .await?;
        Ok(stream)
    }

    /// A stream holding `handle`, a connection of `shared`'s endpoint to `peer`; `state` is
    /// `shared`'s, locked. The caller has counted the stream among the driver's users.
    pub(crate) fn new(
        shared: Arc<Shared>,
        state: &mut DriverState,
        handle: ConnectionHandle,
        peer: SocketAddr,
    ) -> Stream {
        state.hold(handle, peer);
        Stream {
            inner: Arc::new(Inner {
                shared,
                handle,
                peer,
            }),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// The local socket's address. A stream accepted by a [`Listener`](super::Listener)
    /// shares the listener's socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.shared.local_addr())
    }

    /// The connection's counters and RTT estimate.
    pub fn stats(&self) -> Stats {
        let state = self.inner.shared.lock();
        state
            .endpoint
            .connection(self.inner.handle)
            .map(Connection::stats)
            .unwrap_or_else(Stats::unused)
    }

    /// How long a close may take to have the data and FIN acknowledged, like `SO_LINGER`
    /// ([`SocketConfig::linger`], 30 s by default): [`close`](Self::close) waits that long,
    /// and a dropped stream's close, which goes on in the driver task without blocking
    /// anyone, is reset when it runs out. `Some(Duration::ZERO)` resets the connection at
    /// once when it is closed; `None` lets a dropped stream's close run until the
    /// connection's own limits end it (but not past the runtime: see the
    /// [module docs](super#closing)).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.with_held(|held| held.linger = linger);
        Ok(())
    }

    /// The linger; see [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.with_held(|held| held.linger))
    }

    /// Accepted for code written for `TcpStream`, and stored for [`nodelay`](Self::nodelay)
    /// to report, but it changes nothing: Ferry has no Nagle algorithm and sends every write
    /// at once, as far as the windows allow.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.with_held(|held| held.nodelay = nodelay);
        Ok(())
    }

    /// What [`set_nodelay`](Self::set_nodelay) last stored (`false` at first).
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.inner.with_held(|held| held.nodelay))
    }

    /// Fail the connection with `TimedOut` once the peer has said nothing for `timeout`
    /// since we sent it something that needs an answer, as
    /// [`crate::Stream::set_user_timeout`] does. `None` (the default unless
    /// [`SocketConfig::user_timeout`] says otherwise) leaves the retransmission and
    /// keepalive limits. A zero timeout is `InvalidInput`.
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero timeout is not valid; use None to wait forever",
            ));
        }
        let mut state = self.inner.shared.lock();
        state.endpoint.set_user_timeout(self.inner.handle, timeout);
        self.inner.shared.finish(state);
        Ok(())
    }

    /// Split into a reading half and a writing half that borrow the stream, for two futures
    /// of one task (as `TcpStream::split`).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf { stream: self }, WriteHalf { stream: self })
    }

    /// Split into halves that own the connection, for two tasks (as
    /// `TcpStream::into_split`). Dropping the [`OwnedWriteHalf`] shuts the write side down
    /// (a FIN follows the data), as tokio's does; the connection closes when both halves are
    /// gone. [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let inner = self.inner;
        (
            OwnedReadHalf {
                inner: Arc::clone(&inner),
            },
            OwnedWriteHalf {
                inner,
                shutdown_on_drop: true,
            },
        )
    }

    /// Close the connection and wait for the outcome, as [`crate::Stream::close`]: a FIN
    /// after the data written, then `Ok` once the peer has acknowledged both; `TimedOut` if
    /// that takes longer than the [linger](Self::set_linger), and the connection is reset;
    /// the connection's error (`ConnectionReset`, `TimedOut`, ...) if it failed.
    /// With received data left unread the connection is reset instead (RFC 9293 section
    /// 3.6.1, RFC 2525), which is `ConnectionAborted` if some of our data was not yet
    /// acknowledged; so is a linger of zero. A linger of `None` does not wait.
    pub async fn close(self) -> io::Result<()> {
        let inner = &self.inner;
        let (linger, settled, unacknowledged, unread) = {
            let mut state = inner.shared.lock();
            let linger = state
                .held
                .get(&inner.handle)
                .map_or(state.default_linger, |held| held.linger);
            let connection = inner.connection_mut(&mut state)?;
            let before = (
                close_progress(connection),
                !connection.is_send_complete(),
                connection.readable_bytes() > 0,
            );
            if linger == Some(Duration::ZERO) {
                connection.abort();
            }
            // The endpoint resets for data left unread; otherwise a FIN follows the data.
            state.endpoint.close(inner.handle);
            inner.shared.finish(state);
            (linger, before.0, before.1, before.2)
        };
        match close_outcome(settled, linger, unacknowledged, unread) {
            CloseOutcome::Now(result) => result,
            CloseOutcome::WaitForFinAck(linger) => {
                let acknowledged = poll_fn(|cx| self.inner.poll_fin_acknowledged(cx));
                match ::tokio::time::timeout(linger, acknowledged).await {
                    Ok(result) => result,
                    Err(_) => Err(self.reset_after_linger(linger)),
                }
            }
        }
        // Dropping `self` lets the connection go; the driver finishes what is left.
    }

    /// The linger ran out in [`close`](Self::close): reset, as the driver would.
    fn reset_after_linger(&self, linger: Duration) -> io::Error {
        let mut state = self.inner.shared.lock();
        if let Some(connection) = state.endpoint.connection_mut(self.inner.handle) {
            connection.abort();
        }
        self.inner.shared.finish(state);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the peer did not acknowledge the data and FIN within the linger time \
                 ({linger:?}), so the connection was reset"
            ),
        )
    }
}

impl Inner {
    fn connection_mut<'a>(&self, state: &'a mut DriverState) -> io::Result<&'a mut Connection> {
        connection_of_mut(&mut state.endpoint, self.handle)
    }

    fn with_held<T>(&self, change: impl FnOnce(&mut Held) -> T) -> T {
        let mut state = self.shared.lock();
        let default_linger = state.default_linger;
        // Every live stream's connection is held, unless the process is exiting.
        let mut exiting = Held::new(default_linger);
        change(state.held.get_mut(&self.handle).unwrap_or(&mut exiting))
    }

    /// Run `attempt` on the connection, under the lock. If it gives a result, send what the
    /// connection now has to send; if not, leave the task's waker on `side` of the connection.
    fn poll_connection<T>(
        &self,
        cx: &mut Context<'_>,
        side: Side,
        attempt: impl FnOnce(&mut Connection) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut state = self.shared.lock();
        state.check_socket()?;
        let connection = self.connection_mut(&mut state)?;
        match attempt(connection) {
            Some(result) => {
                self.shared.finish(state);
                Poll::Ready(result)
            }
            None => {
                state.wait_on(self.handle, side, cx.waker());
                Poll::Pending
            }
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.poll_connection(cx, Side::Reader, |connection| {
            // Only as much of `buf` as there is to read is zeroed: at least one byte, for
            // `read` to tell the end of the stream, an error, or nothing yet.
            let want = buf.remaining().min(connection.readable_bytes().max(1));
            match connection.read(buf.initialize_unfilled_to(want)) {
                Ok(count) => {
                    buf.advance(count);
                    Some(Ok(()))
                }
                Err(ReadError::WouldBlock) => None,
                Err(error) => Some(Err(error.into())),
            }
        })
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_connection(cx, Side::Writer, |connection| match connection.write(buf) {
            Ok(count) => Some(Ok(count)),
            Err(WriteError::WouldBlock) => None,
            Err(error) => Some(Err(error.into())),
        })
    }

    /// Queue the FIN (once), then wait as [`poll_fin_acknowledged`](Self::poll_fin_acknowledged).
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        {
            let mut state = self.shared.lock();
            state.check_socket()?;
            self.connection_mut(&mut state)?.shutdown();
            self.shared.finish(state);
        }
        self.poll_fin_acknowledged(cx)
    }

    fn poll_fin_acknowledged(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_connection(cx, Side::Writer, |connection| close_progress(connection))
    }

    /// Queue the FIN, without waiting: the owned write half's drop.
    fn shut_write(&self) {
        let mut state = self.shared.lock();
        if let Some(connection) = state.endpoint.connection_mut(self.handle) {
            connection.shutdown();
        }
        self.shared.finish(state);
    }
}

/// `AsyncRead` for a stream or half whose reads go to the connection's [`Inner`], reached by
/// `$inner` from `$this`.
macro_rules! async_read_via {
    ($type:ty, $this:ident => $inner:expr) => {
        impl AsyncRead for $type {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this = &*self;
                $inner.poll_read(cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a stream or half whose writes go to the connection's [`Inner`]. Writes go
/// into the connection's send buffer and are sent at once, as far as the windows allow;
/// `poll_write` waits only when the buffer is full. Nothing to flush: `poll_write` handed the
/// data to the connection, as with `TcpStream`. `poll_shutdown` shuts the write side down (a
/// FIN follows the data written) and completes once the peer has **acknowledged** the data
/// and the FIN, or with the connection's error. (A `TcpStream`'s shutdown completes when the
/// FIN is queued; Ferry's tells the writer its data arrived.) Reading goes on until the peer
/// closes its side.
macro_rules! async_write_via {
    ($type:ty, $this:ident => $inner:expr) => {
        impl AsyncWrite for $type {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                $inner.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                $inner.poll_shutdown(cx)
            }
        }
    };
}

async_read_via!(Stream, this => this.inner);
async_write_via!(Stream, this => this.inner);
async_read_via!(ReadHalf<'_>, this => this.stream.inner);
async_write_via!(WriteHalf<'_>, this => this.stream.inner);
async_read_via!(OwnedReadHalf, this => this.inner);
async_write_via!(OwnedWriteHalf, this => this.inner);

/// The reading half of a [`Stream`], borrowed: [`Stream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a> {
    stream: &'a Stream,
}

/// The writing half of a [`Stream`], borrowed: [`Stream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a> {
    stream: &'a Stream,
}

/// The reading half of a [`Stream`], owned: [`Stream::into_split`].
pub struct OwnedReadHalf {
    inner: Arc<Inner>,
}

/// The writing half of a [`Stream`], owned: [`Stream::into_split`]. Dropping it shuts the
/// write side down, as tokio's does (see [`forget`](Self::forget)).
pub struct OwnedWriteHalf {
    inner: Arc<Inner>,
    shutdown_on_drop: bool,
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf")
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

/// [`OwnedReadHalf::reunite`] was given halves of two different streams; here they are back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// The stream again, if `write` is this half's other half.
    pub fn reunite(self, mut write: OwnedWriteHalf) -> Result<Stream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &write.inner) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        Ok(Stream { inner: self.inner })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.shared.local_addr())
    }
}

impl OwnedWriteHalf {
    /// The stream again, if `read` is this half's other half.
    pub fn reunite(self, read: OwnedReadHalf) -> Result<Stream, ReuniteError> {
        read.reunite(self)
    }

    /// Drop the half without shutting the write side down; the connection still closes when
    /// the read half is dropped too.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.peer)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.shared.local_addr())
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            self.inner.shut_write();
        }
    }
}
