//! The byte-rate limiter (`rate=`, `queue=`): a link that sends so many bits per second, behind a
//! drop-tail queue counted in bytes.

use crate::time::Instant;

const NANOS_PER_S: u128 = 1_000_000_000;

/// When the link finishes sending everything accepted so far, to a fraction of a nanosecond.
#[derive(Clone, Debug, Default)]
pub(super) struct RateLimiter {
    /// When the rate-limited link finishes sending everything accepted so far, in nanoseconds
    /// since the epoch (finer than `Instant`)...
    free_at_nanos: u128,
    /// ...plus this many 1/rate-ths of a nanosecond, so that spacing never drifts by rounding.
    free_at_remainder: u128,
}

impl RateLimiter {
    /// Queues `len` bytes on a link of `rate` bits/s; returns when they have been sent, or None
    /// if the bytes already waiting plus these would exceed `queue` bytes.
    pub(super) fn offer(
        &mut self,
        now: Instant,
        len: usize,
        rate: u64,
        queue: usize,
    ) -> Option<Instant> {
        if rate == 0 {
            return None; // a link that sends nothing (only reachable by a hand-built config)
        }
        let rate = u128::from(rate);
        let bits_per_byte_nanos = 8 * NANOS_PER_S;
        let now_nanos = u128::from(now.as_micros()) * 1_000;
        let (start, start_remainder) = if self.free_at_nanos >= now_nanos {
            (self.free_at_nanos, self.free_at_remainder)
        } else {
            (now_nanos, 0) // the link went idle
        };
        // Bytes not yet sent, counting a partly sent byte as waiting.
        let backlog = (start - now_nanos)
            .saturating_mul(rate)
            .saturating_add(start_remainder)
            .div_ceil(bits_per_byte_nanos);
        let len = len as u128;
        if backlog.saturating_add(len) > queue as u128 {
            return None;
        }
        let send = (len * bits_per_byte_nanos).saturating_add(start_remainder);
        self.free_at_nanos = start.saturating_add(send / rate);
        self.free_at_remainder = send % rate;
        let partial_nanos = u128::from(self.free_at_remainder > 0);
        let micros = (self.free_at_nanos + partial_nanos).div_ceil(1_000);
        Some(Instant::from_micros(
            u64::try_from(micros).unwrap_or(u64::MAX),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::fault::fixtures::parse;
    use crate::fault::{DropCause, FaultInjector};
    use crate::time::Instant;
    use std::time::Duration;

    #[test]
    fn rate_limiter_spaces_departures_and_drops_beyond_the_queue() {
        // 1000 bytes at 8 Mbit/s take 1 ms; the queue holds ten of them.
        let mut injector = FaultInjector::new(parse("rate=8mbit,queue=10000B"));
        let packet = [0u8; 1000];
        for k in 1..=10u64 {
            let (decision, out) = injector.apply(Instant::ZERO, &packet);
            assert_eq!(out[0].at, Instant::from_millis(k));
            assert_eq!(decision.delay, Duration::from_millis(k));
        }
        let (decision, out) = injector.apply(Instant::ZERO, &packet);
        assert_eq!(decision.dropped, Some(DropCause::RateLimit));
        assert!(out.is_empty());
        // Half a packet later, half a packet's room has opened: not enough for a whole one...
        let (decision, _) = injector.apply(Instant::from_micros(500), &packet);
        assert_eq!(decision.dropped, Some(DropCause::RateLimit));
        // ...a whole packet later there is, and it leaves after the ten already queued.
        let (_, out) = injector.apply(Instant::from_millis(1), &packet);
        assert_eq!(out[0].at, Instant::from_millis(11));
        // An idle link sends at once (plus its own serialisation time).
        let (_, out) = injector.apply(Instant::from_millis(100), &packet);
        assert_eq!(out[0].at, Instant::from_millis(101));
        assert_eq!(injector.stats().dropped_rate, 2);
        assert_eq!(injector.stats().delayed, 12);
    }

    #[test]
    fn rate_limiter_keeps_exact_spacing_over_a_long_run() {
        // 1500 bytes at 7 Mbit/s is 1714.28... us: rounding must not accumulate.
        let mut injector = FaultInjector::new(parse("rate=7mbit,queue=1GiB"));
        let mut last = Instant::ZERO;
        for _ in 0..7000 {
            last = injector.apply(Instant::ZERO, &[0; 1500]).1[0].at;
        }
        assert_eq!(last, Instant::from_micros(12_000_000));
    }
}
