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
        recv_buffer: RecvBuffer::Fixed(2_400),
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

/// Receiver-side silly window avoidance (RFC 9293 section 3.8.6.2.2, RFC 1122 section
/// 4.2.3.3): the window's right edge moves only once it can move by min(RCV.BUFF / 2, MSS),
/// here 1200 bytes. A slow reader freeing the buffer a little at a time never offers the
/// peer a sliver to fill: every window it sees is closed or a full segment wide.
#[test]
fn a_slow_reader_opens_the_window_a_full_segment_at_a_time() {
    let mut conn = established_with(Config {
        recv_buffer: RecvBuffer::Fixed(4_800),
        ..classic_config()
    });
    let data = bytes(0, 6_000);
    let segment = |start: usize, len: usize| Segment {
        seq: REMOTE + start as u32,
        payload: &data[start..start + len],
        ..SEND_TEMPL
    };
    let ack_of = |received: u32, window: u32, reason: Reason| {
        (
            Sent {
                ack: REMOTE + received,
                window,
                ..RECV_TEMPL
            },
            reason,
        )
    };
    let read = |conn: &mut Connection, len: usize| {
        let mut buf = vec![0; len];
        assert_eq!(conn.read(&mut buf), Ok(len));
    };
    // Four segments fill the buffer.
    for i in 0..4 {
        send(&mut conn, at(1_000), segment(i * 1_200, 1_200));
    }
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![
            ack_of(2_400, 2_400, Reason::Ack),
            ack_of(4_800, 0, Reason::Ack)
        ]
    );
    // The reader takes 500 bytes: too little to open the window. A probe of the closed window
    // finds it closed still, and its byte is not taken.
    read(&mut conn, 500);
    recv_nothing(&mut conn, at(1_100));
    send(&mut conn, at(1_300), segment(4_800, 1));
    assert_eq!(
        recv(&mut conn, at(1_300)),
        vec![ack_of(4_800, 0, Reason::Ack)]
    );
    // 700 bytes more: 1200 are free, and the window opens by all of them.
    read(&mut conn, 700);
    assert_eq!(
        recv(&mut conn, at(1_400)),
        vec![ack_of(4_800, 1_200, Reason::WindowUpdate)]
    );
    // 1000 bytes more: the edge stays where it is until it can move by 1200 again.
    read(&mut conn, 1_000);
    recv_nothing(&mut conn, at(1_500));
    // The peer fills the window it was offered; 1000 bytes are free, and the window stays
    // closed rather than offering them.
    send(&mut conn, at(1_600), segment(4_800, 1_200));
    assert_eq!(
        timeout(&mut conn, at(1_640)),
        vec![ack_of(6_000, 0, Reason::Ack)]
    );
    read(&mut conn, 200);
    assert_eq!(
        recv(&mut conn, at(1_700)),
        vec![ack_of(6_000, 1_200, Reason::WindowUpdate)]
    );
    recv_nothing(&mut conn, at(1_700));
}

#[test]
fn reads_of_any_size_return_the_bytes_in_order_as_the_receive_buffer_wraps() {
    let mut conn = established();
    let mut read = Vec::new();
    let mut buf = [0u8; 700];
    // Reads that take part of what arrived leave the ring's start mid-buffer, so later
    // segments wrap around its end and a read copies from both halves.
    for index in 0..8 {
        send(
            &mut conn,
            at(1_000 + index),
            Segment {
                seq: REMOTE + 1_200 * index as u32,
                payload: &bytes(1_200 * index as usize, 1_200),
                ..SEND_TEMPL
            },
        );
        let count = conn.read(&mut buf).unwrap_or(0);
        read.extend_from_slice(&buf[..count]);
    }
    read.extend(read_all(&mut conn));
    assert_eq!(read, bytes(0, 8 * 1_200));
    assert_eq!(conn.read(&mut buf), Err(ReadError::WouldBlock));
}

// -------------------------------------------------------------------------------------------
// ESTABLISHED: stretch ACKs over a batch (a driver that feeds datagrams in batches)

/// Feed the full segments `range` (in MSS units from REMOTE), all at `now`, without polling.
fn feed_segments(conn: &mut Connection, now: Instant, range: std::ops::Range<u32>) {
    for index in range {
        let start = (index * MSS) as usize;
        send(
            conn,
            now,
            Segment {
                seq: REMOTE + index * MSS,
                payload: &bytes(start, MSS as usize),
                ..SEND_TEMPL
            },
        );
    }
}

/// The ACK of the first `segments` full segments, nothing read, with these SACK blocks.
fn ack_of_segments(segments: u32, sack: &[(SeqNum, SeqNum)]) -> (Sent, Reason) {
    let sent = Sent {
        ack: REMOTE + segments * MSS,
        window: WINDOW - segments * MSS,
        ..RECV_TEMPL
    };
    (with_sack(sent, sack), Reason::Ack)
}

#[test]
fn with_stretch_acks_a_batch_of_in_order_segments_draws_one_ack() {
    let mut conn = established();
    conn.set_stretch_acks(true);
    feed_segments(&mut conn, at(1_000), 0..4);
    assert_eq!(recv(&mut conn, at(1_000)), vec![ack_of_segments(4, &[])]);
    // The next batch starts afresh: every second segment still draws an ACK by itself.
    feed_segments(&mut conn, at(1_001), 4..6);
    assert_eq!(recv(&mut conn, at(1_001)), vec![ack_of_segments(6, &[])]);
    assert_eq!(conn.timers.get(Timer::DelayedAck), None);
    assert_eq!(read_all(&mut conn), bytes(0, 6 * MSS as usize));
}

#[test]
fn a_stretch_ack_covers_at_most_sixteen_segments() {
    let mut conn = established();
    conn.set_stretch_acks(true);
    feed_segments(&mut conn, at(1_000), 0..20);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![ack_of_segments(16, &[]), ack_of_segments(20, &[])]
    );
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn a_hole_in_a_batch_still_draws_an_ack_for_each_segment_beyond_it() {
    let mut conn = established();
    conn.set_stretch_acks(true);
    // Segments 0-3 in order, 4 lost, 5-7 beyond the hole, all in one batch: the in-order
    // data's ACK goes before the first segment beyond the hole, and each of those draws a
    // duplicate ACK of its own (RFC 5681 section 4.2), for the sender to count.
    feed_segments(&mut conn, at(1_000), 0..4);
    feed_segments(&mut conn, at(1_000), 5..8);
    let beyond = |end: u32| (REMOTE + 5 * MSS, REMOTE + end * MSS);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![
            ack_of_segments(4, &[]),
            ack_of_segments(4, &[beyond(6)]),
            ack_of_segments(4, &[beyond(7)]),
            ack_of_segments(4, &[beyond(8)]),
        ]
    );
    // The repair fills the hole, then new data follows in the same batch: quick-ACK mode
    // acknowledges each segment at once while the sender recovers.
    feed_segments(&mut conn, at(1_010), 4..5);
    feed_segments(&mut conn, at(1_010), 8..10);
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![
            ack_of_segments(8, &[]),
            ack_of_segments(9, &[]),
            ack_of_segments(10, &[])
        ]
    );
}
