//! [`Builder`]: a world described in a chain of calls (its seed, hosts, routers, links,
//! routes and middleboxes), checked as a whole by [`build`](Builder::build).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::address::{parse_address, Prefix};
use super::error::ConfigError;
use super::host::Host;
use super::links::{LinkEnd, WorldLink};
use super::middlebox::{Middlebox, Placement};
use super::router::Router;
use super::topology::{Attachment, Node, Nodes, Role, RouteTable};
use super::World;
use crate::conn::Config;
use crate::link::seed::{derive_seed, WORLD_HOSTS, WORLD_MIDDLEBOXES};
use crate::link::LinkConfig;

/// How much simulated time a run may take before it is called endless, unless told
/// otherwise: an hour, far beyond the longest timeout Ferry has (about 9 minutes of
/// retransmissions), so reaching it means a hang.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// How many events (clock events and task polls) a run may take, unless told otherwise: the
/// two-host simulator's budget, [`DEFAULT_STEP_LIMIT`](crate::sim::DEFAULT_STEP_LIMIT).
pub const DEFAULT_EVENT_BUDGET: u64 = crate::sim::DEFAULT_STEP_LIMIT;

/// How long a stream's close waits for the peer's acknowledgment unless told otherwise, as
/// for `ferry::tokio`.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);

struct NodeSpec {
    name: String,
    addresses: Vec<String>,
    router: bool,
}

struct LinkSpec {
    a: String,
    b: String,
    a_to_b: LinkConfig,
    b_to_a: LinkConfig,
}

struct RouteSpec {
    node: String,
    prefix: String,
    via: String,
}

/// Describes a world, then builds it: see the [module docs](super) for an example.
///
/// Every node has a name and at least one address (IPv4 or IPv6; [`address`](Self::address)
/// adds more). A host with links sends by its first link unless a [`route`](Self::route)
/// says otherwise (its default route); a router knows the addresses of the hosts linked to it
/// (connected routes) and what its routes say; the longest matching prefix wins.
pub struct Builder {
    seed: u64,
    connection: Config,
    time_limit: Duration,
    event_budget: u64,
    linger: Option<Duration>,
    nodes: Vec<NodeSpec>,
    extra_addresses: Vec<(String, String)>,
    links: Vec<LinkSpec>,
    routes: Vec<RouteSpec>,
    middleboxes: Vec<(String, Box<dyn Middlebox>)>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("seed", &self.seed)
            .field("nodes", &self.nodes.len())
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            seed: 0,
            connection: Config::default(),
            time_limit: DEFAULT_TIME_LIMIT,
            event_budget: DEFAULT_EVENT_BUDGET,
            linger: Some(DEFAULT_LINGER),
            nodes: Vec::new(),
            extra_addresses: Vec::new(),
            links: Vec::new(),
            routes: Vec::new(),
            middleboxes: Vec::new(),
        }
    }
}

