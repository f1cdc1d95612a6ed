//! Loss detection and recovery: what an ACK's SACK blocks and D-SACK say (RFC 2018, RFC 2883),
//! duplicate ACKs (RFC 5681, RFC 6675 section 2), RACK's time-based loss detection and tail
//! loss probes (RFC 8985), fast recovery (RFC 6582 without SACK, RFC 6675 with it, its window
//! set by proportional rate reduction, RFC 6937), the retransmission timeout's response (RFC
//! 6298 section 5, RFC 5681 section 3.1), F-RTO's undo of a spurious one (RFC 5682 section 3)
//! and the response to a receiver that reneges on its SACKs (RFC 2018 section 8).
//!
//! Which detector runs is chosen once, as a [`LossDetection`], when the SYNs have settled SACK:
//! with SACK negotiated and [`Config::rack`] on (the default), RACK alone marks segments lost,
//! as Linux does; with RACK off, RFC 6675's `IsLost()` and the duplicate-ACK threshold;
//! without SACK on both ends, NewReno's duplicate ACKs and partial ACKs. Every path ends in the
//! same place: records marked lost in the retransmission queue, resent by
//! `transmit_sequence_space` as the congestion window allows.

use std::time::Duration;

use super::black_hole::LostDatagram;
use super::cc::{Ack, CongestionControl};
use super::rack::Rack;
use super::retransmission::{Delivered, RetransmissionQueue};
use super::rtt::backed_off;
use super::timers::Timer;
use super::trace::Episode;
use super::{Config, Connection, Negotiated, Reason, MAX_WINDOW};
use crate::time::Instant;
use crate::wire::{Flags, SackBlock, Segment, SeqNum};

/// Which rules find lost segments. Chosen from the settings and what the SYNs settled, once
/// when the connection opens (on this end's own offer) and again when the peer's SYN arrives,
/// rather than asked of the config wherever it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LossDetection {
    /// RACK-TLP (RFC 8985): losses by time, tail loss probes, F-RTO after a timeout. With SACK
    /// on both ends and [`Config::rack`].
    Rack,
    /// RFC 6675's `IsLost()`, the duplicate-ACK threshold and `NextSeg()`'s rule (3): with SACK
    /// on both ends and RACK off.
    Rfc6675,
    /// NewReno (RFC 6582): duplicate ACKs and partial ACKs, without SACK on both ends.
    NewReno,
}

impl LossDetection {
    /// The detector for a connection with `config` whose SYNs settled `negotiated`.
    pub(super) fn choose(config: &Config, negotiated: Negotiated) -> LossDetection {
        match (negotiated.sack, config.rack) {
            (false, _) => LossDetection::NewReno,
            (true, false) => LossDetection::Rfc6675,
            (true, true) => LossDetection::Rack,
        }
    }

    /// Whether the peer's SACK blocks are heeded: every detector but NewReno's.
    pub(super) fn uses_sack(self) -> bool {
        self != LossDetection::NewReno
    }
}

/// Loss recovery's state: the segments in flight with their SACK scoreboard, the recovery
/// under way and the point it lasts until, duplicate ACKs, RACK, tail loss probes, F-RTO and
/// limited transmit. Its fields are this file's alone; other files read them through the
/// methods below and the `impl Connection` block of this file.
#[derive(Debug)]
pub(super) struct LossRecovery {
    /// Which rules find lost segments, chosen from the config and what the SYNs settled.
    detection: LossDetection,
    /// Segments in flight, oldest first, with the SACK scoreboard.
    retransmission_queue: RetransmissionQueue,
    /// The loss recovery under way, if any.
    episode: Option<Recovery>,
    /// No fast recovery starts until snd_una reaches this: RFC 6582's `recover` and RFC
    /// 6675's RecoveryPoint, which outlive the recovery that set them. `None` once snd_una
    /// has reached it, so that it is only ever compared with an snd_una less than a window
    /// below it: kept for good, it would read as ahead of snd_una again 2^31 bytes later.
    recovery_point: Option<SeqNum>,
    /// Retransmission timeouts since the peer last acknowledged something new.
    consecutive_timeouts: u32,
    /// Duplicate ACKs in a row (RFC 5681 section 2; RFC 6675's with SACK).
    duplicate_acks: u32,
    /// Bytes sent by limited transmit since the last new ACK: not part of the FlightSize
    /// that sets ssthresh (RFC 5681 section 3.2 step 2).
    limited_transmit_bytes: u32,
    /// The next retransmission goes whatever the congestion window (RFC 6675 step (4.3)).
    retransmit_despite_cwnd: bool,
    /// RACK's state (RFC 8985).
    rack: Rack,
    /// The tail loss probe in flight, if any.
    loss_probe: Option<LossProbe>,
    /// The probe timer expired: the next transmission is a tail loss probe.
    loss_probe_due: bool,
    /// Probes sent since the last ACK came.
    unanswered_loss_probes: u32,
    /// F-RTO's progress after a timeout (RFC 5682).
    frto: Option<Frto>,
    /// The latest loss response, while D-SACKs may still prove it spurious.
    dsack_undo: Option<DsackUndo>,
    /// The RTT sample the ACK being processed gave, for the congestion controller.
    ack_rtt_sample: Option<Duration>,
}

impl LossRecovery {
    /// Nothing in flight, no recovery, the detector for `config` and this end's own offer.
    pub(super) fn new(config: &Config, offered: Negotiated) -> LossRecovery {
        LossRecovery {
            detection: LossDetection::choose(config, offered),
            retransmission_queue: RetransmissionQueue::default(),
            episode: None,
            recovery_point: None,
            consecutive_timeouts: 0,
            duplicate_acks: 0,
            limited_transmit_bytes: 0,
            retransmit_despite_cwnd: false,
            rack: Rack::default(),
            loss_probe: None,
            loss_probe_due: false,
            unanswered_loss_probes: 0,
            frto: None,
            dsack_undo: None,
            ack_rtt_sample: None,
        }
    }

    /// The SYNs settled `negotiated`: choose the detector again for it.
    pub(super) fn on_negotiated(&mut self, config: &Config, negotiated: Negotiated) {
        self.detection = LossDetection::choose(config, negotiated);
    }

    /// The episode under way, by kind, for the trace.
    pub(super) fn episode_kind(&self) -> Option<Episode> {
        self.episode.map(|episode| match episode {
            Recovery::NewReno { .. } => Episode::NewRenoFastRecovery,
            Recovery::Sack { .. } => Episode::SackFastRecovery,
            Recovery::Timeout { .. } => Episode::TimeoutRecovery,
        })
    }

    /// RACK's windowed minimum RTT (RFC 8985 section 6.2), for the trace.
    pub(super) fn min_rtt(&self) -> Option<Duration> {
        self.rack.min_rtt()
    }

    /// Keep, or stop keeping, the segments newly marked lost, for the trace.
    pub(super) fn log_losses(&mut self, on: bool) {
        self.retransmission_queue.log_losses(on);
    }

    /// The segments marked lost since the last call: (seq, sequence space, reason).
    pub(super) fn take_newly_lost(&mut self) -> Vec<(SeqNum, u32, Reason)> {
        self.retransmission_queue.take_newly_lost()
    }

    /// The segments in flight and their scoreboard.
    pub(super) fn retransmission_queue(&self) -> &RetransmissionQueue {
        &self.retransmission_queue
    }

    /// Retransmission timeouts since the peer last acknowledged something new: what an RTO
    /// retransmission's [`Reason`] counts.
    pub(super) fn consecutive_timeouts(&self) -> u32 {
        self.consecutive_timeouts
    }

    /// Count the timer's expiries afresh: the handshake moved to a new path
    /// ([`Connection::restart_handshake_timer`](super::Connection::restart_handshake_timer)).
    pub(super) fn restart_timeouts(&mut self) {
        self.consecutive_timeouts = 0;
    }

