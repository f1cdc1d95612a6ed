//! The secure mode on real loopback sockets (docs/protocol.md section 10): `SocketConfig::secure`
//! with `ferry::Stream` and `ferry::Listener` (tests/tokio.rs has `ferry::tokio`'s); the
//! server's key as the client sees it, and the errors of a wrong key and a plain peer.

use std::io::{self, Read, Write};
use std::thread;

use ferry::conn::ConnectionError;
use ferry::secure::{Identity, SecureConfig};
use ferry::sim::payload;
use ferry::{Listener, SocketConfig, Stream};

fn secure(secure: SecureConfig) -> SocketConfig {
    SocketConfig {
        secure: Some(secure),
        ..SocketConfig::default()
    }
}

/// A listener of `identity` that echoes one connection's bytes back.
fn echo_server(config: SocketConfig) -> (std::net::SocketAddr, thread::JoinHandle<()>) {
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        stream.write_all(&received).unwrap();
        stream.close().unwrap();
    });
    (address, server)
}

#[test]
fn a_secure_stream_echoes_through_a_pinned_server_and_knows_its_key() {
    let identity = ferry::net::new_identity();
    let key = identity.public_key();
    let (address, server) = echo_server(secure(SecureConfig::server(identity)));
    let mut stream =
        Stream::connect_with(address, &secure(SecureConfig::client(Some(key))), None).unwrap();
    assert_eq!(stream.peer_key(), Some(key));
    let data = payload(300_000, 5);
    stream.write_all(&data).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    assert!(echoed == data, "the echo differs");
    stream.close().unwrap();
    server.join().unwrap();
}

#[test]
fn a_wrong_key_and_a_plain_peer_are_errors_never_plaintext() {
    let identity = Identity::from_private_key([7; 32]);
    let listener =
        Listener::bind_with("127.0.0.1:0", &secure(SecureConfig::server(identity))).unwrap();
    let address = listener.local_addr().unwrap();
    let other = Identity::from_private_key([8; 32]).public_key();
    let error = Stream::connect_with(address, &secure(SecureConfig::client(Some(other))), None)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        error.get_ref().and_then(|inner| inner.downcast_ref()),
        Some(&ConnectionError::ServerKeyMismatch)
    );
    let plain = Stream::connect_with(address, &SocketConfig::default(), None)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(plain.kind(), io::ErrorKind::ConnectionRefused);
    drop(listener);
    let plain_listener = Listener::bind("127.0.0.1:0").unwrap();
    let error = Stream::connect_with(
        plain_listener.local_addr().unwrap(),
        &secure(SecureConfig::client(None)),
        None,
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(
        error.get_ref().and_then(|inner| inner.downcast_ref()),
        Some(&ConnectionError::NotSecure)
    );
}

