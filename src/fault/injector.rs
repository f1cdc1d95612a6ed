//! The [`FaultInjector`]: applies a [`FaultConfig`] to datagrams one at a time, in the order the
//! [`fault` module docs](crate::fault) give, drawing randomness only from its own seeded
//! generator.

use super::config::{is_on, FaultConfig};
use super::decision::{Decision, Delivery, DropCause, FaultStats};
use super::scripted::{self, ByKind, Scripted};
use crate::shaper::{QueueLimit, Shaper};
use crate::time::Instant;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Applies a [`FaultConfig`] to datagrams one at a time. See the [module docs](crate::fault).
#[derive(Clone, Debug)]
pub struct FaultInjector {
    config: FaultConfig,
    rng: ChaCha8Rng,
    stats: FaultStats,
    /// Gilbert-Elliott state: true while Bad.
    burst_bad: bool,
    /// The `rate` link and its `queue`, counted in bytes: the link's [`Shaper`].
    shaper: Shaper,
    /// Unflipped bits left before the next flip. The gap runs on across datagrams (the bit
    /// stream is memoryless, so this is the same model) which costs one draw per flip, not one
    /// per datagram. `None` until first needed, so `flip=0` draws nothing.
    bits_to_next_flip: Option<u64>,
    /// The rules by kind: `drop-data`, `flip-syn-ack`, `drop-acks`.
    scripted: Scripted,
}

impl FaultInjector {
    /// An injector whose generator is seeded from `config.seed`.
    pub fn new(config: FaultConfig) -> FaultInjector {
        let seed = config.seed;
        FaultInjector::with_seed(config, seed)
    }

    /// An injector whose generator is seeded from `seed` instead of `config.seed` (the simulator
    /// derives one seed per link direction).
    pub fn with_seed(config: FaultConfig, seed: u64) -> FaultInjector {
        FaultInjector {
            shaper: Shaper::new(config.rate, QueueLimit::Bytes(config.rate_queue)),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: FaultStats::default(),
            burst_bad: false,
            bits_to_next_flip: None,
            scripted: Scripted::default(),
        }
    }

    /// Put `config` in force for the datagrams offered from now on, as when a link's spec is
    /// changed during a run: the generator and the counters run on (so the run stays a
    /// function of its seed), the burst channel starts in its Good state, a `rate=` shaper
    /// starts with an empty queue, and the scripted rules count the datagrams from here.
    pub fn set_config(&mut self, config: FaultConfig) {
        self.shaper = Shaper::new(config.rate, QueueLimit::Bytes(config.rate_queue));
        self.config = config;
        self.burst_bad = false;
        self.bits_to_next_flip = None;
        self.scripted = Scripted::default();
    }

    /// The configuration in force.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Counts of every decision so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// Decide the fate of one datagram offered at `now`. Returns what was done and the 0, 1 or 2
    /// datagrams that leave, each with its departure time (`>= now`); a duplicate comes second.
    #[must_use]
    pub fn apply(&mut self, now: Instant, datagram: &[u8]) -> (Decision, Vec<Delivery>) {
        let (decision, deliveries) = self.decide(now, datagram);
        self.stats.count(&decision);
        (decision, deliveries)
    }

