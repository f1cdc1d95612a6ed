//! What a lab can measure: every number of the run's JSON report (`ferry sim --stats json`,
//! or a scenario's), by its dotted path, and for a two-host run what each host's trace events
//! show (docs/lab.md, "Checking your answers"): when the first byte arrived, each timer's
//! expiries, each data segment's and the FIN's transmissions and the reasons of their resends.

use std::collections::BTreeMap;

use serde_json::Value;

use ferry::conn::{EpisodeChange, Reason, Timer, TraceEvent, TracedEvent};
use ferry::sim::Host;
use ferry::wire::{Flags, SeqNum};

/// The retransmission kinds, as the JSON report's `retransmissions` names them.
const KINDS: [&str; 6] = ["rto", "fast", "sack", "rack", "tlp", "renege"];

/// What a run gave to measure.
pub struct Measurements<'a> {
    /// The JSON report's numbers (booleans as 1 and 0, null as no value), by dotted path.
    report: BTreeMap<String, Option<f64>>,
    /// Both hosts' trace events, for a two-host run.
    events: Option<&'a [(Host, TracedEvent)]>,
}

/// The metrics a lab may name for a run's events, for the error that lists the valid ones.
pub const EVENT_METRICS: &str = "first_byte_seconds, H.rto_ms, H.recovery_episodes, \
    H.cwnd_max, H.cwnd_reductions, H.last_ack, H.timer.NAME.fired, H.timer.NAME.K.at, \
    H.timer.NAME.K.armed_ms (NAME one of loss_probe, retransmission, \
    rack_reordering, delayed_ack, persist, keepalive, time_wait), H.segment.N.seq, \
    H.segment.N.sent_at, H.segment.N.resends, H.segment.N.resends.KIND, H.segment.N.resent_at, and the same with \
    H.fin in place of H.segment.N (H is a or b; KIND one of rto, fast, sack, rack, tlp; N and \
    K count from 1)";

