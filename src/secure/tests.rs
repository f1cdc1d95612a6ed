//! The secure mode's guarantees (docs/protocol.md section 10), one test each, on two endpoints
//! that hand each other their datagrams at explicit times, with an attacker on the path who
//! sees, keeps, alters and injects datagrams.

use std::net::SocketAddr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::conn::{Config, ConnectionError, ReadError, Reason, State, Transmit};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::time::Instant;
use crate::wire::secure::{payload_offset, write_checksum};

const CLIENT: &str = "192.0.2.1:4747";
const SERVER: &str = "198.51.100.1:4747";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn identity(seed: u64) -> Identity {
    Identity::generate(&mut ChaCha8Rng::seed_from_u64(seed))
}

fn endpoint(seed: u64, secure: Option<SecureConfig>) -> Endpoint {
    let mut endpoint = Endpoint::with_seed(Config::default(), seed).unwrap();
    if let Some(secure) = secure {
        endpoint.set_secure(secure);
    }
    endpoint
}

/// A listening secure server with identity 1.
fn server(seed: u64) -> Endpoint {
    let mut server = endpoint(seed, Some(SecureConfig::server(identity(1))));
    server.listen(8);
    server
}

/// A secure client that pins identity 1's key.
fn client() -> Endpoint {
    endpoint(
        2,
        Some(SecureConfig::client(Some(identity(1).public_key()))),
    )
}

/// Everything `from` has to send at `now`.
fn drain(from: &mut Endpoint, now: Instant) -> Vec<Transmit> {
    std::iter::from_fn(|| from.poll_transmit(now)).collect()
}

/// Hand every datagram each side has at `now` to the other, until both are quiet; returns
/// what crossed, as (from the client?, datagram).
fn shuttle(client: &mut Endpoint, server: &mut Endpoint, now: Instant) -> Vec<(bool, Vec<u8>)> {
    let mut crossed = Vec::new();
    loop {
        let from_client = drain(client, now);
        for transmit in &from_client {
            server.handle_datagram(now, addr(CLIENT), &transmit.contents);
            crossed.push((true, transmit.contents.clone()));
        }
        let from_server = drain(server, now);
        for transmit in &from_server {
            client.handle_datagram(now, addr(SERVER), &transmit.contents);
            crossed.push((false, transmit.contents.clone()));
        }
        if from_client.is_empty() && from_server.is_empty() {
            return crossed;
        }
    }
}

/// A client and a server with one secure connection, at 1 ms.
fn established() -> (Endpoint, Endpoint, ConnectionHandle, ConnectionHandle) {
    let mut client = client();
    let mut server = server(3);
    let client_handle = client.connect(addr(SERVER)).unwrap();
    shuttle(&mut client, &mut server, ms(1));
    let server_handle = server.accept().expect("the secure handshake completed");
    (client, server, client_handle, server_handle)
}

fn read_all(endpoint: &mut Endpoint, handle: ConnectionHandle) -> Vec<u8> {
    let connection = endpoint.connection_mut(handle).unwrap();
    let mut buf = vec![0; 1 << 16];
    match connection.read(&mut buf) {
        Ok(len) => buf[..len].to_vec(),
        Err(ReadError::WouldBlock) => Vec::new(),
        Err(error) => panic!("read failed: {error:?}"),
    }
}

fn packet_number(datagram: &[u8]) -> Option<u64> {
    match SecureOption::find(datagram) {
        Some(SecureOption::Protection { packet_number, .. }) => Some(packet_number),
        _ => None,
    }
}

/// The packet numbers of what the client sent, of what crossed in a [`shuttle`].
fn client_packet_numbers(crossed: &[(bool, Vec<u8>)]) -> Vec<u64> {
    crossed
        .iter()
        .filter(|(from_client, _)| *from_client)
        .filter_map(|(_, datagram)| packet_number(datagram))
        .collect()
}

/// The client writes `data`; returns the protected datagram that carries it (not delivered).
/// Nagle is off, so that it goes although earlier data is unacknowledged.
fn data_datagram(
    client: &mut Endpoint,
    handle: ConnectionHandle,
    data: &[u8],
    now: Instant,
) -> Vec<u8> {
    let connection = client.connection_mut(handle).unwrap();
    connection.set_nodelay(true);
    connection.write(data).unwrap();
    let sent = drain(client, now);
    assert_eq!(sent.len(), 1, "one data segment");
    sent[0].contents.clone()
}

// ---------------------------------------------------------------------------------------
// The handshake

#[test]
fn the_handshake_rides_in_the_syn_and_syn_ack_and_data_crosses_encrypted() {
    let mut client = client();
    let mut server = server(3);
    let handle = client.connect(addr(SERVER)).unwrap();
    let syn = drain(&mut client, ms(0));
    assert_eq!(syn.len(), 1);
    let syn = &syn[0].contents;
    assert!(
        // Noise's `e` (32 octets), then the SYN as sent (24 octets of header, 16 of options:
        // the MSS, SACK-permitted and timestamps).
        matches!(SecureOption::find(syn), Some(SecureOption::Handshake(m)) if m.len() == 32 + 40)
    );
    server.handle_datagram(ms(0), addr(CLIENT), syn);
    let syn_ack = drain(&mut server, ms(0));
    assert_eq!(syn_ack.len(), 1);
    assert!(matches!(
        SecureOption::find(&syn_ack[0].contents),
        Some(SecureOption::Handshake(_))
    ));
    client.handle_datagram(ms(40), addr(SERVER), &syn_ack[0].contents);
    // One round trip after the SYN the client is established, knows the server's key, and
    // its first data goes protected, with the final ACK.
    assert_eq!(
        client.connection(handle).unwrap().state(),
        State::Established
    );
    assert_eq!(client.peer_key(handle), Some(identity(1).public_key()));
    let secret = b"the first byte after one round trip";
    client
        .connection_mut(handle)
        .unwrap()
        .write(secret)
        .unwrap();
    let sent = drain(&mut client, ms(40));
    assert!(!sent.is_empty());
    for transmit in &sent {
        assert!(packet_number(&transmit.contents).is_some(), "protected");
        assert!(!transmit
            .contents
            .windows(secret.len())
            .any(|window| window == secret));
        server.handle_datagram(ms(60), addr(CLIENT), &transmit.contents);
    }
    let accepted = server.accept().expect("the handshake completed");
    assert_eq!(read_all(&mut server, accepted), secret);
    assert_eq!(server.stats().discarded_unauthenticated, 0);
}

