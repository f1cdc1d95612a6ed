//! The client's state machine: register with the rendezvous server, learn the peer's public
//! endpoint, watch the direct attempt, and fall back to the relay (docs/protocol.md section
//! 9.3).
//!
//! The client does not open the Ferry connection itself: it says when to ([`Event::Introduced`])
//! and is told how it goes ([`Client::heard_directly`], [`Client::connected`],
//! [`Client::closed`]). [`crate::endpoint::Endpoint::punch`] does that wiring; a program with
//! its own loop may do it too.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::birthday::{Birthday, BirthdaySize, Role, Tried};
use super::message::{
    valid_name, Body, Mappings, Message, Refusal, MAX_NAME_LEN, PROBE_PORT_OFFSET,
};
use super::Transmit;
use crate::time::Instant;
use crate::units::DurationText;

/// How long a client waits for the server's first answer (its REGISTERs sent again at
/// [`REGISTER_RETRY`], doubling, at most a second apart), and how long the server may then
/// stay silent while the client waits for its peer: 5 s.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before a REGISTER is sent again: 250 ms, doubling to at most
/// [`REGISTER_RETRY_MAX`]. Seven tries fit in [`SERVER_TIMEOUT`], so a path losing half its
/// datagrams each way still registers with probability 1 - 0.75^7 = 87%.
pub const REGISTER_RETRY: Duration = Duration::from_millis(250);

/// The longest wait between two REGISTERs before the server first answers: 1 s.
pub const REGISTER_RETRY_MAX: Duration = Duration::from_secs(1);

/// How often a waiting client sends its REGISTER again: 1 s. Each is answered, so a lost
/// INTRODUCE (the server sends one to the waiting peer when the other arrives) is made good
/// within a second, and the two peers' SYNs start at most about a second apart.
pub const WAIT_REFRESH: Duration = Duration::from_secs(1);

/// How often a client that may relay (it has switched to the relay, or may yet) sends its
/// REGISTER again, keeping its registration, and its NAT's mapping towards the server, alive:
/// 10 s, a third of the server's [`REGISTRATION_LIFETIME`](super::REGISTRATION_LIFETIME).
pub const RELAY_REFRESH: Duration = Duration::from_secs(10);

/// How long a client waits for its peer to register, by default: 30 s.
pub const PEER_WAIT: Duration = Duration::from_secs(30);

/// How long the direct attempt lasts, by default, before the client falls back to the relay:
/// 3 s from the introduction. The SYNs of a punched connection go at 0, 0.25, 0.75 and 1.75 s
/// (`PUNCH_INITIAL_RTO`, doubling), so each side has sent four by then, and each SYN after
/// the first crosses the mapping the peer's first SYN opened in the peer's NAT.
pub const DIRECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the relayed attempt lasts, by default, before the punch fails: 10 s from the
/// switch. The relay being a new path, the connection's SYN timer starts again there from
/// the initial RTO (`Connection::restart_handshake_timer`): its SYNs go 0.25, 0.75, 1.75,
/// 3.75 and 7.75 s after the switch.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

/// What one punch is to do: which server, which names, and how long each stage may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PunchConfig {
    /// The rendezvous server's address.
    pub server: SocketAddr,
    /// The name to register as.
    pub name: String,
    /// The name of the peer to meet.
    pub peer: String,
    /// How long to wait for the peer to register ([`PEER_WAIT`]).
    pub peer_wait: Duration,
    /// How long the direct attempt lasts before the relay is tried ([`DIRECT_TIMEOUT`]).
    pub direct_timeout: Duration,
    /// Whether to fall back to the relay through the server when no direct path works
    /// (default true). Off, the punch fails after the direct attempt.
    pub relay: bool,
    /// How long the relayed attempt lasts before the punch fails ([`RELAY_TIMEOUT`]).
    pub relay_timeout: Duration,
    /// Whether to send a PROBE to the server's probe port on the server's first answer and
    /// after each REGISTER from then until introduced (default true), so that the server can predict the port a NAT that
    /// counts up gives our SYNs (docs/protocol.md section 9.4, "Port prediction"). Off,
    /// the NAT's table holds no mapping toward the probe port (the lecture's walk-through
    /// turns it off for that).
    pub probe: bool,
    /// Whether, and how widely, to probe by the birthday paradox where the server sees a
    /// NAT with random ports facing one that maps endpoint-independently (docs/protocol.md
    /// section 9.4, "Birthday probing"): the sockets to open behind the random NAT, the
    /// ports to knock at from the other side. It needs a driver that can open side
    /// sockets: the simulated world's does; the std and tokio drivers do not yet, and
    /// clear it. `None`: no probing, and such a pair is relayed, saying so.
    pub birthday: Option<BirthdaySize>,
}

