//! What a NAT does, in RFC 4787's terms: how it maps (section 4.1), which ports it picks
//! (section 4.2.1), how long a mapping lives and what refreshes it (section 4.3), what it lets
//! in (section 5), and whether it hairpins (section 6); and the presets labs name.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How far a NAT's mapping or filtering depends on the remote endpoint (RFC 4787 sections 4.1
/// and 5 use the same three terms for both).
///
/// For **mapping**, which outbound datagrams of one internal endpoint X:x share an external
/// endpoint X':x':
/// - `EndpointIndependent`: all of them, whatever their destination (REQ-1: a NAT MUST).
/// - `AddressDependent`: those to one remote address Y, whatever its port.
/// - `AddressAndPortDependent`: those to one remote endpoint Y:y; each other destination gets
///   a new external endpoint (the "symmetric" NAT).
///
/// For **filtering**, which inbound datagrams to X':x' get through to X:x:
/// - `EndpointIndependent`: from anyone.
/// - `AddressDependent`: from an address X:x has sent to, whatever the port.
/// - `AddressAndPortDependent`: from an endpoint X:x has sent to, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependence {
    /// Independent of the remote endpoint.
    EndpointIndependent,
    /// Dependent on the remote address, not its port.
    AddressDependent,
    /// Dependent on the remote address and port.
    AddressAndPortDependent,
}

impl fmt::Display for Dependence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependence::EndpointIndependent => "endpoint-independent",
            Dependence::AddressDependent => "address-dependent",
            Dependence::AddressAndPortDependent => "address-and-port-dependent",
        })
    }
}

/// Which external port a new mapping gets (RFC 4787 section 4.2.1). Whatever the choice, no
/// two mappings share an external port (REQ-3: no "port overloading"), and a mapping of an
/// internal port below 1024 gets an external port below 1024, any other one of 1024 and up
/// (REQ-3 a and b).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortAssignment {
    /// The internal port itself (x' = x: "port preservation"); when another mapping holds
    /// it, the next free port above it.
    Preserving,
    /// The port after the one the NAT gave last (the first drawn from the seed), skipping
    /// ports in use: what port prediction guesses from.
    Sequential,
    /// A port drawn from the NAT's seeded generator (a free one).
    Random,
}

impl fmt::Display for PortAssignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortAssignment::Preserving => "port-preserving",
            PortAssignment::Sequential => "sequential ports",
            PortAssignment::Random => "random ports",
        })
    }
}

/// How long a mapping lives unless traffic refreshes it: two minutes, the least RFC 4787
/// REQ-5 allows (it recommends five or more), so that a keepalive interval chosen for this
/// NAT works through any conforming one.
pub const DEFAULT_MAPPING_LIFETIME: Duration = Duration::from_secs(120);

/// How many entries a NAT's table holds at most by default (an entry is a row of the table:
/// an internal endpoint, its external endpoint, and one remote endpoint it sent to). A new
/// entry beyond it is refused and its datagram dropped (`table full`), so no traffic grows a
/// NAT's memory beyond about 6 MB (measured: about 380 bytes an entry when each is a mapping
/// of its own, as a symmetric NAT's are; 220 when they share one). It is below the 64,512 ports of
/// 1024 and up, so the table fills before those ports run out. RFC 4787 sets no number; RFC
/// 5508 REQ-8 says a NAT that cannot make a mapping for want of resources drops the datagram
/// (and SHOULD send an ICMP administratively prohibited, which the world's NAT does not).
pub const DEFAULT_TABLE_LIMIT: usize = 16_384;

/// A NAT's behaviour: RFC 4787's parameters. Build it from a [`Preset`]
/// (`NatConfig::from(Preset::PortRestrictedCone)`) and change what you need with
/// struct-update syntax; [`Default`] is the port-restricted cone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// Which outbound datagrams share a mapping (RFC 4787 section 4.1).
    pub mapping: Dependence,
    /// Which inbound datagrams a mapping lets in (RFC 4787 section 5).
    pub filtering: Dependence,
    /// Which external port a new mapping gets (RFC 4787 section 4.2.1).
    pub ports: PortAssignment,
    /// How long an entry lives after the last datagram that refreshed it: outbound datagrams
    /// always do (REQ-6); inbound ones when [`inbound_refresh`](Self::inbound_refresh) is on.
    /// A mapping lives as long as one of its entries does. [`DEFAULT_MAPPING_LIFETIME`].
    pub lifetime: Duration,
    /// Whether inbound datagrams refresh the entries that let them in (REQ-6 a: a NAT MAY).
    /// Off by default: RFC 4787 section 4.3 warns that it lets anyone outside keep a mapping
    /// alive.
    pub inbound_refresh: bool,
    /// Whether an internal endpoint can reach another through the NAT's public endpoint
    /// ("hairpinning", RFC 4787 section 6: REQ-9 says a NAT MUST). The hairpinned datagram
    /// arrives from the sender's external endpoint (REQ-9 b) and passes the receiver's
    /// filter like any inbound datagram.
    pub hairpinning: bool,
    /// The most entries the table holds ([`DEFAULT_TABLE_LIMIT`]).
    pub table_limit: usize,
}

impl Default for NatConfig {
    fn default() -> NatConfig {
        Preset::PortRestrictedCone.into()
    }
}

