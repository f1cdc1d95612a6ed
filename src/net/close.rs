//! Closing like TCP when the stack lives in the process: what closing a [`Stream`] waits for,
//! and what the process's exit waits for.
//!
//! A kernel's TCP outlives the process that wrote the data; Ferry's does not. So:
//!
//! - **Closing waits** (the last handle dropped, or [`Stream::close`]): a FIN follows the data
//!   written, and the close returns once the peer has acknowledged both, or the linger time
//!   runs out (`SO_LINGER`'s meaning; [`DEFAULT_LINGER`] unless set). If received data was left
//!   unread, the connection is reset at once instead (RFC 9293 section 3.6.1; RFC 2525, "data
//!   lost"), and data arriving after the close is answered with a RST (section 3.10.7.4; the
//!   endpoint keeps that rule). A linger of zero resets at once; no linger does not wait.
//! - **Exiting waits** too, once `main` returns or `process::exit` is called: an exit hook
//!   closes every connection the application still holds (as a kernel closes a process's
//!   sockets), and then gives every closing connection the time to finish what it still owes
//!   the peer. Data and FIN not yet acknowledged get until the close's linger runs out. Once
//!   our FIN is acknowledged, the connection stays until the peer has been quiet for three
//!   retransmission timeouts (at most [`QUIET_LIMIT`]): long enough for a peer that closes
//!   promptly to have its FIN acknowledged, and to repeat that FIN if our acknowledgment was
//!   lost, twice in a row (its timer doubles in between), as TIME-WAIT is for (section 3.6).
//!   What cannot finish in time is reset, so the peer learns at once that nobody will answer
//!   any more.
//!
//! The linger bounds a close; the exit hook never waits longer than the longest linger plus
//! twice [`QUIET_LIMIT`]. A process killed by a signal runs no hook: its peers find out from
//! the ICMP errors their segments meet, or by their user timeout.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};
use std::time::Duration;

use super::driver::{os_now, DriverState, Locked, Shared};
use super::socket_failed;
use super::wake::WaitFor;
use crate::conn::{Connection, State};
use crate::endpoint::ConnectionHandle;
use crate::io_error::{begin_close, connection_gone};
pub(crate) use crate::io_error::{close_progress, CloseOutcome};

#[cfg(doc)]
use super::Stream;

/// How long a close waits for the peer's acknowledgment unless told otherwise: time for a
/// full 256 KiB send buffer to drain over a slow, lossy path, short enough that a program
/// whose peer has died still exits within half a minute.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);

/// The longest quiet period the exit waits for once our FIN is acknowledged. The tokio
/// driver's orphanage keeps the same rule.
pub(crate) const QUIET_LIMIT: Duration = Duration::from_secs(3);

/// How long the peer must have been quiet before an exiting process stops waiting for a
/// connection whose FIN the peer acknowledged (FIN-WAIT-2 or TIME-WAIT): three
/// retransmission timeouts, time for the peer to repeat its FIN twice if our acknowledgment
/// was lost (its timer doubles in between), at most [`QUIET_LIMIT`]. For both drivers.
pub(crate) fn quiet_period(connection: &Connection) -> Duration {
    (3 * connection.stats().rto).min(QUIET_LIMIT)
}

/// What the net layer keeps about closes, behind the driver's lock.
#[derive(Debug)]
pub(crate) struct Closes {
    /// The linger of each connection the application holds.
    lingers: BTreeMap<ConnectionHandle, Option<Duration>>,
    /// Connections the application let go whose close may be under way, each with the moment
    /// after which the exit stops waiting for its data and FIN to be acknowledged.
    releasing: BTreeMap<ConnectionHandle, std::time::Instant>,
    /// The linger a new stream starts with.
    default_linger: Option<Duration>,
}

impl Closes {
    pub(crate) fn new(default_linger: Option<Duration>) -> Closes {
        Closes {
            lingers: BTreeMap::new(),
            releasing: BTreeMap::new(),
            default_linger,
        }
    }

    /// A stream now holds `handle`, with the default linger.
    pub(crate) fn hold(&mut self, handle: ConnectionHandle) {
        self.lingers.insert(handle, self.default_linger);
    }

    pub(crate) fn linger(&self, handle: ConnectionHandle) -> Option<Duration> {
        self.lingers
            .get(&handle)
            .copied()
            .unwrap_or(self.default_linger)
    }

    pub(crate) fn set_linger(&mut self, handle: ConnectionHandle, linger: Option<Duration>) {
        self.lingers.insert(handle, linger);
    }
}

