//! `ferry sim --first-byte KIND`: the lecture's comparison of time to first byte (issue 21
//! item 5, docs/performance.md). A sends a request to B over the simulated link and B answers
//! it; the run prints when A's application read the response's first byte, counted from its
//! connect, for plain Ferry, TLS 1.2 and TLS 1.3 over a plain Ferry connection (as TCP+TLS,
//! by rustls), and Ferry's secure mode with its 1-RTT and 0-RTT handshakes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use serde_json::{json, Value};

use ferry::capture::View;
use ferry::sim::{
    first_byte_with, Application, Captures, FirstByteReport, NetworkConfig, Observed, Observers,
    Opening, PlainClient, PlainServer,
};

use crate::args::StatsFormat;
use crate::sim::LadderRequest;

/// The request A sends: an HTTP request line, short enough for a 0-RTT SYN.
const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: ferry.test\r\n\r\n";
/// B's answer.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
/// The name in the server's certificate, which the client checks.
const SERVER_NAME: &str = "ferry.test";

/// What runs over the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FirstByteKind {
    /// Plain Ferry: the handshake, then the request.
    Plain,
    /// TLS 1.2 (rustls) over a plain Ferry connection.
    Tls12,
    /// TLS 1.3 (rustls) over a plain Ferry connection.
    Tls13,
    /// Ferry's secure mode, its 1-RTT handshake (Noise NX).
    Secure,
    /// Ferry's secure mode with the request in the SYN (0-RTT, Noise NK).
    #[value(name = "0rtt")]
    ZeroRtt,
    /// Each of the above, one line each.
    All,
}

impl FirstByteKind {
    fn name(self) -> &'static str {
        match self {
            FirstByteKind::Plain => "plain",
            FirstByteKind::Tls12 => "tls12",
            FirstByteKind::Tls13 => "tls13",
            FirstByteKind::Secure => "secure",
            FirstByteKind::ZeroRtt => "0rtt",
            FirstByteKind::All => "all",
        }
    }
}

const EACH: [FirstByteKind; 5] = [
    FirstByteKind::Plain,
    FirstByteKind::Tls12,
    FirstByteKind::Tls13,
    FirstByteKind::Secure,
    FirstByteKind::ZeroRtt,
];

/// What a first-byte run writes beside its report: captures, the ladder, the trace.
#[derive(Default)]
pub struct Outputs<'a> {
    /// `--pcap PREFIX`: each run's captures, PREFIX-KIND-a.pcapng and PREFIX-KIND-b.pcapng.
    pub pcap: Option<&'a Path>,
    /// `--ladder FILE`: each run's ladder, to FILE (FILE-KIND.svg, say, for `all`).
    pub ladder: Option<&'a LadderRequest>,
    /// `--trace PREFIX`: each run's qlog traces, PREFIX-KIND-a.sqlog and PREFIX-KIND-b.sqlog.
    pub trace: Option<&'a Path>,
}

/// Run `kind` (or each kind) over `network` and print what it took, writing what `outputs`
/// asks for; exit 1 if a request got no response, 2 if a file cannot be written.
pub fn run(
    network: &NetworkConfig,
    kind: FirstByteKind,
    stats: StatsFormat,
    outputs: &Outputs,
) -> ExitCode {
    let rows = match measure(network, kind, outputs) {
        Ok(rows) => rows,
        Err((status, message)) => {
            eprintln!("ferry sim: {message}");
            return ExitCode::from(status);
        }
    };
    // With `all`, each run's files name its kind.
    let named = rows.len() > 1;
    for (kind, _, observed) in &rows {
        if let Err(code) = write_observed(network, *kind, named, outputs, observed) {
            return code;
        }
    }
    let rows: Vec<(FirstByteKind, FirstByteReport)> = rows
        .into_iter()
        .map(|(kind, report, _)| (kind, report))
        .collect();
    match stats {
        StatsFormat::Json => println!("{}", json_report(network, &rows)),
        StatsFormat::Text => {
            for (kind, report) in &rows {
                let trips = round_trips(network, report)
                    .map(|trips| format!("  round_trips {trips:.2}"))
                    .unwrap_or_default();
                println!(
                    "{:<7} first_byte_seconds {:.4}  request_read_seconds {:.4}{trips}",
                    kind.name(),
                    report.first_byte.as_secs_f64(),
                    report.request_read.as_secs_f64(),
                );
            }
        }
    }
    ExitCode::SUCCESS
}

/// The runs `--first-byte` prints, as `--stats json` prints them (`ferry lab` measures
/// this): the round trip and, for each kind, its times and round trips.
pub fn report(network: &NetworkConfig, kind: FirstByteKind) -> Result<Value, String> {
    let rows = measure(network, kind, &Outputs::default()).map_err(|(_, message)| message)?;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(kind, report, _)| (kind, report))
        .collect();
    Ok(json_report(network, &rows))
}

