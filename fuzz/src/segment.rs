//! The segment parser: `Segment::parse` on arbitrary bytes.
//!
//! Each input is parsed twice: as it is (almost always a checksum failure, which is what a
//! receiver mostly sees from a hostile sender), and with its CRC field patched to the right
//! value, so that the fuzzer also explores every check after the CRC's. For both, the result
//! must be the one a reference parser written from `docs/protocol.md` ("Header format",
//! "Options", "Receiving") gives, and a segment that parses must encode back to the same
//! bytes (unless its options were laid out otherwise than emit lays them out: then to bytes
//! that differ only in the options) and parse again to the same segment.

use ferry::wire::{
    Flags, Options, Segment, Timestamps, WireError, HEADER_LEN, MAGIC, MAX_SACK_BLOCKS,
    SACK_BLOCK_LEN, VERSION,
};

/// Offset of the Options Length octet, and of the CRC-32, in the header.
const OPTIONS_LEN: usize = 19;
const CRC: std::ops::Range<usize> = 20..24;
/// The Options Length counts 4-octet words.
const OPTION_WORD: usize = 4;

/// The fuzz target.
pub fn run(data: &[u8]) {
    check(data);
    if data.len() >= HEADER_LEN {
        let mut patched = data.to_vec();
        let crc = crc_of(&patched);
        patched[CRC].copy_from_slice(&crc.to_be_bytes());
        check(&patched);
        let parsed = Segment::parse(&patched);
        assert!(
            !matches!(parsed, Err(WireError::BadChecksum { .. })),
            "a datagram with its CRC recomputed fails the CRC: {parsed:?}"
        );
    }
}

/// The CRC-32 of a datagram with its CRC field taken as zero, computed here independently of
/// the wire module.
fn crc_of(datagram: &[u8]) -> u32 {
    let mut zeroed = datagram.to_vec();
    zeroed[CRC].fill(0);
    crc32fast::hash(&zeroed)
}

/// What `Segment::parse` must say about `data`: the first failing check, in the documented
/// order, or `Ok(())`.
fn reference(data: &[u8]) -> Result<(), WireError> {
    let len = data.len();
    if len < HEADER_LEN {
        return Err(WireError::Truncated { len });
    }
    let magic = u16::from_be_bytes([data[0], data[1]]);
    if magic != MAGIC {
        return Err(WireError::BadMagic { found: magic });
    }
    if data[2] != VERSION {
        return Err(WireError::UnsupportedVersion { found: data[2] });
    }
    let carried = u32::from_be_bytes([data[20], data[21], data[22], data[23]]);
    let computed = crc_of(data);
    if carried != computed {
        return Err(WireError::BadChecksum { carried, computed });
    }
    if data[3] & !Flags::KNOWN.bits() != 0 {
        return Err(WireError::UnknownFlags { bits: data[3] });
    }
    let count = data[18];
    if usize::from(count) > MAX_SACK_BLOCKS {
        return Err(WireError::TooManySackBlocks { count });
    }
    let sack_end = HEADER_LEN + SACK_BLOCK_LEN * usize::from(count);
    if len < sack_end {
        return Err(WireError::Truncated { len });
    }
    let options_end = sack_end + OPTION_WORD * usize::from(data[OPTIONS_LEN]);
    let header = options_end + usize::from(u16::from_be_bytes([data[16], data[17]]));
    if header != len {
        return Err(WireError::LengthMismatch {
            header,
            actual: len,
        });
    }
    reference_options(&data[sack_end..options_end]).map(|_| ())
}

