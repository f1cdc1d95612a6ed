//! The ladder diagram of a world run: a line per host (routers have none), an arrow for every
//! datagram a host sent, end to end across routers and NATs, a drop at a NAT or on a link a
//! cross with its reason, frame numbers that point into the interface captures, and the same
//! drawing byte for byte from the same seed.

use std::net::{IpAddr, Ipv4Addr};

use super::{capture, lecture_with_programs, send, sink, two_clients_router_server, Log, Memory};
use crate::capture::tests::read_packets;
use crate::capture::View;
use crate::ladder::{ladder_svg, Fate, Ladder, LadderOptions};
use crate::link::LinkConfig;
use crate::sim::world::World;
use crate::wire::{Flags, Segment};

/// The packets of a host's interface capture the host itself sent (its address is the
/// IPv4 source), as (frame number, datagram).
fn sent_by(memory: &Memory, address: Ipv4Addr) -> Vec<(u64, Vec<u8>)> {
    read_packets(&memory.bytes())
        .into_iter()
        .enumerate()
        .filter(|(_, (_, frame, _))| frame.len() > 34 && frame[12..14] == [0x08, 0x00])
        .filter(|(_, (_, frame, _))| frame[14 + 12..14 + 16] == address.octets())
        .map(|(index, (_, frame, _))| (index as u64 + 1, frame[14 + 28..].to_vec()))
        .collect()
}

/// The lecture's world with its programs, each host's interface tapped, recording a ladder.
fn lecture(seed: u64) -> (World, [Memory; 3]) {
    let mut world = lecture_with_programs(seed);
    let taps = [
        ("peer1", "nat1"),
        ("rendezvous", "internet"),
        ("peer2", "nat2"),
    ]
    .map(|(node, neighbor)| {
        let memory = Memory::default();
        world
            .capture(node, neighbor, capture(&memory, View::Ferry))
            .unwrap();
        memory
    });
    world.record_ladder(LadderOptions::default());
    (world, taps)
}

