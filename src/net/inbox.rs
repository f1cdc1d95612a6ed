//! A batch of datagrams, and of the ICMP errors queued beside them, taken from a socket
//! without the endpoint's lock, for either driver (the threaded one in `driver.rs`, the tokio
//! one in `crate::tokio`) to feed in under it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use super::icmp::ErrorQueue;
use super::socket_link::SocketLink;
use super::udp_io::{Message, MAX_DATAGRAM};
use super::{socket_error_meaning, SocketErrorMeaning};
use crate::endpoint::Endpoint;
use crate::time::Instant;

/// The most datagrams (and, apart, ICMP errors) a driver takes from its socket before it
/// feeds them to the endpoint, runs the timers, sends, and lets application threads in: it
/// stops receiving once it holds this many (one receive may bring up to [`RECEIVE_SLOTS`]
/// slots, each a GRO run). So a flood that never lets the socket run dry starves nothing,
/// and memory cannot pile up behind it.
pub(crate) const RECEIVE_BATCH: usize = 64;

/// The most receive slots of [`MAX_DATAGRAM`] bytes an inbox has: at most this many messages
/// per batch, in as few `recvmmsg` calls. An inbox starts with one slot (64 KiB, what one
/// receive buffer took before batching) and doubles its slots after each batch that filled
/// them all, so an idle socket's inbox stays small and a busy one's reaches 2 MiB.
pub(crate) const RECEIVE_SLOTS: usize = 32;

/// The datagrams of one batch, each parsed where the kernel wrote it, kept between batches
/// so the buffers are reused.
#[derive(Default)]
pub(crate) struct Inbox {
    /// Up to [`RECEIVE_SLOTS`] slots back to back; message `i` of the batch is in slot `i`.
    slots: Vec<u8>,
    messages: Vec<Message>,
    /// The port unreachables read from the socket's error queue with this batch.
    pub(crate) unreachables: ErrorQueue,
    /// The error that ended the batch, if one did: the socket's own failure.
    pub(crate) error: Option<io::ErrorKind>,
}

impl Inbox {
    /// Take about [`RECEIVE_BATCH`] datagrams with `receive` (a nonblocking receive into the
    /// free slots it is given, [`Receiver::receive`](super::udp_io::Receiver::receive)),
    /// replacing the last batch, and the ICMP errors waiting in `socket`'s error queue if a
    /// receive reported one or `errors_reported` says one was (a send met it, or the poll
    /// saw the queue). Stops at `WouldBlock`, after a receive that ran the socket dry, or at
    /// the socket's failure, which is kept for the caller. Returns whether more may be
    /// waiting: after a full batch of either. A failed socket yields nothing more.
    pub(crate) fn fill(
        &mut self,
        mut receive: impl FnMut(&mut [u8], &mut Vec<Message>) -> io::Result<bool>,
        socket: BorrowedFd<'_>,
        mut errors_reported: bool,
    ) -> bool {
        let slots = self.slots.len() / MAX_DATAGRAM;
        if slots == 0 || (self.messages.len() == slots && slots < RECEIVE_SLOTS) {
            let grown = (slots * 2).clamp(1, RECEIVE_SLOTS);
            self.slots.resize(grown * MAX_DATAGRAM, 0);
        }
        let slots = self.slots.len() / MAX_DATAGRAM;
        self.messages.clear();
        self.unreachables.clear();
        self.error = None;
        let mut more = true;
        let mut taken = 0;
        for _ in 0..RECEIVE_BATCH {
            let used = self.messages.len();
            if taken >= RECEIVE_BATCH || used == slots {
                break;
            }
            match receive(&mut self.slots[used * MAX_DATAGRAM..], &mut self.messages) {
                Ok(ran_dry) => {
                    taken += self.messages[used..]
                        .iter()
                        .map(Message::count)
                        .sum::<usize>();
                    if ran_dry {
                        more = false;
                        break;
                    }
                }
                Err(error) => match socket_error_meaning(&error) {
                    SocketErrorMeaning::Nothing if error.kind() == io::ErrorKind::WouldBlock => {
                        more = false;
                        break;
                    }
                    SocketErrorMeaning::Nothing => {}
                    // Reported once; the datagrams behind it are read on.
                    SocketErrorMeaning::Icmp => errors_reported = true,
                    SocketErrorMeaning::SocketFailed => {
                        self.error = Some(error.kind());
                        self.messages.clear();
                        return false;
                    }
                },
            }
        }
        if errors_reported {
            more |= self.unreachables.read(socket);
        }
        more
    }

    /// Empty the batch, for a turn that receives nothing (the buffers are kept).
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.unreachables.clear();
        self.error = None;
    }

    /// Feed `endpoint` the batch through `link` (its faults and captures), then the ICMP errors
    /// taken with it and the datagrams the faults delayed that are now due, telling `heard` of
    /// each peer heard from. Returns the socket's failure, if the batch ended in one. Both
    /// drivers feed their batches this way.
    pub(crate) fn feed(
        &self,
        endpoint: &mut Endpoint,
        link: &mut SocketLink,
        now: Instant,
        mut heard: impl FnMut(SocketAddr),
    ) -> Option<io::ErrorKind> {
        for (from, datagram) in self.datagrams() {
            link.receive(endpoint, now, from, datagram, &mut heard);
        }
        self.unreachables.deliver(endpoint, &mut heard);
        link.deliver_due(endpoint, now, &mut heard);
        self.error
    }

    /// The batch's datagrams and their senders, in the order they arrived: each slot's
    /// message, cut at its GRO segment size.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.messages
            .iter()
            .zip(self.slots.chunks_exact(MAX_DATAGRAM))
            .flat_map(|(message, slot)| {
                (0..message.count()).map(move |index| (message.from, message.datagram(slot, index)))
            })
    }
}
