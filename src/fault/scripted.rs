//! The scripted rules by kind (`drop-data=N`, `drop-syn=N`, `drop-syn-ack=N`, `drop-fin=N`,
//! `drop-retransmission=N`, `flip-syn-ack=K`, `drop-acks=START..END`): the only faults that
//! parse a datagram, to tell data segments, SYNs, SYN-ACKs, FINs, retransmissions and pure
//! ACKs apart, so that a lab capture shows exactly one phenomenon (docs/lab.md).

use super::config::{FaultConfig, ScriptedDrop, SegmentKind};
use super::decision::DropCause;
use crate::wire::{Flags, Segment, SeqNum};
use std::time::Duration;

/// What the rules by kind remember between datagrams.
#[derive(Clone, Debug, Default)]
pub(super) struct Scripted {
    /// Data segments offered so far, for `drop-data`.
    data_segments: u64,
    /// Segments of each kind offered so far, for `drop-syn` and the others (in
    /// [`SegmentKind::ALL`]'s order).
    by_kind: [u64; 4],
    /// The end of the highest data offered so far: a data segment starting below it is a
    /// retransmission.
    highest_data_end: Option<SeqNum>,
    /// Whether a SYN-ACK has been offered yet, for `flip-syn-ack`.
    seen_syn_ack: bool,
}

/// What the rules by kind decided for one datagram.
pub(super) enum ByKind {
    Drop(DropCause),
    FlipSynAck,
    Pass,
}

impl Scripted {
    /// Applies the rules that depend on what the datagram is (a data segment, a SYN, a
    /// SYN-ACK, a FIN, a retransmission, a pure ACK). Only these parse it; every other fault
    /// treats it as bytes.
    pub(super) fn by_kind(
        &mut self,
        config: &FaultConfig,
        datagram: &[u8],
        since_epoch: Duration,
    ) -> ByKind {
        // A datagram that does not parse (already corrupt) is none of the kinds.
        let Ok(segment) = Segment::parse(datagram) else {
            return ByKind::Pass;
        };
        let flags = segment.flags;
        let mut dropped = None;
        if !segment.payload.is_empty() {
            self.data_segments += 1;
            if config.drop_data.contains(&self.data_segments) {
                dropped = Some(DropCause::ScriptedData(self.data_segments));
            }
            let end = segment.seq + segment.payload.len() as u32;
            if self
                .highest_data_end
                .is_some_and(|highest| segment.seq < highest)
            {
                dropped = dropped.or(self.count(config, SegmentKind::Retransmission));
            }
            if self.highest_data_end.is_none_or(|highest| end > highest) {
                self.highest_data_end = Some(end);
            }
        }
        let mut first_syn_ack = false;
        if flags.contains(Flags::SYN) {
            let kind = if flags.contains(Flags::ACK) {
                first_syn_ack = !self.seen_syn_ack;
                self.seen_syn_ack = true;
                SegmentKind::SynAck
            } else {
                SegmentKind::Syn
            };
            dropped = dropped.or(self.count(config, kind));
        }
        if flags.contains(Flags::FIN) {
            dropped = dropped.or(self.count(config, SegmentKind::Fin));
        }
        if let Some(cause) = dropped {
            return ByKind::Drop(cause);
        }
        if !segment.payload.is_empty() {
            return ByKind::Pass;
        }
        if first_syn_ack && !config.flip_syn_ack.is_empty() {
            return ByKind::FlipSynAck;
        }
        let pure_ack =
            flags.contains(Flags::ACK) && !flags.intersects(Flags::SYN | Flags::FIN | Flags::RST);
        if pure_ack && config.drop_acks.iter().any(|w| w.contains(since_epoch)) {
            return ByKind::Drop(DropCause::ScriptedAck);
        }
        ByKind::Pass
    }

    /// Count one segment of `kind`: the drop a rule names for it, if one does.
    fn count(&mut self, config: &FaultConfig, kind: SegmentKind) -> Option<DropCause> {
        let index = SegmentKind::ALL
            .iter()
            .position(|&each| each == kind)
            .unwrap_or_default();
        self.by_kind[index] += 1;
        let number = self.by_kind[index];
        config
            .drop_segments
            .contains(&ScriptedDrop { kind, number })
            .then_some(DropCause::ScriptedKind(kind, number))
    }
}

