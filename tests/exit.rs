//! How a connection ends when a process does: each case runs one side in a child process (this
//! same executable, with `FERRY_EXIT_ROLE` naming what it plays) and the other side here.
//!
//! This test has its own `main` (`harness = false` in Cargo.toml) because what it checks is
//! what happens when `main` returns. No case asserts on wall time: every wait that a bug could
//! make endless is bounded by a read or write timeout, a user timeout or a loop count.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::time::Duration;

use ferry::sim::payload;
use ferry::{Config, Listener, SocketConfig, Stream};

mod waits;
use waits::wait_to_read_once;

/// The environment variable that makes this executable a child playing a role.
const ROLE: &str = "FERRY_EXIT_ROLE";

/// Generous bounds that only a hang reaches.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Exit statuses of the children, for the parent to tell failures apart.
const CLOSE_FAILED: u8 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(role) = std::env::var(ROLE) {
        return play(&role, &args);
    }
    let cases: [(&str, fn()); 9] = [
        (
            "returning_from_main_delivers_everything",
            returning_from_main_delivers_everything,
        ),
        (
            "process_exit_after_close_delivers_everything",
            process_exit_after_close_delivers_everything,
        ),
        (
            "the_exit_waits_to_repeat_a_lost_final_ack",
            the_exit_waits_to_repeat_a_lost_final_ack,
        ),
        (
            "the_exit_does_not_wait_for_time_wait",
            the_exit_does_not_wait_for_time_wait,
        ),
        (
            "a_peer_that_drops_unread_data_resets_the_writer",
            a_peer_that_drops_unread_data_resets_the_writer,
        ),
        (
            "data_sent_after_the_peer_closed_is_reset",
            data_sent_after_the_peer_closed_is_reset,
        ),
        (
            "a_killed_server_resets_its_client",
            a_killed_server_resets_its_client,
        ),
        (
            "a_killed_idle_server_is_noticed_by_keepalive",
            a_killed_idle_server_is_noticed_by_keepalive,
        ),
        (
            "a_killed_client_resets_its_listeners_connection",
            a_killed_client_resets_its_listeners_connection,
        ),
    ];
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let chosen: Vec<_> = cases
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, case) in chosen {
        let outcome = std::panic::catch_unwind(case);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(name);
        }
    }
    if failed.is_empty() {
        println!("\ntest result: ok");
        ExitCode::SUCCESS
    } else {
        println!("\ntest result: FAILED: {failed:?}");
        ExitCode::FAILURE
    }
}

// -------------------------------------------------------------------------------------------
// The children

/// Play `role` with `args`, as a program's `main` would.
fn play(role: &str, args: &[String]) -> ExitCode {
    let result = match role {
        "write-and-return" => write_and_return(args),
        "write-close-and-exit" => write_close_and_exit(args),
        "close-first-and-return" => close_first_and_return(args),
        "close-first-into-a-long-time-wait" => close_first_into_a_long_time_wait(args),
        "accept-and-drop" => accept_and_drop(args),
        "listen-and-hold" => listen_and_hold(),
        "connect-and-hold" => connect_and_hold(args),
        _ => Err(io::Error::other(format!("unknown role {role}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{role}: {error}");
            ExitCode::from(CLOSE_FAILED)
        }
    }
}

fn address_arg(args: &[String]) -> SocketAddr {
    args[0].parse().expect("an address")
}

/// Connect, write, and return from `main` without closing: the drop must deliver it all.
fn write_and_return(args: &[String]) -> io::Result<()> {
    let (size, seed) = (args[1].parse().unwrap(), args[2].parse().unwrap());
    let mut stream = Stream::connect(address_arg(args))?;
    stream.write_all(&payload(size, seed))?;
    Ok(())
}

/// Connect, write, `close`, and leave by `process::exit`.
fn write_close_and_exit(args: &[String]) -> io::Result<()> {
    let (size, seed) = (args[1].parse().unwrap(), args[2].parse().unwrap());
    let mut stream = Stream::connect(address_arg(args))?;
    stream.write_all(&payload(size, seed))?;
    match stream.close() {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("close: {error}");
            std::process::exit(i32::from(CLOSE_FAILED))
        }
    }
}

