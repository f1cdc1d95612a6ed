//! One direction of a path, sans-IO: the fault injector, then the shaper (a rate and a
//! drop-tail queue), then the propagation delay. The simulator joins its two hosts with two
//! links on a virtual clock; the socket driver puts one on each side of a real socket. Both
//! feed and drain a link the way they feed and drain a connection, so a fault spec does the
//! same thing in both, from the same seed ([`seed`]).
//!
//! ```text
//!  offer(now, datagram, tag)
//!        |
//!  [ MTU ]             a datagram larger than the link's MTU vanishes (Don't Fragment)
//!        |
//!  [ fault injector ]  drops, corrupts, duplicates; delays by delay=, jitter, reorder, rate=
//!        |   copies wait in the delay line until they leave the injector
//!  [ shaper ]          rate_bps, a queue of queue_limit datagrams (drop-tail)  -> Queued event
//!        |             (passes all when the spec has rate=: the injector's is the link's one)
//!        |   then wait the propagation delay in the same delay line
//!  poll(now)  -> Delivered event
//! ```
//!
//! A link reads no clock, touches no socket and draws randomness only from its injector's
//! seeded generator: time comes in as an argument, and what happens comes out of
//! [`poll`](Link::poll) as [`LinkEvent`]s, in time order, ties in the order they were
//! offered. Observers (captures, the plot trace, counters) are fed from the events and from
//! the [`Offered`] that [`offer`](Link::offer) returns; the link knows nothing of them.
//!
//! Memory is bounded: the delay line holds at most [`DELAY_LINE_CAPACITY`] datagrams (beyond
//! it a copy is dropped, counted as a queue drop), and the shaper's queue its limit.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Link`], its configuration, events and counters |
//! | `delay_line.rs` | the timed heap every waiting datagram sits in |
//! | `seed.rs` | [`seed`]: how every generator's seed derives from one |

mod delay_line;
pub mod seed;

use std::time::Duration;

use crate::conn::Reason;
use crate::fault::{Decision, FaultConfig, FaultInjector, FaultStats};
pub use crate::shaper::{QueueLimit, Shaper};
use crate::time::Instant;
use crate::wire::Segment;
use delay_line::DelayLine;
pub use delay_line::DELAY_LINE_CAPACITY;

/// One direction of a path.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Bits per second the link drains its queue at; `None` (or 0) for no limit.
    pub rate_bps: Option<u64>,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Datagrams the queue holds, the one being sent included; beyond that, arrivals are
    /// dropped (drop-tail).
    pub queue_limit: usize,
    /// What the fault injector in front of the queue does.
    pub faults: FaultConfig,
    /// The link's MTU: the largest IP packet it carries, a datagram's UDP payload plus
    /// [`IP_UDP_HEADERS`]. A larger one is dropped without a word, as a router drops a packet
    /// with Don't Fragment set whose ICMP "packet too big" never arrives: a black hole (RFC
    /// 8899 section 4.3). `None`: no limit (the socket driver's links, where the real network
    /// has its own).
    pub mtu: Option<usize>,
}

/// What a datagram's IP and UDP headers add to it on a link: 28 octets, IPv4's 20 and UDP's 8.
pub const IP_UDP_HEADERS: usize = 28;

/// An Ethernet MTU, the simulated links' default: 1500 octets.
pub const ETHERNET_MTU: usize = 1500;

impl Default for LinkConfig {
    /// 10 Mbit/s, 20 ms each way, a queue of 64 datagrams, an Ethernet MTU (1500), no faults:
    /// the shape of the Linux reference runs beside which docs/performance.md sets Ferry.
    fn default() -> LinkConfig {
        LinkConfig {
            rate_bps: Some(10_000_000),
            delay: Duration::from_millis(20),
            queue_limit: 64,
            faults: FaultConfig::default(),
            mtu: Some(ETHERNET_MTU),
        }
    }
}

impl LinkConfig {
    /// Only these faults: no rate, no queue limit, no propagation delay (the socket driver's
    /// links, where the real network does the rest).
    pub fn faults_only(faults: FaultConfig) -> LinkConfig {
        LinkConfig {
            rate_bps: None,
            delay: Duration::ZERO,
            queue_limit: usize::MAX,
            faults,
            mtu: None,
        }
    }
}

/// What a link counted beyond its fault injector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams dropped because the queue was full.
    pub queue_drops: u64,
    /// Datagrams dropped because they were larger than the link's MTU ([`LinkConfig::mtu`]).
    pub mtu_drops: u64,
    /// Payload bytes in the datagrams lost on the link, by the fault injector or the queue:
    /// what loss recovery has to make good.
    pub dropped_payload_bytes: u64,
    /// Data segments (with payload) lost on the link.
    pub dropped_data_segments: u64,
    /// Datagrams that reached the far end.
    pub delivered: u64,
}