/// With path MTU discovery on, the protection (36 octets) comes out of the payload, so that a
/// protected datagram of the base size is the plain one's, 1224 octets: every path carries it,
/// IPv6's minimum MTU included (1232 octets of UDP payload). Only a probe is larger.
#[test]
fn a_protected_base_datagram_is_the_plain_ones_size_which_every_path_carries() {
    let (mut client, _server, handle, _) = established();
    let connection = client.connection_mut(handle).unwrap();
    connection.write(&[7; 20_000]).unwrap();
    let sent = drain(&mut client, ms(2));
    let (probes, data): (Vec<&Transmit>, Vec<&Transmit>) = sent
        .iter()
        .partition(|transmit| transmit.reason == Reason::PathMtuProbe);
    assert_eq!(probes.len(), 1);
    assert!(data.len() > 1);
    assert!(
        data.iter().all(|transmit| transmit.contents.len() == 1224),
        "{:?}",
        data.iter()
            .map(|transmit| transmit.contents.len())
            .collect::<Vec<_>>()
    );
    assert_eq!(probes[0].contents.len(), 1452);
}

#[test]
fn a_secure_run_is_a_pure_function_of_its_seeds() {
    let run = || {
        let mut client = client();
        let mut server = server(3);
        let handle = client.connect(addr(SERVER)).unwrap();
        client
            .connection_mut(handle)
            .unwrap()
            .write(b"hello")
            .unwrap();
        shuttle(&mut client, &mut server, ms(1))
    };
    assert_eq!(run(), run());
}

#[test]
fn a_man_in_the_middle_answering_in_the_servers_place_fails_the_handshake_at_once() {
    // The attacker answers the SYN with a key of its own (it cannot prove the server's):
    // the client, which pinned the server's key, fails with a clear error one round trip
    // in, and sends nothing more.
    let mut client = client();
    let mut impostor = endpoint(9, Some(SecureConfig::server(identity(66))));
    impostor.listen(8);
    let handle = client.connect(addr(SERVER)).unwrap();
    shuttle(&mut client, &mut impostor, ms(1));
    let connection = client.connection(handle).unwrap();
    assert_eq!(connection.error(), Some(ConnectionError::ServerKeyMismatch));
    assert_eq!(client.peer_key(handle), None);
    assert!(drain(&mut client, ms(5000)).is_empty());
    assert_eq!(
        ConnectionError::ServerKeyMismatch.to_string(),
        "the server's key is not the one expected: a man in the middle, or a changed server key"
    );
}

#[test]
fn a_forged_syn_ack_is_dropped_and_the_servers_answer_still_completes_the_handshake() {
    // An attacker who guesses the SYN-ACK's fields but cannot write the server's Noise
    // message: dropped and counted, and the handshake goes on.
    let mut client = client();
    let mut server = server(3);
    let handle = client.connect(addr(SERVER)).unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(0), addr(CLIENT), &syn);
    let syn_ack = drain(&mut server, ms(0)).remove(0).contents;
    let mut forged = syn_ack.clone();
    let last = forged.len() - 1;
    forged[last - 20] ^= 0x40; // inside the Noise message
    write_checksum(&mut forged);
    client.handle_datagram(ms(1), addr(SERVER), &forged);
    assert_eq!(client.stats().discarded_unauthenticated, 1);
    assert_eq!(client.connection(handle).unwrap().state(), State::SynSent);
    client.handle_datagram(ms(2), addr(SERVER), &syn_ack);
    assert_eq!(
        client.connection(handle).unwrap().state(),
        State::Established
    );
}

#[test]
fn a_plain_server_answering_a_secure_client_fails_it_at_once_never_in_plaintext() {
    let mut client = client();
    let mut plain_server = endpoint(3, None);
    plain_server.listen(8);
    let handle = client.connect(addr(SERVER)).unwrap();
    let crossed = shuttle(&mut client, &mut plain_server, ms(1));
    assert_eq!(
        client.connection(handle).unwrap().error(),
        Some(ConnectionError::NotSecure)
    );
    // The SYN, the plain SYN-ACK, and nothing from the client after it.
    assert_eq!(crossed.len(), 2);
    // The plain server's half-open connection learns of it at its SYN-ACK's retry: the
    // client's endpoint resets the stray.
    let retry_at = plain_server.poll_timeout().expect("the SYN-ACK's timer");
    plain_server.handle_timeout(retry_at);
    let retry = drain(&mut plain_server, retry_at);
    assert_eq!(retry.len(), 1);
    client.handle_datagram(retry_at, addr(SERVER), &retry[0].contents);
    let reset = drain(&mut client, retry_at);
    assert_eq!(reset.len(), 1);
    plain_server.handle_datagram(retry_at, addr(CLIENT), &reset[0].contents);
    assert_eq!(plain_server.connections().count(), 0);
}

#[test]
fn a_plain_client_is_refused_by_a_secure_server() {
    let mut plain_client = endpoint(2, None);
    let mut server = server(3);
    let handle = plain_client.connect(addr(SERVER)).unwrap();
    shuttle(&mut plain_client, &mut server, ms(1));
    assert_eq!(
        plain_client.connection(handle).unwrap().error(),
        Some(ConnectionError::Refused)
    );
    assert_eq!(server.stats().plain_syns_refused, 1);
    assert!(server.accept().is_none());
}

