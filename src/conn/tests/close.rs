//! Closing, by state: CLOSE-WAIT and LAST-ACK (the peer closes first), FIN-WAIT-1 and
//! FIN-WAIT-2 (we do), CLOSING and TIME-WAIT (RFC 9293 sections 3.6 and 3.10.7.4).

use super::*;

// -------------------------------------------------------------------------------------------
// ESTABLISHED: the peer closes first (CLOSE-WAIT, LAST-ACK)

#[test]
fn peer_data_and_fin_in_one_segment() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            payload: b"bye",
            ..SEND_TEMPL
        },
    );
    // The FIN is processed with the data it follows and acknowledged at once.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                ack: REMOTE + 4,
                window: WINDOW - 3,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    assert_eq!(read_all(&mut conn), b"bye");
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    recv_nothing(&mut conn, at(1_000));
}

/// Issue 22: a FIN that arrives ahead of a hole used to be forgotten, so the sender had to
/// send it again after repairing the hole (with RACK off, dropping segment 9 of 10 cost two
/// timeouts). It is held and taken when the hole fills: the ACK of the repair covers it.
#[test]
fn a_fin_ahead_of_a_hole_is_held_and_taken_when_the_hole_fills() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 3,
            payload: b"def",
            ..SEND_TEMPL
        },
    );
    // The duplicate ACK reports the held bytes in a SACK block (RFC 2018).
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 3, REMOTE + 6)]),
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), vec![]);
    send(
        &mut conn,
        at(1_010),
        Segment {
            payload: b"abc",
            ..SEND_TEMPL
        },
    );
    // The data is complete, and the held FIN with it: one ACK covers both.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                ack: REMOTE + 7,
                window: WINDOW - 6,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    assert_eq!(read_all(&mut conn), b"abcdef");
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    // The sender's retransmission of the FIN, if it sent one, is a duplicate: acknowledged.
    send(
        &mut conn,
        at(1_020),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 6,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_020)),
        vec![(
            Sent {
                ack: REMOTE + 7,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
}

/// A held FIN that data beyond it contradicts (a blind attacker's FIN in the window, RFC 5961
/// section 1) is forgotten: the stream is not cut short when the hole fills, and the real FIN
/// still counts.
#[test]
fn a_held_fin_with_data_arriving_beyond_it_is_forgotten() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 3,
            ..SEND_TEMPL
        },
    );
    assert_eq!(recv(&mut conn, at(1_000)), vec![(RECV_TEMPL, Reason::Ack)]);
    send(
        &mut conn,
        at(1_010),
        Segment {
            seq: REMOTE + 3,
            payload: b"def",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            with_sack(RECV_TEMPL, &[(REMOTE + 3, REMOTE + 6)]),
            Reason::Ack
        )]
    );
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
    assert_eq!(conn.state(), State::Established);
    assert_eq!(read_all(&mut conn), b"abcdef");
    // Out-of-order data beyond a FIN's place keeps that FIN from being held at all.
    send(
        &mut conn,
        at(1_030),
        Segment {
            seq: REMOTE + 9,
            payload: b"jkl",
            ..SEND_TEMPL
        },
    );
    send(
        &mut conn,
        at(1_030),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 8,
            ..SEND_TEMPL
        },
    );
    let _ = recv(&mut conn, at(1_030));
    send(
        &mut conn,
        at(1_040),
        Segment {
            seq: REMOTE + 6,
            payload: b"ghi",
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(read_all(&mut conn), b"ghijkl");
    // The real FIN, in order, ends the stream.
    send(
        &mut conn,
        at(1_050),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 12,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_050)),
        vec![(
            Sent {
                ack: REMOTE + 13,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
}

#[test]
fn close_wait_reads_end_of_stream_and_can_still_write() {
    let mut conn = close_wait();
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    assert_eq!(conn.write(b"reply"), Ok(5));
    assert_eq!(
        recv(&mut conn, at(1_050)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                payload: b"reply".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    send(
        &mut conn,
        at(1_100),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 5,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::CloseWait);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn close_wait_retransmitted_fin_is_acked() {
    let mut conn = close_wait();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_500)),
        vec![(
            Sent {
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::CloseWait);
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn last_ack_closes_cleanly_on_ack_of_fin() {
    let mut conn = last_ack();
    send(
        &mut conn,
        at(1_200),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(1_200));
}

#[test]
fn last_ack_retransmits_fin() {
    let mut conn = last_ack();
    assert_eq!(
        timeout(&mut conn, at(1_400)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(1_400));
}

#[test]
fn close_wait_rst_is_a_broken_pipe() {
    let mut conn = close_wait();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    // The peer closed, then reset: Linux's tcp_reset gives EPIPE in CLOSE-WAIT, and so
    // std's BrokenPipe; a write says so.
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::PeerClosed))]
    );
    assert_eq!(
        conn.write(b"more"),
        Err(WriteError::Failed(ConnectionError::PeerClosed))
    );
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn last_ack_rst_resets() {
    let mut conn = last_ack();
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // Our FIN was never acknowledged: a reset, not a clean end (RFC 9293 section 3.10.7.4
    // would close quietly; Linux says ECONNRESET, and so does a close that waits on it).
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.is_fin_acknowledged());
    assert_eq!(conn.error(), Some(ConnectionError::Reset));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_500));
}

#[test]
fn a_fin_forged_at_rcv_nxt_then_a_rst_leaves_our_unacknowledged_data_reset() {
    // An on-path attacker's FIN at RCV.NXT, while 300 bytes of ours are in flight: the peer
    // never closed, so it never acknowledges anything sent after (our segments' ACK field
    // now covers a FIN it never sent, RFC 5961 section 5.2 makes it drop them).
    let mut conn = established();
    conn.write(&bytes(0, 300)).unwrap();
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                payload: bytes(0, 300),
                ..RECV_TEMPL
            },
            Reason::NewData
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
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    conn.shutdown();
    assert_eq!(conn.state(), State::LastAck);
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                seq: LOCAL + 300,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Fin
        )]
    );
    // The peer, which has forgotten the connection by now, answers our next segment as a
    // stray: <SEQ=SEG.ACK><CTL=RST>, exactly at our RCV.NXT.
    send(
        &mut conn,
        at(1_500),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.is_fin_acknowledged());
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_500));
}

