//! The rendezvous server's state machine: registrations by name, introductions, the relay
//! (docs/protocol.md section 9.4).
//!
//! It holds one [`Registration`] per name, at most [`ServerConfig::max_peers`], each for
//! [`REGISTRATION_LIFETIME`] after its client was last heard; it answers every REGISTER with
//! one reply to its source, sends the waiting peer one INTRODUCE when its partner arrives,
//! and forwards RELAY messages between two introduced peers through a shaper per sender: a
//! rate, and a drop-tail queue of bounded bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::message::{Body, Mapping, Mappings, Message, Refusal};
use super::{Transmit, REGISTRATION_LIFETIME};
use crate::shaper::{QueueLimit, Shaper};
use crate::time::Instant;

/// The most registrations a server holds by default: 1,024, about 300 KiB.
pub const MAX_PEERS: usize = 1024;

/// What one peer may send through the relay, by default: 20 Mbit/s, in bits per second. A
/// relay carries every byte twice (in and out), so this bounds what one pair of peers costs
/// the server's link: 40 Mbit/s each way at most.
pub const RELAY_RATE: u64 = 20_000_000;

/// How many bytes of one peer's relayed datagrams the server holds at most, waiting for the
/// rate, by default: 64 KiB, one of Ferry's default windows. Beyond it, a RELAY is dropped
/// (drop-tail), as a router's queue would, and the connection's congestion control slows
/// down. A queue rather than a policer: on a short path a policer drops whatever exceeds the
/// rate at once, and a connection whose window of even two segments per round trip exceeds
/// it loses most of what it sends (measured through a 20 Mbit/s policer on a 0.1 ms path:
/// 32,757 of 38,550 segments sent again); the queue's delay lets the window fit the rate.
pub const RELAY_QUEUE: usize = 64 * 1024;

/// The most bytes of relayed datagrams the server holds at once, all peers together: 16 MiB.
/// A RELAY that would go beyond it is dropped.
pub const MAX_RELAY_HELD: usize = 16 << 20;

/// How often the server forgets registrations whose lifetime ran out: every second.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// At most this many datagrams wait in the server for [`Server::poll_transmit`] (besides the
/// relayed ones its shapers hold): a REGISTER draws two at most, a RELAY one, and a timeout
/// releases those due up to this many, so a caller that polls after each call never reaches
/// it; one that does not loses the newest replies, not memory.
pub const MAX_QUEUED: usize = 64;

/// The server's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The most registrations held at once ([`MAX_PEERS`]); a REGISTER beyond it is refused
    /// with [`Refusal::Full`].
    pub max_peers: usize,
    /// What one peer may send through the relay, in bits per second ([`RELAY_RATE`]); 0
    /// turns the relay off.
    pub relay_rate: u64,
    /// How many bytes of one peer's relayed datagrams wait for the rate at most
    /// ([`RELAY_QUEUE`]).
    pub relay_queue: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_peers: MAX_PEERS,
            relay_rate: RELAY_RATE,
            relay_queue: RELAY_QUEUE,
        }
    }
}

/// One registered peer.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Its public endpoint: where its REGISTER came from.
    pub address: SocketAddr,
    /// Its nonce: every message it sends must carry it, and every reply echoes it.
    nonce: u64,
    /// The name of the peer it wants to reach.
    pub peer: String,
    /// When it was last heard (a REGISTER or a RELAY).
    pub last_heard: Instant,
    /// The relay's rate and queue for what it sends.
    shaper: Shaper,
    /// Bytes it sent through the relay.
    pub relayed_bytes: u64,
    /// When it was made.
    since: Instant,
    /// Whether its client said a PROBE follows each REGISTER.
    probing: bool,
    /// The port its PROBE came from (docs/protocol.md section 9.4, "Port prediction").
    pub probed: Option<u16>,
    /// Whether its client reads the INTRODUCE's mappings.
    reads_mappings: bool,
    /// Whether it was introduced to its partner.
    introduced: bool,
}

impl Registration {
    fn alive(&self, now: Instant) -> bool {
        now < self.last_heard + REGISTRATION_LIFETIME
    }

    /// Whether it can be introduced: its client does not probe, or it was probed, or it
    /// was registered [`PROBE_WAIT`] ago (its PROBEs are lost, or filtered on the way).
    fn ready(&self, now: Instant) -> bool {
        !self.probing || self.probed.is_some() || now >= self.since + PROBE_WAIT
    }