    /// Whether the next transmission is a tail loss probe.
    pub(super) fn loss_probe_due(&self) -> bool {
        self.loss_probe_due
    }

    /// Whether the next retransmission goes whatever the congestion window.
    pub(super) fn retransmit_despite_cwnd(&self) -> bool {
        self.retransmit_despite_cwnd
    }

    /// A segment went for the first time.
    pub(super) fn on_sent(&mut self, seq: SeqNum, len: u32, fin: bool, now: Instant) {
        self.retransmission_queue.push(seq, len, fin, now);
    }

    /// A segment of `payload` octets (and a FIN if `fin`) larger than the base size (`base`
    /// octets) went for the first time, a path MTU probe if `probe`.
    pub(super) fn on_sent_large(
        &mut self,
        seq: SeqNum,
        payload: u32,
        fin: bool,
        now: Instant,
        base: u32,
        probe: bool,
    ) {
        self.retransmission_queue
            .push_large(seq, payload, fin, now, base, probe);
    }

    /// The path MTU search's evidence since the last call: whether a probe was lost, and the
    /// other datagrams that were (`RetransmissionQueue::take_lost_datagrams`).
    pub(super) fn take_path_mtu_losses(&mut self) -> (bool, Vec<LostDatagram>) {
        (
            self.retransmission_queue.take_probe_lost(),
            self.retransmission_queue.take_lost_datagrams(),
        )
    }

    /// The segment at `index` went again at `now`, as a tail loss probe if `probe`.
    /// `pieces` records from `index` on (a larger datagram's, `plpmtud.rs`) went in it.
    pub(super) fn on_retransmitted(
        &mut self,
        index: usize,
        pieces: usize,
        now: Instant,
        probe: bool,
    ) {
        self.retransmit_despite_cwnd = false;
        // One datagram: one D-SACK reports it if it was not needed.
        if let Some(dsack_undo) = &mut self.dsack_undo {
            dsack_undo.unreported = dsack_undo.unreported.saturating_add(1);
        }
        self.retransmission_queue
            .on_retransmitted(index, pieces, now, probe);
    }

    /// The segment at `index` is to be sent again, for `reason`: the SYN-ACK that answers a
    /// repeated SYN.
    pub(super) fn mark_lost(&mut self, index: usize, reason: Reason) {
        self.retransmission_queue.mark_lost(index, reason);
    }

    /// Nothing is in flight any more: the connection closed, or a simultaneous open sends
    /// its SYN again as a SYN-ACK.
    pub(super) fn forget_in_flight(&mut self) {
        self.retransmission_queue.clear();
    }
}

/// A loss recovery episode: what is resent, and how the window is managed meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovery {
    /// NewReno's fast recovery without SACK (RFC 6582): partial ACKs resend the next hole.
    /// It ends when snd_una reaches `point`.
    NewReno {
        point: SeqNum,
        /// RFC 6582's inflation of cwnd: 3 SMSS, plus one per further duplicate ACK, less
        /// what partial ACKs acknowledge; never beyond [`reno_inflation_limit`].
        inflation: i64,
        /// Segments in flight when this round of duplicate ACKs began: when recovery
        /// started, or at the latest partial ACK.
        round_segments: usize,
    },
    /// Fast recovery with SACK (RFC 6675): pipe, not inflation, keeps the ACK clock, and
    /// proportional rate reduction (RFC 6937) says how much may be in it; the losses come
    /// from RACK (RFC 8985) or, with RACK off, from RFC 6675's `IsLost()`. It ends when
    /// snd_una reaches `point`.
    /// `prr` is `None` without congestion control, which has no window to reduce.
    Sack { point: SeqNum, prr: Option<Prr> },
    /// After a retransmission timeout: every unSACKed segment outstanding then is resent, in
    /// slow start, until snd_una reaches `point`.
    Timeout { point: SeqNum },
}

/// Proportional rate reduction (RFC 6937 section 3, with the slow-start reduction bound,
/// PRR-SSRB, as Linux's `tcp_cwnd_reduction`): during a SACK recovery, each ACK lets out about
/// ssthresh / RecoverFS of what it delivered while pipe is above ssthresh, so that the window
/// comes down to ssthresh evenly over the recovery's round trip instead of the sender falling
/// silent until pipe is below the halved cwnd; below ssthresh, it lets out what the ACK
/// delivered (one segment more when snd_una moved), back up to ssthresh but no faster than
/// slow start. Counted in bytes, as the RFC does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Prr {
    /// RecoverFS: FlightSize when recovery began.
    recover_fs: u32,
    /// prr_delivered: bytes the peer took, cumulatively or by SACK, since recovery began.
    delivered: u32,
    /// prr_out: bytes sent since recovery began, retransmissions included.
    out: u32,
    /// pipe + sndcnt, as the latest ACK left it: what may be in flight until the next one,
    /// the congestion window during recovery (Linux sets cwnd to this).
    window: u32,
}

impl Prr {
    /// Recovery begins with `flight_size` bytes outstanding and `pipe` in the network.
    fn new(flight_size: u32, pipe: u32) -> Prr {
        Prr {
            recover_fs: flight_size.max(1),
            delivered: 0,
            out: 0,
            window: pipe,
        }
    }

    /// RFC 6937 section 3's "on every ACK during recovery": the ACK delivered `delivered`
    /// bytes, leaving `pipe` in the network; `snd_una_advanced` when it moved snd_una.
    fn on_ack(
        &mut self,
        delivered: u32,
        pipe: u32,
        ssthresh: u32,
        smss: u32,
        snd_una_advanced: bool,
    ) {
        if delivered == 0 {
            // Nothing left the network: the window stays as the last ACK set it.
            return;
        }
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // The proportional part: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) -
            // prr_out.
            let share = (u64::from(self.delivered) * u64::from(ssthresh))
                .div_ceil(u64::from(self.recover_fs));
            u32::try_from(share)
                .unwrap_or(u32::MAX)
                .saturating_sub(self.out)
        } else {
            // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS, the MSS
            // only when snd_una moved (as Linux, so that SACKs alone grow nothing faster than
            // they deliver); sndcnt = MIN(ssthresh - pipe, limit).
            let limit = self.delivered.saturating_sub(self.out).max(delivered)
                + if snd_una_advanced { smss } else { 0 };
            (ssthresh - pipe).min(limit)
        };
        self.window = pipe.saturating_add(sndcnt);
    }
}

/// F-RTO (RFC 5682 section 3, the SACK-enhanced algorithm) after a timeout: where it stands,
/// and the congestion control to restore if the timeout proves spurious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frto {
    stage: FrtoStage,
    /// Congestion control just before the timeout.
    undo: Undo,
}

/// F-RTO's steps 2 and 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrtoStage {
    /// Step 2: the oldest segment went again; waiting for the first ACK that moves snd_una.
    AwaitingNewAck,
    /// Step 3: that ACK came, so new data went instead of more retransmissions; the next ACK
    /// tells whether the timeout was spurious. `recovery_point` is step 2's RecoveryPoint:
    /// snd_nxt when the new ACK came, before the new data went.
    AwaitingSecondAck { recovery_point: SeqNum },
}

/// A tail loss probe that resent data, outside recovery, whose outcome is not known yet (RFC
/// 8985 section 7.4's `TLP.end_seq`; a probe of new data needs no watching).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LossProbe {
    /// snd_nxt when the probe went.
    end: SeqNum,
}

/// A loss response that D-SACKs may yet prove spurious (RFC 2883 section 4, RFC 3708 section
/// 3's detection by D-SACK), as Linux's `undo_marker` and `undo_retrans`: if the peer reports
/// every retransmission made since the response began as received twice, the original
/// segments were only delayed or reordered, and cwnd and ssthresh go back to what they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DsackUndo {
    /// snd_una when the response began: a D-SACK ending at or below it reports an older
    /// retransmission.
    marker: SeqNum,
    /// Retransmissions made since, not yet reported by D-SACK.
    unreported: u32,
    /// Congestion control before the response.
    undo: Undo,
}

