//! The time-sequence graph drawn as SVG by hand, deterministically: the frame (axes, ticks,
//! labels), then one function per series, then the legend.

use std::fmt::Write as _;
use std::time::Duration;

use super::trace::{AckSample, SentSegment, Trace};
use crate::conn::Reason;
use crate::wire::SeqNum;

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
            // The retransmission timer, brought forward, resends what the peer reneged on: drawn
            // as its expiry is (the legend lists every mark, so a mark of its own would change
            // every graph).
            Reason::RtoRetransmission { .. } | Reason::RenegeRetransmission => Mark::Rto,
            Reason::FastRetransmission => Mark::Fast,
            Reason::SackRetransmission => Mark::Sack,
            Reason::RackRetransmission => Mark::Rack,
            Reason::TailLossProbe | Reason::TailLossProbeNewData => Mark::LossProbe,
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
const SSTHRESH_COLOUR: &str = "#8b0000";
const RTO_COLOUR: &str = "#1f77b4";
const DROP_COLOUR: &str = "#000000";

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 920.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 720.0;
/// The sequence panel.
const SEQ_TOP: f64 = 50.0;
const SEQ_BOTTOM: f64 = 470.0;
/// The congestion-window panel (with the slow-start threshold).
const CWND_TOP: f64 = 540.0;
const CWND_BOTTOM: f64 = 700.0;
/// The RTO panel.
const RTO_TOP: f64 = 770.0;
const RTO_BOTTOM: f64 = 860.0;

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
pub(super) fn ticks(max: f64) -> Vec<f64> {
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
pub(super) fn label(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Text for an SVG (or HTML) text node or attribute.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where everything goes: the scales of both panels and the ranges they cover.
struct Frame {
    isn: SeqNum,
    end_time: Duration,
    /// The top of the sequence panel's range, with headroom above the data.
    seq_top: f64,
    max_cwnd: f64,
    /// The largest RTO, in seconds.
    max_rto: f64,
    x: Scale,
    y: Scale,
    c: Scale,
    r: Scale,
}

impl Frame {
    fn new(trace: &Trace, data: &[&SentSegment], finite_cwnd: &[(Duration, u32)]) -> Frame {
        let isn = trace.isn();
        let relative = |seq: SeqNum| f64::from(seq.0.wrapping_sub(isn.0));
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
        // Headroom above the data; the window line is clipped to it rather than squashing the
        // data.
        let seq_top = max_seq * 1.1;
        // The threshold shares the window's scale once a loss has set it.
        let max_cwnd = finite_cwnd
            .iter()
            .chain(finite(&trace.slow_start_threshold).iter())
            .map(|&(_, w)| f64::from(w))
            .fold(1.0, f64::max);
        let max_rto = trace
            .rto
            .iter()
            .map(|(_, rto)| rto.as_secs_f64())
            .fold(0.0, f64::max);
        Frame {
            isn,
            end_time,
            seq_top,
            max_cwnd,
            x: Scale::new(0.0, end_time.as_secs_f64(), (LEFT, RIGHT)),
            y: Scale::new(0.0, seq_top, (SEQ_BOTTOM, SEQ_TOP)),
            c: Scale::new(0.0, max_cwnd * 1.1, (CWND_BOTTOM, CWND_TOP)),
            max_rto,
            r: Scale::new(0.0, max_rto * 1.1, (RTO_BOTTOM, RTO_TOP)),
        }
    }

    fn relative(&self, seq: SeqNum) -> f64 {
        f64::from(seq.0.wrapping_sub(self.isn.0))
    }

    fn time(&self, at: Duration) -> f64 {
        self.x.map(at.as_secs_f64())
    }
}

/// Draw `trace` as a time-sequence graph with `title` above it. Always a complete SVG
/// document, even for an empty trace.
pub fn time_sequence_svg(trace: &Trace, title: &str) -> String {
    let data: Vec<&SentSegment> = trace.sent.iter().filter(|s| s.len > 0).collect();
    let finite_cwnd = finite(&trace.congestion_window);
    let frame = Frame::new(trace, &data, &finite_cwnd);
    let mut svg = String::new();
    header(&mut svg, title);
    axes(&mut svg, &frame);
    window_and_ack(&mut svg, trace, &frame);
    sack_blocks(&mut svg, trace, &frame);
    data_segments(&mut svg, &data, &frame);
    drops(&mut svg, &data, &frame);
    congestion_window(&mut svg, &finite_cwnd, &frame);
    slow_start_threshold(&mut svg, &finite(&trace.slow_start_threshold), &frame);
    rto(&mut svg, &trace.rto, &frame);
    legend(&mut svg);
    svg
}

/// The values of a window series that are set (`u32::MAX` stands for none).
fn finite(series: &[(Duration, u32)]) -> Vec<(Duration, u32)> {
    series
        .iter()
        .copied()
        .filter(|&(_, value)| value != u32::MAX)
        .collect()
}

/// A step line through `(at, value)` points already mapped to the panel's scale, held at its
/// last value to the end of the run.
fn step_line(points: impl IntoIterator<Item = (Duration, f64)>, frame: &Frame) -> String {
    let mut line = String::new();
    let mut last: Option<f64> = None;
    for (at, py) in points {
        let px = frame.time(at);
        if let Some(previous) = last {
            let _ = write!(line, "{px:.1},{previous:.1} ");
        }
        let _ = write!(line, "{px:.1},{py:.1} ");
        last = Some(py);
    }
    if let Some(previous) = last {
        let _ = write!(line, "{:.1},{previous:.1}", frame.time(frame.end_time));
    }
    line.trim_end().to_string()
}

/// The document's start: size, title, background, the sequence panel's clip.
fn header(svg: &mut String, title: &str) {
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
}

/// Both panels' boxes, ticks, grid lines and axis titles.
fn axes(svg: &mut String, frame: &Frame) {
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
    for t in ticks(frame.end_time.as_secs_f64()) {
        let px = frame.x.map(t);
        for bottom in [SEQ_BOTTOM, CWND_BOTTOM, RTO_BOTTOM] {
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#000"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 18.0,
                label(t)
            );
        }
    }
    for (scale, max, name) in [
        (frame.y, frame.seq_top, "seq"),
        (frame.c, frame.max_cwnd * 1.1, "cwnd"),
    ] {
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
<text x="{mid:.1}" y="{t3:.1}" text-anchor="middle">time (s)</text>
<text transform="translate(22 {ys:.1}) rotate(-90)" text-anchor="middle">relative sequence number (bytes)</text>
<text transform="translate(22 {yc:.1}) rotate(-90)" text-anchor="middle">cwnd (bytes)</text>
</g>"#,
        mid = (LEFT + RIGHT) / 2.0,
        t1 = SEQ_BOTTOM + 34.0,
        t2 = CWND_BOTTOM + 34.0,
        t3 = RTO_BOTTOM + 34.0,
        ys = (SEQ_TOP + SEQ_BOTTOM) / 2.0,
        yc = (CWND_TOP + CWND_BOTTOM) / 2.0,
    );
}

/// The receive window's right edge and the cumulative ACK, as steps.
fn window_and_ack(svg: &mut String, trace: &Trace, frame: &Frame) {
    let step_points = |value: &dyn Fn(&AckSample) -> f64| {
        let mut points = String::new();
        let mut last: Option<f64> = None;
        for ack in &trace.acks {
            let (px, py) = (
                frame.time(ack.at),
                frame.y.map(value(ack).min(frame.seq_top)),
            );
            if let Some(previous) = last {
                let _ = write!(points, "{px:.1},{previous:.1} ");
            }
            let _ = write!(points, "{px:.1},{py:.1} ");
            last = Some(py);
        }
        points.trim_end().to_string()
    };
    let window_points = step_points(&|ack| frame.relative(ack.ack) + f64::from(ack.window));
    let ack_points = step_points(&|ack| frame.relative(ack.ack));
    let _ = writeln!(
        svg,
        r#"<polyline id="window" class="series" clip-path="url(#seq-panel)" fill="none" stroke="{WINDOW_COLOUR}" stroke-width="1.2" points="{window_points}"/>
<polyline id="ack" class="series" fill="none" stroke="{ACK_COLOUR}" stroke-width="1.5" points="{ack_points}"/>"#
    );
}

/// SACK blocks: what the receiver holds beyond the ACK, at the time the ACK arrived.
fn sack_blocks(svg: &mut String, trace: &Trace, frame: &Frame) {
    let _ = writeln!(
        svg,
        r#"<g id="sack" class="series" stroke="{SACK_COLOUR}" stroke-width="3">"#
    );
    for ack in &trace.acks {
        for &(left, right) in &ack.sack {
            let px = frame.time(ack.at);
            let _ = writeln!(
                svg,
                r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/>"#,
                frame.y.map(frame.relative(left)),
                frame.y.map(frame.relative(right))
            );
        }
    }
    let _ = writeln!(svg, "</g>");
}

/// Data segments, one series per reason, each mark a bar from the first byte to the last with
/// a dot at its start so that short segments stay visible.
fn data_segments(svg: &mut String, data: &[&SentSegment], frame: &Frame) {
    for mark in Mark::ALL {
        let (id, colour, _) = mark.style();
        let _ = writeln!(
            svg,
            r#"<g id="{id}" class="series" stroke="{colour}" fill="{colour}" stroke-width="1.5">"#
        );
        for segment in data.iter().filter(|s| Mark::of(s.reason) == mark) {
            let px = frame.time(segment.at);
            let (low, high) = (
                frame.y.map(frame.relative(segment.seq)),
                frame
                    .y
                    .map(frame.relative(segment.seq) + f64::from(segment.len)),
            );
            let radius = if mark == Mark::New { 1.5 } else { 3.5 };
            let _ = writeln!(
                svg,
                r#"<line x1="{px:.1}" y1="{low:.1}" x2="{px:.1}" y2="{high:.1}"/><circle cx="{px:.1}" cy="{high:.1}" r="{radius}"/>"#
            );
        }
        let _ = writeln!(svg, "</g>");
    }
}

/// The congestion window, as steps, in the lower panel.
fn congestion_window(svg: &mut String, finite_cwnd: &[(Duration, u32)], frame: &Frame) {
    window_line(svg, "cwnd", CWND_COLOUR, "1.5", finite_cwnd, frame);
    if finite_cwnd.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no congestion control (cc fixed)</text>"#,
            (LEFT + RIGHT) / 2.0,
            (CWND_TOP + CWND_BOTTOM) / 2.0
        );
    }
}

