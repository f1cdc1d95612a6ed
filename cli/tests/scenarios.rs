//! `ferry sim --scenario`: the shipped scenarios run and report per flow and per shared link;
//! a malformed file is refused with its line and what was expected (exit 2); a flow that
//! fails makes the exit status 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// A shipped scenario, by name.
fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

fn run_json(scenario: &Path) -> (Output, serde_json::Value) {
    let output = ferry()
        .args(["sim", "--stats", "json", "--scenario"])
        .arg(scenario)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

/// Write `text` as a scenario file of this test's own.
fn scenario_file(name: &str, text: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("ferry-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_dumbbell_shares_its_bottleneck_fairly_and_keeps_it_busy() {
    let (output, report) = run_json(&shipped("dumbbell.toml"));
    assert!(output.status.success(), "{report}");
    assert_eq!(report["finished"], true);
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 4);
    for (i, flow) in flows.iter().enumerate() {
        assert_eq!(
            flow["name"],
            format!("sender{} -> receiver{}:5000", i + 1, i + 1)
        );
        // 5 s at a quarter of 100 Mbit/s, give or take.
        let goodput = flow["goodput_bps"].as_f64().unwrap();
        assert!((15e6..35e6).contains(&goodput), "{flow}");
        assert!(flow["retransmissions"]["total"].as_u64().is_some());
        assert!(flow["rto_timeouts"].as_u64().is_some());
    }
    let [bottleneck] = report["shared_links"].as_array().unwrap().as_slice() else {
        panic!("one shared link: {report}");
    };
    assert_eq!(
        (&bottleneck["from"], &bottleneck["to"]),
        (&"left".into(), &"right".into())
    );
    assert_eq!(bottleneck["flows"].as_array().unwrap().len(), 4);
    let jain = report["jain_index"].as_f64().unwrap();
    assert_eq!(bottleneck["jain_index"].as_f64(), Some(jain));
    assert!(jain >= 0.95, "{jain}");
    assert!(bottleneck["busy"].as_f64().unwrap() >= 0.9, "{bottleneck}");
}

#[test]
fn the_client_server_scenario_reports_its_requests() {
    let (output, report) = run_json(&shipped("client-server.toml"));
    assert!(output.status.success(), "{report}");
    let [flow] = report["flows"].as_array().unwrap().as_slice() else {
        panic!("one flow: {report}");
    };
    assert_eq!(flow["name"], "client -> server:80");
    assert_eq!(flow["requests"], 50);
    assert_eq!(flow["bytes"], 50 * (200 + 20_000));
    // The round trip is 50 ms; a 20 kB response takes another 16 ms at 10 Mbit/s.
    let latency = &flow["latency_ms"];
    assert!(latency["min"].as_f64().unwrap() >= 66.0, "{latency}");
    assert!(latency["max"].as_f64() >= latency["mean"].as_f64());
    // The server retransmitted what the lossy link dropped of its responses.
    let server = flow["server"]["retransmissions"]["total"].as_u64().unwrap();
    assert!(server > 0, "{flow}");
    assert_eq!(
        flow["retransmissions"]["total"].as_u64().unwrap(),
        server + flow["client"]["retransmissions"]["total"].as_u64().unwrap()
    );
    // No link is shared by two flows.
    assert_eq!(report["shared_links"], serde_json::json!([]));
    assert_eq!(report["jain_index"], serde_json::Value::Null);
}

#[test]
fn the_collapse_scenario_wastes_the_first_link_on_what_the_second_drops() {
    let (output, report) = run_json(&shipped("collapse.toml"));
    assert!(output.status.success(), "{report}");
    let flows = report["flows"].as_array().unwrap();
    let goodput = |flow: &serde_json::Value| flow["goodput_bps"].as_f64().unwrap();
    let (cross, through): (Vec<_>, Vec<_>) = flows
        .iter()
        .partition(|flow| flow["host"] == "cross-sender");
    assert_eq!((cross.len(), through.len()), (1, 4));
    // The through flows get what the 25 Mbit/s link carries; the cross flow, which needs
    // only the 100 Mbit/s one, gets under half of what it gets under NewReno (73 Mbit/s):
    // 33.3 Mbit/s (17.4 before a D-SACK of a retransmission counted as reordering for RACK,
    // which now waits its reordering window before the fixed-window flows resend).
    let through: f64 = through.iter().map(|flow| goodput(flow)).sum();
    assert!((20e6..25e6).contains(&through), "{through}");
    assert!(goodput(cross[0]) < 36e6, "{}", cross[0]);
    let links = report["shared_links"].as_array().unwrap();
    let second = links.iter().find(|link| link["from"] == "mid").unwrap();
    let first = links.iter().find(|link| link["from"] == "left").unwrap();
    // What the second link dropped had crossed the first: over a fifth of its datagrams.
    let dropped = second["queue_drops"].as_f64().unwrap();
    assert!(
        dropped > 0.2 * first["delivered"].as_f64().unwrap(),
        "{second} {first}"
    );
}

#[test]
fn the_nat_scenario_reports_what_its_nat_translated() {
    let (output, report) = run_json(&shipped("nat.toml"));
    assert!(output.status.success(), "{report}");
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    for flow in flows {
        assert_eq!(flow["requests"], 20, "{flow}");
        // Behind the NAT: the server saw 1.2.3.4, not the laptop's own address.
        assert!(flow["local"].as_str().unwrap().starts_with("192.168.1."));
        assert_eq!(flow["server"], serde_json::Value::Null);
    }
    let [nat] = report["nats"].as_array().unwrap().as_slice() else {
        panic!("one NAT: {report}");
    };
    assert_eq!(nat["router"], "home");
    assert_eq!(nat["public_address"], "1.2.3.4");
    assert_eq!(nat["behaviour"], "port-restricted cone");
    // One mapping a laptop; every datagram of theirs went out through it, and the server's
    // came in.
    assert_eq!(nat["mappings_made"], 2);
    assert!(nat["outbound"].as_u64().unwrap() >= 2 * 20, "{nat}");
    assert!(nat["inbound"].as_u64().unwrap() >= 2 * 20 * 8, "{nat}");
    assert_eq!(nat["drops"], serde_json::json!({}));
}

/// A scenario that sets every key docs/simulation.md lists, each away from its default.
const EVERY_KEY: &str = r#"seed = 9
time_limit = "600s"
event_budget = 50000000
events = ["1s: faults core s1 loss=1%", "2s: faults core s1 none"]

[connection]
mss = 1000
send_buffer = "128KiB"
recv_buffer = 131072
cc = "newreno"
sack = true
rack = false
dupthresh = 4
min_rto = "250ms"
delayed_ack = "20ms"

[[host]]
repeat = 4
name = "c{i}"
address = "192.168.0.{i}0"

[[router]]
name = "home"
addresses = ["5.5.5.5", "192.168.0.1"]
nat = { preset = "address-restricted-cone", outside = "core", lifetime = "30s", inbound_refresh = true, hairpinning = false, table_limit = 100 }

[[router]]
name = "core"
address = "6.6.6.1"

[[host]]
repeat = 3
name = "s{i}"
address = "6.6.{i}.2"

[[link]]
repeat = 4
a = "c{i}"
b = "home"
rate = "1gbit"
delay = "1ms"
queue = 500
mtu = 9000

[[link]]
a = "home"
b = "core"
rate = "unlimited"
faults = "delay=2ms"
a_to_b = { rate = "20mbit", delay = "5ms", queue = 100 }
b_to_a = { rate = "50mbit", faults = "dup=1%", mtu = 1500 }

[[link]]
repeat = 3
a = "core"
b = "s{i}"
rate = "100mbit"
delay = "2ms"

[[route]]
repeat = 1
node = "home"
to = "0.0.0.0/0"
via = "core"

[[route]]
node = "core"
to = "5.5.5.5/32"
via = "home"

[[program]]
host = "s1"
run = "bulk-receive"
port = 5000

[[program]]
host = "s2"
run = "echo"
port = 7

[[program]]
host = "s3"
run = "respond"
port = 80
start = 0

[[program]]
host = "c1"
run = "bulk-send"
to = "s1:5000"
bytes = "2MB"
start = "100ms"

[[program]]
host = "c2"
run = "bulk-send"
to = "6.6.1.2:5000"
duration = "3s"

[[program]]
host = "c3"
run = "requests"
to = "s2:7"
requests = 10
request = "1KiB"
interval = "100ms"

[[program]]
host = "c4"
run = "requests"
to = "s3:80"
requests = 5
request = 100
response = "50kB"
"#;

#[test]
fn a_scenario_with_every_key_runs_as_it_says() {
    let (output, report) = run_json(&scenario_file("every-key.toml", EVERY_KEY));
    assert!(output.status.success(), "{report}");
    assert_eq!(report["seed"], 9);
    let flows = report["flows"].as_array().unwrap();
    let names: Vec<&str> = flows
        .iter()
        .map(|flow| flow["name"].as_str().unwrap())
        .collect();
    // In the order they started: c1 at 100 ms.
    assert_eq!(
        names,
        [
            "c2 -> 6.6.1.2:5000",
            "c3 -> s2:7",
            "c4 -> s3:80",
            "c1 -> s1:5000"
        ]
    );
    assert_eq!(flows[3]["start_seconds"], 0.1);
    assert_eq!(flows[3]["bytes"], 2_000_000);
    // An echo server answers each 1 KiB request with 1 KiB: `response` defaults to `request`.
    assert_eq!(
        (&flows[1]["requests"], &flows[1]["bytes"]),
        (&10.into(), &20_480.into())
    );
    assert_eq!(flows[2]["bytes"], 5 * (100 + 50_000));
    // The home-to-core direction has its own rate; four flows share it.
    let home_core = &report["shared_links"][0];
    assert_eq!(
        (&home_core["from"], &home_core["to"]),
        (&"home".into(), &"core".into())
    );
    assert_eq!(home_core["rate_bps"], 20_000_000);
    assert_eq!(home_core["flows"].as_array().unwrap().len(), 4);
    let nat = &report["nats"][0];
    assert_eq!(
        nat["behaviour"],
        "address-restricted cone, lifetime 30s, inbound refresh, no hairpinning, at most 100 entries"
    );
    assert_eq!(nat["mappings_made"], 4);
    assert!(flows
        .iter()
        .all(|flow| flow["local"].as_str().unwrap().starts_with("192.168.0.")));
}

/// A small world to break: a client and a server joined by one link.
const VALID: &str = r#"seed = 3

[[host]]
name = "client"
address = "10.0.0.1"

[[host]]
name = "server"
address = "10.0.0.2"

[[link]]
a = "client"
b = "server"

[[program]]
host = "server"
run = "bulk-receive"
port = 80

[[program]]
host = "client"
run = "bulk-send"
to = "server:80"
bytes = "100KB"
"#;

#[test]
fn a_valid_scenario_runs() {
    let (output, report) = run_json(&scenario_file("valid.toml", VALID));
    assert!(output.status.success(), "{report}");
    assert_eq!(report["seed"], 3);
    assert_eq!(report["flows"][0]["bytes"], 100_000);
}

/// Each malformed scenario (VALID with one change), the line the error must name, and what
/// its message must say.
#[test]
fn a_malformed_scenario_is_refused_with_its_line_and_what_was_expected() {
    let nat = |preset: &str| {
        VALID.replace(
            "address = \"10.0.0.2\"",
            &format!(
                "address = \"10.0.0.2\"\nnat = {{ preset = \"{preset}\", outside = \"client\" }}"
            ),
        )
    };
    let cases: [(&str, String, usize, &str); 14] = [
        (
            "syntax",
            VALID.replace("name = \"client\"", "name = \"client"),
            4,
            "",
        ),
        (
            "unknown key",
            VALID.replace("b = \"server\"", "b = \"server\"\nrat = \"10mbit\""),
            14,
            "unknown field `rat`, expected one of",
        ),
        (
            "bad rate",
            VALID.replace("b = \"server\"", "b = \"server\"\nrate = \"fast\""),
            14,
            "expected a rate with a unit bit, kbit, mbit or gbit",
        ),
        (
            "MTU too small",
            VALID.replace("b = \"server\"", "b = \"server\"\nmtu = 40"),
            14,
            "expected an MTU in octets, a whole number from 68 (IPv4's minimum) to 65535 \
             (the largest IPv4 packet), e.g. 1500 (Ethernet's) or 1280 (IPv6's minimum), not \
             the bare number 40",
        ),
        (
            "MTU with a unit",
            VALID.replace(
                "b = \"server\"",
                "b = \"server\"\nb_to_a = { mtu = \"1500B\" }",
            ),
            14,
            "expected an MTU in octets, a whole number from 68",
        ),
        (
            "bad fault spec",
            VALID.replace("b = \"server\"", "b = \"server\"\nfaults = \"loss=200%\""),
            14,
            "bad fault spec: loss=200%: loss must be a probability",
        ),
        (
            "unknown program",
            VALID.replace("bulk-receive", "bulk-recieve"),
            17,
            "unknown variant `bulk-recieve`, expected one of",
        ),
        (
            "unknown node",
            VALID.replace("b = \"server\"", "b = \"sever\""),
            13,
            "no node is named \"sever\"; the nodes are: client, server",
        ),
        (
            "duplicate address",
            VALID.replace("10.0.0.2", "10.0.0.1"),
            9,
            "10.0.0.1 is given to both \"client\" and \"server\"",
        ),
        (
            "program without its target",
            VALID.replace("to = \"server:80\"\n", ""),
            20,
            "a \"bulk-send\" program needs `to`",
        ),
        (
            "unknown NAT type",
            nat("cone"),
            10,
            "\"cone\" is not a NAT type; the types are: full-cone,",
        ),
        (
            "NAT on a host",
            nat("full-cone"),
            10,
            "\"server\" is a host, and a middlebox sits on a router",
        ),
        (
            "too many copies",
            VALID.replace("name = \"client\"", "repeat = 10001\nname = \"client\""),
            3,
            "repeat = 10001: at most 10000 copies",
        ),
        (
            "bad event",
            VALID.replace("seed = 3", "seed = 3\nevents = [\"1s: crash\"]"),
            2,
            "unknown event, or the wrong number of words",
        ),
    ];
    for (name, text, line, expected) in cases {
        let path = scenario_file(&format!("{}.toml", name.replace(' ', "-")), &text);
        let output = ferry()
            .args(["sim", "--scenario"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}");
        let place = format!("{}, line {line}: ", path.display());
        assert!(
            stderr.contains(&place),
            "{name}: expected {place:?} in {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{name}: expected {expected:?} in {stderr}"
        );
    }
}

/// `mtu` is the link's MTU, as `ferry sim --mtu`: on a link of 1280 octets the client's
/// path MTU probes of Ethernet's size are lost and its search settles below; an MTU on the
/// server's direction alone (`b_to_a`) leaves the client's data as large as the default.
#[test]
fn a_links_mtu_bounds_the_datagrams_it_carries() {
    let run = |name: &str, link_keys: &str| {
        let text = VALID
            .replace("b = \"server\"", &format!("b = \"server\"\n{link_keys}"))
            .replace("bytes = \"100KB\"", "bytes = \"1MB\"");
        let (output, report) = run_json(&scenario_file(name, &text));
        assert!(output.status.success(), "{name}: {report}");
        let client = report["flows"][0]["client"].clone();
        let lost = client["path_mtu_probes_lost"].as_u64().unwrap();
        (client["path_mtu_probes"].as_u64().unwrap(), lost)
    };
    assert_eq!(
        run("mtu-default.toml", ""),
        (1, 0),
        "one probe, of 1452 bytes"
    );
    let (probes, lost) = run("mtu-1280.toml", "mtu = 1280");
    assert!(lost >= 3 && probes > lost, "{probes} probes, {lost} lost");
    assert_eq!(run("mtu-b-to-a.toml", "b_to_a = { mtu = 1280 }"), (1, 0));
}

#[test]
fn a_scenario_that_cannot_be_read_or_mixes_in_two_host_flags_is_refused() {
    let missing = ferry()
        .args(["sim", "--scenario", "/nonexistent/ferry.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
    let mixed = ferry()
        .args(["sim", "--bytes", "1MiB", "--scenario"])
        .arg(shipped("dumbbell.toml"))
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("cannot be used with"));
}

#[test]
fn a_flow_that_fails_makes_the_exit_status_1() {
    let refused = VALID.replace("to = \"server:80\"", "to = \"server:81\"");
    let (output, report) = run_json(&scenario_file("refused.toml", &refused));
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["finished"], false);
    let error = report["flows"][0]["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("client -> server:81 failed"), "{stderr}");
}