/// [`close_progress`] of `handle`, or the reason it cannot be known: the connection is
/// gone, or the socket failed.
fn fin_ack_outcome(state: &DriverState, handle: ConnectionHandle) -> Option<io::Result<()>> {
    let Some(connection) = state.endpoint.connection(handle) else {
        return Some(Err(connection_gone()));
    };
    close_progress(connection).or_else(|| state.socket_error.map(|kind| Err(socket_failed(kind))))
}

/// Wait until the peer acknowledged our data and FIN, or `linger` from `started` passed.
fn wait_for_fin_ack<'a>(
    shared: &'a Shared,
    mut state: Locked<'a>,
    handle: ConnectionHandle,
    started: std::time::Instant,
    linger: Duration,
) -> (Locked<'a>, io::Result<()>) {
    let deadline = started + linger;
    loop {
        if let Some(outcome) = fin_ack_outcome(&state, handle) {
            return (state, outcome);
        }
        if os_now() >= deadline {
            let error = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the peer did not acknowledge the data and FIN within the linger time \
                     ({linger:?})"
                ),
            );
            return (state, Err(error));
        }
        state = shared
            .wait(state, WaitFor::Connection(handle), Some(deadline))
            .0;
    }
}

/// Close `handle` for good: its last stream is gone. Blocks as the linger says, then leaves
/// the connection to the driver (and, at exit, to the exit hook).
pub(crate) fn release(shared: &Shared, handle: ConnectionHandle) -> io::Result<()> {
    let started = os_now();
    let mut state = shared.lock();
    let linger = state.closes.linger(handle);
    state.closes.lingers.remove(&handle);
    state.streams.remove(&handle);
    state.ready.let_go(handle);
    // A RST instead of a FIN if data waits unread or the linger is zero: the endpoint's rule.
    let outcome = begin_close(&mut state.endpoint, handle, linger);
    shared.after_application_call(&mut state, Some(handle));
    let result = match outcome {
        Err(error) => Err(error),
        Ok(CloseOutcome::Now(result)) => result,
        Ok(CloseOutcome::WaitForFinAck(linger)) => {
            let (guard, result) = wait_for_fin_ack(shared, state, handle, started, linger);
            state = guard;
            result
        }
    };
    let give_up_at = started + linger.unwrap_or(Duration::ZERO);
    let DriverState {
        closes, endpoint, ..
    } = &mut *state;
    closes
        .releasing
        .retain(|&handle, _| endpoint.connection(handle).is_some());
    closes.releasing.insert(handle, give_up_at);
    if let Some(connection) = endpoint.connection(handle) {
        shared.release_peer_socket(handle, connection.remote());
    }
    endpoint.detach(handle);
    state.users -= 1;
    // Only now: until the close above was done waiting, its wake-ups came through here.
    state.waiters.let_go(handle);
    shared.after_application_call(&mut state, Some(handle));
    // The driver may have been waiting for the last user to leave.
    shared.wake_driver();
    result
}

/// Shut the write side of `handle` down and wait, as the linger says, for the peer to
/// acknowledge the data and the FIN: a close while other streams still hold the connection
/// (they may go on reading).
pub(crate) fn finish_sending(shared: &Shared, handle: ConnectionHandle) -> io::Result<()> {
    let started = os_now();
    let mut state = shared.lock();
    let linger = state.closes.linger(handle);
    match state.endpoint.connection_mut(handle) {
        Some(connection) => connection.shutdown(),
        None => return Err(connection_gone()),
    }
    shared.after_application_call(&mut state, Some(handle));
    match linger {
        Some(linger) if !linger.is_zero() => {
            wait_for_fin_ack(shared, state, handle, started, linger).1
        }
        _ => match state.endpoint.connection(handle).and_then(|c| c.error()) {
            Some(error) => Err(io::Error::from(error)),
            None => Ok(()),
        },
    }
}

// -------------------------------------------------------------------------------------------
// At exit

/// Every driver started in this process, for the exit hook.
static DRIVERS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Have the process's exit finish `shared`'s closes (the module docs say how).
pub(crate) fn register_for_exit(shared: &Arc<Shared>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| call_at_exit(at_exit));
    let mut drivers = DRIVERS.lock().unwrap_or_else(PoisonError::into_inner);
    drivers.retain(|driver| driver.strong_count() > 0);
    drivers.push(Arc::downgrade(shared));
}

