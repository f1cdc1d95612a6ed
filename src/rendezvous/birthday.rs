//! Birthday probing: through a NAT that gives each destination a new, random port, facing
//! one that maps endpoint-independently (docs/protocol.md section 9.4, "Birthday probing").
//!
//! Neither side can know the port the random NAT will give its SYNs, so both make guesses
//! meet by numbers, as the birthday paradox does: the side behind the random NAT opens `n`
//! sockets, each sending a KNOCK to the peer's public endpoint (so its NAT holds `n`
//! mappings toward the peer, each at a random port), and the other side sends a KNOCK to
//! `m` ports of the random NAT's address (each opening its own NAT's filter for that port,
//! RFC 4787 section 5). A KNOCK that finds one of the `n` mappings gets in; so does a KNOCK
//! from one of the `n` sockets whose port the other side knocked at first. The first to get
//! in marks the pair: the socket it reached (or came from) and the port it came from (or
//! reached) carry the handshake, and the other sockets close. Of the 64,512 ports from 1024
//! up, the `m` knocked ones miss all `n` mappings with probability about
//! exp(-n m / 64,512) ([`success_probability`]).
//!
//! This is Tailscale's technique ("How NAT traversal works", 2020), which opens 256 ports on
//! the hard side and probes up to 1,024 over a couple of seconds. The [`Birthday`] here keeps
//! the schedule and the outcome; the [`Client`](super::Client) says when and to whom, and
//! the endpoint, which owns the sockets through its driver, sends.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::message::{Mapping, Mappings};
use crate::time::Instant;

/// The sockets the side behind the random NAT opens, by default, counting the one the
/// punch registered from: 256, as Tailscale does. Each is a mapping in its NAT's table
/// (Linux keeps 65,536 flows by default, home routers some thousands) and a descriptor on
/// its host (of a default limit of 1,024); each lives at most the direct attempt.
pub const BIRTHDAY_SOCKETS: u16 = 256;

/// The ports the other side knocks at, by default: 1,024, Tailscale's most. With
/// [`BIRTHDAY_SOCKETS`], some KNOCK meets a mapping with probability
/// 1 - exp(-256 x 1,024 / 64,512) = 98.3%; 256 would give 64%. Each KNOCK is a filter entry
/// in its NAT for as long as the NAT keeps it, so a table of a few thousand holds them.
pub const BIRTHDAY_KNOCKS: u16 = 1024;

/// Each side sends its KNOCKs in batches of this many...
pub const KNOCK_BATCH: u16 = 16;

/// ...one batch this often: 1,000 KNOCKs a second (44 octets each on the wire: 352 kbit/s),
/// so the default 1,024 are out in 1.02 s, well inside the direct attempt's 3 s, with room
/// for the handshake after a late hit, and the other side's 255 in 0.26 s. A burst of all
/// at once would overflow the queue of the first link (a home router's is some tens of
/// datagrams): the simulated world's first try lost three in four of them so.
pub const KNOCK_BATCH_INTERVAL: Duration = Duration::from_millis(16);

/// When the side behind the random NAT knocks from every socket again, after the first
/// round at the introduction: 1.25 s, once the other side's KNOCKs are all out. The first
/// round opens the mappings; a KNOCK of the other side that reached the random NAT before
/// its mapping existed was dropped there, but opened the knocker's filter for that port, so
/// the second round's KNOCK from the socket behind it now gets through (and a first-round
/// KNOCK lost on the way is sent again).
pub const SECOND_ROUND: Duration = Duration::from_millis(1250);

/// The most KNOCKs the side behind the random NAT answers: 8, one for each that got in, so
/// that a lost answer is made good by the next, while a forger who can send from the peer's
/// address draws at most 8 datagrams of the size it sent.
pub const MAX_ANSWERS: usize = 8;

/// The ports a NAT assigns from (1024 to 65535): the `N` of the birthday formula.
pub const PORT_SPACE: u32 = 64_512;

/// The chance that `knocks` distinct ports out of [`PORT_SPACE`] meet at least one of
/// `sockets` mappings at random ports: about 1 - exp(-sockets x knocks / 64,512).
pub fn success_probability(sockets: u16, knocks: u16) -> f64 {
    1.0 - (-(f64::from(sockets) * f64::from(knocks)) / f64::from(PORT_SPACE)).exp()
}

/// How many sockets and KNOCKs a punch uses if it probes by the birthday paradox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BirthdaySize {
    /// Sockets opened behind the random NAT, counting the punch's own (at least 1).
    pub sockets: u16,
    /// Ports knocked at from the other side (at least 1).
    pub knocks: u16,
}

impl Default for BirthdaySize {
    fn default() -> BirthdaySize {
        BirthdaySize {
            sockets: BIRTHDAY_SOCKETS,
            knocks: BIRTHDAY_KNOCKS,
        }
    }
}

