//! Segment-level tests of the state machine, in smoltcp's style.
//!
//! Each test starts a connection in the state under test (reached by really driving the
//! handshake and the segments that lead there), feeds segments built from [`SEND_TEMPL`] at an
//! explicit time, asserts the exact segments that come out (built from [`RECV_TEMPL`]) with
//! the reason each was sent, and ends by checking that nothing else was sent.
//!
//! Numbers: our ISN is 10 000 and the peer's 50 000, so our first data byte is [`LOCAL`]
//! (10 001) and the peer's is [`REMOTE`] (50 001). The handshake takes 100 ms, which gives an
//! RTT sample of 100 ms: SRTT 100 ms, RTTVAR 50 ms, RTO 100 + 4 * 50 = 300 ms (RFC 6298
//! section 2.2). Times are milliseconds since the epoch.

use super::*;
use crate::wire::WireError;
use std::time::Duration;

// -------------------------------------------------------------------------------------------
// Helpers

pub(super) const REMOTE_ADDR: &str = "192.0.2.7:4747";

pub(super) const LOCAL_ISN: SeqNum = SeqNum(10_000);
pub(super) const REMOTE_ISN: SeqNum = SeqNum(50_000);
/// Our first data byte: the ISN plus the SYN.
pub(super) const LOCAL: SeqNum = SeqNum(10_001);
/// The peer's first data byte.
pub(super) const REMOTE: SeqNum = SeqNum(50_001);
/// The window we advertise with an empty receive buffer: `Config::default().recv_buffer`.
pub(super) const WINDOW: u32 = 64 * 1024;
/// The window the peer advertises.
pub(super) const PEER_WINDOW: u32 = 65_535;
/// When the fixtures' handshake completes.
const ESTABLISHED_AT: u64 = 100;

/// What the peer sends, unless a test says otherwise: an ACK of everything we sent in the
/// handshake, at the peer's first data byte.
pub(super) const SEND_TEMPL: Segment<'static> = Segment {
    flags: Flags::ACK,
    seq: REMOTE,
    ack: LOCAL,
    window: PEER_WINDOW,
    sack: SackBlocks::new(),
    payload: &[],
};

/// An owned copy of a segment we sent, to compare with `assert_eq!`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) flags: Flags,
    pub(super) seq: SeqNum,
    pub(super) ack: SeqNum,
    pub(super) window: u32,
    pub(super) sack: SackBlocks,
    pub(super) payload: Vec<u8>,
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
pub(super) const RECV_TEMPL: Sent = Sent {
    flags: Flags::ACK,
    seq: LOCAL,
    ack: REMOTE,
    window: WINDOW,
    sack: SackBlocks::new(),
    payload: Vec::new(),
};

/// The RST that `abort` and bad ACKs produce: no ACK, no window.
const RST_TEMPL: Sent = Sent {
    flags: Flags::RST,
    seq: LOCAL,
    ack: SeqNum(0),
    window: 0,
    sack: SackBlocks::new(),
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
            payload: segment.payload.to_vec(),
        }
    }
}

pub(super) fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

pub(super) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub(super) fn remote_addr() -> SocketAddr {
    REMOTE_ADDR.parse().unwrap()
}

/// `sent` with these SACK blocks, most recent first.
pub(super) fn with_sack(sent: Sent, blocks: &[(SeqNum, SeqNum)]) -> Sent {
    let mut sack = SackBlocks::new();
    for &(left, right) in blocks {
        sack.push(SackBlock { left, right });
    }
    Sent { sack, ..sent }
}

/// Feed one segment from the peer.
pub(super) fn send(conn: &mut Connection, now: Instant, segment: Segment<'_>) {
    conn.handle_segment(now, &segment);
}

/// Drain everything the connection wants to send at `now`, decoded back from the wire.
pub(super) fn recv(conn: &mut Connection, now: Instant) -> Vec<(Sent, Reason)> {
    let mut sent = Vec::new();
    while let Some(transmit) = conn.poll_transmit(now) {
        assert_eq!(transmit.destination, remote_addr());
        let segment = Segment::parse(&transmit.contents).expect("we emit valid datagrams");
        sent.push((Sent::from(segment), transmit.reason));
        assert!(sent.len() <= 1000, "poll_transmit never returns None");
    }
    sent
}

/// Assert that the connection has nothing to send at `now`.
pub(super) fn recv_nothing(conn: &mut Connection, now: Instant) {
    assert_eq!(recv(conn, now), vec![]);
}

