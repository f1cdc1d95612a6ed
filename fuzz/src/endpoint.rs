//! One [`Endpoint`] fed arbitrary datagrams and application calls at arbitrary times.
//!
//! The input sets up the endpoint (the seed of its ISN generator, SACK and RACK on or off,
//! NewReno or no congestion control, the MSS, small or default buffers, the listen backlog,
//! whether it opens a connection to the first peer, an epoch of 1 ms or of 2^62
//! microseconds), then runs a script of operations until the input ends ([`MAX_OPS`] at
//! most): time passing (with `handle_timeout`), datagrams from four peer addresses, and what an
//! application does (accept, connect, read, write, shutdown, close, detach, abort, user
//! timeouts, keepalive settings, stop listening), and ICMP port unreachables quoting a segment
//! (its sequence number near what the endpoint last sent that peer, or anywhere, cut short
//! anywhere) or raw bytes. Most datagrams are segments the harness
//! encodes itself, so their CRC is right and the fuzzer gets past the parser: their sequence
//! and acknowledgment numbers are given relative to what the endpoint last sent that peer (its
//! ACK and its SND.NXT), so a few bytes of input complete a handshake, fill a window, SACK a
//! hole or forge a FIN, and an absolute number or raw bytes are a choice away.
//!
//! What must hold (documented in `docs/testing.md`, "Fuzzing"):
//!
//! 1. No panic, whatever arrives and whenever.
//! 2. Every datagram the endpoint sends parses, and goes to a peer that sent it something or
//!    that it was asked to connect to.
//! 3. **Connections**: those the application was never handed (handshaking, or waiting to be
//!    accepted) never outnumber twice the largest listen backlog set: as in Linux, the backlog
//!    bounds the half-open table and the accept queue each.
//! 4. **Transmits**: one drain of `poll_transmit` ends, and between two drains it yields at
//!    most [`CONTROL_PER_EVENT`] segments without payload per event (datagram fed, timer run or
//!    application call) plus [`CONTROL_PER_CONNECTION`] per connection, and at most twice the
//!    send buffer of payload per connection (its whole window, once sent and once resent).
//!    However many strays arrived, it sends at most [`STATELESS_REPLY_QUEUE`] RSTs beyond one
//!    per connection (RSTs to strays are rate-limited and their queue bounded).
//! 5. **Memory**: the heap the endpoint holds stays below [`HEAP_SLACK`] plus, per connection,
//!    its send buffer, twice its receive buffer (in order and out of order),
//!    [`HEAP_PER_CONNECTION`] and [`HEAP_PER_SEGMENT_IN_FLIGHT`] for each of the
//!    [`MAX_SEGMENTS_IN_FLIGHT`] segments it may have in flight, plus [`HEAP_PER_EVENT`] per event since the last drain (RSTs
//!    queued for strays). Measured with the counting allocator of [`heap`](super::heap).
//! 6. **Buffers**: no connection holds more readable bytes than its receive buffer.
//! 7. **Data**: every payload byte the harness sends is the low byte of its own sequence
//!    number, so what the application reads must count up by one, byte after byte: no byte
//!    lost, doubled or moved inside the stream. The other way, the application writes a
//!    known function of the stream offset ([`stream_byte`]), so every payload byte the
//!    endpoint sends must be the one written at the offset its sequence number names (from
//!    one of the last ISNs it sent that peer), and never one not yet written. Each segment it
//!    sends carries at most an MSS of payload (its own, and none larger than any the peer's
//!    SYNs offered), SACK blocks that are not empty, and none at all to a peer whose SYNs never
//!    offered SACK, and a window no larger than 2^30; once the connection has taken the peer's
//!    FIN, no SACK block lies above its ACK, not even a D-SACK (nothing exists beyond a FIN).
//! 8. **Nothing lives for ever**: after [`SILENCE`] of simulated time with no input, no timer
//!    is left, every connection is closed, and the only ones kept are those the application
//!    holds (connected or accepted, not detached) or has yet to take from the accept queue;
//!    once it takes and detaches them all, none is left.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use ferry::conn::{
    Config, CongestionControl, Reason, State, Transmit, ASSUMED_PEER_MSS, MAX_SEGMENTS_IN_FLIGHT,
};
use ferry::endpoint::{ConnectionHandle, Endpoint, STATELESS_REPLY_QUEUE};
use ferry::time::Instant;
use ferry::wire::{Flags, Options, SackBlock, SackBlocks, Segment, SeqNum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::heap;
use super::input::{Input, Output};

/// Operations one input runs at most.
pub const MAX_OPS: usize = 1024;

/// How long the endpoint is left alone at the end: longer than any timer the script can set
/// (keepalive intervals and user timeouts of at most an hour, eight probes at most).
pub const SILENCE: Duration = Duration::from_secs(24 * 3600);

/// Whether `FERRY_FUZZ_TRACE=1`: print every datagram in and out, for reading a crash.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FERRY_FUZZ_TRACE").is_some_and(|v| v == "1"))
}

/// Timer rounds the silence may take: a keepalive a second for the whole of it would be
/// 86,400, and no connection should live that long without input.
pub const MAX_SILENT_ROUNDS: u64 = 100_000;