impl PunchConfig {
    /// The default timings, to meet `peer` as `name` through the server at `server`.
    pub fn new(server: SocketAddr, name: &str, peer: &str) -> PunchConfig {
        PunchConfig {
            server,
            name: name.to_string(),
            peer: peer.to_string(),
            peer_wait: PEER_WAIT,
            direct_timeout: DIRECT_TIMEOUT,
            relay: true,
            relay_timeout: RELAY_TIMEOUT,
            probe: true,
            birthday: Some(BirthdaySize::default()),
        }
    }

    /// These settings without birthday probing: for a driver that cannot open side sockets
    /// (the std and tokio drivers, so far; docs/protocol.md section 9.4).
    pub fn without_birthday(&self) -> PunchConfig {
        PunchConfig {
            birthday: None,
            ..self.clone()
        }
    }

    /// Check the names: each 1 to 64 octets of printable ASCII, and not the same.
    pub fn check(&self) -> Result<(), PunchConfigError> {
        for name in [&self.name, &self.peer] {
            if !valid_name(name) {
                return Err(PunchConfigError::BadName(name.clone()));
            }
        }
        if self.name == self.peer {
            return Err(PunchConfigError::SameName(self.name.clone()));
        }
        Ok(())
    }
}

/// A [`PunchConfig`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PunchConfigError {
    /// A name that is empty, too long, or not printable ASCII.
    BadName(String),
    /// The peer's name is our own.
    SameName(String),
}

impl fmt::Display for PunchConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PunchConfigError::BadName(name) => write!(
                f,
                "the name {name:?} cannot be registered: a name is 1 to {MAX_NAME_LEN} \
                 characters of printable ASCII, without spaces"
            ),
            PunchConfigError::SameName(name) => {
                write!(
                    f,
                    "the peer's name is our own ({name}): a peer cannot meet itself"
                )
            }
        }
    }
}

impl std::error::Error for PunchConfigError {}

/// Why the direct attempt found no path, as far as the client can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectFailure {
    /// Datagrams came from the peer's IP address but another port than the server saw: the
    /// peer's NAT maps each destination to a new port (address- or address-and-port-dependent
    /// mapping, RFC 4787 section 4.1), so our SYNs go to a port it did not open for us.
    PeerPortChanged {
        /// Where the peer's datagrams came from.
        seen: SocketAddr,
    },
    /// Nothing came from the peer's address: a NAT or firewall on the way filters it (or the
    /// peer's SYNs, or ours).
    NothingHeard,
    /// The peer switched to the relay first.
    PeerSwitched,
    /// One NAT gives each destination a new, random port (as the server saw it), and
    /// birthday probing found no pair of ports that meet (`tried`), or this side does not
    /// probe so (`None`: its driver cannot, or [`PunchConfig::birthday`] is off).
    RandomPorts {
        /// Whether the random NAT is ours.
        ours: bool,
        /// What birthday probing tried.
        tried: Option<Tried>,
    },
    /// Both NATs give each destination a new port (as the server saw them): neither side
    /// can learn where the other's datagrams will come from, so no direct path can be found.
    BothPerDestination,
    /// The peer's datagrams arrived, but the handshake did not finish: ours seem not to reach
    /// it, or the path loses nearly everything.
    Unfinished,
}

impl fmt::Display for DirectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectFailure::PeerPortChanged { seen } => write!(
                f,
                "the peer's NAT maps each destination to a new port: its datagrams came from \
                 {seen}"
            ),
            DirectFailure::NothingHeard => f.write_str(
                "nothing arrived from the peer's public endpoint: a NAT or firewall on the way \
                 filters it",
            ),
            DirectFailure::PeerSwitched => f.write_str("the peer gave up on a direct path first"),
            DirectFailure::RandomPorts { ours, tried } => {
                let whose = match ours {
                    true => "our NAT maps",
                    false => "the peer's NAT maps",
                };
                write!(f, "{whose} each destination to a new port (random)")?;
                match tried {
                    Some(tried) => write!(f, ": {tried}"),
                    None => f.write_str(
                        ", which only birthday probing gets through, and this side does not \
                         probe so",
                    ),
                }
            }
            DirectFailure::BothPerDestination => f.write_str(
                "both NATs map each destination to a new port: neither side can know where \
                 the other's datagrams will come from",
            ),
            DirectFailure::Unfinished => f.write_str(
                "the peer's datagrams arrived, but the handshake did not finish: ours seem not \
                 to reach it",
            ),
        }
    }
}

/// A connection that goes through the relay: which server relays it, and what blocked the
/// direct path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relayed {
    /// The rendezvous server, which relays.
    pub server: SocketAddr,
    /// What blocked the direct path.
    pub why: DirectFailure,
}

impl fmt::Display for Relayed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "through the relay at {} ({})", self.server, self.why)
    }
}

