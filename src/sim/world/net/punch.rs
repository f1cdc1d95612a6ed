//! Hole punching on a simulated host: [`Stream::punch`] and [`Stream::punch_from`] meet a
//! peer through a rendezvous server on another host of the world and open a connection to
//! it, directly through the NATs between them or through the server's relay, and
//! [`RendezvousServer`] is that server, a program on a [`UdpSocket`].
//!
//! Neither is a second implementation: the socket's [`Endpoint`](crate::endpoint::Endpoint)
//! punches with [`Endpoint::punch`](crate::endpoint::Endpoint::punch) as on a real socket
//! (docs/protocol.md section 9), and the server is the sans-IO [`Server`] that
//! `ferry rendezvous` runs, fed by the world's clock. Only the waiting is the world's.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use super::{bind_first, connection_gone, resolve, Stream, ToSocketAddrs, UdpSocket};
use crate::endpoint::ConnectionHandle;
use crate::io_error::{punch_established, punch_opened};
use crate::rendezvous::message::PROBE_PORT_OFFSET;
use crate::rendezvous::server::Event;
use crate::rendezvous::{PunchConfig, Server, ServerConfig, ServerStats};
use crate::sim::world::context::{self, WaitingOn};
use crate::sim::world::core::{host_gone, Core};
use crate::sim::world::host::SocketKey;
use crate::sim::world::socket::{FerrySocket, Socket};
use crate::sim::world::time::{elapsed, timeout};
use crate::time::Instant;

impl Stream {
    /// Meet the peer named `peer` through the rendezvous server at `rendezvous` (an address
    /// or `"node:port"`), registered there as `name`, from a new socket on an ephemeral port,
    /// and open a connection to it: as [`crate::Stream::punch`] does on a real socket, with
    /// the same stages, times and errors (docs/protocol.md section 9). Panics outside a
    /// world's program.
    pub async fn punch(
        rendezvous: impl ToSocketAddrs,
        name: &str,
        peer: &str,
    ) -> io::Result<Stream> {
        let server = *resolve(&rendezvous)?.first().ok_or_else(connection_gone)?;
        Stream::punch_from("0.0.0.0:0", &PunchConfig::new(server, name, peer)).await
    }

    /// [`punch`](Self::punch) from a socket bound to `local` (`"0.0.0.0:4000"`: port 4000 on
    /// every address of the host), with `config`'s timings and relay setting. The punched
    /// connection's settings are the world's
    /// ([`Builder::connection_config`](crate::sim::world::Builder::connection_config)) with
    /// [`punched_connection_config`](crate::rendezvous::punched_connection_config)'s SYN
    /// retries and keepalives. A punch dropped before it completes unregisters and frees the
    /// port.
    pub async fn punch_from(local: impl ToSocketAddrs, config: &PunchConfig) -> io::Result<Stream> {
        config
            .check()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
        let (core, key, bound) = bind_first(
            &local,
            "ferry::sim::world::net::Stream::punch_from",
            |bound, endpoint, linger| {
                let mut socket = FerrySocket::new(endpoint, bound, None, linger);
                // The punch uses the socket until a stream holds it.
                socket.users = 1;
                Socket::Ferry(Box::new(socket))
            },
        )?;
        let unclaimed = Unclaimed {
            core: Rc::clone(&core),
            key,
            claimed: false,
        };
        {
            let mut world = core.borrow_mut();
            let now = world.now;
            let socket = world.ferry_socket_mut(key).ok_or_else(host_gone)?;
            socket
                .endpoint
                .punch(now, config.clone())
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
            world.mark_dirty(key);
        }
        let server = config.server;
        // Meet: until the peer's endpoint is known (the endpoint opens the connection to it
        // by itself) or the punch fails.
        let (handle, peer) = wait_on_punch(&core, key, server, None, |socket| {
            punch_opened(&socket.endpoint)
        })
        .await?;
        let stream = {
            let mut world = core.borrow_mut();
            let socket = world.ferry_socket_mut(key).ok_or_else(host_gone)?;
            socket.hold(handle, peer);
            // Relayed datagrams come from the server: they concern this stream too.
            socket.hear_for(handle, server);
            let local = world.source_address(key.host, bound, peer).unwrap_or(bound);
            Stream::new(Rc::clone(&core), key, handle, peer, local)
        };
        unclaimed.claimed();
        wait_on_punch(&core, key, server, Some(handle), |socket| {
            punch_established(&socket.endpoint, handle)
        })
        .await?;
        Ok(stream)
    }
}

