//! The send side: the send sequence variables (RFC 9293 section 3.3.1) and what moves them,
//! the send window and its updates (section 3.10.7.4's fifth step, with silly window avoidance
//! from section 3.8.6.2.1), and transmission: a SYN, new data, a FIN, a retransmission or a
//! probe, each with the [`Reason`] it was sent.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use super::receive::{advertised_window, Acknowledgment};
use super::retransmission::{Delivered, InFlight};
use super::send_buffer::SendBufferSize;
use super::state::{ConnectionError, State};
use super::timers::Timer;
use super::{CheckedSizes, Config, Connection, Negotiated, MAX_SEGMENTS_IN_FLIGHT, MAX_WINDOW};
use crate::secure::TAG_LEN;
use crate::time::Instant;
use crate::wire::secure::PROTECTION_OPTION_LEN;
use crate::wire::{Flags, Options, SackBlocks, Segment, SeqNum};

/// Why a segment was sent. Not on the wire: it travels beside the segment to the stats and
/// the captures, so that every segment can say why it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A SYN or SYN-ACK, or the ACK that completes the handshake.
    Handshake,
    /// A SYN-ACK sent without keeping any state, its ISN a SYN cookie, because the listener's
    /// table of half-open connections was full (RFC 4987 section 3.6).
    SynCookie,
    /// A secure listener's retry: an address validation token for the client to send its SYN
    /// again with, no state kept, because half the listener's backlog was half-open
    /// (docs/protocol.md section 10.8).
    SecureRetry,
    /// Data sent for the first time (a FIN may ride along).
    NewData,
    /// A pure acknowledgment, immediate or delayed.
    Ack,
    /// A pure acknowledgment sent because our receive window opened.
    WindowUpdate,
    /// Sequence space sent again after the retransmission timer expired for the `timeout`-th
    /// time in a row.
    RtoRetransmission {
        /// Which consecutive expiry of the timer this follows (1 for the first).
        timeout: u32,
    },
    /// One byte past a zero window, to learn when it opens (RFC 9293 section 3.8.6.1).
    WindowProbe,
    /// An old sequence number to make an idle peer answer (RFC 9293 section 3.8.4).
    Keepalive,
    /// Resent on the duplicate-ACK threshold (fast retransmit, RFC 5681 section 3.2), or on
    /// a partial ACK in NewReno fast recovery (RFC 6582).
    FastRetransmission,
    /// Resent because the SACK scoreboard deemed it lost (RFC 6675 `NextSeg()`).
    SackRetransmission,
    /// Resent because RACK deemed it lost: a segment sent after it arrived, and a reordering
    /// window passed (RFC 8985 section 6).
    RackRetransmission,
    /// A segment sent again as a tail loss probe, after about two round trips of silence, so
    /// that a lost tail is repaired without waiting for the retransmission timer (RFC 8985
    /// section 7.3): the last segment, or in recovery the oldest hole. A retransmission.
    TailLossProbe,
    /// Resent because the peer discarded it after SACKing it (RFC 2018 section 8): the
    /// cumulative ACK stopped at it and, max(SRTT / 2, 10 ms) later, had not moved on.
    RenegeRetransmission,
    /// New data sent as the tail loss probe, which RFC 8985 section 7.3 prefers when the
    /// peer's window takes it: no retransmission.
    TailLossProbeNewData,
    /// New data in a segment larger than those that go now: a path MTU probe (RFC 8899
    /// section 4.1, as RFC 4821 section 7.4 probes with data), which, once acknowledged, lets
    /// every segment grow to its size. Its loss is no congestion.
    PathMtuProbe,
    /// An ACK answering a segment that could be forged: a RST or SYN inside the window but
    /// not where expected, or an ACK field outside what we sent (RFC 5961 sections 3 to 5).
    /// A real peer learns where we are and repairs its state; a blind attacker learns nothing.
    ChallengeAck,
    /// An ACK answering a segment that PAWS dropped as an old duplicate: its timestamp was
    /// older than the latest one taken in order (RFC 7323 section 5.3's R1).
    PawsAck,
    /// A FIN with no new data.
    Fin,
    /// A reset: an abort, or the answer to a segment no connection accepts.
    Rst,
    /// Not a segment: a rendezvous message (docs/protocol.md section 9) from the endpoint's
    /// punch client, which shares the connection's socket (`crate::rendezvous`).
    Rendezvous,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Handshake => f.write_str("handshake"),
            Reason::SynCookie => f.write_str("SYN cookie"),
            Reason::SecureRetry => f.write_str("secure retry"),
            Reason::NewData => f.write_str("new data"),
            Reason::Ack => f.write_str("ACK"),
            Reason::WindowUpdate => f.write_str("window update"),
            Reason::RtoRetransmission { timeout } => write!(f, "retransmission: RTO #{timeout}"),
            Reason::FastRetransmission => f.write_str("fast retransmit"),
            Reason::SackRetransmission => f.write_str("SACK retransmit"),
            Reason::RackRetransmission => f.write_str("RACK retransmit"),
            // "retransmission" in words, so that a capture filter on it finds every one.
            Reason::TailLossProbe => f.write_str("tail loss probe (retransmission)"),
            Reason::TailLossProbeNewData => f.write_str("tail loss probe (new data)"),
            Reason::PathMtuProbe => f.write_str("path MTU probe (new data)"),
            Reason::RenegeRetransmission => f.write_str("retransmission: renege"),
            Reason::WindowProbe => f.write_str("window probe"),
            Reason::Keepalive => f.write_str("keepalive"),
            Reason::ChallengeAck => f.write_str("challenge ACK"),
            Reason::PawsAck => f.write_str("ACK: PAWS"),
            Reason::Fin => f.write_str("FIN"),
            Reason::Rst => f.write_str("RST"),
            Reason::Rendezvous => f.write_str("rendezvous"),
        }
    }
}