/// What congestion control was before a timeout, to restore if F-RTO finds it spurious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Undo {
    window: u32,
    slow_start_threshold: u32,
}

/// Probes sent into one silence however long the backed-off wait has grown. At 20% loss each
/// way a probe or its ACK is lost about one time in three: with three probes, 5% of silences
/// ended in a timeout (23 per 8 MiB on a 40 ms path, `cargo bench --bench recovery`); with
/// five, 0.6%.
const MIN_LOSS_PROBES: u32 = 5;

/// The least wait before a suspected renege is acted on: Linux's, in
/// `tcp_check_sack_reneging`.
const RENEGING_MIN_WAIT: Duration = Duration::from_millis(10);

/// What is added to a probe timeout of 2 x SRTT when the peer's ACK is not delayed: room
/// for a receiver's scheduling on a very short path. Linux adds 2 ms (`TCP_TIMEOUT_MIN`, two
/// ticks of its timer wheel); Ferry's socket driver keeps short waits to the microsecond
/// (`net/fine_timer.rs`), and on loopback, with an SRTT near 60 us, 2 ms would be thirty
/// round trips idle per probe. 200 us drew no spurious probe in the lossy-loopback race.
const TLP_MIN_EXTRA: Duration = Duration::from_micros(200);

/// The most that NewReno's inflation may reach (RFC 6582 section 3.2 step 4): one SMSS per
/// segment that was in flight when the round of duplicate ACKs began, less the hole at
/// snd_una, since no more of them can have left the network. Linux caps its count of
/// duplicate ACKs likewise (`tcp_limit_reno_sacked`: at most packets_out less the holes,
/// one for NewReno, which marks one hole lost at a time), but against the segments in flight
/// now, which each segment the inflation lets out raises: 2000 duplicates a round trip would
/// still let 2000 segments out. A segment sent in this round cannot have drawn a duplicate
/// ACK in it, so the count is taken when the round began. Without SACK a duplicate ACK is
/// easy to forge (the ACK and window of the real ones), and this is what bounds the forger.
fn reno_inflation_limit(inflation: i64, round_segments: usize, smss: i64) -> i64 {
    let left_the_network = i64::try_from(round_segments.saturating_sub(1)).unwrap_or(i64::MAX);
    inflation.min(left_the_network.saturating_mul(smss))
}

impl Connection {
    /// What congestion control lets be in flight now: with RFC 6582's inflation in a NewReno
    /// recovery, as PRR allows in a SACK recovery (RFC 6937).
    pub(super) fn congestion_window(&self) -> u32 {
        let window = match self.recovery.episode {
            Some(Recovery::NewReno { inflation, .. }) => {
                i64::from(self.congestion.window()) + inflation
            }
            Some(Recovery::Sack { prr: Some(prr), .. }) => i64::from(prr.window),
            _ => i64::from(self.congestion.window()),
        };
        u32::try_from(window.max(i64::from(self.smss()))).unwrap_or(u32::MAX)
    }

    /// Limited transmit (RFC 3042): outside recovery, each of the first two duplicate ACKs
    /// lets one more new segment out beyond the congestion window, so that a small window can
    /// still bring the three duplicate ACKs that fast retransmit needs. Returns how far past
    /// the window new data may go now.
    pub(super) fn limited_transmit_room(&self) -> u32 {
        if self.recovery.episode.is_none() {
            self.recovery.duplicate_acks.min(2) * self.smss()
        } else {
            0
        }
    }

    /// `len` bytes of sequence space went, new or again: PRR counts them (prr_out).
    pub(super) fn on_sent_in_recovery(&mut self, len: u32) {
        if let Some(Recovery::Sack { prr: Some(prr), .. }) = &mut self.recovery.episode {
            prr.out = prr.out.saturating_add(len);
        }
    }

    /// New data of `len` bytes is about to go: count what lies beyond the congestion window,
    /// sent by limited transmit.
    pub(super) fn on_new_data_sent(&mut self, len: u32) {
        let beyond_cwnd = (self.recovery.retransmission_queue.pipe() + len)
            .saturating_sub(self.congestion_window())
            .min(len);
        self.recovery.limited_transmit_bytes += beyond_cwnd;
    }

    /// RFC 6675 `NextSeg()` rule (3), in a SACK recovery with RACK off: with nothing new to
    /// send, the oldest hole below SACKed data goes again. RACK replaces this guess with its
    /// timer. Returns that hole's index, if the rule applies.
    pub(super) fn next_seg_rule_3(&self) -> Option<usize> {
        let applies = self.recovery.detection == LossDetection::Rfc6675
            && matches!(self.recovery.episode, Some(Recovery::Sack { .. }));
        if !applies {
            return None;
        }
        self.recovery.retransmission_queue.next_unsacked_hole()
    }

    /// Whether lost segments go before new data now (RFC 6675 `NextSeg()` rule (1)): during
    /// recovery, or while data the peer reneged on, or a lost path MTU probe's (no recovery
    /// for it: `plpmtud.rs`), awaits its copy (`on_renege`), unless F-RTO holds them back for
    /// new data.
    pub(super) fn retransmissions_first(&self) -> bool {
        let queue = &self.recovery.retransmission_queue;
        let reneged = queue.awaits_renege_retransmission();
        let probe_lost = queue.awaits_probe_retransmission();
        (self.recovery.episode.is_some() || reneged || probe_lost) && !self.frto_sends_new_data()
    }

    /// Whether a loss recovery is under way (the path MTU search sends no probe then).
    pub(super) fn in_recovery(&self) -> bool {
        self.recovery.episode.is_some()
    }

    /// The fifth step of section 3.10.7.4 for an ACK that acknowledges nothing beyond what was
    /// sent: the scoreboard, RTT samples, duplicate ACKs, loss detection and recovery.
    pub(super) fn process_ack(&mut self, now: Instant, segment: &Segment<'_>) {
        self.recovery.ack_rtt_sample = None;
        // Before anything else, as Linux's tcp_try_undo_dsack comes before loss detection: a
        // D-SACK that proves the recovery spurious ends it.
        let dsack = self.take_dsack(segment);
        let recovery_before = self.recovery.episode;
        let frto = self.recovery.frto;
        let mut delivered = self.take_sack_blocks(now, segment, dsack.is_some());
        let duplicate = self.is_duplicate_ack(segment, delivered.bytes);
        let advanced = segment.ack > self.send.snd_una();
        if advanced || delivered.bytes > 0 {
            // The peer took something: probing starts over from this ACK. (An ACK that only
            // reports a probe as a duplicate does not count, or probes could go on forever.)
            self.recovery.unanswered_loss_probes = 0;
        }
        if advanced {
            delivered.merge(self.on_new_ack(now, segment.ack));
        }
        if duplicate {
            self.on_duplicate_ack();
        }
        if self.recovery.detection == LossDetection::Rack {
            self.recovery.rack.on_delivered(now, &delivered);
            self.recovery.rack.on_cumulative_ack(self.send.snd_una());
        }
        self.on_ack_after_timeout(frto, segment.ack, advanced, duplicate, &delivered);
        let pure_duplicate = !advanced && !duplicate;
        let reduced = self.on_ack_during_loss_probe(segment.ack, pure_duplicate, dsack.is_some());
        self.detect_losses(now);
        // RFC 6937: every ACK of a SACK recovery, the one that began it included (as Linux's
        // tcp_cong_control), sets how much may be in flight until the next.
        let pipe = self.recovery.retransmission_queue.pipe();
        let ssthresh = self.congestion.slow_start_threshold();
        let smss = self.smss();
        if let Some(Recovery::Sack { prr: Some(prr), .. }) = &mut self.recovery.episode {
            prr.on_ack(delivered.bytes, pipe, ssthresh, smss, advanced);
        }
        // Window growth counts what the ACK newly delivered, cumulatively or by SACK (RFC
        // 6937's DeliveredData), as Linux's tcp_cong_control() hands acked_sacked to
        // cong_avoid for each ACK that advances snd_una outside fast recovery. That includes,
        // with SACK, the ACK that ends recovery: cwnd is ssthresh again (RFC 5681 section
        // 3.2 step 6), and the retransmission it acknowledges counts for congestion
        // avoidance (RFC 5681 section 3.1, RFC 3465) as any delivered segment would. Without
        // SACK that ACK covers every segment the duplicate ACKs reported, so it counts
        // nothing (RFC 6582 section 3.2 step 6); after a timeout, `on_recovery_progress`
        // grows the window. After loss detection, so an ACK that starts recovery grows
        // nothing.
        let grows = match recovery_before {
            None => true,
            Some(Recovery::Sack { .. }) => true,
            Some(Recovery::NewReno { .. } | Recovery::Timeout { .. }) => false,
        };
        // An ACK that showed a probe repaired a loss has just reduced the window: it grows
        // nothing (Linux's CWR state).
        // And only while the window is in use (RFC 7661, `cwnd_validation.rs`).
        if advanced
            && grows
            && !reduced
            && self.recovery.episode.is_none()
            && self.is_cwnd_limited()
        {
            self.grow_window(now, delivered.bytes);
        }
        self.on_path_mtu_evidence(now, &delivered);
        self.arm_loss_probe(now);
    }

