//! The receive side: the receive sequence variables (RFC 9293 section 3.3.1), the window we
//! advertise and its updates (sections 3.8.6 and 3.8.6.2.2), the segment text and the FIN
//! (section 3.10.7.4's seventh and eighth steps) with the hand-off to reassembly, when to
//! acknowledge (RFC 5681 section 4.2, with quick ACKs), and the SACK and D-SACK blocks each
//! ACK carries (RFC 2018 section 4, RFC 2883).

use super::reassembly::Reassembly;
use super::state::{Event, State};
use super::timers::Timer;
use super::{Config, Connection, Reason, Transmit, MAX_WINDOW};
use crate::time::Instant;
use crate::wire::{Flags, SackBlock, SackBlocks, Segment, SeqNum, MAX_SACK_BLOCKS};

/// In-order data segments acknowledged at once at the start of a connection and after a hole
/// or a duplicate: Linux's `TCP_MAX_QUICKACKS`.
pub(super) const QUICK_ACK_SEGMENTS: u32 = 16;

/// ACKs held for sending at most: a batch of data fed at once draws up to this many.
pub(super) const MAX_QUEUED_ACKS: usize = 8;

/// The window a connection with `config` advertises while `unread` bytes wait for the
/// application: the free receive-buffer space (section 3.8.6). Out-of-order data lies inside
/// the advertised window, so it needs no space of its own. Clamped to 2^30, beyond which
/// sequence comparisons break (docs/protocol.md). A SYN cookie's SYN-ACK advertises it with
/// nothing unread, as a fresh passive open does.
pub(crate) fn advertised_window(config: &Config, unread: usize) -> u32 {
    let free = config.recv_buffer.saturating_sub(unread);
    u32::try_from(free).unwrap_or(u32::MAX).min(MAX_WINDOW)
}

impl Connection {
    /// The window we advertise, RCV.WND (section 3.8.6): free receive-buffer space
    /// (RCV.BUFF - RCV.USER, [`advertised_window`]), but moved on only in steps worth a
    /// segment. Receiver-side silly window avoidance (section 3.8.6.2.2, RFC 1122 section
    /// 4.2.3.3): the right edge stays where it was last advertised until the free space beyond
    /// it reaches [`window_step`](Self::window_step); advertised byte by byte as a slow reader
    /// frees it, the window draws segments that small.
    pub(super) fn receive_window(&self) -> u32 {
        let free = advertised_window(&self.config, self.recv_buffer.len());
        if self.fin_received {
            // Nothing arrives after the peer's FIN: there is no silly window to avoid.
            return free;
        }
        let advertised = if self.advertised_right_edge > self.rcv_nxt {
            self.advertised_right_edge.wrapping_diff(self.rcv_nxt)
        } else {
            0
        };
        if free.saturating_sub(advertised) >= self.window_step() {
            free
        } else {
            advertised
        }
    }

    /// The least the right edge of our window moves by: min(RCV.BUFF / 2, Eff.snd.MSS), with
    /// RFC 9293 section 3.8.6.2.2's recommended fraction of one half, and the MSS the
    /// handshake settled.
    fn window_step(&self) -> u32 {
        let step = self.negotiated.mss.min(self.config.recv_buffer / 2);
        u32::try_from(step).unwrap_or(u32::MAX)
    }

