//! The simulated network: two endpoints, one [`Link`] per direction, a virtual clock.

use std::io;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::ladder::LadderRecorder;
use super::tap::{begins_with_origin_note, HostCapture, Tap};
use super::Host;
use crate::conn::{Config, ConfigError, TracedEvent};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::{FaultConfig, FaultStats};
use crate::ladder::{Ladder, LadderOptions};
use crate::link::seed::{
    derive_seed, link_seed, ISN_A, ISN_B, LINK_A_TO_B, LINK_B_TO_A, SECURE_IDENTITY,
};
use crate::link::{Link, LinkConfig, LinkEvent, LinkStats};
use crate::plot::Trace;
use crate::secure::{Identity, SecureConfig};
use crate::time::Instant;

/// The whole simulated network.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NetworkConfig {
    /// The link from A to B.
    pub a_to_b: LinkConfig,
    /// The link from B to A.
    pub b_to_a: LinkConfig,
    /// A's connection settings, and B's unless [`connection_b`](Self::connection_b) says
    /// otherwise.
    pub connection: Config,
    /// B's connection settings when they differ from A's: the two ends of a real path need
    /// not agree (one without SACK, a smaller MSS), and the handshake settles what they
    /// share. `None` gives B [`connection`](Self::connection) too.
    pub connection_b: Option<Config>,
    /// Seeds every random choice of the run.
    pub seed: u64,
    /// Both hosts run the secure mode (docs/protocol.md section 10): B with an identity
    /// drawn from the seed, A pinning its key. Ephemeral keys come from each host's
    /// generator, so a secure run repeats from its seed like any other.
    pub secure: bool,
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
            connection_b: None,
            seed,
            secure: false,
        }
    }

    /// The connection settings of `host`.
    pub fn connection_of(&self, host: Host) -> &Config {
        match (host, &self.connection_b) {
            (Host::B, Some(config)) => config,
            _ => &self.connection,
        }
    }
}

/// The simulated network: two endpoints, two links, a virtual clock.
#[derive(Debug)]
pub struct Network {
    now: Instant,
    endpoints: [Endpoint; 2],
    /// `links[i]` carries what host `i` sends, each datagram tagged with its record number in
    /// host `i`'s capture (whether or not it has one).
    links: [Link<u64>; 2],
    steps: u64,
    /// `records[i]` counts what host `i` sent and received: its capture's records, numbered
    /// the same whether or not it has a capture, so that a ladder names their frames.
    records: [RecordCount; 2],
    /// `taps[i]` captures what host `i` sends and receives.
    taps: [Option<Tap>; 2],
    /// A time `step` stops at even if nothing is due then (see [`Network::wake_at`]).
    wake: Option<Instant>,
    /// The traced host and what it sent and received, for the time-sequence plot.
    trace: Option<(Host, Trace)>,
    /// What both hosts sent and received and the timers that fired, for the ladder diagram.
    ladder: Option<LadderRecorder>,
    /// Both hosts' connection trace events, in time order, once
    /// [`record_events`](Network::record_events) asked for them.
    events: Option<HostEvents>,
}

/// Both hosts' connection trace events ([`crate::conn::TraceEvent`]), for a qlog file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostEvents {
    /// Each event, with its host, in the order they happened.
    pub events: Vec<(Host, TracedEvent)>,
    /// Events left out: beyond [`MAX_RECORDED_EVENTS`], or dropped by a full queue in an
    /// endpoint or connection.
    pub omitted: u64,
}

/// The most trace events a run records (about 50 MB): a long run's trace stops there, and
/// says how many it left out.
pub const MAX_RECORDED_EVENTS: usize = 1_000_000;

/// How many records a host's capture holds, and when the first was: its frame numbers.
#[derive(Clone, Copy, Debug, Default)]
struct RecordCount {
    count: u64,
    first_at: Option<Instant>,
}

impl RecordCount {
    /// Count a record at `at`: its number (from 0), and its frame number in a capture taken
    /// from the start (from 1, after the note a capture may begin with).
    fn next(&mut self, at: Instant) -> (u64, u64) {
        let first_at = *self.first_at.get_or_insert(at);
        let record = self.count;
        self.count += 1;
        let note = u64::from(begins_with_origin_note(first_at.since_epoch()));
        (record, record + 1 + note)
    }
}