/// Run the timers due at `now`, then drain what they made the connection send.
pub(super) fn timeout(conn: &mut Connection, now: Instant) -> Vec<(Sent, Reason)> {
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
pub(super) fn bytes(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

// -------------------------------------------------------------------------------------------
// Fixtures: connections driven into each state by real segments

/// The settings these tests run with: the defaults with RACK-TLP off, so that each test here
/// sees the RFC 9293, 6298, 5681 and 6675 mechanism it names, alone. `tests_rack.rs` tests
/// RACK-TLP, which is on by default.
pub(super) fn classic_config() -> Config {
    Config {
        rack: false,
        ..Config::default()
    }
}

/// SYN-SENT: `connect` at 0 ms and the SYN drained.
fn syn_sent_with(config: Config) -> Connection {
    let mut conn = Connection::connect(config, remote_addr(), LOCAL_ISN);
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
    let mut conn = Connection::listen(config, remote_addr(), LOCAL_ISN);
    send(
        &mut conn,
        at(0),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
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
pub(super) fn established_with(config: Config) -> Connection {
    let mut conn = syn_sent_with(config);
    send(
        &mut conn,
        at(ESTABLISHED_AT),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            ..SEND_TEMPL
        },
    );
    let ack = recv(&mut conn, at(ESTABLISHED_AT));
    assert_eq!(ack.len(), 1);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    // Past the quick-ACK mode of a new connection, so that tests see the steady state's
    // delayed ACKs; `tests_rack.rs` tests the quick ACKs.
    conn.quick_acks = 0;
    conn
}

pub(super) fn established() -> Connection {
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
// SYN-SENT

#[test]
fn connect_sends_syn() {
    let mut conn = Connection::connect(Config::default(), remote_addr(), LOCAL_ISN);
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN,
                seq: LOCAL_ISN,
                ack: SeqNum(0),
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert_eq!(conn.state(), State::SynSent);
    // RFC 6298 section 2.1: the first RTO is the initial one, 1 s.
    assert_eq!(conn.poll_timeout(), Some(at(1_000)));
    recv_nothing(&mut conn, at(0));
}

#[test]
fn syn_ack_completes_active_open() {
    let mut conn = syn_sent();
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(RECV_TEMPL, Reason::Handshake)]
    );
    assert_eq!(conn.state(), State::Established);
    assert!(conn.is_connected());
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    // The SYN's round trip is the first RTT sample (RFC 6298 section 2.2).
    let stats = conn.stats();
    assert_eq!(stats.smoothed_rtt, Some(ms(100)));
    assert_eq!(stats.rtt_variance, ms(50));
    assert_eq!(stats.rto, ms(300));
    // Nothing in flight: only the keepalive timer runs.
    assert_eq!(conn.timers.get(Timer::Retransmit), None);
    assert_eq!(conn.poll_timeout(), Some(at(100 + 15_000)));
    recv_nothing(&mut conn, at(100));
}

#[test]
fn data_written_before_the_handshake_follows_it() {
    let mut conn = syn_sent();
    assert_eq!(conn.write(b"early"), Ok(5));
    recv_nothing(&mut conn, at(50));
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            ..SEND_TEMPL
        },
    );
    // The data segment carries the ACK that completes the handshake.
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(
            Sent {
                payload: b"early".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    recv_nothing(&mut conn, at(100));
}

#[test]
fn syn_retransmitted_with_backoff_then_times_out() {
    let mut conn = syn_sent_with(Config {
        max_syn_retransmissions: 3,
        ..classic_config()
    });
    let syn = |timeout| {
        (
            Sent {
                flags: Flags::SYN,
                seq: LOCAL_ISN,
                ack: SeqNum(0),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout },
        )
    };
    // RFC 6298 sections 5.5 and 5.6: 1 s, then doubled each time.
    assert_eq!(timeout(&mut conn, at(999)), vec![]);
    assert_eq!(timeout(&mut conn, at(1_000)), vec![syn(1)]);
    assert_eq!(conn.poll_timeout(), Some(at(3_000)));
    assert_eq!(timeout(&mut conn, at(3_000)), vec![syn(2)]);
    assert_eq!(conn.poll_timeout(), Some(at(7_000)));
    assert_eq!(timeout(&mut conn, at(7_000)), vec![syn(3)]);
    assert_eq!(conn.poll_timeout(), Some(at(15_000)));
    assert_eq!(timeout(&mut conn, at(15_000)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), Some(ConnectionError::TimedOut));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::TimedOut))]
    );
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.stats().retransmissions.rto, 3);
    recv_nothing(&mut conn, at(60_000));
}

#[test]
fn data_after_a_syn_timeout_starts_with_a_three_second_rto() {
    let mut conn = syn_sent();
    assert_eq!(timeout(&mut conn, at(1_000)).len(), 1, "the SYN again");
    // The SYN-ACK answers the retransmitted SYN: Karn's rule allows no RTT sample.
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_100)).len(), 1, "the handshake's ACK");
    assert_eq!(conn.stats().smoothed_rtt, None);
    // RFC 6298 section 5.7: the RTO is re-initialized to 3 s once data flows.
    conn.write(b"data").unwrap();
    assert_eq!(recv(&mut conn, at(1_100)).len(), 1);
    assert_eq!(conn.timers.get(Timer::Retransmit), Some(at(4_100)));
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn syn_sent_rst_with_acceptable_ack_is_refused() {
    let mut conn = syn_sent();
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::RST | Flags::ACK,
            seq: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), Some(ConnectionError::Refused));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Refused))]
    );
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(100));
}

#[test]
fn syn_sent_rst_without_acceptable_ack_is_ignored() {
    let mut conn = syn_sent();
    // No ACK at all: RFC 9293 section 3.10.7.3 drops it.
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::RST,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // An ACK of something we never sent: dropped too, and a RST is never answered.
    send(
        &mut conn,
        at(110),
        Segment {
            flags: Flags::RST | Flags::ACK,
            ack: LOCAL + 100,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::SynSent);
    assert_eq!(events(&mut conn), vec![]);
    recv_nothing(&mut conn, at(110));
}

#[test]
fn syn_sent_unacceptable_ack_gets_rst() {
    let mut conn = syn_sent();
    // SEG.ACK =< ISS: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 section 3.10.7.3).
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            ack: LOCAL_ISN,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(
            Sent {
                seq: LOCAL_ISN,
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
    assert_eq!(conn.state(), State::SynSent);
    recv_nothing(&mut conn, at(100));
}

#[test]
fn syn_sent_simultaneous_open_answers_syn_ack() {
    let mut conn = syn_sent();
    // The peer's own SYN crosses ours (RFC 9293 section 3.5, figure 8).
    send(
        &mut conn,
        at(50),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(50)),
        vec![(
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert_eq!(conn.state(), State::SynReceived);
    send(&mut conn, at(100), SEND_TEMPL);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    recv_nothing(&mut conn, at(100));
}

#[test]
fn syn_sent_abort_sends_nothing() {
    let mut conn = syn_sent();
    conn.abort();
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Aborted))]
    );
    recv_nothing(&mut conn, at(10));
}

// -------------------------------------------------------------------------------------------
// LISTEN

#[test]
fn listen_syn_gets_syn_ack() {
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN);
    recv_nothing(&mut conn, at(0));
    send(
        &mut conn,
        at(0),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert_eq!(conn.state(), State::SynReceived);
    recv_nothing(&mut conn, at(0));
}

#[test]
fn listen_ack_gets_rst() {
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN);
    send(
        &mut conn,
        at(0),
        Segment {
            ack: SeqNum(777),
            ..SEND_TEMPL
        },
    );
    // <SEQ=SEG.ACK><CTL=RST> (RFC 9293 section 3.10.7.2).
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                seq: SeqNum(777),
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
    assert_eq!(conn.state(), State::Listen);
    recv_nothing(&mut conn, at(0));
}

#[test]
fn listen_rst_is_ignored() {
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN);
    send(
        &mut conn,
        at(0),
        Segment {
            flags: Flags::RST | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Listen);
    recv_nothing(&mut conn, at(0));
}

// -------------------------------------------------------------------------------------------
// SYN-RECEIVED

