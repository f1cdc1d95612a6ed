//! Built-in programs: a bulk sender and receiver, an echo server, a request/response client
//! and server, for worlds described without writing a program (`ferry sim --scenario`,
//! docs/simulation.md) and for tests that need traffic. Each is an ordinary world program on
//! [`net::Stream`](super::net::Stream) and [`net::Listener`](super::net::Listener); the
//! clients write a [`FlowReport`](super::FlowReport) each to a [`Flows`] log. The
//! request/response protocol is described at [`REQUEST_HEADER`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::flows::{FlowKind, Flows, Latency};
use super::net::{Listener, Stream};
use super::time::{elapsed, sleep};
use super::{spawn, ConfigError, World};

/// How much a bulk sender sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    /// This many bytes.
    Bytes(u64),
    /// As much as it can for this long from its start, then it closes.
    For(Duration),
}

/// A built-in program, as [`World::builtin`] runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuiltIn {
    /// A server: accept every connection on `port` and read it to the end, discarding.
    BulkReceive {
        /// The port it listens on, on every address of its host.
        port: u16,
    },
    /// A server: write back every byte each connection on `port` sends, and close after the
    /// peer does.
    Echo {
        /// The port it listens on.
        port: u16,
    },
    /// A server: answer each request on `port` with the response it asks for (the protocol:
    /// [`REQUEST_HEADER`]).
    Respond {
        /// The port it listens on.
        port: u16,
    },
    /// A client: connect, send `amount` of data, close, and wait until the peer has
    /// acknowledged it all.
    BulkSend {
        /// Where: `"receiver:5000"` (a node's name) or `"10.0.1.2:5000"`.
        to: String,
        /// How much.
        amount: Amount,
    },
    /// A client: connect and make `count` requests, one at a time on one connection, then
    /// close.
    Requests {
        /// Where: `"server:80"` or `"10.0.1.2:80"`.
        to: String,
        /// How many requests.
        count: u64,
        /// Each request's size in bytes, its 8-byte header included (so at least 8).
        request: u32,
        /// The size of the response each asks for.
        response: u32,
        /// A request starts this long after the one before started, or as soon as that one's
        /// response is in if that is later (zero: back to back).
        interval: Duration,
    },
}

/// The smallest request: its header, two 32-bit lengths.
///
/// The request/response protocol: each request begins with 8 bytes, its own length (header
/// included) and the length of the response it asks for, each a 32-bit big-endian number;
/// the rest of the request is filler. The server reads the whole request, then writes that
/// many bytes back. An echo server answers a request of N bytes with the same N bytes, so a
/// request client whose response size equals its request size works against either.
pub const REQUEST_HEADER: usize = 8;

/// What a bulk sender writes at a time, and what the servers read at a time.
const CHUNK: usize = 64 * 1024;

/// The bytes bulk senders and responses are made of: their content does not matter.
static FILLER: [u8; CHUNK] = [0x5a; CHUNK];

impl BuiltIn {
    /// Whether it is a server (runs for the life of its host) rather than a client (runs
    /// once; the run lasts until every client has finished).
    pub fn is_server(&self) -> bool {
        matches!(
            self,
            BuiltIn::BulkReceive { .. } | BuiltIn::Echo { .. } | BuiltIn::Respond { .. }
        )
    }
}

impl World {
    /// Run the built-in `program` on `host` from simulated time `start`: a server with
    /// [`World::host`] (again from the start each time the host restarts; late, a restart
    /// begins at once), a client with [`World::client`], writing its [`FlowReport`](super::FlowReport)
    /// to `flows`. A client records a failure in its report and ends without failing the run.
    pub fn builtin(
        &mut self,
        host: &str,
        start: Duration,
        program: BuiltIn,
        flows: &Flows,
    ) -> Result<(), ConfigError> {
        if let BuiltIn::Requests { request, .. } = program {
            if (request as usize) < REQUEST_HEADER {
                return Err(ConfigError::BadProgram {
                    host: host.to_string(),
                    why: format!(
                        "a request of {request} bytes: a request is at least its \
                         {REQUEST_HEADER}-byte header"
                    ),
                });
            }
        }
        let wait = move || sleep(start.saturating_sub(elapsed()));
        match program {
            BuiltIn::BulkReceive { port } | BuiltIn::Echo { port } | BuiltIn::Respond { port } => {
                let service = match program {
                    BuiltIn::BulkReceive { .. } => Service::Discard,
                    BuiltIn::Echo { .. } => Service::Echo,
                    _ => Service::Respond,
                };
                let flows = flows.clone();
                self.host(host, move || {
                    let flows = flows.clone();
                    async move {
                        wait().await;
                        serve(port, service, flows).await
                    }
                })
            }
            BuiltIn::BulkSend { to, amount } => {
                let (flows, name) = (flows.clone(), host.to_string());
                self.client(host, async move {
                    wait().await;
                    let flow = flows.open(name, to.clone(), FlowKind::Bulk, elapsed());
                    client_flow(&flows, flow, &to, Work::Bulk(amount)).await;
                    Ok(())
                })
            }
            BuiltIn::Requests {
                to,
                count,
                request,
                response,
                interval,
            } => {
                let (flows, name) = (flows.clone(), host.to_string());
                let requests = RequestPlan {
                    count,
                    request,
                    response,
                    interval,
                };
                self.client(host, async move {
                    wait().await;
                    let flow = flows.open(name, to.clone(), FlowKind::Requests, elapsed());
                    client_flow(&flows, flow, &to, Work::Requests(requests)).await;
                    Ok(())
                })
            }
        }
    }
}

