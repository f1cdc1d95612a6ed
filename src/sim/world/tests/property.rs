//! Property tests over the world: cases print as one line and read back, a plan's cases keep
//! to it, shrinking keeps episodes whole, a failing property shrinks to the episode that
//! fails it with its replay line, and a replay runs one case and writes its captures.

use std::time::Duration;

use quickcheck::Gen;

use super::{client_router_server, file_names, CLIENT_ROUTER_SERVER_TAPS};
use crate::capture::View;
use crate::fault::FaultConfig;
use crate::link::LinkConfig;
use crate::sim::world::property::{Asked, Case, Failure, Plan, Property};
use crate::sim::world::time::sleep;
use crate::sim::world::{Control, Cut, World};

/// Everything a plan can do to the client-router-server world.
fn plan() -> Plan {
    Plan::new()
        .crash("server")
        .partition(Cut::link("client", "router"))
        .hold(Cut::hosts("client", "server"))
        .faults("router", "server", FaultConfig::default())
        .within(Duration::from_secs(10))
        .longest(Duration::from_secs(3))
        .at_most(4)
}

/// The client-router-server world of `seed`, whose client waits 15 s, past every episode.
fn quiet_world(seed: u64) -> Result<(World, ()), Box<dyn std::error::Error>> {
    let mut world = client_router_server(seed, LinkConfig::default());
    world.client("client", async {
        sleep(Duration::from_secs(15)).await;
        Ok(())
    })?;
    Ok((world, ()))
}

