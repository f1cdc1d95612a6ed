//! A one-way transfer (with an optional reply) on a [`Network`], driven as an application
//! would drive the two endpoints, with the budgets that keep every run bounded.

use std::fmt;
use std::io;
use std::ops::Range;
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::report::{HostReport, TransferReport};
use super::tap::Captures;
use super::{Host, HostEvents, Network, NetworkConfig};
use crate::conn::{ConfigError, ReadError, State, Stats, WriteError};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::ladder::{Ladder, LadderOptions};
use crate::link::seed::{derive_seed, PAYLOAD};
use crate::plot::Trace;
use crate::time::Instant;

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
    /// A's application writes this many bytes each time this interval passes (the first at
    /// once), as an interactive program does, instead of all it can: small writes, for the
    /// Nagle algorithm to coalesce or not (`Config::nodelay`). `None` writes whatever the
    /// send buffer takes.
    pub paced_writes: Option<(usize, Duration)>,
}

/// The default event budget of a transfer: 100 million events, a minute or two of wall time,
/// far more than any transfer that makes progress at a useful pace needs (64 MiB take about
/// 200,000).
pub const DEFAULT_STEP_LIMIT: u64 = 100_000_000;

/// Which budget stopped a run before both connections closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
            paced_writes: None,
        }
    }
}

/// A payload of `len` bytes drawn from `seed`: random content, so that a misplaced or
/// corrupted byte cannot go unnoticed.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(derive_seed(seed, PAYLOAD)).fill_bytes(&mut bytes);
    bytes
}

/// What a transfer records beside its report: each host's capture, the trace of one host
/// for the time-sequence plot, and the ladder of both. The default records nothing.
#[derive(Debug, Default)]
pub struct Observers {
    /// The pcapng captures to write, one per host.
    pub captures: Captures,
    /// The host whose segments, ACKs and congestion window to trace for
    /// [`plot::time_sequence_svg`](crate::plot::time_sequence_svg).
    pub trace: Option<Host>,
    /// Record the datagrams of this window of time, for
    /// [`ladder::ladder_svg`](crate::ladder::ladder_svg) and
    /// [`ladder_html`](crate::ladder::ladder_html).
    pub ladder: Option<LadderOptions>,
    /// Record both hosts' connection trace events, for a qlog file.
    pub events: bool,
}

/// What [`transfer_observed`] recorded besides the captures, for what [`Observers`] asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observed {
    /// The traced host's trace, for the time-sequence plot.
    pub trace: Option<Trace>,
    /// Both hosts' datagrams and timers, for the ladder diagram.
    pub ladder: Option<Ladder>,
    /// Both hosts' connection trace events, for a qlog file.
    pub events: Option<HostEvents>,
}

/// Start recording on `network` what `observers` asks for (a run on it, not only a
/// transfer: [`first_byte_with`](crate::sim::first_byte_with) too).
pub(crate) fn observe(network: &mut Network, observers: Observers) {
    let Observers {
        captures,
        trace,
        ladder,
        events,
    } = observers;
    if events {
        network.record_events();
    }
    if let Some(host) = trace {
        network.trace(host);
    }
    if let Some(options) = ladder {
        network.record_ladder(options);
    }
    for (host, capture) in [(Host::A, captures.a), (Host::B, captures.b)] {
        if let Some(capture) = capture {
            network.capture(host, capture);
        }
    }
}

/// What `network` recorded since [`observe`], besides the captures; recording stops.
pub(crate) fn observed(network: &mut Network) -> Observed {
    Observed {
        trace: network.take_trace(),
        ladder: network.take_ladder(),
        events: network.take_events(),
    }
}

/// Run a one-way transfer of `payload` from A to B on the simulated network. Fails only if
/// a host's connection settings cannot work ([`Config::check`](crate::conn::Config::check)).
pub fn transfer(config: &TransferConfig, payload: &[u8]) -> Result<TransferReport, ConfigError> {
    let (report, _no_captures, _nothing_observed) =
        run_transfer(config, payload, Observers::default())?;
    Ok(report)
}

/// [`transfer`], feeding `observers`: the run is the same as without them. Returns the report
/// and what was recorded (the trace, the ladder) as asked; fails if a capture cannot be
/// written, or with `InvalidInput` if a host's connection settings cannot work.
pub fn transfer_observed(
    config: &TransferConfig,
    payload: &[u8],
    observers: Observers,
) -> io::Result<(TransferReport, Observed)> {
    let (report, written, observed) = run_transfer(config, payload, observers)?;
    written.map(|()| (report, observed))
}

/// What a run gives: the report, whether the captures were written, and what was observed.
type RunOutput = (TransferReport, io::Result<()>, Observed);

fn run_transfer(
    config: &TransferConfig,
    payload: &[u8],
    observers: Observers,
) -> Result<RunOutput, ConfigError> {
    let mut network = Network::new(&config.network)?;
    let trace = observers.trace;
    observe(&mut network, observers);
    let mut aborted = false;
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
        let now = network.now().since_epoch();
        let (writable, next_write) = match config.paced_writes {
            None => (payload.len(), None),
            Some((size, interval)) => {
                let due = now.as_nanos() / interval.as_nanos().max(1) + 1;
                let writable = usize::try_from(due)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(size)
                    .min(payload.len());
                let next = interval.saturating_mul(u32::try_from(due).unwrap_or(u32::MAX));
                (writable, (writable < payload.len()).then_some(next))
            }
        };
        write_payload_up_to(
            network.endpoint(Host::A),
            sender,
            payload,
            writable,
            &mut written,
        );
        // The network may be idle when the next write is due or the reader resumes (a zero
        // window, the probe timer far off): wake it then.
        let resume = config
            .receiver_pause
            .as_ref()
            .map(|pause| pause.end)
            .filter(|&end| end > now);
        if let Some(at) = [next_write, resume].into_iter().flatten().min() {
            network.wake_at(Instant::ZERO + at);
        }
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
        let traced = trace.and_then(|host| match host {
            Host::A => Some((host, sender)),
            Host::B => receiver.map(|handle| (host, handle)),
        });
        if let Some((host, handle)) = traced {
            network.trace_connection_state(host, handle);
        }
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
    let observed = observed(&mut network);
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
    Ok((report, captures_written, observed))
}

/// Write as much of the payload as the sender takes; shut down once all of it is in.
pub(super) fn write_payload(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
    payload: &[u8],
    written: &mut usize,
) {
    write_payload_up_to(endpoint, handle, payload, payload.len(), written);
}

/// Write as much of the payload's first `writable` bytes as the sender takes; shut down
/// once all of the payload is in.
fn write_payload_up_to(
    endpoint: &mut Endpoint,
    handle: ConnectionHandle,
    payload: &[u8],
    writable: usize,
    written: &mut usize,
) {
    let Some(connection) = endpoint.connection_mut(handle) else {
        return;
    };
    while *written < writable {
        match connection.write(&payload[*written..writable]) {
            Ok(count) => *written += count,
            Err(WriteError::WouldBlock) => return,
            Err(WriteError::ShutDown | WriteError::Failed(_)) => return,
        }
    }
    if *written == payload.len() {
        connection.shutdown();
    }
}

/// Read whatever has arrived. Returns whether the end of the stream was reached.
pub(super) fn read_to_end(
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
