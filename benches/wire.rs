//! Wire-format benchmarks: emit, parse, and both, for a full-size data
//! segment (1200-byte payload, two SACK blocks), CRC-32 included.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferry::wire::{Flags, Options, SackBlock, SackBlocks, Segment, SeqNum};

const PAYLOAD_LEN: usize = 1200;

fn sample(payload: &[u8]) -> Segment<'_> {
    let mut sack = SackBlocks::new();
    sack.push(SackBlock {
        left: SeqNum(5_000),
        right: SeqNum(6_200),
    });
    sack.push(SackBlock {
        left: SeqNum(7_400),
        right: SeqNum(8_600),
    });
    Segment {
        flags: Flags::ACK,
        seq: SeqNum(0xFFFF_FF00),
        ack: SeqNum(1_000),
        window: 1 << 20,
        sack,
        options: Options::none(),
        payload,
    }
}

fn wire(c: &mut Criterion) {
    let payload: Vec<u8> = (0..PAYLOAD_LEN).map(|i| i as u8).collect();
    let segment = sample(&payload);
    let mut datagram = Vec::with_capacity(segment.encoded_len());
    segment.emit(&mut datagram);

    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Bytes(datagram.len() as u64));

    let mut buf = Vec::with_capacity(segment.encoded_len());
    group.bench_function("emit_1200", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&segment).emit(&mut buf);
            black_box(&buf);
        })
    });

    group.bench_function("parse_1200", |b| {
        b.iter(|| Segment::parse(black_box(&datagram)).expect("valid datagram"))
    });

    let mut buf = Vec::with_capacity(segment.encoded_len());
    group.bench_function("emit_parse_1200", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&segment).emit(&mut buf);
            Segment::parse(black_box(&buf))
                .expect("valid datagram")
                .seq_len()
        })
    });

    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
