//! Loss recovery, the sender side: fast retransmit and NewReno fast recovery without SACK (RFC
//! 5681 section 3.2, RFC 6582), SACK-based recovery (RFC 6675), congestion control arithmetic
//! (RFC 5681 section 3.1), a retransmission timeout during recovery, and the fixed window.

use super::*;

// -------------------------------------------------------------------------------------------
// Fixtures

/// RFC 6582 NewReno: no SACK.
fn newreno() -> Config {
    Config {
        sack: false,
        ..classic_config()
    }
}

// -------------------------------------------------------------------------------------------
// NewReno without SACK: fast retransmit and fast recovery (RFC 5681 section 3.2, RFC 6582)

/// Slow-started to a 7200-byte window, then six segments (`base` + 0..6 segments) sent at
/// 1000 ms with six more queued. Segments 0 and 1 are lost; 2, 3 and 4 arrive, and their
/// duplicate ACKs at 1100 to 1102 ms trigger fast retransmit of segment 0.
fn newreno_fast_recovery() -> (Connection, SeqNum) {
    let (mut conn, base) = slow_started(newreno(), 1);
    write_segments(&mut conn, base, 12);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    // Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new
    // segment out.
    for (now, segment) in [(1_100, 6), (1_101, 7)] {
        send(&mut conn, at(now), ack(base));
        assert_eq!(
            recv(&mut conn, at(now)),
            flight(base, segment..segment + 1, Reason::NewData)
        );
    }
    send(&mut conn, at(1_102), ack(base));
    // RFC 5681 section 3.2 step 3: the segment at snd_una goes again, and only it.
    assert_eq!(
        recv(&mut conn, at(1_102)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    let stats = conn.stats();
    assert_eq!(stats.duplicate_acks, 3);
    assert_eq!(stats.retransmissions.fast, 1);
    // Step 2: ssthresh = max(FlightSize / 2, 2 * SMSS) = 7200 / 2, the limited-transmit
    // segments left out of FlightSize; step 3: cwnd = ssthresh + 3 * SMSS, the three
    // segments that left the network.
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.congestion_window, 3_600 + 3 * MSS);
    (conn, base)
}

#[test]
fn newreno_third_duplicate_ack_resends_snd_una_and_a_fourth_resends_nothing() {
    let (mut conn, base) = newreno_fast_recovery();
    // Segment 5 arrives: a fourth duplicate ACK. Step 4 inflates cwnd by one SMSS, to 8400,
    // but the two limited-transmit segments keep 9600 bytes in the network: nothing goes,
    // and above all no second retransmission.
    send(&mut conn, at(1_103), ack(base));
    recv_nothing(&mut conn, at(1_103));
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3_600 + 4 * MSS);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.total(), 1);
    recv_nothing(&mut conn, at(1_103));
}

#[test]
fn newreno_partial_ack_resends_the_next_hole_and_full_ack_ends_recovery() {
    let (mut conn, base) = newreno_fast_recovery();
    // Segment 0's retransmission arrives, segment 1 is still missing: a partial ACK
    // (RFC 6582 section 3.2 step 5). The next hole goes at once; cwnd deflates by the 1200
    // bytes acknowledged and gains one SMSS back: 7200, with segments 1 to 7 (8400 bytes,
    // the hole's new copy in place of the old) in the network, so nothing new follows.
    send(&mut conn, at(1_200), ack(base + MSS));
    assert_eq!(
        recv(&mut conn, at(1_200)),
        flight(base, 1..2, Reason::FastRetransmission)
    );
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3_600 + 3 * MSS);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.fast, 2);
    recv_nothing(&mut conn, at(1_200));

    // Segment 1's retransmission arrives: everything up to the recovery point (the eight
    // segments sent before recovery began) is acknowledged. Step 6: recovery ends, cwnd =
    // ssthresh, and with nothing in flight three new segments fit.
    send(&mut conn, at(1_300), ack(base + 8 * MSS));
    assert_eq!(
        recv(&mut conn, at(1_300)),
        flight(base, 8..11, Reason::NewData)
    );
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3_600);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.total(), 2);
    recv_nothing(&mut conn, at(1_300));
}