/// Why a punch failed: each says what blocked it, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PunchError {
    /// The rendezvous server did not answer (or stopped answering).
    ServerSilent {
        /// The server.
        server: SocketAddr,
        /// For how long it was silent.
        waited: Duration,
        /// Replies dropped because they came from elsewhere or did not echo our nonce:
        /// forgeries, or answers to someone else.
        rejected: u64,
        /// An ICMP error said nothing listens at the server's port (ICMP can be forged, so
        /// the client kept trying).
        unreachable: bool,
    },
    /// The server refused our registration.
    Refused {
        /// The server.
        server: SocketAddr,
        /// Our name.
        name: String,
        /// Why.
        reason: Refusal,
    },
    /// The peer did not register within the wait.
    PeerAbsent {
        /// The peer's name.
        peer: String,
        /// How long we waited.
        waited: Duration,
    },
    /// No path to the peer: neither direct nor, if tried, through the relay.
    NoPath {
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// How long the direct attempt lasted, and what blocked it.
        direct: (Duration, DirectFailure),
        /// How the relay fared.
        relay: RelayAttempt,
    },
}

/// Whether the relay was tried, in a [`PunchError::NoPath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayAttempt {
    /// The relay is off ([`PunchConfig::relay`]).
    Off,
    /// Not tried: the peer's datagrams arrived directly, so the path half worked.
    NotTried,
    /// Tried, and no handshake through it within this long.
    NoAnswer(Duration),
}

impl fmt::Display for PunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PunchError::ServerSilent {
                server,
                waited,
                rejected,
                unreachable,
            } => {
                write!(
                    f,
                    "no answer from the rendezvous at {server} within {}",
                    DurationText(*waited)
                )?;
                if *unreachable {
                    f.write_str(" (an ICMP error said nothing listens there)")?;
                }
                if *rejected > 0 {
                    write!(
                        f,
                        "; {rejected} replies rejected: not from {server}, or not echoing our \
                         nonce"
                    )?;
                }
                Ok(())
            }
            PunchError::Refused {
                server,
                name,
                reason: Refusal::NameTaken,
            } => write!(
                f,
                "the name {name} is taken at the rendezvous {server}: another peer registered \
                 it (a name is freed when its holder leaves, or 30 s after it goes quiet)"
            ),
            PunchError::Refused {
                server,
                name,
                reason,
            } => write!(f, "the rendezvous {server} refused {name}: {reason}"),
            PunchError::PeerAbsent { peer, waited } => write!(
                f,
                "the peer {peer} did not come to the rendezvous within {}",
                DurationText(*waited)
            ),
            PunchError::NoPath {
                peer,
                direct: (lasted, why),
                relay,
            } => {
                write!(
                    f,
                    "no path to the peer at {peer}: no direct answer in {} ({why})",
                    DurationText(*lasted)
                )?;
                match relay {
                    RelayAttempt::NoAnswer(lasted) => write!(
                        f,
                        ", and none through the relay in {}",
                        DurationText(*lasted)
                    ),
                    RelayAttempt::Off => f.write_str(", and the relay is off"),
                    RelayAttempt::NotTried => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for PunchError {}

/// What the client has to say, in order, from [`Client::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server registered us, and waits for the peer. It sees us at `observed`.
    Waiting {
        /// Our public endpoint, as the server saw it.
        observed: SocketAddr,
    },
    /// The peer is at `peer`: open the connection to it now (a simultaneous open: it is
    /// connecting to us at the same moment).
    Introduced {
        /// Our public endpoint, as the server saw it.
        observed: SocketAddr,
        /// The peer's.
        peer: SocketAddr,
    },
    /// The peer's SYN came from its IP address at another port than the server saw: the
    /// connection sends there from now on ([`Client::retarget`]).
    Retargeted {
        /// The peer's public endpoint, as the server saw it.
        seen: SocketAddr,
        /// The endpoint the peer's SYN came from.
        actual: SocketAddr,
    },
    /// No direct path by now: datagrams to the peer go through the relay from here on
    /// ([`Client::wrap`]).
    Relaying {
        /// What blocked the direct path.
        why: DirectFailure,
    },
    /// The punch failed; the client sends nothing more but a last UNREGISTER.
    Failed(PunchError),
}

/// Where the client stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sending REGISTERs; the server has not answered yet.
    Registering,
    /// Registered; waiting for the peer.
    Waiting {
        /// Our public endpoint.
        observed: SocketAddr,
        /// Since when.
        since: Instant,
    },
    /// Introduced; the direct attempt is under way.
    Direct {
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// When the introduction came.
        since: Instant,
        /// When the attempt runs out: after [`PunchConfig::direct_timeout`], or, if the
        /// peer's datagrams arrived by then, [`PunchConfig::relay_timeout`] later.
        until: Instant,
    },
    /// The direct attempt failed; the relayed attempt is under way.
    Relaying {
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// What blocked the direct path, and how long it was tried.
        direct: (Duration, DirectFailure),
        /// When the switch came.
        since: Instant,
    },
    /// Connected, directly or through the relay.
    Connected {
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// Whether datagrams to the peer go through the relay.
        relayed: bool,
    },
    /// The connection closed; the client is done.
    Finished,
    /// The punch failed.
    Failed(PunchError),
}

