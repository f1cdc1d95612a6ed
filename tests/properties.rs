//! Whole transfers under random faults, checked as properties (quickcheck).
//!
//! For any payload (0 to 256 KiB), any mix of the fault injector's keys (loss, bursts, bit
//! flips, duplication, reordering, delay and jitter, a rate limit and its queue, truncation,
//! outages, scripted drops and flipped SYN-ACK bits, lost ACKs), each end's settings drawn
//! independently of the other's (SACK on or off, RACK on or off, segment sizes down to one
//! byte, receive and send buffers down to one byte, NewReno or no congestion control: the
//! handshake negotiates the MSS and SACK they share), a reply from B to A or none, and any
//! seed, a transfer from A to B over the simulator must end one of two ways:
//!
//! - B reads exactly the payload, in order, once, A the reply, and both ends close cleanly
//!   (or one is told its close was reset, for the reason below); or
//! - the faults made delivery impossible (a permanent outage), and every end that could not
//!   finish reports a timeout (or, for B, never got a connection to report on, when the
//!   outage cut the handshake short).
//!
//! Never wrong bytes, never a hang: the simulator abandons a run after a simulated day.
//!
//! The ACK of the last FIN is the connection's last word: if loss swallows it (and the
//! ACKs of the FIN's repetitions) until the other end's TIME-WAIT (64 s) has run out, or that
//! end, in LAST-ACK, got its own FIN acknowledged and forgot the connection, the other
//! endpoint answers the next repetition with a RST, and its sender cannot know its FIN
//! arrived: its close says `Reset`, as a close in CLOSING or LAST-ACK must (only an
//! acknowledged FIN is a clean end). That is no failure of the transfer when everything
//! arrived both ways and the other end, which took that FIN, closed cleanly.
//!
//! Most cases run with a patient user timeout (100 retransmissions of data or SYN, the
//! RTO capped at 5 s, 40 keepalive probes) so that random loss, however heavy, cannot plausibly exhaust it:
//! at 30% loss and 1e-4 flips per bit a full segment and its ACK get through together about
//! one time in six, and 100 failures in a row then happen with odds near 1e-8. Only an outage
//! that never ends can time a connection out. A fifth of the cases run with the default
//! timeouts instead, through faults mild enough that they must still succeed (at most 10%
//! loss, 1e-6 flips per bit, no bursts, no endless outage).
//!
//! A second property checks loss detection: on a clean link, one lost data segment with
//! enough data behind it is repaired by exactly one retransmission (RACK's when both ends offer
//! SACK and the sender runs RACK, fast retransmit's otherwise), never a timeout, whatever SACK,
//! RACK and MSS each end has.
//!
//! `FERRY_PROPTEST_CASES` sets the number of cases (default 300). A failure prints the
//! scenario, the seed and both ends' settings included; `FERRY_REPLAY="<scenario>" cargo test
//! --test properties replay -- --ignored` runs just that one.

use std::fmt;
use std::time::Duration;

use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

use ferry::conn::{CongestionControl, ConnectionError};
use ferry::sim::{self, HostReport, NetworkConfig, TransferConfig, TransferReport};
use ferry::{Config, FaultConfig};

const MAX_PAYLOAD: usize = 256 * 1024;
/// An outage that ends after this many seconds never ends, as far as a run can tell.
const FOREVER_SECS: u64 = 1_000_000;

/// One end's settings, drawn independently of the other end's.
#[derive(Clone, PartialEq)]
struct End {
    /// Selective acknowledgments offered (used only if the other end offers them too).
    sack: bool,
    /// RACK-TLP (only with SACK negotiated).
    rack: bool,
    /// The MSS offered (the smaller of the two ends' goes both ways).
    mss: usize,
    recv_buffer: usize,
    send_buffer: usize,
    congestion_control: CongestionControl,
}

impl End {
    const DEFAULT_MSS: usize = 1200;
    const DEFAULT_RECV_BUFFER: usize = 64 * 1024;
    const DEFAULT_SEND_BUFFER: usize = 256 * 1024;

