//! The deterministic cluster simulator: N hosts running the real agent loop
//! ([`crate::shell::AgentLoop`]) in virtual time against simulated storage, VMs
//! and networks, with faults applied at given times and invariants checked against
//! ground truth after every event.
//!
//! Nothing here reads a clock or a random source: a run is a function of its
//! parameters and its command schedule, so any failure replays exactly.

pub mod fault;
pub mod fencing;
pub mod fuzz;
mod handover;
mod io;
pub mod scenario;
pub mod world;

use std::cell::{Ref, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

use crate::core::{CoreConfig, Millis, Request};
use crate::metadata::HostId;
use crate::shell::AgentLoop;

pub use fault::{Command, Hostile};
pub use io::{Shared, SimHost, SimIo};
pub use world::{SimParams, VmPhase, WorldState, fmt_time, host_name};

use crate::shell::agent_loop::Decided;

type SimAgent = AgentLoop<SimHost, SimHost, SimHost, SimHost, SimHost, SimHost>;

/// Events in the simulation's queue.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A scheduled command (index into the schedule).
    Command(usize),
    /// The agent of a host starts (after a kill or a boot).
    AgentStart(HostId, u64),
    /// An agent loop tick; ignored when the agent's generation moved on.
    Tick(HostId, u64),
    /// The second half of a tick that stalled between its read and its write.
    Finish(HostId, u64),
    /// A frozen host resumes.
    Thaw(HostId),
    /// A lease keeper's loop tick; ignored when its generation moved on.
    KeeperTick(HostId, u64),
    /// The watchdog of a host checks its last pet.
    Watchdog(HostId),
    /// A fence device powers its host off: (target, fencer).
    FenceOff(HostId, HostId),
}

/// Upper bound on events in one run (a runaway loop is a bug, not a long run).
const EVENTS_MAX: u64 = 50_000_000;

/// A simulation in progress.
pub struct Sim {
    world: Shared,
    agents: BTreeMap<HostId, SimAgent>,
    /// Agent generation per host: ticks of a dead agent are dropped.
    generation: BTreeMap<HostId, u64>,
    queue: BinaryHeap<Reverse<(Millis, u64, Event)>>,
    seq: u64,
    schedule: Vec<Command>,
    events: u64,
    /// Ticks that stalled between their read and their write.
    unfinished: BTreeMap<HostId, Decided>,
    /// Lease keepers of cleanly stopped agents, and their generations.
    keepers: BTreeMap<HostId, SimAgent>,
    keeper_generation: BTreeMap<HostId, u64>,
    /// Processes started so far (see `Sim::process_id`).
    processes: u64,
}

impl Sim {
    /// Every host powered on, every agent starting at time 0 (a cold start).
    pub fn new(params: SimParams) -> Sim {
        assert!((1..=16).contains(&params.hosts), "1..=16 hosts");
        let hosts = params.hosts;
        let mut sim = Sim {
            world: Rc::new(RefCell::new(world::WorldState::new(params))),
            agents: BTreeMap::new(),
            generation: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            schedule: Vec::new(),
            events: 0,
            unfinished: BTreeMap::new(),
            keepers: BTreeMap::new(),
            keeper_generation: BTreeMap::new(),
            processes: 0,
        };
        for host in 1..=hosts {
            sim.generation.insert(host, 0);
            sim.push(Millis::ZERO, Event::AgentStart(host, 0));
        }
        sim
    }

