//! CUBIC (RFC 9438): after a reduction the window grows as a cubic function of the time
//! since congestion avoidance began, fast at first, flat near the window where the loss
//! happened (W_max), then faster again beyond it; never slower than Reno would grow (the
//! Reno-friendly region); multiplicative decrease by 0.7. The constants and fast convergence
//! are Linux's tcp_cubic's, which are the RFC's. The initial slow start ends by HyStart++
//! (RFC 9406, `hystart.rs`), as RFC 9438 section 4.10 recommends.

use super::hystart::{HyStart, SlowStartPhase, CSS_GROWTH_DIVISOR};
use super::{slow_start_increase, Ack, Controller};
use crate::time::Instant;

/// C (RFC 9438 section 5.1), in segments per second cubed.
const CUBIC_C: f64 = 0.4;
/// beta_cubic (section 4.6): the window after a loss is 0.7 of what it was.
const CUBIC_BETA: f64 = 0.7;
/// alpha_cubic (section 4.3): 3 * (1 - beta) / (1 + beta), so that the Reno-friendly
/// estimate grows, on average, as fast as Reno with its halving would.
const CUBIC_ALPHA: f64 = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
/// Slow start grows by at most L = 2 segments per ACK (RFC 3465 section 2.3), so that with
/// an ACK for every second segment the window doubles each round trip, as Linux's does.
const SLOW_START_LIMIT_SEGMENTS: u32 = 2;
/// The target never exceeds 1.5 times cwnd (section 4.2), growth of at most one SMSS per two
/// acknowledged, as Linux's `cnt >= 2`.
const CUBIC_MAX_GROWTH: f64 = 1.5;

/// CUBIC's state, in bytes where the RFC counts segments (a window of W segments is W * SMSS
/// bytes, C is scaled to match).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cubic {
    smss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max (section 4.1.2): cwnd just before the last reduction, lowered by fast
    /// convergence (section 4.7). Zero before any loss and after a timeout, so that the next
    /// congestion avoidance stage starts with K = 0 from its own window (section 4.8).
    w_max: u32,
    /// cwnd_prior (section 4.6): cwnd just before the last reduction.
    cwnd_prior: u32,
    /// The congestion avoidance stage under way, from its first ACK.
    epoch: Option<Epoch>,
    /// Bytes acknowledged in the cubic region since cwnd last grew.
    bytes_acked: u32,
    /// HyStart++ during the initial slow start; `None` once it ended, by HyStart++ itself or
    /// by the first loss.
    hystart: Option<HyStart>,
}

/// One congestion avoidance stage (section 4.2).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Epoch {
    /// t_epoch: when the stage began.
    start: Instant,
    /// K (equation 2), in seconds: when W_cubic reaches W_max again.
    k: f64,
    /// The W_max of equation 1 in bytes: the window the cubic function levels out at.
    origin: f64,
    /// W_est (section 4.3) in bytes: what Reno would have reached since t_epoch.
    w_est: f64,
}

impl Cubic {
    /// A controller at the start of a connection: `initial_window` bytes and an "arbitrarily
    /// high" ssthresh, as NewReno.
    pub(crate) fn new(smss: u32, initial_window: u32) -> Cubic {
        Cubic {
            smss,
            cwnd: initial_window,
            ssthresh: u32::MAX,
            w_max: 0,
            cwnd_prior: 0,
            epoch: None,
            bytes_acked: 0,
            hystart: Some(HyStart::default()),
        }
    }

    /// C in bytes per second cubed.
    fn c(&self) -> f64 {
        CUBIC_C * f64::from(self.smss)
    }

    /// Equation 1: W_cubic(t) = C * (t - K)^3 + W_max, in bytes.
    fn w_cubic(&self, epoch: &Epoch, t: f64) -> f64 {
        self.c() * (t - epoch.k).powi(3) + epoch.origin
    }

    /// Section 4.2: a stage begins with the first ACK in congestion avoidance. Equation 2:
    /// K = cbrt((W_max - cwnd_epoch) / C); with the window already at or above W_max (no loss
    /// yet, or after a timeout, section 4.8), K = 0 and the curve starts from cwnd.
    fn begin_epoch(&self, now: Instant) -> Epoch {
        let cwnd = f64::from(self.cwnd);
        let w_max = f64::from(self.w_max);
        let (k, origin) = if w_max > cwnd {
            (((w_max - cwnd) / self.c()).cbrt(), w_max)
        } else {
            (0.0, cwnd)
        };
        Epoch {
            start: now,
            k,
            origin,
            w_est: cwnd,
        }
    }