// ---------------------------------------------------------------------------------------
// Protected segments

#[test]
fn every_secure_datagram_leaves_checksummed_and_a_traced_connection_records_each_one_sent() {
    // A secure connection leaves its datagrams' checksum to the session, which writes it
    // once, after sealing (docs/protocol.md section 10.3): each must still cross with a
    // good one, and the connection's trace, which reads what it sent, must not miss any.
    let mut client = client();
    let mut server = server(3);
    client.set_tracing(true);
    let handle = client.connect(addr(SERVER)).unwrap();
    let mut crossed = shuttle(&mut client, &mut server, ms(1));
    let accepted = server.accept().expect("the secure handshake completed");
    let message = vec![7u8; 5000];
    client
        .connection_mut(handle)
        .unwrap()
        .write(&message)
        .unwrap();
    client.connection_mut(handle).unwrap().shutdown();
    crossed.extend(shuttle(&mut client, &mut server, ms(2)));
    assert_eq!(read_all(&mut server, accepted), message);
    for (_, datagram) in &crossed {
        assert!(Segment::parse(datagram).is_ok(), "a bad checksum crossed");
    }
    let from_client = crossed
        .iter()
        .filter(|(from_client, _)| *from_client)
        .count();
    let traced_sent = std::iter::from_fn(|| client.poll_trace_event())
        .filter(|(_, traced)| matches!(traced.event, crate::conn::TraceEvent::Sent { .. }))
        .count();
    assert_eq!(traced_sent, from_client);
    assert!(
        from_client >= 6,
        "the SYN, the data in four segments and the FIN"
    );
    assert_eq!(server.stats().discarded_unauthenticated, 0);
    assert_eq!(
        server
            .connection(accepted)
            .unwrap()
            .stats()
            .discarded_corrupt,
        0
    );
}

#[test]
fn forged_altered_and_replayed_segments_from_an_on_path_attacker_are_dropped_and_counted() {
    let (mut client, mut server, client_handle, server_handle) = established();
    let genuine = data_datagram(&mut client, client_handle, b"pay alice 10", ms(2));
    let start = payload_offset(&genuine);
    // The attacker sees the datagram and keeps a copy; the original arrives.
    server.handle_datagram(ms(3), addr(CLIENT), &genuine);
    assert_eq!(read_all(&mut server, server_handle), b"pay alice 10");
    let mut attacks = Vec::new();
    // A replay of the very datagram.
    attacks.push(genuine.clone());
    // The ciphertext altered (a bit of the amount), the checksum made good again.
    let mut altered = genuine.clone();
    altered[start + 10] ^= 0x01;
    write_checksum(&mut altered);
    attacks.push(altered);
    // The header altered: the window, and the packet number (a replay under a new number).
    for offset in [13, start - 1] {
        let mut altered = genuine.clone();
        altered[offset] ^= 0x01;
        write_checksum(&mut altered);
        attacks.push(altered);
    }
    // A segment forged from scratch with the next sequence number and a fresh packet number.
    let forged_payload = [0u8; 12 + TAG_LEN];
    let seq = Segment::parse(&genuine).unwrap().seq + 12;
    let forged = crate::wire::secure::emit_with(
        &Segment {
            seq,
            payload: &forged_payload,
            ..Segment::parse(&genuine).unwrap()
        },
        &SecureOption::Protection {
            connection_id: [0; 8],
            packet_number: 1 << 40,
        },
    );
    attacks.push(forged);
    // And the same data in the clear.
    let mut plain = Vec::new();
    Segment {
        seq,
        payload: b"pay mallory9",
        ..Segment::parse(&genuine).unwrap()
    }
    .emit(&mut plain);
    attacks.push(plain);
    for (index, attack) in attacks.iter().enumerate() {
        server.handle_datagram(ms(4), addr(CLIENT), attack);
        assert_eq!(
            server.stats().discarded_unauthenticated,
            index as u64 + 1,
            "attack {index} was not counted"
        );
        assert!(
            read_all(&mut server, server_handle).is_empty(),
            "attack {index} delivered"
        );
    }
    // The connection goes on: the client's next data arrives.
    let next = data_datagram(&mut client, client_handle, b"and bob 5", ms(5));
    server.handle_datagram(ms(6), addr(CLIENT), &next);
    assert_eq!(read_all(&mut server, server_handle), b"and bob 5");
}

