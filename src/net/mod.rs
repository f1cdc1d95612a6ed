//! Ferry on real UDP sockets: [`Stream`] and [`Listener`] behave like `std::net::TcpStream`
//! and `TcpListener`.
//!
//! Each `Stream::connect` and each `Listener::bind` makes one UDP socket (socket2). A
//! listener's socket has a driver thread of its own; all the client sockets of a process share
//! one (a poller). The driver owns the socket's receive side and runs the sans-IO
//! [`Endpoint`]'s timers. All the connections a listener accepts
//! share its endpoint; one that answers requests gets a UDP socket of its own, connected to its
//! peer, on the listener's port (`peer_sockets.rs`). Application calls act on the endpoint directly, under a lock; what it
//! emits is sent once the lock is released, so no thread holds it across a system call.
//!
//! Errors are `io::Error`s of the kinds a `std::net` user expects: `ConnectionRefused` (a RST
//! or an ICMP port unreachable answered the SYN), `TimedOut` (the user timeout, a connect
//! timeout, a linger that ran out), `ConnectionReset` (the peer reset the connection, or its
//! process is gone), `BrokenPipe` (writing after a shutdown, or to a
//! peer that closed its side and then reset the connection: what std's write to a peer that
//! went away gives), `ConnectionAborted` (this side
//! reset it), `AddrInUse`, `WouldBlock` (a read or write timeout, or nonblocking mode). The
//! sans-IO errors convert the same way, for a program with its own loop: `io::Error` has a
//! `From` for [`ConnectionError`](crate::conn::ConnectionError),
//! [`ReadError`](crate::conn::ReadError), [`WriteError`](crate::conn::WriteError) and
//! [`ConnectError`](crate::endpoint::ConnectError).
//!
//! A thread blocked on one connection (a read, a write, a close) sleeps on that connection's
//! own condition variable, and `accept` on the listener's: a datagram wakes only the threads
//! of the connection it is for, so idle connections cost an active one nothing.
//!
//! # std::net and Ferry
//!
//! Every `std::net::TcpStream` and `TcpListener` method, and Ferry's. All of them take `&self`,
//! and settings kept on a socket in a kernel (timeouts, nonblocking mode, a shut read side)
//! are shared by a stream's clones, as by `dup`ed descriptors.
//!
//! | `TcpStream` | [`Stream`] |
//! |---|---|
//! | `connect(addrs)` | [`connect`](Stream::connect): each address in turn; the first connection, or the last error |
//! | `connect_timeout(&addr, t)` | [`connect_timeout`](Stream::connect_timeout); [`connect_with`](Stream::connect_with) adds a [`SocketConfig`] (faults, capture, linger, user timeout) |
//! | `peer_addr`, `local_addr` | the same |
//! | `shutdown(how)` | [`shutdown`](Stream::shutdown): `Write` sends a FIN after the data; `Read` makes reads in every clone return 0 |
//! | `try_clone` | [`try_clone`](Stream::try_clone): clones share the connection and its settings; the last one dropped closes it |
//! | `set_read_timeout`, `read_timeout`, `set_write_timeout`, `write_timeout` | the same, shared by clones; a timeout gives `WouldBlock`, a zero one is `InvalidInput` |
//! | `set_nonblocking` | [`set_nonblocking`](Stream::set_nonblocking): `read`, `peek`, `write` give `WouldBlock`; shared by clones; closing still lingers |
//! | `peek` | [`peek`](Stream::peek): the bytes wait in the stream for the next read (a close with them unread resets, as with unread data) |
//! | `set_nodelay`, `nodelay` | [`set_nodelay`](Stream::set_nodelay), [`nodelay`](Stream::nodelay): the same, Nagle on by default (RFC 9293 section 3.7.4, Minshall's form as Linux), off with `set_nodelay(true)` |
//! | `set_ttl`, `ttl` | [`set_ttl`](Stream::set_ttl), [`ttl`](Stream::ttl): the UDP socket's TTL (its hop limit on IPv6); an accepted stream shares its listener's TTL |
//! | `take_error` | [`take_error`](Stream::take_error): the connection's (or socket's) error, once; reads and writes go on failing with it |
//! | `set_linger`, `linger` (unstable in std) | [`set_linger`](Stream::set_linger), [`linger`](Stream::linger): `SO_LINGER`'s meaning, 30 s by default (see below) |
//! | `Read`, `Write` for `TcpStream` and `&TcpStream` | the same for `Stream` and `&Stream` |
//! | `AsFd`, `AsRawFd`, to poll a nonblocking stream | [`readiness_handle`](Stream::readiness_handle): a [`ReadinessHandle`] to wait on in poll(2), epoll or mio, readable exactly while `read` would not give `WouldBlock`, writable exactly while `write` would not |
//! | `From<OwnedFd>`, `into_raw_fd`, ... | none: a stream is no descriptor (its UDP socket carries datagrams, and a listener's streams share its endpoint) |
//! | `set_quickack`, `quickack` (Linux, unstable) | none: ACK timing follows RFC 5681 (one ACK per two segments, immediate when out of order) |
//! | none | [`close`](Stream::close) (reports whether the peer got everything), [`wait_until_sent`](Stream::wait_until_sent), [`set_user_timeout`](Stream::set_user_timeout), [`set_keepalive`](Stream::set_keepalive), [`set_keepalive_probes`](Stream::set_keepalive_probes), [`stats`](Stream::stats), [`fault_stats`](Stream::fault_stats), [`punch`](Stream::punch) (meet a peer behind a NAT through a rendezvous server), [`is_relayed`](Stream::is_relayed) |
//!
//! | `TcpListener` | [`Listener`] |
//! |---|---|
//! | `bind(addrs)` | [`bind`](Listener::bind): each address in turn; [`bind_with`](Listener::bind_with) adds a [`SocketConfig`] (backlog, faults, capture) |
//! | `local_addr` | the same |
//! | `accept`, `incoming` | the same; accepted streams start in blocking mode, as on Linux |
//! | `try_clone` | [`try_clone`](Listener::try_clone): clones accept from one queue and share the nonblocking mode; the last one dropped stops listening |
//! | `set_nonblocking` | [`set_nonblocking`](Listener::set_nonblocking): `accept` gives `WouldBlock` |
//! | `set_ttl`, `ttl` | [`set_ttl`](Listener::set_ttl), [`ttl`](Listener::ttl): the UDP socket's, which accepted streams share |
//! | `take_error` | [`take_error`](Listener::take_error): the socket's error, once |
//! | `into_incoming` (unstable) | none: [`incoming`](Listener::incoming) |
//! | `set_only_v6`, `only_v6` (deprecated) | none |
//! | `AsFd`, `AsRawFd`, to poll a nonblocking `accept` | [`readiness_handle`](Listener::readiness_handle): readable exactly while `accept` would not give `WouldBlock` |
//! | `From<OwnedFd>`, ... | none, as for `Stream` |
//!
//! # Closing and exiting
//!
//! Ferry's TCP lives in your process, not in a kernel, so a close must finish before the
//! process goes. Ferry sees to it:
//!
//! - **Dropping the last handle** of a [`Stream`] (or [`Stream::close`], which reports how it
//!   went) sends a FIN after the data written and **blocks until the peer has acknowledged
//!   both**, for at most the *linger* time: [`DEFAULT_LINGER`] (30 s) unless
//!   [`SocketConfig::linger`] or [`Stream::set_linger`] says otherwise, as `SO_LINGER` does.
//!   So `connect`, `write_all`, and returning from `main` delivers everything, followed by
//!   end of stream. `close` returns `Ok` once everything is acknowledged, and only then:
//!   `TimedOut` when the linger ran out; the connection's error (`ConnectionReset`,
//!   `TimedOut`, ...) if it failed first, a reset in CLOSING or LAST-ACK included (RFC 9293
//!   lets those end quietly; with our FIN unacknowledged, Ferry, like Linux, reports the
//!   reset). A linger of `Some(Duration::ZERO)` resets the connection at once; `None` does
//!   not wait.
//! - **Unread data resets.** Closing with received data unread sends a RST instead of a FIN,
//!   and data that arrives after the close is answered with a RST (RFC 9293 sections 3.6.1
//!   and 3.10.7.4, RFC 2525): the peer's writes then fail with `ConnectionReset` instead of
//!   filling a window nobody will ever read.
//! - **Exiting** (returning from `main`, or `process::exit`) runs a hook that closes the
//!   streams still open, as a kernel closes an exiting process's sockets, and waits for the
//!   closes under way: for data and FIN not yet acknowledged, until their linger runs out;
//!   once our FIN is acknowledged, until the peer has been quiet for three retransmission
//!   timeouts (at most 3 s). That is how long a peer that closes promptly needs to have its
//!   FIN acknowledged, and to repeat it if our acknowledgment was lost, even twice (the job
//!   TIME-WAIT does in a kernel). On loopback, where the timeout is its 200 ms floor, this
//!   adds about 0.6 s to the exit. Whatever cannot finish in time is reset, so the peer
//!   learns at once that nobody will answer.
//! - **TIME-WAIT** lasts 64 s ([`Config::time_wait`](crate::Config::time_wait) beyond
//!   [`Config::max_rto`](crate::Config::max_rto)), and a client that closed first keeps its
//!   UDP socket, one descriptor, for it (a listener's TIME-WAIT connections share its
//!   socket). A process keeps at most a quarter of its soft descriptor limit (8 to 4,096) of
//!   sockets open only for TIME-WAIT: past that, the oldest one's TIME-WAIT ends at once,
//!   without a segment (Linux's `tcp_max_tw_buckets`), and a `connect` that finds no
//!   descriptor left (`EMFILE`, `ENFILE`) ends the oldest one's and tries again.
//!   [`time_wait_stats`] counts them. The exit does not wait for TIME-WAIT.
//!
//! # Noticing a dead peer
//!
//! | the peer | how Ferry notices | when, with the defaults |
//! |---|---|---|
//! | resets the connection (it closed with our data unread, or its side aborted) | the RST | at once: `ConnectionReset` |
//! | its process exited or was killed (a client's or a listener's peer) | the ICMP port unreachable answering our next segment (RFC 1122 section 4.2.3.9), believed once it quotes a sequence number we could have sent | at once while sending; within the keepalive interval (15 s) when idle: `ConnectionReset` |
//! | silent (host gone, network cut) | retransmissions unanswered ([`Config::max_retransmissions`](crate::Config::max_retransmissions), 15) | about 9 minutes with data in flight: `TimedOut` |
//! | silent, and we have nothing to send | keepalive probes ([`Config::keepalive_interval`](crate::Config::keepalive_interval) 15 s, [`Config::keepalive_probes`](crate::Config::keepalive_probes) 6) | 15 s + 6 x 15 s = 105 s: `TimedOut` |
//!
//! Each socket queues the ICMP errors about what it sends (`IP_RECVERR`), connected or not,
//! and the driver reads them from the error queue with the address the datagram went to and
//! the start of the segment they quote. A port unreachable ends a connection only if it
//! quotes a sequence number that connection could have sent: from SND.UNA to SND.NXT once
//! synchronized, the ISN during the handshake (RFC 5927 section 4.1, as TCP does). So a
//! forged ICMP error must guess the sequence number as well as the ports, as a forged RST
//! must. Host and network unreachables, and the other ICMP errors, are soft (RFC 1122 section
//! 4.2.3.9, RFC 9293 section 3.9.2.2): the retransmission timers and the user timeout decide.
//!
//! To notice sooner, set a *user timeout* ([`Stream::set_user_timeout`], or
//! [`SocketConfig::user_timeout`] for every connection): once the peer has said nothing for
//! that long since we sent it something that needs an answer (data, a FIN, a probe), the
//! connection fails with `TimedOut`. With keepalives on, an idle connection's dead peer is
//! then noticed within the keepalive interval plus the user timeout;
//! [`Stream::set_keepalive`] and [`Stream::set_keepalive_probes`] tune the keepalives of one
//! stream. Blocked reads and writes wake with the error; nothing blocks forever.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//! use ferry::{Listener, Stream};
//!
//! let listener = Listener::bind("127.0.0.1:0")?;
//! let address = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> std::io::Result<String> {
//!     let (mut stream, _peer) = listener.accept()?;
//!     let mut request = String::new();
//!     stream.read_to_string(&mut request)?;
//!     stream.write_all(request.to_uppercase().as_bytes())?;
//!     Ok(request)
//! });
//!
//! let mut client = Stream::connect(address)?;
//! client.write_all(b"hello, ferry")?;
//! client.shutdown(Shutdown::Write)?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert_eq!(reply, "HELLO, FERRY");
//! assert_eq!(server.join().unwrap()?, "hello, ferry");
//! # Ok::<(), std::io::Error>(())
//! ```

