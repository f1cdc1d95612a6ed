//! The world's shape: its nodes (hosts and routers) with their names, addresses and
//! interfaces, and each node's routing table, looked up by longest prefix (RFC 1812 section
//! 5.2.4.3).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::address::Prefix;
use super::error::ConfigError;
use super::host::Host;
use super::router::Router;

/// A node's place in the world: the order the description named it in.
pub(super) type NodeId = usize;
/// A link's place in the world: the order the description joined it in.
pub(super) type LinkId = usize;

/// One end of a link, as a node's interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Attachment {
    pub(super) link: LinkId,
    /// 0 for the link's first node, 1 for its second: the direction leaving this end.
    pub(super) side: usize,
}

/// What a node is.
#[derive(Debug)]
pub(super) enum Role {
    Host(Host),
    Router(Router),
}

/// A host or a router.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) name: String,
    /// Its addresses, in the order described; the first of a family is the source of what it
    /// sends in that family.
    pub(super) addresses: Vec<IpAddr>,
    /// Its interfaces, in the order its links were described.
    pub(super) interfaces: Vec<Attachment>,
    pub(super) routes: RouteTable,
    pub(super) role: Role,
}

impl Node {
    /// Whether `address` is one of the node's own.
    pub(super) fn owns(&self, address: IpAddr) -> bool {
        self.addresses.contains(&address.to_canonical())
    }

    /// The node's first address of `peer`'s family: where what it sends to `peer` comes from.
    pub(super) fn address_toward(&self, peer: IpAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .copied()
            .find(|address| address.is_ipv4() == peer.to_canonical().is_ipv4())
    }

    /// The index of the interface whose link leads to `neighbor`, if one does.
    pub(super) fn interface_toward(
        &self,
        links: &[super::links::WorldLink],
        neighbor: NodeId,
    ) -> Option<usize> {
        self.interfaces
            .iter()
            .position(|attachment| links[attachment.link].far_end(attachment.side) == neighbor)
    }

    pub(super) fn host(&self) -> Option<&Host> {
        match &self.role {
            Role::Host(host) => Some(host),
            Role::Router(_) => None,
        }
    }

    pub(super) fn host_mut(&mut self) -> Option<&mut Host> {
        match &mut self.role {
            Role::Host(host) => Some(host),
            Role::Router(_) => None,
        }
    }
}

/// A node's routes. The longest matching prefix wins; between two of the same length, the
/// one described first. A lookup tries each prefix length the table has, longest first: a
/// router with a connected route per host finds its route in a few map lookups, not a scan.
#[derive(Clone, Debug, Default)]
pub(super) struct RouteTable {
    /// Each prefix's interface (the first route described for it).
    routes: BTreeMap<Prefix, usize>,
    /// The prefix lengths the table has, IPv4's and IPv6's, longest first.
    lengths_v4: Vec<u8>,
    lengths_v6: Vec<u8>,
}

impl RouteTable {
    pub(super) fn add(&mut self, prefix: Prefix, interface: usize) {
        if self.routes.contains_key(&prefix) {
            return; // the first described wins
        }
        self.routes.insert(prefix, interface);
        let lengths = match prefix.is_ipv4() {
            true => &mut self.lengths_v4,
            false => &mut self.lengths_v6,
        };
        if let Err(place) = lengths.binary_search_by(|len| prefix.length().cmp(len)) {
            lengths.insert(place, prefix.length());
        }
    }

    /// Whether a route for exactly `prefix` is there already.
    pub(super) fn has(&self, prefix: Prefix) -> bool {
        self.routes.contains_key(&prefix)
    }

    /// The interface a datagram to `destination` leaves by, if any route matches.
    pub(super) fn lookup(&self, destination: IpAddr) -> Option<usize> {
        let destination = destination.to_canonical();
        let lengths = match destination.is_ipv4() {
            true => &self.lengths_v4,
            false => &self.lengths_v6,
        };
        lengths.iter().find_map(|&len| {
            let prefix = Prefix::new(destination, len)?;
            self.routes.get(&prefix).copied()
        })
    }
}

/// Every node, found by index, name or address.
#[derive(Debug, Default)]
pub(super) struct Nodes {
    pub(super) list: Vec<Node>,
    by_name: BTreeMap<String, NodeId>,
    by_address: BTreeMap<IpAddr, NodeId>,
}

impl Nodes {
    /// Add a node; its name and addresses must be new to the world.
    pub(super) fn add(&mut self, node: Node) -> Result<NodeId, ConfigError> {
        if self.by_name.contains_key(&node.name) {
            return Err(ConfigError::DuplicateName {
                name: node.name.clone(),
            });
        }
        let id = self.list.len();
        for &address in &node.addresses {
            if let Some(&owner) = self.by_address.get(&address) {
                return Err(ConfigError::DuplicateAddress {
                    address,
                    first: self.list[owner].name.clone(),
                    second: node.name.clone(),
                });
            }
        }
        for &address in &node.addresses {
            self.by_address.insert(address, id);
        }
        self.by_name.insert(node.name.clone(), id);
        self.list.push(node);
        Ok(id)
    }

    /// Give node `id` one more address.
    pub(super) fn add_address(&mut self, id: NodeId, address: IpAddr) -> Result<(), ConfigError> {
        if let Some(&owner) = self.by_address.get(&address) {
            return Err(ConfigError::DuplicateAddress {
                address,
                first: self.list[owner].name.clone(),
                second: self.list[id].name.clone(),
            });
        }
        self.by_address.insert(address, id);
        self.list[id].addresses.push(address);
        Ok(())
    }

    /// The node named `name`, or an error that lists the names there are.
    pub(super) fn find(&self, name: &str) -> Result<NodeId, ConfigError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| ConfigError::UnknownNode {
                name: name.to_string(),
                known: self.list.iter().map(|node| node.name.clone()).collect(),
            })
    }

    /// The host named `name`, or an error that says it is unknown or a router.
    pub(super) fn find_host(&self, name: &str) -> Result<NodeId, ConfigError> {
        let id = self.find(name)?;
        match self.list[id].role {
            Role::Host(_) => Ok(id),
            Role::Router(_) => Err(ConfigError::NotAHost {
                name: name.to_string(),
                hosts: self.host_names(),
            }),
        }
    }

    /// The names of the hosts, in the order described.
    pub(super) fn host_names(&self) -> Vec<String> {
        self.list
            .iter()
            .filter(|node| node.host().is_some())
            .map(|node| node.name.clone())
            .collect()
    }

    /// The node's addresses, for name resolution: `None` if no node has that name.
    pub(super) fn addresses_of(&self, name: &str) -> Option<&[IpAddr]> {
        let id = *self.by_name.get(name)?;
        Some(&self.list[id].addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_then_the_first_described() {
        let mut table = RouteTable::default();
        table.add("0.0.0.0/0".parse().unwrap(), 0);
        table.add("10.0.0.0/8".parse().unwrap(), 1);
        table.add("10.0.1.0/24".parse().unwrap(), 2);
        table.add("10.0.1.0/24".parse().unwrap(), 3);
        let lookup = |address: &str| table.lookup(address.parse().unwrap());
        assert_eq!(lookup("10.0.1.9"), Some(2));
        assert_eq!(lookup("10.0.2.9"), Some(1));
        assert_eq!(lookup("192.0.2.1"), Some(0));
        assert_eq!(lookup("2001:db8::1"), None);
    }
}
