//! `ferry recv/send --secure` end to end over loopback (docs/protocol.md section 10): a file
//! intact through loss and bit flips, a pinned key, trust on first use, and the one-line
//! errors of a wrong key and a plain peer.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::Duration;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("ferry-secure-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    directory.join(name)
}

/// A `ferry recv` started with `args` on a free loopback port (or `port`), its address and,
/// if it runs `--secure`, the server key it printed.
struct Receiver {
    child: Child,
    stderr: BufReader<ChildStderr>,
    address: String,
    key: Option<String>,
}

fn start_receiver(port: u16, args: &[&str]) -> Receiver {
    start_receiver_printing(port, args, Stdio::null())
}

/// As [`start_receiver`], its stdout to `stdout`.
fn start_receiver_printing(port: u16, args: &[&str], stdout: Stdio) -> Receiver {
    let mut child = ferry()
        .args(["recv", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut address, mut key) = (None, None);
    while address.is_none() {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "ferry recv ended");
        if let Some((_, found)) = line.trim().split_once(": secure, server key ") {
            key = Some(found.to_string());
        } else if let Some((_, found)) = line.trim().split_once(": listening on ") {
            address = Some(found.to_string());
        } else {
            panic!("unexpected line: {line:?}");
        }
    }
    Receiver {
        child,
        stderr,
        address: address.unwrap(),
        key,
    }
}

impl Receiver {
    fn port(&self) -> u16 {
        self.address.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// Stop it (it must not have panicked).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        let mut said = String::new();
        self.stderr.read_to_string(&mut said).unwrap();
        assert!(!said.contains("panicked"), "{said}");
        said
    }
}

/// `ferry send` with `args` (and `HOME` set to `home`, if given), killed after `limit`: its
/// exit status and what it said on stderr.
fn send(args: &[&str], home: Option<&Path>, limit: Duration) -> (ExitStatus, String) {
    let (status, said, _) = send_with_output(args, home, limit);
    (status, said)
}

/// As [`send`], with what it printed on stdout (a line or two: the pipe never fills).
fn send_with_output(
    args: &[&str],
    home: Option<&Path>,
    limit: Duration,
) -> (ExitStatus, String, String) {
    let mut command = ferry();
    command
        .arg("send")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(home) = home {
        command.env("HOME", home);
    }
    let mut sender = command.spawn().unwrap();
    // Counted in sleeps, not read from a clock: only a hang reaches the limit.
    let step = Duration::from_millis(20);
    let mut status = None;
    for _ in 0..limit.as_millis() / step.as_millis() {
        status = sender.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(step);
    }
    let Some(status) = status else {
        let _ = sender.kill();
        panic!("ferry send {args:?} still ran after {limit:?}");
    };
    let mut message = String::new();
    sender
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut message)
        .unwrap();
    let mut printed = String::new();
    sender
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    (status, message, printed)
}

#[test]
fn a_secure_transfer_arrives_intact_through_loss_and_flips_with_a_pinned_key_kept_in_a_file() {
    let input = scratch("intact-input.bin");
    let output = scratch("intact-output.bin");
    let key_file = scratch("intact-server.key");
    let content = ferry::sim::payload(4 << 20, 21);
    std::fs::write(&input, &content).unwrap();
    let output_arg = output.to_str().unwrap();
    let key_arg = key_file.to_str().unwrap();
    let receiver = start_receiver(
        0,
        &[
            "--once",
            "--output",
            output_arg,
            "--secure",
            "--key",
            key_arg,
            "--faults",
            "loss=2%,flip=1e-5",
        ],
    );
    let key = receiver.key.clone().expect("the server key is printed");
    let (status, said, printed) = send_with_output(
        &[
            &receiver.address,
            input.to_str().unwrap(),
            "--secure",
            "--server-key",
            &key,
            "--faults",
            "loss=2%,flip=1e-5",
            "--stats",
            "json",
        ],
        None,
        Duration::from_secs(120),
    );
    assert!(status.success(), "{said}");
    // Flipped bits are the CRC's to catch, before the secure layer sees them: corrupt, never
    // counted as unauthenticated.
    let stats: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(stats["discarded_unauthenticated"], 0, "{stats}");
    assert!(stats["discarded_corrupt"].as_u64().unwrap() > 0, "{stats}");
    let mut receiver = receiver;
    assert!(receiver.child.wait().unwrap().success());
    assert!(
        std::fs::read(&output).unwrap() == content,
        "the copy differs"
    );
    // The key file keeps the identity: a restarted server proves the same key.
    let again = start_receiver(0, &["--secure", "--key", key_arg]);
    assert_eq!(again.key.as_deref(), Some(key.as_str()));
    again.stop();
}

#[test]
fn a_wrong_key_and_a_plain_peer_fail_at_once_with_one_line() {
    let small = scratch("small.txt");
    std::fs::write(&small, b"hello").unwrap();
    let small = small.to_str().unwrap();
    let secure = start_receiver(0, &["--secure"]);
    let wrong = "ab".repeat(32);
    let (status, said) = send(
        &[&secure.address, small, "--secure", "--server-key", &wrong],
        None,
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("a man in the middle"), "{said}");
    // A plain sender is refused by the secure receiver.
    let (status, said) = send(&[&secure.address, small], None, Duration::from_secs(20));
    assert!(!status.success());
    assert!(said.contains("connection refused"), "{said}");
    secure.stop();
    // A secure sender meets a plain receiver: it never falls back to plaintext.
    let plain = start_receiver(0, &[]);
    let (status, said) = send(
        &[&plain.address, small, "--secure", "--server-key", &wrong],
        None,
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("does not run --secure"), "{said}");
    plain.stop();
}

