//! The connection's event trace: what it sent, received and declared lost, its timers, its
//! state, its recovery episodes and its metrics, as typed events in a bounded queue that the
//! driver drains ([`Connection::poll_trace_event`]), for a qlog file (draft-ietf-quic-qlog-
//! main-schema, with the recovery events of draft-ietf-quic-qlog-quic-events) or a script.
//!
//! Off unless asked for ([`Connection::set_tracing`]): then the connection compares what a
//! driver can see of it (the timer table, the state, the recovery episode, the metrics) at the
//! end of every call that carries the time (`handle_segment`, `handle_timeout`,
//! `poll_transmit`) with how it stood before, and queues each change stamped with that time.
//! A change an application call made (`shutdown` moving to FIN-WAIT-1) is stamped by the
//! next such call, at the same simulated instant in the simulator. Losses are taken from the
//! retransmission queue, where every loss, however detected, is marked.

use std::collections::VecDeque;
use std::time::Duration;

use super::state::State;
use super::timers::{Timer, TIMER_COUNT};
use super::{Connection, Reason};
use crate::time::Instant;
use crate::wire::{Flags, Segment, SeqNum};

/// The most events a connection holds for the driver: beyond it, new events are counted in
/// [`Connection::trace_events_dropped`] and not kept. A driver that drains after every call,
/// as the simulator does, never comes near it (one call makes a few dozen at most).
pub const MAX_TRACE_EVENTS: usize = 4096;

/// One event of a connection's trace, and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracedEvent {
    /// When: the time of the call that made or observed it.
    pub at: Instant,
    /// What.
    pub event: TraceEvent,
}

/// What happened, in the terms of qlog's recovery and transport events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A segment left (qlog's `transport:packet_sent`), with the reason Ferry sent it.
    Sent {
        /// SEG.SEQ.
        seq: SeqNum,
        /// SEG.ACK (0 without the ACK flag).
        ack: SeqNum,
        /// The control bits.
        flags: Flags,
        /// Payload bytes.
        payload: usize,
        /// Why it was sent.
        reason: Reason,
    },
    /// A segment from the peer was processed (`transport:packet_received`).
    Received {
        /// SEG.SEQ.
        seq: SeqNum,
        /// SEG.ACK.
        ack: SeqNum,
        /// The control bits.
        flags: Flags,
        /// Payload bytes.
        payload: usize,
    },
    /// Loss detection declared a segment lost (`recovery:packet_lost`); `trigger` is the
    /// reason its retransmission will carry: the RTO, three duplicate ACKs, the SACK
    /// scoreboard, RACK.
    Lost {
        /// Its first sequence number.
        seq: SeqNum,
        /// Sequence space: payload, plus one for a SYN or FIN.
        length: u32,
        /// What detected the loss.
        trigger: Reason,
    },
    /// A timer was armed or moved (`recovery:loss_timer_updated`, event_type "set").
    TimerSet {
        /// Which.
        timer: Timer,
        /// When it will fall due.
        deadline: Instant,
    },
    /// A timer fell due and its handler ran ("expired").
    TimerExpired {
        /// Which.
        timer: Timer,
    },
    /// A timer was disarmed before it fell due ("cancelled").
    TimerCancelled {
        /// Which.
        timer: Timer,
    },
    /// The connection's state changed (`connectivity:connection_state_updated`).
    StateChanged {
        /// Before.
        old: State,
        /// After.
        new: State,
    },
    /// A loss recovery episode began, ended or turned into another
    /// (`recovery:congestion_state_updated`), and why.
    RecoveryChanged {
        /// The episode before, if one was under way.
        old: Option<Episode>,
        /// The episode now, if one is under way.
        new: Option<Episode>,
        /// Why it began (the loss that started it) or ended.
        why: EpisodeChange,
    },
    /// Some of the metrics changed (`recovery:metrics_updated`): those that did are `Some`.
    MetricsUpdated(MetricsChange),
}

/// A loss recovery episode, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Episode {
    /// NewReno's fast recovery without SACK (RFC 6582).
    NewRenoFastRecovery,
    /// Fast recovery with SACK (RFC 6675; losses from RACK or `IsLost()`).
    SackFastRecovery,
    /// After a retransmission timeout (RFC 5681 section 3.1).
    TimeoutRecovery,
}

impl Episode {
    /// Its name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            Episode::NewRenoFastRecovery => "newreno_fast_recovery",
            Episode::SackFastRecovery => "sack_fast_recovery",
            Episode::TimeoutRecovery => "timeout_recovery",
        }
    }
}

/// Why an episode began or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeChange {
    /// Loss detection declared the first segment lost, for this reason.
    LossDetected(Reason),
    /// The cumulative ACK reached the recovery point: everything outstanding when the
    /// episode began is acknowledged (RFC 6582 section 3.2, RFC 6675 section 5).
    RecoveryPointAcknowledged,
    /// F-RTO (RFC 5682) found the timeout spurious and undid its window reduction.
    SpuriousTimeout,
    /// D-SACKs reported every retransmission of the recovery as received twice (RFC 3708):
    /// its window reduction was undone.
    SpuriousByDsack,
    /// The connection closed, or something other than the above ended it.
    Other,
}

