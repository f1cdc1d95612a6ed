//! Several flows through one bottleneck link: each arrives intact, the bottleneck's queue
//! overflows and drops (the flows' congestion control backs off), and the link is busy.

use std::time::Duration;

use super::{pattern, send, sink, Log};
use crate::link::LinkConfig;
use crate::sim::world::World;

/// A dumbbell: `flows` senders behind router `left`, as many receivers behind `right`, the
/// two routers joined by a 2 Mbit/s link with a queue of 20 datagrams; 100 Mbit/s edges.
fn dumbbell(flows: usize, seed: u64) -> World {
    let edge = LinkConfig {
        rate_bps: Some(100_000_000),
        delay: Duration::from_millis(1),
        queue_limit: 1000,
        ..LinkConfig::default()
    };
    let bottleneck = LinkConfig {
        rate_bps: Some(2_000_000),
        delay: Duration::from_millis(10),
        queue_limit: 20,
        ..LinkConfig::default()
    };
    let mut builder = World::builder()
        .seed(seed)
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
