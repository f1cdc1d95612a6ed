//! Stateless reset tokens (docs/protocol.md section 10.5), QUIC's idea (RFC 9000 section
//! 10.3): a server that lost a connection's keys (it crashed and restarted with the same
//! identity) still ends that connection when the client's next protected segment arrives,
//! with a RST carrying a token only it can compute; nobody else can end it. The token is a
//! keyed BLAKE2s (RFC 7693) of the client's address and the connection id, keyed with the
//! server's static private key and personalised so that the key's other use (X25519) never
//! meets the same input.

use std::net::SocketAddr;

use blake2::digest::consts::U16;
use blake2::digest::Mac;
use blake2::Blake2sMac;
use subtle::ConstantTimeEq;

use super::keys::Identity;
use crate::wire::secure::{CONNECTION_ID_LEN, RESET_TOKEN_LEN};

/// BLAKE2s's personalisation for reset tokens.
const PERSONAL: &[u8; 8] = b"ferryrst";

/// The token that ends the connection `connection_id` with `peer`.
pub(crate) fn reset_token(
    identity: &Identity,
    peer: SocketAddr,
    connection_id: &[u8; CONNECTION_ID_LEN],
) -> [u8; RESET_TOKEN_LEN] {
    let mut mac =
        Blake2sMac::<U16>::new_with_salt_and_personal(&identity.private_key(), &[], PERSONAL)
            .expect("a 32-octet key and an 8-octet personalisation suit BLAKE2s");
    match peer.ip() {
        std::net::IpAddr::V4(ip) => mac.update(&ip.octets()),
        std::net::IpAddr::V6(ip) => mac.update(&ip.octets()),
    }
    mac.update(&peer.port().to_be_bytes());
    mac.update(connection_id);
    mac.finalize().into_bytes().into()
}

/// Whether a received token is the expected one, compared in constant time so that its
/// timing tells a forger nothing about how many octets were right.
pub(crate) fn tokens_match(
    expected: &[u8; RESET_TOKEN_LEN],
    received: &[u8; RESET_TOKEN_LEN],
) -> bool {
    expected.ct_eq(received).into()
}
