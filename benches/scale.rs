//! Many connections, Ferry beside std's TCP in the same run: `cargo bench --bench scale`.
//!
//! - **1000 at once**: 1000 client threads each connect, make one 16-byte round trip and
//!   close, all at once, to a listener that echoes each connection on a thread of its own.
//!   The time until all are done. (Goal: Ferry within 2x std's time.)
//! - **Sequential**: connect, one round trip, close, one after another for a second. The rate.
//!   (Goal: Ferry at least 0.25 of std's rate.)
//! - **1000 open**: the threads and file descriptors 1000 open client streams add to a
//!   process (the listener runs in the same process; its share is left out).
//!
//! Ends with one `key=value` line for scripts.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use common::{echo, now, Ferry, Std, Transport, MESSAGE};

const CLIENTS: usize = 1000;
const MEASURE: Duration = Duration::from_secs(1);

/// A listener that echoes every connection it accepts on a thread of its own, for `count`
/// connections (or forever with `None`).
fn echo_server<T: Transport>(count: Option<usize>) -> SocketAddr {
    let (listener, address) = T::bind().unwrap();
    thread::spawn(move || {
        let mut accepted = 0;
        while count.is_none_or(|count| accepted < count) {
            let Ok(stream) = T::accept(&listener) else {
                return;
            };
            accepted += 1;
            thread::spawn(move || echo(stream));
        }
    });
    address
}

/// One client's life: connect, one round trip, close.
fn one_round_trip<T: Transport>(address: SocketAddr) {
    let mut stream = T::connect(address).unwrap();
    let message = [0x5au8; MESSAGE];
    let mut reply = [0u8; MESSAGE];
    stream.write_all(&message).unwrap();
    stream.read_exact(&mut reply).unwrap();
}

/// Seconds for `CLIENTS` threads to connect, round-trip and close, all at once.
fn all_at_once<T: Transport>() -> f64 {
    let address = echo_server::<T>(Some(CLIENTS));
    let started = now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| thread::spawn(move || one_round_trip::<T>(address)))
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Connect, round trip and close per second, one after another.
fn sequential_rate<T: Transport>() -> f64 {
    let address = echo_server::<T>(None);
    let started = now();
    let mut done = 0u64;
    while started.elapsed() < MEASURE {
        one_round_trip::<T>(address);
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// The process's threads and open descriptors, from /proc.
fn threads_and_descriptors() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let descriptors = std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count());
    (threads, descriptors)
}

/// Threads and descriptors that `CLIENTS` open client streams add to the process: counted
/// with the server's side ready and its accepted streams held, before and after the clients
/// connect. std's accepted sockets are descriptors of their own, one per client, in this same
/// process: they are subtracted (`server_descriptors_each`); Ferry's accepted streams share
/// the listener's socket.
fn cost_of_open_clients<T: Transport>(server_descriptors_each: usize) -> (usize, usize) {
    let (listener, address) = T::bind().unwrap();
    let (accepted_all, all_accepted) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let accepting = thread::spawn(move || {
        let streams: Vec<T::Stream> = (0..CLIENTS)
            .map(|_| T::accept(&listener).unwrap())
            .collect();
        accepted_all.send(()).unwrap();
        let _ = released.recv();
        drop(streams);
    });
    let (threads_before, descriptors_before) = threads_and_descriptors();
    let clients: Vec<T::Stream> = (0..CLIENTS).map(|_| T::connect(address).unwrap()).collect();
    all_accepted.recv().unwrap();
    let (threads_after, descriptors_after) = threads_and_descriptors();
    release.send(()).unwrap();
    accepting.join().unwrap();
    drop(clients);
    (
        threads_after.saturating_sub(threads_before),
        descriptors_after
            .saturating_sub(descriptors_before)
            .saturating_sub(server_descriptors_each * CLIENTS),
    )
}

fn main() {
    // First, before any other phase has started threads or left sockets closing.
    let (std_threads, std_descriptors) = cost_of_open_clients::<Std>(1);
    let (ferry_threads, ferry_descriptors) = cost_of_open_clients::<Ferry>(0);
    println!(
        "{CLIENTS} open client streams add: std {std_threads} threads, {std_descriptors} \
         descriptors; Ferry {ferry_threads} threads, {ferry_descriptors} descriptors"
    );
    let std_burst = all_at_once::<Std>();
    let ferry_burst = all_at_once::<Ferry>();
    println!(
        "{CLIENTS} at once: std {std_burst:.3} s, Ferry {ferry_burst:.3} s, Ferry/std {:.2} \
         (goal at most 2)",
        ferry_burst / std_burst
    );
    let std_rate = sequential_rate::<Std>();
    let ferry_rate = sequential_rate::<Ferry>();
    println!(
        "connect + round trip + close: std {std_rate:.0}/s, Ferry {ferry_rate:.0}/s, Ferry/std \
         {:.2} (goal at least 0.25)",
        ferry_rate / std_rate
    );
    println!(
        "std_burst_s={std_burst:.3} ferry_burst_s={ferry_burst:.3} std_sequential={std_rate:.0} \
         ferry_sequential={ferry_rate:.0} ferry_open_threads={ferry_threads} \
         ferry_open_descriptors={ferry_descriptors}"
    );
}
