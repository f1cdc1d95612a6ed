//! `ferry sim --ladder`: the SVG is a valid drawing with an arrow per segment, and the HTML page
//! works in a real browser (Debian's chromium, headless): it loads with nothing on the console,
//! shows as many arrows as segments, and shows a selected arrow's frame in both captures. A
//! world's ladder (`--scenario`, `--nat-lecture`) has a line per host, an arrow per datagram
//! the hosts sent, a NAT's drop crossed with its reason, and the same bytes from the same seed.
//!
//! The browser test needs chromium (tests/run installs it with tests/need); where it cannot be
//! installed, the test is skipped with a message nobody can miss.

mod svg;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pcap_file::pcapng::{Block, PcapNgReader};

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// A fresh directory for one test's files.
fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ladder")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

/// Run `ferry sim` with `args` and `--stats json`; the JSON report.
fn sim(args: &[&str]) -> serde_json::Value {
    let output = ferry()
        .arg("sim")
        .args(args)
        .args(["--stats", "json"])
        .output()
        .expect("ferry runs");
    assert!(
        output.status.success(),
        "ferry sim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The rto sample's run (captures/make-samples): 30000 bytes, RACK-TLP off, the 25th (last)
/// data segment lost, so that only the retransmission timer recovers it; the samples'
/// classic settings.
const RTO_RUN: [&str; 18] = [
    "--bytes",
    "30000",
    "--rack",
    "off",
    "--faults-ab",
    "drop-data=25",
    "--cc",
    "newreno",
    "--initial-window",
    "3",
    "--pacing",
    "off",
    "--timestamps",
    "off",
    "--pmtud",
    "off",
    "--recv-buffer",
    "64KiB",
];

/// `RTO_RUN` and `more`.
fn rto_run<'a>(more: &[&'a str]) -> Vec<&'a str> {
    RTO_RUN.iter().chain(more).copied().collect()
}

/// Segments both hosts sent: one arrow each when the link neither drops nor duplicates.
fn segments(stats: &serde_json::Value) -> u64 {
    stats["segments_sent"].as_u64().unwrap()
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Counts of the SVG's arrows, crosses and timer marks, from python3's XML parser (a strict
/// one: a malformed file fails).
const SVG_COUNTS: &str = r#"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == ns + "svg", root.tag
classes = [g.get("class", "").split() for g in root.iter(ns + "g")]
print(sum("datagram" in c for c in classes), sum("cross" in c for c in classes),
      sum("timer" in c for c in classes))
"#;

fn svg_counts(file: &Path) -> (u64, u64, u64) {
    let lines = svg::python_on_svg(SVG_COUNTS, file);
    let counts: Vec<u64> = lines[0]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (counts[0], counts[1], counts[2])
}

#[test]
fn the_ladder_svg_has_an_arrow_per_segment_a_cross_per_drop_and_the_timers() {
    let dir = output_dir("svg");
    let clean = dir.join("clean.svg");
    let stats = sim(&["--bytes", "3000", "--ladder", path_text(&clean)]);
    assert_eq!(svg_counts(&clean), (segments(&stats), 0, 0));

    let rto = dir.join("rto.svg");
    let stats = sim(&rto_run(&["--ladder", path_text(&rto)]));
    assert_eq!(svg_counts(&rto), (segments(&stats), 1, 1));
    let svg = std::fs::read_to_string(&rto).unwrap();
    assert!(svg.contains(">dropped (scripted: 25th data segment)</text>"));
    assert!(svg.contains(">RTO #1</text>"));

    // A window of time keeps what was sent in it: here the loss and the retransmission.
    let window = dir.join("window.svg");
    sim(&rto_run(&[
        "--ladder",
        path_text(&window),
        "--ladder-window",
        "150ms..410ms",
    ]));
    let (arrows, crosses, timers) = svg_counts(&window);
    assert!(arrows < segments(&stats) / 2, "{arrows}");
    assert_eq!((crosses, timers), (1, 1));
}

#[test]
fn a_ladder_file_must_be_svg_or_html() {
    let output = ferry()
        .args(["sim", "--bytes", "3000", "--ladder", "ladder.png"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("should end in .svg") && message.contains(".html"),
        "{message}"
    );
    let output = ferry()
        .args(["sim", "--bytes", "3000", "--ladder-window", "0s..1s"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "--ladder-window needs --ladder"
    );
}

/// Debian's chromium, if it is here (`tests/need chromium chromium` installs it).
fn chromium(test: &str) -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    });
    if found.is_none() {
        // Straight to stderr: the test harness captures eprintln!, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: chromium is not installed and the ladder page is untested in a \
             browser. Run `tests/need chromium chromium` (as root), or tests/run, to install \
             it. ***\n"
        );
    }
    found.map(PathBuf::from)
}

