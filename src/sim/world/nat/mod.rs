//! NATs (RFC 4787) as [`Middlebox`]es on the world's routers: a [`Nat`] rewrites the source of
//! what goes out of its outside interface to its public address and a mapped port, lets back
//! in what its filter admits (rewriting the destination to the internal endpoint), hairpins,
//! translates the ICMP errors about the datagrams it mapped (RFC 5508), and drops the rest with
//! a reason the captures show (`dropped by NAT 4.5.6.7: no mapping for 1.2.3.4:4000`).
//!
//! | file | owns |
//! |---|---|
//! | `config.rs` | [`NatConfig`], [`Dependence`], [`PortAssignment`], [`Preset`]: RFC 4787's parameters |
//! | `ports.rs` | which external port a new mapping gets |
//! | `table.rs` | the mappings, their entries and expiry; [`NatTable`], the table as printed |

mod config;
mod ports;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use config::{
    Dependence, NatConfig, PortAssignment, Preset, PresetParseError, DEFAULT_MAPPING_LIFETIME,
    DEFAULT_TABLE_LIMIT,
};
pub use table::{NatRow, NatTable};

use super::middlebox::{Addresses, Crossing, Middlebox, Payload, Placement, Verdict};
use ports::PortPicker;
use table::{MappingKey, Table};

/// What a NAT counted (its drops the router counts, by reason:
/// [`RouterStats::middlebox_drops`](super::RouterStats::middlebox_drops)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatStats {
    /// Datagrams it sent out with their source rewritten.
    pub outbound: u64,
    /// Datagrams it let in with their destination rewritten.
    pub inbound: u64,
    /// Datagrams from inside to its own public address that it turned back inside.
    pub hairpinned: u64,
    /// ICMP errors it translated (RFC 5508).
    pub errors_translated: u64,
    /// Mappings it made.
    pub mappings_made: u64,
}

