//! How the core's outcomes read as `std::io` errors, for every driver of it (the socket
//! driver, the tokio one, the simulated world): the kind a `std::net` user expects for each
//! connection error, and what an application's close comes to. Plain std, no socket: it
//! lives beside the core so that a driver without real sockets shares the same rules.

use std::io;
#[cfg(any(feature = "net", feature = "sim"))]
use std::time::Duration;

use crate::conn::{Connection, ConnectionError, ReadError, WriteError};
use crate::endpoint::{ConnectError, ConnectionHandle, Endpoint, PunchStartError, PunchStatus};
use crate::rendezvous::PunchError;

/// A failed connection as std reports one: `ConnectionRefused` (a RST or an ICMP port
/// unreachable answered the SYN), `ConnectionReset` (the peer reset the connection, or its
/// process is gone), `BrokenPipe` (the peer closed its side, then reset the connection, as
/// after our writes to a peer that went away), `TimedOut` (the user timeout, or
/// retransmissions or keepalives unanswered) and `ConnectionAborted` (this side reset it); in
/// the secure mode `PermissionDenied` (the server's key is not the one expected),
/// `ConnectionRefused` (the peer does not run the secure mode) and `InvalidData` (a malformed
/// handshake). The error inside is the
/// [`ConnectionError`], for `io::Error::get_ref` to recover.
impl From<ConnectionError> for io::Error {
    fn from(error: ConnectionError) -> io::Error {
        let kind = match error {
            ConnectionError::Refused => io::ErrorKind::ConnectionRefused,
            ConnectionError::Reset => io::ErrorKind::ConnectionReset,
            ConnectionError::PeerClosed => io::ErrorKind::BrokenPipe,
            ConnectionError::TimedOut => io::ErrorKind::TimedOut,
            ConnectionError::Aborted => io::ErrorKind::ConnectionAborted,
            ConnectionError::ServerKeyMismatch => io::ErrorKind::PermissionDenied,
            ConnectionError::NotSecure => io::ErrorKind::ConnectionRefused,
            ConnectionError::HandshakeFailed => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// A failed [`Connection::read`](crate::conn::Connection::read): `WouldBlock`, or the
/// connection's error as above.
impl From<ReadError> for io::Error {
    fn from(error: ReadError) -> io::Error {
        match error {
            ReadError::WouldBlock => io::Error::new(io::ErrorKind::WouldBlock, error),
            ReadError::Failed(error) => error.into(),
        }
    }
}

/// A failed [`Connection::write`](crate::conn::Connection::write): `WouldBlock`, `BrokenPipe`
/// after a shutdown (std's `EPIPE`), or the connection's error as above.
impl From<WriteError> for io::Error {
    fn from(error: WriteError) -> io::Error {
        match error {
            WriteError::WouldBlock => io::Error::new(io::ErrorKind::WouldBlock, error),
            WriteError::ShutDown => io::Error::new(io::ErrorKind::BrokenPipe, error),
            WriteError::Failed(error) => error.into(),
        }
    }
}

/// A read's, peek's or write's outcome as a driver waits on it: `None` for `WouldBlock` (wait
/// for the connection to change), else the result as std reports it. Told apart before the
/// conversion, so that a wait costs no allocated `io::Error`.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) fn unless_would_block<E: MayBlock>(
    result: Result<usize, E>,
) -> Option<io::Result<usize>> {
    match result {
        Err(error) if error.would_block() => None,
        outcome => Some(outcome.map_err(Into::into)),
    }
}

/// A read's or write's error, which may only say to wait.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) trait MayBlock: Into<io::Error> {
    fn would_block(&self) -> bool;
}

#[cfg(any(feature = "net", feature = "sim"))]
impl MayBlock for ReadError {
    fn would_block(&self) -> bool {
        matches!(self, ReadError::WouldBlock)
    }
}

#[cfg(any(feature = "net", feature = "sim"))]
impl MayBlock for WriteError {
    fn would_block(&self) -> bool {
        matches!(self, WriteError::WouldBlock)
    }
}

/// A refused [`Endpoint::connect`](crate::endpoint::Endpoint::connect): `AlreadyExists`,
/// since one socket tells connections apart by the peer's address alone.
impl From<ConnectError> for io::Error {
    fn from(error: ConnectError) -> io::Error {
        io::Error::new(io::ErrorKind::AlreadyExists, error)
    }
}

/// What an application's close comes to, by the rules every driver follows.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) enum CloseOutcome {
    /// Known at once: how the close already stood ([`close_progress`]: our FIN acknowledged,
    /// or the connection failed); for a reset (a linger of zero, or received data left
    /// unread) `ConnectionAborted` if some of our data was unacknowledged, else done; done,
    /// too, for a close that does not linger.
    Now(io::Result<()>),
    /// Wait up to this linger for the peer to acknowledge our data and FIN.
    WaitForFinAck(Duration),
}

