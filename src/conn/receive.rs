//! The receive side: the receive sequence variables (RFC 9293 section 3.3.1), the window we
//! advertise and its updates (sections 3.8.6 and 3.8.6.2.2), the segment text and the FIN
//! (section 3.10.7.4's seventh and eighth steps) with the hand-off to reassembly, when to
//! acknowledge (RFC 5681 section 4.2, with quick ACKs, and stretch ACKs over a batch of
//! in-order data where the driver asks for them), and the SACK and D-SACK blocks each ACK
//! carries (RFC 2018 section 4, RFC 2883).

use std::collections::VecDeque;

use super::config::CheckedSizes;
use super::reassembly::Reassembly;
use super::receive_buffer::ReceiveBuffer;
use super::state::{Event, State};
use super::timers::Timer;
use super::{Connection, Reason, Transmit};
use crate::time::Instant;
use crate::wire::{Flags, SackBlock, SackBlocks, Segment, SeqNum, MAX_SACK_BLOCKS};

/// In-order data segments acknowledged at once at the start of a connection and after a hole
/// or a duplicate: Linux's `TCP_MAX_QUICKACKS`.
const QUICK_ACK_SEGMENTS: u32 = 16;

/// ACKs held for sending at most: a batch of data fed at once draws up to this many.
const MAX_QUEUED_ACKS: usize = 8;

/// With stretch ACKs on ([`Connection::set_stretch_acks`]), the most full-sized segments of
/// in-order data one ACK covers. Linux's GRO hands TCP up to 64 KiB at once, and it sends one
/// ACK for it: about 44 segments of 1448 bytes. Sixteen keep an ACK for every 19 KiB at
/// Ferry's default MSS, well inside the 64 KiB window a connection starts with, and keep
/// slow start growing (a congestion controller counts at most two segments per ACK there:
/// RFC 3465 section 2.3).
const MAX_STRETCH_SEGMENTS: usize = 16;

/// The window a connection whose receive buffer holds `recv_buffer` bytes (RCV.BUFF, at most
/// 2^30 as [`Config::check`](super::Config::check) requires, beyond which sequence comparisons
/// break: docs/protocol.md) advertises while `unread` bytes wait for the application: the free
/// receive-buffer space (section 3.8.6). Out-of-order data lies inside the advertised window,
/// so it needs no space of its own. A SYN cookie's SYN-ACK advertises it with nothing unread,
/// as a fresh passive open does.
pub(crate) fn advertised_window(recv_buffer: u32, unread: usize) -> u32 {
    // More unread than a u32 holds leaves no room either.
    u32::try_from(unread).map_or(0, |unread| recv_buffer.saturating_sub(unread))
}

