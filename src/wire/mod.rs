//! The wire format: [`Segment`] to bytes and back.
//!
//! This module owns everything about one Ferry datagram and nothing else:
//! the byte layout of the header (specified in `docs/protocol.md`), the
//! CRC-32 that protects it, the [`Flags`], [`SackBlocks`] and [`Options`] it
//! carries, validation of received bytes into a [`Segment`] (or a [`WireError`] saying
//! what was wrong), and sequence-number arithmetic ([`SeqNum`], in [`seq`]).
//! It keeps no state, reads no clock and never panics on received bytes:
//! every length read from the wire is checked before it is used.
//!
//! A segment is the validated form of a datagram. Parsing borrows the
//! payload from the datagram, so no bytes are copied on receipt.
//!
//! ```
//! use ferry::wire::{Flags, Options, SackBlocks, Segment, SeqNum, Timestamps};
//!
//! let syn_ack = Segment {
//!     flags: Flags::SYN | Flags::ACK,
//!     seq: SeqNum(100),
//!     ack: SeqNum(201),
//!     window: 65535,
//!     sack: SackBlocks::new(),
//!     options: Options {
//!         mss: Some(1200),
//!         sack_permitted: true,
//!         timestamps: Some(Timestamps { tsval: 7, tsecr: 42 }),
//!     },
//!     payload: &[],
//! };
//! let mut datagram = Vec::new();
//! syn_ack.emit(&mut datagram);
//! assert_eq!(datagram.len(), syn_ack.encoded_len());
//! assert_eq!(Segment::parse(&datagram), Ok(syn_ack));
//! assert_eq!(
//!     syn_ack.to_string(),
//!     "[S.] seq 100 ack 201 win 65535 len 0 options [mss 1200,sackOK,TS val 7 ecr 42]"
//! );
//! ```

use core::fmt;
use core::ops::{BitOr, BitOrAssign};

pub mod secure;
pub mod seq;
pub use secure::SecureOption;
pub use seq::SeqNum;

/// The magic number that opens every datagram: ASCII "FR".
///
/// It lets a receiver (and the Wireshark dissector) tell a Ferry datagram
/// from stray UDP traffic on the same port before spending a CRC on it.
pub const MAGIC: u16 = 0x4652;

/// The protocol version this module speaks and accepts.
///
/// Version 2 turned version 1's reserved octet into the Options Length: a version 1 parser
/// would take a datagram with options for one whose length is wrong, so the version says
/// which reading applies (docs/protocol.md section 3).
pub const VERSION: u8 = 2;

/// Length of the fixed header in bytes, before any SACK blocks.
pub const HEADER_LEN: usize = 24;

/// Length of one SACK block on the wire: two 32-bit sequence numbers.
pub const SACK_BLOCK_LEN: usize = 8;

/// Most SACK blocks one segment carries.
///
/// RFC 2018 section 3 fits at most four blocks in TCP's 40 bytes of options;
/// Ferry keeps the same limit so a TCP view of the segment stays faithful.
pub const MAX_SACK_BLOCKS: usize = 4;

/// Largest payload one segment can describe: the payload-length field is 16 bits.
///
/// A real datagram must also fit in UDP (65 507 bytes of payload over IPv4),
/// and in practice in the path MTU; choosing the segment size is the
/// connection's business, not the wire format's.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize;

/// The unit of the Options Length field: options fill whole 32-bit words, as TCP's do, so the
/// payload after them stays aligned.
pub const OPTION_WORD_LEN: usize = 4;

/// The option kinds Ferry knows. They are TCP's own (RFC 9293 section 3.2, RFC 2018
/// section 2), so a TCP view of a segment copies its options unchanged.
pub mod option_kind {
    /// End of the option list; what follows, to the end of the options, is padding.
    pub const END: u8 = 0;
    /// No operation: one octet, for alignment.
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 section 3.7.1): kind, length 4, a 16-bit value.
    pub const MSS: u8 = 2;
    /// SACK-permitted (RFC 2018 section 2): kind, length 2.
    pub const SACK_PERMITTED: u8 = 4;
    /// Timestamps (RFC 7323 section 3): kind, length 10, TSval and TSecr (32 bits each).
    pub const TIMESTAMPS: u8 = 8;
    /// The secure mode's option (docs/protocol.md section 9; [`super::SecureOption`]): one of
    /// the two kinds RFC 4727 section 7.2 sets aside for experiments, so TCP tools show it
    /// as an experimental option and step over it.
    pub const SECURE: u8 = 253;
}

/// Ferry's default UDP port (also the port the Wireshark dissector claims).
pub const DEFAULT_PORT: u16 = 4747;

/// Byte offsets of the header fields (see `docs/protocol.md`, "Header format").
mod field {
    use core::ops::Range;

    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const WINDOW: Range<usize> = 12..16;
    pub const PAYLOAD_LEN: Range<usize> = 16..18;
    pub const SACK_COUNT: usize = 18;
    pub const OPTIONS_LEN: usize = 19;
    pub const CRC: Range<usize> = 20..24;
}

/// The control bits of a segment.
///
/// The bit values are TCP's own (RFC 9293 section 3.1), so a TCP view of a
/// Ferry segment (for pcap captures) copies the byte unchanged. Ferry has no
/// PSH, URG, ECE or CWR; a received datagram with any of those bits set is
/// rejected with [`WireError::UnknownFlags`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Flags(u8);

impl Flags {
    /// No more data from the sender (RFC 9293 section 3.6).
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers (RFC 9293 section 3.5).
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection (RFC 9293 section 3.5.2).
    pub const RST: Flags = Flags(0x04);
    /// The acknowledgment field is significant (RFC 9293 section 3.1).
    pub const ACK: Flags = Flags(0x10);

    /// Every bit Ferry defines; any other bit is invalid on the wire.
    pub const KNOWN: Flags = Flags(0x01 | 0x02 | 0x04 | 0x10);

    /// No flags set.
    #[must_use]
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// The raw byte, as it appears on the wire.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from a raw byte. Unknown bits are kept, so the caller can see
    /// them; [`Segment::parse`] rejects them.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// Whether every bit of `other` is set in `self` (true for `empty()`).
    #[must_use]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` have any bit in common.
    #[must_use]
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Set the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clear the bits of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for Flags {
    /// tcpdump style: `F`, `S`, `R` in tcpdump's order, then `.` for ACK,
    /// e.g. `S`, `S.`, `.`, `F.`, `R`, `R.`; `none` when empty. Bits Ferry
    /// does not define (only possible via [`Flags::from_bits`]) are appended
    /// in hex, e.g. `S+0x40`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (flag, letter) in [
            (Flags::FIN, "F"),
            (Flags::SYN, "S"),
            (Flags::RST, "R"),
            (Flags::ACK, "."),
        ] {
            if self.contains(flag) {
                f.write_str(letter)?;
            }
        }
        let unknown = self.0 & !Flags::KNOWN.0;
        if unknown != 0 {
            write!(f, "+{unknown:#04x}")?;
        }
        Ok(())
    }
}

/// One selective acknowledgment: the receiver holds the bytes `[left, right)`
/// (RFC 2018 section 3: `left` is the first sequence number of the block,
/// `right` the one just after its last byte).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number just past the last byte of the block.
    pub right: SeqNum,
}

impl fmt::Display for SackBlock {
    /// `left:right`, as tcpdump prints SACK blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.left, self.right)
    }
}

/// Up to [`MAX_SACK_BLOCKS`] SACK blocks, in the order they go on the wire.
///
/// RFC 2018 section 4 asks that the first block report the most recently
/// received data; the order given to [`push`](SackBlocks::push) is kept.
/// The wire format does not check that blocks are well formed (non-empty,
/// non-overlapping, above the ACK): judging them is the sender's scoreboard's
/// job (RFC 2018 section 5), so parse passes them through as carried.
#[derive(Clone, Copy)]
pub struct SackBlocks {
    blocks: [SackBlock; MAX_SACK_BLOCKS],
    len: usize,
}

