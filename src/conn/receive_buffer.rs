//! The receive buffer's size, RFC 9293's RCV.BUFF (section 3.8.6: the window advertised is its
//! free space), and its autotuning: Linux's dynamic right-sizing, `tcp_rcv_space_adjust` and
//! `tcp_rcv_rtt_measure` in net/ipv4/tcp_input.c.
//!
//! A window caps a transfer at one window per round trip whatever the link: 64 KiB is about
//! 13 Mbit/s on a 40 ms path. So, unless [`RecvBuffer::Fixed`](super::RecvBuffer::Fixed) fixes
//! it, the buffer grows while the application keeps up: once per round trip the receiver counts
//! the bytes the application read in it and, if that is more than in any round trip before,
//! grows the buffer to twice that plus 16 segments (Linux's `rcvwin`: the sender's window may
//! double in a round trip, and a loss costs one more round trip of data held). It grows only
//! as fast as the application reads, so a reader that does not keep up keeps the buffer where
//! it is (a receiver that never reads keeps its initial size); it never grows past the
//! maximum, and never shrinks, so the window's right edge never has a reason to move left
//! (RFC 9293 section 3.8.6, RFC 7323 section 2.4).
//!
//! Linux adjusts when the application reads; `Connection::read` takes no time (the
//! connection sees time only in the `now` it is given), so here the reads since the last
//! measure are counted when the next data segment arrives, which in a transfer is at most a
//! segment's spacing later.

use std::time::Duration;

use crate::time::Instant;

/// Segments of slack in the grown buffer beyond twice the bytes read in a round trip, for small
/// variations from one round trip to the next: the `16 * tp->advmss` of Linux's
/// `tcp_rcv_space_adjust`.
const GROWTH_CUSHION_SEGMENTS: u64 = 16;

/// What the first round trip's reads must exceed before the buffer grows: Linux's
/// `TCP_INIT_CWND` segments (`tcp_init_buffer_space`), an initial window's worth.
const INITIAL_SPACE_SEGMENTS: u64 = 10;

/// RCV.BUFF and what autotuning it measures.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReceiveBuffer {
    /// RCV.BUFF now, in bytes: from the configured initial size to `max`.
    size: u32,
    /// The most `size` grows to; `size` itself when the buffer is fixed.
    max: u32,
    /// The receiver's RTT estimate: the shortest time the data of one window took to arrive
    /// (below). `None` until one window's worth has arrived.
    round_trip: Option<Duration>,
    /// The window being timed: the stream offset whose arrival ends it, and when it began.
    window_timing: Option<(u64, Instant)>,
    /// The round trip being counted: the application's read offset, and the time, at its
    /// start.
    drain_start: Option<(u64, Instant)>,
    /// The most the application read in one round trip so far (Linux's `rcvq_space.space`).
    most_drained: u64,
}

impl ReceiveBuffer {
    /// A buffer of `initial` bytes that grows to at most `max` (`max == initial`: fixed).
    pub(super) fn new(initial: u32, max: u32) -> ReceiveBuffer {
        ReceiveBuffer {
            size: initial,
            max: max.max(initial),
            round_trip: None,
            window_timing: None,
            drain_start: None,
            most_drained: 0,
        }
    }

    /// RCV.BUFF now, in bytes.
    pub(super) fn size(&self) -> u32 {
        self.size
    }

    /// In-order data arrived at `now`: `received` bytes have arrived in order so far, the
    /// application has read `read` of them, `window` is the window we advertise now and
    /// `mss` the segment size the handshake settled. Times a window's arrival, and once per
    /// round trip grows the buffer if the application read more in it than ever before.
    pub(super) fn on_data(
        &mut self,
        now: Instant,
        received: u64,
        read: u64,
        window: u32,
        mss: u32,
    ) {
        self.time_window(now, received, window);
        self.adjust(now, read, mss);
    }

    /// The receiver's RTT without timestamps, as Linux's `tcp_rcv_rtt_measure` (with
    /// `tcp_rcv_rtt_update`'s `win_dep`, the minimum): from the time the window we advertise
    /// ends at `received + window`, how long until data beyond that offset arrives. The
    /// sender may send beyond it only once an ACK sent from now on reached it, so each sample
    /// is at least a round trip, however small the window; a sender limited by the window
    /// delivers a window per round trip, one limited by anything else takes longer, so the
    /// minimum approaches the round trip when the window is what limits the transfer, which
    /// is when growing it matters. (Linux's `tcp_rcv_rtt_measure_ts` times it more directly
    /// from the timestamps' echo, RFC 7323 section 4, when they are on; here the window's
    /// timing serves with them on or off, and a receiver that only acknowledges takes no RTT
    /// samples of its own after the handshake.)
    fn time_window(&mut self, now: Instant, received: u64, window: u32) {
        if let Some((end, start)) = self.window_timing {
            if received <= end {
                return;
            }
            let sample = now
                .saturating_duration_since(start)
                .max(Duration::from_micros(1));
            self.round_trip = Some(self.round_trip.map_or(sample, |rtt| rtt.min(sample)));
        }
        self.window_timing = Some((received + u64::from(window), now));
    }

