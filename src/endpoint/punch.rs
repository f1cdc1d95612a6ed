//! Hole punching on the endpoint's socket: a rendezvous [`Client`] beside the connections
//! (docs/protocol.md section 9).
//!
//! The client's messages share the socket with Ferry's segments, told apart by their magic
//! ("RV" where a segment opens with "FR"), so the SYNs leave through the very NAT mapping the
//! registration opened. Here the endpoint:
//!
//! - gives rendezvous messages to the client, and the Ferry datagrams a RELAY carried to the
//!   connection, as from the peer;
//! - opens the connection to the peer's public endpoint when the client is introduced (a
//!   simultaneous open: the peer connects to us at the same moment), with
//!   [`punched_connection_config`]'s short SYN retries and keepalives;
//! - until that connection is established, drops Ferry datagrams from anyone but the peer
//!   (without the RST a stray would draw: a peer behind a NAT that maps each destination to
//!   a new port sends its SYNs from an unexpected port, and a RST there would refuse its
//!   connection), and ICMP errors about the peer (a NAT answers a SYN that found no mapping
//!   with one: RFC 4787 section 9 lets it);
//! - but takes the peer's SYN from another port of its IP address while the connection is
//!   in SYN-SENT, once, and follows the peer there ("retargeting", docs/protocol.md section
//!   9.3): the connection keeps the endpoint the server saw, and the client translates both
//!   ways, as it does for the relay;
//! - sends the connection's datagrams through the relay once the client relays;
//! - tells the client when the connection is established and when it closes, and fails the
//!   connection when the client gives up.

use std::net::SocketAddr;

use crate::conn::{ConnectionError, Reason, State, Transmit};
use crate::rendezvous::{self, punched_connection_config, Client, PunchError};
use crate::time::Instant;
use crate::wire::{Flags, Segment};

use super::{ConnectionHandle, Endpoint};

/// Where an endpoint's punch stands ([`Endpoint::punch_status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PunchStatus {
    /// Registering with the rendezvous server, or waiting there for the peer.
    Meeting,
    /// Introduced: the connection `handle` to the peer's public endpoint is opening.
    Opening {
        /// The connection.
        handle: ConnectionHandle,
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// Whether its datagrams go through the relay.
        relayed: bool,
    },
    /// The connection's handshake completed (it may have closed since).
    Connected {
        /// The connection.
        handle: ConnectionHandle,
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// Whether its datagrams go through the relay.
        relayed: bool,
    },
    /// The punch failed; a connection it had opened failed with it.
    Failed(PunchError),
}

/// Why [`Endpoint::punch`] would not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PunchStartError {
    /// The settings cannot work (a bad name).
    Config(rendezvous::PunchConfigError),
    /// This endpoint punches already: one punch per endpoint, as its socket has one
    /// registration.
    AlreadyPunching,
}

impl std::fmt::Display for PunchStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PunchStartError::Config(error) => error.fmt(f),
            PunchStartError::AlreadyPunching => f.write_str("this endpoint punches already"),
        }
    }
}

impl std::error::Error for PunchStartError {}

/// The endpoint's punch: the client and the connection it led to.
#[derive(Debug)]
pub(super) struct Punch {
    client: Client,
    handle: Option<ConnectionHandle>,
    failure: Option<PunchError>,
}

impl Punch {
    /// Run the client's timers if any is due by `now`; returns whether one was.
    pub(super) fn client_due(&mut self, now: Instant) -> bool {
        let due = self.client.poll_timeout().is_some_and(|at| at <= now);
        if due {
            self.client.handle_timeout(now);
        }
        due
    }
}

impl Endpoint {
    /// Meet the peer `config` names through its rendezvous server and open a connection to
    /// it, on this endpoint's socket (docs/protocol.md section 9). The REGISTER goes out on
    /// the next [`poll_transmit`](Self::poll_transmit); the client's nonce is drawn from the
    /// endpoint's generator. Once introduced, the endpoint opens the connection by itself;
    /// [`punch_status`](Self::punch_status) says how it goes.
    pub fn punch(
        &mut self,
        now: Instant,
        config: rendezvous::PunchConfig,
    ) -> Result<(), PunchStartError> {
        config.check().map_err(PunchStartError::Config)?;
        if self.punch.is_some() {
            return Err(PunchStartError::AlreadyPunching);
        }
        let nonce = self.isn_generator.next_u64();
        self.punch = Some(Punch {
            client: Client::new(now, config, nonce),
            handle: None,
            failure: None,
        });
        Ok(())
    }

