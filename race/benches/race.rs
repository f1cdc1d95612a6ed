//! The race (issue 24 item 5; issue 21 item 6): `cargo bench -p ferry-race`.
//!
//! One run races, in interleaved rounds, every contender below in two setups, and prints for
//! each the median, least and greatest goodput of its rounds and the ratios of its median to
//! Ferry plain's and to Linux TCP's in the same setup:
//! - Ferry plain and Ferry secure (the cipher its secure mode uses: docs/protocol.md): one `Stream` into a `Listener`'s stream in this process,
//!   as `cargo bench --bench loopback` and `--bench secure` move them (benches/common); and
//!   Ferry plain with `FERRY_UDP_GSO=off`, in a child process of this bench (the switch is
//!   read once per process), to show what GSO gives Ferry;
//! - quinn, with segmentation offload (GSO) on and off: one unidirectional stream from a
//!   client endpoint to a server endpoint, each on a current-thread tokio runtime of its own
//!   thread, rustls with ring's cryptography and an rcgen self-signed certificate the client
//!   trusts (both choose rustls' first TLS 1.3 suite, AES-256-GCM); the receiver reads into a
//!   64 KiB buffer as the others do. quinn-udp uses GRO on receive either way, and its path
//!   MTU discovery grows datagrams to 1452 bytes;
//! - raw UDP, a plain sender (`send_to` of one 1224-byte datagram, Ferry's full segment, per
//!   call) and a GSO one (`UDP_SEGMENT` at 1224 bytes, 53 segments per call), each to a plain
//!   receiver that counts what it gets for a few seconds: no reliability, the ceiling;
//! - Linux TCP: one std `TcpStream` moved the way Ferry's is;
//! - Ferry on tokio: one `ferry::tokio::Stream` into a `ferry::tokio::Listener`'s stream, each
//!   end on a current-thread tokio runtime of its own thread, as quinn's are (issue 24's target:
//!   at least 0.9x Ferry plain, the std driver);
//! - the CLI: `ferry send FILE` into `ferry recv --once --output /dev/null`, two child
//!   processes of the release build (the bench builds it), the goodput the receiver reports
//!   (`--stats json`, from accept to the end of the stream), the CPU time both children spent
//!   (issue 24's target: at least 0.9x Ferry plain in-process). The file is made once in the
//!   temporary directory, so after the first round it is read from the page cache.
//!
//! The setups: `loopback`, this process's own 127.0.0.1 as it comes (MTU 65536, offloads
//! on), and `mtu1500`, the lossy-loopback bench's namespace without loss (`lo` at MTU 1500,
//! offloads off; benches/mtu1500-namespace makes it), where the bench runs itself again under
//! `ip netns exec`. The second needs root; without it that setup is skipped, loudly.
//!
//! Settings from the environment: `FERRY_RACE_MIB` (the bulk transfers' size, 1024 by
//! default: 64 for a quick look), `FERRY_RACE_ROUNDS` (3), `FERRY_RACE_SETUPS`
//! (`loopback,mtu1500`), `FERRY_RACE_CONTENDERS` (the names the `result` lines use, e.g.
//! `ferry-plain,ferry-cli`; all of them by default), `FERRY_RACE_FERRY` (a `ferry` command to
//! race as the CLI instead of building this tree's, to compare two builds). Every transfer is
//! bounded: quinn's by a timeout, TCP's by its sockets' timeouts, Ferry's by its own give-up
//! timers, raw UDP's by its duration.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt::UdpGsoSegment};
use quinn::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[allow(dead_code)] // what the other benches use of it too
#[path = "../../benches/common/mod.rs"]
mod common;

use common::{
    children_cpu_seconds, ferry_bulk_bps, ferry_configs, median, now, process_cpu_seconds,
    raw_udp_bps, send_plain_datagrams, tcp_bulk_bps, DATAGRAM,
};

