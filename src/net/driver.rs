//! The socket driver: one UDP socket, one sans-IO [`Endpoint`], and a thread that feeds the
//! endpoint what arrives and runs its timers. The only code in Ferry that reads the OS clock.
//!
//! A listener's socket has a driver thread of its own, whose poll also holds the sockets of
//! the connections it accepted (`peer_sockets.rs`): each is read and written as the main one
//! (`driver_socket.rs`), into the one endpoint. Client sockets (one per `Stream::connect`)
//! share one thread, the poller (`poller.rs`).
//!
//! Application threads act on the endpoint under the same lock; they wake the driver (a
//! `mio::Waker`) only when the next deadline moved earlier than the one it sleeps for. Nothing
//! spins: the driver sleeps in `mio::Poll` until a datagram arrives, a deadline comes, or it is
//! woken.
//!
//! A thread blocked on its connection may wait on the socket in the driver's place and take
//! in what arrives itself (`inline_receive.rs`), so that a datagram ending its wait wakes it
//! directly.
//!
//! No thread holds the lock across a system call. The driver receives a batch of datagrams
//! before it takes the lock. What the endpoint emits goes into an outbox under the lock, and
//! releasing the lock ([`Locked`]) sends it: one thread at a time, so datagrams leave in the
//! order they were emitted, the others leaving theirs to it. The outbox leaves in batches
//! (`sendmmsg`, UDP GSO: `udp_io.rs`, shared with the tokio driver).

use crate::secure::Identity;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::close::{self, Closes};
use super::driver_socket::DriverSocket;
use super::fine_timer::FineTimer;
use super::inbox::Inbox;
use super::peer_sockets::{self, PeerSockets};
use super::poller::Poller;
use super::ready::{self, ReadySignals};
use super::socket;
use super::socket_link::SocketLink;
use super::stream::StreamState;
use super::time_wait::{self, EndTimeWait};
use super::wake::{WaitFor, Waiters};
use super::SocketConfig;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::FaultStats;
use crate::time::Instant;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
const TIMER: Token = Token(2);

/// 256 bits from the OS, to seed an endpoint's generator when nothing asks for a repeatable
/// run: its initial sequence numbers, and in the secure mode its ephemeral keys, which need
/// more than a 64-bit seed's worth of surprise.
#[allow(clippy::disallowed_methods)] // the driver is where the OS's randomness enters Ferry
pub(crate) fn os_random_key() -> [u8; 32] {
    rand::random()
}

/// A new server identity for the secure mode (`SocketConfig::secure`), from the OS's
/// randomness. Keep its [`private_key`](Identity::private_key) to stay the same server
/// across restarts: clients pin its public key.
pub fn new_identity() -> Identity {
    Identity::from_private_key(os_random_key())
}

/// The OS clock, read in one place.
#[allow(clippy::disallowed_methods)] // the driver is where time enters Ferry
pub(crate) fn os_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Everything behind the lock.
pub(crate) struct DriverState {
    pub(crate) endpoint: Endpoint,
    /// The faults, capture and trace sink between the endpoint and the socket.
    link: SocketLink,
    /// When the driver thread will look again on its own; `None` while it is awake.
    driver_wakes_at: Option<Instant>,
    /// Streams and listeners alive: the driver ends once none is and no connection is left.
    pub(crate) users: usize,
    /// The first error the socket gave, for every caller to see.
    pub(crate) socket_error: Option<io::ErrorKind>,
    /// Each connection's linger, and the closes still under way.
    pub(crate) closes: Closes,
    /// What the clones of each stream share: their options.
    pub(crate) streams: HashMap<ConnectionHandle, StreamState>,
    /// The condition variables blocked threads sleep on, one for each thing waited for.
    pub(crate) waiters: Waiters,
    /// The readiness handles a poll loop waits on, for the streams and listener that gave
    /// one out.
    pub(crate) ready: ReadySignals,
}

/// Datagrams waiting to be sent, oldest first, behind a lock of their own: the endpoint's
/// lock is never held while they go (see [`Locked`]). A datagram is queued when the endpoint
/// emits it and goes when the endpoint's lock is released.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    /// A thread is sending; others leave their datagrams to it.
    sending: bool,
    /// An empty queue whose buffer the next batch reuses.
    spare: VecDeque<(SocketAddr, Vec<u8>)>,
}