const EMPTY_BLOCK: SackBlock = SackBlock {
    left: SeqNum(0),
    right: SeqNum(0),
};

impl SackBlocks {
    /// No blocks.
    #[must_use]
    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [EMPTY_BLOCK; MAX_SACK_BLOCKS],
            len: 0,
        }
    }

    /// Append a block. Returns `false`, and ignores the block, when
    /// [`MAX_SACK_BLOCKS`] are already held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        match self.blocks.get_mut(self.len) {
            Some(slot) => {
                *slot = block;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Remove every block.
    pub fn clear(&mut self) {
        *self = SackBlocks::new();
    }

    /// The blocks, first (most recent) first.
    #[must_use]
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..self.len]
    }

    /// How many blocks are held (0 to [`MAX_SACK_BLOCKS`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no block is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for SackBlocks {
    fn default() -> SackBlocks {
        SackBlocks::new()
    }
}

// Equality and Debug look only at the blocks in use, never at spare slots.
impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Octets the Timestamps option takes on the wire, padding included: two NOPs (or, on a SYN,
/// SACK-permitted) and the option's 10 octets, three words, as Linux lays it out. A segment
/// that carries it carries that much less payload, so its datagram keeps its size (Linux's
/// 1448-octet segments on a 1460-octet MSS).
pub const TIMESTAMPS_OPTION_LEN: usize = 12;

/// The Timestamps option (RFC 7323 section 3): the sender's clock when it sent the segment,
/// and the clock value it echoes from the peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock when the segment was sent (RFC 7323 section 3.2).
    pub tsval: u32,
    /// TSecr: the peer's TSval being echoed (TS.Recent, RFC 7323 section 4.3); 0 on a SYN,
    /// where it means nothing.
    pub tsecr: u32,
}

/// The options a segment carries after its SACK blocks (docs/protocol.md section 3.2): TCP's
/// kind-length-value options with TCP's kinds. SYNs carry the ones the handshake negotiates;
/// once both SYNs carried Timestamps, every segment but a RST carries that one too (RFC 7323
/// section 3.2). Parsing skips options of other kinds by their length (RFC 9293 section
/// 3.2), so a later version can add more without breaking this one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Options {
    /// Maximum segment size (RFC 9293 section 3.7.1): the largest payload the sender wants
    /// to receive in one segment.
    pub mss: Option<u16>,
    /// SACK-permitted (RFC 2018 section 2): the sender can receive SACK blocks and will send
    /// them if the peer offers the same.
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 section 3): on a SYN, the offer to use them; after, on every
    /// segment but a RST once both SYNs offered them.
    pub timestamps: Option<Timestamps>,
}

impl Options {
    /// No options.
    #[must_use]
    pub const fn none() -> Options {
        Options {
            mss: None,
            sack_permitted: false,
            timestamps: None,
        }
    }

    /// Whether no option is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Options::none()
    }

    /// Bytes that [`emit`](Options::emit) appends: a multiple of [`OPTION_WORD_LEN`].
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let sack_permitted_alone = self.sack_permitted && self.timestamps.is_none();
        4 * usize::from(self.mss.is_some())
            + 4 * usize::from(sack_permitted_alone)
            + TIMESTAMPS_OPTION_LEN * usize::from(self.timestamps.is_some())
    }

    /// Append the options as they go on the wire, in whole words, as Linux's
    /// `tcp_options_write` lays them out: the MSS (kind 2, length 4); then Timestamps (kind 8,
    /// length 10) after SACK-permitted (kind 4, length 2) if both go, else after two NOPs;
    /// or SACK-permitted alone after two NOPs. The bytes are valid TCP options too, which the
    /// TCP view of a capture relies on.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        if let Some(mss) = self.mss {
            buf.extend_from_slice(&[option_kind::MSS, 4]);
            buf.extend_from_slice(&mss.to_be_bytes());
        }
        match self.timestamps {
            Some(Timestamps { tsval, tsecr }) => {
                if self.sack_permitted {
                    buf.extend_from_slice(&[option_kind::SACK_PERMITTED, 2]);
                } else {
                    buf.extend_from_slice(&[option_kind::NOP, option_kind::NOP]);
                }
                buf.extend_from_slice(&[option_kind::TIMESTAMPS, 10]);
                buf.extend_from_slice(&tsval.to_be_bytes());
                buf.extend_from_slice(&tsecr.to_be_bytes());
            }
            None if self.sack_permitted => buf.extend_from_slice(&[
                option_kind::NOP,
                option_kind::NOP,
                option_kind::SACK_PERMITTED,
                2,
            ]),
            None => {}
        }
    }

    /// Read the options area of a datagram (docs/protocol.md section 3.2): an End option
    /// stops the list (the rest is padding), a NOP is one octet, every other option is kind,
    /// length (counting both) and value. Options of unknown kinds are skipped by their length.
    /// Never panics: every index is checked.
    fn parse(area: &[u8]) -> Result<Options, WireError> {
        let mut options = Options::none();
        let mut at = 0usize;
        while let Some(&kind) = area.get(at) {
            match kind {
                option_kind::END => break,
                option_kind::NOP => {
                    at += 1;
                    continue;
                }
                _ => {}
            }
            let len = *area
                .get(at + 1)
                .ok_or(WireError::OptionTruncated { kind })?;
            if len < 2 {
                return Err(WireError::BadOptionLength { kind, len });
            }
            let end = at + usize::from(len);
            let value = area
                .get(at + 2..end)
                .ok_or(WireError::OptionTruncated { kind })?;
            match kind {
                option_kind::MSS => {
                    let [high, low] = <[u8; 2]>::try_from(value)
                        .map_err(|_| WireError::BadOptionLength { kind, len })?;
                    if options
                        .mss
                        .replace(u16::from_be_bytes([high, low]))
                        .is_some()
                    {
                        return Err(WireError::DuplicateOption { kind });
                    }
                }
                option_kind::SACK_PERMITTED => {
                    if !value.is_empty() {
                        return Err(WireError::BadOptionLength { kind, len });
                    }
                    if options.sack_permitted {
                        return Err(WireError::DuplicateOption { kind });
                    }
                    options.sack_permitted = true;
                }
                option_kind::TIMESTAMPS => {
                    let value = <[u8; 8]>::try_from(value)
                        .map_err(|_| WireError::BadOptionLength { kind, len })?;
                    let timestamps = Timestamps {
                        tsval: read_u32(&value, 0..4),
                        tsecr: read_u32(&value, 4..8),
                    };
                    if options.timestamps.replace(timestamps).is_some() {
                        return Err(WireError::DuplicateOption { kind });
                    }
                }
                // RFC 9293 section 3.2: an option of a kind not known is skipped by its length.
                _ => {}
            }
            at = end;
        }
        Ok(options)
    }
}

impl fmt::Display for Options {
    /// tcpdump style, without the brackets: `mss 1200,sackOK,TS val 7 ecr 0`; empty when
    /// there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        if let Some(mss) = self.mss {
            write!(f, "mss {mss}")?;
            separator = ",";
        }
        if self.sack_permitted {
            write!(f, "{separator}sackOK")?;
            separator = ",";
        }
        if let Some(Timestamps { tsval, tsecr }) = self.timestamps {
            write!(f, "{separator}TS val {tsval} ecr {tsecr}")?;
        }
        Ok(())
    }
}

