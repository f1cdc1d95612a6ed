//! Sizes, rates, durations and probabilities as Ferry writes them: one parser and one printer
//! for each, shared by the fault spec ([`crate::fault`], docs/faults.md) and the CLI's options,
//! so that every value reads the same way wherever it is given.
//!
//! ```
//! use std::time::Duration;
//! use ferry::units::{parse_duration, parse_interval, parse_probability, parse_rate, parse_size};
//!
//! assert_eq!(parse_duration("1.5ms"), Some(Duration::from_micros(1500)));
//! assert_eq!(parse_rate("10Mbit/s"), Some(10_000_000));
//! assert_eq!(parse_size("64KiB"), Some(65_536));
//! assert_eq!(parse_probability("5%"), Some(0.05));
//! assert_eq!(
//!     parse_interval("2s..3s"),
//!     Some(Duration::from_secs(2)..Duration::from_secs(3))
//! );
//! ```

use std::fmt;
use std::ops::Range;
use std::time::Duration;

const NANOS_PER_S: u128 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parse a probability: `5%`, `0.05` or `1e-5`, from 0 to 1 inclusive.
pub fn parse_probability(text: &str) -> Option<f64> {
    let p = match text.strip_suffix('%') {
        // Shift the decimal point in the text rather than dividing by 100, so `0.1%` is exactly
        // the same number as `0.001` (and Display's percentages round-trip).
        Some(percent) if !percent.contains(['e', 'E']) => {
            format!("{}e-2", percent.trim()).parse::<f64>().ok()?
        }
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => text.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&p).then_some(p)
}

/// A plain decimal `123` or `1.25` (no sign, no exponent) times `unit`, if the result is a whole
/// number. `truncate` allows dropping a fractional remainder instead (for sub-nanosecond
/// durations).
fn parse_scaled(number: &str, unit: u128, truncate: bool) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Digits far below the unit cannot matter; 19 keep every product within u128.
    let fraction = &fraction[..fraction.len().min(19)];
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let fraction_scaled = fraction.checked_mul(unit)?;
    if !truncate && fraction_scaled % scale != 0 {
        return None;
    }
    whole
        .checked_mul(unit)?
        .checked_add(fraction_scaled / scale)
}

/// Parse a duration: `20ms`, `1.5s`, `500us`, `100ns` or a bare `0`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let units: [(&str, u128); 5] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", NANOS_PER_S),
    ];
    let nanos = match units
        .iter()
        .find_map(|&(suffix, per)| Some((lower.strip_suffix(suffix)?, per)))
    {
        Some((number, per)) => parse_scaled(number.trim(), per, true)?,
        // A bare number is ambiguous, except zero.
        None => match parse_scaled(&lower, 1, true)? {
            0 => 0,
            _ => return None,
        },
    };
    let secs = u64::try_from(nanos / NANOS_PER_S).ok()?;
    let subsec = u32::try_from(nanos % NANOS_PER_S).ok()?;
    Some(Duration::new(secs, subsec))
}

/// Parse a rate in bits per second: `10mbit`, `1.5Mbit/s`, `800kbit`, `1gbit`, `56000bit`;
/// never zero.
pub fn parse_rate(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let lower = lower.strip_suffix("/s").unwrap_or(&lower);
    let units: [(&str, u128); 4] = [
        ("kbit", 1_000),
        ("mbit", 1_000_000),
        ("gbit", 1_000_000_000),
        ("bit", 1),
    ];
    let (number, per) = units
        .iter()
        .find_map(|&(suffix, per)| Some((lower.strip_suffix(suffix)?, per)))?;
    let bits = u64::try_from(parse_scaled(number.trim(), per, false)?).ok()?;
    (bits > 0).then_some(bits)
}

/// Parse a byte count: `64KiB`, `1500B`, `1MiB`, `2KB` or bare bytes `1500`.
pub fn parse_size(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let units: [(&str, u128); 7] = [
        ("kib", 1 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
        ("kb", 1_000),
        ("mb", 1_000_000),
        ("gb", 1_000_000_000),
        ("b", 1),
    ];
    let (number, per) = units
        .iter()
        .find_map(|&(suffix, per)| Some((lower.strip_suffix(suffix)?, per)))
        .unwrap_or((&lower, 1));
    usize::try_from(parse_scaled(number.trim(), per, false)?).ok()
}

/// Parse an interval `START..END`: two durations (as [`parse_duration`] reads them) with
/// `START < END`.
pub fn parse_interval(text: &str) -> Option<Range<Duration>> {
    let (start, end) = text.split_once("..")?;
    let start = parse_duration(start.trim())?;
    let end = parse_duration(end.trim())?;
    (start < end).then_some(start..end)
}

// ---------------------------------------------------------------------------------------------
// Printing: each prints a value so that the parser above reads it back exactly
// ---------------------------------------------------------------------------------------------

/// Prints a probability so that it parses back to the same `f64`: a percentage for ordinary
/// values (`5%`), scientific notation for tiny ones (`1e-5`).
pub(crate) struct ProbabilityText(pub(crate) f64);

impl fmt::Display for ProbabilityText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        if !p.is_finite() {
            return write!(f, "{p}"); // only a hand-built config holds these; they do not parse
        }
        if p != 0.0 && p.abs() < 1e-4 {
            return write!(f, "{p:e}");
        }
        // Rust prints the shortest decimal that round-trips; moving its decimal point two places
        // (rather than multiplying by 100) keeps it exact, and the parser moves it back the same
        // way.
        let text = p.to_string();
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let (moved, rest) = fraction.split_at(fraction.len().min(2));
        let integer = format!("{whole}{moved:0<2}");
        let sign = if integer.starts_with('-') { "-" } else { "" };
        let digits = integer.trim_start_matches('-').trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        if rest.is_empty() {
            write!(f, "{sign}{digits}%")
        } else {
            write!(f, "{sign}{digits}.{rest}%")
        }
    }
}

/// Prints a duration in the largest unit that represents it exactly.
pub(crate) struct DurationText(pub(crate) Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0");
        }
        for (unit, per) in [("s", NANOS_PER_S), ("ms", 1_000_000), ("us", 1_000)] {
            if nanos % per == 0 {
                return write!(f, "{}{unit}", nanos / per);
            }
        }
        write!(f, "{nanos}ns")
    }
}

/// Prints an interval as `START..END`, each end as [`DurationText`] prints it.
pub(crate) struct IntervalText(pub(crate) Duration, pub(crate) Duration);

impl fmt::Display for IntervalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", DurationText(self.0), DurationText(self.1))
    }
}

/// Prints a rate in the largest unit that represents it exactly.
pub(crate) struct RateText(pub(crate) u64);

impl fmt::Display for RateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in [
            ("gbit", 1_000_000_000),
            ("mbit", 1_000_000),
            ("kbit", 1_000),
        ] {
            if self.0 != 0 && self.0 % per == 0 {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        write!(f, "{}bit", self.0)
    }
}

/// Prints a byte count in the largest binary unit that represents it exactly.
pub(crate) struct SizeText(pub(crate) usize);

impl fmt::Display for SizeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, per) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 != 0 && self.0 % per == 0 {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        write!(f, "{}B", self.0)
    }
}