/// What the client counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// REGISTERs sent, first tries and refreshes.
    pub registers_sent: u64,
    /// PROBEs sent to the server's probe port: one on the server's first answer, then one
    /// after each REGISTER until introduced.
    pub probes_sent: u64,
    /// Rendezvous messages that did not parse.
    pub malformed: u64,
    /// Messages dropped because they came from elsewhere than the server or did not echo
    /// our nonce (docs/protocol.md section 9.5).
    pub rejected: u64,
    /// Ferry datagrams sent through the relay.
    pub relayed_out: u64,
    /// Ferry datagrams received through the relay.
    pub relayed_in: u64,
    /// KNOCKs sent, birthday probing (docs/protocol.md section 9.4).
    pub knocks_sent: u64,
    /// KNOCKs from the peer that got through.
    pub knocks_received: u64,
}

/// At most this many transmits wait in the client: it queues at most three at a time (a
/// REGISTER, a PROBE and an UNREGISTER), so the bound is never reached by a caller that
/// polls.
const MAX_QUEUED: usize = 8;

/// One punch's rendezvous client: see the [module docs](self).
#[derive(Debug)]
pub struct Client {
    config: PunchConfig,
    nonce: u64,
    phase: Phase,
    started: Instant,
    /// When the server last sent a valid message.
    last_answer: Option<Instant>,
    /// When the next REGISTER goes, and the wait after it.
    register_at: Option<Instant>,
    register_interval: Duration,
    /// Whether a Ferry datagram came from the peer's public endpoint during the attempt.
    heard_directly: bool,
    /// The last datagram from the peer's IP address at another port.
    other_port_seen: Option<SocketAddr>,
    /// The peer's public endpoint as the server saw it, and where its datagrams really come
    /// from, once its SYN came from another port ([`Client::retarget`]).
    retargeted: Option<(SocketAddr, SocketAddr)>,
    /// An ICMP error said the server's port is closed.
    server_unreachable: bool,
    /// What blocked the direct path, once the client switched to the relay.
    why_relayed: Option<DirectFailure>,
    /// Whether the server may hold a registration of ours: from the first REGISTER (its
    /// answer may be lost) until it refuses us or we send UNREGISTER.
    may_be_registered: bool,
    /// Both NATs' mappings, if the INTRODUCE told them.
    mappings: Option<Mappings>,
    /// Birthday probing, if the mappings call for it ([`Role::choose`]).
    birthday: Option<Birthday>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: ClientStats,
}

impl Client {
    /// A client starting at `now`, with `nonce` (draw it from an unpredictable generator:
    /// it is all that tells the server's replies from a forger's, docs/protocol.md section
    /// 9.5). Its first REGISTER is ready for [`poll_transmit`](Self::poll_transmit).
    pub fn new(now: Instant, config: PunchConfig, nonce: u64) -> Client {
        let mut client = Client {
            config,
            nonce,
            phase: Phase::Registering,
            started: now,
            last_answer: None,
            register_at: None,
            register_interval: REGISTER_RETRY,
            heard_directly: false,
            other_port_seen: None,
            retargeted: None,
            server_unreachable: false,
            why_relayed: None,
            may_be_registered: false,
            mappings: None,
            birthday: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: ClientStats::default(),
        };
        client.send_register(now);
        client
    }

    /// The settings.
    pub fn config(&self) -> &PunchConfig {
        &self.config
    }

