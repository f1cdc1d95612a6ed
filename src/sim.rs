//! A deterministic discrete-event network with a virtual clock: two hosts, A and B, each an
//! [`Endpoint`], joined by one link per direction. A link is a fault injector, then a drop-tail
//! queue drained at the link's rate, then a propagation delay.
//!
//! A run is a pure function of its [`NetworkConfig`] (seed included): every random choice, the
//! initial sequence numbers, the faults and the payload of [`transfer`], comes from generators
//! seeded from it, and nothing reads the machine's clock except to report `wall_seconds`.
//!
//! Each host can have a capture tap ([`Network::capture`], [`transfer_with_captures`]): a
//! pcapng file of what it sent, before the faults, and what it received, after them, stamped
//! with simulated time. Each packet sent says why (the [`Reason`](crate::conn::Reason)) and what
//! the link did to it (the fault [`Decision`], or a full queue).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::capture::{CaptureRecord, CaptureWriter, View};
use crate::conn::{Config, ConnectionError, ReadError, State, Stats, Transmit, WriteError};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointStats};
use crate::fault::{Decision, FaultConfig, FaultInjector, FaultStats};
use crate::plot::Trace;
use crate::time::Instant;
use crate::wire::Segment;

/// One of the two simulated hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The first host, 192.0.2.1 (RFC 5737 documentation address); the sender in [`transfer`].
    A,
    /// The second host, 198.51.100.1; the receiver in [`transfer`].
    B,
}

impl Host {
    fn index(self) -> usize {
        match self {
            Host::A => 0,
            Host::B => 1,
        }
    }

    fn peer(self) -> Host {
        match self {
            Host::A => Host::B,
            Host::B => Host::A,
        }
    }

    /// The host's address: documentation addresses (RFC 5737) on Ferry's default port.
    pub fn address(self) -> SocketAddr {
        match self {
            Host::A => SocketAddr::from(([192, 0, 2, 1], crate::wire::DEFAULT_PORT)),
            Host::B => SocketAddr::from(([198, 51, 100, 1], crate::wire::DEFAULT_PORT)),
        }
    }
}

/// One direction of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Bits per second the link drains its queue at; `None` for no limit.
    pub rate_bps: Option<u64>,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Datagrams the queue holds, the one being sent included; beyond that, arrivals are
    /// dropped (drop-tail).
    pub queue_limit: usize,
    /// What the fault injector in front of the queue does.
    pub faults: FaultConfig,
}

impl Default for LinkConfig {
    /// 10 Mbit/s, 20 ms each way, a queue of 64 datagrams, no faults: the shape of the Linux
    /// reference runs in shared/anchors.md.
    fn default() -> LinkConfig {
        LinkConfig {
            rate_bps: Some(10_000_000),
            delay: Duration::from_millis(20),
            queue_limit: 64,
            faults: FaultConfig::default(),
        }
    }
}

/// The whole simulated network.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NetworkConfig {
    /// The link from A to B.
    pub a_to_b: LinkConfig,
    /// The link from B to A.
    pub b_to_a: LinkConfig,
    /// The connection settings both hosts use.
    pub connection: Config,
    /// Seeds every random choice of the run.
    pub seed: u64,
}

impl NetworkConfig {
    /// Both directions alike: `rate_bps`, half of `rtt` each way, and the same faults.
    pub fn symmetric(rate_bps: Option<u64>, rtt: Duration, faults: FaultConfig, seed: u64) -> Self {
        let link = LinkConfig {
            rate_bps,
            delay: rtt / 2,
            faults,
            ..LinkConfig::default()
        };
        NetworkConfig {
            a_to_b: link.clone(),
            b_to_a: link,
            connection: Config::default(),
            seed,
        }
    }
}

/// Derive independent seeds from one (SplitMix64's finalizer).
fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a link counted beyond its fault injector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams dropped because the queue was full.
    pub queue_drops: u64,
    /// Payload bytes in the datagrams lost on the link, by the fault injector or the queue:
    /// what loss recovery has to make good.
    pub dropped_payload_bytes: u64,
    /// Data segments (with payload) lost on the link.
    pub dropped_data_segments: u64,
    /// Datagrams that reached the far host.
    pub delivered: u64,
}

#[derive(Debug)]
struct Link {
    config: LinkConfig,
    injector: FaultInjector,
    /// When each datagram in the queue finishes leaving it, oldest first.
    departures: VecDeque<Instant>,
    stats: LinkStats,
}