#[test]
fn duplicate_ack_threshold_is_configurable() {
    let (mut conn, base) = slow_started(
        Config {
            duplicate_ack_threshold: 2,
            ..newreno()
        },
        1,
    );
    write_segments(&mut conn, base, 6);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    send(&mut conn, at(1_100), ack(base));
    recv_nothing(&mut conn, at(1_100));
    send(&mut conn, at(1_101), ack(base));
    assert_eq!(
        recv(&mut conn, at(1_101)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    assert_eq!(conn.stats().slow_start_threshold, 3_600);
    recv_nothing(&mut conn, at(1_101));
}

#[test]
fn duplicate_acks_need_the_same_window_and_no_data() {
    // RFC 5681 section 2: an ACK that changes the window, or carries data, is no duplicate.
    let (mut conn, base) = slow_started(newreno(), 1);
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    send(&mut conn, at(1_100), ack(base));
    send(
        &mut conn,
        at(1_101),
        Segment {
            window: PEER_WINDOW - 1,
            ..ack(base)
        },
    );
    send(
        &mut conn,
        at(1_102),
        Segment {
            window: PEER_WINDOW - 1,
            payload: b"hi",
            ..ack(base)
        },
    );
    // Only the delayed ACK timer for the peer's two bytes is new; nothing is resent.
    recv_nothing(&mut conn, at(1_102));
    assert_eq!(conn.stats().duplicate_acks, 1);
    assert_eq!(conn.stats().retransmissions.total(), 0);
}

#[test]
fn fast_retransmit_is_not_held_back_by_the_congestion_window() {
    // RFC 5681 section 3.2 step 3 ("MUST be retransmitted") and RFC 6675 step (4.3) resend
    // the first segment whatever cwnd and pipe say; the window governs only what follows.
    for sack in [false, true] {
        let (mut conn, base) = slow_started(
            Config {
                sack,
                ..classic_config()
            },
            2,
        );
        write_segments(&mut conn, base, 10);
        assert_eq!(
            recv(&mut conn, at(1_000)),
            flight(base, 0..10, Reason::NewData)
        );
        // Segment 0 is lost; 1, 2 and 3 arrive.
        for i in 2..=4 {
            send(
                &mut conn,
                at(1_100),
                ack_sack(base, &[(base + MSS, base + i * MSS)]),
            );
        }
        // ssthresh = 12 000 / 2. Without SACK cwnd is 6000 + 3600 with 12 000 bytes in
        // flight; with SACK pipe is 7200 against a cwnd of 6000.
        assert_eq!(conn.stats().slow_start_threshold, 6_000);
        assert_eq!(
            recv(&mut conn, at(1_100)),
            flight(base, 0..1, Reason::FastRetransmission),
            "sack: {sack}"
        );
        recv_nothing(&mut conn, at(1_100));
    }
}

#[test]
fn ssthresh_is_at_least_two_segments() {
    // Four small segments, 400 bytes in flight (Nagle off, or they would coalesce):
    // ssthresh = max(200, 2 * SMSS).
    let mut conn = established_with(Config {
        nodelay: true,
        ..newreno()
    });
    for i in 0..4 {
        conn.write(&bytes(100 * i, 100)).unwrap();
        assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    }
    for now in [1_100, 1_101, 1_102] {
        send(&mut conn, at(now), ack(LOCAL));
    }
    assert_eq!(
        recv(&mut conn, at(1_102)),
        vec![(
            Sent {
                payload: bytes(0, 100),
                ..RECV_TEMPL
            },
            Reason::FastRetransmission
        )]
    );
    assert_eq!(conn.stats().slow_start_threshold, 2 * MSS);
    assert_eq!(conn.stats().congestion_window, 2 * MSS + 3 * MSS);
    recv_nothing(&mut conn, at(1_102));
}

// -------------------------------------------------------------------------------------------
// SACK-based recovery (RFC 6675)

/// Slow-started to a 7200-byte window, then six segments (`base` + 0..6 segments) sent at
/// 1000 ms, nothing more queued. Segments 0 and 2 are lost; the SACKs of 1, 3 and 4 arrive at
/// 1100 to 1102 ms, and the third duplicate ACK starts recovery.
fn sack_fast_recovery() -> (Connection, SeqNum) {
    let (mut conn, base) = slow_started(classic_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(2))]));
    recv_nothing(&mut conn, at(1_100));
    // Two SACKed segments (2400 bytes) above segment 0: not yet lost by IsLost().
    send(
        &mut conn,
        at(1_101),
        ack_sack(base, &[(s(3), s(4)), (s(1), s(2))]),
    );
    recv_nothing(&mut conn, at(1_101));
    // The third duplicate ACK: ssthresh = cwnd = 7200 / 2 (step (4.2)), and the first
    // segment goes again (step (4.3)). pipe is then 3600 (segments 0, 2 and 5): full.
    send(
        &mut conn,
        at(1_102),
        ack_sack(base, &[(s(3), s(5)), (s(1), s(2))]),
    );
    assert_eq!(
        recv(&mut conn, at(1_102)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    let stats = conn.stats();
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.congestion_window, 3_600, "no inflation with SACK");
    recv_nothing(&mut conn, at(1_102));
    (conn, base)
}

