//! `ferry sim --trace`: each host's qlog file is JSON-SEQ whose every record parses with the
//! fields qlog's main schema requires, and the answers docs/lab.md gives for its trace
//! exercise ("The trace") are what the trace holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// A fresh directory for one test's files.
fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("trace")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

/// Run `ferry sim` with `args` and `--trace DIR/run`; A's and B's records.
fn traced(test: &str, args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let dir = traced_world(test, args);
    let records = |host: &str| records(&dir.join(format!("run-{host}.sqlog")));
    (records("a"), records("b"))
}

/// Run `ferry sim` with `args` and `--trace DIR/run`, in a fresh directory; the directory.
fn traced_world(test: &str, args: &[&str]) -> PathBuf {
    let dir = output_dir(test);
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("sim")
        .args(args)
        .arg("--trace")
        .arg(dir.join("run"))
        .output()
        .expect("ferry runs");
    assert!(
        output.status.success(),
        "ferry sim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// A JSON-SEQ file's records (RFC 7464): each a record separator, a JSON text, a line feed;
/// so each line, less its separator, is one JSON text.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the trace was written");
    assert!(
        text.ends_with('\n'),
        "{}: not line-terminated",
        path.display()
    );
    text.lines()
        .enumerate()
        .map(|(number, line)| {
            let json = line.strip_prefix('\x1e').unwrap_or_else(|| {
                panic!(
                    "{} line {}: no record separator",
                    path.display(),
                    number + 1
                )
            });
            serde_json::from_str(json).unwrap_or_else(|error| {
                panic!("{} line {}: {error}: {json}", path.display(), number + 1)
            })
        })
        .collect()
}

/// The main schema's header (qlog 0.3's JSON-SEQ file: version, format, the one trace with
/// its vantage point) and, in every event, a time, a "category:event" name and a data object;
/// the events' own required fields.
fn check_schema(records: &[Value], vantage: &str) {
    let header = &records[0];
    assert_eq!(header["qlog_version"], "0.3");
    assert_eq!(header["qlog_format"], "JSON-SEQ");
    assert_eq!(header["trace"]["vantage_point"]["type"], vantage);
    assert_eq!(header["trace"]["common_fields"]["time_format"], "relative");
    let mut last_time = 0.0;
    for event in &records[1..] {
        let time = event["time"].as_f64().expect("a time");
        assert!(time >= last_time, "time runs backwards at {event}");
        last_time = time;
        let name = event["name"].as_str().expect("a name");
        assert!(name.contains(':'), "{name}: not category:event");
        let data = event["data"].as_object().expect("a data object");
        match name {
            "transport:packet_sent" | "transport:packet_received" | "recovery:packet_lost" => {
                assert!(data["header"]["packet_number"].is_u64(), "{event}");
                assert!(data["header"]["packet_type"].is_string(), "{event}");
            }
            "recovery:metrics_updated" => assert!(!data.is_empty(), "{event}"),
            "recovery:loss_timer_updated" => {
                assert!(data["timer_type"].is_string(), "{event}");
                assert!(data["event_type"].is_string(), "{event}");
            }
            "recovery:congestion_state_updated" | "connectivity:connection_state_updated" => {
                assert!(data["new"].is_string(), "{event}");
            }
            "ferry:timer_updated" => assert!(data["event_type"].is_string(), "{event}"),
            _ => panic!("an event qlog does not define and Ferry does not document: {event}"),
        }
    }
}

/// The events named `name`, each reduced by `fields` (JSON pointers into its data), with its
/// time: what the lab's jq one-liners print.
fn select(records: &[Value], name: &str, fields: &[&str]) -> Vec<Value> {
    records
        .iter()
        .filter(|event| event["name"] == name)
        .map(|event| {
            let mut row = vec![event["time"].clone()];
            row.extend(
                fields
                    .iter()
                    .map(|field| event["data"].pointer(field).cloned().unwrap_or(Value::Null)),
            );
            Value::Array(row)
        })
        .collect()
}

/// docs/lab.md, "The trace": the run and the answers it gives.
#[test]
fn the_trace_of_a_lost_ninth_segment_says_what_the_lab_says() {
    let (a, b) = traced(
        "ninth",
        &[
            "--bytes",
            "12000",
            "--rack",
            "off",
            "--faults-ab",
            "drop-data=9",
            // The lab's classic settings (docs/lab.md, "Setup").
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
        ],
    );
    check_schema(&a, "client");
    check_schema(&b, "server");
    let json = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    // One loss, declared by the retransmission timer.
    assert_eq!(
        select(
            &a,
            "recovery:packet_lost",
            &["/header/packet_number", "/trigger"]
        ),
        [json(r#"[325.962, 9601, "pto_expired"]"#)]
    );
    // One episode: timeout recovery, from the RTO to the ACK of everything outstanding.
    assert_eq!(
        select(
            &a,
            "recovery:congestion_state_updated",
            &["/old", "/new", "/trigger"]
        ),
        [
            json(r#"[325.962, "slow_start", "recovery", "loss: retransmission: RTO #1"]"#),
            json(r#"[366.96, "recovery", "slow_start", "recovery point acknowledged"]"#),
        ]
    );
    // The RTO backs off to 400 ms when it fires; cwnd falls to one segment, ssthresh to two.
    let retransmission_timer: Vec<Value> = a
        .iter()
        .filter(|event| event["data"]["ferry:timer"] == "retransmission")
        .map(|event| {
            json(&format!(
                "[{}, {}, {}]",
                event["time"], event["data"]["event_type"], event["data"]["delta"]
            ))
        })
        .collect();
    assert_eq!(
        retransmission_timer[retransmission_timer.len() - 3..],
        [
            json(r#"[325.962, "expired", null]"#),
            json(r#"[325.962, "set", 400.0]"#),
            json(r#"[366.96, "cancelled", null]"#),
        ]
    );
    let windows = select(
        &a,
        "recovery:metrics_updated",
        &["/congestion_window", "/ssthresh"],
    );
    assert!(
        windows.contains(&json("[325.962, 1200, 2400]")),
        "{windows:?}"
    );
    // B takes the held FIN when segment 9's retransmission arrives: CLOSE-WAIT then.
    assert!(
        select(&b, "connectivity:connection_state_updated", &["/new"])
            .contains(&json(r#"[346.941, "close_wait"]"#))
    );
    // A sent one retransmission in all.
    let retransmissions = a
        .iter()
        .filter(|event| event["data"]["trigger"] == "retransmit_timeout")
        .count();
    assert_eq!(retransmissions, 1);
}

/// A fast retransmit: three duplicate ACKs declare the loss (a reordering threshold, in qlog's
/// words), a SACK fast recovery runs until the recovery point is acknowledged.
#[test]
fn the_trace_of_a_fast_retransmit_holds_its_loss_and_episode() {
    let (a, _) = traced(
        "fast",
        &[
            "--bytes",
            "30000",
            "--rack",
            "off",
            "--faults-ab",
            "drop-data=4",
        ],
    );
    check_schema(&a, "client");
    let lost = select(&a, "recovery:packet_lost", &["/trigger", "/ferry:reason"]);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0][1], "reordering_threshold");
    assert_eq!(lost[0][2], "fast retransmit");
    let episodes = select(
        &a,
        "recovery:congestion_state_updated",
        &["/ferry:new_episode", "/trigger"],
    );
    assert_eq!(episodes.len(), 2, "{episodes:?}");
    assert_eq!(episodes[0][1], "sack_fast_recovery");
    assert_eq!(episodes[0][2], "loss: fast retransmit");
    assert_eq!(episodes[0][0], lost[0][0]);
    assert_eq!(episodes[1][1], Value::Null);
    assert_eq!(episodes[1][2], "recovery point acknowledged");
    let expired = a
        .iter()
        .filter(|event| event["data"]["event_type"] == "expired")
        .filter(|event| event["name"] == "recovery:loss_timer_updated")
        .count();
    assert_eq!(expired, 0, "no loss timer fires in a fast retransmit");
}

/// `ferry send --trace` and `ferry recv --trace` write the same qlog from a real transfer over
/// loopback: each side's file holds its one connection from the handshake to its end, every
/// record in the schema, the loss the sender's faults caused among the events.
#[test]
fn send_and_recv_trace_a_real_transfer_as_qlog() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = output_dir("send-recv");
    let (sender_trace, receiver_trace) = (dir.join("send.sqlog"), dir.join("recv.sqlog"));
    let input = dir.join("input.bin");
    std::fs::write(&input, ferry::sim::payload(300_000, 5)).unwrap();
    let mut receiver = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["recv", "--listen", "127.0.0.1:0", "--once", "--trace"])
        .arg(&receiver_trace)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(receiver.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .split_once(": listening on ")
        .unwrap()
        .1
        .to_string();
    let sender = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["send", &address, "--faults", "drop-data=20,seed=3"])
        .args(["--cc", "cubic", "--initial-window", "10", "--trace"])
        .arg(&sender_trace)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
    assert!(receiver.wait().unwrap().success());

    for (path, vantage) in [(&sender_trace, "client"), (&receiver_trace, "server")] {
        let records = records(path);
        check_schema(&records, vantage);
        assert!(
            records[1..]
                .iter()
                .all(|event| event["group_id"] == "connection 0"),
            "{vantage}: one connection"
        );
        let states: Vec<_> = select(&records, "connectivity:connection_state_updated", &["/new"])
            .into_iter()
            .map(|row| row[1].as_str().unwrap().to_string())
            .collect();
        assert!(
            states.contains(&"established".to_string()),
            "{vantage}: {states:?}"
        );
        assert!(
            select(&records, "transport:packet_sent", &[]).len() > 10,
            "{vantage}: segments sent"
        );
    }
    // --initial-window 10: the sender's first window is ten 1200-byte segments (RFC 6928).
    let sent = records(&sender_trace);
    let first_window = select(&sent, "recovery:metrics_updated", &["/congestion_window"])
        .into_iter()
        .find_map(|row| row[1].as_u64());
    assert_eq!(first_window, Some(12_000));
    // The 20th data segment, dropped by the sender's own faults, is resent.
    let resent = sent
        .iter()
        .filter(|event| event["name"] == "transport:packet_sent")
        .filter(|event| {
            event["data"]["ferry:reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("retransmi"))
        })
        .count();
    assert!(resent >= 1, "the dropped segment was resent");
}

/// A --trace file that cannot be written stops `ferry recv` before it listens, with one line.
#[test]
fn a_trace_that_cannot_be_written_is_refused_at_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["recv", "--listen", "127.0.0.1:0", "--once", "--trace"])
        .arg("/nonexistent-directory/trace.sqlog")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("cannot write /nonexistent-directory/trace.sqlog"),
        "{said}"
    );
}

/// A world host's file: qlog's schema, the host named as the world names it, and every event
/// naming its connection.
fn check_world_host(records: &[Value], host: &str) {
    check_schema(records, "unknown");
    assert_eq!(records[0]["trace"]["vantage_point"]["name"], host);
    for event in &records[1..] {
        let group = event["group_id"].as_str().expect("a group_id");
        assert!(group.starts_with("connection "), "{event}");
    }
}

/// `--scenario FILE --trace PREFIX`: a file per host (none per router), the same bytes from
/// the same seed.
#[test]
fn a_scenario_writes_a_trace_per_host_the_same_each_run() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/client-server.toml"
    );
    let args = ["--scenario", scenario];
    let first = traced_world("scenario-1", &args);
    let second = traced_world("scenario-2", &args);
    let mut names: Vec<String> = std::fs::read_dir(&first)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["run-client.sqlog", "run-server.sqlog"]);
    for (name, host) in [
        ("run-client.sqlog", "client"),
        ("run-server.sqlog", "server"),
    ] {
        let records = records(&first.join(name));
        check_world_host(&records, host);
        // One connection, from the client's port to the server's 80, whose packets and
        // losses are all there.
        let groups: std::collections::BTreeSet<&str> = records[1..]
            .iter()
            .map(|event| event["group_id"].as_str().unwrap())
            .collect();
        assert_eq!(groups.len(), 1, "{groups:?}");
        let group = groups.first().unwrap();
        assert!(group.starts_with("connection 0: "), "{group}");
        assert!(group.contains("10.0.1.2:80"), "{group}");
        assert!(!select(&records, "transport:packet_received", &[]).is_empty());
        let bytes = |dir: &Path| std::fs::read(dir.join(name)).unwrap();
        assert!(
            bytes(&first) == bytes(&second),
            "{name} differs between runs"
        );
    }
    // The client's link loses 1%, 10% for a second: the server, which sends the responses,
    // declares some lost.
    let server = records(&first.join("run-server.sqlog"));
    assert!(!select(&server, "recovery:packet_lost", &[]).is_empty());
}

/// `--nat-lecture --trace PREFIX`: each peer's file shows its connection through the NATs
/// opening and closing; the rendezvous, which speaks plain UDP, has a header and no event.
#[test]
fn the_nat_lectures_trace_shows_each_peers_connection() {
    let dir = traced_world("nat-lecture", &["--nat-lecture"]);
    let peer1 = records(&dir.join("run-peer1.sqlog"));
    check_world_host(&peer1, "peer1");
    let states = select(
        &peer1,
        "connectivity:connection_state_updated",
        &["/old", "/new"],
    );
    let first = states.first().unwrap();
    assert_eq!(
        (&first[1], &first[2]),
        (&json!("closed"), &json!("syn_sent"))
    );
    assert_eq!(states.last().unwrap()[2], json!("closed"));
    // docs/lab.md section 18, question 7: one segment, the ACK with peer 2's message and
    // FIN, takes peer 1 from SYN-RECEIVED past ESTABLISHED to CLOSE-WAIT.
    let step = json!([1255.718, "syn_received", "close_wait"]);
    assert!(states.contains(&step), "{states:?}");
    let received = select(
        &peer1,
        "transport:packet_received",
        &["/ferry:flags", "/raw/payload_length"],
    );
    assert!(
        received.contains(&json!([1255.718, "F.", 17])),
        "{received:?}"
    );
    // Peer 1 sees peer 2 at NAT 4.5.6.7's public address.
    let group = peer1[1]["group_id"].as_str().unwrap();
    assert!(
        group.starts_with("connection 0: 192.168.1.2:4000 to 4.5.6.7:"),
        "{group}"
    );
    let peer2 = records(&dir.join("run-peer2.sqlog"));
    check_world_host(&peer2, "peer2");
    let states: Vec<Value> = select(&peer2, "connectivity:connection_state_updated", &["/new"])
        .into_iter()
        .map(|row| row[1].clone())
        .collect();
    assert_eq!(
        states,
        [
            json!("syn_sent"),
            json!("established"),
            json!("fin_wait_1"),
            json!("time_wait")
        ]
    );
    assert_eq!(records(&dir.join("run-rendezvous.sqlog")).len(), 1);
    // --punch-matrix (many runs) takes no --trace: refused, not ignored.
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sim", "--punch-matrix", "--trace", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