pub(crate) mod close;
mod driver;
mod driver_socket;
mod fine_timer;
pub(crate) mod icmp;
pub(crate) mod inbox;
mod inline_receive;
mod listener;
mod peer_sockets;
mod poller;
pub(crate) mod ready;
mod rendezvous;
pub(crate) mod socket;
pub(crate) mod socket_link;
mod stream;
pub(crate) mod time_wait;
mod trace;
pub(crate) mod udp_io;
pub(crate) mod wake;

/// For the tokio driver's orphanage, which finishes closes at exit too.
#[cfg_attr(not(feature = "tokio"), allow(unused_imports))]
pub(crate) use close::call_at_exit;
pub use close::DEFAULT_LINGER;
pub use driver::new_identity;
/// The OS's clock and randomness, for the other socket driver (`crate::tokio`).
#[cfg_attr(not(feature = "tokio"), allow(unused_imports))]
pub(crate) use driver::{os_now, os_random_key};
pub use listener::{Incoming, Listener};
pub use ready::ReadinessHandle;
pub use rendezvous::RendezvousServer;
pub use stream::Stream;
pub use time_wait::{time_wait_stats, TimeWaitStats};
pub use trace::TraceSink;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::capture::View;
use crate::conn::{Config, Connection};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::FaultConfig;
use crate::io_error::connection_gone;
use crate::secure::SecureConfig;