/// What a client does on its connection.
enum Work {
    Bulk(Amount),
    Requests(RequestPlan),
}

/// A request client's plan.
#[derive(Clone, Copy)]
struct RequestPlan {
    count: u64,
    request: u32,
    response: u32,
    interval: Duration,
}

/// Connect to `to`, do `work`, close (waiting until the peer has acknowledged everything and
/// the FIN), and record in flow `flow` how it went: when it ended, or why it failed, and the
/// connection's counters.
async fn client_flow(flows: &Flows, flow: usize, to: &str, work: Work) {
    let mut stream = match Stream::connect(to).await {
        Ok(stream) => stream,
        Err(error) => {
            flows.update(flow, |report| report.error = Some(error.to_string()));
            return;
        }
    };
    flows.update(flow, |report| {
        report.local = stream.local_addr().ok();
        report.peer = stream.peer_addr().ok();
    });
    let worked = match work {
        Work::Bulk(amount) => bulk_send(&mut stream, amount, flows, flow).await,
        Work::Requests(plan) => make_requests(&mut stream, plan, flows, flow).await,
    };
    let outcome = match worked {
        Ok(()) => shutdown(&mut stream).await,
        Err(error) => Err(error),
    };
    let stats = stream.stats();
    flows.update(flow, |report| {
        report.stats = Some(stats);
        match outcome {
            Ok(()) => report.ended = Some(elapsed()),
            Err(error) => report.error = Some(error.to_string()),
        }
    });
}

/// Write `amount` of filler to `stream`, counting it in flow `flow` as it goes.
async fn bulk_send(
    stream: &mut Stream,
    amount: Amount,
    flows: &Flows,
    flow: usize,
) -> io::Result<()> {
    let deadline = match amount {
        Amount::For(duration) => Some(elapsed().saturating_add(duration)),
        Amount::Bytes(_) => None,
    };
    let mut written = 0u64;
    loop {
        let want = match (amount, deadline) {
            (Amount::Bytes(total), _) => total - written,
            (_, Some(deadline)) if elapsed() < deadline => CHUNK as u64,
            _ => 0,
        };
        if want == 0 {
            return Ok(());
        }
        let chunk = &FILLER[..want.min(CHUNK as u64) as usize];
        written += write_some(stream, chunk).await? as u64;
        flows.update(flow, |report| report.bytes = written);
    }
}

/// Make the requests of `plan` on `stream`, one at a time, timing each.
async fn make_requests(
    stream: &mut Stream,
    plan: RequestPlan,
    flows: &Flows,
    flow: usize,
) -> io::Result<()> {
    let first = elapsed();
    let mut header = [0u8; REQUEST_HEADER];
    header[..4].copy_from_slice(&plan.request.to_be_bytes());
    header[4..].copy_from_slice(&plan.response.to_be_bytes());
    let (mut shortest, mut longest, mut total) = (Duration::MAX, Duration::ZERO, Duration::ZERO);
    for done in 0..plan.count {
        let due = first.saturating_add(
            plan.interval
                .saturating_mul(done.min(u64::from(u32::MAX)) as u32),
        );
        sleep(due.saturating_sub(elapsed())).await;
        let sent_at = elapsed();
        write_all(stream, &header).await?;
        write_filler(stream, u64::from(plan.request) - REQUEST_HEADER as u64).await?;
        read_exactly(stream, u64::from(plan.response)).await?;
        let took = elapsed().saturating_sub(sent_at);
        (shortest, longest, total) = (shortest.min(took), longest.max(took), total + took);
        flows.update(flow, |report| {
            report.requests = done + 1;
            report.bytes += u64::from(plan.request) + u64::from(plan.response);
            report.latency = Some(Latency {
                min: shortest,
                mean: total / (done + 1).min(u64::from(u32::MAX)) as u32,
                max: longest,
            });
        });
    }
    Ok(())
}

