//! The time-sequence graph (Stevens's, as tcptrace and Wireshark draw it) of one host's data,
//! as a standalone SVG file: `ferry sim --plot FILE.svg`.
//!
//! The upper panel plots relative sequence numbers against time: one vertical mark per data
//! segment sent, from its first byte to its last, coloured by why it was sent (new data, a
//! retransmission after an RTO, a fast retransmission, a SACK retransmission, a window probe);
//! the cumulative ACK as a step line; the SACK blocks each ACK carried, as marks at the ACK's
//! time; and the right edge of the receive window (ACK + window). The lower panel plots the
//! congestion window over the same time axis.
//!
//! The data comes from a [`Trace`] the simulator records ([`crate::sim::transfer_traced`]).
//! The SVG is written by hand, deterministically (the same trace gives the same bytes), and
//! each series is a group with a stable `id` (`data`, `retransmissions-rto`,
//! `retransmissions-fast`, `retransmissions-sack`, `window-probes`, `ack`, `sack`, `window`,
//! `cwnd`, `legend`) so that tests and scripts can find it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::conn::Reason;
use crate::wire::{Flags, Segment, SeqNum};

/// One segment the traced host sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSegment {
    /// When, since the start.
    pub at: Duration,
    /// Its flags.
    pub flags: Flags,
    /// Its sequence number.
    pub seq: SeqNum,
    /// Its payload length.
    pub len: u32,
    /// Why it was sent.
    pub reason: Reason,
}

/// One acknowledgment the traced host received (intact: a corrupt datagram is not counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// When, since the start.
    pub at: Duration,
    /// The cumulative acknowledgment.
    pub ack: SeqNum,
    /// The advertised window, in bytes beyond `ack`.
    pub window: u32,
    /// The SACK blocks it carried, as `(left, right)`.
    pub sack: Vec<(SeqNum, SeqNum)>,
}

/// What one host sent and received, and its congestion window over time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every segment the host sent, in order.
    pub sent: Vec<SentSegment>,
    /// Every intact segment with an ACK the host received, in order.
    pub acks: Vec<AckSample>,
    /// The congestion window (bytes) each time it changed; `u32::MAX` means no congestion
    /// control.
    pub congestion_window: Vec<(Duration, u32)>,
}

impl Trace {
    /// Record a datagram the host sent at `at` for `reason`; one that does not parse is
    /// ignored.
    pub fn sent(&mut self, at: Duration, datagram: &[u8], reason: Reason) {
        if let Ok(segment) = Segment::parse(datagram) {
            self.sent.push(SentSegment {
                at,
                flags: segment.flags,
                seq: segment.seq,
                len: u32::try_from(segment.payload.len()).unwrap_or(u32::MAX),
                reason,
            });
        }
    }

    /// Record a datagram the host received at `at`, if it is an intact segment with an ACK.
    pub fn received(&mut self, at: Duration, datagram: &[u8]) {
        let Ok(segment) = Segment::parse(datagram) else {
            return; // the host discards it too
        };
        if segment.flags.contains(Flags::ACK) && !segment.flags.contains(Flags::RST) {
            self.acks.push(AckSample {
                at,
                ack: segment.ack,
                window: segment.window,
                sack: segment
                    .sack
                    .as_slice()
                    .iter()
                    .map(|block| (block.left, block.right))
                    .collect(),
            });
        }
    }

    /// Record the congestion window at `at`, if it changed.
    pub fn congestion_window(&mut self, at: Duration, window: u32) {
        if self.congestion_window.last().map(|&(_, w)| w) != Some(window) {
            self.congestion_window.push((at, window));
        }
    }

    /// The initial sequence number: the first SYN's, else one before the first segment's.
    fn isn(&self) -> SeqNum {
        self.sent
            .iter()
            .find(|segment| segment.flags.contains(Flags::SYN))
            .map(|segment| segment.seq)
            .or_else(|| {
                self.sent
                    .first()
                    .map(|segment| SeqNum(segment.seq.0.wrapping_sub(1)))
            })
            .unwrap_or(SeqNum(0))
    }
}

/// The kinds of data marks, each a series with its own colour and legend entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Rto,
    Fast,
    Sack,
    Rack,
    LossProbe,
    Probe,
}

