//! The secure mode's cost (issue 21 item 6): `cargo bench --bench secure`.
//!
//! Bulk goodput of one secure connection over loopback beside a plain one, in the same run:
//! each moves `BULK_BYTES` through a `Stream` into a `Listener`'s stream, read as fast as it
//! arrives; the two alternate, `ROUNDS` rounds each, and the medians are printed (target:
//! secure at least 0.7x plain), with the CPU time the whole process (both ends' threads)
//! spent per MiB, which the shared machine's load inflates less than the wall time. Then the handshake's CPU cost per connection: `HANDSHAKES`
//! handshakes between two sans-IO endpoints handing each other their datagrams in memory,
//! secure and plain, the least of `ROUNDS` timings of each (one thread, no I/O: its time is
//! CPU time but for what the machine's other work takes from it, which the least of several
//! leaves out; /proc/self/schedstat counts too coarsely for the plain handshake's 2 us); the
//! difference is what the Noise handshake costs both ends together. Before all that, the AEAD
//! alone: `RECORDS` 1,200-octet records sealed and opened in place, each with a header's 24
//! octets of associated data, by ring's AES-256-GCM (the one the secure mode uses) and by
//! RustCrypto's aes-gcm 0.11 (the one it used before), alternating, the best of `ROUNDS`
//! each, and the ratio. Last, one `key=value` line.

use std::net::SocketAddr;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use ferry::conn::Config;
use ferry::endpoint::Endpoint;
use ferry::net::new_identity;
use ferry::secure::SecureConfig;
use ferry::time::Instant;

#[allow(dead_code)] // its clock, bulk goodput and median
mod common;

use common::{ferry_bulk_bps, ferry_configs, median, now, process_cpu_seconds};

const BULK_BYTES: usize = 256 << 20;
const ROUNDS: usize = 3;
const HANDSHAKES: usize = 500;
const RECORDS: usize = 200_000;
/// A full-sized segment's payload (docs/protocol.md section 10.3).
const RECORD_LEN: usize = 1_200;
const ASSOCIATED_LEN: usize = 24;

/// The 96-bit nonce of record `number`, as the secure mode lays out its packet numbers.
fn nonce_bytes(number: u64) -> [u8; 12] {
    let mut nonce = [0; 12];
    nonce[4..].copy_from_slice(&number.to_be_bytes());
    nonce
}