/// The lock on a socket's state. Releasing it sends what the endpoint emitted meanwhile,
/// outside the lock, unless another thread is already sending (it then sends these too).
pub(crate) struct Locked<'a> {
    shared: &'a Shared,
    /// Always `Some` but in `wait` (while it sends or sleeps) and in `drop`.
    guard: Option<MutexGuard<'a, DriverState>>,
}

impl Deref for Locked<'_> {
    type Target = DriverState;
    fn deref(&self) -> &DriverState {
        match &self.guard {
            Some(guard) => guard,
            None => unreachable!("a Locked holds its guard outside wait and drop"),
        }
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut DriverState {
        match &mut self.guard {
            Some(guard) => guard,
            None => unreachable!("a Locked holds its guard outside wait and drop"),
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // The endpoint's lock first, then what it emitted goes, and the readiness handles
        // show what changed.
        let ready_changes = self
            .guard
            .as_mut()
            .map(|guard| guard.ready.take_pending())
            .unwrap_or_default();
        drop(self.guard.take());
        self.shared.send_outbox();
        ready::apply(ready_changes);
    }
}

/// What application threads and the driver thread share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<DriverState>,
    /// The socket bound by `Stream::connect` or `Listener::bind`.
    main: Arc<DriverSocket>,
    /// A listener's: the sockets of its accepted connections (`peer_sockets.rs`), each
    /// registered in its driver's poll. Locked after the endpoint's lock, never before.
    peers: Mutex<PeerSockets>,
    outbox: Mutex<Outbox>,
    /// Who drives the socket: a thread of its own, or the shared [`Poller`].
    host: Host,
    local_addr: SocketAddr,
    /// Whether its sockets refuse fragmentation: path MTU discovery is on (`socket::open`).
    path_mtu_discovery: bool,
    /// A listener whose accepted connections may have sockets of their own on its port
    /// (`peer_sockets.rs`).
    shares_port: bool,
    epoch: std::time::Instant,
    /// Its place among the sockets held only for TIME-WAIT (`time_wait.rs`). Last, so that
    /// it is dropped after the socket: a connect waiting for the descriptor learns it closed.
    time_wait: time_wait::Place,
}

/// Who runs a socket's driver loop.
enum Host {
    /// A thread of its own, woken by this waker; the socket is in this registry's poll.
    OwnThread(Waker, mio::Registry),
    /// The shared poller, which knows the socket by this token.
    Poller(Token),
}

