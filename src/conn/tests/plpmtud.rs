//! Path MTU discovery (RFC 8899, `plpmtud.rs`): the probe and what its ACK or its loss does,
//! and whole transfers between two connections over a path that drops datagrams above its
//! MTU silently (a black hole), as a router with Don't Fragment set does.

use super::*;

/// What a peer with path MTU discovery on offers: the default largest datagram (1452) less
/// the 24-byte header.
const SEARCHING_PEER: Options = Options {
    mss: Some(1_428),
    sack_permitted: true,
    timestamps: None,
};

/// The probe: new data of the largest size both ends allow.
fn probe(seq: SeqNum) -> Sent {
    Sent {
        seq,
        payload: bytes(offset(seq), 1_428),
        ..RECV_TEMPL
    }
}

fn sized(seq: SeqNum, len: usize) -> Sent {
    Sent {
        seq,
        payload: bytes(offset(seq), len),
        ..RECV_TEMPL
    }
}

// -------------------------------------------------------------------------------------------
// The probe, segment by segment

#[test]
fn a_probe_goes_first_and_its_ack_grows_every_segment_after_it() {
    let mut conn = established_offered(newreno_config(), SEARCHING_PEER);
    write_segments(&mut conn, LOCAL, 20);
    // The initial window (3 x 1200 bytes) holds the probe and one segment of the base size.
    assert_eq!(
        recv(&mut conn, at(200)),
        vec![
            (probe(LOCAL), Reason::PathMtuProbe),
            (data(LOCAL + 1_428), Reason::NewData),
        ]
    );
    assert_eq!(conn.stats().segment_size, 1_200);
    // Both arrive: the path carries 1428-byte payloads, and new data goes at that size.
    send(&mut conn, at(300), ack(LOCAL + 2_628));
    let sent = recv(&mut conn, at(300));
    assert!(!sent.is_empty());
    let mut next = LOCAL + 2_628;
    for (segment, reason) in sent {
        assert_eq!((segment, reason), (sized(next, 1_428), Reason::NewData));
        next += 1_428;
    }
    let stats = conn.stats();
    assert_eq!((stats.segment_size, stats.path_mtu_probes), (1_428, 1));
}

/// Above the base, a data segment leaves room for the SACK blocks it carries, as Linux's
/// `tcp_current_mss` does for its SACK option: the datagram stays within the size the probe
/// confirmed, and the peer still hears of the data we hold out of order.
#[test]
fn a_grown_segment_makes_room_for_its_sack_blocks() {
    let mut conn = established_offered(newreno_config(), SEARCHING_PEER);
    write_segments(&mut conn, LOCAL, 2);
    recv(&mut conn, at(200));
    send(&mut conn, at(300), ack(LOCAL + 2_400));
    recv(&mut conn, at(300));
    assert_eq!(conn.stats().segment_size, 1_428);
    // The peer's data, with a hole before it.
    send(
        &mut conn,
        at(310),
        Segment {
            seq: REMOTE + 100,
            ack: LOCAL + 2_400,
            payload: &[7; 50],
            ..SEND_TEMPL
        },
    );
    recv(&mut conn, at(310));
    assert_eq!(conn.write(&bytes(2_400, 3_000)), Ok(3_000));
    let sent = recv(&mut conn, at(320));
    let (first, reason) = &sent[0];
    assert_eq!(*reason, Reason::NewData);
    assert_eq!(first.sack.len(), 1);
    assert_eq!(first.payload.len(), 1_420);
    assert_eq!(
        crate::wire::HEADER_LEN + 8 * first.sack.len() + first.payload.len(),
        24 + 1_428
    );
}

