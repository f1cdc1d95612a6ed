//! The fault injector: one configuration, one seeded RNG, the same decisions whether it wraps
//! the simulated link or a real UDP socket (design.md, "Fault injector").
//!
//! A [`FaultConfig`] is written as one line of text, the same for the CLI (`--faults`) and the
//! API:
//!
//! ```text
//! loss=5%,flip=1e-5,dup=1%,reorder=2%,delay=20ms,outage=2s..3s,seed=7
//! ```
//!
//! A [`FaultInjector`] takes one datagram at a time with the time it was offered and returns what
//! it did ([`Decision`]) and the datagrams that leave ([`Delivery`]), each with its departure
//! time. It reads no clock and draws randomness only from its own generator, so its decisions are
//! a pure function of the configuration, the seed and the sequence of calls: a run can be
//! replayed from its seed.
//!
//! Each datagram meets the faults in this order: scripted drops (`drop=N`, then `drop-data=N`
//! and `drop-acks`), outage, rate limiter, burst loss, i.i.d. loss, truncation, bit flips
//! (random, then `flip-syn-ack`), duplication, then delay, jitter and reordering. The scripted
//! rules by kind (`drop-data`, `flip-syn-ack`, `drop-acks`) are the only ones that parse the
//! datagram, to tell data segments, SYN-ACKs and pure ACKs apart; they exist so that a lab
//! capture shows exactly one phenomenon.
//!
//! ```
//! use ferry::fault::{FaultConfig, FaultInjector};
//! use ferry::time::Instant;
//!
//! let config: FaultConfig = "delay=20ms,seed=7".parse().unwrap();
//! let mut injector = FaultInjector::new(config);
//! let (decision, out) = injector.apply(Instant::from_millis(1), b"hello");
//! assert_eq!(decision.to_string(), "delayed 20 ms");
//! assert_eq!(out[0].at, Instant::from_millis(21));
//! assert_eq!(out[0].bytes, b"hello");
//! ```

use crate::time::Instant;
use crate::units::{
    self, parse_duration, parse_probability, parse_rate, parse_size, DurationText, ProbabilityText,
    RateText, SizeText,
};
use crate::wire::{Flags, Segment};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Everything the injector can do, each knob off by default. Parsed from and printed as the spec
/// text (see the [module docs](self)); `Display` prints the canonical text, which parses back to
/// an equal configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Independent drop probability per datagram, 0..=1. Key: `loss=5%`.
    pub loss: f64,
    /// Bursty loss (a Gilbert-Elliott channel). Keys: `burst=P/R`, `burst-loss=H`.
    pub burst: Option<GilbertElliott>,
    /// Probability that each bit is flipped, 0..=1. Key: `flip=1e-5`.
    pub flip: f64,
    /// Probability that a datagram is delivered twice, 0..=1. Key: `dup=1%`.
    pub duplicate: f64,
    /// Fraction of datagrams held back by `reorder_delay`, 0..=1. Key: `reorder=2%`.
    pub reorder: f64,
    /// How long a reordered datagram is held back. Key: `reorder-delay=10ms`.
    pub reorder_delay: Duration,
    /// Fixed extra delay for every datagram. Key: `delay=20ms`.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per datagram. Key: `jitter=5ms`.
    pub jitter: Duration,
    /// Rate limit in bits per second. Key: `rate=10mbit` (also `bit`, `kbit`, `gbit`, `/s`).
    pub rate: Option<u64>,
    /// Bytes that may wait for the rate limiter; a datagram that would exceed it is dropped.
    /// Key: `queue=64KiB`.
    pub rate_queue: usize,
    /// Intervals during which the link is down (the key repeats). Key: `outage=2s..3s`.
    pub outages: Vec<Outage>,
    /// Probability that a datagram is cut to a random shorter length, 0..=1. Key: `truncate=1%`.
    pub truncate: f64,
    /// Scripted drops: the datagrams offered to the injector with these numbers (the first is
    /// 1) are dropped, whatever else happens (the key repeats). Key: `drop=7`.
    pub drops: Vec<u64>,
    /// Scripted drops by kind: the data segments (datagrams that parse as a Ferry segment with
    /// payload) offered to the injector with these numbers (the first is 1) are dropped
    /// (the key repeats). Retransmissions count: they are data segments too. Key:
    /// `drop-data=3`.
    pub drop_data: Vec<u64>,
    /// Scripted flips: these bits of the first SYN-ACK offered to the injector are flipped;
    /// bit 0 is the most significant bit of byte 0, as Wireshark counts, and bits past the
    /// datagram's end are ignored (the key repeats). Key: `flip-syn-ack=113`.
    pub flip_syn_ack: Vec<usize>,
    /// Scripted ACK loss: every pure ACK (no payload; not SYN, FIN or RST) offered during these
    /// intervals is dropped (the key repeats). Key: `drop-acks=1s..2s`.
    pub drop_acks: Vec<Outage>,
    /// Seed of the injector's random generator. Key: `seed=7`.
    pub seed: u64,
}

