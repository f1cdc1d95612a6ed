//! NATs in a world: the lecture's worked example (two peers behind port-preserving NATs, the
//! first datagram dropped, the second through) with both mapping tables and the captures on
//! both sides of a NAT; a Ferry connection out through each preset, and in only where a
//! mapping lets it; an ICMP error through a NAT; hairpinning; a random-port NAT's ports a
//! function of the world's seed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{capture, host_with_log, Log, Memory};
use crate::capture::tests::read_packets;
use crate::capture::View;
use crate::link::LinkConfig;
use crate::sim::world::net::{Listener, Stream, UdpSocket};
use crate::sim::world::time::{sleep, timeout, Instant};
use crate::sim::world::{ConfigError, Nat, NatConfig, Preset, World};

/// The lecture's world, and a public server:
///
/// ```text
/// peer1 192.168.1.2 - nat1 1.2.3.4 - internet 7.7.7.1 - nat2 4.5.6.7 - peer2 10.0.0.2
///   (peer3 192.168.1.3 -/)              |
///                               server 7.7.7.7
/// ```
///
/// Every link 10 Mbit/s and 20 ms each way.
fn two_nats(seed: u64, nat1: impl Into<NatConfig>, nat2: impl Into<NatConfig>) -> World {
    World::builder()
        .seed(seed)
        .host("peer1", "192.168.1.2")
        .host("peer3", "192.168.1.3")
        .router("nat1", "1.2.3.4")
        .address("nat1", "192.168.1.1")
        .router("internet", "7.7.7.1")
        .host("server", "7.7.7.7")
        .router("nat2", "4.5.6.7")
        .address("nat2", "10.0.0.1")
        .host("peer2", "10.0.0.2")
        .link("peer1", "nat1", LinkConfig::default())
        .link("peer3", "nat1", LinkConfig::default())
        .link("nat1", "internet", LinkConfig::default())
        .link("internet", "server", LinkConfig::default())
        .link("internet", "nat2", LinkConfig::default())
        .link("nat2", "peer2", LinkConfig::default())
        .route("nat1", "0.0.0.0/0", "internet")
        .route("nat2", "0.0.0.0/0", "internet")
        .route("internet", "1.2.3.4/32", "nat1")
        .route("internet", "4.5.6.7/32", "nat2")
        .middlebox("nat1", Nat::new("internet", nat1))
        .middlebox("nat2", Nat::new("internet", nat2))
        .build()
        .expect("a valid world")
}

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The UDP endpoints of each IPv4 packet of a capture, with its comments (past the note a
/// capture silent at the start begins with).
fn udp_packets(memory: &Memory) -> Vec<(SocketAddr, SocketAddr, Vec<String>)> {
    read_packets(&memory.bytes())
        .into_iter()
        .filter(|(_, frame, _)| frame[12..14] == [0x08, 0x00])
        .map(|(_, frame, comments)| {
            let ip = &frame[14..];
            let endpoint = |address: usize, port: usize| {
                let octets: [u8; 4] = ip[address..address + 4].try_into().unwrap();
                SocketAddr::from((octets, u16::from_be_bytes([ip[port], ip[port + 1]])))
            };
            (endpoint(12, 20), endpoint(16, 22), comments)
        })
        .collect()
}

#[test]
fn the_lectures_example_first_datagram_dropped_at_nat_2_then_the_second_gets_through() {
    let mut world = two_nats(1, Preset::PortRestrictedCone, Preset::PortRestrictedCone);
    let log = Log::default();
    let peer1_log = log.clone();
    world
        .client("peer1", async move {
            let socket = UdpSocket::bind("0.0.0.0:4000").await?;
            // Step 1: to peer 2's public endpoint, which the rendezvous would have told it.
            socket
                .send_to(b"1: hello from peer 1", "4.5.6.7:5000")
                .await?;
            let mut buf = [0; 64];
            let (count, from) = socket.recv_from(&mut buf).await?;
            peer1_log.push(format!(
                "peer 1 received {:?} from {from}",
                String::from_utf8_lossy(&buf[..count])
            ));
            // Step 3: both mappings are open now.
            socket.send_to(b"3: hello again", from).await?;
            Ok(())
        })
        .unwrap();
    let peer2_log = log.clone();
    world
        .client("peer2", async move {
            let socket = UdpSocket::bind("0.0.0.0:5000").await?;
            // Step 2, a second later.
            sleep(Duration::from_secs(1)).await;
            socket
                .send_to(b"2: hello from peer 2", "1.2.3.4:4000")
                .await?;
            let mut buf = [0; 64];
            let (count, from) = socket.recv_from(&mut buf).await?;
            peer2_log.push(format!(
                "peer 2 received {:?} from {from}",
                String::from_utf8_lossy(&buf[..count])
            ));
            Ok(())
        })
        .unwrap();
    let taps = [
        ("nat1", "peer1"),
        ("nat1", "internet"),
        ("nat2", "internet"),
    ]
    .map(|(node, neighbor)| {
        let memory = Memory::default();
        world
            .capture(node, neighbor, capture(&memory, View::Ferry))
            .unwrap();
        memory
    });
    let tables = |world: &World| {
        format!(
            "{}{}",
            world.nat_table("nat1").unwrap(),
            world.nat_table("nat2").unwrap()
        )
    };

    // Step 1: peer 1's datagram creates the mapping in NAT 1.2.3.4, and NAT 4.5.6.7, which
    // has none, drops it.
    world.run_until(Duration::from_millis(500)).unwrap();
    let after_step_1 = tables(&world);
    assert_eq!(
        after_step_1,
        "NAT 1.2.3.4 (port-restricted cone) at 0.500000 s:\n\
        \x20 internal          external      remote        expires\n\
        \x20 192.168.1.2:4000  1.2.3.4:4000  4.5.6.7:5000  120.020016 s\n\
         NAT 4.5.6.7 (port-restricted cone) at 0.500000 s:\n\
        \x20 no mappings\n"
    );
    assert_eq!(
        world.router_stats("nat2").unwrap().middlebox_drops["no mapping"],
        1
    );
    assert!(log.lines().is_empty());

    // Step 2: peer 2's datagram to 1.2.3.4:4000 gets through: it comes from the endpoint
    // peer 1 sent to, which NAT 1.2.3.4's filter admits.
    world.run_until(Duration::from_millis(1500)).unwrap();
    let after_step_2 = tables(&world);
    assert_eq!(
        after_step_2,
        "NAT 1.2.3.4 (port-restricted cone) at 1.500000 s:\n\
        \x20 internal          external      remote        expires\n\
        \x20 192.168.1.2:4000  1.2.3.4:4000  4.5.6.7:5000  121.100075 s\n\
         NAT 4.5.6.7 (port-restricted cone) at 1.500000 s:\n\
        \x20 internal       external      remote        expires\n\
        \x20 10.0.0.2:5000  4.5.6.7:5000  1.2.3.4:4000  121.020016 s\n"
    );
    world.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "peer 1 received \"2: hello from peer 2\" from 4.5.6.7:5000",
            "peer 2 received \"3: hello again\" from 1.2.3.4:4000",
        ]
    );
    println!("After step 1:\n{after_step_1}\nAfter steps 2 and 3:\n{after_step_2}");

    // Nobody sends again: by 122 s both mappings have expired (at 121.100075 s and
    // 121.020016 s: inbound traffic refreshes nothing).
    world.run_until(Duration::from_secs(122)).unwrap();
    assert_eq!(
        tables(&world),
        "NAT 1.2.3.4 (port-restricted cone) at 122.000000 s:\n  no mappings\n\
         NAT 4.5.6.7 (port-restricted cone) at 122.000000 s:\n  no mappings\n"
    );

    // The captures on both sides of NAT 1.2.3.4 show the rewrite; NAT 4.5.6.7's outside
    // shows the first datagram dropped, and why.
    world.finish_captures().unwrap();
    let [nat1_inside, nat1_outside, nat2_outside] = taps.map(|memory| udp_packets(&memory));
    assert_eq!(
        nat1_inside[0],
        (at("192.168.1.2:4000"), at("4.5.6.7:5000"), Vec::new())
    );
    assert_eq!(
        nat1_outside[0],
        (
            at("1.2.3.4:4000"),
            at("4.5.6.7:5000"),
            vec![
                "NAT 1.2.3.4 rewrote 192.168.1.2:4000 > 4.5.6.7:5000 to 1.2.3.4:4000 > \
                 4.5.6.7:5000"
                    .to_string()
            ]
        )
    );
    assert_eq!(
        nat2_outside[0],
        (
            at("1.2.3.4:4000"),
            at("4.5.6.7:5000"),
            vec!["dropped by NAT 4.5.6.7: no mapping for 1.2.3.4:4000".to_string()]
        )
    );
    // Step 2 crosses NAT 4.5.6.7 outward and NAT 1.2.3.4 inward; step 3 both the other way.
    assert_eq!(nat2_outside.len(), 3);
    assert_eq!(
        (nat2_outside[1].0, nat2_outside[1].1),
        (at("4.5.6.7:5000"), at("1.2.3.4:4000"))
    );
    assert_eq!(
        (nat1_inside[1].0, nat1_inside[1].1),
        (at("4.5.6.7:5000"), at("192.168.1.2:4000"))
    );
}

