//! The world's state and how datagrams move through it: a host's socket sends, the host's
//! route picks the interface, the interface's link carries it (faults, queue, delay), the far
//! node receives it (a router forwards it on, a host hands it to the socket on its port), and
//! what cannot go on is dropped, counted and noted in the captures. The programs reach this
//! state through their sockets; the world's loop ([`World`](super::World)) moves its clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Waker;
use std::time::Duration;

use super::agenda::{Agenda, Due};
use super::datagram::{Header, Kind, UnreachableKind, DEFAULT_TTL};
use super::host::{Host, SocketKey};
use super::ladder::{Departure, WorldLadder};
use super::links::{Carried, WorldLink, HOLD_LIMIT};
use super::router::{Forwarding, Router};
use super::socket::{FerrySocket, SideSocket, Socket, UdpSocketState};
use super::taps::Taps;
use super::topology::{LinkId, NodeId, Nodes, Role};
use super::trace::{WorldEvents, WorldTrace};
use crate::conn::{Config, Reason, State};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::fault::Decision;
use crate::link::{LinkEvent, Offered};
use crate::time::Instant;

/// A program's timer: never reused.
pub(super) type TimerId = u64;

/// The traffic between two hosts: partitioned, or held until released.
#[derive(Debug, Default)]
struct PairRule {
    partitioned: bool,
    /// What arrived while held, oldest first.
    held: Option<VecDeque<Arrival>>,
}

/// A datagram that reached a host: the host, the link and side it came by, and the datagram.
#[derive(Debug)]
struct Arrival {
    host: NodeId,
    link: LinkId,
    side: usize,
    header: Header,
    bytes: Vec<u8>,
}

/// Why a datagram left a node: the capture's first comment.
#[derive(Debug)]
pub(super) enum Why {
    /// A Ferry segment, sent for this reason.
    Sent(Reason),
    /// A program's UDP datagram.
    Udp,
    /// Forwarded by a router, with a middlebox's rewrite if any.
    Forwarded(Option<String>),
    /// An unreachable.
    Unreachable,
}

/// Everything the world is, but its programs.
#[derive(Debug)]
pub(super) struct Core {
    pub(super) seed: u64,
    pub(super) now: Instant,
    /// The connection settings every socket's endpoint uses.
    pub(super) connection: Config,
    /// The linger a new stream starts with.
    pub(super) linger: Option<Duration>,
    pub(super) nodes: Nodes,
    pub(super) links: Vec<WorldLink>,
    pub(super) agenda: Agenda,
    timers: BTreeMap<TimerId, Waker>,
    next_timer: TimerId,
    /// Sockets whose endpoint may have something to send, or a new deadline.
    dirty: BTreeSet<SocketKey>,
    /// Rules between pairs of hosts, the lower node first.
    pairs: BTreeMap<(NodeId, NodeId), PairRule>,
    pub(super) taps: Taps,
    /// The ladder diagram being recorded, if one is.
    pub(super) ladder: Option<WorldLadder>,
    /// The connection trace being recorded, if one is.
    pub(super) trace: Option<WorldTrace>,
    /// Datagrams dropped by a partition between two hosts.
    pub(super) pair_partition_drops: u64,
    /// Datagrams dropped by a hold between two hosts that held [`HOLD_LIMIT`] already.
    pub(super) pair_hold_drops: u64,
}

impl Core {
    pub(super) fn new(
        seed: u64,
        connection: Config,
        linger: Option<Duration>,
        nodes: Nodes,
        links: Vec<WorldLink>,
    ) -> Core {
        Core {
            seed,
            now: Instant::ZERO,
            connection,
            linger,
            nodes,
            links,
            agenda: Agenda::default(),
            timers: BTreeMap::new(),
            next_timer: 0,
            dirty: BTreeSet::new(),
            pairs: BTreeMap::new(),
            taps: Taps::default(),
            ladder: None,
            trace: None,
            pair_partition_drops: 0,
            pair_hold_drops: 0,
        }
    }

    // ---- Programs' timers ----

    /// Wake `waker` at `at`: a new timer, or `existing` moved.
    pub(super) fn set_timer(
        &mut self,
        existing: Option<TimerId>,
        at: Instant,
        waker: &Waker,
    ) -> TimerId {
        let timer = existing.unwrap_or_else(|| {
            self.next_timer += 1;
            self.next_timer
        });
        self.timers.insert(timer, waker.clone());
        self.agenda.book(Due::Timer(timer), Some(at));
        timer
    }

