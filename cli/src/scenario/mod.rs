//! `ferry sim --scenario FILE`: a world of hosts, routers, links, routes, built-in programs
//! and control events described in a TOML file (docs/simulation.md, "Scenario files"), run,
//! and reported per flow and per shared link.
//!
//! | file | owns |
//! |---|---|
//! | `format.rs` | the file's format: the tables and keys, values with units, `repeat` |
//! | `build.rs` | the world it describes, with each error traced to its line |
//! | `report.rs` | what a run showed, as text or JSON |

mod build;
mod format;
mod report;

use std::ops::Range;
use std::path::Path;
use std::process::ExitCode;

use ferry::ladder::LadderOptions;
use ferry::sim::world::shared_links;

use crate::args::StatsFormat;
use crate::sim::LadderRequest;
pub use build::{build, Built};
pub use format::ScenarioFile;
use report::{json_report, text_report, Outcome};

/// What is wrong with a scenario, and where in its file (a byte range), if one place says it.
#[derive(Debug)]
pub struct Located {
    pub span: Option<Range<usize>>,
    pub message: String,
}

/// The error for `path`, whose text is `text`: `FILE, line N: MESSAGE`, then the line.
pub fn describe(path: &Path, text: &str, located: &Located) -> String {
    let Some(span) = &located.span else {
        return format!("{}: {}", path.display(), located.message);
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    format!(
        "{}, line {line}: {}\n  {line} | {}",
        path.display(),
        located.message,
        text[line_start..line_end].trim_end()
    )
}

/// Read and parse the scenario at `path`: its text, and the file, or what is wrong (to be
/// shown with [`describe`]).
pub fn load(path: &Path) -> Result<(String, Result<ScenarioFile, Located>), std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    let parsed = toml::from_str::<ScenarioFile>(&text).map_err(|error| Located {
        span: error.span(),
        message: error.message().trim_end().to_string(),
    });
    Ok((text, parsed))
}

/// Run the scenario at `path` (seeded with `seed` if given, else its own `seed`, else 1) and
/// print what it showed, drawing its ladder if asked and writing each host's qlog trace to
/// `trace`-HOST.sqlog if asked: exit status 0 if every client finished, 1 if a run or a
/// flow failed, 2 if the file cannot be read or describes what cannot be (or a ladder or a
/// trace cannot be written).
pub fn run(
    path: &Path,
    seed: Option<u64>,
    stats: StatsFormat,
    ladder: Option<&LadderRequest>,
    trace: Option<&Path>,
) -> ExitCode {
    let record = Record {
        ladder: ladder.map(|request| &request.options),
        events: trace.is_some(),
    };
    let ran = run_with(path, seed, record, |outcome| {
        let title = format!(
            "ferry sim --scenario {}, seed {}",
            outcome.scenario.display(),
            outcome.seed
        );
        if let (Some(request), Some(drawn)) = (ladder, &outcome.ladder) {
            if let Err(code) = crate::sim::write_ladders(&request.files, drawn, &title) {
                return code;
            }
        }
        if let (Some(prefix), Some(events)) = (trace, &outcome.events) {
            if let Err(code) = crate::qlog::write_world_traces(prefix, &title, events) {
                return code;
            }
        }
        match stats {
            StatsFormat::Json => println!("{}", json_report(outcome)),
            StatsFormat::Text => print!("{}", text_report(outcome)),
        }
        finish(outcome)
    });
    ran.unwrap_or_else(|message| {
        eprintln!("ferry sim: {message}");
        ExitCode::from(2)
    })
}

/// Run the scenario at `path` and give its JSON report (what `--stats json` prints), or
/// what is wrong with the file, as [`run`] words it.
pub fn run_json(path: &Path, seed: Option<u64>) -> Result<serde_json::Value, String> {
    run_with(path, seed, Record::default(), json_report)
}

/// What a run records beside its report.
#[derive(Default)]
struct Record<'a> {
    /// A ladder diagram, of this window.
    ladder: Option<&'a LadderOptions>,
    /// Every host's connection trace events.
    events: bool,
}

/// Run the scenario at `path` and give `then` what it showed; or say why the file cannot be
/// read or describes what cannot be.
fn run_with<T>(
    path: &Path,
    seed: Option<u64>,
    record: Record,
    then: impl FnOnce(&Outcome) -> T,
) -> Result<T, String> {
    let (text, parsed) =
        load(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let built = parsed.and_then(|file| {
        let seed = seed.or(file.seed).unwrap_or(1);
        build(&file, seed).map(|built| (built, seed))
    });
    let (
        Built {
            mut world,
            flows,
            nats,
        },
        seed,
    ) = built.map_err(|located| describe(path, &text, &located))?;
    if let Some(options) = record.ladder {
        world.record_ladder(options.clone());
    }
    if record.events {
        world.record_events();
    }
    let started = crate::wall_clock();
    let ran = world.run();
    let wall_seconds = started.elapsed().as_secs_f64();
    let ladder = world.take_ladder();
    let events = world.take_events();
    let reports = flows.reports();
    let outcome = Outcome {
        scenario: path,
        seed,
        shared: shared_links(&world, &reports),
        reports,
        nats,
        error: ran.err(),
        wall_seconds,
        ladder,
        events,
        world: &world,
    };
    Ok(then(&outcome))
}

/// The exit status, with the reason on stderr when it is not 0.
fn finish(outcome: &Outcome) -> ExitCode {
    if let Some(error) = &outcome.error {
        eprintln!("ferry sim: the run failed: {error}");
        return ExitCode::FAILURE;
    }
    let unfinished: Vec<String> = outcome
        .reports
        .iter()
        .filter(|flow| flow.ended.is_none())
        .map(|flow| match &flow.error {
            Some(error) => format!("{} failed: {error}", flow.name()),
            None => format!("{} did not finish", flow.name()),
        })
        .collect();
    if unfinished.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "ferry sim: at {:.3} s, {}",
        outcome.world.now().as_secs_f64(),
        unfinished.join("; ")
    );
    ExitCode::FAILURE
}