/// One datagram to send, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes.
    pub destination: SocketAddr,
    /// The encoded segment: the whole UDP payload.
    pub contents: Vec<u8>,
    /// Why it was sent.
    pub reason: Reason,
}

/// Octets a datagram's buffer keeps spare past the segment: what the secure mode adds when it
/// seals it in that buffer (its option and the AEAD's tag, docs/protocol.md section 10.3), so
/// that sealing moves the payload once and never reallocates.
pub(super) const SEALING_ROOM: usize = PROTECTION_OPTION_LEN + TAG_LEN;

/// Encode a segment into a fresh datagram.
pub(crate) fn encode(segment: &Segment<'_>) -> Vec<u8> {
    let mut contents = Vec::with_capacity(segment.encoded_len());
    segment.emit(&mut contents);
    contents
}

/// The SYN-ACK with ISN `iss` that answers `syn` (RFC 9293 section 3.10.7.2), built without a
/// connection: what a SYN cookie (RFC 4987 section 3.6) sends, at the cost of encoding one
/// segment. It is the segment a [`Connection::listen`] fed `syn` sends first, byte for byte
/// (the endpoint's tests hold the two together).
pub(crate) fn stateless_syn_ack(
    config: &Config,
    sizes: CheckedSizes,
    iss: SeqNum,
    syn: &Segment<'_>,
) -> Segment<'static> {
    Segment {
        flags: Flags::SYN | Flags::ACK,
        seq: iss,
        ack: syn.seq + 1,
        window: advertised_window(sizes.recv_buffer, 0),
        sack: SackBlocks::new(),
        options: Negotiated::syn_options(config, sizes),
        payload: &[],
    }
}

/// The send side of the transmission control block: the send sequence variables (RFC 9293
/// section 3.3.1) and the peer's window, the bytes written and not yet acknowledged, the FIN,
/// and the window probes and keepalives. Its fields are this file's alone; other files read
/// them through the methods below.
#[derive(Debug)]
pub(super) struct Sender {
    /// ISS: our initial sequence number.
    iss: SeqNum,
    /// SND.UNA: the oldest sequence number not yet acknowledged.
    snd_una: SeqNum,
    /// SND.NXT: the next sequence number to send.
    snd_nxt: SeqNum,
    /// SND.WND: the peer's window, from SND.UNA.
    snd_wnd: u32,
    /// SND.WL1 and SND.WL2: the sequence and acknowledgment numbers of the segment that last
    /// updated the window.
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    /// The largest window the peer has advertised: RFC 5961 section 5's MAX.SND.WND, how far
    /// below SND.UNA an ACK may lie and still be believed.
    max_snd_wnd: u32,
    /// A window probe's byte (at `snd_nxt`) may have been taken: an ACK of it is valid.
    window_probe_outstanding: bool,
    /// The persist timer expired on a window too small for silly window avoidance: the next
    /// segment goes whatever its size.
    sws_override: bool,
    /// Unacknowledged and unsent bytes; `send_buffer[0]` has sequence number `send_buffer_seq`.
    send_buffer: VecDeque<u8>,
    send_buffer_seq: SeqNum,
    /// The application shut down its write side: a FIN follows the buffered data.
    fin_queued: bool,
    /// Doublings of the persist timer since the peer's window closed.
    persist_backoff: u32,
    /// A window probe or keepalive is due.
    pending_probe: Option<Reason>,
    /// Window probes or keepalives sent since the peer last said anything.
    unanswered_probes: u32,
    /// Where the latest segment shorter than the SMSS ends, while it is unacknowledged:
    /// Linux's `snd_sml`, for the Nagle algorithm.
    short_segment_end: Option<SeqNum>,
    /// How many bytes `send_buffer` may hold, and its autotuning (`send_buffer.rs`).
    buffer_size: SendBufferSize,
}

