//! The NAT as a middlebox, a datagram at a time at explicit times: each behaviour of RFC 4787
//! against its definition, the presets classified by probing them as RFC 5780's tests do,
//! lifetimes and refresh, hairpinning, the table's limit, and RFC 5508's ICMP errors. (The
//! world's tests, `world/tests/nat.rs`, run programs through NATs.)

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::sim::world::datagram::UnreachableKind;
use crate::sim::world::middlebox::Interface;

/// The router's interfaces: 0 and 2 inside (toward `lan` and `lan2`), 1 outside.
const INSIDE: usize = 0;
const OUTSIDE: usize = 1;
const NEIGHBORS: [&str; 3] = ["lan", "internet", "lan2"];

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// A NAT at 1.2.3.4 behaving as `config`, its outside toward `internet`.
fn nat(config: impl Into<NatConfig>) -> Nat {
    nat_seeded(config, 7)
}

fn nat_seeded(config: impl Into<NatConfig>, seed: u64) -> Nat {
    let mut nat = Nat::new("internet", config);
    let neighbors = NEIGHBORS.map(str::to_string);
    let addresses = ["1.2.3.4", "192.168.1.1"].map(|a| a.parse().unwrap());
    nat.attach(&Placement {
        router: "nat",
        addresses: &addresses,
        neighbors: &neighbors,
        seed,
    })
    .unwrap();
    nat
}

/// Where the router's routes send `destination`: the public address is the router's own
/// (no egress), 192.168.x.x is inside, anything else outside.
fn egress(destination: SocketAddr) -> Option<usize> {
    match destination.ip().to_string() {
        own if own == "1.2.3.4" || own == "192.168.1.1" => None,
        inside if inside.starts_with("192.168.") => Some(INSIDE),
        _ => Some(OUTSIDE),
    }
}

/// Offer `nat` a datagram with `addresses` (UDP, or an unreachable when they quote one)
/// arriving by `ingress` at `now`: the addresses it leaves with, or the capture's comment
/// of its drop.
fn cross(
    nat: &mut Nat,
    now: f64,
    ingress: usize,
    mut addresses: Addresses,
) -> Result<Addresses, String> {
    let interface = |index: usize| Interface {
        index,
        neighbor: NEIGHBORS[index],
    };
    let payload = match addresses.quoted {
        None => Payload::Udp(b"datagram"),
        Some(_) => Payload::Unreachable {
            kind: UnreachableKind::Port,
            quoted: b"datagram",
        },
    };
    let crossing = Crossing {
        now: secs(now),
        ingress: interface(ingress),
        egress: egress(addresses.destination).map(interface),
        payload,
    };
    match nat.cross(&crossing, &mut addresses) {
        Verdict::Forward => Ok(addresses),
        Verdict::Drop { detail, .. } => Err(format!("dropped by {}: {detail}", nat.name())),
    }
}

fn udp(source: &str, destination: &str) -> Addresses {
    Addresses {
        source: at(source),
        destination: at(destination),
        quoted: None,
    }
}

/// A datagram from inside `from` to `to` at `now`: the source it leaves with.
fn out(nat: &mut Nat, now: f64, from: &str, to: &str) -> Result<SocketAddr, String> {
    cross(nat, now, INSIDE, udp(from, to)).map(|sent| {
        assert_eq!(sent.destination, at(to), "outbound keeps its destination");
        sent.source
    })
}

/// A datagram from outside `from` to `to` at `now`: the destination it goes on to.
fn inbound(nat: &mut Nat, now: f64, from: &str, to: &str) -> Result<SocketAddr, String> {
    cross(nat, now, OUTSIDE, udp(from, to)).map(|sent| {
        assert_eq!(sent.source, at(from), "inbound keeps its source");
        sent.destination
    })
}

const X: &str = "192.168.1.2:4000";
const Y1: &str = "4.5.6.7:5000";
const Y1_OTHER_PORT: &str = "4.5.6.7:5001";
const Y2: &str = "8.8.8.8:5000";

// ---- Mapping (RFC 4787 section 4.1) ----

/// The external endpoints X gets toward Y1, Y1 at another port, and Y2.
fn mapped(mapping: Dependence) -> [SocketAddr; 3] {
    let mut nat = nat(NatConfig {
        mapping,
        ..NatConfig::default()
    });
    [Y1, Y1_OTHER_PORT, Y2].map(|to| out(&mut nat, 0.0, X, to).unwrap())
}

