//! The captures, judged by tshark: the dissector (captures/ferry.lua) decodes simulated runs
//! cleanly and agrees with the run's statistics, and in the TCP view Wireshark's own TCP
//! analysis sees the retransmissions Ferry made and no sequence-number mistakes.
//!
//! tshark must be installed (tests/install-tshark does it; tests/run calls that). Without it
//! these tests fail under CI (the `CI` variable set) and are skipped, loudly, elsewhere.

mod common;
use common::tshark_present;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry::capture::{
    window_scale_for, CaptureRecord, CaptureWriter, Unreachable, UnreachableRecord, View,
};
use ferry::sim::{self, Captures, Host, NetworkConfig, TransferConfig, TransferReport};
use ferry::wire::{Flags, Options, Segment, SeqNum};

/// Wireshark's expert severity "Error" (`PI_ERROR`) as `-T fields` prints it.
const SEVERITY_ERROR: &str = "8388608";

fn dissector() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/captures/ferry.lua")
}

/// A fresh directory for one test's files.
fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("captures")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

struct Run {
    report: TransferReport,
    a: PathBuf,
    b: PathBuf,
}

/// Which loss recovery a captured run uses.
#[derive(Clone, Copy, Debug)]
enum Recovery {
    /// The default: SACK with RACK-TLP.
    RackTlp,
    /// SACK with RFC 6675's duplicate-ACK rules alone (`--rack off`).
    Rfc6675,
    /// No SACK: NewReno.
    NewReno,
}

/// A transfer of `bytes` from A to B with `faults_ab` on the data and `faults_ba` on the ACKs,
/// captured on both hosts.
fn captured_run(
    dir: &Path,
    view: View,
    faults_ab: &str,
    faults_ba: &str,
    bytes: usize,
    seed: u64,
    recovery: Recovery,
) -> Run {
    let mut network = NetworkConfig::symmetric(
        Some(10_000_000),
        Duration::from_millis(40),
        faults_ab.parse().expect("a valid fault spec"),
        seed,
    );
    network.b_to_a.faults = faults_ba.parse().expect("a valid fault spec");
    network.connection.sack = !matches!(recovery, Recovery::NewReno);
    network.connection.rack = matches!(recovery, Recovery::RackTlp);
    // Segments of the MSS, as these tests count datagrams and read the SYN's MSS of 1200
    // (path MTU discovery would offer 1428 and grow the segments).
    network.connection.plpmtud = false;
    captured_network_run(dir, view, network, bytes, seed)
}

/// A transfer of `bytes` from A to B over `network`, captured on both hosts.
fn captured_network_run(
    dir: &Path,
    view: View,
    network: NetworkConfig,
    bytes: usize,
    seed: u64,
) -> Run {
    let largest_buffer = [Host::A, Host::B]
        .map(|host| network.connection_of(host).recv_buffer.max())
        .into_iter()
        .max()
        .unwrap();
    let window_scale = window_scale_for(u32::try_from(largest_buffer).unwrap());
    let (a, b) = (dir.join("run-a.pcapng"), dir.join("run-b.pcapng"));
    let captures = Captures::create(&a, &b, view, window_scale).expect("capture files");
    let payload = sim::payload(bytes, seed);
    let observers = sim::Observers {
        captures,
        ..sim::Observers::default()
    };
    let (report, _) = sim::transfer_observed(&TransferConfig::new(network), &payload, observers)
        .expect("the captures are written");
    assert!(report.succeeded(), "{report:#?}");
    Run { report, a, b }
}

