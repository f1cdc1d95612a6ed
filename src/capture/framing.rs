//! Each datagram framed as a whole packet for Wireshark: Ethernet, IPv4 or IPv6, then UDP
//! around the Ferry segment ([`View::Ferry`]) or the TCP segment it stands for
//! ([`View::Tcp`]), with correct lengths and checksums (RFC 791, RFC 8200, RFC 768, RFC 9293,
//! RFC 1071).

use std::net::{IpAddr, Ipv6Addr};

use super::{Unreachable, View, MAX_WINDOW_SCALE};
use crate::wire::{option_kind, Flags, Segment};

const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
const TCP_HEADER_LEN: usize = 20;
const PROTOCOL_ICMP: u8 = 1;
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;
const PROTOCOL_ICMPV6: u8 = 58;
/// The largest UDP payload in one IPv4 packet (the 16-bit total length, less the headers).
pub(super) const MAX_UDP_PAYLOAD_V4: usize = u16::MAX as usize - IPV4_HEADER_LEN - UDP_HEADER_LEN;
/// The largest UDP payload in one IPv6 packet without a jumbogram (RFC 8200 section 3).
pub(super) const MAX_UDP_PAYLOAD_V6: usize = u16::MAX as usize - UDP_HEADER_LEN;
/// Hop limit / TTL: Linux's default, so the packets look like a host's own.
const HOP_LIMIT: u8 = 64;

/// TCP option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018) beside those Ferry's segments
/// carry themselves, whose kinds are TCP's (`wire::option_kind`).
const TCP_OPTION_WINDOW_SCALE: u8 = 3;
const TCP_OPTION_SACK: u8 = 5;
/// TCP's option space: a data offset of 15 words less the 5 of the fixed header.
const TCP_MAX_OPTIONS_LEN: usize = 40;

/// The addresses and ports of one packet, both addresses of the same family.
pub(super) struct Endpoints {
    pub(super) source: IpAddr,
    pub(super) destination: IpAddr,
    pub(super) source_port: u16,
    pub(super) destination_port: u16,
}

/// The IP addresses as they go on the wire. A V4-mapped IPv6 address (what a dual-stack socket
/// reports for an IPv4 peer) is IPv4 on the wire; a mixed pair, which no real packet has, is
/// written as IPv6 with the IPv4 address mapped (RFC 4291 section 2.5.5.2).
pub(super) fn ip_pair(source: IpAddr, destination: IpAddr) -> (IpAddr, IpAddr) {
    match (source.to_canonical(), destination.to_canonical()) {
        (source @ IpAddr::V4(_), destination @ IpAddr::V4(_)) => (source, destination),
        (source, destination) => (
            IpAddr::V6(as_ipv6(source)),
            IpAddr::V6(as_ipv6(destination)),
        ),
    }
}

fn as_ipv6(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// A made-up but stable MAC address for an IP address: locally administered and unicast (first
/// octet 0x02, IEEE 802 section 8.2), the IPv4 address in the last four octets; an IPv6
/// address's four 32-bit words folded together by XOR.
fn mac_address(address: IpAddr) -> [u8; 6] {
    let (family, tail) = match address {
        IpAddr::V4(v4) => (0x00, v4.octets()),
        IpAddr::V6(v6) => {
            let mut folded = [0u8; 4];
            for (index, byte) in v6.octets().iter().enumerate() {
                folded[index % 4] ^= byte;
            }
            (0x06, folded)
        }
    };
    [0x02, family, tail[0], tail[1], tail[2], tail[3]]
}

/// The whole Ethernet frame for one datagram (no FCS, as captures on a host have none).
pub(super) fn ethernet_frame(
    view: View,
    window_scale: u8,
    endpoints: &Endpoints,
    ipv4_identification: u16,
    datagram: &[u8],
) -> Vec<u8> {
    let (protocol, mut transport, checksum_offset) = match (view, Segment::parse(datagram)) {
        (View::Tcp, Ok(segment)) => (
            PROTOCOL_TCP,
            tcp_segment(&segment, endpoints, window_scale),
            16,
        ),
        // Ferry view, or a datagram the receiver would drop: show it as it was, in UDP.
        _ => (PROTOCOL_UDP, udp_datagram(datagram, endpoints), 6),
    };
    let mut checksum = transport_checksum(endpoints, protocol, &transport);
    if protocol == PROTOCOL_UDP && checksum == 0 {
        // RFC 768: a computed zero is sent as all ones, since zero means "no checksum".
        checksum = 0xFFFF;
    }
    transport[checksum_offset..checksum_offset + 2].copy_from_slice(&checksum.to_be_bytes());
    ip_frame(endpoints, protocol, ipv4_identification, &transport)
}

/// The Ethernet frame of an IP packet carrying `transport` (of `protocol`) between the
/// endpoints' addresses.
fn ip_frame(
    endpoints: &Endpoints,
    protocol: u8,
    ipv4_identification: u16,
    transport: &[u8],
) -> Vec<u8> {
    let ip_header = ip_header(endpoints, protocol, ipv4_identification, transport.len());
    let ethertype = match endpoints.source {
        IpAddr::V4(_) => ETHERTYPE_IPV4,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    };
    let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + ip_header.len() + transport.len());
    frame.extend_from_slice(&mac_address(endpoints.destination));
    frame.extend_from_slice(&mac_address(endpoints.source));
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(&ip_header);
    frame.extend_from_slice(transport);
    frame
}

