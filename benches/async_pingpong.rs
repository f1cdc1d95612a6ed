//! Request/response round trips on tokio: `tokio::net::TcpStream` and `ferry::tokio::Stream`
//! in the same run: `cargo bench --features tokio --bench async_pingpong`.
//!
//! A listener accepts one connection into a task that echoes what it reads; the client task
//! writes 16 bytes and reads the 16 echoed, as many times as it can for `MEASURE`. Both run
//! on one multi-threaded runtime (two workers, this machine's cores). Each transport is
//! measured `ROUNDS` times, alternating, and the best of each is kept (the machine is shared).
//! Prints the rates, Ferry's as a fraction of tokio's, and one `key=value` line for scripts.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MESSAGE: usize = 16;
const MEASURE: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;

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

async fn tokio_tcp() -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        // Ferry never delays a small write; neither should the TCP it is compared with.
        stream.set_nodelay(true)?;
        echo(stream).await;
        io::Result::Ok(())
    });
    let client = TcpStream::connect(address).await?;
    client.set_nodelay(true)?;
    let rate = ping_pong(client).await;
    server.await??;
    Ok(rate)
}

async fn ferry_tokio() -> io::Result<f64> {
    let listener = ferry::tokio::Listener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        echo(stream).await;
        io::Result::Ok(())
    });
    let client = ferry::tokio::Stream::connect(address).await?;
    let rate = ping_pong(client).await;
    server.await??;
    Ok(rate)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut tokio_best, mut ferry_best) = (0f64, 0f64);
    for round in 1..=ROUNDS {
        let tokio_rate = runtime.block_on(tokio_tcp()).unwrap();
        let ferry_rate = runtime.block_on(ferry_tokio()).unwrap();
        println!(
            "round {round}: tokio TcpStream {tokio_rate:>8.0} round trips/s, \
             ferry::tokio::Stream {ferry_rate:>8.0} round trips/s, Ferry/tokio {:.2}",
            ferry_rate / tokio_rate
        );
        tokio_best = tokio_best.max(tokio_rate);
        ferry_best = ferry_best.max(ferry_rate);
    }
    println!(
        "best: tokio TcpStream {tokio_best:.0} round trips/s, ferry::tokio::Stream \
         {ferry_best:.0} round trips/s, Ferry/tokio {:.2}",
        ferry_best / tokio_best
    );
    println!(
        "tokio_tcp={tokio_best:.0} ferry_tokio={ferry_best:.0} ferry_vs_tokio={:.3}",
        ferry_best / tokio_best
    );
}
