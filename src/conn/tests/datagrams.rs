//! Bad datagrams: corrupt or truncated ones are counted and dropped (docs/protocol.md).

use super::*;

// -------------------------------------------------------------------------------------------
// Bad datagrams

#[test]
fn corrupt_datagram_is_counted_and_ignored() {
    let mut conn = established();
    let mut datagram = encode(&Segment {
        payload: b"payload",
        ..SEND_TEMPL
    });
    let last = datagram.len() - 1;
    datagram[last] ^= 0x04;
    conn.handle_datagram(at(1_000), &datagram);
    assert_eq!(conn.stats().discarded_corrupt, 1);
    assert_eq!(conn.stats().segments_received, 1); // the SYN-ACK only
    assert_eq!(conn.readable_bytes(), 0);
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
    assert_eq!(timeout(&mut conn, at(1_040)), vec![]);
}

#[test]
fn truncated_datagram_is_counted_and_ignored() {
    let mut conn = established();
    let datagram = encode(&Segment {
        flags: Flags::RST,
        ..SEND_TEMPL
    });
    assert!(matches!(
        Segment::parse(&datagram[..10]),
        Err(WireError::Truncated { .. })
    ));
    conn.handle_datagram(at(1_000), &datagram[..10]);
    assert_eq!(conn.stats().discarded_malformed, 1);
    assert_eq!(conn.stats().discarded_corrupt, 0);
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, at(1_000));
}

#[test]
fn valid_datagram_is_taken() {
    let mut conn = established();
    conn.handle_datagram(
        at(1_000),
        &encode(&Segment {
            payload: b"ok",
            ..SEND_TEMPL
        }),
    );
    assert_eq!(read_all(&mut conn), b"ok");
    recv_nothing(&mut conn, at(1_000));
}
