//! What both drivers (the threaded one in `driver.rs`, the tokio one in `crate::tokio`) make
//! when a `Stream` connects or a `Listener` binds: the UDP socket and the endpoint behind it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::os::fd::AsFd;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{icmp, os_random_key, SocketConfig};
use crate::endpoint::Endpoint;

/// Socket buffers asked of the kernel, so bursts at loopback speed are not dropped there. The
/// kernel caps them at its `rmem_max` and `wmem_max`.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// A nonblocking UDP socket bound to `local`, and connected to `peer` if given (a client's
/// socket talks to one peer), that queues the ICMP errors about what it sends, with the
/// datagrams they quote ([`icmp`](super::icmp)). It refuses fragmentation while path MTU
/// discovery is on (`path_mtu_discovery`, the connections' `Config::plpmtud`); with it off,
/// the kernel's own rules apply, which fragment rather than drop a datagram that an ICMP
/// error has shown too large for the path, so an `--mss` above the path's still gets through.
pub(crate) fn open(
    local: SocketAddr,
    peer: Option<SocketAddr>,
    path_mtu_discovery: bool,
) -> io::Result<std::net::UdpSocket> {
    open_with(local, peer, false, path_mtu_discovery)
}

/// A socket as [`open`] makes it, bound to `listener`'s address (which [`share_port`] opened
/// to it) and connected to `peer`: an accepted connection's own socket (`peer_sockets.rs`).
/// Linux gives a connected socket every datagram of its 4-tuple, ahead of the listener's.
pub(crate) fn open_for_peer(
    listener: SocketAddr,
    peer: SocketAddr,
    path_mtu_discovery: bool,
) -> io::Result<std::net::UdpSocket> {
    open_with(listener, Some(peer), true, path_mtu_discovery)
}

/// Let the sockets of [`open_for_peer`] bind to `socket`'s address beside it
/// (`SO_REUSEPORT`), once `socket` is bound. Set after the bind, the flag still refuses any
/// later socket that does not set it too: Linux compares both sockets' flags at the later
/// bind, so a second `Listener::bind` to the port stays `AddrInUse`, as with std.
pub(crate) fn share_port(socket: &impl AsFd) -> io::Result<()> {
    rustix::net::sockopt::set_socket_reuseport(socket, true).map_err(io::Error::from)
}

fn open_with(
    local: SocketAddr,
    peer: Option<SocketAddr>,
    reuse_port: bool,
    path_mtu_discovery: bool,
) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    icmp::enable(&socket, local.is_ipv6())?;
    if path_mtu_discovery {
        refuse_fragmentation(&socket, local.is_ipv6());
    }
    // No SO_REUSEADDR: two Ferry endpoints on one UDP port would split its datagrams, so a
    // busy port must be AddrInUse. SO_REUSEPORT only for an accepted connection's own
    // socket, which joins its listener's port (see `share_port`).
    if reuse_port {
        rustix::net::sockopt::set_socket_reuseport(&socket, true)?;
    }
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.bind(&local.into())?;
    if let Some(peer) = peer {
        socket.connect(&peer.into())?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Have every datagram `socket` sends go unfragmented, at whatever size the connection chose,
/// so that path MTU discovery's probes test the path (RFC 8899 section 3: a packetization
/// layer that probes sends its datagrams with DF set, never fragmented; section 4.5: it
/// suspends the network layer's own PMTU enforcement and sizes its datagrams itself).
///
/// - `IP_MTU_DISCOVER = IP_PMTUDISC_PROBE` (ip(7)): DF on every IPv4 datagram, and the
///   kernel's path MTU cache ignored. Linux's default, `IP_PMTUDISC_WANT`, sets DF too, but
///   once an ICMP "fragmentation needed" has taught it a smaller path MTU it fragments
///   larger datagrams itself: a probe too large for the path would get through as fragments
///   and be confirmed. With `PROBE`, a datagram larger than the interface's MTU fails its
///   send with `EMSGSIZE` (a lost datagram, `udp_io.rs`), anything smaller leaves whole, and
///   a router's "fragmentation needed" is a soft error read from the error queue (`icmp.rs`).
/// - On an IPv6 socket, `IPV6_DONTFRAG` (RFC 3542 section 11.2): IPv6 fragments at the
///   sender only, and this stops it. And `IPV6_MTU_DISCOVER = IPV6_PMTUDISC_PROBE`
///   (ipv6(7)): without it, once an ICMPv6 Packet Too Big has lowered the cached path MTU,
///   the kernel refuses every larger send with `EMSGSIZE`, so a later search (RFC 8899
///   section 5.1.1's raise timer) could not find a path that grew until the cache expires.
///   The IPv4 option too, for IPv4 peers reached through mapped addresses.
///
/// Each is best effort: a kernel that refuses one still carries the connection, at sizes
/// its own rules allow.
fn refuse_fragmentation(socket: &Socket, ipv6: bool) {
    use rustix::net::sockopt::{self, Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery};
    if ipv6 {
        let _ =
            nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Ipv6DontFrag, &true);
        let _ = sockopt::set_ipv6_mtu_discover(socket, Ipv6PathMtuDiscovery::PROBE);
    }
    // On an IPv6-only socket the IPv4 option has no datagrams to act on: nothing is lost
    // if it is refused.
    let _ = sockopt::set_ip_mtu_discover(socket, Ipv4PathMtuDiscovery::PROBE);
}