/// Segments without payload one event may draw (an ACK and a challenge ACK, say).
pub const CONTROL_PER_EVENT: usize = 2;

/// Segments without payload a connection may send in one drain regardless of events: its
/// queued ACKs (at most 8), a FIN, a RST, a SYN or SYN-ACK, a probe, with room to spare.
pub const CONTROL_PER_CONNECTION: usize = 16;

/// Heap the harness and endpoint may use beyond the per-connection allowance.
pub const HEAP_SLACK: usize = 256 * 1024;

/// Heap per connection beyond its buffers: the connection itself, its timers, its
/// retransmission queue's bookkeeping.
pub const HEAP_PER_CONNECTION: usize = 32 * 1024;

/// Heap per segment in flight, at most [`MAX_SEGMENTS_IN_FLIGHT`] of them: a retransmission-
/// queue record (24 bytes) with room to spare.
pub const HEAP_PER_SEGMENT_IN_FLIGHT: usize = 32;

/// Heap per event since the last drain: a queued datagram (a RST to a stray, say).
pub const HEAP_PER_EVENT: usize = 512;

/// The peers. The endpoint connects to the first when the input asks it to.
const PEERS: [&str; 4] = [
    "198.51.100.1:4747",
    "192.0.2.1:4747",
    "192.0.2.2:9",
    "[2001:db8::1]:4747",
];

/// Longest payload of a harness-built segment.
const MAX_PAYLOAD: usize = 4096;

/// The payload byte at sequence number `seq` in what the harness sends: see check 7.
fn pattern(seq: SeqNum) -> u8 {
    seq.0 as u8
}

/// The byte at `offset` in what the application writes: see check 7. Not periodic in 256, so
/// a segment sent from the wrong place in the buffer shows.
pub fn stream_byte(offset: u64) -> u8 {
    (offset ^ (offset >> 8) ^ (offset >> 16)) as u8
}

/// ISNs remembered per peer for check 7.
const MAX_ISNS: usize = 8;

/// The largest window Ferry advertises (RFC 7323's bound).
const MAX_WINDOW: u32 = 1 << 30;

/// What the harness knows of one peer's conversation with the endpoint.
#[derive(Clone, Default)]
struct Peer {
    /// The peer's initial sequence number, from the input, until the endpoint acknowledges
    /// something.
    base: SeqNum,
    /// The endpoint's last acknowledgment number to this peer: what it expects next.
    rcv_nxt: Option<SeqNum>,
    /// Just past the highest sequence number the endpoint sent this peer.
    snd_nxt: Option<SeqNum>,
    /// Whether the peer has sent anything, or the endpoint was asked to connect to it.
    known: bool,
    /// The endpoint's ISNs towards this peer: the sequence numbers of its last few SYNs and
    /// SYN-ACKs, newest last. Which belongs to the open connection is not known from outside
    /// (a SYN cookie's SYN-ACK goes out without one, beside an open connection), so its data
    /// must match one of them.
    isns: Vec<SeqNum>,
    /// The sequence number of the peer's FIN that the open connection took, seen as the
    /// segment carrying it moved the connection into a state after a FIN (check 7).
    taken_fin: Option<SeqNum>,
    /// The largest MSS a SYN from the peer offered (RFC 9293's 536 for one without the
    /// option), and whether any offered SACK: the most a connection to it may use (check 7).
    largest_offered_mss: Option<usize>,
    offered_sack: bool,
}

impl Peer {
    fn expected_seq(&self) -> SeqNum {
        self.rcv_nxt.unwrap_or(self.base)
    }

    fn expected_ack(&self) -> SeqNum {
        self.snd_nxt.unwrap_or(SeqNum(0))
    }
}

struct Harness {
    endpoint: Endpoint,
    config: Config,
    peers: Vec<(SocketAddr, Peer)>,
    now: Instant,
    /// Handles the application was given and has not detached, in the order it got them.
    held: Vec<ConnectionHandle>,
    /// Every handle the application was ever given.
    given: BTreeSet<ConnectionHandle>,
    /// The last byte read from each held connection, for check 7.
    last_read: BTreeMap<ConnectionHandle, u8>,
    /// Bytes the application has written to each connection, for check 7.
    written: BTreeMap<ConnectionHandle, u64>,
    /// Check 7 is off once a datagram the harness did not build (raw bytes that happen to
    /// parse, or the endpoint's own datagram reflected) delivered payload.
    data_oracle: bool,
    largest_backlog: usize,
    /// Events since the last drain (check 4).
    events: usize,
    /// The endpoint's last datagram, for the reflection operation.
    last_transmit: Option<Transmit>,
    heap_baseline: usize,
    /// `FERRY_FUZZ_TRACE=1` prints every datagram in and out, for reading a crash.
    trace: bool,
}

/// The fuzz target.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut harness = Harness::new(&mut input);
    let mut ops = 0;
    while !input.is_empty() && ops < MAX_OPS {
        harness.step(&mut input);
        if harness.trace {
            let states: Vec<String> = harness
                .endpoint
                .connections()
                .map(|(h, c)| format!("{h:?} {} {}", c.remote(), c.state()))
                .collect();
            eprintln!("    connections: {states:?}");
        }
        harness.check();
        ops += 1;
    }
    harness.finish();
}