/// A NAT on a router (RFC 4787): give it to [`Builder::middlebox`](super::Builder::middlebox).
///
/// Its public address is the router's first address (the one `.router(name, address)`
/// gave), and the NAT translates that family alone: datagrams of the other family cross it
/// as they would a plain router. Its outside is the interface (or interfaces) toward the
/// neighbor it is given; every other interface is inside. So:
///
/// - **inside to outside** (the route leaves by the outside interface): the source becomes
///   the public address and the mapping's port, the mapping made if there is none (its port
///   by [`NatConfig::ports`]), and the entry for the destination refreshed.
/// - **outside to the public address**: the mapping on the destination port, if it exists
///   and its filter admits the source, rewrites the destination to the internal endpoint;
///   otherwise the datagram is dropped (`no mapping`, `filtered`).
/// - **inside to the public address**: hairpinned (both of the above) if
///   [`NatConfig::hairpinning`], otherwise dropped.
/// - **outside to an inside address**: dropped (`not translated`): only the public address
///   is reachable from outside.
/// - anything else (inside to inside, outside to outside, to the router itself) crosses
///   untouched.
///
/// ICMP errors (the world's unreachables) are translated as RFC 5508 section 4.2 asks: one
/// from outside about a datagram the NAT sent out has its destination and its quoted source
/// turned back into the internal endpoint; one from inside about a datagram the NAT let in has
/// its source and its quoted destination turned into the public endpoint; a hairpinned one,
/// both. An error that matches no mapping (and entry) is dropped (REQ-4, REQ-5: SHOULD drop
/// it silently). Errors neither refresh nor end a mapping (RFC 4787 REQ-12: no ICMP message
/// ends one). The world carries nothing else that is not UDP.
///
/// # Example
///
/// The lecture's first step: peer 1, behind NAT 1.2.3.4, sends to peer 2's public endpoint
/// 4.5.6.7:5000, which NAT 4.5.6.7 drops (no mapping), having made its own mapping on the
/// way out.
///
/// ```
/// use std::time::Duration;
/// use ferry::link::LinkConfig;
/// use ferry::sim::world::{net::UdpSocket, Nat, Preset, World};
///
/// let mut world = World::builder()
///     .host("peer1", "192.168.1.2")
///     .router("nat1", "1.2.3.4") // the first address is the NAT's public one
///     .address("nat1", "192.168.1.1")
///     .router("internet", "7.7.7.1")
///     .router("nat2", "4.5.6.7")
///     .address("nat2", "10.0.0.1")
///     .host("peer2", "10.0.0.2")
///     .link("peer1", "nat1", LinkConfig::default())
///     .link("nat1", "internet", LinkConfig::default())
///     .link("internet", "nat2", LinkConfig::default())
///     .link("nat2", "peer2", LinkConfig::default())
///     .route("nat1", "0.0.0.0/0", "internet")
///     .route("nat2", "0.0.0.0/0", "internet")
///     .route("internet", "1.2.3.4/32", "nat1")
///     .route("internet", "4.5.6.7/32", "nat2")
///     .middlebox("nat1", Nat::new("internet", Preset::PortRestrictedCone))
///     .middlebox("nat2", Nat::new("internet", Preset::PortRestrictedCone))
///     .build()?;
/// world.client("peer1", async {
///     let socket = UdpSocket::bind("0.0.0.0:4000").await?;
///     socket.send_to(b"hello", "4.5.6.7:5000").await?;
///     Ok(())
/// })?;
/// world.run_until(Duration::from_millis(500))?;
/// assert_eq!(
///     world.nat_table("nat1")?.to_string(),
///     "NAT 1.2.3.4 (port-restricted cone) at 0.500000 s:\n\
///     \x20 internal          external      remote        expires\n\
///     \x20 192.168.1.2:4000  1.2.3.4:4000  4.5.6.7:5000  120.020004 s\n"
/// );
/// assert_eq!(world.router_stats("nat2")?.middlebox_drops["no mapping"], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Nat {
    config: NatConfig,
    outside: String,
    /// The router's interfaces toward [`outside`](Self::outside), once attached.
    outside_interfaces: Vec<usize>,
    /// The public address, once attached.
    public: Option<IpAddr>,
    ports: PortPicker,
    table: Table,
    stats: NatStats,
}

/// Why a NAT dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Inbound to a port no mapping holds.
    NoMapping { from: SocketAddr },
    /// Inbound to a mapping whose filter refuses the source.
    Filtered {
        from: SocketAddr,
        external: SocketAddr,
        internal: SocketAddr,
        filtering: Dependence,
    },
    /// From inside to the public address, with hairpinning off.
    HairpinningOff { to: SocketAddr },
    /// A new entry, and the table holds its limit.
    TableFull { limit: usize },
    /// A new mapping, and no port of its range is free.
    NoFreePort { internal: SocketAddr },
    /// From outside to an inside address.
    NotTranslated { to: IpAddr },
    /// An ICMP error about a datagram no mapping made.
    ErrorWithoutMapping { quoted: (SocketAddr, SocketAddr) },
}

impl Refusal {
    /// What the router counts it under: short and stable.
    fn reason(&self) -> &'static str {
        match self {
            Refusal::NoMapping { .. } => "no mapping",
            Refusal::Filtered { .. } => "filtered",
            Refusal::HairpinningOff { .. } => "hairpinning off",
            Refusal::TableFull { .. } => "table full",
            Refusal::NoFreePort { .. } => "no free port",
            Refusal::NotTranslated { .. } => "not translated",
            Refusal::ErrorWithoutMapping { .. } => "ICMP error without mapping",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refusal::NoMapping { from } => write!(f, "no mapping for {from}"),
            Refusal::Filtered {
                from,
                external,
                internal,
                filtering,
            } => {
                let remote = match filtering {
                    Dependence::AddressDependent => from.ip().to_string(),
                    _ => from.to_string(),
                };
                // In the lecture's table a mapping is a row (internal, external, remote):
                // the one this datagram needs is missing, though the port is mapped.
                write!(
                    f,
                    "no mapping for {remote} (filtered: {external}, for {internal}, has sent \
                     nothing to it)"
                )
            }
            Refusal::HairpinningOff { to } => {
                write!(f, "hairpinning is off (from inside to {to})")
            }
            Refusal::TableFull { limit } => write!(f, "table full ({limit} entries)"),
            Refusal::NoFreePort { internal } => {
                write!(f, "no free port to map {internal} to")
            }
            Refusal::NotTranslated { to } => write!(
                f,
                "not translated: from outside, only the public address is reachable, not {to}"
            ),
            Refusal::ErrorWithoutMapping { quoted } => write!(
                f,
                "an ICMP error about {} > {}, which no mapping carried",
                quoted.0, quoted.1
            ),
        }
    }
}

