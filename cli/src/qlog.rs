//! `--trace`: a host's connection trace events as a qlog file, one per host (`ferry sim`, of
//! the two-host transfer or of a world: `--scenario`, `--nat-lecture`) or per socket
//! (`ferry send`, `recv`, `cat`, which write them as they happen), in qlog 0.3's
//! JSON-SEQ serialization (draft-ietf-quic-qlog-main-schema: a record separator, 0x1E,
//! before each JSON text and a line feed after it, RFC 7464), which qvis opens: a header
//! record naming the trace and its vantage point, then one event per record. The events are
//! the recovery and transport events of draft-ietf-quic-qlog-quic-events where TCP has them
//! (`transport:packet_sent` and `packet_received`, `recovery:packet_lost`,
//! `recovery:metrics_updated`, `recovery:loss_timer_updated`,
//! `recovery:congestion_state_updated`, `connectivity:connection_state_updated`), a packet's
//! number being its sequence number relative to its sender's ISN; what qlog has no field for
//! is in fields named `ferry:...` (the reason each segment was sent, the flags, the RTO, the
//! receive buffer as autotuning grows it), and
//! the timers qlog has no type for are `ferry:timer_updated` events.
//!
//! Written by hand with serde_json rather than with the `qlog` crate: that crate models QUIC
//! packets and frames (packet types, connection IDs), none of which a TCP segment has, and
//! would add a dependency to say what a few `json!` calls say.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Map, Value};

use ferry::conn::{EpisodeChange, Reason, Timer, TraceEvent, TracedEvent};
use ferry::endpoint::ConnectionHandle;
use ferry::net::TraceSink;
use ferry::sim::world::WorldEvents;
use ferry::sim::{Host, HostEvents};
use ferry::time::Instant;
use ferry::wire::{Flags, SeqNum};

/// The qlog version this file follows: qvis reads it.
const QLOG_VERSION: &str = "0.3";

/// Write `host`'s events (taken from both hosts' `events`) as a qlog JSON-SEQ file at `path`.
/// The host has one connection: its events need no `group_id` of their own (the trace's
/// common one names the host).
pub fn write_host_trace(
    path: &Path,
    title: &str,
    host: Host,
    events: &[(Host, TracedEvent)],
) -> io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    write_record(&mut out, &header(title, host))?;
    let mut converter = Converter::default();
    for (_, traced) in events.iter().filter(|(of, _)| *of == host) {
        write_record(&mut out, &converter.event(traced))?;
    }
    out.flush()
}

/// Write world host number `host`'s events (of `events`, every host's) as a qlog JSON-SEQ
/// file at `path`. A world's host may hold many connections, and be the client of one and
/// the server of another: its vantage point's type is `unknown`, and each event's
/// `group_id` names its connection, `connection N: LOCAL to PEER` (N from 0 in the order
/// the host's connections first traced; the peer as the host sees it), as `--trace` on a
/// listener names its connections.
pub fn write_world_host_trace(
    path: &Path,
    title: &str,
    events: &WorldEvents,
    host: usize,
) -> io::Result<()> {
    let name = events.hosts.get(host).map_or("?", String::as_str);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    write_record(
        &mut out,
        &file_header(title, &format!("host {name}"), name, "unknown"),
    )?;
    let mut connections = Connections::default();
    for event in events.events.iter().filter(|event| event.host == host) {
        let group_id = || {
            format!(
                "connection {}: {} to {}",
                event.connection, event.local, event.peer
            )
        };
        write_record(
            &mut out,
            &connections.event(event.connection, group_id, &event.traced),
        )?;
    }
    out.flush()
}

/// `ferry sim --scenario/--nat-lecture --trace PREFIX`: each world host's trace,
/// PREFIX-HOST.sqlog (the host's name as the world names it), saying on stderr if events
/// were left out; exit status 2 if a file cannot be written.
pub fn write_world_traces(
    prefix: &Path,
    title: &str,
    events: &WorldEvents,
) -> Result<(), ExitCode> {
    warn_omitted(events.omitted);
    for (host, name) in events.hosts.iter().enumerate() {
        let path = crate::sim::prefixed(prefix, &format!("-{name}.sqlog"));
        cannot_write(&path, write_world_host_trace(&path, title, events, host))?;
    }
    Ok(())
}

