//! The simulated world: hosts, shared storage, engine VMs, networks, in virtual
//! time. Ground truth lives here, and the invariant checks look only at it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Timings;
use crate::core::{Millis, Request};
use crate::metadata::{
    Area, GlobalBlock, HostId, HostSlot, LeaseKind, SLOT_SIZE, SlotError, decode_host_slot,
};

/// Host monotonic clocks start here at boot, so `host-ts` is never 0.
pub const HOST_CLOCK_ORIGIN_MS: u64 = 1_000_000;
/// The simulated wall clock at virtual time 0 (display only).
pub const WALL_ORIGIN_UNIX: i64 = 1_790_000_000;

/// Fixed parameters of one simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParams {
    pub hosts: u16,
    pub timings: Timings,
    /// Engine VM boot time until the engine answers.
    pub boot_ms: u64,
    /// Graceful shutdown duration of the engine VM.
    pub shutdown_ms: u64,
    /// Delay before a killed agent is restarted (systemd `Restart=always`).
    pub agent_restart_ms: u64,
    /// Delay from power-on to the agent's start.
    pub host_boot_ms: u64,
    /// A host whose agent has not petted the watchdog for this long is reset.
    pub watchdog_ms: Option<u64>,
    /// Latency of one metadata read or write.
    pub io_latency_ms: u64,
    /// Whether an engine recovery command is configured.
    pub recovery: bool,
    /// Test-only: break the lease on purpose (checker self-test).
    pub lease_defect: Option<crate::core::LeaseDefect>,
}

impl SimParams {
    /// The reference's timings ([`Timings::reference`]), a 60 s engine boot and a watchdog that
    /// fires before any other host may expire the lease.
    pub fn new(hosts: u16) -> SimParams {
        let timings = Timings::reference();
        let watchdog_ms = timings.lease_fail_ms + timings.loop_ms;
        SimParams {
            hosts,
            timings,
            boot_ms: 60_000,
            shutdown_ms: 5_000,
            agent_restart_ms: 5_000,
            host_boot_ms: 30_000,
            watchdog_ms: Some(watchdog_ms),
            io_latency_ms: 10,
            recovery: false,
            lease_defect: None,
        }
    }
}

/// What the engine VM is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmPhase {
    Booting {
        ready_at: Millis,
    },
    Up,
    Paused,
    /// Killed (qemu died): the VM manager still lists it as Down.
    Crashed,
    ShuttingDown {
        done_at: Millis,
    },
}

/// One engine VM, the ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimVm {
    pub epoch: u64,
    pub phase: VmPhase,
    pub started_at: Millis,
}

impl SimVm {
    /// Advances timed phases to `now`. Returns `false` once a shutdown finished.
    pub fn advance(&mut self, now: Millis) -> bool {
        match self.phase {
            VmPhase::Booting { ready_at } if now >= ready_at => self.phase = VmPhase::Up,
            VmPhase::ShuttingDown { done_at } if now >= done_at => return false,
            _ => {}
        }
        true
    }

    /// Whether the VM exists as a running guest (not crashed).
    pub fn running(&self) -> bool {
        !matches!(self.phase, VmPhase::Crashed)
    }
}

/// Storage faults of one host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageFault {
    /// Reads and writes fail at once (I/O error, unmounted, cut off).
    pub broken: bool,
    /// Only reads fail / only writes fail (e.g. a read-only remount).
    pub reads_fail: bool,
    pub writes_fail: bool,
    /// Reads and writes hang until the store's deadline; writes land when healed.
    pub stalled: bool,
    /// Extra latency of every operation.
    pub extra_latency_ms: u64,
    /// The next write is torn (only its first half lands).
    pub tear_next_write: bool,
}

/// One simulated host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSim {
    pub powered: bool,
    /// World time of the last power-on (the host's monotonic origin).
    pub booted_at: Millis,
    pub agent_running: bool,
    /// SIGSTOP'd until this time.
    pub paused_until: Option<Millis>,
    pub net_up: bool,
    pub storage: StorageFault,
    pub local_maintenance: bool,
    pub requests: Vec<Request>,
    pub last_pet: Option<Millis>,
    /// The next so many VM starts on this host fail.
    pub start_failures: u32,
    /// The VM manager cannot be queried.
    pub vm_query_fails: bool,
    /// Power-offs fail (the VM manager is wedged).
    pub poweroff_fails: bool,
    /// Wall clock offset (clock jumps; display only).
    pub wall_offset_ms: i64,
    /// Time spent inside the current tick (I/O latency).
    pub tick_elapsed_ms: u64,
    /// What the agent persisted on the host's local disk.
    pub persisted: crate::core::agent::Floors,
}

