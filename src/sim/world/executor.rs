//! The world's executor: every host's tasks on one thread, polled one at a time in the order
//! they were woken, so a run never depends on a thread scheduler. A waker only puts its task
//! on the ready queue; the world polls the queue between the events of its clock.
//!
//! [`spawn`] starts a task on the running program's host (a crash ends it with the host);
//! [`JoinHandle`] waits for its result, as tokio's does.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use super::context::{self, WaitingOn};
use super::topology::NodeId;

/// A task's number, in the order tasks were started: never reused.
pub(super) type TaskId = u64;

/// A task's future, boxed.
pub(super) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The tasks woken and not yet polled, oldest first, each once.
#[derive(Debug, Default)]
struct ReadyQueue {
    queue: Mutex<(VecDeque<TaskId>, BTreeSet<TaskId>)>,
}

impl ReadyQueue {
    fn push(&self, task: TaskId) {
        let mut ready = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if ready.1.insert(task) {
            ready.0.push_back(task);
        }
    }

    fn pop(&self) -> Option<TaskId> {
        let mut ready = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let task = ready.0.pop_front()?;
        ready.1.remove(&task);
        Some(task)
    }

    fn contains(&self, task: TaskId) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .contains(&task)
    }

    fn is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .is_empty()
    }
}

/// A task's waker: waking it queues the task.
struct TaskWaker {
    task: TaskId,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.push(self.task);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.push(self.task);
    }
}

/// One task.
struct Task {
    host: NodeId,
    incarnation: u32,
    /// `None` while it is being polled.
    future: Option<TaskFuture>,
    /// What it waited for when last polled.
    waiting_on: WaitingOn,
    /// The host's program, as opposed to a task it spawned.
    is_program: bool,
    waker: Waker,
}

/// A task taken out to be polled.
pub(super) struct ReadyTask {
    pub(super) task: TaskId,
    pub(super) future: TaskFuture,
    pub(super) waker: Waker,
    pub(super) host: NodeId,
    pub(super) incarnation: u32,
    pub(super) is_program: bool,
}

/// A task that has not finished, as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Unfinished {
    pub(super) host: NodeId,
    pub(super) task: TaskId,
    pub(super) is_program: bool,
    pub(super) waiting_on: WaitingOn,
}

/// Every task of the world.
pub(super) struct Executor {
    tasks: RefCell<BTreeMap<TaskId, Task>>,
    ready: Arc<ReadyQueue>,
    next_task: Cell<TaskId>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.tasks.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Executor {
    pub(super) fn new() -> Executor {
        Executor {
            tasks: RefCell::new(BTreeMap::new()),
            ready: Arc::new(ReadyQueue::default()),
            next_task: Cell::new(0),
        }
    }

    /// Start `future` on `host` (in its `incarnation`); it is polled once the world settles.
    pub(super) fn spawn(
        &self,
        host: NodeId,
        incarnation: u32,
        is_program: bool,
        future: TaskFuture,
    ) -> TaskId {
        let task = self.next_task.get();
        self.next_task.set(task + 1);
        let waker = Waker::from(Arc::new(TaskWaker {
            task,
            ready: Arc::clone(&self.ready),
        }));
        self.tasks.borrow_mut().insert(
            task,
            Task {
                host,
                incarnation,
                future: Some(future),
                waiting_on: WaitingOn::Running,
                is_program,
                waker,
            },
        );
        self.ready.push(task);
        task
    }

    /// The next woken task that still exists, its future taken out to be polled.
    pub(super) fn next_ready(&self) -> Option<ReadyTask> {
        loop {
            let task = self.ready.pop()?;
            let mut tasks = self.tasks.borrow_mut();
            let Some(entry) = tasks.get_mut(&task) else {
                continue;
            };
            let Some(future) = entry.future.take() else {
                continue;
            };
            entry.waiting_on = WaitingOn::Unknown;
            return Some(ReadyTask {
                task,
                future,
                waker: entry.waker.clone(),
                host: entry.host,
                incarnation: entry.incarnation,
                is_program: entry.is_program,
            });
        }
    }

    /// Give back the future of a task that returned `Pending`. A task removed meanwhile (it
    /// aborted itself) gets its future back, for the caller to drop with no borrow held.
    #[must_use]
    pub(super) fn put_back(&self, task: TaskId, future: TaskFuture) -> Option<TaskFuture> {
        match self.tasks.borrow_mut().get_mut(&task) {
            Some(entry) => {
                entry.future = Some(future);
                None
            }
            None => Some(future),
        }
    }

    /// Forget a task that finished.
    pub(super) fn finish(&self, task: TaskId) {
        self.tasks.borrow_mut().remove(&task);
    }

    /// Whether some task waits to be polled.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Take every task of `host` out, for the caller to drop once it holds no borrow of the
    /// world (dropping a task drops its streams, which tell the world).
    pub(super) fn remove_host(&self, host: NodeId) -> Vec<TaskFuture> {
        let mut tasks = self.tasks.borrow_mut();
        let ids: Vec<TaskId> = tasks
            .iter()
            .filter(|(_, task)| task.host == host)
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| tasks.remove(&id).and_then(|task| task.future))
            .collect()
    }

