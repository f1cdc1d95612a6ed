//! The fault injector: one configuration, one seeded RNG, the same decisions whether it wraps
//! the simulated link or a real UDP socket. docs/faults.md is the reference for every key.
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
//!
//! | file | owns |
//! |---|---|
//! | `config.rs` | [`FaultConfig`] and its parts: [`GilbertElliott`], [`Outage`], the defaults |
//! | `spec.rs` | the spec text: parsing and printing a [`FaultConfig`], [`FaultSpecError`] |
//! | `injector.rs` | [`FaultInjector`]: each datagram through the faults in the order above; its rate limiter (`rate=`, `queue=`) is a [`Shaper`](crate::shaper::Shaper) counted in bytes |
//! | `decision.rs` | [`Decision`], [`Delivery`], [`FaultStats`] and the text of capture comments |
//! | `scripted.rs` | the rules that parse segments: `drop-data`, `flip-syn-ack`, `drop-acks` |
//! | `arbitrary.rs` | quickcheck's `Arbitrary` for [`FaultConfig`] (feature `quickcheck`): realistic specs, and shrinking that always gives a valid one |
//!
//! Sizes, rates, durations and probabilities are read and written by [`crate::units`].

#[cfg(feature = "quickcheck")]
mod arbitrary;
mod config;
mod decision;
#[cfg(test)]
mod fixtures;
mod injector;
mod scripted;
mod spec;

pub use config::{FaultConfig, GilbertElliott, Outage, ScriptedDrop, SegmentKind};
pub use decision::{Decision, Delivery, DropCause, FaultStats};
pub use injector::FaultInjector;
pub use spec::FaultSpecError;