#[test]
fn endpoint_independent_mapping_reuses_one_external_endpoint_for_every_destination() {
    let [a, b, c] = mapped(Dependence::EndpointIndependent);
    assert_eq!(a, at("1.2.3.4:4000"), "port preserved");
    assert_eq!((b, c), (a, a));
}

#[test]
fn address_dependent_mapping_reuses_it_for_one_remote_address_only() {
    let [a, b, c] = mapped(Dependence::AddressDependent);
    assert_eq!(a, b, "another port of Y1: the same mapping");
    assert_ne!(a, c, "Y2: a new mapping");
    assert_eq!(c.ip(), a.ip());
}

#[test]
fn address_and_port_dependent_mapping_makes_one_per_remote_endpoint() {
    let [a, b, c] = mapped(Dependence::AddressAndPortDependent);
    assert!(a != b && b != c && a != c, "{a} {b} {c}");
    // X1':x1' = X2':x2' if and only if Y2:y2 = Y1:y1: the same destination again reuses it.
    let mut nat = nat(Preset::Symmetric);
    let first = out(&mut nat, 0.0, X, Y1).unwrap();
    out(&mut nat, 0.0, X, Y2).unwrap();
    assert_eq!(out(&mut nat, 1.0, X, Y1).unwrap(), first);
}

// ---- Filtering (RFC 4787 section 5) ----

/// After X sent to Y1: what gets in from Y1, from Y1's other port, and from Y2.
fn admitted(filtering: Dependence) -> [Result<SocketAddr, String>; 3] {
    let mut nat = nat(NatConfig {
        filtering,
        ..NatConfig::default()
    });
    let external = out(&mut nat, 0.0, X, Y1).unwrap().to_string();
    [Y1, Y1_OTHER_PORT, Y2].map(|from| inbound(&mut nat, 1.0, from, &external))
}

#[test]
fn endpoint_independent_filtering_lets_anyone_in() {
    assert_eq!(
        admitted(Dependence::EndpointIndependent),
        [Ok(at(X)), Ok(at(X)), Ok(at(X))]
    );
}

#[test]
fn address_dependent_filtering_lets_in_any_port_of_an_address_sent_to() {
    let [y1, y1_other, y2] = admitted(Dependence::AddressDependent);
    assert_eq!((y1, y1_other), (Ok(at(X)), Ok(at(X))));
    assert_eq!(
        y2.unwrap_err(),
        "dropped by NAT 1.2.3.4: no mapping for 8.8.8.8 (filtered: 1.2.3.4:4000, for \
         192.168.1.2:4000, has sent nothing to it)"
    );
}

#[test]
fn address_and_port_dependent_filtering_lets_in_exactly_the_endpoints_sent_to() {
    let [y1, y1_other, y2] = admitted(Dependence::AddressAndPortDependent);
    assert_eq!(y1, Ok(at(X)));
    assert_eq!(
        y1_other.unwrap_err(),
        "dropped by NAT 1.2.3.4: no mapping for 4.5.6.7:5001 (filtered: 1.2.3.4:4000, for \
         192.168.1.2:4000, has sent nothing to it)"
    );
    assert!(y2.is_err());
}

#[test]
fn nothing_gets_in_to_a_port_no_mapping_holds() {
    for preset in Preset::ALL {
        let mut nat = nat(preset);
        assert_eq!(
            inbound(&mut nat, 0.0, Y1, "1.2.3.4:4000").unwrap_err(),
            "dropped by NAT 1.2.3.4: no mapping for 4.5.6.7:5000",
            "{preset}"
        );
    }
}

// ---- The presets, classified as RFC 5780 section 4.3 and 4.4 probe a NAT ----

/// Probe `nat` as a STUN client with two servers would: the mapping behaviour from the
/// external endpoints X gets toward Y1, Y1's other port and Y2; the filtering behaviour from
/// what Y1's other port and Y2 can send to the endpoint X got toward Y1.
fn classify(nat: &mut Nat) -> (Dependence, Dependence) {
    let [a, b, c] = [Y1, Y1_OTHER_PORT, Y2].map(|to| out(nat, 0.0, X, to).unwrap());
    let mapping = match (a == c, a == b) {
        (true, _) => Dependence::EndpointIndependent,
        (false, true) => Dependence::AddressDependent,
        (false, false) => Dependence::AddressAndPortDependent,
    };
    // A fresh internal endpoint, so that the probes above leave no entry behind.
    let external = out(nat, 0.0, "192.168.1.3:4000", Y1).unwrap().to_string();
    let from_anywhere = inbound(nat, 0.0, Y2, &external).is_ok();
    let from_other_port = inbound(nat, 0.0, Y1_OTHER_PORT, &external).is_ok();
    let filtering = match (from_anywhere, from_other_port) {
        (true, _) => Dependence::EndpointIndependent,
        (false, true) => Dependence::AddressDependent,
        (false, false) => Dependence::AddressAndPortDependent,
    };
    (mapping, filtering)
}

