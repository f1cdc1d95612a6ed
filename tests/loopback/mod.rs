//! What the loopback socket tests share: a port nothing listens on, the process's memory.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// A loopback address where nothing listens, so a SYN sent there meets an ICMP port
/// unreachable and connecting is refused at once. Its port lies outside Linux's ephemeral
/// range (32768-60999) and was free a moment ago: no socket another test binds to port 0
/// meanwhile can take it, as one could take a port freed from that range.
#[allow(dead_code)] // not every test binary that shares this module uses each helper
pub fn refusing_address() -> SocketAddr {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 5_000) as u16;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 5_000;
        let address = SocketAddr::from(([127, 0, 0, 1], base + offset));
        if UdpSocket::bind(address).is_ok() {
            return address;
        }
    }
}

/// The process's resident memory, from /proc (0 where there is none).
#[allow(dead_code)] // not every test binary that shares this module uses each helper
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}
