//! Driving Ferry's sans-IO `Endpoint` by hand over a std `UdpSocket`, end to end: the
//! handshake, an echo, and both closes, with no `ferry::Stream` and no thread of Ferry's.
//!
//! ```sh
//! cargo run --example sans_io
//! ```
//!
//! The loop every driver needs, on each side:
//! 1. feed each datagram the socket receives to `handle_datagram`;
//! 2. when `poll_timeout` passes, call `handle_timeout`;
//! 3. send everything `poll_transmit` returns;
//! 4. wait on the socket no longer than until the next `poll_timeout`.
//!
//! And keep driving after the application is done until the connection has closed: a FIN
//! and its acknowledgment are datagrams too, and a lost one is only sent again by this loop.

use std::io;
use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use ferry::endpoint::{ConnectionHandle, Endpoint};
use ferry::time::Instant;
use ferry::Config;

/// One end: an endpoint, its socket, and a clock for the endpoint's `Instant`s.
struct Driver {
    endpoint: Endpoint,
    socket: UdpSocket,
    epoch: std::time::Instant,
}

impl Driver {
    fn new(address: &str, seed: u64) -> io::Result<Driver> {
        Ok(Driver {
            // A fixed seed keeps the example repeatable; real programs draw one from the OS.
            endpoint: Endpoint::with_seed(Config::default(), seed)?,
            socket: UdpSocket::bind(address)?,
            #[allow(clippy::disallowed_methods)] // a driver is where the clock is read
            epoch: std::time::Instant::now(),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Send every datagram the endpoint has ready.
    fn send_due(&mut self) -> io::Result<()> {
        let now = self.now();
        while let Some(transmit) = self.endpoint.poll_transmit(now) {
            self.socket
                .send_to(&transmit.contents, transmit.destination)?;
        }
        Ok(())
    }

    /// One turn of the loop: send what is due, wait for a datagram or the next deadline (at
    /// most `most`), feed it in, run the timers.
    fn turn(&mut self, most: Duration) -> io::Result<()> {
        self.send_due()?;
        let now = self.now();
        let wait = self
            .endpoint
            .poll_timeout()
            .map_or(most, |at| at.saturating_duration_since(now).min(most))
            .max(Duration::from_micros(100));
        self.socket.set_read_timeout(Some(wait))?;
        let mut buffer = [0u8; 65_535];
        match self.socket.recv_from(&mut buffer) {
            Ok((len, from)) => self
                .endpoint
                .handle_datagram(self.now(), from, &buffer[..len]),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
            Err(error) => return Err(error),
        }
        self.endpoint.handle_timeout(self.now());
        Ok(())
    }

    /// Turn until `done` says so, at most `turns` times.
    fn drive_until(
        &mut self,
        turns: u32,
        mut done: impl FnMut(&mut Endpoint) -> bool,
    ) -> io::Result<()> {
        for _ in 0..turns {
            if done(&mut self.endpoint) {
                // What the last datagram drew (an ACK of the peer's FIN, say) still goes.
                return self.send_due();
            }
            self.turn(Duration::from_millis(50))?;
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "gave up waiting"))
    }
}

fn main() -> io::Result<()> {
    let mut server = Driver::new("127.0.0.1:0", 1)?;
    let server_address = server.socket.local_addr()?;
    server.endpoint.listen(16);
    let serving = thread::spawn(move || serve(server));

    let mut client = Driver::new("127.0.0.1:0", 2)?;
    let handle = client
        .endpoint
        .connect(server_address)
        .map_err(|error| io::Error::new(io::ErrorKind::AlreadyExists, error.to_string()))?;
    client.drive_until(1000, |endpoint| {
        endpoint
            .connection(handle)
            .is_some_and(|connection| connection.is_connected())
    })?;
    write_all(&mut client, handle, b"hello, sans-IO ferry")?;
    let echo = read_to_end(&mut client, handle)?;
    println!("echoed: {}", String::from_utf8_lossy(&echo));
    // The server closed first; our FIN goes now, and we drive on until the server
    // acknowledges it and the connection is CLOSED.
    client.endpoint.close(handle);
    client.drive_until(1000, |endpoint| {
        endpoint
            .connection(handle)
            .is_none_or(|connection| connection.is_closed())
    })?;
    println!("client: closed cleanly");
    serving.join().expect("the server thread does not panic")
}

/// Echo one connection's first message and close; stay for TIME-WAIT's first moments only.
fn serve(mut server: Driver) -> io::Result<()> {
    let mut accepted = None;
    server.drive_until(1000, |endpoint| {
        accepted = accepted.or_else(|| endpoint.accept());
        accepted.is_some()
    })?;
    let handle = accepted.expect("drive_until returned Ok");
    let mut message = Vec::new();
    server.drive_until(1000, |endpoint| {
        let Some(connection) = endpoint.connection_mut(handle) else {
            return true;
        };
        let mut buffer = [0u8; 1024];
        while let Ok(read) = connection.read(&mut buffer) {
            if read == 0 {
                break;
            }
            message.extend_from_slice(&buffer[..read]);
        }
        message.len() >= b"hello, sans-IO ferry".len()
    })?;
    write_all(&mut server, handle, &message)?;
    server.endpoint.close(handle);
    // Our FIN must be acknowledged; after that, TIME-WAIT only repeats a lost final ACK.
    server.drive_until(1000, |endpoint| {
        endpoint.connection(handle).is_none_or(|connection| {
            matches!(
                connection.state(),
                ferry::conn::State::TimeWait | ferry::conn::State::Closed
            )
        })
    })
}

/// Queue all of `data` (driving while the send buffer is full).
fn write_all(driver: &mut Driver, handle: ConnectionHandle, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let connection = driver
            .endpoint
            .connection_mut(handle)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        match connection.write(data) {
            Ok(written) => data = &data[written..],
            Err(ferry::conn::WriteError::WouldBlock) => {}
            Err(error) => return Err(error.into()),
        }
        driver.turn(Duration::from_millis(50))?;
    }
    Ok(())
}

/// Read until the peer's FIN.
fn read_to_end(driver: &mut Driver, handle: ConnectionHandle) -> io::Result<Vec<u8>> {
    let mut received = Vec::new();
    for _ in 0..1000 {
        let connection = driver
            .endpoint
            .connection_mut(handle)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut buffer = [0u8; 1024];
        loop {
            match connection.read(&mut buffer) {
                Ok(0) => return Ok(received),
                Ok(read) => received.extend_from_slice(&buffer[..read]),
                Err(ferry::conn::ReadError::WouldBlock) => break,
                Err(error) => return Err(error.into()),
            }
        }
        driver.turn(Duration::from_millis(50))?;
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "gave up reading"))
}
