//! `ferry recv` without `--once`: many transfers at a time, within limits that no client can
//! exhaust.
//!
//! Three kinds of thread share one table of transfers ([`Transfers`]):
//! - the **accept thread** admits each connection by the limits (`--max-connections` in all,
//!   `--max-per-peer` from one IP address), resetting a transfer idle for a second or more to
//!   make room when a limit is reached ([`Transfers::admit`] says which), and starts a worker
//!   for it;
//! - one **worker** per admitted transfer receives it, into memory up to `--spool-above` bytes
//!   and into an unlinked file in the temporary directory past that;
//! - the **main thread** writes each complete transfer out whole, in the order they complete,
//!   sends our FIN (the sender's receipt) and watches the closes until the sender has
//!   acknowledged it.
//!
//! A transfer holds its place in the table, and so counts against the limits, from its accept
//! until its close ends. So the threads (one per place), the spool files (one per place) and
//! the memory (`--spool-above` per place) are bounded by `--max-connections`, whatever the
//! clients do. Were the accept thread to stop (its socket failed, or it panicked), the main
//! thread hears of it and `ferry recv` exits with an error rather than live on deaf.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ferry::conn::State;
use ferry::net::DEFAULT_LINGER;
use ferry::{Listener, Stream};

use crate::net::describe;

/// How many transfers `ferry recv` takes at once, and how it holds them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Transfers at once, from everyone.
    pub max_connections: usize,
    /// Transfers at once from one IP address.
    pub max_per_peer: usize,
    /// A transfer stays in memory up to this many bytes; past that it goes to a spool file.
    pub spool_above: usize,
    /// A sender that sends nothing for this long is reset.
    pub idle_timeout: Option<Duration>,
}

/// How often the main thread looks at the closes under way when nothing else happens.
const CLOSE_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// How long a transfer must have received nothing before a newcomer may take its place: a
/// connection that sends a byte now and then is idle far longer, while a transfer under way
/// is never idle this long but for loss recovery's timeouts. So a newcomer is refused rather
/// than cut a transfer that is moving.
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// At most one line a second about connections reset or refused to keep the limits: a
/// flood of connections must not become a flood of lines, nor stall the accept thread on a
/// stderr that is read slowly.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// Serve `listener` until its socket fails or `output` cannot be written: the reason, as a
/// line for the user. `written` is called with each transfer once it is written out, with
/// its stream, size and the seconds it took (for `--stats`).
pub fn serve(
    listener: Listener,
    limits: Limits,
    output: &mut dyn Write,
    written: &dyn Fn(&Stream, u64, f64),
) -> String {
    let transfers = Arc::new(Mutex::new(Transfers::new(limits)));
    let notices = Arc::new(Mutex::new(Notices::default()));
    let (events, arrivals) = mpsc::channel::<Event>();
    let accepting = {
        let (transfers, notices, events) =
            (Arc::clone(&transfers), Arc::clone(&notices), events.clone());
        thread::Builder::new()
            .name("ferry-recv-accept".into())
            .spawn(move || accept_loop(&listener, &transfers, &notices, &events))
    };
    if let Err(error) = accepting {
        return format!("cannot start the accept thread: {error}");
    }
    // Only the accept thread and the workers hold senders from here on: were they all gone,
    // `recv` would say so rather than wait forever.
    drop(events);
    loop {
        match arrivals.recv_timeout(CLOSE_CHECK_INTERVAL) {
            Ok(Event::Complete(complete)) => {
                if let Err(error) = write_out(complete, output, written, &transfers) {
                    return format!("cannot write the output: {error}");
                }
            }
            Ok(Event::AcceptStopped(why)) => return why,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return "the accept thread is gone".to_string();
            }
        }
        let now = crate::wall_clock();
        lock(&transfers).check_closes(now);
        lock(&notices).flush(now);
    }
}

/// The lines about connections reset or refused to keep the limits, held back to one per
/// [`NOTICE_INTERVAL`] with a count of the rest.
#[derive(Default)]
struct Notices {
    /// When the last line was printed.
    last: Option<Instant>,
    /// Lines not printed since.
    held_back: u64,
}