/// The receive side of the transmission control block: the receive sequence variables (RFC
/// 9293 section 3.3.1), the data received and not yet read, the out-of-order data, and what
/// this end owes the peer (an ACK now or later, the SACK and D-SACK blocks it carries). Its
/// fields are this file's alone; other files read them through the methods below.
#[derive(Debug)]
pub(super) struct Receiver {
    /// IRS: the peer's initial sequence number.
    irs: SeqNum,
    /// RCV.NXT: the next sequence number expected.
    rcv_nxt: SeqNum,
    /// How many bytes arrived in order so far: the stream offset of `rcv_nxt`'s byte.
    received_offset: u64,
    /// In-order bytes the application has not read yet.
    recv_buffer: VecDeque<u8>,
    /// RCV.BUFF: how much `recv_buffer` may hold, and its autotuning (`receive_buffer.rs`).
    buffer: ReceiveBuffer,
    reassembly: Reassembly,
    fin_received: bool,
    /// The stream offset of a FIN that arrived ahead of a hole: taken when the data before it
    /// is complete, as Linux keeps a FIN in its out-of-order queue. One sequence number, so
    /// holding it costs nothing beyond this field.
    held_fin: Option<u64>,
    /// `rcv_nxt + window` as last advertised: the window's right edge never moves left.
    advertised_right_edge: SeqNum,
    /// In-order bytes received since we last sent an ACK.
    unacknowledged_bytes: usize,
    /// In-order data segments still to be acknowledged at once rather than delayed: the
    /// quick-ACK mode at the start and around holes.
    quick_acks: u32,
    /// A duplicate segment's range, reported as the first SACK block of the next ACK
    /// (RFC 2883 section 4).
    pending_dsack: Option<SackBlock>,
    /// Out-of-order blocks as stream offsets `[start, end)`, most recently changed first:
    /// the SACK blocks of the next ACK (RFC 2018 section 4).
    recent_sack_blocks: Vec<(u64, u64)>,
    /// A pure ACK (or its SYN-ACK stand-in during the handshake) is owed now.
    pending_ack: Option<Reason>,
    /// The ACK owed is one RFC 5681 section 4.2 asks for every second in-order segment, and
    /// nothing else: with stretch ACKs on, more in-order data fed before the next poll may
    /// join it instead of queueing it.
    owed_ack_stretches: bool,
    /// In-order data fed between two polls is acknowledged by one ACK, up to
    /// [`MAX_STRETCH_SEGMENTS`] ([`Connection::set_stretch_acks`]).
    stretch_acks: bool,
    /// ACKs that fell due while data kept arriving before the caller polled, each as it stood
    /// then, oldest first; at most [`MAX_QUEUED_ACKS`].
    queued_acks: VecDeque<Transmit>,
}

impl Receiver {
    /// Before the peer's SYN: nothing known, nothing owed; a buffer of the size `sizes` start
    /// at.
    pub(super) fn new(sizes: CheckedSizes) -> Receiver {
        Receiver {
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            received_offset: 0,
            recv_buffer: VecDeque::new(),
            buffer: ReceiveBuffer::new(sizes.recv_buffer, sizes.recv_buffer_max),
            reassembly: Reassembly::default(),
            fin_received: false,
            held_fin: None,
            advertised_right_edge: SeqNum(0),
            unacknowledged_bytes: 0,
            quick_acks: 0,
            pending_dsack: None,
            recent_sack_blocks: Vec::new(),
            pending_ack: None,
            owed_ack_stretches: false,
            stretch_acks: false,
            queued_acks: VecDeque::new(),
        }
    }

    /// Learn the peer's ISN from its SYN (RFC 9293 sections 3.10.7.2 and 3.10.7.3): the next
    /// byte expected follows the SYN, and the window's right edge starts there.
    pub(super) fn synchronize(&mut self, irs: SeqNum) {
        self.irs = irs;
        self.rcv_nxt = irs + 1;
        self.advertised_right_edge = self.rcv_nxt;
    }

    /// IRS.
    pub(super) fn irs(&self) -> SeqNum {
        self.irs
    }

    /// RCV.NXT.
    pub(super) fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// How many bytes arrived in order so far (the SYN and FIN not counted).
    pub(super) fn received_offset(&self) -> u64 {
        self.received_offset
    }

    /// Whether the peer's FIN arrived, in order.
    pub(super) fn fin_received(&self) -> bool {
        self.fin_received
    }

    /// Bytes received in order and not read yet.
    pub(super) fn readable(&self) -> usize {
        self.recv_buffer.len()
    }

    /// RCV.BUFF now, in bytes: the configured size, or as far as autotuning grew it.
    pub(super) fn buffer_size(&self) -> u32 {
        self.buffer.size()
    }

    /// Copy up to `buf.len()` unread bytes into `buf`, leaving them unread; returns how many.
    pub(super) fn peek(&self, buf: &mut [u8]) -> usize {
        let count = buf.len().min(self.recv_buffer.len());
        // Two slice copies (the ring's two halves): a byte-by-byte copy cost most of a bulk
        // receiver's instructions (docs/performance.md).
        let (front, back) = self.recv_buffer.as_slices();
        let from_front = count.min(front.len());
        buf[..from_front].copy_from_slice(&front[..from_front]);
        buf[from_front..count].copy_from_slice(&back[..count - from_front]);
        count
    }

