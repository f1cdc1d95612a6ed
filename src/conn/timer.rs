//! The connection's timers as data: one deadline per kind; the next wake-up is the earliest.

use crate::time::Instant;

/// Every timer a connection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A tail loss probe is due (RFC 8985 section 7.2). Before `Retransmit`, so that when
    /// both fall due together the probe goes and re-arms the retransmission timer.
    LossProbe,
    /// Retransmission of the oldest unacknowledged SYN, data or FIN (RFC 6298 section 5).
    Retransmit,
    /// RACK's reordering window has passed for a segment in flight (RFC 8985 section 6.3).
    Reordering,
    /// A delayed ACK is owed (RFC 5681 section 4.2).
    DelayedAck,
    /// The peer's window is zero and data waits: probe it (RFC 9293 section 3.8.6.1).
    Persist,
    /// Nothing heard for a while: check that the peer is still there (RFC 9293 section 3.8.4).
    Keepalive,
    /// TIME-WAIT ends (RFC 9293 section 3.6).
    TimeWait,
}

const TIMER_COUNT: usize = 7;

impl Timer {
    const ALL: [Timer; TIMER_COUNT] = [
        Timer::LossProbe,
        Timer::Retransmit,
        Timer::Reordering,
        Timer::DelayedAck,
        Timer::Persist,
        Timer::Keepalive,
        Timer::TimeWait,
    ];
}

/// A deadline per [`Timer`], or none when it is not armed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; TIMER_COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer as usize] = Some(deadline);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; TIMER_COUNT];
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarm and return the timers that are due at `now`, in a fixed order.
    pub(crate) fn take_expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> {
        let mut expired = [None; TIMER_COUNT];
        for timer in Timer::ALL {
            if self.get(timer).is_some_and(|deadline| deadline <= now) {
                self.stop(timer);
                expired[timer as usize] = Some(timer);
            }
        }
        expired.into_iter().flatten()
    }
}