/// Close first (so this side's ACK of the peer's FIN is the last segment), losing every pure
/// ACK sent or received from 100 ms to 600 ms after the socket opened, then return from
/// `main`. Sending at 250 ms, the ACK of the peer's FIN is lost, and so is the ACK of its
/// first repetition; only the exit's wait is left to answer the second.
fn close_first_and_return(args: &[String]) -> io::Result<()> {
    let config = SocketConfig::with_faults("drop-acks=100ms..600ms".parse().unwrap());
    let mut stream = Stream::connect_with(address_arg(args), &config, Some(HANG_GUARD))?;
    std::thread::sleep(Duration::from_millis(250));
    stream.write_all(b"hello")?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(())
}

/// TIME-WAIT of an hour beyond `max_rto`: close first, read the peer's FIN (this side is then
/// in TIME-WAIT), and return from `main`, on the std driver (`args[1]` "std") or the tokio
/// one ("tokio").
fn close_first_into_a_long_time_wait(args: &[String]) -> io::Result<()> {
    let config = SocketConfig {
        connection: Config {
            time_wait: Duration::from_secs(3600),
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    match args[1].as_str() {
        #[cfg(feature = "tokio")]
        "tokio" => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut stream =
                    ferry::tokio::Stream::connect_with(address_arg(args), &config).await?;
                stream.write_all(b"hello").await?;
                stream.shutdown().await?;
                stream.read_to_end(&mut Vec::new()).await?;
                io::Result::Ok(())
            })
        }
        _ => {
            let mut stream = Stream::connect_with(address_arg(args), &config, Some(HANG_GUARD))?;
            stream.write_all(b"hello")?;
            stream.shutdown(std::net::Shutdown::Write)?;
            stream.read_to_end(&mut Vec::new())?;
            Ok(())
        }
    }
}

/// Accept one connection, read `args[0]` bytes, drop the stream, say so, then stay alive
/// until stdin closes: the process lives on, only the stream is gone.
fn accept_and_drop(args: &[String]) -> io::Result<()> {
    let to_read: usize = args[0].parse().unwrap();
    let listener = Listener::bind("127.0.0.1:0")?;
    println!("listening {}", listener.local_addr()?);
    let (mut stream, _) = listener.accept()?;
    stream.read_exact(&mut vec![0u8; to_read])?;
    drop(stream);
    println!("dropped");
    io::copy(&mut io::stdin(), &mut io::sink())?;
    Ok(())
}

/// Accept one connection and hold it until killed.
fn listen_and_hold() -> io::Result<()> {
    let listener = Listener::bind("127.0.0.1:0")?;
    println!("listening {}", listener.local_addr()?);
    let (_stream, _) = listener.accept()?;
    println!("accepted");
    io::copy(&mut io::stdin(), &mut io::sink())?;
    Ok(())
}

/// Connect, say hello, and hold the connection until killed.
fn connect_and_hold(args: &[String]) -> io::Result<()> {
    let mut stream = Stream::connect(address_arg(args))?;
    stream.write_all(b"hello")?;
    println!("connected");
    io::copy(&mut io::stdin(), &mut io::sink())?;
    Ok(())
}

// -------------------------------------------------------------------------------------------
// The parent's side

