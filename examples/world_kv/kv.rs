//! A key-value server and three clients on the simulated world, checked as a property over
//! schedules of crashes, partitions, holds and fault changes (`ferry::sim::world::property`).
//!
//! The protocol is one line per request on a connection of its own: `SET key value` is
//! answered `OK` once the value is stored, `GET key` with `VALUE value` or `NONE`. The
//! server's store stands for its disk: it outlives a crash, as a file synced before the reply
//! would. Each client sets five keys of its own, then reads each back.
//!
//! Two clients: the careful one counts a value as stored when the server said `OK`, retrying
//! (a new connection, a bounded number of times) until it does. The careless one counts it
//! stored as soon as `write_all` returns, which only says Ferry took the bytes into its send
//! buffer: a crash of the server before they arrive loses them, and the client never knows.
//! `main.rs` and `tests/world_properties.rs` check both: the careful clients read back every
//! value through every case; the careless one fails, and its failure shrinks to the crash.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::error::Error;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ferry::link::LinkConfig;
use ferry::sim::world::net::{Listener, OwnedWriteHalf, Stream};
use ferry::sim::world::property::{Outcome, Plan};
use ferry::sim::world::time::{sleep, timeout};
use ferry::sim::world::{spawn, Cut, World};
use ferry::FaultConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The clients, each on a host of its own.
pub const CLIENTS: [&str; 3] = ["alice", "bob", "carol"];
/// Keys each client sets and reads back.
pub const KEYS: usize = 5;
/// Where the server listens.
const SERVER: &str = "server:7000";
/// How long one attempt at a request may take, connection included.
const ATTEMPT: Duration = Duration::from_secs(3);
/// How many attempts a request gets before the client gives up.
const ATTEMPTS: u32 = 30;
/// The pause between attempts.
const PAUSE: Duration = Duration::from_millis(200);
/// The careless client's pause between two writes.
const WRITE_PACE: Duration = Duration::from_millis(500);

/// Which client program runs on the client hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Counts a value stored when the server answered `OK`.
    Careful,
    /// Counts a value stored when `write_all` returned (the bug).
    Careless,
}

/// One key read back: what the client counted as stored, and what the server had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    pub client: String,
    pub key: String,
    pub stored: String,
    pub read: Option<String>,
}

/// What the clients report into, kept beside the world for the property.
pub type Log = Rc<RefCell<Vec<ReadBack>>>;

/// The normal faults of every link: 5% loss each way.
pub fn normal_faults() -> FaultConfig {
    "loss=5%".parse().expect("a valid spec")
}

/// What may happen during a case: the server crashes (and comes back), any link is cut, the
/// traffic between a client and the server is held, the server's link gets other faults; up
/// to four such episodes in the first 10 s, each at most 3 s long.
pub fn plan() -> Plan {
    let mut plan = Plan::new()
        .crash("server")
        .partition(Cut::link("router", "server"))
        .faults("router", "server", normal_faults())
        .within(Duration::from_secs(10))
        .longest(Duration::from_secs(3))
        .at_most(4);
    for client in CLIENTS {
        plan = plan
            .partition(Cut::link(client, "router"))
            .hold(Cut::hosts(client, "server"));
    }
    plan
}

/// The world of `seed`: three client hosts and the server on one router, each link 10
/// Mbit/s, 20 ms each way, losing 5% each way; the server, and `client` on every client host.
pub fn world(seed: u64, client: Client) -> Result<(World, Log), Box<dyn Error>> {
    let lossy = LinkConfig {
        faults: normal_faults(),
        ..LinkConfig::default()
    };
    let mut builder = World::builder()
        .seed(seed)
        .time_limit(Duration::from_secs(300))
        .router("router", "10.0.0.1")
        .host("server", "10.0.1.2")
        .link("router", "server", lossy.clone());
    for (index, name) in CLIENTS.iter().enumerate() {
        builder = builder.host(name, &format!("10.0.{}.2", index + 2)).link(
            name,
            "router",
            lossy.clone(),
        );
    }
    let mut world = builder.build()?;
    // The server's disk: it outlives the server's crashes.
    let disk: Rc<RefCell<BTreeMap<String, String>>> = Rc::default();
    world.host("server", move || serve(Rc::clone(&disk)))?;
    let log = Log::default();
    for name in CLIENTS {
        let log = Rc::clone(&log);
        match client {
            Client::Careful => world.client(name, careful_client(name, log))?,
            Client::Careless => world.client(name, careless_client(name, log))?,
        }
    }
    Ok((world, log))
}

/// The property both clients are held to: the run ended (no client gave up), and every key
/// each client counted as stored reads back as that value.
pub fn every_stored_value_reads_back(outcome: Outcome<'_, Log>) -> Result<(), Box<dyn Error>> {
    outcome.run?;
    let read_backs = outcome.kept.borrow();
    if read_backs.len() != CLIENTS.len() * KEYS {
        return Err(format!(
            "{} keys read back, not {}",
            read_backs.len(),
            CLIENTS.len() * KEYS
        )
        .into());
    }
    for ReadBack {
        client,
        key,
        stored,
        read,
    } in read_backs.iter()
    {
        if read.as_ref() != Some(stored) {
            return Err(format!("{client} stored {key}={stored} but read back {read:?}").into());
        }
    }
    Ok(())
}

