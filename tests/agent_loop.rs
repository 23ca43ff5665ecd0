//! The agent loop's clean stop, over the simulator's I/O.

use std::cell::RefCell;
use std::rc::Rc;

use hosted_engine::core::{CoreConfig, State};
use hosted_engine::shell::AgentLoop;
use hosted_engine::sim::{SimHost, SimParams, WorldState};

/// Milliseconds a test has the agent's clock jump ahead by.
type Stall = Rc<std::cell::Cell<u64>>;

/// The simulator's clock plus a stall the test sets.
struct SlowClock(SimHost, Stall);

impl hosted_engine::shell::Clock for SlowClock {
    fn now(&mut self) -> hosted_engine::core::Millis {
        self.0.now() + self.1.get()
    }
    fn wall(&mut self) -> (i64, i32) {
        self.0.wall()
    }
}

fn config(params: &SimParams) -> CoreConfig {
    CoreConfig::new(1, "host1.sim", params.timings.clone())
}

#[test]
fn a_clean_stop_publishes_agent_stopped() {
    let params = SimParams::new(1);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    let mut agent = AgentLoop::start(config(&params), SimHost::io(&world, 1));
    agent.tick();
    agent.stop().unwrap();
    assert_eq!(agent.core().state(), State::AgentStopped);
    let mut w = world.borrow_mut();
    let at = w.now + 1_000;
    w.land_writes(at);
    let slot = w.slot(1).unwrap().as_ref().unwrap();
    assert!(slot.record.stopped);
    assert_eq!(slot.record.score, 0);
    assert_eq!(slot.extra.get("state"), Some("AgentStopped"));
    assert_eq!(slot.extra.get("stopped"), Some("True"));
}

#[test]
fn an_agent_that_never_read_its_slot_does_not_publish_at_stop() {
    let params = SimParams::new(1);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    world.borrow_mut().host_mut(1).storage.reads_fail = true;
    let mut agent = AgentLoop::start(config(&params), SimHost::io(&world, 1));
    agent.tick();
    let err = agent.stop().unwrap_err();
    assert!(err.contains("never read"), "{err}");
    let mut w = world.borrow_mut();
    let at = w.now + 60_000;
    w.land_writes(at);
    assert!(w.slot(1).is_none(), "nothing may have been written");
}

#[test]
fn a_holder_that_cannot_publish_agent_stopped_powers_its_vm_off() {
    use hosted_engine::sim::Command;
    let mut params = SimParams::new(1);
    params.watchdog_ms = None;
    let mut sim = hosted_engine::sim::Sim::new(params);
    sim.run_until(hosted_engine::core::Millis::from_secs(200));
    assert_eq!(sim.world().running_vms(), [1]);
    sim.apply(&Command::StorageBreak(1));
    sim.apply(&Command::AgentStop(1));
    let w = sim.world();
    assert!(w.running_vms().is_empty(), "{:?}", w.log);
    assert!(
        w.log
            .iter()
            .any(|l| l.contains("AgentStopped not published"))
    );
}

/// The kept area (the daemon's status) shows this host as it just published,
/// not as it read itself at the start of the loop.
#[test]
fn the_kept_area_carries_this_hosts_latest_publish() {
    let params = SimParams::new(1);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    let mut agent = AgentLoop::start(config(&params), SimHost::io(&world, 1));
    agent.keep_last_area(true);
    for _ in 0..3 {
        agent.tick();
        let kept = agent.last_area().unwrap().hosts[&1].as_ref().unwrap();
        let state = agent.core().state().name();
        assert_eq!(kept.extra.get("state"), Some(state));
        assert_eq!(kept.record.score, agent.last_score().unwrap().score);
    }
}