impl Notices {
    fn say(&mut self, line: &str, now: Instant) {
        if self.due(now) {
            self.print(Some(line), now);
        } else {
            self.held_back += 1;
        }
    }

    /// Print the count of the lines held back, once the interval since the last has passed.
    fn flush(&mut self, now: Instant) {
        if self.held_back > 0 && self.due(now) {
            self.print(None, now);
        }
    }

    fn due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= NOTICE_INTERVAL)
    }

    fn print(&mut self, line: Option<&str>, now: Instant) {
        let held_back = std::mem::take(&mut self.held_back);
        match (line, held_back) {
            (Some(line), 0) => eprintln!("{line}"),
            (Some(line), more) => {
                eprintln!("{line} (and {more} more connections reset or refused before it)")
            }
            (None, more) => {
                eprintln!("ferry recv: {more} more connections reset or refused to keep the limits")
            }
        }
        self.last = Some(now);
    }
}

/// What the accept thread and the workers tell the main thread.
enum Event {
    /// A transfer arrived whole.
    Complete(Complete),
    /// The accept thread stopped, and why: nothing new will be served.
    AcceptStopped(String),
}

/// A transfer that arrived whole, for the main thread to write out.
struct Complete {
    id: u64,
    stream: Stream,
    body: Body,
    bytes: u64,
    seconds: f64,
}

