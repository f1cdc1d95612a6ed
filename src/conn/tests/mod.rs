//! Segment-level tests of the state machine, in smoltcp's style, one file per state or topic
//! (as neqo's `connection/tests/`); this file holds the shared helpers and fixtures.
//!
//! Each test starts a connection in the state under test (reached by really driving the
//! handshake and the segments that lead there), feeds segments built from [`SEND_TEMPL`] at an
//! explicit time, asserts the exact segments that come out (built from [`RECV_TEMPL`]) with
//! the reason each was sent, and ends by checking that nothing else was sent.
//!
//! Numbers: our ISN is 10 000 and the peer's 50 000, so our first data byte is [`LOCAL`]
//! (10 001) and the peer's is [`REMOTE`] (50 001). The handshake takes 100 ms, which gives an
//! RTT sample of 100 ms: SRTT 100 ms, RTTVAR 50 ms, RTO 100 + 4 * 50 = 300 ms (RFC 6298
//! section 2.2). Times are milliseconds since the epoch. The tests of recovery, RACK and
//! injection send segments of [`MSS`] = 1200 bytes, so RFC 5681's initial window is 3
//! segments (3600 bytes), and our data is the pattern [`bytes`] numbered by stream offset, so
//! a segment is known by where it starts.

mod close;
mod cubic;
mod cwnd_validation;
mod datagrams;
mod handshake;
mod injection;
mod keepalive;
mod pacing;
mod plpmtud;
mod prr;
mod rack;
mod receive_buffer;
mod receiving;
mod recovery;
mod reset;
mod sack_blocks;
mod sending;
mod slow_start;
mod timestamps;
mod trace;
mod two_ends;
mod window;
mod wrap;

use super::*;
use crate::time::Instant;
use crate::wire::{Flags, Options, SackBlock, SackBlocks, Segment, SeqNum, Timestamps, WireError};
use std::net::SocketAddr;
use std::time::Duration;

// -------------------------------------------------------------------------------------------
// Helpers

const REMOTE_ADDR: &str = "192.0.2.7:4747";

const LOCAL_ISN: SeqNum = SeqNum(10_000);
const REMOTE_ISN: SeqNum = SeqNum(50_000);
/// Our first data byte: the ISN plus the SYN.
const LOCAL: SeqNum = SeqNum(10_001);
/// The peer's first data byte.
const REMOTE: SeqNum = SeqNum(50_001);
/// The window we advertise with an empty receive buffer: `Config::default().recv_buffer`'s
/// initial size.
const WINDOW: u32 = 64 * 1024;
/// The window the peer advertises.
const PEER_WINDOW: u32 = 65_535;
/// When the fixtures' handshake completes.
const ESTABLISHED_AT: u64 = 100;
/// How long TIME-WAIT lasts with the defaults, in ms: `time_wait` (4 s) beyond `max_rto`
/// (60 s), the ceiling of the peer's retransmission timer.
const TIME_WAIT_MS: u64 = 64_000;

/// What the peer sends, unless a test says otherwise: an ACK of everything we sent in the
/// handshake, at the peer's first data byte.
const SEND_TEMPL: Segment<'static> = Segment {
    flags: Flags::ACK,
    seq: REMOTE,
    ack: LOCAL,
    window: PEER_WINDOW,
    sack: SackBlocks::new(),
    options: Options::none(),
    payload: &[],
};

/// What the peer's SYN or SYN-ACK offers, unless a test says otherwise: an MSS of 1200 and
/// SACK (RFC 9293 section 3.7.1, RFC 2018 section 2), what a Ferry peer without path MTU
/// discovery offers. Segments then stay at 1200 bytes: the peer receives no more, so there is
/// nothing to search (`plpmtud.rs` has its own tests, with a peer that offers more).
const PEER_SYN_OPTIONS: Options = Options {
    mss: Some(1_200),
    sack_permitted: true,
    timestamps: None,
};

/// What our SYN or SYN-ACK offers with the default settings but timestamps (which the tests'
/// configs leave off unless they test them): the largest payload we receive, the default
/// `max_datagram` (1452) less the 24-byte header, and SACK.
const OUR_SYN_OPTIONS: Options = Options {
    mss: Some(1_428),
    sack_permitted: true,
    timestamps: None,
};

/// An owned copy of a segment we sent, to compare with `assert_eq!`.
#[derive(Clone, PartialEq, Eq)]
struct Sent {
    flags: Flags,
    seq: SeqNum,
    ack: SeqNum,
    window: u32,
    sack: SackBlocks,
    options: Options,
    payload: Vec<u8>,
}