/// The agent tells its monitors before it starts the engine VM, so that a
/// liveliness reading of the VM before (a crashed one, or the engine on
/// another host) cannot make the new one `EngineUp` while it boots.
#[test]
fn the_monitors_hear_of_a_start_before_the_vm_driver_runs_it() {
    use hosted_engine::core::{LocalVm, VmAction};
    use hosted_engine::shell::{Monitors, VmDriver};

    type Calls = Rc<RefCell<Vec<&'static str>>>;
    struct Vm(SimHost, Calls);
    impl VmDriver for Vm {
        fn status(&mut self) -> LocalVm {
            self.0.status()
        }
        fn act(
            &mut self,
            action: VmAction,
        ) -> Result<(), hosted_engine::shell::agent_loop::VmError> {
            if matches!(action, VmAction::Start { .. }) {
                self.1.borrow_mut().push("start");
            }
            self.0.act(action)
        }
    }
    struct Mon(SimHost, Calls);
    impl Monitors for Mon {
        fn sensors(&mut self) -> hosted_engine::core::Sensors {
            self.0.sensors()
        }
        fn local_maintenance(&mut self) -> bool {
            self.0.local_maintenance()
        }
        fn engine_starting(&mut self) {
            self.1.borrow_mut().push("engine_starting");
        }
    }

    let params = SimParams::new(1);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    let calls: Calls = Rc::default();
    let io = SimHost::io(&world, 1);
    let io = hosted_engine::shell::Io {
        storage: io.storage,
        vm: Vm(io.vm, Rc::clone(&calls)),
        monitors: Mon(io.monitors, Rc::clone(&calls)),
        clock: io.clock,
        events: io.events,
        watchdog: io.watchdog,
    };
    let mut agent = AgentLoop::start(config(&params), io);
    for _ in 0..100 {
        let wait = agent.tick().max(1);
        let mut w = world.borrow_mut();
        let at = w.now + wait;
        w.now = at;
        w.land_writes(at);
        drop(w);
        if !calls.borrow().is_empty() {
            break;
        }
    }
    assert_eq!(*calls.borrow(), ["engine_starting", "start"]);
}

/// A start handed out after a publish is checked against the lease once more
/// right before the VM driver runs it: an agent that stalled in between (here:
/// right after petting its watchdog, 60 s) does not start the VM under a lease
/// that lapsed meanwhile.
#[test]
fn a_start_is_not_run_under_a_lease_that_lapsed_before_it() {
    use hosted_engine::core::Millis;
    use hosted_engine::shell::agent_loop::{Watchdog, WatchdogError};

    /// Stalls the agent for 60 s at its first pet once its `held` publish
    /// landed (the pet comes after the read-back, before the start runs).
    struct StallingDog(SimHost, Stall);
    impl Watchdog for StallingDog {
        fn arm(&mut self, now: Millis) -> Result<(), WatchdogError> {
            self.0.arm(now)
        }
        fn pet(&mut self, now: Millis) {
            self.0.pet(now);
            let held = self.0.world.borrow().effective(1).map(|e| e.kind)
                == Some(hosted_engine::metadata::LeaseKind::Held);
            if held && self.1.get() == 0 {
                self.1.set(60_000);
            }
        }
        fn release(&mut self, now: Millis) {
            self.0.release(now);
        }
        fn expire(&mut self, now: Millis) -> Result<(), WatchdogError> {
            self.0.expire(now)
        }
    }

    let params = SimParams::new(1);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    let stall: Stall = Rc::default();
    let io = SimHost::io(&world, 1);
    let io = hosted_engine::shell::Io {
        storage: io.storage,
        vm: io.vm,
        monitors: io.monitors,
        clock: SlowClock(io.clock, Rc::clone(&stall)),
        events: io.events,
        watchdog: StallingDog(io.watchdog, Rc::clone(&stall)),
    };
    let mut agent = AgentLoop::start(config(&params), io);
    for _ in 0..100 {
        let wait = agent.tick().max(1) + stall.get();
        let mut w = world.borrow_mut();
        let at = w.now + wait;
        w.now = at;
        w.land_writes(at);
        drop(w);
        if stall.get() > 0 {
            break;
        }
    }
    assert!(stall.get() > 0, "never held the lease");
    let w = world.borrow();
    assert!(w.starts.is_empty(), "started after the stall: {:?}", w.log);
    assert!(
        w.log
            .iter()
            .any(|l| l.contains("lapsed before the start could run")),
        "{:?}",
        w.log
    );
}

