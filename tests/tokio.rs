//! `ferry::tokio`: Stream and Listener on a tokio runtime, over real loopback sockets.
//!
//! No case asserts on wall time: each is wrapped in [`guarded`], a generous timeout that only
//! a hang reaches.
#![cfg(feature = "tokio")]

mod common;
mod onpath;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tshark_present;
use ferry::sim::payload;
use ferry::tokio::{Listener, Stream};
use ferry::wire::{Flags, Options, SackBlocks, Segment, SeqNum};
use ferry::SocketConfig;
use onpath::{assert_reset, assert_reset_or_broken_pipe, Relay};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// Only a hang takes this long.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Run `test` on a multi-threaded runtime, failing if it hangs.
fn guarded<F: Future<Output = ()>>(test: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(HANG_GUARD, test)
            .await
            .expect("the test hung");
    });
}

/// A listener on a free loopback port.
async fn listener() -> (Listener, SocketAddr) {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

/// Accept one connection and echo it until the peer's FIN, then close.
async fn echo_once(listener: Listener) -> io::Result<u64> {
    let (stream, _) = listener.accept().await?;
    echo(stream).await
}

async fn echo(mut stream: Stream) -> io::Result<u64> {
    let (mut reader, mut writer) = stream.split();
    let echoed = tokio::io::copy(&mut reader, &mut writer).await?;
    stream.close().await?;
    Ok(echoed)
}

#[test]
fn echo_round_trip() {
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(echo_once(listener));
        let mut client = Stream::connect(address).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), address);
        for round in 0..100u32 {
            let message = format!("message {round:>4}");
            client.write_all(message.as_bytes()).await.unwrap();
            let mut reply = vec![0u8; message.len()];
            client.read_exact(&mut reply).await.unwrap();
            assert_eq!(reply, message.as_bytes());
        }
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert_eq!(server.await.unwrap().unwrap(), 100 * 12);
        client.close().await.unwrap();
    });
}

#[test]
fn ttl_is_set_and_read_back_as_on_tokios_tcp_stream() {
    guarded(async {
        let (listener, address) = listener().await;
        listener.set_ttl(33).unwrap();
        assert_eq!(listener.ttl().unwrap(), 33);
        let server = tokio::spawn(echo_once(listener));
        let mut client = Stream::connect(address).await.unwrap();
        let tcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(tcp_listener.local_addr().unwrap())
            .await
            .unwrap();
        for ttl in [17, 1, 255] {
            client.set_ttl(ttl).unwrap();
            tcp.set_ttl(ttl).unwrap();
            assert_eq!(client.ttl().unwrap(), tcp.ttl().unwrap());
        }
        assert_eq!(client.set_ttl(0).is_err(), tcp.set_ttl(0).is_err());
        tcp_listener.set_ttl(33).unwrap();
        assert_eq!(tcp_listener.ttl().unwrap(), 33);
        // Still a working connection, its datagrams carrying the last TTL set.
        client.write_all(b"after").await.unwrap();
        let mut reply = [0u8; 5];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"after");
        client.shutdown().await.unwrap();
        assert_eq!(server.await.unwrap().unwrap(), 5);
        client.close().await.unwrap();
    });
}