#[test]
fn sack_recovery_resends_the_holes_and_never_a_sacked_segment() {
    let (mut conn, base) = sack_fast_recovery();
    let s = |i: u32| base + i * MSS;
    // Segment 5 is SACKed: three SACKed segments lie above segment 2, so IsLost() holds for
    // it, and pipe (segment 0's copy) leaves room. It goes by NextSeg() rule (1).
    send(
        &mut conn,
        at(1_103),
        ack_sack(base, &[(s(3), s(6)), (s(1), s(2))]),
    );
    assert_eq!(
        recv(&mut conn, at(1_103)),
        flight(base, 2..3, Reason::SackRetransmission)
    );
    recv_nothing(&mut conn, at(1_103));

    // Segment 0's retransmission arrives: a partial ACK up to segment 2. Nothing else is
    // missing, so nothing else goes, though cwnd has room.
    send(&mut conn, at(1_200), ack_sack(s(2), &[(s(3), s(6))]));
    recv_nothing(&mut conn, at(1_200));
    // Segment 2's: recovery is over, cwnd = ssthresh.
    send(&mut conn, at(1_201), ack(s(6)));
    recv_nothing(&mut conn, at(1_201));
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3_600);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.fast, 1);
    assert_eq!(stats.retransmissions.sack, 1);
    assert_eq!(stats.retransmissions.total(), 2);
    assert!(conn.is_send_complete());
}

#[test]
fn sack_of_three_segments_starts_recovery_on_the_first_duplicate_ack() {
    // RFC 6675 step (3.2): IsLost(HighACK + 1) holds before DupThresh duplicate ACKs came,
    // as when the ACKs of segments 1 and 2 were lost.
    let (mut conn, base) = slow_started(classic_config(), 1);
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    send(
        &mut conn,
        at(1_100),
        ack_sack(base, &[(base + MSS, base + 4 * MSS)]),
    );
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    assert_eq!(conn.stats().duplicate_acks, 1);
    assert_eq!(conn.stats().slow_start_threshold, 3_600);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn sack_hole_below_sacked_data_goes_when_the_window_has_room() {
    // RFC 6675 NextSeg() rule (3): with no lost segment and no new data left, a hole below
    // the highest SACKed segment is resent if cwnd allows (here, a fixed window always does),
    // before IsLost() would mark it. SACKed segments never go.
    let mut conn = established_with(Config {
        congestion_control: CongestionControl::Fixed,
        ..classic_config()
    });
    let s = |i: u32| LOCAL + i * MSS;
    write_segments(&mut conn, LOCAL, 8);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(LOCAL, 0..8, Reason::NewData)
    );
    // Segments 0 and 3 are lost.
    send(&mut conn, at(1_100), ack_sack(LOCAL, &[(s(1), s(2))]));
    send(&mut conn, at(1_101), ack_sack(LOCAL, &[(s(1), s(3))]));
    recv_nothing(&mut conn, at(1_101));
    send(
        &mut conn,
        at(1_102),
        ack_sack(LOCAL, &[(s(4), s(5)), (s(1), s(3))]),
    );
    assert_eq!(
        recv(&mut conn, at(1_102)),
        [
            flight(LOCAL, 0..1, Reason::FastRetransmission),
            flight(LOCAL, 3..4, Reason::SackRetransmission),
        ]
        .concat()
    );
    // Further SACKs of 5, 6 and 7 find nothing left to resend.
    for i in 6..=8 {
        send(
            &mut conn,
            at(1_103),
            ack_sack(LOCAL, &[(s(4), s(i)), (s(1), s(3))]),
        );
    }
    recv_nothing(&mut conn, at(1_103));
    assert_eq!(conn.stats().retransmissions.total(), 2);
}

