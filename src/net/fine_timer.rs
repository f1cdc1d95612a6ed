//! Waits shorter than a millisecond, kept on time: a `timerfd` registered beside the sockets
//! in a `mio::Poll`.
//!
//! `mio::Poll::poll` takes its timeout in whole milliseconds, rounded up. On loopback, where
//! the round trip is 50 to 100 us, a tail loss probe due 2 x SRTT after the last ACK (RFC
//! 8985 section 7.2) would go a millisecond late, and a lossy transfer spends much of its
//! time in such waits. A timerfd counts nanoseconds, so a short wait ends when it should.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};

/// Waits at least this long go to `mio::Poll` alone: a millisecond more is under 10% of them.
const FINE_BELOW: Duration = Duration::from_millis(10);

/// A timerfd in a poll, armed for the waits `mio::Poll` would round up.
pub(super) struct FineTimer {
    timer: OwnedFd,
    token: Token,
    armed: bool,
}

impl FineTimer {
    /// A timer registered in `registry` under `token` (its events mean only "look again").
    pub(super) fn new(registry: &Registry, token: Token) -> io::Result<FineTimer> {
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&timer.as_raw_fd()), token, Interest::READABLE)?;
        Ok(FineTimer {
            timer,
            token,
            armed: false,
        })
    }

    /// `poll.poll(events, wait)`, but a wait under [`FINE_BELOW`] ends within microseconds of
    /// its time instead of up to a millisecond late.
    pub(super) fn poll(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        wait: Option<Duration>,
    ) -> io::Result<()> {
        let fine = wait.filter(|wait| !wait.is_zero() && *wait < FINE_BELOW);
        let Some(wait) = fine else {
            if self.armed {
                // A timer left from an earlier wait would only wake the loop for nothing.
                self.set(Duration::ZERO)?;
            }
            return poll.poll(events, wait);
        };
        self.set(wait)?;
        // mio's own timeout is the backstop, should the timer's event go astray.
        let result = poll.poll(events, Some(wait + Duration::from_millis(1)));
        // Reading the expiry count clears the timer's readiness (re-arming clears it too, so a
        // timer that fired after this poll returned needs no read here).
        if events.iter().any(|event| event.token() == self.token) {
            let _ = rustix::io::read(&self.timer, &mut [0u8; 8]);
        }
        result
    }

    /// Arm the timer to expire `after` from now, or disarm it with zero.
    fn set(&mut self, after: Duration) -> io::Result<()> {
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = Timespec::try_from(after).unwrap_or(zero);
        let spec = Itimerspec {
            it_interval: zero,
            it_value: value,
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)?;
        self.armed = !after.is_zero();
        Ok(())
    }
}
