//! The agent loop's I/O traits over the simulated world. Every call takes virtual
//! time (I/O latency) and the VM actions check the invariants that can only be
//! judged at the moment of a start.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::world::{
    EXPIRED_DOG_MS, HOST_CLOCK_ORIGIN_MS, SimVm, VmPhase, WALL_ORIGIN_UNIX, WorldState, host_name,
};
use crate::core::agent::Floors;
use crate::core::{
    DownReason, LocalVm, Millis, Request, Sensors, State, VmAction, VmManagerStatus,
};
use crate::metadata::{Area, HostId, LeaseKind, SLOT_SIZE};
use crate::shell::agent_loop::{StorageError, StorageOp, VmError, Watchdog, WatchdogError};
use crate::shell::{Clock, Events, Io, Monitors, Storage, VmDriver};

pub type Shared = Rc<RefCell<WorldState>>;

/// A handle of host `host` on the shared world; implements every I/O trait.
#[derive(Clone)]
pub struct SimHost {
    pub world: Shared,
    pub host: HostId,
    /// Which agent process (or keeper) of the host this is: a write of its
    /// that hangs blocks its own store, not a later process's.
    pub process: u64,
}

pub type SimIo = Io<SimHost, SimHost, SimHost, SimHost, SimHost, SimHost>;

impl SimHost {
    pub fn io(world: &Shared, host: HostId) -> SimIo {
        SimHost::io_of(world, host, 0)
    }

    /// The I/O of agent process `process` of `host`.
    pub fn io_of(world: &Shared, host: HostId, process: u64) -> SimIo {
        let h = SimHost {
            world: Rc::clone(world),
            host,
            process,
        };
        Io {
            storage: h.clone(),
            vm: h.clone(),
            monitors: h.clone(),
            clock: h.clone(),
            events: h.clone(),
            watchdog: h,
        }
    }

    /// Spends `ms` of this host's tick time.
    fn spend(&self, w: &mut WorldState, ms: u64) {
        w.host_mut(self.host).tick_elapsed_ms += ms;
    }
}

impl SimHost {
    /// The latency of one storage call, or its failure under the host's storage
    /// fault (the time it took is spent either way).
    fn storage_latency(&self, w: &mut WorldState, op: StorageOp) -> Result<u64, StorageError> {
        if w.write_in_flight(self.host, self.process) {
            return Err(StorageError::Busy { op });
        }
        let fault = w.host(self.host).storage;
        let op_fails = match op {
            StorageOp::Read => fault.reads_fail,
            StorageOp::Write => fault.writes_fail,
        };
        if fault.broken || op_fails {
            let latency = w.params.io_latency_ms;
            self.spend(w, latency);
            return Err(StorageError::Failed {
                op,
                reason: "I/O error (storage unavailable)".into(),
            });
        }
        if fault.stalled {
            let deadline = w.params.timings.storage_timeout_ms;
            self.spend(w, deadline);
            return Err(StorageError::Timeout {
                op,
                after_ms: deadline,
            });
        }
        Ok(w.params.io_latency_ms + fault.extra_latency_ms)
    }
}

impl Storage for SimHost {
    /// The area as it lies on the storage when the read *ends* (the latest a
    /// read can see: its reader stamps what it saw with the read's start), or
    /// as it was `stale_ms` before under a stale-read fault.
    fn read_area(&mut self) -> Result<Arc<Area>, StorageError> {
        let mut w = self.world.borrow_mut();
        let started = w.host_time(self.host);
        w.host_mut(self.host).read_at = started;
        let latency = self.storage_latency(&mut w, StorageOp::Read)?;
        self.spend(&mut w, latency);
        let at = w.host_time(self.host);
        w.land_writes(at);
        let stale_ms = w.host(self.host).storage.stale_ms;
        if stale_ms > 0 {
            return Ok(w.area_as_of(Millis(at.as_millis().saturating_sub(stale_ms))));
        }
        Ok(w.area())
    }

    fn write_slot(&mut self, slot: HostId, bytes: &[u8; SLOT_SIZE]) -> Result<(), StorageError> {
        let mut w = self.world.borrow_mut();
        let read_at = w.host(self.host).read_at;
        let latency = self
            .storage_latency(&mut w, StorageOp::Write)
            .inspect_err(|_| {
                if w.host(self.host).storage.stalled {
                    w.stall_write(slot, Box::new(*bytes), read_at, self.process);
                }
            })?;
        self.spend(&mut w, latency);
        let at = w.host_time(self.host);
        // The write has completed when it returns: readers see it from `at` on.
        w.queue_write(slot, at, Box::new(*bytes), read_at)
            .map_err(|_torn| StorageError::Failed {
                op: StorageOp::Write,
                reason: "I/O error: the write was cut short".into(),
            })
    }

    fn reconnect(&mut self) {}
}