/// A side's part in birthday probing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Our NAT gives each destination a random port: open many sockets, each knocking at
    /// the peer's public endpoint.
    Open,
    /// The peer's does, and ours maps endpoint-independently: knock at many ports of the
    /// peer's address.
    Knock,
}

impl Role {
    /// Our part, if the two NATs, as the server saw them, call for birthday probing: one
    /// gives random ports and the other maps endpoint-independently. (A NAT that counts is
    /// predicted instead; two random ones leave nothing to meet: the relay.)
    pub fn choose(mappings: Mappings) -> Option<Role> {
        match (mappings.yours, mappings.peers) {
            (Mapping::Random, Mapping::Independent) => Some(Role::Open),
            (Mapping::Independent, Mapping::Random) => Some(Role::Knock),
            _ => None,
        }
    }
}

/// Where a KNOCK (or the peer's first datagram) got through: which socket of ours, and
/// from which of the peer's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Our side socket it reached, or `None` for the punch's own socket.
    pub side: Option<usize>,
    /// Where it came from.
    pub from: SocketAddr,
}

/// One punch's birthday probing: the schedule of its KNOCKs and where one got through.
#[derive(Clone, Debug)]
pub struct Birthday {
    role: Role,
    size: BirthdaySize,
    peer: SocketAddr,
    started: Instant,
    /// Open: the next side socket of the current round to knock from, those of the round
    /// not yet due, and how many rounds began.
    next_socket: u16,
    round_left: u16,
    rounds: u8,
    /// Knock: the KNOCKs sent.
    knocked: u16,
    /// KNOCKs due now, and when the next batch is.
    due: u16,
    next_batch: Option<Instant>,
    /// The walk over the port space: a start and a step prime to [`PORT_SPACE`], so that
    /// the KNOCKs go to distinct ports, in an order drawn from the client's nonce.
    walk: (u32, u32),
    hit: Option<Hit>,
    /// KNOCKs that answer those that got through, not yet sent, and how many went.
    answers: Vec<Hit>,
    answered: usize,
}

impl Birthday {
    /// Start at `now`, for `role`, toward `peer` (its public endpoint as the server said),
    /// with the walk drawn from `nonce`.
    pub fn new(now: Instant, role: Role, size: BirthdaySize, peer: SocketAddr, nonce: u64) -> Self {
        let size = BirthdaySize {
            sockets: size.sockets.max(1),
            knocks: size.knocks.max(1),
        };
        let start = (nonce % u64::from(PORT_SPACE)) as u32;
        let mut step = ((nonce >> 32) % u64::from(PORT_SPACE)) as u32 | 1;
        // 64,512 = 2^10 x 3^2 x 7: an odd step that 3 and 7 do not divide visits every port.
        while step % 3 == 0 || step % 7 == 0 {
            step += 2;
        }
        Birthday {
            role,
            size,
            peer,
            started: now,
            next_socket: 0,
            round_left: match role {
                Role::Open => size.sockets - 1,
                Role::Knock => 0,
            },
            rounds: 1,
            knocked: 0,
            due: 0,
            next_batch: Some(now),
            walk: (start, step),
            hit: None,
            answers: Vec::new(),
            answered: 0,
        }
    }

    /// Our part.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The sizes in use.
    pub fn size(&self) -> BirthdaySize {
        self.size
    }

    /// Where a KNOCK got through, if one did.
    pub fn hit(&self) -> Option<Hit> {
        self.hit
    }

    /// How many side sockets the driver is to open beside the punch's own: `sockets - 1`
    /// for [`Role::Open`], none for [`Role::Knock`].
    pub fn side_sockets(&self) -> usize {
        match self.role {
            Role::Open => usize::from(self.size.sockets - 1),
            Role::Knock => 0,
        }
    }

    /// Whether side socket `side` is still of use: before a hit, all are; after one, only
    /// the one it reached. (`searching` says whether the direct attempt still runs.)
    pub fn keeps_side(&self, side: usize, searching: bool) -> bool {
        match self.hit {
            Some(hit) => hit.side == Some(side),
            None => searching && side < self.side_sockets(),
        }
    }

    /// The side socket through which datagrams to `destination` go, if a hit chose one.
    pub fn side_for(&self, destination: SocketAddr) -> Option<usize> {
        self.hit
            .filter(|_| destination == self.peer)
            .and_then(|hit| hit.side)
    }

