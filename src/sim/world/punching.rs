//! Hole punching in a world, as the lecture draws it: [`lecture_world`] puts peer 1 at
//! 192.168.1.2 behind NAT 1.2.3.4, peer 2 at 10.0.0.2 behind NAT 4.5.6.7 and a rendezvous
//! server at 7.7.7.7 on the public side; [`punch_once`] runs one punch there, port 4000 to
//! port 5000, and says how it went; [`success_matrix`] runs it for every pair of NAT
//! behaviours over many seeds (docs/performance.md, "Hole punching").
//!
//! The peers are [`Stream::punch_from`] and the server is [`RendezvousServer`]: the
//! rendezvous protocol and the punch are those of real sockets (docs/protocol.md section 9).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::net::{RendezvousServer, Stream};
use super::programs::{read_some, shutdown, write_all};
use super::time::{elapsed, sleep};
use super::{ConfigError, Dependence, Nat, NatConfig, PortAssignment, Preset, RunError, World};
use crate::conn::Config;
use crate::fault::FaultConfig;
use crate::link::LinkConfig;
use crate::rendezvous::birthday::{self, BirthdaySize};
use crate::rendezvous::{PunchConfig, ServerConfig};

/// The rendezvous server's address in [`lecture_world`].
pub const RENDEZVOUS: &str = "7.7.7.7:7000";

/// When peer 2 starts its punch: 1 s after peer 1, which waits for it at the rendezvous (as
/// the lecture tells it, peer 1 is there first).
pub const PEER_2_START: Duration = Duration::from_secs(1);

/// The lecture's world:
///
/// ```text
/// peer1 192.168.1.2 -5ms- nat1 1.2.3.4 -10ms- internet 7.7.7.1 -10ms- nat2 4.5.6.7
///                                                  |5ms                      |30ms
///                                       rendezvous 7.7.7.7            peer2 10.0.0.2
/// ```
///
/// Each link 10 Mbit/s with `faults` on both directions; the delays are one way. Peer 2's
/// own link is the slow one (a long wireless or DSL hop), so that, introduced by the
/// server at about the same moment, peer 1's first SYN reaches NAT 4.5.6.7 before peer 2's
/// first SYN has left it: the lecture's order. The connections run on the defaults but
/// for timestamps (RFC 7323), off: the lecture's times (docs/lab.md, exercise 18, and its
/// ladder) were measured with SYNs that carried none, which change the times by the option's
/// 12 octets.
pub fn lecture_world(
    seed: u64,
    nat1: impl Into<NatConfig>,
    nat2: impl Into<NatConfig>,
    faults: &FaultConfig,
) -> Result<World, ConfigError> {
    let link = |delay_ms: u64| LinkConfig {
        delay: Duration::from_millis(delay_ms),
        faults: faults.clone(),
        ..LinkConfig::default()
    };
    World::builder()
        .seed(seed)
        .connection_config(Config {
            timestamps: false,
            ..Config::default()
        })
        .host("peer1", "192.168.1.2")
        .router("nat1", "1.2.3.4")
        .address("nat1", "192.168.1.1")
        .router("internet", "7.7.7.1")
        .host("rendezvous", "7.7.7.7")
        .router("nat2", "4.5.6.7")
        .address("nat2", "10.0.0.1")
        .host("peer2", "10.0.0.2")
        .link("peer1", "nat1", link(5))
        .link("nat1", "internet", link(10))
        .link("internet", "rendezvous", link(5))
        .link("internet", "nat2", link(10))
        .link("nat2", "peer2", link(30))
        .route("nat1", "0.0.0.0/0", "internet")
        .route("nat2", "0.0.0.0/0", "internet")
        .route("internet", "1.2.3.4/32", "nat1")
        .route("internet", "4.5.6.7/32", "nat2")
        .middlebox("nat1", Nat::new("internet", nat1))
        .middlebox("nat2", Nat::new("internet", nat2))
        .build()
}

/// How one side of a punch went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerOutcome {
    /// When its connection was established (world time), if it was.
    pub established: Option<Duration>,
    /// Whether it went through the relay.
    pub relayed: bool,
    /// If it went through the relay, what blocked the direct path, in a user's words (the
    /// text `ferry cat` prints in brackets).
    pub why_relayed: Option<String>,
    /// The SYNs (and SYN-ACKs) it sent until then: 1 if the first got through.
    pub attempts: u64,
    /// Whether the peer's message arrived whole.
    pub intact: bool,
    /// Why the punch or the exchange failed, if it did: one line.
    pub error: Option<String>,
}

