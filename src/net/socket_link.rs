//! What stands between a socket's [`Endpoint`] and its UDP socket, for both drivers (the
//! threaded one in `driver.rs`, the tokio one in `crate::tokio`): the fault injector's two
//! links, the capture, and the trace sink of [`SocketConfig`].
//!
//! design.md's "one link model": the same [`Link`] (faults and their delay line) that the
//! simulator puts between two hosts sits here between the endpoint and the socket, one for
//! what the socket sends and one for what it receives, so a fault spec means the same in
//! both. The capture records what the endpoint sent before the faults (with why each segment
//! was sent and what the injector did to it) and what it received after them, as the
//! simulator's taps do. The drivers keep only their own waiting and their own outbox.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::time::Duration;

use super::{SocketConfig, TraceSink};
use crate::capture::{window_scale_for, CaptureRecord, CaptureWriter};
use crate::conn::Transmit;
use crate::endpoint::Endpoint;
use crate::fault::{Decision, FaultStats};
use crate::link::seed::{link_seed, LINK_A_TO_B, LINK_B_TO_A, SOCKET_RUN_SEED};
use crate::link::{sent_comments, Link, LinkConfig, LinkEvent};
use crate::secure::Revealed;
use crate::time::Instant;

/// A socket's faults, capture and trace sink, each there only if its config asks for it.
pub(crate) struct SocketLink {
    /// With faults configured, the link datagrams we send cross and the link those we
    /// receive cross, each tagged with the peer's address; they hold what the faults delay.
    faults: Option<(Link<SocketAddr>, Link<SocketAddr>)>,
    /// Where this socket's traffic is recorded, if anywhere.
    capture: Option<CaptureWriter<BufWriter<File>>>,
    /// Secure mode: record datagrams as they crossed the wire, encrypted, rather than the
    /// plain segments (`SocketConfig::capture_ciphertext`).
    capture_ciphertext: bool,
    /// Where the connections' trace events go (`SocketConfig::trace`).
    trace: Option<TraceSink>,
    /// The socket's own address, for the capture.
    local_addr: SocketAddr,
}

/// Which of a socket's two fault links.
#[derive(Clone, Copy)]
enum Direction {
    /// What the socket sends.
    Outgoing,
    /// What the socket receives.
    Incoming,
}

impl SocketLink {
    /// The faults, capture and trace sink `config` asks for, on the socket bound to
    /// `local_addr`. Fails if the capture file cannot be created.
    pub(crate) fn new(config: &SocketConfig, local_addr: SocketAddr) -> io::Result<SocketLink> {
        let faults = (!config.faults.is_passthrough()).then(|| {
            let link = |stream| {
                let seed = link_seed(SOCKET_RUN_SEED, stream, config.faults.seed);
                Link::new(LinkConfig::faults_only(config.faults.clone()), seed)
            };
            (link(LINK_A_TO_B), link(LINK_B_TO_A))
        });
        let capture = match &config.capture {
            Some(path) => {
                let largest_window = config.connection.checked_sizes()?.recv_buffer_max;
                Some(CaptureWriter::create(
                    path,
                    config.capture_view,
                    window_scale_for(largest_window),
                )?)
            }
            None => None,
        };
        Ok(SocketLink {
            faults,
            capture,
            capture_ciphertext: config.capture_ciphertext,
            trace: config.trace.clone(),
            local_addr,
        })
    }

    /// Take every datagram `endpoint` has to send by `now` through the outgoing faults,
    /// recording each, and hand `send` what is due to leave: those the faults let through at
    /// once and those their delay releases now, in order. [`flush_taps`](Self::flush_taps)
    /// then writes out what was recorded.
    pub(crate) fn transmit(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        mut send: impl FnMut(SocketAddr, Vec<u8>),
    ) {
        while let Some(transmit) = endpoint.poll_transmit(now) {
            let decision = match &mut self.faults {
                None => Decision::default(),
                Some((outgoing, _)) => {
                    outgoing
                        .offer(now, &transmit.contents, transmit.destination)
                        .decision
                }
            };
            self.record_sent(endpoint, &transmit, &decision);
            if self.faults.is_none() {
                send(transmit.destination, transmit.contents);
            }
        }
        while let Some((peer, bytes)) = self.poll_link(now, Direction::Outgoing) {
            send(peer, bytes);
        }
    }

    /// Push what the capture buffered to its file (a process may end while its driver runs)
    /// and the trace events the connections queued to the sink. After each round of
    /// datagrams, timers or application calls, outside the outbox's lock.
    pub(crate) fn flush_taps(&mut self, endpoint: &mut Endpoint) {
        self.flush_capture();
        self.pass_trace_events(endpoint);
    }

