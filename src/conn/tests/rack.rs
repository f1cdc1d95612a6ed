//! Segment-level tests of RACK-TLP (RFC 8985), D-SACK (RFC 2883), F-RTO (RFC 5682), RFC 6675's
//! duplicate-ACK rule and quick ACKs, in smoltcp's style (see `tests/mod.rs` for the method).
//!
//! Numbers as in `recovery.rs`: segments of [`MSS`] = 1200 bytes; after one round of
//! slow start the window is 7200 bytes, SRTT 100 ms (so RACK's minimum RTT too) and the RTO
//! at its 200 ms floor. These tests run with the default settings, RACK-TLP on.

use super::*;

// -------------------------------------------------------------------------------------------
// RACK: loss detection by time (RFC 8985 section 6)

#[test]
fn rack_marks_a_lost_retransmission_lost_again_without_a_timeout() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    // Segments 1 to 5 arrive, 0 does not. Five SACKed segments are past DupThresh and no
    // reordering was seen, so the reordering window is zero: segment 0, sent before segment
    // 5 and more than RACK.rtt (100 ms) ago, is lost now. Recovery halves the window.
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(6))]));
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    assert_eq!(conn.stats().congestion_window, 3_600);
    recv_nothing(&mut conn, at(1_100));

    // New data goes while the retransmission is in flight (pipe 1200 of 3600)...
    write_segments(&mut conn, s(6), 2);
    assert_eq!(
        recv(&mut conn, at(1_150)),
        flight(base, 6..8, Reason::NewData)
    );
    // ... and arrives while the retransmission does not. Segment 6 was sent after segment 0's
    // second copy, so that copy is lost too: RFC 6675 could not tell, RACK can.
    send(
        &mut conn,
        at(1_250),
        ack_sack(base, &[(s(6), s(7)), (s(1), s(6))]),
    );
    assert_eq!(
        recv(&mut conn, at(1_250)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    recv_nothing(&mut conn, at(1_250));
    let stats = conn.stats();
    assert_eq!(stats.retransmissions.rack, 2);
    assert_eq!(stats.rto_timeouts, 0);
}

#[test]
fn rack_waits_a_reordering_window_before_calling_a_hole_lost() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    // One segment above the hole: it may be reordering. The window is a quarter of the
    // minimum RTT (25 ms) from when segment 0 went, plus RACK.rtt.
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(2))]));
    recv_nothing(&mut conn, at(1_100));
    assert_eq!(conn.poll_timeout(), Some(at(1_125)));
    assert_eq!(
        timeout(&mut conn, at(1_125)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    recv_nothing(&mut conn, at(1_125));
}

/// RFC 8985 section 6.3: a timeout marks the oldest segment lost, and the others only once
/// RACK.rtt plus the reordering window has passed since they were sent. One sent just before
/// the timer expired is in flight still, and is not sent again.
#[test]
fn a_timeout_leaves_a_segment_sent_just_before_it_in_flight() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    // The peer's window takes four segments.
    send(
        &mut conn,
        at(900),
        Segment {
            ack: base,
            window: 4 * MSS,
            ..SEND_TEMPL
        },
    );
    write_segments(&mut conn, base, 5);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..4, Reason::NewData)
    );
    // Segment 0 is lost: RACK resends it and recovery begins, with cwnd = 2400.
    let sack_of_1_to_3 = Segment {
        window: 4 * MSS,
        ..ack_sack(base, &[(s(1), s(4))])
    };
    send(&mut conn, at(1_100), sack_of_1_to_3);
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    // Its copy is lost too, and the path stalls: five probes of it, unanswered.
    for _ in 0..5 {
        let probe_at = conn.poll_timeout().unwrap();
        assert_eq!(
            timeout(&mut conn, probe_at),
            flight(base, 0..1, Reason::TailLossProbe)
        );
    }
    let rto_at = conn.poll_timeout().unwrap();
    assert_eq!(conn.timers.get(Timer::Retransmit), Some(rto_at));
    // 50 ms before the timer expires, the peer's window opens: segment 4 goes.
    let opened_at = Instant::from_micros(rto_at.as_micros() - 50_000);
    send(
        &mut conn,
        opened_at,
        Segment {
            window: PEER_WINDOW,
            ..sack_of_1_to_3
        },
    );
    assert_eq!(
        recv(&mut conn, opened_at),
        flight(base, 4..5, Reason::NewData)
    );
    // The timer: segment 0 goes again, though segment 4 fills the window of one segment.
    assert_eq!(
        timeout(&mut conn, rto_at),
        flight(base, 0..1, Reason::RtoRetransmission { timeout: 1 })
    );
    // Segment 0 arrives: segment 4, sent 50 ms before the timeout and well within RACK.rtt
    // (100 ms), is not resent.
    send(&mut conn, rto_at + ms(50), ack(s(4)));
    recv_nothing(&mut conn, rto_at + ms(50));
    send(&mut conn, rto_at + ms(100), ack(s(5)));
    recv_nothing(&mut conn, rto_at + ms(100));
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!(stats.retransmissions.rto, 1);
    assert_eq!(stats.bytes_retransmitted, 7 * u64::from(MSS));
}