    /// Take every task out, for the world's drop.
    pub(super) fn remove_all(&self) -> Vec<TaskFuture> {
        std::mem::take(&mut *self.tasks.borrow_mut())
            .into_values()
            .filter_map(|task| task.future)
            .collect()
    }

    pub(super) fn note_wait(&self, task: TaskId, waiting_on: WaitingOn) {
        if let Some(entry) = self.tasks.borrow_mut().get_mut(&task) {
            entry.waiting_on = waiting_on;
        }
    }

    pub(super) fn waiting_on(&self, task: TaskId) -> WaitingOn {
        self.tasks
            .borrow()
            .get(&task)
            .map_or(WaitingOn::Unknown, |entry| entry.waiting_on)
    }

    /// The tasks that have not finished, in the order they were started; a woken one is
    /// ready to run, whatever it last waited for.
    pub(super) fn unfinished(&self) -> Vec<Unfinished> {
        self.tasks
            .borrow()
            .iter()
            .map(|(&task, entry)| Unfinished {
                host: entry.host,
                task,
                is_program: entry.is_program,
                waiting_on: match self.ready.contains(task) {
                    true => WaitingOn::Running,
                    false => entry.waiting_on,
                },
            })
            .collect()
    }
}

/// Why a [`JoinHandle`] has no result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was dropped before it finished: its host crashed, or the handle's
    /// [`abort`](JoinHandle::abort) was called.
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("the task was cancelled before it finished"),
        }
    }
}

impl std::error::Error for JoinError {}

/// What a spawned task's handle and the task share.
struct JoinState<T> {
    result: Option<Result<T, JoinError>>,
    waiter: Option<Waker>,
}

impl<T> JoinState<T> {
    fn complete(&mut self, result: Result<T, JoinError>) {
        self.result.get_or_insert(result);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }
}

/// Marks the task cancelled if it is dropped before it finishes.
struct CompletionGuard<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> Drop for CompletionGuard<T> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.complete(Err(JoinError::Cancelled));
        }
    }
}

/// Waits for a spawned task's result, as `tokio::task::JoinHandle`: awaiting it gives the
/// task's output, or [`JoinError::Cancelled`] if the task was dropped first. Dropping the
/// handle lets the task run on.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
    task: TaskId,
    executor: std::rc::Weak<Executor>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().result.is_some()
    }

    /// Drop the task now, if it has not finished: awaiting the handle then gives
    /// [`JoinError::Cancelled`].
    pub fn abort(&self) {
        let Some(executor) = self.executor.upgrade() else {
            return;
        };
        let removed = executor.tasks.borrow_mut().remove(&self.task);
        // Dropped here, with no borrow of the executor held: its drop may reach the world.
        drop(removed);
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        state.waiter = Some(cx.waker().clone());
        context::note_wait(WaitingOn::Join(self.task));
        Poll::Pending
    }
}

/// Start `future` as a task of the running program's host, as `tokio::spawn` does (no `Send`
/// needed: the world runs on one thread). It runs until it finishes, its host crashes, or
/// [`JoinHandle::abort`]. Panics outside a world's program.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let current = context::current("ferry::sim::world::spawn");
    let state = Rc::new(RefCell::new(JoinState {
        result: None,
        waiter: None,
    }));
    let guard = CompletionGuard {
        state: Rc::clone(&state),
    };
    let task = current.executor.spawn(
        current.host,
        current.incarnation,
        false,
        Box::pin(async move {
            let output = future.await;
            guard.state.borrow_mut().complete(Ok(output));
        }),
    );
    JoinHandle {
        state,
        task,
        executor: Rc::downgrade(&current.executor),
    }
}

/// Let the other ready tasks run before this one goes on, as `tokio::task::yield_now`.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        context::note_wait(WaitingOn::Running);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
