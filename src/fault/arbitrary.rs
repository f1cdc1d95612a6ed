//! quickcheck's [`Arbitrary`] for [`FaultConfig`] (the `quickcheck` feature, which `sim`
//! includes): a property can take a fault spec as an argument, and a failing one shrinks to
//! the fewest and mildest faults that still fail it.
//!
//! Generated specs describe a link that is bad but still works, so that a program with
//! sensible retries can be expected to get through: each knob is on now and then, with values
//! of the size real paths show (at most 30% loss, short bursts, bit flips from 1e-7 to 1e-4 per
//! bit, at most 10% duplication and 20% reordering, delays of tens of milliseconds, a rate of
//! 1 to 100 Mbit/s, outages of at most 2 s in the first 10 s, a few scripted drops). Values
//! lie on round grids (hundredths of a percent, whole milliseconds), so a spec prints short.
//!
//! Shrinking works on the typed configuration, never on the text, so every candidate is a
//! valid spec: it turns one knob off at a time (the burst channel as a whole: `burst-loss`
//! never outlives `burst`), drops one outage, scripted drop or ACK window at a time, then
//! halves what is left on its grid (probabilities, delays, outage lengths). Each candidate is
//! strictly simpler, so shrinking ends.

use std::time::Duration;

use quickcheck::{Arbitrary, Gen};

use super::config::{FaultConfig, GilbertElliott, Outage};

/// The grid probabilities are drawn and halved on: a hundredth of a percent.
const PROBABILITY_STEP: f64 = 1e-4;

/// The grid durations are drawn and halved on.
const DURATION_STEP: Duration = Duration::from_millis(1);

/// A whole number in `[low, high]`.
fn between(g: &mut Gen, low: u64, high: u64) -> u64 {
    low + u64::arbitrary(g) % (high - low + 1)
}

/// True one time in `n`.
fn one_in(g: &mut Gen, n: u64) -> bool {
    between(g, 1, n) == 1
}

/// A probability on the grid, in `[low, high]` hundredths of a percent.
fn probability(g: &mut Gen, low: u64, high: u64) -> f64 {
    between(g, low, high) as f64 * PROBABILITY_STEP
}

/// A duration of whole milliseconds in `[low, high]`.
fn millis(g: &mut Gen, low: u64, high: u64) -> Duration {
    Duration::from_millis(between(g, low, high))
}

/// An interval starting within `starts` ms of the start and lasting `lengths` ms.
fn window(g: &mut Gen, starts: (u64, u64), lengths: (u64, u64)) -> Outage {
    let start = millis(g, starts.0, starts.1);
    Outage {
        start,
        end: start + millis(g, lengths.0, lengths.1),
    }
}

/// Half of `p` on the grid, if that is still above zero.
fn half_probability(p: f64) -> Option<f64> {
    let steps = (p / PROBABILITY_STEP).round() as u64 / 2;
    let half = steps as f64 * PROBABILITY_STEP;
    (steps > 0 && half < p).then_some(half)
}

/// Half of `d` on the grid, if that is still above zero.
fn half_duration(d: Duration) -> Option<Duration> {
    let steps = d.as_millis() / DURATION_STEP.as_millis() / 2;
    let half = DURATION_STEP * u32::try_from(steps).ok()?;
    (steps > 0 && half < d).then_some(half)
}

/// The same interval, half as long (on the grid), if it is still an interval.
fn half_window(window: Outage) -> Option<Outage> {
    let length = half_duration(window.end - window.start)?;
    Some(Outage {
        start: window.start,
        end: window.start + length,
    })
}

/// `config` without item `index` of the list `list` picks out.
fn without<T: Clone>(
    config: &FaultConfig,
    list: fn(&mut FaultConfig) -> &mut Vec<T>,
    index: usize,
) -> FaultConfig {
    let mut smaller = config.clone();
    list(&mut smaller).remove(index);
    smaller
}