/// Why a datagram was rejected by [`Segment::parse`].
///
/// A receiver drops a rejected datagram silently, counts it, and never
/// answers it (not even with RST): see `docs/protocol.md`, "Receiving".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than [`HEADER_LEN`], or than the header plus the SACK blocks it claims.
    Truncated {
        /// Length of the datagram received.
        len: usize,
    },
    /// The first two bytes are not [`MAGIC`].
    BadMagic {
        /// The value carried.
        found: u16,
    },
    /// The version byte is not [`VERSION`].
    UnsupportedVersion {
        /// The value carried.
        found: u8,
    },
    /// A flag bit outside FIN, SYN, RST and ACK is set.
    UnknownFlags {
        /// The whole flags byte carried.
        bits: u8,
    },
    /// The SACK block count exceeds [`MAX_SACK_BLOCKS`].
    TooManySackBlocks {
        /// The count carried.
        count: u8,
    },
    /// The length the header implies differs from the datagram's length.
    LengthMismatch {
        /// Header plus SACK blocks plus options plus payload length, as the header says.
        header: usize,
        /// Length of the datagram received.
        actual: usize,
    },
    /// An option's length octet is missing, or the option runs past the end of the options.
    OptionTruncated {
        /// The option's kind.
        kind: u8,
    },
    /// An option's length is below 2 (the kind and length octets themselves), or is not the
    /// length its kind has (4 for the MSS, 2 for SACK-permitted, 10 for Timestamps).
    BadOptionLength {
        /// The option's kind.
        kind: u8,
        /// The length carried.
        len: u8,
    },
    /// An option of a kind Ferry knows appears twice.
    DuplicateOption {
        /// The option's kind.
        kind: u8,
    },
    /// The CRC-32 carried does not match the datagram's contents.
    BadChecksum {
        /// The CRC in the datagram.
        carried: u32,
        /// The CRC computed over the datagram received.
        computed: u32,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { len } => {
                write!(f, "datagram of {len} bytes is too short for its header")
            }
            WireError::BadMagic { found } => write!(
                f,
                "bad magic number {found:#06x} (a Ferry datagram starts with {MAGIC:#06x})"
            ),
            WireError::UnsupportedVersion { found } => write!(
                f,
                "unsupported protocol version {found} (this is version {VERSION})"
            ),
            WireError::UnknownFlags { bits } => write!(
                f,
                "flags byte {bits:#04x} sets bits other than FIN, SYN, RST and ACK"
            ),
            WireError::TooManySackBlocks { count } => write!(
                f,
                "{count} SACK blocks claimed, at most {MAX_SACK_BLOCKS} are allowed"
            ),
            WireError::LengthMismatch { header, actual } => write!(
                f,
                "header implies a {header}-byte datagram but {actual} bytes arrived"
            ),
            WireError::OptionTruncated { kind } => {
                write!(f, "option of kind {kind} runs past the end of the options")
            }
            WireError::BadOptionLength { kind, len } => {
                write!(
                    f,
                    "option of kind {kind} has a length of {len}, which cannot be"
                )
            }
            WireError::DuplicateOption { kind } => {
                write!(f, "option of kind {kind} appears twice")
            }
            WireError::BadChecksum { carried, computed } => write!(
                f,
                "checksum mismatch: carried {carried:#010x}, computed {computed:#010x}"
            ),
        }
    }
}

impl std::error::Error for WireError {}

/// One Ferry segment: the validated form of a datagram.
///
/// The fields mean what they mean in TCP (RFC 9293 section 3.1), except that
/// the window is a plain 32-bit byte count with no scaling and SACK blocks
/// have their own place instead of being a TCP option. The other options are
/// TCP's, after the SACK blocks.
///
/// `Segment::default()` is an empty segment (no flags, zero numbers, no
/// payload), handy as a template with struct-update syntax.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Segment<'a> {
    /// Control bits.
    pub flags: Flags,
    /// Sequence number of the first octet of the segment (of the SYN, if set).
    pub seq: SeqNum,
    /// Next sequence number the sender expects. Meaningful only with
    /// [`Flags::ACK`]; emitted and parsed as given either way.
    pub ack: SeqNum,
    /// Receive window: bytes the sender can accept beyond `ack` (no scaling).
    pub window: u32,
    /// Selective acknowledgments (RFC 2018).
    pub sack: SackBlocks,
    /// Options: the MSS, SACK-permitted and Timestamps a SYN offers, and Timestamps on every
    /// later segment once both SYNs offered them.
    pub options: Options,
    /// The data, borrowed from the datagram on receipt.
    pub payload: &'a [u8],
}

/// Read a big-endian u16 at `at`. The callers index only inside the fixed
/// header after checking `bytes.len() >= HEADER_LEN`, and `get` keeps even a
/// wrong caller from panicking.
fn read_u16(bytes: &[u8], at: core::ops::Range<usize>) -> u16 {
    bytes
        .get(at)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map_or(0, u16::from_be_bytes)
}

