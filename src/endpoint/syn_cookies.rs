//! SYN cookies (RFC 4987 section 3.6): once the half-open table is full, a SYN is answered
//! with a SYN-ACK whose ISN is a keyed hash of the peer's address, its ISN and the time, and
//! nothing is kept; a final ACK that carries the cookie back opens the connection. The SYN's
//! options would be lost with it, so the cookie's low bits keep them, as Linux's do: the
//! peer's MSS as an index into a small table, and SACK-permitted.
//!
//! A cookie's SYN-ACK is built from the SYN and the config alone (`stateless_syn_ack`), with
//! no connection made and dropped, and goes to each source address at a bounded rate
//! ([`SYN_COOKIES_PER_SECOND`]), so that SYNs forged from a victim's address reflect a
//! trickle to it, not one SYN-ACK each.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use super::rate_limit::PerSourceLimit;
use super::{Endpoint, Ownership, STATELESS_REPLY_QUEUE};
use crate::conn::{encode, stateless_syn_ack, Connection, Reason, Transmit};
use crate::time::Instant;
use crate::wire::{Flags, Options, Segment, SeqNum};

/// SYN-ACKs carrying cookies to one source address (an IPv4 address or an IPv6 /64): at most
/// this many a second, in bursts of at most [`SYN_COOKIE_BURST`]; a SYN beyond that is
/// dropped (`syn_cookies_suppressed`), and the client's SYN retransmission tries again. Each
/// cookie that comes back, opening a connection, gives its share back, since a source that
/// answers is a real host asking, not a victim of reflection: so many clients behind one
/// address (a NAT, or a thousand on loopback) connecting at once lose nothing, while a
/// flood of SYNs forged from a victim's address reflects at most this many a second to it.
pub const SYN_COOKIES_PER_SECOND: u32 = 16;
/// See [`SYN_COOKIES_PER_SECOND`]: a burst a little beyond the default backlog of 128.
pub const SYN_COOKIE_BURST: u32 = 256;

/// A SYN cookie is checked against the period it falls in and the one before, so it is
/// good for 64 to 128 s: the counter of Bernstein's cookies, which RFC 4987 section 3.6
/// describes, advances every 64 s, and Linux's cookies are good for 60 to 120 s. The handshake's final ACK comes a round trip after the
/// SYN-ACK; but if it is lost, or dropped by a full accept queue, only the client's data
/// sent again carries the cookie back, on a timer that backs off (1, 2, 4, 8, 16, 32 s), so
/// a cookie good for only 16 s would strand a client whose first tries were lost. A longer
/// life costs no safety: a guess succeeds with the same odds whatever the period's length,
/// and a duplicate older than a segment's lifetime (2 s for Ferry, whose TIME-WAIT is 4 s)
/// is not expected at all. Cookies are believed only within two periods of the last one
/// sent, as Linux believes them only after a recent overflow: a stale duplicate cannot open
/// a connection long after a flood.
pub(super) const COOKIE_PERIOD: Duration = Duration::from_secs(64);

/// The MSS values a cookie can keep, smallest first (Linux keeps an index into its `msstab`
/// the same way): 1 byte for labs, TCP's default 536 (RFC 9293 section 3.7.1), Ferry's 1200,
/// the 1428 a Ferry SYN offers with path MTU discovery on (a 1452-byte datagram less the
/// header), and common values around them. A peer's MSS is rounded down to an entry, so a cookie
/// connection never sends a segment larger than the peer asked for.
const COOKIE_MSS: [u16; 8] = [1, 64, 256, 536, 1024, 1200, 1428, 1460];

/// The cookie's low bits that keep the SYN's options: the top three the index into
/// [`COOKIE_MSS`], the lowest SACK-permitted. The hash fills the other 28.
const COOKIE_OPTION_BITS: u32 = 0b1111;

/// The SYN's options as the cookie's low bits ([`COOKIE_OPTION_BITS`]). A SYN without an MSS
/// option is kept as the MSS assumed for it (RFC 9293 section 3.7.1).
fn encode_options(options: &Options) -> u32 {
    let mss = options.mss.unwrap_or(crate::conn::ASSUMED_PEER_MSS);
    let index = COOKIE_MSS
        .iter()
        .rposition(|&entry| entry <= mss)
        .unwrap_or(0);
    ((index as u32) << 1) | u32::from(options.sack_permitted)
}

