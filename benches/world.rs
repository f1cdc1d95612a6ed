//! What the simulated world costs, beside the two-host simulator, measured in one run:
//! `cargo bench --bench world`.
//!
//! - **Memory per idle connection**: one client host opens 10,000 connections to a server
//!   and holds them, idle; the process's resident memory before and after, per connection
//!   (both ends: the client's socket, endpoint and stream, the server's connection and the
//!   task holding its stream).
//! - **Many hosts**: 100 hosts each send 1 MiB to one server, all at once, through one
//!   100 Mbit/s link (the server's: 20 ms round trip, a queue of 64 datagrams); 1 Gbit/s
//!   edges. Wall time per byte delivered.
//! - **Two hosts, the world**: one host sends 100 MiB to another over the same 100 Mbit/s
//!   link, as programs on the world.
//! - **Two hosts, `sim::transfer`**: the same 100 MiB over the same link through the two-host
//!   simulator (what `ferry sim --bytes 100MiB --rate 100mbit --rtt 20ms` runs).
//!
//! Every connection has the default settings (a 64 KiB window), as `ferry sim`'s. The three
//! transfers alternate, five rounds; each one's least wall time per delivered byte is compared
//! (the round least disturbed by other processes; targets: many hosts at most 2x the
//! two-host simulator's, the world's two hosts within 10% of it), and beside it the least CPU
//! time the thread spent (from /proc/self/schedstat), which other processes do not inflate.
//! Ends with one `key=value` line for scripts.

#[allow(dead_code)] // only its clocks
mod common;

use std::time::Duration;

use common::{cpu_seconds, now};
use ferry::link::LinkConfig;
use ferry::sim::world::net::{Listener, Stream};
use ferry::sim::world::{spawn, time::sleep, Amount, BuiltIn, Flows, World};
use ferry::sim::{self, NetworkConfig, TransferConfig};

const MIB: u64 = 1024 * 1024;
const RATE_BPS: u64 = 100_000_000;
const RTT: Duration = Duration::from_millis(20);
const QUEUE: usize = 64;
const PORT: u16 = 5000;
const HOSTS: usize = 100;
const IDLE: usize = 10_000;
const ROUNDS: usize = 5;

/// The process's resident memory, in bytes, from /proc.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The server's link: 100 Mbit/s, 10 ms each way, a queue of 64 datagrams.
fn bottleneck() -> LinkConfig {
    LinkConfig {
        rate_bps: Some(RATE_BPS),
        delay: RTT / 2,
        queue_limit: QUEUE,
        ..LinkConfig::default()
    }
}

/// `senders` hosts behind a router, the server beyond it on the bottleneck; with one sender,
/// the sender and the server are joined directly by the bottleneck.
fn world(senders: usize) -> World {
    let mut builder = World::builder().seed(1).host("server", "10.2.0.2");
    if senders == 1 {
        return builder
            .host("sender1", "10.1.0.2")
            .link("sender1", "server", bottleneck())
            .build()
            .expect("a valid world");
    }
    let edge = LinkConfig {
        rate_bps: Some(1_000_000_000),
        delay: Duration::ZERO,
        queue_limit: 10_000,
        ..LinkConfig::default()
    };
    builder = builder
        .router("router", "10.2.0.1")
        .link("router", "server", bottleneck());
    for sender in 1..=senders {
        let name = format!("sender{sender}");
        let address = format!("10.1.{}.{}", sender / 250, sender % 250 + 2);
        builder = builder
            .host(&name, &address)
            .link(&name, "router", edge.clone());
    }
    builder.build().expect("a valid world")
}

/// What one transfer cost.
#[derive(Clone, Copy)]
struct Cost {
    wall_seconds: f64,
    cpu_seconds: f64,
    delivered: u64,
    simulated: Duration,
}

impl Cost {
    fn wall_ns_per_byte(&self) -> f64 {
        self.wall_seconds * 1e9 / self.delivered as f64
    }
    fn cpu_ns_per_byte(&self) -> f64 {
        self.cpu_seconds * 1e9 / self.delivered as f64
    }
}

/// Time `run`, which returns the bytes delivered and the simulated time it took.
fn measure(run: impl FnOnce() -> (u64, Duration)) -> Cost {
    let (started, cpu_started) = (now(), cpu_seconds());
    let (delivered, simulated) = run();
    Cost {
        wall_seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu_started,
        delivered,
        simulated,
    }
}

/// `senders` hosts each send `bytes` to the server at once.
fn world_transfer(senders: usize, bytes: u64) -> Cost {
    let mut world = world(senders);
    let flows = Flows::default();
    world
        .builtin(
            "server",
            Duration::ZERO,
            BuiltIn::BulkReceive { port: PORT },
            &flows,
        )
        .unwrap();
    for sender in 1..=senders {
        let program = BuiltIn::BulkSend {
            to: format!("server:{PORT}"),
            amount: Amount::Bytes(bytes),
        };
        world
            .builtin(&format!("sender{sender}"), Duration::ZERO, program, &flows)
            .unwrap();
    }
    measure(|| {
        world.run().expect("the transfers end");
        let delivered = flows
            .reports()
            .iter()
            .filter(|report| report.ended.is_some())
            .map(|report| report.bytes)
            .sum();
        (delivered, world.now())
    })
}

/// The same link through `sim::transfer`.
fn two_host_simulator(payload: &[u8]) -> Cost {
    let mut network = NetworkConfig::symmetric(Some(RATE_BPS), RTT, Default::default(), 1);
    network.a_to_b.queue_limit = QUEUE;
    network.b_to_a.queue_limit = QUEUE;
    let config = TransferConfig::new(network);
    measure(|| {
        let report = sim::transfer(&config, payload).expect("valid settings");
        assert!(report.succeeded(), "the two-host transfer must work");
        (report.bytes_delivered, report.transfer_time)
    })
}