/// A secure connection captured by the client: 1 KiB of `secret` echoed, and the capture's
/// bytes.
fn captured_echo(secret: &[u8], ciphertext: bool) -> Vec<u8> {
    let identity = ferry::net::new_identity();
    let key = identity.public_key();
    let (address, server) = echo_server(secure(SecureConfig::server(identity)));
    let capture = std::env::temp_dir().join(format!(
        "ferry-secure-capture-{}-{ciphertext}.pcapng",
        std::process::id()
    ));
    let config = SocketConfig {
        capture: Some(capture.clone()),
        capture_ciphertext: ciphertext,
        ..secure(SecureConfig::client(Some(key)))
    };
    let mut stream = Stream::connect_with(address, &config, None).unwrap();
    stream.write_all(secret).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    assert!(echoed == secret);
    stream.close().unwrap();
    server.join().unwrap();
    std::fs::read(&capture).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn a_capture_shows_the_plaintext_and_names_each_handshake_step_or_writes_the_ciphertext() {
    let secret = b"attack at dawn, bring the good biscuits".repeat(8);
    let plain = captured_echo(&secret, false);
    // The data as sent and as echoed back, readable, with what crossed the wire in comments.
    assert!(
        contains(&plain, &secret),
        "the plaintext is not in the capture"
    );
    for comment in [
        "secure handshake 1 of 2, hello: Noise NX -> e",
        "secure handshake 2 of 2, key exchange and finished: Noise NX <- e, ee, s, es",
        "encrypted on the wire: AES-256-GCM, packet number 0 (the nonce)",
    ] {
        assert!(
            contains(&plain, comment.as_bytes()),
            "no comment {comment:?}"
        );
    }
    let ciphertext = captured_echo(&secret, true);
    assert!(
        !contains(&ciphertext, &secret[..16]),
        "the ciphertext capture shows plaintext"
    );
    assert!(contains(&ciphertext, b"encrypted on the wire: AES-256-GCM"));
}

/// What the 0-RTT tests' client asks; the server answers it reversed.
const REQUEST: &[u8] = b"GET /index.html, once or twice: it is idempotent";

/// A listener that reads one request of `REQUEST`'s length, answers it reversed and closes;
/// it returns its endpoint's counts.
fn answering_server(
    config: SocketConfig,
) -> (
    std::net::SocketAddr,
    thread::JoinHandle<ferry::endpoint::EndpointStats>,
) {
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = vec![0; REQUEST.len()];
        stream.read_exact(&mut request).unwrap();
        request.reverse();
        stream.write_all(&request).unwrap();
        let stats = stream.endpoint_stats();
        stream.close().unwrap();
        stats
    });
    (address, server)
}

/// `connect_with_early_data` with the server's key pinned: the request, the answer read back.
fn zero_rtt_exchange(
    address: std::net::SocketAddr,
    key: ferry::secure::PublicKey,
) -> io::Result<Vec<u8>> {
    let config = secure(SecureConfig::client(Some(key)));
    let (mut stream, taken) = Stream::connect_with_early_data(address, &config, None, REQUEST)?;
    assert_eq!(taken, REQUEST.len());
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    stream.close()?;
    Ok(answer)
}

#[test]
fn a_request_rides_encrypted_in_the_syn_to_a_pinned_server_and_is_answered() {
    let identity = ferry::net::new_identity();
    let key = identity.public_key();
    let (address, server) = answering_server(secure(SecureConfig::server(identity)));
    let answer = zero_rtt_exchange(address, key).unwrap();
    assert_eq!(answer, REQUEST.iter().rev().copied().collect::<Vec<_>>());
    // The server took the request from the SYN itself (0-RTT), not after the handshake.
    let stats = server.join().unwrap();
    assert_eq!(
        (stats.early_data_accepted, stats.early_data_refused),
        (1, 0)
    );
}

#[test]
fn a_server_refusing_0rtt_still_gets_the_request_after_the_handshake() {
    let identity = ferry::net::new_identity();
    let key = identity.public_key();
    let mut refusing = SecureConfig::server(identity);
    refusing.refuse_early_data = true;
    let (address, server) = answering_server(secure(refusing));
    let answer = zero_rtt_exchange(address, key).unwrap();
    assert_eq!(answer, REQUEST.iter().rev().copied().collect::<Vec<_>>());
    let stats = server.join().unwrap();
    assert_eq!(
        (stats.early_data_accepted, stats.early_data_refused),
        (0, 1)
    );
}

#[test]
fn a_0rtt_request_to_a_server_with_another_key_fails_at_once_with_the_key_error() {
    // The server cannot read a SYN encrypted to a key it does not hold; its RST says so, and
    // the client fails one round trip later, not after its SYN retries. The listener's
    // thread is never handed a connection.
    let identity = ferry::net::new_identity();
    let listener =
        Listener::bind_with("127.0.0.1:0", &secure(SecureConfig::server(identity))).unwrap();
    let address = listener.local_addr().unwrap();
    let stale = ferry::net::new_identity().public_key();
    let error = zero_rtt_exchange(address, stale).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        error.get_ref().and_then(|inner| inner.downcast_ref()),
        Some(&ConnectionError::ServerKeyMismatch)
    );
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}
