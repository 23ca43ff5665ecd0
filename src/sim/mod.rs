//! The deterministic cluster simulator: N hosts running the real agent loop
//! ([`crate::shell::AgentLoop`]) in virtual time against simulated storage, VMs
//! and networks, with faults applied at given times and invariants checked against
//! ground truth after every event.
//!
//! Nothing here reads a clock or a random source: a run is a function of its
//! parameters and its command schedule, so any failure replays exactly.

pub mod fault;
pub mod fuzz;
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

pub use fault::Command;
pub use io::{Shared, SimHost, SimIo};
pub use world::{SimParams, VmPhase, WorldState, fmt_time, host_name};

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
    /// The watchdog of a host checks its last pet.
    Watchdog(HostId),
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
            Event::Watchdog(host) => self.watchdog(host),
        }
    }

    fn core_config(&self, host: HostId) -> CoreConfig {
        let w = self.world.borrow();
        CoreConfig {
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
        }
        let cfg = self.core_config(host);
        let io = SimHost::io(&self.world, host);
        {
            let mut w = self.world.borrow_mut();
            w.host_mut(host).agent_running = true;
            w.host_mut(host).paused_until = None;
            w.note(&host_name(host), "agent started");
        }
        let agent = AgentLoop::start(cfg, io);
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        self.agents.insert(host, agent);
        let generation = self.generation[&host];
        let now = self.now();
        self.push(now, Event::Tick(host, generation));
    }

    fn tick(&mut self, host: HostId, generation: u64) {
        let now = self.now();
        let paused_until = self.world.borrow().host(host).paused_until;
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
        let pet_before = self.world.borrow().host(host).last_pet;
        let wait_ms = agent.tick();
        if self.world.borrow().host(host).last_pet == pet_before {
            // A loop that did not pet the watchdog: it may fire.
            self.arm_watchdog(host);
        }
        let elapsed = std::mem::take(&mut self.world.borrow_mut().host_mut(host).tick_elapsed_ms);
        self.push(
            now + elapsed + wait_ms.max(1),
            Event::Tick(host, generation),
        );
    }

    /// Stops the agent of `host` (kill -9): its ticks are dropped from now on.
    fn kill_agent(&mut self, host: HostId) {
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
        if let Err(e) = agent.stop() {
            self.world.borrow_mut().note(&host_name(host), &e);
        }
        self.world.borrow_mut().host_mut(host).tick_elapsed_ms = 0;
        self.world.borrow_mut().host_mut(host).last_pet = None;
        self.kill_agent(host);
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
            h.powered && h.last_pet.is_some_and(|pet| w.now.since(pet) >= timeout)
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
        let mut w = self.world.borrow_mut();
        w.host_mut(host).powered = false;
        w.host_mut(host).last_pet = None;
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
            Command::VmStartRequest(h, paused) => self.request(h, Request::StartVm { paused }),
            Command::VmShutdownRequest(h) => self.request(h, Request::ShutdownVm),
            Command::VmPowerOffRequest(h) => self.request(h, Request::PowerOffVm),
            Command::Heal => self.heal(),
            _ => apply_to_world(&mut self.world.borrow_mut(), command),
        }
    }

    fn heal(&mut self) {
        let hosts: Vec<HostId> = self.world.borrow().hosts.keys().copied().collect();
        {
            let mut w = self.world.borrow_mut();
            w.engine_service_ok = true;
            w.engine_net_ok = true;
            for &h in &hosts {
                let host = w.host_mut(h);
                host.net_up = true;
                host.storage = world::StorageFault::default();
                host.vm_query_fails = false;
                host.poweroff_fails = false;
                host.start_failures = 0;
                host.paused_until = None;
                w.release_stalled(h);
            }
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

    /// Invariants on ground truth, after every event.
    fn check_invariants(&mut self) {
        let mut w = self.world.borrow_mut();
        if w.vms.values().filter(|vm| vm.running()).count() <= 1 {
            return;
        }
        let running = w.running_vms();
        if running.len() > 1 && !w.violations.iter().any(|v| v.contains("two engine VMs")) {
            w.violation(format!("two engine VMs run at once, on {running:?}"));
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
            w.host_mut(h).storage = world::StorageFault::default();
            w.release_stalled(h);
        }
        Command::StorageLatency(h, ms) => w.host_mut(h).storage.extra_latency_ms = ms,
        Command::StorageTear(h) => w.host_mut(h).storage.tear_next_write = true,
        Command::GlobalMaintenance(on) => w.set_global_maintenance(on),
        Command::LocalMaintenance(h, on) => w.host_mut(h).local_maintenance = on,
        Command::StartFailures(h, n) => w.host_mut(h).start_failures = n,
        Command::VmQueryFail(h, on) => w.host_mut(h).vm_query_fails = on,
        Command::PoweroffFail(h, on) => w.host_mut(h).poweroff_fails = on,
        Command::ClockJump(h, secs) => w.host_mut(h).wall_offset_ms += secs * 1000,
        _ => unreachable!("handled by Sim::apply: {command}"),
    }
}