/// The address to bind a socket that talks to `peer`: any address of its family, any port.
pub(crate) fn any_port_for(peer: SocketAddr) -> SocketAddr {
    let unspecified = match peer.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(unspecified, 0)
}

/// What a punch's socket is made with, for both drivers: `config` as a client's (no
/// backlog), once `punch`'s names are found valid (`InvalidInput` if not).
pub(crate) fn punch_socket_config(
    punch: &crate::rendezvous::PunchConfig,
    config: &SocketConfig,
) -> io::Result<SocketConfig> {
    punch
        .check()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    Ok(SocketConfig {
        backlog: None,
        ..config.clone()
    })
}

/// The endpoint for a socket with these settings: listening if they give a backlog, with
/// their user timeout and secure mode. Its initial sequence numbers (and secure mode's
/// ephemeral keys) are unpredictable, from 256 bits of the OS's randomness (RFC 6528's aim),
/// unless the config's `isn_seed` asks for a reproducible lab run. Fails with
/// `InvalidInput` if the connection settings cannot work ([`Config::check`]); the drivers make
/// it before they open the socket, so such a config binds nothing.
///
/// [`Config::check`]: crate::conn::Config::check
pub(crate) fn endpoint(config: &SocketConfig) -> io::Result<Endpoint> {
    let mut endpoint = match config.isn_seed {
        Some(seed) => Endpoint::with_seed(config.connection.clone(), seed)?,
        None => Endpoint::new(
            config.connection.clone(),
            Box::new(ChaCha20Rng::from_seed(os_random_key())),
        )?,
    };
    if let Some(secure) = &config.secure {
        endpoint.set_secure(secure.clone());
    }
    if let Some(backlog) = config.backlog {
        endpoint.listen(backlog);
    }
    endpoint.set_default_user_timeout(config.user_timeout);
    endpoint.set_tracing(config.trace.is_some());
    // Both drivers take datagrams in batches: one ACK for a batch of in-order data.
    endpoint.set_stretch_acks(true);
    Ok(endpoint)
}

/// Set the time-to-live of every datagram `socket` (bound to `local`) sends: IPv4's TTL, or
/// IPv6's unicast hop limit on an IPv6 socket. For both drivers' `Stream::set_ttl` and
/// `Listener::set_ttl`.
pub(crate) fn set_ttl(socket: &impl AsFd, local: SocketAddr, ttl: u32) -> io::Result<()> {
    let socket = SockRef::from(socket);
    if local.is_ipv6() {
        socket.set_unicast_hops_v6(ttl)
    } else {
        socket.set_ttl(ttl)
    }
}

/// The time-to-live of the datagrams `socket` (bound to `local`) sends; see [`set_ttl`].
pub(crate) fn ttl(socket: &impl AsFd, local: SocketAddr) -> io::Result<u32> {
    let socket = SockRef::from(socket);
    if local.is_ipv6() {
        socket.unicast_hops_v6()
    } else {
        socket.ttl()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::sockopt::{self, Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery};

    #[test]
    fn an_ipv4_socket_sets_df_and_ignores_the_kernels_path_mtu() {
        let socket = open("127.0.0.1:0".parse().unwrap(), None, true).unwrap();
        assert_eq!(
            sockopt::ip_mtu_discover(&socket).unwrap(),
            Ipv4PathMtuDiscovery::PROBE
        );
    }

    #[test]
    fn an_ipv6_socket_never_fragments_and_ignores_the_kernels_path_mtu() {
        // A machine without IPv6 cannot make the socket: nothing to check there.
        let Ok(socket) = open("[::1]:0".parse().unwrap(), None, true) else {
            return;
        };
        let dont_fragment =
            nix::sys::socket::getsockopt(&socket, nix::sys::socket::sockopt::Ipv6DontFrag);
        assert!(dont_fragment.unwrap());
        assert_eq!(
            sockopt::ipv6_mtu_discover(&socket).unwrap(),
            Ipv6PathMtuDiscovery::PROBE
        );
        // IPv4 peers through mapped addresses: the IPv4 option too.
        assert_eq!(
            sockopt::ip_mtu_discover(&socket).unwrap(),
            Ipv4PathMtuDiscovery::PROBE
        );
    }

    /// Without path MTU discovery nothing probes, and a datagram an ICMP error showed too
    /// large is better fragmented by the kernel than dropped: its default stays.
    #[test]
    fn without_path_mtu_discovery_the_kernels_default_stays() {
        let default = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let socket = open("127.0.0.1:0".parse().unwrap(), None, false).unwrap();
        assert_eq!(
            sockopt::ip_mtu_discover(&socket).unwrap(),
            sockopt::ip_mtu_discover(&default).unwrap()
        );
        assert_ne!(
            sockopt::ip_mtu_discover(&socket).unwrap(),
            Ipv4PathMtuDiscovery::PROBE
        );
    }
}