impl Mark {
    fn of(reason: Reason) -> Mark {
        match reason {
            Reason::RtoRetransmission { .. } => Mark::Rto,
            Reason::FastRetransmission => Mark::Fast,
            Reason::SackRetransmission => Mark::Sack,
            Reason::RackRetransmission => Mark::Rack,
            Reason::TailLossProbe => Mark::LossProbe,
            Reason::WindowProbe => Mark::Probe,
            _ => Mark::New,
        }
    }

    const ALL: [Mark; 7] = [
        Mark::New,
        Mark::Rto,
        Mark::Fast,
        Mark::Sack,
        Mark::Rack,
        Mark::LossProbe,
        Mark::Probe,
    ];

    /// (group id, colour, legend text)
    fn style(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Mark::New => ("data", "#1f4e9c", "data sent"),
            Mark::Rto => ("retransmissions-rto", "#d62728", "retransmission: RTO"),
            Mark::Fast => ("retransmissions-fast", "#ff7f0e", "fast retransmission"),
            Mark::Sack => ("retransmissions-sack", "#9467bd", "SACK retransmission"),
            Mark::Rack => ("retransmissions-rack", "#e377c2", "RACK retransmission"),
            Mark::LossProbe => ("tail-loss-probes", "#7f7f7f", "tail loss probe"),
            Mark::Probe => ("window-probes", "#8c564b", "window probe"),
        }
    }
}

const ACK_COLOUR: &str = "#2ca02c";
const SACK_COLOUR: &str = "#17becf";
const WINDOW_COLOUR: &str = "#bcbd22";
const CWND_COLOUR: &str = "#444444";

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 760.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 720.0;
/// The sequence panel.
const SEQ_TOP: f64 = 50.0;
const SEQ_BOTTOM: f64 = 470.0;
/// The congestion-window panel.
const CWND_TOP: f64 = 540.0;
const CWND_BOTTOM: f64 = 700.0;

/// A linear map from data to pixels.
#[derive(Clone, Copy)]
struct Scale {
    from: (f64, f64),
    to: (f64, f64),
}

impl Scale {
    fn new(low: f64, high: f64, to: (f64, f64)) -> Scale {
        let high = if high > low { high } else { low + 1.0 };
        Scale {
            from: (low, high),
            to,
        }
    }

    fn map(self, value: f64) -> f64 {
        let (low, high) = self.from;
        self.to.0 + (value - low) / (high - low) * (self.to.1 - self.to.0)
    }
}

