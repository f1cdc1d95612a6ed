//! RSTs to strays, rate-limited: at most [`RESETS_PER_SECOND`] in bursts of at most
//! [`RESET_BURST`], by a generic cell rate algorithm, as Linux limits the ICMP errors a host
//! sends. A flood of strays draws a trickle, not a reflection.

use std::time::Duration;

use crate::time::Instant;

/// RSTs to segments no connection accepts: at most this many a second, in bursts of at most
/// [`RESET_BURST`], as Linux limits the ICMP errors a host sends (`icmp_msgs_per_sec`,
/// `icmp_msgs_burst`). A flood of strays draws a trickle, not a reflection, and the queue of
/// RSTs waiting to go never holds more than a burst.
pub const RESETS_PER_SECOND: u32 = 1000;
/// See [`RESETS_PER_SECOND`].
pub const RESET_BURST: u32 = 50;

/// The RST rate limit's schedule: when the RSTs sent so far would have finished going out at
/// [`RESETS_PER_SECOND`].
#[derive(Debug, Default)]
pub(super) struct ResetLimit {
    schedule: Instant,
}

impl ResetLimit {
    /// Whether one more RST may go now; if so, it is counted.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let interval = Duration::from_secs(1) / RESETS_PER_SECOND;
        let schedule = self.schedule.max(now) + interval;
        if schedule > now + interval * RESET_BURST {
            return false;
        }
        self.schedule = schedule;
        true
    }
}
