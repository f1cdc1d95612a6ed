//! One UDP socket of a driver (`driver.rs`) and what goes with it: how it sends and receives
//! batches (`udp_io.rs`), the inbox a thread waiting on it receives into, the eventfd that
//! interrupts that thread (`inline_receive.rs`), and whether a send met an ICMP error.
//!
//! A driver has its main socket, and a listener's one more per accepted connection
//! (`peer_sockets.rs`): each is read and written the same way.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mio::net::UdpSocket;
use mio::Token;

use super::inbox::Inbox;
use super::inline_receive;
use super::udp_io::{self, Receiver, SendReport, Sender};

/// One socket of a driver, with its I/O state.
pub(super) struct DriverSocket {
    pub(super) socket: UdpSocket,
    /// How the driver's poll knows it (the poller's token, for a client's socket).
    pub(super) token: Token,
    /// A send met an ICMP error (and took its report): the next receive reads the socket's
    /// error queue.
    icmp_reported: AtomicBool,
    /// What the thread waiting on the socket (`inline_receive.rs`, one at a time) receives
    /// into: up to [`RECEIVE_SLOTS`](super::inbox::RECEIVE_SLOTS) slots, as the driver's. Its
    /// lock is also the order of receives: held from a receive until the endpoint's lock is
    /// taken to feed in what it brought, by the driver too, so that two receiving threads feed
    /// datagrams in the order they arrived.
    receive_order: Mutex<Inbox>,
    /// An application thread waits on the socket itself (`inline_receive.rs`); the driver
    /// does not watch it meanwhile.
    receiver_taken: AtomicBool,
    /// The eventfd that interrupts the thread waiting on the socket: made when one first does
    /// (`Some(None)`: there were no descriptors to spare), closed once no stream or listener
    /// uses the socket (a socket held for TIME-WAIT keeps one descriptor, not two).
    interrupt: Mutex<Option<Option<Arc<OwnedFd>>>>,
    /// How datagrams leave: in batches, GSO runs where it can (`udp_io`).
    sender: Sender,
    /// How datagrams come in: in batches, GRO runs where the socket joins them.
    receiver: Receiver,
}

impl DriverSocket {
    /// `socket`, known to the poll as `token`, connected to `peer` if given.
    pub(super) fn new(socket: UdpSocket, token: Token, peer: Option<SocketAddr>) -> DriverSocket {
        let switches = udp_io::Switches::from_environment();
        let sender = Sender::new(socket.as_fd(), peer.is_some(), switches);
        let receiver = Receiver::new(socket.as_fd(), peer, switches);
        DriverSocket {
            socket,
            token,
            icmp_reported: AtomicBool::new(false),
            receive_order: Mutex::new(Inbox::default()),
            receiver_taken: AtomicBool::new(false),
            interrupt: Mutex::new(None),
            sender,
            receiver,
        }
    }

    /// Send `batch` in order (`parts` gives each datagram's peer and bytes), noting an ICMP
    /// error a send met.
    pub(super) fn send<T>(
        &self,
        batch: &[T],
        parts: impl Fn(&T) -> (SocketAddr, &[u8]),
    ) -> SendReport {
        let report = self.sender.send(self.socket.as_fd(), batch, parts);
        if report.icmp_reported {
            self.icmp_reported.store(true, Ordering::Release);
        }
        report
    }

    /// Whether an ICMP error waits to be read from the socket's error queue.
    pub(super) fn icmp_waiting(&self) -> bool {
        self.icmp_reported.load(Ordering::Acquire)
    }

    /// The poll saw the socket report an error: the next receive reads the error queue.
    pub(super) fn note_icmp(&self) {
        self.icmp_reported.store(true, Ordering::Release);
    }

    /// Take a batch of the datagrams waiting in the socket into `inbox`, without the
    /// endpoint's lock. Returns whether more may be waiting.
    pub(super) fn receive_batch(&self, inbox: &mut Inbox) -> bool {
        let icmp_reported = self.icmp_reported.swap(false, Ordering::AcqRel);
        inbox.fill(
            |slots, messages| self.receiver.receive(self.socket.as_fd(), slots, messages),
            self.socket.as_fd(),
            icmp_reported,
        )
    }

    /// The lock on the order of receives (see `receive_order`), and the inbox it guards.
    pub(super) fn receive_order(&self) -> MutexGuard<'_, Inbox> {
        self.receive_order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Become the one thread waiting on the socket; `false` if another one is.
    pub(super) fn take_receiver(&self) -> bool {
        self.receiver_taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The waiting thread is done with the socket.
    pub(super) fn give_back_receiver(&self) {
        self.receiver_taken.store(false, Ordering::Release);
    }

    /// The eventfd of the socket's waiting thread: `Some(None)` if it has none to spare,
    /// `None` if none was made yet ([`make_interrupt`](Self::make_interrupt) makes it).
    pub(super) fn interrupt(&self) -> Option<Option<Arc<OwnedFd>>> {
        self.lock_interrupt().clone()
    }

    /// Make the eventfd of the socket's waiting thread, if none was (a system call: without
    /// the endpoint's lock).
    pub(super) fn make_interrupt(&self) {
        let interrupt = inline_receive::new_interrupt();
        self.lock_interrupt().get_or_insert(interrupt);
    }

    /// No thread will wait on the socket any more: close its eventfd.
    pub(super) fn drop_interrupt(&self) {
        *self.lock_interrupt() = Some(None);
    }

    fn lock_interrupt(&self) -> MutexGuard<'_, Option<Option<Arc<OwnedFd>>>> {
        self.interrupt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wait on the socket and `interrupt` for up to `left` (`inline_receive::wait_on_socket`).
    pub(super) fn wait(
        &self,
        interrupt: &OwnedFd,
        left: Option<std::time::Duration>,
    ) -> inline_receive::Woken {
        let woken = inline_receive::wait_on_socket(self.socket.as_fd(), interrupt, left);
        if woken.socket_error {
            self.note_icmp();
        }
        woken
    }

    /// Set the time-to-live of what the socket sends (see [`super::socket::set_ttl`]).
    pub(super) fn set_ttl(&self, local: SocketAddr, ttl: u32) -> io::Result<()> {
        super::socket::set_ttl(&self.socket, local, ttl)
    }
}
