//! The hook a router offers to whatever sits in the path: a [`Middlebox`] sees every datagram
//! that crosses the router, and may let it pass, rewrite its addresses, or drop it with a
//! reason. A NAT ([`Nat`](super::Nat): RFC 4787's mapping and filtering) is one: it keeps its
//! mappings as state, reads the world's time from each crossing to expire them, rewrites the
//! source of what goes out and the destination of what comes back, and drops what its filter
//! refuses.
//!
//! The endpoints never know a middlebox is there, exactly as on a real network.

use std::any::Any;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::datagram::UnreachableKind;

/// One of a router's interfaces: where a datagram came in or goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface<'a> {
    /// Its position among the router's interfaces, in the order the links were described.
    pub index: usize,
    /// The node at the other end of the interface's link.
    pub neighbor: &'a str,
}

/// A datagram crossing a router, as its middlebox sees it.
#[derive(Clone, Copy, Debug)]
pub struct Crossing<'a> {
    /// The world's time: since the run started.
    pub now: Duration,
    /// Where it came in.
    pub ingress: Interface<'a>,
    /// Where the routing table sends it: `None` when it is addressed to one of the router's
    /// own addresses (as a NAT's replies are, before the NAT rewrites their destination) or
    /// when no route matches. After a middlebox changes the destination, the router looks
    /// the route up again.
    pub egress: Option<Interface<'a>>,
    /// What it carries: a UDP payload, or an unreachable (with the quoted payload).
    pub payload: Payload<'a>,
}

/// What a crossing datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A UDP payload: a Ferry segment, or whatever a program's UDP socket sent.
    Udp(&'a [u8]),
    /// An ICMP-style unreachable, quoting the first bytes of the datagram it is about.
    Unreachable {
        /// Why the destination is unreachable.
        kind: UnreachableKind,
        /// The quoted payload.
        quoted: &'a [u8],
    },
}

/// A crossing datagram's addresses, which a middlebox may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// The source.
    pub source: SocketAddr,
    /// The destination; a change makes the router look the route up again.
    pub destination: SocketAddr,
    /// For an unreachable, the source and destination of the datagram it quotes, which a NAT
    /// translates too (RFC 5508 section 4.2); `None` for a UDP datagram.
    pub quoted: Option<(SocketAddr, SocketAddr)>,
}

/// What a middlebox does with a crossing datagram. A rewrite is a change to the
/// [`Addresses`] it was given, then [`Verdict::Forward`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it on (with the addresses as the middlebox left them).
    Forward,
    /// Drop it.
    Drop {
        /// What the router counts it under
        /// ([`RouterStats::middlebox_drops`](super::RouterStats::middlebox_drops)): short
        /// and stable (`"no mapping"`, `"filtered"`), never an address, so that the counters
        /// stay few whatever arrives.
        reason: String,
        /// The capture's comment, after `dropped by` and the middlebox's
        /// [`name`](Middlebox::name): `no mapping for 1.2.3.4:4000`.
        detail: String,
    },
}

/// Where a middlebox is put, as the world tells it once, when it is built
/// ([`Middlebox::attach`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Placement<'a> {
    /// The router's name.
    pub router: &'a str,
    /// The router's addresses, the first the one its description gave (`.router(name,
    /// address)`).
    pub addresses: &'a [IpAddr],
    /// The node at the other end of each of the router's interfaces, by interface index.
    pub neighbors: &'a [String],
    /// A seed derived from the world's and the router's, for whatever the middlebox draws at
    /// random (a NAT's random ports): so the world stays a pure function of its seed, and
    /// another seed gives other draws.
    pub seed: u64,
}

/// What lets the world hand a middlebox back as the type it was given as
/// ([`World::middlebox`](super::World::middlebox)). Every `'static` type has it: nothing to
/// write. (Sealed: a trait of a private module, so nobody calls it from outside.)
mod sealed {
    use std::any::Any;

    pub trait AsAny {
        fn as_any(&self) -> &dyn Any;
    }

    impl<T: Any> AsAny for T {
        fn as_any(&self) -> &dyn Any {
            self
        }
    }
}

/// `middlebox` as a `M`, if it is one.
pub(super) fn downcast<M: Middlebox + 'static>(middlebox: &dyn Middlebox) -> Option<&M> {
    let any: &dyn Any = middlebox.as_any();
    any.downcast_ref::<M>()
}

/// Something in the path on a router: a NAT, a firewall. It sees every datagram the router
/// forwards, and may let it pass, rewrite its addresses, or drop it with a reason; it keeps
/// what state it likes (a NAT's mappings) and reads the world's time from each [`Crossing`].
/// The endpoints never know it is there, exactly as on a real network.
///
/// It is called once for each datagram the router forwards, in the order they cross, at the
/// world's time; it must decide from its own state and the crossing alone (never a clock or
/// randomness of its own) so that the world stays a pure function of its seed.
pub trait Middlebox: fmt::Debug + sealed::AsAny {
    /// Decide what happens to a datagram crossing the router; change `addresses` to rewrite.
    fn cross(&mut self, crossing: &Crossing<'_>, addresses: &mut Addresses) -> Verdict;

    /// What the captures call it: `dropped by NAT 4.5.6.7: ...`, `NAT 1.2.3.4 rewrote ...`.
    fn name(&self) -> String {
        "the middlebox".to_string()
    }

    /// Learn where it is, once, as the world is built: the router, its addresses and
    /// interfaces, and a seed. An error (the interface it was told of is not there, say) makes
    /// the build fail with [`ConfigError::Middlebox`](super::ConfigError::Middlebox), which
    /// names the router and quotes it.
    fn attach(&mut self, placement: &Placement<'_>) -> Result<(), String> {
        let _ = placement;
        Ok(())
    }
}
