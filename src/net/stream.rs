//! [`Stream`]: one connection, with the blocking `Read` and `Write` of a `TcpStream`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::close;
use super::driver::{os_now, DriverState, Locked, Shared};
use super::socket;
use super::wake::WaitFor;
use super::{connection_of, connection_of_mut, each_address, socket_failed, SocketConfig};
use crate::conn::{Connection, Stats};
use crate::endpoint::{ConnectionHandle, EndpointStats};
use crate::fault::FaultStats;
use crate::io_error::{punch_established, punch_opened, unless_would_block};
use crate::rendezvous::{PunchConfig, Relayed};
use crate::secure::PublicKey;

/// A Ferry connection over UDP, used like `std::net::TcpStream`.
///
/// Every method takes `&self`, and `Read` and `Write` are implemented for `&Stream` too, so
/// one stream can be shared between threads (in an `Arc`, say) as a `TcpStream` can. The
/// crate docs' [table](crate::net#stdnet-and-ferry) pairs each `TcpStream` method with this
/// type's.
pub struct Stream {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    /// Shared by the clones of one stream: the last one dropped closes the connection.
    owner: Arc<Owner>,
    peer: SocketAddr,
}

/// What the clones of one stream share, kept behind the driver's lock: what a kernel keeps on
/// a socket, which every descriptor `dup`ed from it (a `TcpStream::try_clone`) shares.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
    /// `shutdown(Read)` was called: reads return end of stream.
    read_shut: bool,
    /// `take_error` already reported the failure.
    error_taken: bool,
    /// A socket of its own was asked for this connection (`peer_sockets.rs`): once.
    pub(crate) own_socket_asked: bool,
}

impl StreamState {
    /// Whether `shutdown(Read)` was called: reads return end of stream at once.
    pub(crate) fn read_shut(&self) -> bool {
        self.read_shut
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("local", &self.shared.local_addr())
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Open a connection to `addr`, waiting for the handshake as long as the SYN retries last
    /// (about two minutes with the defaults) or until the peer refuses. If `addr` resolves to
    /// several addresses, each is tried in turn, as `TcpStream::connect` does: the first
    /// connection made is returned, or the last address's error.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Stream> {
        Stream::connect_with(addr, &SocketConfig::default(), None)
    }

