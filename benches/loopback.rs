//! Bulk goodput of one Ferry connection over loopback, beside the raw-UDP limit measured in
//! the same run: `cargo bench --bench loopback`.
//!
//! The raw-UDP limit is a plain std sender and receiver (one thread each, `send_to` and
//! `recv_from`, no batching) moving datagrams of Ferry's full-segment size between two
//! sockets as fast as they can; it counts what the receiver gets. Ferry moves 1 GiB through
//! one `Stream` into a `Listener`'s stream, read as fast as it arrives. The two alternate,
//! three rounds each, and the medians are printed, then one `key=value` line for scripts.

use std::time::Duration;

use ferry::SocketConfig;

#[allow(dead_code)] // its clock, bulk goodput, raw-UDP limit and median
mod common;

use common::{ferry_bulk_bps, median, raw_udp_bps, send_plain_datagrams, DATAGRAM};

const FERRY_BYTES: usize = 1 << 30;
const RAW_SECONDS: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Goodput of one Ferry connection moving `FERRY_BYTES`, in bits per second.
fn ferry_bps() -> f64 {
    let config = SocketConfig::default();
    ferry_bulk_bps(&config, &config, FERRY_BYTES)
}

fn main() {
    let (mut raw, mut ferry) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        raw.push(raw_udp_bps(RAW_SECONDS, send_plain_datagrams));
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
