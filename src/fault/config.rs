//! What the fault injector can do: [`FaultConfig`], every knob off by default, and its parts, the
//! burst-loss channel ([`GilbertElliott`]) and the link-down interval ([`Outage`]).

use std::time::Duration;

/// Everything the injector can do, each knob off by default. Parsed from and printed as the spec
/// text (see the [module docs](crate::fault) and docs/faults.md); `Display` prints the canonical
/// text, which parses back to an equal configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Independent drop probability per datagram, 0..=1. Key: `loss=5%`.
    pub loss: f64,
    /// Bursty loss (a Gilbert-Elliott channel). Keys: `burst=P/R`, `burst-loss=H`.
    pub burst: Option<GilbertElliott>,
    /// Probability that each bit is flipped, 0..=1. Key: `flip=1e-5`.
    pub flip: f64,
    /// Probability that a datagram is delivered twice, 0..=1. Key: `dup=1%`.
    pub duplicate: f64,
    /// Fraction of datagrams held back by `reorder_delay`, 0..=1. Key: `reorder=2%`.
    pub reorder: f64,
    /// How long a reordered datagram is held back. Key: `reorder-delay=10ms`.
    pub reorder_delay: Duration,
    /// Fixed extra delay for every datagram. Key: `delay=20ms`.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per datagram. Key: `jitter=5ms`.
    pub jitter: Duration,
    /// Rate limit in bits per second. Key: `rate=10mbit` (also `bit`, `kbit`, `gbit`, `/s`).
    pub rate: Option<u64>,
    /// Bytes that may wait for the rate limiter; a datagram that would exceed it is dropped.
    /// Key: `queue=64KiB`.
    pub rate_queue: usize,
    /// Intervals during which the link is down (the key repeats). Key: `outage=2s..3s`.
    pub outages: Vec<Outage>,
    /// Probability that a datagram is cut to a random shorter length, 0..=1. Key: `truncate=1%`.
    pub truncate: f64,
    /// Scripted drops: the datagrams offered to the injector with these numbers (the first is
    /// 1) are dropped, whatever else happens (the key repeats). Key: `drop=7`.
    pub drops: Vec<u64>,
    /// Scripted drops by kind: the data segments (datagrams that parse as a Ferry segment with
    /// payload) offered to the injector with these numbers (the first is 1) are dropped
    /// (the key repeats). Retransmissions count: they are data segments too. Key:
    /// `drop-data=3`.
    pub drop_data: Vec<u64>,
    /// Scripted drops by segment kind: the Nth SYN, SYN-ACK, FIN or retransmission offered
    /// to the injector is dropped (the keys repeat). Keys: `drop-syn=1`, `drop-syn-ack=1`,
    /// `drop-fin=1`, `drop-retransmission=3`.
    pub drop_segments: Vec<ScriptedDrop>,
    /// Scripted flips: these bits of the first SYN-ACK offered to the injector are flipped;
    /// bit 0 is the most significant bit of byte 0, as Wireshark counts, and bits past the
    /// datagram's end are ignored (the key repeats). Key: `flip-syn-ack=113`.
    pub flip_syn_ack: Vec<usize>,
    /// Scripted ACK loss: every pure ACK (no payload; not SYN, FIN or RST) offered during these
    /// intervals is dropped (the key repeats). Key: `drop-acks=1s..2s`.
    pub drop_acks: Vec<Outage>,
    /// Seed of the injector's random generator. Key: `seed=7`.
    pub seed: u64,
}

impl FaultConfig {
    /// The default `rate_queue`: 64 KiB.
    pub const DEFAULT_RATE_QUEUE: usize = 64 * 1024;
    /// The default `reorder_delay`: 10 ms.
    pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(10);

    /// True when no knob is on, so the injector delivers every datagram unchanged at once.
    pub fn is_passthrough(&self) -> bool {
        // A burst channel that never turns bad, or loses nothing when bad, does nothing; so does
        // an outage that ends before it starts.
        let burst_on = self
            .burst
            .is_some_and(|ge| is_on(ge.p_good_to_bad) && is_on(ge.loss_in_bad));
        let any_on = is_on(self.loss)
            || burst_on
            || is_on(self.flip)
            || is_on(self.duplicate)
            || (is_on(self.reorder) && !self.reorder_delay.is_zero())
            || !self.delay.is_zero()
            || !self.jitter.is_zero()
            || self.rate.is_some()
            || self.outages.iter().any(|o| o.start < o.end)
            || is_on(self.truncate)
            || !self.drops.is_empty()
            || self.is_scripted_by_kind();
        !any_on
    }
}