/// A mebibyte through `writable` / `try_write` and `readable` / `try_read` loops, the way
/// tokio's docs drive a `TcpStream`; `peek` sees bytes a read then takes; an empty receive
/// side is `WouldBlock` for `try_read`, and the end of the stream `Ok(0)`, as on tokio's TCP.
#[test]
fn readiness_try_read_try_write_and_peek_behave_as_on_tokios_tcp_stream() {
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(echo_once(listener));
        let client = Stream::connect(address).await.unwrap();
        let tcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(tcp_listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_tcp_peer, _) = tcp_listener.accept().await.unwrap();
        // Nothing sent yet: both say WouldBlock.
        let mut buf = [0u8; 64];
        assert_eq!(
            client.try_read(&mut buf).unwrap_err().kind(),
            tcp.try_read(&mut buf).unwrap_err().kind()
        );

        let data = payload(1 << 20, 3);
        let (mut written, mut echoed) = (0, Vec::new());
        let mut peeked_once = false;
        while echoed.len() < data.len() {
            if written < data.len() {
                client.writable().await.unwrap();
                match client.try_write(&data[written..]) {
                    Ok(count) => written += count,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => panic!("try_write: {error}"),
                }
            }
            // Read what is there; wait for more only when nothing is left to write.
            let ready = if written < data.len() {
                tokio::time::timeout(Duration::from_millis(1), client.readable())
                    .await
                    .is_ok()
            } else {
                client.readable().await.unwrap();
                true
            };
            if !ready {
                continue;
            }
            if !peeked_once {
                let mut peeked = [0u8; 100];
                let count = client.peek(&mut peeked).await.unwrap();
                assert!(count > 0);
                let mut read = vec![0u8; count];
                assert_eq!(client.try_read(&mut read).unwrap(), count);
                assert_eq!(read, peeked[..count]);
                echoed.extend_from_slice(&read);
                peeked_once = true;
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            match client.try_read(&mut chunk) {
                Ok(count) => echoed.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => panic!("try_read: {error}"),
            }
        }
        assert!(echoed == data);
        // After our FIN and the echo's, the end of the stream is Ok(0) and ready.
        let mut client = client;
        client.shutdown().await.unwrap();
        assert_eq!(server.await.unwrap().unwrap(), data.len() as u64);
        client.readable().await.unwrap();
        assert_eq!(client.try_read(&mut buf).unwrap(), 0);
        assert_eq!(client.peek(&mut buf).await.unwrap(), 0);
        // Writing after the shutdown fails at once, as tokio's does after shutdown.
        client.writable().await.unwrap();
        assert_eq!(
            client.try_write(b"late").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        client.close().await.unwrap();
    });
}

#[test]
fn a_mebibyte_each_way_arrives_intact() {
    guarded(async {
        const SIZE: usize = 1 << 20;
        let (listener, address) = listener().await;
        let server = tokio::spawn(echo_once(listener));
        let client = Stream::connect(address).await.unwrap();
        let (mut reader, mut writer) = client.into_split();
        let sent = payload(SIZE, 11);
        let writing = {
            let sent = sent.clone();
            tokio::spawn(async move {
                writer.write_all(&sent).await.unwrap();
                writer.shutdown().await.unwrap();
                writer
            })
        };
        let mut received = Vec::with_capacity(SIZE);
        reader.read_to_end(&mut received).await.unwrap();
        assert_eq!(received.len(), SIZE);
        assert!(received == sent, "the echo differs from what was sent");
        let writer = writing.await.unwrap();
        assert_eq!(server.await.unwrap().unwrap(), SIZE as u64);
        reader.reunite(writer).unwrap().close().await.unwrap();
    });
}

#[test]
fn many_concurrent_connections_share_one_listener() {
    guarded(async {
        const CLIENTS: usize = 50;
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..CLIENTS {
                let (stream, _) = listener.accept().await.unwrap();
                echoes.push(tokio::spawn(echo(stream)));
            }
            for echo in echoes {
                echo.await.unwrap().unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                tokio::spawn(async move {
                    let mut stream = Stream::connect(address).await.unwrap();
                    let message = payload(10_000 + client, client as u64);
                    let (mut reader, mut writer) = stream.split();
                    let mut reply = Vec::new();
                    let (written, read) = tokio::join!(
                        async {
                            writer.write_all(&message).await?;
                            writer.shutdown().await
                        },
                        reader.read_to_end(&mut reply)
                    );
                    written.unwrap();
                    read.unwrap();
                    assert!(reply == message, "client {client}: the echo differs");
                    stream.close().await.unwrap();
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        server.await.unwrap();
    });
}

#[test]
fn shutdown_is_a_half_close() {
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = String::new();
            // Ends at the client's FIN.
            stream.read_to_string(&mut request).await.unwrap();
            // The server may still write after the client's shutdown.
            stream
                .write_all(request.to_uppercase().as_bytes())
                .await
                .unwrap();
            stream.close().await.unwrap();
        });
        let mut client = Stream::connect(address).await.unwrap();
        client.write_all(b"half closed").await.unwrap();
        client.shutdown().await.unwrap();
        let error = client.write_all(b"more").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "HALF CLOSED");
        // End of stream stays end of stream.
        assert_eq!(client.read(&mut [0u8; 8]).await.unwrap(), 0);
        server.await.unwrap();
    });
}