impl Harness {
    fn new(input: &mut Input<'_>) -> Harness {
        let seed = input.u64();
        let setup = input.u8();
        let small_buffers = setup & 0x08 != 0;
        // The backlog takes the low two bits of its byte; the next one chooses CUBIC.
        let backlog_byte = input.u8();
        let config = Config {
            sack: setup & 0x02 == 0,
            rack: setup & 0x04 == 0,
            mss: [1200, 536, 100, 24][usize::from(setup >> 4) % 4],
            send_buffer: if small_buffers {
                ferry::SendBuffer::Fixed(4096)
            } else {
                ferry::SendBuffer::AUTO
            },
            recv_buffer: ferry::RecvBuffer::Fixed(if small_buffers { 2048 } else { 64 * 1024 }),
            congestion_control: if setup & 0x80 != 0 {
                CongestionControl::Fixed
            } else if backlog_byte & 0x04 != 0 {
                CongestionControl::Cubic
            } else {
                CongestionControl::NewReno
            },
            ..Config::default()
        };
        let backlog = 1 + usize::from(backlog_byte) % 4;
        let mut peers = Vec::new();
        for text in PEERS {
            let peer = Peer {
                base: SeqNum(input.u32()),
                ..Peer::default()
            };
            peers.push((text.parse().expect("a peer address"), peer));
        }
        let heap_before = heap::live();
        let mut endpoint = Endpoint::new(config.clone(), Box::new(ChaCha8Rng::seed_from_u64(seed)))
            .expect("the harness draws only configs that work");
        endpoint.listen(backlog);
        let mut harness = Harness {
            endpoint,
            config,
            peers,
            // Only differences between instants mean anything: a late epoch must work too.
            now: if setup & 0x40 != 0 {
                Instant::from_micros(1 << 62)
            } else {
                Instant::from_millis(1)
            },
            held: Vec::new(),
            given: BTreeSet::new(),
            last_read: BTreeMap::new(),
            written: BTreeMap::new(),
            data_oracle: true,
            largest_backlog: backlog,
            events: 0,
            last_transmit: None,
            heap_baseline: heap_before,
            trace: trace(),
        };
        if setup & 0x01 != 0 {
            harness.connect(0);
        }
        harness
    }

    fn peer_index(&self, input: &mut Input<'_>) -> usize {
        input.below(self.peers.len())
    }

    /// A held handle picked by the input, if any is held.
    fn held_handle(&self, input: &mut Input<'_>) -> Option<ConnectionHandle> {
        let index = input.below(self.held.len());
        self.held.get(index).copied()
    }

    fn step(&mut self, input: &mut Input<'_>) {
        self.events += 1;
        let op = input.u8() % 20;
        if self.trace {
            eprintln!("{:?} op {op}", self.now);
        }
        match op {
            0 | 1 => self.tick(input),
            2..=5 => {
                let peer = self.peer_index(input);
                self.crafted(input, peer);
            }
            6 => self.burst(input),
            7 => {
                let peer = self.peer_index(input);
                self.cooperative_ack(peer, input.pick(&[0, 1, 65535, 1 << 20]));
            }
            8 => self.raw(input),
            9 => self.drain(),
            10 => self.accept(),
            11 => self.write(input),
            12 => self.read(input),
            13 => self.close(input),
            14 => self.detach(input),
            15 => self.shutdown_or_abort(input),
            16 => {
                let peer = self.peer_index(input);
                self.connect(peer);
            }
            17 => self.unreachable(input),
            18 => self.timeouts(input),
            _ => self.reflect_or_listen(input),
        }
    }

    // --- time --------------------------------------------------------------------------------

    fn tick(&mut self, input: &mut Input<'_>) {
        let unit = input.pick(&[
            Duration::from_micros(1),
            Duration::from_millis(1),
            Duration::from_millis(100),
            Duration::from_secs(10),
        ]);
        let amount = u32::from(input.u8());
        self.now += unit * amount;
        self.endpoint.handle_timeout(self.now);
        self.drain();
    }

    // --- datagrams ---------------------------------------------------------------------------

    fn feed(&mut self, peer: usize, datagram: &[u8], built_here: bool) {
        let (address, _) = self.peers[peer];
        self.peers[peer].1.known = true;
        if let Ok(syn) = Segment::parse(datagram) {
            if syn.flags.contains(Flags::SYN) {
                let state = &mut self.peers[peer].1;
                let mss = usize::from(syn.options.mss.unwrap_or(ASSUMED_PEER_MSS).max(1));
                state.largest_offered_mss = state.largest_offered_mss.max(Some(mss));
                state.offered_sack |= syn.options.sack_permitted;
            }
        }
        if !built_here {
            if let Ok(segment) = Segment::parse(datagram) {
                if !segment.payload.is_empty() {
                    self.data_oracle = false;
                }
            }
        }
        if self.trace {
            match Segment::parse(datagram) {
                Ok(segment) => eprintln!("{:?} {address} -> endpoint: {segment}", self.now),
                Err(error) => eprintln!("{:?} {address} -> endpoint: {error}", self.now),
            }
        }
        let fin_received_before = self.fin_received(address);
        self.endpoint.handle_datagram(self.now, address, datagram);
        if !fin_received_before && self.fin_received(address) {
            // FINs are taken only in order, from the segment that carries them.
            if let Ok(segment) = Segment::parse(datagram) {
                let fin = segment.seq + segment.seq_len() - 1;
                self.peers[peer].1.taken_fin = Some(fin);
            }
        }
    }