fn case(text: &str) -> Case {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// Whether every disruption of `case` is undone later: each crash by a restart, each
/// partition by a repair, each hold by a release, each fault spec by a second one.
fn every_episode_ends(case: &Case) -> bool {
    let mut open: Vec<String> = Vec::new();
    for event in &case.schedule {
        let (key, starts) = match &event.control {
            Control::Crash(host) => (format!("host {host}"), true),
            Control::Restart(host) => (format!("host {host}"), false),
            Control::Partition(cut) => (format!("partition {cut}"), true),
            Control::Repair(cut) => (format!("partition {cut}"), false),
            Control::Hold(cut) => (format!("hold {cut}"), true),
            Control::Release(cut) => (format!("hold {cut}"), false),
            Control::SetFaults { from, to, .. } => {
                let key = format!("faults {from} {to}");
                let starts = !open.contains(&key);
                (key, starts)
            }
        };
        match starts {
            true => open.push(key),
            // A restart with no crash before it is a crash and a restart at once.
            false => open.retain(|other| *other != key),
        }
    }
    open.is_empty()
}

#[test]
fn cases_print_as_one_line_that_reads_back() {
    let text = "seed=7; 1500ms: crash server; 2s: restart server; 3s: faults router server \
                loss=5%,delay=20ms";
    assert_eq!(case(text).to_string(), text);
    // Events are put in time order; those at one time keep theirs.
    assert_eq!(
        case("seed=1; 2s: repair link a b; 1s: partition link a b; 1s: crash x").to_string(),
        "seed=1; 1s: partition link a b; 1s: crash x; 2s: repair link a b"
    );
    assert_eq!(case("seed=3").schedule, []);
    let mut g = Gen::from_size_and_seed(100, 5);
    for _ in 0..200 {
        let drawn = plan().case(&mut g);
        assert_eq!(case(&drawn.to_string()), drawn, "{drawn}");
    }
    let error = "1s: crash server".parse::<Case>().unwrap_err();
    assert!(error.to_string().contains("begin with seed=N"), "{error}");
    let error = "seed=1; soon: crash server".parse::<Case>().unwrap_err();
    assert!(error.to_string().contains("such as 1.5s"), "{error}");
}

#[test]
fn drawn_cases_keep_to_the_plan() {
    let normal: FaultConfig = "loss=5%".parse().unwrap();
    let plan = plan().faults("server", "router", normal.clone());
    let mut g = Gen::from_size_and_seed(100, 8);
    let cases: Vec<Case> = (0..300).map(|_| plan.case(&mut g)).collect();
    for case in &cases {
        assert!(case.schedule.len() <= 8, "{case}");
        assert!(
            case.schedule
                .iter()
                .all(|event| event.at <= Duration::from_secs(13)),
            "{case}"
        );
        assert!(every_episode_ends(case), "{case}");
        // A changed spec is put back to the direction's normal one.
        let specs: Vec<&FaultConfig> = case
            .schedule
            .iter()
            .filter_map(|event| match &event.control {
                Control::SetFaults { from, faults, .. } if from == "server" => Some(faults),
                _ => None,
            })
            .collect();
        assert!(specs.iter().skip(1).step_by(2).all(|&spec| *spec == normal));
    }
    // Every kind comes up, and a restart alone (a crash and a restart at once).
    for kind in [
        "crash server",
        "partition link",
        "hold hosts",
        "faults router server",
    ] {
        assert!(
            cases.iter().any(|case| case.to_string().contains(kind)),
            "{kind}"
        );
    }
    assert!(cases
        .iter()
        .any(|case| case.to_string().contains("restart") && !case.to_string().contains("crash")));
    assert!(cases.iter().any(|case| case.schedule.is_empty()));
}

#[test]
fn shrinking_keeps_episodes_whole() {
    let failing = case(
        "seed=1; 1s: crash server; 1500ms: partition link client router; 2s: restart server; \
         4s: repair link client router; 5s: faults router server loss=8%,dup=2%; \
         6s: faults router server none",
    );
    let shrinks: Vec<String> = failing.shrink().map(|c| c.to_string()).collect();
    for expected in [
        "seed=1",
        // One episode fewer.
        "seed=1; 1500ms: partition link client router; 4s: repair link client router; 5s: \
         faults router server loss=8%,dup=2%; 6s: faults router server none",
        // One episode shorter, and one earlier.
        "seed=1; 1s: crash server; 1500ms: partition link client router; 1500ms: restart \
         server; 4s: repair link client router; 5s: faults router server loss=8%,dup=2%; 6s: \
         faults router server none",
        "seed=1; 500ms: crash server; 1500ms: partition link client router; 1500ms: restart \
         server; 4s: repair link client router; 5s: faults router server loss=8%,dup=2%; 6s: \
         faults router server none",
        // A milder spec.
        "seed=1; 1s: crash server; 1500ms: partition link client router; 2s: restart server; \
         4s: repair link client router; 5s: faults router server loss=8%; 6s: faults router \
         server none",
    ] {
        assert!(
            shrinks.contains(&expected.to_string()),
            "{expected}\n{shrinks:#?}"
        );
    }
    for shrink in failing.shrink() {
        assert!(every_episode_ends(&shrink), "{shrink}");
        assert_ne!(shrink, failing);
    }
    // A case shrinks to nothing in a bounded number of steps, whichever way it goes.
    let mut current = failing;
    for _ in 0..500 {
        match current.shrink().last() {
            Some(next) => current = next,
            None => break,
        }
    }
    assert_eq!(current.to_string(), "seed=1");
}

/// The server never crashes: false whenever a case crashes it.
fn server_never_crashes(property: &Property, asked: Asked) -> Result<u64, Box<Failure>> {
    property.try_check_as(asked, quiet_world, |outcome| {
        outcome.run?;
        let crashes = outcome.world.host_stats("server")?.crashes;
        match crashes {
            0 => Ok(()),
            _ => Err(format!("the server crashed ({crashes} in all)").into()),
        }
    })
}

#[test]
fn a_failing_property_shrinks_to_the_episode_that_fails_it() {
    let property = Property::new(plan()).cases(100);
    let failure = server_never_crashes(&property, Asked::default()).unwrap_err();
    // Whatever else the first failing case did, what is left is the server's crash, at the
    // start and as short as it gets.
    let seed = failure.case.seed;
    let smallest = failure.case.to_string();
    assert!(
        [
            format!("seed={seed}; 0: restart server"),
            format!("seed={seed}; 0: crash server; 0: restart server"),
        ]
        .contains(&smallest),
        "{failure}"
    );
    assert!(failure.first.schedule.len() >= failure.case.schedule.len());
    assert!(failure.shrink_runs >= failure.shrink_steps);
    assert!(
        failure.problem.starts_with("the server crashed"),
        "{failure}"
    );
    let report = failure.to_string();
    let replay = format!(
        "replay: FERRY_WORLD_REPLAY='{smallest}' cargo test \
         sim::world::tests::property::a_failing_property_shrinks_to_the_episode_that_fails_it"
    );
    assert!(report.contains(&replay), "{report}");
    // The same cases every run: the generator is seeded.
    let again = server_never_crashes(&property, Asked::default()).unwrap_err();
    assert_eq!((again.first, again.case), (failure.first, failure.case));
}

#[test]
fn a_property_that_holds_passes_every_case() {
    let quiet = Plan::new().partition(Cut::link("client", "router"));
    let passed = server_never_crashes(&Property::new(quiet).cases(30), Asked::default());
    assert_eq!(passed.ok(), Some(30));
    // The environment's count wins.
    let asked = Asked {
        cases: Some(3),
        ..Asked::default()
    };
    let quiet = Plan::new().partition(Cut::link("client", "router"));
    let passed = server_never_crashes(&Property::new(quiet).cases(30), asked);
    assert_eq!(passed.ok(), Some(3));
}

#[test]
fn a_replay_runs_its_one_case_and_writes_its_captures() {
    let directory = std::env::temp_dir().join(format!("ferry-world-replay-{}", std::process::id()));
    let replayed = "seed=4; 2s: crash server; 3s: restart server";
    let property = Property::new(plan())
        .replay(case("seed=4"))
        .captures(&directory, View::Tcp);
    // FERRY_WORLD_REPLAY replaces the case the code gives.
    let asked = Asked::from(|name| (name == "FERRY_WORLD_REPLAY").then(|| replayed.to_string()));
    let failure = server_never_crashes(&property, asked).unwrap_err();
    assert_eq!(failure.case.to_string(), replayed);
    assert_eq!((failure.passed, failure.shrink_runs), (0, 0));
    assert_eq!(file_names(&failure.captures), CLIENT_ROUTER_SERVER_TAPS);
    assert!(failure
        .captures
        .iter()
        .all(|path| std::fs::metadata(path).unwrap().len() > 0));
    assert!(failure.to_string().contains("captures of the case:"));
    // The code's own replay, which passes.
    let passed = server_never_crashes(
        &Property::new(plan()).replay(case("seed=4")),
        Asked::default(),
    );
    assert_eq!(passed.ok(), Some(1));
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn scheduled_events_name_what_the_world_has() {
    let unknown = Property::new(Plan::new().crash("nobody")).cases(20);
    let panicked = std::panic::catch_unwind(|| {
        let _ = server_never_crashes(&unknown, Asked::default());
    });
    let message = panicked.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("does not fit the property's world") && message.contains("nobody"),
        "{message}"
    );
}
