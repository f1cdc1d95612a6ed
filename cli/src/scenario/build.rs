//! A scenario file made into a world: its nodes, links and routes through the world's
//! [`Builder`], its programs through [`World::builtin`], its events through
//! [`World::schedule`]. Whatever cannot be is an error at the place in the file that says
//! it: the world's own checks ([`ConfigError`]) are traced back to the text they name.

use std::ops::Range;
use std::time::Duration;

use crate::args::Cc;
use ferry::link::LinkConfig;
use ferry::sim::world::{
    Amount, Builder, BuiltIn, ConfigError, Flows, Nat, NatConfig, Scheduled, World,
};
use ferry::Config;

use super::format::{
    expand, ConnectionSpec, DirectionSpec, LinkSpec, Mtu, NatSpec, Parsed, ProgramKind,
    ProgramSpec, RecvBufferSpec, ScenarioFile, SendBufferSpec,
};
use super::Located;

/// A world ready to run, the log its clients write to, and the routers with a NAT.
pub struct Built {
    pub world: World,
    pub flows: Flows,
    pub nats: Vec<String>,
}

/// Where each name, address, prefix, link and route the builder was given came from, to
/// trace its errors back to the file.
#[derive(Default)]
struct Places {
    /// Nodes as declared: name, where.
    declared: Vec<(String, Range<usize>)>,
    /// Names used to refer to a node: name, where.
    references: Vec<(String, Range<usize>)>,
    /// Addresses: the node, the text, where.
    addresses: Vec<(String, String, Range<usize>)>,
    /// Route prefixes: text, where.
    prefixes: Vec<(String, Range<usize>)>,
    /// Links: the two ends, where.
    links: Vec<(String, String, Range<usize>)>,
    /// Routes: node, next hop, where.
    routes: Vec<(String, String, Range<usize>)>,
    /// NATs: the node, where.
    nats: Vec<(String, Range<usize>)>,
}

impl Places {
    /// Where the file says what `error` is about, if it can be told.
    fn blame(&self, error: &ConfigError) -> Option<Range<usize>> {
        let first = |list: &[(String, Range<usize>)], name: &str| {
            list.iter()
                .find(|(text, _)| text == name)
                .map(|(_, span)| span.clone())
        };
        match error {
            ConfigError::UnknownNode { name, .. } => first(&self.references, name),
            ConfigError::DuplicateName { name } => self
                .declared
                .iter()
                .filter(|(text, _)| text == name)
                .nth(1)
                .map(|(_, span)| span.clone()),
            ConfigError::DuplicateAddress {
                address, second, ..
            } => self
                .addresses
                .iter()
                .find(|(node, text, _)| {
                    node == second && text.trim().parse().ok() == Some(*address)
                })
                .map(|(_, _, span)| span.clone()),
            ConfigError::BadAddress { text } => self
                .addresses
                .iter()
                .find(|(_, written, _)| written == text)
                .map(|(_, _, span)| span.clone()),
            ConfigError::BadPrefix { text, .. } => first(&self.prefixes, text),
            ConfigError::LinkToItself { node } => self
                .links
                .iter()
                .find(|(a, b, _)| a == node && b == node)
                .map(|(_, _, span)| span.clone()),
            ConfigError::NotANeighbor { node, next_hop, .. } => self
                .routes
                .iter()
                .find(|(from, via, _)| from == node && via == next_hop)
                .map(|(_, _, span)| span.clone()),
            ConfigError::MiddleboxOnHost { node } | ConfigError::Middlebox { router: node, .. } => {
                first(&self.nats, node)
            }
            _ => None,
        }
    }
}

/// A located error.
fn at(span: Range<usize>, message: impl Into<String>) -> Located {
    Located {
        span: Some(span),
        message: message.into(),
    }
}

/// `message`, saying which copy of a repeated table it was about.
fn of_copy(i: Option<u32>, message: impl std::fmt::Display) -> String {
    match i {
        Some(i) => format!("{message} (in its copy with i = {i})"),
        None => message.to_string(),
    }
}

/// The world the file describes, seeded with `seed`, its programs and events in place.
pub fn build(file: &ScenarioFile, seed: u64) -> Result<Built, Located> {
    let mut places = Places::default();
    let mut builder = World::builder()
        .seed(seed)
        .connection_config(connection(file.connection.as_ref())?);
    if let Some(Parsed(limit)) = file.time_limit {
        builder = builder.time_limit(limit);
    }
    if let Some(budget) = file.event_budget {
        builder = builder.event_budget(budget);
    }
    builder = nodes(file, builder, &mut places)?;
    builder = links(&file.link, builder, &mut places)?;
    for (span, _, route) in expand(&file.route)? {
        let (node, via) = (route.node.get_ref(), route.via.get_ref());
        places.references.push((node.clone(), route.node.span()));
        places.references.push((via.clone(), route.via.span()));
        places
            .prefixes
            .push((route.to.get_ref().clone(), route.to.span()));
        places.routes.push((node.clone(), via.clone(), span));
        builder = builder.route(node, route.to.get_ref(), via);
    }
    let mut world = builder.build().map_err(|error| Located {
        span: places.blame(&error),
        message: error.to_string(),
    })?;
    let flows = Flows::default();
    for (span, i, program) in expand(&file.program)? {
        let (start, builtin) =
            builtin(&program).map_err(|why| at(span.clone(), of_copy(i, why)))?;
        world
            .builtin(program.host.get_ref(), start, builtin, &flows)
            .map_err(|error| at(span, of_copy(i, error)))?;
    }
    for line in &file.events {
        let event: Scheduled = line
            .get_ref()
            .parse()
            .map_err(|error| at(line.span(), format!("{error}")))?;
        world
            .schedule([event])
            .map_err(|error| at(line.span(), error.to_string()))?;
    }
    let nats = places.nats.into_iter().map(|(router, _)| router).collect();
    Ok(Built { world, flows, nats })
}

