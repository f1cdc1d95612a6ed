//! Segment-level tests of what a blind attacker can and cannot do (RFC 5961), and of the
//! receiver's and sender's defences around it: which copy of out-of-order data wins, when a
//! FIN is believed, SACK blocks for data never sent, the ISN after the 2^32 wrap. In
//! smoltcp's style (see `tests/mod.rs` for the method). The RST and SYN rules of RFC 5961
//! sections 3 and 4 are tested in `reset.rs` and `close.rs`, beside the states they apply to.

use super::*;

/// The largest window the fixture's peer has advertised: RFC 5961's MAX.SND.WND.
const MAX_SND_WND: u32 = PEER_WINDOW;

// -------------------------------------------------------------------------------------------
// RFC 5961 section 5: the ACK field

#[test]
fn data_with_an_ack_below_the_peers_largest_window_is_dropped_with_a_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            ack: LOCAL - MAX_SND_WND - 1,
            payload: b"forged",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.readable_bytes(), 0);
    assert_eq!(conn.stats().rejected_acks, 1);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn data_with_an_old_ack_within_the_peers_window_is_taken() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            ack: LOCAL - MAX_SND_WND,
            payload: b"real",
            ..SEND_TEMPL
        },
    );
    // Taken; the ACK waits for a second segment or the delayed-ACK timer.
    recv_nothing(&mut conn, at(1_000));
    assert_eq!(conn.readable_bytes(), 4);
    assert_eq!(conn.stats().rejected_acks, 0);
}

#[test]
fn data_acknowledging_what_we_never_sent_is_dropped_with_a_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            ack: LOCAL + 1,
            payload: b"forged",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.readable_bytes(), 0);
    recv_nothing(&mut conn, at(1_000));
}

// -------------------------------------------------------------------------------------------
// RFC 5961 section 7: replies to unacceptable segments are rate-limited

#[test]
fn bare_segments_out_of_the_window_draw_at_most_one_reply_per_half_second() {
    let mut conn = established();
    let out_of_window = Segment {
        seq: REMOTE + WINDOW + 10,
        ..SEND_TEMPL
    };
    send(&mut conn, at(1_000), out_of_window);
    assert_eq!(recv(&mut conn, at(1_000)), vec![(RECV_TEMPL, Reason::Ack)]);
    send(&mut conn, at(1_100), out_of_window);
    recv_nothing(&mut conn, at(1_100));
    assert_eq!(conn.stats().invalid_replies_suppressed, 1);
    // Data sent again is never limited: its sender needs the ACK (here with a D-SACK).
    send(
        &mut conn,
        at(1_200),
        Segment {
            seq: REMOTE - 3,
            payload: b"old",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_200)),
        vec![(with_sack(RECV_TEMPL, &[(REMOTE - 3, REMOTE)]), Reason::Ack)]
    );
    send(&mut conn, at(1_500), out_of_window);
    assert_eq!(recv(&mut conn, at(1_500)), vec![(RECV_TEMPL, Reason::Ack)]);
}

#[test]
fn an_ack_loop_between_ends_that_disagree_stays_bounded() {
    // The peer believes we sent 100 bytes more than we did (forged data reached it) and
    // answers everything we send with an ACK we cannot accept. Each such ACK would draw
    // ours, and ours its, forever; the rate limit leaves two a second.
    let mut conn = established();
    let mut replies = 0;
    for millis in 1_000..11_000 {
        send(
            &mut conn,
            at(millis),
            Segment {
                ack: LOCAL + 100,
                ..SEND_TEMPL
            },
        );
        replies += recv(&mut conn, at(millis)).len();
    }
    assert_eq!(replies, 20);
    assert_eq!(conn.state(), State::Established);
}

// -------------------------------------------------------------------------------------------
// Out-of-order data and the FIN

#[test]
fn a_later_copy_that_contradicts_held_out_of_order_data_replaces_it() {
    let mut conn = established();
    let held_block = with_sack(RECV_TEMPL, &[(REMOTE + 3, REMOTE + 6)]);
    // A forged copy lands ahead of a hole first...
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 3,
            payload: b"XYZ",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(held_block.clone(), Reason::Ack)]
    );
    // ... then the real one, which is not a duplicate (no D-SACK): it replaces the forgery.
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 3,
            payload: b"def",
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_010)), vec![(held_block, Reason::Ack)]);
    send(
        &mut conn,
        at(1_020),
        Segment {
            payload: b"abc",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_020)),
        vec![(
            Sent {
                ack: REMOTE + 6,
                window: WINDOW - 6,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    let mut delivered = [0; 6];
    assert_eq!(conn.read(&mut delivered), Ok(6));
    assert_eq!(&delivered, b"abcdef");
    assert_eq!(conn.stats().contradicted_segments, 1);
}

#[test]
fn a_fin_sacked_with_its_data_ahead_of_a_hole_is_sent_again_without_a_timeout() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 2);
    conn.shutdown();
    let mut sent = flight(base, 0..2, Reason::NewData);
    sent[1].0.flags = Flags::ACK | Flags::FIN;
    assert_eq!(recv(&mut conn, at(1_000)), sent);
    // Segment 1 and its FIN arrive ahead of the lost segment 0: the peer SACKs the data and
    // forgets the FIN (a peer that takes a FIN only in order, as Ferry did before issue 22;
    // Ferry and Linux now hold it).
    send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(2))]));
    recv_nothing(&mut conn, at(1_100));
    // RACK's reordering window (a quarter of the 100 ms minimum RTT) passes: segment 0 is
    // lost and goes again.
    assert_eq!(
        timeout(&mut conn, at(1_125)),
        flight(base, 0..1, Reason::RackRetransmission)
    );
    // It arrives: all the data is acknowledged, the FIN is not. The FIN was sent before the
    // retransmission that just arrived, so RACK finds it lost at once.
    send(&mut conn, at(1_225), ack(s(2)));
    assert_eq!(
        recv(&mut conn, at(1_225)),
        vec![(
            Sent {
                flags: Flags::ACK | Flags::FIN,
                seq: s(2),
                ..RECV_TEMPL
            },
            Reason::RackRetransmission
        )]
    );
    send(&mut conn, at(1_325), ack(s(2) + 1));
    assert_eq!(conn.state(), State::FinWait2);
    assert_eq!(conn.stats().rto_timeouts, 0);
}