/// How a punch between the lecture's two peers went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PunchOutcome {
    /// Peer 1's side.
    pub peer1: PeerOutcome,
    /// Peer 2's side.
    pub peer2: PeerOutcome,
}

impl PunchOutcome {
    /// Both ends connected and each received the other's message whole.
    pub fn connected(&self) -> bool {
        [&self.peer1, &self.peer2]
            .iter()
            .all(|peer| peer.established.is_some() && peer.intact)
    }

    /// Connected, and neither end through the relay.
    pub fn direct(&self) -> bool {
        self.connected() && !self.peer1.relayed && !self.peer2.relayed
    }

    /// How long from peer 2's start (both at the rendezvous) until both ends were
    /// established.
    pub fn time_to_established(&self) -> Option<Duration> {
        let both = self.peer1.established?.max(self.peer2.established?);
        Some(both.saturating_sub(PEER_2_START))
    }
}

/// The message each peer sends the other once connected.
fn message(peer: u8) -> Vec<u8> {
    format!("hello from peer {peer}").into_bytes()
}

/// Put the lecture's programs on `world` (from [`lecture_world`]): the rendezvous server on
/// port 7000, peer 1 punching from port 4000 as "peer1" at once and peer 2 from port 5000 as
/// "peer2" at [`PEER_2_START`]; once connected each sends "hello from peer N" and reads
/// the other's. `relay` says whether they may fall back to the server's relay, `probe`
/// whether they send PROBEs for port prediction ([`PunchConfig::probe`]). The outcome fills
/// in as the world runs.
pub fn lecture_programs(
    world: &mut World,
    relay: bool,
    probe: bool,
) -> Result<Rc<RefCell<PunchOutcome>>, ConfigError> {
    lecture_programs_with(world, |config| {
        config.relay = relay;
        config.probe = probe;
    })
}

/// [`lecture_programs`] with each peer's [`PunchConfig`] as `configure` leaves it (from
/// [`PunchConfig::new`]'s defaults): the relay, the PROBEs, birthday probing's sizes.
pub fn lecture_programs_with(
    world: &mut World,
    configure: impl Fn(&mut PunchConfig),
) -> Result<Rc<RefCell<PunchOutcome>>, ConfigError> {
    let outcome = Rc::new(RefCell::new(PunchOutcome::default()));
    world.host("rendezvous", || async {
        let mut server = RendezvousServer::bind(RENDEZVOUS, ServerConfig::default()).await?;
        Err(server.run(|_| {}).await.into())
    })?;
    let server = RENDEZVOUS.parse().expect("a socket address");
    for (peer, host, local, start) in [
        (1u8, "peer1", "0.0.0.0:4000", Duration::ZERO),
        (2, "peer2", "0.0.0.0:5000", PEER_2_START),
    ] {
        let (name, other) = match peer {
            1 => ("peer1", "peer2"),
            _ => ("peer2", "peer1"),
        };
        let mut config = PunchConfig::new(server, name, other);
        configure(&mut config);
        let outcome = Rc::clone(&outcome);
        world.client(host, async move {
            sleep(start).await;
            punch_and_talk(local, &config, peer, &outcome).await;
            Ok(())
        })?;
    }
    Ok(outcome)
}

/// Peer `peer`'s side of `outcome`.
fn side(outcome: &mut PunchOutcome, peer: u8) -> &mut PeerOutcome {
    match peer {
        1 => &mut outcome.peer1,
        _ => &mut outcome.peer2,
    }
}

/// Punch, then send our message and read the peer's, noting each step in our side of
/// `outcome` as it happens.
async fn punch_and_talk(
    local: &str,
    config: &PunchConfig,
    peer: u8,
    outcome: &Rc<RefCell<PunchOutcome>>,
) {
    let fail =
        |error: io::Error| side(&mut outcome.borrow_mut(), peer).error = Some(error.to_string());
    let mut stream = match Stream::punch_from(local, config).await {
        Ok(stream) => stream,
        Err(error) => return fail(error),
    };
    {
        let mut outcome = outcome.borrow_mut();
        let ours = side(&mut outcome, peer);
        ours.established = Some(elapsed());
        ours.relayed = stream.is_relayed();
        ours.why_relayed = stream.relayed().map(|relayed| relayed.why.to_string());
        // Before any data, the handshake's retransmissions are the timeouts so far.
        ours.attempts = 1 + stream.stats().rto_timeouts;
    }
    let exchange = async {
        write_all(&mut stream, &message(peer)).await?;
        shutdown(&mut stream).await?;
        // The peer's message, to its end; a longer one is not the message.
        let mut received = Vec::new();
        let mut buffer = [0u8; 64];
        loop {
            match read_some(&mut stream, &mut buffer).await? {
                0 => break,
                count if received.len() + count <= buffer.len() => {
                    received.extend_from_slice(&buffer[..count])
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "too long a message",
                    ))
                }
            }
        }
        Ok::<_, io::Error>(received)
    };
    match exchange.await {
        Ok(received) => {
            side(&mut outcome.borrow_mut(), peer).intact = received == message(3 - peer)
        }
        Err(error) => fail(error),
    }
}

