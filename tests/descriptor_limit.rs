//! A listener's accepted connections near the process's descriptor limit: each that answers
//! requests gets a UDP socket of its own (src/net/peer_sockets.rs) only while the process uses less than half its
//! limit; past that they share the listener's socket, and every one of them still works.
//!
//! The case lowers this process's soft `RLIMIT_NOFILE`, so it has a test binary of its own.

use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

mod descriptors;
use descriptors::{limit_descriptors, open_descriptors};

use ferry::{Listener, Stream};

/// The soft descriptor limit the case sets: the connections' own sockets stop at 32.
const FILE_LIMIT: u64 = 64;
/// More client streams than half the limit leaves room for once the process's own
/// descriptors (the test harness's, the drivers' epolls, wakers and timers) are counted, and
/// few enough that the client sockets, which need one each, all fit.
const CONNECTIONS: u64 = 28;
const REQUESTS: u64 = 20;
/// Generous bounds that only a hang reaches.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[test]
fn connections_past_half_the_descriptor_limit_share_the_listeners_socket_and_work() {
    limit_descriptors(FILE_LIMIT);
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let sessions: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (mut stream, _) = listener.accept().unwrap();
                thread::spawn(move || -> io::Result<()> {
                    stream.set_read_timeout(Some(HANG_GUARD))?;
                    let mut request = [0u8; 8];
                    for _ in 0..REQUESTS {
                        stream.read_exact(&mut request)?;
                        let asked = u64::from_le_bytes(request);
                        stream.write_all(&(asked + 1).to_le_bytes())?;
                    }
                    Ok(())
                })
            })
            .collect();
        // Past half the limit: the last connections could not have sockets of their own.
        let open = open_descriptors();
        assert!(open as u64 > FILE_LIMIT / 2, "{open} descriptors open");
        for session in sessions {
            session.join().unwrap().expect("every session is served");
        }
    });
    // All connected before any request: the accepted connections' sockets are made while
    // every client socket holds its descriptor.
    let clients: Vec<Stream> = (0..CONNECTIONS)
        .map(|_| Stream::connect_timeout(&address, HANG_GUARD).expect("a client connects"))
        .collect();
    let clients: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, mut stream)| {
            thread::spawn(move || -> io::Result<()> {
                stream.set_read_timeout(Some(HANG_GUARD))?;
                let mut answer = [0u8; 8];
                for request in 0..REQUESTS {
                    let asked = index as u64 * 1000 + request;
                    stream.write_all(&asked.to_le_bytes())?;
                    stream.read_exact(&mut answer)?;
                    assert_eq!(u64::from_le_bytes(answer), asked + 1);
                }
                stream.close()
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap().expect("every answer arrives");
    }
    server.join().unwrap();
}
