//! Pacing (`pacing.rs`: RFC 9002 section 7.7 at Linux's rates), as the segments show it: the
//! first flight goes at once, then data leaves one segment per SMSS / rate after a quantum of
//! two, where the deadline the connection reports is the next release; ACKs are not held;
//! pacing off sends the window at once.
//!
//! The handshake gives SRTT 100 ms. The first flight (IW10) is acknowledged at 300 ms, which
//! grows cwnd by slow start to 14,400 bytes (2 x 1200 for the one ACK, RFC 3465's L = 2) and
//! keeps SRTT at 100 ms: 2 x 14,400 bytes / 100 ms, 288,000 bytes/s, one segment every
//! 4.17 ms, with a quantum of max(2 segments, 1 ms at the rate) = 2 segments.

use super::*;

/// Established with the defaults (pacing on) or pacing off; the first flight of 10 sent at
/// 200 ms and acknowledged at 300 ms, with 30 segments written.
fn first_flight_acknowledged(pacing: bool) -> Connection {
    let mut conn = established_with(Config {
        pacing,
        ..Config::default()
    });
    write_segments(&mut conn, LOCAL, 30);
    // The bucket starts with the initial window in it: the first flight is not paced.
    assert_eq!(
        recv(&mut conn, at(200)),
        flight(LOCAL, 0..10, Reason::NewData)
    );
    send(&mut conn, at(300), ack(LOCAL + 10 * MSS));
    assert_eq!(conn.stats().congestion_window, 14_400);
    assert_eq!(conn.stats().smoothed_rtt, Some(ms(100)));
    conn
}

/// 288,000 bytes/s: when the `k`-th segment after the quantum may leave, counted from 300 ms,
/// rounded up to the microsecond.
fn release(k: u64) -> Instant {
    at(300) + Duration::from_micros((k * 1200 * 1_000_000).div_ceil(288_000))
}

#[test]
fn after_a_quantum_segments_leave_spaced_at_the_pacing_rate() {
    let mut conn = first_flight_acknowledged(true);
    let next = LOCAL + 10 * MSS;
    // The quantum: two segments at once.
    assert_eq!(
        recv(&mut conn, at(300)),
        flight(next, 0..2, Reason::NewData)
    );
    // Then one per 4.17 ms, each at the deadline the connection reports, none before it,
    // until cwnd (12 segments) is full.
    for k in 1..=10 {
        assert_eq!(conn.poll_timeout(), Some(release(k)), "segment {k}");
        recv_nothing(&mut conn, Instant::from_micros(release(k).as_micros() - 1));
        assert_eq!(
            timeout(&mut conn, release(k)),
            flight(next, 1 + k as u32..2 + k as u32, Reason::NewData),
            "segment {k}"
        );
    }
    // cwnd is full: the next deadline is a timer's, the tail loss probe's at 2 x SRTT.
    assert!(conn.poll_timeout() > Some(release(10) + ms(100)));
}

#[test]
fn with_pacing_off_the_window_leaves_at_once() {
    let mut conn = first_flight_acknowledged(false);
    assert_eq!(
        recv(&mut conn, at(300)),
        flight(LOCAL + 10 * MSS, 0..12, Reason::NewData)
    );
}

#[test]
fn the_pacer_does_not_hold_an_ack() {
    let mut conn = first_flight_acknowledged(true);
    assert_eq!(recv(&mut conn, at(300)).len(), 2);
    // Out-of-order data from the peer while data waits for the pacer: the ACK goes at once
    // (RFC 5681 section 4.2), and the data still waits.
    send(
        &mut conn,
        at(301),
        Segment {
            seq: REMOTE + 1200,
            payload: &[1; 100],
            ..SEND_TEMPL
        },
    );
    let sent = recv(&mut conn, at(301));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].0.payload.is_empty());
    assert_eq!(sent[0].1, Reason::Ack);
    assert_eq!(conn.poll_timeout(), Some(release(1)));
}

/// The rate in the trace: 2 x cwnd / SRTT in bits per second, qlog's unit.
#[test]
fn the_trace_shows_the_pacing_rate() {
    let mut conn = established_with(Config::default());
    conn.set_tracing(true);
    write_segments(&mut conn, LOCAL, 30);
    let _ = recv(&mut conn, at(200));
    send(&mut conn, at(300), ack(LOCAL + 10 * MSS));
    let _ = recv(&mut conn, at(300));
    let rates: Vec<u64> = std::iter::from_fn(|| conn.poll_trace_event())
        .filter_map(|traced| match traced.event {
            TraceEvent::MetricsUpdated(change) => change.pacing_rate,
            _ => None,
        })
        .collect();
    assert_eq!(rates, vec![2 * 12_000 * 10 * 8, 288_000 * 8]);
}

/// A connection that ends while the pacer holds data reports no deadline for it: a driver
/// never wakes for a segment that will not go.
#[test]
fn a_closed_connection_keeps_no_release_time() {
    let mut conn = first_flight_acknowledged(true);
    assert_eq!(recv(&mut conn, at(300)).len(), 2);
    assert_eq!(conn.poll_timeout(), Some(release(1)));
    conn.abort();
    assert_eq!(conn.poll_timeout(), None);
    let sent = recv(&mut conn, at(301));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, Reason::Rst);
    assert_eq!(conn.poll_timeout(), None);
}
