//! The agent loop: one function generic over the I/O it needs, run unchanged by
//! the daemon (real storage, VM driver, monitors, clock) and by the simulator
//! (simulated ones). There is no second, simplified loop anywhere.
//!
//! One tick: read the whole metadata area, read the VM and the monitors, step the
//! core, publish this host's slot, then run the VM actions the core hands out
//! after the publish (starts only when the publish renewed a held lease).

use std::sync::Arc;

use crate::core::agent::Floors;
use crate::core::{
    ActionResult, Agent, CoreConfig, Decision, FenceOrder, FenceOutcome, FenceReport, LocalVm,
    Millis, Observation, Request, ScoreBreakdown, Sensors, State, VmAction,
};
use crate::metadata::{Area, HostId, LeaseKind, SLOT_SIZE, decode_host_slot, encode_host_slot};

/// Which storage call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageOp {
    Read,
    Write,
}

impl std::fmt::Display for StorageOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageOp::Read => "read",
            StorageOp::Write => "write",
        })
    }
}

/// Why a storage call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// No answer within the store's deadline. A timed-out write may still land
    /// later, over newer ones: readers must not take it for news (the slot's
    /// write sequence, `metadata::SEQ_KEY`, tells them).
    #[error("{op} timed out after {after_ms} ms")]
    Timeout { op: StorageOp, after_ms: u64 },
    /// The storage answered with an error (I/O error, unmounted, read-only).
    #[error("{op}: {reason}")]
    Failed { op: StorageOp, reason: String },
    /// Refused without trying: an earlier call is still blocked on the storage.
    #[error("{op} refused: an earlier call is still blocked on the storage")]
    Busy { op: StorageOp },
    /// Our own slot could not be encoded (a programmer's or configuration error).
    #[error("cannot encode our slot: {0}")]
    Encode(String),
}

/// Reading and writing the shared metadata.
pub trait Storage {
    /// The whole area, decoded slot by slot; `Err` when the read failed or timed
    /// out. Shared (`Arc`) so that an implementation may hand out one decoded area
    /// to many readers without copying it.
    fn read_area(&mut self) -> Result<Arc<Area>, StorageError>;
    /// Writes one whole slot durably; `Err` when it failed or timed out. `Ok`
    /// means the slot landed intact and every reader can see it (`O_DIRECT` +
    /// `O_DSYNC`); the lease's proof relies on it (`core::lease`).
    fn write_slot(&mut self, slot: HostId, bytes: &[u8; SLOT_SIZE]) -> Result<(), StorageError>;
    /// Called after a failed read or write: reconnect the storage (e.g. remount)
    /// without touching the VM. Must be bounded in time.
    fn reconnect(&mut self);
}

/// Why a VM action failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// The VM manager could not be asked (wedged, gone, timed out).
    #[error("the VM manager does not answer: {0}")]
    Unreachable(String),
    /// It was asked, and the action failed or was refused.
    #[error("{0}")]
    Failed(String),
}

/// The engine VM on this host.
pub trait VmDriver {
    fn status(&mut self) -> crate::core::LocalVm;
    /// Runs one action.
    fn act(&mut self, action: VmAction) -> Result<(), VmError>;
}

/// The monitors' latest values and the local maintenance flag (`ha.conf`).
pub trait Monitors {
    fn sensors(&mut self) -> Sensors;
    fn local_maintenance(&mut self) -> bool;
    /// The engine VM is about to be started here: a liveliness reading
    /// measured before now is of another VM (the one that crashed, or the
    /// engine on another host) and must not make this one `EngineUp`.
    fn engine_starting(&mut self);
}

/// The loop's clock, one of its traits; it lives in the leaf `crate::clock`,
/// which the protocol's client shares.
pub use crate::clock::Clock;

/// Why the watchdog cannot be armed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WatchdogError(pub String);

