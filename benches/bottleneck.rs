//! Flows sharing a bottleneck in the simulated world: prints the fairness and congestion
//! collapse tables of docs/performance.md.
//!
//! `cargo bench --bench bottleneck` (add `-- SECONDS` for runs shorter than 60 simulated
//! seconds). Every bottleneck sends 100 Mbit/s behind a drop-tail queue of one
//! bandwidth-delay product; edges are 1 Gbit/s; every path has a 20 ms round trip before
//! queueing. Each sender runs the built-in bulk sender for the whole run, all starting at
//! once, with 1 MiB buffers (the default 64 KiB window would hold a flow to 26 Mbit/s at
//! 20 ms), under NewReno or with no congestion control (`--cc fixed`: a 1 MiB window is four
//! bandwidth-delay products, far above any flow's fair share).
//!
//! - **The dumbbell**: N senders behind router `left`, N receivers behind `right`, one
//!   100 Mbit/s link between: the flows' total goodput, Jain's index of their goodputs, how
//!   busy the bottleneck was, what it dropped, their retransmissions and RTO expiries.
//! - **Two links in tandem**: N flows cross `left -> mid` (100 Mbit/s) and then `mid -> right`
//!   (25 Mbit/s); one more flow crosses `left -> mid` alone, to a receiver behind `mid`. What
//!   the second link drops has taken a slot of the first that the cross flow could have
//!   used: the through flows' goodput, the cross flow's, the total, and the share of the
//!   first link's datagrams that the second dropped.
//!
//! Simulated time is deterministic: only the wall time differs from run to run.

#[allow(dead_code)] // only its clock
mod common;

use std::time::Duration;

use ferry::conn::CongestionControl;
use ferry::link::LinkConfig;
use ferry::sim::world::{shared_links, Amount, Builder, BuiltIn, FlowReport, Flows, World};
use ferry::Config;

use common::now;

const RATE_BPS: u64 = 100_000_000;
/// The tandem's second link.
const SECOND_RATE_BPS: u64 = 25_000_000;
const RTT: Duration = Duration::from_millis(20);
/// Ferry's header (24 bytes) on a full segment: what one datagram takes of a queue.
const DATAGRAM: u64 = 1200 + 24;
const PORT: u16 = 5000;
const FLOWS: [usize; 6] = [2, 3, 4, 6, 8, 10];

/// A queue of one bandwidth-delay product at `rate_bps`, in full datagrams.
fn bdp_queue(rate_bps: u64) -> usize {
    let bdp_bytes = rate_bps as u128 * RTT.as_micros() / 8 / 1_000_000;
    (bdp_bytes as u64).div_ceil(DATAGRAM) as usize
}

fn link(rate_bps: u64, delay_ms: u64, queue: usize) -> LinkConfig {
    LinkConfig {
        rate_bps: Some(rate_bps),
        delay: Duration::from_millis(delay_ms),
        queue_limit: queue,
        ..LinkConfig::default()
    }
}

/// `builder` with host `name` at `address` on an edge link to `router`, `delay_ms` each way.
fn edge(builder: Builder, name: &str, address: &str, router: &str, delay_ms: u64) -> Builder {
    builder
        .host(name, address)
        .link(name, router, link(1_000_000_000, delay_ms, 10_000))
}

/// `builder` with `flows` numbered pairs, each sender behind router `left` and its receiver
/// behind `right`, on 1 ms edges.
fn pairs(mut builder: Builder, flows: usize) -> Builder {
    for flow in 1..=flows {
        let (sender, receiver) = (format!("sender{flow}"), format!("receiver{flow}"));
        builder = edge(builder, &sender, &format!("10.1.1.{flow}"), "left", 1);
        builder = edge(builder, &receiver, &format!("10.2.1.{flow}"), "right", 1);
    }
    builder
}

/// The dumbbell with `flows` pairs: 1 ms edges, 8 ms on the bottleneck, each way.
fn dumbbell(flows: usize, config: Config) -> World {
    let builder = World::builder()
        .seed(1)
        .connection_config(config)
        .router("left", "10.1.0.1")
        .router("right", "10.2.0.1")
        .link("left", "right", link(RATE_BPS, 8, bdp_queue(RATE_BPS)))
        .route("left", "10.2.0.0/16", "right")
        .route("right", "10.1.0.0/16", "left");
    pairs(builder, flows).build().expect("a valid dumbbell")
}

/// Two links in tandem, 4 ms each way, with `through` pairs across both and the cross pair
/// (`cross-sender`, `cross-receiver`: a 5 ms edge, so its round trip is 20 ms too) across
/// the first.
fn tandem(through: usize, config: Config) -> World {
    let mut builder = World::builder()
        .seed(1)
        .connection_config(config)
        .router("left", "10.1.0.1")
        .router("mid", "10.3.0.1")
        .router("right", "10.2.0.1")
        .link("left", "mid", link(RATE_BPS, 4, bdp_queue(RATE_BPS)))
        .link(
            "mid",
            "right",
            link(SECOND_RATE_BPS, 4, bdp_queue(SECOND_RATE_BPS)),
        )
        .route("left", "0.0.0.0/0", "mid")
        .route("mid", "10.1.0.0/16", "left")
        .route("mid", "10.2.0.0/16", "right")
        .route("right", "0.0.0.0/0", "mid");
    builder = edge(builder, "cross-sender", "10.1.2.1", "left", 1);
    builder = edge(builder, "cross-receiver", "10.3.2.1", "mid", 5);
    pairs(builder, through).build().expect("a valid tandem")
}

