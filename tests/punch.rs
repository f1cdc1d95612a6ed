//! Hole punching over loopback through the library (docs/protocol.md section 9): a
//! rendezvous server and two peers on 127.0.0.1, no NAT between them, so the punch works
//! at once; the relay, forced; and the ways a punch fails, each with its one-line error in
//! bounded time. (The root test with real NATs is tests/nat-traversal.)

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ferry::net::RendezvousServer;
use ferry::rendezvous::message::{Body, Message};
use ferry::rendezvous::{DirectFailure, PunchConfig, PunchError, ServerConfig};
use ferry::{SocketConfig, Stream};

/// A rendezvous server on 127.0.0.1, serving on a thread of its own for the rest of the
/// test process.
fn rendezvous() -> SocketAddr {
    rendezvous_with_log().0
}

/// [`rendezvous`], and the lines of its log (each event's `Display`) as they come.
fn rendezvous_with_log() -> (SocketAddr, mpsc::Receiver<String>) {
    let mut server = RendezvousServer::bind("127.0.0.1:0", ServerConfig::default()).unwrap();
    let address = server.local_addr().unwrap();
    let (lines, log) = mpsc::channel();
    thread::spawn(move || server.run(|event| drop(lines.send(event.to_string()))));
    (address, log)
}

/// Wait, at most 30 s, for a line of `log` that starts with `start`.
fn wait_for(log: &mpsc::Receiver<String>, start: &str) {
    let limit = Duration::from_secs(30);
    let mut seen: Vec<String> = Vec::new();
    while !seen.iter().any(|seen| seen.starts_with(start)) {
        match log.recv_timeout(limit) {
            Ok(next) => seen.push(next),
            Err(_) => panic!("no {start:?} within {limit:?} in: {seen:?}"),
        }
    }
}

/// Alice and bob punch through `server` with these settings, each in its thread; alice
/// sends `to_bob` and bob `to_alice`, each then shuts down and reads to the end. Returns
/// what each read, and whether each stream was relayed.
fn exchange(
    alice: PunchConfig,
    bob: PunchConfig,
    to_bob: Vec<u8>,
    to_alice: Vec<u8>,
) -> ((Vec<u8>, bool), (Vec<u8>, bool)) {
    let side = |config: PunchConfig, message: Vec<u8>| {
        thread::spawn(move || -> io::Result<(Vec<u8>, bool, SocketAddr)> {
            let mut stream = Stream::punch_with(&config, &SocketConfig::default())?;
            let relayed = stream.is_relayed();
            let writer = stream.try_clone()?;
            let sending = thread::spawn(move || -> io::Result<()> {
                (&writer).write_all(&message)?;
                writer.shutdown(Shutdown::Write)
            });
            let mut received = Vec::new();
            stream.read_to_end(&mut received)?;
            sending.join().unwrap()?;
            let peer = stream.peer_addr()?;
            stream.close()?;
            Ok((received, relayed, peer))
        })
    };
    let alice = side(alice, to_bob);
    let bob = side(bob, to_alice);
    let (to_alice, alice_relayed, _) = alice.join().unwrap().expect("alice's punch");
    let (to_bob, bob_relayed, _) = bob.join().unwrap().expect("bob's punch");
    ((to_alice, alice_relayed), (to_bob, bob_relayed))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn two_peers_on_loopback_punch_a_direct_connection_and_exchange_a_mebibyte_each_way() {
    let server = rendezvous();
    let (a, b) = (pattern(1 << 20, 1), pattern(1 << 20, 2));
    let ((at_alice, alice_relayed), (at_bob, bob_relayed)) = exchange(
        PunchConfig::new(server, "alice", "bob"),
        PunchConfig::new(server, "bob", "alice"),
        a.clone(),
        b.clone(),
    );
    assert!(at_bob == a, "bob got {} bytes, not alice's", at_bob.len());
    assert!(
        at_alice == b,
        "alice got {} bytes, not bob's",
        at_alice.len()
    );
    assert!(
        !alice_relayed && !bob_relayed,
        "nothing in the way: a direct path"
    );
}

#[test]
fn with_no_time_for_a_direct_path_the_peers_connect_through_the_relay_and_say_so() {
    let (address, events) = rendezvous_with_log();
    let relay_only = move |name: &str, peer: &str| PunchConfig {
        direct_timeout: Duration::ZERO,
        ..PunchConfig::new(address, name, peer)
    };
    let probe = thread::spawn(move || {
        // Bob's stream, kept to look at how it was relayed.
        let stream = Stream::punch_with(&relay_only("bob", "alice"), &SocketConfig::default())?;
        let relayed = stream.relayed();
        let mut received = Vec::new();
        (&stream).read_to_end(&mut received)?;
        io::Result::Ok((relayed, received))
    });
    let alice = Stream::punch_with(&relay_only("alice", "bob"), &SocketConfig::default())
        .expect("alice's punch");
    assert!(alice.is_relayed());
    let message = pattern(200_000, 7);
    (&alice).write_all(&message).unwrap();
    alice.close().unwrap();
    let (relayed, received) = probe.join().unwrap().expect("bob's punch");
    assert!(received == message, "{} bytes arrived", received.len());
    let relayed = relayed.expect("bob's stream is relayed");
    assert_eq!(relayed.server, address);
    // Each switches at its introduction; whichever is later may first get the other's
    // relayed SYN, and follow it (docs/protocol.md section 9.3).
    assert!(
        matches!(
            relayed.why,
            DirectFailure::NothingHeard | DirectFailure::PeerSwitched
        ),
        "{relayed}"
    );
    let log: Vec<String> = events.try_iter().collect();
    assert!(
        log.iter().any(|line| line == "relaying from alice to bob"),
        "{log:?}"
    );
}

/// Punch as `name` to meet `peer` through `server`, with the peer wait `wait`: the error.
/// (How long each stage takes is checked in simulated time, src/rendezvous/tests.rs; here,
/// that it ends.)
fn failed_punch(server: SocketAddr, name: &str, peer: &str, wait: Duration) -> io::Error {
    let config = PunchConfig {
        peer_wait: wait,
        ..PunchConfig::new(server, name, peer)
    };
    Stream::punch_with(&config, &SocketConfig::default()).expect_err("the punch fails")
}

#[test]
fn a_peer_that_never_comes_ends_the_wait_with_not_found() {
    let server = rendezvous();
    let error = failed_punch(server, "carol", "nobody", Duration::from_secs(1));
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        error.to_string(),
        "the peer nobody did not come to the rendezvous within 1s"
    );
}

