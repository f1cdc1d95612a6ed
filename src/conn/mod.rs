//! One connection's state machine, sans-IO: RFC 9293's states and segment processing, the send
//! buffer and retransmission queue, reassembly and the receive window, the RFC 6298 RTO, and the
//! reason each segment is sent.
//!
//! A [`Connection`] never reads a clock, touches a socket or draws randomness: its initial
//! sequence number is an argument, time arrives with every call, and segments leave as
//! [`Transmit`] values. Call it in this order, as often as you like:
//!
//! 1. inputs: [`handle_datagram`](Connection::handle_datagram) for each datagram from the peer,
//!    [`handle_timeout`](Connection::handle_timeout) once [`poll_timeout`](Connection::poll_timeout)
//!    has passed, and the application's [`write`](Connection::write), [`read`](Connection::read),
//!    [`shutdown`](Connection::shutdown) and [`abort`](Connection::abort);
//! 2. outputs: [`poll_transmit`](Connection::poll_transmit) until it returns `None`, then
//!    [`poll_event`](Connection::poll_event) and [`poll_timeout`](Connection::poll_timeout).
//!
//! Most users go through [`Endpoint`](crate::endpoint::Endpoint), which owns many connections
//! behind one socket and answers strays.
//!
//! This file holds the transmission control block (RFC 9293 section 3.3.1) and the calls
//! above. What acts on it lies beside it, one file per RFC concern, each an `impl Connection`
//! block of its own; the send side, the receive side and loss recovery each also own a part of
//! the block, a struct whose fields only their file writes:
//!
//! - `state.rs`: the states (RFC 9293 section 3.3.2), events and errors, and entering
//!   ESTABLISHED, TIME-WAIT and CLOSED;
//! - `segment_arrives.rs`: "SEGMENT ARRIVES" step by step (section 3.10.7, with RFC 5961);
//! - `send.rs` (`Sender`): the send sequence variables and window, transmission and
//!   retransmission, window probes; `send_buffer.rs`, the send buffer's size and its
//!   autotuning;
//! - `receive.rs` (`Receiver`): the receive sequence variables and window, the text and the
//!   FIN, when to acknowledge, SACK and D-SACK blocks; `receive_buffer.rs`, the buffer's size
//!   and its autotuning;
//! - `recovery.rs` (`LossRecovery`): the segments in flight, loss detection and recovery
//!   (RFC 5681, 6582, 6675, 8985, 5682);
//! - `negotiation.rs`: what the SYNs settle, the MSS, SACK and timestamps (RFC 9293 section
//!   3.7.1, RFC 2018 section 2, RFC 7323 section 3.2);
//! - `timestamps.rs`: the timestamp clock, TS.Recent, RTTM and PAWS (RFC 7323);
//! - `plpmtud.rs`: path MTU discovery (RFC 8899): the size data segments go at, probes for
//!   larger ones, black holes (`black_hole.rs` tells them from random loss);
//! - `timers.rs`: the timer table, which handler each expiry runs, keepalives and TIME-WAIT;
//! - beside them, `rtt.rs` (RFC 6298), `cc/` (one file per controller),
//!   `cwnd_validation.rs` (the window grows only while used, and restarts after idle),
//!   `pacing.rs` (data leaves spread over the round trip, RFC 9002 section 7.7), `rack.rs`,
//!   `retransmission.rs` (the segments in flight), `reassembly.rs`, `config.rs` and `stats.rs`.

mod black_hole;
mod cc;
mod config;
mod cwnd_validation;
mod negotiation;
mod pacing;
mod plpmtud;
mod rack;
mod reassembly;
mod receive;
mod receive_buffer;
mod recovery;
mod retransmission;
mod rtt;
mod segment_arrives;
mod send;
mod send_buffer;
mod state;
mod stats;
#[cfg(test)]
mod tests;
mod timers;
mod timestamps;
mod trace;

