//! The sample captures in captures/ (made by captures/make-samples): they are what the script
//! makes today, byte for byte, and each decodes cleanly in tshark with the dissector and shows
//! the phenomenon captures/README.md promises, with the display filter it names.
//!
//! The tshark tests need tshark (tests/install-tshark); without it they fail under CI and are
//! skipped, loudly, elsewhere, as in tests/captures.rs.

#[path = "../../tests/common/mod.rs"]
mod common;
mod svg;
use common::tshark_present;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository: this package (the CLI) lives in its cli/ directory.
fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn captures() -> PathBuf {
    repo().join("captures")
}

/// The generated files (captures and plots) in `dir`, by name.
fn generated(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pcapng") || name.ends_with(".svg"))
        .collect()
}

#[test]
fn make_samples_reproduces_the_committed_samples_byte_for_byte() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("samples");
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new(captures().join("make-samples"))
        .arg(&dir)
        .env("FERRY", env!("CARGO_BIN_EXE_ferry"))
        .status()
        .expect("captures/make-samples runs");
    assert!(status.success(), "captures/make-samples failed");
    let made = generated(&dir);
    assert_eq!(
        made,
        generated(&captures()),
        "captures/ holds exactly what make-samples makes: run captures/make-samples"
    );
    assert!(made.len() >= 28, "{made:?}");
    for name in &made {
        let fresh = std::fs::read(dir.join(name)).unwrap();
        let committed = std::fs::read(captures().join(name)).unwrap();
        assert!(
            fresh == committed,
            "captures/{name} differs from what captures/make-samples makes now: rerun it and \
             commit the result"
        );
    }
}

/// tshark's output lines for `filter` over a sample, with the dissector loaded: `fields`
/// (separated by tabs) of each matching packet, separated by tabs.
fn matching(file: &str, filter: &str, fields: &str) -> Vec<String> {
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(captures().join(file))
        .args([
            "-X",
            &format!("lua_script:{}", captures().join("ferry.lua").display()),
        ])
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
        ])
        .args(fields.split('\t').flat_map(|field| ["-e", field]))
        .output()
        .expect("tshark runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed on {file}: {stderr}");
    assert!(
        !stderr.to_lowercase().contains("lua"),
        "the dissector reported an error on {file}: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(file: &str, filter: &str) -> usize {
    matching(file, filter, "frame.number").len()
}

/// Wireshark's expert severity "Error" (`PI_ERROR`) as `-T fields` prints it.
const SEVERITY_ERROR: &str = "8388608";

#[test]
fn every_sample_decodes_cleanly() {
    if !tshark_present("every_sample_decodes_cleanly") {
        return;
    }
    let fields = [
        "frame.protocols",
        "_ws.malformed",
        "_ws.expert.severity",
        "ferry.crc.bad",
        "tcp.analysis.lost_segment",
        "tcp.analysis.ack_lost_segment",
        "frame.comment",
    ];
    for name in generated(&captures()) {
        let Some(stem) = name.strip_suffix(".pcapng") else {
            continue;
        };
        // One tshark run per file, all fields at once: each run costs a fifth of a second.
        let rows = matching(&name, "frame", &fields.join("\t"));
        assert!(
            (5..400).contains(&rows.len()),
            "{name}: {} packets",
            rows.len()
        );
        for row in rows {
            let values: Vec<&str> = row
                .split('\t')
                .chain(std::iter::repeat(""))
                .take(7)
                .collect();
            let [protocols, malformed, severities, crc_bad, lost, ack_lost, comment] = values[..]
            else {
                unreachable!("seven fields");
            };
            // B's files begin with a note at the run's start, so that they count time from it.
            if comment == ferry::sim::ORIGIN_NOTE {
                assert_eq!(protocols, "eth:ethertype:data", "{name}: {row}");
                continue;
            }
            assert_eq!(malformed, "", "{name}: {row}");
            // Ferry's own view is all Ferry; in the TCP view only datagrams with a bad CRC
            // stay UDP (and the dissector still finds them).
            let tcp_view = stem.contains("-tcp-");
            let expected = protocols.ends_with(":ferry")
                || (tcp_view && protocols.split(':').any(|p| p == "tcp"));
            assert!(expected, "{name}: {row}");
            // The only errors are bad CRCs.
            if severities
                .split('|')
                .any(|severity| severity == SEVERITY_ERROR)
            {
                assert_ne!(crc_bad, "", "{name}: {row}");
            }
            // The data sender's own file holds everything it sent: Wireshark must never think
            // a segment went missing there.
            if tcp_view && stem.ends_with("-a") {
                assert_eq!((lost, ack_lost), ("", ""), "{name}: {row}");
            }
        }
    }
}

