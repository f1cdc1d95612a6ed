//! The shaper: a link that sends so many bits per second, behind a drop-tail queue. One
//! implementation for both limits Ferry has: the simulator's `--queue`, counted in datagrams,
//! and the fault spec's `queue=`, counted in bytes ([`QueueLimit`]). A module of its own so
//! that the fault injector (`rate=`) and the link (`--rate`) both use it without depending on
//! each other; a link has one in force (see [`crate::link`]).

use std::collections::VecDeque;

use crate::time::Instant;

const NANOS_PER_S: u128 = 1_000_000_000;
const NANOS_PER_MICRO: u128 = 1_000;

/// What the shaper's queue holds before it drops (drop-tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLimit {
    /// So many datagrams, the one being sent included (the simulator's `--queue`). Each
    /// datagram's sending time is counted in whole microseconds, rounded down: the simulator's
    /// model, in which the sample captures and the recovery bench are made.
    Datagrams(usize),
    /// So many bytes not yet sent, a partly sent byte included (the fault spec's `queue=`).
    /// Sending times carry their fractions of a nanosecond over, so spacing never drifts.
    Bytes(usize),
}

/// A rate and a drop-tail queue: [`offer`](Shaper::offer) says when a datagram has left, or
/// that the queue was full. Memory: a datagram-counted queue remembers one departure per
/// datagram it holds, so at most its limit; a byte-counted one only when it is next free.
#[derive(Clone, Debug)]
pub struct Shaper {
    /// Bits per second; `None` sends at once, `Some(0)` sends nothing.
    rate_bps: Option<u64>,
    limit: QueueLimit,
    /// When the link finishes sending everything accepted so far, in nanoseconds since the
    /// epoch (finer than `Instant`)...
    free_at_nanos: u128,
    /// ...plus this many 1/rate-ths of a nanosecond.
    free_at_remainder: u128,
    /// For [`QueueLimit::Datagrams`]: when each datagram in the queue has left, oldest first.
    departures: VecDeque<Instant>,
}

impl Shaper {
    /// A shaper sending `rate_bps` bits per second (`None`: no limit; `Some(0)`: nothing)
    /// behind a queue of `limit`.
    pub fn new(rate_bps: Option<u64>, limit: QueueLimit) -> Shaper {
        Shaper {
            rate_bps,
            limit,
            free_at_nanos: 0,
            free_at_remainder: 0,
            departures: VecDeque::new(),
        }
    }

    /// A datagram of `len` bytes enters the queue at `now`: when has it been sent, or `None`
    /// if the queue is full (or the rate is zero).
    pub fn offer(&mut self, now: Instant, len: usize) -> Option<Instant> {
        if self.rate_bps == Some(0) {
            return None;
        }
        let now_nanos = u128::from(now.as_micros()) * NANOS_PER_MICRO;
        let (start, start_remainder) = if self.free_at_nanos >= now_nanos {
            (self.free_at_nanos, self.free_at_remainder)
        } else {
            (now_nanos, 0) // the link went idle
        };
        let len = len as u128;
        let bits_per_byte_nanos = 8 * NANOS_PER_S;
        match self.limit {
            QueueLimit::Datagrams(limit) => {
                while self.departures.front().is_some_and(|&done| done <= now) {
                    self.departures.pop_front();
                }
                if self.departures.len() >= limit {
                    return None;
                }
            }
            QueueLimit::Bytes(limit) => {
                let rate = self.rate_bps.map_or(0, u128::from);
                let backlog = (start - now_nanos)
                    .saturating_mul(rate)
                    .saturating_add(start_remainder)
                    .div_ceil(bits_per_byte_nanos);
                if backlog.saturating_add(len) > limit as u128 {
                    return None;
                }
            }
        }
        let (mut free, mut remainder) = match self.rate_bps {
            Some(rate) => {
                let rate = u128::from(rate);
                let send = (len * bits_per_byte_nanos).saturating_add(start_remainder);
                (start.saturating_add(send / rate), send % rate)
            }
            None => (now_nanos, 0), // no rate: it leaves as it comes
        };
        if let QueueLimit::Datagrams(_) = self.limit {
            // Whole microseconds, rounded down (see QueueLimit::Datagrams).
            free -= free % NANOS_PER_MICRO;
            remainder = 0;
        }
        self.free_at_nanos = free;
        self.free_at_remainder = remainder;
        let micros = (free + u128::from(remainder > 0)).div_ceil(NANOS_PER_MICRO);
        let departure = Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX));
        if let QueueLimit::Datagrams(_) = self.limit {
            self.departures.push_back(departure);
        }
        Some(departure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_queue_rounds_each_datagram_down_and_drops_beyond_its_limit() {
        // 1001 bytes at 10 Mbit/s take 800.8 us: 800 us each.
        let mut shaper = Shaper::new(Some(10_000_000), QueueLimit::Datagrams(3));
        let departures: Vec<_> = (0..4)
            .map(|_| shaper.offer(Instant::ZERO, 1001).map(Instant::as_micros))
            .collect();
        assert_eq!(departures, [Some(800), Some(1600), Some(2400), None]);
        // Once the first has left there is room again.
        assert_eq!(
            shaper.offer(Instant::from_micros(800), 1001),
            Some(Instant::from_micros(3200))
        );
    }

    #[test]
    fn no_rate_sends_at_once_and_zero_sends_nothing() {
        let mut shaper = Shaper::new(None, QueueLimit::Datagrams(1));
        for t in [0, 0, 5] {
            let now = Instant::from_micros(t);
            assert_eq!(shaper.offer(now, 1500), Some(now));
        }
        let mut shaper = Shaper::new(Some(0), QueueLimit::Bytes(usize::MAX));
        assert_eq!(shaper.offer(Instant::ZERO, 1), None);
    }
}