    /// Move up to `buf.len()` unread bytes into `buf`; returns how many.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> usize {
        let count = self.peek(buf);
        self.recv_buffer.drain(..count);
        count
    }

    /// An ACK is owed for `reason`, unless one is owed already (it keeps its reason). It goes
    /// before any data fed after it, never stretched over that data.
    pub(super) fn owe_ack(&mut self, reason: Reason) {
        self.pending_ack.get_or_insert(reason);
        self.owed_ack_stretches = false;
    }

    /// An ACK is owed for a second in-order segment (RFC 5681 section 4.2), unless one is owed
    /// already: with stretch ACKs on, one that more in-order data may join.
    fn owe_second_segment_ack(&mut self) {
        if self.pending_ack.is_none() {
            self.pending_ack = Some(Reason::Ack);
            self.owed_ack_stretches = true;
        }
    }

    /// The ACK that completes the handshake is owed, whatever was owed before.
    pub(super) fn owe_handshake_ack(&mut self) {
        self.pending_ack = Some(Reason::Handshake);
        self.owed_ack_stretches = false;
    }

    /// The pure ACK owed now, if any; the caller sends it.
    pub(super) fn take_owed_ack(&mut self) -> Option<Reason> {
        self.pending_ack.take()
    }

    /// The oldest ACK queued while data kept arriving, if any.
    pub(super) fn take_queued_ack(&mut self) -> Option<Transmit> {
        self.queued_acks.pop_front()
    }

    /// The connection closed: nothing is owed any more.
    pub(super) fn forget_owed_acks(&mut self) {
        self.pending_ack = None;
        self.queued_acks.clear();
    }

    /// Acknowledge every in-order segment at once for a while: at the start of a connection,
    /// as Linux's quick-ACK mode.
    pub(super) fn start_quick_acks(&mut self) {
        self.quick_acks = QUICK_ACK_SEGMENTS;
    }

    /// Leave quick-ACK mode at once, for tests of the delayed ACK's steady state.
    #[cfg(test)]
    pub(super) fn end_quick_acks(&mut self) {
        self.quick_acks = 0;
    }
}

/// What a segment we send says of the receive side (RFC 9293 section 3.1's acknowledgment
/// number and window, and RFC 2018's SACK blocks).
pub(super) struct Acknowledgment {
    /// SEG.ACK: RCV.NXT, or 0 on a segment without the ACK flag.
    pub(super) ack: SeqNum,
    /// SEG.WND: RCV.WND.
    pub(super) window: u32,
    /// The SACK blocks, on a segment with the ACK flag to a peer that takes them.
    pub(super) sack: SackBlocks,
}

impl Connection {
    /// The acknowledgment fields of a segment we send now, with the ACK flag if `ack_flag`.
    /// Any segment with an ACK settles what we owe: the owed ACK, the delayed-ACK timer, the
    /// count toward the next ACK; and its window is the one advertised.
    pub(super) fn acknowledgment(&mut self, ack_flag: bool) -> Acknowledgment {
        let window = self.receive_window();
        let sack = if ack_flag {
            self.sack_blocks()
        } else {
            SackBlocks::new()
        };
        let ack = if ack_flag {
            self.receive.pending_ack = None;
            self.timers.stop(Timer::DelayedAck);
            self.receive.unacknowledged_bytes = 0;
            self.receive.advertised_right_edge = self.receive.rcv_nxt + window;
            self.receive.rcv_nxt
        } else {
            SeqNum(0)
        };
        Acknowledgment { ack, window, sack }
    }

