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
use crate::secure::reset_token;
use crate::time::Instant;
use crate::wire::secure::{emit_with, CONNECTION_ID_LEN};
use crate::wire::{SecureOption, Segment};

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
        self.queue_reset(now, from, encode(&reset));
    }

    /// Secure mode (docs/protocol.md section 10.5): answer `segment`, a protected segment
    /// from `from` of the connection `connection_id`, which this endpoint does not have (it
    /// lost it: a crash), with a stateless reset: a RST carrying the token that only this
    /// server's identity derives, the one the client learnt in the handshake. Rate-limited as
    /// any RST; a client-only endpoint, with no identity, drops the segment.
    pub(super) fn send_stateless_reset(
        &mut self,
        now: Instant,
        from: SocketAddr,
        segment: &Segment<'_>,
        connection_id: &[u8; CONNECTION_ID_LEN],
    ) {
        let identity = self
            .secure
            .as_ref()
            .and_then(|secure| secure.identity.as_ref());
        let (Some(identity), Some(reset)) = (identity, reset_reply(segment)) else {
            self.stats.discarded_unauthenticated += 1;
            return;
        };
        let token = reset_token(identity, from, connection_id);
        if self.queue_reset(now, from, emit_with(&reset, &SecureOption::Reset(token))) {
            self.stats.stateless_resets_sent += 1;
        }
    }

    /// Secure mode (docs/protocol.md section 10.7): answer `syn`, a 0-RTT SYN from `from`
    /// whose handshake message this server could not read, with a RST that says so, so that a
    /// client that pinned another key fails at once (`ServerKeyMismatch`) instead of
    /// repeating its SYN until its retries run out. Rate-limited as any RST.
    pub(super) fn refuse_unreadable_early_handshake(
        &mut self,
        now: Instant,
        from: SocketAddr,
        syn: &Segment<'_>,
    ) {
        if let Some(reset) = reset_reply(syn) {
            let reset = emit_with(&reset, &SecureOption::UnreadableEarlyHandshake);
            self.queue_reset(now, from, reset);
        }
    }

    /// Queue a RST to `from`, unless `from` has had its share; says whether it was queued.
    fn queue_reset(&mut self, now: Instant, from: SocketAddr, contents: Vec<u8>) -> bool {
        if self.stateless_replies.len() >= STATELESS_REPLY_QUEUE
            || !self.resets.allow(now, from.ip(), &mut *self.isn_generator)
        {
            self.stats.resets_suppressed += 1;
            return false;
        }
        self.stats.resets_sent += 1;
        self.stateless_replies.push_back(Transmit {
            destination: from,
            contents,
            reason: Reason::Rst,
        });
        true
    }
}
