//! [`World`]: the programs and the loop that runs them. Between two events of the clock, the
//! world polls every woken task until all wait, sends what their sockets have to send, then
//! jumps the clock to the next thing due and does it (a control event, a link's datagram, an
//! endpoint's timer, a program's timer). Control events apply there too, or from the test's
//! code between steps.

use std::cell::{Ref, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::agenda::Due;
use super::context::{self, Current};
use super::control::{Control, Cut, Scheduled};
use super::core::Core;
use super::error::{ConfigError, RunError, Waiting};
use super::executor::{Executor, ReadyTask, TaskFuture, TaskId};
use super::host::HostStats;
use super::ladder::WorldLadder;
use super::links::WorldLink;
use super::middlebox::{downcast, Middlebox};
use super::nat::{Nat, NatTable};
use super::router::RouterStats;
use super::socket::Socket;
use super::topology::{NodeId, Nodes, Role};
use super::trace::{WorldEvents, WorldTrace};
use crate::capture::{window_scale_for, CaptureWriter, View};
use crate::conn::Config;
use crate::fault::FaultStats;
use crate::ladder::{Ladder, LadderOptions};
use crate::link::LinkStats;
use crate::sim::HostCapture;
use crate::time::Instant;

/// What a program returns: `Ok`, or any error, which fails the run
/// ([`RunError::Failed`]).
pub type ProgramResult = Result<(), Box<dyn std::error::Error>>;

/// A host program's factory: called at the start, and again at each restart.
type Factory = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ProgramResult>>>>;

/// The program a host runs.
enum Program {
    /// Runs for the life of the host and starts again when it restarts
    /// ([`World::host`]).
    Server(Factory),
    /// Runs once; the run ends when every client has finished ([`World::client`]).
    Client,
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Running,
    Finished,
    /// Its host crashed before it finished.
    Killed,
}

/// A program's end, as its task reports it.
struct Outcome {
    host: NodeId,
    incarnation: u32,
    error: Option<String>,
}

/// What a [`Cut`] acts on.
enum Target {
    Link(usize),
    Hosts(NodeId, NodeId),
}

/// What a link direction counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkReport {
    /// The link's queue and deliveries.
    pub link: LinkStats,
    /// Its fault injector's decisions.
    pub faults: FaultStats,
    /// Datagrams lost to a partition of the link.
    pub partition_drops: u64,
    /// Datagrams a hold of the link dropped, full ([`HOLD_LIMIT`](super::HOLD_LIMIT)).
    pub hold_drops: u64,
    /// Bytes of the datagrams that reached the far end (Ferry's header included; the world
    /// adds no IP or UDP header): at [`rate_bps`](Self::rate_bps), the time the link spent
    /// sending them.
    pub delivered_bytes: u64,
    /// The rate the link sends at now (its own, or its fault spec's `rate=`), in bits per
    /// second; `None` for no limit.
    pub rate_bps: Option<u64>,
}

impl LinkReport {
    /// The share of `window` the link spent sending what it delivered, from 0 to 1 (a little
    /// over 1 if `window` is shorter than the time it was busy); `None` for a link with no
    /// rate, or an empty window.
    pub fn busy_fraction(&self, window: Duration) -> Option<f64> {
        let rate = self.rate_bps? as f64;
        let window = window.as_secs_f64();
        (window > 0.0).then(|| self.delivered_bytes as f64 * 8.0 / rate / window)
    }
}

/// A simulated world of hosts, routers and links, running programs on a virtual clock: see
/// the [module docs](super).
pub struct World {
    core: Rc<RefCell<Core>>,
    executor: Rc<Executor>,
    programs: BTreeMap<NodeId, Program>,
    clients: BTreeMap<NodeId, ClientState>,
    outcomes: Rc<RefCell<Vec<Outcome>>>,
    schedule: Vec<Scheduled>,
    time_limit: Duration,
    event_budget: u64,
    events: u64,
    /// The error that ended the run: every later call returns it.
    failed: Option<RunError>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.core.borrow();
        f.debug_struct("World")
            .field("seed", &core.seed)
            .field("now", &core.now)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The tasks go first, with no borrow held: their streams tell the core as they go.
        drop(self.executor.remove_all());
    }
}