/// Flips the `flip-syn-ack` bits of `bytes` and merges them into `flipped` (sorted); a bit
/// the random flips already hit flips back, and drops out of the list. Returns whether any
/// bit was within the datagram.
pub(super) fn flip_syn_ack(
    config: &FaultConfig,
    bytes: &mut [u8],
    flipped: &mut Vec<usize>,
) -> bool {
    let mut bits: Vec<usize> = config.flip_syn_ack.clone();
    bits.sort_unstable();
    bits.dedup();
    let mut any = false;
    for bit in bits {
        let Some(byte) = bytes.get_mut(bit / 8) else {
            continue; // past the end: nothing to flip
        };
        *byte ^= 0x80 >> (bit % 8);
        any = true;
        match flipped.binary_search(&bit) {
            Ok(index) => {
                flipped.remove(index);
            }
            Err(index) => flipped.insert(index, bit),
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use crate::fault::fixtures::parse;
    use crate::fault::{Decision, DropCause, FaultInjector};
    use crate::time::Instant;
    use crate::wire::{Flags, Segment};

    /// An encoded segment with these flags and this much payload.
    fn segment(flags: Flags, payload: usize) -> Vec<u8> {
        data_at(flags, 1000, payload)
    }

    #[test]
    fn drop_data_counts_only_segments_with_payload() {
        let mut injector = FaultInjector::new(parse("drop-data=2,drop-data=4"));
        let offered = [
            segment(Flags::SYN, 0),
            segment(Flags::ACK, 0),
            segment(Flags::ACK, 1200), // data 1
            segment(Flags::ACK, 0),
            segment(Flags::ACK, 1200), // data 2: dropped
            b"not a segment".to_vec(),
            segment(Flags::ACK | Flags::FIN, 10), // data 3
            segment(Flags::ACK, 1),               // data 4 (a window probe, say): dropped
            segment(Flags::ACK, 1200),            // data 5
        ];
        let decisions: Vec<String> = offered
            .iter()
            .map(|bytes| injector.apply(Instant::ZERO, bytes).0.to_string())
            .collect();
        assert_eq!(
            decisions,
            [
                "passed",
                "passed",
                "passed",
                "passed",
                "dropped (scripted: 2nd data segment)",
                "passed",
                "passed",
                "dropped (scripted: 4th data segment)",
                "passed",
            ]
        );
        let stats = injector.stats();
        assert_eq!((stats.dropped, stats.dropped_scripted_data), (2, 2));
    }

    /// A segment at `seq` with `len` bytes of payload, and these flags.
    fn data_at(flags: Flags, seq: u32, len: usize) -> Vec<u8> {
        let payload = vec![0xab; len];
        let mut bytes = Vec::new();
        Segment {
            flags,
            seq: crate::wire::SeqNum(seq),
            ack: crate::wire::SeqNum(2000),
            window: 4096,
            payload: &payload,
            ..Segment::default()
        }
        .emit(&mut bytes);
        bytes
    }

    #[test]
    fn drops_by_kind_count_syns_syn_acks_fins_and_retransmissions() {
        let mut injector = FaultInjector::new(parse(
            "drop-syn=2,drop-syn-ack=1,drop-fin=2,drop-retransmission=2,drop-retransmission=3",
        ));
        let offered = [
            segment(Flags::SYN, 0),                    // SYN 1
            segment(Flags::SYN, 0),                    // SYN 2: dropped
            segment(Flags::SYN | Flags::ACK, 0),       // SYN-ACK 1: dropped
            segment(Flags::SYN | Flags::ACK, 0),       // SYN-ACK 2
            data_at(Flags::ACK, 1, 100),               // new data to 101
            data_at(Flags::ACK, 101, 100),             // new data to 201
            data_at(Flags::ACK, 1, 100),               // retransmission 1
            data_at(Flags::ACK, 101, 100),             // retransmission 2: dropped
            data_at(Flags::ACK, 201, 100),             // new data to 301
            data_at(Flags::ACK | Flags::FIN, 250, 51), // retransmission 3 and FIN 1: dropped
            segment(Flags::ACK | Flags::FIN, 0),       // FIN 2: dropped
            segment(Flags::ACK | Flags::FIN, 0),       // FIN 3
        ];
        let decisions: Vec<String> = offered
            .iter()
            .map(|bytes| injector.apply(Instant::ZERO, bytes).0.to_string())
            .collect();
        assert_eq!(
            decisions,
            [
                "passed",
                "dropped (scripted: 2nd SYN)",
                "dropped (scripted: 1st SYN-ACK)",
                "passed",
                "passed",
                "passed",
                "passed",
                "dropped (scripted: 2nd retransmission)",
                "passed",
                "dropped (scripted: 3rd retransmission)",
                "dropped (scripted: 2nd FIN)",
                "passed",
            ]
        );
        let stats = injector.stats();
        assert_eq!((stats.dropped, stats.dropped_scripted), (5, 5));
        assert_eq!(
            parse("drop-fin=1,drop-retransmission=3").to_string(),
            "drop-fin=1,drop-retransmission=3"
        );
    }

    #[test]
    fn flip_syn_ack_flips_the_named_bits_of_the_first_syn_ack_only() {
        let mut injector = FaultInjector::new(parse(
            "flip-syn-ack=113,flip-syn-ack=7,flip-syn-ack=1000000",
        ));
        let syn_ack = segment(Flags::SYN | Flags::ACK, 0);
        // A SYN and data pass untouched.
        for bytes in [segment(Flags::SYN, 0), segment(Flags::ACK, 100)] {
            let (decision, out) = injector.apply(Instant::ZERO, &bytes);
            assert_eq!((decision, &out[0].bytes), (Decision::default(), &bytes));
        }
        let (decision, out) = injector.apply(Instant::ZERO, &syn_ack);
        // Bit 1000000 lies past the end and is ignored.
        assert_eq!(decision.flipped_bits, [7, 113]);
        assert!(decision.scripted_flip);
        assert_eq!(
            decision.to_string(),
            "bits 7 and 113 flipped (scripted: first SYN-ACK)"
        );
        let mut expected = syn_ack.clone();
        expected[0] ^= 0x01;
        expected[14] ^= 0x40; // bit 113 = byte 14, bit 1 from the MSB
        assert_eq!(out[0].bytes, expected);
        assert!(Segment::parse(&out[0].bytes).is_err(), "the CRC catches it");
        // The retransmitted SYN-ACK goes through.
        let (decision, out) = injector.apply(Instant::ZERO, &syn_ack);
        assert_eq!((decision, &out[0].bytes), (Decision::default(), &syn_ack));
        let stats = injector.stats();
        assert_eq!((stats.corrupted, stats.corrupted_scripted), (1, 1));
        assert_eq!(stats.bits_flipped, 2);
    }

    #[test]
    fn drop_acks_drops_pure_acks_inside_the_window_only() {
        let mut injector = FaultInjector::new(parse("drop-acks=1s..2s"));
        let mut fate =
            |ms: u64, bytes: Vec<u8>| injector.apply(Instant::from_millis(ms), &bytes).0.dropped;
        let ack = || segment(Flags::ACK, 0);
        assert_eq!(fate(999, ack()), None);
        assert_eq!(fate(1000, ack()), Some(DropCause::ScriptedAck));
        assert_eq!(fate(1999, ack()), Some(DropCause::ScriptedAck));
        assert_eq!(fate(2000, ack()), None);
        // Inside the window, everything but a pure ACK passes.
        for bytes in [
            segment(Flags::ACK, 1),
            segment(Flags::ACK | Flags::FIN, 0),
            segment(Flags::SYN | Flags::ACK, 0),
            segment(Flags::RST | Flags::ACK, 0),
            segment(Flags::SYN, 0),
        ] {
            assert_eq!(fate(1500, bytes), None);
        }
        assert_eq!(
            Decision {
                dropped: Some(DropCause::ScriptedAck),
                ..Decision::default()
            }
            .to_string(),
            "dropped (scripted: pure ACK)"
        );
        assert_eq!(injector.stats().dropped_scripted_acks, 2);
    }
}
