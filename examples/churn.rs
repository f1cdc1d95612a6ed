//! A client that churns connections under a 1024-descriptor limit: what TIME-WAIT costs it.
//!
//! ```sh
//! cargo run --release --features tokio --example churn -- std
//! cargo run --release --features tokio --example churn -- ferry 75
//! cargo run --release --features tokio --example churn -- tokio 75
//! ```
//!
//! Sets the soft `RLIMIT_NOFILE` to 1024 (the usual Linux default), binds a listener on
//! loopback, and makes up to [`MAX_CONNECTIONS`] connections to it one after another. Each
//! client writes a few bytes and closes first (its FIN goes first), so its side of every
//! connection ends in TIME-WAIT. A kernel keeps a TIME-WAIT connection without a descriptor;
//! a Ferry client keeps its UDP socket (one descriptor, one port) until TIME-WAIT ends
//! (`Config::time_wait` beyond `Config::max_rto`, 64 s), but a process holds at most a quarter
//! of its descriptor limit so (256 here), ending the oldest TIME-WAIT past that, as Linux's
//! `tcp_max_tw_buckets` does (`ferry::net::time_wait_stats`). The first run prints how many
//! connections were made before `connect` failed (if it did), and how fast. With a number of
//! seconds after the mode, it then goes on (trying every 10 ms after a failure) for that long
//! and prints how many connections it made: the sustained rate.
//!
//! Ends with one `key=value` line for scripts.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

/// The bound on the first run's connections.
const MAX_CONNECTIONS: usize = 5000;
/// The soft descriptor limit the run sets.
const FILE_LIMIT: u64 = 1024;
const MESSAGE: &[u8] = b"hello";

/// One connection's life as a client that closes first: connect, write, close.
type Churn = Box<dyn FnMut() -> io::Result<()>>;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, sustain) = match args.as_slice() {
        [mode] => (mode.as_str(), None),
        [mode, seconds] => (
            mode.as_str(),
            Some(Duration::from_secs(seconds.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "seconds: a whole number")
            })?)),
        ),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: churn std|ferry|tokio [seconds to sustain]",
            ))
        }
    };
    limit_descriptors(FILE_LIMIT)?;
    let mut churn: Churn = match mode {
        "std" => std_client(std_server()?),
        "ferry" => ferry_client(ferry_server()?),
        "tokio" => tokio_client()?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mode: std, ferry or tokio",
            ))
        }
    };
    let started = now();
    let mut made = 0;
    let mut first_error = None;
    let mut first_thousand = None;
    while made < MAX_CONNECTIONS {
        match churn() {
            Ok(()) => {
                made += 1;
                if made == 1000 {
                    first_thousand = Some(started.elapsed().as_secs_f64());
                }
            }
            Err(error) => {
                first_error = Some(error);
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let open = open_descriptors();
    let error = first_error
        .as_ref()
        .map_or("none".to_string(), |e| e.to_string());
    println!(
        "{mode}: {made} connections in {elapsed:.2} s ({:.0}/s) before the first failure: \
         {error}; {open} descriptors open then",
        made as f64 / elapsed
    );
    if let Some(seconds) = first_thousand {
        // Beside a run that fails after about 1,000: the same stretch.
        println!(
            "{mode}: the first 1000 in {seconds:.2} s ({:.0}/s)",
            1000.0 / seconds
        );
    }
    let mut sustained = 0;
    if let Some(sustain) = sustain {
        let until = now() + sustain;
        while now() < until {
            match churn() {
                Ok(()) => sustained += 1,
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
        println!(
            "{mode}: then {sustained} connections in {} s ({:.1}/s)",
            sustain.as_secs(),
            sustained as f64 / sustain.as_secs_f64()
        );
    }
    let held = ferry::net::time_wait_stats();
    if mode != "std" {
        println!(
            "{mode}: {} sockets held for TIME-WAIT (at most {}); {} TIME-WAITs ended early",
            held.held, held.limit, held.ended_early
        );
    }
    println!(
        "mode={mode} limit={FILE_LIMIT} before_failure={made} failed={} seconds={elapsed:.2} \
         sustained={sustained} sustain_seconds={} time_wait_held={} time_wait_ended_early={}",
        first_error.is_some(),
        sustain.map_or(0, |s| s.as_secs()),
        held.held,
        held.ended_early
    );
    Ok(())
}

#[allow(clippy::disallowed_methods)] // an example measures real time
fn now() -> Instant {
    Instant::now()
}

/// Lower the soft limit on open descriptors to `limit` (the hard one stays).
fn limit_descriptors(limit: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) != 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.min(current.rlim_max),
            rlim_max: current.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many descriptors below [`FILE_LIMIT`] are open (probed one by one: listing
/// /proc/self/fd would need one more).
fn open_descriptors() -> usize {
    (0..FILE_LIMIT as libc::c_int)
        // SAFETY: F_GETFD only reads the descriptor's flags; a closed one gives EBADF.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .count()
}

/// Accept one connection after another; read each to its end, then close.
fn std_server() -> io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    Ok(address)
}

fn std_client(server: SocketAddr) -> Churn {
    Box::new(move || {
        let mut stream = std::net::TcpStream::connect(server)?;
        stream.write_all(MESSAGE)?;
        // Our FIN first; waiting for the server's end of stream makes this side the one
        // in TIME-WAIT, as with Ferry (whose close waits for our FIN's acknowledgment).
        stream.shutdown(std::net::Shutdown::Write)?;
        stream.read_to_end(&mut Vec::new())?;
        Ok(())
    })
}

fn ferry_server() -> io::Result<SocketAddr> {
    let listener = ferry::Listener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    Ok(address)
}

fn ferry_client(server: SocketAddr) -> Churn {
    Box::new(move || {
        let mut stream = ferry::Stream::connect(server)?;
        stream.write_all(MESSAGE)?;
        // Blocks until the server acknowledged the data and FIN; the server's FIN then
        // puts the connection in TIME-WAIT.
        stream.close()
    })
}

/// The same with ferry::tokio, server and client on one runtime, whose worker runs the
/// driver tasks (and so TIME-WAIT's timers) between the client's connections too.
fn tokio_client() -> io::Result<Churn> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(ferry::tokio::Listener::bind("127.0.0.1:0"))?;
    let server = listener.local_addr()?;
    runtime.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = stream.read_to_end(&mut Vec::new()).await;
            });
        }
    });
    Ok(Box::new(move || {
        runtime.block_on(async {
            let mut stream = ferry::tokio::Stream::connect(server).await?;
            stream.write_all(MESSAGE).await?;
            stream.close().await
        })
    }))
}
