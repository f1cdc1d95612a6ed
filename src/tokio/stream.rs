//! [`Stream`]: one connection, with tokio's `AsyncRead` and `AsyncWrite`, and its halves.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::ReadBuf;
use ::tokio::net::ToSocketAddrs;

use super::driver::{DriverState, Shared};
use super::wake::{Held, Side};
use super::{check_config, each_address};
use crate::async_stream::{
    connected, linger_ran_out, peek_into, read_into, read_ready, write_from, write_ready,
};
use crate::conn::{Connection, Stats};
use crate::endpoint::{ConnectionHandle, EndpointStats};
use crate::fault::FaultStats;
use crate::io_error::begin_close;
use crate::io_error::{close_progress, CloseOutcome};
use crate::io_error::{punch_established, punch_opened};
use crate::net::connection_of_mut;
use crate::net::socket::{any_port_for, punch_socket_config};
use crate::net::SocketConfig;
use crate::rendezvous::{PunchConfig, Relayed};
use crate::secure::PublicKey;

/// A Ferry connection over UDP, used like `tokio::net::TcpStream`: tokio's `AsyncRead` and
/// `AsyncWrite`, [`split`](Self::split) and [`into_split`](Self::into_split).
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
    /// [`Config`](crate::Config), linger, user timeout, faults, capture, trace), as
    /// [`crate::Stream::connect_with`].
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
    ) -> io::Result<Stream> {
        check_config(config)?;
        let config = SocketConfig {
            backlog: None,
            ..config.clone()
        };
        each_address(addr, |peer| Stream::connect_to(peer, &config, &[]))
            .await
            .map(|(stream, _)| stream)
    }

    /// Like [`connect_with`](Self::connect_with), with `data` written first: in the secure
    /// mode, to a server whose key `config` pins, up to
    /// [`MAX_EARLY_DATA`](crate::secure::MAX_EARLY_DATA) bytes of it ride encrypted in the
    /// SYN (0-RTT), as [`crate::Stream::connect_with_early_data`] says, replays included.
    /// Returns the stream once the handshake is done, and how much of `data` was taken.
    pub async fn connect_with_early_data(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
        data: &[u8],
    ) -> io::Result<(Stream, usize)> {
        check_config(config)?;
        let config = SocketConfig {
            backlog: None,
            ..config.clone()
        };
        each_address(addr, |peer| Stream::connect_to(peer, &config, data)).await
    }

    async fn connect_to(
        peer: SocketAddr,
        config: &SocketConfig,
        early_data: &[u8],
    ) -> io::Result<(Stream, usize)> {
        let shared = Shared::start_with_descriptor(any_port_for(peer), Some(peer), config).await?;
        let (stream, taken) = {
            let mut state = shared.lock();
            let opened = if early_data.is_empty() {
                state.endpoint.connect(peer).map(|handle| (handle, 0))
            } else {
                state.endpoint.connect_with_early_data(peer, early_data)
            };
            let (handle, taken) = match opened {
                Ok(opened) => opened,
                Err(error) => {
                    state.users -= 1;
                    drop(state);
                    shared.wake_driver();
                    return Err(error.into());
                }
            };
            let stream = Stream::new(Arc::clone(&shared), &mut state, handle, peer);
            shared.finish(state);
            (stream, taken)
        };
        poll_fn(|cx| {
            stream
                .inner
                .poll_connection(cx, Side::Writer, |connection| connected(connection))
        })
        .await?;
        Ok((stream, taken))
    }

    /// Meet the peer named `peer` through the rendezvous server at `rendezvous`, registered
    /// there as `name`, and open a connection to it, directly through both NATs or through
    /// the server's relay, as [`crate::Stream::punch`] does (the same stages, times and
    /// errors; docs/protocol.md section 9). A punch dropped before it completes unregisters
    /// and leaves nothing behind.
    pub async fn punch(
        rendezvous: impl ToSocketAddrs,
        name: &str,
        peer: &str,
    ) -> io::Result<Stream> {
        let server = ::tokio::net::lookup_host(rendezvous)
            .await?
            .next()
            .ok_or_else(crate::net::resolved_to_nothing)?;
        Stream::punch_with(
            &PunchConfig::new(server, name, peer),
            &SocketConfig::default(),
        )
        .await
    }

    /// [`punch`](Self::punch) with these settings, as [`crate::Stream::punch_with`].
    pub async fn punch_with(punch: &PunchConfig, config: &SocketConfig) -> io::Result<Stream> {
        check_config(config)?;
        let config = punch_socket_config(punch, config)?;
        // Unconnected: the socket talks to the server, then to the peer.
        let shared =
            Shared::start_with_descriptor(any_port_for(punch.server), None, &config).await?;
        let unclaimed = Unclaimed(Some(Arc::clone(&shared)));
        {
            let mut state = shared.lock();
            let now = shared.now();
            let started = state.endpoint.punch(now, punch.without_birthday());
            shared.finish(state);
            started?;
        }
        // Meet: until the peer's endpoint is known (the connection to it opens by itself)
        // or the punch fails. A datagram from the server wakes us as it would an accept; the
        // client's timers, which wake nobody, by a sleep until the next (run here if the
        // driver has not run them yet).
        let mut sleep = pin!(::tokio::time::sleep(Duration::ZERO));
        let (handle, peer) = poll_fn(|cx| loop {
            let mut state = shared.lock();
            let now = shared.now();
            if state.endpoint.poll_timeout().is_some_and(|at| at <= now) {
                state.endpoint.handle_timeout(now);
            }
            let outcome = match state.check_socket() {
                Err(error) => Some(Err(error)),
                Ok(()) => punch_opened(&state.endpoint),
            };
            if let Some(outcome) = outcome {
                shared.finish(state);
                return Poll::Ready(outcome);
            }
            state.tasks.wait_to_accept(cx.waker());
            let next = state.endpoint.poll_timeout();
            shared.finish(state);
            let Some(next) = next else {
                return Poll::Pending;
            };
            let at = ::tokio::time::Instant::from_std(shared.os_instant(next));
            sleep.as_mut().reset(at);
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await?;
        let stream = {
            let mut state = shared.lock();
            let stream = Stream::new(Arc::clone(&shared), &mut state, handle, peer);
            // Relayed datagrams come from the server: they concern this stream too.
            state.tasks.hear_for(handle, punch.server);
            shared.finish(state);
            stream
        };
        unclaimed.claimed();
        poll_fn(|cx| {
            let mut state = shared.lock();
            let outcome = match state.check_socket() {
                Err(error) => Some(Err(error)),
                Ok(()) => punch_established(&state.endpoint, handle),
            };
            match outcome {
                Some(outcome) => {
                    shared.finish(state);
                    Poll::Ready(outcome)
                }
                None => {
                    state.tasks.wait_on(handle, Side::Writer, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(stream)
    }

    /// Whether this stream's datagrams go through a rendezvous server's relay: a stream from
    /// [`punch`](Self::punch) that found no direct path to its peer.
    pub fn is_relayed(&self) -> bool {
        self.relayed().is_some()
    }

    /// Through which rendezvous server this stream's datagrams go, and what blocked the
    /// direct path, if they go through a relay.
    pub fn relayed(&self) -> Option<Relayed> {
        self.inner.shared.lock().endpoint.relayed(self.inner.handle)
    }

    /// A stream holding `handle`, a connection of `shared`'s endpoint to `peer`; `state` is
    /// `shared`'s, locked. The caller has counted the stream among the driver's users.
    pub(crate) fn new(
        shared: Arc<Shared>,
        state: &mut DriverState,
        handle: ConnectionHandle,
        peer: SocketAddr,
    ) -> Stream {
        let linger = state.default_linger;
        state.tasks.hold(handle, peer, linger);
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

    /// In the secure mode, the key the server proved in the handshake (on a client's
    /// stream): for a known-hosts check when no key was pinned (trust on first use).
    pub fn peer_key(&self) -> Option<PublicKey> {
        self.inner
            .shared
            .lock()
            .endpoint
            .peer_key(self.inner.handle)
    }

    /// What this stream's socket's endpoint counted itself, as
    /// [`crate::Stream::endpoint_stats`]: datagrams from strays, resets, SYN cookies, and in
    /// the secure mode those dropped as unauthenticated and the 0-RTT data taken or refused.
    /// A listener's streams share its socket, so they share these counts.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.inner.shared.lock().endpoint.stats()
    }

    /// What the fault injector did to this stream's socket: to the datagrams it sent, and to
    /// those it received. `None` when the socket runs without faults
    /// ([`SocketConfig::faults`]). (A listener's streams share its socket, so they share
    /// these counts.)
    pub fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.inner.shared.lock().fault_stats()
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

    /// `TCP_NODELAY`, as [`crate::Stream::set_nodelay`]: `true` turns the Nagle algorithm
    /// off; `false` (the default, as tokio's `TcpStream`) lets small writes coalesce while an
    /// earlier short segment is unacknowledged (RFC 9293 section 3.7.4).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut state = self.inner.shared.lock();
        self.inner.connection_mut(&mut state)?.set_nodelay(nodelay);
        self.inner.shared.finish(state);
        Ok(())
    }

    /// Whether the Nagle algorithm is off; see [`set_nodelay`](Self::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        let mut state = self.inner.shared.lock();
        Ok(self.inner.connection_mut(&mut state)?.config().nodelay)
    }

    /// Set the time-to-live (IPv4 TTL; the unicast hop limit on IPv6) of the UDP datagrams
    /// that carry this stream, as `tokio::net::TcpStream::set_ttl` does for its segments. A
    /// stream accepted by a [`Listener`](super::Listener) shares the listener's socket, so
    /// this sets it for the listener and all its streams.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.shared.set_ttl(ttl)
    }

    /// The time-to-live of the datagrams that carry this stream; see
    /// [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.shared.ttl()
    }

    /// Wait until a read would not wait: data, the end of the stream or an error is there to
    /// read, as `tokio::net::TcpStream::readable`. Then [`try_read`](Self::try_read).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// [`readable`](Self::readable) as a poll: `Ready` once a read would not wait, else the
    /// task is woken when one would.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner
            .poll_connection(cx, Side::Reader, |connection| read_ready(connection))
    }

    /// Wait until a write would not wait: the send buffer has room, or the write would fail,
    /// as `tokio::net::TcpStream::writable`. Then [`try_write`](Self::try_write).
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// [`writable`](Self::writable) as a poll.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_connection(cx, Side::Writer, write_ready)
    }

    /// Read what is there without waiting, as `tokio::net::TcpStream::try_read`: the count
    /// (`Ok(0)` at the end of the stream, or for an empty `buf`), `WouldBlock` if nothing
    /// has arrived, or the connection's error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .try_connection(|connection| connection.read(buf).map_err(io::Error::from))
    }

    /// Write what the send buffer takes without waiting, as
    /// `tokio::net::TcpStream::try_write`: the count, `WouldBlock` if the buffer is full, or
    /// the error (`BrokenPipe` after a shutdown).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .try_connection(|connection| connection.write(buf).map_err(io::Error::from))
    }

    /// Receive data without taking it, waiting for some: the next read (or peek) returns the
    /// same bytes, as `tokio::net::TcpStream::peek`. `Ok(0)` at the end of the stream. The
    /// bytes stay in the receive buffer, so the window the peer sees does not open for them.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        poll_fn(|cx| self.poll_peek(cx, &mut buf)).await
    }

    /// [`peek`](Self::peek) as a poll, filling `buf`: the count peeked.
    pub fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(0));
        }
        let before = buf.filled().len();
        self.inner
            .poll_connection(cx, Side::Reader, |connection| peek_into(connection, buf))
            .map_ok(|()| buf.filled().len() - before)
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

    /// Close the connection and wait for the outcome, as [`crate::Stream::close`]: a FIN
    /// after the data written, then `Ok` once the peer has acknowledged both; `TimedOut` if
    /// that takes longer than the [linger](Self::set_linger), and the connection is reset;
    /// the connection's error (`ConnectionReset`, `TimedOut`, ...) if it failed.
    /// With received data left unread the connection is reset instead (RFC 9293 section
    /// 3.6.1, RFC 2525), which is `ConnectionAborted` if some of our data was not yet
    /// acknowledged; so is a linger of zero. A linger of `None` does not wait.
    pub async fn close(self) -> io::Result<()> {
        let inner = &self.inner;
        let outcome = {
            let mut state = inner.shared.lock();
            let linger = state
                .tasks
                .held
                .get(&inner.handle)
                .map_or(state.default_linger, |held| held.linger);
            // The endpoint resets for data left unread; otherwise a FIN follows the data.
            let outcome = begin_close(&mut state.endpoint, inner.handle, linger);
            inner.shared.finish(state);
            outcome?
        };
        match outcome {
            CloseOutcome::Now(result) => result,
            CloseOutcome::WaitForFinAck(linger) => {
                let acknowledged = poll_fn(|cx| self.inner.poll_fin_acknowledged(cx));
                match ::tokio::time::timeout(linger, acknowledged).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.reset_after_linger();
                        Err(linger_ran_out(linger))
                    }
                }
            }
        }
        // Dropping `self` lets the connection go; the driver finishes what is left.
    }

    /// The linger ran out in [`close`](Self::close): reset, as the driver would.
    fn reset_after_linger(&self) {
        let mut state = self.inner.shared.lock();
        if let Some(connection) = state.endpoint.connection_mut(self.inner.handle) {
            connection.abort();
        }
        self.inner.shared.finish(state);
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
        change(
            state
                .tasks
                .held
                .get_mut(&self.handle)
                .unwrap_or(&mut exiting),
        )
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
                state.tasks.wait_on(self.handle, side, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Run `attempt` on the connection under the lock, without waiting, then send what the
    /// connection now has to send.
    fn try_connection<T>(
        &self,
        attempt: impl FnOnce(&mut Connection) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = self.shared.lock();
        state.check_socket()?;
        let result = attempt(self.connection_mut(&mut state)?);
        self.shared.finish(state);
        result
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.poll_connection(cx, Side::Reader, |connection| read_into(connection, buf))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_connection(cx, Side::Writer, |connection| write_from(connection, buf))
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

    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr()
    }
}

crate::async_stream::stream_halves!(Stream, Arc);

/// A punch's socket before a stream holds it: if the punch is dropped (or fails) first, the
/// punch stops (the client unregisters) and the driver, with no user left, ends.
struct Unclaimed(Option<Arc<Shared>>);

impl Unclaimed {
    /// A stream holds the socket now.
    fn claimed(mut self) {
        self.0 = None;
    }
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let mut state = shared.lock();
            let now = shared.now();
            state.endpoint.stop_punch(now);
            state.users -= 1;
            shared.finish(state);
            shared.wake_driver();
        }
    }
}