    /// RFC 2883 section 4: the first SACK block is a D-SACK when it lies below the cumulative
    /// ACK or inside the second block. It reports data received twice: one of our
    /// retransmissions was spurious, or the network duplicated a segment.
    fn take_dsack(&mut self, segment: &Segment<'_>) -> Option<SackBlock> {
        if !self.recovery.detection.uses_sack() {
            return None;
        }
        let blocks = segment.sack.as_slice();
        let first = *blocks.first()?;
        let inside_second = blocks
            .get(1)
            .is_some_and(|second| second.left <= first.left && first.right <= second.right);
        if !(first.left < segment.ack || inside_second) {
            return None;
        }
        self.stats.dsack_received += 1;
        let spurious = self.recovery.retransmission_queue.take_spurious(first);
        if spurious.is_some() {
            self.stats.spurious_retransmissions += 1;
            self.on_spurious_retransmission(first);
        }
        // A D-SACK of a tail loss probe's copy shows only that the probe was not needed: the
        // probe went on a timer, not because RACK deemed a segment lost too early, so it says
        // nothing of reordering and does not widen RACK's window (as Linux's tcp_dsack_seen
        // ignores a D-SACK that matches the probe, FLAG_DSACK_TLP).
        if self.recovery.detection == LossDetection::Rack
            && !spurious.is_some_and(|spurious| spurious.probe)
        {
            self.recovery
                .rack
                .on_dsack(self.send.snd_una(), self.send.snd_nxt());
            if spurious.is_some() {
                self.recovery.rack.on_spurious_retransmission();
            }
        }
        Some(first)
    }

    /// A D-SACK reported one of our retransmissions, `block`, as received twice: if it is the
    /// last the latest loss response made that had not been, the response was spurious
    /// (RFC 3708 section 3), and is undone as Linux's `tcp_try_undo_dsack` does.
    fn on_spurious_retransmission(&mut self, block: SackBlock) {
        let Some(dsack_undo) = &mut self.recovery.dsack_undo else {
            return;
        };
        if block.right <= dsack_undo.marker || dsack_undo.unreported == 0 {
            return;
        }
        dsack_undo.unreported -= 1;
        if dsack_undo.unreported == 0 {
            let undo = dsack_undo.undo;
            self.undo_by_dsack(undo);
        }
    }

    /// RFC 6675 `Update()`: record the SACK blocks that describe data in flight, taking an
    /// RTT sample from them as Linux does. Returns what they newly delivered.
    fn take_sack_blocks(&mut self, now: Instant, segment: &Segment<'_>, dsack: bool) -> Delivered {
        let mut delivered = Delivered::default();
        if !self.recovery.detection.uses_sack() {
            return delivered;
        }
        for block in segment.sack.as_slice().iter().skip(usize::from(dsack)) {
            // RFC 2018 section 5: blocks at or below the cumulative ACK, or beyond what was
            // sent, tell nothing about data in flight.
            if self.send.snd_una() < block.left
                && block.left < block.right
                && block.right <= self.send.snd_nxt()
            {
                delivered.merge(self.recovery.retransmission_queue.mark_sacked(*block));
            }
        }
        if let Some(sent_at) = delivered.newest_sent_once_at {
            self.take_rtt_sample(now, now - sent_at);
        }
        delivered
    }

    /// One RTT measurement that Karn's rule allows, for the RTO and for RACK's minimum.
    pub(super) fn take_rtt_sample(&mut self, now: Instant, rtt: Duration) {
        if self.untimed {
            return;
        }
        self.rtt.on_sample(rtt);
        self.recovery.rack.on_rtt_sample(now, rtt);
        self.recovery.ack_rtt_sample = Some(rtt);
    }

    /// A duplicate ACK while data is outstanding. With SACK blocks, RFC 6675 section 2's
    /// definition: the ACK SACKs data not SACKed before, even if its cumulative ACK moved too.
    /// Without, RFC 5681 section 2's: nothing new acknowledged, no data, no SYN or FIN and the
    /// same window.
    fn is_duplicate_ack(&mut self, segment: &Segment<'_>, newly_sacked: u32) -> bool {
        if self.send.snd_una() == self.send.snd_nxt() || segment.ack == self.send.snd_nxt() {
            return false;
        }
        let duplicate = if self.recovery.detection.uses_sack() && !segment.sack.is_empty() {
            newly_sacked > 0
        } else {
            segment.ack == self.send.snd_una()
                && segment.payload.is_empty()
                && !segment.flags.intersects(Flags::SYN | Flags::FIN)
                && segment.window.min(MAX_WINDOW) == self.send.snd_wnd()
        };
        self.stats.duplicate_acks += u64::from(duplicate);
        duplicate
    }

    fn on_duplicate_ack(&mut self) {
        self.recovery.duplicate_acks += 1;
        let smss = i64::from(self.smss());
        match &mut self.recovery.episode {
            Some(Recovery::NewReno {
                inflation,
                round_segments,
                ..
            }) => {
                // RFC 6582 section 3.2 step 4: each further duplicate ACK means another
                // segment left the network, as far as the round's flight allows.
                *inflation = reno_inflation_limit(*inflation + smss, *round_segments, smss);
                return;
            }
            Some(Recovery::Sack { .. }) => return,
            Some(Recovery::Timeout { .. }) | None => {}
        }
        self.maybe_enter_fast_recovery();
    }

    /// Whether snd_una is still below the recovery point of the latest recovery (RFC 6582's
    /// `recover`, RFC 6675's RecoveryPoint): no new recovery starts until it is not.
    fn recovery_under_way(&self) -> bool {
        self.recovery
            .recovery_point
            .is_some_and(|point| self.send.snd_una() < point)
    }

