//! Waking only the threads that have a reason to wake.
//!
//! Application threads block on what they wait for: one connection (a read, a write, a close),
//! the accept queue, or, for the exit hook, any connection at all. Each of these has its own
//! condition variable, and a change wakes only the threads waiting on what changed: with one
//! condition variable for the whole socket, every datagram for one connection woke the threads
//! of every other connection too, so 500 idle connections made an active one about 200 times
//! slower.
//!
//! What changed is known from where it came from:
//!
//! - a datagram from a peer can change only the connection to that peer, or (when no stream
//!   holds an open connection to it) a passive open that may now wait in the accept queue;
//! - an application call changes the connection it acted on;
//! - a timer can change any connection whose timer was due, so the driver compares the
//!   readiness of the connections someone waits on before and after running the timers;
//! - a socket error concerns everyone.
//!
//! Every slot counts the threads asleep on it (under the driver's lock), so a change nobody
//! waits for costs no system call; and while no thread but an accepting one sleeps, what the
//! driver heard costs nothing more than noting the peer. A passive open wakes an accepting
//! thread only once a connection waits in the accept queue: a flood of SYNs, each answered
//! with a SYN cookie, wakes no one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar};

use crate::conn::{Connection, ConnectionError, State};
use crate::endpoint::{ConnectionHandle, Endpoint};

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitFor {
    /// A change to one connection: data, acknowledgments, its state, its error.
    Connection(ConnectionHandle),
    /// A connection ready to be accepted.
    Accept,
    /// A change to any connection (the exit hook, watching every close under way).
    AnyConnection,
}

/// One condition variable and the threads asleep on it.
#[derive(Debug, Default)]
struct Slot {
    /// Shared so that a thread can wait on it while the driver's lock, which holds the slot,
    /// is released by the wait.
    condvar: Arc<Condvar>,
    /// The threads waiting, the polling one included.
    sleeping: usize,
    /// The eventfd of the thread that waits on the socket itself for this slot, if one does
    /// (`inline_receive.rs`).
    polling: Option<Arc<OwnedFd>>,
}

impl Slot {
    fn notify(&self) {
        if let Some(interrupt) = &self.polling {
            super::inline_receive::interrupt_thread(interrupt);
        }
        if self.sleeping > usize::from(self.polling.is_some()) {
            self.condvar.notify_all();
        }
    }
}

/// What one connection looks like to a thread waiting on it: when none of this changed, no
/// read, write, accept or close that was blocked can go further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    state: State,
    error: Option<ConnectionError>,
    readable_bytes: usize,
    writable_bytes: usize,
    send_complete: bool,
}

impl Readiness {
    pub(crate) fn of(connection: &Connection) -> Readiness {
        Readiness {
            state: connection.state(),
            error: connection.error(),
            readable_bytes: connection.readable_bytes(),
            writable_bytes: connection.writable_bytes(),
            send_complete: connection.is_send_complete(),
        }
    }
}

/// The condition variables of one socket's blocked threads, behind the driver's lock.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// One slot for each connection a stream holds.
    connections: HashMap<ConnectionHandle, Slot>,
    /// The connections streams hold, by peer: a datagram from a peer concerns these.
    held_by_peer: HashMap<SocketAddr, Vec<ConnectionHandle>>,
    accept: Slot,
    any_connection: Slot,
    /// Peers whose datagrams (or ICMP errors) the endpoint took since the last wake-up.
    heard_from: Vec<SocketAddr>,
    /// The threads asleep on any slot.
    sleeping: usize,
}

impl Waiters {
    /// A stream now holds `handle`, a connection to `peer`.
    pub(crate) fn hold(&mut self, handle: ConnectionHandle, peer: SocketAddr) {
        self.connections.entry(handle).or_default();
        let held = self.held_by_peer.entry(peer).or_default();
        if !held.contains(&handle) {
            held.push(handle);
        }
    }

    /// No stream holds `handle` any more.
    pub(crate) fn let_go(&mut self, handle: ConnectionHandle) {
        self.connections.remove(&handle);
        self.held_by_peer.retain(|_, held| {
            held.retain(|&h| h != handle);
            !held.is_empty()
        });
    }

    /// Count a thread as asleep on `on`; the condition variable to sleep on.
    pub(crate) fn enter(&mut self, on: WaitFor) -> Arc<Condvar> {
        self.sleeping += 1;
        let slot = self.slot_mut(on);
        slot.sleeping += 1;
        Arc::clone(&slot.condvar)
    }

