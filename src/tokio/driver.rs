//! The tokio driver: one UDP socket, one sans-IO [`Endpoint`], and one task on the
//! application's runtime that feeds the endpoint what arrives and runs its timers.
//!
//! Application tasks act on the endpoint under a `std::sync::Mutex` that is never held across
//! an `.await` or a system call: what the endpoint emits goes into an outbox, and whoever
//! finds nobody sending takes the outbox and sends it, with the lock released (one sender at
//! a time, so a connection's datagrams leave in the order the endpoint emitted them). A task
//! that must wait (a read with nothing to read, a write with a full buffer, an accept with
//! nobody waiting) leaves its `Waker` on the connection (or the listener) and is woken only
//! by a change to it: a datagram from its peer, or a timer that changed what it waits on.
//!
//! The driver task sleeps in `select!` on the socket's readiness, the endpoint's next
//! deadline, and a `Notify` that application calls poke only when they moved that deadline
//! earlier than the one it sleeps for, or let go of the last stream or listener.
//!
//! If the runtime goes away while the driver still has work (a close under way, a stream
//! still held), its task is dropped: it hands itself to [`orphan`](super::orphan), which
//! runs it to the end on a runtime of its own and holds the process's exit until it is done.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use ::tokio::io::Interest;
use ::tokio::sync::Notify;

use super::{orphan, socket_failed};
use crate::conn::{ConnectionError, State};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::FaultStats;
use crate::net::inbox::Inbox;
use crate::net::socket_link::SocketLink;
use crate::net::udp_io::{Receiver, Sender, Switches};
use crate::net::wake::Readiness;
use crate::net::{os_now, SocketConfig};
use crate::time::Instant;

/// Once the runtime is gone (or the process exits), a closing connection whose FIN the peer
/// acknowledged waits at most this long for the peer to stay quiet: the std driver's rule
/// (`crate::net`'s "Closing and exiting").
pub(crate) const QUIET_LIMIT: Duration = Duration::from_secs(3);

/// How long a connection the application let go may stay in FIN-WAIT-2, our FIN acknowledged
/// but the peer's not sent, before it is reset: Linux's `tcp_fin_timeout` for orphaned
/// sockets. (Data the peer sends there is answered with a RST anyway: nobody reads it.)
pub(crate) const FIN_WAIT_2_TIMEOUT: Duration = Duration::from_secs(60);

/// What one connection held by a stream keeps: its linger and the tasks waiting on it.
#[derive(Debug)]
pub(crate) struct Held {
    /// How long closing waits for the peer's acknowledgment (see `SocketConfig::linger`).
    pub(crate) linger: Option<Duration>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Held {
    pub(crate) fn new(linger: Option<Duration>) -> Held {
        Held {
            linger,
            reader: None,
            writer: None,
        }
    }
}

/// Which of a connection's waiting tasks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    /// A read.
    Reader,
    /// A write, flush, shutdown, close, or the handshake of `connect`.
    Writer,
}

/// What the close rules do about one connection let go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Nothing yet.
    Wait,
    /// It closed: forget it.
    Done,
    /// Reset it: it cannot finish in time.
    Reset,
    /// End it without a word: nothing is owed (TIME-WAIT cut short once the runtime is gone).
    End,
}

/// A connection the application let go that may still be closing.
#[derive(Clone, Copy, Debug)]
struct Release {
    /// When it was let go.
    at: Instant,
    /// Its linger then: how long its data and FIN may take to be acknowledged.
    linger: Option<Duration>,
}

impl Release {
    /// When a close that still owes data or a FIN is reset: the linger from the release.
    /// Without a linger, never while the runtime runs, and at once once it is gone.
    fn give_up_at(&self, orphaned: bool) -> Option<Instant> {
        match (self.linger, orphaned) {
            (Some(linger), _) => Some(self.at + linger),
            (None, true) => Some(self.at),
            (None, false) => None,
        }
    }
}