/// The slow-start threshold, dashed, in the window's panel, from the first loss that set it.
fn slow_start_threshold(svg: &mut String, finite_ssthresh: &[(Duration, u32)], frame: &Frame) {
    window_line(
        svg,
        "ssthresh",
        SSTHRESH_COLOUR,
        r#"1.2" stroke-dasharray="6 4"#,
        finite_ssthresh,
        frame,
    );
}

/// A window series (bytes over time) as steps in the window's panel: a polyline with this
/// `id`, colour and stroke.
fn window_line(
    svg: &mut String,
    id: &str,
    colour: &str,
    stroke: &str,
    series: &[(Duration, u32)],
    frame: &Frame,
) {
    let points = step_line(
        series
            .iter()
            .map(|&(at, bytes)| (at, frame.c.map(f64::from(bytes)))),
        frame,
    );
    let _ = writeln!(
        svg,
        r#"<polyline id="{id}" class="series" fill="none" stroke="{colour}" stroke-width="{stroke}" points="{points}"/>"#
    );
}

/// The RTO, as steps, in its own panel at the bottom, with its axis.
fn rto(svg: &mut String, rto: &[(Duration, Duration)], frame: &Frame) {
    let _ = writeln!(
        svg,
        r##"<g id="rto-axes" stroke="#000" fill="none"><rect x="{LEFT}" y="{RTO_TOP}" width="{}" height="{}"/></g>"##,
        RIGHT - LEFT,
        RTO_BOTTOM - RTO_TOP
    );
    let _ = writeln!(svg, r##"<g id="rto-ticks" font-size="11" fill="#000">"##);
    for v in ticks(frame.max_rto * 1.1) {
        let py = frame.r.map(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{py:.1}" x2="{LEFT}" y2="{py:.1}" stroke="#000"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 5.0,
            LEFT - 8.0,
            py + 4.0,
            label(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">RTO (s)</text></g>"#,
        (RTO_TOP + RTO_BOTTOM) / 2.0
    );
    let points = step_line(
        rto.iter()
            .map(|&(at, rto)| (at, frame.r.map(rto.as_secs_f64()))),
        frame,
    );
    let _ = writeln!(
        svg,
        r#"<polyline id="rto" class="series" fill="none" stroke="{RTO_COLOUR}" stroke-width="1.5" points="{points}"/>"#
    );
}

/// A cross at the top of each data segment a fault dropped: it never reached the peer.
fn drops(svg: &mut String, data: &[&SentSegment], frame: &Frame) {
    let _ = writeln!(
        svg,
        r#"<g id="drops" class="series" stroke="{DROP_COLOUR}" stroke-width="1.5">"#
    );
    for segment in data.iter().filter(|segment| segment.dropped) {
        let px = frame.time(segment.at);
        let py = frame
            .y
            .map(frame.relative(segment.seq) + f64::from(segment.len));
        let _ = writeln!(
            svg,
            r#"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}"/>"#,
            px - 5.0,
            py - 5.0,
            px + 5.0,
            py + 5.0,
            px - 5.0,
            py + 5.0,
            px + 5.0,
            py - 5.0
        );
    }
    let _ = writeln!(svg, "</g>");
}

/// The legend, right of the panels, and the document's end.
fn legend(svg: &mut String) {
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
        (SSTHRESH_COLOUR, "ssthresh"),
        (RTO_COLOUR, "RTO"),
        (DROP_COLOUR, "dropped by a fault (cross)"),
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
}
