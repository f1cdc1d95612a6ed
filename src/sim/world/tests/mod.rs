//! The world's tests, by topic: a client and a server through a router, flows sharing a
//! bottleneck, the built-in programs, unreachables, control during a run, endings that are not
//! clean, determinism, property tests over schedules, the middlebox hook, NATs.

mod bottleneck;
mod captures;
mod client_server;
mod control;
mod determinism;
mod endings;
mod ladder;
mod middlebox;
mod nat;
mod programs;
mod property;
mod punch;
mod trace;
mod unreachable;

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::net::{Listener, Stream};
use super::punching::{lecture_programs, lecture_world};
use super::time::Instant;
use super::{spawn, Preset, ProgramResult, World};
use crate::capture::{CaptureWriter, View};
use crate::fault::FaultConfig;
use crate::link::LinkConfig;
use crate::sim::HostCapture;

/// A client and a server on either side of a router: 10.0.0.2 - 10.0.0.1 - 10.0.1.2, 10
/// Mbit/s and 20 ms each way on each link.
fn client_router_server(seed: u64, client_link: LinkConfig) -> World {
    World::builder()
        .seed(seed)
        .host("client", "10.0.0.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("client", "router", client_link)
        .link("router", "server", LinkConfig::default())
        .build()
        .expect("a valid world")
}

/// Two clients, `one` (10.0.1.2, by `one_link`) and `two` (10.0.2.2), through a router
/// (10.0.0.1) to a server (10.0.9.2).
fn two_clients_router_server(seed: u64, one_link: LinkConfig) -> World {
    World::builder()
        .seed(seed)
        .host("one", "10.0.1.2")
        .host("two", "10.0.2.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.9.2")
        .link("one", "router", one_link)
        .link("two", "router", LinkConfig::default())
        .link("router", "server", LinkConfig::default())
        .build()
        .expect("a valid world")
}

/// The lecture's NAT world from `seed` (both NATs port-restricted cones), its programs
/// added, the relay on, without PROBEs (as the walk-through runs it).
fn lecture_with_programs(seed: u64) -> World {
    let mut world = lecture_world(
        seed,
        Preset::PortRestrictedCone,
        Preset::PortRestrictedCone,
        &FaultConfig::default(),
    )
    .expect("the lecture's world");
    lecture_programs(&mut world, true, false).expect("the lecture's programs");
    world
}

/// The files [`World::capture_every_interface`] writes for [`client_router_server`]'s world,
/// in the order of its interfaces.
const CLIENT_ROUTER_SERVER_TAPS: [&str; 4] = [
    "client-router.pcapng",
    "router-client.pcapng",
    "router-server.pcapng",
    "server-router.pcapng",
];

/// The names of the files at `paths`.
fn file_names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// A log the programs write to and the test reads.
#[derive(Clone, Debug, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Run `program` on `host` for its life, handing it the log at each start.
fn host_with_log<F, Fut>(world: &mut World, host: &str, log: &Log, program: F)
where
    F: Fn(Log) -> Fut + 'static,
    Fut: Future<Output = ProgramResult> + 'static,
{
    let log = log.clone();
    world
        .host(host, move || program(log.clone()))
        .expect("a host of the world");
}

/// The bytes a flow sends: a pattern that shows a misplaced byte.
fn pattern(len: usize, flow: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(flow))
        .collect()
}

/// Run on `host`, for its life, a server that takes every connection on `port` and reads it
/// to the end, in a task of its own, and logs `received N bytes from HOST at T`.
fn sink(world: &mut World, host: &str, port: u16, log: &Log) {
    host_with_log(world, host, log, move |log| async move {
        let listener = Listener::bind(("0.0.0.0", port)).await?;
        loop {
            let (mut stream, peer) = listener.accept().await?;
            let log = log.clone();
            spawn(async move {
                let mut received = Vec::new();
                let result = stream.read_to_end(&mut received).await;
                log.push(match result {
                    Ok(count) => format!(
                        "received {count} bytes from {} at {:?}",
                        peer.ip(),
                        Instant::now().since_start()
                    ),
                    Err(error) => format!("read from {} failed: {}", peer.ip(), error.kind()),
                });
            });
        }
    });
}

/// Connect to `target`, write `payload`, and wait until the peer has acknowledged it all and
/// the FIN.
async fn send(target: &str, payload: &[u8]) -> io::Result<()> {
    let mut stream = Stream::connect(target).await?;
    stream.write_all(payload).await?;
    stream.shutdown().await?;
    Ok(())
}

/// A capture into memory the test reads afterwards.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Memory {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A capture in `view` to `memory`.
fn capture(memory: &Memory, view: View) -> HostCapture {
    let writer: Box<dyn Write + Send> = Box::new(memory.clone());
    CaptureWriter::new(writer, view, 1).unwrap()
}