#[test]
fn a_retransmission_goes_under_a_new_packet_number_so_no_nonce_is_used_twice() {
    let (mut client, mut server, client_handle, server_handle) = established();
    client
        .connection_mut(client_handle)
        .unwrap()
        .write(&[7; 3000])
        .unwrap();
    // The first flight is lost; the timers (a tail loss probe, then the RTO) send it again,
    // cut as the window then allows.
    let lost = drain(&mut client, ms(2));
    assert!(lost.len() >= 2);
    let first_lost = Segment::parse(&lost[0].contents).unwrap().seq;
    let mut numbers: Vec<u64> = lost
        .iter()
        .filter_map(|t| packet_number(&t.contents))
        .collect();
    let mut resent = Vec::new();
    let mut now = ms(2);
    while !resent
        .iter()
        .any(|t: &Transmit| Segment::parse(&t.contents).unwrap().seq == first_lost)
    {
        assert!(now < ms(10_000), "the first segment never went again");
        now = client.poll_timeout().expect("a timer runs");
        client.handle_timeout(now);
        resent.extend(drain(&mut client, now));
    }
    let again = resent
        .iter()
        .find(|t| Segment::parse(&t.contents).unwrap().seq == first_lost)
        .unwrap();
    assert_ne!(
        again.contents, lost[0].contents,
        "a retransmission is a new datagram"
    );
    assert_ne!(
        packet_number(&again.contents),
        packet_number(&lost[0].contents)
    );
    numbers.extend(resent.iter().filter_map(|t| packet_number(&t.contents)));
    // The rest of the transfer, with every datagram delivered.
    for transmit in &resent {
        server.handle_datagram(now, addr(CLIENT), &transmit.contents);
    }
    numbers.extend(client_packet_numbers(&shuttle(
        &mut client,
        &mut server,
        now,
    )));
    let mut received = read_all(&mut server, server_handle);
    for round in 1..=20 {
        if received.len() == 3000 {
            break;
        }
        let later = now + std::time::Duration::from_millis(50 * round);
        client.handle_timeout(later);
        server.handle_timeout(later);
        numbers.extend(client_packet_numbers(&shuttle(
            &mut client,
            &mut server,
            later,
        )));
        received.extend(read_all(&mut server, server_handle));
    }
    assert_eq!(received, vec![7; 3000]);
    let mut distinct = numbers.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "a packet number twice: {numbers:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Stateless reset

#[test]
fn a_server_that_lost_its_keys_ends_the_connection_with_a_stateless_reset() {
    let (mut client, _crashed, client_handle, _) = established();
    // The server crashes and restarts with the same identity (kept in a file), no state.
    let mut restarted = server(77);
    let datagram = data_datagram(&mut client, client_handle, b"are you there", ms(10));
    restarted.handle_datagram(ms(11), addr(CLIENT), &datagram);
    let reset = drain(&mut restarted, ms(11));
    assert_eq!(reset.len(), 1);
    assert!(matches!(
        SecureOption::find(&reset[0].contents),
        Some(SecureOption::Reset(_))
    ));
    assert_eq!(restarted.stats().stateless_resets_sent, 1);
    client.handle_datagram(ms(12), addr(SERVER), &reset[0].contents);
    assert_eq!(
        client.connection(client_handle).unwrap().error(),
        Some(ConnectionError::Reset)
    );
    assert_eq!(client.stats().stateless_resets_received, 1);
}

#[test]
fn nobody_else_can_reset_a_secure_connection() {
    let (mut client, mut server, client_handle, _) = established();
    let datagram = data_datagram(&mut client, client_handle, b"hello", ms(10));
    server.handle_datagram(ms(11), addr(CLIENT), &datagram);
    let ack = drain(&mut server, ms(60));
    let seen = Segment::parse(&ack[0].contents).unwrap();
    // An on-path attacker who saw the server's ACK knows RCV.NXT exactly: a plain RST
    // there would reset a plain connection.
    let mut plain_rst = Vec::new();
    Segment {
        flags: Flags::RST,
        seq: seen.seq,
        ..Segment::default()
    }
    .emit(&mut plain_rst);
    // A stateless reset from a server with another identity (the impostor's own token).
    let mut impostor = endpoint(5, Some(SecureConfig::server(identity(66))));
    impostor.handle_datagram(ms(12), addr(CLIENT), &datagram);
    let impostor_reset = drain(&mut impostor, ms(12)).remove(0).contents;
    // A reset with a made-up token.
    let guessed = crate::wire::secure::emit_with(
        &Segment {
            flags: Flags::RST,
            seq: seen.seq,
            ..Segment::default()
        },
        &SecureOption::Reset([0x55; 16]),
    );
    for (index, attack) in [plain_rst, impostor_reset, guessed].iter().enumerate() {
        client.handle_datagram(ms(13), addr(SERVER), attack);
        assert_eq!(client.stats().discarded_unauthenticated, index as u64 + 1);
    }
    let connection = client.connection(client_handle).unwrap();
    assert_eq!(connection.state(), State::Established);
    assert_eq!(connection.error(), None);
    assert_eq!(client.stats().stateless_resets_received, 0);
}

// ---------------------------------------------------------------------------------------
// Untrusted bytes

#[test]
fn mutated_secure_datagrams_never_panic_and_never_deliver_a_byte() {
    // Every datagram of a secure exchange, each byte flipped in turn, cut at every length,
    // and given to a fresh client, a fresh server and the established pair: no panic, and
    // nothing reaches the application (a flip only the CRC would catch is made good again,
    // so the secure layer itself judges it).
    let mut client = client();
    let mut listener = server(3);
    let handle = client.connect(addr(SERVER)).unwrap();
    client
        .connection_mut(handle)
        .unwrap()
        .write(b"payload")
        .unwrap();
    let crossed = shuttle(&mut client, &mut listener, ms(1));
    let server_handle = listener.accept().unwrap();
    let mut server_read = read_all(&mut listener, server_handle);
    assert_eq!(server_read, b"payload");
    for (from_client, datagram) in &crossed {
        let mut variants = Vec::new();
        for index in 0..datagram.len() {
            let mut flipped = datagram.clone();
            flipped[index] ^= 0x20;
            write_checksum(&mut flipped);
            variants.push(flipped);
        }
        variants.extend((0..datagram.len()).map(|cut| datagram[..cut].to_vec()));
        for variant in &variants {
            let mut fresh_server = server(4);
            fresh_server.handle_datagram(ms(2), addr(CLIENT), variant);
            let _ = drain(&mut fresh_server, ms(2));
            let mut fresh_client = endpoint(5, Some(SecureConfig::client(None)));
            fresh_client.handle_datagram(ms(2), addr(SERVER), variant);
            let _ = drain(&mut fresh_client, ms(2));
            if *from_client {
                listener.handle_datagram(ms(2), addr(CLIENT), variant);
                server_read.extend(read_all(&mut listener, server_handle));
            } else {
                client.handle_datagram(ms(2), addr(SERVER), variant);
                assert!(read_all(&mut client, handle).is_empty());
            }
        }
    }
    assert_eq!(server_read, b"payload", "a mutation delivered data");
}

#[test]
fn a_replayed_syn_opens_nothing_the_attacker_can_use() {
    // An attacker records a client's SYN and replays it to the server (restarted, or after
    // the client's connection ended). With no 0-RTT there is no data in it to take twice:
    // the server answers with a SYN-ACK to the client's address, which the client, whose
    // handshake state is gone, drops unanswered; the half-open connection is never accepted
    // and ends when its SYN-ACK retries run out.
    let (mut client, _server, _, _) = established();
    let mut recorded_client = self::client();
    recorded_client.connect(addr(SERVER)).unwrap();
    let syn = drain(&mut recorded_client, ms(0)).remove(0).contents;
    let mut server = server(11);
    server.handle_datagram(ms(10), addr(CLIENT), &syn);
    let syn_ack = drain(&mut server, ms(10));
    assert_eq!(syn_ack.len(), 1);
    // The client that the SYN-ACK reaches has no handshake waiting for it.
    let mut fresh_client = endpoint(12, Some(SecureConfig::client(None)));
    for receiver in [&mut client, &mut fresh_client] {
        let before = receiver.stats().discarded_unauthenticated;
        receiver.handle_datagram(ms(11), addr(SERVER), &syn_ack[0].contents);
        assert_eq!(receiver.stats().discarded_unauthenticated, before + 1);
        assert!(
            drain(receiver, ms(11)).is_empty(),
            "answered a replay's SYN-ACK"
        );
    }
    let mut now = ms(10);
    while let Some(at) = server.poll_timeout() {
        assert!(at < ms(600_000), "the half-open connection never ended");
        now = at;
        server.handle_timeout(now);
        let _ = drain(&mut server, now);
    }
    assert!(server.accept().is_none());
    assert_eq!(server.connections().count(), 0, "still held at {now:?}");
}

// ---------------------------------------------------------------------------------------
// 0-RTT (docs/protocol.md section 10.7)

const REQUEST: &[u8] = b"GET /index.html";
const RESPONSE: &[u8] = b"200 OK, here it is";

/// A listening secure server with identity 1 that refuses 0-RTT data.
fn refusing_server(seed: u64) -> Endpoint {
    let mut config = SecureConfig::server(identity(1));
    config.refuse_early_data = true;
    let mut server = endpoint(seed, Some(config));
    server.listen(8);
    server
}

/// Run both endpoints' timers and datagrams, lossless and instant, until both are quiet or
/// `until`.
fn run_until(client: &mut Endpoint, server: &mut Endpoint, mut now: Instant, until: Instant) {
    loop {
        shuttle(client, server, now);
        let next = [client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(at) if at <= until => {
                now = at.max(now);
                client.handle_timeout(now);
                server.handle_timeout(now);
            }
            _ => return,
        }
    }
}

#[test]
fn zero_rtt_data_rides_encrypted_in_the_syn_and_the_server_reads_it_before_the_handshake_ends() {
    let mut client = client();
    let mut server = server(3);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0));
    assert_eq!(syn.len(), 1, "the SYN alone goes first");
    let syn = &syn[0].contents;
    let segment = Segment::parse(syn).unwrap();
    assert!(is_syn(&segment));
    assert_eq!(SecureOption::find(syn), Some(SecureOption::EarlyHandshake));
    assert!(
        !syn.windows(REQUEST.len()).any(|window| window == REQUEST),
        "the early data crossed in the clear"
    );
    // The SYN arrives: the server's application takes the connection and reads the request
    // at once, one one-way delay after the client's connect.
    server.handle_datagram(ms(20), addr(CLIENT), syn);
    let syn_ack = drain(&mut server, ms(20));
    assert!(is_syn_ack(&Segment::parse(&syn_ack[0].contents).unwrap()));
    assert!(syn_ack[1..]
        .iter()
        .all(|t| packet_number(&t.contents).is_some()));
    let accepted = server
        .accept()
        .expect("a 0-RTT SYN's connection is accepted at once");
    assert_eq!(read_all(&mut server, accepted), REQUEST);
    assert_eq!(server.stats().early_data_accepted, 1);
    // No round trip was timed: the data stands in for an ACK that has not come, and must
    // not time the SYN-ACK at 0 ms.
    assert_eq!(
        server.connection(accepted).unwrap().stats().smoothed_rtt,
        None
    );
    // Its answer goes at once, protected, behind the SYN-ACK.
    server
        .connection_mut(accepted)
        .unwrap()
        .write(RESPONSE)
        .unwrap();
    let response = drain(&mut server, ms(20));
    assert!(!response.is_empty());
    assert!(response
        .iter()
        .all(|t| packet_number(&t.contents).is_some()));
    for transmit in syn_ack.iter().chain(&response) {
        client.handle_datagram(ms(40), addr(SERVER), &transmit.contents);
    }
    // One round trip after connect the client reads the response.
    assert_eq!(read_all(&mut client, handle), RESPONSE);
    assert_eq!(
        client.connection(handle).unwrap().state(),
        State::Established
    );
    // The server took the request in the SYN: the client never sends it again.
    run_until(&mut client, &mut server, ms(40), ms(10_000));
    assert_eq!(client.connection(handle).unwrap().stats().bytes_sent, 0);
    assert_eq!(server.stats().discarded_unauthenticated, 0);
    assert_eq!(client.stats().discarded_unauthenticated, 0);
}

