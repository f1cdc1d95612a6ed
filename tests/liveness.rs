//! Liveness under loss, as a property (quickcheck): a transfer never stalls.
//!
//! For any payload up to 256 KiB, i.i.d. loss from 0 to 30% on each direction of the link
//! (drawn independently, so the ACKs suffer too), a path of 100 us to 200 ms round trip
//! (log-uniform), SACK on or off at each end and RACK-TLP on or off at the sender (drawn
//! independently: a SACK sender facing a receiver without SACK must recover by duplicate ACKs,
//! not wait for timeouts) and any seed, a transfer from A to B must deliver its payload within a time
//! bound that a model of TCP gives for that path, loss and size. A recovery that stalls on
//! backed-off timeouts (as Ferry's did before RACK-TLP: 4 MiB over a 100 us path at 10% loss
//! took 1,611 simulated seconds) then fails a test instead of passing slowly.
//!
//! The model is Padhye et al.'s steady-state TCP throughput ("Modeling TCP throughput: a
//! simple model and its empirical validation", SIGCOMM 1998, equation (30)), in segments per
//! second:
//!
//! ```text
//! B(p) = 1 / (RTT * sqrt(2bp/3) + T0 * min(1, 3 * sqrt(3bp/8)) * p * (1 + 32p^2))
//! ```
//!
//! with b = 2 segments per ACK (delayed ACKs), T0 = the RTO (at least Ferry's 200 ms floor,
//! and 3 RTTs), p the chance that a segment or its ACK is lost, and the rate capped by the
//! receive window (64 KiB per RTT). The bound is [`MODEL_MULTIPLE`] times the time B(p)
//! gives for the payload's segments, plus [`ALLOWANCE`] for what a steady-state model leaves
//! out: the handshake (each lost SYN or SYN-ACK costs a backed-off timeout: 1, 2, 4, 5, 5, ...
//! seconds with the RTO capped at 5 s; 120 s covers 25 lost handshakes in a row, which at 30%
//! loss each way happens about once in 10^8 cases), slow start, and the close. Measured: in
//! 100,000 cases on the RACK-TLP code the slowest transfer took 0.48 of its bound.
//!
//! The connections run with a patient user timeout (100 retransmissions, RTO capped at 5 s),
//! as in tests/properties.rs, so that loss alone never times a connection out.
//!
//! `FERRY_PROPTEST_CASES` sets the number of cases (default 300). A failure prints the case.

use std::fmt;
use std::time::Duration;

use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

use ferry::sim::{self, NetworkConfig, TransferConfig, TransferReport};
use ferry::Config;

const MAX_PAYLOAD: u64 = 256 * 1024;
/// The bound is this many times the model's transfer time...
const MODEL_MULTIPLE: f64 = 4.0;
/// ...plus this, for the handshake, slow start and the close.
const ALLOWANCE: Duration = Duration::from_secs(120);

/// One transfer: how much, over which path, through how much loss.
#[derive(Clone)]
struct LossyPath {
    payload_len: usize,
    /// Loss on the data direction and on the ACK direction, in percent.
    loss_ab: f64,
    loss_ba: f64,
    rtt: Duration,
    /// Each end's SACK, and the sender's RACK-TLP.
    sack_a: bool,
    sack_b: bool,
    rack_a: bool,
    seed: u64,
}

impl fmt::Debug for LossyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let switch = |on: bool| if on { "on" } else { "off" };
        write!(
            f,
            "ferry sim --bytes {} --rate unlimited --rtt {}us --faults-ab loss={:.2}% \
             --faults-ba loss={:.2}% --rack {} --seed {} (with a patient user timeout; SACK \
             {} at A, {} at B)",
            self.payload_len,
            self.rtt.as_micros(),
            self.loss_ab,
            self.loss_ba,
            switch(self.rack_a),
            self.seed,
            switch(self.sack_a),
            switch(self.sack_b),
        )
    }
}

/// A uniform number in [0, 1).
fn unit(g: &mut Gen) -> f64 {
    f64::from(u32::arbitrary(g)) / (f64::from(u32::MAX) + 1.0)
}

