//! `ferry recv`, `ferry send` and `ferry cat`: Ferry over real UDP sockets.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use ferry::capture::View;
use ferry::fault::FaultConfig;
use ferry::net::TraceSink;
use ferry::{Config, Listener, SocketConfig, Stream};

use ferry::conn::ConnectionError;
use ferry::secure::SecureConfig;

use crate::args::{bytes_arg, duration_arg, faults_arg, SenderOptions, StatsFormat};
use crate::rendezvous::PunchOptions;
use crate::secure::SecureOptions;
use crate::serve::{serve, Limits};

/// `--idle-timeout`: a duration, or none (`off`).
#[derive(Clone, Copy)]
struct IdleTimeout(Option<Duration>);

fn idle_timeout_arg(text: &str) -> Result<IdleTimeout, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(IdleTimeout(None));
    }
    match duration_arg(text)? {
        Duration::ZERO => {
            Err("an idle timeout of 0 would fail at once: give a duration, or off".into())
        }
        timeout => Ok(IdleTimeout(Some(timeout))),
    }
}

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
    #[command(flatten)]
    sender: SenderOptions,
    /// Largest payload per segment, in bytes (TCP's MSS, as `TCP_MAXSEG` sets it): with path
    /// MTU discovery on, the base size segments start at and fall back to; with `--pmtud
    /// off`, every segment's size, and what the SYN offers. Default 1200, a datagram every
    /// path carries. On a path known to carry Ethernet's datagrams, `--mss 1448 --pmtud off`
    /// sends Linux's segment size from the first flight on.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65_000))]
    mss: Option<u64>,
    /// Record what this host sends and receives to this pcapng file (open it in Wireshark
    /// with captures/ferry.lua).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write the capture with each segment as the TCP segment it stands for, so Wireshark's
    /// TCP analysis judges it.
    #[arg(long, requires = "pcap")]
    tcp_view: bool,
    /// With --secure: capture each datagram as it crossed the wire, encrypted, instead of the
    /// plain segment (a comment says what was encrypted and how, either way).
    #[arg(long, requires = "pcap")]
    pcap_ciphertext: bool,
    /// Write every connection's events (segments sent and received, losses, timers, cwnd,
    /// RTT and RTO, state changes) to this file as they happen, as qlog (JSON-SEQ, which qvis
    /// opens): the events `ferry sim --trace` writes.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// The --trace file's sink, once opened.
    #[arg(skip)]
    trace_sink: OnceLock<TraceSink>,
    #[command(flatten)]
    secure: SecureOptions,
}

impl NetOptions {
    /// Open the --trace file, if asked, before anything else: a path that cannot be written
    /// is an error now, not a trace silently missing after the transfer. `vantage` is
    /// `client` or `server`.
    fn open_trace(&self, command: &str, vantage: &str) -> Result<(), String> {
        let Some(path) = &self.trace else {
            return Ok(());
        };
        let sink = crate::qlog::socket_sink(path, &format!("ferry {command}"), vantage)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        let _ = self.trace_sink.set(sink);
        Ok(())
    }

    /// The socket's settings, in the secure mode `secure` if given.
    fn socket_config(&self, secure: Option<SecureConfig>) -> SocketConfig {
        // A seeded fault spec makes a repeatable lab run, initial sequence numbers too; but
        // never in the secure mode, whose ephemeral keys come from the same generator.
        let isn_seed = (self.faults.seed != 0 && secure.is_none()).then_some(self.faults.seed);
        SocketConfig {
            capture: self.pcap.clone(),
            capture_view: if self.tcp_view {
                View::Tcp
            } else {
                View::Ferry
            },
            isn_seed,
            secure,
            capture_ciphertext: self.pcap_ciphertext,
            trace: self.trace_sink.get().cloned(),
            connection: Config {
                mss: self.mss.map_or(Config::default().mss, |mss| {
                    usize::try_from(mss).unwrap_or(usize::MAX)
                }),
                ..self.sender.apply(Config::default())
            },
            ..SocketConfig::with_faults(self.faults.clone())
        }
    }
}

