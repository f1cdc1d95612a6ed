//! The segments in flight and what is known of each: the retransmission queue and the SACK
//! scoreboard of RFC 6675 in one list, oldest first.
//!
//! Each record is one segment as sent (SYN, data, FIN). The peer's SACK blocks mark records
//! SACKed (RFC 6675 `Update()`); loss detection marks records lost, with the reason their
//! retransmission will give; `pipe()` is RFC 6675's `SetPipe()`. The sums behind `pipe()` are
//! kept as records change, so asking costs nothing on the per-segment path.

use std::cell::Cell;
use std::collections::VecDeque;

use std::time::Duration;

use super::black_hole::LostDatagram;
use super::rack::sent_after;
use super::Reason;
use crate::time::Instant;
use crate::wire::{SackBlock, SeqNum};

/// One segment in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) seq: SeqNum,
    /// Sequence space: payload plus one for SYN and one for FIN.
    pub(crate) len: u32,
    /// The segment ends with a FIN, which SACK blocks (made of data) never cover.
    pub(crate) fin: bool,
    pub(crate) sent_at: Instant,
    /// Ever sent twice: its ACK gives no RTT sample (Karn's rule, RFC 6298 section 3).
    pub(crate) retransmitted: bool,
    /// Its latest copy was a tail loss probe (RFC 8985 section 7.3).
    pub(crate) probed: bool,
    /// The peer holds it (RFC 2018).
    pub(crate) sacked: bool,
    /// Deemed lost, and what detected it: the reason its retransmission will carry.
    pub(crate) lost: Option<Reason>,
    /// Resent since the current recovery episode (fast recovery or RTO) began: RFC 6675's
    /// "below HighRxt". It counts in the pipe again, and is not resent twice.
    pub(crate) resent_this_episode: bool,
    /// How its first copy went: alone, or as a piece of a datagram larger than the base size
    /// (`plpmtud.rs`), a path MTU probe or not.
    pub(crate) datagram: Datagram,
    /// The number of the datagram its latest copy went in: the queue numbers the data
    /// datagrams it sends, first copies and retransmissions, in sending order, so that
    /// black-hole detection tells consecutive losses (`black_hole.rs`). A datagram's pieces
    /// share it.
    pub(crate) number: u64,
    /// Its latest copy went in a datagram larger than the base that was no path MTU probe:
    /// its loss is evidence for black-hole detection.
    pub(crate) large_copy: bool,
}

/// How a record's first copy went. A datagram with more payload than the base size (path MTU
/// discovery, `plpmtud.rs`) is kept as records of at most the base size each, its pieces: a
/// retransmission sends one record, so every copy after the first is one the path is known to
/// carry, and a black hole never stops the repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Datagram {
    /// A datagram of its own, at most the base size.
    Alone,
    /// The first piece of a larger datagram; `probe` if that was a path MTU probe.
    First { probe: bool },
    /// A later piece of a larger datagram: not a segment of its own in RFC 6675's counts.
    Rest { probe: bool },
}

impl Datagram {
    fn probe(self) -> bool {
        matches!(
            self,
            Datagram::First { probe: true } | Datagram::Rest { probe: true }
        )
    }

    /// Whether it counts as a segment of its own in RFC 6675's SACKed-segment counts.
    fn counts_as_segment(self) -> bool {
        !matches!(self, Datagram::Rest { .. })
    }
}

impl InFlight {
    fn end(&self) -> SeqNum {
        self.seq + self.len
    }

    /// RFC 6675 `SetPipe()` for this segment's octets: unless SACKed, one for being in flight
    /// (unless lost) and one more for a copy resent in this episode.
    fn pipe(&self) -> u32 {
        if self.sacked {
            return 0;
        }
        let original = if self.lost.is_some() { 0 } else { self.len };
        let copy = if self.resent_this_episode {
            self.len
        } else {
            0
        };
        original + copy
    }

    fn awaits_retransmission(&self) -> bool {
        !self.sacked && self.lost.is_some() && !self.resent_this_episode
    }

    /// It awaits retransmission because the path MTU probe it went in was lost: no
    /// congestion (RFC 8899 section 3).
    fn awaits_probe_retransmission(&self) -> bool {
        self.awaits_retransmission() && !self.retransmitted && self.datagram.probe()
    }

    /// It counts in RFC 6675's SACKed segments: SACKed, and a segment of its own.
    fn sacked_segment(&self) -> bool {
        self.sacked && self.datagram.counts_as_segment()
    }

    /// It awaits retransmission because the peer reneged on it, not because it was lost.
    fn awaits_renege_retransmission(&self) -> bool {
        self.awaits_retransmission() && self.lost == Some(Reason::RenegeRetransmission)
    }
}

/// RFC 6675 `IsLost()`'s test: `threshold` SACKed segments above, or more than
/// `(threshold - 1) * smss` SACKed bytes.
fn is_lost(threshold: u32, smss: u32, sacked_above: u32, sacked_bytes_above: u64) -> bool {
    sacked_above >= threshold
        || sacked_bytes_above > u64::from(threshold.saturating_sub(1)) * u64::from(smss)
}

