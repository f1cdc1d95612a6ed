//! The writer and the frames, read back with pcap-file and checked field by field.

use super::framing::scaled_window;
use super::*;
use crate::wire::{Flags, Options, SackBlock, Segment, SeqNum};
use pcap_file::pcapng::{Block, PcapNgReader};

fn a() -> SocketAddr {
    "192.0.2.1:4747".parse().unwrap()
}

fn b() -> SocketAddr {
    "198.51.100.1:4747".parse().unwrap()
}

fn encode(segment: &Segment<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    segment.emit(&mut bytes);
    bytes
}

/// A SYN offering an MSS of 1200 and SACK.
fn syn() -> Vec<u8> {
    syn_offering(Options {
        mss: Some(1200),
        sack_permitted: true,
        timestamps: None,
    })
}

fn syn_offering(options: Options) -> Vec<u8> {
    encode(&Segment {
        flags: Flags::SYN,
        seq: SeqNum(1000),
        window: 65535,
        options,
        ..Segment::default()
    })
}

fn data_with_sack() -> Vec<u8> {
    let mut segment = Segment {
        flags: Flags::ACK,
        seq: SeqNum(1001),
        ack: SeqNum(5001),
        window: 100_000,
        payload: b"hello, ferry",
        ..Segment::default()
    };
    segment.sack.push(SackBlock {
        left: SeqNum(6001),
        right: SeqNum(7201),
    });
    segment.sack.push(SackBlock {
        left: SeqNum(8401),
        right: SeqNum(9601),
    });
    encode(&segment)
}

/// Write records to memory and read the frames and comments back with pcap-file.
fn round_trip(
    view: View,
    window_scale: u8,
    records: &[CaptureRecord<'_>],
) -> Vec<(Duration, Vec<u8>, Vec<String>)> {
    let mut writer = CaptureWriter::new(Vec::new(), view, window_scale).unwrap();
    for record in records {
        writer.write(record).unwrap();
    }
    read_packets(&writer.finish().unwrap())
}

/// Every packet of a pcapng file, read back with pcap-file: its time, its frame and its
/// comments. (The simulated world's tests read their taps with it too.)
pub(crate) fn read_packets(bytes: &[u8]) -> Vec<(Duration, Vec<u8>, Vec<String>)> {
    let mut reader = PcapNgReader::new(bytes).unwrap();
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.unwrap() {
            let comments = packet
                .options
                .iter()
                .filter_map(|option| match option {
                    EnhancedPacketOption::Comment(text) => Some(text.to_string()),
                    _ => None,
                })
                .collect();
            packets.push((packet.timestamp, packet.data.to_vec(), comments));
        }
    }
    packets
}

fn record(datagram: &[u8], source: SocketAddr, destination: SocketAddr) -> CaptureRecord<'_> {
    CaptureRecord {
        at: Duration::from_micros(1_500_250),
        source,
        destination,
        datagram,
        comments: vec!["handshake".to_string(), "delayed 12 ms".to_string()],
    }
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// The ones' complement sum, written out again independently of `internet_checksum`: a
/// header or segment that includes its checksum sums to 0xFFFF.
fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut index = 0;
    while index < bytes.len() {
        let high = u32::from(bytes[index]) << 8;
        let low = bytes.get(index + 1).map_or(0, |&b| u32::from(b));
        sum += high | low;
        sum = (sum & 0xFFFF) + (sum >> 16);
        index += 2;
    }
    sum as u16
}

fn ipv4_pseudo_header(ip: &[u8], protocol: u8, len: usize) -> Vec<u8> {
    let mut pseudo = ip[12..20].to_vec();
    pseudo.extend_from_slice(&[0, protocol, (len >> 8) as u8, len as u8]);
    pseudo
}

