//! A deterministic discrete-event network with a virtual clock: two hosts, A and B, each an
//! [`Endpoint`](crate::endpoint::Endpoint), joined by one [`Link`](crate::link::Link) per
//! direction: a fault injector, then a drop-tail queue drained at the link's rate, then a
//! propagation delay.
//!
//! A run is a pure function of its [`NetworkConfig`] (seed included): every random choice, the
//! initial sequence numbers, the faults and the payload of [`transfer`], comes from generators
//! seeded from it (through [`crate::link::seed`]), and nothing reads the machine's clock
//! except to report `wall_seconds`.
//!
//! Each host can have a capture tap ([`Network::capture`], [`transfer_observed`]): a
//! pcapng file of what it sent, before the faults, and what it received, after them, stamped
//! with simulated time. Each packet sent says why (the [`Reason`](crate::conn::Reason)) and what
//! the link did to it (the fault [`Decision`](crate::fault::Decision), or a full queue).
//!
//! The files: `network.rs` (the hosts, the links and the clock), `transfer.rs` (a whole
//! transfer driven like an application would), `first_byte.rs` (a request and its
//! response, timed to the response's first byte), `report.rs` (what a transfer reports) and
//! `tap.rs` (each host's capture).
//!
//! [`world`] is the larger simulator beside it: any number of hosts and routers, and your own
//! async programs running on them.

use std::net::SocketAddr;

mod first_byte;
mod ladder;
mod network;
mod report;
mod tap;
#[cfg(test)]
mod tests;
mod transfer;
pub mod world;

pub use crate::link::{LinkConfig, LinkStats};
pub use first_byte::{
    first_byte, first_byte_with, Application, FirstByteError, FirstByteReport, Opening,
    PlainClient, PlainServer, FIRST_BYTE_TIME_LIMIT,
};
pub use network::{HostEvents, Network, NetworkConfig, MAX_RECORDED_EVENTS};
pub use report::{HostReport, TransferReport};
pub use tap::{Captures, HostCapture, ORIGIN_NOTE};
pub use transfer::{
    payload, transfer, transfer_observed, Observed, Observers, RunLimit, TransferConfig,
    DEFAULT_STEP_LIMIT,
};

/// One of the two simulated hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The first host, 192.0.2.1 (RFC 5737 documentation address); the sender in [`transfer`].
    A,
    /// The second host, 198.51.100.1; the receiver in [`transfer`].
    B,
}

impl Host {
    fn index(self) -> usize {
        match self {
            Host::A => 0,
            Host::B => 1,
        }
    }

    fn peer(self) -> Host {
        match self {
            Host::A => Host::B,
            Host::B => Host::A,
        }
    }

    /// The host's address: documentation addresses (RFC 5737) on Ferry's default port.
    pub fn address(self) -> SocketAddr {
        match self {
            Host::A => SocketAddr::from(([192, 0, 2, 1], crate::wire::DEFAULT_PORT)),
            Host::B => SocketAddr::from(([198, 51, 100, 1], crate::wire::DEFAULT_PORT)),
        }
    }
}
