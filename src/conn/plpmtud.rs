//! Datagram packetization layer path MTU discovery (DPLPMTUD, RFC 8899): how large the
//! datagrams of one connection may be. Segments start at the base size, [`Config::mss`]
//! payload octets, which every path carries (RFC 8899 section 5.1.2's BASE_PLPMTU); the search
//! sends probes of larger sizes and takes a size once a probe of it is acknowledged (section
//! 5.2's SEARCHING), up to the largest size both ends allow (MAX_PLPMTU: this end's
//! [`Config::max_datagram`] and the MSS the peer's SYN offered, RFC 9293 section 3.7.1).
//!
//! The sizes here are segment payloads, as the send side counts them; a datagram is the
//! payload plus Ferry's header (and the secure mode's protection), which the connection adds.
//!
//! - A probe is a data segment of the probe's size, carrying new data (RFC 4821 section 7.4's
//!   choice, not RFC 8899 section 4.1's padding): the wire stays as it is, and the peer's
//!   ACK or SACK of those bytes confirms it (section 4.1's confirmation by acknowledgment).
//!   Its loss is not congestion (section 3, RFC 4821 section 7.6.2): the connection neither
//!   shrinks its window nor starts a recovery for it, and its bytes go again in base-sized
//!   segments.
//! - [`MAX_PROBES`] losses of one size (section 5.1.2) mark it too large; the search then
//!   halves the gap between the largest size confirmed and the smallest that failed, and
//!   stops when that gap is under [`SEARCH_GRANULARITY`] (SEARCH_COMPLETE).
//! - After [`RAISE_INTERVAL`] in SEARCH_COMPLETE the search starts again (section 5.1.1's
//!   PMTU_RAISE_TIMER), for a path that may have grown: a deadline looked at whenever data
//!   could go, as nothing is gained by probing a connection with nothing to send.
//! - Black-hole detection (sections 4.3 and 5.2, `black_hole.rs`): [`BLACK_HOLE_BURSTS`]
//!   bursts of lost datagrams larger than the base, each burst sent after the last larger
//!   datagram that was delivered, mean the path no longer carries the size: back to the base
//!   at once, and the search starts again after [`RAISE_INTERVAL`]. Datagrams lost one after
//!   another count once, so that random loss, which loses larger datagrams too, is not taken
//!   for a black hole.

use std::time::Duration;

use super::black_hole::{BlackHoleDetector, LostDatagram};
use super::retransmission::Delivered;
use super::{Connection, Reason, Transmit};
use crate::time::Instant;
use crate::wire::{Flags, SackBlock, SackBlocks, SACK_BLOCK_LEN};

#[cfg(doc)]
use super::black_hole::BLACK_HOLE_BURSTS;
#[cfg(doc)]
use super::{Config, Negotiated};

/// The largest datagram (UDP payload, Ferry's header included) every path carries: RFC 8899
/// section 5.1.2's BASE_PLPMTU for IPv6, whose minimum MTU of 1280 octets leaves 1232 past
/// the IPv6 and UDP headers. A base-sized segment and the SACK blocks it carries stay within
/// it while path MTU discovery is on (the default `Config::mss` leaves room for one block).
pub(crate) const BASE_DATAGRAM: usize = 1232;

/// Probes of one size that may be lost before the size counts as too large: RFC 8899 section
/// 5.1.2's MAX_PROBES, 3.
pub(crate) const MAX_PROBES: u32 = 3;

/// How long a completed search (or a black hole) lasts before the search starts again: RFC
/// 8899 section 5.1.1's PMTU_RAISE_TIMER, 600 s.
pub(crate) const RAISE_INTERVAL: Duration = Duration::from_secs(600);

/// The search stops once the largest size confirmed and the smallest that failed are closer
/// than this many octets: quinn's `BinarySearchState` threshold, 20. A step of less gains
/// under 2% of a datagram, at three lost probes per failed size.
pub(crate) const SEARCH_GRANULARITY: u32 = 20;

