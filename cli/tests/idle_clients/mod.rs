//! Clients that connect, send one byte and then nothing: the cheapest way to hold a server's
//! connection. Each is a sans-IO `Endpoint` on a UDP socket of its own, bound to a source
//! address of the caller's choice (every 127.0.0.x works on loopback), all driven by one
//! thread, so a test can open hundreds of them from several peers.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use ferry::conn::ConnectionError;
use ferry::endpoint::{ConnectionHandle, Endpoint};
use ferry::time::Instant;
use ferry::Config;

/// One idle client: its socket, its endpoint and its one connection.
struct Client {
    socket: UdpSocket,
    endpoint: Endpoint,
    handle: ConnectionHandle,
    /// The byte it sends once connected has been written.
    wrote: bool,
}

/// Idle clients and the clock their endpoints share.
pub struct IdleClients {
    clients: Vec<Client>,
    epoch: std::time::Instant,
}

/// Where the clients' connections stand.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connected, the byte sent, and neither reset nor failed.
    pub open: usize,
    /// Reset by the server (evicted or refused).
    pub reset: usize,
    /// Still in the handshake, or failed otherwise.
    pub other: usize,
}

impl IdleClients {
    pub fn new() -> IdleClients {
        IdleClients {
            clients: Vec::new(),
            #[allow(clippy::disallowed_methods)] // a driver is where the clock is read
            epoch: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Start a connection from `source` (a port of its own) to `server`.
    pub fn open(&mut self, source: IpAddr, server: SocketAddr) -> io::Result<()> {
        let socket = UdpSocket::bind(SocketAddr::new(source, 0))?;
        socket.set_nonblocking(true)?;
        let seed = self.clients.len() as u64 + 1;
        let mut endpoint = Endpoint::with_seed(Config::default(), seed).unwrap();
        let handle = endpoint
            .connect(server)
            .map_err(|error| io::Error::new(io::ErrorKind::AlreadyExists, error.to_string()))?;
        self.clients.push(Client {
            socket,
            endpoint,
            handle,
            wrote: false,
        });
        Ok(())
    }

    /// Run every client's endpoint for `turns` turns of about a millisecond: datagrams in,
    /// timers, datagrams out, and the one byte once connected.
    pub fn drive(&mut self, turns: u32) -> io::Result<()> {
        let mut buffer = [0u8; 65_535];
        for _ in 0..turns {
            for index in 0..self.clients.len() {
                let now = self.now();
                let client = &mut self.clients[index];
                loop {
                    match client.socket.recv_from(&mut buffer) {
                        Ok((len, from)) => {
                            client.endpoint.handle_datagram(now, from, &buffer[..len])
                        }
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                        // An ICMP error from a server that is gone: the tally will say.
                        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => break,
                        Err(error) => return Err(error),
                    }
                }
                client.endpoint.handle_timeout(now);
                if let Some(connection) = client.endpoint.connection_mut(client.handle) {
                    if !client.wrote && connection.is_connected() {
                        client.wrote = connection.write(b"x").is_ok();
                    }
                }
                while let Some(transmit) = client.endpoint.poll_transmit(now) {
                    // A full socket buffer loses the datagram, as a network would.
                    let _ = client
                        .socket
                        .send_to(&transmit.contents, transmit.destination);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Drive until the tally is `expected`, for at most `turns` turns: the tally then.
    pub fn settle_at(&mut self, expected: &Tally, turns: u32) -> io::Result<Tally> {
        for _ in 0..turns / 10 {
            self.drive(10)?;
            if self.tally() == *expected {
                break;
            }
        }
        Ok(self.tally())
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for client in &self.clients {
            let connection = client.endpoint.connection(client.handle);
            match connection.and_then(|connection| connection.error()) {
                Some(ConnectionError::Reset) => tally.reset += 1,
                Some(_) => tally.other += 1,
                None if client.wrote
                    && connection.is_some_and(|connection| connection.is_send_complete()) =>
                {
                    tally.open += 1
                }
                None => tally.other += 1,
            }
        }
        tally
    }
}