impl Link {
    fn new(config: LinkConfig, seed: u64) -> Link {
        let injector = FaultInjector::with_seed(config.faults.clone(), seed);
        Link {
            config,
            injector,
            departures: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    /// A datagram enters the queue at `now`: when does it reach the far end, if at all?
    fn enqueue(&mut self, now: Instant, size: usize) -> Option<Instant> {
        while self.departures.front().is_some_and(|&done| done <= now) {
            self.departures.pop_front();
        }
        if self.departures.len() >= self.config.queue_limit {
            self.stats.queue_drops += 1;
            return None;
        }
        let start = self.departures.back().copied().unwrap_or(now).max(now);
        let serialization = match self.config.rate_bps {
            Some(rate) if rate > 0 => {
                Duration::from_nanos((size as u64 * 8).saturating_mul(1_000_000_000) / rate)
            }
            _ => Duration::ZERO,
        };
        let departure = start + serialization;
        self.departures.push_back(departure);
        Some(departure + self.config.delay)
    }

    /// Count a datagram lost on this link.
    fn count_drop(&mut self, datagram: &[u8]) {
        let payload = Segment::parse(datagram).map_or(0, |segment| segment.payload.len());
        if payload > 0 {
            self.stats.dropped_payload_bytes += payload as u64;
            self.stats.dropped_data_segments += 1;
        }
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Out of the fault injector, about to enter the link's queue.
    EnterQueue,
    /// At the far host.
    Arrive,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Instant,
    /// Ties break by scheduling order, so runs repeat exactly.
    order: u64,
    stage: Stage,
    /// The host that sent it.
    from: usize,
    bytes: Vec<u8>,
    /// Its record in the sender's capture, while it waits to learn the datagram's fate.
    capture: Option<CaptureTicket>,
}

/// The simulated network: two endpoints, two links, a virtual clock.
#[derive(Debug)]
pub struct Network {
    now: Instant,
    endpoints: [Endpoint; 2],
    /// `links[i]` carries what host `i` sends.
    links: [Link; 2],
    scheduled: BinaryHeap<Reverse<Scheduled>>,
    next_order: u64,
    steps: u64,
    /// `taps[i]` captures what host `i` sends and receives.
    taps: [Option<Tap>; 2],
    /// A time `step` stops at even if nothing is due then (see [`Network::wake_at`]).
    wake: Option<Instant>,
    /// The traced host and what it sent and received, for the time-sequence plot.
    trace: Option<(Host, Trace)>,
}

impl Network {
    /// A network at time zero, nothing open yet.
    pub fn new(config: &NetworkConfig) -> Network {
        let endpoint = |stream| {
            let isn_generator = ChaCha8Rng::seed_from_u64(derive_seed(config.seed, stream));
            Endpoint::new(config.connection.clone(), Box::new(isn_generator))
        };
        let fault_seed = |stream, faults: &FaultConfig| {
            derive_seed(derive_seed(config.seed, stream), faults.seed)
        };
        Network {
            now: Instant::ZERO,
            endpoints: [endpoint(1), endpoint(2)],
            links: [
                Link::new(config.a_to_b.clone(), fault_seed(3, &config.a_to_b.faults)),
                Link::new(config.b_to_a.clone(), fault_seed(4, &config.b_to_a.faults)),
            ],
            scheduled: BinaryHeap::new(),
            next_order: 0,
            steps: 0,
            taps: [None, None],
            wake: None,
            trace: None,
        }
    }

    /// Make [`step`](Network::step) stop at `at` even if no datagram or timer is due then, so
    /// that the application driving the hosts can act at that time (a reader that resumes,
    /// say). One wake-up at a time: a later call replaces an earlier one.
    pub fn wake_at(&mut self, at: Instant) {
        self.wake = Some(at);
    }

    /// From now on, record what `host` sends and receives for a time-sequence plot
    /// ([`crate::plot`]). Take it with [`take_trace`](Network::take_trace).
    pub fn trace(&mut self, host: Host) {
        self.trace = Some((host, Trace::default()));
    }

    /// The trace recorded since [`trace`](Network::trace), if any; recording stops.
    pub fn take_trace(&mut self) -> Option<Trace> {
        self.trace.take().map(|(_, trace)| trace)
    }

    /// Record `host`'s congestion window now, if `host` is traced (the driver of the run calls
    /// this: only it knows which connection is meant).
    pub fn trace_congestion_window(&mut self, host: Host, handle: ConnectionHandle) {
        let Some((traced, _)) = &self.trace else {
            return;
        };
        if *traced != host {
            return;
        }
        let window = self.endpoints[host.index()]
            .connection(handle)
            .map(|connection| connection.stats().congestion_window);
        if let (Some(window), Some((_, trace))) = (window, &mut self.trace) {
            trace.congestion_window(self.now.since_epoch(), window);
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many times the clock has moved.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// A host's endpoint.
    pub fn endpoint(&mut self, host: Host) -> &mut Endpoint {
        &mut self.endpoints[host.index()]
    }

    /// What the fault injector on the link leaving `host` did.
    pub fn fault_stats(&self, from: Host) -> FaultStats {
        self.links[from.index()].injector.stats()
    }

    /// What the link leaving `host` counted.
    pub fn link_stats(&self, from: Host) -> LinkStats {
        self.links[from.index()].stats
    }

    /// From now on, write what `host` sends and receives to `capture`. Call
    /// [`finish_captures`](Network::finish_captures) at the end.
    pub fn capture(&mut self, host: Host, capture: HostCapture) {
        self.taps[host.index()] = Some(Tap::new(capture));
    }

    /// Write out what the captures still hold and flush them. Returns the first error any
    /// capture met; the simulation itself never depends on the captures.
    pub fn finish_captures(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for tap in self.taps.iter_mut().filter_map(Option::take) {
            let finished = tap.finish();
            if result.is_ok() {
                result = finished;
            }
        }
        result
    }

    fn schedule(
        &mut self,
        at: Instant,
        stage: Stage,
        from: usize,
        bytes: Vec<u8>,
        capture: Option<CaptureTicket>,
    ) {
        let order = self.next_order;
        self.next_order += 1;
        self.scheduled.push(Reverse(Scheduled {
            at,
            order,
            stage,
            from,
            bytes,
            capture,
        }));
    }

    /// Hand everything the endpoints want to send to their links.
    fn collect_transmits(&mut self) {
        for from in 0..2 {
            while let Some(transmit) = self.endpoints[from].poll_transmit(self.now) {
                let (decision, deliveries) = self.links[from]
                    .injector
                    .apply(self.now, &transmit.contents);
                if decision.dropped.is_some() {
                    self.links[from].count_drop(&transmit.contents);
                }
                if let Some((host, trace)) = &mut self.trace {
                    if host.index() == from {
                        trace.sent(self.now.since_epoch(), &transmit.contents, transmit.reason);
                    }
                }
                let record = self.taps[from].as_mut().map(|tap| {
                    let source = [Host::A, Host::B][from].address();
                    tap.sent(self.now, source, &transmit, &decision, deliveries.len())
                });
                for (copy, delivery) in deliveries.into_iter().enumerate() {
                    let ticket = record.map(|record| CaptureTicket {
                        record,
                        duplicate: copy > 0,
                    });
                    self.schedule(delivery.at, Stage::EnterQueue, from, delivery.bytes, ticket);
                }
            }
        }
    }

    /// Send what is ready, move the clock to the next thing that happens (a datagram moving
    /// on, or a timer) and do everything due then. Returns false when nothing is left to
    /// happen: no datagram on the way and no timer armed.
    pub fn step(&mut self) -> bool {
        self.collect_transmits();
        let next_datagram = self.scheduled.peek().map(|Reverse(next)| next.at);
        let next_timer = self
            .endpoints
            .iter()
            .filter_map(Endpoint::poll_timeout)
            .min();
        let wake = self.wake.filter(|&at| at > self.now);
        let Some(next) = [next_datagram, next_timer, wake]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        if self.wake.is_some_and(|at| at <= self.now) {
            self.wake = None;
        }
        self.steps += 1;
        while self
            .scheduled
            .peek()
            .is_some_and(|Reverse(next)| next.at <= self.now)
        {
            let Some(Reverse(item)) = self.scheduled.pop() else {
                break;
            };
            match item.stage {
                Stage::EnterQueue => {
                    let link = &mut self.links[item.from];
                    let arrival = link.enqueue(self.now, item.bytes.len());
                    if arrival.is_none() {
                        link.count_drop(&item.bytes);
                    }
                    if let (Some(ticket), Some(tap)) = (item.capture, &mut self.taps[item.from]) {
                        tap.entered_queue(ticket, arrival.is_some());
                    }
                    if let Some(arrival) = arrival {
                        self.schedule(arrival, Stage::Arrive, item.from, item.bytes, None);
                    }
                }
                Stage::Arrive => {
                    self.links[item.from].stats.delivered += 1;
                    let from_address = [Host::A, Host::B][item.from].address();
                    let to_host = [Host::A, Host::B][item.from].peer();
                    let to = to_host.index();
                    if let Some(tap) = &mut self.taps[to] {
                        tap.received(self.now, from_address, to_host.address(), &item.bytes);
                    }
                    if let Some((host, trace)) = &mut self.trace {
                        if *host == to_host {
                            trace.received(self.now.since_epoch(), &item.bytes);
                        }
                    }
                    self.endpoints[to].handle_datagram(self.now, from_address, &item.bytes);
                }
            }
        }
        for endpoint in &mut self.endpoints {
            endpoint.handle_timeout(self.now);
        }
        true
    }
}

/// A one-way transfer from A to B: A connects, writes the payload and shuts down; B accepts,
/// reads to the end and shuts down in turn.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferConfig {
    /// The network it runs on (seed included).
    pub network: NetworkConfig,
    /// Simulated time after which the run is abandoned as unfinished.
    pub time_limit: Duration,
    /// The run stops after this many events (times the clock moved), so that even a run
    /// that crawls (a one-byte window, a link that loses nearly everything) ends in bounded
    /// wall time: [`DEFAULT_STEP_LIMIT`] unless changed.
    pub step_limit: u64,
    /// B's application stops reading during this interval (times since the start): its
    /// receive buffer fills and it advertises a zero window, which A must probe. `None` reads
    /// whenever data is there.
    pub receiver_pause: Option<Range<Duration>>,
    /// B's application aborts the connection (a RST) once it has read at least this many
    /// bytes. `None` reads to the end.
    pub receiver_abort_after: Option<u64>,
    /// What B sends back to A while it reads, then closes its side (empty: B sends nothing,
    /// and closes once A has). A reads it to the end.
    pub reply: Vec<u8>,
}

/// The default event budget of a transfer: 100 million events, a minute or two of wall time,
/// far more than any transfer that makes progress at a useful pace needs (64 MiB take about
/// 200,000).
pub const DEFAULT_STEP_LIMIT: u64 = 100_000_000;

/// Which budget stopped a run before both connections closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunLimit {
    /// The simulated-time limit ([`TransferConfig::time_limit`]).
    SimulatedTime(Duration),
    /// The event budget ([`TransferConfig::step_limit`]).
    Events(u64),
}

impl fmt::Display for RunLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunLimit::SimulatedTime(limit) => {
                write!(f, "its limit of {} s of simulated time", limit.as_secs())
            }
            RunLimit::Events(limit) => write!(f, "its budget of {limit} events"),
        }
    }
}