/// `ferry recv`.
#[derive(clap::Args)]
pub struct RecvArgs {
    /// The address to listen on, e.g. 0.0.0.0:4747 (port 0 picks one; it is printed).
    #[arg(
        long,
        required_unless_present = "rendezvous",
        conflicts_with = "rendezvous"
    )]
    listen: Option<SocketAddr>,
    /// Write what arrives here instead of stdout. The file is created (or emptied) at the
    /// start, so a path that cannot be written fails at once; transfers are appended to it.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Accept one connection, receive its transfer and exit. Without it, `ferry recv` serves
    /// connections concurrently and writes each transfer out whole once it is complete.
    #[arg(long)]
    once: bool,
    /// Give up on a sender that sends nothing for this long, e.g. 30s, or off.
    #[arg(long, value_parser = idle_timeout_arg, default_value = "60s")]
    idle_timeout: IdleTimeout,
    /// Transfers received at once, from everyone. A connection beyond it resets the transfer
    /// idle longest, if it has received nothing for a second, so that a client holding
    /// connections without sending cannot lock anybody out; failing that, it takes a place
    /// from the address holding the most, if that holds more than its own would, or is
    /// refused. A transfer being written out is never reset.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,
    /// Transfers received at once from one IP address. A connection beyond it resets that
    /// address's own transfer idle longest, if it has received nothing for a second, or is
    /// refused: one client cannot take every place, nor cut its own moving transfers.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_per_peer: u64,
    /// A transfer is held in memory up to this size, then in a file in the temporary
    /// directory, until it is complete and written out, e.g. 256KiB, 0 for always a file.
    #[arg(long, value_parser = bytes_arg, default_value = "256KiB")]
    spool_above: usize,
    #[command(flatten)]
    punch: PunchOptions,
    #[command(flatten)]
    options: NetOptions,
}

/// `ferry send`.
#[derive(clap::Args)]
pub struct SendArgs {
    /// Where `ferry recv` listens (not with --rendezvous, where the first argument is the
    /// FILE).
    #[arg(value_name = "ADDRESS")]
    first: Option<String>,
    /// The file to send; stdin when absent.
    #[arg(value_name = "FILE")]
    second: Option<PathBuf>,
    /// Give up when the receiver takes nothing for this long (a window that stays closed,
    /// say), e.g. 30s, or off.
    #[arg(long, value_parser = idle_timeout_arg, default_value = "60s")]
    idle_timeout: IdleTimeout,
    #[command(flatten)]
    punch: PunchOptions,
    #[command(flatten)]
    options: NetOptions,
}

impl SendArgs {
    /// The receiver's address (none with --rendezvous) and the file, from the positional
    /// arguments: `ADDRESS [FILE]`, or `[FILE]` with --rendezvous.
    fn target(&self) -> Result<(Option<SocketAddr>, Option<PathBuf>), String> {
        if self.punch.given() {
            if self.second.is_some() {
                return Err(
                    "with --rendezvous, give only the FILE: the peer's address comes \
                            from the rendezvous"
                        .into(),
                );
            }
            return Ok((None, self.first.as_ref().map(PathBuf::from)));
        }
        let Some(first) = &self.first else {
            return Err("give the receiver's ADDRESS, or --rendezvous".into());
        };
        let address = first.parse().map_err(|_| {
            format!("{first:?} is not an address: give IP:PORT, e.g. 192.0.2.7:4747")
        })?;
        Ok((Some(address), self.second.clone()))
    }
}

/// `ferry cat`.
#[derive(clap::Args)]
pub struct CatArgs {
    /// The address to connect to (netcat style: stdin goes there, what comes back goes to
    /// stdout).
    #[arg(required_unless_present_any = ["listen", "rendezvous"], conflicts_with_all = ["listen", "rendezvous"])]
    address: Option<SocketAddr>,
    /// Listen on this address instead, for one connection.
    #[arg(long, conflicts_with = "rendezvous")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    punch: PunchOptions,
    #[command(flatten)]
    options: NetOptions,
}

/// A one-line error and a failing exit status.
fn fail(command: &str, what: impl std::fmt::Display) -> ExitCode {
    eprintln!("ferry {command}: {what}");
    ExitCode::FAILURE
}

/// `io::Error`s as a person reads them: "connection refused", not "Os { code: 111 ... }".
pub(crate) fn describe(error: &io::Error) -> String {
    // The secure mode's failures say what they are, whatever std kind carries them.
    let failed = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ConnectionError>());
    if let Some(
        failed @ (ConnectionError::ServerKeyMismatch
        | ConnectionError::NotSecure
        | ConnectionError::HandshakeFailed),
    ) = failed
    {
        return failed.to_string();
    }
    match error.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::ConnectionRefused => "connection refused (nothing listens there)".into(),
        io::ErrorKind::TimedOut => "timed out: the peer stopped answering".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by the peer".to_string(),
        io::ErrorKind::WouldBlock => "idle for longer than --idle-timeout".to_string(),
        _ => error.to_string(),
    }
}