pub use cc::CongestionControl;
use cc::Controller;
pub(crate) use config::CheckedSizes;
pub use config::{Config, ConfigError, RecvBuffer, SendBuffer, MAX_SEGMENTS_IN_FLIGHT};
pub use negotiation::{Negotiated, ASSUMED_PEER_MSS};
pub use segment_arrives::reset_reply;
use send::SEALING_ROOM;
pub(crate) use send::{encode, stateless_syn_ack};
pub use send::{Reason, Transmit};
pub use state::{ConnectionError, Event, ReadError, State, WriteError};
pub use stats::{Retransmissions, Stats};
pub use trace::{Episode, EpisodeChange, MetricsChange, TraceEvent, TracedEvent, MAX_TRACE_EVENTS};

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::time::Instant;
use crate::wire::{Flags, Options, SackBlocks, Segment, SeqNum, WireError};
use cwnd_validation::CwndValidation;
use pacing::Pacer;
use plpmtud::PathMtuSearch;
use receive::Receiver;
use recovery::LossRecovery;
use rtt::RttEstimator;
use send::Sender;
use send_buffer::SendBufferSize;
pub use timers::Timer;
use timers::TimerTable;
use timestamps::TimestampClock;
use trace::Tracer;

/// The largest window Ferry advertises: 2^30, as RFC 7323 section 2.3 bounds TCP's.
pub(crate) const MAX_WINDOW: u32 = 1 << 30;

/// One connection: RFC 9293's transmission control block and what acts on it.
#[derive(Debug)]
pub struct Connection {
    // The block is split by who acts on it, as quinn-proto's `PathData` and `PacketSpace` and
    // neqo's `Loss` split theirs: the send side (`Sender`, in send.rs), the receive side
    // (`Receiver`, receive.rs) and loss recovery (`LossRecovery`, recovery.rs) each own their
    // fields, private to their file. What several of them use (the state, the timers, the RTT
    // estimate, the congestion controller, the negotiated MSS and SACK) stays here, and so do
    // the methods that coordinate them.
    config: Config,
    /// `config`'s sizes, as its check parsed them.
    sizes: CheckedSizes,
    remote: SocketAddr,
    state: State,
    /// Why the connection failed, once it has.
    error: Option<ConnectionError>,
    events: VecDeque<Event>,
    /// Whether the handshake ever completed (the connection may have closed since).
    connected: bool,
    /// The MSS and SACK in force: this end's offer until the peer's SYN arrives, then what
    /// both agreed on.
    negotiated: Negotiated,
    /// Path MTU discovery (`plpmtud.rs`): the size data segments go at, and its search.
    path_mtu: PathMtuSearch,
    timers: TimerTable,
    rtt: RttEstimator,
    /// The timestamp clock and the peer's timestamps (`timestamps.rs`, RFC 7323), used when
    /// `negotiated.timestamps`.
    timestamps: TimestampClock,
    /// Taking a segment that times no round trip ([`handle_untimed_datagram`]): no RTT
    /// sample while set.
    ///
    /// [`handle_untimed_datagram`]: Connection::handle_untimed_datagram
    untimed: bool,
    /// Its datagrams are sealed before they leave (the secure mode, docs/protocol.md section
    /// 10.3), which rewrites them and writes their checksum last: they go from here with the
    /// checksum zero, as a pass over each that would be overwritten saves a CRC-32.
    checksum_by_sealer: bool,
    /// The congestion controller: cwnd and ssthresh.
    congestion: Box<dyn Controller>,
    /// How much of cwnd is in use, and when data last went (`cwnd_validation.rs`).
    cwnd_validation: CwndValidation,
    /// The pacer: when the next data segment may leave (`pacing.rs`).
    pacer: Pacer,
    stats: Stats,

    /// The send side (`send.rs`): SND.UNA, SND.NXT, the peer's window, the data to send.
    send: Sender,
    /// The receive side (`receive.rs`): RCV.NXT, the data received, what we owe the peer.
    receive: Receiver,
    /// Loss recovery (`recovery.rs`): the segments in flight and their scoreboard, the
    /// recovery under way, RACK, tail loss probes, F-RTO.
    recovery: LossRecovery,

