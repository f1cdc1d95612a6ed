//! Many connections behind one socket, sans-IO: datagrams are demultiplexed to connections by
//! the peer's address; a bounded listen backlog holds passive opens until they are accepted,
//! with SYN cookies (RFC 4987 section 3.6) once the half-open table is full; segments that no
//! connection accepts are answered with a RST (RFC 9293 section 3.10.7.1), at a bounded rate.
//! Only the connections something touched are polled, and quiet ones' deadlines are kept in
//! order, so idle connections cost nothing per call.
//!
//! The endpoint also keeps the rules that concern the application's hold on a connection and
//! the network beneath it, rather than the protocol itself:
//!
//! - **Closing.** [`Endpoint::close`] is TCP's CLOSE call: a FIN after the data written, or a
//!   RST at once if received data was left unread (RFC 9293 section 3.6.1; RFC 2525's "data
//!   lost"). Data that arrives after it is answered with a RST, since nobody will ever read it
//!   (section 3.10.7.4), so a writer learns its peer is gone instead of filling a window
//!   nobody empties.
//! - **Unreachable peers.** [`Endpoint::handle_unreachable`] takes an ICMP port unreachable
//!   (what a connected UDP socket reports as `ECONNREFUSED`), a hard error by RFC 1122
//!   section 4.2.3.9: during the handshake the connection is refused, after it reset.
//! - **The user timeout** (RFC 9293 section 3.8.3, RFC 5482): a connection whose peer has
//!   said nothing for that long since we sent it something that needs an answer (data, a
//!   FIN, a window probe, a keepalive) fails with a timeout. Off unless set.
//!
//! The endpoint draws initial sequence numbers from a generator it is given (RFC 6528 asks only
//! that they be unpredictable); the simulator passes a seeded one, so runs repeat exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;

use crate::conn::{
    encode, reset_reply, Config, Connection, ConnectionError, Reason, State, Transmit,
};
use crate::time::Instant;
use crate::wire::{Flags, Segment, SeqNum, WireError};

/// RSTs to segments no connection accepts: at most this many a second, in bursts of at most
/// [`RESET_BURST`], as Linux limits the ICMP errors a host sends (`icmp_msgs_per_sec`,
/// `icmp_msgs_burst`). A flood of strays draws a trickle, not a reflection, and the queue of
/// RSTs waiting to go never holds more than a burst.
pub const RESETS_PER_SECOND: u32 = 1000;
/// See [`RESETS_PER_SECOND`].
pub const RESET_BURST: u32 = 50;

/// Stateless replies (RSTs, SYN cookies) waiting for `poll_transmit`: at most this many.
pub const STATELESS_REPLY_QUEUE: usize = 256;

/// A SYN cookie is checked against the period it falls in and the one before, so it is
/// good for 16 to 32 s: the handshake's final ACK comes a round trip after the SYN-ACK, or, if
/// that ACK is lost, the client's first data soon after. Cookies are believed at all only
/// within two periods of the last one sent, as Linux believes them only after a recent
/// overflow: a stale duplicate cannot open a connection long after a flood.
const COOKIE_PERIOD: Duration = Duration::from_secs(16);

/// Names one connection of an endpoint for as long as the endpoint keeps it. Unlike the peer's
/// address, a handle is never reused, so a peer that reconnects from the same port gets a new
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionHandle(u64);

/// Why [`Endpoint::connect`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// A connection to that peer is already open on this endpoint: with one socket, the peer's
    /// address is what tells connections apart.
    AlreadyConnected(SocketAddr),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::AlreadyConnected(peer) => {
                write!(f, "a connection to {peer} is already open on this endpoint")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

/// What the endpoint itself counted (each connection counts its own datagrams).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams from unknown peers dropped for a bad CRC.
    pub discarded_corrupt: u64,
    /// Datagrams from unknown peers dropped for a malformed header.
    pub discarded_malformed: u64,
    /// RSTs sent to segments that no connection accepts.
    pub resets_sent: u64,
    /// RSTs not sent to such segments, over the rate limit ([`RESETS_PER_SECOND`]).
    pub resets_suppressed: u64,
    /// SYNs dropped because the accept queue (the listen backlog) was full, or because
    /// [`STATELESS_REPLY_QUEUE`] replies already waited to be sent; and handshakes completed
    /// by a SYN cookie dropped because the accept queue was full.
    pub syns_dropped: u64,
    /// SYNs answered statelessly with a SYN cookie: the half-open table was full.
    pub syn_cookies_sent: u64,
    /// Connections opened by a valid SYN cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs from unknown peers dropped silently, not reset, while cookies were in use: they
    /// failed the cookie check (a forgery, or a cookie client's segment that overtook its
    /// first).
    pub cookie_acks_dropped: u64,
    /// Connections reset because received data would be lost: the application closed with
    /// data unread, or data arrived after it closed (RFC 2525, "data lost").
    pub data_lost_resets: u64,
    /// Connections failed by the user timeout.
    pub user_timeouts: u64,
}

/// How the application relates to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    /// A passive open not yet taken by `accept`; it counts against the backlog.
    Unaccepted,
    /// Opened by `connect` or taken by `accept`.
    Owned,
    /// The application closed it: it reads no more, but may still watch how the close ends.
    Closed,
    /// The application let go; the endpoint forgets it once it is closed.
    Detached,
}

impl Ownership {
    /// Whether the application has said it will never read again.
    fn is_released(self) -> bool {
        matches!(self, Ownership::Closed | Ownership::Detached)
    }
}

#[derive(Debug)]
struct Entry {
    connection: Connection,
    ownership: Ownership,
    /// Waiting in the accept queue.
    queued: bool,
    /// How long the peer may stay silent while it owes an answer.
    user_timeout: Option<Duration>,
    /// When a valid segment last arrived from the peer.
    last_heard: Option<Instant>,
    /// When we first sent something that needs an answer since the peer last spoke.
    awaiting_since: Option<Instant>,
    /// Its key in [`Endpoint::deadlines`], if it has one there.
    scheduled: Option<Instant>,
}