#[test]
fn each_preset_behaves_as_its_name_says_when_probed() {
    use Dependence::*;
    // RFC 4787 section 3 and the labs' names: full cone = EIM + EIF, (address-)restricted
    // cone = EIM + ADF, port-restricted cone = EIM + APDF, symmetric = APDM + APDF.
    let expected = [
        (Preset::FullCone, (EndpointIndependent, EndpointIndependent)),
        (
            Preset::AddressRestrictedCone,
            (EndpointIndependent, AddressDependent),
        ),
        (
            Preset::PortRestrictedCone,
            (EndpointIndependent, AddressAndPortDependent),
        ),
        (
            Preset::Symmetric,
            (AddressAndPortDependent, AddressAndPortDependent),
        ),
        (
            Preset::SymmetricSequential,
            (AddressAndPortDependent, AddressAndPortDependent),
        ),
    ];
    for (preset, behaviour) in expected {
        assert_eq!(classify(&mut nat(preset)), behaviour, "{preset}");
        assert_eq!(preset.name().parse(), Ok(preset));
    }
    assert_eq!(
        "cone".parse::<Preset>().unwrap_err().to_string(),
        "\"cone\" is not a NAT type; the types are: full-cone, address-restricted-cone, \
         port-restricted-cone, symmetric, symmetric-sequential"
    );
}

// ---- Port assignment (RFC 4787 section 4.2.1) ----

#[test]
fn cones_preserve_the_port_and_a_second_host_on_it_gets_the_next() {
    let mut nat = nat(Preset::PortRestrictedCone);
    assert_eq!(out(&mut nat, 0.0, X, Y1), Ok(at("1.2.3.4:4000")));
    assert_eq!(
        out(&mut nat, 0.0, "192.168.1.3:4000", Y1),
        Ok(at("1.2.3.4:4001")),
        "no port overloading (REQ-3): the next free port"
    );
    assert_eq!(
        out(&mut nat, 0.0, "192.168.1.3:53", Y1),
        Ok(at("1.2.3.4:53"))
    );
}

#[test]
fn a_sequential_symmetric_nat_gives_each_destination_the_next_port() {
    let mut nat = nat(Preset::SymmetricSequential);
    let ports: Vec<u16> = (0..4)
        .map(|i| {
            out(&mut nat, 0.0, X, &format!("4.5.6.7:{}", 5000 + i))
                .unwrap()
                .port()
        })
        .collect();
    assert_eq!(ports, [ports[0], ports[0] + 1, ports[0] + 2, ports[0] + 3]);
    // Another internal endpoint goes on counting from there.
    assert_eq!(
        out(&mut nat, 0.0, "192.168.1.3:4000", Y1).unwrap().port(),
        ports[0] + 4
    );
}

#[test]
fn a_random_symmetric_nat_draws_its_ports_from_its_seed() {
    let ports = |seed: u64| -> Vec<u16> {
        let mut nat = nat_seeded(Preset::Symmetric, seed);
        (0..8)
            .map(|i| {
                out(&mut nat, 0.0, X, &format!("4.5.6.7:{}", 5000 + i))
                    .unwrap()
                    .port()
            })
            .collect()
    };
    let first = ports(7);
    assert_eq!(first, ports(7), "a function of the seed");
    assert_ne!(first, ports(8));
    assert!(first.windows(2).all(|w| w[1] != w[0] + 1), "{first:?}");
    assert!(first.iter().all(|&port| port >= 1024));
}

// ---- Lifetime and refresh (RFC 4787 section 4.3) ----