#[test]
fn syn_received_ack_completes_passive_open() {
    let mut conn = syn_received();
    send(&mut conn, at(40), SEND_TEMPL);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    // The SYN-ACK's round trip is an RTT sample.
    assert_eq!(conn.stats().smoothed_rtt, Some(ms(40)));
    assert_eq!(conn.timers.get(Timer::Retransmit), None);
    recv_nothing(&mut conn, at(40));
}

#[test]
fn syn_received_ack_with_data_is_delivered() {
    let mut conn = syn_received();
    send(
        &mut conn,
        at(40),
        Segment {
            payload: b"hi",
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(read_all(&mut conn), b"hi");
    // A new connection acknowledges its first segments at once (quick-ACK mode).
    assert_eq!(
        recv(&mut conn, at(40)),
        vec![(
            Sent {
                ack: REMOTE + 2,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    recv_nothing(&mut conn, at(40));
}

#[test]
fn syn_ack_retransmitted_with_backoff_then_times_out() {
    let mut conn = syn_received_with(Config {
        max_syn_retransmissions: 3,
        ..classic_config()
    });
    let syn_ack = |timeout| {
        (
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout },
        )
    };
    assert_eq!(conn.poll_timeout(), Some(at(1_000)));
    assert_eq!(timeout(&mut conn, at(1_000)), vec![syn_ack(1)]);
    assert_eq!(conn.poll_timeout(), Some(at(3_000)));
    assert_eq!(timeout(&mut conn, at(3_000)), vec![syn_ack(2)]);
    assert_eq!(conn.poll_timeout(), Some(at(7_000)));
    assert_eq!(timeout(&mut conn, at(7_000)), vec![syn_ack(3)]);
    assert_eq!(conn.poll_timeout(), Some(at(15_000)));
    assert_eq!(timeout(&mut conn, at(15_000)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::TimedOut))]
    );
    recv_nothing(&mut conn, at(60_000));
}

#[test]
fn syn_received_duplicate_syn_resends_syn_ack() {
    let mut conn = syn_received();
    // Our SYN-ACK was lost and the peer sent its SYN again: it is below RCV.NXT, so it is
    // answered with an acknowledgment, which in SYN-RECEIVED is the SYN-ACK.
    send(
        &mut conn,
        at(500),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(500)),
        vec![(
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert_eq!(conn.state(), State::SynReceived);
    recv_nothing(&mut conn, at(500));
}

#[test]
fn syn_received_unacceptable_ack_gets_rst() {
    let mut conn = syn_received();
    send(
        &mut conn,
        at(40),
        Segment {
            ack: LOCAL + 100,
            ..SEND_TEMPL
        },
    );
    // <SEQ=SEG.ACK><CTL=RST> (RFC 9293 section 3.10.7.4, fifth check).
    assert_eq!(
        recv(&mut conn, at(40)),
        vec![(
            Sent {
                seq: LOCAL + 100,
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
    assert_eq!(conn.state(), State::SynReceived);
    recv_nothing(&mut conn, at(40));
}

#[test]
fn syn_received_rst_closes() {
    let mut conn = syn_received();
    send(
        &mut conn,
        at(40),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 9293 returns a passive open to LISTEN; Ferry's endpoint makes one connection per
    // SYN, so this one simply ends.
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.is_connected());
    recv_nothing(&mut conn, at(40));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: sending

#[test]
fn write_sends_data_and_ack_stops_the_timer() {
    let mut conn = established();
    assert_eq!(conn.write(b"hello"), Ok(5));
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                payload: b"hello".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    // RFC 6298 section 5.1: the timer runs while data is outstanding.
    assert_eq!(conn.timers.get(Timer::Retransmit), Some(at(1_300)));
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    assert!(!conn.is_send_complete());

    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 5,
            ..SEND_TEMPL
        },
    );
    // Section 5.2: all acknowledged, the timer stops; only the keepalive remains.
    assert_eq!(conn.timers.get(Timer::Retransmit), None);
    assert_eq!(conn.poll_timeout(), Some(at(1_100 + 15_000)));
    assert!(conn.is_send_complete());
    assert!(conn.send_buffer.is_empty());
    assert_eq!(conn.writable_bytes(), classic_config().send_buffer);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn write_is_segmented_at_mss() {
    let mut conn = established();
    let data = bytes(0, 3_000);
    assert_eq!(conn.write(&data), Ok(3_000));
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![
            (
                Sent {
                    payload: data[..1_200].to_vec(),
                    ..RECV_TEMPL
                },
                Reason::NewData
            ),
            (
                Sent {
                    seq: LOCAL + 1_200,
                    payload: data[1_200..2_400].to_vec(),
                    ..RECV_TEMPL
                },
                Reason::NewData
            ),
            (
                Sent {
                    seq: LOCAL + 2_400,
                    payload: data[2_400..].to_vec(),
                    ..RECV_TEMPL
                },
                Reason::NewData
            ),
        ]
    );
    // A partial ACK restarts the timer (RFC 6298 section 5.3) and frees what it covers.
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 1_200,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.send_buffer.len(), 1_800);
    assert_eq!(
        conn.timers.get(Timer::Retransmit),
        Some(at(1_100) + conn.stats().rto)
    );
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn write_respects_the_peer_window_and_avoids_silly_segments() {
    let mut conn = established();
    // The peer offered 65,535 bytes in its SYN-ACK; now it offers 1,000.
    send(
        &mut conn,
        at(500),
        Segment {
            window: 1_000,
            ..SEND_TEMPL
        },
    );
    conn.write(&bytes(0, 1_500)).unwrap();
    // A 1,000-byte segment of 1,500 waiting is less than half the largest window the peer
    // offered: silly window avoidance (RFC 9293 section 3.8.6.2.1) waits for it to open.
    recv_nothing(&mut conn, at(1_000));
    // It does not: the persist timer, one RTO later, sends what fits.
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(
            Sent {
                payload: bytes(0, 1_000),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    send(
        &mut conn,
        at(1_400),
        Segment {
            ack: LOCAL + 1_000,
            window: 1_000,
            ..SEND_TEMPL
        },
    );
    // The rest fits whole: no reason to wait.
    assert_eq!(
        recv(&mut conn, at(1_400)),
        vec![(
            Sent {
                seq: LOCAL + 1_000,
                payload: bytes(1_000, 500),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    recv_nothing(&mut conn, at(1_400));
}

#[test]
fn rtt_sample_updates_rto() {
    let mut conn = established();
    conn.write(b"x").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    send(
        &mut conn,
        at(1_180),
        Segment {
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    // RFC 6298 section 2.3 with R' = 180 ms after a first sample of 100 ms:
    // RTTVAR = 3/4 * 50 + 1/4 * |100 - 180| = 57.5 ms, SRTT = 7/8 * 100 + 1/8 * 180 = 110 ms,
    // RTO = 110 + 4 * 57.5 = 340 ms.
    let stats = conn.stats();
    assert_eq!(stats.rtt_variance, Duration::from_micros(57_500));
    assert_eq!(stats.smoothed_rtt, Some(ms(110)));
    assert_eq!(stats.rto, ms(340));
    recv_nothing(&mut conn, at(1_180));
}

#[test]
fn rto_retransmits_with_backoff() {
    let mut conn = established();
    conn.write(b"data").unwrap();
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                payload: b"data".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    let resent = |timeout| {
        (
            Sent {
                payload: b"data".to_vec(),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout },
        )
    };
    // RTO 300 ms from the handshake, doubled at each expiry (RFC 6298 section 5.5).
    assert_eq!(timeout(&mut conn, at(1_299)), vec![]);
    assert_eq!(timeout(&mut conn, at(1_300)), vec![resent(1)]);
    assert_eq!(conn.stats().rto, ms(600));
    assert_eq!(conn.poll_timeout(), Some(at(1_900)));
    assert_eq!(timeout(&mut conn, at(1_900)), vec![resent(2)]);
    assert_eq!(conn.stats().rto, ms(1_200));
    assert_eq!(conn.poll_timeout(), Some(at(3_100)));
    assert_eq!(timeout(&mut conn, at(3_100)), vec![resent(3)]);
    assert_eq!(conn.stats().rto, ms(2_400));
    assert_eq!(conn.poll_timeout(), Some(at(5_500)));
    let stats = conn.stats();
    assert_eq!(stats.rto_timeouts, 3);
    assert_eq!(stats.retransmissions.rto, 3);
    assert_eq!(stats.bytes_retransmitted, 12);
    recv_nothing(&mut conn, at(3_100));
}

#[test]
fn rto_resends_the_whole_flight_in_slow_start() {
    let mut conn = established();
    conn.write(&bytes(0, 2_000)).unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 2);
    // Every segment in flight is lost; cwnd is one segment (RFC 5681 section 3.1), so the
    // oldest goes first, alone.
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(
            Sent {
                payload: bytes(0, 1_200),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    assert_eq!(conn.stats().congestion_window, 1_200);
    assert_eq!(conn.stats().slow_start_threshold, 2 * 1_200);
    recv_nothing(&mut conn, at(1_300));
    // Its ACK opens the window by a segment: the rest of the flight follows.
    send(
        &mut conn,
        at(1_400),
        Segment {
            ack: LOCAL + 1_200,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_400)),
        vec![(
            Sent {
                seq: LOCAL + 1_200,
                payload: bytes(1_200, 800),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(1_400));
}

#[test]
fn ack_of_retransmission_gives_no_rtt_sample() {
    let mut conn = established();
    conn.write(b"data").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    assert_eq!(timeout(&mut conn, at(1_300)).len(), 1);
    send(
        &mut conn,
        at(1_350),
        Segment {
            ack: LOCAL + 4,
            ..SEND_TEMPL
        },
    );
    // Karn's rule (RFC 6298 section 3): ambiguous, so no sample. But new data was
    // acknowledged, so the loss episode and its backoff are over: the RTO is 300 ms again,
    // not the 600 ms the timeout doubled it to (docs/protocol.md section 8).
    let stats = conn.stats();
    assert_eq!(stats.smoothed_rtt, Some(ms(100)));
    assert_eq!(stats.rtt_variance, ms(50));
    assert_eq!(stats.rto, ms(300));

    // New data acknowledged after 100 ms is a valid sample: RTTVAR = 3/4 * 50 = 37.5 ms,
    // SRTT = 100 ms, RTO = 100 + 150 ms.
    conn.write(b"more").unwrap();
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                seq: LOCAL + 4,
                payload: b"more".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    send(
        &mut conn,
        at(2_100),
        Segment {
            ack: LOCAL + 8,
            ..SEND_TEMPL
        },
    );
    let stats = conn.stats();
    assert_eq!(stats.smoothed_rtt, Some(ms(100)));
    assert_eq!(stats.rtt_variance, Duration::from_micros(37_500));
    assert_eq!(stats.rto, ms(250));
    recv_nothing(&mut conn, at(2_100));
}

#[test]
fn user_timeout_after_max_retransmissions() {
    let mut conn = established_with(Config {
        max_retransmissions: 2,
        ..classic_config()
    });
    conn.write(b"data").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    assert_eq!(timeout(&mut conn, at(1_300)).len(), 1);
    assert_eq!(timeout(&mut conn, at(1_900)).len(), 1);
    assert_eq!(conn.poll_timeout(), Some(at(3_100)));
    assert_eq!(timeout(&mut conn, at(3_100)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::TimedOut))]
    );
    assert_eq!(
        conn.read(&mut [0; 8]),
        Err(ReadError::Failed(ConnectionError::TimedOut))
    );
    assert_eq!(
        conn.write(b"x"),
        Err(WriteError::Failed(ConnectionError::TimedOut))
    );
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(10_000));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: receiving and acknowledging

#[test]
fn one_segment_gets_a_delayed_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_000));
    // RFC 5681 section 4.2: the ACK may wait, here the configured 40 ms.
    assert_eq!(conn.poll_timeout(), Some(at(1_040)));
    assert_eq!(timeout(&mut conn, at(1_039)), vec![]);
    assert_eq!(
        timeout(&mut conn, at(1_040)),
        vec![(
            Sent {
                ack: REMOTE + 100,
                window: WINDOW - 100,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), bytes(0, 100));
    recv_nothing(&mut conn, at(1_040));
}

#[test]
fn two_full_segments_are_acked_at_once() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 1_200),
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_000));
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 1_200,
            payload: &bytes(1_200, 1_200),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: WINDOW - 2_400,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // The delayed ACK is settled too.
    assert_eq!(conn.timers.get(Timer::DelayedAck), None);
    assert_eq!(timeout(&mut conn, at(1_040)), vec![]);
    recv_nothing(&mut conn, at(1_040));
}

#[test]
fn out_of_order_segment_gets_duplicate_ack_and_hole_fill_acks_all() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 100,
            payload: &bytes(100, 100),
            ..SEND_TEMPL
        },
    );
    // RFC 5681 section 4.2: an out-of-order segment is acknowledged at once.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 100, REMOTE + 200)]),
            Reason::Ack
        )]
    );
    assert_eq!(conn.readable_bytes(), 0);
    assert_eq!(conn.stats().out_of_order_segments, 1);

    send(
        &mut conn,
        at(1_010),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    // So is the segment that fills the hole, and the ACK covers both.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 200,
                window: WINDOW - 200,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), bytes(0, 200));
    recv_nothing(&mut conn, at(1_010));
}

#[test]
fn duplicate_segment_is_acked_and_dropped() {
    let mut conn = established();
    let data = bytes(0, 100);
    let segment = Segment {
        payload: &data,
        ..SEND_TEMPL
    };
    send(&mut conn, at(1_000), segment);
    assert_eq!(timeout(&mut conn, at(1_040)).len(), 1);
    send(&mut conn, at(1_500), segment);
    // The ACK reports the duplicate in a D-SACK block below the cumulative ACK (RFC 2883).
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            with_sack(
                Sent {
                    ack: REMOTE + 100,
                    window: WINDOW - 100,
                    ..RECV_TEMPL
                },
                &[(REMOTE, REMOTE + 100)]
            ),
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), data);
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn full_receive_buffer_advertises_zero_window_and_read_updates_it() {
    let mut conn = established_with(Config {
        recv_buffer: 2_400,
        ..classic_config()
    });
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 1_200),
            ..SEND_TEMPL
        },
    );
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 1_200,
            payload: &bytes(1_200, 1_200),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 0,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // A probe into the closed window: the byte is not taken, the ACK repeats the zero window
    // (RFC 9293 section 3.8.6.1).
    send(
        &mut conn,
        at(1_500),
        Segment {
            seq: REMOTE + 2_400,
            payload: b"!",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 0,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // The application reads a segment's worth: the window opened by a full MSS, so say so.
    let mut buf = [0; 1_200];
    assert_eq!(conn.read(&mut buf), Ok(1_200));
    assert_eq!(buf.to_vec(), bytes(0, 1_200));
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 1_200,
                ..RECV_TEMPL
            },
            Reason::WindowUpdate
        )]
    );
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn small_read_sends_no_window_update() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    assert_eq!(timeout(&mut conn, at(1_040)).len(), 1);
    // The window is nearly all open still: no silly window update (section 3.8.6.2.2).
    assert_eq!(read_all(&mut conn).len(), 100);
    recv_nothing(&mut conn, at(1_050));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: the peer's zero window

