//! The ladder (sequence) diagram of a run, as a teaching text draws a TCP exchange: one
//! vertical time line per host, time running down, and each datagram a slanted arrow from the
//! moment one host sent it to the moment another received it, so that propagation delay and
//! serialization show as the slope and the spacing. Each arrow is labelled with its flags,
//! relative sequence and acknowledgment numbers, length, SACK blocks and the reason it was
//! sent; a datagram the link dropped ends in a cross halfway across, named with the fault; a
//! corrupted one is drawn dashed in red; and the timers that fired (retransmission timeout,
//! tail loss probe, persist, keepalive, delayed ACK, RACK's reordering window) are marked on
//! their host's line. `ferry sim --ladder FILE.svg` and `--ladder FILE.html`.
//!
//! The input is a [`Ladder`]: a list of hosts and a list of [`Datagram`] records (sent at, from,
//! to, arrived at or dropped and why, the segment), not two hosts A and B, so that any
//! simulated network can feed it. The simulator records one when asked
//! ([`crate::sim::Observers::ladder`]), and so does a simulated world, a line per host
//! ([`crate::sim::world::World::record_ladder`]).
//!
//! Two outputs, one drawing: [`ladder_svg`] writes a standalone SVG (each arrow's details in
//! its tooltip); [`ladder_html`] writes a page holding the same SVG and a script, with no
//! external resource (it works offline), that zooms and pans the time axis and shows a
//! clicked arrow's details, including its frame number in the sender's and the receiver's
//! captures (`ferry sim --pcap` of the same run).
//!
//! Long runs stay usable in two ways: a [`LadderOptions::window`] of time (`--ladder-window
//! 0.1s..0.5s`) keeps only what was sent in it, and at most
//! [`LadderOptions::max_datagrams`] datagrams are kept (the rest are counted in
//! [`Ladder::omitted`] and the drawing says so). Within the window, labels closer than a
//! line's height to the previous one from the same host are hidden until a zoom makes room.
//!
//! `mod.rs` holds the records; `text.rs` the relative numbers and the words of labels and
//! details; `svg.rs` the drawing; `html.rs` the page, with its script in `ladder.js`.

mod html;
mod svg;
#[cfg(test)]
mod tests;
mod text;

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use crate::conn::Reason;
use crate::wire::{Flags, Segment, SeqNum};

pub use html::ladder_html;
pub use svg::ladder_svg;

/// What a ladder diagram shows: hosts, the datagrams between them, the timers that fired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// The hosts, one time line each, drawn left to right in this order.
    pub hosts: Vec<LadderHost>,
    /// Every copy of every datagram put on a link, in the order sent (a duplicated datagram is
    /// two copies, one after the other).
    pub datagrams: Vec<Datagram>,
    /// The timers that fired, as far as the recorder could tell (see [`FiredTimer`]).
    pub timers: Vec<TimerMark>,
    /// The time drawn: datagrams sent and timers fired in it (since the run's start).
    pub window: Range<Duration>,
    /// Datagrams sent in the window that were not kept, beyond
    /// [`LadderOptions::max_datagrams`].
    pub omitted: u64,
}

/// One host's time line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderHost {
    /// Its name above the line, such as `A`.
    pub name: String,
    /// Its address, shown under the name: `10.0.0.1:4000`, or a world host's addresses.
    pub address: String,
    /// The capture its frame numbers count in, when it is not "NAME's capture": a world
    /// host's interface capture, `peer1-nat1.pcapng`.
    pub capture: Option<String>,
}

/// One copy of a datagram on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sending host (an index into [`Ladder::hosts`]).
    pub from: usize,
    /// The host it was sent to.
    pub to: usize,
    /// The sender's address and port.
    pub source: SocketAddr,
    /// The receiver's address and port: in a world, where the datagram was delivered (behind
    /// a NAT, not the address it was sent to), or for one that never arrived, where it was
    /// sent.
    pub destination: SocketAddr,
    /// When it was sent, since the run's start.
    pub sent_at: Duration,
    /// The segment as sent, if the datagram was one.
    pub segment: Option<SegmentSummary>,
    /// What a datagram that is no Ferry segment is, in a few words: a rendezvous message
    /// (`REGISTER "peer1" for "peer2"`), an unreachable. `None` for a segment, or bytes the
    /// recorder cannot name.
    pub description: Option<String>,
    /// Its length in bytes, as sent.
    pub len: usize,
    /// Why the sender sent it, if it was a connection's or an endpoint's segment.
    pub reason: Option<Reason>,
    /// What the link did to it besides carrying it (`delayed 3 ms`, `bit 113 flipped`,
    /// `duplicated`), if anything.
    pub link: Option<String>,
    /// The second copy of a duplicated datagram.
    pub duplicate: bool,
    /// What became of it.
    pub fate: Fate,
    /// Its frame number in the sender's capture (`ferry sim --pcap`), counting from 1; `None`
    /// when the recorder cannot tell (a world interface that is not captured).
    pub sender_frame: Option<u64>,
}

