//! Ferry on real UDP sockets: [`Stream`] and [`Listener`] behave like `std::net::TcpStream`
//! and `TcpListener`.
//!
//! Each `Stream::connect` and each `Listener::bind` makes one UDP socket (socket2) and one
//! driver thread, which owns the socket's receive side and runs the sans-IO
//! [`Endpoint`](crate::endpoint::Endpoint)'s timers. All the connections a listener accepts
//! share its socket. Application calls act on the endpoint directly, under a lock, and send
//! what it emits. Dropping a `Stream` closes it gracefully in the background: buffered data
//! still goes out, then the FIN, and the driver thread ends once every connection is done.
//!
//! Errors are `io::Error`s of the kinds a `std::net` user expects: `ConnectionRefused` (a RST
//! answered the SYN, or nothing listens on the port), `TimedOut` (the user timeout, a connect
//! timeout), `ConnectionReset`, `BrokenPipe` (writing after a shutdown), `AddrInUse`.
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

mod driver;
mod listener;
mod stream;

pub use listener::{Incoming, Listener};
pub use stream::Stream;

use std::io;

use std::path::PathBuf;

use crate::capture::View;
use crate::conn::{Config, ConnectionError};
use crate::fault::FaultConfig;

/// Settings for a socket-backed endpoint: the connections' settings, and what the fault
/// injector does to the socket's traffic.
#[derive(Clone, Debug, Default, PartialEq)]
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