    /// RFC 5681 section 3.2 steps 2 and 3, RFC 6582 section 3.2 step 2, RFC 6675 section 5,
    /// RFC 8985 section 3.4: once loss is evident, halve the window, resend the oldest lost
    /// segment and recover. Evident means, with RACK, that RACK marked a segment lost;
    /// without, the duplicate-ACK threshold or (with SACK) the oldest segment deemed lost.
    pub(super) fn maybe_enter_fast_recovery(&mut self) {
        let threshold = self.config.duplicate_ack_threshold;
        if self.recovery.episode.is_some()
            || self.recovery_under_way()
            || self.recovery.retransmission_queue.is_empty()
            || !self.state.is_synchronized()
        {
            return;
        }
        let loss_evident = match self.recovery.detection {
            LossDetection::Rack => self.recovery.retransmission_queue.has_losses_detected(),
            LossDetection::Rfc6675 => {
                // Not while a renege explains the hole at snd_una (`on_renege`): the SACKs of
                // what came after its copy went say nothing of that copy, and, as RFC 6675
                // finds no lost retransmission, the timer finds it lost.
                let reneged_hole = self
                    .recovery
                    .retransmission_queue
                    .get(0)
                    .is_some_and(|record| record.lost == Some(Reason::RenegeRetransmission));
                !reneged_hole
                    && (self.recovery.duplicate_acks >= threshold
                        || self.recovery.retransmission_queue.is_lost_by_sack(
                            0,
                            threshold,
                            self.smss(),
                        ))
            }
            LossDetection::NewReno => self.recovery.duplicate_acks >= threshold,
        };
        if !loss_evident {
            return;
        }
        let flight_size = self.send.flight_size() - self.recovery.limited_transmit_bytes;
        self.recovery.limited_transmit_bytes = 0;
        self.start_dsack_undo();
        self.congestion.on_loss(self.reduced_from(flight_size));
        let point = self.send.snd_nxt();
        let smss = i64::from(self.smss());
        let round_segments = self.recovery.retransmission_queue.len();
        self.recovery.episode = Some(if self.recovery.detection.uses_sack() {
            Recovery::Sack {
                point,
                prr: (self.config.congestion_control != CongestionControl::Fixed)
                    .then(|| Prr::new(flight_size, self.recovery.retransmission_queue.pipe())),
            }
        } else {
            Recovery::NewReno {
                point,
                inflation: reno_inflation_limit(i64::from(threshold) * smss, round_segments, smss),
                round_segments,
            }
        });
        self.recovery.recovery_point = Some(self.send.snd_nxt());
        self.recovery.loss_probe = None;
        self.recovery.retransmission_queue.start_episode();
        if self.recovery.detection == LossDetection::Rack {
            // RFC 6675 step (4.3): the first retransmission goes whatever the window.
            self.recovery.retransmit_despite_cwnd = true;
        } else {
            self.recovery
                .retransmission_queue
                .mark_lost(0, Reason::FastRetransmission);
        }
    }

    /// Mark what is now known lost: RACK's rule with RACK on; RFC 6675 `IsLost()` during fast
    /// recovery with SACK; nothing more without SACK (NewReno acts on partial ACKs).
    fn detect_losses(&mut self, now: Instant) {
        match self.recovery.detection {
            LossDetection::Rack => self.rack_detect_losses(now),
            LossDetection::Rfc6675
                if matches!(self.recovery.episode, Some(Recovery::Sack { .. })) =>
            {
                let threshold = self.config.duplicate_ack_threshold;
                self.recovery
                    .retransmission_queue
                    .detect_losses(threshold, self.smss());
            }
            LossDetection::Rfc6675 | LossDetection::NewReno => {}
        }
    }

    /// RFC 8985 section 6.2 step 5's `RACK.rtt + RACK.reo_wnd`: how long after its sending
    /// a segment is lost, once a segment sent after it has been delivered.
    fn rack_loss_wait(&self) -> Duration {
        let smoothed_rtt = self.rtt.smoothed_rtt().unwrap_or(self.recovery.rack.rtt());
        let threshold = self.config.duplicate_ack_threshold as usize;
        let beyond_dupthresh = self.recovery.retransmission_queue.sacked_segments() >= threshold;
        self.recovery.rack.rtt()
            + self.recovery.rack.reordering_window(
                self.recovery.episode.is_some(),
                beyond_dupthresh,
                smoothed_rtt,
            )
    }

    /// RFC 8985 section 6.2 steps 4 and 5, and 6.3: mark by time, arm the reordering timer
    /// for what is not due yet, and start recovery if anything was marked.
    pub(super) fn rack_detect_losses(&mut self, now: Instant) {
        let Some(newest) = self.recovery.rack.newest_delivered() else {
            return;
        };
        let (marked, deadline) = self.recovery.retransmission_queue.rack_detect_losses(
            newest,
            self.rack_loss_wait(),
            now,
        );
        match deadline {
            Some(deadline) => self.timers.set(Timer::Reordering, deadline),
            None => self.timers.stop(Timer::Reordering),
        }
        if marked > 0 {
            self.maybe_enter_fast_recovery();
        }
    }

    /// The peer acknowledged up to `ack`, which is new (RFC 9293 section 3.10.7.4, fifth
    /// check): the segments it covers leave the retransmission queue, with an RTT sample if
    /// Karn's rule allows one. Returns what that delivered.
    pub(super) fn take_acknowledged(&mut self, now: Instant, ack: SeqNum) -> Delivered {
        let delivered = self.recovery.retransmission_queue.remove_acknowledged(ack);
        // Karn's rule (RFC 6298 section 3): only a segment sent once gives a sample, and, as
        // in Linux, only from an ACK that acknowledges no retransmission: an ACK that a
        // retransmission drew (filling a hole) would time the wait behind the hole too.
        let send_time_sample = delivered
            .newest_sent_once_at
            .filter(|_| !delivered.any_retransmitted)
            .map(|sent_at| now - sent_at);
        // With timestamps, the ACK's echo times the segment that moved the peer's
        // acknowledgment, retransmission or not (RFC 7323 section 4.1): where Karn's rule
        // withholds a sample, the echo gives one. The send-time sample, where there is one,
        // goes first, as in Linux's `tcp_ack_update_rtt`: it counts microseconds, not
        // milliseconds, and no middlebox can rewrite it. One sample per ACK that advances
        // SND.UNA either way (RFC 7323 section 4.2 allows it; appendix G's smaller gains are
        // not taken, as Linux takes none), so timestamps add samples only where Karn's rule
        // withheld them.
        let echo_sample = || {
            self.negotiated
                .timestamps
                .then(|| self.timestamps.echo_sample(now))
                .flatten()
        };
        if let Some(rtt) = send_time_sample.or_else(echo_sample) {
            self.take_rtt_sample(now, rtt);
        }
        // The peer is alive and taking data: this loss episode is over, and so is its
        // backoff (docs/protocol.md section 8 says why).
        self.rtt.end_backoff();
        delivered
    }

    /// snd_una moved to `ack`, with `acked` bytes of data: the counts of timeouts, duplicate
    /// ACKs and limited transmit start over, and loss recovery moves on, or after a timeout
    /// the window grows (RFC 6582 section 3.2 steps 5 and 6; RFC 6675 section 5 (A)).
    /// `dropped_fin` when the ACK shows the peer dropped our FIN.
    pub(super) fn on_recovery_progress(
        &mut self,
        now: Instant,
        ack: SeqNum,
        acked: u32,
        dropped_fin: bool,
    ) {
        self.recovery.consecutive_timeouts = 0;
        self.recovery.duplicate_acks = 0;
        self.recovery.limited_transmit_bytes = 0;
        self.move_recovery_on(now, ack, acked);
        if dropped_fin {
            self.on_dropped_fin();
        }
    }

