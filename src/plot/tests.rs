//! The trace and the drawing, checked together.

use std::time::Duration;

use super::svg::{label, ticks};
use super::*;
use crate::conn::Reason;
use crate::wire::{Flags, Segment, SeqNum};

fn datagram(flags: Flags, seq: u32, ack: u32, len: usize, sack: &[(u32, u32)]) -> Vec<u8> {
    let payload = vec![0; len];
    let mut segment = Segment {
        flags,
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        window: 10_000,
        payload: &payload,
        ..Segment::default()
    };
    for &(left, right) in sack {
        segment.sack.push(crate::wire::SackBlock {
            left: SeqNum(left),
            right: SeqNum(right),
        });
    }
    let mut bytes = Vec::new();
    segment.emit(&mut bytes);
    bytes
}

#[test]
fn the_trace_keeps_segments_acks_and_window_changes() {
    let mut trace = Trace::default();
    let ms = Duration::from_millis;
    trace.sent(
        ms(0),
        &datagram(Flags::SYN, u32::MAX, 0, 0, &[]),
        Reason::Handshake,
        false,
    );
    trace.sent(
        ms(40),
        &datagram(Flags::ACK, 0, 1, 100, &[]),
        Reason::NewData,
        true,
    );
    trace.sent(ms(41), b"garbage", Reason::NewData, false);
    trace.received(ms(80), &datagram(Flags::ACK, 1, 100, 0, &[(200, 300)]));
    trace.received(ms(81), &datagram(Flags::RST | Flags::ACK, 1, 100, 0, &[]));
    trace.received(ms(82), b"garbage");
    for (at, window, threshold, rto) in [
        (0, 10, u32::MAX, 1_000),
        (1, 10, u32::MAX, 200),
        (2, 20, 15, 200),
    ] {
        trace.connection_state(ms(at), window, threshold, ms(rto));
    }
    assert_eq!(trace.sent.len(), 2);
    assert!(!trace.sent[0].dropped && trace.sent[1].dropped);
    assert_eq!(trace.acks.len(), 1);
    assert_eq!(trace.acks[0].sack, [(SeqNum(200), SeqNum(300))]);
    assert_eq!(trace.congestion_window, [(ms(0), 10), (ms(2), 20)]);
    assert_eq!(trace.slow_start_threshold, [(ms(0), u32::MAX), (ms(2), 15)]);
    assert_eq!(trace.rto, [(ms(0), ms(1_000)), (ms(1), ms(200))]);
    // Relative numbers wrap: the SYN at 2^32-1 makes the first data byte 1.
    assert_eq!(trace.isn(), SeqNum(u32::MAX));
}

#[test]
fn ticks_are_round_and_cover_the_range() {
    let labels = |max: f64| ticks(max).into_iter().map(label).collect::<Vec<_>>();
    assert_eq!(labels(1.0), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    assert_eq!(labels(0.53), ["0", "0.1", "0.2", "0.3", "0.4", "0.5"]);
    assert_eq!(
        labels(30_000.0),
        ["0", "5000", "10000", "15000", "20000", "25000", "30000"]
    );
    assert_eq!(ticks(0.0), [0.0]);
    assert_eq!(ticks(f64::NAN), [0.0]);
    assert_eq!(label(0.4), "0.4");
    assert_eq!(label(20_000.0), "20000");
}

#[test]
fn an_empty_trace_still_draws_a_whole_document_with_escaped_text() {
    let svg = time_sequence_svg(&Trace::default(), "faults <a & b>");
    assert!(svg.starts_with("<?xml"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("faults &lt;a &amp; b&gt;"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}
