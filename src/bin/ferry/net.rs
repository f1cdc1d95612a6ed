//! `ferry recv`, `ferry send` and `ferry cat`: Ferry over real UDP sockets.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use ferry::capture::View;
use ferry::fault::FaultConfig;
use ferry::{Listener, SocketConfig, Stream};

use crate::args::{faults_arg, StatsFormat};

/// Options every networked subcommand takes.
#[derive(clap::Args)]
pub struct NetOptions {
    /// Faults on everything this host's socket sends and receives, e.g. loss=5%,flip=1e-5
    /// (docs/faults.md lists every key).
    #[arg(long, value_parser = faults_arg, default_value = "none")]
    faults: FaultConfig,
    /// Print the connection's figures when it ends: a readable summary on stderr, or one JSON
    /// object (on stdout, or on stderr when the data itself goes to stdout).
    #[arg(long, value_enum)]
    stats: Option<StatsFormat>,
    /// Record what this host sends and receives to this pcapng file (open it in Wireshark
    /// with captures/ferry.lua).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write the capture with each segment as the TCP segment it stands for, so Wireshark's
    /// TCP analysis judges it.
    #[arg(long, requires = "pcap")]
    tcp_view: bool,
}

impl NetOptions {
    fn socket_config(&self) -> SocketConfig {
        SocketConfig {
            capture: self.pcap.clone(),
            capture_view: if self.tcp_view {
                View::Tcp
            } else {
                View::Ferry
            },
            ..SocketConfig::with_faults(self.faults.clone())
        }
    }
}

/// `ferry recv`.
#[derive(clap::Args)]
pub struct RecvArgs {
    /// The address to listen on, e.g. 0.0.0.0:4747 (port 0 picks one; it is printed).
    #[arg(long)]
    listen: SocketAddr,
    /// Write what arrives here instead of stdout (transfers after the first are appended).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Exit after one transfer.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    options: NetOptions,
}

/// `ferry send`.
#[derive(clap::Args)]
pub struct SendArgs {
    /// Where `ferry recv` listens.
    address: SocketAddr,
    /// The file to send; stdin when absent.
    file: Option<PathBuf>,
    #[command(flatten)]
    options: NetOptions,
}

/// `ferry cat`.
#[derive(clap::Args)]
pub struct CatArgs {
    /// The address to connect to (netcat style: stdin goes there, what comes back goes to
    /// stdout).
    #[arg(required_unless_present = "listen", conflicts_with = "listen")]
    address: Option<SocketAddr>,
    /// Listen on this address instead, for one connection.
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    options: NetOptions,
}

/// A one-line error and a failing exit status.
fn fail(command: &str, what: impl std::fmt::Display) -> ExitCode {
    eprintln!("ferry {command}: {what}");
    ExitCode::FAILURE
}

/// `io::Error`s as a person reads them: "connection refused", not "Os { code: 111 ... }".
fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::ConnectionRefused => "connection refused (nothing listens there)".into(),
        io::ErrorKind::TimedOut => "timed out: the peer stopped answering".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by the peer".to_string(),
        _ => error.to_string(),
    }
}

pub fn recv(args: RecvArgs) -> ExitCode {
    let listener = match Listener::bind_with(args.listen, &args.options.socket_config()) {
        Ok(listener) => listener,
        Err(error) => {
            return fail(
                "recv",
                format!("cannot listen on {}: {}", args.listen, describe(&error)),
            )
        }
    };
    match listener.local_addr() {
        Ok(address) => eprintln!("ferry recv: listening on {address}"),
        Err(error) => return fail("recv", describe(&error)),
    }
    let mut first = true;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => return fail("recv", describe(&error)),
        };
        let output: Box<dyn Write> = match &args.output {
            None => Box::new(io::stdout().lock()),
            Some(path) => match open_output(path, first) {
                Ok(file) => Box::new(file),
                Err(error) => {
                    return fail("recv", format!("cannot write {}: {error}", path.display()))
                }
            },
        };
        first = false;
        let started = crate::wall_clock();
        let result = receive_all(stream, output);
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok((received, stream)) => {
                let data_on_stdout = args.output.is_none();
                report(&args.options, &stream, 0, received, seconds, data_on_stdout);
                // Everything arrived; all that is left is our FIN. If the sender never
                // acknowledges it, it has gone without waiting: say so, but the transfer
                // itself is complete.
                if let Err(error) = stream.close() {
                    eprintln!(
                        "ferry recv: warning: {peer} did not acknowledge the end of the \
                         transfer: {}",
                        describe(&error)
                    );
                }
            }
            Err(error) => {
                eprintln!(
                    "ferry recv: transfer from {peer} failed: {}",
                    describe(&error)
                );
                if args.once {
                    return ExitCode::FAILURE;
                }
            }
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
    }
}