impl HostSim {
    fn new() -> HostSim {
        HostSim {
            powered: true,
            booted_at: Millis::ZERO,
            agent_running: false,
            paused_until: None,
            net_up: true,
            storage: StorageFault::default(),
            local_maintenance: false,
            requests: Vec::new(),
            last_pet: None,
            start_failures: 0,
            vm_query_fails: false,
            poweroff_fails: false,
            wall_offset_ms: 0,
            tick_elapsed_ms: 0,
            persisted: crate::core::agent::Floors::default(),
        }
    }
}

/// A VM start as the world saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartRecord {
    pub at: Millis,
    pub host: HostId,
    pub epoch: u64,
}

/// Everything shared by the simulated hosts.
#[derive(Clone, Debug)]
pub struct WorldState {
    pub params: SimParams,
    pub now: Millis,
    pub hosts: BTreeMap<HostId, HostSim>,
    /// Landed slots, decoded, as readers see them. Readers share it (`Arc`)
    /// and drop it after their step, so a landing write updates it in place.
    landed: Arc<Area>,
    raw_slots: BTreeMap<HostId, Box<[u8; SLOT_SIZE]>>,
    /// Each host's lease as its last intact slot published it: what every other
    /// host goes by while a newer write of that slot is torn.
    intact_leases: BTreeMap<HostId, (LeaseKind, u64)>,
    /// Writes that have not landed yet: land time, host, bytes.
    pending: Vec<(Millis, HostId, Box<[u8; SLOT_SIZE]>)>,
    /// Writes issued while stalled; they land when the stall heals.
    stalled_writes: Vec<(HostId, Box<[u8; SLOT_SIZE]>)>,
    pub vms: BTreeMap<HostId, SimVm>,
    pub engine_service_ok: bool,
    pub engine_net_ok: bool,
    pub starts: Vec<StartRecord>,
    pub log: Vec<String>,
    pub violations: Vec<String>,
}

impl WorldState {
    pub fn new(params: SimParams) -> WorldState {
        let hosts = (1..=params.hosts).map(|id| (id, HostSim::new())).collect();
        WorldState {
            params,
            now: Millis::ZERO,
            hosts,
            landed: Arc::new(Area {
                global: Ok(GlobalBlock::new()),
                hosts: BTreeMap::new(),
            }),
            raw_slots: BTreeMap::new(),
            intact_leases: BTreeMap::new(),
            pending: Vec::new(),
            stalled_writes: Vec::new(),
            vms: BTreeMap::new(),
            engine_service_ok: true,
            engine_net_ok: true,
            starts: Vec::new(),
            log: Vec::new(),
            violations: Vec::new(),
        }
    }

    pub fn host(&self, id: HostId) -> &HostSim {
        &self.hosts[&id]
    }

    pub fn host_mut(&mut self, id: HostId) -> &mut HostSim {
        self.hosts.get_mut(&id).expect("simulated host exists")
    }

    /// Time as host `id` sees it inside its current tick.
    pub fn host_time(&self, id: HostId) -> Millis {
        self.now + self.host(id).tick_elapsed_ms
    }

    pub fn note(&mut self, who: &str, message: &str) {
        let line = format!("{} {who}: {message}", fmt_time(self.now));
        self.log.push(line);
    }

    pub fn violation(&mut self, message: String) {
        let line = format!("{} INVARIANT VIOLATED: {message}", fmt_time(self.now));
        self.log.push(line.clone());
        self.violations.push(line);
    }