impl Sender {
    /// Nothing sent yet: SND.UNA and SND.NXT at `iss`, the first data byte after the SYN.
    pub(super) fn new(iss: SeqNum, buffer_size: SendBufferSize) -> Sender {
        Sender {
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            window_probe_outstanding: false,
            sws_override: false,
            send_buffer: VecDeque::new(),
            send_buffer_seq: iss + 1,
            fin_queued: false,
            persist_backoff: 0,
            pending_probe: None,
            unanswered_probes: 0,
            short_segment_end: None,
            buffer_size,
        }
    }

    /// ISS.
    pub(super) fn iss(&self) -> SeqNum {
        self.iss
    }

    /// SND.UNA.
    pub(super) fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    /// SND.NXT.
    pub(super) fn snd_nxt(&self) -> SeqNum {
        self.snd_nxt
    }

    /// SND.WND.
    pub(super) fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }

    /// MAX.SND.WND (RFC 5961 section 5).
    pub(super) fn max_snd_wnd(&self) -> u32 {
        self.max_snd_wnd
    }

    /// RFC 5681's FlightSize: sent and not yet acknowledged.
    pub(super) fn flight_size(&self) -> u32 {
        self.snd_nxt.wrapping_diff(self.snd_una)
    }

    /// The highest ACK the peer can validly send: up to `snd_nxt`, or one byte past it if it
    /// took a window probe.
    pub(super) fn highest_acknowledgeable(&self) -> SeqNum {
        self.snd_nxt + u32::from(self.window_probe_outstanding)
    }

    /// Bytes written and not yet acknowledged (sent or not).
    pub(super) fn buffered(&self) -> usize {
        self.send_buffer.len()
    }

    /// How many bytes the send buffer may hold now.
    pub(super) fn buffer_size(&self) -> usize {
        self.buffer_size.size()
    }

    /// Bytes the application may still write: the send buffer's free space.
    pub(super) fn writable(&self) -> usize {
        self.buffer_size
            .size()
            .saturating_sub(self.send_buffer.len())
    }

    /// The congestion window grew to `cwnd` bytes: the send buffer grows with it, if
    /// autotuned (`send_buffer.rs`).
    pub(super) fn on_congestion_window(&mut self, cwnd: u32) {
        self.buffer_size.on_congestion_window(cwnd);
    }

    /// Whether the application shut down its write side.
    pub(super) fn fin_queued(&self) -> bool {
        self.fin_queued
    }

    /// The FIN's sequence number: right after the last byte written.
    pub(super) fn fin_sequence(&self) -> SeqNum {
        self.send_buffer_seq + self.send_buffer.len() as u32
    }

    /// Whether our FIN was sent and acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_queued && self.send_buffer.is_empty() && self.snd_una == self.send_buffer_seq + 1
    }

    /// The peer acknowledged up to `ack`, which is new: SND.UNA moves there, and the bytes
    /// it covers leave the send buffer. Returns how many bytes of data it acknowledged.
    pub(super) fn acknowledge(&mut self, ack: SeqNum) -> u32 {
        let acked_bytes = (ack.wrapping_diff(self.send_buffer_seq) as i32).max(0) as usize;
        let drained = acked_bytes.min(self.send_buffer.len());
        self.send_buffer.drain(..drained);
        self.send_buffer_seq += drained as u32;
        self.snd_una = ack;
        if self.short_segment_end.is_some_and(|end| end <= ack) {
            self.short_segment_end = None;
        }
        if self.snd_nxt < ack {
            // The peer took a window probe's byte.
            self.snd_nxt = ack;
        }
        u32::try_from(drained).unwrap_or(u32::MAX)
    }

    /// Take bytes from the application; the caller has checked the room.
    pub(super) fn write(&mut self, data: &[u8]) {
        self.send_buffer.extend(data);
    }

    /// The application shut down its write side: a FIN follows the data.
    pub(super) fn queue_fin(&mut self) {
        self.fin_queued = true;
    }

    /// Learn the peer's window from its SYN (RFC 9293 sections 3.10.7.2 and 3.10.7.3).
    pub(super) fn synchronize_window(&mut self, syn: &Segment<'_>) {
        self.snd_wnd = syn.window.min(MAX_WINDOW);
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = syn.seq;
        self.snd_wl2 = syn.ack;
    }

    /// Our SYN's sequence number was used elsewhere: a SYN cookie's SYN-ACK, sent by the
    /// endpoint without a connection, so no record of it is in flight (RFC 4987 section 3.6).
    pub(super) fn syn_sent_statelessly(&mut self) {
        self.snd_nxt = self.iss + 1;
    }

    /// Our SYN goes again as a SYN-ACK (a simultaneous open, RFC 9293 section 3.5): back to
    /// the ISS.
    pub(super) fn rewind_to_syn(&mut self) {
        self.snd_nxt = self.iss;
    }

    /// A window probe or keepalive is due: it goes at the next poll, and is unanswered until
    /// the peer says something.
    pub(super) fn queue_probe(&mut self, reason: Reason) {
        self.unanswered_probes += 1;
        self.pending_probe = Some(reason);
    }

    /// Window probes and keepalives sent since the peer last said anything.
    pub(super) fn unanswered_probes(&self) -> u32 {
        self.unanswered_probes
    }

    /// The peer sent an acceptable segment: it answered every probe.
    pub(super) fn on_peer_heard(&mut self) {
        self.unanswered_probes = 0;
    }

    /// The probe due, if any.
    pub(super) fn take_pending_probe(&mut self) -> Option<Reason> {
        self.pending_probe.take()
    }

    /// The connection closed: no probe goes.
    pub(super) fn forget_pending_probe(&mut self) {
        self.pending_probe = None;
    }

    /// The `len` buffered bytes starting at sequence number `seq`: borrowed where they lie
    /// in one piece of the ring, copied only when they wrap around its end. (A copy per
    /// segment, into a `Vec` of its own, cost a bulk sender's driver a fifth of its
    /// instructions: docs/performance.md.)
    fn send_buffer_range(&self, seq: SeqNum, len: u32) -> Cow<'_, [u8]> {
        let start = seq.wrapping_diff(self.send_buffer_seq) as usize;
        let end = (start + len as usize).min(self.send_buffer.len());
        let start = start.min(end);
        let (front, back) = self.send_buffer.as_slices();
        if end <= front.len() {
            Cow::Borrowed(&front[start..end])
        } else if start >= front.len() {
            Cow::Borrowed(&back[start - front.len()..end - front.len()])
        } else {
            let mut both = Vec::with_capacity(end - start);
            both.extend_from_slice(&front[start..]);
            both.extend_from_slice(&back[..end - front.len()]);
            Cow::Owned(both)
        }
    }

    /// As though `bytes` more had been sent and acknowledged without loss, for tests of the
    /// sequence space after a long transfer (sending gigabytes would take minutes).
    #[cfg(test)]
    pub(super) fn skip_acknowledged(&mut self, bytes: u32) {
        self.snd_una += bytes;
        self.snd_nxt += bytes;
        self.send_buffer_seq += bytes;
        self.snd_wl2 += bytes;
    }
}

