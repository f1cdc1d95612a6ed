//! A bounded flood of forged SYNs at a `Listener` over loopback, for a profiler: what the
//! socket driver spends on each one. `cargo run --release --example syn_flood -- 20000`
//! sends 20,000 SYNs (the default): the first 128 from addresses of their own (127.2.0.1 and
//! up; all of 127.0.0.0/8 is loopback on Linux) fill the half-open table, the rest come from
//! 256 others (127.1.0.1 and up) and draw SYN cookies, or are held back by the per-source
//! limit, as under a real flood. They go in bursts of 64 (a full receive batch, as a flood
//! that outruns the listener makes them), each taken by the listener before the next goes,
//! so that none is lost and every run does the same work, while a thread waits in
//! `accept`. docs/performance.md profiles it with
//! `valgrind --tool=callgrind --separate-threads=yes`: the listener's driver thread's
//! instructions over the SYNs sent.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::thread;
use std::time::Duration;

use ferry::endpoint::EndpointStats;
use ferry::wire::{Flags, Options, SackBlocks, Segment, SeqNum};
use ferry::Listener;

/// Datagrams sent before the listener is given time to take them.
const BURST: usize = 64;
/// Forged source addresses.
const SOURCES: u32 = 256;
/// How long to wait for the listener to take one burst before sending on regardless.
const BURST_GUARD: Duration = Duration::from_secs(5);
/// The half-open table's size, `Listener`'s default backlog: SYNs that open a connection
/// instead of drawing a cookie, and so show in no counter.
const HALF_OPEN: u64 = 128;

/// The next of a cheap pseudo-random sequence (xorshift64), for the SYNs' sequence numbers.
fn xorshift(mut random: u64) -> u64 {
    random ^= random << 13;
    random ^= random >> 7;
    random ^= random << 17;
    random
}

fn forged_syn(random: u64) -> Vec<u8> {
    let segment = Segment {
        flags: Flags::SYN,
        seq: SeqNum(random as u32),
        ack: SeqNum(0),
        window: 65_535,
        sack: SackBlocks::new(),
        options: Options::none(),
        payload: &[],
    };
    let mut datagram = Vec::new();
    segment.emit(&mut datagram);
    datagram
}

/// The SYNs the listener has taken: answered with a cookie, held back, or dropped, beside
/// those that filled the half-open table.
fn syns_taken(stats: &EndpointStats) -> u64 {
    stats.syn_cookies_sent + stats.syn_cookies_suppressed + stats.syns_dropped + HALF_OPEN
}

fn main() -> io::Result<()> {
    let syns: usize = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?,
        None => 20_000,
    };
    let listener = Listener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    // A server waits in accept, as a real one does (and as the flood test's does), though
    // no forged SYN ever completes a handshake.
    let accepting = listener.try_clone()?;
    thread::spawn(move || while accepting.accept().is_ok() {});
    let sockets = |first: Ipv4Addr, count: u32| {
        (0..count)
            .map(|index| {
                let socket = UdpSocket::bind((Ipv4Addr::from(u32::from(first) + index), 0))?;
                socket.set_nonblocking(true)?;
                Ok(socket)
            })
            .collect::<io::Result<Vec<UdpSocket>>>()
    };
    let half_openers = sockets(Ipv4Addr::new(127, 2, 0, 1), HALF_OPEN as u32)?;
    let flooders = sockets(Ipv4Addr::new(127, 1, 0, 1), SOURCES)?;
    let source = |index: usize| match index.checked_sub(half_openers.len()) {
        None => &half_openers[index],
        Some(index) => &flooders[index % flooders.len()],
    };
    let mut random = 0x9E37_79B9_7F4A_7C15u64;
    let datagrams: Vec<Vec<u8>> = (0..syns)
        .map(|_| {
            random = xorshift(random);
            forged_syn(random)
        })
        .collect();
    let mut replies = 0u64;
    let mut reply = [0u8; 2048];
    for (burst, datagrams) in datagrams.chunks(BURST).enumerate() {
        for (index, datagram) in datagrams.iter().enumerate() {
            source(burst * BURST + index).send_to(datagram, address)?;
        }
        let sent = ((burst * BURST + datagrams.len()) as u64).max(HALF_OPEN);
        let mut waited = Duration::ZERO;
        while syns_taken(&listener.stats()) < sent && waited < BURST_GUARD {
            thread::sleep(Duration::from_millis(1));
            waited += Duration::from_millis(1);
        }
        for flooder in half_openers.iter().chain(&flooders) {
            while flooder.recv(&mut reply).is_ok() {
                replies += 1;
            }
        }
    }
    let stats = listener.stats();
    println!(
        "{syns} SYNs from {SOURCES} addresses: {} taken ({} cookies sent, {} held back, {} \
         dropped, {HALF_OPEN} half-open), {replies} SYN-ACKs seen back",
        syns_taken(&stats).min(syns as u64),
        stats.syn_cookies_sent,
        stats.syn_cookies_suppressed,
        stats.syns_dropped,
    );
    Ok(())
}
