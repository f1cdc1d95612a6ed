//! The rendezvous client and server at message level, in simulated time: each test feeds
//! messages at explicit instants and asserts exactly what comes out.

use std::net::SocketAddr;
use std::time::Duration;

use super::client::{
    DIRECT_TIMEOUT, PEER_WAIT, RELAY_REFRESH, RELAY_TIMEOUT, SERVER_TIMEOUT, WAIT_REFRESH,
};
use super::message::{Body, Message, Refusal, MIN_REGISTER_LEN};
use super::*;
use crate::time::Instant;

const SERVER: &str = "192.0.2.100:7000";
const PROBE_PORT: &str = "192.0.2.100:7001";
const ALICE: &str = "203.0.113.4:4000";
const BOB: &str = "198.51.100.7:5000";
const ALICE_NONCE: u64 = 0xa11ce;
const BOB_NONCE: u64 = 0xb0b;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn bytes(nonce: u64, body: Body<'_>) -> Vec<u8> {
    Message { nonce, body }.to_bytes()
}

fn register(nonce: u64, name: &str, peer: &str) -> Vec<u8> {
    bytes(
        nonce,
        Body::Register {
            name,
            peer,
            probing: false,
            reads_mappings: false,
        },
    )
}

/// Every transmit waiting, as (destination, nonce, body text).
fn drain_server(server: &mut Server, now: Instant) -> Vec<(SocketAddr, u64, String)> {
    std::iter::from_fn(|| server.poll_transmit(now))
        .map(|transmit| {
            let message = Message::parse(&transmit.contents).unwrap();
            (transmit.destination, message.nonce, message.to_string())
        })
        .collect()
}

/// Every transmit waiting but the PROBEs (to the server's next port), as body text.
fn drain_client(client: &mut Client, now: Instant) -> Vec<String> {
    std::iter::from_fn(|| client.poll_transmit(now))
        .filter(|transmit| transmit.destination != addr(PROBE_PORT))
        .map(|transmit| {
            assert_eq!(transmit.destination, addr(SERVER));
            let message = Message::parse(&transmit.contents).unwrap();
            assert_eq!(message.nonce, ALICE_NONCE);
            message.to_string()
        })
        .collect()
}

