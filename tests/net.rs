//! Ferry on real UDP sockets over loopback, with ephemeral ports: what a toy app relies on.
//!
//! No test asserts on wall time. Each blocking call that could hang on a bug is bounded by a
//! connect timeout, a read timeout or the user timeout, so a failure fails instead of hanging.

mod loopback;
mod onpath;
mod waits;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use ferry::sim::payload;
use ferry::wire::Flags;
use ferry::{Config, Listener, SocketConfig, Stream};
use onpath::{assert_reset, assert_reset_or_broken_pipe, Relay};
use waits::wait_to_read_once;

/// Generous bounds that only a hang reaches.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn faulty(spec: &str) -> SocketConfig {
    SocketConfig::with_faults(spec.parse().expect("a valid fault spec"))
}

fn connect(address: SocketAddr, config: &SocketConfig) -> Stream {
    let stream =
        Stream::connect_with(address, config, Some(HANG_GUARD)).expect("the handshake completes");
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
    stream
}

/// Write `data` on a clone of `stream` from another thread, then shut the write side, while
/// this thread reads everything the peer sends until it closes.
fn exchange(stream: Stream, data: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut writer = stream.try_clone()?;
    let sending = thread::spawn(move || -> io::Result<()> {
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut reader = stream;
    let mut received = Vec::new();
    reader.read_to_end(&mut received)?;
    sending.join().expect("the writer does not panic")?;
    reader.wait_until_sent()?;
    Ok(received)
}

#[test]
fn ten_mebibytes_each_way_through_faults_arrive_intact() {
    // The listener's socket applies the faults to everything it sends and receives, so each
    // direction crosses them once. Default settings: on loopback the RTT is about 0.1 ms
    // against a 200 ms RTO floor, so this finishes in seconds only because RACK-TLP repairs
    // losses, lost retransmissions included, without waiting for the timer.
    let server_config = faulty("loss=5%,flip=1e-5,dup=1%,reorder=2%");
    let client_config = SocketConfig::default();
    let (to_server, to_client) = (payload(10 << 20, 1), payload(10 << 20, 2));
    let listener = Listener::bind_with("127.0.0.1:0", &server_config).unwrap();
    let address = listener.local_addr().unwrap();
    let server_sends = to_client.clone();
    let server = thread::spawn(move || -> io::Result<(Vec<u8>, ferry::Stats)> {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(HANG_GUARD))?;
        let stats_handle = stream.try_clone()?;
        let received = exchange(stream, server_sends)?;
        Ok((received, stats_handle.stats()))
    });
    let client = connect(address, &client_config);
    let client_got = exchange(client, to_server.clone()).expect("the client's side works");
    let (server_got, server_stats) = server.join().unwrap().expect("the server's side works");
    assert!(client_got == to_client, "the client got wrong bytes");
    assert!(server_got == to_server, "the server got wrong bytes");
    assert!(
        server_stats.retransmissions.total() > 0 && server_stats.discarded_corrupt > 0,
        "the faults were really applied: {server_stats:?}"
    );
}

#[test]
fn fifty_concurrent_connections_share_one_listener() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let echoes: Vec<_> = (0..50)
            .map(|_| {
                let (stream, _) = listener.accept().expect("accept");
                thread::spawn(move || {
                    let mut reader = stream;
                    let mut data = Vec::new();
                    reader.read_to_end(&mut data).expect("read");
                    reader.write_all(&data).expect("echo");
                })
            })
            .collect();
        echoes
            .into_iter()
            .for_each(|echo| echo.join().expect("echo thread"));
    });
    let clients: Vec<_> = (0..50u64)
        .map(|i| {
            thread::spawn(move || {
                let data = payload(20_000 + i as usize * 1000, 100 + i);
                let mut stream = connect(address, &SocketConfig::default());
                stream.write_all(&data).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut echoed = Vec::new();
                stream.read_to_end(&mut echoed).unwrap();
                assert!(echoed == data, "connection {i} got someone else's bytes");
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every client's data came back intact");
    }
    server.join().unwrap();
}

#[test]
fn connecting_where_nothing_listens_is_refused_or_times_out() {
    let address = loopback::refusing_address();
    let error = Stream::connect_timeout(&address, Duration::from_secs(10))
        .expect_err("nothing listens there");
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
        ),
        "{error}"
    );
}