#[test]
fn a_server_that_refuses_0rtt_drops_the_early_data_and_the_client_sends_it_after_the_handshake() {
    let mut client = client();
    let mut server = refusing_server(3);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(20), addr(CLIENT), &syn);
    assert_eq!(server.stats().early_data_refused, 1);
    let syn_ack = drain(&mut server, ms(20));
    assert!(server.accept().is_none(), "refused: the handshake is 1-RTT");
    for transmit in &syn_ack {
        client.handle_datagram(ms(40), addr(SERVER), &transmit.contents);
    }
    run_until(&mut client, &mut server, ms(40), ms(10_000));
    let accepted = server.accept().expect("the handshake completed");
    assert_eq!(read_all(&mut server, accepted), REQUEST);
    assert_eq!(
        client.connection(handle).unwrap().stats().bytes_sent,
        REQUEST.len() as u64,
        "sent once, after the handshake"
    );
}

#[test]
fn a_client_without_the_servers_key_sends_its_early_data_after_a_1rtt_handshake() {
    // Trust on first use: no key to encrypt to, so no 0-RTT; the data waits one round trip.
    let mut client = endpoint(2, Some(SecureConfig::client(None)));
    let mut server = server(3);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    assert!(matches!(
        SecureOption::find(&syn),
        Some(SecureOption::Handshake(_))
    ));
    run_until(&mut client, &mut server, ms(0), ms(10_000));
    let accepted = server.accept().unwrap();
    assert_eq!(read_all(&mut server, accepted), REQUEST);
    assert_eq!(server.stats().early_data_accepted, 0);
    assert_eq!(
        client.connection(handle).unwrap().stats().bytes_sent,
        REQUEST.len() as u64
    );
}

