//! A host's sockets, as its kernel would keep them: a Ferry socket is one UDP port with a
//! real [`Endpoint`] behind it (the same sans-IO core as on real sockets, so retransmission,
//! flow and congestion control are Ferry's own) and the wakers of the tasks waiting on its
//! connections; a UDP socket is a port with a bounded receive queue.
//!
//! A task is woken only by what concerns it, as with the real drivers: a datagram from a peer
//! wakes the tasks holding connections to that peer (or `accept`, for a new peer), a timer
//! wakes the tasks whose connection's timer fired, an application call wakes the other tasks
//! of the same connection.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::task::Waker;
use std::time::Duration;

use crate::conn::Connection;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::time::Instant;

/// Datagrams a UDP socket holds unread before it drops what arrives (a kernel's receive
/// buffer, counted in datagrams).
pub const UDP_RECEIVE_QUEUE: usize = 256;

/// What the world keeps for one connection a stream holds.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) peer: SocketAddr,
    /// `SO_LINGER`'s meaning, as [`crate::tokio::Stream::set_linger`] has it.
    pub(super) linger: Option<Duration>,
    /// Another address whose datagrams concern the connection: a punched connection's
    /// rendezvous server, which relays its datagrams.
    also_from: Option<SocketAddr>,
    waiters: Vec<Waker>,
}

/// A Ferry socket: an endpoint on one port.
#[derive(Debug)]
pub(super) struct FerrySocket {
    pub(super) endpoint: Endpoint,
    /// The address it was bound to (the unspecified address for a listener on every
    /// address).
    pub(super) local: SocketAddr,
    /// A client's socket is connected to its peer, so it hears the ICMP errors about that
    /// peer; a listener's is not, and hears none (Linux reports ICMP errors only to connected
    /// UDP sockets).
    pub(super) connected_to: Option<SocketAddr>,
    /// The listener and the streams that use the socket; once none does and the endpoint
    /// has closed every connection, the port is free again.
    pub(super) users: usize,
    held: BTreeMap<ConnectionHandle, Held>,
    held_by_peer: BTreeMap<SocketAddr, Vec<ConnectionHandle>>,
    /// The held connections some task waits on: a timer event looks at these alone, so a
    /// listener with thousands of idle connections pays nothing for them.
    waited_on: BTreeSet<ConnectionHandle>,
    accept_waiters: Vec<Waker>,
    default_linger: Option<Duration>,
    /// The ports of its punch's side sockets, for birthday probing
    /// ([`Endpoint::punch_side_sockets`]), by number; `None` once closed.
    pub(super) sides: Vec<Option<u16>>,
}

impl FerrySocket {
    pub(super) fn new(
        endpoint: Endpoint,
        local: SocketAddr,
        connected_to: Option<SocketAddr>,
        default_linger: Option<Duration>,
    ) -> FerrySocket {
        FerrySocket {
            endpoint,
            local,
            connected_to,
            users: 0,
            held: BTreeMap::new(),
            held_by_peer: BTreeMap::new(),
            waited_on: BTreeSet::new(),
            accept_waiters: Vec::new(),
            default_linger,
            sides: Vec::new(),
        }
    }

    /// A stream now holds `handle`, a connection to `peer`.
    pub(super) fn hold(&mut self, handle: ConnectionHandle, peer: SocketAddr) {
        self.users += 1;
        self.held.insert(
            handle,
            Held {
                peer,
                linger: self.default_linger,
                also_from: None,
                waiters: Vec::new(),
            },
        );
        self.held_by_peer.entry(peer).or_default().push(handle);
    }

    /// Datagrams from `from` concern the held connection `handle` too: a punched
    /// connection's relayed datagrams come from the rendezvous server.
    pub(super) fn hear_for(&mut self, handle: ConnectionHandle, from: SocketAddr) {
        let Some(held) = self.held.get_mut(&handle) else {
            return;
        };
        if held.peer != from && held.also_from.is_none() {
            held.also_from = Some(from);
            self.held_by_peer.entry(from).or_default().push(handle);
        }
    }

    /// The stream holding `handle` is gone; returns what was kept for it.
    pub(super) fn let_go(&mut self, handle: ConnectionHandle) -> Option<Held> {
        self.wake_connection(handle);
        let held = self.held.remove(&handle)?;
        self.users = self.users.saturating_sub(1);
        for peer in std::iter::once(held.peer).chain(held.also_from) {
            if let Some(handles) = self.held_by_peer.get_mut(&peer) {
                handles.retain(|&h| h != handle);
                if handles.is_empty() {
                    self.held_by_peer.remove(&peer);
                }
            }
        }
        Some(held)
    }

    pub(super) fn held_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Held> {
        self.held.get_mut(&handle)
    }

    pub(super) fn held(&self, handle: ConnectionHandle) -> Option<&Held> {
        self.held.get(&handle)
    }

    /// Wake the task later, when something may have changed for `handle`.
    pub(super) fn wait(&mut self, handle: ConnectionHandle, waker: &Waker) {
        if let Some(held) = self.held.get_mut(&handle) {
            remember(&mut held.waiters, waker);
            self.waited_on.insert(handle);
        }
    }

    /// Wake the task when a new connection may be ready.
    pub(super) fn wait_to_accept(&mut self, waker: &Waker) {
        remember(&mut self.accept_waiters, waker);
    }