    pub(super) fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.remove(&timer);
        self.agenda.book(Due::Timer(timer), None);
    }

    fn timer_due(&mut self, timer: TimerId) {
        if let Some(waker) = self.timers.remove(&timer) {
            waker.wake();
        }
    }

    /// Do what `due` says is due now (anything but a control event, which the world applies).
    pub(super) fn handle(&mut self, due: Due) {
        match due {
            Due::Control(_) => {}
            Due::Link { link, side } => self.link_due(link, side),
            Due::Socket(key) => self.socket_due(key),
            Due::Timer(timer) => self.timer_due(timer),
            Due::Linger(key, handle) => self.linger_due(key, handle),
        }
    }

    // ---- Hosts and their sockets ----

    /// Host `id`, if it is one.
    pub(super) fn host(&self, id: NodeId) -> Option<&Host> {
        self.nodes.list.get(id).and_then(|node| node.host())
    }

    fn host_mut(&mut self, id: NodeId) -> Option<&mut Host> {
        self.nodes.list.get_mut(id).and_then(|node| node.host_mut())
    }

    /// The socket `key` names, if its host is still in that incarnation and has it.
    fn socket_mut(&mut self, key: SocketKey) -> Option<&mut Socket> {
        let host = self.host_mut(key.host)?;
        if host.incarnation != key.incarnation || !host.up {
            return None;
        }
        host.sockets.get_mut(&key.port)
    }

    pub(super) fn ferry_socket_mut(&mut self, key: SocketKey) -> Option<&mut FerrySocket> {
        match self.socket_mut(key)? {
            Socket::Ferry(socket) => Some(socket),
            Socket::Udp(_) | Socket::Side(_) => None,
        }
    }

    pub(super) fn udp_socket_mut(&mut self, key: SocketKey) -> Option<&mut UdpSocketState> {
        match self.socket_mut(key)? {
            Socket::Udp(socket) => Some(socket),
            Socket::Ferry(_) | Socket::Side(_) => None,
        }
    }

    /// The socket's endpoint may have something to send: the world sends it once the
    /// programs have run.
    pub(super) fn mark_dirty(&mut self, key: SocketKey) {
        self.dirty.insert(key);
    }

    /// Open a socket on host `id` (in `incarnation`) bound to `local` (port 0: an ephemeral
    /// port); `make` builds it from its bound address and, for a Ferry socket, its endpoint.
    pub(super) fn open_socket(
        &mut self,
        id: NodeId,
        incarnation: u32,
        local: SocketAddr,
        make: impl FnOnce(SocketAddr, Endpoint) -> Socket,
    ) -> io::Result<SocketKey> {
        let connection = self.connection.clone();
        let node = &mut self.nodes.list[id];
        if !local.ip().is_unspecified() && !node.owns(local.ip()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "{} is not an address of host {:?}, whose addresses are {:?}",
                    local.ip(),
                    node.name,
                    node.addresses
                ),
            ));
        }
        let Some(host) = node.host_mut() else {
            return Err(io::Error::other("only a host has sockets"));
        };
        if host.incarnation != incarnation || !host.up {
            return Err(host_gone());
        }
        let port = host.claim_port(local)?;
        // The builder checked the settings; a failure would be InvalidInput.
        let mut endpoint = Endpoint::with_seed(connection, host.next_endpoint_seed())?;
        endpoint.set_tracing(self.trace.is_some());
        let socket = make(SocketAddr::new(local.ip(), port), endpoint);
        host.sockets.insert(port, socket);
        let key = host.key(id, port);
        if let Some(trace) = &mut self.trace {
            trace.opened(key);
        }
        Ok(key)
    }

    /// The address a socket of host `id` bound to `local` sends to `peer` from: its bound
    /// address, or the host's first address of the peer's family.
    pub(super) fn source_address(
        &self,
        id: NodeId,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Option<SocketAddr> {
        if !local.ip().is_unspecified() {
            return Some(local);
        }
        let ip = self.nodes.list[id].address_toward(peer.ip())?;
        Some(SocketAddr::new(ip, local.port()))
    }

    /// Where a socket of host `id` bound to `local` sends to `peer` from, or why it cannot:
    /// the host has no address of the peer's family, or no route to it (a kernel's
    /// `ENETUNREACH`, at once, for a connect or a send to such a destination).
    pub(super) fn route_from(
        &self,
        id: NodeId,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let unreachable = |why: String| io::Error::new(io::ErrorKind::NetworkUnreachable, why);
        if self.nodes.list[id].routes.lookup(peer.ip()).is_none() {
            return Err(unreachable(format!(
                "this host has no route to {}",
                peer.ip()
            )));
        }
        self.source_address(id, local, peer)
            .ok_or_else(|| unreachable(format!("this host has no address of {peer}'s family")))
    }

    /// The stream holding `handle` on socket `key` was dropped: close the connection without
    /// waiting, as `ferry::tokio` does (a FIN after the data, or a RST for unread data), and
    /// reset it if the close is still owed when its linger runs out.
    pub(super) fn release_stream(&mut self, key: SocketKey, handle: ConnectionHandle) {
        let now = self.now;
        let Some(socket) = self.ferry_socket_mut(key) else {
            return;
        };
        let Some(held) = socket.let_go(handle) else {
            return;
        };
        if held.linger == Some(Duration::ZERO) {
            if let Some(connection) = socket.endpoint.connection_mut(handle) {
                connection.abort();
            }
        }
        socket.endpoint.detach(handle);
        if let Some(linger) = held.linger.filter(|linger| !linger.is_zero()) {
            self.agenda
                .book(Due::Linger(key, handle), Some(now + linger));
        }
        self.mark_dirty(key);
    }

    /// The listener on socket `key` was dropped: stop listening (connections not yet accepted
    /// are reset; accepted ones go on).
    pub(super) fn release_listener(&mut self, key: SocketKey) {
        if let Some(socket) = self.ferry_socket_mut(key) {
            socket.endpoint.stop_listening();
            socket.users = socket.users.saturating_sub(1);
            self.mark_dirty(key);
        }
    }

    /// A UDP socket was dropped.
    pub(super) fn release_udp(&mut self, key: SocketKey) {
        if self.udp_socket_mut(key).is_some() {
            if let Some(host) = self.host_mut(key.host) {
                host.sockets.remove(&key.port);
            }
        }
    }

    fn socket_due(&mut self, key: SocketKey) {
        let now = self.now;
        let recording = self.ladder.is_some();
        if let Some(socket) = self.ferry_socket_mut(key) {
            // Whether one of the endpoint's timers fell due, for the ladder's timer marks.
            let due = recording && socket.endpoint.poll_timeout().is_some_and(|at| at <= now);
            socket.timeout(now);
            self.mark_dirty(key);
            if let Some(ladder) = self.ladder.as_mut().filter(|_| due) {
                ladder.timer_due(key.host, now);
            }
        }
    }

    /// A dropped stream's linger ran out: a close still owed is reset, so the peer learns at
    /// once and the socket is freed, as the tokio driver does.
    fn linger_due(&mut self, key: SocketKey, handle: ConnectionHandle) {
        let Some(socket) = self.ferry_socket_mut(key) else {
            return;
        };
        let Some(connection) = socket.endpoint.connection_mut(handle) else {
            return;
        };
        if !matches!(
            connection.state(),
            State::FinWait2 | State::TimeWait | State::Closed
        ) {
            connection.abort();
            self.mark_dirty(key);
        }
    }

    /// Send what the sockets touched since the last flush have to send, book their next
    /// deadlines, and free the ports of sockets nobody uses any more.
    pub(super) fn flush(&mut self) {
        while let Some(key) = self.dirty.pop_first() {
            let now = self.now;
            self.open_side_sockets(key);
            let Some(socket) = self.ferry_socket_mut(key) else {
                self.agenda.book(Due::Socket(key), None);
                continue;
            };
            let local = socket.local;
            let transmits: Vec<_> =
                std::iter::from_fn(|| socket.endpoint.poll_transmit(now)).collect();
            let side_transmits: Vec<_> =
                std::iter::from_fn(|| socket.endpoint.poll_side_transmit(now)).collect();
            // Each from its port: the socket's own, or the side socket the punch chose.
            let transmits: Vec<_> = transmits
                .into_iter()
                .map(|transmit| (socket.source_port_for(transmit.destination), transmit))
                .chain(side_transmits.into_iter().filter_map(|(side, transmit)| {
                    Some((Some(socket.sides.get(side).copied()??), transmit))
                }))
                .collect();
            let deadline = socket.endpoint.poll_timeout();
            let unused = socket.is_unused();
            // Side sockets the punch no longer needs (all of them, with the socket).
            let mut closed = Vec::new();
            for (side, port) in socket.sides.iter_mut().enumerate() {
                if unused || !socket.endpoint.punch_keeps_side(side) {
                    closed.extend(port.take());
                }
            }
            self.trace_socket(key, unused);
            if let Some(host) = self.host_mut(key.host) {
                for port in closed {
                    host.sockets.remove(&port);
                }
            }
            if unused {
                if let Some(host) = self.host_mut(key.host) {
                    host.sockets.remove(&key.port);
                }
                self.agenda.book(Due::Socket(key), None);
            } else {
                self.book_socket(key, deadline);
            }
            for (port, transmit) in transmits {
                let Some(mut source) = self.source_address(key.host, local, transmit.destination)
                else {
                    self.count_unroutable(key.host);
                    continue;
                };
                if let Some(port) = port {
                    source.set_port(port);
                }
                let header = Header::udp(key.host, source, transmit.destination);
                self.send(
                    key.host,
                    header,
                    transmit.contents,
                    Why::Sent(transmit.reason),
                );
            }
        }
    }

    /// Open the side sockets Ferry socket `key`'s punch asks for, once: each on an ephemeral
    /// port of its host, its datagrams going to the owner's endpoint (birthday probing,
    /// docs/protocol.md section 9.4). A host out of ephemeral ports opens fewer.
    fn open_side_sockets(&mut self, key: SocketKey) {
        let Some(socket) = self.ferry_socket_mut(key) else {
            return;
        };
        let wanted = socket.endpoint.punch_side_sockets();
        if wanted == 0 || !socket.sides.is_empty() {
            return;
        }
        let Some(host) = self.host_mut(key.host) else {
            return;
        };
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut ports = Vec::with_capacity(wanted);
        for side in 0..wanted {
            let Ok(port) = host.claim_port(any) else {
                break;
            };
            host.sockets.insert(
                port,
                Socket::Side(SideSocket {
                    owner: key.port,
                    side,
                }),
            );
            ports.push(Some(port));
        }
        if let Some(socket) = self.ferry_socket_mut(key) {
            socket.sides = ports;
        }
    }

    /// Book socket `key`'s next deadline. A deadline that moved later (the retransmission
    /// timer, restarted by nearly every ACK) keeps the earlier booking: when that comes, the
    /// endpoint finds nothing due, and the socket books its deadline of then. So a busy socket
    /// rebooks about once per timer period instead of once per segment, and nothing it does
    /// changes (an endpoint's timeout with nothing due does nothing).
    fn book_socket(&mut self, key: SocketKey, deadline: Option<Instant>) {
        let due = Due::Socket(key);
        if let (Some(deadline), Some(booked)) = (deadline, self.agenda.booked(due)) {
            if booked <= deadline {
                return;
            }
        }
        self.agenda.book(due, deadline);
    }

    /// Move what Ferry socket `key`'s endpoint traced into the trace, if one is recorded;
    /// `last`, for a socket about to go, with the count of events its queues dropped.
    fn trace_socket(&mut self, key: SocketKey, last: bool) {
        let Some(mut trace) = self.trace.take() else {
            return;
        };
        let Some(socket) = self.ferry_socket_mut(key) else {
            self.trace = Some(trace);
            return;
        };
        let local = socket.local;
        let mut taken = Vec::new();
        while let Some((handle, traced)) = socket.endpoint.poll_trace_event() {
            let peer = socket.endpoint.connection(handle).map(|c| c.remote());
            taken.push((handle, peer, traced));
        }
        let dropped = match last {
            true => socket.endpoint.trace_events_dropped(),
            false => 0,
        };
        trace.record(key, local, taken, |peer| {
            self.source_address(key.host, local, peer)
        });
        trace.dropped(dropped);
        self.trace = Some(trace);
    }

    /// The trace recorded, if one is, with what every socket still open traced; recording
    /// stops.
    pub(super) fn take_trace(&mut self) -> Option<WorldEvents> {
        self.trace.as_ref()?;
        let keys: Vec<SocketKey> = (0..self.nodes.list.len())
            .filter_map(|id| self.host(id).map(|host| (id, host)))
            .flat_map(|(id, host)| host.sockets.keys().map(move |&port| host.key(id, port)))
            .collect();
        for key in keys {
            self.trace_socket(key, true);
            if let Some(socket) = self.ferry_socket_mut(key) {
                socket.endpoint.set_tracing(false);
            }
        }
        self.trace.take().map(WorldTrace::finish)
    }

    fn count_unroutable(&mut self, id: NodeId) {
        if let Some(host) = self.host_mut(id) {
            host.stats.unroutable += 1;
        }
    }

    // ---- Moving datagrams ----

    /// Node `from` sends a datagram: out of the interface its routes pick.
    pub(super) fn send(&mut self, from: NodeId, mut header: Header, bytes: Vec<u8>, why: Why) {
        if let Some(ladder) = &mut self.ladder {
            if self.nodes.list[from].host().is_some() {
                header.ladder = Some(ladder.number());
            }
        }
        match self.nodes.list[from].routes.lookup(header.destination.ip()) {
            Some(interface) => self.offer(from, interface, header, bytes, why),
            None => self.count_unroutable(from),
        }
    }

    /// Put a datagram on the link of `node`'s interface `interface`.
    fn offer(&mut self, node: NodeId, interface: usize, header: Header, bytes: Vec<u8>, why: Why) {
        let attachment = self.nodes.list[node].interfaces[interface];
        let (link, side) = (attachment.link, attachment.side);
        let now = self.now;
        let tapped = self.taps.is_tapped(link, side);
        let direction = &mut self.links[link].directions[side];
        if direction.partitioned {
            direction.partition_drops += 1;
            let mut frame = None;
            if tapped {
                let mut comments = comments(&why, &Decision::default());
                comments.push("dropped (link partitioned)".to_string());
                frame = self
                    .taps
                    .sent(link, side, now, &header, &bytes, comments, 0);
            }
            self.ladder_offered(node, (link, side), &header, &bytes, &why, None, frame);
            return;
        }
        let record = self.taps.next_record(link, side);
        let offered = direction.link.offer(
            now,
            &bytes,
            Carried {
                header: Box::new(header),
                record,
            },
        );
        let next = direction.link.poll_timeout();
        let mut frame = None;
        if tapped {
            let comments = comments(&why, &offered.decision);
            frame = self
                .taps
                .sent(link, side, now, &header, &bytes, comments, offered.copies);
        }
        let offered = Some(&offered);
        self.ladder_offered(node, (link, side), &header, &bytes, &why, offered, frame);
        self.agenda.book(Due::Link { link, side }, next);
    }

    /// Tell the ladder (if one is recorded) that `node` put a datagram on the link direction
    /// `(link, side)`, which did `offered` (`None`: it is cut); `frame` is its frame in the
    /// interface's capture.
    #[allow(clippy::too_many_arguments)]
    fn ladder_offered(
        &mut self,
        node: NodeId,
        (link, side): (LinkId, usize),
        header: &Header,
        bytes: &[u8],
        why: &Why,
        offered: Option<&Offered>,
        frame: Option<u64>,
    ) {
        let (Some(ladder), Some(number)) = (&mut self.ladder, header.ladder) else {
            return;
        };
        let far = self.links[link].far_end(side);
        let name = format!(
            "{}→{}",
            self.nodes.list[node].name, self.nodes.list[far].name
        );
        let reason = match why {
            Why::Sent(reason) => Some(*reason),
            Why::Forwarded(rewrite) => {
                if let Some(rewrite) = rewrite {
                    ladder.noted(number, rewrite);
                }
                match offered {
                    Some(offered) => ladder.forwarded(self.now, number, offered, &name),
                    None => {
                        ladder.dropped(self.now, number, format!("dropped ({name} partitioned)"))
                    }
                }
                return;
            }
            Why::Udp | Why::Unreachable => None,
        };
        let departure = Departure {
            host: node,
            header,
            bytes,
            reason,
            offered,
            link: name,
            frame,
        };
        ladder.sent(self.now, departure, &self.nodes, &self.links);
    }

    /// Tell the ladder (if one is recorded) that a copy of the datagram `header` describes
    /// was lost at `node` (a router or a host), for `cause`.
    fn ladder_dropped(&mut self, header: &Header, node: NodeId, cause: &str) {
        if let (Some(ladder), Some(number)) = (&mut self.ladder, header.ladder) {
            let at = &self.nodes.list[node].name;
            ladder.dropped(self.now, number, format!("{cause} (at {at})"));
        }
    }

    /// What a link direction has due now: copies reaching its queue, datagrams reaching the
    /// far end.
    fn link_due(&mut self, link: LinkId, side: usize) {
        let now = self.now;
        while let Some(event) = self.links[link].directions[side].link.poll(now) {
            match event {
                LinkEvent::Queued { ref tag, .. } => {
                    let comment = event.drop_comment();
                    if let Some(record) = tag.record {
                        self.taps.entered_queue(link, side, record, comment);
                    }
                    if let (Some(ladder), Some(number), Some(comment)) =
                        (&mut self.ladder, tag.header.ladder, comment)
                    {
                        let ends = self.links[link].ends.map(|end| end.node);
                        let (from, to) = (ends[side], ends[1 - side]);
                        let names = (&self.nodes.list[from].name, &self.nodes.list[to].name);
                        let cause = format!("{comment} on {}→{}", names.0, names.1);
                        ladder.dropped(now, number, cause);
                    }
                }
                LinkEvent::Delivered { tag, bytes } => {
                    self.links[link].directions[side].delivered_bytes += bytes.len() as u64;
                    self.delivered(link, side, *tag.header, bytes);
                }
            }
        }
        let next = self.links[link].directions[side].link.poll_timeout();
        self.agenda.book(Due::Link { link, side }, next);
    }

    /// A datagram reached the far end of a link direction, unless it is cut or held.
    fn delivered(&mut self, link: LinkId, side: usize, header: Header, bytes: Vec<u8>) {
        let far = self.links[link].far_end(side);
        let direction = &mut self.links[link].directions[side];
        if direction.partitioned {
            direction.partition_drops += 1;
            self.ladder_dropped(&header, far, "dropped (link partitioned)");
            return;
        }
        if let Some(held) = &mut direction.held {
            match held.len() < HOLD_LIMIT {
                true => held.push_back((header, bytes)),
                false => {
                    direction.hold_drops += 1;
                    self.ladder_dropped(&header, far, "dropped (the link's hold is full)");
                }
            }
            return;
        }
        self.arrive(link, side, header, bytes);
    }

    /// A datagram sent by `side` of `link` arrives at the far node.
    fn arrive(&mut self, link: LinkId, side: usize, header: Header, bytes: Vec<u8>) {
        let end = self.links[link].arrival(side);
        let far_side = 1 - side;
        match self.nodes.list[end.node].role {
            Role::Router(_) => {
                self.router_arrive(end.node, end.interface, link, far_side, header, bytes)
            }
            Role::Host(_) => self.host_arrive(Arrival {
                host: end.node,
                link,
                side: far_side,
                header,
                bytes,
            }),
        }
    }

    fn router_arrive(
        &mut self,
        id: NodeId,
        ingress: usize,
        link: LinkId,
        side: usize,
        header: Header,
        bytes: Vec<u8>,
    ) {
        let now = self.now;
        let node = &mut self.nodes.list[id];
        match Router::forward(node, ingress, now.since_epoch(), header, &bytes) {
            Forwarding::Forward {
                interface,
                header: forwarded,
                rewrite,
            } => {
                self.taps
                    .received(link, side, now, &header, &bytes, Vec::new());
                self.offer(id, interface, forwarded, bytes, Why::Forwarded(rewrite));
            }
            Forwarding::Drop(reason) => {
                self.ladder_dropped(&header, id, &reason);
                self.taps
                    .received(link, side, now, &header, &bytes, vec![reason]);
            }
            Forwarding::Unreachable(kind, why) => {
                let comment = format!("{why}: {kind} sent back");
                self.ladder_dropped(&header, id, &comment);
                self.taps
                    .received(link, side, now, &header, &bytes, vec![comment]);
                self.send_unreachable(id, &header, kind, &bytes);
            }
        }
    }

    /// Node `from` answers the datagram `about` with an unreachable of `kind` (never one
    /// about an unreachable).
    fn send_unreachable(
        &mut self,
        from: NodeId,
        about: &Header,
        kind: UnreachableKind,
        bytes: &[u8],
    ) {
        let Some(address) = self.nodes.list[from].address_toward(about.source.ip()) else {
            return;
        };
        if let Some((header, quoted)) = about.unreachable_reply(from, address, kind, bytes) {
            self.send(from, header, quoted, Why::Unreachable);
        }
    }

    fn host_arrive(&mut self, arrival: Arrival) {
        let node = &mut self.nodes.list[arrival.host];
        let addressed_here = node.owns(arrival.header.destination.ip());
        let Some(host) = node.host_mut() else {
            return;
        };
        if host.up && !addressed_here {
            host.stats.dropped_not_addressed_here += 1;
            let comment = "not addressed to this host: dropped".to_string();
            self.ladder_dropped(&arrival.header, arrival.host, &comment);
            self.tap_arrival(&arrival, vec![comment]);
            return;
        }
        let pair = pair_key(arrival.header.origin, arrival.host);
        if let Some(rule) = self.pairs.get_mut(&pair).filter(|_| host.up) {
            if rule.partitioned {
                self.pair_partition_drops += 1;
                let cause = "dropped (the hosts are partitioned)";
                self.ladder_dropped(&arrival.header, arrival.host, cause);
                return;
            }
            if let Some(held) = &mut rule.held {
                match held.len() < HOLD_LIMIT {
                    true => held.push_back(arrival),
                    false => {
                        self.pair_hold_drops += 1;
                        let cause = "dropped (the hold between the hosts is full)";
                        self.ladder_dropped(&arrival.header, arrival.host, cause);
                    }
                }
                return;
            }
        }
        self.deliver_to_host(arrival);
    }

    /// Note in the capture of the interface it came by what became of a datagram that
    /// arrived.
    fn tap_arrival(&mut self, arrival: &Arrival, comments: Vec<String>) {
        let Arrival {
            link,
            side,
            header,
            bytes,
            ..
        } = arrival;
        self.taps
            .received(*link, *side, self.now, header, bytes, comments);
    }

    /// Note what became of a datagram that reached a host's sockets, in the capture of the
    /// interface it came by and on the ladder (if one is recorded).
    fn host_received(&mut self, arrival: &Arrival, comments: Vec<String>) {
        let Arrival {
            host,
            link,
            side,
            header,
            bytes,
        } = arrival;
        let frame = self
            .taps
            .received(*link, *side, self.now, header, bytes, comments);
        if let Some(ladder) = &mut self.ladder {
            ladder.arrived(self.now, *host, (header, bytes), frame);
        }
    }

    /// Hand a datagram that arrived at a host to the socket on its port.
    fn deliver_to_host(&mut self, arrival: Arrival) {
        let now = self.now;
        let id = arrival.host;
        let Some(host) = self.host_mut(id) else {
            return;
        };
        if !host.up {
            // Powered off: nothing answers, and nothing is captured (its tap is a tcpdump on
            // a machine that is not running).
            host.stats.dropped_while_down += 1;
            self.ladder_dropped(&arrival.header, id, "dropped: the host is down");
            return;
        }
        let Arrival { header, bytes, .. } = &arrival;
        match header.kind {
            Kind::Udp => {
                let port = header.destination.port();
                let key = host.key(id, port);
                match host.sockets.get_mut(&port) {
                    Some(Socket::Ferry(socket)) => {
                        socket.datagram(now, header.source, bytes);
                        host.stats.delivered += 1;
                        self.mark_dirty(key);
                    }
                    Some(&mut Socket::Side(SideSocket { owner, side })) => {
                        if let Some(Socket::Ferry(socket)) = host.sockets.get_mut(&owner) {
                            socket.side_datagram(now, side, header.source, bytes);
                        }
                        host.stats.delivered += 1;
                        let owner = host.key(id, owner);
                        self.mark_dirty(owner);
                    }
                    Some(Socket::Udp(socket)) => {
                        let drops = socket.queue_drops;
                        socket.datagram(header.source, bytes);
                        let dropped = socket.queue_drops - drops;
                        host.stats.udp_queue_drops += dropped;
                        host.stats.delivered += 1 - dropped;
                    }
                    None => {
                        host.stats.port_unreachables_sent += 1;
                        let comment =
                            format!("no socket on port {port}: port unreachable sent back");
                        self.host_received(&arrival, vec![comment]);
                        self.send_unreachable(
                            id,
                            &arrival.header,
                            UnreachableKind::Port,
                            &arrival.bytes,
                        );
                        return;
                    }
                }
                self.host_received(&arrival, Vec::new());
            }
            Kind::Unreachable(unreachable) => {
                let port = unreachable.quoted_source.port();
                let key = host.key(id, port);
                let peer = unreachable.quoted_destination;
                let comment = match host.sockets.get_mut(&port) {
                    Some(Socket::Ferry(socket))
                        if unreachable.kind.is_hard() && socket.connected_to == Some(peer) =>
                    {
                        socket.unreachable(peer, bytes);
                        host.stats.unreachables_taken += 1;
                        self.mark_dirty(key);
                        format!("a hard error for the socket connected to {peer}")
                    }
                    _ if !unreachable.kind.is_hard() => {
                        host.stats.unreachables_ignored += 1;
                        "ignored: a soft error (RFC 1122 section 4.2.3.9)".to_string()
                    }
                    _ => {
                        host.stats.unreachables_ignored += 1;
                        format!("ignored: no socket on port {port} is connected to {peer}")
                    }
                };
                self.host_received(&arrival, vec![comment]);
            }
        }
    }

    // ---- Control ----

    /// The link joining `a` and `b` (the first described, if several do), and the side `a`
    /// is on.
    pub(super) fn link_between(&self, a: NodeId, b: NodeId) -> Option<(LinkId, usize)> {
        self.links.iter().enumerate().find_map(|(index, link)| {
            match (link.ends[0].node, link.ends[1].node) {
                (x, y) if x == a && y == b => Some((index, 0)),
                (x, y) if x == b && y == a => Some((index, 1)),
                _ => None,
            }
        })
    }

    /// The link directions a datagram from node `from` to `destination` crosses by the
    /// routing tables, each as (link, the side it leaves by), in order: until the node that
    /// has the address, a node with no route for it, or [`DEFAULT_TTL`] hops. A middlebox's
    /// rewrites are not followed (they depend on the traffic).
    pub(super) fn route_path(&self, from: NodeId, destination: IpAddr) -> Vec<(LinkId, usize)> {
        let mut path = Vec::new();
        let mut node = from;
        while path.len() < usize::from(DEFAULT_TTL) {
            let here = &self.nodes.list[node];
            if node != from && here.owns(destination) {
                break;
            }
            let Some(interface) = here.routes.lookup(destination) else {
                break;
            };
            let attachment = here.interfaces[interface];
            path.push((attachment.link, attachment.side));
            node = self.links[attachment.link].far_end(attachment.side);
        }
        path
    }

    /// Cut or repair both directions of `link`.
    pub(super) fn partition_link(&mut self, link: LinkId, cut: bool) {
        for direction in &mut self.links[link].directions {
            direction.partitioned = cut;
        }
    }

    /// Hold both directions of `link`, or release them and deliver what they held, in order,
    /// now.
    pub(super) fn hold_link(&mut self, link: LinkId, hold: bool) {
        for side in 0..2 {
            let direction = &mut self.links[link].directions[side];
            if hold {
                direction.held.get_or_insert_with(VecDeque::new);
                continue;
            }
            for (header, bytes) in direction.held.take().unwrap_or_default() {
                self.arrive(link, side, header, bytes);
            }
        }
    }

    /// Cut or repair the traffic between hosts `a` and `b`.
    pub(super) fn partition_hosts(&mut self, a: NodeId, b: NodeId, cut: bool) {
        self.pairs.entry(pair_key(a, b)).or_default().partitioned = cut;
    }

    /// Hold the traffic between hosts `a` and `b`, or release it and deliver what was held,
    /// in order, now.
    pub(super) fn hold_hosts(&mut self, a: NodeId, b: NodeId, hold: bool) {
        let rule = self.pairs.entry(pair_key(a, b)).or_default();
        if hold {
            rule.held.get_or_insert_with(VecDeque::new);
            return;
        }
        for held in rule.held.take().unwrap_or_default() {
            self.deliver_to_host(held);
        }
    }

    /// Crash host `id`: its sockets vanish. Returns them, for the caller to drop.
    pub(super) fn crash(&mut self, id: NodeId) -> BTreeMap<u16, Socket> {
        let Some(host) = self.host_mut(id) else {
            return BTreeMap::new();
        };
        if !host.up {
            return BTreeMap::new();
        }
        let incarnation = host.incarnation;
        let ports: Vec<u16> = host.sockets.keys().copied().collect();
        for port in ports {
            // What the socket traced before it vanishes.
            self.trace_socket(host_key(id, incarnation, port), true);
        }
        let Some(host) = self.host_mut(id) else {
            return BTreeMap::new();
        };
        let sockets = host.crash();
        for &port in sockets.keys() {
            let key = host_key(id, incarnation, port);
            self.agenda.book(Due::Socket(key), None);
            self.dirty.remove(&key);
        }
        sockets
    }

    /// Bring host `id` back up (it must be down).
    pub(super) fn restart(&mut self, id: NodeId) {
        if let Some(host) = self.host_mut(id) {
            host.restart();
        }
    }
}