/// A client behind NAT 1.2.3.4 (`preset`) opens a Ferry connection to the public server and
/// has its request echoed; the server's log says whom it saw. Returns the world.
fn connect_out(preset: Preset, seed: u64, log: &Log) -> World {
    let mut world = two_nats(seed, preset, Preset::FullCone);
    host_with_log(&mut world, "server", log, |log| async move {
        let listener = Listener::bind("0.0.0.0:7").await?;
        let (mut stream, peer) = listener.accept().await?;
        log.push(format!("server: accepted {peer}"));
        let mut request = Vec::new();
        stream.read_to_end(&mut request).await?;
        stream.write_all(&request).await?;
        stream.close().await?;
        Ok(())
    });
    let client_log = log.clone();
    world
        .client("peer1", async move {
            let mut stream = Stream::connect("7.7.7.7:7").await?;
            client_log.push(format!("peer1: from {}", stream.local_addr()?));
            stream.write_all(&[7; 20_000]).await?;
            stream.shutdown().await?;
            let mut echo = Vec::new();
            stream.read_to_end(&mut echo).await?;
            assert_eq!(echo, [7; 20_000]);
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    world
}

#[test]
fn a_host_behind_any_preset_connects_out_to_a_public_server() {
    for preset in Preset::ALL {
        let log = Log::default();
        let world = connect_out(preset, 3, &log);
        let lines = log.lines();
        let internal: SocketAddr = lines[0].trim_start_matches("peer1: from ").parse().unwrap();
        let seen: SocketAddr = lines[1]
            .trim_start_matches("server: accepted ")
            .parse()
            .unwrap();
        assert_eq!(seen.ip().to_string(), "1.2.3.4", "{preset}: {lines:?}");
        let table = world.nat_table("nat1").unwrap();
        let row = table
            .row(internal, at("7.7.7.7:7"))
            .expect("the connection's entry");
        assert_eq!(row.external, seen, "{preset}");
        let preserving = !matches!(preset, Preset::Symmetric | Preset::SymmetricSequential);
        assert_eq!(
            seen.port() == internal.port(),
            preserving,
            "{preset}: {table}"
        );
        let stats = world.nat("nat1").unwrap().stats();
        assert!(stats.outbound > 10 && stats.inbound > 10, "{stats:?}");
        assert!(world
            .router_stats("nat1")
            .unwrap()
            .middlebox_drops
            .is_empty());
    }
}

#[test]
fn a_random_port_nats_choices_are_a_function_of_the_worlds_seed() {
    let external = |seed: u64| {
        let log = Log::default();
        connect_out(Preset::Symmetric, seed, &log);
        log.lines()[1].clone()
    };
    assert_eq!(external(4), external(4));
    assert_ne!(external(4), external(5));
}

/// Whether a connection from the public server to 1.2.3.4:7 (where peer1 listens) opens,
/// after peer1 has (`punch`) or has not sent a UDP datagram from port 7 to the server's
/// port 9 (where nothing listens); the error's kind if not, and NAT 1.2.3.4's drops.
fn connect_in(preset: Preset, punch: bool) -> (Result<(), io::ErrorKind>, World) {
    let mut world = two_nats(2, preset, Preset::FullCone);
    world
        .host("peer1", move || async move {
            if punch {
                let socket = UdpSocket::bind("0.0.0.0:7").await?;
                socket.send_to(b"punch", "7.7.7.7:9").await?;
            }
            let listener = Listener::bind("0.0.0.0:7").await?;
            let (mut stream, _) = listener.accept().await?;
            stream.write_all(b"welcome").await?;
            stream.close().await?;
            Ok(())
        })
        .unwrap();
    let outcome = std::rc::Rc::new(std::cell::RefCell::new(None));
    let written = std::rc::Rc::clone(&outcome);
    world
        .client("server", async move {
            sleep(Duration::from_secs(1)).await;
            let result = async {
                let mut stream = Stream::connect("1.2.3.4:7").await?;
                let mut welcome = Vec::new();
                stream.read_to_end(&mut welcome).await?;
                assert_eq!(welcome, b"welcome");
                Ok::<(), io::Error>(())
            }
            .await;
            *written.borrow_mut() = Some(result.map_err(|error| error.kind()));
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    let result = outcome.borrow_mut().take().unwrap();
    (result, world)
}

#[test]
fn from_outside_a_connection_is_dropped_unless_a_mapping_lets_it_in() {
    // No mapping: the SYN and its six retransmissions are dropped, and the connect times out.
    let (result, world) = connect_in(Preset::FullCone, false);
    assert_eq!(result, Err(io::ErrorKind::TimedOut));
    let drops = world.router_stats("nat1").unwrap().middlebox_drops;
    assert_eq!(drops["no mapping"], 7, "{drops:?}");

    // peer1 sent from port 7 to the server's address: an address-restricted cone lets in
    // any port of that address, so the connection opens.
    let (result, world) = connect_in(Preset::AddressRestrictedCone, true);
    assert_eq!(result, Ok(()));
    assert!(world
        .router_stats("nat1")
        .unwrap()
        .middlebox_drops
        .is_empty());

    // A port-restricted cone lets in only the endpoint sent to (port 9), not the
    // connection's own port.
    let (result, world) = connect_in(Preset::PortRestrictedCone, true);
    assert_eq!(result, Err(io::ErrorKind::TimedOut));
    assert_eq!(
        world.router_stats("nat1").unwrap().middlebox_drops["filtered"],
        7
    );
}

#[test]
fn a_port_unreachable_comes_back_through_the_nat_so_the_connect_is_refused_at_once() {
    let mut world = two_nats(5, Preset::Symmetric, Preset::FullCone);
    let log = Log::default();
    let client_log = log.clone();
    world
        .client("peer1", async move {
            let refused = Stream::connect("7.7.7.7:81").await.unwrap_err();
            client_log.push(format!(
                "{:?} at {:?}",
                refused.kind(),
                Instant::now().since_start()
            ));
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    // Three links each way: 120 ms and the microseconds of sending.
    let line = log.lines()[0].clone();
    assert!(line.starts_with("ConnectionRefused at 120."), "{line}");
    assert_eq!(world.nat("nat1").unwrap().stats().errors_translated, 1);
    assert_eq!(world.host_stats("peer1").unwrap().unreachables_taken, 1);
}

/// peer3 makes its mapping (to the server) and waits for a datagram; peer1 then sends to
/// peer3's public endpoint. What peer3 heard, and from whom.
fn hairpin(hairpinning: bool) -> (Option<SocketAddr>, World) {
    let config = NatConfig {
        hairpinning,
        ..Preset::FullCone.into()
    };
    let mut world = two_nats(6, config, Preset::FullCone);
    let heard = std::rc::Rc::new(std::cell::RefCell::new(None));
    let written = std::rc::Rc::clone(&heard);
    world
        .client("peer3", async move {
            let socket = UdpSocket::bind("0.0.0.0:6000").await?;
            socket.send_to(b"out", "7.7.7.7:9").await?;
            let mut buf = [0; 16];
            if let Ok(received) = timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
            {
                *written.borrow_mut() = Some(received?.1);
            }
            Ok(())
        })
        .unwrap();
    world
        .client("peer1", async {
            let socket = UdpSocket::bind("0.0.0.0:4000").await?;
            sleep(Duration::from_millis(500)).await;
            socket.send_to(b"hairpin", "1.2.3.4:6000").await?;
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    let heard = *heard.borrow();
    (heard, world)
}

#[test]
fn hairpinning_reaches_a_neighbor_through_its_public_endpoint_only_when_on() {
    let (heard, world) = hairpin(true);
    assert_eq!(
        heard,
        Some(at("1.2.3.4:4000")),
        "from peer1's external endpoint"
    );
    assert_eq!(world.nat("nat1").unwrap().stats().hairpinned, 1);
    let (heard, world) = hairpin(false);
    assert_eq!(heard, None);
    assert_eq!(
        world.router_stats("nat1").unwrap().middlebox_drops["hairpinning off"],
        1
    );
}

#[test]
fn a_nat_must_face_a_neighbor_and_only_a_nat_has_a_table() {
    let error = World::builder()
        .host("peer1", "192.168.1.2")
        .router("nat1", "1.2.3.4")
        .link("peer1", "nat1", LinkConfig::default())
        .middlebox("nat1", Nat::new("internet", Preset::FullCone))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the middlebox on \"nat1\" cannot work there: its outside is \"internet\", which is \
         not a neighbor of \"nat1\"; the neighbors are: peer1"
    );
    let world = two_nats(0, Preset::FullCone, Preset::FullCone);
    assert_eq!(
        world.nat_table("internet").unwrap_err(),
        ConfigError::NotANat {
            router: "internet".to_string(),
            nats: vec!["nat1".to_string(), "nat2".to_string()],
        }
    );
}