/// The cumulative ACK stops at a segment the peer SACKed: if it discarded it (RFC 2018
/// section 8), nothing but forgetting the SACKs resends it. As Linux's
/// tcp_check_sack_reneging, the sender acts after max(SRTT / 2, 10 ms), not after probes and
/// the RTO; unlike Linux, not as for a timeout: what the peer dropped goes again, from
/// snd_una, in the congestion window as it stands, and the timer is not backed off.
#[test]
fn a_cumulative_ack_that_stops_at_sacked_data_brings_the_timer_forward() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    // Segments 0 and 1 are late; 2 and 3 are SACKed...
    send(&mut conn, at(1_100), ack_sack(base, &[(s(2), s(4))]));
    recv_nothing(&mut conn, at(1_100));
    // ... and when 0 and 1 arrive, the ACK stops at segment 2: the peer dropped it.
    send(&mut conn, at(1_110), ack(s(2)));
    recv_nothing(&mut conn, at(1_110));
    let half_rtt = conn.stats().smoothed_rtt.unwrap() / 2;
    let due = at(1_110) + half_rtt;
    assert_eq!(conn.poll_timeout(), Some(due));
    let before = conn.stats();
    // The SACKs are forgotten: segments 2 and 3 go again at once, 4 and 5 being in flight
    // (pipe 4800 of a window of 7200, not reduced).
    assert_eq!(
        timeout(&mut conn, due),
        flight(base, 2..4, Reason::RenegeRetransmission)
    );
    recv_nothing(&mut conn, due);
    let after = conn.stats();
    assert_eq!(after.congestion_window, before.congestion_window);
    assert_eq!(after.slow_start_threshold, before.slow_start_threshold);
    assert_eq!(after.rto, before.rto, "the timer is not backed off");
    assert_eq!(after.rto_timeouts, 0);
    assert_eq!(after.retransmissions.renege, 2);
    assert_eq!(conn.poll_timeout(), Some(due + after.rto));
    send(&mut conn, due + ms(100), ack(s(6)));
    recv_nothing(&mut conn, due + ms(100));
    assert!(conn.is_send_complete());
}