impl Arbitrary for FaultConfig {
    fn arbitrary(g: &mut Gen) -> FaultConfig {
        let mut config = FaultConfig::default();
        if bool::arbitrary(g) {
            config.loss = probability(g, 1, 3000);
        }
        if one_in(g, 6) {
            config.burst = Some(GilbertElliott {
                p_good_to_bad: probability(g, 10, 500),
                p_bad_to_good: probability(g, 1000, 9000),
                loss_in_bad: match bool::arbitrary(g) {
                    true => 1.0,
                    false => probability(g, 2000, 9900),
                },
            });
        }
        if one_in(g, 4) {
            // Log-uniform from 1e-7 to 1e-4 per bit, one significant digit (read from text,
            // so that it is the number the spec `flip=3e-6` means).
            let (digit, exponent) = (between(g, 1, 9), between(g, 5, 7));
            config.flip = format!("{digit}e-{exponent}").parse().unwrap_or(0.0);
        }
        if one_in(g, 4) {
            config.duplicate = probability(g, 1, 1000);
        }
        if one_in(g, 4) {
            config.reorder = probability(g, 1, 2000);
            config.reorder_delay = millis(g, 1, 50);
        }
        if one_in(g, 4) {
            config.delay = millis(g, 1, 30);
        }
        if one_in(g, 4) {
            config.jitter = millis(g, 1, 20);
        }
        if one_in(g, 6) {
            config.rate = Some(between(g, 1, 100) * 1_000_000);
            config.rate_queue = between(g, 2, 128) as usize * 1024;
        }
        if one_in(g, 6) {
            config.outages.push(window(g, (0, 10_000), (10, 2_000)));
        }
        if one_in(g, 8) {
            config.truncate = probability(g, 1, 500);
        }
        if one_in(g, 8) {
            config.drops = (0..between(g, 1, 2)).map(|_| between(g, 1, 200)).collect();
        }
        if one_in(g, 8) {
            config.drop_data = (0..between(g, 1, 2)).map(|_| between(g, 1, 200)).collect();
        }
        if one_in(g, 10) {
            config.flip_syn_ack = vec![between(g, 0, 300) as usize];
        }
        if one_in(g, 8) {
            config.drop_acks.push(window(g, (0, 5_000), (1, 2_000)));
        }
        config.seed = between(g, 0, 999);
        config
    }