impl Network {
    /// A network at time zero, nothing open yet. Fails if either host's connection settings
    /// cannot work ([`Config::check`](crate::conn::Config::check)).
    pub fn new(config: &NetworkConfig) -> Result<Network, ConfigError> {
        let identity = Identity::generate(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            config.seed,
            SECURE_IDENTITY,
        )));
        let endpoint = |host, stream| {
            let isn_generator = ChaCha8Rng::seed_from_u64(derive_seed(config.seed, stream));
            let mut endpoint =
                Endpoint::new(config.connection_of(host).clone(), Box::new(isn_generator))?;
            if config.secure {
                endpoint.set_secure(match host {
                    Host::A => SecureConfig::client(Some(identity.public_key())),
                    Host::B => SecureConfig::server(identity.clone()),
                });
            }
            Ok::<_, ConfigError>(endpoint)
        };
        let link = |link: &LinkConfig, stream| {
            Link::new(
                link.clone(),
                link_seed(config.seed, stream, link.faults.seed),
            )
        };
        Ok(Network {
            now: Instant::ZERO,
            endpoints: [endpoint(Host::A, ISN_A)?, endpoint(Host::B, ISN_B)?],
            links: [
                link(&config.a_to_b, LINK_A_TO_B),
                link(&config.b_to_a, LINK_B_TO_A),
            ],
            steps: 0,
            records: [RecordCount::default(); 2],
            taps: [None, None],
            wake: None,
            trace: None,
            ladder: None,
            events: None,
        })
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

    /// From now on, record every datagram both hosts send and what became of it, and the
    /// timers that fired, for a ladder diagram ([`crate::ladder`]) of `options`'s window.
    /// Take it with [`take_ladder`](Network::take_ladder).
    pub fn record_ladder(&mut self, options: LadderOptions) {
        self.ladder = Some(LadderRecorder::new(options));
    }

    /// The ladder recorded since [`record_ladder`](Network::record_ladder), if any; recording
    /// stops.
    pub fn take_ladder(&mut self) -> Option<Ladder> {
        self.ladder.take().map(LadderRecorder::finish)
    }

    /// From now on, record both hosts' connection trace events (sent, received and lost
    /// segments, timers, states, recovery episodes, metrics). Take them with
    /// [`take_events`](Network::take_events).
    pub fn record_events(&mut self) {
        for endpoint in &mut self.endpoints {
            endpoint.set_tracing(true);
        }
        self.events = Some(HostEvents::default());
    }

    /// The events recorded since [`record_events`](Network::record_events), if asked for;
    /// recording stops.
    pub fn take_events(&mut self) -> Option<HostEvents> {
        self.drain_events();
        for endpoint in &mut self.endpoints {
            endpoint.set_tracing(false);
        }
        let mut events = self.events.take()?;
        events.omitted += self
            .endpoints
            .iter()
            .map(Endpoint::trace_events_dropped)
            .sum::<u64>();
        Some(events)
    }

    /// Move what the endpoints traced into the record, host A's first at each step (the
    /// events of one step share its time).
    fn drain_events(&mut self) {
        let Some(record) = &mut self.events else {
            return;
        };
        for (host, endpoint) in [Host::A, Host::B].into_iter().zip(&mut self.endpoints) {
            while let Some((_, event)) = endpoint.poll_trace_event() {
                if record.events.len() < MAX_RECORDED_EVENTS {
                    record.events.push((host, event));
                } else {
                    record.omitted += 1;
                }
            }
        }
    }

    /// Record `host`'s congestion window, slow-start threshold and RTO now, if `host` is
    /// traced (the driver of the run calls this: only it knows which connection is meant).
    pub fn trace_connection_state(&mut self, host: Host, handle: ConnectionHandle) {
        let Some((traced, _)) = &self.trace else {
            return;
        };
        if *traced != host {
            return;
        }
        let stats = self.endpoints[host.index()]
            .connection(handle)
            .map(|connection| connection.stats());
        if let (Some(stats), Some((_, trace))) = (stats, &mut self.trace) {
            trace.connection_state(
                self.now.since_epoch(),
                stats.congestion_window,
                stats.slow_start_threshold,
                stats.rto,
            );
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
        self.links[from.index()].fault_stats()
    }

    /// What the link leaving `host` counted.
    pub fn link_stats(&self, from: Host) -> LinkStats {
        self.links[from.index()].stats()
    }

    /// Change the MTU of the link leaving `host` from now on ([`LinkConfig::mtu`]): a route
    /// change mid-run, a black hole when it shrinks (RFC 8899 section 4.3).
    ///
    /// [`LinkConfig::mtu`]: crate::link::LinkConfig::mtu
    pub fn set_mtu(&mut self, from: Host, mtu: Option<usize>) {
        self.links[from.index()].set_mtu(mtu);
    }

    /// From now on, write what `host` sends and receives to `capture`. Call
    /// [`finish_captures`](Network::finish_captures) at the end.
    pub fn capture(&mut self, host: Host, capture: HostCapture) {
        let first_record = self.records[host.index()].count;
        self.taps[host.index()] = Some(Tap::new(capture, first_record));
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

    /// Hand everything the endpoints want to send to their links.
    fn collect_transmits(&mut self) {
        for from in 0..2 {
            while let Some(transmit) = self.endpoints[from].poll_transmit(self.now) {
                let host = [Host::A, Host::B][from];
                let (record, frame) = self.records[from].next(self.now);
                let offered = self.links[from].offer(self.now, &transmit.contents, record);
                if let Some(ladder) = &mut self.ladder {
                    ladder.sent(self.now, host, &transmit, &offered, (record, frame));
                }
                if let Some((host, trace)) = &mut self.trace {
                    if host.index() == from {
                        trace.sent(
                            self.now.since_epoch(),
                            &transmit.contents,
                            transmit.reason,
                            offered.decision.dropped.is_some(),
                        );
                    }
                }
                if let Some(tap) = &mut self.taps[from] {
                    tap.sent(
                        self.now,
                        host.address(),
                        &transmit,
                        &offered.decision,
                        offered.copies,
                    );
                }
            }
        }
        self.drain_events();
    }

    /// Send what is ready, move the clock to the next thing that happens (a datagram moving
    /// on, or a timer) and do everything due then. Returns false when nothing is left to
    /// happen: no datagram on the way and no timer armed.
    pub fn step(&mut self) -> bool {
        self.collect_transmits();
        let next_datagram = self.links.iter().filter_map(Link::poll_timeout).min();
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
        for from in 0..2 {
            while let Some(event) = self.links[from].poll(self.now) {
                self.link_event(from, event);
            }
        }
        if let Some(ladder) = &mut self.ladder {
            for (host, endpoint) in [Host::A, Host::B].into_iter().zip(&self.endpoints) {
                if endpoint.poll_timeout().is_some_and(|at| at <= self.now) {
                    ladder.timer_due(host, self.now);
                }
            }
        }
        for endpoint in &mut self.endpoints {
            endpoint.handle_timeout(self.now);
        }
        self.drain_events();
        true
    }

    /// What a link leaving host `from` reports: a queue's verdict for the sender's capture, or
    /// a datagram at the far host.
    fn link_event(&mut self, from: usize, event: LinkEvent<u64>) {
        let from_host = [Host::A, Host::B][from];
        match event {
            LinkEvent::Queued {
                tag: record,
                duplicate,
                ..
            } => {
                let comment = event.drop_comment();
                if let Some(tap) = &mut self.taps[from] {
                    tap.entered_queue(record, comment);
                }
                if let Some(ladder) = &mut self.ladder {
                    ladder.queued(self.now, from_host, record, duplicate, comment);
                }
            }
            LinkEvent::Delivered {
                tag: record, bytes, ..
            } => {
                let from_address = from_host.address();
                let to_host = from_host.peer();
                let to = to_host.index();
                let (_, receiver_frame) = self.records[to].next(self.now);
                if let Some(ladder) = &mut self.ladder {
                    ladder.delivered(self.now, from_host, record, &bytes, receiver_frame);
                }
                if let Some(tap) = &mut self.taps[to] {
                    tap.received(self.now, from_address, to_host.address(), &bytes);
                }
                if let Some((host, trace)) = &mut self.trace {
                    if *host == to_host {
                        trace.received(self.now.since_epoch(), &bytes);
                    }
                }
                self.endpoints[to].handle_datagram(self.now, from_address, &bytes);
            }
        }
    }
}
