//! RACK's state (RFC 8985 section 6): the most recently sent segment known delivered, the RTT
//! it took, the reordering seen so far and the reordering window that follows from it, and a
//! windowed minimum RTT.
//!
//! RACK declares a segment lost once a segment sent after it has been delivered and more than
//! `RACK.rtt + RACK.reo_wnd` has passed since the segment was sent (section 6.2 step 5). This
//! module holds the numbers; the scan over the segments in flight is
//! [`RetransmissionQueue::rack_detect_losses`](super::retransmission::RetransmissionQueue::rack_detect_losses).

use std::time::Duration;

use super::retransmission::Delivered;
use crate::time::Instant;
use crate::wire::SeqNum;

/// RFC 8985 section 6.2 step 4: DSACK-free recoveries before the reordering window shrinks
/// back to its base.
const RACK_REO_WND_PERSIST: u32 = 16;

/// How long a minimum RTT sample stays valid: Linux's `tcp_min_rtt_wlen`, 300 s.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(300);

/// RACK's variables, named as in RFC 8985 section 6.1.
#[derive(Clone, Debug)]
pub(crate) struct Rack {
    /// `RACK.xmit_ts` and `RACK.end_seq`: the send time and end of the most recently sent
    /// segment delivered (acknowledged or SACKed).
    newest_delivered: Option<(Instant, SeqNum)>,
    /// `RACK.rtt`: the RTT of that segment.
    rtt: Duration,
    /// `RACK.fack`: the highest sequence number delivered.
    fack: Option<SeqNum>,
    /// `RACK.reordering_seen`: a segment sent once was delivered below `fack`, or a D-SACK
    /// showed a retransmission was not needed.
    reordering_seen: bool,
    /// `RACK.reo_wnd_mult`: grows by one per round trip that brought a D-SACK.
    reo_wnd_mult: u32,
    /// `RACK.reo_wnd_persist`: recoveries left before `reo_wnd_mult` goes back to 1.
    reo_wnd_persist: u32,
    /// `RACK.dsack_round`: a D-SACK in this round already widened the window. `None` once
    /// snd_una reaches it, for the reason `LossRecovery::recovery_point` is.
    dsack_round: Option<SeqNum>,
    min_rtt: WindowedMinimum,
}

impl Default for Rack {
    fn default() -> Rack {
        Rack {
            newest_delivered: None,
            rtt: Duration::ZERO,
            fack: None,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: RACK_REO_WND_PERSIST,
            dsack_round: None,
            min_rtt: WindowedMinimum::default(),
        }
    }
}

impl Rack {
    /// The send time and end of the most recently sent delivered segment, if any.
    pub(crate) fn newest_delivered(&self) -> Option<(Instant, SeqNum)> {
        self.newest_delivered
    }

    /// `RACK.rtt`.
    pub(crate) fn rtt(&self) -> Duration {
        self.rtt
    }

