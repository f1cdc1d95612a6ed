//! The world's links: two nodes joined by one [`Link`] per direction (faults, rate and queue,
//! delay), each of which the world can cut (a partition: what is offered or in flight is
//! lost) or hold (what arrives waits at the far end until released).

use std::collections::VecDeque;

use super::datagram::Header;
use super::topology::NodeId;
use crate::link::seed::{derive_seed, link_seed, WORLD_LINKS};
use crate::link::{Link, LinkConfig};

/// What rides through a [`Link`] beside the bytes: the datagram's header, and its record in
/// the capture of the interface it left by, if that interface is tapped. The header is boxed:
/// a link's delay line is a heap that moves its entries as it orders them, and a header
/// (four socket addresses) would make each entry several times larger.
#[derive(Clone, Debug)]
pub(super) struct Carried {
    pub(super) header: Box<Header>,
    pub(super) record: Option<u64>,
}

/// One direction of a world link.
#[derive(Debug)]
pub(super) struct Direction {
    pub(super) link: Link<Carried>,
    /// Cut: what is offered, or arrives, is dropped.
    pub(super) partitioned: bool,
    /// Held: what arrives waits here, oldest first, until released.
    pub(super) held: Option<VecDeque<(Header, Vec<u8>)>>,
    /// Datagrams lost to a partition of this direction.
    pub(super) partition_drops: u64,
    /// Datagrams dropped because [`HOLD_LIMIT`] were held already.
    pub(super) hold_drops: u64,
    /// Bytes of the datagrams that reached the far end: the time the link spent sending, at
    /// its rate.
    pub(super) delivered_bytes: u64,
    /// The link's own rate ([`LinkConfig::rate_bps`]) and the fault spec's `rate=`, which
    /// replaces it while set: the rate in force is `spec_rate.or(own_rate)`.
    pub(super) own_rate: Option<u64>,
    pub(super) spec_rate: Option<u64>,
}

impl Direction {
    /// The rate the direction sends at now, in bits per second; `None` for no limit.
    pub(super) fn rate_bps(&self) -> Option<u64> {
        self.spec_rate.or(self.own_rate).filter(|&rate| rate > 0)
    }
}

/// How many datagrams a hold keeps (on a link direction, or between two hosts) before it
/// drops what else arrives: a hold is a queue, and memory stays bounded however long it
/// lasts (the link's own delay line holds as many).
pub const HOLD_LIMIT: usize = crate::link::DELAY_LINE_CAPACITY;

/// Two nodes and a direction each way: `directions[0]` carries what `ends[0]` sends.
#[derive(Debug)]
pub(super) struct WorldLink {
    pub(super) ends: [LinkEnd; 2],
    pub(super) directions: [Direction; 2],
}

/// A node and the index of its interface on this link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LinkEnd {
    pub(super) node: NodeId,
    pub(super) interface: usize,
}

impl WorldLink {
    /// Link number `index` of a world seeded with `seed`, joining `ends`, each direction
    /// configured by `configs` (from `ends[0]`, from `ends[1]`).
    pub(super) fn new(
        seed: u64,
        index: usize,
        ends: [LinkEnd; 2],
        configs: [LinkConfig; 2],
    ) -> WorldLink {
        let direction = |side: usize, config: LinkConfig| {
            // Each direction's own stream: the world's links stream, then the link's index
            // and the direction, then the spec's own `seed=`.
            let stream = (index as u64) * 2 + side as u64;
            let spec_seed = config.faults.seed;
            let (own_rate, spec_rate) = (config.rate_bps, config.faults.rate);
            Direction {
                link: Link::new(
                    config,
                    link_seed(derive_seed(seed, WORLD_LINKS), stream, spec_seed),
                ),
                partitioned: false,
                held: None,
                partition_drops: 0,
                hold_drops: 0,
                delivered_bytes: 0,
                own_rate,
                spec_rate,
            }
        };
        let [first, second] = configs;
        WorldLink {
            ends,
            directions: [direction(0, first), direction(1, second)],
        }
    }

    /// The node at the other end from `side`.
    pub(super) fn far_end(&self, side: usize) -> NodeId {
        self.ends[1 - side].node
    }

    /// Where what leaves by `side` arrives: the far node and its interface.
    pub(super) fn arrival(&self, side: usize) -> LinkEnd {
        self.ends[1 - side]
    }
}
