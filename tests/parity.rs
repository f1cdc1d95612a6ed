//! `Stream` and `Listener` behave like std's `TcpStream` and `TcpListener` in what a ported
//! program relies on: nonblocking mode, `peek`, settings shared by clones, `Read` and `Write`
//! on `&Stream`, `connect` trying every address, `take_error`, `Listener::try_clone`, and
//! std's error kinds. And a thread blocked on one connection wakes for its own connection's
//! changes, however many others there are.
//!
//! No test asserts on wall time. Each blocking call that could hang on a bug is bounded by a
//! connect timeout, a read or write timeout, or a loop count.

mod loopback;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use ferry::conn::{ConnectionError, ReadError, WriteError};
use ferry::{Listener, SocketConfig, Stream};
use loopback::refusing_address;

/// Generous bounds that only a hang reaches.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// A connected client with every wait bounded by [`HANG_GUARD`].
fn connect(address: SocketAddr) -> Stream {
    let stream = Stream::connect_with(address, &SocketConfig::default(), Some(HANG_GUARD))
        .expect("the handshake completes");
    guard(&stream);
    stream
}

fn guard(stream: &Stream) {
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
}

/// A listener and both ends of one connection to it.
fn pair() -> (Listener, Stream, Stream) {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let client = connect(listener.local_addr().unwrap());
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    guard(&server);
    (listener, client, server)
}

// -------------------------------------------------------------------------------------------
// Nonblocking mode

#[test]
fn nonblocking_accept_read_and_write_give_would_block() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let error = listener.accept().expect_err("nobody connected");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

    let client = connect(listener.local_addr().unwrap());
    listener.set_nonblocking(false).unwrap();
    let (server, _) = listener.accept().unwrap();

    client.set_nonblocking(true).unwrap();
    let error = (&client)
        .read(&mut [0u8; 16])
        .expect_err("nothing was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    let error = client.peek(&mut [0u8; 16]).expect_err("nothing was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

    // Nobody reads at the server, so the send buffer and the server's window fill, and then
    // a write takes nothing.
    let chunk = vec![1u8; 64 * 1024];
    let mut accepted = 0usize;
    let error = (0..1_000)
        .find_map(|_| match (&client).write(&chunk) {
            Ok(count) => {
                accepted += count;
                None
            }
            Err(error) => Some(error),
        })
        .expect("the buffers fill long before 64 MiB");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    assert!(accepted > 0);

    // Back in blocking mode, the server gets every byte taken, in order.
    let mut received = vec![0u8; accepted];
    (&server).read_exact(&mut received).unwrap();
    assert!(received.iter().all(|&byte| byte == 1));
}