impl<'a> Measurements<'a> {
    /// The numbers of `report`, and the events of a two-host run.
    pub fn new(report: &Value, events: Option<&'a [(Host, TracedEvent)]>) -> Measurements<'a> {
        let mut flat = BTreeMap::new();
        flatten("", report, &mut flat);
        // Wall time differs from run to run: no lab can expect a value of it. An error is
        // text (null when there was none): no number either.
        flat.retain(|name, _| {
            let key = name.rsplit('.').next().unwrap_or(name);
            key != "wall_seconds" && key != "error" && !key.starts_with("error_")
        });
        Measurements {
            report: flat,
            events,
        }
    }

    /// The report's metric names, for the error that lists the valid ones.
    pub fn report_names(&self) -> Vec<&str> {
        self.report.keys().map(String::as_str).collect()
    }

    /// Whether this run has events to measure.
    pub fn has_events(&self) -> bool {
        self.events.is_some()
    }

    /// The value of `name`: `Err` if no metric has that name, `Ok(None)` if it has no value in
    /// this run (a segment never resent has no `resent_at`).
    pub fn measure(&self, name: &str) -> Result<Option<f64>, ()> {
        if let Some(value) = self.report.get(name) {
            return Ok(*value);
        }
        let events = self.events.ok_or(())?;
        if name == "first_byte_seconds" {
            return Ok(first_byte_seconds(events));
        }
        let (host, rest) = match name.split_once('.') {
            Some(("a", rest)) => (Host::A, rest),
            Some(("b", rest)) => (Host::B, rest),
            _ => return Err(()),
        };
        let own = || {
            events
                .iter()
                .filter(move |(of, _)| *of == host)
                .map(|(_, traced)| traced)
        };
        let parts: Vec<&str> = rest.split('.').collect();
        match parts.as_slice() {
            ["rto_ms"] => Ok(own()
                .filter_map(|traced| match &traced.event {
                    TraceEvent::MetricsUpdated(change) => change.rto,
                    _ => None,
                })
                .next_back()
                .map(|rto| rto.as_secs_f64() * 1000.0)),
            ["cwnd_max"] => Ok(own()
                .filter_map(|traced| match &traced.event {
                    TraceEvent::MetricsUpdated(change) => change.congestion_window,
                    _ => None,
                })
                .max()
                .map(f64::from)),
            ["cwnd_reductions"] => {
                let windows = own().filter_map(|traced| match &traced.event {
                    TraceEvent::MetricsUpdated(change) => change.congestion_window,
                    _ => None,
                });
                let mut reductions = 0.0;
                windows.fold(None, |before: Option<u32>, now| {
                    if before.is_some_and(|before| now < before) {
                        reductions += 1.0;
                    }
                    Some(now)
                });
                Ok(Some(reductions))
            }
            ["last_ack"] => {
                let peer_isn = isn(events, other(host));
                Ok(own()
                    .filter_map(|traced| match traced.event {
                        TraceEvent::Sent { ack, flags, .. } if flags.contains(Flags::ACK) => {
                            Some(ack)
                        }
                        _ => None,
                    })
                    .next_back()
                    .zip(peer_isn)
                    .map(|(ack, isn)| f64::from(ack.wrapping_diff(isn))))
            }
            ["recovery_episodes"] => Ok(Some(count(own().filter(|traced| {
                matches!(
                    traced.event,
                    TraceEvent::RecoveryChanged {
                        old: None,
                        new: Some(_),
                        why: EpisodeChange::LossDetected(_)
                    }
                )
            })))),
            ["timer", timer, what @ ..] => {
                let timer = *Timer::ALL
                    .iter()
                    .find(|known| known.name() == *timer)
                    .ok_or(())?;
                let expiries = own().filter(|traced| {
                    matches!(traced.event, TraceEvent::TimerExpired { timer: fired } if fired == timer)
                });
                match what {
                    ["fired"] => Ok(Some(count(expiries))),
                    [k, "at"] => {
                        let k = ordinal(k)?;
                        Ok(expiries.map(seconds).nth(k - 1))
                    }
                    [k, "armed_ms"] => {
                        // How long the timer had been set for when it fell due the K-th time:
                        // its deadline less the time of the last `set` before it.
                        let k = ordinal(k)?;
                        let mut armed = None;
                        let mut fired = 0;
                        for traced in own() {
                            match traced.event {
                                TraceEvent::TimerSet {
                                    timer: set,
                                    deadline,
                                } if set == timer => {
                                    armed = Some(deadline.saturating_duration_since(traced.at));
                                }
                                TraceEvent::TimerExpired { timer: due } if due == timer => {
                                    fired += 1;
                                    if fired == k {
                                        return Ok(armed.map(|armed| armed.as_secs_f64() * 1000.0));
                                    }
                                }
                                _ => {}
                            }
                        }
                        Ok(None)
                    }
                    _ => Err(()),
                }
            }
            ["segment", n, what @ ..] => {
                let n = ordinal(n)?;
                let first =
                    own()
                        .filter_map(|traced| match traced.event {
                            TraceEvent::Sent {
                                seq,
                                payload,
                                reason:
                                    Reason::NewData
                                    | Reason::TailLossProbeNewData
                                    | Reason::PathMtuProbe,
                                ..
                            } if payload > 0 => Some((seq, seconds(traced))),
                            _ => None,
                        })
                        .nth(n - 1);
                let covers = |sent: SeqNum, payload: usize, flags: Flags| {
                    first.is_some_and(|(seq, _)| {
                        let length = payload as u32 + u32::from(flags.contains(Flags::FIN));
                        seq.wrapping_diff(sent) < length && payload > 0
                    })
                };
                if what == ["seq"] {
                    return Ok(first
                        .zip(isn(events, host))
                        .map(|((seq, _), isn)| f64::from(seq.wrapping_diff(isn))));
                }
                transmissions(own(), first.map(|(_, at)| at), what, covers)
            }
            ["fin", what @ ..] => {
                let fin = own().find_map(|traced| match traced.event {
                    TraceEvent::Sent {
                        seq,
                        flags,
                        payload,
                        ..
                    } if flags.contains(Flags::FIN) => {
                        Some((seq + payload as u32, seconds(traced)))
                    }
                    _ => None,
                });
                if what == ["seq"] {
                    return Ok(fin
                        .zip(isn(events, host))
                        .map(|((seq, _), isn)| f64::from(seq.wrapping_diff(isn))));
                }
                let first = fin.map(|(_, at)| at);
                let covers = |_: SeqNum, _: usize, flags: Flags| flags.contains(Flags::FIN);
                transmissions(own(), first, what, covers)
            }
            _ => Err(()),
        }
    }
}

/// `sent_at`, `resends`, `resends.KIND` or `resent_at` of a segment first sent at `first`
/// (if it was), whose retransmissions are those of `events` that `covers` accepts.
fn transmissions<'e>(
    events: impl Iterator<Item = &'e TracedEvent>,
    first: Option<f64>,
    what: &[&str],
    covers: impl Fn(SeqNum, usize, Flags) -> bool,
) -> Result<Option<f64>, ()> {
    let resends = events.filter_map(|traced| match traced.event {
        TraceEvent::Sent {
            seq,
            payload,
            flags,
            reason,
            ..
        } if covers(seq, payload, flags) => kind(reason).map(|kind| (kind, seconds(traced))),
        _ => None,
    });
    match what {
        ["sent_at"] => Ok(first),
        ["resends"] => Ok(Some(count(resends))),
        ["resends", wanted] if KINDS.contains(wanted) => {
            Ok(Some(count(resends.filter(|(kind, _)| kind == wanted))))
        }
        ["resent_at"] => Ok(resends.map(|(_, at)| at).next()),
        _ => Err(()),
    }
}