/// The contenders, in the order of each round and of the table.
const CONTENDERS: [Contender; 10] = [
    Contender::FerryPlain,
    Contender::FerryNoGso,
    Contender::FerrySecure,
    Contender::FerryTokio,
    Contender::FerryCli,
    Contender::QuinnGso,
    Contender::QuinnNoGso,
    Contender::RawUdpPlain,
    Contender::RawUdpGso,
    Contender::LinuxTcp,
];

/// The environment variable that makes the bench the namespace's half: it then runs one
/// setup's rounds and prints one `result CONTENDER BPS CPU_PER_GIB` line per transfer for its
/// parent.
const INSIDE: &str = "FERRY_RACE_INSIDE";
/// The environment variable that makes the bench run one transfer of the contender it names
/// and print its `result` line: how a contender that needs a process of its own is raced.
const ONE: &str = "FERRY_RACE_ONE";
/// How long the namespace's half may take in all, on top of its own bounds.
const INSIDE_LIMIT_SECONDS: u32 = 3600;
/// How long one quinn transfer may take.
const QUINN_LIMIT: Duration = Duration::from_secs(120);
/// Segments per GSO send: 53 x 1224 = 64,872 bytes, under a UDP datagram's 65,507.
const GSO_SEGMENTS: usize = 53;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Contender {
    FerryPlain,
    FerryNoGso,
    FerrySecure,
    FerryTokio,
    FerryCli,
    QuinnGso,
    QuinnNoGso,
    RawUdpPlain,
    RawUdpGso,
    LinuxTcp,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::FerryPlain => "ferry-plain",
            Contender::FerryNoGso => "ferry-plain-no-gso",
            Contender::FerrySecure => "ferry-secure",
            Contender::FerryTokio => "ferry-tokio",
            Contender::FerryCli => "ferry-cli",
            Contender::QuinnGso => "quinn-gso",
            Contender::QuinnNoGso => "quinn-no-gso",
            Contender::RawUdpPlain => "raw-udp-plain",
            Contender::RawUdpGso => "raw-udp-gso",
            Contender::LinuxTcp => "linux-tcp",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Contender::FerryPlain => "Ferry plain",
            Contender::FerryNoGso => "Ferry plain, FERRY_UDP_GSO=off",
            Contender::FerrySecure => "Ferry secure",
            Contender::FerryTokio => "Ferry plain on tokio (ferry::tokio::Stream)",
            Contender::FerryCli => "Ferry plain, the CLI (ferry send | ferry recv)",
            Contender::QuinnGso => "quinn 0.11, GSO on (AES-256-GCM)",
            Contender::QuinnNoGso => "quinn 0.11, GSO off (AES-256-GCM)",
            Contender::RawUdpPlain => "raw UDP plain, 1224 B (no reliability)",
            Contender::RawUdpGso => "raw UDP GSO, 1224 B (no reliability)",
            Contender::LinuxTcp => "Linux TCP (std TcpStream)",
        }
    }

    fn from_name(name: &str) -> Option<Contender> {
        CONTENDERS.into_iter().find(|each| each.name() == name)
    }

    /// One transfer's goodput, and the CPU time this process spent on it (both ends, the
    /// kernel's share included) per GiB the receiver got.
    fn race(self, settings: &Settings) -> Figure {
        if self == Contender::FerryNoGso {
            return race_in_child(Contender::FerryPlain, ("FERRY_UDP_GSO", "off"));
        }
        if self == Contender::FerryCli {
            return cli_bulk(settings.bytes);
        }
        let cpu_before = process_cpu_seconds();
        let bps = self.goodput(settings);
        let cpu = process_cpu_seconds() - cpu_before;
        let bytes = match self {
            Contender::RawUdpPlain | Contender::RawUdpGso => {
                bps / 8.0 * settings.raw_duration().as_secs_f64()
            }
            _ => settings.bytes as f64,
        };
        Figure {
            bps,
            cpu_per_gib: cpu / (bytes / GIB),
        }
    }

    /// One transfer's goodput, in bits per second.
    fn goodput(self, settings: &Settings) -> f64 {
        match self {
            Contender::FerryPlain | Contender::FerrySecure => {
                let (server, client) = ferry_configs(self == Contender::FerrySecure);
                ferry_bulk_bps(&server, &client, settings.bytes)
            }
            Contender::FerryTokio => ferry_tokio_bulk_bps(settings.bytes),
            Contender::FerryNoGso | Contender::FerryCli => {
                unreachable!("raced in child processes")
            }
            Contender::QuinnGso => quinn_bulk_bps(settings.bytes, true),
            Contender::QuinnNoGso => quinn_bulk_bps(settings.bytes, false),
            Contender::RawUdpPlain => raw_udp_bps(settings.raw_duration(), send_plain_datagrams),
            Contender::RawUdpGso => raw_udp_bps(settings.raw_duration(), send_gso_datagrams),
            Contender::LinuxTcp => tcp_bulk_bps(settings.bytes),
        }
    }
}