// -------------------------------------------------------------------------------------------
// FIN-WAIT-1 and FIN-WAIT-2: we close first

#[test]
fn shutdown_sends_fin_after_the_data() {
    let mut conn = established();
    conn.write(b"last words").unwrap();
    conn.shutdown();
    assert_eq!(conn.state(), State::FinWait1);
    // The FIN rides on the last data segment.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                payload: b"last words".to_vec(),
                ..RECV_TEMPL
            },
            Reason::NewData
        )]
    );
    assert_eq!(conn.write(b"more"), Err(WriteError::ShutDown));
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 11,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::FinWait2);
    assert!(conn.is_send_complete());
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_1_partial_ack_stays() {
    let mut conn = established();
    conn.write(b"abc").unwrap();
    conn.shutdown();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    // The data is acknowledged but not the FIN.
    send(
        &mut conn,
        at(1_100),
        Segment {
            ack: LOCAL + 3,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::FinWait1);
    let deadline = at(1_100) + conn.stats().rto;
    assert_eq!(
        timeout(&mut conn, deadline),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                seq: LOCAL + 3,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn fin_wait_1_retransmits_fin() {
    let mut conn = fin_wait_1();
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(
            Sent {
                flags: Flags::FIN | Flags::ACK,
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
    recv_nothing(&mut conn, at(1_300));
}

#[test]
fn fin_wait_1_fin_with_ack_of_ours_goes_to_time_wait() {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_100)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::TimeWait);
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_2_still_receives_until_peer_fin() {
    let mut conn = fin_wait_2();
    send(
        &mut conn,
        at(1_200),
        Segment {
            ack: LOCAL + 1,
            payload: b"still talking",
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        timeout(&mut conn, at(1_240)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 13,
                window: WINDOW - 13,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(read_all(&mut conn), b"still talking");
    send(
        &mut conn,
        at(1_300),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            seq: REMOTE + 13,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(1_300)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 14,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(events(&mut conn), vec![Event::PeerFinished]);
    assert_eq!(conn.read(&mut [0; 8]), Ok(0));
    recv_nothing(&mut conn, at(1_300));
}

#[test]
fn fin_wait_1_rst_resets() {
    let mut conn = fin_wait_1();
    send(
        &mut conn,
        at(1_100),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_100));
}

#[test]
fn fin_wait_2_rst_resets() {
    let mut conn = fin_wait_2();
    send(
        &mut conn,
        at(1_200),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_200));
}

// -------------------------------------------------------------------------------------------
// CLOSING: simultaneous close

#[test]
fn closing_ack_of_fin_goes_to_time_wait() {
    let mut conn = closing();
    send(
        &mut conn,
        at(1_150),
        Segment {
            seq: REMOTE + 1,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(conn.poll_timeout(), Some(at(1_150 + TIME_WAIT_MS)));
    recv_nothing(&mut conn, at(1_150));
}

#[test]
fn closing_rst_resets() {
    let mut conn = closing();
    send(
        &mut conn,
        at(1_150),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // As in LAST-ACK: our FIN is unacknowledged, so the peer's RST is a reset.
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.is_fin_acknowledged());
    assert_eq!(conn.error(), Some(ConnectionError::Reset));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(1_150));
}

// -------------------------------------------------------------------------------------------
// TIME-WAIT

#[test]
fn time_wait_expires_to_closed() {
    let mut conn = time_wait();
    // RFC 9293 section 3.6: linger 2 MSL, here the configured 4 s beyond the 60 s ceiling of
    // the peer's retransmission timer, and nothing else runs.
    let end = 1_200 + TIME_WAIT_MS;
    assert_eq!(conn.poll_timeout(), Some(at(end)));
    assert_eq!(timeout(&mut conn, at(end - 1)), vec![]);
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(timeout(&mut conn, at(end)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(end));
}

#[test]
fn time_wait_retransmitted_fin_is_acked_and_restarts_the_timer() {
    let mut conn = time_wait();
    send(
        &mut conn,
        at(2_000),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            ..SEND_TEMPL
        },
    );
    assert_eq!(
        recv(&mut conn, at(2_000)),
        vec![(
            Sent {
                seq: LOCAL + 1,
                ack: REMOTE + 1,
                ..RECV_TEMPL
            },
            Reason::Ack
        )]
    );
    let end = 2_000 + TIME_WAIT_MS;
    assert_eq!(conn.poll_timeout(), Some(at(end)));
    assert_eq!(timeout(&mut conn, at(1_200 + TIME_WAIT_MS)), vec![]);
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(timeout(&mut conn, at(end)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(end));
}

/// `ferry sim --punch-matrix`'s seed 100 (docs/performance.md, "Hole punching"), segment by
/// segment. Our RTO has an RTT sample (a few hundred ms); the peer's has none, since every
/// segment it timed was retransmitted (Karn's rule, RFC 6298 section 3), so it stands at 3 s
/// (section 5.7, after its SYN timed out). Its data and FIN were lost once: the copy that
/// puts us in TIME-WAIT is its first retransmission, 3 s after the original, and our ACK of it
/// is lost too. Its timer, doubled, sends the FIN again 6 s later. A TIME-WAIT of 4 s, or of
/// two of our own RTOs, ended before that and left the peer retransmitting its FIN to a
/// closed port until its user timeout; one that outlasts the ceiling of the peer's timer
/// (section 2.5, `max_rto`) meets the FIN and ACKs it.
#[test]
fn time_wait_meets_a_fin_the_peers_backed_off_timer_sends_again() {
    let mut conn = fin_wait_2();
    // The peer's data and FIN, its first retransmission (the original was lost).
    send(
        &mut conn,
        at(4_450),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            payload: b"hello from peer 2",
            ..SEND_TEMPL
        },
    );
    // The 17 bytes and the FIN, the bytes unread.
    let our_ack = Sent {
        seq: LOCAL + 1,
        ack: REMOTE + 18,
        window: WINDOW - 17,
        ..RECV_TEMPL
    };
    assert_eq!(
        recv(&mut conn, at(4_450)),
        vec![(our_ack.clone(), Reason::Ack)]
    );
    assert_eq!(conn.state(), State::TimeWait);
    // That ACK is lost; the peer's timer, backed off from 3 s to 6 s, sends the FIN again.
    assert_eq!(timeout(&mut conn, at(10_450)), vec![]);
    assert_eq!(conn.state(), State::TimeWait);
    send(
        &mut conn,
        at(10_450),
        Segment {
            flags: Flags::FIN | Flags::ACK,
            ack: LOCAL + 1,
            payload: b"hello from peer 2",
            ..SEND_TEMPL
        },
    );
    // ACKed again, its bytes reported as a duplicate (D-SACK, RFC 2883).
    let again = Sent {
        sack: sack_blocks(&[(REMOTE, REMOTE + 17)]),
        ..our_ack
    };
    assert_eq!(recv(&mut conn, at(10_450)), vec![(again, Reason::Ack)]);
    // And it would still, at the ceiling of the peer's timer.
    assert_eq!(conn.poll_timeout(), Some(at(10_450 + TIME_WAIT_MS)));
}

#[test]
fn time_wait_rst_closes_without_error() {
    let mut conn = time_wait();
    send(
        &mut conn,
        at(2_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // Both FINs acknowledged: nothing was lost, so the RST ends it cleanly.
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.is_fin_acknowledged());
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn time_wait_abort_sends_no_rst() {
    let mut conn = time_wait();
    conn.abort();
    // RFC 9293 section 3.10.5: in CLOSING, LAST-ACK and TIME-WAIT, just delete the TCB.
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(2_000));
}

#[test]
fn last_ack_abort_sends_no_rst() {
    let mut conn = last_ack();
    conn.abort();
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, at(1_200));
}
