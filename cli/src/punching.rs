//! `ferry sim --nat-lecture` and `ferry sim --punch-matrix`: hole punching in the simulated
//! world (ferry::sim::world::punching). The first walks through the lecture's example step
//! by step, printing both NATs' mapping tables after each change; the second runs punching
//! for every pair of NAT presets over many seeds and prints the success matrix
//! (docs/performance.md, "Hole punching").

use std::path::Path;
use std::process::ExitCode;

use ferry::capture::View;
use ferry::fault::FaultConfig;
use ferry::ladder::{Ladder, LadderOptions};
use ferry::rendezvous::BirthdaySize;
use ferry::sim::world::punching::{
    lecture_programs, lecture_walkthrough, lecture_world, success_matrix, PeerOutcome,
    PunchOutcome, Route, Step, MATRIX_HEADER,
};
use ferry::sim::world::{Preset, WorldEvents};
use serde_json::{json, Value};

use crate::sim::LadderRequest;

/// Walk through the lecture's example from `seed`, both NATs port-restricted cones, with
/// `faults` on every link; with `pcap`, write each interface's capture into that directory;
/// with `ladder`, draw the run's ladder (a line per host, the NATs' drops crossed); with
/// `trace`, write each host's qlog trace to `trace`-HOST.sqlog. Exit 0 if the peers
/// connected directly, 1 if not (2 if a ladder or a trace cannot be written).
pub fn lecture(
    seed: u64,
    faults: &FaultConfig,
    pcap: Option<&Path>,
    ladder: Option<&LadderRequest>,
    trace: Option<&Path>,
) -> ExitCode {
    let (mut drawn, mut events) = (None, None);
    let mut run = || -> Result<bool, Box<dyn std::error::Error>> {
        let options = ladder.map(|request| &request.options);
        let walked = walk(seed, faults, pcap, options, trace.is_some())?;
        let (steps, outcome) = (walked.steps, walked.outcome);
        (drawn, events) = (walked.ladder, walked.events);
        println!(
            "The lecture's example: peer 1 at 192.168.1.2:4000 behind NAT 1.2.3.4, peer 2 at \
             10.0.0.2:5000 behind NAT 4.5.6.7 (both {}), a rendezvous at 7.7.7.7:7000; seed \
             {seed}.\n",
            PRESET.title()
        );
        for step in steps {
            println!("{step}");
        }
        for (peer, side) in [(1, &outcome.peer1), (2, &outcome.peer2)] {
            match &side.error {
                Some(error) => println!("peer {peer}: {error}"),
                None => println!(
                    "peer {peer}: connected {}, {} SYN(s) sent, the peer's message {}",
                    if side.relayed {
                        "through the relay"
                    } else {
                        "directly"
                    },
                    side.attempts,
                    if side.intact { "intact" } else { "damaged" }
                ),
            }
        }
        if let Some(directory) = pcap {
            println!(
                "captures on both sides of each NAT: {}/",
                directory.display()
            );
        }
        Ok(outcome.direct())
    };
    let direct = run();
    let title = format!(
        "ferry sim --nat-lecture: hole punching as the lecture draws it, seed {seed}, \
         faults {faults}"
    );
    if let (Some(request), Some(drawn)) = (ladder, &drawn) {
        if let Err(code) = crate::sim::write_ladders(&request.files, drawn, &title) {
            return code;
        }
    }
    if let (Some(prefix), Some(events)) = (trace, &events) {
        if let Err(code) = crate::qlog::write_world_traces(prefix, &title, events) {
            return code;
        }
    }
    match direct {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("ferry sim: {error}");
            ExitCode::from(1)
        }
    }
}

