//! Proportional rate reduction (RFC 6937) during a SACK recovery, and the undo of a recovery
//! that D-SACK proves spurious (RFC 2883 section 4, RFC 3708), in smoltcp's style (see
//! `tests/mod.rs` for the method).
//!
//! Numbers as in `rack.rs`: segments of [`MSS`] = 1200 bytes, SRTT 100 ms, the default
//! settings (RACK-TLP on, NewReno's halving).

use super::*;

/// Two rounds of slow start open the window to 14,400 bytes: 12 segments go at 1000 ms, with
/// 12 more queued behind them. Segment 0 is lost. The first ACK, at 1101 ms, SACKs segments 1
/// to 3: beyond DupThresh with no reordering seen, RACK calls segment 0 lost, and recovery
/// begins with RecoverFS = 14,400 and ssthresh = 7200. The ACKs of segments 4 to 11 follow,
/// 1 ms apart.
#[test]
fn prr_spreads_the_window_reduction_over_the_acks_of_the_recovery() {
    let (mut conn, base) = slow_started(newreno_config(), 2);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 24);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..12, Reason::NewData)
    );
    // Pipe is 8 segments (12, less 3 SACKed and the lost one), above ssthresh, so RFC 6937's
    // proportional part applies: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) -
    // prr_out = 3600 * 7200 / 14,400 = 1800 bytes. The fast retransmission takes 1200.
    send(&mut conn, at(1_101), ack_sack(base, &[(s(1), s(4))]));
    assert_eq!(
        recv(&mut conn, at(1_101)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    assert_eq!(conn.stats().slow_start_threshold, 7_200);
    // Each further SACKed segment delivers 1200 bytes, of which PRR lets half out again while
    // pipe is above ssthresh: sndcnt = (k - 1) * 600 - prr_out, a new segment at k = 4 and 6.
    // At k = 8 pipe has fallen to ssthresh; from there the slow-start reduction bound
    // (PRR-SSRB) sends what each ACK delivered as long as pipe stays at most ssthresh, a
    // segment an ACK. Halving cwnd at once instead sends nothing until pipe is below 7200
    // (k = 7), then one segment an ACK: quiet, then all at the end.
    let sent_on_ack = [
        (4, 1),
        (5, 0),
        (6, 1),
        (7, 0),
        (8, 0),
        (9, 1),
        (10, 1),
        (11, 1),
    ];
    let mut next_new = 12;
    for (k, segments) in sent_on_ack {
        let now = at(1_100 + u64::from(k));
        send(&mut conn, now, ack_sack(base, &[(s(1), s(k + 1))]));
        assert_eq!(
            recv(&mut conn, now),
            flight(base, next_new..next_new + segments, Reason::NewData),
            "the ACK of segment {k}"
        );
        next_new += segments;
    }
    // The retransmission arrives and ends recovery: cwnd is ssthresh (RFC 6937 section 3),
    // with the five new segments in flight, so one more goes, and pipe is ssthresh.
    send(&mut conn, at(1_204), ack(s(12)));
    assert_eq!(conn.stats().congestion_window, 7_200);
    assert_eq!(
        recv(&mut conn, at(1_204)),
        flight(base, 17..18, Reason::NewData)
    );
    assert_eq!(conn.recovery.retransmission_queue().pipe(), 7_200);
}

// -------------------------------------------------------------------------------------------
// Undo by D-SACK (RFC 2883 section 4, RFC 3708; Linux's undo_retrans)

/// Slow-started to 7200 bytes; six segments at 1000 ms. Segment 0 is only delayed: 1 to 5
/// arrive first, RACK calls it lost (no reordering seen yet), resends it and halves the
/// window. Then the original arrives and ends recovery. Returns the connection and `base`.
fn reordered_first_segment() -> (Connection, SeqNum) {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 6);
    assert_eq!(recv(&mut conn, at(1_000)).len(), 6);
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(6))]));
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    send(&mut conn, at(1_110), ack(s(6)));
    recv_nothing(&mut conn, at(1_110));
    let stats = conn.stats();
    assert_eq!(
        (stats.congestion_window, stats.slow_start_threshold),
        (3_600, 3_600)
    );
    (conn, base)
}

#[test]
fn a_dsack_of_every_retransmission_undoes_the_window_reduction() {
    let (mut conn, base) = reordered_first_segment();
    // The retransmission arrives too, and the peer reports it by D-SACK: it was not needed,
    // so neither was halving the window. cwnd and ssthresh are what they were before.
    send(
        &mut conn,
        at(1_200),
        ack_sack(base + 6 * MSS, &[(base, base + MSS)]),
    );
    let stats = conn.stats();
    assert_eq!(stats.spurious_retransmissions, 1);
    assert_eq!(stats.dsack_undos, 1);
    assert_eq!(
        (stats.congestion_window, stats.slow_start_threshold),
        (7_200, u32::MAX)
    );
    // So the next flight is a full 7200-byte window.
    write_segments(&mut conn, base + 6 * MSS, 8);
    assert_eq!(
        recv(&mut conn, at(1_300)),
        flight(base, 6..12, Reason::NewData)
    );
}

#[test]
fn a_dsack_of_data_sent_once_undoes_nothing() {
    let (mut conn, base) = reordered_first_segment();
    // A D-SACK of segment 1, which went once: the network duplicated it. It says nothing of
    // the retransmission, which may have been needed.
    send(
        &mut conn,
        at(1_200),
        ack_sack(base + 6 * MSS, &[(base + MSS, base + 2 * MSS)]),
    );
    let stats = conn.stats();
    assert_eq!(stats.dsack_received, 1);
    assert_eq!(stats.dsack_undos, 0);
    assert_eq!(
        (stats.congestion_window, stats.slow_start_threshold),
        (3_600, 3_600)
    );
}

#[test]
fn a_dsack_of_a_retransmission_counts_as_reordering_seen() {
    let (mut conn, base) = reordered_first_segment();
    let s = |i: u32| base + i * MSS;
    send(&mut conn, at(1_200), ack_sack(s(6), &[(base, s(1))]));
    // The next flight: segment 6 is overtaken by the five after it. Had RACK seen no
    // reordering, five SACKed segments beyond DupThresh would make its window zero and
    // segment 6 lost at once, as segment 0 was. The D-SACK showed reordering (as Linux
    // counts it), so RACK waits its reordering window, and the late original arrives.
    write_segments(&mut conn, s(6), 6);
    assert_eq!(
        recv(&mut conn, at(1_300)),
        flight(base, 6..12, Reason::NewData)
    );
    send(&mut conn, at(1_400), ack_sack(s(6), &[(s(7), s(12))]));
    recv_nothing(&mut conn, at(1_400));
    send(&mut conn, at(1_410), ack(s(12)));
    recv_nothing(&mut conn, at(1_410));
    assert_eq!(conn.stats().retransmissions.total(), 1);
}