    /// Wake the tasks waiting on `handle`: an application call changed it.
    pub(super) fn wake_connection(&mut self, handle: ConnectionHandle) {
        if self.waited_on.remove(&handle) {
            if let Some(held) = self.held.get_mut(&handle) {
                wake_all(&mut held.waiters);
            }
        }
    }

    /// A datagram from `peer` arrived at `now`.
    pub(super) fn datagram(&mut self, now: Instant, peer: SocketAddr, bytes: &[u8]) {
        self.endpoint.handle_datagram(now, peer, bytes);
        // A punched peer's datagrams from another port concern the stream of its public
        // endpoint.
        self.wake_peer(self.endpoint.taken_as_from(peer));
    }

    /// A datagram from `peer` arrived at side socket `side` at `now`.
    pub(super) fn side_datagram(
        &mut self,
        now: Instant,
        side: usize,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        self.endpoint.handle_side_datagram(now, side, peer, bytes);
        self.wake_peer(self.endpoint.taken_as_from(peer));
    }

    /// The port datagrams to `destination` leave from: a side socket's, if the punch chose
    /// one ([`Endpoint::punch_side_for`]).
    pub(super) fn source_port_for(&self, destination: SocketAddr) -> Option<u16> {
        let side = self.endpoint.punch_side_for(destination)?;
        self.sides.get(side).copied().flatten()
    }

    /// An ICMP port unreachable says nothing listens at `peer` any more (RFC 1122 section
    /// 4.2.3.9's hard error), as the real drivers hand it over: `quoted` is the start of the
    /// datagram it answers.
    pub(super) fn unreachable(&mut self, peer: SocketAddr, quoted: &[u8]) {
        self.endpoint.handle_unreachable(peer, quoted);
        self.wake_peer(peer);
    }

    /// Run the endpoint's timers due at `now`, waking the tasks whose connection's timer
    /// fired, or all of them if a user timeout failed a connection.
    pub(super) fn timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionHandle> = self
            .waited_on
            .iter()
            .copied()
            .filter(|&handle| {
                self.endpoint
                    .connection(handle)
                    .and_then(Connection::poll_timeout)
                    .is_some_and(|at| at <= now)
            })
            .collect();
        let user_timeouts = self.endpoint.stats().user_timeouts;
        self.endpoint.handle_timeout(now);
        let woken = match self.endpoint.stats().user_timeouts != user_timeouts {
            true => self.waited_on.iter().copied().collect(),
            false => due,
        };
        for handle in woken {
            self.wake_connection(handle);
        }
    }

    /// Wake those that a datagram from `peer` may concern: the tasks holding a connection to
    /// it, or, if none does, those waiting to accept (a handshake may have completed).
    fn wake_peer(&mut self, peer: SocketAddr) {
        let Some(handles) = self.held_by_peer.get(&peer) else {
            wake_all(&mut self.accept_waiters);
            return;
        };
        for handle in handles {
            if self.waited_on.remove(handle) {
                if let Some(held) = self.held.get_mut(handle) {
                    wake_all(&mut held.waiters);
                }
            }
        }
    }

    /// Whether nothing uses the socket any more: no listener or stream, and every connection
    /// closed and forgotten by the endpoint.
    pub(super) fn is_unused(&self) -> bool {
        self.users == 0 && self.endpoint.connections().next().is_none()
    }
}

/// A UDP socket: a port and the datagrams that arrived for it.
#[derive(Debug)]
pub(super) struct UdpSocketState {
    pub(super) inbox: VecDeque<(SocketAddr, Vec<u8>)>,
    waiters: Vec<Waker>,
    /// Datagrams dropped because [`UDP_RECEIVE_QUEUE`] were waiting.
    pub(super) queue_drops: u64,
}

impl UdpSocketState {
    pub(super) fn new() -> UdpSocketState {
        UdpSocketState {
            inbox: VecDeque::new(),
            waiters: Vec::new(),
            queue_drops: 0,
        }
    }

    /// A datagram from `peer` arrived.
    pub(super) fn datagram(&mut self, peer: SocketAddr, bytes: &[u8]) {
        if self.inbox.len() >= UDP_RECEIVE_QUEUE {
            self.queue_drops += 1;
            return;
        }
        self.inbox.push_back((peer, bytes.to_vec()));
        wake_all(&mut self.waiters);
    }

    pub(super) fn wait(&mut self, waker: &Waker) {
        remember(&mut self.waiters, waker);
    }
}

/// A side socket of a Ferry socket's punch: a port of its own (so a mapping of its own in a
/// NAT), whose datagrams go to the owner's endpoint (birthday probing, docs/protocol.md
/// section 9.4).
#[derive(Clone, Copy, Debug)]
pub(super) struct SideSocket {
    /// The owner's port.
    pub(super) owner: u16,
    /// Its number among the owner's side sockets.
    pub(super) side: usize,
}

/// One of a host's sockets.
#[derive(Debug)]
pub(super) enum Socket {
    Ferry(Box<FerrySocket>),
    Udp(UdpSocketState),
    Side(SideSocket),
}

/// Keep `waker` among `waiters`, once.
fn remember(waiters: &mut Vec<Waker>, waker: &Waker) {
    if !waiters.iter().any(|waiter| waiter.will_wake(waker)) {
        waiters.push(waker.clone());
    }
}

/// Wake every waiter; they wait again if they must.
fn wake_all(waiters: &mut Vec<Waker>) {
    for waker in waiters.drain(..) {
        waker.wake();
    }
}