fn lock<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked holding a lock left what it guards consistent (every change to
    // the table is one insert or remove), so carry on with it.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

// -------------------------------------------------------------------------------------------
// The table of transfers

/// Every transfer from its accept until its close ends, each under an id.
struct Transfers {
    limits: Limits,
    entries: BTreeMap<u64, Entry>,
    next_id: u64,
}

struct Entry {
    peer: SocketAddr,
    /// When the sender last sent data (or connected, or, closing, when our FIN went).
    last_active: Instant,
    phase: Phase,
}

enum Phase {
    /// A worker is reading it. `wake` is a clone of the worker's stream: an eviction shuts
    /// its read side, which wakes the worker's read, and sets its linger to zero, so that the
    /// worker's drop resets it. `worker` is the worker's thread, once started.
    Receiving {
        wake: Stream,
        worker: Option<thread::JoinHandle<()>>,
    },
    /// Complete, with the main thread to be written out: never evicted, it is what the
    /// sender is owed.
    WritingOut,
    /// Written out and our FIN sent, the only handle kept here (with no linger, so dropping
    /// it never waits): waiting for the sender to acknowledge the FIN until `deadline`.
    Closing { stream: Stream, deadline: Instant },
}

/// Why a connection was not admitted.
enum Refusal {
    /// None of the transfers the limit counts may be reset.
    NothingToEvict { limit: String },
    /// Its stream could not be cloned.
    Failed(io::Error),
}

impl Transfers {
    fn new(limits: Limits) -> Transfers {
        Transfers {
            limits,
            entries: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Admit `stream` from `peer`, making room by the limits: its id, with a line saying what
    /// was reset to make room, if anything was. When a limit is reached, the transfer idle
    /// longest (among the peer's own for `--max-per-peer`) is reset if it has been idle for
    /// [`EVICTABLE_AFTER`], so that a client holding connections open without sending cannot
    /// lock anybody out. Failing that, a newcomer past `--max-connections` takes a place
    /// from the address holding the most, if that holds more than the newcomer's would;
    /// otherwise it is refused. A transfer being written out is never reset.
    fn admit(
        &mut self,
        stream: &Stream,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(u64, Option<String>), Refusal> {
        self.check_closes(now);
        let same_peer = |entry: &Entry| entry.peer.ip() == peer.ip();
        let from_peer = self
            .entries
            .values()
            .filter(|entry| same_peer(entry))
            .count();
        let victim = if from_peer >= self.limits.max_per_peer {
            Some(("--max-per-peer", self.idle(same_peer, now)))
        } else if self.entries.len() >= self.limits.max_connections {
            let victim = self
                .idle(|_| true, now)
                .or_else(|| self.busiest_holders_idlest(from_peer + 1));
            Some(("--max-connections", victim))
        } else {
            None
        };
        let evicted = match victim {
            None => None,
            Some((limit, None)) => {
                let limit = self.limit_named(limit);
                return Err(Refusal::NothingToEvict { limit });
            }
            Some((limit, Some(id))) => Some(self.evict(id, now, peer, limit)),
        };
        let wake = stream.try_clone().map_err(Refusal::Failed)?;
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                peer,
                last_active: now,
                phase: Phase::Receiving { wake, worker: None },
            },
        );
        Ok((id, evicted))
    }

    /// The transfer idle longest among those `counted`, leaving out those being written out.
    fn idlest(&self, counted: impl Fn(&Entry) -> bool) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, entry)| counted(entry) && !matches!(entry.phase, Phase::WritingOut))
            .min_by_key(|(_, entry)| entry.last_active)
            .map(|(&id, _)| id)
    }

    /// [`idlest`](Self::idlest), if it has been idle for [`EVICTABLE_AFTER`] by `now`.
    fn idle(&self, counted: impl Fn(&Entry) -> bool, now: Instant) -> Option<u64> {
        self.idlest(counted).filter(|id| {
            now.saturating_duration_since(self.entries[id].last_active) >= EVICTABLE_AFTER
        })
    }

    /// The idlest transfer of the address holding the most places, if it holds more than
    /// `newcomers_share`: a place taken from whoever holds the most keeps the shares fair.
    fn busiest_holders_idlest(&self, newcomers_share: usize) -> Option<u64> {
        let mut holdings: BTreeMap<std::net::IpAddr, usize> = BTreeMap::new();
        for entry in self.entries.values() {
            *holdings.entry(entry.peer.ip()).or_default() += 1;
        }
        let (&busiest, &held) = holdings.iter().max_by_key(|(_, &held)| held)?;
        if held <= newcomers_share {
            return None;
        }
        self.idlest(|entry| entry.peer.ip() == busiest)
    }

    /// Reset transfer `id` to make room for `newcomer`: the line saying so.
    fn evict(&mut self, id: u64, now: Instant, newcomer: SocketAddr, limit: &str) -> String {
        self.evict_worker(id, now, newcomer, limit).0
    }

    /// [`evict`](Self::evict), and the thread of the worker that was receiving it, if any.
    fn evict_worker(
        &mut self,
        id: u64,
        now: Instant,
        newcomer: SocketAddr,
        limit: &str,
    ) -> (String, Option<thread::JoinHandle<()>>) {
        let entry = self
            .entries
            .remove(&id)
            .expect("idlest() picks an id of the table");
        let mut thread = None;
        let doing = match entry.phase {
            Phase::Receiving { wake, worker } => {
                thread = worker;
                // The worker holds the other handle: its read returns, it finds its entry
                // gone, and its drop sends the RST.
                let _ = wake.set_linger(Some(Duration::ZERO));
                let _ = wake.shutdown(Shutdown::Read);
                "receiving"
            }
            Phase::Closing { stream, .. } => {
                reset(stream);
                "waiting for the acknowledgment of our FIN"
            }
            Phase::WritingOut => unreachable!("idlest() never picks a transfer being written out"),
        };
        let limit = self.limit_named(limit);
        let line = format!(
            "ferry recv: reset the connection from {} ({doing}, idle for {:.1} s) to make room \
             for {newcomer} ({limit})",
            entry.peer,
            now.saturating_duration_since(entry.last_active)
                .as_secs_f64(),
        );
        (line, thread)
    }

    /// A limit as the user set it: `--max-per-peer 16`.
    fn limit_named(&self, limit: &str) -> String {
        match limit {
            "--max-per-peer" => format!("--max-per-peer {}", self.limits.max_per_peer),
            "--max-connections" => format!("--max-connections {}", self.limits.max_connections),
            other => other.to_string(),
        }
    }

    /// The worker of `id` started on `thread`.
    fn started(&mut self, id: u64, thread: thread::JoinHandle<()>) {
        if let Some(Entry {
            phase: Phase::Receiving { worker, .. },
            ..
        }) = self.entries.get_mut(&id)
        {
            *worker = Some(thread);
        }
    }

    /// No thread could be started for `id`: reset the transfer idle longest that has one, if
    /// it has been idle for [`EVICTABLE_AFTER`], to free it. Its line, and its thread to wait
    /// for; `None` if there is none such.
    fn free_a_thread(
        &mut self,
        id: u64,
        now: Instant,
        newcomer: SocketAddr,
    ) -> Option<(String, thread::JoinHandle<()>)> {
        let victim = self.idle(
            |entry| {
                matches!(
                    entry.phase,
                    Phase::Receiving {
                        worker: Some(_),
                        ..
                    }
                )
            },
            now,
        )?;
        debug_assert_ne!(victim, id, "the newcomer has no thread yet");
        let (line, thread) = self.evict_worker(victim, now, newcomer, "the thread limit");
        Some((line, thread?))
    }

    /// The worker of `id` received data: it is not idle.
    fn touch(&mut self, id: u64, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.last_active = now;
        }
    }

    /// The worker of `id` has the whole transfer: it goes to the main thread to be written
    /// out. False if it was evicted meanwhile.
    fn complete(&mut self, id: u64) -> bool {
        match self.entries.get_mut(&id) {
            Some(entry) if matches!(entry.phase, Phase::Receiving { .. }) => {
                entry.phase = Phase::WritingOut;
                true
            }
            _ => false,
        }
    }

    /// Whether `id` is still being received (not evicted).
    fn receiving(&self, id: u64) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|entry| matches!(entry.phase, Phase::Receiving { .. }))
    }

    /// Forget `id` (its transfer failed, or its close ended).
    fn remove(&mut self, id: u64) {
        self.entries.remove(&id);
    }

    /// Transfer `id` is written out and `stream` has sent our FIN: wait for its
    /// acknowledgment, up to the linger a close would give it.
    fn closing(&mut self, id: u64, stream: Stream, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.last_active = now;
            entry.phase = Phase::Closing {
                stream,
                deadline: now + DEFAULT_LINGER,
            };
        }
    }

    /// Forget the closes that ended: our FIN acknowledged, the connection failed, or the
    /// linger ran out (then reset it, as a close's linger running out at exit does). A
    /// sender that never acknowledged our FIN has gone without waiting for its receipt: say
    /// so, but the transfer is complete.
    fn check_closes(&mut self, now: Instant) {
        let ended: Vec<u64> = self
            .entries
            .iter()
            .filter_map(|(&id, entry)| match &entry.phase {
                Phase::Closing { stream, deadline } => {
                    (close_ended(stream) || now >= *deadline).then_some(id)
                }
                _ => None,
            })
            .collect();
        for id in ended {
            let Some(Entry {
                peer,
                phase: Phase::Closing { stream, .. },
                ..
            }) = self.entries.remove(&id)
            else {
                continue;
            };
            let failed = match stream.take_error() {
                Ok(Some(error)) => Some(describe(&error)),
                _ if close_ended(&stream) => None,
                _ => Some(format!(
                    "no acknowledgment within {} s",
                    DEFAULT_LINGER.as_secs()
                )),
            };
            if let Some(why) = failed {
                eprintln!(
                    "ferry recv: warning: {peer} did not acknowledge the end of the transfer: \
                     {why}"
                );
            }
            reset(stream);
        }
    }
}