    /// A datagram arrived from `from`: through the incoming faults, into `endpoint`. `heard`
    /// is told the peer of each datagram delivered (the stream a punched peer's datagrams
    /// concern: `Endpoint::taken_as_from`).
    pub(crate) fn receive(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        heard: impl FnMut(SocketAddr),
    ) {
        match &mut self.faults {
            None => {
                let mut heard = heard;
                self.deliver(endpoint, now, from, bytes, &mut heard);
            }
            Some((_, incoming)) => {
                // A queue's verdict means nothing here: these links have no queue limit.
                let _ = incoming.offer(now, bytes, from);
                self.deliver_due(endpoint, now, heard);
            }
        }
    }

    /// Feed `endpoint` the received datagrams the faults delayed until `now`; `heard` as in
    /// [`receive`](Self::receive).
    pub(crate) fn deliver_due(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        mut heard: impl FnMut(SocketAddr),
    ) {
        while let Some((from, bytes)) = self.poll_link(now, Direction::Incoming) {
            self.deliver(endpoint, now, from, &bytes, &mut heard);
        }
    }

    /// When the faults next release a datagram they delayed, either way.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let (outgoing, incoming) = self.faults.as_ref()?;
        [outgoing.poll_timeout(), incoming.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the fault injector did to the datagrams this socket sent and received; `None`
    /// without faults.
    pub(crate) fn fault_stats(&self) -> Option<(FaultStats, FaultStats)> {
        self.faults
            .as_ref()
            .map(|(outgoing, incoming)| (outgoing.fault_stats(), incoming.fault_stats()))
    }

    /// Record a datagram we send, as it left the endpoint (before any fault), with why and
    /// what the fault injector did to it.
    fn record_sent(&mut self, endpoint: &Endpoint, transmit: &Transmit, decision: &Decision) {
        if let Some(capture) = &mut self.capture {
            // Only here: the comments' text is built for a capture, never per datagram sent.
            let mut comments = sent_comments(transmit.reason, decision);
            let revealed = endpoint.reveal(transmit.destination, &transmit.contents, true);
            let datagram = shown(
                &transmit.contents,
                revealed.as_ref(),
                self.capture_ciphertext,
            );
            comments.extend(revealed.as_ref().map(|revealed| revealed.comment.clone()));
            let record = CaptureRecord {
                at: wall_time(),
                source: self.local_addr,
                destination: transmit.destination,
                datagram,
                comments,
            };
            if capture.write(&record).is_err() {
                // A capture that cannot be written stops; the connection goes on.
                self.capture = None;
            }
        }
    }

    /// Feed a datagram that made it through the faults to the endpoint, recording it.
    fn deliver(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        heard: &mut impl FnMut(SocketAddr),
    ) {
        // First to the endpoint: in the secure mode, a SYN makes the connection whose keys
        // the capture's view of the segment needs.
        endpoint.handle_datagram(now, from, datagram);
        if let Some(capture) = &mut self.capture {
            let revealed = endpoint.reveal(from, datagram, false);
            let record = CaptureRecord {
                at: wall_time(),
                source: from,
                destination: self.local_addr,
                datagram: shown(datagram, revealed.as_ref(), self.capture_ciphertext),
                comments: revealed
                    .iter()
                    .map(|revealed| revealed.comment.clone())
                    .collect(),
            };
            if capture.write(&record).is_err() {
                self.capture = None;
            }
        }
        // A punched peer's datagrams from another port concern the stream of its public
        // endpoint.
        heard(endpoint.taken_as_from(from));
    }

    /// The next datagram due by `now` off one of the fault links, with its peer.
    fn poll_link(&mut self, now: Instant, direction: Direction) -> Option<(SocketAddr, Vec<u8>)> {
        let (outgoing, incoming) = self.faults.as_mut()?;
        let link = match direction {
            Direction::Outgoing => outgoing,
            Direction::Incoming => incoming,
        };
        loop {
            // A queue's verdict means nothing here: these links have no queue limit.
            if let LinkEvent::Delivered { tag, bytes } = link.poll(now)? {
                return Some((tag, bytes));
            }
        }
    }

    /// Push what the capture buffered to its file.
    fn flush_capture(&mut self) {
        if let Some(capture) = &mut self.capture {
            if capture.flush().is_err() {
                self.capture = None;
            }
        }
    }

    /// Hand the trace events the connections queued to the sink, if there is one.
    fn pass_trace_events(&mut self, endpoint: &mut Endpoint) {
        let Some(sink) = &self.trace else {
            return;
        };
        let events: Vec<_> = std::iter::from_fn(|| endpoint.poll_trace_event()).collect();
        if !events.is_empty() {
            sink.deliver(&events);
        }
    }
}

/// What a capture records of `datagram`: in the secure mode the plain segment, unless asked
/// for the `ciphertext` as it crossed the wire.
fn shown<'a>(datagram: &'a [u8], revealed: Option<&'a Revealed>, ciphertext: bool) -> &'a [u8] {
    match revealed {
        Some(revealed) if !ciphertext => &revealed.plain,
        _ => datagram,
    }
}

/// Wall-clock time since the Unix epoch, for capture timestamps.
#[allow(clippy::disallowed_methods)] // captures of real traffic carry real time
fn wall_time() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