/// What became of a datagram on its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It reached the receiver.
    Arrived {
        /// When.
        at: Duration,
        /// Whether it passed the receiver's checks (a flipped bit fails the CRC, and the
        /// receiver discards it).
        intact: bool,
        /// Its frame number in the receiver's capture.
        receiver_frame: Option<u64>,
    },
    /// The link lost it.
    Dropped {
        /// When the link decided to (at the sender for the fault injector, at the queue for a
        /// full queue).
        at: Duration,
        /// Why, as the sender's capture comment says it: `dropped (loss)`.
        cause: String,
    },
    /// The run ended before it arrived.
    InFlight,
}

/// The fields of a segment a ladder shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Its flags.
    pub flags: Flags,
    /// Its sequence number.
    pub seq: SeqNum,
    /// Its acknowledgment number.
    pub ack: SeqNum,
    /// The window it advertises.
    pub window: u32,
    /// Its payload length.
    pub len: u32,
    /// Its SACK blocks, as `(left, right)`.
    pub sack: Vec<(SeqNum, SeqNum)>,
}

impl SegmentSummary {
    /// The summary of a datagram, if it is a valid segment.
    pub fn parse(datagram: &[u8]) -> Option<SegmentSummary> {
        let segment = Segment::parse(datagram).ok()?;
        Some(SegmentSummary {
            flags: segment.flags,
            seq: segment.seq,
            ack: segment.ack,
            window: segment.window,
            len: u32::try_from(segment.payload.len()).unwrap_or(u32::MAX),
            sack: segment
                .sack
                .as_slice()
                .iter()
                .map(|block| (block.left, block.right))
                .collect(),
        })
    }
}

/// A timer that fired on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerMark {
    /// The host (an index into [`Ladder::hosts`]).
    pub host: usize,
    /// When, since the run's start.
    pub at: Duration,
    /// Which.
    pub timer: FiredTimer,
}

/// The timers a ladder marks. A connection does not report its timers' expiries, so the
/// simulator infers each from what the host sent at that moment (see
/// `src/sim/ladder.rs`): a timer that fired and sent nothing is not marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiredTimer {
    /// The retransmission timer (RFC 6298 section 5), its `expiry`-th consecutive expiry.
    Retransmission {
        /// 1 for the first expiry, 2 for the one after it backed off, ...
        expiry: u32,
    },
    /// The tail loss probe timer (RFC 8985 section 7).
    LossProbe,
    /// The persist timer: a zero-window probe is due (RFC 9293 section 3.8.6.1).
    Persist,
    /// The keepalive timer (RFC 9293 section 3.8.4).
    Keepalive,
    /// The delayed ACK timer (RFC 5681 section 4.2).
    DelayedAck,
    /// RACK's reordering window passed for a segment in flight (RFC 8985 section 6.3).
    RackReordering,
    /// The retransmission timer, brought forward to max(SRTT / 2, 10 ms) when the peer
    /// seemed to renege on SACKed data, found that it had (RFC 2018 section 8).
    Renege,
}

impl fmt::Display for FiredTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FiredTimer::Retransmission { expiry } => write!(f, "RTO #{expiry}"),
            FiredTimer::LossProbe => f.write_str("TLP"),
            FiredTimer::Persist => f.write_str("persist"),
            FiredTimer::Keepalive => f.write_str("keepalive"),
            FiredTimer::DelayedAck => f.write_str("delayed ACK"),
            FiredTimer::RackReordering => f.write_str("RACK reordering"),
            FiredTimer::Renege => f.write_str("renege"),
        }
    }
}

/// What a recorder keeps for a ladder: the window of time and how many datagrams at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderOptions {
    /// Keep the datagrams sent, and the timers fired, in this interval since the run's start.
    pub window: Range<Duration>,
    /// Keep at most this many datagrams sent in the window (the first ones); count the rest.
    pub max_datagrams: usize,
}

/// The most datagrams a ladder keeps by default: about what a browser still zooms smoothly,
/// and ten times a 3000-byte transfer's worth of the lab's samples.
pub const DEFAULT_MAX_DATAGRAMS: usize = 5000;

impl Default for LadderOptions {
    /// The whole run, at most [`DEFAULT_MAX_DATAGRAMS`].
    fn default() -> LadderOptions {
        LadderOptions {
            window: Duration::ZERO..Duration::MAX,
            max_datagrams: DEFAULT_MAX_DATAGRAMS,
        }
    }
}

impl Datagram {
    /// Whether it was sent in the ladder's window (only those are drawn).
    fn in_window(&self, window: &Range<Duration>) -> bool {
        window.contains(&self.sent_at)
    }
}