#[test]
fn connecting_to_nothing_fails() {
    guarded(async {
        // A port nothing listens on: bind a UDP socket to learn a free one, then free it.
        let address = {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap()
        };
        let error = Stream::connect(address).await.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
            ),
            "{error:?}"
        );
    });
}

#[test]
fn a_dropped_stream_delivers_its_data_then_eof() {
    guarded(async {
        const SIZE: usize = 300_000;
        let (listener, address) = listener().await;
        let sent = payload(SIZE, 5);
        let client = {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut stream = Stream::connect(address).await.unwrap();
                stream.write_all(&sent).await.unwrap();
                // Dropped with data still in flight: the driver task finishes the close.
            })
        };
        let (mut stream, _) = listener.accept().await.unwrap();
        client.await.unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        assert!(received == sent, "{} of {SIZE} bytes", received.len());
    });
}

#[test]
fn dropping_the_owned_write_half_sends_a_fin() {
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            stream.read_to_end(&mut request).await.unwrap();
            stream.write_all(&request).await.unwrap();
            stream.close().await.unwrap();
        });
        let (mut reader, mut writer) = Stream::connect(address).await.unwrap().into_split();
        writer.write_all(b"bye").await.unwrap();
        drop(writer);
        let mut reply = Vec::new();
        reader.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"bye");
        server.await.unwrap();
    });
}