/// At the base size too, a segment and its SACK blocks stay within what every path carries
/// (`BASE_DATAGRAM`, 1232 octets: IPv6's minimum MTU less its and UDP's headers). The base
/// datagram, the header and the default 1200 octets, leaves room for one block: new data
/// carrying more gives up payload for them, and a retransmission of a full-sized segment
/// carries only the block that fits. Before, a base segment kept room for all four blocks,
/// and a 1256-octet datagram never crossed a path at IPv6's minimum MTU.
#[test]
fn at_the_base_a_segment_and_its_sack_blocks_fit_the_smallest_ipv6_path() {
    let datagram = |sent: &Sent| crate::wire::HEADER_LEN + 8 * sent.sack.len() + sent.payload.len();
    let mut conn = established_offered(newreno_config(), PEER_SYN_OPTIONS);
    write_segments(&mut conn, LOCAL, 1);
    assert_eq!(
        recv(&mut conn, at(200)),
        vec![(data(LOCAL), Reason::NewData)]
    );
    // The peer's data with three holes: three SACK blocks owed.
    for hole in 0..3 {
        send(
            &mut conn,
            at(210 + hole),
            Segment {
                seq: REMOTE + 100 + 200 * hole as u32,
                ack: LOCAL,
                payload: &[7; 50],
                ..SEND_TEMPL
            },
        );
    }
    recv(&mut conn, at(215));
    assert_eq!(conn.write(&bytes(1_200, 1_200)), Ok(1_200));
    let sent = recv(&mut conn, at(220));
    let (first, reason) = &sent[0];
    assert_eq!(*reason, Reason::NewData);
    assert_eq!((first.sack.len(), first.payload.len()), (3, 1_184));
    assert_eq!(datagram(first), 1_232);
    // The timers (tail loss probes of the last segment, then the RTO) send the first segment
    // again, whole, with the one block that fits.
    let mut resent = Vec::new();
    while !resent
        .iter()
        .any(|(sent, _): &(Sent, Reason)| sent.seq == LOCAL)
    {
        assert!(
            resent.len() < 10,
            "the first segment is sent again: {resent:?}"
        );
        let deadline = conn.poll_timeout().unwrap();
        resent.extend(timeout(&mut conn, deadline));
    }
    let (again, reason) = resent.iter().find(|(sent, _)| sent.seq == LOCAL).unwrap();
    assert_eq!(*reason, Reason::RtoRetransmission { timeout: 1 });
    assert_eq!(
        (again.seq, again.payload.len(), again.sack.len()),
        (LOCAL, 1_200, 1)
    );
    assert_eq!(datagram(again), 1_232);
}

#[test]
fn a_peer_that_receives_no_more_than_the_base_gets_no_probe() {
    let mut conn = established_offered(newreno_config(), PEER_SYN_OPTIONS);
    write_segments(&mut conn, LOCAL, 3);
    assert_eq!(
        recv(&mut conn, at(200)),
        flight(LOCAL, 0..3, Reason::NewData)
    );
    assert_eq!(conn.stats().path_mtu_probes, 0);
}

#[test]
fn with_path_mtu_discovery_off_nothing_is_probed_and_the_syn_offers_the_mss() {
    let config = Config {
        plpmtud: false,
        ..newreno_config()
    };
    let mut conn = Connection::connect(config.clone(), remote_addr(), LOCAL_ISN).unwrap();
    let syn = recv(&mut conn, at(0));
    assert_eq!(syn[0].0.options, PEER_SYN_OPTIONS);
    let mut conn = established_offered(config, SEARCHING_PEER);
    write_segments(&mut conn, LOCAL, 3);
    assert_eq!(
        recv(&mut conn, at(200)),
        flight(LOCAL, 0..3, Reason::NewData)
    );
}

/// RFC 8899 section 3, RFC 4821 section 7.6.2: a lost probe says the size is too large, not
/// that the path is congested. Its bytes go again at the base size, in two segments, and no
/// recovery starts: the window stays as it was.
#[test]
fn a_lost_probe_is_resent_at_the_base_size_without_a_window_cut() {
    let mut conn = established_offered(newreno_config(), SEARCHING_PEER);
    write_segments(&mut conn, LOCAL, 20);
    recv(&mut conn, at(200));
    let cwnd = conn.stats().congestion_window;
    // The segment after the probe arrives; the probe does not.
    send(
        &mut conn,
        at(300),
        ack_sack(LOCAL, &[(LOCAL + 1_428, LOCAL + 2_628)]),
    );
    recv(&mut conn, at(300));
    // RACK marks the probe lost once its reordering window has passed.
    let deadline = conn.poll_timeout().unwrap();
    // Its first 1200 bytes go at once; the other 228 when the window has room (limited
    // transmit sent two segments on the SACK).
    assert_eq!(
        timeout(&mut conn, deadline),
        vec![(data(LOCAL), Reason::RackRetransmission)]
    );
    assert_eq!(
        conn.recovery.episode_kind(),
        None,
        "no recovery for a probe"
    );
    assert!(conn.stats().congestion_window >= cwnd);
    assert_eq!(conn.stats().slow_start_threshold, u32::MAX);
    assert_eq!(conn.stats().path_mtu_probes_lost, 1);
    assert_eq!(conn.stats().segment_size, 1_200);
}