    /// Applies writes that have landed by `at`.
    pub fn land_writes(&mut self, at: Millis) {
        if self.pending.iter().all(|(t, ..)| *t > at) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, ..)| *t <= at);
        self.pending = later;
        for (_, host, bytes) in due {
            self.store_slot(host, bytes);
        }
    }

    fn store_slot(&mut self, host: HostId, bytes: Box<[u8; SLOT_SIZE]>) {
        let area = Arc::make_mut(&mut self.landed);
        if host == 0 {
            area.global = GlobalBlock::decode(&bytes[..]);
            return;
        }
        match decode_host_slot(host, &bytes[..]) {
            Ok(Some(slot)) => {
                if let Ok(Some(lease)) = slot.extra.lease() {
                    self.intact_leases.insert(host, (lease.kind, lease.epoch));
                }
                area.hosts.insert(host, Ok(slot));
            }
            Ok(None) => {
                area.hosts.remove(&host);
            }
            Err(e) => {
                area.hosts.insert(host, Err(e));
            }
        }
        self.raw_slots.insert(host, bytes);
    }

    /// Queues a write by `host` that lands at `at` (torn if so faulted).
    pub fn queue_write(&mut self, host: HostId, at: Millis, mut bytes: Box<[u8; SLOT_SIZE]>) {
        let fault = &mut self.host_mut(host).storage;
        if std::mem::take(&mut fault.tear_next_write) {
            // Only the first sector (the record) lands; the rest of the slot keeps
            // the previous write, as a write cut at a sector boundary leaves it.
            const SECTOR: usize = 512;
            let old = self
                .raw_slots
                .get(&host)
                .map(|b| b[SECTOR..].to_vec())
                .unwrap_or_else(|| vec![0; SLOT_SIZE - SECTOR]);
            bytes[SECTOR..].copy_from_slice(&old);
            self.note(&host_name(host), "storage: this write lands torn");
        }
        self.pending.push((at, host, bytes));
    }

    pub fn stall_write(&mut self, host: HostId, bytes: Box<[u8; SLOT_SIZE]>) {
        self.stalled_writes.push((host, bytes));
    }

    /// The stall of `host` is over: its stuck writes land now, oldest first.
    pub fn release_stalled(&mut self, host: HostId) {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stalled_writes)
            .into_iter()
            .partition(|(h, _)| *h == host);
        self.stalled_writes = others;
        for (h, bytes) in mine {
            self.note(&host_name(h), "storage: a stalled write lands late");
            self.store_slot(h, bytes);
        }
    }

    /// The area as a reader sees it now.
    /// What `hosted-engine --set-maintenance --mode=global|none` writes to slot 0.
    /// (A read-modify-write of slot 0, landing at once.)
    pub fn set_global_maintenance(&mut self, on: bool) {
        let area = Arc::make_mut(&mut self.landed);
        let mut block = area.global.clone().unwrap_or_default();
        block.set_maintenance(on);
        area.global = Ok(block);
    }

    /// The area as a reader sees it now (shared, not copied).
    pub fn area(&self) -> Arc<Area> {
        Arc::clone(&self.landed)
    }

    /// The landed slot of host `id`.
    pub fn slot(&self, id: HostId) -> Option<&Result<HostSlot, SlotError>> {
        self.landed.hosts.get(&id)
    }

    /// The lease state host `id`'s last intact landed slot publishes.
    pub fn landed_lease(&self, id: HostId) -> Option<(LeaseKind, u64)> {
        self.intact_leases.get(&id).copied()
    }

    /// Advances every VM's timed phase.
    pub fn advance_vms(&mut self) {
        let now = self.now;
        let finished: Vec<HostId> = self
            .vms
            .iter_mut()
            .filter_map(|(host, vm)| (!vm.advance(now)).then_some(*host))
            .collect();
        for host in finished {
            self.vms.remove(&host);
            self.note(&host_name(host), "engine VM shut down");
        }
    }

    /// Hosts on which an engine VM runs (booting, up, paused or shutting down).
    pub fn running_vms(&self) -> Vec<HostId> {
        self.vms
            .iter()
            .filter(|(_, vm)| vm.running())
            .map(|(h, _)| *h)
            .collect()
    }

    /// The hosts whose engine VM is up and answering.
    pub fn healthy_engines(&self) -> Vec<HostId> {
        self.vms
            .iter()
            .filter(|(host, vm)| {
                vm.phase == VmPhase::Up
                    && self.engine_service_ok
                    && self.engine_net_ok
                    && self.host(**host).net_up
            })
            .map(|(host, _)| *host)
            .collect()
    }
}

pub fn host_name(id: HostId) -> String {
    format!("host{id}")
}

/// `   612.000` seconds since the start of the simulation.
pub fn fmt_time(t: Millis) -> String {
    format!("{:>5}.{:03}", t.as_millis() / 1000, t.as_millis() % 1000)
}