    /// A datagram (`knock`: a KNOCK) from `from` reached our socket `side` during the
    /// direct attempt. Returns whether it is the peer's and belongs to the pair.
    ///
    /// The side facing the random NAT chooses the pair: the first of the peer's datagrams
    /// from a port the server did not see (a KNOCK, or a SYN: [`Client::retarget`](super::Client::retarget))
    /// marks it, and its connection sends there from then on. Behind the random NAT, a KNOCK
    /// that got in is answered from the socket it reached (so the other side, if it has not
    /// chosen yet, learns that port at once), and the pair is the socket the other side's
    /// first Ferry datagram reaches: where it chose to send.
    pub fn reached(&mut self, side: Option<usize>, from: SocketAddr, knock: bool) -> bool {
        match self.role {
            Role::Open => {
                if from != self.peer {
                    return false;
                }
                if knock {
                    if self.hit.is_none() && self.answers.len() + self.answered < MAX_ANSWERS {
                        // One answer per KNOCK received, a few at most: nothing to amplify.
                        self.answers.push(Hit { side, from });
                    }
                    return true;
                }
                match self.hit {
                    None => {
                        self.hit = Some(Hit { side, from });
                        true
                    }
                    Some(hit) => hit.side == side,
                }
            }
            Role::Knock => {
                if side.is_some() || from.ip() != self.peer.ip() || from == self.peer {
                    return false;
                }
                match self.hit {
                    None => {
                        self.hit = Some(Hit { side, from });
                        true
                    }
                    Some(hit) => hit.from == from,
                }
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.hit.is_some() {
            return None;
        }
        let second_round =
            (self.role == Role::Open && self.rounds < 2).then_some(self.started + SECOND_ROUND);
        [self.next_batch, second_round].into_iter().flatten().min()
    }

    /// Run the schedule due by `now`: the second round, and the next batch of KNOCKs (both
    /// sides pace theirs: a burst of hundreds would overflow the first link's queue).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hit.is_some() {
            return;
        }
        if self.role == Role::Open && self.rounds < 2 && now >= self.started + SECOND_ROUND {
            self.rounds = 2;
            self.next_socket = 0;
            self.round_left = self.size.sockets - 1;
            self.due = 0;
            self.next_batch = Some(now);
        }
        if self.next_batch.is_some_and(|at| at <= now) {
            let left = match self.role {
                Role::Open => self.round_left,
                Role::Knock => self.size.knocks - self.knocked - self.due,
            };
            let batch = left.min(KNOCK_BATCH);
            self.due += batch;
            if self.role == Role::Open {
                self.round_left -= batch;
            }
            self.next_batch = (left > KNOCK_BATCH).then(|| now + KNOCK_BATCH_INTERVAL);
        }
    }

    /// The next KNOCK to send now from a side socket (`from_side`: which one) or from the
    /// punch's own socket (`None`), and where to. The opener knocks from its side sockets
    /// only: its own socket's SYNs to the peer already hold a mapping toward it.
    pub fn poll_knock(&mut self, from_side: bool) -> Option<(Option<usize>, SocketAddr)> {
        if let Some(at) = self
            .answers
            .iter()
            .position(|answer| answer.side.is_some() == from_side)
        {
            let answer = self.answers.remove(at);
            self.answered += 1;
            return Some((answer.side, answer.from));
        }
        if self.hit.is_some() {
            return None;
        }
        match (self.role, from_side) {
            (Role::Open, true) => {
                let side = usize::from(self.next_socket);
                if self.due == 0 || side >= self.side_sockets() {
                    return None;
                }
                self.due -= 1;
                self.next_socket += 1;
                Some((Some(side), self.peer))
            }
            (Role::Knock, false) => {
                if self.due == 0 {
                    return None;
                }
                self.due -= 1;
                let (start, step) = self.walk;
                let offset = u64::from(self.knocked) * u64::from(step) % u64::from(PORT_SPACE);
                let index = (u64::from(start) + offset) % u64::from(PORT_SPACE);
                self.knocked += 1;
                let port = u16::try_from(1024 + index).unwrap_or(u16::MAX);
                Some((None, SocketAddr::new(self.peer.ip(), port)))
            }
            _ => None,
        }
    }

    /// What the probing did, for an error message: sockets opened and ports knocked at.
    pub fn tried(&self) -> Tried {
        Tried {
            role: self.role,
            sockets: self.size.sockets,
            knocks: self.size.knocks,
        }
    }
}

