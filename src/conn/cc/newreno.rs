//! RFC 5681's congestion control: slow start, congestion avoidance by byte counting (RFC 3465)
//! and multiplicative decrease.

use super::{slow_start_increase, Ack, Controller};

/// RFC 5681's congestion control, with appropriate byte counting in congestion avoidance
/// (RFC 3465).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewReno {
    smss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance.
    bytes_acked: u32,
}

impl NewReno {
    /// A controller at the start of a connection: `initial_window` bytes and an "arbitrarily
    /// high" ssthresh (RFC 5681 section 3.1).
    pub(crate) fn new(smss: u32, initial_window: u32) -> NewReno {
        NewReno {
            smss,
            cwnd: initial_window,
            ssthresh: u32::MAX,
            bytes_acked: 0,
        }
    }

    /// RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2 * SMSS).
    fn halve(&mut self, flight_size: u32) {
        self.ssthresh = (flight_size / 2).max(2 * self.smss);
        self.bytes_acked = 0;
    }
}

impl Controller for NewReno {
    fn window(&self) -> u32 {
        self.cwnd
    }

    fn slow_start_threshold(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &Ack) {
        let acked = ack.bytes;
        if self.cwnd < self.ssthresh {
            self.cwnd = self
                .cwnd
                .saturating_add(slow_start_increase(acked, self.smss));
        } else {
            // Congestion avoidance by byte counting (RFC 5681 section 3.1, RFC 3465): one
            // SMSS more per window of data acknowledged.
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.smss);
            }
        }
    }

    fn on_loss(&mut self, flight_size: u32) {
        // RFC 5681 section 3.2 step 2 and RFC 6675 section 5 step (4.2); RFC 6582's
        // inflation by 3 SMSS on top is the connection's business.
        self.halve(flight_size);
        self.cwnd = self.ssthresh;
    }

    fn on_timeout(&mut self, flight_size: u32, repeated: bool) {
        // RFC 5681 section 3.1: ssthresh by equation (4), but only the first time the timer
        // expires for this data; cwnd to the loss window, 1 SMSS.
        if !repeated {
            self.halve(flight_size);
        }
        self.bytes_acked = 0;
        self.cwnd = self.smss;
    }

    fn undo(&mut self, window: u32, slow_start_threshold: u32) {
        self.cwnd = self.cwnd.max(window);
        self.ssthresh = self.ssthresh.max(slow_start_threshold);
    }

    fn restart_after_idle(&mut self, window: u32) {
        self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
        self.cwnd = self.cwnd.min(window);
        self.bytes_acked = 0;
    }

    fn set_segment_size(&mut self, smss: u32) {
        self.smss = smss;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::delivered;
    use super::*;

    const SMSS: u32 = 1000;

    #[test]
    fn slow_start_then_loss_then_congestion_avoidance() {
        let mut cc = NewReno::new(SMSS, 4 * SMSS);
        // Slow start: each ACK adds at most one SMSS, however much it acknowledges.
        cc.on_ack(&delivered(1000));
        assert_eq!(cc.window(), 5000);
        cc.on_ack(&delivered(2000));
        assert_eq!(cc.window(), 6000);
        cc.on_ack(&delivered(300));
        assert_eq!(cc.window(), 6300);

        // Loss with 10,000 bytes in flight: ssthresh = cwnd = 5000.
        cc.on_loss(10_000);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (5000, 5000));

        // Congestion avoidance: one SMSS per cwnd's worth of acknowledged bytes.
        for _ in 0..4 {
            cc.on_ack(&delivered(1000));
        }
        assert_eq!(cc.window(), 5000);
        cc.on_ack(&delivered(1000));
        assert_eq!(cc.window(), 6000);
        for _ in 0..5 {
            cc.on_ack(&delivered(1000));
        }
        assert_eq!(cc.window(), 6000, "6000 bytes are needed now, 5000 came");
        cc.on_ack(&delivered(1000));
        assert_eq!(cc.window(), 7000);
    }

    #[test]
    fn ssthresh_never_falls_below_two_segments() {
        let mut cc = NewReno::new(SMSS, 4 * SMSS);
        cc.on_loss(1500);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (2000, 2000));
    }

    #[test]
    fn timeout_drops_to_the_loss_window_and_slow_starts_to_ssthresh() {
        let mut cc = NewReno::new(SMSS, 4 * SMSS);
        cc.on_timeout(20_000, false);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (1000, 10_000));
        // The timer expiring again for the same data leaves ssthresh alone.
        cc.on_timeout(1000, true);
        assert_eq!((cc.window(), cc.slow_start_threshold()), (1000, 10_000));
        for _ in 0..9 {
            cc.on_ack(&delivered(1000));
        }
        assert_eq!(cc.window(), 10_000);
        cc.on_ack(&delivered(1000));
        assert_eq!(cc.window(), 10_000, "congestion avoidance from here");
    }
}
