//! An echo server and client over Ferry on tokio (`--features tokio`): one task per
//! connection, no thread per connection.
//!
//! ```sh
//! cargo run --features tokio --example async_echo -- server 127.0.0.1:4750
//! cargo run --features tokio --example async_echo -- client 127.0.0.1:4750 "hello, ferry"
//! ```

use std::io;

use ferry::tokio::{Listener, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, address] if mode == "server" => serve(address).await,
        [mode, address, message] if mode == "client" => {
            println!("{}", ask(address, message).await?);
            Ok(())
        }
        _ => {
            eprintln!("usage: async_echo server ADDRESS | async_echo client ADDRESS MESSAGE");
            std::process::exit(2);
        }
    }
}

/// Echo every connection back to itself, each in a task of its own.
async fn serve(address: &str) -> io::Result<()> {
    let listener = Listener::bind(address).await?;
    eprintln!("async_echo: listening on {}", listener.local_addr()?);
    loop {
        let (mut stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            let result = async {
                let (mut reader, mut writer) = stream.split();
                let echoed = tokio::io::copy(&mut reader, &mut writer).await?;
                // Returns once the client has every byte and our FIN.
                stream.close().await?;
                io::Result::Ok(echoed)
            }
            .await;
            match result {
                Ok(echoed) => eprintln!("async_echo: {echoed} bytes back to {peer}"),
                Err(error) => eprintln!("async_echo: the connection from {peer} failed: {error}"),
            }
        });
    }
}

/// Send `message`, close our side, and read back what the server echoes.
async fn ask(address: &str, message: &str) -> io::Result<String> {
    let mut stream = Stream::connect(address).await?;
    stream.write_all(message.as_bytes()).await?;
    // Completes once the server has acknowledged the message and our FIN.
    stream.shutdown().await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    stream.close().await?;
    Ok(reply)
}
