//! An uppercase echo service and its client, written once against `super::rt`: the runtime
//! this module is compiled for. `main.rs` compiles it twice, for `ferry::tokio` on real
//! sockets and for the simulated world (`ferry::sim::world`); `tests/world.rs` runs the
//! world's. Nothing here knows which: only `rt` changes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::rt::{sleep, spawn, timeout, Instant, Listener, Stream};

/// Serve every connection of `listener` in a task of its own: each line comes back in
/// capitals.
pub async fn serve(listener: Listener) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Some(line) = lines.next_line().await? {
                write.write_all(line.to_uppercase().as_bytes()).await?;
                write.write_all(b"\n").await?;
            }
            // Dropping the write half sends our FIN after the last reply.
            Ok::<_, io::Error>(())
        });
    }
}

/// Send `lines` to the server at `server`, a little apart, and return the replies and how
/// long the whole exchange took. Gives up on a server that does not answer within 30 s.
pub async fn ask(server: SocketAddr, lines: &[&str]) -> io::Result<(Vec<String>, Duration)> {
    let started = Instant::now();
    let stream = timeout(Duration::from_secs(30), Stream::connect(server)).await??;
    let (read, mut write) = stream.into_split();
    for line in lines {
        write.write_all(line.as_bytes()).await?;
        write.write_all(b"\n").await?;
        sleep(Duration::from_millis(5)).await;
    }
    write.shutdown().await?;
    let mut replies = Vec::new();
    let mut reader = BufReader::new(read).lines();
    while let Some(reply) = reader.next_line().await? {
        replies.push(reply);
    }
    Ok((replies, started.elapsed()))
}
