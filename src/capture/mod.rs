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
//! An ICMP destination unreachable (ICMPv6 between IPv6 addresses), quoting the UDP datagram
//! it answers, is written by [`CaptureWriter::write_unreachable`]: the simulated world's
//! routers and hosts send them.
//!
//! This file is the writer (pcapng blocks, comments, times); `framing.rs` builds the frames.
//!
//! The writer never reads a clock: each [`CaptureRecord`] carries its own time, real or
//! simulated. Nothing in a datagram can make it fail or panic; only the output can.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, PcapError};

use framing::{
    ethernet_frame, ip_pair, unreachable_frame, Endpoints, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6,
};

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

/// What an ICMP destination unreachable says (RFC 792 type 3 codes 0, 1, 3; ICMPv6 type 1
/// codes 0, 3, 4, RFC 4443 section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// No route to the network.
    Network,
    /// The host (address) does not answer.
    Host,
    /// Nothing listens on the port.
    Port,
}

/// An ICMP destination unreachable as one host saw it, about a UDP datagram it quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreachableRecord<'a> {
    /// When, as for [`CaptureRecord::at`].
    pub at: Duration,
    /// Who sent it: the router or host that could not deliver.
    pub source: IpAddr,
    /// Who it was sent to: the quoted datagram's sender.
    pub destination: IpAddr,
    /// Why.
    pub code: Unreachable,
    /// The quoted datagram's source.
    pub quoted_source: SocketAddr,
    /// The quoted datagram's destination.
    pub quoted_destination: SocketAddr,
    /// The start of the quoted datagram's UDP payload (at most [`QUOTE_LIMIT`] bytes are
    /// written).
    pub quoted: &'a [u8],
    /// Packet comments.
    pub comments: Vec<String>,
}

/// The most of a quoted payload an unreachable in a capture carries: what fits IPv6's
/// minimum MTU of 1280 with the headers (RFC 4443 section 2.4 (c)).
pub const QUOTE_LIMIT: usize = 1280 - 40 - 8 - 40 - 8;

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
        let identification = self.next_identification();
        let frame = ethernet_frame(
            self.view,
            self.window_scale,
            &endpoints,
            identification,
            datagram,
        );
        self.write_frame(record.at, &frame, comments)
    }

    /// Append an ICMP destination unreachable (an ICMPv6 one between IPv6 addresses), stamped
    /// and commented as [`write`](Self::write) does, quoting the UDP datagram it answers.
    pub fn write_unreachable(&mut self, record: &UnreachableRecord<'_>) -> io::Result<()> {
        let (source, destination) = ip_pair(record.source, record.destination);
        let endpoints = Endpoints {
            source,
            destination,
            source_port: 0,
            destination_port: 0,
        };
        let (quoted_source, quoted_destination) =
            ip_pair(record.quoted_source.ip(), record.quoted_destination.ip());
        let quoted = Endpoints {
            source: quoted_source,
            destination: quoted_destination,
            source_port: record.quoted_source.port(),
            destination_port: record.quoted_destination.port(),
        };
        // What a router quotes fits the minimum MTU; a longer quote is cut to it.
        let payload = &record.quoted[..record.quoted.len().min(QUOTE_LIMIT)];
        let identification = self.next_identification();
        let frame = unreachable_frame(&endpoints, record.code, &quoted, payload, identification);
        let comments = record.comments.iter().map(String::as_str).collect();
        self.write_frame(record.at, &frame, comments)
    }

    /// The next IPv4 Identification.
    fn next_identification(&mut self) -> u16 {
        let identification = self.next_ipv4_identification;
        self.next_ipv4_identification = identification.wrapping_add(1);
        identification
    }

    /// Append one frame, stamped with `at` truncated to the microsecond, with `comments`.
    fn write_frame(&mut self, at: Duration, frame: &[u8], comments: Vec<&str>) -> io::Result<()> {
        let at = Duration::new(at.as_secs(), at.subsec_micros().saturating_mul(1000));
        let block = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: at,
            original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(frame),
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

    /// Append a note at `at` on the capture's time line: a frame that is no packet, with
    /// `note` as its packet comment and its content (an Ethernet frame of the IEEE 802 local
    /// experimental EtherType, so no dissector mistakes it for traffic). The simulator starts a
    /// host's capture with one at the run's start, since Wireshark counts relative times from
    /// a file's first frame. Counted in [`packets_written`](Self::packets_written).
    pub fn write_note(&mut self, at: Duration, note: &str) -> io::Result<()> {
        let note = clip_comment(note);
        let mut frame = Vec::with_capacity(NOTE_HEADER.len() + note.len());
        frame.extend_from_slice(&NOTE_HEADER);
        frame.extend_from_slice(note.as_bytes());
        self.write_frame(at, &frame, vec![note])
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

/// The Ethernet header of a [`CaptureWriter::write_note`] frame: to the broadcast address, from
/// none, EtherType 0x88B5 (IEEE 802 "Local Experimental Ethertype 1"), which no protocol owns.
const NOTE_HEADER: [u8; 14] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x88, 0xB5,
];

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

mod framing;
#[cfg(test)]
pub(crate) mod tests;
