//! A simulated world: any number of hosts and routers joined by links, running your own async
//! programs on a deterministic executor with a virtual clock, over Ferry's real transport.
//!
//! - **Topology.** Hosts and routers each have a name and addresses (IPv4 or IPv6). A link
//!   joins two nodes, each direction a [`Link`](crate::link::Link): the fault injector, a
//!   rate and drop-tail queue, a propagation delay. Several flows crossing one link share its
//!   queue: a bottleneck. Routers forward by longest prefix ([`Builder::route`], with a
//!   default route `0.0.0.0/0`), take one off the TTL and drop a datagram whose TTL runs out,
//!   so a routing loop ends (and is counted). A [`Middlebox`] on a router sees each datagram
//!   crossing it and may rewrite its addresses or drop it: the hook [`Nat`] (RFC 4787's
//!   behaviours, the full-cone to symmetric presets, a mapping table to print) is built on.
//! - **Programs.** [`World::host`] runs a program for the life of a host (again from the start
//!   after a restart); [`World::client`] runs one once, and [`World::run`] lasts until every
//!   client has finished. Inside, [`net::Stream`], [`net::Listener`] and [`net::UdpSocket`]
//!   have the methods of `ferry::tokio`'s, tokio's `AsyncRead` and `AsyncWrite` included, and
//!   [`spawn`], [`time::sleep`], [`time::timeout`] and [`time::Instant`] work on the world's
//!   clock. Under each socket is a real [`Endpoint`](crate::endpoint::Endpoint): the
//!   handshake, retransmissions, flow and congestion control are Ferry's own.
//! - **Control.** Partition and repair a link or the traffic between two hosts, hold and
//!   release it, change a link's faults, crash a host and restart it: from the test's code
//!   between steps ([`World::control`], [`World::run_until`]) or as a [`Scheduled`] list
//!   ([`World::schedule`]), plain data that a property test can generate and shrink.
//! - **Properties.** [`property::Property`] draws schedules of crashes, partitions, holds and
//!   fault changes from a [`property::Plan`], runs your world under each, and shrinks a
//!   failure to a minimal schedule that prints as one replay line (and can write its
//!   captures).
//! - **Determinism.** A world is a pure function of its seed, its description, its programs
//!   and its schedule: every random choice derives from the seed ([`crate::link::seed`]),
//!   everything is kept in ordered maps, one task runs at a time in the order they were
//!   woken, and nothing reads the machine's clock.
//! - **Captures.** [`World::capture`] taps any host's or router's interface: a pcapng file,
//!   in the Ferry or the TCP view, of what left by it (with why, and what the link did) and
//!   what arrived by it (with what became of it).
//!
//! docs/simulation.md says more: how to move a program onto the world, what a crash looks
//! like to the peers, what an unreachable does, and the limits.
//!
//! # Example
//!
//! A client and a server on either side of a router, the client's link losing 5%:
//!
//! ```
//! use std::time::Duration;
//! use ferry::link::LinkConfig;
//! use ferry::sim::world::{net::{Listener, Stream}, World};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let lossy = LinkConfig { faults: "loss=5%".parse()?, ..LinkConfig::default() };
//! let mut world = World::builder()
//!     .seed(7)
//!     .host("client", "10.0.0.2")
//!     .router("router", "10.0.0.1")
//!     .host("server", "10.0.1.2")
//!     .link("client", "router", lossy)
//!     .link("router", "server", LinkConfig::default())
//!     .build()?;
//! world.host("server", || async {
//!     let listener = Listener::bind("0.0.0.0:7").await?;
//!     loop {
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut request = Vec::new();
//!         stream.read_to_end(&mut request).await?;
//!         stream.write_all(&request).await?;
//!         stream.close().await?;
//!     }
//! })?;
//! world.client("client", async {
//!     let mut stream = Stream::connect("server:7").await?;
//!     stream.write_all(&vec![42; 100_000]).await?;
//!     stream.shutdown().await?;
//!     let mut echo = Vec::new();
//!     stream.read_to_end(&mut echo).await?;
//!     assert_eq!(echo, vec![42; 100_000]);
//!     Ok(())
//! })?;
//! world.run()?;
//! assert!(world.now() > Duration::from_millis(80)); // at least the two round trips
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `builder.rs` | [`Builder`]: the description, checked as a whole |
//! | `address.rs` | [`Prefix`]: addresses and prefixes as a description writes them |
//! | `topology.rs` | the nodes, their interfaces and routing tables (longest prefix) |
//! | `links.rs` | the world's links: a [`Link`](crate::link::Link) per direction, cut or held |
//! | `datagram.rs` | what travels: addresses, TTL, a UDP payload or an [`Unreachable`] |
//! | `router.rs` | forwarding: TTL, route, the middlebox, the unreachables a router sends |
//! | `middlebox.rs` | the [`Middlebox`] hook |
//! | `nat/` | [`Nat`]: RFC 4787's NATs as middleboxes, their presets and mapping tables |
//! | `host.rs` | a host's sockets and ports, crash and restart, [`HostStats`] |
//! | `socket.rs` | a Ferry socket (an endpoint and its waiting tasks) and a UDP socket |
//! | `core.rs` | the world's state and how datagrams move through it |
//! | `agenda.rs` | what is due when: the clock jumps to the earliest |
//! | `executor.rs` | the tasks, [`spawn`], [`JoinHandle`] |
//! | `context.rs` | which program is running, and what each task waits for |
//! | `time.rs` | [`time::Instant`], [`time::sleep`], [`time::timeout`] on the world's clock |
//! | `net/` | [`net::Stream`], [`net::Listener`], [`net::UdpSocket`] |
//! | `programs.rs` | [`BuiltIn`]: the built-in programs (bulk, echo, request/response) |
//! | `flows.rs` | [`FlowReport`], [`Flows`], [`shared_links`], [`jain_index`]: what the flows showed |
//! | `control.rs` | [`Control`], [`Cut`], [`Scheduled`]: changes during a run, as data |
//! | `taps.rs` | capture taps on interfaces |
//! | `ladder.rs` | the ladder diagram of a run: a line per host, arrows end to end across routers |
//! | `trace.rs` | [`WorldEvents`]: every host's connection trace events, each naming its connection |
//! | `punching.rs` | [`punching`]: the lecture's NAT world, one punch in it, the success matrix |
//! | `property/` | [`property::Property`]: property tests over drawn schedules, shrunk to a minimal one with its replay line |
//! | `run.rs` | [`World`]: the programs and the loop |
//! | `error.rs` | [`ConfigError`], [`RunError`] |