/// The metrics of qlog's `recovery:metrics_updated` (and Ferry's RTO): each `Some` only if it
/// changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsChange {
    /// cwnd, bytes (`u32::MAX`: no congestion control).
    pub congestion_window: Option<u32>,
    /// ssthresh, bytes (`u32::MAX` until the first loss).
    pub ssthresh: Option<u32>,
    /// Bytes sent and not yet acknowledged (FlightSize, RFC 5681).
    pub bytes_in_flight: Option<u64>,
    /// SRTT (RFC 6298).
    pub smoothed_rtt: Option<Duration>,
    /// RTTVAR (RFC 6298).
    pub rtt_variance: Option<Duration>,
    /// RACK's windowed minimum RTT (RFC 8985 section 6.2).
    pub min_rtt: Option<Duration>,
    /// The latest RTT sample.
    pub latest_rtt: Option<Duration>,
    /// The RTO the retransmission timer is armed with now, backoff included.
    pub rto: Option<Duration>,
    /// The receive buffer (RCV.BUFF), bytes: it changes only as autotuning grows it
    /// ([`RecvBuffer`](super::RecvBuffer)).
    pub recv_buffer: Option<u32>,
    /// The pacing rate, bits per second as qlog's `pacing_rate` (`pacing.rs`); `Some(0)` once
    /// nothing is paced. A connection with pacing off never reports it.
    pub pacing_rate: Option<u64>,
}

/// The metrics as they stood after the last call, to find what changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Metrics {
    congestion_window: u32,
    ssthresh: u32,
    bytes_in_flight: u64,
    smoothed_rtt: Option<Duration>,
    rtt_variance: Duration,
    min_rtt: Option<Duration>,
    latest_rtt: Option<Duration>,
    rto: Duration,
    recv_buffer: u32,
    /// Bits per second; 0 while nothing is paced.
    pacing_rate: u64,
}

impl Metrics {
    /// What differs in `self` from `before`; `None` if nothing does.
    fn change_from(&self, before: &Metrics) -> Option<MetricsChange> {
        fn changed<T: PartialEq + Copy>(now: T, before: T) -> Option<T> {
            (now != before).then_some(now)
        }
        let change = MetricsChange {
            congestion_window: changed(self.congestion_window, before.congestion_window),
            ssthresh: changed(self.ssthresh, before.ssthresh),
            bytes_in_flight: changed(self.bytes_in_flight, before.bytes_in_flight),
            smoothed_rtt: changed(self.smoothed_rtt, before.smoothed_rtt).flatten(),
            rtt_variance: changed(self.rtt_variance, before.rtt_variance),
            min_rtt: changed(self.min_rtt, before.min_rtt).flatten(),
            latest_rtt: changed(self.latest_rtt, before.latest_rtt).flatten(),
            rto: changed(self.rto, before.rto),
            recv_buffer: changed(self.recv_buffer, before.recv_buffer),
            pacing_rate: changed(self.pacing_rate, before.pacing_rate),
        };
        (change != MetricsChange::default()).then_some(change)
    }
}

/// What the trace compares against, and the queue. `None` in the connection when tracing is
/// off, so an untraced connection pays one branch per call.
#[derive(Debug)]
pub(super) struct Tracer {
    events: VecDeque<TracedEvent>,
    dropped: u64,
    /// `Stats::spurious_timeouts` as it stood: a rise ends a timeout's episode as spurious.
    last_spurious_timeouts: u64,
    /// `Stats::dsack_undos` as it stood: a rise ends an episode as proved spurious by D-SACK.
    last_dsack_undos: u64,
    /// The first snapshot is taken at the first traced call: everything then counts as a
    /// change, so the trace starts with the full metrics, the armed timers and the state.
    last: Option<Snapshot>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    timers: [Option<Instant>; TIMER_COUNT],
    state: State,
    episode: Option<Episode>,
    metrics: Metrics,
}

impl Tracer {
    fn new() -> Tracer {
        Tracer {
            events: VecDeque::new(),
            dropped: 0,
            last_spurious_timeouts: 0,
            last_dsack_undos: 0,
            last: None,
        }
    }

    fn push(&mut self, at: Instant, event: TraceEvent) {
        if self.events.len() == MAX_TRACE_EVENTS {
            self.dropped += 1;
            return;
        }
        self.events.push_back(TracedEvent { at, event });
    }
}

impl Connection {
    /// Start or stop keeping the event trace. Stopping discards the events not yet taken;
    /// starting a trace already kept changes nothing.
    pub fn set_tracing(&mut self, on: bool) {
        if on && self.tracer.is_some() {
            return;
        }
        self.tracer = on.then(|| Box::new(Tracer::new()));
        self.recovery.log_losses(on);
    }

    /// The oldest trace event not yet taken, if tracing is on.
    pub fn poll_trace_event(&mut self) -> Option<TracedEvent> {
        self.tracer.as_mut()?.events.pop_front()
    }

