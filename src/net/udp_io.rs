//! The datagram I/O both drivers share (the threaded one in `driver.rs`, the tokio one in
//! `crate::tokio`): a batch of datagrams out of a socket in as few system calls as the kernel
//! allows, and the rules for what each failed send means.
//!
//! - **UDP GSO** (`UDP_SEGMENT`, Linux 4.18): a run of equal-size datagrams to one peer (the
//!   last one may be shorter) goes in one `sendmsg`, its datagrams gathered from where they
//!   lie, and the kernel cuts it into datagrams. A bulk sender's full segments are such runs.
//! - **`sendmmsg`**: otherwise, up to [`SEND_BATCH`] datagrams, to any peers, in one call.
//! - **`recvmmsg`** fills several receive slots in one call, and **UDP GRO** (`UDP_GRO`,
//!   Linux 5.0) lets one slot hold a run of equal-size datagrams from one peer, told apart by
//!   the segment size the kernel reports beside them ([`Message`]).
//! - Each is found at run time (GSO: the socket answers `getsockopt(UDP_SEGMENT)`; a `sendmsg`
//!   that fails with `EIO` or `EINVAL`, a device that cannot checksum the segments, turns it
//!   off for the socket) and each has a switch, read once from the environment, for benches and labs:
//!   `FERRY_UDP_GSO=off`, `FERRY_UDP_GRO=off` and `FERRY_UDP_MMSG=off` (the last for both
//!   `sendmmsg` and `recvmmsg`; `0` works too). With both off, one
//!   datagram per `send`, as before.
//!
//! Behaviour does not depend on the path: datagrams leave in the order given, and a failed
//! call loses only what a one-datagram-at-a-time sender would have lost (a GSO run that fails
//! is sent again datagram by datagram, so that one error costs one datagram).
//!
//! Why by hand on `nix`, not quinn-udp: docs/architecture.md ("Datagram I/O").

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};

use super::{socket_error_meaning, SocketErrorMeaning};

/// The most datagrams one `sendmmsg` carries (the kernel's own limit, `UIO_MAXIOV`, is 1024).
pub(crate) const SEND_BATCH: usize = 64;

/// The most segments one GSO send carries: the kernel's `UDP_MAX_SEGMENTS` was 64 before
/// Linux 5.4 (128 since).
const GSO_MAX_SEGMENTS: usize = 64;

/// The most payload bytes one GSO send carries: one UDP datagram's (65,535 bytes less the
/// IPv6 and UDP headers, 48; less still on IPv4, 28), kept under both.
const GSO_MAX_BYTES: usize = 65_535 - 48;

/// The environment's switches, read once per process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Switches {
    /// UDP GSO may be used where the socket offers it (`FERRY_UDP_GSO`).
    pub(crate) gso: bool,
    /// UDP GRO is asked of the socket (`FERRY_UDP_GRO`).
    pub(crate) gro: bool,
    /// `sendmmsg` and `recvmmsg` may be used (`FERRY_UDP_MMSG`).
    pub(crate) mmsg: bool,
}

impl Switches {
    /// `FERRY_UDP_GSO`, `FERRY_UDP_GRO` and `FERRY_UDP_MMSG`: each is on unless set to `off`
    /// or `0`.
    pub(crate) fn from_environment() -> Switches {
        static SWITCHES: OnceLock<Switches> = OnceLock::new();
        *SWITCHES.get_or_init(|| {
            let on = |name| {
                std::env::var(name)
                    .map(|value| !matches!(value.trim(), "off" | "0"))
                    .unwrap_or(true)
            };
            Switches {
                gso: on("FERRY_UDP_GSO"),
                gro: on("FERRY_UDP_GRO"),
                mmsg: on("FERRY_UDP_MMSG"),
            }
        })
    }
}

/// What a batch's sends said about the socket, for the driver to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SendReport {
    /// A send was told of an ICMP error (`IP_RECVERR`): the driver reads the error queue.
    pub(crate) icmp_reported: bool,
    /// The socket itself failed, with this error (the last one seen).
    pub(crate) failed: Option<io::ErrorKind>,
    /// System calls made.
    pub(crate) calls: usize,
}

