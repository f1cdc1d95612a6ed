//! Property tests of your programs on the world: draw cases (a seed and a schedule of
//! crashes, partitions, holds and fault changes), run each world, check a property of its
//! outcome, and shrink a failure to a minimal schedule that prints as one line and replays.
//!
//! A [`Plan`] says what may happen to the world (which hosts may crash, which cuts may be
//! partitioned or held, which link directions may get other faults, when and for how long).
//! [`Property::check`] takes two closures of yours: one builds the world of a case from its
//! seed (topology, programs, and whatever the programs report into, kept beside the world),
//! the other judges an [`Outcome`]: what [`World::run`] returned, the world after it, and what
//! you kept. For each case the harness builds the world, schedules the case's events, runs it
//! and asks the property. The first case that fails is shrunk as quickcheck shrinks (take the
//! first simpler case that still fails, shrink that, until none does): whole episodes go,
//! then episodes get shorter and earlier, then fault specs milder ([`Case::shrink`]). What is
//! left is reported with its replay line:
//!
//! ```text
//! replay: FERRY_WORLD_REPLAY='seed=7; 1500ms: crash server; 2s: restart server' cargo test my_test
//! ```
//!
//! | variable | effect |
//! |---|---|
//! | `FERRY_WORLD_REPLAY='seed=...; ...'` | run that one case instead of drawing any (every `check` in the process: name the test) |
//! | `FERRY_WORLD_CAPTURES=DIR` | tap every interface of the case reported (the shrunk failure, or the replay) into `DIR/NODE-NEIGHBOR.pcapng` |
//! | `FERRY_WORLD_CASES=N` | draw `N` cases instead of the test's number (a soak run) |
//!
//! Cases are drawn from a fixed generator seed ([`Property::generation`], default 0), so a
//! test tries the same cases every run; a world is a pure function of its seed and schedule,
//! so the replay line gives the same run, captures included, byte for byte.
//!
//! # Example
//!
//! An echo server behind a router that may crash or lose its link for a while, and a client
//! that retries: every reply it gets must be its request.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use ferry::link::LinkConfig;
//! use ferry::sim::world::net::{Listener, Stream};
//! use ferry::sim::world::property::{Plan, Property};
//! use ferry::sim::world::time::sleep;
//! use ferry::sim::world::{Cut, World};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn ask(request: &[u8]) -> std::io::Result<Vec<u8>> {
//!     let mut stream = Stream::connect("server:7").await?;
//!     stream.set_user_timeout(Some(Duration::from_secs(2)))?;
//!     stream.write_all(request).await?;
//!     stream.shutdown().await?;
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply).await?;
//!     Ok(reply)
//! }
//!
//! let plan = Plan::new()
//!     .crash("server")
//!     .partition(Cut::link("router", "server"))
//!     .within(Duration::from_secs(5))
//!     .longest(Duration::from_secs(2));
//! let cases = Property::new(plan).cases(5).check(
//!     |seed| {
//!         let mut world = World::builder()
//!             .seed(seed)
//!             .host("client", "10.0.0.2")
//!             .router("router", "10.0.0.1")
//!             .host("server", "10.0.1.2")
//!             .link("client", "router", LinkConfig::default())
//!             .link("router", "server", LinkConfig::default())
//!             .build()?;
//!         world.host("server", || async {
//!             let listener = Listener::bind("0.0.0.0:7").await?;
//!             loop {
//!                 let (mut stream, _) = listener.accept().await?;
//!                 let mut request = Vec::new();
//!                 if stream.read_to_end(&mut request).await.is_ok() {
//!                     let _ = stream.write_all(&request).await;
//!                 }
//!             }
//!         })?;
//!         let replies = Rc::new(RefCell::new(Vec::new()));
//!         let kept = Rc::clone(&replies);
//!         world.client("client", async move {
//!             for attempt in 0..20 {
//!                 match ask(b"hello").await {
//!                     Ok(reply) => {
//!                         replies.borrow_mut().push(reply);
//!                         return Ok(());
//!                     }
//!                     Err(_) => sleep(Duration::from_millis(500 << attempt.min(3))).await,
//!                 }
//!             }
//!             Err("no reply after 20 attempts".into())
//!         })?;
//!         Ok((world, kept))
//!     },
//!     |outcome| {
//!         outcome.run?;
//!         for reply in outcome.kept.borrow().iter() {
//!             if reply != b"hello" {
//!                 return Err(format!("the reply was {reply:?}").into());
//!             }
//!         }
//!         Ok(())
//!     },
//! );
//! assert_eq!(cases, 5);
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Property`]: drawing, running, shrinking, reporting; [`Outcome`], [`Failure`] |
//! | `plan.rs` | [`Plan`]: what may happen, and drawing a [`Case`] |
//! | `case.rs` | [`Case`]: a seed and a schedule, as one line and as a value that shrinks |

mod case;
mod plan;

use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use quickcheck::Gen;

pub use case::{Case, CaseParseError};
pub use plan::Plan;

use crate::capture::View;
use crate::sim::world::run::panic_message;
use crate::sim::world::{RunError, World};

/// The variable holding a case to replay (`seed=7; 1500ms: crash server`).
pub const REPLAY_VARIABLE: &str = "FERRY_WORLD_REPLAY";
/// The variable naming the directory the reported case's captures go to.
pub const CAPTURES_VARIABLE: &str = "FERRY_WORLD_CAPTURES";
/// The variable that sets the number of cases (a soak run).
pub const CASES_VARIABLE: &str = "FERRY_WORLD_CASES";

/// What the property judges: one case's run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome<'w, T> {
    /// What [`World::run`] returned: `Err` if a program failed or panicked, or the run would
    /// not end.
    pub run: Result<(), RunError>,
    /// The world after the run: its counters, its hosts' states, its time.
    pub world: &'w World,
    /// What the build closure kept beside the world (what the programs reported into).
    pub kept: T,
    /// The case that ran.
    pub case: &'w Case,
}

/// A property that failed: the smallest failing case found, and how to replay it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The smallest case found that fails the property.
    pub case: Case,
    /// What the property said of it.
    pub problem: String,
    /// The case that failed first, before shrinking.
    pub first: Case,
    /// Cases that passed before the first failure.
    pub passed: u64,
    /// How many times shrinking found a smaller failing case.
    pub shrink_steps: u64,
    /// Worlds run while shrinking.
    pub shrink_runs: u64,
    /// The test that failed (its thread's name), for the replay line.
    pub test: Option<String>,
    /// The captures of the reported case, if they were asked for.
    pub captures: Vec<PathBuf>,
}

impl Failure {
    /// One line for a shell that runs the failing case alone:
    /// `FERRY_WORLD_REPLAY='seed=7; 1500ms: crash server' cargo test NAME`.
    pub fn replay_line(&self) -> String {
        let case = self.case.to_string().replace('\'', r"'\''");
        match &self.test {
            Some(test) => format!("{REPLAY_VARIABLE}='{case}' cargo test {test}"),
            None => format!("{REPLAY_VARIABLE}='{case}' cargo test"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the property failed: {}", self.problem)?;
        writeln!(
            f,
            "  case {} failed with {} events; shrunk in {} steps ({} runs) to {} events \
             (seed {}):",
            self.passed + 1,
            self.first.schedule.len(),
            self.shrink_steps,
            self.shrink_runs,
            self.case.schedule.len(),
            self.case.seed
        )?;
        for event in &self.case.schedule {
            writeln!(f, "    {event}")?;
        }
        write!(f, "  replay: {}", self.replay_line())?;
        if self.captures.is_empty() {
            write!(
                f,
                "\n  (with {CAPTURES_VARIABLE}=DIR the replay taps every interface into DIR)"
            )
        } else {
            write!(f, "\n  captures of the case:")?;
            for path in &self.captures {
                write!(f, " {}", path.display())?;
            }
            Ok(())
        }
    }
}

impl Error for Failure {}

/// Runs a property over cases a [`Plan`] draws: see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Property {
    plan: Plan,
    cases: u64,
    generation: u64,
    shrink_limit: u64,
    replay: Option<Case>,
    captures: Option<PathBuf>,
    view: View,
}

/// A property's verdict on one run: `Ok`, or why not.
type Verdict = Result<(), String>;

/// What the environment asks of a check ([`REPLAY_VARIABLE`], [`CAPTURES_VARIABLE`],
/// [`CASES_VARIABLE`]); each overrides what the test's code set.
#[derive(Clone, Debug, Default)]
pub(in crate::sim::world) struct Asked {
    pub(in crate::sim::world) replay: Option<Case>,
    pub(in crate::sim::world) captures: Option<PathBuf>,
    pub(in crate::sim::world) cases: Option<u64>,
}

impl Asked {
    /// Read the variables through `lookup`. A value that does not parse is a mistake at the
    /// command line, and panics saying so.
    pub(in crate::sim::world) fn from(lookup: impl Fn(&str) -> Option<String>) -> Asked {
        Asked {
            replay: lookup(REPLAY_VARIABLE).map(|text| {
                text.parse()
                    .unwrap_or_else(|error| panic!("{REPLAY_VARIABLE}: {error}"))
            }),
            captures: lookup(CAPTURES_VARIABLE).map(PathBuf::from),
            cases: lookup(CASES_VARIABLE).map(|count| {
                count.trim().parse().unwrap_or_else(|_| {
                    panic!("{CASES_VARIABLE} must be a whole number of cases, not {count:?}")
                })
            }),
        }
    }
}

impl Property {
    /// A property over cases `plan` draws: 100 of them, drawn from generator seed 0, with at
    /// most 2,000 worlds run to shrink a failure.
    pub fn new(plan: Plan) -> Property {
        Property {
            plan,
            cases: 100,
            generation: 0,
            shrink_limit: 2_000,
            replay: None,
            captures: None,
            view: View::Ferry,
        }
    }

    /// Draw `cases` cases (`FERRY_WORLD_CASES` overrides it).
    pub fn cases(mut self, cases: u64) -> Property {
        self.cases = cases;
        self
    }

    /// Draw the cases from generator seed `seed` (default 0): another seed, other cases.
    pub fn generation(mut self, seed: u64) -> Property {
        self.generation = seed;
        self
    }

    /// Run at most `runs` worlds while shrinking a failure (default 2,000); the smallest
    /// failing case found by then is reported.
    pub fn shrink_limit(mut self, runs: u64) -> Property {
        self.shrink_limit = runs;
        self
    }

    /// Run this one case instead of drawing any: a failure's replay pasted into a test.
    /// `FERRY_WORLD_REPLAY` overrides it.
    pub fn replay(mut self, case: Case) -> Property {
        self.replay = Some(case);
        self
    }

    /// Tap every interface of the case reported (the shrunk failure, or the replayed case)
    /// into `directory`, created if need be, in `view` ([`World::capture_every_interface`]).
    /// `FERRY_WORLD_CAPTURES` overrides the directory.
    pub fn captures(mut self, directory: impl Into<PathBuf>, view: View) -> Property {
        self.captures = Some(directory.into());
        self.view = view;
        self
    }

    /// Check the property and panic with the [`Failure`] (its smallest case and replay line)
    /// if it fails; the number of cases that passed otherwise. `build` makes the world of a
    /// seed, with its programs, and returns it with what the property will look at; an error
    /// there is a mistake in the test, and panics. `property` judges each [`Outcome`]; an
    /// error or a panic there fails the case.
    pub fn check<T, B, P>(&self, build: B, property: P) -> u64
    where
        B: Fn(u64) -> Result<(World, T), Box<dyn Error>>,
        P: Fn(Outcome<'_, T>) -> Result<(), Box<dyn Error>>,
    {
        match self.try_check(build, property) {
            Ok(passed) => passed,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`check`](Self::check), returning the failure instead of panicking: for a test that
    /// expects a property to fail (a bug it should find).
    pub fn try_check<T, B, P>(&self, build: B, property: P) -> Result<u64, Box<Failure>>
    where
        B: Fn(u64) -> Result<(World, T), Box<dyn Error>>,
        P: Fn(Outcome<'_, T>) -> Result<(), Box<dyn Error>>,
    {
        let asked = Asked::from(|name: &str| std::env::var(name).ok());
        self.try_check_as(asked, build, property)
    }

    /// [`try_check`](Self::try_check), with what the environment asked given.
    pub(in crate::sim::world) fn try_check_as<T, B, P>(
        &self,
        asked: Asked,
        build: B,
        property: P,
    ) -> Result<u64, Box<Failure>>
    where
        B: Fn(u64) -> Result<(World, T), Box<dyn Error>>,
        P: Fn(Outcome<'_, T>) -> Result<(), Box<dyn Error>>,
    {
        let captures = asked.captures.or_else(|| self.captures.clone());
        let run = |case: &Case, captures: Option<&Path>| {
            run_case(case, captures, self.view, &build, &property)
        };
        if let Some(case) = asked.replay.or_else(|| self.replay.clone()) {
            let (verdict, paths) = run(&case, captures.as_deref());
            return match verdict {
                Ok(()) => Ok(1),
                Err(problem) => Err(Box::new(Failure {
                    first: case.clone(),
                    case,
                    problem,
                    passed: 0,
                    shrink_steps: 0,
                    shrink_runs: 0,
                    test: test_name(),
                    captures: paths,
                })),
            };
        }
        let cases = asked.cases.unwrap_or(self.cases);
        let mut g = Gen::from_size_and_seed(100, self.generation);
        for passed in 0..cases {
            let case = self.plan.case(&mut g);
            let Err(problem) = run(&case, None).0 else {
                continue;
            };
            let mut failure = self.shrink(case, problem, |case| run(case, None).0);
            failure.passed = passed;
            if let Some(directory) = captures.as_deref() {
                failure.captures = run(&failure.case, Some(directory)).1;
            }
            return Err(Box::new(failure));
        }
        Ok(cases)
    }

    /// quickcheck's shrinking: take the first simpler case that still fails, and shrink that,
    /// until none does or the limit of runs is reached.
    fn shrink(&self, first: Case, problem: String, run: impl Fn(&Case) -> Verdict) -> Failure {
        let mut failure = Failure {
            case: first.clone(),
            problem,
            first,
            passed: 0,
            shrink_steps: 0,
            shrink_runs: 0,
            test: test_name(),
            captures: Vec::new(),
        };
        let mut candidates = failure.case.shrink();
        while failure.shrink_runs < self.shrink_limit {
            let Some(candidate) = candidates.next() else {
                break;
            };
            failure.shrink_runs += 1;
            if let Err(problem) = run(&candidate) {
                candidates = candidate.shrink();
                failure.case = candidate;
                failure.problem = problem;
                failure.shrink_steps += 1;
            }
        }
        failure
    }
}

/// Build, schedule, run and judge one case; with `captures`, tap every interface into that
/// directory first. The verdict, and the captures' paths.
fn run_case<T, B, P>(
    case: &Case,
    captures: Option<&Path>,
    view: View,
    build: &B,
    property: &P,
) -> (Verdict, Vec<PathBuf>)
where
    B: Fn(u64) -> Result<(World, T), Box<dyn Error>>,
    P: Fn(Outcome<'_, T>) -> Result<(), Box<dyn Error>>,
{
    let (mut world, kept) = build(case.seed)
        .unwrap_or_else(|error| panic!("the property's world does not build: {error}"));
    if let Err(error) = world.schedule(case.schedule.clone()) {
        panic!("the case {case} does not fit the property's world: {error}");
    }
    let mut paths = Vec::new();
    if let Some(directory) = captures {
        paths = std::fs::create_dir_all(directory)
            .and_then(|()| world.capture_every_interface(directory, view))
            .unwrap_or_else(|error| panic!("captures into {}: {error}", directory.display()));
    }
    let run = world.run();
    if captures.is_some() {
        // The run's captures are reported if they could not be written; the verdict stands.
        if let Err(error) = world.finish_captures() {
            panic!("captures of {case}: {error}");
        }
    }
    let outcome = Outcome {
        run,
        world: &world,
        kept,
        case,
    };
    let judged = panic::catch_unwind(AssertUnwindSafe(|| property(outcome)));
    let verdict = match judged {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(format!(
            "the property panicked: {}",
            panic_message(&payload)
        )),
    };
    (verdict, paths)
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_string)
}
