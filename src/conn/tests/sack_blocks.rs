//! The SACK blocks we send after various reorderings (RFC 2018 section 4).

use super::*;

// -------------------------------------------------------------------------------------------
// The SACK blocks we send (RFC 2018 section 4)
//
// The peer sends 100-byte segments; segment `i` holds its bytes 100 i to 100 i + 99.

/// The peer's segment `i`, counted from `first`, its first data byte, arrives at `now`.
fn arrive(conn: &mut Connection, now: u64, first: SeqNum, i: u32) {
    let payload = bytes(100 * i as usize, 100);
    send(
        conn,
        at(now),
        Segment {
            seq: first + 100 * i,
            ack: LOCAL,
            payload: &payload,
            ..SEND_TEMPL
        },
    );
}

/// Our ACK of the peer's first `ack_segments` segments (from `first`), with `blocks` (in
/// segments from `first`), most recent first, as we send it when nothing has been read.
fn sack_ack(first: SeqNum, ack_segments: u32, blocks: &[(u32, u32)]) -> Vec<(Sent, Reason)> {
    let blocks: Vec<_> = blocks
        .iter()
        .map(|&(left, right)| (first + 100 * left, first + 100 * right))
        .collect();
    let sent = Sent {
        ack: first + 100 * ack_segments,
        window: WINDOW - 100 * ack_segments,
        ..RECV_TEMPL
    };
    vec![(with_sack(sent, &blocks), Reason::Ack)]
}

#[test]
fn sack_one_hole_one_block() {
    let mut conn = established();
    arrive(&mut conn, 1_000, REMOTE, 1);
    assert_eq!(recv(&mut conn, at(1_000)), sack_ack(REMOTE, 0, &[(1, 2)]));
    arrive(&mut conn, 1_001, REMOTE, 2);
    assert_eq!(recv(&mut conn, at(1_001)), sack_ack(REMOTE, 0, &[(1, 3)]));
    recv_nothing(&mut conn, at(1_001));
}

#[test]
fn sack_blocks_go_most_recent_first() {
    let mut conn = established();
    arrive(&mut conn, 1_000, REMOTE, 1);
    assert_eq!(recv(&mut conn, at(1_000)), sack_ack(REMOTE, 0, &[(1, 2)]));
    arrive(&mut conn, 1_001, REMOTE, 3);
    assert_eq!(
        recv(&mut conn, at(1_001)),
        sack_ack(REMOTE, 0, &[(3, 4), (1, 2)])
    );
    arrive(&mut conn, 1_002, REMOTE, 5);
    assert_eq!(
        recv(&mut conn, at(1_002)),
        sack_ack(REMOTE, 0, &[(5, 6), (3, 4), (1, 2)])
    );
    // A repeat of segment 1: a D-SACK block reports the duplicate first, then the block
    // holding it, as the one that triggered this ACK (RFC 2883 section 4).
    arrive(&mut conn, 1_003, REMOTE, 1);
    assert_eq!(
        recv(&mut conn, at(1_003)),
        sack_ack(REMOTE, 0, &[(1, 2), (1, 2), (5, 6), (3, 4)])
    );
    recv_nothing(&mut conn, at(1_003));
}

#[test]
fn sack_segment_filling_the_gap_between_blocks_merges_them() {
    let mut conn = established();
    for (now, i) in [(1_000, 1), (1_001, 3), (1_002, 5)] {
        arrive(&mut conn, now, REMOTE, i);
        assert_eq!(recv(&mut conn, at(now)).len(), 1);
    }
    arrive(&mut conn, 1_003, REMOTE, 2);
    assert_eq!(
        recv(&mut conn, at(1_003)),
        sack_ack(REMOTE, 0, &[(1, 4), (5, 6)])
    );
    recv_nothing(&mut conn, at(1_003));
}

#[test]
fn sack_reports_at_most_four_blocks_the_most_recent() {
    let mut conn = established();
    for (now, i) in [(1_000, 1), (1_001, 3), (1_002, 5), (1_003, 7)] {
        arrive(&mut conn, now, REMOTE, i);
        assert_eq!(recv(&mut conn, at(now)).len(), 1);
    }
    arrive(&mut conn, 1_004, REMOTE, 9);
    assert_eq!(
        recv(&mut conn, at(1_004)),
        sack_ack(REMOTE, 0, &[(9, 10), (7, 8), (5, 6), (3, 4)])
    );
    // Segment 2 joins the forgotten block [1, 2) to [3, 4): the merged block leads.
    arrive(&mut conn, 1_005, REMOTE, 2);
    assert_eq!(
        recv(&mut conn, at(1_005)),
        sack_ack(REMOTE, 0, &[(1, 4), (9, 10), (7, 8), (5, 6)])
    );
    recv_nothing(&mut conn, at(1_005));
}

#[test]
fn sack_blocks_never_cover_acknowledged_data() {
    let mut conn = established();
    for (now, i) in [(1_000, 1), (1_001, 3)] {
        arrive(&mut conn, now, REMOTE, i);
        assert_eq!(recv(&mut conn, at(now)).len(), 1);
    }
    // Segment 0 fills the first hole: the ACK moves past block [1, 2), which goes.
    arrive(&mut conn, 1_002, REMOTE, 0);
    assert_eq!(recv(&mut conn, at(1_002)), sack_ack(REMOTE, 2, &[(3, 4)]));
    // Segment 2 fills the last: no block at all.
    arrive(&mut conn, 1_003, REMOTE, 2);
    assert_eq!(recv(&mut conn, at(1_003)), sack_ack(REMOTE, 4, &[]));
    recv_nothing(&mut conn, at(1_003));
}

#[test]
fn sack_blocks_across_the_sequence_wrap() {
    // The peer's ISN sits just below 2^32: its segment 2 spans the wrap (0xFFFF_FFC9 to 0x2D).
    const PEER_ISN: SeqNum = SeqNum(0xFFFF_FF00);
    let first = PEER_ISN + 1;
    let mut conn = established_from(classic_config(), PEER_ISN);
    arrive(&mut conn, 1_000, first, 1);
    assert_eq!(recv(&mut conn, at(1_000)), sack_ack(first, 0, &[(1, 2)]));
    arrive(&mut conn, 1_001, first, 2);
    let across = sack_ack(first, 0, &[(1, 3)]);
    assert_eq!(
        across[0].0.sack.as_slice(),
        [SackBlock {
            left: SeqNum(0xFFFF_FF65),
            right: SeqNum(0x2D)
        }]
    );
    assert_eq!(recv(&mut conn, at(1_001)), across);
    arrive(&mut conn, 1_002, first, 4);
    assert_eq!(
        recv(&mut conn, at(1_002)),
        sack_ack(first, 0, &[(4, 5), (1, 3)])
    );
    // Segment 0: the ACK crosses the wrap and the block it passed goes.
    arrive(&mut conn, 1_003, first, 0);
    assert_eq!(recv(&mut conn, at(1_003)), sack_ack(first, 3, &[(4, 5)]));
    arrive(&mut conn, 1_004, first, 3);
    assert_eq!(recv(&mut conn, at(1_004)), sack_ack(first, 5, &[]));
    recv_nothing(&mut conn, at(1_004));
}
