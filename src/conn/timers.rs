//! The connection's timers: the table (one deadline per kind; the next wake-up is the
//! earliest), which handler each expiry runs, and the timers of the connection as a whole:
//! the retransmission timer's arming (RFC 6298 section 5.1), keepalives (RFC 9293 section
//! 3.8.4), TIME-WAIT (section 3.6) and the delayed ACK (RFC 5681 section 4.2). The persist
//! timer (section 3.8.6.1) is the send side's, in `send.rs`; the loss probe, the
//! retransmission timeout and RACK's reordering timer are loss recovery's, in `recovery.rs`.

use super::state::{ConnectionError, State};
use super::{Connection, Reason};
use crate::time::Instant;

/// Every timer a connection runs (and the trace names, `trace.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
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

pub(super) const TIMER_COUNT: usize = 7;

impl Timer {
    /// Its name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            Timer::LossProbe => "loss_probe",
            Timer::Retransmit => "retransmission",
            Timer::Reordering => "rack_reordering",
            Timer::DelayedAck => "delayed_ack",
            Timer::Persist => "persist",
            Timer::Keepalive => "keepalive",
            Timer::TimeWait => "time_wait",
        }
    }

    /// Every timer.
    pub const ALL: [Timer; TIMER_COUNT] = [
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

impl Connection {
    /// One timer is due: the expiry handlers below, and those of loss recovery (the loss
    /// probe, the retransmission timeout and RACK's reordering window, in `recovery.rs`).
    pub(super) fn on_timer_expired(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::LossProbe => self.on_loss_probe_timeout(now),
            Timer::Retransmit => self.on_retransmit_timeout(now),
            Timer::Reordering => self.rack_detect_losses(now),
            Timer::DelayedAck => {
                self.receive.owe_ack(Reason::Ack);
            }
            Timer::Persist => self.on_persist_timeout(now),
            Timer::Keepalive => self.on_keepalive_timeout(now),
            Timer::TimeWait => self.close(None),
        }
    }

    /// RFC 6298 section 5.1: sending sequence space starts the timer if it is not running.
    pub(super) fn arm_retransmit_timer(&mut self, now: Instant) {
        if !self.timers.is_armed(Timer::Retransmit) {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        if let Some(interval) = self.config.keepalive_interval {
            if self.state != State::TimeWait {
                self.timers.set(Timer::Keepalive, now + interval);
            }
        }
    }

    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(interval) = self.config.keepalive_interval else {
            return;
        };
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        // While data or probes are outstanding, their own timers watch the peer.
        if self.send.flight_size() != 0 || self.timers.is_armed(Timer::Persist) {
            self.timers.set(Timer::Keepalive, now + interval);
            return;
        }
        if self.send.unanswered_probes() >= self.config.keepalive_probes {
            self.close(Some(ConnectionError::TimedOut));
            return;
        }
        self.send.queue_probe(Reason::Keepalive);
        self.timers.set(Timer::Keepalive, now + interval);
    }
}