    /// Where the punch stands, if one was started.
    pub fn punch_status(&self) -> Option<PunchStatus> {
        let punch = self.punch.as_ref()?;
        if let Some(error) = &punch.failure {
            return Some(PunchStatus::Failed(error.clone()));
        }
        let (Some(handle), Some(peer)) = (punch.handle, punch.client.peer()) else {
            return Some(PunchStatus::Meeting);
        };
        let relayed = punch.client.is_relayed();
        let connected = self
            .connections
            .get(&handle)
            .is_some_and(|entry| entry.connection.is_connected());
        Some(if connected {
            PunchStatus::Connected {
                handle,
                peer,
                relayed,
            }
        } else {
            PunchStatus::Opening {
                handle,
                peer,
                relayed,
            }
        })
    }

    /// Give up the punch: the client unregisters and sends nothing more, and a connection it
    /// opened that is not yet established is aborted. (An established one is the
    /// application's, to close as any other.)
    pub fn stop_punch(&mut self, now: Instant) {
        let Some(punch) = &mut self.punch else {
            return;
        };
        punch.client.closed(now);
        if let Some(handle) = punch.handle {
            if let Some(entry) = self.connections.get_mut(&handle) {
                if !entry.connection.is_connected() {
                    entry.connection.abort();
                    self.active.insert(handle);
                }
            }
        }
    }

    /// Through which server, and why, if `handle` is the punched connection and its datagrams
    /// go through the relay.
    pub fn relayed(&self, handle: ConnectionHandle) -> Option<rendezvous::Relayed> {
        let punch = self.punch.as_ref()?;
        punch
            .client
            .relayed()
            .filter(|_| punch.handle == Some(handle))
    }

    /// The punch's rendezvous client, for its phase and counters.
    pub fn punch_client(&self) -> Option<&Client> {
        self.punch.as_ref().map(|punch| &punch.client)
    }

    /// Sort a datagram that arrived during a punch: a rendezvous message goes to the client
    /// (and what a RELAY carried comes back, as from the peer); a Ferry datagram goes on,
    /// unless the connection is not yet established and it is not from the peer. Returns
    /// what the connections are to see.
    pub(super) fn sort_punched<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Option<(SocketAddr, &'a [u8])> {
        let Some(punch) = &mut self.punch else {
            return Some((from, datagram));
        };
        if rendezvous::message::is_rendezvous(datagram) {
            let relayed = punch.client.handle_datagram(now, from, datagram);
            let peer = punch.client.peer();
            self.advance_punch(now);
            return relayed.zip(peer).map(|(payload, peer)| (peer, payload));
        }
        let from = punch.client.taken_as_from(from);
        let established = punch.handle.is_some_and(|handle| {
            self.connections
                .get(&handle)
                .is_some_and(|entry| entry.connection.is_connected())
        });
        if established {
            return Some((from, datagram));
        }
        punch.client.heard_directly(from);
        let from_peer = punch.client.peer() == Some(from) || self.retarget(from, datagram);
        let punch = self.punch.as_ref()?;
        if !from_peer || punch.failure.is_some() {
            self.stats.punch_strays += 1;
            return None;
        }
        Some((punch.client.taken_as_from(from), datagram))
    }

