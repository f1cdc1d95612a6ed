//! Control during a run: a partition stalls a transfer and a repair lets it finish; a hold
//! delivers late, in order; a fault spec changed mid-run applies from then on; a crash is
//! silence, and a restart meets the peer's next segments with a reset.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{client_router_server, host_with_log, pattern, send, sink, Log};
use crate::link::LinkConfig;
use crate::sim::world::net::{Listener, Stream, UdpSocket};
use crate::sim::world::time::{sleep, Instant};
use crate::sim::world::{Control, Cut, Scheduled, World, HOLD_LIMIT};

/// A 200 kB transfer from client to server with `schedule`, which must arrive whole: when it
/// finished, and the world.
fn transfer_with(schedule: Vec<Scheduled>) -> (Duration, World) {
    let mut world = client_router_server(21, LinkConfig::default());
    let log = Log::default();
    sink(&mut world, "server", 80, &log);
    world
        .client("client", async {
            send("server:80", &pattern(200_000, 1)).await?;
            Ok(())
        })
        .unwrap();
    world.schedule(schedule).unwrap();
    world.run().unwrap();
    let lines = log.lines();
    assert!(lines[0].starts_with("received 200000 bytes"), "{lines:?}");
    (world.now(), world)
}

#[test]
fn a_partitioned_link_stalls_the_transfer_until_it_is_repaired() {
    let (clean, _) = transfer_with(Vec::new());
    let cut = Cut::link("router", "server");
    let (cut_for_two_seconds, world) = transfer_with(vec![
        Scheduled::at(Duration::from_millis(100), Control::Partition(cut.clone())),
        Scheduled::at(Duration::from_millis(2100), Control::Repair(cut)),
    ]);
    // Nothing crossed for two seconds, and the retransmission timer (backed off) decides
    // when the transfer resumes.
    assert!(
        cut_for_two_seconds > clean + Duration::from_secs(2),
        "{clean:?} then {cut_for_two_seconds:?}"
    );
    let drops = world
        .link_stats("router", "server")
        .unwrap()
        .partition_drops
        + world
            .link_stats("server", "router")
            .unwrap()
            .partition_drops;
    assert!(drops > 0);
}

#[test]
fn partitioned_hosts_hear_nothing_from_each_other_until_repaired() {
    let cut = Cut::hosts("client", "server");
    let (repaired, world) = transfer_with(vec![
        Scheduled::at(Duration::from_millis(100), Control::Partition(cut.clone())),
        Scheduled::at(Duration::from_millis(1100), Control::Repair(cut)),
    ]);
    assert!(world.host_partition_drops() > 0);
    assert!(repaired > Duration::from_millis(1100));
}

