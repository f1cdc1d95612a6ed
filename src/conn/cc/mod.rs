//! Congestion control behind a small trait, one controller per file: NewReno's window
//! arithmetic (RFC 5681, `newreno.rs`) by default, or a fixed window for labs that study pure
//! ARQ (`fixed.rs`). Users choose one with [`CongestionControl`] in the config; the trait stays
//! private, since a controller of the user's own would need the connection's loss recovery to
//! be public too. Another controller is one more file, one more variant and one more arm of
//! [`CongestionControl::build`].
//!
//! A controller only keeps `cwnd` and `ssthresh`; the connection decides when an event
//! happens (new data acknowledged, loss detected, the timer expired) and runs loss recovery
//! itself (RFC 6582's window inflation, RFC 6675's pipe), asking the controller for the window.

mod fixed;
mod newreno;

use std::fmt;

use fixed::FixedWindow;
use newreno::NewReno;

/// Which congestion controller a connection runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionControl {
    /// Slow start, congestion avoidance and multiplicative decrease (RFC 5681).
    #[default]
    NewReno,
    /// No congestion control: only the receiver's window limits the sender.
    Fixed,
}

impl CongestionControl {
    /// A controller of this kind for segments of `smss` bytes.
    pub(crate) fn build(self, smss: u32) -> Box<dyn Controller> {
        match self {
            CongestionControl::NewReno => Box::new(NewReno::new(smss)),
            CongestionControl::Fixed => Box::new(FixedWindow),
        }
    }
}

impl fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CongestionControl::NewReno => "newreno",
            CongestionControl::Fixed => "fixed",
        })
    }
}

/// What a congestion controller must answer and hear about.
pub(crate) trait Controller: fmt::Debug + Send {
    /// The congestion window: bytes the sender may have in the network.
    fn window(&self) -> u32;
    /// The slow-start threshold.
    fn slow_start_threshold(&self) -> u32;
    /// `acked` bytes of new data were acknowledged, outside loss recovery.
    fn on_ack(&mut self, acked: u32);
    /// Loss was detected by duplicate ACKs or SACK, with `flight_size` bytes outstanding:
    /// fast retransmit and recovery begin.
    fn on_loss(&mut self, flight_size: u32);
    /// The retransmission timer expired with `flight_size` bytes outstanding; `repeated` when
    /// it already expired for the same data.
    fn on_timeout(&mut self, flight_size: u32, repeated: bool);
    /// A loss response proved spurious (RFC 5682, RFC 4015): go back to at least this window
    /// and threshold, as they were before it.
    fn undo(&mut self, window: u32, slow_start_threshold: u32);
}
