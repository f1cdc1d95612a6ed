//! RFC 9293 section 3.10.7, "SEGMENT ARRIVES", step by step: the answer to a segment no
//! connection takes (section 3.10.7.1), then LISTEN (3.10.7.2), SYN-SENT (3.10.7.3) and every
//! other state (3.10.7.4: the sequence number, RST, SYN and ACK checks; the text and FIN are in
//! `receive.rs`), with RFC 5961's defences against blind injection and RFC 7323's PAWS
//! (section 5.3's R1 before the sequence number check, R3's TS.Recent after the ACK check).

use super::state::{ConnectionError, State};
use super::timers::Timer;
use super::timestamps::Paws;
use super::{Connection, Negotiated, Reason};
use crate::time::Instant;
use crate::wire::{Flags, Options, SackBlocks, Segment, SeqNum};

/// At most one reply per this interval to segments that are not acceptable: out of the window
/// with no data or FIN (a keepalive excepted), a stray RST or SYN, or an ACK field out of range
/// (with or without data): RFC 5961 section 7's rate limit, per connection, with Linux's
/// default (`tcp_invalid_ratelimit`). It breaks ACK loops between two ends whose states
/// disagree, and caps what a forged flood draws from us.
pub(super) const INVALID_REPLY_INTERVAL: std::time::Duration =
    std::time::Duration::from_millis(500);

