//! Hole punching through real NATs: tests/nat-traversal builds network namespaces behind
//! nftables masquerade NATs (two that keep source ports, one fully random) and a public one
//! running `ferry rendezvous`, and moves 16 MiB each way with `ferry cat --rendezvous`:
//! directly through the port-preserving pair (checked from the public namespace's counters
//! and nat-a's conntrack table), through the relay for the fully random one (the outcome is
//! printed; nat-c's conntrack shows why: one public port per destination). It needs root and says it skipped otherwise (it exits 0 then, and this test
//! passes); as root, a set-up that breaks fails it.

use std::process::Command;

#[test]
fn sixteen_mebibytes_each_way_through_two_real_nats_directly_and_relayed_past_a_random_one() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/nat-traversal");
    let output = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .output()
        .expect("tests/nat-traversal runs");
    let report = String::from_utf8_lossy(&output.stderr);
    println!("{report}");
    assert!(output.status.success(), "{report}");
}