    /// Whether the open connection to `address` has taken its peer's FIN.
    fn fin_received(&self, address: SocketAddr) -> bool {
        self.endpoint.connections().any(|(_, c)| {
            c.remote() == address
                && matches!(
                    c.state(),
                    State::CloseWait | State::Closing | State::LastAck | State::TimeWait
                )
        })
    }

    /// A segment built from the input, aimed at what the endpoint expects from `peer`.
    fn crafted(&mut self, input: &mut Input<'_>, peer: usize) {
        let state = self.peers[peer].1.clone();
        let flag_byte = input.u8();
        let flags = if flag_byte & 0x80 != 0 {
            Flags::from_bits(flag_byte & 0x7f) // may set bits Ferry does not define
        } else {
            Flags::from_bits(flag_byte & Flags::KNOWN.bits())
        };
        let seq = relative(input, state.expected_seq());
        let ack = relative(input, state.expected_ack());
        let window = match input.below(8) {
            0 => 0,
            1 => 1,
            2 => 1200,
            3 => u32::MAX,
            4 => input.u32(),
            _ => 65535,
        };
        let mut sack = SackBlocks::new();
        for _ in 0..input.below(6) {
            let left = relative(input, ack);
            let len = u32::from(input.u16() % 4096);
            sack.push(SackBlock {
                left,
                right: left + len,
            });
        }
        let payload_len = match input.below(8) {
            0..=3 => 0,
            4 => 1,
            5 => self.config.mss,
            _ => usize::from(input.u16()) % (MAX_PAYLOAD + 1),
        };
        let first = seq + u32::from(flags.contains(Flags::SYN));
        let payload: Vec<u8> = (0..payload_len as u32)
            .map(|i| pattern(first + i))
            .collect();
        // A SYN offers an MSS (none, a sliver, TCP's default, ours, the most) and SACK or not.
        let options = if flags.contains(Flags::SYN) {
            Options {
                mss: [
                    None,
                    Some(1),
                    Some(536),
                    Some(self.config.mss as u16),
                    Some(u16::MAX),
                ][input.below(5)],
                sack_permitted: input.below(2) == 0,
                timestamps: None,
            }
        } else {
            Options::none()
        };
        let segment = Segment {
            flags,
            seq,
            ack,
            window,
            sack,
            options,
            payload: &payload,
        };
        let mut datagram = Vec::new();
        segment.emit(&mut datagram);
        self.feed(peer, &datagram, true);
    }

    /// Several data segments from one peer in a row, each starting where the last ended or a
    /// little beyond: in-order data, holes and out-of-order runs at little cost in input.
    fn burst(&mut self, input: &mut Input<'_>) {
        let peer = self.peer_index(input);
        let count = 1 + input.below(16);
        let len = input.pick(&[1u32, 7, 100, self.config.mss as u32]);
        let gap_every = input.below(4);
        let window = input.pick(&[0u32, 65535]);
        let state = self.peers[peer].1.clone();
        let mut seq = relative(input, state.expected_seq());
        for i in 0..count {
            if gap_every != 0 && i % gap_every == 0 {
                seq += len; // leave a hole
            }
            let payload: Vec<u8> = (0..len).map(|k| pattern(seq + k)).collect();
            let segment = Segment {
                flags: Flags::ACK,
                seq,
                ack: state.expected_ack(),
                window,
                sack: SackBlocks::new(),
                options: Options::none(),
                payload: &payload,
            };
            let mut datagram = Vec::new();
            segment.emit(&mut datagram);
            self.feed(peer, &datagram, true);
            self.events += 1;
            seq += len;
        }
    }

    /// The ACK a well-behaved peer would send now: everything acknowledged.
    fn cooperative_ack(&mut self, peer: usize, window: u32) {
        let state = self.peers[peer].1.clone();
        let segment = Segment {
            flags: Flags::ACK,
            seq: state.expected_seq(),
            ack: state.expected_ack(),
            window,
            ..Segment::default()
        };
        let mut datagram = Vec::new();
        segment.emit(&mut datagram);
        self.feed(peer, &datagram, true);
    }

    /// Raw bytes: the parser's errors as a whole endpoint sees them.
    fn raw(&mut self, input: &mut Input<'_>) {
        let peer = self.peer_index(input);
        let len = input.below(80);
        let bytes = input.bytes(len).to_vec();
        self.feed(peer, &bytes, false);
    }

