//! Time to first byte (issue 21 item 5, docs/performance.md): A connects to B, sends a
//! request, and B answers it once it has read it all; the run measures, on the virtual
//! clock, when B's application read the request and when A's read the answer's first byte.
//! Plain Ferry takes two round trips (the handshake, then the request), the secure mode's
//! 1-RTT handshake the same (the request rides behind the client's first protected ACK),
//! and its 0-RTT one round trip (the request rides in the SYN).

use std::time::Duration;

use super::transfer::{observe, observed};
use super::{Host, Network, NetworkConfig, Observed, Observers};
use crate::conn::ConfigError;
use crate::time::Instant;

/// How A opens its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// Connect, then write the request (plain or secure 1-RTT, as the network says).
    Connect,
    /// Connect with the request as 0-RTT data
    /// ([`Endpoint::connect_with_early_data`](crate::endpoint::Endpoint::connect_with_early_data)):
    /// in the secure mode it rides in the SYN; otherwise it waits for the handshake.
    EarlyData,
}

/// When each step of a request and its response happened, from A's connect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FirstByteReport {
    /// B's application had read the whole request.
    pub request_read: Duration,
    /// A's application read the response's first byte: the time to first byte.
    pub first_byte: Duration,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum FirstByteError {
    /// A host's connection settings cannot work.
    Config(ConfigError),
    /// A capture could not be written.
    Capture(std::io::Error),
    /// No response byte within the time limit: a connection failed or the link lost
    /// everything.
    NoResponse {
        /// The simulated time it stopped at.
        at: Duration,
        /// What an application said went wrong ([`Application::failure`]), if anything.
        failure: Option<String>,
    },
}