#[test]
fn a_peer_that_vanishes_gives_timed_out_or_reset() {
    // The server's socket goes silent after two seconds: everything it would send or receive
    // is lost, as if its host vanished.
    let listener = Listener::bind_with("127.0.0.1:0", &faulty("outage=2s..100000s")).unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let impatient = SocketConfig {
        connection: Config {
            max_retransmissions: 3,
            max_rto: Duration::from_millis(500),
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    let mut client = connect(address, &impatient);
    let _server_stream = server.join().unwrap().unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let error = loop {
        if let Err(error) = client.write_all(&chunk) {
            break error;
        }
    };
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::ConnectionReset
        ),
        "{error}"
    );
}

#[test]
fn half_close_lets_the_server_reply_after_end_of_stream() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        let mut request = String::new();
        stream.read_to_string(&mut request).unwrap();
        write!(stream, "{} bytes from {peer}", request.len()).unwrap();
    });
    let mut client = connect(address, &SocketConfig::default());
    client.write_all(b"question").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let error = client.write(b"more").expect_err("the write side is shut");
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    let local = client.local_addr().unwrap();
    assert_eq!(reply, format!("8 bytes from 127.0.0.1:{}", local.port()));
    server.join().unwrap();
}

#[test]
fn a_capture_records_both_directions_with_the_reasons() {
    let path = std::env::temp_dir().join(format!("ferry-net-{}.pcapng", std::process::id()));
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        stream.read_to_end(&mut data).unwrap();
        data.len()
    });
    let config = SocketConfig {
        capture: Some(path.clone()),
        ..SocketConfig::default()
    };
    let mut client = connect(address, &config);
    client.write_all(&payload(50_000, 5)).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    client.wait_until_sent().unwrap();
    assert_eq!(server.join().unwrap(), 50_000);
    drop(client);

    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(file).unwrap();
    let (mut sent, mut received, mut reasons) = (0, 0, Vec::new());
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(packet) = block.unwrap() {
            let comments: Vec<String> = packet
                .options
                .iter()
                .filter_map(|option| match option {
                    pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Comment(
                        text,
                    ) => Some(text.to_string()),
                    _ => None,
                })
                .collect();
            if comments.is_empty() {
                received += 1;
            } else {
                sent += 1;
                reasons.extend(comments);
            }
        }
    }
    // 50,000 bytes are 36 data segments of 1428 bytes once path MTU discovery grows them
    // (42 of 1200 without), beside the handshake and the FIN.
    assert!(
        sent >= 36 && received > 0,
        "sent {sent}, received {received}"
    );
    assert!(reasons.iter().any(|reason| reason == "handshake"));
    assert!(reasons.iter().any(|reason| reason == "new data"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn binding_a_busy_port_is_addr_in_use() {
    let first = Listener::bind("127.0.0.1:0").unwrap();
    let error = Listener::bind(first.local_addr().unwrap()).expect_err("the port is taken");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
}

/// Connection settings that cannot work are refused before any socket is bound, with the
/// setting named, not clamped into something that runs.
#[test]
fn connection_settings_that_cannot_work_are_refused() {
    let config = SocketConfig {
        connection: Config {
            mss: 0,
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    let error = Listener::bind_with("127.0.0.1:0", &config).expect_err("an MSS of 0");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("mss"), "{error}");
    let error = Stream::connect_with("127.0.0.1:9", &config, None).expect_err("an MSS of 0");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_read_timeout_gives_would_block() {
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || listener.accept().unwrap());
    let mut client = connect(address, &SocketConfig::default());
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let error = client.read(&mut [0u8; 16]).expect_err("nothing was sent");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    drop(server.join().unwrap());
}

#[test]
fn a_thousand_clients_connecting_at_once_all_get_through() {
    // More than the backlog of 128: the handshakes beyond it are answered with SYN cookies,
    // and the accept queue drains as the server accepts. None is lost.
    const CLIENTS: u64 = 1000;
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || -> io::Result<Vec<u64>> {
        let accepted: Vec<Stream> = (0..CLIENTS)
            .map(|_| listener.accept().map(|(stream, _)| stream))
            .collect::<io::Result<_>>()?;
        let mut seen = Vec::new();
        for mut stream in accepted {
            stream.set_read_timeout(Some(HANG_GUARD))?;
            let mut index = Vec::new();
            stream.read_to_end(&mut index)?;
            seen.push(u64::from_le_bytes(index.try_into().expect("8 bytes")));
        }
        Ok(seen)
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            thread::spawn(move || -> io::Result<()> {
                let stream = Stream::connect_timeout(&address, HANG_GUARD)?;
                (&stream).write_all(&index.to_le_bytes())?;
                stream.close()
            })
        })
        .collect();
    for client in clients {
        client
            .join()
            .unwrap()
            .expect("the client connects and delivers");
    }
    let mut seen = server.join().unwrap().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..CLIENTS).collect::<Vec<_>>());
}