#[test]
fn a_mapping_lives_its_lifetime_after_the_last_outbound_datagram() {
    let mut nat = nat(Preset::PortRestrictedCone);
    out(&mut nat, 0.0, X, Y1).unwrap();
    assert_eq!(inbound(&mut nat, 119.999, Y1, "1.2.3.4:4000"), Ok(at(X)));
    assert_eq!(
        inbound(&mut nat, 120.0, Y1, "1.2.3.4:4000").unwrap_err(),
        "dropped by NAT 1.2.3.4: no mapping for 4.5.6.7:5000"
    );
    // A new mapping at 200 s, refreshed by outbound traffic at 300 s (REQ-6): it lives to
    // 420 s.
    out(&mut nat, 200.0, X, Y1).unwrap();
    out(&mut nat, 300.0, X, Y1).unwrap();
    assert!(inbound(&mut nat, 419.9, Y1, "1.2.3.4:4000").is_ok());
    assert!(inbound(&mut nat, 420.0, Y1, "1.2.3.4:4000").is_err());
    assert!(nat.table(secs(420.0)).rows.is_empty());
}

#[test]
fn inbound_traffic_refreshes_only_when_asked_to() {
    for inbound_refresh in [false, true] {
        let mut nat = nat(NatConfig {
            inbound_refresh,
            ..Preset::PortRestrictedCone.into()
        });
        out(&mut nat, 0.0, X, Y1).unwrap();
        inbound(&mut nat, 100.0, Y1, "1.2.3.4:4000").unwrap();
        assert_eq!(
            inbound(&mut nat, 150.0, Y1, "1.2.3.4:4000").is_ok(),
            inbound_refresh,
            "inbound refresh {inbound_refresh}"
        );
    }
}

#[test]
fn each_remote_entry_expires_on_its_own() {
    let mut nat = nat(Preset::PortRestrictedCone);
    out(&mut nat, 0.0, X, Y1).unwrap();
    out(&mut nat, 60.0, X, Y2).unwrap();
    // At 130 s the entry for Y1 has gone; the mapping lives on through Y2's.
    assert!(inbound(&mut nat, 130.0, Y1, "1.2.3.4:4000")
        .unwrap_err()
        .contains("filtered"));
    assert_eq!(inbound(&mut nat, 130.0, Y2, "1.2.3.4:4000"), Ok(at(X)));
    let table = nat.table(secs(130.0));
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0].remote, at(Y2));
    assert_eq!(table.rows[0].expires, secs(180.0));
}

// ---- The table ----

#[test]
fn the_table_prints_internal_external_and_remote_endpoints() {
    let mut nat = nat(Preset::Symmetric);
    assert_eq!(
        nat.table(secs(0.0)).to_string(),
        "NAT 1.2.3.4 (symmetric) at 0.000000 s:\n  no mappings\n"
    );
    let first = out(&mut nat, 1.0, X, Y1).unwrap();
    let second = out(&mut nat, 2.5, X, Y2).unwrap();
    let table = nat.table(secs(3.0));
    let lines: Vec<String> = table.to_string().lines().map(str::to_string).collect();
    assert_eq!(lines[0], "NAT 1.2.3.4 (symmetric) at 3.000000 s:");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["internal", "external", "remote", "expires"]
    );
    let mut rows: Vec<Vec<String>> = lines[2..]
        .iter()
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect();
    rows.sort();
    let mut expected = vec![
        vec![
            X.to_string(),
            first.to_string(),
            Y1.to_string(),
            "121.000000".into(),
            "s".into(),
        ],
        vec![
            X.to_string(),
            second.to_string(),
            Y2.to_string(),
            "122.500000".into(),
            "s".into(),
        ],
    ];
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(
        table.row(at(X), at(Y2)).map(|row| row.external),
        Some(second)
    );
}

#[test]
fn the_table_holds_its_limit_of_entries_and_frees_them_as_they_expire() {
    let mut nat = nat(NatConfig {
        table_limit: 3,
        ..Preset::PortRestrictedCone.into()
    });
    for port in 5000..5003 {
        out(&mut nat, 0.0, X, &format!("4.5.6.7:{port}")).unwrap();
    }
    assert_eq!(
        out(&mut nat, 1.0, X, "4.5.6.7:5003").unwrap_err(),
        "dropped by NAT 1.2.3.4: table full (3 entries)"
    );
    assert!(
        out(&mut nat, 1.0, "192.168.1.3:4000", Y2).is_err(),
        "nor a new mapping"
    );
    assert!(
        out(&mut nat, 1.0, X, "4.5.6.7:5000").is_ok(),
        "an entry it has: refreshed"
    );
    assert_eq!(nat.table(secs(1.0)).rows.len(), 3);
    // At 120 s the two not refreshed expire: room for two.
    assert!(out(&mut nat, 120.0, X, "4.5.6.7:5003").is_ok());
    assert!(out(&mut nat, 120.0, "192.168.1.3:4000", Y2).is_ok());
    assert!(out(&mut nat, 120.0, X, "4.5.6.7:5004").is_err());
}