/// What [`Link::offer`] did with a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offered {
    /// What the fault injector did.
    pub decision: Decision,
    /// How many copies left the injector for the queue (0, 1 or 2): as many
    /// [`LinkEvent::Queued`] follow.
    pub copies: usize,
}

/// What happened on a link, from [`Link::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent<T> {
    /// A copy of an offered datagram reached the queue, which took it or dropped it (full).
    Queued {
        /// The tag it was offered with.
        tag: T,
        /// Whether this is the injector's second copy.
        duplicate: bool,
        /// Whether the queue took it.
        accepted: bool,
    },
    /// A datagram reached the far end.
    Delivered {
        /// The tag it was offered with.
        tag: T,
        /// Its bytes, after the faults.
        bytes: Vec<u8>,
    },
}

impl<T> LinkEvent<T> {
    /// The capture comment a queue drop adds to the sent datagram's record, if this is one.
    pub fn drop_comment(&self) -> Option<&'static str> {
        match self {
            LinkEvent::Queued {
                accepted: false,
                duplicate,
                ..
            } => Some(if *duplicate {
                "duplicate dropped (queue full)"
            } else {
                "dropped (queue full)"
            }),
            _ => None,
        }
    }
}

/// The comments of a sent datagram's capture record: why it was sent, and what the fault
/// injector did to it unless it passed untouched.
pub fn sent_comments(reason: Reason, decision: &Decision) -> Vec<String> {
    let mut comments = vec![reason.to_string()];
    if *decision != Decision::default() {
        comments.push(decision.to_string());
    }
    comments
}

/// The link's own shaper: its rate and a queue of `queue_limit` datagrams. One shaper per
/// link: a spec that sets `rate=` brings its own, in the injector (in bytes, at its place in
/// the fault order), and the link's own then passes all.
fn link_shaper(rate_bps: Option<u64>, queue_limit: usize, faults: &FaultConfig) -> Shaper {
    let rate = rate_bps.filter(|&rate| rate > 0 && faults.rate.is_none());
    let limit = if rate.is_some() {
        queue_limit
    } else {
        usize::MAX
    };
    Shaper::new(rate, QueueLimit::Datagrams(limit))
}

#[derive(Debug)]
enum Stage {
    /// Out of the injector, about to enter the queue.
    Queue { duplicate: bool },
    /// At the far end.
    Arrive,
}

#[derive(Debug)]
struct InFlight<T> {
    stage: Stage,
    tag: T,
    bytes: Vec<u8>,
}

/// One direction of a path: see the [module docs](self). `T` tags each datagram for the
/// caller (the simulator's capture record, the driver's peer address).
#[derive(Debug)]
pub struct Link<T> {
    injector: FaultInjector,
    /// The link's own rate and queue ([`LinkConfig::rate_bps`], [`LinkConfig::queue_limit`]),
    /// kept to choose the one shaper again when the fault spec changes.
    own_rate: Option<u64>,
    own_queue_limit: usize,
    shaper: Shaper,
    delay: Duration,
    mtu: Option<usize>,
    line: DelayLine<InFlight<T>>,
    stats: LinkStats,
}

impl<T: Clone> Link<T> {
    /// A link whose injector draws from a generator seeded with `seed` (see [`seed`]).
    pub fn new(config: LinkConfig, seed: u64) -> Link<T> {
        Link {
            shaper: link_shaper(config.rate_bps, config.queue_limit, &config.faults),
            own_rate: config.rate_bps,
            own_queue_limit: config.queue_limit,
            injector: FaultInjector::with_seed(config.faults, seed),
            delay: config.delay,
            mtu: config.mtu,
            line: DelayLine::default(),
            stats: LinkStats::default(),
        }
    }

    /// Put a new fault spec in force for what is offered from now on (the simulated world's
    /// control events change a link's faults during a run). What is already on the link keeps
    /// the old injector's decisions; the injector's generator and counters run on
    /// ([`FaultInjector::set_config`]). The link's own shaper and its queue carry over, unless
    /// the change moves the one shaper between the link and the spec's `rate=`: then the
    /// shaper in force from now on, empty, takes whatever reaches the queue next.
    pub fn set_faults(&mut self, faults: FaultConfig) {
        let own_in_force = |faults: &FaultConfig| faults.rate.is_none();
        if own_in_force(self.injector.config()) != own_in_force(&faults) {
            self.shaper = link_shaper(self.own_rate, self.own_queue_limit, &faults);
        }
        self.injector.set_config(faults);
    }

