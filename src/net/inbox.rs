//! A batch of datagrams, and of the ICMP errors queued beside them, taken from a socket
//! without the endpoint's lock, for either driver (the threaded one in `driver.rs`, the tokio
//! one in `crate::tokio`) to feed in under it.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::BorrowedFd;

use super::icmp::ErrorQueue;
use super::{socket_error_meaning, SocketErrorMeaning};

/// Largest datagram a driver receives: the largest Ferry segment with room to spare.
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// The most datagrams (and, apart, ICMP errors) a driver takes from its socket before it
/// feeds them to the endpoint, runs the timers, sends, and lets application threads in. So a
/// flood that never lets the socket run dry starves nothing, and memory cannot pile up
/// behind it.
pub(crate) const RECEIVE_BATCH: usize = 64;

/// The datagrams of one batch, back to back, kept between batches so the buffers are reused.
pub(crate) struct Inbox {
    /// Where each datagram is read first.
    scratch: Vec<u8>,
    bytes: Vec<u8>,
    /// Each datagram's sender and place in `bytes`.
    datagrams: Vec<(SocketAddr, Range<usize>)>,
    /// The port unreachables read from the socket's error queue with this batch.
    pub(crate) unreachables: ErrorQueue,
    /// The error that ended the batch, if one did: the socket's own failure.
    pub(crate) error: Option<io::ErrorKind>,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox {
            scratch: vec![0; MAX_DATAGRAM],
            bytes: Vec::new(),
            datagrams: Vec::new(),
            unreachables: ErrorQueue::default(),
            error: None,
        }
    }
}

impl Inbox {
    /// Take at most [`RECEIVE_BATCH`] datagrams with `receive` (a nonblocking `recv_from`),
    /// replacing the last batch, and the ICMP errors waiting in `socket`'s error queue if a
    /// receive reported one or `errors_reported` says one was (a send met it, or the poll
    /// saw the queue). Stops at `WouldBlock`, or at the socket's failure, which is kept for
    /// the caller. Returns whether more may be waiting: after a full batch of either. A
    /// failed socket yields nothing more.
    pub(crate) fn fill(
        &mut self,
        mut receive: impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
        socket: BorrowedFd<'_>,
        mut errors_reported: bool,
    ) -> bool {
        self.bytes.clear();
        self.datagrams.clear();
        self.unreachables.clear();
        self.error = None;
        let mut more = true;
        for _ in 0..RECEIVE_BATCH {
            match receive(&mut self.scratch) {
                Ok((len, from)) => {
                    let start = self.bytes.len();
                    self.bytes.extend_from_slice(&self.scratch[..len]);
                    self.datagrams.push((from, start..start + len));
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

    /// The batch's datagrams and their senders, in the order they arrived.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.datagrams
            .iter()
            .map(|(from, range)| (*from, &self.bytes[range.clone()]))
    }
}
