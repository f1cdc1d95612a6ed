//! ESTABLISHED, receiving: delayed and immediate ACKs (RFC 5681 section 4.2), out-of-order
//! and duplicate data, the window we advertise and its updates (RFC 9293 section 3.8.6).

use super::*;

// -------------------------------------------------------------------------------------------
// ESTABLISHED: receiving and acknowledging

#[test]
fn one_segment_gets_a_delayed_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_000));
    // RFC 5681 section 4.2: the ACK may wait, here the configured 40 ms.
    assert_eq!(conn.poll_timeout(), Some(at(1_040)));
    assert_eq!(timeout(&mut conn, at(1_039)), vec![]);
    assert_eq!(
        timeout(&mut conn, at(1_040)),
        vec![(
            Sent {
                ack: REMOTE + 100,
                window: WINDOW - 100,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), bytes(0, 100));
    recv_nothing(&mut conn, at(1_040));
}

#[test]
fn two_full_segments_are_acked_at_once() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 1_200),
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_000));
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 1_200,
            payload: &bytes(1_200, 1_200),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: WINDOW - 2_400,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // The delayed ACK is settled too.
    assert_eq!(conn.timers.get(Timer::DelayedAck), None);
    assert_eq!(timeout(&mut conn, at(1_040)), vec![]);
    recv_nothing(&mut conn, at(1_040));
}

#[test]
fn out_of_order_segment_gets_duplicate_ack_and_hole_fill_acks_all() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 100,
            payload: &bytes(100, 100),
            ..SEND_TEMPL
        },
    );
    // RFC 5681 section 4.2: an out-of-order segment is acknowledged at once.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 100, REMOTE + 200)]),
            Reason::Ack
        )]
    );
    assert_eq!(conn.readable_bytes(), 0);
    assert_eq!(conn.stats().out_of_order_segments, 1);

    send(
        &mut conn,
        at(1_010),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    // So is the segment that fills the hole, and the ACK covers both.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 200,
                window: WINDOW - 200,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), bytes(0, 200));
    recv_nothing(&mut conn, at(1_010));
}

#[test]
fn duplicate_segment_is_acked_and_dropped() {
    let mut conn = established();
    let data = bytes(0, 100);
    let segment = Segment {
        payload: &data,
        ..SEND_TEMPL
    };
    send(&mut conn, at(1_000), segment);
    assert_eq!(timeout(&mut conn, at(1_040)).len(), 1);
    send(&mut conn, at(1_500), segment);
    // The ACK reports the duplicate in a D-SACK block below the cumulative ACK (RFC 2883).
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            with_sack(
                Sent {
                    ack: REMOTE + 100,
                    window: WINDOW - 100,
                    ..RECV_TEMPL
                },
                &[(REMOTE, REMOTE + 100)]
            ),
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), data);
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn full_receive_buffer_advertises_zero_window_and_read_updates_it() {
    let mut conn = established_with(Config {
        recv_buffer: 2_400,
        ..classic_config()
    });
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 1_200),
            ..SEND_TEMPL
        },
    );
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 1_200,
            payload: &bytes(1_200, 1_200),
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 0,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // A probe into the closed window: the byte is not taken, the ACK repeats the zero window
    // (RFC 9293 section 3.8.6.1).
    send(
        &mut conn,
        at(1_500),
        Segment {
            seq: REMOTE + 2_400,
            payload: b"!",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 0,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    // The application reads a segment's worth: the window opened by a full MSS, so say so.
    let mut buf = [0; 1_200];
    assert_eq!(conn.read(&mut buf), Ok(1_200));
    assert_eq!(buf.to_vec(), bytes(0, 1_200));
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                ack: REMOTE + 2_400,
                window: 1_200,
                ..RECV_TEMPL
            },
            Reason::WindowUpdate
        )]
    );
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn small_read_sends_no_window_update() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            payload: &bytes(0, 100),
            ..SEND_TEMPL
        },
    );
    assert_eq!(timeout(&mut conn, at(1_040)).len(), 1);
    // The window is nearly all open still: no silly window update (section 3.8.6.2.2).
    assert_eq!(read_all(&mut conn).len(), 100);
    recv_nothing(&mut conn, at(1_050));
}
