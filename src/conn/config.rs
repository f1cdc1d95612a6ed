//! Per-connection settings, with the defaults and the RFC clause each one comes from.

use std::fmt;
use std::time::Duration;

use super::plpmtud::BASE_DATAGRAM;
use super::{CongestionControl, MAX_WINDOW};
use crate::wire::{HEADER_LEN, MAX_PAYLOAD_LEN, MAX_SACK_BLOCKS, SACK_BLOCK_LEN};

/// The most segments a connection has in flight, whatever its windows allow. Each is a record
/// in the retransmission queue, so this bounds the queue (about 100 KiB) however small the
/// segments: a peer whose SYN offers an MSS of 1 would otherwise have a 64 KiB window sent as
/// 65,536 segments, megabytes of records from one datagram, and a scoreboard scan per segment
/// that grows with them (a 64 KiB window of 2-byte segments once took 113 s of CPU to move
/// 64 KiB). Linux refuses tiny segments for the same reason (`tcp_min_snd_mss`,
/// CVE-2019-11479). With congestion control off the whole window goes out at once, so
/// [`Config::check`] refuses an MSS of this end's own that would need more; 4,096 segments keep
/// the default 64 KiB window open down to 16-byte segments.
pub const MAX_SEGMENTS_IN_FLIGHT: usize = 4096;

/// [`Config::max_datagram`]'s default: a 1500-octet Ethernet MTU less IPv6's 40-octet header and
/// UDP's 8 (quinn's default upper bound).
pub const DEFAULT_MAX_DATAGRAM: usize = 1452;

