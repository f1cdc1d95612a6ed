//! Seed derivation, in one place: every generator of a run (initial sequence numbers, each
//! link's fault injector, the simulator's payload) is seeded from one number through
//! [`derive_seed`], with a stream number per use, so that the generators are independent and a
//! run repeats from its seed.
//!
//! | stream | what it seeds | who uses it |
//! |---|---|---|
//! | [`ISN_A`], [`ISN_B`] | host A's and B's initial sequence numbers | the simulator |
//! | [`LINK_A_TO_B`], [`LINK_B_TO_A`] | the link's fault injector, mixed with the spec's `seed` ([`link_seed`]) | the simulator (A to B, B to A) and the socket driver (what a socket sends, what it receives) |
//! | [`PAYLOAD`] | the payload of [`crate::sim::transfer`] | the simulator |
//! | [`WORLD_HOSTS`] | each host's initial sequence numbers and ephemeral ports, by host, incarnation and socket | the simulated world (`crate::sim::world`) |
//! | [`WORLD_LINKS`] | each link direction's fault injector, by link and direction, mixed with the spec's `seed` ([`link_seed`]) | the simulated world |
//! | [`WORLD_MIDDLEBOXES`] | each router's middlebox (a NAT's random ports), by router | the simulated world |
//!
//! The socket driver has no run seed of its own: it derives its two links' seeds from run seed
//! 0 and the fault spec's `seed`, so a socket's outgoing link makes the same decisions as a
//! simulated A-to-B link with `--seed 0` and the same spec. A socket's initial sequence numbers
//! come from [`SocketConfig::isn_seed`](crate::SocketConfig::isn_seed), or the OS.

/// Stream of host A's initial sequence numbers.
pub const ISN_A: u64 = 1;
/// Stream of host B's initial sequence numbers.
pub const ISN_B: u64 = 2;
/// Stream of the link from A to B (a socket: what it sends).
pub const LINK_A_TO_B: u64 = 3;
/// Stream of the link from B to A (a socket: what it receives).
pub const LINK_B_TO_A: u64 = 4;
/// Stream of the simulator's payload.
pub const PAYLOAD: u64 = 5;
/// Stream of the simulated world's hosts: their sockets' initial sequence numbers and their
/// ephemeral ports derive from it, host by host and incarnation by incarnation.
pub const WORLD_HOSTS: u64 = 6;
/// Stream of the simulated world's links: each direction's fault injector derives from it.
pub const WORLD_LINKS: u64 = 7;
/// Stream of the simulated world's middleboxes: each router's derives from it, by router (a
/// NAT draws its random ports from it).
pub const WORLD_MIDDLEBOXES: u64 = 8;

/// Stream of the simulator's secure mode: B's identity (its static key) derives from it.
pub const SECURE_IDENTITY: u64 = 9;

/// The run seed of a socket's links: a socket has no run seed of its own, so its links'
/// seeds come from this and the fault spec's `seed=` alone.
pub const SOCKET_RUN_SEED: u64 = 0;

/// An independent seed for `stream` derived from `seed` (SplitMix64's finalizer).
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of a link's fault injector: the run's `seed` and the link's `stream`
/// ([`LINK_A_TO_B`] or [`LINK_B_TO_A`]), mixed with the fault spec's own `seed=`.
pub fn link_seed(seed: u64, stream: u64, spec_seed: u64) -> u64 {
    derive_seed(derive_seed(seed, stream), spec_seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_give_different_seeds() {
        let seeds = [
            ISN_A,
            ISN_B,
            LINK_A_TO_B,
            LINK_B_TO_A,
            PAYLOAD,
            WORLD_HOSTS,
            WORLD_LINKS,
            WORLD_MIDDLEBOXES,
        ]
        .map(|s| derive_seed(7, s));
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| a != b));
        }
        assert_ne!(link_seed(7, LINK_A_TO_B, 1), link_seed(7, LINK_A_TO_B, 2));
    }
}