/// Resident bytes per idle connection: `IDLE` connections from one host to a server, held.
fn idle_connection_bytes() -> f64 {
    // No rate and no queue limit: the handshakes all complete in one round trip.
    let wire = LinkConfig {
        rate_bps: None,
        queue_limit: usize::MAX,
        ..LinkConfig::default()
    };
    let mut world = World::builder()
        .seed(1)
        .host("client", "10.0.0.2")
        .host("server", "10.0.1.2")
        .link("client", "server", wire)
        .build()
        .expect("a valid world");
    world
        .host("server", || async {
            let listener = Listener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                // A task holding each accepted stream, as a server's would.
                spawn(async move {
                    let _stream = stream;
                    sleep(Duration::from_secs(1_000_000)).await;
                });
            }
        })
        .unwrap();
    world
        .host("client", || async {
            for _ in 0..IDLE {
                spawn(async {
                    let stream = Stream::connect(("server", PORT)).await;
                    assert!(stream.is_ok(), "{stream:?}");
                    sleep(Duration::from_secs(1_000_000)).await;
                });
            }
            Ok(())
        })
        .unwrap();
    let before = resident_bytes();
    world.run_until(Duration::from_secs(10)).unwrap();
    let after = resident_bytes();
    let stats = world.host_stats("server").unwrap();
    assert!(
        stats.delivered >= 2 * IDLE as u64,
        "every handshake completed: {stats:?}"
    );
    after.saturating_sub(before) as f64 / IDLE as f64
}

/// The round with the least wall time per delivered byte, and the least CPU time per byte.
fn least(costs: &[Cost]) -> (f64, f64) {
    let wall = costs
        .iter()
        .map(Cost::wall_ns_per_byte)
        .fold(f64::MAX, f64::min);
    let cpu = costs
        .iter()
        .map(Cost::cpu_ns_per_byte)
        .fold(f64::MAX, f64::min);
    (wall, cpu)
}

fn main() {
    // `cargo bench --bench world -- many` (or `world-two`, `two-host`): one of the transfers,
    // once, alone (to profile it: valgrind --tool=callgrind counts its instructions).
    let only = |name: &str| std::env::args().any(|arg| arg == name);
    if only("many") || only("world-two") {
        let hosts = if only("many") { HOSTS } else { 1 };
        let cost = world_transfer(hosts, 100 * MIB / hosts as u64);
        println!(
            "{hosts} hosts: {:.3} s, {} bytes",
            cost.wall_seconds, cost.delivered
        );
        return;
    }
    if only("two-host") {
        let cost = two_host_simulator(&sim::payload((100 * MIB) as usize, 1));
        println!(
            "sim::transfer of 100 MiB: {:.3} s, {} bytes",
            cost.wall_seconds, cost.delivered
        );
        return;
    }
    // First, while the heap is fresh.
    let idle = idle_connection_bytes();
    println!("memory per idle connection (both ends, {IDLE} held): {idle:.0} bytes");

    let payload = sim::payload((100 * MIB) as usize, 1);
    let (mut many, mut world_two, mut simulator) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let cost = world_transfer(HOSTS, MIB);
        assert_eq!(
            cost.delivered,
            HOSTS as u64 * MIB,
            "every sender's MiB arrived"
        );
        many.push(cost);
        let cost = world_transfer(1, 100 * MIB);
        assert_eq!(cost.delivered, 100 * MIB);
        world_two.push(cost);
        simulator.push(two_host_simulator(&payload));
        println!(
            "round {round}, wall (CPU) seconds: {HOSTS} hosts x 1 MiB {:.3} ({:.3}), two hosts \
             in the world {:.3} ({:.3}), sim::transfer {:.3} ({:.3})",
            many[round - 1].wall_seconds,
            many[round - 1].cpu_seconds,
            world_two[round - 1].wall_seconds,
            world_two[round - 1].cpu_seconds,
            simulator[round - 1].wall_seconds,
            simulator[round - 1].cpu_seconds,
        );
    }
    println!(
        "simulated: {HOSTS} hosts x 1 MiB {:.1} s, two hosts in the world {:.1} s, \
         sim::transfer {:.1} s",
        many[0].simulated.as_secs_f64(),
        world_two[0].simulated.as_secs_f64(),
        simulator[0].simulated.as_secs_f64(),
    );
    let (many, world_two, simulator) = (least(&many), least(&world_two), least(&simulator));
    println!(
        "least wall (CPU) time per delivered byte: {HOSTS} hosts {:.2} ns ({:.2}), two hosts \
         in the world {:.2} ns ({:.2}), sim::transfer {:.2} ns ({:.2})",
        many.0, many.1, world_two.0, world_two.1, simulator.0, simulator.1
    );
    println!(
        "{HOSTS} hosts / sim::transfer: {:.2} wall, {:.2} CPU (target at most 2); the world's \
         two hosts / sim::transfer: {:.2} wall, {:.2} CPU (target at most 1.10)",
        many.0 / simulator.0,
        many.1 / simulator.1,
        world_two.0 / simulator.0,
        world_two.1 / simulator.1,
    );
    println!(
        "idle_connection_bytes={idle:.0} many_hosts_ns_per_byte={:.3} \
         world_two_hosts_ns_per_byte={:.3} simulator_ns_per_byte={:.3} many_over_simulator={:.3} \
         world_over_simulator={:.3} many_over_simulator_cpu={:.3} world_over_simulator_cpu={:.3}",
        many.0,
        world_two.0,
        simulator.0,
        many.0 / simulator.0,
        world_two.0 / simulator.0,
        many.1 / simulator.1,
        world_two.1 / simulator.1,
    );
}
