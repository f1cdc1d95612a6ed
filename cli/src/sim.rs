//! `ferry sim`: a transfer from A to B over the simulated network, and its report.

use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use ferry::capture::{window_scale_for, View};
use ferry::fault::FaultConfig;
use ferry::ladder::{Ladder, LadderOptions};
use ferry::sim::{
    self, Captures, Host, HostEvents, HostReport, NetworkConfig, Observers, TransferConfig,
    TransferReport,
};
use ferry::{Config, RecvBuffer};

use crate::args::{
    bytes_arg, duration_arg, faults_arg, interval_arg, rate_arg, recv_buffer_arg, LinkRate,
    SenderOptions, StatsFormat, Switch,
};
use crate::report::merged;

#[derive(clap::Args)]
pub struct SimArgs {
    /// Run the world this file describes instead of one transfer: hosts, routers, links,
    /// routes, built-in programs and control events, in TOML (docs/simulation.md, "Scenario
    /// files"; examples in scenarios/). Reports each flow and each link flows share.
    #[arg(long, value_name = "FILE", conflicts_with_all = TWO_HOST_ONLY)]
    scenario: Option<PathBuf>,
    /// Walk through the lecture's hole-punching example instead of one transfer: peer 1 at
    /// 192.168.1.2:4000 behind NAT 1.2.3.4, peer 2 at 10.0.0.2:5000 behind NAT 4.5.6.7, a
    /// rendezvous at 7.7.7.7:7000; prints both mapping tables after each change. With
    /// --pcap DIR, writes every interface's capture there (both sides of each NAT).
    #[arg(long, conflicts_with_all = PUNCH_CONFLICTS)]
    nat_lecture: bool,
    /// Run hole punching for every pair of NAT presets over --seeds seeds with --faults on
    /// every link (default loss=1%), and print the success matrix (docs/performance.md).
    #[arg(long, conflicts_with_all = PUNCH_CONFLICTS, conflicts_with = "nat_lecture")]
    punch_matrix: bool,
    /// How many seeds --punch-matrix runs for each pair (1 to N).
    #[arg(long, default_value_t = 100, requires = "punch_matrix",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    seeds: u64,
    /// How many bytes to send (random content drawn from the seed), e.g. 1MiB, 64KiB, 1500;
    /// at most 4GiB (the simulator holds what is sent and what arrives in memory).
    #[arg(long, value_parser = payload_size_arg, default_value = "1MiB", conflicts_with = "file")]
    bytes: usize,
    /// Send this file's content instead of random bytes.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Faults on both directions of the link, e.g. loss=5%,flip=1e-5,dup=1%,reorder=2%
    /// (docs/faults.md lists every key).
    #[arg(long, value_parser = faults_arg, default_value = "none")]
    faults: FaultConfig,
    /// Faults on the A-to-B direction only (the data), in place of --faults there.
    #[arg(long, value_parser = faults_arg)]
    faults_ab: Option<FaultConfig>,
    /// Faults on the B-to-A direction only (the ACKs), in place of --faults there.
    #[arg(long, value_parser = faults_arg)]
    faults_ba: Option<FaultConfig>,
    /// The link's rate in each direction, e.g. 10mbit, 1gbit, or "unlimited". A fault spec
    /// with rate= (and queue=) replaces it and --queue: a link has one shaper.
    #[arg(long, value_parser = rate_arg, default_value = "10mbit")]
    rate: LinkRate,
    /// Round-trip propagation delay, split evenly between the directions, e.g. 40ms.
    #[arg(long, value_parser = duration_arg, default_value = "40ms")]
    rtt: Duration,
    /// Datagrams each direction's drop-tail queue holds.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    queue: u64,
    /// The links' MTU in octets: a datagram whose UDP payload and 28 octets of IPv4 and UDP
    /// headers exceed it is dropped without a word (Don't Fragment, no ICMP: a black hole).
    /// Default 1500, Ethernet's, which carries path MTU discovery's 1452-byte datagrams.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u64).range(68..))]
    mtu: u64,
    /// Selective acknowledgments: on, loss recovery follows RFC 6675; off, NewReno (RFC 6582).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    sack: Switch,
    /// RACK-TLP (RFC 8985): time-based loss detection, tail loss probes and F-RTO. Off, losses
    /// are found by RFC 6675's duplicate-ACK and SACK rules alone. Needs --sack on.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    rack: Switch,
    /// Run both hosts in the secure mode (docs/protocol.md section 10): a Noise handshake in
    /// the SYNs, then every segment encrypted and authenticated. B's key comes from the seed.
    /// Captures (--pcap) hold what crossed the link, encrypted.
    #[arg(long)]
    secure: bool,
    /// In place of a transfer, a request and its response over the link, timed from A's
    /// connect until A reads the response's first byte (`first_byte_seconds`): plain Ferry,
    /// TLS 1.2 or 1.3 (rustls) over plain Ferry as TCP+TLS, the secure mode's 1-RTT handshake
    /// or its 0-RTT one, or all five (docs/performance.md, "Time to first byte"). Takes
    /// --ladder FILE and --trace PREFIX (PREFIX-KIND-a.sqlog and -b; with `all`, a ladder per
    /// kind, FILE-KIND.svg); no --plot (a request and a response are too little to plot).
    #[arg(long, value_enum, value_name = "KIND", conflicts_with = "plot")]
    first_byte: Option<crate::first_byte::FirstByteKind>,
    #[command(flatten)]
    sender: SenderOptions,
    /// Duplicate ACKs that trigger fast retransmit (with RACK on: SACKed segments past which
    /// RACK stops allowing for reordering).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    dupthresh: u32,
    /// Largest payload per segment, in bytes.
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u64).range(1..=65_000))]
    mss: u64,
    /// Each end's receive buffer, which bounds the window it advertises, e.g. 64KiB, 1MiB; or
    /// `auto`, the library's default: autotuned from 64 KiB up to 6 MiB.
    #[arg(long, value_parser = recv_buffer_arg, default_value = "auto")]
    recv_buffer: RecvBuffer,
    /// Seeds every random choice: the same seed gives the same run, byte for byte. Default
    /// 1, or a scenario's own `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
    stats: StatsFormat,
    /// Write each host's capture, PREFIX-a.pcapng and PREFIX-b.pcapng: what it sent, before
    /// the faults, and what it received, after them. Open them in Wireshark with the dissector
    /// captures/ferry.lua.
    #[arg(long, value_name = "PREFIX")]
    pcap: Option<PathBuf>,
    /// Write the captures as TCP instead of UDP + Ferry, for Wireshark's own TCP analysis.
    #[arg(long, requires = "pcap")]
    tcp_view: bool,
    /// Write each host's connection trace as qlog (JSON-SEQ, which qvis opens),
    /// PREFIX-a.sqlog and PREFIX-b.sqlog: every segment sent (with its reason), received and
    /// declared lost, the timers set, fired and cancelled, state changes, recovery episodes
    /// (why each began and ended), and cwnd, ssthresh, bytes in flight, RTTs and the RTO.
    /// With --scenario or --nat-lecture, PREFIX-HOST.sqlog for each host of the world, each
    /// event naming its connection.
    #[arg(long, value_name = "PREFIX", conflicts_with = "punch_matrix")]
    trace: Option<PathBuf>,
    /// Draw A's time-sequence graph (Stevens's) to this SVG file: data sent over time,
    /// retransmissions by reason, the ACK line, SACK blocks, the receive window and cwnd.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Draw the ladder diagram of the run to FILE.svg, or to FILE.html (a page that zooms,
    /// pans, and shows a clicked arrow's details): a time line per host, each datagram an arrow
    /// from its sending to its arrival, drops and timers marked. May be given twice, for both.
    /// With --scenario or --nat-lecture, a line per host of the world, drops at a router or
    /// NAT crossed with its reason.
    #[arg(long, value_name = "FILE.svg|FILE.html", value_parser = ladder_file_arg,
          conflicts_with = "punch_matrix")]
    ladder: Vec<PathBuf>,
    /// Draw only what was sent in this window of time on the ladder, e.g. 0.1s..0.5s (since
    /// the start): how a long run stays readable. At most 5000 datagrams are drawn.
    #[arg(long, value_parser = interval_arg, value_name = "START..END", requires = "ladder")]
    ladder_window: Option<Range<Duration>>,
    /// B's application stops reading from START to END (since the start, e.g. 200ms..2s):
    /// with a small --recv-buffer its window closes and A sends zero-window probes.
    #[arg(long, value_parser = interval_arg, value_name = "START..END")]
    read_pause: Option<Range<Duration>>,
    /// B's application aborts the connection (sends a RST) once it has read this many bytes,
    /// e.g. 20KB. The data then cannot arrive intact, so the exit status is 1.
    #[arg(long, value_parser = bytes_arg, value_name = "SIZE")]
    abort_after: Option<usize>,
    /// B sends this many bytes back to A (random content drawn from the seed) while it
    /// reads, and closes its side once they are written, e.g. 200KB: with A's FIN sent
    /// first, a half-close. A reads them to the end; the exit status requires them intact.
    #[arg(long, value_parser = payload_size_arg, value_name = "SIZE")]
    reply: Option<usize>,
    /// A's application writes this many bytes at a time, one write each --write-interval,
    /// as an interactive program does (with --nodelay or not: the Nagle algorithm), e.g. 100.
    #[arg(long, value_parser = bytes_arg, value_name = "SIZE")]
    write_size: Option<usize>,
    /// The time between two of A's writes of --write-size bytes, e.g. 10ms.
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    write_interval: Option<Duration>,
}