/// This executable as a child playing `role`, its stdout piped for the lines it prints.
fn spawn(role: &str, args: &[String]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test executable starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// The next line the child prints.
fn next_line(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// A child's "listening ADDRESS" line.
fn listening(stdout: &mut BufReader<ChildStdout>) -> SocketAddr {
    let line = next_line(stdout);
    line.strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap()
}

fn guarded(stream: Stream) -> Stream {
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
    stream
}

fn connect(address: SocketAddr) -> Stream {
    guarded(
        Stream::connect_with(address, &SocketConfig::default(), Some(HANG_GUARD))
            .expect("the handshake completes"),
    )
}

/// Accept the child's connection and read everything it sends, until its FIN.
fn receive_from_child(role: &str, size: usize, seed: u64) -> (Vec<u8>, std::process::ExitStatus) {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let args = [address, size.to_string(), seed.to_string()];
    let (mut child, _stdout) = spawn(role, &args);
    let (stream, _) = listener.accept().unwrap();
    let mut stream = guarded(stream);
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("everything, then end of stream");
    drop(stream);
    (received, child.wait().unwrap())
}

fn returning_from_main_delivers_everything() {
    for (size, seed) in [(100_000, 1), (1 << 20, 2), (10 << 20, 3)] {
        let (received, status) = receive_from_child("write-and-return", size, seed);
        assert_eq!(received.len(), size, "bytes received");
        assert!(
            received == payload(size, seed),
            "{size} bytes arrived changed"
        );
        assert!(status.success(), "the writer failed: {status}");
    }
}

fn process_exit_after_close_delivers_everything() {
    let size = 1 << 20;
    let (received, status) = receive_from_child("write-close-and-exit", size, 4);
    assert!(
        received == payload(size, 4),
        "{} of {size} bytes",
        received.len()
    );
    assert!(status.success(), "close reported a failure: {status}");
}

fn the_exit_waits_to_repeat_a_lost_final_ack() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (mut child, _stdout) = spawn("close-first-and-return", &[address]);
    let (stream, _) = listener.accept().unwrap();
    let mut stream = guarded(stream);
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert_eq!(received, b"hello");
    let watcher = stream.try_clone().unwrap();
    // Our FIN, repeated until the peer's exit hook acknowledges it: not a linger timeout.
    stream
        .close()
        .expect("the peer acknowledged our FIN before it exited");
    let stats = watcher.stats();
    assert!(
        stats.retransmissions.total() > 0,
        "the acknowledgment of our first FIN was lost, so we repeated it: {stats:?}"
    );
    assert!(child.wait().unwrap().success());
}

/// A client that closed first and is in TIME-WAIT (an hour long here) exits without waiting
/// for it: the exit waits only for the peer to be quiet (at most 3 s), and the hang guard,
/// a minute, would catch a wait for TIME-WAIT. On both drivers.
fn the_exit_does_not_wait_for_time_wait() {
    let drivers: &[&str] = if cfg!(feature = "tokio") {
        &["std", "tokio"]
    } else {
        &["std"]
    };
    for &driver in drivers {
        let listener = Listener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (mut child, _stdout) = spawn(
            "close-first-into-a-long-time-wait",
            &[address, driver.to_string()],
        );
        let (stream, _) = listener.accept().unwrap();
        let mut stream = guarded(stream);
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        assert_eq!(received, b"hello", "{driver}");
        stream.close().expect("the child acknowledged our FIN");
        // Polled, not timed: only a child waiting out its TIME-WAIT reaches the guard.
        let polls = HANG_GUARD.as_millis() / 10;
        let status = (0..polls).find_map(|_| {
            let status = child.try_wait().unwrap();
            if status.is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            status
        });
        let Some(status) = status else {
            let _ = child.kill();
            panic!("{driver}: the child still runs after {HANG_GUARD:?}, in TIME-WAIT");
        };
        assert!(status.success(), "{driver}: {status}");
    }
}

/// Write until the writes fail (the connection is reset); the error.
fn write_until_it_fails(stream: &mut Stream) -> io::Error {
    let chunk = vec![7u8; 64 * 1024];
    // Far more than any window and buffer hold: only a writer never told would get through.
    for _ in 0..10_000 {
        if let Err(error) = stream.write_all(&chunk) {
            return error;
        }
    }
    panic!("640 MB written to a peer that dropped its stream");
}

fn a_peer_that_drops_unread_data_resets_the_writer() {
    let (mut child, mut stdout) = spawn("accept-and-drop", &["1".to_string()]);
    let mut stream = connect(listening(&mut stdout));
    stream.write_all(&payload(200_000, 5)).unwrap();
    assert_eq!(next_line(&mut stdout), "dropped");
    let error = write_until_it_fails(&mut stream);
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{error:?}"
    );
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

fn data_sent_after_the_peer_closed_is_reset() {
    let (mut child, mut stdout) = spawn("accept-and-drop", &["5".to_string()]);
    let mut stream = connect(listening(&mut stdout));
    stream.write_all(b"hello").unwrap();
    assert_eq!(next_line(&mut stdout), "dropped");
    // The peer closed cleanly: end of stream here, and our side may still write...
    assert_eq!(stream.read(&mut [0u8; 16]).unwrap(), 0);
    // ...but nobody reads it now, so the data is answered with a RST.
    let error = write_until_it_fails(&mut stream);
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{error:?}"
    );
    // The close reports the connection's error: the peer closed, then reset, a broken pipe
    // as std's writes see it (Linux's EPIPE in CLOSE-WAIT).
    let error = stream.close().expect_err("the peer reset the connection");
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error:?}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// A child server holding one connection from us, killed with SIGKILL once connected.
fn killed_server() -> Stream {
    let (mut child, mut stdout) = spawn("listen-and-hold", &[]);
    let mut stream = connect(listening(&mut stdout));
    stream.write_all(b"hello").unwrap();
    assert_eq!(next_line(&mut stdout), "accepted");
    child.kill().unwrap();
    child.wait().unwrap();
    stream
}