impl Connection {
    /// RFC 5681's SMSS: the largest segment we send, as negotiated (RFC 9293 section 3.7.1),
    /// or as far as path MTU discovery has grown it (`plpmtud.rs`), as Linux's `mss_cache`
    /// follows its MTU probing.
    pub(super) fn smss(&self) -> u32 {
        self.path_mtu.segment_size()
    }

    /// The peer acknowledged up to `ack`, which is new (section 3.10.7.4, fifth check).
    /// Returns what that delivered.
    pub(super) fn on_new_ack(&mut self, now: Instant, ack: SeqNum) -> Delivered {
        let delivered = self.take_acknowledged(now, ack);
        let acked_data = self.send.acknowledge(ack);
        self.on_recovery_progress(now, ack, acked_data, delivered.dropped_fin);
        // RFC 6298 section 5.2 and 5.3, unless the receiver seems to have reneged.
        if self.send.snd_una == self.send.snd_nxt {
            self.timers.stop(Timer::Retransmit);
        } else if !self.check_sack_reneging(now) {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
        delivered
    }

    /// Section 3.10.7.4: take the window only from segments newer than the last update.
    pub(super) fn update_send_window(&mut self, segment: &Segment<'_>) {
        if self.send.snd_wl1 < segment.seq
            || (self.send.snd_wl1 == segment.seq && self.send.snd_wl2 <= segment.ack)
        {
            // A window of 2^31 or more would break sequence comparisons (docs/protocol.md).
            self.send.snd_wnd = segment.window.min(MAX_WINDOW);
            self.send.max_snd_wnd = self.send.max_snd_wnd.max(self.send.snd_wnd);
            self.send.snd_wl1 = segment.seq;
            self.send.snd_wl2 = segment.ack;
            // A window still too small to send into (silly window avoidance) leaves the
            // persist timer running: it is the override, and must not restart with every
            // update (RFC 9293 section 3.8.6.2.1).
            let nothing_can_go =
                self.send.snd_nxt < self.send.fin_sequence() && self.next_new_segment().is_none();
            if self.send.snd_wnd > 0 && !nothing_can_go {
                self.timers.stop(Timer::Persist);
                self.send.persist_backoff = 0;
                self.send.window_probe_outstanding = false;
            }
        }
    }

    /// Send whatever occupies sequence space and may go now: a SYN or SYN-ACK, a lost
    /// segment again, new data, a FIN.
    pub(super) fn transmit_sequence_space(&mut self, now: Instant) -> Option<Transmit> {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            if self.send.snd_nxt == self.send.iss {
                let flags = if self.state == State::SynSent {
                    Flags::SYN
                } else {
                    Flags::SYN | Flags::ACK
                };
                return Some(self.transmit_new(now, flags, self.send.iss, 0, Reason::Handshake));
            }
            let lost = self.recovery.retransmission_queue().next_lost()?;
            return self.retransmit(now, lost);
        }
        if !self.state.may_send() {
            return None;
        }
        if self.recovery.loss_probe_due() {
            if let Some(probe) = self.transmit_loss_probe(now) {
                return Some(probe);
            }
        }
        // Lost segments first (RFC 6675 NextSeg() rule (1); the timer's, fast retransmit's
        // and RACK's losses), unless F-RTO holds them back for new data.
        if self.retransmissions_first() {
            if let Some(lost) = self.recovery.retransmission_queue().next_lost() {
                return self.retransmit(now, lost);
            }
        }
        // New data (rule (2)), then a FIN; limited transmit may take it past the window.
        let window = self
            .congestion_window()
            .saturating_add(self.limited_transmit_room());
        let room = window.saturating_sub(self.recovery.retransmission_queue().pipe());
        let fin_seq = self.send.fin_sequence();
        // However small the peer's MSS, no more than MAX_SEGMENTS_IN_FLIGHT records.
        let flight_full = self.recovery.retransmission_queue().len() >= MAX_SEGMENTS_IN_FLIGHT;
        if !flight_full {
            if let Some(probe) = self.transmit_path_mtu_probe(now, room) {
                return Some(probe);
            }
        }
        if self.send.snd_nxt < fin_seq && !flight_full {
            match self.next_new_segment() {
                None => self.arm_persist(now),
                Some((len, flags))
                    if len <= room
                        && !self.nagle_holds(len, flags)
                        && !self.pacer_holds(now, len) =>
                {
                    self.on_new_data_sent(len);
                    let transmit =
                        self.transmit_new(now, flags, self.send.snd_nxt, len, Reason::NewData);
                    self.note_cwnd_usage(false);
                    return Some(transmit);
                }
                Some((len, _)) if len > room => self.note_cwnd_usage(true),
                Some(_) => {}
            }
        } else if self.send.fin_queued && self.send.snd_nxt == fin_seq {
            // A FIN alone takes no room in the network.
            return Some(self.transmit_new(now, Flags::ACK | Flags::FIN, fin_seq, 0, Reason::Fin));
        }
        // RFC 6675 NextSeg() rule (3): with nothing new to send, the oldest hole below
        // SACKed data. Not deemed lost: its first copy stays in the pipe (SetPipe() (a)).
        let hole = self.next_seg_rule_3()?;
        self.retransmit_as(now, hole, Some(Reason::SackRetransmission))
    }