    /// Everything off first, then one knob off at a time, then one value halved at a time.
    fn shrink(&self) -> Box<dyn Iterator<Item = FaultConfig>> {
        let default = FaultConfig::default();
        let mut simpler: Vec<FaultConfig> = Vec::new();
        let mut offer = |config: FaultConfig| {
            if config != *self && !simpler.contains(&config) {
                simpler.push(config);
            }
        };
        // No fault at all, with the seed kept: the injector's draws do not change.
        offer(FaultConfig {
            seed: self.seed,
            ..FaultConfig::default()
        });
        let change = |edit: &dyn Fn(&mut FaultConfig)| {
            let mut config = self.clone();
            edit(&mut config);
            config
        };
        // One knob off at a time; the burst channel goes as a whole.
        offer(change(&|c| c.loss = default.loss));
        offer(change(&|c| c.burst = None));
        offer(change(&|c| c.flip = default.flip));
        offer(change(&|c| c.duplicate = default.duplicate));
        offer(change(&|c| c.reorder = default.reorder));
        offer(change(&|c| c.reorder_delay = default.reorder_delay));
        offer(change(&|c| c.delay = default.delay));
        offer(change(&|c| c.jitter = default.jitter));
        offer(change(&|c| c.rate = None));
        offer(change(&|c| c.rate_queue = default.rate_queue));
        offer(change(&|c| c.truncate = default.truncate));
        for index in 0..self.outages.len() {
            offer(without(self, |c| &mut c.outages, index));
        }
        for index in 0..self.drops.len() {
            offer(without(self, |c| &mut c.drops, index));
        }
        for index in 0..self.drop_data.len() {
            offer(without(self, |c| &mut c.drop_data, index));
        }
        for index in 0..self.drop_segments.len() {
            offer(without(self, |c| &mut c.drop_segments, index));
        }
        for index in 0..self.flip_syn_ack.len() {
            offer(without(self, |c| &mut c.flip_syn_ack, index));
        }
        for index in 0..self.drop_acks.len() {
            offer(without(self, |c| &mut c.drop_acks, index));
        }
        offer(change(&|c| c.seed = 0));
        // Then milder values of what is left.
        if let Some(loss) = half_probability(self.loss) {
            offer(change(&|c| c.loss = loss));
        }
        if let Some(duplicate) = half_probability(self.duplicate) {
            offer(change(&|c| c.duplicate = duplicate));
        }
        if let Some(reorder) = half_probability(self.reorder) {
            offer(change(&|c| c.reorder = reorder));
        }
        if let Some(truncate) = half_probability(self.truncate) {
            offer(change(&|c| c.truncate = truncate));
        }
        if let Some(delay) = half_duration(self.delay) {
            offer(change(&|c| c.delay = delay));
        }
        if let Some(jitter) = half_duration(self.jitter) {
            offer(change(&|c| c.jitter = jitter));
        }
        for (index, outage) in self.outages.iter().enumerate() {
            if let Some(shorter) = half_window(*outage) {
                offer(change(&|c| c.outages[index] = shorter));
            }
        }
        for (index, window) in self.drop_acks.iter().enumerate() {
            if let Some(shorter) = half_window(*window) {
                offer(change(&|c| c.drop_acks[index] = shorter));
            }
        }
        Box::new(simpler.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Configurations from a fixed generator, so that the test is the same every run.
    fn generated(count: usize) -> Vec<FaultConfig> {
        let mut g = Gen::from_size_and_seed(100, 19);
        (0..count).map(|_| FaultConfig::arbitrary(&mut g)).collect()
    }

    fn reparsed(config: &FaultConfig) -> FaultConfig {
        let spec = config.to_string();
        spec.parse()
            .unwrap_or_else(|error| panic!("{spec} does not parse: {error}"))
    }

    #[test]
    fn generated_specs_print_as_text_that_reads_back() {
        let configs = generated(500);
        for config in &configs {
            assert_eq!(&reparsed(config), config, "{config}");
        }
        // Every knob comes up.
        assert!(configs
            .iter()
            .any(|c| c.burst.is_some_and(|b| b.loss_in_bad < 1.0)));
        assert!(configs
            .iter()
            .any(|c| c.rate.is_some() && !c.outages.is_empty()));
        assert!(configs.iter().any(|c| !c.flip_syn_ack.is_empty()));
        assert!(configs.iter().any(FaultConfig::is_passthrough));
    }

    #[test]
    fn every_shrink_is_a_valid_spec_that_differs() {
        for config in generated(300) {
            for smaller in config.shrink() {
                assert_ne!(smaller, config);
                assert_eq!(reparsed(&smaller), smaller, "{config} shrank to {smaller}");
            }
        }
    }

    #[test]
    fn a_burst_shrinks_away_with_its_loss_in_the_bad_state() {
        let config: FaultConfig = "loss=2%,burst=1%/30%,burst-loss=50%".parse().unwrap();
        let shrinks: Vec<String> = config.shrink().map(|c| c.to_string()).collect();
        assert!(shrinks.contains(&"loss=2%".to_string()), "{shrinks:?}");
        assert!(
            shrinks.contains(&"burst=1%/30%,burst-loss=50%".to_string()),
            "{shrinks:?}"
        );
        assert!(shrinks.contains(&"loss=1%,burst=1%/30%,burst-loss=50%".to_string()));
    }

    #[test]
    fn shrinking_ends_at_no_faults() {
        // Always taking the last (mildest) candidate is the longest way down.
        for config in generated(100) {
            let mut current = config.clone();
            let mut steps = 0;
            while let Some(next) = current.shrink().last() {
                current = next;
                steps += 1;
                assert!(steps < 1_000, "{config} does not shrink to an end");
            }
            assert_eq!(current, FaultConfig::default(), "{config}");
        }
    }
}