#[test]
fn window_scale_is_the_smallest_shift_that_fits() {
    assert_eq!(window_scale_for(0), 0);
    assert_eq!(window_scale_for(65_535), 0);
    assert_eq!(window_scale_for(65_536), 1);
    assert_eq!(window_scale_for(1 << 20), 5);
    assert_eq!(window_scale_for(1 << 30), 14);
    assert_eq!(window_scale_for(u32::MAX), 14);
    assert_eq!(scaled_window(65_536, 1), 32_768);
    assert_eq!(
        scaled_window(1, 5),
        1,
        "a non-zero window never shows as zero"
    );
    assert_eq!(scaled_window(0, 5), 0);
    assert_eq!(scaled_window(u32::MAX, 14), u16::MAX);
}

#[test]
fn the_ferry_view_frames_a_udp_datagram_with_valid_lengths_and_checksums() {
    let datagram = data_with_sack();
    let packets = round_trip(View::Ferry, 1, &[record(&datagram, a(), b())]);
    let (timestamp, frame, comments) = &packets[0];
    assert_eq!(*timestamp, Duration::from_micros(1_500_250));
    assert_eq!(comments, &["handshake", "delayed 12 ms"]);

    assert_eq!(frame.len(), 14 + 20 + 8 + datagram.len());
    assert_eq!(&frame[0..6], &[0x02, 0, 198, 51, 100, 1]);
    assert_eq!(&frame[6..12], &[0x02, 0, 192, 0, 2, 1]);
    assert_eq!(be16(frame, 12), 0x0800);
    let ip = &frame[14..34];
    assert_eq!(ip[0], 0x45);
    assert_eq!(usize::from(be16(ip, 2)), 20 + 8 + datagram.len());
    assert_eq!(ip[9], 17);
    assert_eq!(&ip[12..16], &[192, 0, 2, 1]);
    assert_eq!(&ip[16..20], &[198, 51, 100, 1]);
    assert_eq!(ones_complement_sum(ip), 0xFFFF, "IPv4 header checksum");

    let udp = &frame[34..];
    assert_eq!(be16(udp, 0), 4747);
    assert_eq!(be16(udp, 2), 4747);
    assert_eq!(usize::from(be16(udp, 4)), udp.len());
    assert_ne!(be16(udp, 6), 0, "the UDP checksum is present");
    let mut summed = ipv4_pseudo_header(ip, 17, udp.len());
    summed.extend_from_slice(udp);
    assert_eq!(ones_complement_sum(&summed), 0xFFFF, "UDP checksum");
    assert_eq!(&udp[8..], &datagram[..]);
}

#[test]
fn the_tcp_view_maps_every_field_and_the_syn_s_options() {
    let syn = syn();
    let data = data_with_sack();
    let syn_without_sack = syn_offering(Options {
        mss: Some(536),
        sack_permitted: false,
        timestamps: None,
    });
    let packets = round_trip(
        View::Tcp,
        2,
        &[
            record(&syn, a(), b()),
            record(&data, b(), a()),
            record(&syn_without_sack, a(), b()),
        ],
    );

    let frame = &packets[0].1;
    let ip = &frame[14..34];
    assert_eq!(ip[9], 6);
    assert_eq!(ones_complement_sum(ip), 0xFFFF);
    let tcp = &frame[34..];
    assert_eq!(usize::from(be16(ip, 2)), 20 + tcp.len());
    assert_eq!(be16(tcp, 0), 4747);
    assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 1000);
    assert_eq!(tcp[12] >> 4, 8, "20 bytes of header and 12 of options");
    assert_eq!(tcp[13], 0x02, "SYN");
    assert_eq!(be16(tcp, 14), 65535, "a SYN's window is not scaled");
    // The SYN's own options (MSS 1200, SACK-permitted), then the view's window scale.
    assert_eq!(&tcp[20..32], &[2, 4, 4, 176, 1, 1, 4, 2, 1, 3, 3, 2]);
    assert_eq!(tcp.len(), 32);
    let mut summed = ipv4_pseudo_header(ip, 6, tcp.len());
    summed.extend_from_slice(tcp);
    assert_eq!(ones_complement_sum(&summed), 0xFFFF, "TCP checksum");

    // A SYN that offers no SACK shows none.
    let tcp = &packets[2].1[34..];
    assert_eq!(&tcp[20..], &[2, 4, 2, 24, 1, 3, 3, 2]);

    let frame = &packets[1].1;
    let ip = &frame[14..34];
    assert_eq!(&ip[12..16], &[198, 51, 100, 1]);
    let tcp = &frame[34..];
    assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 1001);
    assert_eq!(u32::from_be_bytes(tcp[8..12].try_into().unwrap()), 5001);
    assert_eq!(tcp[13], 0x10, "ACK");
    assert_eq!(be16(tcp, 14), 25_000, "100000 bytes scaled by 2^2");
    let header_len = usize::from(tcp[12] >> 4) * 4;
    assert_eq!(header_len, 20 + 4 + 16);
    assert_eq!(&tcp[20..24], &[1, 1, 5, 18]);
    let edges: Vec<u32> = tcp[24..40]
        .chunks(4)
        .map(|edge| u32::from_be_bytes(edge.try_into().unwrap()))
        .collect();
    assert_eq!(edges, [6001, 7201, 8401, 9601]);
    assert_eq!(&tcp[header_len..], b"hello, ferry");
    let mut summed = ipv4_pseudo_header(ip, 6, tcp.len());
    summed.extend_from_slice(tcp);
    assert_eq!(ones_complement_sum(&summed), 0xFFFF, "TCP checksum");
}