// -------------------------------------------------------------------------------------------
// A close reports success only for what the peer acknowledged

#[test]
fn a_close_after_late_data_the_peer_reset_is_an_error() {
    // The server reads 10 KB and closes; we see end of stream, write 100 KB more and close.
    // The server answers the late data with a RST, before or after our FIN went: whichever
    // state that finds us in, none of the 100 KB was acknowledged. Ten runs: the RST used to
    // land in LAST-ACK and end the connection "cleanly" in most of them.
    for run in 0..10 {
        let listener = Listener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
            stream.read_exact(&mut vec![0u8; 10_000]).unwrap();
        });
        let mut client = connect(address, &SocketConfig::default());
        client.write_all(&payload(10_000, run)).unwrap();
        assert_eq!(client.read(&mut [0u8; 16]).unwrap(), 0, "end of stream");
        server.join().unwrap();
        // The write may already fail: the RST can come before it ends.
        let _ = client.write_all(&payload(100_000, run));
        assert_reset_or_broken_pipe(client.close(), &format!("run {run}"));
    }
}

/// A server that reads `first` bytes and says so (`read_done`), then waits for `go` to close
/// its stream without waiting for anything: with a RST if `abort`, else with a FIN (data
/// arriving after that is answered with a RST); then says so (`closed`). Its listener goes
/// on (its socket answering strays) until the thread is joined.
struct ClosingServer {
    read_done: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
    closed: mpsc::Receiver<()>,
    thread: thread::JoinHandle<Listener>,
}

impl ClosingServer {
    fn start(listener: Listener, first: usize, abort: bool) -> ClosingServer {
        let (read_done, read_done_rx) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let (closed, closed_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
            stream.read_exact(&mut vec![0u8; first]).unwrap();
            read_done.send(()).unwrap();
            let _ = go_rx.recv_timeout(HANG_GUARD);
            let linger = if abort { Some(Duration::ZERO) } else { None };
            stream.set_linger(linger).unwrap();
            let _ = stream.close();
            closed.send(()).unwrap();
            listener
        });
        ClosingServer {
            read_done: read_done_rx,
            go,
            closed: closed_rx,
            thread,
        }
    }

    fn read_done(&self) {
        self.read_done.recv_timeout(HANG_GUARD).unwrap();
    }

    fn close_now(&self) {
        self.go.send(()).unwrap();
        self.closed.recv_timeout(HANG_GUARD).unwrap();
    }
}

#[test]
fn a_close_in_last_ack_that_the_peer_resets_is_connection_reset() {
    // The server's FIN reaches us (CLOSE-WAIT); we write a little and close (LAST-ACK); the
    // relay holds the server's RST for that late data until our FIN has passed.
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let relay = Relay::start(
        listener.local_addr().unwrap(),
        onpath::hold_server_from_until_client_fin(Flags::RST),
    );
    let server = ClosingServer::start(listener, 10_000, false);
    let mut client = connect(relay.address(), &SocketConfig::default());
    client.write_all(&payload(10_000, 1)).unwrap();
    server.read_done();
    server.close_now();
    assert_eq!(client.read(&mut [0u8; 16]).unwrap(), 0, "end of stream");
    client.write_all(&payload(1_000, 2)).unwrap();
    assert_reset(client.close(), "RST in LAST-ACK");
    drop(server.thread.join().unwrap());
}

#[test]
fn a_close_in_closing_that_the_peer_resets_is_connection_reset() {
    // Both sides close at once: the relay holds the server's FIN (and the RST for our late
    // data) until our FIN has passed, so the FINs cross (CLOSING), then the RST comes.
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let relay = Relay::start(
        listener.local_addr().unwrap(),
        onpath::hold_server_from_until_client_fin(Flags::FIN),
    );
    let server = ClosingServer::start(listener, 10_000, false);
    let mut client = connect(relay.address(), &SocketConfig::default());
    client.write_all(&payload(10_000, 3)).unwrap();
    server.read_done();
    // Closed before our late data arrives, so that data draws a RST, not an ACK.
    server.close_now();
    client.write_all(&payload(1_000, 4)).unwrap();
    assert_reset(client.close(), "RST in CLOSING");
    drop(server.thread.join().unwrap());
}

