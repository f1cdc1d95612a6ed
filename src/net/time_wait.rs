//! TIME-WAIT's descriptors: the per-process cap on sockets kept open only for connections in
//! TIME-WAIT, for both drivers (this one and `crate::tokio`'s), as Linux caps its TIME-WAIT
//! sockets with `net.ipv4.tcp_max_tw_buckets`.
//!
//! TIME-WAIT lasts [`Config::time_wait`](crate::Config::time_wait) beyond
//! [`Config::max_rto`](crate::Config::max_rto), 64 s by default (RFC 9293 section 3.6;
//! docs/protocol.md, "Closing"), so that a FIN the peer sends again after its timer backed off
//! still meets a connection that acknowledges it. A kernel holds a TIME-WAIT connection in a
//! small record without a descriptor; a Ferry client holds its UDP socket (a descriptor and a
//! port) until its connection's TIME-WAIT ends. A client that closes first and reconnects
//! would then run out of descriptors (`EMFILE`) after a few hundred connections. So:
//!
//! - **A cap.** A socket that no stream or listener uses any more, and whose every connection
//!   is in TIME-WAIT, is *held*. At most [`limit`] sockets are held in a process: a quarter of
//!   the soft `RLIMIT_NOFILE` (256 under the usual 1,024), at least [`MIN_HELD`], at most
//!   [`MAX_HELD`]. When one more would be held, the oldest one's TIME-WAIT ends at once, without
//!   a segment, and its socket closes: what Linux does past `tcp_max_tw_buckets` ("time wait
//!   bucket table overflow", counted in [`TimeWaitStats::ended_early`]). Only a peer whose last
//!   FIN needed repeating that long after our ACK is affected: its repetition meets a closed
//!   port and it hears of it (an ICMP port unreachable).
//! - **A descriptor when none is left.** A connect (std: a bind too; tokio: a punch too) that
//!   fails with `EMFILE` or `ENFILE` while sockets are held ends the oldest one's TIME-WAIT,
//!   waits (briefly, bounded) for its descriptor to close, and tries once more.
//!
//! The cap is the drivers' business: the sans-IO core keeps TIME-WAIT as RFC 9293 says. A
//! listener's TIME-WAIT connections share its one socket, which is held only once the
//! listener and its streams are gone.
//!
//! A program's exit never waits for TIME-WAIT: the exit hook (`close.rs`) waits only for the
//! peer to be quiet for three retransmission timeouts, at most 3 s, whatever TIME-WAIT lasts.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

/// The fewest sockets held in TIME-WAIT, however low the descriptor limit.
pub(crate) const MIN_HELD: usize = 8;
/// The most sockets held in TIME-WAIT, however high the descriptor limit: each holds a port
/// and a connection's memory as well as a descriptor.
pub(crate) const MAX_HELD: usize = 4096;
/// How long a connect that met `EMFILE` waits for the descriptor of the socket whose TIME-WAIT
/// it ended to close (a driver turn: well under a millisecond unless the machine is loaded).
pub(crate) const CLOSE_WAIT_BOUND: Duration = Duration::from_secs(1);

/// A driver whose socket can be held for TIME-WAIT.
pub(crate) trait EndTimeWait: Send + Sync {
    /// End every connection in TIME-WAIT at once, without a segment, and let the socket
    /// close as soon as nothing else keeps it.
    fn end_time_wait(&self);
}

/// What the process's drivers hold for TIME-WAIT, and how often the cap cut one short
/// ([`time_wait_stats`](super::time_wait_stats); docs/performance.md, "A client that churns
/// connections").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeWaitStats {
    /// Sockets held open now only for connections in TIME-WAIT.
    pub held: usize,
    /// The most that may be held: a quarter of the soft `RLIMIT_NOFILE`, from 8 to 4,096.
    pub limit: usize,
    /// Sockets whose TIME-WAIT was ended early: by the cap, or for a connect that found no
    /// descriptor left.
    pub ended_early: u64,
}

/// One socket held for TIME-WAIT.
struct Held {
    driver: Weak<dyn EndTimeWait>,
    closed: Arc<Closed>,
}

/// Whether a socket's descriptor has closed, for a connect that waits for it.
#[derive(Default)]
struct Closed {
    done: Mutex<bool>,
    changed: Condvar,
}

/// The sockets held, oldest first (keys count up as sockets are held).
static HELD: Mutex<BTreeMap<u64, Held>> = Mutex::new(BTreeMap::new());
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
static ENDED_EARLY: AtomicU64 = AtomicU64::new(0);