/// `ferry sim --trace` of the two-host network (a transfer, a first-byte run): A's and B's
/// traces, at `path("a")` and `path("b")`, saying on stderr if events were left out; exit
/// status 2 if a file cannot be written.
pub fn write_two_host_traces(
    path: impl Fn(&str) -> PathBuf,
    title: &str,
    events: &HostEvents,
) -> Result<(), ExitCode> {
    warn_omitted(events.omitted);
    for (host, name) in [(Host::A, "a"), (Host::B, "b")] {
        let path = path(name);
        cannot_write(&path, write_host_trace(&path, title, host, &events.events))?;
    }
    Ok(())
}

/// Say on stderr that a trace left `omitted` events out, if it did.
fn warn_omitted(omitted: u64) {
    if omitted > 0 {
        eprintln!(
            "ferry sim: the trace holds the first {} events, not {omitted} more",
            ferry::sim::MAX_RECORDED_EVENTS,
        );
    }
}

/// Exit status 2, said on stderr, if writing the trace at `path` failed.
fn cannot_write(path: &Path, written: io::Result<()>) -> Result<(), ExitCode> {
    written.map_err(|error| {
        eprintln!(
            "ferry sim: cannot write the trace {}: {error}",
            path.display()
        );
        ExitCode::from(2)
    })
}

/// Each connection's [`Converter`], for a file that holds several connections: each event
/// is converted with its own connection's, and carries its `group_id`.
struct Connections<K> {
    converters: HashMap<K, (Converter, String)>,
}