#[test]
fn a_close_after_a_forged_fin_is_connection_reset() {
    // An attacker on the path forges a FIN at our RCV.NXT once 10 KB are acknowledged: we
    // see end of stream, though the server never closed. It never acknowledges anything
    // after (our ACK field covers a FIN it never sent). When it gives up (an abort), its
    // endpoint answers our segments as strays, with a RST at exactly our RCV.NXT.
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let relay = Relay::start(
        listener.local_addr().unwrap(),
        onpath::forge_fin_once_acknowledged(10_000),
    );
    let server = ClosingServer::start(listener, 10_000, true);
    let mut client = connect(relay.address(), &SocketConfig::default());
    client.write_all(&payload(10_000, 5)).unwrap();
    server.read_done();
    assert_eq!(
        client.read(&mut [0u8; 16]).unwrap(),
        0,
        "the forged end of stream"
    );
    client.write_all(&payload(100_000, 6)).unwrap();
    // Our FIN is queued (LAST-ACK) before the server gives up.
    client.shutdown(Shutdown::Write).unwrap();
    server.close_now();
    assert_reset(client.close(), "a forged FIN, then the server's RST");
    drop(server.thread.join().unwrap());
}

// -------------------------------------------------------------------------------------------
// ICMP errors are believed only about a segment the connection sent (RFC 5927 section 4.1)

/// The Internet checksum (RFC 1071) of `bytes`.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP port unreachable (type 3, code 3), as the host at `to` would send it, about a UDP
/// datagram from `from` to `to` that began with `quoted`: the quote is an IPv4 header, a UDP
/// header and those bytes.
fn port_unreachable(from: SocketAddr, to: SocketAddr, quoted: &[u8]) -> Vec<u8> {
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
        panic!("IPv4 addresses");
    };
    let udp_length = 8 + quoted.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(20 + udp_length).to_be_bytes());
    ip.extend_from_slice(&from.ip().octets());
    ip.extend_from_slice(&to.ip().octets());
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let mut message = vec![3, 3, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(&ip);
    message.extend_from_slice(&from.port().to_be_bytes());
    message.extend_from_slice(&to.port().to_be_bytes());
    message.extend_from_slice(&udp_length.to_be_bytes());
    message.extend_from_slice(&[0, 0]);
    message.extend_from_slice(quoted);
    let checksum = internet_checksum(&message);
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    message
}

/// The first 28 bytes of `datagram` (a header and 4 bytes of payload, as a short ICMP quote),
/// its sequence number moved by `by`.
fn quote(datagram: &[u8], by: u32) -> Vec<u8> {
    let mut quoted = datagram[..datagram.len().min(28)].to_vec();
    let seq = u32::from_be_bytes(quoted[4..8].try_into().unwrap());
    quoted[4..8].copy_from_slice(&seq.wrapping_add(by).to_be_bytes());
    quoted
}

/// Send a forged ICMP error from a raw socket.
fn forge(raw: &Socket, message: &[u8]) {
    let loopback = SockAddr::from(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 0));
    raw.send_to(message, &loopback)
        .expect("the forged ICMP error goes");
}

/// A round trip through the echo server: the connection still works.
fn round_trip(client: &mut Stream, message: &[u8]) {
    client.write_all(message).unwrap();
    let mut echoed = vec![0u8; message.len()];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, message);
}