    /// A RST to send, even from CLOSED (an abort, or the answer to a bad ACK).
    pending_reset: Option<Segment<'static>>,
    /// When we last answered a segment that was not acceptable
    /// ([`INVALID_REPLY_INTERVAL`](segment_arrives::INVALID_REPLY_INTERVAL)).
    last_invalid_reply_at: Option<Instant>,
    /// The event trace, when on (`trace.rs`).
    tracer: Option<Box<Tracer>>,
}

impl Connection {
    /// An active open (RFC 9293 section 3.10.1): the SYN to `remote` goes out on the first
    /// [`poll_transmit`](Self::poll_transmit). `isn` should be unpredictable (RFC 6528); the
    /// endpoint draws it from its injected generator. Fails if `config` cannot work
    /// ([`Config::check`]).
    pub fn connect(
        config: Config,
        remote: SocketAddr,
        isn: SeqNum,
    ) -> Result<Connection, ConfigError> {
        let sizes = config.checked_sizes()?;
        Ok(Connection::new(config, sizes, remote, isn, State::SynSent))
    }

    /// A passive open waiting for the SYN from `remote`. The endpoint makes one when a SYN
    /// arrives from a new peer and feeds that SYN straight in. Fails if `config` cannot work
    /// ([`Config::check`]).
    pub fn listen(
        config: Config,
        remote: SocketAddr,
        isn: SeqNum,
    ) -> Result<Connection, ConfigError> {
        let sizes = config.checked_sizes()?;
        Ok(Connection::new(config, sizes, remote, isn, State::Listen))
    }

    /// A passive open completed by a SYN cookie (RFC 4987 section 3.6): our SYN-ACK, with ISN
    /// `iss`, went out from a connection nobody kept, and `segment` (the handshake's final ACK,
    /// or the first data after it), whose ACK field the endpoint has checked against the
    /// cookie, shows the peer received it. The SYN is gone: its window, for which the
    /// segment's stands in, and its options, of which the cookie kept `syn_options`. Fails if
    /// `config` cannot work ([`Config::check`]).
    pub fn accept_cookie(
        config: Config,
        remote: SocketAddr,
        iss: SeqNum,
        now: Instant,
        syn_options: Options,
        segment: &Segment<'_>,
    ) -> Result<Connection, ConfigError> {
        let sizes = config.checked_sizes()?;
        Ok(Connection::opened_by_cookie(
            config,
            sizes,
            remote,
            iss,
            now,
            syn_options,
            segment,
        ))
    }

    /// [`accept_cookie`](Self::accept_cookie) with a config already checked, into `sizes`:
    /// the endpoint's.
    pub(crate) fn opened_by_cookie(
        config: Config,
        sizes: CheckedSizes,
        remote: SocketAddr,
        iss: SeqNum,
        now: Instant,
        syn_options: Options,
        segment: &Segment<'_>,
    ) -> Connection {
        let mut connection = Connection::new(config, sizes, remote, iss, State::SynReceived);
        connection.synchronize_receive(
            now,
            &Segment {
                flags: Flags::SYN,
                seq: segment.seq - 1,
                ack: SeqNum(0),
                window: segment.window,
                sack: SackBlocks::new(),
                options: syn_options,
                payload: &[],
            },
        );
        // The SYN-ACK's sequence number is used; it is not in the retransmission queue, so
        // its acknowledgment gives no RTT sample.
        connection.send.syn_sent_statelessly();
        connection.handle_segment(now, segment);
        connection
    }

