//! A small multi-user chat room over Ferry: every line a member types goes to everyone.
//!
//! ```sh
//! cargo run --example chat -- server 127.0.0.1:4747
//! cargo run --example chat -- join 127.0.0.1:4747 alice
//! cargo run --example chat -- join 127.0.0.1:4747 bob
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

use ferry::{Listener, Stream};

/// Every member's stream, to write lines to.
type Members = Arc<Mutex<Vec<(SocketAddr, Stream)>>>;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, address] if mode == "server" => serve(address),
        [mode, address, name] if mode == "join" => join(address, name),
        _ => {
            eprintln!("usage: chat server ADDRESS | chat join ADDRESS NAME");
            std::process::exit(2);
        }
    }
}

fn serve(address: &str) -> io::Result<()> {
    let listener = Listener::bind(address)?;
    eprintln!("chat: room open on {}", listener.local_addr()?);
    let members: Members = Arc::default();
    for stream in listener.incoming() {
        let stream = stream?;
        let peer = stream.peer_addr()?;
        members.lock().unwrap().push((peer, stream.try_clone()?));
        let members = Arc::clone(&members);
        thread::spawn(move || {
            let mut lines = BufReader::new(stream).lines();
            let name = match lines.next() {
                Some(Ok(name)) => name,
                _ => return,
            };
            broadcast(&members, &format!("* {name} joined"));
            for line in lines.map_while(Result::ok) {
                broadcast(&members, &format!("{name}: {line}"));
            }
            members
                .lock()
                .unwrap()
                .retain(|(address, _)| *address != peer);
            broadcast(&members, &format!("* {name} left"));
        });
    }
    Ok(())
}

/// Send `line` to every member, forgetting those whose connection failed.
fn broadcast(members: &Members, line: &str) {
    println!("{line}");
    members
        .lock()
        .unwrap()
        .retain_mut(|(_, stream)| writeln!(stream, "{line}").is_ok());
}

fn join(address: &str, name: &str) -> io::Result<()> {
    let mut stream = Stream::connect(address)?;
    writeln!(stream, "{name}")?;
    let incoming = stream.try_clone()?;
    thread::spawn(move || {
        for line in BufReader::new(incoming).lines().map_while(Result::ok) {
            println!("{line}");
        }
        eprintln!("chat: the room closed");
        std::process::exit(0);
    });
    for line in io::stdin().lock().lines() {
        writeln!(stream, "{}", line?)?;
    }
    // Every line typed reaches the room before we go (the reading thread holds a clone, so
    // this shuts our side and waits for the acknowledgment; the room then says we left).
    stream.close()
}
