//! `ferry sim --nat-lecture` and `ferry sim --punch-matrix`: the lecture's example prints
//! both mapping tables after each step, shows the first SYN dropped at NAT 4.5.6.7 in the
//! capture of its outside, and ends connected directly; a small matrix meets RFC 4787's
//! prediction (exit 0).

use std::process::Command;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

#[test]
fn the_lecture_prints_both_tables_after_each_step_and_writes_both_sides_of_each_nat() {
    let directory = std::env::temp_dir().join(format!("ferry-lecture-{}", std::process::id()));
    let output = ferry()
        .args(["sim", "--nat-lecture", "--pcap"])
        .arg(&directory)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for line in [
        "1.070427 s: NAT 1.2.3.4 maps 192.168.1.2:4000 to 1.2.3.4:4000 for 4.5.6.7:5000",
        "1.090477 s: NAT 4.5.6.7 dropped 1 datagram(s) (1 in all so far: filtered)",
        "1.120403 s: NAT 4.5.6.7 maps 10.0.0.2:5000 to 4.5.6.7:5000 for 1.2.3.4:4000",
        "  10.0.0.2:5000  4.5.6.7:5000  1.2.3.4:4000  121.120403 s",
        "peer 1: connected directly, 1 SYN(s) sent, the peer's message intact",
        "peer 2: connected directly, 1 SYN(s) sent, the peer's message intact",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    // Each step prints both tables.
    assert_eq!(
        stdout
            .matches("NAT 1.2.3.4 (port-restricted cone) at")
            .count(),
        stdout
            .matches("NAT 4.5.6.7 (port-restricted cone) at")
            .count()
    );
    for side in ["nat1-peer1", "nat1-internet", "nat2-internet", "nat2-peer2"] {
        let capture = std::fs::read(directory.join(format!("{side}.pcapng"))).unwrap();
        let dropped = b"dropped by NAT 4.5.6.7: no mapping for 1.2.3.4:4000";
        let has_drop = capture
            .windows(dropped.len())
            .any(|window| window == dropped);
        assert_eq!(has_drop, side == "nat2-internet", "{side}");
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn a_small_matrix_meets_the_prediction() {
    let output = ferry()
        .args(["sim", "--punch-matrix", "--seeds", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // A line per pair, and one more under the birthday pair: its rate beside the formula's.
    assert_eq!(stdout.lines().count(), 2 + 15 + 1, "{stdout}");
    assert!(stdout.contains("faults loss=1% on every link"), "{stdout}");
    assert!(
        stdout.contains(
            "birthday probing, 256 sockets x 1024 ports: direct 100.0% measured, 98.3% by \
             1 - exp(-n m / 64,512)"
        ),
        "{stdout}"
    );
}