impl std::fmt::Display for FirstByteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirstByteError::Config(error) => error.fmt(f),
            FirstByteError::Capture(error) => write!(f, "cannot write a capture: {error}"),
            FirstByteError::NoResponse { at, failure } => {
                let seconds = at.as_secs_f64();
                write!(f, "no response byte by {seconds:.3} s of simulated time")?;
                match failure {
                    Some(failure) => write!(f, " ({failure})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for FirstByteError {}

/// The longest a run may take in simulated time before it counts as no response.
pub const FIRST_BYTE_TIME_LIMIT: Duration = Duration::from_secs(600);

/// One end's application in a [`first_byte_with`] run: it takes the bytes its connection
/// delivered and gives the bytes to write, so a layer of its own (TLS, say) can run inside
/// it, as over TCP.
pub trait Application {
    /// The bytes the connection delivered since the last call (none at the start); returns
    /// what to write to the connection now.
    fn exchange(&mut self, received: &[u8]) -> Vec<u8>;
    /// The client: it has read the response's first byte. The server: it has read the whole
    /// request.
    fn finished(&self) -> bool;
    /// Why it cannot go on (a layer of its own failed), if it cannot: a run that ends without
    /// a response says so.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// The plain client: it writes `request` at once and is finished at the first byte back.
#[derive(Clone, Debug)]
pub struct PlainClient {
    request: Option<Vec<u8>>,
    received: bool,
}

impl PlainClient {
    /// A client that sends `request`.
    pub fn new(request: &[u8]) -> PlainClient {
        PlainClient {
            request: Some(request.to_vec()),
            received: false,
        }
    }
}

impl Application for PlainClient {
    fn exchange(&mut self, received: &[u8]) -> Vec<u8> {
        self.received |= !received.is_empty();
        self.request.take().unwrap_or_default()
    }

    fn finished(&self) -> bool {
        self.received
    }
}

/// The plain server: once it has read `request_len` bytes it writes `response`.
#[derive(Clone, Debug)]
pub struct PlainServer {
    request_len: usize,
    read: usize,
    response: Option<Vec<u8>>,
}

impl PlainServer {
    /// A server that answers a request of `request_len` bytes with `response`.
    pub fn new(request_len: usize, response: &[u8]) -> PlainServer {
        PlainServer {
            request_len,
            read: 0,
            response: Some(response.to_vec()),
        }
    }
}

impl Application for PlainServer {
    fn exchange(&mut self, received: &[u8]) -> Vec<u8> {
        self.read += received.len();
        if self.finished() {
            self.response.take().unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    fn finished(&self) -> bool {
        self.read >= self.request_len
    }
}

/// A sends `request` to B, opened as `opening` says; B answers with `response` once it has
/// read the whole request. Deterministic from `config`, like every simulated run.
pub fn first_byte(
    config: &NetworkConfig,
    opening: Opening,
    request: &[u8],
    response: &[u8],
) -> Result<FirstByteReport, FirstByteError> {
    let (report, _nothing_observed) = first_byte_with(
        config,
        opening,
        &mut PlainClient::new(request),
        &mut PlainServer::new(request.len(), response),
        Observers::default(),
    )?;
    Ok(report)
}

/// A runs `client` and B `server` over one connection, opened as `opening` says (the
/// client's first bytes are the early data), until the client is finished, feeding
/// `observers` as [`transfer_observed`](super::transfer_observed) does: each host's capture
/// holds what it sent and received until then, and the ladder and both hosts' trace events
/// are returned as recorded until then. (A traced host for the time-sequence plot gets its
/// segments and ACKs, not its congestion window: only the transfer samples that.)
pub fn first_byte_with(
    config: &NetworkConfig,
    opening: Opening,
    client: &mut dyn Application,
    server: &mut dyn Application,
    observers: Observers,
) -> Result<(FirstByteReport, Observed), FirstByteError> {
    let mut network = Network::new(config).map_err(FirstByteError::Config)?;
    observe(&mut network, observers);
    network.endpoint(Host::B).listen(1);
    let mut to_send = client.exchange(&[]);
    let endpoint = network.endpoint(Host::A);
    let handle = match opening {
        Opening::EarlyData => {
            let (handle, taken) = endpoint
                .connect_with_early_data(Host::B.address(), &to_send)
                .expect("a fresh endpoint has no connections");
            to_send.drain(..taken);
            handle
        }
        Opening::Connect => endpoint
            .connect(Host::B.address())
            .expect("a fresh endpoint has no connections"),
    };
    let deadline = Instant::ZERO + FIRST_BYTE_TIME_LIMIT;
    let mut accepted = None;
    let mut server_to_send = Vec::new();
    let mut request_read = None;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let now = network.now().since_epoch();
        if let Some(connection) = network.endpoint(Host::A).connection_mut(handle) {
            let received = read_available(connection, &mut buf);
            to_send.extend(client.exchange(&received));
            let written = connection.write(&to_send).unwrap_or(0);
            to_send.drain(..written);
        }
        if client.finished() {
            network.finish_captures().map_err(FirstByteError::Capture)?;
            let report = FirstByteReport {
                request_read: request_read.unwrap_or_default(),
                first_byte: now,
            };
            return Ok((report, observed(&mut network)));
        }
        if accepted.is_none() {
            accepted = network.endpoint(Host::B).accept();
        }
        if let Some(connection) = accepted.and_then(|h| network.endpoint(Host::B).connection_mut(h))
        {
            let received = read_available(connection, &mut buf);
            server_to_send.extend(server.exchange(&received));
            let written = connection.write(&server_to_send).unwrap_or(0);
            server_to_send.drain(..written);
            if server.finished() {
                request_read.get_or_insert(now);
            }
        }
        if !network.step() || network.now() > deadline {
            return Err(FirstByteError::NoResponse {
                at: network.now().since_epoch(),
                failure: client.failure().or_else(|| server.failure()),
            });
        }
    }
}

/// Everything `connection` has to read now.
fn read_available(connection: &mut crate::conn::Connection, buf: &mut [u8]) -> Vec<u8> {
    let mut received = Vec::new();
    while let Ok(len @ 1..) = connection.read(buf) {
        received.extend_from_slice(&buf[..len]);
    }
    received
}
