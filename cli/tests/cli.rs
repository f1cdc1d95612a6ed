//! The `ferry` command line, end to end, over loopback.

mod idle_clients;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

fn scratch_file(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("ferry-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    directory.join(name)
}

#[test]
fn recv_and_send_copy_a_file_through_faults() {
    let input = scratch_file("input.bin");
    let output = scratch_file("output.bin");
    let content = ferry::sim::payload(3_000_000, 42);
    std::fs::write(&input, &content).unwrap();

    let mut command = ferry();
    command
        .args(["recv", "--listen", "127.0.0.1:0", "--once", "--output"])
        .arg(&output)
        .args(["--faults", "loss=2%,dup=1%,reorder=2%", "--stats", "json"])
        .stdout(Stdio::piped());
    // The receiver says where it listens on its first line of stderr.
    let (address, receiver, mut stderr) = spawn_listening(command);

    send_file(&address, &input);
    let receiver = receiver.wait_with_output().unwrap();
    assert!(receiver.status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.contains("warning"),
        "the sender stayed to acknowledge the receiver's FIN: {rest}"
    );
    assert!(
        std::fs::read(&output).unwrap() == content,
        "the copy differs"
    );
    let stats: serde_json::Value = serde_json::from_slice(&receiver.stdout).unwrap();
    assert_eq!(stats["bytes_delivered"], 3_000_000);
    assert!(stats["faults"]["dropped"].as_u64().unwrap() > 0);
}

/// `--mss` sets the segment size as `TCP_MAXSEG` does: with path MTU discovery off at both
/// ends, every data segment carries the MSS less the timestamps option (1448 - 12), from the
/// first on; by default they start at 1188 (1200 - 12) and only the search grows them.
#[test]
fn send_and_recv_take_the_mss_they_are_given() {
    let input = scratch_file("mss.bin");
    std::fs::write(&input, ferry::sim::payload(200_000, 9)).unwrap();
    for (mss, expected) in [(Some("1448"), 1436), (None, 1188)] {
        let mss: Vec<&str> = mss.map_or(vec![], |mss| vec!["--mss", mss]);
        let (address, receiver, stderr) =
            start_receiver(&[&["--pmtud", "off"], mss.as_slice()].concat());
        let sender = ferry()
            .args(["send", &address])
            .arg(&input)
            .args(["--pmtud", "off", "--stats", "json"])
            .args(&mss)
            .output()
            .unwrap();
        assert!(
            sender.status.success(),
            "{}",
            String::from_utf8_lossy(&sender.stderr)
        );
        let stats: serde_json::Value = serde_json::from_slice(&sender.stdout).unwrap();
        assert_eq!(stats["segment_size"], expected, "{stats}");
        stop_serving(receiver, stderr);
    }
    let refused = ferry()
        .args(["send", "127.0.0.1:9", "--mss", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("'0' for '--mss <MSS>': 0 is not in 1..=65000"),
        "{said}"
    );
}

#[test]
fn recv_writes_a_text_transfer_to_stdout_as_sent_and_its_figures_to_stderr() {
    // Lines, and a last one without its newline: what stdout's line buffering used to hold.
    let mut content = Vec::new();
    for line in 0..40_000 {
        writeln!(content, "line {line} of a text transfer").unwrap();
    }
    content.extend_from_slice(b"no newline at the end");
    let input = scratch_file("text.txt");
    std::fs::write(&input, &content).unwrap();

    let mut command = ferry();
    command
        .args([
            "recv",
            "--listen",
            "127.0.0.1:0",
            "--once",
            "--stats",
            "json",
        ])
        .stdout(Stdio::piped());
    let (address, mut receiver, mut stderr) = spawn_listening(command);
    // Read stdout as it comes: a full pipe would stall the transfer.
    let mut stdout = receiver.stdout.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    send_file(&address, &input);
    assert!(receiver.wait().unwrap().success());
    assert!(
        reading.join().unwrap().unwrap() == content,
        "stdout differs from the file"
    );
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let figures = rest
        .lines()
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .unwrap_or_else(|| panic!("no JSON figures on stderr: {rest}"));
    assert_eq!(figures["bytes_delivered"], content.len());
}

#[test]
fn connecting_to_nothing_fails_with_one_clear_line() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sender = ferry()
        .args(["send", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!sender.status.success());
    let message = String::from_utf8_lossy(&sender.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("cannot connect"), "{message}");
}

#[test]
fn a_busy_port_and_a_bad_spec_are_refused_clearly() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let receiver = ferry()
        .args(["recv", "--listen", &address, "--once"])
        .output()
        .unwrap();
    assert!(!receiver.status.success());
    assert!(String::from_utf8_lossy(&receiver.stderr).contains("address already in use"));

    let bad = ferry()
        .args(["send", &address, "--faults", "lose=5%"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("unknown key \"lose\"") && message.contains("valid keys are"),
        "{message}"
    );
}

#[test]
fn cat_moves_twenty_mebibytes_each_way_intact() {
    let size = 20 << 20;
    let (listener_in, client_in) = (scratch_file("cat-a.bin"), scratch_file("cat-b.bin"));
    let (listener_out, client_out) = (scratch_file("cat-a.out"), scratch_file("cat-b.out"));
    std::fs::write(&listener_in, ferry::sim::payload(size, 7)).unwrap();
    std::fs::write(&client_in, ferry::sim::payload(size, 8)).unwrap();

    let mut command = ferry();
    command
        .args(["cat", "--listen", "127.0.0.1:0"])
        .stdin(File::open(&listener_in).unwrap())
        .stdout(File::create(&listener_out).unwrap());
    let (address, mut listening, mut stderr) = spawn_listening(command);
    let connecting = ferry()
        .args(["cat", &address])
        .stdin(File::open(&client_in).unwrap())
        .stdout(File::create(&client_out).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        connecting.status.success(),
        "{}",
        String::from_utf8_lossy(&connecting.stderr)
    );
    let status = listening.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        std::fs::read(&client_out).unwrap() == std::fs::read(&listener_in).unwrap(),
        "the connecting side got other bytes"
    );
    assert!(
        std::fs::read(&listener_out).unwrap() == std::fs::read(&client_in).unwrap(),
        "the listening side got other bytes"
    );
    for file in [listener_in, client_in, listener_out, client_out] {
        let _ = std::fs::remove_file(file);
    }
}

#[test]
fn cat_shows_a_line_without_its_newline_while_the_peer_is_still_connected() {
    let listener_out = scratch_file("cat-prompt.out");
    let mut command = ferry();
    command
        .args(["cat", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(File::create(&listener_out).unwrap());
    let (address, mut listening, _stderr) = spawn_listening(command);
    let mut connecting = ferry()
        .args(["cat", &address])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut typed = connecting.stdin.take().unwrap();
    typed.write_all(b"password: ").unwrap();
    typed.flush().unwrap();
    // The client keeps its stdin open: the prompt must show before anything ends. The bound
    // only stops a hang; the prompt arrives within a round trip.
    let shown = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read(&listener_out).unwrap() == b"password: "
    });
    drop(typed);
    drop(listening.stdin.take());
    let connected = wait_or_kill(&mut connecting, Duration::from_secs(30), "ferry cat");
    let listened = wait_or_kill(
        &mut listening,
        Duration::from_secs(30),
        "ferry cat --listen",
    );
    let _ = std::fs::remove_file(&listener_out);
    assert!(shown, "the prompt was held until the connection ended");
    assert!(connected.success() && listened.success());
}

#[test]
fn sim_names_settings_that_cannot_work_and_says_why_a_run_failed() {
    let zero_buffer = ferry()
        .args(["sim", "--recv-buffer", "0"])
        .output()
        .unwrap();
    assert_eq!(zero_buffer.status.code(), Some(2));
    let message = String::from_utf8_lossy(&zero_buffer.stderr);
    assert!(
        message.contains("--recv-buffer 0 cannot work") && message.contains("from 1 byte"),
        "{message}"
    );

    // Without congestion control a 64 KiB window of 2-byte segments is 32,768 segments sent at
    // once: a run that took minutes, now refused with the sizes that work.
    let tiny_segments = ferry()
        .args([
            "sim",
            "--cc",
            "fixed",
            "--mss",
            "2",
            "--recv-buffer",
            "64KiB",
        ])
        .output()
        .unwrap();
    assert_eq!(tiny_segments.status.code(), Some(2));
    let message = String::from_utf8_lossy(&tiny_segments.stderr);
    assert!(
        message.contains("--mss 2 cannot work") && message.contains("from 16 to 65535 bytes"),
        "{message}"
    );

    let huge = ferry().args(["sim", "--bytes", "100GiB"]).output().unwrap();
    assert_eq!(huge.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&huge.stderr).contains("from 0 to 4GiB"));

    // A link that goes bad and never recovers: nothing is corrupted, the transfer times out.
    let dead_link = ferry()
        .args(["sim", "--bytes", "20KB", "--faults", "burst=5%/0"])
        .output()
        .unwrap();
    assert_eq!(dead_link.status.code(), Some(1));
    let message = String::from_utf8_lossy(&dead_link.stderr);
    assert!(
        message.contains("did not finish")
            && message.contains("none of them wrong")
            && message.contains("timed out"),
        "{message}"
    );
}

