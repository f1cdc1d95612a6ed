//! Capture taps on the world's interfaces: a pcapng file of what left a host or router by
//! one interface (before the link's faults, with why it was sent and what the link did to it)
//! and what arrived by it (after them, with what became of it there), in simulated time. The
//! records wait as in the two-host simulator's taps (`sim/tap.rs`) until the link's queue has
//! decided their fate, so each file stays in time order. The unreachables the world's nodes
//! send are there too, as ICMP (or ICMPv6) destination unreachables quoting the datagram.

use std::collections::BTreeMap;
use std::io;

use std::net::SocketAddr;

use super::datagram::{Header, Kind, UnreachableKind};
use super::topology::LinkId;
use crate::capture::Unreachable;
use crate::sim::tap::{Quote, Tap};
use crate::sim::HostCapture;
use crate::time::Instant;

/// A datagram's addresses as a tap records them, with the quote of an unreachable.
fn addresses(header: &Header) -> (SocketAddr, SocketAddr, Option<Quote>) {
    let quote = match header.kind {
        Kind::Udp => None,
        Kind::Unreachable(unreachable) => Some(Quote {
            code: match unreachable.kind {
                UnreachableKind::Network => Unreachable::Network,
                UnreachableKind::Host => Unreachable::Host,
                UnreachableKind::Port => Unreachable::Port,
            },
            source: unreachable.quoted_source,
            destination: unreachable.quoted_destination,
        }),
    };
    (header.source, header.destination, quote)
}

/// The taps, by interface: a link and the side of it the tapped node is on.
#[derive(Debug, Default)]
pub(super) struct Taps {
    by_interface: BTreeMap<(LinkId, usize), Tap>,
}

impl Taps {
    /// From now on, write what crosses the interface at `side` of `link` to `capture`
    /// (replacing an earlier tap there, which is finished first).
    pub(super) fn tap(
        &mut self,
        link: LinkId,
        side: usize,
        capture: HostCapture,
    ) -> io::Result<()> {
        match self.by_interface.insert((link, side), Tap::new(capture, 0)) {
            Some(previous) => previous.finish(),
            None => Ok(()),
        }
    }

    /// The record number the next datagram leaving by this interface will have, if it is
    /// tapped.
    pub(super) fn next_record(&self, link: LinkId, side: usize) -> Option<u64> {
        self.by_interface.get(&(link, side)).map(Tap::next_record)
    }

    /// A datagram left by this interface at `now` and left the link's injector as `copies`:
    /// its frame number in the capture, if the interface is tapped.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sent(
        &mut self,
        link: LinkId,
        side: usize,
        now: Instant,
        header: &Header,
        bytes: &[u8],
        comments: Vec<String>,
        copies: usize,
    ) -> Option<u64> {
        let tap = self.by_interface.get_mut(&(link, side))?;
        let record = tap.offered(now, addresses(header), bytes, comments, copies);
        Some(tap.frame_of(record))
    }

    /// A copy of the datagram recorded as `record` reached the queue of the link leaving by
    /// this interface, which took it or dropped it (`drop_comment`).
    pub(super) fn entered_queue(
        &mut self,
        link: LinkId,
        side: usize,
        record: u64,
        drop_comment: Option<&str>,
    ) {
        if let Some(tap) = self.by_interface.get_mut(&(link, side)) {
            tap.entered_queue(record, drop_comment);
        }
    }

    /// A datagram arrived by this interface at `now`; `comments` say what became of it. Its
    /// frame number in the capture, if the interface is tapped.
    pub(super) fn received(
        &mut self,
        link: LinkId,
        side: usize,
        now: Instant,
        header: &Header,
        bytes: &[u8],
        comments: Vec<String>,
    ) -> Option<u64> {
        let tap = self.by_interface.get_mut(&(link, side))?;
        let record = tap.received_with(now, addresses(header), bytes, comments);
        Some(tap.frame_of(record))
    }

    /// Whether this interface is tapped (so that comments are worth building).
    pub(super) fn is_tapped(&self, link: LinkId, side: usize) -> bool {
        self.by_interface.contains_key(&(link, side))
    }

    /// Write out what the taps still hold and flush them; the first error, if any.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for tap in std::mem::take(&mut self.by_interface).into_values() {
            let finished = tap.finish();
            if result.is_ok() {
                result = finished;
            }
        }
        result
    }
}