    /// Change the link's MTU ([`LinkConfig::mtu`]) for what is offered from now on: a route
    /// that changes under a connection, the black hole of RFC 8899 section 4.3 when it
    /// shrinks.
    pub fn set_mtu(&mut self, mtu: Option<usize>) {
        self.mtu = mtu;
    }

    /// Put a datagram on the link at `now`. The returned [`Offered`] says what the fault
    /// injector did; the copies that left it come out of [`poll`](Link::poll). A datagram
    /// larger than the MTU never reaches the injector: no copy leaves.
    pub fn offer(&mut self, now: Instant, datagram: &[u8], tag: T) -> Offered {
        if self
            .mtu
            .is_some_and(|mtu| datagram.len() + IP_UDP_HEADERS > mtu)
        {
            self.stats.mtu_drops += 1;
            self.count_drop(datagram);
            return Offered {
                decision: Decision::default(),
                copies: 0,
            };
        }
        let (decision, deliveries) = self.injector.apply(now, datagram);
        if decision.dropped.is_some() {
            self.count_drop(datagram);
        }
        let mut copies = 0;
        for (copy, delivery) in deliveries.into_iter().enumerate() {
            let stage = Stage::Queue {
                duplicate: copy > 0,
            };
            let bytes = delivery.bytes;
            let item = InFlight {
                stage,
                tag: tag.clone(),
                bytes,
            };
            match self.line.push(delivery.at, item) {
                Ok(()) => copies += 1,
                Err(item) => {
                    self.stats.queue_drops += 1;
                    self.count_drop(&item.bytes);
                }
            }
        }
        Offered { decision, copies }
    }

    /// The next thing that happened by `now`, earliest first; `None` when nothing more is due.
    pub fn poll(&mut self, now: Instant) -> Option<LinkEvent<T>> {
        let (at, item) = self.line.pop_due(now)?;
        match item.stage {
            Stage::Queue { duplicate } => {
                let departure = self.shaper.offer(at, item.bytes.len());
                let accepted = match departure {
                    Some(departure) => {
                        let arrival = InFlight {
                            stage: Stage::Arrive,
                            tag: item.tag.clone(),
                            bytes: item.bytes,
                        };
                        // Popping made room: this push cannot fail, but a failure is a drop.
                        match self.line.push(departure + self.delay, arrival) {
                            Ok(()) => true,
                            Err(arrival) => {
                                self.count_queue_drop(&arrival.bytes);
                                false
                            }
                        }
                    }
                    None => {
                        self.count_queue_drop(&item.bytes);
                        false
                    }
                };
                Some(LinkEvent::Queued {
                    tag: item.tag,
                    duplicate,
                    accepted,
                })
            }
            Stage::Arrive => {
                self.stats.delivered += 1;
                Some(LinkEvent::Delivered {
                    tag: item.tag,
                    bytes: item.bytes,
                })
            }
        }
    }

