//! The ladder diagram of a world run ([`crate::ladder`],
//! [`World::record_ladder`](super::World::record_ladder)): one time line per host of the
//! world, in the order the description named them, and each datagram a host sent an arrow from
//! its sender at its send time to the host it was delivered to at its arrival, end to end
//! across the routers between them.
//!
//! - **Routers get no line.** A datagram's arrow crosses them; what they did to it is in its
//!   details (a NAT's rewrite, a link's delay or flipped bit, hop by hop), and a datagram a
//!   router dropped ends in a cross labelled with the router's reason and name:
//!   `dropped by NAT 4.5.6.7: no mapping for 1.2.3.4:4000 (...) (at nat2)`. A link's drop
//!   names the fault and the link: `dropped (loss) on nat1→internet`. An unreachable a router
//!   sends back is not drawn (it comes from no host's line); the cross of the datagram it
//!   answers says it was sent.
//! - **The receiving host** is the one the datagram was delivered to, not the owner of its
//!   destination address (a NAT rewrites that). For a datagram that never arrived, it is the
//!   host its destination address belongs to; if a router's (a NAT's public address), the
//!   first host beyond that router, away from the sender (for a NAT, a host it hides): the
//!   line the arrow was heading for. An address no node has counts as the router's where the
//!   routes end. If no host can be found that way, the arrow ends on its sender's own line.
//! - **Non-segments** are arrows too: a rendezvous message is labelled as it prints
//!   (`REGISTER peer1 -> peer2`), an unreachable a host sends back by its kind, any other UDP
//!   payload as `UDP`.
//! - **Timers** are inferred as the two-host recorder infers them ([`crate::sim::ladder`]):
//!   from what a socket's endpoint sent at a moment one of its timers fell due.
//! - **Frames.** The world's captures are per interface (`NODE-NEIGHBOR.pcapng`,
//!   [`World::capture_every_interface`](super::World::capture_every_interface)). A host with
//!   one interface has its frame numbers
//!   shown, in that file, when the interface is tapped; a host with several interfaces has
//!   none (its line does not say which file holds a frame), nor has an untapped interface.
//! - **Bounds.** The window and the cap of [`LadderOptions`] hold as in the two-host
//!   recorder; the datagrams followed are those kept, each a handful of indices.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::datagram::{Header, Kind};
use super::links::WorldLink;
use super::topology::{NodeId, Nodes};
use crate::conn::Reason;
use crate::ladder::{Datagram, Fate, Ladder, LadderHost, LadderOptions, SegmentSummary};
use crate::link::Offered;
use crate::rendezvous::message::{is_rendezvous, Message};
use crate::sim::ladder::LadderKeeper;
use crate::time::Instant;

/// A datagram a host put on its first link, as the recorder takes it.
pub(super) struct Departure<'a> {
    pub(super) host: NodeId,
    pub(super) header: &'a Header,
    pub(super) bytes: &'a [u8],
    /// Why, for a connection's segment.
    pub(super) reason: Option<Reason>,
    /// What the first link did ([`Offered`]), or `None` for a partitioned link (dropped).
    pub(super) offered: Option<&'a Offered>,
    /// The link's name, `peer1→nat1`.
    pub(super) link: String,
    /// Its frame in the capture of the interface it left by, if that is tapped.
    pub(super) frame: Option<u64>,
}

/// Records a [`Ladder`] of a world.
#[derive(Debug)]
pub(super) struct WorldLadder {
    keeper: LadderKeeper,
    /// Each host's line, by node.
    lines: BTreeMap<NodeId, usize>,
    /// The datagrams kept and still on their way, by [`Header::ladder`]: the ladder's indices
    /// of their copies not yet arrived or dropped, oldest first.
    on_the_way: BTreeMap<u64, Vec<usize>>,
    /// The number the next datagram a host sends gets.
    next_number: u64,
    /// The line a datagram from a node to an address is heading for, as found once.
    heading: BTreeMap<(NodeId, IpAddr), Option<usize>>,
}

impl WorldLadder {
    /// A recorder of the hosts of `nodes`, with `links` between them.
    pub(super) fn new(nodes: &Nodes, links: &[WorldLink], options: LadderOptions) -> WorldLadder {
        let mut lines = BTreeMap::new();
        let mut hosts = Vec::new();
        for (id, node) in nodes.list.iter().enumerate() {
            if node.host().is_none() {
                continue;
            }
            lines.insert(id, hosts.len());
            let addresses: Vec<String> = node.addresses.iter().map(IpAddr::to_string).collect();
            // One interface: one capture holds all its frames.
            let capture = match node.interfaces.as_slice() {
                [only] => {
                    let neighbor = links[only.link].far_end(only.side);
                    Some(format!(
                        "{}-{}.pcapng",
                        node.name, nodes.list[neighbor].name
                    ))
                }
                _ => None,
            };
            hosts.push(LadderHost {
                name: node.name.clone(),
                address: addresses.join(", "),
                capture,
            });
        }
        WorldLadder {
            keeper: LadderKeeper::new(hosts, options),
            lines,
            on_the_way: BTreeMap::new(),
            next_number: 0,
            heading: BTreeMap::new(),
        }
    }