    /// An ICMP port unreachable about a datagram to a peer, quoting a segment whose sequence
    /// number lies a little below what the endpoint last sent that peer (its SND.NXT: a
    /// segment in flight, its SYN at the ISN, a keepalive) or far from it, cut short
    /// anywhere; or quoting raw bytes.
    fn unreachable(&mut self, input: &mut Input<'_>) {
        let peer = self.peer_index(input);
        let quoted = if input.bool() {
            let back = input.pick(&[0u32, 1, 2, 100, 1200, 1 << 31]);
            let mut datagram = Vec::new();
            Segment {
                flags: Flags::ACK,
                seq: self.peers[peer].1.expected_ack() - back,
                ..Segment::default()
            }
            .emit(&mut datagram);
            datagram.truncate(input.below(datagram.len() + 1));
            datagram
        } else {
            let len = input.below(32);
            input.bytes(len).to_vec()
        };
        if self.trace {
            eprintln!(
                "{:?} ICMP unreachable from {peer} quoting {quoted:?}",
                self.now
            );
        }
        self.endpoint
            .handle_unreachable(self.peers[peer].0, &quoted);
    }

    // --- the application ---------------------------------------------------------------------

    fn take(&mut self, handle: ConnectionHandle) {
        if self.trace {
            eprintln!("{:?} application holds {handle:?}", self.now);
        }
        assert!(
            self.given.insert(handle),
            "the endpoint handed out {handle:?} twice"
        );
        self.held.push(handle);
    }

    fn connect(&mut self, peer: usize) {
        let (address, _) = self.peers[peer];
        if let Ok(handle) = self.endpoint.connect(address) {
            self.peers[peer].1.known = true;
            self.take(handle);
        }
    }

    fn accept(&mut self) {
        if let Some(handle) = self.endpoint.accept() {
            assert!(
                self.endpoint.connection(handle).is_some(),
                "accept gave {handle:?}, which the endpoint does not have"
            );
            self.take(handle);
        }
    }

    fn write(&mut self, input: &mut Input<'_>) {
        let Some(handle) = self.held_handle(input) else {
            return;
        };
        let len = usize::from(input.u16()) % (64 * 1024);
        let Some(connection) = self.endpoint.connection_mut(handle) else {
            return;
        };
        // Offer no more than fits (building bytes the send buffer refuses would only cost
        // time), but at least one, so a full buffer is still asked.
        let offered = len.min(connection.writable_bytes().max(1));
        let written = self.written.entry(handle).or_default();
        let data: Vec<u8> = (0..offered as u64)
            .map(|i| stream_byte(*written + i))
            .collect();
        if let Ok(taken) = connection.write(&data) {
            assert!(taken <= offered);
            *written += taken as u64;
        }
    }

    fn read(&mut self, input: &mut Input<'_>) {
        let Some(handle) = self.held_handle(input) else {
            return;
        };
        let mut buf = vec![0u8; 1 + usize::from(input.u16()) % (64 * 1024)];
        let Some(connection) = self.endpoint.connection_mut(handle) else {
            return;
        };
        let readable = connection.readable_bytes();
        let Ok(count) = connection.read(&mut buf) else {
            return;
        };
        assert_eq!(
            count,
            readable.min(buf.len()),
            "read returned a short count"
        );
        if self.trace {
            eprintln!(
                "{:?} application read {count} bytes from {handle:?}",
                self.now
            );
        }
        if !self.data_oracle {
            return;
        }
        for &byte in &buf[..count] {
            if let Some(&last) = self.last_read.get(&handle) {
                assert_eq!(
                    byte,
                    last.wrapping_add(1),
                    "the stream of {handle:?} skipped, repeated or moved bytes"
                );
            }
            self.last_read.insert(handle, byte);
        }
    }

    fn close(&mut self, input: &mut Input<'_>) {
        if let Some(handle) = self.held_handle(input) {
            self.endpoint.close(handle);
        }
    }

    fn detach(&mut self, input: &mut Input<'_>) {
        if let Some(handle) = self.held_handle(input) {
            self.endpoint.detach(handle);
            self.held.retain(|&h| h != handle);
        }
    }

    fn shutdown_or_abort(&mut self, input: &mut Input<'_>) {
        let abort = input.bool();
        let Some(handle) = self.held_handle(input) else {
            return;
        };
        if let Some(connection) = self.endpoint.connection_mut(handle) {
            if abort {
                connection.abort();
            } else {
                connection.shutdown();
            }
        }
    }

    fn timeouts(&mut self, input: &mut Input<'_>) {
        let duration = Duration::from_millis(u64::from(input.u16())) * 55; // up to an hour
        let choice = input.below(4);
        let handle = self.held_handle(input);
        match (choice, handle) {
            (0, _) => self.endpoint.set_default_user_timeout(Some(duration)),
            (1, _) => self.endpoint.set_default_user_timeout(None),
            (2, Some(handle)) => self.endpoint.set_user_timeout(handle, Some(duration)),
            (3, Some(handle)) => {
                let probes = input.below(9) as u32;
                // A keepalive timer that runs while data is in flight fires and re-arms
                // without sending (as Linux's does), so a millisecond interval would only
                // make the run slow: a second is the shortest an application may set here.
                let interval = duration.max(Duration::from_secs(1));
                if let Some(connection) = self.endpoint.connection_mut(handle) {
                    connection.set_keepalive(self.now, Some(interval), probes);
                }
            }
            _ => {}
        }
    }