/// After a renege the dropped segments go ahead of new data, the oldest whatever the window
/// (as a recovery's first retransmission, RFC 6675 step (4.3)), the others as the window
/// allows, and new data fills the rest of a window that stays what it was: a renege is no
/// congestion signal (RFC 5681 section 3.1). The duplicate ACKs that follow are not taken for
/// loss because a dropped segment awaits its copy: no fast recovery begins.
#[test]
fn after_a_renege_the_dropped_data_goes_first_and_the_window_stays() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    // Segments 2 and 3 are SACKed, and the ACK that fills the hole stops at 2: the peer
    // dropped them.
    send(&mut conn, at(1_090), ack_sack(base, &[(s(2), s(4))]));
    send(&mut conn, at(1_100), ack(s(2)));
    // That ACK grew the window by one segment, to 7 (RFC 5681 equation (2)); 4 and 5 are in
    // flight, so new data fills it up.
    write_segments(&mut conn, s(6), 10);
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 6..11, Reason::NewData)
    );
    assert_eq!(conn.stats().congestion_window, 7 * MSS);
    let due = at(1_100) + conn.stats().smoothed_rtt.unwrap() / 2;
    assert_eq!(conn.poll_timeout(), Some(due));
    // The pipe is 7 segments (4 to 10), the window 7: segment 2 goes whatever the window,
    // 3 and new data wait for room.
    assert_eq!(
        timeout(&mut conn, due),
        flight(base, 2..3, Reason::RenegeRetransmission)
    );
    recv_nothing(&mut conn, due);
    // Segments 4 to 7 are SACKed, the pipe is down to 4 (2's copy, 8 to 10): segment 3 goes
    // first, then new data, one segment beyond the window by limited transmit (RFC 3042).
    send(&mut conn, due + ms(10), ack_sack(s(2), &[(s(4), s(8))]));
    let mut sent = flight(base, 3..4, Reason::RenegeRetransmission);
    sent.extend(flight(base, 11..14, Reason::NewData));
    assert_eq!(recv(&mut conn, due + ms(10)), sent);
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 7 * MSS);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
    assert_eq!(stats.retransmissions.renege, 2);
    assert_eq!(stats.retransmissions.total(), 2);
    assert_eq!(stats.rto_timeouts, 0);
}

// -------------------------------------------------------------------------------------------
// Tail loss probes (RFC 8985 section 7)

#[test]
fn a_tail_loss_probe_repairs_a_lost_last_segment_without_a_timeout() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    // The last segment is lost: nothing comes after it to show RACK the hole.
    send(&mut conn, at(1_100), ack(s(2)));
    recv_nothing(&mut conn, at(1_100));
    // The probe is due after 2 x SRTT, plus the peer's delayed-ACK time with one segment in
    // flight: 1340 ms; the RTO (200 ms) comes first, and the probe goes in its place.
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        flight(base, 2..3, Reason::TailLossProbe)
    );
    recv_nothing(&mut conn, at(1_300));
    send(&mut conn, at(1_400), ack(s(3)));
    recv_nothing(&mut conn, at(1_400));
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!(stats.rto_timeouts, 0);
    assert_eq!(stats.retransmissions.tlp, 1);
    assert_eq!(stats.tail_loss_probes, 1);
}

/// The FIN went on its own after the data, and the last data segment was lost: the FIN
/// arrived beyond the hole, where no SACK block can show it. A probe of the FIN would draw the
/// same ACK again and again until the retransmission timer; the probe sends the lost data,
/// which completes the stream, FIN and all, within the round trip.
#[test]
fn a_tail_loss_probe_resends_the_last_data_not_a_lone_fin_behind_it() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    conn.shutdown();
    let fin = recv(&mut conn, at(1_000));
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0].0.seq, s(3));
    assert_eq!(fin[0].0.flags, Flags::ACK | Flags::FIN);
    assert!(fin[0].0.payload.is_empty());
    // Segment 2 is lost; the FIN arrives but cannot be SACKed.
    send(&mut conn, at(1_100), ack(s(2)));
    recv_nothing(&mut conn, at(1_100));
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        flight(base, 2..3, Reason::TailLossProbe)
    );
    send(&mut conn, at(1_400), ack(s(3) + 1));
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!(stats.rto_timeouts, 0);
    assert_eq!(stats.retransmissions.tlp, 1);
}

