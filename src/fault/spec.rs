//! The spec language: a [`FaultConfig`] parsed from and printed as one line of `key=value`
//! text, and [`FaultSpecError`], what is wrong with a bad line. The keys and their values are
//! documented in docs/faults.md.

use super::config::{FaultConfig, GilbertElliott, Outage, ScriptedDrop, SegmentKind};
use crate::units::{
    self, parse_duration, parse_probability, parse_rate, parse_size, DurationText, IntervalText,
    ProbabilityText, RateText, SizeText,
};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

impl fmt::Display for FaultConfig {
    /// The canonical spec: only knobs that differ from the default, in a fixed order; `none`
    /// when nothing differs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = FaultConfig::default();
        let mut items: Vec<String> = Vec::new();
        if self.loss != 0.0 {
            items.push(format!("loss={}", ProbabilityText(self.loss)));
        }
        if let Some(ge) = self.burst {
            items.push(format!(
                "burst={}/{}",
                ProbabilityText(ge.p_good_to_bad),
                ProbabilityText(ge.p_bad_to_good)
            ));
            if ge.loss_in_bad != 1.0 {
                items.push(format!("burst-loss={}", ProbabilityText(ge.loss_in_bad)));
            }
        }
        if self.flip != 0.0 {
            items.push(format!("flip={}", ProbabilityText(self.flip)));
        }
        if self.duplicate != 0.0 {
            items.push(format!("dup={}", ProbabilityText(self.duplicate)));
        }
        if self.reorder != 0.0 {
            items.push(format!("reorder={}", ProbabilityText(self.reorder)));
        }
        if self.reorder_delay != default.reorder_delay {
            items.push(format!(
                "reorder-delay={}",
                DurationText(self.reorder_delay)
            ));
        }
        if !self.delay.is_zero() {
            items.push(format!("delay={}", DurationText(self.delay)));
        }
        if !self.jitter.is_zero() {
            items.push(format!("jitter={}", DurationText(self.jitter)));
        }
        if let Some(rate) = self.rate {
            items.push(format!("rate={}", RateText(rate)));
        }
        if self.rate_queue != default.rate_queue {
            items.push(format!("queue={}", SizeText(self.rate_queue)));
        }
        for outage in &self.outages {
            items.push(format!("outage={}", IntervalText(outage.start, outage.end)));
        }
        if self.truncate != 0.0 {
            items.push(format!("truncate={}", ProbabilityText(self.truncate)));
        }
        for number in &self.drops {
            items.push(format!("drop={number}"));
        }
        for number in &self.drop_data {
            items.push(format!("drop-data={number}"));
        }
        for drop in &self.drop_segments {
            items.push(format!("{}={}", drop.kind.key(), drop.number));
        }
        for bit in &self.flip_syn_ack {
            items.push(format!("flip-syn-ack={bit}"));
        }
        for window in &self.drop_acks {
            items.push(format!(
                "drop-acks={}",
                IntervalText(window.start, window.end)
            ));
        }
        if self.seed != 0 {
            items.push(format!("seed={}", self.seed));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}

/// Every key the spec accepts, in the order the error message lists them.
const KEYS: [&str; 22] = [
    "loss",
    "burst",
    "burst-loss",
    "flip",
    "dup",
    "reorder",
    "reorder-delay",
    "delay",
    "jitter",
    "rate",
    "queue",
    "outage",
    "truncate",
    "drop",
    "drop-data",
    "drop-syn",
    "drop-syn-ack",
    "drop-fin",
    "drop-retransmission",
    "flip-syn-ack",
    "drop-acks",
    "seed",
];

/// The keys that may be given more than once.
const REPEATING_KEYS: [&str; 9] = [
    "outage",
    "drop",
    "drop-data",
    "drop-syn",
    "drop-syn-ack",
    "drop-fin",
    "drop-retransmission",
    "flip-syn-ack",
    "drop-acks",
];

/// What an item without `=` should have looked like.
const EXPECTED_KEY_VALUE: &str = "every item must be key=value, e.g. loss=5%";

fn valid_keys() -> String {
    format!("valid keys are {}", KEYS.join(", "))
}

/// A bad spec: what went wrong, naming the key, what was given, and what is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultSpecError {
    /// An item without `=`.
    MissingEquals {
        /// The whole item.
        item: String,
    },
    /// A key the spec does not have.
    UnknownKey {
        /// The key given.
        key: String,
        /// The value given for it.
        value: String,
    },
    /// A key that may be given only once, given again.
    RepeatedKey {
        /// The key given again.
        key: String,
        /// The value it was given the second time.
        value: String,
    },
    /// A value the key does not take.
    BadValue {
        /// The key.
        key: String,
        /// The value given for it.
        value: String,
        /// What the key takes, with an example.
        expected: String,
    },
    /// `burst-loss` without `burst`, whose Bad state it is the loss of.
    BurstLossWithoutBurst {
        /// The value given for `burst-loss`.
        value: String,
    },
}