/// The host's watchdog: resets the host unless petted in time. Armed only
/// while something is at stake (a lease claimed or held, or the engine VM
/// here), so that a stalled agent with nothing at stake endangers nobody and
/// is not reset. Its timeout must lie within `Timings::watchdog_range_ms`
/// (the lease's proof, `core::lease`).
pub trait Watchdog {
    /// Arms it before a publish that puts something at stake; an error means
    /// it cannot be armed, and nothing is published.
    fn arm(&mut self, now: Millis) -> Result<(), WatchdogError>;
    /// Pets it (arming it if needed): the loop is alive, has something at
    /// stake, and keeps its promises.
    fn pet(&mut self, now: Millis);
    /// Disarms it (magic close): nothing at stake on this host.
    fn release(&mut self, now: Millis);
    /// Resets the host as soon as the device can (a real device within a
    /// second or its shortest timeout): the host outlived the watchdog's
    /// timeout since its last pet with its lease overdue and the engine VM
    /// not down, so something stopped the countdown (a suspend, a freeze).
    /// Called once per such episode. An error means the device refused: its
    /// stalled countdown runs on from where it stood.
    fn expire(&mut self, now: Millis) -> Result<(), WatchdogError>;
}

impl<W: Watchdog + ?Sized> Watchdog for Box<W> {
    fn arm(&mut self, now: Millis) -> Result<(), WatchdogError> {
        (**self).arm(now)
    }

    fn pet(&mut self, now: Millis) {
        (**self).pet(now);
    }

    fn release(&mut self, now: Millis) {
        (**self).release(now);
    }

    fn expire(&mut self, now: Millis) -> Result<(), WatchdogError> {
        (**self).expire(now)
    }
}

/// Where the loop reports: log lines, state transitions (notifications),
/// operator requests in, the epoch floor out.
pub trait Events {
    fn log(&mut self, now: Millis, line: &str);
    fn transition(&mut self, now: Millis, from: State, to: State);
    /// Operator requests that arrived since the last tick.
    fn take_requests(&mut self) -> Vec<Request>;
    /// Keeps the floors (the highest lease epoch seen, this agent's first
    /// write sequence) somewhere local that outlives the agent and the host's
    /// own slot, durably, before the publish that needs them; handed back as
    /// `CoreConfig::epoch_floor` and `seq_floor`. An error is logged by the
    /// implementation and the publish goes ahead.
    fn persist_floors(&mut self, floors: Floors);
}

/// Power fencing: runs the core's fence orders in the background, so that
/// the loop goes on publishing while a fence agent works.
pub trait Fencer {
    /// Begins `order`: the target's fence agent with `off`, then `status`
    /// until it reports off, every call bounded. Must not block.
    fn begin(&mut self, order: FenceOrder);
    /// The log lines of the fence's calls since the last poll (the fence
    /// agent's program, action, outcome and time taken), and its report
    /// once it ended.
    fn poll(&mut self) -> (Vec<String>, Option<FenceReport>);
}

/// The I/O of one agent.
pub struct Io<S, V, M, C, E, W> {
    pub storage: S,
    pub vm: V,
    pub monitors: M,
    pub clock: C,
    pub events: E,
    pub watchdog: W,
}