    /// How its NAT maps, from the step `d` between its REGISTER's port and its PROBE's:
    /// none (d = 0) is endpoint-independent; a small one (1 <= |d| <=
    /// [`MAX_PREDICTED_STEP`]) a NAT that counts; a larger one random ports. Without a PROBE,
    /// unknown.
    pub fn mapping(&self) -> Mapping {
        let Some(probed) = self.probed else {
            return Mapping::Unknown;
        };
        match (i32::from(probed) - i32::from(self.address.port())).abs() {
            0 => Mapping::Independent,
            step if step <= MAX_PREDICTED_STEP => Mapping::Sequential,
            _ => Mapping::Random,
        }
    }

    /// Where its partner should send the SYNs: its public endpoint as the REGISTER showed
    /// it, or, if its NAT gave the PROBE, sent right after, a port a small step `d` away
    /// (a NAT that gives each destination the next port: RFC 4787 section 4.2.1's
    /// sequential assignment, [`Mapping::Sequential`]), the port `d` further on, which its
    /// NAT is likely to give its first SYN to the partner, the next new destination
    /// (docs/protocol.md section 9.4, "Port prediction").
    pub fn predicted(&self) -> SocketAddr {
        let (Mapping::Sequential, Some(probed)) = (self.mapping(), self.probed) else {
            return self.address;
        };
        let step = i32::from(probed) - i32::from(self.address.port());
        match u16::try_from(i32::from(probed) + step) {
            Ok(port) if port >= 1024 => SocketAddr::new(self.address.ip(), port),
            _ => self.address,
        }
    }
}

/// The largest step between the ports of a REGISTER and its PROBE that the server takes for
/// a NAT counting up (or down): 16. A NAT that counts gives consecutive mappings ports 1
/// apart, or a few more if other hosts behind it made mappings between; a step beyond this
/// is a random port assignment, from which nothing can be predicted (the chance that a
/// random step falls within it is 32 in 64,512).
pub const MAX_PREDICTED_STEP: i32 = 16;

/// How long the server waits for the PROBE of a registration that said one follows before
/// it introduces it without: 2.5 s. The client sends the PROBE on the server's first answer,
/// so it normally comes a round trip after the REGISTER; if it is lost, the client's next
/// REGISTER and PROBE (1 s later: two more chances within the wait) bring it. A
/// client whose PROBEs never arrive (a firewall that lets only the server's port through)
/// is introduced at its first REGISTER after this, without a prediction.
pub const PROBE_WAIT: Duration = Duration::from_millis(2500);

/// What the server did, for a log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer registered.
    Registered {
        /// Its name.
        name: String,
        /// Its public endpoint.
        address: SocketAddr,
        /// Whom it wants to reach.
        peer: String,
    },
    /// Two peers were introduced to each other.
    Introduced {
        /// The first, and its public endpoint.
        a: (String, SocketAddr),
        /// The second, and its.
        b: (String, SocketAddr),
    },
    /// A REGISTER was refused.
    Refused {
        /// The name it asked for.
        name: String,
        /// Where it came from.
        address: SocketAddr,
        /// Why.
        reason: Refusal,
    },
    /// A peer sent its first datagram through the relay.
    Relaying {
        /// The sender's name.
        from: String,
        /// The receiver's.
        to: String,
    },
    /// A registration ended.
    Left {
        /// Its name.
        name: String,
        /// Whether it unregistered (or lapsed, unheard for the lifetime).
        unregistered: bool,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Registered {
                name,
                address,
                peer,
            } => write!(f, "{name} registered from {address}, to meet {peer}"),
            Event::Introduced { a, b } => {
                write!(f, "introduced {} at {} and {} at {}", a.0, a.1, b.0, b.1)
            }
            Event::Refused {
                name,
                address,
                reason,
            } => write!(f, "refused {name} from {address}: {reason}"),
            Event::Relaying { from, to } => write!(f, "relaying from {from} to {to}"),
            Event::Left {
                name,
                unregistered: true,
            } => write!(f, "{name} left"),
            Event::Left {
                name,
                unregistered: false,
            } => write!(f, "{name} lapsed (not heard for 30 s)"),
        }
    }
}