    fn decide(&mut self, now: Instant, datagram: &[u8]) -> (Decision, Vec<Delivery>) {
        let dropped = |cause| {
            let decision = Decision {
                dropped: Some(cause),
                ..Decision::default()
            };
            (decision, Vec::new())
        };
        // `stats` counts this datagram only after the decision.
        let number = self.stats.datagrams + 1;
        if self.config.drops.contains(&number) {
            return dropped(DropCause::Scripted);
        }
        let since_epoch = now.since_epoch();
        let mut flip_syn_ack = false;
        if self.config.is_scripted_by_kind() {
            match self.scripted.by_kind(&self.config, datagram, since_epoch) {
                ByKind::Drop(cause) => return dropped(cause),
                ByKind::FlipSynAck => flip_syn_ack = true,
                ByKind::Pass => {}
            }
        }
        if self.config.outages.iter().any(|o| o.contains(since_epoch)) {
            return dropped(DropCause::Outage);
        }
        let ready_at = match self.config.rate {
            Some(_) => match self.shaper.offer(now, datagram.len()) {
                Some(at) => at,
                None => return dropped(DropCause::RateLimit),
            },
            None => now,
        };
        if let Some(ge) = self.config.burst {
            // Transition first, then lose: a burst starts on the datagram that turns it bad.
            let flip_state = if self.burst_bad {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if chance(&mut self.rng, flip_state) {
                self.burst_bad = !self.burst_bad;
            }
            if self.burst_bad && chance(&mut self.rng, ge.loss_in_bad) {
                return dropped(DropCause::BurstLoss);
            }
        }
        if chance(&mut self.rng, self.config.loss) {
            return dropped(DropCause::Loss);
        }

        let mut decision = Decision::default();
        let mut bytes = datagram.to_vec();
        if !bytes.is_empty() && chance(&mut self.rng, self.config.truncate) {
            let len = self.rng.random_range(0..bytes.len());
            bytes.truncate(len);
            decision.truncated_to = Some(len);
        }
        decision.flipped_bits = self.flip_bits(&mut bytes);
        if flip_syn_ack {
            decision.scripted_flip =
                scripted::flip_syn_ack(&self.config, &mut bytes, &mut decision.flipped_bits);
        }
        decision.duplicated = chance(&mut self.rng, self.config.duplicate);
        decision.reordered = chance(&mut self.rng, self.config.reorder);

        let mut at = ready_at + self.config.delay + self.draw_jitter();
        if decision.reordered {
            at += self.config.reorder_delay;
        }
        decision.delay = at - now;
        let mut deliveries = Vec::with_capacity(1 + usize::from(decision.duplicated));
        if decision.duplicated {
            // The copy leaves with the original or a little after it, never before.
            let copy_at = at + self.draw_jitter();
            deliveries.push(Delivery {
                at,
                bytes: bytes.clone(),
            });
            deliveries.push(Delivery { at: copy_at, bytes });
        } else {
            deliveries.push(Delivery { at, bytes });
        }
        (decision, deliveries)
    }

    /// Flips bits of `bytes` at geometrically distributed gaps; returns their indices.
    fn flip_bits(&mut self, bytes: &mut [u8]) -> Vec<usize> {
        let p = self.config.flip;
        let mut flipped = Vec::new();
        if !is_on(p) {
            return flipped;
        }
        let total_bits = bytes.len() as u64 * 8;
        let mut position = 0u64; // first bit of this datagram not yet passed
        loop {
            let gap = match self.bits_to_next_flip {
                Some(gap) => gap,
                None => geometric_gap(&mut self.rng, p),
            };
            let left = total_bits - position;
            if gap >= left {
                self.bits_to_next_flip = Some(gap - left);
                return flipped;
            }
            let bit = position + gap;
            // bit < total_bits = 8 * bytes.len(), so both conversions and the index are in range.
            let index = usize::try_from(bit).unwrap_or(usize::MAX);
            if let Some(byte) = bytes.get_mut(index / 8) {
                *byte ^= 0x80 >> (index % 8);
            }
            flipped.push(index);
            position = bit + 1;
            self.bits_to_next_flip = None;
        }
    }

    /// A jitter in `[0, jitter]` at microsecond resolution; draws nothing when jitter is zero.
    fn draw_jitter(&mut self) -> Duration {
        let max = u64::try_from(self.config.jitter.as_micros()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.rng.random_range(0..=max))
    }
}

/// True with probability `p`. Draws nothing when the answer is certain, so a knob at 0 (or 1)
/// leaves the random sequence of the other knobs untouched.
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if !is_on(p) {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random::<f64>() < p
    }
}

