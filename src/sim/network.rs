//! The simulated network: two endpoints, one link per direction, a virtual clock. A link is a
//! fault injector, then a drop-tail queue drained at the link's rate, then a propagation delay.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::derive_seed;
use super::tap::{CaptureTicket, HostCapture, Tap};
use super::Host;
use crate::conn::Config;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::{FaultConfig, FaultInjector, FaultStats};
use crate::plot::Trace;
use crate::time::Instant;
use crate::wire::Segment;

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
    /// reference runs beside which docs/performance.md sets Ferry.
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