    /// The window we advertise, RCV.WND (section 3.8.6): free receive-buffer space
    /// (RCV.BUFF - RCV.USER, [`advertised_window`]), but moved on only in steps worth a
    /// segment. Receiver-side silly window avoidance (section 3.8.6.2.2, RFC 1122 section
    /// 4.2.3.3): the right edge stays where it was last advertised until the free space beyond
    /// it reaches [`window_step`](Self::window_step); advertised byte by byte as a slow reader
    /// frees it, the window draws segments that small.
    pub(super) fn receive_window(&self) -> u32 {
        let free = advertised_window(self.receive.buffer.size(), self.receive.recv_buffer.len());
        if self.receive.fin_received {
            // Nothing arrives after the peer's FIN: there is no silly window to avoid.
            return free;
        }
        let advertised = if self.receive.advertised_right_edge > self.receive.rcv_nxt {
            self.receive
                .advertised_right_edge
                .wrapping_diff(self.receive.rcv_nxt)
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
        self.negotiated.smss().min(self.receive.buffer.size() / 2)
    }

    /// Sections 3.10.7.4's seventh and eighth steps: take the payload, then the FIN.
    pub(super) fn receive_text_and_fin(&mut self, now: Instant, segment: &Segment<'_>) {
        if !self.state.may_receive() {
            // After the peer's FIN, nothing more may arrive; it was already acknowledged.
            return;
        }
        // Where the segment starts relative to rcv_nxt; negative when it repeats old bytes.
        let start_delta = i64::from(segment.seq.wrapping_diff(self.receive.rcv_nxt) as i32);
        let payload_len = segment.payload.len() as i64;
        // Where a FIN on this segment sits in the stream, taken before delivery moves on.
        let fin_offset = self.receive.received_offset as i64 + start_delta + payload_len;
        let already_have = (-start_delta).clamp(0, payload_len) as usize;
        let start_in_window = start_delta.max(0) as usize;
        let room = (self.receive_window() as usize).saturating_sub(start_in_window);
        let fresh = &segment.payload[already_have..];
        let accepted = &fresh[..fresh.len().min(room)];

        // A segment that continues the in-order data, whole, with nothing held beyond it.
        let continues_in_order = start_delta == 0
            && accepted.len() == segment.payload.len()
            && !segment.flags.contains(Flags::FIN)
            && self.receive.reassembly.is_empty();
        if !segment.payload.is_empty()
            && !self.may_stretch_owed_ack(continues_in_order, accepted.len())
        {
            self.queue_owed_ack(now);
        }
        if already_have > 0 {
            self.note_duplicate(segment.seq, segment.seq + already_have as u32);
        }
        if !segment.payload.is_empty() {
            if accepted.is_empty() {
                // Nothing new (a repeat, or no room): tell the peer where we are.
                self.receive.owe_ack(Reason::Ack);
            } else if start_in_window == 0 {
                if segment.flags.contains(Flags::FIN) && accepted.len() == fresh.len() {
                    // This segment ends the stream: whatever is held is overwritten by it or
                    // lies beyond the FIN, where nothing can be.
                    self.receive.reassembly = Reassembly::default();
                }
                self.deliver_in_order(now, accepted);
            } else {
                self.stats.out_of_order_segments += 1;
                let offset = self.receive.received_offset + start_in_window as u64;
                let insertion = self.receive.reassembly.insert(offset, accepted);
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
                self.receive.quick_acks = QUICK_ACK_SEGMENTS;
                self.note_sack_block(offset);
                // RFC 5681 section 4.2: out-of-order data is acknowledged at once.
                self.receive.owe_ack(Reason::Ack);
            }
        }

        // The FIN counts once everything before it has arrived. One ahead of a hole is held
        // (section 3.10.7.4's eighth step processes a FIN in order; RFC 9293 section 3.10.7.4
        // lets a receiver keep segments beyond RCV.NXT for later, and Linux keeps a FIN in its
        // out-of-order queue): forgotten, it would cost the sender a second retransmission,
        // often a timeout, after the hole is repaired. Only a FIN whose whole payload was
        // taken is held; a FIN beyond the window is not one we received.
        let whole_payload_taken = accepted.len() == fresh.len();
        if segment.flags.contains(Flags::FIN) && !self.receive.fin_received {
            let received = self.receive.received_offset as i64;
            if whole_payload_taken && fin_offset == received {
                self.on_fin(now);
            } else {
                if whole_payload_taken && fin_offset > received {
                    // The newest FIN wins, as the newest copy of bytes does in reassembly.
                    self.receive.held_fin = Some(fin_offset as u64);
                }
                // Out of order: a duplicate ACK at once (RFC 5681 section 4.2), as for data.
                self.receive.owe_ack(Reason::Ack);
            }
        }
        self.settle_held_fin(now);
    }

    /// Take the held FIN once the data before it is complete; forget it if data lies beyond
    /// it, held or delivered. A FIN contradicted by data past it was forged (RFC 5961 section
    /// 1's blind injection: holding a FIN widens its target from RCV.NXT to the window) or
    /// the peer is broken; the real sender's data and FIN then stand, and a forged FIN cannot
    /// cut the stream short once the real data beyond it has arrived.
    fn settle_held_fin(&mut self, now: Instant) {
        let Some(fin_offset) = self.receive.held_fin else {
            return;
        };
        let held_end = self
            .receive
            .reassembly
            .blocks()
            .next_back()
            .map(|(_, end)| end);
        if self.receive.received_offset > fin_offset || held_end.is_some_and(|end| end > fin_offset)
        {
            self.receive.held_fin = None;
        } else if self.receive.received_offset == fin_offset {
            self.on_fin(now);
        }
    }

    fn deliver_in_order(&mut self, now: Instant, data: &[u8]) {
        let filled_a_hole = !self.receive.reassembly.is_empty();
        self.append_in_order(data);
        while let Some(mut run) = self
            .receive
            .reassembly
            .pop_contiguous(self.receive.received_offset)
        {
            self.append_in_order(run.make_contiguous());
        }
        // Delivered blocks are acknowledged cumulatively now (RFC 2018 section 4).
        let delivered = self.receive.received_offset;
        self.receive
            .recent_sack_blocks
            .retain(|&(start, _)| start > delivered);
        self.receive.unacknowledged_bytes += data.len();
        if filled_a_hole {
            // The sender is recovering: keep its ACK clock quick for a while.
            self.receive.quick_acks = QUICK_ACK_SEGMENTS;
        }
        let quick = self.receive.quick_acks > 0;
        self.receive.quick_acks = self.receive.quick_acks.saturating_sub(1);
        if filled_a_hole || quick {
            // RFC 5681 section 4.2: ACK at once when a segment fills a hole; and, as Linux's
            // quick-ACK mode, every segment at the start and after a loss, so that a sender
            // with a window of one or two segments never waits for the delayed-ACK timer.
            self.receive.owe_ack(Reason::Ack);
        } else if self.receive.unacknowledged_bytes >= 2 * self.negotiated.mss {
            // RFC 5681 section 4.2: ACK at least every second full-sized segment.
            self.receive.owe_second_segment_ack();
        } else if !self.timers.is_armed(Timer::DelayedAck) {
            self.timers
                .set(Timer::DelayedAck, now + self.config.delayed_ack);
        }
        // Autotuning (receive_buffer.rs) times the window's arrival and counts the reads.
        let received = self.receive.received_offset;
        let read = received - self.receive.recv_buffer.len() as u64;
        let window = self.receive_window();
        let mss = self.negotiated.smss();
        self.receive
            .buffer
            .on_data(now, received, read, window, mss);
    }

    fn append_in_order(&mut self, data: &[u8]) {
        self.receive.recv_buffer.extend(data);
        self.receive.rcv_nxt += data.len() as u32;
        self.receive.received_offset += data.len() as u64;
    }

    /// The peer's FIN is next in sequence: the eighth step of section 3.10.7.4.
    fn on_fin(&mut self, now: Instant) {
        self.receive.fin_received = true;
        self.receive.held_fin = None;
        self.receive.rcv_nxt += 1;
        // Nothing exists beyond the FIN: out-of-order data held there is dropped, and no
        // later ACK reports it (as Linux's tcp_fin purges its out-of-order queue).
        self.receive.reassembly = Reassembly::default();
        self.receive.recent_sack_blocks.clear();
        // A D-SACK still owed for data beyond the FIN would now read as a SACK of it (RFC
        // 2883 section 4: above the ACK and inside no other block). One below stands.
        let rcv_nxt = self.receive.rcv_nxt;
        self.receive.pending_dsack = self
            .receive
            .pending_dsack
            .filter(|block| block.right <= rcv_nxt);
        self.receive.pending_ack = Some(Reason::Ack);
        self.receive.owed_ack_stretches = false;
        self.events.push_back(Event::PeerFinished);
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Stretch ACKs (RFC 2525 section 2.13 names them; Linux sends one for each GRO batch):
    /// whether a segment that `continues_in_order` with `len` bytes may be acknowledged
    /// together with the in-order data before it, by the ACK owed for that data, rather than
    /// that ACK being queued first. Only when the driver asked for them
    /// ([`set_stretch_acks`](Self::set_stretch_acks)), only while the ACK owed is the
    /// every-second-segment one, and up to [`MAX_STRETCH_SEGMENTS`]. Everything RFC 5681
    /// section 4.2 wants at once still goes at once, one ACK per segment: out-of-order data
    /// (each duplicate ACK counts at the sender), a segment that fills a hole, a duplicate,
    /// the FIN, and quick-ACK mode at the start and after a loss. The data fed between two
    /// polls arrived together, so the ACK that covers it leaves no later than the ACKs it
    /// replaces would have.
    fn may_stretch_owed_ack(&self, continues_in_order: bool, len: usize) -> bool {
        self.receive.stretch_acks
            && continues_in_order
            && self.receive.owed_ack_stretches
            && self.receive.pending_ack.is_some()
            && self.receive.unacknowledged_bytes + len <= MAX_STRETCH_SEGMENTS * self.negotiated.mss
    }

    /// Acknowledge in-order data fed between two polls with one ACK, up to 16 full segments
    /// (a stretch ACK); off by default, where every second segment draws its own ACK even
    /// within a batch. Out-of-order data, a segment that fills a hole, repeated data, the FIN
    /// and the quick-ACK mode at the start and after a loss still draw an ACK per segment,
    /// as RFC 5681 section 4.2 asks. A driver that takes datagrams from its socket in batches
    /// (recvmmsg) turns it on, so that a receiver behind on its socket sends about one ACK per
    /// batch, as Linux does after GRO, instead of one per two segments: each ACK costs both
    /// ends a datagram's system-call and kernel work (docs/performance.md).
    pub fn set_stretch_acks(&mut self, on: bool) {
        self.receive.stretch_acks = on;
    }

    /// More data arrived while an ACK was owed and not yet polled (a batch of datagrams fed
    /// before `poll_transmit`): that ACK goes as it stands now, before this data, so that a
    /// batch draws one ACK per two segments as RFC 5681 section 4.2 asks, not one for all
    /// (with one ACK per batch, losing it leaves the sender nothing to act on), unless stretch
    /// ACKs are on and the ACK may stretch over this data (`may_stretch_owed_ack`): then
    /// one ACK per [`MAX_STRETCH_SEGMENTS`].
    fn queue_owed_ack(&mut self, now: Instant) {
        let Some(reason) = self.receive.pending_ack.take() else {
            return;
        };
        if let Some(ack) = self.transmit_ack(now, reason) {
            if self.receive.queued_acks.len() == MAX_QUEUED_ACKS {
                // Cumulative: a later ACK says all an earlier one did.
                self.receive.queued_acks.pop_front();
            }
            self.receive.queued_acks.push_back(ack);
        }
    }

    /// A pure ACK. During the handshake the only useful acknowledgment is the SYN-ACK, so a
    /// SYN-RECEIVED connection owing an ACK sends that again instead, as a retransmission (so
    /// its ACK gives no RTT sample).
    pub(super) fn transmit_ack(&mut self, now: Instant, reason: Reason) -> Option<Transmit> {
        match self.state {
            State::SynSent | State::Closed | State::Listen => None,
            State::SynReceived => {
                self.recovery.mark_lost(0, Reason::Handshake);
                self.retransmit(now, 0)
            }
            _ => Some(self.transmit(now, Flags::ACK, self.send.snd_nxt(), &[], reason)),
        }
    }

    /// A segment brought `[seq, end)` again: report it as a D-SACK in the next ACK (RFC 2883),
    /// which goes at once, and stay in quick-ACK mode (the sender may be recovering).
    pub(super) fn note_duplicate(&mut self, seq: SeqNum, end: SeqNum) {
        if self.negotiated.sack {
            self.receive.pending_dsack = Some(SackBlock {
                left: seq,
                right: end,
            });
        }
        self.receive.quick_acks = QUICK_ACK_SEGMENTS;
        self.receive.owe_ack(Reason::Ack);
    }

    /// RFC 2018 section 4: the block holding the segment just received goes first; the
    /// blocks reported before follow, minus any it now contains.
    fn note_sack_block(&mut self, offset: u64) {
        let Some(block) = self.receive.reassembly.block_containing(offset) else {
            return;
        };
        self.receive
            .recent_sack_blocks
            .retain(|&(start, end)| end < block.0 || start > block.1);
        self.receive.recent_sack_blocks.insert(0, block);
        self.receive.recent_sack_blocks.truncate(MAX_SACK_BLOCKS);
    }

    /// How many SACK blocks an ACK sent now would carry (at most [`MAX_SACK_BLOCKS`]): what
    /// a data segment leaves room for (`plpmtud.rs`).
    pub(super) fn sack_blocks_owed(&self) -> usize {
        if !self.negotiated.sack {
            return 0;
        }
        let dsack = usize::from(self.receive.pending_dsack.is_some());
        self.receive
            .reassembly
            .blocks()
            .take(MAX_SACK_BLOCKS)
            .count()
            .saturating_add(dsack)
            .min(MAX_SACK_BLOCKS)
    }

    /// The SACK blocks for an ACK sent now, each as it stands in the reassembly buffer,
    /// after a D-SACK block if a duplicate arrived (RFC 2883 section 4).
    fn sack_blocks(&mut self) -> SackBlocks {
        let mut blocks = SackBlocks::new();
        // RFC 2018 section 2: only to a peer whose SYN said it takes them.
        if !self.negotiated.sack {
            return blocks;
        }
        let dsack = self.receive.pending_dsack.take();
        if let Some(dsack) = dsack {
            blocks.push(dsack);
        }
        if self.receive.reassembly.is_empty() {
            // Nothing held out of order: no block to report, and no list to build for every
            // segment a bulk sender emits (docs/performance.md).
            return blocks;
        }
        let to_seq =
            |offset: u64| self.receive.rcv_nxt + (offset - self.receive.received_offset) as u32;
        let recent = self
            .receive
            .recent_sack_blocks
            .iter()
            .filter_map(|&(start, _)| self.receive.reassembly.block_containing(start));
        // RFC 2018 section 4: as many distinct blocks as fit, so after the recent ones, any
        // other block held (the most recent were forgotten beyond four), highest first.
        let mut chosen: Vec<(u64, u64)> = Vec::with_capacity(MAX_SACK_BLOCKS);
        let room = MAX_SACK_BLOCKS - usize::from(dsack.is_some());
        for block in recent.chain(self.receive.reassembly.blocks().rev()) {
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
        let held = !self.receive.reassembly.is_empty();
        self.receive.reassembly = Reassembly::default();
        self.receive.recent_sack_blocks.clear();
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
        let remaining = self
            .receive
            .advertised_right_edge
            .wrapping_diff(self.receive.rcv_nxt) as usize;
        let window = self.receive_window() as usize;
        let half_buffer = self.receive.buffer.size() as usize / 2;
        if remaining <= half_buffer && window > remaining && window >= 2 * remaining {
            self.receive.owe_ack(Reason::WindowUpdate);
        }
    }
}
