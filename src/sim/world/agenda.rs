//! What is due when: every source of events (a control event, a link direction, a socket's
//! endpoint, a program's timer, a dropped stream's linger) books at most one time here, and
//! the clock jumps to the earliest. Rebooking replaces the old time, so a source that has
//! nothing left is simply unbooked, and no step scans every link and endpoint.
//!
//! Sources rebook far more often than they come due (a socket's deadline moves with nearly
//! every segment), so a booking costs one hash-map write and a heap push, and a replaced one
//! stays in the heap until it reaches the top, where it is seen to be stale and dropped. The
//! heap is rebuilt from the live bookings when stale ones outnumber them. The map is only ever
//! looked up by key, and the heap orders by (time, source), a total order, so the order
//! things come due never depends on hashing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::host::SocketKey;
use super::topology::LinkId;
use crate::endpoint::ConnectionHandle;
use crate::time::Instant;

/// Something that may be due. At one time, they are taken in this order (control events
/// first, so that a partition at 2 s holds for a datagram arriving at 2 s), then by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// Every booking made, earliest first, the replaced ones included.
    queue: BinaryHeap<Reverse<(Instant, Due)>>,
    /// Each source's live booking.
    booked: HashMap<Due, Instant, BuildHasherDefault<MixHasher>>,
}

/// Heap entries beyond the live bookings before the heap is rebuilt.
const STALE_SLACK: usize = 1024;

impl Agenda {
    /// Book `due` at `at`, replacing its earlier booking; `None` unbooks it.
    pub(super) fn book(&mut self, due: Due, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.booked.insert(due, at) == Some(at) {
                    return;
                }
                self.queue.push(Reverse((at, due)));
                if self.queue.len() > 2 * self.booked.len() + STALE_SLACK {
                    self.rebuild();
                }
            }
            None => {
                self.booked.remove(&due);
            }
        }
    }

    /// When `due` is booked, if it is.
    pub(super) fn booked(&self, due: Due) -> Option<Instant> {
        self.booked.get(&due).copied()
    }

    /// The earliest booked time.
    pub(super) fn next(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// The next source due by `now`, unbooked.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        self.drop_stale();
        let &Reverse((at, due)) = self.queue.peek()?;
        if at > now {
            return None;
        }
        self.queue.pop();
        self.booked.remove(&due);
        Some(due)
    }

    /// Drop the replaced bookings at the top of the heap.
    fn drop_stale(&mut self) {
        while let Some(&Reverse((at, due))) = self.queue.peek() {
            if self.booked.get(&due) == Some(&at) {
                return;
            }
            self.queue.pop();
        }
    }

    /// The heap of the live bookings alone.
    fn rebuild(&mut self) {
        let live: Vec<_> = self
            .booked
            .iter()
            .map(|(&due, &at)| Reverse((at, due)))
            .collect();
        self.queue = BinaryHeap::from(live);
    }
}

/// A cheap hash for the agenda's keys (small integers): a multiply and a rotate per word, as
/// rustc's FxHasher. Nothing depends on its values but the map's speed.
#[derive(Clone, Copy, Debug, Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }

    fn write_u8(&mut self, word: u8) {
        self.write_u64(u64::from(word));
    }

    fn write_u16(&mut self, word: u16) {
        self.write_u64(u64::from(word));
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(u64::from(word));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
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

    #[test]
    fn many_rebookings_leave_only_the_last_of_each() {
        let mut agenda = Agenda::default();
        // Each timer rebooked 1,000 times, later and later: far more replaced bookings than
        // the heap keeps before it rebuilds.
        for round in 0..1000 {
            for timer in 0..10 {
                agenda.book(Due::Timer(timer), Some(Instant::from_millis(round + timer)));
            }
        }
        agenda.book(Due::Timer(3), None);
        assert!(agenda.queue.len() <= 2 * agenda.booked.len() + STALE_SLACK);
        let order: Vec<Due> =
            std::iter::from_fn(|| agenda.pop_due(Instant::from_millis(2000))).collect();
        let expected: Vec<Due> = [0, 1, 2, 4, 5, 6, 7, 8, 9].map(Due::Timer).to_vec();
        assert_eq!(order, expected);
        assert_eq!(agenda.next(), None);
    }
}
