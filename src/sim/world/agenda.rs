//! What is due when: every source of events (a control event, a link direction, a socket's
//! endpoint, a program's timer, a dropped stream's linger) books at most one time here, and
//! the clock jumps to the earliest. Rebooking replaces the old time, so a source that has
//! nothing left is simply unbooked, and no step scans every link and endpoint.

use std::collections::{BTreeMap, BTreeSet};

use super::host::SocketKey;
use super::topology::LinkId;
use crate::endpoint::ConnectionHandle;
use crate::time::Instant;

/// Something that may be due. At one time, they are taken in this order (control events
/// first, so that a partition at 2 s holds for a datagram arriving at 2 s), then by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Due {
    /// Scheduled control event number `n`.
    Control(usize),
    /// The next event of a link direction (a datagram reaching the queue or the far end).
    Link { link: LinkId, side: usize },
    /// A socket's endpoint timers.
    Socket(SocketKey),
    /// A program's timer.
    Timer(u64),
    /// A dropped stream's linger ran out: reset it if its close is still owed.
    Linger(SocketKey, ConnectionHandle),
}

/// The booked times.
#[derive(Debug, Default)]
pub(super) struct Agenda {
    queue: BTreeSet<(Instant, Due)>,
    booked: BTreeMap<Due, Instant>,
}

impl Agenda {
    /// Book `due` at `at`, replacing its earlier booking; `None` unbooks it.
    pub(super) fn book(&mut self, due: Due, at: Option<Instant>) {
        if self.booked.get(&due).copied() == at {
            return;
        }
        if let Some(old) = self.booked.remove(&due) {
            self.queue.remove(&(old, due));
        }
        if let Some(at) = at {
            self.booked.insert(due, at);
            self.queue.insert((at, due));
        }
    }

    /// The earliest booked time.
    pub(super) fn next(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| at)
    }

    /// The next source due by `now`, unbooked.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let &(at, due) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.remove(&(at, due));
        self.booked.remove(&due);
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebooking_replaces_and_ties_go_in_order() {
        let mut agenda = Agenda::default();
        agenda.book(Due::Timer(1), Some(Instant::from_millis(5)));
        agenda.book(Due::Timer(1), Some(Instant::from_millis(3)));
        agenda.book(Due::Control(0), Some(Instant::from_millis(3)));
        agenda.book(Due::Timer(2), Some(Instant::from_millis(9)));
        agenda.book(Due::Timer(2), None);
        assert_eq!(agenda.next(), Some(Instant::from_millis(3)));
        assert_eq!(agenda.pop_due(Instant::from_millis(2)), None);
        let now = Instant::from_millis(3);
        assert_eq!(agenda.pop_due(now), Some(Due::Control(0)));
        assert_eq!(agenda.pop_due(now), Some(Due::Timer(1)));
        assert_eq!(agenda.pop_due(now), None);
        assert_eq!(agenda.next(), None);
    }
}