/// Each sample shows its phenomenon with the filter captures/README.md gives for it.
#[test]
fn each_sample_shows_its_phenomenon() {
    if !tshark_present("each_sample_shows_its_phenomenon") {
        return;
    }
    let cases: [(&str, &str, usize); 21] = [
        // Handshake and teardown: SYN, SYN-ACK, two FINs, nothing resent.
        ("handshake-teardown-a.pcapng", "ferry.flags.syn == 1", 2),
        ("handshake-teardown-a.pcapng", "ferry.flags.fin == 1", 2),
        (
            "handshake-teardown-tcp-a.pcapng",
            "tcp.analysis.retransmission",
            0,
        ),
        // One timeout retransmission, and no fast one.
        ("rto-tcp-a.pcapng", "tcp.analysis.retransmission", 1),
        ("rto-tcp-a.pcapng", "tcp.analysis.fast_retransmission", 0),
        ("rto-a.pcapng", "frame.comment contains \"RTO #1\"", 1),
        // RACK-TLP on: the lost tail goes again as a probe, and the timer never fires.
        (
            "tail-loss-probe-a.pcapng",
            "frame.comment == \"tail loss probe (retransmission)\"",
            1,
        ),
        (
            "tail-loss-probe-a.pcapng",
            "frame.comment contains \"RTO\"",
            0,
        ),
        // Three duplicate ACKs (and more), then one fast retransmission.
        (
            "fast-retransmit-tcp-a.pcapng",
            "tcp.analysis.fast_retransmission",
            1,
        ),
        (
            "fast-retransmit-tcp-a.pcapng",
            "tcp.analysis.duplicate_ack_num == 3",
            1,
        ),
        // SACK recovery: a fast retransmission, then two more chosen by the scoreboard.
        (
            "sack-recovery-a.pcapng",
            "frame.comment == \"SACK retransmit\"",
            2,
        ),
        (
            "sack-recovery-tcp-a.pcapng",
            "tcp.analysis.retransmission",
            3,
        ),
        // RACK recovery: a lost retransmission is itself declared lost and resent by RACK,
        // with no timeout.
        (
            "rack-recovery-a.pcapng",
            "frame.comment == \"RACK retransmit\"",
            2,
        ),
        (
            "rack-recovery-a.pcapng",
            "frame.comment contains \"RTO\"",
            0,
        ),
        (
            "rack-recovery-tcp-a.pcapng",
            "tcp.analysis.retransmission",
            2,
        ),
        // The flipped SYN-ACK arrives with a bad CRC, and only it.
        ("bit-flip-a.pcapng", "ferry.crc.status == 0", 1),
        ("bit-flip-b.pcapng", "ferry.crc.status == 0", 0),
        // The zero window and the probes into it.
        (
            "zero-window-tcp-a.pcapng",
            "tcp.analysis.zero_window_probe",
            3,
        ),
        ("zero-window-tcp-a.pcapng", "tcp.analysis.window_update", 1),
        // ACKs lost, data not: the receiver sees the timer's resends as spurious.
        (
            "ack-loss-tcp-b.pcapng",
            "tcp.analysis.spurious_retransmission",
            2,
        ),
        // The receiver's abort.
        ("reset-a.pcapng", "ferry.flags.rst == 1", 1),
    ];
    for (file, filter, expected) in cases {
        assert_eq!(count(file, filter), expected, "{file}: {filter}");
    }
    // In the zero-window capture the window B advertises really reaches 0.
    assert!(
        count(
            "zero-window-a.pcapng",
            "ferry.window == 0 && ip.src == 198.51.100.1"
        ) >= 3
    );
    // The bad CRC is B's SYN-ACK with bit 113 flipped, as the sender's comment says.
    let comments = matching(
        "bit-flip-b.pcapng",
        "ferry.flags.syn == 1 && ferry.flags.ack == 1",
        "frame.comment",
    );
    assert_eq!(
        comments[0],
        "handshake|bit 113 flipped (scripted: first SYN-ACK)"
    );
    assert_eq!(comments[1], "retransmission: RTO #1");
}

