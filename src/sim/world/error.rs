//! The world's errors: [`ConfigError`] for a description that cannot be (a name or address
//! twice, a name nobody has, a bad prefix), [`RunError`] for a run that ended badly (a program
//! failed or panicked, or the run would not end). Each says what was wrong and what is valid;
//! a run's error also says the seed and the simulated time, to replay it.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// A world description, a control event or a capture that names something that cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No node has this name.
    UnknownNode {
        /// The name given.
        name: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// The name is a router's, where a host's is needed.
    NotAHost {
        /// The name given.
        name: String,
        /// The hosts there are.
        hosts: Vec<String>,
    },
    /// Two nodes with one name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two nodes with one address.
    DuplicateAddress {
        /// The address.
        address: IpAddr,
        /// The node that had it first.
        first: String,
        /// The node that was given it again.
        second: String,
    },
    /// Not an IPv4 or IPv6 address.
    BadAddress {
        /// The text given.
        text: String,
    },
    /// Not a prefix.
    BadPrefix {
        /// The text given.
        text: String,
        /// What was wrong with it.
        why: String,
    },
    /// A link from a node to itself.
    LinkToItself {
        /// The node.
        node: String,
    },
    /// No link joins these two nodes.
    NoLink {
        /// One node.
        from: String,
        /// The other.
        to: String,
    },
    /// A route names a next hop that is not a neighbor of the node.
    NotANeighbor {
        /// The node the route is for.
        node: String,
        /// The next hop named.
        next_hop: String,
        /// The node's neighbors.
        neighbors: Vec<String>,
    },
    /// A middlebox on a host: only routers forward.
    MiddleboxOnHost {
        /// The host.
        node: String,
    },
    /// A middlebox that cannot work where it was put (it said why when the world was built).
    Middlebox {
        /// The router it is on.
        router: String,
        /// What it said.
        why: String,
    },
    /// A NAT asked of a router that has none.
    NotANat {
        /// The router named.
        router: String,
        /// The routers with a NAT.
        nats: Vec<String>,
    },
    /// A second program for a host: each host runs one (which may spawn tasks).
    ProgramAlreadySet {
        /// The host.
        host: String,
    },
    /// A built-in program that cannot work as described.
    BadProgram {
        /// Its host.
        host: String,
        /// What is wrong, and what is valid.
        why: String,
    },
    /// A control event before the world's present.
    InThePast {
        /// When it was asked for.
        at: Duration,
        /// The world's time.
        now: Duration,
    },
    /// The sockets' connection settings cannot work ([`crate::conn::Config::check`]).
    Connection(crate::conn::ConfigError),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownNode { name, known } => {
                write!(
                    f,
                    "no node is named {name:?}; the nodes are: {}",
                    list(known)
                )
            }
            ConfigError::NotAHost { name, hosts } => write!(
                f,
                "{name:?} is a router, and only a host can do this; the hosts are: {}",
                list(hosts)
            ),
            ConfigError::DuplicateName { name } => {
                write!(f, "two nodes are named {name:?}: each name must be unique")
            }
            ConfigError::DuplicateAddress {
                address,
                first,
                second,
            } => write!(
                f,
                "{address} is given to both {first:?} and {second:?}: each address belongs \
                 to one node"
            ),
            ConfigError::BadAddress { text } => write!(
                f,
                "{text:?} is not an address: expected IPv4 (192.0.2.1) or IPv6 (2001:db8::1)"
            ),
            ConfigError::BadPrefix { text, why } => write!(
                f,
                "{text:?} is not a prefix ({why}): expected ADDRESS/LENGTH, such as \
                 10.0.1.0/24, 0.0.0.0/0 or 2001:db8::/32"
            ),
            ConfigError::LinkToItself { node } => {
                write!(f, "a link from {node:?} to itself: a link joins two nodes")
            }
            ConfigError::NoLink { from, to } => {
                write!(f, "no link joins {from:?} and {to:?}")
            }
            ConfigError::NotANeighbor {
                node,
                next_hop,
                neighbors,
            } => write!(
                f,
                "a route of {node:?} goes via {next_hop:?}, which no link joins to it; its \
                 neighbors are: {}",
                list(neighbors)
            ),
            ConfigError::MiddleboxOnHost { node } => write!(
                f,
                "{node:?} is a host, and a middlebox sits on a router: only routers forward"
            ),
            ConfigError::Middlebox { router, why } => {
                write!(f, "the middlebox on {router:?} cannot work there: {why}")
            }
            ConfigError::NotANat { router, nats } => write!(
                f,
                "{router:?} has no NAT; the routers with one are: {}",
                list(nats)
            ),
            ConfigError::ProgramAlreadySet { host } => write!(
                f,
                "{host:?} already has a program: a host runs one (spawn tasks from it for more)"
            ),
            ConfigError::BadProgram { host, why } => {
                write!(f, "the program of {host:?} cannot work: {why}")
            }
            ConfigError::InThePast { at, now } => write!(
                f,
                "an event at {:.6} s is in the past: the world's time is {:.6} s",
                at.as_secs_f64(),
                now.as_secs_f64()
            ),
            ConfigError::Connection(error) => write!(f, "the connection settings: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A task that had not finished when a run ended, and what it waited for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Its host.
    pub host: String,
    /// `program`, or `task N` for one it spawned.
    pub task: String,
    /// What it waited for, as the world last saw it.
    pub on: String,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) waits for {}", self.host, self.task, self.on)
    }
}