/// Where the search stands (RFC 8899 section 5.2's states, less DISABLED and ERROR: a
/// connection whose base does not get through fails by its user timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not searching: turned off, or the peer's MSS allows nothing above the base.
    Disabled,
    /// Probing for a larger size.
    Searching,
    /// At the size found (or the base, after a black hole) until `raise_at`.
    Complete { raise_at: Instant },
}

/// One connection's search: the size its data segments go at now, and the probe under way.
#[derive(Clone, Debug)]
pub(crate) struct PathMtuSearch {
    /// The base: the payload every path carries.
    base: u32,
    /// The most the search tries: MAX_PLPMTU as a payload.
    max: u32,
    /// The payload the path carries as far as known: RFC 8899's PLPMTU.
    current: u32,
    /// The smallest payload known not to get through (`max + 1` while none is).
    failed: u32,
    phase: Phase,
    /// The size of the probe in flight, if one is.
    probe_in_flight: Option<u32>,
    /// Probes of the next size lost so far (RFC 8899's PROBE_COUNT).
    probe_count: u32,
    /// The evidence of a black hole: larger datagrams lost, and delivered.
    black_hole: BlackHoleDetector,
    /// Black holes found, for the stats.
    black_holes: u64,
}

impl PathMtuSearch {
    /// A search from `base` to `max` payload octets, or none (`enabled` false, or `max` no
    /// larger than `base`): segments stay at `base`.
    pub(crate) fn new(base: u32, max: u32, enabled: bool) -> PathMtuSearch {
        let phase = if enabled && max > base {
            Phase::Searching
        } else {
            Phase::Disabled
        };
        PathMtuSearch {
            base,
            max: max.max(base),
            current: base,
            failed: max.max(base) + 1,
            phase,
            probe_in_flight: None,
            probe_count: 0,
            black_hole: BlackHoleDetector::default(),
            black_holes: 0,
        }
    }

    /// The base payload size.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// The payload size data segments go at now (PLPMTU).
    pub(crate) fn segment_size(&self) -> u32 {
        self.current
    }

    /// Black holes found so far.
    pub(crate) fn black_holes(&self) -> u64 {
        self.black_holes
    }

    /// Whether a probe is in flight.
    pub(crate) fn probe_in_flight(&self) -> bool {
        self.probe_in_flight.is_some()
    }

    /// The size of the probe to send now, if one is due: while searching with no probe in
    /// flight, or once the raise timer of a completed search has passed (which starts the
    /// search again).
    pub(crate) fn probe_due(&mut self, now: Instant) -> Option<u32> {
        if let Phase::Complete { raise_at } = self.phase {
            if now < raise_at {
                return None;
            }
            // Section 5.1.1: the raise timer restarts the search from what is known to work.
            self.failed = self.max + 1;
            self.probe_count = 0;
            self.phase = Phase::Searching;
        }
        if self.phase != Phase::Searching || self.probe_in_flight.is_some() {
            return None;
        }
        let next = self.next_size();
        if next.is_none() {
            self.phase = Phase::Complete {
                raise_at: now + RAISE_INTERVAL,
            };
        }
        next
    }

    /// The next size to try: the maximum first (one probe suffices on a path that carries
    /// it, Ethernet's), then halfway between what works and what failed. `None` once the gap
    /// is under [`SEARCH_GRANULARITY`].
    fn next_size(&self) -> Option<u32> {
        if self.failed > self.max {
            return (self.max > self.current).then_some(self.max);
        }
        let gap = self.failed - self.current;
        (gap > SEARCH_GRANULARITY).then(|| self.current + gap / 2)
    }

    /// A probe of `size` payload octets went.
    pub(crate) fn on_probe_sent(&mut self, size: u32) {
        self.probe_in_flight = Some(size);
    }