    /// Sections 3.10.7.4's seventh and eighth steps: take the payload, then the FIN.
    pub(super) fn receive_text_and_fin(&mut self, now: Instant, segment: &Segment<'_>) {
        if !self.state.may_receive() {
            // After the peer's FIN, nothing more may arrive; it was already acknowledged.
            return;
        }
        // Where the segment starts relative to rcv_nxt; negative when it repeats old bytes.
        let start_delta = i64::from(segment.seq.wrapping_diff(self.rcv_nxt) as i32);
        let payload_len = segment.payload.len() as i64;
        // Where a FIN on this segment sits in the stream, taken before delivery moves on.
        let fin_offset = self.received_offset as i64 + start_delta + payload_len;
        let already_have = (-start_delta).clamp(0, payload_len) as usize;
        let start_in_window = start_delta.max(0) as usize;
        let room = (self.receive_window() as usize).saturating_sub(start_in_window);
        let fresh = &segment.payload[already_have..];
        let accepted = &fresh[..fresh.len().min(room)];

        if !segment.payload.is_empty() {
            self.queue_owed_ack(now);
        }
        if already_have > 0 {
            self.note_duplicate(segment.seq, segment.seq + already_have as u32);
        }
        if !segment.payload.is_empty() {
            if accepted.is_empty() {
                // Nothing new (a repeat, or no room): tell the peer where we are.
                self.pending_ack.get_or_insert(Reason::Ack);
            } else if start_in_window == 0 {
                if segment.flags.contains(Flags::FIN) && accepted.len() == fresh.len() {
                    // This segment ends the stream: whatever is held is overwritten by it or
                    // lies beyond the FIN, where nothing can be.
                    self.reassembly = Reassembly::default();
                }
                self.deliver_in_order(now, accepted);
            } else {
                self.stats.out_of_order_segments += 1;
                let offset = self.received_offset + start_in_window as u64;
                let insertion = self.reassembly.insert(offset, accepted);
                if insertion.duplicate {
                    let seq = segment.seq + already_have as u32;
                    self.note_duplicate(seq, seq + accepted.len() as u32);
                }
                if insertion.contradicted_bytes > 0 {
                    self.stats.contradicted_segments += 1;
                }
                if insertion.refused {
                    self.stats.out_of_order_refused += 1;
                }
                self.quick_acks = QUICK_ACK_SEGMENTS;
                self.note_sack_block(offset);
                // RFC 5681 section 4.2: out-of-order data is acknowledged at once.
                self.pending_ack.get_or_insert(Reason::Ack);
            }
        }

        // The FIN counts only once everything before it has arrived (and no in-order data
        // lies beyond it). One ahead of a hole is forgotten, not held: a forged FIN there
        // would end the stream early the moment the real data up to it arrived (RFC 5961
        // section 1's blind injection). The sender, not having its FIN acknowledged, sends it
        // again.
        let whole_payload_taken = accepted.len() == fresh.len();
        if segment.flags.contains(Flags::FIN) && !self.fin_received {
            if whole_payload_taken && fin_offset == self.received_offset as i64 {
                self.on_fin(now);
            } else {
                // Out of order: a duplicate ACK at once (RFC 5681 section 4.2), as for data.
                self.pending_ack.get_or_insert(Reason::Ack);
            }
        }
    }

    fn deliver_in_order(&mut self, now: Instant, data: &[u8]) {
        let filled_a_hole = !self.reassembly.is_empty();
        self.append_in_order(data);
        while let Some(mut run) = self.reassembly.pop_contiguous(self.received_offset) {
            self.append_in_order(run.make_contiguous());
        }
        // Delivered blocks are acknowledged cumulatively now (RFC 2018 section 4).
        let delivered = self.received_offset;
        self.recent_sack_blocks
            .retain(|&(start, _)| start > delivered);
        self.unacknowledged_bytes += data.len();
        if filled_a_hole {
            // The sender is recovering: keep its ACK clock quick for a while.
            self.quick_acks = QUICK_ACK_SEGMENTS;
        }
        let quick = self.quick_acks > 0;
        self.quick_acks = self.quick_acks.saturating_sub(1);
        if filled_a_hole || quick || self.unacknowledged_bytes >= 2 * self.negotiated.mss {
            // RFC 5681 section 4.2: ACK at least every second full-sized segment, and at
            // once when a segment fills a hole; and, as Linux's quick-ACK mode, every
            // segment at the start and after a loss, so that a sender with a window of one
            // or two segments never waits for the delayed-ACK timer.
            self.pending_ack.get_or_insert(Reason::Ack);
        } else if !self.timers.is_armed(Timer::DelayedAck) {
            self.timers
                .set(Timer::DelayedAck, now + self.config.delayed_ack);
        }
    }

    fn append_in_order(&mut self, data: &[u8]) {
        self.recv_buffer.extend(data);
        self.rcv_nxt += data.len() as u32;
        self.received_offset += data.len() as u64;
    }