#[test]
fn a_0rtt_syn_to_a_server_with_another_key_opens_nothing_and_fails_the_client_at_once() {
    // A man in the middle without the pinned key, or a server whose key changed, cannot read
    // the early data: the Noise NK message does not decrypt, and the SYN is dropped as
    // unauthenticated. The answer is a RST saying so, which fails the client with the
    // wrong key's error one round trip after its SYN, not after minutes of SYN retries.
    let mut client = client();
    let mut impostor = endpoint(5, Some(SecureConfig::server(identity(9))));
    impostor.listen(8);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    impostor.handle_datagram(ms(20), addr(CLIENT), &syn);
    assert_eq!(impostor.stats().discarded_unauthenticated, 1);
    assert!(impostor.accept().is_none());
    let answers = drain(&mut impostor, ms(20));
    assert_eq!(answers.len(), 1);
    let refusal = &answers[0].contents;
    assert!(Segment::parse(refusal).unwrap().flags.contains(Flags::RST));
    client.handle_datagram(ms(40), addr(SERVER), refusal);
    let connection = client.connection(handle).unwrap();
    assert_eq!(connection.error(), Some(ConnectionError::ServerKeyMismatch));
    assert!(!refusal
        .windows(REQUEST.len())
        .any(|window| window == REQUEST));
    // The same RST to another SYN (its acknowledgment wrong) fails nothing as a mismatch.
    let mut other = endpoint(
        11,
        Some(SecureConfig::client(Some(identity(1).public_key()))),
    );
    let (handle, _) = other
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let _ = drain(&mut other, ms(0));
    other.handle_datagram(ms(40), addr(SERVER), refusal);
    assert_ne!(
        other.connection(handle).unwrap().error(),
        Some(ConnectionError::ServerKeyMismatch)
    );
}

#[test]
fn a_lost_syn_ack_after_0rtt_is_sent_again_when_the_client_repeats_its_syn() {
    let mut client = client();
    let mut server = server(3);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(20), addr(CLIENT), &syn);
    let lost = drain(&mut server, ms(20));
    // The client's SYN retry, after its retransmission timeout, repeats the same datagram.
    let retry_at = client.poll_timeout().unwrap();
    client.handle_timeout(retry_at);
    let retry = drain(&mut client, retry_at).remove(0).contents;
    assert_eq!(retry, syn);
    server.handle_datagram(retry_at, addr(CLIENT), &retry);
    let again = drain(&mut server, retry_at);
    assert_eq!(
        again[0].contents, lost[0].contents,
        "the same SYN-ACK again"
    );
    client.handle_datagram(retry_at, addr(SERVER), &again[0].contents);
    assert_eq!(
        client.connection(handle).unwrap().state(),
        State::Established
    );
    let accepted = server.accept().unwrap();
    assert_eq!(read_all(&mut server, accepted), REQUEST, "delivered once");
    run_until(&mut client, &mut server, retry_at, ms(20_000));
    assert!(read_all(&mut server, accepted).is_empty());
}

