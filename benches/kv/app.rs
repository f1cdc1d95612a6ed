// A small key-value service written against std's `TcpListener` and `TcpStream`: the bench
// includes this file twice, once with std's types in scope and once with Ferry's under the
// same names (benches/kv/main.rs), which is all a port to Ferry changes.
//
// The protocol is one line per request, as a teaching-lab server would have it:
// `SET key value` answered `OK`, `GET key` answered with the value or `NONE`.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

/// The server: a thread per connection over one shared map, until `connections` clients have
/// come and gone. Returns the address to connect to and the thread to join.
pub fn serve(connections: usize) -> io::Result<(SocketAddr, thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let store = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    let serving = thread::spawn(move || {
        let mut sessions = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().expect("accept");
            let store = Arc::clone(&store);
            sessions.push(thread::spawn(move || session(stream, &store)));
        }
        for session in sessions {
            session.join().expect("a session").expect("a session's I/O");
        }
    });
    Ok((address, serving))
}

/// One client's session: a line in, a line out, until the client closes.
fn session(stream: TcpStream, store: &Mutex<HashMap<String, String>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut words = line.trim_end().splitn(3, ' ');
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("SET"), Some(key), Some(value)) => {
                store.lock().unwrap().insert(key.to_string(), value.to_string());
                "OK".to_string()
            }
            (Some("GET"), Some(key), None) => store
                .lock()
                .unwrap()
                .get(key)
                .cloned()
                .unwrap_or_else(|| "NONE".to_string()),
            _ => "ERROR".to_string(),
        };
        writeln!(writer, "{answer}")?;
        writer.flush()?;
    }
}

/// A client: `requests` requests over one connection, a SET then a GET of each key, every
/// answer checked. Returns how many requests were answered.
pub fn client(address: SocketAddr, name: usize, requests: usize) -> io::Result<usize> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut answer = String::new();
    for request in 0..requests {
        let key = format!("client{name}-key{}", request / 2);
        let value = format!("value{}", request / 2);
        if request % 2 == 0 {
            writeln!(writer, "SET {key} {value}")?;
        } else {
            writeln!(writer, "GET {key}")?;
        }
        writer.flush()?;
        answer.clear();
        if reader.read_line(&mut answer)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed mid-session",
            ));
        }
        let expected = if request % 2 == 0 { "OK" } else { value.as_str() };
        if answer.trim_end() != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{key}: expected {expected:?}, got {answer:?}"),
            ));
        }
    }
    Ok(requests)
}