    fn move_recovery_on(&mut self, now: Instant, ack: SeqNum, acked: u32) {
        if self
            .recovery
            .recovery_point
            .is_some_and(|point| ack >= point)
        {
            // Forgotten once reached, while the two are less than a window apart: a wrapping
            // comparison made 2^31 bytes later would put snd_una below it again.
            self.recovery.recovery_point = None;
        }
        let smss = i64::from(self.smss());
        match &mut self.recovery.episode {
            Some(Recovery::NewReno { point, .. } | Recovery::Sack { point, .. })
                if ack >= *point =>
            {
                // A full acknowledgment: recovery is over, cwnd is ssthresh again.
                self.end_recovery();
                // A loss the scoreboard already shows in the next window starts the next
                // recovery at once.
                self.maybe_enter_fast_recovery();
            }
            Some(Recovery::NewReno {
                inflation,
                round_segments,
                ..
            }) => {
                // RFC 6582's partial acknowledgment: resend the next hole at once, and
                // deflate by what was acknowledged, adding back one SMSS if that much. The
                // next round's duplicates come from the segments in flight now.
                let acked = i64::from(acked);
                *inflation -= acked;
                if acked >= smss {
                    *inflation += smss;
                }
                *round_segments = self.recovery.retransmission_queue.len();
                *inflation = reno_inflation_limit(*inflation, *round_segments, smss);
                self.recovery
                    .retransmission_queue
                    .mark_lost(0, Reason::FastRetransmission);
            }
            // Pipe governs a SACK recovery; partial ACKs need nothing here.
            Some(Recovery::Sack { .. }) => {}
            Some(Recovery::Timeout { point }) => {
                if ack >= *point {
                    self.end_recovery();
                }
                self.grow_window(now, acked);
            }
            // Outside recovery, `process_ack` grows the window by what the ACK delivered.
            None => {}
        }
    }

    /// The peer dropped a FIN it got ahead of a hole (its data SACKed, now acknowledged without
    /// it): it believes a FIN only in order. In SACK recovery with RACK off nothing else finds
    /// that loss, since RFC 6675's `IsLost()` needs SACKed data above a segment and none can lie
    /// above a FIN; the loss is certain, so the FIN goes again at once rather than after the
    /// RTO. (RACK finds it by time; NewReno's partial ACK resends it anyway.)
    fn on_dropped_fin(&mut self) {
        if matches!(self.recovery.episode, Some(Recovery::Sack { .. }))
            && self.recovery.detection == LossDetection::Rfc6675
        {
            self.recovery
                .retransmission_queue
                .mark_lost(0, Reason::SackRetransmission);
        }
    }

    /// `bytes` of new data were delivered at `now` and the window may grow: the controller
    /// hears when, the smoothed RTT, which CUBIC's window is a function of (RFC 9438 section
    /// 4.2), and the ACK's own RTT sample and round trip, which HyStart++ watches (RFC 9406);
    /// the send buffer grows with the window (`send_buffer.rs`).
    fn grow_window(&mut self, now: Instant, bytes: u32) {
        self.congestion.on_ack(&Ack {
            bytes,
            now,
            smoothed_rtt: self.rtt.smoothed_rtt(),
            rtt_sample: self.recovery.ack_rtt_sample,
            snd_una: self.send.snd_una(),
            snd_nxt: self.send.snd_nxt(),
            paced: self.config.pacing,
        });
        self.send.on_congestion_window(self.congestion.window());
    }

    fn end_recovery(&mut self) {
        self.recovery.episode = None;
        self.recovery.rack.on_recovery_exit();
    }

    /// An ACK moved snd_una to a segment the peer SACKed: it holds that segment, says its
    /// SACK, yet does not acknowledge it. A receiver may discard data it SACKed (RFC 2018
    /// section 8: SACK is advisory), and if it did, nothing resends the segment while the
    /// scoreboard marks it SACKed: not RACK, not a probe (which sends the newest unSACKed
    /// segment), only forgetting the SACKs. As Linux's `tcp_check_sack_reneging`, the
    /// retransmission timer is set to expire after max(SRTT / 2, 10 ms) instead of the RTO,
    /// time for ACKs in flight to show the scoreboard was only stale; no probe goes
    /// meanwhile. Its expiry then answers the renege (`on_renege`), not a timeout. Returns
    /// whether it did so.
    pub(super) fn check_sack_reneging(&mut self, now: Instant) -> bool {
        if !self.reneging_suspected() {
            return false;
        }
        // D-SACKs of what it dropped and gets again would prove nothing: no undo of the
        // response under way (Linux's is_sack_reneg holds back undo likewise).
        self.recovery.dsack_undo = None;
        let half_rtt = self.rtt.smoothed_rtt().unwrap_or(self.rtt.rto()) / 2;
        let wait = half_rtt.max(RENEGING_MIN_WAIT).min(self.rtt.rto());
        self.timers.set(Timer::Retransmit, now + wait);
        self.timers.stop(Timer::LossProbe);
        true
    }

    /// The wait after a suspected renege (`check_sack_reneging`) passed and the cumulative ACK
    /// still stops at data the peer SACKed: it discarded that data (RFC 2018 section 8). The
    /// SACK marks are forgotten and what bore one goes again, the oldest at once whatever the
    /// congestion window (as RFC 6675 step (4.3) sends a recovery's first retransmission),
    /// the rest ahead of new data as the window allows (`forget_sacks`,
    /// `retransmissions_first`). The window itself stays as it is.
    ///
    /// Linux takes this expiry for a retransmission timeout. RFC 2018 section 8 asks only that
    /// a sender whose timer expires ignore the SACKs and resend from the left edge; RFC 5681
    /// section 3.1 cuts cwnd to one segment after a timeout, a silence that may mean a
    /// congested path and a lost ACK clock. Here neither is so: the ACK that stopped at the
    /// discarded data has just arrived, the data was delivered, and the receiver dropped it
    /// for want of memory, for which its advertised window is the control, not cwnd. Nothing
    /// the network did is a loss indication (RFC 5681 knows two: the timer, section 3.1, and
    /// duplicate ACKs, section 3.2), so nothing is reduced, and the renege is no timeout: the
    /// timer does not back off (RFC 6298 section 5.5) and counts nothing towards
    /// `max_retransmissions`. Slow
    /// start from one segment cost each renege about five round trips; halving the window
    /// instead, once per renege, still left a 2 MiB transfer to a receiver that reneges 25
    /// times at 2.4 times the honest one's time (ssthresh fell to six segments).
    ///
    /// It stays safe: the retransmissions count in the pipe and go only as cwnd allows (one
    /// segment beyond it per renege), new data only as the peer's window allows, so a
    /// receiver that keeps reneging draws no more than cwnd per round trip, as an honest one
    /// would; a loss among the copies is found by RACK or the timer and answered as any loss
    /// (the reneged marks do not count as loss detected, `has_losses_detected`). No loss
    /// response may be undone once the peer reneged: D-SACKs of data it dropped and was sent
    /// again prove nothing (as Linux's `is_sack_reneg` holds back undo).
    fn on_renege(&mut self, now: Instant) {
        self.recovery.dsack_undo = None;
        self.recovery.frto = None;
        self.recovery
            .retransmission_queue
            .forget_sacks(Reason::RenegeRetransmission);
        self.recovery.retransmit_despite_cwnd = true;
        // RFC 6298 section 5.3's timer, for the retransmissions to come.
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        self.arm_loss_probe(now);
    }

    /// Whether the oldest segment in flight is SACKed: a SACK block never covers snd_una, so
    /// only a cumulative ACK that stopped at a SACKed segment leaves one there.
    fn reneging_suspected(&self) -> bool {
        self.recovery
            .retransmission_queue
            .get(0)
            .is_some_and(|record| record.sacked)
    }