/// The answer RFC 9293 section 3.10.7.1 gives to a segment no connection accepts: a RST that
/// the sender will take as valid. `None` for an incoming RST, which is never answered.
pub fn reset_reply(incoming: &Segment<'_>) -> Option<Segment<'static>> {
    if incoming.flags.contains(Flags::RST) {
        return None;
    }
    let reply = if incoming.flags.contains(Flags::ACK) {
        Segment {
            flags: Flags::RST,
            seq: incoming.ack,
            ack: SeqNum(0),
            window: 0,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        }
    } else {
        Segment {
            flags: Flags::RST | Flags::ACK,
            seq: SeqNum(0),
            ack: incoming.seq + incoming.seq_len(),
            window: 0,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        }
    };
    Some(reply)
}

impl Connection {
    /// Section 3.10.7.2.
    pub(super) fn on_segment_in_listen(&mut self, now: Instant, segment: &Segment<'_>) {
        if segment.flags.contains(Flags::RST) {
            return;
        }
        if segment.flags.contains(Flags::ACK) {
            self.pending_reset = reset_reply(segment);
            return;
        }
        if !segment.flags.contains(Flags::SYN) {
            return;
        }
        self.synchronize_receive(now, segment);
        self.stats.segments_accepted += 1;
        self.state = State::SynReceived;
        // The SYN-ACK goes out from `transmit_sequence_space`, as snd_nxt is still the ISS.
    }

    /// Section 3.10.7.3.
    pub(super) fn on_segment_in_syn_sent(&mut self, now: Instant, segment: &Segment<'_>) {
        let flags = segment.flags;
        let ack_acceptable = flags.contains(Flags::ACK)
            && self.send.snd_una() < segment.ack
            && segment.ack <= self.send.snd_nxt();
        if flags.contains(Flags::ACK) && !ack_acceptable {
            self.pending_reset = reset_reply(segment);
            return;
        }
        if flags.contains(Flags::RST) {
            if ack_acceptable {
                self.close(Some(ConnectionError::Refused));
            }
            return;
        }
        if !flags.contains(Flags::SYN) {
            return;
        }
        self.synchronize_receive(now, segment);
        self.stats.segments_accepted += 1;
        if ack_acceptable {
            let _handshake_acknowledged = self.on_new_ack(now, segment.ack);
            self.update_send_window(segment);
            self.enter_established(now);
            self.receive.owe_handshake_ack();
        } else {
            // Simultaneous open (section 3.5, figure 8): answer with a SYN-ACK in place of
            // the SYN, which the peer has not acknowledged.
            self.state = State::SynReceived;
            self.send.rewind_to_syn();
            self.recovery.forget_in_flight();
            self.timers.stop(Timer::Retransmit);
        }
    }

    /// Section 3.10.7.4, for SYN-RECEIVED and every synchronized state.
    pub(super) fn on_segment_synchronized(&mut self, now: Instant, segment: &Segment<'_>) {
        let flags = segment.flags;
        // Simultaneous open with crossing SYN-ACKs (section 3.5, figure 8): the peer's
        // SYN-ACK repeats the SYN we know (so the table below would reject it) and
        // acknowledges ours. Take it as the handshake's end, as Linux does.
        if self.state == State::SynReceived
            && flags == Flags::SYN | Flags::ACK
            && segment.seq == self.receive.irs()
            && segment.ack == self.send.iss() + 1
        {
            self.stats.segments_accepted += 1;
            let _handshake_acknowledged = self.on_new_ack(now, segment.ack);
            self.update_send_window(segment);
            self.enter_established(now);
            self.receive.owe_handshake_ack();
            return;
        }

        // RFC 7323 section 5.3's R1, before the sequence number: a segment whose timestamp is
        // older than TS.Recent is an old duplicate (a RST excepted), however well it fits the
        // window. It is answered as a segment outside the window is.
        let timestamps = segment
            .options
            .timestamps
            .filter(|_| self.negotiated.timestamps);
        if let Some(option) = timestamps {
            // Linux's `tcp_disordered_ack`: a pure duplicate ACK at RCV.NXT that would not
            // update the window is likely one the network reordered, not an old duplicate.
            let reordered_ack = flags == Flags::ACK
                && segment.payload.is_empty()
                && segment.seq == self.receive.rcv_nxt()
                && segment.ack == self.send.snd_una()
                && segment.window == self.send.snd_wnd();
            let window = reordered_ack.then(|| self.rtt.rto());
            if !flags.contains(Flags::RST)
                && self.timestamps.paws(now, option, window) == Paws::Reject
            {
                self.stats.paws_rejected += 1;
                if segment.seq_len() > 0 {
                    // Data or a FIN: if it is a retransmission, the sender needs our ACK.
                    self.receive.owe_ack(Reason::PawsAck);
                } else {
                    self.reply_to_invalid(now, Reason::PawsAck);
                }
                return;
            }
        }

        // First, the sequence number.
        if !self.is_acceptable(segment) {
            if flags.contains(Flags::RST) {
                return;
            }
            let end = segment.seq + segment.payload.len() as u32;
            if !segment.payload.is_empty() && end <= self.receive.rcv_nxt() {
                self.note_duplicate(segment.seq, end);
            }
            if self.state == State::TimeWait && flags.contains(Flags::FIN) {
                // A retransmitted FIN: our last ACK was lost. Re-ACK and linger again.
                self.linger_in_time_wait(now);
            }
            let keepalive = segment.seq_len() == 0 && segment.seq == self.receive.rcv_nxt() - 1;
            if (segment.seq_len() > 0 && !flags.contains(Flags::SYN)) || keepalive {
                // Data or a FIN sent again: the sender needs our ACK to recover. A keepalive
                // (SEG.SEQ = RCV.NXT - 1, RFC 9293 section 3.8.4) is answered always too: a
                // blind attacker cannot aim at RCV.NXT - 1, and could otherwise use up the
                // rate limit below to silence our answers and time the connection out.
                self.receive.owe_ack(Reason::Ack);
            } else {
                // A bare ACK (a keepalive, or one side's ACK the other cannot accept) or SYN.
                self.reply_to_invalid(now, Reason::Ack);
            }
            return;
        }

        // Second, the RST bit. RFC 5961 section 3.2: only an exact match resets; a RST
        // elsewhere in the window gets a challenge ACK, so blind resets must guess rcv_nxt.
        if flags.contains(Flags::RST) {
            if segment.seq != self.receive.rcv_nxt() {
                self.reply_to_invalid(now, Reason::ChallengeAck);
                return;
            }
            self.close(self.error_if_ended_now());
            return;
        }

        // Fourth, a SYN in the window: RFC 5961 section 4's challenge ACK. (A repeated SYN,
        // at the peer's ISN, failed the check above and was answered there: in SYN-RECEIVED
        // with our SYN-ACK again.)
        if flags.contains(Flags::SYN) {
            self.reply_to_invalid(now, Reason::ChallengeAck);
            return;
        }

        // Fifth, the ACK field.
        if !flags.contains(Flags::ACK) {
            return;
        }
        if self.state == State::SynReceived {
            if self.send.snd_una() < segment.ack && segment.ack <= self.send.snd_nxt() {
                self.enter_established(now);
            } else {
                self.pending_reset = reset_reply(segment);
                return;
            }
        }
        // RFC 5961 section 5.2: believe an ACK field only within
        // SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT, else drop the segment, data and all.
        // Without the lower bound half of all ACK values pass, and a blind attacker needs to
        // guess only the sequence number to inject data.
        if segment.ack > self.send.highest_acknowledgeable()
            || segment.ack < self.send.snd_una() - self.send.max_snd_wnd()
        {
            self.stats.rejected_acks += 1;
            self.reply_to_invalid(now, Reason::ChallengeAck);
            return;
        }
        // An acceptable segment shows the peer is alive, and its timestamp may be the one to
        // echo (RFC 7323 section 5.3's R3, here rather than before the RST, SYN and ACK
        // checks, so that no segment those drop moves TS.Recent, as in Linux).
        self.stats.segments_accepted += 1;
        if let Some(option) = timestamps {
            self.timestamps.on_acceptable(now, segment.seq, option);
        }
        self.send.on_peer_heard();
        self.arm_keepalive(now);
        self.process_ack(now, segment);
        if segment.ack >= self.send.snd_una() {
            self.update_send_window(segment);
        }
        if self.send.fin_acked() {
            match self.state {
                State::FinWait1 => self.state = State::FinWait2,
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.close(None);
                    return;
                }
                _ => {}
            }
        }

        // Seventh, the segment text; eighth, the FIN.
        self.receive_text_and_fin(now, segment);
    }

    /// Answer a segment that was not acceptable, unless we did within
    /// [`INVALID_REPLY_INTERVAL`] (RFC 5961 section 7).
    fn reply_to_invalid(&mut self, now: Instant, reason: Reason) {
        if self
            .last_invalid_reply_at
            .is_some_and(|last| now < last + INVALID_REPLY_INTERVAL)
        {
            self.stats.invalid_replies_suppressed += 1;
            return;
        }
        self.last_invalid_reply_at = Some(now);
        self.receive.owe_ack(reason);
    }

    /// RFC 9293 section 3.10.7.4's acceptability table, with its "special allowance" for
    /// ACKs and RSTs at the left edge of a zero window.
    fn is_acceptable(&self, segment: &Segment<'_>) -> bool {
        let window = self.receive_window();
        let length = segment.seq_len();
        let in_window = |seq: SeqNum| {
            self.receive.rcv_nxt() <= seq && seq.wrapping_diff(self.receive.rcv_nxt()) < window
        };
        if window == 0 {
            return segment.seq == self.receive.rcv_nxt();
        }
        if length == 0 {
            return in_window(segment.seq);
        }
        in_window(segment.seq) || in_window(segment.seq + (length - 1))
    }

    /// Learn the peer's ISN from its SYN (sections 3.10.7.2 and 3.10.7.3), arrived at `now`,
    /// and from its options the MSS, SACK and timestamps both ends use (section 3.7.1, RFC
    /// 2018 section 2, RFC 7323 section 3.2), its TSval the first to echo. The congestion
    /// controller starts again for the negotiated MSS: its initial window is counted in
    /// segments (RFC 5681 section 3.1), and it has seen nothing but the SYN exchange.
    pub(super) fn synchronize_receive(&mut self, now: Instant, syn: &Segment<'_>) {
        self.negotiated = Negotiated::with_peer(&self.config, self.sizes, &syn.options);
        if let Some(option) = syn
            .options
            .timestamps
            .filter(|_| self.negotiated.timestamps)
        {
            self.timestamps.on_syn(now, option);
        }
        self.recovery.on_negotiated(&self.config, self.negotiated);
        self.start_path_mtu_search();
        self.congestion = self
            .config
            .congestion_control
            .build(self.negotiated.smss(), self.config.initial_window_segments);
        self.receive.synchronize(syn.seq);
        self.send.synchronize_window(syn);
    }
}
