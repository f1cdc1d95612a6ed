//! A client and a server through a router: the data arrives, the time is what the path
//! allows, and the connection's own machinery (retransmissions) repairs a lossy link.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{client_router_server, host_with_log, Log};
use crate::link::LinkConfig;
use crate::sim::world::net::{Listener, Stream};
use crate::sim::world::time::Instant;
use crate::sim::world::World;

#[test]
fn a_request_and_its_reply_cross_the_router() {
    let mut world = client_router_server(1, LinkConfig::default());
    let log = Log::default();
    host_with_log(&mut world, "server", &log, |log| async move {
        let listener = Listener::bind("0.0.0.0:80").await?;
        let (mut stream, peer) = listener.accept().await?;
        log.push(format!("server: accepted {}", peer.ip()));
        let mut request = String::new();
        stream.read_to_string(&mut request).await?;
        stream.write_all(request.to_uppercase().as_bytes()).await?;
        stream.close().await?;
        Ok(())
    });
    let client_log = log.clone();
    let times = Rc::new(RefCell::new(Vec::new()));
    let client_times = Rc::clone(&times);
    world
        .client("client", async move {
            let mut stream = Stream::connect("server:80").await?;
            client_times.borrow_mut().push(Instant::now().since_start());
            client_log.push(format!(
                "client: {} connected to {}",
                stream.local_addr()?.ip(),
                stream.peer_addr()?
            ));
            stream.write_all(b"hello, world").await?;
            stream.shutdown().await?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await?;
            client_times.borrow_mut().push(Instant::now().since_start());
            client_log.push(format!("client: {reply}"));
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    // The run ends with the client: the server's close may still be under way.
    assert_eq!(
        log.lines(),
        [
            "client: 10.0.0.2 connected to 10.0.1.2:80",
            "server: accepted 10.0.0.2",
            "client: HELLO, WORLD",
        ]
    );
    // Two links of 20 ms each way: the SYN-ACK is back after 80 ms (and a few microseconds
    // of sending at 10 Mbit/s); the reply after a second round trip.
    let times = times.borrow();
    let within = |at: Duration, millis: u64| {
        at >= Duration::from_millis(millis) && at < Duration::from_millis(millis + 1)
    };
    assert!(within(times[0], 80), "{times:?}");
    assert!(within(times[1], 160), "{times:?}");
}

#[test]
fn a_lossy_link_is_repaired_by_retransmissions() {
    let lossy = LinkConfig {
        faults: "loss=10%".parse().unwrap(),
        ..LinkConfig::default()
    };
    let mut world = client_router_server(3, lossy);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    world
        .host("server", move || {
            let expected = expected.clone();
            async move {
                let listener = Listener::bind("0.0.0.0:80").await?;
                let (mut stream, _) = listener.accept().await?;
                let mut received = Vec::new();
                stream.read_to_end(&mut received).await?;
                assert!(received == expected, "the data arrived intact");
                stream.close().await?;
                Ok(())
            }
        })
        .unwrap();
    let retransmissions = Rc::new(RefCell::new(0));
    let counted = Rc::clone(&retransmissions);
    world
        .client("client", async move {
            let mut stream = Stream::connect("10.0.1.2:80").await?;
            stream.write_all(&payload).await?;
            stream.shutdown().await?;
            *counted.borrow_mut() = stream.stats().retransmissions.total();
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    let dropped = world.link_stats("client", "router").unwrap().faults.dropped;
    assert!(dropped > 0);
    assert!(
        *retransmissions.borrow() >= dropped / 2,
        "{dropped} dropped"
    );
}

#[test]
fn an_ipv6_world_routes_by_whole_addresses() {
    let mut world = World::builder()
        .seed(5)
        .host("client", "2001:db8::2")
        .router("router", "2001:db8::1")
        .host("server", "2001:db8:1::2")
        .host("other", "2001:db8:1::3")
        .link("client", "router", LinkConfig::default())
        .link("router", "server", LinkConfig::default())
        .link("router", "other", LinkConfig::default())
        .build()
        .unwrap();
    host_with_log(&mut world, "server", &Log::default(), |_| async {
        let listener = Listener::bind("[::]:80").await?;
        let (mut stream, _) = listener.accept().await?;
        stream.write_all(b"from the server").await?;
        stream.close().await?;
        Ok(())
    });
    world
        .client("client", async {
            let mut stream = Stream::connect("server:80").await?;
            assert_eq!(stream.local_addr()?.ip().to_string(), "2001:db8::2");
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await?;
            assert_eq!(reply, "from the server");
            Ok(())
        })
        .unwrap();
    world.run().unwrap();
    // Each host's connected route (a /128) took its own datagrams only.
    assert_eq!(world.host_stats("other").unwrap().delivered, 0);
    assert!(world.host_stats("server").unwrap().delivered > 0);
}
