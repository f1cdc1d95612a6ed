//! Pacing: data segments leave spread over the round trip at a rate the congestion window and
//! the smoothed RTT set, instead of in one burst per window (RFC 9002 section 7.7, as Linux's
//! internal pacing does for TCP, `tcp_update_pacing_rate` and `tcp_pacing_check`).
//!
//! - The rate is a ratio times cwnd / SRTT, Linux's: 200 % (`tcp_pacing_ss_ratio = 200`) while
//!   cwnd is below half of ssthresh, where slow start still doubles the window each round
//!   trip and the pacer must not hold it back; 120 % (`tcp_pacing_ca_ratio = 120`) from there
//!   on, where the window is near what the path holds. Linux switches at ssthresh / 2, not at
//!   ssthresh, so that the end of slow start is already paced gently; so does Ferry. As
//!   Linux, the window counted is the larger of cwnd and what is in flight (PRR may have more
//!   in flight than cwnd). RFC 9002 section 7.7 gives the same form, N x cwnd / SRTT, with
//!   N = 1.25 for the same reason: a ratio above 1 keeps RTT variation from leaving the
//!   window unused.
//! - Before the first RTT sample there is no rate, and nothing is paced. The bucket starts
//!   with the initial window in it, so that the first flight leaves at once even when the
//!   handshake gave a sample: Linux paces no segment before its tenth
//!   (`tcp_update_skb_after_send`, after `sch_fq`'s initial quantum of 10 packets), and RFC
//!   9002 section 7.7 allows a burst of the initial window ("Senders SHOULD limit bursts to
//!   the initial congestion window").
//! - A token bucket lets a quantum leave at once, so that a fast path is not throttled by how
//!   finely its driver's timers can wake: Linux's `tcp_tso_autosize`, about 1 ms of data at
//!   the rate (`sk_pacing_rate >> sk_pacing_shift`, a shift of 10) and at least 2 segments
//!   (`tcp_min_tso_segs`). On loopback (SRTT of tens of microseconds) 1 ms at the rate is
//!   many windows, so the pacer never holds anything there.
//! - What is paced: new data and the retransmissions of loss recovery (fast, SACK and RACK
//!   retransmissions, as Linux's `tcp_xmit_retransmit_queue` checks `tcp_pacing_check`).
//!   What is not: pure ACKs (RFC 9002 section 7.7: "packets containing only ACK frames SHOULD
//!   therefore not be paced"; Linux's `tcp_send_ack` bypasses the pacer too), the handshake,
//!   window probes and keepalives, a FIN alone, a tail loss probe, and the retransmission of an
//!   expired retransmission timer (Linux's `tcp_retransmit_timer` sends it straight through
//!   `tcp_retransmit_skb`). Every segment with data still spends the bucket's bytes.
//!
//! The pacer reads no clock: time comes with every call. A segment it holds is not
//! sent; [`Connection::poll_timeout`](super::Connection::poll_timeout) then includes its
//! release time, so that the driver wakes and polls again then.

use std::time::Duration;

use super::cc::initial_window;
use super::Connection;
use crate::time::Instant;

/// Linux's `tcp_pacing_ss_ratio`, in percent: the rate while cwnd < ssthresh / 2.
pub(super) const PACING_SS_RATIO_PERCENT: u64 = 200;
/// Linux's `tcp_pacing_ca_ratio`, in percent: the rate from there on.
pub(super) const PACING_CA_RATIO_PERCENT: u64 = 120;
/// How long a burst may be at the pacing rate: Linux's `tcp_tso_autosize`, rate >> 10, about
/// 1 ms.
const PACING_QUANTUM_TIME: Duration = Duration::from_millis(1);
/// The smallest burst, in segments: Linux's `tcp_min_tso_segs`.
const PACING_MIN_QUANTUM_SEGMENTS: u64 = 2;

const MICROS_PER_SECOND: u128 = 1_000_000;

/// The pacing rate and the bucket's size, as they stand at one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pace {
    /// Bytes per second.
    pub(super) rate: u64,
    /// The most bytes that may leave at once ([`quantum`]).
    pub(super) quantum: u64,
    /// What the bucket holds when first used: the initial window, if more than the quantum.
    pub(super) first_burst: u64,
}

/// The token bucket: bytes that may leave at once, and when the segment it holds may go.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pacer {
    /// Bytes that may leave at once, as of `updated`, in millionths of a byte: a microsecond
    /// at the rate earns a whole number of them, so no fraction is lost between calls.
    tokens: u128,
    /// When `tokens` was last brought up to date; `None` before the first use, when the
    /// bucket starts full.
    updated: Option<Instant>,
    /// When the segment the pacer held at the latest poll may go: a deadline the connection
    /// reports, so that the driver comes back then.
    release_at: Option<Instant>,
}

impl Pacer {
    /// Bring the bucket up to `now`: it fills at the rate up to the quantum; what the first
    /// burst left above the quantum is spent, not cut.
    fn refill(&mut self, now: Instant, pace: Pace) {
        let quantum = u128::from(pace.quantum) * MICROS_PER_SECOND;
        let Some(updated) = self.updated.replace(now) else {
            self.tokens = quantum.max(u128::from(pace.first_burst) * MICROS_PER_SECOND);
            return;
        };
        let micros = now.saturating_duration_since(updated).as_micros();
        let earned = u128::from(pace.rate).saturating_mul(micros);
        self.tokens = self
            .tokens
            .max(self.tokens.saturating_add(earned).min(quantum));
    }

