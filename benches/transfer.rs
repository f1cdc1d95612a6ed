//! Whole transfers on the simulator: how much wall time a simulated run costs.
//!
//! `cargo bench --bench transfer` prints the time per 16 MiB transfer (over a 10 Mbit/s,
//! 40 ms RTT link, 1% loss both ways, fixed seed) and the simulated goodput it reached.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use ferry::sim::{self, NetworkConfig, TransferConfig};

fn lossy_16mib(c: &mut Criterion) {
    const BYTES: usize = 16 * 1024 * 1024;
    let payload = sim::payload(BYTES, 1);
    let config = TransferConfig::new(NetworkConfig::symmetric(
        Some(10_000_000),
        Duration::from_millis(40),
        "loss=1%".parse().expect("a valid spec"),
        1,
    ));
    let report = sim::transfer(&config, &payload).expect("the benchmark's config works");
    assert!(report.succeeded(), "the benchmarked transfer must work");
    println!(
        "simulated 16 MiB at 1% loss: {:.1} s of simulated time, goodput {:.2} Mbit/s, \
         {} retransmissions, {} RTO expiries",
        report.transfer_time.as_secs_f64(),
        report.goodput_bps() / 1e6,
        report.a.stats.retransmissions.total(),
        report.a.stats.rto_timeouts,
    );

    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(BYTES as u64));
    group.bench_function("transfer_16MiB_loss_1pct", |b| {
        b.iter(|| sim::transfer(&config, &payload).expect("the benchmark's config works"))
    });
    group.finish();
}

criterion_group!(benches, lossy_16mib);
criterion_main!(benches);
