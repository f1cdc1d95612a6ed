//! What every async stream of Ferry's shares, whoever drives it (the tokio driver,
//! `ferry::tokio`, or the simulated world, `ferry::sim::world::net`): what a read, a write, a
//! shutdown, a connect and a close do to the connection once the driver has reached it, and,
//! through [`stream_halves!`], tokio's `AsyncRead` and `AsyncWrite`, `split` and
//! `into_split`, the four halves and `ReuniteError`, shaped like `tokio::net::TcpStream`'s.
//! Each driver keeps its own types and writes only how its connection is reached (a lock, a
//! `RefCell`) and how a task waits for it.

use std::io;
use std::time::Duration;

use tokio::io::ReadBuf;

use crate::conn::{Connection, ReadError};
use crate::io_error::unless_would_block;

/// Read what the connection has into `buf`: `None` if nothing yet (wait), else the outcome
/// (end of stream leaves `buf` unfilled).
pub(crate) fn read_into(
    connection: &mut Connection,
    buf: &mut ReadBuf<'_>,
) -> Option<io::Result<()>> {
    let readable = connection.readable_bytes();
    fill(buf, readable, |unfilled| connection.read(unfilled))
}

#[cfg(feature = "tokio")]
/// [`read_into`], leaving the bytes unread: `tokio::net::TcpStream::peek`.
pub(crate) fn peek_into(connection: &Connection, buf: &mut ReadBuf<'_>) -> Option<io::Result<()>> {
    fill(buf, connection.readable_bytes(), |unfilled| {
        connection.peek(unfilled)
    })
}

/// Fill `buf` by `take` (a read or a peek of a connection with `readable` bytes).
fn fill(
    buf: &mut ReadBuf<'_>,
    readable: usize,
    take: impl FnOnce(&mut [u8]) -> Result<usize, ReadError>,
) -> Option<io::Result<()>> {
    // Only as much of `buf` as there is to read is zeroed: at least one byte, for `read` to
    // tell the end of the stream, an error, or nothing yet.
    let want = buf.remaining().min(readable.max(1));
    match take(buf.initialize_unfilled_to(want)) {
        Ok(count) => {
            buf.advance(count);
            Some(Ok(()))
        }
        Err(ReadError::WouldBlock) => None,
        Err(error) => Some(Err(error.into())),
    }
}

#[cfg(feature = "tokio")]
/// Whether a read would not wait: data, the end of the stream or an error is there to read
/// (`TcpStream::readable`, which reports no error itself: the read does).
pub(crate) fn read_ready(connection: &Connection) -> Option<io::Result<()>> {
    crate::net::ready::read_would_not_block(connection).then_some(Ok(()))
}

#[cfg(feature = "tokio")]
/// Whether a write would not wait: the send buffer has room, or the write would fail
/// (`TcpStream::writable`).
pub(crate) fn write_ready(connection: &mut Connection) -> Option<io::Result<()>> {
    crate::net::ready::write_would_not_block(connection).then_some(Ok(()))
}

/// Write what the send buffer takes of `buf`: `None` if it is full (wait), else the count
/// or the error.
pub(crate) fn write_from(connection: &mut Connection, buf: &[u8]) -> Option<io::Result<usize>> {
    unless_would_block(connection.write(buf))
}

/// Whether the handshake is done: `None` while it is under way, else the outcome.
pub(crate) fn connected(connection: &Connection) -> Option<io::Result<()>> {
    if connection.is_connected() {
        Some(Ok(()))
    } else {
        connection.error().map(|error| Err(error.into()))
    }
}

/// The error of a close whose linger ran out before the peer acknowledged everything (the
/// connection is reset).
pub(crate) fn linger_ran_out(linger: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the peer did not acknowledge the data and FIN within the linger time \
             ({linger:?}), so the connection was reset"
        ),
    )
}

