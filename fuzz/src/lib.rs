//! Ferry's fuzz targets, as plain functions of a byte slice.
//!
//! Each target is a function that panics when it finds a bug and returns quietly otherwise:
//!
//! - [`segment::run`]: `wire::Segment::parse` on arbitrary bytes, against a reference parser
//!   written from `docs/protocol.md`, and `emit(parse(x))` giving back `x`;
//! - [`fault_spec::run`]: the fault-spec parser (`FaultConfig::from_str`), its `Display`
//!   round trip, and a fault injector built from each spec that parses;
//! - [`endpoint::run`]: one `Endpoint`, listening and with a connected client, fed arbitrary
//!   datagrams (many of them CRC-valid segments aimed at its sequence numbers) and
//!   application calls at arbitrary times, with bounds on what it keeps and sends, and a check
//!   that after hours of silence nothing is left that the application does not hold;
//! - [`rendezvous::run`]: `rendezvous::Message::parse` on arbitrary bytes (as they are, and
//!   with the CRC recomputed), the round trip through `emit`, and a rendezvous server and
//!   client fed them, with bounds on what they send.
//!
//! The same functions run in two harnesses: the cargo-fuzz binaries in `fuzz/fuzz_targets/`
//! (libFuzzer, coverage-guided), and `tests/fuzz_corpus.rs` in the main crate, which replays
//! every file of the checked-in corpus (`fuzz/seeds/TARGET/`) on the stable toolchain as part of
//! `cargo test`. `docs/testing.md` says how to run them.

pub mod endpoint;
pub mod fault_spec;
pub mod heap;
pub mod input;
pub mod rendezvous;
pub mod segment;

/// A target: bytes in, a panic out if they find a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as cargo-fuzz and the seed folders call them.
pub const TARGETS: [(&str, Target); 4] = [
    ("segment", segment::run),
    ("fault_spec", fault_spec::run),
    ("endpoint", endpoint::run),
    ("rendezvous", rendezvous::run),
];