    /// Congestion avoidance for one ACK (sections 4.2 to 4.5).
    fn congestion_avoidance(&mut self, ack: &Ack) {
        let smss = f64::from(self.smss);
        let cwnd = f64::from(self.cwnd);
        let mut epoch = match self.epoch {
            Some(epoch) => epoch,
            None => self.begin_epoch(ack.now),
        };
        // Section 4.3: W_est grows by alpha_cubic segments per window acknowledged; alpha is
        // 1 once W_est reaches cwnd_prior, where Reno would no longer be catching up.
        let alpha = if epoch.w_est >= f64::from(self.cwnd_prior) {
            1.0
        } else {
            CUBIC_ALPHA
        };
        epoch.w_est += alpha * f64::from(ack.bytes) * smss / cwnd;
        self.epoch = Some(epoch);
        let t = ack.now.saturating_duration_since(epoch.start).as_secs_f64();
        if self.w_cubic(&epoch, t) < epoch.w_est {
            // Section 4.3: the Reno-friendly region, where cwnd follows W_est.
            self.cwnd = self.cwnd.max(epoch.w_est as u32);
            self.bytes_acked = 0;
            return;
        }
        // Sections 4.4 and 4.5: towards W_cubic one RTT ahead, cwnd += (target - cwnd) / cwnd
        // per segment acknowledged, in whole segments as Linux does: one SMSS per
        // cwnd * SMSS / (target - cwnd) bytes acknowledged.
        let rtt = ack.smoothed_rtt.unwrap_or_default().as_secs_f64();
        let target = self
            .w_cubic(&epoch, t + rtt)
            .clamp(cwnd, CUBIC_MAX_GROWTH * cwnd);
        if target <= cwnd {
            self.bytes_acked = 0;
            return;
        }
        let bytes_per_segment = ((cwnd * smss / (target - cwnd)) as u32).max(1);
        self.bytes_acked = self.bytes_acked.saturating_add(ack.bytes);
        let segments = self.bytes_acked / bytes_per_segment;
        self.bytes_acked -= segments * bytes_per_segment;
        self.cwnd = self.cwnd.saturating_add(segments.saturating_mul(self.smss));
    }

    /// Section 4.6 with fast convergence (section 4.7): remember W_max, and set ssthresh to
    /// beta_cubic of cwnd, at least two segments (RFC 5681 equation 4's floor). Section 4.6
    /// allows cwnd in place of flight_size where something else keeps cwnd from growing
    /// while the sender does not use it: here `cwnd_validation.rs`. Linux reduces cwnd too.
    /// What was in flight fell short of cwnd early in paced slow start (a loss in the second
    /// flight of 100 KB on a 100 Mbit/s, 100 ms path set ssthresh at 0.7 x 15 KB against
    /// cwnd's 20 KB), and congestion avoidance from there cost that transfer round trips.
    fn reduce(&mut self) {
        self.w_max = if self.cwnd < self.w_max {
            // A second loss below the last W_max: the flow is losing ground to others, so
            // it releases bandwidth sooner by aiming lower.
            (f64::from(self.cwnd) * (1.0 + CUBIC_BETA) / 2.0) as u32
        } else {
            self.cwnd
        };
        self.cwnd_prior = self.cwnd;
        self.ssthresh = ((f64::from(self.cwnd) * CUBIC_BETA) as u32).max(2 * self.smss);
        self.hystart = None;
        self.epoch = None;
        self.bytes_acked = 0;
    }
}

impl Controller for Cubic {
    fn window(&self) -> u32 {
        self.cwnd
    }

