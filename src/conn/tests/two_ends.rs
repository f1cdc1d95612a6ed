//! Two connections back to back: simultaneous open and close (RFC 9293 section 3.5), and
//! cases found in review.

use super::*;

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
    let mut a = Connection::connect(classic_config(), remote_addr(), SeqNum(100)).unwrap();
    let mut b = Connection::connect(classic_config(), other_addr(), SeqNum(300)).unwrap();
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
    let mut a = Connection::connect(classic_config(), remote_addr(), SeqNum(u32::MAX - 3)).unwrap();
    let mut b = Connection::listen(classic_config(), other_addr(), SeqNum(7)).unwrap();
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
            options: PEER_SYN_OPTIONS,
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
    // Unclamped, SND.UNA + SND.WND would wrap to SND.UNA - 1 and nothing could be sent.
    conn.write(b"hello").unwrap();
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
    // The window counts as 2^30 (MAX_WINDOW), so MAX.SND.WND is 2^30 too: an ACK field
    // 2^30 + 1 below SND.UNA is too old to believe (RFC 5961 section 5) and draws a challenge
    // ACK. Unclamped, MAX.SND.WND would take in the whole sequence space.
    send(
        &mut conn,
        at(1_010),
        Segment {
            ack: LOCAL - (MAX_WINDOW + 1),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                seq: LOCAL + 5,
                ..RECV_TEMPL
            },
            Reason::ChallengeAck
        )]
    );
}

#[test]
fn a_buffer_smaller_than_a_segment_still_announces_its_window() {
    let mut conn = established_with(Config {
        recv_buffer: RecvBuffer::Fixed(1000),
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
    // The retransmission goes, and nothing else: its timer watches the peer now.
    assert_eq!(
        timeout(&mut conn, at(15_100)),
        vec![(
            Sent {
                payload: b"x".to_vec(),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
}