#[test]
fn a_forged_port_unreachable_resets_nothing_without_a_sequence_number_in_flight() {
    // An off-path attacker who knows the addresses and ports (about 2^16 guesses) but not the
    // sequence numbers, forging the ICMP error the client's or the server's next segment
    // would meet if its peer's process were gone. Forging the source takes a raw socket.
    let raw = match Socket::new(
        Domain::IPV4,
        Type::from(libc::SOCK_RAW),
        Some(Protocol::ICMPV4),
    ) {
        Ok(raw) => raw,
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            println!("skipped: forging an ICMP error takes a raw socket, and root ({error})");
            return;
        }
        Err(error) => panic!("a raw socket, as root: {error}"),
    };
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let server_address = listener.local_addr().unwrap();
    let watcher = listener.try_clone().unwrap();
    // The relay is on the path only to show the test the sequence numbers in use.
    let relay = Relay::start(server_address, onpath::forward());
    // An echo server, left to end on its own: the client's reset sends nothing, so it
    // learns at its next keepalive.
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut buffer = [0u8; 64];
        while let Ok(read @ 1..) = stream.read(&mut buffer) {
            if stream.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
    });
    let mut client = connect(relay.address(), &SocketConfig::default());
    let client_address = client.local_addr().unwrap();
    round_trip(&mut client, b"hello");

    // Against the client (its socket is connected; such an error used to reset it, whatever
    // it quoted): sequence numbers half the space away, and just past SND.NXT.
    let sent = relay.last_from_client();
    for by in [1 << 31, 1_000_000] {
        forge(
            &raw,
            &port_unreachable(client_address, relay.address(), &quote(&sent, by)),
        );
        round_trip(&mut client, b"still here");
    }
    // Against the server's connection, on the listener's socket: the listener counts it.
    let sent = relay.last_from_server();
    forge(
        &raw,
        &port_unreachable(server_address, relay.address(), &quote(&sent, 1 << 31)),
    );
    round_trip(&mut client, b"and here");

    // The same forgery with the sequence number the client sends next (its SND.NXT, where
    // its last segment ended, as an ACK of it would carry): believed, as it must be when the
    // error is real.
    let sent = relay.last_from_client();
    let next = ferry::wire::Segment::parse(&sent).unwrap().seq_len();
    forge(
        &raw,
        &port_unreachable(client_address, relay.address(), &quote(&sent, next)),
    );
    let error = client.read(&mut [0u8; 16]).expect_err("believed: reset");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    assert_eq!(
        watcher.stats().unreachables_ignored,
        1,
        "the listener heard the forged error, and ignored it"
    );
}

// -------------------------------------------------------------------------------------------
// An accepted connection's own socket (src/net/peer_sockets.rs)

/// Accept a connection on `listener` and greet the client with one byte. Having written, the
/// connection gets a socket of its own the first time it waits to read.
fn accept_and_greet(listener: &Listener) -> Stream {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.write_all(b"!").unwrap();
    stream
}

fn greeted(address: SocketAddr, config: &SocketConfig) -> Stream {
    let mut client = connect(address, config);
    let mut greeting = [0u8; 1];
    client.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"!");
    client
}

#[test]
fn a_busy_port_stays_addr_in_use_once_connections_were_accepted() {
    // The accepted connections' sockets share the listener's port; nothing else may: not
    // another listener, not a plain UDP socket of another program.
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let client = thread::spawn(move || greeted(address, &SocketConfig::default()));
    let stream = accept_and_greet(&listener);
    let client = client.join().unwrap();
    let error = Listener::bind(address).expect_err("the port is taken");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    let error = std::net::UdpSocket::bind(address).expect_err("the port is taken");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    drop((stream, client));
}

/// The UDP sockets this machine has bound to `port` on IPv4 (/proc/net/udp): a listener's,
/// and those of the accepted connections it gave a socket of their own.
fn udp_sockets_on_port(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let wanted = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let local = line.split_whitespace().nth(1).unwrap_or("");
            local.rsplit(':').next() == Some(wanted.as_str())
        })
        .count()
}

#[test]
fn many_connections_each_answered_by_its_own_thread_get_their_own_answers() {
    // A thread per accepted connection, each in request and answer, as a server ported from
    // std: every answer reaches the client that asked, through faults on the listener, and
    // each connection has a socket of its own by its last answer.
    const CONNECTIONS: usize = 50;
    const REQUESTS: u32 = 40;
    let listener = Listener::bind_with("127.0.0.1:0", &faulty("loss=2%,seed=7")).unwrap();
    let address = listener.local_addr().unwrap();
    // The sessions hold their streams until the sockets are counted.
    let counted = std::sync::Arc::new(std::sync::Barrier::new(CONNECTIONS + 1));
    let server = {
        let counted = counted.clone();
        thread::spawn(move || {
            let sessions: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    let mut stream = accept_and_greet(&listener);
                    let counted = counted.clone();
                    thread::spawn(move || -> io::Result<u64> {
                        let mut request = [0u8; 8];
                        let answered = (0..REQUESTS).try_for_each(|_| {
                            stream.read_exact(&mut request)?;
                            let asked = u64::from_le_bytes(request);
                            stream.write_all(&(asked * 3).to_le_bytes())
                        });
                        // Whatever happened: the count must not wait for ever.
                        counted.wait();
                        answered?;
                        let (_, incoming) = stream.fault_stats().expect("faults are on");
                        Ok(incoming.datagrams)
                    })
                })
                .collect();
            sessions
                .into_iter()
                .map(|session| session.join().unwrap().unwrap())
                .max()
        })
    };
    let clients: Vec<_> = (0..CONNECTIONS as u64)
        .map(|index| {
            thread::spawn(move || -> io::Result<()> {
                let mut stream = greeted(address, &SocketConfig::default());
                let mut answer = [0u8; 8];
                for request in 0..u64::from(REQUESTS) {
                    let asked = index * 1000 + request;
                    stream.write_all(&asked.to_le_bytes())?;
                    stream.read_exact(&mut answer)?;
                    assert_eq!(u64::from_le_bytes(answer), asked * 3);
                }
                Ok(())
            })
        })
        .collect();
    let clients: Vec<_> = clients.into_iter().map(|client| client.join()).collect();
    // Every client has its answers, so every session has waited to read after writing: the
    // listener's socket and one for each connection share the port. (Counted, and the
    // sessions let go, before a failed client fails the test, so that nothing hangs.)
    let sockets = udp_sockets_on_port(address.port());
    counted.wait();
    for client in clients {
        client.unwrap().expect("every answer arrives");
    }
    assert_eq!(
        sockets,
        CONNECTIONS + 1,
        "UDP sockets on the listener's port"
    );
    // The listener's faults saw the requests that came through the connections' own
    // sockets: at least one datagram for each request.
    let seen = server.join().unwrap().expect("sessions ran");
    assert!(
        seen >= u64::from(REQUESTS) * CONNECTIONS as u64,
        "the faults saw {seen}"
    );
}