    /// Where the client stands.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The peer's public endpoint, once introduced.
    pub fn peer(&self) -> Option<SocketAddr> {
        match self.phase {
            Phase::Direct { peer, .. }
            | Phase::Relaying { peer, .. }
            | Phase::Connected { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// Whether datagrams to the peer go through the relay.
    pub fn is_relayed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Relaying { .. } | Phase::Connected { relayed: true, .. }
        )
    }

    /// Through which server, and why, if datagrams to the peer go through the relay.
    pub fn relayed(&self) -> Option<Relayed> {
        let why = self.why_relayed.filter(|_| self.is_relayed())?;
        Some(Relayed {
            server: self.config.server,
            why,
        })
    }

    /// Whether the connection to the peer is still being opened: introduced, not yet
    /// connected, not failed.
    pub fn is_opening(&self) -> bool {
        matches!(self.phase, Phase::Direct { .. } | Phase::Relaying { .. })
    }

    /// What the client counted.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// A rendezvous message arrived from `from` (a datagram for which
    /// [`is_rendezvous`](super::message::is_rendezvous) holds). Only messages from the server
    /// that echo our nonce count; the rest are counted and dropped. Returns the Ferry
    /// datagram a RELAY carried from the peer, for the endpoint to take as from the peer.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Option<&'a [u8]> {
        let Ok(message) = Message::parse(datagram) else {
            self.stats.malformed += 1;
            return None;
        };
        // A KNOCK comes from the peer, never from the server (section 9.4).
        if message.body == Body::Knock {
            self.knocked(None, from);
            return None;
        }
        // A reply is believed only from the server's address, echoing our nonce
        // (docs/protocol.md section 9.5): a forger elsewhere cannot redirect us.
        if from != self.config.server || message.nonce != self.nonce {
            self.stats.rejected += 1;
            return None;
        }
        match message.body {
            Body::Waiting { observed } => {
                self.last_answer = Some(now);
                if self.phase == Phase::Registering {
                    self.phase = Phase::Waiting {
                        observed,
                        since: now,
                    };
                    self.register_at = Some(now + WAIT_REFRESH);
                    self.events.push_back(Event::Waiting { observed });
                    // The answer shows a REGISTER went through our NAT, so its mapping is
                    // older than the PROBE's (`send_probe`).
                    self.send_probe();
                }
                None
            }
            Body::Introduce {
                observed,
                peer,
                mappings,
            } => {
                self.last_answer = Some(now);
                if matches!(self.phase, Phase::Registering | Phase::Waiting { .. }) {
                    self.mappings = mappings;
                    let role = mappings.and_then(Role::choose);
                    self.birthday = role
                        .zip(self.config.birthday)
                        .map(|(role, size)| Birthday::new(now, role, size, peer, self.nonce));
                    self.phase = Phase::Direct {
                        peer,
                        since: now,
                        until: now + self.config.direct_timeout,
                    };
                    // Registered until the path is known: the relay may be needed.
                    self.register_at = self.config.relay.then(|| now + RELAY_REFRESH);
                    self.events.push_back(Event::Introduced { observed, peer });
                }
                None
            }
            Body::Refused { reason } => {
                self.last_answer = Some(now);
                if matches!(self.phase, Phase::Registering | Phase::Waiting { .. }) {
                    // Refused, we hold nothing there: an UNREGISTER would be for nothing.
                    self.may_be_registered = false;
                    self.fail(
                        now,
                        PunchError::Refused {
                            server: self.config.server,
                            name: self.config.name.clone(),
                            reason,
                        },
                    );
                }
                None
            }
            Body::Relay { payload } => {
                self.last_answer = Some(now);
                match self.phase {
                    // The peer gave up on the direct path: follow it, so that both ends'
                    // datagrams take the same path. (It gives up only if nothing of ours
                    // reached it, so it cannot be connected directly to us.)
                    Phase::Direct { peer, since, .. } => {
                        // Rounded to the millisecond, for the error message.
                        let lasted = Duration::from_millis(
                            u64::try_from(now.saturating_duration_since(since).as_millis())
                                .unwrap_or(u64::MAX),
                        );
                        let why = self.measured_block().unwrap_or(DirectFailure::PeerSwitched);
                        self.switch_to_relay(now, peer, lasted, why);
                    }
                    Phase::Relaying { .. } | Phase::Connected { .. } => {}
                    _ => return None,
                }
                self.stats.relayed_in += 1;
                Some(payload)
            }
            // A request sent to us: nobody but a confused or hostile sender does that. (A
            // KNOCK comes from the peer, not the server: the endpoint gives it to
            // `knocked`.)
            Body::Register { .. } | Body::Unregister | Body::Probe { .. } | Body::Knock => {
                self.stats.rejected += 1;
                None
            }
        }
    }

    /// A Ferry datagram came from `from` while the connection is being opened: the
    /// endpoint takes it if it came from the peer's public endpoint. From the peer's IP
    /// address but another port, it is evidence for the error message: the peer's NAT maps
    /// each destination to a new port.
    pub fn heard_directly(&mut self, from: SocketAddr) {
        match self.peer() {
            Some(peer) if peer == from => {
                self.heard_directly = true;
                // Behind the random NAT, the peer chose our own socket: that is the pair.
                let opening = self.is_opening();
                if let Some(birthday) = self.birthday.as_mut().filter(|_| opening) {
                    birthday.reached(None, from, false);
                }
            }
            Some(peer) if peer.ip() == from.ip() => self.other_port_seen = Some(from),
            _ => {}
        }
    }

    /// A valid SYN came from `from`, the peer's IP address at another port than the server
    /// saw, while the connection is being opened directly: the peer's NAT gave the SYNs it
    /// sends us a port of their own (address- or address-and-port-dependent mapping, RFC
    /// 4787 section 4.1), and ours let them in (its filtering is endpoint-independent, or
    /// address-dependent and we have sent to that address). The peer is reached at `from`
    /// from now on, and its datagrams from there are taken as from its public endpoint
    /// ([`taken_as_from`](Self::taken_as_from), [`wrap`](Self::wrap)), so the connection's
    /// answers cross the mapping the peer's SYN opened (docs/protocol.md section 9.3,
    /// "Retargeting"). Returns whether the client took it: only during the direct attempt,
    /// only from the peer's IP address, and only once.
    pub fn retarget(&mut self, from: SocketAddr) -> bool {
        let Phase::Direct { peer, .. } = self.phase else {
            return false;
        };
        if peer.ip() != from.ip() || peer == from || self.retargeted.is_some() {
            return false;
        }
        self.retargeted = Some((peer, from));
        self.heard_directly = true;
        // Facing a random NAT, this port is the pair birthday probing looked for.
        if let Some(birthday) = &mut self.birthday {
            birthday.reached(None, from, false);
        }
        self.events.push_back(Event::Retargeted {
            seen: peer,
            actual: from,
        });
        true
    }