/// Spawn `command` (a `ferry recv` or `ferry cat --listen`), whose first line on stderr says
/// where it listens: that address, the child, and the rest of its stderr.
fn spawn_listening(mut command: Command) -> (String, Child, BufReader<ChildStderr>) {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .split_once(": listening on ")
        .map(|(_, address)| address.to_string())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    (address, child, stderr)
}

/// Stop a `ferry recv` that must still be running and must not have panicked: what it said
/// on stderr.
fn stop_serving(mut receiver: Child, mut stderr: BufReader<ChildStderr>) -> String {
    assert!(
        receiver.try_wait().unwrap().is_none(),
        "ferry recv still serves"
    );
    receiver.kill().unwrap();
    receiver.wait().unwrap();
    let mut said = String::new();
    stderr.read_to_string(&mut said).unwrap();
    assert!(!said.contains("panicked"), "{said}");
    said
}

/// `ferry send` `input` to `address`, which must succeed.
fn send_file(address: &str, input: &std::path::Path) {
    let sender = ferry().args(["send", address]).arg(input).output().unwrap();
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
}

/// Start `ferry recv` on a free loopback port with `args`, its stdout discarded.
fn start_receiver(args: &[&str]) -> (String, Child, BufReader<ChildStderr>) {
    let mut command = ferry();
    command
        .args(["recv", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null());
    spawn_listening(command)
}

#[test]
fn an_idle_client_does_not_hold_up_a_sender() {
    let output = scratch_file("served.bin");
    let (address, mut receiver, _stderr) = start_receiver(&["--output", output.to_str().unwrap()]);
    // A client that connects, sends one byte and then nothing.
    let mut idle =
        ferry::Stream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(60)).unwrap();
    idle.write_all(b"x").unwrap();

    let input = scratch_file("served-input.bin");
    let content = ferry::sim::payload(500_000, 5);
    std::fs::write(&input, &content).unwrap();
    send_file(&address, &input);
    // The sender's success means the receiver wrote its transfer out, whole.
    let written = std::fs::read(&output).unwrap();
    receiver.kill().unwrap();
    receiver.wait().unwrap();
    drop(idle);
    assert!(
        written == content,
        "the output holds the sender's file, and only it"
    );
}

