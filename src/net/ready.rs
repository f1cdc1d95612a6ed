//! [`ReadinessHandle`]: a descriptor a poll loop waits on for a nonblocking [`Stream`] or
//! [`Listener`], as it would on a `TcpStream`'s or `TcpListener`'s socket.
//!
//! A Ferry stream is no descriptor of its own (its UDP socket carries datagrams, and a
//! listener's streams share one), so a program that set it nonblocking had nothing to wait
//! on: it slept and tried again. A handle is one end of a Unix socket pair whose readiness
//! Ferry keeps equal to the stream's, level-triggered as poll(2) reports a socket's:
//!
//! - readable (`POLLIN`) exactly while a `read` (or the listener's `accept`) would not give
//!   `WouldBlock`: a byte waits in the pair, written from the far end when the stream became
//!   readable and read out again when it stopped being so;
//! - writable (`POLLOUT`) exactly while a `write` would not give `WouldBlock`: a Unix socket
//!   is writable while what it sent and the far end has not read takes at most a quarter of
//!   its send buffer, so Ferry fills that buffer (a small one, a few KiB) from the polled end
//!   when the stream stops being writable and reads the far end empty when it is again. A
//!   listener's handle is never writable, as a listening socket is not.
//!
//! Each change is a new edge too, so epoll's edge-triggered mode (mio's) works: read or write
//! until `WouldBlock`, then wait. The driver decides the readiness under its lock, after each
//! application call and each turn, and the pair's system calls happen once the lock is
//! released, by whichever thread releases it, so no thread holds the lock across them.
//! Sockets with no handle pay nothing.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use socket2::SockRef;

#[cfg(doc)]
use super::{Listener, Stream};
use crate::conn::{Connection, ReadError};
use crate::endpoint::{ConnectionHandle, Endpoint};

/// The send buffer asked for the polled end: the kernel's minimum (about 4.5 KiB) is what it
/// gives, so filling it to turn `POLLOUT` off takes a write or two.
const POLLED_SEND_BUFFER_BYTES: usize = 1;

/// Readable, in [`ReadySignal`]'s bits.
const READABLE: u8 = 1;
/// Writable, in [`ReadySignal`]'s bits.
const WRITABLE: u8 = 2;

/// A descriptor to wait on in poll(2), epoll or mio (`SourceFd`) for a nonblocking
/// [`Stream`] ([`Stream::readiness_handle`]) or [`Listener`]
/// ([`Listener::readiness_handle`]): readable exactly while a read (an accept) would not give
/// `WouldBlock`, writable exactly while a write would not. Poll it only: reading or writing
/// it takes the readiness Ferry keeps there. Every handle of a stream (and of its clones) is
/// the same descriptor; it closes once the stream is closed and the last handle dropped.
#[derive(Clone, Debug)]
pub struct ReadinessHandle(Arc<ReadySignal>);

impl AsFd for ReadinessHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.polled.as_fd()
    }
}

impl AsRawFd for ReadinessHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.0.polled.as_raw_fd()
    }
}

/// The socket pair behind a handle, the readiness the driver wants it to show, and what it
/// shows.
#[derive(Debug)]
pub(crate) struct ReadySignal {
    /// The end the application polls.
    polled: UnixStream,
    /// The other end, which makes the polled end readable.
    far: UnixStream,
    /// What the driver decided, under its lock (`READABLE | WRITABLE` bits).
    wanted: AtomicU8,
    /// What the pair shows; held while changing it, so two threads do not interleave.
    shown: Mutex<u8>,
}

impl ReadySignal {
    /// A pair showing neither readable nor writable, until the driver says otherwise.
    fn new() -> io::Result<ReadySignal> {
        let (polled, far) = UnixStream::pair()?;
        polled.set_nonblocking(true)?;
        far.set_nonblocking(true)?;
        SockRef::from(&polled).set_send_buffer_size(POLLED_SEND_BUFFER_BYTES)?;
        let signal = ReadySignal {
            polled,
            far,
            wanted: AtomicU8::new(0),
            shown: Mutex::new(WRITABLE),
        };
        signal.apply();
        Ok(signal)
    }

    /// Want the pair to show `bits`; whether that is a change to apply.
    fn want(&self, bits: u8) -> bool {
        self.wanted.swap(bits, Ordering::AcqRel) != bits
    }

    /// Make the pair show what the driver wants now. Without the driver's lock.
    fn apply(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = self.wanted.load(Ordering::Acquire);
        let changed = *shown ^ wanted;
        if changed & READABLE != 0 {
            if wanted & READABLE != 0 {
                let _ = (&self.far).write(&[1]);
            } else {
                drain(&self.polled);
            }
        }
        if changed & WRITABLE != 0 {
            if wanted & WRITABLE != 0 {
                drain(&self.far);
            } else {
                fill(&self.polled);
            }
        }
        *shown = wanted;
    }
}

