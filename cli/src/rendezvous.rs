//! `ferry rendezvous`: the server two peers behind NATs meet through, and the options with
//! which `ferry send`, `ferry recv` and `ferry cat` meet a peer there.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ferry::net::RendezvousServer;
use ferry::rendezvous::server::{MAX_PEERS, RELAY_QUEUE};
use ferry::rendezvous::{PunchConfig, ServerConfig};
use ferry::units::parse_rate;
use ferry::{SocketConfig, Stream};

use crate::args::duration_arg;

/// `ferry rendezvous`.
#[derive(clap::Args)]
pub struct RendezvousArgs {
    /// The address to listen on, e.g. 0.0.0.0:7000 (port 0 picks one; it is printed).
    #[arg(long)]
    listen: SocketAddr,
    /// Peers registered at once; a peer beyond it is refused ("the rendezvous is full").
    /// Each costs about 300 bytes.
    #[arg(long, default_value_t = MAX_PEERS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_peers: u64,
    /// What each peer may send through the relay, e.g. 20mbit, or off to relay nothing
    /// (peers with no direct path then fail to connect). Beyond it, up to 64 KiB of a peer's
    /// datagrams wait; more are dropped.
    #[arg(long, value_parser = relay_rate_arg, default_value = "20mbit")]
    relay_rate: RelayRate,
}

/// `--relay-rate`: bits per second, 0 for off.
#[derive(Clone, Copy)]
struct RelayRate(u64);

fn relay_rate_arg(text: &str) -> Result<RelayRate, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(RelayRate(0));
    }
    parse_rate(text).map(RelayRate).ok_or_else(|| {
        format!(
            "expected a positive rate with a unit bit, kbit, mbit or gbit (e.g. 20mbit), or \
             \"off\", not {text:?}"
        )
    })
}

pub fn rendezvous(args: RendezvousArgs) -> ExitCode {
    let config = ServerConfig {
        max_peers: usize::try_from(args.max_peers).unwrap_or(usize::MAX),
        relay_rate: args.relay_rate.0,
        relay_queue: RELAY_QUEUE,
    };
    let mut server = match RendezvousServer::bind(args.listen, config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "ferry rendezvous: cannot listen on {}: {}",
                args.listen,
                crate::net::describe(&error)
            );
            return ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        Ok(address) => eprintln!("ferry rendezvous: listening on {address}"),
        Err(error) => {
            eprintln!("ferry rendezvous: {error}");
            return ExitCode::FAILURE;
        }
    }
    let error = server.run(|event| eprintln!("ferry rendezvous: {event}"));
    eprintln!("ferry rendezvous: the socket failed: {error}");
    ExitCode::FAILURE
}

/// Meeting the peer through a rendezvous server, instead of giving its address.
#[derive(clap::Args)]
pub struct PunchOptions {
    /// Meet the peer through this rendezvous server (`ferry rendezvous`) instead of giving
    /// an address: register as --name, learn where --peer is, and punch a connection through
    /// both NATs, or go through the server's relay where no direct path works. (`ferry recv`
    /// then receives one transfer, as with --once.)
    #[arg(long, requires_all = ["name", "peer"])]
    rendezvous: Option<SocketAddr>,
    /// The name to register as at the rendezvous: 1 to 64 printable ASCII characters.
    #[arg(long, requires = "rendezvous")]
    name: Option<String>,
    /// The name of the peer to meet at the rendezvous.
    #[arg(long, requires = "rendezvous")]
    peer: Option<String>,
    /// How long to wait at the rendezvous for the peer to come, e.g. 30s.
    #[arg(long, value_parser = duration_arg, default_value = "30s", requires = "rendezvous")]
    wait: Duration,
    /// Fail instead of going through the rendezvous server's relay when no direct path
    /// works.
    #[arg(long, requires = "rendezvous")]
    no_relay: bool,
}

impl PunchOptions {
    /// Whether a rendezvous was given.
    pub fn given(&self) -> bool {
        self.rendezvous.is_some()
    }

    /// Meet the peer and connect to it, saying on stderr which way the connection goes.
    /// `None` without --rendezvous; otherwise the stream, or the one-line error.
    pub fn punch(&self, command: &str, config: &SocketConfig) -> Option<Result<Stream, String>> {
        let server = self.rendezvous?;
        let (Some(name), Some(peer)) = (&self.name, &self.peer) else {
            return Some(Err("--rendezvous needs --name and --peer".into()));
        };
        let punch = PunchConfig {
            peer_wait: self.wait,
            relay: !self.no_relay,
            ..PunchConfig::new(server, name, peer)
        };
        Some(match Stream::punch_with(&punch, config) {
            Ok(stream) => {
                let at = stream.peer_addr().map_or("?".into(), |a| a.to_string());
                match stream.relayed() {
                    None => eprintln!("ferry {command}: connected to {peer} at {at} directly"),
                    Some(relayed) => {
                        eprintln!("ferry {command}: connected to {peer} at {at} {relayed}")
                    }
                }
                Ok(stream)
            }
            // A punch's error names what blocked it, in a line.
            Err(error) => Err(error.to_string()),
        })
    }
}