#[test]
fn a_replayed_0rtt_syn_delivers_its_request_again_but_completes_and_injects_nothing() {
    // 0-RTT data is replayable (docs/protocol.md section 10.7), as TLS 1.3's and QUIC's.
    let mut client = client();
    let mut server = server(3);
    let (handle, _) = client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(20), addr(CLIENT), &syn);
    let syn_ack = drain(&mut server, ms(20));
    let original = server.accept().unwrap();
    assert_eq!(read_all(&mut server, original), REQUEST);
    for transmit in &syn_ack {
        client.handle_datagram(ms(40), addr(SERVER), &transmit.contents);
    }
    run_until(&mut client, &mut server, ms(20), ms(1_000));
    // The client's later data, which the attacker records too.
    let later = data_datagram(&mut client, handle, b"more", ms(1_000));

    // Replayed while the connection lives: the server's session knows the datagram, and the
    // connection takes it as a repeated SYN (a challenge ACK at most); nothing is injected.
    server.handle_datagram(ms(1_001), addr(CLIENT), &syn);
    let _ = drain(&mut server, ms(1_001));
    assert!(read_all(&mut server, original).is_empty());
    assert!(server.accept().is_none());

    // Replayed to the server after it lost the connection (a restart, with the same
    // identity): the request IS delivered again, to a new connection. That is what a
    // replay achieves, and why only idempotent requests belong in 0-RTT data.
    let mut restarted = self::server(11);
    restarted.handle_datagram(ms(2_000), addr(CLIENT), &syn);
    let mut answer = drain(&mut restarted, ms(2_000));
    let replayed = restarted.accept().expect("the replay opened a connection");
    assert_eq!(read_all(&mut restarted, replayed), REQUEST);
    // What it does not achieve: the server's answer is sealed under keys from the server's
    // fresh ephemeral key and the client's, which the attacker lacks; the client's
    // recorded later segment does not authenticate under them, so nothing more is
    // delivered, and the real client drops the answer.
    restarted
        .connection_mut(replayed)
        .unwrap()
        .write(RESPONSE)
        .unwrap();
    answer.extend(drain(&mut restarted, ms(2_000)));
    assert!(answer
        .iter()
        .all(|t| !t.contents.windows(RESPONSE.len()).any(|w| w == RESPONSE)));
    restarted.handle_datagram(ms(2_001), addr(CLIENT), &later);
    assert_eq!(restarted.stats().discarded_unauthenticated, 1);
    assert!(read_all(&mut restarted, replayed).is_empty());
    let mut fresh_client = endpoint(12, Some(SecureConfig::client(None)));
    for transmit in &answer {
        fresh_client.handle_datagram(ms(2_020), addr(SERVER), &transmit.contents);
    }
    assert_eq!(
        fresh_client.stats().discarded_unauthenticated,
        answer.len() as u64
    );
    assert!(drain(&mut fresh_client, ms(2_020)).is_empty());
    // Nobody answers: the replayed connection fails, it never completes.
    let mut now = ms(2_000);
    while let Some(at) = restarted.poll_timeout() {
        assert!(at < ms(2_000_000), "the replayed connection never ended");
        now = at;
        restarted.handle_timeout(now);
        let _ = drain(&mut restarted, now);
    }
    let connection = restarted.connection(replayed).unwrap();
    assert_eq!(connection.state(), State::Closed);
    assert!(
        connection.error().is_some(),
        "ended at {now:?} without an error"
    );
}