/// Why an experiment could not run: the world's description, or its run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExperimentError {
    /// The world could not be built (a NAT's settings).
    Config(ConfigError),
    /// The run failed (a program panicked, a limit came).
    Run(RunError),
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExperimentError::Config(error) => error.fmt(f),
            ExperimentError::Run(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ExperimentError {}

impl From<ConfigError> for ExperimentError {
    fn from(error: ConfigError) -> Self {
        ExperimentError::Config(error)
    }
}

impl From<RunError> for ExperimentError {
    fn from(error: RunError) -> Self {
        ExperimentError::Run(error)
    }
}

/// Run one punch in the lecture's world with NATs `nat1` and `nat2` and `faults` on every
/// link, from `seed`.
pub fn punch_once(
    seed: u64,
    nat1: impl Into<NatConfig>,
    nat2: impl Into<NatConfig>,
    faults: &FaultConfig,
) -> Result<PunchOutcome, ExperimentError> {
    let mut world = lecture_world(seed, nat1, nat2, faults)?;
    let outcome = lecture_programs(&mut world, true, true)?;
    world.run()?;
    let outcome = outcome.borrow().clone();
    Ok(outcome)
}

/// One step of [`lecture_walkthrough`]: what changed at a moment, and both mapping tables
/// after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When (world time).
    pub at: Duration,
    /// What changed, a line each: a NAT made or forgot a row, dropped a datagram, a peer's
    /// connection was established.
    pub changes: Vec<String>,
    /// Both NATs' tables after it, in the lecture's form.
    pub tables: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{:.6} s: {change}", self.at.as_secs_f64())?;
        }
        f.write_str(&self.tables)
    }
}

/// The rows of a NAT's table, without their expiry (which every datagram out refreshes).
fn rows(world: &World, nat: &str) -> Result<Vec<(String, String, String)>, ConfigError> {
    Ok(world
        .nat_table(nat)?
        .rows
        .iter()
        .map(|row| {
            (
                row.internal.to_string(),
                row.external.to_string(),
                row.remote.to_string(),
            )
        })
        .collect())
}

/// The lecture's example, step by step: `world` is [`lecture_world`] with
/// [`lecture_programs`] on it; it runs until both peers are connected (or both gave up),
/// and each time a NAT's table changes, a NAT drops a datagram or a peer connects, the step
/// is recorded with both tables after it. The world is left to finish with
/// [`World::run`].
pub fn lecture_walkthrough(
    world: &mut World,
    outcome: &Rc<RefCell<PunchOutcome>>,
) -> Result<Vec<Step>, ExperimentError> {
    const NATS: [(&str, &str); 2] = [("nat1", "NAT 1.2.3.4"), ("nat2", "NAT 4.5.6.7")];
    let mut steps = Vec::new();
    let mut before_rows = [rows(world, "nat1")?, rows(world, "nat2")?];
    let mut before_drops = [0u64; 2];
    let mut before_established = [false; 2];
    loop {
        let moved = world.step()?;
        let mut changes = Vec::new();
        for (index, (router, title)) in NATS.iter().enumerate() {
            let now_rows = rows(world, router)?;
            for (internal, external, remote) in &now_rows {
                if !before_rows[index].contains(&(
                    internal.clone(),
                    external.clone(),
                    remote.clone(),
                )) {
                    changes.push(format!(
                        "{title} maps {internal} to {external} for {remote}"
                    ));
                }
            }
            for (internal, external, remote) in &before_rows[index] {
                if !now_rows.contains(&(internal.clone(), external.clone(), remote.clone())) {
                    changes.push(format!(
                        "{title} forgot {internal} as {external} for {remote}"
                    ));
                }
            }
            before_rows[index] = now_rows;
            let drops: BTreeMap<String, u64> = world.router_stats(router)?.middlebox_drops;
            let total = drops.values().sum::<u64>();
            if total > before_drops[index] {
                let reasons: Vec<&str> = drops.keys().map(String::as_str).collect();
                changes.push(format!(
                    "{title} dropped {} datagram(s) ({} in all so far: {})",
                    total - before_drops[index],
                    total,
                    reasons.join(", ")
                ));
                before_drops[index] = total;
            }
        }
        let (established, done) = {
            let outcome = outcome.borrow();
            let sides = [&outcome.peer1, &outcome.peer2];
            (
                sides.map(|side| side.established.is_some()),
                sides
                    .iter()
                    .all(|side| side.established.is_some() || side.error.is_some()),
            )
        };
        for (index, now) in established.iter().enumerate() {
            if *now && !before_established[index] {
                changes.push(format!("peer {}'s connection is established", index + 1));
            }
        }
        before_established = established;
        if !changes.is_empty() {
            steps.push(Step {
                at: world.now(),
                changes,
                tables: format!("{}{}", world.nat_table("nat1")?, world.nat_table("nat2")?),
            });
        }
        if done || !moved {
            return Ok(steps);
        }
    }
}