/// How many sockets the process may hold for TIME-WAIT (see the module docs).
pub(crate) fn limit() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let quarter = soft.map_or(MAX_HELD as u64, |soft| soft / 4);
    usize::try_from(quarter)
        .unwrap_or(MAX_HELD)
        .clamp(MIN_HELD, MAX_HELD)
}

/// The sockets this process's [`Stream`](super::Stream)s and [`Listener`](super::Listener)s
/// (and `ferry::tokio`'s) keep open now only for connections in TIME-WAIT, the most they may,
/// and how many had their TIME-WAIT ended early to stay within that or to free a descriptor.
pub fn time_wait_stats() -> TimeWaitStats {
    TimeWaitStats {
        held: lock_held().len(),
        limit: limit(),
        ended_early: ENDED_EARLY.load(Ordering::Relaxed),
    }
}

fn lock_held() -> std::sync::MutexGuard<'static, BTreeMap<u64, Held>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A driver's place among the held sockets. It must be the driver's last field, so that it
/// is dropped after the socket: its drop tells a waiting connect the descriptor is closed.
#[derive(Default)]
pub(crate) struct Place {
    /// Its key in [`HELD`] once held; 0 before.
    key: AtomicU64,
    closed: Arc<Closed>,
}

impl Place {
    /// Whether the driver's socket is held already.
    pub(crate) fn is_held(&self) -> bool {
        self.key.load(Ordering::Acquire) != 0
    }

    /// Hold `driver`'s socket for TIME-WAIT: no stream or listener uses it, and every
    /// connection it has is in TIME-WAIT. If that makes one more than [`limit`], the oldest
    /// held socket's TIME-WAIT ends. Call it without the driver's lock: ending another
    /// driver's TIME-WAIT takes that driver's.
    pub(crate) fn hold(&self, driver: Weak<dyn EndTimeWait>) {
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        if self
            .key
            .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let limit = limit();
        let mut overflow = Vec::new();
        {
            let mut held = lock_held();
            held.insert(
                key,
                Held {
                    driver,
                    closed: Arc::clone(&self.closed),
                },
            );
            while held.len() > limit {
                overflow.extend(held.pop_first().map(|(_, oldest)| oldest));
            }
        }
        // Outside the lock: the driver's lock comes next, and dropping the last handle of a
        // driver drops its place, which takes this lock.
        for oldest in overflow {
            end(oldest);
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let key = *self.key.get_mut();
        if key != 0 {
            lock_held().remove(&key);
        }
        *self
            .closed
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.closed.changed.notify_all();
    }
}

/// End a held socket's TIME-WAIT, counted.
fn end(held: Held) {
    ENDED_EARLY.fetch_add(1, Ordering::Relaxed);
    if let Some(driver) = held.driver.upgrade() {
        driver.end_time_wait();
    }
}

/// Whether `error` says the process (`EMFILE`) or the system (`ENFILE`) has no descriptor
/// left.
pub(crate) fn no_descriptor_left(error: &io::Error) -> bool {
    use rustix::io::Errno;
    let code = error.raw_os_error();
    code == Some(Errno::MFILE.raw_os_error()) || code == Some(Errno::NFILE.raw_os_error())
}

/// A held socket whose TIME-WAIT was ended for a descriptor, until it has closed.
pub(crate) struct ClosingSocket(Arc<Closed>);

impl ClosingSocket {
    /// Whether its descriptor has closed (the tokio driver polls it, rather than block).
    #[cfg(feature = "tokio")]
    pub(crate) fn is_closed(&self) -> bool {
        *self.0.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Block until its descriptor has closed, at most `bound`.
    pub(crate) fn wait(&self, bound: Duration) {
        let done = self.0.done.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .0
            .changed
            .wait_timeout_while(done, bound, |done| !*done)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// End the oldest held socket's TIME-WAIT, for a descriptor: `None` if none is held.
pub(crate) fn end_oldest() -> Option<ClosingSocket> {
    let oldest = lock_held().pop_first().map(|(_, oldest)| oldest)?;
    let closing = ClosingSocket(Arc::clone(&oldest.closed));
    end(oldest);
    Some(closing)
}

/// `open()`, and if it fails for want of a descriptor while sockets are held for TIME-WAIT,
/// the same once more after the oldest one's TIME-WAIT ended and its descriptor closed (a
/// blocking wait, at most [`CLOSE_WAIT_BOUND`]).
pub(crate) fn open_with_descriptor<T>(mut open: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match open() {
        Err(error) if no_descriptor_left(&error) => match end_oldest() {
            Some(closing) => {
                closing.wait(CLOSE_WAIT_BOUND);
                open()
            }
            None => Err(error),
        },
        other => other,
    }
}