/// One row per packet: the fields asked for, each field's occurrences joined by '|'.
fn tshark_fields(file: &Path, fields: &[&str], options: &[&str]) -> Vec<HashMap<String, String>> {
    let mut command = Command::new("tshark");
    command
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(["-X", &format!("lua_script:{}", dissector())])
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .args(["-E", "aggregator=|"]);
    for option in options {
        command.args(["-o", option]);
    }
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("tshark runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    // A broken dissector is reported on stderr while tshark carries on without it.
    assert!(
        !stderr.to_lowercase().contains("lua"),
        "the dissector reported an error: {stderr}"
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 from tshark")
        .lines()
        .map(|line| {
            fields
                .iter()
                .zip(line.split('\t').chain(std::iter::repeat("")))
                .map(|(field, value)| (field.to_string(), value.to_string()))
                .collect()
        })
        .collect()
}

fn ip(host: Host) -> String {
    host.address().ip().to_string()
}

/// Packets whose comments include one starting with `prefix`.
fn count_comments(packets: &[HashMap<String, String>], prefix: &str) -> u64 {
    packets
        .iter()
        .flat_map(|packet| packet["frame.comment"].split('|'))
        .filter(|comment| comment.starts_with(prefix))
        .count() as u64
}

/// Comments (one packet may have several) that contain `text`.
fn count_comments_containing(packets: &[HashMap<String, String>], text: &str) -> u64 {
    packets
        .iter()
        .flat_map(|packet| packet["frame.comment"].split('|'))
        .filter(|comment| comment.contains(text))
        .count() as u64
}

/// Packets with `field` present.
fn count_flagged(packets: &[HashMap<String, String>], field: &str) -> usize {
    packets
        .iter()
        .filter(|packet| !packet[field].is_empty())
        .count()
}

const LOSSY: &str = "loss=5%,flip=1e-5,dup=2%,reorder=5%";
/// Enough data for a few hundred packets per file, so that each tshark run stays quick.
const LOSSY_BYTES: usize = 150_000;
const LOSSY_SEED: u64 = 11;

#[test]
fn a_lossy_run_dissects_cleanly_and_agrees_with_the_stats() {
    if !tshark_present("a_lossy_run_dissects_cleanly_and_agrees_with_the_stats") {
        return;
    }
    let dir = output_dir("lossy");
    let run = captured_run(
        &dir,
        View::Ferry,
        LOSSY,
        LOSSY,
        LOSSY_BYTES,
        LOSSY_SEED,
        Recovery::RackTlp,
    );
    let fields = [
        "frame.number",
        "ip.src",
        "udp.srcport",
        "ferry.magic",
        "ferry.flags",
        "ferry.seq",
        "ferry.ack",
        "ferry.seq.relative",
        "ferry.ack.relative",
        "ferry.crc.status",
        "frame.comment",
        "_ws.col.Info",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ];
    let report = &run.report;
    for (host, file) in [(Host::A, &run.a), (Host::B, &run.b)] {
        let mut packets = tshark_fields(file, &fields, &[]);
        // B's file begins with the note that makes it count time from the run's start.
        if host == Host::B {
            assert_eq!(packets[0]["frame.comment"], sim::ORIGIN_NOTE);
            packets.remove(0);
        }
        let sent: Vec<_> = packets
            .iter()
            .filter(|packet| packet["ip.src"] == ip(host))
            .collect();
        let received = packets.len() - sent.len();
        let (this, peer) = match host {
            Host::A => (&report.a, &report.b),
            Host::B => (&report.b, &report.a),
        };
        assert!(packets.len() < 1000, "keep the tshark runs small");

        // Every packet is Ferry, and nothing is malformed: the only errors are bad CRCs.
        for packet in &packets {
            assert_eq!(packet["ferry.magic"], "0x4652", "{packet:?}");
            assert_eq!(packet["_ws.malformed"], "", "{packet:?}");
            let severities = packet["_ws.expert.severity"].split('|');
            let messages = packet["_ws.expert.message"].split('|');
            for (severity, message) in severities.zip(messages) {
                if severity == SEVERITY_ERROR {
                    assert!(message.starts_with("Bad CRC-32"), "{packet:?}");
                }
            }
        }

        // What the host sent is what its connection and endpoint sent, all offered to the
        // link; what it received is what the peer's link delivered.
        assert_eq!(sent.len() as u64, this.faults.datagrams, "{host:?} sent");
        assert_eq!(
            sent.len() as u64,
            this.stats.segments_sent + this.endpoint.resets_sent,
            "{host:?} sent"
        );
        assert_eq!(received as u64, peer.link.delivered, "{host:?} received");
        // The sender's copies are taken before the faults, so they are all intact.
        assert!(sent.iter().all(|packet| packet["ferry.crc.status"] == "1"));

        // Retransmissions by reason, from the packet comments.
        let retransmissions = &this.stats.retransmissions;
        assert_eq!(
            count_comments(&packets, "retransmission: RTO"),
            retransmissions.rto
        );
        assert_eq!(
            count_comments(&packets, "fast retransmit"),
            retransmissions.fast
        );
        assert_eq!(
            count_comments(&packets, "SACK retransmit"),
            retransmissions.sack
        );
        assert_eq!(
            count_comments_containing(&packets, "dropped ("),
            this.faults.dropped + this.link.queue_drops,
            "{host:?}: every drop is noted on the sender's copy"
        );
        assert_eq!(
            count_comments_containing(&packets, "duplicated"),
            this.faults.duplicated
        );
        assert_eq!(
            count_comments_containing(&packets, "flipped"),
            this.faults.corrupted
        );
    }

    // The handshake, as the sender saw it: relative numbers start at 0 and the raw ones agree.
    let a_packets = tshark_fields(&run.a, &fields, &[]);
    let syn = &a_packets[0];
    assert_eq!(syn["ip.src"], ip(Host::A));
    assert_eq!(syn["ferry.flags"], "0x02");
    assert_eq!(syn["ferry.seq.relative"], "0");
    // Then its timestamp (RFC 7323), from the clock's random offset, and no echo.
    let info = &syn["_ws.col.Info"];
    assert!(
        info.starts_with("4747 → 4747 [SYN] Seq=0 Win=65536 Len=0 MSS=1200 SACK_PERM TSval=")
            && info.ends_with(" TSecr=0"),
        "{info}"
    );
    let isn: u32 = syn["ferry.seq"].parse().unwrap();
    let syn_ack = a_packets
        .iter()
        .find(|packet| packet["ferry.flags"] == "0x12" && packet["ferry.crc.status"] == "1")
        .expect("A received a SYN-ACK");
    assert_eq!(syn_ack["ferry.ack"], (isn.wrapping_add(1)).to_string());
    assert_eq!(syn_ack["ferry.ack.relative"], "1");
    assert_eq!(syn_ack["ferry.seq.relative"], "0");
    let first_data = a_packets
        .iter()
        .find(|packet| packet["ip.src"] == ip(Host::A) && packet["ferry.flags"] == "0x10")
        .unwrap();
    assert_eq!(first_data["ferry.seq.relative"], "1");
    assert_eq!(first_data["ferry.ack.relative"], "1");
    // B acknowledged everything: the data, the SYN and the FIN.
    let highest_ack = a_packets
        .iter()
        .filter(|packet| packet["ip.src"] == ip(Host::B) && packet["ferry.crc.status"] == "1")
        .filter_map(|packet| packet["ferry.ack.relative"].parse::<u64>().ok())
        .max();
    assert_eq!(highest_ack, Some(report.bytes_sent + 2));
    // B saw the same ISN.
    let b_packets = tshark_fields(&run.b, &fields, &[]);
    let syn_at_b = b_packets
        .iter()
        .find(|packet| packet["ferry.flags"] == "0x02" && packet["ferry.crc.status"] == "1")
        .unwrap();
    assert_eq!(syn_at_b["ferry.seq"], isn.to_string());
}

/// Wireshark's relative time (`frame.time_relative`, the "Time" column) counts from a file's
/// first frame. Both hosts' files count from the run's start, so the same moment has the same
/// relative time in both: each frame's relative time is its simulated time.
#[test]
fn relative_times_agree_across_the_hosts_files() {
    if !tshark_present("relative_times_agree_across_the_hosts_files") {
        return;
    }
    let dir = output_dir("relative-times");
    let run = captured_run(&dir, View::Tcp, "none", "none", 3000, 1, Recovery::RackTlp);
    let times = ["frame.time_relative", "frame.time_epoch", "ip.src"];
    let (a, b) = (
        tshark_fields(&run.a, &times, &[]),
        tshark_fields(&run.b, &times, &[]),
    );
    for packet in a.iter().chain(&b) {
        assert_eq!(
            packet["frame.time_relative"], packet["frame.time_epoch"],
            "{packet:?}"
        );
    }
    // B's SYN-ACK, sent 20 ms after A's SYN and received 20 ms later: the same in both files.
    // Each 40 bytes long (24 of header, 16 of options with the timestamps): 32 us at 10 Mbit/s.
    let syn_ack_sent = &b.iter().find(|p| p["ip.src"] == ip(Host::B)).unwrap();
    let syn_ack_received = &a.iter().find(|p| p["ip.src"] == ip(Host::B)).unwrap();
    assert_eq!(syn_ack_sent["frame.time_relative"], "0.020032000");
    assert_eq!(syn_ack_received["frame.time_relative"], "0.040064000");
}

#[test]
fn bad_crcs_in_both_files_add_up_to_the_discarded_corrupt_count() {
    if !tshark_present("bad_crcs_in_both_files_add_up_to_the_discarded_corrupt_count") {
        return;
    }
    let dir = output_dir("discarded");
    let run = captured_run(
        &dir,
        View::Ferry,
        LOSSY,
        LOSSY,
        LOSSY_BYTES,
        LOSSY_SEED,
        Recovery::RackTlp,
    );
    let bad: usize = [&run.a, &run.b]
        .into_iter()
        .map(|file| {
            tshark_fields(file, &["ferry.crc.status"], &[])
                .iter()
                .filter(|packet| packet["ferry.crc.status"] == "0")
                .count()
        })
        .sum();
    let (a, b) = (&run.report.a, &run.report.b);
    let discarded_corrupt = a.stats.discarded_corrupt
        + b.stats.discarded_corrupt
        + a.endpoint.discarded_corrupt
        + b.endpoint.discarded_corrupt;
    assert!(discarded_corrupt > 0, "the run should corrupt something");
    assert_eq!(bad as u64, discarded_corrupt);
}

#[test]
fn a_flipped_bit_shows_a_bad_crc_status() {
    if !tshark_present("a_flipped_bit_shows_a_bad_crc_status") {
        return;
    }
    let dir = output_dir("flipped");
    let file = dir.join("flipped.pcapng");
    let mut intact = Vec::new();
    Segment {
        flags: Flags::ACK,
        seq: SeqNum(7),
        ack: SeqNum(9),
        window: 4096,
        payload: b"a payload to corrupt",
        ..Segment::default()
    }
    .emit(&mut intact);
    let mut flipped = intact.clone();
    flipped[30] ^= 0x04; // in the payload: only the CRC can tell
    let mut odd_port = intact.clone();
    odd_port[29] ^= 0x01;
    let (a, b) = (Host::A.address(), Host::B.address());
    let elsewhere: SocketAddr = "198.51.100.1:9000".parse().unwrap();
    let mut writer = CaptureWriter::create(&file, View::Ferry, 0).unwrap();
    for (datagram, destination) in [(&intact, b), (&flipped, b), (&odd_port, elsewhere)] {
        writer
            .write(&CaptureRecord {
                at: Duration::from_millis(1),
                source: a,
                destination,
                datagram,
                comments: Vec::new(),
            })
            .unwrap();
    }
    writer.finish().unwrap();

    let packets = tshark_fields(
        &file,
        &["ferry.crc.status", "_ws.expert.message", "_ws.col.Info"],
        &[],
    );
    let statuses: Vec<&str> = packets
        .iter()
        .map(|packet| packet["ferry.crc.status"].as_str())
        .collect();
    // The third is on another port: the heuristic dissector finds it by its magic.
    assert_eq!(statuses, ["1", "0", "0"]);
    assert!(packets[1]["_ws.expert.message"].starts_with("Bad CRC-32"));
    assert!(packets[1]["_ws.col.Info"].starts_with("[BAD CRC] 4747 → 4747 [ACK]"));

    // And in a simulated run: whatever the link corrupted arrives with a bad CRC.
    let run = captured_run(
        &dir,
        View::Ferry,
        "flip=2e-5",
        "none",
        60_000,
        3,
        Recovery::RackTlp,
    );
    assert!(run.report.a.faults.corrupted > 0);
    let at_b = tshark_fields(&run.b, &["ip.src", "ferry.crc.status"], &[]);
    let corrupt_arrivals = at_b
        .iter()
        .filter(|packet| packet["ip.src"] == ip(Host::A) && packet["ferry.crc.status"] == "0")
        .count();
    assert_eq!(corrupt_arrivals as u64, run.report.a.faults.corrupted);
    assert!(at_b
        .iter()
        .filter(|packet| packet["ip.src"] == ip(Host::B))
        .all(|packet| packet["ferry.crc.status"] == "1"));
}

#[test]
fn the_dissector_decodes_the_options() {
    if !tshark_present("the_dissector_decodes_the_options") {
        return;
    }
    let dir = output_dir("options");
    let file = dir.join("options.pcapng");
    let syn = Segment {
        flags: Flags::SYN,
        seq: SeqNum(7),
        window: 65_536,
        options: Options {
            mss: Some(1200),
            sack_permitted: true,
            timestamps: None,
        },
        ..Segment::default()
    };
    let mut canonical = Vec::new();
    syn.emit(&mut canonical);
    // The same SYN-ACK's options laid out another way: SACK-permitted first, a window scale
    // (kind 3, which Ferry skips), the MSS, End and padding; then an MSS option of length 3.
    let with_options = |options: &[u8]| {
        let mut datagram = canonical[..24].to_vec();
        datagram[3] = 0x12; // SYN, ACK
        datagram[19] = (options.len() / 4) as u8;
        datagram.extend_from_slice(options);
        datagram.extend_from_slice(b"data");
        datagram[17] = 4;
        datagram[20..24].fill(0);
        let crc = crc32fast::hash(&datagram);
        datagram[20..24].copy_from_slice(&crc.to_be_bytes());
        datagram
    };
    let unusual = with_options(&[4, 2, 3, 3, 7, 2, 4, 0x02, 0x18, 0, 0, 0]);
    let malformed = with_options(&[2, 3, 5, 0]);
    // A version 1 datagram, from before the options: its octet 19 was reserved.
    let mut version_1 = with_options(&[]);
    version_1[2] = 1;
    version_1[19] = 0xA5;
    version_1[20..24].fill(0);
    let crc = crc32fast::hash(&version_1);
    version_1[20..24].copy_from_slice(&crc.to_be_bytes());
    let (a, b) = (Host::A.address(), Host::B.address());
    let mut writer = CaptureWriter::create(&file, View::Ferry, 0).unwrap();
    for datagram in [&canonical, &unusual, &malformed, &version_1] {
        writer
            .write(&CaptureRecord {
                at: Duration::from_millis(1),
                source: a,
                destination: b,
                datagram,
                comments: Vec::new(),
            })
            .unwrap();
    }
    writer.finish().unwrap();
    let fields = [
        "ferry.version",
        "ferry.reserved",
        "ferry.options.len",
        "ferry.option.kind",
        "ferry.options.mss",
        "ferry.options.sack_perm",
        "ferry.payload",
        "ferry.crc.status",
        "_ws.col.Info",
        "_ws.malformed",
        "_ws.expert.message",
    ];
    let packets = tshark_fields(&file, &fields, &[]);
    assert_eq!(packets.len(), 4);
    let canonical = &packets[0];
    assert_eq!(canonical["ferry.options.len"], "2");
    assert_eq!(canonical["ferry.option.kind"], "2|1|1|4");
    assert_eq!(canonical["ferry.options.mss"], "1200");
    assert_eq!(canonical["ferry.options.sack_perm"], "1");
    assert_eq!(
        canonical["_ws.col.Info"],
        "4747 → 4747 [SYN] Seq=0 Win=65536 Len=0 MSS=1200 SACK_PERM"
    );
    let unusual = &packets[1];
    assert_eq!(unusual["ferry.options.len"], "3");
    assert_eq!(unusual["ferry.option.kind"], "4|3|2|0");
    assert_eq!(unusual["ferry.options.mss"], "536");
    assert_eq!(
        unusual["ferry.payload"], "64617461",
        "the payload follows the options"
    );
    assert!(unusual["_ws.col.Info"].ends_with("Len=4 SACK_PERM MSS=536"));
    for packet in &packets[..2] {
        assert_eq!(packet["ferry.crc.status"], "1", "{packet:?}");
        assert_eq!(packet["_ws.expert.message"], "", "{packet:?}");
        assert_eq!(packet["_ws.malformed"], "", "{packet:?}");
    }
    // The receiver drops it (docs/protocol.md section 6), and the dissector says why.
    let malformed = &packets[2];
    assert_eq!(malformed["ferry.crc.status"], "1");
    assert_eq!(
        malformed["_ws.expert.message"],
        "Option of kind 2 has length 3, not 4"
    );
    assert_ne!(malformed["_ws.malformed"], "");
    let version_1 = &packets[3];
    assert_eq!(version_1["ferry.version"], "1");
    assert_eq!(version_1["ferry.crc.status"], "1");
    assert_eq!(version_1["ferry.reserved"], "0xa5");
    assert_eq!(version_1["ferry.options.len"], "");
    assert_eq!(version_1["ferry.payload"], "64617461");
    assert_eq!(version_1["_ws.expert.message"], "");
}

const TCP_ANALYSIS: [&str; 6] = [
    "frame.comment",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.retransmission",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.duplicate_ack",
];

/// No sequence-number mistakes in the data sender's own file: it holds every segment the
/// sender sent, so Wireshark must never think one was missed.
fn assert_nothing_lost(packets: &[HashMap<String, String>]) {
    assert_eq!(count_flagged(packets, "tcp.analysis.lost_segment"), 0);
    assert_eq!(count_flagged(packets, "tcp.analysis.ack_lost_segment"), 0);
}

#[test]
fn the_tcp_view_shows_fast_retransmission_after_duplicate_acks() {
    if !tshark_present("the_tcp_view_shows_fast_retransmission_after_duplicate_acks") {
        return;
    }
    // The duplicate-ACK rules, so RACK-TLP off: with SACK (RFC 6675) and without (NewReno).
    for recovery in [Recovery::Rfc6675, Recovery::NewReno] {
        let dir = output_dir(&format!("fast-{recovery:?}"));
        // Datagram 5 from A is data segment 4; plenty of data follows to draw duplicate ACKs.
        let run = captured_run(&dir, View::Tcp, "drop=5", "none", 30_000, 1, recovery);
        let packets = tshark_fields(&run.a, &TCP_ANALYSIS, &[]);
        let fast = count_flagged(&packets, "tcp.analysis.fast_retransmission");
        assert_eq!(fast, 1, "{recovery:?}");
        assert!(count_flagged(&packets, "tcp.analysis.duplicate_ack") >= 3);
        let stats = &run.report.a.stats.retransmissions;
        assert_eq!(stats.fast, 1, "{recovery:?}: {stats:?}");
        assert_eq!(stats.rto, 0, "{recovery:?}: {stats:?}");
        let flagged = packets
            .iter()
            .find(|packet| !packet["tcp.analysis.fast_retransmission"].is_empty())
            .unwrap();
        assert_eq!(flagged["frame.comment"], "fast retransmit");
        assert_nothing_lost(&packets);
    }
}

/// The TCP view shows the options each SYN carried, so Wireshark sees the negotiation: here
/// B offers no SACK and a smaller MSS, A sends it segments of B's size and no SACK blocks
/// come back, and A's one loss is a fast retransmission after duplicate ACKs (RFC 6582), as
/// Wireshark's own analysis finds.
#[test]
fn the_tcp_view_shows_the_negotiation_with_a_peer_without_sack() {
    if !tshark_present("the_tcp_view_shows_the_negotiation_with_a_peer_without_sack") {
        return;
    }
    let dir = output_dir("negotiation");
    let mut network = NetworkConfig::symmetric(
        Some(10_000_000),
        Duration::from_millis(40),
        "drop=5".parse().unwrap(),
        1,
    );
    network.b_to_a.faults = ferry::FaultConfig::default();
    // Each SYN offers its `mss` (path MTU discovery off: on, each offers the most it
    // receives, 1428), without timestamps either, so that its segments are its whole MSS.
    network.connection.plpmtud = false;
    network.connection_b = Some(ferry::Config {
        sack: false,
        mss: 1000,
        timestamps: false,
        plpmtud: false,
        ..ferry::Config::default()
    });
    let run = captured_network_run(&dir, View::Tcp, network, 30_000, 1);
    // Plain tshark: no dissector needed in the TCP view.
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&run.a)
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .args(["-e", "tcp.flags", "-e", "tcp.options.mss_val"])
        .args([
            "-e",
            "tcp.options.sack_perm",
            "-e",
            "tcp.options.wscale.shift",
        ])
        .args(["-e", "tcp.options.sack_le", "-e", "tcp.len"])
        .args([
            "-e",
            "tcp.analysis.fast_retransmission",
            "-e",
            "_ws.malformed",
        ])
        .output()
        .expect("tshark runs");
    assert!(output.status.success());
    let rows: Vec<Vec<String>> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect();
    let syn = &rows[0];
    // MSS 1200 and SACK-permitted (kind 4, length 2) as A offered them, then the window
    // scale the view adds for the largest window: the autotuned buffer's 6 MiB maximum
    // (RFC 7323 section 2.2: the scale is fixed in the SYN, so it is chosen for the most
    // the window can grow to).
    assert_eq!(
        syn[..4],
        ["0x0002", "1200", "0402", "7"],
        "A's SYN: {syn:?}"
    );
    let syn_ack = rows
        .iter()
        .find(|row| row[0] == "0x0012")
        .expect("B's SYN-ACK");
    assert_eq!(
        syn_ack[..4],
        ["0x0012", "1000", "", "7"],
        "B's SYN-ACK: {syn_ack:?}"
    );
    assert!(rows.iter().all(|row| row[4].is_empty()), "a SACK block");
    let largest = rows
        .iter()
        .filter_map(|row| row[5].parse::<u32>().ok())
        .max();
    assert_eq!(largest, Some(1000));
    assert_eq!(rows.iter().filter(|row| row[6] == "1").count(), 1);
    assert!(
        rows.iter().all(|row| row[7].is_empty()),
        "a malformed packet"
    );
    let a = &run.report.a.stats;
    assert_eq!((a.retransmissions.fast, a.retransmissions.total()), (1, 1));
    assert_eq!(a.rto_timeouts, 0);
}

/// With timestamps (RFC 7323, on by default) every packet of both views carries them: the
/// TCP view as TCP's own option, which tshark reads without the dissector, and the Ferry view
/// as the dissector reads it, the same values; every ACK echoes a TSval the peer sent.
#[test]
fn both_views_show_the_timestamps_on_every_segment() {
    if !tshark_present("both_views_show_the_timestamps_on_every_segment") {
        return;
    }
    let dir = output_dir("timestamps");
    let run = |view: View, name: &str| {
        let network = NetworkConfig::symmetric(
            Some(10_000_000),
            Duration::from_millis(40),
            "drop-data=5".parse().unwrap(),
            1,
        );
        let view_dir = dir.join(name);
        std::fs::create_dir_all(&view_dir).unwrap();
        captured_network_run(&view_dir, view, network, 30_000, 1)
    };
    let tcp = run(View::Tcp, "tcp");
    let fields = [
        "ip.src",
        "tcp.flags",
        "tcp.options.timestamp.tsval",
        "tcp.options.timestamp.tsecr",
    ];
    let packets = tshark_fields(&tcp.a, &fields, &[]);
    assert!(packets.len() > 20, "{}", packets.len());
    assert!(
        packets
            .iter()
            .all(|p| !p["tcp.options.timestamp.tsval"].is_empty()),
        "a packet without timestamps: {packets:?}"
    );
    // The SYN echoes nothing; every packet after it with ACK echoes a TSval of the peer's.
    assert_eq!(packets[0]["tcp.flags"], "0x0002");
    assert_eq!(packets[0]["tcp.options.timestamp.tsecr"], "0");
    let sent_by = |host: Host| -> Vec<&str> {
        packets
            .iter()
            .filter(|p| p["ip.src"] == ip(host))
            .map(|p| p["tcp.options.timestamp.tsval"].as_str())
            .collect()
    };
    let (from_a, from_b) = (sent_by(Host::A), sent_by(Host::B));
    for packet in &packets[1..] {
        let echo = packet["tcp.options.timestamp.tsecr"].as_str();
        let peer = if packet["ip.src"] == ip(Host::A) {
            &from_b
        } else {
            &from_a
        };
        assert!(peer.contains(&echo), "{packet:?} echoes no TSval sent");
    }
    // The Ferry view of the same run, read by the dissector: the same timestamps.
    let ferry = run(View::Ferry, "ferry");
    let dissected = tshark_fields(
        &ferry.a,
        &[
            "ferry.options.tsval",
            "ferry.options.tsecr",
            "_ws.expert.severity",
        ],
        &[],
    );
    let pairs = |rows: &[HashMap<String, String>], val: &str, ecr: &str| -> Vec<(String, String)> {
        rows.iter()
            .filter(|row| !row[val].is_empty())
            .map(|row| (row[val].clone(), row[ecr].clone()))
            .collect()
    };
    assert_eq!(
        pairs(&dissected, "ferry.options.tsval", "ferry.options.tsecr"),
        pairs(
            &packets,
            "tcp.options.timestamp.tsval",
            "tcp.options.timestamp.tsecr"
        )
    );
    assert!(dissected
        .iter()
        .all(|row| !row["_ws.expert.severity"].contains(SEVERITY_ERROR)));
    // The lost segment's retransmission was acknowledged with an echo of its own TSval,
    // which gave A an RTT sample despite Karn's rule.
    assert_eq!(tcp.report.a.stats.retransmissions.total(), 1);
}

#[test]
fn the_tcp_view_shows_a_timeout_retransmission() {
    if !tshark_present("the_tcp_view_shows_a_timeout_retransmission") {
        return;
    }
    let dir = output_dir("rto");
    // 30000 bytes are 25 segments of 1200; datagram 26 is the last, so no duplicate ACK
    // follows and only the timer can resend it.
    // RACK-TLP off, or a tail loss probe would resend it first.
    let run = captured_run(
        &dir,
        View::Tcp,
        "drop=26",
        "none",
        30_000,
        1,
        Recovery::Rfc6675,
    );
    let packets = tshark_fields(&run.a, &TCP_ANALYSIS, &[]);
    assert_eq!(run.report.a.stats.retransmissions.rto, 1);
    let flagged: Vec<_> = packets
        .iter()
        .filter(|packet| !packet["tcp.analysis.retransmission"].is_empty())
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["frame.comment"], "retransmission: RTO #1");
    assert_eq!(
        count_flagged(&packets, "tcp.analysis.fast_retransmission"),
        0
    );
    assert_nothing_lost(&packets);
}

