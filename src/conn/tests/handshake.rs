//! The three-way handshake by state: SYN-SENT, LISTEN and SYN-RECEIVED (RFC 9293 sections
//! 3.5 and 3.10.7.2 to 3.10.7.4), with SYN retransmission (RFC 6298 section 5.7).

use super::*;

// -------------------------------------------------------------------------------------------
// SYN-SENT

#[test]
fn connect_sends_syn() {
    let mut conn = Connection::connect(Config::default(), remote_addr(), LOCAL_ISN).unwrap();
    assert_eq!(
        recv(&mut conn, at(0)),
        vec![(
            Sent {
                flags: Flags::SYN,
                // Our MSS, the most we receive, SACK and timestamps (RFC 9293 section 3.7.1,
                // RFC 2018 section 2, RFC 7323 section 3.2: TSval is the clock, ms since the
                // epoch with offset 0; no ACK, so TSecr is 0).
                options: Options {
                    timestamps: Some(Timestamps { tsval: 0, tsecr: 0 }),
                    ..OUR_SYN_OPTIONS
                },
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
            options: PEER_SYN_OPTIONS,
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
            options: PEER_SYN_OPTIONS,
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
                options: OUR_SYN_OPTIONS,
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
            options: PEER_SYN_OPTIONS,
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
            options: PEER_SYN_OPTIONS,
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
            options: PEER_SYN_OPTIONS,
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
                options: OUR_SYN_OPTIONS,
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
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN).unwrap();
    recv_nothing(&mut conn, at(0));
    send(
        &mut conn,
        at(0),
        Segment {
            flags: Flags::SYN,
            options: PEER_SYN_OPTIONS,
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
                options: OUR_SYN_OPTIONS,
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
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN).unwrap();
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
    let mut conn = Connection::listen(classic_config(), remote_addr(), LOCAL_ISN).unwrap();
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
    // A new connection acknowledges its first segments at once (quick-ACK mode). The two
    // bytes read free too little to move the window's right edge (silly window avoidance,
    // RFC 9293 section 3.8.6.2.2).
    assert_eq!(
        recv(&mut conn, at(40)),
        vec![(
            Sent {
                ack: REMOTE + 2,
                window: WINDOW - 2,
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
                options: OUR_SYN_OPTIONS,
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
            options: PEER_SYN_OPTIONS,
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
                options: OUR_SYN_OPTIONS,
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
// Negotiation: the MSS and SACK the SYNs offer (RFC 9293 section 3.7.1, RFC 2018 section 2)

#[test]
fn a_syn_offers_the_configured_mss_and_sack_or_not() {
    let mut conn = Connection::connect(
        Config {
            mss: 536,
            sack: false,
            timestamps: false,
            plpmtud: false,
            ..unpaced_defaults()
        },
        remote_addr(),
        LOCAL_ISN,
    )
    .unwrap();
    let sent = recv(&mut conn, at(0));
    assert_eq!(
        sent[0].0.options,
        Options {
            mss: Some(536),
            sack_permitted: false,
            timestamps: None,
        }
    );
    // Before the peer's SYN, the connection runs on its own offer.
    assert_eq!(conn.negotiated().mss, 536);
    assert!(!conn.negotiated().sack);
    // A SYN-ACK offers our settings too, not an echo of the peer's, and so does its
    // retransmission.
    let mut conn = syn_received_offered(Config::default(), Options::none());
    let resent = timeout(&mut conn, at(1_000));
    assert_eq!(resent[0].0.flags, Flags::SYN | Flags::ACK);
    assert_eq!(resent[0].0.options, OUR_SYN_OPTIONS);
    assert_eq!(conn.negotiated().mss, usize::from(ASSUMED_PEER_MSS));
    assert!(!conn.negotiated().sack);
}

#[test]
fn the_smaller_mss_sizes_segments_the_window_and_the_ack_for_two_segments() {
    let peer = Options {
        mss: Some(500),
        sack_permitted: true,
        timestamps: None,
    };
    let mut conn = established_offered(classic_config(), peer);
    assert_eq!(conn.negotiated().mss, 500);
    assert!(conn.negotiated().sack);
    // RFC 5681 section 3.1: the initial window is 4 segments of an SMSS of 1095 or less.
    assert_eq!(conn.stats().congestion_window, 2_000);
    conn.write(&bytes(0, 2_600)).unwrap();
    let sent = recv(&mut conn, at(1_000));
    let lengths: Vec<_> = sent.iter().map(|(sent, _)| sent.payload.len()).collect();
    assert_eq!(lengths, [500, 500, 500, 500]);
    // The peer's full-sized segments are 500 bytes too: the second of two is acknowledged at
    // once (RFC 5681 section 4.2), not after the delayed-ACK timer.
    let incoming = bytes(0, 1_000);
    let from_peer = |start: usize| Segment {
        seq: REMOTE + start as u32,
        payload: &incoming[start..start + 500],
        ..SEND_TEMPL
    };
    send(&mut conn, at(1_010), from_peer(0));
    recv_nothing(&mut conn, at(1_010));
    send(&mut conn, at(1_020), from_peer(500));
    let acks = recv(&mut conn, at(1_020));
    assert_eq!(acks.len(), 1);
    assert_eq!((acks[0].0.ack, acks[0].1), (REMOTE + 1_000, Reason::Ack));
}

#[test]
fn a_peer_without_an_mss_option_gets_rfc_9293_s_default() {
    let peer = Options {
        mss: None,
        sack_permitted: true,
        timestamps: None,
    };
    let mut conn = established_offered(classic_config(), peer);
    assert_eq!(conn.negotiated().mss, 536);
    conn.write(&bytes(0, 1_200)).unwrap();
    let lengths: Vec<_> = recv(&mut conn, at(1_000))
        .iter()
        .map(|(sent, _)| sent.payload.len())
        .collect();
    assert_eq!(lengths, [536, 536, 128]);
    // Our own smaller MSS wins over the peer's larger one.
    let conn = established_offered(
        Config {
            mss: 300,
            ..classic_config()
        },
        PEER_SYN_OPTIONS,
    );
    assert_eq!(conn.negotiated().mss, 300);
}

/// RFC 2018 section 2: SACK only if both ends offered it. A peer whose SYN offers none gets
/// no SACK blocks, and a loss is found by three duplicate ACKs and repaired by NewReno (RFC
/// 6582), with RACK-TLP on in our settings: RACK needs SACK blocks to find a loss, and once
/// waited in vain for them until the probes and the timer ran out.
#[test]
fn a_peer_that_offers_no_sack_gets_plain_acks_and_recovery_by_duplicate_acks() {
    let peer = Options {
        mss: Some(1_200),
        sack_permitted: false,
        timestamps: None,
    };
    let mut conn = syn_received_offered(newreno_config(), peer);
    send(&mut conn, at(100), SEND_TEMPL);
    assert_eq!(conn.state(), State::Established);
    assert!(!conn.negotiated().sack);

    // Out-of-order data, then a duplicate: cumulative ACKs alone, no SACK or D-SACK block.
    let incoming = bytes(0, 300);
    let later = Segment {
        seq: REMOTE + 100,
        payload: &incoming[100..],
        ..SEND_TEMPL
    };
    send(&mut conn, at(200), later);
    send(&mut conn, at(201), later);
    let plain_ack = (RECV_TEMPL, Reason::Ack);
    assert_eq!(recv(&mut conn, at(201)), vec![plain_ack.clone(), plain_ack]);

    // Our data: three segments go (cwnd 3600), the first is lost. The peer's duplicate ACKs
    // let two more out by limited transmit (RFC 3042), and the third resends the first.
    write_segments(&mut conn, LOCAL, 6);
    assert_eq!(
        recv(&mut conn, at(1_000))
            .iter()
            .map(|(sent, reason)| (sent.seq, *reason))
            .collect::<Vec<_>>(),
        (0..3)
            .map(|i| (LOCAL + i * MSS, Reason::NewData))
            .collect::<Vec<_>>()
    );
    let duplicate = Segment {
        seq: REMOTE + 300,
        ..SEND_TEMPL
    };
    for (now, segment) in [(1_100, 3), (1_101, 4)] {
        send(&mut conn, at(now), duplicate);
        let sent = recv(&mut conn, at(now));
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].0.seq, sent[0].1),
            (LOCAL + segment * MSS, Reason::NewData)
        );
    }
    send(&mut conn, at(1_102), duplicate);
    let sent = recv(&mut conn, at(1_102));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].0.seq, sent[0].1),
        (LOCAL, Reason::FastRetransmission)
    );
    assert!(sent[0].0.sack.is_empty());
    // NewReno's inflated window (RFC 6582 section 3.2 step 3): ssthresh + 3 SMSS, where
    // ssthresh = max(FlightSize / 2, 2 SMSS) without the limited-transmit segments.
    let stats = conn.stats();
    assert_eq!(stats.slow_start_threshold, 2 * MSS);
    assert_eq!(stats.congestion_window, 2 * MSS + 3 * MSS);
    // No tail loss probe waits: RACK-TLP does not run without SACK.
    assert_eq!(conn.timers.get(Timer::LossProbe), None);
    assert_eq!(stats.retransmissions.total(), 1);
}

#[test]
fn a_peer_s_tiny_mss_cannot_put_more_than_the_flight_limit_in_flight() {
    // A peer offering an MSS of 1 asks for a segment per byte: with congestion control off
    // and a 64 KiB window that was 65,536 segments at once, each a retransmission-queue
    // record (megabytes per connection, from one datagram). The flight stops at
    // MAX_SEGMENTS_IN_FLIGHT, and the rest goes as ACKs make room.
    let peer = Options {
        mss: Some(1),
        sack_permitted: true,
        timestamps: None,
    };
    let config = Config {
        congestion_control: CongestionControl::Fixed,
        ..unpaced_defaults()
    };
    let mut conn = established_offered(config, peer);
    assert_eq!(conn.negotiated().mss, 1);
    conn.write(&bytes(0, 10_000)).unwrap();
    let sent = recv(&mut conn, at(1_000));
    assert_eq!(sent.len(), MAX_SEGMENTS_IN_FLIGHT);
    assert!(sent.iter().all(|(sent, _)| sent.payload.len() == 1));
    // An ACK of 100 bytes lets 100 more go.
    send(
        &mut conn,
        at(1_010),
        Segment {
            ack: LOCAL + 100,
            ..SEND_TEMPL
        },
    );
    let more = recv(&mut conn, at(1_010));
    assert_eq!(more.len(), 100);
    assert_eq!(more[0].0.seq, LOCAL + MAX_SEGMENTS_IN_FLIGHT as u32);
}