#[test]
fn a_sender_that_goes_quiet_is_given_up_after_the_idle_timeout() {
    let (address, receiver, mut stderr) = start_receiver(&["--once", "--idle-timeout", "1s"]);
    let mut idle =
        ferry::Stream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(60)).unwrap();
    idle.write_all(b"x").unwrap();
    let status = receiver.wait_with_output().unwrap().status;
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        rest.contains("idle for longer than --idle-timeout"),
        "{rest}"
    );
}

/// Wait for `child` to exit, killing it (and failing) if it is still running after `limit`:
/// a guard so that a regression fails the test instead of hanging it, not a timing assertion.
fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let step = Duration::from_millis(50);
    for _ in 0..(limit.as_millis() / step.as_millis()) {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(step);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("{what} was still running after {limit:?}");
}

#[test]
fn recv_into_a_missing_directory_fails_before_listening() {
    let missing = scratch_file("no-such-directory").join("out.bin");
    let mut receiver = ferry()
        .args(["recv", "--listen", "127.0.0.1:0", "--output"])
        .arg(&missing)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_or_kill(&mut receiver, Duration::from_secs(60), "ferry recv");
    let mut message = String::new();
    receiver
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut message)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("cannot write {}", missing.display()))
            && message.contains("No such file or directory")
            && !message.contains("listening on"),
        "{message}"
    );
}

/// Run `ferry send` with `args` and stdin closed, bounded by `limit`: its exit status and
/// stderr.
fn send_bounded(args: &[&str], limit: Duration) -> (std::process::ExitStatus, String) {
    let mut sender = ferry()
        .arg("send")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = sender.stderr.take().unwrap();
    let status = wait_or_kill(&mut sender, limit, "ferry send");
    let mut message = String::new();
    stderr.read_to_string(&mut message).unwrap();
    (status, message)
}

#[test]
fn send_gives_up_at_the_idle_timeout_on_a_receiver_that_never_reads() {
    // A receiver that accepts and never reads: its window closes, our send buffer fills, and
    // the write waits. After --idle-timeout the transfer is reset at once; it used to linger
    // 30 s more for the data nobody would take (the bound below is shorter than that).
    let listener = ferry::Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let input = scratch_file("never-read.bin");
    std::fs::write(&input, ferry::sim::payload(2_000_000, 9)).unwrap();
    let accepting = std::thread::spawn(move || listener.accept().unwrap().0);
    let (status, message) = send_bounded(
        &[&address, input.to_str().unwrap(), "--idle-timeout", "1s"],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{message}");
    assert!(
        message.contains("idle for longer than --idle-timeout; reset with data unacknowledged"),
        "{message}"
    );
    let held = accepting.join().unwrap();
    held.set_linger(Some(Duration::ZERO)).unwrap();
}

#[test]
fn send_gives_up_at_the_idle_timeout_on_a_receiver_that_never_answers() {
    // Something holds the port (so no ICMP refuses us) and never answers the SYN: without
    // the idle timeout the SYN retries last about two minutes.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let (status, message) =
        send_bounded(&[&address, "--idle-timeout", "1s"], Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!(
            "cannot connect to {address}: no answer within --idle-timeout"
        )),
        "{message}"
    );
}

