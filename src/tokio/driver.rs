//! The tokio driver's shared state: one UDP socket, one sans-IO [`Endpoint`] behind a lock,
//! and how what the endpoint emits leaves. The driver task is `task.rs`, the tasks waiting on
//! connections `wake.rs`, the closes of connections let go `close.rs`; the faults, capture and
//! traces (`crate::net::socket_link`) and the datagram I/O (`crate::net::udp_io`) are the std
//! driver's own.
//!
//! Application tasks act on the endpoint under a `std::sync::Mutex` that is never held across
//! an `.await` or a system call: what the endpoint emits goes into an outbox, and whoever
//! finds nobody sending takes the outbox and sends it, with the lock released (one sender at
//! a time, so a connection's datagrams leave in the order the endpoint emitted them).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use ::tokio::sync::Notify;

use super::close::Closes;
use super::wake::Tasks;
use crate::endpoint::Endpoint;
use crate::fault::FaultStats;
use crate::net::socket_link::SocketLink;
use crate::net::time_wait;
use crate::net::udp_io::{Receiver, Sender, Switches};
use crate::net::{os_now, socket_failed, SocketConfig};
use crate::time::Instant;

/// Everything behind the lock.
pub(crate) struct DriverState {
    pub(crate) endpoint: Endpoint,
    /// The faults, capture and trace sink between the endpoint and the socket (shared with
    /// the std driver: `crate::net::socket_link`).
    pub(super) link: SocketLink,
    /// The connections streams hold and the tasks waiting on them or on the listener.
    pub(crate) tasks: Tasks,
    /// Closes under way, of connections no stream holds any more.
    pub(super) closes: Closes,
    /// Streams and listeners alive: the driver ends once none is and no connection is left.
    pub(crate) users: usize,
    /// The first error the socket gave, for every caller to see.
    pub(crate) socket_error: Option<io::ErrorKind>,
    /// When the driver task will look again on its own; `None` while it is awake.
    pub(super) driver_wakes_at: Option<Instant>,
    /// The linger a new stream starts with.
    pub(crate) default_linger: Option<Duration>,
    /// Datagrams to send, in the order the endpoint emitted them (or the faults' delay
    /// released them), each with its destination, for the one sender.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// A task is sending the outbox.
    sending: bool,
    /// The runtime that started the driver is gone: finish the closes quickly.
    pub(crate) orphaned: bool,
}

/// What application tasks and the driver task share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<DriverState>,
    /// Nonblocking; every task sends on it directly. The driver task receives on a duplicate
    /// registered with the runtime it runs on.
    pub(super) socket: std::net::UdpSocket,
    /// That duplicate, made with the socket (so a connect short of descriptors finds out, and
    /// frees one, before it starts), until the driver task takes it.
    pub(super) receive_side: Mutex<Option<std::net::UdpSocket>>,
    /// A send met an ICMP error (and took its report), or the runtime saw the error queue
    /// fill: the driver task reads the queue next.
    pub(super) icmp_reported: AtomicBool,
    /// How the outbox leaves: in batches, GSO runs where it can (`crate::net::udp_io`).
    sender: Sender,
    /// How datagrams come in: in batches, GRO runs where the socket joins them.
    pub(super) receiver: Receiver,
    /// Pokes the driver task.
    pub(super) driver: Notify,
    local_addr: SocketAddr,
    epoch: std::time::Instant,
    /// Its place among the sockets held only for TIME-WAIT (`crate::net::time_wait`). Last,
    /// so that it is dropped after the socket: a connect waiting for the descriptor learns
    /// it closed.
    pub(super) time_wait: time_wait::Place,
}

