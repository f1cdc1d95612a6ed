//! Blind injection into a live transfer over loopback (RFC 5961's threat): an attacker who
//! knows both UDP ports, and nothing else, sweeps the whole sequence space with forged data
//! segments (two ACK values 2^31 apart at each position), FINs and RSTs, in both directions,
//! while a client keeps sending until the attack is over. The transfer must finish intact or
//! fail loudly; it must never succeed with wrong bytes.
//!
//! Forging the source port takes a raw socket, so this test needs root (CI runs as root); it
//! says it skipped otherwise, and fails if root cannot make one. Every byte the server reads
//! is checked, whether the transfer then succeeds or fails. Counts are bounded; nothing
//! asserts on wall time.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use ferry::sim::payload;
use ferry::wire::{Flags, Options, SackBlocks, Segment, SeqNum};
use ferry::{Config, Listener, SocketConfig, Stream};

const HANG_GUARD: Duration = Duration::from_secs(120);
/// Half the default 64 KiB window: every window position is hit at least once per sweep (the
/// test's 16 MiB windows, about 500 times).
const SWEEP_STEP: u64 = 32 * 1024;
/// The client writes in chunks of this size until the attack ends, at most [`MAX_SENT`].
const CHUNK: usize = 64 * 1024;
const MAX_SENT: usize = 4 << 30;

/// The `index`-th chunk the client sends: random content, so a forged byte shows.
fn chunk(index: usize) -> Vec<u8> {
    payload(CHUNK, index as u64)
}

/// Read until `buffer` is full or the stream ends; how much was read.
fn read_chunk(stream: &mut Stream, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match stream.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

/// A UDP datagram from `from` to `to` with `payload`, for a raw IPPROTO_UDP socket (the kernel
/// adds the IPv4 header). Checksum 0: none, which IPv4 allows.
fn udp_datagram(from: u16, to: u16, payload: &[u8]) -> Vec<u8> {
    let length = (8 + payload.len()) as u16;
    let mut datagram = Vec::with_capacity(length as usize);
    datagram.extend_from_slice(&from.to_be_bytes());
    datagram.extend_from_slice(&to.to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

/// Sweep forged segments from port `from` to port `to`: data at every half window with two
/// ACK values 2^31 apart, every eighth one also a FIN, every sixteenth position a RST.
fn sweep(raw: &Socket, from: u16, to: u16, ack_base: u32) -> u64 {
    let destination = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let forged_payload = [0x5Au8; 1_200];
    let mut sent = 0;
    let mut encoded = Vec::new();
    for (position, seq) in (0..1u64 << 32).step_by(SWEEP_STEP as usize).enumerate() {
        for ack in [ack_base, ack_base.wrapping_add(1 << 31)] {
            let mut flags = Flags::ACK;
            if position % 8 == 0 {
                flags |= Flags::FIN;
            }
            let rst = position % 16 == 1;
            let segment = Segment {
                flags: if rst { Flags::RST } else { flags },
                seq: SeqNum(seq as u32),
                ack: SeqNum(ack),
                window: 65_535,
                sack: SackBlocks::new(),
                options: Options::none(),
                payload: if rst { &[] } else { &forged_payload },
            };
            encoded.clear();
            segment.emit(&mut encoded);
            if raw
                .send_to(&udp_datagram(from, to, &encoded), &destination)
                .is_ok()
            {
                sent += 1;
            }
        }
    }
    sent
}

/// Whether this process runs as root: /proc/self belongs to the effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|proc_self| proc_self.uid() == 0)
}

/// What the server read: how much, whether every byte was right, how the stream ended.
struct Received {
    read: usize,
    all_right: bool,
    end: std::io::Result<()>,
    stats: ferry::Stats,
}

#[test]
fn a_blind_sweep_of_forged_segments_never_yields_wrong_bytes() {
    let raw = match Socket::new(
        Domain::IPV4,
        Type::from(libc::SOCK_RAW),
        Some(Protocol::UDP),
    ) {
        Ok(raw) => raw,
        // Only a missing privilege may skip the test: as root (CI), a broken set-up fails it.
        Err(error) if !running_as_root() => {
            println!("skipped: a raw socket needs root ({error})");
            return;
        }
        Err(error) => panic!("running as root, yet no raw socket: {error}"),
    };
    // Large windows make the attack easier: more of each sweep lands inside them.
    let config = SocketConfig {
        connection: Config {
            recv_buffer: ferry::RecvBuffer::Fixed(16 << 20),
            ..Config::default()
        },
        ..SocketConfig::default()
    };
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let server_address = listener.local_addr().unwrap();
    // The server checks each chunk as it arrives, and keeps its verdict on the bytes it read
    // even when the connection fails: a failure is acceptable, wrong bytes before it are not.
    let server = thread::spawn(move || -> Received {
        let (mut stream, _) = listener.accept().expect("the client connects");
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let (mut read, mut all_right) = (0, true);
        let mut buffer = vec![0; CHUNK];
        let end = loop {
            match read_chunk(&mut stream, &mut buffer) {
                Ok(0) => break Ok(()),
                Ok(filled) => {
                    all_right &= buffer[..filled] == chunk(read / CHUNK)[..filled];
                    read += filled;
                }
                Err(error) => break Err(error),
            }
        };
        Received {
            read,
            all_right,
            end,
            stats: stream.stats(),
        }
    });
    let mut client = Stream::connect_with(server_address, &config, Some(HANG_GUARD)).unwrap();
    client.set_write_timeout(Some(HANG_GUARD)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let server_port = server_address.port();

    let attacker = thread::spawn(move || {
        let mut sent = 0;
        for ack_base in [0x1234_5678u32, 0x0BAD_F00D, 0x7777_7777] {
            sent += sweep(&raw, client_port, server_port, ack_base);
            sent += sweep(&raw, server_port, client_port, ack_base);
        }
        sent
    });
    // Keep data flowing for as long as the attack lasts (bounded by MAX_SENT).
    let mut written = 0;
    let client_result = (|| {
        for index in 0..MAX_SENT / CHUNK {
            client.write_all(&chunk(index))?;
            written += CHUNK;
            if attacker.is_finished() {
                break;
            }
        }
        client.close()
    })();
    let forged = attacker.join().unwrap();
    let received = server.join().unwrap();
    let stats = &received.stats;
    println!(
        "{forged} forged datagrams; client wrote {written} bytes: {client_result:?}; server read \
         {} bytes: {:?}; segments received {}, rejected ACK fields {}, replies rate-limited {}, \
         contradicted segments {}",
        received.read,
        received.end,
        stats.segments_received,
        stats.rejected_acks,
        stats.invalid_replies_suppressed,
        stats.contradicted_segments
    );
    assert!(
        received.all_right,
        "the server read forged bytes ({} bytes read)",
        received.read
    );
    assert!(
        stats.rejected_acks + stats.invalid_replies_suppressed > 0,
        "no forged segment reached the server: the test proved nothing"
    );
    // A loud failure at either end is acceptable (the attacker may break the connection);
    // success is believed only if every byte written arrived.
    if client_result.is_ok() && received.end.is_ok() {
        assert_eq!(
            received.read, written,
            "both ends report success, but {} of {written} bytes arrived",
            received.read
        );
    }
}