/// The FIN rides on the last segment, which arrives ahead of a hole: the peer SACKs its data
/// and forgets the FIN (a peer that takes a FIN only in order, as Ferry did before issue 22;
/// Ferry and Linux now hold it). Once the hole is repaired, the
/// cumulative ACK covers the data and not the FIN, which is then known dropped and goes again
/// at once. RFC 6675's rules alone find no loss there (nothing SACKed lies above it), so the
/// FIN used to wait for the RTO; `injection.rs` has the same with RACK, which finds it by time.
#[test]
fn sack_recovery_resends_a_fin_the_peer_dropped_ahead_of_the_hole_at_once() {
    let (mut conn, base) = slow_started(classic_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 4);
    conn.shutdown();
    let mut sent = flight(base, 0..4, Reason::NewData);
    sent[3].0.flags = Flags::ACK | Flags::FIN;
    assert_eq!(recv(&mut conn, at(1_000)), sent);
    // Segment 0 is lost; 1, 2 and 3 (its FIN forgotten) are SACKed, and the third duplicate
    // ACK resends segment 0.
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(2))]));
    send(&mut conn, at(1_101), ack_sack(base, &[(s(1), s(3))]));
    recv_nothing(&mut conn, at(1_101));
    send(&mut conn, at(1_102), ack_sack(base, &[(s(1), s(4))]));
    assert_eq!(
        recv(&mut conn, at(1_102)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    send(&mut conn, at(1_200), ack(s(4)));
    assert_eq!(
        recv(&mut conn, at(1_200)),
        vec![(
            Sent {
                flags: Flags::ACK | Flags::FIN,
                seq: s(4),
                ..RECV_TEMPL
            },
            Reason::SackRetransmission
        )]
    );
    send(&mut conn, at(1_300), ack(s(4) + 1));
    assert_eq!(conn.state(), State::FinWait2);
    assert_eq!(conn.stats().rto_timeouts, 0);
}

// -------------------------------------------------------------------------------------------
// Congestion control arithmetic (RFC 5681 section 3.1), seen through `stats()`

#[test]
fn cwnd_through_slow_start_a_loss_and_congestion_avoidance() {
    let mut conn = established();
    let s = |i: u32| LOCAL + i * MSS;
    let window = |conn: &Connection| {
        let stats = conn.stats();
        (stats.congestion_window, stats.slow_start_threshold)
    };
    write_segments(&mut conn, LOCAL, 20);

    // Slow start from the initial window, 3 * SMSS for an SMSS of 1200, and an "arbitrarily
    // high" ssthresh. Each ACK adds min(N, SMSS): one SMSS, even for two segments' worth.
    assert_eq!(window(&conn), (3_600, u32::MAX));
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(LOCAL, 0..3, Reason::NewData)
    );
    send(&mut conn, at(1_100), ack(s(1)));
    assert_eq!(window(&conn).0, 4_800);
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(LOCAL, 3..5, Reason::NewData)
    );
    send(&mut conn, at(1_101), ack(s(3)));
    assert_eq!(window(&conn).0, 6_000);
    assert_eq!(
        recv(&mut conn, at(1_101)),
        flight(LOCAL, 5..8, Reason::NewData)
    );
    send(&mut conn, at(1_200), ack(s(4)));
    assert_eq!(window(&conn).0, 7_200);
    assert_eq!(
        recv(&mut conn, at(1_200)),
        flight(LOCAL, 8..10, Reason::NewData)
    );

    // A loss: segment 4. At the third duplicate ACK FlightSize is six segments, 7200 bytes:
    // ssthresh = cwnd = max(7200 / 2, 2 * SMSS) (equation (4), RFC 6675 step (4.2)).
    for i in 6..=8 {
        send(&mut conn, at(1_300), ack_sack(s(4), &[(s(5), s(i))]));
    }
    assert_eq!(window(&conn), (3_600, 3_600));
    assert_eq!(
        recv(&mut conn, at(1_300)),
        flight(LOCAL, 4..5, Reason::FastRetransmission)
    );
    // During recovery, pipe rules: each SACKed segment lets one new segment out.
    for (i, now) in [(9, 1_301), (10, 1_302)] {
        send(&mut conn, at(now), ack_sack(s(4), &[(s(5), s(i))]));
        assert_eq!(
            recv(&mut conn, at(now)),
            flight(LOCAL, i + 1..i + 2, Reason::NewData)
        );
    }
    assert_eq!(window(&conn), (3_600, 3_600));
    // The full ACK (up to segment 10, the recovery point) ends recovery at cwnd = ssthresh.
    send(&mut conn, at(1_400), ack(s(10)));
    assert_eq!(window(&conn), (3_600, 3_600));
    assert_eq!(
        recv(&mut conn, at(1_400)),
        flight(LOCAL, 12..13, Reason::NewData)
    );

    // Congestion avoidance: one SMSS more once a whole cwnd (3600 bytes) is delivered. The
    // full ACK's 1200 bytes (segment 4's retransmission; 5 to 9 were SACKed) count, as in
    // Linux, so two more ACKs make it.
    send(&mut conn, at(1_500), ack(s(11)));
    assert_eq!(window(&conn), (3_600, 3_600));
    assert_eq!(
        recv(&mut conn, at(1_500)),
        flight(LOCAL, 13..14, Reason::NewData)
    );
    send(&mut conn, at(1_500), ack(s(12)));
    assert_eq!(window(&conn), (4_800, 3_600));
    assert_eq!(
        recv(&mut conn, at(1_500)),
        flight(LOCAL, 14..16, Reason::NewData)
    );
    recv_nothing(&mut conn, at(1_500));
}