impl Nat {
    /// A NAT behaving as `config` (a [`Preset`] will do), whose outside is the interface
    /// toward the neighbor named `outside`.
    pub fn new(outside: &str, config: impl Into<NatConfig>) -> Nat {
        let config = config.into();
        Nat {
            config,
            outside: outside.to_string(),
            outside_interfaces: Vec::new(),
            public: None,
            ports: PortPicker::new(config.ports, 0),
            table: Table::default(),
            stats: NatStats::default(),
        }
    }

    /// How it behaves.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// Its public address (`None` until the world is built).
    pub fn public_address(&self) -> Option<IpAddr> {
        self.public
    }

    /// What it counted.
    pub fn stats(&self) -> NatStats {
        self.stats
    }

    /// Its mapping table as it stands at `now` (the world's time: entries expired by then are
    /// gone from it), in the lecture's form.
    pub fn table(&self, now: Duration) -> NatTable {
        let public = self.public_or_unspecified();
        self.table.snapshot(self.name(), public, self.config, now)
    }

    /// The key of the mapping an outbound datagram from `internal` to `remote` uses.
    fn key(&self, internal: SocketAddr, remote: SocketAddr) -> MappingKey {
        let (remote_address, remote_port) = match self.config.mapping {
            Dependence::EndpointIndependent => (None, None),
            Dependence::AddressDependent => (Some(remote.ip()), None),
            Dependence::AddressAndPortDependent => (Some(remote.ip()), Some(remote.port())),
        };
        MappingKey {
            internal,
            remote_address,
            remote_port,
        }
    }

    /// An outbound datagram from `internal` to `remote`: its mapping's external port, the
    /// mapping made and the entry for `remote` refreshed (or made) until `now` plus the
    /// lifetime.
    fn map_outbound(
        &mut self,
        now: Duration,
        internal: SocketAddr,
        remote: SocketAddr,
    ) -> Result<u16, Refusal> {
        let key = self.key(internal, remote);
        let existing = self.table.find(&key);
        let new_entry = existing.is_none_or(|port| !self.table.has_entry(port, remote));
        if new_entry && self.table.len() >= self.config.table_limit {
            return Err(Refusal::TableFull {
                limit: self.config.table_limit,
            });
        }
        let port = match existing {
            Some(port) => port,
            None => {
                let table = &self.table;
                let port = self
                    .ports
                    .pick(internal.port(), |port| table.is_free(port))
                    .ok_or(Refusal::NoFreePort { internal })?;
                self.table.insert(key, port);
                self.stats.mappings_made += 1;
                port
            }
        };
        self.table.refresh(port, remote, now + self.config.lifetime);
        Ok(port)
    }

