//! The ladder's words and drawing, checked on a small hand-made exchange: a handshake, data
//! the link loses, data it corrupts, a SACK, a timer.

use std::net::SocketAddr;
use std::time::Duration;

use super::text::{label, relative_numbers};
use super::*;

const ISN_A: u32 = 4_000_000_000; // wraps: relative numbers must not care
const ISN_B: u32 = 7;

fn address(host: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1 + host as u8], 4747))
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A datagram from `from` to the other host, sent at `sent` ms, arrived 20 ms later.
fn datagram(from: usize, sent: u64, flags: Flags, seq: u32, ack: u32, len: u32) -> Datagram {
    Datagram {
        from,
        to: 1 - from,
        source: address(from),
        destination: address(1 - from),
        sent_at: ms(sent),
        segment: Some(SegmentSummary {
            flags,
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            window: 65_536,
            len,
            sack: Vec::new(),
        }),
        len: 24 + len as usize,
        reason: Some(if len > 0 {
            Reason::NewData
        } else {
            Reason::Handshake
        }),
        link: None,
        duplicate: false,
        fate: Fate::Arrived {
            at: ms(sent + 20),
            intact: true,
            receiver_frame: Some(sent + 1),
        },
        sender_frame: Some(sent + 1),
        description: None,
    }
}

