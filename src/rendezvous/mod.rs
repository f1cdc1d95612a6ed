//! Rendezvous and hole punching, sans-IO: how two peers behind NATs find each other's public
//! endpoint and open a Ferry connection between them (docs/protocol.md section 9).
//!
//! A peer behind a NAT cannot be reached until it has sent something out through its NAT: the
//! NAT keeps a mapping from its private endpoint to a public one only for traffic the peer
//! started (RFC 4787). So both peers register with a rendezvous server on the public side,
//! which sees each one's public endpoint as the source of its REGISTER and tells each the
//! other's (an INTRODUCE). Then both open the Ferry connection to each other at once, from
//! the socket they registered with (so through the same NAT mapping): an ordinary
//! simultaneous open (RFC 9293 section 3.5, figure 8). Each peer's first SYN opens a mapping
//! in its own NAT towards the other, and may be dropped by the other's, which has no mapping
//! yet; the SYNs after it cross the mappings the first ones opened. Where no direct path
//! works, the server relays the connection's datagrams, and the connection says so.
//!
//! This protocol lives beside the connection, not in it: a [`Client`] registers, learns the
//! peer's endpoint and watches the attempt; a [`Server`] keeps registrations, introduces and
//! relays; both have the sans-IO shape of [`Endpoint`](crate::endpoint::Endpoint) (feed
//! `handle_datagram(now, from, bytes)` and `handle_timeout(now)`, drain `poll_transmit(now)`,
//! `poll_timeout()` and `poll_event()`), read no clock, and draw no randomness (the client's
//! nonce is given to it). [`Endpoint::punch`](crate::endpoint::Endpoint::punch) runs a client
//! inside an endpoint, on the endpoint's socket: rendezvous messages open with their own magic
//! ("RV", [`message::MAGIC`]) where Ferry's segments open with "FR", so one socket carries both.
//!
//! | file | owns |
//! |---|---|
//! | `message.rs` | the messages: [`Message`] to bytes and back, [`message::MessageError`] |
//! | `client.rs` | the client: registration, introduction, the direct attempt, the relay fallback, what blocked it |
//! | `birthday.rs` | birthday probing: many sockets against many ports, through a NAT with random ports |
//! | `server.rs` | the server: registrations, introductions, the relay within its bounds |
//!
//! The timings, each with its reason, are the constants below and in [`client`] and
//! [`server`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::conn::Config;

pub mod birthday;
pub mod client;
pub mod message;
pub mod server;
#[cfg(test)]
mod tests;

pub use birthday::{BirthdaySize, Role};
pub use client::{
    Client, ClientStats, DirectFailure, Event, Phase, PunchConfig, PunchConfigError, PunchError,
    RelayAttempt, Relayed,
};
pub use message::Message;
pub use server::{Server, ServerConfig, ServerStats};

/// How long the server keeps a registration after it last heard from its client: 30 s. A
/// client that needs it sends its REGISTER again at least every 10 s
/// ([`client::RELAY_REFRESH`]); one that is done says UNREGISTER, and one that vanished
/// frees its name this long after.
pub const REGISTRATION_LIFETIME: Duration = Duration::from_secs(30);

/// The initial retransmission timeout of a punched connection: 250 ms, where an ordinary one
/// waits 1 s (RFC 6298 section 2.1). Its SYNs go at 0, 0.25, 0.75, 1.75, 3.75 s...: the first
/// SYN of each peer is likely dropped by the other's NAT, which has no mapping for it yet, and
/// the second should follow soon after the peer's first has opened that mapping. Both peers
/// are introduced at the same moment (give or take the difference of their paths from the
/// server), so a quarter of a second is enough for the second round to cross the mappings the
/// first opened, while the first's answer, when it does get through, arrives before it on
/// paths under 250 ms. (RFC 6298 section 5.7 still sets the RTO to 3 s once data flows if
/// the SYN had to be sent again, until an RTT sample comes.)
pub const PUNCH_INITIAL_RTO: Duration = Duration::from_millis(250);

/// The longest keepalive interval of a punched connection: 15 s. A NAT forgets a UDP mapping
/// that has carried nothing outbound for its mapping lifetime: RFC 4787 REQ-5 asks for at
/// least 2 minutes, but many NATs keep an idle one for 30 s (Linux's conntrack forgets a UDP
/// flow after 30 s, `nf_conntrack_udp_timeout`, or 120 s once it has carried traffic both
/// ways), and a connection whose mapping is gone cannot be reached again. After 15 s without hearing from the peer each end sends a
/// keepalive probe (RFC 9293 section 3.8.4), which refreshes its own NAT's mapping whether
/// or not it arrives, and is answered by an ACK that refreshes the peer's: half the 30 s, so
/// a mapping is refreshed at least twice per lifetime. A punched connection keeps
/// keepalives on at this interval even if its config turns them off or sets a longer one,
/// since without them an idle connection would lose its path for good.
pub const PUNCH_KEEPALIVE: Duration = Duration::from_secs(15);

/// The settings of a punched connection: `config` with the initial RTO at most
/// [`PUNCH_INITIAL_RTO`] and keepalives at most [`PUNCH_KEEPALIVE`] apart.
pub fn punched_connection_config(config: &Config) -> Config {
    Config {
        initial_rto: config.initial_rto.min(PUNCH_INITIAL_RTO),
        keepalive_interval: Some(
            config
                .keepalive_interval
                .map_or(PUNCH_KEEPALIVE, |interval| interval.min(PUNCH_KEEPALIVE)),
        ),
        ..config.clone()
    }
}

/// A datagram to send: from the client to the server, or from the server to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes.
    pub destination: SocketAddr,
    /// The encoded message: the whole UDP payload.
    pub contents: Vec<u8>,
}
