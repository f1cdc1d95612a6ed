//! The replay window (docs/protocol.md section 10.4): which packet numbers a receiver has
//! already opened, so that a protected segment copied off the path and sent again is dropped.
//! The idea is IPsec's anti-replay window (RFC 4303 section 3.4.3) and WireGuard's: the
//! highest number opened, and a bitmap of the [`REPLAY_WINDOW`] numbers below it. A number
//! further below is taken for a replay too: reordering that deep does not happen on a path a
//! window of data crosses.

/// How many packet numbers below the highest opened the window remembers.
pub const REPLAY_WINDOW: u64 = 1024;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// The packet numbers opened, by their place modulo [`REPLAY_WINDOW`].
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplayWindow {
    highest: Option<u64>,
    seen: [u64; WORDS],
}

impl ReplayWindow {
    /// Whether `number` may be opened: above the highest opened, or within the window below it
    /// and not opened yet. Asked before decrypting; [`mark`](Self::mark) only after the
    /// segment authenticated, so a forgery moves nothing.
    pub(crate) fn is_fresh(&self, number: u64) -> bool {
        match self.highest {
            None => true,
            Some(highest) if number > highest => true,
            Some(highest) => highest - number < REPLAY_WINDOW && !self.bit(number),
        }
    }

    /// `number` was opened.
    pub(crate) fn mark(&mut self, number: u64) {
        let highest = self.highest.unwrap_or(0);
        if self.highest.is_none() || number > highest {
            // The places of the numbers the window now slides over held older numbers.
            let first_new = self.highest.map_or(0, |highest| highest + 1);
            if number - first_new >= REPLAY_WINDOW {
                self.seen = [0; WORDS];
            } else {
                for skipped in first_new..number {
                    self.set(skipped, false);
                }
            }
            self.highest = Some(number);
        }
        self.set(number, true);
    }

    fn place(number: u64) -> (usize, u64) {
        let place = number % REPLAY_WINDOW;
        ((place / 64) as usize, 1 << (place % 64))
    }

    fn bit(&self, number: u64) -> bool {
        let (word, mask) = Self::place(number);
        self.seen[word] & mask != 0
    }

    fn set(&mut self, number: u64, seen: bool) {
        let (word, mask) = Self::place(number);
        if seen {
            self.seen[word] |= mask;
        } else {
            self.seen[word] &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_number_opens_once_in_any_order_within_the_window() {
        let mut window = ReplayWindow::default();
        for number in [0, 5, 3, 4, 1000, 2, 1023, 1024, 6] {
            assert!(window.is_fresh(number), "{number} refused");
            window.mark(number);
            assert!(!window.is_fresh(number), "{number} opened twice");
        }
        // 1024 is the highest: 0 has fallen out of the window, 1 is within it and unseen.
        assert!(!window.is_fresh(0));
        assert!(window.is_fresh(1));
        assert!(!window.is_fresh(5));
    }

    #[test]
    fn the_window_agrees_with_a_set_of_the_numbers_opened() {
        // A reference model: a number is fresh unless opened or more than the window below
        // the highest opened.
        let mut window = ReplayWindow::default();
        let mut opened = BTreeSet::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..20_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let jump = if state % 97 == 0 { 3000 } else { state % 40 };
            let number = (step + jump).saturating_sub(state % 1100);
            let highest = opened.last().copied();
            let expected = !opened.contains(&number)
                && highest
                    .is_none_or(|highest| number > highest || highest - number < REPLAY_WINDOW);
            assert_eq!(
                window.is_fresh(number),
                expected,
                "step {step}, number {number}"
            );
            if expected {
                window.mark(number);
                opened.insert(number);
            }
        }
    }
}
