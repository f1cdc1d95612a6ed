//! Clients that reconnect over and over to a server that closes first, over loopback (issue
//! 17): the server holds each old connection in TIME-WAIT, and the kernel hands a new client
//! socket a port that one of them still holds now and then. Such a SYN must open the new
//! connection at once (RFC 9293 section 3.6.1), not draw a challenge ACK that leaves the
//! client waiting a second for its SYN's retransmission timeout. Counts are bounded; nothing
//! asserts on wall time.

use std::io::Read;
use std::thread;
use std::time::Duration;

use ferry::{Listener, SocketConfig, Stream};

const RECONNECTS: usize = 2_000;
const HANG_GUARD: Duration = Duration::from_secs(120);

#[test]
fn clients_reconnecting_into_the_servers_time_wait_never_wait_for_a_syn_timeout() {
    let listener = Listener::bind_with("127.0.0.1:0", &SocketConfig::default()).unwrap();
    let address = listener.local_addr().unwrap();
    let stats = listener.try_clone().unwrap();
    let server = thread::spawn(move || {
        for _ in 0..RECONNECTS {
            let (stream, _) = listener.accept().expect("a client");
            // The server closes first, so the server holds TIME-WAIT.
            stream.close().expect("the client acknowledges our FIN");
        }
    });
    let mut syn_timeouts = Vec::new();
    for index in 0..RECONNECTS {
        let mut stream =
            Stream::connect_timeout(&address, HANG_GUARD).expect("the client connects");
        if stream.stats().rto_timeouts > 0 {
            syn_timeouts.push((index, stream.local_addr().unwrap()));
        }
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("the server's FIN");
        stream.close().expect("the server acknowledges our FIN");
    }
    server.join().expect("the server does not panic");
    let reopened = stats.stats().time_wait_reopened;
    println!(
        "{RECONNECTS} reconnects: {reopened} met the server's TIME-WAIT and reopened it, {} \
         waited for a SYN timeout",
        syn_timeouts.len()
    );
    assert!(
        syn_timeouts.is_empty(),
        "connects whose SYN was sent again: {syn_timeouts:?}"
    );
    assert!(
        reopened > 0,
        "no client reused a port the server held in TIME-WAIT: the test proved nothing"
    );
}