/// Payloads shown by length and first bytes, so that a failing comparison stays readable.
impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent")
            .field("flags", &self.flags)
            .field("seq", &self.seq)
            .field("ack", &self.ack)
            .field("window", &self.window)
            .field("sack", &self.sack)
            .field("options", &self.options)
            .field(
                "payload",
                &format_args!(
                    "{} bytes {:?}..",
                    self.payload.len(),
                    &self.payload[..self.payload.len().min(4)]
                ),
            )
            .finish()
    }
}

/// What we send, unless a test says otherwise: a pure ACK at our first data byte.
const RECV_TEMPL: Sent = Sent {
    flags: Flags::ACK,
    seq: LOCAL,
    ack: REMOTE,
    window: WINDOW,
    sack: SackBlocks::new(),
    options: Options::none(),
    payload: Vec::new(),
};

/// The RST that `abort` and bad ACKs produce: no ACK, no window.
const RST_TEMPL: Sent = Sent {
    flags: Flags::RST,
    seq: LOCAL,
    ack: SeqNum(0),
    window: 0,
    sack: SackBlocks::new(),
    options: Options::none(),
    payload: Vec::new(),
};

impl From<Segment<'_>> for Sent {
    fn from(segment: Segment<'_>) -> Sent {
        Sent {
            flags: segment.flags,
            seq: segment.seq,
            ack: segment.ack,
            window: segment.window,
            sack: segment.sack,
            options: segment.options,
            payload: segment.payload.to_vec(),
        }
    }
}

fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn remote_addr() -> SocketAddr {
    REMOTE_ADDR.parse().unwrap()
}

/// `sent` with these SACK blocks, most recent first.
fn with_sack(sent: Sent, blocks: &[(SeqNum, SeqNum)]) -> Sent {
    let mut sack = SackBlocks::new();
    for &(left, right) in blocks {
        sack.push(SackBlock { left, right });
    }
    Sent { sack, ..sent }
}

/// Feed one segment from the peer.
fn send(conn: &mut Connection, now: Instant, segment: Segment<'_>) {
    conn.handle_segment(now, &segment);
}

/// Drain everything the connection wants to send at `now`, decoded back from the wire.
fn recv(conn: &mut Connection, now: Instant) -> Vec<(Sent, Reason)> {
    let mut sent = Vec::new();
    while let Some(transmit) = conn.poll_transmit(now) {
        assert_eq!(transmit.destination, remote_addr());
        let segment = Segment::parse(&transmit.contents).expect("we emit valid datagrams");
        sent.push((Sent::from(segment), transmit.reason));
        // A full flight and as many control segments.
        assert!(
            sent.len() <= 2 * MAX_SEGMENTS_IN_FLIGHT,
            "poll_transmit never returns None"
        );
    }
    sent
}

/// Assert that the connection has nothing to send at `now`.
fn recv_nothing(conn: &mut Connection, now: Instant) {
    assert_eq!(recv(conn, now), vec![]);
}

