//! [`Plan`]: what may happen to a world in a property's cases, and how a case is drawn from
//! it. quickcheck's `Arbitrary::arbitrary` takes no argument, but a schedule must name the
//! world's own hosts and links, so the plan draws a [`Case`] from quickcheck's [`Gen`] and
//! the case shrinks itself ([`Case::shrink`]).

use std::time::Duration;

use quickcheck::{Arbitrary, Gen};

use super::case::Case;
use crate::fault::FaultConfig;
use crate::sim::world::{Control, Cut, Scheduled};

/// One kind of episode a plan allows.
// A fault spec is larger than the other variants, and a plan holds a handful of them.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
enum Disruption {
    /// The host crashes and restarts (or restarts at once, a crash and a restart in one).
    Crash(String),
    /// The cut is partitioned, then repaired.
    Partition(Cut),
    /// The cut is held, then released.
    Hold(Cut),
    /// The link direction gets an arbitrary fault spec, then `normal` again.
    Faults {
        from: String,
        to: String,
        normal: FaultConfig,
    },
}

impl Disruption {
    /// The episode's events: the disruption at `start`, its undo `length` later (none for a
    /// restart at once).
    fn events(&self, g: &mut Gen, start: Duration, length: Duration) -> Vec<Scheduled> {
        let end = start + length;
        match self {
            Disruption::Crash(host) if between(g, 0, 3) == 0 => {
                vec![Scheduled::at(start, Control::Restart(host.clone()))]
            }
            Disruption::Crash(host) => vec![
                Scheduled::at(start, Control::Crash(host.clone())),
                Scheduled::at(end, Control::Restart(host.clone())),
            ],
            Disruption::Partition(cut) => vec![
                Scheduled::at(start, Control::Partition(cut.clone())),
                Scheduled::at(end, Control::Repair(cut.clone())),
            ],
            Disruption::Hold(cut) => vec![
                Scheduled::at(start, Control::Hold(cut.clone())),
                Scheduled::at(end, Control::Release(cut.clone())),
            ],
            Disruption::Faults { from, to, normal } => {
                let faults = |faults: FaultConfig| Control::SetFaults {
                    from: from.clone(),
                    to: to.clone(),
                    faults,
                };
                vec![
                    Scheduled::at(start, faults(FaultConfig::arbitrary(g))),
                    Scheduled::at(end, faults(normal.clone())),
                ]
            }
        }
    }
}

/// What may happen to a world during a property's cases: which hosts may crash and restart,
/// which cuts may be partitioned or held, which link directions may have their fault spec
/// changed for a while; and when, for how long, and how many such episodes a case has.
///
/// Every episode ends: a crashed host restarts, a partition is repaired, a hold released, a
/// changed spec put back to the link's normal one. So a correct program that retries for
/// longer than [`longest`](Self::longest) can be expected to get through every case.
///
/// ```
/// use std::time::Duration;
/// use ferry::sim::world::{property::Plan, Cut};
///
/// let plan = Plan::new()
///     .crash("server")
///     .partition(Cut::link("router", "server"))
///     .hold(Cut::hosts("client", "server"))
///     .faults("router", "server", "loss=5%".parse()?)
///     .within(Duration::from_secs(10))
///     .longest(Duration::from_secs(2))
///     .at_most(4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    disruptions: Vec<Disruption>,
    within: Duration,
    longest: Duration,
    at_most: usize,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan::new()
    }
}

/// A whole number in `[low, high]`.
fn between(g: &mut Gen, low: u64, high: u64) -> u64 {
    low + u64::arbitrary(g) % (high - low + 1)
}

/// A whole number of milliseconds in `[0, limit]`.
fn millis_up_to(g: &mut Gen, limit: Duration) -> Duration {
    let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX - 1);
    Duration::from_millis(between(g, 0, limit))
}

impl Plan {
    /// A plan in which nothing happens yet: episodes start within the first 10 s and last at
    /// most 3 s, at most 4 to a case.
    pub fn new() -> Plan {
        Plan {
            disruptions: Vec::new(),
            within: Duration::from_secs(10),
            longest: Duration::from_secs(3),
            at_most: 4,
        }
    }

    /// Host `host` may crash and restart: [`Control::Crash`] then [`Control::Restart`], or
    /// (one episode in four) a [`Control::Restart`] alone, which crashes it and brings it
    /// back at once.
    pub fn crash(mut self, host: &str) -> Plan {
        self.disruptions.push(Disruption::Crash(host.to_string()));
        self
    }

    /// `cut` may be partitioned and repaired: [`Control::Partition`] then
    /// [`Control::Repair`].
    pub fn partition(mut self, cut: Cut) -> Plan {
        self.disruptions.push(Disruption::Partition(cut));
        self
    }

    /// `cut` may be held and released: [`Control::Hold`] then [`Control::Release`].
    pub fn hold(mut self, cut: Cut) -> Plan {
        self.disruptions.push(Disruption::Hold(cut));
        self
    }

    /// The link direction from `from` to `to` may get an arbitrary fault spec (quickcheck's
    /// `Arbitrary` for [`FaultConfig`]: bad but working) for a while, then `normal`, the spec
    /// the world's description gives it: [`Control::SetFaults`] twice.
    pub fn faults(mut self, from: &str, to: &str, normal: FaultConfig) -> Plan {
        self.disruptions.push(Disruption::Faults {
            from: from.to_string(),
            to: to.to_string(),
            normal,
        });
        self
    }

    /// Episodes start within `window` of the run's start (default 10 s).
    pub fn within(mut self, window: Duration) -> Plan {
        self.within = window;
        self
    }

    /// An episode lasts at most `length` (default 3 s); at least a millisecond, on a grid of
    /// milliseconds.
    pub fn longest(mut self, length: Duration) -> Plan {
        self.longest = length.max(Duration::from_millis(1));
        self
    }

    /// A case has at most `episodes` episodes (default 4).
    pub fn at_most(mut self, episodes: usize) -> Plan {
        self.at_most = episodes;
        self
    }

    /// Draw a case: a seed (below a million), and up to [`at_most`](Self::at_most) episodes, each of a kind the
    /// plan allows, starting at a whole millisecond within [`within`](Self::within) and
    /// lasting from 1 ms to [`longest`](Self::longest). Two episodes on one target (a host, a
    /// cut, a link direction) never overlap, so each undo belongs to one disruption.
    pub fn case(&self, g: &mut Gen) -> Case {
        // Any seed is as good as another; short ones make short replay lines.
        let seed = between(g, 0, 999_999);
        let mut episodes: Vec<(usize, Duration, Duration)> = Vec::new();
        if !self.disruptions.is_empty() {
            for _ in 0..between(g, 0, self.at_most as u64) {
                let kind = between(g, 0, self.disruptions.len() as u64 - 1) as usize;
                let start = millis_up_to(g, self.within);
                let length = millis_up_to(g, self.longest - Duration::from_millis(1))
                    + Duration::from_millis(1);
                // Closed intervals: an undo and the next disruption of one target never share
                // an instant either.
                let overlaps = episodes.iter().any(|&(other, other_start, other_length)| {
                    other == kind
                        && start <= other_start + other_length
                        && other_start <= start + length
                });
                if !overlaps {
                    episodes.push((kind, start, length));
                }
            }
        }
        let schedule = episodes
            .into_iter()
            .flat_map(|(kind, start, length)| self.disruptions[kind].events(g, start, length))
            .collect();
        Case::new(seed, schedule)
    }
}