#[test]
fn a_nonblocking_read_returns_data_once_it_has_arrived() {
    let (_listener, client, server) = pair();
    server.set_nonblocking(true).unwrap();
    (&client).write_all(b"ping").unwrap();
    // Once the server acknowledged the data, it waits in the server's connection.
    client.wait_until_sent().unwrap();
    let mut buffer = [0u8; 8];
    let count = (&server).read(&mut buffer).unwrap();
    assert_eq!(&buffer[..count], b"ping");
    let error = (&server)
        .read(&mut buffer)
        .expect_err("nothing more was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
}

// -------------------------------------------------------------------------------------------
// peek

#[test]
fn peek_does_not_consume() {
    let (_listener, client, server) = pair();
    (&server).write_all(b"hello, ferry").unwrap();
    server.shutdown(Shutdown::Write).unwrap();

    let mut first = [0u8; 5];
    let count = client.peek(&mut first).unwrap();
    assert!(count > 0);
    assert_eq!(&first[..count], &b"hello"[..count]);
    // Peeking again sees the same bytes (and maybe more).
    let mut again = [0u8; 64];
    let count_again = client.peek(&mut again).unwrap();
    assert!(count_again >= count);
    assert_eq!(&again[..count_again], &b"hello, ferry"[..count_again]);

    let mut everything = String::new();
    (&client).read_to_string(&mut everything).unwrap();
    assert_eq!(everything, "hello, ferry");
    // At the end of the stream, peek returns 0 as read does.
    assert_eq!(client.peek(&mut again).unwrap(), 0);
}

#[test]
fn reads_after_a_peek_return_the_peeked_bytes_first_then_the_rest() {
    let (_listener, client, server) = pair();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let server = server.try_clone().unwrap();
        let data = data.clone();
        thread::spawn(move || {
            (&server).write_all(&data)?;
            server.shutdown(Shutdown::Write)
        })
    };
    let mut received = Vec::new();
    let mut peeked = [0u8; 1000];
    let mut buffer = [0u8; 700];
    loop {
        let count = client.peek(&mut peeked).unwrap();
        if count == 0 {
            break;
        }
        // A read smaller than the peek returns a prefix of what was peeked.
        let read = (&client).read(&mut buffer).unwrap();
        assert!(read > 0);
        assert_eq!(&buffer[..read], &peeked[..read.min(count)][..read]);
        received.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(received, data);
    writer.join().unwrap().unwrap();
}

#[test]
fn closing_with_peeked_data_unread_resets_the_connection() {
    let (_listener, client, server) = pair();
    (&client).write_all(b"x").unwrap();
    // The byte leaves the connection for the peek buffer, but nobody read it.
    assert_eq!(server.peek(&mut [0u8; 1]).unwrap(), 1);
    drop(server);
    let error = (&client)
        .read(&mut [0u8; 1])
        .expect_err("the server reset the connection");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
}

// -------------------------------------------------------------------------------------------
// Clones, &Stream, &self

#[test]
fn clones_share_timeouts_and_nonblocking_mode() {
    let (_listener, client, _server) = pair();
    let clone = client.try_clone().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    client
        .set_write_timeout(Some(Duration::from_secs(7)))
        .unwrap();
    assert_eq!(
        clone.read_timeout().unwrap(),
        Some(Duration::from_millis(20))
    );
    assert_eq!(clone.write_timeout().unwrap(), Some(Duration::from_secs(7)));
    let error = (&clone).read(&mut [0u8; 4]).expect_err("nothing was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

    clone.set_read_timeout(None).unwrap();
    client.set_nonblocking(true).unwrap();
    let error = (&clone).read(&mut [0u8; 4]).expect_err("nothing was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

    let error = client
        .set_read_timeout(Some(Duration::ZERO))
        .expect_err("std refuses a zero timeout");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn read_and_write_through_shared_references_from_two_threads() {
    let (_listener, client, server) = pair();
    let server = Arc::new(server);
    // An echo server on one `Arc<Stream>`: one thread reads, another writes, no clones.
    let (sender, receiver) = std::sync::mpsc::channel::<Vec<u8>>();
    let reading = {
        let server = Arc::clone(&server);
        thread::spawn(move || -> io::Result<()> {
            let mut buffer = [0u8; 1024];
            loop {
                let count = (&*server).read(&mut buffer)?;
                if count == 0 || sender.send(buffer[..count].to_vec()).is_err() {
                    return Ok(());
                }
            }
        })
    };
    let writing = {
        let server = Arc::clone(&server);
        thread::spawn(move || -> io::Result<()> {
            for chunk in receiver {
                (&*server).write_all(&chunk)?;
            }
            server.shutdown(Shutdown::Write)
        })
    };
    let mut client_writer = &client;
    let mut client_reader = &client;
    for round in 0..50u8 {
        let message = [round; 16];
        client_writer.write_all(&message).unwrap();
        let mut echo = [0u8; 16];
        client_reader.read_exact(&mut echo).unwrap();
        assert_eq!(echo, message);
    }
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client_reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    reading.join().unwrap().unwrap();
    writing.join().unwrap().unwrap();
}

#[test]
fn shutting_the_read_side_ends_a_read_blocked_in_another_thread() {
    let (_listener, client, _server) = pair();
    let reader = client.try_clone().unwrap();
    let reading = thread::spawn(move || (&reader).read(&mut [0u8; 8]));
    client.shutdown(Shutdown::Read).unwrap();
    assert_eq!(reading.join().unwrap().unwrap(), 0);
    assert_eq!((&client).read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn ttl_and_nodelay_are_stored_as_set() {
    let (listener, client, server) = pair();
    assert!(!client.nodelay().unwrap());
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    assert!(client.try_clone().unwrap().nodelay().unwrap());

    client.set_ttl(17).unwrap();
    assert_eq!(client.ttl().unwrap(), 17);
    listener.set_ttl(33).unwrap();
    assert_eq!(listener.ttl().unwrap(), 33);
    // An accepted stream rides on the listener's socket.
    assert_eq!(server.ttl().unwrap(), 33);
    // Still a working connection.
    (&client).write_all(b"after").unwrap();
    let mut buffer = [0u8; 5];
    (&server).read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"after");
}

// -------------------------------------------------------------------------------------------
// connect, take_error, Listener::try_clone

#[test]
fn connect_tries_every_address_until_one_answers() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let good = listener.local_addr().unwrap();
    let addresses = [refusing_address(), good];
    let client = Stream::connect(&addresses[..]).expect("the second address answers");
    assert_eq!(client.peer_addr().unwrap(), good);
    let (server, _) = listener.accept().unwrap();
    guard(&server);
    guard(&client);
    (&client).write_all(b"hi").unwrap();
    let mut buffer = [0u8; 2];
    (&server).read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"hi");
}

#[test]
fn connect_gives_the_last_addresses_error_when_none_answers() {
    let addresses = [refusing_address(), refusing_address()];
    let error = Stream::connect_with(&addresses[..], &SocketConfig::default(), Some(HANG_GUARD))
        .expect_err("nothing listens");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    let nothing: [SocketAddr; 0] = [];
    let error = Stream::connect(&nothing[..]).expect_err("no address");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn take_error_reports_a_reset_once() {
    let (_listener, client, server) = pair();
    assert!(client.take_error().unwrap().is_none());
    (&client).write_all(b"unread").unwrap();
    // Wait for the data to arrive, then close with it unread: a RST (RFC 2525).
    server.peek(&mut [0u8; 1]).unwrap();
    drop(server);
    let error = (&client)
        .read(&mut [0u8; 1])
        .expect_err("the peer reset the connection");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    let taken = client.take_error().unwrap().expect("the reset, once");
    assert_eq!(taken.kind(), io::ErrorKind::ConnectionReset);
    assert!(client.take_error().unwrap().is_none());
    // Writes fail as std's do after a reset.
    let error = (&client)
        .write(b"more")
        .expect_err("the connection is reset");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
}

#[test]
fn a_listener_clone_accepts_after_the_original_is_dropped() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let clone = listener.try_clone().unwrap();
    assert_eq!(clone.local_addr().unwrap(), address);
    assert!(clone.take_error().unwrap().is_none());
    drop(listener);
    let accepting = thread::spawn(move || clone.accept().map(|(_, peer)| peer));
    let client = connect(address);
    assert_eq!(
        accepting.join().unwrap().unwrap(),
        client.local_addr().unwrap()
    );
}

#[test]
fn ferry_errors_become_std_error_kinds() {
    let kinds = [
        (ConnectionError::Refused, io::ErrorKind::ConnectionRefused),
        (ConnectionError::Reset, io::ErrorKind::ConnectionReset),
        (ConnectionError::TimedOut, io::ErrorKind::TimedOut),
        (ConnectionError::Aborted, io::ErrorKind::ConnectionAborted),
    ];
    for (error, kind) in kinds {
        assert_eq!(io::Error::from(error).kind(), kind);
        assert_eq!(io::Error::from(ReadError::Failed(error)).kind(), kind);
        assert_eq!(io::Error::from(WriteError::Failed(error)).kind(), kind);
    }
    assert_eq!(
        io::Error::from(ReadError::WouldBlock).kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(
        io::Error::from(WriteError::WouldBlock).kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(
        io::Error::from(WriteError::ShutDown).kind(),
        io::ErrorKind::BrokenPipe
    );
    // The Ferry error stays inside, for a program that wants it.
    let error = io::Error::from(ConnectionError::Reset);
    assert_eq!(
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ConnectionError>()),
        Some(&ConnectionError::Reset)
    );
}

// -------------------------------------------------------------------------------------------
// Wake-ups: each connection's threads wake for that connection

#[test]
fn blocked_readers_of_idle_connections_wake_for_their_own_peers() {
    const IDLE: usize = 40;
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // Each idle connection has a server thread blocked in `read` while the active one works.
    let mut idle_clients = Vec::new();
    let mut idle_readers = Vec::new();
    for _ in 0..IDLE {
        idle_clients.push(connect(address));
        let (server, _) = listener.accept().unwrap();
        guard(&server);
        idle_readers.push(thread::spawn(move || {
            let mut received = Vec::new();
            (&server).read_to_end(&mut received).map(|_| received)
        }));
    }
    let active = connect(address);
    let (server, _) = listener.accept().unwrap();
    guard(&server);
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut buffer = [0u8; 16];
        loop {
            let count = (&server).read(&mut buffer)?;
            if count == 0 {
                return Ok(());
            }
            (&server).write_all(&buffer[..count])?;
        }
    });
    for round in 0..500u32 {
        let message = [(round % 256) as u8; 16];
        (&active).write_all(&message).unwrap();
        let mut reply = [0u8; 16];
        (&active).read_exact(&mut reply).unwrap();
        assert_eq!(reply, message);
    }
    drop(active);
    echo.join().unwrap().unwrap();
    // Each idle reader wakes for its own peer's data and FIN.
    for (index, client) in idle_clients.into_iter().enumerate() {
        (&client).write_all(&index.to_be_bytes()).unwrap();
        client.close().unwrap();
    }
    for (index, reader) in idle_readers.into_iter().enumerate() {
        assert_eq!(reader.join().unwrap().unwrap(), index.to_be_bytes());
    }
}

// -------------------------------------------------------------------------------------------
// Writing to a peer that has gone

/// Write 1 KiB at a time to a peer that accepted and closed without reading, once its FIN
/// has come, until a write fails; returns the failure's kind.
fn write_until_failure(mut writer: impl Read + Write) -> io::ErrorKind {
    assert_eq!(
        writer.read(&mut [0u8; 8]).unwrap(),
        0,
        "the peer's FIN first"
    );
    let chunk = [0x5au8; 1024];
    for _ in 0..16 * 1024 {
        if let Err(error) = writer.write_all(&chunk) {
            return error.kind();
        }
        thread::sleep(Duration::from_micros(100));
    }
    panic!("16 MiB written to a closed peer without an error");
}

#[test]
fn writing_to_a_peer_that_closed_fails_with_broken_pipe_as_std() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std_writer = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
    drop(std_listener.accept().unwrap());
    let std_kind = write_until_failure(std_writer);

    let (_listener, client, server) = pair();
    drop(server);
    let ferry_kind = write_until_failure(client);

    assert_eq!(std_kind, io::ErrorKind::BrokenPipe);
    assert_eq!(ferry_kind, std_kind);
}

/// What a poll loop met: the polls it made, the reads and writes that gave `WouldBlock`
/// (one ends each burst of reads or writes), the false alarms among them (poll said ready
/// and the first try was not), and the time it took.
#[derive(Debug)]
struct PollLoop {
    received: Vec<u8>,
    polls: u64,
    would_blocks: u64,
    false_alarms: u64,
    elapsed: Duration,
}

/// Move `data` from `writer` to `reader`, both nonblocking, in this one thread, which sleeps
/// in poll(2) on `writer_fd` (for `POLLOUT`) and `reader_fd` (for `POLLIN`) between tries.
fn poll_loop_transfer(
    mut writer: impl Write,
    writer_fd: BorrowedFd<'_>,
    mut reader: impl Read,
    reader_fd: BorrowedFd<'_>,
    data: &[u8],
) -> PollLoop {
    #[allow(clippy::disallowed_methods)] // a measurement of wall time, printed; asserts nothing
    let started = Instant::now();
    let (mut sent, mut received) = (0, Vec::with_capacity(data.len()));
    let (mut polls, mut would_blocks, mut false_alarms) = (0, 0, 0);
    let mut buf = vec![0u8; 64 * 1024];
    while received.len() < data.len() {
        let writing = sent < data.len();
        let mut fds = vec![PollFd::new(reader_fd, PollFlags::POLLIN)];
        if writing {
            fds.push(PollFd::new(writer_fd, PollFlags::POLLOUT));
        }
        let ready = poll(&mut fds, 10_000u16).expect("poll");
        assert!(
            ready > 0,
            "nothing became ready in 10 s: the handle missed a change"
        );
        polls += 1;
        let readable = fds[0].any().unwrap_or(false);
        let writable = writing && fds[1].any().unwrap_or(false);
        if writable {
            for attempt in 0.. {
                match writer.write(&data[sent..(sent + 256 * 1024).min(data.len())]) {
                    Ok(count) => sent += count,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        would_blocks += 1;
                        false_alarms += u64::from(attempt == 0);
                        break;
                    }
                    Err(error) => panic!("write: {error}"),
                }
                if sent == data.len() {
                    break;
                }
            }
        }
        if readable {
            for attempt in 0.. {
                match reader.read(&mut buf) {
                    Ok(0) => panic!("the stream ended early"),
                    Ok(count) => received.extend_from_slice(&buf[..count]),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        would_blocks += 1;
                        false_alarms += u64::from(attempt == 0);
                        break;
                    }
                    Err(error) => panic!("read: {error}"),
                }
            }
        }
    }
    PollLoop {
        received,
        polls,
        would_blocks,
        false_alarms,
        elapsed: started.elapsed(),
    }
}