    /// Trace events not kept because [`MAX_TRACE_EVENTS`] were waiting.
    pub fn trace_events_dropped(&self) -> u64 {
        self.tracer.as_ref().map_or(0, |tracer| tracer.dropped)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            timers: Timer::ALL.map(|timer| self.timers.get(timer)),
            state: self.state,
            episode: self.recovery.episode_kind(),
            metrics: Metrics {
                congestion_window: self.congestion_window(),
                ssthresh: self.congestion.slow_start_threshold(),
                bytes_in_flight: self.send.flight_size() as u64,
                smoothed_rtt: self.rtt.smoothed_rtt(),
                rtt_variance: self.rtt.rtt_variance(),
                min_rtt: self.recovery.min_rtt(),
                latest_rtt: self.rtt.latest_rtt(),
                rto: self.rtt.rto(),
                recv_buffer: self.receive.buffer_size(),
                pacing_rate: self.pacing_rate().map_or(0, |rate| rate.saturating_mul(8)),
            },
        }
    }

    /// A segment from the peer is about to be processed.
    pub(super) fn trace_received(&mut self, now: Instant, segment: &Segment<'_>) {
        if let Some(tracer) = &mut self.tracer {
            tracer.push(
                now,
                TraceEvent::Received {
                    seq: segment.seq,
                    ack: segment.ack,
                    flags: segment.flags,
                    payload: segment.payload.len(),
                },
            );
        }
    }

    /// A segment leaves for `reason`.
    pub(super) fn trace_sent(&mut self, now: Instant, contents: &[u8], reason: Reason) {
        let Some(tracer) = &mut self.tracer else {
            return;
        };
        // This end's own bytes, whose checksum a sealer may not have written yet.
        if let Ok(segment) = Segment::parse_without_checksum(contents) {
            tracer.push(
                now,
                TraceEvent::Sent {
                    seq: segment.seq,
                    ack: segment.ack,
                    flags: segment.flags,
                    payload: segment.payload.len(),
                    reason,
                },
            );
        }
    }

    /// `timer` fell due and its handler is about to run. Its disarming is its expiry, not a
    /// cancellation: the snapshot forgets its deadline too.
    pub(super) fn trace_timer_expired(&mut self, now: Instant, timer: Timer) {
        let Some(tracer) = &mut self.tracer else {
            return;
        };
        tracer.push(now, TraceEvent::TimerExpired { timer });
        if let Some(last) = &mut tracer.last {
            last.timers[timer as usize] = None;
        }
    }

    /// Queue what changed since the last traced call: losses, state, recovery episode,
    /// timers and metrics, in that order (a loss explains the episode it starts, which
    /// explains the timers and the window).
    pub(super) fn trace_changes(&mut self, now: Instant) {
        if self.tracer.is_none() {
            return;
        }
        let now_stands = self.snapshot();
        let lost = self.recovery.take_newly_lost();
        let spurious_timeouts = self.stats.spurious_timeouts;
        let dsack_undos = self.stats.dsack_undos;
        let Some(tracer) = self.tracer.as_deref_mut() else {
            return;
        };
        let first_trigger = lost.first().map(|&(_, _, reason)| reason);
        for (seq, length, trigger) in lost {
            tracer.push(
                now,
                TraceEvent::Lost {
                    seq,
                    length,
                    trigger,
                },
            );
        }
        let before = tracer.last.unwrap_or(Snapshot {
            timers: [None; TIMER_COUNT],
            state: State::Closed,
            episode: None,
            metrics: Metrics::default(),
        });
        if now_stands.state != before.state {
            tracer.push(
                now,
                TraceEvent::StateChanged {
                    old: before.state,
                    new: now_stands.state,
                },
            );
        }
        if now_stands.episode != before.episode {
            let why = match (now_stands.episode, first_trigger) {
                (Some(_), Some(trigger)) => EpisodeChange::LossDetected(trigger),
                (None, _) if tracer.last_spurious_timeouts < spurious_timeouts => {
                    EpisodeChange::SpuriousTimeout
                }
                (None, _) if tracer.last_dsack_undos < dsack_undos => {
                    EpisodeChange::SpuriousByDsack
                }
                (None, _) if now_stands.state != State::Closed => {
                    EpisodeChange::RecoveryPointAcknowledged
                }
                _ => EpisodeChange::Other,
            };
            tracer.push(
                now,
                TraceEvent::RecoveryChanged {
                    old: before.episode,
                    new: now_stands.episode,
                    why,
                },
            );
        }
        tracer.last_spurious_timeouts = spurious_timeouts;
        tracer.last_dsack_undos = dsack_undos;
        for (index, timer) in Timer::ALL.into_iter().enumerate() {
            let (was, is) = (before.timers[index], now_stands.timers[index]);
            if was == is {
                continue;
            }
            let event = match is {
                Some(deadline) => TraceEvent::TimerSet { timer, deadline },
                None => TraceEvent::TimerCancelled { timer },
            };
            tracer.push(now, event);
        }
        if let Some(change) = now_stands.metrics.change_from(&before.metrics) {
            tracer.push(now, TraceEvent::MetricsUpdated(change));
        }
        tracer.last = Some(now_stands);
    }
}
