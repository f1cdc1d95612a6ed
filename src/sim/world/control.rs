//! Control during a run, as plain data: partition and repair, hold and release, change a
//! link's faults, crash and restart a host. A test applies a [`Control`] between steps
//! ([`World::control`](super::World::control)), or schedules a list of them at simulated times
//! ([`World::schedule`](super::World::schedule)): a schedule is a `Vec<Scheduled>`, a value a
//! property test can generate, shrink and print, and the same schedule replays the same run.

use std::fmt;
use std::time::Duration;

use crate::fault::FaultConfig;

/// What a partition or a hold acts on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cut {
    /// Both directions of the link joining two nodes: like pulling its cable. Everything
    /// that crosses it is affected, whichever hosts it belongs to.
    Link {
        /// One end.
        a: String,
        /// The other.
        b: String,
    },
    /// What two hosts send each other, both ways, by whatever path and whatever addresses a
    /// middlebox gives it: like a firewall rule between them, applied where a datagram
    /// arrives. Their traffic with anyone else flows on.
    Hosts {
        /// One host.
        a: String,
        /// The other.
        b: String,
    },
}

impl Cut {
    /// The link joining `a` and `b`.
    pub fn link(a: &str, b: &str) -> Cut {
        Cut::Link {
            a: a.to_string(),
            b: b.to_string(),
        }
    }

    /// The traffic between hosts `a` and `b`.
    pub fn hosts(a: &str, b: &str) -> Cut {
        Cut::Hosts {
            a: a.to_string(),
            b: b.to_string(),
        }
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Link { a, b } => write!(f, "link {a}-{b}"),
            Cut::Hosts { a, b } => write!(f, "hosts {a}-{b}"),
        }
    }
}

/// One change to the world.
// A fault spec is larger than the other variants, and a schedule holds a handful of events.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Drop what crosses the cut, from now on; on a link, what is already on it is lost too
    /// (it never reaches the far end).
    Partition(Cut),
    /// Undo a partition of the same cut.
    Repair(Cut),
    /// Keep what crosses the cut from arriving: it waits, in order, at the far end.
    Hold(Cut),
    /// Stop holding the cut, and deliver what it held, in order, now.
    Release(Cut),
    /// Put a new fault spec in force on the link from `from` to `to`, for what is sent from
    /// now on (one direction: change the other with a second event).
    SetFaults {
        /// The sending end.
        from: String,
        /// The receiving end.
        to: String,
        /// The new spec.
        faults: FaultConfig,
    },
    /// The host stops at once: its sockets and connections vanish without a word on the
    /// wire, its tasks are dropped, and what arrives for it is dropped in silence until it
    /// restarts.
    Crash(String),
    /// The host comes back up, with new sockets and its program started again from the
    /// start (a client's program, which runs once, does not come back). A host that is up
    /// crashes first.
    Restart(String),
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Control::Partition(cut) => write!(f, "partition {cut}"),
            Control::Repair(cut) => write!(f, "repair {cut}"),
            Control::Hold(cut) => write!(f, "hold {cut}"),
            Control::Release(cut) => write!(f, "release {cut}"),
            Control::SetFaults { from, to, faults } => {
                write!(f, "faults {from}->{to} {faults}")
            }
            Control::Crash(host) => write!(f, "crash {host}"),
            Control::Restart(host) => write!(f, "restart {host}"),
        }
    }
}

/// A [`Control`] at a simulated time (since the run started).
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduled {
    /// When.
    pub at: Duration,
    /// What.
    pub control: Control,
}

impl Scheduled {
    /// `control` at `at`.
    pub fn at(at: Duration, control: Control) -> Scheduled {
        Scheduled { at, control }
    }
}

impl fmt::Display for Scheduled {
    /// `1.500000 s: crash server`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} s: {}", self.at.as_secs_f64(), self.control)
    }
}