    /// When [`poll`](Link::poll) next has something: the earliest datagram in the delay line.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.line.next_at()
    }

    /// What the link counted.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// What its fault injector counted.
    pub fn fault_stats(&self) -> FaultStats {
        self.injector.stats()
    }

    fn count_queue_drop(&mut self, datagram: &[u8]) {
        self.stats.queue_drops += 1;
        self.count_drop(datagram);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(link: &mut Link<u32>, now: Instant) -> Vec<LinkEvent<u32>> {
        std::iter::from_fn(|| link.poll(now)).collect()
    }

    #[test]
    fn queue_then_delay_then_delivery() {
        let config = LinkConfig {
            rate_bps: Some(8_000_000), // 1000 bytes take 1 ms
            delay: Duration::from_millis(10),
            queue_limit: 2,
            faults: FaultConfig::default(),
            mtu: None,
        };
        let mut link = Link::new(config, 1);
        for tag in 0..3 {
            let offered = link.offer(Instant::ZERO, &[0; 1000], tag);
            assert_eq!(offered.copies, 1);
        }
        assert_eq!(link.poll_timeout(), Some(Instant::ZERO));
        let queued = drain(&mut link, Instant::ZERO);
        let accepted: Vec<bool> = queued
            .iter()
            .map(|event| matches!(event, LinkEvent::Queued { accepted: true, .. }))
            .collect();
        assert_eq!(accepted, [true, true, false]);
        assert_eq!(queued[2].drop_comment(), Some("dropped (queue full)"));
        assert_eq!(link.poll_timeout(), Some(Instant::from_millis(11)));
        assert!(drain(&mut link, Instant::from_micros(10_999)).is_empty());
        let delivered = drain(&mut link, Instant::from_millis(12));
        assert!(matches!(
            delivered.as_slice(),
            [
                LinkEvent::Delivered { tag: 0, .. },
                LinkEvent::Delivered { tag: 1, .. }
            ]
        ));
        let stats = link.stats();
        assert_eq!((stats.queue_drops, stats.delivered), (1, 2));
        assert_eq!(link.poll_timeout(), None);
    }

    #[test]
    fn a_spec_with_a_rate_brings_the_one_shaper_of_the_link() {
        // The link's own shaper (8 Mbit/s, two datagrams) would drop three of five; the
        // spec's (80 Mbit/s, 1 MiB) replaces it and spaces them 100 us apart.
        let config = LinkConfig {
            rate_bps: Some(8_000_000),
            delay: Duration::from_millis(10),
            queue_limit: 2,
            faults: "rate=80mbit,queue=1MiB".parse().unwrap(),
            mtu: None,
        };
        let mut link = Link::new(config, 1);
        for tag in 0..5 {
            assert_eq!(link.offer(Instant::ZERO, &[0; 1000], tag).copies, 1);
        }
        let events = drain(&mut link, Instant::from_millis(20));
        let arrivals: Vec<u32> = events
            .iter()
            .filter_map(|event| match event {
                LinkEvent::Delivered { tag, .. } => Some(*tag),
                LinkEvent::Queued { .. } => None,
            })
            .collect();
        assert_eq!(arrivals, [0, 1, 2, 3, 4]);
        assert_eq!(link.stats().queue_drops, 0);
    }

    #[test]
    fn a_changed_spec_applies_to_what_is_offered_after_it() {
        let mut link = Link::new(LinkConfig::faults_only(FaultConfig::default()), 3);
        let now = Instant::from_millis(1);
        assert_eq!(link.offer(now, b"before", 1).copies, 1);
        link.set_faults("loss=100%".parse().unwrap());
        assert_eq!(link.offer(now, b"after", 2).copies, 0);
        link.set_faults(FaultConfig::default());
        assert_eq!(link.offer(now, b"repaired", 3).copies, 1);
        let delivered: Vec<u32> = drain(&mut link, now)
            .iter()
            .filter_map(|event| match event {
                LinkEvent::Delivered { tag, .. } => Some(*tag),
                LinkEvent::Queued { .. } => None,
            })
            .collect();
        assert_eq!(delivered, [1, 3]);
        assert_eq!(link.fault_stats().dropped_loss, 1);
    }

    #[test]
    fn a_spec_with_a_rate_takes_the_shaper_over_and_gives_it_back() {
        let config = LinkConfig {
            rate_bps: Some(8_000_000), // 1000 bytes take 1 ms
            delay: Duration::ZERO,
            queue_limit: 100,
            faults: FaultConfig::default(),
            mtu: None,
        };
        let mut link = Link::new(config, 1);
        let mut arrivals = Vec::new();
        let mut run_until = |link: &mut Link<u32>, from: u64, to: u64| {
            for micros in (from..to).step_by(100) {
                for event in drain(link, Instant::from_micros(micros)) {
                    if let LinkEvent::Delivered { tag, .. } = event {
                        arrivals.push((tag, micros));
                    }
                }
            }
        };
        link.set_faults("rate=80mbit".parse().unwrap());
        link.offer(Instant::ZERO, &[0; 1000], 1);
        link.offer(Instant::ZERO, &[0; 1000], 2);
        run_until(&mut link, 0, 1000);
        link.set_faults(FaultConfig::default());
        link.offer(Instant::from_millis(1), &[0; 1000], 3);
        link.offer(Instant::from_millis(1), &[0; 1000], 4);
        run_until(&mut link, 1000, 5000);
        // 100 us apart at the spec's 80 Mbit/s, then 1 ms apart at the link's own 8.
        assert_eq!(arrivals, [(1, 100), (2, 200), (3, 2000), (4, 3000)]);
    }

    #[test]
    fn faults_only_passes_at_once_and_drops_what_the_spec_drops() {
        let faults: FaultConfig = "drop=2,dup=100%".parse().unwrap();
        let mut link = Link::new(LinkConfig::faults_only(faults), 9);
        let now = Instant::from_millis(3);
        assert_eq!(link.offer(now, b"one", 1).copies, 2);
        assert_eq!(link.offer(now, b"two", 2).copies, 0);
        let events = drain(&mut link, now);
        let delivered: Vec<u32> = events
            .iter()
            .filter_map(|event| match event {
                LinkEvent::Delivered { tag, .. } => Some(*tag),
                LinkEvent::Queued { .. } => None,
            })
            .collect();
        assert_eq!(delivered, [1, 1]);
        assert_eq!(link.fault_stats().dropped_scripted, 1);
    }
}
