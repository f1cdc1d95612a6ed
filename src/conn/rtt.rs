//! The retransmission timeout estimator of RFC 6298: SRTT, RTTVAR, backoff and clamps, and
//! [`backed_off`], the one doubling every backed-off timer uses (the retransmission timer, the
//! persist timer, tail loss probes).
//!
//! Karn's rule (section 3) is the caller's job: it only offers samples from segments that were
//! never retransmitted.

use std::time::Duration;

/// RFC 6298 section 2.3: alpha = 1/8, beta = 1/4, as divisors.
const RTTE_ALPHA_DIVISOR: u32 = 8;
const RTTE_BETA_DIVISOR: u32 = 4;
/// RFC 6298 section 2.2: K = 4.
const RTTE_K: u32 = 4;
/// The clock granularity G of RFC 6298 section 2: Ferry's clock counts microseconds, but a
/// variance term below a millisecond would let the RTO sit on the RTT itself.
const RTTE_GRANULARITY: Duration = Duration::from_millis(1);

/// `base` doubled `doublings` times, as RFC 6298 section 5.5 backs off the retransmission
/// timer, and at most `ceiling` (section 2.5's maximum). Saturates rather than overflows: past
/// 31 doublings the factor stays 2^32 - 1, far beyond any ceiling.
pub(crate) fn backed_off(base: Duration, doublings: u32, ceiling: Duration) -> Duration {
    let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(ceiling)
}

/// Smoothed RTT, RTT variance and the current (possibly backed-off) RTO.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    smoothed_rtt: Option<Duration>,
    rtt_variance: Duration,
    /// The latest sample, for the trace.
    latest_rtt: Option<Duration>,
    /// The RTO computed from the samples, before backoff and clamping.
    base_rto: Duration,
    /// How many times the timer has expired since the last sample (section 5.5 doubling).
    backoff_exponent: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            smoothed_rtt: None,
            rtt_variance: Duration::ZERO,
            latest_rtt: None,
            base_rto: initial_rto,
            backoff_exponent: 0,
            min_rto,
            max_rto,
        }
    }

    /// Take one RTT measurement (sections 2.2 and 2.3). A new sample also collapses any
    /// backoff, as section 5 notes after step 5.7.
    pub(crate) fn on_sample(&mut self, rtt: Duration) {
        self.latest_rtt = Some(rtt);
        match self.smoothed_rtt {
            None => {
                self.smoothed_rtt = Some(rtt);
                self.rtt_variance = rtt / 2;
            }
            Some(srtt) => {
                let deviation = srtt.abs_diff(rtt);
                // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
                self.rtt_variance = self.rtt_variance - self.rtt_variance / RTTE_BETA_DIVISOR
                    + deviation / RTTE_BETA_DIVISOR;
                // SRTT <- (1 - alpha) * SRTT + alpha * R'
                self.smoothed_rtt =
                    Some(srtt - srtt / RTTE_ALPHA_DIVISOR + rtt / RTTE_ALPHA_DIVISOR);
            }
        }
        let srtt = self.smoothed_rtt.unwrap_or(rtt);
        self.base_rto = srtt + RTTE_GRANULARITY.max(self.rtt_variance * RTTE_K);
        self.backoff_exponent = 0;
    }

    /// Start over from `rto` with no backoff, unless the configuration's RTO is already at
    /// least that (RFC 6298 section 5.7's "if ... using an RTO less than 3 seconds").
    pub(crate) fn reinitialize(&mut self, rto: Duration) {
        self.base_rto = self.base_rto.max(rto);
        self.backoff_exponent = 0;
    }

    /// New data was acknowledged: the loss episode that backed the timer off is over, so the
    /// next one starts from the estimate, not from this one's doubled RTO. RFC 6298 resets
    /// the backoff only with a new RTT sample (section 5, after step 5.7); without timestamps
    /// Karn's rule withholds samples for as long as retransmissions are being acknowledged,
    /// which let backoff compound across episodes. Linux, with timestamps, gets a sample from
    /// every such ACK, so this matches what it does.
    pub(crate) fn end_backoff(&mut self) {
        self.backoff_exponent = 0;
    }

    /// The latest sample taken, if any.
    pub(crate) fn latest_rtt(&self) -> Option<Duration> {
        self.latest_rtt
    }

    /// The timer expired: double the RTO (section 5.5), up to the clamp.
    pub(crate) fn on_timeout(&mut self) {
        self.backoff_exponent = self.backoff_exponent.saturating_add(1);
    }

    /// The RTO to arm the timer with now: the base rounded up to the minimum (section 2.4),
    /// then doubled per expiry (section 5.5), then capped (section 2.5).
    pub(crate) fn rto(&self) -> Duration {
        backed_off(
            self.base_rto.max(self.min_rto),
            self.backoff_exponent,
            self.max_rto,
        )
    }

    /// [`rto`](Self::rto) doubled `doublings` more times, up to the same maximum: the persist
    /// timer's interval, which backs off per unanswered window probe as the retransmission
    /// timer does per expiry (RFC 9293 section 3.8.6.1, RFC 1122 section 4.2.2.17).
    pub(crate) fn rto_backed_off(&self, doublings: u32) -> Duration {
        backed_off(self.rto(), doublings, self.max_rto)
    }

    pub(crate) fn smoothed_rtt(&self) -> Option<Duration> {
        self.smoothed_rtt
    }

    pub(crate) fn rtt_variance(&self) -> Duration {
        self.rtt_variance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut rtt = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(rtt.rto(), ms(1000));
        rtt.on_sample(ms(100));
        assert_eq!(rtt.smoothed_rtt(), Some(ms(100)));
        assert_eq!(rtt.rtt_variance(), ms(50));
        // 100 + 4 * 50 = 300 ms
        assert_eq!(rtt.rto(), ms(300));
    }

    #[test]
    fn later_samples_follow_rfc6298_weights() {
        let mut rtt = RttEstimator::new(ms(1000), ms(1), ms(60_000));
        rtt.on_sample(ms(100));
        rtt.on_sample(ms(180));
        // RTTVAR = 3/4 * 50 + 1/4 * 80 = 57.5; SRTT = 7/8 * 100 + 1/8 * 180 = 110
        assert_eq!(rtt.rtt_variance(), Duration::from_micros(57_500));
        assert_eq!(rtt.smoothed_rtt(), Some(ms(110)));
        assert_eq!(rtt.rto(), ms(110 + 230));
    }

    #[test]
    fn backoff_doubles_up_to_the_clamp_and_a_sample_collapses_it() {
        let mut rtt = RttEstimator::new(ms(1000), ms(200), ms(5000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(2000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(4000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(5000));
        for _ in 0..100 {
            rtt.on_timeout();
        }
        assert_eq!(rtt.rto(), ms(5000));
        rtt.on_sample(ms(10));
        // 10 + 4 * 5 = 30 ms, clamped up to the 200 ms floor
        assert_eq!(rtt.rto(), ms(200));
        // Rounded up before doubling: the backed-off RTO is 400 ms, not 2 x 30 ms.
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(400));
    }
}
