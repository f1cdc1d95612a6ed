//! The scenario file's format: TOML read into these structs (docs/simulation.md, "Scenario
//! files", lists every key). Every table refuses keys it does not know; every value that
//! names something keeps where it was written, so an error later can give the file's line.
//!
//! A table with `repeat = N` stands for N tables, with `{i}` in its text replaced by 1 to N:
//! `name = "sender{i}"`, `address = "10.1.1.{i}"`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::args::Cc;
use ferry::fault::FaultConfig;
use ferry::sim::world::{Preset, PresetParseError};
use ferry::units::{parse_duration, parse_rate, parse_size};
use ferry::{RecvBuffer, SendBuffer};

use super::Located;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Every random choice derives from it (`--seed` overrides it); 1 unless given.
    pub seed: Option<u64>,
    /// Simulated time after which a run that has not ended is an error.
    pub time_limit: Option<Parsed<Duration>>,
    /// Events (clock events and task polls) after which a run that has not ended is an error.
    pub event_budget: Option<u64>,
    /// Control events, each a line as the world prints them: `1500ms: crash server`.
    #[serde(default)]
    pub events: Vec<Spanned<String>>,
    /// Every connection's settings.
    pub connection: Option<Spanned<ConnectionSpec>>,
    #[serde(default)]
    pub host: Vec<Spanned<NodeSpec>>,
    #[serde(default)]
    pub router: Vec<Spanned<NodeSpec>>,
    #[serde(default)]
    pub link: Vec<Spanned<LinkSpec>>,
    #[serde(default)]
    pub route: Vec<Spanned<RouteSpec>>,
    #[serde(default)]
    pub program: Vec<Spanned<ProgramSpec>>,
}

/// `[connection]`: the settings of every connection in the world, as `ferry sim`'s flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    pub mss: Option<usize>,
    pub send_buffer: Option<Parsed<SendBufferSpec>>,
    pub recv_buffer: Option<Parsed<RecvBufferSpec>>,
    pub cc: Option<Cc>,
    pub pacing: Option<bool>,
    pub sack: Option<bool>,
    pub rack: Option<bool>,
    pub timestamps: Option<bool>,
    pub pmtud: Option<bool>,
    pub dupthresh: Option<u32>,
    pub min_rto: Option<Parsed<Duration>>,
    pub delayed_ack: Option<Parsed<Duration>>,
}

/// `[[host]]` and `[[router]]`: a node and its addresses, and on a router a NAT.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    /// A NAT on the router (the world refuses one on a host).
    pub nat: Option<Spanned<NatSpec>>,
    pub repeat: Option<u32>,
}

/// `nat = { preset = "...", outside = "..." }`: a NAT of one of the presets (RFC 4787's
/// behaviours, docs/simulation.md "NATs"), whose outside is the interface toward `outside`,
/// with the preset's lifetime, refresh, hairpinning and table limit unless given.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    pub preset: Parsed<Preset>,
    pub outside: Spanned<String>,
    pub lifetime: Option<Parsed<Duration>>,
    pub inbound_refresh: Option<bool>,
    pub hairpinning: Option<bool>,
    pub table_limit: Option<usize>,
}

/// `[[link]]`: both directions alike, unless `a_to_b` or `b_to_a` says otherwise for one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub a: Spanned<String>,
    pub b: Spanned<String>,
    pub rate: Option<Parsed<LinkRate>>,
    pub delay: Option<Parsed<Duration>>,
    pub queue: Option<usize>,
    pub mtu: Option<Parsed<Mtu>>,
    pub faults: Option<Parsed<FaultConfig>>,
    pub a_to_b: Option<DirectionSpec>,
    pub b_to_a: Option<DirectionSpec>,
    pub repeat: Option<u32>,
}