    /// The peer acknowledged the probe's first copy: the path carries its size (section 4.1's
    /// confirmation). Data segments go at it from now on.
    pub(crate) fn on_probe_acknowledged(&mut self, now: Instant) {
        let Some(size) = self.probe_in_flight.take() else {
            return;
        };
        self.current = self.current.max(size);
        self.probe_count = 0;
        if self.next_size().is_none() {
            self.phase = Phase::Complete {
                raise_at: now + RAISE_INTERVAL,
            };
        }
    }

    /// The probe was lost (loss detection or the timer marked it): after [`MAX_PROBES`] of
    /// one size, that size is too large.
    pub(crate) fn on_probe_lost(&mut self, now: Instant) {
        let Some(size) = self.probe_in_flight.take() else {
            return;
        };
        self.probe_count += 1;
        if self.probe_count < MAX_PROBES {
            return;
        }
        self.probe_count = 0;
        self.failed = self.failed.min(size);
        if self.next_size().is_none() {
            self.phase = Phase::Complete {
                raise_at: now + RAISE_INTERVAL,
            };
        }
    }

    /// Loss detection marked `lost` lost (probes aside). Returns whether that completed a
    /// black hole: then segments are back at the base.
    pub(crate) fn on_datagrams_lost(&mut self, now: Instant, lost: &mut [LostDatagram]) -> bool {
        if !self.black_hole.on_lost(lost) || self.current == self.base {
            return false;
        }
        // Section 5.2: "black hole detected" leads back to BASE; searching again waits
        // for the raise timer, so that a path that lost the size does not lose probes at
        // once too.
        self.black_holes += 1;
        self.current = self.base;
        self.probe_in_flight = None;
        self.probe_count = 0;
        self.phase = Phase::Complete {
            raise_at: now + RAISE_INTERVAL,
        };
        true
    }

    /// A datagram larger than the base, sent at `sent_at`, was delivered on its first copy:
    /// the path carried the size then.
    pub(crate) fn on_large_segment_delivered(&mut self, sent_at: Instant) {
        self.black_hole.on_large_delivered(sent_at);
    }
}

impl Connection {
    /// The SYNs settled the MSS and how far segments may grow ([`Negotiated::max_mss`]): the
    /// search runs between the two.
    pub(super) fn start_path_mtu_search(&mut self) {
        let max = u32::try_from(self.negotiated.max_mss).unwrap_or(u32::MAX);
        self.path_mtu = PathMtuSearch::new(self.negotiated.smss(), max, self.config.plpmtud);
    }

    /// A path MTU probe, if one is due and may go now: new data of the probe's size, which
    /// the congestion window (`room` octets free), the peer's window and the unsent data must
    /// all take whole. Not during a loss recovery, whose ACKs would not tell a lost probe from
    /// congestion (as Linux's `tcp_mtu_probe` waits for the Open state).
    pub(super) fn transmit_path_mtu_probe(&mut self, now: Instant, room: u32) -> Option<Transmit> {
        if self.in_recovery() || !self.state.may_send() {
            return None;
        }
        let snd_nxt = self.send.snd_nxt();
        let fin_seq = self.send.fin_sequence();
        if snd_nxt >= fin_seq {
            return None;
        }
        let unsent = fin_seq.wrapping_diff(snd_nxt);
        let window_end = self.send.snd_una() + self.send.snd_wnd();
        let window_room = if window_end > snd_nxt {
            window_end.wrapping_diff(snd_nxt)
        } else {
            0
        };
        // Enough to fill the probe, and the room to send it, before the search decides.
        if unsent <= self.smss() || window_room <= self.smss() {
            return None;
        }
        let size = self.path_mtu.probe_due(now)?;
        if size > unsent || size > window_room || size > room {
            // Not now: the probe stays due, and new data goes at the current size meanwhile.
            return None;
        }
        let flags = if self.send.fin_queued() && size == unsent {
            Flags::ACK | Flags::FIN
        } else {
            Flags::ACK
        };
        self.path_mtu.on_probe_sent(size);
        self.stats.path_mtu_probes += 1;
        self.on_new_data_sent(size);
        let transmit = self.transmit_new(now, flags, snd_nxt, size, Reason::PathMtuProbe);
        self.note_cwnd_usage(false);
        Some(transmit)
    }