/// How RFC 4787's rules say a pair of NATs can be punched, with what Ferry does
/// (docs/protocol.md section 9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Both NATs map endpoint-independently (section 4.1, REQ-1): each sends the SYNs from
    /// the endpoint the rendezvous saw, and each side's first SYN opens its own filter for
    /// the other's.
    Direct,
    /// One NAT maps each destination to a new port, but the other maps
    /// endpoint-independently and filters endpoint-independently or by address (section 5):
    /// the symmetric side's SYN gets in from a port nobody was told of, and the cone side
    /// answers there (retargeting).
    Retarget,
    /// One NAT (or both) maps each destination to the next port, and the other maps
    /// endpoint-independently or the same way: the rendezvous predicts the port the
    /// counting NAT gives the SYNs to the peer from the step between a REGISTER's port and
    /// a PROBE's, and the peer sends its SYNs there (docs/protocol.md section 9.4, "Port
    /// prediction").
    Predict,
    /// One NAT gives each destination a random port, and the other maps
    /// endpoint-independently but filters by port: birthday probing (docs/protocol.md
    /// section 9.4), direct with the chance [`birthday::success_probability`] gives, the relay
    /// otherwise.
    Birthday,
    /// No direct path the peers can find: the relay.
    Relay,
}

impl Route {
    /// What RFC 4787's rules predict for the pair `nat1`, `nat2`.
    pub fn predicted(nat1: Preset, nat2: Preset) -> Route {
        let [one, two] = [nat1, nat2].map(NatConfig::from);
        let independent = |nat: &NatConfig| nat.mapping == Dependence::EndpointIndependent;
        // A cone NAT whose filter lets in a port of the peer's address it has not sent to.
        let lets_in_other_ports = |nat: &NatConfig| {
            independent(nat) && nat.filtering != Dependence::AddressAndPortDependent
        };
        let counts = |nat: &NatConfig| !independent(nat) && nat.ports == PortAssignment::Sequential;
        let predictable = |nat: &NatConfig| independent(nat) || counts(nat);
        match (independent(&one), independent(&two)) {
            (true, true) => Route::Direct,
            _ if (counts(&one) || counts(&two)) && predictable(&one) && predictable(&two) => {
                Route::Predict
            }
            (true, false) if lets_in_other_ports(&one) => Route::Retarget,
            (false, true) if lets_in_other_ports(&two) => Route::Retarget,
            (true, false) | (false, true) => Route::Birthday,
            _ => Route::Relay,
        }
    }

    /// Whether the route is direct (no relay) whatever the ports: every route but
    /// [`Route::Birthday`], a matter of chance, and [`Route::Relay`].
    pub fn is_direct(self) -> bool {
        !matches!(self, Route::Birthday | Route::Relay)
    }

    /// The chance of a direct connection the rules give, loss apart: 1 for a direct route,
    /// none for the relay, and for [`Route::Birthday`] the birthday formula with the default
    /// sizes ([`BirthdaySize::default`]: 1 - exp(-256 x 1,024 / 64,512) = 98.3%).
    pub fn direct_chance(self) -> f64 {
        match self {
            Route::Birthday => {
                let size = BirthdaySize::default();
                birthday::success_probability(size.sockets, size.knocks)
            }
            Route::Relay => 0.0,
            _ => 1.0,
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Direct => "direct",
            Route::Retarget => "retarget",
            Route::Predict => "predict",
            Route::Birthday => "birthday",
            Route::Relay => "relay",
        })
    }
}