impl fmt::Display for NatConfig {
    /// The preset's name when it is one (`port-restricted cone`); otherwise its mapping,
    /// filtering and ports. The lifetime, refresh, hairpinning and limit follow when they are
    /// not the defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = (self.mapping, self.filtering, self.ports);
        match Preset::ALL
            .into_iter()
            .find(|preset| NatConfig::from(*preset).parameters() == core)
        {
            Some(preset) => write!(f, "{}", preset.title())?,
            None => write!(
                f,
                "{} mapping, {} filtering, {}",
                self.mapping, self.filtering, self.ports
            )?,
        }
        if self.lifetime != DEFAULT_MAPPING_LIFETIME {
            write!(f, ", lifetime {:?}", self.lifetime)?;
        }
        if self.inbound_refresh {
            f.write_str(", inbound refresh")?;
        }
        if !self.hairpinning {
            f.write_str(", no hairpinning")?;
        }
        if self.table_limit != DEFAULT_TABLE_LIMIT {
            write!(f, ", at most {} entries", self.table_limit)?;
        }
        Ok(())
    }
}

impl NatConfig {
    /// Mapping, filtering and ports: what a preset fixes.
    fn parameters(&self) -> (Dependence, Dependence, PortAssignment) {
        (self.mapping, self.filtering, self.ports)
    }
}

/// The NAT types labs name (RFC 3489's "cone" and "symmetric" names, in RFC 4787's terms).
/// Each preserves ports but the symmetric ones, lives [`DEFAULT_MAPPING_LIFETIME`], refreshes
/// on outbound traffic alone and hairpins. Names read and print as `full-cone`,
/// `address-restricted-cone`, `port-restricted-cone`, `symmetric`, `symmetric-sequential`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Preset {
    /// Endpoint-independent mapping and filtering: once X:x has sent anything, anyone can
    /// reach it at X':x'.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering: X':x' lets in any port of
    /// an address X:x has sent to.
    AddressRestrictedCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering: X':x' lets in
    /// exactly the endpoints X:x has sent to.
    PortRestrictedCone,
    /// Address-and-port-dependent mapping and filtering, random ports: each destination of
    /// X:x sees it at a new external endpoint, which nobody can predict.
    Symmetric,
    /// The same, with sequential ports: the next destination's external port is the next
    /// free one, which port prediction can guess.
    SymmetricSequential,
}

impl Preset {
    /// Every preset, in the order above (a success matrix's rows and columns).
    pub const ALL: [Preset; 5] = [
        Preset::FullCone,
        Preset::AddressRestrictedCone,
        Preset::PortRestrictedCone,
        Preset::Symmetric,
        Preset::SymmetricSequential,
    ];

    /// The name as a lab writes it: `port-restricted cone`.
    pub fn title(self) -> &'static str {
        match self {
            Preset::FullCone => "full cone",
            Preset::AddressRestrictedCone => "address-restricted cone",
            Preset::PortRestrictedCone => "port-restricted cone",
            Preset::Symmetric => "symmetric",
            Preset::SymmetricSequential => "symmetric, sequential ports",
        }
    }

    /// The name as a flag or a scenario file writes it: `port-restricted-cone`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::FullCone => "full-cone",
            Preset::AddressRestrictedCone => "address-restricted-cone",
            Preset::PortRestrictedCone => "port-restricted-cone",
            Preset::Symmetric => "symmetric",
            Preset::SymmetricSequential => "symmetric-sequential",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Preset`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetParseError {
    /// The text given.
    pub text: String,
}

impl fmt::Display for PresetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Preset::ALL.iter().map(|preset| preset.name()).collect();
        write!(
            f,
            "{:?} is not a NAT type; the types are: {}",
            self.text,
            names.join(", ")
        )
    }
}

impl std::error::Error for PresetParseError {}

impl FromStr for Preset {
    type Err = PresetParseError;

    fn from_str(text: &str) -> Result<Preset, PresetParseError> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.name() == text)
            .ok_or_else(|| PresetParseError {
                text: text.to_string(),
            })
    }
}

impl From<Preset> for NatConfig {
    fn from(preset: Preset) -> NatConfig {
        use Dependence::*;
        let (mapping, filtering, ports) = match preset {
            Preset::FullCone => (
                EndpointIndependent,
                EndpointIndependent,
                PortAssignment::Preserving,
            ),
            Preset::AddressRestrictedCone => (
                EndpointIndependent,
                AddressDependent,
                PortAssignment::Preserving,
            ),
            Preset::PortRestrictedCone => (
                EndpointIndependent,
                AddressAndPortDependent,
                PortAssignment::Preserving,
            ),
            Preset::Symmetric => (
                AddressAndPortDependent,
                AddressAndPortDependent,
                PortAssignment::Random,
            ),
            Preset::SymmetricSequential => (
                AddressAndPortDependent,
                AddressAndPortDependent,
                PortAssignment::Sequential,
            ),
        };
        NatConfig {
            mapping,
            filtering,
            ports,
            lifetime: DEFAULT_MAPPING_LIFETIME,
            inbound_refresh: false,
            hairpinning: true,
            table_limit: DEFAULT_TABLE_LIMIT,
        }
    }
}
