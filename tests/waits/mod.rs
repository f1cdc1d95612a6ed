//! What the tests of an accepted connection's own socket share (`src/net/peer_sockets.rs`).

use std::io::{self, Read};
use std::time::Duration;

use ferry::Stream;

/// Wait to read on `stream` while its peer sends nothing, then give it back `read_timeout`.
/// On an accepted connection that has written, the first such wait gives it a socket of its
/// own.
pub fn wait_to_read_once(stream: &mut Stream, read_timeout: Duration) {
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let error = stream
        .read(&mut [0u8; 1])
        .expect_err("the peer sends nothing");
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{error:?}"
    );
    stream.set_read_timeout(Some(read_timeout)).unwrap();
}
