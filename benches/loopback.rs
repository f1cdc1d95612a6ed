//! Bulk goodput of one Ferry connection over loopback, beside the raw-UDP limit measured in
//! the same run: `cargo bench --bench loopback`.
//!
//! The raw-UDP limit is a plain std sender and receiver (one thread each, `send_to` and
//! `recv_from`, no batching) moving datagrams of Ferry's full-segment size between two
//! sockets as fast as they can; it counts what the receiver gets. Ferry moves 1 GiB through
//! one `Stream` into a `Listener`'s stream, read as fast as it arrives. The two alternate,
//! three rounds each, and the medians are printed, then one `key=value` line for scripts.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ferry::SocketConfig;

#[allow(dead_code)] // its clock and bulk goodput
mod common;

use common::{ferry_bulk_bps, now};

/// Ferry's datagram for a full 1200-byte segment without SACK blocks: 24 header bytes more.
const DATAGRAM: usize = 1200 + ferry::wire::HEADER_LEN;
const FERRY_BYTES: usize = 1 << 30;
const RAW_SECONDS: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Bits per second a plain receiver gets from a plain sender, over `RAW_SECONDS`.
fn raw_udp_bps() -> f64 {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let target = receiver.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let datagram = vec![0u8; DATAGRAM];
            while !stop.load(Ordering::Relaxed) {
                let _ = sender.send_to(&datagram, target);
            }
        })
    };
    let mut buffer = vec![0u8; 65_536];
    let started = now();
    let mut received = 0u64;
    while started.elapsed() < RAW_SECONDS {
        if let Ok((len, _)) = receiver.recv_from(&mut buffer) {
            received += len as u64;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sending.join().unwrap();
    received as f64 * 8.0 / seconds
}

/// Goodput of one Ferry connection moving `FERRY_BYTES`, in bits per second.
fn ferry_bps() -> f64 {
    let config = SocketConfig::default();
    ferry_bulk_bps(&config, &config, FERRY_BYTES)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (mut raw, mut ferry) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        raw.push(raw_udp_bps());
        ferry.push(ferry_bps());
        println!(
            "round {round}: raw UDP {:.2} Gbit/s, Ferry {:.2} Gbit/s",
            raw[round - 1] / 1e9,
            ferry[round - 1] / 1e9
        );
    }
    let (raw, ferry) = (median(raw), median(ferry));
    println!(
        "median: raw UDP plain ({DATAGRAM} B datagrams) {:.2} Gbit/s, Ferry 1 GiB bulk \
         {:.2} Gbit/s, ratio {:.2}",
        raw / 1e9,
        ferry / 1e9,
        ferry / raw
    );
    println!(
        "raw_udp_bps={raw:.0} ferry_goodput_bps={ferry:.0} ratio={:.3}",
        ferry / raw
    );
}