pub fn recv(args: RecvArgs) -> ExitCode {
    // Open the output before listening: a path that cannot be written (a missing directory,
    // say) is better found now than after the first transfer has arrived.
    let mut output: Box<dyn Write> = match &args.output {
        None => unbuffered_stdout(),
        Some(path) => match File::create(path) {
            Ok(file) => Box::new(file),
            Err(error) => return fail("recv", format!("cannot write {}: {error}", path.display())),
        },
    };
    if let Err(why) = args.options.open_trace("recv", "server") {
        return fail("recv", why);
    }
    // A punched connection is a simultaneous open, which the secure mode cannot handshake
    // (docs/protocol.md section 10): clap keeps --secure and --rendezvous apart.
    if let Some(punched) = args.punch.punch("recv", &args.options.socket_config(None)) {
        return match punched {
            Ok(stream) => receive_one(&args, stream, output),
            Err(why) => fail("recv", why),
        };
    }
    let Some(listen) = args.listen else {
        return fail("recv", "give --listen ADDRESS, or --rendezvous");
    };
    let secure = match args.options.secure.listening("recv") {
        Ok(secure) => secure,
        Err(why) => return fail("recv", why),
    };
    let listener = match Listener::bind_with(listen, &args.options.socket_config(secure)) {
        Ok(listener) => listener,
        Err(error) => {
            return fail(
                "recv",
                format!("cannot listen on {listen}: {}", describe(&error)),
            )
        }
    };
    match listener.local_addr() {
        Ok(address) => eprintln!("ferry recv: listening on {address}"),
        Err(error) => return fail("recv", describe(&error)),
    }
    if args.once {
        return recv_once(&args, &listener, output);
    }
    // Without --once, transfers are received concurrently, each written out whole once it is
    // complete: a sender that connects and stalls holds up nobody, transfers never
    // interleave, and the limits bound what any client can make us hold (`serve`).
    let limits = Limits {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_per_peer: usize::try_from(args.max_per_peer).unwrap_or(usize::MAX),
        spool_above: args.spool_above,
        idle_timeout: args.idle_timeout.0,
    };
    let written = |stream: &Stream, received: u64, seconds: f64| {
        report(
            &args.options,
            stream,
            0,
            received,
            seconds,
            args.output.is_none(),
        );
    };
    let why = serve(listener, limits, &mut output, &written);
    fail("recv", why)
}

/// `ferry recv --once`: the first connection, straight to the output.
fn recv_once(args: &RecvArgs, listener: &Listener, output: Box<dyn Write>) -> ExitCode {
    match listener.accept() {
        Ok((stream, _)) => receive_one(args, stream, output),
        Err(error) => fail("recv", describe(&error)),
    }
}

/// Standard output for the received bytes, written straight: std's `io::stdout()` is a
/// `LineWriter`, which cuts each chunk of text at its last newline and holds the rest until
/// the next newline: two `write` calls per chunk of a transfer where a file (`--output`)
/// takes one, and in `ferry cat` a peer's prompt without its newline was not shown until the
/// connection ended. A duplicate of descriptor 1 has no buffer; std's own is kept if it
/// cannot be made (descriptor 1 closed: std then discards what is written, as before).
fn unbuffered_stdout() -> Box<dyn Write> {
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(descriptor) => Box::new(File::from(descriptor)),
        Err(_) => Box::new(io::stdout().lock()),
    }
}

/// One transfer from `stream`, straight to the output.
fn receive_one(args: &RecvArgs, stream: Stream, output: Box<dyn Write>) -> ExitCode {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(error) => return fail("recv", describe(&error)),
    };
    let started = crate::wall_clock();
    let result = receive_all(stream, output, args.idle_timeout.0);
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok((received, stream)) => {
            report(
                &args.options,
                &stream,
                0,
                received,
                seconds,
                args.output.is_none(),
            );
            close_receipt(stream, peer);
            ExitCode::SUCCESS
        }
        Err(error) => fail(
            "recv",
            format!("transfer from {peer} failed: {}", describe(&error)),
        ),
    }
}

/// Close a finished transfer's stream: our FIN is the sender's receipt. If the sender never
/// acknowledges it, it has gone without waiting: say so, but the transfer is complete.
fn close_receipt(stream: Stream, peer: SocketAddr) {
    if let Err(error) = stream.close() {
        eprintln!(
            "ferry recv: warning: {peer} did not acknowledge the end of the transfer: {}",
            describe(&error)
        );
    }
}

