//! ESTABLISHED, keepalives: probes of an idle peer and the timeout (RFC 9293 section 3.8.4).

use super::*;

// -------------------------------------------------------------------------------------------
// ESTABLISHED: keepalive

fn keepalive_config() -> Config {
    Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_probes: 3,
        ..classic_config()
    }
}

/// RFC 9293 section 3.8.4: SEG.SEQ = SND.NXT - 1, which the peer must answer.
fn keepalive() -> (Sent, Reason) {
    (
        Sent {
            seq: LOCAL - 1,
            ..RECV_TEMPL
        },
        Reason::Keepalive,
    )
}

#[test]
fn idle_connection_sends_keepalives_then_times_out() {
    let mut conn = established_with(keepalive_config());
    assert_eq!(conn.poll_timeout(), Some(at(15_100)));
    assert_eq!(timeout(&mut conn, at(15_099)), vec![]);
    assert_eq!(timeout(&mut conn, at(15_100)), vec![keepalive()]);
    assert_eq!(conn.poll_timeout(), Some(at(30_100)));
    assert_eq!(timeout(&mut conn, at(30_100)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(45_100)), vec![keepalive()]);
    assert_eq!(conn.stats().keepalives, 3);
    assert_eq!(conn.poll_timeout(), Some(at(60_100)));
    assert_eq!(timeout(&mut conn, at(60_100)), vec![]);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::TimedOut))]
    );
    recv_nothing(&mut conn, at(60_100));
}

#[test]
fn answered_keepalive_resets_the_count() {
    let mut conn = established_with(keepalive_config());
    assert_eq!(timeout(&mut conn, at(15_100)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(30_100)), vec![keepalive()]);
    // The peer answers the second probe.
    send(&mut conn, at(30_150), SEND_TEMPL);
    recv_nothing(&mut conn, at(30_150));
    assert_eq!(conn.poll_timeout(), Some(at(45_150)));
    // Three more unanswered probes are allowed before giving up.
    assert_eq!(timeout(&mut conn, at(45_150)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(60_150)), vec![keepalive()]);
    assert_eq!(timeout(&mut conn, at(75_150)), vec![keepalive()]);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(timeout(&mut conn, at(90_150)), vec![]);
    assert_eq!(conn.error(), Some(ConnectionError::TimedOut));
    recv_nothing(&mut conn, at(90_150));
}

#[test]
fn no_keepalive_while_data_is_outstanding() {
    let mut conn = established_with(Config {
        max_retransmissions: 100,
        max_rto: Duration::from_secs(4),
        ..keepalive_config()
    });
    conn.write(b"x").unwrap();
    assert_eq!(recv(&mut conn, at(15_000)).len(), 1);
    // At 15.1 s the retransmission timer is watching the peer: no keepalive goes out.
    let sent = timeout(&mut conn, at(15_100));
    assert!(sent.iter().all(|(_, reason)| *reason != Reason::Keepalive));
    recv_nothing(&mut conn, at(15_100));
}

#[test]
fn an_unreachable_quoting_an_unanswered_keepalive_resets_an_idle_connection() {
    // An idle connection sends only keepalives, at SND.UNA - 1: the one segment an ICMP
    // error can quote once the peer's process is gone.
    let mut conn = established_with(keepalive_config());
    assert!(!conn.handle_unreachable(LOCAL - 1), "no probe out yet");
    assert_eq!(timeout(&mut conn, at(15_100)), vec![keepalive()]);
    assert!(conn.handle_unreachable(LOCAL - 1));
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed(Some(ConnectionError::Reset))]
    );
    recv_nothing(&mut conn, at(15_100));
}