#[test]
fn reunite_refuses_halves_of_two_streams() {
    guarded(async {
        let (listener, address) = listener().await;
        let accepting = tokio::spawn(async move {
            let first = listener.accept().await.unwrap();
            let second = listener.accept().await.unwrap();
            (first, second)
        });
        let (read_a, write_a) = Stream::connect(address).await.unwrap().into_split();
        let (read_b, write_b) = Stream::connect(address).await.unwrap().into_split();
        let error = read_a.reunite(write_b).unwrap_err();
        let (read_a, write_b) = (error.0, error.1);
        read_a.reunite(write_a).unwrap();
        read_b.reunite(write_b).unwrap();
        drop(accepting.await.unwrap());
    });
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    guarded(async {
        let (listener, address) = listener().await;
        let mut client = Stream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"never read").await.unwrap();
        // Wait until the server has the bytes, without reading them.
        while server.stats().bytes_received == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(server);
        // The client learns that the peer is gone: a write or a read fails with a reset.
        let failure = async {
            loop {
                if let Err(error) = client.write_all(&[0u8; 1024]).await {
                    return error;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let error = failure.await;
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    });
}

#[test]
fn a_close_that_cannot_finish_within_the_linger_is_reset() {
    guarded(async {
        let (listener, address) = listener().await;
        let mut client = Stream::connect(address).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.set_linger(Some(Duration::from_millis(200))).unwrap();
        // The server does not read: the client fills the server's window and its own send
        // buffer, and its write waits.
        let big = payload(4 << 20, 9);
        let filled = tokio::time::timeout(Duration::from_secs(1), client.write_all(&big)).await;
        assert!(filled.is_err(), "4 MiB fit in the buffers");
        // Dropped with data the peer cannot take: the linger runs out, the close is reset.
        drop(client);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut buffer = vec![0u8; 1 << 16];
        let error = loop {
            match server.read(&mut buffer).await {
                Ok(0) => panic!("end of stream: the close was not reset"),
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    });
}

#[test]
fn close_reports_a_linger_that_ran_out() {
    guarded(async {
        let (listener, address) = listener().await;
        let mut client = Stream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.set_linger(Some(Duration::from_millis(200))).unwrap();
        let big = payload(4 << 20, 9);
        let filled = tokio::time::timeout(Duration::from_secs(1), client.write_all(&big)).await;
        assert!(filled.is_err(), "4 MiB fit in the buffers");
        let error = client.close().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error:?}");
        drop(server);
    });
}

/// The listener's socket puts loss and bit flips on everything it sends and receives, as
/// `ferry::Listener`'s would (the same fault links): the data still arrives intact, and the
/// stream's `fault_stats` say what the injector did.
#[test]
fn a_transfer_through_loss_and_bit_flips_arrives_intact_and_the_drops_are_counted() {
    guarded(async {
        const SIZE: usize = 1 << 20;
        let config = SocketConfig::with_faults("loss=5%,flip=1e-5,seed=3".parse().unwrap());
        let listener = Listener::bind_with("127.0.0.1:0", &config).await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            let mut received = Vec::with_capacity(SIZE);
            stream.read_to_end(&mut received).await?;
            stream.write_all(&received).await?;
            let (faults, stats) = (stream.fault_stats(), stream.stats());
            stream.close().await?;
            Ok::<_, io::Error>((received, faults, stats))
        });
        let client = Stream::connect(address).await.unwrap();
        assert_eq!(
            client.fault_stats(),
            None,
            "the client's socket has no faults"
        );
        let (mut reader, mut writer) = client.into_split();
        let sent = payload(SIZE, 5);
        let writing = {
            let sent = sent.clone();
            tokio::spawn(async move {
                writer.write_all(&sent).await.unwrap();
                writer.shutdown().await.unwrap();
                writer
            })
        };
        let mut echoed = Vec::with_capacity(SIZE);
        reader.read_to_end(&mut echoed).await.unwrap();
        let writer = writing.await.unwrap();
        let (received, faults, stats) = server.await.unwrap().unwrap();
        assert!(received == sent, "the server got wrong bytes");
        assert!(echoed == sent, "the client got wrong bytes");
        let (outgoing, incoming) = faults.expect("the listener's socket has faults");
        assert!(
            outgoing.dropped_loss > 0 && incoming.dropped_loss > 0,
            "losses both ways: {outgoing:?} {incoming:?}"
        );
        assert!(
            outgoing.corrupted + incoming.corrupted > 0,
            "bits flipped: {outgoing:?} {incoming:?}"
        );
        assert!(
            stats.retransmissions.total() > 0 && stats.discarded_corrupt > 0,
            "the connection repaired the losses and dropped the corrupt: {stats:?}"
        );
        reader.reunite(writer).unwrap().close().await.unwrap();
    });
}

/// A tokio client's capture holds both directions, each datagram sent with why, and (where
/// tshark is installed) dissects cleanly with captures/ferry.lua, as the std driver's does.
#[test]
fn a_capture_records_both_directions_and_dissects() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tokio-capture.pcapng");
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(echo_once(listener));
        let config = SocketConfig {
            capture: Some(path.clone()),
            ..SocketConfig::default()
        };
        let mut client = Stream::connect_with(address, &config).await.unwrap();
        let sent = payload(50_000, 6);
        client.write_all(&sent).await.unwrap();
        client.shutdown().await.unwrap();
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).await.unwrap();
        assert!(echoed == sent, "the echo differs from what was sent");
        assert_eq!(server.await.unwrap().unwrap(), 50_000);
        client.close().await.unwrap();
    });

    let (mut sent, mut received, mut reasons) = (0, 0, Vec::new());
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcapng::PcapNgReader::new(file).unwrap();
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(packet) = block.unwrap() {
            let comments: Vec<String> = packet
                .options
                .iter()
                .filter_map(|option| match option {
                    EnhancedPacketOption::Comment(text) => Some(text.to_string()),
                    _ => None,
                })
                .collect();
            if comments.is_empty() {
                received += 1;
            } else {
                sent += 1;
                reasons.extend(comments);
            }
        }
    }
    // 50,000 bytes each way: at least 42 full segments sent, and as many received.
    assert!(
        sent >= 42 && received >= 42,
        "sent {sent}, received {received}"
    );
    assert!(reasons.iter().any(|reason| reason == "handshake"));
    assert!(reasons.iter().any(|reason| reason == "new data"));

    if !tshark_present("a_capture_records_both_directions_and_dissects") {
        return;
    }
    let dissector = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/ferry.lua");
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(&path)
        .args(["-X", &format!("lua_script:{dissector}")])
        .args(["-T", "fields", "-E", "separator=/t"])
        .args(["-e", "ferry.magic", "-e", "ferry.crc.status"])
        .args(["-e", "_ws.malformed", "-e", "_ws.expert.severity"])
        .output()
        .expect("tshark runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    assert!(
        !stderr.to_lowercase().contains("lua"),
        "the dissector reported an error: {stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), sent + received, "one row per datagram");
    for row in &rows {
        assert!(
            !row[0].is_empty(),
            "every datagram dissects as Ferry: {row:?}"
        );
        assert_eq!(row[1], "1", "every CRC is good: {row:?}");
        assert!(
            row.get(2).is_none_or(|malformed| malformed.is_empty()),
            "{row:?}"
        );
        // Wireshark's expert severity "Error" (PI_ERROR): none, with no faults.
        assert!(
            row.get(3)
                .is_none_or(|severity| !severity.contains("8388608")),
            "{row:?}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// A tokio client's connection trace reaches its sink, as the std driver's does: the
/// segments it sent and received, each once.
#[test]
fn a_trace_sink_gets_the_connections_events() {
    use ferry::conn::TraceEvent;
    use std::sync::{Arc, Mutex};
    let counts = Arc::new(Mutex::new((0u64, 0u64)));
    let sink = {
        let counts = Arc::clone(&counts);
        ferry::net::TraceSink::new(move |events| {
            let mut counts = counts.lock().unwrap();
            for (_, traced) in events {
                match traced.event {
                    TraceEvent::Sent { .. } => counts.0 += 1,
                    TraceEvent::Received { .. } => counts.1 += 1,
                    _ => {}
                }
            }
        })
    };
    guarded(async {
        let (listener, address) = listener().await;
        let server = tokio::spawn(echo_once(listener));
        let config = SocketConfig {
            trace: Some(sink),
            ..SocketConfig::default()
        };
        let mut client = Stream::connect_with(address, &config).await.unwrap();
        client.write_all(&payload(20_000, 9)).await.unwrap();
        client.shutdown().await.unwrap();
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).await.unwrap();
        assert_eq!(echoed.len(), 20_000);
        assert_eq!(server.await.unwrap().unwrap(), 20_000);
        client.close().await.unwrap();
        let (sent, received) = *counts.lock().unwrap();
        // 20,000 bytes each way: at least 14 data segments, and the handshake and FINs.
        assert!(
            sent >= 14 && received >= 14,
            "sent {sent}, received {received}"
        );
    });
}

/// Connection settings that cannot work are refused with the setting named, not clamped into
/// something that runs.
#[test]
fn connection_settings_that_cannot_work_are_refused() {
    guarded(async {
        let config = SocketConfig {
            connection: ferry::Config {
                recv_buffer: ferry::RecvBuffer::Fixed(0),
                ..ferry::Config::default()
            },
            ..SocketConfig::default()
        };
        let error = Listener::bind_with("127.0.0.1:0", &config)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("recv_buffer"), "{error}");
        let error = Stream::connect_with("127.0.0.1:9", &config)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn the_listener_counts_connections_on_one_driver() {
    guarded(async {
        let (listener, address) = listener().await;
        let clients: Vec<Stream> = {
            let mut clients = Vec::new();
            for _ in 0..10 {
                clients.push(Stream::connect(address).await.unwrap());
            }
            clients
        };
        let mut accepted = Vec::new();
        for _ in 0..10 {
            let (stream, peer) = listener.accept().await.unwrap();
            assert_eq!(stream.local_addr().unwrap(), address);
            accepted.push((stream, peer));
        }
        let mut peers: Vec<SocketAddr> = accepted.iter().map(|(_, peer)| *peer).collect();
        peers.sort();
        let mut locals: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        locals.sort();
        assert_eq!(
            peers.iter().map(SocketAddr::port).collect::<Vec<_>>(),
            locals.iter().map(SocketAddr::port).collect::<Vec<_>>()
        );
    });
}

// -------------------------------------------------------------------------------------------
// The runtime ends first: a child process writes, drops the stream, and returns from main.

/// The environment variable that makes [`child`] play its role.
const ROLE: &str = "FERRY_TOKIO_CHILD";

/// Not a test on its own: in a child process started by the tests below, connect to the
/// address in `FERRY_TOKIO_CHILD`, write the payload it names, and return, letting the
/// runtime shut down with the close under way.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let [address, size, flavor]: [&str; 3] = role
        .split(' ')
        .collect::<Vec<_>>()
        .try_into()
        .expect("address, size and flavor");
    let address: SocketAddr = address.parse().unwrap();
    let size: usize = size.parse().unwrap();
    let runtime = match flavor {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .unwrap();
    runtime.block_on(async {
        let mut stream = Stream::connect(address).await.unwrap();
        stream.write_all(&payload(size, 3)).await.unwrap();
    });
    // The runtime is dropped here, its tasks with it; the exit waits for the close.
}

/// Receive what a child writes before returning from its main.
fn receive_from_child(size: usize, flavor: &str) {
    guarded(async move {
        let (listener, address) = listener().await;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--quiet", "--test-threads=1"])
            .env(ROLE, format!("{address} {size} {flavor}"))
            // The child's own test report would read as this run's.
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "the child failed: {status}");
        assert_eq!(received.len(), size);
        assert!(received == payload(size, 3), "the bytes differ");
    });
}

#[test]
fn returning_from_main_delivers_everything_multi_thread() {
    receive_from_child(1 << 20, "multi");
}

#[test]
fn returning_from_main_delivers_everything_current_thread() {
    receive_from_child(1 << 20, "current");
}

// -------------------------------------------------------------------------------------------
// A close reports success only for what the peer acknowledged (as `tests/net.rs`)

#[test]
fn a_close_after_late_data_the_peer_reset_is_an_error() {
    // The server reads 10 KB and closes; we see end of stream, write 100 KB more and close:
    // half the runs with `close().await`, half with `shutdown().await`.
    guarded(async {
        for run in 0..10 {
            let (listener, address) = listener().await;
            let server = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.read_exact(&mut vec![0u8; 10_000]).await.unwrap();
                stream.close().await.unwrap();
            });
            let mut client = Stream::connect(address).await.unwrap();
            client.write_all(&payload(10_000, run)).await.unwrap();
            assert_eq!(
                client.read(&mut [0u8; 16]).await.unwrap(),
                0,
                "end of stream"
            );
            server.await.unwrap();
            // The write may already fail: the RST can come before it ends.
            let _ = client.write_all(&payload(100_000, run)).await;
            let closed = if run % 2 == 0 {
                client.close().await
            } else {
                client.shutdown().await
            };
            assert_reset_or_broken_pipe(closed, &format!("run {run}"));
        }
    });
}

/// A server task that reads `first` bytes and says so (`read_done`), then waits for `go` to
/// close its stream without waiting for anything: with a RST if `abort`, else with a FIN
/// (data arriving after that is answered with a RST); then says so (`closed`). Its listener
/// goes on (its socket answering strays) until the task's result is dropped.
struct ClosingServer {
    read_done: oneshot::Receiver<()>,
    go: oneshot::Sender<()>,
    closed: oneshot::Receiver<()>,
    task: tokio::task::JoinHandle<Listener>,
}

impl ClosingServer {
    fn start(listener: Listener, first: usize, abort: bool) -> ClosingServer {
        let (read_done, read_done_rx) = oneshot::channel();
        let (go, go_rx) = oneshot::channel::<()>();
        let (closed, closed_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.read_exact(&mut vec![0u8; first]).await.unwrap();
            read_done.send(()).unwrap();
            let _ = go_rx.await;
            let linger = if abort { Some(Duration::ZERO) } else { None };
            stream.set_linger(linger).unwrap();
            let _ = stream.close().await;
            closed.send(()).unwrap();
            listener
        });
        ClosingServer {
            read_done: read_done_rx,
            go,
            closed: closed_rx,
            task,
        }
    }
}