/// Why a run ended badly. Every one names the seed and the simulated time, so the run can be
/// replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// A program (or a task it spawned) panicked.
    Panicked {
        /// Its host.
        host: String,
        /// `program`, or `task N`.
        task: String,
        /// The panic's message.
        message: String,
        /// The world's seed.
        seed: u64,
        /// When.
        at: Duration,
    },
    /// A program returned an error.
    Failed {
        /// Its host.
        host: String,
        /// The error, as it displays.
        error: String,
        /// The world's seed.
        seed: u64,
        /// When.
        at: Duration,
    },
    /// The clients had not finished when the simulated-time limit came.
    TimeLimit {
        /// The limit.
        limit: Duration,
        /// The world's seed.
        seed: u64,
        /// Who was still waiting, and on what.
        waiting: Vec<Waiting>,
    },
    /// The clients had not finished when the event budget ran out.
    EventBudget {
        /// The budget.
        budget: u64,
        /// The world's seed.
        seed: u64,
        /// When.
        at: Duration,
        /// Who was still waiting, and on what.
        waiting: Vec<Waiting>,
    },
    /// Nothing more could happen (no datagram under way, no timer armed), yet the clients
    /// had not finished: they wait for each other, or for something that never comes.
    Stalled {
        /// The world's seed.
        seed: u64,
        /// When it went quiet.
        at: Duration,
        /// Who was still waiting, and on what.
        waiting: Vec<Waiting>,
    },
}

fn waiting_list(waiting: &[Waiting]) -> String {
    if waiting.is_empty() {
        return "no task was waiting".to_string();
    }
    waiting
        .iter()
        .map(Waiting::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panicked {
                host,
                task,
                message,
                seed,
                at,
            } => write!(
                f,
                "the {task} on {host} panicked at {:.6} s (seed {seed}): {message}",
                at.as_secs_f64()
            ),
            RunError::Failed {
                host,
                error,
                seed,
                at,
            } => write!(
                f,
                "the program on {host} failed at {:.6} s (seed {seed}): {error}",
                at.as_secs_f64()
            ),
            RunError::TimeLimit {
                limit,
                seed,
                waiting,
            } => write!(
                f,
                "the run reached its limit of {:.6} s of simulated time (seed {seed}) with \
                 clients unfinished: {}; raise World::builder().time_limit(...) if they need \
                 longer",
                limit.as_secs_f64(),
                waiting_list(waiting)
            ),
            RunError::EventBudget {
                budget,
                seed,
                at,
                waiting,
            } => write!(
                f,
                "the run used its budget of {budget} events by {:.6} s (seed {seed}) with \
                 clients unfinished: {}; a task that never waits (a busy loop) spends it at \
                 one instant; raise World::builder().event_budget(...) for a longer run",
                at.as_secs_f64(),
                waiting_list(waiting)
            ),
            RunError::Stalled { seed, at, waiting } => write!(
                f,
                "the world went quiet at {:.6} s (seed {seed}) with clients unfinished: \
                 nothing is under way and no timer is armed, yet {}",
                at.as_secs_f64(),
                waiting_list(waiting)
            ),
        }
    }
}

impl std::error::Error for RunError {}