/// The options that describe the two-host transfer, which a scenario describes itself.
const TWO_HOST_ONLY: [&str; 28] = [
    "send_buffer",
    "pacing",
    "timestamps",
    "mtu",
    "bytes",
    "write_size",
    "write_interval",
    "initial_window",
    "nodelay",
    "file",
    "faults",
    "faults_ab",
    "faults_ba",
    "rate",
    "rtt",
    "queue",
    "sack",
    "rack",
    "cc",
    "dupthresh",
    "mss",
    "recv_buffer",
    "pcap",
    "tcp_view",
    "plot",
    "read_pause",
    "abort_after",
    "reply",
];

/// The options --nat-lecture and --punch-matrix do not take.
const PUNCH_CONFLICTS: [&str; 27] = [
    "send_buffer",
    "pacing",
    "timestamps",
    "mtu",
    "mss",
    "write_size",
    "write_interval",
    "nodelay",
    "recv_buffer",
    "secure",
    "initial_window",
    "scenario",
    "bytes",
    "file",
    "faults_ab",
    "faults_ba",
    "rate",
    "rtt",
    "queue",
    "sack",
    "rack",
    "cc",
    "dupthresh",
    "tcp_view",
    "plot",
    "read_pause",
    "abort_after",
];

/// `--ladder FILE`: an SVG or an HTML page, told by the name's ending.
fn ladder_file_arg(text: &str) -> Result<PathBuf, String> {
    if LadderFormat::of(Path::new(text)).is_none() {
        return Err(format!(
            "{text} should end in .svg (a drawing) or .html (a page that zooms and pans)"
        ));
    }
    Ok(PathBuf::from(text))
}

