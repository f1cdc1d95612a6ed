//! The connection states of RFC 9293 section 3.3.2, the events and errors an application
//! sees, and the state changes that several inputs share: entering ESTABLISHED (section
//! 3.10.7.3 and 3.10.7.4), TIME-WAIT (section 3.6) and CLOSED.

use std::fmt;

use super::receive::advertised_window;
use super::timers::Timer;
use super::{Connection, MAX_WINDOW};
use crate::time::Instant;
use crate::wire::{Flags, Segment, SeqNum};

/// How far past SND.NXT a connection reopened from TIME-WAIT starts its ISS: beyond every
/// sequence number the old incarnation used, by more than any window (2^30), so that neither
/// our old segments' sequence numbers nor the peer's old ACK fields are acceptable to the new
/// one. (Linux adds one 64 KiB window, in `tcp_timewait_state_process`.)
const REINCARNATION_GAP: u32 = MAX_WINDOW + 1;

/// The connection states of RFC 9293 section 3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection: never opened, or finished.
    Closed,
    /// Waiting for a SYN (a passive open).
    Listen,
    /// Sent a SYN, waiting for the SYN-ACK.
    SynSent,
    /// Received a SYN and answered it, waiting for the ACK of our SYN.
    SynReceived,
    /// The handshake is done; data flows both ways.
    Established,
    /// We sent a FIN; it is not acknowledged yet.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent a FIN; we may still send.
    CloseWait,
    /// Both sides sent a FIN at once; waiting for the ACK of ours.
    Closing,
    /// The peer closed first, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs are acknowledged; lingering to absorb stray segments (RFC 9293 section 3.6).
    TimeWait,
}

impl State {
    /// Whether this end may still send data or its FIN, or resend them: ESTABLISHED,
    /// CLOSE-WAIT, and the closing states whose FIN is not yet acknowledged.
    pub fn may_send(self) -> bool {
        matches!(
            self,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// Whether the peer may still send us data or its FIN: ESTABLISHED and the FIN-WAIT
    /// states (RFC 9293 section 3.10.7.4, seventh step); after its FIN, nothing more comes.
    pub fn may_receive(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }

    /// Whether both sides' sequence numbers are known (every state after the handshake).
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

impl fmt::Display for State {
    /// The RFC's own names: `ESTABLISHED`, `TIME-WAIT`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        })
    }
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer answered our SYN with a RST: nothing listens there.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The peer closed its side, then reset the connection: what writing to a peer that has
    /// gone meets (its FIN came, then a RST answered our data). std's `BrokenPipe`.
    PeerClosed,
    /// The peer stopped answering: the user timeout ran out (too many retransmissions, SYN
    /// retries or unanswered keepalive probes).
    TimedOut,
    /// This side aborted the connection.
    Aborted,
    /// Secure mode (docs/protocol.md section 9): the server proved a key other than the one
    /// the client pinned. A man in the middle, or a server whose identity changed.
    ServerKeyMismatch,
    /// Secure mode: the peer answered the secure SYN with a plain SYN-ACK. It does not run
    /// the secure mode, and a secure connection never falls back to plaintext.
    NotSecure,
    /// Secure mode: the server's handshake message authenticated but held no valid SYN-ACK.
    HandshakeFailed,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionError::Refused => "connection refused by the peer",
            ConnectionError::Reset => "connection reset by the peer",
            ConnectionError::PeerClosed => {
                "broken pipe: the peer closed, then reset the connection"
            }
            ConnectionError::TimedOut => "connection timed out: the peer stopped answering",
            ConnectionError::Aborted => "connection aborted locally",
            ConnectionError::ServerKeyMismatch => {
                "the server's key is not the one expected: a man in the middle, or a changed server key"
            }
            ConnectionError::NotSecure => {
                "the peer answered without the secure handshake: it does not run --secure"
            }
            ConnectionError::HandshakeFailed => "the secure handshake failed: a malformed answer",
        })
    }
}

impl std::error::Error for ConnectionError {}

/// Why [`Connection::read`] returned no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// Nothing to read yet; the stream is still open.
    WouldBlock,
    /// The connection failed; no more data will come.
    Failed(ConnectionError),
}