/// Settings for one connection. `Config::default()` is what `ferry` uses unless told otherwise;
/// each default says where it comes from.
///
/// Set what you need and take the rest from the defaults, so that settings added later keep
/// your code compiling (this struct, like Ferry's other configs, stays open to struct
/// expressions for that; its outputs, stats and errors are `#[non_exhaustive]`):
///
/// ```
/// use std::time::Duration;
///
/// let config = ferry::Config {
///     mss: 536,
///     min_rto: Duration::from_millis(50),
///     ..ferry::Config::default()
/// };
/// assert!(config.check().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload in one segment, in bytes, either way: the SYN offers it to the peer as
    /// the most this end wants to receive, and segments go at the smaller of it and the peer's
    /// (RFC 9293 section 3.7.1; [`Connection::negotiated`](super::Connection::negotiated)).
    /// Default 1200: with Ferry's 24-byte header, a 1224-byte datagram, which IPv6's minimum
    /// MTU carries (1232 bytes of UDP payload). With [`plpmtud`](Self::plpmtud) on it is the
    /// base size, and a base segment carries only the SACK blocks that fit within 1232 bytes
    /// (the secure mode takes its protection out of it too); with it off, SACK blocks and the
    /// protection come on top.
    pub mss: usize,
    /// Bytes the application may queue for sending, unsent plus unacknowledged: at most this
    /// much is in flight, so a transfer moves at most one send buffer per round trip. Either
    /// [`SendBuffer::Fixed`], as setting `SO_SNDBUF` fixes a Linux socket's, or autotuned, the
    /// default ([`SendBuffer::AUTO`]): it starts at 256 KiB and grows with the congestion
    /// window to twice it, up to 4 MiB (Linux's `tcp_wmem` maximum), so that a sender on a
    /// long fat path is not held to 256 KiB per round trip (about 21 Mbit/s at 100 ms). It
    /// never shrinks.
    pub send_buffer: SendBuffer,
    /// Bytes of received data the connection holds for the application (RFC 9293's RCV.BUFF);
    /// the advertised window is its free space (RFC 9293 section 3.8.6). Either
    /// [`RecvBuffer::Fixed`], as setting `SO_RCVBUF` fixes a Linux socket's, or autotuned, the
    /// default ([`RecvBuffer::AUTO`]): it starts at 64 KiB, TCP's classic window, and grows
    /// to about twice what the application read in a round trip, up to 6 MiB (Linux's
    /// `tcp_rmem` maximum), so that a fast reader on a long path is not held to 64 KiB per
    /// round trip (about 13 Mbit/s at 40 ms). It never shrinks.
    pub recv_buffer: RecvBuffer,
    /// RTO before the first RTT sample (RFC 6298 section 2.1): 1 s.
    pub initial_rto: Duration,
    /// Lower clamp on the RTO. RFC 6298 section 2.4 says 1 s; the default is Linux's 200 ms,
    /// which the RFC allows as a local choice and which suits short simulated links.
    pub min_rto: Duration,
    /// Upper clamp on the RTO, backoff included (RFC 6298 section 2.5 allows 60 s or more): 60 s.
    pub max_rto: Duration,
    /// The user timeout: how many retransmissions by the timer, without the peer
    /// acknowledging anything new, before the next expiry fails the connection with
    /// [`ConnectionError::TimedOut`](crate::conn::ConnectionError::TimedOut). Unanswered
    /// zero-window probes count the same way. Default 15, Linux's `tcp_retries2`.
    pub max_retransmissions: u32,
    /// SYN (or SYN-ACK) retransmissions before the handshake fails with a timeout. Default 6,
    /// Linux's `tcp_syn_retries`: with a 1 s initial RTO the last try is sent after 63 s.
    pub max_syn_retransmissions: u32,
    /// The longest an ACK for in-order data waits for a second segment (RFC 5681 section 4.2
    /// requires under 500 ms). Default 40 ms, Linux's minimum.
    pub delayed_ack: Duration,
    /// How long TIME-WAIT lasts beyond [`max_rto`](Self::max_rto) (RFC 9293 section 3.6 asks
    /// for 2 x MSL). Default 4 s: Ferry's peers are a datagram's lifetime away, not the
    /// 2-minute MSL of the 1981 Internet. The `max_rto` before it is there for the peer's FIN,
    /// sent again because our last ACK was lost: the peer's timer is not ours (without an RTT
    /// sample it stands at 1 or 3 s and doubles per expiry, RFC 6298 sections 5.5 and 5.7), and
    /// only the ceiling both ends share bounds it. So, with the defaults, 64 s (Linux: 60 s).
    /// On real sockets a client that closed first keeps its UDP socket for it, and the drivers
    /// cap how many a process keeps so, ending the oldest TIME-WAIT past the cap, as Linux's
    /// `tcp_max_tw_buckets` does (docs/performance.md, "A client that churns connections").
    pub time_wait: Duration,
    /// After this long with nothing received and nothing in flight, send a keepalive probe
    /// (RFC 9293 section 3.8.4), and again at the same interval while unanswered. Default
    /// 15 s. `None` turns keepalives off; then a peer that vanishes while this end has nothing
    /// to send is never noticed.
    pub keepalive_interval: Option<Duration>,
    /// Unanswered keepalive probes before the connection fails with a timeout. Default 6.
    pub keepalive_probes: u32,
    /// Selective acknowledgments (RFC 2018): offer SACK-permitted in the SYN and, if the peer
    /// offers it too (section 2), send SACK blocks with our ACKs and recover from loss with
    /// the peer's by RFC 6675. Off, or with a peer that does not offer it, loss recovery is
    /// NewReno's (RFC 6582). Default on.
    pub sack: bool,
    /// RACK-TLP (RFC 8985) with SACK: losses are detected by time (a segment is lost once
    /// one sent after it arrived and a reordering window passed), tail losses are probed
    /// after about two round trips instead of waiting for the RTO, and a spurious timeout is
    /// undone by F-RTO (RFC 5682). Off, losses are detected by RFC 6675's duplicate-ACK and
    /// SACK rules alone. No effect unless SACK is negotiated. Default on.
    pub rack: bool,
    /// The congestion controller: CUBIC (RFC 9438, with HyStart++, RFC 9406), the default as
    /// on Linux; NewReno (RFC 5681); or none.
    pub congestion_control: CongestionControl,
    /// The initial congestion window in segments: `Some(10)`, the default, is RFC 6928's IW10
    /// (Linux's), min(10 * SMSS, max(2 * SMSS, 14,600 bytes)), 10 segments of 1200 bytes;
    /// `None` is RFC 5681 section 3.1's 2 to 4 segments by their size (3 of 1200 bytes). At
    /// least 1.
    pub initial_window_segments: Option<u32>,
    /// Duplicate ACKs that trigger fast retransmit (RFC 5681 section 3.2's DupThresh). With
    /// RACK on, which replaces the duplicate-ACK rule, this many SACKed segments set RACK's
    /// reordering window to zero until reordering is seen (RFC 8985 section 6.2). Default 3.
    pub duplicate_ack_threshold: u32,
    /// Send small segments at once (`TCP_NODELAY`) instead of holding them by the Nagle
    /// algorithm (RFC 9293 section 3.7.4, RFC 896, in Minshall's form as Linux has it):
    /// a segment shorter than the SMSS waits while an earlier short one is unacknowledged,
    /// unless it carries the FIN. Default off, so Nagle is on, as for std's `TcpStream`.
    pub nodelay: bool,
    /// After more than an RTO with nothing in flight, restart from at most the initial
    /// window, halved per RTO of idle time (RFC 5681 section 4.1; Linux's
    /// `tcp_slow_start_after_idle`, on by default there too), so that the first write after
    /// idle does not burst the whole old window into a path that may have changed. Default on.
    pub slow_start_after_idle: bool,
    /// Pace data segments (RFC 9002 section 7.7, as Linux's internal pacing): once there is
    /// an RTT sample, they leave spread over the round trip at 2 x cwnd / SRTT while cwnd is
    /// below half of ssthresh and 1.2 x cwnd / SRTT after (Linux's `tcp_pacing_ss_ratio` and
    /// `tcp_pacing_ca_ratio`), in bursts of about 1 ms of data and at least 2 segments, instead
    /// of a whole window at once into the bottleneck's queue. ACKs, the handshake and the
    /// retransmission of an expired timer are never held. Off, each window leaves as fast as
    /// ACKs open it, as classic TCP's. Default on.
    pub pacing: bool,
    /// TCP timestamps (RFC 7323): offer the Timestamps option in the SYN and, if the peer's
    /// SYN carries it too (section 3.2), put it on every segment but a RST. An ACK's echo
    /// times a round trip even when it acknowledges a retransmission, where Karn's rule
    /// withholds the send-time sample (RTTM, section 4), and a segment whose timestamp is
    /// older than the latest in-order one is dropped as an old duplicate (PAWS, section 5).
    /// The option takes 12 octets of each segment's payload, so the datagrams keep their size.
    /// Default on, as Linux's `tcp_timestamps`.
    pub timestamps: bool,
    /// Datagram path MTU discovery (RFC 8899 DPLPMTUD, `plpmtud.rs`): data segments start at
    /// [`mss`](Self::mss) payload octets, a size every path carries, and grow once a probe of
    /// a larger size is acknowledged, up to [`max_datagram`](Self::max_datagram); a path that
    /// stops carrying them (a black hole) sends them at `mss` again. On, the SYN offers the
    /// largest payload this end receives (`max_datagram` less the header) as its MSS; off,
    /// it offers `mss` and every segment stays at most `mss`, as before. Default on.
    pub plpmtud: bool,
    /// The largest datagram (UDP payload, Ferry's header included) path MTU discovery tries,
    /// and the largest this end receives. Default 1452, quinn's: what a 1500-octet Ethernet
    /// MTU leaves over IPv6 (40 + 8 octets of headers), so one value serves both families;
    /// IPv4 would allow 1472, 1.4% more per datagram, on IPv4 paths only. No effect with
    /// [`plpmtud`](Self::plpmtud) off.
    pub max_datagram: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1200,
            send_buffer: SendBuffer::AUTO,
            recv_buffer: RecvBuffer::AUTO,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            max_retransmissions: 15,
            max_syn_retransmissions: 6,
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(4),
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_probes: 6,
            sack: true,
            rack: true,
            congestion_control: CongestionControl::Cubic,
            initial_window_segments: Some(10),
            duplicate_ack_threshold: 3,
            nodelay: false,
            slow_start_after_idle: true,
            pacing: true,
            timestamps: true,
            plpmtud: true,
            max_datagram: DEFAULT_MAX_DATAGRAM,
        }
    }
}

