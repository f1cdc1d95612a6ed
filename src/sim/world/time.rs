//! The world's clock, as a program sees it: [`Instant::now`], [`sleep`], [`sleep_until`] and
//! [`timeout`], shaped like `tokio::time`'s. Time is simulated: it moves only when every task
//! waits, straight to the next thing due (a datagram arriving, a timer), so a program that
//! sleeps an hour costs nothing, and no run ever reads the machine's clock.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::ops::{Add, AddAssign, Sub};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use super::context::{self, WaitingOn};
use super::core::{Core, TimerId};

/// A moment of the world's clock, as `std::time::Instant` or `tokio::time::Instant`: compare
/// and subtract them, add durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(crate::time::Instant);

impl Instant {
    /// The world's time now. Panics outside a world's program.
    pub fn now() -> Instant {
        let current = context::current("ferry::sim::world::time::Instant::now");
        let now = current.core.borrow().now;
        Instant(now)
    }

    /// How long since `earlier`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The same as [`duration_since`](Self::duration_since), which already saturates.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }

    /// How much world time has passed since this instant.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// The time since the world started.
    pub fn since_start(&self) -> Duration {
        self.0.since_epoch()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.duration_since(rhs)
    }
}

/// The world's time since it started. Panics outside a world's program.
pub fn elapsed() -> Duration {
    Instant::now().since_start()
}

/// Wait until `duration` of world time has passed, as `tokio::time::sleep`.
pub fn sleep(duration: Duration) -> Sleep {
    let current = context::current("ferry::sim::world::time::sleep");
    let now = current.core.borrow().now;
    Sleep {
        deadline: now + duration,
        timer: None,
    }
}

/// Wait until the world's clock reaches `deadline`, as `tokio::time::sleep_until`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: deadline.0,
        timer: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: crate::time::Instant,
    /// Its timer in the world, once polled.
    timer: Option<(TimerId, Weak<RefCell<Core>>)>,
}

impl Sleep {
    /// When it ends.
    pub fn deadline(&self) -> Instant {
        Instant(self.deadline)
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now().0 >= self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let current = context::current("ferry::sim::world::time::sleep");
        let mut core = current.core.borrow_mut();
        let booked = self.timer.as_ref().map(|(timer, _)| *timer);
        if core.now >= self.deadline {
            if let Some(timer) = booked {
                core.cancel_timer(timer);
                self.timer = None;
            }
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let timer = core.set_timer(booked, deadline, cx.waker());
        drop(core);
        self.timer = Some((timer, Rc::downgrade(&current.core)));
        context::note_wait(WaitingOn::Sleep(deadline));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let Some((timer, core)) = self.timer.take() else {
            return;
        };
        // A sleep dropped with its world has nothing left to cancel.
        if let Some(core) = core.upgrade() {
            core.borrow_mut().cancel_timer(timer);
        }
    }
}

/// [`timeout`] ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// `TimedOut`, as tokio's `Elapsed` converts.
impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

/// Run `future` for at most `duration` of world time, as `tokio::time::timeout`: its output,
/// or [`Elapsed`] (and the future dropped) if the time ran out first.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[must_use = "a Timeout does nothing unless awaited"]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.sleep.deadline)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // The inner future said what it waits for; the deadline is only a bound on it.
        let waiting = context::waiting_now();
        let expired = Pin::new(&mut self.sleep).poll(cx).is_ready();
        if let Some(waiting) = waiting {
            context::note_wait(waiting);
        }
        match expired {
            true => Poll::Ready(Err(Elapsed(()))),
            false => Poll::Pending,
        }
    }
}