    /// Birthday probing, if this punch does it (docs/protocol.md section 9.4).
    pub fn birthday(&self) -> Option<&Birthday> {
        self.birthday.as_ref()
    }

    /// How many side sockets the driver is to open beside the punch's own, numbered from 0,
    /// for birthday probing: `sockets - 1` behind the random NAT, none otherwise. A driver
    /// opens them once, when this first says so, and closes each as soon as
    /// [`keeps_side`](Self::keeps_side) says no; it never opens them again.
    pub fn side_sockets(&self) -> usize {
        self.birthday.as_ref().map_or(0, Birthday::side_sockets)
    }

    /// Whether side socket `side` is still of use: all of them while the direct attempt
    /// searches, then only the one the connection chose, for as long as the punch lives
    /// (past the connection's close: its last segments, TIME-WAIT's ACK of a FIN sent
    /// again, go from it; the driver closes it with the socket).
    pub fn keeps_side(&self, side: usize) -> bool {
        let searching = matches!(self.phase, Phase::Direct { .. });
        !matches!(self.phase, Phase::Failed(_))
            && self
                .birthday
                .as_ref()
                .is_some_and(|birthday| birthday.keeps_side(side, searching))
    }

    /// The side socket through which the connection's datagrams to `destination` go, if
    /// birthday probing found the pair on one.
    pub fn side_for(&self, destination: SocketAddr) -> Option<usize> {
        self.birthday.as_ref()?.side_for(destination)
    }

    /// A KNOCK from `from` reached our socket `side` (`None`: the punch's own): during the
    /// direct attempt, if it is the peer's ([`Birthday::reached`]) the peer is heard; facing
    /// the random NAT we retarget to the port it came from, so the connection's SYNs go
    /// through the mapping that sent it; behind it, we answer it. Anything else is counted
    /// as rejected.
    pub fn knocked(&mut self, side: Option<usize>, from: SocketAddr) {
        let opening = matches!(self.phase, Phase::Direct { .. });
        let Some(birthday) = self.birthday.as_mut().filter(|_| opening) else {
            self.stats.rejected += 1;
            return;
        };
        if !birthday.reached(side, from, true) {
            self.stats.rejected += 1;
            return;
        }
        let role = birthday.role();
        self.stats.knocks_received += 1;
        self.heard_directly = true;
        if role == Role::Knock {
            self.retarget(from);
        }
    }

    /// A Ferry datagram from `from` reached side socket `side`: whether the connection is to
    /// take it (it comes from the peer, to the side socket birthday probing found, or marks
    /// it now).
    pub fn side_datagram(&mut self, side: usize, from: SocketAddr) -> bool {
        let searching = matches!(self.phase, Phase::Direct { .. });
        let Some(birthday) = self.birthday.as_mut() else {
            return false;
        };
        if birthday.hit().is_none() && !searching {
            return false;
        }
        let taken = birthday.reached(Some(side), from, false);
        if taken && searching {
            self.heard_directly = true;
        }
        taken
    }

    /// The next KNOCK to send, from a side socket (`from_side`) or from the punch's own.
    pub fn poll_knock(&mut self, from_side: bool) -> Option<(Option<usize>, Transmit)> {
        let (side, destination) = self.birthday.as_mut()?.poll_knock(from_side)?;
        self.stats.knocks_sent += 1;
        let knock = Message {
            nonce: self.nonce,
            body: Body::Knock,
        };
        Some((
            side,
            Transmit {
                destination,
                contents: knock.to_bytes(),
            },
        ))
    }

    /// What blocked the direct path, as far as the server's view of the two NATs and birthday
    /// probing tell: a random NAT that probing did not get through, or two NATs that map
    /// per destination.
    fn measured_block(&self) -> Option<DirectFailure> {
        if let Some(birthday) = self.birthday.as_ref().filter(|b| b.hit().is_none()) {
            let tried = birthday.tried();
            return Some(DirectFailure::RandomPorts {
                ours: tried.role == Role::Open,
                tried: Some(tried),
            });
        }
        let mappings = self.mappings?;
        if mappings.yours.per_destination() && mappings.peers.per_destination() {
            return Some(DirectFailure::BothPerDestination);
        }
        // A pair birthday probing would try, where this side does not probe.
        let role = Role::choose(mappings).filter(|_| self.birthday.is_none())?;
        Some(DirectFailure::RandomPorts {
            ours: role == Role::Open,
            tried: None,
        })
    }

    /// Where the peer's datagrams really come from, if its SYN came from another port than
    /// the server saw ([`retarget`](Self::retarget)).
    pub fn retargeted(&self) -> Option<SocketAddr> {
        self.retargeted.map(|(_, actual)| actual)
    }