/// The receive buffer's size ([`Config::recv_buffer`]): fixed, or autotuned between a size to
/// start at and a maximum.
///
/// ```
/// // A fixed 256 KiB buffer, as `setsockopt(SO_RCVBUF)` makes one on Linux.
/// let config = ferry::Config {
///     recv_buffer: ferry::RecvBuffer::Fixed(256 * 1024),
///     ..ferry::Config::default()
/// };
/// assert_eq!(config.recv_buffer.max(), 256 * 1024);
/// assert_eq!(ferry::Config::default().recv_buffer.max(), 6 * 1024 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvBuffer {
    /// Always this many bytes.
    Fixed(usize),
    /// Autotuned, as Linux's dynamic right-sizing (`tcp_rcv_space_adjust`): `initial` bytes at
    /// first; once per round trip, grown to about twice what the application read in that
    /// round trip if that is more than before, never beyond `max`, never shrunk
    /// (docs/protocol.md section 8, flow control).
    Auto {
        /// The size at the start, which the SYN's window offers.
        initial: usize,
        /// The most it grows to: what one connection's received data can hold at most.
        max: usize,
    },
}

impl RecvBuffer {
    /// The default: autotuned from 64 KiB (TCP's classic window) up to 6 MiB (Linux's
    /// `tcp_rmem` maximum).
    pub const AUTO: RecvBuffer = RecvBuffer::Auto {
        initial: 64 * 1024,
        max: 6 * 1024 * 1024,
    };