/// One host's agent: the core plus its I/O.
pub struct AgentLoop<S, V, M, C, E, W> {
    core: Agent,
    io: Io<S, V, M, C, E, W>,
    results: Vec<ActionResult>,
    /// Since when (by the agent's clock) the shared storage has been failing
    /// this host, and the latest error; `None` while it works.
    storage_trouble: Option<StorageTrouble>,
    /// Whether the last attempt to arm the watchdog succeeded (its failure is
    /// logged once, not every loop, and its end once).
    watchdog_ok: bool,
    /// When this loop last petted the watchdog (`None`: released, or not
    /// petted since this agent started), by the agent's clock.
    last_pet: Option<Millis>,
    /// Whether the watchdog was expired (or refused to be) since the last
    /// pet: once per episode.
    expired: bool,
    /// The VM manager's last answer was no answer, or its last power-off
    /// failed: at the start of a loop whose watchdog promise is broken, a
    /// power-off is not worth waiting for.
    vm_manager_failing: bool,
    /// The last area read successfully, and this host's last score breakdown
    /// (for the status the control socket serves).
    last_area: Option<Arc<Area>>,
    last_score: Option<ScoreBreakdown>,
    /// The floors last handed to [`Events::persist_floors`].
    persisted: Floors,
    /// Whether the last loop's publish landed (was written).
    last_publish_ok: bool,
    /// Whether to keep `last_area` (the daemon's status needs it; the
    /// simulator does not, and holding it would defeat its copy-on-write area).
    keep_last_area: bool,
    /// Runs fences, when this host fences ([`AgentLoop::set_fencer`]).
    fencer: Option<Box<dyn Fencer>>,
    /// A fence order that could not begin, reported as failed next loop.
    fence_refused: Option<FenceReport>,
}

