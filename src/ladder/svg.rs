//! The ladder drawn as SVG by hand, deterministically (the same ladder gives the same bytes):
//! the header (title, legend, host names), the time axis, the host lines, the timer marks,
//! the arrows and their labels.
//!
//! Everything placed in time carries its time in seconds (`data-t`, or `data-t1` and `data-t2`
//! for a line's ends), so that the page's script can move it when the time axis is zoomed or
//! panned: the time scale is the one thing the script changes, by the same linear map as
//! [`Layout::y`]. The `id`s and classes are stable, for tests and scripts: `datagrams` holds
//! one `g.datagram` per arrow (`data-i`, its index in [`Ladder::datagrams`]), `labels` one
//! `text.label` per arrow, `timers` one `g.timer` per mark.

use std::fmt::Write as _;
use std::time::Duration;

use super::text::{details, fate_mark, label, relative_numbers, timer_details};
use super::{Datagram, Fate, Ladder};
use crate::conn::Reason;
use crate::plot::escape;
use crate::wire::Flags;

/// Where the plot starts, below the title, the legend and the host names.
const TOP: f64 = 100.0;
/// Where the time axis starts: room above its first moment for a label.
const AXIS_TOP: f64 = TOP + 16.0;
/// Room below the axis's end.
const BOTTOM_MARGIN: f64 = 30.0;
/// The time axis's labels end here.
const AXIS_X: f64 = 66.0;
/// The first host's line, and the room right of the last one (for labels and timer names).
const OUTER_X: f64 = 290.0;
/// Between two hosts' lines: room for a label from each side.
const HOST_GAP: f64 = 560.0;
/// A label this close (in pixels) below the previous one from the same host in the same
/// direction is hidden: it would overprint it.
pub(super) const LABEL_SPACING: f64 = 12.0;
/// How tall the drawing is: tall enough that labels of a column the typical (median) time
/// apart clear each other (but never so as to part arrivals less than [`CLOSEST_PARTED`]
/// apart), within these bounds. Closer ones show when the page is zoomed.
const MIN_PLOT_HEIGHT: f64 = 400.0;
const MAX_PLOT_HEIGHT: f64 = 30_000.0;
const CLOSEST_PARTED: Duration = Duration::from_micros(100);

/// What each arrow is, by the reason it was sent: its colour and CSS class.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SYN, FIN or RST.
    Control,
    /// New data.
    Data,
    /// A pure acknowledgment.
    Ack,
    /// Anything sent again.
    Retransmission,
    /// A window probe, keepalive, or new data sent as a tail loss probe.
    Probe,
    /// Not a segment at all.
    Other,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Data,
        Kind::Ack,
        Kind::Control,
        Kind::Retransmission,
        Kind::Probe,
        Kind::Other,
    ];

    fn of(datagram: &Datagram) -> Kind {
        let Some(segment) = &datagram.segment else {
            return Kind::Other;
        };
        match datagram.reason {
            Some(
                Reason::RtoRetransmission { .. }
                | Reason::FastRetransmission
                | Reason::SackRetransmission
                | Reason::RackRetransmission
                | Reason::TailLossProbe
                | Reason::RenegeRetransmission,
            ) => Kind::Retransmission,
            Some(Reason::WindowProbe | Reason::Keepalive | Reason::TailLossProbeNewData) => {
                Kind::Probe
            }
            _ if segment.len > 0 => Kind::Data,
            _ if segment
                .flags
                .intersects(Flags::SYN | Flags::FIN | Flags::RST) =>
            {
                Kind::Control
            }
            _ => Kind::Ack,
        }
    }

    /// (CSS class, colour, legend text)
    fn style(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Data => ("data", "#1f4e9c", "data"),
            Kind::Ack => ("ack", "#2a8a2a", "ACK"),
            Kind::Control => ("control", "#222222", "SYN, FIN, RST"),
            Kind::Retransmission => ("retransmission", "#d62728", "retransmission"),
            Kind::Probe => ("probe", "#b5651d", "probe"),
            Kind::Other => ("other", "#888888", "no segment"),
        }
    }
}

const DROP_COLOUR: &str = "#d62728";
const TIMER_COLOUR: &str = "#e08a00";