#[test]
fn the_tcp_view_of_a_lossy_run_has_no_sequence_mistakes() {
    if !tshark_present("the_tcp_view_of_a_lossy_run_has_no_sequence_mistakes") {
        return;
    }
    let dir = output_dir("lossy-tcp");
    let run = captured_run(
        &dir,
        View::Tcp,
        LOSSY,
        LOSSY,
        LOSSY_BYTES,
        LOSSY_SEED,
        Recovery::RackTlp,
    );
    let fields = [
        "ip.src",
        "tcp.seq",
        "tcp.checksum.status",
        "_ws.malformed",
        "udp.srcport",
    ];
    let packets = tshark_fields(&run.a, &fields, &["tcp.check_checksum:TRUE"]);
    let tcp = packets
        .iter()
        .filter(|packet| !packet["tcp.seq"].is_empty())
        .count();
    // Only the corrupt arrivals stay UDP.
    let corrupt = run.report.a.stats.discarded_corrupt + run.report.a.endpoint.discarded_corrupt;
    assert_eq!((packets.len() - tcp) as u64, corrupt);
    assert!(packets
        .iter()
        .filter(|packet| !packet["tcp.seq"].is_empty())
        .all(|packet| packet["tcp.checksum.status"] == "1" && packet["_ws.malformed"].is_empty()));
    let analysis = tshark_fields(&run.a, &TCP_ANALYSIS, &[]);
    assert_nothing_lost(&analysis);
    assert!(count_flagged(&analysis, "tcp.analysis.retransmission") > 0);
}

