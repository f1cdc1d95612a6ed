//! TCP timestamps (RFC 7323): negotiated by the SYNs (section 3.2), then on every segment,
//! TSecr echoing TS.Recent by section 4.3's rule; an RTT sample from the echo where Karn's
//! rule gives none (section 4.1); PAWS (section 5.3), its 24-day exception (section 5.5) and
//! Linux's for a reordered duplicate ACK.
//!
//! The connection's timestamp clock has offset 0 here, so TSval is the time in ms. The
//! peer's clock reads 5000 at its SYN-ACK, 100 ms after our SYN.

use super::*;

/// The fixtures' settings with timestamps on, as by default.
fn timestamped() -> Config {
    Config {
        timestamps: true,
        ..classic_config()
    }
}

/// Options carrying only Timestamps.
fn ts(tsval: u32, tsecr: u32) -> Options {
    Options {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..Options::none()
    }
}

/// The peer's SYN or SYN-ACK options, with its timestamp `tsval`.
fn peer_syn_with_ts(tsval: u32) -> Options {
    Options {
        timestamps: Some(Timestamps { tsval, tsecr: 0 }),
        ..PEER_SYN_OPTIONS
    }
}

/// ESTABLISHED by an active open whose SYN-ACK carries timestamps: TS.Recent is the peer's
/// 5000, and our ACK of the SYN-ACK echoed it.
fn established_with_timestamps() -> Connection {
    let mut conn = Connection::connect(timestamped(), remote_addr(), LOCAL_ISN).unwrap();
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN,
                seq: LOCAL_ISN,
                ack: SeqNum(0),
                // RFC 7323 section 3.2: TSval, and TSecr 0 on a segment without ACK.
                options: Options {
                    timestamps: Some(Timestamps { tsval: 0, tsecr: 0 }),
                    ..OUR_SYN_OPTIONS
                },
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            options: Options {
                timestamps: Some(Timestamps {
                    tsval: 5_000,
                    tsecr: 0,
                }),
                ..PEER_SYN_OPTIONS
            },
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(
            Sent {
                options: ts(100, 5_000),
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![Event::Connected]);
    conn.receive.end_quick_acks();
    conn
}

// -------------------------------------------------------------------------------------------
// Negotiation (RFC 7323 section 3.2)

#[test]
fn timestamps_go_only_where_both_syns_carried_them() {
    // Our SYN offered them, the peer's SYN-ACK did not: no segment carries them.
    let mut conn = established_offered(timestamped(), PEER_SYN_OPTIONS);
    assert!(!conn.negotiated().timestamps);
    assert_eq!(conn.negotiated().mss, 1_200);
    assert_eq!(conn.write(&bytes(0, 100)), Ok(100));
    assert_eq!(
        recv(&mut conn, at(200)),
        vec![(
            Sent {
                payload: bytes(0, 100),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );

    // The peer's SYN offered them, we do not: our SYN-ACK carries none, nor anything after.
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN).unwrap();
    let syn = Segment {
        flags: Flags::SYN,
        seq: REMOTE_ISN,
        ack: SeqNum(0),
        options: peer_syn_with_ts(7),
        ..SEND_TEMPL
    };
    send(&mut conn, at(0), syn);
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                options: OUR_SYN_OPTIONS,
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert!(!conn.negotiated().timestamps);

    // Both: the SYN-ACK echoes the SYN's TSval, and the payload makes room for the option.
    let mut conn = Connection::listen(timestamped(), remote_addr(), LOCAL_ISN).unwrap();
    send(&mut conn, at(0), syn);
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN | Flags::ACK,
                seq: LOCAL_ISN,
                options: Options {
                    timestamps: Some(Timestamps { tsval: 0, tsecr: 7 }),
                    ..OUR_SYN_OPTIONS
                },
                ..RECV_TEMPL
            },
            Reason::Handshake
        )]
    );
    assert!(conn.negotiated().timestamps);
    assert_eq!(conn.negotiated().mss, 1_188);
}

#[test]
fn the_clock_starts_at_the_offset_the_caller_draws() {
    let mut conn = Connection::connect(timestamped(), remote_addr(), LOCAL_ISN)
        .unwrap()
        .with_timestamp_offset(u32::MAX - 9);
    let syn = recv(&mut conn, at(25));
    assert_eq!(
        syn[0].0.options.timestamps,
        Some(Timestamps {
            tsval: 15,
            tsecr: 0
        })
    );
}

// -------------------------------------------------------------------------------------------
// Every segment, and what it echoes (RFC 7323 sections 3.2 and 4.3)