impl TransferConfig {
    /// A transfer on `network`, abandoned after a simulated day: far past any timeout the
    /// default configuration can reach, so hitting it means a hang.
    pub fn new(network: NetworkConfig) -> TransferConfig {
        TransferConfig {
            network,
            time_limit: Duration::from_secs(24 * 3600),
            step_limit: DEFAULT_STEP_LIMIT,
            receiver_pause: None,
            receiver_abort_after: None,
            reply: Vec::new(),
        }
    }
}

/// One side of a finished transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostReport {
    /// Whether the host had a connection at all: B gets one only once a handshake completes
    /// on its side.
    pub opened: bool,
    /// The connection's counters at the end.
    pub stats: Stats,
    /// Its state at the end (CLOSED after a clean close).
    pub state: State,
    /// Why it failed, if it did.
    pub error: Option<ConnectionError>,
    /// What the host's endpoint counted for strays.
    pub endpoint: EndpointStats,
    /// What the fault injector on the link leaving this host did.
    pub faults: FaultStats,
    /// What the link leaving this host counted.
    pub link: LinkStats,
}

/// What a [`transfer`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferReport {
    /// The payload's length.
    pub bytes_sent: u64,
    /// Bytes B read.
    pub bytes_delivered: u64,
    /// B read exactly the payload, in order, and then end of stream.
    pub intact: bool,
    /// Every byte B read equals the payload's byte at that position, and every byte A read
    /// the reply's: even a transfer cut short delivered no wrong bytes.
    pub delivered_correct: bool,
    /// A read exactly the reply, in order, and then end of stream (true when there was none).
    pub reply_intact: bool,
    /// Both connections reached CLOSED (cleanly or not) before the time limit.
    pub finished: bool,
    /// The budget that stopped the run, if one did.
    pub limit_reached: Option<RunLimit>,
    /// Simulated time until B read end of stream (or until the run ended, if it never did).
    pub transfer_time: Duration,
    /// Simulated time until both connections closed (or the run ended).
    pub end_time: Duration,
    /// Times the clock moved: a measure of the work the run took.
    pub steps: u64,
    /// The sender.
    pub a: HostReport,
    /// The receiver.
    pub b: HostReport,
}