    /// The address a Ferry datagram from `from` is taken as from: the peer's public endpoint
    /// if `from` is where the client retargeted to, `from` itself otherwise. (Still so once
    /// the client is done: the connection's last segments may come after.)
    pub fn taken_as_from(&self, from: SocketAddr) -> SocketAddr {
        match self.retargeted {
            Some((seen, actual)) if actual == from => seen,
            _ => from,
        }
    }

    /// An ICMP error said nothing listens where a datagram to `destination` went. About the
    /// server, it goes into the error message; the client keeps trying, since ICMP can be
    /// forged. Returns whether it was about the server.
    pub fn handle_unreachable(&mut self, destination: SocketAddr) -> bool {
        let about_server = destination == self.config.server;
        if about_server {
            self.server_unreachable = true;
        }
        about_server
    }

    /// The connection to the peer is established: directly, unless the client relays. A
    /// direct one needs the server no more, and the client unregisters at once, freeing its
    /// name; a relayed one keeps its registration until [`closed`](Self::closed).
    pub fn connected(&mut self, now: Instant) {
        let Some(peer) = self.peer() else {
            return;
        };
        if matches!(self.phase, Phase::Connected { .. }) {
            return;
        }
        let relayed = self.is_relayed();
        self.phase = Phase::Connected { peer, relayed };
        if !relayed {
            self.register_at = None;
            self.unregister(now);
        }
    }

