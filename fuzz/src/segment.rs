//! The segment parser: `Segment::parse` on arbitrary bytes.
//!
//! Each input is parsed twice: as it is (almost always a checksum failure, which is what a
//! receiver mostly sees from a hostile sender), and with its CRC field patched to the right
//! value, so that the fuzzer also explores every check after the CRC's. For both, the result
//! must be the one a reference parser written from `docs/protocol.md` ("Header format",
//! "Receiving") gives, and a segment that parses must encode back to the same bytes (the
//! reserved byte, which parse ignores and emit sends as zero, aside) and parse again to the
//! same segment.

use ferry::wire::{
    Flags, Segment, WireError, HEADER_LEN, MAGIC, MAX_SACK_BLOCKS, SACK_BLOCK_LEN, VERSION,
};

/// Offset of the reserved byte, and of the CRC-32, in the header.
const RESERVED: usize = 19;
const CRC: std::ops::Range<usize> = 20..24;

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
    let header = sack_end + usize::from(u16::from_be_bytes([data[16], data[17]]));
    if header != len {
        return Err(WireError::LengthMismatch {
            header,
            actual: len,
        });
    }
    Ok(())
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
    assert_eq!(segment.encoded_len(), data.len());
    assert!(segment.sack.len() <= MAX_SACK_BLOCKS);
    assert_eq!(
        segment.payload,
        &data[data.len() - segment.payload.len()..],
        "the payload is the datagram's tail"
    );
    let mut encoded = Vec::new();
    segment.emit(&mut encoded);
    assert_eq!(encoded.len(), data.len());
    if data[RESERVED] == 0 {
        assert_eq!(encoded, data, "emit(parse(x)) differs from x");
    } else {
        // Parse ignores the reserved byte and emit sends zero, so only it and the CRC over
        // it may differ.
        assert_eq!(encoded[..RESERVED], data[..RESERVED]);
        assert_eq!(encoded[CRC.end..], data[CRC.end..]);
        assert_eq!(encoded[RESERVED], 0);
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
    let shapes: [(&str, Segment<'static>); 4] = [
        (
            "syn",
            Segment {
                flags: Flags::SYN,
                seq: SeqNum(7),
                window: 65535,
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
    let mut reserved = seeds[0].1.clone();
    reserved[RESERVED] = 0xA5;
    let crc = crc_of(&reserved);
    reserved[CRC].copy_from_slice(&crc.to_be_bytes());
    seeds.push(("hand-reserved-set".to_string(), reserved));
    let mut too_many = seeds[1].1.clone();
    too_many[18] = 5;
    seeds.push(("hand-five-sack-blocks".to_string(), too_many));
    seeds.push(("hand-short".to_string(), b"FR\x01".to_vec()));
    seeds
}