fn events(client: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

// ---------------------------------------------------------------------------------------
// The server

/// A server where alice registered at 0 ms to meet bob, its WAITING drained.
fn server_with_alice() -> Server {
    let mut server = Server::new(ServerConfig::default());
    server.handle_datagram(ms(0), addr(ALICE), &register(ALICE_NONCE, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(0)),
        [(
            addr(ALICE),
            ALICE_NONCE,
            format!("WAITING (you are {ALICE})")
        )]
    );
    server
}

/// [`server_with_alice`], and bob registered at 10 ms, both introductions drained.
fn server_with_a_pair() -> Server {
    let mut server = server_with_alice();
    server.handle_datagram(ms(10), addr(BOB), &register(BOB_NONCE, "bob", "alice"));
    assert_eq!(drain_server(&mut server, ms(10)).len(), 2);
    server
}

#[test]
fn the_second_peer_to_register_introduces_both_at_once() {
    let mut server = server_with_alice();
    server.handle_datagram(ms(10), addr(BOB), &register(BOB_NONCE, "bob", "alice"));
    assert_eq!(
        drain_server(&mut server, ms(10)),
        [
            (
                addr(BOB),
                BOB_NONCE,
                format!("INTRODUCE peer {ALICE} (you are {BOB})")
            ),
            (
                addr(ALICE),
                ALICE_NONCE,
                format!("INTRODUCE peer {BOB} (you are {ALICE})")
            ),
        ]
    );
    // Alice's next REGISTER (her INTRODUCE may have been lost) is answered with the same,
    // to her alone.
    server.handle_datagram(ms(900), addr(ALICE), &register(ALICE_NONCE, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(900)),
        [(
            addr(ALICE),
            ALICE_NONCE,
            format!("INTRODUCE peer {BOB} (you are {ALICE})")
        )]
    );
    assert_eq!(server.stats().introductions, 1);
}

#[test]
fn peers_that_want_others_are_not_introduced() {
    let mut server = server_with_alice();
    server.handle_datagram(ms(10), addr(BOB), &register(BOB_NONCE, "bob", "carol"));
    assert_eq!(
        drain_server(&mut server, ms(10)),
        [(addr(BOB), BOB_NONCE, format!("WAITING (you are {BOB})"))]
    );
}

#[test]
fn a_taken_name_is_refused_until_its_holder_lapses() {
    let mut server = server_with_alice();
    let intruder = addr("192.0.2.66:6666");
    server.handle_datagram(ms(5), intruder, &register(77, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(5)),
        [(intruder, 77, "REFUSED: the name is taken".to_string())]
    );
    // The same address with another nonce is another client too.
    server.handle_datagram(ms(6), addr(ALICE), &register(78, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(6)),
        [(addr(ALICE), 78, "REFUSED: the name is taken".to_string())]
    );
    assert_eq!(server.registration("alice").unwrap().address, addr(ALICE));
    // Alice's own refresh at 20 s keeps it; 30 s after it the name is free.
    server.handle_datagram(
        ms(20_000),
        addr(ALICE),
        &register(ALICE_NONCE, "alice", "bob"),
    );
    drain_server(&mut server, ms(20_000));
    server.handle_datagram(ms(49_999), intruder, &register(77, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(49_999))[0].2,
        "REFUSED: the name is taken"
    );
    server.handle_datagram(ms(50_000), intruder, &register(77, "alice", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(50_000)),
        [(
            intruder,
            77,
            "WAITING (you are 192.0.2.66:6666)".to_string()
        )]
    );
    assert_eq!(server.stats().refused, 3);
}

#[test]
fn one_address_holds_one_registration() {
    let mut server = server_with_alice();
    server.handle_datagram(ms(5), addr(ALICE), &register(ALICE_NONCE, "mallory", "bob"));
    assert_eq!(
        drain_server(&mut server, ms(5)),
        [(
            addr(ALICE),
            ALICE_NONCE,
            "REFUSED: another registration holds this address".to_string()
        )]
    );
}

#[test]
fn a_full_server_refuses_newcomers_and_takes_them_once_a_place_lapses() {
    let mut server = Server::new(ServerConfig {
        max_peers: 2,
        ..ServerConfig::default()
    });
    for (port, name) in [(1, "a"), (2, "b")] {
        let from = SocketAddr::new(addr(ALICE).ip(), port);
        server.handle_datagram(ms(0), from, &register(port.into(), name, "z"));
    }
    drain_server(&mut server, ms(0));
    server.handle_datagram(ms(1), addr(BOB), &register(BOB_NONCE, "c", "z"));
    assert_eq!(
        drain_server(&mut server, ms(1)),
        [(
            addr(BOB),
            BOB_NONCE,
            "REFUSED: the rendezvous is full".to_string()
        )]
    );
    // Nobody refreshes: at 30 s both lapse, and the sweep forgets them.
    assert_eq!(server.poll_timeout(), Some(ms(1000)));
    server.handle_timeout(ms(30_000));
    assert_eq!(server.registrations(), 0);
    assert_eq!(server.poll_timeout(), None, "nothing left to sweep");
    server.handle_datagram(ms(30_001), addr(BOB), &register(BOB_NONCE, "c", "z"));
    assert_eq!(
        drain_server(&mut server, ms(30_001))[0].2,
        format!("WAITING (you are {BOB})")
    );
}

#[test]
fn the_relay_forwards_between_introduced_peers_with_the_receivers_nonce() {
    let mut server = server_with_a_pair();
    let segment = b"FR\x02 any ferry datagram";
    server.handle_datagram(
        ms(20),
        addr(ALICE),
        &bytes(ALICE_NONCE, Body::Relay { payload: segment }),
    );
    let out: Vec<_> = std::iter::from_fn(|| server.poll_transmit(ms(20))).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].destination, addr(BOB));
    assert_eq!(
        Message::parse(&out[0].contents),
        Ok(Message {
            nonce: BOB_NONCE,
            body: Body::Relay { payload: segment }
        })
    );
    // Without alice's nonce, or from an address nobody registered, nothing is relayed.
    server.handle_datagram(
        ms(21),
        addr(ALICE),
        &bytes(1, Body::Relay { payload: segment }),
    );
    server.handle_datagram(
        ms(21),
        addr("192.0.2.66:6666"),
        &bytes(ALICE_NONCE, Body::Relay { payload: segment }),
    );
    assert!(server.poll_transmit(ms(21)).is_none());
    assert_eq!(server.stats().rejected, 2);
    assert_eq!(server.stats().relayed, 1);
}