impl FaultConfig {
    /// The default `rate_queue`: 64 KiB.
    pub const DEFAULT_RATE_QUEUE: usize = 64 * 1024;
    /// The default `reorder_delay`: 10 ms.
    pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(10);

    /// True when no knob is on, so the injector delivers every datagram unchanged at once.
    pub fn is_passthrough(&self) -> bool {
        // A burst channel that never turns bad, or loses nothing when bad, does nothing; so does
        // an outage that ends before it starts.
        let burst_on = self
            .burst
            .is_some_and(|ge| is_on(ge.p_good_to_bad) && is_on(ge.loss_in_bad));
        let any_on = is_on(self.loss)
            || burst_on
            || is_on(self.flip)
            || is_on(self.duplicate)
            || (is_on(self.reorder) && !self.reorder_delay.is_zero())
            || !self.delay.is_zero()
            || !self.jitter.is_zero()
            || self.rate.is_some()
            || self.outages.iter().any(|o| o.start < o.end)
            || is_on(self.truncate)
            || !self.drops.is_empty()
            || self.is_scripted_by_kind();
        !any_on
    }
}

impl FaultConfig {
    /// Whether a rule needs to know what kind of segment a datagram is (`drop-data`,
    /// `flip-syn-ack`, `drop-acks`): only then does the injector parse datagrams.
    fn is_scripted_by_kind(&self) -> bool {
        !self.drop_data.is_empty()
            || !self.flip_syn_ack.is_empty()
            || self
                .drop_acks
                .iter()
                .any(|window| window.start < window.end)
    }
}

impl Default for FaultConfig {
    /// Every knob off; the queue and reorder delay hold their documented defaults so that turning
    /// on `rate` or `reorder` alone does something sensible. (Written by hand because a derived
    /// `Default` would make the queue zero bytes.)
    fn default() -> FaultConfig {
        FaultConfig {
            loss: 0.0,
            burst: None,
            flip: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: FaultConfig::DEFAULT_REORDER_DELAY,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate: None,
            rate_queue: FaultConfig::DEFAULT_RATE_QUEUE,
            outages: Vec::new(),
            truncate: 0.0,
            drops: Vec::new(),
            drop_data: Vec::new(),
            flip_syn_ack: Vec::new(),
            drop_acks: Vec::new(),
            seed: 0,
        }
    }
}

/// A two-state (Good/Bad) loss channel. The state advances once per datagram; in Bad, a datagram
/// is lost with probability `loss_in_bad`. Loss bursts last `1 / p_bad_to_good` datagrams on
/// average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from Good to Bad at each datagram.
    pub p_good_to_bad: f64,
    /// Probability of moving from Bad back to Good at each datagram.
    pub p_bad_to_good: f64,
    /// Loss probability while Bad (1.0 unless `burst-loss` says otherwise).
    pub loss_in_bad: f64,
}

/// An interval `[start, end)` during which the link is down, measured since the epoch
/// ([`Instant::ZERO`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outage {
    /// When the link goes down.
    pub start: Duration,
    /// When it comes back (not included in the outage).
    pub end: Duration,
}

impl Outage {
    /// Whether the link is down at `since_epoch`.
    pub fn contains(&self, since_epoch: Duration) -> bool {
        self.start <= since_epoch && since_epoch < self.end
    }
}