// -------------------------------------------------------------------------------------------
// A retransmission timeout during recovery (RFC 5681 section 3.1, RFC 6582 section 3.2,
// RFC 6675 section 5.1)

#[test]
fn rto_during_sack_recovery_ends_it_keeps_sacks_and_blocks_a_new_one() {
    let (mut conn, base) = sack_fast_recovery();
    let s = |i: u32| base + i * MSS;
    // Segment 0's retransmission is lost too. The timer, armed when the flight left at
    // 1000 ms with an RTO of 200 ms, expires.
    assert_eq!(conn.poll_timeout(), Some(at(1_200)));
    // cwnd drops to the loss window, 1 SMSS; ssthresh = max(FlightSize / 2, 2 * SMSS) with
    // the six segments still outstanding. The oldest unSACKed segment goes first.
    assert_eq!(
        timeout(&mut conn, at(1_200)),
        flight(base, 0..1, Reason::RtoRetransmission { timeout: 1 })
    );
    assert_eq!(conn.stats().congestion_window, MSS);
    assert_eq!(conn.stats().slow_start_threshold, 3_600);
    // Again, after the backed-off RTO: ssthresh is not set again for the same data.
    let again = conn.poll_timeout().unwrap();
    assert_eq!(
        timeout(&mut conn, again),
        flight(base, 0..1, Reason::RtoRetransmission { timeout: 2 })
    );
    assert_eq!(conn.stats().congestion_window, MSS);
    assert_eq!(conn.stats().slow_start_threshold, 3_600);

    // Segment 0 arrives: the ACK covers it and segment 1 (SACKed). Slow start opens cwnd to
    // 2400, and the unSACKed segments 2 and 5 go; 3 and 4, SACKed, do not.
    send(&mut conn, at(1_700), ack_sack(s(2), &[(s(3), s(5))]));
    assert_eq!(conn.stats().congestion_window, 2 * MSS);
    assert_eq!(
        recv(&mut conn, at(1_700)),
        [
            flight(base, 2..3, Reason::RtoRetransmission { timeout: 2 }),
            flight(base, 5..6, Reason::RtoRetransmission { timeout: 2 }),
        ]
        .concat()
    );
    // Segment 5's copy arrives: a duplicate ACK after which IsLost(segment 2) holds. Below
    // the recovery point (all six segments) no new fast recovery starts: no halving, no
    // resending.
    send(&mut conn, at(1_701), ack_sack(s(2), &[(s(3), s(6))]));
    recv_nothing(&mut conn, at(1_701));
    assert_eq!(conn.stats().congestion_window, 2 * MSS);
    assert_eq!(conn.stats().slow_start_threshold, 3_600);

    // Segment 2 arrives: all acknowledged; slow start goes on.
    send(&mut conn, at(1_800), ack(s(6)));
    recv_nothing(&mut conn, at(1_800));
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3 * MSS);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.fast, 1);
    assert_eq!(stats.retransmissions.rto, 4);
    assert_eq!(stats.retransmissions.sack, 0);
}