#[test]
fn a_listeners_capture_records_what_an_accepted_connection_receives() {
    let path = std::env::temp_dir().join(format!("ferry-net-own-{}.pcapng", std::process::id()));
    let config = SocketConfig {
        capture: Some(path.clone()),
        ..SocketConfig::default()
    };
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let address = listener.local_addr().unwrap();
    let (own_socket, has_own_socket) = mpsc::channel();
    let server = thread::spawn(move || {
        let mut stream = accept_and_greet(&listener);
        wait_to_read_once(&mut stream, HANG_GUARD);
        own_socket.send(()).unwrap();
        let mut data = Vec::new();
        stream.read_to_end(&mut data).unwrap();
        data.len()
    });
    let mut client = greeted(address, &SocketConfig::default());
    has_own_socket.recv().unwrap();
    client.write_all(&payload(50_000, 5)).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    client.wait_until_sent().unwrap();
    assert_eq!(server.join().unwrap(), 50_000);
    drop(client);

    // Received datagrams carry no reason; 50,000 bytes are at least 36 data segments, all
    // sent once the connection had its own socket.
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(file).unwrap();
    let mut received = 0;
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(packet) = block.unwrap() {
            let has_reason = packet.options.iter().any(|option| {
                matches!(
                    option,
                    pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Comment(_)
                )
            });
            if !has_reason && packet.data.len() > 1000 {
                received += 1;
            }
        }
    }
    assert!(received >= 36, "received {received}");
    let _ = std::fs::remove_file(&path);
}

/// The UDP sockets of this machine bound to `port` (IPv4, from /proc/net/udp).
fn sockets_on_port(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|local| local.split(':').nth(1))
        .filter(|hex_port| u16::from_str_radix(hex_port, 16) == Ok(port))
        .count()
}

#[test]
fn an_accepted_connections_socket_closes_once_the_connection_is_gone() {
    const CONNECTIONS: usize = 5;
    let listener = Listener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let clients = thread::spawn(move || {
        (0..CONNECTIONS)
            .map(|_| greeted(address, &SocketConfig::default()))
            .collect::<Vec<_>>()
    });
    let mut streams: Vec<Stream> = (0..CONNECTIONS)
        .map(|_| accept_and_greet(&listener))
        .collect();
    let clients = clients.join().unwrap();
    for stream in &mut streams {
        wait_to_read_once(stream, HANG_GUARD);
    }
    // The listener's socket and one for each connection.
    assert_eq!(sockets_on_port(address.port()), 1 + CONNECTIONS);
    // The clients close first: the server's side ends at once when its FIN is acknowledged.
    for client in clients {
        client.close().unwrap();
    }
    drop(streams);
    // Bounded: a count of short sleeps while the closes finish.
    let closed = (0..1_000).any(|_| {
        sockets_on_port(address.port()) == 1 || {
            thread::sleep(Duration::from_millis(10));
            false
        }
    });
    assert!(
        closed,
        "{} sockets on the port",
        sockets_on_port(address.port())
    );
    drop(listener);
}