    /// The size at the start.
    pub fn initial(&self) -> usize {
        match *self {
            RecvBuffer::Fixed(size) => size,
            RecvBuffer::Auto { initial, .. } => initial,
        }
    }

    /// The most it can hold: the largest window the connection advertises.
    pub fn max(&self) -> usize {
        match *self {
            RecvBuffer::Fixed(size) => size,
            RecvBuffer::Auto { max, .. } => max,
        }
    }
}

impl fmt::Display for RecvBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvBuffer::Fixed(size) => write!(f, "{size}"),
            RecvBuffer::Auto { initial, max } => write!(f, "auto from {initial} to {max}"),
        }
    }
}

/// The send buffer's size ([`Config::send_buffer`]): fixed, or autotuned between a size to
/// start at and a maximum.
///
/// ```
/// // A fixed 4 MiB buffer, as `setsockopt(SO_SNDBUF)` makes one on Linux.
/// let config = ferry::Config {
///     send_buffer: ferry::SendBuffer::Fixed(4 << 20),
///     ..ferry::Config::default()
/// };
/// assert_eq!(config.send_buffer.max(), 4 << 20);
/// assert_eq!(ferry::Config::default().send_buffer.initial(), 256 * 1024);
/// assert_eq!(ferry::Config::default().send_buffer.max(), 4 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendBuffer {
    /// Always this many bytes.
    Fixed(usize),
    /// Autotuned, as Linux's `tcp_sndbuf_expand`: `initial` bytes at first; grown to twice
    /// the congestion window whenever that is more, never beyond `max`, never shrunk (`src/
    /// conn/send_buffer.rs`).
    Auto {
        /// The size at the start.
        initial: usize,
        /// The most it grows to: what one connection's unacknowledged and unsent data can
        /// hold at most.
        max: usize,
    },
}

impl SendBuffer {
    /// The default: autotuned from 256 KiB up to 4 MiB (Linux's `tcp_wmem` maximum).
    pub const AUTO: SendBuffer = SendBuffer::Auto {
        initial: 256 * 1024,
        max: 4 * 1024 * 1024,
    };

