//! ICMP errors as TCP treats them, read from the socket's error queue, for both drivers.
//!
//! A plain UDP socket hears of an ICMP error only as an errno on its next call, and only if
//! it is connected (ECONNREFUSED for a port unreachable): that says neither which datagram met
//! the error nor where it went, so a forged ICMP error could end a connection, and a
//! listener, whose socket is not connected, heard nothing. With IP_RECVERR (IPV6_RECVERR),
//! Linux queues every ICMP error about a datagram the socket sent, connected or not, with the
//! address that datagram went to and its start as the error quotes it (ip(7), recvmsg with
//! MSG_ERRQUEUE). The endpoint then believes a port unreachable only if the quoted sequence
//! number is one the connection could have sent (RFC 5927 section 4.1,
//! [`Endpoint::handle_unreachable`]). Every other ICMP error (host or network unreachable,
//! fragmentation needed, time exceeded) is soft, RFC 1122 section 4.2.3.9: it is taken out
//! of the queue and left to the retransmission timers.
//!
//! With IP_RECVERR set, each ICMP error also fails one send or receive with its errno: the
//! sign to read the queue ([`socket_error_meaning`](super::socket_error_meaning)), not a
//! failure of the socket.
//!
//! The crate forbids unsafe code; the control messages come through `nix`.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc::{sock_extended_err, sockaddr_in6, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};

use super::inbox::RECEIVE_BATCH;
use crate::endpoint::Endpoint;

/// Room for the quoted bytes: an ICMPv6 error quotes at most 1280 bytes of the packet (RFC
/// 4443 section 3.1), an ICMPv4 error from Linux 576.
const QUOTE_ROOM: usize = 1280;

/// Have `socket` queue the ICMP errors about what it sends. On an IPv6 socket, IPv4 peers
/// (mapped addresses) report through IP_RECVERR: both are asked for there.
pub(crate) fn enable(socket: &impl AsFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)?;
        // An IPv6-only socket has no IPv4 peers: refusing this costs nothing.
        let _ = setsockopt(socket, sockopt::Ipv4RecvErr, &true);
    } else {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(())
}

/// Whether a send or receive failed only to report an ICMP error: the errnos Linux's
/// `icmp_err_convert` and `icmpv6_err_convert` give, which IP_RECVERR makes it report for
/// every error, connected socket or not. The error's details wait in the queue.
pub(crate) fn reports_icmp(error: &io::Error) -> bool {
    error
        .raw_os_error()
        .map(Errno::from_raw)
        .is_some_and(|errno| {
            matches!(
                errno,
                Errno::ECONNREFUSED
                    | Errno::EHOSTUNREACH
                    | Errno::ENETUNREACH
                    | Errno::EHOSTDOWN
                    | Errno::ENONET
                    | Errno::ENOPROTOOPT
                    | Errno::EPROTO
                    | Errno::EOPNOTSUPP
                    | Errno::EMSGSIZE
                    | Errno::EACCES
            )
        })
}

/// Whether a queued error says nothing listens where the datagram went: an ICMP or ICMPv6
/// port unreachable (ECONNREFUSED), or a protocol unreachable (ENOPROTOOPT), the hard errors
/// of RFC 1122 section 4.2.3.9. Errors the host raised itself (a datagram too big to send,
/// say) are not the network's word about the peer.
fn says_peer_gone(error: &sock_extended_err) -> bool {
    let from_icmp = matches!(error.ee_origin, SO_EE_ORIGIN_ICMP | SO_EE_ORIGIN_ICMP6);
    let errno = i32::try_from(error.ee_errno).map(Errno::from_raw);
    from_icmp && matches!(errno, Ok(Errno::ECONNREFUSED | Errno::ENOPROTOOPT))
}

/// The port and protocol unreachables taken from a socket's error queue, each with the
/// address its datagram went to and the bytes the error quotes; the buffers are kept and
/// reused.
pub(crate) struct ErrorQueue {
    /// Where each error's quoted bytes are read first.
    scratch: Vec<u8>,
    /// Room for one error's control message: its `sock_extended_err` and the address of the
    /// host that sent the ICMP.
    control: Vec<u8>,
    quoted: Vec<u8>,
    /// Each unreachable's destination and place in `quoted`.
    unreachables: Vec<(SocketAddr, Range<usize>)>,
}

impl Default for ErrorQueue {
    fn default() -> ErrorQueue {
        ErrorQueue {
            scratch: vec![0; QUOTE_ROOM],
            control: nix::cmsg_space!(sock_extended_err, sockaddr_in6),
            quoted: Vec::new(),
            unreachables: Vec::new(),
        }
    }
}

impl ErrorQueue {
    /// Forget the errors read last.
    pub(crate) fn clear(&mut self) {
        self.quoted.clear();
        self.unreachables.clear();
    }

    /// Take at most [`RECEIVE_BATCH`] errors from `socket`'s queue, keeping the port and
    /// protocol unreachables beside those already held. Returns whether more may be waiting.
    /// Never blocks; a queue that cannot be read holds nothing to act on.
    pub(crate) fn read(&mut self, socket: BorrowedFd<'_>) -> bool {
        for _ in 0..RECEIVE_BATCH {
            match self.read_one(socket) {
                Ok(Some((destination, len))) => {
                    let start = self.quoted.len();
                    self.quoted.extend_from_slice(&self.scratch[..len]);
                    self.unreachables
                        .push((destination, start..self.quoted.len()));
                }
                // A soft error, or one about no address: out of the queue, nothing to do.
                Ok(None) | Err(Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Take one error from the queue: the destination of its datagram and how many quoted
    /// bytes `scratch` holds, if it says the peer is gone.
    fn read_one(&mut self, socket: BorrowedFd<'_>) -> nix::Result<Option<(SocketAddr, usize)>> {
        let mut buffers = [IoSliceMut::new(&mut self.scratch)];
        let message = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut buffers,
            Some(&mut self.control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        )?;
        // A control message cut short (it never is: `control` has room) is not understood.
        let peer_gone = message.cmsgs().is_ok_and(|mut controls| {
            controls.any(|control| match control {
                ControlMessageOwned::Ipv4RecvErr(error, _)
                | ControlMessageOwned::Ipv6RecvErr(error, _) => says_peer_gone(&error),
                _ => false,
            })
        });
        let destination = message.address.as_ref().and_then(socket_address);
        let len = message.bytes.min(QUOTE_ROOM);
        Ok(destination.filter(|_| peer_gone).map(|to| (to, len)))
    }

    /// Hand the unreachables read to `endpoint`; `heard` learns each destination, for the
    /// driver to wake whoever waits on a connection to it.
    pub(crate) fn deliver(&self, endpoint: &mut Endpoint, mut heard: impl FnMut(SocketAddr)) {
        for (destination, range) in &self.unreachables {
            endpoint.handle_unreachable(*destination, &self.quoted[range.clone()]);
            heard(*destination);
        }
    }
}

/// A datagram's destination as the error queue gives it.
fn socket_address(address: &SockaddrStorage) -> Option<SocketAddr> {
    address
        .as_sockaddr_in()
        .map(|&v4| SocketAddr::from(v4))
        .or_else(|| address.as_sockaddr_in6().map(|&v6| SocketAddr::from(v6)))
}
