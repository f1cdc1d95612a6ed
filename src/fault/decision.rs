//! What the injector did: one datagram's [`Decision`] and the text it reads as in a capture's
//! packet comments, the [`Delivery`] of what leaves, and [`FaultStats`], the counts of every
//! decision.

use super::config::SegmentKind;
use crate::time::Instant;
use std::fmt;
use std::time::Duration;

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
#[non_exhaustive]
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
    /// A `drop-syn=N` (or `drop-syn-ack`, `drop-fin`, `drop-retransmission`) rule named this
    /// segment: the Nth of its kind offered to the injector.
    ScriptedKind(SegmentKind, u64),
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
            DropCause::ScriptedKind(kind, number) => {
                return write!(f, "scripted: {} {kind}", Ordinal(*number))
            }
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
#[non_exhaustive]
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
    /// Dropped by a `drop=N` rule or a drop by kind (`drop-syn`, `drop-syn-ack`, `drop-fin`,
    /// `drop-retransmission`).
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
    pub(super) fn count(&mut self, decision: &Decision) {
        self.datagrams += 1;
        if let Some(cause) = decision.dropped {
            self.dropped += 1;
            match cause {
                DropCause::Loss => self.dropped_loss += 1,
                DropCause::BurstLoss => self.dropped_burst += 1,
                DropCause::Outage => self.dropped_outage += 1,
                DropCause::Scripted | DropCause::ScriptedKind(..) => self.dropped_scripted += 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::fixtures::{parse, run, EVERYTHING};
    use crate::fault::FaultInjector;

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
                    DropCause::Scripted | DropCause::ScriptedKind(..) => {
                        expected.dropped_scripted += 1
                    }
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
}