    fn reflect_or_listen(&mut self, input: &mut Input<'_>) {
        match input.below(4) {
            0 => self.endpoint.stop_listening(),
            1 => {
                let backlog = 1 + input.below(4);
                self.largest_backlog = self.largest_backlog.max(backlog);
                self.endpoint.listen(backlog);
            }
            _ => {
                // The endpoint's own last datagram, back from where it went.
                if let Some(transmit) = self.last_transmit.clone() {
                    if let Some(peer) = self
                        .peers
                        .iter()
                        .position(|(a, _)| *a == transmit.destination)
                    {
                        self.feed(peer, &transmit.contents, false);
                    }
                }
            }
        }
    }

    // --- output and checks -------------------------------------------------------------------

    /// Take every datagram the endpoint has to send now, checking each (checks 2 and 4).
    fn drain(&mut self) {
        let connections = self.endpoint.connections().count();
        let control_bound = CONTROL_PER_EVENT * self.events + CONTROL_PER_CONNECTION * connections;
        let payload_bound = 2 * self.config.send_buffer.max() * connections + connections;
        let (mut control, mut payload, mut resets) = (0usize, 0usize, 0usize);
        while let Some(transmit) = self.endpoint.poll_transmit(self.now) {
            let segment = Segment::parse(&transmit.contents).unwrap_or_else(|e| {
                panic!("the endpoint sent a datagram that does not parse ({e}): {transmit:?}")
            });
            let Some(index) = self
                .peers
                .iter()
                .position(|(address, _)| *address == transmit.destination)
            else {
                panic!("the endpoint sent to {}, a stranger", transmit.destination);
            };
            if self.trace {
                eprintln!(
                    "{:?} endpoint -> {}: {segment} ({})",
                    self.now, transmit.destination, transmit.reason
                );
            }
            assert!(
                self.peers[index].1.known,
                "the endpoint sent to {} before hearing of it",
                transmit.destination
            );
            if segment.flags.contains(Flags::RST) {
                resets += 1;
                assert!(
                    resets <= STATELESS_REPLY_QUEUE + connections,
                    "one drain sent {resets} RSTs for {connections} connections and {} events",
                    self.events
                );
            }
            if segment.payload.is_empty() {
                control += 1;
            } else {
                payload += segment.payload.len();
            }
            self.check_sent(&transmit, &segment);
            assert!(
                control <= control_bound && payload <= payload_bound,
                "one drain sent {control} segments without payload (bound {control_bound}) and \
                 {payload} bytes of payload (bound {payload_bound}) for {} events and \
                 {connections} connections; the last: {segment} ({})",
                self.events,
                transmit.reason
            );
            let peer = &mut self.peers[index].1;
            track(peer, &segment, transmit.reason);
            self.last_transmit = Some(transmit);
        }
        self.events = 0;
    }

    /// Check 7 on one segment the endpoint sent.
    fn check_sent(&self, transmit: &Transmit, segment: &Segment<'_>) {
        let (_, peer) = self
            .peers
            .iter()
            .find(|(address, _)| *address == transmit.destination)
            .expect("checked by drain");
        // The largest segment this end may send: its MSS, or with path MTU discovery the
        // largest payload its datagrams may grow to; never more than the peer offered.
        let own_largest = if self.config.plpmtud {
            let grown = self
                .config
                .max_datagram
                .saturating_sub(ferry::wire::HEADER_LEN);
            grown.max(self.config.mss)
        } else {
            self.config.mss
        };
        let mss = own_largest.min(peer.largest_offered_mss.unwrap_or(usize::MAX));
        assert!(
            segment.payload.len() <= mss,
            "a segment of {} bytes, over the MSS of {mss}: {segment}",
            segment.payload.len()
        );
        assert!(
            peer.offered_sack || segment.sack.is_empty(),
            "SACK blocks to a peer that never offered SACK: {segment}"
        );
        assert!(segment.window <= MAX_WINDOW, "window over 2^30: {segment}");
        for block in segment.sack.as_slice() {
            assert!(
                (block.right.0.wrapping_sub(block.left.0) as i32) > 0,
                "an empty or inverted SACK block: {segment}"
            );
        }
        if segment.flags.contains(Flags::ACK) {
            self.check_no_sack_beyond_fin(transmit, segment, peer);
        }
        if segment.payload.is_empty() || segment.flags.contains(Flags::SYN) {
            return;
        }
        assert!(
            !peer.isns.is_empty(),
            "data sent to a peer before any SYN or SYN-ACK: {segment}"
        );
        let Some((handle, _)) = self
            .endpoint
            .connections()
            .find(|(_, c)| c.remote() == transmit.destination && !c.is_closed())
        else {
            panic!(
                "data sent to {} with no open connection",
                transmit.destination
            );
        };
        let written = self.written.get(&handle).copied().unwrap_or(0);
        let offset_from =
            |iss: SeqNum| u64::from(segment.seq.0.wrapping_sub(iss.0.wrapping_add(1)));
        let matches = |offset: u64| {
            offset + segment.payload.len() as u64 <= written
                && segment
                    .payload
                    .iter()
                    .enumerate()
                    .all(|(k, &byte)| byte == stream_byte(offset + k as u64))
        };
        if peer.isns.iter().any(|&iss| matches(offset_from(iss))) {
            return;
        }
        let offsets: Vec<u64> = peer.isns.iter().map(|&iss| offset_from(iss)).collect();
        panic!(
            "{handle:?} sent {} bytes that are not the ones written at any offset its ISNs \
             give ({offsets:?}; {written} bytes written): {segment} ({})",
            segment.payload.len(),
            transmit.reason
        );
    }