/// Run the timers due at `now`, then drain what they made the connection send.
fn timeout(conn: &mut Connection, now: Instant) -> Vec<(Sent, Reason)> {
    conn.handle_timeout(now);
    recv(conn, now)
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn read_all(conn: &mut Connection) -> Vec<u8> {
    let mut buf = vec![0; conn.readable_bytes()];
    assert_eq!(conn.read(&mut buf), Ok(buf.len()));
    buf
}

/// `len` bytes of a recognisable pattern, starting at `start` in it.
fn bytes(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

// -------------------------------------------------------------------------------------------
// Fixtures: connections driven into each state by real segments

/// The settings these tests run with: the defaults with RACK-TLP off and [`newreno_config`]'s
/// window arithmetic, so that each test here sees the RFC 9293, 6298, 5681 and 6675 mechanism
/// it names, alone. `rack.rs` tests RACK-TLP, which is on by default.
fn classic_config() -> Config {
    Config {
        rack: false,
        ..newreno_config()
    }
}

/// The defaults without timestamps (RFC 7323), whose option would otherwise be on our SYN:
/// the fixtures' peers offer none, so beyond the SYN nothing changes. `timestamps.rs` tests
/// them.
fn untimestamped(config: Config) -> Config {
    Config {
        timestamps: false,
        ..config
    }
}

/// The defaults (RACK-TLP on), but with NewReno (RFC 5681) and RFC 5681's initial window (3
/// segments of 1200 bytes) in place of CUBIC and IW10, and without timestamps: the window arithmetic the loss
/// recovery tests count in, halving and one SMSS per ACK. `cubic.rs` and `slow_start.rs` test
/// the defaults' controller and initial window.
fn newreno_config() -> Config {
    Config {
        congestion_control: CongestionControl::NewReno,
        initial_window_segments: None,
        ..untimestamped(unpaced_defaults())
    }
}

/// The defaults with pacing off: each window leaves at once, as the tests of everything but
/// pacing count on. `pacing.rs` tests the pacer, which is on by default.
fn unpaced_defaults() -> Config {
    Config {
        pacing: false,
        ..Config::default()
    }
}

/// SYN-SENT: `connect` at 0 ms and the SYN drained.
fn syn_sent_with(config: Config) -> Connection {
    let mut conn = Connection::connect(config, remote_addr(), LOCAL_ISN).unwrap();
    let syn = recv(&mut conn, at(0));
    assert_eq!(syn.len(), 1);
    assert_eq!(conn.state(), State::SynSent);
    conn
}

fn syn_sent() -> Connection {
    syn_sent_with(classic_config())
}

/// SYN-RECEIVED: `listen`, the peer's SYN at 0 ms, our SYN-ACK drained.
fn syn_received_with(config: Config) -> Connection {
    syn_received_offered(config, PEER_SYN_OPTIONS)
}

/// SYN-RECEIVED from a peer's SYN that offers `options`.
fn syn_received_offered(config: Config, options: Options) -> Connection {
    let mut conn = Connection::listen(config, remote_addr(), LOCAL_ISN).unwrap();
    send(
        &mut conn,
        at(0),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            options,
            ..SEND_TEMPL
        },
    );
    let syn_ack = recv(&mut conn, at(0));
    assert_eq!(syn_ack.len(), 1);
    assert_eq!(conn.state(), State::SynReceived);
    conn
}

fn syn_received() -> Connection {
    syn_received_with(classic_config())
}

/// ESTABLISHED by an active open: SYN at 0 ms, SYN-ACK at 100 ms, our ACK drained.
fn established_with(config: Config) -> Connection {
    established_offered(config, PEER_SYN_OPTIONS)
}

/// ESTABLISHED by an active open whose SYN-ACK offers `options`.
fn established_offered(config: Config, options: Options) -> Connection {
    let mut conn = syn_sent_with(config);
    send(
        &mut conn,
        at(ESTABLISHED_AT),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            options,
            ..SEND_TEMPL
        },
    );
    let ack = recv(&mut conn, at(ESTABLISHED_AT));
    assert_eq!(ack.len(), 1);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    // Past the quick-ACK mode of a new connection, so that tests see the steady state's
    // delayed ACKs; `rack.rs` tests the quick ACKs.
    conn.receive.end_quick_acks();
    conn
}

fn established() -> Connection {
    established_with(classic_config())
}

/// FIN-WAIT-1: established, then `shutdown` at 1000 ms and our FIN drained.
fn fin_wait_1() -> Connection {
    let mut conn = established();
    conn.shutdown();
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ..RECV_TEMPL
            },
            Reason::Fin
        )]
    );
    assert_eq!(conn.state(), State::FinWait1);
    conn
}

/// FIN-WAIT-2: FIN-WAIT-1, then the ACK of our FIN at 1100 ms.
fn fin_wait_2() -> Connection {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_100));
    assert_eq!(conn.state(), State::FinWait2);
    conn
}

/// TIME-WAIT: FIN-WAIT-2, then the peer's FIN at 1200 ms and our ACK of it drained.
fn time_wait() -> Connection {
    let mut conn = fin_wait_2();
    send(
        &mut conn,
        at(1_200),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_200)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    conn
}

/// CLOSING: FIN-WAIT-1, then the peer's FIN at 1100 ms, crossing ours (it does not ACK it).
fn closing() -> Connection {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_100)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    conn
}

/// CLOSE-WAIT: established, then the peer's FIN at 1000 ms and our ACK of it drained.
fn close_wait() -> Connection {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    conn
}

/// LAST-ACK: CLOSE-WAIT, then `shutdown` at 1100 ms and our FIN drained.
fn last_ack() -> Connection {
    let mut conn = close_wait();
    conn.shutdown();
    assert_eq!(
        recv(&mut conn, at(1_100)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Fin
        )]
    );
    assert_eq!(conn.state(), State::LastAck);
    conn
}