/// A nonblocking `Stream` has a descriptor to poll, as a nonblocking `TcpStream` has: one
/// thread moves 8 MiB through each in a poll(2) loop, and prints both times (asserting
/// none). The loop reads and writes until `WouldBlock` after each wake-up, as epoll's
/// edge-triggered mode needs; a handle that said ready when a read or write would block (a
/// false alarm, what a spinning loop meets thousands of times) fails the test, and so does
/// one that missed a change (the loop would wait in poll for good).
#[test]
fn a_poll_loop_moves_8_mib_through_a_nonblocking_stream_as_through_a_tcp_stream() {
    const SIZE: usize = 8 << 20;
    let data = ferry::sim::payload(SIZE, 8);

    let tcp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_client = std::net::TcpStream::connect(tcp_listener.local_addr().unwrap()).unwrap();
    let (tcp_server, _) = tcp_listener.accept().unwrap();
    tcp_client.set_nonblocking(true).unwrap();
    tcp_server.set_nonblocking(true).unwrap();
    let tcp = poll_loop_transfer(
        &tcp_client,
        tcp_client.as_fd(),
        &tcp_server,
        tcp_server.as_fd(),
        &data,
    );

    let (_listener, client, server) = pair();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    let (client_handle, server_handle) = (
        client.readiness_handle().unwrap(),
        server.readiness_handle().unwrap(),
    );
    let mut nothing_yet = [PollFd::new(server_handle.as_fd(), PollFlags::POLLIN)];
    assert_eq!(
        poll(&mut nothing_yet, 0u8).unwrap(),
        0,
        "nothing to read yet"
    );
    let mut room = [PollFd::new(client_handle.as_fd(), PollFlags::POLLOUT)];
    assert_eq!(poll(&mut room, 0u8).unwrap(), 1, "room to write at once");
    let ferry = poll_loop_transfer(
        &client,
        client_handle.as_fd(),
        &server,
        server_handle.as_fd(),
        &data,
    );

    println!(
        "8 MiB through a poll(2) loop: std TcpStream {:?} ({} polls, {} WouldBlock, {} false \
         alarms), ferry Stream {:?} ({} polls, {} WouldBlock, {} false alarms), {:.2}x std's \
         time",
        tcp.elapsed,
        tcp.polls,
        tcp.would_blocks,
        tcp.false_alarms,
        ferry.elapsed,
        ferry.polls,
        ferry.would_blocks,
        ferry.false_alarms,
        ferry.elapsed.as_secs_f64() / tcp.elapsed.as_secs_f64(),
    );
    assert!(tcp.received == data, "std's bytes differ");
    assert!(ferry.received == data, "Ferry's bytes differ");
    // Every wake-up was for something.
    assert_eq!(
        ferry.false_alarms, 0,
        "the handle said ready when it was not: {} polls, {} WouldBlock",
        ferry.polls, ferry.would_blocks
    );
    // What is left is a handle that says nothing more is to come.
    let mut idle = [PollFd::new(server_handle.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut idle, 0u8).unwrap(), 0, "nothing more to read");
    let mut room = [PollFd::new(client_handle.as_fd(), PollFlags::POLLOUT)];
    assert_eq!(
        poll(&mut room, 10_000u16).unwrap(),
        1,
        "room to write once acknowledged"
    );
}