/// RFC 8985 section 7.2 adds the peer's delayed-ACK time to the probe timeout when the peer
/// may be holding its ACK: with one segment in flight, which a segment carrying the FIN is
/// too (its FIN took the flight one byte past a full segment), and with two whose data is
/// less than two full segments (RFC 5681 section 4.2 acknowledges every second full-sized
/// one at once, not every second one).
#[test]
fn the_probe_allows_for_a_delayed_ack_while_less_than_two_full_segments_are_in_flight() {
    let config = Config {
        min_rto: std::time::Duration::from_secs(1),
        ..newreno_config()
    };
    // SRTT is the handshake's 100 ms: 2 x SRTT and the delayed-ACK time, 40 ms.
    let (mut conn, base) = slow_started(config.clone(), 0);
    write_segments(&mut conn, base, 1);
    conn.shutdown();
    let sent = recv(&mut conn, at(1_000));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.flags, Flags::ACK | Flags::FIN);
    assert_eq!(conn.poll_timeout(), Some(at(1_240)));

    let (mut conn, base) = slow_started(config.clone(), 0);
    write_segments(&mut conn, base, 1);
    assert_eq!(conn.write(&bytes(MSS as usize, 400)), Ok(400));
    assert_eq!(recv(&mut conn, at(1_000)).len(), 2);
    assert_eq!(conn.poll_timeout(), Some(at(1_240)));

    // Two full segments draw an ACK at once: 2 x SRTT and 0.2 ms.
    let (mut conn, base) = slow_started(config, 0);
    write_segments(&mut conn, base, 2);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 2);
    assert_eq!(conn.poll_timeout(), Some(Instant::from_micros(1_200_200)));
}

/// An ACK beyond a probe that resent the last segment, with no D-SACK, says the probe
/// repaired a loss (RFC 8985 section 7.4.2): the window is reduced, and that ACK grows it no
/// further.
#[test]
fn an_ack_showing_a_probe_repaired_a_loss_reduces_the_window_and_grows_nothing() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    send(&mut conn, at(1_100), ack(s(2)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        flight(base, 2..3, Reason::TailLossProbe)
    );
    // More data goes after the probe; the ACK covers it all, without a D-SACK.
    write_segments(&mut conn, s(3), 1);
    assert_eq!(recv(&mut conn, at(1_310)).len(), 1);
    send(&mut conn, at(1_400), ack(s(4)));
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, stats.slow_start_threshold);
    assert!(stats.slow_start_threshold < u32::MAX);
}

/// An unanswered probe is followed by a second after the same wait (a probe or its ACK lost
/// once is common on a lossy path), and only then do the waits double.
#[test]
fn unanswered_probes_repeat_once_then_back_off() {
    let config = Config {
        min_rto: std::time::Duration::from_secs(5),
        ..newreno_config()
    };
    let (mut conn, base) = slow_started(config, 0);
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    // SRTT is the handshake's 100 ms: each wait is 2 x SRTT + 0.2 ms, then 2x, 4x.
    for probe_at in [1_200_200, 1_400_400, 1_800_800, 2_601_600] {
        let probe_at = Instant::from_micros(probe_at);
        assert_eq!(conn.poll_timeout(), Some(probe_at));
        assert_eq!(
            timeout(&mut conn, probe_at),
            flight(base, 2..3, Reason::TailLossProbe)
        );
    }
    assert_eq!(conn.stats().rto_timeouts, 0);
}

/// Our direction is black-holed on a 50 us path; the peer is alive and sends a byte every
/// 10 s, acknowledging nothing new. Probes must not keep pushing the retransmission timer
/// back: the connection times out after `max_retransmissions`, as with a silent peer.
#[test]
fn a_one_way_black_hole_times_out_though_the_peer_keeps_sending() {
    let micros = Instant::from_micros;
    let mut conn = Connection::connect(newreno_config(), remote_addr(), LOCAL_ISN).unwrap();
    assert_eq!(recv(&mut conn, micros(0)).len(), 1);
    let syn_ack = Segment {
        flags: Flags::SYN | Flags::ACK,
        options: PEER_SYN_OPTIONS,
        seq: REMOTE_ISN,
        ..SEND_TEMPL
    };
    send(&mut conn, micros(50), syn_ack);
    assert_eq!(recv(&mut conn, micros(50)).len(), 1);
    write_segments(&mut conn, LOCAL, 3);
    assert_eq!(recv(&mut conn, micros(100)).len(), 3);
    let mut peer_seq = REMOTE;
    let mut next_peer_segment = at(10_000);
    let a_day = at(24 * 3600 * 1000);
    let mut now = micros(100);
    while !conn.is_closed() && now < a_day {
        let due = conn.poll_timeout().unwrap_or(a_day);
        if next_peer_segment <= due {
            now = next_peer_segment;
            let byte = [7u8];
            let segment = Segment {
                seq: peer_seq,
                ack: LOCAL,
                payload: &byte,
                ..SEND_TEMPL
            };
            send(&mut conn, now, segment);
            peer_seq += 1;
            next_peer_segment = now + std::time::Duration::from_secs(10);
        } else {
            now = due;
            conn.handle_timeout(now);
        }
        while conn.poll_transmit(now).is_some() {}
    }
    assert!(
        conn.is_closed(),
        "still open after a day: {:?}",
        conn.stats()
    );
    assert_eq!(conn.error(), Some(ConnectionError::TimedOut));
    assert!(now < at(3600 * 1000), "timed out only at {now:?}");
}