/// Seconds `RECORDS` records take to be sealed and opened again by ring's AES-256-GCM.
fn ring_seconds(key: &[u8; 32], record: &mut [u8]) -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let associated = [1; ASSOCIATED_LEN];
    let started = now();
    for number in 0..RECORDS as u64 {
        let nonce = || Nonce::assume_unique_for_key(nonce_bytes(number));
        let tag = key
            .seal_in_place_separate_tag(nonce(), Aad::from(associated), record)
            .unwrap();
        key.open_in_place_separate_tag(nonce(), Aad::from(associated), tag, record, 0..)
            .unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Seconds `RECORDS` records take to be sealed and opened again by aes-gcm 0.11.
fn aes_gcm_seconds(key: &[u8; 32], record: &mut [u8]) -> f64 {
    let key = Aes256Gcm::new(key.into());
    let associated = [1; ASSOCIATED_LEN];
    let started = now();
    for number in 0..RECORDS as u64 {
        let nonce = nonce_bytes(number).into();
        let tag = key
            .encrypt_inout_detached(&nonce, &associated, (&mut *record).into())
            .unwrap();
        key.decrypt_inout_detached(&nonce, &associated, (&mut *record).into(), &tag)
            .unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Octets per second each AEAD seals and opens (each record counted twice), the best of
/// `ROUNDS`: ring's, then aes-gcm 0.11's.
fn aead_rates() -> (f64, f64) {
    let key = [7; 32];
    let mut record = vec![0x5a; RECORD_LEN];
    let (mut ring, mut aes_gcm) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        ring = ring.min(ring_seconds(&key, &mut record));
        aes_gcm = aes_gcm.min(aes_gcm_seconds(&key, &mut record));
    }
    let octets = (2 * RECORDS * RECORD_LEN) as f64;
    (octets / ring, octets / aes_gcm)
}

/// One bulk transfer's goodput in bits per second and the CPU time it cost, in seconds.
struct Bulk {
    bps: f64,
    cpu_seconds: f64,
}

/// Goodput of one connection moving `BULK_BYTES`, secure or plain, and its CPU time.
fn bulk(secure: bool) -> Bulk {
    let (server, client) = ferry_configs(secure);
    let cpu_started = process_cpu_seconds();
    let bps = ferry_bulk_bps(&server, &client, BULK_BYTES);
    Bulk {
        bps,
        cpu_seconds: process_cpu_seconds() - cpu_started,
    }
}

/// Seconds per connection of `HANDSHAKES` handshakes in memory, secure or plain.
fn handshake_seconds(secure: bool) -> f64 {
    let client_address: SocketAddr = "192.0.2.1:4747".parse().unwrap();
    let server_address: SocketAddr = "198.51.100.1:4747".parse().unwrap();
    let identity = new_identity();
    let started = now();
    for seed in 0..HANDSHAKES as u64 {
        let mut server = Endpoint::with_seed(Config::default(), 2 * seed).unwrap();
        let mut client = Endpoint::with_seed(Config::default(), 2 * seed + 1).unwrap();
        if secure {
            server.set_secure(SecureConfig::server(identity.clone()));
            client.set_secure(SecureConfig::client(Some(identity.public_key())));
        }
        server.listen(1);
        client.connect(server_address).unwrap();
        let at = Instant::ZERO;
        // SYN, SYN-ACK, ACK: each side's datagrams to the other until the server accepts.
        for _ in 0..4 {
            while let Some(transmit) = client.poll_transmit(at) {
                server.handle_datagram(at, client_address, &transmit.contents);
            }
            while let Some(transmit) = server.poll_transmit(at) {
                client.handle_datagram(at, server_address, &transmit.contents);
            }
        }
        assert!(
            server.accept().is_some(),
            "handshake {seed} did not complete"
        );
    }
    started.elapsed().as_secs_f64() / HANDSHAKES as f64
}

fn main() {
    let (ring_rate, aes_gcm_rate) = aead_rates();
    println!(
        "AEAD alone, {RECORDS} records of {RECORD_LEN} octets sealed and opened, best of \
         {ROUNDS}: ring {:.2} GB/s ({:.2} us a record), aes-gcm 0.11 {:.2} GB/s ({:.2} us), \
         ring/aes-gcm {:.2}",
        ring_rate / 1e9,
        2.0 * RECORD_LEN as f64 / ring_rate * 1e6,
        aes_gcm_rate / 1e9,
        2.0 * RECORD_LEN as f64 / aes_gcm_rate * 1e6,
        ring_rate / aes_gcm_rate
    );
    let (mut plain, mut secure) = (Vec::new(), Vec::new());
    let mebibytes = (BULK_BYTES >> 20) as f64;
    for round in 1..=ROUNDS {
        plain.push(bulk(false));
        secure.push(bulk(true));
        let (p, s) = (&plain[round - 1], &secure[round - 1]);
        println!(
            "round {round}: plain {:.3} Gbit/s, {:.2} ms CPU/MiB; secure {:.3} Gbit/s, {:.2} ms \
             CPU/MiB",
            p.bps / 1e9,
            p.cpu_seconds * 1e3 / mebibytes,
            s.bps / 1e9,
            s.cpu_seconds * 1e3 / mebibytes
        );
    }
    let cpu_per_mib = |runs: &[Bulk]| {
        median(
            runs.iter()
                .map(|run| run.cpu_seconds * 1e3 / mebibytes)
                .collect(),
        )
    };
    let (plain_cpu, secure_cpu) = (cpu_per_mib(&plain), cpu_per_mib(&secure));
    let (plain, secure) = (
        median(plain.iter().map(|run| run.bps).collect()),
        median(secure.iter().map(|run| run.bps).collect()),
    );
    println!(
        "median of {ROUNDS}, {} MiB each: plain {:.3} Gbit/s, secure {:.3} Gbit/s, secure/plain \
         {:.2} (target at least 0.70); CPU time, both ends: plain {plain_cpu:.2} ms/MiB, secure \
         {secure_cpu:.2} ms/MiB, plain/secure {:.2}",
        BULK_BYTES >> 20,
        plain / 1e9,
        secure / 1e9,
        secure / plain,
        plain_cpu / secure_cpu
    );
    let least = |secure| {
        (0..ROUNDS)
            .map(|_| handshake_seconds(secure))
            .fold(f64::INFINITY, f64::min)
    };
    let (plain_handshake, secure_handshake) = (least(false), least(true));
    println!(
        "handshake time per connection, both ends, {HANDSHAKES} in memory, least of {ROUNDS}: \
         plain {:.1} us, \
         secure {:.1} us, the Noise handshake {:.1} us",
        plain_handshake * 1e6,
        secure_handshake * 1e6,
        (secure_handshake - plain_handshake) * 1e6
    );
    println!(
        "aead_ring_bytes_per_second={ring_rate:.0} aead_aes_gcm_bytes_per_second={aes_gcm_rate:.0} \
         plain_goodput_bps={plain:.0} secure_goodput_bps={secure:.0} ratio={:.3} \
         plain_cpu_ms_per_mib={plain_cpu:.2} secure_cpu_ms_per_mib={secure_cpu:.2} \
         plain_handshake_us={:.1} secure_handshake_us={:.1}",
        secure / plain,
        plain_handshake * 1e6,
        secure_handshake * 1e6
    );
}
