//! Soak: 100 connections at once, each moving 10 MiB into one listener over loopback through
//! faults, all intact. Too long for every CI run, so it runs when asked:
//!
//!     cargo test --release --test soak -- --ignored --nocapture
//!
//! and docs/performance.md keeps its figure. No assertion on time; each blocking call is
//! bounded by a timeout.

mod loopback;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use ferry::sim::payload;
use ferry::{Listener, SocketConfig, Stream};

const CONNECTIONS: u64 = 100;
const BYTES_EACH: usize = 10 << 20;
const HANG_GUARD: Duration = Duration::from_secs(600);

#[test]
#[ignore = "a soak run of minutes: cargo test --release --test soak -- --ignored"]
fn a_hundred_connections_of_ten_mebibytes_each_arrive_intact_through_faults() {
    let faults = "loss=1%,dup=1%,reorder=1%,flip=1e-6";
    let config = SocketConfig {
        backlog: Some(CONNECTIONS as usize),
        ..SocketConfig::with_faults(faults.parse().unwrap())
    };
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let address = listener.local_addr().unwrap();
    #[allow(clippy::disallowed_methods)] // reports how long the soak took; asserts nothing on it
    let started = std::time::Instant::now();
    let server = thread::spawn(move || {
        let readers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (mut stream, _) = listener.accept().expect("every client connects");
                thread::spawn(move || {
                    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
                    let mut received = Vec::new();
                    stream.read_to_end(&mut received).expect("the data arrives");
                    received
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .collect::<Vec<_>>()
    });
    let writers: Vec<_> = (0..CONNECTIONS)
        .map(|seed| {
            thread::spawn(move || {
                let mut stream = Stream::connect_timeout(&address, HANG_GUARD).unwrap();
                stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
                // The first 8 bytes say which client this is, so the server can check it.
                let mut data = payload(BYTES_EACH, seed);
                data[..8].copy_from_slice(&seed.to_le_bytes());
                stream.write_all(&data).unwrap();
                stream.close().expect("every byte is acknowledged");
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let received = server.join().unwrap();
    let intact = received
        .iter()
        .filter(|data| {
            data.len() == BYTES_EACH && {
                let seed = u64::from_le_bytes(data[..8].try_into().unwrap());
                let mut expected = payload(BYTES_EACH, seed);
                expected[..8].copy_from_slice(&seed.to_le_bytes());
                **data == expected
            }
        })
        .count();
    println!(
        "{intact} of {CONNECTIONS} connections x {} MiB intact through {faults} in {:.1?}",
        BYTES_EACH >> 20,
        started.elapsed()
    );
    assert_eq!(intact as u64, CONNECTIONS);
}

#[test]
#[ignore = "prints a figure: cargo test --release --test soak -- --ignored"]
fn ten_thousand_idle_connections_on_one_listener() {
    use ferry::endpoint::Endpoint;
    use ferry::time::Instant;
    use ferry::Config;
    use rand::SeedableRng;
    use std::net::{Ipv4Addr, SocketAddr};

    const IDLE: u32 = 10_000;
    let server_address: SocketAddr = "192.0.2.1:4747".parse().unwrap();
    let mut server = Endpoint::new(
        Config::default(),
        Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(1)),
    )
    .unwrap();
    server.listen(IDLE as usize);
    let before = loopback::resident_bytes();
    let now = Instant::from_millis(1);
    for index in 0..IDLE {
        // Each client is a sans-IO endpoint of its own at an address of its own, dropped once
        // its handshake is done: only the server's memory is counted.
        let client_address = SocketAddr::from((Ipv4Addr::from(0x0A00_0000 + index), 4000));
        let mut client = Endpoint::new(
            Config::default(),
            Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(index))),
        )
        .unwrap();
        client.connect(server_address).unwrap();
        for _ in 0..3 {
            while let Some(transmit) = client.poll_transmit(now) {
                server.handle_datagram(now, client_address, &transmit.contents);
            }
            while let Some(transmit) = server.poll_transmit(now) {
                client.handle_datagram(now, server_address, &transmit.contents);
            }
        }
        assert!(server.accept().is_some(), "client {index} connected");
    }
    let after = loopback::resident_bytes();
    let open = server.connections().count();
    println!(
        "{open} idle connections on one listener: RSS {} -> {} KiB, {} bytes each",
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / u64::from(IDLE)
    );
    assert_eq!(open, IDLE as usize);
}
