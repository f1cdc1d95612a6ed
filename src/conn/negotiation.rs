//! What the handshake settles between the two ends: the largest segment either sends (RFC 9293
//! section 3.7.1), whether SACK is used (RFC 2018 section 2) and whether timestamps are (RFC
//! 7323 section 3.2). Each end's SYN (or SYN-ACK) offers its own settings as options: its MSS,
//! the most it wants to receive, SACK-permitted if it does SACK, and Timestamps if it uses
//! them. From the peer's SYN each end takes the smaller MSS, and SACK and timestamps only if
//! both offered them; until then it runs on its own offer, which only its SYN uses.

use super::config::CheckedSizes;
use super::Config;
use crate::wire::{Options, TIMESTAMPS_OPTION_LEN};

/// The MSS assumed for a peer whose SYN carries no MSS option: RFC 9293 section 3.7.1's
/// 536 octets, its default for IPv4 (1220 for IPv6). The option carries no address family, and
/// the smaller value is safe over either. Every Ferry SYN carries the option, so only another
/// implementation's SYN, or one built by hand, meets this default.
pub const ASSUMED_PEER_MSS: u16 = 536;

/// What the two ends agreed on in the handshake: [`Connection::negotiated`](super::Connection::negotiated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Negotiated {
    /// The largest payload a segment carries, either way: the smaller of this end's
    /// [`Config::mss`] and the MSS the peer's SYN offered ([`ASSUMED_PEER_MSS`] if it offered
    /// none), less the Timestamps option's 12 octets if [`timestamps`](Self::timestamps) (as
    /// Linux's 1448-octet segments on a 1460-octet MSS; at least 1). RFC 5681's SMSS, the unit
    /// of the congestion window, and the full-sized segment the receiver counts for its
    /// every-second-segment ACK.
    pub mss: usize,
    /// The largest payload a segment may grow to by path MTU discovery (RFC 8899,
    /// [`Config::plpmtud`]): the smaller of the largest this end receives
    /// ([`Config::max_datagram`] less the header) and the MSS the peer's SYN offered, and
    /// never less than [`mss`](Self::mss). [`mss`](Self::mss) itself with discovery off.
    pub max_mss: usize,
    /// Whether SACK blocks are sent and heeded: [`Config::sack`] and the peer's SACK-permitted.
    /// Without, loss recovery is NewReno's (RFC 6582) and RACK-TLP does not run.
    pub sack: bool,
    /// Whether every segment but a RST carries the Timestamps option (RFC 7323 section 3.2):
    /// [`Config::timestamps`] and the peer's SYN carried the option. Then [`mss`](Self::mss)
    /// is 12 octets smaller, the option's room, so that datagrams keep their size.
    pub timestamps: bool,
}

impl Negotiated {
    /// Before the peer's SYN: this end's own settings (`sizes` are `config`'s, checked).
    pub(super) fn offered(config: &Config, sizes: CheckedSizes) -> Negotiated {
        Negotiated {
            mss: usize::from(sizes.mss),
            max_mss: usize::from(sizes.mss),
            sack: config.sack,
            timestamps: config.timestamps,
        }
    }

    /// The options this end's SYN or SYN-ACK carries but Timestamps, which the connection
    /// adds with its clock's reading when [`timestamps`](Self::timestamps): its MSS, the most
    /// it receives (RFC 9293 section 3.7.1: with path MTU discovery on, more than it sends at
    /// first), and
    /// SACK-permitted if it does SACK.
    pub(super) fn syn_options(config: &Config, sizes: CheckedSizes) -> Options {
        Options {
            mss: Some(sizes.max_mss),
            sack_permitted: config.sack,
            timestamps: None,
        }
    }

    /// What holds once the peer's SYN, with `options`, has arrived. A peer's MSS of 0, which
    /// could carry nothing, counts as 1.
    pub(super) fn with_peer(config: &Config, sizes: CheckedSizes, options: &Options) -> Negotiated {
        let peer_mss = options.mss.unwrap_or(ASSUMED_PEER_MSS).max(1);
        let timestamps = config.timestamps && options.timestamps.is_some();
        // The option's room comes out of every segment's payload (RFC 7323 section 3.2).
        let option_room = if timestamps {
            TIMESTAMPS_OPTION_LEN as u16
        } else {
            0
        };
        Negotiated {
            mss: usize::from(sizes.mss.min(peer_mss).saturating_sub(option_room).max(1)),
            max_mss: usize::from(
                sizes
                    .max_mss
                    .min(peer_mss)
                    .max(sizes.mss.min(peer_mss))
                    .saturating_sub(option_room)
                    .max(1),
            ),
            sack: config.sack && options.sack_permitted,
            timestamps,
        }
    }

