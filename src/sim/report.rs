//! What a [`transfer`](super::transfer) reports: each host's counters and fate, and the
//! transfer's.

use std::time::Duration;

use super::transfer::RunLimit;
use crate::conn::{ConnectionError, State, Stats};
use crate::endpoint::EndpointStats;
use crate::fault::FaultStats;
use crate::link::LinkStats;

/// One side of a finished transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostReport {
    /// Whether the host had a connection at all: B gets one only once a handshake completes
    /// on its side.
    pub opened: bool,
    /// The connection's counters at the end.
    pub stats: Stats,
    /// Its state at the end (CLOSED after a clean close).
    pub state: State,
    /// Why it failed, if it did.
    pub error: Option<ConnectionError>,
    /// What the host's endpoint counted for strays.
    pub endpoint: EndpointStats,
    /// What the fault injector on the link leaving this host did.
    pub faults: FaultStats,
    /// What the link leaving this host counted.
    pub link: LinkStats,
}

/// What a [`transfer`](super::transfer) did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TransferReport {
    /// The payload's length.
    pub bytes_sent: u64,
    /// Bytes B read.
    pub bytes_delivered: u64,
    /// B read exactly the payload, in order, and then end of stream.
    pub intact: bool,
    /// Every byte B read equals the payload's byte at that position, and every byte A read
    /// the reply's: even a transfer cut short delivered no wrong bytes.
    pub delivered_correct: bool,
    /// A read exactly the reply, in order, and then end of stream (true when there was none).
    pub reply_intact: bool,
    /// Both connections reached CLOSED (cleanly or not) before the run stopped (its
    /// simulated-time limit or its event budget; see `limit_reached`).
    pub finished: bool,
    /// The budget that stopped the run, if one did.
    pub limit_reached: Option<RunLimit>,
    /// Simulated time until B read end of stream (or until the run ended, if it never did).
    pub transfer_time: Duration,
    /// Simulated time until both connections closed (or the run ended).
    pub end_time: Duration,
    /// Times the clock moved: a measure of the work the run took.
    pub steps: u64,
    /// The sender.
    pub a: HostReport,
    /// The receiver.
    pub b: HostReport,
}

impl TransferReport {
    /// Both ends closed cleanly and B got exactly the payload.
    pub fn succeeded(&self) -> bool {
        self.intact
            && self.reply_intact
            && self.finished
            && self.a.error.is_none()
            && self.b.error.is_none()
    }

    /// Payload bits per second of simulated transfer time.
    pub fn goodput_bps(&self) -> f64 {
        let seconds = self.transfer_time.as_secs_f64();
        if seconds > 0.0 {
            self.bytes_delivered as f64 * 8.0 / seconds
        } else {
            0.0
        }
    }
}