#[test]
fn a_mutated_0rtt_syn_never_panics_and_never_delivers_a_byte() {
    // The 0-RTT SYN, each byte flipped in turn (the checksum made good again) and cut at
    // every length, given to a fresh server: no panic, no connection, no data. A flip in
    // the clear header changes the datagram but not the SYN inside the message, so such a
    // copy may still open a connection: it must then deliver the request unchanged.
    let mut client = client();
    client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    let mut variants = Vec::new();
    let payload_start = payload_offset(&syn);
    for index in 0..syn.len() {
        let mut flipped = syn.clone();
        flipped[index] ^= 0x20;
        write_checksum(&mut flipped);
        variants.push((index >= payload_start, flipped));
    }
    variants.extend((0..syn.len()).map(|cut| (true, syn[..cut].to_vec())));
    for (in_message, variant) in &variants {
        let mut fresh_server = server(4);
        fresh_server.handle_datagram(ms(20), addr(CLIENT), variant);
        let _ = drain(&mut fresh_server, ms(20));
        match fresh_server.accept() {
            None => {}
            Some(accepted) => {
                assert!(!in_message, "a message altered in its ciphertext opened");
                assert_eq!(read_all(&mut fresh_server, accepted), REQUEST);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Address validation: the secure mode's SYN cookies (docs/protocol.md section 10.8)

/// The first secure SYN of a fresh client (seed `seed`) to the server.
fn forged_syn(seed: u64) -> Vec<u8> {
    let mut forger = endpoint(seed, Some(SecureConfig::client(None)));
    forger.connect(addr(SERVER)).unwrap();
    drain(&mut forger, ms(0)).remove(0).contents
}

/// The `index`-th forged source address, each a different IPv4 address.
fn forged_source(index: u32) -> SocketAddr {
    let [_, a, b, c] = (0x0a00_0000 + index).to_be_bytes();
    SocketAddr::from(([10, a, b, c], 1000))
}

/// A server (backlog 8) given `count` forged SYNs from as many addresses at `now`; returns
/// what it answered.
fn server_under_flood(count: u32, now: Instant) -> (Endpoint, Vec<Transmit>) {
    let mut server = server(3);
    let syn = forged_syn(100);
    let mut answers = Vec::new();
    for index in 0..count {
        server.handle_datagram(now, forged_source(index), &syn);
        answers.extend(drain(&mut server, now));
    }
    (server, answers)
}

fn is_retry(datagram: &[u8]) -> bool {
    matches!(SecureOption::find(datagram), Some(SecureOption::Retry(_)))
}

#[test]
fn a_listener_with_half_its_backlog_half_open_retries_a_secure_syn_and_keeps_nothing() {
    let (mut server, answers) = server_under_flood(4, ms(0));
    assert_eq!(answers.len(), 4);
    assert!(answers
        .iter()
        .all(|t| is_syn_ack(&Segment::parse(&t.contents).unwrap())));
    let mut client = client();
    client.connect(addr(SERVER)).unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    let Some(SecureOption::Handshake(message)) = SecureOption::find(&syn) else {
        panic!("a secure SYN carries its Noise message");
    };
    server.handle_datagram(ms(10), addr(CLIENT), &syn);
    let retry = drain(&mut server, ms(10));
    assert_eq!(retry.len(), 1, "one answer, nothing else");
    assert_eq!(retry[0].reason, Reason::SecureRetry);
    let retry = &retry[0].contents;
    let segment = Segment::parse(retry).unwrap();
    assert_eq!(segment.flags, Flags::ACK);
    assert_eq!(segment.ack, Segment::parse(&syn).unwrap().seq + 1);
    assert!(is_retry(retry));
    assert!(retry.len() < syn.len(), "a retry amplifies nothing");
    assert_eq!(server.connections().count(), 4, "the SYN kept nothing");
    assert_eq!(server.stats().retries_sent, 1);

    // The client sends the same SYN again at once, the same Noise message beside the token.
    client.handle_datagram(ms(20), addr(SERVER), retry);
    let again = drain(&mut client, ms(20));
    assert_eq!(again.len(), 1);
    let again = &again[0].contents;
    let Some(SecureOption::TokenHandshake { message: same, .. }) = SecureOption::find(again) else {
        panic!("the SYN again carries the token");
    };
    assert_eq!(same, message);
    assert_eq!(Segment::parse(again), Segment::parse(&syn));
    assert_eq!(client.stats().retries_taken, 1);

    // The token shows the address: the handshake goes on and the connection is accepted,
    // beside the four forged half-open ones.
    server.handle_datagram(ms(30), addr(CLIENT), again);
    shuttle(&mut client, &mut server, ms(30));
    let accepted = server.accept().expect("a validated client connects");
    assert_eq!(server.stats().retry_tokens_refused, 0);
    let (client_handle, _) = client.connections().next().unwrap();
    assert_eq!(
        client.connection(client_handle).unwrap().state(),
        State::Established
    );
    assert_eq!(
        server.connection(accepted).unwrap().state(),
        State::Established
    );
}

#[test]
fn a_token_for_another_address_or_syn_or_two_periods_old_is_refused_and_a_second_retry_dropped() {
    let (mut server, _) = server_under_flood(4, ms(0));
    let mut client = client();
    client.connect(addr(SERVER)).unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(10), addr(CLIENT), &syn);
    let retry = drain(&mut server, ms(10)).remove(0).contents;
    client.handle_datagram(ms(20), addr(SERVER), &retry);
    let again = drain(&mut client, ms(20)).remove(0).contents;

    // A second retry to the same connect is dropped, and the client sends nothing.
    let unauthenticated = client.stats().discarded_unauthenticated;
    client.handle_datagram(ms(25), addr(SERVER), &retry);
    assert!(drain(&mut client, ms(25)).is_empty());
    assert_eq!(client.stats().retries_taken, 1);
    assert_eq!(
        client.stats().discarded_unauthenticated,
        unauthenticated + 1
    );

    // The token from another address, with another client's Noise message, or too late:
    // dropped unanswered and counted, nothing kept.
    let Some(SecureOption::TokenHandshake { token, .. }) = SecureOption::find(&again) else {
        panic!("the SYN again carries the token");
    };
    let other_message = forged_syn(101);
    let Some(SecureOption::Handshake(other_message)) = SecureOption::find(&other_message) else {
        panic!("a secure SYN carries its Noise message");
    };
    let other_syn = emit_with(
        &Segment::parse(&again).unwrap(),
        &SecureOption::TokenHandshake {
            token,
            message: other_message,
        },
    );
    let late = ms(10) + RETRY_TOKEN_PERIOD * 2;
    for (at, from, datagram) in [
        (ms(30), forged_source(9), &again),
        (ms(30), addr(CLIENT), &other_syn),
        (late, addr(CLIENT), &again),
    ] {
        server.handle_datagram(at, from, datagram);
        assert!(drain(&mut server, at).is_empty());
    }
    assert_eq!(server.stats().retry_tokens_refused, 3);
    assert_eq!(server.connections().count(), 4);
    // In time, from its own address, it opens.
    server.handle_datagram(ms(30), addr(CLIENT), &again);
    shuttle(&mut client, &mut server, ms(30));
    assert!(server.accept().is_some());
}

#[test]
fn zero_rtt_data_arrives_after_a_retry_in_the_syn_sent_again() {
    let (mut server, _) = server_under_flood(4, ms(0));
    let mut client = client();
    client
        .connect_with_early_data(addr(SERVER), REQUEST)
        .unwrap();
    let syn = drain(&mut client, ms(0)).remove(0).contents;
    server.handle_datagram(ms(10), addr(CLIENT), &syn);
    let retry = drain(&mut server, ms(10));
    assert!(is_retry(&retry[0].contents));
    assert_eq!(
        server.stats().early_data_accepted,
        0,
        "nothing read before the token"
    );
    client.handle_datagram(ms(20), addr(SERVER), &retry[0].contents);
    let again = drain(&mut client, ms(20)).remove(0).contents;
    assert!(matches!(
        SecureOption::find(&again),
        Some(SecureOption::TokenEarlyHandshake(_))
    ));
    server.handle_datagram(ms(30), addr(CLIENT), &again);
    let syn_ack = drain(&mut server, ms(30));
    assert!(is_syn_ack(&Segment::parse(&syn_ack[0].contents).unwrap()));
    let accepted = server.accept().expect("the 0-RTT SYN with its token opens");
    assert_eq!(read_all(&mut server, accepted), REQUEST);
    assert_eq!(server.stats().early_data_accepted, 1);
}

#[test]
fn a_flood_of_forged_secure_syns_keeps_half_the_backlog_and_a_real_client_still_connects() {
    // A thousand forged SYNs from a thousand addresses: four (half of the backlog of 8) are
    // taken, each one X25519 and a half-open place; every later one costs a keyed hash and
    // a 44-octet retry to an address that never answers.
    let (mut server, answers) = server_under_flood(1_000, ms(0));
    let syn_acks = answers
        .iter()
        .filter(|t| is_syn_ack(&Segment::parse(&t.contents).unwrap()))
        .count();
    assert_eq!(syn_acks, 4);
    assert_eq!(server.stats().retries_sent, 996);
    assert!(answers
        .iter()
        .filter(|t| is_retry(&t.contents))
        .all(|t| t.contents.len() == 44));
    assert_eq!(server.connections().count(), 4);
    let mut client = client();
    client.connect(addr(SERVER)).unwrap();
    shuttle(&mut client, &mut server, ms(10));
    assert!(server.accept().is_some(), "the real client got in");
    assert_eq!(client.stats().retries_taken, 1);
}
