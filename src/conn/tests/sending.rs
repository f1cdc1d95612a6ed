//! ESTABLISHED, sending: segmentation, the peer's window and silly window avoidance (RFC 9293
//! section 3.8.6.2.1), RTT samples and the retransmission timer (RFC 6298), the user timeout.

use super::*;

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
    assert_eq!(conn.send.buffered(), 0);
    assert_eq!(
        conn.writable_bytes(),
        classic_config().send_buffer.initial()
    );
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
    assert_eq!(conn.send.buffered(), 1_800);
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
// ESTABLISHED: the Nagle algorithm (RFC 9293 section 3.7.4, RFC 896)

/// `data` sent by us at our sequence number `seq`.
fn small(seq: SeqNum, data: &[u8]) -> (Sent, Reason) {
    (
        Sent {
            seq,
            payload: data.to_vec(),
            ..RECV_TEMPL
        },
        Reason::NewData,
    )
}

#[test]
fn nagle_holds_small_writes_while_a_small_segment_is_unacknowledged() {
    let mut conn = established();
    // The first small write goes at once: nothing is in flight.
    assert_eq!(conn.write(b"GET "), Ok(4));
    assert_eq!(recv(&mut conn, at(1_000)), vec![small(LOCAL, b"GET ")]);
    // Those that follow wait while it is unacknowledged, and coalesce.
    assert_eq!(conn.write(b"/index"), Ok(6));
    recv_nothing(&mut conn, at(1_010));
    assert_eq!(conn.write(b".html"), Ok(5));
    recv_nothing(&mut conn, at(1_020));
    // Its ACK lets them out as one segment.
    send(&mut conn, at(1_100), ack(LOCAL + 4));
    assert_eq!(
        recv(&mut conn, at(1_100)),
        vec![small(LOCAL + 4, b"/index.html")]
    );
    // A full segment never waits.
    let full = bytes(0, MSS as usize);
    assert_eq!(conn.write(&full), Ok(full.len()));
    assert_eq!(
        recv(&mut conn, at(1_110)),
        vec![(
            Sent {
                seq: LOCAL + 15,
                payload: full,
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
}

#[test]
fn nagle_lets_the_fin_carry_a_small_segment_at_once() {
    let mut conn = established();
    assert_eq!(conn.write(b"one"), Ok(3));
    assert_eq!(recv(&mut conn, at(1_000)), vec![small(LOCAL, b"one")]);
    assert_eq!(conn.write(b"two"), Ok(3));
    recv_nothing(&mut conn, at(1_010));
    // Closing sends what waits, with the FIN, as Linux's tcp_nagle_test does: nothing more
    // will come to fill the segment.
    conn.shutdown();
    let (fin, reason) = small(LOCAL + 3, b"two");
    assert_eq!(
        recv(&mut conn, at(1_020)),
        vec![(
            Sent {
                flags: Flags::ACK | Flags::FIN,
                ..fin
            },
            reason
        )]
    );
}

#[test]
fn nodelay_sends_small_writes_at_once() {
    let mut conn = established_with(Config {
        nodelay: true,
        ..classic_config()
    });
    assert_eq!(conn.write(b"GET "), Ok(4));
    assert_eq!(recv(&mut conn, at(1_000)), vec![small(LOCAL, b"GET ")]);
    assert_eq!(conn.write(b"/index"), Ok(6));
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![small(LOCAL + 4, b"/index")]
    );
    // Turned on later, it lets out what Nagle held at once.
    let mut conn = established();
    assert_eq!(conn.write(b"GET "), Ok(4));
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    assert_eq!(conn.write(b"/index"), Ok(6));
    recv_nothing(&mut conn, at(1_010));
    conn.set_nodelay(true);
    assert!(conn.config().nodelay);
    assert_eq!(
        recv(&mut conn, at(1_020)),
        vec![small(LOCAL + 4, b"/index")]
    );
}
