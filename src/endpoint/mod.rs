//! Many connections behind one socket, sans-IO: datagrams are demultiplexed to connections by
//! the peer's address; a bounded listen backlog holds passive opens until they are accepted,
//! with SYN cookies (RFC 4987 section 3.6) once the half-open table is full; segments that no
//! connection accepts are answered with a RST (RFC 9293 section 3.10.7.1), at a bounded rate
//! per source address.
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
//!   with the start of the datagram it quotes, a hard error by RFC 1122 section 4.2.3.9 once
//!   it is shown to be about a segment we sent (its sequence number within the flight, RFC
//!   5927 section 4.1): during the handshake the connection is refused, after it reset.
//! - **The user timeout** (RFC 9293 section 3.8.3, RFC 5482): a connection whose peer has
//!   said nothing for that long since we sent it something that needs an answer (data, a
//!   FIN, a window probe, a keepalive) fails with a timeout. Off unless set.
//!
//! The endpoint draws initial sequence numbers from a generator it is given (RFC 6528 asks only
//! that they be unpredictable); the simulator passes a seeded one, so runs repeat exactly.

//!
//! - **Hole punching.** [`Endpoint::punch`] runs a rendezvous client (`crate::rendezvous`)
//!   on the endpoint's socket: it meets a peer behind a NAT through a server, and opens the
//!   connection to it by simultaneous open, or through the server's relay.
//!
//! The files: this one (the table of connections, demultiplexing, the calls), `syn_cookies.rs`
//! (RFC 4987's cookies), `resets.rs` (RSTs to strays), `rate_limit.rs` (the per-source
//! budgets that bound both) and `punch.rs` (the rendezvous client beside the connections).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;

use crate::conn::{
    CheckedSizes, Config, ConfigError, Connection, ConnectionError, Reason, State, TracedEvent,
    Transmit, MAX_TRACE_EVENTS,
};
use crate::secure::{EarlyData, Opened, PublicKey, Revealed, SecureConfig, Session, TAG_LEN};
use crate::time::Instant;
use crate::wire::secure::CONNECTION_ID_LEN;
use crate::wire::{quoted_seq, Flags, SecureOption, Segment, SeqNum, WireError, MAX_PAYLOAD_LEN};

mod punch;
#[cfg(test)]
mod punch_tests;
mod rate_limit;
mod resets;
mod retries;
mod syn_cookies;
#[cfg(test)]
mod tests;

pub use punch::{PunchStartError, PunchStatus};
use rate_limit::PerSourceLimit;
pub use rate_limit::SOURCES_TRACKED;
pub use resets::{RESETS_PER_SECOND, RESET_BURST};
use syn_cookies::SynCookies;
pub use syn_cookies::{SYN_COOKIES_PER_SECOND, SYN_COOKIE_BURST};

/// Stateless replies (RSTs, SYN cookies) waiting for `poll_transmit`: at most this many.
pub const STATELESS_REPLY_QUEUE: usize = 256;

/// Names one connection of an endpoint for as long as the endpoint keeps it. Unlike the peer's
/// address, a handle is never reused, so a peer that reconnects from the same port gets a new
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionHandle(u64);