/// Defines, in the calling module, `ReadHalf`, `WriteHalf`, `OwnedReadHalf`,
/// `OwnedWriteHalf` and `ReuniteError`, `$stream::split` and `$stream::into_split`, and
/// tokio's `AsyncRead` and `AsyncWrite` for the stream and its halves.
///
/// The caller's `$stream` is `struct $stream { inner: $ptr<Inner> }` (`$ptr` is `Arc` or `Rc`),
/// and its `Inner` has `poll_read`, `poll_write` and `poll_shutdown` with `AsyncRead`'s and
/// `AsyncWrite`'s signatures (taking `&self`), `shut_write(&self)` (queue the FIN without
/// waiting), and `peer_addr(&self)` and `local_addr(&self)`, each a `SocketAddr`.
macro_rules! stream_halves {
    ($stream:ident, $ptr:ident) => {
        impl $stream {
            /// Split into a reading half and a writing half that borrow the stream, for two
            /// futures of one task (as `TcpStream::split`).
            pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
                (ReadHalf { stream: self }, WriteHalf { stream: self })
            }

            /// Split into halves that own the connection, for two tasks (as
            /// `TcpStream::into_split`). Dropping the [`OwnedWriteHalf`] shuts the write side
            /// down (a FIN follows the data), as tokio's does; the connection closes when both
            /// halves are gone. [`OwnedReadHalf::reunite`] puts them back together.
            pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
                let inner = self.inner;
                (
                    OwnedReadHalf {
                        inner: $ptr::clone(&inner),
                    },
                    OwnedWriteHalf {
                        inner,
                        shutdown_on_drop: true,
                    },
                )
            }
        }

        $crate::async_stream::async_read_via!($stream, this => this.inner);
        $crate::async_stream::async_write_via!($stream, this => this.inner);
        $crate::async_stream::async_read_via!(ReadHalf<'_>, this => this.stream.inner);
        $crate::async_stream::async_write_via!(WriteHalf<'_>, this => this.stream.inner);
        $crate::async_stream::async_read_via!(OwnedReadHalf, this => this.inner);
        $crate::async_stream::async_write_via!(OwnedWriteHalf, this => this.inner);

        #[doc = concat!("The reading half of a [`", stringify!($stream), "`], borrowed: [`",
            stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct ReadHalf<'a> {
            stream: &'a $stream,
        }

        #[doc = concat!("The writing half of a [`", stringify!($stream), "`], borrowed: [`",
            stringify!($stream), "::split`].")]
        #[derive(Debug)]
        pub struct WriteHalf<'a> {
            stream: &'a $stream,
        }

        #[doc = concat!("The reading half of a [`", stringify!($stream), "`], owned: [`",
            stringify!($stream), "::into_split`].")]
        pub struct OwnedReadHalf {
            inner: $ptr<Inner>,
        }

        #[doc = concat!("The writing half of a [`", stringify!($stream), "`], owned: [`",
            stringify!($stream), "::into_split`]. Dropping it shuts the write side down, as \
            tokio's does (see [`forget`](Self::forget)).")]
        pub struct OwnedWriteHalf {
            inner: $ptr<Inner>,
            shutdown_on_drop: bool,
        }

        impl ::std::fmt::Debug for OwnedReadHalf {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("OwnedReadHalf")
                    .field("peer", &self.inner.peer_addr())
                    .finish_non_exhaustive()
            }
        }

        impl ::std::fmt::Debug for OwnedWriteHalf {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("OwnedWriteHalf")
                    .field("peer", &self.inner.peer_addr())
                    .finish_non_exhaustive()
            }
        }

        /// [`OwnedReadHalf::reunite`] was given halves of two different streams; here they are
        /// back.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl ::std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str("tried to reunite halves that are not from the same stream")
            }
        }

        impl ::std::error::Error for ReuniteError {}

        impl OwnedReadHalf {
            /// The stream again, if `write` is this half's other half.
            pub fn reunite(self, mut write: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !$ptr::ptr_eq(&self.inner, &write.inner) {
                    return Err(ReuniteError(self, write));
                }
                write.shutdown_on_drop = false;
                drop(write);
                Ok($stream { inner: self.inner })
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
                Ok(self.inner.peer_addr())
            }

            /// The local socket's address.
            pub fn local_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
                Ok(self.inner.local_addr())
            }
        }

        impl OwnedWriteHalf {
            /// The stream again, if `read` is this half's other half.
            pub fn reunite(self, read: OwnedReadHalf) -> Result<$stream, ReuniteError> {
                read.reunite(self)
            }

            /// Drop the half without shutting the write side down; the connection still closes
            /// when the read half is dropped too.
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
                Ok(self.inner.peer_addr())
            }

            /// The local socket's address.
            pub fn local_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
                Ok(self.inner.local_addr())
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    self.inner.shut_write();
                }
            }
        }
    };
}

/// `AsyncRead` for a stream or half whose reads go to the connection's `Inner`, reached by
/// `$inner` from `$this`.
macro_rules! async_read_via {
    ($type:ty, $this:ident => $inner:expr) => {
        impl ::tokio::io::AsyncRead for $type {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut ::tokio::io::ReadBuf<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                let $this = &*self;
                $inner.poll_read(cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a stream or half whose writes go to the connection's `Inner`. Writes go
/// into the connection's send buffer and are sent at once, as far as the windows allow;
/// `poll_write` waits only when the buffer is full. Nothing to flush: `poll_write` handed the
/// data to the connection, as with `TcpStream`. `poll_shutdown` shuts the write side down (a
/// FIN follows the data written) and completes once the peer has **acknowledged** the data
/// and the FIN, or with the connection's error. (A `TcpStream`'s shutdown completes when the
/// FIN is queued; Ferry's tells the writer its data arrived.) Reading goes on until the peer
/// closes its side.
macro_rules! async_write_via {
    ($type:ty, $this:ident => $inner:expr) => {
        impl ::tokio::io::AsyncWrite for $type {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let $this = &*self;
                $inner.poll_write(cx, buf)
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                let $this = &*self;
                $inner.poll_shutdown(cx)
            }
        }
    };
}

pub(crate) use {async_read_via, async_write_via, stream_halves};
