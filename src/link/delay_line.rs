//! The delay line: datagrams waiting for a moment, in a heap ordered by that moment and then
//! by the order they were put in, so that ties break the same way every run.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::time::Instant;

/// How many items a delay line holds at most. A datagram that finds the line full is dropped
/// by the link (counted as a queue drop). At 64 KiB datagrams this is 4 GiB in flight on one
/// link, far beyond any window Ferry opens: it bounds memory, it does not shape traffic.
pub const DELAY_LINE_CAPACITY: usize = 1 << 16;

/// Items due at given moments, earliest first, ties in the order they were pushed.
#[derive(Debug)]
pub(super) struct DelayLine<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_order: u64,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    order: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl<T> Default for DelayLine<T> {
    fn default() -> Self {
        DelayLine {
            heap: BinaryHeap::new(),
            next_order: 0,
        }
    }
}

impl<T> DelayLine<T> {
    /// Hold `item` until `at`; gives it back if the line is full.
    pub(super) fn push(&mut self, at: Instant, item: T) -> Result<(), T> {
        if self.heap.len() >= DELAY_LINE_CAPACITY {
            return Err(item);
        }
        let order = self.next_order;
        self.next_order += 1;
        self.heap.push(Reverse(Entry { at, order, item }));
        Ok(())
    }

    /// The earliest moment an item is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// The earliest item due at or before `now`, with the moment it was due.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| (entry.at, entry.item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_ties_in_push_order_and_bounded() {
        let mut line = DelayLine::default();
        for (at, item) in [(5, 'a'), (3, 'b'), (5, 'c'), (3, 'd')] {
            assert!(line.push(Instant::from_micros(at), item).is_ok());
        }
        assert_eq!(line.pop_due(Instant::from_micros(2)), None);
        let due: Vec<char> = std::iter::from_fn(|| line.pop_due(Instant::from_micros(5)))
            .map(|(_, item)| item)
            .collect();
        assert_eq!(due, ['b', 'd', 'a', 'c']);
        for _ in 0..DELAY_LINE_CAPACITY {
            assert!(line.push(Instant::ZERO, 'x').is_ok());
        }
        assert_eq!(line.push(Instant::ZERO, 'y'), Err('y'));
    }
}
