//! What the simulator records for a ladder diagram ([`crate::ladder`]): every copy of every
//! datagram a host put on a link, what became of it, its frame in each host's capture, and
//! the timers that fired, as far as the hosts' segments tell.
//!
//! A connection does not report its timers' expiries, so each is inferred from what its host
//! sent at a moment when one of its timers fell due ([`LadderRecorder::timer_due`]): a
//! retransmission after an RTO (`retransmission: RTO #n`) is the retransmission timer; a tail
//! loss probe, the probe timer; a window probe, the persist timer; a keepalive, the keepalive
//! timer; a pure ACK when the host received nothing at that moment, the delayed ACK timer (any
//! other pure ACK answers an arrival); a RACK retransmission when nothing arrived, RACK's
//! reordering timer. Not marked: a timer that fires and sends nothing (the end of TIME-WAIT, a
//! persist timer that finds the window open), and a delayed ACK or RACK timer that fires at
//! the very microsecond a datagram reaches the host.

use std::collections::HashMap;

use super::Host;
use crate::conn::{Reason, Transmit};
use crate::ladder::{
    Datagram, Fate, FiredTimer, Ladder, LadderHost, LadderOptions, SegmentSummary, TimerMark,
};
use crate::link::Offered;
use crate::time::Instant;
use crate::wire::Flags;

/// The copies of one sent datagram still on the link.
#[derive(Debug)]
struct OnTheLink {
    /// The ladder's index of its first copy; a duplicate follows it.
    first_copy: usize,
    /// Copies whose fate is not known yet.
    unresolved: usize,
}

/// Records a [`Ladder`] of a two-host [`Network`](super::Network).
#[derive(Debug)]
pub(super) struct LadderRecorder {
    options: LadderOptions,
    ladder: Ladder,
    /// Datagrams kept that were sent in the window (the others are SYNs, kept for the
    /// relative numbers after them).
    kept_in_window: usize,
    /// The datagrams kept and still on a link, by (sending host, record number in its
    /// capture): the link's tag for it.
    on_the_link: HashMap<(usize, u64), OnTheLink>,
    /// Per host, the last moment one of its timers fell due, and the last it received a
    /// datagram.
    timer_due: [Option<Instant>; 2],
    received: [Option<Instant>; 2],
}

impl LadderRecorder {
    pub(super) fn new(options: LadderOptions) -> LadderRecorder {
        let hosts = [("A", Host::A), ("B", Host::B)]
            .map(|(name, host)| LadderHost {
                name: name.to_string(),
                address: host.address(),
            })
            .to_vec();
        LadderRecorder {
            ladder: Ladder {
                hosts,
                window: options.window.clone(),
                ..Ladder::default()
            },
            options,
            kept_in_window: 0,
            on_the_link: HashMap::new(),
            timer_due: [None; 2],
            received: [None; 2],
        }
    }

    /// One of `host`'s timers fell due at `now` (before the host handled it).
    pub(super) fn timer_due(&mut self, host: Host, now: Instant) {
        self.timer_due[host.index()] = Some(now);
    }

