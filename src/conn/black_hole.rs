//! Black-hole detection for path MTU discovery (RFC 8899 section 4.3's third indicator:
//! "excessive loss of data sent with a specific packet size"): telling a path that stopped
//! carrying the larger datagrams from one that loses datagrams of every size at random.
//!
//! It follows quinn's `BlackHoleDetector` (quinn-proto `connection/mtud.rs`):
//!
//! - Losses are counted in **bursts**: datagrams lost one after another in sending order are
//!   one event, however many they are. A queue overflow or an outage drops a run of
//!   datagrams; a random loss drops one; a black hole drops every larger datagram sent after
//!   it opened. The retransmission queue numbers the data datagrams it sends, first copies
//!   and retransmissions alike, as QUIC numbers its packets (RFC 9000 section 12.3), so that
//!   "one after another" is exact; the losses one ACK or one timer expiry reveals are
//!   split into bursts there.
//! - A burst is **suspicious** only when every datagram in it was larger than the base and
//!   went after the newest larger datagram delivered. A burst with a base-sized datagram in it
//!   cannot be the MTU's doing; a larger datagram delivered after it shows the path carries
//!   the size, and clears the bursts counted before (quinn clears them the same way).
//! - [`BLACK_HOLE_BURSTS`] suspicious bursts make a black hole (RFC 8899 section 5.2's
//!   "black hole detected", back to BASE_PLPMTU).
//!
//! What is not evidence: a base-sized datagram delivered after a burst. It shows the path
//! still carries small datagrams, which a black hole allows, but random loss allows it just as
//! well, and after a timeout the only datagrams that go are base-sized retransmissions or a
//! single copy: counting it would make every timeout under random loss look like a black
//! hole. Only larger datagrams lost again and again, with none of that size delivered in
//! between, tell the two apart.

use crate::time::Instant;

/// Suspicious loss bursts that make a black hole. RFC 8899 section 4.3 leaves the count to
/// the implementation; quinn's `BLACK_HOLE_THRESHOLD` is 3 and a black hole needs more than
/// that: four. Random loss of p makes a suspicious burst only when every larger datagram sent
/// after it is lost too until it is found, so four in a row without one delivered is rare
/// even at 10% (`sim::tests`), while a black hole makes one at every loss detection.
pub(crate) const BLACK_HOLE_BURSTS: u32 = 4;

/// A data datagram (first copy or retransmission) that loss detection marked lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LostDatagram {
    /// Its place in sending order (`RetransmissionQueue` numbers the datagrams it sends).
    pub(crate) number: u64,
    /// Larger than the base size, and no path MTU probe (a probe's loss is the search's).
    pub(crate) large: bool,
    pub(crate) sent_at: Instant,
}

/// The evidence of one connection: bursts since the last larger datagram delivered.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlackHoleDetector {
    /// When the newest larger-than-base datagram delivered on its first copy went.
    newest_large_delivered: Option<Instant>,
    /// Suspicious bursts since a larger datagram was delivered.
    suspicious_bursts: u32,
}

impl BlackHoleDetector {
    /// A larger-than-base datagram sent at `sent_at` was delivered: the path carried the size
    /// then, and every burst before is explained by something else.
    pub(crate) fn on_large_delivered(&mut self, sent_at: Instant) {
        self.newest_large_delivered = self.newest_large_delivered.max(Some(sent_at));
        self.suspicious_bursts = 0;
    }

    /// The datagrams one loss detection marked lost (in any order; the pieces of one datagram
    /// may come more than once). Returns whether they complete a black hole; the count
    /// starts again after one.
    pub(crate) fn on_lost(&mut self, lost: &mut [LostDatagram]) -> bool {
        lost.sort_unstable_by_key(|datagram| datagram.number);
        let mut bursts = 0;
        let mut previous: Option<u64> = None;
        let mut suspicious = false;
        for datagram in lost.iter() {
            if previous == Some(datagram.number) {
                continue;
            }
            let starts_burst = previous.is_none_or(|previous| datagram.number != previous + 1);
            if starts_burst {
                bursts += u32::from(suspicious);
                suspicious = true;
            }
            suspicious &= datagram.large
                && self
                    .newest_large_delivered
                    .is_none_or(|delivered| datagram.sent_at > delivered);
            previous = Some(datagram.number);
        }
        bursts += u32::from(suspicious);
        self.suspicious_bursts += bursts;
        if self.suspicious_bursts < BLACK_HOLE_BURSTS {
            return false;
        }
        self.suspicious_bursts = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lost(number: u64, large: bool, sent_ms: u64) -> LostDatagram {
        LostDatagram {
            number,
            large,
            sent_at: Instant::ZERO + Duration::from_millis(sent_ms),
        }
    }

    #[test]
    fn consecutive_losses_are_one_burst_and_four_bursts_make_a_black_hole() {
        let mut detector = BlackHoleDetector::default();
        // Ten datagrams in a row, reported out of order with a piece twice: one burst.
        let mut run: Vec<_> = (10..20).rev().map(|n| lost(n, true, n)).collect();
        run.push(lost(15, true, 15));
        assert!(!detector.on_lost(&mut run));
        // Two more, apart: three bursts.
        assert!(!detector.on_lost(&mut [lost(30, true, 30), lost(32, true, 32)]));
        assert!(detector.on_lost(&mut [lost(40, true, 40)]), "the fourth");
        // The count starts again.
        assert!(!detector.on_lost(&mut [lost(50, true, 50)]));
    }

    #[test]
    fn a_burst_with_a_small_datagram_or_before_a_larger_one_delivered_is_no_evidence() {
        let mut detector = BlackHoleDetector::default();
        for start in [10, 20, 30, 40] {
            // The base-sized datagram in the middle: the loss is not the MTU's.
            let mut burst = [
                lost(start, true, start),
                lost(start + 1, false, start + 1),
                lost(start + 2, true, start + 2),
            ];
            assert!(!detector.on_lost(&mut burst));
        }
        // A larger datagram sent at 100 ms arrived: losses sent before it are not counted,
        // and those counted before it are forgotten.
        assert!(!detector.on_lost(&mut [lost(50, true, 50), lost(60, true, 60)]));
        detector.on_large_delivered(Instant::ZERO + Duration::from_millis(100));
        for number in [70, 72, 74] {
            assert!(!detector.on_lost(&mut [lost(number, true, number)]));
        }
        assert!(!detector.on_lost(&mut [lost(101, true, 101)]));
        assert!(!detector.on_lost(&mut [lost(103, true, 103)]));
        assert!(!detector.on_lost(&mut [lost(105, true, 105)]));
        assert!(detector.on_lost(&mut [lost(107, true, 107)]));
    }
}