    /// Whether a segment of `len` bytes must wait at `now`; if so, until when (also kept as
    /// [`release_at`]).
    ///
    /// [`release_at`]: Pacer::release_at
    pub(super) fn hold(&mut self, now: Instant, pace: Pace, len: u64) -> bool {
        self.refill(now, pace);
        let needed = u128::from(len) * MICROS_PER_SECOND;
        let Some(missing) = needed
            .checked_sub(self.tokens)
            .filter(|&missing| missing > 0)
        else {
            return false;
        };
        // Rounded up, so that at the release time the bucket holds the segment: the driver
        // that wakes then is never turned away again.
        let micros = missing.div_ceil(u128::from(pace.rate));
        let wait = Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX));
        self.release_at = Some(now + wait);
        true
    }

    /// `len` bytes of data left at `now`: they spend the bucket's tokens.
    pub(super) fn on_sent(&mut self, now: Instant, pace: Pace, len: u64) {
        self.refill(now, pace);
        self.tokens = self
            .tokens
            .saturating_sub(u128::from(len) * MICROS_PER_SECOND);
    }

    /// A poll for something to send begins: whatever was held is decided afresh.
    pub(super) fn forget_release(&mut self) {
        self.release_at = None;
    }

    /// When the segment held at the latest poll may go.
    pub(super) fn release_at(&self) -> Option<Instant> {
        self.release_at
    }
}

/// The burst the bucket holds at `rate` bytes per second: 1 ms of data, at least two
/// segments of `smss` bytes (Linux's `tcp_tso_autosize`).
pub(super) fn quantum(rate: u64, smss: u32) -> u64 {
    let per_quantum = u128::from(rate) * PACING_QUANTUM_TIME.as_micros() / MICROS_PER_SECOND;
    u64::try_from(per_quantum)
        .unwrap_or(u64::MAX)
        .max(PACING_MIN_QUANTUM_SEGMENTS * u64::from(smss))
}

impl Connection {
    /// The pacing rate in bytes per second, or `None` when nothing is paced: pacing is off
    /// ([`Config::pacing`](super::Config::pacing)), there is no RTT sample yet, or no
    /// congestion control limits the window.
    pub(super) fn pacing_rate(&self) -> Option<u64> {
        if !self.config.pacing {
            return None;
        }
        let srtt = self.rtt.smoothed_rtt()?.as_micros();
        let cwnd = self.congestion.window();
        if srtt == 0 || cwnd == u32::MAX {
            return None;
        }
        let ratio = if cwnd < self.congestion.slow_start_threshold() / 2 {
            PACING_SS_RATIO_PERCENT
        } else {
            PACING_CA_RATIO_PERCENT
        };
        let window = u128::from(cwnd.max(self.send.flight_size()));
        let rate = window * u128::from(ratio) * MICROS_PER_SECOND / 100 / srtt;
        Some(u64::try_from(rate).unwrap_or(u64::MAX).max(1))
    }

    /// The rate and the bucket's size now, if anything is paced.
    fn pace(&self) -> Option<Pace> {
        let rate = self.pacing_rate()?;
        let smss = self.smss();
        Some(Pace {
            rate,
            quantum: quantum(rate, smss),
            first_burst: u64::from(initial_window(smss, self.config.initial_window_segments)),
        })
    }

    /// Whether the pacer holds a segment of `len` bytes at `now`; if it does,
    /// [`poll_timeout`](Connection::poll_timeout) reports when it may go.
    pub(super) fn pacer_holds(&mut self, now: Instant, len: u32) -> bool {
        let Some(pace) = self.pace() else {
            return false;
        };
        self.pacer.hold(now, pace, u64::from(len))
    }

    /// `len` bytes of data left at `now`, paced or not: they spend the pacer's tokens.
    pub(super) fn on_paced_bytes_sent(&mut self, now: Instant, len: u32) {
        if let Some(pace) = self.pace() {
            self.pacer.on_sent(now, pace, u64::from(len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_the_quantum_go_then_spaces_segments_at_the_rate() {
        let mut pacer = Pacer::default();
        // 1,200,000 bytes/s: one 1200-byte segment per millisecond; a quantum of two, a first
        // burst of three.
        let pace = Pace {
            rate: 1_200_000,
            quantum: 2400,
            first_burst: 3600,
        };
        let now = Instant::from_millis(100);
        for _ in 0..3 {
            assert!(!pacer.hold(now, pace, 1200));
            pacer.on_sent(now, pace, 1200);
        }
        assert!(pacer.hold(now, pace, 1200));
        assert_eq!(pacer.release_at(), Some(Instant::from_millis(101)));
        assert!(pacer.hold(Instant::from_micros(100_999), pace, 1200));
        assert!(!pacer.hold(Instant::from_millis(101), pace, 1200));
        pacer.on_sent(Instant::from_millis(101), pace, 1200);
        // After a pause the bucket holds the quantum, not the first burst.
        let later = Instant::from_millis(200);
        for _ in 0..2 {
            assert!(!pacer.hold(later, pace, 1200));
            pacer.on_sent(later, pace, 1200);
        }
        assert!(pacer.hold(later, pace, 1200));
    }

    #[test]
    fn the_quantum_is_a_millisecond_at_the_rate_and_at_least_two_segments() {
        assert_eq!(quantum(1_200_000, 1200), 2400);
        assert_eq!(quantum(15_000_000, 1200), 15_000);
    }
}