#[test]
fn a_corrupt_datagram_stays_udp_in_the_tcp_view() {
    let mut corrupt = data_with_sack();
    corrupt[30] ^= 0x08;
    let truncated = &syn()[..10];
    let packets = round_trip(
        View::Tcp,
        0,
        &[
            record(&corrupt, a(), b()),
            record(truncated, a(), b()),
            record(&[], a(), b()),
        ],
    );
    for ((_, frame, _), datagram) in packets.iter().zip([&corrupt[..], truncated, &[]]) {
        assert_eq!(frame[14 + 9], 17, "UDP");
        assert_eq!(&frame[42..], datagram);
    }
}

#[test]
fn ipv6_peers_get_an_ipv6_header_and_pseudo_header() {
    let source: SocketAddr = "[2001:db8::1]:4747".parse().unwrap();
    let destination: SocketAddr = "[2001:db8::2]:5000".parse().unwrap();
    let datagram = data_with_sack();
    for view in [View::Ferry, View::Tcp] {
        let packets = round_trip(view, 1, &[record(&datagram, source, destination)]);
        let frame = &packets[0].1;
        assert_eq!(be16(frame, 12), 0x86DD);
        let ip = &frame[14..54];
        assert_eq!(ip[0] >> 4, 6);
        let transport = &frame[54..];
        assert_eq!(usize::from(be16(ip, 4)), transport.len());
        let protocol = if view == View::Ferry { 17 } else { 6 };
        assert_eq!(ip[6], protocol);
        let mut summed = ip[8..40].to_vec();
        summed.extend_from_slice(&(transport.len() as u32).to_be_bytes());
        summed.extend_from_slice(&[0, 0, 0, protocol]);
        summed.extend_from_slice(transport);
        assert_eq!(ones_complement_sum(&summed), 0xFFFF, "{view:?} checksum");
        assert_eq!(be16(transport, 2), 5000);
    }
}

#[test]
fn a_v4_mapped_address_is_framed_as_ipv4() {
    let mapped: SocketAddr = "[::ffff:192.0.2.1]:4747".parse().unwrap();
    let packets = round_trip(View::Ferry, 0, &[record(&syn(), mapped, b())]);
    assert_eq!(be16(&packets[0].1, 12), 0x0800);
}

#[test]
fn an_oversized_datagram_is_clipped_and_says_so() {
    let huge = vec![0xAB; 70_000];
    let packets = round_trip(View::Tcp, 0, &[record(&huge, a(), b())]);
    let (_, frame, comments) = &packets[0];
    assert_eq!(frame.len(), 14 + 65_535);
    assert_eq!(be16(frame, 16), 65_535);
    assert!(comments.last().unwrap().contains("clipped"), "{comments:?}");
}
