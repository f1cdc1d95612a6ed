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
        let mut stream = stream?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut name = String::new();
        reader.read_line(&mut name)?;
        // Only the last path component: a sender must not write outside the directory.
        let Some(name) = Path::new(name.trim()).file_name().map(PathBuf::from) else {
            eprintln!("copy: refusing a transfer with no file name");
            continue;
        };
        let stored = io::copy(&mut reader, &mut File::create(directory.join(&name))?)?;
        writeln!(stream, "{stored}")?;
        eprintln!("copy: stored {} ({stored} bytes)", name.display());
    }
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
    println!("sent {sent} bytes; the receiver stored {}", answer.trim());
    Ok(())
}