#[test]
fn the_lectures_ladder_has_a_line_per_host_an_arrow_per_datagram_and_the_nat_drop_as_a_cross() {
    let (mut world, taps) = lecture(1);
    world.run().unwrap();
    world.finish_captures().unwrap();
    let ladder = world.take_ladder().unwrap();

    // One line per host, in the description's order; the routers and NATs have none.
    let names: Vec<&str> = ladder.hosts.iter().map(|host| host.name.as_str()).collect();
    assert_eq!(names, ["peer1", "rendezvous", "peer2"]);
    assert_eq!(ladder.hosts[0].address, "192.168.1.2");
    assert_eq!(
        ladder.hosts[0].capture.as_deref(),
        Some("peer1-nat1.pcapng")
    );

    // An arrow for every datagram a host sent (no faults: no copy is duplicated), each
    // from its sender's line at the frame its capture holds.
    let addresses = [[192, 168, 1, 2], [7, 7, 7, 7], [10, 0, 0, 2]].map(Ipv4Addr::from);
    let sent: Vec<Vec<(u64, Vec<u8>)>> = taps
        .iter()
        .zip(addresses)
        .map(|(memory, address)| sent_by(memory, address))
        .collect();
    assert_eq!(
        ladder.datagrams.len(),
        sent.iter().map(Vec::len).sum::<usize>()
    );
    assert_eq!(ladder.omitted, 0);
    for (line, sent) in sent.iter().enumerate() {
        let arrows: Vec<_> = ladder
            .datagrams
            .iter()
            .filter(|datagram| datagram.from == line)
            .collect();
        assert_eq!(arrows.len(), sent.len(), "{}", names[line]);
        for (arrow, (frame, bytes)) in arrows.iter().zip(sent) {
            assert_eq!(arrow.sender_frame, Some(*frame));
            assert_eq!(arrow.len, bytes.len());
        }
    }

    // Peer 1's first SYN, to 4.5.6.7:5000, ends in a cross at NAT 4.5.6.7 with its reason,
    // on its way to peer 2's line.
    let is_syn = |flags: Flags| flags.contains(Flags::SYN) && !flags.contains(Flags::ACK);
    let syns: Vec<_> = ladder
        .datagrams
        .iter()
        .filter(|datagram| datagram.segment.as_ref().is_some_and(|s| is_syn(s.flags)))
        .collect();
    assert_eq!(syns.len(), 2, "{syns:#?}");
    let first = syns[0];
    assert_eq!((first.from, first.to), (0, 2));
    let Fate::Dropped { cause, .. } = &first.fate else {
        panic!("peer 1's first SYN arrived: {first:?}");
    };
    assert!(
        cause.starts_with("dropped by NAT 4.5.6.7: ") && cause.ends_with(" (at nat2)"),
        "{cause}"
    );
    // NAT 1.2.3.4's rewrite is in its details.
    assert!(
        first.link.as_deref().is_some_and(|notes| notes
            .contains("NAT 1.2.3.4 rewrote 192.168.1.2:4000 > 4.5.6.7:5000 to 1.2.3.4:4000")),
        "{first:?}"
    );
    // Peer 2's SYN arrives at peer 1's line, through both NATs, at a frame of peer 1's
    // capture that holds it.
    let second = syns[1];
    assert_eq!((second.from, second.to), (2, 0));
    let Fate::Arrived {
        intact: true,
        receiver_frame: Some(frame),
        ..
    } = second.fate
    else {
        panic!("peer 2's SYN did not arrive: {second:?}");
    };
    let received = &read_packets(&taps[0].bytes())[frame as usize - 1].1;
    let segment = Segment::parse(&received[14 + 28..]).unwrap();
    assert!(is_syn(segment.flags));

    // The rendezvous messages are arrows too, named as they print.
    assert!(ladder.datagrams.iter().any(|datagram| datagram
        .description
        .as_deref()
        .is_some_and(|text| text.starts_with("REGISTER "))));
    assert!(ladder.datagrams.iter().any(|datagram| datagram
        .description
        .as_deref()
        .is_some_and(|text| text.starts_with("INTRODUCE "))
        && datagram.from == 1));

    // The drawing: as many arrows as datagrams, the cross with its reason.
    let svg = ladder_svg(&ladder, "the lecture");
    assert_eq!(
        svg.matches(r#"<g class="datagram "#).count(),
        ladder.datagrams.len()
    );
    assert!(
        svg.contains("dropped by NAT 4.5.6.7: "),
        "the cross's label"
    );
    // Each connection's numbers are relative to its own SYN, though a NAT rewrote the
    // addresses between the two ends: peer 1's SYN-ACK acknowledges peer 2's SYN as 1.
    assert!(
        svg.contains("[SYN, ACK] Seq=0 Ack=1 Len=0"),
        "relative numbers"
    );
}

#[test]
fn the_same_seed_draws_the_same_ladder_byte_for_byte() {
    let draw = |seed: u64| -> (Ladder, String) {
        let (mut world, _) = lecture(seed);
        world.run().unwrap();
        let ladder = world.take_ladder().unwrap();
        let svg = ladder_svg(&ladder, "the lecture");
        (ladder, svg)
    };
    let (first, first_svg) = draw(7);
    let (second, second_svg) = draw(7);
    assert_eq!(first, second);
    assert_eq!(first_svg, second_svg);
}

/// Three hosts: two clients through a router to a server, the first client's link losing
/// 10% each way: every loss is a cross naming the fault and the link direction (the
/// server's ACKs are lost on the router's hop), and every arrow ends on the line it was
/// meant for.
#[test]
fn three_hosts_a_lossy_link_and_its_drops_named_with_the_fault() {
    let lossy = LinkConfig {
        faults: "loss=10%".parse().unwrap(),
        ..LinkConfig::default()
    };
    // Seed 5: a run whose losses include one that a timer repairs (with path MTU discovery's
    // larger segments, seeds 1 to 4 repair all theirs from ACKs alone).
    let mut world = two_clients_router_server(5, lossy);
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    let payload = vec![7u8; 30_000];
    for client in ["one", "two"] {
        let payload = payload.clone();
        world
            .client(client, async move {
                send("server:80", &payload).await?;
                Ok(())
            })
            .unwrap();
    }
    world.record_ladder(LadderOptions::default());
    world.run().unwrap();
    let ladder = world.take_ladder().unwrap();
    let names: Vec<&str> = ladder.hosts.iter().map(|host| host.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "server"]);
    // The link loses in both directions: the clients' segments and the server's ACKs.
    let lost = ["one", "router"].map(|from| {
        let to = if from == "one" { "router" } else { "one" };
        world.link_stats(from, to).unwrap().faults.dropped
    });
    let crosses: Vec<&str> = ladder
        .datagrams
        .iter()
        .filter_map(|datagram| match &datagram.fate {
            Fate::Dropped { cause, .. } => Some(cause.as_str()),
            _ => None,
        })
        .collect();
    assert!(!crosses.is_empty());
    assert_eq!(crosses.len() as u64, lost[0] + lost[1]);
    let named = |cause: &&str| {
        [
            "dropped (loss) on one→router",
            "dropped (loss) on router→one",
        ]
        .contains(cause)
    };
    assert!(crosses.iter().all(named), "{crosses:?}");
    assert!(lost[0] > 0 && lost[1] > 0, "{lost:?}");
    // Everything else arrived (or was on its way when the clients finished), at the line of
    // the host it was meant for.
    for datagram in &ladder.datagrams {
        let towards = match datagram.from {
            2 => datagram.destination.ip(),
            _ => datagram.source.ip(),
        };
        let client = if towards == IpAddr::from([10, 0, 1, 2]) {
            0
        } else {
            1
        };
        let (from, to) = match datagram.from {
            2 => (2, client),
            line => (line, 2),
        };
        assert_eq!((datagram.from, datagram.to), (from, to), "{datagram:?}");
        if !matches!(datagram.fate, Fate::Dropped { .. }) {
            let fine = matches!(
                datagram.fate,
                Fate::Arrived { intact: true, .. } | Fate::InFlight
            );
            assert!(fine, "{datagram:?}");
        }
    }
    // The losses cost timers: each mark is on a line, where a timer fired.
    assert!(!ladder.timers.is_empty(), "no timer marked");
    assert!(ladder.timers.iter().all(|mark| mark.host < 3));
    assert_eq!(log.lines().len(), 2, "{:?}", log.lines());
}