/// `[connection]` over the library's defaults (as `ferry sim`'s), checked.
fn connection(spec: Option<&toml::Spanned<ConnectionSpec>>) -> Result<Config, Located> {
    let Some(spec) = spec else {
        return Ok(Config::default());
    };
    let (span, spec) = (spec.span(), spec.get_ref());
    let defaults = Config::default();
    let config = Config {
        mss: spec.mss.unwrap_or(defaults.mss),
        send_buffer: spec
            .send_buffer
            .map_or(defaults.send_buffer, |Parsed(SendBufferSpec(buffer))| {
                buffer
            }),
        recv_buffer: spec
            .recv_buffer
            .map_or(defaults.recv_buffer, |Parsed(RecvBufferSpec(buffer))| {
                buffer
            }),
        congestion_control: spec.cc.map_or(defaults.congestion_control, Cc::controller),
        pacing: spec.pacing.unwrap_or(defaults.pacing),
        sack: spec.sack.unwrap_or(defaults.sack),
        rack: spec.rack.unwrap_or(defaults.rack),
        timestamps: spec.timestamps.unwrap_or(defaults.timestamps),
        plpmtud: spec.pmtud.unwrap_or(defaults.plpmtud),
        duplicate_ack_threshold: spec.dupthresh.unwrap_or(defaults.duplicate_ack_threshold),
        min_rto: spec.min_rto.map_or(defaults.min_rto, |Parsed(rto)| rto),
        delayed_ack: spec
            .delayed_ack
            .map_or(defaults.delayed_ack, |Parsed(delay)| delay),
        ..defaults
    };
    config.check().map_err(|error| {
        // The file's key for the setting `Config` names.
        let key = match error.setting {
            "duplicate_ack_threshold" => "dupthresh",
            setting => setting,
        };
        at(
            span,
            format!(
                "[connection] {key} = {} cannot work: it must be {}",
                error.value, error.valid
            ),
        )
    })?;
    Ok(config)
}

/// The hosts and routers, their addresses, and the routers' NATs.
fn nodes(
    file: &ScenarioFile,
    mut builder: Builder,
    places: &mut Places,
) -> Result<Builder, Located> {
    let hosts = expand(&file.host)?.into_iter().map(|node| (false, node));
    let routers = expand(&file.router)?.into_iter().map(|node| (true, node));
    for (router, (span, i, node)) in hosts.chain(routers) {
        let mut addresses = node.address.into_iter().chain(node.addresses);
        let Some(first) = addresses.next() else {
            let what = if router { "a router" } else { "a host" };
            return Err(at(
                span,
                of_copy(i, format!("{what} needs an `address` (or `addresses`)")),
            ));
        };
        let name = node.name.get_ref().clone();
        places.declared.push((name.clone(), node.name.span()));
        places
            .addresses
            .push((name.clone(), first.get_ref().clone(), first.span()));
        builder = match router {
            true => builder.router(&name, first.get_ref()),
            false => builder.host(&name, first.get_ref()),
        };
        for address in addresses {
            places
                .addresses
                .push((name.clone(), address.get_ref().clone(), address.span()));
            builder = builder.address(&name, address.get_ref());
        }
        if let Some(nat) = node.nat {
            places.nats.push((name.clone(), nat.span()));
            builder = builder.middlebox(&name, self::nat(nat.get_ref()));
        }
    }
    Ok(builder)
}

/// The NAT a `nat` key describes: its preset, with what the key changes.
fn nat(spec: &NatSpec) -> Nat {
    let Parsed(preset) = spec.preset;
    let defaults = NatConfig::from(preset);
    let config = NatConfig {
        lifetime: spec
            .lifetime
            .map_or(defaults.lifetime, |Parsed(lifetime)| lifetime),
        inbound_refresh: spec.inbound_refresh.unwrap_or(defaults.inbound_refresh),
        hairpinning: spec.hairpinning.unwrap_or(defaults.hairpinning),
        table_limit: spec.table_limit.unwrap_or(defaults.table_limit),
        ..defaults
    };
    Nat::new(spec.outside.get_ref(), config)
}

