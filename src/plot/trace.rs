//! What a traced host sent and received (and which of its segments a fault dropped), and its
//! congestion window, slow-start threshold and RTO over time: the data of the time-sequence
//! graph, recorded by the simulator.

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
    /// The fault injector on the link dropped it: it never reached the peer.
    pub dropped: bool,
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
    /// The slow-start threshold (bytes) each time it changed; `u32::MAX` until the first loss
    /// sets it (RFC 5681 section 3.1's "arbitrarily high" initial value).
    pub slow_start_threshold: Vec<(Duration, u32)>,
    /// The retransmission timeout (RFC 6298), backoff included, each time it changed.
    pub rto: Vec<(Duration, Duration)>,
}

impl Trace {
    /// Record a datagram the host sent at `at` for `reason`, which a fault `dropped` or not;
    /// one that does not parse is ignored.
    pub fn sent(&mut self, at: Duration, datagram: &[u8], reason: Reason, dropped: bool) {
        if let Some(segment) = SegmentSummary::parse(datagram) {
            self.sent.push(SentSegment {
                at,
                flags: segment.flags,
                seq: segment.seq,
                len: segment.len,
                reason,
                dropped,
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

    /// Record the congestion window, the slow-start threshold and the RTO at `at`, each if it
    /// changed.
    pub fn connection_state(
        &mut self,
        at: Duration,
        congestion_window: u32,
        slow_start_threshold: u32,
        rto: Duration,
    ) {
        push_if_changed(&mut self.congestion_window, at, congestion_window);
        push_if_changed(&mut self.slow_start_threshold, at, slow_start_threshold);
        push_if_changed(&mut self.rto, at, rto);
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

/// Append `(at, value)` unless `value` is what the series holds already.
fn push_if_changed<T: PartialEq>(series: &mut Vec<(Duration, T)>, at: Duration, value: T) {
    if series.last().map(|(_, last)| last) != Some(&value) {
        series.push((at, value));
    }
}
