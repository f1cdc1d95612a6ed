//! [`RendezvousServer`]: the sans-IO rendezvous [`Server`] on a UDP socket, as
//! `ferry rendezvous` runs it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::driver::os_now;
use super::udp_io::MAX_DATAGRAM;
use crate::rendezvous::server::Event;
use crate::rendezvous::{Server, ServerConfig, ServerStats};
use crate::time::Instant;

/// A rendezvous server (docs/protocol.md section 9) on a UDP socket of its own: peers
/// register with it, it introduces them, and relays for those with no direct path. One
/// thread, blocking: [`run`](Self::run) serves until the socket fails.
///
/// ```no_run
/// use ferry::net::RendezvousServer;
/// use ferry::rendezvous::ServerConfig;
///
/// # fn main() -> std::io::Result<()> {
/// let mut server = RendezvousServer::bind("0.0.0.0:7000", ServerConfig::default())?;
/// let error = server.run(|event| eprintln!("{event}"));
/// # Err(error)
/// # }
/// ```
#[derive(Debug)]
pub struct RendezvousServer {
    socket: UdpSocket,
    server: Server,
    epoch: std::time::Instant,
}

impl RendezvousServer {
    /// A server on a UDP socket bound to `addr` (each address it resolves to in turn, the
    /// first that binds).
    pub fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<RendezvousServer> {
        let socket = super::each_address(addr, UdpSocket::bind)?;
        Ok(RendezvousServer {
            socket,
            server: Server::new(config),
            epoch: os_now(),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// What the server counted.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Ferry's time now: microseconds since the server started.
    fn now(&self) -> Instant {
        let elapsed = os_now().saturating_duration_since(self.epoch);
        Instant::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    /// Serve: receive, answer, relay, forget lapsed registrations, and hand each event to
    /// `log` (a line each, with `Display`). Returns only when the socket fails, with its
    /// error. A send that fails (a full buffer, an unreachable peer) loses that datagram, as
    /// a network would; the protocol's retries make it good.
    pub fn run(&mut self, mut log: impl FnMut(&Event)) -> io::Error {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
            let now = self.now();
            let wait = self
                .server
                .poll_timeout()
                .map(|at| at.saturating_duration_since(now));
            // A zero timeout means none to std: wait a microsecond instead.
            let wait = wait.map(|wait| wait.max(Duration::from_micros(1)));
            if let Err(error) = self.socket.set_read_timeout(wait) {
                return error;
            }
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) => self
                    .server
                    .handle_datagram(self.now(), from, &buffer[..len]),
                Err(error) => match error.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted
                    // An ICMP error about an earlier send, on systems that report them.
                    | io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset => {}
                    _ => return error,
                },
            }
            let now = self.now();
            if self.server.poll_timeout().is_some_and(|at| at <= now) {
                self.server.handle_timeout(now);
            }
            while let Some(transmit) = self.server.poll_transmit(now) {
                let _lost = self
                    .socket
                    .send_to(&transmit.contents, transmit.destination);
            }
            while let Some(event) = self.server.poll_event() {
                log(&event);
            }
        }
    }
}