    fn default_settings() -> End {
        End {
            sack: true,
            rack: true,
            mss: End::DEFAULT_MSS,
            recv_buffer: End::DEFAULT_RECV_BUFFER,
            send_buffer: End::DEFAULT_SEND_BUFFER,
            congestion_control: CongestionControl::NewReno,
        }
    }

    /// Whether `Config::check` takes these settings: with congestion control off, tiny
    /// segments in a large window are refused (`MAX_SEGMENTS_IN_FLIGHT`).
    fn works(&self) -> bool {
        self.config(&Config::default()).check().is_ok()
    }

    /// The connection settings, on top of `base` (the timeouts).
    fn config(&self, base: &Config) -> Config {
        Config {
            sack: self.sack,
            rack: self.rack,
            mss: self.mss,
            recv_buffer: ferry::RecvBuffer::Fixed(self.recv_buffer),
            send_buffer: ferry::SendBuffer::Fixed(self.send_buffer),
            congestion_control: self.congestion_control,
            ..base.clone()
        }
    }

    /// `sack:on,rack:off,mss:1200,recv:65536,send:262144,cc:newreno`.
    fn parse(text: &str) -> Option<End> {
        let mut end = End::default_settings();
        for item in text.split(',') {
            let (key, value) = item.split_once(':')?;
            match key {
                "sack" => end.sack = on_off(value)?,
                "rack" => end.rack = on_off(value)?,
                "mss" => end.mss = value.parse().ok()?,
                "recv" => end.recv_buffer = value.parse().ok()?,
                "send" => end.send_buffer = value.parse().ok()?,
                "cc" => {
                    end.congestion_control = match value {
                        "newreno" => CongestionControl::NewReno,
                        "cubic" => CongestionControl::Cubic,
                        "fixed" => CongestionControl::Fixed,
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        Some(end)
    }
}

fn on_off(value: &str) -> Option<bool> {
    match value {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let switch = |on: bool| if on { "on" } else { "off" };
        write!(
            f,
            "sack:{},rack:{},mss:{},recv:{},send:{},cc:{}",
            switch(self.sack),
            switch(self.rack),
            self.mss,
            self.recv_buffer,
            self.send_buffer,
            self.congestion_control
        )
    }
}

impl Arbitrary for End {
    /// Mostly the defaults, each setting on its own: small segments and buffers now and then
    /// (down to one byte), TCP's 536 and Ethernet's 1460 beside Ferry's 1200, and no
    /// congestion control one time in five, where `Config::check` allows it.
    fn arbitrary(g: &mut Gen) -> End {
        let end = End {
            sack: between(g, 0, 3) != 0,
            rack: between(g, 0, 3) != 0,
            mss: match between(g, 0, 9) {
                0 => between(g, 1, 1199) as usize,
                1 => 536,
                2 => 1460,
                _ => End::DEFAULT_MSS,
            },
            recv_buffer: match between(g, 0, 9) {
                0 => between(g, 1, 64 * 1024) as usize,
                _ => End::DEFAULT_RECV_BUFFER,
            },
            send_buffer: match between(g, 0, 9) {
                0 => between(g, 1, 64 * 1024) as usize,
                _ => End::DEFAULT_SEND_BUFFER,
            },
            congestion_control: match between(g, 0, 4) {
                0 => CongestionControl::Fixed,
                1 => CongestionControl::Cubic,
                _ => CongestionControl::NewReno,
            },
        };
        if end.works() {
            end
        } else {
            End {
                congestion_control: CongestionControl::NewReno,
                ..end
            }
        }
    }

    /// Towards the defaults, one setting at a time, to settings that still work.
    fn shrink(&self) -> Box<dyn Iterator<Item = End>> {
        let default = End::default_settings();
        let mut simpler = Vec::new();
        let mut try_setting = |change: &dyn Fn(&mut End)| {
            let mut end = self.clone();
            change(&mut end);
            if end != *self && end.works() {
                simpler.push(end);
            }
        };
        try_setting(&|end| end.sack = default.sack);
        try_setting(&|end| end.rack = default.rack);
        try_setting(&|end| end.mss = default.mss);
        try_setting(&|end| end.recv_buffer = default.recv_buffer);
        try_setting(&|end| end.send_buffer = default.send_buffer);
        try_setting(&|end| end.congestion_control = default.congestion_control);
        Box::new(simpler.into_iter())
    }
}

/// One transfer: how much, between which ends, through which faults, from which seed.
#[derive(Clone, PartialEq)]
struct Scenario {
    payload_len: usize,
    /// What B sends back to A meanwhile (0: nothing).
    reply_len: usize,
    /// The sender's settings and the receiver's.
    a: End,
    b: End,
    /// The patient timeouts above, or `Config::default()`'s.
    patient: bool,
    /// The faults of both directions. Kept typed, not as text, so that shrinking (the
    /// library's `Arbitrary::shrink` for `FaultConfig`) gives valid specs only: removing
    /// `burst=` from the text would leave a `burst-loss=` that is no spec.
    faults: FaultConfig,
    seed: u64,
}

impl Scenario {
    fn has_endless_outage(&self) -> bool {
        self.faults
            .outages
            .iter()
            .any(|outage| outage.end >= Duration::from_secs(FOREVER_SECS))
    }

    fn parse(text: &str) -> Option<Scenario> {
        let mut payload_len = None;
        let mut reply_len = None;
        let mut a = None;
        let mut b = None;
        let mut patient = None;
        let mut faults = None;
        let mut seed = None;
        for field in text.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "bytes" => payload_len = value.parse().ok(),
                "reply" => reply_len = value.parse().ok(),
                "a" => a = End::parse(value),
                "b" => b = End::parse(value),
                "timeouts" => patient = Some(value == "patient"),
                "seed" => seed = value.parse().ok(),
                "faults" => faults = value.parse().ok(),
                _ => return None,
            }
        }
        Some(Scenario {
            payload_len: payload_len?,
            reply_len: reply_len?,
            a: a?,
            b: b?,
            patient: patient?,
            faults: faults?,
            seed: seed?,
        })
    }

    fn run(&self) -> TransferReport {
        let mut network = NetworkConfig::symmetric(
            Some(50_000_000),
            Duration::from_millis(20),
            self.faults.clone(),
            self.seed,
        );
        // The MSS drawn goes up to 1460, more than a 1500-octet link carries in Ferry's
        // datagrams (1448): these links have no MTU (path MTU discovery has tests of its own).
        network.a_to_b.mtu = None;
        network.b_to_a.mtu = None;
        let timeouts = if self.patient {
            Config {
                max_retransmissions: 100,
                max_syn_retransmissions: 100,
                max_rto: Duration::from_secs(5),
                keepalive_probes: 40,
                ..Config::default()
            }
        } else {
            Config::default()
        };
        network.connection = self.a.config(&timeouts);
        network.connection_b = Some(self.b.config(&timeouts));
        let config = TransferConfig {
            reply: sim::payload(self.reply_len, self.seed.wrapping_add(1)),
            ..TransferConfig::new(network)
        };
        sim::transfer(&config, &sim::payload(self.payload_len, self.seed)).unwrap()
    }
}

impl fmt::Debug for Scenario {
    /// The replay form: `bytes=N reply=N a=END b=END timeouts=patient|default faults=SPEC
    /// seed=S`, each END as `sack:on,rack:off,mss:1200,recv:65536,send:262144,cc:newreno`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bytes={} reply={} a={} b={} timeouts={} faults={} seed={}",
            self.payload_len,
            self.reply_len,
            self.a,
            self.b,
            if self.patient { "patient" } else { "default" },
            self.faults,
            self.seed
        )
    }
}

