//! The figures both `ferry sim` and `ferry send`/`ferry recv` print with `--stats json`: one
//! set of keys for what connections counted, so a script reads either command's output the
//! same way. Each command adds its own keys (simulated or wall time, the link's counters).

use ferry::fault::FaultStats;
use ferry::Stats;
use serde_json::{json, Value};

/// `own` (a command's JSON object) with what `stats` (one connection, or both ends of a
/// simulated one) and `faults` (each fault injector they passed) counted, summed.
pub(crate) fn with_counters(own: Value, stats: &[&Stats], faults: &[&FaultStats]) -> Value {
    let sum = |field: fn(&Stats) -> u64| stats.iter().map(|stats| field(stats)).sum::<u64>();
    let faulted = |field: fn(&FaultStats) -> u64| faults.iter().map(|f| field(f)).sum::<u64>();
    let counters = json!({
        "segments_sent": sum(|s| s.segments_sent),
        "retransmissions": {
            "rto": sum(|s| s.retransmissions.rto),
            "fast": sum(|s| s.retransmissions.fast),
            "sack": sum(|s| s.retransmissions.sack),
            "rack": sum(|s| s.retransmissions.rack),
            "tlp": sum(|s| s.retransmissions.tlp),
            "renege": sum(|s| s.retransmissions.renege),
            "total": sum(|s| s.retransmissions.total()),
        },
        "tail_loss_probes": sum(|s| s.tail_loss_probes),
        "spurious_retransmissions": sum(|s| s.spurious_retransmissions),
        "spurious_timeouts": sum(|s| s.spurious_timeouts),
        "dsack_undos": sum(|s| s.dsack_undos),
        "dsack_received": sum(|s| s.dsack_received),
        "bytes_retransmitted": sum(|s| s.bytes_retransmitted),
        "rto_timeouts": sum(|s| s.rto_timeouts),
        "duplicate_acks": sum(|s| s.duplicate_acks),
        "window_probes": sum(|s| s.window_probes),
        "paws_rejected": sum(|s| s.paws_rejected),
        "path_mtu_probes": sum(|s| s.path_mtu_probes),
        "path_mtu_probes_lost": sum(|s| s.path_mtu_probes_lost),
        "path_mtu_black_holes": sum(|s| s.path_mtu_black_holes),
        // Not a sum: the payload new data segments go at, as path MTU discovery left it (the
        // larger of two ends'; a datagram adds Ferry's header and the secure mode's
        // protection).
        "segment_size": stats.iter().map(|s| s.segment_size).max().unwrap_or(0),
        "faults": {
            "dropped": faulted(|f| f.dropped),
            "corrupted": faulted(|f| f.corrupted),
            "duplicated": faulted(|f| f.duplicated),
            "reordered": faulted(|f| f.reordered),
        },
    });
    merged(counters, own)
}

/// The keys of both objects; `extra`'s win where both have one.
pub(crate) fn merged(base: Value, extra: Value) -> Value {
    match (base, extra) {
        (Value::Object(mut base), Value::Object(extra)) => {
            base.extend(extra);
            Value::Object(base)
        }
        (base, _) => base,
    }
}