impl Entry {
    /// The next time the endpoint must look at this connection: its own timers or the user
    /// timeout, whichever comes first.
    fn deadline(&self) -> Option<Instant> {
        [self.connection.poll_timeout(), self.user_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the user timeout fails the connection, if it is running.
    fn user_deadline(&self) -> Option<Instant> {
        let timeout = self.user_timeout?;
        let since = self.awaiting_since?;
        (!self.connection.is_closed()).then(|| since + timeout)
    }
}

/// Connections sharing one local socket.
pub struct Endpoint {
    config: Config,
    isn_generator: Box<dyn RngCore + Send>,
    connections: BTreeMap<ConnectionHandle, Entry>,
    /// The open (not yet closed) connection for each peer.
    by_peer: BTreeMap<SocketAddr, ConnectionHandle>,
    next_handle: u64,
    /// `Some(backlog)` while listening.
    listen_backlog: Option<usize>,
    accept_queue: VecDeque<ConnectionHandle>,
    /// Passive opens still in their handshake: the SYN queue, at most the backlog. A SYN that
    /// finds it full is answered with a SYN cookie instead (RFC 4987 section 3.6).
    half_open: BTreeSet<ConnectionHandle>,
    /// The key of the SYN cookies' hash, drawn from the ISN generator when first needed.
    cookie_secret: Option<[u64; 2]>,
    /// When the last SYN cookie went out: cookies are believed only for a while after.
    last_cookie_sent_at: Option<Instant>,
    /// RSTs and SYN cookies to send; at most [`STATELESS_REPLY_QUEUE`].
    stateless_replies: VecDeque<Transmit>,
    /// The RST rate limit's schedule (a generic cell rate algorithm): when the RSTs sent so
    /// far would have finished going out at [`RESETS_PER_SECOND`].
    reset_schedule: Instant,
    /// Where the next `poll_transmit` starts looking, so that no connection starves the rest.
    poll_cursor: Option<ConnectionHandle>,
    /// Connections touched (by a datagram, an application call or a timer) since they last
    /// had nothing to send. Only these are polled, so idle connections cost nothing per call.
    active: BTreeSet<ConnectionHandle>,
    /// The next deadline (timers and user timeout) of each connection, as it stood when the
    /// connection last went quiet, soonest first.
    deadlines: BTreeSet<(Instant, ConnectionHandle)>,
    /// The user timeout each new connection starts with.
    default_user_timeout: Option<Duration>,
    stats: EndpointStats,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.connections)
            .field("listen_backlog", &self.listen_backlog)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint whose initial sequence numbers (and SYN-cookie secret) come from a
    /// ChaCha8 generator seeded with `seed`: the same seed gives the same numbers, for a run
    /// that repeats (the simulator does this). Real use wants an unpredictable seed (RFC 6528):
    /// draw one from the OS, or pass a generator of your own to [`new`](Self::new).
    pub fn with_seed(config: Config, seed: u64) -> Endpoint {
        use rand::SeedableRng;
        Endpoint::new(
            config,
            Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        )
    }

    /// An endpoint whose connections use `config` and draw their initial sequence numbers from
    /// `isn_generator`: any generator of the `rand` version Ferry uses, which
    /// [`ferry::rand`](crate::rand) re-exports so that yours matches.
    pub fn new(config: Config, isn_generator: Box<dyn RngCore + Send>) -> Endpoint {
        Endpoint {
            config,
            isn_generator,
            connections: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            next_handle: 0,
            listen_backlog: None,
            accept_queue: VecDeque::new(),
            half_open: BTreeSet::new(),
            cookie_secret: None,
            last_cookie_sent_at: None,
            stateless_replies: VecDeque::new(),
            reset_schedule: Instant::ZERO,
            poll_cursor: None,
            active: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            default_user_timeout: None,
            stats: EndpointStats::default(),
        }
    }

    /// Accept SYNs from new peers. `backlog` bounds two things, as in Linux: the connections
    /// whose handshake completed and that wait for [`accept`](Self::accept) (a SYN that finds
    /// that queue full is dropped, not refused, so the peer retries later as with TCP), and
    /// the half-open connections still in their handshake. A SYN that finds those full is
    /// answered with a SYN cookie (RFC 4987 section 3.6): a SYN-ACK whose ISN is a keyed hash
    /// of the peer's address and ISN, with nothing kept; a final ACK that carries it back opens
    /// the connection. So a flood of SYNs from forged addresses fills no table and locks no
    /// client out.
    pub fn listen(&mut self, backlog: usize) {
        self.listen_backlog = Some(backlog);
    }

    /// Stop accepting SYNs, and reset the connections nobody accepted yet (as closing a TCP
    /// listening socket does); accepted connections go on.
    pub fn stop_listening(&mut self) {
        self.listen_backlog = None;
        self.accept_queue.clear();
        for (&handle, entry) in self.connections.iter_mut() {
            if entry.ownership == Ownership::Unaccepted {
                entry.connection.abort();
                entry.queued = false;
                self.active.insert(handle);
            }
        }
        // The RSTs go out on the next `poll_transmit`; the connections are forgotten after.
    }

    /// Open a connection to `remote`. The SYN goes out on the next `poll_transmit`.
    pub fn connect(&mut self, remote: SocketAddr) -> Result<ConnectionHandle, ConnectError> {
        // A connection the application just closed frees its peer's address at once.
        if let Some(&previous) = self.by_peer.get(&remote) {
            self.settle(previous);
        }
        if self.by_peer.contains_key(&remote) {
            return Err(ConnectError::AlreadyConnected(remote));
        }
        let isn = SeqNum(self.isn_generator.next_u32());
        let connection = Connection::connect(self.config.clone(), remote, isn);
        Ok(self.insert(connection, Ownership::Owned))
    }

    /// Take the next connection whose handshake completed, if any.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        let handle = self.accept_queue.pop_front()?;
        if let Some(entry) = self.connections.get_mut(&handle) {
            entry.queued = false;
            entry.ownership = Ownership::Owned;
        }
        Some(handle)
    }

    /// The application will neither read nor write `handle` again (TCP's CLOSE call, RFC 9293
    /// section 3.10.4). If received data waits unread, the connection is reset at once, since
    /// the peer would otherwise believe it delivered (section 3.6.1; RFC 2525, "data lost");
    /// otherwise a FIN follows the data written. From now on, data arriving is answered with
    /// a RST. The connection stays, for the application to watch its close end, until
    /// [`detach`](Self::detach).
    pub fn close(&mut self, handle: ConnectionHandle) {
        let Some(entry) = self.connections.get_mut(&handle) else {
            return;
        };
        if entry.ownership.is_released() {
            return;
        }
        entry.ownership = Ownership::Closed;
        if entry.connection.readable_bytes() > 0 {
            entry.connection.abort();
            self.stats.data_lost_resets += 1;
        } else {
            entry.connection.shutdown();
        }
        self.active.insert(handle);
        self.settle(handle);
    }

    /// The application is done with `handle`: it is closed (see [`close`](Self::close)) if it
    /// was not yet, the endpoint keeps running it (to finish the close) and forgets it once it
    /// is closed.
    pub fn detach(&mut self, handle: ConnectionHandle) {
        self.close(handle);
        if let Some(entry) = self.connections.get_mut(&handle) {
            entry.ownership = Ownership::Detached;
        }
        self.settle(handle);
    }

    /// Every new connection gets this user timeout (none unless set).
    pub fn set_default_user_timeout(&mut self, timeout: Option<Duration>) {
        self.default_user_timeout = timeout;
    }

