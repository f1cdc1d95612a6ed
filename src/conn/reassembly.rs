//! Out-of-order data held until the hole before it fills (RFC 9293 section 3.10.7.4, "process
//! the segment text"; RFC 5681 section 4.2 asks receivers to keep it rather than drop it).
//!
//! Positions are 64-bit offsets into the received byte stream, not sequence numbers, so the
//! ordering is total and the 2^32 wrap never reaches this code.

use std::collections::BTreeMap;

/// Non-overlapping runs of received bytes, keyed by stream offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reassembly {
    runs: BTreeMap<u64, Vec<u8>>,
}

impl Reassembly {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Keep the bytes of `data`, which starts at stream offset `start`, that are not held yet.
    pub(crate) fn insert(&mut self, start: u64, data: &[u8]) {
        let end = start + data.len() as u64;
        // Held runs are sorted and disjoint, so the ones overlapping [start, end) are the last
        // few that begin before `end`.
        let mut overlapping: Vec<(u64, u64)> = self
            .runs
            .range(..end)
            .rev()
            .map(|(&run_start, run)| (run_start, run_start + run.len() as u64))
            .take_while(|&(_, run_end)| run_end > start)
            .collect();
        overlapping.reverse();
        let mut cursor = start;
        for (run_start, run_end) in overlapping {
            if cursor < run_start {
                self.store(start, data, cursor, run_start);
            }
            cursor = cursor.max(run_end);
        }
        if cursor < end {
            self.store(start, data, cursor, end);
        }
    }

    fn store(&mut self, data_start: u64, data: &[u8], from: u64, to: u64) {
        let slice = &data[(from - data_start) as usize..(to - data_start) as usize];
        self.runs.insert(from, slice.to_vec());
    }

    /// Remove and return the bytes that continue the stream at `offset`, if any are held. Bytes
    /// before `offset` (already delivered) are discarded on the way.
    pub(crate) fn pop_contiguous(&mut self, offset: u64) -> Option<Vec<u8>> {
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

    /// The contiguous block of held bytes around `offset`, as `[start, end)` stream offsets:
    /// adjacent runs merged, as a SACK block reports them.
    pub(crate) fn block_containing(&self, offset: u64) -> Option<(u64, u64)> {
        let (&run_start, run) = self.runs.range(..=offset).next_back()?;
        let mut end = run_start + run.len() as u64;
        if end <= offset {
            return None;
        }
        let mut start = run_start;
        for (&before_start, before) in self.runs.range(..run_start).rev() {
            if before_start + before.len() as u64 != start {
                break;
            }
            start = before_start;
        }
        for (&after_start, after) in self.runs.range(end..) {
            if after_start != end {
                break;
            }
            end += after.len() as u64;
        }
        Some((start, end))
    }

    /// The contiguous blocks of held bytes, adjacent runs merged, in order.
    pub(crate) fn blocks(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> {
        let mut blocks: Vec<(u64, u64)> = Vec::new();
        for (start, end) in self.ranges() {
            match blocks.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => blocks.push((start, end)),
            }
        }
        blocks.into_iter()
    }

    /// The held runs as `[start, end)` stream offsets, in order.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
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
        /// Against a reference model: a byte map of what arrived. Whatever the arrival order
        /// and overlaps, popping from 0 yields exactly the contiguous prefix.
        fn reassembles_like_a_byte_map(pieces: Vec<(u8, u8)>) -> bool {
            let stream: Vec<u8> = (0..=255u8).cycle().take(600).collect();
            let mut reassembly = Reassembly::default();
            let mut model = vec![false; stream.len()];
            for (start, len) in pieces {
                let start = start as usize * 2;
                let end = (start + len as usize).min(stream.len());
                reassembly.insert(start as u64, &stream[start..end]);
                model[start..end].iter_mut().for_each(|held| *held = true);
            }
            let held_ranges: Vec<(u64, u64)> = reassembly.ranges().collect();
            let disjoint = held_ranges.windows(2).all(|pair| pair[0].1 <= pair[1].0);
            let prefix = model.iter().take_while(|&&held| held).count();
            let mut delivered = Vec::new();
            while let Some(run) = reassembly.pop_contiguous(delivered.len() as u64) {
                delivered.extend_from_slice(&run);
            }
            disjoint && delivered == stream[..prefix]
        }
    }

    #[test]
    fn overlapping_inserts_keep_the_first_copy_and_fill_gaps() {
        let mut reassembly = Reassembly::default();
        reassembly.insert(10, b"abcd");
        reassembly.insert(8, b"XXabcdYY");
        assert_eq!(
            reassembly.ranges().collect::<Vec<_>>(),
            vec![(8, 10), (10, 14), (14, 16)]
        );
        assert_eq!(reassembly.pop_contiguous(0), None);
        assert_eq!(reassembly.pop_contiguous(9), Some(b"X".to_vec()));
        assert_eq!(reassembly.pop_contiguous(10), Some(b"abcd".to_vec()));
        assert_eq!(reassembly.pop_contiguous(14), Some(b"YY".to_vec()));
        assert!(reassembly.is_empty());
    }
}
