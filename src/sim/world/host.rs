//! A host: its sockets by port, its ephemeral ports, whether it is up, and how many times it
//! has restarted. A crash takes every socket away at once, without a word on the wire (a
//! kernel that stops); a restart brings the host back with no socket until its program binds
//! again.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use super::socket::Socket;
use super::topology::NodeId;
use crate::link::seed::derive_seed;

/// The ephemeral ports a host connects from: the dynamic range (RFC 6335 section 6).
pub const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// Names a socket for as long as its host lives: after a crash, a key of the old incarnation
/// names nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct SocketKey {
    pub(super) host: NodeId,
    pub(super) incarnation: u32,
    pub(super) port: u16,
}

/// What a host counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// Datagrams handed to one of its sockets.
    pub delivered: u64,
    /// Datagrams that arrived while it was down (crashed), dropped without a word.
    pub dropped_while_down: u64,
    /// Datagrams that arrived for an address it does not have (a host forwards nothing).
    pub dropped_not_addressed_here: u64,
    /// Datagrams for a port with no socket, answered with an ICMP port unreachable.
    pub port_unreachables_sent: u64,
    /// Unreachables that reached a socket connected to the peer they name, as a hard error
    /// (a port unreachable): what a real connected UDP socket reports as `ECONNREFUSED`.
    pub unreachables_taken: u64,
    /// Unreachables no socket took: soft ones (network or host unreachable), or about a
    /// socket that is not connected to that peer (a listener's hears none).
    pub unreachables_ignored: u64,
    /// Datagrams a UDP socket dropped because its receive queue was full.
    pub udp_queue_drops: u64,
    /// Datagrams it could not send: no route, or no address of the destination's family.
    pub unroutable: u64,
    /// Times it crashed.
    pub crashes: u64,
}

/// A host's own state.
#[derive(Debug)]
pub(super) struct Host {
    pub(super) up: bool,
    pub(super) incarnation: u32,
    pub(super) sockets: BTreeMap<u16, Socket>,
    /// Where the search for a free ephemeral port starts next.
    next_ephemeral: u16,
    /// Sockets opened in this incarnation: each endpoint's generator has its own seed.
    sockets_opened: u64,
    /// The host's seed, from the world's.
    seed: u64,
    pub(super) stats: HostStats,
}

impl Host {
    /// A host whose generators derive from `seed` (the world's, through the host's stream).
    pub(super) fn new(seed: u64) -> Host {
        let mut host = Host {
            up: true,
            incarnation: 0,
            sockets: BTreeMap::new(),
            next_ephemeral: *EPHEMERAL_PORTS.start(),
            sockets_opened: 0,
            seed,
            stats: HostStats::default(),
        };
        host.next_ephemeral = host.first_ephemeral();
        host
    }

    /// The key of this incarnation's socket on `port`.
    pub(super) fn key(&self, id: NodeId, port: u16) -> SocketKey {
        SocketKey {
            host: id,
            incarnation: self.incarnation,
            port,
        }
    }

    /// Where this incarnation starts looking for ephemeral ports: drawn from the seed, as a
    /// kernel randomizes it (RFC 6056), so that a restarted client does not reuse the 4-tuple
    /// of its previous life.
    fn first_ephemeral(&self) -> u16 {
        let span = u64::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        let offset = derive_seed(self.seed, u64::from(self.incarnation) << 32) % span;
        EPHEMERAL_PORTS.start() + offset as u16
    }

    /// The seed of the next socket's endpoint (its initial sequence numbers).
    pub(super) fn next_endpoint_seed(&mut self) -> u64 {
        self.sockets_opened += 1;
        derive_seed(
            self.seed,
            (u64::from(self.incarnation) << 32) | self.sockets_opened,
        )
    }

    /// A port for a socket bound to `requested` (0: any free ephemeral port), or the error a
    /// kernel gives.
    pub(super) fn claim_port(&mut self, requested: SocketAddr) -> io::Result<u16> {
        if requested.port() != 0 {
            if self.sockets.contains_key(&requested.port()) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("port {} is in use on this host", requested.port()),
                ));
            }
            return Ok(requested.port());
        }
        let start = self.next_ephemeral;
        let mut port = start;
        loop {
            let next = if port == *EPHEMERAL_PORTS.end() {
                *EPHEMERAL_PORTS.start()
            } else {
                port + 1
            };
            if !self.sockets.contains_key(&port) {
                self.next_ephemeral = next;
                return Ok(port);
            }
            port = next;
            if port == start {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "every ephemeral port of this host is in use",
                ));
            }
        }
    }

    /// Crash: every socket goes at once. Returns them, for the caller to drop.
    pub(super) fn crash(&mut self) -> BTreeMap<u16, Socket> {
        self.up = false;
        self.stats.crashes += 1;
        std::mem::take(&mut self.sockets)
    }

    /// Come back up, a new incarnation with no socket.
    pub(super) fn restart(&mut self) {
        self.up = true;
        self.incarnation += 1;
        self.sockets_opened = 0;
        self.next_ephemeral = self.first_ephemeral();
    }
}
