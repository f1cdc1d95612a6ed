//! [`UdpSocket`]: plain datagrams on a port of a simulated host, for the small protocols
//! beside Ferry's connections (a rendezvous server, say), with `tokio::net::UdpSocket`'s
//! `send_to` and `recv_from`.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{bind_first, connection_gone, resolve, ToSocketAddrs};
use crate::sim::world::context::{self, WaitingOn};
use crate::sim::world::core::{host_gone, Core, Why};
use crate::sim::world::datagram::Header;
use crate::sim::world::host::SocketKey;
use crate::sim::world::socket::{Socket, UdpSocketState};

/// The largest payload one UDP datagram carries over IPv4 (65,535 less the IP and UDP
/// headers); beyond it `send_to` is `InvalidInput`, as a kernel's `EMSGSIZE`.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// A UDP socket of a simulated host. What arrives waits in a queue of
/// [`UDP_RECEIVE_QUEUE`](crate::sim::world::UDP_RECEIVE_QUEUE) datagrams; beyond it, arrivals
/// are dropped, as a full socket buffer drops them.
pub struct UdpSocket {
    core: Rc<RefCell<Core>>,
    key: SocketKey,
    local: SocketAddr,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl UdpSocket {
    /// Bind to `addr` of the running program's host (the unspecified address for all its
    /// addresses; port 0 for an ephemeral port). Panics outside a world's program.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let (core, key, local) = bind_first(
            &addr,
            "ferry::sim::world::net::UdpSocket::bind",
            |_bound, _endpoint, _linger| Socket::Udp(UdpSocketState::new()),
        )?;
        Ok(UdpSocket { core, key, local })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Send `buf` as one datagram to `target`; its length once it is on its way (a datagram
    /// is sent whole or not at all, and the network may lose it).
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        if buf.len() > MAX_UDP_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte datagram is longer than UDP carries ({MAX_UDP_PAYLOAD} bytes)",
                    buf.len()
                ),
            ));
        }
        let target = *resolve(&target)?.first().ok_or_else(connection_gone)?;
        let mut core = self.core.borrow_mut();
        if core.udp_socket_mut(self.key).is_none() {
            return Err(host_gone());
        }
        let source = core.route_from(self.key.host, self.local, target)?;
        let header = Header::udp(self.key.host, source, target);
        core.send(self.key.host, header, buf.to_vec(), Why::Udp);
        Ok(buf.len())
    }

    /// Wait for the next datagram: its bytes go into `buf` (what does not fit is lost, as
    /// with a real socket) and its sender comes back with the count.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// [`recv_from`](Self::recv_from) as a poll.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut core = self.core.borrow_mut();
        let socket = core.udp_socket_mut(self.key).ok_or_else(host_gone)?;
        let Some((from, datagram)) = socket.inbox.pop_front() else {
            socket.wait(cx.waker());
            drop(core);
            context::note_wait(WaitingOn::Receive(self.local));
            return Poll::Pending;
        };
        let count = datagram.len().min(buf.len());
        buf[..count].copy_from_slice(&datagram[..count]);
        Poll::Ready(Ok((count, from)))
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.core.borrow_mut().release_udp(self.key);
    }
}