/// What the server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Datagrams that were no valid rendezvous message (Ferry segments included).
    pub malformed: u64,
    /// Valid messages dropped: a reply type sent to the server, or a RELAY or UNREGISTER
    /// from an address or nonce no registration has.
    pub rejected: u64,
    /// REGISTERs refused.
    pub refused: u64,
    /// Pairs introduced.
    pub introductions: u64,
    /// Datagrams relayed, and their bytes.
    pub relayed: u64,
    /// Bytes relayed.
    pub relayed_bytes: u64,
    /// RELAYs dropped because the sender's queue was full (the rate), the server held
    /// [`MAX_RELAY_HELD`] already, or the peer is not (or no longer) registered and
    /// introduced.
    pub relay_dropped: u64,
    /// Replies dropped because [`MAX_QUEUED`] waited already.
    pub queue_dropped: u64,
}

/// The rendezvous server: see the [module docs](self).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    by_name: BTreeMap<String, Registration>,
    /// Each registration's name, by its address.
    by_address: HashMap<SocketAddr, String>,
    next_sweep: Option<Instant>,
    transmits: VecDeque<Transmit>,
    /// Relayed datagrams waiting for their sender's rate, by when they leave (and the order
    /// they came in), and their bytes in all.
    held: BTreeMap<(Instant, u64), Transmit>,
    held_bytes: usize,
    next_held: u64,
    events: VecDeque<Event>,
    stats: ServerStats,
}

impl Server {
    /// A server with these settings, holding nothing.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            by_name: BTreeMap::new(),
            by_address: HashMap::new(),
            next_sweep: None,
            transmits: VecDeque::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            next_held: 0,
            events: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    /// What the server counted.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The registration of `name`, if it holds one (alive or not yet swept).
    pub fn registration(&self, name: &str) -> Option<&Registration> {
        self.by_name.get(name)
    }

    /// How many registrations it holds.
    pub fn registrations(&self) -> usize {
        self.by_name.len()
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(message) = Message::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        match message.body {
            Body::Register {
                name,
                peer,
                probing,
                reads_mappings,
            } => self.register(
                now,
                from,
                message.nonce,
                name,
                peer,
                (probing, reads_mappings),
            ),
            Body::Relay { payload } => self.relay(now, from, message.nonce, payload),
            Body::Unregister => self.unregister(from, message.nonce),
            Body::Probe { name } => self.probe(now, from, message.nonce, name),
            Body::Waiting { .. } | Body::Introduce { .. } | Body::Refused { .. } | Body::Knock => {
                self.stats.rejected += 1;
            }
        }
    }

    /// A REGISTER: refuse it, refresh the registration it repeats, or make a new one; then
    /// answer with WAITING or, if the peer waits for this one and both are ready
    /// ([`Registration::ready`]), INTRODUCE (and, the first time, an INTRODUCE to the
    /// partner).
    fn register(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: u64,
        name: &str,
        peer: &str,
        (probing, reads_mappings): (bool, bool),
    ) {
        let refusal = self.refusal(now, from, nonce, name);
        if let Some(reason) = refusal {
            self.stats.refused += 1;
            self.events.push_back(Event::Refused {
                name: name.to_string(),
                address: from,
                reason,
            });
            self.send(
                from,
                Message {
                    nonce,
                    body: Body::Refused { reason },
                },
            );
            return;
        }
        match self.by_name.get_mut(name) {
            Some(registration) if registration.address == from && registration.nonce == nonce => {
                registration.last_heard = now;
            }
            _ => {
                // A lapsed holder of the name, or of the address, makes room.
                self.remove(name, false);
                if let Some(old) = self.by_address.get(&from).cloned() {
                    self.remove(&old, false);
                }
                self.by_name.insert(
                    name.to_string(),
                    Registration {
                        address: from,
                        nonce,
                        peer: peer.to_string(),
                        last_heard: now,
                        shaper: Shaper::new(
                            Some(self.config.relay_rate),
                            QueueLimit::Bytes(self.config.relay_queue),
                        ),
                        relayed_bytes: 0,
                        since: now,
                        probing,
                        probed: None,
                        reads_mappings,
                        introduced: false,
                    },
                );
                self.by_address.insert(from, name.to_string());
                self.next_sweep.get_or_insert(now + SWEEP_INTERVAL);
                self.events.push_back(Event::Registered {
                    name: name.to_string(),
                    address: from,
                    peer: peer.to_string(),
                });
            }
        }
        if !self.introduce(now, name, Some(from)) {
            self.send(
                from,
                Message {
                    nonce,
                    body: Body::Waiting { observed: from },
                },
            );
        }
    }

