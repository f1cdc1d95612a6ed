//! What the tshark-based tests share.

use std::io::Write;
use std::process::Command;

/// Whether tshark can run here. Under CI its absence is a failure, since tests/run installs
/// it; elsewhere the test is skipped with a message nobody can miss.
pub fn tshark_present(test: &str) -> bool {
    let present = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        if std::env::var_os("CI").is_some() {
            panic!("tshark is missing under CI: tests/run installs tshark (tests/install-tshark)");
        }
        // Straight to stderr: the test harness captures eprintln!, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: tshark is not installed. Run tests/install-tshark (as root), \
             or tests/run, to install it. ***\n"
        );
    }
    present
}