impl VmDriver for SimHost {
    fn status(&mut self) -> LocalVm {
        let mut w = self.world.borrow_mut();
        if w.host(self.host).vm_query_fails {
            return LocalVm::QueryFailed;
        }
        w.advance_vms();
        match w.vms.get(&self.host).map(|vm| vm.phase) {
            None => LocalVm::NotPresent,
            Some(phase) => {
                let (status, down_reason) = match phase {
                    VmPhase::Booting { .. } => (VmManagerStatus::PoweringUp, None),
                    VmPhase::Up => (VmManagerStatus::Up, None),
                    VmPhase::Paused => (VmManagerStatus::Paused, None),
                    VmPhase::Crashed => (VmManagerStatus::Down, Some(DownReason::Other)),
                    VmPhase::ShuttingDown { .. } => (VmManagerStatus::PoweringDown, None),
                };
                LocalVm::Present {
                    status,
                    down_reason,
                }
            }
        }
    }

    fn act(&mut self, action: VmAction) -> Result<(), VmError> {
        let ok = self.act_ok(action);
        if ok {
            Ok(())
        } else {
            Err(VmError::Failed(format!("{action:?} failed")))
        }
    }
}

impl SimHost {
    fn act_ok(&mut self, action: VmAction) -> bool {
        let mut w = self.world.borrow_mut();
        let name = host_name(self.host);
        let at = w.host_time(self.host);
        match action {
            VmAction::Start { paused, epoch } => {
                let started = start_vm(&mut w, self.host, paused, epoch, at);
                // The VM manager's call returns after the guest was created.
                let took = w.params.vm_start_ms;
                self.spend(&mut w, took);
                started
            }
            VmAction::Shutdown => {
                let done_at = at + w.params.shutdown_ms;
                match w.vms.get_mut(&self.host) {
                    Some(vm) if vm.running() => {
                        vm.phase = VmPhase::ShuttingDown { done_at };
                        w.note(
                            &name,
                            "engine VM shutting down (guest: VM is shutting down!)",
                        );
                        true
                    }
                    _ => false,
                }
            }
            VmAction::PowerOff if w.host(self.host).poweroff_hangs => {
                let timeout = w.params.timings.poweroff_timeout_ms;
                self.spend(&mut w, timeout);
                w.note(&name, "engine VM power-off hung and timed out");
                false
            }
            VmAction::PowerOff if w.host(self.host).poweroff_fails => {
                w.note(&name, "engine VM power-off failed");
                false
            }
            VmAction::PowerOff => {
                if w.vms.remove(&self.host).is_some() {
                    w.note(&name, "engine VM powered off");
                }
                true
            }
            VmAction::RunRecovery => {
                let up = w
                    .vms
                    .get(&self.host)
                    .is_some_and(|vm| vm.phase == VmPhase::Up);
                if up && w.engine_net_ok {
                    w.engine_service_ok = true;
                    w.note(&name, "recovery command restarted the engine service");
                }
                up
            }
        }
    }
}

/// A VM start, with the checks that only make sense at that moment.
fn start_vm(w: &mut WorldState, host: HostId, paused: bool, epoch: u64, at: Millis) -> bool {
    let name = host_name(host);
    if w.host(host).start_failures > 0 {
        w.host_mut(host).start_failures -= 1;
        w.note(&name, &format!("engine VM start failed (epoch {epoch})"));
        return false;
    }
    w.land_writes(at);
    w.advance_vms();
    if let Some(vm) = w.vms.get(&host)
        && vm.running()
    {
        return false;
    }
    w.vms.remove(&host);
    let others: Vec<HostId> = w.running_vms().into_iter().filter(|h| *h != host).collect();
    if !others.is_empty() {
        w.violation(format!(
            "{name} starts an engine VM while one exists on {others:?}"
        ));
    }
    match w.landed_lease(host) {
        Some((LeaseKind::Held, held)) if held == epoch => {}
        other => w.violation(format!(
            "{name} starts the engine VM with epoch {epoch} but its slot says {other:?}"
        )),
    }
    if let Some(last) = w.starts.last().copied() {
        let back = epoch < last.epoch || (epoch == last.epoch && last.host != host);
        let knew = w.claim_knew(host, epoch).unwrap_or(u64::MAX);
        if back && knew >= last.epoch {
            w.violation(format!(
                "epoch went back: {name} starts with {epoch} after host{} with {} (it could \
                 know of {knew})",
                last.host, last.epoch
            ));
        } else if back {
            // Every record of the last epoch was destroyed (third-party writes
            // over the only slot that held it, a late write over it) while
            // this host was away: it could not know it. Mutual exclusion does
            // not rest on epochs (docs/agent.md, "What the lease cannot cover").
            w.note(
                &name,
                &format!(
                    "epoch {epoch} reused after host{}'s {}: no record of it was left when \
                     this host claimed (the highest it could know of: {knew})",
                    last.host, last.epoch
                ),
            );
        }
    }
    if w.host(host).local_maintenance {
        w.violation(format!("{name} starts the engine VM in local maintenance"));
    }
    let phase = if paused {
        VmPhase::Paused
    } else {
        VmPhase::Booting {
            ready_at: at + w.params.boot_ms,
        }
    };
    w.vms.insert(
        host,
        SimVm {
            epoch,
            phase,
            started_at: at,
        },
    );
    // A fresh boot: faults inside the previous guest (its engine service, its
    // network) are gone with it.
    w.engine_service_ok = true;
    w.engine_net_ok = true;
    w.starts.push(super::world::StartRecord { at, host, epoch });
    w.note(
        &name,
        &format!(
            "engine VM started (epoch {epoch}{})",
            if paused { ", paused" } else { "" }
        ),
    );
    true
}