    /// The next segment of unsent data the peer's window takes: its length (at most the size
    /// path MTU discovery allows now, the SMSS without it) and flags, a FIN riding on the last one. `None` when nothing unsent fits.
    pub(super) fn next_new_segment(&self) -> Option<(u32, Flags)> {
        let fin_seq = self.send.fin_sequence();
        let window_end = self.send.snd_una + self.send.snd_wnd;
        if self.send.snd_nxt >= fin_seq || window_end <= self.send.snd_nxt {
            return None;
        }
        let unsent = fin_seq.wrapping_diff(self.send.snd_nxt);
        let window_room = window_end.wrapping_diff(self.send.snd_nxt);
        let wanted = self.segment_room().min(unsent);
        // Sender-side silly window avoidance (RFC 9293 section 3.8.6.2.1): a segment the
        // peer's window cuts short goes only if it is at least half the largest window the
        // peer has offered. Otherwise wait: ACKs of data in flight will open the window, and
        // with nothing in flight the persist timer stands in for the RFC's override timeout.
        if window_room < wanted
            && window_room < self.send.max_snd_wnd / 2
            && !self.send.sws_override
        {
            return None;
        }
        let len = wanted.min(window_room);
        let flags = if self.send.fin_queued && len == unsent {
            Flags::ACK | Flags::FIN
        } else {
            Flags::ACK
        };
        Some((len, flags))
    }