fn open_output(path: &Path, first: bool) -> io::Result<File> {
    if first {
        File::create(path)
    } else {
        OpenOptions::new().append(true).open(path)
    }
}

/// Copy the stream to `output` until the sender finishes. Our FIN, which the caller's close
/// sends, then tells the sender everything arrived.
fn receive_all(mut stream: Stream, mut output: Box<dyn Write>) -> io::Result<(u64, Stream)> {
    let received = copy_with_progress(&mut stream, &mut output, None)?;
    output.flush()?;
    Ok((received, stream))
}

pub fn send(args: SendArgs) -> ExitCode {
    let (mut input, total): (Box<dyn Read>, Option<u64>) = match &args.file {
        None => (Box::new(io::stdin().lock()), None),
        Some(path) => match File::open(path) {
            Ok(file) => {
                let total = file.metadata().ok().map(|metadata| metadata.len());
                (Box::new(file), total)
            }
            Err(error) => return fail("send", format!("cannot read {}: {error}", path.display())),
        },
    };
    let mut stream = match Stream::connect_with(args.address, &args.options.socket_config(), None) {
        Ok(stream) => stream,
        Err(error) => {
            return fail(
                "send",
                format!("cannot connect to {}: {}", args.address, describe(&error)),
            )
        }
    };
    let started = crate::wall_clock();
    let result = (|| -> io::Result<u64> {
        let sent = copy_with_progress(&mut input, &mut stream, total)?;
        stream.shutdown(Shutdown::Write)?;
        // The receiver closes once it has everything: its end of stream is our receipt.
        io::copy(&mut stream, &mut io::sink())?;
        Ok(sent)
    })();
    let seconds = started.elapsed().as_secs_f64();
    if let Ok(sent) = result {
        report(&args.options, &stream, sent, 0, seconds, false);
    }
    // The receiver's FIN came after all our data: closing only acknowledges it. Returning
    // from `main` then waits, briefly, in case that acknowledgment is lost and the FIN
    // comes again (see `ferry::net`).
    match result.and_then(|_| stream.close()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(
            "send",
            format!("transfer to {} failed: {}", args.address, describe(&error)),
        ),
    }
}

pub fn cat(args: CatArgs) -> ExitCode {
    let config = args.options.socket_config();
    let stream = match (args.address, args.listen) {
        (Some(address), _) => Stream::connect_with(address, &config, None)
            .map_err(|error| format!("cannot connect to {address}: {}", describe(&error))),
        (None, Some(listen)) => Listener::bind_with(listen, &config)
            .map_err(|error| format!("cannot listen on {listen}: {}", describe(&error)))
            .and_then(|listener| {
                if let Ok(address) = listener.local_addr() {
                    eprintln!("ferry cat: listening on {address}");
                }
                listener
                    .accept()
                    .map(|(stream, _)| stream)
                    .map_err(|error| describe(&error))
            }),
        (None, None) => Err("give an address, or --listen ADDRESS".to_string()),
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(message) => return fail("cat", message),
    };
    let started = crate::wall_clock();
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(error) => return fail("cat", describe(&error)),
    };
    // stdin to the peer on a thread of its own; the peer to stdout here.
    let sending = thread::spawn(move || -> io::Result<u64> {
        let sent = io::copy(&mut io::stdin().lock(), &mut writer)?;
        // Our FIN after the data, and the peer's acknowledgment of both.
        writer.close()?;
        Ok(sent)
    });
    let received = io::copy(&mut stream, &mut io::stdout().lock());
    let received = match received.and_then(|received| io::stdout().flush().map(|()| received)) {
        Ok(received) => received,
        Err(error) => return fail("cat", describe(&error)),
    };
    // The peer is done. Our stdin may not be: a file or a pipe is sent to its end, but a
    // terminal may never end, and what is typed after the peer left has nobody to read it.
    let sent = if sending.is_finished() || !io::stdin().is_terminal() {
        match sending.join() {
            Ok(Ok(sent)) => sent,
            Ok(Err(error)) => return fail("cat", describe(&error)),
            Err(_) => return fail("cat", "the sending thread failed"),
        }
    } else {
        0
    };
    let seconds = started.elapsed().as_secs_f64();
    report(&args.options, &stream, sent, received, seconds, true);
    // With the sending thread done, this is the last handle: the close ends the connection
    // (with a terminal still open, it waits for what was typed to be acknowledged).
    match stream.close() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail("cat", describe(&error)),
    }
}

