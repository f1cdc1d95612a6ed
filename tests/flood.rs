//! A flood against a live listener over loopback: forged SYNs from thousands of addresses,
//! garbage, and valid-looking segments at random sequence numbers, while a legitimate client
//! connects and moves 4 MiB. The client must get through with every byte intact, and the
//! process's memory must stay within the bound docs/protocol.md documents. Counts are
//! bounded; nothing asserts on wall time.
//!
//! The flood comes from sockets bound across 127.0.0.0/8 (all of it is loopback on Linux), so
//! each datagram's source is one of many addresses, as a spoofing attacker's would be.

mod loopback;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferry::sim::payload;
use ferry::wire::{Flags, Options, SackBlocks, Segment, SeqNum};
use ferry::{Listener, SocketConfig, Stream};

/// How much the process's resident memory may grow during the flood.
const RSS_BOUND_BYTES: u64 = 64 << 20;
/// The flood runs until the transfer is over, and at most this many datagrams or this long:
/// bounds far beyond what the transfer needs, so that it always meets the flood.
const FLOOD_DATAGRAMS: u64 = 50_000_000;
const FLOOD_TIME: Duration = Duration::from_secs(100);
const HANG_GUARD: Duration = Duration::from_secs(120);

/// The next of a cheap pseudo-random sequence (xorshift64), for the flood's contents.
fn xorshift(mut random: u64) -> u64 {
    random ^= random << 13;
    random ^= random >> 7;
    random ^= random << 17;
    random
}

/// One flood datagram: a SYN, a valid-looking data segment, or garbage, by turns.
fn flood_datagram(index: u64, random: u64) -> Vec<u8> {
    let payload = [0xA5u8; 512];
    let segment = match index % 3 {
        0 => Segment {
            flags: Flags::SYN,
            seq: SeqNum(random as u32),
            ack: SeqNum(0),
            window: 65_535,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        },
        1 => Segment {
            flags: Flags::ACK,
            seq: SeqNum(random as u32),
            ack: SeqNum((random >> 32) as u32),
            window: 65_535,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &payload,
        },
        _ => return random.to_le_bytes().repeat(8),
    };
    let mut datagram = Vec::new();
    segment.emit(&mut datagram);
    datagram
}

#[test]
fn a_legitimate_transfer_finishes_during_a_flood_and_memory_stays_bounded() {
    let listener = Listener::bind_with("127.0.0.1:0", &SocketConfig::default()).unwrap();
    let address = listener.local_addr().unwrap();
    let stats_handle = listener.try_clone().unwrap();
    let data = payload(4 << 20, 7);
    let expected = data.clone();
    let server = thread::spawn(move || {
        // Forged handshakes never complete, so the first accepted connection is the client's.
        let (mut stream, _) = listener.accept().expect("the client gets through");
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).expect("the data arrives");
        received
    });

    let flooders: Vec<UdpSocket> = (0..256u32)
        .filter_map(|index| {
            let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + index);
            UdpSocket::bind((source, 0)).ok()
        })
        .collect();
    assert!(
        !flooders.is_empty(),
        "cannot bind any loopback source address"
    );
    let rss_before = loopback::resident_bytes();
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        thread::spawn(move || {
            #[allow(clippy::disallowed_methods)] // bounds the flood's length; asserts nothing on it
            let started = Instant::now();
            let mut random = 0x9E37_79B9_7F4A_7C15u64;
            let mut sent = 0u64;
            while flooding.load(Ordering::Relaxed)
                && sent < FLOOD_DATAGRAMS
                && started.elapsed() < FLOOD_TIME
            {
                random = xorshift(random);
                let socket = &flooders[(sent % flooders.len() as u64) as usize];
                let _ = socket.send_to(&flood_datagram(sent, random), address);
                sent += 1;
            }
            sent
        })
    };

    thread::sleep(Duration::from_millis(200));
    let mut client = Stream::connect_timeout(&address, HANG_GUARD).expect("the client connects");
    client.set_write_timeout(Some(HANG_GUARD)).unwrap();
    client.write_all(&data).expect("the client writes");
    client.close().expect("every byte is acknowledged");
    let received = server.join().expect("the server does not panic");
    let flood_was_running = !flood.is_finished();
    let rss_after = loopback::resident_bytes();
    flooding.store(false, Ordering::Relaxed);
    let flood_sent = flood.join().unwrap();

    let stats = stats_handle.stats();
    println!(
        "flood: {flood_sent} datagrams; RSS {} -> {} KiB; the transfer ended while the flood \
         ran: {flood_was_running}; listener: {stats:?}",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        flood_was_running,
        "the flood ended before the transfer did ({flood_sent} datagrams): the test proved nothing"
    );
    assert!(
        stats.syn_cookies_sent > 0 && stats.resets_sent > 0,
        "the flood reached the listener's defences: {stats:?}"
    );
    assert!(received == expected, "the data arrived intact");
    assert!(
        rss_after.saturating_sub(rss_before) <= RSS_BOUND_BYTES,
        "RSS grew from {rss_before} to {rss_after} bytes"
    );
}

