//! The initial window (RFC 5681 section 3.1, RFC 6928's IW10) and slow start by bytes
//! acknowledged (RFC 3465), as the segments show them.

use super::*;
use crate::conn::CongestionControl;

/// Ten segments of 1200 bytes go at once with the default initial window, IW10 (12,000
/// bytes, below RFC 6928's 14,600), where RFC 5681's (`initial_window_segments: None`) lets
/// 3 go.
#[test]
fn iw10_sends_ten_segments_in_the_first_flight() {
    assert_eq!(Config::default().initial_window_segments, Some(10));
    let mut conn = established_with(unpaced_defaults());
    write_segments(&mut conn, LOCAL, 12);
    assert_eq!(
        recv(&mut conn, at(200)),
        flight(LOCAL, 0..10, Reason::NewData)
    );
    recv_nothing(&mut conn, at(200));
    assert_eq!(conn.stats().congestion_window, 12_000);

    let mut conn = established();
    write_segments(&mut conn, LOCAL, 12);
    assert_eq!(
        recv(&mut conn, at(200)),
        flight(LOCAL, 0..3, Reason::NewData)
    );
}

/// The first flight of 10 acknowledged two segments at a time, as a delayed-ACK receiver
/// does: CUBIC's slow start counts up to L = 2 segments per ACK (RFC 3465 section 2.3) and
/// doubles the window in the round trip, 12,000 + 5 x 2400; NewReno's (RFC 5681 equation
/// (2), one SMSS per ACK) grows it by half, 12,000 + 5 x 1200.
#[test]
fn cubic_slow_start_doubles_per_round_trip_with_delayed_acks() {
    for (congestion_control, window) in [
        (CongestionControl::Cubic, 24_000),
        (CongestionControl::NewReno, 18_000),
    ] {
        let mut conn = established_with(Config {
            congestion_control,
            initial_window_segments: Some(10),
            ..unpaced_defaults()
        });
        write_segments(&mut conn, LOCAL, 10);
        assert_eq!(recv(&mut conn, at(200)).len(), 10);
        for i in 1..=5 {
            send(&mut conn, at(300), ack(LOCAL + 2 * i * MSS));
        }
        assert_eq!(
            conn.stats().congestion_window,
            window,
            "{congestion_control}"
        );
        recv_nothing(&mut conn, at(300));
    }
}