#[test]
fn a_close_in_last_ack_that_the_peer_resets_is_connection_reset() {
    // The relay holds the server's RST for our late data until our FIN has passed.
    guarded(async {
        let (listener, address) = listener().await;
        let relay = Relay::start(
            address,
            onpath::hold_server_from_until_client_fin(Flags::RST),
        );
        let server = ClosingServer::start(listener, 10_000, false);
        let mut client = Stream::connect(relay.address()).await.unwrap();
        client.write_all(&payload(10_000, 1)).await.unwrap();
        server.read_done.await.unwrap();
        server.go.send(()).unwrap();
        server.closed.await.unwrap();
        assert_eq!(
            client.read(&mut [0u8; 16]).await.unwrap(),
            0,
            "end of stream"
        );
        client.write_all(&payload(1_000, 2)).await.unwrap();
        assert_reset(client.close().await, "RST in LAST-ACK");
        drop(server.task.await.unwrap());
    });
}

#[test]
fn a_close_in_closing_that_the_peer_resets_is_connection_reset() {
    // The relay holds the server's FIN, and the RST for our late data, until our FIN has
    // passed: the FINs cross (CLOSING), then the RST comes.
    guarded(async {
        let (listener, address) = listener().await;
        let relay = Relay::start(
            address,
            onpath::hold_server_from_until_client_fin(Flags::FIN),
        );
        let server = ClosingServer::start(listener, 10_000, false);
        let mut client = Stream::connect(relay.address()).await.unwrap();
        client.write_all(&payload(10_000, 3)).await.unwrap();
        server.read_done.await.unwrap();
        // Closed before our late data arrives, so that data draws a RST, not an ACK.
        server.go.send(()).unwrap();
        server.closed.await.unwrap();
        client.write_all(&payload(1_000, 4)).await.unwrap();
        assert_reset(client.shutdown().await, "RST in CLOSING");
        drop(server.task.await.unwrap());
    });
}