/// Whether a closing stream's close is over: our FIN acknowledged, or the connection ended.
fn close_ended(stream: &Stream) -> bool {
    matches!(
        stream.stats().state,
        State::FinWait2 | State::TimeWait | State::Closed
    )
}

/// Drop `stream` with a RST if anything is left of its connection.
fn reset(stream: Stream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

// -------------------------------------------------------------------------------------------
// The accept thread

fn accept_loop(
    listener: &Listener,
    transfers: &Arc<Mutex<Transfers>>,
    notices: &Mutex<Notices>,
    events: &mpsc::Sender<Event>,
) {
    let stopped = StopNotice(events.clone());
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                let _ = stopped.0.send(Event::AcceptStopped(format!(
                    "the listener failed: {}",
                    describe(&error)
                )));
                return;
            }
        };
        if let Some(notice) = admit_and_start(stream, peer, transfers, events) {
            lock(notices).say(&notice, crate::wall_clock());
        }
    }
}

/// Tells the main thread that the accept thread died, should it panic.
struct StopNotice(mpsc::Sender<Event>);

impl Drop for StopNotice {
    fn drop(&mut self) {
        if thread::panicking() {
            let _ = self.0.send(Event::AcceptStopped(
                "the accept thread panicked".to_string(),
            ));
        }
    }
}

