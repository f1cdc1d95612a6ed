//! Request/response round trips on tokio: `tokio::net::TcpStream` and `ferry::tokio::Stream`
//! in the same run: `cargo bench --features tokio --bench async_pingpong`.
//!
//! A listener accepts every connection into a task that echoes what it reads; the active
//! client writes 16 bytes and reads the 16 echoed, as many times as it can for `MEASURE`,
//! while `idle` other connections to the same listener (0, then 500) have their echo tasks
//! waiting in `read`. Everything runs on one multi-threaded runtime (two workers, this
//! machine's cores). Each transport is measured `ROUNDS` times, alternating, and the best of
//! each is kept (the machine is shared). Prints the rates, Ferry's as a fraction of tokio's,
//! and one `key=value` line for scripts.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MESSAGE: usize = 16;
const MEASURE: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;
const IDLE_COUNTS: [usize; 2] = [0, 500];

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Echo what `stream` reads until the end of the stream.
async fn echo(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    let mut buffer = [0u8; MESSAGE];
    while let Ok(count @ 1..) = stream.read(&mut buffer).await {
        if stream.write_all(&buffer[..count]).await.is_err() {
            return;
        }
    }
}

/// Round trips per second over `client`, whose peer echoes.
async fn ping_pong(mut client: impl AsyncRead + AsyncWrite + Unpin) -> f64 {
    let message = [0x5au8; MESSAGE];
    let mut reply = [0u8; MESSAGE];
    let started = now();
    let mut round_trips = 0u64;
    while started.elapsed() < MEASURE {
        client.write_all(&message).await.unwrap();
        client.read_exact(&mut reply).await.unwrap();
        round_trips += 1;
    }
    round_trips as f64 / started.elapsed().as_secs_f64()
}

/// What the benchmark needs of a transport: tokio's TCP or Ferry on tokio.
trait Transport {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Listener: Send + 'static;
    fn bind() -> impl Future<Output = io::Result<(Self::Listener, SocketAddr)>> + Send;
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn connect(address: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

struct Tokio;

impl Transport for Tokio {
    type Stream = TcpStream;
    type Listener = TcpListener;
    async fn bind() -> io::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        Ok((listener, address))
    }
    async fn accept(listener: &TcpListener) -> io::Result<TcpStream> {
        let (stream, _) = listener.accept().await?;
        // Both sides turn Nagle off, as a request/response program does.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
    async fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

struct Ferry;

impl Transport for Ferry {
    type Stream = ferry::tokio::Stream;
    type Listener = ferry::tokio::Listener;
    async fn bind() -> io::Result<(ferry::tokio::Listener, SocketAddr)> {
        let listener = ferry::tokio::Listener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        Ok((listener, address))
    }
    async fn accept(listener: &ferry::tokio::Listener) -> io::Result<ferry::tokio::Stream> {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
    async fn connect(address: SocketAddr) -> io::Result<ferry::tokio::Stream> {
        let stream = ferry::tokio::Stream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Round trips per second of one connection while `idle` others, each with an echo task
/// waiting in `read`, share its listener.
async fn round_trips_per_second<T: Transport>(idle: usize) -> io::Result<f64> {
    let (listener, address) = T::bind().await?;
    let server = tokio::spawn(async move {
        let mut echoes = Vec::new();
        for _ in 0..=idle {
            let stream = T::accept(&listener).await?;
            echoes.push(tokio::spawn(echo(stream)));
        }
        io::Result::Ok(echoes)
    });
    let mut idle_clients = Vec::new();
    for _ in 0..idle {
        idle_clients.push(T::connect(address).await?);
    }
    let client = T::connect(address).await?;
    let echoes = server.await??;
    let rate = ping_pong(client).await;
    drop(idle_clients);
    for echo in echoes {
        echo.await?;
    }
    Ok(rate)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut fields = Vec::new();
    for idle in IDLE_COUNTS {
        let (mut tokio_best, mut ferry_best) = (0f64, 0f64);
        for round in 1..=ROUNDS {
            let tokio_rate = runtime
                .block_on(round_trips_per_second::<Tokio>(idle))
                .unwrap();
            let ferry_rate = runtime
                .block_on(round_trips_per_second::<Ferry>(idle))
                .unwrap();
            println!(
                "{idle:>3} idle, round {round}: tokio TcpStream {tokio_rate:>8.0} round trips/s, \
                 ferry::tokio::Stream {ferry_rate:>8.0} round trips/s, Ferry/tokio {:.2}",
                ferry_rate / tokio_rate
            );
            tokio_best = tokio_best.max(tokio_rate);
            ferry_best = ferry_best.max(ferry_rate);
        }
        println!(
            "{idle:>3} idle, best: tokio TcpStream {tokio_best:.0} round trips/s, \
             ferry::tokio::Stream {ferry_best:.0} round trips/s, Ferry/tokio {:.2}",
            ferry_best / tokio_best
        );
        fields.push(format!(
            "tokio_tcp_idle{idle}={tokio_best:.0} ferry_tokio_idle{idle}={ferry_best:.0} \
             ferry_vs_tokio_idle{idle}={:.3}",
            ferry_best / tokio_best
        ));
    }
    println!("{}", fields.join(" "));
}