impl World {
    /// Describe a world: [`Builder`](super::Builder).
    pub fn builder() -> super::Builder {
        super::Builder::default()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        seed: u64,
        connection: Config,
        linger: Option<Duration>,
        time_limit: Duration,
        event_budget: u64,
        nodes: Nodes,
        links: Vec<WorldLink>,
    ) -> World {
        World {
            core: Rc::new(RefCell::new(Core::new(
                seed, connection, linger, nodes, links,
            ))),
            executor: Rc::new(Executor::new()),
            programs: BTreeMap::new(),
            clients: BTreeMap::new(),
            outcomes: Rc::new(RefCell::new(Vec::new())),
            schedule: Vec::new(),
            time_limit,
            event_budget,
            events: 0,
            failed: None,
        }
    }

    /// The seed the world's randomness derives from.
    pub fn seed(&self) -> u64 {
        self.core.borrow().seed
    }

    /// The world's time since it started.
    pub fn now(&self) -> Duration {
        self.core.borrow().now.since_epoch()
    }

    /// How many events (clock events and task polls) the run has taken.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Run `program` on host `host` for the life of the host: it starts when the run does (or
    /// now, if the run is under way), and again from the start each time the host restarts.
    /// A server, typically; the run does not wait for it to finish.
    pub fn host<F, Fut>(&mut self, host: &str, program: F) -> Result<(), ConfigError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ProgramResult> + 'static,
    {
        let id = self.program_host(host)?;
        let factory: Factory = Rc::new(move || Box::pin(program()));
        self.programs
            .insert(id, Program::Server(Rc::clone(&factory)));
        self.start_program(id, factory());
        Ok(())
    }

    /// Run `program` on host `host`, once: [`run`](Self::run) ends when every client has
    /// finished. A crash of its host ends it for good (a restart does not bring it back).
    pub fn client<Fut>(&mut self, host: &str, program: Fut) -> Result<(), ConfigError>
    where
        Fut: Future<Output = ProgramResult> + 'static,
    {
        let id = self.program_host(host)?;
        self.programs.insert(id, Program::Client);
        self.clients.insert(id, ClientState::Running);
        self.start_program(id, Box::pin(program));
        Ok(())
    }

    fn program_host(&self, host: &str) -> Result<NodeId, ConfigError> {
        let id = self.core.borrow().nodes.find_host(host)?;
        if self.programs.contains_key(&id) {
            return Err(ConfigError::ProgramAlreadySet {
                host: host.to_string(),
            });
        }
        Ok(id)
    }

    /// Start the program of host `id` as a task of its current incarnation.
    fn start_program(&self, id: NodeId, program: Pin<Box<dyn Future<Output = ProgramResult>>>) {
        let Some(incarnation) = self.core.borrow().host(id).map(|host| host.incarnation) else {
            return;
        };
        let outcomes = Rc::clone(&self.outcomes);
        let task: TaskFuture = Box::pin(async move {
            let result = program.await;
            outcomes.borrow_mut().push(Outcome {
                host: id,
                incarnation,
                error: result.err().map(|error| error.to_string()),
            });
        });
        self.executor.spawn(id, incarnation, true, task);
    }

    /// From now on, write what crosses `node`'s interface toward `neighbor` to `capture`: what
    /// leaves by it (before the link's faults, with why it was sent and what the link did)
    /// and what arrives by it (after them, with what became of it). Call
    /// [`finish_captures`](Self::finish_captures) at the end.
    pub fn capture(
        &mut self,
        node: &str,
        neighbor: &str,
        capture: HostCapture,
    ) -> Result<(), ConfigError> {
        let mut core = self.core.borrow_mut();
        let (a, b) = (core.nodes.find(node)?, core.nodes.find(neighbor)?);
        let (link, side) = core.link_between(a, b).ok_or_else(|| ConfigError::NoLink {
            from: node.to_string(),
            to: neighbor.to_string(),
        })?;
        // A replaced tap's write error surfaces at finish_captures, through its writer.
        let _ = core.taps.tap(link, side, capture);
        Ok(())
    }

