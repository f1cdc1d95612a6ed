//! One `Stream` moving a bounded amount of data over loopback into a `Listener`'s stream, as
//! `benches/loopback.rs` does, for a profiler: `cargo run --release --example bulk -- 64`
//! moves 64 MiB (the default) and prints the goodput, then how many data segments the
//! receiver took for each ACK it sent and what the sender retransmitted. docs/performance.md
//! profiles it with `valgrind --tool=callgrind`, which counts instructions and so stays stable
//! on a busy machine.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use ferry::{Listener, Stats, Stream};

const CHUNK: usize = 1 << 16;

#[allow(clippy::disallowed_methods)] // an example measures real time
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() -> std::io::Result<()> {
    let mebibytes: usize = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?,
        None => 64,
    };
    let bytes = mebibytes << 20;
    let listener = Listener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let receiving = thread::spawn(move || -> std::io::Result<(usize, Stats)> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; CHUNK];
        let mut received = 0;
        loop {
            match stream.read(&mut buffer)? {
                0 => return Ok((received, stream.stats())),
                count => received += count,
            }
        }
    });
    let chunk = vec![0x5au8; CHUNK];
    let started = now();
    let mut stream = Stream::connect(address)?;
    for _ in 0..bytes.div_ceil(CHUNK) {
        stream.write_all(&chunk)?;
    }
    stream.shutdown(Shutdown::Write)?;
    let (received, receiver) = receiving
        .join()
        .map_err(|_| std::io::Error::other("the receiving thread panicked"))??;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} MiB in {seconds:.3} s: {:.2} Gbit/s",
        received >> 20,
        received as f64 * 8.0 / seconds / 1e9
    );
    // Nearly all the receiver sends are ACKs (its SYN-ACK and FIN besides).
    let acks = receiver.segments_sent.max(1);
    let sender = stream.stats();
    println!(
        "receiver: {} segments in, {acks} out ({:.1} in per out); sender: {} bytes retransmitted",
        receiver.segments_received,
        receiver.segments_received as f64 / acks as f64,
        sender.bytes_retransmitted
    );
    Ok(())
}
