//! Congestion control behind a small trait, one controller per file: CUBIC (RFC 9438,
//! `cubic.rs`, whose initial slow start ends by HyStart++, RFC 9406, `hystart.rs`) by
//! default, as on Linux; NewReno's window arithmetic (RFC 5681, `newreno.rs`); or a fixed
//! window for labs that study pure ARQ (`fixed.rs`). Users choose one with [`CongestionControl`] in the config; the
//! trait stays private, since a controller of the user's own would need the connection's loss
//! recovery to be public too. Another controller is one more file, one more variant and one
//! more arm of [`CongestionControl::build`].
//!
//! A controller only keeps `cwnd` and `ssthresh`; the connection decides when an event
//! happens (new data acknowledged, loss detected, the timer expired) and runs loss recovery
//! itself (RFC 6582's window inflation, RFC 6675's pipe), asking the controller for the window.

mod cubic;
mod fixed;
mod hystart;
mod newreno;

use std::fmt;
use std::time::Duration;

use crate::time::Instant;
use crate::wire::SeqNum;
use cubic::Cubic;
use fixed::FixedWindow;
use newreno::NewReno;

/// Which congestion controller a connection runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionControl {
    /// Slow start, congestion avoidance and multiplicative decrease (RFC 5681).
    NewReno,
    /// CUBIC (RFC 9438), the default as it is Linux's: after a loss the window grows as a cubic function
    /// of the time since, back to where the loss happened and then beyond; multiplicative
    /// decrease by 0.7 rather than 0.5.
    #[default]
    Cubic,
    /// No congestion control: only the receiver's window limits the sender.
    Fixed,
}

impl CongestionControl {
    /// A controller of this kind for segments of `smss` bytes, starting from an initial window
    /// of `initial_window_segments` ([`initial_window`]).
    pub(crate) fn build(
        self,
        smss: u32,
        initial_window_segments: Option<u32>,
    ) -> Box<dyn Controller> {
        let initial_window = initial_window(smss, initial_window_segments);
        match self {
            CongestionControl::NewReno => Box::new(NewReno::new(smss, initial_window)),
            CongestionControl::Cubic => Box::new(Cubic::new(smss, initial_window)),
            CongestionControl::Fixed => Box::new(FixedWindow),
        }
    }
}

impl fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CongestionControl::NewReno => "newreno",
            CongestionControl::Cubic => "cubic",
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
    /// New data was acknowledged, outside fast recovery.
    fn on_ack(&mut self, ack: &Ack);
    /// Loss was detected by duplicate ACKs or SACK, with `flight_size` bytes outstanding:
    /// fast retransmit and recovery begin.
    fn on_loss(&mut self, flight_size: u32);
    /// The retransmission timer expired with `flight_size` bytes outstanding; `repeated` when
    /// it already expired for the same data.
    fn on_timeout(&mut self, flight_size: u32, repeated: bool);
    /// A loss response proved spurious (RFC 5682, RFC 4015): go back to at least this window
    /// and threshold, as they were before it.
    fn undo(&mut self, window: u32, slow_start_threshold: u32);
    /// Sending resumes after an idle time longer than the RTO (RFC 5681 section 4.1, as
    /// Linux's `tcp_cwnd_restart`): cwnd down to `window` if above it, ssthresh kept at
    /// three quarters of the old cwnd at least, so slow start climbs back to where it was.
    fn restart_after_idle(&mut self, window: u32);
    /// Segments are `smss` bytes from now on: path MTU discovery found a larger size, or a
    /// black hole sent them back to the base (RFC 8899; quinn's `on_mtu_update`). The window
    /// in bytes stays; what grows by segments (slow start's L, congestion avoidance) counts
    /// the new size.
    fn set_segment_size(&mut self, smss: u32);
}

/// What a controller hears of an ACK that delivered new data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ack {
    /// Bytes of new data the ACK delivered, cumulatively or by SACK.
    pub(crate) bytes: u32,
    /// When it arrived.
    pub(crate) now: Instant,
    /// The smoothed RTT (RFC 6298), once there is a sample.
    pub(crate) smoothed_rtt: Option<Duration>,
    /// The RTT sample this ACK gave, if Karn's rule allowed one.
    pub(crate) rtt_sample: Option<Duration>,
    /// snd_una after the ACK.
    pub(crate) snd_una: SeqNum,
    /// snd_nxt when it arrived: where a round trip that begins now ends (RFC 9406's
    /// windowEnd).
    pub(crate) snd_nxt: SeqNum,
    /// Whether the sender paces its segments (`Config::pacing`): a paced round's ACKs come
    /// spread over half a round trip even on an idle path, which HyStart's ACK train allows
    /// for.
    pub(crate) paced: bool,
}

/// The bytes per segment RFC 6928 section 2 counts the initial window in: IW = min(10 *
/// MSS, max(2 * MSS, 14600)), 14,600 bytes being 10 segments of an Ethernet MSS.
const IW_BYTES_PER_SEGMENT: u32 = 1460;

/// The initial window in bytes. Without a count, RFC 5681 section 3.1's: 2 to 4 segments by
/// their size. With `segments`, RFC 6928's rule for IW10 generalized to that many: min(n *
/// SMSS, max(2 * SMSS, n * 1460)), so that IW10 is exactly RFC 6928's.
pub(super) fn initial_window(smss: u32, segments: Option<u32>) -> u32 {
    match segments {
        Some(segments) => segments
            .saturating_mul(smss)
            .min((2 * smss).max(segments.saturating_mul(IW_BYTES_PER_SEGMENT))),
        None if smss > 2190 => 2 * smss,
        None if smss > 1095 => 3 * smss,
        None => 4 * smss,
    }
}

/// Slow start by bytes acknowledged: cwnd grows by min(N, `limit`) for an ACK of N new bytes
/// (RFC 5681 equation (2) with a limit of one SMSS; RFC 3465 section 2.3 with L * SMSS).
fn slow_start_increase(acked: u32, limit: u32) -> u32 {
    acked.min(limit)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn initial_window_follows_rfc5681_or_rfc6928() {
        // RFC 5681 section 3.1 by default.
        assert_eq!(initial_window(1000, None), 4000);
        assert_eq!(initial_window(1200, None), 3600);
        assert_eq!(initial_window(1448, None), 4344);
        assert_eq!(initial_window(3000, None), 6000);
        // RFC 6928's IW10: min(10 * MSS, max(2 * MSS, 14600)).
        assert_eq!(initial_window(1200, Some(10)), 12_000);
        assert_eq!(initial_window(1448, Some(10)), 14_480);
        assert_eq!(initial_window(1500, Some(10)), 14_600);
        assert_eq!(initial_window(9000, Some(10)), 18_000);
        assert_eq!(initial_window(1000, Some(1)), 1000);
    }

    /// An ACK of `bytes` new bytes, for controllers that heed neither time nor RTT.
    pub(crate) fn delivered(bytes: u32) -> Ack {
        Ack {
            bytes,
            now: Instant::ZERO,
            smoothed_rtt: None,
            rtt_sample: None,
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            paced: false,
        }
    }
}