impl Shared {
    /// Bind a socket and start its driver thread. `peer`, if given, connects the socket to it
    /// (a client's socket talks to one peer).
    pub(crate) fn start(
        local: SocketAddr,
        peer: Option<SocketAddr>,
        config: &SocketConfig,
    ) -> io::Result<Arc<Shared>> {
        let endpoint = socket::endpoint(config)?;
        // No descriptor left: the oldest socket held for TIME-WAIT gives its own.
        let socket = time_wait::open_with_descriptor(|| {
            socket::open(local, peer, config.connection.plpmtud)
        })?;
        let mut socket = UdpSocket::from_std(socket);
        let local_addr = socket.local_addr()?;
        // Its accepted connections' sockets join its port (`peer_sockets.rs`); without,
        // they stay on this one.
        let shares_port = config.backlog.is_some()
            && peer_sockets::enabled()
            && socket::share_port(&socket).is_ok();
        // A listener gets a thread of its own; client sockets share the poller's.
        let (host, own_poll) = if peer.is_some() {
            (Host::Poller(Poller::get()?.register(&mut socket)?), None)
        } else {
            let poll = Poll::new()?;
            poll.registry()
                .register(&mut socket, SOCKET, Interest::READABLE)?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let timer = FineTimer::new(poll.registry(), TIMER)?;
            let registry = poll.registry().try_clone()?;
            (Host::OwnThread(waker, registry), Some((poll, timer)))
        };
        let epoch = os_now();
        let link = SocketLink::new(config, local_addr)?;
        let main_token = match &host {
            Host::Poller(token) => *token,
            Host::OwnThread(..) => SOCKET,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(DriverState {
                endpoint,
                link,
                driver_wakes_at: None,
                users: 1,
                socket_error: None,
                closes: Closes::new(config.linger),
                streams: HashMap::new(),
                waiters: Waiters::default(),
                ready: ReadySignals::default(),
            }),
            main: Arc::new(DriverSocket::new(socket, main_token, peer)),
            peers: Mutex::new(PeerSockets::default()),
            outbox: Mutex::new(Outbox::default()),
            host,
            local_addr,
            path_mtu_discovery: config.connection.plpmtud,
            shares_port,
            epoch,
            time_wait: time_wait::Place::default(),
        });
        match (&shared.host, own_poll) {
            (Host::Poller(token), _) => Poller::get()?.adopt(*token, Arc::clone(&shared)),
            (Host::OwnThread(..), Some((poll, timer))) => {
                let driver = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("ferry driver {local_addr}"))
                    .spawn(move || driver.run(poll, timer))?;
            }
            (Host::OwnThread(..), None) => unreachable!("a thread of its own has its own poll"),
        }
        close::register_for_exit(&shared);
        Ok(shared)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Set the time-to-live of every datagram the socket sends (see [`socket::set_ttl`]),
    /// and its accepted connections' sockets.
    pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.main.set_ttl(self.local_addr, ttl)?;
        for socket in self.lock_peers().all() {
            socket.set_ttl(self.local_addr, ttl)?;
        }
        Ok(())
    }

    /// The time-to-live of the datagrams the socket sends; see [`socket::ttl`].
    pub(crate) fn ttl(&self) -> io::Result<u32> {
        socket::ttl(&self.main.socket, self.local_addr)
    }

    fn lock_peers(&self) -> MutexGuard<'_, PeerSockets> {
        self.peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last stream of `handle`, a connection to `peer`, is gone: its own socket closes
    /// once the endpoint has forgotten it. Called under the endpoint's lock.
    pub(crate) fn release_peer_socket(&self, handle: ConnectionHandle, peer: SocketAddr) {
        self.lock_peers().released(handle, peer);
    }

    /// Give the connection `handle`, accepted from `peer`, a socket of its own
    /// (`peer_sockets.rs`), if the listener's driver has a thread of its own to watch it and
    /// the process a descriptor to spare; otherwise it stays on the listener's socket. Call it
    /// without the endpoint's lock: it makes system calls.
    fn give_peer_socket(&self, handle: ConnectionHandle, peer: SocketAddr) {
        let Host::OwnThread(_, registry) = &self.host else {
            return;
        };
        if !self.shares_port {
            return;
        }
        let ttl = self.ttl().ok();
        let Some(mut socket) =
            peer_sockets::open(self.local_addr, peer, ttl, self.path_mtu_discovery)
        else {
            return;
        };
        let token = self.lock_peers().next_token();
        if registry
            .register(&mut socket, token, Interest::READABLE)
            .is_err()
        {
            return;
        }
        let socket = DriverSocket::new(socket, token, Some(peer));
        self.lock_peers().insert(peer, handle, socket);
        // What arrived before it was registered is read on the driver's next turn.
        self.lock_peers().mark_pending(token);
        self.wake_driver();
    }

    /// Ferry's time now: microseconds since the driver started.
    pub(crate) fn now(&self) -> Instant {
        let elapsed = os_now().saturating_duration_since(self.epoch);
        Instant::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    /// The OS-clock instant of a Ferry instant.
    pub(crate) fn os_instant(&self, at: Instant) -> std::time::Instant {
        self.epoch + at.since_epoch()
    }

    /// The lock; releasing it sends what is queued (see [`Locked`]).
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            shared: self,
            guard: Some(self.raw_lock()),
        }
    }

    /// The mutex itself, even if a thread panicked while holding it: the endpoint never
    /// panics, so its state stays consistent.
    fn raw_lock(&self) -> MutexGuard<'_, DriverState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wait for a change to what `on` names, until `deadline` (an OS-clock instant) if given.
    /// Returns the guard and whether the deadline passed. Only changes to that thing wake the
    /// thread (see [`wake`](super::wake)), though a wake-up may still find nothing new.
    pub(crate) fn wait<'a>(
        &self,
        locked: Locked<'a>,
        on: WaitFor,
        deadline: Option<std::time::Instant>,
    ) -> (Locked<'a>, bool) {
        self.wait_with(locked, on, deadline, false)
    }

    /// [`wait`](Self::wait) for data to read on `handle`; on the socket itself, if no other
    /// thread waits there and what this end wrote is not all acknowledged (`inline_receive.rs`):
    /// a request awaiting its answer, whose datagram then wakes this thread alone. A reader
    /// with nothing of its own in flight (a bulk receiver) and a writer waiting for
    /// acknowledgments leave the receiving to the driver, which then takes the next batch in
    /// on one core while they copy on the other: taking it in themselves cost a bulk transfer
    /// 15 to 20% of its goodput on loopback.
    pub(crate) fn wait_to_read<'a>(
        &self,
        mut locked: Locked<'a>,
        handle: ConnectionHandle,
        deadline: Option<std::time::Instant>,
    ) -> (Locked<'a>, bool) {
        let connection = locked.endpoint.connection(handle);
        let awaiting_answer = connection.is_some_and(|connection| !connection.is_send_complete());
        let asked = locked
            .streams
            .get(&handle)
            .is_none_or(|stream| stream.own_socket_asked);
        let wants_own_socket = self.shares_port && !asked;
        if let Some(peer) = connection
            .filter(|connection| wants_own_socket && connection.bytes_sent() > 0)
            .map(|connection| connection.remote())
        {
            // The first time a thread waits to read on an accepted connection that has
            // written (a server answering requests), it gets a socket of its own
            // (`peer_sockets.rs`), made without the lock (system calls); the caller looks
            // again, as after any wake-up. Not before: a receiver that only reads leaves its
            // datagrams to the driver, and their coming through a second socket cost it more
            // per batch (at MTU 1500 `ferry recv` went at 2.4 to 4.8 Gbit/s, 5.6 to 6.8
            // without).
            if let Some(stream) = locked.streams.get_mut(&handle) {
                stream.own_socket_asked = true;
            }
            let this: &'a Shared = locked.shared;
            drop(locked);
            this.give_peer_socket(handle, peer);
            let timed_out = deadline.is_some_and(|deadline| os_now() >= deadline);
            return (this.lock(), timed_out);
        }
        self.wait_with(
            locked,
            WaitFor::Connection(handle),
            deadline,
            awaiting_answer,
        )
    }

    fn wait_with<'a>(
        &self,
        mut locked: Locked<'a>,
        on: WaitFor,
        deadline: Option<std::time::Instant>,
        on_the_socket: bool,
    ) -> (Locked<'a>, bool) {
        let left = deadline.map(|deadline| deadline.saturating_duration_since(os_now()));
        if left.is_some_and(|left| left.is_zero()) {
            return (locked, true);
        }
        // What this thread queued goes before it sleeps, with the lock released. What it
        // waits for may happen meanwhile, its wake-up lost: so it returns, for the caller to
        // look again, as after any wake-up.
        if locked.shared.outbox_waiting() || locked.ready.has_pending() {
            let ready_changes = locked.ready.take_pending();
            drop(locked.guard.take());
            locked.shared.send_outbox();
            ready::apply(ready_changes);
            locked.guard = Some(locked.shared.raw_lock());
            let timed_out = deadline.is_some_and(|deadline| os_now() >= deadline);
            return (locked, timed_out);
        }
        let mut locked = if on_the_socket {
            match Shared::receive_while_waiting(locked, on, left, deadline) {
                Ok(done) => return done,
                Err(locked) => locked,
            }
        } else {
            locked
        };
        let Some(mut guard) = locked.guard.take() else {
            unreachable!("send_outbox gives the guard back")
        };
        let condvar = guard.waiters.enter(on);
        let mut guard = match left {
            None => condvar
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(left) => {
                condvar
                    .wait_timeout(guard, left)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
        };
        guard.waiters.leave(on);
        let timed_out = deadline.is_some_and(|deadline| os_now() >= deadline);
        locked.guard = Some(guard);
        (locked, timed_out)
    }

    /// After an application call on `acted_on` (`None`: on the socket as a whole): send what
    /// the endpoint has to send, wake the driver if it now has to look earlier than it planned
    /// to, and wake the threads waiting on what changed.
    pub(crate) fn after_application_call(
        &self,
        state: &mut DriverState,
        acted_on: Option<ConnectionHandle>,
    ) {
        let now = self.now();
        self.flush(state, now);
        if state.driver_late() {
            self.wake_driver();
        }
        match acted_on {
            Some(handle) => state.waiters.notify_connection(handle),
            None => state.waiters.notify_everyone(),
        }
        state.update_readiness();
    }

    pub(crate) fn wake_driver(&self) {
        match &self.host {
            // If the wake-up fails, the driver still wakes at its planned deadline.
            Host::OwnThread(waker, _) => {
                let _ = waker.wake();
            }
            Host::Poller(token) => Poller::wake_socket(*token),
        }
    }

    /// Send every datagram the endpoint (or the fault injector's delay) has ready.
    fn flush(&self, state: &mut DriverState, now: Instant) {
        // One hold of the outbox's lock for the whole burst, not one per datagram (the lock
        // order is the endpoint's, then the outbox's, as in `wait`).
        let mut outbox = self.lock_outbox();
        let DriverState { endpoint, link, .. } = state;
        link.transmit(endpoint, now, |peer, bytes| {
            outbox.queue.push_back((peer, bytes));
        });
        drop(outbox);
        link.flush_taps(endpoint);
    }

    fn lock_outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether datagrams wait to be sent and nobody is sending them.
    fn outbox_waiting(&self) -> bool {
        let outbox = self.lock_outbox();
        !outbox.sending && !outbox.queue.is_empty()
    }

    /// Send the queued datagrams, and those queued meanwhile, unless another thread is
    /// sending (it sends them). Called without the endpoint's lock; takes it only if a send
    /// failed, to record why.
    fn send_outbox(&self) {
        let mut outbox = self.lock_outbox();
        if outbox.sending {
            return;
        }
        loop {
            if outbox.queue.is_empty() {
                outbox.sending = false;
                return;
            }
            outbox.sending = true;
            // The sent batch's buffer comes back as the next queue, so steady sending does not
            // allocate.
            let spare = std::mem::take(&mut outbox.spare);
            let mut batch = std::mem::replace(&mut outbox.queue, spare);
            drop(outbox);
            self.send_batch(batch.make_contiguous());
            batch.clear();
            outbox = self.lock_outbox();
            outbox.spare = batch;
        }
    }

    /// Send `batch` in order, each datagram through its peer's own socket if it has one
    /// (`peer_sockets.rs`), the others through the main socket; record a socket's failure.
    fn send_batch(&self, batch: &[(SocketAddr, Vec<u8>)]) {
        let mut start = 0;
        while start < batch.len() {
            // The longest run from `start` that leaves through one socket.
            let (socket, run) = {
                let peers = self.lock_peers();
                if peers.is_empty() {
                    (Arc::clone(&self.main), batch.len() - start)
                } else {
                    let socket_of = |peer| peers.for_peer(peer).unwrap_or(&self.main);
                    let socket = socket_of(batch[start].0);
                    let run = batch[start..]
                        .iter()
                        .take_while(|(peer, _)| Arc::ptr_eq(socket_of(*peer), socket))
                        .count();
                    (Arc::clone(socket), run)
                }
            };
            let report = socket.send(&batch[start..start + run], |(peer, bytes)| {
                (*peer, bytes.as_slice())
            });
            if let Some(kind) = report.failed {
                self.raw_lock().socket_failed(kind);
            }
            if socket.icmp_waiting() {
                // The driver reads what the error says; it may be asleep.
                if !Arc::ptr_eq(&socket, &self.main) {
                    self.lock_peers().mark_pending(socket.token);
                }
                self.wake_driver();
            }
            start += run;
        }
    }

    /// The driver thread of a socket with a thread of its own: turn, then sleep until the
    /// next deadline, a datagram or a wake-up.
    fn run(self: Arc<Self>, mut poll: Poll, mut timer: FineTimer) {
        let mut inbox = Inbox::default();
        let mut events = Events::with_capacity(64);
        // The connections' sockets to receive from (`peer_sockets.rs`).
        let mut peers_ready = Vec::new();
        // Whether the main socket may hold datagrams: once its connections have sockets of
        // their own, most turns have nothing there, and a receive that finds so costs a
        // system call per batch of theirs.
        let mut main_ready = true;
        loop {
            main_ready |=
                events.iter().any(|event| event.token() == SOCKET) || self.main.icmp_waiting();
            peers_ready.extend(
                events
                    .iter()
                    .map(|event| event.token())
                    .filter(|token| token.0 >= peer_sockets::FIRST_PEER_TOKEN),
            );
            self.lock_peers().take_pending(&mut peers_ready);
            self.receive_from_peers(&mut peers_ready, &mut inbox);
            let Some(mut next) = self.turn(&mut inbox, main_ready) else {
                return;
            };
            // A full batch, or a timer due: look again.
            main_ready = next.is_some_and(|at| at <= self.now());
            if !peers_ready.is_empty() {
                // More wait in a connection's socket.
                next = Some(self.now());
            }
            let wait = next.map(|at| at.saturating_duration_since(self.now()));
            if let Err(error) = timer.poll(&mut poll, &mut events, wait) {
                if error.kind() != io::ErrorKind::Interrupted {
                    self.lock().socket_failed(error.kind());
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Take in a batch from each of `ready`, the sockets of accepted connections the poll
    /// found readable, as a turn does from the main socket; leave in `ready` those in which
    /// more may wait.
    fn receive_from_peers(&self, ready: &mut Vec<Token>, inbox: &mut Inbox) {
        if ready.is_empty() {
            return;
        }
        ready.sort_unstable();
        ready.dedup();
        let sockets: Vec<Arc<DriverSocket>> = {
            let peers = self.lock_peers();
            ready
                .iter()
                .filter_map(|&token| peers.for_token(token).cloned())
                .collect()
        };
        ready.clear();
        for socket in sockets {
            let (mut locked, more_waiting) = self.receive_and_lock(&socket, inbox);
            let now = self.now();
            locked.take_in(inbox, now);
            self.after_taking_in(&mut locked, false);
            if more_waiting {
                ready.push(socket.token);
            }
        }
    }

    /// One turn of the driver loop: receive a batch from the main socket (if `receive`: it
    /// may hold some), run the timers, send, wake the threads whose connections changed. Returns when to look again (`Some(None)`: only when
    /// something arrives or wakes it), or `None` once nothing uses the socket any more.
    pub(super) fn turn(
        self: &Arc<Self>,
        inbox: &mut Inbox,
        receive: bool,
    ) -> Option<Option<Instant>> {
        let (mut locked, more_waiting) = if receive {
            self.receive_and_lock(&self.main, inbox)
        } else {
            inbox.clear();
            (self.lock(), false)
        };
        let state = &mut *locked;
        state.driver_wakes_at = None;
        let now = self.now();
        state.take_in(inbox, now);
        // Timers change few connections, and which is unknown: compare the ones threads wait
        // on, before and after.
        let timers_due = state.endpoint.poll_timeout().is_some_and(|due| due <= now);
        let state = &mut *state;
        let watched = if timers_due {
            state.waiters.watched(&state.endpoint)
        } else {
            Vec::new()
        };
        // Only when a timer is due: with none, it would only walk the timer table (and
        // allocate) to find so, on every turn of a busy socket.
        if timers_due {
            state.endpoint.handle_timeout(now);
        }
        self.flush(state, now);
        if timers_due {
            state.waiters.notify_changed(&state.endpoint, &watched);
        }
        state.waiters.notify_heard(&state.endpoint);
        state.update_readiness();
        if state.users == 0 && state.endpoint.connections().next().is_none() {
            return None;
        }
        {
            let mut peers = self.lock_peers();
            if peers.any_released() {
                peers.close_forgotten(&state.endpoint);
            }
        }
        let next = if more_waiting {
            Some(now)
        } else {
            state.next_deadline()
        };
        state.driver_wakes_at = Some(next.unwrap_or(Instant::from_micros(u64::MAX)));
        let unused = state.users == 0;
        let only_time_wait = unused && state.endpoint.only_time_wait();
        // Without the lock: holding this socket may end another's TIME-WAIT, under its lock.
        drop(locked);
        if unused {
            // No thread can wait on the socket any more.
            self.main.drop_interrupt();
        }
        if only_time_wait && !self.time_wait.is_held() {
            let me: std::sync::Weak<Shared> = Arc::downgrade(self);
            self.time_wait.hold(me);
        }
        Some(next)
    }

    /// Take a batch of the datagrams waiting in `socket` into `inbox` (without the lock),
    /// then the lock, to feed them in (`DriverState::take_in`) before any other thread that
    /// receives from it. Returns the lock and whether more may be waiting.
    fn receive_and_lock(&self, socket: &DriverSocket, inbox: &mut Inbox) -> (Locked<'_>, bool) {
        let order = socket.receive_order();
        let more_waiting = socket.receive_batch(inbox);
        let locked = self.lock();
        drop(order);
        (locked, more_waiting)
    }

    /// Wait for `on` as [`wait`](Self::wait) does, but on the socket itself, taking in what
    /// arrives (`inline_receive.rs`): the connection's own socket if it has one
    /// (`peer_sockets.rs`), the main one if not. `Err` gives the lock back untouched when this
    /// thread cannot: another one already does, it has no eventfd, or the driver could not be
    /// told.
    fn receive_while_waiting<'a>(
        mut locked: Locked<'a>,
        on: WaitFor,
        left: Option<Duration>,
        deadline: Option<std::time::Instant>,
    ) -> Result<(Locked<'a>, bool), Locked<'a>> {
        let this: &'a Shared = locked.shared;
        let socket = this.socket_for(&locked, on);
        let interrupt = match socket.interrupt() {
            Some(Some(interrupt)) => interrupt,
            Some(None) => return Err(locked),
            None => {
                // The socket's first such wait: its eventfd is made without the endpoint's
                // lock (they are system calls), and the caller looks again, as after any
                // wake-up, before it waits with it.
                drop(locked);
                socket.make_interrupt();
                let timed_out = deadline.is_some_and(|deadline| os_now() >= deadline);
                return Ok((this.lock(), timed_out));
            }
        };
        if !socket.take_receiver() {
            return Err(locked);
        }
        locked.waiters.enter_polling(on, interrupt.clone());
        // Released as `wait` releases it: what this thread queued goes first.
        drop(locked);
        // Should the driver go on watching, it still takes in what arrives and interrupts
        // this thread: two wake-ups, as before.
        let _ = this.watch_socket_in_driver(&socket, false);
        let woken = socket.wait(&interrupt, left);
        let mut inbox = socket.receive_order();
        let more_waiting = woken.socket_readable && socket.receive_batch(&mut inbox);
        // Given back once what woke this thread is taken: the driver then wakes only for what
        // came after.
        let resumed = this.watch_socket_in_driver(&socket, true);
        socket.give_back_receiver();
        let mut locked = this.lock();
        if woken.socket_readable {
            let now = this.now();
            locked.take_in(&inbox, now);
        }
        drop(inbox);
        locked.waiters.leave_polling(on);
        if woken.socket_readable {
            if more_waiting && !Arc::ptr_eq(&socket, &this.main) {
                this.lock_peers().mark_pending(socket.token);
            }
            this.after_taking_in(&mut locked, more_waiting);
        }
        if let Err(error) = resumed {
            // The driver would no longer hear the socket: every call says so.
            locked.socket_failed(error.kind());
        }
        let timed_out = deadline.is_some_and(|deadline| os_now() >= deadline);
        Ok((locked, timed_out))
    }

    /// The socket whose datagrams end a wait for `on`: a connection's own, if it has one.
    fn socket_for(&self, state: &DriverState, on: WaitFor) -> Arc<DriverSocket> {
        let peer = match on {
            WaitFor::Connection(handle) => state
                .endpoint
                .connection(handle)
                .map(|connection| connection.remote()),
            WaitFor::Accept | WaitFor::AnyConnection => None,
        };
        peer.and_then(|peer| self.lock_peers().for_peer(peer).cloned())
            .unwrap_or_else(|| Arc::clone(&self.main))
    }

    /// After a waiting thread took datagrams in: send what they drew, wake the threads they
    /// concern, and the driver if more wait or it must now look earlier than it planned.
    fn after_taking_in(&self, state: &mut DriverState, more_waiting: bool) {
        let now = self.now();
        self.flush(state, now);
        state.waiters.notify_heard(&state.endpoint);
        state.update_readiness();
        if more_waiting || state.driver_late() {
            self.wake_driver();
        }
    }

    /// Have the driver watch `socket` for datagrams again (`true`), or stop (`false`) while
    /// an application thread waits on it (the thread then hears the socket's errors too).
    /// Stopped, the socket leaves the driver's epoll set: an interest the socket never raises
    /// (`EPOLLPRI`) would not do, since a UDP socket's arrival wake-up names `EPOLLPRI` beside
    /// `EPOLLIN` (`sock_def_readable`), so every datagram woke the driver for nothing.
    /// Back in the set, a socket with datagrams waiting is reported at once.
    fn watch_socket_in_driver(&self, socket: &DriverSocket, watch: bool) -> io::Result<()> {
        let poller;
        let registry = match &self.host {
            Host::OwnThread(_, registry) => registry,
            Host::Poller(_) => {
                poller = Poller::get()?;
                poller.registry()
            }
        };
        let fd = socket.socket.as_raw_fd();
        let mut source = mio::unix::SourceFd(&fd);
        if watch {
            match registry.register(&mut source, socket.token, Interest::READABLE) {
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    registry.reregister(&mut source, socket.token, Interest::READABLE)
                }
                done => done,
            }
        } else {
            match registry.deregister(&mut source) {
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                done => done,
            }
        }
    }
}

impl EndTimeWait for Shared {
    fn end_time_wait(&self) {
        let mut state = self.lock();
        state.endpoint.end_time_waits();
        // The endpoint forgets the closed connections as it polls them; the driver's next
        // turn then finds nothing left and lets the socket go.
        self.after_application_call(&mut state, None);
        drop(state);
        self.wake_driver();
    }
}

impl DriverState {
    /// Feed the endpoint a received batch, the ICMP errors beside it, and the datagrams the
    /// faults delayed that are now due.
    fn take_in(&mut self, inbox: &Inbox, now: Instant) {
        let DriverState {
            endpoint,
            link,
            waiters,
            ..
        } = self;
        if let Some(kind) = inbox.feed(endpoint, link, now, |peer| waiters.heard_from(peer)) {
            self.socket_failed(kind);
        }
    }

    /// The socket failed: every call from now on says so, and every waiting thread wakes to
    /// hear it. The first error is the one kept.
    fn socket_failed(&mut self, kind: io::ErrorKind) {
        self.socket_error.get_or_insert(kind);
        self.waiters.notify_everyone();
        self.update_readiness();
    }

    /// Decide what each readiness handle shows (applied once the lock is released).
    pub(crate) fn update_readiness(&mut self) {
        let DriverState {
            endpoint,
            streams,
            ready,
            socket_error,
            ..
        } = self;
        ready.update(
            endpoint,
            |handle| streams.get(&handle).is_some_and(StreamState::read_shut),
            socket_error.is_some(),
        );
    }

    /// What the fault injector did to the datagrams this socket sent and received.
    pub(crate) fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.link.fault_stats()
    }

    /// Whether the driver sleeps past the moment it must now act, and must be woken. An awake
    /// driver (no plan) looks again before it sleeps: no need to wake it.
    fn driver_late(&self) -> bool {
        self.driver_wakes_at
            .zip(self.next_deadline())
            .is_some_and(|(planned, needed)| needed < planned)
    }

    /// The earliest moment the driver must act: a timer, or a datagram the faults delayed.
    fn next_deadline(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.link.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}