/// The links, each direction's settings over the link's own over the defaults.
fn links(
    specs: &[toml::Spanned<LinkSpec>],
    mut builder: Builder,
    places: &mut Places,
) -> Result<Builder, Located> {
    for (span, i, link) in expand(specs)? {
        let (a, b) = (link.a.get_ref(), link.b.get_ref());
        places.references.push((a.clone(), link.a.span()));
        places.references.push((b.clone(), link.b.span()));
        places.links.push((a.clone(), b.clone(), span.clone()));
        let both = link.both();
        let direction = |own: &Option<DirectionSpec>| {
            let own = own.clone().unwrap_or_default();
            let defaults = LinkConfig::default();
            let queue = own.queue.or(both.queue).unwrap_or(defaults.queue_limit);
            if queue == 0 {
                return Err(at(
                    span.clone(),
                    of_copy(
                        i,
                        "a queue of 0 datagrams drops everything: it must be at least 1",
                    ),
                ));
            }
            Ok(LinkConfig {
                rate_bps: own
                    .rate
                    .or(both.rate)
                    .map_or(defaults.rate_bps, |Parsed(rate)| rate.0),
                delay: own
                    .delay
                    .or(both.delay)
                    .map_or(defaults.delay, |Parsed(delay)| delay),
                queue_limit: queue,
                faults: own
                    .faults
                    .or(both.faults.clone())
                    .map_or(defaults.faults, |Parsed(faults)| faults),
                mtu: own
                    .mtu
                    .or(both.mtu)
                    .map_or(defaults.mtu, |Parsed(Mtu(mtu))| Some(mtu)),
            })
        };
        let (a_to_b, b_to_a) = (direction(&link.a_to_b)?, direction(&link.b_to_a)?);
        builder = builder.link_asymmetric(a, b, a_to_b, b_to_a);
    }
    Ok(builder)
}

/// A program's start and what it runs, or what is wrong with its keys.
fn builtin(spec: &ProgramSpec) -> Result<(Duration, BuiltIn), String> {
    let kind = spec.run;
    let given: [(&str, bool); 8] = [
        ("port", spec.port.is_some()),
        ("to", spec.to.is_some()),
        ("bytes", spec.bytes.is_some()),
        ("duration", spec.duration.is_some()),
        ("requests", spec.requests.is_some()),
        ("request", spec.request.is_some()),
        ("response", spec.response.is_some()),
        ("interval", spec.interval.is_some()),
    ];
    let takes: &[&str] = match kind {
        ProgramKind::BulkReceive | ProgramKind::Echo | ProgramKind::Respond => &["port"],
        ProgramKind::BulkSend => &["to", "bytes", "duration"],
        ProgramKind::Requests => &["to", "requests", "request", "response", "interval"],
    };
    if let Some((key, _)) = given
        .iter()
        .find(|(key, present)| *present && !takes.contains(key))
    {
        return Err(format!(
            "a {:?} program takes no `{key}`; its keys are host, run, start, repeat and {}",
            kind.name(),
            takes.join(", ")
        ));
    }
    let needs =
        |key: &str, what: &str| format!("a {:?} program needs `{key}` ({what})", kind.name());
    let to = || {
        spec.to
            .as_ref()
            .map(|to| to.get_ref().clone())
            .ok_or_else(|| needs("to", "where it connects, such as \"server:80\""))
    };
    let start = spec.start.map_or(Duration::ZERO, |Parsed(start)| start);
    let program = match kind {
        ProgramKind::BulkReceive | ProgramKind::Echo | ProgramKind::Respond => {
            let port = spec
                .port
                .ok_or_else(|| needs("port", "the port it listens on"))?;
            match kind {
                ProgramKind::BulkReceive => BuiltIn::BulkReceive { port },
                ProgramKind::Echo => BuiltIn::Echo { port },
                _ => BuiltIn::Respond { port },
            }
        }
        ProgramKind::BulkSend => {
            let amount = match (spec.bytes, spec.duration) {
                (Some(Parsed(bytes)), None) => Amount::Bytes(bytes.0),
                (None, Some(Parsed(duration))) => Amount::For(duration),
                _ => {
                    return Err("a \"bulk-send\" program needs one of `bytes` (how much it \
                                sends) or `duration` (for how long)"
                        .to_string())
                }
            };
            BuiltIn::BulkSend { to: to()?, amount }
        }
        ProgramKind::Requests => {
            let size = |value: Option<Parsed<super::format::Size>>, key: &str| {
                value
                    .map(|Parsed(size)| u32::try_from(size.0))
                    .transpose()
                    .map_err(|_| format!("`{key}` must be at most 4 GiB - 1 bytes"))
            };
            let request = size(spec.request, "request")?
                .ok_or_else(|| needs("request", "each request's size, at least 8 bytes"))?;
            BuiltIn::Requests {
                to: to()?,
                count: spec
                    .requests
                    .ok_or_else(|| needs("requests", "how many requests it makes"))?,
                request,
                response: size(spec.response, "response")?.unwrap_or(request),
                interval: spec
                    .interval
                    .map_or(Duration::ZERO, |Parsed(interval)| interval),
            }
        }
    };
    Ok((start, program))
}