impl FaultSpecError {
    /// The error for a bad value of a known key, with that key's valid range.
    fn bad_value(key: &str, value: &str) -> FaultSpecError {
        FaultSpecError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected_for(key),
        }
    }

    /// The key of the bad item (for an item without `=`, the whole item).
    pub fn key(&self) -> &str {
        match self {
            FaultSpecError::MissingEquals { item } => item,
            FaultSpecError::UnknownKey { key, .. }
            | FaultSpecError::RepeatedKey { key, .. }
            | FaultSpecError::BadValue { key, .. } => key,
            FaultSpecError::BurstLossWithoutBurst { .. } => "burst-loss",
        }
    }

    /// The value given for the key (empty for an item without `=`).
    pub fn value(&self) -> &str {
        match self {
            FaultSpecError::MissingEquals { .. } => "",
            FaultSpecError::UnknownKey { value, .. }
            | FaultSpecError::RepeatedKey { value, .. }
            | FaultSpecError::BadValue { value, .. }
            | FaultSpecError::BurstLossWithoutBurst { value } => value,
        }
    }

    /// What would have been valid.
    pub fn expected(&self) -> String {
        match self {
            FaultSpecError::MissingEquals { .. } => EXPECTED_KEY_VALUE.to_string(),
            FaultSpecError::UnknownKey { .. } => valid_keys(),
            FaultSpecError::RepeatedKey { key, .. } => format!(
                "{key} may be given only once (only {} repeat)",
                REPEATING_KEYS.join(", ")
            ),
            FaultSpecError::BadValue { expected, .. } => expected.clone(),
            FaultSpecError::BurstLossWithoutBurst { .. } => {
                "burst-loss needs burst=P/R as well (e.g. burst=1%/30%,burst-loss=50%)".to_string()
            }
        }
    }
}

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSpecError::MissingEquals { item } => write!(
                f,
                "bad fault spec: \"{item}\" has no '='; {EXPECTED_KEY_VALUE}"
            ),
            FaultSpecError::UnknownKey { key, .. } => {
                write!(f, "bad fault spec: unknown key \"{key}\"; {}", valid_keys())
            }
            _ => write!(
                f,
                "bad fault spec: {}={}: {}",
                self.key(),
                self.value(),
                self.expected()
            ),
        }
    }
}

impl std::error::Error for FaultSpecError {}