#[test]
fn a_tail_loss_probe_sends_new_data_when_the_peer_window_allows() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    // Eight segments written, six fit the congestion window.
    write_segments(&mut conn, base, 8);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..6, Reason::NewData)
    );
    // No ACK comes. The probe is new data beyond the congestion window: one segment.
    assert_eq!(
        timeout(&mut conn, at(1_200)),
        vec![(data(s(6)), Reason::TailLossProbeNewData)]
    );
    let stats = conn.stats();
    assert_eq!(stats.tail_loss_probes, 1);
    assert_eq!(
        stats.retransmissions.total(),
        0,
        "new data is no retransmission"
    );
    assert_eq!(stats.rto_timeouts, 0);
}

#[test]
fn a_spurious_probe_is_reported_by_dsack_and_counted() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    send(&mut conn, at(1_100), ack(s(2)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        flight(base, 2..3, Reason::TailLossProbe)
    );
    // The last segment was only slow: its ACK comes, then the probe's, as a D-SACK below the
    // cumulative ACK (RFC 2883 section 4).
    send(&mut conn, at(1_310), ack(s(3)));
    send(&mut conn, at(1_400), ack_sack(s(3), &[(s(2), s(3))]));
    recv_nothing(&mut conn, at(1_400));
    let stats = conn.stats();
    assert_eq!(stats.dsack_received, 1);
    assert_eq!(stats.spurious_retransmissions, 1);
    // Both copies arrived: no loss, so no window reduction.
    assert_eq!(stats.slow_start_threshold, u32::MAX);
}

/// A D-SACK of a tail loss probe's copy shows only that the probe was not needed: it went on
/// a timer, not because RACK called a segment lost too soon, so RACK's reordering window
/// stays as it was (Linux ignores such a D-SACK too).
#[test]
fn a_dsack_of_a_probe_leaves_the_reordering_window_alone() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 3);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 3);
    send(&mut conn, at(1_100), ack(s(2)));
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        flight(base, 2..3, Reason::TailLossProbe)
    );
    send(&mut conn, at(1_310), ack(s(3)));
    send(&mut conn, at(1_400), ack_sack(s(3), &[(s(2), s(3))]));
    assert_eq!(conn.stats().spurious_retransmissions, 1);
    // The next flight: one segment SACKed above a hole. RACK waits RACK.rtt (100 ms) and a
    // reordering window of a quarter of the minimum RTT, 25 ms, as before the probe.
    write_segments(&mut conn, s(3), 6);
    assert_eq!(
        recv(&mut conn, at(2_000)),
        flight(base, 3..9, Reason::NewData)
    );
    send(&mut conn, at(2_100), ack_sack(s(3), &[(s(4), s(5))]));
    recv_nothing(&mut conn, at(2_100));
    assert_eq!(conn.poll_timeout(), Some(at(2_125)));
}

// -------------------------------------------------------------------------------------------
// F-RTO: a spurious timeout undone (RFC 5682 section 3, the SACK-enhanced algorithm)