mod address;
mod agenda;
mod builder;
mod context;
mod control;
mod core;
mod datagram;
mod error;
mod executor;
mod flows;
mod host;
mod ladder;
mod links;
mod middlebox;
mod nat;
pub mod net;
mod programs;
pub mod property;
pub mod punching;
mod router;
mod run;
mod socket;
mod taps;
#[cfg(test)]
mod tests;
pub mod time;
mod topology;
mod trace;

pub use address::Prefix;
pub use builder::{Builder, DEFAULT_EVENT_BUDGET, DEFAULT_LINGER, DEFAULT_TIME_LIMIT};
pub use control::{Control, ControlParseError, Cut, Scheduled};
pub use datagram::{Unreachable, UnreachableKind, DEFAULT_TTL, QUOTE_LIMIT_V4, QUOTE_LIMIT_V6};
pub use error::{ConfigError, RunError, Waiting};
pub use executor::{spawn, yield_now, JoinError, JoinHandle};
pub use flows::{jain_index, shared_links, FlowKind, FlowReport, Flows, Latency, SharedLink};
pub use host::{HostStats, EPHEMERAL_PORTS};
pub use links::HOLD_LIMIT;
pub use middlebox::{Addresses, Crossing, Interface, Middlebox, Payload, Placement, Verdict};
pub use nat::{
    Dependence, Nat, NatConfig, NatRow, NatStats, NatTable, PortAssignment, Preset,
    PresetParseError, DEFAULT_MAPPING_LIFETIME, DEFAULT_TABLE_LIMIT,
};
pub use programs::{Amount, BuiltIn, REQUEST_HEADER};
pub use router::RouterStats;
pub use run::{LinkReport, ProgramResult, World};
pub use socket::UDP_RECEIVE_QUEUE;
pub use time::{sleep, timeout};
pub use trace::{WorldEvents, WorldTracedEvent};