    /// `from` put `transmit` on its link at `now` as record `record` of its capture (frame
    /// `frame`); the link did `offered`.
    pub(super) fn sent(
        &mut self,
        now: Instant,
        from: Host,
        transmit: &Transmit,
        offered: &Offered,
        (record, frame): (u64, u64),
    ) {
        let at = now.since_epoch();
        let in_window = self.options.window.contains(&at);
        let copies = offered.copies.max(1);
        // Past the most datagrams kept, the ladder ends: they are counted, no timer is marked.
        if in_window && self.kept_in_window >= self.options.max_datagrams {
            self.ladder.omitted += copies as u64;
            return;
        }
        if in_window {
            self.mark_timer(now, from, transmit.reason);
        }
        let segment = SegmentSummary::parse(&transmit.contents);
        // A SYN outside the window is kept (not drawn) for the relative numbers after it.
        let syn = segment
            .as_ref()
            .is_some_and(|segment| segment.flags.contains(Flags::SYN));
        if !in_window && !syn {
            return;
        }
        if in_window {
            self.kept_in_window += copies;
        }
        let link = (offered.decision.dropped.is_none()
            && offered.decision != crate::fault::Decision::default())
        .then(|| offered.decision.to_string());
        let fate = if offered.copies == 0 {
            Fate::Dropped {
                at,
                cause: match offered.decision.dropped {
                    Some(cause) => format!("dropped ({cause})"),
                    // The link's delay line was full: counted as a queue drop.
                    None => "dropped (queue full)".to_string(),
                },
            }
        } else {
            Fate::InFlight
        };
        let first_copy = self.ladder.datagrams.len();
        for copy in 0..copies {
            self.ladder.datagrams.push(Datagram {
                from: from.index(),
                to: from.peer().index(),
                source: from.address(),
                destination: transmit.destination,
                sent_at: at,
                segment: segment.clone(),
                len: transmit.contents.len(),
                reason: Some(transmit.reason),
                link: link.clone(),
                duplicate: copy > 0,
                fate: fate.clone(),
                sender_frame: Some(frame),
            });
        }
        if offered.copies > 0 {
            self.on_the_link.insert(
                (from.index(), record),
                OnTheLink {
                    first_copy,
                    unresolved: offered.copies,
                },
            );
        }
    }

    /// A copy of `from`'s record `record` reached the link's queue at `now`, which dropped it
    /// if `drop_comment` says so.
    pub(super) fn queued(
        &mut self,
        now: Instant,
        from: Host,
        record: u64,
        duplicate: bool,
        drop_comment: Option<&str>,
    ) {
        let Some(cause) = drop_comment else {
            return;
        };
        let Some(index) = self.resolve(from, record, |datagram| datagram.duplicate == duplicate)
        else {
            return;
        };
        self.ladder.datagrams[index].fate = Fate::Dropped {
            at: now.since_epoch(),
            cause: cause.to_string(),
        };
    }

    /// A copy of `from`'s record `record` reached the peer at `now` as `bytes`, its record
    /// `receiver_frame` there.
    pub(super) fn delivered(
        &mut self,
        now: Instant,
        from: Host,
        record: u64,
        bytes: &[u8],
        receiver_frame: u64,
    ) {
        self.received[from.peer().index()] = Some(now);
        let Some(index) = self.resolve(from, record, |_| true) else {
            return;
        };
        self.ladder.datagrams[index].fate = Fate::Arrived {
            at: now.since_epoch(),
            // What the receiver's parser rejects (a bad CRC), it discards.
            intact: crate::wire::Segment::parse(bytes).is_ok(),
            receiver_frame: Some(receiver_frame),
        };
    }

    /// The first copy of `from`'s record `record` still in flight that `which` accepts, now
    /// resolved.
    fn resolve(
        &mut self,
        from: Host,
        record: u64,
        which: impl Fn(&Datagram) -> bool,
    ) -> Option<usize> {
        let key = (from.index(), record);
        let on_the_link = self.on_the_link.get_mut(&key)?;
        let copies =
            on_the_link.first_copy..self.ladder.datagrams.len().min(on_the_link.first_copy + 2);
        let index = copies.into_iter().find(|&index| {
            let datagram = &self.ladder.datagrams[index];
            datagram.fate == Fate::InFlight && which(datagram)
        })?;
        on_the_link.unresolved -= 1;
        if on_the_link.unresolved == 0 {
            self.on_the_link.remove(&key);
        }
        Some(index)
    }

    /// The timer whose expiry made `host` send a segment for `reason` at `now`, if one did
    /// (see the module's documentation): marked once per timer and moment.
    fn mark_timer(&mut self, now: Instant, host: Host, reason: Reason) {
        let due = self.timer_due[host.index()] == Some(now);
        let quiet = self.received[host.index()] != Some(now);
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
            host: host.index(),
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

    /// The ladder recorded: datagrams still on a link stay in flight.
    pub(super) fn finish(self) -> Ladder {
        self.ladder
    }
}