struct Settings {
    bytes: usize,
    rounds: usize,
    setups: Vec<String>,
    /// The contenders raced, in [`CONTENDERS`]' order.
    contenders: Vec<Contender>,
}

impl Settings {
    fn from_environment() -> Settings {
        let number = |name: &str, default: usize| match std::env::var(name) {
            Ok(text) => match text.parse::<usize>() {
                Ok(value) if value > 0 => value,
                _ => panic!("{name} must be a positive whole number, not {text:?}"),
            },
            Err(_) => default,
        };
        let setups: Vec<String> = std::env::var("FERRY_RACE_SETUPS")
            .unwrap_or_else(|_| "loopback,mtu1500".to_string())
            .split(',')
            .map(|setup| setup.trim().to_string())
            .collect();
        for setup in &setups {
            assert!(
                setup == "loopback" || setup == "mtu1500",
                "FERRY_RACE_SETUPS names loopback and mtu1500, not {setup:?}"
            );
        }
        let contenders = match std::env::var("FERRY_RACE_CONTENDERS") {
            Err(_) => CONTENDERS.to_vec(),
            Ok(names) => {
                let named: Vec<Contender> = names
                    .split(',')
                    .map(|name| {
                        Contender::from_name(name.trim()).unwrap_or_else(|| {
                            panic!("FERRY_RACE_CONTENDERS names contenders, not {name:?}")
                        })
                    })
                    .collect();
                CONTENDERS
                    .into_iter()
                    .filter(|contender| named.contains(contender))
                    .collect()
            }
        };
        Settings {
            bytes: number("FERRY_RACE_MIB", 1024) << 20,
            rounds: number("FERRY_RACE_ROUNDS", 3),
            setups,
            contenders,
        }
    }

    /// How long raw UDP is counted: 3 s for 1 GiB, down to 0.5 s for smaller races.
    fn raw_duration(&self) -> Duration {
        let seconds = 3.0 * self.bytes as f64 / (1u64 << 30) as f64;
        Duration::from_secs_f64(seconds.clamp(0.5, 3.0))
    }
}

