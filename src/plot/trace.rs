//! What a traced host sent and received, and its congestion window over time: the data of the
//! time-sequence graph, recorded by the simulator.

use std::time::Duration;

use crate::conn::Reason;
use crate::ladder::SegmentSummary;
use crate::wire::{Flags, SeqNum};

/// One segment the traced host sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSegment {
    /// When, since the start.
    pub at: Duration,
    /// Its flags.
    pub flags: Flags,
    /// Its sequence number.
    pub seq: SeqNum,
    /// Its payload length.
    pub len: u32,
    /// Why it was sent.
    pub reason: Reason,
}

/// One acknowledgment the traced host received (intact: a corrupt datagram is not counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// When, since the start.
    pub at: Duration,
    /// The cumulative acknowledgment.
    pub ack: SeqNum,
    /// The advertised window, in bytes beyond `ack`.
    pub window: u32,
    /// The SACK blocks it carried, as `(left, right)`.
    pub sack: Vec<(SeqNum, SeqNum)>,
}

/// What one host sent and received, and its congestion window over time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every segment the host sent, in order.
    pub sent: Vec<SentSegment>,
    /// Every intact segment with an ACK the host received, in order.
    pub acks: Vec<AckSample>,
    /// The congestion window (bytes) each time it changed; `u32::MAX` means no congestion
    /// control.
    pub congestion_window: Vec<(Duration, u32)>,
}

impl Trace {
    /// Record a datagram the host sent at `at` for `reason`; one that does not parse is
    /// ignored.
    pub fn sent(&mut self, at: Duration, datagram: &[u8], reason: Reason) {
        if let Some(segment) = SegmentSummary::parse(datagram) {
            self.sent.push(SentSegment {
                at,
                flags: segment.flags,
                seq: segment.seq,
                len: segment.len,
                reason,
            });
        }
    }

    /// Record a datagram the host received at `at`, if it is an intact segment with an ACK.
    pub fn received(&mut self, at: Duration, datagram: &[u8]) {
        let Some(segment) = SegmentSummary::parse(datagram) else {
            return; // the host discards it too
        };
        if segment.flags.contains(Flags::ACK) && !segment.flags.contains(Flags::RST) {
            self.acks.push(AckSample {
                at,
                ack: segment.ack,
                window: segment.window,
                sack: segment.sack,
            });
        }
    }

    /// Record the congestion window at `at`, if it changed.
    pub fn congestion_window(&mut self, at: Duration, window: u32) {
        if self.congestion_window.last().map(|&(_, w)| w) != Some(window) {
            self.congestion_window.push((at, window));
        }
    }

    /// The initial sequence number: the first SYN's, else one before the first segment's.
    pub(super) fn isn(&self) -> SeqNum {
        self.sent
            .iter()
            .find(|segment| segment.flags.contains(Flags::SYN))
            .map(|segment| segment.seq)
            .or_else(|| {
                self.sent
                    .first()
                    .map(|segment| SeqNum(segment.seq.0.wrapping_sub(1)))
            })
            .unwrap_or(SeqNum(0))
    }
}
