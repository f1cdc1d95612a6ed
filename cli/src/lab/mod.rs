//! `ferry lab FILE`: a run and the observations expected of it, in one TOML file; the run is
//! made, and each observation printed with the value measured and PASS or FAIL
//! (docs/lab.md, "Checking your answers").
//!
//! The run is either a two-host `ferry sim` transfer, `[sim]` holding its flags as keys
//! (`faults-ab = "drop-data=25"`, `rack = "off"`), read by `ferry sim`'s own parser; or a
//! world, `scenario = "FILE"`, a scenario file (docs/simulation.md) read by
//! [`crate::scenario`]'s. Exit status: 0 if every observation holds, 1 if one does not, 2 if
//! the file is malformed (its line, and what is valid there).
//!
//! | file | owns |
//! |---|---|
//! | `observation.rs` | the observation language: `METRIC OP NUMBER`, `METRIC within P% of NUMBER` |
//! | `metrics.rs` | what a run gives to measure: its JSON report's numbers, its trace events |

mod metrics;
mod observation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde::Deserialize;
use toml::Spanned;

use ferry::sim::{self, Observers};

use crate::scenario::{describe, Located};
use crate::sim::SimArgs;
use metrics::{Measurements, EVENT_METRICS};
use observation::{Observation, Shown};

#[derive(clap::Args)]
pub struct LabArgs {
    /// The lab file: a run (`[sim]` with `ferry sim`'s flags as keys, or `scenario = FILE`)
    /// and `expect`, the observations to check (docs/lab.md, "Checking your answers").
    file: PathBuf,
}

/// A lab file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabFile {
    /// The observations, each a line of the observation language.
    expect: Spanned<Vec<Spanned<String>>>,
    /// A two-host run: `ferry sim`'s flags, without their `--`, and their values.
    sim: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    /// A world: a scenario file, relative to the lab file.
    scenario: Option<Spanned<String>>,
    /// The scenario's seed, in place of its own.
    seed: Option<u64>,
}

/// `ferry sim`'s flags a lab may set: those that shape the run, not what it writes.
const SIM_KEYS: [&str; 30] = [
    "bytes",
    "pmtud",
    "mtu",
    "file",
    "faults",
    "faults-ab",
    "faults-ba",
    "rate",
    "rtt",
    "queue",
    "sack",
    "rack",
    "secure",
    "cc",
    "initial-window",
    "dupthresh",
    "mss",
    "recv-buffer",
    "send-buffer",
    "seed",
    "read-pause",
    "abort-after",
    "reply",
    "nodelay",
    "pacing",
    "timestamps",
    "first-byte",
    "nat-lecture",
    "write-size",
    "write-interval",
];

/// The keys of [`SIM_KEYS`] that are flags without a value (`--secure`), not on/off switches.
const PLAIN_FLAGS: [&str; 3] = ["secure", "nodelay", "nat-lecture"];

/// `ferry sim`'s flags on a command line of their own, parsed by its parser.
#[derive(Parser)]
#[command(name = "ferry sim")]
struct SimCommand {
    #[command(flatten)]
    sim: SimArgs,
}

/// A run the file describes.
enum Run {
    /// `ferry sim` with these flags.
    Sim(Vec<String>),
    /// A scenario file, and the seed that replaces its own.
    Scenario(PathBuf, Option<u64>),
}

pub fn lab(args: LabArgs) -> ExitCode {
    let path = &args.file;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("ferry lab: cannot read {}: {error}", path.display());
            return ExitCode::from(2);
        }
    };
    match check(path, &text) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(located) => {
            eprintln!("ferry lab: {}", describe(path, &text, &located));
            ExitCode::from(2)
        }
    }
}