#[test]
fn tshark_accepts_the_checksums_of_both_views_over_ipv4_and_ipv6() {
    if !tshark_present("tshark_accepts_the_checksums_of_both_views_over_ipv4_and_ipv6") {
        return;
    }
    let dir = output_dir("checksums");
    let mut segment = Segment {
        flags: Flags::ACK,
        seq: SeqNum(u32::MAX - 100), // relative numbers must wrap correctly
        ack: SeqNum(12),
        window: 200_000,
        payload: b"odd-length payload",
        ..Segment::default()
    };
    segment.sack.push(ferry::wire::SackBlock {
        left: SeqNum(40),
        right: SeqNum(90),
    });
    let mut datagram = Vec::new();
    segment.emit(&mut datagram);
    let pairs: [(&str, &str); 2] = [
        ("192.0.2.1:4747", "198.51.100.1:4747"),
        ("[2001:db8::1]:4747", "[2001:db8::2]:4747"),
    ];
    for view in [View::Ferry, View::Tcp] {
        let file = dir.join(format!("{view:?}.pcapng"));
        let mut writer = CaptureWriter::create(&file, view, 2).unwrap();
        for (source, destination) in pairs {
            writer
                .write(&CaptureRecord {
                    at: Duration::from_secs(1_700_000_000),
                    source: source.parse().unwrap(),
                    destination: destination.parse().unwrap(),
                    datagram: &datagram,
                    comments: vec!["new data".to_string()],
                })
                .unwrap();
        }
        writer.finish().unwrap();
        let checks = [
            "ip.check_checksum:TRUE",
            "udp.check_checksum:TRUE",
            "tcp.check_checksum:TRUE",
            "tcp.relative_sequence_numbers:FALSE",
        ];
        let fields = [
            "ip.checksum.status",
            "ipv6.src",
            "udp.checksum.status",
            "tcp.checksum.status",
            "tcp.window_size",
            "tcp.options.sack_le",
            "ferry.crc.status",
            "ferry.seq.relative",
            "_ws.malformed",
            "frame.time_epoch",
        ];
        let packets = tshark_fields(&file, &fields, &checks);
        assert_eq!(packets.len(), 2);
        for packet in &packets {
            assert_eq!(packet["_ws.malformed"], "", "{packet:?}");
            assert!(packet["frame.time_epoch"].starts_with("1700000000.000000"));
            match view {
                View::Ferry => {
                    assert_eq!(packet["udp.checksum.status"], "1", "{packet:?}");
                    assert_eq!(packet["ferry.crc.status"], "1", "{packet:?}");
                    // No SYN in the capture: the first number seen counts as 1.
                    assert_eq!(packet["ferry.seq.relative"], "1", "{packet:?}");
                }
                View::Tcp => {
                    assert_eq!(packet["tcp.checksum.status"], "1", "{packet:?}");
                    // No SYN, so Wireshark cannot know the scale and shows the raw field.
                    assert_eq!(packet["tcp.window_size"], "50000", "{packet:?}");
                    assert_eq!(packet["tcp.options.sack_le"], "40", "{packet:?}");
                }
            }
        }
        assert_eq!(packets[0]["ip.checksum.status"], "1");
        assert_eq!(packets[1]["ipv6.src"], "2001:db8::1");
    }
}

