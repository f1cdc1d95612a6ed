//! `ferry sim --first-byte`: the time-to-first-byte table of docs/performance.md (issue 21
//! item 5) and the answers of the lab exercise in docs/lab.md that counts its round trips in
//! the captures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pcap_file::pcapng::{Block, PcapNgReader};
use serde_json::Value;

/// Each kind and its round trips until the first byte: the expectation.
const EXPECTED: [(&str, f64); 5] = [
    ("plain", 2.0),
    ("tls12", 4.0),
    ("tls13", 3.0),
    ("secure", 2.0),
    ("0rtt", 1.0),
];

fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

/// `ferry sim --first-byte all --rtt RTT --stats json` with `extra` arguments: its runs.
fn runs(rtt: &str, extra: &[&str]) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "sim",
            "--first-byte",
            "all",
            "--rtt",
            rtt,
            "--stats",
            "json",
        ])
        .args(extra)
        .output()
        .expect("ferry runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    report["runs"].as_array().expect("a list of runs").clone()
}

#[test]
fn each_kind_takes_its_round_trips_to_the_first_byte_within_five_percent() {
    for (rtt, seconds) in [("40ms", 0.040), ("300ms", 0.300)] {
        let runs = runs(rtt, &[]);
        assert_eq!(runs.len(), EXPECTED.len());
        for (run, (kind, trips)) in runs.iter().zip(EXPECTED) {
            assert_eq!(run["kind"], kind);
            let first_byte = run["first_byte_seconds"].as_f64().unwrap();
            let measured = first_byte / seconds;
            assert!(
                (measured - trips).abs() <= 0.05 * trips,
                "{kind} at {rtt}: {first_byte} s is {measured} round trips, not {trips}"
            );
        }
    }
}

/// When A received each frame from B (198.51.100.1), from A's capture.
fn arrivals_from_b(path: &Path) -> Vec<Duration> {
    let bytes = std::fs::read(path).expect("the capture was written");
    let mut reader = PcapNgReader::new(&bytes[..]).expect("a pcapng file");
    let mut arrivals = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.expect("a whole block") {
            // Ethernet (14 octets), then IPv4: the source address at octets 12 to 15.
            if packet.data.get(26..30) == Some(&[198, 51, 100, 1][..]) {
                arrivals.push(packet.timestamp);
            }
        }
    }
    arrivals
}

#[test]
fn the_labs_flight_count_in_as_captures_gives_each_kinds_round_trips() {
    // docs/lab.md, "20. Time to first byte": each flight from B reaches A at a time of its
    // own, one round trip after A's flight before it; the flights A received up to the one
    // with the response are the round trips.
    let dir = output_dir("first_byte_lab");
    let prefix = dir.join("fb");
    let runs = runs("300ms", &["--pcap", prefix.to_str().unwrap()]);
    for (run, (kind, trips)) in runs.iter().zip(EXPECTED) {
        let first_byte = Duration::from_secs_f64(run["first_byte_seconds"].as_f64().unwrap());
        let mut arrivals = arrivals_from_b(&dir.join(format!("fb-{kind}-a.pcapng")));
        arrivals.retain(|&at| at <= first_byte);
        // A flight's frames arrive within a few milliseconds of each other (each takes
        // about 1 ms at 10 Mbit/s); flights are a round trip apart.
        let flights = 1 + arrivals
            .windows(2)
            .filter(|pair| pair[1] - pair[0] > Duration::from_millis(100))
            .count();
        assert_eq!(flights as f64, trips, "{kind}: frames at {arrivals:?}");
    }
}

/// A qlog JSON-SEQ file's records.
fn qlog_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the trace was written");
    text.lines()
        .map(|line| serde_json::from_str(line.trim_start_matches('\x1e')).expect("JSON"))
        .collect()
}

/// `--first-byte KIND --ladder FILE --trace PREFIX`: the ladder and both hosts' traces of the
/// run, which is the same run as without them; the trace shows the response's first bytes
/// arriving at A at the first-byte time. With `all`, each kind's files name it.
#[test]
fn a_first_byte_run_draws_its_ladder_and_writes_its_trace() {
    let dir = output_dir("first-byte-ladder-trace");
    let (svg, prefix) = (dir.join("plain.svg"), dir.join("run"));
    let text = |path: &Path| path.to_str().unwrap().to_string();
    let first_byte_ms = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["sim", "--first-byte", "plain", "--stats", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["runs"][0]["first_byte_seconds"].as_f64().unwrap() * 1000.0
    };
    let plain = first_byte_ms(&[]);
    let observed = first_byte_ms(&["--ladder", &text(&svg), "--trace", &text(&prefix)]);
    assert_eq!(plain, observed, "recording changed the run");
    let drawing = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawing.contains("ferry sim --first-byte plain"),
        "the title names the kind"
    );
    assert!(
        drawing.contains(">[SYN] Seq=0 Len=0"),
        "A's SYN is an arrow"
    );
    let a = qlog_records(&dir.join("run-plain-a.sqlog"));
    let response = a
        .iter()
        .find(|event| {
            event["name"] == "transport:packet_received"
                && event["data"]["raw"]["payload_length"].as_u64() > Some(0)
        })
        .expect("A received the response");
    let arrived = response["time"].as_f64().unwrap();
    assert!(
        (arrived - plain).abs() < 0.01,
        "{arrived} ms against {plain} ms"
    );
    assert!(dir.join("run-plain-b.sqlog").exists());

    // `all`: a ladder and two traces per kind, each named by its kind.
    let all = dir.join("all.svg");
    runs(
        "40ms",
        &["--ladder", &text(&all), "--trace", &text(&prefix)],
    );
    for (kind, _) in EXPECTED {
        assert!(
            dir.join(format!("all-{kind}.svg")).exists(),
            "{kind}'s ladder"
        );
        assert!(
            dir.join(format!("run-{kind}-b.sqlog")).exists(),
            "{kind}'s trace"
        );
    }
    // --plot is still refused: a request and a response are too little to plot.
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sim", "--first-byte", "plain", "--plot", "x.svg"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