/// The options a cookie's low bits keep: the inverse of [`encode_options`], up to the MSS's
/// rounding.
fn decode_options(cookie: SeqNum) -> Options {
    let bits = cookie.0 & COOKIE_OPTION_BITS;
    Options {
        mss: COOKIE_MSS.get((bits >> 1) as usize).copied(),
        sack_permitted: bits & 1 == 1,
        timestamps: None,
    }
}

/// What an endpoint keeps for its SYN cookies.
#[derive(Debug)]
pub(super) struct SynCookies {
    /// The key of the cookies' hash, drawn from the ISN generator when first needed.
    secret: Option<[u64; 2]>,
    /// When the last cookie went out: cookies are believed only for a while after.
    last_sent_at: Option<Instant>,
    /// Cookies to each source address: [`SYN_COOKIES_PER_SECOND`].
    pub(super) per_source: PerSourceLimit,
}

impl Default for SynCookies {
    fn default() -> SynCookies {
        SynCookies {
            secret: None,
            last_sent_at: None,
            per_source: PerSourceLimit::new(SYN_COOKIES_PER_SECOND, SYN_COOKIE_BURST),
        }
    }
}

impl SynCookies {
    /// The SYN cookie for a SYN from `peer` with ISN `peer_isn`, in cookie period `period`,
    /// keeping its options as `option_bits` ([`encode_options`]): SipHash-2-4 keyed with a
    /// 128-bit secret that never leaves the endpoint, so it cannot be predicted without it,
    /// over the option bits too, so that a peer cannot change them and keep the cookie valid.
    /// (std's `SipHasher` is deprecated only in favour of a hasher whose algorithm may change;
    /// here the algorithm is the point, and it is fixed.)
    fn cookie(
        secret: [u64; 2],
        peer: SocketAddr,
        peer_isn: SeqNum,
        period: u64,
        option_bits: u32,
    ) -> SeqNum {
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new_with_keys(secret[0], secret[1]);
        (peer, peer_isn.0, period, option_bits).hash(&mut hasher);
        SeqNum((hasher.finish() as u32 & !COOKIE_OPTION_BITS) | option_bits)
    }

    /// Whether a SYN cookie went out recently enough for one to come back now.
    fn in_use(&self, now: Instant) -> bool {
        self.last_sent_at
            .is_some_and(|sent| now.saturating_duration_since(sent) < COOKIE_PERIOD * 2)
    }

    fn period(now: Instant) -> u64 {
        now.as_micros() / COOKIE_PERIOD.as_micros() as u64
    }
}

impl Endpoint {
    /// Answer `syn` with a SYN-ACK whose ISN is its cookie, keeping nothing, unless `from`
    /// has had its share. The SYN-ACK is the one a fresh passive open would send, so it
    /// carries the same window.
    pub(super) fn send_syn_cookie(&mut self, now: Instant, from: SocketAddr, syn: &Segment<'_>) {
        if self.stateless_replies.len() >= STATELESS_REPLY_QUEUE {
            self.stats.syns_dropped += 1;
            return;
        }
        if !self
            .cookies
            .per_source
            .allow(now, from.ip(), &mut *self.isn_generator)
        {
            self.stats.syn_cookies_suppressed += 1;
            return;
        }
        let isn_generator = &mut self.isn_generator;
        let secret = *self
            .cookies
            .secret
            .get_or_insert_with(|| [isn_generator.next_u64(), isn_generator.next_u64()]);
        let cookie = SynCookies::cookie(
            secret,
            from,
            syn.seq,
            SynCookies::period(now),
            encode_options(&syn.options),
        );
        self.stats.syn_cookies_sent += 1;
        self.cookies.last_sent_at = Some(now);
        self.stateless_replies.push_back(Transmit {
            destination: from,
            contents: encode(&stateless_syn_ack(&self.config, self.sizes, cookie, syn)),
            reason: Reason::SynCookie,
        });
    }

