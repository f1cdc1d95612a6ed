//! A program written for `ferry::tokio` runs on the simulated world with its imports
//! changed: the example `world_echo`'s echo service, compiled here for the world, serves
//! three clients through a router, one of them over a link that loses 10%, and repeats
//! exactly from its seed.

#[path = "../examples/world_echo/on_world.rs"]
mod on_world;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ferry::link::LinkConfig;
use ferry::sim::world::World;

/// The example's world: the replies each client got, and how long the run took.
fn run(seed: u64) -> (Vec<(String, Vec<String>)>, Duration) {
    let lossy = LinkConfig {
        faults: "loss=10%".parse().unwrap(),
        ..LinkConfig::default()
    };
    let mut world = World::builder()
        .seed(seed)
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("router", "server", LinkConfig::default())
        .host("alice", "10.0.2.2")
        .host("bob", "10.0.3.2")
        .link("alice", "router", LinkConfig::default())
        .link("bob", "router", lossy)
        .build()
        .unwrap();
    world
        .host("server", || async {
            let listener = on_world::rt::Listener::bind("0.0.0.0:7").await?;
            on_world::echo::serve(listener).await?;
            Ok(())
        })
        .unwrap();
    let replies = Rc::new(RefCell::new(Vec::new()));
    for client in ["alice", "bob"] {
        let replies = Rc::clone(&replies);
        world
            .client(client, async move {
                let server = "10.0.1.2:7".parse()?;
                let lines: Vec<String> =
                    (0..20).map(|i| format!("line {i} from {client}")).collect();
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                let (got, _took) = on_world::echo::ask(server, &lines).await?;
                replies.borrow_mut().push((client.to_string(), got));
                Ok(())
            })
            .unwrap();
    }
    world.run().unwrap();
    let replies = replies.borrow().clone();
    (replies, world.now())
}

#[test]
fn the_tokio_program_runs_on_the_world_and_repeats_from_its_seed() {
    let (replies, took) = run(9);
    assert_eq!(replies.len(), 2);
    for (client, got) in &replies {
        let expected: Vec<String> = (0..20)
            .map(|i| format!("LINE {i} FROM {}", client.to_uppercase()))
            .collect();
        assert_eq!(got, &expected, "{client}");
    }
    assert_eq!(run(9), (replies, took));
}
