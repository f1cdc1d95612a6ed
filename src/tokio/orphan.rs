//! Drivers whose runtime went away before their closes finished.
//!
//! A runtime that shuts down (as `#[tokio::main]`'s does when `main` returns) drops its
//! tasks, a driver's among them. A driver dropped with work left (a close under way, a stream
//! still held) comes here: one thread per process, started on first need, runs such drivers
//! on a current-thread runtime of its own, with the std driver's exit rule (see
//! [`Shared::finish_closes_quickly`](super::driver)): data and FIN get until the close's
//! linger to be acknowledged, then the peer's FIN gets at most [`QUIET_LIMIT`], and whatever
//! cannot finish is reset. The process's exit (`main` returning, `process::exit`) waits for
//! them, closing first what streams still hold, as the std driver's exit hook does.

use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};

use super::close::QUIET_LIMIT;
use super::driver::Shared;
use crate::net::close::live;
use crate::net::os_now;

/// The thread that runs orphaned drivers, and what the exit waits on.
struct Orphanage {
    runtime: ::tokio::runtime::Handle,
    /// Every driver adopted, for the exit to close what they hold.
    drivers: Mutex<Vec<Weak<Shared>>>,
    /// How many adopted drivers still run.
    running: Mutex<usize>,
    finished: Condvar,
}

static ORPHANAGE: OnceLock<Option<Orphanage>> = OnceLock::new();

fn orphanage() -> Option<&'static Orphanage> {
    ORPHANAGE.get_or_init(start).as_ref()
}

/// Start the orphanage's thread and runtime, and the exit hook. `None` if the OS would not
/// give us a thread: orphaned closes are then lost, as they would be without this module.
fn start() -> Option<Orphanage> {
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("ferry tokio orphanage".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .ok()?;
    crate::net::call_at_exit(at_exit);
    Some(Orphanage {
        runtime: handle,
        drivers: Mutex::new(Vec::new()),
        running: Mutex::new(0),
        finished: Condvar::new(),
    })
}

/// Run `shared`'s driver to its end on the orphanage's runtime.
pub(crate) fn adopt(shared: Arc<Shared>) {
    let Some(orphanage) = orphanage() else {
        return;
    };
    {
        let mut drivers = orphanage
            .drivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        drivers.retain(|driver| driver.strong_count() > 0);
        drivers.push(Arc::downgrade(&shared));
    }
    *orphanage
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner) += 1;
    orphanage.runtime.spawn(async move {
        shared.run().await;
        let mut running = orphanage
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *running -= 1;
        orphanage.finished.notify_all();
    });
}

/// Run by the C library's `exit`, while the orphanage's thread still runs.
extern "C" fn at_exit() {
    // Unwinding out of an `extern "C"` function aborts the process; an exit must stay an exit.
    let _ = std::panic::catch_unwind(finish_orphans);
}

/// Close what the orphaned drivers' streams still hold, then wait until every orphaned
/// driver is done, or the longest linger plus twice [`QUIET_LIMIT`] passed.
fn finish_orphans() {
    let Some(Some(orphanage)) = ORPHANAGE.get() else {
        return;
    };
    let drivers: Vec<Arc<Shared>> = live(&orphanage.drivers);
    let now = os_now();
    let latest = drivers
        .iter()
        .map(|driver| driver.close_for_exit())
        .max()
        .unwrap_or(now);
    drop(drivers);
    let deadline = latest.max(now) + 2 * QUIET_LIMIT;
    let mut running = orphanage
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while *running > 0 {
        let left = deadline.saturating_duration_since(os_now());
        if left.is_zero() {
            return;
        }
        running = orphanage
            .finished
            .wait_timeout(running, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}
