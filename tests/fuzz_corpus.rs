//! The fuzz targets as regression tests, on the stable toolchain: every file of the
//! checked-in corpus (`fuzz/seeds/TARGET/`), and every hand-written seed, goes through the
//! same function the fuzzer runs (`fuzz/src/`). A crash the fuzzer found, once its input is
//! added to the corpus, stays fixed. `docs/testing.md`, "Fuzzing", says how to run the fuzzers
//! themselves.
//!
//! `FERRY_FUZZ_WRITE_SEEDS=1 cargo test --test fuzz_corpus` writes the hand-written seeds into
//! the corpus folders (as `hand-*` files), for when the seeds or the input format change.
//!
//! One test, on purpose: the endpoint target bounds the heap with a process-wide counting
//! allocator, which only means something while one thread allocates.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod ferry_fuzz;

use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

fn seed_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

fn hand_written(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "segment" => ferry_fuzz::segment::seeds(),
        "fault_spec" => ferry_fuzz::fault_spec::seeds(),
        "endpoint" => ferry_fuzz::endpoint::seeds(),
        "rendezvous" => ferry_fuzz::rendezvous::seeds(),
        _ => unreachable!("no target {target}"),
    }
}

#[test]
fn every_corpus_file_passes_its_target() {
    let write = std::env::var_os("FERRY_FUZZ_WRITE_SEEDS").is_some_and(|v| v == "1");
    // The endpoint target's memory bound means nothing if the allocator does not count.
    let before = ferry_fuzz::heap::live();
    let probe = vec![0u8; 1 << 20];
    assert!(ferry_fuzz::heap::live() >= before + probe.len());
    drop(probe);
    for (target, run) in ferry_fuzz::TARGETS {
        let dir = seed_dir(target);
        for (name, bytes) in hand_written(target) {
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(&name), &bytes).unwrap();
            }
            run(&bytes);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "{} holds no corpus for {target}",
            dir.display()
        );
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            // A panic names the file, so it can be run alone: `cargo fuzz run TARGET FILE`.
            eprintln!("{target}: {}", file.display());
            run(&bytes);
        }
        println!("{target}: {} corpus files passed", files.len());
    }
}