/// What `--ladder` writes.
#[derive(Clone, Copy)]
enum LadderFormat {
    Svg,
    Html,
}

impl LadderFormat {
    fn of(path: &Path) -> Option<LadderFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "svg" => Some(LadderFormat::Svg),
            "html" | "htm" => Some(LadderFormat::Html),
            _ => None,
        }
    }
}

/// The most `--bytes` takes: the payload and the received copy both live in memory.
const MAX_PAYLOAD: usize = 4 << 30;

fn payload_size_arg(text: &str) -> Result<usize, String> {
    let bytes = bytes_arg(text)?;
    if bytes > MAX_PAYLOAD {
        return Err(format!(
            "{text} is more than the simulator takes: from 0 to 4GiB (it holds the payload and \
             the received copy in memory)"
        ));
    }
    Ok(bytes)
}

pub fn run(args: SimArgs) -> ExitCode {
    let ladder = ladder_request(&args);
    if let Some(scenario) = &args.scenario {
        let trace = args.trace.as_deref();
        return crate::scenario::run(scenario, args.seed, args.stats, ladder.as_ref(), trace);
    }
    if args.nat_lecture {
        let pcap = args.pcap.as_deref();
        let (ladder, trace) = (ladder.as_ref(), args.trace.as_deref());
        return crate::punching::lecture(seed(&args), &args.faults, pcap, ladder, trace);
    }
    if args.punch_matrix {
        let faults = match args.faults == FaultConfig::default() {
            true => "loss=1%".parse().expect("a valid fault spec"),
            false => args.faults.clone(),
        };
        return crate::punching::matrix(args.seeds, &faults);
    }
    let (config, payload) = match transfer_config(&args) {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("ferry sim: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(kind) = args.first_byte {
        let outputs = crate::first_byte::Outputs {
            pcap: args.pcap.as_deref(),
            ladder: ladder.as_ref(),
            trace: args.trace.as_deref(),
        };
        return crate::first_byte::run(&config.network, kind, args.stats, &outputs);
    }
    // How long the simulation took in real time, for `wall_seconds`.
    let started = crate::wall_clock();
    let captures = match &args.pcap {
        None => Captures::default(),
        Some(prefix) => {
            let (a, b) = (capture_path(prefix, "a"), capture_path(prefix, "b"));
            let view = if args.tcp_view {
                View::Tcp
            } else {
                View::Ferry
            };
            // The TCP view scales windows to fit 16 bits; the receive buffer bounds them.
            let window_scale =
                window_scale_for(u32::try_from(args.recv_buffer.max()).unwrap_or(u32::MAX));
            match Captures::create(&a, &b, view, window_scale) {
                Ok(captures) => captures,
                Err(error) => return cannot_write(&a, &b, &error),
            }
        }
    };
    let observers = Observers {
        captures,
        trace: args.plot.as_ref().map(|_| Host::A),
        ladder: ladder.map(|request| request.options),
        events: args.trace.is_some(),
    };
    let ran = sim::transfer_observed(&config, &payload, observers);
    let (report, observed) = match ran {
        Ok(ran) => ran,
        Err(error) => {
            let prefix = args.pcap.as_deref().unwrap_or(Path::new("?"));
            return cannot_write(
                &capture_path(prefix, "a"),
                &capture_path(prefix, "b"),
                &error,
            );
        }
    };
    if let (Some(path), Some(trace)) = (&args.plot, &observed.trace) {
        let svg = ferry::plot::time_sequence_svg(trace, &plot_title(&args, payload.len()));
        if let Err(error) = std::fs::write(path, svg) {
            eprintln!(
                "ferry sim: cannot write the plot {}: {error}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Some(ladder) = &observed.ladder {
        let title = format!(
            "ferry sim: {} bytes from A to B, {}, {:?} RTT, {}, seed {}",
            payload.len(),
            rate_text(&args),
            args.rtt,
            faults_text(&args),
            seed(&args)
        );
        if let Err(code) = write_ladders(&args.ladder, ladder, &title) {
            return code;
        }
    }
    if let (Some(prefix), Some(events)) = (&args.trace, &observed.events) {
        if let Err(code) = write_traces(&args, prefix, events, payload.len()) {
            return code;
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();

    match args.stats {
        StatsFormat::Json => println!("{}", json_report(&report, wall_seconds)),
        StatsFormat::Text => print!("{}", text_report(&args, &report, wall_seconds)),
    }
    if report.intact && report.reply_intact && report.finished {
        ExitCode::SUCCESS
    } else {
        eprintln!("ferry sim: {}", failure_message(&report));
        ExitCode::FAILURE
    }
}

/// With `--first-byte` or `--nat-lecture`, the report of that run, which is no transfer
/// (`ferry lab` measures it): the first-byte times and round trips by kind, or the punch's
/// outcome for each peer and the NATs' drops.
pub fn other_run_report(args: &SimArgs) -> Option<Result<serde_json::Value, String>> {
    if args.nat_lecture {
        return Some(crate::punching::lecture_report(seed(args), &args.faults));
    }
    let kind = args.first_byte?;
    Some(
        transfer_config(args)
            .and_then(|(config, _)| crate::first_byte::report(&config.network, kind)),
    )
}

pub fn transfer_config(args: &SimArgs) -> Result<(TransferConfig, Vec<u8>), String> {
    let payload = match &args.file {
        Some(path) => std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
        None => sim::payload(args.bytes, seed(args)),
    };
    let mut network =
        NetworkConfig::symmetric(args.rate.0, args.rtt, args.faults.clone(), seed(args));
    let queue_limit = usize::try_from(args.queue).unwrap_or(usize::MAX);
    network.a_to_b.queue_limit = queue_limit;
    network.b_to_a.queue_limit = queue_limit;
    let mtu = usize::try_from(args.mtu).ok();
    network.a_to_b.mtu = mtu;
    network.b_to_a.mtu = mtu;
    if let Some(faults) = &args.faults_ab {
        network.a_to_b.faults = faults.clone();
    }
    if let Some(faults) = &args.faults_ba {
        network.b_to_a.faults = faults.clone();
    }
    network.secure = args.secure;
    network.connection = Config {
        mss: usize::try_from(args.mss).unwrap_or(usize::MAX),
        recv_buffer: args.recv_buffer,
        sack: args.sack == Switch::On,
        rack: args.rack == Switch::On,
        duplicate_ack_threshold: args.dupthresh,
        ..args.sender.apply(Config::default())
    };
    if let Err(error) = network.connection.check() {
        // The settings the command line reaches are named by their flags.
        let flag = match error.setting {
            "recv_buffer" => "--recv-buffer",
            "mss" => "--mss",
            other => other,
        };
        return Err(format!(
            "{flag} {} cannot work: it must be {}",
            error.value, error.valid
        ));
    }
    let paced_writes = match (args.write_size, args.write_interval) {
        (Some(0), _) => return Err("--write-size 0 cannot work: it must be at least 1 byte".into()),
        (Some(_), Some(interval)) if interval.is_zero() => {
            return Err("--write-interval 0 cannot work: it must be longer than 0".into())
        }
        (Some(size), Some(interval)) => Some((size, interval)),
        (None, None) => None,
        _ => return Err("--write-size and --write-interval go together: give both".into()),
    };
    let config = TransferConfig {
        receiver_pause: args.read_pause.clone(),
        receiver_abort_after: args.abort_after.map(|bytes| bytes as u64),
        // Another seed than the payload's, so that the two streams differ.
        reply: args.reply.map_or_else(Vec::new, |bytes| {
            sim::payload(bytes, seed(args).wrapping_add(1))
        }),
        paced_writes,
        ..TransferConfig::new(network)
    };
    Ok((config, payload))
}

/// The two-host transfer's seed: `--seed`, or 1.
fn seed(args: &SimArgs) -> u64 {
    args.seed.unwrap_or(1)
}

/// Why a run failed, in words: corruption, a transfer cut short (and by what), or a close
/// that never completed.
fn failure_message(report: &TransferReport) -> String {
    if !report.delivered_correct {
        return "the data arrived corrupted: B read bytes that differ from what A sent".into();
    }
    let why = match (report.a.error, report.b.error, report.limit_reached) {
        (Some(error), _, _) => format!("A's connection failed: {error}"),
        (None, Some(error), _) => format!("B's connection failed: {error}"),
        (None, None, Some(limit)) => format!("the run reached {limit}"),
        (None, None, None) => "nothing was left to happen".into(),
    };
    if !report.reply_intact && report.intact {
        return format!("the reply did not arrive intact at A; {why}");
    }
    if !report.intact {
        format!(
            "the transfer did not finish: B read {} of {} bytes, none of them wrong; {why}",
            report.bytes_delivered, report.bytes_sent
        )
    } else {
        format!("the data arrived intact, but a connection did not close; {why}")
    }
}

fn cannot_write(a: &Path, b: &Path, error: &std::io::Error) -> ExitCode {
    eprintln!(
        "ferry sim: cannot write the captures {} and {}: {error}",
        a.display(),
        b.display()
    );
    ExitCode::from(2)
}

/// The link's rate: `10 Mbit/s`, or `unlimited`.
fn rate_text(args: &SimArgs) -> String {
    args.rate.0.map_or("unlimited".to_string(), |bps| {
        format!("{} Mbit/s", bps as f64 / 1e6)
    })
}

/// The faults each direction had, A to B and B to A: `--faults`, or `--faults-ab` /
/// `--faults-ba` in its place.
fn direction_faults(args: &SimArgs) -> (&FaultConfig, &FaultConfig) {
    (
        args.faults_ab.as_ref().unwrap_or(&args.faults),
        args.faults_ba.as_ref().unwrap_or(&args.faults),
    )
}

/// The faults for the report's first line: "faults SPEC" when both directions had the same,
/// else "faults A→B SPEC, B→A SPEC".
fn faults_text(args: &SimArgs) -> String {
    match direction_faults(args) {
        (ab, ba) if ab == ba => format!("faults {ab}"),
        (ab, ba) => format!("faults A→B {ab}, B→A {ba}"),
    }
}

/// What the plot shows, for its title: the run's settings that shape it.
fn plot_title(args: &SimArgs, bytes: usize) -> String {
    let (ab, ba) = direction_faults(args);
    let on_off = |switch: Switch| if switch == Switch::On { "on" } else { "off" };
    let cc = args.sender.cc.title();
    let mut title = format!(
        "ferry sim: A's data, {bytes} bytes, faults A→B {ab}, B→A {ba}, SACK {}, RACK-TLP {}, \
         {cc}, dupthresh {}, MSS {}, seed {}",
        on_off(args.sack),
        on_off(args.rack),
        args.dupthresh,
        args.mss,
        seed(args)
    );
    if let Some(pause) = &args.read_pause {
        title.push_str(&format!(
            ", B's reader paused {:?}..{:?}",
            pause.start, pause.end
        ));
    }
    if let Some(bytes) = args.abort_after {
        title.push_str(&format!(", B aborts after {bytes} bytes"));
    }
    title
}

/// Write each host's qlog trace, PREFIX-a.sqlog and PREFIX-b.sqlog.
fn write_traces(
    args: &SimArgs,
    prefix: &Path,
    events: &HostEvents,
    bytes: usize,
) -> Result<(), ExitCode> {
    let path = |host: &str| prefixed(prefix, &format!("-{host}.sqlog"));
    crate::qlog::write_two_host_traces(path, &plot_title(args, bytes), events)
}

/// `prefix` with `suffix` appended to its last component: `/tmp/run` and `-a.pcapng` make
/// `/tmp/run-a.pcapng`.
pub fn prefixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(prefix.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// What `--ladder` and `--ladder-window` ask for: the files to write, and what to record.
pub struct LadderRequest {
    pub files: Vec<PathBuf>,
    pub options: LadderOptions,
}

fn ladder_request(args: &SimArgs) -> Option<LadderRequest> {
    (!args.ladder.is_empty()).then(|| LadderRequest {
        files: args.ladder.clone(),
        options: LadderOptions {
            window: args
                .ladder_window
                .clone()
                .unwrap_or(Duration::ZERO..Duration::MAX),
            ..LadderOptions::default()
        },
    })
}

/// Write the ladder, titled `title`, to each of `files` (an SVG or an HTML page by its name),
/// saying on stderr if datagrams were left out.
pub fn write_ladders(files: &[PathBuf], ladder: &Ladder, title: &str) -> Result<(), ExitCode> {
    if ladder.omitted > 0 {
        eprintln!(
            "ferry sim: the ladder shows the first {} datagrams of the window, not {} more: \
             narrow it with --ladder-window",
            ferry::ladder::DEFAULT_MAX_DATAGRAMS,
            ladder.omitted
        );
    }
    for path in files {
        let drawing = match LadderFormat::of(path) {
            Some(LadderFormat::Html) => ferry::ladder::ladder_html(ladder, title),
            _ => ferry::ladder::ladder_svg(ladder, title),
        };
        if let Err(error) = std::fs::write(path, drawing) {
            eprintln!(
                "ferry sim: cannot write the ladder {}: {error}",
                path.display()
            );
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

/// `PREFIX-a.pcapng` for host "a".
fn capture_path(prefix: &Path, host: &str) -> PathBuf {
    prefixed(prefix, &format!("-{host}.pcapng"))
}

fn error_text(host: &HostReport) -> String {
    host.error
        .map_or("none".to_string(), |error| error.to_string())
}

/// The JSON report: each counter summed over both hosts at the top level (the keys the README
/// lists), and what each host counted in `a` and `b`.
pub fn json_report(report: &TransferReport, wall_seconds: f64) -> serde_json::Value {
    let (a, b) = (&report.a, &report.b);
    let own = json!({
        "intact": report.intact,
        "reply_intact": report.reply_intact,
        "finished": report.finished,
        "bytes_sent": report.bytes_sent,
        "bytes_delivered": report.bytes_delivered,
        "sim_seconds": report.transfer_time.as_secs_f64(),
        "close_seconds": report.end_time.as_secs_f64(),
        "wall_seconds": wall_seconds,
        "goodput_bps": report.goodput_bps(),
        "cwnd_a": a.stats.congestion_window,
        "ssthresh_a": a.stats.slow_start_threshold,
        "state_a": a.state.to_string(),
        "state_b": b.state.to_string(),
        "error_a": a.error.map(|error| error.to_string()),
        "error_b": b.error.map(|error| error.to_string()),
        "srtt_ms": a.stats.smoothed_rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
        "a": host_json(a),
        "b": host_json(b),
    });
    let own = merged(own, link_counters(&[a, b]));
    crate::report::with_counters(own, &[&a.stats, &b.stats], &[&a.faults, &b.faults])
}

/// What one host counted: its connection's counters, the link leaving it, its fate.
fn host_json(host: &HostReport) -> serde_json::Value {
    let own = json!({
        "state": host.state.to_string(),
        "error": host.error.map(|error| error.to_string()),
        "srtt_ms": host.stats.smoothed_rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
        "cwnd": host.stats.congestion_window,
        "ssthresh": host.stats.slow_start_threshold,
        "recv_buffer_bytes": host.stats.recv_buffer_bytes,
        "send_buffer_bytes": host.stats.send_buffer_bytes,
    });
    let own = merged(own, link_counters(&[host]));
    crate::report::with_counters(own, &[&host.stats], &[&host.faults])
}

/// What the links leaving `hosts` lost, what the hosts discarded as corrupt, and the RSTs
/// their endpoints sent to segments no connection accepted, summed.
fn link_counters(hosts: &[&HostReport]) -> serde_json::Value {
    let sum = |field: fn(&HostReport) -> u64| hosts.iter().map(|host| field(host)).sum::<u64>();
    json!({
        "queue_drops": sum(|host| host.link.queue_drops),
        "mtu_drops": sum(|host| host.link.mtu_drops),
        "dropped_payload_bytes": sum(|host| host.link.dropped_payload_bytes),
        "dropped_data_segments": sum(|host| host.link.dropped_data_segments),
        "discarded_corrupt": sum(|host| host.stats.discarded_corrupt + host.endpoint.discarded_corrupt),
        "discarded_unauthenticated": sum(|host| host.endpoint.discarded_unauthenticated),
        "resets_sent": sum(|host| host.endpoint.resets_sent),
    })
}

fn text_report(args: &SimArgs, report: &TransferReport, wall_seconds: f64) -> String {
    let (a, b) = (&report.a, &report.b);
    let rate = rate_text(args);
    let faults = |host: &HostReport| {
        format!(
            "dropped {}, corrupted {}, duplicated {}, reordered {}, queue overflow {}",
            host.faults.dropped,
            host.faults.corrupted,
            host.faults.duplicated,
            host.faults.reordered,
            host.link.queue_drops
        )
    };
    let verdict = match (report.intact, report.finished) {
        (true, true) => "intact, both ends closed",
        (true, false) => "intact, but a connection did not close",
        (false, _) => "NOT intact",
    };
    format!(
        "ferry sim: {sent} bytes from A to B, {rate}, {rtt:?} RTT, {faults}, seed {seed}\n\
         delivered   {delivered} of {sent} bytes: {verdict}\n\
         time        {sim:.3} s simulated ({wall:.3} s of wall time), goodput {goodput:.3} Mbit/s\n\
         A (sender)  {a_segments} segments, {a_retx} retransmitted, {a_rtos} RTO expiries, {a_probes} tail loss probes, state {a_state}, error {a_error}\n\
         B (receiver) {b_segments} segments, {b_ooo} out-of-order arrivals, state {b_state}, error {b_error}\n\
         A -> B      {faults_ab}\n\
         B -> A      {faults_ba}\n\
         discarded   {discarded} datagrams with a bad CRC\n",
        sent = report.bytes_sent,
        rtt = args.rtt,
        faults = faults_text(args),
        seed = seed(args),
        delivered = report.bytes_delivered,
        sim = report.transfer_time.as_secs_f64(),
        wall = wall_seconds,
        goodput = report.goodput_bps() / 1e6,
        a_segments = a.stats.segments_sent,
        a_retx = a.stats.retransmissions.total(),
        a_rtos = a.stats.rto_timeouts,
        a_probes = a.stats.tail_loss_probes,
        a_state = a.state,
        a_error = error_text(a),
        b_segments = b.stats.segments_sent,
        b_ooo = b.stats.out_of_order_segments,
        b_state = b.state,
        b_error = error_text(b),
        faults_ab = faults(a),
        faults_ba = faults(b),
        discarded = a.stats.discarded_corrupt
            + b.stats.discarded_corrupt
            + a.endpoint.discarded_corrupt
            + b.endpoint.discarded_corrupt,
    )
}