    /// A thread that slept on `on` woke.
    pub(crate) fn leave(&mut self, on: WaitFor) {
        self.sleeping = self.sleeping.saturating_sub(1);
        let slot = self.slot_mut(on);
        slot.sleeping = slot.sleeping.saturating_sub(1);
    }

    /// Count a thread as waiting on `on` while it polls the socket and `interrupt`, which a
    /// change to `on` writes to.
    pub(crate) fn enter_polling(&mut self, on: WaitFor, interrupt: Arc<OwnedFd>) {
        self.sleeping += 1;
        let slot = self.slot_mut(on);
        slot.sleeping += 1;
        slot.polling = Some(interrupt);
    }

    /// The thread polling for `on` stopped.
    pub(crate) fn leave_polling(&mut self, on: WaitFor) {
        self.slot_mut(on).polling = None;
        self.leave(on);
    }

    fn slot_mut(&mut self, on: WaitFor) -> &mut Slot {
        match on {
            // A connection no stream holds (none should be waited on) gets a slot of its own
            // until `let_go`, rather than a panic.
            WaitFor::Connection(handle) => self.connections.entry(handle).or_default(),
            WaitFor::Accept => &mut self.accept,
            WaitFor::AnyConnection => &mut self.any_connection,
        }
    }

    /// Wake the threads waiting on `handle`, and the exit hook.
    pub(crate) fn notify_connection(&self, handle: ConnectionHandle) {
        if let Some(slot) = self.connections.get(&handle) {
            slot.notify();
        }
        self.any_connection.notify();
    }

    /// Wake every waiting thread: the socket failed, or the listener stopped.
    pub(crate) fn notify_everyone(&self) {
        for slot in self.connections.values() {
            slot.notify();
        }
        self.accept.notify();
        self.any_connection.notify();
    }

    /// The endpoint took a datagram (or an ICMP error) from `peer`.
    pub(crate) fn heard_from(&mut self, peer: SocketAddr) {
        // A run of datagrams from one peer (a bulk transfer's batch) is noted once.
        if self.heard_from.last() != Some(&peer) {
            self.heard_from.push(peer);
        }
    }

    /// Wake the threads concerned by what the endpoint heard since the last call.
    pub(crate) fn notify_heard(&mut self, endpoint: &Endpoint) {
        if self.sleeping == self.accept.sleeping {
            // Only accepting threads wait, if any: whoever was heard, they can go on only
            // once a connection waits to be accepted. (The peers were heard under the lock
            // this call holds: a thread that waits from now on looks before it sleeps.)
            if !self.heard_from.is_empty() && endpoint.can_accept() {
                self.accept.notify();
            }
            self.heard_from.clear();
            return;
        }
        // Taken out and put back, so that its allocation is kept for the next time.
        let mut heard_from = std::mem::take(&mut self.heard_from);
        // A burst from one peer wakes its threads once.
        heard_from.sort_unstable();
        heard_from.dedup();
        for &peer in &heard_from {
            let held = self.held_by_peer.get(&peer).map_or(&[][..], Vec::as_slice);
            for &handle in held {
                self.notify_connection(handle);
            }
            // The endpoint gives a peer's datagrams to its one open connection. If a stream
            // holds that connection, the datagram was for it; if not, it went to a passive
            // open, which may now be ready to accept (an accepting thread has nothing to do
            // until one is: it slept with the queue empty).
            let held_open = held.iter().any(|&handle| {
                endpoint
                    .connection(handle)
                    .is_some_and(|connection| !connection.is_closed())
            });
            if !held_open {
                if endpoint.can_accept() {
                    self.accept.notify();
                }
                self.any_connection.notify();
            }
        }
        heard_from.clear();
        self.heard_from = heard_from;
    }

    /// The readiness of each connection someone waits on, to compare after the timers ran.
    pub(crate) fn watched(&self, endpoint: &Endpoint) -> Vec<(ConnectionHandle, Readiness)> {
        self.connections
            .iter()
            .filter(|(_, slot)| slot.sleeping > 0)
            .filter_map(|(&handle, _)| {
                let connection = endpoint.connection(handle)?;
                Some((handle, Readiness::of(connection)))
            })
            .collect()
    }

    /// Wake the threads of the connections whose readiness differs from `before`
    /// ([`watched`](Self::watched)'s answer), and the exit hook.
    pub(crate) fn notify_changed(
        &self,
        endpoint: &Endpoint,
        before: &[(ConnectionHandle, Readiness)],
    ) {
        for &(handle, readiness) in before {
            let now = endpoint.connection(handle).map(Readiness::of);
            if now != Some(readiness) {
                self.notify_connection(handle);
            }
        }
        self.any_connection.notify();
    }
}
