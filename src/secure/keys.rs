//! Keys and randomness: a server's static identity, the public key a client pins, and the
//! resolver that gives snow the endpoint's injected generator in place of the OS's, so a
//! secure run in the simulator stays a pure function of its seed (the sans-IO rule,
//! docs/architecture.md).

use std::fmt;
use std::str::FromStr;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};

/// The Noise protocol of Ferry's handshake (docs/protocol.md section 10.1): the NX pattern,
/// X25519 and BLAKE2s from snow's pure-Rust resolver, AES-256-GCM from ring, the AEAD the
/// segments use too. AES-GCM, not ChaCha20-Poly1305: on a CPU with AES-NI and CLMUL, found at
/// run time, it seals a 1,200-octet segment several times as fast (docs/performance.md).
pub const NOISE_PARAMS: &str = "Noise_NX_25519_AESGCM_BLAKE2s";

/// Octets in an X25519 key.
pub const KEY_LEN: usize = 32;

/// The Noise protocol of a 0-RTT handshake (docs/protocol.md section 10.7): the NK pattern,
/// for a client that already knows the server's static key, so its first message can carry
/// data encrypted to that key. The same primitives as [`NOISE_PARAMS`].
pub const NOISE_PARAMS_EARLY: &str = "Noise_NK_25519_AESGCM_BLAKE2s";

pub(crate) fn noise_params() -> NoiseParams {
    NOISE_PARAMS
        .parse()
        .expect("NOISE_PARAMS names a protocol snow knows")
}

pub(crate) fn noise_params_early() -> NoiseParams {
    NOISE_PARAMS_EARLY
        .parse()
        .expect("NOISE_PARAMS_EARLY names a protocol snow knows")
}

/// A server's public key, which clients pin (like an SSH host key): 32 octets, written as
/// 64 hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&key_to_hex(&self.0))
    }
}

/// Why a text is no [`PublicKey`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyParseError;

impl fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key is {} hexadecimal digits", 2 * KEY_LEN)
    }
}

impl std::error::Error for KeyParseError {}

/// A key written as 64 hexadecimal digits (surrounding white space aside).
fn key_from_hex(text: &str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let text = text.trim();
    if text.len() != 2 * KEY_LEN || !text.is_ascii() {
        return Err(KeyParseError);
    }
    let mut key = [0; KEY_LEN];
    for (byte, digits) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let digits = std::str::from_utf8(digits).map_err(|_| KeyParseError)?;
        *byte = u8::from_str_radix(digits, 16).map_err(|_| KeyParseError)?;
    }
    Ok(key)
}

fn key_to_hex(key: &[u8; KEY_LEN]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl FromStr for PublicKey {
    type Err = KeyParseError;

    fn from_str(text: &str) -> Result<PublicKey, KeyParseError> {
        key_from_hex(text).map(PublicKey)
    }
}

/// A server's static X25519 key pair: what proves it is the server its clients pinned, and
/// what its stateless reset tokens derive from, so that it survives a restart (keep it in a
/// file; [`private_key`](Self::private_key) and [`from_private_key`](Self::from_private_key)).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    private: [u8; KEY_LEN],
    public: PublicKey,
}

impl fmt::Debug for Identity {
    /// The public half only: a private key has no business in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new key pair drawn from `rng` (the OS's in a real server; a seeded one in tests).
    pub fn generate(rng: &mut dyn RngCore) -> Identity {
        let mut private = [0; KEY_LEN];
        rng.fill_bytes(&mut private);
        Identity::from_private_key(private)
    }

    /// The identity whose private key is `private` (X25519 clamps any 32 octets into a key).
    pub fn from_private_key(private: [u8; KEY_LEN]) -> Identity {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .expect("snow's resolver has X25519");
        dh.set(&private);
        let mut public = [0; KEY_LEN];
        public.copy_from_slice(dh.pubkey());
        Identity {
            private,
            public: PublicKey(public),
        }
    }

    /// The key clients pin.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The private key, to keep in a file.
    pub fn private_key(&self) -> [u8; KEY_LEN] {
        self.private
    }

    /// The private key as 64 hexadecimal digits, the form of a key file.
    pub fn private_key_hex(&self) -> String {
        key_to_hex(&self.private)
    }

    /// The identity whose private key `text` holds as 64 hexadecimal digits.
    pub fn from_private_key_hex(text: &str) -> Result<Identity, KeyParseError> {
        key_from_hex(text).map(Identity::from_private_key)
    }
}

/// snow's primitives (X25519 and BLAKE2s in pure Rust, AES-256-GCM from ring, so the
/// handshake and the segments share one AES-GCM), with randomness from a generator seeded by
/// the endpoint's injected one: the only randomness a handshake draws is its ephemeral key.
pub(crate) struct InjectedResolver {
    seed: [u8; 32],
}

impl InjectedResolver {
    pub(crate) fn boxed(seed: [u8; 32]) -> Box<InjectedResolver> {
        Box::new(InjectedResolver { seed })
    }
}

struct SeededRandom(ChaCha20Rng);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoResolver for InjectedResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        RingResolver.resolve_cipher(choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_reads_back_what_it_prints_and_refuses_other_text() {
        let identity = Identity::generate(&mut ChaCha20Rng::seed_from_u64(3));
        let key = identity.public_key();
        assert_eq!(key.to_string().len(), 64);
        assert_eq!(key.to_string().parse(), Ok(key));
        assert_eq!("abc".parse::<PublicKey>(), Err(KeyParseError));
        assert_eq!("zz".repeat(32).parse::<PublicKey>(), Err(KeyParseError));
        assert_eq!("é".repeat(32).parse::<PublicKey>(), Err(KeyParseError));
        assert_eq!(
            Identity::from_private_key(identity.private_key()).public_key(),
            key
        );
        let private_hex = identity.private_key_hex();
        assert!(!format!("{identity:?}").contains(&private_hex));
        assert_eq!(
            Identity::from_private_key_hex(&private_hex),
            Ok(identity.clone())
        );
    }
}
