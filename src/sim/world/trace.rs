//! The connection trace of a world run ([`World::record_events`](super::World::record_events)):
//! every connection trace event ([`crate::conn::TraceEvent`]) of every host's Ferry sockets,
//! for a qlog file per host, as the two-host network records them for its two hosts
//! ([`crate::sim::HostEvents`]).
//!
//! A host of a world may hold many connections (a server's, one per client; a socket reopened
//! on the same port; a host restarted), so each event names its connection: the host's
//! connection number, from 0 in the order their first events came, and the two ends, the
//! host's own address and port and its peer's as the host sees it (behind a NAT, the NAT's
//! public one). Events are taken from a socket's endpoint each time the world flushes it,
//! which it does after every datagram, timer and program call that touched it, so they come
//! in time order; a socket a crash takes is drained first.
//!
//! **Bounds.** At most [`MAX_RECORDED_EVENTS`] events are kept, as in the two-host network;
//! those beyond, and those a full endpoint queue dropped, are counted in
//! [`WorldEvents::omitted`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::host::SocketKey;
use super::topology::{NodeId, Nodes};
use crate::conn::TracedEvent;
use crate::endpoint::ConnectionHandle;
use crate::sim::MAX_RECORDED_EVENTS;

/// Every host's connection trace events of a world run, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorldEvents {
    /// The world's hosts, in the order its description named them: an event's
    /// [`host`](WorldTracedEvent::host) indexes this list.
    pub hosts: Vec<String>,
    /// Each event, with its host and connection.
    pub events: Vec<WorldTracedEvent>,
    /// Events left out: beyond [`MAX_RECORDED_EVENTS`], or dropped by a full queue in an
    /// endpoint or connection.
    pub omitted: u64,
}

/// One connection trace event of a world host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorldTracedEvent {
    /// The host, an index into [`WorldEvents::hosts`].
    pub host: usize,
    /// Which of the host's connections: numbered from 0 in the order their first events
    /// came.
    pub connection: u64,
    /// The connection's own end: the host's address and the socket's port.
    pub local: SocketAddr,
    /// Its peer, as the host sees it.
    pub peer: SocketAddr,
    /// The event.
    pub traced: TracedEvent,
}

/// A connection's number and ends, found at its first event.
#[derive(Clone, Copy, Debug)]
struct Named {
    connection: u64,
    local: SocketAddr,
    peer: SocketAddr,
}

/// Records a [`WorldEvents`].
#[derive(Debug)]
pub(super) struct WorldTrace {
    record: WorldEvents,
    /// Each host's index in the record, by node.
    hosts: BTreeMap<NodeId, usize>,
    /// The connections seen, by socket and handle.
    named: BTreeMap<(SocketKey, ConnectionHandle), Named>,
    /// How many connections each host has had, by index.
    counts: Vec<u64>,
}

impl WorldTrace {
    /// A recorder of the hosts of `nodes`.
    pub(super) fn new(nodes: &Nodes) -> WorldTrace {
        let mut hosts = BTreeMap::new();
        let mut names = Vec::new();
        for (id, node) in nodes.list.iter().enumerate() {
            if node.host().is_some() {
                hosts.insert(id, names.len());
                names.push(node.name.clone());
            }
        }
        WorldTrace {
            counts: vec![0; names.len()],
            record: WorldEvents {
                hosts: names,
                ..WorldEvents::default()
            },
            hosts,
            named: BTreeMap::new(),
        }
    }

    /// A socket was opened as `key`: a connection of an earlier socket of that port is
    /// another connection than one of this socket with the same handle.
    pub(super) fn opened(&mut self, key: SocketKey) {
        self.named.retain(|(socket, _), _| *socket != key);
    }

    /// Record what the endpoint of socket `key` traced, `taken`: each event with its
    /// connection's handle and peer (if the endpoint still has the connection). `local` is
    /// the socket's address as bound; `source` gives its address toward a peer (for a socket
    /// bound to every address).
    pub(super) fn record(
        &mut self,
        key: SocketKey,
        local: SocketAddr,
        taken: Vec<(ConnectionHandle, Option<SocketAddr>, TracedEvent)>,
        source: impl Fn(SocketAddr) -> Option<SocketAddr>,
    ) {
        let Some(&host) = self.hosts.get(&key.host) else {
            return;
        };
        for (handle, peer, traced) in taken {
            if self.record.events.len() >= MAX_RECORDED_EVENTS {
                self.record.omitted += 1;
                continue;
            }
            let named = *self.named.entry((key, handle)).or_insert_with(|| {
                // A connection gone before its first event was taken (it cannot be: the
                // world takes them at every flush) shows an unspecified peer.
                let peer = peer.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
                let connection = self.counts[host];
                self.counts[host] += 1;
                Named {
                    connection,
                    local: source(peer).unwrap_or(local),
                    peer,
                }
            });
            self.record.events.push(WorldTracedEvent {
                host,
                connection: named.connection,
                local: named.local,
                peer: named.peer,
                traced,
            });
        }
    }

    /// Count `dropped` events an endpoint's queues lost (once per endpoint, as it goes).
    pub(super) fn dropped(&mut self, dropped: u64) {
        self.record.omitted += dropped;
    }

    /// The record.
    pub(super) fn finish(self) -> WorldEvents {
        self.record
    }
}