    /// Linux's `tcp_rcv_space_adjust`: at most once per round trip, the bytes the
    /// application read in it; if more than in any round trip before, the buffer grows to
    /// twice that plus [`GROWTH_CUSHION_SEGMENTS`], up to the maximum.
    fn adjust(&mut self, now: Instant, read: u64, mss: u32) {
        let Some((start_read, start)) = self.drain_start else {
            self.drain_start = Some((read, now));
            self.most_drained = u64::from(self.size).min(INITIAL_SPACE_SEGMENTS * u64::from(mss));
            return;
        };
        let Some(round_trip) = self.round_trip else {
            return;
        };
        if now.saturating_duration_since(start) < round_trip {
            return;
        }
        let drained = read - start_read;
        if drained > self.most_drained {
            // Twice the round trip's reads (a loss costs a round trip of data held) and the
            // cushion; then, as Linux, as much again, twice, for each time the reads rose
            // by the round trip's before: a sender still opening its window sends more next
            // round trip than it did in this one, and the window advertised now governs
            // what arrives a round trip from now, not what arrived in this one.
            let most = self.most_drained.max(1);
            let wanted = 2 * drained + GROWTH_CUSHION_SEGMENTS * u64::from(mss);
            let wanted = wanted
                .saturating_add(2 * wanted.saturating_mul(drained - self.most_drained) / most);
            let grown = u32::try_from(wanted).unwrap_or(u32::MAX).min(self.max);
            self.size = self.size.max(grown);
            self.most_drained = drained;
        }
        self.drain_start = Some((read, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const RTT: Duration = Duration::from_millis(100);

    /// A receiver whose sender fills the window every round trip: each round trip the
    /// window advertised at the start of the round before (what the sender heard of by
    /// now) arrives in ten segments, and the application reads `read_share` of what is
    /// unread after each. Returns the buffer's size after each round trip.
    fn run(mut buffer: ReceiveBuffer, round_trips: u32, read_share: f64) -> Vec<u32> {
        let (mut received, mut read) = (0u64, 0u64);
        let mut sizes = Vec::new();
        let mut heard = buffer.size();
        for round in 0..round_trips {
            let unread = u32::try_from(received - read).unwrap();
            let window = heard.min(buffer.size()).saturating_sub(unread);
            heard = buffer.size();
            for segment in 0..10 {
                let now = Instant::ZERO + RTT * round + RTT / 10 * segment;
                received += u64::from(window / 10);
                buffer.on_data(
                    now,
                    received,
                    read,
                    buffer.size() - (received - read) as u32,
                    MSS,
                );
                read += ((received - read) as f64 * read_share) as u64;
            }
            sizes.push(buffer.size());
        }
        sizes
    }

    #[test]
    fn a_reader_that_keeps_up_grows_the_buffer_to_the_maximum_and_it_never_shrinks() {
        let sizes = run(ReceiveBuffer::new(64 * 1024, 6 << 20), 12, 1.0);
        // The first window's arrival times the round trip; then the buffer grows by more
        // than twice the reads while they rise (Linux's slow-start allowance), until the
        // maximum.
        assert_eq!(sizes[0], 64 * 1024);
        assert!(sizes[3] > 4 * 64 * 1024, "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), 6 << 20, "{sizes:?}");
        assert!(
            sizes.windows(2).all(|pair| pair[0] <= pair[1]),
            "never shrinks"
        );
    }

    #[test]
    fn a_reader_that_does_not_read_keeps_the_initial_size() {
        let sizes = run(ReceiveBuffer::new(64 * 1024, 6 << 20), 12, 0.0);
        assert!(sizes.iter().all(|&size| size == 64 * 1024), "{sizes:?}");
    }

    #[test]
    fn a_fixed_buffer_never_grows() {
        let sizes = run(ReceiveBuffer::new(64 * 1024, 64 * 1024), 12, 1.0);
        assert!(sizes.iter().all(|&size| size == 64 * 1024), "{sizes:?}");
    }
}
