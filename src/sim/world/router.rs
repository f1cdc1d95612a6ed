//! A router: it takes one off a datagram's TTL, looks its destination up (longest prefix),
//! lets its middlebox see it, and sends it out of the interface the route names. What it
//! cannot forward it drops, and counts by reason; a datagram with no route is answered with a
//! network unreachable, one addressed to the router itself with a port unreachable (it runs
//! no service), as a real router does (RFC 1812 sections 4.3.2 and 5.3.1).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::datagram::{Header, Kind, UnreachableKind};
use super::middlebox::{Addresses, Crossing, Interface, Middlebox, Payload, Verdict};
use super::topology::{Node, Role};

/// What a router counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// Datagrams sent on toward their destination.
    pub forwarded: u64,
    /// Datagrams dropped because their TTL ran out: a routing loop, or a path too long.
    pub ttl_exceeded: u64,
    /// Datagrams no route matched (answered with a network unreachable).
    pub unroutable: u64,
    /// Datagrams addressed to the router itself (answered with a port unreachable).
    pub addressed_to_router: u64,
    /// Datagrams its middlebox rewrote.
    pub rewritten: u64,
    /// Datagrams its middlebox dropped, by the reason it gave.
    pub middlebox_drops: BTreeMap<String, u64>,
}

/// A router's own state.
#[derive(Debug, Default)]
pub(super) struct Router {
    pub(super) middlebox: Option<Box<dyn Middlebox>>,
    pub(super) stats: RouterStats,
    /// The node at the far end of each interface, by interface index, for the middlebox.
    pub(super) neighbors: Vec<String>,
}

/// What a router does with a datagram that came in.
#[derive(Debug)]
pub(super) enum Forwarding {
    /// Out of interface `interface`, with the header as it leaves (TTL taken, addresses as
    /// the middlebox left them), and the capture comment of a rewrite.
    Forward {
        interface: usize,
        header: Header,
        rewrite: Option<String>,
    },
    /// Dropped, for this reason (the capture's comment).
    Drop(String),
    /// Dropped, and answered with this unreachable.
    Unreachable(UnreachableKind, String),
}

impl Router {
    /// Decide what `node` (this router) does with `header` (and its `bytes`) that came in by
    /// interface `ingress` at `now`.
    pub(super) fn forward(
        node: &mut Node,
        ingress: usize,
        now: Duration,
        mut header: Header,
        bytes: &[u8],
    ) -> Forwarding {
        let Node {
            addresses,
            routes,
            role,
            ..
        } = node;
        let Role::Router(router) = role else {
            return Forwarding::Drop("dropped: not a router".to_string());
        };
        // RFC 1812 section 5.3.1: a TTL that would reach zero ends the datagram here. (A real
        // router sends an ICMP time exceeded, a soft error Ferry's sockets ignore; this one
        // only counts it.)
        if header.ttl <= 1 {
            router.stats.ttl_exceeded += 1;
            return Forwarding::Drop("dropped: TTL exceeded (a routing loop?)".to_string());
        }
        header.ttl -= 1;
        let own = |destination: IpAddr| addresses.contains(&destination.to_canonical());
        let route = |destination: IpAddr| match own(destination) {
            true => None,
            false => routes.lookup(destination),
        };
        let mut egress = route(header.destination.ip());
        let mut rewrite = None;
        let neighbors = &router.neighbors;
        let interface = |index: usize| Interface {
            index,
            neighbor: neighbors.get(index).map_or("", String::as_str),
        };
        if let Some(middlebox) = router.middlebox.as_mut() {
            let before = header.addresses();
            let mut addresses = before;
            let payload = match header.kind {
                Kind::Udp => Payload::Udp(bytes),
                Kind::Unreachable(unreachable) => Payload::Unreachable {
                    kind: unreachable.kind,
                    quoted: bytes,
                },
            };
            let crossing = Crossing {
                now,
                ingress: interface(ingress),
                egress: egress.map(interface),
                payload,
            };
            if let Verdict::Drop { reason, detail } = middlebox.cross(&crossing, &mut addresses) {
                let comment = format!("dropped by {}: {detail}", middlebox.name());
                *router.stats.middlebox_drops.entry(reason).or_default() += 1;
                return Forwarding::Drop(comment);
            }
            if addresses != before {
                router.stats.rewritten += 1;
                rewrite = Some(rewrite_comment(&middlebox.name(), &before, &addresses));
                header.set_addresses(&addresses);
                egress = route(header.destination.ip());
            }
        }
        match egress {
            Some(interface) => {
                router.stats.forwarded += 1;
                Forwarding::Forward {
                    interface,
                    header,
                    rewrite,
                }
            }
            None if own(header.destination.ip()) => {
                router.stats.addressed_to_router += 1;
                Forwarding::Unreachable(
                    UnreachableKind::Port,
                    "addressed to the router, which runs no service".to_string(),
                )
            }
            None => {
                router.stats.unroutable += 1;
                Forwarding::Unreachable(
                    UnreachableKind::Network,
                    format!("no route to {}", header.destination.ip()),
                )
            }
        }
    }
}

/// The capture's comment on a datagram a middlebox rewrote: `NAT 1.2.3.4 rewrote
/// 192.168.1.2:4000 > 4.5.6.7:5000 to 1.2.3.4:4000 > 4.5.6.7:5000`, and for an unreachable the
/// datagram it quotes, before and after, when that changed too.
fn rewrite_comment(name: &str, before: &Addresses, after: &Addresses) -> String {
    let mut comment = format!(
        "{name} rewrote {} > {} to {} > {}",
        before.source, before.destination, after.source, after.destination
    );
    if let (Some(quoted_before), Some(quoted_after)) = (before.quoted, after.quoted) {
        if quoted_before != quoted_after {
            comment.push_str(&format!(
                " (quoting {} > {}, now {} > {})",
                quoted_before.0, quoted_before.1, quoted_after.0, quoted_after.1
            ));
        }
    }
    comment
}
