//! What the loopback socket tests share.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// A loopback address where nothing listens, so a SYN sent there meets an ICMP port
/// unreachable and connecting is refused at once. Its port lies outside Linux's ephemeral
/// range (32768-60999) and was free a moment ago: no socket another test binds to port 0
/// meanwhile can take it, as one could take a port freed from that range.
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