/// Admit a connection and start its worker, or reset it: the line saying what was reset or
/// refused, if anything was.
fn admit_and_start(
    stream: Stream,
    peer: SocketAddr,
    transfers: &Arc<Mutex<Transfers>>,
    events: &mpsc::Sender<Event>,
) -> Option<String> {
    let admitted = lock(transfers).admit(&stream, peer, crate::wall_clock());
    let (id, evicted) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let why = match refusal {
                Refusal::NothingToEvict { limit } => format!(
                    "{limit} reached, and no transfer it counts has been idle for {} s",
                    EVICTABLE_AFTER.as_secs()
                ),
                Refusal::Failed(error) => describe(&error),
            };
            reset(stream);
            return Some(format!(
                "ferry recv: refused the connection from {peer}: {why}"
            ));
        }
    };
    let limits = lock(transfers).limits;
    let spawn = |stream: Stream| {
        let (transfers, events) = (Arc::clone(transfers), events.clone());
        thread::Builder::new()
            .name(format!("ferry-recv-{id}"))
            .spawn(move || receive(id, stream, limits, &transfers, &events))
    };
    // The stream goes to the worker; the table's clone stays, so a failed spawn, which drops
    // the closure and its stream, leaves a handle to reset the connection with.
    let retry = match stream.try_clone().map(spawn) {
        Ok(Ok(thread)) => {
            lock(transfers).started(id, thread);
            return evicted;
        }
        Ok(Err(error)) | Err(error) => error,
    };
    // Out of threads (a process or user limit below --max-connections): make room as the
    // limits do, by resetting the transfer idle longest, wait for its worker to end, and try
    // once more.
    let freed = lock(transfers).free_a_thread(id, crate::wall_clock(), peer);
    let notice = match freed {
        Some((line, thread)) => {
            wait_for_end(&thread);
            match stream.try_clone().map(spawn) {
                Ok(Ok(thread)) => {
                    lock(transfers).started(id, thread);
                    return Some(line);
                }
                Ok(Err(error)) | Err(error) => error,
            }
        }
        None => retry,
    };
    let entry = lock(transfers).entries.remove(&id);
    if let Some(Entry {
        phase: Phase::Receiving { wake, .. },
        ..
    }) = entry
    {
        reset(wake);
    }
    reset(stream);
    Some(format!(
        "ferry recv: refused the connection from {peer}: cannot start a thread: {notice}"
    ))
}