#[test]
fn trust_on_first_use_remembers_the_server_and_refuses_a_changed_key() {
    let home = scratch("home");
    std::fs::create_dir_all(&home).unwrap();
    let small = scratch("tofu.txt");
    std::fs::write(&small, b"hello").unwrap();
    let small = small.to_str().unwrap();
    let first = start_receiver(0, &["--secure"]);
    let (status, said) = send(
        &[&first.address, small, "--secure"],
        Some(&home),
        Duration::from_secs(20),
    );
    assert!(status.success(), "{said}");
    assert!(said.contains("on first use"), "{said}");
    let known = std::fs::read_to_string(home.join(".ferry/known_hosts")).unwrap();
    let key = first.key.clone().unwrap();
    assert_eq!(known, format!("{} {key}\n", first.address));
    // Known now: it connects without a word.
    let (status, said) = send(
        &[&first.address, small, "--secure"],
        Some(&home),
        Duration::from_secs(20),
    );
    assert!(status.success(), "{said}");
    assert!(said.is_empty(), "{said}");
    let port = first.port();
    first.stop();
    // Another server (another identity) in its place is refused.
    let impostor = start_receiver(port, &["--secure"]);
    assert_ne!(impostor.key, Some(key));
    let (status, said) = send(
        &[&impostor.address, small, "--secure"],
        Some(&home),
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("delete its line"), "{said}");
    impostor.stop();
}

#[test]
fn sim_secure_moves_the_data_intact_and_counts_what_did_not_authenticate() {
    let run = |extra: &[&str]| {
        let output = ferry()
            .args(["sim", "--bytes", "256KiB", "--seed", "3", "--stats", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let secure = run(&["--secure", "--faults", "loss=5%,flip=1e-5,dup=2%"]);
    assert_eq!(secure["intact"], true, "{secure}");
    // The network's duplicates are replays to the secure mode: dropped and counted.
    let replays = secure["discarded_unauthenticated"].as_u64().unwrap();
    assert!(replays > 0, "{secure}");
    assert_eq!(
        replays,
        secure["a"]["discarded_unauthenticated"].as_u64().unwrap()
            + secure["b"]["discarded_unauthenticated"].as_u64().unwrap()
    );
    let plain = run(&["--faults", "loss=5%,flip=1e-5,dup=2%"]);
    assert_eq!(plain["discarded_unauthenticated"], 0, "{plain}");
}

/// `ferry recv --once --secure --stats json` into a file, with `extra` arguments, and `ferry
/// send --secure --server-key KEY --early-data` of a small file to it: the receiver's JSON
/// figures, once it has the file intact.
fn early_data_transfer(name: &str, extra: &[&str]) -> serde_json::Value {
    let input = scratch(&format!("{name}-input.txt"));
    let output = scratch(&format!("{name}-output.txt"));
    let content = ferry::sim::payload(3000, 4);
    std::fs::write(&input, &content).unwrap();
    let mut args = vec![
        "--once",
        "--output",
        output.to_str().unwrap(),
        "--secure",
        "--stats",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut receiver = start_receiver_printing(0, &args, Stdio::piped());
    let key = receiver.key.clone().unwrap();
    let (status, said) = send(
        &[
            &receiver.address,
            input.to_str().unwrap(),
            "--secure",
            "--server-key",
            &key,
            "--early-data",
        ],
        None,
        Duration::from_secs(30),
    );
    assert!(status.success(), "{said}");
    assert!(receiver.child.wait().unwrap().success());
    let mut printed = String::new();
    receiver
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(
        std::fs::read(&output).unwrap() == content,
        "the copy differs"
    );
    serde_json::from_str(&printed).unwrap()
}

#[test]
fn early_data_rides_in_the_syn_to_a_pinned_receiver_or_after_the_handshake_if_it_refuses() {
    let stats = early_data_transfer("early", &[]);
    assert_eq!(stats["early_data_accepted"], 1, "{stats}");
    assert_eq!(stats["early_data_refused"], 0, "{stats}");
    let stats = early_data_transfer("refused", &["--refuse-early-data"]);
    assert_eq!(stats["early_data_accepted"], 0, "{stats}");
    assert_eq!(stats["early_data_refused"], 1, "{stats}");
}

#[test]
fn early_data_to_a_receiver_with_another_key_fails_at_once_with_one_line() {
    let small = scratch("early-small.txt");
    std::fs::write(&small, b"hello").unwrap();
    let receiver = start_receiver(0, &["--secure"]);
    let stale = "ab".repeat(32);
    let (status, said) = send(
        &[
            &receiver.address,
            small.to_str().unwrap(),
            "--secure",
            "--server-key",
            &stale,
            "--early-data",
        ],
        None,
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("a man in the middle"), "{said}");
    receiver.stop();
}