    /// A PROBE from `from`: note the port of the registration it names, if it carries the
    /// registration's nonce and comes from its IP address (at the same port, when its NAT
    /// maps endpoint-independently); then introduce the pair if it is ready now. Never
    /// answered.
    fn probe(&mut self, now: Instant, from: SocketAddr, nonce: u64, name: &str) {
        match self.by_name.get_mut(name) {
            Some(registration)
                if registration.nonce == nonce && registration.address.ip() == from.ip() =>
            {
                registration.last_heard = now;
                let first = registration.probed.is_none();
                registration.probed = Some(from.port());
                if first {
                    self.introduce(now, name, None);
                }
            }
            _ => self.stats.rejected += 1,
        }
    }

    /// Introduce `name` to its partner if both are registered, want each other, and are
    /// ready (probed, or waited for long enough): an INTRODUCE to `reply_to` (the source
    /// of the REGISTER being answered) each time, and to both, once, the first time. Each
    /// INTRODUCE carries the other's predicted endpoint ([`Registration::predicted`]).
    /// Returns whether `name` was introduced.
    fn introduce(&mut self, now: Instant, name: &str, reply_to: Option<SocketAddr>) -> bool {
        let Some(partner) = self.partner(now, name).cloned() else {
            return false;
        };
        let Some(registration) = self.by_name.get(name).cloned() else {
            return false;
        };
        if !(registration.ready(now) && partner.ready(now)) {
            return false;
        }
        let first = !registration.introduced || !partner.introduced;
        // Both NATs' mappings, to a client that reads them, once both are known (their
        // PROBEs came): by them a pair chooses who opens sockets and who knocks, and each
        // names what blocks a direct path (docs/protocol.md section 9.4).
        let known =
            registration.mapping() != Mapping::Unknown && partner.mapping() != Mapping::Unknown;
        let introduce_to = |to: &Registration, other: &Registration| Transmit {
            destination: to.address,
            contents: Message {
                nonce: to.nonce,
                body: Body::Introduce {
                    observed: to.address,
                    peer: other.predicted(),
                    mappings: (known && to.reads_mappings).then(|| Mappings {
                        yours: to.mapping(),
                        peers: other.mapping(),
                    }),
                },
            }
            .to_bytes(),
        };
        if first || reply_to == Some(registration.address) {
            self.queue(introduce_to(&registration, &partner));
        }
        if first {
            // If this is lost, the partner's next REGISTER, within a second, draws the same.
            self.queue(introduce_to(&partner, &registration));
            self.stats.introductions += 1;
            self.events.push_back(Event::Introduced {
                a: (registration.peer.clone(), partner.address),
                b: (name.to_string(), registration.address),
            });
            for introduced in [name, registration.peer.as_str()] {
                if let Some(held) = self.by_name.get_mut(introduced) {
                    held.introduced = true;
                }
            }
        }
        true
    }

    /// Why a REGISTER for `name` from `from` with `nonce` must be refused, if it must: the
    /// name or the address is held by a live registration of another client (another
    /// address or nonce), or the table is full.
    fn refusal(&self, now: Instant, from: SocketAddr, nonce: u64, name: &str) -> Option<Refusal> {
        if let Some(holder) = self.by_name.get(name) {
            if holder.alive(now) {
                return (holder.address != from || holder.nonce != nonce)
                    .then_some(Refusal::NameTaken);
            }
        }
        if let Some(held) = self.by_address.get(&from) {
            if self.by_name.get(held).is_some_and(|r| r.alive(now)) {
                return Some(Refusal::AddressInUse);
            }
        }
        // A lapsed holder of the name or the address gives up its place to this one.
        let takes_a_lapsed_place =
            self.by_name.contains_key(name) || self.by_address.contains_key(&from);
        (self.by_name.len() >= self.config.max_peers && !takes_a_lapsed_place)
            .then_some(Refusal::Full)
    }

    /// The live registration `name` wants to reach, if it wants `name` too.
    fn partner(&self, now: Instant, name: &str) -> Option<&Registration> {
        let registration = self.by_name.get(name)?;
        let partner = self.by_name.get(&registration.peer)?;
        (partner.alive(now) && partner.peer == name).then_some(partner)
    }

