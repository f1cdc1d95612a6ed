//! Punching at the endpoint: two endpoints and a rendezvous server exchanging datagrams in
//! simulated time, through a path that can drop what a NAT would (docs/protocol.md section
//! 9). The NATs themselves, with their address rewriting and mapping tables, belong to the
//! simulated world; here each peer's public endpoint is its own address, and a filter plays
//! the NAT's part in dropping.

use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::rendezvous::client::DIRECT_TIMEOUT;
use crate::rendezvous::{
    DirectFailure, PunchConfig, PunchError, RelayAttempt, Server, ServerConfig,
};
use crate::wire::Flags;

const SERVER: &str = "192.0.2.100:7000";
const ALICE: &str = "203.0.113.4:4000";
const BOB: &str = "198.51.100.7:5000";

/// One-way delays: alice is 5 ms from the server, bob 25 ms, and they are 15 ms apart. So
/// alice is introduced 20 ms before bob, and her first SYN reaches bob's NAT before bob has
/// sent anything to her: the lecture's story.
fn delay(from: SocketAddr, to: SocketAddr) -> Duration {
    // The server's probe port is the server's address too.
    let server = |a: SocketAddr| if is_server(a) { addr(SERVER) } else { a };
    let (from, to) = (server(from), server(to));
    let pair =
        |a: &str, b: &str| (from, to) == (addr(a), addr(b)) || (from, to) == (addr(b), addr(a));
    if pair(ALICE, SERVER) {
        Duration::from_millis(5)
    } else if pair(BOB, SERVER) {
        Duration::from_millis(25)
    } else {
        Duration::from_millis(15)
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The server's address, at its port or its probe port.
fn is_server(address: SocketAddr) -> bool {
    address.ip() == addr(SERVER).ip()
}

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

/// One datagram sent, and whether it was dropped on arrival: what the test looks at.
#[derive(Clone, Debug)]
struct Crossing {
    /// When it was sent.
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    /// `SYN`, `SYN-ACK`, `ACK`, `data`, ... for a segment; the message for a rendezvous one.
    what: String,
    contents: Vec<u8>,
    dropped: bool,
}

/// Whether the network drops a datagram from `from` to `to` arriving at `now`, given what
/// was sent before.
type Filter = Box<dyn FnMut(Instant, SocketAddr, SocketAddr, &[Crossing]) -> bool>;

struct Net {
    now: Instant,
    server: Server,
    alice: Endpoint,
    bob: Endpoint,
    /// (arrival, index in `log`)
    in_flight: Vec<(Instant, usize)>,
    filter: Filter,
    log: Vec<Crossing>,
}

/// A port-restricted NAT's filter in front of each peer (RFC 4787 section 5): a datagram
/// from the other peer gets in only if this one has sent to that exact endpoint before it
/// arrives (the NAT sits beside its peer: a mapping exists from the moment it sends).
fn port_restricted() -> Filter {
    Box::new(|now, from, to, log| {
        let between_peers = [from, to].iter().all(|a| !is_server(*a));
        between_peers
            && !log
                .iter()
                .any(|crossing| crossing.from == to && crossing.to == from && crossing.at < now)
    })
}

/// [`port_restricted`], with mappings that expire: a datagram from the other peer gets in
/// only if this one sent to that exact endpoint less than `lifetime` before it arrives
/// (RFC 4787 section 4.3: the mapping lives `lifetime` after its last outbound datagram,
/// and inbound traffic does not refresh it, REQ-6).
fn port_restricted_expiring(lifetime: Duration) -> Filter {
    Box::new(move |now, from, to, log| {
        let between_peers = [from, to].iter().all(|a| !is_server(*a));
        between_peers
            && !log.iter().any(|crossing| {
                crossing.from == to
                    && crossing.to == from
                    && crossing.at < now
                    && now < crossing.at + lifetime
            })
    })
}

/// A path on which nothing passes between the peers: only the server gets through.
fn no_direct_path() -> Filter {
    Box::new(|_, from, to, _| !is_server(from) && !is_server(to))
}

fn describe(datagram: &[u8]) -> String {
    if let Ok(message) = crate::rendezvous::Message::parse(datagram) {
        return message.to_string();
    }
    match Segment::parse(datagram) {
        Ok(segment) if segment.flags == Flags::SYN => "SYN".into(),
        Ok(segment) if segment.flags == Flags::SYN | Flags::ACK => "SYN-ACK".into(),
        Ok(segment) if segment.flags.contains(Flags::RST) => "RST".into(),
        Ok(segment) if !segment.payload.is_empty() => "data".into(),
        Ok(_) => "ACK".into(),
        Err(_) => "garbage".into(),
    }
}

impl Net {
    fn new(filter: Filter, alice: PunchConfig, bob: PunchConfig) -> Net {
        Net::with_config(filter, &Config::default(), alice, bob)
    }

    /// Two endpoints with the connection settings `config`, punching with these settings.
    fn with_config(filter: Filter, config: &Config, alice: PunchConfig, bob: PunchConfig) -> Net {
        let mut net = Net {
            now: ms(0),
            server: Server::new(ServerConfig::default()),
            alice: Endpoint::new(config.clone(), Box::new(ChaCha8Rng::seed_from_u64(1))).unwrap(),
            bob: Endpoint::new(config.clone(), Box::new(ChaCha8Rng::seed_from_u64(2))).unwrap(),
            in_flight: Vec::new(),
            filter,
            log: Vec::new(),
        };
        net.alice.punch(ms(0), alice).unwrap();
        net.bob.punch(ms(0), bob).unwrap();
        net
    }

    fn pair(filter: Filter) -> Net {
        Net::new(
            filter,
            PunchConfig::new(addr(SERVER), "alice", "bob"),
            PunchConfig::new(addr(SERVER), "bob", "alice"),
        )
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, contents: Vec<u8>, what: String) {
        self.in_flight
            .push((self.now + delay(from, to), self.log.len()));
        self.log.push(Crossing {
            at: self.now,
            from,
            to,
            what,
            contents,
            dropped: false,
        });
    }

    /// Move every transmit waiting into the network.
    fn flush(&mut self) {
        let now = self.now;
        // A keepalive probe is an ACK to the segment's eye: its reason tells it apart.
        let what = |transmit: &Transmit| match transmit.reason {
            Reason::Keepalive => "keepalive".to_string(),
            _ => describe(&transmit.contents),
        };
        while let Some(transmit) = self.alice.poll_transmit(now) {
            let what = what(&transmit);
            self.send(addr(ALICE), transmit.destination, transmit.contents, what);
        }
        while let Some(transmit) = self.bob.poll_transmit(now) {
            let what = what(&transmit);
            self.send(addr(BOB), transmit.destination, transmit.contents, what);
        }
        while let Some(transmit) = self.server.poll_transmit(now) {
            let what = describe(&transmit.contents);
            self.send(addr(SERVER), transmit.destination, transmit.contents, what);
        }
    }

    /// Run until `until` (simulated: the clock then reads `until`), or until `done` holds.
    fn run(&mut self, until: Instant, mut done: impl FnMut(&Net) -> bool) {
        loop {
            self.flush();
            if done(self) {
                return;
            }
            let next = [
                self.in_flight.iter().map(|(at, ..)| *at).min(),
                self.alice.poll_timeout(),
                self.bob.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&next| next <= until) else {
                self.now = self.now.max(until);
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            self.in_flight.sort_by_key(|(at, ..)| *at);
            while self.in_flight.first().is_some_and(|(at, ..)| *at <= now) {
                let (_, index) = self.in_flight.remove(0);
                let (from, to) = (self.log[index].from, self.log[index].to);
                if (self.filter)(now, from, to, &self.log) {
                    self.log[index].dropped = true;
                    continue;
                }
                let datagram = self.log[index].contents.clone();
                match to {
                    // The server's port, and its probe port, the next.
                    to if to.ip() == addr(SERVER).ip() => {
                        self.server.handle_datagram(now, from, &datagram)
                    }
                    to if to == addr(ALICE) => self.alice.handle_datagram(now, from, &datagram),
                    to if to == addr(BOB) => self.bob.handle_datagram(now, from, &datagram),
                    _ => {}
                }
            }
            for endpoint in [&mut self.alice, &mut self.bob] {
                if endpoint.poll_timeout().is_some_and(|at| at <= now) {
                    endpoint.handle_timeout(now);
                }
            }
            if self.server.poll_timeout().is_some_and(|at| at <= now) {
                self.server.handle_timeout(now);
            }
        }
    }

    fn both_connected(&self) -> bool {
        [&self.alice, &self.bob]
            .iter()
            .all(|endpoint| matches!(endpoint.punch_status(), Some(PunchStatus::Connected { .. })))
    }

    fn handle(endpoint: &Endpoint) -> ConnectionHandle {
        match endpoint.punch_status() {
            Some(PunchStatus::Opening { handle, .. } | PunchStatus::Connected { handle, .. }) => {
                handle
            }
            status => panic!("no connection: {status:?}"),
        }
    }

    /// Alice writes `bytes`; returns what bob reads after a second.
    fn alice_to_bob(&mut self, bytes: &[u8]) -> Vec<u8> {
        let alice = Net::handle(&self.alice);
        let written = self
            .alice
            .connection_mut(alice)
            .unwrap()
            .write(bytes)
            .unwrap();
        assert_eq!(written, bytes.len());
        let until = self.now + Duration::from_secs(1);
        self.run(until, |_| false);
        let bob = Net::handle(&self.bob);
        let mut read = vec![0; bytes.len() + 1];
        let len = self
            .bob
            .connection_mut(bob)
            .unwrap()
            .read(&mut read)
            .unwrap_or(0);
        read.truncate(len);
        read
    }

    fn crossed(&self, what: &str) -> Vec<&Crossing> {
        self.log.iter().filter(|c| c.what == what).collect()
    }
}

#[test]
fn peers_behind_port_restricted_nats_connect_directly_and_the_first_syn_is_dropped() {
    let mut net = Net::pair(port_restricted());
    net.run(ms(10_000), Net::both_connected);
    assert_eq!(
        net.alice.punch_status(),
        Some(PunchStatus::Connected {
            handle: Net::handle(&net.alice),
            peer: addr(BOB),
            relayed: false
        })
    );
    // Both registered at 0 ms. Alice, at the server at 5 ms, waited and sent her PROBE on
    // the answer (at 10 ms); bob's REGISTER, there at 25 ms, was answered too, and his PROBE,
    // sent on the answer at 50 ms and there at 75 ms, introduced both: alice heard at 80 ms,
    // bob at 100 ms.
    let peer_to_peer: Vec<(u64, &str, &str, bool)> = net
        .log
        .iter()
        .filter(|c| !is_server(c.from) && !is_server(c.to))
        .map(|c| {
            let who = if c.from == addr(ALICE) {
                "alice"
            } else {
                "bob"
            };
            (c.at.as_micros() / 1000, who, c.what.as_str(), c.dropped)
        })
        .collect();
    assert_eq!(
        peer_to_peer,
        [
            // Alice's SYN reaches bob's NAT at 95 ms, before bob has sent anything to her: no
            // mapping, dropped. It opened the mapping in alice's NAT, though:
            (80, "alice", "SYN", true),
            // so bob's SYN gets through to alice, a simultaneous open (RFC 9293 section 3.5,
            // figure 8), which she answers with a SYN-ACK;
            (100, "bob", "SYN", false),
            (115, "alice", "SYN-ACK", false),
            // which acknowledges bob's SYN: his ACK completes the handshake.
            (130, "bob", "ACK", false),
        ]
    );
    assert_eq!(net.now, ms(145));
    // Connected directly, both unregistered: the server holds nothing.
    net.run(net.now + Duration::from_millis(50), |_| false);
    assert_eq!(net.server.registrations(), 0);
    assert_eq!(
        net.alice_to_bob(b"hello through the NATs"),
        b"hello through the NATs"
    );
    assert_eq!(net.server.stats().relayed, 0);
    assert_eq!(
        net.alice.stats().resets_sent + net.bob.stats().resets_sent,
        0
    );
}

#[test]
fn with_no_direct_path_the_connection_opens_through_the_relay_and_says_so() {
    let mut net = Net::pair(no_direct_path());
    net.run(ms(20_000), Net::both_connected);
    for endpoint in [&net.alice, &net.bob] {
        let Some(PunchStatus::Connected { relayed, .. }) = endpoint.punch_status() else {
            panic!("not connected: {:?}", endpoint.punch_status())
        };
        assert!(relayed);
    }
    // Bob switched to the relay 3 s after his introduction, at 3.1 s; his SYN through it
    // switched alice at once; connected well before the next round of SYNs.
    assert!(net.now < ms(4000), "connected at {}", net.now);
    assert_eq!(
        net.alice_to_bob(b"through the rendezvous"),
        b"through the rendezvous"
    );
    let stats = net.server.stats();
    assert!(stats.relayed >= 6, "{stats:?}");
    // The relayed connection keeps its registration alive; the peers' own never lapse.
    net.run(net.now + Duration::from_secs(60), |_| false);
    assert_eq!(net.server.registrations(), 2);
    // Closing ends it.
    for endpoint in [&mut net.alice, &mut net.bob] {
        let handle = Net::handle(endpoint);
        endpoint.connection_mut(handle).unwrap().abort();
    }
    net.run(net.now + Duration::from_secs(1), |_| false);
    assert_eq!(net.server.registrations(), 0);
}

/// The relay is a new path: alice's SYNs through it go one initial RTO (250 ms,
/// `PUNCH_INITIAL_RTO`) after her switch and back off from there, not on the direct
/// attempt's backed-off timer (which would send the first 750 ms after the switch and leave
/// room for two in the relayed attempt's 10 s). The server forwards nothing here, so every
/// relayed SYN goes unanswered.
#[test]
fn after_the_switch_to_the_relay_the_syns_start_again_from_the_initial_rto() {
    let mut between_peers = no_direct_path();
    // The datagram arriving is one sent one delay ago on that hop.
    let filter: Filter = Box::new(move |now, from, to, log| {
        let forwarded_relay = is_server(from)
            && log.iter().any(|c| {
                c.from == from
                    && c.to == to
                    && c.at + delay(from, to) == now
                    && c.what.starts_with("RELAY")
            });
        forwarded_relay || between_peers(now, from, to, log)
    });
    let mut net = Net::pair(filter);
    let mut switched = None;
    net.run(ms(30_000), |net| {
        if let Some(crate::rendezvous::client::Phase::Relaying { since, .. }) =
            net.alice.punch_client().map(|client| client.phase())
        {
            switched = Some(*since);
        }
        false
    });
    let switched = switched.expect("alice switched to the relay");
    let relayed_syns: Vec<Duration> = net
        .log
        .iter()
        .filter(|c| c.from == addr(ALICE) && is_server(c.to))
        .filter_map(|c| {
            let message = crate::rendezvous::message::Message::parse(&c.contents).ok()?;
            let crate::rendezvous::message::Body::Relay { payload } = message.body else {
                return None;
            };
            let segment = Segment::parse(payload).ok()?;
            (segment.flags == Flags::SYN).then(|| c.at.saturating_duration_since(switched))
        })
        .collect();
    let ms = Duration::from_millis;
    assert_eq!(
        relayed_syns,
        [ms(250), ms(750), ms(1750), ms(3750), ms(7750)],
        "relayed SYNs after the switch at {switched}"
    );
    // Then the relayed attempt runs out, 10 s after the switch.
    assert!(matches!(
        net.alice.punch_status(),
        Some(PunchStatus::Failed(PunchError::NoPath { .. }))
    ));
}

#[test]
fn with_the_relay_off_and_no_path_the_connection_fails_naming_what_blocked_it() {
    let no_relay = |name: &str, peer: &str| PunchConfig {
        relay: false,
        ..PunchConfig::new(addr(SERVER), name, peer)
    };
    let mut net = Net::new(
        no_direct_path(),
        no_relay("alice", "bob"),
        no_relay("bob", "alice"),
    );
    let handle_holder = std::cell::Cell::new(None);
    net.run(ms(60_000), |net| {
        if let Some(PunchStatus::Opening { handle, .. }) = net.alice.punch_status() {
            handle_holder.set(Some(handle));
        }
        false
    });
    let handle = handle_holder.get().expect("the connection was opened");
    let expected = PunchError::NoPath {
        peer: addr(BOB),
        direct: (DIRECT_TIMEOUT, DirectFailure::NothingHeard),
        relay: RelayAttempt::Off,
    };
    assert_eq!(
        net.alice.punch_status(),
        Some(PunchStatus::Failed(expected))
    );
    assert_eq!(
        net.alice.connection(handle).map(Connection::error),
        Some(Some(ConnectionError::TimedOut))
    );
    // Nothing more goes out once both gave up (the UNREGISTERs went at 3 s after each's
    // introduction, bob's at 3.1 s).
    let last = net.log.last().unwrap();
    assert_eq!(
        (last.at, last.what.as_str()),
        (ms(100) + DIRECT_TIMEOUT, "UNREGISTER")
    );
}

fn segment(flags: Flags) -> Vec<u8> {
    crate::conn::encode(&Segment {
        flags,
        seq: crate::wire::SeqNum(9),
        window: 1000,
        ..Segment::default()
    })
}

#[test]
fn the_peers_syn_from_another_port_retargets_the_opening_connection_there_once() {
    // Bob's NAT gives each destination a new port: his SYN reaches alice from port 31337,
    // not the 5000 the server saw, and her NAT (a full cone, say) lets it in. Alice answers
    // there, and her SYN-ACK crosses the mapping bob's SYN opened.
    let mut net = Net::pair(no_direct_path());
    net.run(ms(100), |_| false);
    let from_new_port = addr("198.51.100.7:31337");
    // Only a SYN moves the connection: not an ACK from that port, nor a SYN from elsewhere.
    net.alice
        .handle_datagram(ms(100), from_new_port, &segment(Flags::ACK));
    net.alice
        .handle_datagram(ms(100), addr("192.0.2.9:5000"), &segment(Flags::SYN));
    assert!(net.alice.poll_transmit(ms(100)).is_none(), "no RST");
    assert_eq!(net.alice.stats().punch_strays, 2);
    net.alice
        .handle_datagram(ms(100), from_new_port, &segment(Flags::SYN));
    let answer = net.alice.poll_transmit(ms(100)).expect("a SYN-ACK");
    assert_eq!(
        (answer.destination, describe(&answer.contents).as_str()),
        (from_new_port, "SYN-ACK")
    );
    let client = net.alice.punch_client().unwrap();
    assert_eq!(client.retargeted(), Some(from_new_port));
    // The connection still names the peer as the server saw it; the endpoint translates.
    assert_eq!(net.alice.taken_as_from(from_new_port), addr(BOB));
    let Some(PunchStatus::Opening { peer, .. }) = net.alice.punch_status() else {
        panic!("opening")
    };
    assert_eq!(peer, addr(BOB));
    // Once: a SYN from a third port is a stray.
    net.alice
        .handle_datagram(ms(101), addr("198.51.100.7:31338"), &segment(Flags::SYN));
    assert_eq!(net.alice.stats().punch_strays, 3);
    assert_eq!(
        net.alice.punch_client().unwrap().retargeted(),
        Some(from_new_port)
    );
}

#[test]
fn the_peers_datagrams_from_another_port_that_are_no_syn_are_dropped_unanswered_and_named() {
    // Bob's NAT gives each destination a new port, and what comes from there is no SYN
    // alice can take (here an ACK): she must not answer it with a RST, and her error names
    // the cause.
    let mut net = Net::new(
        no_direct_path(),
        PunchConfig {
            relay: false,
            ..PunchConfig::new(addr(SERVER), "alice", "bob")
        },
        PunchConfig::new(addr(SERVER), "bob", "alice"),
    );
    net.run(ms(100), |_| false);
    let from_new_port = addr("198.51.100.7:31337");
    net.alice
        .handle_datagram(ms(100), from_new_port, &segment(Flags::ACK));
    assert!(net.alice.poll_transmit(ms(100)).is_none(), "no RST");
    assert_eq!(net.alice.stats().punch_strays, 1);
    net.run(ms(60_000), |_| false);
    let Some(PunchStatus::Failed(error)) = net.alice.punch_status() else {
        panic!("alice failed")
    };
    assert!(
        error
            .to_string()
            .contains("the peer's NAT maps each destination to a new port: its datagrams came from 198.51.100.7:31337"),
        "{error}"
    );
}

#[test]
fn an_icmp_error_about_the_peer_does_not_refuse_the_opening_connection() {
    let mut net = Net::pair(port_restricted());
    net.run(ms(81), |_| false);
    let Some(PunchStatus::Opening { handle, .. }) = net.alice.punch_status() else {
        panic!("opening")
    };
    // Bob's NAT answered alice's first SYN with a port unreachable, quoting it.
    let first_syn = net.crossed("SYN")[0].contents.clone();
    net.alice.handle_unreachable(addr(BOB), &first_syn);
    assert_eq!(net.alice.stats().unreachables_ignored, 1);
    assert_eq!(net.alice.connection(handle).unwrap().error(), None);
    net.run(ms(10_000), Net::both_connected);
    assert!(net.both_connected());
}

#[test]
fn an_idle_punched_connection_keeps_its_nat_mappings_with_keepalives_even_when_configured_off() {
    // Both NATs forget a mapping 30 s after it last carried anything outbound, as Linux's
    // conntrack does an unanswered UDP flow; the endpoints' own config turns keepalives off.
    let lifetime = Duration::from_secs(30);
    let config = Config {
        keepalive_interval: None,
        ..Config::default()
    };
    let mut net = Net::with_config(
        port_restricted_expiring(lifetime),
        &config,
        PunchConfig::new(addr(SERVER), "alice", "bob"),
        PunchConfig::new(addr(SERVER), "bob", "alice"),
    );
    net.run(ms(10_000), Net::both_connected);
    let connected = net.now;
    // Two idle minutes: four lifetimes.
    net.run(connected + Duration::from_secs(120), |_| false);
    for (who, from, to) in [("alice", ALICE, BOB), ("bob", BOB, ALICE)] {
        let sent: Vec<&Crossing> = net
            .log
            .iter()
            .filter(|c| c.from == addr(from) && c.to == addr(to) && c.at >= connected)
            .collect();
        assert!(
            sent.iter().any(|c| c.what == "keepalive"),
            "{who} sent no keepalive: {sent:?}"
        );
        // Each peer refreshes its own NAT's mapping at least every PUNCH_KEEPALIVE (its
        // probe, or its ACK to the other's), well within the lifetime.
        let mut times: Vec<Instant> = sent.iter().map(|c| c.at).collect();
        times.insert(0, connected);
        let longest = times
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .max()
            .unwrap();
        assert!(
            longest <= crate::rendezvous::PUNCH_KEEPALIVE,
            "{who} sent nothing to the peer for {longest:?}"
        );
        assert!(sent.iter().all(|c| !c.dropped), "{who}: {sent:?}");
    }
    // So the path still works both ways after the idle minutes.
    assert_eq!(
        net.alice_to_bob(b"still here after two idle minutes"),
        b"still here after two idle minutes"
    );
}
