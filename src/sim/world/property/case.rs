//! [`Case`]: one case of a property, the world's seed and the control events scheduled in it,
//! as one line of text (`seed=7; 1500ms: crash server; 2s: restart server`) and as a value
//! that shrinks.
//!
//! A schedule is made of episodes: a disruption and the event that undoes it (a crash and its
//! restart, a partition and its repair, a hold and its release, a fault spec and the spec put
//! back), or a lone event (a restart of a host that is up: a crash and a restart at once).
//! Shrinking keeps episodes whole, so a case never shrinks from "the server was down for a
//! second" to "the server never came back", which fails for a reason of its own.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use quickcheck::Arbitrary;

use crate::sim::world::{Control, ControlParseError, Cut, Scheduled};

/// One case of a property over a world: the seed its randomness derives from and the control
/// events applied during its run. It prints as one line, which [`FromStr`] reads back:
/// `seed=7; 1500ms: crash server; 2s: restart server` (node names without spaces or `;`).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The world's seed ([`Builder::seed`](crate::sim::world::Builder::seed)).
    pub seed: u64,
    /// The events, in time order (events at one time apply in the order listed).
    pub schedule: Vec<Scheduled>,
}

/// The grid that shrinking moves times on.
const TIME_STEP: Duration = Duration::from_millis(1);

/// A disruption and the event that undoes it, by their places in the schedule; a lone event
/// has no `undo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Episode {
    start: usize,
    undo: Option<usize>,
}

/// What an event disrupts or undoes: the same target pairs a disruption with its undo.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Partition(Cut),
    Hold(Cut),
    Host(String),
    Faults(String, String),
}

/// The cut with its two names in order: `link a b` and `link b a` are one link.
fn either_way(cut: &Cut) -> Cut {
    match cut {
        Cut::Link { a, b } if a > b => Cut::link(b, a),
        Cut::Hosts { a, b } if a > b => Cut::hosts(b, a),
        _ => cut.clone(),
    }
}

/// Whether `control` starts an episode or ends one, and on what.
enum Role {
    Disrupt(Target),
    Undo(Target),
    /// A fault spec: it starts an episode on its link direction, or ends the one under way.
    Toggle(Target),
}

fn role(control: &Control) -> Role {
    match control {
        Control::Partition(cut) => Role::Disrupt(Target::Partition(either_way(cut))),
        Control::Repair(cut) => Role::Undo(Target::Partition(either_way(cut))),
        Control::Hold(cut) => Role::Disrupt(Target::Hold(either_way(cut))),
        Control::Release(cut) => Role::Undo(Target::Hold(either_way(cut))),
        Control::Crash(host) => Role::Disrupt(Target::Host(host.clone())),
        Control::Restart(host) => Role::Undo(Target::Host(host.clone())),
        Control::SetFaults { from, to, .. } => {
            Role::Toggle(Target::Faults(from.clone(), to.clone()))
        }
    }
}

/// Half of `d`, floored to the grid, if that is earlier.
fn half(d: Duration) -> Option<Duration> {
    let steps = d.as_nanos() / TIME_STEP.as_nanos() / 2;
    let half = TIME_STEP * u32::try_from(steps).ok()?;
    (half < d).then_some(half)
}

impl Case {
    /// A case with `schedule` put in time order (stably: events at one time keep their order,
    /// which is the order the world applies them in).
    pub fn new(seed: u64, mut schedule: Vec<Scheduled>) -> Case {
        schedule.sort_by_key(|event| event.at);
        Case { seed, schedule }
    }

    /// The episodes of the schedule (which must be in time order), by their first event.
    fn episodes(&self) -> Vec<Episode> {
        let mut episodes: Vec<Episode> = Vec::new();
        // The episode under way on each target, by its place in `episodes`.
        let mut open: BTreeMap<Target, usize> = BTreeMap::new();
        for (index, event) in self.schedule.iter().enumerate() {
            let (target, starts) = match role(&event.control) {
                Role::Disrupt(target) => (target, true),
                Role::Undo(target) => (target, false),
                Role::Toggle(target) => {
                    let starts = !open.contains_key(&target);
                    (target, starts)
                }
            };
            if starts {
                // A second disruption of a target before its undo leaves the first alone.
                open.insert(target, episodes.len());
                episodes.push(Episode {
                    start: index,
                    undo: None,
                });
            } else if let Some(episode) = open.remove(&target) {
                episodes[episode].undo = Some(index);
            } else {
                // An undo with nothing to undo: a restart of a host that is up (a crash and a
                // restart at once), a repair of what was never cut.
                episodes.push(Episode {
                    start: index,
                    undo: None,
                });
            }
        }
        episodes
    }

