//! The built-in programs: each client's flow report says what a user of `ferry sim --scenario`
//! reads (bytes, time, requests and their latency, failures), and a client that fails ends
//! its flow without ending the run.

use std::time::Duration;

use super::client_router_server;
use crate::link::LinkConfig;
use crate::sim::world::{Amount, BuiltIn, ConfigError, Flows};

/// The path's round trip: 10 Mbit/s links of 20 ms each way, two of them.
const RTT: Duration = Duration::from_millis(80);

#[test]
fn a_bulk_flow_reports_its_bytes_time_and_goodput() {
    let mut world = client_router_server(1, LinkConfig::default());
    let flows = Flows::default();
    let server = BuiltIn::BulkReceive { port: 5000 };
    world
        .builtin("server", Duration::ZERO, server, &flows)
        .unwrap();
    let start = Duration::from_millis(500);
    let client = BuiltIn::BulkSend {
        to: "server:5000".to_string(),
        amount: Amount::Bytes(1_000_000),
    };
    world.builtin("client", start, client, &flows).unwrap();
    world.run().unwrap();
    let [flow] = flows.reports().try_into().unwrap();
    assert_eq!(flow.name(), "client -> server:5000");
    assert_eq!(flow.started, start);
    assert_eq!(flow.bytes, 1_000_000);
    assert_eq!(flow.error, None);
    assert_eq!(flow.peer, Some("10.0.1.2:5000".parse().unwrap()));
    // 1 MB at 10 Mbit/s is 0.8 s of sending, plus the handshake's and the FIN's round trips
    // and slow start from IW10: about 1.2 s.
    let took = flow.duration().unwrap();
    assert!(took > Duration::from_millis(800) + 2 * RTT, "{took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    let goodput = flow.goodput_bps();
    assert!((4e6..10e6).contains(&goodput), "{goodput}");
    let stats = flow.stats.unwrap();
    assert!(stats.bytes_sent >= 1_000_000, "{stats:?}");
    assert_eq!(flow.server_stats.unwrap().bytes_received, 1_000_000);
}

#[test]
fn a_bulk_flow_for_a_time_sends_until_then_and_closes() {
    let mut world = client_router_server(2, LinkConfig::default());
    let flows = Flows::default();
    let server = BuiltIn::BulkReceive { port: 5000 };
    world
        .builtin("server", Duration::ZERO, server, &flows)
        .unwrap();
    let client = BuiltIn::BulkSend {
        to: "10.0.1.2:5000".to_string(),
        amount: Amount::For(Duration::from_secs(3)),
    };
    world
        .builtin("client", Duration::ZERO, client, &flows)
        .unwrap();
    world.run().unwrap();
    let [flow] = flows.reports().try_into().unwrap();
    let ended = flow.ended.unwrap();
    // It stops writing at 3 s; what it wrote by then drains (at most its send buffer, which
    // grew with the congestion window, at 10 Mbit/s) and the FIN is acknowledged, a round
    // trip for the last data and one for the FIN.
    let send_buffer = flow.stats.unwrap().send_buffer_bytes;
    let drain = Duration::from_secs_f64(send_buffer as f64 * 8.0 / 10e6);
    assert!(ended > Duration::from_secs(3), "{ended:?}");
    assert!(
        ended < Duration::from_secs(3) + drain + 2 * RTT,
        "{ended:?} {send_buffer}"
    );
    // The receiver's autotuned buffer grows past the path's 100 KB bandwidth-delay product
    // (a fixed 64 KiB one would hold it to 6.5 Mbit/s, a window per 80 ms round trip): the
    // link's 10 Mbit/s limits it, less slow start and the close.
    let goodput = flow.goodput_bps();
    assert!((7.5e6..10e6).contains(&goodput), "{goodput}");
}

#[test]
fn requests_get_the_responses_they_ask_for_from_either_server() {
    for (server, response) in [
        (BuiltIn::Respond { port: 80 }, 20_000),
        (BuiltIn::Echo { port: 80 }, 300),
    ] {
        let mut world = client_router_server(3, LinkConfig::default());
        let flows = Flows::default();
        world
            .builtin("server", Duration::ZERO, server, &flows)
            .unwrap();
        let client = BuiltIn::Requests {
            to: "server:80".to_string(),
            count: 5,
            request: 300,
            response,
            interval: Duration::from_secs(1),
        };
        world
            .builtin("client", Duration::ZERO, client, &flows)
            .unwrap();
        world.run().unwrap();
        let [flow] = flows.reports().try_into().unwrap();
        assert_eq!(flow.error, None);
        assert_eq!(flow.requests, 5);
        assert_eq!(flow.bytes, 5 * (300 + u64::from(response)));
        // The server's side: it sent the responses.
        let server = flow.server_stats.unwrap();
        assert_eq!(server.bytes_sent, 5 * u64::from(response));
        // One a second from the connection: the last starts at 4 s and takes a round trip
        // or a few.
        let ended = flow.ended.unwrap();
        assert!(ended > Duration::from_secs(4) + RTT, "{ended:?}");
        assert!(ended < Duration::from_secs(5), "{ended:?}");
        let latency = flow.latency.unwrap();
        assert!(latency.min >= RTT, "{latency:?}");
        assert!(latency.min <= latency.mean && latency.mean <= latency.max);
        // Each request follows a second of idle, after which the server's window restarts
        // from the initial window (RFC 5681 section 4.1, as Linux): a 20 kB response takes
        // slow start's round trips again, 331 ms at most where a kept window took under 4.
        assert!(latency.max < 5 * RTT, "{latency:?}");
    }
}

#[test]
fn a_refused_client_records_why_and_the_run_goes_on() {
    let mut world = client_router_server(4, LinkConfig::default());
    let flows = Flows::default();
    let client = BuiltIn::BulkSend {
        to: "server:5000".to_string(),
        amount: Amount::Bytes(1000),
    };
    world
        .builtin("client", Duration::ZERO, client, &flows)
        .unwrap();
    world.run().unwrap();
    let [flow] = flows.reports().try_into().unwrap();
    assert_eq!(flow.ended, None);
    let error = flow.error.unwrap();
    assert!(error.contains("refused"), "{error}");
}

#[test]
fn a_request_shorter_than_its_header_is_refused() {
    let mut world = client_router_server(5, LinkConfig::default());
    let client = BuiltIn::Requests {
        to: "server:80".to_string(),
        count: 1,
        request: 7,
        response: 10,
        interval: Duration::ZERO,
    };
    let error = world
        .builtin("client", Duration::ZERO, client, &Flows::default())
        .unwrap_err();
    assert!(matches!(error, ConfigError::BadProgram { .. }), "{error}");
    assert!(
        error.to_string().contains("at least its 8-byte header"),
        "{error}"
    );
}
