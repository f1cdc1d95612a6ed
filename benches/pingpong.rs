//! Request/response round trips of one active connection while idle ones share its listener,
//! Ferry beside std's TCP in the same run: `cargo bench --bench pingpong`.
//!
//! A listener accepts every connection into a thread that echoes what it reads, as a
//! thread-per-connection server does. The idle connections' threads stay blocked in `read`
//! the whole time; the active connection's client writes 16 bytes and reads the 16 echoed,
//! as many times as it can for `MEASURE`. For each count of idle connections (0, 100, 500),
//! std's `TcpStream` and then Ferry's `Stream` are measured, and the ratios printed: Ferry
//! beside std, and each with idle connections beside itself with none. Then one `key=value`
//! line for scripts.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use common::{echo, now, Ferry, Std, Transport, MESSAGE};

const IDLE_COUNTS: [usize; 3] = [0, 100, 500];
const MEASURE: Duration = Duration::from_secs(1);

/// Round trips per second of one connection while `idle` others, each with a server thread
/// blocked in `read`, share its listener.
fn round_trips_per_second<T: Transport>(idle: usize) -> f64 {
    let (listener, address) = T::bind().unwrap();
    let accepting = thread::spawn(move || {
        let mut echoes = Vec::new();
        for _ in 0..=idle {
            let stream = T::accept(&listener).unwrap();
            echoes.push(thread::spawn(move || echo(stream)));
        }
        echoes
    });
    let idle_clients: Vec<T::Stream> = (0..idle).map(|_| T::connect(address).unwrap()).collect();
    let mut active = T::connect(address).unwrap();
    let echoes = accepting.join().unwrap();

    let message = [0x5au8; MESSAGE];
    let mut reply = [0u8; MESSAGE];
    let started = now();
    let mut round_trips = 0u64;
    while started.elapsed() < MEASURE {
        active.write_all(&message).unwrap();
        active.read_exact(&mut reply).unwrap();
        round_trips += 1;
    }
    let rate = round_trips as f64 / started.elapsed().as_secs_f64();

    drop(active);
    drop(idle_clients);
    for echo in echoes {
        echo.join().unwrap();
    }
    rate
}

fn main() {
    let mut rates = Vec::new();
    for idle in IDLE_COUNTS {
        let std = round_trips_per_second::<Std>(idle);
        let ferry = round_trips_per_second::<Ferry>(idle);
        println!(
            "{idle:>3} idle: std TCP {std:>8.0} round trips/s, Ferry {ferry:>8.0} round trips/s, \
             Ferry/std {:.2}",
            ferry / std
        );
        rates.push((idle, std, ferry));
    }
    let (_, std_alone, ferry_alone) = rates[0];
    for &(idle, std, ferry) in &rates[1..] {
        println!(
            "{idle:>3} idle beside none: std {:.2}, Ferry {:.2}",
            std / std_alone,
            ferry / ferry_alone
        );
    }
    let fields: Vec<String> = rates
        .iter()
        .map(|(idle, std, ferry)| {
            format!(
                "std_idle{idle}={std:.0} ferry_idle{idle}={ferry:.0} ferry_idle{idle}_vs_none={:.3}",
                ferry / ferry_alone
            )
        })
        .collect();
    println!("{}", fields.join(" "));
}