    /// Fail `handle` with [`ConnectionError::TimedOut`] once its peer has been silent for
    /// `timeout` while owing an answer (RFC 9293 section 3.8.3's user timeout; RFC 5482). The
    /// silence counts from the first segment that needs an answer (data, a FIN, a window
    /// probe or a keepalive) sent since the peer last spoke. `None` leaves the connection's
    /// own limits ([`Config::max_retransmissions`], [`Config::keepalive_probes`]) alone.
    pub fn set_user_timeout(&mut self, handle: ConnectionHandle, timeout: Option<Duration>) {
        if let Some(entry) = self.connections.get_mut(&handle) {
            entry.user_timeout = timeout;
            self.active.insert(handle);
        }
    }

    /// The user timeout of `handle`.
    pub fn user_timeout(&self, handle: ConnectionHandle) -> Option<Duration> {
        self.connections
            .get(&handle)
            .and_then(|entry| entry.user_timeout)
    }

    /// When a valid segment last arrived from the peer of `handle`: how long a closing
    /// connection has been quiet, say.
    pub fn last_heard(&self, handle: ConnectionHandle) -> Option<Instant> {
        self.connections
            .get(&handle)
            .and_then(|entry| entry.last_heard)
    }

    /// The network says nothing listens at `peer` any more: an ICMP port (or protocol)
    /// unreachable, which a connected UDP socket reports as `ECONNREFUSED`. RFC 1122 section
    /// 4.2.3.9 makes these hard errors. A handshake in progress is refused; a synchronized
    /// connection is reset, except that in CLOSING, LAST-ACK and TIME-WAIT, where the peer
    /// has sent everything, it just ends, as a RST would end it there. (Host and network
    /// unreachables are soft errors: the retransmission timers decide, so they do not come
    /// here.)
    pub fn handle_unreachable(&mut self, peer: SocketAddr) {
        let Some(&handle) = self.by_peer.get(&peer) else {
            return;
        };
        let Some(entry) = self.connections.get_mut(&handle) else {
            return;
        };
        let connection = &mut entry.connection;
        let error = match connection.state() {
            State::Closed => return,
            State::Listen | State::SynSent | State::SynReceived => Some(ConnectionError::Refused),
            State::Closing | State::LastAck | State::TimeWait => None,
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                Some(ConnectionError::Reset)
            }
        };
        connection.terminate(error);
        self.active.insert(handle);
        self.settle(handle);
    }

    /// The connection behind `handle`, while the endpoint keeps it.
    pub fn connection(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.connections.get(&handle).map(|entry| &entry.connection)
    }

    /// The connection behind `handle`, to read, write or shut it down. The endpoint polls it
    /// on the next [`poll_transmit`](Self::poll_transmit).
    pub fn connection_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        let entry = self.connections.get_mut(&handle)?;
        self.active.insert(handle);
        Some(&mut entry.connection)
    }

    /// Every connection the endpoint keeps, in handle order.
    pub fn connections(&self) -> impl Iterator<Item = (ConnectionHandle, &Connection)> {
        self.connections
            .iter()
            .map(|(&handle, entry)| (handle, &entry.connection))
    }

    /// What the endpoint counted itself.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Feed one datagram that arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if let Some(&handle) = self.by_peer.get(&from) {
            // A connection closed since the last look frees its peer: the datagram is a stray.
            self.settle(handle);
            if let Some(entry) = self.connections.get_mut(&handle) {
                if !entry.connection.is_closed() {
                    self.active.insert(handle);
                    // Only an acceptable segment shows the peer is alive: a forged trickle
                    // must not keep the user timeout from firing.
                    let accepted_before = entry.connection.stats().segments_accepted;
                    entry.connection.handle_datagram(now, datagram);
                    if entry.connection.stats().segments_accepted > accepted_before {
                        entry.last_heard = Some(now);
                        entry.awaiting_since = None;
                    }
                    // Only data that arrived since the application closed can be waiting:
                    // at `close` any unread data already reset the connection.
                    if entry.ownership.is_released() && entry.connection.readable_bytes() > 0 {
                        entry.connection.abort();
                        self.stats.data_lost_resets += 1;
                    }
                    self.settle(handle);
                    return;
                }
            }
        }
        let segment = match Segment::parse(datagram) {
            Ok(segment) => segment,
            Err(WireError::BadChecksum { .. }) => {
                self.stats.discarded_corrupt += 1;
                return;
            }
            Err(_) => {
                self.stats.discarded_malformed += 1;
                return;
            }
        };
        let is_connection_request = segment.flags.contains(Flags::SYN)
            && !segment.flags.intersects(Flags::ACK | Flags::RST);
        if let (true, Some(backlog)) = (is_connection_request, self.listen_backlog) {
            if self.accept_queue.len() >= backlog {
                self.stats.syns_dropped += 1;
            } else if self.half_open.len() >= backlog {
                self.send_syn_cookie(now, from, &segment);
            } else {
                let isn = SeqNum(self.isn_generator.next_u32());
                let mut connection = Connection::listen(self.config.clone(), from, isn);
                connection.handle_segment(now, &segment);
                let handle = self.insert(connection, Ownership::Unaccepted);
                self.half_open.insert(handle);
            }
            return;
        }
        if self.listen_backlog.is_some() && self.accept_cookie(now, from, &segment) {
            return;
        }
        if let Some(reset) = reset_reply(&segment) {
            if !self.may_send_reset(now) {
                self.stats.resets_suppressed += 1;
                return;
            }
            self.stats.resets_sent += 1;
            self.stateless_replies.push_back(Transmit {
                destination: from,
                contents: encode(&reset),
                reason: Reason::Rst,
            });
        }
    }

    /// Run the timers that are due at `now`, and the user timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionHandle> = self
            .deadlines
            .iter()
            .take_while(|&&(at, _)| at <= now)
            .map(|&(_, handle)| handle)
            .chain(self.active.iter().copied())
            .collect();
        for handle in due {
            let Some(entry) = self.connections.get_mut(&handle) else {
                continue;
            };
            if let Some(at) = entry.scheduled.take() {
                self.deadlines.remove(&(at, handle));
            }
            if entry
                .connection
                .poll_timeout()
                .is_some_and(|due| due <= now)
            {
                entry.connection.handle_timeout(now);
            }
            if entry.user_deadline().is_some_and(|due| due <= now) {
                entry.connection.terminate(Some(ConnectionError::TimedOut));
                self.stats.user_timeouts += 1;
            }
            // It may have something to send; it is rescheduled once it has not.
            self.active.insert(handle);
            self.settle(handle);
        }
    }

    /// The next datagram to send, taking the active connections in turn.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(reply) = self.stateless_replies.pop_front() {
            return Some(reply);
        }
        loop {
            let start = self.poll_cursor.unwrap_or(ConnectionHandle(0));
            let handle = *self
                .active
                .range(start..)
                .next()
                .or_else(|| self.active.first())?;
            let transmit = self
                .connections
                .get_mut(&handle)
                .and_then(|entry| entry.connection.poll_transmit(now));
            let Some(transmit) = transmit else {
                // Quiet until something touches it again: book its next deadline.
                self.active.remove(&handle);
                self.settle(handle);
                self.reschedule(handle);
                continue;
            };
            self.poll_cursor = Some(ConnectionHandle(handle.0 + 1));
            if needs_answer(transmit.reason) {
                if let Some(entry) = self.connections.get_mut(&handle) {
                    entry.awaiting_since.get_or_insert(now);
                }
            }
            return Some(transmit);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Active connections' deadlines may have moved since they were booked: theirs are
        // read afresh.
        let booked = self
            .deadlines
            .iter()
            .find(|(_, handle)| !self.active.contains(handle))
            .map(|&(at, _)| at);
        let active = self
            .active
            .iter()
            .filter_map(|handle| self.connections.get(handle))
            .flat_map(Entry::deadline);
        booked.into_iter().chain(active).min()
    }

    /// Book `handle`'s next deadline in [`deadlines`](Self::deadlines), replacing the old one.
    fn reschedule(&mut self, handle: ConnectionHandle) {
        let Some(entry) = self.connections.get_mut(&handle) else {
            return;
        };
        if let Some(at) = entry.scheduled.take() {
            self.deadlines.remove(&(at, handle));
        }
        entry.scheduled = entry.deadline();
        if let Some(at) = entry.scheduled {
            self.deadlines.insert((at, handle));
        }
    }

    fn insert(&mut self, connection: Connection, ownership: Ownership) -> ConnectionHandle {
        let handle = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.by_peer.insert(connection.remote(), handle);
        self.connections.insert(
            handle,
            Entry {
                connection,
                ownership,
                queued: false,
                user_timeout: self.default_user_timeout,
                last_heard: None,
                awaiting_since: None,
                scheduled: None,
            },
        );
        self.active.insert(handle);
        handle
    }

    /// Whether the RST rate limit lets one more go now; if so, it is counted.
    fn may_send_reset(&mut self, now: Instant) -> bool {
        let interval = Duration::from_secs(1) / RESETS_PER_SECOND;
        let schedule = self.reset_schedule.max(now) + interval;
        if schedule > now + interval * RESET_BURST
            || self.stateless_replies.len() >= STATELESS_REPLY_QUEUE
        {
            return false;
        }
        self.reset_schedule = schedule;
        true
    }

    /// The SYN cookie for a SYN from `peer` with ISN `peer_isn`, in cookie period `period`:
    /// SipHash-2-4 keyed with a 128-bit secret that never leaves the endpoint, so it cannot be
    /// predicted without it. (std's `SipHasher` is deprecated only in favour of a hasher whose
    /// algorithm may change; here the algorithm is the point, and it is fixed.)
    fn syn_cookie(secret: [u64; 2], peer: SocketAddr, peer_isn: SeqNum, period: u64) -> SeqNum {
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new_with_keys(secret[0], secret[1]);
        (peer, peer_isn.0, period).hash(&mut hasher);
        SeqNum(hasher.finish() as u32)
    }

    /// Whether a SYN cookie went out recently enough for one to come back now.
    fn cookies_in_use(&self, now: Instant) -> bool {
        self.last_cookie_sent_at
            .is_some_and(|sent| now.saturating_duration_since(sent) < COOKIE_PERIOD * 2)
    }

    fn cookie_period(now: Instant) -> u64 {
        now.as_micros() / COOKIE_PERIOD.as_micros() as u64
    }

    /// Answer `syn` with a SYN-ACK whose ISN is its cookie, keeping nothing. The SYN-ACK is
    /// the one a fresh passive open would send, so it carries the same window.
    fn send_syn_cookie(&mut self, now: Instant, from: SocketAddr, syn: &Segment<'_>) {
        if self.stateless_replies.len() >= STATELESS_REPLY_QUEUE {
            self.stats.syns_dropped += 1;
            return;
        }
        let isn_generator = &mut self.isn_generator;
        let secret = *self
            .cookie_secret
            .get_or_insert_with(|| [isn_generator.next_u64(), isn_generator.next_u64()]);
        let cookie = Endpoint::syn_cookie(secret, from, syn.seq, Endpoint::cookie_period(now));
        let mut connection = Connection::listen(self.config.clone(), from, cookie);
        connection.handle_segment(now, syn);
        if let Some(syn_ack) = connection.poll_transmit(now) {
            self.stats.syn_cookies_sent += 1;
            self.last_cookie_sent_at = Some(now);
            self.stateless_replies.push_back(Transmit {
                reason: Reason::SynCookie,
                ..syn_ack
            });
        }
    }

    /// If `segment` completes a handshake begun with a SYN cookie (its ACK field is the cookie
    /// plus one), open the connection and queue it for `accept`. Returns whether it took the
    /// segment: while cookies are in use, an ACK that fails the check is dropped without a
    /// RST, since it may be a cookie client's later segment that overtook its first (whose
    /// retransmission will validate), as Linux drops it.
    fn accept_cookie(&mut self, now: Instant, from: SocketAddr, segment: &Segment<'_>) -> bool {
        let Some(secret) = self.cookie_secret else {
            return false;
        };
        if !self.cookies_in_use(now)
            || !segment.flags.contains(Flags::ACK)
            || segment.flags.intersects(Flags::SYN | Flags::RST)
        {
            return false;
        }
        let cookie = segment.ack - 1;
        let peer_isn = segment.seq - 1;
        let period = Endpoint::cookie_period(now);
        let valid = [period, period.saturating_sub(1)]
            .iter()
            .any(|&period| Endpoint::syn_cookie(secret, from, peer_isn, period) == cookie);
        if !valid {
            self.stats.cookie_acks_dropped += 1;
            return true;
        }
        let Some(backlog) = self.listen_backlog else {
            return false;
        };
        if self.accept_queue.len() >= backlog {
            // The client's data, or its next segment, will try again.
            self.stats.syns_dropped += 1;
            return true;
        }
        let connection = Connection::accept_cookie(self.config.clone(), from, cookie, now, segment);
        let handle = self.insert(connection, Ownership::Unaccepted);
        if let Some(entry) = self.connections.get_mut(&handle) {
            entry.last_heard = Some(now);
        }
        self.stats.syn_cookies_accepted += 1;
        self.settle(handle);
        true
    }

    /// Bring the endpoint's books up to date with one connection: queue it for `accept` once
    /// a passive open connects; once it is closed, free its peer's address, and forget it if
    /// nobody will ask about it (never accepted, or detached).
    fn settle(&mut self, handle: ConnectionHandle) {
        let Some(entry) = self.connections.get_mut(&handle) else {
            return;
        };
        let connection = &entry.connection;
        if connection.is_connected() || connection.is_closed() {
            self.half_open.remove(&handle);
        }
        if entry.ownership == Ownership::Unaccepted && !entry.queued && connection.is_connected() {
            entry.queued = true;
            self.accept_queue.push_back(handle);
        }
        if !connection.is_closed() {
            return;
        }
        if self.by_peer.get(&connection.remote()) == Some(&handle) {
            self.by_peer.remove(&connection.remote());
        }
        let nobody_will_ask = entry.ownership == Ownership::Detached
            || (entry.ownership == Ownership::Unaccepted && !entry.queued);
        // A RST still to send (an abort) keeps it until it has gone.
        if nobody_will_ask && !connection.has_pending_reset() {
            if let Some(at) = entry.scheduled {
                self.deadlines.remove(&(at, handle));
            }
            self.connections.remove(&handle);
            self.active.remove(&handle);
            self.half_open.remove(&handle);
        }
    }
}

