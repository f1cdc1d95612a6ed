//! [`TraceSink`]: where a socket's connection trace events go (`SocketConfig::trace`), the
//! events `ferry sim --trace` writes as qlog, from real traffic (`ferry send --trace`).

use std::fmt;
use std::sync::Arc;

use crate::conn::TracedEvent;
use crate::endpoint::ConnectionHandle;

/// A function the socket's driver hands its connections' trace events
/// ([`conn::TraceEvent`](crate::conn::TraceEvent): segments sent and received, losses, timers,
/// metrics, state changes), in order, a batch at a time: after each round of datagrams,
/// timers or application calls. It runs on the driver's thread with the socket's lock held,
/// so it should be quick (buffer what it writes). A batch holds at most
/// [`MAX_TRACE_EVENTS`](crate::conn::MAX_TRACE_EVENTS) events per connection; any beyond are
/// lost, as in the simulator.
#[derive(Clone)]
pub struct TraceSink(Arc<Deliver>);

/// What a [`TraceSink`] calls with each batch.
type Deliver = dyn Fn(&[(ConnectionHandle, TracedEvent)]) + Send + Sync;

impl TraceSink {
    /// A sink calling `deliver` with each batch of events.
    pub fn new(
        deliver: impl Fn(&[(ConnectionHandle, TracedEvent)]) + Send + Sync + 'static,
    ) -> TraceSink {
        TraceSink(Arc::new(deliver))
    }

    pub(crate) fn deliver(&self, events: &[(ConnectionHandle, TracedEvent)]) {
        (self.0)(events);
    }
}

impl fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceSink(..)")
    }
}

/// Two sinks are equal when they are the same function (clones of one sink).
impl PartialEq for TraceSink {
    fn eq(&self, other: &TraceSink) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