/// The lecture's example as numbers, for `ferry lab`: each peer's outcome (when it was
/// established, whether through the relay, the SYNs it sent, whether the message arrived
/// whole) and the datagrams the NATs dropped, with when the first was.
pub fn lecture_report(seed: u64, faults: &FaultConfig) -> Result<Value, String> {
    let Walked { steps, outcome, .. } =
        walk(seed, faults, None, None, false).map_err(|error| error.to_string())?;
    let drops: Vec<f64> = steps
        .iter()
        .filter(|step| {
            step.changes
                .iter()
                .any(|change| change.contains(" dropped "))
        })
        .map(|step| step.at.as_secs_f64())
        .collect();
    let peer = |side: &PeerOutcome| {
        json!({
            "established_seconds": side.established.map(|at| at.as_secs_f64()),
            "relayed": side.relayed,
            "attempts": side.attempts,
            "intact": side.intact,
        })
    };
    Ok(json!({
        "peer1": peer(&outcome.peer1),
        "peer2": peer(&outcome.peer2),
        "nat_drops": drops.len(),
        "first_nat_drop_seconds": drops.first(),
    }))
}

/// Both NATs of the lecture's example.
const PRESET: Preset = Preset::PortRestrictedCone;

/// The lecture's example, run to its end.
struct Walked {
    /// The steps of its walk-through.
    steps: Vec<Step>,
    /// How the punch went.
    outcome: PunchOutcome,
    /// Its ladder diagram, if one was asked for.
    ladder: Option<Ladder>,
    /// Every host's connection trace events, if asked for.
    events: Option<WorldEvents>,
}

/// Run the lecture's example to its end, recording its ladder if `ladder` asks for one and
/// its hosts' connection trace events if `events`.
fn walk(
    seed: u64,
    faults: &FaultConfig,
    pcap: Option<&Path>,
    ladder: Option<&LadderOptions>,
    events: bool,
) -> Result<Walked, Box<dyn std::error::Error>> {
    let mut world = lecture_world(seed, PRESET, PRESET, faults)?;
    if let Some(options) = ladder {
        world.record_ladder(options.clone());
    }
    if events {
        world.record_events();
    }
    // Without PROBEs: both NATs are cones, whose tables then hold the lecture's rows alone.
    let outcome = lecture_programs(&mut world, true, false)?;
    if let Some(directory) = pcap {
        std::fs::create_dir_all(directory)?;
        world.capture_every_interface(directory, View::Ferry)?;
    }
    let steps = lecture_walkthrough(&mut world, &outcome)?;
    world.run()?;
    world.finish_captures()?;
    let outcome = outcome.borrow().clone();
    Ok(Walked {
        steps,
        outcome,
        ladder: world.take_ladder(),
        events: world.take_events(),
    })
}

/// Run the success matrix over seeds 1 to `seeds` with `faults` on every link and print it.
/// Exit 0 if every pair RFC 4787 predicts direct connected directly in at least 99% of the
/// seeds and every pair connected in all of them, 1 if not.
pub fn matrix(seeds: u64, faults: &FaultConfig) -> ExitCode {
    let cells = match success_matrix(seeds, faults) {
        Ok(cells) => cells,
        Err(error) => {
            eprintln!("ferry sim: {error}");
            return ExitCode::from(1);
        }
    };
    println!("Hole punching in the lecture's world, {seeds} seeds, faults {faults} on every link:");
    println!("{MATRIX_HEADER}");
    let mut met = true;
    for cell in &cells {
        println!("{cell}");
        if let Some((seed, error)) = &cell.first_failure {
            println!("    first failure, seed {seed}: {error}");
        }
        if cell.predicted() == Route::Birthday {
            let size = BirthdaySize::default();
            println!(
                "    birthday probing, {} sockets x {} ports: direct {:.1}% measured, {:.1}% by \
                 1 - exp(-n m / 64,512)",
                size.sockets,
                size.knocks,
                100.0 * cell.direct_rate(),
                100.0 * cell.predicted().direct_chance()
            );
        }
        let direct_enough = !cell.predicted().is_direct() || cell.direct * 100 >= cell.runs * 99;
        met &= direct_enough && cell.connected() == cell.runs;
    }
    match met {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}