    /// The size at the start.
    pub fn initial(&self) -> usize {
        match *self {
            SendBuffer::Fixed(size) => size,
            SendBuffer::Auto { initial, .. } => initial,
        }
    }

    /// The most it can hold.
    pub fn max(&self) -> usize {
        match *self {
            SendBuffer::Fixed(size) => size,
            SendBuffer::Auto { max, .. } => max,
        }
    }
}

impl fmt::Display for SendBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendBuffer::Fixed(size) => write!(f, "{size}"),
            SendBuffer::Auto { initial, max } => write!(f, "auto from {initial} to {max}"),
        }
    }
}

/// A setting that cannot work, with the range that can.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting, as `Config` names it.
    pub setting: &'static str,
    /// What it was set to.
    pub value: String,
    /// What would work, in words.
    pub valid: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} cannot work: it must be {}",
            self.setting, self.value, self.valid
        )
    }
}

impl std::error::Error for ConfigError {}

/// At the blocking and async APIs a setting that cannot work is `InvalidInput`, its message
/// the [`ConfigError`]'s.
impl From<ConfigError> for std::io::Error {
    fn from(error: ConfigError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
    }
}

/// The sizes of a [`Config`] that passed [`Config::check`], in the types the wire and the
/// windows count in: parsed once where a config enters the library (every constructor that
/// takes one checks it), so that the protocol neither converts nor clamps them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CheckedSizes {
    /// [`Config::mss`], as the SYN's 16-bit MSS option carries it: at least 1.
    pub(crate) mss: u16,
    /// [`Config::recv_buffer`]'s size at the start, RFC 9293's RCV.BUFF: from 1 to
    /// [`MAX_WINDOW`].
    pub(crate) recv_buffer: u32,
    /// The most [`Config::recv_buffer`] grows to: from `recv_buffer` to [`MAX_WINDOW`]
    /// (`recv_buffer` itself when fixed). The largest window the connection advertises.
    pub(crate) recv_buffer_max: u32,
    /// The largest payload this end receives, which its SYN offers: [`Config::max_datagram`]
    /// less the header with path MTU discovery on (never less than `mss`), `mss` without.
    pub(crate) max_mss: u16,
    /// The octets of SACK blocks a segment of the base size (`mss`) may carry on top. With
    /// path MTU discovery on, what the base datagram (the header and `mss`) leaves of RFC
    /// 8899's BASE_PLPMTU ([`BASE_DATAGRAM`], what IPv6's minimum MTU carries): 8 with the
    /// default `mss`, one block. With it off, every block's: `mss` is the size the user chose.
    pub(crate) base_sack_room: u16,
}

impl Config {
    /// Check the settings that would leave a connection unable to move data: a segment must
    /// carry at least one byte and fit the wire format's length field, the receive buffer must
    /// hold at least one byte and at most the largest window (2^30 bytes, docs/protocol.md),
    /// the send buffer at least one byte (and a maximum at least its initial size), and the RTO clamps must be in order. With congestion
    /// control off, the window must also hold at most [`MAX_SEGMENTS_IN_FLIGHT`]
    /// segments.
    ///
    /// Every constructor that takes a `Config` checks it this way: [`Connection::connect`]
    /// (and `listen`, `accept_cookie`), [`Endpoint::new`](crate::endpoint::Endpoint::new), the
    /// simulator's [`Network::new`](crate::sim::Network::new) and the socket APIs, which
    /// report a failure as [`std::io::ErrorKind::InvalidInput`].
    ///
    /// [`Connection::connect`]: super::Connection::connect
    pub fn check(&self) -> Result<(), ConfigError> {
        self.checked_sizes().map(drop)
    }