impl<S: Storage, V: VmDriver, M: Monitors, C: Clock, E: Events, W: Watchdog>
    AgentLoop<S, V, M, C, E, W>
{
    /// Starts an agent. The core adopts its own lease from its first successful
    /// read (see [`Agent::new`]).
    pub fn start(cfg: CoreConfig, mut io: Io<S, V, M, C, E, W>) -> Self {
        let now = io.clock.now();
        let core = Agent::new(cfg, now);
        AgentLoop {
            core,
            io,
            results: Vec::new(),
            storage_trouble: None,
            watchdog_ok: true,
            last_pet: None,
            expired: false,
            vm_manager_failing: false,
            last_area: None,
            last_score: None,
            persisted: Floors::default(),
            last_publish_ok: false,
            keep_last_area: false,
            fencer: None,
            fence_refused: None,
        }
    }

    /// Runs the core's fence orders with `fencer` (the core's
    /// `CoreConfig::fencing` says whom it may fence).
    pub fn set_fencer(&mut self, fencer: Box<dyn Fencer>) {
        self.fencer = Some(fencer);
    }

    pub fn core(&self) -> &Agent {
        &self.core
    }

    pub fn io(&self) -> &Io<S, V, M, C, E, W> {
        &self.io
    }

    pub fn io_mut(&mut self) -> &mut Io<S, V, M, C, E, W> {
        &mut self.io
    }

    /// Keeps the last area read successfully for [`AgentLoop::last_area`].
    pub fn keep_last_area(&mut self, keep: bool) {
        self.keep_last_area = keep;
        if !keep {
            self.last_area = None;
        }
    }

    /// The last metadata area read successfully (when kept, see
    /// [`AgentLoop::keep_last_area`]).
    pub fn last_area(&self) -> Option<&Area> {
        self.last_area.as_deref()
    }

    /// Whether the last loop's publish was written.
    pub fn last_publish_ok(&self) -> bool {
        self.last_publish_ok
    }

    /// This host's score breakdown of the last loop.
    pub fn last_score(&self) -> Option<&ScoreBreakdown> {
        self.last_score.as_ref()
    }

    /// One loop. Returns the milliseconds to wait before the next one.
    pub fn tick(&mut self) -> u64 {
        let decided = self.decide();
        self.carry_out(decided)
    }

    /// The first half of a loop: read the whole metadata area, read the VM and
    /// the monitors, step the core. [`AgentLoop::carry_out`] is the second
    /// half; the daemon runs them back to back ([`AgentLoop::tick`]), and the
    /// simulator may put time between them (an agent that stalls between its
    /// read and its write).
    pub fn decide(&mut self) -> Decided {
        let now = self.io.clock.now();
        if self.vm_manager_failing {
            // Before the read, which may wait a storage timeout: a host
            // that must fence, cannot power its VM off and outlived its
            // watchdog's promise is reset now (see `back_up_watchdog`).
            self.back_up_watchdog(now, false);
        }
        let area = self.io.storage.read_area();
        let (observation, vm_here) = self.observe(now, area.as_deref().ok());
        let decision = self.core.step(&observation);
        for line in &decision.log {
            self.io.events.log(now, line);
        }
        for &(from, to) in &decision.transitions {
            self.io.events.transition(now, from, to);
        }
        Decided {
            now,
            area,
            vm_here,
            decision,
        }
    }

    /// The second half of a loop: publish this host's slot, then run the VM
    /// actions the core hands out after the publish (starts only when the
    /// publish renewed a held lease). Returns the milliseconds to wait before
    /// the next loop.
    pub fn carry_out(&mut self, decided: Decided) -> u64 {
        let Decided {
            now,
            area,
            vm_here,
            decision,
        } = decided;
        self.persist_floors();
        let started = self.io.clock.now();
        let publish = self.publish(now, vm_here, &decision);
        let ended = self.io.clock.now();
        // One verdict on the storage per loop: a read that fails while writes
        // work (or the reverse) is one failure, not a flapping pair of lines.
        let write_failure = match &publish.outcome {
            Outcome::Failed(e) => Some(e),
            Outcome::Written | Outcome::Skipped => None,
        };
        self.note_storage(ended, area.as_ref().err().or(write_failure));
        let written = matches!(publish.outcome, Outcome::Written);
        self.last_publish_ok = written;
        let mut actions = self.core.after_publish(started, ended, written);
        if self.core.wants_readback() {
            // A start waits for proof that our `held` publish landed intact.
            let area = self.io.storage.read_area();
            let now = self.io.clock.now();
            actions.extend(self.core.readback(area.as_deref().ok(), now));
        }
        for line in self.core.drain_log() {
            self.io.events.log(ended, &line);
        }
        if let Some(order) = decision.fence {
            self.begin_fence(now, order);
        }
        self.tend_watchdog(ended, vm_here);
        self.persist_floors();
        for action in actions {
            self.act(action);
        }
        let now = self.io.clock.now();
        if self.watchdog_promise_broken(now) {
            // Only then is the VM manager asked once more.
            let down = self.io.vm.status().confirmed_down();
            self.back_up_watchdog(now, down);
        }
        if let Ok(area) = area
            && self.keep_last_area
        {
            let me = self.core.config().host_id;
            self.last_area = Some(with_own_slot(area, me, publish.bytes.as_deref()));
        }
        self.last_score = Some(decision.score);
        decision.next_loop_ms
    }

    /// Keeps the floors on the local disk when they moved: before a publish
    /// that uses a new write sequence, and after a step that learnt a higher
    /// epoch.
    fn persist_floors(&mut self) {
        let Some(floors) = self.core.floors() else {
            return;
        };
        if floors.epoch > self.persisted.epoch || floors.seq != self.persisted.seq {
            self.persisted = floors;
            self.io.events.persist_floors(floors);
        }
    }

    /// Runs one VM action and keeps its result for the next step. A start is
    /// checked against the lease once more right before it runs: an agent that
    /// stalled since the core handed it out must not start a VM under a lease
    /// that lapsed meanwhile.
    fn act(&mut self, action: VmAction) {
        let ok = match action {
            VmAction::Start { epoch, .. } => {
                let now = self.io.clock.now();
                if self.core.start_still_valid(now) {
                    self.io.monitors.engine_starting();
                    self.io.vm.act(action).is_ok()
                } else {
                    let line = format!(
                        "not starting the engine VM: lease epoch {epoch} lapsed before the start \
                         could run (the agent stalled)"
                    );
                    self.io.events.log(now, &line);
                    false
                }
            }
            VmAction::PowerOff => {
                let ok = self.io.vm.act(action).is_ok();
                self.vm_manager_failing |= !ok;
                ok
            }
            _ => self.io.vm.act(action).is_ok(),
        };
        self.results.push(ActionResult { action, ok });
    }

    /// Begins a fence the core ordered in the step that read at `decided`,
    /// unless the loop stalled since (the target may have come back) or no
    /// fencer runs here: then the next observation reports it failed.
    fn begin_fence(&mut self, decided: Millis, order: FenceOrder) {
        let now = self.io.clock.now();
        let stalled = now.since(decided) > self.core.config().timings.loop_ms;
        let refused = match &mut self.fencer {
            Some(_) if stalled => Some(format!(
                "not begun: the agent stalled {} ms between deciding it and beginning it",
                now.since(decided)
            )),
            Some(fencer) => {
                fencer.begin(order);
                None
            }
            None => Some("no fence runner on this host".to_owned()),
        };
        if let Some(why) = refused {
            self.fence_refused = Some(FenceReport {
                target: order.target,
                outcome: FenceOutcome::Failed(why),
                took_ms: 0,
                agent: String::new(),
            });
        }
    }

    /// What this loop sees: the area read, the local VM (and whether one is
    /// here), the monitors, the operator's requests, the last actions' results.
    fn observe<'a>(&mut self, now: Millis, area: Option<&'a Area>) -> (Observation<'a>, bool) {
        let (wall_unix, utc_offset_secs) = self.io.clock.wall();
        let local_vm = self.io.vm.status();
        let vm_here = !local_vm.confirmed_down();
        // A query that fails says the VM manager is failing; any answer
        // clears an earlier failed power-off too, which the loop retries.
        self.vm_manager_failing = matches!(local_vm, LocalVm::QueryFailed);
        let mut fence = self.fence_refused.take();
        if let Some(fencer) = &mut self.fencer {
            let (lines, report) = fencer.poll();
            for line in lines {
                self.io.events.log(now, &line);
            }
            fence = fence.or(report);
        }
        let observation = Observation {
            now,
            wall_unix,
            utc_offset_secs,
            area,
            local_vm,
            sensors: self.io.monitors.sensors(),
            local_maintenance: self.io.monitors.local_maintenance(),
            requests: self.io.events.take_requests(),
            results: std::mem::take(&mut self.results),
            fence,
        };
        (observation, vm_here)
    }

    /// Writes this host's slot as `decision` says. A publish that claims or
    /// holds the lease (or keeps a VM here) is made only under an armed
    /// watchdog: armed first, so that an agent that stalls right after the
    /// write still gets its host reset.
    fn publish(&mut self, now: Millis, vm_here: bool, decision: &Decision) -> Publish {
        let me = self.core.config().host_id;
        let stake = vm_here || self.core.lease().published_state().kind != LeaseKind::None;
        if !decision.publish {
            // Not before our own slot was read.
            return Publish::skipped();
        }
        if stake {
            let armed = self.io.watchdog.arm(now);
            self.note_watchdog(now, armed.as_ref().err());
            if armed.is_err() {
                return Publish::skipped();
            }
        }
        let (outcome, bytes) = match encode_host_slot(me, &decision.record, &decision.extra) {
            Ok(bytes) => match self.io.storage.write_slot(me, &bytes) {
                Ok(()) => (Outcome::Written, self.keep_last_area.then_some(bytes)),
                Err(e) => (Outcome::Failed(e), None),
            },
            Err(e) => (Outcome::Failed(StorageError::Encode(e.to_string())), None),
        };
        Publish { outcome, bytes }
    }

    /// The watchdog is armed only while something is at stake: a lease
    /// claimed or held (which others must be able to expire safely), or an
    /// engine VM here (sanlock arms it only while it holds leases, too). Pet
    /// only a loop that keeps its promises: no lease overdue, no self-fence
    /// whose power-off has not taken yet.
    fn tend_watchdog(&mut self, now: Millis, vm_here: bool) {
        let at_stake = vm_here || self.core.lease().published_state().kind != LeaseKind::None;
        if !at_stake {
            self.io.watchdog.release(now);
            self.last_pet = None;
        } else if !self.core.lease().must_fence(now) && !self.core.fencing() {
            self.io.watchdog.pet(now);
            self.last_pet = Some(now);
            self.expired = false;
        }
    }

    /// Whether the watchdog has broken its promise: a whole timeout has
    /// passed since this agent's last pet, by its clock (which counts a
    /// suspend), while its lease is overdue or a self-fence is under way (a
    /// loop that pets keeps the promise). The device would have reset the
    /// host by now had its countdown not stood still: a suspend or a freeze
    /// stopped it with the host.
    fn watchdog_promise_broken(&self, now: Millis) -> bool {
        let (Some(pet), Some(timeout)) = (self.last_pet, self.core.config().watchdog_timeout_ms)
        else {
            return false;
        };
        now.since(pet) >= timeout && (self.core.lease().must_fence(now) || self.core.fencing())
    }

    /// The agent backs the watchdog up: when its promise is broken and the
    /// engine VM is not confirmed down (`down`), other hosts may start the
    /// engine any moment, so the agent has the host reset at once
    /// ([`Watchdog::expire`]) instead of a timeout from the resume
    /// (`core::lease`, "The watchdog"). It checks at the end of a loop, once
    /// its power-off has had its try (a working VM manager stops just the
    /// engine VM, not every VM on the host), and at the start of one when
    /// the VM manager was failing, before a read that may wait.
    fn back_up_watchdog(&mut self, now: Millis, down: bool) {
        if down || self.expired || !self.watchdog_promise_broken(now) {
            return;
        }
        self.expired = true;
        let since = self.last_pet.map_or(0, |pet| now.since(pet));
        let timeout = self.core.config().watchdog_timeout_ms.unwrap_or(0);
        let how = match self.io.watchdog.expire(now) {
            Ok(()) => "resetting the host now".to_owned(),
            Err(e) => format!(
                "the device refused to fire early ({e}): its countdown runs on from where it \
                 stood"
            ),
        };
        let line = format!(
            "the engine VM is not down {} s after the watchdog's last pet (timeout {} s): \
             its countdown stood still (the host was suspended or frozen); {how}",
            crate::config::format_secs(since),
            crate::config::format_secs(timeout),
        );
        self.io.events.log(now, &line);
    }

    /// Logs the watchdog's arming failing, then working again, once each.
    fn note_watchdog(&mut self, now: Millis, error: Option<&WatchdogError>) {
        match error {
            Some(e) if self.watchdog_ok => {
                self.watchdog_ok = false;
                let line = format!(
                    "not publishing: the watchdog cannot be armed: {e} \
                     (logged once; retried every loop)"
                );
                self.io.events.log(now, &line);
            }
            None if !self.watchdog_ok => {
                self.watchdog_ok = true;
                self.io
                    .events
                    .log(now, "the watchdog is armed again: publishing");
            }
            _ => {}
        }
    }

    fn note_storage(&mut self, now: Millis, error: Option<&StorageError>) {
        match error {
            Some(e) => {
                let error = e.to_string();
                match &mut self.storage_trouble {
                    Some(trouble) => trouble.error = error,
                    None => {
                        self.io
                            .events
                            .log(now, &format!("storage failure: {error}"));
                        self.storage_trouble = Some(StorageTrouble { since: now, error });
                    }
                }
                self.io.storage.reconnect();
            }
            None => {
                if self.storage_trouble.take().is_some() {
                    self.io.events.log(now, "storage available again");
                }
            }
        }
    }

    /// Whether the shared storage is failing this host: since when and why.
    pub fn storage_trouble(&self) -> Option<&StorageTrouble> {
        self.storage_trouble.as_ref()
    }

    /// Publishes the AgentStopped slot (clean shutdown); the VM is left alone.
    /// An agent that never read its own slot publishes nothing (it would
    /// overwrite its predecessor's lease). `Ok(true)`: the lease stays held
    /// over the running VM, for a lease keeper to renew
    /// (`CoreConfig::keeper`); until one does, the slot says the agent
    /// stopped cleanly, which nobody expires by silence.
    pub fn stop(&mut self) -> Result<bool, String> {
        if !self.core.adopted() {
            return Err("not publishing AgentStopped: our own slot was never read".into());
        }
        let now = self.io.clock.now();
        let (wall, offset) = self.io.clock.wall();
        let from = self.core.state();
        let vm_running = !self.io.vm.status().confirmed_down();
        let (record, extra) = self.core.stopped_publication(now, wall, offset, vm_running);
        self.io.events.transition(now, from, State::AgentStopped);
        let me = self.core.config().host_id;
        let written = encode_host_slot(me, &record, &extra)
            .map_err(|e| StorageError::Encode(e.to_string()))
            .and_then(|bytes| self.io.storage.write_slot(me, &bytes));
        match written {
            Err(e) if vm_running => {
                // Nobody will know we stopped on purpose, and no agent will be
                // left to fence the VM: other hosts will expire whatever lease
                // we published after lease_dead. The VM must not outlive it.
                let off = self.io.vm.act(VmAction::PowerOff);
                let now = self.io.clock.now();
                let outcome = match &off {
                    Ok(()) => "engine VM powered off".to_owned(),
                    Err(why) => format!(
                        "the engine VM could not be powered off ({why}): the watchdog must \
                         reset this host"
                    ),
                };
                self.io.events.log(
                    now,
                    &format!(
                        "AgentStopped not published ({e}) with the engine VM running here: \
                         {outcome}"
                    ),
                );
                Err(format!("AgentStopped not published: {e}; {outcome}"))
            }
            Err(e) => Err(e.to_string()),
            Ok(()) => Ok(vm_running
                && matches!(
                    self.core.lease().phase(),
                    crate::core::Phase::Holding { .. } | crate::core::Phase::Fencing { .. }
                )),
        }
    }
}