impl<K> Default for Connections<K> {
    fn default() -> Self {
        Connections {
            converters: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Connections<K> {
    /// The record of `traced`, an event of connection `key`, named `group_id` (asked for at
    /// its first event).
    fn event(&mut self, key: K, group_id: impl FnOnce() -> String, traced: &TracedEvent) -> Value {
        let (converter, name) = self
            .converters
            .entry(key)
            .or_insert_with(|| (Converter::default(), group_id()));
        let mut record = converter.event(traced);
        record["group_id"] = json!(name);
        record
    }
}

fn write_record(out: &mut impl Write, record: &Value) -> io::Result<()> {
    out.write_all(b"\x1e")?;
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

/// The file's first record: the qlog file and its one trace (main schema, sections on the
/// JSON-SEQ format and the trace): A, the side that connects, is the client.
fn header(title: &str, host: Host) -> Value {
    let (name, vantage) = match host {
        Host::A => ("A", "client"),
        Host::B => ("B", "server"),
    };
    let address: SocketAddr = host.address();
    file_header(title, &format!("host {name} ({address})"), name, vantage)
}

/// The header of a file with one trace, `trace_title`, seen from `name`, a `vantage` qlog
/// names (client or server).
fn file_header(title: &str, trace_title: &str, name: &str, vantage: &str) -> Value {
    json!({
        "qlog_version": QLOG_VERSION,
        "qlog_format": "JSON-SEQ",
        "title": title,
        "trace": {
            "title": trace_title,
            "vantage_point": { "name": name, "type": vantage },
            "common_fields": {
                "group_id": name,
                "protocol_type": ["TCP"],
                "time_format": "relative",
                "reference_time": 0
            }
        }
    })
}

/// `ferry send/recv/cat --trace FILE`: a sink for the socket's trace events that writes them
/// to `path` as qlog as they happen, a batch at a time (one write per batch). `vantage` is
/// `client` or `server`. Each event's `group_id` names its connection (`connection N`, in the
/// order the endpoint opened them), since a listener's file holds all its connections. A
/// write that fails stops the trace, not the transfer, as a capture does.
pub fn socket_sink(path: &Path, title: &str, vantage: &str) -> io::Result<TraceSink> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    write_record(&mut out, &file_header(title, title, vantage, vantage))?;
    out.flush()?;
    let state = Mutex::new(Some((out, Connections::<ConnectionHandle>::default())));
    Ok(TraceSink::new(move |events| {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((out, connections)) = state.as_mut() else {
            return;
        };
        let written = events.iter().try_for_each(|(handle, traced)| {
            let group_id = || format!("connection {}", handle.index());
            write_record(out, &connections.event(*handle, group_id, traced))
        });
        if written.and_then(|()| out.flush()).is_err() {
            *state = None;
        }
    }))
}

/// Milliseconds, as qlog counts time: from whole microseconds, so that 40.05 ms prints as
/// such and not as 40.050000000000004.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// What the conversion remembers across events: each side's ISN, so that packet numbers are
/// relative sequence numbers, and cwnd and ssthresh, to name the congestion state.
#[derive(Default)]
struct Converter {
    own_isn: Option<SeqNum>,
    peer_isn: Option<SeqNum>,
    congestion_window: u32,
    ssthresh: u32,
}

impl Converter {
    fn event(&mut self, traced: &TracedEvent) -> Value {
        let time = millis(traced.at.since_epoch());
        let (name, data) = self.name_and_data(traced.at, &traced.event);
        json!({ "time": time, "name": name, "data": data })
    }

    fn name_and_data(&mut self, at: Instant, event: &TraceEvent) -> (&'static str, Value) {
        match *event {
            TraceEvent::Sent {
                seq,
                ack,
                flags,
                payload,
                reason,
            } => {
                if flags.contains(Flags::SYN) {
                    self.own_isn.get_or_insert(seq);
                }
                let mut data = self.packet(seq, self.own_isn, ack, self.peer_isn, flags, payload);
                data.insert("ferry:reason".into(), json!(reason.to_string()));
                if let Some(trigger) = sent_trigger(reason) {
                    data.insert("trigger".into(), json!(trigger));
                }
                ("transport:packet_sent", Value::Object(data))
            }
            TraceEvent::Received {
                seq,
                ack,
                flags,
                payload,
            } => {
                if flags.contains(Flags::SYN) {
                    self.peer_isn.get_or_insert(seq);
                }
                let data = self.packet(seq, self.peer_isn, ack, self.own_isn, flags, payload);
                ("transport:packet_received", Value::Object(data))
            }
            TraceEvent::Lost {
                seq,
                length,
                trigger,
            } => {
                let mut data = Map::new();
                data.insert(
                    "header".into(),
                    json!({ "packet_type": "1RTT", "packet_number": relative(seq, self.own_isn) }),
                );
                data.insert("ferry:length".into(), json!(length));
                data.insert("ferry:reason".into(), json!(trigger.to_string()));
                if let Some(trigger) = lost_trigger(trigger) {
                    data.insert("trigger".into(), json!(trigger));
                }
                ("recovery:packet_lost", Value::Object(data))
            }
            TraceEvent::TimerSet { timer, deadline } => {
                timer_event(timer, "set", Some(deadline.saturating_duration_since(at)))
            }
            TraceEvent::TimerExpired { timer } => timer_event(timer, "expired", None),
            TraceEvent::TimerCancelled { timer } => timer_event(timer, "cancelled", None),
            TraceEvent::StateChanged { old, new } => (
                "connectivity:connection_state_updated",
                json!({ "old": state_name(old), "new": state_name(new) }),
            ),
            TraceEvent::RecoveryChanged { old, new, why } => {
                let state = |episode: Option<ferry::conn::Episode>| match episode {
                    Some(_) => "recovery",
                    None if self.congestion_window < self.ssthresh => "slow_start",
                    None => "congestion_avoidance",
                };
                let trigger = match why {
                    EpisodeChange::LossDetected(reason) => format!("loss: {reason}"),
                    EpisodeChange::RecoveryPointAcknowledged => {
                        "recovery point acknowledged".into()
                    }
                    EpisodeChange::SpuriousTimeout => "spurious timeout (F-RTO)".into(),
                    EpisodeChange::SpuriousByDsack => "spurious recovery (D-SACK)".into(),
                    _ => "other".into(),
                };
                let episode_name = |episode: Option<ferry::conn::Episode>| {
                    episode.map_or(Value::Null, |episode| json!(episode.name()))
                };
                (
                    "recovery:congestion_state_updated",
                    json!({
                        "old": state(old),
                        "new": state(new),
                        "trigger": trigger,
                        "ferry:old_episode": episode_name(old),
                        "ferry:new_episode": episode_name(new),
                    }),
                )
            }
            TraceEvent::MetricsUpdated(change) => {
                let mut data = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        data.insert(key.into(), value);
                    }
                };
                let ms = |duration: Option<Duration>| duration.map(|d| json!(millis(d)));
                put(
                    "congestion_window",
                    change.congestion_window.map(Value::from),
                );
                put("ssthresh", change.ssthresh.map(Value::from));
                put("bytes_in_flight", change.bytes_in_flight.map(Value::from));
                put("smoothed_rtt", ms(change.smoothed_rtt));
                put("rtt_variance", ms(change.rtt_variance));
                put("min_rtt", ms(change.min_rtt));
                put("latest_rtt", ms(change.latest_rtt));
                put("ferry:rto", ms(change.rto));
                put("ferry:recv_buffer", change.recv_buffer.map(Value::from));
                put("pacing_rate", change.pacing_rate.map(Value::from));
                if let Some(window) = change.congestion_window {
                    self.congestion_window = window;
                }
                if let Some(ssthresh) = change.ssthresh {
                    self.ssthresh = ssthresh;
                }
                ("recovery:metrics_updated", Value::Object(data))
            }
            _ => ("ferry:unknown", json!({})),
        }
    }

    /// A packet's fields: its header (sequence number relative to its sender's ISN as the
    /// packet number), its size, and what TCP adds.
    fn packet(
        &self,
        seq: SeqNum,
        isn: Option<SeqNum>,
        ack: SeqNum,
        ack_isn: Option<SeqNum>,
        flags: Flags,
        payload: usize,
    ) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert(
            "header".into(),
            json!({ "packet_type": "1RTT", "packet_number": relative(seq, isn) }),
        );
        data.insert("raw".into(), json!({ "payload_length": payload }));
        data.insert("ferry:flags".into(), json!(flags.to_string()));
        if flags.contains(Flags::ACK) {
            data.insert("ferry:ack".into(), json!(relative(ack, ack_isn)));
        }
        data
    }
}

