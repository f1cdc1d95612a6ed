//! [`RendezvousServer`]: the sans-IO rendezvous [`Server`] on a UDP socket, as
//! `ferry rendezvous` runs it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::driver::os_now;
use super::udp_io::MAX_DATAGRAM;
use crate::rendezvous::message::PROBE_PORT_OFFSET;
use crate::rendezvous::server::Event;
use crate::rendezvous::{Server, ServerConfig, ServerStats};
use crate::time::Instant;

/// The longest the server waits on its port before it reads its probe port: 10 ms. A PROBE
/// follows its REGISTER at once, and the server introduces a probing client once its PROBE
/// came: so the introduction waits at most this long for the PROBE to be read. (A hundred
/// wake-ups a second cost nothing worth a second thread.)
const PROBE_POLL: Duration = Duration::from_millis(10);

/// How many ephemeral ports [`RendezvousServer::bind`] tries, with port 0, for one whose
/// next is free too: 16.
const PORT_PAIR_TRIES: usize = 16;

/// The most PROBEs the server reads per turn, so that a flood on the probe port cannot keep
/// it from its own port: 64.
const PROBES_PER_TURN: usize = 64;

/// A rendezvous server (docs/protocol.md section 9) on a UDP socket of its own: peers
/// register with it, it introduces them, and relays for those with no direct path; its next
/// port takes the clients' PROBEs (docs/protocol.md section 9.4). One thread, blocking:
/// [`run`](Self::run) serves until the socket fails.
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
    /// The probe port, the next after the socket's (docs/protocol.md section 9.4, "Port
    /// prediction"), non-blocking: PROBEs only, never answered from.
    probe_socket: Option<UdpSocket>,
    server: Server,
    epoch: std::time::Instant,
}

impl RendezvousServer {
    /// A server on a UDP socket bound to `addr` (each address it resolves to in turn, the
    /// first that binds), and one on the next port for the clients' PROBEs (none if the
    /// port is the last). Fails if that port is taken too: clients would wait for their
    /// PROBEs ([`PROBE_WAIT`](crate::rendezvous::server::PROBE_WAIT)) at every
    /// introduction. With port 0, a pair of free ports is found (at most
    /// 16 tries, `PORT_PAIR_TRIES`).
    pub fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<RendezvousServer> {
        let ephemeral = addr.to_socket_addrs()?.any(|address| address.port() == 0);
        let mut tries = 0;
        let (socket, probe_socket) = loop {
            tries += 1;
            let socket = super::each_address(&addr, UdpSocket::bind)?;
            let local = socket.local_addr()?;
            let Some(port) = local.port().checked_add(PROBE_PORT_OFFSET) else {
                break (socket, None);
            };
            match UdpSocket::bind(SocketAddr::new(local.ip(), port)) {
                Ok(probe_socket) => break (socket, Some(probe_socket)),
                // An ephemeral port whose next is taken: another pair.
                Err(_) if ephemeral && tries < PORT_PAIR_TRIES => {}
                Err(error) => {
                    return Err(io::Error::new(
                        error.kind(),
                        format!("the probe port {port}, the next after {local}: {error}"),
                    ))
                }
            }
        };
        if let Some(probe_socket) = &probe_socket {
            probe_socket.set_nonblocking(true)?;
        }
        Ok(RendezvousServer {
            socket,
            probe_socket,
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
            // A zero timeout means none to std: wait a microsecond instead. The probe port
            // is read between waits, at most PROBE_POLL apart.
            let wait = wait.map_or(PROBE_POLL, |wait| {
                wait.clamp(Duration::from_micros(1), PROBE_POLL)
            });
            let wait = Some(wait);
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
            // The PROBEs waiting, a bounded number per turn.
            if let Some(probe_socket) = &self.probe_socket {
                for _ in 0..PROBES_PER_TURN {
                    let Ok((len, from)) = probe_socket.recv_from(&mut buffer) else {
                        break;
                    };
                    self.server
                        .handle_datagram(self.now(), from, &buffer[..len]);
                }
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
