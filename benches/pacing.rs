//! What pacing (`Config::pacing`, on by default) costs a bulk transfer over loopback:
//! `cargo bench --bench pacing`.
//!
//! On loopback the smoothed RTT is tens of microseconds, so the pacing rate (2 x cwnd / SRTT
//! in slow start, 1.2 x after) is many gigabits per second and the pacer's quantum (1 ms of
//! data at that rate) is many windows: it should never hold a segment, and cost nothing. One
//! connection moves 128 MiB with pacing on, then off, alternating, five rounds; the medians of
//! goodput and of the process's CPU time per transfer are printed with the ratios (on / off),
//! then one `key=value` line for scripts. The machine may be shared: the figures are
//! indicative, the ratios measured in the same run what to read.

use ferry::{Config, SocketConfig};

#[allow(dead_code)] // its clock, bulk goodput, CPU time and median
mod common;

use common::{ferry_bulk_bps, median, process_cpu_seconds};

const BYTES: usize = 128 << 20;
const ROUNDS: usize = 5;

/// One transfer with pacing on or off: goodput in bits per second, and the process's CPU
/// seconds (both ends' threads) it took.
fn transfer(pacing: bool) -> (f64, f64) {
    let config = SocketConfig {
        connection: Config {
            pacing,
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    let cpu = process_cpu_seconds();
    let bps = ferry_bulk_bps(&config, &config, BYTES);
    (bps, process_cpu_seconds() - cpu)
}

fn main() {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        on.push(transfer(true));
        off.push(transfer(false));
        let ((on_bps, on_cpu), (off_bps, off_cpu)) = (on[round - 1], off[round - 1]);
        println!(
            "round {round}: paced {:.2} Gbit/s ({on_cpu:.2} s CPU), unpaced {:.2} Gbit/s \
             ({off_cpu:.2} s CPU)",
            on_bps / 1e9,
            off_bps / 1e9,
        );
    }
    let medians = |runs: &[(f64, f64)]| {
        (
            median(runs.iter().map(|run| run.0).collect()),
            median(runs.iter().map(|run| run.1).collect()),
        )
    };
    let ((on_bps, on_cpu), (off_bps, off_cpu)) = (medians(&on), medians(&off));
    println!(
        "median of {ROUNDS}, 128 MiB each: paced {:.2} Gbit/s, {on_cpu:.2} s CPU; unpaced \
         {:.2} Gbit/s, {off_cpu:.2} s CPU; goodput ratio {:.2}, CPU ratio {:.2}",
        on_bps / 1e9,
        off_bps / 1e9,
        on_bps / off_bps,
        on_cpu / off_cpu,
    );
    println!(
        "paced_bps={on_bps:.0} unpaced_bps={off_bps:.0} paced_cpu_s={on_cpu:.3} \
         unpaced_cpu_s={off_cpu:.3} goodput_ratio={:.3} cpu_ratio={:.3}",
        on_bps / off_bps,
        on_cpu / off_cpu,
    );
}