/// Write what `kind`'s run recorded: its ladder to each `--ladder` file (with `-KIND` before
/// the extension when `named`, for `all`), its traces to PREFIX-KIND-a.sqlog and
/// PREFIX-KIND-b.sqlog.
fn write_observed(
    network: &NetworkConfig,
    kind: FirstByteKind,
    named: bool,
    outputs: &Outputs,
    observed: &Observed,
) -> Result<(), ExitCode> {
    let title = format!(
        "ferry sim --first-byte {}: A's request and B's response, {:?} RTT, seed {}",
        kind.name(),
        network.a_to_b.delay + network.b_to_a.delay,
        network.seed
    );
    if let (Some(request), Some(ladder)) = (outputs.ladder, &observed.ladder) {
        let files: Vec<PathBuf> = request
            .files
            .iter()
            .map(|file| match named {
                true => kind_file(file, kind),
                false => file.clone(),
            })
            .collect();
        crate::sim::write_ladders(&files, ladder, &title)?;
    }
    if let (Some(prefix), Some(events)) = (outputs.trace, &observed.events) {
        let path =
            |host: &str| crate::sim::prefixed(prefix, &format!("-{}-{host}.sqlog", kind.name()));
        crate::qlog::write_two_host_traces(path, &title, events)?;
    }
    Ok(())
}

/// `file` with `-KIND` before its extension: `hs.svg` and plain make `hs-plain.svg`.
fn kind_file(file: &Path, kind: FirstByteKind) -> PathBuf {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let extension = file.extension().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!("{stem}-{}.{extension}", kind.name()))
}

/// A kind's run: its report and what it recorded.
type Run = (FirstByteKind, FirstByteReport, Observed);

/// Run `kind` (each kind, for `all`), recording what `outputs` asks for. An error is the
/// exit status and the message.
fn measure(
    network: &NetworkConfig,
    kind: FirstByteKind,
    outputs: &Outputs,
) -> Result<Vec<Run>, (u8, String)> {
    let kinds: Vec<FirstByteKind> = match kind {
        FirstByteKind::All => EACH.to_vec(),
        one => vec![one],
    };
    let mut rows = Vec::new();
    for kind in kinds {
        let captures = match outputs.pcap {
            None => Captures::default(),
            Some(prefix) => {
                let path = |host| capture_path(prefix, kind, host);
                Captures::create(path("a"), path("b"), View::Ferry, 0).map_err(|error| {
                    (
                        2,
                        format!(
                            "cannot write {} or {}: {error}",
                            path("a").display(),
                            path("b").display()
                        ),
                    )
                })?
            }
        };
        let observers = Observers {
            captures,
            ladder: outputs.ladder.map(|request| request.options.clone()),
            events: outputs.trace.is_some(),
            ..Observers::default()
        };
        let (report, observed) = run_one(network, kind, observers)
            .map_err(|error| (1, format!("--first-byte {}: {error}", kind.name())))?;
        rows.push((kind, report, observed));
    }
    Ok(rows)
}

/// The path's round trip, in seconds.
fn rtt_seconds(network: &NetworkConfig) -> f64 {
    (network.a_to_b.delay + network.b_to_a.delay).as_secs_f64()
}

/// How many round trips `report`'s first byte took.
fn round_trips(network: &NetworkConfig, report: &FirstByteReport) -> Option<f64> {
    let rtt = rtt_seconds(network);
    (rtt > 0.0).then(|| report.first_byte.as_secs_f64() / rtt)
}

fn json_report(network: &NetworkConfig, rows: &[(FirstByteKind, FirstByteReport)]) -> Value {
    let runs: Vec<_> = rows
        .iter()
        .map(|(kind, report)| {
            json!({
                "kind": kind.name(),
                "first_byte_seconds": report.first_byte.as_secs_f64(),
                "request_read_seconds": report.request_read.as_secs_f64(),
                "round_trips": round_trips(network, report),
            })
        })
        .collect();
    json!({ "rtt_seconds": rtt_seconds(network), "runs": runs })
}

/// Where `kind`'s capture of `host` ("a" or "b") goes.
pub fn capture_path(prefix: &Path, kind: FirstByteKind, host: &str) -> PathBuf {
    crate::sim::prefixed(prefix, &format!("-{}-{host}.pcapng", kind.name()))
}

/// A client's application and a server's.
type Applications = (Box<dyn Application>, Box<dyn Application>);

