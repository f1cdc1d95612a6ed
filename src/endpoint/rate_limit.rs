//! A rate limit per source address, for the replies the endpoint sends without any
//! connection (RSTs to strays): each source has a budget of its own, kept by a generic cell
//! rate algorithm, in a table of bounded size.
//!
//! Per source, and with no budget shared by all, so that an off-path attacker learns nothing
//! from the replies to its own segments: a shared budget that segments forged from other
//! addresses spend only when no connection takes them tells which 4-tuples are in use (as
//! the global ICMP limit did, CVE-2020-25705; Linux since limits ICMP per destination
//! before it looks at the global budget, and RSTs not at all). What is bounded is what one
//! address can be sent: a flood forged from a victim's address reflects a trickle to it.
//!
//! A source is an IPv4 address or an IPv6 /64 (one subscriber's network, which an attacker
//! holds whole). The table keeps at most [`SOURCES_TRACKED`] sources. A full table makes
//! room by sampling [`EVICTION_SAMPLES`] entries at random, with the endpoint's injected
//! generator, and dropping the one whose budget is fullest (an entry whose budget has
//! refilled is as good as absent): a flood from many addresses, each of which spends one
//! reply, evicts its own kind, and not a source that a forged flood keeps spent; and which
//! entry goes does not depend, in a way an attacker could arrange, on who else sent what.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use rand::RngCore;

use crate::time::Instant;

/// At most this many sources per table: about 64 bytes each, so under 300 KB.
pub const SOURCES_TRACKED: usize = 4096;
/// Entries sampled to choose which one a full table drops.
const EVICTION_SAMPLES: usize = 8;

/// Who a budget belongs to: an IPv4 address, or an IPv6 address's /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    V4(u32),
    V6Prefix(u64),
}

impl Source {
    fn of(address: IpAddr) -> Source {
        match address.to_canonical() {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => Source::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// Replies to each source: at most `per_second` a second in bursts of at most `burst`.
#[derive(Debug)]
pub(super) struct PerSourceLimit {
    interval: Duration,
    burst: u32,
    /// Each tracked source with its schedule: when the replies sent to it so far would have
    /// finished going out at the limit's rate. At most [`SOURCES_TRACKED`].
    schedules: Vec<(Source, Instant)>,
    /// Where each tracked source lies in `schedules`.
    positions: BTreeMap<Source, usize>,
}

impl PerSourceLimit {
    pub(super) fn new(per_second: u32, burst: u32) -> PerSourceLimit {
        PerSourceLimit {
            interval: Duration::from_secs(1) / per_second.max(1),
            burst,
            schedules: Vec::new(),
            positions: BTreeMap::new(),
        }
    }

    /// Whether one more reply may go to `address` now; if so, it is counted. `random` chooses
    /// which entries a full table samples to make room.
    pub(super) fn allow(
        &mut self,
        now: Instant,
        address: IpAddr,
        random: &mut dyn RngCore,
    ) -> bool {
        let position = self.position(now, Source::of(address), random);
        let schedule = &mut self.schedules[position].1;
        let next = (*schedule).max(now) + self.interval;
        if next > now + self.interval * self.burst {
            return false;
        }
        *schedule = next;
        true
    }

    /// How many sources the table holds.
    #[cfg(test)]
    pub(super) fn sources_tracked(&self) -> usize {
        self.schedules.len()
    }

    /// The entry of `source`, made if need be, with a full budget.
    fn position(&mut self, now: Instant, source: Source, random: &mut dyn RngCore) -> usize {
        if let Some(&position) = self.positions.get(&source) {
            return position;
        }
        if self.schedules.len() < SOURCES_TRACKED {
            self.schedules.push((source, now));
            self.positions.insert(source, self.schedules.len() - 1);
            return self.schedules.len() - 1;
        }
        let count = self.schedules.len() as u64;
        let victim = (0..EVICTION_SAMPLES)
            .map(|_| ((u64::from(random.next_u32()) * count) >> 32) as usize)
            .min_by_key(|&position| self.schedules[position].1)
            .unwrap_or(0);
        let (evicted, _) = std::mem::replace(&mut self.schedules[victim], (source, now));
        self.positions.remove(&evicted);
        self.positions.insert(source, victim);
        victim
    }
}