/// One cell of the success matrix: a pair of NATs over many seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixCell {
    /// Peer 1's NAT.
    pub nat1: Preset,
    /// Peer 2's NAT.
    pub nat2: Preset,
    /// Seeds run.
    pub runs: u64,
    /// Runs that connected directly.
    pub direct: u64,
    /// Runs that connected through the relay.
    pub relayed: u64,
    /// Runs that did not connect, with the first one's error.
    pub failed: u64,
    /// The first failure's seed and error, if any.
    pub first_failure: Option<(u64, String)>,
    /// Peer 1's attempts summed over the runs that connected.
    pub attempts: u64,
    /// Runs that connected directly on peer 1's first SYN.
    pub first_attempt: u64,
    /// Time to established, over the runs that connected: the sum and the longest.
    pub time_sum: Duration,
    /// The longest time to established.
    pub time_max: Duration,
}

impl MatrixCell {
    /// Runs that connected, directly or through the relay.
    pub fn connected(&self) -> u64 {
        self.direct + self.relayed
    }

    /// The share of runs that connected directly.
    pub fn direct_rate(&self) -> f64 {
        self.direct as f64 / self.runs.max(1) as f64
    }

    /// The share of connected runs that went through the relay.
    pub fn relayed_share(&self) -> f64 {
        self.relayed as f64 / self.connected().max(1) as f64
    }

    /// Peer 1's mean attempts over the connected runs.
    pub fn mean_attempts(&self) -> f64 {
        self.attempts as f64 / self.connected().max(1) as f64
    }

    /// The mean time to established over the connected runs.
    pub fn mean_time(&self) -> Duration {
        let connected = u32::try_from(self.connected().max(1)).unwrap_or(u32::MAX);
        self.time_sum / connected
    }

    /// What RFC 4787's rules predict for the pair ([`Route::predicted`]).
    pub fn predicted(&self) -> Route {
        Route::predicted(self.nat1, self.nat2)
    }
}

impl fmt::Display for MatrixCell {
    /// One line: the pair, the prediction, and the figures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<28} {:<28} {:<8} {:>6.1}% {:>6.1}% {:>8.2} {:>9.0} ms {:>7.0} ms {:>7.1}% {:>6}",
            self.nat1.title(),
            self.nat2.title(),
            self.predicted().to_string(),
            100.0 * self.direct_rate(),
            100.0 * self.first_attempt as f64 / self.runs.max(1) as f64,
            self.mean_attempts(),
            self.mean_time().as_secs_f64() * 1000.0,
            self.time_max.as_secs_f64() * 1000.0,
            100.0 * self.relayed_share(),
            self.failed,
        )
    }
}

/// The header of [`MatrixCell`]'s lines.
pub const MATRIX_HEADER: &str = concat!(
    "peer 1's NAT                 peer 2's NAT                 ",
    "RFC 4787  direct  first attempts  mean time  max time  relayed failed"
);

/// Every unordered pair of [`Preset::ALL`] (each with itself too), each run for `seeds`
/// seeds (1 to `seeds`) with `faults` on every link.
pub fn success_matrix(
    seeds: u64,
    faults: &FaultConfig,
) -> Result<Vec<MatrixCell>, ExperimentError> {
    let mut cells = Vec::new();
    for (i, &nat1) in Preset::ALL.iter().enumerate() {
        for &nat2 in &Preset::ALL[i..] {
            let mut cell = MatrixCell {
                nat1,
                nat2,
                runs: 0,
                direct: 0,
                relayed: 0,
                failed: 0,
                first_failure: None,
                attempts: 0,
                first_attempt: 0,
                time_sum: Duration::ZERO,
                time_max: Duration::ZERO,
            };
            for seed in 1..=seeds {
                let outcome = punch_once(seed, nat1, nat2, faults)?;
                cell.runs += 1;
                match outcome.time_to_established() {
                    Some(time) if outcome.connected() => {
                        if outcome.direct() {
                            cell.direct += 1;
                            cell.first_attempt += u64::from(outcome.peer1.attempts == 1);
                        } else {
                            cell.relayed += 1;
                        }
                        cell.attempts += outcome.peer1.attempts;
                        cell.time_sum += time;
                        cell.time_max = cell.time_max.max(time);
                    }
                    _ => {
                        cell.failed += 1;
                        if cell.first_failure.is_none() {
                            let error = [&outcome.peer1, &outcome.peer2]
                                .iter()
                                .find_map(|peer| peer.error.clone())
                                .unwrap_or_else(|| "a message arrived damaged".to_string());
                            cell.first_failure = Some((seed, error));
                        }
                    }
                }
            }
            cells.push(cell);
        }
    }
    Ok(cells)
}