/// Which retransmission `reason` is, as the JSON report's `retransmissions` names it; `None`
/// for a first transmission.
fn kind(reason: Reason) -> Option<&'static str> {
    match reason {
        Reason::RtoRetransmission { .. } => Some("rto"),
        Reason::FastRetransmission => Some("fast"),
        Reason::SackRetransmission => Some("sack"),
        Reason::RackRetransmission => Some("rack"),
        Reason::TailLossProbe => Some("tlp"),
        Reason::RenegeRetransmission => Some("renege"),
        _ => None,
    }
}

/// The host at the other end from `host`.
fn other(host: Host) -> Host {
    match host {
        Host::A => Host::B,
        Host::B => Host::A,
    }
}

/// `host`'s initial sequence number: that of the first SYN it sent.
fn isn(events: &[(Host, TracedEvent)], host: Host) -> Option<SeqNum> {
    events.iter().find_map(|(of, traced)| match traced.event {
        TraceEvent::Sent { seq, flags, .. } if *of == host && flags.contains(Flags::SYN) => {
            Some(seq)
        }
        _ => None,
    })
}

/// When B received its first byte of data, in seconds since the start.
fn first_byte_seconds(events: &[(Host, TracedEvent)]) -> Option<f64> {
    events
        .iter()
        .find(|(host, traced)| {
            *host == Host::B
                && matches!(traced.event, TraceEvent::Received { payload, .. } if payload > 0)
        })
        .map(|(_, traced)| seconds(traced))
}

fn seconds(traced: &TracedEvent) -> f64 {
    traced.at.since_epoch().as_secs_f64()
}

fn count<T>(items: impl Iterator<Item = T>) -> f64 {
    items.count() as f64
}

/// N or K in a metric's name: a count from 1.
fn ordinal(text: &str) -> Result<usize, ()> {
    text.parse::<usize>().ok().filter(|n| *n >= 1).ok_or(())
}

/// Each number under `value`, by its dotted path: an object's keys, an array's indexes (from
/// 0); booleans as 1 and 0, null as no value. Strings are no metric.
fn flatten(path: &str, value: &Value, out: &mut BTreeMap<String, Option<f64>>) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&child(key), value, out);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                flatten(&child(&index.to_string()), value, out);
            }
        }
        Value::Number(number) => {
            out.insert(path.to_string(), number.as_f64());
        }
        Value::Bool(flag) => {
            out.insert(path.to_string(), Some(f64::from(u8::from(*flag))));
        }
        Value::Null => {
            out.insert(path.to_string(), None);
        }
        Value::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_report_flattens_to_dotted_names() {
        let report = json!({
            "rto_timeouts": 1,
            "intact": true,
            "srtt_ms": null,
            "state_a": "closed",
            "wall_seconds": 0.5,
            "error": null,
            "retransmissions": { "fast": 2 },
            "flows": [{ "goodput_bps": 1.5 }],
        });
        let measured = Measurements::new(&report, None);
        assert_eq!(measured.measure("rto_timeouts"), Ok(Some(1.0)));
        assert_eq!(measured.measure("intact"), Ok(Some(1.0)));
        assert_eq!(measured.measure("srtt_ms"), Ok(None));
        assert_eq!(measured.measure("retransmissions.fast"), Ok(Some(2.0)));
        assert_eq!(measured.measure("flows.0.goodput_bps"), Ok(Some(1.5)));
        for unknown in [
            "state_a",
            "wall_seconds",
            "error",
            "retransmissions",
            "a.fin.resends",
        ] {
            assert_eq!(measured.measure(unknown), Err(()), "{unknown}");
        }
    }
}
