//! The connection trace of a world run: every host's events, each naming its connection, two
//! connections of one host told apart, the NAT lecture's connection seen changing state, and
//! the same record from the same seed.

use super::{lecture_with_programs, send, sink, two_clients_router_server, Log};
use crate::conn::{State, TraceEvent};
use crate::link::LinkConfig;
use crate::sim::world::{World, WorldEvents};
use crate::wire::Flags;

/// Two clients through a router to one server, every connection traced.
fn two_clients_one_server(seed: u64) -> (World, Log) {
    let mut world = two_clients_router_server(seed, LinkConfig::default());
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    for client in ["one", "two"] {
        world
            .client(client, async move {
                send("server:80", &[7u8; 20_000]).await?;
                Ok(())
            })
            .unwrap();
    }
    world.record_events();
    (world, log)
}

#[test]
fn a_servers_two_connections_are_both_in_its_trace_each_named() {
    let (mut world, log) = two_clients_one_server(3);
    world.run().unwrap();
    assert_eq!(log.lines().len(), 2, "{:?}", log.lines());
    let events = world.take_events().expect("events were recorded");
    assert_eq!(events.hosts, ["one", "two", "server"]);
    assert_eq!(events.omitted, 0);
    let server: Vec<_> = events.events.iter().filter(|e| e.host == 2).collect();
    // Two connections, numbered 0 and 1, each from one client's address to the port.
    let mut peers: Vec<_> = server.iter().map(|e| (e.connection, e.peer.ip())).collect();
    peers.dedup();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert_eq!([peers[0].0, peers[1].0], [0, 1]);
    let clients = [[10, 0, 1, 2], [10, 0, 2, 2]].map(std::net::IpAddr::from);
    assert!(peers.iter().all(|(_, peer)| clients.contains(peer)));
    assert_ne!(peers[0].1, peers[1].1);
    for (connection, _) in &peers {
        let own: Vec<_> = server
            .iter()
            .filter(|e| e.connection == *connection)
            .collect();
        assert!(own.iter().all(|e| e.local.to_string() == "10.0.9.2:80"));
        // Each connection's life is there: the SYN-ACK out, the data in, the client's FIN
        // (the run ends when the clients have finished, before the server's close is done).
        assert!(own.iter().any(|e| matches!(e.traced.event,
            TraceEvent::Sent { flags, .. } if flags.contains(Flags::SYN | Flags::ACK))));
        assert!(own.iter().any(|e| matches!(e.traced.event,
            TraceEvent::Received { payload, .. } if payload > 0)));
        assert!(own.iter().any(|e| matches!(
            e.traced.event,
            TraceEvent::StateChanged {
                new: State::CloseWait,
                ..
            }
        )));
    }
    // Each client traced its own one connection, to the server's port, in time order.
    for client in [0, 1] {
        let own: Vec<_> = events.events.iter().filter(|e| e.host == client).collect();
        assert!(!own.is_empty());
        assert!(own
            .iter()
            .all(|e| e.connection == 0 && e.peer.to_string() == "10.0.9.2:80"));
        assert!(own
            .windows(2)
            .all(|pair| pair[0].traced.at <= pair[1].traced.at));
    }
}

/// The lecture's world with its programs, recording its trace, run.
fn lecture_events(seed: u64) -> WorldEvents {
    let mut world = lecture_with_programs(seed);
    world.record_events();
    world.run().unwrap();
    world.take_events().unwrap()
}

#[test]
fn the_lectures_trace_shows_peer_ones_connection_opening_and_closing() {
    let events = lecture_events(1);
    assert_eq!(events.hosts, ["peer1", "rendezvous", "peer2"]);
    let peer1 = events
        .hosts
        .iter()
        .position(|name| name == "peer1")
        .unwrap();
    let states: Vec<(State, State)> = events
        .events
        .iter()
        .filter(|e| e.host == peer1)
        .filter_map(|e| match e.traced.event {
            TraceEvent::StateChanged { old, new } => Some((old, new)),
            _ => None,
        })
        .collect();
    assert_eq!(states.first(), Some(&(State::Closed, State::SynSent)));
    assert_eq!(states.last().map(|(_, new)| *new), Some(State::Closed));
    // Peer 1 sees its peer at NAT 2's public address, from its own private one.
    let first = events.events.iter().find(|e| e.host == peer1).unwrap();
    assert_eq!(first.local.to_string(), "192.168.1.2:4000");
    assert_eq!(first.peer.ip(), std::net::IpAddr::from([4, 5, 6, 7]));
    // The rendezvous speaks plain UDP: no connection, no event.
    let rendezvous = events
        .hosts
        .iter()
        .position(|name| name == "rendezvous")
        .unwrap();
    assert!(events.events.iter().all(|e| e.host != rendezvous));
}

#[test]
fn recording_the_trace_changes_nothing_in_the_run() {
    let run = |record: bool| {
        let (mut world, log) = two_clients_one_server(4);
        if !record {
            world.take_events();
        }
        world.run().unwrap();
        (
            log.lines(),
            world.now(),
            world.host_stats("server").unwrap(),
        )
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn the_same_seed_records_the_same_trace() {
    assert_eq!(lecture_events(5), lecture_events(5));
    let run = |seed| {
        let (mut world, _) = two_clients_one_server(seed);
        world.run().unwrap();
        world.take_events().unwrap()
    };
    assert_eq!(run(9), run(9));
}
