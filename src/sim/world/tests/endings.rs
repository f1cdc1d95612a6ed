//! Endings that are not clean: a program that panics or fails, a run that never ends (by
//! simulated time, by its event budget, or gone quiet), and descriptions that cannot be. Each
//! error says what happened, where, and the seed and time to replay it.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::client_router_server;
use crate::link::LinkConfig;
use crate::sim::world::net::{Listener, Stream};
use crate::sim::world::{yield_now, ConfigError, Control, Cut, RunError, Waiting, World};

/// A server that accepts and then never writes, and a client that reads from it.
fn reader_of_silence(world: &mut World) {
    world
        .host("server", || async {
            let listener = Listener::bind("0.0.0.0:80").await?;
            let (_stream, _) = listener.accept().await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .unwrap();
    world
        .client("client", async {
            let mut stream = Stream::connect("server:80").await?;
            let mut buf = [0u8; 16];
            let _never = stream.read_exact(&mut buf).await?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_panicking_program_ends_the_run_with_its_host_seed_and_time() {
    let mut world = client_router_server(77, LinkConfig::default());
    world
        .host("server", || async {
            let listener = Listener::bind("0.0.0.0:80").await?;
            let _ = listener.accept().await?;
            panic!("the server gave up");
        })
        .unwrap();
    world
        .client("client", async {
            let _stream = Stream::connect("server:80").await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .unwrap();
    let error = world.run().unwrap_err();
    let RunError::Panicked {
        host,
        task,
        message,
        seed,
        at,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((host.as_str(), task.as_str()), ("server", "program"));
    assert_eq!((message.as_str(), *seed), ("the server gave up", 77));
    // The handshake's final ACK reaches the server after a round trip and a half.
    assert!(*at >= Duration::from_millis(120) && *at < Duration::from_millis(121));
    assert!(error.to_string().contains("seed 77"), "{error}");
    // The world stays stopped: a second run reports the same.
    assert_eq!(world.run().unwrap_err(), error);
}

#[test]
fn a_failing_program_ends_the_run_with_its_error() {
    let mut world = client_router_server(3, LinkConfig::default());
    world
        .client("client", async {
            Stream::connect("server:80").await?;
            Ok(())
        })
        .unwrap();
    let error = world.run().unwrap_err();
    assert!(
        matches!(&error, RunError::Failed { host, .. } if host == "client"),
        "{error}"
    );
    assert!(error.to_string().contains("refused"), "{error}");
}

#[test]
fn a_run_that_never_ends_stops_at_the_time_limit_and_says_who_waits() {
    let mut world = World::builder()
        .host("client", "10.0.0.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("client", "router", LinkConfig::default())
        .link("router", "server", LinkConfig::default())
        .time_limit(Duration::from_secs(60))
        .build()
        .unwrap();
    reader_of_silence(&mut world);
    let error = world.run().unwrap_err();
    let RunError::TimeLimit { limit, waiting, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(*limit, Duration::from_secs(60));
    // The keepalives kept the world busy; both programs still wait.
    assert_eq!(
        waiting,
        &[
            Waiting {
                host: "server".to_string(),
                task: "program".to_string(),
                on: "something outside the world's sockets and timers (a channel, a lock, ...)"
                    .to_string(),
            },
            Waiting {
                host: "client".to_string(),
                task: "program".to_string(),
                on: "read from 10.0.1.2:80".to_string(),
            },
        ]
    );
}

#[test]
fn a_program_that_never_waits_spends_the_event_budget() {
    let mut world = World::builder()
        .host("client", "10.0.0.2")
        .event_budget(10_000)
        .build()
        .unwrap();
    world
        .client("client", async {
            loop {
                yield_now().await;
            }
        })
        .unwrap();
    let error = world.run().unwrap_err();
    assert!(
        matches!(&error, RunError::EventBudget { budget: 10_000, at, .. } if at.is_zero()),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("client (program) waits for nothing: it was ready to run"),
        "{error}"
    );
}

#[test]
fn a_world_gone_quiet_with_clients_waiting_has_stalled() {
    let mut world = World::builder().host("client", "10.0.0.2").build().unwrap();
    world
        .client("client", async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .unwrap();
    let error = world.run().unwrap_err();
    assert!(matches!(error, RunError::Stalled { .. }), "{error}");
}

#[test]
fn descriptions_that_cannot_be_say_what_is_valid() {
    let error = World::builder()
        .host("a", "10.0.0.1")
        .host("b", "10.0.0.1")
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::DuplicateAddress { .. }));
    assert_eq!(
        error.to_string(),
        "10.0.0.1 is given to both \"a\" and \"b\": each address belongs to one node"
    );
    let error = World::builder()
        .host("a", "10.0.0.1")
        .link("a", "nowhere", LinkConfig::default())
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no node is named \"nowhere\"; the nodes are: a"
    );
    let error = World::builder().host("a", "10.0.0").build().unwrap_err();
    assert!(error.to_string().contains("expected IPv4"), "{error}");
    let error = World::builder()
        .host("a", "10.0.0.1")
        .connection_config(crate::conn::Config {
            mss: 0,
            ..crate::conn::Config::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the connection settings: mss = 0 cannot work: it must be from 1 to 65535 bytes"
    );
    let error = World::builder()
        .host("a", "10.0.0.1")
        .host("a", "10.0.0.2")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, ConfigError::DuplicateName { .. }),
        "{error}"
    );
    let error = World::builder()
        .host("a", "10.0.0.1")
        .router("r", "10.0.0.2")
        .host("b", "10.0.0.3")
        .link("a", "r", LinkConfig::default())
        .route("r", "10.9.0.0/16", "b")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a route of \"r\" goes via \"b\", which no link joins to it; its neighbors are: a"
    );
    let mut world = client_router_server(1, LinkConfig::default());
    let error = world.client("router", async { Ok(()) }).unwrap_err();
    assert!(
        error.to_string().contains("the hosts are: client, server"),
        "{error}"
    );
    let error = world
        .control(Control::Partition(Cut::link("client", "server")))
        .unwrap_err();
    assert_eq!(error.to_string(), "no link joins \"client\" and \"server\"");
}