/// The [`CloseOutcome`] of closing a connection that stood as `settled` ([`close_progress`]
/// before the close), in this condition, with this linger.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) fn close_outcome(
    settled: Option<io::Result<()>>,
    linger: Option<Duration>,
    unacknowledged: bool,
    unread: bool,
) -> CloseOutcome {
    let abortive = linger == Some(Duration::ZERO);
    match (settled, linger) {
        (Some(result), _) => CloseOutcome::Now(result),
        _ if (abortive || unread) && unacknowledged => CloseOutcome::Now(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            if abortive {
                "closed with a linger of zero: reset with written data unacknowledged"
            } else {
                "closed with received data unread, so the connection was reset (RFC 2525) \
                 with written data unacknowledged"
            },
        ))),
        _ if abortive || unread => CloseOutcome::Now(Ok(())),
        (None, None) => CloseOutcome::Now(Ok(())),
        (None, Some(linger)) => CloseOutcome::WaitForFinAck(linger),
    }
}

/// Close `handle` of `endpoint` as an application's close does, with `linger`: a FIN after
/// the data written, or a RST if received data was left unread (the endpoint's rule) or the
/// linger is zero. What the close comes to: known at once, or a wait for the peer's
/// acknowledgment; `NotConnected` if the endpoint no longer keeps the connection.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) fn begin_close(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
    linger: Option<Duration>,
) -> io::Result<CloseOutcome> {
    let connection = endpoint
        .connection_mut(handle)
        .ok_or_else(connection_gone)?;
    let settled = close_progress(connection);
    let unacknowledged = !connection.is_send_complete();
    let unread = connection.readable_bytes() > 0;
    if linger == Some(Duration::ZERO) {
        connection.abort();
    }
    endpoint.close(handle);
    Ok(close_outcome(settled, linger, unacknowledged, unread))
}

/// The error of a call on a connection the endpoint no longer keeps.
#[cfg(any(feature = "net", feature = "sim"))]
pub(crate) fn connection_gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is gone")
}

#[cfg(any(feature = "net", feature = "sim"))]
/// How a close stands, decided from sequence numbers rather than from the state's name: `Ok`
/// once the peer acknowledged every byte written and our FIN (whatever came after, a RST in
/// FIN-WAIT-2 say, cannot take that back); the connection's error once it failed; an error
/// too if it ended any other way with something unacknowledged, since only the peer's
/// acknowledgment makes a close a success. `None` while the acknowledgment may still come.
/// Both drivers' closes, and tokio's `shutdown`, wait on this.
pub(crate) fn close_progress(connection: &Connection) -> Option<io::Result<()>> {
    if connection.is_fin_acknowledged() {
        return Some(Ok(()));
    }
    if let Some(error) = connection.error() {
        return Some(Err(io::Error::from(error)));
    }
    connection.is_closed().then(|| {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the connection ended before the peer acknowledged the data and FIN",
        ))
    })
}

/// A failed punch (docs/protocol.md section 9), its message naming what blocked it:
/// `TimedOut` for a rendezvous server that does not answer and for no path to the peer,
/// `NotFound` for a peer that never came, `AddrInUse` for a name or address held by
/// another, `ConnectionRefused` for a full server. The [`PunchError`] is inside.
impl From<PunchError> for io::Error {
    fn from(error: PunchError) -> io::Error {
        use crate::rendezvous::message::Refusal;
        let kind = match &error {
            PunchError::ServerSilent { .. } | PunchError::NoPath { .. } => io::ErrorKind::TimedOut,
            PunchError::PeerAbsent { .. } => io::ErrorKind::NotFound,
            PunchError::Refused {
                reason: Refusal::Full,
                ..
            } => io::ErrorKind::ConnectionRefused,
            PunchError::Refused { .. } => io::ErrorKind::AddrInUse,
        };
        io::Error::new(kind, error)
    }
}

/// A punch that would not start: `InvalidInput` (a bad name), or `AlreadyExists`.
impl From<PunchStartError> for io::Error {
    fn from(error: PunchStartError) -> io::Error {
        let kind = match error {
            PunchStartError::Config(_) => io::ErrorKind::InvalidInput,
            PunchStartError::AlreadyPunching => io::ErrorKind::AlreadyExists,
        };
        io::Error::new(kind, error)
    }
}

/// What a driver waiting on an endpoint's punch learns: the connection to the peer, once
/// the peer's public endpoint is known (`Some(Ok)`), the punch's failure (`Some(Err)`), or
/// nothing yet (`None`).
#[cfg_attr(not(any(feature = "net", feature = "sim")), allow(dead_code))]
pub(crate) fn punch_opened(
    endpoint: &Endpoint,
) -> Option<io::Result<(ConnectionHandle, std::net::SocketAddr)>> {
    match endpoint.punch_status()? {
        PunchStatus::Meeting => None,
        PunchStatus::Opening { handle, peer, .. } | PunchStatus::Connected { handle, peer, .. } => {
            Some(Ok((handle, peer)))
        }
        PunchStatus::Failed(error) => Some(Err(error.into())),
    }
}

/// Whether the punched connection `handle` is done opening: `Some(Ok)` once established,
/// `Some(Err)` with the punch's error (or the connection's) once it failed.
#[cfg_attr(not(any(feature = "net", feature = "sim")), allow(dead_code))]
pub(crate) fn punch_established(
    endpoint: &Endpoint,
    handle: ConnectionHandle,
) -> Option<io::Result<()>> {
    match endpoint.punch_status() {
        Some(PunchStatus::Connected { .. }) => return Some(Ok(())),
        Some(PunchStatus::Failed(error)) => return Some(Err(error.into())),
        _ => {}
    }
    match endpoint.connection(handle) {
        None => Some(Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "the connection is gone",
        ))),
        Some(connection) => connection.error().map(|error| Err(error.into())),
    }
}
