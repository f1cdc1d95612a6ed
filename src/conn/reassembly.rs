//! Out-of-order data held until the hole before it fills (RFC 9293 section 3.10.7.4, "process
//! the segment text"; RFC 5681 section 4.2 asks receivers to keep it rather than drop it).
//!
//! Positions are 64-bit offsets into the received byte stream, not sequence numbers, so the
//! ordering is total and the 2^32 wrap never reaches this code.
//!
//! Two rules keep a hostile or broken peer from costing more than its window:
//! - Runs that touch are merged at once, so there is one run per hole, lookups are
//!   logarithmic, and a merge copies the smaller side (a peer sending one byte at a time, in
//!   any order, costs linear time).
//! - At most [`MAX_RUNS`] runs are held. A segment that would open one more is refused (its
//!   sender retransmits it, unSACKed); one that extends or joins runs is always taken.
//!
//! When a segment brings bytes that are already held, the newest copy wins and the
//! disagreement is reported. The usual disagreement is forged data that landed in the window
//! before the real segment (RFC 5961's checks make that hard, not impossible); the real
//! sender's later copy should then replace it, not be discarded as a duplicate. Linux also
//! lets a newer segment replace held ones it covers.

use std::collections::{BTreeMap, VecDeque};

/// The most out-of-order runs (holes) one connection holds: bookkeeping of roughly 100 bytes
/// each, so about 100 KB beyond the data, which the receive window bounds.
pub(crate) const MAX_RUNS: usize = 1024;

/// Non-overlapping, non-adjacent runs of received bytes, keyed by stream offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reassembly {
    runs: BTreeMap<u64, VecDeque<u8>>,
}

/// What [`Reassembly::insert`] did with a segment's bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Insertion {
    /// Every byte was held already, with the same value: a duplicate.
    pub(crate) duplicate: bool,
    /// Held bytes that the new copy contradicted (and replaced).
    pub(crate) contradicted_bytes: usize,
    /// Nothing was stored: the segment would have opened a run beyond [`MAX_RUNS`].
    pub(crate) refused: bool,
}

impl Reassembly {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Hold `data`, which starts at stream offset `start`, replacing any held bytes it covers.
    pub(crate) fn insert(&mut self, start: u64, data: &[u8]) -> Insertion {
        let end = start + data.len() as u64;
        if data.is_empty() {
            return Insertion::default();
        }
        // Runs are sorted and disjoint, so the ones overlapping or touching [start, end) are
        // the last few that begin at or before `end`.
        let mut touching: Vec<u64> = self
            .runs
            .range(..=end)
            .rev()
            .take_while(|(&run_start, run)| run_start + run.len() as u64 >= start)
            .map(|(&run_start, _)| run_start)
            .collect();
        touching.reverse();
        if touching.is_empty() {
            if self.runs.len() >= MAX_RUNS {
                return Insertion {
                    refused: true,
                    ..Insertion::default()
                };
            }
            self.runs.insert(start, data.iter().copied().collect());
            return Insertion::default();
        }

        let mut runs: Vec<(u64, VecDeque<u8>)> = touching
            .iter()
            .filter_map(|key| self.runs.remove_entry(key))
            .collect();
        let mut outcome = Insertion::default();
        for (run_start, run) in &runs {
            let run_end = run_start + run.len() as u64;
            let (from, to) = (start.max(*run_start), end.min(run_end));
            outcome.duplicate |= *run_start <= start && end <= run_end;
            outcome.contradicted_bytes += (from..to)
                .filter(|&at| run[(at - run_start) as usize] != data[(at - start) as usize])
                .count();
        }
        outcome.duplicate &= outcome.contradicted_bytes == 0;

        let merged_start = start.min(runs[0].0);
        let merged_end = runs
            .iter()
            .map(|(run_start, run)| run_start + run.len() as u64)
            .fold(end, u64::max);
        // The largest run is kept and grown; everything else is copied into it once.
        let largest = (0..runs.len())
            .max_by_key(|&index| runs[index].1.len())
            .unwrap_or(0);
        let (base_start, mut base) = runs.swap_remove(largest);
        let base_end = base_start + base.len() as u64;
        let mut before = vec![0; (base_start - merged_start) as usize];
        let mut after = vec![0; (merged_end - base_end) as usize];
        for (run_start, run) in &runs {
            let (buffer, buffer_start) = if *run_start < base_start {
                (&mut before, merged_start)
            } else {
                (&mut after, base_end)
            };
            let at = (run_start - buffer_start) as usize;
            for (slot, &byte) in buffer[at..at + run.len()].iter_mut().zip(run) {
                *slot = byte;
            }
        }
        // The new copy goes over everything it covers.
        for (offset, &byte) in (start..end).zip(data) {
            if offset < base_start {
                before[(offset - merged_start) as usize] = byte;
            } else if offset < base_end {
                base[(offset - base_start) as usize] = byte;
            } else {
                after[(offset - base_end) as usize] = byte;
            }
        }
        base.extend(after);
        for &byte in before.iter().rev() {
            base.push_front(byte);
        }
        self.runs.insert(merged_start, base);
        outcome
    }