/// The IPv4 or IPv6 header of a packet between the endpoints' addresses.
fn ip_header(
    endpoints: &Endpoints,
    protocol: u8,
    ipv4_identification: u16,
    payload_len: usize,
) -> Vec<u8> {
    match (endpoints.source, endpoints.destination) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => ipv4_header(
            source.octets(),
            destination.octets(),
            protocol,
            ipv4_identification,
            payload_len,
        ),
        (source, destination) => ipv6_header(
            as_ipv6(source).octets(),
            as_ipv6(destination).octets(),
            protocol,
            payload_len,
        ),
    }
}

/// The whole Ethernet frame of an ICMP destination unreachable (RFC 792 type 3; ICMPv6 type
/// 1, RFC 4443 section 3.1) between `endpoints`' addresses, about the UDP datagram between
/// `quoted` whose payload began with `quoted_payload`: the message quotes its IP and UDP
/// headers and those bytes. (The quoted UDP header's length is the quoted part's, and its
/// checksum zero: the rest of the datagram is not there to sum.)
pub(super) fn unreachable_frame(
    endpoints: &Endpoints,
    code: Unreachable,
    quoted: &Endpoints,
    quoted_payload: &[u8],
    ipv4_identification: u16,
) -> Vec<u8> {
    let quoted_udp = udp_datagram(quoted_payload, quoted);
    let quoted_ip = ip_header(quoted, PROTOCOL_UDP, 0, quoted_udp.len());
    let v4 = endpoints.source.is_ipv4();
    let (protocol, icmp_type, icmp_code) = match (v4, code) {
        (true, Unreachable::Network) => (PROTOCOL_ICMP, 3, 0),
        (true, Unreachable::Host) => (PROTOCOL_ICMP, 3, 1),
        (true, Unreachable::Port) => (PROTOCOL_ICMP, 3, 3),
        (false, Unreachable::Network) => (PROTOCOL_ICMPV6, 1, 0),
        (false, Unreachable::Host) => (PROTOCOL_ICMPV6, 1, 3),
        (false, Unreachable::Port) => (PROTOCOL_ICMPV6, 1, 4),
    };
    let mut message = vec![icmp_type, icmp_code, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(&quoted_ip);
    message.extend_from_slice(&quoted_udp);
    // ICMPv4 sums the message alone; ICMPv6 a pseudo-header too (RFC 4443 section 2.3).
    let checksum = match v4 {
        true => internet_checksum(&[&message]),
        false => transport_checksum(endpoints, protocol, &message),
    };
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    ip_frame(endpoints, protocol, ipv4_identification, &message)
}

/// A 16-bit length field; callers have clipped the datagram so that every length fits.
fn length_u16(len: usize) -> [u8; 2] {
    u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes()
}

/// RFC 791 section 3.1, with Don't Fragment set as a host doing path MTU discovery does
/// (RFC 1191), so the Identification needs no uniqueness (RFC 6864 section 4.1).
fn ipv4_header(
    source: [u8; 4],
    destination: [u8; 4],
    protocol: u8,
    identification: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut header = Vec::with_capacity(IPV4_HEADER_LEN);
    header.push(0x45); // version 4, 5 words of header
    header.push(0); // DSCP and ECN
    header.extend_from_slice(&length_u16(IPV4_HEADER_LEN + payload_len));
    header.extend_from_slice(&identification.to_be_bytes());
    header.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, fragment offset 0
    header.push(HOP_LIMIT);
    header.push(protocol);
    header.extend_from_slice(&[0, 0]); // checksum, filled in below
    header.extend_from_slice(&source);
    header.extend_from_slice(&destination);
    let checksum = internet_checksum(&[&header]);
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    header
}

/// RFC 8200 section 3: no extension headers, flow label 0.
fn ipv6_header(
    source: [u8; 16],
    destination: [u8; 16],
    next_header: u8,
    payload_len: usize,
) -> Vec<u8> {
    let mut header = Vec::with_capacity(IPV6_HEADER_LEN);
    header.extend_from_slice(&0x6000_0000u32.to_be_bytes()); // version 6, class 0, label 0
    header.extend_from_slice(&length_u16(payload_len));
    header.push(next_header);
    header.push(HOP_LIMIT);
    header.extend_from_slice(&source);
    header.extend_from_slice(&destination);
    header
}

/// RFC 768, with the checksum left zero for [`transport_checksum`].
fn udp_datagram(payload: &[u8], endpoints: &Endpoints) -> Vec<u8> {
    let mut datagram = Vec::with_capacity(UDP_HEADER_LEN + payload.len());
    datagram.extend_from_slice(&endpoints.source_port.to_be_bytes());
    datagram.extend_from_slice(&endpoints.destination_port.to_be_bytes());
    datagram.extend_from_slice(&length_u16(UDP_HEADER_LEN + payload.len()));
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

/// The TCP segment (RFC 9293 section 3.1) a Ferry segment stands for, checksum left zero.
///
/// Flags, seq, ack, payload and the options (a SYN's MSS and SACK-permitted, which are TCP's
/// own) map one to one, so Wireshark sees the negotiation the segments carried. A SYN also
/// carries a window scale (RFC 7323 section 2.2), which Ferry needs not (its window field has
/// 32 bits) and TCP's 16-bit field does; without it Wireshark would misread the windows.
fn tcp_segment(segment: &Segment<'_>, endpoints: &Endpoints, window_scale: u8) -> Vec<u8> {
    let syn = segment.flags.contains(Flags::SYN);
    let mut options = Vec::with_capacity(TCP_MAX_OPTIONS_LEN);
    segment.options.emit(&mut options);
    if syn {
        options.extend_from_slice(&[option_kind::NOP, TCP_OPTION_WINDOW_SCALE, 3, window_scale]);
    }
    // Two NOPs align the blocks on 32 bits, as TCP stacks send them; at most four blocks
    // fit (RFC 2018 section 3), three beside a SYN's options.
    let room = (TCP_MAX_OPTIONS_LEN - options.len() - 4) / 8;
    let blocks = &segment.sack.as_slice()[..segment.sack.len().min(room)];
    if !blocks.is_empty() {
        // At most 4 blocks, so the length is at most 34.
        let len = u8::try_from(2 + 8 * blocks.len()).unwrap_or(u8::MAX);
        options.extend_from_slice(&[option_kind::NOP, option_kind::NOP, TCP_OPTION_SACK, len]);
        for block in blocks {
            options.extend_from_slice(&block.left.0.to_be_bytes());
            options.extend_from_slice(&block.right.0.to_be_bytes());
        }
    }
    // RFC 7323 section 2.2: the window in a SYN is never scaled.
    let window = if syn {
        u16::try_from(segment.window).unwrap_or(u16::MAX)
    } else {
        scaled_window(segment.window, window_scale)
    };
    let header_len = TCP_HEADER_LEN + options.len(); // a multiple of 4 by construction
    let data_offset_words = u8::try_from(header_len / 4).unwrap_or(15);

    let mut tcp = Vec::with_capacity(header_len + segment.payload.len());
    tcp.extend_from_slice(&endpoints.source_port.to_be_bytes());
    tcp.extend_from_slice(&endpoints.destination_port.to_be_bytes());
    tcp.extend_from_slice(&segment.seq.0.to_be_bytes());
    tcp.extend_from_slice(&segment.ack.0.to_be_bytes());
    tcp.push(data_offset_words << 4);
    tcp.push(segment.flags.bits()); // Ferry's flag values are TCP's (docs/protocol.md 3.1)
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0]); // checksum, filled in by the caller
    tcp.extend_from_slice(&[0, 0]); // urgent pointer
    tcp.extend_from_slice(&options);
    tcp.extend_from_slice(segment.payload);
    tcp
}