impl SendReport {
    /// Record one failed call the way the socket-error rules read it.
    fn failed_with(&mut self, error: &io::Error) {
        match socket_error_meaning(error) {
            // A full socket buffer, an interrupted call: what it carried is lost, as a
            // datagram may be; retransmission repairs it.
            SocketErrorMeaning::Nothing => {}
            SocketErrorMeaning::Icmp => self.icmp_reported = true,
            SocketErrorMeaning::SocketFailed => self.failed = Some(error.kind()),
        }
    }
}

/// How one socket sends batches: the paths it may use, GSO switched off for good once the
/// socket's device refused it.
#[derive(Debug)]
pub(crate) struct Sender {
    gso: AtomicBool,
    mmsg: bool,
    /// The socket is connected: datagrams go without an address.
    connected: bool,
}

impl Sender {
    /// The paths `socket` offers, within `switches`.
    pub(crate) fn new(socket: BorrowedFd<'_>, connected: bool, switches: Switches) -> Sender {
        let gso = switches.gso && socket::getsockopt(&socket, sockopt::UdpGsoSegment).is_ok();
        Sender {
            gso: AtomicBool::new(gso),
            mmsg: switches.mmsg,
            connected,
        }
    }

    /// Whether runs of equal-size datagrams go as one GSO send.
    pub(crate) fn uses_gso(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Send every datagram of `batch`, in order; `parts` gives each one's peer and bytes.
    pub(crate) fn send<T>(
        &self,
        socket: BorrowedFd<'_>,
        batch: &[T],
        parts: impl Fn(&T) -> (SocketAddr, &[u8]),
    ) -> SendReport {
        let mut report = SendReport::default();
        let mut start = 0;
        while start < batch.len() {
            let rest = &batch[start..];
            if self.uses_gso() {
                let run = gso_run(rest, &parts);
                if run > 1 {
                    report.calls += 1;
                    match self.send_gso(socket, &rest[..run], &parts) {
                        Ok(()) => {}
                        Err(error) => {
                            let refused = [Errno::EIO, Errno::EINVAL]
                                .iter()
                                .any(|errno| error.raw_os_error() == Some(*errno as i32));
                            if refused {
                                // The device cannot checksum the segments, or the kernel
                                // takes no segments this size (quinn-udp reads both so):
                                // never again on this socket.
                                self.gso.store(false, Ordering::Relaxed);
                            }
                            // Datagram by datagram, so one error costs one datagram.
                            self.send_each(socket, &rest[..run], &parts, &mut report);
                        }
                    }
                    start += run;
                    continue;
                }
            }
            if self.mmsg && rest.len() > 1 {
                let count = rest.len().min(SEND_BATCH);
                report.calls += 1;
                match self.send_mmsg(socket, &rest[..count], &parts) {
                    // At least one went (sendmmsg fails only if the first one did).
                    Ok(sent) => start += sent.max(1),
                    Err(error) => {
                        report.failed_with(&error);
                        start += 1;
                    }
                }
            } else {
                self.send_each(socket, &rest[..1], &parts, &mut report);
                start += 1;
            }
        }
        report
    }

    /// One `send` (or `sendto`) per datagram.
    fn send_each<T>(
        &self,
        socket: BorrowedFd<'_>,
        datagrams: &[T],
        parts: &impl Fn(&T) -> (SocketAddr, &[u8]),
        report: &mut SendReport,
    ) {
        for datagram in datagrams {
            let (peer, bytes) = parts(datagram);
            report.calls += 1;
            if let Err(error) = self.send_one(socket, &[IoSlice::new(bytes)], &[], peer) {
                report.failed_with(&error);
            }
        }
    }

    /// One `sendmsg` of `iov` with `control`, to `peer` unless the socket is connected.
    fn send_one(
        &self,
        socket: BorrowedFd<'_>,
        iov: &[IoSlice<'_>],
        control: &[ControlMessage<'_>],
        peer: SocketAddr,
    ) -> io::Result<()> {
        let address = (!self.connected).then(|| SockaddrStorage::from(peer));
        socket::sendmsg(
            socket.as_raw_fd(),
            iov,
            control,
            MsgFlags::empty(),
            address.as_ref(),
        )
        .map(drop)
        .map_err(io::Error::from)
    }

    /// A run of equal-size datagrams to one peer (see [`gso_run`]) as one GSO send.
    fn send_gso<T>(
        &self,
        socket: BorrowedFd<'_>,
        run: &[T],
        parts: &impl Fn(&T) -> (SocketAddr, &[u8]),
    ) -> io::Result<()> {
        let (peer, first) = parts(&run[0]);
        let segment_size = u16::try_from(first.len()).map_err(|_| Errno::EMSGSIZE)?;
        let iov: Vec<IoSlice<'_>> = run
            .iter()
            .map(|datagram| IoSlice::new(parts(datagram).1))
            .collect();
        self.send_one(
            socket,
            &iov,
            &[ControlMessage::UdpGsoSegments(&segment_size)],
            peer,
        )
    }

    /// Up to [`SEND_BATCH`] datagrams in one `sendmmsg`. Returns how many went.
    fn send_mmsg<T>(
        &self,
        socket: BorrowedFd<'_>,
        datagrams: &[T],
        parts: &impl Fn(&T) -> (SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let iovs: Vec<[IoSlice<'_>; 1]> = datagrams
            .iter()
            .map(|datagram| [IoSlice::new(parts(datagram).1)])
            .collect();
        let addresses: Vec<Option<SockaddrStorage>> = datagrams
            .iter()
            .map(|datagram| (!self.connected).then(|| SockaddrStorage::from(parts(datagram).0)))
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
        let no_control: [ControlMessage<'_>; 0] = [];
        let sent = socket::sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &iovs,
            &addresses,
            no_control,
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(sent.count())
    }
}

/// How many datagrams from the start of `datagrams` one GSO send can carry: the same peer,
/// the same size as the first (the last may be shorter, and ends the run), within the
/// kernel's segment and byte limits.
fn gso_run<T>(datagrams: &[T], parts: &impl Fn(&T) -> (SocketAddr, &[u8])) -> usize {
    let Some(first) = datagrams.first() else {
        return 0;
    };
    let (peer, bytes) = parts(first);
    let size = bytes.len();
    if size == 0 {
        return 1;
    }
    let mut run = 1;
    let mut total = size;
    for datagram in &datagrams[1..] {
        let (to, bytes) = parts(datagram);
        if to != peer
            || bytes.len() > size
            || bytes.is_empty()
            || run == GSO_MAX_SEGMENTS
            || total + bytes.len() > GSO_MAX_BYTES
        {
            break;
        }
        run += 1;
        total += bytes.len();
        if bytes.len() < size {
            break;
        }
    }
    run
}

/// Largest datagram a driver receives: the largest UDP payload, and so the size of each
/// receive slot. A GRO run never exceeds it either (the kernel's `gro_max_size`, 64 KiB).
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// One message a receive took into a slot: `len` bytes from `from`, which are datagrams of
/// `segment` bytes each (the last may be shorter) if GRO joined several, else one datagram
/// (`segment` is then `len`, at least 1). A `segment` of 0 marks a slot to skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) from: SocketAddr,
    pub(crate) len: usize,
    pub(crate) segment: usize,
}

impl Message {
    /// How many datagrams the message holds.
    pub(crate) fn count(&self) -> usize {
        match self.segment {
            0 => 0,
            segment => self.len.div_ceil(segment).max(1),
        }
    }

    /// Datagram `index` of the message, within `slot`, the slot it was received into.
    pub(crate) fn datagram<'a>(&self, slot: &'a [u8], index: usize) -> &'a [u8] {
        let start = (index * self.segment).min(self.len);
        &slot[start..(start + self.segment).min(self.len)]
    }
}

/// How one socket receives: into several slots per call if it may, with GRO if the socket
/// took it.
#[derive(Debug)]
pub(crate) struct Receiver {
    gro: bool,
    mmsg: bool,
    /// The peer a connected socket talks to: the sender of everything it receives.
    peer: Option<SocketAddr>,
}

impl Receiver {
    /// Ask `socket` for GRO if `switches` allow it; `peer` is the peer it is connected to.
    pub(crate) fn new(
        socket: BorrowedFd<'_>,
        peer: Option<SocketAddr>,
        switches: Switches,
    ) -> Receiver {
        let gro =
            switches.gro && socket::setsockopt(&socket, sockopt::UdpGroSegment, &true).is_ok();
        Receiver {
            gro,
            mmsg: switches.mmsg,
            peer,
        }
    }

    /// Whether the socket joins runs of datagrams (GRO).
    #[cfg(test)]
    pub(crate) fn uses_gro(&self) -> bool {
        self.gro
    }

    /// One nonblocking receive into `slots` (whole slots of [`MAX_DATAGRAM`] bytes, at least
    /// one): appends a [`Message`] for each slot filled, in order, the first in slot 0.
    /// Returns whether the socket ran dry: `recvmmsg` filled fewer slots than it was given, so
    /// a further call would only fail with `WouldBlock` (which saves that call per batch).
    /// Fails as `recv` does, with `WouldBlock` once the socket is empty.
    pub(crate) fn receive(
        &self,
        socket: BorrowedFd<'_>,
        slots: &mut [u8],
        messages: &mut Vec<Message>,
    ) -> io::Result<bool> {
        let count = if self.mmsg {
            slots.len() / MAX_DATAGRAM
        } else {
            1
        };
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = slots
            .chunks_exact_mut(MAX_DATAGRAM)
            .take(count)
            .map(|slot| [IoSliceMut::new(slot)])
            .collect();
        let control = self.gro.then(|| nix::cmsg_space!(i32));
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(iovs.len(), control);
        let received = socket::recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let before = messages.len();
        for message in received {
            let from = message.address.as_ref().and_then(socket_addr).or(self.peer);
            let gro_segment = message.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::UdpGroSegments(size) => usize::try_from(size).ok(),
                    _ => None,
                })
            });
            let len = message.bytes.min(MAX_DATAGRAM);
            // A slot whose sender is unknown still holds its place, empty, so that the
            // messages stay in slot order.
            messages.push(match from {
                Some(from) => Message {
                    from,
                    len,
                    segment: gro_segment.filter(|size| *size > 0).unwrap_or(len).max(1),
                },
                None => Message {
                    from: UNKNOWN_SENDER,
                    len: 0,
                    segment: 0,
                },
            });
        }
        Ok(self.mmsg && messages.len() - before < count)
    }
}