/// Parses an SVG with python3's XML parser (a strict one: a malformed file fails) and prints
/// one line per element with an id: the id, its number of `line` children, and the number of
/// points for a polyline; then the legend's texts.
const SVG_SUMMARY: &str = r#"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == ns + "svg", root.tag
for element in root.iter():
    id = element.get("id")
    if id:
        points = len((element.get("points") or "").split())
        marks = len(element.findall(ns + "line")) + len(element.findall(ns + "path"))
        print(id, marks, points)
for text in root.find(".//*[@id='legend']").iter(ns + "text"):
    print("legend", text.text)
"#;

fn svg_summary(file: &Path) -> Vec<String> {
    svg::python_on_svg(SVG_SUMMARY, file)
}

/// `ferry sim --plot` draws every series, and marks each retransmission by its reason.
#[test]
fn the_plot_is_valid_svg_with_every_series_and_retransmissions_by_reason() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plot");
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("sack.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sim", "--bytes", "60000", "--seed", "1", "--rack", "off"])
        .args(["--faults-ab", "drop-data=10,drop-data=12,drop-data=14"])
        // The sample's classic settings (captures/make-samples).
        .args([
            "--cc",
            "newreno",
            "--initial-window",
            "3",
            "--pacing",
            "off",
            "--timestamps",
            "off",
            "--recv-buffer",
            "64KiB",
            "--pmtud",
            "off",
        ])
        .arg("--plot")
        .arg(&svg)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // The title says every setting that shapes the plot.
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains(
            "<title>ferry sim: A's data, 60000 bytes, faults A→B \
             drop-data=10,drop-data=12,drop-data=14, B→A none, SACK on, RACK-TLP off, \
             NewReno, dupthresh 3, MSS 1200, seed 1</title>"
        ),
        "{text:.600}"
    );
    let summary = svg_summary(&svg);
    let group = |id: &str| {
        summary
            .iter()
            .find_map(|line| {
                let mut words = line.split(' ');
                (words.next() == Some(id)).then(|| {
                    let lines: usize = words.next().unwrap().parse().unwrap();
                    let points: usize = words.next().unwrap().parse().unwrap();
                    (lines, points)
                })
            })
            .unwrap_or_else(|| panic!("no element with id {id}: {summary:?}"))
    };
    // 50 segments of 1200 bytes, one each, then one fast and two SACK retransmissions.
    assert_eq!(group("data").0, 50);
    assert_eq!(group("retransmissions-fast").0, 1);
    assert_eq!(group("retransmissions-sack").0, 2);
    assert_eq!(group("retransmissions-rto").0, 0);
    assert_eq!(group("retransmissions-rack").0, 0);
    assert_eq!(group("tail-loss-probes").0, 0);
    assert_eq!(group("window-probes").0, 0);
    assert!(group("sack").0 > 0, "SACK blocks are drawn");
    for line in ["ack", "window", "cwnd"] {
        assert!(group(line).1 > 10, "{line} is a line of many points");
    }
    // The three segments the faults dropped are crossed; the fast retransmit set ssthresh
    // once (a step to the end of the run); the RTO moved with the RTT samples.
    assert_eq!(group("drops").0, 3);
    assert_eq!(group("ssthresh").1, 2);
    assert!(group("rto").1 > 2, "the RTO line has steps");
    for legend in [
        "data sent",
        "retransmission: RTO",
        "fast retransmission",
        "SACK retransmission",
        "RACK retransmission",
        "tail loss probe",
        "window probe",
        "ACK",
        "SACK block",
        "cwnd",
        "ssthresh",
        "RTO",
        "dropped by a fault (cross)",
    ] {
        let entry = format!("legend {legend}");
        assert!(summary.contains(&entry), "{entry}: {summary:?}");
    }
    // And the committed sample plots parse too.
    for name in generated(&captures()) {
        if name.ends_with(".svg") {
            svg_summary(&captures().join(name));
        }
    }
}
