//! The secure mode's option (docs/protocol.md section 10): its layout on the wire, finding it
//! in a datagram, and the byte ranges that packet protection authenticates. What the bytes
//! mean (the Noise handshake, the keys, the replay window) is `crate::secure`'s.
//!
//! The option is TCP's kind-length-value form with an experimental kind
//! ([`option_kind::SECURE`], RFC 4727 section 7.2) and one octet of type after the length:
//!
//! ```text
//!   kind 253 | length | type 1 | Noise handshake message (at most 252 octets)
//!   kind 253 | length 19 | type 2 | connection id (8) | packet number (8, big endian)
//!   kind 253 | length 19 | type 3 | stateless reset token (16)
//!   kind 253 | length 3  | type 4                (a 0-RTT SYN: its Noise message is the payload)
//!   kind 253 | length 3  | type 5                (a RST: the server cannot read a 0-RTT SYN)
//!   kind 253 | length 19 | type 4 | address validation token (16)   (a 0-RTT SYN after a retry)
//!   kind 253 | length    | type 6 | address validation token (16) | Noise handshake message
//!   kind 253 | length 19 | type 7 | address validation token (16)   (a listener's retry)
//! ```
//!
//! NOPs before it fill the options to a whole number of words, as TCP stacks pad.

use super::{datagram_crc, field, option_kind, read_u16, HEADER_LEN, OPTION_WORD_LEN};
use super::{Segment, SACK_BLOCK_LEN};

/// The longest Noise message a handshake option carries: what the option's length octet can
/// count, less kind, length and type.
pub const MAX_HANDSHAKE_MESSAGE_LEN: usize = 255 - 3;

/// Octets in a connection id.
pub const CONNECTION_ID_LEN: usize = 8;

/// Octets in a stateless reset token.
pub const RESET_TOKEN_LEN: usize = 16;

/// Octets in an address validation token (docs/protocol.md section 10.8, a retry's).
pub const RETRY_TOKEN_LEN: usize = 16;

/// The option's type octet.
mod option_type {
    pub const HANDSHAKE: u8 = 1;
    pub const PROTECTION: u8 = 2;
    pub const RESET: u8 = 3;
    pub const EARLY_HANDSHAKE: u8 = 4;
    pub const UNREADABLE_EARLY_HANDSHAKE: u8 = 5;
    pub const TOKEN_HANDSHAKE: u8 = 6;
    pub const RETRY: u8 = 7;
}

/// What a secure segment carries in its option.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SecureOption<'a> {
    /// A SYN's or SYN-ACK's message of the Noise handshake.
    Handshake(&'a [u8]),
    /// A protected segment's connection id (the server's name for the connection, which lets
    /// a server that lost its state answer with a stateless reset) and packet number (the
    /// AEAD nonce: never the same twice under one key).
    Protection {
        /// Chosen by the server, sent in its handshake message.
        connection_id: [u8; CONNECTION_ID_LEN],
        /// Counts the datagrams one end protected: 0, 1, 2, ...
        packet_number: u64,
    },
    /// A stateless reset's token (a RST from a server that lost the connection's keys).
    Reset([u8; RESET_TOKEN_LEN]),
    /// A 0-RTT SYN: the first Noise message, with the client's early data, is the segment's
    /// payload, which has room for more than an option's 252 octets.
    EarlyHandshake,
    /// A RST in answer to a 0-RTT SYN whose Noise message the server could not read: the
    /// client encrypted it to a key that is not the server's. As unauthenticated as any RST
    /// to a SYN (docs/protocol.md section 10.7).
    UnreadableEarlyHandshake,
    /// A SYN sent again after a retry: the listener's address validation token beside the
    /// same Noise message as before (docs/protocol.md section 10.8).
    TokenHandshake {
        /// The retry's token, as it came.
        token: [u8; RETRY_TOKEN_LEN],
        /// The SYN's message of the Noise handshake.
        message: &'a [u8],
    },
    /// A 0-RTT SYN sent again after a retry, with the retry's token; its Noise message is
    /// still the payload.
    TokenEarlyHandshake([u8; RETRY_TOKEN_LEN]),
    /// A listener's retry: no state kept, the client is to send its SYN again with this
    /// token, which shows it receives at its address.
    Retry([u8; RETRY_TOKEN_LEN]),
}