/// The options area as protocol.md section 3.2 reads it: End stops, NOP is one octet, any
/// other kind has a length octet counting the kind and itself; MSS (2) is 4 long,
/// SACK-permitted (4) is 2 long, each at most once; other kinds are skipped.
fn reference_options(area: &[u8]) -> Result<Options, WireError> {
    let mut options = Options::none();
    let mut at = 0;
    while at < area.len() {
        let kind = area[at];
        if kind == 0 {
            break;
        }
        if kind == 1 {
            at += 1;
            continue;
        }
        if at + 1 >= area.len() {
            return Err(WireError::OptionTruncated { kind });
        }
        let len = area[at + 1];
        if len < 2 {
            return Err(WireError::BadOptionLength { kind, len });
        }
        if at + usize::from(len) > area.len() {
            return Err(WireError::OptionTruncated { kind });
        }
        match (kind, len) {
            (2, 4) if options.mss.is_none() => {
                options.mss = Some(u16::from_be_bytes([area[at + 2], area[at + 3]]));
            }
            (4, 2) if !options.sack_permitted => options.sack_permitted = true,
            (8, 10) if options.timestamps.is_none() => {
                let word =
                    |i: usize| u32::from_be_bytes([area[i], area[i + 1], area[i + 2], area[i + 3]]);
                options.timestamps = Some(Timestamps {
                    tsval: word(at + 2),
                    tsecr: word(at + 6),
                });
            }
            (2, 4) | (4, 2) | (8, 10) => return Err(WireError::DuplicateOption { kind }),
            (2 | 4 | 8, _) => return Err(WireError::BadOptionLength { kind, len }),
            _ => {}
        }
        at += usize::from(len);
    }
    Ok(options)
}

fn check(data: &[u8]) {
    let parsed = Segment::parse(data);
    let expected = reference(data);
    match (parsed, expected) {
        (Ok(segment), Ok(())) => round_trip(data, &segment),
        (Err(error), Err(expected)) => {
            assert_eq!(error, expected, "parse and the reference disagree");
            // Every error explains itself without panicking.
            assert!(!error.to_string().is_empty());
        }
        (parsed, expected) => {
            panic!("parse gave {parsed:?} where the reference gives {expected:?}")
        }
    }
}

fn round_trip(data: &[u8], segment: &Segment<'_>) {
    assert!(segment.sack.len() <= MAX_SACK_BLOCKS);
    assert_eq!(
        segment.payload,
        &data[data.len() - segment.payload.len()..],
        "the payload is the datagram's tail"
    );
    let options_at = HEADER_LEN + SACK_BLOCK_LEN * segment.sack.len();
    let options_end = data.len() - segment.payload.len();
    assert_eq!(
        reference_options(&data[options_at..options_end]).as_ref(),
        Ok(&segment.options)
    );
    let mut encoded = Vec::new();
    segment.emit(&mut encoded);
    assert_eq!(encoded.len(), segment.encoded_len());
    let mut canonical = Vec::new();
    segment.options.emit(&mut canonical);
    if data[options_at..options_end] == canonical[..] {
        assert_eq!(encoded, data, "emit(parse(x)) differs from x");
    } else {
        // Options in another order, with NOPs, padding or unknown kinds: emit lays them out
        // its own way, and everything else is as it came.
        assert_eq!(encoded[..OPTIONS_LEN], data[..OPTIONS_LEN]);
        assert_eq!(
            encoded[HEADER_LEN..options_at],
            data[HEADER_LEN..options_at]
        );
        assert_eq!(
            encoded[options_at..options_at + canonical.len()],
            canonical[..]
        );
        assert_eq!(encoded[options_at + canonical.len()..], *segment.payload);
    }
    assert_eq!(Segment::parse(&encoded).as_ref(), Ok(segment));
    // seq_len is SEG.LEN: payload plus one for each of SYN and FIN.
    let expected_len = segment.payload.len()
        + usize::from(segment.flags.contains(Flags::SYN))
        + usize::from(segment.flags.contains(Flags::FIN));
    assert_eq!(segment.seq_len() as usize, expected_len);
    assert!(!segment.to_string().is_empty());
}

