//! Congestion window validation (RFC 7661's aim, by Linux's rules): the window grows only
//! while the sender uses it, and does not let a burst out after an idle time.
//!
//! - Growth: an application that sends less than cwnd allows learns nothing of the path from
//!   its ACKs, and a window grown on them would later let out a burst the path never carried.
//!   As Linux's `tcp_is_cwnd_limited`, the window grows in slow start only while it is less
//!   than twice the most that was in flight in the latest round trip, and in congestion
//!   avoidance only if the sender was held back by cwnd in it (RFC 7661 likewise keeps a
//!   window the sender has not validated from growing).
//! - Idle: after more than an RTO with nothing in flight, the window is halved for each RTO
//!   of the idle time, down to the initial window at most (RFC 5681 section 4.1's restart
//!   window, as Linux's `tcp_cwnd_restart`), with ssthresh at least three quarters of what it
//!   was, so slow start climbs back within a few round trips instead of the whole old window
//!   leaving at once.

use super::cc::initial_window;
use super::Connection;
use crate::time::Instant;
use crate::wire::SeqNum;

/// How much of the window the sender used in the latest round trip, and when it last sent.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CwndValidation {
    /// The round trip being measured ends when snd_una reaches this (Linux's
    /// `cwnd_usage_seq`).
    round_end: Option<SeqNum>,
    /// The most in flight (pipe) after a transmission of new data in it.
    max_flight: u32,
    /// Whether cwnd held new data back in it.
    cwnd_limited: bool,
    /// When sequence space was last sent (Linux's `lsndtime`).
    last_sent: Option<Instant>,
}

impl Connection {
    /// New data goes, or waits for room in cwnd (`cwnd_limited`): note how much of the window
    /// is in use. A new round begins once snd_una has passed the last one's end; being held
    /// back, or more in flight than seen yet, counts at once (as Linux's
    /// `tcp_cwnd_validate`).
    pub(super) fn note_cwnd_usage(&mut self, cwnd_limited: bool) {
        let pipe = self.recovery.retransmission_queue().pipe();
        let cwnd_limited = cwnd_limited || pipe >= self.congestion_window();
        let round_over = self
            .cwnd_validation
            .round_end
            .is_none_or(|end| self.send.snd_una() >= end);
        let usage = &mut self.cwnd_validation;
        if round_over || cwnd_limited || (!usage.cwnd_limited && pipe > usage.max_flight) {
            usage.cwnd_limited = cwnd_limited;
            usage.max_flight = pipe;
            usage.round_end = Some(self.send.snd_nxt());
        }
    }

    /// Whether an ACK may grow the window: in slow start while cwnd is less than twice the
    /// most in flight in the latest round trip, in congestion avoidance if cwnd held data back
    /// in it.
    pub(super) fn is_cwnd_limited(&self) -> bool {
        let cwnd = self.congestion.window();
        if cwnd < self.congestion.slow_start_threshold() {
            u64::from(cwnd) < 2 * u64::from(self.cwnd_validation.max_flight)
        } else {
            self.cwnd_validation.cwnd_limited
        }
    }

    /// Sequence space is about to go at `now`: if nothing was in flight for more than an RTO,
    /// the window restarts first (RFC 5681 section 4.1).
    pub(super) fn restart_window_after_idle(&mut self, now: Instant) {
        let last_sent = self.cwnd_validation.last_sent.replace(now);
        let Some(last_sent) = last_sent.filter(|_| self.config.slow_start_after_idle) else {
            return;
        };
        let rto = self.rtt.rto();
        let idle = now - last_sent;
        if self.send.snd_una() != self.send.snd_nxt() || idle <= rto || rto.is_zero() {
            return;
        }
        let restart = initial_window(self.smss(), self.config.initial_window_segments);
        // Halved for each RTO of the idle time after the first, down to the restart window.
        let mut window = self.congestion.window();
        let mut left = idle - rto;
        while !left.is_zero() && window > restart {
            window /= 2;
            left = left.saturating_sub(rto);
        }
        self.congestion.restart_after_idle(window.max(restart));
    }
}