#[test]
fn zero_window_is_probed_with_backoff_until_it_opens() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    conn.write(b"0123456789").unwrap();
    recv_nothing(&mut conn, at(1_000));
    // The persist timer runs with the RTO (300 ms) and backs off like it.
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    let probe = (
        Sent {
            payload: b"0".to_vec(),
            ..RECV_TEMPL
        },
        Reason::WindowProbe,
    );
    assert_eq!(timeout(&mut conn, at(1_300)), vec![probe.clone()]);
    assert_eq!(conn.poll_timeout(), Some(at(1_900)));
    // The peer answers, its window still closed: nothing to send until the next probe.
    send(
        &mut conn,
        at(1_310),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_310));
    assert_eq!(timeout(&mut conn, at(1_900)), vec![probe]);
    assert_eq!(conn.poll_timeout(), Some(at(3_100)));
    assert_eq!(conn.stats().window_probes, 2);

    // The window opened and the probe's byte was taken: the rest flows.
    send(
        &mut conn,
        at(2_000),
        Segment {
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                payload: b"123456789".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.timers.get(Timer::Persist), None);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn data_after_an_untaken_probe_is_new_data_not_a_retransmission() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    conn.write(b"0123456789").unwrap();
    recv_nothing(&mut conn, at(1_000));
    assert_eq!(timeout(&mut conn, at(1_300)).len(), 1, "one window probe");
    // The window opens, but the probe's byte was not taken.
    send(&mut conn, at(1_310), SEND_TEMPL);
    assert_eq!(
        recv(&mut conn, at(1_310)),
        vec![(
            Sent {
                payload: b"0123456789".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.stats().retransmissions.total(), 0);
    recv_nothing(&mut conn, at(1_310));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: keepalive

fn keepalive_config() -> Config {
    Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_probes: 3,
        ..classic_config()
    }
}

/// RFC 9293 section 3.8.4: SEG.SEQ = SND.NXT - 1, which the peer must answer.
fn keepalive() -> (Sent, Reason) {
    (
        Sent {
            seq: LOCAL - 1,
            ..RECV_TEMPL
        },
        Reason::Keepalive,
    )
}

#[test]
fn idle_connection_sends_keepalives_then_times_out() {
    let mut conn = established_with(keepalive_config());
    assert_eq!(conn.poll_timeout(), Some(at(15_100)));
    assert_eq!(timeout(&mut conn, at(15_099)), vec![]);
    assert_eq!(timeout(&mut conn, at(15_100)), vec![keepalive()]);
    assert_eq!(conn.poll_timeout(), Some(at(30_100)));
    assert_eq!(timeout(&mut conn, at(30_100)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(45_100)), vec![keepalive()]);
    assert_eq!(conn.stats().keepalives, 3);
    assert_eq!(conn.poll_timeout(), Some(at(60_100)));
    assert_eq!(timeout(&mut conn, at(60_100)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::TimedOut))]
    );
    recv_nothing(&mut conn, at(60_100));
}

#[test]
fn answered_keepalive_resets_the_count() {
    let mut conn = established_with(keepalive_config());
    assert_eq!(timeout(&mut conn, at(15_100)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(30_100)), vec![keepalive()]);
    // The peer answers the second probe.
    send(&mut conn, at(30_150), SEND_TEMPL);
    recv_nothing(&mut conn, at(30_150));
    assert_eq!(conn.poll_timeout(), Some(at(45_150)));
    // Three more unanswered probes are allowed before giving up.
    assert_eq!(timeout(&mut conn, at(45_150)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(60_150)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(75_150)), vec![keepalive()]);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(timeout(&mut conn, at(90_150)), vec![]);
    assert_eq!(conn.error(), Some(ConnectionError::TimedOut));
    recv_nothing(&mut conn, at(90_150));
}

#[test]
fn no_keepalive_while_data_is_outstanding() {
    let mut conn = established_with(Config {
        max_retransmissions: 100,
        max_rto: Duration::from_secs(4),
        ..keepalive_config()
    });
    conn.write(b"x").unwrap();
    assert_eq!(recv(&mut conn, at(15_000)).len(), 1);
    // At 15.1 s the retransmission timer is watching the peer: no keepalive goes out.
    let sent = timeout(&mut conn, at(15_100));
    assert!(sent.iter().all(|(_, reason)| *reason != Reason::Keepalive));
    recv_nothing(&mut conn, at(15_100));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: RST and abort

#[test]
fn established_rst_at_rcv_nxt_resets() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), Some(ConnectionError::Reset));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    assert_eq!(
        conn.read(&mut [0; 8]),
        Err(ReadError::Failed(ConnectionError::Reset))
    );
    assert_eq!(
        conn.write(b"x"),
        Err(WriteError::Failed(ConnectionError::Reset))
    );
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_rst_in_window_gets_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 10,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 5961 section 3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_rst_out_of_window_is_dropped() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + WINDOW + 10,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE - 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_syn_gets_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::SYN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 5961 section 4.2 (RFC 9293 section 3.10.7.4, fourth check).
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_ack_of_unsent_data_gets_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            ack: LOCAL + 100,
            ..SEND_TEMPL
        },
    );
    // RFC 9293 section 3.10.7.4: SEG.ACK > SND.NXT, send an ACK and drop the segment.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn abort_sends_rst_at_snd_nxt() {
    let mut conn = established();
    conn.write(b"hello").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    conn.abort();
    // RFC 9293 section 3.10.5: <SEQ=SND.NXT><CTL=RST>.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                seq: LOCAL + 5,
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Aborted))]
    );
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(1_010));
}