/// Slow-started to a 7200-byte window, six segments sent at 1000 ms, and then the path stalls:
/// no ACK comes. Five probes of the last segment (MIN_LOSS_PROBES), each unanswered, then the
/// timer at 2200 ms resends the oldest segment, with two more segments written meanwhile. The
/// timeout starts F-RTO (step 1).
fn timed_out() -> (Connection, SeqNum) {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    for probe_at in [1_200, 1_400, 1_600, 1_800, 2_000] {
        assert_eq!(
            timeout(&mut conn, at(probe_at)),
            flight(base, 5..6, Reason::TailLossProbe)
        );
    }
    write_segments(&mut conn, base + 6 * MSS, 2);
    assert_eq!(conn.poll_timeout(), Some(at(2_200)));
    assert_eq!(
        timeout(&mut conn, at(2_200)),
        flight(base, 0..1, Reason::RtoRetransmission { timeout: 1 })
    );
    assert_eq!(conn.stats().congestion_window, MSS);
    (conn, base)
}

/// [`timed_out`], then the first ACK after the timeout, at 2250 ms, moves snd_una past
/// segment 0: F-RTO sends new data, segments 6 and 7, not segment 1 (step 2b).
fn timed_out_then_new_data() -> (Connection, SeqNum) {
    let (mut conn, base) = timed_out();
    send(&mut conn, at(2_250), ack(base + MSS));
    assert_eq!(
        recv(&mut conn, at(2_250)),
        flight(base, 6..8, Reason::NewData)
    );
    (conn, base)
}

#[test]
fn frto_undoes_a_spurious_timeout_when_original_segments_are_acknowledged() {
    let (mut conn, base) = timed_out_then_new_data();
    let s = |i: u32| base + i * MSS;
    // The next ACK acknowledges segments 1 and 2, never retransmitted: they were only delayed.
    send(&mut conn, at(2_251), ack(s(3)));
    let stats = conn.stats();
    assert_eq!(stats.spurious_timeouts, 1);
    // The congestion response is undone: the window and threshold before the timeout.
    assert_eq!(stats.congestion_window, 7_200);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
    // Segments 3 and 4 are not resent: they were never lost.
    let sent = recv(&mut conn, at(2_251));
    assert!(
        sent.iter().all(|(_, reason)| *reason == Reason::NewData),
        "{sent:?}"
    );
}

/// Step 3b: an ACK that acknowledges every original segment, up to the RecoveryPoint and not
/// beyond, shows the timeout spurious, though it also ends the timeout's recovery (it used
/// to end F-RTO first, and the undo was missed).
#[test]
fn frto_undoes_when_the_second_ack_reaches_the_recovery_point() {
    let (mut conn, base) = timed_out_then_new_data();
    let s = |i: u32| base + i * MSS;
    // Segments 1 to 5, delayed and never resent but for the probes of 5, all at once.
    send(&mut conn, at(2_251), ack(s(6)));
    let stats = conn.stats();
    assert_eq!(stats.spurious_timeouts, 1);
    assert_eq!(stats.congestion_window, 7_200);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
}

/// Step 3a: an ACK that covers data beyond the RecoveryPoint, sent by step 2b after the
/// timeout, does not show the original segments were only delayed.
#[test]
fn frto_keeps_the_timeout_when_the_second_ack_covers_data_sent_after_it() {
    let (mut conn, base) = timed_out_then_new_data();
    let s = |i: u32| base + i * MSS;
    send(&mut conn, at(2_251), ack(s(7)));
    let stats = conn.stats();
    assert_eq!(stats.spurious_timeouts, 0);
    assert!(stats.congestion_window < 7_200, "{stats:?}");
    assert_eq!(stats.slow_start_threshold, 3_600);
}

#[test]
fn frto_keeps_the_timeout_when_a_duplicate_ack_follows() {
    let (mut conn, base) = timed_out_then_new_data();
    let s = |i: u32| base + i * MSS;
    // A duplicate ACK: segment 1 really is lost. Recovery by the timer goes on.
    send(&mut conn, at(2_300), ack_sack(s(1), &[(s(6), s(7))]));
    let sent = recv(&mut conn, at(2_300));
    assert_eq!(
        sent[0],
        (data(s(1)), Reason::RtoRetransmission { timeout: 1 })
    );
    assert_eq!(conn.stats().spurious_timeouts, 0);
}