    /// The windowed minimum RTT, once there is a sample.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.get()
    }

    /// Feed an RTT sample that Karn's rule allows to the minimum filter.
    pub(crate) fn on_rtt_sample(&mut self, now: Instant, rtt: Duration) {
        self.min_rtt.update(now, rtt);
    }

    /// Section 6.2 steps 2 and 3: an ACK newly delivered these segments.
    pub(crate) fn on_delivered(&mut self, now: Instant, delivered: &Delivered) {
        if let Some(newest) = delivered.newest {
            let rtt = now - newest.sent_at;
            // A retransmitted segment's ACK may be for the first copy: believe it only if the
            // RTT is plausible (without timestamps, the one check step 2 leaves).
            let plausible = !newest.retransmitted || self.min_rtt().is_some_and(|min| rtt >= min);
            if plausible {
                self.rtt = rtt;
                let sent_after = self
                    .newest_delivered
                    .is_none_or(|old| sent_after((newest.sent_at, newest.end), old));
                if sent_after {
                    self.newest_delivered = Some((newest.sent_at, newest.end));
                }
            }
        }
        // Step 3: a segment sent once that is delivered below the highest delivered sequence
        // number arrived out of order.
        if let (Some(fack), Some(lowest)) = (self.fack, delivered.lowest_end_sent_once) {
            if lowest < fack {
                self.reordering_seen = true;
            }
        }
        if let Some(highest) = delivered.highest_end {
            if self.fack.is_none_or(|fack| highest > fack) {
                self.fack = Some(highest);
            }
        }
    }

    /// Section 6.2 step 4, its first half: an ACK with a D-SACK widens the reordering window,
    /// once per round trip.
    pub(crate) fn on_dsack(&mut self, snd_una: SeqNum, snd_nxt: SeqNum) {
        self.on_cumulative_ack(snd_una);
        if self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = RACK_REO_WND_PERSIST;
        }
    }

    /// A D-SACK showed one of our retransmissions was not needed: its original was only late,
    /// which is reordering too. Linux counts it so (`tcp_sacktag_one` moves its reordering
    /// mark for a D-SACKed retransmission); without it, an original overtaken by three
    /// others is called lost at once every time, since it arrives after it was resent and so
    /// never counts as a segment sent once delivered out of order.
    pub(crate) fn on_spurious_retransmission(&mut self) {
        self.reordering_seen = true;
    }

    /// snd_una moved to `snd_una`: a round that brought a D-SACK ends once it is reached. Told
    /// of every ACK, so that the round is forgotten while the two are less than a window
    /// apart: compared only at the next D-SACK, perhaps 2^31 bytes later, snd_una would read
    /// as below the round again and no D-SACK would widen the window for the next 2^31.
    pub(crate) fn on_cumulative_ack(&mut self, snd_una: SeqNum) {
        if self.dsack_round.is_some_and(|round| snd_una >= round) {
            self.dsack_round = None;
        }
    }

    /// Section 6.2 step 4: a recovery ended; after 16 without a D-SACK the window shrinks back.
    pub(crate) fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// Section 6.2 step 4: `RACK.reo_wnd`. Zero while no reordering has been seen and either a
    /// recovery is under way or enough is SACKed that the duplicate-ACK rule would already
    /// call it loss; otherwise a quarter of the minimum RTT per multiple, at most SRTT.
    pub(crate) fn reordering_window(
        &self,
        in_recovery: bool,
        beyond_dupthresh: bool,
        smoothed_rtt: Duration,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || beyond_dupthresh) {
            return Duration::ZERO;
        }
        let quarter = self.min_rtt().unwrap_or(smoothed_rtt) / 4;
        quarter.saturating_mul(self.reo_wnd_mult).min(smoothed_rtt)
    }
}

/// RFC 8985's `RACK_sent_after(t1, seq1, t2, seq2)`: whether the first segment was sent after
/// the second (by time; for the same time, by sequence number).
pub(crate) fn sent_after(first: (Instant, SeqNum), second: (Instant, SeqNum)) -> bool {
    first.0 > second.0 || (first.0 == second.0 && first.1 > second.1)
}

/// The minimum over a sliding time window, kept in constant space (K. Nichols' filter, as
/// Linux's `minmax` for `tcp_min_rtt`): the best sample, and the best of the later quarter
/// and half of the window, which take over as the best ages out.
#[derive(Clone, Debug, Default)]
struct WindowedMinimum {
    /// The best, second best and third best (time, value), each no older than the last.
    samples: [Option<(Instant, Duration)>; 3],
}

impl WindowedMinimum {
    fn get(&self) -> Option<Duration> {
        self.samples[0].map(|(_, value)| value)
    }