    /// The Nagle algorithm (RFC 9293 section 3.7.4, RFC 896) in Minshall's form, as Linux's
    /// `tcp_nagle_check`: unless [`Config::nodelay`], a segment shorter than the SMSS waits
    /// while an earlier short segment is unacknowledged, so that small writes coalesce into
    /// one segment per round trip instead of a segment each. One carrying the FIN goes (as
    /// Linux's `tcp_nagle_test`: nothing more will come to fill it), and full segments never
    /// wait, so bulk transfers are unaffected. Holding only behind a short segment, not behind
    /// any data, lets the short tail of a large write go at once.
    fn nagle_holds(&self, len: u32, flags: Flags) -> bool {
        !self.config.nodelay
            && len < self.segment_room()
            && !flags.contains(Flags::FIN)
            && self
                .send
                .short_segment_end
                .is_some_and(|end| self.send.snd_una < end)
    }

    /// Emit a segment for the first time at `seq` with `payload_len` bytes from the send
    /// buffer, and account for it as in flight.
    pub(super) fn transmit_new(
        &mut self,
        now: Instant,
        flags: Flags,
        seq: SeqNum,
        payload_len: u32,
        reason: Reason,
    ) -> Transmit {
        self.restart_window_after_idle(now);
        // What a full segment is, before this one takes the SACK blocks owed.
        let full = self.segment_room();
        let transmit = self.transmit_buffered(now, flags, seq, seq, payload_len, reason);
        self.on_paced_bytes_sent(now, payload_len);
        self.send.sws_override = false;
        let seq_len = payload_len
            + u32::from(flags.contains(Flags::SYN))
            + u32::from(flags.contains(Flags::FIN));
        self.send.snd_nxt = seq + seq_len;
        if payload_len > 0 && payload_len < full {
            self.send.short_segment_end = Some(self.send.snd_nxt);
        }
        self.on_sent_in_recovery(seq_len);
        let fin = flags.contains(Flags::FIN);
        if payload_len > self.path_mtu.base() {
            let probe = reason == Reason::PathMtuProbe;
            let base = self.path_mtu.base();
            self.recovery
                .on_sent_large(seq, payload_len, fin, now, base, probe);
        } else {
            self.recovery.on_sent(seq, seq_len, fin, now);
        }
        self.arm_retransmit_timer(now);
        self.arm_loss_probe(now);
        transmit
    }

    /// Send the in-flight segment at `index` again, if the congestion window has room for it
    /// (RFC 6675 section 5 (C)).
    pub(super) fn retransmit(&mut self, now: Instant, index: usize) -> Option<Transmit> {
        self.retransmit_as(now, index, None)
    }

