//! Each simulated host's capture: records wait until the link has decided a datagram's fate,
//! so the file stays in time order and says what happened to every copy. Every capture counts
//! time from the run's start: one whose host is silent then begins with a note at time 0.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::capture::{CaptureRecord, CaptureWriter, Unreachable, UnreachableRecord, View};
use crate::conn::Transmit;
use crate::fault::Decision;
use crate::link::sent_comments;
use crate::time::Instant;

/// A capture for one simulated host: any writer, so that tests can capture to memory.
pub type HostCapture = CaptureWriter<Box<dyn Write + Send>>;

/// The captures of a [`transfer_observed`](super::transfer_observed), one per host; `None` captures nothing.
#[derive(Debug, Default)]
pub struct Captures {
    /// What A (the sender) sent and received.
    pub a: Option<HostCapture>,
    /// What B (the receiver) sent and received.
    pub b: Option<HostCapture>,
}

impl Captures {
    /// Create (or truncate) pcapng files for both hosts. See [`CaptureWriter::new`] for `view`
    /// and `window_scale`.
    pub fn create(
        a: impl AsRef<Path>,
        b: impl AsRef<Path>,
        view: View,
        window_scale: u8,
    ) -> io::Result<Captures> {
        let file = |path: &Path| -> io::Result<HostCapture> {
            let writer: Box<dyn Write + Send> =
                Box::new(BufWriter::new(std::fs::File::create(path)?));
            CaptureWriter::new(writer, view, window_scale)
        };
        Ok(Captures {
            a: Some(file(a.as_ref())?),
            b: Some(file(b.as_ref())?),
        })
    }
}

/// The comment (and content) of the note that begins a capture whose first packet comes after
/// the run's start.
pub const ORIGIN_NOTE: &str = "start of the run, simulated time 0 (a note, not a packet: \
                               relative times count from here, as in the other host's capture)";

/// Whether a capture whose first record is at `first_record_at` begins with the
/// [`ORIGIN_NOTE`]: Wireshark counts relative time (`frame.time_relative`) from a file's first
/// frame, so without it B's file, which begins with the SYN's arrival, would count from there
/// and every relative time in it would be one propagation delay behind A's.
pub(crate) fn begins_with_origin_note(first_record_at: Duration) -> bool {
    first_record_at > Duration::ZERO
}

/// What makes a record an ICMP unreachable rather than a UDP datagram: why, and the quoted
/// datagram's addresses (its record's bytes are the quoted payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Quote {
    pub(super) code: Unreachable,
    pub(super) source: SocketAddr,
    pub(super) destination: SocketAddr,
}

/// A record waiting in a [`Tap`].
#[derive(Debug)]
struct PendingRecord {
    at: Duration,
    source: SocketAddr,
    destination: SocketAddr,
    datagram: Vec<u8>,
    /// `Some` for an unreachable.
    quote: Option<Quote>,
    comments: Vec<String>,
    /// Copies not yet past the link's queue: only then is the record's story complete.
    copies_before_queue: usize,
}

/// One host's capture. The drop-tail queue decides a datagram's fate only after the fault
/// injector's delay, but the record belongs at the time it was sent, so records wait here
/// until every earlier one is complete: the file stays in time order and a queue drop still
/// reaches the sender's copy.
#[derive(Debug)]
pub(super) struct Tap {
    writer: HostCapture,
    /// Records not yet written, oldest first; the first has number `first_pending`.
    pending: VecDeque<PendingRecord>,
    first_pending: u64,
    /// The number of its first record, and when that was (whether the file begins with the
    /// [`ORIGIN_NOTE`]), for [`frame_of`](Tap::frame_of).
    first_record: u64,
    first_record_at: Option<Duration>,
    /// The first write error; after it the tap writes nothing more.
    error: Option<io::Error>,
    /// Whether anything has been written yet (the origin note, if any, comes first).
    started: bool,
}

impl Tap {
    /// The record number the next datagram sent will have.
    pub(super) fn next_record(&self) -> u64 {
        self.first_pending + self.pending.len() as u64
    }

    /// The frame number record `record` has in the file: from 1, after the note the file may
    /// begin with.
    pub(super) fn frame_of(&self, record: u64) -> u64 {
        let note = self.first_record_at.is_some_and(begins_with_origin_note);
        record - self.first_record.min(record) + 1 + u64::from(note)
    }

