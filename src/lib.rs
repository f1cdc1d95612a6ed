//! Ferry: a reliable, ordered byte stream with TCP's semantics, carried in UDP datagrams,
//! built to be read, inspected and tortured.
//!
//! # Layers
//!
//! Data goes down this stack to be sent and up it to be received; each layer knows only the
//! one below it.
//!
//! | layer | module | owns |
//! |---|---|---|
//! | endpoint | [`endpoint`] | many connections behind one socket: demultiplexing by peer address, the listen backlog and SYN cookies, rate-limited RSTs to strays |
//! | connection | [`conn`] | one connection's RFC 9293 state machine: send buffer and retransmission queue, reassembly and receive window, the RFC 6298 RTO, the reason each segment is sent |
//! | wire | [`wire`] | segments to and from bytes, the CRC-32, sequence-number arithmetic |
//!
//! On top of the stack, [`net`] runs it on real UDP sockets: [`Stream`] and [`Listener`] work
//! like `std::net::TcpStream` and `TcpListener`; with the `tokio` feature, `ferry::tokio` does the
//! same on a tokio runtime (`AsyncRead`, `AsyncWrite`, driven by tasks, no thread per
//! connection). Beside it, [`fault`] injects faults into
//! datagrams (loss, bursts, bit flips, duplication, reordering, delay, rate limits, outages,
//! truncation, scripted drops), [`sim`] runs whole transfers on a deterministic simulated
//! network with a virtual clock, over two [`link`]s (one direction of a path each: the
//! faults, a rate and queue, a delay; the socket driver puts the same link around a socket), [`capture`] writes what a host sent and received as
//! pcapng, for Wireshark, [`plot`] draws a connection's time-sequence graph, and [`ladder`] a
//! run's ladder diagram (every datagram an arrow from host to host).
//! [`rendezvous`] lets two peers behind NATs meet through a server, punch a connection
//! between them by simultaneous open, or have the server relay it. [`units`]
//! reads and prints the sizes, rates, durations and probabilities that the fault spec and the
//! CLI take.
//!
//! The stack is *sans-IO*: `wire`, `conn` and `endpoint` never read a clock, touch a socket,
//! spawn a thread or draw randomness of their own. Time ([`time::Instant`]) is an argument,
//! initial sequence numbers come from a generator you pass in, and datagrams leave as
//! [`conn::Transmit`] values. So the same code runs in the simulator, thousands of times faster
//! than real time, or under any event loop.
//!
//! # Example
//!
//! Send 100 kB across a simulated 10 Mbit/s link with 40 ms of round-trip time, losing 5% of
//! the datagrams each way and flipping one bit in 100,000:
//!
//! ```
//! use std::time::Duration;
//! use ferry::sim::{self, NetworkConfig, TransferConfig};
//!
//! let faults = "loss=5%,flip=1e-5".parse().expect("a valid fault spec");
//! let network = NetworkConfig::symmetric(Some(10_000_000), Duration::from_millis(40), faults, 7);
//! let payload = sim::payload(100_000, 7);
//! let report = sim::transfer(&TransferConfig::new(network), &payload)
//!     .expect("the default connection settings work");
//!
//! assert!(report.intact && report.finished);
//! println!(
//!     "{} bytes in {:.2} s of simulated time, {} retransmissions",
//!     report.bytes_delivered,
//!     report.transfer_time.as_secs_f64(),
//!     report.a.stats.retransmissions.total(),
//! );
//! ```
//!
//! # Errors
//!
//! Nothing from the network can make Ferry panic: every datagram is parsed into a
//! [`wire::Segment`] or rejected with a [`wire::WireError`], counted, and dropped. A connection
//! fails with a [`conn::ConnectionError`] (refused, reset, timed out, aborted); each application
//! call has its own small error enum ([`conn::ReadError`], [`conn::WriteError`],
//! [`endpoint::ConnectError`]); a bad fault spec is a [`fault::FaultSpecError`] that names the
//! key and what is valid. Connection settings that cannot work are a [`conn::ConfigError`],
//! which names the setting and its valid range, from every constructor that takes a
//! [`Config`] ([`conn::Connection::connect`], [`endpoint::Endpoint::new`], the simulator's
//! `Network::new` and `transfer`; `InvalidInput` from the socket APIs): never clamped into
//! something that runs.
#![deny(missing_docs)]
// The one call Rust cannot check, atexit(3), lives in the ferry-exit-hook crate (exit-hook/).
#![forbid(unsafe_code)]

#[cfg(any(feature = "sim", feature = "tokio"))]
mod async_stream;
#[cfg(feature = "capture")]
pub mod capture;
pub mod conn;
pub mod endpoint;
pub mod fault;
mod io_error;
#[cfg(feature = "sim")]
pub mod ladder;
pub mod link;
#[cfg(feature = "net")]
pub mod net;
#[cfg(feature = "sim")]
pub mod plot;
pub mod rendezvous;
pub mod secure;
pub mod shaper;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod units;
pub mod wire;

pub use conn::{Config, RecvBuffer, SendBuffer, Stats};
pub use fault::FaultConfig;
#[cfg(feature = "net")]
pub use net::{Listener, SocketConfig, Stream};
/// The `rand` crate, at the version [`endpoint::Endpoint::new`] expects its generator from.
pub use rand;