    fn update(&mut self, now: Instant, value: Duration) {
        let sample = (now, value);
        let age = |slot: Option<(Instant, Duration)>| {
            slot.map_or(Duration::MAX, |(at, _)| now.saturating_duration_since(at))
        };
        let value_of = |slot: Option<(Instant, Duration)>| slot.map_or(Duration::MAX, |(_, v)| v);
        if value <= value_of(self.samples[0]) || age(self.samples[2]) > MIN_RTT_WINDOW {
            // A new best, or nothing at all seen for a whole window: start over.
            self.samples = [Some(sample); 3];
            return;
        }
        if value <= value_of(self.samples[1]) {
            self.samples[1] = Some(sample);
            self.samples[2] = Some(sample);
        } else if value <= value_of(self.samples[2]) {
            self.samples[2] = Some(sample);
        }
        let same_time = |a: Option<(Instant, Duration)>, b: Option<(Instant, Duration)>| {
            a.map(|(at, _)| at) == b.map(|(at, _)| at)
        };
        if age(self.samples[0]) > MIN_RTT_WINDOW {
            // The best aged out: the others move up, this sample becomes the third.
            self.samples = [self.samples[1], self.samples[2], Some(sample)];
            if age(self.samples[0]) > MIN_RTT_WINDOW {
                self.samples = [self.samples[1], self.samples[2], Some(sample)];
            }
        } else if same_time(self.samples[1], self.samples[0])
            && age(self.samples[0]) > MIN_RTT_WINDOW / 4
        {
            // A quarter of the window without a second choice: take this one.
            self.samples[1] = Some(sample);
            self.samples[2] = Some(sample);
        } else if same_time(self.samples[2], self.samples[1])
            && age(self.samples[0]) > MIN_RTT_WINDOW / 2
        {
            self.samples[2] = Some(sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_minimum_holds_for_its_window_then_the_next_best_takes_over() {
        let mut filter = WindowedMinimum::default();
        filter.update(Instant::from_millis(0), ms(10));
        filter.update(Instant::from_millis(100_000), ms(30));
        filter.update(Instant::from_millis(200_000), ms(20));
        filter.update(Instant::from_millis(250_000), ms(25));
        assert_eq!(filter.get(), Some(ms(10)));
        // 300 s after the 10 ms sample, it is gone; 20 ms (the best since) takes over.
        filter.update(Instant::from_millis(310_000), ms(40));
        assert_eq!(filter.get(), Some(ms(20)));
        filter.update(Instant::from_millis(310_100), ms(5));
        assert_eq!(filter.get(), Some(ms(5)));
        // Nothing for a whole window: the next sample is the minimum, however large.
        filter.update(Instant::from_millis(700_000), ms(90));
        assert_eq!(filter.get(), Some(ms(90)));
    }

    #[test]
    fn the_reordering_window_is_zero_in_recovery_until_reordering_is_seen() {
        let mut rack = Rack::default();
        rack.on_rtt_sample(Instant::from_millis(0), ms(40));
        assert_eq!(rack.reordering_window(false, false, ms(50)), ms(10));
        assert_eq!(rack.reordering_window(true, false, ms(50)), Duration::ZERO);
        assert_eq!(rack.reordering_window(false, true, ms(50)), Duration::ZERO);
        rack.reordering_seen = true;
        assert_eq!(rack.reordering_window(true, true, ms(50)), ms(10));
        // A D-SACK doubles it, once per round trip; 16 recoveries without one undo that.
        rack.on_dsack(SeqNum(0), SeqNum(100));
        rack.on_dsack(SeqNum(50), SeqNum(200));
        assert_eq!(rack.reordering_window(true, true, ms(50)), ms(20));
        rack.on_dsack(SeqNum(100), SeqNum(300));
        assert_eq!(rack.reordering_window(true, true, ms(50)), ms(30));
        for _ in 0..16 {
            rack.on_recovery_exit();
        }
        assert_eq!(rack.reordering_window(true, true, ms(50)), ms(10));
        // Never beyond SRTT.
        assert_eq!(rack.reordering_window(true, true, ms(5)), ms(5));
    }

    /// The round that a D-SACK widened the window in ends when snd_una reaches it. Compared
    /// only at the next D-SACK, 2^31 to 2^32 bytes later, snd_una read as below the round
    /// still, and no D-SACK widened the window again.
    #[test]
    fn a_dsack_three_gigabytes_after_the_last_widens_the_window_again() {
        let mut rack = Rack::default();
        rack.on_rtt_sample(Instant::from_millis(0), ms(40));
        rack.on_dsack(SeqNum(0), SeqNum(100_000));
        assert_eq!(rack.reordering_window(false, false, ms(50)), ms(20));
        // 3 GiB acknowledged in steps of 64 KiB, without a D-SACK.
        let mut snd_una = SeqNum(0);
        for _ in 0..(3u32 << 30) / 65_536 {
            snd_una += 65_536;
            rack.on_cumulative_ack(snd_una);
        }
        rack.on_dsack(snd_una, snd_una + 100_000);
        assert_eq!(rack.reordering_window(false, false, ms(50)), ms(30));
    }
}