impl TransferReport {
    /// Both ends closed cleanly and B got exactly the payload.
    pub fn succeeded(&self) -> bool {
        self.intact
            && self.reply_intact
            && self.finished
            && self.a.error.is_none()
            && self.b.error.is_none()
    }

    /// Payload bits per second of simulated transfer time.
    pub fn goodput_bps(&self) -> f64 {
        let seconds = self.transfer_time.as_secs_f64();
        if seconds > 0.0 {
            self.bytes_delivered as f64 * 8.0 / seconds
        } else {
            0.0
        }
    }
}

/// A payload of `len` bytes drawn from `seed`: random content, so that a misplaced or
/// corrupted byte cannot go unnoticed.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(derive_seed(seed, 5)).fill_bytes(&mut bytes);
    bytes
}

/// Run a one-way transfer of `payload` from A to B on the simulated network.
pub fn transfer(config: &TransferConfig, payload: &[u8]) -> TransferReport {
    let (report, _no_captures, _no_trace) =
        run_transfer(config, payload, Captures::default(), false);
    report
}

/// [`transfer`], writing each host's capture to the writer `captures` holds for it. Fails only
/// if a capture cannot be written; the run is the same as without captures.
pub fn transfer_with_captures(
    config: &TransferConfig,
    payload: &[u8],
    captures: Captures,
) -> io::Result<TransferReport> {
    let (report, written, _no_trace) = run_transfer(config, payload, captures, false);
    written.map(|()| report)
}

/// [`transfer_with_captures`], also recording what A sent and received and its congestion
/// window, for [`plot::time_sequence_svg`](crate::plot::time_sequence_svg). The run is the
/// same as without the trace.
pub fn transfer_traced(
    config: &TransferConfig,
    payload: &[u8],
    captures: Captures,
) -> io::Result<(TransferReport, Trace)> {
    let (report, written, trace) = run_transfer(config, payload, captures, true);
    written.map(|()| (report, trace.unwrap_or_default()))
}