impl SecureOption<'_> {
    /// The option's octets, led by the NOPs that make them whole words.
    ///
    /// # Panics
    ///
    /// If a handshake message is longer than [`MAX_HANDSHAKE_MESSAGE_LEN`] (less the token's
    /// octets beside a token): a bug in the caller, whose messages have fixed sizes well
    /// below it.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let (kind_type, value): (u8, Vec<u8>) = match self {
            SecureOption::Handshake(message) => {
                assert!(message.len() <= MAX_HANDSHAKE_MESSAGE_LEN);
                (option_type::HANDSHAKE, message.to_vec())
            }
            SecureOption::Protection {
                connection_id,
                packet_number,
            } => return protection_option(connection_id, *packet_number).to_vec(),
            SecureOption::Reset(token) => (option_type::RESET, token.to_vec()),
            SecureOption::EarlyHandshake => (option_type::EARLY_HANDSHAKE, Vec::new()),
            SecureOption::UnreadableEarlyHandshake => {
                (option_type::UNREADABLE_EARLY_HANDSHAKE, Vec::new())
            }
            SecureOption::TokenHandshake { token, message } => {
                assert!(message.len() <= MAX_HANDSHAKE_MESSAGE_LEN - RETRY_TOKEN_LEN);
                let mut value = token.to_vec();
                value.extend_from_slice(message);
                (option_type::TOKEN_HANDSHAKE, value)
            }
            SecureOption::TokenEarlyHandshake(token) => {
                (option_type::EARLY_HANDSHAKE, token.to_vec())
            }
            SecureOption::Retry(token) => (option_type::RETRY, token.to_vec()),
        };
        let len = 3 + value.len();
        let padding = (OPTION_WORD_LEN - len % OPTION_WORD_LEN) % OPTION_WORD_LEN;
        let mut bytes = vec![option_kind::NOP; padding];
        // At most 255: the handshake message is bounded above, the others are fixed.
        bytes.extend_from_slice(&[option_kind::SECURE, len as u8, kind_type]);
        bytes.extend_from_slice(&value);
        bytes
    }

    /// The first secure option of a datagram that [`Segment::parse`] accepted, if it has a
    /// well-formed one. Never panics, whatever the bytes.
    #[must_use]
    pub fn find(datagram: &[u8]) -> Option<SecureOption<'_>> {
        let area = datagram.get(options_range(datagram)?)?;
        let mut at = 0usize;
        while let Some(&kind) = area.get(at) {
            match kind {
                option_kind::END => return None,
                option_kind::NOP => {
                    at += 1;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*area.get(at + 1)?);
            let value = area.get(at + 2..at + len.max(2))?;
            if kind == option_kind::SECURE {
                return SecureOption::from_value(value);
            }
            at += len.max(2);
        }
        None
    }

    /// Read an option's type and value (after kind and length).
    fn from_value(value: &[u8]) -> Option<SecureOption<'_>> {
        let (&kind_type, value) = value.split_first()?;
        match kind_type {
            option_type::HANDSHAKE => Some(SecureOption::Handshake(value)),
            option_type::PROTECTION => {
                let (id, number) = value.split_at_checked(CONNECTION_ID_LEN)?;
                Some(SecureOption::Protection {
                    connection_id: id.try_into().ok()?,
                    packet_number: u64::from_be_bytes(number.try_into().ok()?),
                })
            }
            option_type::RESET => Some(SecureOption::Reset(value.try_into().ok()?)),
            option_type::EARLY_HANDSHAKE if value.is_empty() => Some(SecureOption::EarlyHandshake),
            option_type::EARLY_HANDSHAKE => {
                Some(SecureOption::TokenEarlyHandshake(value.try_into().ok()?))
            }
            option_type::TOKEN_HANDSHAKE => {
                let (token, message) = value.split_at_checked(RETRY_TOKEN_LEN)?;
                Some(SecureOption::TokenHandshake {
                    token: token.try_into().ok()?,
                    message,
                })
            }
            option_type::RETRY => Some(SecureOption::Retry(value.try_into().ok()?)),
            option_type::UNREADABLE_EARLY_HANDSHAKE if value.is_empty() => {
                Some(SecureOption::UnreadableEarlyHandshake)
            }
            _ => None,
        }
    }
}