#[test]
fn reset_reply_answers_strays() {
    // With an ACK: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 section 3.10.7.1).
    let stray_ack = Segment {
        seq: SeqNum(7),
        ack: SeqNum(1_234),
        payload: b"abc",
        ..SEND_TEMPL
    };
    assert_eq!(
        reset_reply(&stray_ack),
        Some(Segment {
            flags: Flags::RST,
            seq: SeqNum(1_234),
            ack: SeqNum(0),
            window: 0,
            sack: SackBlocks::new(),
            payload: &[],
        })
    );
    // Without: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, the SYN and FIN counted.
    let stray_syn = Segment {
        flags: Flags::SYN,
        seq: SeqNum(7),
        ack: SeqNum(0),
        ..SEND_TEMPL
    };
    assert_eq!(
        reset_reply(&stray_syn),
        Some(Segment {
            flags: Flags::RST | Flags::ACK,
            seq: SeqNum(0),
            ack: SeqNum(8),
            window: 0,
            sack: SackBlocks::new(),
            payload: &[],
        })
    );
    let stray_data_fin = Segment {
        flags: Flags::FIN,
        seq: SeqNum(u32::MAX - 1),
        payload: b"abc",
        ..SEND_TEMPL
    };
    assert_eq!(reset_reply(&stray_data_fin).unwrap().ack, SeqNum(2));
    // A RST is never answered.
    let stray_rst = Segment {
        flags: Flags::RST | Flags::ACK,
        ..SEND_TEMPL
    };
    assert_eq!(reset_reply(&stray_rst), None);
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: the peer closes first (CLOSE-WAIT, LAST-ACK)

#[test]
fn peer_data_and_fin_in_one_segment() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            payload: b"bye",
            ..SEND_TEMPL
        },
    );
    // The FIN is processed with the data it follows and acknowledged at once.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                ack: REMOTE + 4,
                window: WINDOW - 3,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    assert_eq!(read_all(&mut conn), b"bye");
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn a_fin_ahead_of_a_hole_is_forgotten_until_sent_again_in_order() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 3,
            payload: b"def",
            ..SEND_TEMPL
        },
    );
    // The duplicate ACK reports the held bytes in a SACK block (RFC 2018).
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 3, REMOTE + 6)]),
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::Established);
    send(
        &mut conn,
        at(1_010),
        Segment {
            payload: b"abc",
            ..SEND_TEMPL
        },
    );
    // The data is complete; the FIN, which may have been forged, is not believed.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 6,
                window: WINDOW - 6,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::Established);
    send(
        &mut conn,
        at(1_020),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 6,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_020)),
        vec![(
            Sent {
                ack: REMOTE + 7,
                window: WINDOW - 6,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(read_all(&mut conn), b"abcdef");
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    recv_nothing(&mut conn, at(1_020));
}

#[test]
fn close_wait_reads_end_of_stream_and_can_still_write() {
    let mut conn = close_wait();
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    assert_eq!(conn.write(b"reply"), Ok(5));
    assert_eq!(
        recv(&mut conn, at(1_050)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                payload: b"reply".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    send(
        &mut conn,
        at(1_100),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 5,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::CloseWait);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn close_wait_retransmitted_fin_is_acked() {
    let mut conn = close_wait();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn last_ack_closes_cleanly_on_ack_of_fin() {
    let mut conn = last_ack();
    send(
        &mut conn,
        at(1_200),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(1_200));
}

#[test]
fn last_ack_retransmits_fin() {
    let mut conn = last_ack();
    assert_eq!(
        timeout(&mut conn, at(1_400)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(1_400));
}

#[test]
fn close_wait_rst_resets() {
    let mut conn = close_wait();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn last_ack_rst_closes_without_error() {
    let mut conn = last_ack();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 9293 section 3.10.7.4: in CLOSING, LAST-ACK and TIME-WAIT a RST just closes.
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    recv_nothing(&mut conn, at(1_500));
}

// -------------------------------------------------------------------------------------------
// FIN-WAIT-1 and FIN-WAIT-2: we close first

#[test]
fn shutdown_sends_fin_after_the_data() {
    let mut conn = established();
    conn.write(b"last words").unwrap();
    conn.shutdown();
    assert_eq!(conn.state(), State::FinWait1);
    // The FIN rides on the last data segment.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                payload: b"last words".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.write(b"more"), Err(WriteError::ShutDown));
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 11,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::FinWait2);
    assert!(conn.is_send_complete());
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_1_partial_ack_stays() {
    let mut conn = established();
    conn.write(b"abc").unwrap();
    conn.shutdown();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    // The data is acknowledged but not the FIN.
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 3,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::FinWait1);
    let deadline = at(1_100) + conn.stats().rto;
    assert_eq!(
        timeout(&mut conn, deadline),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                seq: LOCAL + 3,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn fin_wait_1_retransmits_fin() {
    let mut conn = fin_wait_1();
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(1_300));
}

#[test]
fn fin_wait_1_fin_with_ack_of_ours_goes_to_time_wait() {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
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
    assert_eq!(conn.state(), State::TimeWait);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_2_still_receives_until_peer_fin() {
    let mut conn = fin_wait_2();
    send(
        &mut conn,
        at(1_200),
        Segment {
            ack: LOCAL + 1,
            payload: b"still talking",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        timeout(&mut conn, at(1_240)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 13,
                window: WINDOW - 13,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), b"still talking");
    send(
        &mut conn,
        at(1_300),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 13,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_300)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 14,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    recv_nothing(&mut conn, at(1_300));
}

#[test]
fn fin_wait_1_rst_resets() {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_2_rst_resets() {
    let mut conn = fin_wait_2();
    send(
        &mut conn,
        at(1_200),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_200));
}

// -------------------------------------------------------------------------------------------
// CLOSING: simultaneous close

#[test]
fn closing_ack_of_fin_goes_to_time_wait() {
    let mut conn = closing();
    send(
        &mut conn,
        at(1_150),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(conn.poll_timeout(), Some(at(1_150 + 4_000)));
    recv_nothing(&mut conn, at(1_150));
}

#[test]
fn closing_rst_closes_without_error() {
    let mut conn = closing();
    send(
        &mut conn,
        at(1_150),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    recv_nothing(&mut conn, at(1_150));
}

// -------------------------------------------------------------------------------------------
// TIME-WAIT

#[test]
fn time_wait_expires_to_closed() {
    let mut conn = time_wait();
    // RFC 9293 section 3.6: linger 2 MSL, here the configured 4 s, and nothing else runs.
    assert_eq!(conn.poll_timeout(), Some(at(5_200)));
    assert_eq!(timeout(&mut conn, at(5_199)), vec![]);
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(timeout(&mut conn, at(5_200)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(5_200));
}

#[test]
fn time_wait_retransmitted_fin_is_acked_and_restarts_the_timer() {
    let mut conn = time_wait();
    send(
        &mut conn,
        at(2_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.poll_timeout(), Some(at(6_000)));
    assert_eq!(timeout(&mut conn, at(5_200)), vec![]);
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(timeout(&mut conn, at(6_000)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(6_000));
}

#[test]
fn time_wait_rst_closes_without_error() {
    let mut conn = time_wait();
    send(
        &mut conn,
        at(2_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn time_wait_abort_sends_no_rst() {
    let mut conn = time_wait();
    conn.abort();
    // RFC 9293 section 3.10.5: in CLOSING, LAST-ACK and TIME-WAIT, just delete the TCB.
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn last_ack_abort_sends_no_rst() {
    let mut conn = last_ack();
    conn.abort();
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(1_200));
}

// -------------------------------------------------------------------------------------------
// Sequence numbers across 2^32

#[test]
fn transfer_across_the_sequence_wrap() {
    const ISN: SeqNum = SeqNum(0xFFFF_FF00);
    let config = Config {
        mss: 200,
        ..classic_config()
    };
    let mut conn = Connection::connect(config, remote_addr(), ISN);
    assert_eq!(recv(&mut conn, at(0)).len(), 1);
    let peer = Segment {
        seq: ISN + 1,
        ack: ISN + 1,
        ..SEND_TEMPL
    };
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: ISN,
            ..peer
        },
    );
    let ours = Sent {
        seq: ISN + 1,
        ack: ISN + 1,
        ..RECV_TEMPL
    };
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(ours.clone(), Reason::Handshake)]
    );

    // Sending: 600 bytes in three segments, the second spanning the wrap.
    let data = bytes(0, 600);
    conn.write(&data).unwrap();
    let sent = recv(&mut conn, at(1_000));
    let expected: Vec<_> = (0..3)
        .map(|i| {
            (
                Sent {
                    seq: ISN + 1 + 200 * i,
                    payload: data[200 * i as usize..200 * (i as usize + 1)].to_vec(),
                    ..ours.clone()
                },
                Reason::NewData,
            )
        })
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(sent[2].0.seq, SeqNum(0x91));
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: ISN + 601,
            ..peer
        },
    );
    assert!(conn.is_send_complete());
    assert_eq!(conn.timers.get(Timer::Retransmit), None);

    // Receiving: three segments across the wrap, out of order.
    let incoming = bytes(7, 600);
    let piece = |i: u32| Segment {
        seq: ISN + 1 + 200 * i,
        ack: ISN + 601,
        payload: &incoming[200 * i as usize..200 * (i as usize + 1)],
        ..peer
    };
    send(&mut conn, at(1_200), piece(2));
    assert_eq!(
        recv(&mut conn, at(1_200)).len(),
        1,
        "out of order: an ACK at once"
    );
    send(&mut conn, at(1_201), piece(1));
    // One SACK block, from ISN + 201 to ISN + 601, across the wrap.
    assert_eq!(
        recv(&mut conn, at(1_201)),
        vec![(
            with_sack(
                Sent {
                    seq: ISN + 601,
                    ..ours.clone()
                },
                &[(ISN + 201, ISN + 601)]
            ),
            Reason::Ack
        )]
    );
    send(&mut conn, at(1_202), piece(0));
    assert_eq!(
        recv(&mut conn, at(1_202)),
        vec![(
            Sent {
                seq: ISN + 601,
                ack: ISN + 601,
                window: WINDOW - 600,
                ..ours.clone()
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), incoming);
    recv_nothing(&mut conn, at(1_202));
}

// -------------------------------------------------------------------------------------------
// Bad datagrams

#[test]
fn corrupt_datagram_is_counted_and_ignored() {
    let mut conn = established();
    let mut datagram = encode(&Segment {
        payload: b"payload",
        ..SEND_TEMPL
    });
    let last = datagram.len() - 1;
    datagram[last] ^= 0x04;
    conn.handle_datagram(at(1_000), &datagram);
    assert_eq!(conn.stats().discarded_corrupt, 1);
    assert_eq!(conn.stats().segments_received, 1); // the SYN-ACK only
    assert_eq!(conn.readable_bytes(), 0);
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
    assert_eq!(timeout(&mut conn, at(1_040)), vec![]);
}

#[test]
fn truncated_datagram_is_counted_and_ignored() {
    let mut conn = established();
    let datagram = encode(&Segment {
        flags: Flags::RST,
        ..SEND_TEMPL
    });
    assert!(matches!(
        Segment::parse(&datagram[..10]),
        Err(WireError::Truncated { .. })
    ));
    conn.handle_datagram(at(1_000), &datagram[..10]);
    assert_eq!(conn.stats().discarded_malformed, 1);
    assert_eq!(conn.stats().discarded_corrupt, 0);
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn valid_datagram_is_taken() {
    let mut conn = established();
    conn.handle_datagram(
        at(1_000),
        &encode(&Segment {
            payload: b"ok",
            ..SEND_TEMPL
        }),
    );
    assert_eq!(read_all(&mut conn), b"ok");
    recv_nothing(&mut conn, at(1_000));
}

// -------------------------------------------------------------------------------------------
// Two connections back to back (found in review: each of these failed once)

/// Where the second connection of a pair lives.
fn other_addr() -> SocketAddr {
    "192.0.2.8:4747".parse().unwrap()
}

/// Hand every datagram `from` has to `to` at `now`; return how many moved.
fn pump(from: &mut Connection, to: &mut Connection, now: Instant) -> usize {
    let mut moved = 0;
    while let Some(transmit) = from.poll_transmit(now) {
        to.handle_datagram(now, &transmit.contents);
        moved += 1;
        assert!(moved < 10_000, "a connection never stops sending");
    }
    moved
}

/// Two active opens whose SYNs cross (RFC 9293 section 3.5, figure 8).
fn crossed_syns() -> (Connection, Connection) {
    let mut a = Connection::connect(classic_config(), remote_addr(), SeqNum(100));
    let mut b = Connection::connect(classic_config(), other_addr(), SeqNum(300));
    let syn_a = a.poll_transmit(at(0)).unwrap();
    let syn_b = b.poll_transmit(at(0)).unwrap();
    a.handle_datagram(at(10), &syn_b.contents);
    b.handle_datagram(at(10), &syn_a.contents);
    assert_eq!(
        (a.state(), b.state()),
        (State::SynReceived, State::SynReceived)
    );
    (a, b)
}

#[test]
fn simultaneous_open_completes() {
    let (mut a, mut b) = crossed_syns();
    for step in 0..5 {
        pump(&mut a, &mut b, at(20 + step));
        pump(&mut b, &mut a, at(20 + step));
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
}

#[test]
fn simultaneous_open_with_crossing_syn_acks_completes() {
    let (mut a, mut b) = crossed_syns();
    let syn_ack_a = a.poll_transmit(at(10)).unwrap();
    let syn_ack_b = b.poll_transmit(at(10)).unwrap();
    a.handle_datagram(at(20), &syn_ack_b.contents);
    b.handle_datagram(at(20), &syn_ack_a.contents);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    // Each acknowledges the other's SYN-ACK once; then all is quiet.
    assert_eq!(
        pump(&mut a, &mut b, at(20)) + pump(&mut b, &mut a, at(20)),
        2
    );
    assert_eq!(
        pump(&mut a, &mut b, at(21)) + pump(&mut b, &mut a, at(21)),
        0
    );
}

#[test]
fn simultaneous_close_between_two_connections() {
    let mut a = Connection::connect(classic_config(), remote_addr(), SeqNum(u32::MAX - 3));
    let mut b = Connection::listen(classic_config(), other_addr(), SeqNum(7));
    for step in 0..10 {
        pump(&mut a, &mut b, at(step));
        pump(&mut b, &mut a, at(step));
    }
    a.write(b"abc").unwrap();
    b.write(b"xyz").unwrap();
    a.shutdown();
    b.shutdown();
    let from_a: Vec<_> = std::iter::from_fn(|| a.poll_transmit(at(20))).collect();
    let from_b: Vec<_> = std::iter::from_fn(|| b.poll_transmit(at(20))).collect();
    from_a
        .iter()
        .for_each(|t| b.handle_datagram(at(30), &t.contents));
    from_b
        .iter()
        .for_each(|t| a.handle_datagram(at(30), &t.contents));
    for step in 31..60 {
        pump(&mut a, &mut b, at(step));
        pump(&mut b, &mut a, at(step));
    }
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::TimeWait));
}

#[test]
fn resent_syn_ack_gives_no_rtt_sample() {
    let mut conn = syn_received();
    // The peer's SYN again: our SYN-ACK is resent, and its ACK is ambiguous (Karn).
    send(
        &mut conn,
        at(800),
        Segment {
            flags: Flags::SYN,
            seq: REMOTE_ISN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    let resent = recv(&mut conn, at(800));
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].0.flags, Flags::SYN | Flags::ACK);
    send(&mut conn, at(900), SEND_TEMPL);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(conn.stats().smoothed_rtt, None);
}

#[test]
fn a_huge_peer_window_is_clamped_and_data_flows() {
    let mut conn = established_with(Config {
        keepalive_interval: None,
        ..classic_config()
    });
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: u32::MAX,
            ..SEND_TEMPL
        },
    );
    conn.write(b"hello").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
}

#[test]
fn a_buffer_smaller_than_a_segment_still_announces_its_window() {
    let mut conn = established_with(Config {
        recv_buffer: 1000,
        ..classic_config()
    });
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 1000),
            ..SEND_TEMPL
        },
    );
    let _delayed_ack = timeout(&mut conn, at(1_040));
    assert_eq!(read_all(&mut conn).len(), 1000);
    assert_eq!(
        recv(&mut conn, at(1_100)),
        vec![(
            Sent {
                ack: REMOTE + 1000,
                window: 1000,
                ..RECV_TEMPL
            },
            Reason::WindowUpdate
        )]
    );
}

#[test]
fn no_keepalive_when_it_falls_due_with_the_rto() {
    let mut conn = established_with(Config {
        keepalive_interval: Some(ms(15_000)),
        ..classic_config()
    });
    conn.write(b"x").unwrap();
    // Sent at 14.8 s: the RTO (300 ms) and the keepalive (15 s after 100 ms) both fall due
    // at 15.1 s.
    assert_eq!(recv(&mut conn, at(14_800)).len(), 1);
    let sent = timeout(&mut conn, at(15_100));
    assert!(sent.iter().all(|(_, reason)| *reason != Reason::Keepalive));
}