    /// [`retransmit`](Self::retransmit) with `reason` in place of the one the record's loss
    /// gives.
    pub(super) fn retransmit_as(
        &mut self,
        now: Instant,
        index: usize,
        reason: Option<Reason>,
    ) -> Option<Transmit> {
        let first = *self.recovery.retransmission_queue().get(index)?;
        // A larger datagram's pieces go together while segments are that large (`plpmtud.rs`).
        let pieces = 1 + self
            .recovery
            .retransmission_queue()
            .pieces_after(index, self.smss());
        let len = (index..index + pieces)
            .filter_map(|piece| self.recovery.retransmission_queue().get(piece))
            .map(|record| record.len)
            .sum();
        let record = InFlight { len, ..first };
        // By state, not by `seq == iss`: after 2^32 bytes a data segment starts there too.
        let syn = record.seq == self.send.iss
            && matches!(self.state, State::SynSent | State::SynReceived);
        let fin = self.send.fin_queued && record.seq + record.len == self.send.fin_sequence() + 1;
        let payload_len = record.len - u32::from(syn) - u32::from(fin);
        // The window counts payload: a SYN or FIN alone always fits. The fast retransmission
        // goes whatever the window (RFC 5681 section 3.2 step 3, RFC 6582 section 3.2 step 5,
        // RFC 6675 step (4.3)).
        let despite_cwnd = record.lost == Some(Reason::FastRetransmission)
            || reason == Some(Reason::TailLossProbe)
            || self.recovery.retransmit_despite_cwnd();
        if !despite_cwnd
            && self.recovery.retransmission_queue().pipe() + payload_len > self.congestion_window()
        {
            return None;
        }
        // Loss recovery's retransmissions are paced, as Linux's `tcp_xmit_retransmit_queue`
        // paces them; the timer's and the tail loss probe are not (`pacing.rs`).
        let paced = !matches!(
            reason.or(record.lost),
            None | Some(Reason::RtoRetransmission { .. } | Reason::TailLossProbe)
        );
        if paced && !syn && self.pacer_holds(now, payload_len) {
            return None;
        }
        let mut flags = match (syn, self.state) {
            (true, State::SynSent) => Flags::SYN,
            (true, _) => Flags::SYN | Flags::ACK,
            (false, _) => Flags::ACK,
        };
        if fin {
            flags.insert(Flags::FIN);
        }
        let reason = reason.or(record.lost).unwrap_or(Reason::RtoRetransmission {
            timeout: self.recovery.consecutive_timeouts(),
        });
        match reason {
            Reason::RtoRetransmission { .. } => self.stats.retransmissions.rto += 1,
            Reason::FastRetransmission => self.stats.retransmissions.fast += 1,
            Reason::SackRetransmission => self.stats.retransmissions.sack += 1,
            Reason::RackRetransmission => self.stats.retransmissions.rack += 1,
            Reason::TailLossProbe => self.stats.retransmissions.tlp += 1,
            Reason::RenegeRetransmission => self.stats.retransmissions.renege += 1,
            // A SYN-ACK answering a repeated SYN.
            _ => {}
        }
        self.stats.bytes_retransmitted += u64::from(payload_len);
        let payload_seq = record.seq + u32::from(syn);
        let transmit =
            self.transmit_buffered(now, flags, record.seq, payload_seq, payload_len, reason);
        self.on_paced_bytes_sent(now, payload_len);
        self.on_sent_in_recovery(record.len);
        self.recovery
            .on_retransmitted(index, pieces, now, reason == Reason::TailLossProbe);
        self.arm_retransmit_timer(now);
        Some(transmit)
    }

    /// A window probe or keepalive, if still needed.
    pub(super) fn transmit_probe(&mut self, now: Instant, reason: Reason) -> Option<Transmit> {
        if reason == Reason::Keepalive {
            // SEG.SEQ = SND.NXT - 1: outside the peer's window, so it must answer with an ACK.
            self.stats.keepalives += 1;
            return Some(self.transmit(now, Flags::ACK, self.send.snd_nxt - 1, &[], reason));
        }
        if self.send.snd_wnd != 0 || self.send.snd_nxt >= self.send.fin_sequence() {
            return None;
        }
        // One byte of new data beyond the window (section 3.8.6.1). It does not advance
        // snd_nxt, so sent again later it still counts as new data; if the window opened and
        // the byte is taken, the ACK moves snd_nxt on.
        self.stats.window_probes += 1;
        self.send.window_probe_outstanding = true;
        let seq = self.send.snd_nxt;
        Some(self.transmit_buffered(now, Flags::ACK, seq, seq, 1, reason))
    }