/// Connects timed one after another; each is dropped (and so closed) before the next.
const TIMED_CONNECTS: usize = 40;

/// `TIMED_CONNECTS` connects to `address`, `spacing` apart, each timed (seconds, sorted), and
/// how many times a client's SYN went again (`rto_timeouts`).
fn timed_connects(address: std::net::SocketAddr, spacing: Duration) -> (Vec<f64>, u64) {
    let mut times = Vec::new();
    let mut syn_timeouts = 0;
    for _ in 0..TIMED_CONNECTS {
        #[allow(clippy::disallowed_methods)] // a measurement of wall time; asserts nothing
        let started = Instant::now();
        let stream = Stream::connect_timeout(&address, HANG_GUARD).expect("the client connects");
        times.push(started.elapsed().as_secs_f64());
        syn_timeouts += stream.stats().rto_timeouts;
        stream.set_linger(None).unwrap();
        drop(stream);
        thread::sleep(spacing);
    }
    times.sort_by(f64::total_cmp);
    (times, syn_timeouts)
}

fn describe(times: &[f64]) -> String {
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize] * 1e3;
    format!(
        "median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.9),
        at(1.0)
    )
}

/// Not a check but a measurement, for docs/performance.md's hardening table: how long a
/// legitimate `connect` takes unloaded, during a flood of SYNs from 256 loopback addresses at
/// the rate one thread can send them, and during a flood of garbage (failing the CRC) at the
/// same rate, for comparison (each bounded by count and time); the rate the listener
/// answered, and how many SYN-ACKs each flooding address got back.
/// `cargo test --release --test flood -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: run it alone, with --ignored --nocapture"]
fn connect_time_during_a_syn_flood() {
    let listener = Listener::bind_with("127.0.0.1:0", &SocketConfig::default()).unwrap();
    let address = listener.local_addr().unwrap();
    let stats_handle = listener.try_clone().unwrap();
    thread::spawn(move || {
        while let Ok((stream, _)) = listener.accept() {
            drop(stream);
        }
    });
    let (unloaded, unloaded_timeouts) = timed_connects(address, Duration::from_millis(5));
    println!(
        "unloaded: {} ({unloaded_timeouts} SYN timeouts)",
        describe(&unloaded)
    );
    let flooders: Arc<Vec<UdpSocket>> = Arc::new(
        (0..256u32)
            .filter_map(|index| {
                let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + index);
                let socket = UdpSocket::bind((source, 0)).ok()?;
                socket.set_nonblocking(true).ok()?;
                Some(socket)
            })
            .collect(),
    );
    // flood_datagram's kinds: 0 a SYN, 2 garbage.
    for (name, kind) in [("SYN", 0), ("garbage", 2)] {
        const MEASURED_FLOOD: Duration = Duration::from_secs(8);
        let flooding = Arc::new(AtomicBool::new(true));
        let before = stats_handle.stats();
        let flood = {
            let (flooding, flooders) = (flooding.clone(), flooders.clone());
            thread::spawn(move || {
                #[allow(clippy::disallowed_methods)] // bounds the flood's length; asserts nothing
                let started = Instant::now();
                let mut random = 0x9E37_79B9_7F4A_7C15u64;
                let (mut sent, mut replies) = (0u64, 0u64);
                let mut buffer = [0u8; 2048];
                while flooding.load(Ordering::Relaxed)
                    && sent < 20 * FLOOD_DATAGRAMS
                    && started.elapsed() < MEASURED_FLOOD
                {
                    random = xorshift(random);
                    let socket = &flooders[(sent % flooders.len() as u64) as usize];
                    let _ = socket.send_to(&flood_datagram(kind, random), address);
                    sent += 1;
                    if sent % 16_384 == 0 {
                        for socket in &flooders[..] {
                            while socket.recv(&mut buffer).is_ok() {
                                replies += 1;
                            }
                        }
                    }
                }
                (sent, replies, started.elapsed())
            })
        };
        thread::sleep(Duration::from_millis(500));
        let (flooded, flooded_timeouts) = timed_connects(address, Duration::from_millis(150));
        flooding.store(false, Ordering::Relaxed);
        let (sent, replies, elapsed) = flood.join().unwrap();
        let after = stats_handle.stats();
        let seconds = elapsed.as_secs_f64();
        println!(
            "{name} flood: {} ({flooded_timeouts} SYN timeouts)",
            describe(&flooded)
        );
        println!(
            "  {sent} datagrams in {seconds:.2} s ({:.0}/s) from {} addresses; cookies sent \
             {:.0}/s, suppressed {:.0}/s, SYNs dropped {}, corrupt {}; SYN-ACKs back to the \
             flooders {replies} ({:.1} per address per second)",
            sent as f64 / seconds,
            flooders.len(),
            (after.syn_cookies_sent - before.syn_cookies_sent) as f64 / seconds,
            (after.syn_cookies_suppressed - before.syn_cookies_suppressed) as f64 / seconds,
            after.syns_dropped - before.syns_dropped,
            after.discarded_corrupt + after.discarded_malformed
                - before.discarded_corrupt
                - before.discarded_malformed,
            replies as f64 / flooders.len() as f64 / seconds
        );
    }
}

