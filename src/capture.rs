//! Packet captures (pcapng) of Ferry traffic, one file per vantage point, as tcpdump on one host
//! would see it: what the host sent and what it received, each packet with comments saying why
//! it was sent and what the network did to it.
//!
//! Ferry travels in bare UDP payloads, but Wireshark wants whole frames, so each datagram is
//! framed as Ethernet + IP + transport with correct lengths and checksums. There are two
//! [`View`]s of the same traffic:
//!
//! - [`View::Ferry`]: the truth, Ethernet + IPv4 (or IPv6) + UDP + the Ferry segment, for the
//!   dissector in `captures/ferry.lua`.
//! - [`View::Tcp`]: each segment rewritten as the TCP segment it stands for (the fields mean the
//!   same, docs/protocol.md), so Wireshark's own TCP analysis judges Ferry's behaviour. A datagram
//!   that does not parse (bad CRC, truncated) stays UDP even here, so nothing is hidden.
//!
//! The writer never reads a clock: each [`CaptureRecord`] carries its own time, real or
//! simulated. Nothing in a datagram can make it fail or panic; only the output can.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, PcapError};

use crate::wire::{Flags, Segment};

/// How each datagram is written to the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum View {
    /// Ethernet + IP + UDP carrying the Ferry segment: what is really on the wire.
    #[default]
    Ferry,
    /// Ethernet + IP + TCP: each segment as the TCP segment it stands for, for Wireshark's TCP
    /// analysis. Datagrams that do not parse stay in the UDP framing.
    Tcp,
}

/// The largest window-scale shift TCP allows (RFC 7323 section 2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The smallest TCP window-scale shift (RFC 7323) that fits `largest_window` into TCP's 16-bit
/// window field, at most [`MAX_WINDOW_SCALE`]. Pass the largest window the capture will see,
/// such as the receive buffer: a 64 KiB buffer needs a shift of 1.
pub fn window_scale_for(largest_window: u32) -> u8 {
    (0..MAX_WINDOW_SCALE)
        .find(|&shift| u64::from(largest_window) <= u64::from(u16::MAX) << shift)
        .unwrap_or(MAX_WINDOW_SCALE)
}

/// One datagram as one host saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureRecord<'a> {
    /// When: since the Unix epoch for real traffic, since the simulation's start for simulated
    /// traffic. Written with microsecond resolution.
    pub at: Duration,
    /// Who sent it.
    pub source: SocketAddr,
    /// Who it was sent to.
    pub destination: SocketAddr,
    /// The UDP payload: the Ferry segment, or whatever arrived in its place.
    pub datagram: &'a [u8],
    /// Packet comments (pcapng `opt_comment`), such as why it was sent and what the fault
    /// injector did to it.
    pub comments: Vec<String>,
}

/// Writes [`CaptureRecord`]s as a pcapng file with one Ethernet interface.
pub struct CaptureWriter<W: Write> {
    pcapng: PcapNgWriter<W>,
    view: View,
    window_scale: u8,
    /// The next IPv4 Identification: a counter, as many hosts use, so runs repeat exactly.
    next_ipv4_identification: u16,
    packets_written: u64,
}

impl CaptureWriter<BufWriter<File>> {
    /// Create (or truncate) the file at `path` and write the pcapng headers to it. See
    /// [`CaptureWriter::new`] for `view` and `window_scale`.
    pub fn create(
        path: impl AsRef<Path>,
        view: View,
        window_scale: u8,
    ) -> io::Result<CaptureWriter<BufWriter<File>>> {
        CaptureWriter::new(BufWriter::new(File::create(path)?), view, window_scale)
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Write the pcapng section and interface headers to `writer`. In the [`View::Tcp`], every
    /// SYN carries a window-scale option with `window_scale` (capped at [`MAX_WINDOW_SCALE`]) and
    /// every other segment's window is scaled down by it: compute it with
    /// [`window_scale_for`] from the largest window either end can advertise.
    pub fn new(writer: W, view: View, window_scale: u8) -> io::Result<CaptureWriter<W>> {
        let mut pcapng = PcapNgWriter::new(writer).map_err(into_io_error)?;
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0xFFFF,
            // pcap-file 2 writes every timestamp in nanoseconds, whatever the interface says,
            // so the interface must say nanoseconds (10^-9) or readers would be off by 1000.
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        };
        pcapng
            .write_pcapng_block(interface)
            .map_err(into_io_error)?;
        Ok(CaptureWriter {
            pcapng,
            view,
            window_scale: window_scale.min(MAX_WINDOW_SCALE),
            next_ipv4_identification: 0,
            packets_written: 0,
        })
    }