    pub fn world(&self) -> Ref<'_, WorldState> {
        self.world.borrow()
    }

    pub fn now(&self) -> Millis {
        self.world.borrow().now
    }

    fn push(&mut self, at: Millis, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, event)));
    }

    /// Schedules `command` at virtual time `at`.
    pub fn schedule(&mut self, at: Millis, command: Command) {
        match command {
            Command::SlotRollback(..) => self.world.borrow_mut().keep_slot_history(),
            Command::StorageStale(..) => self.world.borrow_mut().keep_area_history(),
            _ => {}
        }
        self.schedule.push(command);
        let index = self.schedule.len() - 1;
        self.push(at, Event::Command(index));
    }

    /// The agent of `host`, if it runs.
    pub fn agent(&self, host: HostId) -> Option<&crate::core::Agent> {
        self.agents.get(&host).map(|a| a.core())
    }

    /// Runs every event up to and including time `end`.
    pub fn run_until(&mut self, end: Millis) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > end {
                break;
            }
            let Some(Reverse((at, _, event))) = self.queue.pop() else {
                break;
            };
            self.events += 1;
            assert!(
                self.events <= EVENTS_MAX,
                "simulation exceeded {EVENTS_MAX} events"
            );
            self.world.borrow_mut().now = at;
            self.handle(event);
            self.check_invariants();
        }
        self.world.borrow_mut().now = end;
        self.world.borrow_mut().advance_vms();
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Command(index) => {
                let command = self.schedule[index].clone();
                self.apply(&command);
            }
            Event::AgentStart(host, generation) => {
                if self.generation[&host] == generation {
                    self.start_agent(host);
                }
            }
            Event::Tick(host, generation) => {
                if self.generation[&host] == generation {
                    self.tick(host, generation);
                }
            }
            Event::Finish(host, generation) => {
                if self.generation[&host] == generation {
                    self.finish(host, generation);
                }
            }
            Event::Thaw(host) => self.thaw(host),
            Event::KeeperTick(host, generation) => {
                if self.keeper_generation.get(&host) == Some(&generation) {
                    self.keeper_tick(host, generation);
                }
            }
            Event::Watchdog(host) => self.watchdog(host),
            Event::FenceOff(target, by) => self.fence_off(target, by),
        }
    }

    fn core_config(&self, host: HostId) -> CoreConfig {
        let w = self.world.borrow();
        let fencing = w.params.fencing.as_ref().map(|f| crate::core::FenceConf {
            fence_after_ms: f.fence_after_ms,
            timeout_ms: f.call_timeout_ms,
            devices: (1..=w.params.hosts).filter(|h| *h != host).collect(),
        });
        CoreConfig {
            fencing,
            recovery_configured: w.params.recovery,
            lease_defect: w.params.lease_defect,
            epoch_floor: w.host(host).persisted.epoch,
            seq_floor: w.host(host).persisted.seq,
            watchdog_timeout_ms: w.params.watchdog_ms,
            ..CoreConfig::new(host, format!("host{host}.sim"), w.params.timings.clone())
        }
    }

    fn start_agent(&mut self, host: HostId) {
        {
            let w = self.world.borrow();
            let h = w.host(host);
            if !h.powered || h.agent_running {
                return;
            }
            if let Some(until) = h.frozen_until.filter(|until| *until > w.now) {
                drop(w);
                let generation = self.generation[&host];
                self.push(until, Event::AgentStart(host, generation));
                return;
            }
        }
        // The agent takes the lease over from its keeper, which stops
        // between two loops and leaves the watchdog counting.
        self.stop_keeper(host, "lease keeper hands the lease back to the agent");
        let cfg = self.core_config(host);
        let process = self.process_id(host);
        let io = SimHost::io_of(&self.world, host, process);
        {
            let mut w = self.world.borrow_mut();
            w.host_mut(host).agent_running = true;
            w.host_mut(host).paused_until = None;
            w.note(&host_name(host), "agent started");
        }
        let fences = cfg.fencing.is_some();
        let mut agent = AgentLoop::start(cfg, io);
        if fences {
            agent.set_fencer(Box::new(SimHost {
                world: std::rc::Rc::clone(&self.world),
                host,
                process,
            }));
        }
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        self.agents.insert(host, agent);
        let generation = self.generation[&host];
        let now = self.now();
        self.push(now, Event::Tick(host, generation));
    }

    fn tick(&mut self, host: HostId, generation: u64) {
        let now = self.now();
        let (paused_until, frozen_until, pause_mid) = {
            let h = self.world.borrow();
            let h = h.host(host);
            (h.paused_until, h.frozen_until, h.pause_mid_ms)
        };
        if let Some(until) = frozen_until.filter(|until| *until > now) {
            self.push(until, Event::Tick(host, generation));
            return;
        }
        if let Some(until) = paused_until {
            if until > now {
                self.push(until, Event::Tick(host, generation));
                return;
            }
            self.world.borrow_mut().host_mut(host).paused_until = None;
        }
        let Some(agent) = self.agents.get_mut(&host) else {
            return;
        };
        if let Some(pause_ms) = pause_mid {
            // The loop reads and decides now, and stalls before its write.
            self.world.borrow_mut().host_mut(host).pause_mid_ms = None;
            let decided = agent.decide();
            self.unfinished.insert(host, decided);
            let elapsed =
                std::mem::take(&mut self.world.borrow_mut().host_mut(host).tick_elapsed_ms);
            self.arm_watchdog(host);
            self.push(now + elapsed + pause_ms, Event::Finish(host, generation));
            return;
        }
        let pet_before = self.world.borrow().host(host).last_pet;
        let wait_ms = agent.tick();
        self.after_tick(host, generation, now, pet_before, wait_ms);
    }

    /// The second half of a tick that stalled between its read and its write.
    fn finish(&mut self, host: HostId, generation: u64) {
        let now = self.now();
        let frozen_until = self.world.borrow().host(host).frozen_until;
        if let Some(until) = frozen_until.filter(|until| *until > now) {
            self.push(until, Event::Finish(host, generation));
            return;
        }
        let (Some(agent), Some(decided)) =
            (self.agents.get_mut(&host), self.unfinished.remove(&host))
        else {
            return;
        };
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        let pet_before = self.world.borrow().host(host).last_pet;
        let wait_ms = agent.carry_out(decided);
        self.after_tick(host, generation, now, pet_before, wait_ms);
    }

    /// Schedules the next tick, and the watchdog when this one did not pet it.
    fn after_tick(
        &mut self,
        host: HostId,
        generation: u64,
        now: Millis,
        pet_before: Option<Millis>,
        wait_ms: u64,
    ) {
        self.arm_unless_petted(host, pet_before);
        let elapsed = std::mem::take(&mut self.world.borrow_mut().host_mut(host).tick_elapsed_ms);
        self.push(
            now + elapsed + wait_ms.max(1),
            Event::Tick(host, generation),
        );
        let power_offs = self.world.borrow_mut().fencing.take_power_offs();
        for (at, by, target) in power_offs {
            self.push(at, Event::FenceOff(target, by));
        }
    }

    /// Host `by`'s fence device order reaches `target`'s power: off, as a
    /// crash (it stays off until powered on).
    fn fence_off(&mut self, target: HostId, by: HostId) {
        if !self.world.borrow().host(target).powered {
            return;
        }
        self.world.borrow_mut().note(
            &host_name(target),
            &format!("powered off by {}'s fence", host_name(by)),
        );
        self.crash_host(target);
    }

    /// Freezes the whole host for `secs`: its agent, its VM and its watchdog
    /// stand still, and its clock too unless `clock_counts` (a suspend).
    fn freeze(&mut self, host: HostId, secs: u64, clock_counts: bool) {
        let now = self.now();
        let until = now + secs * 1000;
        {
            let mut w = self.world.borrow_mut();
            let h = w.host_mut(host);
            if !h.powered || h.frozen(now) {
                return;
            }
            h.frozen_since = now;
            h.frozen_until = Some(until);
            h.frozen_clock_stops = !clock_counts;
        }
        self.push(until, Event::Thaw(host));
    }

    /// A frozen host resumes (when its freeze is over, or at a heal): what
    /// stood still moves on from where it was.
    fn thaw(&mut self, host: HostId) {
        let now = self.now();
        let mut w = self.world.borrow_mut();
        let h = w.host_mut(host);
        if h.frozen_until.is_none_or(|until| until > now) {
            return;
        }
        h.frozen_until = None;
        let stood = now.since(h.frozen_since);
        if h.frozen_clock_stops {
            h.clock_lost_ms += stood;
        }
        // The watchdog counted nothing while frozen.
        h.last_pet = h.last_pet.map(|pet| pet + stood);
        w.delay_vm(host, stood);
        w.note(&host_name(host), "host resumes");
        drop(w);
        self.arm_watchdog(host);
    }

    /// Stops the agent of `host` (kill -9): its ticks are dropped from now on.
    fn kill_agent(&mut self, host: HostId) {
        self.unfinished.remove(&host);
        if self.agents.remove(&host).is_some() {
            *self.generation.get_mut(&host).expect("host") += 1;
            let mut w = self.world.borrow_mut();
            w.host_mut(host).agent_running = false;
            w.host_mut(host).paused_until = None;
        }
        self.arm_watchdog(host);
    }

    /// A clean stop: the agent publishes AgentStopped and disarms the watchdog
    /// (magic close), leaving the VM running.
    fn stop_agent(&mut self, host: HostId) {
        // Stopping an agent that is not running changes nothing: a dead
        // agent's watchdog stays armed (it never wrote the magic close).
        let Some(agent) = self.agents.get_mut(&host) else {
            return;
        };
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        let stopped = agent.stop();
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        let kept = matches!(stopped, Ok(true));
        let vm_gone = !self
            .world
            .borrow()
            .vms
            .get(&host)
            .is_some_and(|vm| vm.running());
        if let Err(e) = &stopped {
            self.world.borrow_mut().note(&host_name(host), e);
        }
        // As the daemon: disarmed (magic close) only when nothing is left
        // unaccounted for: AgentStopped published, or the VM gone. Otherwise
        // the device is closed armed, and resets the host.
        if matches!(stopped, Ok(false)) || (stopped.is_err() && vm_gone) {
            self.world.borrow_mut().host_mut(host).last_pet = None;
        } else if stopped.is_err() {
            self.arm_watchdog(host);
        }
        self.kill_agent(host);
        if kept {
            // The watchdog stays armed, handed to the keeper.
            self.start_keeper(host);
        }
    }

    /// A new process id for `host` (agents and keepers each get their own).
    fn process_id(&mut self, host: HostId) -> u64 {
        self.processes += 1;
        (u64::from(host) << 32) | self.processes
    }

    /// Starts the lease keeper of `host`'s cleanly stopped agent.
    fn start_keeper(&mut self, host: HostId) {
        let cfg = CoreConfig {
            keeper: true,
            fencing: None,
            ..self.core_config(host)
        };
        let process = self.process_id(host);
        let keeper = AgentLoop::start(cfg, SimHost::io_of(&self.world, host, process));
        self.world
            .borrow_mut()
            .note(&host_name(host), "lease keeper started");
        self.keepers.insert(host, keeper);
        let generation = self.keeper_generation.entry(host).or_insert(0);
        *generation += 1;
        let generation = *generation;
        let now = self.now();
        self.push(now, Event::KeeperTick(host, generation));
    }

    /// Stops `host`'s lease keeper, if one runs (its process ends: handed
    /// over, or gone with the host).
    fn stop_keeper(&mut self, host: HostId, why: &str) {
        if self.keepers.remove(&host).is_some() {
            *self.keeper_generation.entry(host).or_insert(0) += 1;
            self.world.borrow_mut().note(&host_name(host), why);
        }
    }

    fn keeper_tick(&mut self, host: HostId, generation: u64) {
        let now = self.now();
        let frozen_until = self.world.borrow().host(host).frozen_until;
        if let Some(until) = frozen_until.filter(|until| *until > now) {
            self.push(until, Event::KeeperTick(host, generation));
            return;
        }
        let Some(keeper) = self.keepers.get_mut(&host) else {
            return;
        };
        let pet_before = self.world.borrow().host(host).last_pet;
        let wait_ms = keeper.tick();
        let elapsed = std::mem::take(&mut self.world.borrow_mut().host_mut(host).tick_elapsed_ms);
        if keeper.core().keeper_done() {
            self.stop_keeper(host, "lease keeper exits: nothing left to keep");
            return;
        }
        self.arm_unless_petted(host, pet_before);
        self.push(
            now + elapsed + wait_ms.max(1),
            Event::KeeperTick(host, generation),
        );
    }

    /// After a tick (an agent's or a lease keeper's): a loop that did not pet
    /// the watchdog, or expired it (`SimHost::expire`), lets it fire.
    fn arm_unless_petted(&mut self, host: HostId, pet_before: Option<Millis>) {
        let expired = std::mem::take(&mut self.world.borrow_mut().host_mut(host).dog_expired);
        if expired || self.world.borrow().host(host).last_pet == pet_before {
            self.arm_watchdog(host);
        }
    }

    fn arm_watchdog(&mut self, host: HostId) {
        let (last_pet, timeout) = {
            let w = self.world.borrow();
            (w.host(host).last_pet, w.params.watchdog_ms)
        };
        if let (Some(pet), Some(timeout)) = (last_pet, timeout) {
            self.push(pet + timeout, Event::Watchdog(host));
        }
    }

    fn watchdog(&mut self, host: HostId) {
        let fire = {
            let w = self.world.borrow();
            let h = w.host(host);
            let timeout = w.params.watchdog_ms.unwrap_or(u64::MAX);
            // A frozen host's watchdog stands still; its thaw re-arms it.
            h.powered
                && !h.frozen(w.now)
                && h.last_pet.is_some_and(|pet| w.now.since(pet) >= timeout)
        };
        if fire {
            self.world
                .borrow_mut()
                .note(&host_name(host), "watchdog fired: host reset");
            self.crash_host(host);
            let boot_at = self.now() + self.world.borrow().params.host_boot_ms;
            self.schedule(boot_at, Command::HostPowerOn(host));
        }
    }

    fn crash_host(&mut self, host: HostId) {
        self.kill_agent(host);
        self.stop_keeper(host, "lease keeper gone with the host");
        let mut w = self.world.borrow_mut();
        w.host_mut(host).powered = false;
        w.host_mut(host).last_pet = None;
        w.host_mut(host).frozen_until = None;
        if w.vms.remove(&host).is_some() {
            w.note(&host_name(host), "engine VM gone with the host");
        }
    }

    fn power_on(&mut self, host: HostId) {
        let now = self.now();
        let boot_ms = {
            let mut w = self.world.borrow_mut();
            let h = w.host_mut(host);
            if h.powered {
                return;
            }
            h.powered = true;
            h.booted_at = now;
            h.clock_lost_ms = 0;
            // A wedged VM manager is a process of the host: a boot ends it.
            h.vm_query_fails = false;
            h.poweroff_fails = false;
            h.poweroff_hangs = false;
            w.params.host_boot_ms
        };
        let generation = self.generation[&host];
        self.push(now + boot_ms, Event::AgentStart(host, generation));
    }

    fn request(&mut self, host: HostId, request: Request) {
        self.world
            .borrow_mut()
            .host_mut(host)
            .requests
            .push(request);
    }

    /// Applies one command to the world.
    pub fn apply(&mut self, command: &Command) {
        if let Some(host) = command.host()
            && !self.world.borrow().hosts.contains_key(&host)
        {
            let mut w = self.world.borrow_mut();
            w.note("sim", &format!("{command}: no such host, ignored"));
            return;
        }
        self.world.borrow_mut().note("fault", &command.to_string());
        match *command {
            Command::HostCrash(h) => self.crash_host(h),
            Command::HostPowerOn(h) => self.power_on(h),
            Command::AgentKill(h) => {
                self.kill_agent(h);
                let at = self.now() + self.world.borrow().params.agent_restart_ms;
                let generation = self.generation[&h];
                self.push(at, Event::AgentStart(h, generation));
            }
            Command::AgentKillHold(h) => self.kill_agent(h),
            Command::AgentStop(h) => self.stop_agent(h),
            Command::AgentStart(h) => {
                let generation = self.generation[&h];
                let now = self.now();
                self.push(now, Event::AgentStart(h, generation));
            }
            Command::AgentPause(h, secs) => {
                let until = self.now() + secs * 1000;
                let running = self.world.borrow().host(h).agent_running;
                if running {
                    self.world.borrow_mut().host_mut(h).paused_until = Some(until);
                    self.arm_watchdog(h);
                }
            }
            Command::AgentPauseMid(h, secs) => {
                self.world.borrow_mut().host_mut(h).pause_mid_ms = Some(secs * 1000);
            }
            Command::HostFreeze(h, secs) => self.freeze(h, secs, false),
            Command::HostSuspend(h, secs) => self.freeze(h, secs, true),
            Command::VmStartRequest(h, paused) => self.request(h, Request::StartVm { paused }),
            Command::VmShutdownRequest(h) => self.request(h, Request::ShutdownVm),
            Command::VmPowerOffRequest(h) => self.request(h, Request::PowerOffVm),
            Command::Heal => self.heal(),
            _ => apply_to_world(&mut self.world.borrow_mut(), command),
        }
    }

    fn heal(&mut self) {
        let hosts: Vec<HostId> = self.world.borrow().hosts.keys().copied().collect();
        let now = self.now();
        {
            let mut w = self.world.borrow_mut();
            w.engine_service_ok = true;
            w.engine_net_ok = true;
            for &h in &hosts {
                let host = w.host_mut(h);
                host.net_up = true;
                host.vm_query_fails = false;
                host.poweroff_fails = false;
                host.poweroff_hangs = false;
                host.start_failures = 0;
                host.paused_until = None;
                host.pause_mid_ms = None;
                if host.frozen_until.is_some() {
                    host.frozen_until = Some(now);
                }
                w.release_stalled(h);
                w.host_mut(h).storage = world::StorageFault::default();
                w.stop_garbage(h);
            }
        }
        for &h in &hosts {
            self.thaw(h);
        }
        for h in hosts {
            let (powered, running) = {
                let w = self.world.borrow();
                (w.host(h).powered, w.host(h).agent_running)
            };
            if !powered {
                self.power_on(h);
            } else if !running {
                let generation = self.generation[&h];
                let now = self.now();
                self.push(now, Event::AgentStart(h, generation));
            }
        }
    }

    /// Invariants on ground truth, after every event: never two engine VMs
    /// at once; never a lease given up (`none` in the host's newest write)
    /// while the host's VM runs. (A start without the lease, epochs going
    /// back and a claim against a live hold are judged when they happen:
    /// `io::start_vm`, `WorldState::check_claim`.)
    fn check_invariants(&mut self) {
        // Judge what lies on the storage now, not what the last reader saw.
        let now = self.now();
        self.world.borrow_mut().land_writes(now);
        let w = self.world.borrow();
        let mut running = 0;
        let mut released = None;
        for (host, vm) in &w.vms {
            if !vm.running() || w.host(*host).frozen(now) {
                continue;
            }
            running += 1;
            if w.effective(*host)
                .is_some_and(|e| e.kind == crate::metadata::LeaseKind::None)
            {
                released = Some(*host);
            }
        }
        if running <= 1 && released.is_none() {
            return;
        }
        drop(w);
        let mut w = self.world.borrow_mut();
        if running > 1 && !w.violations.iter().any(|v| v.contains("two engine VMs")) {
            let on = w.running_vms();
            w.violation(format!("two engine VMs run at once, on {on:?}"));
        }
        if let Some(host) = released
            && !w
                .violations
                .iter()
                .any(|v| v.contains("gives the lease up"))
        {
            w.violation(format!(
                "{} gives the lease up (its slot says none) while its engine VM runs",
                host_name(host)
            ));
        }
    }
}