    /// [`check`](Self::check), returning the sizes it vouched for in the protocol's types.
    pub(crate) fn checked_sizes(&self) -> Result<CheckedSizes, ConfigError> {
        let fail = |setting, value: String, valid: String| {
            Err(ConfigError {
                setting,
                value,
                valid,
            })
        };
        // MAX_PAYLOAD_LEN is the largest u16: the wire's length field and the MSS option.
        let Some(mss) = u16::try_from(self.mss).ok().filter(|&mss| mss >= 1) else {
            return fail(
                "mss",
                self.mss.to_string(),
                format!("from 1 to {MAX_PAYLOAD_LEN} bytes"),
            );
        };
        let window = |size: usize| {
            u32::try_from(size)
                .ok()
                .filter(|size| (1..=MAX_WINDOW).contains(size))
        };
        let (Some(recv_buffer), Some(recv_buffer_max)) = (
            window(self.recv_buffer.initial()),
            window(self.recv_buffer.max()),
        ) else {
            return fail(
                "recv_buffer",
                self.recv_buffer.to_string(),
                format!("from 1 byte to {MAX_WINDOW} bytes (1 GiB), the largest window"),
            );
        };
        if recv_buffer_max < recv_buffer {
            return fail(
                "recv_buffer",
                self.recv_buffer.to_string(),
                "a maximum at least the initial size".into(),
            );
        }
        if self.send_buffer.initial() == 0 {
            return fail(
                "send_buffer",
                self.send_buffer.to_string(),
                "at least 1 byte".into(),
            );
        }
        if self.send_buffer.max() < self.send_buffer.initial() {
            return fail(
                "send_buffer",
                self.send_buffer.to_string(),
                "a maximum at least the initial size".into(),
            );
        }
        if self.min_rto > self.max_rto {
            return fail(
                "min_rto",
                format!("{:?}", self.min_rto),
                format!("at most max_rto ({:?})", self.max_rto),
            );
        }
        if self.duplicate_ack_threshold == 0 {
            return fail("duplicate_ack_threshold", "0".into(), "at least 1".into());
        }
        if self.initial_window_segments == Some(0) {
            return fail("initial_window_segments", "0".into(), "at least 1".into());
        }
        if self.congestion_control == CongestionControl::Fixed {
            // What one end may have in flight: its send buffer, or the peer's window, taken to
            // be as large as its own (the simulator's two ends share one config).
            let window = self.send_buffer.max().min(self.recv_buffer.max());
            let smallest_mss = window.div_ceil(MAX_SEGMENTS_IN_FLIGHT);
            if self.mss < smallest_mss {
                return fail(
                    "mss",
                    self.mss.to_string(),
                    format!(
                        "from {smallest_mss} to {MAX_PAYLOAD_LEN} bytes with congestion control \
                         off: the whole window ({window} bytes) goes out at once, in at most \
                         {MAX_SEGMENTS_IN_FLIGHT} segments"
                    ),
                );
            }
        }
        let max_mss = if self.plpmtud {
            let Some(max_mss) = self
                .max_datagram
                .checked_sub(HEADER_LEN)
                .and_then(|max| u16::try_from(max).ok())
            else {
                return fail(
                    "max_datagram",
                    self.max_datagram.to_string(),
                    format!(
                        "from {HEADER_LEN} to {} bytes",
                        MAX_PAYLOAD_LEN + HEADER_LEN
                    ),
                );
            };
            max_mss.max(mss)
        } else {
            mss
        };
        let base_sack_room = if self.plpmtud {
            BASE_DATAGRAM.saturating_sub(HEADER_LEN + usize::from(mss))
        } else {
            MAX_SACK_BLOCKS * SACK_BLOCK_LEN
        };
        Ok(CheckedSizes {
            mss,
            recv_buffer,
            recv_buffer_max,
            max_mss,
            base_sack_room: u16::try_from(base_sack_room).unwrap_or(u16::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Connection;
    use crate::endpoint::Endpoint;
    use crate::time::Instant;
    use crate::wire::{Flags, Options, SackBlocks, Segment, SeqNum};

    /// Every constructor that takes a config checks it: a setting that cannot work is an error
    /// that names it, never a connection that quietly runs with something else.
    #[test]
    fn every_constructor_refuses_settings_that_cannot_work() {
        let no_threshold = Config {
            duplicate_ack_threshold: 0,
            ..Config::default()
        };
        let remote = "192.0.2.7:4747".parse().unwrap();
        let setting = |result: Result<(), ConfigError>| result.unwrap_err().setting;
        let connect = Connection::connect(no_threshold.clone(), remote, SeqNum(1));
        assert_eq!(setting(connect.map(drop)), "duplicate_ack_threshold");
        let listen = Connection::listen(no_threshold.clone(), remote, SeqNum(1));
        assert_eq!(setting(listen.map(drop)), "duplicate_ack_threshold");
        let ack = Segment {
            flags: Flags::ACK,
            seq: SeqNum(501),
            ack: SeqNum(2),
            window: 1000,
            sack: SackBlocks::new(),
            options: Options::none(),
            payload: &[],
        };
        let cookie = Connection::accept_cookie(
            no_threshold.clone(),
            remote,
            SeqNum(1),
            Instant::ZERO,
            Options::none(),
            &ack,
        );
        assert_eq!(setting(cookie.map(drop)), "duplicate_ack_threshold");
        let endpoint = Endpoint::with_seed(no_threshold, 1);
        assert_eq!(setting(endpoint.map(drop)), "duplicate_ack_threshold");
    }

    #[test]
    fn settings_that_cannot_work_are_named_with_their_valid_range() {
        assert_eq!(Config::default().check(), Ok(()));
        let zero_buffer = Config {
            recv_buffer: RecvBuffer::Fixed(0),
            ..Config::default()
        };
        assert_eq!(
            zero_buffer.check().unwrap_err().to_string(),
            "recv_buffer = 0 cannot work: it must be from 1 byte to 1073741824 bytes (1 GiB), \
             the largest window"
        );
        let no_payload = Config {
            mss: 0,
            ..Config::default()
        };
        assert_eq!(no_payload.check().unwrap_err().setting, "mss");
        let shrinking = Config {
            recv_buffer: RecvBuffer::Auto {
                initial: 4096,
                max: 1024,
            },
            ..Config::default()
        };
        assert_eq!(
            shrinking.check().unwrap_err().to_string(),
            "recv_buffer = auto from 4096 to 1024 cannot work: it must be a maximum at least the \
             initial size"
        );
        let shrinking_send = Config {
            send_buffer: SendBuffer::Auto {
                initial: 4096,
                max: 1024,
            },
            ..Config::default()
        };
        assert_eq!(
            shrinking_send.check().unwrap_err().to_string(),
            "send_buffer = auto from 4096 to 1024 cannot work: it must be a maximum at least the \
             initial size"
        );
        let no_send_buffer = Config {
            send_buffer: SendBuffer::Fixed(0),
            ..Config::default()
        };
        assert_eq!(no_send_buffer.check().unwrap_err().setting, "send_buffer");
    }

    #[test]
    fn without_congestion_control_a_window_of_tiny_segments_is_refused() {
        let fixed = |mss, recv_buffer| Config {
            mss,
            recv_buffer: RecvBuffer::Fixed(recv_buffer),
            congestion_control: CongestionControl::Fixed,
            ..Config::default()
        };
        assert_eq!(
            fixed(2, 64 * 1024).check().unwrap_err().to_string(),
            "mss = 2 cannot work: it must be from 16 to 65535 bytes with congestion control \
             off: the whole window (65536 bytes) goes out at once, in at most 4096 segments"
        );
        assert_eq!(fixed(16, 64 * 1024).check(), Ok(()));
        // A smaller window takes smaller segments; the send buffer's maximum (4 MiB) bounds a
        // larger one.
        assert_eq!(fixed(2, 8 * 1024).check(), Ok(()));
        assert_eq!(fixed(1024, 1 << 30).check(), Ok(()));
        assert_eq!(fixed(1023, 1 << 30).check().unwrap_err().setting, "mss");
        // Congestion control keeps the flight near what the path holds, whatever the MSS.
        let controlled = Config {
            mss: 1,
            ..Config::default()
        };
        assert_eq!(controlled.check(), Ok(()));
    }
}