    /// Append one packet: the datagram framed as the view says, stamped with `record.at`
    /// truncated to the microsecond, with `record.comments` as packet comments.
    pub fn write(&mut self, record: &CaptureRecord<'_>) -> io::Result<()> {
        let mut comments: Vec<&str> = record.comments.iter().map(String::as_str).collect();
        let (source, destination) = ip_pair(record.source.ip(), record.destination.ip());
        let limit = match source {
            IpAddr::V4(_) => MAX_UDP_PAYLOAD_V4,
            IpAddr::V6(_) => MAX_UDP_PAYLOAD_V6,
        };
        let clipped_note;
        let datagram = match record.datagram.get(..limit) {
            Some(fitting) if fitting.len() < record.datagram.len() => {
                clipped_note = format!(
                    "capture: a {}-byte datagram clipped to {limit} bytes to fit one IP packet",
                    record.datagram.len()
                );
                comments.push(&clipped_note);
                fitting
            }
            _ => record.datagram,
        };
        let endpoints = Endpoints {
            source,
            destination,
            source_port: record.source.port(),
            destination_port: record.destination.port(),
        };
        let identification = self.next_ipv4_identification;
        self.next_ipv4_identification = identification.wrapping_add(1);
        let frame = ethernet_frame(
            self.view,
            self.window_scale,
            &endpoints,
            identification,
            datagram,
        );
        let at = Duration::new(
            record.at.as_secs(),
            record.at.subsec_micros().saturating_mul(1000),
        );
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: at,
            original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(&frame),
            options: comments
                .into_iter()
                .filter(|comment| !comment.is_empty())
                .map(|comment| EnhancedPacketOption::Comment(Cow::Borrowed(clip_comment(comment))))
                .collect(),
        };
        self.pcapng
            .write_pcapng_block(block)
            .map_err(into_io_error)?;
        self.packets_written += 1;
        Ok(())
    }

    /// How many packets have been written.
    pub fn packets_written(&self) -> u64 {
        self.packets_written
    }

    /// Flush the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.pcapng.get_mut().flush()
    }

    /// Flush and hand back the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.pcapng.into_inner())
    }
}

impl<W: Write> fmt::Debug for CaptureWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureWriter")
            .field("view", &self.view)
            .field("window_scale", &self.window_scale)
            .field("packets_written", &self.packets_written)
            .finish_non_exhaustive()
    }
}

fn into_io_error(error: PcapError) -> io::Error {
    match error {
        PcapError::IoError(error) => error,
        other => io::Error::other(other),
    }
}

