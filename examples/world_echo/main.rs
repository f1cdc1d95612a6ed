//! One program, two runtimes: the uppercase echo of `echo.rs` on the simulated world (three
//! clients through a router, one of them over a link that loses 10%), and, with the `tokio`
//! feature, the same code on real loopback sockets.
//!
//! ```sh
//! cargo run --example world_echo                          # in the simulated world
//! cargo run --features tokio --example world_echo -- tokio   # on ferry::tokio, over loopback
//! ```
//!
//! The only difference between the two is the `rt` module each compiles `echo.rs` with: where
//! `Stream`, `Listener`, `spawn`, `sleep`, `timeout` and `Instant` come from.

// Compiling `echo.rs` once per runtime is the point of the example.
#![allow(clippy::duplicate_mod)]

#[cfg(feature = "tokio")]
mod on_tokio;
mod on_world;

use ferry::link::LinkConfig;
use ferry::sim::world::World;

const LINES: [&str; 3] = ["hello", "from", "the world"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        None | Some("world") => in_the_world(),
        Some("tokio") => on_real_sockets(),
        Some(other) => Err(format!("unknown runtime {other:?}: expected world or tokio").into()),
    }
}

fn in_the_world() -> Result<(), Box<dyn std::error::Error>> {
    let lossy = LinkConfig {
        faults: "loss=10%".parse()?,
        ..LinkConfig::default()
    };
    let mut world = World::builder()
        .seed(1)
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("router", "server", LinkConfig::default())
        .host("alice", "10.0.2.2")
        .host("bob", "10.0.3.2")
        .host("carol", "10.0.4.2")
        .link("alice", "router", LinkConfig::default())
        .link("bob", "router", LinkConfig::default())
        .link("carol", "router", lossy)
        .build()?;
    world.host("server", || async {
        let listener = on_world::rt::Listener::bind("0.0.0.0:7").await?;
        on_world::echo::serve(listener).await?;
        Ok(())
    })?;
    for client in ["alice", "bob", "carol"] {
        world.client(client, async move {
            let server = "10.0.1.2:7".parse()?;
            let (replies, took) = on_world::echo::ask(server, &LINES).await?;
            println!("{client}: {replies:?} in {took:?} of simulated time");
            Ok(())
        })?;
    }
    world.run()?;
    println!("the world ran for {:?} of simulated time", world.now());
    Ok(())
}

#[cfg(feature = "tokio")]
fn on_real_sockets() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = on_tokio::rt::Listener::bind("127.0.0.1:0").await?;
        let server = listener.local_addr()?;
        tokio::spawn(on_tokio::echo::serve(listener));
        let (replies, took) = on_tokio::echo::ask(server, &LINES).await?;
        println!("loopback: {replies:?} in {took:?}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

#[cfg(not(feature = "tokio"))]
fn on_real_sockets() -> Result<(), Box<dyn std::error::Error>> {
    Err("the tokio runtime needs the tokio feature: cargo run --features tokio --example world_echo -- tokio".into())
}
