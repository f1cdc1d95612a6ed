//! The secure mode's SYN cookies (docs/protocol.md section 10.8): once half the backlog is
//! half-open, a secure SYN without an address validation token is answered with a retry that
//! carries one, and nothing is kept and no X25519 computed; a SYN that brings a valid token
//! back is taken, and may use the whole table, so forged SYNs fill at most half of it. Retries
//! go to each source address from the plain cookies' budget ([`SYN_COOKIES_PER_SECOND`]), so
//! that SYNs forged from a victim's address reflect a trickle to it.
//!
//! [`SYN_COOKIES_PER_SECOND`]: super::SYN_COOKIES_PER_SECOND

use std::net::SocketAddr;

use super::{Endpoint, STATELESS_REPLY_QUEUE};
use crate::conn::{Reason, Transmit};
use crate::secure::RetryClaim;
use crate::time::Instant;
use crate::wire::secure::{emit_with, RETRY_TOKEN_LEN};
use crate::wire::{Flags, SecureOption, Segment, SeqNum};

impl Endpoint {
    /// Whether a secure SYN without a token, `syn` from `from` with the Noise `message`, must
    /// show its address first: half the backlog is half-open. If so it is answered here with
    /// a retry (unless `from` has had its share) and must not be taken.
    pub(super) fn retry_unvalidated_syn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        syn: &Segment<'_>,
        message: &[u8],
    ) -> bool {
        let (Some(backlog), Some(identity)) = (
            self.listen_backlog,
            self.secure
                .as_ref()
                .and_then(|secure| secure.identity.as_ref()),
        ) else {
            return false;
        };
        if self.half_open.len() * 2 < backlog {
            return false;
        }
        let Some(claim) = RetryClaim::of(from, syn.seq, message) else {
            // Too short to be a Noise message at all: nothing to retry, nothing to take.
            self.stats.discarded_unauthenticated += 1;
            return true;
        };
        let token = claim.token(identity, now);
        if self.stateless_replies.len() >= STATELESS_REPLY_QUEUE
            || !self
                .cookies
                .per_source
                .allow(now, from.ip(), &mut *self.isn_generator)
        {
            self.stats.retries_suppressed += 1;
            return true;
        }
        self.stats.retries_sent += 1;
        self.stateless_replies.push_back(Transmit {
            destination: from,
            contents: retry(syn, token),
            reason: Reason::SecureRetry,
        });
        true
    }

    /// Whether `token`, brought back by a secure SYN (`syn` from `from` with the Noise
    /// `message`), is one this listener made for it in the last two periods; one that is not
    /// is counted, and the SYN dropped unanswered, so a forger learns nothing.
    pub(super) fn validates_retry_token(
        &mut self,
        now: Instant,
        from: SocketAddr,
        syn: &Segment<'_>,
        message: &[u8],
        token: &[u8; RETRY_TOKEN_LEN],
    ) -> bool {
        let identity = self
            .secure
            .as_ref()
            .and_then(|secure| secure.identity.as_ref());
        let valid = identity.is_some_and(|identity| {
            RetryClaim::of(from, syn.seq, message)
                .is_some_and(|claim| claim.validates(identity, now, token))
        });
        if !valid {
            self.stats.retry_tokens_refused += 1;
        }
        valid
    }
}

/// The retry answering `syn`: ACK alone, acknowledging the SYN's ISN (which an off-path forger
/// of retries does not know), no window, no data, the token in the secure option.
fn retry(syn: &Segment<'_>, token: [u8; RETRY_TOKEN_LEN]) -> Vec<u8> {
    let retry = Segment {
        flags: Flags::ACK,
        seq: SeqNum(0),
        ack: syn.seq + 1,
        window: 0,
        ..Segment::default()
    };
    emit_with(&retry, &SecureOption::Retry(token))
}