/// A nonblocking `Listener`'s handle is readable exactly while `accept` would not give
/// `WouldBlock`, as a `TcpListener`'s socket is.
#[test]
fn a_listeners_handle_is_readable_while_a_connection_waits_to_be_accepted() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = listener.readiness_handle().unwrap();
    let readable = |timeout_ms: u16| {
        let mut fds = [PollFd::new(handle.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, timeout_ms).unwrap() == 1
    };
    assert!(!readable(0), "nobody connected yet");
    let error = listener.accept().expect_err("nothing to accept");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    let _client = connect(listener.local_addr().unwrap());
    assert!(readable(10_000), "a connection waits");
    let (_server, _) = listener.accept().expect("the handle said one waits");
    assert!(!readable(0), "the queue is empty again");
    let mut never = [PollFd::new(handle.as_fd(), PollFlags::POLLOUT)];
    assert_eq!(
        poll(&mut never, 0u8).unwrap(),
        0,
        "a listener is never writable"
    );
}

/// Edge-triggered epoll (mio's mode) on the handles: each new arrival after a read that ran
/// dry is a new `EPOLLIN` edge, and room in a send buffer that was full a new `EPOLLOUT`
/// edge, so a loop that reads or writes until `WouldBlock` and then waits never waits for
/// good.
#[test]
fn an_edge_triggered_epoll_loop_sees_each_change() {
    const READ: u64 = 1;
    const WRITE: u64 = 2;
    let (_listener, client, server) = pair();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    let (client_handle, server_handle) = (
        client.readiness_handle().unwrap(),
        server.readiness_handle().unwrap(),
    );
    let epoll = Epoll::new(EpollCreateFlags::empty()).unwrap();
    let edge = EpollFlags::EPOLLET;
    epoll
        .add(
            &server_handle,
            EpollEvent::new(EpollFlags::EPOLLIN | edge, READ),
        )
        .unwrap();
    epoll
        .add(
            &client_handle,
            EpollEvent::new(EpollFlags::EPOLLOUT | edge, WRITE),
        )
        .unwrap();
    // The next event for `token`, waiting at most 10 s (only a missed edge takes that long).
    let next_event = |token: u64| loop {
        let mut events = [EpollEvent::empty(); 4];
        let count = epoll.wait(&mut events, 10_000u16).unwrap();
        assert!(count > 0, "no edge in 10 s for {token}");
        if events[..count].iter().any(|event| event.data() == token) {
            return;
        }
    };
    next_event(WRITE);

    let mut buf = [0u8; 4096];
    for round in 0..3u8 {
        (&client).write_all(&[round; 100]).unwrap();
        next_event(READ);
        let mut got = Vec::new();
        loop {
            match (&server).read(&mut buf) {
                Ok(count) => got.extend_from_slice(&buf[..count]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => panic!("read: {error}"),
            }
        }
        assert_eq!(got, [round; 100], "round {round}");
    }

    // Fill the client's send buffer, then wait for the edge of room made by the ACKs.
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0;
    loop {
        match (&client).write(&chunk) {
            Ok(count) => written += count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => panic!("write: {error}"),
        }
        assert!(written < 1 << 30, "the send buffer never filled");
    }
    next_event(WRITE);
    assert!((&client).write(&chunk).unwrap() > 0, "the edge meant room");
}
