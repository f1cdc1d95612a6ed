//! TCP timestamps (RFC 7323): the clock whose readings every segment carries as TSval, what
//! this end echoes as TSecr (TS.Recent and Last.ACK.sent, section 4.3), the RTT sample an
//! ACK's TSecr gives (RTTM, section 4), and PAWS, which drops a segment whose TSval is older
//! than TS.Recent (section 5).
//!
//! Whether the connection uses them at all is settled by the SYNs, in `negotiation.rs`: both
//! must carry the option (section 3.2). This file owns the rest: the clock ticks in
//! milliseconds (section 5.4 asks for 1 ms to 1 s) from an offset drawn per connection
//! (section 7.1), which the caller passes in with the ISN, from the same generator, so that
//! TSval says nothing of when the host started and the core draws no randomness of its own.

use std::time::Duration;

use crate::time::Instant;
use crate::wire::{SeqNum, Timestamps};

/// How long TS.Recent stays valid with nothing received that updated it: RFC 7323 section
/// 5.5's 24 days, under the 2^31 ms after which a 1 ms clock's comparisons flip. An older
/// TS.Recent judges nothing (PAWS lets the segment through, and its TSval replaces it), as
/// Linux's `TCP_PAWS_24DAYS`.
pub(super) const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 60 * 60);

/// How far, in ticks of the clock (ms), a TSval may lie below TS.Recent and still pass PAWS:
/// Linux's `TCP_PAWS_WINDOW`, so that two segments sent within a tick of each other and
/// reordered on the way are not taken for old duplicates.
const PAWS_WINDOW: u32 = 1;

/// Whether timestamp `a` is older than `b`, on the 32-bit clock that wraps: RFC 7323 section
/// 5.2's comparison, as sequence numbers compare (`(a - b) as i32 < 0`).
fn older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// One connection's timestamp clock and the peer's timestamps it keeps.
#[derive(Debug)]
pub(super) struct TimestampClock {
    /// Added to the milliseconds of `now` to make TSval: random per connection (section 7.1).
    offset: u32,
    /// TS.Recent: the peer's TSval to echo in our next ACK (section 4.3), with TS.Recent.Age,
    /// when it was taken (section 5.5). `None` until the peer's SYN brings one.
    recent: Option<(u32, Instant)>,
    /// Last.ACK.sent: the ACK field of the latest segment we sent with the ACK flag (section
    /// 4.3), so that with delayed ACKs TS.Recent holds the TSval of the earliest segment not
    /// yet acknowledged.
    last_ack_sent: SeqNum,
    /// The TSecr of the segment being processed, while it is (an ACK with the option): what
    /// an RTT sample is timed from, if the segment acknowledges new data.
    arriving_echo: Option<u32>,
}

/// What PAWS (section 5.3's R1) says of an arriving segment's TSval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Paws {
    /// Not older than TS.Recent, or nothing to judge it by: go on.
    Pass,
    /// Older than TS.Recent, which is valid: an old duplicate. Drop it, and send an ACK.
    Reject,
}

impl TimestampClock {
    /// A clock reading `offset` plus the milliseconds of the caller's time.
    pub(super) fn new(offset: u32) -> TimestampClock {
        TimestampClock {
            offset,
            recent: None,
            last_ack_sent: SeqNum(0),
            arriving_echo: None,
        }
    }

    /// TSval at `now`: milliseconds since the caller's epoch, plus the offset, modulo 2^32
    /// (section 5.4).
    pub(super) fn tsval(&self, now: Instant) -> u32 {
        // Only the low 32 bits matter: the clock wraps, as section 5.2 expects.
        self.offset.wrapping_add((now.as_micros() / 1000) as u32)
    }

    /// The option for a segment sent at `now`: TSval, and TSecr = TS.Recent if the segment
    /// carries `ack` (section 3.2: TSecr is only valid with the ACK flag; 0 otherwise). An
    /// `ack` is Last.ACK.sent from now on.
    pub(super) fn option(&mut self, now: Instant, ack: Option<SeqNum>) -> Timestamps {
        let tsecr = match ack {
            Some(ack) => {
                self.last_ack_sent = ack;
                self.recent.map_or(0, |(recent, _)| recent)
            }
            None => 0,
        };
        Timestamps {
            tsval: self.tsval(now),
            tsecr,
        }
    }

    /// The peer's SYN (or SYN-ACK) arrived at `now` carrying `option`: its TSval is the first
    /// TS.Recent, which our SYN-ACK or ACK echoes (section 3.2).
    pub(super) fn on_syn(&mut self, now: Instant, option: Timestamps) {
        self.recent = Some((option.tsval, now));
    }