/// What headless chromium made of `url`: the DOM after the page's scripts ran, and what the
/// page wrote to the console (chromium logs each message to stderr as `...:CONSOLE...`).
/// Chromium's profile and output go to `dir`.
fn load_in_browser(browser: &Path, url: &str, dir: &Path) -> (String, Vec<String>) {
    let (dom, log) = (dir.join("dom.html"), dir.join("chromium.log"));
    let mut child = Command::new(browser)
        // The flags that work on a machine with no network and no display, as root.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(["--dump-dom", url])
        .stdout(std::fs::File::create(&dom).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("chromium starts");
    // Two minutes at most (counted in sleeps: tests read no clock).
    let step = Duration::from_millis(50);
    let mut finished = false;
    for _ in 0..2400 {
        if child.try_wait().expect("chromium runs").is_some() {
            finished = true;
            break;
        }
        std::thread::sleep(step);
    }
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish loading {url} in two minutes");
    }
    let console = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (std::fs::read_to_string(&dom).unwrap(), console)
}

/// The value of the first `name="..."` attribute in `dom`.
fn attribute<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find(&format!(" {name}=\""))? + name.len() + 3;
    dom[start..].split('"').next()
}

#[test]
fn the_ladder_page_works_in_a_real_browser() {
    let Some(browser) = chromium("the_ladder_page_works_in_a_real_browser") else {
        return;
    };
    let dir = output_dir("browser");
    // A lost segment, a retransmission timer, both captures of the same run.
    let page = dir.join("rto.html");
    let pcap = dir.join("rto");
    let stats = sim(&rto_run(&[
        "--ladder",
        path_text(&page),
        "--pcap",
        path_text(&pcap),
    ]));
    // Datagram 47 is the retransmission of the lost one (44).
    let url = format!("file://{}#select=47", path_text(&page));
    let (dom, console) = load_in_browser(&browser, &url, &dir);
    assert_eq!(
        console,
        Vec::<String>::new(),
        "the page wrote to the console"
    );
    assert_eq!(attribute(&dom, "data-errors"), None, "{dom}");
    assert_eq!(
        attribute(&dom, "data-status"),
        Some("ready"),
        "the script ran to its end"
    );
    let arrows = segments(&stats).to_string();
    assert_eq!(attribute(&dom, "data-arrows"), Some(arrows.as_str()));
    assert!(dom.contains(&format!(r#"<span id="arrow-count">{arrows}</span>"#)));
    // The selected arrow's details: why it was sent, its frame in each capture.
    let details = dom
        .split(r#"<pre id="details">"#)
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the details panel");
    assert!(
        details.starts_with("#47 A → B: [FIN, ACK] Seq=28801 Ack=1"),
        "{details}"
    );
    assert!(details.contains("why: retransmission: RTO #1"), "{details}");
    for capture in ["in A's capture", "in B's capture"] {
        assert!(details.contains(capture), "{capture}: {details}");
    }
}

/// A client and a server through a router, the client's link losing its 3rd data segment:
/// a world of two hosts and a router for `ferry sim --scenario`.
const SMALL_WORLD: &str = r#"
seed = 2

[[host]]
name = "client"
address = "10.0.0.2"

[[router]]
name = "router"
address = "10.0.0.1"

[[host]]
name = "server"
address = "10.0.1.2"

[[link]]
a = "client"
b = "router"
rate = "10mbit"
delay = "10ms"
faults = "drop-data=3"

[[link]]
a = "router"
b = "server"
rate = "10mbit"
delay = "5ms"

[[program]]
host = "server"
run = "bulk-receive"
port = 5000

[[program]]
host = "client"
run = "bulk-send"
to = "server:5000"
bytes = "12000"
"#;

/// Run `ferry sim` with `args`, which must succeed; its stdout.
fn sim_text(args: &[&str]) -> String {
    let output = ferry().arg("sim").args(args).output().expect("ferry runs");
    assert!(
        output.status.success(),
        "ferry sim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The index (`data-i`) of the first arrow of `class` in an SVG's text.
fn arrow_index(svg: &str, class: &str) -> usize {
    let start = svg
        .find(&format!(r#"<g class="datagram {class}" data-i=""#))
        .unwrap_or_else(|| panic!("no {class} arrow"));
    svg[start..].split('"').nth(3).unwrap().parse().unwrap()
}

/// The datagrams the host at `address` sent, in its interface capture: the IPv4 packets
/// whose source is its address.
fn sent_in_capture(path: &Path, address: [u8; 4]) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).expect("a pcapng file");
    let mut sent = 0;
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.unwrap() {
            let frame = &packet.data;
            let ipv4 = frame.len() > 34 && frame[12..14] == [0x08, 0x00];
            sent += usize::from(ipv4 && frame[26..30] == address);
        }
    }
    sent
}

#[test]
fn a_scenarios_ladder_has_a_line_per_host_and_the_links_drop_and_is_the_same_each_run() {
    let dir = output_dir("scenario");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL_WORLD).unwrap();
    let (first, second) = (dir.join("first.svg"), dir.join("second.svg"));
    for file in [&first, &second] {
        sim_text(&[
            "--scenario",
            path_text(&scenario),
            "--ladder",
            path_text(file),
        ]);
    }
    let svg = std::fs::read_to_string(&first).unwrap();
    assert_eq!(svg, std::fs::read_to_string(&second).unwrap(), "same seed");
    // Two hosts' lines (the router has none); the lost segment crossed where it was lost,
    // then resent.
    assert!(svg.contains(">client</text>") && svg.contains(">server</text>"));
    assert!(!svg.contains(">router</text>"));
    let (arrows, crosses, _) = svg_counts(&first);
    assert!(
        svg.contains(&format!(">{arrows} datagrams from ")),
        "the caption"
    );
    assert_eq!(crosses, 1);
    assert!(svg.contains(">dropped (scripted: 3rd data segment) on client→router</text>"));
    assert!(svg.contains(r#"<g class="datagram retransmission""#));
}

#[test]
fn the_nat_lectures_ladder_has_an_arrow_per_datagram_and_the_nats_drop() {
    let dir = output_dir("lecture");
    let (file, pcap) = (dir.join("lecture.svg"), dir.join("pcap"));
    sim_text(&[
        "--nat-lecture",
        "--ladder",
        path_text(&file),
        "--pcap",
        path_text(&pcap),
    ]);
    // Every datagram the three hosts sent, as their interface captures hold them.
    let sent: usize = [
        ("peer1-nat1", [192, 168, 1, 2]),
        ("rendezvous-internet", [7, 7, 7, 7]),
        ("peer2-nat2", [10, 0, 0, 2]),
    ]
    .into_iter()
    .map(|(name, address)| sent_in_capture(&pcap.join(format!("{name}.pcapng")), address))
    .sum();
    let (arrows, crosses, _) = svg_counts(&file);
    assert_eq!((arrows, crosses), (sent as u64, 1));
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(
        svg.contains(">dropped by NAT 4.5.6.7: no mapping for 1.2.3.4:4000"),
        "the NAT's reason on the cross"
    );
    // --ladder is no option of --punch-matrix (many runs): refused, not ignored.
    let output = ferry()
        .args(["sim", "--punch-matrix", "--ladder", "x.svg"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_scenarios_and_the_nat_lectures_ladder_pages_work_in_a_real_browser() {
    let test = "a_scenarios_and_the_nat_lectures_ladder_pages_work_in_a_real_browser";
    let Some(browser) = chromium(test) else {
        return;
    };
    let dir = output_dir("scenario-browser");
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, SMALL_WORLD).unwrap();
    let (svg_file, page) = (dir.join("small.svg"), dir.join("small.html"));
    sim_text(&[
        "--scenario",
        path_text(&scenario),
        "--ladder",
        path_text(&svg_file),
        "--ladder",
        path_text(&page),
    ]);
    let url = format!("file://{}", path_text(&page));
    let (dom, console) = load_in_browser(&browser, &url, &dir);
    assert_eq!(
        console,
        Vec::<String>::new(),
        "the page wrote to the console"
    );
    assert_eq!(attribute(&dom, "data-status"), Some("ready"));
    let (arrows, _, _) = svg_counts(&svg_file);
    assert_eq!(
        attribute(&dom, "data-arrows"),
        Some(arrows.to_string().as_str())
    );

    let dir = output_dir("lecture-browser");
    let (svg_file, page, pcap) = (
        dir.join("lecture.svg"),
        dir.join("lecture.html"),
        dir.join("pcap"),
    );
    sim_text(&[
        "--nat-lecture",
        "--ladder",
        path_text(&svg_file),
        "--ladder",
        path_text(&page),
        "--pcap",
        path_text(&pcap),
    ]);
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    let dropped = arrow_index(&svg, "control dropped");
    let url = format!("file://{}#select={dropped}", path_text(&page));
    let (dom, console) = load_in_browser(&browser, &url, &dir);
    assert_eq!(
        console,
        Vec::<String>::new(),
        "the page wrote to the console"
    );
    assert_eq!(attribute(&dom, "data-errors"), None, "{dom}");
    assert_eq!(attribute(&dom, "data-status"), Some("ready"));
    let (arrows, _, _) = svg_counts(&svg_file);
    assert_eq!(
        attribute(&dom, "data-arrows"),
        Some(arrows.to_string().as_str())
    );
    // The dropped SYN's details: where it died and why, its frame in peer 1's capture.
    let details = dom
        .split(r#"<pre id="details">"#)
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the details panel");
    assert!(
        details.starts_with(&format!("#{dropped} peer1 → peer2: [SYN] Seq=0")),
        "{details}"
    );
    assert!(details.contains("dropped by NAT 4.5.6.7: "), "{details}");
    assert!(details.contains(" in peer1-nat1.pcapng"), "{details}");
}