/// The number of unflipped bits before the next flipped one when each bit flips with
/// probability `p`: geometric, P(k) = (1-p)^k p, drawn by inverting its CDF.
fn geometric_gap(rng: &mut ChaCha8Rng, p: f64) -> u64 {
    if p >= 1.0 {
        return 0;
    }
    let u = 1.0 - rng.random::<f64>(); // in (0, 1], so ln(u) is finite
                                       // ln_1p keeps precision for the tiny p that flip rates are.
    let gap = (u.ln() / (-p).ln_1p()).floor();
    // `as` saturates huge values to u64::MAX, which simply means "no flip for a long time".
    gap as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::fixtures::{parse, run, ValidConfig, EVERYTHING};
    use crate::fault::{GilbertElliott, Outage};
    use quickcheck::QuickCheck;

    #[test]
    fn scripted_drops_take_exactly_the_named_datagrams() {
        let mut injector = FaultInjector::new(parse("drop=2,drop=5"));
        let dropped: Vec<bool> = (0..6)
            .map(|_| {
                injector
                    .apply(Instant::ZERO, b"datagram")
                    .0
                    .dropped
                    .is_some()
            })
            .collect();
        assert_eq!(dropped, [false, true, false, false, true, false]);
        assert_eq!(injector.stats().dropped_scripted, 2);
        assert_eq!(parse("drop=2,drop=5").to_string(), "drop=2,drop=5");
    }

    #[test]
    fn same_seed_same_decisions_other_seed_differs() {
        let config = parse(EVERYTHING);
        let first = run(
            &mut FaultInjector::with_seed(config.clone(), 42),
            10_000,
            200,
        );
        let again = run(
            &mut FaultInjector::with_seed(config.clone(), 42),
            10_000,
            200,
        );
        let other = run(
            &mut FaultInjector::with_seed(config.clone(), 43),
            10_000,
            200,
        );
        assert_eq!(first, again);
        assert_ne!(first, other);
        // `new` seeds from the config.
        let seeded = FaultConfig { seed: 42, ..config };
        assert_eq!(run(&mut FaultInjector::new(seeded), 10_000, 200), first);
    }

    #[test]
    fn knobs_at_zero_draw_no_random_numbers() {
        let plain = parse("loss=5%,dup=5%");
        let with_zeros = FaultConfig {
            burst: Some(GilbertElliott {
                p_good_to_bad: 0.0,
                p_bad_to_good: 0.5,
                loss_in_bad: 1.0,
            }),
            flip: 0.0,
            reorder: 0.0,
            truncate: 0.0,
            jitter: Duration::ZERO,
            ..plain.clone()
        };
        assert_eq!(
            run(&mut FaultInjector::new(plain), 10_000, 100),
            run(&mut FaultInjector::new(with_zeros), 10_000, 100)
        );
    }

    #[test]
    fn passthrough_is_identity() {
        let mut injector = FaultInjector::new(parse("seed=9"));
        for (i, (decision, out)) in run(&mut injector, 1000, 64).into_iter().enumerate() {
            let bytes: Vec<u8> = (0..64).map(|j| (i + j) as u8).collect();
            let at = Instant::from_micros(i as u64 * 100);
            assert_eq!(decision, Decision::default());
            assert_eq!(decision.to_string(), "passed");
            assert_eq!(out, vec![Delivery { at, bytes }]);
        }
        let stats = injector.stats();
        assert_eq!(
            stats,
            FaultStats {
                datagrams: 1000,
                ..FaultStats::default()
            }
        );
        let (decision, out) = injector.apply(Instant::ZERO, &[]);
        assert_eq!((decision, out.len()), (Decision::default(), 1));
    }

    /// Wide enough (about 7 standard deviations) that the fixed seed is not what keeps it green.
    fn assert_fraction(what: &str, count: u64, total: u64, p: f64) {
        let expected = total as f64 * p;
        let tolerance = 7.0 * (expected * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - expected).abs() <= tolerance,
            "{what}: {count} of {total}, expected {expected:.0} ± {tolerance:.0}"
        );
    }

    #[test]
    fn loss_dup_reorder_truncate_fractions() {
        let mut injector =
            FaultInjector::new(parse("loss=5%,dup=1%,reorder=2%,truncate=3%,seed=1"));
        let results = run(&mut injector, 100_000, 100);
        let stats = injector.stats();
        assert_fraction("loss", stats.dropped_loss, 100_000, 0.05);
        let survivors = 100_000 - stats.dropped;
        assert_fraction("dup", stats.duplicated, survivors, 0.01);
        assert_fraction("reorder", stats.reordered, survivors, 0.02);
        assert_fraction("truncate", stats.truncated, survivors, 0.03);
        for (decision, out) in &results {
            if let Some(len) = decision.truncated_to {
                assert!(len < 100);
                assert!(out.iter().all(|d| d.bytes.len() == len));
            }
            if decision.reordered {
                assert_eq!(decision.delay, Duration::from_millis(10));
            }
            if decision.duplicated {
                assert_eq!(out.len(), 2);
                assert_eq!(out[0], out[1]);
            }
        }
    }

    #[test]
    fn flip_rate_per_bit() {
        let p = 1e-4;
        let mut injector = FaultInjector::new(parse("flip=1e-4,seed=2"));
        let mut bits = 0u64;
        for (i, (decision, out)) in run(&mut injector, 100_000, 100).into_iter().enumerate() {
            let original: Vec<u8> = (0..100).map(|j| (i + j) as u8).collect();
            let mut expected = original.clone();
            for &bit in &decision.flipped_bits {
                expected[bit / 8] ^= 0x80 >> (bit % 8);
            }
            assert!(decision.flipped_bits.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(out[0].bytes, expected);
            bits += decision.flipped_bits.len() as u64;
        }
        assert_eq!(injector.stats().bits_flipped, bits);
        assert_fraction("flipped bits", bits, 100_000 * 800, p);
    }

    #[test]
    fn flip_counts_bits_from_the_msb_and_can_flip_all() {
        let mut injector = FaultInjector::new(parse("flip=100%"));
        let (decision, out) = injector.apply(Instant::ZERO, &[0x00, 0xff]);
        assert_eq!(decision.flipped_bits, (0..16).collect::<Vec<_>>());
        assert_eq!(out[0].bytes, [0xff, 0x00]);
        assert_eq!(decision.to_string(), "16 bits flipped");
    }

    #[test]
    fn gilbert_elliott_makes_bursts() {
        let mut injector = FaultInjector::new(parse("burst=1%/30%,seed=3"));
        let results = run(&mut injector, 100_000, 10);
        let mut bursts = Vec::new();
        let mut current = 0u64;
        for (decision, _) in &results {
            if decision.dropped == Some(DropCause::BurstLoss) {
                current += 1;
            } else if current > 0 {
                bursts.push(current);
                current = 0;
            }
        }
        let mean = bursts.iter().sum::<u64>() as f64 / bursts.len() as f64;
        // Burst lengths are geometric, mean 1/0.3 = 3.33, sd 2.8; ~970 bursts give a mean with
        // sd ~0.09.
        assert!((mean - 1.0 / 0.3).abs() < 0.6, "mean burst {mean}");
        // The stationary Bad share is P/(P+R) = 1/31, about 3226 of 100k. Losses come in
        // correlated runs, which widens the spread by sqrt((1+r)/(1-r)) with r = 1-P-R: sd ~130.
        let burst_losses = injector.stats().dropped_burst as f64;
        assert!(
            (burst_losses - 100_000.0 / 31.0).abs() < 900.0,
            "{burst_losses}"
        );
    }

    #[test]
    fn outage_drops_exactly_inside_the_interval() {
        let mut injector = FaultInjector::new(parse("outage=2s..3s,outage=5s..5001ms"));
        for ms in 0..6000u64 {
            let now = Instant::from_millis(ms);
            let (decision, out) = injector.apply(now, b"x");
            let inside = (2000..3000).contains(&ms) || ms == 5000;
            assert_eq!(
                decision.dropped == Some(DropCause::Outage),
                inside,
                "{ms} ms"
            );
            assert_eq!(out.is_empty(), inside);
        }
        assert_eq!(injector.stats().dropped_outage, 1001);
        let (decision, _) = injector.apply(Instant::from_micros(2_999_999), b"x");
        assert_eq!(decision.to_string(), "dropped (outage)");
        let (decision, _) = injector.apply(Instant::from_micros(1_999_999), b"x");
        assert_eq!(decision.dropped, None);
    }

    #[test]
    fn delay_jitter_and_duplicates_leave_no_earlier_than_due() {
        let mut injector = FaultInjector::new(parse("delay=20ms,jitter=5ms,dup=50%,seed=4"));
        let mut seen_jitter = false;
        for (i, (decision, out)) in run(&mut injector, 10_000, 20).into_iter().enumerate() {
            let now = Instant::from_micros(i as u64 * 100);
            assert!(decision.delay >= Duration::from_millis(20));
            assert!(decision.delay <= Duration::from_millis(25));
            assert_eq!(out[0].at, now + decision.delay);
            seen_jitter |= decision.delay > Duration::from_millis(20);
            if let [original, copy] = out.as_slice() {
                assert!(copy.at >= original.at);
                assert!(copy.at <= original.at + Duration::from_millis(5));
            }
        }
        assert!(seen_jitter);
    }

    /// Hand-built configurations can hold anything; the injector must still not panic.
    #[test]
    fn hostile_configs_do_not_panic() {
        fn prop(config: ValidConfig, loss: f64, flip: f64, rate: u64, queue: usize) -> bool {
            let mut config = config.0;
            config.loss = loss.min(0.5); // keep some datagrams flowing past loss
            config.flip = flip;
            config.rate = Some(rate % 4);
            config.rate_queue = queue;
            config.outages.push(Outage {
                start: Duration::from_secs(5),
                end: Duration::from_secs(1),
            });
            let mut injector = FaultInjector::new(config);
            for (i, now) in [0, u64::MAX, 5, u64::MAX - 1, 0].into_iter().enumerate() {
                let (_, out) = injector.apply(Instant::from_micros(now), &vec![7; i * 30]);
                if out.iter().any(|d| d.at < Instant::from_micros(now)) {
                    return false;
                }
            }
            true
        }
        QuickCheck::new()
            .tests(2000)
            .quickcheck(prop as fn(ValidConfig, f64, f64, u64, usize) -> bool);
        let nan = FaultConfig {
            loss: f64::NAN,
            flip: f64::NAN,
            duplicate: f64::INFINITY,
            reorder: -1.0,
            jitter: Duration::MAX,
            delay: Duration::MAX,
            ..FaultConfig::default()
        };
        let (decision, out) = FaultInjector::new(nan).apply(Instant::from_millis(1), b"abc");
        assert!(decision.duplicated && out.len() == 2);
        assert_eq!(out[0].at, Instant::from_micros(u64::MAX));
    }

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