    /// An inbound datagram from `remote` to external port `port`: the internal endpoint it
    /// goes to, if a mapping holds the port and its filter admits `remote` (RFC 4787 section
    /// 5); with inbound refresh, the entries that admitted it are refreshed.
    fn map_inbound(
        &mut self,
        now: Duration,
        remote: SocketAddr,
        port: u16,
    ) -> Result<SocketAddr, Refusal> {
        let filtering = self.config.filtering;
        let Some(internal) = self.table.internal(port) else {
            return Err(Refusal::NoMapping { from: remote });
        };
        let admits = move |sent_to: SocketAddr| match filtering {
            Dependence::EndpointIndependent => true,
            Dependence::AddressDependent => sent_to.ip() == remote.ip(),
            Dependence::AddressAndPortDependent => sent_to == remote,
        };
        let admitted = match filtering {
            // A mapping lives only while it has an entry, and any entry admits it.
            Dependence::EndpointIndependent => true,
            Dependence::AddressDependent => self.table.remotes(port).any(admits),
            Dependence::AddressAndPortDependent => self.table.has_entry(port, remote),
        };
        if !admitted {
            return Err(Refusal::Filtered {
                from: remote,
                external: SocketAddr::new(self.public_or_unspecified(), port),
                internal,
                filtering,
            });
        }
        // RFC 4787 REQ-6 a: inbound refresh is allowed, not required; off by default.
        if self.config.inbound_refresh {
            let admitting: Vec<SocketAddr> =
                self.table.remotes(port).filter(|&r| admits(r)).collect();
            for sent_to in admitting {
                self.table
                    .refresh(port, sent_to, now + self.config.lifetime);
            }
        }
        Ok(internal)
    }