impl Builder {
    /// The seed every random choice of the world derives from (initial sequence numbers,
    /// ephemeral ports, each link's faults): the same seed and description give the same run.
    /// 0 unless set.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = seed;
        self
    }

    /// The connection settings of every socket in the world (the window, SACK, congestion
    /// control, ...). [`Config::default`] unless set.
    pub fn connection_config(mut self, config: Config) -> Builder {
        self.connection = config;
        self
    }

    /// The simulated time after which a run that has not ended is an error
    /// ([`RunError::TimeLimit`](super::RunError::TimeLimit)): [`DEFAULT_TIME_LIMIT`] unless
    /// set.
    pub fn time_limit(mut self, limit: Duration) -> Builder {
        self.time_limit = limit;
        self
    }

    /// How many events a run may take before it is an error
    /// ([`RunError::EventBudget`](super::RunError::EventBudget)), so that even a program that
    /// never waits ends: [`DEFAULT_EVENT_BUDGET`] unless set.
    pub fn event_budget(mut self, budget: u64) -> Builder {
        self.event_budget = budget;
        self
    }

    /// The linger every stream starts with ([`net::Stream::set_linger`](super::net::Stream::set_linger)):
    /// [`DEFAULT_LINGER`] unless set.
    pub fn linger(mut self, linger: Option<Duration>) -> Builder {
        self.linger = linger;
        self
    }

    /// A host named `name` with `address` (IPv4 or IPv6).
    pub fn host(mut self, name: &str, address: &str) -> Builder {
        self.nodes.push(NodeSpec {
            name: name.to_string(),
            addresses: vec![address.to_string()],
            router: false,
        });
        self
    }

    /// A router named `name` with `address`: the source of the unreachables it sends, and
    /// what its middlebox may use as a public address.
    pub fn router(mut self, name: &str, address: &str) -> Builder {
        self.nodes.push(NodeSpec {
            name: name.to_string(),
            addresses: vec![address.to_string()],
            router: true,
        });
        self
    }

    /// One more address for node `node` (a host of both families, say).
    pub fn address(mut self, node: &str, address: &str) -> Builder {
        self.extra_addresses
            .push((node.to_string(), address.to_string()));
        self
    }

    /// A link between `a` and `b`, both directions configured by `config` (each with a fault
    /// injector of its own, seeded apart).
    pub fn link(self, a: &str, b: &str, config: LinkConfig) -> Builder {
        self.link_asymmetric(a, b, config.clone(), config)
    }

    /// A link between `a` and `b`, each direction configured apart.
    pub fn link_asymmetric(
        mut self,
        a: &str,
        b: &str,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Builder {
        self.links.push(LinkSpec {
            a: a.to_string(),
            b: b.to_string(),
            a_to_b,
            b_to_a,
        });
        self
    }

    /// A static route of `node`: datagrams to `prefix` (`10.0.1.0/24`, `0.0.0.0/0` for the
    /// default route, `::/0` for IPv6's) go to the neighbor `via`, which a link must join to
    /// `node`.
    pub fn route(mut self, node: &str, prefix: &str, via: &str) -> Builder {
        self.routes.push(RouteSpec {
            node: node.to_string(),
            prefix: prefix.to_string(),
            via: via.to_string(),
        });
        self
    }

    /// Put `middlebox` on router `router`: it sees every datagram the router forwards.
    pub fn middlebox(mut self, router: &str, middlebox: impl Middlebox + 'static) -> Builder {
        self.middleboxes
            .push((router.to_string(), Box::new(middlebox)));
        self
    }

    /// Check the description (the connection settings among it) and build the world, at time
    /// zero, with no program yet.
    pub fn build(self) -> Result<World, ConfigError> {
        self.connection.check().map_err(ConfigError::Connection)?;
        let mut nodes = Nodes::default();
        let hosts_seed = derive_seed(self.seed, WORLD_HOSTS);
        for spec in &self.nodes {
            let addresses = spec
                .addresses
                .iter()
                .map(|text| parse_address(text))
                .collect::<Result<Vec<_>, _>>()?;
            let index = nodes.list.len() as u64;
            let role = match spec.router {
                true => Role::Router(Router::default()),
                false => Role::Host(Host::new(derive_seed(hosts_seed, index))),
            };
            nodes.add(Node {
                name: spec.name.clone(),
                addresses,
                interfaces: Vec::new(),
                routes: RouteTable::default(),
                role,
            })?;
        }
        for (node, address) in &self.extra_addresses {
            let id = nodes.find(node)?;
            nodes.add_address(id, parse_address(address)?)?;
        }
        let mut links = Vec::new();
        for (index, spec) in self.links.into_iter().enumerate() {
            let ends = [nodes.find(&spec.a)?, nodes.find(&spec.b)?];
            if ends[0] == ends[1] {
                return Err(ConfigError::LinkToItself { node: spec.a });
            }
            let ends = ends.map(|node| {
                let interface = nodes.list[node].interfaces.len();
                LinkEnd { node, interface }
            });
            for (side, end) in ends.iter().enumerate() {
                nodes.list[end.node]
                    .interfaces
                    .push(Attachment { link: index, side });
            }
            links.push(WorldLink::new(
                self.seed,
                index,
                ends,
                [spec.a_to_b, spec.b_to_a],
            ));
        }
        for spec in &self.routes {
            let node = nodes.find(&spec.node)?;
            let via = nodes.find(&spec.via)?;
            let prefix: Prefix = spec.prefix.parse()?;
            let Some(interface) = nodes.list[node].interface_toward(&links, via) else {
                return Err(ConfigError::NotANeighbor {
                    node: spec.node.clone(),
                    next_hop: spec.via.clone(),
                    neighbors: neighbor_names(&nodes, &links, node),
                });
            };
            nodes.list[node].routes.add(prefix, interface);
        }
        add_implicit_routes(&mut nodes, &links);
        for id in 0..nodes.list.len() {
            let neighbors = neighbor_names(&nodes, &links, id);
            if let Role::Router(router) = &mut nodes.list[id].role {
                router.neighbors = neighbors;
            }
        }
        let middleboxes_seed = derive_seed(self.seed, WORLD_MIDDLEBOXES);
        for (name, mut middlebox) in self.middleboxes {
            let id = nodes.find(&name)?;
            let node = &mut nodes.list[id];
            let Role::Router(router) = &mut node.role else {
                return Err(ConfigError::MiddleboxOnHost { node: name });
            };
            let placement = Placement {
                router: &name,
                addresses: &node.addresses,
                neighbors: &router.neighbors,
                seed: derive_seed(middleboxes_seed, id as u64),
            };
            middlebox
                .attach(&placement)
                .map_err(|why| ConfigError::Middlebox {
                    router: name.clone(),
                    why,
                })?;
            router.middlebox = Some(middlebox);
        }
        Ok(World::new(
            self.seed,
            self.connection,
            self.linger,
            self.time_limit,
            self.event_budget,
            nodes,
            links,
        ))
    }
}

/// The names of the nodes at the far end of each of node `id`'s interfaces, in order.
fn neighbor_names(nodes: &Nodes, links: &[WorldLink], id: usize) -> Vec<String> {
    nodes.list[id]
        .interfaces
        .iter()
        .map(|a| nodes.list[links[a.link].far_end(a.side)].name.clone())
        .collect()
}

/// The routes nobody needs to write: a host's default routes (IPv4 and IPv6) by its first
/// link, and a router's connected routes to the addresses of the hosts linked to it. Routes
/// described explicitly come first, so between two of one length they win.
fn add_implicit_routes(nodes: &mut Nodes, links: &[WorldLink]) {
    for id in 0..nodes.list.len() {
        let node = &nodes.list[id];
        let mut routes = Vec::new();
        match node.role {
            Role::Host(_) if !node.interfaces.is_empty() => {
                for any in [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()] {
                    routes.push((Prefix::default_for(any), 0));
                }
            }
            Role::Host(_) => {}
            Role::Router(_) => {
                for (interface, attachment) in node.interfaces.iter().enumerate() {
                    let neighbor = &nodes.list[links[attachment.link].far_end(attachment.side)];
                    if neighbor.host().is_some() {
                        for &address in &neighbor.addresses {
                            routes.push((Prefix::host(address), interface));
                        }
                    }
                }
            }
        }
        let node = &mut nodes.list[id];
        for (prefix, interface) in routes {
            if !node.routes.has(prefix) {
                node.routes.add(prefix, interface);
            }
        }
    }
}