/// Everything behind the lock.
pub(crate) struct DriverState {
    pub(crate) endpoint: Endpoint,
    /// The faults, capture and trace sink between the endpoint and the socket (shared with
    /// the std driver: `crate::net::socket_link`).
    link: SocketLink,
    /// The connections streams hold.
    pub(crate) held: HashMap<ConnectionHandle, Held>,
    /// The same, by peer: a datagram from a peer concerns these.
    held_by_peer: HashMap<SocketAddr, Vec<ConnectionHandle>>,
    /// Tasks waiting in `Listener::accept`.
    accepting: Vec<Waker>,
    /// Peers whose datagrams (or ICMP errors) the endpoint took since the last wake-up.
    heard_from: Vec<SocketAddr>,
    /// Tasks to wake once the lock is released.
    to_wake: Vec<Waker>,
    /// Closes under way, of connections no stream holds any more.
    releasing: BTreeMap<ConnectionHandle, Release>,
    /// When the close rules must look at `releasing` again (while the runtime runs).
    close_rules_due: Option<Instant>,
    /// Streams and listeners alive: the driver ends once none is and no connection is left.
    pub(crate) users: usize,
    /// The first error the socket gave, for every caller to see.
    pub(crate) socket_error: Option<io::ErrorKind>,
    /// When the driver task will look again on its own; `None` while it is awake.
    driver_wakes_at: Option<Instant>,
    /// The linger a new stream starts with.
    pub(crate) default_linger: Option<Duration>,
    /// Datagrams to send, in the order the endpoint emitted them (or the faults' delay
    /// released them), each with its destination, for the one sender.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// A task is sending the outbox.
    sending: bool,
    /// The runtime that started the driver is gone: finish the closes quickly.
    pub(crate) orphaned: bool,
}

/// What application tasks and the driver task share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<DriverState>,
    /// Nonblocking; every task sends on it directly. The driver task receives on a duplicate
    /// registered with the runtime it runs on.
    socket: std::net::UdpSocket,
    /// A send met an ICMP error (and took its report), or the runtime saw the error queue
    /// fill: the driver task reads the queue next.
    icmp_reported: AtomicBool,
    /// How the outbox leaves: in batches, GSO runs where it can (`crate::net::udp_io`).
    sender: Sender,
    /// How datagrams come in: in batches, GRO runs where the socket joins them.
    receiver: Receiver,
    /// Pokes the driver task.
    driver: Notify,
    local_addr: SocketAddr,
    epoch: std::time::Instant,
}