    fn public_or_unspecified(&self) -> IpAddr {
        self.public.unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn is_public(&self, address: IpAddr) -> bool {
        Some(address.to_canonical()) == self.public
    }

    /// A UDP datagram from inside to outside: the source becomes the mapping's public
    /// endpoint.
    fn outbound(&mut self, now: Duration, addresses: &mut Addresses) -> Result<(), Refusal> {
        let port = self.map_outbound(now, addresses.source, addresses.destination)?;
        addresses.source = SocketAddr::new(self.public_or_unspecified(), port);
        self.stats.outbound += 1;
        Ok(())
    }

    /// A UDP datagram from outside to the public address: the destination becomes the
    /// internal endpoint, if the mapping admits it.
    fn inbound(&mut self, now: Duration, addresses: &mut Addresses) -> Result<(), Refusal> {
        let internal = self.map_inbound(now, addresses.source, addresses.destination.port())?;
        addresses.destination = internal;
        self.stats.inbound += 1;
        Ok(())
    }

    /// A UDP datagram from inside to the public address (RFC 4787 section 6): out through
    /// the sender's mapping, so it arrives from the sender's external endpoint (REQ-9 b), and
    /// in through the receiver's, whose filter judges it as any inbound datagram.
    fn hairpin(&mut self, now: Duration, addresses: &mut Addresses) -> Result<(), Refusal> {
        if !self.config.hairpinning {
            return Err(Refusal::HairpinningOff {
                to: addresses.destination,
            });
        }
        let port = self.map_outbound(now, addresses.source, addresses.destination)?;
        let external = SocketAddr::new(self.public_or_unspecified(), port);
        let internal = self.map_inbound(now, external, addresses.destination.port())?;
        addresses.source = external;
        addresses.destination = internal;
        self.stats.hairpinned += 1;
        Ok(())
    }

    /// The inside half of an ICMP error's translation (RFC 5508 section 4.2, REQ-5): an error
    /// from inside about a datagram the NAT let in, which went from a remote endpoint to an
    /// internal one. The error's source and the quoted destination become the public
    /// endpoint of the mapping that carried it.
    fn error_from_inside(&self, addresses: &mut Addresses) -> Result<(), Refusal> {
        let Some((remote, internal)) = addresses.quoted else {
            return Ok(());
        };
        let port =
            self.table
                .find(&self.key(internal, remote))
                .ok_or(Refusal::ErrorWithoutMapping {
                    quoted: (remote, internal),
                })?;
        let public = self.public_or_unspecified();
        addresses.source = SocketAddr::new(public, addresses.source.port());
        addresses.quoted = Some((remote, SocketAddr::new(public, port)));
        Ok(())
    }

    /// The outside half (REQ-4): an error about a datagram the NAT sent out, from a public
    /// endpoint to a remote one, which the mapping has an entry for. The error's destination
    /// and the quoted source become the internal endpoint.
    fn error_from_outside(&self, addresses: &mut Addresses) -> Result<(), Refusal> {
        let Some((external, remote)) = addresses.quoted else {
            return Ok(());
        };
        let internal = self
            .table
            .internal(external.port())
            .filter(|_| {
                self.is_public(external.ip()) && self.table.has_entry(external.port(), remote)
            })
            .ok_or(Refusal::ErrorWithoutMapping {
                quoted: (external, remote),
            })?;
        addresses.destination = SocketAddr::new(internal.ip(), addresses.destination.port());
        addresses.quoted = Some((internal, remote));
        Ok(())
    }

    /// What to do with a datagram, or why it is refused.
    fn translate(
        &mut self,
        crossing: &Crossing<'_>,
        addresses: &mut Addresses,
    ) -> Result<(), Refusal> {
        let Some(public) = self.public else {
            return Ok(());
        };
        if addresses.destination.ip().to_canonical().is_ipv4() != public.is_ipv4() {
            return Ok(());
        }
        let now = crossing.now;
        let from_outside = self.outside_interfaces.contains(&crossing.ingress.index);
        let to_public = self.is_public(addresses.destination.ip());
        let to_outside = crossing
            .egress
            .is_some_and(|egress| self.outside_interfaces.contains(&egress.index));
        let to_inside = crossing.egress.is_some() && !to_outside;
        let error = matches!(crossing.payload, Payload::Unreachable { .. });
        match (from_outside, to_public, error) {
            (true, true, false) => self.inbound(now, addresses),
            (true, true, true) => self.error_from_outside(addresses),
            (true, false, _) if to_inside => Err(Refusal::NotTranslated {
                to: addresses.destination.ip(),
            }),
            (false, true, false) => self.hairpin(now, addresses),
            (false, true, true) => {
                self.error_from_inside(addresses)?;
                self.error_from_outside(addresses)
            }
            (false, false, false) if to_outside => self.outbound(now, addresses),
            (false, false, true) if to_outside => self.error_from_inside(addresses),
            _ => Ok(()),
        }
    }
}

impl Middlebox for Nat {
    fn cross(&mut self, crossing: &Crossing<'_>, addresses: &mut Addresses) -> Verdict {
        self.table.expire(crossing.now);
        let before = *addresses;
        match self.translate(crossing, addresses) {
            Ok(()) => {
                if addresses.quoted.is_some() && *addresses != before {
                    self.stats.errors_translated += 1;
                }
                Verdict::Forward
            }
            Err(refusal) => Verdict::Drop {
                reason: refusal.reason().to_string(),
                detail: refusal.to_string(),
            },
        }
    }

    fn name(&self) -> String {
        match self.public {
            Some(public) => format!("NAT {public}"),
            None => "NAT".to_string(),
        }
    }

    /// Take the router's first address as the public one, find the outside interface, and
    /// seed the port picker.
    fn attach(&mut self, placement: &Placement<'_>) -> Result<(), String> {
        let public = placement
            .addresses
            .first()
            .ok_or("the router has no address")?
            .to_canonical();
        self.outside_interfaces = placement
            .neighbors
            .iter()
            .enumerate()
            .filter(|(_, neighbor)| **neighbor == self.outside)
            .map(|(index, _)| index)
            .collect();
        if self.outside_interfaces.is_empty() {
            return Err(format!(
                "its outside is {:?}, which is not a neighbor of {:?}; the neighbors are: {}",
                self.outside,
                placement.router,
                placement.neighbors.join(", ")
            ));
        }
        self.public = Some(public);
        self.ports = PortPicker::new(self.config.ports, placement.seed);
        Ok(())
    }
}