#[test]
fn every_segment_carries_them_and_a_delayed_ack_echoes_the_earliest_unacknowledged() {
    let mut conn = established_with_timestamps();
    assert!(conn.negotiated().timestamps);
    // Two segments within the delayed-ACK time: the ACK, by the timer, echoes the first's
    // TSval (section 4.3: the second starts beyond Last.ACK.sent), so the peer's sample
    // counts the delay.
    for (i, now) in [(0u32, 200), (1, 210)] {
        send(
            &mut conn,
            at(now),
            Segment {
                seq: REMOTE + 100 * i,
                payload: &[7; 100],
                options: ts(5_100 + 10 * i, 100),
                ..SEND_TEMPL
            },
        );
        recv_nothing(&mut conn, at(now));
    }
    assert_eq!(
        timeout(&mut conn, at(240)),
        vec![(
            Sent {
                ack: REMOTE + 200,
                window: WINDOW - 200,
                options: ts(240, 5_100),
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // Data goes with the option too, its payload at most 1200 - 12 octets.
    assert_eq!(conn.write(&bytes(0, 2_000)), Ok(2_000));
    assert_eq!(
        recv(&mut conn, at(300)),
        vec![
            (
                Sent {
                    ack: REMOTE + 200,
                    window: WINDOW - 200,
                    payload: bytes(0, 1_188),
                    options: ts(300, 5_100),
                    ..RECV_TEMPL
                },
                Reason::NewData
            ),
            (
                Sent {
                    seq: LOCAL + 1_188,
                    ack: REMOTE + 200,
                    window: WINDOW - 200,
                    payload: bytes(1_188, 812),
                    options: ts(300, 5_100),
                    ..RECV_TEMPL
                },
                Reason::NewData
            ),
        ]
    );
    // A RST carries none (RFC 7323 section 3.2 leaves it out).
    conn.abort();
    assert_eq!(
        recv(&mut conn, at(400)),
        vec![(
            Sent {
                seq: LOCAL + 2_000,
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
}

// -------------------------------------------------------------------------------------------
// RTTM (RFC 7323 section 4)

/// Our data at 200 ms, lost; its retransmission by the timer at 500 ms (RTO 300 ms after the
/// handshake's 100 ms sample); the peer's ACK of it at 560 ms, carrying `options`. Returns
/// SRTT after.
fn srtt_after_acknowledged_retransmission(mut conn: Connection, options: Options) -> Duration {
    assert_eq!(conn.write(&bytes(0, 100)), Ok(100));
    assert_eq!(recv(&mut conn, at(200)).len(), 1);
    let resent = timeout(&mut conn, at(500));
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].1, Reason::RtoRetransmission { timeout: 1 });
    send(
        &mut conn,
        at(560),
        Segment {
            ack: LOCAL + 100,
            options,
            ..SEND_TEMPL
        },
    );
    conn.stats().smoothed_rtt.unwrap()
}

#[test]
fn an_ack_of_a_retransmission_gives_a_sample_from_its_echo() {
    // Without timestamps Karn's rule (RFC 6298 section 3) takes no sample: SRTT stays 100 ms.
    assert_eq!(
        srtt_after_acknowledged_retransmission(established(), Options::none()),
        ms(100)
    );
    // With them, the echo of the retransmission's TSval (500) times 60 ms, and SRTT moves
    // by an eighth of the difference (RFC 6298 section 2.3): 100 - 100/8 + 60/8 = 95 ms.
    let conn = established_with_timestamps();
    let options = ts(5_460, 500);
    assert_eq!(
        srtt_after_acknowledged_retransmission(conn, options),
        ms(95)
    );
}

// -------------------------------------------------------------------------------------------
// PAWS (RFC 7323 section 5)

#[test]
fn paws_drops_an_old_duplicate_and_acks_it_unless_ts_recent_is_24_days_old() {
    let mut conn = Connection::connect(
        Config {
            keepalive_interval: None,
            ..timestamped()
        },
        remote_addr(),
        LOCAL_ISN,
    )
    .unwrap();
    let _syn = recv(&mut conn, at(0));
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: REMOTE_ISN,
            options: peer_syn_with_ts(5_000),
            ..SEND_TEMPL
        },
    );
    let _ack = recv(&mut conn, at(100));
    conn.receive.end_quick_acks();
    // In order, timestamp 5100: TS.Recent.
    let data = |seq: SeqNum, tsval: u32| Segment {
        seq,
        payload: &[7; 100],
        options: ts(tsval, 100),
        ..SEND_TEMPL
    };
    send(&mut conn, at(200), data(REMOTE, 5_100));
    recv_nothing(&mut conn, at(200));
    // The next bytes in sequence, but with an older timestamp: an old duplicate from a
    // wrapped sequence space. Dropped, and answered with an ACK at once.
    send(&mut conn, at(220), data(REMOTE + 100, 5_050));
    assert_eq!(
        recv(&mut conn, at(220)),
        vec![(
            Sent {
                ack: REMOTE + 100,
                window: WINDOW - 100,
                options: ts(220, 5_100),
                ..RECV_TEMPL
            },
            Reason::PawsAck
        )]
    );
    assert_eq!(conn.stats().paws_rejected, 1);
    assert_eq!(read_all(&mut conn), vec![7; 100]);
    recv_nothing(&mut conn, at(220));
    // A pure duplicate ACK with an older timestamp, within an RTO of TS.Recent: one the
    // network reordered, not an old duplicate (Linux's `tcp_disordered_ack`). Taken quietly.
    send(
        &mut conn,
        at(230),
        Segment {
            seq: REMOTE + 100,
            options: ts(5_090, 100),
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(230));
    assert_eq!(conn.stats().paws_rejected, 1);

    // 25 days on, TS.Recent (taken at 200 ms) is too old to judge by (section 5.5): the same
    // segment is taken, and its timestamp is the one echoed.
    let later = 200 + 25 * 24 * 60 * 60 * 1_000;
    send(&mut conn, at(later), data(REMOTE + 100, 5_050));
    assert_eq!(conn.stats().paws_rejected, 1);
    assert_eq!(read_all(&mut conn), vec![7; 100]);
    assert_eq!(
        timeout(&mut conn, at(later + 40)),
        vec![(
            Sent {
                ack: REMOTE + 200,
                // The right edge moves only in steps of an MSS (silly window avoidance).
                window: WINDOW - 200,
                options: ts((later + 40) as u32, 5_050),
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
}
