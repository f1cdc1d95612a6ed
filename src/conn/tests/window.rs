//! ESTABLISHED, the peer's zero window: the persist timer's probes (RFC 9293 section
//! 3.8.6.1).

use super::*;

// -------------------------------------------------------------------------------------------
// ESTABLISHED: the peer's zero window

#[test]
fn zero_window_is_probed_with_backoff_until_it_opens() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    conn.write(b"0123456789").unwrap();
    recv_nothing(&mut conn, at(1_000));
    // The persist timer runs with the RTO (300 ms) and backs off like it.
    assert_eq!(conn.poll_timeout(), Some(at(1_300)));
    let probe = (
        Sent {
            payload: b"0".to_vec(),
            ..RECV_TEMPL
        },
        Reason::WindowProbe,
    );
    assert_eq!(timeout(&mut conn, at(1_300)), vec![probe.clone()]);
    assert_eq!(conn.poll_timeout(), Some(at(1_900)));
    // The peer answers, its window still closed: nothing to send until the next probe.
    send(
        &mut conn,
        at(1_310),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    recv_nothing(&mut conn, at(1_310));
    assert_eq!(timeout(&mut conn, at(1_900)), vec![probe]);
    assert_eq!(conn.poll_timeout(), Some(at(3_100)));
    assert_eq!(conn.stats().window_probes, 2);

    // The window opened and the probe's byte was taken: the rest flows.
    send(
        &mut conn,
        at(2_000),
        Segment {
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                payload: b"123456789".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.timers.get(Timer::Persist), None);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn data_after_an_untaken_probe_is_new_data_not_a_retransmission() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: 0,
            ..SEND_TEMPL
        },
    );
    conn.write(b"0123456789").unwrap();
    recv_nothing(&mut conn, at(1_000));
    assert_eq!(timeout(&mut conn, at(1_300)).len(), 1, "one window probe");
    // The window opens, but the probe's byte was not taken.
    send(&mut conn, at(1_310), SEND_TEMPL);
    assert_eq!(
        recv(&mut conn, at(1_310)),
        vec![(
            Sent {
                payload: b"0123456789".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.stats().retransmissions.total(), 0);
    recv_nothing(&mut conn, at(1_310));
}