/// Tick positions from 0 to `max`: about five, at 1, 2 or 5 times a power of ten.
fn ticks(max: f64) -> Vec<f64> {
    if max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !max.is_finite() {
        return vec![0.0];
    }
    let rough = max / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    // The round step that gives closest to five intervals.
    let intervals = |step: f64| (max / step - 5.0).abs();
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .fold(power, |best, step| {
            if intervals(step) < intervals(best) {
                step
            } else {
                best
            }
        });
    let count = (max / step).floor() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// A tick label without needless zeros: `0.25`, `3`, `120000`.
fn label(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Text for an SVG text node or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draw `trace` as a time-sequence graph with `title` above it. Always a complete SVG
/// document, even for an empty trace.
pub fn time_sequence_svg(trace: &Trace, title: &str) -> String {
    let isn = trace.isn();
    let relative = |seq: SeqNum| f64::from(seq.0.wrapping_sub(isn.0));
    let seconds = |at: Duration| at.as_secs_f64();
    let data: Vec<&SentSegment> = trace.sent.iter().filter(|s| s.len > 0).collect();

    let end_time = trace
        .sent
        .iter()
        .map(|s| s.at)
        .chain(trace.acks.iter().map(|a| a.at))
        .max()
        .unwrap_or_default();
    let max_seq = data
        .iter()
        .map(|s| relative(s.seq) + f64::from(s.len))
        .chain(trace.acks.iter().map(|a| relative(a.ack)))
        .fold(1.0, f64::max);
    // Headroom above the data; the window line is clipped to it rather than squashing the data.
    let seq_top = max_seq * 1.1;
    let x = Scale::new(0.0, seconds(end_time), (LEFT, RIGHT));
    let y = Scale::new(0.0, seq_top, (SEQ_BOTTOM, SEQ_TOP));
    let finite_cwnd: Vec<(Duration, u32)> = trace
        .congestion_window
        .iter()
        .copied()
        .filter(|&(_, w)| w != u32::MAX)
        .collect();
    let max_cwnd = finite_cwnd
        .iter()
        .map(|&(_, w)| f64::from(w))
        .fold(1.0, f64::max);
    let c = Scale::new(0.0, max_cwnd * 1.1, (CWND_BOTTOM, CWND_TOP));

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<title>{title}</title>
<rect width="100%" height="100%" fill="white"/>
<text id="title" x="10" y="26" font-size="13">{title}</text>
<clipPath id="seq-panel"><rect x="{LEFT}" y="{SEQ_TOP}" width="{w}" height="{h}"/></clipPath>"#,
        title = escape(title),
        w = RIGHT - LEFT,
        h = SEQ_BOTTOM - SEQ_TOP,
    );

    // Axes, ticks and grid.
    let _ = writeln!(svg, r##"<g id="axes" stroke="#000" fill="none">"##);
    for (top, bottom) in [(SEQ_TOP, SEQ_BOTTOM), (CWND_TOP, CWND_BOTTOM)] {
        let _ = writeln!(
            svg,
            r#"<rect x="{LEFT}" y="{top}" width="{}" height="{}"/>"#,
            RIGHT - LEFT,
            bottom - top
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(svg, r##"<g id="ticks" font-size="11" fill="#000">"##);
    for t in ticks(seconds(end_time)) {
        let px = x.map(t);
        for bottom in [SEQ_BOTTOM, CWND_BOTTOM] {
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#000"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 18.0,
                label(t)
            );
        }
    }
    for (scale, max, name) in [(y, seq_top, "seq"), (c, max_cwnd * 1.1, "cwnd")] {
        for v in ticks(max) {
            let py = scale.map(v);
            let _ = writeln!(
                svg,
                r##"<line class="{name}" x1="{:.1}" y1="{py:.1}" x2="{LEFT}" y2="{py:.1}" stroke="#000"/><line x1="{LEFT}" y1="{py:.1}" x2="{RIGHT}" y2="{py:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT - 5.0,
                LEFT - 8.0,
                py + 4.0,
                label(v)
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{mid:.1}" y="{t1:.1}" text-anchor="middle">time (s)</text>
<text x="{mid:.1}" y="{t2:.1}" text-anchor="middle">time (s)</text>
<text transform="translate(22 {ys:.1}) rotate(-90)" text-anchor="middle">relative sequence number (bytes)</text>
<text transform="translate(22 {yc:.1}) rotate(-90)" text-anchor="middle">cwnd (bytes)</text>
</g>"#,
        mid = (LEFT + RIGHT) / 2.0,
        t1 = SEQ_BOTTOM + 34.0,
        t2 = CWND_BOTTOM + 34.0,
        ys = (SEQ_TOP + SEQ_BOTTOM) / 2.0,
        yc = (CWND_TOP + CWND_BOTTOM) / 2.0,
    );

    // The receive window's right edge and the ACK line, as steps.
    let step_points = |value: &dyn Fn(&AckSample) -> f64| {
        let mut points = String::new();
        let mut last: Option<f64> = None;
        for ack in &trace.acks {
            let (px, py) = (x.map(seconds(ack.at)), y.map(value(ack).min(seq_top)));
            if let Some(previous) = last {
                let _ = write!(points, "{px:.1},{previous:.1} ");
            }
            let _ = write!(points, "{px:.1},{py:.1} ");
            last = Some(py);
        }
        points.trim_end().to_string()
    };
    let window_points = step_points(&|ack| relative(ack.ack) + f64::from(ack.window));
    let ack_points = step_points(&|ack| relative(ack.ack));
    let _ = writeln!(
        svg,
        r#"<polyline id="window" class="series" clip-path="url(#seq-panel)" fill="none" stroke="{WINDOW_COLOUR}" stroke-width="1.2" points="{window_points}"/>
<polyline id="ack" class="series" fill="none" stroke="{ACK_COLOUR}" stroke-width="1.5" points="{ack_points}"/>"#
    );

    // SACK blocks: what the receiver holds beyond the ACK, at the time the ACK arrived.
    let _ = writeln!(
        svg,
        r#"<g id="sack" class="series" stroke="{SACK_COLOUR}" stroke-width="3">"#
    );
    for ack in &trace.acks {
        for &(left, right) in &ack.sack {
            let px = x.map(seconds(ack.at));
            let _ = writeln!(
                svg,
                r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/>"#,
                y.map(relative(left)),
                y.map(relative(right))
            );
        }
    }
    let _ = writeln!(svg, "</g>");

    // Data segments, one series per reason, each mark a bar from the first byte to the last
    // with a dot at its start so that short segments stay visible.
    for mark in Mark::ALL {
        let (id, colour, _) = mark.style();
        let _ = writeln!(
            svg,
            r#"<g id="{id}" class="series" stroke="{colour}" fill="{colour}" stroke-width="1.5">"#
        );
        for segment in data.iter().filter(|s| Mark::of(s.reason) == mark) {
            let px = x.map(seconds(segment.at));
            let (low, high) = (
                y.map(relative(segment.seq)),
                y.map(relative(segment.seq) + f64::from(segment.len)),
            );
            let radius = if mark == Mark::New { 1.5 } else { 3.5 };
            let _ = writeln!(
                svg,
                r#"<line x1="{px:.1}" y1="{low:.1}" x2="{px:.1}" y2="{high:.1}"/><circle cx="{px:.1}" cy="{high:.1}" r="{radius}"/>"#
            );
        }
        let _ = writeln!(svg, "</g>");
    }

    // The congestion window.
    let mut cwnd_points = String::new();
    let mut last: Option<f64> = None;
    for &(at, window) in &finite_cwnd {
        let (px, py) = (x.map(seconds(at)), c.map(f64::from(window)));
        if let Some(previous) = last {
            let _ = write!(cwnd_points, "{px:.1},{previous:.1} ");
        }
        let _ = write!(cwnd_points, "{px:.1},{py:.1} ");
        last = Some(py);
    }
    if let Some(previous) = last {
        let _ = write!(cwnd_points, "{:.1},{previous:.1}", x.map(seconds(end_time)));
    }
    let _ = writeln!(
        svg,
        r#"<polyline id="cwnd" class="series" fill="none" stroke="{CWND_COLOUR}" stroke-width="1.5" points="{}"/>"#,
        cwnd_points.trim_end()
    );
    if finite_cwnd.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no congestion control (cc fixed)</text>"#,
            (LEFT + RIGHT) / 2.0,
            (CWND_TOP + CWND_BOTTOM) / 2.0
        );
    }

    // The legend, right of the panels.
    let _ = writeln!(svg, r#"<g id="legend">"#);
    let mut entries: Vec<(&str, &str)> = Mark::ALL
        .iter()
        .map(|mark| {
            let (_, colour, text) = mark.style();
            (colour, text)
        })
        .collect();
    entries.extend([
        (ACK_COLOUR, "ACK"),
        (SACK_COLOUR, "SACK block"),
        (WINDOW_COLOUR, "receive window (ACK + window)"),
        (CWND_COLOUR, "cwnd"),
    ]);
    for (i, (colour, text)) in entries.into_iter().enumerate() {
        let py = SEQ_TOP + 10.0 + i as f64 * 20.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x1}" y1="{py}" x2="{x2}" y2="{py}" stroke="{colour}" stroke-width="4"/><text x="{tx}" y="{ty}">{text}</text>"#,
            x1 = RIGHT + 15.0,
            x2 = RIGHT + 35.0,
            tx = RIGHT + 42.0,
            ty = py + 4.0,
        );
    }
    let _ = writeln!(svg, "</g>\n</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

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
        );
        trace.sent(
            ms(40),
            &datagram(Flags::ACK, 0, 1, 100, &[]),
            Reason::NewData,
        );
        trace.sent(ms(41), b"garbage", Reason::NewData);
        trace.received(ms(80), &datagram(Flags::ACK, 1, 100, 0, &[(200, 300)]));
        trace.received(ms(81), &datagram(Flags::RST | Flags::ACK, 1, 100, 0, &[]));
        trace.received(ms(82), b"garbage");
        for (at, window) in [(0, 10), (1, 10), (2, 20)] {
            trace.congestion_window(ms(at), window);
        }
        assert_eq!(trace.sent.len(), 2);
        assert_eq!(trace.acks.len(), 1);
        assert_eq!(trace.acks[0].sack, [(SeqNum(200), SeqNum(300))]);
        assert_eq!(trace.congestion_window, [(ms(0), 10), (ms(2), 20)]);
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
}