/// RFC 8985 section 7.3 probes with the last segment sent. A datagram larger than the base is
/// kept as pieces, and the probe sends the whole datagram again, not only its last piece: a
/// lone last piece told RACK of no hole before it, and a lost tail cost two more round trips
/// (100 KB at 5% loss on 100 Mbit/s, 100 ms, docs/performance.md).
#[test]
fn a_tail_loss_probe_resends_the_whole_last_datagram_larger_than_the_base() {
    let mut conn = established_offered(newreno_config(), SEARCHING_PEER);
    // The probe and one base-sized segment, then two segments of 1428 bytes.
    let len = 1_428 + 1_200 + 2 * 1_428;
    assert_eq!(conn.write(&bytes(0, len)), Ok(len));
    recv(&mut conn, at(200));
    send(&mut conn, at(300), ack(LOCAL + 2_628));
    assert_eq!(
        recv(&mut conn, at(300)),
        vec![
            (sized(LOCAL + 2_628, 1_428), Reason::NewData),
            (sized(LOCAL + 4_056, 1_428), Reason::NewData),
        ]
    );
    // The last datagram is lost: nothing after it shows RACK the hole.
    send(&mut conn, at(400), ack(LOCAL + 4_056));
    recv_nothing(&mut conn, at(400));
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(
        timeout(&mut conn, deadline),
        vec![(sized(LOCAL + 4_056, 1_428), Reason::TailLossProbe)]
    );
    send(
        &mut conn,
        deadline + Duration::from_millis(100),
        ack(LOCAL + len as u32),
    );
    assert!(conn.is_send_complete());
    let stats = conn.stats();
    assert_eq!((stats.rto_timeouts, stats.retransmissions.tlp), (0, 1));
}

// -------------------------------------------------------------------------------------------
// Whole transfers over a path with an MTU

/// A path between two connections: a one-way delay and the largest datagram (UDP payload) it
/// carries, from `mtu_changes_at` on `later_mtu`; larger ones vanish without a word.
struct Path {
    delay: Duration,
    mtu: usize,
    later_mtu: Option<(Instant, usize)>,
}

/// What a transfer of `len` bytes from `a` to `b` over `path` showed.
struct Transfer {
    sender: Stats,
    /// The payload of each data segment `a` sent, in order.
    payloads: Vec<usize>,
    /// The largest datagram that crossed the path.
    largest_delivered: usize,
    done_at: Instant,
}

fn transfer(config: Config, path: Path, len: usize) -> Transfer {
    let b_addr: SocketAddr = "192.0.2.8:4747".parse().unwrap();
    let mut a = Connection::connect(config.clone(), b_addr, SeqNum(100)).unwrap();
    let mut b = Connection::listen(config, remote_addr(), SeqNum(300)).unwrap();
    let data = bytes(0, len);
    let mut written = 0;
    let mut received = Vec::new();
    // (arrives at, to b, datagram), in order of sending.
    let mut in_flight: std::collections::VecDeque<(Instant, bool, Vec<u8>)> = Default::default();
    let mut payloads = Vec::new();
    let mut largest_delivered = 0;
    let mut now = at(0);
    let mut buf = vec![0; 1 << 16];
    // Bounded: 120 s of simulated time in 1 ms steps.
    for _ in 0..120_000 {
        if written < len {
            written += a.write(&data[written..]).unwrap_or(0);
            if written == len {
                a.shutdown();
            }
        }
        while let Ok(n) = b.read(&mut buf) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        for (from_a, conn) in [(true, &mut a), (false, &mut b)] {
            if conn.poll_timeout().is_some_and(|deadline| deadline <= now) {
                conn.handle_timeout(now);
            }
            while let Some(transmit) = conn.poll_transmit(now) {
                if from_a {
                    let segment = Segment::parse(&transmit.contents).unwrap();
                    if !segment.payload.is_empty() {
                        payloads.push(segment.payload.len());
                    }
                }
                in_flight.push_back((now + path.delay, from_a, transmit.contents));
            }
        }
        while in_flight
            .front()
            .is_some_and(|(arrives, ..)| *arrives <= now)
        {
            let (_, to_b, datagram) = in_flight.pop_front().unwrap();
            let mtu = match path.later_mtu {
                Some((from, mtu)) if now >= from => mtu,
                _ => path.mtu,
            };
            if datagram.len() > mtu {
                continue;
            }
            largest_delivered = largest_delivered.max(datagram.len());
            if to_b {
                b.handle_datagram(now, &datagram);
            } else {
                a.handle_datagram(now, &datagram);
            }
        }
        if received.len() == len && a.is_fin_acknowledged() {
            assert_eq!(received, data, "every byte arrives, in order");
            return Transfer {
                sender: a.stats(),
                payloads,
                largest_delivered,
                done_at: now,
            };
        }
        now += ms(1);
    }
    panic!(
        "the transfer did not complete: {} of {len} bytes arrived",
        received.len()
    );
}