/// Settings for a socket-backed endpoint: the connections' settings, how their closes and
/// dead peers are handled, and what the fault injector does to the socket's traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketConfig {
    /// Every connection's settings.
    pub connection: Config,
    /// Faults applied to every datagram the socket sends and receives (none by default),
    /// seeded from the spec's `seed` (see [`crate::link::seed`]).
    pub faults: FaultConfig,
    /// Seeds the initial sequence numbers, so that a lab run repeats; `None` (the default)
    /// draws them from the OS, unpredictable as RFC 6528 asks.
    pub isn_seed: Option<u64>,
    /// For a listener: how many connections whose handshake completed may wait to be
    /// accepted (128 when `None`); SYNs beyond that are dropped and counted in
    /// [`Listener::stats`]. The same number bounds the half-open handshakes; beyond those,
    /// SYNs are answered with SYN cookies (docs/protocol.md). Ignored by `connect`.
    pub backlog: Option<usize>,
    /// Write what this socket sends (before the faults, with why each segment was sent and
    /// what the injector did to it) and receives (after them) to this pcapng file.
    pub capture: Option<PathBuf>,
    /// How the capture frames each datagram: as UDP carrying Ferry, or as TCP.
    pub capture_view: View,
    /// In the secure mode, record each datagram as it crossed the wire, encrypted, instead of
    /// the plain segment (the default, so a student reads the data and the handshake's steps;
    /// a comment says what was encrypted and how, either way).
    pub capture_ciphertext: bool,
    /// How long closing a stream (dropping its last handle, or [`Stream::close`]) waits for
    /// the peer to acknowledge the data written and the FIN, like `SO_LINGER`: `Some(t)`
    /// waits up to `t`; `Some(Duration::ZERO)` resets the connection at once, discarding
    /// what is unsent; `None` does not wait (the close goes on in the background while the
    /// process lives). Default [`DEFAULT_LINGER`], 30 s. [`Stream::set_linger`] changes it
    /// for one stream.
    pub linger: Option<Duration>,
    /// The user timeout of every connection (RFC 9293 section 3.8.3): how long the peer may
    /// stay silent while it owes an answer before the connection fails with `TimedOut`.
    /// Default `None`: only the retransmission and keepalive limits of
    /// [`connection`](Self::connection) apply. [`Stream::set_user_timeout`] changes it for
    /// one stream.
    pub user_timeout: Option<Duration>,
    /// The secure mode (docs/protocol.md section 10; off by default): a listener needs
    /// [`SecureConfig::server`] with its identity ([`new_identity`] makes one), a client
    /// [`SecureConfig::client`] with the server's key to pin, or `None` to take any key and
    /// check [`Stream::peer_key`] itself (trust on first use). Every connection of the socket
    /// is then secure, and a plain peer is refused.
    pub secure: Option<SecureConfig>,
    /// Record every connection's trace events (`conn::TraceEvent`, what `ferry sim --trace`
    /// writes as qlog) and hand them to this sink as they happen; `None` (the default)
    /// records nothing. `ferry send/recv --trace FILE` writes them as qlog.
    pub trace: Option<TraceSink>,
}