#[test]
fn a_fin_in_order_drops_out_of_order_data_held_beyond_it() {
    // Found by the endpoint fuzzer: the runs used to stay, and every later ACK SACKed them,
    // one sequence number too high.
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 10,
            payload: b"beyond",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 10, REMOTE + 16)]),
            Reason::Ack
        )]
    );
    send(
        &mut conn,
        at(1_010),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.readable_bytes(), 0);
}

// -------------------------------------------------------------------------------------------
// The sender ignores what it never sent

#[test]
fn sack_blocks_for_data_never_sent_change_nothing() {
    let (mut conn, base) = slow_started(newreno_config(), 1);
    write_segments(&mut conn, base, 2);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..2, Reason::NewData)
    );
    let before = conn.stats();
    // Blocks beyond snd_nxt, and one straddling it: none describes data in flight.
    let beyond = base + 2 * MSS;
    send(
        &mut conn,
        at(1_050),
        ack_sack(base, &[(beyond, beyond + MSS), (base + MSS, beyond + 1)]),
    );
    recv_nothing(&mut conn, at(1_050));
    let after = conn.stats();
    assert_eq!(after.duplicate_acks, before.duplicate_acks);
    assert_eq!(after.congestion_window, before.congestion_window);
    assert_eq!(conn.recovery.retransmission_queue().sacked_segments(), 0);
}

// -------------------------------------------------------------------------------------------
// Sequence numbers after the 2^32 wrap

#[test]
fn a_data_segment_at_the_isn_after_the_wrap_is_resent_as_data_not_as_a_syn() {
    let mut conn = established();
    // Where the send sequence space stands after 2^32 - 1 data bytes, all acknowledged: the
    // next byte's sequence number is the ISN again.
    skip_sent_and_acknowledged(&mut conn, u32::MAX);
    assert_eq!(conn.send.snd_nxt(), LOCAL_ISN);
    let payload = bytes(0, 100);
    assert_eq!(conn.write(&payload), Ok(100));
    let data = Sent {
        seq: LOCAL_ISN,
        payload: payload.clone(),
        ..RECV_TEMPL
    };
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(data.clone(), Reason::NewData)]
    );
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(data, Reason::RtoRetransmission { timeout: 1 })]
    );
}

#[test]
fn a_fin_in_order_is_believed_even_with_data_held_right_after_it() {
    // From a review: held bytes touching the FIN's end used to be delivered with it, and
    // the FIN refused: our ACKs then lay beyond the peer's SND.NXT and both ends hung.
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 5,
            payload: b"XYZ",
            ..SEND_TEMPL
        },
    );
    let _ = recv(&mut conn, at(1_000));
    send(
        &mut conn,
        at(1_010),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            payload: b"abcde",
            ..SEND_TEMPL
        },
    );
    let mut delivered = [0; 16];
    let read = conn.read(&mut delivered).unwrap();
    assert_eq!(&delivered[..read], b"abcde");
    assert_eq!(conn.state(), State::CloseWait);
}

#[test]
fn a_fin_alone_ahead_of_a_hole_draws_a_duplicate_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 10,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_000)), vec![(RECV_TEMPL, Reason::Ack)]);
    assert_eq!(conn.state(), State::Established);
}

#[test]
fn a_keepalive_is_answered_even_after_a_forged_segment_used_up_the_reply_limit() {
    // From a review: otherwise two forged datagrams a second would silence our answers to
    // the peer's keepalives, and the peer would time the connection out.
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            seq: REMOTE + 1_000_000,
            ..SEND_TEMPL
        },
    );
    let _ = recv(&mut conn, at(1_000));
    send(
        &mut conn,
        at(1_100),
        Segment {
            seq: REMOTE - 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_100)), vec![(RECV_TEMPL, Reason::Ack)]);
}

#[test]
fn window_updates_that_keep_the_window_silly_do_not_push_the_override_back() {
    // From a review: each update used to restart the persist timer, so a peer that kept
    // talking with a small window held our data back for ever.
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            window: 1_000,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.write(&bytes(0, 5_000)), Ok(5_000));
    recv_nothing(&mut conn, at(1_000));
    let mut seq = REMOTE;
    let mut first_sent_at = None;
    for millis in (1_100..3_000).step_by(100) {
        conn.handle_timeout(at(millis));
        send(
            &mut conn,
            at(millis),
            Segment {
                seq,
                window: 1_000,
                payload: b"0123456789",
                ..SEND_TEMPL
            },
        );
        seq += 10;
        let sent_data = recv(&mut conn, at(millis))
            .iter()
            .any(|(_, reason)| *reason == Reason::NewData);
        if sent_data && first_sent_at.is_none() {
            first_sent_at = Some(millis);
        }
    }
    // The override is one RTO (300 ms) after the data was first held back.
    assert_eq!(first_sent_at, Some(1_300));
}