/// Step 2 of the SACK-enhanced algorithm: duplicate ACKs before the first ACK that moves
/// snd_una only update the scoreboard (the basic algorithm of section 2 would give up on the
/// first). Here segment 0 was lost and 1 and 2 were late: once the timeout's retransmission
/// fills the hole, segments 3 and 4, never resent, are acknowledged and show that the timer
/// fired while the flight was still arriving.
#[test]
fn frto_stays_in_step_2_through_duplicate_acks_with_sack_blocks() {
    let (mut conn, base) = timed_out();
    let s = |i: u32| base + i * MSS;
    send(&mut conn, at(2_230), ack_sack(base, &[(s(1), s(3))]));
    recv_nothing(&mut conn, at(2_230));
    send(&mut conn, at(2_250), ack(s(3)));
    assert_eq!(
        recv(&mut conn, at(2_250)),
        flight(base, 6..8, Reason::NewData)
    );
    send(&mut conn, at(2_251), ack(s(5)));
    let stats = conn.stats();
    assert_eq!(stats.spurious_timeouts, 1);
    assert_eq!(stats.congestion_window, 7_200);
}

/// Step 1: F-RTO starts only when no loss recovery is under way. A timeout while the
/// recovery of an earlier, genuine loss still goes on (snd_una below its RecoveryPoint) is
/// not tested for being spurious, so the window from before that loss never comes back.
#[test]
fn frto_does_not_start_on_a_timeout_during_timeout_recovery() {
    let (mut conn, base) = timed_out_then_new_data();
    let s = |i: u32| base + i * MSS;
    // Segment 6 arrives, 1 does not: the loss is real (step 3a), and segment 1 goes again.
    send(&mut conn, at(2_300), ack_sack(s(1), &[(s(6), s(7))]));
    assert_eq!(
        recv(&mut conn, at(2_300)),
        flight(base, 1..2, Reason::RtoRetransmission { timeout: 1 })
    );
    // The path stalls again: probes of the oldest hole, then the timer, the first expiry
    // since the ACK at 2250 ms, with snd_una still below the recovery point.
    let now = loop {
        let now = conn.poll_timeout().unwrap();
        let sent = timeout(&mut conn, now);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, data(s(1)));
        if sent[0].1 != Reason::TailLossProbe {
            assert_eq!(sent[0].1, Reason::RtoRetransmission { timeout: 1 });
            break now;
        }
    };
    // Segment 1's copy arrives, with new data waiting: retransmissions go on, no new data
    // in their place...
    write_segments(&mut conn, s(8), 2);
    let later = now + ms(50);
    send(&mut conn, later, ack_sack(s(2), &[(s(6), s(7))]));
    let sent = recv(&mut conn, later);
    assert_eq!(
        sent.first(),
        Some(&(data(s(2)), Reason::RtoRetransmission { timeout: 1 }))
    );
    assert!(sent.iter().all(|(_, reason)| *reason != Reason::NewData));
    // ... and when segments 2 and 3 are acknowledged, nothing is undone.
    send(&mut conn, later + ms(1), ack_sack(s(4), &[(s(6), s(7))]));
    let stats = conn.stats();
    assert_eq!(stats.spurious_timeouts, 0);
    assert!(stats.congestion_window < 7_200, "{stats:?}");
    assert!(stats.slow_start_threshold < u32::MAX, "{stats:?}");
}

// -------------------------------------------------------------------------------------------
// RFC 6675 section 2's duplicate ACK (RACK off)

