//! The simulated network API: [`Stream`], [`Listener`] and [`UdpSocket`], with the methods of
//! `ferry::tokio`'s `Stream` and `Listener` (and of `tokio::net::UdpSocket`'s `send_to` and
//! `recv_from`), for programs running on a [`World`](super::World). A program written for
//! `ferry::tokio` runs here by taking these from `ferry::sim::world::net` instead, and
//! `spawn`, `sleep` and `timeout` from `ferry::sim::world`.
//!
//! Under every socket is a real [`Endpoint`]: the handshake,
//! retransmission, flow and congestion control are Ferry's own, over the world's links and
//! their faults, so a `write` completes when the data is in the send buffer and the peer
//! acknowledges it only if the network lets it through.
//!
//! | `ferry::tokio::Stream` | [`Stream`] |
//! |---|---|
//! | `connect(addrs)` | the same; an address may name a host (`"server:80"`), resolved by the world's names |
//! | `AsyncRead`, `AsyncWrite` | the same, tokio's traits: `AsyncReadExt` and `AsyncWriteExt` work; `poll_shutdown` completes once the peer has acknowledged the data and FIN |
//! | `split`, `into_split`, `reunite`, `OwnedWriteHalf::forget` | the same |
//! | `peer_addr`, `local_addr`, `stats`, `close`, `set_linger`, `linger`, `set_nodelay`, `nodelay`, `set_user_timeout` | the same |
//! | `punch(rendezvous, name, peer)`, `is_relayed`, `relayed` | the same; [`Stream::punch_from`] binds the local address too, and [`RendezvousServer`] is the server, a program of another host |
//! | `connect_with(addr, &SocketConfig)` | none: the world's [`Builder::connection_config`](super::Builder::connection_config) sets every connection's settings |
//!
//! | `ferry::tokio::Listener` | [`Listener`] |
//! |---|---|
//! | `bind(addrs)`, `accept`, `poll_accept`, `local_addr`, `stats` | the same |
//!
//! Errors are the `io::Error` kinds of `ferry::tokio` (`ConnectionRefused`, `ConnectionReset`,
//! `TimedOut`, `BrokenPipe`, ...); a socket whose host crashed gives `NotConnected`.

mod listener;
mod punch;
mod stream;
mod udp;

pub use listener::Listener;
pub use punch::RendezvousServer;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, Stream, WriteHalf};
pub use udp::UdpSocket;

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use super::context;
use super::core::{resolve_name, Core};
use super::host::SocketKey;
use super::socket::Socket;
use crate::endpoint::Endpoint;
use crate::io_error::connection_gone;

/// What a program can connect or bind to in the world: a socket address, an address and a
/// port, or text (`"10.0.1.2:80"`, `"[2001:db8::1]:80"`, `"server:80"` for a node's name).
pub trait ToSocketAddrs {
    /// The host part (an address, or a node's name) and the port.
    fn host_and_port(&self) -> io::Result<(String, u16)>;
}

impl ToSocketAddrs for SocketAddr {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.ip().to_string(), self.port()))
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.0.to_string(), self.1))
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.0.to_string(), self.1))
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.0.to_string(), self.1))
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.0.to_string(), self.1))
    }
}

impl ToSocketAddrs for (String, u16) {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        Ok((self.0.clone(), self.1))
    }
}

impl ToSocketAddrs for str {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        if let Ok(address) = self.parse::<SocketAddr>() {
            return address.host_and_port();
        }
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?} is not HOST:PORT (an address or a node's name, and a port)"),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(invalid)?;
        let port = port.parse().map_err(|_| invalid())?;
        Ok((host.to_string(), port))
    }
}

impl ToSocketAddrs for String {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        self.as_str().host_and_port()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn host_and_port(&self) -> io::Result<(String, u16)> {
        (**self).host_and_port()
    }
}

/// The addresses `addr` stands for in the running program's world.
fn resolve(addr: &impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let (host, port) = addr.host_and_port()?;
    let current = context::current("resolving an address in ferry::sim::world::net");
    let core = current.core.borrow();
    resolve_name(&core.nodes, &host, port)
}

/// Open a socket on the running program's host, bound to the first of `addr`'s addresses
/// that binds (each is tried in turn, as `bind` does): the world, the socket's key and its
/// address. `make` builds the socket from its bound address, an endpoint, and the world's
/// default linger. `what` names the call, for the panic outside a world.
fn bind_first(
    addr: &impl ToSocketAddrs,
    what: &str,
    make: impl Fn(SocketAddr, Endpoint, Option<Duration>) -> Socket,
) -> io::Result<(Rc<RefCell<Core>>, SocketKey, SocketAddr)> {
    let current = context::current(what);
    let mut last_error = None;
    for local in resolve(addr)? {
        let mut core = current.core.borrow_mut();
        let linger = core.linger;
        let opened = core.open_socket(
            current.host,
            current.incarnation,
            local,
            |bound, endpoint| make(bound, endpoint, linger),
        );
        match opened {
            Ok(key) => {
                let local = SocketAddr::new(local.ip(), key.port);
                return Ok((Rc::clone(&current.core), key, local));
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(connection_gone))
}
