//! Loss recovery on the simulator, beside Linux's figures: prints the table in
//! docs/performance.md.
//!
//! `cargo bench --bench recovery` runs an 8 MiB transfer on a link shaped like the Linux
//! reference runs quoted in docs/performance.md (10 Mbit/s, 40 ms RTT, a drop-tail queue of 63
//! datagrams, MSS 1448, i.i.d. loss on the data direction only), for each loss rate and each
//! recovery mode, with three seeds, and prints the medians as a Markdown table; then 10% and
//! 20% loss on both directions (ACKs too).

use std::time::Duration;

use ferry::conn::CongestionControl;
use ferry::sim::{self, NetworkConfig, TransferConfig, TransferReport};
use ferry::Config;

const BYTES: usize = 8 * 1024 * 1024;
const MSS: usize = 1448;
const RTT: Duration = Duration::from_millis(40);
const SEEDS: [u64; 3] = [1, 2, 3];

/// One row's mode: a name and the connection settings that make it.
struct Mode {
    name: &'static str,
    config: Config,
}

fn modes() -> [Mode; 4] {
    let base = Config {
        mss: MSS,
        // Large enough that congestion control, not the receiver, limits the sender.
        recv_buffer: ferry::RecvBuffer::Fixed(4 * 1024 * 1024),
        // NewReno from RFC 5681's initial window, as docs/performance.md's table was measured
        // beside Linux's reno (the library's defaults are CUBIC and IW10 now).
        congestion_control: CongestionControl::NewReno,
        initial_window_segments: None,
        ..Config::default()
    };
    [
        Mode {
            name: "SACK off (NewReno)",
            config: Config {
                sack: false,
                ..base.clone()
            },
        },
        Mode {
            name: "SACK, RACK-TLP off (RFC 6675)",
            config: Config {
                rack: false,
                ..base.clone()
            },
        },
        Mode {
            name: "SACK, RACK-TLP (default)",
            config: base.clone(),
        },
        Mode {
            name: "fixed window (64 KiB)",
            config: Config {
                congestion_control: CongestionControl::Fixed,
                recv_buffer: ferry::RecvBuffer::Fixed(64 * 1024),
                ..base
            },
        },
    ]
}

/// One transfer; `both_ways` loses ACKs too.
fn run(config: &Config, loss: f64, both_ways: bool, seed: u64) -> TransferReport {
    let mut network = NetworkConfig::symmetric(
        Some(10_000_000),
        RTT,
        format!("loss={}%", loss * 100.0)
            .parse()
            .expect("a valid spec"),
        seed,
    );
    network.a_to_b.queue_limit = 63;
    network.b_to_a.queue_limit = 63;
    // Loss on the data only, never the ACKs, as in the Linux runs, unless asked.
    if !both_ways {
        network.b_to_a.faults = ferry::FaultConfig::default();
    }
    network.connection = config.clone();
    let report = sim::transfer(&TransferConfig::new(network), &sim::payload(BYTES, seed))
        .expect("the benchmark's config works");
    assert!(
        report.succeeded(),
        "every benchmarked transfer must complete"
    );
    report
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Mathis et al.: MSS / RTT * 1.22 / sqrt(p), in bits per second.
fn mathis_bps(loss: f64) -> f64 {
    MSS as f64 * 8.0 / RTT.as_secs_f64() * 1.22 / loss.sqrt()
}

fn main() {
    println!(
        "| mode | loss | goodput Mbit/s | Mathis bound | / Mathis | RTO expiries (% of drops) \
         | retransmitted / dropped bytes |"
    );
    println!("|---|---|---|---|---|---|---|");
    let both_ways_losses = [(0.10, true), (0.20, true)];
    for mode in modes() {
        let data_only = [0.0, 0.01, 0.02, 0.05, 0.10, 0.20].map(|loss| (loss, false));
        for (loss, both_ways) in data_only.into_iter().chain(both_ways_losses) {
            let reports: Vec<TransferReport> = SEEDS
                .iter()
                .map(|&seed| run(&mode.config, loss, both_ways, seed))
                .collect();
            let goodput = median(reports.iter().map(|r| r.goodput_bps() / 1e6).collect());
            let rtos = median(
                reports
                    .iter()
                    .map(|r| r.a.stats.rto_timeouts as f64)
                    .collect(),
            );
            let drops = median(
                reports
                    .iter()
                    .map(|r| r.a.link.dropped_data_segments as f64)
                    .collect(),
            );
            let ratio = median(
                reports
                    .iter()
                    .map(|r| {
                        r.a.stats.bytes_retransmitted as f64
                            / (r.a.link.dropped_payload_bytes as f64).max(1.0)
                    })
                    .collect(),
            );
            let (bound, fraction) = if loss > 0.0 {
                let bound = mathis_bps(loss) / 1e6;
                (format!("{bound:.2}"), format!("{:.2}", goodput / bound))
            } else {
                ("-".to_string(), "-".to_string())
            };
            let rto_share = if drops > 0.0 {
                format!("{rtos:.0} ({:.1}%)", 100.0 * rtos / drops)
            } else {
                format!("{rtos:.0}")
            };
            let ratio = if drops > 0.0 {
                format!("{ratio:.3} ({drops:.0} drops)")
            } else {
                "no drops".to_string()
            };
            println!(
                "| {} | {:.0}%{} | {goodput:.2} | {bound} | {fraction} | {rto_share} | {ratio} |",
                mode.name,
                loss * 100.0,
                if both_ways { " both ways" } else { "" }
            );
        }
    }
}