impl Default for SocketConfig {
    fn default() -> SocketConfig {
        SocketConfig {
            connection: Config::default(),
            faults: FaultConfig::default(),
            isn_seed: None,
            backlog: None,
            capture: None,
            capture_view: View::default(),
            capture_ciphertext: false,
            linger: Some(DEFAULT_LINGER),
            user_timeout: None,
            secure: None,
            trace: None,
        }
    }
}

impl SocketConfig {
    /// The default settings with these faults.
    pub fn with_faults(faults: FaultConfig) -> SocketConfig {
        SocketConfig {
            faults,
            ..SocketConfig::default()
        }
    }
}

/// The error of a call on a socket that failed (with `kind`, the first error it gave). For
/// both drivers.
pub(crate) fn socket_failed(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "the socket failed")
}

/// `handle`'s connection, or `NotConnected` once the endpoint no longer keeps it.
pub(crate) fn connection_of(
    endpoint: &Endpoint,
    handle: ConnectionHandle,
) -> io::Result<&Connection> {
    endpoint.connection(handle).ok_or_else(connection_gone)
}

/// [`connection_of`], to change it.
pub(crate) fn connection_of_mut(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
) -> io::Result<&mut Connection> {
    endpoint.connection_mut(handle).ok_or_else(connection_gone)
}