    /// What an ACK `delivered` tells the search: a probe confirmed, larger datagrams getting
    /// through; and the losses loss detection found.
    pub(super) fn on_path_mtu_evidence(&mut self, now: Instant, delivered: &Delivered) {
        if let Some(sent_at) = delivered.newest_large_sent_at {
            self.path_mtu.on_large_segment_delivered(sent_at);
        }
        if delivered.probe_delivered {
            self.path_mtu.on_probe_acknowledged(now);
            self.congestion.set_segment_size(self.smss());
        }
        self.on_path_mtu_losses(now);
    }

    /// The losses of probes and larger datagrams that loss detection or the timer found since
    /// last asked.
    pub(super) fn on_path_mtu_losses(&mut self, now: Instant) {
        let (probe_lost, mut lost) = self.recovery.take_path_mtu_losses();
        if probe_lost && self.path_mtu.probe_in_flight() {
            self.stats.path_mtu_probes_lost += 1;
            self.path_mtu.on_probe_lost(now);
        }
        if !lost.is_empty() && self.path_mtu.on_datagrams_lost(now, &mut lost) {
            self.congestion.set_segment_size(self.smss());
        }
    }

    /// The most payload a new data segment carries now: the SMSS, less the SACK blocks it
    /// will carry when they would take it past the largest datagram the path is known to
    /// carry ([`largest_known_payload`](Self::largest_known_payload)), as Linux's
    /// `tcp_current_mss` leaves room for its SACK option. At least one octet.
    pub(super) fn segment_room(&self) -> u32 {
        let blocks = self.sack_blocks_owed() * SACK_BLOCK_LEN;
        let room = self.largest_known_payload().saturating_sub(blocks);
        u32::try_from(room)
            .unwrap_or(u32::MAX)
            .clamp(1, self.smss())
    }

    /// The most octets of payload and SACK blocks together that a datagram carries across
    /// every path it is known to: the base segment with the room it leaves within
    /// [`BASE_DATAGRAM`] (`CheckedSizes::base_sack_room`), or the PLPMTU's payload once a
    /// probe confirmed a larger one.
    fn largest_known_payload(&self) -> usize {
        let base = self.path_mtu.base() as usize + usize::from(self.sizes.base_sack_room);
        base.max(self.smss() as usize)
    }