// -------------------------------------------------------------------------------------------
// Helpers for tests in segments of `MSS` bytes (recovery, RACK, injection)

/// Our segment size, `Config::default().mss`.
const MSS: u32 = 1_200;

fn sack_blocks(blocks: &[(SeqNum, SeqNum)]) -> SackBlocks {
    let mut sack = SackBlocks::new();
    for &(left, right) in blocks {
        assert!(sack.push(SackBlock { left, right }));
    }
    sack
}

/// Where our sequence number `seq` sits in our byte stream.
fn offset(seq: SeqNum) -> usize {
    seq.wrapping_diff(LOCAL) as usize
}

/// Queue `segments` full segments of our pattern, continuing it from `next`.
fn write_segments(conn: &mut Connection, next: SeqNum, segments: u32) {
    let len = (segments * MSS) as usize;
    assert_eq!(conn.write(&bytes(offset(next), len)), Ok(len));
}

/// Our full-sized data segment starting at `seq`, as it goes out.
fn data(seq: SeqNum) -> Sent {
    Sent {
        seq,
        payload: bytes(offset(seq), MSS as usize),
        ..RECV_TEMPL
    }
}

/// The segments `range` of the flight that starts at `base`, sent for `reason`.
fn flight(base: SeqNum, range: std::ops::Range<u32>, reason: Reason) -> Vec<(Sent, Reason)> {
    range.map(|i| (data(base + i * MSS), reason)).collect()
}

/// An ACK from the peer.
fn ack(ack: SeqNum) -> Segment<'static> {
    Segment { ack, ..SEND_TEMPL }
}

/// An ACK from the peer with SACK blocks, most recent first.
fn ack_sack(ack: SeqNum, blocks: &[(SeqNum, SeqNum)]) -> Segment<'static> {
    Segment {
        ack,
        sack: sack_blocks(blocks),
        ..SEND_TEMPL
    }
}

/// As though `bytes` more of our data had been sent and acknowledged without loss: the send
/// sequence space of an idle connection moved on, as a long quiet transfer moves it. (Sending
/// gigabytes segment by segment would take minutes in a test.)
fn skip_sent_and_acknowledged(conn: &mut Connection, bytes: u32) {
    assert!(conn.is_send_complete());
    conn.send.skip_acknowledged(bytes);
}

// -------------------------------------------------------------------------------------------
// Fixtures for tests in segments of `MSS` bytes

/// ESTABLISHED by an active open: SYN at 0 ms, SYN-ACK from `peer_isn` at 100 ms, our ACK
/// drained.
fn established_from(config: Config, peer_isn: SeqNum) -> Connection {
    let mut conn = Connection::connect(config, remote_addr(), LOCAL_ISN).unwrap();
    assert_eq!(recv(&mut conn, at(0)).len(), 1);
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: peer_isn,
            options: PEER_SYN_OPTIONS,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(100)).len(), 1);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(conn.poll_event(), Some(Event::Connected));
    conn
}

/// ESTABLISHED with the congestion window opened by `rounds` rounds of slow start: round `r`
/// sends a full window at 200 + 200 r ms and the peer ACKs each segment alone 100 ms later,
/// so each ACK adds one SMSS (RFC 5681 equation (2)) and the window doubles each round:
/// 3600, 7200, 14 400 bytes. The RTT samples (all 100 ms) bring the RTO down to its 200 ms
/// floor. Returns the connection, idle, and where our next data byte goes. The window is kept
/// over the idle time before the tests' next flight (`Config::slow_start_after_idle` off):
/// `cwnd_validation.rs`'s tests cover the restart.
fn slow_started(config: Config, rounds: u32) -> (Connection, SeqNum) {
    let mut conn = established_with(Config {
        slow_start_after_idle: false,
        ..config
    });
    let mut next = LOCAL;
    for round in 0..rounds {
        let now = 200 + 200 * u64::from(round);
        let segments = conn.stats().congestion_window / MSS;
        write_segments(&mut conn, next, segments);
        assert_eq!(
            recv(&mut conn, at(now)),
            flight(next, 0..segments, Reason::NewData)
        );
        for i in 1..=segments {
            send(&mut conn, at(now + 100), ack(next + i * MSS));
        }
        next += segments * MSS;
        recv_nothing(&mut conn, at(now + 100));
    }
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, (3 * MSS) << rounds);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
    if rounds > 0 {
        assert_eq!(stats.rto, ms(200));
    }
    (conn, next)
}