/// Not a check but a measurement, for docs/performance.md's hardening table: how many forged
/// SYNs a second the sans-IO endpoint alone takes (parse, cookie or rate limit, SYN-ACK
/// encoded), with no socket beneath it: 1,000,000 SYNs from 256 addresses, and as many from
/// ever new addresses, at a listener whose half-open table is full.
/// `cargo test --release --test flood -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: run it alone, with --ignored --nocapture"]
fn syns_a_second_the_endpoint_takes() {
    use ferry::endpoint::Endpoint;
    use ferry::time::Instant as SimInstant;
    use std::net::SocketAddr;
    const SYNS: u32 = 1_000_000;
    for addresses in [256u32, SYNS] {
        let mut endpoint = Endpoint::with_seed(ferry::Config::default(), 1).unwrap();
        endpoint.listen(128);
        let mut random = 0x9E37_79B9_7F4A_7C15u64;
        let datagrams: Vec<(SocketAddr, Vec<u8>)> = (0..SYNS)
            .map(|index| {
                random = xorshift(random);
                let source = Ipv4Addr::from(0x0A00_0000 + index % addresses);
                let from = SocketAddr::from((source, 1024 + (random % 60_000) as u16));
                (from, flood_datagram(0, random))
            })
            .collect();
        let mut replies = 0u64;
        #[allow(clippy::disallowed_methods)] // a measurement of wall time; asserts nothing
        let started = Instant::now();
        for (index, (from, datagram)) in datagrams.iter().enumerate() {
            // 300,000 SYNs a second of simulated time.
            let now = SimInstant::from_micros(index as u64 * 10 / 3);
            endpoint.handle_datagram(now, *from, datagram);
            while endpoint.poll_transmit(now).is_some() {
                replies += 1;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{SYNS} SYNs from {addresses} addresses: {:.0} SYN/s ({:.2} us each), {replies} \
             replies; {:?}",
            f64::from(SYNS) / seconds,
            seconds * 1e6 / f64::from(SYNS),
            endpoint.stats()
        );
    }
}