/// Run the lab at `path` (whose text is `text`), print each observation's verdict, and say
/// whether all held; or what is malformed, and where.
fn check(path: &Path, text: &str) -> Result<bool, Located> {
    let file: LabFile = toml::from_str(text).map_err(|error| Located {
        span: error.span(),
        message: error.message().trim_end().to_string(),
    })?;
    let observations = file
        .expect
        .get_ref()
        .iter()
        .map(|line| {
            Observation::parse(line.get_ref())
                .map(|observation| (observation, line.span(), line.get_ref().trim()))
                .map_err(|message| Located {
                    span: Some(line.span()),
                    message,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if observations.is_empty() {
        return Err(Located {
            span: Some(file.expect.span()),
            message: "expect is empty: a lab checks at least one observation".into(),
        });
    }
    let run = run_of(path, &file)?;

    let report;
    let events;
    let measurements = match &run {
        Run::Sim(flags) => {
            let command = SimCommand::try_parse_from(
                std::iter::once("ferry sim".to_string()).chain(flags.iter().cloned()),
            )
            .map_err(|error| at_table(&file, clap_message(&error)))?;
            if let Some(other) = crate::sim::other_run_report(&command.sim) {
                println!("{}: ferry sim {}", path.display(), flags.join(" "));
                report = other.map_err(|message| at_table(&file, message))?;
                Measurements::new(&report, None)
            } else {
                let (config, payload) = crate::sim::transfer_config(&command.sim)
                    .map_err(|message| at_table(&file, message))?;
                println!("{}: ferry sim {}", path.display(), flags.join(" "));
                let observers = Observers {
                    events: true,
                    ..Observers::default()
                };
                let (transfer, observed) = sim::transfer_observed(&config, &payload, observers)
                    .map_err(|error| at_table(&file, error.to_string()))?;
                report = crate::sim::json_report(&transfer, 0.0);
                events = observed.events.unwrap_or_default();
                if events.omitted > 0 {
                    println!(
                        "note: the run's trace holds its first {} events, not {} more: what is \
                     measured from the events counts only those",
                        sim::MAX_RECORDED_EVENTS,
                        events.omitted
                    );
                }
                Measurements::new(&report, Some(&events.events))
            }
        }
        Run::Scenario(scenario, seed) => {
            let seeded = seed.map_or(String::new(), |seed| format!(" --seed {seed}"));
            println!(
                "{}: ferry sim --scenario {}{seeded}",
                path.display(),
                scenario.display()
            );
            report = crate::scenario::run_json(scenario, *seed).map_err(|message| Located {
                span: file.scenario.as_ref().map(Spanned::span),
                message,
            })?;
            Measurements::new(&report, None)
        }
    };

    // Every name must be a metric before any verdict counts: a misspelt one is a mistake in
    // the file, not a failed observation.
    let mut measured = Vec::new();
    for (observation, span, _) in &observations {
        match measurements.measure(&observation.metric) {
            Ok(value) => measured.push(value),
            Err(()) => {
                let mut valid = measurements.report_names().join(", ");
                if measurements.has_events() {
                    valid = format!("{valid}; from the events: {EVENT_METRICS}");
                }
                return Err(Located {
                    span: Some(span.clone()),
                    message: format!(
                        "{:?} is no metric of this run; valid: {valid}",
                        observation.metric
                    ),
                });
            }
        }
    }
    let width = observations
        .iter()
        .map(|(_, _, written)| written.len())
        .max()
        .unwrap_or(0);
    let mut held = 0;
    for ((observation, _, written), value) in observations.iter().zip(&measured) {
        let holds = observation.holds(*value);
        held += usize::from(holds);
        let value = value.map_or("no value".to_string(), |value| Shown(value).to_string());
        println!(
            "{}  {:width$}  measured {value}",
            if holds { "PASS" } else { "FAIL" },
            written
        );
    }
    println!("{held} of {} observations hold", observations.len());
    Ok(held == observations.len())
}

/// The run `file` describes: exactly one of `[sim]` and `scenario`.
fn run_of(path: &Path, file: &LabFile) -> Result<Run, Located> {
    match (&file.sim, &file.scenario) {
        (Some(sim), None) => {
            if file.seed.is_some() {
                return Err(Located {
                    span: Some(sim.span()),
                    message: "seed belongs in [sim] for a two-host run".into(),
                });
            }
            let mut flags = Vec::new();
            for (key, value) in sim.get_ref() {
                let name = key.get_ref().as_str();
                if !SIM_KEYS.contains(&name) {
                    return Err(Located {
                        span: Some(key.span()),
                        message: format!(
                            "{name:?} is no setting of a run; valid: {}",
                            SIM_KEYS.join(", ")
                        ),
                    });
                }
                let flag = format!("--{name}");
                let own = match (name, value.get_ref()) {
                    // Flags that take no value: true gives the flag, false nothing.
                    (_, toml::Value::Boolean(true)) if PLAIN_FLAGS.contains(&name) => vec![flag],
                    (_, toml::Value::Boolean(false)) if PLAIN_FLAGS.contains(&name) => vec![],
                    (_, _) if PLAIN_FLAGS.contains(&name) => {
                        return Err(Located {
                            span: Some(value.span()),
                            message: format!("{name} is true or false"),
                        })
                    }
                    (_, toml::Value::Boolean(on)) => {
                        vec![flag, if *on { "on" } else { "off" }.to_string()]
                    }
                    // A file is named relative to the lab, as a scenario is.
                    ("file", toml::Value::String(text)) => {
                        let base = path.parent().unwrap_or(Path::new(""));
                        vec![flag, base.join(text).display().to_string()]
                    }
                    (_, toml::Value::String(text)) => vec![flag, text.clone()],
                    (_, toml::Value::Integer(number)) => vec![flag, number.to_string()],
                    _ => {
                        return Err(Located {
                            span: Some(value.span()),
                            message: format!("{name} is a string, a whole number or true/false"),
                        })
                    }
                };
                // Each flag alone first, so that a bad value is blamed on its own line.
                let alone = std::iter::once("ferry sim".to_string()).chain(own.iter().cloned());
                if let Err(error) = SimCommand::try_parse_from(alone) {
                    return Err(Located {
                        span: Some(value.span()),
                        message: clap_message(&error),
                    });
                }
                flags.extend(own);
            }
            Ok(Run::Sim(flags))
        }
        (None, Some(scenario)) => {
            let relative = Path::new(scenario.get_ref());
            let base = path.parent().unwrap_or(Path::new(""));
            Ok(Run::Scenario(base.join(relative), file.seed))
        }
        (Some(sim), Some(_)) => Err(Located {
            span: Some(sim.span()),
            message: "a lab runs either [sim] (a two-host transfer) or a scenario, not both".into(),
        }),
        (None, None) => Err(Located {
            span: None,
            message: "no run: give [sim] (ferry sim's flags as keys, e.g. bytes = \"30000\") \
                      or scenario = \"FILE\" (a scenario file, relative to the lab)"
                .into(),
        }),
    }
}

/// An error about the run as a whole, blamed on the `[sim]` table.
fn at_table(file: &LabFile, message: String) -> Located {
    Located {
        span: file.sim.as_ref().map(Spanned::span),
        message,
    }
}

/// clap's error on one line, without its "error: " and its advice to try --help.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join(" ")
}