/// What is valid for each key, with an example, for error messages.
fn expected_for(key: &str) -> String {
    let probability = |what: &str, example: &str| {
        format!("{key} must be {what} from 0% to 100% (e.g. {key}={example})")
    };
    match key {
        "loss" => probability("a probability", "5% or loss=0.05"),
        "burst" => format!(
            "{key} must be P/R, the probabilities from 0% to 100% of turning bad and of \
             recovering (e.g. burst=1%/30%)"
        ),
        "burst-loss" => probability("the loss probability while bad", "50%"),
        "flip" => probability("a per-bit probability", "1e-5"),
        "dup" | "reorder" | "truncate" => probability("a probability", "1%"),
        "reorder-delay" | "delay" | "jitter" => format!(
            "{key} must be a duration with a unit: ns, us, ms or s (e.g. {key}=20ms, 1.5s or 0)"
        ),
        "outage" => format!(
            "{key} must be START..END, durations with a unit (ns, us, ms or s) since the start, \
             with START < END (e.g. outage=2s..3s)"
        ),
        "rate" => format!(
            "{key} must be a positive whole number of bits per second with a unit: bit, kbit, \
             mbit or gbit, optionally /s (e.g. rate=10mbit, 1.5Mbit/s or 56000bit)"
        ),
        "queue" => format!(
            "{key} must be a whole number of bytes, bare or with a unit: B, KB, KiB, MB, MiB, GB \
             or GiB (e.g. queue=64KiB or 1500)"
        ),
        "seed" => format!("{key} must be a whole number from 0 to {}", u64::MAX),
        "drop" => format!(
            "{key} must be the number of a datagram to drop, counting from 1 (e.g. drop=7); \
             the key repeats"
        ),
        "drop-data" => format!(
            "{key} must be the number of a data segment (a datagram with payload) to drop, \
             counting from 1 (e.g. drop-data=3); the key repeats"
        ),
        "drop-syn" | "drop-syn-ack" | "drop-fin" | "drop-retransmission" => format!(
            "{key} must be the number of the segment of its kind to drop, counting from 1 \
             (e.g. {key}=1); the key repeats"
        ),
        "flip-syn-ack" => format!(
            "{key} must be the number of a bit to flip in the first SYN-ACK, counting from 0 at \
             the most significant bit of byte 0 as Wireshark does, below {FLIP_BIT_LIMIT} \
             (e.g. flip-syn-ack=113); the key repeats"
        ),
        "drop-acks" => format!(
            "{key} must be START..END, durations with a unit (ns, us, ms or s) since the start, \
             with START < END, during which every pure ACK is dropped (e.g. drop-acks=1s..2s); \
             the key repeats"
        ),
        _ => valid_keys(),
    }
}

impl FromStr for FaultConfig {
    type Err = FaultSpecError;

