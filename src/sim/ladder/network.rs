//! The ladder recorder of the two-host [`Network`](crate::sim::Network): hosts A and B, one
//! link each way, each datagram tagged on its link with its record number in its sender's
//! count (which a capture's frame numbers follow).

use std::collections::HashMap;

use super::LadderKeeper;
use crate::conn::Transmit;
use crate::ladder::{Datagram, Fate, Ladder, LadderHost, LadderOptions, SegmentSummary};
use crate::link::Offered;
use crate::sim::Host;
use crate::time::Instant;

/// The copies of one sent datagram still on the link.
#[derive(Debug)]
struct OnTheLink {
    /// The ladder's index of its first copy; a duplicate follows it.
    first_copy: usize,
    /// Copies whose fate is not known yet.
    unresolved: usize,
}

/// Records a [`Ladder`] of a two-host [`Network`](crate::sim::Network).
#[derive(Debug)]
pub(in crate::sim) struct LadderRecorder {
    keeper: LadderKeeper,
    /// The datagrams kept and still on a link, by (sending host, record number in its
    /// capture): the link's tag for it.
    on_the_link: HashMap<(usize, u64), OnTheLink>,
}

impl LadderRecorder {
    pub(in crate::sim) fn new(options: LadderOptions) -> LadderRecorder {
        let hosts = [("A", Host::A), ("B", Host::B)]
            .map(|(name, host)| LadderHost {
                name: name.to_string(),
                address: host.address().to_string(),
                capture: None,
            })
            .to_vec();
        LadderRecorder {
            keeper: LadderKeeper::new(hosts, options),
            on_the_link: HashMap::new(),
        }
    }

    /// One of `host`'s timers fell due at `now` (before the host handled it).
    pub(in crate::sim) fn timer_due(&mut self, host: Host, now: Instant) {
        self.keeper.timer_due(host.index(), now);
    }

    /// `from` put `transmit` on its link at `now` as record `record` of its capture (frame
    /// `frame`); the link did `offered`.
    pub(in crate::sim) fn sent(
        &mut self,
        now: Instant,
        from: Host,
        transmit: &Transmit,
        offered: &Offered,
        (record, frame): (u64, u64),
    ) {
        let at = now.since_epoch();
        let copies = offered.copies.max(1);
        let segment = SegmentSummary::parse(&transmit.contents);
        let kept = self.keeper.admit(
            now,
            from.index(),
            Some(transmit.reason),
            segment.as_ref(),
            copies,
        );
        if !kept {
            return;
        }
        let link = (offered.decision.dropped.is_none()
            && offered.decision != crate::fault::Decision::default())
        .then(|| offered.decision.to_string());
        let fate = if offered.copies == 0 {
            Fate::Dropped {
                at,
                cause: match offered.decision.dropped {
                    Some(cause) => format!("dropped ({cause})"),
                    // The link's delay line was full: counted as a queue drop.
                    None => "dropped (queue full)".to_string(),
                },
            }
        } else {
            Fate::InFlight
        };
        let first_copy = self.keeper.ladder.datagrams.len();
        for copy in 0..copies {
            self.keeper.ladder.datagrams.push(Datagram {
                from: from.index(),
                to: from.peer().index(),
                source: from.address(),
                destination: transmit.destination,
                sent_at: at,
                segment: segment.clone(),
                description: None,
                len: transmit.contents.len(),
                reason: Some(transmit.reason),
                link: link.clone(),
                duplicate: copy > 0,
                fate: fate.clone(),
                sender_frame: Some(frame),
            });
        }
        if offered.copies > 0 {
            self.on_the_link.insert(
                (from.index(), record),
                OnTheLink {
                    first_copy,
                    unresolved: offered.copies,
                },
            );
        }
    }

    /// A copy of `from`'s record `record` reached the link's queue at `now`, which dropped it
    /// if `drop_comment` says so.
    pub(in crate::sim) fn queued(
        &mut self,
        now: Instant,
        from: Host,
        record: u64,
        duplicate: bool,
        drop_comment: Option<&str>,
    ) {
        let Some(cause) = drop_comment else {
            return;
        };
        let Some(index) = self.resolve(from, record, |datagram| datagram.duplicate == duplicate)
        else {
            return;
        };
        self.keeper.ladder.datagrams[index].fate = Fate::Dropped {
            at: now.since_epoch(),
            cause: cause.to_string(),
        };
    }

    /// A copy of `from`'s record `record` reached the peer at `now` as `bytes`, its record
    /// `receiver_frame` there.
    pub(in crate::sim) fn delivered(
        &mut self,
        now: Instant,
        from: Host,
        record: u64,
        bytes: &[u8],
        receiver_frame: u64,
    ) {
        self.keeper.received(from.peer().index(), now);
        let Some(index) = self.resolve(from, record, |_| true) else {
            return;
        };
        self.keeper.ladder.datagrams[index].fate = Fate::Arrived {
            at: now.since_epoch(),
            // What the receiver's parser rejects (a bad CRC), it discards.
            intact: crate::wire::Segment::parse(bytes).is_ok(),
            receiver_frame: Some(receiver_frame),
        };
    }

    /// The first copy of `from`'s record `record` still in flight that `which` accepts, now
    /// resolved.
    fn resolve(
        &mut self,
        from: Host,
        record: u64,
        which: impl Fn(&Datagram) -> bool,
    ) -> Option<usize> {
        let key = (from.index(), record);
        let on_the_link = self.on_the_link.get_mut(&key)?;
        let copies = on_the_link.first_copy
            ..self
                .keeper
                .ladder
                .datagrams
                .len()
                .min(on_the_link.first_copy + 2);
        let index = copies.into_iter().find(|&index| {
            let datagram = &self.keeper.ladder.datagrams[index];
            datagram.fate == Fate::InFlight && which(datagram)
        })?;
        on_the_link.unresolved -= 1;
        if on_the_link.unresolved == 0 {
            self.on_the_link.remove(&key);
        }
        Some(index)
    }

    /// The ladder recorded: datagrams still on a link stay in flight.
    pub(in crate::sim) fn finish(self) -> Ladder {
        self.keeper.finish()
    }
}