    /// The number a datagram a host is about to send carries ([`Header::ladder`]).
    pub(super) fn number(&mut self) -> u64 {
        self.next_number += 1;
        self.next_number
    }

    /// Node `node`'s timers fell due at `now` (before its sockets handle them).
    pub(super) fn timer_due(&mut self, node: NodeId, now: Instant) {
        if let Some(&line) = self.lines.get(&node) {
            self.keeper.timer_due(line, now);
        }
    }

    /// A host sent a datagram, now on its first link: keep it if the window has room.
    pub(super) fn sent(
        &mut self,
        now: Instant,
        departure: Departure<'_>,
        nodes: &Nodes,
        links: &[WorldLink],
    ) {
        let (Some(number), Some(&from)) =
            (departure.header.ladder, self.lines.get(&departure.host))
        else {
            return;
        };
        let header = departure.header;
        let copies = departure.offered.map_or(0, |offered| offered.copies);
        let (segment, description) = match header.kind {
            Kind::Udp => match SegmentSummary::parse(departure.bytes) {
                Some(segment) => (Some(segment), None),
                None => (None, Some(describe(departure.bytes))),
            },
            Kind::Unreachable(unreachable) => (
                None,
                Some(format!(
                    "{} about {} > {}",
                    unreachable.kind, unreachable.quoted_source, unreachable.quoted_destination
                )),
            ),
        };
        if !self
            .keeper
            .admit(now, from, departure.reason, segment.as_ref(), copies.max(1))
        {
            return;
        }
        let to = self
            .heading(departure.host, header.destination.ip(), nodes, links)
            .unwrap_or(from);
        let at = now.since_epoch();
        let (fate, link) = match departure.offered {
            None => (
                Fate::Dropped {
                    at,
                    cause: format!("dropped ({} partitioned)", departure.link),
                },
                None,
            ),
            Some(offered) if offered.copies == 0 => (
                Fate::Dropped {
                    at,
                    cause: link_drop(offered, &departure.link),
                },
                None,
            ),
            Some(offered) => (Fate::InFlight, link_note(offered, &departure.link)),
        };
        let first = self.keeper.ladder.datagrams.len();
        let sender_frame = self.frame(from, departure.frame);
        for copy in 0..copies.max(1) {
            self.keeper.ladder.datagrams.push(Datagram {
                from,
                to,
                source: header.source,
                destination: header.destination,
                sent_at: at,
                segment: segment.clone(),
                description: description.clone(),
                len: departure.bytes.len(),
                reason: departure.reason,
                link: link.clone(),
                duplicate: copy > 0,
                fate: fate.clone(),
                sender_frame,
            });
        }
        if copies > 0 {
            self.on_the_way
                .insert(number, (first..first + copies).collect());
        }
    }

    /// A router put a copy of datagram `number` on its next link, `link`, which did
    /// `offered`: the copy goes on, is lost, or is two now.
    pub(super) fn forwarded(&mut self, now: Instant, number: u64, offered: &Offered, link: &str) {
        if offered.copies == 0 {
            self.dropped(now, number, link_drop(offered, link));
            return;
        }
        let note = link_note(offered, link);
        let Some(copies) = self.on_the_way.get_mut(&number) else {
            return;
        };
        let Some(&index) = copies.first() else {
            return;
        };
        let datagrams = &mut self.keeper.ladder.datagrams;
        if let Some(note) = note {
            add_note(&mut datagrams[index].link, &note);
        }
        if offered.copies > 1 {
            let mut second = datagrams[index].clone();
            second.duplicate = true;
            copies.push(datagrams.len());
            datagrams.push(second);
        }
    }

    /// What a router did to datagram `number` besides forwarding it (a NAT's rewrite), for its
    /// details.
    pub(super) fn noted(&mut self, number: u64, note: &str) {
        let Some(&index) = self
            .on_the_way
            .get(&number)
            .and_then(|copies| copies.first())
        else {
            return;
        };
        add_note(&mut self.keeper.ladder.datagrams[index].link, note);
    }

    /// A copy of datagram `number` was lost at `now`, for `cause`.
    pub(super) fn dropped(&mut self, now: Instant, number: u64, cause: String) {
        if let Some(index) = self.resolve(number) {
            self.keeper.ladder.datagrams[index].fate = Fate::Dropped {
                at: now.since_epoch(),
                cause,
            };
        }
    }