/// A connect to a port nobody listens on draws the server's port unreachable as an arrow
/// back; one to an address no route leads to crosses each SYN at the router that had no
/// route, saying it sent an unreachable back (which, from a router, has no line to start on).
#[test]
fn unreachables_are_arrows_from_hosts_and_crosses_at_routers() {
    let connect = |target: &'static str| {
        let mut world = super::client_router_server(5, LinkConfig::default());
        world
            .client("client", async move {
                let _ = crate::sim::world::net::Stream::connect(target).await;
                Ok(())
            })
            .unwrap();
        world.record_ladder(LadderOptions::default());
        world.run().unwrap();
        world.take_ladder().unwrap()
    };
    let refused = connect("server:81");
    let described: Vec<_> = refused
        .datagrams
        .iter()
        .map(|datagram| (datagram.from, datagram.to, datagram.description.clone()))
        .collect();
    let syn_from = refused.datagrams[0].source;
    let about = format!("port unreachable about {syn_from} > 10.0.1.2:81");
    assert_eq!(described, [(0, 1, None), (1, 0, Some(about))]);
    assert!(refused
        .datagrams
        .iter()
        .all(|datagram| matches!(datagram.fate, Fate::Arrived { intact: true, .. })));

    let nowhere = connect("192.0.2.99:80");
    assert_eq!(
        nowhere.datagrams.len(),
        7,
        "the SYN and its six retransmissions"
    );
    for datagram in &nowhere.datagrams {
        let Fate::Dropped { cause, .. } = &datagram.fate else {
            panic!("{datagram:?}");
        };
        assert_eq!(
            cause,
            "no route to 192.0.2.99: network unreachable sent back (at router)"
        );
    }
    // The retransmission timer's expiries, one mark each.
    assert_eq!(nowhere.timers.len(), 6, "{:?}", nowhere.timers);
}