fn run_transfer(
    config: &TransferConfig,
    payload: &[u8],
    captures: Captures,
    trace: bool,
) -> (TransferReport, io::Result<()>, Option<Trace>) {
    let mut network = Network::new(&config.network);
    if trace {
        network.trace(Host::A);
    }
    if let Some(pause) = &config.receiver_pause {
        // The network may be idle when the reader resumes (a zero window, the probe timer
        // far off): wake it then.
        network.wake_at(Instant::ZERO + pause.end);
    }
    let mut aborted = false;
    for (host, capture) in [(Host::A, captures.a), (Host::B, captures.b)] {
        if let Some(capture) = capture {
            network.capture(host, capture);
        }
    }
    let deadline = Instant::ZERO + config.time_limit;
    let mut limit_reached = None;
    network.endpoint(Host::B).listen(1);
    let sender = network
        .endpoint(Host::A)
        .connect(Host::B.address())
        .expect("a fresh endpoint has no connections");
    let mut receiver: Option<ConnectionHandle> = None;
    let mut written = 0;
    let mut delivered = Vec::with_capacity(payload.len());
    let mut reply_written = 0;
    let mut reply_delivered = Vec::with_capacity(config.reply.len());
    let mut reply_ended = false;
    let mut end_of_stream_at = None;
    let mut read_buffer = vec![0u8; 64 * 1024];

    loop {
        write_payload(network.endpoint(Host::A), sender, payload, &mut written);
        if receiver.is_none() {
            receiver = network.endpoint(Host::B).accept();
        }
        if !config.reply.is_empty() {
            if let Some(handle) = receiver.filter(|_| !aborted) {
                write_payload(
                    network.endpoint(Host::B),
                    handle,
                    &config.reply,
                    &mut reply_written,
                );
            }
            reply_ended |= read_to_end(
                network.endpoint(Host::A),
                sender,
                &mut read_buffer,
                &mut reply_delivered,
            );
        }
        let paused = config
            .receiver_pause
            .as_ref()
            .is_some_and(|pause| pause.contains(&network.now().since_epoch()));
        if let Some(handle) = receiver.filter(|_| !paused && !aborted) {
            let ended = read_to_end(
                network.endpoint(Host::B),
                handle,
                &mut read_buffer,
                &mut delivered,
            );
            if ended {
                // B with nothing to send closes once A has; a reply closes its side itself
                // once written.
                if config.reply.is_empty() {
                    if let Some(connection) = network.endpoint(Host::B).connection_mut(handle) {
                        connection.shutdown();
                    }
                }
                end_of_stream_at.get_or_insert(network.now());
            }
            if config
                .receiver_abort_after
                .is_some_and(|limit| delivered.len() as u64 >= limit)
            {
                aborted = true;
                if let Some(connection) = network.endpoint(Host::B).connection_mut(handle) {
                    connection.abort();
                }
            }
        }
        let closed = |network: &mut Network, host: Host, handle: Option<ConnectionHandle>| {
            handle
                .and_then(|handle| network.endpoint(host).connection(handle))
                .is_none_or(|connection| connection.is_closed())
        };
        let sender_closed = closed(&mut network, Host::A, Some(sender));
        // A receiver that never got a connection has nothing to close.
        let receiver_closed = closed(&mut network, Host::B, receiver);
        if sender_closed && receiver_closed {
            break;
        }
        if network.now() > deadline {
            limit_reached = Some(RunLimit::SimulatedTime(config.time_limit));
            break;
        }
        if network.steps() >= config.step_limit {
            limit_reached = Some(RunLimit::Events(config.step_limit));
            break;
        }
        if !network.step() {
            break;
        }
        network.trace_congestion_window(Host::A, sender);
    }

    let now = network.now();
    let host_report = |network: &mut Network, host: Host, handle: Option<ConnectionHandle>| {
        let connection = handle.and_then(|handle| network.endpoint(host).connection(handle));
        let (stats, state, error) = match &connection {
            Some(connection) => (connection.stats(), connection.state(), connection.error()),
            None => (Stats::unused(), State::Closed, None),
        };
        HostReport {
            opened: connection.is_some(),
            stats,
            state,
            error,
            endpoint: network.endpoint(host).stats(),
            faults: network.fault_stats(host),
            link: network.link_stats(host),
        }
    };
    let a = host_report(&mut network, Host::A, Some(sender));
    let b = host_report(&mut network, Host::B, receiver);
    let captures_written = network.finish_captures();
    let trace = network.take_trace();
    let report = TransferReport {
        bytes_sent: payload.len() as u64,
        bytes_delivered: delivered.len() as u64,
        intact: end_of_stream_at.is_some() && delivered == payload,
        delivered_correct: payload.starts_with(&delivered)
            && config.reply.starts_with(&reply_delivered),
        reply_intact: config.reply.is_empty() || (reply_ended && reply_delivered == config.reply),
        finished: a.state == State::Closed && b.state == State::Closed,
        limit_reached,
        transfer_time: end_of_stream_at.unwrap_or(now).since_epoch(),
        end_time: now.since_epoch(),
        steps: network.steps(),
        a,
        b,
    };
    (report, captures_written, trace)
}

/// Write as much of the payload as the sender takes; shut down once all of it is in.
fn write_payload(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
    payload: &[u8],
    written: &mut usize,
) {
    let Some(connection) = endpoint.connection_mut(handle) else {
        return;
    };
    while *written < payload.len() {
        match connection.write(&payload[*written..]) {
            Ok(count) => *written += count,
            Err(WriteError::WouldBlock) => return,
            Err(WriteError::ShutDown | WriteError::Failed(_)) => return,
        }
    }
    connection.shutdown();
}