    /// The connection closed (or was given up on): unregister, send nothing more.
    pub fn closed(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Finished | Phase::Failed(_)) {
            return;
        }
        self.phase = Phase::Finished;
        self.register_at = None;
        self.unregister(now);
    }

    /// Wrap a Ferry datagram for the peer into a RELAY to the server, if the client relays;
    /// otherwise give it back, addressed to where the peer's datagrams really come from if
    /// the client retargeted ([`retarget`](Self::retarget)).
    pub fn wrap(&mut self, destination: SocketAddr, datagram: Vec<u8>) -> (SocketAddr, Vec<u8>) {
        if !self.is_relayed() || self.peer() != Some(destination) {
            let destination = match self.retargeted {
                Some((seen, actual)) if seen == destination => actual,
                _ => destination,
            };
            return (destination, datagram);
        }
        self.stats.relayed_out += 1;
        let relay = Message {
            nonce: self.nonce,
            body: Body::Relay { payload: &datagram },
        };
        (self.config.server, relay.to_bytes())
    }

    /// Run the timers due by `now`: a REGISTER to send again, a stage that ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline().is_some_and(|deadline| deadline <= now) {
            self.stage_ran_out(now);
        }
        let opening = self.is_opening();
        if let Some(birthday) = self.birthday.as_mut().filter(|_| opening) {
            birthday.handle_timeout(now);
        }
        if self.register_at.is_some_and(|at| at <= now) {
            self.send_register(now);
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let birthday = self
            .birthday
            .as_ref()
            .filter(|_| matches!(self.phase, Phase::Direct { .. }))
            .and_then(Birthday::poll_timeout);
        [self.deadline(), self.register_at, birthday]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the current stage runs out.
    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Registering => Some(self.started + SERVER_TIMEOUT),
            Phase::Waiting { since, .. } => {
                let server_silent = self.last_answer.unwrap_or(since) + SERVER_TIMEOUT;
                Some(server_silent.min(since + self.config.peer_wait))
            }
            Phase::Direct { until, .. } => Some(until),
            Phase::Relaying { since, .. } => Some(since + self.config.relay_timeout),
            Phase::Connected { .. } | Phase::Finished | Phase::Failed(_) => None,
        }
    }

    fn stage_ran_out(&mut self, now: Instant) {
        match self.phase.clone() {
            Phase::Registering => {
                let error = self.server_silent();
                self.fail(now, error);
            }
            Phase::Waiting { since, .. } => {
                let last_answer = self.last_answer.unwrap_or(since);
                if last_answer + SERVER_TIMEOUT <= now {
                    let error = self.server_silent();
                    self.fail(now, error);
                } else {
                    self.fail(
                        now,
                        PunchError::PeerAbsent {
                            peer: self.config.peer.clone(),
                            waited: self.config.peer_wait,
                        },
                    );
                }
            }
            Phase::Direct { peer, since, until } => {
                let why = match (self.measured_block(), self.other_port_seen) {
                    (Some(why), _) => why,
                    (None, Some(seen)) => DirectFailure::PeerPortChanged { seen },
                    (None, None) => DirectFailure::NothingHeard,
                };
                let extended = until > since + self.config.direct_timeout;
                if extended {
                    self.fail(
                        now,
                        PunchError::NoPath {
                            peer,
                            direct: (until - since, DirectFailure::Unfinished),
                            relay: RelayAttempt::NotTried,
                        },
                    );
                } else if self.heard_directly {
                    // The peer's datagrams get through, so the path works at least this way,
                    // and the peer, perhaps a round trip from done, stays direct: the relay
                    // would split the two ends. The handshake goes on for as long as a
                    // relayed one would have had. (If ours do not get through, the peer
                    // switches, and its first RELAY switches us.)
                    self.phase = Phase::Direct {
                        peer,
                        since,
                        until: until + self.config.relay_timeout,
                    };
                } else if self.config.relay {
                    self.switch_to_relay(now, peer, until - since, why);
                } else {
                    self.fail(
                        now,
                        PunchError::NoPath {
                            peer,
                            direct: (until - since, why),
                            relay: RelayAttempt::Off,
                        },
                    );
                }
            }
            Phase::Relaying { peer, direct, .. } => self.fail(
                now,
                PunchError::NoPath {
                    peer,
                    direct,
                    relay: RelayAttempt::NoAnswer(self.config.relay_timeout),
                },
            ),
            Phase::Connected { .. } | Phase::Finished | Phase::Failed(_) => {}
        }
    }

    /// Give up on the direct path, tried for `lasted`, for `why`.
    fn switch_to_relay(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        lasted: Duration,
        why: DirectFailure,
    ) {
        self.phase = Phase::Relaying {
            peer,
            direct: (lasted, why),
            since: now,
        };
        self.register_at = Some(now + RELAY_REFRESH);
        self.why_relayed = Some(why);
        self.events.push_back(Event::Relaying { why });
    }

    fn server_silent(&self) -> PunchError {
        PunchError::ServerSilent {
            server: self.config.server,
            waited: SERVER_TIMEOUT,
            rejected: self.stats.rejected,
            unreachable: self.server_unreachable,
        }
    }

    fn fail(&mut self, now: Instant, error: PunchError) {
        self.phase = Phase::Failed(error.clone());
        self.register_at = None;
        self.unregister(now);
        self.events.push_back(Event::Failed(error));
    }

    fn send_register(&mut self, now: Instant) {
        let register = Message {
            nonce: self.nonce,
            body: Body::Register {
                name: &self.config.name,
                peer: &self.config.peer,
                probing: self.probe_address().is_some(),
                reads_mappings: true,
            },
        };
        self.queue(register.to_bytes());
        self.stats.registers_sent += 1;
        self.may_be_registered = true;
        // Once answered and until introduced, a PROBE to the server's second port right
        // after (the first went when the answer came, `send_probe`).
        if matches!(self.phase, Phase::Waiting { .. }) {
            self.send_probe();
        }
        self.register_at = match self.phase {
            Phase::Registering => {
                let at = now + self.register_interval;
                self.register_interval = (self.register_interval * 2).min(REGISTER_RETRY_MAX);
                Some(at)
            }
            Phase::Waiting { .. } => Some(now + WAIT_REFRESH),
            Phase::Direct { .. } | Phase::Relaying { .. } => Some(now + RELAY_REFRESH),
            Phase::Connected { relayed: true, .. } => Some(now + RELAY_REFRESH),
            Phase::Connected { relayed: false, .. } | Phase::Finished | Phase::Failed(_) => None,
        };
    }

    /// Send a PROBE to the server's second port, if the client probes: a second mapping,
    /// whose port tells the server how our NAT assigns them (docs/protocol.md section 9.4,
    /// "Port prediction"). Only once the server has answered a REGISTER: a REGISTER lost
    /// before our NAT would leave the PROBE's mapping older than the REGISTER's (made by a
    /// later REGISTER), and the server, taking the step from the REGISTER's port to the
    /// PROBE's, would predict backwards.
    fn send_probe(&mut self) {
        if let Some(destination) = self.probe_address() {
            let probe = Message {
                nonce: self.nonce,
                body: Body::Probe {
                    name: &self.config.name,
                },
            };
            self.queue_to(destination, probe.to_bytes());
            self.stats.probes_sent += 1;
        }
    }

    /// Send one UNREGISTER if the server may hold our registration. Best effort: if it is
    /// lost, the registration lapses after the server's lifetime.
    fn unregister(&mut self, _now: Instant) {
        if self.may_be_registered {
            self.may_be_registered = false;
            let unregister = Message {
                nonce: self.nonce,
                body: Body::Unregister,
            };
            self.queue(unregister.to_bytes());
        }
    }

    /// The server's probe port (its port plus [`PROBE_PORT_OFFSET`]), if the client probes
    /// and the server's port is not the last.
    fn probe_address(&self) -> Option<SocketAddr> {
        if !self.config.probe {
            return None;
        }
        let port = self.config.server.port().checked_add(PROBE_PORT_OFFSET)?;
        Some(SocketAddr::new(self.config.server.ip(), port))
    }

    fn queue(&mut self, contents: Vec<u8>) {
        self.queue_to(self.config.server, contents);
    }

    fn queue_to(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        if self.transmits.len() < MAX_QUEUED {
            self.transmits.push_back(Transmit {
                destination,
                contents,
            });
        }
    }
}