    /// A datagram reached host `host` at `now` as `header` and `bytes`, its frame `frame` in
    /// the capture of the interface it came by.
    pub(super) fn arrived(
        &mut self,
        now: Instant,
        host: NodeId,
        (header, bytes): (&Header, &[u8]),
        frame: Option<u64>,
    ) {
        let Some(&line) = self.lines.get(&host) else {
            return;
        };
        self.keeper.received(line, now);
        let Some(index) = header.ladder.and_then(|number| self.resolve(number)) else {
            return;
        };
        let receiver_frame = self.frame(line, frame);
        let datagram = &mut self.keeper.ladder.datagrams[index];
        // What the receiver's parser rejects (a flipped bit fails the CRC), it discards.
        let intact = match (&datagram.segment, is_rendezvous(bytes)) {
            (Some(_), _) => crate::wire::Segment::parse(bytes).is_ok(),
            (None, true) => Message::parse(bytes).is_ok(),
            (None, false) => true,
        };
        datagram.to = line;
        // The receiver's socket, behind any NAT: with the sender's own, the two ends of the
        // connection, which the relative sequence numbers pair up by.
        datagram.destination = header.destination;
        datagram.fate = Fate::Arrived {
            at: now.since_epoch(),
            intact,
            receiver_frame,
        };
    }

    /// A frame number of line `line`'s capture, if the line names one (a host of one
    /// interface): another host's frame would not say which of its captures holds it.
    fn frame(&self, line: usize, frame: Option<u64>) -> Option<u64> {
        let named = self.keeper.ladder.hosts.get(line)?.capture.is_some();
        frame.filter(|_| named)
    }

    /// The oldest copy of datagram `number` still on its way, now resolved.
    fn resolve(&mut self, number: u64) -> Option<usize> {
        let copies = self.on_the_way.get_mut(&number)?;
        let index = (!copies.is_empty()).then(|| copies.remove(0));
        if copies.is_empty() {
            self.on_the_way.remove(&number);
        }
        index
    }

    /// The line a datagram from `from` to `destination` heads for (see the module's
    /// documentation), found once per pair.
    fn heading(
        &mut self,
        from: NodeId,
        destination: IpAddr,
        nodes: &Nodes,
        links: &[WorldLink],
    ) -> Option<usize> {
        if let Some(&line) = self.heading.get(&(from, destination)) {
            return line;
        }
        let line = heading(from, destination, nodes, links)
            .and_then(|host| self.lines.get(&host).copied());
        self.heading.insert((from, destination), line);
        line
    }

    /// The ladder recorded: datagrams still on their way stay in flight.
    pub(super) fn finish(self) -> Ladder {
        self.keeper.finish()
    }
}

/// The host a datagram from `from` to `destination` heads for: the one with that address,
/// else the nearest host beyond the router that has it (or where the routes end), not going
/// back the way the datagram would come.
fn heading(
    from: NodeId,
    destination: IpAddr,
    nodes: &Nodes,
    links: &[WorldLink],
) -> Option<NodeId> {
    // Follow the routes to the node with the address, or as far as they go.
    let mut node = from;
    let mut came_by = None;
    for _ in 0..usize::from(super::DEFAULT_TTL) {
        if node != from && nodes.list[node].owns(destination) {
            break;
        }
        let Some(interface) = nodes.list[node].routes.lookup(destination) else {
            break;
        };
        let attachment = nodes.list[node].interfaces[interface];
        came_by = Some(attachment.link);
        node = links[attachment.link].far_end(attachment.side);
    }
    if node == from {
        return None;
    }
    // Breadth first from there, never back over the link it came by nor to the sender.
    let mut seen = vec![false; nodes.list.len()];
    seen[from] = true;
    seen[node] = true;
    let mut queue = std::collections::VecDeque::from([node]);
    while let Some(at) = queue.pop_front() {
        if nodes.list[at].host().is_some() {
            return Some(at);
        }
        for attachment in &nodes.list[at].interfaces {
            if Some(attachment.link) == came_by && at == node {
                continue;
            }
            let next = links[attachment.link].far_end(attachment.side);
            if !std::mem::replace(&mut seen[next], true) {
                queue.push_back(next);
            }
        }
    }
    None
}

/// A UDP payload that is no Ferry segment, in words: a rendezvous message as it prints, or
/// `UDP`.
fn describe(bytes: &[u8]) -> String {
    match Message::parse(bytes) {
        Ok(message) if is_rendezvous(bytes) => message.to_string(),
        _ if is_rendezvous(bytes) => "rendezvous message (malformed)".to_string(),
        _ => "UDP".to_string(),
    }
}

/// The cross of a datagram a link's fault injector, or its full queue, lost.
fn link_drop(offered: &Offered, link: &str) -> String {
    match offered.decision.dropped {
        Some(cause) => format!("dropped ({cause}) on {link}"),
        // The link's delay line was full: counted as a queue drop.
        None => format!("dropped (queue full) on {link}"),
    }
}

/// What a link did to a datagram besides carrying it, with its name, if anything.
fn link_note(offered: &Offered, link: &str) -> Option<String> {
    (offered.decision != crate::fault::Decision::default())
        .then(|| format!("{link}: {}", offered.decision))
}

/// Add `note` to a datagram's notes on its way.
fn add_note(notes: &mut Option<String>, note: &str) {
    match notes {
        Some(notes) => {
            notes.push_str("; ");
            notes.push_str(note);
        }
        None => *notes = Some(note.to_string()),
    }
}