    /// Remove and return the bytes that continue the stream at `offset`, if any are held. Bytes
    /// before `offset` (already delivered) are discarded on the way.
    pub(crate) fn pop_contiguous(&mut self, offset: u64) -> Option<VecDeque<u8>> {
        loop {
            let entry = self.runs.first_entry()?;
            let run_start = *entry.key();
            if run_start > offset {
                return None;
            }
            let mut run = entry.remove();
            let already_delivered = (offset - run_start) as usize;
            if already_delivered < run.len() {
                run.drain(..already_delivered);
                return Some(run);
            }
        }
    }

    /// The held block around `offset`, as `[start, end)` stream offsets, as a SACK block
    /// reports it.
    pub(crate) fn block_containing(&self, offset: u64) -> Option<(u64, u64)> {
        let (&run_start, run) = self.runs.range(..=offset).next_back()?;
        let end = run_start + run.len() as u64;
        (offset < end).then_some((run_start, end))
    }

    /// The held blocks as `[start, end)` stream offsets, in order.
    pub(crate) fn blocks(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.runs
            .iter()
            .map(|(&start, run)| (start, start + run.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    quickcheck! {
        /// Against a reference model: a byte map of what arrived, the newest copy of each byte
        /// kept. Whatever the arrival order and overlaps, popping from 0 yields exactly the
        /// contiguous prefix, and the runs stay sorted, disjoint and apart.
        fn reassembles_like_a_byte_map(pieces: Vec<(u8, u8, u8)>) -> bool {
            let mut reassembly = Reassembly::default();
            let mut model: Vec<Option<u8>> = vec![None; 600];
            for (start, len, fill) in pieces {
                let start = start as usize * 2;
                let end = (start + len as usize).min(model.len());
                let data: Vec<u8> = (start..end).map(|at| (at as u8) ^ (fill & 1)).collect();
                let contradicted = (start..end)
                    .filter(|&at| model[at].is_some_and(|held| held != data[at - start]))
                    .count();
                let insertion = reassembly.insert(start as u64, &data);
                if insertion.contradicted_bytes != contradicted {
                    return false;
                }
                for (at, &byte) in (start..end).zip(&data) {
                    model[at] = Some(byte);
                }
            }
            let blocks: Vec<(u64, u64)> = reassembly.blocks().collect();
            let apart = blocks.windows(2).all(|pair| pair[0].1 < pair[1].0);
            let prefix: Vec<u8> = model.iter().map_while(|held| *held).collect();
            let mut delivered = Vec::new();
            while let Some(run) = reassembly.pop_contiguous(delivered.len() as u64) {
                delivered.extend(run);
            }
            apart && delivered == prefix
        }
    }

    #[test]
    fn touching_runs_merge_and_the_newest_copy_wins() {
        let mut reassembly = Reassembly::default();
        assert_eq!(reassembly.insert(10, b"abcd"), Insertion::default());
        let insertion = reassembly.insert(8, b"XXabQdYY");
        assert_eq!(insertion.contradicted_bytes, 1);
        assert!(!insertion.duplicate);
        assert_eq!(reassembly.blocks().collect::<Vec<_>>(), vec![(8, 16)]);
        assert!(reassembly.insert(16, b"Z").eq(&Insertion::default()));
        assert!(reassembly.insert(9, b"Xab").duplicate);
        assert_eq!(reassembly.pop_contiguous(0), None);
        let run: Vec<u8> = reassembly.pop_contiguous(9).unwrap().into();
        assert_eq!(run, b"XabQdYYZ");
        assert!(reassembly.is_empty());
    }

    #[test]
    fn a_segment_that_would_open_one_run_too_many_is_refused() {
        let mut reassembly = Reassembly::default();
        for run in 0..MAX_RUNS as u64 {
            assert!(!reassembly.insert(run * 2, b"x").refused);
        }
        assert!(reassembly.insert(MAX_RUNS as u64 * 2, b"x").refused);
        // Filling a hole joins two runs: always taken.
        assert!(!reassembly.insert(1, b"y").refused);
        assert_eq!(reassembly.blocks().count(), MAX_RUNS - 1);
        assert!(!reassembly.insert(MAX_RUNS as u64 * 2, b"x").refused);
    }
}
