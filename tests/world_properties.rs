//! Property tests of a program on the simulated world (`ferry::sim::world::property`): the
//! key-value server and clients of `examples/world_kv/`, through drawn schedules of server
//! crashes, cut links, held traffic and changed faults, over links that lose 5%.
//!
//! The careful clients, which count a value stored when the server said so, read back every
//! value in every case. The careless client, which counts it stored when `write_all` returned,
//! is caught: a crash of the server loses what was still on its way, and the failure shrinks
//! to that crash (one or two events), printed with the line that replays it. The test passes
//! when the bug is found and shrunk.
//!
//! `FERRY_WORLD_CASES=N` sets the number of cases; a failure's replay line
//! (`FERRY_WORLD_REPLAY='seed=...; ...' cargo test NAME`) runs its one case, and
//! `FERRY_WORLD_CAPTURES=DIR` writes the captures of the case reported.

#[path = "../examples/world_kv/kv.rs"]
mod kv;

use ferry::sim::world::property::{Case, Property};
use ferry::sim::world::Control;
use kv::Client;

#[test]
fn careful_clients_read_back_every_value_through_crashes_cuts_holds_and_loss() {
    #[allow(clippy::disallowed_methods)] // reports how long the cases took; asserts nothing on it
    let started = std::time::Instant::now();
    let cases = Property::new(kv::plan()).cases(300).check(
        |seed| kv::world(seed, Client::Careful),
        kv::every_stored_value_reads_back,
    );
    eprintln!(
        "{cases} cases of three careful clients passed in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_takes_a_completed_write_for_a_stored_value_is_caught_by_a_crash() {
    let property = Property::new(kv::plan()).cases(300);
    let failure = property
        .try_check(
            |seed| kv::world(seed, Client::Careless),
            kv::every_stored_value_reads_back,
        )
        .expect_err("a crash of the server loses a value the careless client counted");
    eprintln!("{failure}");
    // What is left is the server's crash: a restart (a crash and a restart at once), or a
    // crash and its restart.
    let events = &failure.case.schedule;
    assert!(!events.is_empty() && events.len() <= 2, "{failure}");
    assert!(
        events.iter().all(|event| matches!(
            &event.control,
            Control::Crash(host) | Control::Restart(host) if host == "server"
        )),
        "{failure}"
    );
    assert!(failure.problem.contains("but read back None"), "{failure}");
    // The replay line runs that case again, and it fails the same way.
    let line = failure.replay_line();
    let (_, quoted) = line.split_once('\'').expect("a quoted case");
    let (text, _) = quoted.split_once('\'').expect("a quoted case");
    let case: Case = text.parse().expect("the replay line's case");
    let replayed = Property::new(kv::plan())
        .replay(case)
        .try_check(
            |seed| kv::world(seed, Client::Careless),
            kv::every_stored_value_reads_back,
        )
        .expect_err("the replay fails");
    assert_eq!(replayed.problem, failure.problem);
}