/// One direction of a link; what is not given comes from the link's own keys, then from
/// the defaults (10 Mbit/s, 20 ms, a queue of 64 datagrams, an MTU of 1500, no faults).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    pub rate: Option<Parsed<LinkRate>>,
    pub delay: Option<Parsed<Duration>>,
    pub queue: Option<usize>,
    pub mtu: Option<Parsed<Mtu>>,
    pub faults: Option<Parsed<FaultConfig>>,
}

impl LinkSpec {
    /// What the link's own keys say, for both directions.
    pub fn both(&self) -> DirectionSpec {
        DirectionSpec {
            rate: self.rate,
            delay: self.delay,
            queue: self.queue,
            mtu: self.mtu,
            faults: self.faults.clone(),
        }
    }
}

/// `[[route]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub node: Spanned<String>,
    pub to: Spanned<String>,
    pub via: Spanned<String>,
    pub repeat: Option<u32>,
}

/// `[[program]]`: which keys a program takes depends on `run`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    pub host: Spanned<String>,
    pub run: ProgramKind,
    pub start: Option<Parsed<Duration>>,
    pub port: Option<u16>,
    pub to: Option<Spanned<String>>,
    pub bytes: Option<Parsed<Size>>,
    pub duration: Option<Parsed<Duration>>,
    pub requests: Option<u64>,
    pub request: Option<Parsed<Size>>,
    pub response: Option<Parsed<Size>>,
    pub interval: Option<Parsed<Duration>>,
    pub repeat: Option<u32>,
}

/// `run = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgramKind {
    BulkReceive,
    Echo,
    Respond,
    BulkSend,
    Requests,
}

impl ProgramKind {
    pub fn name(self) -> &'static str {
        match self {
            ProgramKind::BulkReceive => "bulk-receive",
            ProgramKind::Echo => "echo",
            ProgramKind::Respond => "respond",
            ProgramKind::BulkSend => "bulk-send",
            ProgramKind::Requests => "requests",
        }
    }
}

// ---- Repetition ----

/// What `repeat = N` copies, with `{i}` replaced.
pub trait Repeat: Clone {
    fn repeat(&self) -> Option<u32>;
    /// The copy for `i`.
    fn instance(&self, i: u32) -> Self;
}

/// `text` with `{i}` replaced by `i`, keeping where it was written.
fn numbered(text: &Spanned<String>, i: u32) -> Spanned<String> {
    Spanned::new(text.span(), text.get_ref().replace("{i}", &i.to_string()))
}

impl Repeat for NodeSpec {
    fn repeat(&self) -> Option<u32> {
        self.repeat
    }
    fn instance(&self, i: u32) -> NodeSpec {
        let nat = self.nat.as_ref().map(|nat| {
            let outside = numbered(&nat.get_ref().outside, i);
            Spanned::new(
                nat.span(),
                NatSpec {
                    outside,
                    ..nat.get_ref().clone()
                },
            )
        });
        NodeSpec {
            name: numbered(&self.name, i),
            address: self.address.as_ref().map(|text| numbered(text, i)),
            addresses: self
                .addresses
                .iter()
                .map(|text| numbered(text, i))
                .collect(),
            nat,
            repeat: None,
        }
    }
}

impl Repeat for LinkSpec {
    fn repeat(&self) -> Option<u32> {
        self.repeat
    }
    fn instance(&self, i: u32) -> LinkSpec {
        LinkSpec {
            a: numbered(&self.a, i),
            b: numbered(&self.b, i),
            repeat: None,
            ..self.clone()
        }
    }
}

impl Repeat for RouteSpec {
    fn repeat(&self) -> Option<u32> {
        self.repeat
    }
    fn instance(&self, i: u32) -> RouteSpec {
        RouteSpec {
            node: numbered(&self.node, i),
            to: numbered(&self.to, i),
            via: numbered(&self.via, i),
            repeat: None,
        }
    }
}