    fn slow_start_threshold(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &Ack) {
        if self.cwnd >= self.ssthresh {
            self.congestion_avoidance(ack);
            return;
        }
        let increase = slow_start_increase(ack.bytes, SLOW_START_LIMIT_SEGMENTS * self.smss);
        let phase = match &mut self.hystart {
            Some(hystart) => hystart.on_ack(ack, self.cwnd / self.smss),
            None => SlowStartPhase::Standard,
        };
        match phase {
            SlowStartPhase::Standard => self.cwnd = self.cwnd.saturating_add(increase),
            SlowStartPhase::Conservative => {
                self.cwnd = self.cwnd.saturating_add(increase / CSS_GROWTH_DIVISOR);
            }
            SlowStartPhase::Over => {
                // RFC 9406 section 4.2: CSS_ROUNDS rounds of CSS are over, or the ACK train
                // showed the link full; congestion avoidance from the window reached, this
                // ACK its first.
                self.hystart = None;
                self.ssthresh = self.cwnd;
                self.congestion_avoidance(ack);
            }
        }
    }

    fn on_loss(&mut self, _flight_size: u32) {
        self.reduce();
        self.cwnd = self.ssthresh;
    }

    fn on_timeout(&mut self, _flight_size: u32, repeated: bool) {
        // Section 4.8: ssthresh as for any loss (but once for the same data, RFC 5681
        // section 3.1), cwnd to one segment as Reno; the first congestion avoidance stage
        // after it starts with K = 0 from its own window, as Linux's reset on TCP_CA_Loss.
        if !repeated {
            self.reduce();
        }
        self.w_max = 0;
        self.epoch = None;
        self.bytes_acked = 0;
        self.cwnd = self.smss;
    }

    fn restart_after_idle(&mut self, window: u32) {
        // As Reno; the curve starts again from the new window (Linux's cubictcp_cwnd_event
        // moves the epoch on after idle).
        self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
        self.cwnd = self.cwnd.min(window);
        self.epoch = None;
        self.bytes_acked = 0;
    }

    fn set_segment_size(&mut self, smss: u32) {
        self.smss = smss;
    }

