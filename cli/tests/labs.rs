//! `ferry lab`: every lab file in labs/ (one per exercise of docs/lab.md, its observations the
//! exercise's answers) holds; an observation the run contradicts fails with the value
//! measured; a malformed file is refused with its line and what is valid.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferry_lab(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("lab")
        .arg(file)
        .output()
        .expect("ferry runs")
}

/// A lab file written for one test.
fn lab_file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("labs");
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the lab file is written");
    path
}

#[test]
fn every_lab_holds() {
    let labs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&labs)
        .expect("labs/ exists")
        .map(|entry| entry.expect("a readable directory").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "only {} labs in {}",
        files.len(),
        labs.display()
    );
    let mut failed = Vec::new();
    for file in &files {
        let output = ferry_lab(file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            failed.push(format!(
                "{} exited with {:?}:\n{stdout}{}",
                file.display(),
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        } else {
            assert!(
                stdout.contains("PASS") && !stdout.contains("FAIL"),
                "{stdout}"
            );
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn a_false_observation_fails_with_the_value_measured() {
    let file = lab_file(
        "false.toml",
        r#"expect = [
  "rto_timeouts == 1",
  "a.segment.25.resends.rack >= 1",
  "a.segment.25.resent_at within 5% of 0.2",
]

[sim]
bytes = 30000
rack = "off"
faults-ab = "drop-data=25"
cc = "newreno"
pmtud = "off"
initial-window = 3
timestamps = "off"
recv-buffer = "64KiB"
"#,
    );
    let output = ferry_lab(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let verdict = |observation: &str| {
        stdout
            .lines()
            .find(|line| line.contains(observation))
            .unwrap_or_else(|| panic!("no line for {observation}: {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(verdict("rto_timeouts"), "PASS rto_timeouts == 1 measured 1");
    assert_eq!(
        verdict("resends.rack"),
        "FAIL a.segment.25.resends.rack >= 1 measured 0"
    );
    assert_eq!(
        verdict("resent_at"),
        "FAIL a.segment.25.resent_at within 5% of 0.2 measured 0.406"
    );
    assert!(stdout.contains("1 of 3 observations hold"), "{stdout}");
}

#[test]
fn a_malformed_lab_is_refused_with_its_line_and_what_is_valid() {
    let cases = [
        (
            "unknown-metric.toml",
            "expect = [\n  \"rto_timeouts == 1\",\n  \"retransmisions.fast >= 1\",\n]\n[sim]\nbytes = 3000\n",
            "line 3: \"retransmisions.fast\" is no metric of this run; valid: ",
            "retransmissions.fast",
        ),
        (
            "bad-comparison.toml",
            "expect = [\"rto_timeouts = 1\"]\n[sim]\nbytes = 3000\n",
            "line 1: \"=\" is no comparison",
            "METRIC within P% of NUMBER",
        ),
        (
            "bad-value.toml",
            "expect = [\"rto_timeouts == 1\"]\n[sim]\nbytes = 3000\nrack = \"of\"\n",
            "line 4: invalid value 'of' for '--rack <RACK>'",
            "[possible values: on, off]",
        ),
        (
            "unknown-setting.toml",
            "expect = [\"rto_timeouts == 1\"]\n[sim]\npcap = \"x\"\n",
            "line 3: \"pcap\" is no setting of a run",
            "faults-ab",
        ),
        (
            "no-run.toml",
            "expect = [\"rto_timeouts == 1\"]\n",
            "no run: give [sim]",
            "scenario = \"FILE\"",
        ),
        (
            "unknown-key.toml",
            "expect = [\"rto_timeouts == 1\"]\nexpected = 1\n[sim]\n",
            "line 2: unknown field `expected`",
            "`scenario`",
        ),
    ];
    for (name, text, error, valid) in cases {
        let output = ferry_lab(&lab_file(name, text));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(error) && stderr.contains(valid),
            "{name}: {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("PASS"),
            "{name}"
        );
    }
}

#[test]
fn a_lab_names_its_file_relative_to_itself() {
    let payload = lab_file("payload.bin", &"ferry ".repeat(1000));
    assert!(payload.exists());
    let file = lab_file(
        "file.toml",
        "expect = [\"bytes_delivered == 6000\", \"intact == true\"]\n[sim]\nfile = \"payload.bin\"\n",
    );
    let output = ferry_lab(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("2 of 2 observations hold"), "{stdout}");
}