impl Repeat for ProgramSpec {
    fn repeat(&self) -> Option<u32> {
        self.repeat
    }
    fn instance(&self, i: u32) -> ProgramSpec {
        ProgramSpec {
            host: numbered(&self.host, i),
            to: self.to.as_ref().map(|text| numbered(text, i)),
            repeat: None,
            ..self.clone()
        }
    }
}

/// The most copies `repeat` makes of one table: a world of ten thousand hosts runs, and the
/// copies are made before the world checks them, so a larger count would only exhaust memory.
pub const MAX_REPEAT: u32 = 10_000;

/// Each table of `tables` as many times as it repeats, with where it was written and its
/// `i` (`None` for a table that does not repeat); or where a table repeats too often.
#[allow(clippy::type_complexity)] // a table's span, its copy's `i`, the copy
pub fn expand<T: Repeat>(
    tables: &[Spanned<T>],
) -> Result<Vec<(Range<usize>, Option<u32>, T)>, Located> {
    let mut copies = Vec::new();
    for table in tables {
        match table.get_ref().repeat() {
            None => copies.push((table.span(), None, table.get_ref().clone())),
            Some(count) if count > MAX_REPEAT => {
                return Err(Located {
                    span: Some(table.span()),
                    message: format!("repeat = {count}: at most {MAX_REPEAT} copies"),
                })
            }
            Some(count) => {
                for i in 1..=count {
                    copies.push((table.span(), Some(i), table.get_ref().instance(i)));
                }
            }
        }
    }
    Ok(copies)
}

// ---- Values written as text ----

/// A value written as text with a unit (`64KiB`, `10mbit`, `20ms`, a fault spec) or, where
/// that makes sense, as a bare number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parsed<T>(pub T);

/// What [`Parsed`] reads.
pub trait FromText: Sized {
    /// What is expected, for the error: "a duration with a unit ...".
    const EXPECTED: &'static str;
    fn from_text(text: &str) -> Result<Self, String>;
    fn from_number(_number: u64) -> Option<Self> {
        None
    }
}

/// Bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

/// A link's rate in bits per second, or `None` for no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRate(pub Option<u64>);

/// A link's MTU in octets, as `ferry sim --mtu`: the largest IP packet it carries, a UDP
/// datagram's payload and 28 octets of IPv4 and UDP headers; larger ones are dropped without
/// a word (`link::LinkConfig::mtu`, a black hole for path MTU discovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mtu(pub usize);

impl Mtu {
    /// IPv4's minimum MTU (RFC 791: every host and router takes a 68-octet packet whole), as
    /// `ferry sim --mtu` allows, up to the largest IPv4 packet (its 16-bit total length).
    const VALID: std::ops::RangeInclusive<u64> = 68..=65_535;
}