/// Where a valid datagram's options lie.
fn options_range(datagram: &[u8]) -> Option<core::ops::Range<usize>> {
    let sack_count = usize::from(*datagram.get(field::SACK_COUNT)?);
    let options_len = usize::from(*datagram.get(field::OPTIONS_LEN)?) * OPTION_WORD_LEN;
    let start = HEADER_LEN + sack_count * SACK_BLOCK_LEN;
    Some(start..start + options_len)
}

/// Where a valid datagram's payload starts: the header, SACK blocks and options before it
/// are what packet protection takes as associated data.
#[must_use]
pub fn payload_offset(datagram: &[u8]) -> usize {
    let payload_len = usize::from(read_u16(datagram, field::PAYLOAD_LEN));
    datagram.len().saturating_sub(payload_len)
}

/// Octets of a protected segment's option, NOPs included: [`protection_option`]'s.
pub const PROTECTION_OPTION_LEN: usize = 20;

/// [`SecureOption::Protection`] encoded as [`SecureOption::encode`] encodes it (one NOP, then
/// kind, length 19, type, connection id and packet number), without allocating: it goes on
/// every protected segment.
#[must_use]
pub fn protection_option(
    connection_id: &[u8; CONNECTION_ID_LEN],
    packet_number: u64,
) -> [u8; PROTECTION_OPTION_LEN] {
    let mut option = [0; PROTECTION_OPTION_LEN];
    option[..4].copy_from_slice(&[
        option_kind::NOP,
        option_kind::SECURE,
        (PROTECTION_OPTION_LEN - 1) as u8,
        option_type::PROTECTION,
    ]);
    option[4..4 + CONNECTION_ID_LEN].copy_from_slice(connection_id);
    option[4 + CONNECTION_ID_LEN..].copy_from_slice(&packet_number.to_be_bytes());
    option
}

/// Make the valid datagram in `datagram` (as [`Segment::emit`] gives it) the frame of a
/// protected one, in its own buffer: `option` (whole option words) after its options,
/// `trailer_len` zero octets after its payload, counted in the payload's length, and the
/// checksum zero, as [`Segment::emit_frame`] lays them out. Returns where the payload now
/// starts. The payload moves once, by `option`'s length; nothing is allocated when the buffer
/// has the room.
///
/// # Panics
///
/// As [`Segment::emit_frame`]: if the options or the payload grow too long for their length
/// fields, a bug in the caller.
pub fn frame_in_place(datagram: &mut Vec<u8>, option: &[u8], trailer_len: usize) -> usize {
    let start = payload_offset(datagram);
    let payload_len = datagram.len() - start;
    let options_words = usize::from(datagram[field::OPTIONS_LEN]) + option.len() / OPTION_WORD_LEN;
    assert!(
        option.len() % OPTION_WORD_LEN == 0 && options_words <= 255,
        "options of {options_words} words are no whole number of words up to 255"
    );
    let framed_payload_len = u16::try_from(payload_len + trailer_len)
        .expect("segment payload longer than MAX_PAYLOAD_LEN (65535 bytes)");
    datagram.resize(datagram.len() + option.len() + trailer_len, 0);
    datagram.copy_within(start..start + payload_len, start + option.len());
    datagram[start..start + option.len()].copy_from_slice(option);
    // Checked above to fit.
    datagram[field::OPTIONS_LEN] = options_words as u8;
    datagram[field::PAYLOAD_LEN].copy_from_slice(&framed_payload_len.to_be_bytes());
    zero_checksum(datagram);
    start + option.len()
}

/// Set a datagram's checksum field to zero: how a protected datagram's associated data
/// carries it (the checksum is computed last, over the ciphertext).
pub fn zero_checksum(datagram: &mut [u8]) {
    if let Some(crc) = datagram.get_mut(field::CRC) {
        crc.fill(0);
    }
}

/// Write a datagram's checksum after its payload changed in place (encrypted).
pub fn write_checksum(datagram: &mut [u8]) {
    if datagram.len() < HEADER_LEN {
        return;
    }
    let crc = datagram_crc(datagram);
    datagram[field::CRC].copy_from_slice(&crc.to_be_bytes());
}

