//! ESTABLISHED, receiving: the receive buffer's autotuning (`receive_buffer.rs`, Linux's
//! `tcp_rcv_space_adjust`), seen in the windows our ACKs advertise.

use super::*;

/// The peer fills every window we advertise, a round trip (100 ms) at a time, in full
/// segments spaced across the round trip, for `round_trips` round trips; the application
/// reads everything at once if `reads`. Returns the window of our last ACK and the buffer
/// the stats report.
fn fill_every_window(conn: &mut Connection, round_trips: u64, reads: bool) -> (u32, u32) {
    let mut next = REMOTE;
    let mut window = WINDOW;
    for round in 0..round_trips {
        let right_edge = next + window;
        let segments = u64::from(right_edge.wrapping_diff(next) / 1_200);
        for segment in 0..segments {
            let now = at(1_000 + round * 100 + segment * 100 / segments.max(1));
            let payload = bytes(0, 1_200);
            send(
                conn,
                now,
                Segment {
                    seq: next,
                    payload: &payload,
                    ..SEND_TEMPL
                },
            );
            next += 1_200;
            if reads {
                read_all(conn);
            }
            for (sent, _) in recv(conn, now) {
                window = sent.window;
            }
        }
        // Whatever the delayed-ACK timer still holds goes before the next round.
        let end = at(1_000 + (round + 1) * 100);
        for (sent, _) in timeout(conn, end) {
            window = sent.window;
        }
        if window < 1_200 {
            // Nothing read: no full segment fits any more.
            break;
        }
    }
    (window, conn.stats().recv_buffer_bytes)
}

#[test]
fn the_window_grows_while_the_application_reads_as_fast_as_data_arrives() {
    let mut conn = established();
    let (window, buffer) = fill_every_window(&mut conn, 8, true);
    // A window per round trip read at once: each round trip the buffer grows to about
    // twice what was read in it.
    assert!(buffer >= 8 * WINDOW, "{buffer}");
    assert!(window >= 8 * WINDOW, "{window}");
    assert!(buffer <= 6 << 20);
}

#[test]
fn the_window_stays_when_the_application_does_not_read() {
    let mut conn = established();
    let (window, buffer) = fill_every_window(&mut conn, 8, false);
    // The first window filled the buffer but for less than a segment, and it stays that size.
    assert_eq!((window, buffer), (WINDOW % 1_200, WINDOW));
}

#[test]
fn a_fixed_buffer_keeps_its_window_however_fast_the_application_reads() {
    let mut conn = established_with(Config {
        recv_buffer: RecvBuffer::Fixed(WINDOW as usize),
        ..classic_config()
    });
    let (window, buffer) = fill_every_window(&mut conn, 8, true);
    assert_eq!(buffer, WINDOW);
    assert!(window <= WINDOW, "{window}");
}