impl ConnectionHandle {
    /// The handle's number: an endpoint numbers its connections from 0 in the order it opens
    /// them, so that a trace or a log can name each.
    pub fn index(self) -> u64 {
        self.0
    }
}

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
    /// SYNs that would have been answered with a SYN cookie but were dropped: their source
    /// address had had its share ([`SYN_COOKIES_PER_SECOND`]).
    pub syn_cookies_suppressed: u64,
    /// Connections opened by a valid SYN cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs from unknown peers dropped silently, not reset, while cookies were in use: they
    /// failed the cookie check (a forgery, or a cookie client's segment that overtook its
    /// first).
    pub cookie_acks_dropped: u64,
    /// Connections in TIME-WAIT that ended at once because a SYN from the same peer opened a
    /// new one in their place (RFC 9293 section 3.6.1; [`Connection::reincarnation_iss`]).
    pub time_wait_reopened: u64,
    /// Connections reset because received data would be lost: the application closed with
    /// data unread, or data arrived after it closed (RFC 2525, "data lost").
    pub data_lost_resets: u64,
    /// Connections failed by the user timeout.
    pub user_timeouts: u64,
    /// ICMP unreachables ([`Endpoint::handle_unreachable`]) that changed nothing: about no
    /// connection's peer, or quoting no sequence number that connection could have sent,
    /// or, during a punch, about the rendezvous server or the peer not yet connected.
    pub unreachables_ignored: u64,
    /// Ferry datagrams dropped during a punch ([`Endpoint::punch`]) before its connection
    /// was established: from anyone but the peer, or before the peer was known.
    pub punch_strays: u64,
    /// Secure mode: datagrams dropped, never delivered, because they did not authenticate:
    /// a protected segment forged, altered or replayed, a handshake message that does not
    /// read, an unprotected segment where protection is due, a RST with a wrong reset token.
    pub discarded_unauthenticated: u64,
    /// Secure mode: SYNs without the secure handshake, refused with a RST.
    pub plain_syns_refused: u64,
    /// Secure mode: stateless resets sent, answering protected segments of connections this
    /// endpoint does not have (it lost them: a crash and a restart).
    pub stateless_resets_sent: u64,
    /// Secure mode: connections ended by the peer's stateless reset.
    pub stateless_resets_received: u64,
    /// Secure mode: SYNs whose 0-RTT data was taken (docs/protocol.md section 10.7).
    pub early_data_accepted: u64,
    /// Secure mode: SYNs whose 0-RTT data was dropped unread
    /// ([`SecureConfig::refuse_early_data`]); their clients send it again.
    pub early_data_refused: u64,
    /// Secure mode: retries sent, each an address validation token answering a secure SYN
    /// without one while half the backlog was half-open (docs/protocol.md section 10.8).
    pub retries_sent: u64,
    /// Secure mode: SYNs without a token dropped unanswered, their source address having had
    /// its share of retries ([`SYN_COOKIES_PER_SECOND`], shared with SYN cookies).
    pub retries_suppressed: u64,
    /// Secure mode: SYNs dropped because the token they brought was not one this listener
    /// made for them, or had expired.
    pub retry_tokens_refused: u64,
    /// Secure mode: retries a client took, sending its SYN again with the token.
    pub retries_taken: u64,
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
    /// Its secure state, in the secure mode.
    session: Option<Session>,
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
    /// `config`'s sizes, as [`Config::check`] parsed them when the endpoint was made.
    sizes: CheckedSizes,
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
    /// SYN cookies: their secret, and when the last went out.
    cookies: SynCookies,
    /// RSTs and SYN cookies to send; at most [`STATELESS_REPLY_QUEUE`].
    stateless_replies: VecDeque<Transmit>,
    /// The RST rate limit, per source address.
    resets: PerSourceLimit,
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
    /// Hole punching through a rendezvous server, if [`Endpoint::punch`] started it.
    punch: Option<punch::Punch>,
    /// The secure mode, if on.
    secure: Option<SecureConfig>,
    /// The last protected segment the secure mode opened, decrypted: one buffer for every
    /// datagram, so that opening allocates nothing. It grows to the largest datagram that
    /// came to a secure connection, at most a UDP payload's 64 KiB.
    opened: Vec<u8>,
    stats: EndpointStats,
    /// Whether connections keep their event trace ([`Endpoint::set_tracing`]).
    tracing: bool,
    /// Whether connections stretch their ACKs over a batch ([`Endpoint::set_stretch_acks`]).
    stretch_acks: bool,
    /// Trace events taken out of connections, so that a connection forgotten once closed
    /// leaves its last events behind; at most [`MAX_TRACE_EVENTS`].
    trace_events: VecDeque<(ConnectionHandle, TracedEvent)>,
    /// Trace events not kept because the queue above was full.
    trace_events_dropped: u64,
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
    /// draw one from the OS, or pass a generator of your own to [`new`](Self::new). Fails if
    /// `config` cannot work ([`Config::check`]).
    pub fn with_seed(config: Config, seed: u64) -> Result<Endpoint, ConfigError> {
        use rand::SeedableRng;
        Endpoint::new(
            config,
            Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        )
    }

    /// An endpoint whose connections use `config` and draw their initial sequence numbers from
    /// `isn_generator`: any generator of the `rand` version Ferry uses, which
    /// [`ferry::rand`](crate::rand) re-exports so that yours matches. The endpoint's other
    /// random choices come from it too: the SYN-cookie secret, and which entries a full
    /// table of per-source rate limits samples to make room. Fails if `config` cannot work
    /// ([`Config::check`]): it is checked here once, for every connection the endpoint makes.
    pub fn new(
        config: Config,
        isn_generator: Box<dyn RngCore + Send>,
    ) -> Result<Endpoint, ConfigError> {
        let sizes = config.checked_sizes()?;
        Ok(Endpoint {
            config,
            sizes,
            isn_generator,
            connections: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            next_handle: 0,
            listen_backlog: None,
            accept_queue: VecDeque::new(),
            half_open: BTreeSet::new(),
            cookies: SynCookies::default(),
            stateless_replies: VecDeque::new(),
            resets: resets::reset_limit(),
            poll_cursor: None,
            active: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            default_user_timeout: None,
            punch: None,
            secure: None,
            opened: Vec::new(),
            stats: EndpointStats::default(),
            tracing: false,
            stretch_acks: false,
            trace_events: VecDeque::new(),
            trace_events_dropped: 0,
        })
    }

    /// Keep, or stop keeping, every connection's event trace (`conn::TraceEvent`), from the
    /// connections open now and from those opened later, for
    /// [`poll_trace_event`](Self::poll_trace_event).
    pub fn set_tracing(&mut self, on: bool) {
        self.tracing = on;
        for entry in self.connections.values_mut() {
            entry.connection.set_tracing(on);
        }
    }

    /// Let every connection, open now or opened later, acknowledge the in-order data fed
    /// between two polls with one ACK where RFC 5681 allows it
    /// ([`Connection::set_stretch_acks`]): for a caller that feeds datagrams in batches, as
    /// the socket drivers do. Off by default: the simulator feeds datagrams that arrive at the
    /// same instant before it polls, and its receivers acknowledge every second segment.
    pub fn set_stretch_acks(&mut self, on: bool) {
        self.stretch_acks = on;
        for entry in self.connections.values_mut() {
            entry.connection.set_stretch_acks(on);
        }
    }

    /// The oldest trace event not yet taken, and whose connection it is: those the endpoint
    /// took out of its connections first, then any a connection still holds.
    pub fn poll_trace_event(&mut self) -> Option<(ConnectionHandle, TracedEvent)> {
        if let Some(event) = self.trace_events.pop_front() {
            return Some(event);
        }
        self.connections.iter_mut().find_map(|(&handle, entry)| {
            entry
                .connection
                .poll_trace_event()
                .map(|event| (handle, event))
        })
    }

    /// Trace events lost because a queue was full (the endpoint's, or a connection's).
    pub fn trace_events_dropped(&self) -> u64 {
        self.trace_events_dropped
            + self
                .connections
                .values()
                .map(|entry| entry.connection.trace_events_dropped())
                .sum::<u64>()
    }

    /// Turn the secure mode on (docs/protocol.md section 10), before any connection opens:
    /// every connection then begins with a Noise handshake in its SYN and SYN-ACK, and every
    /// segment after it is encrypted and authenticated. A listener needs an identity
    /// ([`SecureConfig::server`]) and refuses plain SYNs; a client pins the server's key or
    /// learns it ([`peer_key`](Self::peer_key)). The MSS is capped so that a protected
    /// segment's payload, with its tag, still fits the header's length field; with path MTU
    /// discovery on, the protection comes out of the base segment's payload and the largest
    /// one's, so that protected datagrams keep the plain ones' sizes.
    pub fn set_secure(&mut self, secure: SecureConfig) {
        const PROTECTED_MSS: usize = MAX_PAYLOAD_LEN - TAG_LEN;
        self.config.mss = self.config.mss.min(PROTECTED_MSS);
        // The checked form follows: a smaller MSS leaves every other check as it was.
        self.sizes.mss = self.sizes.mss.min(PROTECTED_MSS as u16);
        // With path MTU discovery on, a protected datagram is a plain one and the protection
        // (docs/protocol.md section 10.3): its payload is that much less for the same
        // datagram, both at the base, which every path carries (RFC 8899's BASE_PLPMTU), and
        // at the largest size the search may grow a segment to, which the SYN offers.
        if self.config.plpmtud {
            let protection = (crate::wire::secure::PROTECTION_OPTION_LEN + TAG_LEN) as u16;
            let base = self.sizes.mss.saturating_sub(protection).max(1);
            self.sizes.max_mss = self
                .sizes
                .max_mss
                .saturating_sub(protection)
                .clamp(base, PROTECTED_MSS as u16);
            self.sizes.mss = base;
            self.config.mss = usize::from(base);
        }
        self.secure = Some(secure);
    }

    /// In the secure mode, the key the server of `handle` proved in its handshake (a client's
    /// connection, once its handshake is done), for a known-hosts check.
    pub fn peer_key(&self, handle: ConnectionHandle) -> Option<PublicKey> {
        self.connections
            .get(&handle)?
            .session
            .as_ref()?
            .server_key()
    }

    /// In the secure mode, the packet number the next protected datagram of `handle` gets
    /// (its count of protected datagrams sent so far), once it has keys.
    pub fn next_packet_number(&self, handle: ConnectionHandle) -> Option<u64> {
        self.connections
            .get(&handle)?
            .session
            .as_ref()?
            .next_packet_number()
    }

    /// In the secure mode, what a capture shows of `datagram`, which this endpoint `sent` to
    /// `peer` or received from it (received: call after `handle_datagram`, which may have
    /// made the connection): the plain segment and what crossed the wire. `None` for a
    /// datagram of no secure connection, or one that did not authenticate.
    pub fn reveal(&self, peer: SocketAddr, datagram: &[u8], sent: bool) -> Option<Revealed> {
        let handle = self.by_peer.get(&peer)?;
        self.connections
            .get(handle)?
            .session
            .as_ref()?
            .reveal(datagram, sent)
    }

    /// 32 octets from the injected generator: a handshake's seed.
    fn draw_seed(&mut self) -> [u8; 32] {
        let mut seed = [0; 32];
        self.isn_generator.fill_bytes(&mut seed);
        seed
    }

    /// Accept SYNs from new peers. `backlog` bounds two things, as in Linux: the connections
    /// whose handshake completed and that wait for [`accept`](Self::accept) (a SYN that finds
    /// that queue full is dropped, not refused, so the peer retries later as with TCP), and
    /// the half-open connections still in their handshake. A SYN that finds those full is
    /// answered with a SYN cookie (RFC 4987 section 3.6): a SYN-ACK whose ISN is a keyed hash
    /// of the peer's address and ISN, with nothing kept; a final ACK that carries it back opens
    /// the connection. So a flood of SYNs from forged addresses fills no table and locks no
    /// client out; and since cookies go to each source address at a bounded rate
    /// ([`SYN_COOKIES_PER_SECOND`]), SYNs forged from a victim's address reflect a trickle.
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
        self.open(remote, self.config.clone(), true, &[])
    }

    /// Open a connection to `remote` with `data` written first. In the secure mode, to a
    /// server whose key the client expects ([`SecureConfig::server_key`]), the first
    /// [`MAX_EARLY_DATA`](crate::secure::MAX_EARLY_DATA) bytes ride encrypted in the SYN
    /// (0-RTT, docs/protocol.md section 10.7): the server's application may read them one
    /// one-way delay from now. Such data can be replayed by whoever records the SYN, so send
    /// only what is safe to act on twice (an idempotent request). Otherwise, or if the server
    /// refuses 0-RTT, the data goes after the handshake as any written data does. `data`
    /// beyond what the send buffer takes is left out: the count taken comes back with the
    /// handle.
    pub fn connect_with_early_data(
        &mut self,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<(ConnectionHandle, usize), ConnectError> {
        let taken = data.len().min(self.config.send_buffer.initial());
        let handle = self.open(remote, self.config.clone(), true, &data[..taken])?;
        let taken = self
            .connections
            .get_mut(&handle)
            .and_then(|entry| entry.connection.write(&data[..taken]).ok())
            .unwrap_or(0);
        Ok((handle, taken))
    }

    /// An active open to `remote` with `config` (the endpoint's, or a punch's timers on it):
    /// the SYN goes out on the next `poll_transmit`. `secure_if_on` says whether the
    /// connection begins with the secure mode's handshake when the mode is on, and
    /// `early_data` what its SYN may carry (0-RTT).
    fn open(
        &mut self,
        remote: SocketAddr,
        config: Config,
        secure_if_on: bool,
        early_data: &[u8],
    ) -> Result<ConnectionHandle, ConnectError> {
        // A connection the application just closed frees its peer's address at once.
        if let Some(&previous) = self.by_peer.get(&remote) {
            self.settle(previous);
        }
        if self.by_peer.contains_key(&remote) {
            return Err(ConnectError::AlreadyConnected(remote));
        }
        let isn = SeqNum(self.isn_generator.next_u32());
        let offset = self.timestamp_offset(config.timestamps);
        // `config` differs from the endpoint's in timers at most, so its checked sizes hold.
        let connection = Connection::new(config, self.sizes, remote, isn, State::SynSent)
            .with_timestamp_offset(offset);
        let session = match &self.secure {
            Some(secure) if secure_if_on => {
                let expected_key = secure.server_key;
                Some(Session::initiate(
                    self.draw_seed(),
                    expected_key,
                    early_data,
                ))
            }
            _ => None,
        };
        Ok(self.insert(connection, Ownership::Owned, session))
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

    /// Whether a connection waits to be [`accept`](Self::accept)ed.
    pub fn can_accept(&self) -> bool {
        !self.accept_queue.is_empty()
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

    /// An ICMP error says nothing listens where a datagram we sent went: a port (or protocol)
    /// unreachable, for the datagram sent to `destination` (the address the error quotes),
    /// whose first bytes it quotes in `quoted` (the UDP payload, often cut short: it may hold
    /// just the start of the segment's header). Such an error is believed only if it names a
    /// connection's peer and quotes a sequence number that connection could have sent (RFC
    /// 5927 section 4.1, as TCP does, [`Connection::handle_unreachable`]): then a handshake
    /// is refused, and a synchronized connection reset (cleanly only in TIME-WAIT, as a RST
    /// ends it there). Anything else (no such peer, a quote too short to hold the sequence
    /// number, or a sequence number outside the flight: a forgery, or an error about a
    /// segment long acknowledged) changes nothing and is counted in
    /// [`EndpointStats::unreachables_ignored`]. So a forged ICMP error cannot end a
    /// connection without its sequence numbers, and a listener's connections, whose peers
    /// share one socket, hear of a dead peer as a client's does. (Host and network
    /// unreachables are soft errors, RFC 1122 section 4.2.3.9: the retransmission timers
    /// decide, so they do not come here.)
    pub fn handle_unreachable(&mut self, destination: SocketAddr, quoted: &[u8]) {
        if self.punch_takes_unreachable(destination) {
            self.stats.unreachables_ignored += 1;
            return;
        }
        let handle = self.by_peer.get(&destination).copied();
        let entry = handle.and_then(|handle| self.connections.get_mut(&handle));
        let believed = match (entry, quoted_seq(quoted)) {
            (Some(entry), Some(seq)) => entry.connection.handle_unreachable(seq),
            _ => false,
        };
        match handle {
            Some(handle) if believed => {
                self.active.insert(handle);
                self.settle(handle);
            }
            _ => self.stats.unreachables_ignored += 1,
        }
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

    /// Whether every connection the endpoint keeps is in TIME-WAIT (true with none): a socket
    /// nobody uses any more is then held only for TIME-WAIT, and a driver may count it
    /// against its cap (`crate::net`'s `time_wait`).
    pub fn only_time_wait(&self) -> bool {
        self.connections()
            .all(|(_, connection)| connection.state() == State::TimeWait)
    }

    /// Ends every connection in TIME-WAIT at once, without a segment (TIME-WAIT owes the peer
    /// nothing; it is there for the peer's repeats), and returns their handles: what a driver
    /// does to free a socket held only for TIME-WAIT, as Linux past `tcp_max_tw_buckets`.
    /// The endpoint forgets them as it polls them.
    pub fn end_time_waits(&mut self) -> Vec<ConnectionHandle> {
        let handles: Vec<_> = self
            .connections()
            .filter(|(_, connection)| connection.state() == State::TimeWait)
            .map(|(handle, _)| handle)
            .collect();
        for &handle in &handles {
            if let Some(connection) = self.connection_mut(handle) {
                connection.terminate(None);
            }
        }
        handles
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

    /// Feed one datagram that arrived from `from`. During a punch ([`punch`](Self::punch)),
    /// a rendezvous message goes to its client, and a Ferry datagram the relay carried is
    /// taken as from the peer.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if self.punch.is_none() {
            return self.handle_segment(now, from, datagram);
        }
        if let Some((from, datagram)) = self.sort_punched(now, from, datagram) {
            self.handle_segment(now, from, datagram);
            self.advance_punch(now);
        }
    }

    /// Feed one Ferry datagram from `from` to its connection, or to a passive open, or answer
    /// it as a stray.
    fn handle_segment(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if let Some(&handle) = self.by_peer.get(&from) {
            // A connection closed since the last look frees its peer: the datagram is a stray.
            self.settle(handle);
            if self.reopen_from_time_wait(now, handle, from, datagram) {
                return;
            }
            if let Some(entry) = self.connections.get_mut(&handle) {
                if !entry.connection.is_closed() {
                    self.active.insert(handle);
                    // Only an acceptable segment shows the peer is alive: a forged trickle
                    // must not keep the user timeout from firing.
                    let accepted_before = entry.connection.segments_accepted();
                    let opened = &mut self.opened;
                    match entry
                        .session
                        .as_mut()
                        .map(|session| session.open(datagram, opened))
                    {
                        None | Some(Opened::Invalid) => {
                            entry.connection.handle_datagram(now, datagram);
                        }
                        Some(Opened::Protected(segment)) => {
                            entry.connection.handle_segment(now, &segment);
                        }
                        Some(Opened::Deliver(plain)) => {
                            entry.connection.handle_datagram(now, &plain);
                            let taken = entry
                                .session
                                .as_mut()
                                .and_then(Session::take_early_data_taken);
                            if let Some(len) = taken {
                                entry.connection.early_data_delivered(len);
                            }
                        }
                        Some(Opened::Answer(syn_ack)) => {
                            if self.stateless_replies.len() < STATELESS_REPLY_QUEUE {
                                self.stateless_replies.push_back(Transmit {
                                    destination: from,
                                    contents: syn_ack,
                                    reason: Reason::Handshake,
                                });
                            }
                        }
                        Some(Opened::Retried(syn)) => {
                            self.stats.retries_taken += 1;
                            if self.stateless_replies.len() < STATELESS_REPLY_QUEUE {
                                self.stateless_replies.push_back(Transmit {
                                    destination: from,
                                    contents: syn,
                                    reason: Reason::Handshake,
                                });
                            }
                        }
                        Some(Opened::Unauthenticated) => {
                            self.stats.discarded_unauthenticated += 1;
                        }
                        Some(Opened::Failed(error)) => entry.connection.terminate(Some(error)),
                        Some(Opened::Reset) => {
                            self.stats.stateless_resets_received += 1;
                            entry.connection.on_stateless_reset();
                        }
                    }
                    if entry.connection.segments_accepted() > accepted_before {
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
        if self.secure.is_some() {
            match SecureOption::find(datagram) {
                Some(SecureOption::Handshake(message)) if is_connection_request => {
                    if !self.retry_unvalidated_syn(now, from, &segment, message) {
                        self.open_secure(now, from, datagram, message, false);
                    }
                    return;
                }
                Some(SecureOption::EarlyHandshake) if is_connection_request => {
                    if !self.retry_unvalidated_syn(now, from, &segment, segment.payload) {
                        self.open_secure(now, from, datagram, segment.payload, true);
                    }
                    return;
                }
                Some(SecureOption::TokenHandshake { token, message }) if is_connection_request => {
                    if self.validates_retry_token(now, from, &segment, message, &token) {
                        self.open_secure(now, from, datagram, message, false);
                    }
                    return;
                }
                Some(SecureOption::TokenEarlyHandshake(token)) if is_connection_request => {
                    let message = segment.payload;
                    if self.validates_retry_token(now, from, &segment, message, &token) {
                        self.open_secure(now, from, datagram, message, true);
                    }
                    return;
                }
                Some(SecureOption::Protection { connection_id, .. }) => {
                    self.send_stateless_reset(now, from, &segment, &connection_id);
                    return;
                }
                Some(_) => {
                    self.stats.discarded_unauthenticated += 1;
                    return;
                }
                None if is_connection_request && self.listen_backlog.is_some() => {
                    // Never a plain connection on a secure endpoint: refused, as a port
                    // where nothing plain listens.
                    self.stats.plain_syns_refused += 1;
                    self.reset_stray(now, from, &segment);
                    return;
                }
                None => {}
            }
        }
        if is_connection_request && self.listen_backlog.is_some() {
            self.open_passive(now, from, &segment, None, None);
            return;
        }
        if self.listen_backlog.is_some() && self.accept_cookie(now, from, &segment) {
            return;
        }
        self.reset_stray(now, from, &segment);
    }

    /// The offset of a new connection's timestamp clock (RFC 7323 section 7.1), drawn from the
    /// generator the ISNs come from if the connection will use timestamps (`wanted`): 0
    /// otherwise, and then nothing is drawn, so that every later ISN is what it was before
    /// timestamps existed (the labs' captures pin them).
    fn timestamp_offset(&mut self, wanted: bool) -> u32 {
        if wanted {
            self.isn_generator.next_u32()
        } else {
            0
        }
    }

    /// Take a SYN from `from`, a peer without an open connection, while listening: a passive
    /// open (with ISN `isn`, or one drawn from the generator), or a SYN cookie if the
    /// half-open table is full, or nothing if the accept queue is (the client's SYN
    /// retransmission tries again).
    fn open_passive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        syn: &Segment<'_>,
        isn: Option<SeqNum>,
        session: Option<Session>,
    ) {
        let Some(backlog) = self.listen_backlog else {
            return;
        };
        if self.accept_queue.len() >= backlog {
            self.stats.syns_dropped += 1;
        } else if self.half_open.len() >= backlog {
            if self.secure.is_some() {
                // A cookie cannot keep a Noise handshake's state: the SYN's retry tries again.
                self.stats.syns_dropped += 1;
            } else {
                self.send_syn_cookie(now, from, syn);
            }
        } else {
            let isn = isn.unwrap_or_else(|| SeqNum(self.isn_generator.next_u32()));
            let offset =
                self.timestamp_offset(self.config.timestamps && syn.options.timestamps.is_some());
            let mut connection =
                Connection::new(self.config.clone(), self.sizes, from, isn, State::Listen)
                    .with_timestamp_offset(offset);
            // Traced from its SYN on, so that a listener's trace shows what opened it.
            connection.set_tracing(self.tracing);
            connection.handle_segment(now, syn);
            let handle = self.insert(connection, Ownership::Unaccepted, session);
            self.half_open.insert(handle);
        }
    }

    /// Take a secure SYN (`datagram`, with the handshake `message`, a 0-RTT one if
    /// `zero_rtt`) from `from`, a peer without an open connection: read the handshake's first
    /// message and open passively with the SYN it carries, or drop a message that does not
    /// read.
    fn open_secure(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        message: &[u8],
        zero_rtt: bool,
    ) {
        let Some((identity, refuse_early_data)) = self
            .secure
            .as_ref()
            .and_then(|secure| Some((secure.identity.clone()?, secure.refuse_early_data)))
        else {
            self.stats.discarded_unauthenticated += 1;
            return;
        };
        let Some(backlog) = self.listen_backlog else {
            self.stats.discarded_unauthenticated += 1;
            return;
        };
        if self.accept_queue.len() >= backlog || self.half_open.len() >= backlog {
            // Before the handshake's work: a full listener spends nothing on a flood.
            self.stats.syns_dropped += 1;
            return;
        }
        let seed = self.draw_seed();
        let mut connection_id = [0; CONNECTION_ID_LEN];
        self.isn_generator.fill_bytes(&mut connection_id);
        let answer = Session::answer(
            &identity,
            seed,
            connection_id,
            from,
            datagram,
            message,
            zero_rtt,
            refuse_early_data,
        );
        let Some((session, syn, early_data)) = answer else {
            self.stats.discarded_unauthenticated += 1;
            // A 0-RTT message that does not read was most likely encrypted to another key
            // (a stale pin): say so, or the client would repeat it for minutes. A plain
            // listener answers a stray with a RST as well; this one carries no more.
            if let (true, Ok(syn)) = (zero_rtt, Segment::parse(datagram)) {
                self.refuse_unreadable_early_handshake(now, from, &syn);
            }
            return;
        };
        match early_data {
            EarlyData::None => {}
            EarlyData::Accepted => self.stats.early_data_accepted += 1,
            EarlyData::Refused => self.stats.early_data_refused += 1,
        }
        let syn = Segment::parse(&syn).expect("Session::answer checked the SYN");
        self.open_passive(now, from, &syn, None, Some(session));
    }

    /// If `handle`, the connection to `from`, is in TIME-WAIT and `datagram` is a SYN that
    /// may open a new incarnation at once ([`Connection::reincarnation_iss`]), end the old
    /// one and take the SYN as from a new peer, and say so. Otherwise the connection answers
    /// the SYN (a challenge ACK), and the client tries again after its SYN's retransmission
    /// timeout, once the RST it answers that ACK with has ended our TIME-WAIT. A SYN that
    /// the full accept queue would drop leaves TIME-WAIT alone.
    fn reopen_from_time_wait(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        from: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Some(backlog) = self.listen_backlog else {
            return false;
        };
        let Some(entry) = self.connections.get_mut(&handle) else {
            return false;
        };
        // In the secure mode the SYN holds a handshake that a new session must read: the old
        // connection answers it (a challenge ACK), and the client's SYN retry, after
        // TIME-WAIT, opens the new one.
        if entry.connection.state() != State::TimeWait
            || self.accept_queue.len() >= backlog
            || self.secure.is_some()
        {
            return false;
        }
        let Ok(syn) = Segment::parse(datagram) else {
            return false;
        };
        let Some(isn) = entry.connection.reincarnation_iss(&syn) else {
            return false;
        };
        entry.connection.terminate(None);
        self.stats.time_wait_reopened += 1;
        self.active.insert(handle);
        self.settle(handle);
        self.open_passive(now, from, &syn, Some(isn), None);
        true
    }

    /// Run the timers that are due at `now`, and the user timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(punch) = &mut self.punch {
            if punch.client_due(now) {
                self.advance_punch(now);
            }
        }
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

    /// The next datagram to send, taking the active connections in turn. During a punch,
    /// the client's messages come first, and the connection's datagrams go through the
    /// relay once the client relays.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.punch.is_none() {
            return self.poll_connections(now);
        }
        if let Some(message) = self.poll_punch_transmit(now) {
            return Some(message);
        }
        let transmit = self.poll_connections(now)?;
        Some(self.route_punched(transmit))
    }

    /// The next datagram from the stateless replies or the connections.
    fn poll_connections(&mut self, now: Instant) -> Option<Transmit> {
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
            let mut early_data_taken = false;
            let transmit = self.connections.get_mut(&handle).and_then(|entry| {
                let mut transmit = entry.connection.poll_transmit(now)?;
                if let Some(session) = &mut entry.session {
                    transmit.contents = session.seal(std::mem::take(&mut transmit.contents));
                    // A server's 0-RTT data goes to its connection once the SYN-ACK is
                    // sealed: the connection is then past its handshake.
                    if let Some(early) = session.take_early_segment() {
                        entry.connection.handle_untimed_datagram(now, &early);
                        early_data_taken = true;
                    }
                }
                Some(transmit)
            });
            if early_data_taken {
                self.settle(handle);
            }
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
        let punch = self
            .punch_client()
            .and_then(crate::rendezvous::Client::poll_timeout);
        booked.into_iter().chain(active).chain(punch).min()
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

    fn insert(
        &mut self,
        mut connection: Connection,
        ownership: Ownership,
        session: Option<Session>,
    ) -> ConnectionHandle {
        if self.tracing {
            connection.set_tracing(true);
        }
        connection.set_stretch_acks(self.stretch_acks);
        let handle = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.by_peer.insert(connection.remote(), handle);
        if session.is_some() {
            connection.leave_checksum_to_sealer();
        }
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
                session,
            },
        );
        self.active.insert(handle);
        handle
    }

    /// Bring the endpoint's books up to date with one connection: queue it for `accept` once
    /// a passive open connects; once it is closed, free its peer's address, and forget it if
    /// nobody will ask about it (never accepted, or detached).
    fn settle(&mut self, handle: ConnectionHandle) {
        let Some(entry) = self.connections.get_mut(&handle) else {
            return;
        };
        while let Some(event) = entry.connection.poll_trace_event() {
            if self.trace_events.len() < MAX_TRACE_EVENTS {
                self.trace_events.push_back((handle, event));
            } else {
                self.trace_events_dropped += 1;
            }
        }
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
        Reason::Handshake
            | Reason::Ack
            | Reason::ChallengeAck
            | Reason::PawsAck
            | Reason::WindowUpdate
            | Reason::Rst
    )
}