#[test]
fn the_relay_holds_each_peer_to_its_rate_behind_a_bounded_queue() {
    // 800 kbit/s (100 kB/s) behind 10,000 bytes: a 1016-octet RELAY takes 10.16 ms, and
    // nine fit in the queue.
    let config = ServerConfig {
        relay_rate: 800_000,
        relay_queue: 10_000,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    server.handle_datagram(ms(0), addr(ALICE), &register(ALICE_NONCE, "alice", "bob"));
    server.handle_datagram(ms(0), addr(BOB), &register(BOB_NONCE, "bob", "alice"));
    drain_server(&mut server, ms(0));
    let payload = [0u8; 1000];
    let relay = bytes(ALICE_NONCE, Body::Relay { payload: &payload });
    for _ in 0..11 {
        server.handle_datagram(ms(1), addr(ALICE), &relay);
    }
    // The first leaves at once, the other eight wait their turns; two found the queue full.
    assert_eq!(drain_server(&mut server, ms(1)).len(), 1);
    assert_eq!(
        server.stats().relay_dropped,
        2,
        "the queue is full after nine"
    );
    // Bob's shaper is his own: his goes at once too.
    server.handle_datagram(
        ms(1),
        addr(BOB),
        &bytes(BOB_NONCE, Body::Relay { payload: &payload }),
    );
    assert_eq!(
        drain_server(&mut server, ms(1)),
        [(addr(ALICE), ALICE_NONCE, "RELAY 1000 octets".to_string())]
    );
    let mut departures = Vec::new();
    while let Some(at) = server.poll_timeout().filter(|&at| at < ms(1000)) {
        server.handle_timeout(at);
        for (to, nonce, _) in drain_server(&mut server, at) {
            assert_eq!((to, nonce), (addr(BOB), BOB_NONCE));
            departures.push(at.as_micros());
        }
    }
    let expected: Vec<u64> = (1..=8).map(|n| 1000 + n * 10_160).collect();
    assert_eq!(departures, expected);
}

#[test]
fn relayed_datagrams_that_fall_due_together_all_leave_none_dropped() {
    // Both peers fill their queues (64 KiB each at 20 Mbit/s: 65 RELAYs of 1016 octets are
    // taken, one leaving at once), and the server is next called when all are due, as after
    // a stall of its thread: more than MAX_QUEUED leave then, in turns, none lost.
    let mut server = server_with_a_pair();
    let payload = [0u8; 1000];
    for (from, nonce) in [(ALICE, ALICE_NONCE), (BOB, BOB_NONCE)] {
        let relay = bytes(nonce, Body::Relay { payload: &payload });
        for _ in 0..100 {
            server.handle_datagram(ms(20), addr(from), &relay);
        }
    }
    let mut relayed = drain_server(&mut server, ms(20)).len();
    assert_eq!(relayed, 2, "one of each leaves at once");
    let taken = server.stats().relayed;
    assert!(taken > server::MAX_QUEUED as u64 + 2, "{taken} taken");
    let late = ms(1000);
    while server.poll_timeout().is_some_and(|at| at <= late) {
        server.handle_timeout(late);
        relayed += drain_server(&mut server, late).len();
    }
    assert_eq!(relayed as u64, taken);
    assert_eq!(server.stats().queue_dropped, 0);
}

#[test]
fn a_relay_to_a_peer_not_introduced_goes_nowhere() {
    let mut server = server_with_alice();
    server.handle_datagram(
        ms(5),
        addr(ALICE),
        &bytes(ALICE_NONCE, Body::Relay { payload: b"x" }),
    );
    assert!(server.poll_transmit(ms(5)).is_none());
    assert_eq!(server.stats().relay_dropped, 1);
}

#[test]
fn unregister_needs_the_nonce() {
    let mut server = server_with_alice();
    server.handle_datagram(ms(5), addr(ALICE), &bytes(1, Body::Unregister));
    assert!(server.registration("alice").is_some());
    server.handle_datagram(ms(6), addr(ALICE), &bytes(ALICE_NONCE, Body::Unregister));
    assert!(server.registration("alice").is_none());
    assert!(
        server.poll_transmit(ms(6)).is_none(),
        "UNREGISTER is not answered"
    );
    let left: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(
        left.last(),
        Some(&server::Event::Left {
            name: "alice".into(),
            unregistered: true
        })
    );
}

#[test]
fn replies_sent_to_the_server_and_garbage_are_dropped() {
    let mut server = Server::new(ServerConfig::default());
    let forged = bytes(
        1,
        Body::Introduce {
            observed: addr(ALICE),
            peer: addr(BOB),
            mappings: None,
        },
    );
    server.handle_datagram(ms(0), addr(ALICE), &forged);
    server.handle_datagram(ms(0), addr(ALICE), b"RV\x01\x01garbage");
    let mut short = register(1, "alice", "bob");
    short.truncate(40);
    server.handle_datagram(ms(0), addr(ALICE), &short);
    assert!(server.poll_transmit(ms(0)).is_none());
    assert_eq!(server.registrations(), 0);
    assert_eq!((server.stats().rejected, server.stats().malformed), (1, 2));
}

#[test]
fn no_reply_is_larger_than_the_register_that_drew_it() {
    let mut server = server_with_alice();
    let request = register(BOB_NONCE, "bob", "alice");
    assert_eq!(request.len(), MIN_REGISTER_LEN);
    server.handle_datagram(ms(10), addr(BOB), &request);
    let out: Vec<_> = std::iter::from_fn(|| server.poll_transmit(ms(10))).collect();
    let sent: usize = out.iter().map(|transmit| transmit.contents.len()).sum();
    assert!(
        sent <= request.len(),
        "{sent} octets sent for {}",
        request.len()
    );
}

// ---------------------------------------------------------------------------------------
// The client

fn client_config() -> PunchConfig {
    PunchConfig::new(addr(SERVER), "alice", "bob")
}

fn client() -> Client {
    Client::new(ms(0), client_config(), ALICE_NONCE)
}

/// A client whose REGISTER at 0 ms was answered with WAITING at 20 ms.
fn waiting_client() -> Client {
    let mut client = client();
    assert_eq!(drain_client(&mut client, ms(0)), ["REGISTER alice -> bob"]);
    let waiting = bytes(
        ALICE_NONCE,
        Body::Waiting {
            observed: addr(ALICE),
        },
    );
    assert_eq!(client.handle_datagram(ms(20), addr(SERVER), &waiting), None);
    assert_eq!(
        events(&mut client),
        [Event::Waiting {
            observed: addr(ALICE)
        }]
    );
    client
}

fn introduce() -> Vec<u8> {
    bytes(
        ALICE_NONCE,
        Body::Introduce {
            observed: addr(ALICE),
            peer: addr(BOB),
            mappings: None,
        },
    )
}

/// A client introduced to bob at 20 ms.
fn introduced_client() -> Client {
    let mut client = client();
    drain_client(&mut client, ms(0));
    client.handle_datagram(ms(20), addr(SERVER), &introduce());
    assert_eq!(
        events(&mut client),
        [Event::Introduced {
            observed: addr(ALICE),
            peer: addr(BOB)
        }]
    );
    client
}

/// Run the client's timers from `from` to `to`, recording each REGISTER (or other message)
/// sent and when.
fn run(client: &mut Client, from: Instant, to: Instant) -> Vec<(Instant, String)> {
    let mut sent = Vec::new();
    let mut now = from;
    while let Some(at) = client.poll_timeout() {
        if at > to {
            break;
        }
        now = now.max(at);
        client.handle_timeout(now);
        for message in drain_client(client, now) {
            sent.push((now, message));
        }
    }
    sent
}

#[test]
fn an_unanswered_register_is_sent_seven_times_then_the_punch_fails_at_five_seconds() {
    let mut client = client();
    assert_eq!(drain_client(&mut client, ms(0)), ["REGISTER alice -> bob"]);
    let sent = run(&mut client, ms(0), ms(60_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_micros() / 1000).collect();
    assert_eq!(times, [250, 750, 1750, 2750, 3750, 4750, 5000]);
    assert_eq!(sent.last().unwrap().1, "UNREGISTER");
    let failed = events(&mut client);
    assert_eq!(
        failed,
        [Event::Failed(PunchError::ServerSilent {
            server: addr(SERVER),
            waited: SERVER_TIMEOUT,
            rejected: 0,
            unreachable: false,
        })]
    );
    assert_eq!(
        format!(
            "{}",
            match &failed[0] {
                Event::Failed(e) => e,
                _ => unreachable!(),
            }
        ),
        format!("no answer from the rendezvous at {SERVER} within 5s")
    );
    assert_eq!(client.poll_timeout(), None, "nothing more, ever");
}

#[test]
fn forged_replies_from_elsewhere_or_without_the_nonce_are_dropped_and_named() {
    let mut client = client();
    drain_client(&mut client, ms(0));
    let forged_peer = Body::Introduce {
        observed: addr(ALICE),
        peer: addr("192.0.2.66:6666"),
        mappings: None,
    };
    // The right nonce from another address (an attacker who saw the REGISTER on its way
    // would have both; one elsewhere has neither), and the server's address with a guessed
    // nonce: both dropped.
    let from_elsewhere = bytes(ALICE_NONCE, forged_peer);
    assert_eq!(
        client.handle_datagram(ms(5), addr("192.0.2.66:7000"), &from_elsewhere),
        None
    );
    let guessed_nonce = bytes(ALICE_NONCE ^ 1, forged_peer);
    assert_eq!(
        client.handle_datagram(ms(6), addr(SERVER), &guessed_nonce),
        None
    );
    let forged_relay = bytes(ALICE_NONCE ^ 1, Body::Relay { payload: b"FR" });
    assert_eq!(
        client.handle_datagram(ms(7), addr(SERVER), &forged_relay),
        None
    );
    assert_eq!(client.phase(), &Phase::Registering);
    assert!(events(&mut client).is_empty());
    assert_eq!(client.stats().rejected, 3);
    run(&mut client, ms(7), ms(10_000));
    let Some(Event::Failed(error)) = client.poll_event() else {
        panic!("the punch failed")
    };
    assert_eq!(
        error.to_string(),
        format!(
            "no answer from the rendezvous at {SERVER} within 5s; 3 replies rejected: not \
             from {SERVER}, or not echoing our nonce"
        )
    );
    // The real INTRODUCE, late, changes nothing now.
    client.handle_datagram(ms(10_001), addr(SERVER), &introduce());
    assert!(client.poll_event().is_none());
}

#[test]
fn a_lost_reply_is_made_good_by_the_next_register() {
    let mut client = client();
    drain_client(&mut client, ms(0));
    // The first reply is lost; the REGISTER at 250 ms is answered.
    let sent = run(&mut client, ms(0), ms(250));
    assert_eq!(sent, [(ms(250), "REGISTER alice -> bob".to_string())]);
    client.handle_datagram(ms(270), addr(SERVER), &introduce());
    assert_eq!(client.peer(), Some(addr(BOB)));
}

#[test]
fn a_taken_name_fails_at_once_with_the_reason() {
    let mut client = client();
    drain_client(&mut client, ms(0));
    let refused = bytes(
        ALICE_NONCE,
        Body::Refused {
            reason: Refusal::NameTaken,
        },
    );
    client.handle_datagram(ms(20), addr(SERVER), &refused);
    let Some(Event::Failed(error)) = client.poll_event() else {
        panic!("the punch failed")
    };
    assert_eq!(
        error.to_string(),
        format!(
            "the name alice is taken at the rendezvous {SERVER}: another peer registered it \
             (a name is freed when its holder leaves, or 30 s after it goes quiet)"
        )
    );
    // Refused, we hold nothing: no UNREGISTER, which could only be someone else's.
    assert!(drain_client(&mut client, ms(20)).is_empty());
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn a_waiting_client_refreshes_every_second_and_gives_up_on_an_absent_peer() {
    let mut client = waiting_client();
    let mut now = ms(20);
    let mut refreshes = 0;
    // The server answers each refresh.
    while let Some(at) = client.poll_timeout() {
        now = at;
        client.handle_timeout(now);
        let sent = drain_client(&mut client, now);
        if sent == ["REGISTER alice -> bob"] {
            refreshes += 1;
            let waiting = bytes(
                ALICE_NONCE,
                Body::Waiting {
                    observed: addr(ALICE),
                },
            );
            client.handle_datagram(now, addr(SERVER), &waiting);
        } else {
            assert_eq!(sent, ["UNREGISTER"]);
        }
    }
    assert_eq!(now, ms(20) + PEER_WAIT);
    assert_eq!(refreshes, 29, "one a second: {WAIT_REFRESH:?}");
    let Some(Event::Failed(error)) = client.poll_event() else {
        panic!("the punch failed")
    };
    assert_eq!(
        error.to_string(),
        "the peer bob did not come to the rendezvous within 30s"
    );
}

#[test]
fn a_server_that_stops_answering_a_waiting_client_fails_it_five_seconds_later() {
    let mut client = waiting_client();
    let sent = run(&mut client, ms(20), ms(60_000));
    assert_eq!(sent.last().unwrap(), &(ms(5020), "UNREGISTER".to_string()));
    assert!(matches!(
        client.poll_event(),
        Some(Event::Failed(PunchError::ServerSilent { .. }))
    ));
}

#[test]
fn a_direct_connection_unregisters_at_once_and_needs_no_timer() {
    let mut client = introduced_client();
    assert!(client.is_opening());
    client.heard_directly(addr(BOB));
    client.connected(ms(300));
    assert_eq!(drain_client(&mut client, ms(300)), ["UNREGISTER"]);
    assert_eq!(
        client.phase(),
        &Phase::Connected {
            peer: addr(BOB),
            relayed: false
        }
    );
    assert_eq!(client.poll_timeout(), None);
    // A Ferry datagram to the peer goes straight to it.
    assert_eq!(
        client.wrap(addr(BOB), b"FR".to_vec()),
        (addr(BOB), b"FR".to_vec())
    );
    client.closed(ms(9000));
    assert!(drain_client(&mut client, ms(9000)).is_empty());
}

#[test]
fn with_nothing_from_the_peer_the_client_relays_at_three_seconds() {
    let mut client = introduced_client();
    let sent = run(&mut client, ms(20), ms(20) + DIRECT_TIMEOUT);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(
        events(&mut client),
        [Event::Relaying {
            why: DirectFailure::NothingHeard
        }]
    );
    assert!(client.is_relayed());
    // A Ferry datagram to the peer now goes to the server, wrapped with our nonce.
    let (destination, wrapped) = client.wrap(addr(BOB), b"FR\x02segment".to_vec());
    assert_eq!(destination, addr(SERVER));
    assert_eq!(
        Message::parse(&wrapped),
        Ok(Message {
            nonce: ALICE_NONCE,
            body: Body::Relay {
                payload: b"FR\x02segment"
            }
        })
    );
    // The peer's, through the server, is unwrapped.
    let from_bob = bytes(
        ALICE_NONCE,
        Body::Relay {
            payload: b"FR\x02reply",
        },
    );
    assert_eq!(
        client.handle_datagram(ms(3100), addr(SERVER), &from_bob),
        Some(&b"FR\x02reply"[..])
    );
    client.connected(ms(3200));
    assert!(client.is_relayed());
    // The registration, which the relay needs, is kept alive every 10 s; the close ends it.
    let sent = run(&mut client, ms(3200), ms(30_000));
    let times: Vec<Instant> = sent.iter().map(|(at, _)| *at).collect();
    let switched = ms(20) + DIRECT_TIMEOUT;
    assert_eq!(
        times,
        [switched + RELAY_REFRESH, switched + RELAY_REFRESH * 2]
    );
    client.closed(ms(30_000));
    assert_eq!(drain_client(&mut client, ms(30_000)), ["UNREGISTER"]);
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn datagrams_from_the_peers_address_at_another_port_name_its_nat() {
    let mut client = introduced_client();
    client.heard_directly(addr("198.51.100.7:31337"));
    run(&mut client, ms(20), ms(20) + DIRECT_TIMEOUT);
    let seen = addr("198.51.100.7:31337");
    assert_eq!(
        events(&mut client),
        [Event::Relaying {
            why: DirectFailure::PeerPortChanged { seen }
        }]
    );
    // The relay gets nowhere either: the error names both.
    run(&mut client, ms(3020), ms(60_000));
    let Some(Event::Failed(error)) = client.poll_event() else {
        panic!("the punch failed")
    };
    assert_eq!(
        error.to_string(),
        format!(
            "no path to the peer at {BOB}: no direct answer in 3s (the peer's NAT maps each \
             destination to a new port: its datagrams came from {seen}), and none through the \
             relay in 10s"
        )
    );
}

#[test]
fn a_peer_heard_directly_keeps_the_client_direct_until_the_relay_would_have_ended() {
    let mut client = introduced_client();
    client.heard_directly(addr(BOB));
    run(&mut client, ms(20), ms(20) + DIRECT_TIMEOUT);
    assert!(events(&mut client).is_empty(), "no switch to the relay");
    assert!(!client.is_relayed());
    let sent = run(&mut client, ms(3020), ms(60_000));
    let last = ms(20) + DIRECT_TIMEOUT + RELAY_TIMEOUT;
    assert_eq!(sent.last().unwrap(), &(last, "UNREGISTER".to_string()));
    let Some(Event::Failed(error)) = client.poll_event() else {
        panic!("the punch failed")
    };
    assert_eq!(
        error.to_string(),
        format!(
            "no path to the peer at {BOB}: no direct answer in 13s (the peer's datagrams \
             arrived, but the handshake did not finish: ours seem not to reach it)"
        )
    );
}

#[test]
fn a_relayed_datagram_from_the_peer_moves_the_client_to_the_relay_at_once() {
    let mut client = introduced_client();
    client.heard_directly(addr(BOB));
    let from_bob = bytes(
        ALICE_NONCE,
        Body::Relay {
            payload: b"FR\x02syn",
        },
    );
    assert_eq!(
        client.handle_datagram(ms(1500), addr(SERVER), &from_bob),
        Some(&b"FR\x02syn"[..])
    );
    assert_eq!(
        events(&mut client),
        [Event::Relaying {
            why: DirectFailure::PeerSwitched
        }]
    );
    assert!(client.is_relayed());
}

#[test]
fn with_the_relay_off_the_punch_fails_after_the_direct_attempt() {
    let config = PunchConfig {
        relay: false,
        ..client_config()
    };
    let mut client = Client::new(ms(0), config, ALICE_NONCE);
    drain_client(&mut client, ms(0));
    client.handle_datagram(ms(20), addr(SERVER), &introduce());
    let sent = run(&mut client, ms(20), ms(60_000));
    assert_eq!(sent, [(ms(3020), "UNREGISTER".to_string())], "no refreshes");
    let failed: Vec<_> = events(&mut client);
    let Some(Event::Failed(error)) = failed.last() else {
        panic!("the punch failed")
    };
    assert!(
        error.to_string().ends_with(", and the relay is off"),
        "{error}"
    );
}

#[test]
fn names_are_checked_before_anything_is_sent() {
    assert!(client_config().check().is_ok());
    let spaced = PunchConfig::new(addr(SERVER), "al ice", "bob");
    assert_eq!(
        spaced.check().unwrap_err().to_string(),
        "the name \"al ice\" cannot be registered: a name is 1 to 64 characters of printable \
         ASCII, without spaces"
    );
    let itself = PunchConfig::new(addr(SERVER), "bob", "bob");
    assert!(itself.check().is_err());
}

// ---------------------------------------------------------------------------------------
// Two clients and a server, messages lost at random

/// Alice and bob register with a server through paths that lose `loss` of the messages
/// (from a seeded generator), 10 ms each way. Returns when each was introduced.
fn meet_through_loss(loss: f64, seed: u64) -> (Option<Instant>, Option<Instant>) {
    use rand::{Rng, SeedableRng};
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut server = Server::new(ServerConfig::default());
    let mut alice = Client::new(ms(0), client_config(), ALICE_NONCE);
    let bob_config = PunchConfig::new(addr(SERVER), "bob", "alice");
    // Bob starts at 400 ms: his client is made then.
    let mut bob = Client::new(ms(400), bob_config, BOB_NONCE);
    let bob_starts = ms(400);
    let mut introduced = [None, None];
    // (arrival, to, from, bytes), delivered in time order.
    let mut in_flight: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
    let mut now = ms(0);
    for _ in 0..10_000 {
        for (client, at) in [(&mut alice, ALICE), (&mut bob, BOB)] {
            if at == BOB && now < bob_starts {
                continue;
            }
            while let Some(transmit) = client.poll_transmit(now) {
                if !random.random_bool(loss) {
                    in_flight.push((
                        now + Duration::from_millis(10),
                        addr(SERVER),
                        addr(at),
                        transmit.contents,
                    ));
                }
            }
        }
        while let Some(transmit) = server.poll_transmit(now) {
            if !random.random_bool(loss) {
                in_flight.push((
                    now + Duration::from_millis(10),
                    transmit.destination,
                    addr(SERVER),
                    transmit.contents,
                ));
            }
        }
        for (index, client) in [&mut alice, &mut bob].into_iter().enumerate() {
            while let Some(event) = client.poll_event() {
                if let Event::Introduced { .. } = event {
                    introduced[index] = Some(now);
                }
            }
        }
        if introduced.iter().all(Option::is_some) {
            break;
        }
        let next_arrival = in_flight.iter().map(|(at, ..)| *at).min();
        let bob_timer = if now < bob_starts {
            Some(bob_starts)
        } else {
            bob.poll_timeout()
        };
        let next_timer = [alice.poll_timeout(), bob_timer, server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else {
            break;
        };
        now = next;
        in_flight.sort_by_key(|(at, ..)| *at);
        while in_flight.first().is_some_and(|(at, ..)| *at <= now) {
            let (_, to, from, datagram) = in_flight.remove(0);
            // The server's port, or its probe port.
            if to.ip() == addr(SERVER).ip() {
                server.handle_datagram(now, from, &datagram);
            } else if to == addr(ALICE) {
                let _ = alice.handle_datagram(now, from, &datagram);
            } else {
                let _ = bob.handle_datagram(now, from, &datagram);
            }
        }
        for client in [&mut alice, &mut bob] {
            if client.poll_timeout().is_some_and(|at| at <= now) {
                client.handle_timeout(now);
            }
        }
        if server.poll_timeout().is_some_and(|at| at <= now) {
            server.handle_timeout(now);
        }
    }
    (introduced[0], introduced[1])
}

#[test]
fn lost_messages_are_made_good_by_bounded_retries() {
    // No loss: bob registers at 400 ms and sends his PROBE on the server's answer (420 ms);
    // both are introduced one trip after it reaches the server.
    assert_eq!(meet_through_loss(0.0, 1), (Some(ms(440)), Some(ms(440))));
    // A fifth of every message lost: both meet within a few seconds (the latest at 6.69 s,
    // seed 16: a PROBE goes only on the server's answer, and one lost waits for the next
    // REGISTER, a second later), except where a waiting client's five REGISTERs in a row
    // each lose their round trip (0.36^5, 0.6% a client: seed 123's bob), and it gives up on
    // a silent server.
    let mut apart_more_than_a_second = 0;
    let mut worst = Duration::ZERO;
    let mut gave_up = 0;
    for seed in 0..200 {
        let (Some(alice), Some(bob)) = meet_through_loss(0.2, seed) else {
            gave_up += 1;
            continue;
        };
        assert!(
            alice < ms(7000) && bob < ms(7000),
            "seed {seed}: {alice} {bob}"
        );
        // Each lost INTRODUCE costs its client a second (WAIT_REFRESH) or a REGISTER retry.
        let apart = if alice > bob {
            alice - bob
        } else {
            bob - alice
        };
        worst = worst.max(apart);
        if apart > WAIT_REFRESH {
            apart_more_than_a_second += 1;
        }
    }
    // One round trip lost in either direction costs a second: with 20% loss each way, about
    // one in three tries at 1 - 0.8^2, for either peer; so a tenth of the runs start their
    // SYNs more than a second apart (22 of these 200), never more than a few.
    assert!(
        apart_more_than_a_second <= 30,
        "{apart_more_than_a_second} of 200"
    );
    assert!(worst < Duration::from_secs(5), "{worst:?}");
    assert!(gave_up <= 3, "{gave_up} of 200 gave up");
}

/// Port prediction (docs/protocol.md section 9.4): a client that says a PROBE follows is
/// introduced once it came, and its partner is told the port after the PROBE's, a step on;
/// a step too large for a NAT that counts is no prediction.
#[test]
fn the_server_waits_for_the_probe_and_introduces_the_predicted_port() {
    let probing = |nonce: u64, name: &str, peer: &str| {
        bytes(
            nonce,
            Body::Register {
                name,
                peer,
                probing: true,
                reads_mappings: false,
            },
        )
    };
    let probe = |nonce: u64, name: &str| bytes(nonce, Body::Probe { name });
    let mut server = Server::new(ServerConfig::default());
    // Alice's NAT counts: her REGISTER left from 40000, her PROBE from 40001.
    let alice = addr("203.0.113.4:40000");
    server.handle_datagram(ms(0), alice, &probing(ALICE_NONCE, "alice", "bob"));
    server.handle_datagram(
        ms(0),
        addr("203.0.113.4:40001"),
        &probe(ALICE_NONCE, "alice"),
    );
    // A PROBE with another nonce, or from another address, counts for nothing.
    server.handle_datagram(ms(1), addr("203.0.113.4:40009"), &probe(1, "alice"));
    server.handle_datagram(ms(1), addr("192.0.2.9:40009"), &probe(ALICE_NONCE, "alice"));
    assert_eq!(server.stats().rejected, 2);
    drain_server(&mut server, ms(1));
    // Bob's NAT gives ports at random: 5000, then 31337.
    server.handle_datagram(ms(10), addr(BOB), &probing(BOB_NONCE, "bob", "alice"));
    // Bob's PROBE has not come: he waits.
    assert_eq!(
        drain_server(&mut server, ms(10)),
        [(addr(BOB), BOB_NONCE, format!("WAITING (you are {BOB})"))]
    );
    server.handle_datagram(ms(11), addr("198.51.100.7:31337"), &probe(BOB_NONCE, "bob"));
    assert_eq!(
        drain_server(&mut server, ms(11)),
        [
            (
                addr(BOB),
                BOB_NONCE,
                format!("INTRODUCE peer 203.0.113.4:40002 (you are {BOB})")
            ),
            (
                alice,
                ALICE_NONCE,
                format!("INTRODUCE peer {BOB} (you are {alice})")
            ),
        ]
    );
    assert_eq!(server.registration("alice").unwrap().probed, Some(40001));
    // Without its PROBE, a probing client is introduced after PROBE_WAIT, as it is.
    let mut server = server_with_alice();
    server.handle_datagram(ms(10), addr(BOB), &probing(BOB_NONCE, "bob", "alice"));
    assert_eq!(drain_server(&mut server, ms(10)).len(), 1);
    let later = ms(10) + server::PROBE_WAIT;
    server.handle_datagram(later, addr(BOB), &probing(BOB_NONCE, "bob", "alice"));
    assert_eq!(
        drain_server(&mut server, later)[0],
        (
            addr(BOB),
            BOB_NONCE,
            format!("INTRODUCE peer {ALICE} (you are {BOB})")
        )
    );
}

// Birthday probing (docs/protocol.md section 9.4)

/// Clients that read them are told both NATs' mappings as their PROBEs showed them (alice's
/// NAT kept her port, bob's gave a random one); a client that does not (an older one) is
/// told nothing more than before.
#[test]
fn the_server_tells_a_birthday_pair_both_nats_mappings() {
    use super::message::{Mapping, Mappings};
    for bob_reads in [true, false] {
        let register = |nonce: u64, name: &str, peer: &str, reads_mappings: bool| {
            bytes(
                nonce,
                Body::Register {
                    name,
                    peer,
                    probing: true,
                    reads_mappings,
                },
            )
        };
        let probe = |nonce: u64, name: &str| bytes(nonce, Body::Probe { name });
        let mut server = Server::new(ServerConfig::default());
        server.handle_datagram(
            ms(0),
            addr(ALICE),
            &register(ALICE_NONCE, "alice", "bob", true),
        );
        server.handle_datagram(ms(0), addr(ALICE), &probe(ALICE_NONCE, "alice"));
        server.handle_datagram(
            ms(10),
            addr(BOB),
            &register(BOB_NONCE, "bob", "alice", bob_reads),
        );
        server.handle_datagram(ms(11), addr("198.51.100.7:31337"), &probe(BOB_NONCE, "bob"));
        let mut introductions = Vec::new();
        while let Some(transmit) = server.poll_transmit(ms(11)) {
            let message = Message::parse(&transmit.contents).unwrap();
            if let Body::Introduce { mappings, .. } = message.body {
                introductions.push((transmit.destination, mappings));
            }
        }
        let told = |yours, peers| Some(Mappings { yours, peers });
        assert_eq!(
            introductions,
            [
                (
                    addr(BOB),
                    told(Mapping::Random, Mapping::Independent).filter(|_| bob_reads)
                ),
                (addr(ALICE), told(Mapping::Independent, Mapping::Random)),
            ],
            "bob reads mappings: {bob_reads}"
        );
    }
}

/// Facing a NAT with random ports, the client knocks at its address in paced batches of 16
/// distinct ports; the first KNOCK from that address at another port retargets it there,
/// and the knocking stops.
#[test]
fn facing_random_ports_the_client_knocks_and_retargets_to_the_first_knock_that_gets_in() {
    use super::message::{Mapping, Mappings};
    let mut client = client();
    drain_client(&mut client, ms(0));
    let introduce = bytes(
        ALICE_NONCE,
        Body::Introduce {
            observed: addr(ALICE),
            peer: addr(BOB),
            mappings: Some(Mappings {
                yours: Mapping::Independent,
                peers: Mapping::Random,
            }),
        },
    );
    client.handle_datagram(ms(20), addr(SERVER), &introduce);
    assert_eq!(client.side_sockets(), 0, "the knocker opens no sockets");
    client.handle_timeout(ms(20));
    let knocks: Vec<_> = std::iter::from_fn(|| client.poll_knock(false)).collect();
    assert_eq!(knocks.len(), 16);
    let ports: std::collections::BTreeSet<u16> = knocks
        .iter()
        .map(|(side, knock)| {
            assert_eq!((*side, knock.destination.ip()), (None, addr(BOB).ip()));
            assert_eq!(Message::parse(&knock.contents).unwrap().body, Body::Knock);
            knock.destination.port()
        })
        .collect();
    assert_eq!(ports.len(), 16);
    assert_eq!(client.poll_timeout(), Some(ms(36)), "the next batch");
    // The peer's KNOCK from its side socket's mapping.
    let knock = bytes(BOB_NONCE, Body::Knock);
    let mapping = addr("198.51.100.7:40404");
    assert_eq!(client.handle_datagram(ms(30), mapping, &knock), None);
    assert_eq!(client.retargeted(), Some(mapping));
    assert_eq!(client.taken_as_from(mapping), addr(BOB));
    client.handle_timeout(ms(36));
    assert_eq!(client.poll_knock(false).map(|(_, k)| k.destination), None);
    assert_eq!(client.stats().knocks_received, 1);
    // A KNOCK from elsewhere is nobody's.
    client.handle_datagram(ms(40), addr("192.0.2.66:40404"), &knock);
    assert_eq!(client.retargeted(), Some(mapping));
}
