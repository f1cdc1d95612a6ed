//! The real kernel path: tests/kernel-path moves 64 MiB between two network namespaces
//! through nftables loss and a delaying relay, with the `ferry` binary this build made. It
//! needs root and says it skipped otherwise (it exits 0 then, and this test passes).

use std::process::Command;

#[test]
fn sixty_four_mebibytes_cross_two_namespaces_through_kernel_loss_intact() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/kernel-path");
    let output = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .output()
        .expect("tests/kernel-path runs");
    let report = String::from_utf8_lossy(&output.stderr);
    println!("{report}");
    assert!(output.status.success(), "{report}");
}