/// Copy `input` to `output`, with a progress bar on stderr when it is a terminal.
fn copy_with_progress(
    input: &mut dyn Read,
    output: &mut dyn Write,
    total: Option<u64>,
) -> io::Result<u64> {
    let progress = io::stderr().is_terminal().then(|| match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    });
    let mut buffer = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let count = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        output.write_all(&buffer[..count])?;
        copied += count as u64;
        if let Some(bar) = &progress {
            bar.set_position(copied);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(copied)
}

/// The connection's figures, as `--stats` asks; the same keys as `ferry sim` where they
/// apply, with `seconds` of wall time.
fn report(
    options: &NetOptions,
    stream: &Stream,
    bytes_sent: u64,
    bytes_delivered: u64,
    seconds: f64,
    data_on_stdout: bool,
) {
    let Some(format) = options.stats else {
        return;
    };
    let stats = stream.stats();
    let faults = stream.fault_stats();
    let fault_count = |field: fn(&ferry::fault::FaultStats) -> u64| {
        faults.map_or(0, |(sent, received)| field(&sent) + field(&received))
    };
    let bytes = bytes_sent.max(bytes_delivered);
    let goodput_bps = if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    };
    match format {
        StatsFormat::Json => {
            let object = json!({
                "peer": stream.peer_addr().ok().map(|address| address.to_string()),
                "bytes_sent": bytes_sent,
                "bytes_delivered": bytes_delivered,
                "seconds": seconds,
                "goodput_bps": goodput_bps,
                "segments_sent": stats.segments_sent,
                "segments_received": stats.segments_received,
                "retransmissions": {
                    "rto": stats.retransmissions.rto,
                    "fast": stats.retransmissions.fast,
                    "sack": stats.retransmissions.sack,
                    "rack": stats.retransmissions.rack,
                    "tlp": stats.retransmissions.tlp,
                    "total": stats.retransmissions.total(),
                },
                "tail_loss_probes": stats.tail_loss_probes,
                "spurious_retransmissions": stats.spurious_retransmissions,
                "spurious_timeouts": stats.spurious_timeouts,
                "dsack_received": stats.dsack_received,
                "bytes_retransmitted": stats.bytes_retransmitted,
                "rto_timeouts": stats.rto_timeouts,
                "duplicate_acks": stats.duplicate_acks,
                "faults": {
                    "dropped": fault_count(|f| f.dropped),
                    "corrupted": fault_count(|f| f.corrupted),
                    "duplicated": fault_count(|f| f.duplicated),
                    "reordered": fault_count(|f| f.reordered),
                },
                "discarded_corrupt": stats.discarded_corrupt,
                "srtt_ms": stats.smoothed_rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
                "cwnd": stats.congestion_window,
                "state": stats.state.to_string(),
            });
            if data_on_stdout {
                eprintln!("{object}");
            } else {
                println!("{object}");
            }
        }
        StatsFormat::Text => eprintln!(
            "ferry: {} bytes sent, {} received in {seconds:.3} s ({:.3} Mbit/s); {} segments, \
             {} retransmitted ({} RTO, {} fast, {} SACK, {} RACK, {} TLP); {} datagrams with a bad CRC; \
             SRTT {}; state {}",
            bytes_sent,
            bytes_delivered,
            goodput_bps / 1e6,
            stats.segments_sent,
            stats.retransmissions.total(),
            stats.retransmissions.rto,
            stats.retransmissions.fast,
            stats.retransmissions.sack,
            stats.retransmissions.rack,
            stats.retransmissions.tlp,
            stats.discarded_corrupt,
            stats
                .smoothed_rtt
                .map_or("none".to_string(), |rtt| format!("{rtt:?}")),
            stats.state,
        ),
    }
}
