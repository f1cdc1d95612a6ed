//! RSTs to strays (RFC 9293 section 3.10.7.1), rate-limited per source address
//! ([`PerSourceLimit`]): at most [`RESETS_PER_SECOND`] a second to each, in bursts of at most
//! [`RESET_BURST`]. A flood of strays forged from one address draws a trickle to it, not a
//! reflection; and since no budget is shared, the RSTs an attacker draws to its own address
//! say nothing about the strays others sent, and so nothing about which 4-tuples are in use
//! (issue 18's side channel; Linux sends RSTs to strays without any limit).

use std::net::SocketAddr;

use super::rate_limit::PerSourceLimit;
use super::{Endpoint, STATELESS_REPLY_QUEUE};
use crate::conn::{encode, reset_reply, Reason, Transmit};
use crate::time::Instant;
use crate::wire::Segment;

/// RSTs to segments no connection accepts: at most this many a second to one source address
/// (an IPv4 address or an IPv6 /64), in bursts of at most [`RESET_BURST`]. A flood of strays
/// forged from a victim's address reflects a trickle to it.
pub const RESETS_PER_SECOND: u32 = 100;
/// See [`RESETS_PER_SECOND`].
pub const RESET_BURST: u32 = 50;

/// The RST rate limit.
pub(super) fn reset_limit() -> PerSourceLimit {
    PerSourceLimit::new(RESETS_PER_SECOND, RESET_BURST)
}

impl Endpoint {
    /// Answer `segment`, from `from`, which no connection takes, with a RST, unless it is a
    /// RST itself or `from` has had its share.
    pub(super) fn reset_stray(&mut self, now: Instant, from: SocketAddr, segment: &Segment<'_>) {
        let Some(reset) = reset_reply(segment) else {
            return;
        };
        if self.stateless_replies.len() >= STATELESS_REPLY_QUEUE
            || !self.resets.allow(now, from.ip(), &mut *self.isn_generator)
        {
            self.stats.resets_suppressed += 1;
            return;
        }
        self.stats.resets_sent += 1;
        self.stateless_replies.push_back(Transmit {
            destination: from,
            contents: encode(&reset),
            reason: Reason::Rst,
        });
    }
}
