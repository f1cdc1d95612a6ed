//! RST and abort: resets in and out of the window and SYNs in ESTABLISHED (RFC 9293 section
//! 3.10.7.4, RFC 5961 sections 3 and 4), abort (section 3.10.5), answers to strays (3.10.7.1),
//! and ICMP port unreachables, believed only about a segment we sent (RFC 5927 section 4.1).

use super::*;

// -------------------------------------------------------------------------------------------
// ESTABLISHED: RST and abort

#[test]
fn established_rst_at_rcv_nxt_resets() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.error(), Some(ConnectionError::Reset));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    assert_eq!(
        conn.read(&mut [0; 8]),
        Err(ReadError::Failed(ConnectionError::Reset))
    );
    assert_eq!(
        conn.write(b"x"),
        Err(WriteError::Failed(ConnectionError::Reset))
    );
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_rst_in_window_gets_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + 10,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 5961 section 3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_rst_out_of_window_is_dropped() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE + WINDOW + 10,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::RST,
            seq: REMOTE - 1,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_syn_gets_challenge_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            flags: Flags::SYN,
            ack: SeqNum(0),
            ..SEND_TEMPL
        },
    );
    // RFC 5961 section 4.2 (RFC 9293 section 3.10.7.4, fourth check).
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn established_ack_of_unsent_data_gets_ack() {
    let mut conn = established();
    send(
        &mut conn,
        at(1_000),
        Segment {
            ack: LOCAL + 100,
            ..SEND_TEMPL
        },
    );
    // RFC 9293 section 3.10.7.4: SEG.ACK > SND.NXT, send an ACK and drop the segment.
    assert_eq!(
        recv(&mut conn, at(1_000)),
        vec![(RECV_TEMPL, Reason::ChallengeAck)]
    );
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn abort_sends_rst_at_snd_nxt() {
    let mut conn = established();
    conn.write(b"hello").unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    conn.abort();
    // RFC 9293 section 3.10.5: <SEQ=SND.NXT><CTL=RST>.
    assert_eq!(
        recv(&mut conn, at(1_010)),
        vec![(
            Sent {
                seq: LOCAL + 5,
                ..RST_TEMPL
            },
            Reason::Rst
        )]
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Aborted))]
    );
    assert_eq!(conn.poll_timeout(), None);
    recv_nothing(&mut conn, at(1_010));
}

#[test]
fn reset_reply_answers_strays() {
    // With an ACK: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 section 3.10.7.1).
    let stray_ack = Segment {
        seq: SeqNum(7),
        ack: SeqNum(1_234),
        payload: b"abc",
        ..SEND_TEMPL
    };
    assert_eq!(
        reset_reply(&stray_ack),
        Some(Segment {
            flags: Flags::RST,
            seq: SeqNum(1_234),
            ack: SeqNum(0),
            window: 0,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        })
    );
    // Without: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, the SYN and FIN counted.
    let stray_syn = Segment {
        flags: Flags::SYN,
        seq: SeqNum(7),
        ack: SeqNum(0),
        ..SEND_TEMPL
    };
    assert_eq!(
        reset_reply(&stray_syn),
        Some(Segment {
            flags: Flags::RST | Flags::ACK,
            seq: SeqNum(0),
            ack: SeqNum(8),
            window: 0,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        })
    );
    let stray_data_fin = Segment {
        flags: Flags::FIN,
        seq: SeqNum(u32::MAX - 1),
        payload: b"abc",
        ..SEND_TEMPL
    };
    assert_eq!(reset_reply(&stray_data_fin).unwrap().ack, SeqNum(2));
    // A RST is never answered.
    let stray_rst = Segment {
        flags: Flags::RST | Flags::ACK,
        ..SEND_TEMPL
    };
    assert_eq!(reset_reply(&stray_rst), None);
}

// -------------------------------------------------------------------------------------------
// ICMP port unreachable: believed only if it quotes a sequence number we could have sent

/// ESTABLISHED with 300 bytes in flight at 1000 ms: SND.UNA = LOCAL, SND.NXT = LOCAL + 300.
fn established_with_data_in_flight() -> Connection {
    let mut conn = established();
    conn.write(&bytes(0, 300)).unwrap();
    assert_eq!(recv(&mut conn, at(1_000)).len(), 1);
    conn
}

#[test]
fn an_unreachable_quoting_a_sequence_number_outside_the_flight_changes_nothing() {
    let mut conn = established_with_data_in_flight();
    for forged in [LOCAL - 1, LOCAL + 301, LOCAL + (1 << 31), REMOTE] {
        assert!(!conn.handle_unreachable(forged), "{forged:?}");
    }
    assert_eq!(conn.state(), State::Established);
    assert_eq!(conn.error(), None);
    assert_eq!(events(&mut conn), vec![]);
    recv_nothing(&mut conn, at(1_000));
    // Still sending: the RTO repeats the data.
    assert_eq!(
        timeout(&mut conn, at(1_300)),
        vec![(
            Sent {
                payload: bytes(0, 300),
                ..RECV_TEMPL
            },
            Reason::RtoRetransmission { timeout: 1 }
        )]
    );
}

#[test]
fn an_unreachable_quoting_a_segment_in_flight_resets() {
    // From SND.UNA to SND.NXT inclusive: data, or an ACK sent at SND.NXT.
    for quoted in [LOCAL, LOCAL + 150, LOCAL + 300] {
        let mut conn = established_with_data_in_flight();
        assert!(conn.handle_unreachable(quoted), "{quoted:?}");
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(
            events(&mut conn),
            vec![Event::Closed(Some(ConnectionError::Reset))]
        );
        recv_nothing(&mut conn, at(1_000));
    }
}

#[test]
fn an_unreachable_refuses_a_connect_only_if_it_quotes_our_syn() {
    let mut conn = syn_sent();
    assert!(!conn.handle_unreachable(LOCAL_ISN + 1));
    assert_eq!(conn.state(), State::SynSent);
    assert!(conn.handle_unreachable(LOCAL_ISN));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Refused))]
    );
    recv_nothing(&mut conn, at(0));
}

#[test]
fn an_unreachable_in_time_wait_ends_it_cleanly() {
    // Both FINs acknowledged: nothing was lost, as with a RST there.
    let mut conn = time_wait();
    assert!(conn.handle_unreachable(LOCAL + 1));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), vec![Event::Closed(None)]);
    recv_nothing(&mut conn, at(1_300));
}
