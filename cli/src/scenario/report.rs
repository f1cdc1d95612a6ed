//! What a scenario's run showed: each flow (its goodput, retransmissions, RTO expiries,
//! requests), and each link two or more flows share (Jain's index of their goodputs, how busy
//! it was, what it dropped), as text or as one JSON object (`--stats json`).

use ferry::ladder::Ladder;
use ferry::sim::world::WorldEvents;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use ferry::sim::world::{FlowReport, RunError, SharedLink, World};
use ferry::Stats;

use crate::report::{merged, with_counters};

/// A finished run and what it showed.
pub struct Outcome<'a> {
    pub scenario: &'a Path,
    pub seed: u64,
    pub world: &'a World,
    pub reports: Vec<FlowReport>,
    pub shared: Vec<SharedLink>,
    /// The routers with a NAT.
    pub nats: Vec<String>,
    /// Why the run ended badly, if it did.
    pub error: Option<RunError>,
    pub wall_seconds: f64,
    /// The run's ladder diagram, if `--ladder` asked for one.
    pub ladder: Option<Ladder>,
    /// Every host's connection trace events, if `--trace` asked for them.
    pub events: Option<WorldEvents>,
}

impl Outcome<'_> {
    /// The shared link most flows cross (the first of them): the scenario's bottleneck.
    fn most_shared(&self) -> Option<&SharedLink> {
        self.shared.iter().rev().max_by_key(|link| link.flows.len())
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A connection's counters, with the keys `ferry sim --stats json` uses (a flow passes links,
/// not a fault injector of its own: the links report those).
fn counters(stats: &[&Stats]) -> Value {
    let mut object = with_counters(json!({}), stats, &[]);
    if let Some(map) = object.as_object_mut() {
        map.remove("faults");
    }
    object
}

/// One flow: what it is, what it carried, and the counters of both its ends, summed (as
/// `ferry sim`'s are) and each alone in `client` and `server`.
fn flow_json(flow: &FlowReport) -> Value {
    let own = json!({
        "name": flow.name(),
        "host": flow.host,
        "to": flow.to,
        "kind": flow.kind.name(),
        "local": flow.local.map(|address| address.to_string()),
        "peer": flow.peer.map(|address| address.to_string()),
        "start_seconds": seconds(flow.started),
        "end_seconds": flow.ended.map(seconds),
        "bytes": flow.bytes,
        "goodput_bps": flow.goodput_bps(),
        "requests": flow.requests,
        "latency_ms": flow.latency.map(|latency| json!({
            "min": millis(latency.min),
            "mean": millis(latency.mean),
            "max": millis(latency.max),
        })),
        "srtt_ms": flow.stats.and_then(|stats| stats.smoothed_rtt).map(millis),
        "error": flow.error,
        "client": flow.stats.as_ref().map(|stats| counters(&[stats])),
        "server": flow.server_stats.as_ref().map(|stats| counters(&[stats])),
    });
    let ends: Vec<&Stats> = flow.stats.iter().chain(&flow.server_stats).collect();
    merged(counters(&ends), own)
}

/// Retransmissions and RTO expiries at both ends of `flow`.
fn retransmissions_and_rtos(flow: &FlowReport) -> (u64, u64) {
    flow.stats
        .iter()
        .chain(&flow.server_stats)
        .fold((0, 0), |(retransmissions, rtos), stats| {
            (
                retransmissions + stats.retransmissions.total(),
                rtos + stats.rto_timeouts,
            )
        })
}

/// One shared link.
fn link_json(link: &SharedLink, reports: &[FlowReport]) -> Value {
    let faults = link.report.faults;
    json!({
        "from": link.from,
        "to": link.to,
        "flows": link.flows.iter().map(|&i| reports[i].name()).collect::<Vec<_>>(),
        "jain_index": link.jain_index,
        "busy": link.busy,
        "rate_bps": link.report.rate_bps,
        "delivered": link.report.link.delivered,
        "delivered_bytes": link.report.delivered_bytes,
        "queue_drops": link.report.link.queue_drops,
        "faults": {
            "dropped": faults.dropped,
            "corrupted": faults.corrupted,
            "duplicated": faults.duplicated,
            "reordered": faults.reordered,
        },
    })
}

/// One NAT: its behaviour, what it translated and what it dropped, by reason.
fn nat_json(world: &World, router: &str) -> Value {
    let Ok(nat) = world.nat(router) else {
        return json!({ "router": router });
    };
    let stats = nat.stats();
    json!({
        "router": router,
        "public_address": nat.public_address().map(|address| address.to_string()),
        "behaviour": nat.config().to_string(),
        "outbound": stats.outbound,
        "inbound": stats.inbound,
        "hairpinned": stats.hairpinned,
        "errors_translated": stats.errors_translated,
        "mappings_made": stats.mappings_made,
        "drops": world.router_stats(router).map(|stats| stats.middlebox_drops).unwrap_or_default(),
    })
}

/// The JSON report: the run, each flow, each shared link, each NAT, and the bottleneck's
/// `jain_index`.
pub fn json_report(outcome: &Outcome) -> Value {
    let reports = &outcome.reports;
    let finished = outcome.error.is_none() && reports.iter().all(|flow| flow.ended.is_some());
    let run = json!({
        "scenario": outcome.scenario.display().to_string(),
        "seed": outcome.seed,
        "finished": finished,
        "error": outcome.error.as_ref().map(ToString::to_string),
        "sim_seconds": seconds(outcome.world.now()),
        "wall_seconds": outcome.wall_seconds,
        "events": outcome.world.events(),
        "jain_index": outcome.most_shared().and_then(|link| link.jain_index),
    });
    merged(
        run,
        json!({
            "flows": reports.iter().map(flow_json).collect::<Vec<_>>(),
            "shared_links": outcome
                .shared
                .iter()
                .map(|link| link_json(link, reports))
                .collect::<Vec<_>>(),
            "nats": outcome
                .nats
                .iter()
                .map(|router| nat_json(outcome.world, router))
                .collect::<Vec<_>>(),
        }),
    )
}

/// The text report: a line for the run, a table of flows, a line per shared link.
pub fn text_report(outcome: &Outcome) -> String {
    let mut text = format!(
        "ferry sim --scenario {}: seed {}, {:.3} s simulated ({:.3} s of wall time), {} events\n",
        outcome.scenario.display(),
        outcome.seed,
        seconds(outcome.world.now()),
        outcome.wall_seconds,
        outcome.world.events()
    );
    let width = outcome
        .reports
        .iter()
        .map(|flow| flow.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    text.push_str(&format!(
        "{:width$}  {:>12}  {:>9}  {:>9}  {:>14}  {:>11}  {:>4}  outcome\n",
        "flow", "bytes", "start s", "end s", "goodput Mbit/s", "retransmits", "RTOs"
    ));
    for flow in &outcome.reports {
        let (retransmissions, rtos) = retransmissions_and_rtos(flow);
        let outcome = match (&flow.error, flow.ended, flow.latency) {
            (Some(error), _, _) => format!("failed: {error}"),
            (None, None, _) => "did not finish".to_string(),
            (None, Some(_), Some(latency)) => format!(
                "{} requests, {:.1}/{:.1}/{:.1} ms min/mean/max",
                flow.requests,
                millis(latency.min),
                millis(latency.mean),
                millis(latency.max)
            ),
            (None, Some(_), None) => "done".to_string(),
        };
        text.push_str(&format!(
            "{:width$}  {:>12}  {:>9.3}  {:>9}  {:>14.3}  {:>11}  {:>4}  {outcome}\n",
            flow.name(),
            flow.bytes,
            seconds(flow.started),
            flow.ended
                .map_or("-".to_string(), |ended| format!("{:.3}", seconds(ended))),
            flow.goodput_bps() / 1e6,
            retransmissions,
            rtos,
        ));
    }
    for link in &outcome.shared {
        let jain = link
            .jain_index
            .map_or("-".to_string(), |jain| format!("{jain:.3}"));
        let busy = link
            .busy
            .map_or("-".to_string(), |busy| format!("{:.1}%", busy * 100.0));
        text.push_str(&format!(
            "shared link {} -> {}: {} flows, Jain's index {jain}, busy {busy}, {} queue drops\n",
            link.from,
            link.to,
            link.flows.len(),
            link.report.link.queue_drops
        ));
    }
    for router in &outcome.nats {
        if let Ok(nat) = outcome.world.nat(router) {
            let stats = nat.stats();
            let dropped: u64 = outcome
                .world
                .router_stats(router)
                .map_or(0, |stats| stats.middlebox_drops.values().sum());
            text.push_str(&format!(
                "NAT on {router} ({}): {} out, {} in, {} hairpinned, {} mappings, {dropped} dropped\n",
                nat.config(),
                stats.outbound,
                stats.inbound,
                stats.hairpinned,
                stats.mappings_made,
            ));
        }
    }
    if let Some(error) = &outcome.error {
        text.push_str(&format!("the run failed: {error}\n"));
    }
    text
}
