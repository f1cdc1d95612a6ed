//! HyStart++ (RFC 9406): leave slow start when the RTT rises, before the queue overflows.
//! Each round trip, the lowest RTT of at least eight samples is compared with the last
//! round's; a rise of an eighth (between 4 and 16 ms) moves slow start into Conservative Slow
//! Start (CSS), which grows a quarter as fast, for at most five rounds before congestion
//! avoidance, or back to slow start if the RTT falls again below where CSS began.
//!
//! Beside it, Linux's HyStart ACK-train test (Ha and Rhee, tcp_cubic.c's `hystart_update`),
//! which is not in the RFC: slow start ends, straight into congestion avoidance, once a
//! round's ACKs have kept coming at most 2 ms apart for longer than half the lowest RTT
//! (the whole of it when paced). The RFC's test alone comes too late while slow start
//! leaves each round's data in a burst shorter than the round trip, paced at 2 x cwnd /
//! SRTT or not: the link idles and the queue drains between rounds, so each round's first
//! RTT sample, its minimum, sees no queue however high the rest rise, and the minimum
//! rises only in the first round that begins with a standing queue, by when cwnd is about
//! twice the bandwidth-delay product. The ACK train measures that product directly: ACKs
//! that come back to back for half a round trip are a link kept busy for it.

use std::time::Duration;

use super::Ack;
use crate::time::Instant;
use crate::wire::SeqNum;

/// Section 4.3: the bounds of the RTT rise that ends slow start, and the fraction of the
/// last round's RTT it is between them.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
/// RTT samples a round needs before it is compared.
const N_RTT_SAMPLE: u32 = 8;
/// CSS grows the window this many times slower than slow start.
pub(super) const CSS_GROWTH_DIVISOR: u32 = 4;
/// Rounds CSS lasts at most, the one it began in counted.
const CSS_ROUNDS: u32 = 5;
/// Linux's `hystart_ack_delta_us`: ACKs at most this far apart are one train.
const ACK_TRAIN_SPACING: Duration = Duration::from_millis(2);
/// Linux's `hystart_low_window`: no ACK-train exit below this many segments of cwnd, where
/// a short RTT makes any few ACKs a train.
const ACK_TRAIN_MIN_SEGMENTS: u32 = 16;

/// How the window grows for one ACK of the initial slow start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SlowStartPhase {
    /// Standard slow start.
    Standard,
    /// Conservative Slow Start: a quarter of the growth.
    Conservative,
    /// CSS is over: ssthresh = cwnd, congestion avoidance from here.
    Over,
}

/// HyStart++'s state during the initial slow start (section 4.2: later slow starts, after a
/// timeout, are bounded by the ssthresh a loss set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct HyStart {
    /// windowEnd: the round ends when snd_una reaches it. `None` before the first ACK.
    window_end: Option<SeqNum>,
    /// lastRoundMinRTT, `None` for infinity.
    last_round_min_rtt: Option<Duration>,
    /// currentRoundMinRTT, `None` for infinity.
    current_round_min_rtt: Option<Duration>,
    /// rttSampleCount.
    rtt_sample_count: u32,
    /// In CSS: cssBaselineMinRtt and the rounds begun in CSS.
    css: Option<Css>,
    /// When the round's first ACK arrived (Linux's `round_start`).
    round_start: Option<Instant>,
    /// When the latest ACK of the round's train arrived (Linux's `last_ack`).
    train_end: Option<Instant>,
    /// The lowest RTT sample yet (Linux's `delay_min`).
    min_rtt: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Css {
    baseline_min_rtt: Duration,
    rounds: u32,
}

impl HyStart {
    /// Section 4.2, for one ACK of new data in slow start with a window of `cwnd_segments`:
    /// start a round if the last one ended, take the ACK's RTT sample, and say how the
    /// window grows for it.
    pub(super) fn on_ack(&mut self, ack: &Ack, cwnd_segments: u32) -> SlowStartPhase {
        // The ACK of windowEnd itself still belongs to the round it ends, as in Linux's
        // hystart (`after(snd_una, end_seq)`): it times that round's last segment.
        if self.window_end.is_none_or(|end| ack.snd_una > end) {
            self.window_end = Some(ack.snd_nxt);
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_sample_count = 0;
            self.round_start = Some(ack.now);
            self.train_end = Some(ack.now);
            if let Some(css) = &mut self.css {
                if css.rounds >= CSS_ROUNDS {
                    return SlowStartPhase::Over;
                }
                css.rounds += 1;
            }
        }
        // The ACK grows the window as the phase it arrived in, before the checks below.
        let phase = if self.css.is_some() {
            SlowStartPhase::Conservative
        } else {
            SlowStartPhase::Standard
        };
        if let Some(rtt) = ack.rtt_sample {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |min| min.min(rtt)));
        }
        if self.css.is_none() && cwnd_segments >= ACK_TRAIN_MIN_SEGMENTS && self.ack_train(ack) {
            return SlowStartPhase::Over;
        }
        let Some(rtt) = ack.rtt_sample else {
            return phase;
        };
        let current = self.current_round_min_rtt.map_or(rtt, |min| min.min(rtt));
        self.current_round_min_rtt = Some(current);
        self.rtt_sample_count += 1;
        if self.rtt_sample_count < N_RTT_SAMPLE {
            return phase;
        }
        match self.css {
            None => {
                if let Some(last) = self.last_round_min_rtt {
                    let threshold = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if current >= last + threshold {
                        // The partial round CSS begins in counts as its first.
                        self.css = Some(Css {
                            baseline_min_rtt: current,
                            rounds: 1,
                        });
                    }
                }
            }
            Some(css) => {
                if current < css.baseline_min_rtt {
                    // The rise was spurious: back to slow start.
                    self.css = None;
                }
            }
        }
        phase
    }

    /// Linux's ACK-train test for one ACK: whether the round's ACKs, each at most
    /// `ACK_TRAIN_SPACING` after the last, have now come for longer than half the lowest RTT.
    /// A paced round's ACKs come spread over about half a round trip even with the link idle
    /// (2 x cwnd / SRTT), so a paced sender waits for a train of the whole lowest RTT, as
    /// Linux does unless `sk_pacing_status` is `SK_PACING_NONE`.
    fn ack_train(&mut self, ack: &Ack) -> bool {
        let (Some(start), Some(end), Some(min_rtt)) =
            (self.round_start, self.train_end, self.min_rtt)
        else {
            return false;
        };
        if ack.now.saturating_duration_since(end) > ACK_TRAIN_SPACING {
            return false;
        }
        self.train_end = Some(ack.now);
        let threshold = if ack.paced { min_rtt } else { min_rtt / 2 };
        ack.now.saturating_duration_since(start) > threshold
    }
}
