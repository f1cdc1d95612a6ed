//! What the socket benchmarks share: a clock, the bulk goodput of one Ferry connection (plain
//! or secure) and of one std `TcpStream`, the raw-UDP limit, and std's TCP and Ferry behind
//! one trait.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ferry::net::new_identity;
use ferry::secure::SecureConfig;
use ferry::{Listener, SocketConfig, Stream};

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// The size of each write and read of the bulk transfers.
const BULK_CHUNK: usize = 1 << 16;

/// Goodput of one Ferry connection over loopback moving `bytes` (a multiple of 64 KiB) from a
/// client with `client` settings into a listener's stream with `server`'s, read as fast as it
/// arrives, in bits per second.
#[allow(dead_code)] // the echo benches move no bulk
pub fn ferry_bulk_bps(server: &SocketConfig, client: &SocketConfig, bytes: usize) -> f64 {
    let listener = Listener::bind_with("127.0.0.1:0", server).unwrap();
    let address = listener.local_addr().unwrap();
    bulk_bps(
        bytes,
        move || listener.accept().unwrap().0,
        || Stream::connect_with(address, client, None).unwrap(),
        |stream| stream.shutdown(Shutdown::Write).unwrap(),
    )
}

/// The server's and the client's settings for a Ferry connection, secure (a fresh server
/// identity, pinned by the client) or plain.
#[allow(dead_code)] // the benches that compare secure and plain
pub fn ferry_configs(secure: bool) -> (SocketConfig, SocketConfig) {
    let identity = new_identity();
    let server = SocketConfig {
        secure: secure.then(|| SecureConfig::server(identity.clone())),
        ..SocketConfig::default()
    };
    let client = SocketConfig {
        secure: secure.then(|| SecureConfig::client(Some(identity.public_key()))),
        ..SocketConfig::default()
    };
    (server, client)
}

/// How long a std `TcpStream` bulk transfer may wait on a read or write: the bound on its loops.
const TCP_STALL: Duration = Duration::from_secs(60);

/// Goodput of one std `TcpStream` over loopback moving `bytes` (a multiple of 64 KiB), the way
/// [`ferry_bulk_bps`] moves them, in bits per second.
#[allow(dead_code)] // the race alone
pub fn tcp_bulk_bps(bytes: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    bulk_bps(
        bytes,
        move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(TCP_STALL)).unwrap();
            stream
        },
        || {
            let stream = TcpStream::connect(address).unwrap();
            stream.set_write_timeout(Some(TCP_STALL)).unwrap();
            stream
        },
        |stream| stream.shutdown(Shutdown::Write).unwrap(),
    )
}

/// Goodput of moving `bytes` (a multiple of 64 KiB) through a stream from `connect` into the
/// one `accept` gives a thread of its own, which reads as fast as it arrives until the end of
/// the stream (`finish` ends the sending side), in bits per second: from just before the
/// connection to the receiver's last read.
fn bulk_bps<S: Read + Write + Send + 'static>(
    bytes: usize,
    accept: impl FnOnce() -> S + Send + 'static,
    connect: impl FnOnce() -> S,
    finish: impl FnOnce(&mut S),
) -> f64 {
    let receiving = thread::spawn(move || {
        let mut stream = accept();
        let mut buffer = vec![0u8; BULK_CHUNK];
        let mut received = 0usize;
        loop {
            match stream.read(&mut buffer).unwrap() {
                0 => break received,
                count => received += count,
            }
        }
    });
    let chunk = vec![0x5au8; BULK_CHUNK];
    let started = now();
    let mut stream = connect();
    for _ in 0..bytes / chunk.len() {
        stream.write_all(&chunk).unwrap();
    }
    finish(&mut stream);
    let received = receiving.join().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(received, bytes);
    received as f64 * 8.0 / seconds
}

/// Ferry's datagram for a full 1200-byte segment without SACK blocks: 24 header bytes more.
/// The raw-UDP senders send datagrams of this size.
#[allow(dead_code)] // the raw-UDP benches
pub const DATAGRAM: usize = 1200 + ferry::wire::HEADER_LEN;