/// Read a big-endian u32; see [`read_u16`].
fn read_u32(bytes: &[u8], at: core::ops::Range<usize>) -> u32 {
    bytes
        .get(at)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

/// The CRC-32 of a datagram with its CRC field taken as zero.
///
/// Hashing the parts around the field, with four zero bytes in its place,
/// gives the same value without copying the datagram. `datagram` must be at
/// least [`HEADER_LEN`] bytes long (parse checks that first).
fn datagram_crc(datagram: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(datagram.get(..field::CRC.start).unwrap_or_default());
    hasher.update(&[0; 4]);
    hasher.update(datagram.get(field::CRC.end..).unwrap_or_default());
    hasher.finalize()
}

impl<'a> Segment<'a> {
    /// Parse and validate one datagram (the whole UDP payload).
    ///
    /// Checks run in the order `docs/protocol.md` specifies, and the first
    /// failure is returned:
    ///
    /// 1. at least [`HEADER_LEN`] bytes, else [`WireError::Truncated`];
    /// 2. magic, else [`WireError::BadMagic`];
    /// 3. version, else [`WireError::UnsupportedVersion`];
    /// 4. CRC-32 over the whole datagram, else [`WireError::BadChecksum`].
    ///    It comes before the remaining fields are interpreted so that a bit
    ///    flipped in transit is reported as corruption, not as a malformed
    ///    field;
    /// 5. flags, else [`WireError::UnknownFlags`];
    /// 6. SACK block count, else [`WireError::TooManySackBlocks`];
    /// 7. room for the SACK blocks, else [`WireError::Truncated`], then the
    ///    exact total length (SACK blocks, options and payload), else
    ///    [`WireError::LengthMismatch`];
    /// 8. the options, one after the other, else [`WireError::OptionTruncated`],
    ///    [`WireError::BadOptionLength`] or [`WireError::DuplicateOption`].
    ///
    /// Never panics, whatever the bytes.
    pub fn parse(datagram: &'a [u8]) -> Result<Segment<'a>, WireError> {
        Segment::check_frame(datagram)?;
        let carried = read_u32(datagram, field::CRC);
        let computed = datagram_crc(datagram);
        if carried != computed {
            return Err(WireError::BadChecksum { carried, computed });
        }
        Segment::parse_fields(datagram)
    }

    /// Parse a datagram as [`parse`](Self::parse) does but for its checksum, which is not
    /// read: for a datagram whose integrity is already known, so that a CRC-32 pass over it
    /// would only repeat work. The secure mode uses it for the datagrams its own connection
    /// emitted, whose checksum it writes once after sealing, and for a datagram the AEAD
    /// authenticated (docs/protocol.md section 10.3). Every other check runs, in the same
    /// order, and it never panics, whatever the bytes.
    pub(crate) fn parse_without_checksum(datagram: &'a [u8]) -> Result<Segment<'a>, WireError> {
        Segment::check_frame(datagram)?;
        Segment::parse_fields(datagram)
    }

    /// The checks of [`parse`](Self::parse) before the checksum's (1 to 3).
    fn check_frame(datagram: &[u8]) -> Result<(), WireError> {
        let len = datagram.len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated { len });
        }
        let magic = read_u16(datagram, field::MAGIC);
        if magic != MAGIC {
            return Err(WireError::BadMagic { found: magic });
        }
        let version = datagram[field::VERSION];
        if version != VERSION {
            return Err(WireError::UnsupportedVersion { found: version });
        }
        Ok(())
    }

    /// The checks of [`parse`](Self::parse) after the checksum's (5 to 8), on a datagram of
    /// at least [`HEADER_LEN`] octets with Ferry's magic and version.
    fn parse_fields(datagram: &'a [u8]) -> Result<Segment<'a>, WireError> {
        let len = datagram.len();
        let flags = Flags::from_bits(datagram[field::FLAGS]);
        if !Flags::KNOWN.contains(flags) {
            return Err(WireError::UnknownFlags { bits: flags.bits() });
        }

        let count = datagram[field::SACK_COUNT];
        let sack_count = usize::from(count);
        if sack_count > MAX_SACK_BLOCKS {
            return Err(WireError::TooManySackBlocks { count });
        }

        // All sizes here are bounded (count <= 4, payload length < 2^16), but
        // checked arithmetic keeps the bound local rather than argued.
        let sack_end = sack_count
            .checked_mul(SACK_BLOCK_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN))
            .ok_or(WireError::Truncated { len })?;
        if len < sack_end {
            return Err(WireError::Truncated { len });
        }
        let payload_len = usize::from(read_u16(datagram, field::PAYLOAD_LEN));
        let options_len = usize::from(datagram[field::OPTIONS_LEN]) * OPTION_WORD_LEN;
        let options_end = sack_end
            .checked_add(options_len)
            .ok_or(WireError::Truncated { len })?;
        let total = options_end
            .checked_add(payload_len)
            .ok_or(WireError::LengthMismatch {
                header: usize::MAX,
                actual: len,
            })?;
        if total != len {
            return Err(WireError::LengthMismatch {
                header: total,
                actual: len,
            });
        }
        let options = Options::parse(datagram.get(sack_end..options_end).unwrap_or_default())?;

        let mut sack = SackBlocks::new();
        let sack_bytes = datagram.get(HEADER_LEN..sack_end).unwrap_or_default();
        for block in sack_bytes.chunks_exact(SACK_BLOCK_LEN) {
            sack.push(SackBlock {
                left: SeqNum(read_u32(block, 0..4)),
                right: SeqNum(read_u32(block, 4..8)),
            });
        }

        Ok(Segment {
            flags,
            seq: SeqNum(read_u32(datagram, field::SEQ)),
            ack: SeqNum(read_u32(datagram, field::ACK)),
            window: read_u32(datagram, field::WINDOW),
            sack,
            options,
            payload: datagram.get(options_end..).unwrap_or_default(),
        })
    }

    /// Bytes that `emit` will append.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + SACK_BLOCK_LEN * self.sack.len()
            + self.options.encoded_len()
            + self.payload.len()
    }

    /// Append the encoded datagram, CRC included, to `buf`.
    ///
    /// Bytes already in `buf` are left alone and are not covered by the CRC,
    /// so one buffer can be reused (clear it first) or hold several datagrams.
    ///
    /// # Panics
    ///
    /// If the payload is longer than [`MAX_PAYLOAD_LEN`]: the header cannot
    /// describe it, and sending a wrong length would be worse. This is a bug
    /// in the caller, never a property of received bytes.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        self.emit_with_option(&[], buf);
    }

    /// Append the encoded datagram as [`emit`](Self::emit) does, with `extra_option` (whole
    /// option words, such as an encoded [`SecureOption`]) after the segment's own options.
    ///
    /// # Panics
    ///
    /// As `emit`; and if `extra_option` is not a whole number of [`OPTION_WORD_LEN`] words
    /// or leaves the options longer than 1020 octets: bugs in the caller.
    pub fn emit_with_option(&self, extra_option: &[u8], buf: &mut Vec<u8>) {
        let start = buf.len();
        self.emit_frame(extra_option, 0, buf);
        let datagram = &mut buf[start..];
        let crc = datagram_crc(datagram);
        datagram[field::CRC].copy_from_slice(&crc.to_be_bytes());
    }

    /// Append the datagram as [`emit_with_option`](Self::emit_with_option) does, with
    /// `trailer_len` zero octets after the payload, counted in the payload's length, and the
    /// checksum left zero: the frame of a datagram whose payload is changed in place (the
    /// secure mode encrypts it and writes its tag in the trailer) before its checksum is
    /// written ([`secure::write_checksum`]).
    ///
    /// # Panics
    ///
    /// As `emit_with_option`, the trailer counted in the payload.
    pub fn emit_frame(&self, extra_option: &[u8], trailer_len: usize, buf: &mut Vec<u8>) {
        let options_len = self.options.encoded_len() + extra_option.len();
        assert!(
            options_len % OPTION_WORD_LEN == 0 && options_len / OPTION_WORD_LEN <= 255,
            "options of {options_len} octets are no whole number of words up to 1020"
        );
        let payload_len = u16::try_from(self.payload.len() + trailer_len)
            .expect("segment payload longer than MAX_PAYLOAD_LEN (65535 bytes)");
        // At most MAX_SACK_BLOCKS, so the count always fits in the byte.
        let sack_count = self.sack.len() as u8;

        let start = buf.len();
        buf.reserve(self.encoded_len() + extra_option.len() + trailer_len);
        buf.extend_from_slice(&MAGIC.to_be_bytes());
        buf.push(VERSION);
        buf.push(self.flags.bits());
        buf.extend_from_slice(&self.seq.0.to_be_bytes());
        buf.extend_from_slice(&self.ack.0.to_be_bytes());
        buf.extend_from_slice(&self.window.to_be_bytes());
        buf.extend_from_slice(&payload_len.to_be_bytes());
        buf.push(sack_count);
        debug_assert_eq!(buf.len() - start, field::OPTIONS_LEN);
        // Checked above to fit.
        buf.push((options_len / OPTION_WORD_LEN) as u8);
        buf.extend_from_slice(&[0; 4]); // CRC, filled in below
        for block in self.sack.as_slice() {
            buf.extend_from_slice(&block.left.0.to_be_bytes());
            buf.extend_from_slice(&block.right.0.to_be_bytes());
        }
        self.options.emit(buf);
        buf.extend_from_slice(extra_option);
        buf.extend_from_slice(self.payload);
        buf.resize(buf.len() + trailer_len, 0);
    }

    /// Sequence space the segment occupies: payload length + 1 for SYN + 1 for FIN
    /// (RFC 9293 section 3.4, "SEG.LEN").
    #[must_use]
    pub fn seq_len(&self) -> u32 {
        // A payload that does not fit in u32 cannot be emitted anyway;
        // saturate rather than wrap so the number is never silently small.
        let payload = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        payload
            .saturating_add(u32::from(self.flags.contains(Flags::SYN)))
            .saturating_add(u32::from(self.flags.contains(Flags::FIN)))
    }
}

/// The sequence number of a segment as an ICMP error quotes it: the start of a datagram we
/// sent, cut short anywhere after the UDP header, so its CRC cannot be checked and only the
/// fields it holds mean anything. Linux quotes up to 576 bytes of the IPv4 datagram, RFC 1812
/// asks routers for as much as fits there, and ICMPv6 quotes up to 1280 bytes (RFC 4443
/// section 3.1); a bare UDP header (RFC 792's minimum) tells nothing. `None` unless the quote
/// reaches through the sequence number (8 bytes) with Ferry's magic and version.
#[must_use]
pub fn quoted_seq(quote: &[u8]) -> Option<SeqNum> {
    let ours =
        read_u16(quote, field::MAGIC) == MAGIC && quote.get(field::VERSION) == Some(&VERSION);
    (ours && quote.len() >= field::SEQ.end).then(|| SeqNum(read_u32(quote, field::SEQ)))
}