#[test]
fn a_taken_name_is_refused_at_once() {
    let (server, log) = rendezvous_with_log();
    let holder =
        thread::spawn(move || failed_punch(server, "dave", "erin", Duration::from_secs(3)));
    wait_for(&log, "dave registered from ");
    let error = failed_punch(server, "dave", "frank", Duration::from_secs(3));
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    assert!(
        error.to_string().starts_with(&format!(
            "the name dave is taken at the rendezvous {server}: another peer registered it"
        )),
        "{error}"
    );
    // The first holder waits its wait out, and gives the name back.
    let error = holder.join().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
}

#[test]
fn a_rendezvous_that_never_answers_ends_the_punch_in_five_seconds() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap();
    let error = failed_punch(server, "gina", "hal", Duration::from_secs(30));
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        error.to_string(),
        format!("no answer from the rendezvous at {server} within 5s")
    );
    // It was asked again and again (seven times in simulated time, src/rendezvous/tests.rs;
    // a late thread may miss the last), and told the end.
    silent.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 256];
    let mut seen = Vec::new();
    while let Ok((len, _)) = silent.recv_from(&mut buffer) {
        seen.push(Message::parse(&buffer[..len]).unwrap().to_string());
    }
    let (last, registers) = seen.split_last().expect("datagrams came");
    assert_eq!(last, "UNREGISTER", "{seen:?}");
    assert!((2..=7).contains(&registers.len()), "{seen:?}");
    assert!(
        registers.iter().all(|seen| seen == "REGISTER gina -> hal"),
        "{seen:?}"
    );
}