/// The agent's watchdog backstop (`AgentLoop::back_up_watchdog`) resets only
/// a host that broke the watchdog's promise: a holder that stalls for longer
/// than its watchdog's timeout right after a pet (a suspend there), its lease
/// still good, is not reset (the next loop pets again); a holder whose lease
/// is overdue, whose VM manager fails and whose last pet is a whole timeout
/// old expires its watchdog, once, however many loops follow.
#[test]
fn the_watchdog_backstop_resets_only_a_host_that_broke_the_promise() {
    use std::cell::Cell;

    use hosted_engine::config::Timings;
    use hosted_engine::core::Millis;
    use hosted_engine::shell::agent_loop::{Watchdog, WatchdogError};

    type Counter = Stall;
    /// Counts expires; when `stall_next` is set, the clock jumps 16 s right
    /// after the next pet.
    struct CountingDog {
        inner: SimHost,
        stall: Counter,
        stall_next: Rc<Cell<bool>>,
        expires: Counter,
    }
    impl Watchdog for CountingDog {
        fn arm(&mut self, now: Millis) -> Result<(), WatchdogError> {
            self.inner.arm(now)
        }
        fn pet(&mut self, now: Millis) {
            self.inner.pet(now);
            if self.stall_next.replace(false) {
                self.stall.set(self.stall.get() + 16_000);
            }
        }
        fn release(&mut self, now: Millis) {
            self.inner.release(now);
        }
        fn expire(&mut self, now: Millis) -> Result<(), WatchdogError> {
            self.expires.set(self.expires.get() + 1);
            self.inner.expire(now)
        }
    }

    let mut params = SimParams::new(1);
    params.timings = Timings::default();
    params.watchdog_ms = Some(14_000);
    let world = Rc::new(RefCell::new(WorldState::new(params.clone())));
    let (stall, expires): (Counter, Counter) = (Rc::default(), Rc::default());
    let stall_next = Rc::new(Cell::new(false));
    let io = SimHost::io(&world, 1);
    let io = hosted_engine::shell::Io {
        storage: io.storage,
        vm: io.vm,
        monitors: io.monitors,
        clock: SlowClock(io.clock, Rc::clone(&stall)),
        events: io.events,
        watchdog: CountingDog {
            inner: io.watchdog,
            stall: Rc::clone(&stall),
            stall_next: Rc::clone(&stall_next),
            expires: Rc::clone(&expires),
        },
    };
    let cfg = CoreConfig {
        watchdog_timeout_ms: params.watchdog_ms,
        ..config(&params)
    };
    let mut agent = AgentLoop::start(cfg, io);
    let run = |agent: &mut AgentLoop<_, _, _, _, _, _>, loops: usize| {
        for _ in 0..loops {
            let wait = agent.tick().max(1);
            let mut w = world.borrow_mut();
            let at = w.now + wait;
            w.now = at;
            w.land_writes(at);
        }
    };
    for _ in 0..100 {
        run(&mut agent, 1);
        if world.borrow().running_vms() == [1] {
            break;
        }
    }
    assert_eq!(world.borrow().running_vms(), [1], "never started");
    // A 16 s stall right after a pet, the lease good: no reset.
    stall_next.set(true);
    run(&mut agent, 10);
    assert_eq!(stall.get(), 16_000, "the stall did not happen");
    assert_eq!(expires.get(), 0, "a host in good standing was reset");
    assert_eq!(world.borrow().running_vms(), [1]);
    // Storage gone, the VM manager wedged: past lease-fail the holder stops
    // petting; a timeout after its last pet it expires the watchdog, once.
    {
        let mut w = world.borrow_mut();
        let h = w.host_mut(1);
        h.storage.broken = true;
        h.vm_query_fails = true;
        h.poweroff_fails = true;
    }
    run(&mut agent, 40);
    assert_eq!(expires.get(), 1, "{:?}", world.borrow().log);
    assert!(
        world
            .borrow()
            .log
            .iter()
            .any(|l| l.contains("its countdown stood still")),
        "{:?}",
        world.borrow().log
    );
}