/// Stands for the sender of a slot whose address could not be read (never, from a UDP
/// socket); such a slot is left empty.
const UNKNOWN_SENDER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// The address a receive reported, if it is an IP one.
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;
    use std::time::Duration;

    const ALL_OFF: Switches = Switches {
        gso: false,
        gro: false,
        mmsg: false,
    };

    /// A datagram too large for the path (a path MTU probe, with Don't Fragment set) fails
    /// its send with EMSGSIZE, or comes back as an ICMP "packet too big": a datagram lost,
    /// which the connection's path MTU search counts as a lost probe, never the socket's
    /// failure (RFC 8899 section 4.6.1 asks a PL to take it as a hint, no more).
    #[test]
    fn a_datagram_too_big_for_the_path_is_lost_not_a_socket_failure() {
        let too_big = io::Error::from_raw_os_error(Errno::EMSGSIZE as i32);
        assert_ne!(
            socket_error_meaning(&too_big),
            SocketErrorMeaning::SocketFailed
        );
        let mut report = SendReport::default();
        report.failed_with(&too_big);
        assert_eq!(report.failed, None);
    }

    fn receiver() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    /// What `receiver` got, `count` datagrams, each with its sender.
    fn received(receiver: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut buffer = vec![0; 65_536];
        (0..count)
            .map(|_| {
                let (len, _) = receiver.recv_from(&mut buffer).unwrap();
                buffer[..len].to_vec()
            })
            .collect()
    }

    fn datagram(index: usize, len: usize) -> Vec<u8> {
        (0..len).map(|i| (index * 7 + i) as u8).collect()
    }

    /// Sends `batch` through a sender with `switches` from an unconnected socket; returns
    /// what each receiver got, and the report.
    fn send_through(
        switches: Switches,
        batch: &[(usize, Vec<u8>)],
        receivers: &[&UdpSocket],
    ) -> (Vec<Vec<Vec<u8>>>, SendReport) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = Sender::new(socket.as_fd(), false, switches);
        let addresses: Vec<SocketAddr> = receivers
            .iter()
            .map(|receiver| receiver.local_addr().unwrap())
            .collect();
        let report = sender.send(socket.as_fd(), batch, |(to, bytes)| {
            (addresses[*to], bytes.as_slice())
        });
        let got = receivers
            .iter()
            .enumerate()
            .map(|(index, receiver)| {
                received(
                    receiver,
                    batch.iter().filter(|(to, _)| *to == index).count(),
                )
            })
            .collect();
        (got, report)
    }

    /// Ten full segments, a short one, then an ACK-sized one to another peer, and two more.
    fn mixed_batch() -> Vec<(usize, Vec<u8>)> {
        let mut batch: Vec<(usize, Vec<u8>)> =
            (0..10).map(|index| (0, datagram(index, 1_224))).collect();
        batch.push((0, datagram(10, 500)));
        batch.push((1, datagram(11, 24)));
        batch.push((0, datagram(12, 1_224)));
        batch.push((0, datagram(13, 1_224)));
        batch
    }

    fn expected(batch: &[(usize, Vec<u8>)], to: usize) -> Vec<Vec<u8>> {
        batch
            .iter()
            .filter(|(peer, _)| *peer == to)
            .map(|(_, bytes)| bytes.clone())
            .collect()
    }

    #[test]
    fn every_path_delivers_each_datagram_whole_and_in_order() {
        let batch = mixed_batch();
        for switches in [
            ALL_OFF,
            Switches {
                mmsg: true,
                ..ALL_OFF
            },
            Switches {
                gso: true,
                ..ALL_OFF
            },
            Switches {
                gso: true,
                gro: false,
                mmsg: true,
            },
        ] {
            let (a, b) = (receiver(), receiver());
            let (got, report) = send_through(switches, &batch, &[&a, &b]);
            assert_eq!(got[0], expected(&batch, 0), "{switches:?}");
            assert_eq!(got[1], expected(&batch, 1), "{switches:?}");
            assert_eq!(report.failed, None);
        }
    }

    #[test]
    fn gso_and_sendmmsg_take_fewer_system_calls_than_one_per_datagram() {
        let batch = mixed_batch();
        let calls = |switches| {
            let (a, b) = (receiver(), receiver());
            send_through(switches, &batch, &[&a, &b]).1.calls
        };
        assert_eq!(calls(ALL_OFF), batch.len());
        // One sendmmsg for the whole batch.
        assert_eq!(
            calls(Switches {
                mmsg: true,
                ..ALL_OFF
            }),
            1
        );
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(
            Sender::new(socket.as_fd(), false, Switches::from_environment()).uses_gso()
                || !Switches::from_environment().gso,
            "Linux offers UDP GSO since 4.18"
        );
        // Eleven datagrams (ten full, the short one ends the run), the ACK alone, two more.
        assert_eq!(
            calls(Switches {
                gso: true,
                ..ALL_OFF
            }),
            3
        );
    }

    #[test]
    fn a_gso_run_ends_at_a_new_peer_a_bigger_datagram_or_the_limits() {
        let to = |peer: u16, len: usize| (SocketAddr::from(([127, 0, 0, 1], peer)), vec![0; len]);
        fn parts((peer, bytes): &(SocketAddr, Vec<u8>)) -> (SocketAddr, &[u8]) {
            (*peer, bytes.as_slice())
        }
        assert_eq!(gso_run(&[to(1, 100), to(1, 100), to(2, 100)], &parts), 2);
        assert_eq!(gso_run(&[to(1, 100), to(1, 101)], &parts), 1);
        assert_eq!(gso_run(&[to(1, 100), to(1, 50), to(1, 100)], &parts), 2);
        assert_eq!(gso_run(&vec![to(1, 100); 100], &parts), GSO_MAX_SEGMENTS);
        assert_eq!(
            gso_run(&vec![to(1, 10_000); 10], &parts),
            GSO_MAX_BYTES / 10_000
        );
        assert_eq!(gso_run(&[to(1, 0), to(1, 0)], &parts), 1);
        assert_eq!(gso_run::<(SocketAddr, Vec<u8>)>(&[], &parts), 0);
    }

    #[test]
    fn a_connected_socket_sends_without_addresses_on_every_path() {
        let receiver = receiver();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(receiver.local_addr().unwrap()).unwrap();
        let batch: Vec<Vec<u8>> = (0..5).map(|index| datagram(index, 1_224)).collect();
        let peer = receiver.local_addr().unwrap();
        for mmsg in [false, true] {
            for gso in [false, true] {
                let sender = Sender::new(
                    socket.as_fd(),
                    true,
                    Switches {
                        gso,
                        gro: false,
                        mmsg,
                    },
                );
                let report = sender.send(socket.as_fd(), &batch, |bytes| (peer, bytes.as_slice()));
                assert_eq!(report.failed, None);
                assert_eq!(received(&receiver, batch.len()), batch);
            }
        }
    }

    /// Everything `receiver` holds, through an inbox as the drivers take it, batch after
    /// batch, with the number of receive calls made.
    fn drain(receiver: &UdpSocket, switches: Switches) -> (Vec<(SocketAddr, Vec<u8>)>, usize) {
        let reader = Receiver::new(receiver.as_fd(), None, switches);
        let mut inbox = crate::net::inbox::Inbox::default();
        let (mut got, mut calls) = (Vec::new(), 0);
        loop {
            let more = inbox.fill(
                |slots, messages| {
                    calls += 1;
                    reader.receive(receiver.as_fd(), slots, messages)
                },
                receiver.as_fd(),
                false,
            );
            got.extend(
                inbox
                    .datagrams()
                    .map(|(from, bytes)| (from, bytes.to_vec())),
            );
            if !more {
                return (got, calls);
            }
        }
    }

    #[test]
    fn receives_take_each_datagram_whole_with_its_sender_on_every_path() {
        let batch = mixed_batch();
        for gso in [false, true] {
            for (gro, mmsg) in [(false, false), (false, true), (true, false), (true, true)] {
                let (a, b) = (receiver(), receiver());
                let switches = Switches { gso, gro, mmsg };
                let reader = Receiver::new(a.as_fd(), None, switches);
                assert_eq!(reader.uses_gro(), gro, "Linux offers UDP GRO since 5.0");
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                let to = [a.local_addr().unwrap(), b.local_addr().unwrap()];
                let sender = Sender::new(socket.as_fd(), false, switches);
                sender.send(socket.as_fd(), &batch, |(peer, bytes)| {
                    (to[*peer], bytes.as_slice())
                });
                // Everything is in the receiver's buffer once b has its one datagram.
                assert_eq!(received(&b, 1), expected(&batch, 1));
                let (got, calls) = drain(&a, switches);
                let from = socket.local_addr().unwrap();
                let expected: Vec<_> = expected(&batch, 0)
                    .into_iter()
                    .map(|bytes| (from, bytes))
                    .collect();
                assert_eq!(got, expected, "{switches:?}");
                // The last call finds the socket empty.
                // One call per datagram at worst, and the call that finds the socket empty.
                assert!(
                    calls <= expected.len() + 1,
                    "{calls} calls for {switches:?}"
                );
                if mmsg && !gso {
                    // The inbox's slots grow 1, 2, 4, 8: four batches, one call each, and the
                    // call that finds the socket empty.
                    assert!(calls <= 5, "{calls} calls for {switches:?}");
                }
                if gso && gro {
                    // Two GSO sends, each whole in one slot, and the call that finds nothing.
                    assert!(calls <= 3, "{calls} calls for {switches:?}");
                }
            }
        }
    }

    /// Batched receives, no GSO or GRO: one datagram per slot.
    const MMSG_ONLY: Switches = Switches {
        gso: false,
        gro: false,
        mmsg: true,
    };

    #[test]
    fn an_inbox_grows_its_slots_while_batches_fill_them_and_says_more_is_waiting() {
        let receiver = receiver();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let switches = MMSG_ONLY;
        let batch: Vec<Vec<u8>> = (0..95).map(|index| datagram(index, 100)).collect();
        let to = receiver.local_addr().unwrap();
        let sender = Sender::new(socket.as_fd(), false, switches);
        sender.send(socket.as_fd(), &batch, |bytes| (to, bytes.as_slice()));
        let reader = Receiver::new(receiver.as_fd(), None, switches);
        let mut inbox = crate::net::inbox::Inbox::default();
        // The inbox starts with one slot and doubles them after each batch that filled
        // them: 1, 2, 4, 8, 16, 32, then 32 again, each batch one call.
        let mut taken = 0;
        for slots in [1, 2, 4, 8, 16, 32, 32] {
            let more = inbox.fill(
                |slots, messages| reader.receive(receiver.as_fd(), slots, messages),
                receiver.as_fd(),
                false,
            );
            assert!(more);
            let got: Vec<Vec<u8>> = inbox.datagrams().map(|(_, bytes)| bytes.to_vec()).collect();
            let next = (taken + slots).min(batch.len());
            assert_eq!(got, batch[taken..next]);
            taken = next;
        }
        assert_eq!(taken, batch.len());
    }

    #[test]
    fn a_receive_that_runs_the_socket_dry_ends_the_batch_without_another_call() {
        let receiver = receiver();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let switches = MMSG_ONLY;
        let to = receiver.local_addr().unwrap();
        let sender = Sender::new(socket.as_fd(), false, switches);
        let reader = Receiver::new(receiver.as_fd(), None, switches);
        let mut inbox = crate::net::inbox::Inbox::default();
        let mut sent = 0;
        // Full batches first, so the inbox has grown to 4 slots.
        for slots in [1, 2, 4] {
            let batch: Vec<Vec<u8>> = (sent..sent + slots).map(|i| datagram(i, 100)).collect();
            sender.send(socket.as_fd(), &batch, |bytes| (to, bytes.as_slice()));
            sent += slots;
            // Loopback delivers within the send, so each batch is whole in the socket.
            inbox.fill(
                |slots, messages| reader.receive(receiver.as_fd(), slots, messages),
                receiver.as_fd(),
                false,
            );
        }
        let batch: Vec<Vec<u8>> = (sent..sent + 3).map(|i| datagram(i, 100)).collect();
        sender.send(socket.as_fd(), &batch, |bytes| (to, bytes.as_slice()));
        let mut calls = 0;
        let more = inbox.fill(
            |slots, messages| {
                calls += 1;
                reader.receive(receiver.as_fd(), slots, messages)
            },
            receiver.as_fd(),
            false,
        );
        let got: Vec<Vec<u8>> = inbox.datagrams().map(|(_, bytes)| bytes.to_vec()).collect();
        assert_eq!(got, batch);
        assert!(!more);
        assert_eq!(
            calls, 1,
            "three datagrams in four slots: no call to find it empty"
        );
    }
}