impl Arbitrary for LossyPath {
    fn arbitrary(g: &mut Gen) -> LossyPath {
        // Log-uniform from 100 us to 200 ms.
        let rtt_micros = 100.0 * 2000f64.powf(unit(g));
        LossyPath {
            payload_len: 1 + (u64::arbitrary(g) % MAX_PAYLOAD) as usize,
            loss_ab: (unit(g) * 3000.0).round() / 100.0,
            loss_ba: (unit(g) * 3000.0).round() / 100.0,
            rtt: Duration::from_micros(rtt_micros as u64),
            sack_a: bool::arbitrary(g),
            sack_b: bool::arbitrary(g),
            rack_a: bool::arbitrary(g),
            seed: u64::arbitrary(g),
        }
    }
}

impl LossyPath {
    fn config(&self) -> Config {
        Config {
            max_retransmissions: 100,
            max_syn_retransmissions: 100,
            max_rto: Duration::from_secs(5),
            keepalive_probes: 40,
            ..Config::default()
        }
    }

    fn run(&self) -> TransferReport {
        let spec = |percent: f64| format!("loss={percent:.2}%").parse().expect("a valid spec");
        let mut network = NetworkConfig::symmetric(None, self.rtt, spec(self.loss_ab), self.seed);
        network.b_to_a.faults = spec(self.loss_ba);
        network.connection = Config {
            sack: self.sack_a,
            rack: self.rack_a,
            ..self.config()
        };
        network.connection_b = Some(Config {
            sack: self.sack_b,
            ..self.config()
        });
        sim::transfer(
            &TransferConfig::new(network),
            &sim::payload(self.payload_len, self.seed),
        )
        .unwrap()
    }

    /// Padhye et al.'s transfer time for this payload, path and loss (see the module docs).
    fn model_time(&self) -> Duration {
        let config = self.config();
        let mss = config.mss as f64;
        let segments = (self.payload_len as f64 / mss).ceil().max(1.0);
        let rtt = self.rtt.as_secs_f64();
        let rto = config.min_rto.as_secs_f64().max(3.0 * rtt);
        let p = 1.0 - (1.0 - self.loss_ab / 100.0) * (1.0 - self.loss_ba / 100.0);
        // The window it starts with: autotuning only makes the transfer faster.
        let window_rate = config.recv_buffer.initial() as f64 / mss / rtt;
        let rate = if p > 0.0 {
            let b = 2.0;
            let per_segment = rtt * (2.0 * b * p / 3.0).sqrt()
                + rto * (3.0 * (3.0 * b * p / 8.0).sqrt()).min(1.0) * p * (1.0 + 32.0 * p * p);
            (1.0 / per_segment).min(window_rate)
        } else {
            window_rate
        };
        Duration::from_secs_f64(segments / rate)
    }

    fn bound(&self) -> Duration {
        self.model_time().mul_f64(MODEL_MULTIPLE) + ALLOWANCE
    }
}

fn liveness_property(case: LossyPath) -> TestResult {
    let report = case.run();
    let bound = case.bound();
    if report.intact && report.transfer_time <= bound {
        TestResult::passed()
    } else {
        TestResult::error(format!(
            "{case:?}: intact {}, {} of {} bytes in {:.3?} (bound {:.3?}: {MODEL_MULTIPLE} x the \
             model's {:.3?} + {ALLOWANCE:?}); RTO expiries {}, retransmissions {:?}",
            report.intact,
            report.bytes_delivered,
            report.bytes_sent,
            report.transfer_time,
            bound,
            case.model_time(),
            report.a.stats.rto_timeouts,
            report.a.stats.retransmissions,
        ))
    }
}

fn case_count() -> u64 {
    std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(300)
}

#[test]
fn a_lossy_transfer_finishes_within_a_model_bound() {
    let cases = case_count();
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 2)
        .quickcheck(liveness_property as fn(LossyPath) -> TestResult);
}

#[test]
fn the_model_is_padhye_s_formula() {
    // 1% loss on one direction, 40 ms RTT, 1200-byte segments, T0 = 200 ms: the formula's
    // rate is 1 / (0.04 * sqrt(4 * 0.01 / 3) + 0.2 * 3 * sqrt(0.06 / 8) * 0.01 * 1.0032)
    // = 1 / (0.0046188 + 0.0005213) = 194.5 segments per second (the window allows 1365);
    // 100 segments take 0.514 s.
    let case = LossyPath {
        payload_len: 100 * 1200,
        loss_ab: 1.0,
        loss_ba: 0.0,
        rtt: Duration::from_millis(40),
        sack_a: true,
        sack_b: true,
        rack_a: true,
        seed: 1,
    };
    let seconds = case.model_time().as_secs_f64();
    assert!((seconds - 0.514).abs() < 0.001, "{seconds}");
}