    /// Check 7: a segment that acknowledges the FIN the connection took (so was made after it:
    /// ACKs queued before carry an earlier number) has no SACK block above its ACK.
    fn check_no_sack_beyond_fin(&self, transmit: &Transmit, segment: &Segment<'_>, peer: &Peer) {
        if peer.taken_fin.map(|fin| fin + 1) != Some(segment.ack)
            || !self.fin_received(transmit.destination)
        {
            return;
        }
        for block in segment.sack.as_slice() {
            assert!(
                (block.right.0.wrapping_sub(segment.ack.0) as i32) <= 0,
                "SACK block {block} above the ACK after the peer's FIN: {segment} ({})",
                transmit.reason
            );
        }
    }

    /// Checks 3, 5 and 6, after every operation.
    fn check(&mut self) {
        let mut anonymous = 0;
        let mut heap_bound = HEAP_SLACK + HEAP_PER_EVENT * self.events;
        for (handle, connection) in self.endpoint.connections() {
            if !self.given.contains(&handle) {
                anonymous += 1;
            }
            let config = connection.config();
            assert!(
                connection.readable_bytes() <= config.recv_buffer.max(),
                "{handle:?} holds {} readable bytes, more than its receive buffer",
                connection.readable_bytes()
            );
            assert!(connection.writable_bytes() <= config.send_buffer.max());
            heap_bound += config.send_buffer.max()
                + 2 * config.recv_buffer.max()
                + HEAP_PER_CONNECTION
                + MAX_SEGMENTS_IN_FLIGHT * HEAP_PER_SEGMENT_IN_FLIGHT;
        }
        assert!(
            anonymous <= 2 * self.largest_backlog,
            "{anonymous} connections the application was never given, over twice the \
             backlog of {}",
            self.largest_backlog
        );
        let used = heap::live().saturating_sub(self.heap_baseline);
        assert!(
            used <= heap_bound,
            "the heap grew by {used} bytes, over the bound of {heap_bound} for {} connections",
            self.endpoint.connections().count()
        );
    }

    /// Check 8: leave the endpoint alone for [`SILENCE`], then let go of everything.
    fn finish(mut self) {
        self.drain();
        let end = self.now + SILENCE;
        let mut due_at_once = 0;
        let mut rounds = 0u64;
        while let Some(due) = self.endpoint.poll_timeout() {
            rounds += 1;
            assert!(
                rounds <= MAX_SILENT_ROUNDS,
                "timers fired {rounds} times by {:?} in the silence: a timer that fires \
                 without effect",
                self.now
            );
            if self.trace && rounds % 100_000 == 1 {
                let states: Vec<String> = self
                    .endpoint
                    .connections()
                    .map(|(h, c)| format!("{h:?} {} due {:?}", c.state(), c.poll_timeout()))
                    .collect();
                eprintln!(
                    "{:?} silence round {rounds}: due {due:?}, {states:?}",
                    self.now
                );
            }
            if due > end {
                break;
            }
            if due <= self.now {
                due_at_once += 1;
                assert!(
                    due_at_once < 1000,
                    "a timer due at {due:?} stays due after handle_timeout at {:?}",
                    self.now
                );
            } else {
                due_at_once = 0;
                self.now = due;
            }
            self.endpoint.handle_timeout(self.now);
            self.events += 1;
            self.drain();
            self.check();
        }
        if self.trace {
            eprintln!("{:?} silence: {rounds} timer rounds", self.now);
        }
        self.now = end;
        self.endpoint.handle_timeout(self.now);
        self.events += 1;
        self.drain();
        let states: Vec<String> = self
            .endpoint
            .connections()
            .map(|(handle, c)| format!("{handle:?}: {} {:?}", c.state(), c.error()))
            .collect();
        assert_eq!(
            self.endpoint.poll_timeout(),
            None,
            "a timer is still armed after {SILENCE:?} of silence: {states:?}"
        );
        // Connections waiting in the accept queue are the application's to take (closed by
        // now, each holding a place in the backlog until it does, as with TCP).
        while let Some(handle) = self.endpoint.accept() {
            self.take(handle);
        }
        for (handle, connection) in self.endpoint.connections() {
            assert!(
                self.held.contains(&handle),
                "{handle:?} ({}) outlived {SILENCE:?} of silence, and the application does \
                 not hold it",
                connection.state()
            );
            assert!(
                connection.is_closed(),
                "{handle:?} is still {} after {SILENCE:?} of silence",
                connection.state()
            );
        }
        for handle in std::mem::take(&mut self.held) {
            self.endpoint.detach(handle);
        }
        self.drain();
        let left: Vec<ConnectionHandle> = self.endpoint.connections().map(|(h, _)| h).collect();
        assert!(
            left.is_empty(),
            "{left:?} stayed after the application detached everything"
        );
    }
}