impl Shared {
    /// Bind a socket and start its driver task on the current runtime. `peer`, if given,
    /// connects the socket to it (a client's socket talks to one peer).
    pub(crate) fn start(
        local: SocketAddr,
        peer: Option<SocketAddr>,
        config: &SocketConfig,
    ) -> io::Result<Arc<Shared>> {
        let runtime = ::tokio::runtime::Handle::try_current()
            .map_err(|error| io::Error::other(format!("ferry::tokio needs a runtime: {error}")))?;
        let endpoint = crate::net::socket::endpoint(config)?;
        let socket = crate::net::socket::open(local, peer)?;
        let local_addr = socket.local_addr()?;
        let switches = Switches::from_environment();
        let sender = Sender::new(socket.as_fd(), peer.is_some(), switches);
        let receiver = Receiver::new(socket.as_fd(), peer, switches);
        let link = SocketLink::new(config, local_addr)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(DriverState {
                endpoint,
                link,
                held: HashMap::new(),
                held_by_peer: HashMap::new(),
                accepting: Vec::new(),
                heard_from: Vec::new(),
                to_wake: Vec::new(),
                releasing: BTreeMap::new(),
                close_rules_due: None,
                users: 1,
                socket_error: None,
                driver_wakes_at: None,
                default_linger: config.linger,
                outbox: Vec::new(),
                sending: false,
                orphaned: false,
            }),
            socket,
            icmp_reported: AtomicBool::new(false),
            sender,
            receiver,
            driver: Notify::new(),
            local_addr,
            epoch: os_now(),
        });
        runtime.spawn(Arc::clone(&shared).run());
        Ok(shared)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Set the time-to-live of every datagram the socket sends (`crate::net::socket::set_ttl`).
    pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        crate::net::socket::set_ttl(&self.socket, self.local_addr, ttl)
    }

    /// The time-to-live of the datagrams the socket sends.
    pub(crate) fn ttl(&self) -> io::Result<u32> {
        crate::net::socket::ttl(&self.socket, self.local_addr)
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

    /// The lock, even if a task panicked while holding it: the endpoint never panics, so its
    /// state stays consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, DriverState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Poke the driver task: it looks again at once.
    pub(crate) fn wake_driver(&self) {
        self.driver.notify_one();
    }

    /// End an application call: queue what the endpoint has to send, wake the driver if it
    /// must look earlier than it planned to, release the lock, send, and wake the tasks that
    /// were told to wake.
    pub(crate) fn finish(&self, mut guard: MutexGuard<'_, DriverState>) {
        let state = &mut *guard;
        let now = self.now();
        state.queue_transmits(now);
        // An awake driver (no plan) looks again before it sleeps: no need to poke it.
        let driver_late = state
            .driver_wakes_at
            .zip(state.next_deadline())
            .is_some_and(|(planned, needed)| needed < planned);
        self.release_and_send(guard);
        if driver_late {
            self.wake_driver();
        }
    }

    /// Release the lock; send the outbox unless another task is at it; wake whom `to_wake`
    /// names.
    fn release_and_send(&self, mut guard: MutexGuard<'_, DriverState>) {
        let send = !guard.sending && !guard.outbox.is_empty();
        if send {
            guard.sending = true;
        }
        let mut to_wake = std::mem::take(&mut guard.to_wake);
        drop(guard);
        if send {
            to_wake.extend(self.send_outbox());
        }
        for waker in to_wake {
            waker.wake();
        }
    }

    /// Send the outbox until it stays empty, taking it from under the lock each time. Returns
    /// the tasks to wake that the lock's holders left behind. A send that meets an ICMP error
    /// leaves it to the driver task to read.
    fn send_outbox(&self) -> Vec<Waker> {
        let mut batch = Vec::new();
        let mut failed = None;
        loop {
            {
                let mut state = self.lock();
                if let Some(kind) = failed.take() {
                    state.socket_failed(kind);
                }
                if state.outbox.is_empty() {
                    state.sending = false;
                    return std::mem::take(&mut state.to_wake);
                }
                std::mem::swap(&mut batch, &mut state.outbox);
            }
            let report = self
                .sender
                .send(self.socket.as_fd(), &batch, |(peer, bytes)| {
                    (*peer, bytes.as_slice())
                });
            batch.clear();
            if report.icmp_reported {
                // The driver task reads what the error says.
                self.icmp_reported.store(true, Ordering::Release);
                self.wake_driver();
            }
            failed = report.failed;
        }
    }

    /// The driver task. If it is dropped before it is done (its runtime shut down), the
    /// orphanage takes it over.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut handover = Handover(Some(Arc::clone(&self)));
        self.drive().await;
        handover.0 = None;
    }

    /// Receive, run timers, send, sleep until the next deadline; until no stream or listener
    /// is left and every connection has closed.
    async fn drive(&self) {
        let io = match self
            .socket
            .try_clone()
            .and_then(::tokio::net::UdpSocket::from_std)
        {
            Ok(io) => io,
            Err(error) => {
                let mut state = self.lock();
                state.socket_failed(error.kind());
                // Nothing can be sent or received: abandon every connection.
                let handles: Vec<_> = state.endpoint.connections().map(|(h, _)| h).collect();
                for handle in handles {
                    if let Some(connection) = state.endpoint.connection_mut(handle) {
                        connection.terminate(Some(ConnectionError::Aborted));
                    }
                }
                self.release_and_send(state);
                return;
            }
        };
        let mut received = Inbox::default();
        let mut sleep = pin!(::tokio::time::sleep(Duration::ZERO));
        loop {
            let more_waiting = self.receive_batch(&io, &mut received);
            let (next, done) = self.after_receiving(&mut received);
            if done {
                return;
            }
            if more_waiting {
                // Let the runtime run other tasks between batches.
                ::tokio::task::yield_now().await;
                continue;
            }
            if let Some(next) = next {
                sleep
                    .as_mut()
                    .reset(::tokio::time::Instant::from_std(self.os_instant(next)));
            }
            ::tokio::select! {
                biased;
                () = self.driver.notified() => {}
                ready = io.ready(Interest::READABLE | Interest::ERROR) => {
                    match ready {
                        Ok(ready) if ready.is_error() => {
                            // The runtime's note of it goes first, then the next turn reads
                            // the queue: an error queued in between sets the note again.
                            let _ = io.try_io(Interest::ERROR, || {
                                Err::<(), _>(io::ErrorKind::WouldBlock.into())
                            });
                            self.icmp_reported.store(true, Ordering::Release);
                        }
                        Ok(_) => {}
                        Err(error) => self.lock().socket_failed(error.kind()),
                    }
                }
                () = &mut sleep, if next.is_some() => {}
            }
        }
    }

    /// Take a batch of the datagrams (and ICMP errors) waiting in the socket, without the
    /// lock. Returns whether more may be waiting.
    fn receive_batch(&self, io: &::tokio::net::UdpSocket, inbox: &mut Inbox) -> bool {
        let icmp_reported = self.icmp_reported.swap(false, Ordering::AcqRel);
        inbox.fill(
            // try_io clears the runtime's readiness when the socket runs dry.
            |slots, messages| {
                io.try_io(Interest::READABLE, || {
                    self.receiver.receive(io.as_fd(), slots, messages)
                })
            },
            io.as_fd(),
            icmp_reported,
        )
    }

    /// Feed the endpoint what was received, run its timers and the closes' rules, send, wake.
    /// Returns the next deadline and whether the driver is done.
    fn after_receiving(&self, received: &mut Inbox) -> (Option<Instant>, bool) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.driver_wakes_at = None;
        let now = self.now();
        let DriverState {
            endpoint,
            link,
            heard_from,
            ..
        } = &mut *state;
        for (from, datagram) in received.datagrams() {
            link.receive(endpoint, now, from, datagram, |peer| heard_from.push(peer));
        }
        received
            .unreachables
            .deliver(endpoint, |peer| heard_from.push(peer));
        link.deliver_due(endpoint, now, |peer| heard_from.push(peer));
        if let Some(kind) = received.error {
            state.socket_failed(kind);
        }
        // Timers change few connections, and which is unknown: compare the ones tasks wait
        // on, before and after.
        let timers_due = state.endpoint.poll_timeout().is_some_and(|due| due <= now);
        let watched = if timers_due {
            state.watched()
        } else {
            Vec::new()
        };
        state.endpoint.handle_timeout(now);
        if timers_due {
            state.wake_changed(&watched);
        }
        let close_deadline = state.run_close_rules(now);
        state.queue_transmits(now);
        state.wake_heard();
        let done = state.users == 0 && state.endpoint.connections().next().is_none();
        let next = [state.next_deadline(), close_deadline]
            .into_iter()
            .flatten()
            .min();
        state.driver_wakes_at = Some(next.unwrap_or(Instant::from_micros(u64::MAX)));
        self.release_and_send(guard);
        (next, done)
    }

    /// Let go of `handle`: no stream holds it any more. Closes it (a FIN after the data, or a
    /// RST if data waits unread or the linger is zero) and leaves the close to the driver.
    pub(crate) fn release(&self, handle: ConnectionHandle) {
        let mut state = self.lock();
        let now = self.now();
        let linger = state
            .held
            .remove(&handle)
            .map_or(state.default_linger, |held| held.linger);
        state.held_by_peer.retain(|_, held| {
            held.retain(|&h| h != handle);
            !held.is_empty()
        });
        if let Some(connection) = state.endpoint.connection_mut(handle) {
            // A connection that never connected (a `connect` given up on) owes nothing.
            if linger == Some(Duration::ZERO) || !connection.is_connected() {
                connection.abort();
            }
        }
        state.endpoint.detach(handle);
        let DriverState {
            releasing,
            endpoint,
            ..
        } = &mut *state;
        releasing.retain(|&handle, _| endpoint.connection(handle).is_some());
        releasing.insert(handle, Release { at: now, linger });
        state.close_rules_due = Some(now);
        state.users -= 1;
        self.finish(state);
        // The driver may be waiting for the last user to leave.
        self.wake_driver();
    }

    /// The process is exiting with this driver orphaned: close what streams still hold, as a
    /// kernel closes an exiting process's sockets. Returns the latest moment a close may wait
    /// for an acknowledgment.
    pub(crate) fn close_for_exit(&self) -> std::time::Instant {
        let mut state = self.lock();
        let now = self.now();
        state.endpoint.stop_listening();
        let held: Vec<_> = state.held.drain().collect();
        for (handle, held) in held {
            if held.linger == Some(Duration::ZERO) {
                if let Some(connection) = state.endpoint.connection_mut(handle) {
                    connection.abort();
                }
            }
            state.endpoint.close(handle);
            state.releasing.insert(
                handle,
                Release {
                    at: now,
                    linger: held.linger,
                },
            );
            if let Some(waker) = held.reader {
                state.to_wake.push(waker);
            }
            if let Some(waker) = held.writer {
                state.to_wake.push(waker);
            }
        }
        let latest = state
            .releasing
            .values()
            .filter_map(|release| release.give_up_at(true))
            .max()
            .unwrap_or(now);
        self.finish(state);
        self.wake_driver();
        self.os_instant(latest)
    }
}