/// Run `attempt` on each address `addr` resolves to, in turn, until one succeeds, as std's
/// `connect` and `bind` do: the first success, or the last address's error.
fn each_address<T>(
    addr: impl ToSocketAddrs,
    mut attempt: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_error = None;
    for address in addr.to_socket_addrs()? {
        match attempt(address) {
            Ok(value) => return Ok(value),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(resolved_to_nothing))
}

/// The error of a connect or bind to an address that resolved to no address at all.
pub(crate) fn resolved_to_nothing() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    )
}

/// What a send or receive error means for the driver that met it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketErrorMeaning {
    /// A full buffer (the datagram is lost, as a network would lose it; the protocol
    /// recovers) or an interrupted call.
    Nothing,
    /// An ICMP error, reported once by the next call on the socket: its datagram's
    /// destination and quoted bytes wait in the socket's error queue ([`icmp`]), where the
    /// driver reads them.
    Icmp,
    /// The socket's own failure, which every caller must hear about.
    SocketFailed,
}

/// What a send or receive error means, for both drivers.
pub(crate) fn socket_error_meaning(error: &io::Error) -> SocketErrorMeaning {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => SocketErrorMeaning::Nothing,
        _ if icmp::reports_icmp(error) => SocketErrorMeaning::Icmp,
        _ => SocketErrorMeaning::SocketFailed,
    }
}