/// What birthday probing tried, when no KNOCK got through: it names what blocked the
/// direct path ([`DirectFailure::RandomPorts`](super::DirectFailure::RandomPorts)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tried {
    /// Our part.
    pub role: Role,
    /// The sockets behind the random NAT.
    pub sockets: u16,
    /// The ports knocked at.
    pub knocks: u16,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Tried {
            role,
            sockets,
            knocks,
        } = *self;
        let count = |n: u16, what: &str| match n {
            1 => format!("1 {what}"),
            n => format!("{n} {what}s"),
        };
        let (probes, mappings) = (count(knocks, "probe"), count(sockets, "mapping"));
        let chance = 100.0 * success_probability(sockets, knocks);
        let chance = match chance {
            chance if chance < 1.0 => "under 1%".to_string(),
            chance => format!("{chance:.0}%"),
        };
        match role {
            Role::Knock => write!(
                f,
                "{probes} at its ports met none of its {mappings} toward us (a chance of \
                 {chance} to meet one)"
            ),
            Role::Open => write!(
                f,
                "none of the peer's {probes} met our {mappings} toward it (a chance of \
                 {chance} to meet one)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_knocker_walks_distinct_ports_in_paced_batches() {
        let peer = addr("4.5.6.7:5000");
        let size = BirthdaySize {
            sockets: 4,
            knocks: 40,
        };
        let mut birthday = Birthday::new(Instant::ZERO, Role::Knock, size, peer, 0xdead_beef_1234);
        let mut ports = BTreeSet::new();
        let mut now = Instant::ZERO;
        let mut batches = 0;
        while let Some(at) = birthday.poll_timeout() {
            now = at;
            birthday.handle_timeout(now);
            batches += 1;
            assert_eq!(
                birthday.poll_knock(true),
                None,
                "the knocker has no side sockets"
            );
            while let Some((side, to)) = birthday.poll_knock(false) {
                assert_eq!((side, to.ip()), (None, peer.ip()));
                assert!(to.port() >= 1024);
                ports.insert(to.port());
            }
        }
        assert_eq!(ports.len(), 40, "40 distinct ports");
        assert_eq!(batches, 3, "16 + 16 + 8");
        assert_eq!(now, Instant::ZERO + 2 * KNOCK_BATCH_INTERVAL);
    }

    #[test]
    fn the_opener_knocks_from_every_socket_twice_and_keeps_the_one_that_was_reached() {
        let peer = addr("1.2.3.4:4000");
        let size = BirthdaySize {
            sockets: 3,
            knocks: 9,
        };
        let mut birthday = Birthday::new(Instant::ZERO, Role::Open, size, peer, 7);
        assert_eq!(birthday.side_sockets(), 2);
        birthday.handle_timeout(Instant::ZERO);
        assert_eq!(
            birthday.poll_knock(false),
            None,
            "its own socket sends SYNs"
        );
        let first: Vec<_> = std::iter::from_fn(|| birthday.poll_knock(true)).collect();
        assert_eq!(first, [(Some(0), peer), (Some(1), peer)]);
        assert_eq!(birthday.poll_timeout(), Some(Instant::ZERO + SECOND_ROUND));
        birthday.handle_timeout(Instant::ZERO + SECOND_ROUND);
        assert_eq!(std::iter::from_fn(|| birthday.poll_knock(true)).count(), 2);
        // A stranger's KNOCK is nobody's; the peer's KNOCK on side 1 is answered from there,
        // and the pair is where the peer's first Ferry datagram comes: side 1 again.
        assert!(!birthday.reached(Some(0), addr("9.9.9.9:1"), true));
        assert!(birthday.reached(Some(1), peer, true));
        assert_eq!(birthday.hit(), None);
        assert_eq!(birthday.poll_knock(false), None);
        assert_eq!(birthday.poll_knock(true), Some((Some(1), peer)));
        assert_eq!(birthday.poll_knock(true), None);
        assert!(birthday.reached(Some(1), peer, false));
        assert!(
            !birthday.reached(Some(0), peer, false),
            "another socket: not the pair"
        );
        assert!(birthday.keeps_side(1, true) && !birthday.keeps_side(0, true));
        assert_eq!(birthday.side_for(peer), Some(1));
        assert_eq!(birthday.poll_timeout(), None);
        for _ in 0..2 * MAX_ANSWERS {
            birthday.reached(Some(1), peer, true);
        }
        assert_eq!(
            std::iter::from_fn(|| birthday.poll_knock(true)).count(),
            0,
            "no answer after the pair is found"
        );
    }

    #[test]
    fn the_formula() {
        assert!((success_probability(256, 1024) - 0.983).abs() < 0.001);
        assert!((success_probability(256, 256) - 0.638).abs() < 0.001);
        assert!(success_probability(1, 1) < 0.0001);
        let choose = |yours, peers| Role::choose(Mappings { yours, peers });
        assert_eq!(
            choose(Mapping::Random, Mapping::Independent),
            Some(Role::Open)
        );
        assert_eq!(
            choose(Mapping::Independent, Mapping::Random),
            Some(Role::Knock)
        );
        assert_eq!(choose(Mapping::Random, Mapping::Random), None);
        assert_eq!(choose(Mapping::Sequential, Mapping::Independent), None);
    }
}