/// Have the C library's `exit` call `hook` (after `main` returns, or from `process::exit`),
/// while the other threads still run. `hook` must catch every panic. Where there is no
/// atexit(3), or registration fails, exits just do not wait.
pub(crate) fn call_at_exit(hook: extern "C" fn()) {
    let _registered = ferry_exit_hook::call_at_exit(hook);
}

/// Run by the C library's `exit`, after `main` returns or from `process::exit`, while every
/// other thread (the drivers included) still runs.
extern "C" fn at_exit() {
    // Unwinding out of an `extern "C"` function aborts the process; an exit must stay an exit.
    let _ = std::panic::catch_unwind(finish_every_close);
}

fn finish_every_close() {
    let drivers = live(&DRIVERS);
    let now = os_now();
    let latest_give_up = drivers
        .iter()
        .map(|driver| close_everything(driver, now))
        .max()
        .unwrap_or(now);
    let hard_deadline = latest_give_up + 2 * QUIET_LIMIT;
    for driver in &drivers {
        finish_closes(driver, hard_deadline);
    }
}

/// The drivers of a registry (this module's, or the tokio orphanage's) still alive.
pub(crate) fn live<T>(registry: &Mutex<Vec<Weak<T>>>) -> Vec<Arc<T>> {
    registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// Close what the application still holds, as a kernel closes an exiting process's sockets;
/// stop listening. Returns the latest moment a close may still wait for an acknowledgment.
fn close_everything(shared: &Shared, now: std::time::Instant) -> std::time::Instant {
    let mut state = shared.lock();
    state.endpoint.stop_listening();
    let held = std::mem::take(&mut state.closes.lingers);
    for (handle, linger) in held {
        if linger == Some(Duration::ZERO) {
            if let Some(connection) = state.endpoint.connection_mut(handle) {
                connection.abort();
            }
        }
        state.endpoint.close(handle);
        let give_up_at = now + linger.unwrap_or(Duration::ZERO);
        state.closes.releasing.insert(handle, give_up_at);
    }
    shared.after_application_call(&mut state, None);
    state
        .closes
        .releasing
        .values()
        .copied()
        .max()
        .unwrap_or(now)
}

/// What the exit does next about one closing connection.
enum AtExit {
    /// Nothing is owed any more.
    Done,
    /// It cannot finish in time: reset it, so the peer does not wait for us.
    Reset,
    /// Look again then.
    WaitUntil(std::time::Instant),
}

/// Wait until every closing connection of `shared` is done, by the module docs' rule.
fn finish_closes(shared: &Shared, hard_deadline: std::time::Instant) {
    let mut state = shared.lock();
    loop {
        let (clock, now) = (os_now(), shared.now());
        let mut next_look: Option<std::time::Instant> = None;
        let closing: Vec<_> = state
            .closes
            .releasing
            .iter()
            .map(|(&handle, &give_up_at)| (handle, give_up_at))
            .collect();
        for (handle, give_up_at) in closing {
            let verdict = match state.endpoint.connection(handle) {
                None => AtExit::Done,
                Some(connection) => match connection.state() {
                    State::Closed => AtExit::Done,
                    State::FinWait2 | State::TimeWait => {
                        let quiet = quiet_period(connection);
                        let heard = state.endpoint.last_heard(handle).unwrap_or(now);
                        let quiet_at = shared.os_instant(heard + quiet);
                        match (clock >= quiet_at, connection.state()) {
                            (false, _) => AtExit::WaitUntil(quiet_at),
                            // The peer did not close promptly: tell it we are gone.
                            (true, State::FinWait2) => AtExit::Reset,
                            (true, _) => AtExit::Done,
                        }
                    }
                    _ if clock >= give_up_at => AtExit::Reset,
                    _ => AtExit::WaitUntil(give_up_at),
                },
            };
            let verdict = match verdict {
                AtExit::WaitUntil(_) if clock >= hard_deadline => AtExit::Reset,
                verdict => verdict,
            };
            match verdict {
                AtExit::Done => {
                    state.closes.releasing.remove(&handle);
                }
                AtExit::Reset => {
                    if let Some(connection) = state.endpoint.connection_mut(handle) {
                        connection.abort();
                    }
                    state.closes.releasing.remove(&handle);
                }
                AtExit::WaitUntil(at) => {
                    next_look = Some(next_look.map_or(at, |next| next.min(at)));
                }
            }
        }
        shared.after_application_call(&mut state, None);
        let Some(next_look) = next_look else {
            return;
        };
        let deadline = next_look.min(hard_deadline);
        state = shared.wait(state, WaitFor::AnyConnection, Some(deadline)).0;
    }
}
