//! The poller: the one thread that drives every client socket of a process (one per
//! `Stream::connect`), waiting on all of them in one `mio::Poll` and keeping their deadlines
//! in order, so a process with a thousand client streams has one driver thread, not a
//! thousand. A listener's socket has a thread of its own instead (`driver.rs`).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::driver::{os_now, Shared};
use super::fine_timer::FineTimer;
use super::inbox::Inbox;

/// The one thread that drives every client socket of the process.
pub(super) struct Poller {
    registry: mio::Registry,
    waker: Waker,
    /// The sockets it drives, by token. Tokens are never reused.
    sockets: Mutex<HashMap<Token, Arc<Shared>>>,
    /// Sockets an application thread asked to be looked at now.
    woken: Mutex<Vec<Token>>,
    next_token: AtomicUsize,
}

/// The poller's token for its own waker; sockets count up from 1.
const POLLER_WAKER: Token = Token(0);
/// The poller's fine timer; sockets count up from 1.
const POLLER_TIMER: Token = Token(usize::MAX);

static POLLER: OnceLock<Poller> = OnceLock::new();
/// The poller's thread could not be started.
static POLLER_FAILED: AtomicBool = AtomicBool::new(false);

impl Poller {
    /// The process's poller, started on first use. If its thread could not be started, every
    /// later call fails too, rather than hand out a poller nothing runs.
    pub(super) fn get() -> io::Result<&'static Poller> {
        if POLLER_FAILED.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "the driver thread for client sockets could not be started",
            ));
        }
        if let Some(poller) = POLLER.get() {
            return Ok(poller);
        }
        let poll = Poll::new()?;
        let timer = FineTimer::new(poll.registry(), POLLER_TIMER)?;
        let poller = Poller {
            registry: poll.registry().try_clone()?,
            waker: Waker::new(poll.registry(), POLLER_WAKER)?,
            sockets: Mutex::new(HashMap::new()),
            woken: Mutex::new(Vec::new()),
            next_token: AtomicUsize::new(1),
        };
        // Two threads may race here: the loser's poll is dropped unused.
        let won = POLLER.set(poller).is_ok();
        let poller = POLLER
            .get()
            .ok_or_else(|| io::Error::other("the shared driver did not start"))?;
        if won {
            let spawned = thread::Builder::new()
                .name("ferry driver (client sockets)".into())
                .spawn(move || poller.run(poll, timer));
            if let Err(error) = spawned {
                POLLER_FAILED.store(true, Ordering::Release);
                return Err(error);
            }
        }
        Ok(poller)
    }

    /// Take `socket` into the poll; returns its token. [`adopt`](Self::adopt) it next.
    pub(super) fn register(&self, socket: &mut UdpSocket) -> io::Result<Token> {
        let token = Token(self.next_token.fetch_add(1, Ordering::Relaxed));
        self.registry.register(socket, token, Interest::READABLE)?;
        Ok(token)
    }

    /// The poller's registry: a socket leaves it and comes back while an application thread
    /// waits on it (`Shared::watch_socket_in_driver`).
    pub(super) fn registry(&self) -> &mio::Registry {
        &self.registry
    }

    /// Drive `shared`, the socket registered as `token`, from now on.
    pub(super) fn adopt(&self, token: Token, shared: Arc<Shared>) {
        self.sockets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(token, shared);
        self.wake(token);
    }

    /// Have the poller turn the socket registered as `token` now.
    pub(super) fn wake_socket(token: Token) {
        if let Some(poller) = POLLER.get() {
            poller.wake(token);
        }
    }

    fn wake(&self, token: Token) {
        self.woken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(token);
        // If the wake-up fails, the poller still looks at its next deadline.
        let _ = self.waker.wake();
    }

    /// Turn every socket that is readable, woken or due; sleep until the next deadline.
    fn run(&'static self, mut poll: Poll, mut timer: FineTimer) {
        let poller = self;
        let mut inbox = Inbox::default();
        let mut events = Events::with_capacity(256);
        let mut deadlines: BTreeSet<(std::time::Instant, Token)> = BTreeSet::new();
        let mut deadline_of: HashMap<Token, std::time::Instant> = HashMap::new();
        loop {
            let mut due: Vec<Token> = std::mem::take(
                &mut *poller
                    .woken
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            due.extend(
                events
                    .iter()
                    .map(|event| event.token())
                    .filter(|&token| token != POLLER_WAKER && token != POLLER_TIMER),
            );
            let now = os_now();
            while let Some(&(at, token)) = deadlines.first() {
                if at > now {
                    break;
                }
                deadlines.remove(&(at, token));
                deadline_of.remove(&token);
                due.push(token);
            }
            due.sort_unstable();
            due.dedup();
            for token in due {
                let shared = poller
                    .sockets
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get(&token)
                    .cloned();
                let Some(shared) = shared else {
                    continue;
                };
                if let Some(at) = deadline_of.remove(&token) {
                    deadlines.remove(&(at, token));
                }
                match shared.turn(&mut inbox, true) {
                    None => {
                        // Done: dropping the last handle closes the socket, which leaves the
                        // poll by itself.
                        poller
                            .sockets
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .remove(&token);
                    }
                    Some(next) => {
                        if let Some(next) = next {
                            let at = shared.os_instant(next);
                            deadlines.insert((at, token));
                            deadline_of.insert(token, at);
                        }
                    }
                }
            }
            let wait = deadlines
                .first()
                .map(|&(at, _)| at.saturating_duration_since(os_now()));
            if let Err(error) = timer.poll(&mut poll, &mut events, wait) {
                if error.kind() != io::ErrorKind::Interrupted {
                    // Nothing to blame it on: try again shortly rather than spin.
                    events.clear();
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}