    /// Encode one segment sent at `now` with our current acknowledgment and window (and
    /// timestamps, if negotiated), and count it.
    pub(super) fn transmit(
        &mut self,
        now: Instant,
        flags: Flags,
        seq: SeqNum,
        payload: &[u8],
        reason: Reason,
    ) -> Transmit {
        let acknowledgment = self.acknowledgment(flags.contains(Flags::ACK));
        let options = self.segment_options(now, flags, acknowledgment.ack);
        let contents = self.encode_segment(acknowledgment, options, flags, seq, payload);
        self.count_sent(payload.len());
        Transmit {
            destination: self.remote,
            contents,
            reason,
        }
    }

    /// [`transmit`](Self::transmit) with the payload the `len` bytes of the send buffer from
    /// `payload_seq` on (fewer if fewer are buffered), taken from where they lie.
    fn transmit_buffered(
        &mut self,
        now: Instant,
        flags: Flags,
        seq: SeqNum,
        payload_seq: SeqNum,
        len: u32,
        reason: Reason,
    ) -> Transmit {
        let acknowledgment = self.acknowledgment(flags.contains(Flags::ACK));
        let options = self.segment_options(now, flags, acknowledgment.ack);
        let payload = self.send.send_buffer_range(payload_seq, len);
        let payload_len = payload.len();
        let contents = self.encode_segment(acknowledgment, options, flags, seq, &payload);
        self.count_sent(payload_len);
        Transmit {
            destination: self.remote,
            contents,
            reason,
        }
    }

    /// The options of a segment sent at `now` with `flags`. RFC 9293 section 3.7.1 and RFC
    /// 2018 section 2: the MSS and SACK-permitted go on SYNs only. RFC 7323 section 3.2:
    /// Timestamps on our SYN if we offer them, on the SYN-ACK only if the peer's SYN carried
    /// them, and then on every segment (this one sends no RST); TSecr only with the ACK flag,
    /// which makes this segment's acknowledgment Last.ACK.sent.
    fn segment_options(&mut self, now: Instant, flags: Flags, ack: SeqNum) -> Options {
        let mut options = if flags.contains(Flags::SYN) {
            Negotiated::syn_options(&self.config, self.sizes)
        } else {
            Options::none()
        };
        if self.negotiated.timestamps {
            let ack = flags.contains(Flags::ACK).then_some(ack);
            options.timestamps = Some(self.timestamps.option(now, ack));
        }
        options
    }

    /// One segment's datagram, with these acknowledgment fields and options.
    fn encode_segment(
        &self,
        acknowledgment: Acknowledgment,
        options: Options,
        flags: Flags,
        seq: SeqNum,
        payload: &[u8],
    ) -> Vec<u8> {
        let Acknowledgment {
            ack,
            window,
            mut sack,
        } = acknowledgment;
        self.fit_sack_blocks(&mut sack, payload.len());
        let segment = Segment {
            flags,
            seq,
            ack,
            window,
            sack,
            options,
            payload,
        };
        self.encode(&segment)
    }

    /// Count a segment sent with `payload_len` bytes of payload.
    fn count_sent(&mut self, payload_len: usize) {
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += payload_len as u64;
    }

    /// Data waits and the peer's window takes none of it (or only a silly sliver): with nothing
    /// in flight to bring an ACK, only the persist timer will move things on.
    pub(super) fn arm_persist(&mut self, now: Instant) {
        let nothing_in_flight = self.send.snd_una == self.send.snd_nxt;
        if nothing_in_flight && !self.timers.is_armed(Timer::Persist) {
            self.timers.set(
                Timer::Persist,
                now + self.rtt.rto_backed_off(self.send.persist_backoff),
            );
        }
    }

    pub(super) fn on_persist_timeout(&mut self, now: Instant) {
        if self.send.snd_wnd != 0 {
            // The window is open but too small to be worth a segment, and no update came:
            // send what fits (RFC 9293 section 3.8.6.2.1's override timeout).
            self.send.sws_override = true;
            return;
        }
        if self.send.unanswered_probes() >= self.config.max_retransmissions {
            self.close(Some(ConnectionError::TimedOut));
            return;
        }
        self.send.queue_probe(Reason::WindowProbe);
        self.send.persist_backoff = self.send.persist_backoff.saturating_add(1);
        self.timers.set(
            Timer::Persist,
            now + self.rtt.rto_backed_off(self.send.persist_backoff),
        );
    }
}
