//! What the built-in programs ([`BuiltIn`](super::BuiltIn)) measured, one [`FlowReport`] per
//! client connection, and what the flows sharing a link show: Jain's fairness index of their
//! goodputs and how busy the link was ([`shared_links`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::{LinkReport, World};
use crate::conn::Stats;

/// What a flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowKind {
    /// A bulk sender's connection ([`BuiltIn::BulkSend`](super::BuiltIn::BulkSend)).
    Bulk,
    /// A request/response client's connection
    /// ([`BuiltIn::Requests`](super::BuiltIn::Requests)).
    Requests,
}

impl FlowKind {
    /// Its name in reports: `bulk`, `requests`.
    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Bulk => "bulk",
            FlowKind::Requests => "requests",
        }
    }
}

/// One client connection of a built-in program, as its client saw it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FlowReport {
    /// The host the client ran on.
    pub host: String,
    /// Where it connected, as the program was told (`receiver:5000`).
    pub to: String,
    /// Bulk, or requests.
    pub kind: FlowKind,
    /// Its own address, once connected.
    pub local: Option<SocketAddr>,
    /// Its peer's address, once connected.
    pub peer: Option<SocketAddr>,
    /// When the client began to connect, since the run's start.
    pub started: Duration,
    /// When it was done: for a bulk flow, when the peer had acknowledged every byte and the
    /// FIN; for requests, when the last response had arrived and the FIN was acknowledged.
    /// `None` if it failed, or the run ended first.
    pub ended: Option<Duration>,
    /// Application bytes the flow carried: what a bulk flow wrote (all acknowledged by the
    /// peer once it has ended), the requests written and responses read of a request flow.
    pub bytes: u64,
    /// Responses received (request flows).
    pub requests: u64,
    /// The shortest, the mean and the longest request's time, from its first byte written
    /// to its response's last byte read (request flows that completed one).
    pub latency: Option<Latency>,
    /// The client connection's counters when it ended (or failed).
    pub stats: Option<Stats>,
    /// The server's side of the connection, as the built-in server saw it when the client's
    /// FIN arrived (everything it sent acknowledged): what it retransmitted of the responses.
    /// `None` for a peer that is no built-in server, or whose addresses a middlebox rewrote
    /// (the two sides are matched by their addresses).
    pub server_stats: Option<Stats>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Request times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// The shortest.
    pub min: Duration,
    /// The mean.
    pub mean: Duration,
    /// The longest.
    pub max: Duration,
}

impl FlowReport {
    /// A flow `host` starts toward `to` at `started`.
    fn new(host: String, to: String, kind: FlowKind, started: Duration) -> FlowReport {
        FlowReport {
            host,
            to,
            kind,
            local: None,
            peer: None,
            started,
            ended: None,
            bytes: 0,
            requests: 0,
            latency: None,
            stats: None,
            server_stats: None,
            error: None,
        }
    }

    /// `host -> to`, as reports name a flow.
    pub fn name(&self) -> String {
        format!("{} -> {}", self.host, self.to)
    }

    /// How long it took, if it ended.
    pub fn duration(&self) -> Option<Duration> {
        self.ended.map(|ended| ended.saturating_sub(self.started))
    }