    /// Every interface of the world as `(node, neighbor)`: both ends of each link, in the
    /// order the description named the links. [`capture`](Self::capture) taps one.
    pub fn interfaces(&self) -> Vec<(String, String)> {
        let core = self.core.borrow();
        let name = |id: NodeId| core.nodes.list[id].name.clone();
        core.links
            .iter()
            .flat_map(|link| {
                let [a, b] = link.ends.map(|end| end.node);
                [(name(a), name(b)), (name(b), name(a))]
            })
            .collect()
    }

    /// Tap every interface of the world from now on, each into a pcapng file of its own in
    /// `directory` (which must exist): `NODE-NEIGHBOR.pcapng`, in `view`, with the window
    /// scale the connections' receive buffer needs. Returns the files' paths. Call
    /// [`finish_captures`](Self::finish_captures) at the end.
    pub fn capture_every_interface(
        &mut self,
        directory: &Path,
        view: View,
    ) -> io::Result<Vec<PathBuf>> {
        let receive_buffer = self.core.borrow().connection.recv_buffer.max();
        let window_scale = window_scale_for(u32::try_from(receive_buffer).unwrap_or(u32::MAX));
        let mut paths = Vec::new();
        for (node, neighbor) in self.interfaces() {
            let path = directory.join(format!("{node}-{neighbor}.pcapng"));
            let file: Box<dyn Write + Send> = Box::new(BufWriter::new(File::create(&path)?));
            let capture = CaptureWriter::new(file, view, window_scale)?;
            self.capture(&node, &neighbor, capture)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Write out what the captures still hold and flush them: the first error any met (the
    /// run itself never depends on its captures).
    pub fn finish_captures(&mut self) -> io::Result<()> {
        self.core.borrow_mut().taps.finish()
    }

    /// From now on, record what the hosts send, what becomes of it hop by hop, and the timers
    /// that fired, for a ladder diagram ([`crate::ladder`]) of `options`'s window: one line
    /// per host, each datagram an arrow from its sender to the host it was delivered to, a
    /// drop at a router or a link a cross with the reason (`sim/world/ladder.rs` says what is
    /// drawn and how). Take it with [`take_ladder`](Self::take_ladder).
    pub fn record_ladder(&mut self, options: LadderOptions) {
        let mut core = self.core.borrow_mut();
        let ladder = WorldLadder::new(&core.nodes, &core.links, options);
        core.ladder = Some(ladder);
    }

    /// The ladder recorded since [`record_ladder`](Self::record_ladder), if any (datagrams
    /// still on their way are in flight); recording stops.
    pub fn take_ladder(&mut self) -> Option<Ladder> {
        let ladder = self.core.borrow_mut().ladder.take();
        ladder.map(WorldLadder::finish)
    }

    /// From now on, record every connection trace event ([`crate::conn::TraceEvent`]: sent,
    /// received and lost segments, timers, states, recovery episodes, metrics) of every
    /// host's Ferry sockets, each naming its host and connection, for a qlog file per host
    /// (`sim/world/trace.rs` says how connections are named). Call it before the run, so that
    /// every connection is traced from its start. Take the record with
    /// [`take_events`](Self::take_events).
    pub fn record_events(&mut self) {
        let mut core = self.core.borrow_mut();
        let trace = WorldTrace::new(&core.nodes);
        core.trace = Some(trace);
        for node in &mut core.nodes.list {
            let Some(host) = node.host_mut() else {
                continue;
            };
            for socket in host.sockets.values_mut() {
                if let Socket::Ferry(socket) = socket {
                    socket.endpoint.set_tracing(true);
                }
            }
        }
    }

    /// The events recorded since [`record_events`](Self::record_events), if asked for;
    /// recording stops.
    pub fn take_events(&mut self) -> Option<WorldEvents> {
        self.core.borrow_mut().take_trace()
    }

    /// What host `host` counted.
    pub fn host_stats(&self, host: &str) -> Result<HostStats, ConfigError> {
        let core = self.core.borrow();
        let id = core.nodes.find_host(host)?;
        Ok(core.host(id).map(|host| host.stats).unwrap_or_default())
    }

    /// What router `router` counted.
    pub fn router_stats(&self, router: &str) -> Result<RouterStats, ConfigError> {
        let core = self.core.borrow();
        let id = core.nodes.find(router)?;
        match &core.nodes.list[id].role {
            Role::Router(router) => Ok(router.stats.clone()),
            Role::Host(_) => Ok(RouterStats::default()),
        }
    }

    /// The middlebox on router `router`, as the type it was given as: `None` if the router
    /// has none, or one of another type. Hold it only between steps: the world cannot run
    /// while it is borrowed.
    pub fn middlebox<M: Middlebox + 'static>(
        &self,
        router: &str,
    ) -> Result<Option<Ref<'_, M>>, ConfigError> {
        let core = self.core.borrow();
        let id = core.nodes.find(router)?;
        Ok(
            Ref::filter_map(core, |core| match &core.nodes.list[id].role {
                Role::Router(router) => router
                    .middlebox
                    .as_deref()
                    .and_then(|middlebox| downcast::<M>(middlebox)),
                Role::Host(_) => None,
            })
            .ok(),
        )
    }

    /// The [`Nat`] on router `router` (its configuration, counters, and the mapping table at
    /// a time of your choosing).
    pub fn nat(&self, router: &str) -> Result<Ref<'_, Nat>, ConfigError> {
        self.middlebox::<Nat>(router)?.ok_or_else(|| {
            let core = self.core.borrow();
            let nats = core
                .nodes
                .list
                .iter()
                .filter(|node| match &node.role {
                    Role::Router(router) => router
                        .middlebox
                        .as_deref()
                        .is_some_and(|middlebox| downcast::<Nat>(middlebox).is_some()),
                    Role::Host(_) => false,
                })
                .map(|node| node.name.clone())
                .collect();
            ConfigError::NotANat {
                router: router.to_string(),
                nats,
            }
        })
    }