impl Shared {
    /// Bind a socket and start its driver task on the current runtime. `peer`, if given,
    /// connects the socket to it (a client's socket talks to one peer).
    pub(crate) fn start(
        local: SocketAddr,
        peer: Option<SocketAddr>,
        config: &SocketConfig,
    ) -> io::Result<Arc<Shared>> {
        let runtime = ::tokio::runtime::Handle::try_current()
            .map_err(|error| io::Error::other(format!("ferry::tokio needs a runtime: {error}")))?;
        let endpoint = crate::net::socket::endpoint(config)?;
        let socket = crate::net::socket::open(local, peer, config.connection.plpmtud)?;
        let receive_side = socket.try_clone()?;
        let local_addr = socket.local_addr()?;
        let switches = Switches::from_environment();
        let sender = Sender::new(socket.as_fd(), peer.is_some(), switches);
        let receiver = Receiver::new(socket.as_fd(), peer, switches);
        let link = SocketLink::new(config, local_addr)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(DriverState {
                endpoint,
                link,
                tasks: Tasks::default(),
                closes: Closes::default(),
                users: 1,
                socket_error: None,
                driver_wakes_at: None,
                default_linger: config.linger,
                outbox: Vec::new(),
                sending: false,
                orphaned: false,
            }),
            socket,
            receive_side: Mutex::new(Some(receive_side)),
            icmp_reported: AtomicBool::new(false),
            sender,
            receiver,
            driver: Notify::new(),
            local_addr,
            epoch: os_now(),
            time_wait: time_wait::Place::default(),
        });
        runtime.spawn(Arc::clone(&shared).run());
        Ok(shared)
    }

    /// [`start`](Self::start), and if the process has no descriptor left while sockets are
    /// held for TIME-WAIT, once more after the two oldest ones' TIME-WAIT ended (this socket
    /// needs two descriptors, and a std driver's gives back one) and their sockets closed
    /// (their drivers close them: this waits without blocking the runtime, at most about
    /// [`time_wait::CLOSE_WAIT_BOUND`]).
    pub(crate) async fn start_with_descriptor(
        local: SocketAddr,
        peer: Option<SocketAddr>,
        config: &SocketConfig,
    ) -> io::Result<Arc<Shared>> {
        match Shared::start(local, peer, config) {
            Err(error) if time_wait::no_descriptor_left(&error) => {
                let closing: Vec<_> = (0..2).map_while(|_| time_wait::end_oldest()).collect();
                if closing.is_empty() {
                    return Err(error);
                }
                let step = Duration::from_millis(1);
                let steps = time_wait::CLOSE_WAIT_BOUND.as_millis();
                for _ in 0..steps {
                    if closing.iter().all(|socket| socket.is_closed()) {
                        break;
                    }
                    ::tokio::time::sleep(step).await;
                }
                Shared::start(local, peer, config)
            }
            other => other,
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Set the time-to-live of every datagram the socket sends (`crate::net::socket::set_ttl`).
    pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        crate::net::socket::set_ttl(&self.socket, self.local_addr, ttl)
    }

    /// The time-to-live of the datagrams the socket sends.
    pub(crate) fn ttl(&self) -> io::Result<u32> {
        crate::net::socket::ttl(&self.socket, self.local_addr)
    }

    /// Ferry's time now: microseconds since the driver started.
    pub(crate) fn now(&self) -> Instant {
        let elapsed = os_now().saturating_duration_since(self.epoch);
        Instant::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    /// The OS-clock instant of a Ferry instant.
    pub(crate) fn os_instant(&self, at: Instant) -> std::time::Instant {
        self.epoch + at.since_epoch()
    }

    /// The lock, even if a task panicked while holding it: the endpoint never panics, so its
    /// state stays consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, DriverState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Poke the driver task: it looks again at once.
    pub(crate) fn wake_driver(&self) {
        self.driver.notify_one();
    }

    /// End an application call: queue what the endpoint has to send, wake the driver if it
    /// must look earlier than it planned to, release the lock, send, and wake the tasks that
    /// were told to wake.
    pub(crate) fn finish(&self, mut guard: MutexGuard<'_, DriverState>) {
        let state = &mut *guard;
        let now = self.now();
        state.queue_transmits(now);
        // An awake driver (no plan) looks again before it sleeps: no need to poke it.
        let driver_late = state
            .driver_wakes_at
            .zip(state.next_deadline())
            .is_some_and(|(planned, needed)| needed < planned);
        self.release_and_send(guard);
        if driver_late {
            self.wake_driver();
        }
    }

    /// Release the lock; send the outbox unless another task is at it; wake whom `to_wake`
    /// names.
    pub(super) fn release_and_send(&self, mut guard: MutexGuard<'_, DriverState>) {
        let send = !guard.sending && !guard.outbox.is_empty();
        if send {
            guard.sending = true;
        }
        let mut to_wake = guard.tasks.take_to_wake();
        drop(guard);
        if send {
            to_wake.extend(self.send_outbox());
        }
        for waker in to_wake {
            waker.wake();
        }
    }

    /// Send the outbox until it stays empty, taking it from under the lock each time. Returns
    /// the tasks to wake that the lock's holders left behind. A send that meets an ICMP error
    /// leaves it to the driver task to read.
    fn send_outbox(&self) -> Vec<Waker> {
        let mut batch = Vec::new();
        let mut failed = None;
        loop {
            {
                let mut state = self.lock();
                if let Some(kind) = failed.take() {
                    state.socket_failed(kind);
                }
                if state.outbox.is_empty() {
                    state.sending = false;
                    return state.tasks.take_to_wake();
                }
                std::mem::swap(&mut batch, &mut state.outbox);
            }
            let report = self
                .sender
                .send(self.socket.as_fd(), &batch, |(peer, bytes)| {
                    (*peer, bytes.as_slice())
                });
            batch.clear();
            if report.icmp_reported {
                // The driver task reads what the error says.
                self.icmp_reported.store(true, Ordering::Release);
                self.wake_driver();
            }
            failed = report.failed;
        }
    }
}

impl DriverState {
    /// Move what the endpoint has to send, through the faults, into the outbox; record it.
    pub(super) fn queue_transmits(&mut self, now: Instant) {
        let DriverState {
            endpoint,
            link,
            outbox,
            ..
        } = self;
        link.transmit(endpoint, now, |peer, bytes| outbox.push((peer, bytes)));
        link.flush_taps(endpoint);
    }

    /// The earliest moment the driver must act for the endpoint: a timer, or a datagram the
    /// faults delayed.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.link.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the fault injector did to the datagrams this socket sent and received.
    pub(crate) fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.link.fault_stats()
    }

    /// The socket failed: every call from now on says so, and every waiting task wakes to
    /// hear it. The first error is the one kept.
    pub(super) fn socket_failed(&mut self, kind: io::ErrorKind) {
        self.socket_error.get_or_insert(kind);
        self.tasks.wake_everyone();
    }

    /// The error every call on this socket gives once it failed.
    pub(crate) fn check_socket(&self) -> io::Result<()> {
        match self.socket_error {
            Some(kind) => Err(socket_failed(kind)),
            None => Ok(()),
        }
    }
}