/// Wait until `check` on the socket gives an outcome: it is tried after each datagram that
/// may concern the punch (any, until `handle` is held; then those for the connection) and
/// at each of the endpoint's deadlines, whose timers it runs if the world has not yet (the
/// rendezvous client's timers wake no task of their own).
async fn wait_on_punch<T>(
    core: &Rc<RefCell<Core>>,
    key: SocketKey,
    server: SocketAddr,
    handle: Option<ConnectionHandle>,
    mut check: impl FnMut(&FerrySocket) -> Option<io::Result<T>>,
) -> io::Result<T> {
    loop {
        let next = {
            let mut world = core.borrow_mut();
            let now = world.now;
            let socket = world.ferry_socket_mut(key).ok_or_else(host_gone)?;
            if socket.endpoint.poll_timeout().is_some_and(|at| at <= now) {
                socket.timeout(now);
            }
            let outcome = check(socket);
            let next = socket.endpoint.poll_timeout();
            world.mark_dirty(key);
            if let Some(outcome) = outcome {
                return outcome;
            }
            next
        };
        // Woken by a datagram: registered on the first poll, done on the next.
        let mut registered = false;
        let woken = poll_fn(|cx| {
            if registered {
                return Poll::Ready(Ok::<(), io::Error>(()));
            }
            registered = true;
            let mut world = core.borrow_mut();
            let socket = world.ferry_socket_mut(key).ok_or_else(host_gone)?;
            match handle {
                Some(handle) => socket.wait(handle, cx.waker()),
                None => socket.wait_to_accept(cx.waker()),
            }
            drop(world);
            context::note_wait(WaitingOn::Punch(server));
            Poll::Pending
        });
        match next {
            Some(at) => {
                let now = Instant::ZERO + elapsed();
                let _ran_out = timeout(at.saturating_duration_since(now), woken).await;
            }
            None => woken.await?,
        }
    }
}

/// A punch's socket before a stream holds it: if the punch is dropped (or fails) first, the
/// punch stops (the client unregisters) and the port is freed once the UNREGISTER is sent.
struct Unclaimed {
    core: Rc<RefCell<Core>>,
    key: SocketKey,
    claimed: bool,
}

impl Unclaimed {
    /// A stream holds the socket now.
    fn claimed(mut self) {
        self.claimed = true;
    }
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        let mut world = self.core.borrow_mut();
        let now = world.now;
        if let Some(socket) = world.ferry_socket_mut(self.key) {
            if self.claimed {
                // The stream counts now; the punch's own use ends.
                socket.users = socket.users.saturating_sub(1);
            } else {
                socket.endpoint.stop_punch(now);
                socket.users = socket.users.saturating_sub(1);
            }
            world.mark_dirty(self.key);
        }
    }
}

/// A rendezvous server (docs/protocol.md section 9) as a program of a simulated host: the
/// sans-IO [`Server`] that `ferry rendezvous` runs
/// ([`ferry::net::RendezvousServer`](crate::net::RendezvousServer) on a real socket), on a
/// world [`UdpSocket`], on the world's clock.
#[derive(Debug)]
pub struct RendezvousServer {
    socket: UdpSocket,
    /// The probe port, the next after the socket's (docs/protocol.md section 9.4, "Port
    /// prediction"): PROBEs only, never answered from.
    probe_socket: Option<UdpSocket>,
    server: Server,
}

impl RendezvousServer {
    /// A server on a UDP socket bound to `addr` of the running program's host, and one on
    /// the next port for the clients' PROBEs (none if `addr`'s port is the last). Panics
    /// outside a world's program.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let probe_socket = match local.port().checked_add(PROBE_PORT_OFFSET) {
            Some(port) => Some(UdpSocket::bind(SocketAddr::new(local.ip(), port)).await?),
            None => None,
        };
        Ok(RendezvousServer {
            socket,
            probe_socket,
            server: Server::new(config),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// What the server counted.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Serve: receive, answer, relay, forget lapsed registrations, and hand each event to
    /// `log`. Returns only when the socket fails (its host crashed), with its error.
    pub async fn run(&mut self, mut log: impl FnMut(&Event)) -> io::Error {
        let mut buffer = vec![0u8; super::udp::MAX_UDP_PAYLOAD];
        loop {
            let now = Instant::ZERO + elapsed();
            // From either socket, whichever has a datagram first.
            let socket = &self.socket;
            let probe_socket = self.probe_socket.as_ref();
            let receive = poll_fn(|cx| {
                if let Poll::Ready(received) = socket.poll_recv_from(cx, &mut buffer) {
                    return Poll::Ready(received);
                }
                match probe_socket {
                    Some(probe_socket) => probe_socket.poll_recv_from(cx, &mut buffer),
                    None => Poll::Pending,
                }
            });
            let received = match self.server.poll_timeout() {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    timeout(wait, receive).await.ok()
                }
                None => Some(receive.await),
            };
            let now = Instant::ZERO + elapsed();
            match received {
                Some(Ok((len, from))) => self.server.handle_datagram(now, from, &buffer[..len]),
                Some(Err(error)) => return error,
                None => {}
            }
            if self.server.poll_timeout().is_some_and(|at| at <= now) {
                self.server.handle_timeout(now);
            }
            while let Some(transmit) = self.server.poll_transmit(now) {
                if let Err(error) = self
                    .socket
                    .send_to(&transmit.contents, transmit.destination)
                    .await
                {
                    // No route to a forged source is that datagram lost; a crash ends us.
                    if error.kind() == io::ErrorKind::NotConnected {
                        return error;
                    }
                }
            }
            while let Some(event) = self.server.poll_event() {
                log(&event);
            }
        }
    }
}
