//! A file copier over Ferry: one side serves a directory, the other sends files into it.
//!
//! ```sh
//! cargo run --example copy -- receive 127.0.0.1:4747 /tmp/inbox
//! cargo run --example copy -- send 127.0.0.1:4747 Cargo.toml
//! ```
//!
//! The sender writes the file's name on one line, then its bytes; the receiver answers with
//! the number of bytes it stored once they are on disk.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};

use ferry::{Listener, Stream};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, address, directory] if mode == "receive" => receive(address, Path::new(directory)),
        [mode, address, file] if mode == "send" => send(address, Path::new(file)),
        _ => {
            eprintln!("usage: copy receive ADDRESS DIRECTORY | copy send ADDRESS FILE");
            std::process::exit(2);
        }
    }
}

fn receive(address: &str, directory: &Path) -> io::Result<()> {
    std::fs::create_dir_all(directory)?;
    let listener = Listener::bind(address)?;
    eprintln!(
        "copy: receiving into {} on {}",
        directory.display(),
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        if let Err(error) = store(stream?, directory) {
            eprintln!("copy: a transfer failed: {error}");
        }
    }
    Ok(())
}

/// Store one incoming file, and tell the sender how many bytes are on disk.
fn store(mut stream: Stream, directory: &Path) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut name = String::new();
    reader.read_line(&mut name)?;
    // Only the last path component: a sender must not write outside the directory.
    let Some(name) = Path::new(name.trim()).file_name().map(PathBuf::from) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no file name: refused",
        ));
    };
    let stored = io::copy(&mut reader, &mut File::create(directory.join(&name))?)?;
    drop(reader);
    writeln!(stream, "{stored}")?;
    // The answer is delivered, and acknowledged, before we call the transfer done.
    stream.close()?;
    eprintln!("copy: stored {} ({stored} bytes)", name.display());
    Ok(())
}

fn send(address: &str, file: &Path) -> io::Result<()> {
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut stream = Stream::connect(address)?;
    writeln!(stream, "{}", name.to_string_lossy())?;
    let sent = io::copy(&mut File::open(file)?, &mut stream)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    stream.close()?;
    if answer.trim() != sent.to_string() {
        return Err(io::Error::other(format!(
            "sent {sent} bytes, but the receiver stored {:?}",
            answer.trim()
        )));
    }
    println!("sent {sent} bytes; the receiver stored {}", answer.trim());
    Ok(())
}
