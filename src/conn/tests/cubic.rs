//! CUBIC (RFC 9438) seen from the wire: the window a fast retransmission leaves, and how the
//! ACK that ends recovery grows it.

use super::*;
use crate::conn::CongestionControl;

/// Twelve segments of 1200 bytes in flight (a window of 14,400 after two rounds of slow
/// start from RFC 5681's initial window of 3 segments), the first lost: RACK marks it lost once three above it are SACKed, it goes again,
/// and cwnd = ssthresh = 0.7 * 14,400 = 10,080 (section 4.6; NewReno's would be 7200). The
/// ACK of everything ends recovery and begins congestion avoidance: W_cubic(0) = cwnd_epoch
/// = 10,080, below W_est = 10,080 + 0.5294 * 10,800 * 1200 / 10,080 = 10,760.7 after the
/// 10,800 bytes it delivered, so cwnd follows W_est (section 4.3).
#[test]
fn a_fast_retransmission_leaves_seven_tenths_of_the_flight() {
    let config = Config {
        congestion_control: CongestionControl::Cubic,
        initial_window_segments: None,
        ..unpaced_defaults()
    };
    let (mut conn, base) = slow_started(config, 2);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 12);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..12, Reason::NewData)
    );
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(4))]));
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    let stats = conn.stats();
    assert_eq!(
        (stats.congestion_window, stats.slow_start_threshold),
        (10_080, 10_080)
    );

    send(&mut conn, at(1_200), ack(s(12)));
    assert_eq!(conn.stats().congestion_window, 10_760);
    recv_nothing(&mut conn, at(1_200));
}