/// One kind's run, recording what `observers` asks for.
fn run_one(
    network: &NetworkConfig,
    kind: FirstByteKind,
    observers: Observers,
) -> Result<(FirstByteReport, Observed), String> {
    let mut network = network.clone();
    network.secure = matches!(kind, FirstByteKind::Secure | FirstByteKind::ZeroRtt);
    let opening = if kind == FirstByteKind::ZeroRtt {
        Opening::EarlyData
    } else {
        Opening::Connect
    };
    let (mut client, mut server): Applications = match kind {
        FirstByteKind::Tls12 => tls_pair(&rustls::version::TLS12)?,
        FirstByteKind::Tls13 => tls_pair(&rustls::version::TLS13)?,
        _ => (
            Box::new(PlainClient::new(REQUEST)),
            Box::new(PlainServer::new(REQUEST.len(), RESPONSE)),
        ),
    };
    first_byte_with(
        &network,
        opening,
        client.as_mut(),
        server.as_mut(),
        observers,
    )
    .map_err(|error| error.to_string())
}

/// A TLS client and server of `version`, the server with a fresh self-signed certificate for
/// [`SERVER_NAME`] that the client trusts.
fn tls_pair(version: &'static rustls::SupportedProtocolVersion) -> Result<Applications, String> {
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
        .map_err(|error| format!("cannot make a test certificate: {error}"))?;
    let certificate: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    // ring's provider, not aws-lc-rs's (rustls' default, which wants cmake to build): its
    // deprecation is for lacking post-quantum key exchange, which a round-trip count does
    // not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .map_err(|error| error.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .map_err(|error| error.to_string())?;
    let mut roots = RootCertStore::empty();
    roots.add(certificate).map_err(|error| error.to_string())?;
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(SERVER_NAME).map_err(|error| error.to_string())?;
    let client =
        ClientConnection::new(Arc::new(client_config), name).map_err(|error| error.to_string())?;
    let server =
        ServerConnection::new(Arc::new(server_config)).map_err(|error| error.to_string())?;
    Ok((
        Box::new(TlsClient {
            tls: client,
            request: Some(REQUEST.to_vec()),
            received: false,
            failure: None,
        }),
        Box::new(TlsServer {
            tls: server,
            read: 0,
            response: Some(RESPONSE.to_vec()),
            failure: None,
        }),
    ))
}

/// Feed `received` to `tls` and take what it has to send; a TLS error is kept in `failure`.
fn pump<Data>(
    tls: &mut rustls::ConnectionCommon<Data>,
    received: &[u8],
    failure: &mut Option<String>,
) -> Vec<u8> {
    let mut input = received;
    while !input.is_empty() && failure.is_none() {
        match tls.read_tls(&mut input) {
            Ok(0) => break,
            Ok(_) => {
                if let Err(error) = tls.process_new_packets() {
                    *failure = Some(format!("TLS: {error}"));
                }
            }
            Err(error) => *failure = Some(format!("TLS: {error}")),
        }
    }
    let mut output = Vec::new();
    while tls.wants_write() {
        if tls.write_tls(&mut output).is_err() {
            break;
        }
    }
    output
}

/// Everything `tls` has decrypted for the application.
fn read_plaintext<Data>(tls: &mut rustls::ConnectionCommon<Data>) -> usize {
    let mut buf = [0; 4096];
    let mut total = 0;
    while let Ok(len @ 1..) = tls.reader().read(&mut buf) {
        total += len;
    }
    total
}

/// The TLS client: it writes the request once the handshake is done, as an HTTPS client
/// does, and is finished at the response's first decrypted byte.
struct TlsClient {
    tls: ClientConnection,
    request: Option<Vec<u8>>,
    received: bool,
    failure: Option<String>,
}

impl Application for TlsClient {
    fn exchange(&mut self, received: &[u8]) -> Vec<u8> {
        let mut output = pump(&mut self.tls, received, &mut self.failure);
        if !self.tls.is_handshaking() {
            if let Some(request) = self.request.take() {
                if self.tls.writer().write_all(&request).is_ok() {
                    output.extend(pump(&mut self.tls, &[], &mut self.failure));
                }
            }
        }
        self.received |= read_plaintext(&mut self.tls) > 0;
        output
    }

    fn finished(&self) -> bool {
        self.received
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

/// The TLS server: it answers once it has decrypted the whole request.
struct TlsServer {
    tls: ServerConnection,
    read: usize,
    response: Option<Vec<u8>>,
    failure: Option<String>,
}

impl Application for TlsServer {
    fn exchange(&mut self, received: &[u8]) -> Vec<u8> {
        let mut output = pump(&mut self.tls, received, &mut self.failure);
        self.read += read_plaintext(&mut self.tls);
        if self.finished() {
            if let Some(response) = self.response.take() {
                if self.tls.writer().write_all(&response).is_ok() {
                    output.extend(pump(&mut self.tls, &[], &mut self.failure));
                }
            }
        }
        output
    }

    fn finished(&self) -> bool {
        self.read >= REQUEST.len()
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}
