//! Option values shared by the subcommands, each with an error that says what is valid.

use std::time::Duration;

use clap::ValueEnum;

use ferry::conn::{Config, CongestionControl, RecvBuffer, SendBuffer};
use ferry::fault::FaultConfig;
use ferry::units::{parse_duration, parse_interval, parse_rate, parse_size};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// `--cc` (and a scenario's `cc = "..."`): the congestion controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cc {
    /// NewReno (RFC 5681, RFC 6582).
    Newreno,
    /// CUBIC (RFC 9438), Linux's default.
    Cubic,
    /// None: only the receiver's window limits the sender.
    Fixed,
}

impl Cc {
    /// The flag's value for the library's controller.
    pub fn of(controller: CongestionControl) -> Cc {
        match controller {
            CongestionControl::NewReno => Cc::Newreno,
            CongestionControl::Cubic => Cc::Cubic,
            CongestionControl::Fixed => Cc::Fixed,
        }
    }

    /// The library's controller.
    pub fn controller(self) -> CongestionControl {
        match self {
            Cc::Newreno => CongestionControl::NewReno,
            Cc::Cubic => CongestionControl::Cubic,
            Cc::Fixed => CongestionControl::Fixed,
        }
    }

    /// How a title names it.
    pub fn title(self) -> &'static str {
        match self {
            Cc::Newreno => "NewReno",
            Cc::Cubic => "CUBIC",
            Cc::Fixed => "no congestion control",
        }
    }
}

/// How a host's sender behaves: `--cc`, `--initial-window`, `--nodelay`, `--pacing`,
/// `--timestamps`, shared by `ferry sim` and the network commands.
#[derive(clap::Args)]
pub struct SenderOptions {
    /// Congestion control: cubic (RFC 9438 with HyStart++, the library's default as it is
    /// Linux's), newreno (RFC 5681) or fixed (none: only the receiver's window limits the
    /// sender, for labs on pure ARQ).
    #[arg(long, value_enum, default_value_t = Cc::of(CongestionControl::default()))]
    pub cc: Cc,
    /// The initial congestion window in segments. Default 10, RFC 6928's IW10 (Linux's, the
    /// library's); 3 is RFC 5681's for 1200-byte segments.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub initial_window: Option<u32>,
    /// Turn the Nagle algorithm off (`TCP_NODELAY`): small writes go at once instead of
    /// waiting while an earlier short segment is unacknowledged. Bulk transfers of full
    /// segments, whose short last one carries the FIN, are the same either way.
    #[arg(long)]
    pub nodelay: bool,
    /// Pacing (the library's default, as Linux's): once an RTT is measured, data leaves spread
    /// over the round trip at 2 x cwnd / SRTT in slow start and 1.2 x after, in bursts of about
    /// 1 ms of data, instead of a whole window at once. Off: as fast as ACKs open the window.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub pacing: Switch,
    /// TCP timestamps (RFC 7323), on by default as on Linux: offered in the SYN and, if the
    /// peer offers them too, on every segment, giving an RTT sample from every ACK (also of a
    /// retransmission) and dropping old duplicates by their timestamp (PAWS). Each segment
    /// then carries 12 bytes less payload (1188 of a 1200-byte MSS).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub timestamps: Switch,
    /// Bytes the application may queue for sending, unsent and unacknowledged, e.g. 4MiB:
    /// a transfer moves at most this much per round trip. Default `auto`, the library's:
    /// from 256 KiB, grown to twice the congestion window up to 4 MiB.
    #[arg(long, value_parser = send_buffer_arg, value_name = "SIZE|auto")]
    pub send_buffer: Option<SendBuffer>,
    /// Datagram path MTU discovery (RFC 8899): segments start at the MSS and grow once a
    /// probe of a larger size is acknowledged, up to 1452-byte datagrams (an Ethernet path's
    /// over IPv6), and fall back to the MSS if the path stops carrying them. Off, every
    /// segment is at most the MSS and the SYN offers the MSS, as before.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub pmtud: Switch,
}

impl SenderOptions {
    /// `config` with these settings.
    pub fn apply(&self, config: Config) -> Config {
        Config {
            congestion_control: self.cc.controller(),
            initial_window_segments: self.initial_window.or(config.initial_window_segments),
            nodelay: self.nodelay,
            pacing: self.pacing == Switch::On,
            timestamps: self.timestamps == Switch::On,
            send_buffer: self.send_buffer.unwrap_or(config.send_buffer),
            plpmtud: self.pmtud == Switch::On,
            ..config
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatsFormat {
    /// A readable summary.
    Text,
    /// One JSON object on stdout.
    Json,
}

pub fn bytes_arg(text: &str) -> Result<usize, String> {
    parse_size(text).ok_or_else(|| {
        format!("expected a byte count, bare or with a unit B, KB, KiB, MB, MiB, GB or GiB (e.g. 1MiB), not {text:?}")
    })
}

/// A receive buffer: `auto` (autotuned from 64 KiB to 6 MiB, the library's default) or a
/// fixed size.
pub fn recv_buffer_arg(text: &str) -> Result<RecvBuffer, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(RecvBuffer::AUTO);
    }
    parse_size(text).map(RecvBuffer::Fixed).ok_or_else(|| {
        format!("expected `auto` or a byte count, bare or with a unit B, KB, KiB, MB, MiB, GB or GiB (e.g. 1MiB), not {text:?}")
    })
}

/// A send buffer: `auto` (autotuned from 256 KiB to 4 MiB, the library's default) or a fixed
/// size.
pub fn send_buffer_arg(text: &str) -> Result<SendBuffer, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(SendBuffer::AUTO);
    }
    parse_size(text).map(SendBuffer::Fixed).ok_or_else(|| {
        format!("expected `auto` or a byte count, bare or with a unit B, KB, KiB, MB, MiB, GB or GiB (e.g. 1MiB), not {text:?}")
    })
}

pub fn faults_arg(text: &str) -> Result<FaultConfig, String> {
    text.parse().map_err(|error| format!("{error}"))
}

/// Bits per second, or `None` for no limit.
#[derive(Clone, Copy)]
pub struct LinkRate(pub Option<u64>);

pub fn rate_arg(text: &str) -> Result<LinkRate, String> {
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(LinkRate(None));
    }
    parse_rate(text).map(|bps| LinkRate(Some(bps))).ok_or_else(|| {
        format!("expected a positive rate with a unit bit, kbit, mbit or gbit (e.g. 10mbit), or \"unlimited\", not {text:?}")
    })
}

/// `START..END`, durations since the start of the run with START < END, e.g. `200ms..2s`.
pub fn interval_arg(text: &str) -> Result<std::ops::Range<Duration>, String> {
    parse_interval(text).ok_or_else(|| {
        format!("expected START..END, durations with a unit ns, us, ms or s and START < END (e.g. 200ms..2s), not {text:?}")
    })
}

pub fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| {
        format!("expected a duration with a unit ns, us, ms or s (e.g. 40ms), not {text:?}")
    })
}