    /// A RELAY from `from`: forward its payload to the sender's partner, through the
    /// sender's shaper (its rate and queue) and within what the server may hold.
    fn relay(&mut self, now: Instant, from: SocketAddr, nonce: u64, payload: &[u8]) {
        let Some(name) = self.by_address.get(&from).cloned() else {
            self.stats.rejected += 1;
            return;
        };
        match self.by_name.get_mut(&name) {
            Some(registration) if registration.nonce == nonce => registration.last_heard = now,
            _ => {
                self.stats.rejected += 1;
                return;
            }
        }
        let partner = self
            .partner(now, &name)
            .map(|partner| (partner.address, partner.nonce));
        let Some((to, partner_nonce)) = partner else {
            self.stats.relay_dropped += 1;
            return;
        };
        let forward = Message {
            nonce: partner_nonce,
            body: Body::Relay { payload },
        }
        .to_bytes();
        let len = forward.len();
        let Some(registration) = self.by_name.get_mut(&name) else {
            return;
        };
        let finished = (self.held_bytes + len <= MAX_RELAY_HELD)
            .then(|| registration.shaper.offer(now, len))
            .flatten();
        let Some(finished) = finished else {
            self.stats.relay_dropped += 1;
            return;
        };
        // The shaper says when the datagram has been sent at the rate; it leaves when its
        // sending starts: at once behind an empty queue, after those ahead of it otherwise.
        let sending = u64::try_from(
            (len as u128 * 8 * 1_000_000).div_ceil(u128::from(self.config.relay_rate.max(1))),
        )
        .unwrap_or(u64::MAX);
        let departure = Instant::from_micros(finished.as_micros().saturating_sub(sending)).max(now);
        if registration.relayed_bytes == 0 {
            self.events.push_back(Event::Relaying {
                from: name.clone(),
                to: registration.peer.clone(),
            });
        }
        registration.relayed_bytes += payload.len() as u64;
        self.stats.relayed += 1;
        self.stats.relayed_bytes += payload.len() as u64;
        let transmit = Transmit {
            destination: to,
            contents: forward,
        };
        if departure <= now {
            self.queue(transmit);
        } else {
            self.held_bytes += len;
            self.held.insert((departure, self.next_held), transmit);
            self.next_held += 1;
        }
    }

    /// An UNREGISTER from `from`: forget its registration if the nonce matches.
    fn unregister(&mut self, from: SocketAddr, nonce: u64) {
        let matches = self
            .by_address
            .get(&from)
            .and_then(|name| self.by_name.get(name))
            .is_some_and(|registration| registration.nonce == nonce);
        match self.by_address.get(&from).cloned() {
            Some(name) if matches => self.remove(&name, true),
            _ => self.stats.rejected += 1,
        }
    }

    fn remove(&mut self, name: &str, unregistered: bool) {
        if let Some(registration) = self.by_name.remove(name) {
            if self
                .by_address
                .get(&registration.address)
                .map(String::as_str)
                == Some(name)
            {
                self.by_address.remove(&registration.address);
            }
            self.events.push_back(Event::Left {
                name: name.to_string(),
                unregistered,
            });
        }
    }

    fn send(&mut self, destination: SocketAddr, message: Message<'_>) {
        self.queue(Transmit {
            destination,
            contents: message.to_bytes(),
        });
    }

    /// Queue a datagram for [`poll_transmit`](Self::poll_transmit), unless [`MAX_QUEUED`]
    /// wait already.
    fn queue(&mut self, transmit: Transmit) {
        if self.transmits.len() >= MAX_QUEUED {
            self.stats.queue_dropped += 1;
            return;
        }
        self.transmits.push_back(transmit);
    }

    /// Release the relayed datagrams whose time came, as many as [`MAX_QUEUED`] leaves room
    /// for (the rest stay held, and [`poll_timeout`](Self::poll_timeout) says they are due:
    /// a shaper's datagram is never dropped after it was taken), and forget the registrations
    /// whose lifetime ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.transmits.len() < MAX_QUEUED {
            let Some(entry) = self.held.first_entry() else {
                break;
            };
            if entry.key().0 > now {
                break;
            }
            let transmit = entry.remove();
            self.held_bytes -= transmit.contents.len();
            self.queue(transmit);
        }
        if self.next_sweep.is_none_or(|at| now < at) {
            return;
        }
        let lapsed: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, registration)| !registration.alive(now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in lapsed {
            self.remove(&name, false);
        }
        self.next_sweep = (!self.by_name.is_empty()).then(|| now + SWEEP_INTERVAL);
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let held = self.held.keys().next().map(|&(at, _)| at);
        [self.next_sweep, held].into_iter().flatten().min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
