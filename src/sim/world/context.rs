//! Which program is running: while the world polls a task, the thread knows the world, the
//! host and the task, so that `Stream::connect`, `sleep` or `spawn` called by the program act
//! on its own host at the world's time, as a program's calls act on its own machine.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use super::core::Core;
use super::executor::{Executor, TaskId};
use super::topology::NodeId;
use crate::time::Instant;

/// The program being polled.
pub(super) struct Current {
    pub(super) core: Rc<RefCell<Core>>,
    pub(super) executor: Rc<Executor>,
    pub(super) host: NodeId,
    /// How many times the host has restarted: what a crash leaves behind never acts on the
    /// restarted host.
    pub(super) incarnation: u32,
    pub(super) task: TaskId,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Current>>> = const { RefCell::new(None) };
}

/// While alive, `current` is the running program; the previous one (if any) comes back after.
pub(super) struct Entered {
    previous: Option<Rc<Current>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|cell| *cell.borrow_mut() = previous);
    }
}

/// Make `current` the running program until the returned guard is dropped.
pub(super) fn enter(current: Rc<Current>) -> Entered {
    let previous = CURRENT.with(|cell| cell.borrow_mut().replace(current));
    Entered { previous }
}

/// The running program. Panics outside one, with what to do instead: these functions only
/// mean something inside a world.
pub(super) fn current(what: &str) -> Rc<Current> {
    CURRENT
        .with(|cell| cell.borrow().clone())
        .unwrap_or_else(|| {
            panic!(
                "{what} was called outside a program of a ferry::sim::world::World: \
                 call it from a program given to World::host or World::client"
            )
        })
}

/// Note what the running task now waits for, for the report of a run that never ends.
pub(super) fn note_wait(waiting_on: WaitingOn) {
    CURRENT.with(|cell| {
        if let Some(current) = &*cell.borrow() {
            current.executor.note_wait(current.task, waiting_on);
        }
    });
}

/// What the running task said it waits for since it was last polled, if anything.
pub(super) fn waiting_now() -> Option<WaitingOn> {
    CURRENT.with(|cell| {
        let current = cell.borrow();
        let current = current.as_ref()?;
        Some(current.executor.waiting_on(current.task)).filter(|&w| w != WaitingOn::Unknown)
    })
}

/// What a task waits for, as the world last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WaitingOn {
    /// Nothing the world knows of: a channel, a lock, a future of its own.
    Unknown,
    /// Ready to run again (it yielded).
    Running,
    Connect(SocketAddr),
    /// A punch through the rendezvous server at this address.
    Punch(SocketAddr),
    Accept(SocketAddr),
    Read(SocketAddr),
    Write(SocketAddr),
    /// The peer's acknowledgment of our data and FIN (`shutdown`, `close`).
    Acknowledgment(SocketAddr),
    Receive(SocketAddr),
    Sleep(Instant),
    Join(TaskId),
}

impl fmt::Display for WaitingOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitingOn::Unknown => f.write_str(
                "something outside the world's sockets and timers (a channel, a lock, ...)",
            ),
            WaitingOn::Running => f.write_str("nothing: it was ready to run"),
            WaitingOn::Connect(peer) => write!(f, "connect to {peer}"),
            WaitingOn::Punch(server) => write!(f, "punch through the rendezvous at {server}"),
            WaitingOn::Accept(local) => write!(f, "accept on {local}"),
            WaitingOn::Read(peer) => write!(f, "read from {peer}"),
            WaitingOn::Write(peer) => write!(f, "write to {peer} (the send buffer is full)"),
            WaitingOn::Acknowledgment(peer) => {
                write!(
                    f,
                    "{peer} to acknowledge the data and FIN (shutdown or close)"
                )
            }
            WaitingOn::Receive(local) => write!(f, "recv_from on {local}"),
            WaitingOn::Sleep(until) => write!(f, "sleep until {until} s"),
            WaitingOn::Join(task) => write!(f, "task {task} to finish"),
        }
    }
}
