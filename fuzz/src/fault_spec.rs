//! The fault-spec parser: `FaultConfig::from_str` on arbitrary text.
//!
//! Whatever the text: no panic; a spec that parses prints (`Display`) to the canonical text,
//! which parses back to an equal configuration and prints the same again; an error names the
//! key and what it accepts. The duration, rate and size parsers the CLI shares are run on the
//! same text. A spec that parses then drives a fault injector over a few datagrams at times
//! from the start to the end of time, which must not panic either and must keep its
//! documented promises (nothing leaves before it was offered, at most two copies leave).

use ferry::fault::{FaultConfig, FaultInjector};
use ferry::time::Instant;
use ferry::units;
use ferry::wire::{Flags, SeqNum};

/// The fuzz target.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = units::parse_duration(&text);
    let _ = units::parse_rate(&text);
    let _ = units::parse_size(&text);
    match text.parse::<FaultConfig>() {
        Ok(config) => {
            let printed = config.to_string();
            let again: FaultConfig = printed
                .parse()
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(again, config, "{text:?} printed as {printed:?}");
            assert_eq!(
                again.to_string(),
                printed,
                "the canonical text is not stable"
            );
            inject(config);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("bad fault spec"), "{message}");
            assert!(message.contains(&error.expected()), "{message}");
        }
    }
}

/// Datagrams offered to the injector: a SYN-ACK (for `flip-syn-ack`), a data segment (for
/// `drop-data`), a pure ACK (for `drop-acks`) and bytes that are no segment at all.
fn datagrams() -> [Vec<u8>; 4] {
    let segment = |flags, payload: &'static [u8]| {
        let mut bytes = Vec::new();
        ferry::wire::Segment {
            flags,
            seq: SeqNum(1),
            ack: SeqNum(1),
            window: 1000,
            payload,
            ..Default::default()
        }
        .emit(&mut bytes);
        bytes
    };
    [
        segment(Flags::SYN | Flags::ACK, b""),
        segment(Flags::ACK, &[7; 100]),
        segment(Flags::ACK, b""),
        b"not a segment".to_vec(),
    ]
}

fn inject(config: FaultConfig) {
    let mut injector = FaultInjector::new(config);
    let times = [
        Instant::ZERO,
        Instant::from_millis(1),
        Instant::from_millis(1),
        Instant::from_millis(2_500),
        Instant::from_micros(u64::MAX / 2),
        Instant::from_micros(u64::MAX),
    ];
    let datagrams = datagrams();
    for (i, now) in times.into_iter().enumerate() {
        let datagram = &datagrams[i % datagrams.len()];
        let (decision, deliveries) = injector.apply(now, datagram);
        let _ = decision.to_string();
        assert!(deliveries.len() <= 2, "{decision:?}");
        if decision.dropped.is_some() {
            assert!(deliveries.is_empty(), "{decision:?}");
        }
        for delivery in &deliveries {
            assert!(delivery.at >= now, "{decision:?}");
            assert!(delivery.bytes.len() <= datagram.len(), "{decision:?}");
        }
    }
    assert_eq!(injector.stats().datagrams, times.len() as u64);
}

/// Hand-written seeds: every key once, and the shapes of each kind of value.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let specs = [
        "none",
        "loss=5%,flip=1e-5,dup=1%,reorder=2%,delay=20ms,outage=2s..3s,seed=7",
        "burst=1%/30%,burst-loss=50%",
        "reorder=10%,reorder-delay=1.5ms,jitter=500us",
        "rate=1.5Mbit/s,queue=64KiB",
        "rate=56000bit,queue=1500",
        "truncate=1%,drop=7,drop=9,drop-data=3",
        "flip-syn-ack=113,drop-acks=1s..2s",
        "loss=0.05,dup=0.001%,flip=1e-9,delay=0",
        "delay=250ns,seed=18446744073709551615",
        "loss=5%,,loss=6%",
        "bogus=1",
        "loss",
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| (format!("hand-{i:02}"), spec.as_bytes().to_vec()))
        .collect()
}