/// Where everything goes.
pub(super) struct Layout {
    /// The time at the top of the axis and at its end, in seconds.
    t_start: f64,
    t_end: f64,
    /// Pixels per second of the time axis.
    pixels_per_second: f64,
    /// Each host's line.
    host_x: Vec<f64>,
    pub(super) width: f64,
    pub(super) height: f64,
}

impl Layout {
    fn new(ladder: &Ladder, drawn: &[&Datagram], transit: &Transit) -> Layout {
        let t_start = ladder.window.start.as_secs_f64();
        let last = drawn
            .iter()
            .map(|datagram| end_time(datagram, transit).unwrap_or(datagram.sent_at))
            .chain(ladder.timers.iter().map(|mark| mark.at))
            .max()
            .unwrap_or(ladder.window.start)
            .min(ladder.window.end)
            .as_secs_f64();
        // At least a millisecond, so that an empty or instantaneous ladder still has a scale.
        let t_end = last.max(t_start + 0.001);
        let span = t_end - t_start;
        let typical = typical_label_gap(drawn, transit).max(CLOSEST_PARTED);
        let plot_height =
            (span * LABEL_SPACING / typical.as_secs_f64()).clamp(MIN_PLOT_HEIGHT, MAX_PLOT_HEIGHT);
        let host_x: Vec<f64> = (0..ladder.hosts.len().max(1))
            .map(|host| OUTER_X + host as f64 * HOST_GAP)
            .collect();
        let width = host_x.last().copied().unwrap_or(OUTER_X) + OUTER_X;
        Layout {
            t_start,
            t_end,
            pixels_per_second: plot_height / span,
            host_x,
            width,
            height: AXIS_TOP + plot_height + BOTTOM_MARGIN,
        }
    }

    /// The vertical position of a time: the script's `y` is the same map.
    fn y(&self, at: Duration) -> f64 {
        AXIS_TOP + (at.as_secs_f64() - self.t_start) * self.pixels_per_second
    }

    fn x(&self, host: usize) -> f64 {
        self.host_x.get(host).copied().unwrap_or(OUTER_X)
    }
}

/// The column of an arrow's label (see [`labels`]): the line it ends on (or the link, for a
/// drop), and the side it comes from (hosts are drawn left to right in index order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Column {
    to: usize,
    rightwards: bool,
    dropped: bool,
}

impl Column {
    fn of(datagram: &Datagram) -> Column {
        Column {
            to: datagram.to,
            rightwards: datagram.to >= datagram.from,
            dropped: matches!(datagram.fate, Fate::Dropped { .. }),
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = if self.rightwards { "r" } else { "l" };
        let drop = if self.dropped { "x" } else { "" };
        write!(f, "{}{side}{drop}", self.to)
    }
}

/// When an arrow ends: at the arrival; halfway across, at the direction's usual slope, for a
/// drop (or later, where the queue dropped it); `None` for one still in flight (it runs to the
/// end of the axis).
fn end_time(datagram: &Datagram, transit: &Transit) -> Option<Duration> {
    match &datagram.fate {
        Fate::Arrived { at, .. } => Some(*at),
        Fate::Dropped { at, .. } => {
            Some((datagram.sent_at + transit.across(datagram.from, datagram.to) / 2).max(*at))
        }
        Fate::InFlight => None,
    }
}

/// The median time between the ends of two successive arrows labelled in the same column,
/// among those apart at all.
fn typical_label_gap(drawn: &[&Datagram], transit: &Transit) -> Duration {
    let mut ends: Vec<(Column, Duration)> = drawn
        .iter()
        .map(|datagram| {
            let at = end_time(datagram, transit).unwrap_or(datagram.sent_at);
            (Column::of(datagram), at)
        })
        .collect();
    ends.sort_unstable();
    let mut gaps: Vec<Duration> = ends
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| pair[1].1 - pair[0].1)
        .filter(|gap| !gap.is_zero())
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(Duration::MAX)
}

/// Seconds for a `data-t` attribute: to the microsecond, as the captures.
fn t(at: Duration) -> String {
    format!("{:.6}", at.as_secs_f64())
}