    /// PAWS, section 5.3's R1: a segment whose TSval is older than TS.Recent (by more than
    /// [`PAWS_WINDOW`]) is an old duplicate, unless TS.Recent has aged past
    /// [`PAWS_IDLE_LIMIT`] (section 5.5). The
    /// caller exempts a RST, as R1 does. A pure duplicate ACK that the network reordered
    /// behind a newer segment (`reordered_ack_window`: the caller's judgement, as Linux's
    /// `tcp_disordered_ack`, with its window, one RTO) is no old duplicate if its TSval lies
    /// within that window of TS.Recent: dropped, its SACK blocks would be lost to recovery.
    pub(super) fn paws(
        &self,
        now: Instant,
        option: Timestamps,
        reordered_ack_window: Option<Duration>,
    ) -> Paws {
        let Some((recent, at)) = self.recent else {
            return Paws::Pass;
        };
        let within_a_tick = !older(option.tsval.wrapping_add(PAWS_WINDOW), recent);
        if within_a_tick || now.saturating_duration_since(at) > PAWS_IDLE_LIMIT {
            return Paws::Pass;
        }
        let behind = Duration::from_millis(u64::from(recent.wrapping_sub(option.tsval)));
        match reordered_ack_window {
            Some(window) if behind <= window => Paws::Pass,
            _ => Paws::Reject,
        }
    }

    /// An acceptable segment starting at `seq` arrived at `now` with `option`: section 4.3's
    /// (2) and section 5.3's R3. Its TSval becomes TS.Recent if it is not older and the
    /// segment starts at or before Last.ACK.sent, so that, with delayed ACKs, the echo is the
    /// earliest unacknowledged segment's and the sender's sample counts the delay; a
    /// TS.Recent aged past [`PAWS_IDLE_LIMIT`] is replaced whatever the order (section 5.5).
    pub(super) fn on_acceptable(&mut self, now: Instant, seq: SeqNum, option: Timestamps) {
        let replace = match self.recent {
            None => true,
            Some((recent, at)) => {
                !older(option.tsval, recent) || now.saturating_duration_since(at) > PAWS_IDLE_LIMIT
            }
        };
        if replace && seq <= self.last_ack_sent {
            self.recent = Some((option.tsval, now));
        }
    }

    /// A segment arrives: its TSecr, if it is an ACK with the option, is what its RTT sample
    /// will be timed from; [`end_arrival`](Self::end_arrival) forgets it.
    pub(super) fn begin_arrival(&mut self, echo: Option<u32>) {
        self.arriving_echo = echo;
    }

    /// The segment has been processed.
    pub(super) fn end_arrival(&mut self) {
        self.arriving_echo = None;
    }

    /// RTTM (section 4.1): the time since the segment whose TSval the arriving ACK echoes was
    /// sent, at `now`. `None` without an echo, for a TSecr of 0 (which Linux never sends
    /// on an ACK, and which a peer that does not echo leaves there), and for one from our
    /// future, which no segment of ours carried.
    pub(super) fn echo_sample(&self, now: Instant) -> Option<Duration> {
        let echo = self.arriving_echo.filter(|&echo| echo != 0)?;
        let now_ts = self.tsval(now);
        if older(now_ts, echo) {
            return None;
        }
        Some(Duration::from_millis(u64::from(now_ts.wrapping_sub(echo))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_milliseconds_from_the_offset_and_wraps() {
        let clock = TimestampClock::new(u32::MAX - 1);
        assert_eq!(clock.tsval(Instant::from_millis(0)), u32::MAX - 1);
        assert_eq!(clock.tsval(Instant::from_micros(1_999)), u32::MAX);
        assert_eq!(clock.tsval(Instant::from_millis(5)), 3);
    }

    #[test]
    fn older_compares_across_the_wrap() {
        assert!(older(1, 2));
        assert!(!older(2, 2));
        assert!(older(u32::MAX, 3));
        assert!(!older(3, u32::MAX));
    }

    #[test]
    fn paws_allows_a_tick_and_a_reordered_ack_an_rto() {
        let mut clock = TimestampClock::new(0);
        let at = Instant::from_millis(0);
        clock.on_syn(
            at,
            Timestamps {
                tsval: 100,
                tsecr: 0,
            },
        );
        let ts = |tsval| Timestamps { tsval, tsecr: 0 };
        assert_eq!(clock.paws(at, ts(100), None), Paws::Pass);
        assert_eq!(clock.paws(at, ts(99), None), Paws::Pass, "one tick");
        assert_eq!(clock.paws(at, ts(98), None), Paws::Reject);
        let rto = Some(Duration::from_millis(200));
        assert_eq!(clock.paws(at, ts(98), rto), Paws::Pass);
        assert_eq!(clock.paws(at, ts(u32::MAX - 150), rto), Paws::Reject);
    }

    #[test]
    fn an_echo_from_the_future_or_of_zero_gives_no_sample() {
        let mut clock = TimestampClock::new(1_000);
        clock.begin_arrival(Some(1_050));
        assert_eq!(
            clock.echo_sample(Instant::from_millis(100)),
            Some(Duration::from_millis(50))
        );
        assert_eq!(clock.echo_sample(Instant::from_millis(10)), None);
        clock.begin_arrival(Some(0));
        assert_eq!(clock.echo_sample(Instant::from_millis(100)), None);
        clock.end_arrival();
        assert_eq!(clock.echo_sample(Instant::from_millis(100)), None);
    }
}
