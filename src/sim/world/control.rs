//! Control during a run, as plain data: partition and repair, hold and release, change a
//! link's faults, crash and restart a host. A test applies a [`Control`] between steps
//! ([`World::control`](super::World::control)), or schedules a list of them at simulated times
//! ([`World::schedule`](super::World::schedule)): a schedule is a `Vec<Scheduled>`, a value a
//! property test can generate, shrink and print, and the same schedule replays the same run.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::fault::{FaultConfig, FaultSpecError};
use crate::units::{parse_duration, DurationText};

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
            Cut::Link { a, b } => write!(f, "link {a} {b}"),
            Cut::Hosts { a, b } => write!(f, "hosts {a} {b}"),
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
            Control::SetFaults { from, to, faults } => write!(f, "faults {from} {to} {faults}"),
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
    /// `1500ms: crash server`: what [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", DurationText(self.at), self.control)
    }
}

/// Text that is not a [`Control`] or a [`Scheduled`] event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlParseError {
    /// The text given.
    pub text: String,
    /// What was wrong with it.
    pub why: String,
}

impl fmt::Display for ControlParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a control event ({}): expected `partition|repair|hold|release \
             link|hosts A B`, `faults FROM TO SPEC`, `crash HOST` or `restart HOST`, after \
             `TIME:` for a scheduled one (`1.5s: crash server`)",
            self.text, self.why
        )
    }
}

impl std::error::Error for ControlParseError {}

impl FromStr for Control {
    type Err = ControlParseError;

    /// What [`Display`](fmt::Display) prints: `partition link a b`, `hold hosts a b`,
    /// `faults a b loss=5%`, `crash server`, ... (node names without spaces).
    fn from_str(text: &str) -> Result<Control, ControlParseError> {
        let bad = |why: &str| ControlParseError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let cut = |words: &[&str]| match words {
            ["link", a, b] => Ok(Cut::link(a, b)),
            ["hosts", a, b] => Ok(Cut::hosts(a, b)),
            _ => Err(bad("a cut is `link A B` or `hosts A B`")),
        };
        match words.as_slice() {
            ["partition", rest @ ..] => Ok(Control::Partition(cut(rest)?)),
            ["repair", rest @ ..] => Ok(Control::Repair(cut(rest)?)),
            ["hold", rest @ ..] => Ok(Control::Hold(cut(rest)?)),
            ["release", rest @ ..] => Ok(Control::Release(cut(rest)?)),
            ["faults", from, to, spec] => Ok(Control::SetFaults {
                from: from.to_string(),
                to: to.to_string(),
                faults: spec
                    .parse()
                    .map_err(|error: FaultSpecError| bad(&error.to_string()))?,
            }),
            ["crash", host] => Ok(Control::Crash(host.to_string())),
            ["restart", host] => Ok(Control::Restart(host.to_string())),
            _ => Err(bad("unknown event, or the wrong number of words")),
        }
    }
}

impl FromStr for Scheduled {
    type Err = ControlParseError;

    /// What [`Display`](fmt::Display) prints: `TIME: EVENT`, such as `1.5s: crash server`.
    fn from_str(text: &str) -> Result<Scheduled, ControlParseError> {
        let bad = |why: &str| ControlParseError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let (at, control) = text
            .split_once(':')
            .ok_or_else(|| bad("no `TIME:` before the event"))?;
        let at = parse_duration(at.trim())
            .ok_or_else(|| bad("the time is not a duration such as 1.5s or 200ms"))?;
        Ok(Scheduled {
            at,
            control: control.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_what_they_print() {
        let events = [
            Scheduled::at(
                Duration::from_millis(1500),
                Control::Crash("server".to_string()),
            ),
            Scheduled::at(Duration::ZERO, Control::Partition(Cut::link("a", "r1"))),
            Scheduled::at(
                Duration::from_micros(20),
                Control::Release(Cut::hosts("a", "b")),
            ),
            Scheduled::at(
                Duration::from_secs(3),
                Control::SetFaults {
                    from: "r1".to_string(),
                    to: "r2".to_string(),
                    faults: "loss=5%,delay=20ms".parse().unwrap(),
                },
            ),
        ];
        for event in events {
            let text = event.to_string();
            assert_eq!(text.parse::<Scheduled>(), Ok(event), "{text}");
        }
        assert_eq!(
            Scheduled::at(
                Duration::from_millis(1500),
                Control::Crash("server".to_string())
            )
            .to_string(),
            "1500ms: crash server"
        );
    }

    #[test]
    fn text_that_is_no_event_says_what_is() {
        let error = "2s: partition server".parse::<Scheduled>().unwrap_err();
        assert!(
            error.to_string().contains("`link A B` or `hosts A B`"),
            "{error}"
        );
        let error = "crash".parse::<Control>().unwrap_err();
        assert!(error.to_string().contains("`crash HOST`"), "{error}");
        let error = "soon: crash server".parse::<Scheduled>().unwrap_err();
        assert!(error.to_string().contains("such as 1.5s"), "{error}");
    }
}