impl FaultConfig {
    /// Whether a rule needs to know what kind of segment a datagram is (`drop-data`,
    /// `drop-syn` and the other drops by kind, `flip-syn-ack`, `drop-acks`): only then does
    /// the injector parse datagrams.
    pub(super) fn is_scripted_by_kind(&self) -> bool {
        !self.drop_data.is_empty()
            || !self.drop_segments.is_empty()
            || !self.flip_syn_ack.is_empty()
            || self
                .drop_acks
                .iter()
                .any(|window| window.start < window.end)
    }
}

impl Default for FaultConfig {
    /// Every knob off; the queue and reorder delay hold their documented defaults so that turning
    /// on `rate` or `reorder` alone does something sensible. (Written by hand because a derived
    /// `Default` would make the queue zero bytes.)
    fn default() -> FaultConfig {
        FaultConfig {
            loss: 0.0,
            burst: None,
            flip: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: FaultConfig::DEFAULT_REORDER_DELAY,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate: None,
            rate_queue: FaultConfig::DEFAULT_RATE_QUEUE,
            outages: Vec::new(),
            truncate: 0.0,
            drops: Vec::new(),
            drop_data: Vec::new(),
            drop_segments: Vec::new(),
            flip_syn_ack: Vec::new(),
            drop_acks: Vec::new(),
            seed: 0,
        }
    }
}

/// A two-state (Good/Bad) loss channel. The state advances once per datagram; in Bad, a datagram
/// is lost with probability `loss_in_bad`. Loss bursts last `1 / p_bad_to_good` datagrams on
/// average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from Good to Bad at each datagram.
    pub p_good_to_bad: f64,
    /// Probability of moving from Bad back to Good at each datagram.
    pub p_bad_to_good: f64,
    /// Loss probability while Bad (1.0 unless `burst-loss` says otherwise).
    pub loss_in_bad: f64,
}

/// An interval `[start, end)` during which the link is down, measured since the epoch
/// ([`Instant::ZERO`](crate::time::Instant::ZERO)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outage {
    /// When the link goes down.
    pub start: Duration,
    /// When it comes back (not included in the outage).
    pub end: Duration,
}

impl Outage {
    /// Whether the link is down at `since_epoch`.
    pub fn contains(&self, since_epoch: Duration) -> bool {
        self.start <= since_epoch && since_epoch < self.end
    }
}

/// Whether a probability knob is on; NaN (only from a hand-built config) counts as off.
pub(super) fn is_on(p: f64) -> bool {
    p > 0.0
}

/// A kind of segment a scripted drop counts (`FaultConfig::drop_segments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// A SYN without ACK: the active open's.
    Syn,
    /// A SYN-ACK.
    SynAck,
    /// A segment carrying a FIN (with data or without).
    Fin,
    /// A data segment that starts below the highest sequence number of data offered before:
    /// a retransmission (by any timer or rule, a tail loss probe's resend too). Counted on a
    /// link that carries one connection, as `ferry sim`'s do.
    Retransmission,
}

impl SegmentKind {
    /// Every kind, in the order a spec lists them.
    pub const ALL: [SegmentKind; 4] = [
        SegmentKind::Syn,
        SegmentKind::SynAck,
        SegmentKind::Fin,
        SegmentKind::Retransmission,
    ];

    /// The fault spec's key for dropping this kind.
    pub fn key(self) -> &'static str {
        match self {
            SegmentKind::Syn => "drop-syn",
            SegmentKind::SynAck => "drop-syn-ack",
            SegmentKind::Fin => "drop-fin",
            SegmentKind::Retransmission => "drop-retransmission",
        }
    }
}

impl std::fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SegmentKind::Syn => "SYN",
            SegmentKind::SynAck => "SYN-ACK",
            SegmentKind::Fin => "FIN",
            SegmentKind::Retransmission => "retransmission",
        })
    }
}

/// One scripted drop by kind: the `number`th segment of `kind` (the first is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScriptedDrop {
    /// What the rule counts.
    pub kind: SegmentKind,
    /// Which of them it drops, from 1.
    pub number: u64,
}
