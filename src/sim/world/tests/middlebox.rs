//! The middlebox hook: what a middlebox drops is counted by its reason and noted in the
//! ingress capture with its name and detail; it learns its router and a seed from the world
//! when the world is built (and can refuse the place); the world hands it back by its type.

use std::time::Duration;

use super::{capture, Memory};
use crate::capture::tests::read_packets;
use crate::capture::View;
use crate::link::LinkConfig;
use crate::sim::world::middlebox::{Addresses, Crossing, Middlebox, Placement, Verdict};
use crate::sim::world::net::UdpSocket;
use crate::sim::world::{ConfigError, World};

/// A firewall that drops what goes to one port, and remembers where it was put.
#[derive(Debug, Default)]
struct Firewall {
    blocked: u16,
    placed: Option<(String, Vec<String>, u64)>,
}

impl Middlebox for Firewall {
    fn cross(&mut self, _: &Crossing<'_>, addresses: &mut Addresses) -> Verdict {
        match addresses.destination.port() == self.blocked {
            true => Verdict::Drop {
                reason: "blocked port".to_string(),
                detail: format!("port {} is blocked", self.blocked),
            },
            false => Verdict::Forward,
        }
    }

    fn name(&self) -> String {
        "the firewall".to_string()
    }

    fn attach(&mut self, placement: &Placement<'_>) -> Result<(), String> {
        if self.blocked == 0 {
            return Err("port 0 cannot be blocked".to_string());
        }
        self.placed = Some((
            placement.router.to_string(),
            placement.neighbors.to_vec(),
            placement.seed,
        ));
        Ok(())
    }
}

fn world(seed: u64, blocked: u16) -> Result<World, ConfigError> {
    World::builder()
        .seed(seed)
        .host("client", "10.0.0.2")
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("client", "router", LinkConfig::default())
        .link("router", "server", LinkConfig::default())
        .middlebox(
            "router",
            Firewall {
                blocked,
                ..Firewall::default()
            },
        )
        .build()
}

#[test]
fn a_middleboxs_drop_is_counted_by_reason_and_captured_with_its_name_and_detail() {
    let mut world = world(1, 81).unwrap();
    world
        .client("client", async {
            let socket = UdpSocket::bind("0.0.0.0:5000").await?;
            socket.send_to(b"to 80", "10.0.1.2:80").await?;
            socket.send_to(b"to 81", "10.0.1.2:81").await?;
            socket.send_to(b"to 81 again", "10.0.1.2:81").await?;
            Ok(())
        })
        .unwrap();
    let ingress = Memory::default();
    world
        .capture("router", "client", capture(&ingress, View::Ferry))
        .unwrap();
    world.run_until(Duration::from_secs(1)).unwrap();
    world.finish_captures().unwrap();
    let drops = world.router_stats("router").unwrap().middlebox_drops;
    assert_eq!(
        drops.into_iter().collect::<Vec<_>>(),
        [("blocked port".to_string(), 2)]
    );
    let comments: Vec<Vec<String>> = read_packets(&ingress.bytes())
        .into_iter()
        .filter(|(_, frame, _)| frame[12..14] == [0x08, 0x00])
        .map(|(_, _, comments)| comments)
        .collect();
    let dropped = vec!["dropped by the firewall: port 81 is blocked".to_string()];
    // The fourth packet is the port unreachable the server sent back about the first, which
    // the firewall let through.
    assert_eq!(comments[..3], [Vec::new(), dropped.clone(), dropped]);
    assert_eq!(comments.len(), 4);
}

#[test]
fn a_middlebox_learns_its_place_and_a_seed_of_the_worlds_and_comes_back_by_its_type() {
    let placed = |seed: u64| {
        let world = world(seed, 81).unwrap();
        let firewall = world.middlebox::<Firewall>("router").unwrap().unwrap();
        firewall.placed.clone().unwrap()
    };
    let (router, neighbors, seed) = placed(1);
    assert_eq!(router, "router");
    assert_eq!(neighbors, ["client", "server"]);
    assert_eq!(placed(1).2, seed, "a function of the world's seed");
    assert_ne!(placed(2).2, seed);
    let world = world(1, 81).unwrap();
    assert!(world.middlebox::<Firewall>("client").unwrap().is_none());
}

#[test]
fn a_middlebox_that_refuses_its_place_fails_the_build() {
    assert_eq!(
        world(1, 0).unwrap_err().to_string(),
        "the middlebox on \"router\" cannot work there: port 0 cannot be blocked"
    );
}
