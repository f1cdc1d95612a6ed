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