#[test]
fn an_ack_with_new_sack_information_is_a_duplicate_even_if_it_moves_snd_una() {
    let (mut conn, base) = slow_started(
        Config {
            duplicate_ack_threshold: 1,
            ..classic_config()
        },
        1,
    );
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 4);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 4);
    // Segments 0 and 1 acknowledged, 3 SACKed, 2 missing, in one ACK: with DupThresh 1 this
    // one duplicate ACK is enough for fast retransmit.
    send(&mut conn, at(1_100), ack_sack(s(2), &[(s(3), s(4))]));
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 2..3, Reason::FastRetransmission)
    );
    assert_eq!(conn.stats().duplicate_acks, 1);
    assert_eq!(conn.stats().rto_timeouts, 0);
}

// -------------------------------------------------------------------------------------------
// The receiver: quick ACKs and D-SACK

#[test]
fn a_new_connection_acknowledges_its_first_segments_at_once() {
    let mut conn = Connection::connect(newreno_config(), remote_addr(), LOCAL_ISN).unwrap();
    assert_eq!(recv(&mut conn, at(0)).len(), 1);
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            options: PEER_SYN_OPTIONS,
            seq: REMOTE - 1,
            ack: LOCAL_ISN + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(100)).len(), 1);
    let payload = bytes(0, 100);
    send(
        &mut conn,
        at(200),
        Segment {
            ack: LOCAL_ISN + 1,
            payload: &payload,
            ..SEND_TEMPL
        },
    );
    // Not delayed: the sender's first window must not wait 40 ms for its ACK.
    assert_eq!(
        recv(&mut conn, at(200)),
        vec![(
            Sent {
                seq: LOCAL_ISN + 1,
                ack: REMOTE + 100,
                window: WINDOW - 100,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
}

#[test]
fn after_a_hole_fills_the_next_segments_are_acknowledged_at_once() {
    let mut conn = established();
    let segment = |offset: usize| bytes(offset, 100);
    let (first, second, third) = (segment(0), segment(100), segment(200));
    // Out of order, then the hole: both acknowledged at once, as RFC 5681 asks.
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 100,
            payload: &second,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    send(
        &mut conn,
        at(1_001),
        Segment {
            payload: &first,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_001)).len(), 1);
    // The next in-order segment too (quick-ACK mode), not after the delayed-ACK timer.
    send(
        &mut conn,
        at(1_002),
        Segment {
            seq: REMOTE + 200,
            payload: &third,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_002)),
        vec![(
            Sent {
                ack: REMOTE + 300,
                window: WINDOW - 300,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
}

#[test]
fn a_duplicate_of_held_out_of_order_data_is_reported_first_with_its_block() {
    let mut conn = established();
    let payload = bytes(100, 100);
    let out_of_order = Segment {
        seq: REMOTE + 100,
        payload: &payload,
        ..SEND_TEMPL
    };
    send(&mut conn, at(1_000), out_of_order);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    send(&mut conn, at(1_001), out_of_order);
    assert_eq!(
        recv(&mut conn, at(1_001)),
        vec![(
            with_sack(
                RECV_TEMPL,
                &[(REMOTE + 100, REMOTE + 200), (REMOTE + 100, REMOTE + 200)]
            ),
            Reason::Ack
        )]
    );
    recv_nothing(&mut conn, at(1_001));
}

#[test]
fn a_batch_of_segments_fed_before_polling_draws_an_ack_per_two_segments() {
    let mut conn = established();
    let data = bytes(0, 4 * MSS as usize);
    for i in 0..4 {
        let start = i * MSS as usize;
        send(
            &mut conn,
            at(1_000),
            Segment {
                seq: REMOTE + start as u32,
                payload: &data[start..start + MSS as usize],
                ..SEND_TEMPL
            },
        );
    }
    // Four full segments in one batch (as a driver drains a socket before it polls): two
    // ACKs, each as it stood when it fell due, not one for the whole batch (RFC 5681
    // section 4.2). Lose one, and the other still tells the sender where the receiver is.
    let ack_at = |bytes: u32| {
        (
            Sent {
                ack: REMOTE + bytes,
                window: WINDOW - bytes,
                ..RECV_TEMPL
            },
            Reason::Ack,
        )
    };
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![ack_at(2 * MSS), ack_at(4 * MSS)]
    );
    recv_nothing(&mut conn, at(1_000));
}
