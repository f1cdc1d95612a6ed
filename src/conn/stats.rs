//! What a connection counts: the figures `ferry sim --stats json` and the captures report.

use std::time::Duration;

use super::State;

/// Retransmitted segments, by what triggered them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retransmissions {
    /// Resent after the retransmission timer expired (SYN, SYN-ACK, data or FIN).
    pub rto: u64,
    /// Resent on the third duplicate ACK (fast retransmit, RFC 5681 section 3.2).
    pub fast: u64,
    /// Resent because the SACK scoreboard marked it lost (RFC 6675).
    pub sack: u64,
    /// Resent because RACK deemed it lost by time (RFC 8985 section 6).
    pub rack: u64,
    /// Resent as a tail loss probe (RFC 8985 section 7).
    pub tlp: u64,
    /// Resent because the peer discarded it after SACKing it (RFC 2018 section 8).
    pub renege: u64,
}

impl Retransmissions {
    /// All retransmitted segments.
    pub fn total(&self) -> u64 {
        self.rto + self.fast + self.sack + self.rack + self.tlp + self.renege
    }
}

/// A connection's counters and its RTT estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Segments emitted, every kind.
    pub segments_sent: u64,
    /// Payload bytes emitted, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes emitted again (a subset of `bytes_sent`).
    pub bytes_retransmitted: u64,
    /// Valid segments received, every kind.
    pub segments_received: u64,
    /// Payload bytes in valid segments received, duplicates included.
    pub bytes_received: u64,
    /// Received segments that passed the sequence and ACK checks (and the SYNs that opened
    /// the connection): proof the peer is alive, which forged or stale segments are not.
    pub segments_accepted: u64,
    /// Retransmitted segments by trigger.
    pub retransmissions: Retransmissions,
    /// Times the retransmission timer expired.
    pub rto_timeouts: u64,
    /// Duplicate ACKs received (RFC 5681 section 2's definition; with SACK, RFC 6675's: an
    /// ACK with new SACK information).
    pub duplicate_acks: u64,
    /// Tail loss probes sent, new data or a retransmission (RFC 8985 section 7).
    pub tail_loss_probes: u64,
    /// ACKs that carried a D-SACK block: the peer received something twice (RFC 2883).
    pub dsack_received: u64,
    /// Retransmissions the peer reported by D-SACK as received twice: they were not needed.
    pub spurious_retransmissions: u64,
    /// Retransmission timeouts that F-RTO (RFC 5682) found spurious and undid.
    pub spurious_timeouts: u64,
    /// Loss recoveries (fast or after a timeout) undone because D-SACKs reported every
    /// retransmission they made as received twice (RFC 2883 section 4, RFC 3708).
    pub dsack_undos: u64,
    /// Datagrams dropped because their CRC did not match.
    pub discarded_corrupt: u64,
    /// Datagrams dropped because their header was malformed (truncated, bad magic, ...).
    pub discarded_malformed: u64,
    /// Data segments that arrived beyond the next expected byte.
    pub out_of_order_segments: u64,
    /// Out-of-order segments not kept: they would have opened a hole beyond the limit.
    pub out_of_order_refused: u64,
    /// Segments whose bytes differed from out-of-order bytes already held (which they
    /// replaced): a corrupted or forged copy arrived first, or this one is.
    pub contradicted_segments: u64,
    /// Segments dropped because their ACK field lay outside what we sent
    /// (RFC 5961 section 5): forged, or from a confused peer.
    pub rejected_acks: u64,
    /// Segments dropped by PAWS (RFC 7323 section 5): their timestamp was older than the
    /// latest one taken in order, so they are old duplicates (or forged); each was answered
    /// with an ACK, within RFC 5961 section 7's rate limit unless it carried data or a FIN.
    pub paws_rejected: u64,
    /// Replies to unacceptable segments not sent, by RFC 5961 section 7's rate limit.
    pub invalid_replies_suppressed: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Keepalive probes sent.
    pub keepalives: u64,
    /// Path MTU probes sent (RFC 8899, [`Config::plpmtud`](super::Config::plpmtud)).
    pub path_mtu_probes: u64,
    /// Path MTU probes lost: each a size the path did not carry (or a loss by chance).
    pub path_mtu_probes_lost: u64,
    /// Black holes found: larger segments lost while smaller ones got through, after which
    /// segments went at the base size again (RFC 8899 section 4.3).
    pub path_mtu_black_holes: u64,
    /// The payload new data segments go at now: the MSS, or more once path MTU discovery
    /// found the path carries more.
    pub segment_size: usize,
    /// The smoothed RTT (RFC 6298), once there is a sample.
    pub smoothed_rtt: Option<Duration>,
    /// The RTT variance (RFC 6298).
    pub rtt_variance: Duration,
    /// The retransmission timeout the next timer would be armed with, backoff included.
    pub rto: Duration,
    /// The congestion window in bytes (`u32::MAX` without congestion control).
    pub congestion_window: u32,
    /// The slow-start threshold in bytes.
    pub slow_start_threshold: u32,
    /// The receive buffer's size now (RCV.BUFF), in bytes: the configured size, or as far as
    /// autotuning has grown it ([`RecvBuffer`](super::RecvBuffer)). What the connection's
    /// received data can occupy, in order and out of order together.
    pub recv_buffer_bytes: u32,
    /// The send buffer's size now, in bytes: the configured size, or as far as autotuning has
    /// grown it with the congestion window ([`SendBuffer`](super::SendBuffer)). What the
    /// connection's unsent and unacknowledged data can occupy.
    pub send_buffer_bytes: usize,
    /// The connection's state when the stats were taken.
    pub state: State,
}

impl Stats {
    /// The stats of a connection that never existed: all zero, CLOSED.
    pub fn unused() -> Stats {
        Stats {
            segments_sent: 0,
            bytes_sent: 0,
            bytes_retransmitted: 0,
            segments_received: 0,
            bytes_received: 0,
            segments_accepted: 0,
            retransmissions: Retransmissions::default(),
            rto_timeouts: 0,
            duplicate_acks: 0,
            tail_loss_probes: 0,
            dsack_received: 0,
            spurious_retransmissions: 0,
            spurious_timeouts: 0,
            dsack_undos: 0,
            discarded_corrupt: 0,
            discarded_malformed: 0,
            out_of_order_segments: 0,
            out_of_order_refused: 0,
            contradicted_segments: 0,
            rejected_acks: 0,
            paws_rejected: 0,
            invalid_replies_suppressed: 0,
            window_probes: 0,
            keepalives: 0,
            path_mtu_probes: 0,
            path_mtu_probes_lost: 0,
            path_mtu_black_holes: 0,
            segment_size: 0,
            smoothed_rtt: None,
            rtt_variance: Duration::ZERO,
            rto: Duration::ZERO,
            congestion_window: 0,
            slow_start_threshold: 0,
            recv_buffer_bytes: 0,
            send_buffer_bytes: 0,
            state: State::Closed,
        }
    }
}
