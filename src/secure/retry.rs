//! Address validation tokens (docs/protocol.md section 10.8), the secure mode's SYN cookies:
//! a listener with half its backlog half-open answers a secure SYN that has no token with a
//! retry carrying one, and keeps nothing; the client sends the same SYN again with the token,
//! which shows it receives at its address, as QUIC's Retry does (RFC 9000 section 8.1). A
//! forged SYN's address is not the forger's, so its token never comes back, and the listener
//! spends one keyed hash on it, not an X25519 operation and a place in its table.
//!
//! The token is a keyed BLAKE2s (RFC 7693) of the client's address, the SYN's ISN, the
//! client's ephemeral key and a period of the listener's clock, keyed with the server's static
//! private key and personalised so that the key's other uses (X25519, the reset tokens of
//! `reset.rs`) never meet the same input. Nothing is stored: a token is checked by computing
//! it again.

use std::net::SocketAddr;
use std::time::Duration;

use blake2::digest::consts::U16;
use blake2::digest::Mac;
use blake2::Blake2sMac;
use subtle::ConstantTimeEq;

use super::keys::{Identity, KEY_LEN};
use crate::time::Instant;
use crate::wire::secure::RETRY_TOKEN_LEN;
use crate::wire::SeqNum;

/// BLAKE2s's personalisation for address validation tokens.
const PERSONAL: &[u8; 8] = b"ferryrty";

/// A token is good in the period it was made in and the next: 32 to 64 s, longer than a
/// client's SYN retransmissions take to carry it back when the first SYN with it is lost.
pub const RETRY_TOKEN_PERIOD: Duration = Duration::from_secs(32);

/// What a token is bound to: one handshake's first message from one address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryClaim<'a> {
    /// Where the SYN came from, and the retry goes.
    pub(crate) peer: SocketAddr,
    /// The SYN's ISN.
    pub(crate) isn: SeqNum,
    /// The client's ephemeral key: the first octets of its Noise message.
    pub(crate) ephemeral: &'a [u8],
}

impl RetryClaim<'_> {
    /// The claim of the SYN whose Noise `message` begins with the client's ephemeral key, or
    /// `None` if the message is too short to hold one (no handshake could read it either).
    pub(crate) fn of(peer: SocketAddr, isn: SeqNum, message: &[u8]) -> Option<RetryClaim<'_>> {
        Some(RetryClaim {
            peer,
            isn,
            ephemeral: message.get(..KEY_LEN)?,
        })
    }

    /// The token a retry sent at `now` carries.
    pub(crate) fn token(&self, identity: &Identity, now: Instant) -> [u8; RETRY_TOKEN_LEN] {
        self.token_for_period(identity, period(now))
    }

    /// Whether `token` is one this listener made for this claim in the period of `now` or
    /// the one before, compared in constant time.
    pub(crate) fn validates(
        &self,
        identity: &Identity,
        now: Instant,
        token: &[u8; RETRY_TOKEN_LEN],
    ) -> bool {
        let current = period(now);
        [Some(current), current.checked_sub(1)]
            .into_iter()
            .flatten()
            .any(|period| bool::from(self.token_for_period(identity, period).ct_eq(token)))
    }

    fn token_for_period(&self, identity: &Identity, period: u64) -> [u8; RETRY_TOKEN_LEN] {
        let mut mac =
            Blake2sMac::<U16>::new_with_salt_and_personal(&identity.private_key(), &[], PERSONAL)
                .expect("a 32-octet key and an 8-octet personalisation suit BLAKE2s");
        match self.peer.ip() {
            std::net::IpAddr::V4(ip) => mac.update(&ip.octets()),
            std::net::IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        mac.update(&self.peer.port().to_be_bytes());
        mac.update(&self.isn.0.to_be_bytes());
        mac.update(self.ephemeral);
        mac.update(&period.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn period(now: Instant) -> u64 {
    now.as_micros() / RETRY_TOKEN_PERIOD.as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn a_token_validates_its_own_claim_for_one_to_two_periods_and_nothing_else() {
        let identity = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let other_identity = Identity::generate(&mut ChaCha20Rng::seed_from_u64(2));
        let peer: SocketAddr = "192.0.2.1:4747".parse().unwrap();
        let message = [7; 64];
        let claim = RetryClaim::of(peer, SeqNum(1000), &message).unwrap();
        let made = Instant::ZERO + RETRY_TOKEN_PERIOD * 3;
        let token = claim.token(&identity, made);
        assert!(claim.validates(&identity, made, &token));
        assert!(claim.validates(&identity, made + RETRY_TOKEN_PERIOD, &token));
        assert!(!claim.validates(&identity, made + RETRY_TOKEN_PERIOD * 2, &token));
        assert!(!claim.validates(&other_identity, made, &token));
        let other_message = [8; 64];
        for other in [
            RetryClaim::of("192.0.2.2:4747".parse().unwrap(), SeqNum(1000), &message),
            RetryClaim::of("192.0.2.1:4748".parse().unwrap(), SeqNum(1000), &message),
            RetryClaim::of(peer, SeqNum(1001), &message),
            RetryClaim::of(peer, SeqNum(1000), &other_message),
        ] {
            assert!(!other.unwrap().validates(&identity, made, &token));
        }
        assert!(RetryClaim::of(peer, SeqNum(1000), &message[..31]).is_none());
    }
}