/// Whether a segment sent for `reason` asks the peer for an answer, so that its silence
/// afterwards counts against the user timeout. Handshake segments have their own retry
/// limit; ACKs, window updates and RSTs expect nothing.
fn needs_answer(reason: Reason) -> bool {
    !matches!(
        reason,
        Reason::Handshake | Reason::Ack | Reason::ChallengeAck | Reason::WindowUpdate | Reason::Rst
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::State;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn endpoint() -> Endpoint {
        Endpoint::new(Config::default(), Box::new(ChaCha8Rng::seed_from_u64(1)))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn syn(seq: u32) -> Vec<u8> {
        encode(&Segment {
            flags: Flags::SYN,
            seq: SeqNum(seq),
            window: 65535,
            ..Segment::default()
        })
    }

    fn parse(transmit: &Transmit) -> Segment<'_> {
        Segment::parse(&transmit.contents).unwrap()
    }

    #[test]
    fn a_segment_from_an_unknown_peer_gets_a_reset() {
        let mut endpoint = endpoint();
        let stray = encode(&Segment {
            flags: Flags::ACK,
            seq: SeqNum(7),
            ack: SeqNum(1234),
            window: 100,
            payload: b"hello",
            ..Segment::default()
        });
        endpoint.handle_datagram(Instant::ZERO, addr("192.0.2.9:4000"), &stray);
        let reset = endpoint.poll_transmit(Instant::ZERO).unwrap();
        assert_eq!(reset.destination, addr("192.0.2.9:4000"));
        assert_eq!(reset.reason, Reason::Rst);
        let segment = parse(&reset);
        assert_eq!((segment.flags, segment.seq), (Flags::RST, SeqNum(1234)));
        assert!(endpoint.poll_transmit(Instant::ZERO).is_none());
        assert_eq!(endpoint.stats().resets_sent, 1);
    }

    #[test]
    fn a_flood_of_strays_draws_a_bounded_trickle_of_resets() {
        let mut endpoint = endpoint();
        let stray = |port: u16| {
            let datagram = encode(&Segment {
                flags: Flags::ACK,
                seq: SeqNum(7),
                ack: SeqNum(1234),
                ..Segment::default()
            });
            (addr(&format!("192.0.2.9:{port}")), datagram)
        };
        // 10,000 strays within one millisecond, nobody polling: one burst is queued.
        for port in 0..10_000 {
            let (from, datagram) = stray(port);
            endpoint.handle_datagram(Instant::from_micros(u64::from(port) / 10), from, &datagram);
        }
        let queued = std::iter::from_fn(|| endpoint.poll_transmit(ms(1))).count();
        assert!(queued <= RESET_BURST as usize + 1, "{queued} RSTs queued");
        // A second later, strays arriving at 100,000 a second draw about 1,000 a second.
        let mut sent = 0;
        for index in 0..100_000u64 {
            let (from, datagram) = stray(index as u16);
            let now = Instant::from_micros(1_000_000 + index * 10);
            endpoint.handle_datagram(now, from, &datagram);
            sent += std::iter::from_fn(|| endpoint.poll_transmit(now)).count();
        }
        let limit = (RESETS_PER_SECOND + RESET_BURST) as usize;
        assert!(sent <= limit, "{sent} RSTs in one second, limit {limit}");
        assert!(
            sent >= RESETS_PER_SECOND as usize,
            "{sent} RSTs in one second"
        );
        let stats = endpoint.stats();
        assert_eq!(stats.resets_sent + stats.resets_suppressed, 110_000);
    }

    #[test]
    fn a_syn_is_refused_when_not_listening_and_a_reset_never_answered() {
        let mut endpoint = endpoint();
        endpoint.handle_datagram(Instant::ZERO, addr("192.0.2.9:4000"), &syn(99));
        let segment_bytes = endpoint.poll_transmit(Instant::ZERO).unwrap().contents;
        let reset = Segment::parse(&segment_bytes).unwrap();
        assert_eq!(reset.flags, Flags::RST | Flags::ACK);
        assert_eq!(reset.ack, SeqNum(100));
        endpoint.handle_datagram(Instant::ZERO, addr("192.0.2.9:4000"), &segment_bytes);
        assert!(endpoint.poll_transmit(Instant::ZERO).is_none());
    }

    #[test]
    fn corrupt_datagrams_from_strays_are_counted_and_dropped() {
        let mut endpoint = endpoint();
        let mut bytes = syn(5);
        bytes[6] ^= 0x10;
        endpoint.handle_datagram(Instant::ZERO, addr("192.0.2.9:4000"), &bytes);
        endpoint.handle_datagram(Instant::ZERO, addr("192.0.2.9:4000"), &bytes[..10]);
        assert!(endpoint.poll_transmit(Instant::ZERO).is_none());
        assert_eq!(endpoint.stats().discarded_corrupt, 1);
        assert_eq!(endpoint.stats().discarded_malformed, 1);
    }

    #[test]
    fn a_full_half_open_table_answers_syns_with_cookies_and_keeps_nothing() {
        let mut endpoint = endpoint();
        endpoint.listen(2);
        for port in 1..=3 {
            let peer = SocketAddr::new(addr("192.0.2.9:1").ip(), port);
            endpoint.handle_datagram(Instant::ZERO, peer, &syn(1000));
        }
        let mut reasons = Vec::new();
        while let Some(transmit) = endpoint.poll_transmit(Instant::ZERO) {
            let segment = parse(&transmit);
            assert_eq!(segment.flags, Flags::SYN | Flags::ACK);
            assert_eq!(segment.ack, SeqNum(1001));
            reasons.push(transmit.reason);
        }
        reasons.sort_by_key(|reason| *reason == Reason::SynCookie);
        assert_eq!(
            reasons,
            vec![Reason::Handshake, Reason::Handshake, Reason::SynCookie]
        );
        assert_eq!(endpoint.connections().count(), 2);
        assert_eq!(endpoint.stats().syn_cookies_sent, 1);
        assert_eq!(endpoint.accept(), None, "no handshake has completed yet");
    }

    #[test]
    fn a_client_answered_with_a_cookie_connects_and_exchanges_data() {
        let mut client = endpoint();
        let mut server = cookie_server();
        let client_handle = client.connect(addr(SERVER)).unwrap();
        let crossed = shuttle(&mut client, &mut server, ms(1));
        assert_eq!(
            crossed,
            vec![
                (true, Flags::SYN, 0, Reason::Handshake),
                (false, Flags::SYN | Flags::ACK, 0, Reason::SynCookie),
                (true, Flags::ACK, 0, Reason::Handshake),
            ]
        );
        let server_handle = server.accept().expect("the cookie opened the connection");
        assert_eq!(server.stats().syn_cookies_accepted, 1);
        let connection = client.connection_mut(client_handle).unwrap();
        assert_eq!(connection.write(b"ping"), Ok(4));
        shuttle(&mut client, &mut server, ms(2));
        let connection = server.connection_mut(server_handle).unwrap();
        let mut buf = [0; 8];
        assert_eq!(connection.read(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(connection.write(b"pong"), Ok(4));
        shuttle(&mut client, &mut server, ms(3));
        let connection = client.connection_mut(client_handle).unwrap();
        assert_eq!(connection.read(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"pong");
    }

    #[test]
    fn when_the_final_ack_is_lost_the_clients_first_data_completes_a_cookie_handshake() {
        let mut client = endpoint();
        let mut server = cookie_server();
        let client_handle = client.connect(addr(SERVER)).unwrap();
        let syn = client.poll_transmit(ms(1)).unwrap();
        server.handle_datagram(ms(1), addr(CLIENT), &syn.contents);
        let syn_ack = server.poll_transmit(ms(1)).unwrap();
        client.handle_datagram(ms(2), addr(SERVER), &syn_ack.contents);
        let lost_ack = client.poll_transmit(ms(2)).unwrap();
        assert_eq!(parse(&lost_ack).flags, Flags::ACK);
        let connection = client.connection_mut(client_handle).unwrap();
        assert_eq!(connection.write(b"hello"), Ok(5));
        shuttle(&mut client, &mut server, ms(3));
        let server_handle = server.accept().expect("the data carried the cookie back");
        let mut buf = [0; 8];
        let connection = server.connection_mut(server_handle).unwrap();
        assert_eq!(connection.read(&mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
    }

    #[test]
    fn a_wrong_cookie_is_dropped_while_cookies_are_in_use_and_reset_after() {
        let mut server = endpoint();
        server.listen(1);
        server.handle_datagram(ms(0), addr("203.0.113.5:999"), &syn(77));
        server.handle_datagram(ms(0), addr("203.0.113.5:1000"), &syn(77));
        while server.poll_transmit(ms(0)).is_some() {}
        assert_eq!(server.stats().syn_cookies_sent, 1);
        let guess = encode(&Segment {
            flags: Flags::ACK,
            seq: SeqNum(78),
            ack: SeqNum(12_345),
            window: 65535,
            ..Segment::default()
        });
        // It may be a cookie client's second segment, ahead of its first: no RST.
        server.handle_datagram(ms(1), addr("203.0.113.5:1000"), &guess);
        assert!(server.poll_transmit(ms(1)).is_none());
        assert_eq!(server.stats().cookie_acks_dropped, 1);
        // Two cookie periods later, no cookie is believed: a stray gets its RST again.
        server.handle_datagram(ms(40_000), addr("203.0.113.5:1000"), &guess);
        let reset = server.poll_transmit(ms(40_000)).expect("a RST");
        assert_eq!(parse(&reset).flags, Flags::RST);
        assert_eq!(server.accept(), None);
        assert_eq!(server.stats().syn_cookies_accepted, 0);
    }

    #[test]
    fn a_cookie_handshake_survives_data_that_overtakes_the_first_segment() {
        // From a review: the client's final ACK is lost and its two first data segments
        // arrive swapped. The second fails the cookie check (its sequence number is not the
        // ISN plus one); it must be dropped, not answered with a RST that kills the client.
        let mut client = endpoint();
        let mut server = cookie_server();
        let client_handle = client.connect(addr(SERVER)).unwrap();
        let syn = client.poll_transmit(ms(1)).unwrap();
        server.handle_datagram(ms(1), addr(CLIENT), &syn.contents);
        let syn_ack = server.poll_transmit(ms(1)).unwrap();
        assert_eq!(syn_ack.reason, Reason::SynCookie);
        client.handle_datagram(ms(2), addr(SERVER), &syn_ack.contents);
        let _lost_ack = client.poll_transmit(ms(2)).unwrap();
        let data = vec![7u8; 2400];
        client
            .connection_mut(client_handle)
            .unwrap()
            .write(&data)
            .unwrap();
        let first = client.poll_transmit(ms(2)).unwrap();
        let second = client.poll_transmit(ms(2)).unwrap();
        server.handle_datagram(ms(3), addr(CLIENT), &second.contents);
        server.handle_datagram(ms(3), addr(CLIENT), &first.contents);
        shuttle(&mut client, &mut server, ms(4));
        let connection = client.connection(client_handle).unwrap();
        assert_eq!(connection.error(), None);
        assert!(server.accept().is_some());
    }

    #[test]
    fn a_stale_duplicate_long_after_a_flood_opens_nothing() {
        // From a review: a cookie connection carries a request and closes; a duplicate of the
        // request arrives later. Once cookies are no longer in use, it opens no connection.
        let mut client = endpoint();
        let mut server = cookie_server();
        let client_handle = client.connect(addr(SERVER)).unwrap();
        shuttle(&mut client, &mut server, ms(1));
        let server_handle = server.accept().expect("cookie handshake");
        client
            .connection_mut(client_handle)
            .unwrap()
            .write(b"GET /pay")
            .unwrap();
        let request = client.poll_transmit(ms(2)).unwrap();
        server.handle_datagram(ms(2), addr(CLIENT), &request.contents);
        shuttle(&mut client, &mut server, ms(2));
        client.close(client_handle);
        shuttle(&mut client, &mut server, ms(3));
        server.detach(server_handle);
        shuttle(&mut client, &mut server, ms(4));
        assert!(server.connection(server_handle).is_none());
        server.handle_datagram(ms(40_000), addr(CLIENT), &request.contents);
        assert!(
            server.accept().is_none(),
            "a stale duplicate opened a connection"
        );
    }

    #[test]
    fn a_full_accept_queue_drops_syns() {
        let mut client = endpoint();
        let mut server = endpoint();
        server.listen(1);
        client.connect(addr(SERVER)).unwrap();
        shuttle(&mut client, &mut server, ms(1));
        // One completed handshake waits for `accept`: the queue is full.
        server.handle_datagram(ms(2), addr("192.0.2.9:1"), &syn(1000));
        assert!(server.poll_transmit(ms(2)).is_none());
        assert_eq!(server.stats().syns_dropped, 1);
        assert!(server.accept().is_some());
    }

    #[test]
    fn a_syn_flood_from_forged_addresses_locks_no_client_out() {
        // 100,000 SYNs a second from random addresses for a second; a client connects in the
        // middle of it. Its handshake takes one round trip (here 1 ms), no retry, and the
        // listener never holds more than its backlog of half-open connections.
        let mut client = endpoint();
        let mut server = endpoint();
        server.listen(128);
        let mut forger = ChaCha8Rng::seed_from_u64(9);
        let mut client_handle = None;
        let mut connected_at = None;
        for tick in 0..100_000u64 {
            let now = Instant::from_micros(tick * 10);
            let forged_from = SocketAddr::new(
                std::net::Ipv4Addr::from(forger.next_u32()).into(),
                forger.next_u32() as u16,
            );
            server.handle_datagram(now, forged_from, &syn(forger.next_u32()));
            if tick == 50_000 {
                client_handle = Some(client.connect(addr(SERVER)).unwrap());
            }
            // The client's datagrams take 500 us each way; the forged addresses answer nothing.
            if tick % 50 == 0 {
                while let Some(transmit) = client.poll_transmit(now) {
                    server.handle_datagram(now, addr(CLIENT), &transmit.contents);
                }
            }
            while let Some(transmit) = server.poll_transmit(now) {
                if transmit.destination == addr(CLIENT) {
                    client.handle_datagram(now, addr(SERVER), &transmit.contents);
                }
            }
            server.handle_timeout(now);
            assert!(server.connections().count() <= 129);
            if connected_at.is_none()
                && client_handle
                    .and_then(|handle| client.connection(handle))
                    .is_some_and(Connection::is_connected)
            {
                connected_at = Some(now);
            }
        }
        let handle = client_handle.unwrap();
        assert_eq!(
            client.connection(handle).unwrap().stats().rto_timeouts,
            0,
            "the SYN was never sent again"
        );
        assert!(connected_at.is_some());
        assert!(server.accept().is_some(), "the server accepted the client");
        let stats = server.stats();
        assert!(stats.syn_cookies_sent > 99_000, "{stats:?}");
    }

    #[test]
    fn an_aborted_connection_frees_its_peer_and_strays_get_a_reset() {
        let peer = addr("198.51.100.1:4747");
        let mut client = endpoint();
        let first = client.connect(peer).unwrap();
        let syn = parse(&client.poll_transmit(Instant::ZERO).unwrap()).seq;
        client.connection_mut(first).unwrap().abort();
        // The SYN-ACK for the aborted connection is a stray: it gets a RST.
        let syn_ack = encode(&Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: SeqNum(5),
            ack: syn + 1,
            window: 100,
            ..Segment::default()
        });
        client.handle_datagram(Instant::from_millis(1), peer, &syn_ack);
        let reset = client.poll_transmit(Instant::from_millis(1)).unwrap();
        assert_eq!(parse(&reset).flags, Flags::RST);
        assert_eq!(parse(&reset).seq, syn + 1);
        assert!(client.poll_transmit(Instant::from_millis(1)).is_none());
        // And the application may connect to the same peer again at once.
        assert!(client.connect(peer).is_ok());
    }

    /// Two endpoints wired back to back, datagrams handed over by hand.
    #[test]
    fn connect_accept_and_exchange_data() {
        let (client_addr, server_addr) = (addr("192.0.2.1:4747"), addr("198.51.100.1:4747"));
        let mut client = endpoint();
        let mut server = endpoint();
        server.listen(8);
        let handle = client.connect(server_addr).unwrap();
        assert_eq!(
            client.connect(server_addr),
            Err(ConnectError::AlreadyConnected(server_addr))
        );
        client
            .connection_mut(handle)
            .unwrap()
            .write(b"ping")
            .unwrap();
        let now = Instant::from_millis(1);
        for _ in 0..10 {
            while let Some(transmit) = client.poll_transmit(now) {
                server.handle_datagram(now, client_addr, &transmit.contents);
            }
            while let Some(transmit) = server.poll_transmit(now) {
                client.handle_datagram(now, server_addr, &transmit.contents);
            }
        }
        let accepted = server.accept().expect("the handshake completed");
        let connection = server.connection_mut(accepted).unwrap();
        assert_eq!(connection.state(), State::Established);
        assert_eq!(connection.remote(), client_addr);
        let mut buf = [0u8; 16];
        assert_eq!(connection.read(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"ping");
    }

    // ---------------------------------------------------------------------------------------
    // Closing, unreachable peers and the user timeout

    const CLIENT: &str = "192.0.2.1:4747";
    const SERVER: &str = "198.51.100.1:4747";

    fn ms(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    /// Hand every datagram each side has at `now` to the other, until both are quiet. Returns
    /// what crossed, as (from the client?, segment flags, payload length, reason).
    fn shuttle(
        client: &mut Endpoint,
        server: &mut Endpoint,
        now: Instant,
    ) -> Vec<(bool, Flags, usize, Reason)> {
        let mut crossed = Vec::new();
        loop {
            let mut quiet = true;
            while let Some(transmit) = client.poll_transmit(now) {
                let segment = parse(&transmit);
                crossed.push((true, segment.flags, segment.payload.len(), transmit.reason));
                server.handle_datagram(now, addr(CLIENT), &transmit.contents);
                quiet = false;
            }
            while let Some(transmit) = server.poll_transmit(now) {
                let segment = parse(&transmit);
                crossed.push((false, segment.flags, segment.payload.len(), transmit.reason));
                client.handle_datagram(now, addr(SERVER), &transmit.contents);
                quiet = false;
            }
            if quiet {
                return crossed;
            }
        }
    }

    /// A server listening with a backlog of 1 whose half-open table a forged SYN has filled:
    /// the next SYN is answered with a cookie.
    fn cookie_server() -> Endpoint {
        let mut server = endpoint();
        server.listen(1);
        server.handle_datagram(ms(0), addr("203.0.113.5:999"), &syn(77));
        while server.poll_transmit(ms(0)).is_some() {}
        server
    }

    /// A client and a server endpoint with one established connection, at 1 ms.
    fn established() -> (Endpoint, Endpoint, ConnectionHandle, ConnectionHandle) {
        let mut client = endpoint();
        let mut server = endpoint();
        server.listen(8);
        let client_handle = client.connect(addr(SERVER)).unwrap();
        shuttle(&mut client, &mut server, ms(1));
        let server_handle = server.accept().expect("the handshake completed");
        (client, server, client_handle, server_handle)
    }

    #[test]
    fn closing_with_unread_data_resets_at_once() {
        let (mut client, mut server, client_handle, server_handle) = established();
        let connection = client.connection_mut(client_handle).unwrap();
        connection.write(b"ping").unwrap();
        shuttle(&mut client, &mut server, ms(2));
        server.close(server_handle);
        // RFC 9293 section 3.6.1: a RST, not a FIN, and at once.
        let crossed = shuttle(&mut client, &mut server, ms(3));
        assert_eq!(crossed, vec![(false, Flags::RST, 0, Reason::Rst)]);
        assert_eq!(server.stats().data_lost_resets, 1);
        let client_connection = client.connection(client_handle).unwrap();
        assert_eq!(client_connection.error(), Some(ConnectionError::Reset));
        let server_connection = server.connection(server_handle).unwrap();
        assert_eq!(server_connection.error(), Some(ConnectionError::Aborted));
    }

    #[test]
    fn data_arriving_after_the_application_let_go_is_answered_with_a_reset() {
        let (mut client, mut server, client_handle, server_handle) = established();
        // Nothing unread: `detach` closes with a FIN, and the endpoint runs the close.
        server.detach(server_handle);
        let crossed = shuttle(&mut client, &mut server, ms(2));
        assert_eq!(
            crossed,
            vec![
                (false, Flags::FIN | Flags::ACK, 0, Reason::Fin),
                (true, Flags::ACK, 0, Reason::Ack),
            ]
        );
        assert_eq!(
            server.connection(server_handle).unwrap().state(),
            State::FinWait2
        );
        // The client may still write (a half-close)... but nobody will read it.
        let connection = client.connection_mut(client_handle).unwrap();
        connection.write(b"late").unwrap();
        let crossed = shuttle(&mut client, &mut server, ms(3));
        assert_eq!(
            crossed,
            vec![
                (true, Flags::ACK, 4, Reason::NewData),
                (false, Flags::RST, 0, Reason::Rst),
            ]
        );
        assert_eq!(server.stats().data_lost_resets, 1);
        let connection = client.connection_mut(client_handle).unwrap();
        assert_eq!(
            connection.write(b"more"),
            Err(crate::conn::WriteError::Failed(ConnectionError::Reset))
        );
        // Detached and closed: the server forgot it.
        assert!(server.connection(server_handle).is_none());
    }

    #[test]
    fn a_close_with_nothing_unread_sends_a_fin_and_keeps_the_connection_to_watch() {
        let (mut client, mut server, _, server_handle) = established();
        server.close(server_handle);
        server.close(server_handle);
        let crossed = shuttle(&mut client, &mut server, ms(2));
        assert_eq!(crossed[0], (false, Flags::FIN | Flags::ACK, 0, Reason::Fin));
        assert_eq!(crossed.len(), 2, "{crossed:?}");
        let connection = server.connection(server_handle).unwrap();
        assert_eq!(
            (connection.state(), connection.error()),
            (State::FinWait2, None)
        );
        assert_eq!(server.stats().data_lost_resets, 0);
    }

    #[test]
    fn an_unreachable_peer_refuses_a_handshake_and_resets_a_connection() {
        let mut client = endpoint();
        let handle = client.connect(addr(SERVER)).unwrap();
        let _syn = client.poll_transmit(ms(0)).unwrap();
        client.handle_unreachable(addr(SERVER));
        let connection = client.connection(handle).unwrap();
        assert_eq!(connection.error(), Some(ConnectionError::Refused));
        assert!(client.poll_transmit(ms(0)).is_none(), "nothing is sent");

        let (mut client, _server, handle, _) = established();
        client.handle_unreachable(addr("203.0.113.9:1"));
        assert!(
            client.connection(handle).unwrap().error().is_none(),
            "another peer"
        );
        client.handle_unreachable(addr(SERVER));
        let connection = client.connection(handle).unwrap();
        assert_eq!(connection.error(), Some(ConnectionError::Reset));
        assert!(client.poll_transmit(ms(2)).is_none(), "nothing is sent");
    }

    #[test]
    fn an_unreachable_peer_ends_last_ack_cleanly() {
        let (mut client, mut server, client_handle, server_handle) = established();
        server.close(server_handle);
        shuttle(&mut client, &mut server, ms(2));
        // The client got the FIN; it closes too, and its FIN meets a port nobody holds.
        client.close(client_handle);
        let _fin = client.poll_transmit(ms(3)).unwrap();
        let connection = client.connection(client_handle).unwrap();
        assert_eq!(connection.state(), State::LastAck);
        client.handle_unreachable(addr(SERVER));
        let connection = client.connection(client_handle).unwrap();
        assert_eq!(
            (connection.state(), connection.error()),
            (State::Closed, None)
        );
    }

    #[test]
    fn the_user_timeout_fails_a_connection_whose_peer_stays_silent() {
        let (mut client, mut server, handle, _) = established();
        let timeout = std::time::Duration::from_secs(2);
        client.set_user_timeout(handle, Some(timeout));
        assert_eq!(client.user_timeout(handle), Some(timeout));

        // Data out at 10 ms and lost: the clock runs from it, retransmissions or not.
        client.connection_mut(handle).unwrap().write(b"a").unwrap();
        let lost = client.poll_transmit(ms(10)).unwrap();
        assert_eq!(lost.reason, Reason::NewData);
        client.handle_timeout(ms(1_000));
        // The retransmission goes at 1.5 s; its ACK, at once (a new connection's quick-ACK
        // mode), stops the clock...
        shuttle(&mut client, &mut server, ms(1_500));
        assert_eq!(client.last_heard(handle), Some(ms(1_500)));
        client.handle_timeout(ms(2_010));
        assert!(client.connection(handle).unwrap().error().is_none());

        // ...until we next need an answer: the keepalive probe, 15 s after the peer last
        // spoke. Silence for the user timeout after it fails the connection.
        client.handle_timeout(ms(16_500));
        let probe = client.poll_transmit(ms(16_500)).unwrap();
        assert_eq!(probe.reason, Reason::Keepalive);
        assert_eq!(client.poll_timeout(), Some(ms(18_500)));
        client.handle_timeout(ms(18_499));
        assert!(client.connection(handle).unwrap().error().is_none());
        client.handle_timeout(ms(18_500));
        let connection = client.connection(handle).unwrap();
        assert_eq!(connection.error(), Some(ConnectionError::TimedOut));
        assert_eq!(client.stats().user_timeouts, 1);
        assert!(
            client.poll_transmit(ms(18_500)).is_none(),
            "nothing is sent"
        );
    }

    #[test]
    fn keepalive_settings_change_on_a_running_connection() {
        let (mut client, _server, handle, _) = established();
        let second = std::time::Duration::from_secs(1);
        client
            .connection_mut(handle)
            .unwrap()
            .set_keepalive(ms(100), Some(second), 2);
        assert_eq!(client.poll_timeout(), Some(ms(1_100)));
        let mut probes = Vec::new();
        for at in [1_100, 2_100, 3_100] {
            client.handle_timeout(ms(at));
            while let Some(transmit) = client.poll_transmit(ms(at)) {
                probes.push((at, transmit.reason));
            }
        }
        assert_eq!(
            probes,
            vec![(1_100, Reason::Keepalive), (2_100, Reason::Keepalive)]
        );
        let connection = client.connection(handle).unwrap();
        assert_eq!(connection.error(), Some(ConnectionError::TimedOut));

        let (mut client, _server, handle, _) = established();
        let connection = client.connection_mut(handle).unwrap();
        connection.set_keepalive(ms(100), None, 2);
        assert_eq!(connection.config().keepalive_interval, None);
        assert_eq!(client.poll_timeout(), None, "no timer left");
    }
}
