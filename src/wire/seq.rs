//! Sequence-number arithmetic.
//!
//! This module owns [`SeqNum`], the only way Ferry handles sequence and
//! acknowledgment numbers. TCP sequence numbers live in a circle of 2^32
//! values (RFC 9293 section 3.4): adding wraps, and "a comes before b" means
//! "b is less than half the circle ahead of a". Raw `u32` comparisons get this
//! wrong at the wrap, so the type offers only wrap-aware operations and users
//! never need to look inside it to compare two numbers.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence number: arithmetic wraps mod 2^32 and comparisons hold
/// across the wrap (RFC 9293 section 3.4), i.e. `a < b` iff `(b - a) as i32 > 0`.
///
/// # Ordering is partial
///
/// The comparison operators use the signed distance between two numbers, as
/// RFC 9293 section 3.4 and RFC 1982 do. That is not a total order:
///
/// - two numbers exactly 2^31 apart are neither `<`, `>` nor `==` to each other
///   (`partial_cmp` returns `None`), and
/// - it is not transitive over the whole circle (`0 < 2^30 < 2^31 < 3 * 2^30 < 0`).
///
/// It is a correct order for any set of numbers that spans less than 2^31,
/// which every TCP window does. Do not sort sequence numbers that may span
/// more than that.
///
/// ```
/// use ferry::wire::SeqNum;
///
/// let before_wrap = SeqNum(0xFFFF_FFF0);
/// let after_wrap = before_wrap + 0x20;
/// assert_eq!(after_wrap, SeqNum(0x10));
/// assert!(before_wrap < after_wrap);
/// assert_eq!(after_wrap.wrapping_diff(before_wrap), 0x20);
/// assert_eq!(before_wrap.distance(after_wrap), -0x20);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// How far `self` is ahead of `earlier`, modulo 2^32: `self - earlier`.
    ///
    /// Use it for lengths that are known to be non-negative, such as the bytes
    /// in flight (`snd_nxt.wrapping_diff(snd_una)`). If `earlier` is in fact
    /// after `self`, the result is a large number, not a negative one.
    #[must_use]
    pub const fn wrapping_diff(self, earlier: SeqNum) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// The signed distance `self - other`, taken modulo 2^32 and read as `i32`.
    ///
    /// Positive when `self` is after `other`, negative when before, zero when
    /// equal; this is the quantity RFC 9293 section 3.4 compares with zero.
    /// Equal to `self.wrapping_diff(other) as i32`. Two numbers exactly 2^31
    /// apart give `i32::MIN` whichever way round they are taken.
    #[must_use]
    pub const fn distance(self, other: SeqNum) -> i32 {
        // Reinterpreting the wrapped difference as two's complement is the
        // whole trick of serial-number arithmetic (RFC 1982 section 3.2).
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers (by the wrap-aware order).
    ///
    /// Returns `self` when the two are equal or incomparable (2^31 apart).
    #[must_use]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if other > self {
            other
        } else {
            self
        }
    }

    /// The earlier of two sequence numbers (by the wrap-aware order).
    ///
    /// Returns `self` when the two are equal or incomparable (2^31 apart).
    #[must_use]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if other < self {
            other
        } else {
            self
        }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;

    /// Advance by `rhs`, wrapping mod 2^32 (RFC 9293 section 3.4).
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        *self = *self + rhs;
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;

    /// Step back by `rhs`, wrapping mod 2^32 (RFC 9293 section 3.4).
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u32> for SeqNum {
    fn sub_assign(&mut self, rhs: u32) {
        *self = *self - rhs;
    }
}

impl PartialOrd for SeqNum {
    /// Wrap-aware comparison: `self < other` iff `other - self`, read as a
    /// signed 32-bit number, is positive (RFC 9293 section 3.4). Numbers
    /// exactly 2^31 apart are incomparable and give `None`.
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        match self.distance(*other) {
            0 => Some(Ordering::Equal),
            // Exactly half the circle apart: RFC 1982 section 3.2 leaves the
            // comparison undefined, so we refuse to answer.
            i32::MIN => None,
            d if d > 0 => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        }
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    #[test]
    fn compares_across_the_wrap() {
        let a = SeqNum(0xFFFF_FFF0);
        let b = SeqNum(0x10);
        assert!(a < b);
        assert!(b > a);
        assert!(a <= b);
        assert_eq!(a.partial_cmp(&b), Some(Ordering::Less));
        assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
        assert_eq!(a.partial_cmp(&a), Some(Ordering::Equal));
        // The farthest "later" there is: 2^31 - 1 ahead.
        let far = a + 0x7FFF_FFFF;
        assert!(a < far);
        assert!(far > a);
        assert_eq!(far.distance(a), i32::MAX);
    }

    #[test]
    fn arithmetic_wraps() {
        assert_eq!(SeqNum(u32::MAX) + 1, SeqNum(0));
        assert_eq!(SeqNum(0) - 1, SeqNum(u32::MAX));
        let mut s = SeqNum(0xFFFF_FFFE);
        s += 5;
        assert_eq!(s, SeqNum(3));
        s -= 4;
        assert_eq!(s, SeqNum(u32::MAX));
    }

    #[test]
    fn differences() {
        let a = SeqNum(0xFFFF_FFF0);
        let b = SeqNum(0x10);
        assert_eq!(b.wrapping_diff(a), 0x20);
        assert_eq!(a.wrapping_diff(b), 0xFFFF_FFE0);
        assert_eq!(b.distance(a), 0x20);
        assert_eq!(a.distance(b), -0x20);
        assert_eq!(a.distance(a), 0);
    }

    #[test]
    fn max_and_min() {
        let a = SeqNum(0xFFFF_FFF0);
        let b = SeqNum(0x10);
        assert_eq!(a.max(b), b);
        assert_eq!(b.max(a), b);
        assert_eq!(a.min(b), a);
        assert_eq!(b.min(a), a);
        assert_eq!(a.max(a), a);
    }

    #[test]
    fn half_circle_is_incomparable() {
        let a = SeqNum(5);
        let b = a + 0x8000_0000;
        assert_eq!(a.partial_cmp(&b), None);
        assert_eq!(b.partial_cmp(&a), None);
        assert_ne!(a, b);
        assert_eq!(a.max(b), a);
        assert_eq!(b.min(a), b);
        assert_eq!(a.distance(b), i32::MIN);
        assert_eq!(b.distance(a), i32::MIN);
    }

    #[test]
    fn formats_as_decimal() {
        assert_eq!(format!("{}", SeqNum(4_000_000_000)), "4000000000");
        assert_eq!(format!("{:?}", SeqNum(7)), "7");
    }

    quickcheck! {
        fn later_is_greater(a: u32, d: u32) -> bool {
            // d in 1..2^31
            let d = d % 0x8000_0000;
            let d = if d == 0 { 1 } else { d };
            let a = SeqNum(a);
            let b = a + d;
            // Both operators, both ways: the order is hand-written, so
            // each direction is checked rather than assumed.
            assert!(a < b, "{a} < {b}");
            assert!(b > a, "{b} > {a}");
            assert_eq!(a.partial_cmp(&b), Some(Ordering::Less));
            assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
            assert_eq!(b.wrapping_diff(a), d);
            assert_eq!(b.distance(a), d as i32);
            assert_eq!(a.distance(b), -(d as i32));
            assert_eq!((a.max(b), a.min(b)), (b, a));
            assert_eq!(b - d, a);
            true
        }
    }
}