/// A sequence number near `base` (most inputs), or anywhere.
fn relative(input: &mut Input<'_>, base: SeqNum) -> SeqNum {
    match input.below(8) {
        0..=3 => base,
        4 => base + u32::from(input.u8()),
        5 => SeqNum(base.0.wrapping_sub(u32::from(input.u8()))),
        6 => base + (u32::from(input.u16()) << 8),
        _ => SeqNum(input.u32()),
    }
}

/// Learn from a datagram the endpoint sent to a peer what it expects from the peer next.
fn track(peer: &mut Peer, segment: &Segment<'_>, reason: Reason) {
    if segment.flags.contains(Flags::RST) {
        return;
    }
    if segment.flags.contains(Flags::ACK) {
        peer.rcv_nxt = Some(segment.ack);
    }
    if segment.flags.contains(Flags::SYN) {
        // A new connection: FINs of an earlier one say nothing about it.
        peer.taken_fin = None;
        peer.isns.retain(|&isn| isn != segment.seq);
        peer.isns.push(segment.seq);
        if peer.isns.len() > MAX_ISNS {
            peer.isns.remove(0);
        }
    }
    let end = segment.seq + segment.seq_len();
    let newer = match peer.snd_nxt {
        None => true,
        Some(old) => segment.flags.contains(Flags::SYN) || (end.0.wrapping_sub(old.0) as i32) > 0,
    };
    if newer && reason != Reason::Keepalive {
        peer.snd_nxt = Some(end);
    }
}

/// Hand-written seeds, one scenario each, as the operations above read them.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    // Operation codes, as `step` reads them.
    const TICK: u8 = 0;
    const CRAFTED: u8 = 2;
    const BURST: u8 = 6;
    const COOPERATIVE_ACK: u8 = 7;
    const DRAIN: u8 = 9;
    const ACCEPT: u8 = 10;
    const WRITE: u8 = 11;
    const READ: u8 = 12;
    const CLOSE: u8 = 13;
    const CONNECT: u8 = 16;

    fn header(out: &mut Output, setup: u8) {
        out.u64(1).u8(setup).u8(1); // seed, setup, backlog 2
        for base in [1000u32, 2000, 3000, 4000] {
            out.u32(base);
        }
    }
    /// A segment from `peer` with `flags`, exact seq and ack, a 65535 window, no SACK,
    /// `payload` bytes (0, 1 or the MSS).
    fn crafted(out: &mut Output, peer: u8, flags: Flags, payload: u8) {
        out.u8(CRAFTED).u8(peer).u8(flags.bits());
        out.u8(0).u8(0); // seq and ack exactly as expected
        out.u8(7); // window 65535
        out.u8(0); // no SACK blocks
        out.u8(payload);
    }
    let mut seeds = Vec::new();

    // A peer connects, sends data in order and out of order, and closes; the application
    // accepts, reads, writes and closes.
    let mut out = Output::default();
    header(&mut out, 0);
    crafted(&mut out, 1, Flags::SYN, 0);
    out.u8(DRAIN);
    out.u8(COOPERATIVE_ACK).u8(1).u8(2);
    out.u8(ACCEPT);
    out.u8(BURST).u8(1).u8(7).u8(2).u8(2).u8(1).u8(0);
    out.u8(DRAIN);
    out.u8(READ).u8(0).u16(4096);
    out.u8(WRITE).u8(0).u16(5000);
    out.u8(DRAIN);
    out.u8(COOPERATIVE_ACK).u8(1).u8(2);
    crafted(&mut out, 1, Flags::FIN | Flags::ACK, 0);
    out.u8(DRAIN);
    out.u8(CLOSE).u8(0);
    out.u8(TICK).u8(1).u8(50);
    seeds.push(("hand-server-transfer".to_string(), out.bytes));

    // The endpoint connects to the first peer, which answers; data both ways, then silence.
    let mut out = Output::default();
    header(&mut out, 1);
    out.u8(DRAIN);
    crafted(&mut out, 0, Flags::SYN | Flags::ACK, 0);
    out.u8(DRAIN);
    out.u8(WRITE).u8(0).u16(3000);
    out.u8(DRAIN);
    crafted(&mut out, 0, Flags::ACK, 5);
    out.u8(DRAIN);
    out.u8(TICK).u8(3).u8(100);
    seeds.push(("hand-client-transfer".to_string(), out.bytes));

    // SYNs from every peer against a backlog of two, then time passes.
    let mut out = Output::default();
    header(&mut out, 0x08);
    for peer in 0..4 {
        crafted(&mut out, peer, Flags::SYN, 0);
    }
    out.u8(DRAIN);
    out.u8(TICK).u8(3).u8(20);
    seeds.push(("hand-syn-flood".to_string(), out.bytes));

    // A second connect to an address already in use, and one to a new peer.
    let mut out = Output::default();
    header(&mut out, 0x31);
    out.u8(CONNECT).u8(0).u8(CONNECT).u8(2).u8(DRAIN);
    seeds.push(("hand-connects".to_string(), out.bytes));
    seeds
}