#[test]
fn tshark_reads_the_unreachables_over_ipv4_and_ipv6() {
    if !tshark_present("tshark_reads_the_unreachables_over_ipv4_and_ipv6") {
        return;
    }
    let file = output_dir("unreachables").join("unreachables.pcapng");
    let mut writer = CaptureWriter::create(&file, View::Ferry, 1).unwrap();
    // Each quotes a whole SYN, which the dissector decodes inside the ICMP message.
    let mut syn = Vec::new();
    Segment {
        flags: Flags::SYN,
        seq: SeqNum(7),
        ..Segment::default()
    }
    .emit(&mut syn);
    let cases: [(&str, &str, &str, Unreachable); 4] = [
        (
            "198.51.100.1",
            "192.0.2.1:4747",
            "198.51.100.1:81",
            Unreachable::Port,
        ),
        (
            "203.0.113.1",
            "192.0.2.1:4747",
            "198.51.100.9:80",
            Unreachable::Network,
        ),
        (
            "2001:db8::2",
            "[2001:db8::1]:4747",
            "[2001:db8::2]:81",
            Unreachable::Port,
        ),
        (
            "2001:db8::ff",
            "[2001:db8::1]:4747",
            "[2001:db9::9]:80",
            Unreachable::Host,
        ),
    ];
    for (from, quoted_source, quoted_destination, code) in cases {
        let quoted_source: SocketAddr = quoted_source.parse().unwrap();
        writer
            .write_unreachable(&UnreachableRecord {
                at: Duration::from_secs(1),
                source: from.parse().unwrap(),
                destination: quoted_source.ip(),
                code,
                quoted_source,
                quoted_destination: quoted_destination.parse().unwrap(),
                quoted: &syn,
                comments: vec!["no socket on port 81".to_string()],
            })
            .unwrap();
    }
    writer.finish().unwrap();
    let fields = [
        "icmp.type",
        "icmp.code",
        "icmp.checksum.status",
        "icmpv6.type",
        "icmpv6.code",
        "icmpv6.checksum.status",
        "udp.dstport",
        "ferry.crc.status",
        "_ws.malformed",
    ];
    let packets = tshark_fields(&file, &fields, &["ip.check_checksum:TRUE"]);
    let rows: Vec<Vec<&str>> = packets
        .iter()
        .map(|packet| fields.iter().map(|field| packet[*field].as_str()).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["3", "3", "1", "", "", "", "81", "1", ""],
            ["3", "0", "1", "", "", "", "80", "1", ""],
            ["", "", "", "1", "4", "1", "81", "1", ""],
            ["", "", "", "1", "3", "1", "80", "1", ""],
        ]
    );
}