/// A sequence number relative to an ISN, as Wireshark shows them; absolute before the ISN is
/// known.
fn relative(seq: SeqNum, isn: Option<SeqNum>) -> u32 {
    isn.map_or(seq.0, |isn| seq.wrapping_diff(isn))
}

/// qlog's `packet_sent` trigger for a retransmission: what detected the loss.
fn sent_trigger(reason: Reason) -> Option<&'static str> {
    match reason {
        Reason::FastRetransmission | Reason::SackRetransmission | Reason::RackRetransmission => {
            Some("retransmit_reordered")
        }
        // The timer, brought forward to max(SRTT / 2, 10 ms), resends what the peer reneged on.
        Reason::RtoRetransmission { .. } | Reason::RenegeRetransmission => {
            Some("retransmit_timeout")
        }
        Reason::TailLossProbe | Reason::TailLossProbeNewData => Some("pto_probe"),
        _ => None,
    }
}

/// qlog's `packet_lost` trigger: three duplicate ACKs and the SACK scoreboard count packets
/// (a reordering threshold), RACK counts time, the RTO is the timeout.
fn lost_trigger(reason: Reason) -> Option<&'static str> {
    match reason {
        Reason::FastRetransmission | Reason::SackRetransmission => Some("reordering_threshold"),
        Reason::RackRetransmission => Some("time_threshold"),
        Reason::RtoRetransmission { .. } => Some("pto_expired"),
        _ => None,
    }
}

/// A timer's event: qlog's `loss_timer_updated` for the loss timers (the RTO and the loss
/// probe are its "pto", RACK's reordering timer its "ack", the time-threshold timer), a
/// `ferry:timer_updated` for the others. `delta`, for a timer set, is how long until it
/// falls due.
fn timer_event(timer: Timer, event_type: &str, delta: Option<Duration>) -> (&'static str, Value) {
    let mut data = Map::new();
    let name = match timer {
        Timer::LossProbe | Timer::Retransmit => {
            data.insert("timer_type".into(), json!("pto"));
            "recovery:loss_timer_updated"
        }
        Timer::Reordering => {
            data.insert("timer_type".into(), json!("ack"));
            "recovery:loss_timer_updated"
        }
        _ => "ferry:timer_updated",
    };
    data.insert("event_type".into(), json!(event_type));
    data.insert("ferry:timer".into(), json!(timer.name()));
    if let Some(delta) = delta {
        data.insert("delta".into(), json!(millis(delta)));
    }
    (name, Value::Object(data))
}

/// A state's name in the trace: RFC 9293's, in qlog's snake case (`fin_wait_1`).
fn state_name(state: ferry::conn::State) -> String {
    state.to_string().to_lowercase().replace('-', "_")
}
