//! An on-path relay for loopback tests: a UDP socket between one client and a server that
//! forwards each datagram, and lets a test hold, reorder or forge segments on the way, as a
//! slow path or an attacker on the path could. The client connects to the relay's address;
//! the server sees the relay as its peer.
//!
//! The relay stops when dropped, and by itself after [`LIFETIME`]: no test can leave it
//! running.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ferry::wire::{Flags, Segment, SeqNum};

/// The longest a relay runs.
pub const LIFETIME: Duration = Duration::from_secs(120);

/// Which way a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    Server,
    Client,
}

/// What the relay does with each datagram: the datagrams to send instead, each with its
/// direction (the datagram itself to forward it, nothing to hold or drop it).
pub type Tamper = Box<dyn FnMut(Toward, &[u8]) -> Vec<(Toward, Vec<u8>)> + Send>;

pub struct Relay {
    address: SocketAddr,
    client: Arc<Mutex<Option<SocketAddr>>>,
    last_from_client: Arc<Mutex<Vec<u8>>>,
    last_from_server: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// A relay to `server` on a free loopback port, passing each datagram through `tamper`.
    pub fn start(server: SocketAddr, mut tamper: Tamper) -> Relay {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let client = Arc::new(Mutex::new(None));
        let last_from_client = Arc::new(Mutex::new(Vec::new()));
        let last_from_server = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (client, last_from_client, last_from_server, stop) = (
                Arc::clone(&client),
                Arc::clone(&last_from_client),
                Arc::clone(&last_from_server),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                #[allow(clippy::disallowed_methods)]
                // bounds the relay's life; asserts nothing on it
                let started = Instant::now();
                let mut buffer = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
                    let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                        continue;
                    };
                    let datagram = &buffer[..len];
                    let toward = if from == server {
                        *last_from_server.lock().unwrap() = datagram.to_vec();
                        Toward::Client
                    } else {
                        *client.lock().unwrap() = Some(from);
                        *last_from_client.lock().unwrap() = datagram.to_vec();
                        Toward::Server
                    };
                    for (toward, datagram) in tamper(toward, datagram) {
                        let to = match toward {
                            Toward::Server => Some(server),
                            Toward::Client => *client.lock().unwrap(),
                        };
                        if let Some(to) = to {
                            let _ = socket.send_to(&datagram, to);
                        }
                    }
                }
            })
        };
        Relay {
            address,
            client,
            last_from_client,
            last_from_server,
            stop,
            thread: Some(thread),
        }
    }

    /// Where the client connects.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The client's address, once it has sent something.
    #[allow(dead_code)] // not every test binary that shares this module uses each helper
    pub fn client(&self) -> Option<SocketAddr> {
        *self.client.lock().unwrap()
    }

    /// The last datagram the client sent.
    #[allow(dead_code)]
    pub fn last_from_client(&self) -> Vec<u8> {
        self.last_from_client.lock().unwrap().clone()
    }

    /// The last datagram the server sent.
    #[allow(dead_code)]
    pub fn last_from_server(&self) -> Vec<u8> {
        self.last_from_server.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A close (`close()`, or tokio's `shutdown().await`) whose peer reset the connection with
/// our data or FIN unacknowledged: `ConnectionReset`, never `Ok`.
#[allow(dead_code)]
pub fn assert_reset(result: io::Result<()>, case: &str) {
    let error = result.expect_err(case);
    assert_eq!(
        error.kind(),
        io::ErrorKind::ConnectionReset,
        "{case}: {error:?}"
    );
}

/// A close whose peer reset the connection after our late data, the RST landing in
/// CLOSE-WAIT (`BrokenPipe`: the peer had closed, as Linux's EPIPE) or, once our FIN went,
/// in LAST-ACK (`ConnectionReset`): never `Ok`.
#[allow(dead_code)]
pub fn assert_reset_or_broken_pipe(result: io::Result<()>, case: &str) {
    let error = result.expect_err(case);
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{case}: {error:?}"
    );
}

/// Whether `datagram` is a valid segment with any of `flags`.
fn carries(datagram: &[u8], flags: Flags) -> bool {
    Segment::parse(datagram).is_ok_and(|segment| segment.flags.intersects(flags))
}

/// Forward everything.
#[allow(dead_code)]
pub fn forward() -> Tamper {
    Box::new(|toward, datagram| vec![(toward, datagram.to_vec())])
}

/// Hold what the server sends from its first segment with any of `flags` on (its FIN, or its
/// RST), until the client's FIN has gone to the server; then let it all go, in order. So the
/// client has closed before it hears of the server's FIN (a simultaneous close: CLOSING), or
/// of its RST (in LAST-ACK, when the server's FIN went through before).
#[allow(dead_code)]
pub fn hold_server_from_until_client_fin(flags: Flags) -> Tamper {
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut holding = false;
    let mut client_fin_passed = false;
    Box::new(move |toward, datagram| match toward {
        Toward::Server => {
            let mut out = vec![(Toward::Server, datagram.to_vec())];
            if !client_fin_passed && carries(datagram, Flags::FIN) {
                client_fin_passed = true;
                out.extend(held.drain(..).map(|held| (Toward::Client, held)));
            }
            out
        }
        Toward::Client => {
            holding |= !client_fin_passed && carries(datagram, flags);
            if holding && !client_fin_passed {
                held.push(datagram.to_vec());
                Vec::new()
            } else {
                vec![(Toward::Client, datagram.to_vec())]
            }
        }
    })
}

/// Forge a FIN toward the client, at its RCV.NXT, right after the first server segment that
/// acknowledges `bytes` of the client's data: what an attacker on the path can do, who sees
/// the sequence numbers. The server never closed, and never hears of it.
#[allow(dead_code)]
pub fn forge_fin_once_acknowledged(bytes: u32) -> Tamper {
    let mut client_isn: Option<SeqNum> = None;
    let mut forged = false;
    Box::new(move |toward, datagram| {
        let mut out = vec![(toward, datagram.to_vec())];
        let Ok(segment) = Segment::parse(datagram) else {
            return out;
        };
        match toward {
            Toward::Server if segment.flags.contains(Flags::SYN) => client_isn = Some(segment.seq),
            Toward::Client if !forged && segment.flags.contains(Flags::ACK) => {
                if let Some(isn) = client_isn {
                    if segment.ack >= isn + 1 + bytes {
                        forged = true;
                        let fin = Segment {
                            flags: Flags::FIN | Flags::ACK,
                            payload: &[],
                            ..segment
                        };
                        let mut encoded = Vec::new();
                        fin.emit(&mut encoded);
                        out.push((Toward::Client, encoded));
                    }
                }
            }
            _ => {}
        }
        out
    })
}