/// Wait, a second at most, for an evicted worker's thread to end: its read wakes at once.
fn wait_for_end(thread: &thread::JoinHandle<()>) {
    for _ in 0..100 {
        if thread.is_finished() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// -------------------------------------------------------------------------------------------
// A worker

/// What has arrived of a transfer: in memory while small, then in a spool file.
enum Body {
    Memory(Vec<u8>),
    Spooled(io::BufWriter<File>),
}

impl Body {
    fn append(&mut self, data: &[u8], spool_above: usize, id: u64) -> io::Result<()> {
        if let Body::Memory(held) = self {
            if held.len() + data.len() <= spool_above {
                held.extend_from_slice(data);
                return Ok(());
            }
            let mut file = io::BufWriter::new(spool_file(id)?);
            file.write_all(held)?;
            *self = Body::Spooled(file);
        }
        match self {
            Body::Spooled(file) => file.write_all(data),
            Body::Memory(_) => unreachable!("a body that outgrew memory was spooled above"),
        }
    }

    /// Copy the whole body to `output`.
    fn write_to(self, output: &mut dyn Write) -> io::Result<()> {
        match self {
            Body::Memory(held) => output.write_all(&held),
            Body::Spooled(file) => {
                let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
                file.rewind()?;
                io::copy(&mut file, output).map(|_| ())
            }
        }
    }
}

/// A new spool file in the temporary directory, for transfer `id`. It is unlinked at once:
/// the open file is all there is of it, so nothing is left behind, even by a crash.
fn spool_file(id: u64) -> io::Result<File> {
    let path = std::env::temp_dir().join(format!("ferry-recv-{}-{id}", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// Why a worker stopped short of a whole transfer.
enum Stopped {
    /// Reset to make room for another: the accept thread said so.
    Evicted,
    Failed(io::Error),
}

/// A worker: receive transfer `id` whole and hand it to the main thread, or reset it.
fn receive(
    id: u64,
    mut stream: Stream,
    limits: Limits,
    transfers: &Mutex<Transfers>,
    events: &mpsc::Sender<Event>,
) {
    let started = crate::wall_clock();
    match receive_body(id, &mut stream, limits, transfers) {
        Ok((body, bytes)) => {
            let complete = Complete {
                id,
                stream,
                body,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
            };
            // Were the main thread gone, the process is exiting anyway.
            let _ = events.send(Event::Complete(complete));
        }
        Err(Stopped::Evicted) => reset(stream),
        // Reset rather than linger: nothing more will be read.
        Err(Stopped::Failed(error)) => abandon(transfers, id, stream, |peer| {
            format!("transfer from {peer} failed: {}", describe(&error))
        }),
    }
}

/// Read the stream to its end: the body and its size.
fn receive_body(
    id: u64,
    stream: &mut Stream,
    limits: Limits,
    transfers: &Mutex<Transfers>,
) -> Result<(Body, u64), Stopped> {
    stream
        .set_read_timeout(limits.idle_timeout)
        .map_err(Stopped::Failed)?;
    let mut body = Body::Memory(Vec::new());
    let mut bytes = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let count = match stream.read(&mut buffer) {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if !lock(transfers).receiving(id) => return Err(Stopped::Evicted),
            Err(error) => return Err(Stopped::Failed(error)),
        };
        if count == 0 {
            // The sender's FIN, or an eviction shutting our read side.
            return if lock(transfers).complete(id) {
                Ok((body, bytes))
            } else {
                Err(Stopped::Evicted)
            };
        }
        lock(transfers).touch(id, crate::wall_clock());
        body.append(&buffer[..count], limits.spool_above, id)
            .map_err(Stopped::Failed)?;
        bytes += count as u64;
    }
}

// -------------------------------------------------------------------------------------------
// The main thread

/// Write a complete transfer out, then send our FIN: only now may the sender take its
/// transfer as safe.
fn write_out(
    complete: Complete,
    output: &mut dyn Write,
    written: &dyn Fn(&Stream, u64, f64),
    transfers: &Mutex<Transfers>,
) -> io::Result<()> {
    let Complete {
        id,
        stream,
        body,
        bytes,
        seconds,
    } = complete;
    if let Err(error) = body.write_to(output).and_then(|()| output.flush()) {
        lock(transfers).remove(id);
        reset(stream);
        return Err(error);
    }
    written(&stream, bytes, seconds);
    // No linger: dropping this handle must never wait, since the table's lock is held then.
    let fin = stream
        .set_linger(None)
        .and_then(|()| stream.shutdown(Shutdown::Write));
    match fin {
        Ok(()) => lock(transfers).closing(id, stream, crate::wall_clock()),
        Err(error) => abandon(transfers, id, stream, |peer| {
            format!(
                "warning: {peer} did not acknowledge the end of the transfer: {}",
                describe(&error)
            )
        }),
    }
    Ok(())
}

/// Forget transfer `id` and reset its stream, saying why (`why` is given the peer).
fn abandon(
    transfers: &Mutex<Transfers>,
    id: u64,
    stream: Stream,
    why: impl FnOnce(SocketAddr) -> String,
) {
    lock(transfers).remove(id);
    if let Ok(peer) = stream.peer_addr() {
        eprintln!("ferry recv: {}", why(peer));
    }
    reset(stream);
}