    /// The mapping table of the NAT on router `router` now, in the lecture's form: each
    /// internal endpoint, the external endpoint it is mapped to, and the remote endpoints it
    /// has sent to (which the NAT's filter admits replies from). It prints as a table.
    pub fn nat_table(&self, router: &str) -> Result<NatTable, ConfigError> {
        Ok(self.nat(router)?.table(self.now()))
    }

    /// What the direction of the link from `from` to `to` counted.
    pub fn link_stats(&self, from: &str, to: &str) -> Result<LinkReport, ConfigError> {
        let core = self.core.borrow();
        let (link, side) = self.find_link(&core, from, to)?;
        let direction = &core.links[link].directions[side];
        Ok(LinkReport {
            link: direction.link.stats(),
            faults: direction.link.fault_stats(),
            partition_drops: direction.partition_drops,
            hold_drops: direction.hold_drops,
            delivered_bytes: direction.delivered_bytes,
            rate_bps: direction.rate_bps(),
        })
    }

    /// The links a datagram from node `from` to `destination` crosses by the routing
    /// tables, as (sending node, receiving node) pairs in order: up to the node that has the
    /// address, or to where the routes end (no route, or [`DEFAULT_TTL`](super::DEFAULT_TTL)
    /// hops). A middlebox's rewrites are not followed. The flows whose paths share a link
    /// share its queue.
    pub fn path(
        &self,
        from: &str,
        destination: IpAddr,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let core = self.core.borrow();
        let id = core.nodes.find(from)?;
        let name = |node: NodeId| core.nodes.list[node].name.clone();
        Ok(core
            .route_path(id, destination)
            .into_iter()
            .map(|(link, side)| {
                let ends = &core.links[link].ends;
                (name(ends[side].node), name(ends[1 - side].node))
            })
            .collect())
    }

    /// Datagrams dropped by partitions between pairs of hosts.
    pub fn host_partition_drops(&self) -> u64 {
        self.core.borrow().pair_partition_drops
    }

    /// Datagrams dropped by holds between pairs of hosts that were full
    /// ([`HOLD_LIMIT`](super::HOLD_LIMIT)).
    pub fn host_hold_drops(&self) -> u64 {
        self.core.borrow().pair_hold_drops
    }

