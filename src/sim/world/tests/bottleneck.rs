//! Several flows through one bottleneck link: each arrives intact, the bottleneck's queue
//! overflows and drops (the flows' congestion control backs off), the link is busy, and
//! flows of equal round trips share it fairly.

use std::time::Duration;

use super::{pattern, send, sink, Log};
use crate::conn::Config;
use crate::link::LinkConfig;
use crate::sim::world::{shared_links, Amount, BuiltIn, Flows, World};

/// A dumbbell: `flows` senders behind router `left`, as many receivers behind `right`, the
/// two routers joined by a 2 Mbit/s link with a queue of 20 datagrams; 100 Mbit/s edges.
fn dumbbell(flows: usize, seed: u64) -> World {
    dumbbell_of(flows, seed, 2_000_000, 20, Config::default())
}

/// A dumbbell whose bottleneck sends `rate_bps` behind a queue of `queue` datagrams, 10 ms
/// each way (a 24 ms round trip with the edges), every connection set by `connection`.
fn dumbbell_of(flows: usize, seed: u64, rate_bps: u64, queue: usize, connection: Config) -> World {
    let edge = LinkConfig {
        rate_bps: Some(100_000_000),
        delay: Duration::from_millis(1),
        queue_limit: 1000,
        ..LinkConfig::default()
    };
    let bottleneck = LinkConfig {
        rate_bps: Some(rate_bps),
        delay: Duration::from_millis(10),
        queue_limit: queue,
        ..LinkConfig::default()
    };
    let mut builder = World::builder()
        .seed(seed)
        .connection_config(connection)
        .router("left", "10.1.0.1")
        .router("right", "10.2.0.1")
        .link("left", "right", bottleneck)
        .route("left", "10.2.0.0/16", "right")
        .route("right", "10.1.0.0/16", "left");
    for flow in 0..flows {
        let sender = format!("sender{flow}");
        let receiver = format!("receiver{flow}");
        builder = builder
            .host(&sender, &format!("10.1.1.{}", flow + 1))
            .host(&receiver, &format!("10.2.1.{}", flow + 1))
            .link(&sender, "left", edge.clone())
            .link("right", &receiver, edge.clone());
    }
    builder.build().expect("a valid dumbbell")
}

#[test]
fn flows_sharing_a_bottleneck_all_arrive_and_fill_its_queue() {
    let flows = 4;
    let bytes = 150_000;
    let mut world = dumbbell(flows, 11);
    let log = Log::default();
    for flow in 0..flows {
        sink(&mut world, &format!("receiver{flow}"), 5000, &log);
        let target = format!("receiver{flow}:5000");
        world
            .client(&format!("sender{flow}"), async move {
                send(&target, &pattern(bytes, flow as u8)).await?;
                Ok(())
            })
            .unwrap();
    }
    world.run().unwrap();
    let mut lines = log.lines();
    lines.sort();
    assert_eq!(lines.len(), flows, "{lines:?}");
    for (flow, line) in lines.iter().enumerate() {
        let expected = format!("received {bytes} bytes from 10.1.1.{}", flow + 1);
        assert!(line.starts_with(&expected), "{line}");
    }
    let bottleneck = world.link_stats("left", "right").unwrap().link;
    assert!(bottleneck.queue_drops > 0, "{bottleneck:?}");
    // 4 x 150 kB at 2 Mbit/s take 2.4 s at the least; the flows share the link well enough
    // to finish within twice that.
    let finished = world.now();
    assert!(finished > Duration::from_millis(2400), "{finished:?}");
    assert!(finished < Duration::from_millis(4800), "{finished:?}");
    let forwarded = world.router_stats("left").unwrap().forwarded;
    assert!(forwarded >= bottleneck.delivered, "{forwarded}");
}

#[test]
fn a_path_follows_the_routes_to_the_far_host() {
    let world = dumbbell(2, 1);
    let path = world.path("sender1", "10.2.1.2".parse().unwrap()).unwrap();
    let hops: Vec<(&str, &str)> = path
        .iter()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect();
    assert_eq!(
        hops,
        [
            ("sender1", "left"),
            ("left", "right"),
            ("right", "receiver1")
        ]
    );
    // No route beyond `left` for 192.0.2.1: the path ends there.
    let path = world.path("sender0", "192.0.2.1".parse().unwrap()).unwrap();
    assert_eq!(path, [("sender0".to_string(), "left".to_string())]);
}

/// Equal-RTT NewReno flows through a drop-tail bottleneck share it fairly and keep it busy
/// (issue 19's fairness figures, docs/performance.md, in a smaller dumbbell: 20 Mbit/s, a
/// queue of one bandwidth-delay product, 8 simulated seconds). Windows are raised so that
/// congestion control, not the receiver's 64 KiB, limits each flow.
#[test]
fn equal_round_trip_flows_share_a_bottleneck_fairly_and_keep_it_busy() {
    let flows = 4;
    // 20 Mbit/s x 24 ms = 60 kB, 49 full datagrams.
    let config = Config {
        send_buffer: 512 * 1024,
        recv_buffer: 512 * 1024,
        ..Config::default()
    };
    let mut world = dumbbell_of(flows, 3, 20_000_000, 49, config);
    let log = Flows::default();
    for flow in 0..flows {
        let receiver = format!("receiver{flow}");
        let server = BuiltIn::BulkReceive { port: 5000 };
        world
            .builtin(&receiver, Duration::ZERO, server, &log)
            .unwrap();
        let sender = BuiltIn::BulkSend {
            to: format!("{receiver}:5000"),
            amount: Amount::For(Duration::from_secs(8)),
        };
        world
            .builtin(&format!("sender{flow}"), Duration::ZERO, sender, &log)
            .unwrap();
    }
    world.run().unwrap();
    let reports = log.reports();
    let shared = shared_links(&world, &reports);
    let [bottleneck] = shared.as_slice() else {
        panic!("the flows share the bottleneck alone: {shared:?}");
    };
    assert_eq!(
        (bottleneck.from.as_str(), bottleneck.to.as_str()),
        ("left", "right")
    );
    assert_eq!(bottleneck.flows, [0, 1, 2, 3]);
    assert!(bottleneck.report.link.queue_drops > 0, "{bottleneck:?}");
    let jain = bottleneck.jain_index.unwrap();
    let busy = bottleneck.busy.unwrap();
    assert!(jain > 0.9, "Jain's index {jain}");
    assert!(busy > 0.85, "busy {busy}");
}