/// SYN, SYN-ACK, the first data segment lost, the second corrupted, a SACK for a third, and
/// A's retransmission timer firing.
fn exchange() -> Ladder {
    let syn = datagram(0, 0, Flags::SYN, ISN_A, 0, 0);
    let syn_ack = datagram(
        1,
        20,
        Flags::SYN | Flags::ACK,
        ISN_B,
        ISN_A.wrapping_add(1),
        0,
    );
    let mut lost = datagram(0, 40, Flags::ACK, ISN_A.wrapping_add(1), ISN_B + 1, 1200);
    lost.fate = Fate::Dropped {
        at: ms(40),
        cause: "dropped (loss)".to_string(),
    };
    let mut corrupted = datagram(0, 41, Flags::ACK, ISN_A.wrapping_add(1201), ISN_B + 1, 1200);
    corrupted.link = Some("bit 113 flipped".to_string());
    corrupted.fate = Fate::Arrived {
        at: ms(61),
        intact: false,
        receiver_frame: Some(5),
    };
    let third = datagram(0, 42, Flags::ACK, ISN_A.wrapping_add(2401), ISN_B + 1, 1200);
    let mut sack = datagram(1, 62, Flags::ACK, ISN_B + 1, ISN_A.wrapping_add(1), 0);
    sack.reason = Some(Reason::Ack);
    if let Some(segment) = &mut sack.segment {
        segment.sack = vec![(ISN_A.wrapping_add(2401), ISN_A.wrapping_add(3601))]
            .into_iter()
            .map(|(left, right)| (SeqNum(left), SeqNum(right)))
            .collect();
    }
    Ladder {
        hosts: ["A", "B"]
            .iter()
            .enumerate()
            .map(|(host, name)| LadderHost {
                name: name.to_string(),
                address: address(host).to_string(),
                capture: None,
            })
            .collect(),
        datagrams: vec![syn, syn_ack, lost, corrupted, third, sack],
        timers: vec![TimerMark {
            host: 0,
            at: ms(240),
            timer: FiredTimer::Retransmission { expiry: 1 },
        }],
        window: Duration::ZERO..Duration::MAX,
        omitted: 0,
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn relative_numbers_count_from_each_direction_syn_across_the_wrap() {
    let ladder = exchange();
    let relative = relative_numbers(&ladder.datagrams);
    let numbers: Vec<(u32, u32)> = relative
        .iter()
        .map(|r| r.as_ref().map(|r| (r.seq, r.ack)).unwrap())
        .collect();
    assert_eq!(
        numbers,
        [(0, 0), (0, 1), (1, 1), (1201, 1), (2401, 1), (1, 1)],
        "the SYN's own ack field is raw (0): no SYN from B yet"
    );
    assert_eq!(relative[5].as_ref().unwrap().sack, [(2401, 3601)]);
}

#[test]
fn labels_say_flags_numbers_length_sack_and_reason_as_wireshark_does() {
    let ladder = exchange();
    let relative = relative_numbers(&ladder.datagrams);
    let text = |i: usize| label(&ladder.datagrams[i], relative[i].as_ref());
    assert_eq!(text(0), "[SYN] Seq=0 Len=0 · handshake");
    assert_eq!(text(1), "[SYN, ACK] Seq=0 Ack=1 Len=0 · handshake");
    assert_eq!(text(2), "[ACK] Seq=1 Ack=1 Len=1200 · new data");
    assert_eq!(text(5), "[ACK] Seq=1 Ack=1 Len=0 SACK=2401-3601 · ACK");
    let mut garbage = ladder.datagrams[0].clone();
    (garbage.segment, garbage.reason, garbage.len) = (None, None, 7);
    assert_eq!(label(&garbage, None), "7 bytes, no segment");
}

#[test]
fn the_svg_draws_an_arrow_per_datagram_a_cross_per_drop_and_marks_corruption_and_timers() {
    let ladder = exchange();
    let svg = ladder_svg(&ladder, "a <small> exchange");
    assert!(svg.starts_with("<?xml"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(count(&svg, r#"<g class="datagram "#), 6);
    assert_eq!(count(&svg, r#"<line class="arrow""#), 6);
    assert_eq!(count(&svg, r#"<text class="label "#), 6);
    // The lost segment ends in one cross, named with the fault, and has no arrowhead.
    assert_eq!(count(&svg, r#"<g class="cross""#), 1);
    assert!(svg.contains(">dropped (loss)</text>"));
    let lost = svg
        .lines()
        .find(|line| line.contains(r#"data-i="2""#) && line.contains("<g class"))
        .unwrap();
    assert!(
        lost.contains("dropped") && !lost.contains("marker-end"),
        "{lost}"
    );
    // The corrupted one is dashed (its class) and says what happened.
    assert_eq!(count(&svg, r#" corrupt" data-i="3""#), 1);
    assert!(svg.contains(">bit 113 flipped: discarded</text>"));
    // The timer, on A's line.
    assert_eq!(count(&svg, r#"<g class="timer""#), 1);
    assert!(svg.contains(">RTO #1</text>"));
    // Details in each arrow's tooltip: frames in both captures.
    assert!(svg.contains("sent at 0.041000 s, frame 42 in A's capture"));
    assert!(svg.contains("frame 5 in B's capture"));
    // Text is escaped, numbers are finite.
    assert!(svg.contains("a &lt;small&gt; exchange"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn a_window_draws_only_what_was_sent_in_it_numbered_from_the_syn_before_it() {
    let mut ladder = exchange();
    ladder.window = ms(30)..ms(50);
    ladder.omitted = 4;
    let svg = ladder_svg(&ladder, "window");
    // The three data segments sent from 40 to 42 ms; the handshake and the SACK are outside.
    assert_eq!(count(&svg, r#"<g class="datagram "#), 3);
    assert!(svg.contains("[ACK] Seq=1201 Ack=1 Len=1200 · new data"));
    assert!(!svg.contains("[SYN]"));
    assert!(svg.contains("the first 3 of 7 sent in the window"));
    // The timer at 240 ms is outside it too.
    assert_eq!(count(&svg, r#"<g class="timer""#), 0);
}

#[test]
fn an_empty_ladder_is_still_a_whole_document() {
    for svg in [
        ladder_svg(&Ladder::default(), "nothing"),
        ladder_html(&Ladder::default(), "nothing"),
    ] {
        assert!(svg.contains("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}

#[test]
fn the_page_holds_the_drawing_and_its_script_and_fetches_nothing() {
    let ladder = exchange();
    let html = ladder_html(&ladder, "page");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<?xml"), "no XML declaration inside HTML");
    assert_eq!(count(&html, r#"<g class="datagram "#), 6);
    assert!(html.contains("document.body.dataset.status = 'ready'"));
    // Offline: nothing is fetched. The only URL is the SVG namespace's name.
    let urls: Vec<&str> = html
        .match_indices("http")
        .map(|(at, _)| &html[at..(at + 30).min(html.len())])
        .collect();
    assert!(
        urls.iter()
            .all(|url| url.starts_with("http://www.w3.org/2000/svg")),
        "{urls:?}"
    );
    assert!(!html.contains(" src="));
    // The error catcher and the script: the script has no "</script>" of its own.
    assert_eq!(count(&html, "</script>"), 2);
}