    /// A tap whose first record will be record number `first_record` of its host (the
    /// network counts them from the start, captured or not).
    pub(super) fn new(writer: HostCapture, first_record: u64) -> Tap {
        Tap {
            writer,
            pending: VecDeque::new(),
            first_pending: first_record,
            first_record,
            first_record_at: None,
            error: None,
            started: false,
        }
    }

    /// A datagram the host sent at `now`, with why and what the fault injector did to it, which
    /// left the injector as `copies` datagrams: the next record, in the network's count.
    pub(super) fn sent(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transmit: &Transmit,
        decision: &Decision,
        copies: usize,
    ) -> u64 {
        self.offered(
            now,
            (source, transmit.destination, None),
            &transmit.contents,
            sent_comments(transmit.reason, decision),
            copies,
        )
    }

    /// A datagram that left by the tapped interface at `now` (its source and destination,
    /// and the quote that makes it an unreachable), with its comments, which left the link's
    /// fault injector as `copies` datagrams (each then reaches the queue, see
    /// [`entered_queue`](Tap::entered_queue)). Returns its record number.
    pub(super) fn offered(
        &mut self,
        now: Instant,
        (source, destination, quote): (SocketAddr, SocketAddr, Option<Quote>),
        datagram: &[u8],
        comments: Vec<String>,
        copies: usize,
    ) -> u64 {
        let record = self.next_record();
        self.first_record_at.get_or_insert(now.since_epoch());
        self.pending.push_back(PendingRecord {
            at: now.since_epoch(),
            source,
            destination,
            datagram: datagram.to_vec(),
            quote,
            comments,
            copies_before_queue: copies,
        });
        self.write_complete();
        record
    }

    /// A copy of sent datagram `record` reached the link's queue, which took it, or dropped it
    /// and says so in `drop_comment`.
    pub(super) fn entered_queue(&mut self, record: u64, drop_comment: Option<&str>) {
        let index = record.checked_sub(self.first_pending);
        let Some(record) = index.and_then(|index| self.pending.get_mut(index as usize)) else {
            return;
        };
        record.copies_before_queue = record.copies_before_queue.saturating_sub(1);
        record.comments.extend(drop_comment.map(str::to_string));
        self.write_complete();
    }

    /// A datagram the host received at `now`, as delivered.
    pub(super) fn received(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
    ) {
        self.received_with(now, (source, destination, None), bytes, Vec::new());
    }

    /// A datagram that arrived by the tapped interface at `now` (addressed as for
    /// [`offered`](Tap::offered)), with comments on what became of it there. Returns its
    /// record number.
    pub(super) fn received_with(
        &mut self,
        now: Instant,
        (source, destination, quote): (SocketAddr, SocketAddr, Option<Quote>),
        bytes: &[u8],
        comments: Vec<String>,
    ) -> u64 {
        let record = self.next_record();
        self.first_record_at.get_or_insert(now.since_epoch());
        self.pending.push_back(PendingRecord {
            at: now.since_epoch(),
            source,
            destination,
            datagram: bytes.to_vec(),
            quote,
            comments,
            copies_before_queue: 0,
        });
        self.write_complete();
        record
    }

    /// Write the complete records at the front.
    fn write_complete(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|record| record.copies_before_queue == 0)
        {
            self.write_front();
        }
    }

    fn write_front(&mut self) {
        let Some(record) = self.pending.pop_front() else {
            return;
        };
        self.first_pending += 1;
        if self.error.is_some() {
            return;
        }
        if !std::mem::replace(&mut self.started, true) && begins_with_origin_note(record.at) {
            if let Err(error) = self.writer.write_note(Duration::ZERO, ORIGIN_NOTE) {
                self.error = Some(error);
                return;
            }
        }
        let written = match record.quote {
            None => self.writer.write(&CaptureRecord {
                at: record.at,
                source: record.source,
                destination: record.destination,
                datagram: &record.datagram,
                comments: record.comments,
            }),
            Some(quote) => self.writer.write_unreachable(&UnreachableRecord {
                at: record.at,
                source: record.source.ip(),
                destination: record.destination.ip(),
                code: quote.code,
                quoted_source: quote.source,
                quoted_destination: quote.destination,
                quoted: &record.datagram,
                comments: record.comments,
            }),
        };
        if let Err(error) = written {
            self.error = Some(error);
        }
    }

    /// Write everything still held (a run cut short may leave datagrams before the queue) and
    /// flush.
    pub(super) fn finish(mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            self.write_front();
        }
        match self.error {
            Some(error) => Err(error),
            None => self.writer.flush(),
        }
    }
}