/// Read `end` until nothing is left.
fn drain(mut end: &UnixStream) {
    let mut buf = [0u8; 4096];
    while matches!(end.read(&mut buf), Ok(count) if count > 0) {}
}

/// Write from `end` until its send buffer is full.
fn fill(mut end: &UnixStream) {
    let buf = [0u8; 4096];
    while matches!(end.write(&buf), Ok(count) if count > 0) {}
}

/// Whether a read of `connection` would not wait: data, the end of the stream or an error is
/// there (as `TcpStream::readable` and poll(2)'s `POLLIN` say). For both drivers: the tokio
/// streams' `readable` asks this too.
pub(crate) fn read_would_not_block(connection: &Connection) -> bool {
    !matches!(connection.peek(&mut [0]), Err(ReadError::WouldBlock))
}

/// Whether a write to `connection` would not wait: its send buffer has room, or the write
/// would fail (as `TcpStream::writable` and `POLLOUT` say).
pub(crate) fn write_would_not_block(connection: &mut Connection) -> bool {
    connection.writable_bytes() > 0 || connection.write(&[]).is_err()
}

/// The readiness handles of one socket's streams and listener, behind the driver's lock.
#[derive(Debug, Default)]
pub(crate) struct ReadySignals {
    streams: HashMap<ConnectionHandle, Arc<ReadySignal>>,
    accept: Option<Arc<ReadySignal>>,
    /// Signals whose wanted readiness changed, to apply once the lock is released.
    pending: Vec<Arc<ReadySignal>>,
}

impl ReadySignals {
    /// The handle of the stream holding `handle`, made on first use.
    pub(crate) fn for_stream(&mut self, handle: ConnectionHandle) -> io::Result<ReadinessHandle> {
        let signal = match self.streams.get(&handle) {
            Some(signal) => Arc::clone(signal),
            None => {
                let signal = Arc::new(ReadySignal::new()?);
                self.streams.insert(handle, Arc::clone(&signal));
                signal
            }
        };
        Ok(ReadinessHandle(signal))
    }

    /// The listener's handle, made on first use.
    pub(crate) fn for_accept(&mut self) -> io::Result<ReadinessHandle> {
        let signal = match &self.accept {
            Some(signal) => Arc::clone(signal),
            None => Arc::clone(self.accept.insert(Arc::new(ReadySignal::new()?))),
        };
        Ok(ReadinessHandle(signal))
    }

    /// No stream holds `handle` any more: its handle shows nothing new.
    pub(crate) fn let_go(&mut self, handle: ConnectionHandle) {
        self.streams.remove(&handle);
    }

    /// Decide every handle's readiness from the endpoint: `read_shut` says whether a
    /// stream's reads were shut (they return end of stream), `socket_failed` whether every
    /// call fails now. Changes wait in `pending` for [`take_pending`](Self::take_pending).
    pub(crate) fn update(
        &mut self,
        endpoint: &mut Endpoint,
        read_shut: impl Fn(ConnectionHandle) -> bool,
        socket_failed: bool,
    ) {
        if self.streams.is_empty() && self.accept.is_none() {
            return;
        }
        for (&handle, signal) in &self.streams {
            let bits = match endpoint.connection_mut(handle) {
                // A failed socket or a connection gone: every call says so at once.
                _ if socket_failed => READABLE | WRITABLE,
                None => READABLE | WRITABLE,
                Some(connection) => {
                    let mut bits = 0;
                    if read_shut(handle) || read_would_not_block(connection) {
                        bits |= READABLE;
                    }
                    if write_would_not_block(connection) {
                        bits |= WRITABLE;
                    }
                    bits
                }
            };
            if signal.want(bits) {
                self.pending.push(Arc::clone(signal));
            }
        }
        if let Some(signal) = &self.accept {
            let readable = socket_failed || endpoint.can_accept();
            if signal.want(if readable { READABLE } else { 0 }) {
                self.pending.push(Arc::clone(signal));
            }
        }
    }

    /// Whether changes wait to be applied.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The changes to apply, taken under the lock; [`apply`] them once it is released.
    pub(crate) fn take_pending(&mut self) -> Vec<Arc<ReadySignal>> {
        std::mem::take(&mut self.pending)
    }
}

/// Make each signal show what the driver wants. Without the driver's lock.
pub(crate) fn apply(signals: Vec<Arc<ReadySignal>>) {
    for signal in signals {
        signal.apply();
    }
}