/// `segment` encoded with `option` after its own options.
#[must_use]
pub fn emit_with(segment: &Segment<'_>, option: &SecureOption<'_>) -> Vec<u8> {
    let option = option.encode();
    let mut datagram = Vec::with_capacity(segment.encoded_len() + option.len());
    segment.emit_with_option(&option, &mut datagram);
    datagram
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, SeqNum};

    #[test]
    fn each_option_survives_the_wire_and_the_segment_parses_as_without_it() {
        let segment = Segment {
            flags: Flags::ACK,
            seq: SeqNum(5),
            payload: b"data",
            ..Segment::default()
        };
        let message = [7u8; 100];
        for option in [
            SecureOption::Handshake(&message),
            SecureOption::Handshake(&[]),
            SecureOption::Protection {
                connection_id: [1, 2, 3, 4, 5, 6, 7, 8],
                packet_number: u64::MAX - 1,
            },
            SecureOption::Reset([9; RESET_TOKEN_LEN]),
            SecureOption::EarlyHandshake,
            SecureOption::UnreadableEarlyHandshake,
            SecureOption::TokenHandshake {
                token: [3; RETRY_TOKEN_LEN],
                message: &message,
            },
            SecureOption::TokenEarlyHandshake([4; RETRY_TOKEN_LEN]),
            SecureOption::Retry([5; RETRY_TOKEN_LEN]),
        ] {
            let datagram = emit_with(&segment, &option);
            assert_eq!(Segment::parse(&datagram), Ok(segment));
            assert_eq!(SecureOption::find(&datagram), Some(option));
            assert_eq!(payload_offset(&datagram), datagram.len() - 4);
        }
        let mut plain = Vec::new();
        segment.emit(&mut plain);
        assert_eq!(SecureOption::find(&plain), None);
    }

    #[test]
    fn a_datagram_framed_in_its_own_buffer_is_the_frame_emit_gives() {
        let option = protection_option(&[1, 2, 3, 4, 5, 6, 7, 8], 0x0102_0304_0506_0708);
        assert_eq!(
            option.to_vec(),
            SecureOption::Protection {
                connection_id: [1, 2, 3, 4, 5, 6, 7, 8],
                packet_number: 0x0102_0304_0506_0708,
            }
            .encode()
        );
        let mut sack = crate::wire::SackBlocks::new();
        sack.push(crate::wire::SackBlock {
            left: SeqNum(10),
            right: SeqNum(20),
        });
        for segment in [
            Segment {
                flags: Flags::ACK,
                seq: SeqNum(5),
                payload: b"some data",
                sack,
                ..Segment::default()
            },
            Segment {
                flags: Flags::ACK | Flags::FIN,
                ..Segment::default()
            },
        ] {
            let mut expected = Vec::new();
            segment.emit_frame(&option, 16, &mut expected);
            let mut framed = Vec::new();
            segment.emit(&mut framed);
            let start = frame_in_place(&mut framed, &option, 16);
            assert_eq!(framed, expected);
            assert_eq!(start, payload_offset(&framed));
            assert_eq!(
                &framed[start..start + segment.payload.len()],
                segment.payload
            );
            write_checksum(&mut framed);
            let parsed = Segment::parse(&framed).expect("a framed datagram is valid");
            assert_eq!(parsed.seq, segment.seq);
            assert_eq!(parsed.sack, segment.sack);
            assert_eq!(SecureOption::find(&framed), SecureOption::find(&expected));
        }
    }

    #[test]
    fn a_truncated_or_unknown_secure_option_is_none_and_never_a_panic() {
        let segment = Segment::default();
        let datagram = emit_with(&segment, &SecureOption::Reset([1; RESET_TOKEN_LEN]));
        for cut in 0..datagram.len() {
            let _ = SecureOption::find(&datagram[..cut]);
        }
        assert_eq!(SecureOption::from_value(&[9, 1, 2]), None);
        assert_eq!(SecureOption::from_value(&[option_type::RESET, 1, 2]), None);
        assert_eq!(
            SecureOption::from_value(&[option_type::EARLY_HANDSHAKE, 1]),
            None
        );
        assert_eq!(SecureOption::from_value(&[option_type::RETRY, 1, 2]), None);
        assert_eq!(
            SecureOption::from_value(&[option_type::TOKEN_HANDSHAKE, 1, 2]),
            None
        );
        assert_eq!(SecureOption::from_value(&[]), None);
    }
}
