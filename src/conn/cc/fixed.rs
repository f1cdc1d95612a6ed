//! No congestion control: a window without limit, for labs that study pure ARQ.

use super::{Ack, Controller};

/// No congestion control: an unlimited window, so only the receiver's window and the
/// retransmission timer shape the sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FixedWindow;

impl Controller for FixedWindow {
    fn window(&self) -> u32 {
        u32::MAX
    }

    fn slow_start_threshold(&self) -> u32 {
        u32::MAX
    }

    fn on_ack(&mut self, _ack: &Ack) {}

    fn on_loss(&mut self, _flight_size: u32) {}

    fn on_timeout(&mut self, _flight_size: u32, _repeated: bool) {}

    fn undo(&mut self, _window: u32, _slow_start_threshold: u32) {}

    fn restart_after_idle(&mut self, _window: u32) {}

    fn set_segment_size(&mut self, _smss: u32) {}
}

#[cfg(test)]
mod tests {
    use super::super::CongestionControl;

    const SMSS: u32 = 1000;

    #[test]
    fn fixed_window_never_limits() {
        let mut cc = CongestionControl::Fixed.build(SMSS, None);
        cc.on_loss(10_000);
        cc.on_timeout(10_000, false);
        assert_eq!(cc.window(), u32::MAX);
    }
}
