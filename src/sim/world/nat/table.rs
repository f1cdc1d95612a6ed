//! A NAT's mapping table: each mapping (an internal endpoint and the external port it was
//! given) with its entries, one per remote endpoint it sent to, each with the time it expires
//! unless refreshed. Expired entries go first thing at each crossing, oldest first, from an
//! index by expiry, so the work is the entries that expire, whatever the table's size.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::config::NatConfig;

/// What a mapping is for: its internal endpoint and, as the mapping behaviour asks, the
/// remote address or endpoint (RFC 4787 section 4.1). Outbound datagrams with one key share
/// one mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct MappingKey {
    pub(super) internal: SocketAddr,
    /// The remote address, for an address-dependent or address-and-port-dependent mapping.
    pub(super) remote_address: Option<IpAddr>,
    /// The remote port, for an address-and-port-dependent mapping.
    pub(super) remote_port: Option<u16>,
}

/// The mappings, by external port (one public address: the port alone names a mapping), and
/// their entries. Entries live in one map keyed by port and remote, not a map per mapping, so
/// a symmetric NAT's mappings of one entry each cost an entry, not a map's node each.
#[derive(Debug, Default)]
pub(super) struct Table {
    mappings: BTreeMap<u16, MappingKey>,
    by_key: BTreeMap<MappingKey, u16>,
    /// Each entry's expiry, by external port and remote.
    entries: BTreeMap<(u16, SocketAddr), Duration>,
    /// Every entry as (expiry, external port, remote), soonest first.
    expiries: BTreeSet<(Duration, u16, SocketAddr)>,
}

/// The least socket address: entries of one port start at (port, this).
const LEAST: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

impl Table {
    /// Remove the entries expired at `now` (an entry lives until its expiry, not at it), and
    /// the mappings left with none.
    pub(super) fn expire(&mut self, now: Duration) {
        while let Some(&(expiry, port, remote)) = self.expiries.first() {
            if expiry > now {
                break;
            }
            self.expiries.pop_first();
            self.entries.remove(&(port, remote));
            if self.entries_of(port).next().is_none() {
                if let Some(key) = self.mappings.remove(&port) {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// The entries of the mapping on `port`: each remote and its expiry.
    fn entries_of(&self, port: u16) -> impl Iterator<Item = (SocketAddr, Duration)> + '_ {
        self.entries
            .range((port, LEAST)..)
            .take_while(move |((of, _), _)| *of == port)
            .map(|(&(_, remote), &expiry)| (remote, expiry))
    }

    /// The external port of the mapping for `key`, if there is one.
    pub(super) fn find(&self, key: &MappingKey) -> Option<u16> {
        self.by_key.get(key).copied()
    }

    /// The internal endpoint of the mapping on external port `port`, if there is one.
    pub(super) fn internal(&self, port: u16) -> Option<SocketAddr> {
        self.mappings.get(&port).map(|key| key.internal)
    }

    /// Whether the mapping on `port` has an entry for `remote`.
    pub(super) fn has_entry(&self, port: u16, remote: SocketAddr) -> bool {
        self.entries.contains_key(&(port, remote))
    }

    /// Whether no mapping holds external port `port`.
    pub(super) fn is_free(&self, port: u16) -> bool {
        !self.mappings.contains_key(&port)
    }

    /// How many entries the table holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A new mapping for `key` on external port `port`, with no entry yet (give it one at
    /// once: [`refresh`](Self::refresh)).
    pub(super) fn insert(&mut self, key: MappingKey, port: u16) {
        self.by_key.insert(key, port);
        self.mappings.insert(port, key);
    }

    /// Set the expiry of the entry for `remote` of the mapping on `port` to `expiry`, making
    /// the entry if it is new.
    pub(super) fn refresh(&mut self, port: u16, remote: SocketAddr, expiry: Duration) {
        if !self.mappings.contains_key(&port) {
            return;
        }
        if let Some(previous) = self.entries.insert((port, remote), expiry) {
            self.expiries.remove(&(previous, port, remote));
        }
        self.expiries.insert((expiry, port, remote));
    }

    /// The remotes of the mapping on `port`'s entries.
    pub(super) fn remotes(&self, port: u16) -> impl Iterator<Item = SocketAddr> + '_ {
        self.entries_of(port).map(|(remote, _)| remote)
    }

    /// The table as it stands at `now`, in the lecture's form, for a NAT at `public` behaving
    /// as `config`.
    pub(super) fn snapshot(
        &self,
        nat: String,
        public: IpAddr,
        config: NatConfig,
        now: Duration,
    ) -> NatTable {
        let mut rows: Vec<NatRow> = self
            .entries
            .iter()
            .filter(|(_, &expires)| expires > now)
            .filter_map(|(&(port, remote), &expires)| {
                Some(NatRow {
                    internal: self.internal(port)?,
                    external: SocketAddr::new(public, port),
                    remote,
                    expires,
                })
            })
            .collect();
        rows.sort_by_key(|row| (row.internal, row.external, row.remote));
        NatTable {
            nat,
            config,
            at: now,
            rows,
        }
    }
}

/// One row of a NAT's table: an internal endpoint, the external endpoint the NAT maps it to,
/// and a remote endpoint it has sent to through that mapping, with when the row expires
/// unless traffic refreshes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatRow {
    /// The endpoint inside: `192.168.1.2:4000`.
    pub internal: SocketAddr,
    /// The endpoint the outside sees it as: `1.2.3.4:4000`.
    pub external: SocketAddr,
    /// A remote endpoint it sent to: `4.5.6.7:5000`.
    pub remote: SocketAddr,
    /// When the row goes, unless refreshed (the world's time).
    pub expires: Duration,
}

/// A NAT's mapping table at one simulated time
/// ([`World::nat_table`](crate::sim::world::World::nat_table)), which prints in the lecture's
/// form:
///
/// ```text
/// NAT 1.2.3.4 (port-restricted cone) at 0.021000 s:
///   internal          external      remote        expires
///   192.168.1.2:4000  1.2.3.4:4000  4.5.6.7:5000  120.021000 s
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatTable {
    /// The NAT: `NAT 1.2.3.4`.
    pub nat: String,
    /// How it behaves.
    pub config: NatConfig,
    /// The time of the table.
    pub at: Duration,
    /// Its rows, by internal, external and remote endpoint.
    pub rows: Vec<NatRow>,
}

impl NatTable {
    /// The row of `internal` toward `remote`, if there is one.
    pub fn row(&self, internal: SocketAddr, remote: SocketAddr) -> Option<&NatRow> {
        self.rows
            .iter()
            .find(|row| row.internal == internal && row.remote == remote)
    }
}

impl fmt::Display for NatTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}) at {:.6} s:",
            self.nat,
            self.config,
            self.at.as_secs_f64()
        )?;
        if self.rows.is_empty() {
            return writeln!(f, "  no mappings");
        }
        let heading = ["internal", "external", "remote", "expires"].map(str::to_string);
        let lines: Vec<[String; 4]> = std::iter::once(heading)
            .chain(self.rows.iter().map(|row| {
                [
                    row.internal.to_string(),
                    row.external.to_string(),
                    row.remote.to_string(),
                    format!("{:.6} s", row.expires.as_secs_f64()),
                ]
            }))
            .collect();
        let widths: Vec<usize> = (0..3)
            .map(|column| {
                lines
                    .iter()
                    .map(|line| line[column].len())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for [internal, external, remote, expires] in &lines {
            writeln!(
                f,
                "  {internal:<w0$}  {external:<w1$}  {remote:<w2$}  {expires}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )?;
        }
        Ok(())
    }
}
