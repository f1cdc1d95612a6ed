//! Which tasks wait on what, for the tokio driver: the connections streams hold (with each
//! one's linger), the tasks waiting to read, write or accept, and whom a datagram, a timer or
//! a socket error wakes. The waker-based twin of `crate::net::wake`, whose [`Readiness`] says
//! what a timer changed.
//!
//! A task that must wait (a read with nothing to read, a write with a full buffer, an accept
//! with nobody waiting) leaves its `Waker` on the connection (or the listener) and is woken
//! only by a change to it: a datagram from its peer, or a timer that changed what it waits
//! on. Wakers are collected under the driver's lock and woken once it is released.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::task::Waker;
use std::time::Duration;

use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::net::wake::Readiness;

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

    /// Move the tasks waiting on this connection to `to_wake`.
    fn wake(&mut self, to_wake: &mut Vec<Waker>) {
        to_wake.extend(self.reader.take());
        to_wake.extend(self.writer.take());
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

/// The connections streams hold and the tasks waiting on them or on the listener.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
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
}

impl Tasks {
    /// A stream now holds `handle`, a connection to `peer`, closing with this linger.
    pub(crate) fn hold(
        &mut self,
        handle: ConnectionHandle,
        peer: SocketAddr,
        linger: Option<Duration>,
    ) {
        self.held.insert(handle, Held::new(linger));
        self.hear_for(handle, peer);
    }

    /// Datagrams from `from` concern `handle` too: a punched connection's relayed datagrams
    /// come from the rendezvous server.
    pub(crate) fn hear_for(&mut self, handle: ConnectionHandle, from: SocketAddr) {
        let held = self.held_by_peer.entry(from).or_default();
        if !held.contains(&handle) {
            held.push(handle);
        }
    }

    /// No stream holds `handle` any more: what it held, if it was.
    pub(crate) fn let_go(&mut self, handle: ConnectionHandle) -> Option<Held> {
        self.held_by_peer.retain(|_, held| {
            held.retain(|&h| h != handle);
            !held.is_empty()
        });
        self.held.remove(&handle)
    }

    /// The process exits: no stream holds anything any more. Wakes their waiting tasks and
    /// returns each connection held with its linger.
    pub(crate) fn let_go_all(&mut self) -> Vec<(ConnectionHandle, Option<Duration>)> {
        let mut let_go = Vec::with_capacity(self.held.len());
        for (handle, mut held) in self.held.drain() {
            held.wake(&mut self.to_wake);
            let_go.push((handle, held.linger));
        }
        let_go
    }

    /// Have the task of `waker` woken at the next change to `handle`.
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

    /// The endpoint took a datagram (or an ICMP error) concerning `peer`: its tasks wake at
    /// the next [`wake_heard`](Self::wake_heard).
    pub(crate) fn heard_from(&mut self, peer: SocketAddr) {
        self.heard_from.push(peer);
    }

    /// The tasks to wake once the lock is released, taken.
    pub(crate) fn take_to_wake(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.to_wake)
    }

    /// Wake the tasks waiting on `handle`.
    fn wake_connection(&mut self, handle: ConnectionHandle) {
        if let Some(held) = self.held.get_mut(&handle) {
            held.wake(&mut self.to_wake);
        }
    }

    /// Wake every waiting task: the socket failed.
    pub(crate) fn wake_everyone(&mut self) {
        for held in self.held.values_mut() {
            held.wake(&mut self.to_wake);
        }
        self.to_wake.append(&mut self.accepting);
    }

    /// Wake the tasks concerned by what `endpoint` heard since the last call.
    pub(crate) fn wake_heard(&mut self, endpoint: &Endpoint) {
        let mut heard_from = std::mem::take(&mut self.heard_from);
        // A burst from one peer wakes its tasks once.
        heard_from.sort_unstable();
        heard_from.dedup();
        let Tasks {
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
                    held.wake(to_wake);
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
    pub(crate) fn watched(&self, endpoint: &Endpoint) -> Vec<(ConnectionHandle, Readiness)> {
        self.held
            .iter()
            .filter(|(_, held)| held.reader.is_some() || held.writer.is_some())
            .filter_map(|(&handle, _)| {
                let connection = endpoint.connection(handle)?;
                Some((handle, Readiness::of(connection)))
            })
            .collect()
    }

    /// Wake the tasks of the connections whose readiness differs from `before`.
    pub(crate) fn wake_changed(
        &mut self,
        endpoint: &Endpoint,
        before: &[(ConnectionHandle, Readiness)],
    ) {
        for &(handle, readiness) in before {
            let now = endpoint.connection(handle).map(Readiness::of);
            if now != Some(readiness) {
                self.wake_connection(handle);
            }
        }
    }
}
