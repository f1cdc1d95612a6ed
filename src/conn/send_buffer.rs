//! The send buffer's size, what the application may queue unsent and unacknowledged (Linux's
//! `sk_sndbuf`), and its autotuning: Linux's `tcp_sndbuf_expand` in net/ipv4/tcp_input.c.
//!
//! Everything in flight stays in the send buffer until acknowledged, so a transfer moves at
//! most one send buffer per round trip whatever the windows allow: 256 KiB is about 21 Mbit/s
//! on a 100 ms path. So, unless [`SendBuffer::Fixed`](super::SendBuffer::Fixed) fixes it, the
//! buffer grows with the congestion window to twice it, as Linux's does: one window in flight
//! and one more queued behind it, so that the application's next writes are already there
//! when the ACKs open room (Linux counts the factor as room for fast recovery, where CUBIC
//! keeps 0.7 of the window in flight while the lost data waits to be resent). It never grows
//! past the maximum (4 MiB by default, Linux's `tcp_wmem` maximum), which bounds the memory a
//! connection's unsent and unacknowledged data take, and never shrinks, so bytes a `write`
//! once took are never more than the buffer holds.

/// The send buffer's size now and how far it may grow.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendBufferSize {
    /// The size now, in bytes: from the configured initial size to `max`.
    size: usize,
    /// The most `size` grows to; `size` itself when the buffer is fixed.
    max: usize,
}

/// The send buffer holds this many congestion windows: Linux's `tcp_sndbuf_expand` sizes it
/// to `2 * tcp_snd_cwnd(tp)` segments.
const WINDOWS_BUFFERED: usize = 2;

impl SendBufferSize {
    /// A buffer of `initial` bytes that grows to at most `max` (`max == initial`: fixed).
    pub(super) fn new(initial: usize, max: usize) -> SendBufferSize {
        SendBufferSize {
            size: initial,
            max: max.max(initial),
        }
    }

    /// The size now, in bytes.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// The congestion window is `cwnd` bytes: grow to twice it if that is more, up to the
    /// maximum.
    pub(super) fn on_congestion_window(&mut self, cwnd: u32) {
        let wanted = usize::try_from(cwnd)
            .unwrap_or(usize::MAX)
            .saturating_mul(WINDOWS_BUFFERED);
        self.size = self.size.max(wanted.min(self.max));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows_to_twice_the_window_up_to_the_maximum_and_never_shrinks() {
        let mut buffer = SendBufferSize::new(256 * 1024, 4 << 20);
        buffer.on_congestion_window(12_000);
        assert_eq!(
            buffer.size(),
            256 * 1024,
            "a small window keeps the initial size"
        );
        buffer.on_congestion_window(1_000_000);
        assert_eq!(buffer.size(), 2_000_000);
        buffer.on_congestion_window(500_000);
        assert_eq!(buffer.size(), 2_000_000, "never shrinks");
        buffer.on_congestion_window(u32::MAX);
        assert_eq!(buffer.size(), 4 << 20);
    }

    #[test]
    fn a_fixed_buffer_never_grows() {
        let mut buffer = SendBufferSize::new(64 * 1024, 64 * 1024);
        buffer.on_congestion_window(u32::MAX);
        assert_eq!(buffer.size(), 64 * 1024);
    }
}