#[test]
fn late_duplicate_acks_after_an_rto_start_no_fast_recovery() {
    // RFC 6582 section 3.2 step 2: duplicate ACKs that do not cover more than `recover` (set
    // to the highest sequence number sent when the timer expired) trigger nothing.
    let (mut conn, base) = slow_started(newreno(), 1);
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    assert_eq!(
        timeout(&mut conn, at(1_200)),
        flight(base, 0..1, Reason::RtoRetransmission { timeout: 1 })
    );
    for now in [1_250, 1_251, 1_252] {
        send(&mut conn, at(now), ack(base));
    }
    recv_nothing(&mut conn, at(1_252));
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, MSS);
    assert_eq!(stats.slow_start_threshold, 3_600);
    assert_eq!(stats.retransmissions.fast, 0);
}

// -------------------------------------------------------------------------------------------
// The fixed window

#[test]
fn fixed_window_never_limits_and_loss_leaves_it_alone() {
    let mut conn = established_with(Config {
        congestion_control: CongestionControl::Fixed,
        ..newreno()
    });
    write_segments(&mut conn, LOCAL, 20);
    // Twenty segments at once: only the peer's 65 535-byte window could stop them.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(LOCAL, 0..20, Reason::NewData)
    );
    for now in [1_100, 1_101] {
        send(&mut conn, at(now), ack(LOCAL));
        recv_nothing(&mut conn, at(now));
    }
    send(&mut conn, at(1_102), ack(LOCAL));
    assert_eq!(
        recv(&mut conn, at(1_102)),
        flight(LOCAL, 0..1, Reason::FastRetransmission)
    );
    send(&mut conn, at(1_103), ack(LOCAL));
    recv_nothing(&mut conn, at(1_103));
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, u32::MAX);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
    send(&mut conn, at(1_200), ack(LOCAL + 20 * MSS));
    assert!(conn.is_send_complete());
    assert_eq!(conn.stats().congestion_window, u32::MAX);
    recv_nothing(&mut conn, at(1_200));
}

// -------------------------------------------------------------------------------------------
// Spoofed duplicate ACKs without SACK (RFC 6582's inflation)

/// Slow-started to a 14 400-byte window, with a peer window and send buffer of megabytes, a
/// flight of twelve segments at 1000 ms whose first is lost; `duplicates` duplicate ACKs
/// arrive at 1100 ms, a round trip later. Returns the new segments sent in that round.
fn new_segments_drawn_by(duplicates: u32) -> usize {
    let (mut conn, base) = slow_started(
        Config {
            send_buffer: SendBuffer::Fixed(4 << 20),
            ..newreno()
        },
        2,
    );
    let wide = |ack: SeqNum| Segment {
        ack,
        window: 4 << 20,
        ..SEND_TEMPL
    };
    send(&mut conn, at(900), wide(base));
    write_segments(&mut conn, base, 3_000);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..12, Reason::NewData)
    );
    let mut new_segments = 0;
    for _ in 0..duplicates {
        send(&mut conn, at(1_100), wide(base));
        new_segments += recv(&mut conn, at(1_100))
            .iter()
            .filter(|(_, reason)| *reason == Reason::NewData)
            .count();
    }
    assert_eq!(conn.stats().retransmissions.fast, 1);
    new_segments
}

/// RFC 6582 inflates the window by one SMSS per duplicate ACK, each taken for a segment that
/// left the network. Without SACK nothing checks the claim: 2000 spoofed duplicates (the
/// same ACK and window as the real ones, easy to forge) drew 1994 new segments in one round
/// trip. As Linux's tcp_limit_reno_sacked, the duplicates counted never exceed the segments
/// in flight, less the hole, counted when the round began: here 13 (12, and 2 sent by
/// limited transmit, less segment 0), two more than the 11 an honest receiver sends.
#[test]
fn spoofed_duplicate_acks_inflate_the_window_no_further_than_the_flight() {
    // The 11 honest duplicates, for segments 1 to 11: two segments by limited transmit, and
    // three as the inflation reaches 11 SMSS over ssthresh (7200).
    assert_eq!(new_segments_drawn_by(11), 5);
    assert_eq!(new_segments_drawn_by(2_000), 7);
}
