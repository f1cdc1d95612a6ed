//! The event trace (`trace.rs`): what a driver reads to write a qlog file. Each test runs a
//! scripted loss and checks the recovery events the trace holds, exactly: the losses and what
//! detected them, the episodes and why each began and ended, the timers that fired.

use super::*;

/// The events of a trace that tell its recovery's story, with their times in ms.
fn recovery_events(traced: impl IntoIterator<Item = TracedEvent>) -> Vec<(u64, TraceEvent)> {
    traced
        .into_iter()
        .filter(|traced| {
            matches!(
                traced.event,
                TraceEvent::Lost { .. }
                    | TraceEvent::RecoveryChanged { .. }
                    | TraceEvent::TimerExpired { .. }
            )
        })
        .map(|traced| (traced.at.since_epoch().as_millis() as u64, traced.event))
        .collect()
}

#[test]
fn an_rto_run_traces_the_timeout_its_losses_and_its_episode() {
    let (mut conn, base) = slow_started(classic_config(), 1);
    let s = |i: u32| base + i * MSS;
    conn.set_tracing(true);
    write_segments(&mut conn, base, 2);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..2, Reason::NewData)
    );
    // Both segments are lost; the timer, armed at 1000 ms with the 200 ms RTO, expires.
    let rto = Reason::RtoRetransmission { timeout: 1 };
    assert_eq!(timeout(&mut conn, at(1_200)), flight(base, 0..1, rto));
    send(&mut conn, at(1_300), ack(s(1)));
    assert_eq!(recv(&mut conn, at(1_300)), flight(base, 1..2, rto));
    send(&mut conn, at(1_400), ack(s(2)));
    recv_nothing(&mut conn, at(1_400));
    assert_eq!(
        recovery_events(std::iter::from_fn(|| conn.poll_trace_event())),
        vec![
            (
                1_200,
                TraceEvent::TimerExpired {
                    timer: Timer::Retransmit
                }
            ),
            (
                1_200,
                TraceEvent::Lost {
                    seq: s(0),
                    length: MSS,
                    trigger: rto
                }
            ),
            (
                1_200,
                TraceEvent::Lost {
                    seq: s(1),
                    length: MSS,
                    trigger: rto
                }
            ),
            (
                1_200,
                TraceEvent::RecoveryChanged {
                    old: None,
                    new: Some(Episode::TimeoutRecovery),
                    why: EpisodeChange::LossDetected(rto)
                }
            ),
            (
                1_400,
                TraceEvent::RecoveryChanged {
                    old: Some(Episode::TimeoutRecovery),
                    new: None,
                    why: EpisodeChange::RecoveryPointAcknowledged
                }
            ),
        ]
    );
}

#[test]
fn a_fast_retransmit_run_traces_its_loss_episode_and_window() {
    let (mut conn, base) = slow_started(classic_config(), 2);
    let s = |i: u32| base + i * MSS;
    write_segments(&mut conn, base, 10);
    assert_eq!(
        recv(&mut conn, at(1_000)),
        flight(base, 0..10, Reason::NewData)
    );
    conn.set_tracing(true);
    // Segment 0 is lost; 1, 2 and 3 draw three duplicate ACKs.
    for i in 2..=4 {
        send(&mut conn, at(1_100), ack_sack(base, &[(s(1), s(i))]));
    }
    assert_eq!(
        recv(&mut conn, at(1_100)),
        flight(base, 0..1, Reason::FastRetransmission)
    );
    send(&mut conn, at(1_200), ack(s(10)));
    recv_nothing(&mut conn, at(1_200));
    let traced: Vec<TracedEvent> = std::iter::from_fn(|| conn.poll_trace_event()).collect();
    let metrics: Vec<MetricsChange> = traced
        .iter()
        .filter_map(|traced| match traced.event {
            TraceEvent::MetricsUpdated(change) => Some(change),
            _ => None,
        })
        .collect();
    // The first traced call reports every metric; the third duplicate ACK halves the window
    // (ssthresh = FlightSize / 2, RFC 5681 equation (4)).
    assert_eq!(metrics[0].congestion_window, Some(14_400));
    assert_eq!(metrics[0].ssthresh, Some(u32::MAX));
    assert_eq!(metrics[0].rto, Some(ms(200)));
    assert!(metrics.iter().any(|change| change.ssthresh == Some(6_000)));
    assert_eq!(
        recovery_events(traced),
        vec![
            (
                1_100,
                TraceEvent::Lost {
                    seq: s(0),
                    length: MSS,
                    trigger: Reason::FastRetransmission
                }
            ),
            (
                1_100,
                TraceEvent::RecoveryChanged {
                    old: None,
                    new: Some(Episode::SackFastRecovery),
                    why: EpisodeChange::LossDetected(Reason::FastRetransmission)
                }
            ),
            (
                1_200,
                TraceEvent::RecoveryChanged {
                    old: Some(Episode::SackFastRecovery),
                    new: None,
                    why: EpisodeChange::RecoveryPointAcknowledged
                }
            ),
        ]
    );
}