    /// The events of `episodes` alone.
    fn keeping(&self, episodes: &[Episode]) -> Case {
        let kept: Vec<usize> = episodes
            .iter()
            .flat_map(|episode| std::iter::once(episode.start).chain(episode.undo))
            .collect();
        let schedule = self
            .schedule
            .iter()
            .enumerate()
            .filter(|(index, _)| kept.contains(index))
            .map(|(_, event)| event.clone())
            .collect();
        Case {
            seed: self.seed,
            schedule,
        }
    }

    /// The case with `edit` applied to its schedule, put back in time order.
    fn edited(&self, edit: impl FnOnce(&mut Vec<Scheduled>)) -> Case {
        let mut schedule = self.schedule.clone();
        edit(&mut schedule);
        Case::new(self.seed, schedule)
    }

    /// Simpler cases that may still fail the property, the most simplifying first, as
    /// quickcheck's [`Arbitrary::shrink`] gives them: no event at all; half the episodes;
    /// one episode fewer; one episode half as long; one episode at half its time; one fault
    /// spec simpler (its own `Arbitrary::shrink`). Episodes stay whole, and the seed stays
    /// (another seed is another run, not a simpler one). Every candidate is simpler than the
    /// case, so shrinking ends.
    pub fn shrink(&self) -> Box<dyn Iterator<Item = Case>> {
        let case = Case::new(self.seed, self.schedule.clone());
        let episodes = case.episodes();
        let at = |index: usize| case.schedule[index].at;
        let mut simpler: Vec<Case> = Vec::new();
        let mut offer = |candidate: Case| {
            if candidate != *self && !simpler.contains(&candidate) {
                simpler.push(candidate);
            }
        };
        offer(case.keeping(&[]));
        if episodes.len() >= 4 {
            let (first, second) = episodes.split_at(episodes.len() / 2);
            offer(case.keeping(first));
            offer(case.keeping(second));
        }
        for skip in 0..episodes.len() {
            let mut fewer = episodes.clone();
            fewer.remove(skip);
            offer(case.keeping(&fewer));
        }
        // A time moved must not make one target's episodes overlap: that would be another
        // schedule, not a shorter or earlier one.
        let shape = |case: &Case| {
            let episodes = case.episodes();
            let undone = episodes.iter().filter(|e| e.undo.is_some()).count();
            (episodes.len(), undone)
        };
        let same_shape = |candidate: &Case| shape(candidate) == shape(&case);
        for episode in &episodes {
            let Some(undo) = episode.undo else { continue };
            if let Some(length) = half(at(undo) - at(episode.start)) {
                let start = at(episode.start);
                let shorter = case.edited(|schedule| schedule[undo].at = start + length);
                if same_shape(&shorter) {
                    offer(shorter);
                }
            }
        }
        for episode in &episodes {
            let Some(earlier) = half(at(episode.start)) else {
                continue;
            };
            let shift = at(episode.start) - earlier;
            let moved = case.edited(|schedule| {
                for index in std::iter::once(episode.start).chain(episode.undo) {
                    schedule[index].at -= shift;
                }
            });
            if same_shape(&moved) {
                offer(moved);
            }
        }
        for episode in &episodes {
            let index = episode.start;
            if let Control::SetFaults { faults, .. } = &case.schedule[index].control {
                for milder in faults.shrink() {
                    offer(case.edited(|schedule| {
                        if let Control::SetFaults { faults, .. } = &mut schedule[index].control {
                            *faults = milder;
                        }
                    }));
                }
            }
        }
        Box::new(simpler.into_iter())
    }
}

impl fmt::Display for Case {
    /// `seed=7; 1500ms: crash server; 2s: restart server`: what [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed={}", self.seed)?;
        for event in &self.schedule {
            write!(f, "; {event}")?;
        }
        Ok(())
    }
}

/// Text that is not a [`Case`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseParseError {
    /// The text given.
    pub text: String,
    /// What was wrong with it.
    pub why: String,
}

impl fmt::Display for CaseParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a case ({}): expected `seed=N` then `; TIME: EVENT` for each event, \
             as a failing property prints it (`seed=7; 1500ms: crash server; 2s: restart \
             server`)",
            self.text, self.why
        )
    }
}

impl std::error::Error for CaseParseError {}

impl FromStr for Case {
    type Err = CaseParseError;

    /// What [`Display`](fmt::Display) prints. The events are put in time order.
    fn from_str(text: &str) -> Result<Case, CaseParseError> {
        let bad = |why: String| CaseParseError {
            text: text.to_string(),
            why,
        };
        let mut items = text
            .split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty());
        let seed = items
            .next()
            .and_then(|item| item.strip_prefix("seed="))
            .ok_or_else(|| bad("it does not begin with seed=N".to_string()))?;
        let seed = seed
            .trim()
            .parse()
            .map_err(|_| bad(format!("the seed {seed:?} is not a whole number")))?;
        let schedule = items
            .map(|item| item.parse())
            .collect::<Result<Vec<Scheduled>, ControlParseError>>()
            .map_err(|error| bad(error.to_string()))?;
        Ok(Case::new(seed, schedule))
    }
}