    /// RFC 6298 sections 5.4 to 5.6: back off, and resend. Every unSACKed segment in flight
    /// counts as lost and goes again, oldest first, as slow start allows (RFC 5681 section
    /// 3.1); without SACK that is go-back-N. Any fast recovery ends (RFC 6675 section 5.1).
    /// With RACK-TLP, F-RTO watches the ACKs that follow for proof that the timeout was
    /// spurious.
    pub(super) fn on_retransmit_timeout(&mut self, now: Instant) {
        if self.send.snd_una() == self.send.snd_nxt() {
            return;
        }
        // The timer that `check_sack_reneging` brought forward: not a timeout.
        if self.reneging_suspected() {
            self.on_renege(now);
            return;
        }
        self.stats.rto_timeouts += 1;
        self.recovery.consecutive_timeouts += 1;
        let limit = if self.state.is_synchronized() {
            self.config.max_retransmissions
        } else {
            self.config.max_syn_retransmissions
        };
        if self.recovery.consecutive_timeouts > limit {
            self.close(Some(crate::conn::ConnectionError::TimedOut));
            return;
        }
        self.rtt.on_timeout();
        // RFC 5682 section 3 step 1: F-RTO only when no loss recovery is under way (snd_una
        // has reached the RecoveryPoint). Not when the timer expires again for the same data,
        // and not during a fast or timeout recovery whose ACKs moved snd_una on since its
        // last expiry: a window saved then would be the one from before a genuine loss. (As
        // Linux's tcp_enter_loss: F-RTO "if no previous loss recovery is underway".)
        let frto = self.recovery.detection == LossDetection::Rack
            && self.state.is_synchronized()
            && !self.recovery_under_way();
        self.recovery.frto = frto.then(|| Frto {
            stage: FrtoStage::AwaitingNewAck,
            undo: self.undo_point(),
        });
        // A timeout during a recovery keeps that recovery's undo, and its count, as Linux's
        // tcp_enter_loss keeps undo_marker then (none after a renege: `on_renege`).
        let reduced_for_this_data =
            self.recovery.consecutive_timeouts > 1 || self.recovery_under_way();
        if self.state.is_synchronized() && !self.recovery_under_way() {
            self.start_dsack_undo();
        }
        if self.state.is_synchronized() {
            // RFC 5681 section 3.1: halve ssthresh only for the first timeout of this data;
            // and, as Linux's tcp_enter_loss, not again when a recovery already reduced it
            // for this data (RFC 5681 asks for no more than equation (4): the recovery's
            // ssthresh is that or less).
            self.congestion.on_timeout(
                self.reduced_from(self.send.flight_size()),
                reduced_for_this_data,
            );
        }
        self.recovery.episode = Some(Recovery::Timeout {
            point: self.send.snd_nxt(),
        });
        self.recovery.recovery_point = Some(self.send.snd_nxt());
        self.recovery.duplicate_acks = 0;
        self.recovery.loss_probe = None;
        self.timers.stop(Timer::LossProbe);
        // RFC 8985 section 6.3: with RACK, segments sent too recently to be overdue stay in
        // flight. The reordering window is the one of the timeout's recovery, now begun.
        let rack_wait =
            (self.recovery.detection == LossDetection::Rack).then(|| self.rack_loss_wait());
        self.recovery.retransmission_queue.mark_lost_on_timeout(
            Reason::RtoRetransmission {
                timeout: self.recovery.consecutive_timeouts,
            },
            rack_wait,
            now,
        );
        // Section 5.4: the oldest segment goes again, whatever the congestion window (the
        // segments left in flight above may fill it). Section 5.6: restart the timer now.
        self.recovery.retransmit_despite_cwnd = true;
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    /// RFC 5682 section 3 steps 2 and 3 (the SACK-enhanced F-RTO), for the ACKs after a
    /// timeout; `frto` is where it stood before this ACK, whose cumulative part may already
    /// have ended the timeout's recovery.
    ///
    /// Step 2: duplicate ACKs before the first ACK that moves snd_una only update the
    /// scoreboard (where the basic algorithm of section 2 would give up). That ACK sets the
    /// RecoveryPoint to snd_nxt; unless it acknowledges everything (2a), new data goes instead
    /// of more retransmissions (2b), if there is any and the peer's window takes it.
    ///
    /// Step 3: the next ACK that moves snd_una or is a duplicate decides. If it acknowledges
    /// data sent before the timeout and never resent, and nothing beyond the RecoveryPoint (the
    /// new data of step 2b, sent after the timeout), those segments were only delayed: the
    /// timeout was spurious (3b), and its congestion response and pending retransmissions are
    /// undone. Otherwise the loss was real (3a) and recovery goes on as RFC 6298 has it, in
    /// slow start from one segment, so cwnd is within the 3 SMSS that 3a allows.
    fn on_ack_after_timeout(
        &mut self,
        frto: Option<Frto>,
        ack: SeqNum,
        advanced: bool,
        duplicate: bool,
        delivered: &Delivered,
    ) {
        let Some(frto) = frto else {
            return;
        };
        match frto.stage {
            FrtoStage::AwaitingNewAck if !advanced => {}
            FrtoStage::AwaitingNewAck => {
                let recovery_point = self.send.snd_nxt();
                let step_3 = matches!(self.recovery.episode, Some(Recovery::Timeout { .. }))
                    && self.send.snd_una() != recovery_point
                    && self.next_new_segment().is_some();
                self.recovery.frto = step_3.then_some(Frto {
                    stage: FrtoStage::AwaitingSecondAck { recovery_point },
                    ..frto
                });
            }
            FrtoStage::AwaitingSecondAck { .. } if !advanced && !duplicate => {}
            FrtoStage::AwaitingSecondAck { recovery_point } => {
                self.recovery.frto = None;
                let beyond_recovery_point = ack > recovery_point
                    || delivered
                        .highest_end
                        .is_some_and(|end| end > recovery_point);
                let original_data_delivered = delivered
                    .lowest_end_sent_once
                    .is_some_and(|end| end <= recovery_point);
                if original_data_delivered && !beyond_recovery_point {
                    self.undo_spurious_timeout(frto.undo);
                }
            }
        }
    }

    fn undo_spurious_timeout(&mut self, undo: Undo) {
        self.stats.spurious_timeouts += 1;
        self.undo_loss_response(undo);
    }

    /// Congestion control as it stands, to restore if the loss response about to begin
    /// proves spurious.
    fn undo_point(&self) -> Undo {
        Undo {
            window: self.congestion.window(),
            slow_start_threshold: self.congestion.slow_start_threshold(),
        }
    }

    /// A loss response begins: D-SACKs of every retransmission from here on would undo it.
    /// Only where SACK is heeded: without, no D-SACK is seen.
    fn start_dsack_undo(&mut self) {
        self.recovery.dsack_undo = self.recovery.detection.uses_sack().then(|| DsackUndo {
            marker: self.send.snd_una(),
            unreported: 0,
            undo: self.undo_point(),
        });
    }

    /// F-RTO proved the timeout spurious (RFC 5682 section 3 step 3b): cwnd and ssthresh go
    /// back to `undo`, what awaits retransmission is not lost after all (RACK marks it again
    /// if it was), and the timeout's recovery ends.
    fn undo_loss_response(&mut self, undo: Undo) {
        self.congestion.undo(undo.window, undo.slow_start_threshold);
        self.recovery.retransmission_queue.unmark_losses();
        if self.recovery.episode.is_some() {
            self.end_recovery();
        }
        self.recovery.recovery_point = None;
        self.recovery.dsack_undo = None;
    }

    /// D-SACKs proved the latest loss response spurious (RFC 3708 section 3): cwnd and
    /// ssthresh go back to `undo`, as Linux's `tcp_try_undo_dsack`. Unlike F-RTO's undo, the
    /// losses marked stay marked, as Linux leaves them: the D-SACKs cleared the
    /// retransmissions made, not the segments still awaiting one (a receiver that reneged
    /// would otherwise wait for the timer). A recovery with none awaiting ends; one with some
    /// goes on to resend them, and leaves cwnd at the restored window when it ends.
    fn undo_by_dsack(&mut self, undo: Undo) {
        self.stats.dsack_undos += 1;
        self.congestion.undo(undo.window, undo.slow_start_threshold);
        self.recovery.dsack_undo = None;
        if self.recovery.episode.is_some() && !self.recovery.retransmission_queue.has_losses() {
            self.end_recovery();
            self.recovery.recovery_point = None;
            self.recovery.frto = None;
        }
    }

    /// Whether F-RTO holds retransmissions back for new data (RFC 5682 step 2b).
    fn frto_sends_new_data(&self) -> bool {
        self.recovery
            .frto
            .is_some_and(|frto| matches!(frto.stage, FrtoStage::AwaitingSecondAck { .. }))
    }

    // ---------------------------------------------------------------------------------------
    // Tail loss probes (RFC 8985 section 7)

    /// Section 7.2: with data in flight, a probe is due about two round trips after the last
    /// transmission or ACK (more when what is in flight may wait on the peer's delayed ACK),
    /// never later than the retransmission timer. An unanswered probe is followed by a second
    /// after the same wait (one lost probe or ACK says little on a lossy path), then by more
    /// after twice the wait each time, as QUIC backs off its probe timeout (RFC 9002 section
    /// 6.2.1): at least five, and more for as long as the wait stays below the RTO; then the
    /// retransmission timer acts. On a 100 us path that is ten probes in 205 ms (at 20% loss
    /// each way a probe or its ACK is lost one time in three, ten in a row one time in
    /// 27,000); on a 40 ms path, five, the later ones in the RTO's place.
    ///
    /// Unlike section 7.2, which probes only outside loss recovery, Ferry probes during
    /// recovery too, as QUIC's probe timeout does in every state (RFC 9002 section 6.2): a
    /// recovery whose last retransmissions are lost, with the window full, otherwise waits for
    /// the RTO, whose 200 ms floor is two thousand round trips on a 100 us path.
    pub(super) fn arm_loss_probe(&mut self, now: Instant) {
        let smoothed_rtt = self.rtt.smoothed_rtt();
        // While the peer seems to have reneged, the retransmission timer acts, soon.
        let due = self.recovery.detection == LossDetection::Rack
            && self.send.snd_una() != self.send.snd_nxt()
            && self.state.may_send()
            && !self.reneging_suspected();
        let (true, Some(smoothed_rtt)) = (due, smoothed_rtt) else {
            self.timers.stop(Timer::LossProbe);
            return;
        };
        let allowance = if self.ack_may_be_delayed() {
            // The peer's delayed-ACK timer (WCDelAckT): a Ferry peer's is this setting.
            self.config.delayed_ack.max(TLP_MIN_EXTRA)
        } else {
            TLP_MIN_EXTRA
        };
        // Doubled per unanswered probe after the first, without a ceiling of its own: the
        // retransmission timer, armed beside it, is the ceiling.
        let doublings = self
            .recovery
            .unanswered_loss_probes
            .saturating_sub(1)
            .min(16);
        let wait = backed_off(smoothed_rtt * 2 + allowance, doublings, Duration::MAX);
        // Once the retransmission timer has fired for this data, it alone acts until the peer
        // takes something (RFC 8985 section 7.2 arms probes only outside the timeout's
        // recovery): otherwise a peer that keeps sending while our data is black-holed would
        // re-arm probes that push the timer back for ever, and the connection would never
        // reach max_retransmissions.
        if self.recovery.consecutive_timeouts > 0
            || (self.recovery.unanswered_loss_probes >= MIN_LOSS_PROBES && wait >= self.rtt.rto())
        {
            // Backed off as far as the retransmission timer: from here on it acts.
            self.timers.stop(Timer::LossProbe);
            return;
        }
        let mut deadline = now + wait;
        if let Some(retransmit) = self.timers.get(Timer::Retransmit) {
            deadline = deadline.min(retransmit);
        }
        self.timers.set(Timer::LossProbe, deadline);
    }

    /// Whether the peer may hold all that is in flight under a delayed ACK. Section 7.2 adds
    /// the delayed-ACK time when FlightSize is one segment, for a receiver acknowledges at
    /// once every second segment. But RFC 5681 section 4.2 asks that of every second
    /// *full-sized* segment: an application-limited burst ends in a short segment, and a
    /// full one and a short one, or a short one and the FIN's sequence number, are less than
    /// two full segments and may wait for the timer too. (Counting segments, not bytes, would
    /// not do: these tails are two segments.) Ferry's receiver acknowledges once two full
    /// segments' worth of data has arrived; with less in flight, the probe waits the
    /// delayed-ACK time, or it goes before the ACK, every other burst (the D-SACK of the probe
    /// puts the receiver in quick-ACK mode for the next).
    fn ack_may_be_delayed(&self) -> bool {
        self.send.flight_size() < 2 * self.smss()
    }

    /// Section 7.3: the probe timer expired; the next transmission is the probe, and the
    /// retransmission timer restarts now (so that, due at the same moment, it yields).
    pub(super) fn on_loss_probe_timeout(&mut self, now: Instant) {
        if self.send.snd_una() != self.send.snd_nxt() {
            self.recovery.loss_probe_due = true;
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    /// Section 7.3: send new data if the peer's window allows, else a segment again, either
    /// way whatever the congestion window; then re-arm the retransmission timer.
    pub(super) fn transmit_loss_probe(&mut self, now: Instant) -> Option<super::Transmit> {
        self.recovery.loss_probe_due = false;
        self.recovery.unanswered_loss_probes += 1;
        let transmit = if let Some((len, flags)) = self.next_new_segment() {
            self.transmit_new(
                now,
                flags,
                self.send.snd_nxt(),
                len,
                Reason::TailLossProbeNewData,
            )
        } else {
            // Outside recovery, the last segment: its SACK shows RACK every loss before it.
            // In recovery, the oldest hole, which stalls it: a retransmission lost again is
            // invisible to RACK until something sent after it arrives.
            let index = if self.recovery.episode.is_some() {
                self.recovery.retransmission_queue.first_unsacked()
            } else {
                self.recovery.retransmission_queue.last_unsacked()
            }?;
            let transmit = self.retransmit_as(now, index, Some(Reason::TailLossProbe))?;
            // Section 7.4: outside recovery, watch whether the probe repaired a loss.
            if self.recovery.episode.is_none() && self.recovery.loss_probe.is_none() {
                self.recovery.loss_probe = Some(LossProbe {
                    end: self.send.snd_nxt(),
                });
            }
            transmit
        };
        self.stats.tail_loss_probes += 1;
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        self.arm_loss_probe(now);
        Some(transmit)
    }

    /// What a congestion event's reduction starts from: FlightSize (RFC 5681 equation (4), RFC
    /// 6675 step (4.2)), but never more than cwnd. With SACK, SND.NXT - SND.UNA also counts
    /// what the peer holds beyond holes that outlived the last recovery, so it can exceed the
    /// window the loss was seen at by half again, and an ssthresh from it made the next
    /// "reduction" grow the window (16 MB at 1% loss on 100 Mbit/s, 100 ms went at 37 Mbit/s,
    /// Linux's CUBIC at 1.4). Linux and RFC 9002 reduce cwnd itself; the minimum keeps RFC
    /// 5681's smaller base for a sender the application limits. CUBIC reduces its cwnd and
    /// takes no notice of this figure (RFC 9438 section 4.6, `cc/cubic.rs`).
    fn reduced_from(&self, flight_size: u32) -> u32 {
        flight_size.min(self.congestion.window())
    }

    /// Section 7.4.2: whether a retransmitted probe repaired a loss. A D-SACK says both
    /// copies arrived (no loss); an ACK beyond the probe without one says only the probe did,
    /// so the original was lost and the window is reduced, as for any loss. (Linux's
    /// `tcp_process_tlp_ack` follows the same rules.)
    /// Returns whether the window was reduced.
    fn on_ack_during_loss_probe(&mut self, ack: SeqNum, pure_duplicate: bool, dsack: bool) -> bool {
        let Some(probe) = self.recovery.loss_probe else {
            return false;
        };
        if ack < probe.end {
            return false;
        }
        if dsack {
            self.recovery.loss_probe = None;
        } else if ack > probe.end {
            self.recovery.loss_probe = None;
            if self.recovery.episode.is_none() {
                self.congestion
                    .on_loss(self.reduced_from(self.send.flight_size()));
                return true;
            }
        } else if pure_duplicate {
            // A duplicate ACK at the probe's end: both copies arrived.
            self.recovery.loss_probe = None;
        }
        false
    }
}
