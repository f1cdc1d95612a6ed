//! What the simulators record for a ladder diagram ([`crate::ladder`]): every copy of every
//! datagram a host put on a link, what became of it, its frame in the captures, and the
//! timers that fired, as far as the hosts' segments tell. `network.rs` records the two-host
//! [`Network`](super::Network); the world's recorder is `sim/world/ladder.rs`. Both keep what
//! they record through a [`LadderKeeper`]: the window, the cap on datagrams, and the timers.
//!
//! A connection does not report its timers' expiries, so each is inferred from what its host
//! sent at a moment when one of its timers fell due ([`LadderKeeper::timer_due`]): a
//! retransmission after an RTO (`retransmission: RTO #n`) is the retransmission timer; a tail
//! loss probe, the probe timer; a window probe, the persist timer; a keepalive, the keepalive
//! timer; a pure ACK when the host received nothing at that moment, the delayed ACK timer (any
//! other pure ACK answers an arrival); a RACK retransmission when nothing arrived, RACK's
//! reordering timer. Not marked: a timer that fires and sends nothing (the end of TIME-WAIT, a
//! persist timer that finds the window open), and a delayed ACK or RACK timer that fires at
//! the very microsecond a datagram reaches the host.

mod network;

pub(super) use network::LadderRecorder;

use crate::conn::Reason;
use crate::ladder::{FiredTimer, Ladder, LadderHost, LadderOptions, SegmentSummary, TimerMark};
use crate::time::Instant;
use crate::wire::Flags;

/// The ladder a recorder builds, and what decides what goes in it: the window of time, the
/// most datagrams kept, and the timers inferred from each host's sends.
#[derive(Debug)]
pub(crate) struct LadderKeeper {
    options: LadderOptions,
    /// The ladder so far: a recorder pushes the datagrams [`admit`](Self::admit) keeps.
    pub(crate) ladder: Ladder,
    /// Datagrams kept that were sent in the window (the others are SYNs, kept for the
    /// relative numbers after them).
    kept_in_window: usize,
    /// Per host (by its line), the last moment one of its timers fell due, and the last it
    /// received a datagram.
    timer_due: Vec<Option<Instant>>,
    received: Vec<Option<Instant>>,
}

impl LadderKeeper {
    /// A keeper of a ladder of `hosts`, one line each, recording `options`'s window.
    pub(crate) fn new(hosts: Vec<LadderHost>, options: LadderOptions) -> LadderKeeper {
        let count = hosts.len();
        LadderKeeper {
            ladder: Ladder {
                hosts,
                window: options.window.clone(),
                ..Ladder::default()
            },
            options,
            kept_in_window: 0,
            timer_due: vec![None; count],
            received: vec![None; count],
        }
    }

    /// One of the timers of host `host` (its line) fell due at `now`, before the host handled
    /// it.
    pub(crate) fn timer_due(&mut self, host: usize, now: Instant) {
        if let Some(due) = self.timer_due.get_mut(host) {
            *due = Some(now);
        }
    }

    /// Host `host` received a datagram at `now`.
    pub(crate) fn received(&mut self, host: usize, now: Instant) {
        if let Some(received) = self.received.get_mut(host) {
            *received = Some(now);
        }
    }

    /// Whether to keep a datagram that host `host` sent at `now` (for `reason`, if a
    /// connection's; `segment`, if it is one) as `copies` copies: one sent in the window while
    /// there is room, and a SYN outside it (not drawn, but the relative numbers after it count
    /// from it). One sent in the window past the most kept is counted in
    /// [`Ladder::omitted`], and no timer is marked. A send in the window marks the timer that
    /// made it, if one did.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        host: usize,
        reason: Option<Reason>,
        segment: Option<&SegmentSummary>,
        copies: usize,
    ) -> bool {
        let in_window = self.options.window.contains(&now.since_epoch());
        if in_window && self.kept_in_window >= self.options.max_datagrams {
            self.ladder.omitted += copies as u64;
            return false;
        }
        if in_window {
            if let Some(reason) = reason {
                self.mark_timer(now, host, reason);
            }
            self.kept_in_window += copies;
            return true;
        }
        segment.is_some_and(|segment| segment.flags.contains(Flags::SYN))
    }

    /// The timer whose expiry made `host` send a segment for `reason` at `now`, if one did
    /// (see the module's documentation): marked once per timer and moment.
    fn mark_timer(&mut self, now: Instant, host: usize, reason: Reason) {
        let due = self.timer_due.get(host).copied().flatten() == Some(now);
        let quiet = self.received.get(host).copied().flatten() != Some(now);
        let timer = match reason {
            Reason::RtoRetransmission { timeout } if due => {
                FiredTimer::Retransmission { expiry: timeout }
            }
            Reason::TailLossProbe | Reason::TailLossProbeNewData => FiredTimer::LossProbe,
            Reason::WindowProbe => FiredTimer::Persist,
            Reason::Keepalive => FiredTimer::Keepalive,
            Reason::Ack if due && quiet => FiredTimer::DelayedAck,
            Reason::RackRetransmission if due && quiet => FiredTimer::RackReordering,
            Reason::RenegeRetransmission if due => FiredTimer::Renege,
            _ => return,
        };
        let mark = TimerMark {
            host,
            at: now.since_epoch(),
            timer,
        };
        // Marks come in time order: a repeat would be among the last ones, at the same time.
        let repeated = self
            .ladder
            .timers
            .iter()
            .rev()
            .take_while(|earlier| earlier.at == mark.at)
            .any(|earlier| *earlier == mark);
        if !repeated {
            self.ladder.timers.push(mark);
        }
    }

    /// The ladder recorded.
    pub(crate) fn finish(self) -> Ladder {
        self.ladder
    }
}