/// Why [`Connection::write`] accepted no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The send buffer is full; try again once the peer acknowledges data.
    WouldBlock,
    /// The write side is shut down (or the connection closed cleanly).
    ShutDown,
    /// The connection failed.
    Failed(ConnectionError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::WouldBlock => f.write_str("no data to read yet"),
            ReadError::Failed(error) => error.fmt(f),
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::WouldBlock => f.write_str("send buffer full"),
            WriteError::ShutDown => f.write_str("the write side is shut down"),
            WriteError::Failed(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}
impl std::error::Error for WriteError {}

/// Something the application may want to react to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// The peer sent its FIN: once the buffered data is read, reads return end of stream.
    PeerFinished,
    /// The connection reached CLOSED, cleanly (`None`) or with an error.
    Closed(Option<ConnectionError>),
}

/// RFC 6298 section 5.7's RTO once data flows after a SYN timed out.
const RTO_AFTER_SYN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Connection {
    pub(super) fn enter_established(&mut self, now: Instant) {
        // RFC 6298 section 5.7: after a SYN (or SYN-ACK) timed out, data starts with an RTO of
        // at least 3 s, unless an RTT sample has come in since.
        if self.stats.rto_timeouts > 0 && self.rtt.smoothed_rtt().is_none() {
            self.rtt.reinitialize(RTO_AFTER_SYN_TIMEOUT);
        }
        self.state = if self.send.fin_queued() {
            State::FinWait1
        } else {
            State::Established
        };
        self.connected = true;
        self.receive.start_quick_acks();
        self.events.push_back(Event::Connected);
        self.arm_keepalive(now);
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.stop_all();
        self.pacer.forget_release();
        self.linger_in_time_wait(now);
    }

    /// (Re)start TIME-WAIT's timer: `Config::time_wait` beyond `Config::max_rto`. TIME-WAIT
    /// exists so that the peer's FIN, sent again because our last ACK was lost, still meets a
    /// connection that ACKs it (RFC 9293 section 3.6). The peer sends that copy one of its
    /// retransmission timeouts after the one we ACKed, and its timeout is not ours: one whose
    /// every timed segment was retransmitted has no RTT sample (Karn's rule, RFC 6298 section
    /// 3), stays at 3 s after a SYN timed out (section 5.7) and doubles per expiry, while ours
    /// may have a sample of a few hundred milliseconds. Only the ceiling both ends share
    /// (section 2.5, `max_rto`) bounds it, so TIME-WAIT outlasts it, by `time_wait` for the
    /// datagrams' delay (and, as RFC 9293's 2 x MSL, for old duplicates to die out).
    pub(super) fn linger_in_time_wait(&mut self, now: Instant) {
        let linger = self.config.max_rto.saturating_add(self.config.time_wait);
        self.timers.set(Timer::TimeWait, now + linger);
    }

    /// The ISS of a new incarnation that `syn`, from this connection's peer, may open at once
    /// in place of this connection, if it is in TIME-WAIT (RFC 9293 section 3.6.1's MAY-2,
    /// from RFC 1122 section 4.2.2.13): the new ISS lies above every sequence number we used,
    /// and the SYN cannot be an old duplicate, nor can any old duplicate of the peer's land in
    /// the new incarnation's window. `None` keeps TIME-WAIT, and the SYN is answered as any
    /// SYN in a synchronized state is (a challenge ACK).
    ///
    /// Old duplicates of the peer's segments lie in [IRS, RCV.NXT); a new incarnation whose
    /// IRS (the SYN's sequence number) lies within a window below that range could accept
    /// one. Linux and BSD reopen only on a SYN above RCV.NXT (RFC 6191 section 2, without
    /// timestamps), which suffices when ISNs are clock-driven and so grow from one
    /// incarnation to the next; Ferry's ISNs are random, so half of all SYNs lie below
    /// RCV.NXT, and a reconnecting client would wait for its SYN's retransmission timeout
    /// (issue 17). So a SYN opens a new incarnation when it lies outside the old range and
    /// the window below it; when that span reaches 2^31 (an old incarnation that received
    /// about 2 GiB), where sequence comparisons stop telling, only a SYN above RCV.NXT does.
    pub fn reincarnation_iss(&self, syn: &Segment<'_>) -> Option<SeqNum> {
        let is_connection_request =
            syn.flags.contains(Flags::SYN) && !syn.flags.intersects(Flags::ACK | Flags::RST);
        if self.state != State::TimeWait || !is_connection_request {
            return None;
        }
        let window = advertised_window(self.sizes.recv_buffer, 0);
        // The SYN and FIN count too.
        let received = self.receive.received_offset() + 2;
        let span = received + u64::from(window);
        let reopens = if span < 1 << 31 {
            let lowest = self.receive.irs() - window;
            syn.seq.wrapping_diff(lowest) > self.receive.rcv_nxt().wrapping_diff(lowest)
        } else {
            syn.seq > self.receive.rcv_nxt()
        };
        reopens.then(|| self.send.snd_nxt() + REINCARNATION_GAP)
    }

    /// What the application hears when a valid RST (or a validated ICMP error) ends the
    /// connection now: nothing only once both directions finished, our FIN acknowledged and
    /// the peer's received (TIME-WAIT); `Reset` everywhere else. RFC 9293 section 3.10.7.4
    /// lets CLOSING and LAST-ACK close quietly, but there our FIN, and maybe data, is still
    /// unacknowledged, and a close reported clean would claim a delivery nobody confirmed.
    /// Linux's `tcp_reset` likewise gives ECONNRESET in every state but SYN-SENT, CLOSE-WAIT
    /// (EPIPE) and CLOSED: here too, CLOSE-WAIT (the peer's FIN received, ours not queued)
    /// gives `PeerClosed`, std's `BrokenPipe`, what a program writing to a peer that went
    /// away expects. Decided from the sequence numbers and the application's shutdown, not
    /// the state's name.
    pub(super) fn error_if_ended_now(&self) -> Option<ConnectionError> {
        if self.send.fin_acked() && self.receive.fin_received() {
            None
        } else if self.receive.fin_received() && !self.send.fin_queued() {
            Some(ConnectionError::PeerClosed)
        } else {
            Some(ConnectionError::Reset)
        }
    }

    /// An ICMP port (or protocol) unreachable quoting a segment with sequence number
    /// `quoted_seq`: nothing listens at the peer's port any more, a hard error by RFC 1122
    /// section 4.2.3.9, believed only if we could have sent that segment (RFC 5927 section
    /// 4.1; Linux's `tcp_v4_err` checks the same). In SYN-SENT and SYN-RECEIVED that is our
    /// SYN (or SYN-ACK), at the ISS: the connection is refused. Once synchronized it is a
    /// sequence number in [SND.UNA, SND.NXT] (data, our FIN, an ACK or a window probe at
    /// SND.NXT), or SND.UNA - 1 while a keepalive probe is unanswered (Linux ignores those;
    /// here the probe is how an idle connection learns its peer's process is gone, for one
    /// more number an attacker could guess): the connection is reset, cleanly only in
    /// TIME-WAIT, as by a RST. Anything else, a forgery or an error about a segment long
    /// acknowledged, changes nothing, so a blind attacker must guess a sequence number within
    /// the flight besides the ports. Returns whether the error was believed.
    pub fn handle_unreachable(&mut self, quoted_seq: SeqNum) -> bool {
        let ours = match self.state {
            State::Closed | State::Listen => false,
            State::SynSent | State::SynReceived => quoted_seq == self.send.iss(),
            _ => {
                let (snd_una, snd_nxt) = (self.send.snd_una(), self.send.snd_nxt());
                (snd_una <= quoted_seq && quoted_seq <= snd_nxt)
                    || (self.send.unanswered_probes() > 0 && quoted_seq == snd_una - 1)
            }
        };
        if ours {
            let error = if self.state.is_synchronized() {
                self.error_if_ended_now()
            } else {
                Some(ConnectionError::Refused)
            };
            self.close(error);
        }
        ours
    }

    pub(super) fn close(&mut self, error: Option<ConnectionError>) {
        self.state = State::Closed;
        if error.is_some() {
            self.error = error;
        }
        self.timers.stop_all();
        self.pacer.forget_release();
        self.receive.forget_owed_acks();
        self.send.forget_pending_probe();
        self.recovery.forget_in_flight();
        self.events.push_back(Event::Closed(error));
    }
}
