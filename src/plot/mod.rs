//! The time-sequence graph (Stevens's, as tcptrace and Wireshark draw it) of one host's data,
//! as a standalone SVG file: `ferry sim --plot FILE.svg`.
//!
//! The upper panel plots relative sequence numbers against time: one vertical mark per data
//! segment sent, from its first byte to its last, coloured by why it was sent (new data, a
//! retransmission after an RTO, a fast retransmission, a SACK retransmission, a window probe);
//! the cumulative ACK as a step line; the SACK blocks each ACK carried, as marks at the ACK's
//! time; the right edge of the receive window (ACK + window); and a cross on each segment a
//! fault dropped. The middle panel plots the congestion window and (dashed, once a loss has
//! set it) the slow-start threshold over the same time axis, the bottom panel the RTO.
//!
//! The data comes from a [`Trace`] the simulator records ([`crate::sim::transfer_observed`]).
//! The SVG is written by hand, deterministically (the same trace gives the same bytes), and
//! each series is a group with a stable `id` (`data`, `retransmissions-rto`,
//! `retransmissions-fast`, `retransmissions-sack`, `window-probes`, `ack`, `sack`, `window`,
//! `drops`, `cwnd`, `ssthresh`, `rto`, `legend`) so that tests and scripts can find it.
//!
//! `trace.rs` holds what the simulator records; `svg.rs` draws it, one function per series.

mod svg;
#[cfg(test)]
mod tests;
mod trace;

pub(crate) use svg::escape;
pub use svg::time_sequence_svg;
pub use trace::{AckSample, SentSegment, Trace};