#[test]
fn recv_past_its_connection_limits_still_serves_senders() {
    let output = scratch_file("limits.bin");
    let (address, receiver, stderr) = start_receiver(&[
        "--output",
        output.to_str().unwrap(),
        "--max-connections",
        "8",
        "--max-per-peer",
        "3",
    ]);
    let server: SocketAddr = address.parse().unwrap();
    let send = |name: &str, content: &[u8]| {
        let input = scratch_file(name);
        std::fs::write(&input, content).unwrap();
        send_file(&address, &input);
    };
    let tally = |open, reset| idle_clients::Tally {
        open,
        reset,
        other: 0,
    };
    let mut idle = idle_clients::IdleClients::new();

    // One peer opens ten connections that send a byte and go quiet: it gets three places,
    // and the others are refused (none of the three has been idle for a second yet).
    for _ in 0..10 {
        idle.open("127.0.0.1".parse().unwrap(), server).unwrap();
    }
    assert_eq!(idle.settle_at(&tally(3, 7), 5000).unwrap(), tally(3, 7));
    // Once they have been idle for over a second (1.5 s at least: each turn sleeps 1 ms), a
    // sender from the same address takes the place of the one idle longest, and its
    // transfer, larger than --spool-above, goes through a spool file.
    idle.drive(1500).unwrap();
    let first = ferry::sim::payload(500_000, 11);
    send("limits-first.bin", &first);
    assert_eq!(idle.settle_at(&tally(2, 8), 5000).unwrap(), tally(2, 8));

    // Four more peers, three connections each: 14 idle connections for 8 places. The first
    // peer's two are reset for the first newcomers past the limit; then, with nobody idle
    // for a second, a newcomer takes a place from the address holding the most, or is
    // refused: one connection reset for each past the limit, either way.
    for peer in 2..=5 {
        for _ in 0..3 {
            let source = format!("127.0.0.{peer}").parse().unwrap();
            idle.open(source, server).unwrap();
        }
    }
    assert_eq!(idle.settle_at(&tally(8, 14), 5000).unwrap(), tally(8, 14));
    // A sender still gets through, taking a place from an address holding more than one,
    // its transfer kept in memory this time.
    let second = ferry::sim::payload(100_000, 12);
    send("limits-second.bin", &second);

    let written = std::fs::read(&output).unwrap();
    let said = stop_serving(receiver, stderr);
    // The first line about the limits (at most one a second follows) is about the first
    // peer's places: a refusal, or a reset if its connections came over a second apart.
    let first_notice = said
        .lines()
        .find(|line| {
            line.contains("refused the connection") || line.contains("reset the connection")
        })
        .unwrap_or_default();
    assert!(
        first_notice.contains("from 127.0.0.1:") && first_notice.contains("(--max-per-peer 3)")
            || first_notice.contains("--max-per-peer 3 reached, and no transfer it counts"),
        "{said}"
    );
    assert!(
        written == [first, second].concat(),
        "the output holds both transfers, whole and in order"
    );
}

/// A pids cgroup of its own holding at most `tasks` tasks (threads count), for a test's
/// child, removed on drop; `None` where none can be made (not root, no pids controller).
struct TaskLimit {
    directory: PathBuf,
}

impl TaskLimit {
    fn new(name: &str, tasks: u32) -> Option<TaskLimit> {
        // cgroup v1's pids hierarchy, or v2's unified one.
        ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .iter()
            .find_map(|root| {
                let directory = PathBuf::from(root).join(format!("{name}-{}", std::process::id()));
                std::fs::create_dir(&directory).ok()?;
                match std::fs::write(directory.join("pids.max"), tasks.to_string()) {
                    Ok(()) => Some(TaskLimit { directory }),
                    Err(_) => {
                        let _ = std::fs::remove_dir(&directory);
                        None
                    }
                }
            })
    }

    /// `command`, run as a shell that joins the cgroup and then execs it.
    fn wrap(&self, command: &Command) -> Command {
        let mut line = format!(
            "echo $$ > {}/cgroup.procs && exec \"$0\"",
            self.directory.display()
        );
        for (index, _) in command.get_args().enumerate() {
            line.push_str(&format!(" \"${}\"", index + 1));
        }
        let mut wrapped = Command::new("sh");
        wrapped
            .arg("-c")
            .arg(line)
            .arg(command.get_program())
            .args(command.get_args());
        wrapped
    }
}