    fn undo(&mut self, window: u32, slow_start_threshold: u32) {
        // Section 4.9: back to the window and threshold from before the spurious response;
        // the curve starts again from there, as Linux's tcp_undo_cwnd_reduction.
        self.cwnd = self.cwnd.max(window);
        self.ssthresh = self.ssthresh.max(slow_start_threshold);
        self.epoch = None;
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::delivered;
    use super::*;
    use crate::wire::SeqNum;

    const SMSS: u32 = 1000;
    /// The smoothed RTT the ACKs report.
    const SRTT: Duration = Duration::from_millis(100);

    /// An ACK of `bytes` at `micros` microseconds, with a smoothed RTT of 100 ms.
    fn ack_at(bytes: u32, micros: u64) -> Ack {
        Ack {
            bytes,
            now: Instant::from_micros(micros),
            smoothed_rtt: Some(SRTT),
            ..delivered(bytes)
        }
    }

    /// A controller grown by slow start to `window` bytes (RFC 5681's: one SMSS per ACK).
    fn grown_to(window: u32) -> Cubic {
        let mut cc = Cubic::new(SMSS, 4 * SMSS);
        while cc.window() < window {
            cc.on_ack(&ack_at(SMSS, 0));
        }
        assert_eq!(cc.window(), window);
        cc
    }

    #[test]
    fn loss_reduces_the_window_to_beta_0_7_of_itself() {
        let mut cc = grown_to(100_000);
        // Section 4.6: ssthresh = cwnd = 0.7 * 100,000 (Reno's would be 50,000), from cwnd
        // even with less in flight (cwnd validation keeps an unused window from growing).
        cc.on_loss(60_000);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (70_000, 70_000));
        // Never below two segments: 0.7 * 2000 = 1400 is raised to 2000.
        let mut cc = Cubic::new(SMSS, 2 * SMSS);
        cc.on_loss(2000);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (2000, 2000));
    }

    #[test]
    fn fast_convergence_aims_the_curve_below_the_last_w_max() {
        // A loss at 100,000 sets W_max = 100,000; a second at 70,000, below it, sets W_max =
        // 70,000 * (1 + 0.7) / 2 = 59,500 (section 4.7) and cwnd = 0.7 * 70,000 = 49,000.
        let mut cc = grown_to(100_000);
        cc.on_loss(100_000);
        cc.on_loss(70_000);
        assert_eq!(cc.window(), 49_000);
        // The first ACK in congestion avoidance begins the stage at t = 0 (K = cbrt((59,500 -
        // 49,000) / 400) = 2.97196 s). W_cubic(0) = 49,000 is below W_est = 49,000 + 0.5294 *
        // 1000 * 1000 / 49,000 = 49,010.8: the Reno-friendly region, cwnd = W_est.
        cc.on_ack(&ack_at(1000, 0));
        assert_eq!(cc.window(), 49_010);
        // At t = 2.872 s the target is W_cubic(t + RTT) = W_cubic(K) = W_max = 59,500: one
        // SMSS per 49,010 * 1000 / (59,500 - 49,010) = 4672 bytes, so 47,000 bytes add 10.
        // (Without fast convergence, towards 70,000, they would add 19.)
        cc.on_ack(&ack_at(47_000, 2_872_000));
        assert_eq!(cc.window(), 59_010);
    }

    #[test]
    fn the_target_is_at_most_one_and_a_half_windows() {
        // A timeout at a window of 20,000: ssthresh = 14,000, cwnd = 1 SMSS; slow start back
        // to 14,000.
        let mut cc = grown_to(20_000);
        cc.on_timeout(20_000, false);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (1000, 14_000));
        for _ in 0..13 {
            cc.on_ack(&ack_at(1000, 0));
        }
        assert_eq!(cc.window(), 14_000);
        // The first stage after a timeout starts with K = 0 from its own window (section
        // 4.8); its first ACK is in the Reno-friendly region, with alpha_cubic since W_est is
        // below cwnd_prior (20,000): 14,000 + 0.5294 * 1000 * 1000 / 14,000 = 14,037.8.
        cc.on_ack(&ack_at(1000, 1_000_000));
        assert_eq!(cc.window(), 14_037);
        // Ten seconds later W_cubic(10.1 s) = 400 * 10.1^3 + 14,000 = 426,120, far beyond
        // 1.5 * 14,037 = 21,055.5: the target is that, one SMSS per 14,037 * 1000 / 7018.5 =
        // 2000 bytes, and 20,500 bytes add 10.
        cc.on_ack(&ack_at(20_500, 11_000_000));
        assert_eq!(cc.window(), 24_037);
    }

    #[test]
    fn the_reno_friendly_region_grows_by_alpha_segments_a_window() {
        // After a loss at 100,000, with time standing still W_cubic stays at cwnd_epoch =
        // 70,000, and W_est leads: alpha_cubic = 3 * 0.3 / 1.7 = 0.5294 SMSS per window of
        // 70,000 bytes, so two windows of ACKs add about 1059 bytes (RFC 9438 section 4.3;
        // Reno, with alpha 1, would add 2000).
        let mut cc = grown_to(100_000);
        cc.on_loss(100_000);
        for _ in 0..140 {
            cc.on_ack(&ack_at(1000, 5_000_000));
        }
        assert_eq!(cc.window(), 71_050);
    }

    /// One round trip of slow start: ACKs of 1000 bytes each up to `end`, from `first`, each
    /// with an RTT sample of `rtt_ms`; the first ACK of a round finds snd_nxt at `end`.
    fn round(cc: &mut Cubic, first: u32, end: u32, rtt_ms: u64) {
        for una in (first..=end).step_by(1000) {
            cc.on_ack(&Ack {
                rtt_sample: Some(Duration::from_millis(rtt_ms)),
                snd_una: SeqNum(una),
                snd_nxt: SeqNum(end),
                ..ack_at(1000, 0)
            });
        }
    }

    #[test]
    fn hystart_leaves_slow_start_when_the_rtt_rises_an_eighth() {
        let mut cc = Cubic::new(SMSS, 4 * SMSS);
        // RFC 9406 section 4.2: a first round at 100 ms; slow start, 4000 + 8 x 1000.
        round(&mut cc, 1000, 8000, 100);
        assert_eq!(cc.window(), 12_000);
        // 112 ms is below 100 + max(4, min(100 / 8, 16)) = 112.5 ms: still slow start.
        round(&mut cc, 9000, 16_000, 112);
        assert_eq!(cc.window(), 20_000);
        // 126 ms reaches 112 + 14: the eighth sample moves slow start into CSS (its own ACK
        // still grew by a full segment).
        round(&mut cc, 17_000, 24_000, 126);
        assert_eq!(cc.window(), 28_000);
        // CSS grows a quarter as fast; the round it began in is the first of 5.
        round(&mut cc, 25_000, 32_000, 126);
        assert_eq!(cc.window(), 30_000);
        for r in 0..3 {
            let first = 33_000 + r * 8000;
            round(&mut cc, first, first + 7000, 126);
        }
        assert_eq!(cc.window(), 36_000);
        assert_eq!(cc.slow_start_threshold(), u32::MAX);
        // The next round begins after 5: ssthresh = cwnd, and its first ACK is congestion
        // avoidance's (the Reno-friendly region: 36,000 + 1000 * 1000 / 36,000).
        round(&mut cc, 57_000, 57_000, 126);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (36_027, 36_000));
    }

    #[test]
    fn hystart_resumes_slow_start_when_the_rtt_falls_back_in_css() {
        let mut cc = Cubic::new(SMSS, 4 * SMSS);
        round(&mut cc, 1000, 8000, 100);
        round(&mut cc, 9000, 16_000, 112);
        round(&mut cc, 17_000, 24_000, 126);
        assert_eq!(cc.window(), 28_000);
        // Below cssBaselineMinRtt (126 ms) after eight samples: the rise was spurious, and
        // slow start resumes (the round's ACKs grew as CSS).
        round(&mut cc, 25_000, 32_000, 100);
        assert_eq!(cc.window(), 30_000);
        round(&mut cc, 33_000, 40_000, 100);
        assert_eq!(cc.window(), 38_000);
        assert_eq!(cc.slow_start_threshold(), u32::MAX);
    }

    /// A round of slow start as a 10 Mbit/s link returns it: ACKs of 2000 bytes each 1.6 ms
    /// apart from `start_micros`, `acks` of them, each timing a segment that found the
    /// queue empty (41 ms) and, as in a round that began on an idle link, the same one.
    fn ack_train(cc: &mut Cubic, first: u32, acks: u32, start_micros: u64, paced: bool) {
        let end = first + 2000 * acks;
        for i in 0..acks {
            cc.on_ack(&Ack {
                rtt_sample: Some(Duration::from_millis(41)),
                snd_una: SeqNum(first + 2000 * i),
                snd_nxt: SeqNum(end),
                paced,
                ..ack_at(2000, start_micros + 1600 * u64::from(i))
            });
        }
    }

    #[test]
    fn hystart_leaves_slow_start_when_a_rounds_acks_come_back_to_back_for_half_an_rtt() {
        // Unpaced, from 20 segments: the RTT never rises, so RFC 9406's test never fires,
        // but the round's ACKs come 1.6 ms apart (at most 2 ms: a train) and the 14th is
        // 20.8 ms after the first, past half the 41 ms RTT: a link busy for half a round trip.
        // Slow start ends there, straight into congestion avoidance (Linux's HyStart).
        let mut cc = Cubic::new(SMSS, 20 * SMSS);
        ack_train(&mut cc, 1000, 13, 0, false);
        assert_eq!(cc.window(), 46_000);
        assert_eq!(cc.slow_start_threshold(), u32::MAX);
        ack_train(&mut cc, 27_000, 1, 20_800, false);
        assert_eq!(cc.slow_start_threshold(), 46_000);
        // Paced, the same train is what pacing at 2 x cwnd / SRTT makes of half a round trip
        // on an idle link: slow start goes on until the train outlasts the whole RTT.
        let mut cc = Cubic::new(SMSS, 20 * SMSS);
        ack_train(&mut cc, 1000, 26, 0, true);
        assert_eq!(cc.slow_start_threshold(), u32::MAX);
        ack_train(&mut cc, 53_000, 1, 41_600, true);
        assert_eq!(cc.slow_start_threshold(), 72_000);
        // ACKs more than 2 ms apart are no train: a round of them ends nothing.
        let mut cc = Cubic::new(SMSS, 20 * SMSS);
        for i in 0..30 {
            ack_train(&mut cc, 1000 + 2000 * i, 1, 2100 * u64::from(i), false);
        }
        assert_eq!(cc.slow_start_threshold(), u32::MAX);
    }

    #[test]
    fn a_repeated_timeout_keeps_ssthresh_and_undo_restores_the_window() {
        let mut cc = grown_to(10_000);
        cc.on_timeout(10_000, false);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (1000, 7000));
        cc.on_timeout(1000, true);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (1000, 7000));
        cc.undo(10_000, u32::MAX);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (10_000, u32::MAX));
    }
}
