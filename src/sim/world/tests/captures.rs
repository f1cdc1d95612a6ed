//! Taps on interfaces: a host's shows what it sent (why, and what its link did) and what it
//! received; a router's, what crossed that interface; what became of a datagram where it
//! arrived (a port with no socket) is in its comments, and the unreachable it sent back is an
//! ICMP message; the TCP view is TCP.

use std::time::Duration;

use super::{
    capture, client_router_server, file_names, pattern, send, sink, Log, Memory,
    CLIENT_ROUTER_SERVER_TAPS,
};
use crate::capture::tests::read_packets;
use crate::capture::View;
use crate::link::LinkConfig;
use crate::sim::tap::ORIGIN_NOTE;
use crate::sim::world::net::Stream;
use crate::sim::world::World;

/// Each packet of a pcapng file: its frame and its comments. The note at time 0 that begins a
/// tap whose first packet comes later (so that relative times agree across taps) is no packet.
fn packets(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<String>)> {
    read_packets(bytes)
        .into_iter()
        .filter(|(_, _, comments)| *comments != [ORIGIN_NOTE])
        .map(|(_, frame, comments)| (frame, comments))
        .collect()
}

/// Run until the client has finished, and a second more: the client's last ACK is still on
/// its way when its program ends.
fn run_past_the_last_ack(world: &mut World) {
    world.run().unwrap();
    world
        .run_until(world.now() + Duration::from_secs(1))
        .unwrap();
}

/// The IPv4 protocol number of an Ethernet frame, and the third bytes of its source and
/// destination addresses: 0 for the client (10.0.0.2), 1 for the server (10.0.1.2).
fn protocol_and_ends(frame: &[u8]) -> (u8, u8, u8) {
    (frame[14 + 9], frame[14 + 14], frame[14 + 18])
}

#[test]
fn taps_show_each_interface_with_what_happened_there() {
    // The client's link drops exactly the 3rd datagram it sends.
    let dropping = LinkConfig {
        faults: "drop=3".parse().unwrap(),
        ..LinkConfig::default()
    };
    let mut world = client_router_server(6, dropping);
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    world
        .client("client", async {
            let refused = Stream::connect("server:81").await.unwrap_err();
            assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
            send("server:80", &pattern(10_000, 3)).await?;
            Ok(())
        })
        .unwrap();
    let (client, router, server) = (Memory::default(), Memory::default(), Memory::default());
    world
        .capture("client", "router", capture(&client, View::Ferry))
        .unwrap();
    world
        .capture("router", "client", capture(&router, View::Ferry))
        .unwrap();
    world
        .capture("server", "router", capture(&server, View::Tcp))
        .unwrap();
    run_past_the_last_ack(&mut world);
    world.finish_captures().unwrap();
    assert!(log.lines()[0].starts_with("received 10000 bytes"));

    let client = packets(&client.bytes());
    let sent: Vec<_> = client
        .iter()
        .filter(|(frame, _)| protocol_and_ends(frame).1 == 0)
        .collect();
    // The client's copy says why each was sent, and which its link dropped.
    assert!(sent.iter().all(|(_, comments)| !comments.is_empty()));
    let dropped: Vec<_> = sent
        .iter()
        .filter(|(_, comments)| comments.iter().any(|c| c.starts_with("dropped (")))
        .collect();
    assert_eq!(dropped.len(), 1, "{client:?}");
    assert!(std::ptr::eq(sent[2], *dropped[0]), "the 3rd");
    // Everything is UDP but the port unreachable the server sent back: ICMP type 3, code 3,
    // quoting the SYN's UDP header (to port 81).
    let icmp: Vec<_> = client
        .iter()
        .filter(|(frame, _)| protocol_and_ends(frame).0 != 17)
        .collect();
    assert_eq!(icmp.len(), 1, "{icmp:?}");
    let (frame, _) = icmp[0];
    assert_eq!(protocol_and_ends(frame), (1, 1, 0));
    let message = &frame[14 + 20..];
    assert_eq!((message[0], message[1]), (3, 3));
    let quoted_udp = &message[8 + 20..];
    assert_eq!(u16::from_be_bytes([quoted_udp[2], quoted_udp[3]]), 81);

    // The router's interface toward the client saw everything but the dropped one arrive.
    let router = packets(&router.bytes());
    let arrived = router
        .iter()
        .filter(|(frame, _)| protocol_and_ends(frame).1 == 0)
        .count();
    assert_eq!(arrived, sent.len() - 1);

    // The server's, in the TCP view: TCP segments, and the SYN to port 81 noted.
    let server = packets(&server.bytes());
    assert!(server
        .iter()
        .all(|(frame, _)| [6, 1].contains(&protocol_and_ends(frame).0)));
    let first = &server[0].1;
    assert_eq!(first, &["no socket on port 81: port unreachable sent back"]);
}

#[test]
fn every_interface_is_tapped_into_a_file_of_its_own() {
    let directory = std::env::temp_dir().join(format!("ferry-world-taps-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let mut world = client_router_server(3, LinkConfig::default());
    assert_eq!(
        world.interfaces(),
        [
            ("client", "router"),
            ("router", "client"),
            ("router", "server"),
            ("server", "router")
        ]
        .map(|(node, neighbor)| (node.to_string(), neighbor.to_string()))
    );
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    world
        .client("client", async {
            send("server:80", &pattern(5_000, 1)).await?;
            Ok(())
        })
        .unwrap();
    let paths = world
        .capture_every_interface(&directory, View::Tcp)
        .unwrap();
    run_past_the_last_ack(&mut world);
    world.finish_captures().unwrap();
    assert_eq!(file_names(&paths), CLIENT_ROUTER_SERVER_TAPS);
    // The same datagrams cross each interface: the client's handshake, data and FIN, and the
    // server's answers, so each file holds the whole conversation.
    let counts: Vec<usize> = paths
        .iter()
        .map(|path| packets(&std::fs::read(path).unwrap()).len())
        .collect();
    assert!(counts.iter().all(|&count| count >= 6), "{counts:?}");
    assert!(counts.iter().all(|&count| count == counts[0]), "{counts:?}");
    std::fs::remove_dir_all(&directory).unwrap();
}