#[test]
fn a_mapping_with_no_free_port_left_in_its_range_is_refused() {
    // Internal port 53 maps below 1024 (REQ-3 a): 1,023 ports, one per destination.
    let mut nat = nat(Preset::SymmetricSequential);
    for i in 0..1023u32 {
        let to = SocketAddr::from(([4, 5, (i / 256) as u8, (i % 256) as u8], 53));
        assert!(out(&mut nat, 0.0, "192.168.1.2:53", &to.to_string()).is_ok());
    }
    assert_eq!(
        out(&mut nat, 0.0, "192.168.1.2:53", "9.9.9.9:53").unwrap_err(),
        "dropped by NAT 1.2.3.4: no free port to map 192.168.1.2:53 to"
    );
    assert_eq!(nat.stats().mappings_made, 1023);
}

// ---- Hairpinning (RFC 4787 section 6) ----

const X2: &str = "192.168.1.3:6000";

#[test]
fn hairpinning_turns_a_datagram_to_the_public_address_back_inside_from_the_senders_mapping() {
    let mut nat = nat(Preset::FullCone);
    let x2_external = out(&mut nat, 0.0, X2, Y1).unwrap().to_string();
    let hairpinned = cross(&mut nat, 1.0, INSIDE, udp(X, &x2_external)).unwrap();
    assert_eq!(
        hairpinned,
        udp("1.2.3.4:4000", X2),
        "REQ-9 b: from X's external endpoint"
    );
    assert_eq!(nat.stats().hairpinned, 1);
    // The reply goes the same way back.
    let reply = cross(&mut nat, 2.0, INSIDE, udp(X2, "1.2.3.4:4000")).unwrap();
    assert_eq!(reply, udp(&x2_external, X));
}

#[test]
fn a_hairpinned_datagram_passes_the_receivers_filter_like_any_inbound_one() {
    let mut nat = nat(Preset::PortRestrictedCone);
    let x2_external = out(&mut nat, 0.0, X2, Y1).unwrap().to_string();
    assert_eq!(
        cross(&mut nat, 1.0, INSIDE, udp(X, &x2_external)).unwrap_err(),
        "dropped by NAT 1.2.3.4: no mapping for 1.2.3.4:4000 (filtered: 1.2.3.4:6000, for \
         192.168.1.3:6000, has sent nothing to it)"
    );
    // X2 sends to X's external endpoint: X's mapping has sent to X2's, so that gets through,
    // and it makes the entry X's next datagram needs.
    assert!(cross(&mut nat, 2.0, INSIDE, udp(X2, "1.2.3.4:4000")).is_ok());
    assert_eq!(
        cross(&mut nat, 3.0, INSIDE, udp(X, &x2_external)),
        Ok(udp("1.2.3.4:4000", X2))
    );
}

#[test]
fn without_hairpinning_a_datagram_to_the_public_address_from_inside_is_dropped() {
    let mut nat = nat(NatConfig {
        hairpinning: false,
        ..Preset::FullCone.into()
    });
    let x2_external = out(&mut nat, 0.0, X2, Y1).unwrap().to_string();
    assert_eq!(
        cross(&mut nat, 1.0, INSIDE, udp(X, &x2_external)).unwrap_err(),
        "dropped by NAT 1.2.3.4: hairpinning is off (from inside to 1.2.3.4:6000)"
    );
}

// ---- What is not translated ----

#[test]
fn only_the_public_address_is_reachable_from_outside_and_other_traffic_crosses_untouched() {
    let mut nat = nat(Preset::FullCone);
    out(&mut nat, 0.0, X, Y1).unwrap();
    assert_eq!(
        inbound(&mut nat, 1.0, Y1, X).unwrap_err(),
        "dropped by NAT 1.2.3.4: not translated: from outside, only the public address is \
         reachable, not 192.168.1.2"
    );
    // Inside to inside, and to the router's inside address: untouched.
    let lan = udp(X, "192.168.1.9:80");
    assert_eq!(cross(&mut nat, 1.0, INSIDE, lan), Ok(lan));
    let router = udp(X, "192.168.1.1:80");
    assert_eq!(cross(&mut nat, 1.0, INSIDE, router), Ok(router));
    // IPv6 crosses a NAT44 as a plain router.
    let v6 = udp("[2001:db8::2]:4000", "[2001:db8:1::7]:5000");
    assert_eq!(cross(&mut nat, 1.0, INSIDE, v6), Ok(v6));
    assert_eq!(nat.table(secs(1.0)).rows.len(), 1);
}

