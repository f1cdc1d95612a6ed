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
