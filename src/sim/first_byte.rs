//! Time to first byte (issue 21 item 5, docs/performance.md): A connects to B, sends a
//! request, and B answers it once it has read it all; the run measures, on the virtual
//! clock, when B's application read the request and when A's read the answer's first byte.
//! Plain Ferry takes two round trips (the handshake, then the request), the secure mode's
//! 1-RTT handshake the same (the request rides behind the client's first protected ACK),
//! and its 0-RTT one round trip (the request rides in the SYN).

use std::time::Duration;

use super::{Host, Network, NetworkConfig};
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
    /// No response byte within the time limit: a connection failed or the link lost
    /// everything.
    NoResponse {
        /// The simulated time it stopped at.
        at: Duration,
    },
}

impl std::fmt::Display for FirstByteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirstByteError::Config(error) => error.fmt(f),
            FirstByteError::NoResponse { at } => {
                write!(
                    f,
                    "no response byte by {:.3} s of simulated time",
                    at.as_secs_f64()
                )
            }
        }
    }
}

impl std::error::Error for FirstByteError {}

/// The longest a run may take in simulated time before it counts as no response.
pub const FIRST_BYTE_TIME_LIMIT: Duration = Duration::from_secs(600);

/// A sends `request` to B, opened as `opening` says; B answers with `response` once it has
/// read the whole request. Deterministic from `config`, like every simulated run.
pub fn first_byte(
    config: &NetworkConfig,
    opening: Opening,
    request: &[u8],
    response: &[u8],
) -> Result<FirstByteReport, FirstByteError> {
    let mut network = Network::new(config).map_err(FirstByteError::Config)?;
    network.endpoint(Host::B).listen(1);
    let client = network.endpoint(Host::A);
    let (handle, mut written) = match opening {
        Opening::EarlyData => client
            .connect_with_early_data(Host::B.address(), request)
            .expect("a fresh endpoint has no connections"),
        Opening::Connect => (
            client
                .connect(Host::B.address())
                .expect("a fresh endpoint has no connections"),
            0,
        ),
    };
    let deadline = Instant::ZERO + FIRST_BYTE_TIME_LIMIT;
    let mut server = None;
    let mut received = Vec::new();
    let mut request_read = None;
    let mut buf = vec![0; 64 * 1024];
    loop {
        if written < request.len() {
            if let Some(connection) = network.endpoint(Host::A).connection_mut(handle) {
                written += connection.write(&request[written..]).unwrap_or(0);
            }
        }
        if server.is_none() {
            server = network.endpoint(Host::B).accept();
        }
        if let (Some(accepted), None) = (server, request_read) {
            let now = network.now();
            if let Some(connection) = network.endpoint(Host::B).connection_mut(accepted) {
                while let Ok(len @ 1..) = connection.read(&mut buf) {
                    received.extend_from_slice(&buf[..len]);
                }
                if received.len() >= request.len() {
                    request_read = Some(now.since_epoch());
                    // The response fits the send buffer; a bigger one is no first byte's
                    // concern.
                    let _ = connection.write(response);
                }
            }
        }
        if let Some(connection) = network.endpoint(Host::A).connection_mut(handle) {
            if matches!(connection.read(&mut buf[..1]), Ok(1)) {
                return Ok(FirstByteReport {
                    request_read: request_read.unwrap_or_default(),
                    first_byte: network.now().since_epoch(),
                });
            }
        }
        if !network.step() || network.now() > deadline {
            return Err(FirstByteError::NoResponse {
                at: network.now().since_epoch(),
            });
        }
    }
}
