//! Ferry on real UDP sockets: [`Stream`] and [`Listener`] behave like `std::net::TcpStream`
//! and `TcpListener`.
//!
//! Each `Stream::connect` and each `Listener::bind` makes one UDP socket (socket2) and one
//! driver thread, which owns the socket's receive side and runs the sans-IO
//! [`Endpoint`](crate::endpoint::Endpoint)'s timers. All the connections a listener accepts
//! share its socket. Application calls act on the endpoint directly, under a lock, and send
//! what it emits.
//!
//! Errors are `io::Error`s of the kinds a `std::net` user expects: `ConnectionRefused` (a RST
//! or an ICMP port unreachable answered the SYN), `TimedOut` (the user timeout, a connect
//! timeout, a linger that ran out), `ConnectionReset` (the peer reset the connection, or its
//! process is gone), `BrokenPipe` (writing after a shutdown), `ConnectionAborted` (this side
//! reset it), `AddrInUse`.
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
//!   end of stream. `close` returns `Ok` once everything is acknowledged; `TimedOut` when the
//!   linger ran out; the connection's error (`ConnectionReset`, `TimedOut`, ...) if it
//!   failed. A linger of `Some(Duration::ZERO)` resets the connection at once; `None` does not
//!   wait.
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
//!
//! # Noticing a dead peer
//!
//! | the peer | how Ferry notices | when, with the defaults |
//! |---|---|---|
//! | resets the connection (it closed with our data unread, or its side aborted) | the RST | at once: `ConnectionReset` |
//! | its process exited or was killed, we are the client | the ICMP port unreachable answering our next segment (RFC 1122 section 4.2.3.9) | at once while sending; within the keepalive interval (15 s) when idle: `ConnectionReset` |
//! | silent (host gone, network cut, a killed client as seen by a listener's socket, which hears no ICMP) | retransmissions unanswered ([`Config::max_retransmissions`](crate::Config::max_retransmissions), 15) | about 9 minutes with data in flight: `TimedOut` |
//! | silent, and we have nothing to send | keepalive probes ([`Config::keepalive_interval`](crate::Config::keepalive_interval) 15 s, [`Config::keepalive_probes`](crate::Config::keepalive_probes) 6) | 15 s + 6 x 15 s = 105 s: `TimedOut` |
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

mod close;
mod driver;
mod listener;
mod stream;

pub use close::DEFAULT_LINGER;
pub use listener::{Incoming, Listener};
pub use stream::Stream;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::capture::View;
use crate::conn::{Config, ConnectionError};
use crate::fault::FaultConfig;

/// Settings for a socket-backed endpoint: the connections' settings, how their closes and
/// dead peers are handled, and what the fault injector does to the socket's traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketConfig {
    /// Every connection's settings.
    pub connection: Config,
    /// Faults applied to every datagram the socket sends and receives (none by default). The
    /// spec's `seed` also seeds the initial sequence numbers, so a lab run repeats.
    pub faults: FaultConfig,
    /// For a listener: how many connections may wait to be accepted. Ignored by `connect`.
    pub backlog: Option<usize>,
    /// Write what this socket sends (before the faults, with why each segment was sent and
    /// what the injector did to it) and receives (after them) to this pcapng file.
    pub capture: Option<PathBuf>,
    /// How the capture frames each datagram: as UDP carrying Ferry, or as TCP.
    pub capture_view: View,
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
}

impl Default for SocketConfig {
    fn default() -> SocketConfig {
        SocketConfig {
            connection: Config::default(),
            faults: FaultConfig::default(),
            backlog: None,
            capture: None,
            capture_view: View::default(),
            linger: Some(DEFAULT_LINGER),
            user_timeout: None,
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

/// The `io::Error` a failed connection gives.
fn connection_error(error: ConnectionError) -> io::Error {
    let kind = match error {
        ConnectionError::Refused => io::ErrorKind::ConnectionRefused,
        ConnectionError::Reset => io::ErrorKind::ConnectionReset,
        ConnectionError::TimedOut => io::ErrorKind::TimedOut,
        ConnectionError::Aborted => io::ErrorKind::ConnectionAborted,
    };
    io::Error::new(kind, error)
}

/// The first address `addr` resolves to.
fn first_address(addr: impl std::net::ToSocketAddrs) -> io::Result<std::net::SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    })
}