// ---------------------------------------------------------------------------------------------
// Spec text: printing
// ---------------------------------------------------------------------------------------------

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
            items.push(format!(
                "outage={}..{}",
                DurationText(outage.start),
                DurationText(outage.end)
            ));
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
        for bit in &self.flip_syn_ack {
            items.push(format!("flip-syn-ack={bit}"));
        }
        for window in &self.drop_acks {
            items.push(format!(
                "drop-acks={}..{}",
                DurationText(window.start),
                DurationText(window.end)
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

// ---------------------------------------------------------------------------------------------
// Spec text: parsing
// ---------------------------------------------------------------------------------------------

/// Every key the spec accepts, in the order the error message lists them.
const KEYS: [&str; 18] = [
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
    "flip-syn-ack",
    "drop-acks",
    "seed",
];

/// The keys that may be given more than once.
const REPEATING_KEYS: [&str; 5] = ["outage", "drop", "drop-data", "flip-syn-ack", "drop-acks"];

const NANOS_PER_S: u128 = 1_000_000_000;

/// What an item without `=` should have looked like; also how `Display` recognises that error.
const EXPECTED_KEY_VALUE: &str = "every item must be key=value, e.g. loss=5%";

fn valid_keys() -> String {
    format!("valid keys are {}", KEYS.join(", "))
}

/// A bad spec: names the key, what was given, and what is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpecError {
    /// The key of the bad item (for an item without `=`, the whole item).
    pub key: String,
    /// The value given for it (empty for an item without `=`).
    pub value: String,
    /// What would have been valid.
    pub expected: String,
}

impl FaultSpecError {
    fn new(key: &str, value: &str, expected: impl Into<String>) -> FaultSpecError {
        FaultSpecError {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The error for a bad value of a known key, with that key's valid range.
    fn bad_value(key: &str, value: &str) -> FaultSpecError {
        FaultSpecError::new(key, value, expected_for(key))
    }
}

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The three shapes are told apart by `expected` so the struct stays three plain fields.
        if self.expected == EXPECTED_KEY_VALUE {
            write!(
                f,
                "bad fault spec: \"{}\" has no '='; {}",
                self.key, self.expected
            )
        } else if self.expected == valid_keys() {
            write!(
                f,
                "bad fault spec: unknown key \"{}\"; {}",
                self.key, self.expected
            )
        } else {
            write!(
                f,
                "bad fault spec: {}={}: {}",
                self.key, self.value, self.expected
            )
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
                return Err(FaultSpecError::new(item, "", EXPECTED_KEY_VALUE));
            };
            let (key, value) = (key.trim(), value.trim());
            if !KEYS.contains(&key) {
                return Err(FaultSpecError::new(key, value, valid_keys()));
            }
            if !REPEATING_KEYS.contains(&key) && seen.contains(&key) {
                return Err(FaultSpecError::new(
                    key,
                    value,
                    format!(
                        "{key} may be given only once (only {} repeat)",
                        REPEATING_KEYS.join(", ")
                    ),
                ));
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
                "flip-syn-ack" => match value.parse::<usize>() {
                    Ok(bit) if bit < FLIP_BIT_LIMIT => config.flip_syn_ack.push(bit),
                    _ => return Err(bad()),
                },
                "drop-acks" => config
                    .drop_acks
                    .push(parse_interval(value).ok_or_else(bad)?),
                "seed" => config.seed = value.parse().map_err(|_| bad())?,
                _ => return Err(FaultSpecError::new(key, value, valid_keys())),
            }
        }
        if let Some((loss_in_bad, value)) = burst_loss {
            match &mut config.burst {
                Some(ge) => ge.loss_in_bad = loss_in_bad,
                None => {
                    return Err(FaultSpecError::new(
                        "burst-loss",
                        value,
                        "burst-loss needs burst=P/R as well (e.g. burst=1%/30%,burst-loss=50%)",
                    ))
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

// ---------------------------------------------------------------------------------------------
// Decisions and statistics
// ---------------------------------------------------------------------------------------------

/// What the injector did to one datagram (for stats and packet comments in captures).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Decision {
    /// Why the datagram was dropped, if it was; nothing else happens to a dropped datagram.
    pub dropped: Option<DropCause>,
    /// Flipped bits in ascending order, as indices into the (possibly truncated) datagram; bit 0
    /// is the most significant bit of byte 0, as Wireshark counts.
    pub flipped_bits: Vec<usize>,
    /// The new length, if the datagram was truncated.
    pub truncated_to: Option<usize>,
    /// Whether a second, identical copy was sent.
    pub duplicated: bool,
    /// Whether the datagram was held back by the reorder delay.
    pub reordered: bool,
    /// Total extra delay applied: fixed delay, jitter, reorder delay and rate-limiter wait.
    pub delay: Duration,
    /// Whether a `flip-syn-ack` rule flipped bits (they are among `flipped_bits`).
    pub scripted_flip: bool,
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// Independent (`loss`) loss.
    Loss,
    /// Loss in the Bad state of the burst channel.
    BurstLoss,
    /// The link was down.
    Outage,
    /// The rate limiter's queue was full.
    RateLimit,
    /// A `drop=N` rule named this datagram.
    Scripted,
    /// A `drop-data=N` rule named this data segment: the Nth offered to the injector.
    ScriptedData(u64),
    /// A pure ACK offered during a `drop-acks` interval.
    ScriptedAck,
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropCause::Loss => "loss",
            DropCause::BurstLoss => "burst loss",
            DropCause::Outage => "outage",
            DropCause::RateLimit => "rate limit",
            DropCause::Scripted => "scripted",
            DropCause::ScriptedData(number) => {
                return write!(f, "scripted: {} data segment", Ordinal(*number))
            }
            DropCause::ScriptedAck => "scripted: pure ACK",
        })
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`: how the comments in a capture count.
struct Ordinal(u64);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match (self.0 % 10, self.0 % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{}{suffix}", self.0)
    }
}

/// Flipped bits listed one by one up to this many; beyond it only counted.
const LISTED_BITS_MAX: usize = 8;

impl fmt::Display for Decision {
    /// Short text such as `dropped (loss)`, `bits 113 and 907 flipped, delayed 12 ms` or
    /// `passed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(cause) = self.dropped {
            parts.push(format!("dropped ({cause})"));
        }
        if let Some(len) = self.truncated_to {
            parts.push(format!("truncated to {len} bytes"));
        }
        match self.flipped_bits.as_slice() {
            [] => {}
            [bit] => parts.push(format!("bit {bit} flipped")),
            [init @ .., last] if self.flipped_bits.len() <= LISTED_BITS_MAX => {
                let init: Vec<String> = init.iter().map(usize::to_string).collect();
                parts.push(format!("bits {} and {last} flipped", init.join(", ")));
            }
            bits => parts.push(format!("{} bits flipped", bits.len())),
        }
        if self.scripted_flip {
            if let Some(flipped) = parts.last_mut() {
                flipped.push_str(" (scripted: first SYN-ACK)");
            }
        }
        if self.duplicated {
            parts.push("duplicated".to_string());
        }
        if self.reordered {
            parts.push("reordered".to_string());
        }
        if !self.delay.is_zero() {
            parts.push(format!("delayed {}", Millis(self.delay)));
        }
        if parts.is_empty() {
            f.write_str("passed")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A duration as milliseconds without trailing zeros: `12 ms`, `1.25 ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        let (ms, frac) = (micros / 1000, micros % 1000);
        if frac == 0 {
            write!(f, "{ms} ms")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{ms}.{} ms", frac.trim_end_matches('0'))
        }
    }
}

/// One datagram leaving the injector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// When it leaves (never before it was offered).
    pub at: Instant,
    /// Its bytes, after any truncation and bit flips.
    pub bytes: Vec<u8>,
}

/// Counts of every decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Datagrams offered.
    pub datagrams: u64,
    /// Datagrams dropped, for any cause.
    pub dropped: u64,
    /// Dropped by independent loss.
    pub dropped_loss: u64,
    /// Dropped by burst loss.
    pub dropped_burst: u64,
    /// Dropped during an outage.
    pub dropped_outage: u64,
    /// Dropped by a `drop=N` rule.
    pub dropped_scripted: u64,
    /// Data segments dropped by a `drop-data=N` rule.
    pub dropped_scripted_data: u64,
    /// Pure ACKs dropped by a `drop-acks` rule.
    pub dropped_scripted_acks: u64,
    /// Dropped because the rate limiter's queue was full.
    pub dropped_rate: u64,
    /// Datagrams with at least one flipped bit.
    pub corrupted: u64,
    /// Datagrams whose bits a `flip-syn-ack` rule flipped (also counted in `corrupted`).
    pub corrupted_scripted: u64,
    /// Bits flipped in all.
    pub bits_flipped: u64,
    /// Datagrams delivered twice.
    pub duplicated: u64,
    /// Datagrams held back by the reorder delay.
    pub reordered: u64,
    /// Datagrams that left later than they were offered.
    pub delayed: u64,
    /// Datagrams truncated.
    pub truncated: u64,
}

impl FaultStats {
    fn count(&mut self, decision: &Decision) {
        self.datagrams += 1;
        if let Some(cause) = decision.dropped {
            self.dropped += 1;
            match cause {
                DropCause::Loss => self.dropped_loss += 1,
                DropCause::BurstLoss => self.dropped_burst += 1,
                DropCause::Outage => self.dropped_outage += 1,
                DropCause::Scripted => self.dropped_scripted += 1,
                DropCause::ScriptedData(_) => self.dropped_scripted_data += 1,
                DropCause::ScriptedAck => self.dropped_scripted_acks += 1,
                DropCause::RateLimit => self.dropped_rate += 1,
            }
        }
        if !decision.flipped_bits.is_empty() {
            self.corrupted += 1;
            self.bits_flipped += decision.flipped_bits.len() as u64;
        }
        self.corrupted_scripted += u64::from(decision.scripted_flip);
        self.duplicated += u64::from(decision.duplicated);
        self.reordered += u64::from(decision.reordered);
        self.delayed += u64::from(!decision.delay.is_zero());
        self.truncated += u64::from(decision.truncated_to.is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// The injector
// ---------------------------------------------------------------------------------------------

/// Applies a [`FaultConfig`] to datagrams one at a time. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct FaultInjector {
    config: FaultConfig,
    rng: ChaCha8Rng,
    stats: FaultStats,
    /// Gilbert-Elliott state: true while Bad.
    burst_bad: bool,
    /// When the rate-limited link finishes sending everything accepted so far, in nanoseconds
    /// since the epoch (finer than `Instant`)...
    link_free_at_nanos: u128,
    /// ...plus this many 1/rate-ths of a nanosecond, so that spacing never drifts by rounding.
    link_free_at_remainder: u128,
    /// Unflipped bits left before the next flip. The gap runs on across datagrams (the bit
    /// stream is memoryless, so this is the same model) which costs one draw per flip, not one
    /// per datagram. `None` until first needed, so `flip=0` draws nothing.
    bits_to_next_flip: Option<u64>,
    /// Data segments offered so far, for `drop-data`.
    data_segments: u64,
    /// Whether a SYN-ACK has been offered yet, for `flip-syn-ack`.
    seen_syn_ack: bool,
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
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats: FaultStats::default(),
            burst_bad: false,
            link_free_at_nanos: 0,
            link_free_at_remainder: 0,
            bits_to_next_flip: None,
            data_segments: 0,
            seen_syn_ack: false,
        }
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
            match self.scripted_by_kind(datagram, since_epoch) {
                ByKind::Drop(cause) => return dropped(cause),
                ByKind::FlipSynAck => flip_syn_ack = true,
                ByKind::Pass => {}
            }
        }
        if self.config.outages.iter().any(|o| o.contains(since_epoch)) {
            return dropped(DropCause::Outage);
        }
        let ready_at = match self.config.rate {
            Some(rate) => match self.rate_limit(now, datagram.len(), rate) {
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
                self.flip_scripted_bits(&mut bytes, &mut decision.flipped_bits);
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

    /// Applies the rules that depend on what the datagram is (a data segment, a SYN-ACK, a pure
    /// ACK). Only these parse it; every other fault treats it as bytes.
    fn scripted_by_kind(&mut self, datagram: &[u8], since_epoch: Duration) -> ByKind {
        // A datagram that does not parse (already corrupt) is none of the kinds.
        let Ok(segment) = Segment::parse(datagram) else {
            return ByKind::Pass;
        };
        if !segment.payload.is_empty() {
            self.data_segments += 1;
            if self.config.drop_data.contains(&self.data_segments) {
                return ByKind::Drop(DropCause::ScriptedData(self.data_segments));
            }
            return ByKind::Pass;
        }
        let flags = segment.flags;
        if flags.contains(Flags::SYN | Flags::ACK) && !self.seen_syn_ack {
            self.seen_syn_ack = true;
            if !self.config.flip_syn_ack.is_empty() {
                return ByKind::FlipSynAck;
            }
        }
        let pure_ack =
            flags.contains(Flags::ACK) && !flags.intersects(Flags::SYN | Flags::FIN | Flags::RST);
        if pure_ack
            && self
                .config
                .drop_acks
                .iter()
                .any(|w| w.contains(since_epoch))
        {
            return ByKind::Drop(DropCause::ScriptedAck);
        }
        ByKind::Pass
    }

    /// Flips the `flip-syn-ack` bits of `bytes` and merges them into `flipped` (sorted); a bit
    /// the random flips already hit flips back, and drops out of the list. Returns whether any
    /// bit was within the datagram.
    fn flip_scripted_bits(&self, bytes: &mut [u8], flipped: &mut Vec<usize>) -> bool {
        let mut bits: Vec<usize> = self.config.flip_syn_ack.clone();
        bits.sort_unstable();
        bits.dedup();
        let mut any = false;
        for bit in bits {
            let Some(byte) = bytes.get_mut(bit / 8) else {
                continue; // past the end: nothing to flip
            };
            *byte ^= 0x80 >> (bit % 8);
            any = true;
            match flipped.binary_search(&bit) {
                Ok(index) => {
                    flipped.remove(index);
                }
                Err(index) => flipped.insert(index, bit),
            }
        }
        any
    }

    /// Queues `len` bytes on a link of `rate` bits/s; returns when they have been sent, or None
    /// if the bytes already waiting plus these would exceed the queue.
    fn rate_limit(&mut self, now: Instant, len: usize, rate: u64) -> Option<Instant> {
        if rate == 0 {
            return None; // a link that sends nothing (only reachable by a hand-built config)
        }
        let rate = u128::from(rate);
        let bits_per_byte_nanos = 8 * NANOS_PER_S;
        let now_nanos = u128::from(now.as_micros()) * 1_000;
        let (start, start_remainder) = if self.link_free_at_nanos >= now_nanos {
            (self.link_free_at_nanos, self.link_free_at_remainder)
        } else {
            (now_nanos, 0) // the link went idle
        };
        // Bytes not yet sent, counting a partly sent byte as waiting.
        let backlog = (start - now_nanos)
            .saturating_mul(rate)
            .saturating_add(start_remainder)
            .div_ceil(bits_per_byte_nanos);
        let len = len as u128;
        if backlog.saturating_add(len) > self.config.rate_queue as u128 {
            return None;
        }
        let send = (len * bits_per_byte_nanos).saturating_add(start_remainder);
        self.link_free_at_nanos = start.saturating_add(send / rate);
        self.link_free_at_remainder = send % rate;
        let partial_nanos = u128::from(self.link_free_at_remainder > 0);
        let micros = (self.link_free_at_nanos + partial_nanos).div_ceil(1_000);
        Some(Instant::from_micros(
            u64::try_from(micros).unwrap_or(u64::MAX),
        ))
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

/// What the rules by kind decided for one datagram.
enum ByKind {
    Drop(DropCause),
    FlipSynAck,
    Pass,
}

/// Whether a probability knob is on; NaN (only from a hand-built config) counts as off.
fn is_on(p: f64) -> bool {
    p > 0.0
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
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    const DESIGN_SPEC: &str = "loss=5%,flip=1e-5,dup=1%,reorder=2%,delay=20ms,outage=2s..3s,seed=7";

    fn parse(spec: &str) -> FaultConfig {
        spec.parse()
            .unwrap_or_else(|e| panic!("{spec:?} should parse: {e}"))
    }

    fn parse_err(spec: &str) -> FaultSpecError {
        match spec.parse::<FaultConfig>() {
            Ok(config) => panic!("{spec:?} should not parse, got {config:?}"),
            Err(e) => e,
        }
    }

    /// Offers `count` datagrams of `len` bytes, 100 us apart; returns every decision and delivery.
    fn run(
        injector: &mut FaultInjector,
        count: usize,
        len: usize,
    ) -> Vec<(Decision, Vec<Delivery>)> {
        (0..count)
            .map(|i| {
                let bytes: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                injector.apply(Instant::from_micros(i as u64 * 100), &bytes)
            })
            .collect()
    }

    // --- parsing and printing ----------------------------------------------------------------

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
            assert_eq!(e.key, key, "{spec}");
            assert!(e.expected.contains(expected), "{spec}: {e}");
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
             drop-data, flip-syn-ack, drop-acks, seed"
        );
        assert_eq!(
            parse_err("loss=1%,drop").to_string(),
            "bad fault spec: \"drop\" has no '='; every item must be key=value, e.g. loss=5%"
        );
        // Outage and drop are the keys that repeat.
        assert_eq!(parse("outage=1s..2s,outage=3s..4s").outages.len(), 2);
        assert_eq!(parse("drop=3,drop=9").drops, vec![3, 9]);
        assert_eq!(parse_err("drop=0").key, "drop");
    }

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

    /// An encoded segment with these flags and this much payload.
    fn segment(flags: Flags, payload: usize) -> Vec<u8> {
        let payload = vec![0xab; payload];
        let mut bytes = Vec::new();
        Segment {
            flags,
            seq: crate::wire::SeqNum(1000),
            ack: crate::wire::SeqNum(2000),
            window: 4096,
            payload: &payload,
            ..Segment::default()
        }
        .emit(&mut bytes);
        bytes
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
            assert_eq!(Some(e.key.as_str()), spec.split('=').next(), "{spec}");
            assert!(e.expected.contains(expected), "{spec}: {e}");
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
        assert!(parse_err("seed=1,seed=2").expected.contains("drop-acks"));
    }

    #[test]
    fn drop_data_counts_only_segments_with_payload() {
        let mut injector = FaultInjector::new(parse("drop-data=2,drop-data=4"));
        let offered = [
            segment(Flags::SYN, 0),
            segment(Flags::ACK, 0),
            segment(Flags::ACK, 1200), // data 1
            segment(Flags::ACK, 0),
            segment(Flags::ACK, 1200), // data 2: dropped
            b"not a segment".to_vec(),
            segment(Flags::ACK | Flags::FIN, 10), // data 3
            segment(Flags::ACK, 1),               // data 4 (a window probe, say): dropped
            segment(Flags::ACK, 1200),            // data 5
        ];
        let decisions: Vec<String> = offered
            .iter()
            .map(|bytes| injector.apply(Instant::ZERO, bytes).0.to_string())
            .collect();
        assert_eq!(
            decisions,
            [
                "passed",
                "passed",
                "passed",
                "passed",
                "dropped (scripted: 2nd data segment)",
                "passed",
                "passed",
                "dropped (scripted: 4th data segment)",
                "passed",
            ]
        );
        let stats = injector.stats();
        assert_eq!((stats.dropped, stats.dropped_scripted_data), (2, 2));
    }

    #[test]
    fn flip_syn_ack_flips_the_named_bits_of_the_first_syn_ack_only() {
        let mut injector = FaultInjector::new(parse(
            "flip-syn-ack=113,flip-syn-ack=7,flip-syn-ack=1000000",
        ));
        let syn_ack = segment(Flags::SYN | Flags::ACK, 0);
        // A SYN and data pass untouched.
        for bytes in [segment(Flags::SYN, 0), segment(Flags::ACK, 100)] {
            let (decision, out) = injector.apply(Instant::ZERO, &bytes);
            assert_eq!((decision, &out[0].bytes), (Decision::default(), &bytes));
        }
        let (decision, out) = injector.apply(Instant::ZERO, &syn_ack);
        // Bit 1000000 lies past the end and is ignored.
        assert_eq!(decision.flipped_bits, [7, 113]);
        assert!(decision.scripted_flip);
        assert_eq!(
            decision.to_string(),
            "bits 7 and 113 flipped (scripted: first SYN-ACK)"
        );
        let mut expected = syn_ack.clone();
        expected[0] ^= 0x01;
        expected[14] ^= 0x40; // bit 113 = byte 14, bit 1 from the MSB
        assert_eq!(out[0].bytes, expected);
        assert!(Segment::parse(&out[0].bytes).is_err(), "the CRC catches it");
        // The retransmitted SYN-ACK goes through.
        let (decision, out) = injector.apply(Instant::ZERO, &syn_ack);
        assert_eq!((decision, &out[0].bytes), (Decision::default(), &syn_ack));
        let stats = injector.stats();
        assert_eq!((stats.corrupted, stats.corrupted_scripted), (1, 1));
        assert_eq!(stats.bits_flipped, 2);
    }

    #[test]
    fn drop_acks_drops_pure_acks_inside_the_window_only() {
        let mut injector = FaultInjector::new(parse("drop-acks=1s..2s"));
        let mut fate =
            |ms: u64, bytes: Vec<u8>| injector.apply(Instant::from_millis(ms), &bytes).0.dropped;
        let ack = || segment(Flags::ACK, 0);
        assert_eq!(fate(999, ack()), None);
        assert_eq!(fate(1000, ack()), Some(DropCause::ScriptedAck));
        assert_eq!(fate(1999, ack()), Some(DropCause::ScriptedAck));
        assert_eq!(fate(2000, ack()), None);
        // Inside the window, everything but a pure ACK passes.
        for bytes in [
            segment(Flags::ACK, 1),
            segment(Flags::ACK | Flags::FIN, 0),
            segment(Flags::SYN | Flags::ACK, 0),
            segment(Flags::RST | Flags::ACK, 0),
            segment(Flags::SYN, 0),
        ] {
            assert_eq!(fate(1500, bytes), None);
        }
        assert_eq!(
            Decision {
                dropped: Some(DropCause::ScriptedAck),
                ..Decision::default()
            }
            .to_string(),
            "dropped (scripted: pure ACK)"
        );
        assert_eq!(injector.stats().dropped_scripted_acks, 2);
    }

    #[test]
    fn ordinals_read_as_english() {
        let text: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112]
            .into_iter()
            .map(|n| Ordinal(n).to_string())
            .collect();
        assert_eq!(
            text,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th", "112th"
            ]
        );
    }

    /// A configuration every knob of which is valid, for round-trip properties.
    #[derive(Clone, Debug)]
    struct ValidConfig(FaultConfig);

    fn probability(g: &mut Gen) -> f64 {
        match u8::arbitrary(g) % 6 {
            0 => 0.0,
            1 => 1.0,
            2 => *g
                .choose(&[0.05, 0.01, 0.125, 1e-5, 1e-9, 0.333])
                .unwrap_or(&0.5),
            3 => f64::from(u32::arbitrary(g)) / f64::from(u32::MAX),
            4 => f64::from(u16::arbitrary(g)) * 1e-12,
            _ => (u64::arbitrary(g) >> 11) as f64 / (1u64 << 53) as f64,
        }
    }

    fn duration(g: &mut Gen) -> Duration {
        match u8::arbitrary(g) % 4 {
            0 => Duration::ZERO,
            1 => Duration::from_millis(u64::from(u16::arbitrary(g))),
            2 => Duration::from_micros(u64::from(u32::arbitrary(g))),
            _ => Duration::new(u64::arbitrary(g), u32::arbitrary(g) % 1_000_000_000),
        }
    }

    impl Arbitrary for ValidConfig {
        fn arbitrary(g: &mut Gen) -> ValidConfig {
            let outages = (0..usize::arbitrary(g) % 3)
                .map(|_| {
                    let start = duration(g);
                    let length = duration(g).max(Duration::from_nanos(1));
                    Outage {
                        start,
                        end: start.saturating_add(length),
                    }
                })
                .filter(|o| o.start < o.end)
                .collect();
            ValidConfig(FaultConfig {
                loss: probability(g),
                burst: bool::arbitrary(g).then(|| GilbertElliott {
                    p_good_to_bad: probability(g),
                    p_bad_to_good: probability(g),
                    loss_in_bad: probability(g),
                }),
                flip: probability(g),
                duplicate: probability(g),
                reorder: probability(g),
                reorder_delay: duration(g),
                delay: duration(g),
                jitter: duration(g),
                rate: bool::arbitrary(g).then(|| u64::arbitrary(g).max(1)),
                rate_queue: usize::arbitrary(g),
                outages,
                truncate: probability(g),
                drops: (0..usize::arbitrary(g) % 3)
                    .map(|_| 1 + u64::from(u16::arbitrary(g)))
                    .collect(),
                drop_data: (0..usize::arbitrary(g) % 3)
                    .map(|_| 1 + u64::from(u16::arbitrary(g)))
                    .collect(),
                flip_syn_ack: (0..usize::arbitrary(g) % 3)
                    .map(|_| usize::from(u16::arbitrary(g)))
                    .collect(),
                drop_acks: (0..usize::arbitrary(g) % 2)
                    .map(|_| {
                        let start = duration(g);
                        Outage {
                            start,
                            end: start.saturating_add(Duration::from_millis(1)),
                        }
                    })
                    .filter(|w| w.start < w.end)
                    .collect(),
                seed: u64::arbitrary(g),
            })
        }
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
                    let about_key =
                        KEYS.contains(&e.key.as_str()) && e.expected != EXPECTED_KEY_VALUE;
                    (!about_key || e.expected.contains(&e.key))
                        && e.to_string().contains(&e.expected)
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

    // --- determinism -----------------------------------------------------------------------------

    const EVERYTHING: &str = "loss=3%,burst=1%/30%,burst-loss=80%,flip=1e-4,dup=2%,reorder=5%,\
                              delay=1ms,jitter=2ms,rate=100mbit,truncate=1%,outage=300ms..400ms";

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

    // --- behaviour and statistics --------------------------------------------------------------

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

    #[test]
    fn stats_equal_the_decisions_made() {
        let mut injector = FaultInjector::new(parse(EVERYTHING));
        let mut expected = FaultStats::default();
        for (i, (decision, out)) in run(&mut injector, 20_000, 300).into_iter().enumerate() {
            expected.datagrams += 1;
            if let Some(cause) = decision.dropped {
                expected.dropped += 1;
                match cause {
                    DropCause::Loss => expected.dropped_loss += 1,
                    DropCause::BurstLoss => expected.dropped_burst += 1,
                    DropCause::Outage => expected.dropped_outage += 1,
                    DropCause::Scripted => expected.dropped_scripted += 1,
                    DropCause::ScriptedData(_) => expected.dropped_scripted_data += 1,
                    DropCause::ScriptedAck => expected.dropped_scripted_acks += 1,
                    DropCause::RateLimit => expected.dropped_rate += 1,
                }
                assert!(out.is_empty());
                assert_eq!(
                    decision,
                    Decision {
                        dropped: Some(cause),
                        ..Decision::default()
                    }
                );
            } else {
                assert_eq!(out.len(), 1 + usize::from(decision.duplicated));
            }
            expected.corrupted += u64::from(!decision.flipped_bits.is_empty());
            expected.bits_flipped += decision.flipped_bits.len() as u64;
            expected.duplicated += u64::from(decision.duplicated);
            expected.reordered += u64::from(decision.reordered);
            expected.delayed += u64::from(!decision.delay.is_zero());
            expected.truncated += u64::from(decision.truncated_to.is_some());
            let now = Instant::from_micros(i as u64 * 100);
            assert!(out.iter().all(|d| d.at >= now));
        }
        let stats = injector.stats();
        assert_eq!(stats, expected);
        // Every knob did something in this run.
        for (name, count) in [
            ("loss", stats.dropped_loss),
            ("burst", stats.dropped_burst),
            ("outage", stats.dropped_outage),
            ("corrupted", stats.corrupted),
            ("duplicated", stats.duplicated),
            ("reordered", stats.reordered),
            ("truncated", stats.truncated),
        ] {
            assert!(count > 0, "{name}");
        }
    }

    #[test]
    fn decision_text() {
        let decision = Decision {
            flipped_bits: vec![113, 907],
            duplicated: true,
            delay: Duration::from_micros(12_500),
            ..Decision::default()
        };
        assert_eq!(
            decision.to_string(),
            "bits 113 and 907 flipped, duplicated, delayed 12.5 ms"
        );
        let decision = Decision {
            flipped_bits: vec![1, 2, 3],
            truncated_to: Some(40),
            reordered: true,
            delay: Duration::from_millis(10),
            ..Decision::default()
        };
        assert_eq!(
            decision.to_string(),
            "truncated to 40 bytes, bits 1, 2 and 3 flipped, reordered, delayed 10 ms"
        );
        let decision = Decision {
            dropped: Some(DropCause::Loss),
            ..Decision::default()
        };
        assert_eq!(decision.to_string(), "dropped (loss)");
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
}
