//! An echo server and client over Ferry, like the classic TCP one.
//!
//! ```sh
//! cargo run --example echo -- server 127.0.0.1:4747
//! cargo run --example echo -- client 127.0.0.1:4747 "hello, ferry"
//! ```

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::thread;

use ferry::{Listener, Stream};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, address] if mode == "server" => serve(address),
        [mode, address, message] if mode == "client" => {
            println!("{}", ask(address, message)?);
            Ok(())
        }
        _ => {
            eprintln!("usage: echo server ADDRESS | echo client ADDRESS MESSAGE");
            std::process::exit(2);
        }
    }
}

/// Echo every connection back to itself, each on its own thread.
fn serve(address: &str) -> io::Result<()> {
    let listener = Listener::bind(address)?;
    eprintln!("echo: listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        thread::spawn(move || {
            let peer = stream.peer_addr();
            let result = (|| -> io::Result<u64> {
                let mut reader = stream.try_clone()?;
                let mut writer = stream;
                let echoed = io::copy(&mut reader, &mut writer)?;
                drop(reader);
                // The last handle: returns once the client has every byte and our FIN.
                writer.close()?;
                Ok(echoed)
            })();
            match (peer, result) {
                (Ok(peer), Ok(echoed)) => eprintln!("echo: {echoed} bytes back to {peer}"),
                (_, Err(error)) => eprintln!("echo: a connection failed: {error}"),
                (Err(error), _) => eprintln!("echo: {error}"),
            }
        });
    }
    Ok(())
}

/// Send `message`, close our side, and read back what the server echoes.
fn ask(address: &str, message: &str) -> io::Result<String> {
    let mut stream = Stream::connect(address)?;
    stream.write_all(message.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    stream.close()?;
    Ok(reply)
}