/// The comments of a datagram leaving a node: why, and what the link's injector did.
fn comments(why: &Why, decision: &Decision) -> Vec<String> {
    let mut comments = match why {
        Why::Sent(reason) => return crate::link::sent_comments(*reason, decision),
        Why::Udp => vec!["UDP socket".to_string()],
        Why::Forwarded(rewrite) => rewrite.iter().cloned().collect(),
        Why::Unreachable => Vec::new(),
    };
    if *decision != Decision::default() {
        comments.push(decision.to_string());
    }
    comments
}

/// The key of a pair of hosts, lower first.
/// The key of host `id`'s socket on `port` in `incarnation`.
fn host_key(host: NodeId, incarnation: u32, port: u16) -> SocketKey {
    SocketKey {
        host,
        incarnation,
        port,
    }
}

fn pair_key(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

/// The error of a call on a socket whose host crashed since it was opened.
pub(super) fn host_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the host crashed since this socket was opened",
    )
}

/// The addresses a program's name for a socket address stands for, in the world: a literal
/// address, or a node's name and a port.
pub(super) fn resolve_name(nodes: &Nodes, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match nodes.addresses_of(host) {
        Some(addresses) => Ok(addresses
            .iter()
            .map(|&ip| SocketAddr::new(ip, port))
            .collect()),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no node of the world is named {host:?}"),
        )),
    }
}
