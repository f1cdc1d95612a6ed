//! Sequence numbers across 2^32 (RFC 9293 section 3.4).

use super::*;

// -------------------------------------------------------------------------------------------
// Sequence numbers across 2^32

#[test]
fn transfer_across_the_sequence_wrap() {
    const ISN: SeqNum = SeqNum(0xFFFF_FF00);
    let config = Config {
        mss: 200,
        ..classic_config()
    };
    let mut conn = Connection::connect(config, remote_addr(), ISN).unwrap();
    assert_eq!(recv(&mut conn, at(0)).len(), 1);
    let peer = Segment {
        seq: ISN + 1,
        ack: ISN + 1,
        ..SEND_TEMPL
    };
    send(
        &mut conn,
        at(100),
        Segment {
            flags: Flags::SYN | Flags::ACK,
            options: PEER_SYN_OPTIONS,
            seq: ISN,
            ..peer
        },
    );
    let ours = Sent {
        seq: ISN + 1,
        ack: ISN + 1,
        ..RECV_TEMPL
    };
    assert_eq!(
        recv(&mut conn, at(100)),
        vec![(ours.clone(), Reason::Handshake)]
    );

    // Sending: 600 bytes in three segments, the second spanning the wrap.
    let data = bytes(0, 600);
    conn.write(&data).unwrap();
    let sent = recv(&mut conn, at(1_000));
    let expected: Vec<_> = (0..3)
        .map(|i| {
            (
                Sent {
                    seq: ISN + 1 + 200 * i,
                    payload: data[200 * i as usize..200 * (i as usize + 1)].to_vec(),
                    ..ours.clone()
                },
                Reason::NewData,
            )
        })
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(sent[2].0.seq, SeqNum(0x91));
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: ISN + 601,
            ..peer
        },
    );
    assert!(conn.is_send_complete());
    assert_eq!(conn.timers.get(Timer::Retransmit), None);

    // Receiving: three segments across the wrap, out of order.
    let incoming = bytes(7, 600);
    let piece = |i: u32| Segment {
        seq: ISN + 1 + 200 * i,
        ack: ISN + 601,
        payload: &incoming[200 * i as usize..200 * (i as usize + 1)],
        ..peer
    };
    send(&mut conn, at(1_200), piece(2));
    assert_eq!(
        recv(&mut conn, at(1_200)).len(),
        1,
        "out of order: an ACK at once"
    );
    send(&mut conn, at(1_201), piece(1));
    // One SACK block, from ISN + 201 to ISN + 601, across the wrap.
    assert_eq!(
        recv(&mut conn, at(1_201)),
        vec![(
            with_sack(
                Sent {
                    seq: ISN + 601,
                    ..ours.clone()
                },
                &[(ISN + 201, ISN + 601)]
            ),
            Reason::Ack
        )]
    );
    send(&mut conn, at(1_202), piece(0));
    assert_eq!(
        recv(&mut conn, at(1_202)),
        vec![(
            Sent {
                seq: ISN + 601,
                ack: ISN + 601,
                window: WINDOW - 600,
                ..ours.clone()
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), incoming);
    recv_nothing(&mut conn, at(1_202));
}

// -------------------------------------------------------------------------------------------
// State that outlives 2^31 bytes

/// Send `segments` new segments from `base` at `now`; the first is lost and the next three
/// arrive, each drawing a duplicate ACK with a SACK block. Returns what those ACKs drew.
fn lose_the_first_of(
    conn: &mut Connection,
    base: SeqNum,
    segments: u32,
    now: u64,
) -> Vec<(Sent, Reason)> {
    write_segments(conn, base, segments);
    assert_eq!(
        recv(conn, at(now)),
        flight(base, 0..segments, Reason::NewData)
    );
    for i in 2..=4 {
        send(
            conn,
            at(now + 100),
            ack_sack(base, &[(base + MSS, base + i * MSS)]),
        );
    }
    recv(conn, at(now + 100))
}

/// RFC 6582's `recover` and RFC 6675's RecoveryPoint hold a new fast recovery back only while
/// SND.UNA is below them. Compared with SND.UNA by wrapping arithmetic long after, 2^31 to
/// 2^32 bytes on, SND.UNA reads as below again: the next loss got no fast retransmit and
/// waited for the retransmission timer (`ferry sim --bytes 3GiB --rate unlimited --rtt 1ms
/// --rack off --faults-ab drop=1900000` took an RTO).
#[test]
fn fast_retransmit_three_gigabytes_after_the_last_recovery() {
    for sack in [false, true] {
        let (mut conn, base) = slow_started(
            Config {
                sack,
                ..classic_config()
            },
            2,
        );
        // A loss, fast-retransmitted and repaired: the recovery point is the end of the flight.
        assert_eq!(
            lose_the_first_of(&mut conn, base, 12, 1_000),
            flight(base, 0..1, Reason::FastRetransmission),
            "sack: {sack}"
        );
        send(&mut conn, at(1_200), ack(base + 12 * MSS));
        recv_nothing(&mut conn, at(1_200));

        skip_sent_and_acknowledged(&mut conn, 3 << 30);
        let next = base + 12 * MSS + (3 << 30);
        assert_eq!(
            lose_the_first_of(&mut conn, next, 6, 2_000),
            flight(next, 0..1, Reason::FastRetransmission),
            "sack: {sack}"
        );
        let stats = conn.stats();
        assert_eq!(stats.retransmissions.fast, 2, "sack: {sack}");
        assert_eq!(stats.slow_start_threshold, 3_600, "sack: {sack}");
        assert_eq!(stats.rto_timeouts, 0, "sack: {sack}");
    }
}
