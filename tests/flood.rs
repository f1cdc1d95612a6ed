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
use ferry::wire::{Flags, SackBlocks, Segment, SeqNum};
use ferry::{Listener, SocketConfig, Stream};

/// How much the process's resident memory may grow during the flood.
const RSS_BOUND_BYTES: u64 = 64 << 20;
/// The flood runs until the transfer is over, and at most this many datagrams or this long:
/// bounds far beyond what the transfer needs, so that it always meets the flood.
const FLOOD_DATAGRAMS: u64 = 50_000_000;
const FLOOD_TIME: Duration = Duration::from_secs(100);
const HANG_GUARD: Duration = Duration::from_secs(120);

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
            payload: &[],
        },
        1 => Segment {
            flags: Flags::ACK,
            seq: SeqNum(random as u32),
            ack: SeqNum((random >> 32) as u32),
            window: 65_535,
            sack: SackBlocks::new(),
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
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
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