impl FromText for Size {
    const EXPECTED: &'static str =
        "a byte count, bare or with a unit B, KB, KiB, MB, MiB, GB or GiB (e.g. \"64KiB\")";
    fn from_text(text: &str) -> Result<Size, String> {
        parse_size(text)
            .map(|bytes| Size(bytes as u64))
            .ok_or_else(|| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
    fn from_number(number: u64) -> Option<Size> {
        Some(Size(number))
    }
}

/// A receive buffer: `"auto"` (autotuned, the library's default) or a fixed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvBufferSpec(pub RecvBuffer);

impl FromText for RecvBufferSpec {
    const EXPECTED: &'static str = "\"auto\" or a byte count, bare or with a unit B, KB, KiB, \
         MB, MiB, GB or GiB (e.g. \"64KiB\")";
    fn from_text(text: &str) -> Result<RecvBufferSpec, String> {
        crate::args::recv_buffer_arg(text)
            .map(RecvBufferSpec)
            .map_err(|_| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
    fn from_number(number: u64) -> Option<RecvBufferSpec> {
        usize::try_from(number)
            .ok()
            .map(|bytes| RecvBufferSpec(RecvBuffer::Fixed(bytes)))
    }
}

/// A send buffer: `"auto"` (autotuned, the library's default) or a fixed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendBufferSpec(pub SendBuffer);

impl FromText for SendBufferSpec {
    const EXPECTED: &'static str = "\"auto\" or a byte count, bare or with a unit B, KB, KiB, \
         MB, MiB, GB or GiB (e.g. \"4MiB\")";
    fn from_text(text: &str) -> Result<SendBufferSpec, String> {
        crate::args::send_buffer_arg(text)
            .map(SendBufferSpec)
            .map_err(|_| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
    fn from_number(number: u64) -> Option<SendBufferSpec> {
        usize::try_from(number)
            .ok()
            .map(|bytes| SendBufferSpec(SendBuffer::Fixed(bytes)))
    }
}

impl FromText for Mtu {
    const EXPECTED: &'static str = "an MTU in octets, a whole number from 68 (IPv4's minimum) \
         to 65535 (the largest IPv4 packet), e.g. 1500 (Ethernet's) or 1280 (IPv6's minimum)";
    fn from_text(text: &str) -> Result<Mtu, String> {
        text.trim()
            .parse::<u64>()
            .ok()
            .and_then(Mtu::from_number)
            .ok_or_else(|| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
    fn from_number(number: u64) -> Option<Mtu> {
        Mtu::VALID
            .contains(&number)
            .then(|| Mtu(usize::try_from(number).unwrap_or(usize::MAX)))
    }
}

impl FromText for LinkRate {
    const EXPECTED: &'static str =
        "a rate with a unit bit, kbit, mbit or gbit (e.g. \"10mbit\"), or \"unlimited\"";
    fn from_text(text: &str) -> Result<LinkRate, String> {
        if text.eq_ignore_ascii_case("unlimited") {
            return Ok(LinkRate(None));
        }
        parse_rate(text)
            .map(|bps| LinkRate(Some(bps)))
            .ok_or_else(|| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
}

impl FromText for Duration {
    const EXPECTED: &'static str = "a duration with a unit ns, us, ms or s (e.g. \"20ms\")";
    fn from_text(text: &str) -> Result<Duration, String> {
        parse_duration(text).ok_or_else(|| format!("expected {}, not {text:?}", Self::EXPECTED))
    }
    /// A bare number is ambiguous, but for zero (as `parse_duration` reads text).
    fn from_number(number: u64) -> Option<Duration> {
        (number == 0).then_some(Duration::ZERO)
    }
}

impl FromText for FaultConfig {
    const EXPECTED: &'static str =
        "a fault spec such as \"loss=1%,delay=5ms\" (docs/faults.md lists every key)";
    fn from_text(text: &str) -> Result<FaultConfig, String> {
        text.parse()
            .map_err(|error: ferry::fault::FaultSpecError| error.to_string())
    }
}

impl FromText for Preset {
    const EXPECTED: &'static str = "a NAT type: full-cone, address-restricted-cone, \
                                    port-restricted-cone, symmetric or symmetric-sequential";
    fn from_text(text: &str) -> Result<Preset, String> {
        text.parse()
            .map_err(|error: PresetParseError| error.to_string())
    }
}

impl<'de, T: FromText> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Parsed<T>, D::Error> {
        deserializer.deserialize_any(TextVisitor(PhantomData))
    }
}

struct TextVisitor<T>(PhantomData<T>);

impl<T: FromText> Visitor<'_> for TextVisitor<T> {
    type Value = Parsed<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Parsed<T>, E> {
        T::from_text(text).map(Parsed).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Parsed<T>, E> {
        T::from_number(number).map(Parsed).ok_or_else(|| {
            E::custom(format!(
                "expected {}, not the bare number {number}",
                T::EXPECTED
            ))
        })
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Parsed<T>, E> {
        match u64::try_from(number) {
            Ok(number) => self.visit_u64(number),
            Err(_) => Err(E::custom(format!("expected {}, not {number}", T::EXPECTED))),
        }
    }
}
