//! How the tokio driver ends the closes of connections the application let go, the twin of
//! `crate::net::close`: a drop closes without blocking, and these rules bound how long the
//! close may then take, in the driver task (and, once the runtime is gone, in the
//! orphanage's: [`orphan`](super::orphan)). The rules themselves are in [`Closes::run`].
//! A socket held only for TIME-WAIT has its TIME-WAIT ended here too, when the process's cap
//! on such sockets (`crate::net::time_wait`) or a connect short of descriptors calls for it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::driver::{DriverState, Shared};
use crate::conn::State;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::net::close::quiet_period;
use crate::net::time_wait::EndTimeWait;
use crate::time::Instant;

/// Once the runtime is gone (or the process exits), a closing connection whose FIN the peer
/// acknowledged waits at most this long for the peer to stay quiet: the std driver's rule
/// (`crate::net`'s "Closing and exiting"), and its constant.
pub(crate) use crate::net::close::QUIET_LIMIT;

/// How long a connection the application let go may stay in FIN-WAIT-2, our FIN acknowledged
/// but the peer's not sent, before it is reset: Linux's `tcp_fin_timeout` for orphaned
/// sockets. (Data the peer sends there is answered with a RST anyway: nobody reads it.)
pub(crate) const FIN_WAIT_2_TIMEOUT: Duration = Duration::from_secs(60);

/// What the close rules do about one connection let go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Nothing yet.
    Wait,
    /// It closed: forget it.
    Done,
    /// Reset it: it cannot finish in time.
    Reset,
    /// End it without a word: nothing is owed (TIME-WAIT cut short once the runtime is gone).
    End,
}

/// A connection the application let go that may still be closing.
#[derive(Clone, Copy, Debug)]
struct Release {
    /// When it was let go.
    at: Instant,
    /// Its linger then: how long its data and FIN may take to be acknowledged.
    linger: Option<Duration>,
}

impl Release {
    /// When a close that still owes data or a FIN is reset: the linger from the release.
    /// Without a linger, never while the runtime runs, and at once once it is gone.
    fn give_up_at(&self, orphaned: bool) -> Option<Instant> {
        match (self.linger, orphaned) {
            (Some(linger), _) => Some(self.at + linger),
            (None, true) => Some(self.at),
            (None, false) => None,
        }
    }
}

/// The closes under way, of connections no stream holds any more.
#[derive(Debug, Default)]
pub(crate) struct Closes {
    /// Each connection let go, with when and its linger.
    releasing: BTreeMap<ConnectionHandle, Release>,
    /// When the rules must look at `releasing` again (while the runtime runs).
    due: Option<Instant>,
}

impl Closes {
    /// `handle` was let go at `now` with this linger: its close is bounded from now on.
    /// Forgets the connections the endpoint no longer keeps.
    fn let_go(
        &mut self,
        endpoint: &Endpoint,
        handle: ConnectionHandle,
        now: Instant,
        linger: Option<Duration>,
    ) {
        self.releasing
            .retain(|&handle, _| endpoint.connection(handle).is_some());
        self.releasing.insert(handle, Release { at: now, linger });
        self.due = Some(now);
    }

    /// Forget `handle`'s close: it ended without a word (its TIME-WAIT cut short).
    fn forget(&mut self, handle: ConnectionHandle) {
        self.releasing.remove(&handle);
    }

    /// The latest moment a close under way may wait for an acknowledgment once the runtime
    /// is gone; `now` if none may.
    fn latest_give_up(&self, now: Instant) -> Instant {
        self.releasing
            .values()
            .filter_map(|release| release.give_up_at(true))
            .max()
            .unwrap_or(now)
    }