/// The window field for `window` bytes with a scale of `shift`, rounded up: a non-zero window
/// never shows as zero, and a sender using all of it never seems to overrun it.
pub(super) fn scaled_window(window: u32, shift: u8) -> u16 {
    let unit = 1u64 << shift.min(MAX_WINDOW_SCALE);
    u16::try_from(u64::from(window).div_ceil(unit)).unwrap_or(u16::MAX)
}

/// The TCP or UDP checksum: over the pseudo-header (RFC 9293 section 3.1 and RFC 768 for IPv4,
/// RFC 8200 section 8.1 for IPv6) and the whole transport segment.
fn transport_checksum(endpoints: &Endpoints, protocol: u8, transport: &[u8]) -> u16 {
    let mut pseudo_header = Vec::with_capacity(40);
    match (endpoints.source, endpoints.destination) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => {
            pseudo_header.extend_from_slice(&source.octets());
            pseudo_header.extend_from_slice(&destination.octets());
            pseudo_header.extend_from_slice(&[0, protocol]);
            pseudo_header.extend_from_slice(&length_u16(transport.len()));
        }
        (source, destination) => {
            pseudo_header.extend_from_slice(&as_ipv6(source).octets());
            pseudo_header.extend_from_slice(&as_ipv6(destination).octets());
            let len = u32::try_from(transport.len()).unwrap_or(u32::MAX);
            pseudo_header.extend_from_slice(&len.to_be_bytes());
            pseudo_header.extend_from_slice(&[0, 0, 0, protocol]);
        }
    }
    internet_checksum(&[&pseudo_header, transport])
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of the
/// 16-bit words. Every part but the last must have an even length (the pseudo-headers do).
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u64::from(*last) << 8; // an odd byte is padded with a zero on the right
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}