    /// If `segment` completes a handshake begun with a SYN cookie (its ACK field is the cookie
    /// plus one), open the connection and queue it for `accept`. Returns whether it took the
    /// segment: while cookies are in use, an ACK that fails the check is dropped without a
    /// RST, since it may be a cookie client's later segment that overtook its first (whose
    /// retransmission will validate), as Linux drops it.
    pub(super) fn accept_cookie(
        &mut self,
        now: Instant,
        from: SocketAddr,
        segment: &Segment<'_>,
    ) -> bool {
        let Some(secret) = self.cookies.secret else {
            return false;
        };
        if !self.cookies.in_use(now)
            || !segment.flags.contains(Flags::ACK)
            || segment.flags.intersects(Flags::SYN | Flags::RST)
        {
            return false;
        }
        let cookie = segment.ack - 1;
        let peer_isn = segment.seq - 1;
        let period = SynCookies::period(now);
        let option_bits = cookie.0 & COOKIE_OPTION_BITS;
        let valid = [period, period.saturating_sub(1)].iter().any(|&period| {
            SynCookies::cookie(secret, from, peer_isn, period, option_bits) == cookie
        });
        if !valid {
            self.stats.cookie_acks_dropped += 1;
            return true;
        }
        let Some(backlog) = self.listen_backlog else {
            return false;
        };
        if self.accept_queue.len() >= backlog {
            // The client's data, or its next segment, will try again.
            self.stats.syns_dropped += 1;
            return true;
        }
        self.cookies.per_source.refund(from.ip());
        let connection = Connection::opened_by_cookie(
            self.config.clone(),
            self.sizes,
            from,
            cookie,
            now,
            decode_options(cookie),
            segment,
        );
        let handle = self.insert(connection, Ownership::Unaccepted, None);
        if let Some(entry) = self.connections.get_mut(&handle) {
            entry.last_heard = Some(now);
        }
        self.stats.syn_cookies_accepted += 1;
        self.settle(handle);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(mss: Option<u16>, sack_permitted: bool) -> Options {
        Options {
            mss,
            sack_permitted,
            timestamps: None,
        }
    }

    fn kept(options: Options) -> Options {
        decode_options(SeqNum(0xABCD_E000 | encode_options(&options)))
    }

    #[test]
    fn a_cookie_keeps_the_table_s_mss_values_and_sack_permitted() {
        for mss in COOKIE_MSS {
            for sack_permitted in [false, true] {
                let offered = options(Some(mss), sack_permitted);
                assert_eq!(kept(offered), offered);
            }
        }
    }

    #[test]
    fn a_cookie_rounds_the_mss_down_never_up() {
        assert_eq!(kept(options(Some(1199), true)).mss, Some(1024));
        assert_eq!(kept(options(Some(9000), false)).mss, Some(1460));
        assert_eq!(kept(options(Some(63), false)).mss, Some(1));
        assert_eq!(kept(options(Some(0), false)).mss, Some(1));
        // No MSS option: the 536 RFC 9293 section 3.7.1 assumes.
        assert_eq!(kept(options(None, true)), options(Some(536), true));
        for mss in 0..=u16::MAX {
            let kept = kept(options(Some(mss), false)).mss.unwrap();
            assert!(kept <= mss.max(1), "{mss} kept as {kept}");
        }
    }

    #[test]
    fn the_option_bits_are_part_of_the_hash() {
        let peer: SocketAddr = "192.0.2.7:4747".parse().unwrap();
        let secret = [1, 2];
        let bits = encode_options(&options(Some(1200), true));
        let cookie = SynCookies::cookie(secret, peer, SeqNum(5), 9, bits);
        assert_eq!(cookie.0 & COOKIE_OPTION_BITS, bits);
        // The same SYN offering other options draws a cookie that differs beyond those bits:
        // a peer cannot edit a valid cookie's options.
        let other = SynCookies::cookie(secret, peer, SeqNum(5), 9, bits ^ 1);
        assert_ne!(
            other.0 & !COOKIE_OPTION_BITS,
            cookie.0 & !COOKIE_OPTION_BITS
        );
    }
}
