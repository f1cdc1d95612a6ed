//! The driver task: one task on the application's runtime per socket, which receives the
//! socket's datagrams in batches, feeds them to the endpoint, runs its timers and the close
//! rules, sends what they emit, and wakes the tasks whose connections changed.
//!
//! It sleeps in `select!` on the socket's readiness, the next deadline (the endpoint's, the
//! fault links', the close rules'), and a `Notify` that application calls poke only when they
//! moved that deadline earlier than the one it sleeps for, or let go of the last stream or
//! listener.
//!
//! If the runtime goes away while the driver still has work (a close under way, a stream
//! still held), its task is dropped: it hands itself to [`orphan`](super::orphan), which
//! runs it to the end on a runtime of its own and holds the process's exit until it is done.

use std::io;
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ::tokio::io::Interest;

use super::driver::{DriverState, Shared};
use super::orphan;
use crate::conn::ConnectionError;
use crate::net::inbox::Inbox;
use crate::time::Instant;

impl Shared {
    /// The driver task. If it is dropped before it is done (its runtime shut down), the
    /// orphanage takes it over.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut handover = Handover(Some(Arc::clone(&self)));
        self.drive().await;
        handover.0 = None;
    }

    /// Receive, run timers, send, sleep until the next deadline; until no stream or listener
    /// is left and every connection has closed.
    async fn drive(self: &Arc<Self>) {
        // The duplicate made at the start; a driver the orphanage runs again makes another.
        let made = self
            .receive_side
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let io = match made
            .map_or_else(|| self.socket.try_clone(), Ok)
            .and_then(::tokio::net::UdpSocket::from_std)
        {
            Ok(io) => io,
            Err(error) => {
                let mut state = self.lock();
                state.socket_failed(error.kind());
                // Nothing can be sent or received: abandon every connection.
                let handles: Vec<_> = state.endpoint.connections().map(|(h, _)| h).collect();
                for handle in handles {
                    if let Some(connection) = state.endpoint.connection_mut(handle) {
                        connection.terminate(Some(ConnectionError::Aborted));
                    }
                }
                self.release_and_send(state);
                return;
            }
        };
        let mut received = Inbox::default();
        let mut sleep = pin!(::tokio::time::sleep(Duration::ZERO));
        loop {
            let more_waiting = self.receive_batch(&io, &mut received);
            let (next, done, only_time_wait) = self.after_receiving(&mut received);
            if done {
                return;
            }
            if only_time_wait && !self.time_wait.is_held() {
                let me: std::sync::Weak<Shared> = Arc::downgrade(self);
                self.time_wait.hold(me);
            }
            if more_waiting {
                // Let the runtime run other tasks between batches.
                ::tokio::task::yield_now().await;
                continue;
            }
            if let Some(next) = next {
                sleep
                    .as_mut()
                    .reset(::tokio::time::Instant::from_std(self.os_instant(next)));
            }
            ::tokio::select! {
                biased;
                () = self.driver.notified() => {}
                ready = io.ready(Interest::READABLE | Interest::ERROR) => {
                    match ready {
                        Ok(ready) if ready.is_error() => {
                            // The runtime's note of it goes first, then the next turn reads
                            // the queue: an error queued in between sets the note again.
                            let _ = io.try_io(Interest::ERROR, || {
                                Err::<(), _>(io::ErrorKind::WouldBlock.into())
                            });
                            self.icmp_reported.store(true, Ordering::Release);
                        }
                        Ok(_) => {}
                        Err(error) => self.lock().socket_failed(error.kind()),
                    }
                }
                () = &mut sleep, if next.is_some() => {}
            }
        }
    }

    /// Take a batch of the datagrams (and ICMP errors) waiting in the socket, without the
    /// lock. Returns whether more may be waiting.
    fn receive_batch(&self, io: &::tokio::net::UdpSocket, inbox: &mut Inbox) -> bool {
        let icmp_reported = self.icmp_reported.swap(false, Ordering::AcqRel);
        inbox.fill(
            // try_io clears the runtime's readiness only on `WouldBlock`: so the batch goes on
            // until the socket says so, even after a short receive.
            |slots, messages| {
                io.try_io(Interest::READABLE, || {
                    self.receiver
                        .receive(io.as_fd(), slots, messages)
                        .map(|_ran_dry| false)
                })
            },
            io.as_fd(),
            icmp_reported,
        )
    }

    /// Feed the endpoint what was received, run its timers and the closes' rules, send, wake.
    /// Returns the next deadline, whether the driver is done, and whether its socket is kept
    /// only for connections in TIME-WAIT (no stream or listener uses it).
    fn after_receiving(&self, received: &mut Inbox) -> (Option<Instant>, bool, bool) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.driver_wakes_at = None;
        let now = self.now();
        let DriverState {
            endpoint,
            link,
            tasks,
            ..
        } = &mut *state;
        if let Some(kind) = received.feed(endpoint, link, now, |peer| tasks.heard_from(peer)) {
            state.socket_failed(kind);
        }
        // Timers change few connections, and which is unknown: compare the ones tasks wait
        // on, before and after.
        let timers_due = state.endpoint.poll_timeout().is_some_and(|due| due <= now);
        let watched = if timers_due {
            state.tasks.watched(&state.endpoint)
        } else {
            Vec::new()
        };
        state.endpoint.handle_timeout(now);
        if timers_due {
            state.tasks.wake_changed(&state.endpoint, &watched);
        }
        let close_deadline = state.closes.run(&mut state.endpoint, state.orphaned, now);
        state.queue_transmits(now);
        state.tasks.wake_heard(&state.endpoint);
        let done = state.users == 0 && state.endpoint.connections().next().is_none();
        let only_time_wait = state.users == 0 && state.endpoint.only_time_wait();
        let next = [state.next_deadline(), close_deadline]
            .into_iter()
            .flatten()
            .min();
        state.driver_wakes_at = Some(next.unwrap_or(Instant::from_micros(u64::MAX)));
        self.release_and_send(guard);
        (next, done, only_time_wait)
    }
}

/// Hands a driver whose task was dropped unfinished to the orphanage.
struct Handover(Option<Arc<Shared>>);

impl Drop for Handover {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let unfinished = {
                let mut state = shared.lock();
                let unfinished = state.users > 0 || state.endpoint.connections().next().is_some();
                state.orphaned = unfinished;
                unfinished
            };
            if unfinished {
                orphan::adopt(shared);
            }
        }
    }
}
