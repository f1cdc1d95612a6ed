//! A UDP socket of its own for a connection a listener accepted, bound to the listener's
//! address and connected to the peer, so that the kernel hands the peer's datagrams to it
//! (Linux scores a connected socket above an unconnected one for its 4-tuple), and the thread
//! reading that connection waits on that socket alone (`inline_receive.rs`).
//!
//! A connection gets it the first time a thread waits to read on it after it has written
//! (`Shared::wait_to_read`): a server answering requests, whose reader waits on the socket
//! itself. A receiver that only reads leaves its datagrams to the driver, and their coming
//! through a second socket cost the driver more per batch than it saved (at MTU 1500 `ferry
//! recv` went at 2.4 to 4.8 Gbit/s with a socket for every accepted connection, 5.6 to 6.8
//! without).
//!
//! With the listener's one socket for every connection, one thread at a time could wait on
//! it: whichever thread a datagram woke had to wake the owner of the connection it was for.
//! A server with a thread per connection (`cargo bench --bench kv`) paid about four context
//! switches per request so.
//!
//! What does not change:
//! - The peer sees the same source address: the socket is bound to the listener's.
//! - A second `Listener::bind` to the port still fails with `AddrInUse`
//!   ([`socket::share_port`]).
//! - Datagrams that reach the listener's socket for that peer (before the connect, or
//!   queued there already) are taken in as before; the endpoint does not know which socket
//!   a datagram came from, and the faults and the capture (`socket_link.rs`) see every one.
//! - A process near its descriptor limit goes on with the shared socket: a connection gets
//!   a socket of its own only while the process uses less than half its limit, as a
//!   waiting thread's eventfd (`inline_receive::new_interrupt`).
//!
//! The socket closes once the endpoint has forgotten its connection, after its last stream is
//! gone and its close is done (through TIME-WAIT, if this side closed first); only the
//! released connections are looked at, so open ones cost the driver nothing per turn.
//! `FERRY_PEER_SOCKETS=off`
//! (or `0`) in the environment keeps every connection on the listener's socket, for benches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};

use mio::net::UdpSocket;
use mio::Token;

use super::driver_socket::DriverSocket;
use super::socket;
use crate::endpoint::{ConnectionHandle, Endpoint};

/// The first token a listener's driver gives a connection's socket; below it are the
/// listener's socket, its waker and its timer (`driver.rs`).
pub(super) const FIRST_PEER_TOKEN: usize = 16;

/// The sockets of a listener's accepted connections.
#[derive(Default)]
pub(super) struct PeerSockets {
    by_peer: HashMap<SocketAddr, (ConnectionHandle, Arc<DriverSocket>)>,
    by_token: HashMap<Token, Arc<DriverSocket>>,
    /// The peers of the connections whose streams are gone: the endpoint forgets each once
    /// its close is done, and its socket closes then. Only these are looked at, so a listener
    /// with many open connections pays nothing per turn for them.
    released: Vec<(ConnectionHandle, SocketAddr)>,
    /// Sockets the driver should receive from on its next turn, though the poll did not say
    /// so: more datagrams waited after a full batch, or a send met an ICMP error.
    pending: Vec<Token>,
    next_token: usize,
}

/// Whether accepted connections get sockets of their own (`FERRY_PEER_SOCKETS`), read once.
pub(super) fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var("FERRY_PEER_SOCKETS")
            .map(|value| !matches!(value.trim(), "off" | "0"))
            .unwrap_or(true)
    })
}

/// A socket bound to `listener` (the listener's address) and connected to `peer`, or `None`
/// if the process has no descriptor to spare or the kernel refused it (the connection then
/// stays on the listener's socket). Its time-to-live is `ttl`, the listener's; it refuses
/// fragmentation if `path_mtu_discovery`, as the listener's does.
pub(super) fn open(
    listener: SocketAddr,
    peer: SocketAddr,
    ttl: Option<u32>,
    path_mtu_discovery: bool,
) -> Option<UdpSocket> {
    let opened = socket::open_for_peer(listener, peer, path_mtu_discovery).ok()?;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let number = u64::try_from(opened.as_raw_fd()).ok()?;
    if limit.is_some_and(|limit| number >= limit / 2) {
        return None;
    }
    if let Some(ttl) = ttl {
        let _ = socket::set_ttl(&opened, listener, ttl);
    }
    Some(UdpSocket::from_std(opened))
}

impl PeerSockets {
    /// A token for the next socket.
    pub(super) fn next_token(&mut self) -> Token {
        let token = Token(FIRST_PEER_TOKEN + self.next_token);
        self.next_token += 1;
        token
    }

    /// From now on, what goes to `peer` leaves through `socket`, which carries `handle`.
    pub(super) fn insert(
        &mut self,
        peer: SocketAddr,
        handle: ConnectionHandle,
        socket: DriverSocket,
    ) {
        let socket = Arc::new(socket);
        self.by_token.insert(socket.token, Arc::clone(&socket));
        if let Some((_, replaced)) = self.by_peer.insert(peer, (handle, socket)) {
            self.by_token.remove(&replaced.token);
        }
    }

    /// The socket connected to `peer`, if it has one.
    pub(super) fn for_peer(&self, peer: SocketAddr) -> Option<&Arc<DriverSocket>> {
        self.by_peer.get(&peer).map(|(_, socket)| socket)
    }

    /// The socket the poll knows as `token`.
    pub(super) fn for_token(&self, token: Token) -> Option<&Arc<DriverSocket>> {
        self.by_token.get(&token)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// Whether a released connection's socket waits to be closed.
    pub(super) fn any_released(&self) -> bool {
        !self.released.is_empty()
    }

    /// Every socket, to set an option on all of them.
    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<DriverSocket>> {
        self.by_token.values()
    }

    /// Have the driver receive from the socket `token` on its next turn.
    pub(super) fn mark_pending(&mut self, token: Token) {
        if !self.pending.contains(&token) {
            self.pending.push(token);
        }
    }

    /// Add the sockets marked pending to `ready`.
    pub(super) fn take_pending(&mut self, ready: &mut Vec<Token>) {
        ready.append(&mut self.pending);
    }

    /// The last stream of `handle`, a connection to `peer`, is gone: its socket closes once
    /// the endpoint has forgotten it ([`close_forgotten`](Self::close_forgotten)).
    pub(super) fn released(&mut self, handle: ConnectionHandle, peer: SocketAddr) {
        let owns_socket = self
            .by_peer
            .get(&peer)
            .is_some_and(|(owner, _)| *owner == handle);
        if owns_socket {
            self.released.push((handle, peer));
        }
    }

    /// Close the sockets of released connections that `endpoint` has forgotten (a thread
    /// still waiting on one holds it until it wakes).
    pub(super) fn close_forgotten(&mut self, endpoint: &Endpoint) {
        let (by_peer, by_token) = (&mut self.by_peer, &mut self.by_token);
        self.released.retain(|&(handle, peer)| {
            if endpoint.connection(handle).is_some() {
                return true;
            }
            let owned = by_peer
                .get(&peer)
                .is_some_and(|(owner, _)| *owner == handle);
            if owned {
                if let Some((_, socket)) = by_peer.remove(&peer) {
                    by_token.remove(&socket.token);
                }
            }
            false
        });
    }
}