#[test]
fn held_datagrams_arrive_in_order_when_released() {
    let mut world = client_router_server(2, LinkConfig::default());
    let log = Log::default();
    host_with_log(&mut world, "server", &log, |log| async move {
        let socket = UdpSocket::bind("0.0.0.0:53").await?;
        let mut buf = [0u8; 64];
        loop {
            let (count, _) = socket.recv_from(&mut buf).await?;
            log.push(format!(
                "{} at {:?}",
                String::from_utf8_lossy(&buf[..count]),
                Instant::now().since_start()
            ));
        }
    });
    world
        .client("client", async {
            let socket = UdpSocket::bind("0.0.0.0:0").await?;
            for message in ["one", "two", "three"] {
                socket.send_to(message.as_bytes(), "server:53").await?;
                sleep(Duration::from_millis(10)).await;
            }
            sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .unwrap();
    world.hold(Cut::hosts("client", "server")).unwrap();
    world.run_until(Duration::from_millis(500)).unwrap();
    assert!(log.lines().is_empty());
    world.release(Cut::hosts("client", "server")).unwrap();
    world.run().unwrap();
    assert_eq!(
        log.lines(),
        ["one at 500ms", "two at 500ms", "three at 500ms"]
    );
}

#[test]
fn a_fault_spec_changed_mid_run_applies_from_then_on() {
    let everything = "loss=100%".parse().unwrap();
    let (finished, world) = transfer_with(vec![
        Scheduled::at(
            Duration::from_millis(200),
            Control::SetFaults {
                from: "client".to_string(),
                to: "router".to_string(),
                faults: everything,
            },
        ),
        Scheduled::at(
            Duration::from_millis(1200),
            Control::SetFaults {
                from: "client".to_string(),
                to: "router".to_string(),
                faults: crate::fault::FaultConfig::default(),
            },
        ),
    ]);
    assert!(finished > Duration::from_millis(1200));
    let faults = world.link_stats("client", "router").unwrap().faults;
    assert!(faults.dropped_loss > 0);
}

/// The client streams to the server, reading nothing back, and logs how it ends; the server
/// echoes nothing and reads everything.
fn stream_until_it_fails(world: &mut World, log: &Log) {
    let client_log = log.clone();
    world
        .client("client", async move {
            let mut stream = Stream::connect("server:80").await?;
            let chunk = [7u8; 1000];
            let error = loop {
                if let Err(error) = stream.write_all(&chunk).await {
                    break error;
                }
                sleep(Duration::from_millis(10)).await;
            };
            client_log.push(format!(
                "client: {:?} at {:?}",
                error.kind(),
                Instant::now().since_start()
            ));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_crashed_server_is_silent_then_resets_once_it_is_back() {
    let mut world = client_router_server(8, LinkConfig::default());
    let log = Log::default();
    let starts = Rc::new(RefCell::new(0));
    let started = Rc::clone(&starts);
    world
        .host("server", move || {
            *started.borrow_mut() += 1;
            async {
                let listener = Listener::bind("0.0.0.0:80").await?;
                loop {
                    let (mut stream, _) = listener.accept().await?;
                    let mut sink = Vec::new();
                    stream.read_to_end(&mut sink).await?;
                }
            }
        })
        .unwrap();
    stream_until_it_fails(&mut world, &log);
    world
        .schedule([
            Scheduled::at(Duration::from_secs(1), Control::Crash("server".to_string())),
            Scheduled::at(
                Duration::from_secs(5),
                Control::Restart("server".to_string()),
            ),
        ])
        .unwrap();
    world.run().unwrap();
    assert_eq!(*starts.borrow(), 2, "the program started again");
    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    // While it was down nothing answered (the client's retransmissions met silence); the
    // first one after the restart met the new listener, which knows no such connection and
    // resets it (RFC 9293 section 3.10.7.1).
    let at: Duration = world.now();
    assert!(lines[0].starts_with("client: ConnectionReset"), "{lines:?}");
    assert!(at >= Duration::from_secs(5), "{at:?}");
    let server = world.host_stats("server").unwrap();
    assert!(server.dropped_while_down > 0);
    assert_eq!(server.crashes, 1);
}

#[test]
fn a_crashed_client_leaves_the_server_to_find_out_by_its_timers() {
    let mut world = World::builder()
        .seed(4)
        .host("client", "10.0.0.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .host("observer", "10.0.2.2")
        .link("client", "router", LinkConfig::default())
        .link("router", "server", LinkConfig::default())
        .link("router", "observer", LinkConfig::default())
        .build()
        .unwrap();
    let log = Log::default();
    host_with_log(&mut world, "server", &log, |log| async move {
        let listener = Listener::bind("0.0.0.0:80").await?;
        let (mut stream, _) = listener.accept().await?;
        stream.set_user_timeout(Some(Duration::from_secs(5)))?;
        let error = loop {
            match stream.write_all(&[1u8; 1000]).await {
                Ok(()) => sleep(Duration::from_millis(100)).await,
                Err(error) => break error,
            }
        };
        log.push(format!(
            "server: {:?} after {:?}",
            error.kind(),
            Instant::now().since_start()
        ));
        Ok(())
    });
    world
        .host("client", || async {
            let mut stream = Stream::connect("server:80").await?;
            let mut buf = [0u8; 1000];
            loop {
                if stream.read(&mut buf).await? == 0 {
                    return Ok(());
                }
            }
        })
        .unwrap();
    // The observer is the run's client: it waits long enough for the server to notice.
    world
        .client("observer", async {
            sleep(Duration::from_secs(20)).await;
            Ok(())
        })
        .unwrap();
    world.run_until(Duration::from_secs(1)).unwrap();
    world.crash("client").unwrap();
    world.run().unwrap();
    // The client's host is down: nothing answers (no RST, no ICMP), so the server's user
    // timeout ends the connection, 5 s after the first segment left unanswered.
    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("server: TimedOut after 6."),
        "{lines:?}"
    );
    assert!(!world.is_up("client").unwrap());
}

#[test]
fn a_hold_keeps_a_bounded_queue() {
    let unlimited = LinkConfig {
        rate_bps: None,
        queue_limit: usize::MAX,
        ..LinkConfig::default()
    };
    let mut world = World::builder()
        .host("client", "10.0.0.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("client", "router", unlimited.clone())
        .link("router", "server", unlimited)
        .build()
        .unwrap();
    let sent = HOLD_LIMIT + 10;
    world
        .client("client", async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await?;
            // In batches a second apart, so that no link holds more than its delay line.
            for batch in (0..sent).collect::<Vec<_>>().chunks(10_000) {
                for index in batch {
                    socket.send_to(&index.to_be_bytes(), "server:53").await?;
                }
                sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        })
        .unwrap();
    world.hold(Cut::hosts("client", "server")).unwrap();
    world.run().unwrap();
    assert_eq!(world.host_hold_drops(), 10);
    world.release(Cut::hosts("client", "server")).unwrap();
    world
        .run_until(world.now() + Duration::from_secs(1))
        .unwrap();
    // Released, they met the server's port, where no socket is: each got an unreachable.
    let server = world.host_stats("server").unwrap();
    assert_eq!(server.port_unreachables_sent, HOLD_LIMIT as u64);
}