/// Hands a driver whose task was dropped unfinished to the orphanage.
struct Handover(Option<Arc<Shared>>);

impl Drop for Handover {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let unfinished = {
                let mut state = shared.lock();
                let unfinished = state.users > 0 || state.endpoint.connections().next().is_some();
                state.orphaned = unfinished;
                unfinished
            };
            if unfinished {
                orphan::adopt(shared);
            }
        }
    }
}

impl DriverState {
    /// Bound the closes of connections the application let go; returns when to look again.
    ///
    /// - Data and FIN not acknowledged by the close's linger: the connection is reset (the
    ///   peer learns at once that nobody will answer), freeing its socket and task.
    /// - FIN-WAIT-2 (our FIN acknowledged, the peer's not sent) lasts at most
    ///   [`FIN_WAIT_2_TIMEOUT`], then resets; TIME-WAIT runs its course.
    /// - Once the runtime is gone (`orphaned`), the std driver's exit rule: no linger means no
    ///   wait, and after our FIN is acknowledged the connection waits only for the peer to be
    ///   quiet for three retransmission timeouts (at most [`QUIET_LIMIT`]), time to repeat its
    ///   FIN if our acknowledgment was lost; then it ends (reset in FIN-WAIT-2).
    fn run_close_rules(&mut self, now: Instant) -> Option<Instant> {
        // While the runtime runs, every deadline below is known at the release: look only
        // then. Once it is gone, a close's progress moves its deadline: look every time.
        if !self.orphaned && self.close_rules_due.is_none_or(|due| now < due) {
            return self.close_rules_due;
        }
        let mut next: Option<Instant> = None;
        let orphaned = self.orphaned;
        let releasing: Vec<_> = self.releasing.iter().map(|(&h, &r)| (h, r)).collect();
        for (handle, release) in releasing {
            let heard = self.endpoint.last_heard(handle).unwrap_or(release.at);
            let Some(connection) = self.endpoint.connection(handle) else {
                self.releasing.remove(&handle);
                continue;
            };
            let state = connection.state();
            let (verdict, look_at) = match state {
                State::Closed => (Verdict::Done, None),
                State::FinWait2 | State::TimeWait if orphaned => {
                    let quiet = (3 * connection.stats().rto).min(QUIET_LIMIT);
                    let quiet_at = heard.max(release.at) + quiet;
                    if now < quiet_at {
                        (Verdict::Wait, Some(quiet_at))
                    } else if state == State::FinWait2 {
                        (Verdict::Reset, None)
                    } else {
                        (Verdict::End, None)
                    }
                }
                State::FinWait2 => {
                    let give_up_at = release.at + FIN_WAIT_2_TIMEOUT;
                    if now < give_up_at {
                        (Verdict::Wait, Some(give_up_at))
                    } else {
                        (Verdict::Reset, None)
                    }
                }
                // Nothing owed any more; its own timer ends it. Kept in case the runtime
                // goes, and looked at again when FIN-WAIT-2 would have been.
                State::TimeWait => (Verdict::Wait, Some(release.at + FIN_WAIT_2_TIMEOUT)),
                _ => match release.give_up_at(orphaned) {
                    Some(give_up_at) if now >= give_up_at => (Verdict::Reset, None),
                    // FIN-WAIT-2 may come before the linger ends.
                    Some(give_up_at) if !orphaned => (
                        Verdict::Wait,
                        Some(give_up_at.min(release.at + FIN_WAIT_2_TIMEOUT)),
                    ),
                    Some(give_up_at) => (Verdict::Wait, Some(give_up_at)),
                    None => (Verdict::Wait, Some(release.at + FIN_WAIT_2_TIMEOUT)),
                },
            };
            match verdict {
                Verdict::Wait => {}
                Verdict::Done => {
                    self.releasing.remove(&handle);
                }
                Verdict::Reset | Verdict::End => {
                    if let Some(connection) = self.endpoint.connection_mut(handle) {
                        match verdict {
                            Verdict::Reset => connection.abort(),
                            _ => connection.terminate(None),
                        }
                    }
                    self.releasing.remove(&handle);
                }
            }
            if let Some(at) = look_at {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
        self.close_rules_due = next;
        next
    }

    /// A stream now holds `handle`, a connection to `peer`.
    pub(crate) fn hold(&mut self, handle: ConnectionHandle, peer: SocketAddr) {
        self.held.insert(handle, Held::new(self.default_linger));
        let held = self.held_by_peer.entry(peer).or_default();
        if !held.contains(&handle) {
            held.push(handle);
        }
    }

    /// Datagrams from `from` concern `handle` too: a punched connection's relayed datagrams
    /// come from the rendezvous server.
    pub(crate) fn hear_for(&mut self, handle: ConnectionHandle, from: SocketAddr) {
        let held = self.held_by_peer.entry(from).or_default();
        if !held.contains(&handle) {
            held.push(handle);
        }
    }

    /// Have the task of `cx` woken at the next change to `handle`.
    pub(crate) fn wait_on(&mut self, handle: ConnectionHandle, side: Side, waker: &Waker) {
        if let Some(held) = self.held.get_mut(&handle) {
            let slot = match side {
                Side::Reader => &mut held.reader,
                Side::Writer => &mut held.writer,
            };
            match slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    /// Have the task of `waker` woken when a connection may be ready to accept.
    pub(crate) fn wait_to_accept(&mut self, waker: &Waker) {
        if !self.accepting.iter().any(|old| old.will_wake(waker)) {
            self.accepting.push(waker.clone());
        }
    }

    /// Wake the tasks waiting on `handle`.
    fn wake_connection(&mut self, handle: ConnectionHandle) {
        if let Some(held) = self.held.get_mut(&handle) {
            self.to_wake.extend(held.reader.take());
            self.to_wake.extend(held.writer.take());
        }
    }

    /// Wake every waiting task: the socket failed.
    fn wake_everyone(&mut self) {
        for held in self.held.values_mut() {
            self.to_wake.extend(held.reader.take());
            self.to_wake.extend(held.writer.take());
        }
        self.to_wake.append(&mut self.accepting);
    }

    /// Wake the tasks concerned by what the endpoint heard since the last call.
    fn wake_heard(&mut self) {
        let mut heard_from = std::mem::take(&mut self.heard_from);
        // A burst from one peer wakes its tasks once.
        heard_from.sort_unstable();
        heard_from.dedup();
        let DriverState {
            endpoint,
            held,
            held_by_peer,
            accepting,
            to_wake,
            ..
        } = self;
        for peer in &heard_from {
            let handles = held_by_peer.get(peer).map_or(&[][..], Vec::as_slice);
            for handle in handles {
                if let Some(held) = held.get_mut(handle) {
                    to_wake.extend(held.reader.take());
                    to_wake.extend(held.writer.take());
                }
            }
            // The endpoint gives a peer's datagrams to its one open connection. If a stream
            // holds it, the datagram was for that stream; if not, it went to a passive open,
            // which may now be ready to accept.
            let held_open = handles.iter().any(|&handle| {
                endpoint
                    .connection(handle)
                    .is_some_and(|connection| !connection.is_closed())
            });
            if !held_open {
                to_wake.append(accepting);
            }
        }
        heard_from.clear();
        self.heard_from = heard_from;
    }

    /// The readiness of each connection a task waits on, to compare after the timers ran.
    fn watched(&self) -> Vec<(ConnectionHandle, Readiness)> {
        self.held
            .iter()
            .filter(|(_, held)| held.reader.is_some() || held.writer.is_some())
            .filter_map(|(&handle, _)| {
                let connection = self.endpoint.connection(handle)?;
                Some((handle, Readiness::of(connection)))
            })
            .collect()
    }

    /// Wake the tasks of the connections whose readiness differs from `before`.
    fn wake_changed(&mut self, before: &[(ConnectionHandle, Readiness)]) {
        for &(handle, readiness) in before {
            let now = self.endpoint.connection(handle).map(Readiness::of);
            if now != Some(readiness) {
                self.wake_connection(handle);
            }
        }
    }

    /// Move what the endpoint has to send, through the faults, into the outbox; record it.
    fn queue_transmits(&mut self, now: Instant) {
        let DriverState {
            endpoint,
            link,
            outbox,
            ..
        } = self;
        link.transmit(endpoint, now, |peer, bytes| outbox.push((peer, bytes)));
        link.flush_taps(endpoint);
    }

    /// The earliest moment the driver must act for the endpoint: a timer, or a datagram the
    /// faults delayed.
    fn next_deadline(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.link.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the fault injector did to the datagrams this socket sent and received.
    pub(crate) fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.link.fault_stats()
    }

    /// The socket failed: every call from now on says so, and every waiting task wakes to
    /// hear it. The first error is the one kept.
    fn socket_failed(&mut self, kind: io::ErrorKind) {
        self.socket_error.get_or_insert(kind);
        self.wake_everyone();
    }

    /// The error every call on this socket gives once it failed.
    pub(crate) fn check_socket(&self) -> io::Result<()> {
        match self.socket_error {
            Some(kind) => Err(socket_failed(kind)),
            None => Ok(()),
        }
    }
}