/// The server: every connection in a task of its own, each request line answered.
async fn serve(disk: Rc<RefCell<BTreeMap<String, String>>>) -> Result<(), Box<dyn Error>> {
    let listener = Listener::bind("0.0.0.0:7000").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let disk = Rc::clone(&disk);
        spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Some(line) = lines.next_line().await? {
                let reply = answer(&mut disk.borrow_mut(), &line);
                write.write_all(reply.as_bytes()).await?;
            }
            Ok::<_, io::Error>(())
        });
    }
}

/// The reply to one request line.
fn answer(disk: &mut BTreeMap<String, String>, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["SET", key, value] => {
            disk.insert(key.to_string(), value.to_string());
            "OK\n".to_string()
        }
        ["GET", key] => match disk.get(*key) {
            Some(value) => format!("VALUE {value}\n"),
            None => "NONE\n".to_string(),
        },
        _ => "ERROR\n".to_string(),
    }
}

/// Key `index` of `client`, and the one value it sets there.
fn key_and_value(client: &str, index: usize) -> (String, String) {
    (format!("{client}/k{index}"), format!("{client}-v{index}"))
}

/// One request on a connection of its own: the reply line. An attempt that takes longer than
/// [`ATTEMPT`] fails with `TimedOut`.
async fn request(line: &str) -> io::Result<String> {
    let attempt = async {
        let mut stream = Stream::connect(SERVER).await?;
        stream.set_user_timeout(Some(ATTEMPT))?;
        stream.write_all(line.as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).await?;
        match reply.ends_with('\n') {
            true => Ok(reply.trim_end().to_string()),
            false => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        }
    };
    timeout(ATTEMPT, attempt)
        .await
        .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut)))
}

/// `line`'s reply, retried on a new connection after any error, at most [`ATTEMPTS`] times.
async fn with_retries(line: &str) -> Result<String, Box<dyn Error>> {
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        match request(line).await {
            Ok(reply) => return Ok(reply),
            Err(error) => last_error = Some(error),
        }
        sleep(PAUSE).await;
    }
    Err(format!(
        "{:?} got no reply in {ATTEMPTS} attempts: {last_error:?}",
        line.trim_end()
    )
    .into())
}

/// Read back each of `client`'s keys, noting what it counted as stored beside what it reads.
async fn read_back(
    client: &str,
    stored: Vec<(String, String)>,
    log: &Log,
) -> Result<(), Box<dyn Error>> {
    for (key, value) in stored {
        let reply = with_retries(&format!("GET {key}\n")).await?;
        let read = reply.strip_prefix("VALUE ").map(str::to_string);
        log.borrow_mut().push(ReadBack {
            client: client.to_string(),
            key,
            stored: value,
            read,
        });
    }
    Ok(())
}

/// Set each key, counting it stored once the server said `OK`; then read them back.
async fn careful_client(client: &'static str, log: Log) -> Result<(), Box<dyn Error>> {
    let mut stored = Vec::new();
    for index in 0..KEYS {
        let (key, value) = key_and_value(client, index);
        let reply = with_retries(&format!("SET {key} {value}\n")).await?;
        if reply != "OK" {
            return Err(format!("SET {key} was answered {reply:?}").into());
        }
        stored.push((key, value));
    }
    read_back(client, stored, &log).await
}

/// Set each key on one connection, a write every half second, counting it stored as soon as
/// `write_all` returns (the bug: that only means the bytes are in Ferry's send buffer); on a
/// write error, connect again and go on. The replies are read and ignored, and the connection
/// closed once the writes are done (whatever the close says: the values were stored, the
/// client believes). Then read them back.
async fn careless_client(client: &'static str, log: Log) -> Result<(), Box<dyn Error>> {
    let mut stored = Vec::new();
    let mut connection: Option<OwnedWriteHalf> = None;
    for index in 0..KEYS {
        let (key, value) = key_and_value(client, index);
        let line = format!("SET {key} {value}\n");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let written = match connection.as_mut() {
                Some(write) => write.write_all(line.as_bytes()).await,
                None => match connect_ignoring_replies().await {
                    Ok(mut write) => {
                        let written = write.write_all(line.as_bytes()).await;
                        connection = Some(write);
                        written
                    }
                    Err(error) => Err(error),
                },
            };
            match written {
                Ok(()) => break,
                Err(error) if attempts >= ATTEMPTS => {
                    return Err(format!("SET {key}: {error} after {ATTEMPTS} attempts").into())
                }
                Err(_) => {
                    connection = None;
                    sleep(PAUSE).await;
                }
            }
        }
        stored.push((key, value));
        sleep(WRITE_PACE).await;
    }
    if let Some(mut write) = connection {
        let _ = write.shutdown().await;
    }
    read_back(client, stored, &log).await
}

/// A connection to the server whose replies a task of its own reads and drops, so that
/// closing it is a FIN after the data (a stream closed with replies unread would be reset).
async fn connect_ignoring_replies() -> io::Result<OwnedWriteHalf> {
    let stream = timeout(ATTEMPT, Stream::connect(SERVER))
        .await
        .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut)))?;
    let (mut read, write) = stream.into_split();
    spawn(async move {
        let mut replies = Vec::new();
        let _ = read.read_to_end(&mut replies).await;
    });
    Ok(write)
}