impl fmt::Display for Segment<'_> {
    /// One tcpdump-like line, e.g.
    /// `[S.] seq 100 ack 201 win 65535 len 0` or
    /// `[.] seq 1 ack 1 win 1000 len 0 sack 300:400 500:600`, with the options
    /// last in tcpdump's brackets: `options [mss 1200,sackOK]`.
    /// The ack is printed only when ACK is set; `len` is the payload length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] seq {}", self.flags, self.seq)?;
        if self.flags.contains(Flags::ACK) {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {} len {}", self.window, self.payload.len())?;
        if !self.sack.is_empty() {
            f.write_str(" sack")?;
            for block in self.sack.as_slice() {
                write!(f, " {block}")?;
            }
        }
        if !self.options.is_empty() {
            write!(f, " options [{}]", self.options)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, Arbitrary, Gen};

    static PAYLOAD: [u8; 16] = *b"abcdefghijklmnop";

    fn block(left: u32, right: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(left),
            right: SeqNum(right),
        }
    }

    fn sacks(blocks: &[SackBlock]) -> SackBlocks {
        let mut sack = SackBlocks::new();
        for &b in blocks {
            assert!(sack.push(b));
        }
        sack
    }

    /// A data segment with one SACK block and a 16-byte payload: 48 bytes.
    fn sample() -> Segment<'static> {
        Segment {
            flags: Flags::ACK,
            seq: SeqNum(0x0102_0304),
            ack: SeqNum(0xFFFF_FFF0),
            window: 65535,
            sack: sacks(&[block(300, 400)]),
            options: Options::none(),
            payload: &PAYLOAD,
        }
    }

    /// `sample()` with both options: 56 bytes.
    fn sample_with_options() -> Segment<'static> {
        Segment {
            options: syn_ack().options,
            ..sample()
        }
    }

    /// A SYN-ACK offering an MSS of 1200 and SACK: 32 bytes.
    fn syn_ack() -> Segment<'static> {
        Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: SeqNum(100),
            ack: SeqNum(201),
            window: 65535,
            options: Options {
                mss: Some(1200),
                sack_permitted: true,
                timestamps: None,
            },
            ..Segment::default()
        }
    }

    fn emit(segment: &Segment<'_>) -> Vec<u8> {
        let mut buf = Vec::new();
        segment.emit(&mut buf);
        assert_eq!(buf.len(), segment.encoded_len());
        buf
    }

    /// Recompute the CRC of a hand-edited datagram so the edit reaches the
    /// checks after the CRC.
    fn fix_crc(datagram: &mut [u8]) {
        if datagram.len() >= HEADER_LEN {
            let crc = datagram_crc(datagram);
            datagram[field::CRC].copy_from_slice(&crc.to_be_bytes());
        }
    }

    // ---- layout --------------------------------------------------------

    #[test]
    fn emits_the_documented_layout() {
        let bytes = emit(&sample());
        assert_eq!(bytes.len(), 24 + 8 + 16);
        assert_eq!(&bytes[0..2], &[0x46, 0x52]);
        assert_eq!(bytes[2], 2);
        assert_eq!(bytes[3], 0x10);
        assert_eq!(&bytes[4..8], &[1, 2, 3, 4]);
        assert_eq!(&bytes[8..12], &[0xFF, 0xFF, 0xFF, 0xF0]);
        assert_eq!(&bytes[12..16], &[0, 0, 0xFF, 0xFF]);
        assert_eq!(&bytes[16..18], &[0, 16]);
        assert_eq!(bytes[18], 1);
        assert_eq!(bytes[19], 0);
        let mut zeroed = bytes.clone();
        zeroed[20..24].fill(0);
        let crc = crc32fast::hash(&zeroed);
        assert_eq!(&bytes[20..24], &crc.to_be_bytes());
        assert_eq!(&bytes[24..28], &300u32.to_be_bytes());
        assert_eq!(&bytes[28..32], &400u32.to_be_bytes());
        assert_eq!(&bytes[32..], &PAYLOAD);
    }

    #[test]
    fn crc_is_ieee_crc32() {
        // The standard check value of CRC-32/ISO-HDLC, pinned in protocol.md.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn emit_appends_after_existing_bytes() {
        let mut buf = vec![0xAA; 5];
        sample().emit(&mut buf);
        assert_eq!(&buf[..5], &[0xAA; 5]);
        assert_eq!(Segment::parse(&buf[5..]), Ok(sample()));
    }

    #[test]
    fn emits_the_options_after_the_sack_blocks_in_tcp_s_layout() {
        let with_sack = Segment {
            sack: sacks(&[block(7, 9)]),
            payload: &PAYLOAD[..2],
            ..syn_ack()
        };
        let bytes = emit(&with_sack);
        assert_eq!(bytes.len(), 24 + 8 + 8 + 2);
        assert_eq!(bytes[field::OPTIONS_LEN], 2, "two 4-octet words");
        assert_eq!(
            &bytes[32..40],
            &[2, 4, 0x04, 0xB0, 1, 1, 4, 2],
            "MSS 1200, NOP, NOP, SACK-permitted"
        );
        assert_eq!(&bytes[40..], &PAYLOAD[..2]);
        let mss_only = Segment {
            options: Options {
                mss: Some(536),
                sack_permitted: false,
                timestamps: None,
            },
            ..syn_ack()
        };
        let bytes = emit(&mss_only);
        assert_eq!((bytes[19], &bytes[24..]), (1, &[2, 4, 0x02, 0x18][..]));
        assert_eq!(Segment::parse(&bytes), Ok(mss_only));
    }

    /// `hand_header` with `options` after it (padded with zeros to whole words), as a SYN.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut b = hand_header();
        let words = options.len().div_ceil(OPTION_WORD_LEN);
        b[field::OPTIONS_LEN] = words as u8;
        b.extend_from_slice(options);
        b.resize(HEADER_LEN + words * OPTION_WORD_LEN, 0);
        fix_crc(&mut b);
        b
    }

    fn parsed_options(options: &[u8]) -> Result<Options, WireError> {
        Segment::parse(&with_options(options)).map(|segment| segment.options)
    }

    #[test]
    fn options_are_read_in_any_order_with_nops_and_an_end() {
        let both = Options {
            mss: Some(0x1234),
            sack_permitted: true,
            timestamps: None,
        };
        assert_eq!(parsed_options(&[4, 2, 2, 4, 0x12, 0x34]), Ok(both));
        assert_eq!(parsed_options(&[1, 4, 2, 1, 2, 4, 0x12, 0x34]), Ok(both));
        // After End, the rest is padding, whatever it holds.
        assert_eq!(
            parsed_options(&[4, 2, 0, 2, 4, 0x12, 0x34, 9]),
            Ok(Options {
                mss: None,
                sack_permitted: true,
                timestamps: None,
            })
        );
        assert_eq!(parsed_options(&[0, 0, 0, 0]), Ok(Options::none()));
    }

    #[test]
    fn options_of_unknown_kinds_are_skipped_by_their_length() {
        // A window scale (kind 3, length 3) and a kind nobody has assigned (length 2) beside
        // the MSS, after a timestamps option (kind 8, length 10), which is read.
        let options = [
            8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 7, 2, 4, 0x05, 0xDC, 0xFE, 2, 1,
        ];
        assert_eq!(
            parsed_options(&options[10..]),
            Ok(Options {
                mss: Some(1500),
                sack_permitted: false,
                timestamps: None,
            })
        );
        assert_eq!(
            parsed_options(&options),
            Ok(Options {
                mss: Some(1500),
                sack_permitted: false,
                timestamps: Some(Timestamps {
                    tsval: 0x0102_0304,
                    tsecr: 0x0506_0708,
                }),
            })
        );
    }

    #[test]
    fn malformed_options_are_rejected_each_with_its_error() {
        let cases: [(&[u8], WireError); 8] = [
            // A kind with no length octet after it (the area is exactly one word).
            (&[1, 1, 1, 9], WireError::OptionTruncated { kind: 9 }),
            // A length that runs past the options area.
            (&[9, 6, 0, 0], WireError::OptionTruncated { kind: 9 }),
            (&[2, 8, 0, 1], WireError::OptionTruncated { kind: 2 }),
            // Lengths below 2 could never move on.
            (
                &[9, 0, 0, 0],
                WireError::BadOptionLength { kind: 9, len: 0 },
            ),
            (
                &[9, 1, 0, 0],
                WireError::BadOptionLength { kind: 9, len: 1 },
            ),
            // Known kinds have their own lengths.
            (
                &[2, 3, 5, 0],
                WireError::BadOptionLength { kind: 2, len: 3 },
            ),
            (
                &[4, 3, 0, 0],
                WireError::BadOptionLength { kind: 4, len: 3 },
            ),
            (&[4, 2, 4, 2], WireError::DuplicateOption { kind: 4 }),
        ];
        for (options, error) in cases {
            assert_eq!(parsed_options(options), Err(error), "{options:?}");
        }
        assert_eq!(
            parsed_options(&[2, 4, 0, 1, 2, 4, 0, 2]),
            Err(WireError::DuplicateOption { kind: 2 })
        );
        // Timestamps are 10 octets long, and once only.
        assert_eq!(
            parsed_options(&[1, 1, 8, 8, 0, 0, 0, 1, 0, 0, 0, 2]),
            Err(WireError::BadOptionLength { kind: 8, len: 8 })
        );
        assert_eq!(
            parsed_options(&[1, 1, 1, 1, 1, 1, 8, 10, 0, 0, 0, 1]),
            Err(WireError::OptionTruncated { kind: 8 })
        );
        let twice = [[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; 2].concat();
        assert_eq!(
            parsed_options(&twice),
            Err(WireError::DuplicateOption { kind: 8 })
        );
    }

    #[test]
    fn timestamps_take_three_words_as_linux_lays_them_out() {
        let timestamps = Some(Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0x0A0B_0C0D,
        });
        // On a data segment: NOP, NOP, then the option.
        let data = Segment {
            options: Options {
                timestamps,
                ..Options::none()
            },
            ..sample()
        };
        let bytes = emit(&data);
        assert_eq!(bytes[field::OPTIONS_LEN], 3, "three 4-octet words");
        assert_eq!(
            &bytes[32..44],
            &[1, 1, 8, 10, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(Segment::parse(&bytes), Ok(data));
        // On a SYN, SACK-permitted takes the NOPs' place: four words in all with the MSS.
        let syn = Segment {
            options: Options {
                timestamps,
                ..syn_ack().options
            },
            ..syn_ack()
        };
        let bytes = emit(&syn);
        assert_eq!(bytes[field::OPTIONS_LEN], 4);
        assert_eq!(
            &bytes[24..],
            &[2, 4, 0x04, 0xB0, 4, 2, 8, 10, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(Segment::parse(&bytes), Ok(syn));
        assert_eq!(
            syn.options.to_string(),
            "mss 1200,sackOK,TS val 16909060 ecr 168496141"
        );
    }

    #[test]
    fn the_options_length_counts_in_the_datagram_length() {
        // Options Length says one word; the word is missing.
        let mut b = hand_header();
        b[field::OPTIONS_LEN] = 1;
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::LengthMismatch {
                header: 28,
                actual: 24
            })
        );
        // The largest Options Length the octet can say: 255 words of NOPs parse as none.
        let b = with_options(&[1; 255 * OPTION_WORD_LEN]);
        assert_eq!(b.len(), 24 + 1020);
        assert_eq!(Segment::parse(&b).map(|s| s.options), Ok(Options::none()));
    }

    // ---- round trips ---------------------------------------------------

    #[test]
    fn round_trips_every_flag_combination() {
        for bits in 0..=0xFFu8 {
            let flags = Flags::from_bits(bits);
            if !Flags::KNOWN.contains(flags) {
                continue;
            }
            for (sack, payload) in [
                (SackBlocks::new(), &[][..]),
                (SackBlocks::new(), &PAYLOAD[..]),
                (sacks(&[block(1, 2)]), &[][..]),
                (
                    sacks(&[
                        block(10, 20),
                        block(0xFFFF_FFF0, 5),
                        block(30, 40),
                        block(50, 60),
                    ]),
                    &PAYLOAD[..3],
                ),
            ] {
                let segment = Segment {
                    flags,
                    sack,
                    payload,
                    ..sample()
                };
                assert_eq!(Segment::parse(&emit(&segment)), Ok(segment), "{segment}");
            }
        }
    }

    #[test]
    fn round_trips_an_empty_segment() {
        let segment = Segment::default();
        let bytes = emit(&segment);
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(Segment::parse(&bytes), Ok(segment));
    }

    #[test]
    fn round_trips_a_maximal_payload() {
        let payload = vec![7u8; MAX_PAYLOAD_LEN];
        let segment = Segment {
            payload: &payload,
            ..sample()
        };
        assert_eq!(Segment::parse(&emit(&segment)), Ok(segment));
    }

    #[test]
    #[should_panic(expected = "MAX_PAYLOAD_LEN")]
    fn emit_refuses_an_oversized_payload() {
        let payload = vec![0u8; MAX_PAYLOAD_LEN + 1];
        let segment = Segment {
            payload: &payload,
            ..sample()
        };
        segment.emit(&mut Vec::new());
    }

    // ---- every error, from hand-built bytes ---------------------------

    /// A valid 24-byte header, built by hand rather than by `emit`.
    fn hand_header() -> Vec<u8> {
        let mut b = vec![
            0x46, 0x52, // magic
            2,    // version
            0x02, // SYN
            0, 0, 0, 100, // seq
            0, 0, 0, 0, // ack
            0, 0, 0x10, 0, // window 4096
            0, 0, // payload length
            0, // sack count
            0, // options length
            0, 0, 0, 0, // crc
        ];
        fix_crc(&mut b);
        b
    }

    #[test]
    fn hand_built_header_parses() {
        assert_eq!(
            Segment::parse(&hand_header()),
            Ok(Segment {
                flags: Flags::SYN,
                seq: SeqNum(100),
                window: 4096,
                ..Segment::default()
            })
        );
    }

    #[test]
    fn truncated_below_header() {
        let b = hand_header();
        for len in 0..HEADER_LEN {
            assert_eq!(Segment::parse(&b[..len]), Err(WireError::Truncated { len }));
        }
    }

    #[test]
    fn truncated_inside_sack_blocks() {
        let mut b = hand_header();
        b[field::SACK_COUNT] = 2;
        b.extend_from_slice(&[0; 12]); // room for 1.5 blocks
        fix_crc(&mut b);
        assert_eq!(Segment::parse(&b), Err(WireError::Truncated { len: 36 }));
    }

    #[test]
    fn bad_magic() {
        let mut b = hand_header();
        b[0] = 0x47;
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::BadMagic { found: 0x4752 })
        );
    }

    #[test]
    fn unsupported_version() {
        // Version 1, whose octet 19 was reserved, is not read as version 2.
        let mut b = hand_header();
        b[field::VERSION] = 1;
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::UnsupportedVersion { found: 1 })
        );
    }

    #[test]
    fn unknown_flags() {
        for bit in [0x08, 0x20, 0x40, 0x80] {
            let mut b = hand_header();
            b[field::FLAGS] |= bit;
            fix_crc(&mut b);
            assert_eq!(
                Segment::parse(&b),
                Err(WireError::UnknownFlags { bits: 0x02 | bit })
            );
        }
    }

    #[test]
    fn too_many_sack_blocks() {
        let mut b = hand_header();
        b[field::SACK_COUNT] = 5;
        b.extend_from_slice(&[0; 40]);
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::TooManySackBlocks { count: 5 })
        );
    }

    #[test]
    fn length_mismatch() {
        // Payload length says 4, one byte arrives.
        let mut b = hand_header();
        b[field::PAYLOAD_LEN.end - 1] = 4;
        b.push(0xEE);
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::LengthMismatch {
                header: 28,
                actual: 25
            })
        );
        // Payload length says 0, trailing bytes arrive.
        let mut b = hand_header();
        b.extend_from_slice(&[1, 2, 3]);
        fix_crc(&mut b);
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::LengthMismatch {
                header: 24,
                actual: 27
            })
        );
    }

    #[test]
    fn bad_checksum() {
        let mut b = hand_header();
        let good = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        b[field::CRC.end - 1] ^= 1;
        assert_eq!(
            Segment::parse(&b),
            Err(WireError::BadChecksum {
                carried: good ^ 1,
                computed: good
            })
        );
    }

    #[test]
    fn checksum_is_checked_before_the_fields() {
        // A corrupted flags byte, sack count, options length or payload length is
        // reported as a bad checksum, because the CRC is checked first.
        for (at, value) in [
            (field::FLAGS, 0xFF),
            (field::SACK_COUNT, 9),
            (field::OPTIONS_LEN, 1),
            (field::PAYLOAD_LEN.end - 1, 3),
        ] {
            let mut b = hand_header();
            b[at] = value;
            assert!(matches!(
                Segment::parse(&b),
                Err(WireError::BadChecksum { .. })
            ));
        }
    }

    #[test]
    fn without_its_checksum_a_datagram_parses_as_with_it_and_every_other_check_runs() {
        let good = hand_header();
        let with = Segment::parse(&good).expect("the hand-made header is valid");
        let mut b = good.clone();
        b[field::CRC].fill(0);
        assert_eq!(Segment::parse_without_checksum(&b), Ok(with));
        for (at, value, error) in [
            (
                field::VERSION,
                9,
                WireError::UnsupportedVersion { found: 9 },
            ),
            (field::FLAGS, 0x80, WireError::UnknownFlags { bits: 0x80 }),
            (
                field::SACK_COUNT,
                9,
                WireError::TooManySackBlocks { count: 9 },
            ),
        ] {
            let mut bad = b.clone();
            bad[at] = value;
            assert_eq!(Segment::parse_without_checksum(&bad), Err(error));
        }
        assert_eq!(
            Segment::parse_without_checksum(&b[..3]),
            Err(WireError::Truncated { len: 3 })
        );
    }

    #[test]
    fn errors_display_one_sentence() {
        let errors = [
            WireError::Truncated { len: 3 },
            WireError::BadMagic { found: 0x1234 },
            WireError::UnsupportedVersion { found: 9 },
            WireError::UnknownFlags { bits: 0x42 },
            WireError::TooManySackBlocks { count: 7 },
            WireError::LengthMismatch {
                header: 40,
                actual: 30,
            },
            WireError::OptionTruncated { kind: 2 },
            WireError::BadOptionLength { kind: 4, len: 3 },
            WireError::DuplicateOption { kind: 2 },
            WireError::BadChecksum {
                carried: 1,
                computed: 2,
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{text}");
        }
        assert_eq!(
            WireError::BadMagic { found: 0x1234 }.to_string(),
            "bad magic number 0x1234 (a Ferry datagram starts with 0x4652)"
        );
    }

    // ---- the CRC against bit flips -------------------------------------

    #[test]
    fn every_single_bit_flip_is_caught() {
        let good = emit(&sample_with_options());
        let bits = good.len() * 8;
        for i in 0..bits {
            let mut b = good.clone();
            b[i / 8] ^= 0x80 >> (i % 8);
            let result = Segment::parse(&b);
            // Flips in magic or version are caught by those checks, every
            // other flip by the CRC.
            if i < 24 {
                assert!(result.is_err(), "flip of bit {i} parsed");
            } else {
                assert!(
                    matches!(result, Err(WireError::BadChecksum { .. })),
                    "flip of bit {i}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn every_double_bit_flip_is_caught() {
        let good = emit(&sample_with_options());
        let bits = good.len() * 8;
        for i in 0..bits {
            for j in i + 1..bits {
                let mut b = good.clone();
                b[i / 8] ^= 0x80 >> (i % 8);
                b[j / 8] ^= 0x80 >> (j % 8);
                let result = Segment::parse(&b);
                if i < 24 {
                    assert!(result.is_err(), "flip of bits {i} and {j} parsed");
                } else {
                    assert!(
                        matches!(result, Err(WireError::BadChecksum { .. })),
                        "flip of bits {i} and {j}: {result:?}"
                    );
                }
            }
        }
    }

    // ---- parse never panics --------------------------------------------

    /// A change to a valid datagram: overwrite bytes, truncate or extend.
    #[derive(Clone, Debug)]
    struct Mutation {
        writes: Vec<(u8, u8)>,
        new_len: Option<u8>,
        fix_crc: bool,
    }

    impl Arbitrary for Mutation {
        fn arbitrary(g: &mut Gen) -> Mutation {
            Mutation {
                writes: Arbitrary::arbitrary(g),
                new_len: Arbitrary::arbitrary(g),
                fix_crc: Arbitrary::arbitrary(g),
            }
        }

        fn shrink(&self) -> Box<dyn Iterator<Item = Mutation>> {
            let this = self.clone();
            Box::new(self.writes.shrink().map(move |writes| Mutation {
                writes,
                ..this.clone()
            }))
        }
    }

    /// An arbitrary segment, for round-trip properties.
    #[derive(Clone, Debug)]
    struct AnySegment {
        flags: u8,
        seq: u32,
        ack: u32,
        window: u32,
        sack: Vec<(u32, u32)>,
        mss: Option<u16>,
        sack_permitted: bool,
        timestamps: Option<(u32, u32)>,
        payload: Vec<u8>,
    }

    impl Arbitrary for AnySegment {
        fn arbitrary(g: &mut Gen) -> AnySegment {
            let mut sack: Vec<(u32, u32)> = Arbitrary::arbitrary(g);
            sack.truncate(MAX_SACK_BLOCKS);
            AnySegment {
                flags: u8::arbitrary(g) & Flags::KNOWN.bits(),
                seq: Arbitrary::arbitrary(g),
                ack: Arbitrary::arbitrary(g),
                window: Arbitrary::arbitrary(g),
                sack,
                mss: Arbitrary::arbitrary(g),
                sack_permitted: Arbitrary::arbitrary(g),
                timestamps: Arbitrary::arbitrary(g),
                payload: Arbitrary::arbitrary(g),
            }
        }
    }

    impl AnySegment {
        fn segment(&self) -> Segment<'_> {
            let mut sack = SackBlocks::new();
            for &(l, r) in &self.sack {
                sack.push(block(l, r));
            }
            Segment {
                flags: Flags::from_bits(self.flags),
                seq: SeqNum(self.seq),
                ack: SeqNum(self.ack),
                window: self.window,
                sack,
                options: Options {
                    mss: self.mss,
                    sack_permitted: self.sack_permitted,
                    timestamps: self
                        .timestamps
                        .map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                },
                payload: &self.payload,
            }
        }
    }

    quickcheck! {
        fn parse_never_panics_on_arbitrary_bytes(bytes: Vec<u8>) -> bool {
            let _ = Segment::parse(&bytes);
            true
        }

        fn parse_never_panics_on_arbitrary_bytes_with_good_crc(bytes: Vec<u8>) -> bool {
            // Give random bytes a valid magic, version and CRC so they reach
            // the field checks.
            let mut bytes = bytes;
            if bytes.len() >= HEADER_LEN {
                bytes[..3].copy_from_slice(&[0x46, 0x52, VERSION]);
                fix_crc(&mut bytes);
                let parsed = Segment::parse(&bytes);
                assert!(!matches!(parsed, Err(WireError::BadChecksum { .. })));
                if let Ok(segment) = parsed {
                    // Emit may lay the options out more tightly than they came.
                    let options_len = usize::from(bytes[field::OPTIONS_LEN]) * OPTION_WORD_LEN;
                    assert_eq!(
                        segment.encoded_len() - segment.options.encoded_len(),
                        bytes.len() - options_len
                    );
                }
            } else {
                let _ = Segment::parse(&bytes);
            }
            true
        }

        fn parse_never_panics_on_mutated_datagrams(m: Mutation) -> bool {
            let mut bytes = emit(&sample_with_options());
            for &(at, value) in &m.writes {
                let at = usize::from(at) % bytes.len();
                bytes[at] = value;
            }
            if let Some(n) = m.new_len {
                bytes.resize(usize::from(n), 0x55);
            }
            if m.fix_crc {
                fix_crc(&mut bytes);
            }
            match Segment::parse(&bytes) {
                // Anything accepted must re-encode to exactly the bytes received, or,
                // when its options were laid out otherwise than emit lays them out (in
                // another order, with NOPs, padding or unknown kinds), to a datagram that
                // differs only there and parses to the same segment.
                Ok(segment) => {
                    let again = emit(&segment);
                    let options_at = HEADER_LEN + SACK_BLOCK_LEN * segment.sack.len();
                    let payload_at = bytes.len() - segment.payload.len();
                    again == bytes
                        || (again[..field::OPTIONS_LEN] == bytes[..field::OPTIONS_LEN]
                            && again[HEADER_LEN..options_at] == bytes[HEADER_LEN..options_at]
                            && again[again.len() - segment.payload.len()..] == bytes[payload_at..]
                            && again[options_at..again.len() - segment.payload.len()]
                                != bytes[options_at..payload_at]
                            && Segment::parse(&again) == Ok(segment))
                }
                Err(_) => true,
            }
        }

        fn arbitrary_segments_round_trip(s: AnySegment) -> bool {
            let segment = s.segment();
            let bytes = emit(&segment);
            Segment::parse(&bytes) == Ok(segment)
        }
    }

    // ---- flags, SACK blocks, seq_len ----------------------------------

    #[test]
    fn flags_operations() {
        let mut f = Flags::empty();
        assert!(f.is_empty());
        f.insert(Flags::SYN);
        assert!(f.contains(Flags::SYN) && !f.contains(Flags::ACK));
        f |= Flags::ACK;
        assert_eq!(f, Flags::SYN | Flags::ACK);
        assert_eq!(f.bits(), 0x12);
        assert!(f.contains(Flags::empty()));
        assert!(f.intersects(Flags::ACK | Flags::FIN));
        f.remove(Flags::SYN);
        assert_eq!(f, Flags::ACK);
        assert_eq!(Flags::from_bits(0xFF).bits(), 0xFF);
    }

    #[test]
    fn flags_display_like_tcpdump() {
        let cases = [
            (Flags::empty(), "none"),
            (Flags::SYN, "S"),
            (Flags::SYN | Flags::ACK, "S."),
            (Flags::ACK, "."),
            (Flags::FIN | Flags::ACK, "F."),
            (Flags::RST, "R"),
            (Flags::RST | Flags::ACK, "R."),
            (Flags::FIN | Flags::SYN | Flags::RST | Flags::ACK, "FSR."),
            (Flags::from_bits(0x42), "S+0x40"),
        ];
        for (flags, text) in cases {
            assert_eq!(flags.to_string(), text);
        }
    }

    #[test]
    fn sack_blocks_hold_at_most_four() {
        let mut s = SackBlocks::new();
        assert!(s.is_empty());
        for i in 0..4 {
            assert!(s.push(block(i, i + 1)));
        }
        assert!(!s.push(block(9, 10)));
        assert_eq!(s.len(), 4);
        assert_eq!(s.as_slice()[3], block(3, 4));
        assert_eq!(s.as_slice().last(), Some(&block(3, 4)));
        s.clear();
        assert_eq!(s, SackBlocks::default());
    }

    #[test]
    fn seq_len_counts_syn_and_fin() {
        let s = Segment::default();
        assert_eq!(s.seq_len(), 0);
        assert_eq!(
            Segment {
                flags: Flags::SYN,
                ..s
            }
            .seq_len(),
            1
        );
        assert_eq!(
            Segment {
                flags: Flags::FIN | Flags::ACK,
                payload: &PAYLOAD,
                ..s
            }
            .seq_len(),
            17
        );
        assert_eq!(
            Segment {
                flags: Flags::SYN | Flags::FIN,
                ..s
            }
            .seq_len(),
            2
        );
    }

    // ---- Display -------------------------------------------------------

    #[test]
    fn segment_display() {
        let syn_ack = Segment {
            flags: Flags::SYN | Flags::ACK,
            seq: SeqNum(100),
            ack: SeqNum(201),
            window: 65535,
            ..Segment::default()
        };
        assert_eq!(syn_ack.to_string(), "[S.] seq 100 ack 201 win 65535 len 0");

        let syn = Segment {
            flags: Flags::SYN,
            ack: SeqNum(999),
            ..syn_ack
        };
        assert_eq!(syn.to_string(), "[S] seq 100 win 65535 len 0");
        let syn_with_options = Segment {
            options: Options {
                mss: Some(536),
                sack_permitted: true,
                timestamps: None,
            },
            ..syn
        };
        assert_eq!(
            syn_with_options.to_string(),
            "[S] seq 100 win 65535 len 0 options [mss 536,sackOK]"
        );
        let sack_permitted_only = Segment {
            options: Options {
                mss: None,
                sack_permitted: true,
                timestamps: None,
            },
            ..syn
        };
        assert_eq!(
            sack_permitted_only.to_string(),
            "[S] seq 100 win 65535 len 0 options [sackOK]"
        );

        let data = Segment {
            flags: Flags::ACK,
            seq: SeqNum(201),
            ack: SeqNum(300),
            window: 4096,
            sack: sacks(&[block(300, 400), block(500, 600)]),
            options: Options::none(),
            payload: &PAYLOAD,
        };
        assert_eq!(
            data.to_string(),
            "[.] seq 201 ack 300 win 4096 len 16 sack 300:400 500:600"
        );
        assert_eq!(Segment::default().to_string(), "[none] seq 0 win 0 len 0");
    }

    #[test]
    fn a_quoted_segment_gives_its_sequence_number_however_short_past_it() {
        let mut datagram = Vec::new();
        sample().emit(&mut datagram);
        for cut in 8..=datagram.len() {
            assert_eq!(
                quoted_seq(&datagram[..cut]),
                Some(sample().seq),
                "{cut} bytes"
            );
        }
        for cut in 0..8 {
            assert_eq!(quoted_seq(&datagram[..cut]), None, "{cut} bytes");
        }
        let mut foreign = datagram.clone();
        foreign[0] ^= 1;
        assert_eq!(quoted_seq(&foreign), None, "not Ferry's magic");
        let mut other_version = datagram;
        other_version[field::VERSION] += 1;
        assert_eq!(quoted_seq(&other_version), None, "another version");
    }
}