/// What an ACK newly acknowledged (cumulatively or by SACK), for the RTT estimator and RACK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// Sequence space newly acknowledged.
    pub(crate) bytes: u32,
    /// When the most recently sent of those segments that were sent only once went out: an
    /// RTT sample Karn's rule allows (RFC 6298 section 3 forbids only segments sent twice).
    pub(crate) newest_sent_once_at: Option<Instant>,
    /// Some of the segments were sent more than once.
    pub(crate) any_retransmitted: bool,
    /// The most recently sent segment, for RACK (RFC 8985 section 6.2 step 2).
    pub(crate) newest: Option<DeliveredSegment>,
    /// The lowest end among segments sent only once, and the highest end of all: RACK's
    /// reordering test (RFC 8985 section 6.2 step 3).
    pub(crate) lowest_end_sent_once: Option<SeqNum>,
    pub(crate) highest_end: Option<SeqNum>,
    /// A FIN whose data the peer SACKed ahead of a hole is outstanding again: the ACK covers
    /// its data and not it, so the peer, one that takes a FIN only in order, dropped it.
    pub(crate) dropped_fin: bool,
    /// A path MTU probe's first copy arrived.
    pub(crate) probe_delivered: bool,
    /// When the newest larger-than-base datagram delivered on its first copy went, if any did.
    pub(crate) newest_large_sent_at: Option<Instant>,
}

/// A retransmission that a D-SACK showed was not needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spurious {
    /// Its copy was a tail loss probe.
    pub(crate) probe: bool,
}

/// One delivered segment as RACK needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeliveredSegment {
    pub(crate) sent_at: Instant,
    pub(crate) end: SeqNum,
    pub(crate) retransmitted: bool,
}

impl Delivered {
    fn add(&mut self, record: &InFlight) {
        self.bytes += record.len;
        if !record.retransmitted && record.datagram != Datagram::Alone {
            self.probe_delivered |= record.datagram.probe();
            self.newest_large_sent_at = self.newest_large_sent_at.max(Some(record.sent_at));
        }
        let segment = DeliveredSegment {
            sent_at: record.sent_at,
            end: record.end(),
            retransmitted: record.retransmitted,
        };
        self.take_newest(Some(segment));
        if record.retransmitted {
            self.any_retransmitted = true;
        } else {
            self.newest_sent_once_at = self.newest_sent_once_at.max(Some(record.sent_at));
            self.lowest_end_sent_once = min_seq(self.lowest_end_sent_once, Some(record.end()));
        }
        self.highest_end = max_seq(self.highest_end, Some(record.end()));
    }

    fn take_newest(&mut self, candidate: Option<DeliveredSegment>) {
        let Some(candidate) = candidate else { return };
        let newer = self.newest.is_none_or(|newest| {
            sent_after(
                (candidate.sent_at, candidate.end),
                (newest.sent_at, newest.end),
            )
        });
        if newer {
            self.newest = Some(candidate);
        }
    }

    /// Both deliveries together: what one ACK did by SACK and cumulatively.
    pub(crate) fn merge(&mut self, other: Delivered) {
        self.bytes += other.bytes;
        self.newest_sent_once_at = self.newest_sent_once_at.max(other.newest_sent_once_at);
        self.any_retransmitted |= other.any_retransmitted;
        self.take_newest(other.newest);
        self.lowest_end_sent_once = min_seq(self.lowest_end_sent_once, other.lowest_end_sent_once);
        self.highest_end = max_seq(self.highest_end, other.highest_end);
        self.dropped_fin |= other.dropped_fin;
        self.probe_delivered |= other.probe_delivered;
        self.newest_large_sent_at = self.newest_large_sent_at.max(other.newest_large_sent_at);
    }
}

fn min_seq(a: Option<SeqNum>, b: Option<SeqNum>) -> Option<SeqNum> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn max_seq(a: Option<SeqNum>, b: Option<SeqNum>) -> Option<SeqNum> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// How many acknowledged retransmissions are remembered, so that a D-SACK arriving after the
/// cumulative ACK can still be matched to the retransmission it reports (RFC 2883 section 5).
const REMEMBERED_RETRANSMISSIONS: usize = 32;

/// The segments in flight, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetransmissionQueue {
    segments: VecDeque<InFlight>,
    /// The sum of every record's `pipe()`.
    pipe: u32,
    /// Records that are lost, not SACKed and not yet resent in this episode.
    awaiting_retransmission: usize,
    /// Of those, the records the peer reneged on (`forget_sacks`).
    awaiting_renege_retransmission: usize,
    /// No record below this index awaits retransmission: where `next_lost` starts looking.
    /// Without it, a sender whose window holds a lost segment back scanned the whole flight
    /// on every `poll_transmit` (quadratic in the window; found by the endpoint fuzzer, as
    /// Linux keeps `retransmit_skb_hint` for the same reason). Lowered by `update`, moved up
    /// by `next_lost` to what it found, shifted by `remove_acknowledged`.
    first_awaiting: Cell<usize>,
    /// Records that are SACKed and segments of their own (not a datagram's later pieces).
    sacked_segments: usize,
    /// Of the records awaiting retransmission, those of a lost path MTU probe: no evidence
    /// of congestion (RFC 8899 section 3).
    awaiting_probe_retransmission: usize,
    /// A path MTU probe's first copy was marked lost since the connection last asked.
    probe_lost: bool,
    /// The datagrams (first copies and retransmissions, not probes) marked lost since the
    /// connection last asked: black-hole detection's evidence (RFC 8899 section 4.3,
    /// `black_hole.rs`). Each record adds at most once per copy, and the connection takes
    /// them after every ACK and timer expiry: bounded by what is in flight.
    lost_datagrams: Vec<LostDatagram>,
    /// The number the next datagram sent gets (`InFlight::number`).
    next_number: u64,
    /// The latest retransmissions the peer acknowledged, newest last: their sequence ranges,
    /// and whether the last copy was a tail loss probe.
    acknowledged_retransmissions: VecDeque<(SeqNum, SeqNum, bool)>,
    /// With the connection's trace on: the records marked lost since the trace last took
    /// them, as (seq, sequence space, reason). `None` when off, so nothing accumulates.
    newly_lost: Option<Vec<(SeqNum, u32, Reason)>>,
}

