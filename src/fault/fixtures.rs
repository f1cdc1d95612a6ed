//! Fixtures the fault module's tests share: parsing a spec, offering datagrams, and arbitrary
//! valid configurations.

use super::{
    Decision, Delivery, FaultConfig, FaultInjector, GilbertElliott, Outage, ScriptedDrop,
    SegmentKind,
};
use crate::time::Instant;
use quickcheck::{Arbitrary, Gen};
use std::time::Duration;

pub(super) fn parse(spec: &str) -> FaultConfig {
    spec.parse()
        .unwrap_or_else(|e| panic!("{spec:?} should parse: {e}"))
}

/// Offers `count` datagrams of `len` bytes, 100 us apart; returns every decision and delivery.
pub(super) fn run(
    injector: &mut FaultInjector,
    count: usize,
    len: usize,
) -> Vec<(Decision, Vec<Delivery>)> {
    (0..count)
        .map(|i| {
            let bytes: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            injector.apply(Instant::from_micros(i as u64 * 100), &bytes)
        })
        .collect()
}

/// A configuration every knob of which is valid, for round-trip properties.
#[derive(Clone, Debug)]
pub(super) struct ValidConfig(pub(super) FaultConfig);

fn probability(g: &mut Gen) -> f64 {
    match u8::arbitrary(g) % 6 {
        0 => 0.0,
        1 => 1.0,
        2 => *g
            .choose(&[0.05, 0.01, 0.125, 1e-5, 1e-9, 0.333])
            .unwrap_or(&0.5),
        3 => f64::from(u32::arbitrary(g)) / f64::from(u32::MAX),
        4 => f64::from(u16::arbitrary(g)) * 1e-12,
        _ => (u64::arbitrary(g) >> 11) as f64 / (1u64 << 53) as f64,
    }
}

fn duration(g: &mut Gen) -> Duration {
    match u8::arbitrary(g) % 4 {
        0 => Duration::ZERO,
        1 => Duration::from_millis(u64::from(u16::arbitrary(g))),
        2 => Duration::from_micros(u64::from(u32::arbitrary(g))),
        _ => Duration::new(u64::arbitrary(g), u32::arbitrary(g) % 1_000_000_000),
    }
}

impl Arbitrary for ValidConfig {
    fn arbitrary(g: &mut Gen) -> ValidConfig {
        let outages = (0..usize::arbitrary(g) % 3)
            .map(|_| {
                let start = duration(g);
                let length = duration(g).max(Duration::from_nanos(1));
                Outage {
                    start,
                    end: start.saturating_add(length),
                }
            })
            .filter(|o| o.start < o.end)
            .collect();
        ValidConfig(FaultConfig {
            loss: probability(g),
            burst: bool::arbitrary(g).then(|| GilbertElliott {
                p_good_to_bad: probability(g),
                p_bad_to_good: probability(g),
                loss_in_bad: probability(g),
            }),
            flip: probability(g),
            duplicate: probability(g),
            reorder: probability(g),
            reorder_delay: duration(g),
            delay: duration(g),
            jitter: duration(g),
            rate: bool::arbitrary(g).then(|| u64::arbitrary(g).max(1)),
            rate_queue: usize::arbitrary(g),
            outages,
            truncate: probability(g),
            drops: (0..usize::arbitrary(g) % 3)
                .map(|_| 1 + u64::from(u16::arbitrary(g)))
                .collect(),
            drop_data: (0..usize::arbitrary(g) % 3)
                .map(|_| 1 + u64::from(u16::arbitrary(g)))
                .collect(),
            drop_segments: (0..usize::arbitrary(g) % 3)
                .map(|_| ScriptedDrop {
                    kind: *g.choose(&SegmentKind::ALL).unwrap(),
                    number: 1 + u64::from(u16::arbitrary(g)),
                })
                .collect(),
            flip_syn_ack: (0..usize::arbitrary(g) % 3)
                .map(|_| usize::from(u16::arbitrary(g)))
                .collect(),
            drop_acks: (0..usize::arbitrary(g) % 2)
                .map(|_| {
                    let start = duration(g);
                    Outage {
                        start,
                        end: start.saturating_add(Duration::from_millis(1)),
                    }
                })
                .filter(|w| w.start < w.end)
                .collect(),
            seed: u64::arbitrary(g),
        })
    }
}

pub(super) const EVERYTHING: &str =
    "loss=3%,burst=1%/30%,burst-loss=80%,flip=1e-4,dup=2%,reorder=5%,\
     delay=1ms,jitter=2ms,rate=100mbit,truncate=1%,outage=300ms..400ms";