    /// [`mss`](Self::mss) in the sequence space's units. It always fits: both ends' MSS are
    /// 16-bit values (this end's as [`Config::check`] parsed it, the peer's from its option).
    pub(super) fn smss(&self) -> u32 {
        u32::try_from(self.mss).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with path MTU discovery off: the SYN offers `mss`.
    fn config(mss: usize, sack: bool) -> Config {
        Config {
            mss,
            sack,
            timestamps: false,
            plpmtud: false,
            ..Config::default()
        }
    }

    fn options(mss: Option<u16>, sack_permitted: bool) -> Options {
        Options {
            mss,
            sack_permitted,
            timestamps: None,
        }
    }

    fn syn_options(config: &Config) -> Options {
        Negotiated::syn_options(config, config.checked_sizes().unwrap())
    }

    #[test]
    fn a_syn_offers_this_end_s_mss_and_sack() {
        assert_eq!(syn_options(&config(1200, true)), options(Some(1200), true));
        assert_eq!(syn_options(&config(536, false)), options(Some(536), false));
    }

    /// RFC 9293 section 3.7.1: the MSS option says what this end can receive. With path MTU
    /// discovery on that is its largest datagram less the header, and what the peer offers
    /// bounds how far the search may grow segments, never below the base.
    #[test]
    fn with_path_mtu_discovery_a_syn_offers_the_largest_payload_it_receives() {
        let on = Config::default();
        assert_eq!(syn_options(&on), options(Some(1428), true));
        let with = |theirs| Negotiated::with_peer(&on, on.checked_sizes().unwrap(), &theirs);
        let both_search = with(options(Some(1428), true));
        assert_eq!((both_search.mss, both_search.max_mss), (1200, 1428));
        let peer_without = with(options(Some(1200), true));
        assert_eq!((peer_without.mss, peer_without.max_mss), (1200, 1200));
        let small_peer = with(options(Some(536), true));
        assert_eq!((small_peer.mss, small_peer.max_mss), (536, 536));
    }

    #[test]
    fn the_smaller_mss_and_sack_only_if_both_offer_it() {
        let with = |ours: Config, theirs: Options| {
            Negotiated::with_peer(&ours, ours.checked_sizes().unwrap(), &theirs)
        };
        assert_eq!(
            with(config(1200, true), options(Some(1460), true)),
            Negotiated {
                mss: 1200,
                max_mss: 1200,
                sack: true,
                timestamps: false,
            }
        );
        assert_eq!(
            with(config(1200, true), options(Some(500), false)),
            Negotiated {
                mss: 500,
                max_mss: 500,
                sack: false,
                timestamps: false,
            }
        );
        assert!(!with(config(1200, false), options(Some(1200), true)).sack);
        // RFC 9293 section 3.7.1: no option, the default.
        assert_eq!(with(config(1200, true), options(None, true)).mss, 536);
        assert_eq!(with(config(100, true), options(None, true)).mss, 100);
        assert_eq!(with(config(1200, true), options(Some(0), true)).mss, 1);
    }

    #[test]
    fn timestamps_only_if_both_offer_them_and_then_the_payload_makes_room() {
        let with = |ours: Config, theirs: Options| {
            Negotiated::with_peer(&ours, ours.checked_sizes().unwrap(), &theirs)
        };
        let offering = Options {
            timestamps: Some(crate::wire::Timestamps { tsval: 1, tsecr: 0 }),
            ..options(Some(1460), true)
        };
        let on = Config {
            timestamps: true,
            ..config(1200, true)
        };
        assert_eq!(
            with(on.clone(), offering),
            Negotiated {
                mss: 1188,
                max_mss: 1188,
                sack: true,
                timestamps: true,
            }
        );
        assert!(!with(on.clone(), options(Some(1460), true)).timestamps);
        assert_eq!(with(config(1200, true), offering).mss, 1200);
        let tiny = Config { mss: 10, ..on };
        assert_eq!(with(tiny, offering).mss, 1);
    }
}