    /// Bound the closes of connections the application let go; returns when to look again.
    ///
    /// - Data and FIN not acknowledged by the close's linger: the connection is reset (the
    ///   peer learns at once that nobody will answer), freeing its socket and task.
    /// - FIN-WAIT-2 (our FIN acknowledged, the peer's not sent) lasts at most
    ///   [`FIN_WAIT_2_TIMEOUT`], then resets; TIME-WAIT runs its course.
    /// - Once the runtime is gone (`orphaned`), the std driver's exit rule: no linger means no
    ///   wait, and after our FIN is acknowledged the connection waits only for the peer to be
    ///   quiet for three retransmission timeouts (at most [`QUIET_LIMIT`]), time to repeat its
    ///   FIN if our acknowledgment was lost; then it ends (reset in FIN-WAIT-2).
    pub(super) fn run(
        &mut self,
        endpoint: &mut Endpoint,
        orphaned: bool,
        now: Instant,
    ) -> Option<Instant> {
        // While the runtime runs, every deadline below is known at the release: look only
        // then. Once it is gone, a close's progress moves its deadline: look every time.
        if !orphaned && self.due.is_none_or(|due| now < due) {
            return self.due;
        }
        let mut next: Option<Instant> = None;
        let releasing: Vec<_> = self.releasing.iter().map(|(&h, &r)| (h, r)).collect();
        for (handle, release) in releasing {
            let heard = endpoint.last_heard(handle).unwrap_or(release.at);
            let Some(connection) = endpoint.connection(handle) else {
                self.releasing.remove(&handle);
                continue;
            };
            let state = connection.state();
            let (verdict, look_at) = match state {
                State::Closed => (Verdict::Done, None),
                State::FinWait2 | State::TimeWait if orphaned => {
                    let quiet = quiet_period(connection);
                    let quiet_at = heard.max(release.at) + quiet;
                    if now < quiet_at {
                        (Verdict::Wait, Some(quiet_at))
                    } else if state == State::FinWait2 {
                        (Verdict::Reset, None)
                    } else {
                        (Verdict::End, None)
                    }
                }
                State::FinWait2 => {
                    let give_up_at = release.at + FIN_WAIT_2_TIMEOUT;
                    if now < give_up_at {
                        (Verdict::Wait, Some(give_up_at))
                    } else {
                        (Verdict::Reset, None)
                    }
                }
                // Nothing owed any more; its own timer ends it. Kept in case the runtime
                // goes, and looked at again when FIN-WAIT-2 would have been.
                State::TimeWait => (Verdict::Wait, Some(release.at + FIN_WAIT_2_TIMEOUT)),
                _ => match release.give_up_at(orphaned) {
                    Some(give_up_at) if now >= give_up_at => (Verdict::Reset, None),
                    // FIN-WAIT-2 may come before the linger ends.
                    Some(give_up_at) if !orphaned => (
                        Verdict::Wait,
                        Some(give_up_at.min(release.at + FIN_WAIT_2_TIMEOUT)),
                    ),
                    Some(give_up_at) => (Verdict::Wait, Some(give_up_at)),
                    None => (Verdict::Wait, Some(release.at + FIN_WAIT_2_TIMEOUT)),
                },
            };
            match verdict {
                Verdict::Wait => {}
                Verdict::Done => {
                    self.releasing.remove(&handle);
                }
                Verdict::Reset | Verdict::End => {
                    if let Some(connection) = endpoint.connection_mut(handle) {
                        match verdict {
                            Verdict::Reset => connection.abort(),
                            _ => connection.terminate(None),
                        }
                    }
                    self.releasing.remove(&handle);
                }
            }
            if let Some(at) = look_at {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
        self.due = next;
        next
    }
}

impl Shared {
    /// Let go of `handle`: no stream holds it any more. Closes it (a FIN after the data, or a
    /// RST if data waits unread or the linger is zero) and leaves the close to the driver.
    pub(crate) fn release(&self, handle: ConnectionHandle) {
        let mut state = self.lock();
        let now = self.now();
        let linger = state
            .tasks
            .let_go(handle)
            .map_or(state.default_linger, |held| held.linger);
        if let Some(connection) = state.endpoint.connection_mut(handle) {
            // A connection that never connected (a `connect` given up on) owes nothing.
            if linger == Some(Duration::ZERO) || !connection.is_connected() {
                connection.abort();
            }
        }
        state.endpoint.detach(handle);
        let DriverState {
            closes, endpoint, ..
        } = &mut *state;
        closes.let_go(endpoint, handle, now, linger);
        state.users -= 1;
        self.finish(state);
        // The driver may be waiting for the last user to leave.
        self.wake_driver();
    }

    /// The process is exiting with this driver orphaned: close what streams still hold, as a
    /// kernel closes an exiting process's sockets. Returns the latest moment a close may wait
    /// for an acknowledgment.
    pub(crate) fn close_for_exit(&self) -> std::time::Instant {
        let mut state = self.lock();
        let now = self.now();
        state.endpoint.stop_listening();
        for (handle, linger) in state.tasks.let_go_all() {
            if linger == Some(Duration::ZERO) {
                if let Some(connection) = state.endpoint.connection_mut(handle) {
                    connection.abort();
                }
            }
            state.endpoint.close(handle);
            state
                .closes
                .releasing
                .insert(handle, Release { at: now, linger });
        }
        let latest = state.closes.latest_give_up(now);
        self.finish(state);
        self.wake_driver();
        self.os_instant(latest)
    }
}

impl EndTimeWait for Shared {
    fn end_time_wait(&self) {
        let mut state = self.lock();
        for handle in state.endpoint.end_time_waits() {
            state.closes.forget(handle);
        }
        // The endpoint forgets the closed connections as it polls them; the driver task
        // then finds nothing left and ends, closing the socket.
        self.finish(state);
        self.wake_driver();
    }
}
