//! Receiving in the waiting thread: an application thread blocked in a read while what it
//! wrote is not all acknowledged (a request awaiting its answer) waits on the socket itself,
//! and takes in what arrives, rather than sleeping until the driver thread has taken it in and
//! woken it. A bulk reader with nothing of its own in flight, and a writer waiting for
//! acknowledgments, leave the receiving to the driver: there its work overlaps their copying
//! on the other core, and doing both themselves cost bulk transfers 15 to 20% of goodput.
//!
//! Through the driver, every datagram that ends a wait costs two wake-ups: the kernel wakes the
//! driver, the driver wakes the waiting thread. A program ported from std's `TcpStream`
//! (`cargo bench --bench kv`: one request, one answer) paid four per request where std pays two,
//! and spent half its time in the scheduler. Waiting on the socket makes it one, as in TCP.
//!
//! One thread of a socket at a time does so (it holds the socket's receiving role); the driver
//! stops watching the socket meanwhile, so the kernel wakes only that thread, and keeps running
//! the timers. What else can end the wait (a timer, another thread's call on the connection,
//! the socket's failure) writes to the socket's eventfd, which the thread polls beside the
//! socket: [`Waiters`](super::wake::Waiters) does so for a slot a polling thread waits on.
//! Datagrams for other connections are taken in as the driver would, and their threads woken.
//! The waiting thread receives into an inbox of the socket's (`Shared::receive_order`), which
//! grows as the driver's does: so the memory it adds is bounded by the socket's, not by its
//! threads.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

/// A new eventfd for a socket's polling threads, or `None` (they then sleep on condition
/// variables) if the process has no descriptor to spare: only while it uses less than half its
/// limit, so that sockets, which a program cannot do without, come first.
pub(super) fn new_interrupt() -> Option<Arc<OwnedFd>> {
    let interrupt = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok()?;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let number = u64::try_from(interrupt.as_raw_fd()).ok()?;
    if limit.is_some_and(|limit| number >= limit / 2) {
        return None;
    }
    Some(Arc::new(interrupt))
}

/// Wake the thread polling `interrupt`.
pub(super) fn interrupt_thread(interrupt: &OwnedFd) {
    // A full counter (2^64 - 2 writes unread) still wakes the thread, so a failure changes
    // nothing.
    let _ = rustix::io::write(interrupt, &1u64.to_ne_bytes());
}

/// What ended a wait on the socket.
pub(super) struct Woken {
    /// Datagrams (or an error) wait in the socket.
    pub(super) socket_readable: bool,
    /// The socket reported an error (an ICMP error in its queue).
    pub(super) socket_error: bool,
}

/// Sleep until `socket` is readable, `interrupt` was written to, or `left` passed; then empty
/// `interrupt`. An interrupted system call counts as a wake-up: the caller looks again.
pub(super) fn wait_on_socket(
    socket: BorrowedFd<'_>,
    interrupt: &OwnedFd,
    left: Option<Duration>,
) -> Woken {
    let timeout = left.map(|left| {
        Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        })
    });
    let mut fds = [
        PollFd::new(&socket, PollFlags::IN),
        PollFd::new(interrupt, PollFlags::IN),
    ];
    let polled = poll(&mut fds, timeout.as_ref());
    let socket_events = fds[0].revents();
    let interrupted = fds[1].revents().contains(PollFlags::IN);
    if interrupted {
        let _ = rustix::io::read(interrupt.as_fd(), &mut [0u8; 8]);
    }
    if polled.is_err() {
        return Woken {
            socket_readable: false,
            socket_error: false,
        };
    }
    Woken {
        socket_readable: socket_events.intersects(PollFlags::IN | PollFlags::ERR),
        socket_error: socket_events.contains(PollFlags::ERR),
    }
}