#[test]
fn a_close_after_a_forged_fin_is_connection_reset() {
    // A FIN forged at our RCV.NXT once 10 KB are acknowledged; the server, which never
    // closed, then gives up (an abort) and its endpoint answers our segments as strays, with
    // a RST at exactly our RCV.NXT.
    guarded(async {
        let (listener, address) = listener().await;
        let relay = Relay::start(address, onpath::forge_fin_once_acknowledged(10_000));
        let server = ClosingServer::start(listener, 10_000, true);
        let mut client = Stream::connect(relay.address()).await.unwrap();
        client.write_all(&payload(10_000, 5)).await.unwrap();
        server.read_done.await.unwrap();
        assert_eq!(
            client.read(&mut [0u8; 16]).await.unwrap(),
            0,
            "the forged end of stream"
        );
        client.write_all(&payload(100_000, 6)).await.unwrap();
        // The first poll of the close queues our FIN (LAST-ACK), before the server gives up.
        let mut closing = std::pin::pin!(client.close());
        let pending = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(closing.as_mut().poll(cx).is_pending())
        })
        .await;
        assert!(pending, "the close waits for an acknowledgment");
        server.go.send(()).unwrap();
        server.closed.await.unwrap();
        assert_reset(closing.await, "a forged FIN, then the server's RST");
        drop(server.task.await.unwrap());
    });
}