/// pcapng option lengths are 16 bits; pcap-file would silently wrap a longer comment into a
/// corrupt file, so cut it (at a character boundary) well before that.
fn clip_comment(comment: &str) -> &str {
    const MAX_COMMENT_BYTES: usize = 4096;
    let mut end = comment.len().min(MAX_COMMENT_BYTES);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    &comment[..end]
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

const ETHERNET_HEADER_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
const TCP_HEADER_LEN: usize = 20;
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;
/// The largest UDP payload in one IPv4 packet (the 16-bit total length, less the headers).
const MAX_UDP_PAYLOAD_V4: usize = u16::MAX as usize - IPV4_HEADER_LEN - UDP_HEADER_LEN;
/// The largest UDP payload in one IPv6 packet without a jumbogram (RFC 8200 section 3).
const MAX_UDP_PAYLOAD_V6: usize = u16::MAX as usize - UDP_HEADER_LEN;
/// Hop limit / TTL: Linux's default, so the packets look like a host's own.
const HOP_LIMIT: u8 = 64;

/// TCP option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018).
const TCP_OPTION_NOP: u8 = 1;
const TCP_OPTION_WINDOW_SCALE: u8 = 3;
const TCP_OPTION_SACK_PERMITTED: u8 = 4;
const TCP_OPTION_SACK: u8 = 5;
/// TCP's option space: a data offset of 15 words less the 5 of the fixed header.
const TCP_MAX_OPTIONS_LEN: usize = 40;

/// The addresses and ports of one packet, both addresses of the same family.
struct Endpoints {
    source: IpAddr,
    destination: IpAddr,
    source_port: u16,
    destination_port: u16,
}

/// The IP addresses as they go on the wire. A V4-mapped IPv6 address (what a dual-stack socket
/// reports for an IPv4 peer) is IPv4 on the wire; a mixed pair, which no real packet has, is
/// written as IPv6 with the IPv4 address mapped (RFC 4291 section 2.5.5.2).
fn ip_pair(source: IpAddr, destination: IpAddr) -> (IpAddr, IpAddr) {
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
fn ethernet_frame(
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

    let ip_header = match (endpoints.source, endpoints.destination) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => ipv4_header(
            source.octets(),
            destination.octets(),
            protocol,
            ipv4_identification,
            transport.len(),
        ),
        (source, destination) => ipv6_header(
            as_ipv6(source).octets(),
            as_ipv6(destination).octets(),
            protocol,
            transport.len(),
        ),
    };
    let ethertype = match endpoints.source {
        IpAddr::V4(_) => ETHERTYPE_IPV4,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    };
    let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + ip_header.len() + transport.len());
    frame.extend_from_slice(&mac_address(endpoints.destination));
    frame.extend_from_slice(&mac_address(endpoints.source));
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(&ip_header);
    frame.extend_from_slice(&transport);
    frame
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
/// Flags, seq, ack and payload map one to one. A SYN also carries SACK-permitted (RFC 2018
/// section 2) and window scale (RFC 7323 section 2.2), which TCP negotiates and Ferry needs
/// not; without them Wireshark would ignore the SACK blocks and misread the windows.
fn tcp_segment(segment: &Segment<'_>, endpoints: &Endpoints, window_scale: u8) -> Vec<u8> {
    let syn = segment.flags.contains(Flags::SYN);
    let mut options = Vec::with_capacity(TCP_MAX_OPTIONS_LEN);
    if syn {
        options.extend_from_slice(&[
            TCP_OPTION_NOP,
            TCP_OPTION_WINDOW_SCALE,
            3,
            window_scale,
            TCP_OPTION_NOP,
            TCP_OPTION_NOP,
            TCP_OPTION_SACK_PERMITTED,
            2,
        ]);
    }
    // Two NOPs align the blocks on 32 bits, as TCP stacks send them; at most four blocks
    // fit (RFC 2018 section 3), three beside a SYN's options.
    let room = (TCP_MAX_OPTIONS_LEN - options.len() - 4) / 8;
    let blocks = &segment.sack.as_slice()[..segment.sack.len().min(room)];
    if !blocks.is_empty() {
        // At most 4 blocks, so the length is at most 34.
        let len = u8::try_from(2 + 8 * blocks.len()).unwrap_or(u8::MAX);
        options.extend_from_slice(&[TCP_OPTION_NOP, TCP_OPTION_NOP, TCP_OPTION_SACK, len]);
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
fn scaled_window(window: u32, shift: u8) -> u16 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{SackBlock, SeqNum};
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

    fn syn() -> Vec<u8> {
        encode(&Segment {
            flags: Flags::SYN,
            seq: SeqNum(1000),
            window: 65535,
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
        let bytes = writer.finish().unwrap();
        let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
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
    fn the_tcp_view_maps_every_field_and_adds_the_syn_options() {
        let syn = syn();
        let data = data_with_sack();
        let packets = round_trip(
            View::Tcp,
            2,
            &[record(&syn, a(), b()), record(&data, b(), a())],
        );

        let frame = &packets[0].1;
        let ip = &frame[14..34];
        assert_eq!(ip[9], 6);
        assert_eq!(ones_complement_sum(ip), 0xFFFF);
        let tcp = &frame[34..];
        assert_eq!(usize::from(be16(ip, 2)), 20 + tcp.len());
        assert_eq!(be16(tcp, 0), 4747);
        assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 1000);
        assert_eq!(tcp[12] >> 4, 7, "20 bytes of header and 8 of options");
        assert_eq!(tcp[13], 0x02, "SYN");
        assert_eq!(be16(tcp, 14), 65535, "a SYN's window is not scaled");
        assert_eq!(&tcp[20..28], &[1, 3, 3, 2, 1, 1, 4, 2]);
        assert_eq!(tcp.len(), 28);
        let mut summed = ipv4_pseudo_header(ip, 6, tcp.len());
        summed.extend_from_slice(tcp);
        assert_eq!(ones_complement_sum(&summed), 0xFFFF, "TCP checksum");

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
}