/// Draw `ladder` with `title` above it. Always a complete SVG document, even for an empty
/// ladder.
pub fn ladder_svg(ladder: &Ladder, title: &str) -> String {
    let relative = relative_numbers(&ladder.datagrams);
    let drawn: Vec<usize> = (0..ladder.datagrams.len())
        .filter(|&index| ladder.datagrams[index].in_window(&ladder.window))
        .collect();
    let drawn_datagrams: Vec<&Datagram> = drawn.iter().map(|&i| &ladder.datagrams[i]).collect();
    let transit = Transit::of(ladder);
    let layout = Layout::new(ladder, &drawn_datagrams, &transit);
    let mut svg = String::new();
    header(&mut svg, ladder, title, &layout, drawn.len());
    hosts(&mut svg, ladder, &layout);
    ticks(&mut svg, &layout);
    timers(&mut svg, ladder, &layout);
    let _ = writeln!(svg, r#"<g id="datagrams" clip-path="url(#plot-area)">"#);
    for &index in &drawn {
        arrow(
            &mut svg,
            ladder,
            index,
            relative[index].as_ref(),
            &layout,
            &transit,
        );
    }
    let _ = writeln!(svg, "</g>");
    labels(&mut svg, ladder, &drawn, &relative, &layout, &transit);
    let _ = writeln!(svg, "</svg>");
    svg
}

/// The document's start: size, scale (for the script), styles, arrowheads, title, legend.
fn header(svg: &mut String, ladder: &Ladder, title: &str, layout: &Layout, drawn: usize) {
    let (width, height) = (layout.width, layout.height);
    let _ = writeln!(
        svg,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" id="ladder" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="11" data-top="{AXIS_TOP}" data-bottom-margin="{BOTTOM_MARGIN}" data-t-start="{t_start:.6}" data-t-end="{t_end:.6}" data-pixels-per-second="{pps:.3}" data-label-spacing="{LABEL_SPACING}" data-axis-x="{AXIS_X}">
<title>{title}</title>
<style>
.arrow {{ stroke-width: 1.4; fill: none; }}
.hit {{ stroke: transparent; stroke-width: 9; fill: none; pointer-events: stroke; cursor: pointer; }}
.corrupt .arrow {{ stroke-dasharray: 6 4; stroke: {DROP_COLOUR}; }}
.in-flight .arrow {{ stroke-dasharray: 2 3; }}
.cross path {{ stroke: {DROP_COLOUR}; stroke-width: 2.2; }}
.cross text, .fate {{ fill: {DROP_COLOUR}; }}
.label, .fate, .cross text, .timer text {{ paint-order: stroke; stroke: white; stroke-width: 3px; stroke-linejoin: round; }}
.host-line {{ stroke: #555; stroke-width: 2; }}
.grid {{ stroke: #ececec; }}
.timer circle {{ fill: {TIMER_COLOUR}; }}
.timer text {{ fill: #8a5300; }}
.selected .arrow {{ stroke-width: 3.5; }}"##,
        t_start = layout.t_start,
        t_end = layout.t_end,
        pps = layout.pixels_per_second,
        title = escape(title),
    );
    for kind in Kind::ALL {
        let (class, colour, _) = kind.style();
        let _ = writeln!(
            svg,
            ".{class} .arrow {{ stroke: {colour}; }} .{class}.label {{ fill: {colour}; }}"
        );
    }
    let _ = writeln!(svg, "</style>\n<defs>");
    for kind in Kind::ALL {
        let (class, colour, _) = kind.style();
        let _ = writeln!(
            svg,
            r#"<marker id="head-{class}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>"#
        );
    }
    let _ = writeln!(
        svg,
        r#"<clipPath id="plot-area"><rect id="plot-area-rect" x="0" y="{top}" width="{width}" height="{plot:.0}"/></clipPath>
</defs>
<rect width="100%" height="100%" fill="white"/>
<text id="title" x="10" y="22" font-size="13">{title}</text>"#,
        top = TOP,
        plot = height - TOP,
        title = escape(title),
    );
    let mut note = format!(
        "{drawn} datagrams from {} to {} (time runs down)",
        super::text::seconds(ladder.window.start),
        super::text::seconds(Duration::from_secs_f64(layout.t_end))
    );
    if ladder.omitted > 0 {
        let _ = write!(
            note,
            "; the first {drawn} of {} sent in the window: narrow the window to see the rest",
            drawn as u64 + ladder.omitted
        );
    }
    let _ = writeln!(
        svg,
        r#"<text id="window" x="10" y="40">{}</text>"#,
        escape(&note)
    );
    legend(svg);
}

/// One entry per kind of arrow, the drop, the corruption and the timer mark.
fn legend(svg: &mut String) {
    let _ = writeln!(svg, r#"<g id="legend">"#);
    let mut x = 10.0;
    let mut entry = |svg: &mut String, swatch: String, text: &str| {
        let _ = writeln!(
            svg,
            r#"<g transform="translate({x} 58)">{swatch}<text x="22" y="4">{text}</text></g>"#
        );
        x += 34.0 + text.len() as f64 * 6.2;
    };
    for kind in Kind::ALL {
        let (_, colour, text) = kind.style();
        entry(
            svg,
            format!(r#"<line x1="0" y1="0" x2="16" y2="0" stroke="{colour}" stroke-width="3"/>"#),
            text,
        );
    }
    entry(
        svg,
        format!(r#"<path d="M3,-5 L13,5 M3,5 L13,-5" stroke="{DROP_COLOUR}" stroke-width="2.2"/>"#),
        "dropped",
    );
    entry(
        svg,
        format!(
            r#"<line x1="0" y1="0" x2="16" y2="0" stroke="{DROP_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>"#
        ),
        "corrupted",
    );
    entry(
        svg,
        format!(r#"<circle cx="8" cy="0" r="4.5" fill="{TIMER_COLOUR}"/>"#),
        "timer fired",
    );
    let _ = writeln!(svg, "</g>");
}

/// Each host's name, address and time line.
fn hosts(svg: &mut String, ladder: &Ladder, layout: &Layout) {
    let _ = writeln!(svg, r#"<g id="hosts">"#);
    for (index, host) in ladder.hosts.iter().enumerate() {
        let x = layout.x(index);
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{name_y}" text-anchor="middle" font-size="14" font-weight="bold">{name}</text><text x="{x}" y="{address_y}" text-anchor="middle">{address}</text><line class="host-line" x1="{x}" y1="{TOP}" x2="{x}" y2="{bottom:.0}"/>"#,
            name_y = TOP - 22.0,
            address_y = TOP - 8.0,
            name = escape(&host.name),
            address = host.address,
            bottom = layout.height - BOTTOM_MARGIN,
        );
    }
    let _ = writeln!(svg, "</g>");
}

/// The step between time ticks: 1, 2 or 5 times a power of ten, at least `min_seconds`.
fn tick_step(min_seconds: f64) -> f64 {
    if !(min_seconds > 0.0 && min_seconds.is_finite()) {
        return 1.0;
    }
    let power = 10f64.powf(min_seconds.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= min_seconds)
        .unwrap_or(10.0 * power)
}

/// Horizontal grid lines at round times, about every 80 pixels, labelled in seconds.
fn ticks(svg: &mut String, layout: &Layout) {
    let step = tick_step(80.0 / layout.pixels_per_second);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let _ = writeln!(svg, r#"<g id="ticks" clip-path="url(#plot-area)">"#);
    let first = (layout.t_start / step).ceil() as i64;
    let last = (layout.t_end / step).floor() as i64;
    for n in first..=last {
        let at = n as f64 * step;
        let y = AXIS_TOP + (at - layout.t_start) * layout.pixels_per_second;
        let _ = writeln!(
            svg,
            r#"<line class="grid" x1="{AXIS_X}" y1="{y:.1}" x2="{width}" y2="{y:.1}" data-t1="{at:.6}" data-t2="{at:.6}"/><text class="tick" x="{AXIS_X}" y="{ty:.1}" text-anchor="end" data-t="{at:.6}" data-dy="4">{at:.decimals$} s</text>"#,
            width = layout.width,
            ty = y + 4.0,
        );
    }
    let _ = writeln!(svg, "</g>");
}

/// A dot on the host's line where a timer fired, named on the outer side (left of the first
/// host, where its own labels do not go; right of the others).
fn timers(svg: &mut String, ladder: &Ladder, layout: &Layout) {
    let _ = writeln!(svg, r#"<g id="timers" clip-path="url(#plot-area)">"#);
    for mark in &ladder.timers {
        if !ladder.window.contains(&mark.at) {
            continue;
        }
        let (text_x, anchor) = if mark.host == 0 {
            (-9.0, "end")
        } else {
            (9.0, "start")
        };
        let _ = writeln!(
            svg,
            r#"<g class="timer" data-t="{at}" data-x="{x}" transform="translate({x} {y:.1})"><title>{details}</title><circle r="4.5"/><text x="{text_x}" y="4" text-anchor="{anchor}">{name}</text></g>"#,
            at = t(mark.at),
            x = layout.x(mark.host),
            y = layout.y(mark.at),
            details = escape(&timer_details(ladder, mark)),
            name = escape(&mark.timer.to_string()),
        );
    }
    let _ = writeln!(svg, "</g>");
}

/// How long datagrams took across each direction: a dropped datagram's arrow heads across at
/// the same slope and ends halfway, where the link lost it.
struct Transit {
    /// The median transit of the datagrams that arrived, by (from, to).
    by_direction: std::collections::HashMap<(usize, usize), Duration>,
    /// Over all directions, for a direction where nothing arrived.
    overall: Duration,
}

impl Transit {
    fn of(ladder: &Ladder) -> Transit {
        let mut all = Vec::new();
        let mut by_direction: std::collections::HashMap<(usize, usize), Vec<Duration>> =
            std::collections::HashMap::new();
        for datagram in &ladder.datagrams {
            if let Fate::Arrived { at, .. } = datagram.fate {
                let transit = at.saturating_sub(datagram.sent_at);
                all.push(transit);
                by_direction
                    .entry((datagram.from, datagram.to))
                    .or_default()
                    .push(transit);
            }
        }
        let median = |mut transits: Vec<Duration>| {
            transits.sort_unstable();
            transits
                .get(transits.len() / 2)
                .copied()
                .unwrap_or_default()
        };
        Transit {
            by_direction: by_direction
                .into_iter()
                .map(|(direction, transits)| (direction, median(transits)))
                .collect(),
            overall: median(all),
        }
    }

    fn across(&self, from: usize, to: usize) -> Duration {
        self.by_direction
            .get(&(from, to))
            .copied()
            .unwrap_or(self.overall)
    }
}

/// Where an arrow ends: at the receiver's line when the datagram arrived (or, still in
/// flight, at the end of the axis), halfway across where the link dropped it.
struct ArrowEnd {
    x: f64,
    at: Duration,
    /// The CSS class of its fate: "", " corrupt", " dropped" or " in-flight".
    state: &'static str,
}

impl ArrowEnd {
    fn of(datagram: &Datagram, layout: &Layout, transit: &Transit) -> ArrowEnd {
        let (x1, x2) = (layout.x(datagram.from), layout.x(datagram.to));
        let at = end_time(datagram, transit)
            .unwrap_or_else(|| Duration::from_secs_f64(layout.t_end).max(datagram.sent_at));
        let (x, state) = match &datagram.fate {
            Fate::Arrived { intact: true, .. } => (x2, ""),
            Fate::Arrived { intact: false, .. } => (x2, " corrupt"),
            Fate::Dropped { .. } => ((x1 + x2) / 2.0, " dropped"),
            Fate::InFlight => (x2, " in-flight"),
        };
        ArrowEnd { x, at, state }
    }
}

/// One datagram's arrow: to its arrival, or to a cross halfway where the link dropped it.
fn arrow(
    svg: &mut String,
    ladder: &Ladder,
    index: usize,
    relative: Option<&super::text::RelativeSegment>,
    layout: &Layout,
    transit: &Transit,
) {
    let datagram = &ladder.datagrams[index];
    let (class, _, _) = Kind::of(datagram).style();
    let (x1, x2) = (layout.x(datagram.from), layout.x(datagram.to));
    let ArrowEnd {
        x: x_end,
        at: t_end,
        state,
    } = ArrowEnd::of(datagram, layout, transit);
    let head = state != " dropped";
    let (t1, t2) = (t(datagram.sent_at), t(t_end));
    let (y1, y2) = (layout.y(datagram.sent_at), layout.y(t_end));
    let marker = if head {
        let head_class = if state == " corrupt" {
            "retransmission"
        } else {
            class
        };
        format!(r#" marker-end="url(#head-{head_class})""#)
    } else {
        String::new()
    };
    let _ = writeln!(
        svg,
        r#"<g class="datagram {class}{state}" data-i="{index}" data-from="{from}" data-to="{to}"><title>{details}</title><line class="hit" x1="{x1}" y1="{y1:.1}" x2="{x_end}" y2="{y2:.1}" data-t1="{t1}" data-t2="{t2}"/><line class="arrow" x1="{x1}" y1="{y1:.1}" x2="{x_end}" y2="{y2:.1}" data-t1="{t1}" data-t2="{t2}"{marker}/>"#,
        from = datagram.from,
        to = datagram.to,
        details = escape(&details(ladder, index, relative)),
    );
    if let Some(mark) = fate_mark(datagram) {
        match &datagram.fate {
            Fate::Dropped { .. } => {
                let _ = writeln!(
                    svg,
                    r#"<g class="cross" data-t="{t2}" data-x="{x_end}" transform="translate({x_end} {y2:.1})"><path d="M-5,-5 L5,5 M-5,5 L5,-5"/><text y="17" text-anchor="middle">{mark}</text></g>"#,
                    mark = escape(&mark),
                );
            }
            _ => {
                // Beside the arrowhead, on the inner side of the receiver's line.
                let (x, anchor) = if x2 >= x1 {
                    (x2 - 12.0, "end")
                } else {
                    (x2 + 12.0, "start")
                };
                let _ = writeln!(
                    svg,
                    r#"<text class="fate" x="{x}" y="{y:.1}" text-anchor="{anchor}" data-t="{t2}" data-dy="13">{mark}</text>"#,
                    y = y2 + 13.0,
                    mark = escape(&mark),
                );
            }
        }
    }
    let _ = writeln!(svg, "</g>");
}

/// Each arrow's label, just above its end, before the arrowhead (or the cross): a burst of
/// segments leaves at one moment, but serialization spreads their arrivals, so there zooming
/// separates them. A label too close below the previous one shown in the same column (the
/// arrows ending on the same line from the same side) starts hidden.
fn labels(
    svg: &mut String,
    ladder: &Ladder,
    drawn: &[usize],
    relative: &[Option<super::text::RelativeSegment>],
    layout: &Layout,
    transit: &Transit,
) {
    let _ = writeln!(svg, r#"<g id="labels" clip-path="url(#plot-area)">"#);
    let mut last_shown: std::collections::HashMap<Column, f64> = std::collections::HashMap::new();
    let mut ends: Vec<(usize, ArrowEnd)> = drawn
        .iter()
        .map(|&index| {
            (
                index,
                ArrowEnd::of(&ladder.datagrams[index], layout, transit),
            )
        })
        .collect();
    // In the order they end, as the page's script thins them.
    ends.sort_by_key(|(index, end)| (end.at, *index));
    for (index, end) in ends {
        let datagram = &ladder.datagrams[index];
        let (class, _, _) = Kind::of(datagram).style();
        let column = Column::of(datagram);
        let (x, anchor) = if column.rightwards {
            (end.x - 10.0, "end")
        } else {
            (end.x + 10.0, "start")
        };
        let y = layout.y(end.at) - 3.0;
        let shown = last_shown
            .get(&column)
            .is_none_or(|&previous| y - previous >= LABEL_SPACING);
        if shown {
            last_shown.insert(column, y);
        }
        let _ = writeln!(
            svg,
            r#"<text class="label {class}" data-i="{index}" data-col="{column}" x="{x}" y="{y:.1}" text-anchor="{anchor}" data-t="{at}" data-dy="-3"{hidden}>{text}</text>"#,
            at = t(end.at),
            hidden = if shown { "" } else { r#" visibility="hidden""# },
            text = escape(&label(datagram, relative[index].as_ref())),
        );
    }
    let _ = writeln!(svg, "</g>");
}