    /// Like [`connect`](Self::connect) to one address, but fail with `TimedOut` after
    /// `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<Stream> {
        Stream::connect_with(addr, &SocketConfig::default(), Some(timeout))
    }

    /// Open a connection with these settings (faults included), trying each address `addr`
    /// resolves to in turn, each within `timeout` if given.
    pub fn connect_with(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
        timeout: Option<Duration>,
    ) -> io::Result<Stream> {
        each_address(addr, |peer| Stream::connect_to(peer, config, timeout, &[]))
            .map(|(stream, _)| stream)
    }

    /// Open a connection as [`connect_with`](Self::connect_with) does, with `data` written
    /// first. In the secure mode, to a server whose key `config` pins
    /// ([`SecureConfig::server_key`](crate::secure::SecureConfig::server_key), or a key from
    /// a known-hosts file), the first [`MAX_EARLY_DATA`](crate::secure::MAX_EARLY_DATA)
    /// bytes ride encrypted in the SYN (0-RTT, docs/protocol.md section 10.7): the server's
    /// application can read them one one-way delay after the connect began, and answer
    /// before the handshake is over. A server that refuses 0-RTT, or one met without a
    /// pinned key, gets them after the handshake, as any write. Returns the stream once the
    /// handshake is done, and how much of `data` was taken (all of it up to the send
    /// buffer's size; write the rest).
    ///
    /// Data in a SYN can be replayed by whoever records the SYN, to a server that takes
    /// 0-RTT: send this way only what is safe to act on twice (an idempotent request).
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use ferry::secure::{PublicKey, SecureConfig};
    /// use ferry::{SocketConfig, Stream};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server_key: PublicKey = "<the 64 hexadecimal digits the server printed>".parse()?;
    /// let config = SocketConfig {
    ///     secure: Some(SecureConfig::client(Some(server_key))),
    ///     ..SocketConfig::default()
    /// };
    /// let request = b"GET /index.html\n";
    /// let (mut stream, _) =
    ///     Stream::connect_with_early_data("192.0.2.7:4747", &config, None, request)?;
    /// let mut response = Vec::new();
    /// stream.read_to_end(&mut response)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_with_early_data(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
        timeout: Option<Duration>,
        data: &[u8],
    ) -> io::Result<(Stream, usize)> {
        each_address(addr, |peer| Stream::connect_to(peer, config, timeout, data))
    }

    fn connect_to(
        peer: SocketAddr,
        config: &SocketConfig,
        timeout: Option<Duration>,
        early_data: &[u8],
    ) -> io::Result<(Stream, usize)> {
        let config = SocketConfig {
            backlog: None,
            ..config.clone()
        };
        let shared = Shared::start(socket::any_port_for(peer), Some(peer), &config)?;
        let deadline = timeout.map(|timeout| os_now() + timeout);
        let mut state = shared.lock();
        let (handle, taken) = if early_data.is_empty() {
            (state.endpoint.connect(peer)?, 0)
        } else {
            state.endpoint.connect_with_early_data(peer, early_data)?
        };
        let stream = Stream::new(Arc::clone(&shared), &mut state, handle, peer);
        shared.after_application_call(&mut state, Some(handle));
        // The lock goes with the wait, before a failed stream's drop needs it.
        stream.wait_for_handshake(state, deadline)?;
        Ok((stream, taken))
    }

    /// Meet the peer named `peer` through the rendezvous server at `rendezvous`, registered
    /// there as `name`, and open a connection to it: directly, through both peers' NATs, by
    /// a simultaneous open from the socket the registration went out of; or, where no direct
    /// path works, through the server's relay ([`is_relayed`](Self::is_relayed) says which).
    /// docs/protocol.md section 9 has the protocol.
    ///
    /// Every stage ends within a stated time, with an error that names what blocked it:
    /// `TimedOut` if the server does not answer (5 s) or no path works (3 s direct, then
    /// 10 s relayed), `NotFound` if the peer does not come (30 s), `AddrInUse` if another
    /// peer holds the name, `InvalidInput` for a name that is not 1 to 64 characters of
    /// printable ASCII. [`punch_with`](Self::punch_with) changes the timings.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// // On one machine, behind its NAT (the peer runs the same with the names swapped):
    /// let mut stream = ferry::Stream::punch("rendezvous.example:7000", "alice", "bob")?;
    /// stream.write_all(b"hello, bob")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn punch(rendezvous: impl ToSocketAddrs, name: &str, peer: &str) -> io::Result<Stream> {
        let server = rendezvous
            .to_socket_addrs()?
            .next()
            .ok_or_else(super::resolved_to_nothing)?;
        Stream::punch_with(
            &PunchConfig::new(server, name, peer),
            &SocketConfig::default(),
        )
    }

    /// [`punch`](Self::punch) with these settings: the rendezvous timings and the relay
    /// ([`PunchConfig`]), and the socket's (its connection's settings are those of a punched
    /// connection: SYNs every 250 ms doubling, keepalives at most 15 s apart,
    /// [`crate::rendezvous::punched_connection_config`]).
    pub fn punch_with(punch: &PunchConfig, config: &SocketConfig) -> io::Result<Stream> {
        let config = socket::punch_socket_config(punch, config)?;
        // Unconnected: the socket talks to the server, then to the peer.
        let shared = Shared::start(socket::any_port_for(punch.server), None, &config)?;
        let mut state = shared.lock();
        let now = shared.now();
        let started = state.endpoint.punch(now, punch.without_birthday());
        shared.after_application_call(&mut state, None);
        // Meet: until the peer's endpoint is known (the connection to it opens by itself)
        // or the punch fails. Datagrams from the server and the client's timers wake us.
        let opened = match started {
            Err(error) => Err(io::Error::from(error)),
            Ok(()) => loop {
                match (punch_opened(&state.endpoint), state.socket_error) {
                    (Some(outcome), _) => break outcome,
                    (None, Some(kind)) => break Err(socket_failed(kind)),
                    (None, None) => state = shared.wait(state, WaitFor::AnyConnection, None).0,
                }
            },
        };
        let (handle, peer) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                // No stream will hold the socket: let its driver end, once the client's
                // last datagram (an UNREGISTER) has gone.
                state.users -= 1;
                drop(state);
                shared.wake_driver();
                return Err(error);
            }
        };
        let stream = Stream::new(Arc::clone(&shared), &mut state, handle, peer);
        // Relayed datagrams come from the server: they concern this stream too.
        state.waiters.hold(handle, punch.server);
        let outcome = loop {
            if let Some(outcome) = punch_established(&state.endpoint, handle) {
                break outcome;
            }
            if let Some(kind) = state.socket_error {
                break Err(socket_failed(kind));
            }
            state = shared.wait(state, WaitFor::Connection(handle), None).0;
        };
        // The lock goes first: a failed stream's drop needs it.
        drop(state);
        outcome.map(|()| stream)
    }

    /// Whether this stream's datagrams go through a rendezvous server's relay: a stream from
    /// [`punch`](Self::punch) that found no direct path to its peer.
    pub fn is_relayed(&self) -> bool {
        self.relayed().is_some()
    }

    /// Through which rendezvous server this stream's datagrams go, and what blocked the
    /// direct path, if they go through a relay.
    pub fn relayed(&self) -> Option<Relayed> {
        self.shared.lock().endpoint.relayed(self.handle)
    }

    /// Wait until the handshake completes, fails, or `deadline` passes (then abort it).
    fn wait_for_handshake(
        &self,
        mut state: Locked<'_>,
        deadline: Option<std::time::Instant>,
    ) -> io::Result<()> {
        loop {
            let connection = self.connection(&state)?;
            if connection.is_connected() {
                return Ok(());
            }
            if let Some(error) = connection.error() {
                return Err(error.into());
            }
            if let Some(kind) = state.socket_error {
                return Err(socket_failed(kind));
            }
            let (guard, timed_out) =
                self.shared
                    .wait(state, WaitFor::Connection(self.handle), deadline);
            state = guard;
            if timed_out {
                self.connection_mut(&mut state)?.abort();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from {} within the connect timeout", self.peer),
                ));
            }
        }
    }

    /// A stream holding `handle`, a connection of `shared`'s endpoint to `peer`; `state` is
    /// `shared`'s, locked.
    pub(crate) fn new(
        shared: Arc<Shared>,
        state: &mut DriverState,
        handle: ConnectionHandle,
        peer: SocketAddr,
    ) -> Stream {
        state.closes.hold(handle);
        state.streams.insert(handle, StreamState::default());
        state.waiters.hold(handle, peer);
        let owner = Arc::new(Owner {
            shared: Arc::clone(&shared),
            handle,
            released: false,
        });
        Stream {
            shared,
            handle,
            owner,
            peer,
        }
    }

    fn connection<'a>(&self, state: &'a DriverState) -> io::Result<&'a Connection> {
        connection_of(&state.endpoint, self.handle)
    }

    fn connection_mut<'a>(&self, state: &'a mut DriverState) -> io::Result<&'a mut Connection> {
        connection_of_mut(&mut state.endpoint, self.handle)
    }

    /// Run `change` on what this stream's clones share.
    fn settings<T>(&self, change: impl FnOnce(&mut StreamState) -> T) -> T {
        let mut state = self.shared.lock();
        change(state.streams.entry(self.handle).or_default())
    }

    /// Another handle to the same connection, as `TcpStream::try_clone`: one thread may read
    /// while another writes. The clones share their settings (timeouts, nonblocking mode,
    /// shutdowns), as `dup`ed sockets do. The connection closes when the last handle is
    /// dropped (or [`close`](Self::close)d).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            shared: Arc::clone(&self.shared),
            handle: self.handle,
            owner: Arc::clone(&self.owner),
            peer: self.peer,
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// The local socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local_addr())
    }

    /// In the secure mode, the key the server proved in the handshake (on a client's
    /// stream): for a known-hosts check when no key was pinned (trust on first use).
    pub fn peer_key(&self) -> Option<PublicKey> {
        self.shared.lock().endpoint.peer_key(self.handle)
    }

    /// The connection's counters and RTT estimate.
    pub fn stats(&self) -> Stats {
        let state = self.shared.lock();
        self.connection(&state)
            .map(Connection::stats)
            .unwrap_or_else(|_| Stats::unused())
    }

    /// What this stream's socket's endpoint counted itself: datagrams from strays, resets,
    /// SYN cookies, and in the secure mode the datagrams dropped because they did not
    /// authenticate (`discarded_unauthenticated`). A listener's streams share its endpoint,
    /// so they share these counts.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.shared.lock().endpoint.stats()
    }

    /// What the fault injector did to this stream's socket: to the datagrams it sent, and to
    /// those it received. `None` when the socket runs without faults. (A listener's streams
    /// share its endpoint and its faults, so they share these counts.)
    pub fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.shared.lock().fault_stats()
    }

    /// How long `read` (and `peek`) waits before failing with `WouldBlock`; `None` waits
    /// forever. Shared by clones, as `SO_RCVTIMEO` is: a clone sees the change. A zero
    /// timeout is `InvalidInput`, as with std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        reject_zero(timeout)?;
        self.settings(|settings| settings.read_timeout = timeout);
        Ok(())
    }

    /// How long `write` waits for buffer space before failing with `WouldBlock`; `None` waits
    /// forever. Shared by clones, as `SO_SNDTIMEO` is.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        reject_zero(timeout)?;
        self.settings(|settings| settings.write_timeout = timeout);
        Ok(())
    }

    /// The read timeout; see [`set_read_timeout`](Self::set_read_timeout).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.settings(|settings| settings.read_timeout))
    }

    /// The write timeout; see [`set_write_timeout`](Self::set_write_timeout).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.settings(|settings| settings.write_timeout))
    }

    /// In nonblocking mode, `read`, `peek` and `write` return `WouldBlock` at once instead of
    /// waiting, as std's do. Shared by clones, as `O_NONBLOCK` is. Closing (the last drop, or
    /// [`close`](Self::close)) still waits as the [linger](Self::set_linger) says.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.settings(|settings| settings.nonblocking = nonblocking);
        Ok(())
    }

    /// A descriptor for a poll loop to wait on, as on a nonblocking `TcpStream`'s socket:
    /// readable (`POLLIN`) exactly while [`read`](Read::read) (or [`peek`](Self::peek))
    /// would not give `WouldBlock` (data, the end of the stream, or an error to report),
    /// writable (`POLLOUT`) exactly while [`write`](Write::write) would not (room in the send
    /// buffer, or an error). Level-triggered like a socket in poll(2), and each change is a
    /// new edge for epoll's edge-triggered mode (mio's `SourceFd`). Made on the first call
    /// (two descriptors: a Unix socket pair); later calls and clones get the same one. See
    /// [`ReadinessHandle`](super::ReadinessHandle).
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::fd::AsFd;
    /// # let listener = ferry::Listener::bind("127.0.0.1:0")?;
    /// # let address = listener.local_addr()?;
    /// let mut stream = ferry::Stream::connect(address)?;
    /// stream.set_nonblocking(true)?;
    /// let handle = stream.readiness_handle()?;
    /// let mut poll_fd = [nix::poll::PollFd::new(handle.as_fd(), nix::poll::PollFlags::POLLOUT)];
    /// nix::poll::poll(&mut poll_fd, 1000u16)?; // room in the send buffer: at once
    /// stream.write_all(b"hello")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readiness_handle(&self) -> io::Result<super::ReadinessHandle> {
        let mut state = self.shared.lock();
        let handle = state.ready.for_stream(self.handle)?;
        state.update_readiness();
        Ok(handle)
    }

    /// `TCP_NODELAY`: `true` turns the Nagle algorithm off, so that every write goes at once
    /// as far as the windows allow; `false` (the default, as std's, unless
    /// [`Config::nodelay`](crate::Config::nodelay) says otherwise) holds a write shorter than
    /// a segment while an earlier short segment is unacknowledged, so that small writes
    /// coalesce (RFC 9293 section 3.7.4). Turning it off sends what was held.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut state = self.shared.lock();
        self.connection_mut(&mut state)?.set_nodelay(nodelay);
        self.shared
            .after_application_call(&mut state, Some(self.handle));
        Ok(())
    }

    /// Whether the Nagle algorithm is off; see [`set_nodelay`](Self::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        let state = self.shared.lock();
        Ok(self.connection(&state)?.config().nodelay)
    }

    /// Set the time-to-live (IPv4 TTL; the unicast hop limit on IPv6) of the UDP datagrams
    /// that carry this stream. A stream accepted by a [`Listener`](super::Listener) shares the
    /// listener's socket, so this sets it for the listener and all its streams.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.shared.set_ttl(ttl)
    }

    /// The time-to-live of the datagrams that carry this stream; see
    /// [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.shared.ttl()
    }

    /// The error that failed the connection (or its socket), once: a later call gives
    /// `Ok(None)`, as `SO_ERROR` is cleared by reading it. Unlike a socket's pending error,
    /// it is not cleared by the failed read or write that reported it first, and reads and
    /// writes go on failing with it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let mut state = self.shared.lock();
        let error = match state.socket_error {
            Some(kind) => Some(socket_failed(kind)),
            None => self.connection(&state)?.error().map(io::Error::from),
        };
        let settings = state.streams.entry(self.handle).or_default();
        if error.is_none() || settings.error_taken {
            return Ok(None);
        }
        settings.error_taken = true;
        Ok(error)
    }

    /// Receive data without taking it: the next `read` (or `peek`) returns the same bytes, as
    /// `TcpStream::peek`. Blocks, honours the read timeout and nonblocking mode, and returns
    /// `Ok(0)` at end of stream, like `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.blocking(Direction::Read, |connection, settings| {
            if settings.read_shut {
                return Some(Ok(0));
            }
            unless_would_block(connection.peek(buf))
        })
    }

    /// Shut down the write side (a FIN follows the data written), the read side (further
    /// reads return end of stream, also in the clones, and a read blocked in another thread
    /// returns), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut state = self.shared.lock();
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            state.streams.entry(self.handle).or_default().read_shut = true;
        }
        let connection = self.connection_mut(&mut state)?;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            connection.shutdown();
        }
        self.shared
            .after_application_call(&mut state, Some(self.handle));
        Ok(())
    }

    /// Block until every byte written, and the FIN if the write side is shut down, has been
    /// acknowledged by the peer, or the connection fails.
    pub fn wait_until_sent(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        loop {
            let connection = self.connection(&state)?;
            if connection.is_send_complete() {
                return Ok(());
            }
            if let Some(error) = connection.error() {
                return Err(error.into());
            }
            state = self
                .shared
                .wait(state, WaitFor::Connection(self.handle), None)
                .0;
        }
    }

    /// Close the connection and report whether the peer has everything: `Ok` once it has
    /// acknowledged every byte written and the FIN. Dropping the last handle does the same,
    /// silently.
    ///
    /// - A FIN follows the data written, and `close` waits for its acknowledgment up to the
    ///   [linger](Self::set_linger) time (30 s by default): past it, `TimedOut`, and the close
    ///   goes on in the background while the process lives.
    /// - If received data waits unread, the connection is reset at once instead, as TCP does
    ///   (RFC 9293 section 3.6.1; RFC 2525): `Ok` if everything written had already been
    ///   acknowledged, else `ConnectionAborted`. With a linger of zero it is reset the same
    ///   way whatever is unread.
    /// - A connection that failed before our FIN was acknowledged gives its error:
    ///   `ConnectionReset` if the peer reset it (or its process is gone), in whatever state,
    ///   CLOSING and LAST-ACK included; `TimedOut` for the user timeout, and so on. Only the
    ///   peer's acknowledgment of every byte and the FIN makes a close `Ok`.
    ///
    /// Data arriving after the close is answered with a RST, so a peer that goes on writing
    /// learns that nobody reads. While clones of this stream remain, `close` only shuts the
    /// write side down and waits for the acknowledgment: the clones may go on reading, and
    /// the last one's drop finishes the close. When the process exits, it first waits for
    /// the closes still under way (see the [module docs](crate::net#closing-and-exiting)).
    pub fn close(self) -> io::Result<()> {
        let Stream { shared, owner, .. } = self;
        drop(shared);
        match Arc::try_unwrap(owner) {
            Ok(mut owner) => owner.release(),
            Err(owner) => close::finish_sending(&owner.shared, owner.handle),
        }
    }

    /// How long closing waits for the peer to acknowledge the data and FIN, as `SO_LINGER`:
    /// `Some(t)` waits up to `t`; `Some(Duration::ZERO)` resets the connection at once,
    /// discarding what is unsent; `None` does not wait (the close goes on in the background
    /// while the process lives, and is reset at exit if still unfinished). Shared by clones.
    /// Default [`SocketConfig::linger`].
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.shared.lock().closes.set_linger(self.handle, linger);
        Ok(())
    }

    /// The linger time; see [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared.lock().closes.linger(self.handle))
    }

    /// The user timeout (RFC 9293 section 3.8.3; Linux's `TCP_USER_TIMEOUT`): once the peer
    /// has been silent this long since we sent it something that needs an answer (data, a
    /// FIN, a window probe, a keepalive probe), the connection fails with `TimedOut`.
    /// `None` (the default, [`SocketConfig::user_timeout`]) leaves only the retransmission
    /// limit ([`Config::max_retransmissions`](crate::Config::max_retransmissions): about 9
    /// minutes with the default RTO bounds) and the keepalive limit. With keepalives on, an
    /// idle connection's dead peer is noticed within one keepalive interval plus this.
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        reject_zero(timeout)?;
        let mut state = self.shared.lock();
        state.endpoint.set_user_timeout(self.handle, timeout);
        self.shared
            .after_application_call(&mut state, Some(self.handle));
        Ok(())
    }

    /// The user timeout; see [`set_user_timeout`](Self::set_user_timeout).
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared.lock().endpoint.user_timeout(self.handle))
    }

    /// Send a keepalive probe after this long with nothing heard from the peer and nothing in
    /// flight, and again at the same interval while unanswered (RFC 9293 section 3.8.4);
    /// after [`keepalive_probes`](Self::keepalive_probes) unanswered probes the connection
    /// fails with `TimedOut`. `None` turns keepalives off: a peer that vanishes while we have
    /// nothing to send is then never noticed. Default
    /// [`Config::keepalive_interval`](crate::Config::keepalive_interval), 15 s.
    pub fn set_keepalive(&self, interval: Option<Duration>) -> io::Result<()> {
        reject_zero(interval)?;
        self.change_keepalive(|_, probes| (interval, probes))
    }

    /// The keepalive interval; see [`set_keepalive`](Self::set_keepalive).
    pub fn keepalive(&self) -> io::Result<Option<Duration>> {
        let state = self.shared.lock();
        Ok(self.connection(&state)?.config().keepalive_interval)
    }

    /// How many unanswered keepalive probes fail the connection. Default
    /// [`Config::keepalive_probes`](crate::Config::keepalive_probes), 6.
    pub fn set_keepalive_probes(&self, probes: u32) -> io::Result<()> {
        self.change_keepalive(|interval, _| (interval, probes))
    }

    /// The keepalive probe limit; see [`set_keepalive_probes`](Self::set_keepalive_probes).
    pub fn keepalive_probes(&self) -> io::Result<u32> {
        let state = self.shared.lock();
        Ok(self.connection(&state)?.config().keepalive_probes)
    }

    fn change_keepalive(
        &self,
        change: impl FnOnce(Option<Duration>, u32) -> (Option<Duration>, u32),
    ) -> io::Result<()> {
        let mut state = self.shared.lock();
        let now = self.shared.now();
        let connection = self.connection_mut(&mut state)?;
        let config = connection.config();
        let (interval, probes) = change(config.keepalive_interval, config.keepalive_probes);
        connection.set_keepalive(now, interval, probes);
        self.shared
            .after_application_call(&mut state, Some(self.handle));
        Ok(())
    }

    /// Run `attempt` until it gives a result, waiting for this connection to change between
    /// tries: for at most the timeout of `direction`, or not at all in nonblocking mode.
    fn blocking<T>(
        &self,
        direction: Direction,
        mut attempt: impl FnMut(&mut Connection, &mut StreamState) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let mut state = self.shared.lock();
        let settings = state.streams.entry(self.handle).or_default();
        let nonblocking = settings.nonblocking;
        let timeout = match direction {
            Direction::Read => settings.read_timeout,
            Direction::Write => settings.write_timeout,
        };
        let deadline = timeout.map(|timeout| os_now() + timeout);
        loop {
            if let Some(kind) = state.socket_error {
                return Err(socket_failed(kind));
            }
            let DriverState {
                endpoint, streams, ..
            } = &mut *state;
            let connection = connection_of_mut(endpoint, self.handle)?;
            let settings = streams.entry(self.handle).or_default();
            if let Some(result) = attempt(connection, settings) {
                self.shared
                    .after_application_call(&mut state, Some(self.handle));
                return result;
            }
            if nonblocking {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the stream is nonblocking and the operation would block",
                ));
            }
            let (guard, timed_out) = match direction {
                Direction::Read => self.shared.wait_to_read(state, self.handle, deadline),
                Direction::Write => {
                    self.shared
                        .wait(state, WaitFor::Connection(self.handle), deadline)
                }
            };
            state = guard;
            if timed_out {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the operation timed out",
                ));
            }
        }
    }

    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.blocking(Direction::Read, |connection, settings| {
            if settings.read_shut {
                return Some(Ok(0));
            }
            unless_would_block(connection.read(buf))
        })
    }

    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.blocking(Direction::Write, |connection, _| {
            unless_would_block(connection.write(buf))
        })
    }
}

/// Which way a blocking call moves data, for its timeout.
#[derive(Clone, Copy, Debug)]
enum Direction {
    Read,
    Write,
}

fn reject_zero(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not valid; use None to wait forever",
        ));
    }
    Ok(())
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_some(buf)
    }

    /// Data is handed to the connection by `write`; like `TcpStream`, there is nothing to
    /// flush. [`Stream::wait_until_sent`] waits for the peer's acknowledgment.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_some(buf)
    }

    /// Nothing to flush, as for [`Stream`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The connection behind a stream and its clones.
struct Owner {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    /// `close` already released the connection.
    released: bool,
}

impl Owner {
    fn release(&mut self) -> io::Result<()> {
        self.released = true;
        close::release(&self.shared, self.handle)
    }
}

impl Drop for Owner {
    /// The last handle is gone: close as [`Stream::close`] does, waiting as the linger says.
    /// Nobody is left to hear how it went.
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release();
        }
    }
}