    /// Bits of [`bytes`](Self::bytes) per second of its [`duration`](Self::duration) (0 until
    /// it has ended).
    pub fn goodput_bps(&self) -> f64 {
        match self.duration() {
            Some(duration) if !duration.is_zero() => {
                self.bytes as f64 * 8.0 / duration.as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The log the built-in clients write their [`FlowReport`]s to, in the order they started:
/// clone it into each program, read it after the run (or between steps: a flow under way
/// shows what it has done so far).
#[derive(Clone, Debug, Default)]
pub struct Flows(Rc<RefCell<Vec<FlowReport>>>);

impl Flows {
    /// Every flow so far.
    pub fn reports(&self) -> Vec<FlowReport> {
        self.0.borrow().clone()
    }

    /// Start a flow's record; its number, for [`update`](Self::update).
    pub(super) fn open(
        &self,
        host: String,
        to: String,
        kind: FlowKind,
        started: Duration,
    ) -> usize {
        let mut flows = self.0.borrow_mut();
        flows.push(FlowReport::new(host, to, kind, started));
        flows.len() - 1
    }

    /// A built-in server's connection from `peer` to its `local` address counted `stats`:
    /// the server side of the flow whose client connected from `peer` to `local`.
    pub(super) fn server_side(&self, local: SocketAddr, peer: SocketAddr, stats: Stats) {
        let mut flows = self.0.borrow_mut();
        let flow = flows
            .iter_mut()
            .rev()
            .find(|flow| flow.local == Some(peer) && flow.peer == Some(local));
        if let Some(flow) = flow {
            flow.server_stats = Some(stats);
        }
    }

    pub(super) fn update(&self, flow: usize, change: impl FnOnce(&mut FlowReport)) {
        if let Some(report) = self.0.borrow_mut().get_mut(flow) {
            change(report);
        }
    }
}

/// Jain's fairness index of `values` (Jain, Chiu and Hawe, DEC-TR-301, 1984):
/// (sum x)^2 / (n * sum x^2), 1 when all are equal, 1/n when one has everything. `None` for
/// no values, or all zero.
pub fn jain_index(values: &[f64]) -> Option<f64> {
    let sum: f64 = values.iter().sum();
    let squares: f64 = values.iter().map(|x| x * x).sum();
    (squares > 0.0).then(|| sum * sum / (values.len() as f64 * squares))
}

/// A link direction that two or more flows cross, and what they show there.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SharedLink {
    /// The node that sends on it.
    pub from: String,
    /// The node that receives.
    pub to: String,
    /// The flows that cross it, as indices into the reports given to [`shared_links`].
    pub flows: Vec<usize>,
    /// Jain's index of their goodputs ([`jain_index`]); `None` if none delivered anything.
    pub jain_index: Option<f64>,
    /// The share of the time from the first of them starting to the last ending that the
    /// link spent sending ([`LinkReport::busy_fraction`]); `None` for a link without a rate,
    /// or while one of the flows has not ended.
    pub busy: Option<f64>,
    /// What the link direction counted.
    pub report: LinkReport,
}

/// The link directions that two or more of `flows` cross in `world`, in the direction of
/// their data (from the client to its peer, by the routing tables: [`World::path`]), in the
/// order the flows first reach them. A flow not yet connected crosses nothing.
pub fn shared_links(world: &World, flows: &[FlowReport]) -> Vec<SharedLink> {
    let mut crossing: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    let mut order = Vec::new();
    for (index, flow) in flows.iter().enumerate() {
        let Some(peer) = flow.peer else {
            continue;
        };
        for hop in world.path(&flow.host, peer.ip()).unwrap_or_default() {
            let users = crossing.entry(hop.clone()).or_default();
            if users.is_empty() {
                order.push(hop);
            }
            users.push(index);
        }
    }
    order
        .into_iter()
        .filter_map(|(from, to)| {
            let users = crossing.remove(&(from.clone(), to.clone()))?;
            if users.len() < 2 {
                return None;
            }
            let report = world.link_stats(&from, &to).ok()?;
            let goodputs: Vec<f64> = users.iter().map(|&i| flows[i].goodput_bps()).collect();
            let busy = busy_window(users.iter().map(|&i| &flows[i]))
                .and_then(|window| report.busy_fraction(window));
            Some(SharedLink {
                from,
                to,
                jain_index: jain_index(&goodputs),
                busy,
                flows: users,
                report,
            })
        })
        .collect()
}

/// From the first of `flows` starting to the last ending; `None` while one has not ended.
fn busy_window<'a>(flows: impl Iterator<Item = &'a FlowReport>) -> Option<Duration> {
    let mut start = Duration::MAX;
    let mut end = Duration::ZERO;
    for flow in flows {
        start = start.min(flow.started);
        end = end.max(flow.ended?);
    }
    Some(end.saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_is_one_when_equal_and_one_over_n_when_one_takes_all() {
        assert_eq!(jain_index(&[5.0, 5.0, 5.0, 5.0]), Some(1.0));
        assert_eq!(jain_index(&[8.0, 0.0, 0.0, 0.0]), Some(0.25));
        // (1 + 3)^2 / (2 * (1 + 9)) = 0.8
        assert_eq!(jain_index(&[1.0, 3.0]), Some(0.8));
        assert_eq!(jain_index(&[]), None);
        assert_eq!(jain_index(&[0.0, 0.0]), None);
    }
}