/// The GSO raw-UDP sender: `UDP_SEGMENT` set to [`DATAGRAM`], then `GSO_SEGMENTS` datagrams'
/// worth per `send_to`, which the kernel cuts into datagrams of that size, until `stop`.
fn send_gso_datagrams(socket: UdpSocket, target: SocketAddr, stop: &AtomicBool) {
    setsockopt(&socket, UdpGsoSegment, &(DATAGRAM as i32)).expect("UDP_SEGMENT (GSO)");
    let run = vec![0u8; DATAGRAM * GSO_SEGMENTS];
    while !stop.load(Ordering::Relaxed) {
        let _ = socket.send_to(&run, target);
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Goodput of one quinn connection over loopback moving `bytes` (a multiple of 64 KiB) on one
/// unidirectional stream, with segmentation offload on or off, in bits per second: from just
/// before the client's endpoint is made to the server's last read.
fn quinn_bulk_bps(bytes: usize, segmentation_offload: bool) -> f64 {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certificate: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let mut transport = quinn::TransportConfig::default();
    transport.enable_segmentation_offload(segmentation_offload);
    let transport = Arc::new(transport);
    let mut server_config =
        quinn::ServerConfig::with_single_cert(vec![certificate.clone()], key).unwrap();
    server_config.transport_config(Arc::clone(&transport));
    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(certificate).unwrap();
    let mut client_config = quinn::ClientConfig::with_root_certificates(Arc::new(roots)).unwrap();
    client_config.transport_config(transport);

    let (address_sender, address) = mpsc::channel();
    let receiving = thread::spawn(move || {
        current_thread_runtime().block_on(async move {
            let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let endpoint = quinn::Endpoint::server(server_config, local).unwrap();
            address_sender.send(endpoint.local_addr().unwrap()).unwrap();
            let received = tokio::time::timeout(QUINN_LIMIT, async {
                let connection = endpoint.accept().await.unwrap().await.unwrap();
                let mut stream = connection.accept_uni().await.unwrap();
                let mut buffer = vec![0u8; 1 << 16];
                let mut received = 0usize;
                while let Some(count) = stream.read(&mut buffer).await.unwrap() {
                    received += count;
                }
                let finished = now();
                // The client waits for this close: its receipt that every byte arrived.
                connection.close(0u32.into(), b"done");
                (received, finished)
            })
            .await
            .expect("the quinn server timed out");
            endpoint.wait_idle().await;
            received
        })
    });
    let address = address.recv_timeout(QUINN_LIMIT).unwrap();
    let chunk = vec![0x5au8; 1 << 16];
    let started = now();
    current_thread_runtime().block_on(async {
        tokio::time::timeout(QUINN_LIMIT, async {
            let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let mut endpoint = quinn::Endpoint::client(local).unwrap();
            endpoint.set_default_client_config(client_config);
            let connection = endpoint
                .connect(address, "localhost")
                .unwrap()
                .await
                .unwrap();
            let mut stream = connection.open_uni().await.unwrap();
            for _ in 0..bytes / chunk.len() {
                stream.write_all(&chunk).await.unwrap();
            }
            stream.finish().unwrap();
            connection.closed().await;
        })
        .await
        .expect("the quinn client timed out");
    });
    let (received, finished) = receiving.join().unwrap();
    assert_eq!(received, bytes);
    received as f64 * 8.0 / (finished - started).as_secs_f64()
}

/// Goodput of one `ferry::tokio::Stream` over loopback moving `bytes` (a multiple of 64 KiB)
/// into a `ferry::tokio::Listener`'s stream, each end on a current-thread runtime of its own
/// thread, in bits per second: from just before the connection to the receiver's last read.
fn ferry_tokio_bulk_bps(bytes: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (address_sender, address) = mpsc::channel();
    let receiving = thread::spawn(move || {
        current_thread_runtime().block_on(async move {
            let listener = ferry::tokio::Listener::bind("127.0.0.1:0").await.unwrap();
            address_sender.send(listener.local_addr().unwrap()).unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 1 << 16];
            let mut received = 0usize;
            loop {
                match stream.read(&mut buffer).await.unwrap() {
                    0 => break (received, now()),
                    count => received += count,
                }
            }
        })
    });
    let address = address.recv_timeout(QUINN_LIMIT).unwrap();
    let chunk = vec![0x5au8; 1 << 16];
    let started = now();
    current_thread_runtime().block_on(async {
        let mut stream = ferry::tokio::Stream::connect(address).await.unwrap();
        for _ in 0..bytes / chunk.len() {
            stream.write_all(&chunk).await.unwrap();
        }
        stream.shutdown().await.unwrap();
    });
    let (received, finished) = receiving.join().unwrap();
    assert_eq!(received, bytes);
    received as f64 * 8.0 / (finished - started).as_secs_f64()
}

/// The release build's `ferry` command, built for the CLI contender once per run: it sits
/// beside this bench's own executable's directory (target/release/deps/race-...). Or the one
/// `FERRY_RACE_FERRY` names, as it is.
fn ferry_command() -> std::path::PathBuf {
    if let Some(ferry) = std::env::var_os("FERRY_RACE_FERRY") {
        return ferry.into();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "-p",
            "ferry-cli",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo build -p ferry-cli");
    assert!(built.success(), "cargo build -p ferry-cli failed: {built}");
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|release| release.join("ferry"))
        .filter(|ferry| ferry.exists())
        .expect("target/release/ferry beside the bench")
}

/// The file the CLI contender sends: `bytes` of one pattern in the temporary directory, made
/// once per run and size.
fn cli_source(bytes: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ferry-race-{}-{bytes}", std::process::id()));
    if std::fs::metadata(&path)
        .map(|meta| meta.len() as usize)
        .ok()
        != Some(bytes)
    {
        let chunk = vec![0x5au8; 1 << 16];
        let mut file = std::fs::File::create(&path).unwrap();
        for _ in 0..bytes / chunk.len() {
            std::io::Write::write_all(&mut file, &chunk).unwrap();
        }
    }
    path
}

/// Remove the files [`cli_source`] made in this process.
fn remove_cli_sources() {
    let prefix = format!("ferry-race-{}-", std::process::id());
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// One transfer through the command line: `ferry recv --once --stats json --output /dev/null`
/// and `ferry send ADDRESS FILE`, two child processes; the goodput the receiver reports and the
/// children's CPU time (their user and system time, reaped by `wait`) per GiB.
fn cli_bulk(bytes: usize) -> Figure {
    use std::io::BufRead;
    static FERRY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let ferry = FERRY.get_or_init(ferry_command);
    let source = cli_source(bytes);
    let cpu_before = children_cpu_seconds();
    let mut receiver = Command::new(ferry)
        .args([
            "recv",
            "--once",
            "--stats",
            "json",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--output", "/dev/null"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry recv");
    // `ferry recv` names the port it took on stderr: "... listening on ADDRESS".
    let mut errors = std::io::BufReader::new(receiver.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            errors.read_line(&mut line).unwrap() > 0,
            "ferry recv ended before it listened"
        );
        if let Some((_, address)) = line.trim_end().split_once("listening on ") {
            break address.to_string();
        }
    };
    let sent = Command::new(ferry)
        .args(["send", "--stats", "json", &address])
        .arg(&source)
        .stdout(Stdio::null())
        .status()
        .expect("ferry send");
    assert!(sent.success(), "ferry send failed: {sent}");
    let output = receiver.wait_with_output().expect("ferry recv");
    assert!(
        output.status.success(),
        "ferry recv failed: {}",
        output.status
    );
    let report = String::from_utf8_lossy(&output.stdout);
    let goodput = json_number(&report, "goodput_bps").expect("goodput_bps in ferry recv's report");
    let received = json_number(&report, "bytes_delivered").unwrap_or(0.0);
    assert_eq!(received as usize, bytes, "ferry recv got {received} bytes");
    let cpu = children_cpu_seconds() - cpu_before;
    Figure {
        bps: goodput,
        cpu_per_gib: cpu / (bytes as f64 / GIB),
    }
}

/// The first number after `"key":` in a JSON report (the reports are flat enough for this).
fn json_number(report: &str, key: &str) -> Option<f64> {
    let at = report.find(&format!("\"{key}\":"))? + key.len() + 3;
    let text: String = report[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))
        .collect();
    text.parse().ok()
}

const GIB: f64 = (1u64 << 30) as f64;

/// One transfer's figures.
#[derive(Clone, Copy, Debug)]
struct Figure {
    /// Goodput, bits per second.
    bps: f64,
    /// CPU seconds of this process (user and system, every thread) per GiB delivered.
    cpu_per_gib: f64,
}

/// Figures by contender, one per round.
type Results = BTreeMap<Contender, Vec<Figure>>;

/// One transfer of `contender` in a child process of this bench with the environment
/// variable `setting` (the child inherits the rest, the settings and the namespace included).
fn race_in_child(contender: Contender, setting: (&str, &str)) -> Figure {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(ONE, contender.name())
        .env(setting.0, setting.1)
        .stderr(Stdio::inherit())
        .output()
        .expect("the bench as a child");
    assert!(
        output.status.success(),
        "the child failed: {}",
        output.status
    );
    let results = parse_results(&output.stdout);
    results[&contender][0]
}

/// The `result CONTENDER BPS CPU_PER_GIB` lines of a child's output.
fn parse_results(output: &[u8]) -> Results {
    let mut results = Results::new();
    for line in String::from_utf8_lossy(output).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let ["result", name, bps, cpu_per_gib] = fields[..] {
            let contender = Contender::from_name(name).expect("a contender's name");
            results.entry(contender).or_default().push(Figure {
                bps: bps.parse().unwrap(),
                cpu_per_gib: cpu_per_gib.parse().unwrap(),
            });
        }
    }
    results
}

