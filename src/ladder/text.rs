//! The words of a ladder: relative sequence numbers (as Wireshark counts them), each arrow's
//! label, and each datagram's and timer's details.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Datagram, Fate, Ladder, SegmentSummary, TimerMark};
use crate::wire::{Flags, SeqNum};

/// A segment's numbers relative to its connection's initial sequence numbers, as Wireshark
/// shows them: the SYN is 0 and the first data byte 1. A number whose direction has no SYN on
/// record (a window that starts after it) stays raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RelativeSegment {
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) sack: Vec<(u32, u32)>,
}

/// Each datagram's relative numbers (`None` for a datagram that is no segment). The initial
/// sequence number of a direction (source to destination address) is that of the latest SYN
/// sent that way before the datagram: a new connection between the same ports starts anew.
pub(super) fn relative_numbers(datagrams: &[Datagram]) -> Vec<Option<RelativeSegment>> {
    let mut isn: HashMap<(SocketAddr, SocketAddr), SeqNum> = HashMap::new();
    datagrams
        .iter()
        .map(|datagram| {
            let segment = datagram.segment.as_ref()?;
            let forward = (datagram.source, datagram.destination);
            if segment.flags.contains(Flags::SYN) {
                isn.insert(forward, segment.seq);
            }
            let reverse = (datagram.destination, datagram.source);
            let from = |key, number: SeqNum| match isn.get(&key) {
                Some(start) => number.0.wrapping_sub(start.0),
                None => number.0,
            };
            Some(RelativeSegment {
                seq: from(forward, segment.seq),
                ack: from(reverse, segment.ack),
                sack: segment
                    .sack
                    .iter()
                    .map(|&(left, right)| (from(reverse, left), from(reverse, right)))
                    .collect(),
            })
        })
        .collect()
}

/// Flags as Wireshark's Info column writes them: `[SYN, ACK]`, `[FIN, ACK]`, `[RST]`.
fn flags_text(flags: Flags) -> String {
    let names: Vec<&str> = [
        (Flags::FIN, "FIN"),
        (Flags::SYN, "SYN"),
        (Flags::RST, "RST"),
        (Flags::ACK, "ACK"),
    ]
    .into_iter()
    .filter(|&(flag, _)| flags.contains(flag))
    .map(|(_, name)| name)
    .collect();
    format!("[{}]", names.join(", "))
}

/// The segment's fields in Wireshark's words: `[ACK] Seq=1 Ack=1 Len=1200 SACK=2401-3601`,
/// with the window if asked for.
fn segment_text(segment: &SegmentSummary, relative: &RelativeSegment, window: bool) -> String {
    let mut text = format!("{} Seq={}", flags_text(segment.flags), relative.seq);
    if segment.flags.contains(Flags::ACK) {
        let _ = write!(text, " Ack={}", relative.ack);
    }
    if window {
        let _ = write!(text, " Win={}", segment.window);
    }
    let _ = write!(text, " Len={}", segment.len);
    if !relative.sack.is_empty() {
        let blocks: Vec<String> = relative
            .sack
            .iter()
            .map(|(left, right)| format!("{left}-{right}"))
            .collect();
        let _ = write!(text, " SACK={}", blocks.join(","));
    }
    text
}

/// The arrow's label: the segment and why it was sent.
pub(super) fn label(datagram: &Datagram, relative: Option<&RelativeSegment>) -> String {
    let mut text = match (&datagram.segment, relative) {
        (Some(segment), Some(relative)) => segment_text(segment, relative, false),
        _ => match &datagram.description {
            Some(description) => format!("{description} ({} bytes)", datagram.len),
            None => format!("{} bytes, no segment", datagram.len),
        },
    };
    if let Some(reason) = datagram.reason {
        let _ = write!(text, " · {reason}");
    }
    if datagram.duplicate {
        text.push_str(" · duplicate");
    }
    text
}