/// The shared storage failing this host (a read or a write of a loop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageTrouble {
    /// The first failing loop, by the agent's clock.
    pub since: Millis,
    /// The latest failure.
    pub error: String,
}

/// The first half of a loop, handed to its second half
/// ([`AgentLoop::decide`], [`AgentLoop::carry_out`]).
pub struct Decided {
    /// When the loop's read started.
    now: Millis,
    area: Result<Arc<Area>, StorageError>,
    /// Whether the engine VM ran here when the loop looked.
    vm_here: bool,
    decision: Decision,
}

/// What one loop's publish did.
struct Publish {
    outcome: Outcome,
    /// The bytes written, when the loop keeps the last area.
    bytes: Option<Box<[u8; SLOT_SIZE]>>,
}

/// How a publish ended.
enum Outcome {
    Written,
    /// Not tried: our own slot not read yet, or the watchdog cannot be armed
    /// (no storage failure).
    Skipped,
    Failed(StorageError),
}

impl Publish {
    fn skipped() -> Publish {
        Publish {
            outcome: Outcome::Skipped,
            bytes: None,
        }
    }
}

/// The area as read at the start of the loop, with this host's slot replaced by
/// what the loop then published (when it did): the status shows this host as it
/// is now, not as it was one loop ago.
fn with_own_slot(area: Arc<Area>, me: HostId, published: Option<&[u8; SLOT_SIZE]>) -> Arc<Area> {
    let Some(bytes) = published else {
        return area;
    };
    match decode_host_slot(me, bytes) {
        Ok(Some(slot)) => {
            let mut fresh = Arc::unwrap_or_clone(area);
            fresh.hosts.insert(me, Ok(slot));
            Arc::new(fresh)
        }
        _ => area,
    }
}
