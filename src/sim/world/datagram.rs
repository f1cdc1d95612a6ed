//! What travels between the world's nodes: a UDP datagram (a Ferry segment, or any payload a
//! program's UDP socket sends) or an ICMP-style destination unreachable that quotes the
//! datagram it is about, each with its addresses and a TTL.

use std::fmt;
use std::net::SocketAddr;

use super::topology::NodeId;

/// The TTL (hop limit, for IPv6) a datagram starts with: Linux's default
/// (`net.ipv4.ip_default_ttl`). Each router takes one off and drops a datagram it would take
/// to zero (RFC 1812 section 5.3.1), so a routing loop ends.
pub const DEFAULT_TTL: u8 = 64;

/// How much of a datagram's payload an unreachable quotes: as much as keeps the ICMP message
/// within 576 bytes for IPv4 (RFC 1812 section 4.3.2.3: 576 less the IP and ICMP headers and
/// the quoted IP and UDP headers) and within the minimum MTU of 1280 for IPv6 (RFC 4443
/// section 2.4 (c)).
pub const QUOTE_LIMIT_V4: usize = 576 - 20 - 8 - 20 - 8;
/// See [`QUOTE_LIMIT_V4`].
pub const QUOTE_LIMIT_V6: usize = 1280 - 40 - 8 - 40 - 8;

/// Why a destination is unreachable: the ICMP codes a network sends back (RFC 792, RFC 4443).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnreachableKind {
    /// A router has no route to the destination (ICMP net unreachable; ICMPv6 no route).
    Network,
    /// The destination's host is down, as the last router finds when nothing answers
    /// (ICMP host unreachable; ICMPv6 address unreachable).
    Host,
    /// The destination host has no socket on that port (ICMP port unreachable).
    Port,
}

impl UnreachableKind {
    /// Whether a socket connected to the peer reports it as an error, as Linux's connected
    /// UDP sockets do: only the port unreachable is a hard error (`ECONNREFUSED`; RFC 1122
    /// section 4.2.3.9). Network and host unreachables are soft: Linux keeps them from a UDP
    /// socket without `IP_RECVERR`, and Ferry's socket driver ignores them, so the
    /// retransmission timers decide.
    pub fn is_hard(self) -> bool {
        self == UnreachableKind::Port
    }
}

impl fmt::Display for UnreachableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnreachableKind::Network => "network unreachable",
            UnreachableKind::Host => "host unreachable",
            UnreachableKind::Port => "port unreachable",
        })
    }
}

/// An ICMP-style destination unreachable, about a datagram it quotes. The quoted payload
/// travels as the unreachable's bytes; its addresses are here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// Why.
    pub kind: UnreachableKind,
    /// The quoted datagram's source: the socket the unreachable is for.
    pub quoted_source: SocketAddr,
    /// The quoted datagram's destination: the peer that cannot be reached.
    pub quoted_destination: SocketAddr,
}

/// What a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A UDP payload.
    Udp,
    /// An unreachable, whose bytes are the quoted payload.
    Unreachable(Unreachable),
}

/// A datagram's addresses and what it is: everything but its bytes, which travel beside it
/// (through a [`Link`](crate::link::Link) as the offered bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) source: SocketAddr,
    pub(super) destination: SocketAddr,
    pub(super) ttl: u8,
    /// The node that made it. Never rewritten, not even by a middlebox, so that a partition
    /// between two hosts holds whatever addresses their datagrams carry.
    pub(super) origin: NodeId,
    pub(super) kind: Kind,
    /// Its number on the ladder being recorded ([`super::ladder`]), given where a host sent
    /// it, so that the recorder follows it hop by hop whatever a middlebox does to its
    /// addresses. It changes nothing on the way.
    pub(super) ladder: Option<u64>,
}

impl Header {
    /// A fresh UDP datagram from `origin`.
    pub(super) fn udp(origin: NodeId, source: SocketAddr, destination: SocketAddr) -> Header {
        Header {
            source,
            destination,
            ttl: DEFAULT_TTL,
            origin,
            kind: Kind::Udp,
            ladder: None,
        }
    }

    /// The unreachable that `origin`, at address `from`, sends back about this datagram, with
    /// the bytes it quotes; `None` for an unreachable itself (no ICMP error is ever sent about
    /// an ICMP error: RFC 1122 section 3.2.2).
    pub(super) fn unreachable_reply(
        &self,
        origin: NodeId,
        from: std::net::IpAddr,
        kind: UnreachableKind,
        payload: &[u8],
    ) -> Option<(Header, Vec<u8>)> {
        if self.kind != Kind::Udp {
            return None;
        }
        let limit = if self.source.is_ipv4() {
            QUOTE_LIMIT_V4
        } else {
            QUOTE_LIMIT_V6
        };
        let quoted = payload[..payload.len().min(limit)].to_vec();
        let header = Header {
            source: SocketAddr::new(from, 0),
            destination: SocketAddr::new(self.source.ip(), 0),
            ttl: DEFAULT_TTL,
            origin,
            kind: Kind::Unreachable(Unreachable {
                kind,
                quoted_source: self.source,
                quoted_destination: self.destination,
            }),
            ladder: None,
        };
        Some((header, quoted))
    }

    /// The packet's addresses as a middlebox sees and may change them.
    pub(super) fn addresses(&self) -> super::middlebox::Addresses {
        super::middlebox::Addresses {
            source: self.source,
            destination: self.destination,
            quoted: match self.kind {
                Kind::Udp => None,
                Kind::Unreachable(unreachable) => {
                    Some((unreachable.quoted_source, unreachable.quoted_destination))
                }
            },
        }
    }

    /// Take a middlebox's changes.
    pub(super) fn set_addresses(&mut self, addresses: &super::middlebox::Addresses) {
        self.source = addresses.source;
        self.destination = addresses.destination;
        if let (Kind::Unreachable(unreachable), Some((source, destination))) =
            (&mut self.kind, addresses.quoted)
        {
            unreachable.quoted_source = source;
            unreachable.quoted_destination = destination;
        }
    }
}
