//! TIME-WAIT's descriptors (src/net/time_wait.rs): a client that closes first keeps its UDP
//! socket through TIME-WAIT (64 s), but a process keeps at most a quarter of its descriptor
//! limit so, and a connect that finds no descriptor left takes the oldest one's.
//!
//! The cases lower this process's soft `RLIMIT_NOFILE` to 256 (so at most 64 sockets are
//! held) and share process-wide counts, so they run one at a time. No case asserts on wall
//! time: the waits for the peers' FINs are bounded by a count of short sleeps.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

mod descriptors;
use descriptors::{limit_descriptors, open_descriptors};

use ferry::net::{time_wait_stats, TimeWaitStats};
use ferry::{Listener, Stream};

/// The soft descriptor limit the cases set.
const FILE_LIMIT: u64 = 256;
/// How many sockets that limit lets the process hold for TIME-WAIT: a quarter.
const HELD_LIMIT: usize = 64;
/// The cases share the process's descriptors and counts: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A listener that reads each connection to its end, then closes it: its clients close first
/// and so end in TIME-WAIT.
fn server() -> SocketAddr {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    address
}

/// Connect, write, close first: the client's side ends in TIME-WAIT once the server's FIN
/// comes.
fn churn_once(server: SocketAddr) -> io::Result<()> {
    let mut stream = Stream::connect(server)?;
    stream.write_all(b"hello")?;
    stream.close()
}

/// Wait (a bounded count of short sleeps) until `done` holds of the process's TIME-WAIT
/// sockets, and return whether it came.
fn settles(done: impl Fn(TimeWaitStats) -> bool) -> bool {
    (0..1_000).any(|_| {
        done(time_wait_stats()) || {
            thread::sleep(Duration::from_millis(10));
            false
        }
    })
}

#[test]
fn more_closed_client_streams_than_the_cap_leave_at_most_the_cap_in_time_wait() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    limit_descriptors(FILE_LIMIT);
    let server = server();
    let before = time_wait_stats();
    assert_eq!(before.limit, HELD_LIMIT);
    let descriptors_before = open_descriptors();
    let connections = 3 * HELD_LIMIT;
    for _ in 0..connections {
        churn_once(server).unwrap();
    }
    // Every client's socket would stay for TIME-WAIT (64 s), but the oldest TIME-WAITs
    // end as newer ones come, and the cap's worth stay.
    let ended = (connections - HELD_LIMIT) as u64;
    assert!(
        settles(|now| now.held == HELD_LIMIT && now.ended_early - before.ended_early >= ended),
        "{before:?} then {:?}",
        time_wait_stats()
    );
    // Their descriptors closed: the process has about the cap's more open (the
    // server's and the client driver's own aside).
    let descriptors = open_descriptors();
    assert!(
        descriptors <= descriptors_before + HELD_LIMIT + 4,
        "{descriptors} descriptors open, {descriptors_before} before"
    );
}

#[test]
fn a_connect_without_a_descriptor_left_takes_the_oldest_time_wait_sockets() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    limit_descriptors(FILE_LIMIT);
    let server = server();
    for _ in 0..8 {
        churn_once(server).unwrap();
    }
    assert!(settles(|now| now.held >= 8), "{:?}", time_wait_stats());
    let taken = take_every_descriptor();
    let before = time_wait_stats();
    // The connect ends the oldest TIME-WAIT and takes its socket's descriptor.
    let mut stream = Stream::connect(server).unwrap();
    stream.write_all(b"hello").unwrap();
    stream.close().unwrap();
    let after = time_wait_stats();
    assert!(after.ended_early > before.ended_early, "{after:?}");
    drop(taken);
}

/// Open `/dev/null` until the process has no descriptor left; the files, to close later.
fn take_every_descriptor() -> Vec<std::fs::File> {
    let mut taken = Vec::new();
    let exhausted = loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => taken.push(file),
            Err(error) => break error,
        }
        assert!(taken.len() < FILE_LIMIT as usize, "the limit holds");
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE));
    taken
}

#[cfg(feature = "tokio")]
fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A `ferry::tokio` listener that reads each connection to its end, then closes it.
#[cfg(feature = "tokio")]
async fn tokio_server() -> SocketAddr {
    use tokio::io::AsyncReadExt;
    let listener = ferry::tokio::Listener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.read_to_end(&mut Vec::new()).await;
            });
        }
    });
    server
}

#[cfg(feature = "tokio")]
async fn tokio_churn_once(server: SocketAddr) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut stream = ferry::tokio::Stream::connect(server).await?;
    stream.write_all(b"hello").await?;
    stream.close().await
}

#[cfg(feature = "tokio")]
#[test]
fn a_tokio_connect_without_a_descriptor_left_takes_the_oldest_time_wait_sockets() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    limit_descriptors(FILE_LIMIT);
    let runtime = tokio_runtime();
    let server = runtime.block_on(tokio_server());
    for _ in 0..8 {
        runtime.block_on(tokio_churn_once(server)).unwrap();
    }
    assert!(settles(|now| now.held >= 8), "{:?}", time_wait_stats());
    let taken = take_every_descriptor();
    let before = time_wait_stats();
    runtime.block_on(tokio_churn_once(server)).unwrap();
    assert!(time_wait_stats().ended_early > before.ended_early);
    drop(taken);
    drop(runtime);
}

#[cfg(feature = "tokio")]
#[test]
fn the_tokio_driver_leaves_at_most_the_cap_in_time_wait() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    limit_descriptors(FILE_LIMIT);
    let runtime = tokio_runtime();
    let before = time_wait_stats();
    let descriptors_before = open_descriptors();
    let connections = 3 * HELD_LIMIT;
    let server = runtime.block_on(tokio_server());
    for _ in 0..connections {
        runtime.block_on(tokio_churn_once(server)).unwrap();
    }
    let ended = (connections - HELD_LIMIT) as u64;
    assert!(
        settles(|now| now.held == HELD_LIMIT && now.ended_early - before.ended_early >= ended),
        "{before:?} then {:?}",
        time_wait_stats()
    );
    // Two descriptors a tokio client: its socket, and the duplicate its driver task polls.
    let descriptors = open_descriptors();
    assert!(
        descriptors <= descriptors_before + 2 * HELD_LIMIT + 8,
        "{descriptors} descriptors open, {descriptors_before} before"
    );
    drop(runtime);
}