/// Read whatever has arrived. Returns whether the end of the stream was reached.
fn read_to_end(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
    buffer: &mut [u8],
    delivered: &mut Vec<u8>,
) -> bool {
    let Some(connection) = endpoint.connection_mut(handle) else {
        return false;
    };
    loop {
        match connection.read(buffer) {
            Ok(0) => return connection.error().is_none(),
            Ok(count) => delivered.extend_from_slice(&buffer[..count]),
            Err(ReadError::WouldBlock | ReadError::Failed(_)) => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Capture taps
// ---------------------------------------------------------------------------------------------

/// A capture for one simulated host: any writer, so that tests can capture to memory.
pub type HostCapture = CaptureWriter<Box<dyn Write + Send>>;

/// The captures of a [`transfer_with_captures`], one per host; `None` captures nothing.
#[derive(Debug, Default)]
pub struct Captures {
    /// What A (the sender) sent and received.
    pub a: Option<HostCapture>,
    /// What B (the receiver) sent and received.
    pub b: Option<HostCapture>,
}

impl Captures {
    /// Create (or truncate) pcapng files for both hosts. See [`CaptureWriter::new`] for `view`
    /// and `window_scale`.
    pub fn create(
        a: impl AsRef<Path>,
        b: impl AsRef<Path>,
        view: View,
        window_scale: u8,
    ) -> io::Result<Captures> {
        let file = |path: &Path| -> io::Result<HostCapture> {
            let writer: Box<dyn Write + Send> =
                Box::new(BufWriter::new(std::fs::File::create(path)?));
            CaptureWriter::new(writer, view, window_scale)
        };
        Ok(Captures {
            a: Some(file(a.as_ref())?),
            b: Some(file(b.as_ref())?),
        })
    }
}

/// Ties a datagram on its way to the link's queue to its record in the sender's capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CaptureTicket {
    /// The record's number in the sender's tap.
    record: u64,
    /// Whether this is the fault injector's second copy.
    duplicate: bool,
}

/// A record waiting in a [`Tap`].
#[derive(Debug)]
struct PendingRecord {
    at: std::time::Duration,
    source: SocketAddr,
    destination: SocketAddr,
    datagram: Vec<u8>,
    comments: Vec<String>,
    /// Copies not yet past the link's queue: only then is the record's story complete.
    copies_before_queue: usize,
}

/// One host's capture. The drop-tail queue decides a datagram's fate only after the fault
/// injector's delay, but the record belongs at the time it was sent, so records wait here
/// until every earlier one is complete: the file stays in time order and a queue drop still
/// reaches the sender's copy.
#[derive(Debug)]
struct Tap {
    writer: HostCapture,
    /// Records not yet written, oldest first; the first has number `first_pending`.
    pending: VecDeque<PendingRecord>,
    first_pending: u64,
    /// The first write error; after it the tap writes nothing more.
    error: Option<io::Error>,
}

impl Tap {
    fn new(writer: HostCapture) -> Tap {
        Tap {
            writer,
            pending: VecDeque::new(),
            first_pending: 0,
            error: None,
        }
    }

    /// A datagram the host sent at `now`, with why and what the fault injector did to it, which
    /// left the injector as `copies` datagrams. Returns its record number.
    fn sent(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transmit: &Transmit,
        decision: &Decision,
        copies: usize,
    ) -> u64 {
        let mut comments = vec![transmit.reason.to_string()];
        if *decision != Decision::default() {
            comments.push(decision.to_string());
        }
        let record = self.first_pending + self.pending.len() as u64;
        self.pending.push_back(PendingRecord {
            at: now.since_epoch(),
            source,
            destination: transmit.destination,
            datagram: transmit.contents.clone(),
            comments,
            copies_before_queue: copies,
        });
        self.write_complete();
        record
    }

    /// A copy of a sent datagram reached the link's queue, which took it or not.
    fn entered_queue(&mut self, ticket: CaptureTicket, accepted: bool) {
        let index = ticket.record.checked_sub(self.first_pending);
        let Some(record) = index.and_then(|index| self.pending.get_mut(index as usize)) else {
            return;
        };
        record.copies_before_queue = record.copies_before_queue.saturating_sub(1);
        if !accepted {
            record.comments.push(
                if ticket.duplicate {
                    "duplicate dropped (queue full)"
                } else {
                    "dropped (queue full)"
                }
                .to_string(),
            );
        }
        self.write_complete();
    }

    /// A datagram the host received at `now`, as delivered.
    fn received(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        self.pending.push_back(PendingRecord {
            at: now.since_epoch(),
            source,
            destination,
            datagram: bytes.to_vec(),
            comments: Vec::new(),
            copies_before_queue: 0,
        });
        self.write_complete();
    }

    /// Write the complete records at the front.
    fn write_complete(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|record| record.copies_before_queue == 0)
        {
            self.write_front();
        }
    }

    fn write_front(&mut self) {
        let Some(record) = self.pending.pop_front() else {
            return;
        };
        self.first_pending += 1;
        if self.error.is_some() {
            return;
        }
        let written = self.writer.write(&CaptureRecord {
            at: record.at,
            source: record.source,
            destination: record.destination,
            datagram: &record.datagram,
            comments: record.comments,
        });
        if let Err(error) = written {
            self.error = Some(error);
        }
    }

    /// Write everything still held (a run cut short may leave datagrams before the queue) and
    /// flush.
    fn finish(mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            self.write_front();
        }
        match self.error {
            Some(error) => Err(error),
            None => self.writer.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(spec: &str, seed: u64) -> TransferConfig {
        TransferConfig::new(NetworkConfig::symmetric(
            Some(10_000_000),
            Duration::from_millis(40),
            spec.parse().unwrap(),
            seed,
        ))
    }

    #[test]
    fn a_clean_transfer_arrives_and_both_ends_close() {
        let data = payload(200_000, 1);
        let report = transfer(&lossy("none", 1), &data);
        assert!(report.succeeded(), "{report:#?}");
        assert_eq!(report.bytes_delivered, 200_000);
        assert_eq!(report.a.stats.retransmissions.total(), 0, "{report:#?}");
        // 200 kB at 10 Mbit/s takes at least 160 ms of serialization plus the handshake.
        assert!(report.transfer_time > Duration::from_millis(200));
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let data = payload(100_000, 3);
        let config = lossy("loss=10%,flip=1e-5,dup=2%,reorder=5%", 3);
        let first = transfer(&config, &data);
        assert!(first.succeeded(), "{first:#?}");
        assert_eq!(first, transfer(&config, &data));
        let other = transfer(&lossy("loss=10%,flip=1e-5,dup=2%,reorder=5%", 4), &data);
        assert_ne!(first.a.stats, other.a.stats);
    }

    /// Data both ways at once: each data segment carries the ACK (and SACK blocks) for the
    /// other direction.
    #[test]
    fn data_both_ways_through_faults_arrives_intact() {
        for seed in 0..3 {
            let mut network = Network::new(&NetworkConfig::symmetric(
                None,
                Duration::from_micros(100),
                "loss=5%,flip=1e-5,dup=1%,reorder=2%".parse().unwrap(),
                seed,
            ));
            network.endpoint(Host::B).listen(1);
            let a = network
                .endpoint(Host::A)
                .connect(Host::B.address())
                .unwrap();
            let mut b = None;
            let data = payload(512 * 1024, seed);
            let (mut written, mut delivered) = ([0, 0], [Vec::new(), Vec::new()]);
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                if b.is_none() {
                    b = network.endpoint(Host::B).accept();
                }
                for (side, host, handle) in [(0, Host::A, Some(a)), (1, Host::B, b)] {
                    if let Some(handle) = handle {
                        write_payload(network.endpoint(host), handle, &data, &mut written[side]);
                        read_to_end(
                            network.endpoint(host),
                            handle,
                            &mut buffer,
                            &mut delivered[side],
                        );
                    }
                }
                let closed = |network: &mut Network, host: Host, handle| {
                    network
                        .endpoint(host)
                        .connection(handle)
                        .unwrap()
                        .is_closed()
                };
                if b.is_some_and(|b| closed(&mut network, Host::B, b))
                    && closed(&mut network, Host::A, a)
                {
                    break;
                }
                assert!(
                    network.step(),
                    "seed {seed}: nothing left to happen, not closed"
                );
            }
            assert!(delivered[0] == data && delivered[1] == data, "seed {seed}");
            let a_stats = network.endpoint(Host::A).connection(a).unwrap().stats();
            assert_eq!(a_stats.state, State::Closed);
            assert!(a_stats.retransmissions.total() > 0);
        }
    }

    /// A capture in memory that the test can read after the run.
    #[derive(Clone, Default)]
    struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// (timestamp, comments) of every packet in a pcapng file.
    fn packets(buffer: &SharedBuffer) -> Vec<(Duration, Vec<String>)> {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
        use pcap_file::pcapng::{Block, PcapNgReader};
        let bytes = buffer.0.lock().unwrap().clone();
        let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
        let mut packets = Vec::new();
        while let Some(block) = reader.next_block() {
            if let Block::EnhancedPacket(packet) = block.unwrap() {
                let comments = packet.options.iter().filter_map(|option| match option {
                    EnhancedPacketOption::Comment(text) => Some(text.to_string()),
                    _ => None,
                });
                packets.push((packet.timestamp, comments.collect()));
            }
        }
        packets
    }

    #[test]
    fn captures_hold_every_datagram_in_time_order_with_its_fate() {
        // A short queue overflows; delays and duplicates make the taps hold records back.
        let mut config = lossy("loss=2%,dup=5%,delay=3ms,jitter=2ms", 9);
        config.network.a_to_b.queue_limit = 3;
        let data = payload(300_000, 9);
        let buffers = [SharedBuffer::default(), SharedBuffer::default()];
        let capture = |buffer: &SharedBuffer| {
            let writer: Box<dyn Write + Send> = Box::new(buffer.clone());
            Some(CaptureWriter::new(writer, View::Ferry, 1).unwrap())
        };
        let captures = Captures {
            a: capture(&buffers[0]),
            b: capture(&buffers[1]),
        };
        let report = transfer_with_captures(&config, &data, captures).unwrap();
        assert!(report.succeeded(), "{report:#?}");
        assert_eq!(report, transfer(&config, &data), "captures change nothing");
        assert!(report.a.link.queue_drops > 0, "{report:#?}");

        for (buffer, this, peer) in [
            (&buffers[0], &report.a, &report.b),
            (&buffers[1], &report.b, &report.a),
        ] {
            let packets = packets(buffer);
            assert_eq!(
                packets.len() as u64,
                this.faults.datagrams + peer.link.delivered
            );
            assert!(packets.windows(2).all(|pair| pair[0].0 <= pair[1].0));
            let comments = || packets.iter().flat_map(|(_, comments)| comments);
            let queue_drops = comments()
                .filter(|comment| comment.ends_with("dropped (queue full)"))
                .count();
            assert_eq!(queue_drops as u64, this.link.queue_drops);
            let sent_reasons = comments()
                .filter(|comment| comment.as_str() == "new data")
                .count();
            assert!(sent_reasons > 0 || this.stats.bytes_sent == 0);
        }
    }

    #[test]
    fn a_reader_that_pauses_closes_the_window_and_the_sender_probes() {
        let data = payload(30_000, 1);
        let mut config = lossy("none", 1);
        config.network.connection.recv_buffer = 8 * 1024;
        let unpaused = transfer(&config, &data);
        assert!(unpaused.succeeded(), "{unpaused:#?}");
        assert_eq!(unpaused.a.stats.window_probes, 0);

        config.receiver_pause = Some(Duration::from_millis(100)..Duration::from_secs(2));
        let report = transfer(&config, &data);
        assert!(report.succeeded(), "{report:#?}");
        // A probed the closed window until B read again, and nothing was resent.
        assert!(report.a.stats.window_probes >= 2, "{report:#?}");
        assert_eq!(report.a.stats.retransmissions.total(), 0);
        assert!(report.transfer_time > Duration::from_secs(2));
        // The reader resumes at 2 s even though no datagram or timer is due then: the rest
        // of the data follows within a few round trips, not at the next probe.
        assert!(
            report.transfer_time < Duration::from_millis(2300),
            "{report:#?}"
        );
    }

    #[test]
    fn a_receiver_that_aborts_resets_the_sender() {
        let data = payload(30_000, 1);
        let mut config = lossy("none", 1);
        config.receiver_abort_after = Some(12_000);
        let report = transfer(&config, &data);
        assert!(!report.intact && report.finished && report.delivered_correct);
        assert!((12_000..30_000).contains(&report.bytes_delivered));
        assert_eq!(report.b.error, Some(ConnectionError::Aborted));
        assert_eq!(report.a.error, Some(ConnectionError::Reset));
    }

    #[test]
    fn a_reply_from_b_arrives_intact_through_faults_while_a_sends() {
        let data = payload(200_000, 3);
        let mut config = lossy("loss=5%,dup=2%,reorder=5%", 3);
        config.reply = payload(150_000, 4);
        let report = transfer(&config, &data);
        assert!(report.succeeded(), "{report:#?}");
        assert!(report.reply_intact && report.delivered_correct);
    }

    #[test]
    fn a_run_that_crawls_stops_at_its_event_budget_and_says_so() {
        let data = payload(1_000_000, 1);
        let mut config = lossy("none", 1);
        config.network.connection.recv_buffer = 1;
        config.step_limit = 10_000;
        let report = transfer(&config, &data);
        assert_eq!(report.limit_reached, Some(RunLimit::Events(10_000)));
        assert_eq!(report.steps, 10_000);
        assert!(!report.intact && !report.finished && report.delivered_correct);
    }

    #[test]
    fn the_trace_holds_what_a_sent_and_received_and_changes_nothing() {
        let data = payload(60_000, 1);
        let config = lossy("drop-data=10,drop-data=12", 1);
        let (report, trace) = transfer_traced(&config, &data, Captures::default()).unwrap();
        assert_eq!(report, transfer(&config, &data), "tracing changes nothing");
        assert_eq!(trace.sent.len() as u64, report.a.stats.segments_sent);
        let resent = trace
            .sent
            .iter()
            .filter(|s| {
                matches!(
                    s.reason,
                    crate::conn::Reason::FastRetransmission
                        | crate::conn::Reason::SackRetransmission
                        | crate::conn::Reason::RackRetransmission
                        | crate::conn::Reason::TailLossProbe
                )
            })
            .count();
        assert_eq!(resent as u64, report.a.stats.retransmissions.total());
        assert!(trace.acks.iter().any(|ack| !ack.sack.is_empty()));
        // Loss recovery shrank the window at least once.
        assert!(trace
            .congestion_window
            .windows(2)
            .any(|pair| pair[1].1 < pair[0].1));
    }

    #[test]
    fn a_permanent_outage_times_out_both_ends() {
        let data = payload(1_000_000, 5);
        let report = transfer(&lossy("outage=300ms..100000s", 5), &data);
        assert!(!report.intact);
        assert!(report.finished);
        assert_eq!(report.a.error, Some(ConnectionError::TimedOut));
        assert_eq!(report.b.error, Some(ConnectionError::TimedOut));
    }
}
