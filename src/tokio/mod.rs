//! Ferry on tokio (the `tokio` feature): [`Stream`] and [`Listener`] behave like
//! `tokio::net::TcpStream` and `TcpListener`.
//!
//! # How it runs
//!
//! Each [`Listener::bind`] and each [`Stream::connect`] makes one UDP socket and spawns one
//! *driver task* on the runtime it is called from; the connections a listener accepts share
//! its socket and its task. There is no thread per connection, nor per socket. The driver
//! task feeds the sans-IO [`Endpoint`](crate::endpoint::Endpoint) what arrives and runs its
//! timers; application tasks read and write the connection directly (under a lock never held
//! across an `.await` or a system call) and send what it emits themselves. A task waiting to
//! read, to write, or to accept is woken only by a change to what it waits on, so idle
//! connections cost an active one nothing.
//!
//! Errors are the `io::Error` kinds of [`crate::net`] (`ConnectionRefused`,
//! `ConnectionReset`, `TimedOut`, `BrokenPipe`, ...), through the same `From` impls.
//!
//! | `tokio::net::TcpStream` | [`Stream`] |
//! |---|---|
//! | `connect(addrs)` | [`connect`](Stream::connect): each address in turn; [`connect_with`](Stream::connect_with) adds a [`SocketConfig`] |
//! | `AsyncRead`, `AsyncWrite` | the same; `poll_shutdown` completes once the peer has **acknowledged** the data and FIN |
//! | `split`, `into_split`, `reunite`, `OwnedWriteHalf::forget` | the same |
//! | `peer_addr`, `local_addr` | the same |
//! | `set_linger`, `linger` | [`set_linger`](Stream::set_linger), [`linger`](Stream::linger): `SO_LINGER`'s meaning, 30 s by default (see below) |
//! | `set_nodelay`, `nodelay` | the same: Nagle on by default, off with `set_nodelay(true)` |
//! | `set_ttl`, `ttl` | [`set_ttl`](Stream::set_ttl), [`ttl`](Stream::ttl): the UDP socket's TTL (its hop limit on IPv6); an accepted stream shares its listener's socket |
//! | none | [`close`](Stream::close) (reports whether the peer got everything), [`set_user_timeout`](Stream::set_user_timeout), [`stats`](Stream::stats), [`fault_stats`](Stream::fault_stats) |
//! | `readable`, `writable`, `poll_read_ready`, `poll_write_ready` | the same: ready once a read or write would not wait (data, the end of the stream, room in the send buffer, or an error it would report) |
//! | `try_read`, `try_write` | the same: `WouldBlock` when a read or write would wait |
//! | `peek`, `poll_peek` | the same; the bytes stay in the receive buffer, so the window does not open for them |
//! | `ready(Interest)`, `try_read_vectored`, `try_read_buf`, `into_std`, ... | not yet |
//!
//! | `tokio::net::TcpListener` | [`Listener`] |
//! |---|---|
//! | `bind(addrs)` | [`bind`](Listener::bind); [`bind_with`](Listener::bind_with) adds a [`SocketConfig`] (backlog, linger, user timeout, faults, capture, trace) |
//! | `accept`, `poll_accept`, `local_addr` | the same |
//! | `set_ttl`, `ttl` | [`set_ttl`](Listener::set_ttl), [`ttl`](Listener::ttl): the UDP socket's, which accepted streams share |
//!
//! Faults, captures and traces ([`SocketConfig::faults`](crate::SocketConfig::faults),
//! [`capture`](crate::SocketConfig::capture), [`trace`](crate::SocketConfig::trace)) work as
//! on [`crate::net`]: both drivers put the same fault links, capture and trace sink between
//! the endpoint and the socket, so a lab run means the same on either;
//! [`Stream::fault_stats`] says what the injector did.
//!
//! # Closing
//!
//! Ferry's TCP lives in the process, and here in its runtime, so a close must finish before
//! either goes:
//!
//! - **Dropping** a [`Stream`] (or the last of its halves) closes it without blocking: a FIN
//!   after the data written, or a RST if received data was left unread (RFC 9293 section
//!   3.6.1, RFC 2525), as [`crate::Stream`] does. The driver task goes on sending until the
//!   peer has acknowledged everything, for at most the *linger* (30 s by default;
//!   [`SocketConfig::linger`], [`Stream::set_linger`]): a close still owed then is reset,
//!   so the peer learns at once, and a stalled or silent peer cannot hold the socket and
//!   task. A linger of `None` leaves the close to the connection's own limits (retransmissions,
//!   user timeout, keepalives). Once our FIN is acknowledged, a peer that never closes its
//!   side is reset after 60 s (Linux's `tcp_fin_timeout`); TIME-WAIT lasts
//!   [`Config::time_wait`](crate::Config::time_wait) beyond
//!   [`Config::max_rto`](crate::Config::max_rto), 64 s by default, as a kernel's does (Linux:
//!   60 s). Then the connection, and with the last one a client's socket and task, is gone.
//!   A process keeps at most a quarter of its descriptor limit of sockets open only for
//!   TIME-WAIT (the std driver's and these together), ending the oldest TIME-WAIT past that
//!   as Linux does past `tcp_max_tw_buckets`, and a connect that finds no descriptor left
//!   ends the oldest one's and tries again ([`crate::net::time_wait_stats`]).
//! - **[`Stream::close`]** waits for that acknowledgment, at most the linger, and reports the
//!   outcome (`TimedOut`, with the connection reset, if the linger ran out);
//!   **`shutdown().await`** (`AsyncWriteExt`) waits for it too, with no linger bound (the
//!   connection's limits end it), and leaves the read side open. Either is `Ok` only once
//!   the peer acknowledged every byte and the FIN; a reset before that is `ConnectionReset`,
//!   whatever the state (CLOSING and LAST-ACK too).
//! - **When the runtime shuts down** with closes still under way (as `#[tokio::main]`'s does
//!   when `main` returns), the driver task is dropped: it hands itself to a thread of
//!   Ferry's (one per process, started on first need), which finishes those closes on a
//!   runtime of its own. Data and FIN get until the close's linger (30 s by default) to be
//!   acknowledged; once they are, the connection waits for the peer to be quiet for three
//!   retransmission timeouts (at most 3 s), time to repeat its FIN if our last ACK was lost;
//!   what cannot finish is reset. The process's exit waits for this, as it does for
//!   [`crate::net`]'s streams, and closes first what streams still hold. So `connect`,
//!   `write_all`, and returning from `main` delivers everything, followed by end of stream.
//!   (`std::process::exit` called while the runtime still runs does not stop its tasks, and
//!   does not wait for them: return from `main`, or drop the runtime, first.)
//!
//! # Example
//!
//! ```
//! use ferry::tokio::{Listener, Stream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let listener = Listener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let server = tokio::spawn(async move {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     let mut request = String::new();
//!     stream.read_to_string(&mut request).await?;
//!     stream.write_all(request.to_uppercase().as_bytes()).await?;
//!     stream.close().await?;
//!     Ok::<_, std::io::Error>(request)
//! });
//!
//! let mut client = Stream::connect(address).await?;
//! client.write_all(b"hello, ferry").await?;
//! client.shutdown().await?; // the server has the request and our FIN
//! let mut reply = String::new();
//! client.read_to_string(&mut reply).await?;
//! assert_eq!(reply, "HELLO, FERRY");
//! assert_eq!(server.await.unwrap()?, "hello, ferry");
//! # Ok(())
//! # }
//! ```

mod close;
mod driver;
mod listener;
mod orphan;
mod stream;
mod task;
mod wake;

pub use listener::Listener;
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, Stream, WriteHalf};

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::net::SocketConfig;

/// Refuse connection settings that cannot work (`InvalidInput`, as [`Config::check`] words
/// it), before any address is looked up.
///
/// [`Config::check`]: crate::conn::Config::check
fn check_config(config: &SocketConfig) -> io::Result<()> {
    config.connection.check()?;
    Ok(())
}

/// Run `attempt` on each address `addr` resolves to, in turn, until one succeeds: the first
/// success, or the last address's error.
async fn each_address<T, F>(
    addr: impl ::tokio::net::ToSocketAddrs,
    mut attempt: impl FnMut(SocketAddr) -> F,
) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
{
    let mut last_error = None;
    for address in ::tokio::net::lookup_host(addr).await? {
        match attempt(address).await {
            Ok(value) => return Ok(value),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(crate::net::resolved_to_nothing))
}