    /// A connection in `state` (SYN-SENT, LISTEN or SYN-RECEIVED) with a config already
    /// checked, into `sizes`: what the public constructors and the endpoint build on.
    pub(crate) fn new(
        config: Config,
        sizes: CheckedSizes,
        remote: SocketAddr,
        iss: SeqNum,
        state: State,
    ) -> Connection {
        let rtt = RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto);
        let negotiated = Negotiated::offered(&config, sizes);
        let congestion = config
            .congestion_control
            .build(negotiated.smss(), config.initial_window_segments);
        let recovery = LossRecovery::new(&config, negotiated);
        let send_buffer =
            SendBufferSize::new(config.send_buffer.initial(), config.send_buffer.max());
        let stats = Stats {
            rto: rtt.rto(),
            state,
            ..Stats::unused()
        };
        Connection {
            config,
            sizes,
            remote,
            state,
            error: None,
            events: VecDeque::new(),
            connected: false,
            negotiated,
            path_mtu: PathMtuSearch::new(negotiated.smss(), negotiated.smss(), false),
            timers: TimerTable::default(),
            rtt,
            timestamps: TimestampClock::new(0),
            untimed: false,
            checksum_by_sealer: false,
            congestion,
            cwnd_validation: CwndValidation::default(),
            pacer: Pacer::default(),
            stats,
            send: Sender::new(iss, send_buffer),
            receive: Receiver::new(sizes),
            recovery,
            pending_reset: None,
            last_invalid_reply_at: None,
            tracer: None,
        }
    }

    /// This connection with its timestamp clock (RFC 7323, [`Config::timestamps`]) reading
    /// `offset` plus the milliseconds of the time it is given. Section 7.1 asks for a random
    /// offset per connection, so that TSval tells nothing of the host's uptime: draw it as the
    /// ISN is drawn (the endpoint takes both from its injected generator). Without this the
    /// offset is 0. Set it before the first [`poll_transmit`](Self::poll_transmit).
    #[must_use]
    pub fn with_timestamp_offset(mut self, offset: u32) -> Connection {
        self.timestamps = TimestampClock::new(offset);
        self
    }

    // ---------------------------------------------------------------------------------------
    // Getters

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<ConnectionError> {
        self.error
    }

    /// Whether the connection reached CLOSED (cleanly or not).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether a RST waits to be sent (after an abort, say): the connection must be polled
    /// once more even though it is closed.
    pub fn has_pending_reset(&self) -> bool {
        self.pending_reset.is_some()
    }

    /// Whether the handshake ever completed.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The settings the connection runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The MSS and SACK the handshake settled; before the peer's SYN arrives, this end's own
    /// offer.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// Counters and the RTT estimate.
    pub fn stats(&self) -> Stats {
        Stats {
            smoothed_rtt: self.rtt.smoothed_rtt(),
            rtt_variance: self.rtt.rtt_variance(),
            rto: self.rtt.rto(),
            congestion_window: self.congestion_window(),
            slow_start_threshold: self.congestion.slow_start_threshold(),
            recv_buffer_bytes: self.receive.buffer_size(),
            send_buffer_bytes: self.send.buffer_size(),
            segment_size: self.path_mtu.segment_size() as usize,
            path_mtu_black_holes: self.path_mtu.black_holes(),
            state: self.state,
            ..self.stats
        }
    }

    /// [`Stats::segments_accepted`] alone: the endpoint asks it around every datagram, and
    /// building the whole [`Stats`] cost a bulk receiver 7% of its driver's instructions
    /// (docs/performance.md).
    pub(crate) fn segments_accepted(&self) -> u64 {
        self.stats.segments_accepted
    }

    /// [`Stats::bytes_sent`] alone, for the socket driver's choice of a connection's own
    /// socket, made on blocked reads (`net/driver.rs`) without building the whole [`Stats`].
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.stats.bytes_sent
    }

    /// Bytes that [`read`](Self::read) would return now.
    pub fn readable_bytes(&self) -> usize {
        self.receive.readable()
    }

    /// Bytes that [`write`](Self::write) would accept now.
    pub fn writable_bytes(&self) -> usize {
        self.send.writable()
    }

    /// Whether every byte written (and the FIN, after a shutdown) has been acknowledged.
    pub fn is_send_complete(&self) -> bool {
        self.send.buffered() == 0 && self.send.flight_size() == 0
    }

    /// Whether the peer acknowledged every byte written and our FIN (SND.UNA has passed the
    /// FIN's sequence number): the one condition under which a close reports success,
    /// whatever state the connection went on to.
    pub fn is_fin_acknowledged(&self) -> bool {
        self.send.fin_acked()
    }

    // ---------------------------------------------------------------------------------------
    // Application commands

    /// Queue bytes for sending. Returns how many were taken (fewer than offered when the send
    /// buffer fills). Writing is allowed before the handshake completes; the data waits.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, WriteError> {
        if let Some(error) = self.error {
            return Err(WriteError::Failed(error));
        }
        if self.send.fin_queued() || matches!(self.state, State::Closed | State::TimeWait) {
            return Err(WriteError::ShutDown);
        }
        let taken = data.len().min(self.writable_bytes());
        if taken == 0 && !data.is_empty() {
            return Err(WriteError::WouldBlock);
        }
        self.send.write(&data[..taken]);
        Ok(taken)
    }

    /// Take `datagram` as [`handle_datagram`](Self::handle_datagram) does, but without an RTT
    /// sample from what it acknowledges: the secure mode's 0-RTT data, fed to a server's
    /// connection as the segment the client's ACK would carry (docs/protocol.md section
    /// 10.7), acknowledges the SYN-ACK the moment it is sent, and would time a round trip
    /// of 0 ms.
    pub(crate) fn handle_untimed_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.untimed = true;
        self.handle_datagram(now, datagram);
        self.untimed = false;
    }

    /// Leave the checksum of every datagram from now on to whoever seals it before it leaves
    /// (the secure mode's session, which writes it once over the protected datagram): each
    /// goes from [`poll_transmit`](Self::poll_transmit) with its checksum zero.
    pub(crate) fn leave_checksum_to_sealer(&mut self) {
        self.checksum_by_sealer = true;
    }

    /// `segment` as a datagram of this connection's: checksummed, unless a sealer writes the
    /// checksum ([`leave_checksum_to_sealer`](Self::leave_checksum_to_sealer)).
    fn encode(&self, segment: &Segment<'_>) -> Vec<u8> {
        let mut contents = Vec::with_capacity(segment.encoded_len() + SEALING_ROOM);
        if self.checksum_by_sealer {
            segment.emit_frame(&[], 0, &mut contents);
        } else {
            segment.emit(&mut contents);
        }
        contents
    }

    /// The peer took the first `len` bytes written before the handshake inside the handshake
    /// itself (the secure mode's 0-RTT data, docs/protocol.md section 10.7): they count as
    /// sent and acknowledged, and never go in a segment. Only right after the handshake,
    /// before any data went; otherwise nothing changes.
    pub(crate) fn early_data_delivered(&mut self, len: usize) {
        let first = self.send.iss() + 1;
        if self.state != State::Established
            || self.send.snd_una() != first
            || self.send.snd_nxt() != first
        {
            return;
        }
        let len = len.min(self.send.buffered());
        let _acknowledged = self.send.acknowledge(first + len as u32);
    }

    /// Take received bytes, in order. `Ok(0)` means end of stream: the peer sent its FIN and
    /// everything before it has been read.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReadError> {
        if self.receive.readable() > 0 {
            let count = self.receive.read(buf);
            self.consider_window_update();
            return Ok(count);
        }
        self.nothing_to_read(buf)
    }

    /// What [`read`](Self::read) would return, leaving the bytes unread (`MSG_PEEK`): the
    /// window the connection advertises does not open for them.
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, ReadError> {
        if self.receive.readable() > 0 {
            return Ok(self.receive.peek(buf));
        }
        self.nothing_to_read(buf)
    }

    /// A read's outcome with no byte to read: end of stream, the error, or wait.
    fn nothing_to_read(&self, buf: &[u8]) -> Result<usize, ReadError> {
        if self.receive.fin_received() || buf.is_empty() {
            return Ok(0);
        }
        match (self.error, self.state) {
            (Some(error), _) => Err(ReadError::Failed(error)),
            (None, State::Closed) => Ok(0),
            _ => Err(ReadError::WouldBlock),
        }
    }

    /// Close the write side (a half-close): a FIN follows the data already written. Reading
    /// goes on until the peer closes its side.
    pub fn shutdown(&mut self) {
        if self.send.fin_queued() {
            return;
        }
        match self.state {
            State::Established => self.state = State::FinWait1,
            State::CloseWait => self.state = State::LastAck,
            // The FIN waits for the handshake; see `enter_established`.
            State::Listen | State::SynSent | State::SynReceived => {}
            _ => return,
        }
        self.send.queue_fin();
    }

    /// Abort: send a RST if the peer knows us (RFC 9293 section 3.10.5) and close at once,
    /// discarding whatever was queued either way.
    pub fn abort(&mut self) {
        if self.state == State::Closed {
            return;
        }
        // Section 3.10.5: only these states send one; CLOSING, LAST-ACK and TIME-WAIT do not.
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            self.pending_reset = Some(Segment {
                flags: Flags::RST,
                seq: self.send.snd_nxt(),
                ack: SeqNum(0),
                window: 0,
                sack: SackBlocks::new(),
                options: Options::none(),
                payload: &[],
            });
        }
        self.close(Some(ConnectionError::Aborted));
    }

    /// End the connection at once, sending nothing, for a reason found outside it: the peer
    /// stayed silent past a user timeout that the caller keeps, or the caller's socket is
    /// gone. `error` is what the application sees; `None` ends it cleanly, as a RST does in
    /// TIME-WAIT. (An ICMP error about the peer goes to
    /// [`handle_unreachable`](Self::handle_unreachable), which checks it first.)
    pub fn terminate(&mut self, error: Option<ConnectionError>) {
        if self.state != State::Closed {
            self.close(error);
        }
    }

    /// The peer's stateless reset arrived (docs/protocol.md section 10.5): the connection
    /// ends as a RST at RCV.NXT ends it (RFC 9293 section 3.10.7.4), quietly once both FINs
    /// are acknowledged (TIME-WAIT: a copy of our last ACK reached a peer that had already
    /// closed, and it answered the stray), else with the error a reset gives.
    pub(crate) fn on_stateless_reset(&mut self) {
        if self.state != State::Closed {
            self.close(self.error_if_ended_now());
        }
    }

    /// Turn the Nagle algorithm off (`nodelay`) or on again ([`Config::nodelay`]). Off, what
    /// it held goes at the next [`poll_transmit`](Self::poll_transmit), as Linux pushes pending
    /// data when `TCP_NODELAY` is set.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config.nodelay = nodelay;
    }

    /// Change the keepalive settings (RFC 9293 section 3.8.4) of a running connection: the
    /// idle time before the first probe and between probes (`None` turns keepalives off),
    /// and how many unanswered probes fail it. The idle time counts from `now`.
    pub fn set_keepalive(
        &mut self,
        now: Instant,
        interval: Option<std::time::Duration>,
        probes: u32,
    ) {
        self.config.keepalive_interval = interval;
        self.config.keepalive_probes = probes;
        self.timers.stop(Timer::Keepalive);
        if self.state.is_synchronized() {
            self.arm_keepalive(now);
        }
    }

    /// The path to the peer changed before the handshake completed (a punch fell back to
    /// the relay, docs/protocol.md section 9): what the timer learnt on the old path says
    /// nothing of the new one. The SYN (or SYN-ACK) retransmission timer restarts from the
    /// initial RTO with no backoff and a fresh count of tries, as a new path's RTT estimator
    /// starts afresh (RFC 9000 section 9.4; RFC 6298 section 2.1's initial RTO), so the
    /// next SYN goes one initial RTO from `now` and the ones after back off from there.
    /// Once the connection is synchronized, or with nothing in flight, it does nothing.
    pub fn restart_handshake_timer(&mut self, now: Instant) {
        if self.state.is_synchronized() || !self.timers.is_armed(Timer::Retransmit) {
            return;
        }
        self.rtt = RttEstimator::new(
            self.config.initial_rto,
            self.config.min_rto,
            self.config.max_rto,
        );
        self.recovery.restart_timeouts();
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    // ---------------------------------------------------------------------------------------
    // Inputs

    /// Feed one datagram from the peer. Datagrams that fail validation are counted and
    /// dropped, never answered (docs/protocol.md).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        match Segment::parse(datagram) {
            Ok(segment) => self.handle_segment(now, &segment),
            Err(WireError::BadChecksum { .. }) => self.stats.discarded_corrupt += 1,
            Err(_) => self.stats.discarded_malformed += 1,
        }
    }

    /// Feed one parsed segment from the peer (RFC 9293 section 3.10.7, "SEGMENT ARRIVES").
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) {
        self.stats.segments_received += 1;
        self.stats.bytes_received += segment.payload.len() as u64;
        self.trace_received(now, segment);
        // RFC 7323 section 3.2: TSecr means something only on an ACK.
        let echo = segment
            .options
            .timestamps
            .filter(|_| segment.flags.contains(Flags::ACK))
            .map(|option| option.tsecr);
        self.timestamps.begin_arrival(echo);
        match self.state {
            State::Closed => {}
            State::Listen => self.on_segment_in_listen(now, segment),
            State::SynSent => self.on_segment_in_syn_sent(now, segment),
            _ => self.on_segment_synchronized(now, segment),
        }
        self.timestamps.end_arrival();
        self.trace_changes(now);
    }

    /// Run the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // What earlier calls changed is traced before the expiries.
        self.trace_changes(now);
        for timer in self.timers.take_expired(now) {
            if self.timers.is_armed(timer) {
                // Re-armed by a timer before it in this batch (a loss probe re-arms the
                // retransmission timer): not due any more.
                continue;
            }
            self.trace_timer_expired(now, timer);
            self.on_timer_expired(now, timer);
            if self.state == State::Closed {
                break;
            }
        }
        // The timer's and RACK's losses are the path MTU search's evidence too.
        self.on_path_mtu_losses(now);
        self.trace_changes(now);
    }

    // ---------------------------------------------------------------------------------------
    // Outputs

    /// The next datagram to send, if any. Call until `None` after every input.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let transmit = self.next_transmit(now);
        if self.tracer.is_some() {
            if let Some(transmit) = &transmit {
                self.trace_sent(now, &transmit.contents, transmit.reason);
            }
            self.trace_changes(now);
        }
        transmit
    }

    /// What [`poll_transmit`](Self::poll_transmit) sends next, untraced.
    fn next_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // What the pacer held at the last poll is decided afresh: held again, it reports its
        // release time again, and a deadline that passed never lingers (`pacing.rs`).
        self.pacer.forget_release();
        if let Some(reset) = self.pending_reset.take() {
            self.stats.segments_sent += 1;
            return Some(Transmit {
                destination: self.remote,
                contents: self.encode(&reset),
                reason: Reason::Rst,
            });
        }
        if matches!(self.state, State::Closed | State::Listen) {
            return None;
        }
        if let Some(ack) = self.receive.take_queued_ack() {
            return Some(ack);
        }
        if let Some(transmit) = self.transmit_sequence_space(now) {
            return Some(transmit);
        }
        if let Some(reason) = self.send.take_pending_probe() {
            if let Some(transmit) = self.transmit_probe(now, reason) {
                return Some(transmit);
            }
        }
        let reason = self.receive.take_owed_ack()?;
        self.transmit_ack(now, reason)
    }

    /// The next application-visible event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called: the earliest
    /// timer, or the moment the pacer lets a segment it held go (`pacing.rs`), after which
    /// [`poll_transmit`](Self::poll_transmit) sends it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.timers.next_deadline(), self.pacer.release_at()]
            .into_iter()
            .flatten()
            .min()
    }
}