impl Drop for TaskLimit {
    /// End what a failed test left in the cgroup (our own child), then remove it.
    fn drop(&mut self) {
        let procs =
            std::fs::read_to_string(self.directory.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
        for _ in 0..100 {
            if std::fs::remove_dir(&self.directory).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn recv_out_of_threads_still_serves_a_sender() {
    // Under a task limit below --max-connections, starting a worker fails: the receiver
    // must neither panic nor stop accepting (it used to do both), and a sender still gets
    // through, taking the thread of the transfer idle longest.
    let Some(limit) = TaskLimit::new("ferry-cli-threads", 40) else {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED recv_out_of_threads_still_serves_a_sender: cannot make a pids \
             cgroup here (it needs root) ***\n"
        );
        return;
    };
    let output = scratch_file("threads.bin");
    let mut command = ferry();
    command
        .args(["recv", "--listen", "127.0.0.1:0", "--output"])
        .arg(&output);
    let mut command = limit.wrap(&command);
    command.stdout(Stdio::null());
    let (address, receiver, stderr) = spawn_listening(command);
    let server: SocketAddr = address.parse().unwrap();

    // Sixty idle connections from four addresses: more than the 40 tasks allow threads for.
    let mut idle = idle_clients::IdleClients::new();
    for index in 0..60 {
        let source = format!("127.0.0.{}", 1 + index % 4).parse().unwrap();
        idle.open(source, server).unwrap();
    }
    idle.drive(2000).unwrap();
    let tally = idle.tally();
    assert!(
        tally.reset > 0,
        "some were reset to stay within the threads: {tally:?}"
    );

    let content = ferry::sim::payload(100_000, 13);
    let input = scratch_file("threads-input.bin");
    std::fs::write(&input, &content).unwrap();
    send_file(&address, &input);
    assert!(std::fs::read(&output).unwrap() == content);
    stop_serving(receiver, stderr);
}

#[test]
fn recv_refuses_a_newcomer_rather_than_cut_a_moving_transfer() {
    // Four senders at once from one address, two places for it: the two admitted first are
    // moving (a 1 Mbit/s link makes each last about 1.6 s, so all four overlap), so the
    // other two are refused at once instead of resetting them (they used to be reset,
    // idle 0.0 s, to make room).
    let output = scratch_file("moving.bin");
    let (address, receiver, stderr) =
        start_receiver(&["--output", output.to_str().unwrap(), "--max-per-peer", "2"]);
    let inputs: Vec<(PathBuf, Vec<u8>)> = (0..4)
        .map(|index| {
            let path = scratch_file(&format!("moving-{index}.bin"));
            let content = ferry::sim::payload(200_000, 20 + index);
            std::fs::write(&path, &content).unwrap();
            (path, content)
        })
        .collect();
    let senders: Vec<Child> = inputs
        .iter()
        .map(|(path, _)| {
            ferry()
                .args(["send", &address])
                .arg(path)
                .args(["--faults", "rate=1mbit"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = senders
        .into_iter()
        .map(|sender| sender.wait_with_output().unwrap())
        .collect();
    let served = outcomes
        .iter()
        .filter(|outcome| outcome.status.success())
        .count();
    assert_eq!(served, 2, "two places, two senders served");
    for outcome in outcomes.iter().filter(|outcome| !outcome.status.success()) {
        let message = String::from_utf8_lossy(&outcome.stderr);
        assert!(
            message.contains("connection reset by the peer"),
            "{message}"
        );
    }
    let said = stop_serving(receiver, stderr);
    assert!(
        said.contains("refused the connection from 127.0.0.1:")
            && said.contains("--max-per-peer 2 reached")
            && !said.contains("reset the connection"),
        "{said}"
    );
    // The output holds the two served transfers, whole.
    let written = std::fs::read(&output).unwrap();
    assert!(
        written.len() == 400_000
            && written
                .chunks(200_000)
                .all(|chunk| inputs.iter().any(|(_, content)| content == chunk)),
        "the output holds two whole transfers"
    );
}

#[test]
fn a_send_whose_receiver_resets_it_never_exits_zero() {
    // A receiver that closes as soon as it accepts (as `ferry recv` did once it ran out of
    // descriptors): the 200 KB reach a connection nobody reads any more, which answers them
    // with a RST (RFC 2525). The RST may meet the sender before or after its FIN: either
    // way nothing was acknowledged, and `ferry send` must say so. Twenty runs: the RST used
    // to end LAST-ACK quietly, and the sender exited 0 in about half of them.
    let input = scratch_file("reset-input.bin");
    std::fs::write(&input, ferry::sim::payload(200_000, 7)).unwrap();
    for run in 0..20 {
        let listener = ferry::Listener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let receiver = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            // Closed without waiting: a FIN, then a RST for whatever arrives after.
            stream.set_linger(None).unwrap();
            stream.close().unwrap();
            // The listener stays until the sender is done, its socket answering strays.
            listener
        });
        let sender = ferry()
            .args(["send", &address])
            .arg(&input)
            .output()
            .unwrap();
        drop(receiver.join().unwrap());
        let message = String::from_utf8_lossy(&sender.stderr);
        assert_eq!(sender.status.code(), Some(1), "run {run}: {message}");
        assert!(message.contains("reset"), "run {run}: {message}");
    }
}

/// The first line of `ferry sim` names the faults each direction really had: those of
/// `--faults-ab` and `--faults-ba` too, not only `--faults`.
#[test]
fn sim_names_the_faults_of_each_direction() {
    let first_line = |args: &[&str]| {
        let output = ferry()
            .args(["sim", "--bytes", "3000"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        stdout.lines().next().unwrap_or_default().to_string()
    };
    let line = first_line(&["--faults-ab", "drop-data=1"]);
    assert!(line.contains("faults A→B drop-data=1, B→A none,"), "{line}");
    let line = first_line(&["--faults", "dup=1%", "--faults-ba", "none"]);
    assert!(line.contains("faults A→B dup=1%, B→A none,"), "{line}");
    // Alike both ways: said once.
    let line = first_line(&["--faults", "dup=1%"]);
    assert!(line.contains("faults dup=1%,"), "{line}");
    let line = first_line(&[]);
    assert!(line.contains("faults none,"), "{line}");
}

/// `ferry sim --stats json` keeps its sums of both hosts at the top and says what each host
/// counted in `a` and `b`: here A's lost tail, resent by a tail loss probe, is A's alone.
#[test]
fn sim_json_counts_each_host_beside_the_sums() {
    let output = ferry()
        // 25 segments of 1188 bytes (1200 less the timestamps option's 12) at the MSS (path
        // MTU discovery off): the 25th is the tail.
        .args(["sim", "--bytes", "29700", "--faults-ab", "drop-data=25"])
        .args(["--pmtud", "off"])
        .args(["--stats", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (a, b) = (&stats["a"], &stats["b"]);
    assert_eq!(a["retransmissions"]["tlp"], 1, "{stats}");
    assert_eq!(a["retransmissions"]["total"], 1, "{stats}");
    assert_eq!(b["retransmissions"]["total"], 0, "{stats}");
    assert_eq!(a["faults"]["dropped"], 1, "the link leaving A dropped it");
    assert_eq!(b["faults"]["dropped"], 0);
    assert_eq!(a["dropped_data_segments"], 1);
    for (host, state) in [(a, "CLOSED"), (b, "CLOSED")] {
        assert_eq!(host["state"], state, "{stats}");
        assert!(host["error"].is_null(), "{stats}");
        assert!(host["srtt_ms"].as_f64().unwrap() > 40.0, "{stats}");
    }
    // Every counter at the top is the sum of the hosts'.
    for key in [
        "segments_sent",
        "tail_loss_probes",
        "rto_timeouts",
        "discarded_corrupt",
    ] {
        let sum = a[key].as_u64().unwrap() + b[key].as_u64().unwrap();
        assert_eq!(stats[key].as_u64(), Some(sum), "{key}: {stats}");
    }
    for kind in ["rto", "fast", "sack", "rack", "tlp", "renege", "total"] {
        let sum = a["retransmissions"][kind].as_u64().unwrap()
            + b["retransmissions"][kind].as_u64().unwrap();
        assert_eq!(stats["retransmissions"][kind].as_u64(), Some(sum), "{kind}");
    }
    assert_eq!(stats["state_a"], "CLOSED");
    assert_eq!(stats["cwnd_a"], a["cwnd"]);
}

// ---------------------------------------------------------------------------------------
// Meeting through a rendezvous (docs/protocol.md section 9)

/// A running `ferry rendezvous` and the lines of its log (stderr), as they come.
struct Rendezvous {
    address: String,
    process: Child,
    log: std::sync::mpsc::Receiver<String>,
    /// The lines taken from `log` so far.
    seen: Vec<String>,
}

impl Rendezvous {
    /// A `ferry rendezvous` on a free loopback port.
    fn start() -> Rendezvous {
        let mut command = ferry();
        command.args(["rendezvous", "--listen", "127.0.0.1:0"]);
        let (address, process, stderr) = spawn_listening(command);
        let (lines, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        Rendezvous {
            address,
            process,
            log,
            seen: Vec::new(),
        }
    }

    /// Wait for a line of the log that starts with `start`, each line at most `limit`.
    fn wait_for(&mut self, start: &str, limit: Duration) {
        while !self.seen.iter().any(|line| line.starts_with(start)) {
            match self.log.recv_timeout(limit) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {start:?} within {limit:?} in: {:?}", self.seen),
            }
        }
    }

    /// Stop it (it must still be running, and must not have panicked): its whole log.
    fn stop(mut self) -> String {
        assert!(
            self.process.try_wait().unwrap().is_none(),
            "ferry rendezvous still serves"
        );
        self.process.kill().unwrap();
        self.process.wait().unwrap();
        // The reader thread ends at the end of the pipe, which the kill closed.
        self.seen.extend(self.log.iter());
        let log = self.seen.join("\n");
        assert!(!log.contains("panicked"), "{log}");
        log
    }
}

/// Run `ferry` with `args`, stdin from `input` (or closed), bounded by `limit`: its exit
/// status, stdout and stderr.
fn run_bounded(
    args: &[&str],
    input: Option<&std::path::Path>,
    limit: Duration,
) -> (std::process::ExitStatus, Vec<u8>, String) {
    let stdin = match input {
        Some(path) => Stdio::from(File::open(path).unwrap()),
        None => Stdio::null(),
    };
    let mut child = ferry()
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let mut stderr = child.stderr.take().unwrap();
    let status = wait_or_kill(&mut child, limit, &format!("ferry {}", args.join(" ")));
    let mut message = String::new();
    stderr.read_to_string(&mut message).unwrap();
    (status, reading.join().unwrap(), message)
}

#[test]
fn cat_meets_its_peer_through_ferry_rendezvous_and_moves_four_mebibytes_each_way() {
    let server = Rendezvous::start();
    let rendezvous = server.address.clone();
    let size = 4 << 20;
    let (alice_in, bob_in) = (scratch_file("punch-a.bin"), scratch_file("punch-b.bin"));
    std::fs::write(&alice_in, ferry::sim::payload(size, 17)).unwrap();
    std::fs::write(&bob_in, ferry::sim::payload(size, 18)).unwrap();
    let side = |name: &'static str, peer: &'static str, input: PathBuf| {
        let rendezvous = rendezvous.clone();
        std::thread::spawn(move || {
            let args = [
                "cat",
                "--rendezvous",
                &rendezvous,
                "--name",
                name,
                "--peer",
                peer,
            ];
            run_bounded(&args, Some(&input), Duration::from_secs(120))
        })
    };
    let alice = side("alice", "bob", alice_in.clone());
    let bob = side("bob", "alice", bob_in.clone());
    let (alice_status, at_alice, alice_said) = alice.join().unwrap();
    let (bob_status, at_bob, bob_said) = bob.join().unwrap();
    assert!(alice_status.success(), "{alice_said}");
    assert!(bob_status.success(), "{bob_said}");
    assert!(
        at_bob == std::fs::read(&alice_in).unwrap(),
        "bob got other bytes"
    );
    assert!(
        at_alice == std::fs::read(&bob_in).unwrap(),
        "alice got other bytes"
    );
    // Loopback has no NAT: the punch goes straight through, and each says so.
    assert!(
        alice_said.starts_with("ferry cat: connected to bob at 127.0.0.1:")
            && alice_said.trim_end().ends_with(" directly"),
        "{alice_said}"
    );
    assert!(
        bob_said.contains("connected to alice at 127.0.0.1:"),
        "{bob_said}"
    );
    let log = server.stop();
    for line in [
        "ferry rendezvous: introduced ",
        "ferry rendezvous: alice left",
        "ferry rendezvous: bob left",
    ] {
        assert!(log.contains(line), "{line} not in: {log}");
    }
    assert!(!log.contains("relaying"), "{log}");
    for file in [alice_in, bob_in] {
        let _ = std::fs::remove_file(file);
    }
}

#[test]
fn send_and_recv_meet_through_ferry_rendezvous() {
    let server = Rendezvous::start();
    let rendezvous = server.address.clone();
    let (input, output) = (
        scratch_file("punch-send.bin"),
        scratch_file("punch-recv.bin"),
    );
    std::fs::write(&input, ferry::sim::payload(1_500_000, 19)).unwrap();
    let receiving = {
        let (rendezvous, output) = (rendezvous.clone(), output.clone());
        std::thread::spawn(move || {
            let output = output.to_str().unwrap().to_string();
            let args = [
                "recv",
                "--rendezvous",
                &rendezvous,
                "--name",
                "inbox",
                "--peer",
                "outbox",
                "--output",
                &output,
            ];
            run_bounded(&args, None, Duration::from_secs(120))
        })
    };
    let input_path = input.to_str().unwrap();
    let args = [
        "send",
        "--rendezvous",
        &rendezvous,
        "--name",
        "outbox",
        "--peer",
        "inbox",
        input_path,
    ];
    let (status, _, said) = run_bounded(&args, None, Duration::from_secs(120));
    assert!(status.success(), "{said}");
    let (status, _, received_said) = receiving.join().unwrap();
    assert!(status.success(), "{received_said}");
    assert!(
        std::fs::read(&output).unwrap() == std::fs::read(&input).unwrap(),
        "the copy differs"
    );
    server.stop();
    for file in [input, output] {
        let _ = std::fs::remove_file(file);
    }
}

/// `args` fail within `limit` with exit status 1 and one line on stderr, which is returned.
fn fails_with_one_line(args: &[&str], limit: Duration) -> String {
    let (status, _, said) = run_bounded(args, None, limit);
    assert_eq!(status.code(), Some(1), "{said}");
    assert_eq!(said.lines().count(), 1, "one line: {said:?}");
    said.trim_end().to_string()
}

#[test]
fn bad_rendezvous_input_ends_with_one_line_and_a_failing_exit_never_a_hang() {
    let mut server = Rendezvous::start();
    let rendezvous = server.address.clone();
    let limit = Duration::from_secs(60);
    // An unknown peer: nobody of that name comes within the wait.
    let said = fails_with_one_line(
        &[
            "cat",
            "--rendezvous",
            &rendezvous,
            "--name",
            "mia",
            "--peer",
            "nobody",
            "--wait",
            "1s",
        ],
        limit,
    );
    assert_eq!(
        said,
        "ferry cat: the peer nobody did not come to the rendezvous within 1s"
    );
    // A taken name: one peer holds "nora" while another asks for it.
    let holder = {
        let rendezvous = rendezvous.clone();
        std::thread::spawn(move || {
            let args = [
                "recv",
                "--rendezvous",
                &rendezvous,
                "--name",
                "nora",
                "--peer",
                "oli",
                "--wait",
                "4s",
            ];
            run_bounded(&args, None, Duration::from_secs(60))
        })
    };
    server.wait_for("ferry rendezvous: nora registered", limit);
    let said = fails_with_one_line(
        &[
            "send",
            "--rendezvous",
            &rendezvous,
            "--name",
            "nora",
            "--peer",
            "pat",
        ],
        limit,
    );
    assert!(
        said.starts_with(&format!(
            "ferry send: the name nora is taken at the rendezvous {rendezvous}"
        )),
        "{said}"
    );
    let (status, _, _) = holder.join().unwrap();
    assert_eq!(status.code(), Some(1));
    server.stop();

    // A rendezvous that does not answer: a socket that reads and says nothing.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    let said = fails_with_one_line(
        &[
            "cat",
            "--rendezvous",
            &silent_address,
            "--name",
            "quin",
            "--peer",
            "rae",
        ],
        limit,
    );
    assert_eq!(
        said,
        format!("ferry cat: no answer from the rendezvous at {silent_address} within 5s")
    );

    // A forged reply: an INTRODUCE with the right nonce, but from another port than the
    // rendezvous's (to send the peer to an attacker's address). Rejected, and counted.
    drop(silent);
    let seen_by = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rendezvous_address = seen_by.local_addr().unwrap().to_string();
    let elsewhere = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let forging = std::thread::spawn(move || {
        seen_by
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buffer = [0u8; 256];
        let mut forged = 0;
        while let Ok((len, from)) = seen_by.recv_from(&mut buffer) {
            use ferry::rendezvous::message::{Body, Message};
            let Ok(register) = Message::parse(&buffer[..len]) else {
                continue;
            };
            if register.body == Body::Unregister {
                break;
            }
            let introduce = Message {
                nonce: register.nonce,
                body: Body::Introduce {
                    observed: from,
                    peer: "127.0.0.1:9".parse().unwrap(),
                    mappings: None,
                },
            };
            elsewhere.send_to(&introduce.to_bytes(), from).unwrap();
            forged += 1;
        }
        forged
    });
    let said = fails_with_one_line(
        &[
            "cat",
            "--rendezvous",
            &rendezvous_address,
            "--name",
            "sam",
            "--peer",
            "tess",
        ],
        limit,
    );
    let forged = forging.join().unwrap();
    // One forgery a REGISTER, seven REGISTERs in the 5 s (src/rendezvous/tests.rs counts
    // them in simulated time); a forgery that comes after the end is not counted.
    let rejected = said
        .strip_prefix(&format!(
            "ferry cat: no answer from the rendezvous at {rendezvous_address} within 5s; "
        ))
        .and_then(|rest| {
            rest.strip_suffix(&format!(
                " replies rejected: not from {rendezvous_address}, or not echoing our nonce"
            ))
        })
        .and_then(|count| count.parse::<u64>().ok());
    assert!(
        rejected.is_some_and(|rejected| (1..=forged).contains(&rejected)),
        "{forged} forged: {said}"
    );

    // A name that cannot be registered.
    let said = fails_with_one_line(
        &[
            "cat",
            "--rendezvous",
            &silent_address,
            "--name",
            "two words",
            "--peer",
            "x",
        ],
        limit,
    );
    assert!(
        said.starts_with("ferry cat: the name \"two words\" cannot be registered"),
        "{said}"
    );
}

#[test]
fn rendezvous_on_a_busy_port_fails_with_one_line() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let said = fails_with_one_line(
        &["rendezvous", "--listen", &address],
        Duration::from_secs(60),
    );
    assert_eq!(
        said,
        format!("ferry rendezvous: cannot listen on {address}: address already in use")
    );
}