// -------------------------------------------------------------------------------------------
// A dead peer's port: the ICMP error the listener's socket hears

/// A segment from the hand-made client below, encoded.
fn client_segment(flags: Flags, seq: SeqNum, ack: SeqNum, payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::new();
    Segment {
        flags,
        seq,
        ack,
        window: 65_535,
        sack: SackBlocks::new(),
        options: Options::none(),
        payload,
    }
    .emit(&mut datagram);
    datagram
}

#[test]
fn a_client_whose_port_closed_resets_the_listeners_connection() {
    // A client made by hand on a plain UDP socket: it connects, says hello and goes, its port
    // closed as a killed process's would be. The listener's next segment to it meets an ICMP
    // port unreachable quoting that segment, which the listener's socket (not connected)
    // hears through its error queue: a sequence number in flight, so the connection is reset
    // (the retransmissions alone would take minutes).
    guarded(async {
        let (listener, address) = listener().await;
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(address).await.unwrap();
        let isn = SeqNum(7_000);
        client
            .send(&client_segment(Flags::SYN, isn, SeqNum(0), &[]))
            .await
            .unwrap();
        let mut buffer = [0u8; 1_500];
        let len = client.recv(&mut buffer).await.unwrap();
        let syn_ack = Segment::parse(&buffer[..len]).unwrap();
        assert_eq!(syn_ack.flags, Flags::SYN | Flags::ACK);
        client
            .send(&client_segment(
                Flags::ACK,
                isn + 1,
                syn_ack.seq + 1,
                b"hello",
            ))
            .await
            .unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
        drop(client);
        let error = loop {
            if let Err(error) = stream.write_all(&[7u8; 16 * 1024]).await {
                break error;
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    });
}

#[test]
fn a_secure_stream_echoes_and_knows_the_servers_key() {
    // The secure mode (docs/protocol.md section 9) on tokio's driver: tests/secure.rs has
    // the blocking one's.
    use ferry::secure::SecureConfig;
    let secure = |secure| SocketConfig {
        secure: Some(secure),
        ..SocketConfig::default()
    };
    guarded(async move {
        let identity = ferry::net::new_identity();
        let key = identity.public_key();
        let listener = Listener::bind_with("127.0.0.1:0", &secure(SecureConfig::server(identity)))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // A stray's junk reaches the listener's socket: its endpoint counts it, and the
            // accepted stream says so, as the blocking one's endpoint_stats does.
            let stray = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            stray.send_to(b"junk", address).unwrap();
            for _ in 0..500 {
                if stream.endpoint_stats().discarded_malformed > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(stream.endpoint_stats().discarded_malformed, 1);
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            stream.write_all(&received).await.unwrap();
            stream.shutdown().await.unwrap();
        });
        let mut stream = Stream::connect_with(address, &secure(SecureConfig::client(None)))
            .await
            .unwrap();
        assert_eq!(stream.peer_key(), Some(key));
        let data = payload(100_000, 6);
        stream.write_all(&data).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).await.unwrap();
        assert!(echoed == data, "the echo differs");
        server.await.unwrap();
    });
}