/// What a cross on a dropped arrow says, or the mark on a corrupted one.
pub(super) fn fate_mark(datagram: &Datagram) -> Option<String> {
    match &datagram.fate {
        Fate::Dropped { cause, .. } => Some(cause.clone()),
        Fate::Arrived { intact: false, .. } => Some(format!(
            "{}: discarded",
            datagram.link.as_deref().unwrap_or("damaged")
        )),
        _ => None,
    }
}

/// Seconds since the run's start, to the microsecond.
pub(super) fn seconds(at: Duration) -> String {
    format!("{:.6} s", at.as_secs_f64())
}

fn host_name(ladder: &Ladder, host: usize) -> &str {
    ladder
        .hosts
        .get(host)
        .map_or("?", |host| host.name.as_str())
}

/// "frame 5 in A's capture" (or in the host's own capture file, if it names one), or
/// nothing without a frame number.
fn frame_text(ladder: &Ladder, frame: Option<u64>, host: usize) -> String {
    let Some(frame) = frame else {
        return String::new();
    };
    match ladder
        .hosts
        .get(host)
        .and_then(|host| host.capture.as_ref())
    {
        Some(capture) => format!(", frame {frame} in {capture}"),
        None => format!(", frame {frame} in {}'s capture", host_name(ladder, host)),
    }
}

/// Everything about one datagram, a line a fact: what it was, why it was sent, when it left
/// and arrived (with its frame in each host's capture), and what the link did to it.
pub(super) fn details(ladder: &Ladder, index: usize, relative: Option<&RelativeSegment>) -> String {
    let Some(datagram) = ladder.datagrams.get(index) else {
        return String::new();
    };
    let (from, to) = (
        host_name(ladder, datagram.from),
        host_name(ladder, datagram.to),
    );
    let mut text = format!("#{index} {from} → {to}: ");
    match (&datagram.segment, relative) {
        (Some(segment), Some(relative)) => {
            text.push_str(&segment_text(segment, relative, true));
            let _ = write!(
                text,
                "\nraw seq {}, ack {}; {} bytes",
                segment.seq.0, segment.ack.0, datagram.len
            );
        }
        _ => match &datagram.description {
            Some(description) => {
                let _ = write!(text, "{description}; {} bytes", datagram.len);
            }
            None => {
                let _ = write!(text, "{} bytes that are no Ferry segment", datagram.len);
            }
        },
    }
    if let Some(reason) = datagram.reason {
        let _ = write!(text, "\nwhy: {reason}");
    }
    let _ = write!(
        text,
        "\nsent at {}{}",
        seconds(datagram.sent_at),
        frame_text(ladder, datagram.sender_frame, datagram.from)
    );
    match &datagram.fate {
        Fate::Arrived {
            at,
            intact,
            receiver_frame,
        } => {
            let _ = write!(
                text,
                "\narrived at {}{} ({:.3} ms later)",
                seconds(*at),
                frame_text(ladder, *receiver_frame, datagram.to),
                at.saturating_sub(datagram.sent_at).as_secs_f64() * 1000.0
            );
            if !intact {
                let _ = write!(text, "\nfailed {to}'s checks (bad CRC): discarded");
            }
        }
        Fate::Dropped { at, cause } => {
            let _ = write!(text, "\n{cause} at {}: never reached {to}", seconds(*at));
        }
        Fate::InFlight => text.push_str("\nstill on its way when the run ended"),
    }
    if let Some(link) = &datagram.link {
        let _ = write!(text, "\nlink: {link}");
    }
    if datagram.duplicate {
        text.push_str("\nthe link's second copy of the datagram before");
    }
    text
}

/// A timer mark's details.
pub(super) fn timer_details(ladder: &Ladder, mark: &TimerMark) -> String {
    format!(
        "{}: {} timer fired at {} (known from the segment it sent then)",
        host_name(ladder, mark.host),
        mark.timer,
        seconds(mark.at)
    )
}