/// Run a bulk flow from each sender to its receiver for `seconds`: the flows' reports (every
/// one finished) and the wall time.
fn run(world: &mut World, pairs: &[(String, String)], seconds: u64) -> (Vec<FlowReport>, f64) {
    let log = Flows::default();
    for (sender, receiver) in pairs {
        let server = BuiltIn::BulkReceive { port: PORT };
        world
            .builtin(receiver, Duration::ZERO, server, &log)
            .unwrap();
        let client = BuiltIn::BulkSend {
            to: format!("{receiver}:{PORT}"),
            amount: Amount::For(Duration::from_secs(seconds)),
        };
        world.builtin(sender, Duration::ZERO, client, &log).unwrap();
    }
    let started = now();
    world.run().expect("the run ends");
    let wall_seconds = started.elapsed().as_secs_f64();
    let reports = log.reports();
    for report in &reports {
        assert!(
            report.ended.is_some(),
            "{}: {:?}",
            report.name(),
            report.error
        );
    }
    (reports, wall_seconds)
}

/// The numbered pairs `sender{i}`, `receiver{i}`.
fn numbered_pairs(flows: usize) -> Vec<(String, String)> {
    (1..=flows)
        .map(|flow| (format!("sender{flow}"), format!("receiver{flow}")))
        .collect()
}

/// What `flows` delivered together per second of the time from the first starting to the
/// last ending, in Mbit/s (a sum of their goodputs, each over its own time, could exceed the
/// link: a flow that ended early had the link to itself for a while).
fn total_goodput_mbps<'a>(flows: impl Iterator<Item = &'a FlowReport> + Clone) -> f64 {
    let start = flows.clone().map(|flow| flow.started).min().unwrap();
    let end = flows.clone().filter_map(|flow| flow.ended).max().unwrap();
    let bytes: u64 = flows.map(|flow| flow.bytes).sum();
    bytes as f64 * 8.0 / (end - start).as_secs_f64() / 1e6
}

fn sum_stats(reports: &[FlowReport], field: fn(&ferry::Stats) -> u64) -> u64 {
    reports
        .iter()
        .filter_map(|r| r.stats.as_ref())
        .map(field)
        .sum()
}

fn dumbbell_row(mode: &str, flows: usize, config: &Config, seconds: u64) {
    let mut world = dumbbell(flows, config.clone());
    let (reports, wall) = run(&mut world, &numbered_pairs(flows), seconds);
    let shared = shared_links(&world, &reports);
    let bottleneck = shared
        .iter()
        .find(|link| link.from == "left" && link.to == "right")
        .expect("every flow crosses the bottleneck");
    println!(
        "| {mode} | {flows} | {:.1} | {:.3} | {:.1}% | {} | {} | {} | {wall:.1} |",
        total_goodput_mbps(reports.iter()),
        bottleneck.jain_index.unwrap_or(0.0),
        bottleneck.busy.unwrap_or(0.0) * 100.0,
        bottleneck.report.link.queue_drops,
        sum_stats(&reports, |stats| stats.retransmissions.total()),
        sum_stats(&reports, |stats| stats.rto_timeouts),
    );
}

fn tandem_row(mode: &str, through: usize, config: &Config, seconds: u64) {
    let mut world = tandem(through, config.clone());
    let mut pairs = numbered_pairs(through);
    pairs.push(("cross-sender".into(), "cross-receiver".into()));
    let (reports, wall) = run(&mut world, &pairs, seconds);
    let is_cross = |flow: &&FlowReport| flow.host == "cross-sender";
    let first = world.link_stats("left", "mid").unwrap().link;
    let second = world.link_stats("mid", "right").unwrap().link;
    // Each group over its own time: the through flows' last bytes drain through the slow
    // link after the cross flow has ended.
    let through_goodput = total_goodput_mbps(reports.iter().filter(|flow| !is_cross(flow)));
    let cross_goodput = total_goodput_mbps(reports.iter().filter(is_cross));
    println!(
        "| {mode} | {through} | {through_goodput:.1} | {cross_goodput:.1} | {:.1} | {:.1}% | \
         {wall:.1} |",
        through_goodput + cross_goodput,
        second.queue_drops as f64 * 100.0 / first.delivered as f64,
    );
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(60);
    let buffers = Config {
        send_buffer: ferry::SendBuffer::Fixed(1024 * 1024),
        recv_buffer: ferry::RecvBuffer::Fixed(1024 * 1024),
        ..Config::default()
    };
    let fixed = Config {
        congestion_control: CongestionControl::Fixed,
        ..buffers.clone()
    };
    let modes = [("NewReno", &buffers), ("fixed", &fixed)];

    println!(
        "The dumbbell: {} Mbit/s bottleneck, {} ms RTT, queue {} datagrams (one BDP), {seconds} \
         s, seed 1",
        RATE_BPS / 1_000_000,
        RTT.as_millis(),
        bdp_queue(RATE_BPS),
    );
    println!();
    println!(
        "| cc | flows | total goodput Mbit/s | Jain's index | bottleneck busy | queue drops | \
         retransmissions | RTOs | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (mode, config) in modes {
        for flows in FLOWS {
            dumbbell_row(mode, flows, config, seconds);
        }
    }
    println!();
    println!(
        "Two links in tandem: {} Mbit/s then {} Mbit/s (queues of one BDP: {} and {} \
         datagrams), {} ms RTT, one cross flow on the first link alone, {seconds} s, seed 1",
        RATE_BPS / 1_000_000,
        SECOND_RATE_BPS / 1_000_000,
        bdp_queue(RATE_BPS),
        bdp_queue(SECOND_RATE_BPS),
        RTT.as_millis(),
    );
    println!();
    println!(
        "| cc | through flows | through goodput Mbit/s | cross goodput Mbit/s | total Mbit/s | \
         first link's datagrams dropped by the second | wall s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (mode, config) in modes {
        for through in FLOWS {
            tandem_row(mode, through, config, seconds);
        }
    }
}