impl RetransmissionQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Keep, or stop keeping, the records newly marked lost for the connection's trace.
    pub(crate) fn log_losses(&mut self, on: bool) {
        self.newly_lost = on.then(Vec::new);
    }

    /// The records marked lost since the last call, oldest mark first.
    pub(crate) fn take_newly_lost(&mut self) -> Vec<(SeqNum, u32, Reason)> {
        self.newly_lost
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// How many segments are in flight.
    pub(crate) fn len(&self) -> usize {
        self.segments.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&InFlight> {
        self.segments.get(index)
    }

    /// RFC 6675's pipe: an estimate of the octets in the network.
    pub(crate) fn pipe(&self) -> u32 {
        self.pipe
    }

    /// Change one record, keeping the sums right.
    fn update(&mut self, index: usize, change: impl FnOnce(&mut InFlight)) {
        let Some(record) = self.segments.get_mut(index) else {
            return;
        };
        self.pipe -= record.pipe();
        self.awaiting_retransmission -= usize::from(record.awaits_retransmission());
        self.awaiting_renege_retransmission -= usize::from(record.awaits_renege_retransmission());
        self.awaiting_probe_retransmission -= usize::from(record.awaits_probe_retransmission());
        self.sacked_segments -= usize::from(record.sacked_segment());
        let was_lost = record.lost.is_some();
        change(record);
        if let (false, Some(reason), Some(log)) = (was_lost, record.lost, &mut self.newly_lost) {
            log.push((record.seq, record.len, reason));
        }
        // A first copy marked lost (a renege is no loss in the network: the peer held it).
        if !was_lost
            && !record.retransmitted
            && record
                .lost
                .is_some_and(|reason| reason != Reason::RenegeRetransmission)
        {
            if record.datagram.probe() {
                self.probe_lost = true;
            } else {
                self.lost_datagrams.push(LostDatagram {
                    number: record.number,
                    large: record.large_copy,
                    sent_at: record.sent_at,
                });
            }
        }
        self.pipe += record.pipe();
        if record.awaits_retransmission() && index < self.first_awaiting.get() {
            self.first_awaiting.set(index);
        }
        self.awaiting_retransmission += usize::from(record.awaits_retransmission());
        self.awaiting_renege_retransmission += usize::from(record.awaits_renege_retransmission());
        self.awaiting_probe_retransmission += usize::from(record.awaits_probe_retransmission());
        self.sacked_segments += usize::from(record.sacked_segment());
    }

    /// A segment sent for the first time.
    pub(crate) fn push(&mut self, seq: SeqNum, len: u32, fin: bool, now: Instant) {
        let number = self.take_number();
        self.push_record(seq, len, fin, now, Datagram::Alone, number);
    }

    /// The number of a datagram about to go (`InFlight::number`).
    fn take_number(&mut self) -> u64 {
        let number = self.next_number;
        self.next_number += 1;
        number
    }

    /// A segment of `payload` octets (and a FIN if `fin`) sent for the first time in a
    /// datagram larger than the base size (`base` payload octets), a path MTU probe if
    /// `probe`: kept as pieces of at most `base` octets each ([`Datagram`]).
    pub(crate) fn push_large(
        &mut self,
        seq: SeqNum,
        payload: u32,
        fin: bool,
        now: Instant,
        base: u32,
        probe: bool,
    ) {
        let base = base.max(1);
        let number = self.take_number();
        let mut offset = 0;
        while offset < payload {
            let piece = base.min(payload - offset);
            let last = offset + piece == payload;
            let datagram = if offset == 0 {
                Datagram::First { probe }
            } else {
                Datagram::Rest { probe }
            };
            let fin = fin && last;
            self.push_record(
                seq + offset,
                piece + u32::from(fin),
                fin,
                now,
                datagram,
                number,
            );
            offset += piece;
        }
    }

    fn push_record(
        &mut self,
        seq: SeqNum,
        len: u32,
        fin: bool,
        now: Instant,
        datagram: Datagram,
        number: u64,
    ) {
        let record = InFlight {
            seq,
            len,
            fin,
            sent_at: now,
            retransmitted: false,
            probed: false,
            sacked: false,
            lost: None,
            resent_this_episode: false,
            datagram,
            number,
            large_copy: datagram == (Datagram::First { probe: false })
                || datagram == (Datagram::Rest { probe: false }),
        };
        self.pipe += record.pipe();
        self.segments.push_back(record);
    }

    /// How many records after the one at `index` may go again with it in one segment of at
    /// most `smss` payload octets: the later pieces of a larger-than-base datagram that is not
    /// a probe (`Datagram::Rest`), in the same state as it. A datagram that was no probe went
    /// at a size the path carried then, so its pieces go together again while segments are
    /// still that large; after a black hole (`smss` back at the base) each goes alone.
    pub(crate) fn pieces_after(&self, index: usize, smss: u32) -> usize {
        let Some(first) = self.segments.get(index) else {
            return 0;
        };
        if first.datagram != (Datagram::First { probe: false }) {
            return 0;
        }
        let mut len = first.len;
        let mut pieces = 0;
        for record in self.segments.range(index + 1..) {
            let same_state = record.sacked == first.sacked
                && record.lost.is_some() == first.lost.is_some()
                && record.resent_this_episode == first.resent_this_episode
                && record.retransmitted == first.retransmitted;
            if record.datagram != (Datagram::Rest { probe: false })
                || !same_state
                || len + record.len - u32::from(record.fin) > smss
            {
                break;
            }
            len += record.len;
            pieces += 1;
        }
        pieces
    }

    /// Whether a path MTU probe was marked lost since the last call.
    pub(crate) fn take_probe_lost(&mut self) -> bool {
        std::mem::take(&mut self.probe_lost)
    }

    /// The datagrams marked lost since the last call, probes aside (black-hole detection,
    /// RFC 8899 section 4.3).
    pub(crate) fn take_lost_datagrams(&mut self) -> Vec<LostDatagram> {
        std::mem::take(&mut self.lost_datagrams)
    }

    /// Whether a record of a lost path MTU probe awaits retransmission.
    pub(crate) fn awaits_probe_retransmission(&self) -> bool {
        self.awaiting_probe_retransmission > 0
    }

    /// The segment at `index`, and the `pieces - 1` records after it (a larger datagram's,
    /// `pieces_after`), went again at `now` in one datagram, as a tail loss probe if `probe`.
    pub(crate) fn on_retransmitted(
        &mut self,
        index: usize,
        pieces: usize,
        now: Instant,
        probe: bool,
    ) {
        let number = self.take_number();
        for piece in index..index + pieces.max(1) {
            self.update(piece, |record| {
                record.sent_at = now;
                record.retransmitted = true;
                record.probed = probe;
                record.resent_this_episode = true;
                record.number = number;
                record.large_copy = pieces > 1;
            });
        }
    }

    /// Loss detection is about to mark the record at `index` lost: if that is a
    /// retransmission's loss, it is black-hole evidence as a first copy's is (`update` takes
    /// those).
    fn note_copy_lost(&mut self, index: usize) {
        let Some(&record) = self.segments.get(index) else {
            return;
        };
        if record.retransmitted && record.resent_this_episode && !record.sacked {
            self.lost_datagrams.push(LostDatagram {
                number: record.number,
                large: record.large_copy,
                sent_at: record.sent_at,
            });
        }
    }

    /// Remove the segments that `ack` covers entirely, and trim one it covers in part, so a
    /// retransmission never repeats acknowledged bytes.
    pub(crate) fn remove_acknowledged(&mut self, ack: SeqNum) -> Delivered {
        let mut delivered = Delivered::default();
        while let Some(&front) = self.segments.front() {
            if front.end() > ack {
                if front.seq < ack {
                    let covered = ack.wrapping_diff(front.seq);
                    delivered.dropped_fin = front.fin && front.sacked && front.len - covered == 1;
                    self.update(0, |record| {
                        record.seq = ack;
                        record.len -= covered;
                        if record.fin && record.len == 1 {
                            // Its data arrived and its FIN did not: the receiver takes a FIN
                            // only in order, so one SACKed with its data ahead of a hole was
                            // dropped. It is outstanding again.
                            record.sacked = false;
                        }
                    });
                }
                break;
            }
            // A segment SACKed before was delivered (and sampled) then, not now.
            if !front.sacked {
                delivered.add(&front);
            }
            if front.retransmitted {
                if self.acknowledged_retransmissions.len() == REMEMBERED_RETRANSMISSIONS {
                    self.acknowledged_retransmissions.pop_front();
                }
                self.acknowledged_retransmissions
                    .push_back((front.seq, front.end(), front.probed));
            }
            self.update(0, |record| {
                // Out of the sums before it goes.
                record.sacked = true;
            });
            self.sacked_segments -= usize::from(front.datagram.counts_as_segment());
            self.segments.pop_front();
            self.first_awaiting
                .set(self.first_awaiting.get().saturating_sub(1));
        }
        delivered
    }

    /// RFC 6675 `Update()`: mark the segments a SACK block covers, and say what that newly
    /// delivered.
    pub(crate) fn mark_sacked(&mut self, block: SackBlock) -> Delivered {
        let mut delivered = Delivered::default();
        // Segments are in sequence order: skip those below the block without a scan, so an
        // ACK costs what its blocks cover, not what is in flight.
        let first = self
            .segments
            .partition_point(|record| record.seq < block.left);
        for index in first..self.segments.len() {
            let record = self.segments[index];
            if record.seq >= block.right {
                break;
            }
            // A FIN's sequence number is never in a SACK block: its data is what counts, and
            // a FIN alone is never SACKed (the receiver takes a FIN only in order).
            let data_end = record.end() - u32::from(record.fin);
            let has_data = data_end != record.seq;
            if !record.sacked && has_data && block.left <= record.seq && data_end <= block.right {
                delivered.add(&record);
                self.update(index, |record| record.sacked = true);
            }
        }
        delivered
    }

    /// Where the highest SACKed segment ends, if any is.
    fn highest_sacked_end(&self) -> Option<SeqNum> {
        self.segments
            .iter()
            .rev()
            .find(|record| record.sacked)
            .map(InFlight::end)
    }

    /// RFC 6675 `IsLost()` for the segment at `index`, without marking it.
    pub(crate) fn is_lost_by_sack(&self, index: usize, threshold: u32, smss: u32) -> bool {
        let (mut sacked_above, mut sacked_bytes_above) = (0u32, 0u64);
        for record in self
            .segments
            .iter()
            .skip(index + 1)
            .filter(|record| record.sacked)
        {
            sacked_above += u32::from(record.datagram.counts_as_segment());
            sacked_bytes_above += u64::from(record.len);
        }
        is_lost(threshold, smss, sacked_above, sacked_bytes_above)
    }

    /// RFC 6675 `IsLost()` for every unSACKed segment: lost once `threshold` SACKed segments,
    /// or more than `(threshold - 1) * smss` SACKed bytes, lie above it. Marks them lost for
    /// SACK retransmission. A segment already marked keeps its reason.
    pub(crate) fn detect_losses(&mut self, threshold: u32, smss: u32) {
        let mut sacked_above = 0u32;
        let mut sacked_bytes_above = 0u64;
        for index in (0..self.segments.len()).rev() {
            let record = self.segments[index];
            if record.sacked {
                sacked_above += u32::from(record.datagram.counts_as_segment());
                sacked_bytes_above += u64::from(record.len);
                continue;
            }
            let lost = is_lost(threshold, smss, sacked_above, sacked_bytes_above);
            if lost && record.lost.is_none() {
                self.update(index, |record| {
                    record.lost = Some(Reason::SackRetransmission)
                });
            }
        }
    }

    /// Mark one segment lost for `reason`, to be sent again even if it was in this episode.
    pub(crate) fn mark_lost(&mut self, index: usize, reason: Reason) {
        self.update(index, |record| {
            record.lost = Some(reason);
            record.resent_this_episode = false;
        });
    }

    /// The retransmission timer expired at `now`: every unSACKed segment is lost (RFC 5681
    /// section 3.1, RFC 6675 section 5.1), except, with RACK, `rack_wait` (RACK.rtt plus the
    /// reordering window), those after the first that were sent less than that before `now`:
    /// RFC 8985 section 6.3's `RACK_mark_losses_on_RTO()`, as Linux's
    /// `tcp_timeout_mark_lost`. They may well be in flight still; RACK marks them once a
    /// segment sent later is delivered and their time has passed. (A timer that expires with
    /// the oldest segment SACKed has found a renege instead: `forget_sacks`.)
    pub(crate) fn mark_lost_on_timeout(
        &mut self,
        reason: Reason,
        rack_wait: Option<Duration>,
        now: Instant,
    ) {
        for index in 0..self.segments.len() {
            let record = self.segments[index];
            let recent = rack_wait.is_some_and(|wait| index > 0 && record.sent_at + wait > now);
            if !recent {
                self.note_copy_lost(index);
            }
            self.update(index, |record| {
                if !record.sacked && !recent {
                    record.lost = Some(reason);
                }
                record.resent_this_episode = false;
            });
        }
    }

    /// The peer discarded data it had SACKed (RFC 2018 section 8): forget every SACK mark, as
    /// section 8 asks ("the data sender MUST ignore prior SACK information in determining
    /// which data to retransmit"), and mark the segments that bore one lost, for `reason`: the
    /// receiver no longer holds them, and they left the network long ago. The others keep
    /// what was known of them, in flight or awaiting retransmission: RACK and the timer judge
    /// them as before. Returns how many were marked.
    pub(crate) fn forget_sacks(&mut self, reason: Reason) -> usize {
        let mut marked = 0;
        for index in 0..self.segments.len() {
            if self.segments[index].sacked {
                self.update(index, |record| {
                    record.sacked = false;
                    record.lost = Some(reason);
                    record.resent_this_episode = false;
                });
                marked += 1;
            }
        }
        marked
    }

    /// A new recovery episode begins: what was resent before may be resent again. Not what
    /// was resent because the peer reneged on it: that was no loss, and its copy is in flight
    /// for RACK to judge like any other.
    pub(crate) fn start_episode(&mut self) {
        for index in 0..self.segments.len() {
            let record = self.segments[index];
            if record.resent_this_episode && record.lost != Some(Reason::RenegeRetransmission) {
                self.update(index, |record| record.resent_this_episode = false);
            }
        }
    }

    /// RFC 6675 `NextSeg()` rule (1), and the timer's and fast retransmit's losses: the oldest
    /// segment that is lost, not SACKed and not yet resent in this episode.
    pub(crate) fn next_lost(&self) -> Option<usize> {
        if self.awaiting_retransmission == 0 {
            return None;
        }
        let first = self.first_awaiting.get().min(self.segments.len());
        let found = first
            + self
                .segments
                .range(first..)
                .position(InFlight::awaits_retransmission)?;
        self.first_awaiting.set(found);
        Some(found)
    }

    /// RFC 6675 `NextSeg()` rule (3): the oldest unSACKed segment below the highest SACKed
    /// one that has not been resent in this episode, though not yet deemed lost.
    pub(crate) fn next_unsacked_hole(&self) -> Option<usize> {
        let highest = self.highest_sacked_end()?;
        self.segments.iter().position(|record| {
            !record.sacked && !record.resent_this_episode && record.end() <= highest
        })
    }

    /// How many segments in flight are SACKed.
    pub(crate) fn sacked_segments(&self) -> usize {
        self.sacked_segments
    }

    /// RFC 8985 section 6.2 step 5, `RACK_detect_loss()`: mark lost every segment sent before
    /// `newest` (RACK.xmit_ts, RACK.end_seq) whose send time lies more than `wait` (RACK.rtt
    /// plus the reordering window) before `now`. Returns how many were marked, and when the
    /// earliest of those not yet due will be: the reordering timer's deadline, so that each
    /// loss is marked on time.
    pub(crate) fn rack_detect_losses(
        &mut self,
        newest: (Instant, SeqNum),
        wait: Duration,
        now: Instant,
    ) -> (usize, Option<Instant>) {
        let mut marked = 0;
        let mut deadline: Option<Instant> = None;
        for index in 0..self.segments.len() {
            let record = self.segments[index];
            if !sent_after(newest, (record.sent_at, record.end())) {
                // Segments sent once go out in sequence order, so every later one of those was
                // sent later still, and a retransmission later than its first copy.
                if !record.retransmitted {
                    break;
                }
                continue;
            }
            if record.sacked || record.awaits_retransmission() {
                continue;
            }
            let lost_at = record.sent_at + wait;
            if lost_at <= now {
                self.note_copy_lost(index);
                self.update(index, |record| {
                    record.lost = Some(Reason::RackRetransmission);
                    record.resent_this_episode = false;
                });
                marked += 1;
            } else {
                deadline = Some(deadline.map_or(lost_at, |earliest| earliest.min(lost_at)));
            }
        }
        (marked, deadline)
    }

    /// Whether a record awaits retransmission.
    pub(crate) fn has_losses(&self) -> bool {
        self.awaiting_retransmission > 0
    }

    /// Whether a record awaits retransmission that loss detection (or the timer) marked lost,
    /// not a renege: evidence of loss in the network.
    pub(crate) fn has_losses_detected(&self) -> bool {
        self.awaiting_retransmission
            > self.awaiting_renege_retransmission + self.awaiting_probe_retransmission
    }

    /// Whether a record the peer reneged on awaits retransmission.
    pub(crate) fn awaits_renege_retransmission(&self) -> bool {
        self.awaiting_renege_retransmission > 0
    }

    /// What a tail loss probe sends again (RFC 8985 section 7.3): the newest segment in flight
    /// that the peer does not hold, so that its SACK shows RACK every loss before it. But not a
    /// bare FIN while data before it is unSACKed: SACK blocks never cover a FIN, so a FIN
    /// beyond a hole arrives without a trace, every probe of it draws the same ACK, and the
    /// hole waits for the retransmission timer (a 10 KB transfer at 5% loss took 1.6 s for a
    /// lost last data segment behind a FIN that had arrived, docs/performance.md). The newest
    /// unSACKed data goes instead: if it is the hole, its arrival acknowledges the FIN too.
    ///
    /// A later piece of a datagram larger than the base (`Datagram::Rest`) stands for its
    /// whole datagram: the probe starts at that datagram's first unSACKed piece, so that
    /// `pieces_after` sends the datagram whole, as Linux probes with its whole last segment.
    /// A probe of the last piece alone (100 octets of a 1288-octet datagram) told RACK of no
    /// hole before it, and the tail loss cost two more round trips.
    pub(crate) fn last_unsacked(&self) -> Option<usize> {
        let mut last = self.segments.iter().rposition(|record| !record.sacked)?;
        let bare_fin = |record: &InFlight| record.fin && record.len == 1;
        if bare_fin(&self.segments[last]) {
            if let Some(data) = self.segments.iter().take(last).rposition(|r| !r.sacked) {
                last = data;
            }
        }
        while last > 0 && matches!(self.segments[last].datagram, Datagram::Rest { .. }) {
            let before = &self.segments[last - 1];
            if before.sacked || before.number != self.segments[last].number {
                break;
            }
            last -= 1;
        }
        Some(last)
    }

    /// The oldest segment in flight that the peer does not hold.
    pub(crate) fn first_unsacked(&self) -> Option<usize> {
        self.segments.iter().position(|record| !record.sacked)
    }

    /// A D-SACK (RFC 2883) reported `block` received twice: which of our retransmissions
    /// that was, if any, which then was spurious. Each retransmission counts once.
    pub(crate) fn take_spurious(&mut self, block: SackBlock) -> Option<Spurious> {
        let overlaps = |seq: SeqNum, end: SeqNum| seq < block.right && block.left < end;
        if let Some(position) = self
            .acknowledged_retransmissions
            .iter()
            .position(|&(seq, end, _)| overlaps(seq, end))
        {
            let (_, _, probe) = self.acknowledged_retransmissions.remove(position)?;
            return Some(Spurious { probe });
        }
        self.segments
            .iter()
            .find(|record| record.retransmitted && overlaps(record.seq, record.end()))
            .map(|record| Spurious {
                probe: record.probed,
            })
    }

    /// A loss recovery proved spurious (RFC 5682): what awaits retransmission is not lost
    /// after all, and goes back to counting in the pipe.
    pub(crate) fn unmark_losses(&mut self) {
        for index in 0..self.segments.len() {
            if self.segments[index].awaits_retransmission() {
                self.update(index, |record| record.lost = None);
            }
        }
    }

    /// Forget everything (the connection closed).
    pub(crate) fn clear(&mut self) {
        // The trace's loss log outlives what it logged.
        let newly_lost = self.newly_lost.take();
        *self = RetransmissionQueue {
            newly_lost,
            ..RetransmissionQueue::default()
        };
    }

    #[cfg(test)]
    fn recomputed_sums(&self) -> (u32, usize, usize, usize) {
        (
            self.segments.iter().map(InFlight::pipe).sum(),
            self.segments
                .iter()
                .filter(|record| record.awaits_retransmission())
                .count(),
            self.segments
                .iter()
                .filter(|record| record.awaits_renege_retransmission())
                .count(),
            self.segments
                .iter()
                .filter(|record| record.sacked_segment())
                .count(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    const MSS: u32 = 100;

    /// Ten 100-byte segments from sequence number `start`.
    fn ten_segments(start: u32) -> RetransmissionQueue {
        let mut queue = RetransmissionQueue::default();
        for i in 0..10 {
            queue.push(
                SeqNum(start) + i * MSS,
                MSS,
                false,
                Instant::from_millis(u64::from(i)),
            );
        }
        queue
    }

    fn block(start: u32, left: u32, right: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(start) + left * MSS,
            right: SeqNum(start) + right * MSS,
        }
    }

    /// A 1428-byte datagram with the FIN, above a base of 1200 (path MTU discovery): two
    /// records, the FIN on the second, one segment in RFC 6675's counts; its pieces go again
    /// together while segments are that large, alone once they are back at the base.
    #[test]
    fn a_datagram_larger_than_the_base_is_kept_in_base_sized_pieces() {
        let mut queue = RetransmissionQueue::default();
        queue.push_large(SeqNum(1000), 1428, true, Instant::ZERO, 1200, false);
        assert_eq!(queue.len(), 2);
        let (first, rest) = (*queue.get(0).unwrap(), *queue.get(1).unwrap());
        assert_eq!(
            (first.seq, first.len, first.fin),
            (SeqNum(1000), 1200, false)
        );
        assert_eq!((rest.seq, rest.len, rest.fin), (SeqNum(2200), 229, true));
        assert_eq!(queue.pipe(), 1429);
        queue.mark_lost_on_timeout(
            Reason::RtoRetransmission { timeout: 1 },
            None,
            Instant::ZERO,
        );
        let lost = queue.take_lost_datagrams();
        assert_eq!(lost.len(), 2, "both pieces");
        assert!(lost
            .iter()
            .all(|datagram| datagram.large && datagram.number == 0));
        assert_eq!(queue.pieces_after(0, 1428), 1);
        assert_eq!(queue.pieces_after(0, 1200), 0);
        let mut sacked = RetransmissionQueue::default();
        sacked.push_large(SeqNum(1000), 1428, false, Instant::ZERO, 1200, true);
        sacked.mark_sacked(SackBlock {
            left: SeqNum(1000),
            right: SeqNum(2428),
        });
        assert_eq!(sacked.sacked_segments(), 1);
        assert_eq!(sacked.recomputed_sums().3, 1);
        // A probe's pieces never go together: its size is the one in doubt.
        assert_eq!(sacked.pieces_after(0, 1428), 0);
    }

    /// Black-hole detection's evidence (`black_hole.rs`): each datagram lost, first copy or
    /// retransmission, with its number in sending order and whether it was larger than the
    /// base; a renege is no loss.
    #[test]
    fn lost_datagrams_are_reported_in_sending_order_with_their_size() {
        let mut queue = RetransmissionQueue::default();
        queue.push_large(SeqNum(0), 2400, false, Instant::ZERO, 1200, false);
        queue.push(SeqNum(2400), 1200, false, Instant::ZERO);
        queue.mark_lost_on_timeout(
            Reason::RtoRetransmission { timeout: 1 },
            None,
            Instant::ZERO,
        );
        let lost = queue.take_lost_datagrams();
        let summary: Vec<_> = lost.iter().map(|d| (d.number, d.large)).collect();
        assert_eq!(summary, [(0, true), (0, true), (1, false)]);
        // The larger datagram goes again whole, and is lost again: datagram 2.
        queue.on_retransmitted(0, 2, Instant::from_millis(300), false);
        queue.mark_lost_on_timeout(
            Reason::RtoRetransmission { timeout: 2 },
            None,
            Instant::ZERO,
        );
        let lost = queue.take_lost_datagrams();
        assert!(lost.len() == 2 && lost.iter().all(|d| d.number == 2 && d.large));
        assert_eq!(lost[0].sent_at, Instant::from_millis(300));
        // Alone this time (back at the base), and the peer reneges on what it SACKed.
        queue.on_retransmitted(0, 1, Instant::from_millis(900), false);
        queue.mark_lost_on_timeout(
            Reason::RtoRetransmission { timeout: 3 },
            None,
            Instant::ZERO,
        );
        let lost = queue.take_lost_datagrams();
        assert_eq!(
            lost.iter().map(|d| (d.number, d.large)).collect::<Vec<_>>(),
            [(3, false)]
        );
        queue.mark_sacked(SackBlock {
            left: SeqNum(2400),
            right: SeqNum(3600),
        });
        queue.forget_sacks(Reason::RenegeRetransmission);
        assert!(queue.take_lost_datagrams().is_empty());
    }

    #[test]
    fn three_sacked_segments_above_make_a_segment_lost() {
        let mut queue = ten_segments(1000);
        assert_eq!(queue.pipe(), 1000);
        assert_eq!(queue.mark_sacked(block(1000, 1, 3)).bytes, 200);
        queue.detect_losses(3, MSS);
        assert_eq!(
            queue.next_lost(),
            None,
            "two SACKed segments are not enough"
        );
        assert_eq!(queue.next_unsacked_hole(), Some(0));
        queue.mark_sacked(block(1000, 3, 4));
        queue.detect_losses(3, MSS);
        assert_eq!(queue.next_lost(), Some(0));
        assert_eq!(queue.get(0).unwrap().lost, Some(Reason::SackRetransmission));
        // In flight: 10 segments, 3 SACKed, 1 lost.
        assert_eq!(queue.pipe(), 600);
        queue.on_retransmitted(0, 1, Instant::from_millis(50), false);
        assert_eq!(queue.pipe(), 700);
        assert_eq!(queue.next_lost(), None, "never resent twice in an episode");
    }

    #[test]
    fn sack_blocks_across_the_wrap_mark_the_right_segments() {
        let mut queue = ten_segments(u32::MAX - 450);
        queue.mark_sacked(block(u32::MAX - 450, 4, 7));
        queue.detect_losses(3, MSS);
        let sacked: Vec<bool> = (0..10).map(|i| queue.get(i).unwrap().sacked).collect();
        assert_eq!(
            sacked,
            [false, false, false, false, true, true, true, false, false, false]
        );
        assert_eq!(queue.next_lost(), Some(0));
        // Segments 0 and 1 went out at 0 and 1 ms; the newest gives the sample.
        assert_eq!(
            queue
                .remove_acknowledged(SeqNum(u32::MAX - 450) + 250)
                .newest_sent_once_at,
            Some(Instant::from_millis(1))
        );
        // The segment the ACK splits keeps only its unacknowledged part.
        assert_eq!(queue.get(0).unwrap().seq, SeqNum(u32::MAX - 450) + 250);
        assert_eq!(queue.get(0).unwrap().len, 50);
    }

    #[test]
    fn a_timeout_marks_all_unsacked_lost_and_keeps_the_sacks() {
        let mut queue = ten_segments(0);
        queue.mark_sacked(block(0, 5, 6));
        queue.mark_lost_on_timeout(
            Reason::RtoRetransmission { timeout: 1 },
            None,
            Instant::ZERO,
        );
        assert_eq!(queue.pipe(), 0);
        assert_eq!(queue.next_lost(), Some(0));
        assert!(queue.get(5).unwrap().sacked);
    }

    #[test]
    fn forgetting_sacks_marks_what_bore_one_lost_and_is_no_loss_detected() {
        let mut queue = ten_segments(0);
        queue.mark_sacked(block(0, 2, 4));
        assert_eq!(queue.forget_sacks(Reason::RenegeRetransmission), 2);
        assert_eq!(queue.sacked_segments(), 0);
        assert_eq!(queue.next_lost(), Some(2));
        assert_eq!(
            queue.pipe(),
            800,
            "dropped by the receiver, not in the network"
        );
        assert!(queue.has_losses() && !queue.has_losses_detected());
        queue.on_retransmitted(2, 1, Instant::ZERO, false);
        queue.start_episode();
        assert_eq!(
            queue.next_lost(),
            Some(3),
            "a renege's copy is not sent twice"
        );
        queue.mark_lost(0, Reason::RackRetransmission);
        assert!(queue.has_losses_detected());
    }

    quickcheck! {
        /// Whatever happens, the kept sums equal a recomputation, and a SACKed segment is
        /// never offered for retransmission.
        fn sums_stay_right_and_sacked_segments_are_never_resent(ops: Vec<(u8, u8, u8)>) -> TestResult {
            let mut queue = ten_segments(u32::MAX - 300);
            let mut next_seq = SeqNum(u32::MAX - 300) + 10 * MSS;
            let mut acked = SeqNum(u32::MAX - 300);
            for (op, a, b) in ops {
                let (a, b) = (u32::from(a % 12), u32::from(b % 12));
                match op % 10 {
                    9 => { queue.forget_sacks(Reason::RenegeRetransmission); }
                    7 => {
                        let newest = (Instant::from_millis(u64::from(a)), acked + b * MSS);
                        queue.rack_detect_losses(newest, Duration::ZERO, Instant::from_millis(u64::from(b)));
                    }
                    8 => queue.unmark_losses(),
                    0 => {
                        queue.mark_sacked(SackBlock { left: acked + a.min(b) * MSS, right: acked + a.max(b) * MSS });
                    }
                    1 => queue.detect_losses(1 + a % 4, MSS),
                    2 => if let Some(index) = queue.next_lost().or(queue.next_unsacked_hole()) {
                        if queue.get(index).unwrap().sacked {
                            return TestResult::failed();
                        }
                        queue.on_retransmitted(index, 1, Instant::ZERO, a % 2 == 0);
                    },
                    3 => { acked += a * MSS / 3; queue.remove_acknowledged(acked); }
                    4 => queue.mark_lost_on_timeout(Reason::RtoRetransmission { timeout: 1 }, Some(Duration::from_millis(u64::from(a))), Instant::from_millis(u64::from(b))),
                    5 => queue.start_episode(),
                    _ => { queue.push(next_seq, MSS, false, Instant::ZERO); next_seq += MSS; }
                }
                let kept = (queue.pipe(), queue.awaiting_retransmission, queue.awaiting_renege_retransmission, queue.sacked_segments);
                if queue.recomputed_sums() != kept {
                    return TestResult::failed();
                }
                // next_lost's hint never skips a record that awaits retransmission.
                let first_awaiting = queue.segments.iter().position(InFlight::awaits_retransmission);
                if first_awaiting.is_some_and(|index| index < queue.first_awaiting.get()) {
                    return TestResult::failed();
                }
            }
            TestResult::passed()
        }
    }
}