    /// The peer's FIN is next in sequence: the eighth step of section 3.10.7.4.
    fn on_fin(&mut self, now: Instant) {
        self.fin_received = true;
        self.rcv_nxt += 1;
        // Nothing exists beyond the FIN: out-of-order data held there is dropped, and no
        // later ACK reports it (as Linux's tcp_fin purges its out-of-order queue).
        self.reassembly = Reassembly::default();
        self.recent_sack_blocks.clear();
        // A D-SACK still owed for data beyond the FIN would now read as a SACK of it (RFC
        // 2883 section 4: above the ACK and inside no other block). One below stands.
        let rcv_nxt = self.rcv_nxt;
        self.pending_dsack = self.pending_dsack.filter(|block| block.right <= rcv_nxt);
        self.pending_ack = Some(Reason::Ack);
        self.events.push_back(Event::PeerFinished);
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// More data arrived while an ACK was owed and not yet polled (a batch of datagrams fed
    /// before `poll_transmit`): that ACK goes as it stands now, before this data, so that a
    /// batch draws one ACK per two segments as RFC 5681 section 4.2 asks, not one for all.
    /// (With one ACK per batch, losing it leaves the sender nothing to act on.)
    fn queue_owed_ack(&mut self, now: Instant) {
        let Some(reason) = self.pending_ack.take() else {
            return;
        };
        if let Some(ack) = self.transmit_ack(now, reason) {
            if self.queued_acks.len() == MAX_QUEUED_ACKS {
                // Cumulative: a later ACK says all an earlier one did.
                self.queued_acks.pop_front();
            }
            self.queued_acks.push_back(ack);
        }
    }

    /// A pure ACK. During the handshake the only useful acknowledgment is the SYN-ACK, so a
    /// SYN-RECEIVED connection owing an ACK sends that again instead, as a retransmission (so
    /// its ACK gives no RTT sample).
    pub(super) fn transmit_ack(&mut self, now: Instant, reason: Reason) -> Option<Transmit> {
        match self.state {
            State::SynSent | State::Closed | State::Listen => None,
            State::SynReceived => {
                self.retransmission_queue.mark_lost(0, Reason::Handshake);
                self.retransmit(now, 0)
            }
            _ => Some(self.transmit(Flags::ACK, self.snd_nxt, &[], reason)),
        }
    }

    /// A segment brought `[seq, end)` again: report it as a D-SACK in the next ACK (RFC 2883),
    /// which goes at once, and stay in quick-ACK mode (the sender may be recovering).
    pub(super) fn note_duplicate(&mut self, seq: SeqNum, end: SeqNum) {
        if self.negotiated.sack {
            self.pending_dsack = Some(SackBlock {
                left: seq,
                right: end,
            });
        }
        self.quick_acks = QUICK_ACK_SEGMENTS;
        self.pending_ack.get_or_insert(Reason::Ack);
    }

    /// RFC 2018 section 4: the block holding the segment just received goes first; the
    /// blocks reported before follow, minus any it now contains.
    fn note_sack_block(&mut self, offset: u64) {
        let Some(block) = self.reassembly.block_containing(offset) else {
            return;
        };
        self.recent_sack_blocks
            .retain(|&(start, end)| end < block.0 || start > block.1);
        self.recent_sack_blocks.insert(0, block);
        self.recent_sack_blocks.truncate(MAX_SACK_BLOCKS);
    }

    /// The SACK blocks for an ACK sent now, each as it stands in the reassembly buffer,
    /// after a D-SACK block if a duplicate arrived (RFC 2883 section 4).
    pub(super) fn sack_blocks(&mut self) -> SackBlocks {
        let mut blocks = SackBlocks::new();
        // RFC 2018 section 2: only to a peer whose SYN said it takes them.
        if !self.negotiated.sack {
            return blocks;
        }
        let dsack = self.pending_dsack.take();
        if let Some(dsack) = dsack {
            blocks.push(dsack);
        }
        let to_seq = |offset: u64| self.rcv_nxt + (offset - self.received_offset) as u32;
        let recent = self
            .recent_sack_blocks
            .iter()
            .filter_map(|&(start, _)| self.reassembly.block_containing(start));
        // RFC 2018 section 4: as many distinct blocks as fit, so after the recent ones, any
        // other block held (the most recent were forgotten beyond four), highest first.
        let mut chosen: Vec<(u64, u64)> = Vec::with_capacity(MAX_SACK_BLOCKS);
        let room = MAX_SACK_BLOCKS - usize::from(dsack.is_some());
        for block in recent.chain(self.reassembly.blocks().rev()) {
            if chosen.len() == room {
                break;
            }
            if !chosen.contains(&block) {
                chosen.push(block);
            }
        }
        for (start, end) in chosen {
            blocks.push(SackBlock {
                left: to_seq(start),
                right: to_seq(end),
            });
        }
        blocks
    }

    /// Discard the out-of-order data held, though it was SACKed: a receiver reneging (RFC
    /// 2018 section 8), which Ferry never does, for tests of the sender's answer. Returns
    /// whether anything was held.
    #[cfg(test)]
    pub(crate) fn renege(&mut self) -> bool {
        let held = !self.reassembly.is_empty();
        self.reassembly = Reassembly::default();
        self.recent_sack_blocks.clear();
        held
    }

    /// After a read: tell the peer the window opened, when it matters: the window we last
    /// advertised is at most half the buffer, and the new one is larger (by at least the step
    /// of [`receive_window`](Self::receive_window)'s silly window avoidance) and at least
    /// twice as large.
    pub(super) fn consider_window_update(&mut self) {
        if !self.state.may_receive() {
            return;
        }
        let remaining = self.advertised_right_edge.wrapping_diff(self.rcv_nxt) as usize;
        let window = self.receive_window() as usize;
        if remaining <= self.config.recv_buffer / 2 && window > remaining && window >= 2 * remaining
        {
            self.pending_ack.get_or_insert(Reason::WindowUpdate);
        }
    }
}
