//! Which external port a new mapping gets (RFC 4787 section 4.2.1): the internal port kept,
//! the next after the last one given, or one drawn at random, always a free one of the right
//! range (REQ-3: below 1024 for a port below 1024, otherwise 1024 and up), never one another
//! mapping holds (REQ-3: no port overloading).

use std::ops::RangeInclusive;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::PortAssignment;

/// How many random draws a [`PortAssignment::Random`] NAT makes before it walks up from the
/// last one to a free port: with the table at most a quarter of the ports of 1024 and up
/// ([`DEFAULT_TABLE_LIMIT`](super::DEFAULT_TABLE_LIMIT)), all 32 miss with a chance below
/// 1e-19; only a custom limit or the 1,023 low ports crowd it.
const RANDOM_DRAWS: usize = 32;

/// Picks the external ports of new mappings.
#[derive(Debug)]
pub(super) struct PortPicker {
    assignment: PortAssignment,
    rng: ChaCha8Rng,
    /// The last port given, for [`PortAssignment::Sequential`].
    last: Option<u16>,
}

impl PortPicker {
    pub(super) fn new(assignment: PortAssignment, seed: u64) -> PortPicker {
        PortPicker {
            assignment,
            rng: ChaCha8Rng::seed_from_u64(seed),
            last: None,
        }
    }

    /// A free external port for a mapping of internal port `internal`, or `None` when every
    /// port of its range is taken; `is_free` says whether a port is.
    pub(super) fn pick(&mut self, internal: u16, is_free: impl Fn(u16) -> bool) -> Option<u16> {
        let range = range_for(internal);
        let start = match self.assignment {
            PortAssignment::Preserving => internal,
            PortAssignment::Sequential => match self.last {
                Some(last) if last < *range.end() && range.contains(&(last + 1)) => last + 1,
                Some(_) => *range.start(),
                None => self.rng.random_range(range.clone()),
            },
            PortAssignment::Random => {
                let mut draw = self.rng.random_range(range.clone());
                for _ in 1..RANDOM_DRAWS {
                    if is_free(draw) {
                        break;
                    }
                    draw = self.rng.random_range(range.clone());
                }
                draw
            }
        };
        let port = first_free(&range, start, is_free)?;
        self.last = Some(port);
        Some(port)
    }
}

/// The external ports a mapping of internal port `internal` may get (RFC 4787 REQ-3 a, b).
fn range_for(internal: u16) -> RangeInclusive<u16> {
    match internal {
        0..=1023 => 1..=1023,
        _ => 1024..=u16::MAX,
    }
}

/// The first free port of `range` from `start` up, wrapping to the range's start.
fn first_free(
    range: &RangeInclusive<u16>,
    start: u16,
    is_free: impl Fn(u16) -> bool,
) -> Option<u16> {
    (start..=*range.end())
        .chain(*range.start()..start)
        .find(|&port| is_free(port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn picks(assignment: PortAssignment, internal: &[u16], taken: &[u16]) -> Vec<u16> {
        let mut picker = PortPicker::new(assignment, 7);
        let mut used: BTreeSet<u16> = taken.iter().copied().collect();
        internal
            .iter()
            .map(|&port| {
                let port = picker.pick(port, |p| !used.contains(&p)).unwrap();
                used.insert(port);
                port
            })
            .collect()
    }

    #[test]
    fn preserving_keeps_the_port_or_takes_the_next_free_one() {
        assert_eq!(
            picks(PortAssignment::Preserving, &[4000, 4000, 5000], &[4001]),
            [4000, 4002, 5000]
        );
        // The top of the range wraps to its start.
        assert_eq!(
            picks(PortAssignment::Preserving, &[65535, 65535], &[]),
            [65535, 1024]
        );
    }

    #[test]
    fn sequential_counts_up_from_a_drawn_start_skipping_ports_in_use() {
        let ports = picks(PortAssignment::Sequential, &[4000; 4], &[]);
        assert!(ports[0] >= 1024);
        assert_eq!(
            ports,
            [ports[0], ports[0] + 1, ports[0] + 2, ports[0] + 3],
            "{ports:?}"
        );
        let first = picks(PortAssignment::Sequential, &[4000], &[])[0];
        let skipped = picks(PortAssignment::Sequential, &[4000, 4000], &[first + 1]);
        assert_eq!(skipped, [first, first + 2]);
    }

    #[test]
    fn random_ports_are_free_spread_and_a_function_of_the_seed() {
        let ports = picks(PortAssignment::Random, &[4000; 100], &[]);
        assert!(ports.iter().all(|&port| port >= 1024));
        let distinct: BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), 100);
        assert!(ports.windows(2).filter(|w| w[1] == w[0] + 1).count() < 5);
        assert_eq!(ports, picks(PortAssignment::Random, &[4000; 100], &[]));
        let mut other = PortPicker::new(PortAssignment::Random, 8);
        assert_ne!(other.pick(4000, |_| true), Some(ports[0]));
    }

    #[test]
    fn a_low_port_maps_to_a_low_port_and_a_full_range_to_none() {
        assert!(picks(PortAssignment::Random, &[53; 20], &[])
            .iter()
            .all(|&port| (1..1024).contains(&port)));
        let mut picker = PortPicker::new(PortAssignment::Preserving, 1);
        assert_eq!(picker.pick(80, |port| port >= 1024), None);
        assert_eq!(picker.pick(8080, |port| port == 1024), Some(1024));
    }
}
