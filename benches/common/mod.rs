//! What the socket benchmarks share: a clock, one Ferry connection's bulk goodput, and std's
//! TCP and Ferry behind one trait.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;

use ferry::{Listener, SocketConfig, Stream};

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Goodput of one Ferry connection over loopback moving `bytes` (a multiple of 64 KiB) from a
/// client with `client` settings into a listener's stream with `server`'s, read as fast as it
/// arrives, in bits per second.
#[allow(dead_code)] // the echo benches move no bulk
pub fn ferry_bulk_bps(server: &SocketConfig, client: &SocketConfig, bytes: usize) -> f64 {
    let listener = Listener::bind_with("127.0.0.1:0", server).unwrap();
    let address = listener.local_addr().unwrap();
    let receiving = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 1 << 16];
        let mut received = 0usize;
        loop {
            match stream.read(&mut buffer).unwrap() {
                0 => break received,
                count => received += count,
            }
        }
    });
    let chunk = vec![0x5au8; 1 << 16];
    let started = now();
    let mut stream = Stream::connect_with(address, client, None).unwrap();
    for _ in 0..bytes / chunk.len() {
        stream.write_all(&chunk).unwrap();
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let received = receiving.join().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(received, bytes);
    received as f64 * 8.0 / seconds
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
        // Ferry never delays a small write; neither should the TCP it is compared with.
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
        listener.accept().map(|(stream, _)| stream)
    }
    fn connect(address: SocketAddr) -> io::Result<Stream> {
        Stream::connect(address)
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