/// Hand-written seeds: well-formed segments of each shape, and one of each error. The
/// checked-in corpus (`fuzz/seeds/segment/`) adds segments from the sample captures.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use ferry::wire::{SackBlock, SackBlocks, SeqNum};
    let mut sack = SackBlocks::new();
    for i in 0..4u32 {
        sack.push(SackBlock {
            left: SeqNum(1000 + 200 * i),
            right: SeqNum(1100 + 200 * i),
        });
    }
    let shapes: [(&str, Segment<'static>); 5] = [
        (
            "syn",
            Segment {
                flags: Flags::SYN,
                seq: SeqNum(7),
                window: 65535,
                options: Options {
                    mss: Some(1200),
                    sack_permitted: true,
                    timestamps: Some(Timestamps {
                        tsval: 0x0102_0304,
                        tsecr: 0,
                    }),
                },
                ..Segment::default()
            },
        ),
        (
            "syn-ack-mss-only",
            Segment {
                flags: Flags::SYN | Flags::ACK,
                seq: SeqNum(70_000),
                ack: SeqNum(8),
                window: 1 << 20,
                options: Options {
                    mss: Some(536),
                    sack_permitted: false,
                    timestamps: None,
                },
                ..Segment::default()
            },
        ),
        (
            "data-sack",
            Segment {
                flags: Flags::ACK,
                seq: SeqNum(u32::MAX - 2),
                ack: SeqNum(900),
                window: 1 << 30,
                sack,
                options: Options::none(),
                payload: b"hello, ferry",
            },
        ),
        (
            "fin-ack",
            Segment {
                flags: Flags::FIN | Flags::ACK,
                seq: SeqNum(5),
                ack: SeqNum(6),
                window: 0,
                ..Segment::default()
            },
        ),
        (
            "rst",
            Segment {
                flags: Flags::RST,
                seq: SeqNum(1),
                ..Segment::default()
            },
        ),
    ];
    let mut seeds = Vec::new();
    for (name, segment) in shapes {
        let mut bytes = Vec::new();
        segment.emit(&mut bytes);
        seeds.push((format!("hand-{name}"), bytes));
    }
    // The SYN's options laid out another way: SACK-permitted first, a window scale (kind 3,
    // unknown to Ferry) and a timestamps option (kind 8) between, End and padding last.
    let mut unusual = seeds[0].1[..HEADER_LEN].to_vec();
    let options = [
        4, 2, 3, 3, 7, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 4, 176, 0, 0xEE,
    ];
    unusual.extend_from_slice(&options);
    unusual.resize(
        HEADER_LEN + options.len().div_ceil(OPTION_WORD) * OPTION_WORD,
        0,
    );
    unusual[OPTIONS_LEN] = (options.len().div_ceil(OPTION_WORD)) as u8;
    seeds.push(("hand-options-unusual".to_string(), with_crc(unusual)));
    // One of each malformed option, after the SYN's header.
    for (name, options) in [
        ("option-truncated", &[1, 1, 1, 2][..]),
        ("option-length-0", &[9, 0, 0, 0][..]),
        ("option-mss-length-3", &[2, 3, 0, 0][..]),
        ("option-sack-permitted-twice", &[4, 2, 4, 2][..]),
    ] {
        let mut bytes = seeds[0].1[..HEADER_LEN].to_vec();
        bytes[OPTIONS_LEN] = 1;
        bytes.extend_from_slice(options);
        seeds.push((format!("hand-{name}"), with_crc(bytes)));
    }
    let mut too_many = seeds[2].1.clone();
    too_many[18] = 5;
    seeds.push(("hand-five-sack-blocks".to_string(), too_many));
    seeds.push(("hand-short".to_string(), b"FR\x02".to_vec()));
    let mut version_1 = seeds[0].1.clone();
    version_1[2] = 1;
    seeds.push(("hand-version-1".to_string(), with_crc(version_1)));
    seeds
}

/// `datagram` with its CRC field set right.
fn with_crc(mut datagram: Vec<u8>) -> Vec<u8> {
    let crc = crc_of(&datagram);
    datagram[CRC].copy_from_slice(&crc.to_be_bytes());
    datagram
}
