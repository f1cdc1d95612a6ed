//! A rate limit per source address, for the replies the endpoint sends without any
//! connection (RSTs to strays, SYN cookies): each source has a budget of its own, kept by a
//! generic cell rate algorithm, in a table of bounded size.
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

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;

use rand::RngCore;

use crate::time::Instant;

/// At most this many sources per table: about 60 bytes each, so at most 256 KB, allocated
/// as sources come.
pub const SOURCES_TRACKED: usize = 4096;
/// Entries sampled to choose which one a full table drops.
const EVICTION_SAMPLES: usize = 8;

/// Who a budget belongs to: an IPv4 address, or an IPv6 address's /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// Where each tracked source lies in `schedules`; made at the first reply, when its
    /// hash's key is drawn.
    positions: Option<HashMap<Source, usize, KeyedHash>>,
}

/// SipHash-2-4 keyed from the endpoint's injected generator, so that nobody can choose
/// addresses whose entries collide in the table (a hash flood), and with no randomness of
/// the endpoint's own (std's default hasher draws its key from the OS). std's `SipHasher` is
/// deprecated only in favour of a hasher whose algorithm may change; any keyed hash will do.
#[derive(Clone, Debug)]
struct KeyedHash([u64; 2]);

impl BuildHasher for KeyedHash {
    #[allow(deprecated)]
    type Hasher = std::hash::SipHasher;

    #[allow(deprecated)]
    fn build_hasher(&self) -> std::hash::SipHasher {
        std::hash::SipHasher::new_with_keys(self.0[0], self.0[1])
    }
}

impl PerSourceLimit {
    pub(super) fn new(per_second: u32, burst: u32) -> PerSourceLimit {
        PerSourceLimit {
            interval: Duration::from_secs(1) / per_second.max(1),
            burst,
            schedules: Vec::new(),
            positions: None,
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

    /// Give back one reply's worth of `address`'s budget: the reply was answered, so the
    /// address is a real host that asked for it, not a victim of reflection.
    pub(super) fn refund(&mut self, address: IpAddr) {
        let positions = self.positions.as_ref();
        if let Some(&position) = positions.and_then(|positions| positions.get(&Source::of(address)))
        {
            let schedule = &mut self.schedules[position].1;
            let interval = u64::try_from(self.interval.as_micros()).unwrap_or(u64::MAX);
            *schedule = Instant::from_micros(schedule.as_micros().saturating_sub(interval));
        }
    }

    /// How many sources the table holds.
    #[cfg(test)]
    pub(super) fn sources_tracked(&self) -> usize {
        self.schedules.len()
    }

    /// The entry of `source`, made if need be, with a full budget.
    fn position(&mut self, now: Instant, source: Source, random: &mut dyn RngCore) -> usize {
        let positions = self.positions.get_or_insert_with(|| {
            let key = KeyedHash([random.next_u64(), random.next_u64()]);
            HashMap::with_hasher(key)
        });
        let entry = match positions.entry(source) {
            Entry::Occupied(entry) => return *entry.get(),
            Entry::Vacant(entry) => entry,
        };
        let count = self.schedules.len();
        if count < SOURCES_TRACKED {
            self.schedules.push((source, now));
            entry.insert(count);
            return count;
        }
        let victim = (0..EVICTION_SAMPLES)
            .map(|_| ((u64::from(random.next_u32()) * count as u64) >> 32) as usize)
            .min_by_key(|&position| self.schedules[position].1)
            .unwrap_or(0);
        entry.insert(victim);
        let (evicted, _) = std::mem::replace(&mut self.schedules[victim], (source, now));
        positions.remove(&evicted);
        victim
    }
}