    /// Keep the SACK blocks of a segment with `payload` octets within the largest datagram
    /// the path is known to carry ([`largest_known_payload`](Self::largest_known_payload)):
    /// within [`BASE_DATAGRAM`] at the base size, or the header and the PLPMTU's payload. A
    /// larger segment (a probe) carries none, so that it tests exactly its size. Blocks left
    /// out are sent again with later ACKs (RFC 2018 section 4 repeats them anyway).
    pub(super) fn fit_sack_blocks(&self, sack: &mut SackBlocks, payload: usize) {
        let room = self.largest_known_payload().saturating_sub(payload) / SACK_BLOCK_LEN;
        if sack.len() <= room {
            return;
        }
        let kept: Vec<SackBlock> = sack.as_slice().iter().take(room).copied().collect();
        sack.clear();
        for block in kept {
            sack.push(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_probe_is_the_maximum_and_its_ack_completes_the_search() {
        let mut search = PathMtuSearch::new(1200, 1428, true);
        assert_eq!(search.segment_size(), 1200);
        assert_eq!(search.probe_due(at(0)), Some(1428));
        search.on_probe_sent(1428);
        assert_eq!(search.probe_due(at(1)), None, "one probe at a time");
        search.on_probe_acknowledged(at(40));
        assert_eq!(search.segment_size(), 1428);
        assert_eq!(search.probe_due(at(50)), None);
        // The raise timer searches again, from the size found: nothing above it to try.
        assert_eq!(search.probe_due(at(40) + RAISE_INTERVAL), None);
    }

    #[test]
    fn three_lost_probes_mark_a_size_too_large_and_the_search_halves_the_gap() {
        let mut search = PathMtuSearch::new(1200, 1428, true);
        for _ in 0..MAX_PROBES {
            assert_eq!(search.probe_due(at(0)), Some(1428));
            search.on_probe_sent(1428);
            search.on_probe_lost(at(100));
        }
        assert_eq!(search.segment_size(), 1200, "a lost probe changes nothing");
        assert_eq!(search.probe_due(at(100)), Some(1314));
        search.on_probe_sent(1314);
        search.on_probe_acknowledged(at(140));
        assert_eq!(search.segment_size(), 1314);
        assert_eq!(search.probe_due(at(140)), Some(1371));
    }

    #[test]
    fn the_search_stops_within_the_granularity() {
        let mut search = PathMtuSearch::new(1200, 1428, true);
        let path = 1300;
        let mut probes = 0;
        while let Some(size) = search.probe_due(at(0)) {
            probes += 1;
            assert!(probes < 100, "the search ends");
            search.on_probe_sent(size);
            if size <= path {
                search.on_probe_acknowledged(at(0));
            } else {
                search.on_probe_lost(at(0));
            }
        }
        assert!(search.segment_size() <= path);
        assert!(path - search.segment_size() <= SEARCH_GRANULARITY);
    }

    #[test]
    fn off_or_with_no_room_above_the_base_nothing_is_probed() {
        assert_eq!(PathMtuSearch::new(1200, 1428, false).probe_due(at(0)), None);
        assert_eq!(PathMtuSearch::new(1200, 1200, true).probe_due(at(0)), None);
        assert_eq!(PathMtuSearch::new(1200, 536, true).segment_size(), 1200);
    }

    fn lost(number: u64, sent_ms: u64) -> LostDatagram {
        LostDatagram {
            number,
            large: true,
            sent_at: at(sent_ms),
        }
    }

    /// RFC 8899 section 4.3: bursts of larger datagrams lost, with none delivered between,
    /// make a black hole; a long run of losses is one burst, and a larger datagram delivered
    /// clears what came before.
    #[test]
    fn a_black_hole_goes_back_to_the_base_and_searches_again_later() {
        let mut search = PathMtuSearch::new(1200, 1428, true);
        search.probe_due(at(0));
        search.on_probe_sent(1428);
        search.on_probe_acknowledged(at(40));
        // A window's worth lost one after another (a queue overflow, an outage): one burst.
        let mut window: Vec<_> = (10..40).map(|number| lost(number, 50)).collect();
        assert!(!search.on_datagrams_lost(at(100), &mut window));
        assert!(!search.on_datagrams_lost(at(150), &mut [lost(45, 60)]));
        assert!(!search.on_datagrams_lost(at(150), &mut [lost(47, 60)]));
        // A larger datagram sent after them arrived: they were no black hole.
        search.on_large_segment_delivered(at(70));
        assert!(!search.on_datagrams_lost(at(200), &mut [lost(49, 80)]));
        assert!(!search.on_datagrams_lost(at(300), &mut [lost(51, 90)]));
        assert!(!search.on_datagrams_lost(at(400), &mut [lost(53, 100)]));
        assert_eq!(search.segment_size(), 1428);
        assert!(search.on_datagrams_lost(at(500), &mut [lost(55, 110)]));
        assert_eq!(search.segment_size(), 1200);
        assert_eq!(search.black_holes(), 1);
        assert_eq!(search.probe_due(at(600)), None);
        assert_eq!(search.probe_due(at(500) + RAISE_INTERVAL), Some(1428));
    }
}
