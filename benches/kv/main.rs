//! A key-value service ported from std to Ferry by changing its imports, beside the std
//! original in the same run (issue 24): `cargo bench --bench kv`.
//!
//! benches/kv/app.rs is the service, a thread per connection and one line per request,
//! written against std's `TcpListener` and `TcpStream`. It is compiled twice: with std's types
//! and with `ferry::Listener` and `ferry::Stream` under the same names. Each round serves
//! `CLIENTS` clients at once, each making `REQUESTS` requests in turn (half `SET`, half `GET`,
//! every answer checked), on std and then on Ferry; after `ROUNDS` rounds the medians of the
//! request rates and of the process's CPU time per request are printed, with Ferry's rate over
//! std's (issue 24's target: at least 0.8), and one `key=value` line for scripts.
//!
//! Every loop is bounded: the clients make a fixed number of requests, and a stalled read of
//! std's ends with its socket timeout, Ferry's with its give-up timers.

#[allow(dead_code)] // the helpers other benches use
#[path = "../common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::thread;

use common::{median, now, process_cpu_seconds};

mod on_std {
    use std::net::{TcpListener, TcpStream};
    include!("app.rs");
}

mod on_ferry {
    use ferry::{Listener as TcpListener, Stream as TcpStream};
    include!("app.rs");
}

const CLIENTS: usize = 4;
const REQUESTS: usize = 20_000;
const ROUNDS: usize = 5;

/// One round on one transport: requests per second over all clients, and CPU seconds of this
/// process (both ends) per request.
fn round(
    serve: fn(usize) -> std::io::Result<(SocketAddr, thread::JoinHandle<()>)>,
    client: fn(SocketAddr, usize, usize) -> std::io::Result<usize>,
) -> (f64, f64) {
    let (address, serving) = serve(CLIENTS).expect("the server");
    let cpu_before = process_cpu_seconds();
    let started = now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|name| thread::spawn(move || client(address, name, REQUESTS)))
        .collect();
    let answered: usize = clients
        .into_iter()
        .map(|client| {
            client
                .join()
                .expect("a client")
                .expect("a client's requests")
        })
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    serving.join().expect("the server");
    (answered as f64 / seconds, cpu / answered as f64)
}

fn main() {
    let (mut std_rates, mut ferry_rates) = (Vec::new(), Vec::new());
    let (mut std_cpu, mut ferry_cpu) = (Vec::new(), Vec::new());
    for number in 1..=ROUNDS {
        let (rate, cpu) = round(on_std::serve, on_std::client);
        std_rates.push(rate);
        std_cpu.push(cpu);
        let (rate, cpu) = round(on_ferry::serve, on_ferry::client);
        ferry_rates.push(rate);
        ferry_cpu.push(cpu);
        println!(
            "round {number}: std {:>8.0} requests/s, Ferry {:>8.0} requests/s",
            std_rates[number - 1],
            ferry_rates[number - 1]
        );
    }
    let (std_rate, ferry_rate) = (median(std_rates), median(ferry_rates));
    let (std_cpu, ferry_cpu) = (median(std_cpu), median(ferry_cpu));
    println!(
        "{CLIENTS} clients x {REQUESTS} requests, medians of {ROUNDS} rounds: std TcpStream \
         {std_rate:.0} requests/s ({:.1} us CPU each), ferry::Stream {ferry_rate:.0} requests/s \
         ({:.1} us CPU each): Ferry / std {:.2} (target >= 0.8)",
        std_cpu * 1e6,
        ferry_cpu * 1e6,
        ferry_rate / std_rate
    );
    println!(
        "kv std_requests_per_second={std_rate:.0} ferry_requests_per_second={ferry_rate:.0} \
         ferry_over_std={:.3}",
        ferry_rate / std_rate
    );
}
