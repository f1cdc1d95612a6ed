//! What a real network gives a connect to nowhere: a host with no socket on the port answers
//! with an ICMP port unreachable, which a connected socket takes as a hard error
//! (`ConnectionRefused`, at once); a router with no route answers with a network
//! unreachable, a soft error that the socket ignores, so the connect times out.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::client_router_server;
use crate::link::LinkConfig;
use crate::sim::world::net::Stream;
use crate::sim::world::time::Instant;
use crate::sim::world::World;

/// Connect from the client to `target`; the outcome and when.
fn connect_outcome(target: &'static str) -> (io::ErrorKind, Duration, World) {
    let mut world = client_router_server(5, LinkConfig::default());
    let outcome = Rc::new(RefCell::new(None));
    let written = Rc::clone(&outcome);
    world
        .client("client", async move {
            let result = Stream::connect(target).await;
            let kind = result
                .err()
                .map_or(io::ErrorKind::Other, |error| error.kind());
            *written.borrow_mut() = Some((kind, Instant::now().since_start()));
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    let (kind, at) = outcome.borrow_mut().take().expect("the client finished");
    (kind, at, world)
}

#[test]
fn no_socket_on_the_port_refuses_the_connection_at_once() {
    let (kind, at, world) = connect_outcome("server:81");
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    // The SYN's round trip: 80 ms and the microseconds of sending.
    assert!(
        at >= Duration::from_millis(80) && at < Duration::from_millis(81),
        "{at:?}"
    );
    assert_eq!(
        world.host_stats("server").unwrap().port_unreachables_sent,
        1
    );
    assert_eq!(world.host_stats("client").unwrap().unreachables_taken, 1);
}

#[test]
fn no_route_is_a_soft_error_so_the_connect_times_out() {
    let (kind, at, world) = connect_outcome("192.0.2.99:80");
    assert_eq!(kind, io::ErrorKind::TimedOut);
    // Six SYN retransmissions from a 1 s RTO, doubling (the last at 63 s), then a last wait
    // clamped to the 60 s maximum RTO: the connect gives up at 123 s.
    assert!(
        at >= Duration::from_secs(123) && at < Duration::from_secs(124),
        "{at:?}"
    );
    let router = world.router_stats("router").unwrap();
    assert_eq!(router.unroutable, 7, "the SYN and its six retransmissions");
    let client = world.host_stats("client").unwrap();
    assert_eq!(
        (client.unreachables_taken, client.unreachables_ignored),
        (0, 7)
    );
}

#[test]
fn a_routing_loop_ends_by_the_ttl_and_is_counted() {
    // Two routers that send 192.0.2.0/24 to each other.
    let mut world = World::builder()
        .host("client", "10.0.0.2")
        .router("a", "10.0.0.1")
        .router("b", "10.0.9.1")
        .link("client", "a", LinkConfig::default())
        .link("a", "b", LinkConfig::default())
        .route("a", "192.0.2.0/24", "b")
        .route("b", "192.0.2.0/24", "a")
        .build()
        .unwrap();
    world
        .client("client", async {
            let error = Stream::connect("192.0.2.1:80").await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    let (a, b) = (
        world.router_stats("a").unwrap(),
        world.router_stats("b").unwrap(),
    );
    // Seven SYNs, each bounced until its TTL of 64 ran out at one of the two.
    assert_eq!(a.ttl_exceeded + b.ttl_exceeded, 7);
    assert_eq!(a.forwarded + b.forwarded, 7 * 63);
}

#[test]
fn a_host_with_no_route_fails_the_connect_at_once() {
    let mut world = World::builder().host("alone", "10.0.0.2").build().unwrap();
    world
        .client("alone", async {
            let error = Stream::connect("10.0.0.3:80").await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NetworkUnreachable);
            assert_eq!(error.to_string(), "this host has no route to 10.0.0.3");
            assert_eq!(Instant::now().since_start(), Duration::ZERO);
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
}