    /// Whether host `host` is up (not crashed).
    pub fn is_up(&self, host: &str) -> Result<bool, ConfigError> {
        let core = self.core.borrow();
        let id = core.nodes.find_host(host)?;
        Ok(core.host(id).is_some_and(|host| host.up))
    }

    fn find_link(&self, core: &Core, from: &str, to: &str) -> Result<(usize, usize), ConfigError> {
        let (a, b) = (core.nodes.find(from)?, core.nodes.find(to)?);
        core.link_between(a, b).ok_or_else(|| ConfigError::NoLink {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    // ---- Control ----

    /// Apply `control` now.
    pub fn control(&mut self, control: Control) -> Result<(), ConfigError> {
        self.check(&control)?;
        self.apply(&control);
        Ok(())
    }

    /// Apply each event of `schedule` at its time (since the run started): a list a property
    /// test can generate and shrink, since a run is a function of its seed, its description
    /// and its schedule. Every name is checked now; an event in the past is an error.
    pub fn schedule(
        &mut self,
        schedule: impl IntoIterator<Item = Scheduled>,
    ) -> Result<(), ConfigError> {
        let now = self.now();
        let schedule: Vec<Scheduled> = schedule.into_iter().collect();
        for event in &schedule {
            if event.at < now {
                return Err(ConfigError::InThePast { at: event.at, now });
            }
            self.check(&event.control)?;
        }
        let mut core = self.core.borrow_mut();
        for event in schedule {
            let index = self.schedule.len();
            core.agenda
                .book(Due::Control(index), Some(Instant::ZERO + event.at));
            self.schedule.push(event);
        }
        Ok(())
    }

    /// Partition `cut` now: [`Control::Partition`].
    pub fn partition(&mut self, cut: Cut) -> Result<(), ConfigError> {
        self.control(Control::Partition(cut))
    }

    /// Repair `cut` now: [`Control::Repair`].
    pub fn repair(&mut self, cut: Cut) -> Result<(), ConfigError> {
        self.control(Control::Repair(cut))
    }

    /// Hold `cut` now: [`Control::Hold`].
    pub fn hold(&mut self, cut: Cut) -> Result<(), ConfigError> {
        self.control(Control::Hold(cut))
    }

    /// Release `cut` now: [`Control::Release`].
    pub fn release(&mut self, cut: Cut) -> Result<(), ConfigError> {
        self.control(Control::Release(cut))
    }

    /// Crash host `host` now: [`Control::Crash`].
    pub fn crash(&mut self, host: &str) -> Result<(), ConfigError> {
        self.control(Control::Crash(host.to_string()))
    }

    /// Restart host `host` now: [`Control::Restart`].
    pub fn restart(&mut self, host: &str) -> Result<(), ConfigError> {
        self.control(Control::Restart(host.to_string()))
    }

    /// Check that every name `control` uses is there, and of the right kind.
    fn check(&self, control: &Control) -> Result<(), ConfigError> {
        let core = self.core.borrow();
        match control {
            Control::Partition(cut)
            | Control::Repair(cut)
            | Control::Hold(cut)
            | Control::Release(cut) => match cut {
                Cut::Link { a, b } => self.find_link(&core, a, b).map(drop),
                Cut::Hosts { a, b } => {
                    core.nodes.find_host(a)?;
                    core.nodes.find_host(b).map(drop)
                }
            },
            Control::SetFaults { from, to, .. } => self.find_link(&core, from, to).map(drop),
            Control::Crash(host) | Control::Restart(host) => core.nodes.find_host(host).map(drop),
        }
    }

    /// Apply a checked control event.
    fn apply(&mut self, control: &Control) {
        let mut core = self.core.borrow_mut();
        match control {
            Control::Partition(cut) | Control::Repair(cut) => {
                let on = matches!(control, Control::Partition(_));
                match self.target(&core, cut) {
                    Some(Target::Link(link)) => core.partition_link(link, on),
                    Some(Target::Hosts(a, b)) => core.partition_hosts(a, b, on),
                    None => {}
                }
            }
            Control::Hold(cut) | Control::Release(cut) => {
                let on = matches!(control, Control::Hold(_));
                match self.target(&core, cut) {
                    Some(Target::Link(link)) => core.hold_link(link, on),
                    Some(Target::Hosts(a, b)) => core.hold_hosts(a, b, on),
                    None => {}
                }
            }
            Control::SetFaults { from, to, faults } => {
                if let Ok((link, side)) = self.find_link(&core, from, to) {
                    let direction = &mut core.links[link].directions[side];
                    direction.spec_rate = faults.rate;
                    direction.link.set_faults(faults.clone());
                }
            }
            Control::Crash(name) | Control::Restart(name) => {
                let Ok(id) = core.nodes.find_host(name) else {
                    return;
                };
                drop(core);
                self.crash_host(id);
                if matches!(control, Control::Restart(_)) {
                    self.core.borrow_mut().restart(id);
                    if let Some(Program::Server(factory)) = self.programs.get(&id) {
                        let factory = Rc::clone(factory);
                        self.start_program(id, factory());
                    }
                }
            }
        }
    }

    /// What a checked cut names.
    fn target(&self, core: &Core, cut: &Cut) -> Option<Target> {
        match cut {
            Cut::Link { a, b } => self
                .find_link(core, a, b)
                .ok()
                .map(|(link, _)| Target::Link(link)),
            Cut::Hosts { a, b } => {
                let (a, b) = (core.nodes.find_host(a).ok()?, core.nodes.find_host(b).ok()?);
                Some(Target::Hosts(a, b))
            }
        }
    }

    /// Crash host `id`: sockets first (nothing more goes out), then its tasks, dropped with no
    /// borrow held, since their streams tell the world they are gone (and find their socket
    /// gone with the host).
    fn crash_host(&mut self, id: NodeId) {
        let sockets = self.core.borrow_mut().crash(id);
        drop(sockets);
        drop(self.executor.remove_host(id));
        if let Some(state) = self.clients.get_mut(&id) {
            if *state == ClientState::Running {
                *state = ClientState::Killed;
            }
        }
    }

    // ---- Running ----

    /// Run until every client has finished (or, with no client, until nothing is left to
    /// happen), and report the first thing that went wrong: a program that failed or
    /// panicked, or a run that would not end (the time limit, the event budget, or a world
    /// gone quiet with clients still waiting), naming who waited on what.
    pub fn run(&mut self) -> Result<(), RunError> {
        loop {
            self.settle()?;
            if !self.clients.is_empty() && self.clients_done() {
                return Ok(());
            }
            if !self.advance(None)? {
                if self.clients_done() {
                    return Ok(());
                }
                return Err(RunError::Stalled {
                    seed: self.seed(),
                    at: self.now(),
                    waiting: self.waiting(),
                });
            }
        }
    }

    /// Run everything due up to `until` (since the start), then leave the clock there: for a
    /// test that acts between steps.
    pub fn run_until(&mut self, until: Duration) -> Result<(), RunError> {
        let until = Instant::ZERO + until;
        loop {
            self.settle()?;
            if !self.advance(Some(until))? {
                break;
            }
        }
        let mut core = self.core.borrow_mut();
        core.now = core.now.max(until);
        Ok(())
    }

    /// Move the clock to the next thing due and do it, with the programs run before and
    /// after. False when nothing was left to happen.
    pub fn step(&mut self) -> Result<bool, RunError> {
        self.settle()?;
        let moved = self.advance(None)?;
        self.settle()?;
        Ok(moved)
    }

    /// Whether every client has finished (or been killed).
    fn clients_done(&self) -> bool {
        self.clients
            .values()
            .all(|&state| state != ClientState::Running)
    }

    /// Poll the woken tasks until every one waits, sending what their sockets have to send.
    fn settle(&mut self) -> Result<(), RunError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            while self.executor.has_ready() {
                // Counted before the task is taken, so that a report names it ready to run.
                self.count_event()?;
                let Some(ready) = self.executor.next_ready() else {
                    break;
                };
                let ReadyTask {
                    task,
                    mut future,
                    waker,
                    host,
                    incarnation,
                    is_program,
                } = ready;
                let current = Rc::new(Current {
                    core: Rc::clone(&self.core),
                    executor: Rc::clone(&self.executor),
                    host,
                    incarnation,
                    task,
                });
                let entered = context::enter(current);
                let mut cx = Context::from_waker(&waker);
                let polled =
                    panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
                drop(entered);
                match polled {
                    Ok(Poll::Ready(())) => {
                        self.executor.finish(task);
                        drop(future);
                    }
                    Ok(Poll::Pending) => drop(self.executor.put_back(task, future)),
                    Err(payload) => {
                        self.executor.finish(task);
                        // The future may be in any state: its drop must not take the report
                        // down with a second panic.
                        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
                        let error = RunError::Panicked {
                            host: self.host_name(host),
                            task: task_name(task, is_program),
                            message: panic_message(&payload),
                            seed: self.seed(),
                            at: self.now(),
                        };
                        self.failed = Some(error.clone());
                        return Err(error);
                    }
                }
                self.take_outcomes()?;
            }
            self.core.borrow_mut().flush();
            if !self.executor.has_ready() {
                return Ok(());
            }
        }
    }

    /// Note the programs that ended: a client's end finishes it, an error fails the run.
    fn take_outcomes(&mut self) -> Result<(), RunError> {
        let outcomes = std::mem::take(&mut *self.outcomes.borrow_mut());
        for outcome in outcomes {
            let current = self
                .core
                .borrow()
                .host(outcome.host)
                .is_some_and(|host| host.incarnation == outcome.incarnation);
            if !current {
                continue;
            }
            if let Some(error) = outcome.error {
                let error = RunError::Failed {
                    host: self.host_name(outcome.host),
                    error,
                    seed: self.seed(),
                    at: self.now(),
                };
                self.failed = Some(error.clone());
                return Err(error);
            }
            if let Some(state) = self.clients.get_mut(&outcome.host) {
                *state = ClientState::Finished;
            }
        }
        Ok(())
    }

    /// Move the clock to the next time something is booked (not past `until`) and do
    /// everything due then. False if nothing is booked (by `until`).
    fn advance(&mut self, until: Option<Instant>) -> Result<bool, RunError> {
        let Some(next) = self.core.borrow_mut().agenda.next() else {
            return Ok(false);
        };
        if until.is_some_and(|until| next > until) {
            return Ok(false);
        }
        if next > Instant::ZERO + self.time_limit {
            let error = RunError::TimeLimit {
                limit: self.time_limit,
                seed: self.seed(),
                waiting: self.waiting(),
            };
            self.failed = Some(error.clone());
            return Err(error);
        }
        {
            let mut core = self.core.borrow_mut();
            core.now = core.now.max(next);
        }
        loop {
            let now = self.core.borrow().now;
            let Some(due) = self.core.borrow_mut().agenda.pop_due(now) else {
                break;
            };
            self.count_event()?;
            match due {
                Due::Control(index) => {
                    let control = self.schedule[index].control.clone();
                    self.apply(&control);
                }
                other => self.core.borrow_mut().handle(other),
            }
        }
        Ok(true)
    }

    fn count_event(&mut self) -> Result<(), RunError> {
        self.events += 1;
        if self.events <= self.event_budget {
            return Ok(());
        }
        let error = RunError::EventBudget {
            budget: self.event_budget,
            seed: self.seed(),
            at: self.now(),
            waiting: self.waiting(),
        };
        self.failed = Some(error.clone());
        Err(error)
    }

    /// Every unfinished task and what it waits for.
    fn waiting(&self) -> Vec<Waiting> {
        self.executor
            .unfinished()
            .into_iter()
            .map(|task| Waiting {
                host: self.host_name(task.host),
                task: task_name(task.task, task.is_program),
                on: task.waiting_on.to_string(),
            })
            .collect()
    }

    fn host_name(&self, id: NodeId) -> String {
        self.core.borrow().nodes.list[id].name.clone()
    }
}

/// How a report names a task.
fn task_name(task: TaskId, is_program: bool) -> String {
    match is_program {
        true => "program".to_string(),
        false => format!("task {task}"),
    }
}

/// A panic's message, when it has one.
pub(super) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        return (*message).to_string();
    }
    if let Some(message) = payload.downcast_ref::<String>() {
        return message.clone();
    }
    "(a panic without a message)".to_string()
}