impl Monitors for SimHost {
    fn sensors(&mut self) -> Sensors {
        let mut w = self.world.borrow_mut();
        w.advance_vms();
        let net = w.host(self.host).net_up;
        let up_here = w
            .vms
            .get(&self.host)
            .is_some_and(|vm| vm.phase == VmPhase::Up);
        let probes = w.params.timings.gateway_probe_count;
        // With fencing on, a host without the VM asks the engine's health
        // page as the daemon does: any engine that answers over the network.
        let answers = if w.params.fencing.is_some() && !w.vms.contains_key(&self.host) {
            w.vms
                .iter()
                .any(|(h, vm)| vm.phase == VmPhase::Up && w.host(*h).net_up)
        } else {
            up_here
        };
        Sensors {
            liveliness_ok: Some(answers && net && w.engine_service_ok && w.engine_net_ok),
            gateway_probes_ok: Some(if net { probes } else { 0 }),
            bridge_up: Some(net),
            cpu_load: Some(0.1),
            free_memory_mib: Some(16_384),
        }
    }

    fn local_maintenance(&mut self) -> bool {
        self.world.borrow().host(self.host).local_maintenance
    }

    fn engine_starting(&mut self) {}
}

impl Clock for SimHost {
    /// Since boot, less what a freeze with a stopped clock took, at the
    /// host's clock rate.
    fn now(&mut self) -> Millis {
        let w = self.world.borrow();
        let host = w.host(self.host);
        let at = w.host_time(self.host);
        // A freeze not thawed yet stops the clock from its start on, whatever
        // runs first at the instant it ends.
        let standing = match host.frozen_until {
            Some(until) if host.frozen_clock_stops => at.min(until).since(host.frozen_since),
            _ => 0,
        };
        let elapsed = at
            .since(host.booted_at)
            .saturating_sub(host.clock_lost_ms + standing);
        let ppm = w.params.clock_ppm.get(&self.host).copied().unwrap_or(0);
        let drift = i128::from(elapsed) * i128::from(ppm) / 1_000_000;
        let local = (i128::from(elapsed) + drift).max(0);
        Millis(HOST_CLOCK_ORIGIN_MS) + u64::try_from(local).unwrap_or(u64::MAX)
    }

    fn wall(&mut self) -> (i64, i32) {
        let w = self.world.borrow();
        let ms = i64::try_from(w.host_time(self.host).as_millis()).unwrap_or(i64::MAX)
            + w.host(self.host).wall_offset_ms;
        (WALL_ORIGIN_UNIX + ms.div_euclid(1000), 0)
    }
}

impl Events for SimHost {
    fn log(&mut self, _now: Millis, line: &str) {
        let mut w = self.world.borrow_mut();
        w.note(&host_name(self.host), line);
    }

    fn transition(&mut self, _now: Millis, _from: State, _to: State) {}

    fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.world.borrow_mut().host_mut(self.host).requests)
    }

    fn persist_floors(&mut self, floors: Floors) {
        self.world.borrow_mut().host_mut(self.host).persisted = floors;
    }
}

impl Watchdog for SimHost {
    fn arm(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        Ok(())
    }

    fn pet(&mut self, _now: Millis) {
        let mut w = self.world.borrow_mut();
        let at = w.host_time(self.host);
        w.host_mut(self.host).last_pet = Some(at);
    }

    fn release(&mut self, _now: Millis) {
        self.world.borrow_mut().host_mut(self.host).last_pet = None;
    }

    /// A one-second countdown from now, as a real device's shortest timeout
    /// (setting it restarts the countdown). A tick runs at once in simulated
    /// time and counts its I/O afterwards, so a countdown that ran out within
    /// the tick (during a power-off that hung) has fired already, before the
    /// expire: it stays. The simulator arms it after the tick
    /// (`Sim::after_tick`, `Sim::keeper_tick`).
    fn expire(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        let mut w = self.world.borrow_mut();
        let timeout = w
            .params
            .watchdog_ms
            .ok_or_else(|| WatchdogError("there is no watchdog device".to_owned()))?;
        let at = w.host_time(self.host);
        let h = w.host_mut(self.host);
        let fired_already = h.last_pet.is_some_and(|pet| pet + timeout <= at);
        if !fired_already {
            h.last_pet = Some(at + EXPIRED_DOG_MS - timeout);
        }
        h.dog_expired = true;
        Ok(())
    }
}