/// `settings.rounds` rounds of every contender in turn, here; each transfer's figure goes
/// to `report` as it is measured.
fn race_here(settings: &Settings, setup: &str, mut report: impl FnMut(Contender, Figure)) {
    for round in 1..=settings.rounds {
        for &contender in &settings.contenders {
            let figure = contender.race(settings);
            eprintln!(
                "{setup} round {round}: {:<18} {:6.2} Gbit/s, {:5.2} CPU s/GiB",
                contender.name(),
                figure.bps / 1e9,
                figure.cpu_per_gib
            );
            report(contender, figure);
        }
    }
}

const NAMESPACE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/mtu1500-namespace");

/// A network namespace that benches/mtu1500-namespace made, removed when dropped (a panic
/// included).
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new(NAMESPACE_SCRIPT)
            .args(["del", &self.0])
            .status();
    }
}

/// The `mtu1500` setup: a namespace made by benches/mtu1500-namespace, this bench run again
/// inside it, its `result` lines read back. None when this machine cannot make one.
fn race_in_namespace(settings: &Settings) -> Option<Results> {
    let namespace = Namespace(format!("ferry-race-{}", std::process::id()));
    let made = Command::new(NAMESPACE_SCRIPT)
        .args(["add", &namespace.0])
        .status()
        .expect("benches/mtu1500-namespace");
    match made.code() {
        Some(0) => {}
        Some(2) => {
            std::mem::forget(namespace);
            return None;
        }
        _ => panic!("benches/mtu1500-namespace add failed: {made}"),
    }
    let exe = std::env::current_exe().unwrap();
    // ip lives in sbin, which a root shell reached through sudo or su may lack.
    let path = std::env::var("PATH").unwrap_or_default() + ":/usr/sbin:/sbin";
    let output = Command::new("timeout")
        .env("PATH", path)
        .arg(INSIDE_LIMIT_SECONDS.to_string())
        .args(["ip", "netns", "exec", &namespace.0])
        .arg(exe)
        .env(INSIDE, "1")
        .env("FERRY_RACE_MIB", (settings.bytes >> 20).to_string())
        .env("FERRY_RACE_ROUNDS", settings.rounds.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("ip netns exec");
    drop(namespace);
    assert!(
        output.status.success(),
        "the race in the namespace failed: {}",
        output.status
    );
    Some(parse_results(&output.stdout))
}

/// The median of one contender's goodputs, and of its CPU seconds per GiB.
fn medians(results: &Results, contender: Contender) -> Option<(f64, f64)> {
    let figures = results.get(&contender)?;
    Some((
        median(figures.iter().map(|figure| figure.bps).collect()),
        median(figures.iter().map(|figure| figure.cpu_per_gib).collect()),
    ))
}

fn table(setups: &[(String, Results)], settings: &Settings) {
    println!();
    println!(
        "| setup | contender | Gbit/s median | min | max | / Ferry plain | / Linux TCP \
         | CPU s per GiB, median |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (setup, results) in setups {
        let goodput_of = |contender| medians(results, contender).map(|(bps, _)| bps);
        let (ferry, tcp) = (
            goodput_of(Contender::FerryPlain),
            goodput_of(Contender::LinuxTcp),
        );
        for (&contender, figures) in results {
            let (middle, cpu_per_gib) = medians(results, contender).unwrap();
            let goodputs = figures.iter().map(|figure| figure.bps);
            let least = goodputs.clone().fold(f64::INFINITY, f64::min);
            let most = goodputs.fold(0.0, f64::max);
            let ratio = |reference: Option<f64>| {
                reference.map_or("-".to_string(), |reference| {
                    format!("{:.2}", middle / reference)
                })
            };
            println!(
                "| {setup} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} |",
                contender.label(),
                middle / 1e9,
                least / 1e9,
                most / 1e9,
                ratio(ferry),
                ratio(tcp),
                cpu_per_gib
            );
        }
    }
    println!();
    println!(
        "{} MiB per bulk transfer, raw UDP counted for {:.1} s, {} rounds, medians; loopback: \
         127.0.0.1 as it comes; mtu1500: lo at MTU 1500, offloads off, in a namespace. CPU: \
         user and system time of the process (both ends) per GiB delivered.",
        settings.bytes >> 20,
        settings.raw_duration().as_secs_f64(),
        settings.rounds
    );
    for (setup, results) in setups {
        let median_of = |contender| medians(results, contender).map(|(bps, _)| bps);
        let pairs = [
            (
                "ferry_plain_over_quinn_gso",
                Contender::FerryPlain,
                Contender::QuinnGso,
            ),
            (
                "ferry_no_gso_over_quinn_no_gso",
                Contender::FerryNoGso,
                Contender::QuinnNoGso,
            ),
            (
                "ferry_plain_over_linux_tcp",
                Contender::FerryPlain,
                Contender::LinuxTcp,
            ),
            (
                "ferry_secure_over_quinn_gso",
                Contender::FerrySecure,
                Contender::QuinnGso,
            ),
            (
                "ferry_secure_over_quinn_no_gso",
                Contender::FerrySecure,
                Contender::QuinnNoGso,
            ),
            (
                "ferry_secure_over_ferry_plain",
                Contender::FerrySecure,
                Contender::FerryPlain,
            ),
            (
                "ferry_tokio_over_ferry_plain",
                Contender::FerryTokio,
                Contender::FerryPlain,
            ),
            (
                "ferry_cli_over_ferry_plain",
                Contender::FerryCli,
                Contender::FerryPlain,
            ),
        ];
        let mut line = format!("setup={setup}");
        for contender in CONTENDERS {
            if let Some(bps) = median_of(contender) {
                line += &format!(" {}_bps={bps:.0}", contender.name().replace('-', "_"));
            }
        }
        for (name, over, under) in pairs {
            if let (Some(over), Some(under)) = (median_of(over), median_of(under)) {
                line += &format!(" {name}={:.3}", over / under);
            }
        }
        println!("{line}");
    }
}

/// The line a child prints for its parent: `result CONTENDER BPS CPU_PER_GIB`.
fn print_result(contender: Contender, figure: Figure) {
    println!(
        "result {} {:.0} {:.4}",
        contender.name(),
        figure.bps,
        figure.cpu_per_gib
    );
}

fn main() {
    let settings = Settings::from_environment();
    if let Ok(name) = std::env::var(ONE) {
        let contender = Contender::from_name(&name).expect("FERRY_RACE_ONE names a contender");
        print_result(contender, contender.race(&settings));
        return;
    }
    if std::env::var_os(INSIDE).is_some() {
        race_here(&settings, "mtu1500", |contender, figure| {
            print_result(contender, figure)
        });
        remove_cli_sources();
        return;
    }
    eprintln!(
        "the race: {} MiB, {} rounds, setups {}; {} cores, Linux {}",
        settings.bytes >> 20,
        settings.rounds,
        settings.setups.join(","),
        thread::available_parallelism().map_or(0, |cores| cores.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let mut setups = Vec::new();
    for setup in settings.setups.clone() {
        if setup == "loopback" {
            let mut results = Results::new();
            race_here(&settings, "loopback", |contender, figure| {
                results.entry(contender).or_default().push(figure)
            });
            setups.push((setup, results));
        } else {
            match race_in_namespace(&settings) {
                Some(results) => setups.push((setup, results)),
                None => eprintln!(
                    "*** the mtu1500 setup was SKIPPED: no network namespace here (it needs root) ***"
                ),
            }
        }
    }
    remove_cli_sources();
    table(&setups, &settings);
}
