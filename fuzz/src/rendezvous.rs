//! The rendezvous messages: `rendezvous::Message::parse` on arbitrary bytes, and a server and
//! a client fed them.
//!
//! Each input is parsed as it is, and with its CRC field patched to the right value (so the
//! fuzzer gets past the checksum to the type and body checks). Whatever the bytes: no panic;
//! an error explains itself; a message that parses emits bytes that parse again to the same
//! message (a REGISTER's padding aside, which emit lays out its own way), and its emitted
//! form is canonical (emit of that parse gives the same bytes again). Then both datagrams go
//! to a rendezvous server, from the address of a registered peer and from a stranger, and to
//! a client introduced to a peer, from the server's address: none may panic, the server sends
//! at most two replies per datagram (and, to a stranger, never more octets than it sent:
//! no amplification), and the client hands a RELAY's payload back only from the server.

use std::net::SocketAddr;

use ferry::rendezvous::message::{is_rendezvous, Body, Message, MessageError, HEADER_LEN};
use ferry::rendezvous::{Client, PunchConfig, Server, ServerConfig};
use ferry::time::Instant;

/// Offset of the CRC-32 in the header.
const CRC: std::ops::Range<usize> = 12..16;

const SERVER: &str = "192.0.2.100:7000";
const ALICE: &str = "203.0.113.4:4000";
const BOB: &str = "198.51.100.7:5000";
const STRANGER: &str = "192.0.2.66:6666";
const ALICE_NONCE: u64 = 0x0a11_ce00_0a11_ce00;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a literal address")
}

/// The fuzz target.
pub fn run(data: &[u8]) {
    check(data);
    let mut patched = data.to_vec();
    if patched.len() >= HEADER_LEN {
        patched[CRC].fill(0);
        let crc = crc32fast::hash(&patched);
        patched[CRC].copy_from_slice(&crc.to_be_bytes());
        check(&patched);
        assert!(
            !matches!(
                Message::parse(&patched),
                Err(MessageError::BadChecksum { .. })
            ),
            "a datagram with its CRC recomputed fails the CRC"
        );
    }
    feed(data);
    feed(&patched);
}

fn check(data: &[u8]) {
    match Message::parse(data) {
        Ok(message) => {
            assert!(is_rendezvous(data));
            let emitted = message.to_bytes();
            let again = Message::parse(&emitted)
                .unwrap_or_else(|error| panic!("{message:?} emitted as bytes that fail: {error}"));
            assert_eq!(again, message, "emit(parse(x)) parses to another message");
            if !matches!(message.body, Body::Register { .. }) {
                assert_eq!(emitted, data, "emit(parse(x)) differs from x");
            }
            assert_eq!(
                again.to_bytes(),
                emitted,
                "the emitted form is not canonical"
            );
            assert!(!message.to_string().is_empty());
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// A server where alice and bob registered to meet each other, and a client (alice's)
/// introduced to bob, both at time 0.
fn fixtures() -> (Server, Client) {
    let mut server = Server::new(ServerConfig::default());
    for (from, nonce, name, peer) in [
        (ALICE, ALICE_NONCE, "alice", "bob"),
        (BOB, 7, "bob", "alice"),
    ] {
        let register = Message {
            nonce,
            body: Body::Register {
                name,
                peer,
                probing: false,
                reads_mappings: false,
            },
        };
        server.handle_datagram(Instant::ZERO, addr(from), &register.to_bytes());
    }
    while server.poll_transmit(Instant::ZERO).is_some() {}
    let mut client = Client::new(
        Instant::ZERO,
        PunchConfig::new(addr(SERVER), "alice", "bob"),
        ALICE_NONCE,
    );
    let introduce = Message {
        nonce: ALICE_NONCE,
        body: Body::Introduce {
            observed: addr(ALICE),
            peer: addr(BOB),
            mappings: None,
        },
    };
    let _ = client.handle_datagram(Instant::ZERO, addr(SERVER), &introduce.to_bytes());
    while client.poll_transmit(Instant::ZERO).is_some() {}
    while client.poll_event().is_some() {}
    (server, client)
}

fn feed(data: &[u8]) {
    let (mut server, mut client) = fixtures();
    let now = Instant::from_millis(10);
    for from in [ALICE, STRANGER] {
        server.handle_datagram(now, addr(from), data);
        let mut replies = 0;
        let mut octets = 0;
        while let Some(transmit) = server.poll_transmit(now) {
            replies += 1;
            if transmit.destination == addr(from) {
                octets += transmit.contents.len();
            }
            assert!(
                Message::parse(&transmit.contents).is_ok(),
                "the server sent what does not parse"
            );
        }
        assert!(replies <= 2, "{replies} datagrams for one");
        if from == STRANGER {
            assert!(
                octets <= data.len(),
                "{octets} octets to a stranger for {} (amplification)",
                data.len()
            );
        }
        while server.poll_event().is_some() {}
    }
    server.handle_timeout(Instant::from_millis(60_000));
    assert_eq!(server.registrations(), 0, "everything lapses after 30 s");
    for from in [SERVER, BOB] {
        let relayed = client.handle_datagram(now, addr(from), data).is_some();
        assert!(!relayed || from == SERVER, "a RELAY believed from {from}");
    }
    client.handle_timeout(Instant::from_millis(60_000));
    assert!(
        client.poll_event().is_some(),
        "the punch ends within its time"
    );
    assert!(std::iter::from_fn(|| client.poll_transmit(now)).count() <= 8);
}

/// Hand-written seeds: one message of each type, well formed, and one of each malformation.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let bodies: [(&str, Body<'static>); 9] = [
        (
            "register",
            Body::Register {
                name: "alice",
                peer: "bob",
                probing: true,
                reads_mappings: false,
            },
        ),
        (
            "waiting",
            Body::Waiting {
                observed: "203.0.113.4:4000".parse().expect("an address"),
            },
        ),
        (
            "introduce-v6",
            Body::Introduce {
                observed: "[2001:db8::1]:4000".parse().expect("an address"),
                peer: "[2001:db8::2]:5000".parse().expect("an address"),
                mappings: None,
            },
        ),
        (
            "refused",
            Body::Refused {
                reason: ferry::rendezvous::message::Refusal::NameTaken,
            },
        ),
        (
            "relay",
            Body::Relay {
                payload: b"FR\x02\x10 a ferry segment",
            },
        ),
        ("unregister", Body::Unregister),
        ("probe", Body::Probe { name: "alice" }),
        ("knock", Body::Knock),
        (
            "introduce",
            Body::Introduce {
                observed: "203.0.113.4:4000".parse().expect("an address"),
                peer: "198.51.100.7:5000".parse().expect("an address"),
                mappings: None,
            },
        ),
    ];
    let mut seeds: Vec<(String, Vec<u8>)> = bodies
        .into_iter()
        .map(|(name, body)| {
            let message = Message {
                nonce: ALICE_NONCE,
                body,
            };
            (format!("hand-{name}"), message.to_bytes())
        })
        .collect();
    let register = seeds[0].1.clone();
    let mut short = register[..40].to_vec();
    short[CRC].fill(0);
    let crc = crc32fast::hash(&short);
    short[CRC].copy_from_slice(&crc.to_be_bytes());
    seeds.push(("hand-register-short".into(), short));
    let mut bad_family = seeds[1].1.clone();
    bad_family[HEADER_LEN] = 5;
    seeds.push(("hand-bad-family".into(), bad_family));
    seeds.push(("hand-header-only".into(), register[..HEADER_LEN].to_vec()));
    seeds.push(("hand-short".into(), b"RV\x01".to_vec()));
    seeds
}
