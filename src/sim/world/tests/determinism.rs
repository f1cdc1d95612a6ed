//! A world is a pure function of its seed and description: a busy one (several hosts, a
//! router, lossy links, several flows, a crash and a restart) run twice gives the same
//! program outputs and the same captures, byte for byte, at every tapped interface.

use std::time::Duration;

use super::{capture, pattern, send, sink, Log, Memory};
use crate::capture::View;
use crate::link::LinkConfig;
use crate::sim::world::{Control, Cut, Scheduled, World};

/// The busy world, run: every capture's bytes and the programs' log.
fn busy_world(seed: u64) -> (Vec<Vec<u8>>, Vec<String>) {
    let lossy = LinkConfig {
        faults: "loss=3%,dup=1%,reorder=2%,flip=1e-6".parse().unwrap(),
        ..LinkConfig::default()
    };
    let mut world = World::builder()
        .seed(seed)
        .router("router", "10.0.0.1")
        .host("a", "10.0.1.2")
        .host("b", "10.0.2.2")
        .host("c", "10.0.3.2")
        .host("server", "10.0.9.2")
        .host("backup", "10.0.8.2")
        .link("a", "router", lossy.clone())
        .link("b", "router", lossy.clone())
        .link("c", "router", lossy)
        .link("router", "server", LinkConfig::default())
        .link("router", "backup", LinkConfig::default())
        .build()
        .unwrap();
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    sink(&mut world, "backup", 80, &log);
    for (flow, name) in ["a", "b", "c"].into_iter().enumerate() {
        let log = log.clone();
        world
            .client(name, async move {
                let outcome = send("server:80", &pattern(60_000, flow as u8)).await;
                let second = send("backup:80", &pattern(30_000, flow as u8)).await;
                log.push(format!(
                    "{name}: {:?} then {:?}",
                    outcome.map_err(|e| e.kind()),
                    second.map_err(|e| e.kind())
                ));
                Ok(())
            })
            .unwrap();
    }
    world
        .schedule([
            Scheduled::at(
                Duration::from_millis(300),
                Control::Crash("server".to_string()),
            ),
            Scheduled::at(
                Duration::from_millis(900),
                Control::Restart("server".to_string()),
            ),
            // While b sends to the backup, after the crash reset its first connection.
            Scheduled::at(
                Duration::from_millis(1100),
                Control::Hold(Cut::hosts("b", "backup")),
            ),
            Scheduled::at(
                Duration::from_millis(1300),
                Control::Release(Cut::hosts("b", "backup")),
            ),
        ])
        .unwrap();
    let memories: Vec<Memory> = (0..5).map(|_| Memory::default()).collect();
    let taps = [
        ("a", "router", View::Ferry),
        ("router", "a", View::Ferry),
        ("router", "server", View::Tcp),
        ("server", "router", View::Ferry),
        ("backup", "router", View::Tcp),
    ];
    for ((node, neighbor, view), memory) in taps.into_iter().zip(&memories) {
        world
            .capture(node, neighbor, capture(memory, view))
            .unwrap();
    }
    world.run().unwrap();
    world.finish_captures().unwrap();
    let mut lines = log.lines();
    lines.push(format!(
        "ended at {:?} after {} events",
        world.now(),
        world.events()
    ));
    let captures = memories.iter().map(Memory::bytes).collect();
    (captures, lines)
}

#[test]
fn the_same_seed_gives_the_same_run_byte_for_byte() {
    let (captures, lines) = busy_world(2024);
    // Something happened: every tap saw traffic, the crash cost some flow its connection.
    assert!(
        captures.iter().all(|capture| capture.len() > 10_000),
        "{:?}",
        captures.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(lines.len() > 3, "{lines:?}");
    let (again, lines_again) = busy_world(2024);
    assert_eq!(lines, lines_again);
    for (index, (first, second)) in captures.iter().zip(&again).enumerate() {
        assert!(first == second, "capture {index} differs");
    }
    let (other, _) = busy_world(2025);
    assert!(captures != other, "another seed, another run");
}
