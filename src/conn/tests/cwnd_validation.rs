//! Congestion window validation (`cwnd_validation.rs`): no growth while the application sends
//! less than cwnd allows, and a restart after idle (RFC 7661, RFC 5681 section 4.1), in
//! smoltcp's style (see `tests/mod.rs` for the method).

use super::*;

#[test]
fn an_application_limited_sender_does_not_grow_the_window() {
    let mut conn = established_with(newreno_config());
    let mut next = LOCAL;
    // One segment a round trip, in a window of three: the ACKs show the path carries one.
    for round in 0..10 {
        let now = 200 + 200 * round;
        write_segments(&mut conn, next, 1);
        assert_eq!(
            recv(&mut conn, at(now)),
            flight(next, 0..1, Reason::NewData)
        );
        next += MSS;
        send(&mut conn, at(now + 100), ack(next));
    }
    // Slow start would have added a segment per ACK, to 13; cwnd stays where it was, at
    // least twice what was in flight.
    assert_eq!(conn.stats().congestion_window, 3 * MSS);
    // A full window still goes.
    write_segments(&mut conn, next, 3);
    assert_eq!(
        recv(&mut conn, at(2_300)),
        flight(next, 0..3, Reason::NewData)
    );
}

#[test]
fn after_idle_the_window_restarts_instead_of_bursting() {
    let mut conn = established_with(newreno_config());
    // Open the window to 14,400 bytes in two rounds of slow start.
    let mut next = LOCAL;
    for round in 0..2 {
        let now = 200 + 100 * round;
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
    }
    assert_eq!(conn.stats().congestion_window, 14_400);
    // Idle from 300 ms to 1300 ms: five RTOs (200 ms). The window halves per RTO after the
    // first, down to the initial window of three segments; ssthresh is at least three
    // quarters of the old window (here still unlimited: no loss yet), so slow start climbs
    // back.
    write_segments(&mut conn, next, 12);
    assert_eq!(
        recv(&mut conn, at(1_300)),
        flight(next, 0..3, Reason::NewData)
    );
    let stats = conn.stats();
    assert_eq!(stats.congestion_window, 3 * MSS);
    assert_eq!(stats.slow_start_threshold, u32::MAX);
}