fn a_killed_server_resets_its_client() {
    let mut stream = killed_server();
    // The next segment meets an ICMP port unreachable: the process behind the port is gone.
    let error = write_until_it_fails(&mut stream);
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    let error = stream.close().expect_err("the connection was reset");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
}

fn a_killed_idle_server_is_noticed_by_keepalive() {
    let mut stream = killed_server();
    stream
        .set_keepalive(Some(Duration::from_millis(200)))
        .unwrap();
    // Nothing to send: the keepalive probe meets the ICMP error.
    let error = stream.read(&mut [0u8; 16]).expect_err("the server is gone");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
}

/// Answer the client's hello, then wait to read while it sends nothing: a connection that has
/// written and waits to read gets a socket of its own (`net/peer_sockets.rs`), so the ICMP
/// error of a dead client lands on it.
fn answered_and_waited(stream: &mut Stream) {
    stream.write_all(b"hi").unwrap();
    wait_to_read_once(stream, HANG_GUARD);
}

fn a_killed_client_resets_its_listeners_connection() {
    // The listener's socket is not connected, yet it hears the ICMP port unreachable its next
    // segment meets, with the segment quoted (IP_RECVERR): its sequence number is one this
    // connection sent, so the connection is reset. The user timeout of 10 minutes and the
    // retransmission limit (about 9) would take far longer than the hang guard: only the
    // ICMP error ends these reads and writes.
    let config = SocketConfig {
        user_timeout: Some(Duration::from_secs(600)),
        connection: Config {
            keepalive_interval: Some(Duration::from_millis(300)),
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    // A client that lives on: each accepted connection that answers and waits has a socket
    // of its own (`net/peer_sockets.rs`), and the other's ICMP error must reset that one alone.
    let (mut survivor_child, mut survivor_stdout) =
        spawn("connect-and-hold", std::slice::from_ref(&address));
    let (survivor, _) = listener.accept().unwrap();
    let mut survivor = guarded(survivor);
    survivor.read_exact(&mut [0u8; 5]).unwrap();
    assert_eq!(next_line(&mut survivor_stdout), "connected");
    answered_and_waited(&mut survivor);
    for writing in [false, true] {
        let (mut child, mut stdout) = spawn("connect-and-hold", std::slice::from_ref(&address));
        let (stream, _) = listener.accept().unwrap();
        let mut stream = guarded(stream);
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).unwrap();
        assert_eq!(next_line(&mut stdout), "connected");
        answered_and_waited(&mut stream);
        child.kill().unwrap();
        child.wait().unwrap();
        let error = if writing {
            // Data in flight: the first segment meets the error.
            write_until_it_fails(&mut stream)
        } else {
            // Idle: the keepalive probe meets it.
            stream.read(&mut [0u8; 16]).expect_err("the client is gone")
        };
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    }
    // The survivor's connection is whole: what is written is taken and acknowledged (a
    // reset connection fails the write), and a read waits for data rather than failing.
    survivor.write_all(b"still here").unwrap();
    wait_to_read_once(&mut survivor, HANG_GUARD);
    survivor.write_all(b" and well").unwrap();
    survivor_child.kill().unwrap();
    survivor_child.wait().unwrap();
}
