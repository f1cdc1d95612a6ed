//! [`Stream`]: one connection, with the blocking `Read` and `Write` of a `TcpStream`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::close;
use super::driver::{os_now, DriverState, Shared};
use super::{connection_error, first_address, SocketConfig};
use crate::conn::{Connection, ReadError, Stats, WriteError};
use crate::endpoint::ConnectionHandle;
use crate::fault::FaultStats;

/// A Ferry connection over UDP, used like `std::net::TcpStream`.
pub struct Stream {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    /// Shared by the clones of one stream: the last one dropped closes the connection.
    owner: Arc<Owner>,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// `shutdown(Read)` was called: reads return end of stream.
    read_shut: bool,
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
    /// (about two minutes with the defaults) or until the peer refuses.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Stream> {
        Stream::connect_with(addr, &SocketConfig::default(), None)
    }

    /// Like [`connect`](Self::connect), but fail with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<Stream> {
        Stream::connect_with(addr, &SocketConfig::default(), Some(timeout))
    }

    /// Open a connection with these settings (faults included), within `timeout` if given.
    pub fn connect_with(
        addr: impl ToSocketAddrs,
        config: &SocketConfig,
        timeout: Option<Duration>,
    ) -> io::Result<Stream> {
        let peer = first_address(addr)?;
        let unspecified = match peer.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let config = SocketConfig {
            backlog: None,
            ..config.clone()
        };
        let shared = Shared::start(SocketAddr::new(unspecified, 0), Some(peer), &config)?;
        let handle = {
            let mut state = shared.lock();
            let handle = state
                .endpoint
                .connect(peer)
                .map_err(|error| io::Error::new(io::ErrorKind::AlreadyExists, error.to_string()))?;
            shared.after_application_call(&mut state);
            handle
        };
        let stream = Stream::new(shared, handle, peer);
        let deadline = timeout.map(|timeout| os_now() + timeout);
        let mut state = stream.shared.lock();
        loop {
            let connection = stream.connection(&state)?;
            if connection.is_connected() {
                break;
            }
            if let Some(error) = connection.error() {
                return Err(connection_error(error));
            }
            if let Some(kind) = state.socket_error {
                return Err(io::Error::new(kind, "the socket failed"));
            }
            let (guard, timed_out) = stream.shared.wait(state, deadline);
            state = guard;
            if timed_out {
                let connection = stream.connection_mut(&mut state)?;
                connection.abort();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from {peer} within the connect timeout"),
                ));
            }
        }
        drop(state);
        Ok(stream)
    }

    pub(crate) fn new(shared: Arc<Shared>, handle: ConnectionHandle, peer: SocketAddr) -> Stream {
        shared.lock().closes.hold(handle);
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
            read_timeout: None,
            write_timeout: None,
            read_shut: false,
        }
    }

    fn connection<'a>(&self, state: &'a DriverState) -> io::Result<&'a Connection> {
        state
            .endpoint
            .connection(self.handle)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the connection is gone"))
    }

    fn connection_mut<'a>(&self, state: &'a mut DriverState) -> io::Result<&'a mut Connection> {
        state
            .endpoint
            .connection_mut(self.handle)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the connection is gone"))
    }

    /// Another handle to the same connection, as `TcpStream::try_clone`: one thread may read
    /// while another writes. The connection closes when the last handle is dropped (or
    /// [`close`](Self::close)d).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            shared: Arc::clone(&self.shared),
            handle: self.handle,
            owner: Arc::clone(&self.owner),
            peer: self.peer,
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            read_shut: self.read_shut,
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

    /// The connection's counters and RTT estimate.
    pub fn stats(&self) -> Stats {
        let state = self.shared.lock();
        self.connection(&state)
            .map(Connection::stats)
            .unwrap_or_else(|_| Stats::unused())
    }

    /// What the fault injector did to this stream's socket: to the datagrams it sent, and to
    /// those it received. `None` when the socket runs without faults. (A listener's streams
    /// share its socket, so they share these counts.)
    pub fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.shared.lock().fault_stats()
    }

    /// How long `read` waits before failing with `WouldBlock`; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        reject_zero(timeout)?;
        self.read_timeout = timeout;
        Ok(())
    }

    /// How long `write` waits for buffer space before failing with `WouldBlock`.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        reject_zero(timeout)?;
        self.write_timeout = timeout;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Shut down the write side (a FIN follows the data written), the read side (further
    /// reads return end of stream), or both.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.read_shut = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let mut state = self.shared.lock();
            self.connection_mut(&mut state)?.shutdown();
            self.shared.after_application_call(&mut state);
        }
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
                return Err(connection_error(error));
            }
            state = self.shared.wait(state, None).0;
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
    /// - A connection that failed before gives its error: `ConnectionReset` if the peer reset
    ///   it (or its process is gone), `TimedOut` for the user timeout, and so on.
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
        self.shared.after_application_call(&mut state);
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
        self.shared.after_application_call(&mut state);
        Ok(())
    }

    /// Run `attempt` until it gives a result, waiting for the driver between tries.
    fn blocking<T>(
        &mut self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(&mut Connection) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|timeout| os_now() + timeout);
        let mut state = self.shared.lock();
        loop {
            if let Some(kind) = state.socket_error {
                return Err(io::Error::new(kind, "the socket failed"));
            }
            let connection = self.connection_mut(&mut state)?;
            if let Some(result) = attempt(connection) {
                self.shared.after_application_call(&mut state);
                return result;
            }
            let (guard, timed_out) = self.shared.wait(state, deadline);
            state = guard;
            if timed_out {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the operation timed out",
                ));
            }
        }
    }
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
        if self.read_shut || buf.is_empty() {
            return Ok(0);
        }
        self.blocking(self.read_timeout, |connection| match connection.read(buf) {
            Ok(count) => Some(Ok(count)),
            Err(ReadError::WouldBlock) => None,
            Err(ReadError::Failed(error)) => Some(Err(connection_error(error))),
        })
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.blocking(self.write_timeout, |connection| {
            match connection.write(buf) {
                Ok(count) => Some(Ok(count)),
                Err(WriteError::WouldBlock) => None,
                Err(WriteError::ShutDown) => Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the write side is shut down",
                ))),
                Err(WriteError::Failed(error)) => Some(Err(connection_error(error))),
            }
        })
    }

    /// Data is handed to the connection by `write`; like `TcpStream`, there is nothing to
    /// flush. [`Stream::wait_until_sent`] waits for the peer's acknowledgment.
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