/// Bits per second a plain receiver (std `recv_from`, one datagram per call) gets over
/// `duration` from a sender thread: `send` is given its socket, the receiver's address and a
/// flag that says when to stop, and sends as fast as it can until then.
#[allow(dead_code)] // the raw-UDP benches
pub fn raw_udp_bps(
    duration: Duration,
    send: impl FnOnce(UdpSocket, SocketAddr, &AtomicBool) + Send + 'static,
) -> f64 {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let target = receiver.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || send(UdpSocket::bind("127.0.0.1:0").unwrap(), target, &stop))
    };
    let mut buffer = vec![0u8; 65_536];
    let started = now();
    let mut received = 0u64;
    while started.elapsed() < duration {
        if let Ok((len, _)) = receiver.recv_from(&mut buffer) {
            received += len as u64;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sending.join().unwrap();
    received as f64 * 8.0 / seconds
}

/// The plain raw-UDP sender: one [`DATAGRAM`]-byte datagram per `send_to`, until `stop`.
#[allow(dead_code)] // the raw-UDP benches
pub fn send_plain_datagrams(socket: UdpSocket, target: SocketAddr, stop: &AtomicBool) {
    let datagram = vec![0u8; DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        let _ = socket.send_to(&datagram, target);
    }
}

/// The median of `values` (the upper one of an even count).
#[allow(dead_code)] // the benches with rounds
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The CPU time the main thread has spent, in seconds (the first field of
/// /proc/self/schedstat, nanoseconds on a CPU; 0 where there is none): what the shared
/// machine's other work does not inflate.
#[allow(dead_code)] // the echo benches time the wall clock only
pub fn cpu_seconds() -> f64 {
    let schedstat = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
    let nanos: u64 = schedstat
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    nanos as f64 / 1e9
}

/// The CPU time all the process's threads have spent, in seconds (utime and stime of
/// /proc/self/stat, in clock ticks of 1/100 s; 0 where there is none): what a loopback
/// transfer's driver threads cost, which the shared machine's other work does not inflate
/// as it inflates wall time.
#[allow(dead_code)] // the secure bench's and the race's
pub fn process_cpu_seconds() -> f64 {
    // Fields 14 and 15 of proc(5), counted from the pid: 12 and 13 after the name.
    self_stat_seconds(11, 12)
}

/// The CPU time the process's children that it has waited for have spent, in seconds
/// (cutime and cstime of /proc/self/stat).
#[allow(dead_code)] // the race's
pub fn children_cpu_seconds() -> f64 {
    // Fields 16 and 17 of proc(5): 14 and 15 after the name.
    self_stat_seconds(13, 14)
}

/// The sum of two clock-tick fields of /proc/self/stat, counted from 0 after the command
/// name, in seconds (ticks of 1/100 s; 0 where there are none).
fn self_stat_seconds(first: usize, second: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(first) + ticks(second)) as f64 / 100.0
}

/// What the benchmark needs of a transport: std's TCP or Ferry.
pub trait Transport {
    type Stream: Read + Write + Send + 'static;
    type Listener: Send + 'static;
    fn bind() -> io::Result<(Self::Listener, SocketAddr)>;
    fn accept(listener: &Self::Listener) -> io::Result<Self::Stream>;
    fn connect(address: SocketAddr) -> io::Result<Self::Stream>;
}

pub struct Std;

impl Transport for Std {
    type Stream = TcpStream;
    type Listener = TcpListener;
    fn bind() -> io::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        Ok((listener, address))
    }
    fn accept(listener: &TcpListener) -> io::Result<TcpStream> {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
    fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(address)?;
        // Both sides turn Nagle off, as a request/response program does.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

pub struct Ferry;

impl Transport for Ferry {
    type Stream = Stream;
    type Listener = Listener;
    fn bind() -> io::Result<(Listener, SocketAddr)> {
        let listener = Listener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        Ok((listener, address))
    }
    fn accept(listener: &Listener) -> io::Result<Stream> {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
    fn connect(address: SocketAddr) -> io::Result<Stream> {
        let stream = Stream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// The size of a request and of its echo.
pub const MESSAGE: usize = 16;

/// Echo what `stream` reads until the end of the stream.
pub fn echo(mut stream: impl Read + Write) {
    let mut buffer = [0u8; MESSAGE];
    while let Ok(count @ 1..) = stream.read(&mut buffer) {
        if stream.write_all(&buffer[..count]).is_err() {
            return;
        }
    }
}