/// What a server does with each connection.
#[derive(Clone, Copy)]
enum Service {
    Discard,
    Echo,
    Respond,
}

/// Listen on `port` of every address and serve each connection in a task of its own, noting
/// its counters in `flows` as the server side of its flow. A connection that fails ends its
/// task alone.
async fn serve(port: u16, service: Service, flows: Flows) -> super::ProgramResult {
    let listener = Listener::bind(("0.0.0.0", port)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let flows = flows.clone();
        spawn(async move {
            let note = |stream: &Stream| {
                if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
                    flows.server_side(local, peer, stream.stats());
                }
            };
            let _ = match service {
                Service::Discard => discard(&mut stream, &note).await,
                Service::Echo => echo(&mut stream, &note).await,
                Service::Respond => respond(&mut stream, &note).await,
            };
        });
    }
}

// Each service calls `note` when the peer's FIN arrives: by then the peer has acknowledged
// everything the server sent (its ACKs come before its FIN), so the server's counters are
// final, and the peer has not yet heard that its FIN arrived, so its flow has not ended.

/// Read `stream` to the end.
async fn discard(stream: &mut Stream, note: &impl Fn(&Stream)) -> io::Result<()> {
    let mut buffer = vec![0; CHUNK];
    while read_some(stream, &mut buffer).await? > 0 {}
    note(stream);
    Ok(())
}

/// Write back what `stream` sends until it closes, then close.
async fn echo(stream: &mut Stream, note: &impl Fn(&Stream)) -> io::Result<()> {
    let mut buffer = vec![0; CHUNK];
    loop {
        let count = read_some(stream, &mut buffer).await?;
        if count == 0 {
            note(stream);
            return shutdown(stream).await;
        }
        write_all(stream, &buffer[..count]).await?;
    }
}

/// Answer each request on `stream` until it closes, then close.
async fn respond(stream: &mut Stream, note: &impl Fn(&Stream)) -> io::Result<()> {
    let mut header = [0u8; REQUEST_HEADER];
    loop {
        let count = read_some(stream, &mut header).await?;
        if count == 0 {
            note(stream);
            return shutdown(stream).await;
        }
        read_exactly_into(stream, &mut header[count..]).await?;
        let request = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let response = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let rest = u64::from(request)
            .checked_sub(REQUEST_HEADER as u64)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a request says it is {request} bytes long, less than its header"),
                )
            })?;
        read_exactly(stream, rest).await?;
        write_filler(stream, u64::from(response)).await?;
    }
}

// ---- The stream's tokio traits as calls (the library's tokio has no io-util) ----

pub(super) async fn read_some(stream: &mut Stream, buffer: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut read = ReadBuf::new(buffer);
        Pin::new(&mut *stream)
            .poll_read(cx, &mut read)
            .map_ok(|()| read.filled().len())
    })
    .await
}

/// Read exactly `buffer.len()` bytes; an end of stream first is `UnexpectedEof`.
async fn read_exactly_into(stream: &mut Stream, buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        match read_some(stream, &mut buffer[filled..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            count => filled += count,
        }
    }
    Ok(())
}

/// Read and discard exactly `count` bytes.
async fn read_exactly(stream: &mut Stream, mut count: u64) -> io::Result<()> {
    let mut buffer = [0u8; 4096];
    while count > 0 {
        let want = count.min(buffer.len() as u64) as usize;
        read_exactly_into(stream, &mut buffer[..want]).await?;
        count -= want as u64;
    }
    Ok(())
}

async fn write_some(stream: &mut Stream, bytes: &[u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, bytes)).await
}

pub(super) async fn write_all(stream: &mut Stream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let count = write_some(stream, bytes).await?;
        if count == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[count..];
    }
    Ok(())
}

/// Write `count` bytes of filler.
async fn write_filler(stream: &mut Stream, mut count: u64) -> io::Result<()> {
    while count > 0 {
        let want = count.min(CHUNK as u64) as usize;
        write_all(stream, &FILLER[..want]).await?;
        count -= want as u64;
    }
    Ok(())
}

/// Send the FIN and wait until the peer has acknowledged it and everything before it.
pub(super) async fn shutdown(stream: &mut Stream) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_shutdown(cx)).await
}