/// Commands that only change the world's state.
fn apply_to_world(w: &mut WorldState, command: &Command) {
    match *command {
        Command::VmKill => {
            for vm in w.vms.values_mut() {
                vm.phase = VmPhase::Crashed;
            }
        }
        Command::EngineStop => w.engine_service_ok = false,
        Command::EngineStart => w.engine_service_ok = true,
        Command::EngineNetworkDown => w.engine_net_ok = false,
        Command::EngineNetworkUp => w.engine_net_ok = true,
        Command::HostNetworkDown(h) => w.host_mut(h).net_up = false,
        Command::HostNetworkUp(h) => w.host_mut(h).net_up = true,
        Command::AllNetworkDown | Command::AllNetworkUp => {
            let up = *command == Command::AllNetworkUp;
            for host in w.hosts.values_mut() {
                host.net_up = up;
            }
        }
        Command::StorageBreak(h) => w.host_mut(h).storage.broken = true,
        Command::StorageStall(h) => w.host_mut(h).storage.stalled = true,
        Command::StorageReadFail(h) => w.host_mut(h).storage.reads_fail = true,
        Command::StorageWriteFail(h) => w.host_mut(h).storage.writes_fail = true,
        Command::StorageHeal(h) => {
            w.release_stalled(h);
            w.host_mut(h).storage = world::StorageFault::default();
        }
        Command::StorageStale(h, ms) => {
            w.keep_area_history();
            w.host_mut(h).storage.stale_ms = ms;
        }
        Command::StorageStallLate(h, secs) => {
            let storage = &mut w.host_mut(h).storage;
            storage.stalled = true;
            storage.late_ms = secs * 1000;
        }
        Command::SlotWipe(h) => w.third_party_write(h, Box::new([0; crate::metadata::SLOT_SIZE])),
        Command::SlotGarbage(h, secs) => {
            let until = w.now + secs * 1000;
            w.start_garbage(h, until);
        }
        Command::SlotHostile(h, kind) => {
            let bytes = w.hostile_slot(h, kind);
            w.third_party_write(h, bytes);
        }
        Command::SlotRollback(h, secs) => match w.old_slot(h, secs * 1000) {
            Some(bytes) => w.third_party_write(h, bytes),
            None => w.note("sim", &format!("{command}: nothing written there yet")),
        },
        Command::PoweroffHang(h, on) => w.host_mut(h).poweroff_hangs = on,
        Command::StorageLatency(h, ms) => w.host_mut(h).storage.extra_latency_ms = ms,
        Command::StorageTear(h) => w.host_mut(h).storage.tear_next_write = true,
        Command::GlobalMaintenance(on) => w.set_global_maintenance(on),
        Command::LocalMaintenance(h, on) => w.host_mut(h).local_maintenance = on,
        Command::StartFailures(h, n) => w.host_mut(h).start_failures = n,
        Command::VmQueryFail(h, on) => w.host_mut(h).vm_query_fails = on,
        Command::PoweroffFail(h, on) => w.host_mut(h).poweroff_fails = on,
        Command::ClockJump(h, secs) => w.host_mut(h).wall_offset_ms += secs * 1000,
        Command::FenceDevice(h, mode) => match w.fencing.devices.get_mut(&h) {
            Some(device) => device.mode = mode,
            None => w.note("sim", &format!("{command}: fencing is off, ignored")),
        },
        Command::FenceLatency(h, ms) => match w.fencing.devices.get_mut(&h) {
            Some(device) => device.latency_ms = ms,
            None => w.note("sim", &format!("{command}: fencing is off, ignored")),
        },
        _ => unreachable!("handled by Sim::apply: {command}"),
    }
}