    /// Take `from`, the peer's IP address at another port, as the peer from now on, if
    /// `datagram` is a SYN that the punched connection, still in SYN-SENT, can take as the
    /// peer's half of the simultaneous open: the peer's NAT gave the SYNs it sends us a port
    /// of their own (docs/protocol.md section 9.3, "Retargeting"). The connection keeps the
    /// peer's public endpoint as the server saw it; the client translates
    /// ([`Client::taken_as_from`], [`Client::wrap`]), as it does for the relay. Returns
    /// whether it did.
    ///
    /// Why this opens no door that was shut: a SYN from the peer's endpoint as the server
    /// saw it is taken in SYN-SENT whatever its sequence number (RFC 9293 section
    /// 3.10.7.3), so whoever could forge one could already steer the handshake; here the
    /// forger needs the same thing, the peer's IP address as its source, during the same few
    /// seconds, and only once (the client retargets once, and never after SYN-SENT). A
    /// punched connection is plain (the secure mode's handshake needs an initiator), so as
    /// TCP it is safe from blind attackers only.
    fn retarget(&mut self, from: SocketAddr, datagram: &[u8]) -> bool {
        let Some(punch) = &mut self.punch else {
            return false;
        };
        let Some(handle) = punch.handle.filter(|_| punch.failure.is_none()) else {
            return false;
        };
        let is_syn = Segment::parse(datagram).is_ok_and(|segment| {
            segment.flags.contains(Flags::SYN) && !segment.flags.intersects(Flags::ACK | Flags::RST)
        });
        let in_syn_sent = self
            .connections
            .get(&handle)
            .is_some_and(|entry| entry.connection.state() == State::SynSent);
        is_syn && in_syn_sent && punch.client.retarget(from)
    }

    /// The address under which the endpoint takes a Ferry datagram from `from`: `from`
    /// itself, unless it is where a punched connection's peer really sends from, its NAT
    /// having given it another port than the rendezvous saw ([`Client::retarget`]); then
    /// the peer's public endpoint, the connection's remote. A driver wakes the streams
    /// holding connections to this address.
    pub fn taken_as_from(&self, from: SocketAddr) -> SocketAddr {
        match &self.punch {
            Some(punch) => punch.client.taken_as_from(from),
            None => from,
        }
    }

    /// Whether an ICMP error about `destination` belongs to the punch, which takes it:
    /// one about the server (the client names it if the server never answers), or one about
    /// the peer before the connection is established (a NAT without a mapping yet may send
    /// it, and it must not refuse the connection).
    pub(super) fn punch_takes_unreachable(&mut self, destination: SocketAddr) -> bool {
        let Some(punch) = &mut self.punch else {
            return false;
        };
        if punch.client.handle_unreachable(destination) {
            return true;
        }
        let opening = punch.client.peer() == Some(destination)
            && punch.handle.is_some_and(|handle| {
                self.connections
                    .get(&handle)
                    .is_some_and(|entry| !entry.connection.is_connected())
            });
        opening
    }

    /// Act on what the client said, and tell it how the connection goes.
    pub(super) fn advance_punch(&mut self, now: Instant) {
        let Some(punch) = &mut self.punch else {
            return;
        };
        let mut introduced = None;
        let mut failed = None;
        let mut relaying = false;
        while let Some(event) = punch.client.poll_event() {
            match event {
                rendezvous::Event::Introduced { peer, .. } => introduced = Some(peer),
                rendezvous::Event::Relaying { .. } => relaying = true,
                rendezvous::Event::Failed(error) => failed = Some(error),
                _ => {}
            }
        }
        if let Some(handle) = punch.handle.filter(|_| relaying) {
            // The relay is a new path: the SYNs through it start from the initial RTO, not
            // from the direct attempt's backed-off timer, which would leave room for only
            // two of them before the relayed attempt runs out (docs/protocol.md section 9.3, "Bounded").
            if let Some(entry) = self.connections.get_mut(&handle) {
                entry.connection.restart_handshake_timer(now);
                self.active.insert(handle);
            }
        }
        let Some(punch) = &mut self.punch else {
            return;
        };
        if let (Some(peer), None) = (introduced, punch.handle) {
            // The handover: an ordinary active open, which meets the peer's own (RFC 9293
            // section 3.5, figure 8).
            // A simultaneous open has no initiator and no responder, which the secure mode's
            // Noise handshake needs (docs/protocol.md section 10, "Not yet built"): a punched
            // connection is plain. A connection to the peer still live is left as it is.
            let config = punched_connection_config(&self.config);
            if let Ok(handle) = self.open(peer, config, false, &[]) {
                if let Some(punch) = &mut self.punch {
                    punch.handle = Some(handle);
                }
            }
        }
        let Some(punch) = &mut self.punch else {
            return;
        };
        if let Some(error) = failed {
            punch.failure = Some(error);
            if let Some(handle) = punch.handle {
                if let Some(entry) = self.connections.get_mut(&handle) {
                    if !entry.connection.is_connected() {
                        entry.connection.terminate(Some(ConnectionError::TimedOut));
                    }
                }
                self.active.insert(handle);
                self.settle(handle);
            }
            return;
        }
        let Some(handle) = punch.handle else {
            return;
        };
        match self.connections.get(&handle).map(|entry| &entry.connection) {
            Some(connection) if connection.is_closed() => punch.client.closed(now),
            None => punch.client.closed(now),
            Some(connection) if connection.is_connected() => punch.client.connected(now),
            Some(_) => {}
        }
    }