#[test]
fn a_0rtt_request_rides_in_the_syn_is_refused_when_asked_and_a_wrong_key_fails_at_once() {
    // 0-RTT on tokio's driver (tests/secure.rs has the blocking one's): the request rides
    // encrypted in the SYN to a server whose key the client pins; a server that refuses
    // 0-RTT gets it after the handshake; a server with another key fails the client at once.
    use ferry::conn::ConnectionError;
    use ferry::secure::{PublicKey, SecureConfig};
    const REQUEST: &[u8] = b"GET /index.html, safe to replay";
    let secure = |secure| SocketConfig {
        secure: Some(secure),
        ..SocketConfig::default()
    };
    /// A listener answering one request reversed, and the accepted stream's endpoint's
    /// early-data counts (accepted, refused).
    async fn answering(config: SocketConfig) -> (SocketAddr, tokio::task::JoinHandle<(u64, u64)>) {
        let listener = Listener::bind_with("127.0.0.1:0", &config).await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0; REQUEST.len()];
            stream.read_exact(&mut request).await.unwrap();
            request.reverse();
            stream.write_all(&request).await.unwrap();
            stream.shutdown().await.unwrap();
            let stats = stream.endpoint_stats();
            (stats.early_data_accepted, stats.early_data_refused)
        });
        (address, server)
    }
    async fn exchange(
        address: SocketAddr,
        key: PublicKey,
        config: SocketConfig,
    ) -> io::Result<Vec<u8>> {
        let config = SocketConfig {
            secure: Some(SecureConfig::client(Some(key))),
            ..config
        };
        let (mut stream, taken) =
            Stream::connect_with_early_data(address, &config, REQUEST).await?;
        assert_eq!(taken, REQUEST.len());
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok(answer)
    }
    let reversed: Vec<u8> = REQUEST.iter().rev().copied().collect();
    guarded(async move {
        let identity = ferry::net::new_identity();
        let key = identity.public_key();
        let (address, server) = answering(secure(SecureConfig::server(identity.clone()))).await;
        let answer = exchange(address, key, SocketConfig::default())
            .await
            .unwrap();
        assert_eq!(answer, reversed);
        assert_eq!(server.await.unwrap(), (1, 0));

        let mut refusing = SecureConfig::server(identity);
        refusing.refuse_early_data = true;
        let (address, server) = answering(secure(refusing)).await;
        let answer = exchange(address, key, SocketConfig::default())
            .await
            .unwrap();
        assert_eq!(answer, reversed);
        assert_eq!(server.await.unwrap(), (0, 1));

        // A live listener whose key is not the one pinned.
        let listener = Listener::bind_with(
            "127.0.0.1:0",
            &secure(SecureConfig::server(ferry::net::new_identity())),
        )
        .await
        .unwrap();
        let address = listener.local_addr().unwrap();
        let error = exchange(address, key, SocketConfig::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            error.get_ref().and_then(|inner| inner.downcast_ref()),
            Some(&ConnectionError::ServerKeyMismatch)
        );
    });
}