/// Copy the stream to `output` until the sender finishes. Our FIN, which the caller's close
/// sends, then tells the sender everything arrived. A sender idle for `idle_timeout` is reset.
fn receive_all(
    mut stream: Stream,
    mut output: Box<dyn Write>,
    idle_timeout: Option<Duration>,
) -> io::Result<(u64, Stream)> {
    stream.set_read_timeout(idle_timeout)?;
    let received = match copy_with_progress(&mut stream, &mut output, None) {
        Ok(received) => received,
        Err(error) => {
            // Reset rather than linger: nothing more will be read.
            let _ = stream.set_linger(Some(Duration::ZERO));
            return Err(error);
        }
    };
    output.flush()?;
    Ok((received, stream))
}

pub fn send(args: SendArgs) -> ExitCode {
    let (address, file) = match args.target() {
        Ok(target) => target,
        Err(why) => return fail("send", why),
    };
    let (mut input, total): (Box<dyn Read>, Option<u64>) = match &file {
        None => (Box::new(io::stdin().lock()), None),
        Some(path) => match File::open(path) {
            Ok(file) => {
                let total = file.metadata().ok().map(|metadata| metadata.len());
                (Box::new(file), total)
            }
            Err(error) => return fail("send", format!("cannot read {}: {error}", path.display())),
        },
    };
    if let Err(why) = args.options.open_trace("send", "client") {
        return fail("send", why);
    }
    let punched = args.punch.punch("send", &args.options.socket_config(None));
    // With --early-data, the input's first bytes, for the SYN (0-RTT).
    let first = match (&punched, args.options.secure.early_data(&mut input)) {
        (None, Ok(first)) => first,
        (Some(_), _) => Vec::new(),
        (None, Err(error)) => return fail("send", format!("cannot read the input: {error}")),
    };
    let mut stream = match (address, punched) {
        (_, Some(Ok(stream))) => stream,
        (_, Some(Err(why))) => return fail("send", why),
        (None, None) => return fail("send", "give the receiver's ADDRESS, or --rendezvous"),
        (Some(address), None) => {
            let (secure, trust) = match args.options.secure.connecting(address) {
                Ok(secure) => secure,
                Err(why) => return fail("send", why),
            };
            // A receiver that never answers the SYN takes nothing too: --idle-timeout bounds
            // the handshake, which otherwise lasts as long as the SYN retries (about two
            // minutes).
            let config = args.options.socket_config(secure);
            let connected =
                Stream::connect_with_early_data(address, &config, args.idle_timeout.0, &first);
            match connected.map(|(stream, _)| stream) {
                Ok(stream) => {
                    if let Err(why) = trust.remember("send", address, &stream) {
                        return fail("send", why);
                    }
                    stream
                }
                Err(error) => {
                    let why = match error.kind() {
                        io::ErrorKind::TimedOut if args.idle_timeout.0.is_some() => {
                            "no answer within --idle-timeout".to_string()
                        }
                        _ => trust
                            .explain(address, &error)
                            .unwrap_or_else(|| describe(&error)),
                    };
                    return fail("send", format!("cannot connect to {address}: {why}"));
                }
            }
        }
    };
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "the receiver".to_string(), |peer| peer.to_string());
    let started = crate::wall_clock();
    let result = (|| -> io::Result<u64> {
        stream.set_write_timeout(args.idle_timeout.0)?;
        stream.set_read_timeout(args.idle_timeout.0)?;
        // The first bytes went with the connect (all of them: far below the send buffer).
        let rest = total.map(|total| total.saturating_sub(first.len() as u64));
        let sent = first.len() as u64 + copy_with_progress(&mut input, &mut stream, rest)?;
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
    let outcome = match result {
        Ok(_) => stream.close().map_err(|error| describe(&error)),
        Err(error) => Err(reset_after_failure(stream, &error)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => fail("send", format!("transfer to {peer} failed: {why}")),
    }
}

/// `ferry cat ADDRESS`: connect, in the secure mode if asked, trusting the server's key as
/// `--server-key` or the known-hosts file says.
/// With `--early-data`, `first` (stdin's first bytes) rides in the SYN.
fn cat_connect(options: &NetOptions, address: SocketAddr, first: &[u8]) -> Result<Stream, String> {
    let (secure, trust) = options.secure.connecting(address)?;
    let config = options.socket_config(secure);
    let (stream, _) =
        Stream::connect_with_early_data(address, &config, None, first).map_err(|error| {
            let why = trust
                .explain(address, &error)
                .unwrap_or_else(|| describe(&error));
            format!("cannot connect to {address}: {why}")
        })?;
    trust.remember("cat", address, &stream)?;
    Ok(stream)
}

/// Give up on a transfer that failed (`error`): reset the connection at once, a linger of
/// zero, instead of dropping the stream, whose close would wait the default linger (30 s)
/// for data the peer is not taking. What the close did is part of the message, so that
/// "--idle-timeout 5s" visibly ends at 5 s.
fn reset_after_failure(stream: Stream, error: &io::Error) -> String {
    let reset = stream
        .set_linger(Some(Duration::ZERO))
        .and_then(|()| stream.close());
    match reset {
        Err(closed) if closed.kind() == io::ErrorKind::ConnectionAborted => {
            format!("{}; reset with data unacknowledged", describe(error))
        }
        _ => describe(error),
    }
}

pub fn cat(args: CatArgs) -> ExitCode {
    let vantage = if args.listen.is_some() {
        "server"
    } else {
        "client"
    };
    if let Err(why) = args.options.open_trace("cat", vantage) {
        return fail("cat", why);
    }
    let punched = args.punch.punch("cat", &args.options.socket_config(None));
    // With --early-data, stdin's first bytes, sent in the SYN (0-RTT).
    let mut first = Vec::new();
    let stream = match (args.address, args.listen, punched) {
        (_, _, Some(punched)) => punched,
        (Some(address), _, None) => args
            .options
            .secure
            .early_data(&mut io::stdin().lock())
            .map_err(|error| format!("cannot read stdin: {error}"))
            .and_then(|read| {
                first = read;
                cat_connect(&args.options, address, &first)
            }),
        (None, Some(listen), None) => args
            .options
            .secure
            .listening("cat")
            .map(|secure| args.options.socket_config(secure))
            .and_then(|config| {
                Listener::bind_with(listen, &config)
                    .map_err(|error| format!("cannot listen on {listen}: {}", describe(&error)))
            })
            .and_then(|listener| {
                if let Ok(address) = listener.local_addr() {
                    eprintln!("ferry cat: listening on {address}");
                }
                listener
                    .accept()
                    .map(|(stream, _)| stream)
                    .map_err(|error| describe(&error))
            }),
        (None, None, None) => {
            Err("give an address, --listen ADDRESS or --rendezvous ADDRESS".to_string())
        }
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
    let early = first.len() as u64;
    let sending = thread::spawn(move || -> io::Result<u64> {
        let sent = early + io::copy(&mut io::stdin().lock(), &mut writer)?;
        // Our FIN after the data, and the peer's acknowledgment of both.
        writer.close()?;
        Ok(sent)
    });
    let mut stdout = unbuffered_stdout();
    let received = io::copy(&mut stream, &mut stdout);
    let received = match received.and_then(|received| stdout.flush().map(|()| received)) {
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
    let bytes = bytes_sent.max(bytes_delivered);
    let goodput_bps = if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    };
    match format {
        StatsFormat::Json => {
            let faults = stream.fault_stats();
            let faults = faults.as_ref().map_or(Vec::new(), |(sent, received)| vec![sent, received]);
            let own = json!({
                "peer": stream.peer_addr().ok().map(|address| address.to_string()),
                "bytes_sent": bytes_sent,
                "bytes_delivered": bytes_delivered,
                "seconds": seconds,
                "goodput_bps": goodput_bps,
                "segments_received": stats.segments_received,
                "discarded_corrupt": stats.discarded_corrupt,
                // The socket's: a listener's streams share it.
                "discarded_unauthenticated": stream.endpoint_stats().discarded_unauthenticated,
                // The socket's too: SYNs whose 0-RTT data this end took or refused.
                "early_data_accepted": stream.endpoint_stats().early_data_accepted,
                "early_data_refused": stream.endpoint_stats().early_data_refused,
                "srtt_ms": stats.smoothed_rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
                "cwnd": stats.congestion_window,
                "state": stats.state.to_string(),
            });
            let object = crate::report::with_counters(own, &[&stats], &faults);
            if data_on_stdout {
                eprintln!("{object}");
            } else {
                println!("{object}");
            }
        }
        StatsFormat::Text => eprintln!(
            "ferry: {} bytes sent, {} received in {seconds:.3} s ({:.3} Mbit/s); {} segments, \
             {} retransmitted ({} RTO, {} fast, {} SACK, {} RACK, {} TLP, {} renege); {} datagrams with a bad CRC; \
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
            stats.retransmissions.renege,
            stats.discarded_corrupt,
            stats
                .smoothed_rtt
                .map_or("none".to_string(), |rtt| format!("{rtt:?}")),
            stats.state,
        ),
    }
}