    /// The client's next message from this socket, if it has one: to the server, or a
    /// KNOCK to the peer.
    pub(super) fn poll_punch_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.advance_punch(now);
        let client = &mut self.punch.as_mut()?.client;
        let transmit = client
            .poll_transmit(now)
            .or_else(|| client.poll_knock(false).map(|(_, knock)| knock))?;
        Some(Transmit {
            destination: transmit.destination,
            contents: transmit.contents,
            reason: Reason::Rendezvous,
        })
    }

    /// How many side sockets the driver is to open for birthday probing, numbered from 0,
    /// beside this endpoint's (docs/protocol.md section 9.4, "Birthday probing"). A driver
    /// opens them once, when this first says more than none, sends what
    /// [`poll_side_transmit`](Self::poll_side_transmit) gives from each, feeds what each
    /// receives to [`handle_side_datagram`](Self::handle_side_datagram), sends a
    /// [`poll_transmit`](Self::poll_transmit) datagram from side socket `k` when
    /// [`punch_side_for`](Self::punch_side_for) its destination says `k`, and closes each
    /// once [`punch_keeps_side`](Self::punch_keeps_side) says no. Drivers that cannot must
    /// clear [`PunchConfig::birthday`](rendezvous::PunchConfig::birthday).
    pub fn punch_side_sockets(&self) -> usize {
        self.punch
            .as_ref()
            .map_or(0, |punch| punch.client.side_sockets())
    }

    /// Whether side socket `side` is still of use (all while the direct attempt searches,
    /// then only the one birthday probing found).
    pub fn punch_keeps_side(&self, side: usize) -> bool {
        self.punch
            .as_ref()
            .is_some_and(|punch| punch.client.keeps_side(side))
    }

    /// The side socket from which datagrams to `destination` are to go, if birthday probing
    /// found the pair on one.
    pub fn punch_side_for(&self, destination: SocketAddr) -> Option<usize> {
        self.punch.as_ref()?.client.side_for(destination)
    }

    /// The next datagram to send from a side socket: which one, and the datagram (a KNOCK to
    /// the peer).
    pub fn poll_side_transmit(&mut self, _now: Instant) -> Option<(usize, Transmit)> {
        let (side, knock) = self.punch.as_mut()?.client.poll_knock(true)?;
        Some((
            side?,
            Transmit {
                destination: knock.destination,
                contents: knock.contents,
                reason: Reason::Rendezvous,
            },
        ))
    }

    /// A datagram from `from` arrived at side socket `side`: a KNOCK goes to the client; a
    /// Ferry datagram from the peer to the side socket birthday probing chose goes on as if
    /// it had arrived at this endpoint's own socket; anything else is dropped and counted.
    pub fn handle_side_datagram(
        &mut self,
        now: Instant,
        side: usize,
        from: SocketAddr,
        datagram: &[u8],
    ) {
        let Some(punch) = &mut self.punch else {
            self.stats.punch_strays += 1;
            return;
        };
        if rendezvous::message::is_rendezvous(datagram) {
            match rendezvous::Message::parse(datagram) {
                Ok(message) if message.body == rendezvous::message::Body::Knock => {
                    punch.client.knocked(Some(side), from);
                    self.advance_punch(now);
                }
                _ => self.stats.punch_strays += 1,
            }
            return;
        }
        if punch.client.side_datagram(side, from) {
            self.handle_datagram(now, from, datagram);
        } else {
            self.stats.punch_strays += 1;
        }
    }

    /// A connection's datagram, through the relay if the client relays.
    pub(super) fn route_punched(&mut self, transmit: Transmit) -> Transmit {
        let Some(punch) = &mut self.punch else {
            return transmit;
        };
        let (destination, contents) = punch.client.wrap(transmit.destination, transmit.contents);
        Transmit {
            destination,
            contents,
            reason: transmit.reason,
        }
    }
}