// ---- ICMP errors (RFC 5508 section 4.2) ----

fn unreachable(source: &str, destination: &str, quoted: (&str, &str)) -> Addresses {
    Addresses {
        source: at(source),
        destination: at(destination),
        quoted: Some((at(quoted.0), at(quoted.1))),
    }
}

#[test]
fn an_error_from_outside_about_a_mapped_datagram_goes_back_to_the_internal_endpoint() {
    let mut nat = nat(Preset::PortRestrictedCone);
    out(&mut nat, 0.0, X, Y1).unwrap();
    let error = unreachable("4.5.6.7:0", "1.2.3.4:0", ("1.2.3.4:4000", Y1));
    assert_eq!(
        cross(&mut nat, 1.0, OUTSIDE, error),
        Ok(unreachable("4.5.6.7:0", "192.168.1.2:0", (X, Y1)))
    );
    assert_eq!(nat.stats().errors_translated, 1);
    // One about a datagram to an endpoint the mapping never sent to: dropped (REQ-4).
    let forged = unreachable("6.6.6.6:0", "1.2.3.4:0", ("1.2.3.4:4000", "6.6.6.6:9"));
    assert_eq!(
        cross(&mut nat, 1.0, OUTSIDE, forged).unwrap_err(),
        "dropped by NAT 1.2.3.4: an ICMP error about 1.2.3.4:4000 > 6.6.6.6:9, which no \
         mapping carried"
    );
    // Errors neither refresh nor end a mapping: it expires at 120 s all the same.
    assert!(inbound(&mut nat, 119.0, Y1, "1.2.3.4:4000").is_ok());
    assert!(inbound(&mut nat, 120.0, Y1, "1.2.3.4:4000").is_err());
}

#[test]
fn an_error_from_inside_about_a_datagram_let_in_goes_out_from_the_public_endpoint() {
    let mut nat = nat(Preset::FullCone);
    out(&mut nat, 0.0, X, Y1).unwrap();
    // Y2 sent to 1.2.3.4:4000, let in to X, which had no socket there.
    let error = unreachable("192.168.1.2:0", "8.8.8.8:0", (Y2, X));
    assert_eq!(
        cross(&mut nat, 1.0, INSIDE, error),
        Ok(unreachable("1.2.3.4:0", "8.8.8.8:0", (Y2, "1.2.3.4:4000")))
    );
    let unmapped = unreachable("192.168.1.3:0", "8.8.8.8:0", (Y2, "192.168.1.3:7"));
    assert!(cross(&mut nat, 1.0, INSIDE, unmapped).is_err());
}

#[test]
fn a_hairpinned_error_is_translated_both_ways() {
    let mut nat = nat(Preset::FullCone);
    let x2_external = out(&mut nat, 0.0, X2, Y1).unwrap().to_string();
    cross(&mut nat, 1.0, INSIDE, udp(X, &x2_external)).unwrap();
    // X2 answers what arrived (from 1.2.3.4:4000 to X2) with a port unreachable.
    let error = unreachable("192.168.1.3:0", "1.2.3.4:0", ("1.2.3.4:4000", X2));
    assert_eq!(
        cross(&mut nat, 1.0, INSIDE, error),
        Ok(unreachable("1.2.3.4:0", "192.168.1.2:0", (X, &x2_external))),
        "X learns of the datagram it sent, as it sent it"
    );
}

// ---- Attaching ----

#[test]
fn a_nat_needs_its_outside_to_be_a_neighbor() {
    let mut nat = Nat::new("upstream", Preset::FullCone);
    let neighbors = NEIGHBORS.map(str::to_string);
    let addresses = ["1.2.3.4".parse().unwrap()];
    let error = nat
        .attach(&Placement {
            router: "nat",
            addresses: &addresses,
            neighbors: &neighbors,
            seed: 0,
        })
        .unwrap_err();
    assert_eq!(
        error,
        "its outside is \"upstream\", which is not a neighbor of \"nat\"; the neighbors are: \
         lan, internet, lan2"
    );
}