    /// Parses `key=value` items separated by commas; `""` and `none` mean passthrough.
    fn from_str(spec: &str) -> Result<FaultConfig, FaultSpecError> {
        let mut config = FaultConfig::default();
        let spec = spec.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(config);
        }
        let mut seen: Vec<&str> = Vec::new();
        // burst-loss may come before burst, so it is applied once every item is read.
        let mut burst_loss: Option<(f64, &str)> = None;
        for item in spec.split(',').map(str::trim) {
            if item.is_empty() {
                continue; // tolerate "loss=5%," and doubled commas
            }
            let Some((key, value)) = item.split_once('=') else {
                return Err(FaultSpecError::MissingEquals {
                    item: item.to_string(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            let unknown = || FaultSpecError::UnknownKey {
                key: key.to_string(),
                value: value.to_string(),
            };
            if !KEYS.contains(&key) {
                return Err(unknown());
            }
            if !REPEATING_KEYS.contains(&key) && seen.contains(&key) {
                return Err(FaultSpecError::RepeatedKey {
                    key: key.to_string(),
                    value: value.to_string(),
                });
            }
            seen.push(key);
            let bad = || FaultSpecError::bad_value(key, value);
            match key {
                "loss" => config.loss = parse_probability(value).ok_or_else(bad)?,
                "burst" => {
                    let (good_to_bad, bad_to_good) = value.split_once('/').ok_or_else(bad)?;
                    config.burst = Some(GilbertElliott {
                        p_good_to_bad: parse_probability(good_to_bad.trim()).ok_or_else(bad)?,
                        p_bad_to_good: parse_probability(bad_to_good.trim()).ok_or_else(bad)?,
                        loss_in_bad: 1.0,
                    });
                }
                "burst-loss" => {
                    burst_loss = Some((parse_probability(value).ok_or_else(bad)?, value))
                }
                "flip" => config.flip = parse_probability(value).ok_or_else(bad)?,
                "dup" => config.duplicate = parse_probability(value).ok_or_else(bad)?,
                "reorder" => config.reorder = parse_probability(value).ok_or_else(bad)?,
                "reorder-delay" => config.reorder_delay = parse_duration(value).ok_or_else(bad)?,
                "delay" => config.delay = parse_duration(value).ok_or_else(bad)?,
                "jitter" => config.jitter = parse_duration(value).ok_or_else(bad)?,
                "rate" => config.rate = Some(parse_rate(value).ok_or_else(bad)?),
                "queue" => config.rate_queue = parse_size(value).ok_or_else(bad)?,
                "outage" => config.outages.push(parse_interval(value).ok_or_else(bad)?),
                "truncate" => config.truncate = parse_probability(value).ok_or_else(bad)?,
                "drop" => match value.parse::<u64>() {
                    Ok(number) if number >= 1 => config.drops.push(number),
                    _ => return Err(bad()),
                },
                "drop-data" => match value.parse::<u64>() {
                    Ok(number) if number >= 1 => config.drop_data.push(number),
                    _ => return Err(bad()),
                },
                "drop-syn" | "drop-syn-ack" | "drop-fin" | "drop-retransmission" => {
                    let kind = SegmentKind::ALL
                        .into_iter()
                        .find(|kind| kind.key() == key)
                        .ok_or_else(unknown)?;
                    match value.parse::<u64>() {
                        Ok(number) if number >= 1 => {
                            config.drop_segments.push(ScriptedDrop { kind, number })
                        }
                        _ => return Err(bad()),
                    }
                }
                "flip-syn-ack" => match value.parse::<usize>() {
                    Ok(bit) if bit < FLIP_BIT_LIMIT => config.flip_syn_ack.push(bit),
                    _ => return Err(bad()),
                },
                "drop-acks" => config
                    .drop_acks
                    .push(parse_interval(value).ok_or_else(bad)?),
                "seed" => config.seed = value.parse().map_err(|_| bad())?,
                _ => return Err(unknown()),
            }
        }
        if let Some((loss_in_bad, value)) = burst_loss {
            match &mut config.burst {
                Some(ge) => ge.loss_in_bad = loss_in_bad,
                None => {
                    return Err(FaultSpecError::BurstLossWithoutBurst {
                        value: value.to_string(),
                    })
                }
            }
        }
        Ok(config)
    }
}

/// Bits a datagram can have: the payload-length field bounds a datagram below 64 KiB plus its
/// header, so a larger bit number could never name a bit.
const FLIP_BIT_LIMIT: usize = 8 * 128 * 1024;

/// `START..END`, two durations since the start with `START < END`.
fn parse_interval(text: &str) -> Option<Outage> {
    let Range { start, end } = units::parse_interval(text)?;
    Some(Outage { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::fixtures::{parse, ValidConfig};
    use quickcheck::{Arbitrary, Gen, QuickCheck};
    use std::time::Duration;

    const DESIGN_SPEC: &str = "loss=5%,flip=1e-5,dup=1%,reorder=2%,delay=20ms,outage=2s..3s,seed=7";

    fn parse_err(spec: &str) -> FaultSpecError {
        match spec.parse::<FaultConfig>() {
            Ok(config) => panic!("{spec:?} should not parse, got {config:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn design_spec_parses_to_expected_config() {
        let expected = FaultConfig {
            loss: 0.05,
            flip: 1e-5,
            duplicate: 0.01,
            reorder: 0.02,
            delay: Duration::from_millis(20),
            outages: vec![Outage {
                start: Duration::from_secs(2),
                end: Duration::from_secs(3),
            }],
            seed: 7,
            ..FaultConfig::default()
        };
        assert_eq!(parse(DESIGN_SPEC), expected);
        assert_eq!(expected.reorder_delay, Duration::from_millis(10));
        assert_eq!(expected.to_string(), DESIGN_SPEC);
    }

    #[test]
    fn every_key_and_unit_parses() {
        let config = parse(
            " loss = 0.5% , burst=1%/30%, burst-loss=0.5, flip=1E-6, dup=0.01, reorder=2%, \
             reorder-delay=1.5s, delay=500us, jitter=250000ns, rate=1.5Mbit/s, queue=1MiB, \
             outage=0..1ms, outage=2.5s..3s, truncate=100%, seed=18446744073709551615,",
        );
        let expected = FaultConfig {
            loss: 0.005,
            burst: Some(GilbertElliott {
                p_good_to_bad: 0.01,
                p_bad_to_good: 0.3,
                loss_in_bad: 0.5,
            }),
            flip: 1e-6,
            duplicate: 0.01,
            reorder: 0.02,
            reorder_delay: Duration::from_millis(1500),
            delay: Duration::from_micros(500),
            jitter: Duration::from_micros(250),
            rate: Some(1_500_000),
            rate_queue: 1 << 20,
            outages: vec![
                Outage {
                    start: Duration::ZERO,
                    end: Duration::from_millis(1),
                },
                Outage {
                    start: Duration::from_millis(2500),
                    end: Duration::from_secs(3),
                },
            ],
            truncate: 1.0,
            seed: u64::MAX,
            ..FaultConfig::default()
        };
        assert_eq!(config, expected);
        assert_eq!(
            config.to_string(),
            "loss=0.5%,burst=1%/30%,burst-loss=50%,flip=1e-6,dup=1%,reorder=2%,\
             reorder-delay=1500ms,delay=500us,jitter=250us,rate=1500kbit,queue=1MiB,\
             outage=0..1ms,outage=2500ms..3s,truncate=100%,seed=18446744073709551615"
        );
        for (rate, bits) in [
            ("10mbit", 10_000_000),
            ("800kbit", 800_000),
            ("1gbit", 1_000_000_000),
            ("56000bit", 56_000),
            ("10Mbit/s", 10_000_000),
        ] {
            assert_eq!(parse(&format!("rate={rate}")).rate, Some(bits), "{rate}");
        }
        for (queue, bytes) in [
            ("64KiB", 65536),
            ("1500B", 1500),
            ("1500", 1500),
            ("2KB", 2000),
        ] {
            assert_eq!(
                parse(&format!("queue={queue}")).rate_queue,
                bytes,
                "{queue}"
            );
        }
    }

    #[test]
    fn empty_and_none_are_passthrough() {
        for spec in ["", "  ", "none", "NONE", " none "] {
            let config = parse(spec);
            assert_eq!(config, FaultConfig::default());
            assert!(config.is_passthrough());
        }
        assert_eq!(FaultConfig::default().to_string(), "none");
        assert!(parse("seed=3,queue=1KiB,reorder-delay=1s").is_passthrough());
        assert!(!parse("delay=1ms").is_passthrough());
        assert!(!parse("rate=1mbit").is_passthrough());
    }

    #[test]
    fn percent_and_fraction_are_the_same_number() {
        for (percent, fraction) in [("0.1%", "0.001"), ("5%", "0.05"), ("12.5%", "0.125")] {
            assert_eq!(
                parse(&format!("loss={percent}")),
                parse(&format!("loss={fraction}"))
            );
        }
    }

    #[test]
    fn bad_specs_name_the_key_and_the_valid_range() {
        let cases: [(&str, &str, &str); 20] = [
            ("lose=5%", "lose", "valid keys are loss,"),
            ("loss=150%", "loss", "from 0% to 100%"),
            ("loss=-1%", "loss", "from 0% to 100%"),
            ("loss=NaN", "loss", "from 0% to 100%"),
            ("loss=five", "loss", "from 0% to 100%"),
            ("loss5%", "loss5%", "key=value"),
            ("delay=20", "delay", "ns, us, ms or s"),
            ("delay=20 minutes", "delay", "ns, us, ms or s"),
            ("jitter=-5ms", "jitter", "ns, us, ms or s"),
            ("outage=3s..2s", "outage", "START < END"),
            ("outage=2s..2s", "outage", "START < END"),
            ("outage=2s", "outage", "START..END"),
            ("loss=1%,loss=2%", "loss", "only once"),
            ("rate=0mbit", "rate", "positive"),
            ("rate=10", "rate", "bit, kbit, mbit or gbit"),
            ("rate=0.5bit", "rate", "whole number"),
            ("queue=1.5B", "queue", "whole number of bytes"),
            ("burst=1%", "burst", "P/R"),
            ("burst-loss=50%", "burst-loss", "needs burst"),
            ("seed=-1", "seed", "whole number"),
        ];
        for (spec, key, expected) in cases {
            let e = parse_err(spec);
            assert_eq!(e.key(), key, "{spec}");
            assert!(e.expected().contains(expected), "{spec}: {e}");
            assert!(e.to_string().starts_with("bad fault spec: "), "{spec}: {e}");
        }
        assert_eq!(
            parse_err("loss=150%").to_string(),
            "bad fault spec: loss=150%: loss must be a probability from 0% to 100% \
             (e.g. loss=5% or loss=0.05)"
        );
        assert_eq!(
            parse_err("lose=5%").to_string(),
            "bad fault spec: unknown key \"lose\"; valid keys are loss, burst, burst-loss, flip, \
                          dup, reorder, reorder-delay, delay, jitter, rate, queue, outage, truncate, drop, \
             drop-data, drop-syn, drop-syn-ack, drop-fin, drop-retransmission, flip-syn-ack, \
             drop-acks, seed"
        );
        assert_eq!(
            parse_err("loss=1%,drop").to_string(),
            "bad fault spec: \"drop\" has no '='; every item must be key=value, e.g. loss=5%"
        );
        // Outage and drop are the keys that repeat.
        assert_eq!(parse("outage=1s..2s,outage=3s..4s").outages.len(), 2);
        assert_eq!(parse("drop=3,drop=9").drops, vec![3, 9]);
        assert_eq!(parse_err("drop=0").key(), "drop");
    }

    #[test]
    fn errors_say_what_went_wrong() {
        assert_eq!(
            parse_err("loss5%"),
            FaultSpecError::MissingEquals {
                item: "loss5%".to_string()
            }
        );
        assert!(matches!(
            parse_err("lose=5%"),
            FaultSpecError::UnknownKey { .. }
        ));
        assert!(matches!(
            parse_err("loss=1%,loss=2%"),
            FaultSpecError::RepeatedKey { .. }
        ));
        assert!(matches!(
            parse_err("loss=150%"),
            FaultSpecError::BadValue { .. }
        ));
        assert_eq!(
            parse_err("burst-loss=50%"),
            FaultSpecError::BurstLossWithoutBurst {
                value: "50%".to_string()
            }
        );
        assert_eq!(
            parse_err("loss=1%,loss=2%").to_string(),
            "bad fault spec: loss=2%: loss may be given only once (only outage, drop, drop-data, \
             drop-syn, drop-syn-ack, drop-fin, drop-retransmission, flip-syn-ack, drop-acks \
             repeat)"
        );
    }

    #[test]
    fn scripted_rules_by_kind_parse_print_and_reject_bad_values() {
        let config = parse("drop-data=3,drop-data=7,flip-syn-ack=113,drop-acks=1s..2s,seed=1");
        assert_eq!(config.drop_data, [3, 7]);
        assert_eq!(config.flip_syn_ack, [113]);
        assert_eq!(
            config.drop_acks,
            [Outage {
                start: Duration::from_secs(1),
                end: Duration::from_secs(2),
            }]
        );
        assert!(!config.is_passthrough());
        assert_eq!(
            config.to_string(),
            "drop-data=3,drop-data=7,flip-syn-ack=113,drop-acks=1s..2s,seed=1"
        );
        for (spec, expected) in [
            ("drop-data=0", "counting from 1"),
            ("drop-data=third", "counting from 1"),
            ("flip-syn-ack=-1", "most significant bit"),
            ("flip-syn-ack=99999999", "below 1048576"),
            ("drop-acks=2s..1s", "START < END"),
            ("drop-acks=1s", "START..END"),
            ("drop-acks=1..2", "unit"),
        ] {
            let e = parse_err(spec);
            assert_eq!(Some(e.key()), spec.split('=').next(), "{spec}");
            assert!(e.expected().contains(expected), "{spec}: {e}");
        }
        assert_eq!(
            parse_err("drop-data=0").to_string(),
            "bad fault spec: drop-data=0: drop-data must be the number of a data segment \
             (a datagram with payload) to drop, counting from 1 (e.g. drop-data=3); the key \
             repeats"
        );
        // These repeat; the others still may not.
        assert_eq!(parse("flip-syn-ack=1,flip-syn-ack=9").flip_syn_ack, [1, 9]);
        assert_eq!(
            parse("drop-acks=1s..2s,drop-acks=3s..4s").drop_acks.len(),
            2
        );
        assert!(parse_err("seed=1,seed=2").expected().contains("drop-acks"));
    }

    #[test]
    fn display_round_trips() {
        fn prop(config: ValidConfig) -> bool {
            let text = config.0.to_string();
            text.parse::<FaultConfig>() == Ok(config.0)
        }
        QuickCheck::new()
            .tests(3000)
            .quickcheck(prop as fn(ValidConfig) -> bool);
    }

    /// Text made of spec-like pieces, to reach deep into the parser.
    #[derive(Clone, Debug)]
    struct SpecLike(String);

    impl Arbitrary for SpecLike {
        fn arbitrary(g: &mut Gen) -> SpecLike {
            // Every key, then fragments of values and separators.
            let fragments = [
                "none",
                "=",
                ",",
                "..",
                "/",
                "%",
                ".",
                "e",
                "-",
                "1",
                "0",
                "99999999999999999999999",
                "5",
                "ms",
                "s",
                "us",
                "ns",
                "µs",
                "bit",
                "kbit",
                "mbit",
                "/s",
                "KiB",
                "B",
                "GiB",
                " ",
                "é",
                "\u{0}",
                "1e308",
                "inf",
                "NaN",
            ];
            let pieces: Vec<&str> = KEYS.iter().copied().chain(fragments).collect();
            let len = usize::arbitrary(g) % 24;
            let text = (0..len)
                .map(|_| *g.choose(&pieces).unwrap_or(&""))
                .collect();
            SpecLike(text)
        }
    }

    #[test]
    fn parser_never_panics_and_errors_name_a_key() {
        fn check(text: &str) -> bool {
            match text.parse::<FaultConfig>() {
                // Whatever parses prints to something that parses to the same thing.
                Ok(config) => config.to_string().parse::<FaultConfig>() == Ok(config),
                // A known key's bad value is met with what that key accepts.
                Err(e) => {
                    let about_key = KEYS.contains(&e.key()) && e.expected() != EXPECTED_KEY_VALUE;
                    (!about_key || e.expected().contains(e.key()))
                        && e.to_string().contains(&e.expected())
                }
            }
        }
        fn arbitrary_text(text: String) -> bool {
            check(&text)
        }
        fn spec_like(text: SpecLike) -> bool {
            check(&text.0)
        }
        QuickCheck::new()
            .tests(3000)
            .quickcheck(arbitrary_text as fn(String) -> bool);
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(spec_like as fn(SpecLike) -> bool);
    }
}