fn ethernet(delay_ms: u64) -> Path {
    Path {
        delay: ms(delay_ms),
        mtu: 1_500 - 28,
        later_mtu: None,
    }
}

#[test]
fn on_an_ethernet_path_segments_grow_to_the_largest_datagram_with_one_probe() {
    let done = transfer(untimestamped(Config::default()), ethernet(20), 200_000);
    assert_eq!(done.sender.path_mtu_probes, 1);
    assert_eq!(done.sender.path_mtu_probes_lost, 0);
    assert_eq!(done.sender.segment_size, 1_428);
    assert_eq!(done.largest_delivered, 1_452);
    assert_eq!(done.sender.retransmissions.total(), 0);
    // All but the first round trip's segments and the tail go at the largest size.
    let full = done.payloads.iter().filter(|&&len| len == 1_428).count();
    assert!(full * 10 >= done.payloads.len() * 9, "{:?}", done.payloads); // With timestamps (the defaults) each segment carries their 12 octets, and the payload
                                                                          // gives them room: the datagrams are as large.
    let done = transfer(Config::default(), ethernet(20), 200_000);
    assert_eq!(done.sender.segment_size, 1_416);
    assert_eq!(done.largest_delivered, 1_452);
    assert_eq!(done.sender.path_mtu_probes_lost, 0);
}

/// A path that carries 1300-byte datagrams: the probes of 1428 are lost three times, the
/// search halves the gap until it is under 20 octets, and no probe's loss costs the window.
#[test]
fn a_smaller_path_mtu_is_found_within_the_granularity_and_lost_probes_cost_no_window() {
    let path = Path {
        mtu: 1_300,
        ..ethernet(20)
    };
    let done = transfer(untimestamped(Config::default()), path, 1_000_000);
    let found = done.sender.segment_size;
    assert!(
        found + 24 <= 1_300 && found + 24 + 20 > 1_300,
        "found {found}"
    );
    assert_eq!(done.largest_delivered, found + 24);
    assert!(done.sender.path_mtu_probes_lost >= 3);
    // Only probes were lost: no recovery, no timeout, slow start never left.
    assert_eq!(done.sender.slow_start_threshold, u32::MAX);
    assert_eq!(done.sender.rto_timeouts, 0);
    assert_eq!(done.sender.path_mtu_black_holes, 0);
}

/// RFC 8899 section 4.3: the path stops carrying the larger datagrams mid-transfer (a route
/// change onto a tunnel, with ICMP filtered). Every copy after the first goes at the base
/// size, so the repair gets through; black-hole detection brings new data back to the base,
/// and the transfer completes.
#[test]
fn a_black_hole_mid_transfer_falls_back_to_the_base_and_the_transfer_completes() {
    let path = Path {
        later_mtu: Some((at(300), 1_280)),
        ..ethernet(20)
    };
    let done = transfer(untimestamped(Config::default()), path, 2_000_000);
    assert_eq!(done.sender.path_mtu_black_holes, 1);
    assert_eq!(done.sender.segment_size, 1_200);
    assert!(done.payloads.last().is_some_and(|&len| len <= 1_200));
    assert!(done.sender.retransmissions.total() > 0);
    assert!(done.done_at < at(60_000), "{:?}", done.done_at);
}

#[test]
fn with_discovery_off_segments_stay_at_the_mss() {
    let config = Config {
        plpmtud: false,
        ..Config::default()
    };
    let done = transfer(config, ethernet(20), 100_000);
    assert_eq!(done.sender.path_mtu_probes, 0);
    assert!(done.payloads.iter().all(|&len| len <= 1_200));
}