#[test]
fn forged_introductions_are_rejected_and_named_in_the_error() {
    // A "server" that sees each REGISTER (so knows the nonce) but answers from another port,
    // and, from its own, with a nonce off by one: neither is believed.
    let seen_by = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = seen_by.local_addr().unwrap();
    let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
    let attacker: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let forger = thread::spawn(move || {
        seen_by
            .set_read_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let mut buffer = [0u8; 256];
        let mut forged = 0;
        while let Ok((len, from)) = seen_by.recv_from(&mut buffer) {
            let Ok(register) = Message::parse(&buffer[..len]) else {
                continue;
            };
            if register.body == Body::Unregister {
                break;
            }
            let introduce = |nonce| {
                Message {
                    nonce,
                    body: Body::Introduce {
                        observed: from,
                        peer: attacker,
                        mappings: None,
                    },
                }
                .to_bytes()
            };
            elsewhere.send_to(&introduce(register.nonce), from).unwrap();
            seen_by
                .send_to(&introduce(register.nonce.wrapping_add(1)), from)
                .unwrap();
            forged += 2;
        }
        forged
    });
    let error = failed_punch(server, "ivan", "judy", Duration::from_secs(30));
    let forged = forger.join().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    // Every forgery that came before the end was rejected (two for each of the seven
    // REGISTERs, unless a late thread sent fewer or the last came after the end).
    let punch_error = error.get_ref().and_then(|inner| inner.downcast_ref());
    let Some(&PunchError::ServerSilent { rejected, .. }) = punch_error else {
        panic!("not a silent server: {error:?}")
    };
    assert!((2..=forged).contains(&rejected), "{forged} forged: {error}");
    assert_eq!(
        error.to_string(),
        format!(
            "no answer from the rendezvous at {server} within 5s; {rejected} replies \
             rejected: not from {server}, or not echoing our nonce"
        )
    );
}

#[test]
fn a_bad_name_is_invalid_input_before_anything_is_sent() {
    let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let error = Stream::punch(server, "two words", "bob").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let error = Stream::punch(server, "bob", "bob").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

/// The same on tokio: `ferry::tokio::Stream::punch`.
#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;
    use ::tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn punch_and_swap(config: PunchConfig, message: Vec<u8>) -> io::Result<(Vec<u8>, bool)> {
        let stream = ferry::tokio::Stream::punch_with(&config, &SocketConfig::default()).await?;
        let relayed = stream.is_relayed();
        let (mut reader, mut writer) = stream.into_split();
        let sending = ::tokio::spawn(async move {
            writer.write_all(&message).await?;
            writer.shutdown().await
        });
        let mut received = Vec::new();
        reader.read_to_end(&mut received).await?;
        sending.await.unwrap()?;
        Ok((received, relayed))
    }

    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_peers_punch_on_tokio_directly_and_through_the_relay() {
        let server = rendezvous();
        for (direct_timeout, relayed) in [(DIRECT_TIMEOUT_DEFAULT, false), (Duration::ZERO, true)] {
            let (alice_name, bob_name) = if relayed {
                ("relayed-alice", "relayed-bob")
            } else {
                ("alice", "bob")
            };
            let config = |name: &str, peer: &str| PunchConfig {
                direct_timeout,
                ..PunchConfig::new(server, name, peer)
            };
            let (a, b) = (pattern(300_000, 3), pattern(300_000, 4));
            let alice = ::tokio::spawn(punch_and_swap(config(alice_name, bob_name), a.clone()));
            let bob = ::tokio::spawn(punch_and_swap(config(bob_name, alice_name), b.clone()));
            let (at_alice, alice_relayed) = alice.await.unwrap().expect("alice's punch");
            let (at_bob, bob_relayed) = bob.await.unwrap().expect("bob's punch");
            assert!(at_alice == b && at_bob == a, "the bytes arrived intact");
            assert_eq!((alice_relayed, bob_relayed), (relayed, relayed));
        }
    }

    const DIRECT_TIMEOUT_DEFAULT: Duration = ferry::rendezvous::client::DIRECT_TIMEOUT;

    #[::tokio::test]
    async fn a_punch_on_tokio_ends_on_a_silent_rendezvous_and_an_absent_peer() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let error = ferry::tokio::Stream::punch(silent.local_addr().unwrap(), "kim", "lou")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let server = rendezvous();
        let config = PunchConfig {
            peer_wait: Duration::from_secs(1),
            ..PunchConfig::new(server, "kim", "lou")
        };
        let error = ferry::tokio::Stream::punch_with(&config, &SocketConfig::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            error.to_string(),
            "the peer lou did not come to the rendezvous within 1s"
        );
    }
}