/// A uniform number in [0, 1).
fn unit(g: &mut Gen) -> f64 {
    f64::from(u32::arbitrary(g)) / (f64::from(u32::MAX) + 1.0)
}

/// A whole number in [low, high].
fn between(g: &mut Gen, low: u64, high: u64) -> u64 {
    low + u64::arbitrary(g) % (high - low + 1)
}

/// A percentage with two decimals, in [0, max].
fn percent(g: &mut Gen, max: f64) -> String {
    format!("{:.2}%", unit(g) * max)
}

impl Arbitrary for Scenario {
    fn arbitrary(g: &mut Gen) -> Scenario {
        let patient = between(g, 0, 4) != 0;
        let (a, b) = (End::arbitrary(g), End::arbitrary(g));
        // Small segments and buffers now and then; the payload shrinks with them, so that a
        // one-byte window still finishes in a sensible number of round trips.
        let mss = a.mss.min(b.mss);
        let buffer = [a.recv_buffer, a.send_buffer, b.recv_buffer, b.send_buffer]
            .into_iter()
            .min()
            .unwrap_or(1);
        let max_payload = MAX_PAYLOAD.min(mss * 200).min(buffer * 100);
        let payload_len = match between(g, 0, 9) {
            0 => 0,
            1 => between(g, 1, 3000.min(max_payload as u64)) as usize,
            _ => between(g, 0, max_payload as u64) as usize,
        };
        // Data from B to A too, a third of the time.
        let reply_len = match between(g, 0, 2) {
            0 => between(g, 0, max_payload as u64) as usize,
            _ => 0,
        };
        let mut faults = Vec::new();
        // Each knob is on about half the time (the rarer ones a quarter), so that mixes of
        // every kind come up.
        if bool::arbitrary(g) {
            let max_loss = if patient { 30.0 } else { 10.0 };
            faults.push(format!("loss={}", percent(g, max_loss)));
        }
        if patient && between(g, 0, 3) == 0 {
            faults.push(format!(
                "burst={}/{}",
                percent(g, 2.0),
                format_args!("{:.2}%", 10.0 + unit(g) * 80.0)
            ));
            if bool::arbitrary(g) {
                faults.push(format!(
                    "burst-loss={}",
                    format_args!("{:.2}%", 20.0 + unit(g) * 80.0)
                ));
            }
        }
        if bool::arbitrary(g) {
            // Log-uniform from 1e-7 to 1e-4 per bit (to 1e-6 with the default timeouts: at
            // 1e-4 most full segments are corrupted).
            let decades = if patient { 3.0 } else { 1.0 };
            let exponent = -7.0 + decades * unit(g);
            faults.push(format!("flip={:.2e}", 10f64.powf(exponent)));
        }
        if bool::arbitrary(g) {
            faults.push(format!("dup={}", percent(g, 10.0)));
        }
        if bool::arbitrary(g) {
            faults.push(format!("reorder={}", percent(g, 20.0)));
            faults.push(format!("reorder-delay={}ms", between(g, 1, 50)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("delay={}ms", between(g, 0, 30)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("jitter={}ms", between(g, 1, 20)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("rate={}mbit", between(g, 1, 50)));
            faults.push(format!("queue={}KiB", between(g, 2, 128)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("truncate={}", percent(g, 5.0)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("drop={}", between(g, 1, 200)));
        }
        if between(g, 0, 3) == 0 {
            faults.push(format!("drop-data={}", between(g, 1, 200)));
        }
        if between(g, 0, 5) == 0 {
            faults.push(format!("flip-syn-ack={}", between(g, 0, 300)));
        }
        if between(g, 0, 3) == 0 {
            let start = between(g, 0, 3000);
            faults.push(format!(
                "drop-acks={start}ms..{}ms",
                start + between(g, 1, 2000)
            ));
        }
        match between(g, 0, 9) {
            0..=5 => {}
            6..=8 => {
                let start = between(g, 0, 5000);
                let length = between(g, 10, 5000);
                faults.push(format!("outage={start}ms..{}ms", start + length));
            }
            _ if patient => {
                faults.push(format!("outage={}ms..{FOREVER_SECS}s", between(g, 0, 3000)))
            }
            _ => {}
        }
        let spec = faults.join(",");
        Scenario {
            payload_len,
            reply_len,
            a,
            b,
            patient,
            faults: spec
                .parse()
                .unwrap_or_else(|error| panic!("the generator wrote {spec}: {error}")),
            seed: u64::arbitrary(g),
        }
    }

    /// Smaller payloads first, then the same run with milder faults (one fault fewer, or one
    /// halved: the library's shrinking of a `FaultConfig`).
    fn shrink(&self) -> Box<dyn Iterator<Item = Scenario>> {
        let mut smaller = Vec::new();
        if self.reply_len > 0 {
            smaller.push(Scenario {
                reply_len: 0,
                ..self.clone()
            });
        }
        for payload_len in [0, self.payload_len / 4, self.payload_len / 2] {
            if payload_len < self.payload_len {
                smaller.push(Scenario {
                    payload_len,
                    ..self.clone()
                });
            }
        }
        for a in self.a.shrink() {
            smaller.push(Scenario { a, ..self.clone() });
        }
        for b in self.b.shrink() {
            smaller.push(Scenario { b, ..self.clone() });
        }
        for faults in self.faults.shrink() {
            smaller.push(Scenario {
                faults,
                ..self.clone()
            });
        }
        Box::new(smaller.into_iter())
    }
}

/// Whether the transfer succeeded but for one end's close, which could not learn that its
/// FIN arrived (the module docs say how): everything delivered both ways, the other end
/// closed cleanly (so it took that FIN), and the reset end's retransmission timer fired.
fn fin_unconfirmed(report: &TransferReport) -> bool {
    let reset_after_retries = |host: &HostReport| {
        host.error == Some(ConnectionError::Reset) && host.stats.rto_timeouts > 0
    };
    report.intact
        && report.reply_intact
        && match (report.a.error, report.b.error) {
            (None, Some(_)) => reset_after_retries(&report.b),
            (Some(_), None) => reset_after_retries(&report.a),
            _ => false,
        }
}

/// What must hold after the transfer `scenario` describes; `Err` says what did not.
fn check(scenario: &Scenario, report: &TransferReport) -> Result<(), String> {
    if !report.delivered_correct {
        return Err("B read bytes that differ from the payload".into());
    }
    if !report.finished {
        return Err(format!(
            "a connection was still open at the time limit: A {} ({:?}), B {} ({:?})",
            report.a.state, report.a.error, report.b.state, report.b.error
        ));
    }
    if report.succeeded() || fin_unconfirmed(report) {
        return Ok(());
    }
    if !scenario.has_endless_outage() {
        return Err(format!(
            "the transfer failed without an endless outage: intact {}, reply intact {}, A error \
             {:?}, B error {:?}",
            report.intact, report.reply_intact, report.a.error, report.b.error
        ));
    }
    // An endless outage may cut the transfer or only the close short. Either way an end that
    // did not close cleanly must say it timed out, and if either end lacks data, both must.
    let timed_out_or_clean =
        |error: Option<ConnectionError>| matches!(error, None | Some(ConnectionError::TimedOut));
    if !timed_out_or_clean(report.a.error) || !timed_out_or_clean(report.b.error) {
        return Err(format!(
            "an end failed with something other than a timeout: A {:?}, B {:?}",
            report.a.error, report.b.error
        ));
    }
    // B may never have had a connection: if its handshake never completed, its endpoint
    // dropped the half-open one silently, as a listening TCP does.
    let b_timed_out_or_never_opened =
        report.b.error == Some(ConnectionError::TimedOut) || !report.b.opened;
    if (!report.intact || !report.reply_intact)
        && (report.a.error != Some(ConnectionError::TimedOut) || !b_timed_out_or_never_opened)
    {
        return Err(format!(
            "the data did not arrive but not both ends timed out: A {:?}, B {:?}",
            report.a.error, report.b.error
        ));
    }
    Ok(())
}

fn transfer_property(scenario: Scenario) -> TestResult {
    let report = scenario.run();
    match check(&scenario, &report) {
        Ok(()) => TestResult::passed(),
        Err(problem) => TestResult::error(format!(
            "{problem}\n  scenario: {scenario:?}\n  replay: FERRY_REPLAY=\"{scenario:?}\" \
             cargo test --test properties replay -- --ignored --nocapture\n  report: {report:#?}"
        )),
    }
}

fn case_count() -> u64 {
    std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(300)
}

#[test]
fn every_transfer_arrives_intact_or_times_out_only_in_an_endless_outage() {
    let cases = case_count();
    #[allow(clippy::disallowed_methods)] // reports how long the cases took; asserts nothing on it
    let started = std::time::Instant::now();
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 2)
        .quickcheck(transfer_property as fn(Scenario) -> TestResult);
    eprintln!("{cases} transfer cases passed in {:.1?}", started.elapsed());
}

/// Runs the one scenario in `FERRY_REPLAY`, printing its report. A tool for reproducing a
/// failure, so it only runs when asked for (`-- --ignored`).
#[test]
#[ignore = "replays FERRY_REPLAY; run with -- --ignored"]
fn replay() {
    let text = std::env::var("FERRY_REPLAY")
        .expect("FERRY_REPLAY must hold a scenario, as a failing property test prints it");
    let scenario = Scenario::parse(&text).unwrap_or_else(|| {
        panic!("FERRY_REPLAY must be a scenario as a failing case prints it: {text}")
    });
    let report = scenario.run();
    eprintln!("{report:#?}");
    if let Err(problem) = check(&scenario, &report) {
        panic!("{problem}\n  scenario: {scenario:?}");
    }
}

/// One data segment lost somewhere in a transfer, nothing else wrong.
#[derive(Clone, Debug)]
struct SingleLoss {
    /// Which datagram from A to B is dropped: the SYN is the first, data segments follow.
    dropped_datagram: u64,
    /// Data segments after the lost one.
    segments_after: u64,
    /// Each end's SACK and MSS, and the sender's RACK, drawn independently.
    sack_a: bool,
    sack_b: bool,
    rack_a: bool,
    mss_a: usize,
    mss_b: usize,
    seed: u64,
}

impl Arbitrary for SingleLoss {
    fn arbitrary(g: &mut Gen) -> SingleLoss {
        let mss = |g: &mut Gen| *g.choose(&[1200, 1200, 536, 1460]).unwrap_or(&1200);
        SingleLoss {
            // From the 10th datagram on, slow start has opened cwnd past the threshold's
            // worth of segments behind any loss ("enough data in flight").
            dropped_datagram: between(g, 10, 200),
            segments_after: between(g, 8, 100),
            sack_a: bool::arbitrary(g),
            sack_b: bool::arbitrary(g),
            rack_a: bool::arbitrary(g),
            mss_a: mss(g),
            mss_b: mss(g),
            seed: u64::arbitrary(g),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = SingleLoss>> {
        let smaller = (self.segments_after > 8).then(|| SingleLoss {
            segments_after: 8,
            ..self.clone()
        });
        Box::new(smaller.into_iter())
    }
}

fn single_loss_property(case: SingleLoss) -> TestResult {
    // Segments go at the smaller MSS, whichever end has it (RFC 9293 section 3.7.1).
    let mss = case.mss_a.min(case.mss_b);
    // The SYN is datagram 1, so data segment n is datagram n + 1.
    let segments = case.dropped_datagram - 1 + case.segments_after;
    let payload = sim::payload(segments as usize * mss, case.seed);
    let mut network = NetworkConfig::symmetric(
        Some(10_000_000),
        Duration::from_millis(40),
        format!("drop={}", case.dropped_datagram)
            .parse()
            .expect("a valid spec"),
        case.seed,
    );
    network.b_to_a.faults = ferry::FaultConfig::default();
    // An MSS of 1460 does not fit a 1500-octet link in Ferry's datagrams: no MTU here.
    network.a_to_b.mtu = None;
    network.b_to_a.mtu = None;
    // A queue that never overflows: the scripted drop is the only loss.
    network.a_to_b.queue_limit = 10_000;
    // Path MTU discovery off: every data segment is of the negotiated MSS, so the dropped
    // datagram's number says which segment it was.
    network.connection = Config {
        sack: case.sack_a,
        rack: case.rack_a,
        mss: case.mss_a,
        plpmtud: false,
        ..Config::default()
    };
    network.connection_b = Some(Config {
        sack: case.sack_b,
        mss: case.mss_b,
        plpmtud: false,
        ..Config::default()
    });
    let report = sim::transfer(&TransferConfig::new(network), &payload).unwrap();
    let retransmissions = report.a.stats.retransmissions;
    // One data segment goes again. So may the FIN, with no data, if it arrived ahead of the
    // hole: the receiver believes a FIN only in order (RFC 5961's blind injection).
    let fin_resent = retransmissions.total() - 1;
    if report.succeeded()
        && report.a.faults.dropped == 1
        && report.a.stats.rto_timeouts == 0
        && report.a.stats.bytes_retransmitted == report.a.link.dropped_payload_bytes
        && fin_resent <= 1
        // With SACK on both ends and RACK at the sender, RACK finds the loss (RFC 8985);
        // otherwise the third duplicate ACK does (RFC 6675 with SACK, RFC 6582 without). A
        // FIN the receiver dropped goes again as soon as the ACK shows it dropped with SACK,
        // on NewReno's partial ACK without.
        && match (case.sack_a && case.sack_b, case.rack_a) {
            (true, true) => retransmissions.rack == 1 + fin_resent,
            (true, false) => retransmissions.fast == 1 && retransmissions.sack == fin_resent,
            (false, _) => retransmissions.fast == 1 + fin_resent,
        }
    {
        TestResult::passed()
    } else {
        TestResult::error(format!(
            "{case:?}: succeeded {}, dropped {}, RTO expiries {}, retransmissions {:?}",
            report.succeeded(),
            report.a.faults.dropped,
            report.a.stats.rto_timeouts,
            retransmissions
        ))
    }
}

#[test]
fn a_single_loss_is_repaired_by_one_fast_retransmit_without_a_timeout() {
    let cases = case_count().div_ceil(3);
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 2)
        .quickcheck(single_loss_property as fn(SingleLoss) -> TestResult);
}

#[test]
fn scenarios_print_in_a_form_replay_reads_back() {
    let mut g = Gen::new(100);
    for _ in 0..200 {
        let scenario = Scenario::arbitrary(&mut g);
        assert_eq!(
            Scenario::parse(&format!("{scenario:?}")),
            Some(scenario.clone())
        );
    }
}

/// A failing scenario with bursty loss shrinks to scenarios that all run: taking `burst=`
/// away takes its `burst-loss=` with it (a spec with `burst-loss` alone is no spec, and a
/// shrink that left one used to end the search in a panic).
#[test]
fn every_shrink_of_a_bursty_scenario_runs() {
    let text = "bytes=3000 reply=0 a=sack:on,rack:on,mss:1200,recv:65536,send:262144,cc:newreno \
                b=sack:on,rack:on,mss:1200,recv:65536,send:262144,cc:newreno timeouts=patient \
                faults=loss=1%,burst=1%/30%,burst-loss=50%,delay=2ms seed=3";
    let scenario = Scenario::parse(text).expect("a scenario");
    let shrinks: Vec<Scenario> = scenario.shrink().collect();
    assert!(shrinks.len() >= 3, "{shrinks:?}");
    for smaller in shrinks {
        let report = smaller.run();
        assert_eq!(check(&smaller, &report), Ok(()), "{smaller:?}");
    }
}
