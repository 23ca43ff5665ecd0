//! The simulated world: hosts, shared storage, engine VMs, networks, in virtual
//! time. Ground truth lives here, and the invariant checks look only at it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::fault::Hostile;
use crate::config::Timings;
use crate::core::agent::EPOCH_SEEN_KEY;
use crate::core::agent::Floors;
use crate::core::{Millis, Request};
use crate::metadata::{
    Area, Extra, GlobalBlock, HostId, HostRecord, HostSlot, LEASE_EPOCH_KEY, LEASE_KEY, LeaseKind,
    METADATA_FEATURE_VERSION, METADATA_PARSE_VERSION, SEQ_KEY, SLOT_SIZE, SlotError,
    decode_host_slot, encode_host_slot,
};

/// Host monotonic clocks start here at boot, so `host-ts` is never 0.
pub const HOST_CLOCK_ORIGIN_MS: u64 = 1_000_000;
/// The simulated wall clock at virtual time 0 (display only).
pub const WALL_ORIGIN_UNIX: i64 = 1_790_000_000;
/// Versions of each host's slot kept for `slot-rollback`.
/// How soon a watchdog the agent expired fires: a real device's shortest
/// timeout (`shell::Watchdog::expire`).
pub const EXPIRED_DOG_MS: u64 = 1_000;

const SLOT_HISTORY_MAX: usize = 128;
/// Versions of the whole area kept for stale reads.
const AREA_HISTORY_MAX: usize = 512;
/// How soon a garbage writer overwrites a slot after its host wrote it.
const GARBAGE_AFTER_MS: u64 = 1;

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
    /// How long the VM manager takes to start the engine VM (the driver's call).
    pub vm_start_ms: u64,
    /// Each host's monotonic clock rate error, in parts per million (hosts
    /// not listed run exact).
    pub clock_ppm: BTreeMap<HostId, i64>,
    /// Whether an engine recovery command is configured.
    pub recovery: bool,
    /// Test-only: break the lease on purpose (checker self-test).
    pub lease_defect: Option<crate::core::LeaseDefect>,
    /// Power fencing: `None`, no host fences.
    pub fencing: Option<super::fencing::SimFencing>,
}

impl SimParams {
    /// The reference's timings ([`Timings::reference`]), a 60 s engine boot and
    /// a watchdog at the longest timeout the lease allows
    /// ([`SimParams::watchdog_for`]).
    pub fn new(hosts: u16) -> SimParams {
        let timings = Timings::reference();
        SimParams {
            hosts,
            watchdog_ms: Some(SimParams::watchdog_for(&timings)),
            timings,
            boot_ms: 60_000,
            shutdown_ms: 5_000,
            agent_restart_ms: 5_000,
            host_boot_ms: 30_000,
            io_latency_ms: 10,
            vm_start_ms: 0,
            clock_ppm: BTreeMap::new(),
            recovery: false,
            lease_defect: None,
            fencing: None,
        }
    }

    /// The watchdog timeout a simulation uses unless told otherwise: the
    /// longest the lease allows (`Timings::watchdog_range_ms`), as the lab's
    /// emulated watchdog does.
    pub fn watchdog_for(timings: &Timings) -> u64 {
        timings.watchdog_range_ms().1
    }

    /// The stalest read the lease's claim rule tolerates: half of what the
    /// settle time leaves beyond the claim window (`core::lease`).
    pub fn stale_read_max_ms(&self) -> u64 {
        let window = self.timings.storage_timeout_ms + self.timings.loop_ms;
        self.timings.lease_settle_ms.saturating_sub(window) / 2
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

    /// Its timed phases resume `by` later (the host was frozen).
    fn delay(&mut self, by: u64) {
        match &mut self.phase {
            VmPhase::Booting { ready_at } => *ready_at = *ready_at + by,
            VmPhase::ShuttingDown { done_at } => *done_at = *done_at + by,
            _ => {}
        }
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
    /// Writes stuck in a stall land this long after it heals (the old
    /// connection's writes go out late). The agent that wrote them is refused
    /// storage until they land; an agent started after it is not, and its
    /// newer writes can be overwritten by them.
    pub late_ms: u64,
    /// Extra latency of every operation.
    pub extra_latency_ms: u64,
    /// The next write is torn: cut at a sector boundary, it fails, and the
    /// first sector lands over the old slot.
    pub tear_next_write: bool,
    /// Reads return the metadata area as it was this long ago.
    pub stale_ms: u64,
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
    /// The next loop stalls this long between its read and its write.
    pub pause_mid_ms: Option<u64>,
    /// The whole host is frozen (agent, VM, watchdog) until this time.
    pub frozen_until: Option<Millis>,
    /// When the current freeze began.
    pub frozen_since: Millis,
    /// Whether its monotonic clock stands still while frozen (a paused host
    /// VM), rather than counting it (a suspend: `CLOCK_BOOTTIME`).
    pub frozen_clock_stops: bool,
    /// Time the host's monotonic clock missed since boot (frozen).
    pub clock_lost_ms: u64,
    pub net_up: bool,
    pub storage: StorageFault,
    pub local_maintenance: bool,
    pub requests: Vec<Request>,
    pub last_pet: Option<Millis>,
    /// The agent expired the watchdog ([`EXPIRED_DOG_MS`] from then): the
    /// simulator arms it after the tick.
    pub dog_expired: bool,
    /// The next so many VM starts on this host fail.
    pub start_failures: u32,
    /// The VM manager cannot be queried.
    pub vm_query_fails: bool,
    /// Power-offs fail (the VM manager is wedged).
    pub poweroff_fails: bool,
    /// Power-offs hang until the power-off timeout, then fail.
    pub poweroff_hangs: bool,
    /// Wall clock offset (clock jumps; display only).
    pub wall_offset_ms: i64,
    /// Time spent inside the current tick (I/O latency).
    pub tick_elapsed_ms: u64,
    /// When the current loop's read started (world time).
    pub read_at: Millis,
    /// What the agent persisted on the host's local disk.
    pub persisted: Floors,
}

impl HostSim {
    fn new() -> HostSim {
        HostSim {
            powered: true,
            booted_at: Millis::ZERO,
            agent_running: false,
            paused_until: None,
            pause_mid_ms: None,
            frozen_until: None,
            frozen_since: Millis::ZERO,
            frozen_clock_stops: true,
            clock_lost_ms: 0,
            net_up: true,
            storage: StorageFault::default(),
            local_maintenance: false,
            requests: Vec::new(),
            last_pet: None,
            dog_expired: false,
            start_failures: 0,
            vm_query_fails: false,
            poweroff_fails: false,
            poweroff_hangs: false,
            wall_offset_ms: 0,
            tick_elapsed_ms: 0,
            read_at: Millis::ZERO,
            persisted: Floors::default(),
        }
    }

    /// Whether the host is frozen at `now`.
    pub fn frozen(&self, now: Millis) -> bool {
        self.frozen_until.is_some_and(|until| until > now)
    }
}

/// A VM start as the world saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartRecord {
    pub at: Millis,
    pub host: HostId,
    pub epoch: u64,
}

/// A slot's bytes.
type RawSlot = Box<[u8; SLOT_SIZE]>;

/// A write that was cut short (torn): only its first sector landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn;

/// Who wrote a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// The host's own agent, deciding from a read that started at `read_at`.
    Agent { read_at: Millis },
    /// Someone else (an operator's tool, a broken or hostile writer).
    ThirdParty,
}

/// A host's lease as a reader that follows the write sequence sees it: its
/// newest intact write by its own agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective {
    pub seq: Option<u64>,
    pub kind: LeaseKind,
    pub epoch: u64,
    /// Its agent stopped cleanly and no keeper renews its lease (parked).
    pub stopped: bool,
    pub landed_at: Millis,
    /// When other hosts could first read it: a write that lands inside its
    /// writer's tick (read back by the writer itself) is in the area from
    /// that tick's world time on, before its landing time by the writer's
    /// clock.
    pub visible_at: Millis,
    /// When the agent write before it landed, and when it became visible
    /// (see [`WorldState::erased`]).
    pub prev_landed_at: Option<Millis>,
    pub prev_visible_at: Option<Millis>,
}

/// What one landing replaced in the area.
#[derive(Clone, Debug)]
struct Undo {
    at: Millis,
    host: HostId,
    /// The host's slot before (`None`: it was empty).
    replaced: Option<Result<HostSlot, SlotError>>,
}

/// A write on its way to the storage.
#[derive(Clone, Debug, PartialEq)]
struct PendingWrite {
    at: Millis,
    host: HostId,
    bytes: Box<[u8; SLOT_SIZE]>,
    writer: Writer,
    /// The agent process whose store still waits for it (a write stuck in a
    /// stall): its store refuses new calls until it lands.
    owner: Option<u64>,
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
    /// What each landing replaced, newest last, for stale reads (kept once
    /// one is scheduled): undone from a copy of `landed`, it gives the area
    /// as it was.
    area_undo: VecDeque<Undo>,
    keep_area_history: bool,
    raw_slots: BTreeMap<HostId, Box<[u8; SLOT_SIZE]>>,
    /// Earlier versions of each host's slot, for `slot-rollback` (kept once
    /// one is scheduled).
    slot_history: BTreeMap<HostId, VecDeque<(Millis, RawSlot)>>,
    keep_slot_history: bool,
    /// Each host's lease as its newest intact write published it.
    effective: BTreeMap<HostId, Effective>,
    /// Writes that have not landed yet.
    pending: Vec<PendingWrite>,
    /// Writes issued while stalled; they land when the stall heals.
    stalled_writes: Vec<(HostId, Box<[u8; SLOT_SIZE]>, Writer, u64)>,
    /// Slots a garbage writer overwrites until the given time.
    garbage_until: BTreeMap<HostId, Millis>,
    /// For each claim (host, epoch), the highest epoch its host could know of
    /// (`knowable_epoch`) when it landed.
    claims_knew: BTreeMap<(HostId, u64), u64>,
    pub vms: BTreeMap<HostId, SimVm>,
    pub engine_service_ok: bool,
    pub engine_net_ok: bool,
    pub starts: Vec<StartRecord>,
    /// The fence devices and the fences under way.
    pub fencing: super::fencing::FenceWorld,
    /// The claims made to take the lease over.
    pub(super) takeovers: super::handover::Takeovers,
    pub log: Vec<String>,
    pub violations: Vec<String>,
}

impl WorldState {
    pub fn new(params: SimParams) -> WorldState {
        let hosts = (1..=params.hosts).map(|id| (id, HostSim::new())).collect();
        let fencing = super::fencing::FenceWorld::new(params.hosts, params.fencing.as_ref());
        WorldState {
            fencing,
            takeovers: super::handover::Takeovers::default(),
            params,
            now: Millis::ZERO,
            hosts,
            landed: Arc::new(Area {
                global: Ok(GlobalBlock::new()),
                hosts: BTreeMap::new(),
            }),
            area_undo: VecDeque::new(),
            keep_area_history: false,
            raw_slots: BTreeMap::new(),
            slot_history: BTreeMap::new(),
            keep_slot_history: false,
            effective: BTreeMap::new(),
            pending: Vec::new(),
            stalled_writes: Vec::new(),
            garbage_until: BTreeMap::new(),
            claims_knew: BTreeMap::new(),
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
        if self.pending.iter().all(|p| p.at > at) {
            return;
        }
        let (mut due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.at <= at);
        self.pending = later;
        due.sort_by_key(|p| p.at);
        for write in due {
            self.store_slot(write.host, write.bytes, write.writer, write.at);
        }
    }

    fn store_slot(
        &mut self,
        host: HostId,
        bytes: Box<[u8; SLOT_SIZE]>,
        writer: Writer,
        at: Millis,
    ) {
        if host == 0 {
            Arc::make_mut(&mut self.landed).global = GlobalBlock::decode(&bytes[..]);
            return;
        }
        let decoded = decode_host_slot(host, &bytes[..]);
        match (&decoded, writer) {
            (Ok(Some(slot)), Writer::Agent { read_at }) => {
                self.take_in_agent_write(host, slot, read_at, at);
            }
            // A write torn so that the slot no longer reads intact (its new
            // record over the old extra text) erases the write before it
            // as a third party's garbage does: readers keep the last valid
            // state they read, which may be older still.
            (Err(_), Writer::Agent { .. }) | (_, Writer::ThirdParty) => self.erased(host, at),
            _ => {}
        }
        let area = Arc::make_mut(&mut self.landed);
        let replaced = match decoded {
            Ok(Some(slot)) => area.hosts.insert(host, Ok(slot)),
            Ok(None) => area.hosts.remove(&host),
            Err(e) => area.hosts.insert(host, Err(e)),
        };
        if self.keep_area_history {
            self.area_undo.push_back(Undo { at, host, replaced });
            if self.area_undo.len() > AREA_HISTORY_MAX {
                self.area_undo.pop_front();
            }
        }
        if matches!(writer, Writer::Agent { .. }) {
            if self.keep_slot_history {
                let history = self.slot_history.entry(host).or_default();
                history.push_back((at, bytes.clone()));
                if history.len() > SLOT_HISTORY_MAX {
                    history.pop_front();
                }
            }
            if self
                .garbage_until
                .get(&host)
                .is_some_and(|until| *until > at)
            {
                self.queue_garbage(host, at + GARBAGE_AFTER_MS);
            }
        }
        self.raw_slots.insert(host, bytes);
    }

    /// An intact write by a host's own agent: the invariants judged at that
    /// moment, then its effective lease (unless it is a late one).
    fn take_in_agent_write(&mut self, host: HostId, slot: &HostSlot, read_at: Millis, at: Millis) {
        let Ok(Some(lease)) = slot.extra.lease() else {
            return;
        };
        let seq = slot.extra.seq();
        let before = self.effective.get(&host).copied();
        if let (Some(before), Some(seq)) = (before, seq)
            && before.seq.is_some_and(|seen| seq <= seen)
        {
            return;
        }
        let new_claim = lease.kind == LeaseKind::Claim
            && before.is_none_or(|b| b.kind != LeaseKind::Claim || b.epoch != lease.epoch);
        if new_claim {
            if let Some(target) = slot
                .extra
                .get(crate::core::fence::FENCE_TARGET_KEY)
                .and_then(crate::core::FenceTarget::parse)
            {
                self.note_fence_claim(host, lease.epoch, target);
            }
            if let Some(from) = slot
                .extra
                .get(crate::core::agent::TAKEOVER_KEY)
                .and_then(crate::core::FenceTarget::parse)
            {
                self.note_takeover_claim(host, lease.epoch, from);
            }
            self.check_claim(host, lease.epoch, read_at);
            let knowable = self.knowable_epoch(host, lease.epoch);
            self.claims_knew.insert((host, lease.epoch), knowable);
        }
        let new_hold = lease.kind == LeaseKind::Held
            && before.is_none_or(|b| b.kind != LeaseKind::Held || b.epoch != lease.epoch);
        if new_hold {
            let live_for = self.live_for();
            self.check_fenced_take(host, lease.epoch, live_for);
            self.check_takeover_take(host, lease.epoch, live_for);
        }
        self.effective.insert(
            host,
            Effective {
                seq,
                kind: lease.kind,
                epoch: lease.epoch,
                // A stopped agent's lease that no keeper renews is parked:
                // never expired by silence.
                stopped: slot.record.stopped
                    && slot.extra.get(crate::core::agent::KEEPER_KEY) != Some("1"),
                landed_at: at,
                visible_at: at.min(self.now),
                prev_landed_at: before.map(|b| b.landed_at),
                prev_visible_at: before.map(|b| b.visible_at),
            },
        );
    }

    /// A third party overwrote `host`'s slot at `at`, or a torn write of its
    /// own left it unreadable. An agent write of its
    /// that stayed there less than a reader's loop and read (and the longest
    /// stale read) may have been seen by nobody: a sound reader may expire
    /// the lease from the write before it, so that one is what a claim is
    /// judged against, and a fence's silence counted from. (The holder cannot
    /// count the erased write either: its own read-back does not confirm it,
    /// so it fences on time.)
    fn erased(&mut self, host: HostId, at: Millis) {
        let t = &self.params.timings;
        let unseen = t.loop_ms + t.storage_timeout_ms + self.params.stale_read_max_ms();
        if let Some(e) = self.effective.get_mut(&host)
            && at.since(e.landed_at) < unseen
            && let (Some(landed), Some(visible)) = (e.prev_landed_at, e.prev_visible_at)
        {
            e.landed_at = landed;
            e.visible_at = visible;
        }
    }

    /// A claim decided from a read at `read_at` must not be made against a
    /// hold whose holder wrote recently enough that a sound reader could not
    /// have expired it (its newest write, less the slack for reads that see a
    /// write late or stamp it early, is younger than lease-dead), nor against
    /// a cleanly stopped holder's.
    ///
    /// A claim made to take the lease over (`lease-takeover`) is not judged
    /// against the holder that hands it over either (`sim::handover`).
    ///
    /// A claim made to fence a holder (`fence-target`) is not judged against
    /// that holder's hold: it takes nothing, and the holder disregards it.
    /// The fence it may lead to is judged when it begins
    /// (`WorldState::check_fence`), and the lease it may give when it lands
    /// (`WorldState::check_fenced_take`).
    fn check_claim(&mut self, claimer: HostId, epoch: u64, read_at: Millis) {
        let live_for = self.live_for();
        let against = self.effective.iter().find(|(host, e)| {
            **host != claimer
                && e.kind.holds()
                && (e.stopped
                    || !(self.claim_fences(claimer, epoch, **host)
                        || self.claim_takes_over(claimer, epoch, **host)))
                && (e.stopped || (e.landed_at <= read_at && read_at.since(e.landed_at) < live_for))
        });
        if let Some((host, e)) = against.map(|(h, e)| (*h, *e)) {
            self.violation(format!(
                "{} claims the lease (epoch {epoch}) against host{host}'s {} (epoch {}) \
                 written {} before the claim's read",
                host_name(claimer),
                e.kind.as_str(),
                e.epoch,
                fmt_duration(read_at.since(e.landed_at))
            ));
        }
    }

    /// How long after a holder's newest write its lease is live for every
    /// sound reader: lease-dead, less the slack for reads that see a write
    /// late or stamp it early.
    pub(super) fn live_for(&self) -> u64 {
        let t = &self.params.timings;
        let slack = 2 * t.storage_timeout_ms + t.loop_ms + self.params.stale_read_max_ms();
        t.lease_dead_ms.saturating_sub(slack)
    }

    /// The highest epoch a claimer of `epoch` could know of now: any intact
    /// slot's lease epoch or `lease-epoch-seen`, and its own persisted floor
    /// (which it raised to `epoch` itself before the claim's write).
    fn knowable_epoch(&self, claimer: HostId, epoch: u64) -> u64 {
        let on_storage = self
            .landed
            .hosts
            .values()
            .filter_map(|slot| slot.as_ref().ok())
            .flat_map(|slot| {
                let lease = slot.extra.lease().ok().flatten().map(|l| l.epoch);
                let seen = slot.extra.get(EPOCH_SEEN_KEY).and_then(|v| v.parse().ok());
                lease.into_iter().chain(seen)
            })
            .max()
            .unwrap_or(0);
        let floor = self.host(claimer).persisted.epoch;
        on_storage.max(floor.min(epoch.saturating_sub(1)))
    }

    /// The highest epoch host `host` could know of when it claimed `epoch`
    /// (see [`WorldState::knowable_epoch`]).
    pub fn claim_knew(&self, host: HostId, epoch: u64) -> Option<u64> {
        self.claims_knew.get(&(host, epoch)).copied()
    }

    /// Host `id`'s lease as its newest intact write published it.
    pub fn effective(&self, id: HostId) -> Option<Effective> {
        self.effective.get(&id).copied()
    }

    /// Queues a write by `host`'s agent that lands at `at` (torn if so
    /// faulted: then only its first sector lands, and the writer hears of a
    /// failure).
    pub fn queue_write(
        &mut self,
        host: HostId,
        at: Millis,
        mut bytes: Box<[u8; SLOT_SIZE]>,
        read_at: Millis,
    ) -> Result<(), Torn> {
        let fault = &mut self.host_mut(host).storage;
        let torn = std::mem::take(&mut fault.tear_next_write);
        if torn {
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
        self.pending.push(PendingWrite {
            at,
            host,
            bytes,
            writer: Writer::Agent { read_at },
            owner: None,
        });
        if torn { Err(Torn) } else { Ok(()) }
    }

    /// Lands `bytes` in `host`'s slot now, written by someone else.
    pub fn third_party_write(&mut self, host: HostId, bytes: Box<[u8; SLOT_SIZE]>) {
        let now = self.now;
        self.land_writes(now);
        self.store_slot(host, bytes, Writer::ThirdParty, now);
    }

    fn queue_garbage(&mut self, host: HostId, at: Millis) {
        let mut bytes = Box::new([0u8; SLOT_SIZE]);
        // Not zero (that would read as an empty slot), never a valid record.
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7) | 0x80;
        }
        self.pending.push(PendingWrite {
            at,
            host,
            bytes,
            writer: Writer::ThirdParty,
            owner: None,
        });
    }

    /// A garbage writer overwrites `host`'s slot now and after every write
    /// its agent lands, until `until`.
    pub fn start_garbage(&mut self, host: HostId, until: Millis) {
        self.garbage_until.insert(host, until);
        let now = self.now;
        self.queue_garbage(host, now);
        self.land_writes(now);
    }

    /// The garbage writer of `host`'s slot stops.
    pub fn stop_garbage(&mut self, host: HostId) {
        self.garbage_until.remove(&host);
    }

    /// A slot for `host` with valid checksums and an impossible value: its
    /// current slot (or a fresh one) with `kind` changed.
    pub fn hostile_slot(&self, host: HostId, kind: Hostile) -> Box<[u8; SLOT_SIZE]> {
        let (record, extra) = match self.landed.hosts.get(&host) {
            Some(Ok(slot)) => (slot.record.clone(), slot.extra.clone()),
            _ => (hostile_record(host), Extra::new()),
        };
        let (key, value) = match kind {
            Hostile::EpochSeen => (EPOCH_SEEN_KEY, u64::MAX.to_string()),
            Hostile::Epoch => (LEASE_EPOCH_KEY, u64::MAX.to_string()),
            Hostile::SeqMax => (SEQ_KEY, u64::MAX.to_string()),
            Hostile::SeqAhead => {
                let seq = extra.seq().unwrap_or(0).saturating_add(1_000_000);
                (SEQ_KEY, seq.to_string())
            }
        };
        let mut forged = Extra::new();
        for (k, v) in extra.entries() {
            if k != key && !(kind == Hostile::Epoch && k == LEASE_KEY) {
                forged.push(k, v);
            }
        }
        if kind == Hostile::Epoch {
            forged.push(LEASE_KEY, LeaseKind::Held.as_str());
        }
        forged.push(key, value);
        encode_host_slot(host, &record, &forged).expect("a forged slot encodes")
    }

    /// `host`'s slot as its agent wrote it at least `ago` before now (the
    /// oldest kept, when none is that old).
    pub fn old_slot(&self, host: HostId, ago: u64) -> Option<Box<[u8; SLOT_SIZE]>> {
        let history = self.slot_history.get(&host)?;
        let cutoff = Millis(self.now.as_millis().saturating_sub(ago));
        history
            .iter()
            .rev()
            .find(|(at, _)| *at <= cutoff)
            .or_else(|| history.front())
            .map(|(_, bytes)| bytes.clone())
    }

    /// `host`'s raw slot as it lies on the storage now.
    pub fn raw_slot(&self, host: HostId) -> Option<&[u8; SLOT_SIZE]> {
        self.raw_slots.get(&host).map(|b| &**b)
    }

    /// A write of agent process `owner` that hangs in a stall.
    pub fn stall_write(
        &mut self,
        host: HostId,
        bytes: Box<[u8; SLOT_SIZE]>,
        read_at: Millis,
        owner: u64,
    ) {
        self.stalled_writes
            .push((host, bytes, Writer::Agent { read_at }, owner));
    }

    /// Whether agent process `owner` of `host` has a write still hanging or
    /// on its way late: its store refuses every call until it lands (one
    /// write in flight at most, `shell::storage`).
    pub fn write_in_flight(&self, host: HostId, owner: u64) -> bool {
        self.stalled_writes
            .iter()
            .any(|(h, _, _, o)| *h == host && *o == owner)
            || self
                .pending
                .iter()
                .any(|p| p.host == host && p.owner == Some(owner))
    }

    /// The stall of `host` is over: its stuck writes land now, oldest first,
    /// or, when the stall was a late one, `late_ms` from now (after whatever
    /// the host writes meanwhile).
    pub fn release_stalled(&mut self, host: HostId) {
        let late_ms = self.host(host).storage.late_ms;
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stalled_writes)
            .into_iter()
            .partition(|(h, ..)| *h == host);
        self.stalled_writes = others;
        let now = self.now;
        for (h, bytes, writer, owner) in mine {
            if late_ms == 0 {
                self.note(&host_name(h), "storage: a stalled write lands late");
                self.store_slot(h, bytes, writer, now);
            } else {
                self.pending.push(PendingWrite {
                    at: now + late_ms,
                    host: h,
                    bytes,
                    writer,
                    owner: Some(owner),
                });
            }
        }
        if late_ms > 0 {
            self.note(
                &host_name(host),
                &format!(
                    "storage: stalled writes will land {} from now",
                    fmt_duration(late_ms)
                ),
            );
        }
    }

    /// What `hosted-engine --set-maintenance --mode=global|none` writes to slot 0.
    /// (A read-modify-write of slot 0, landing at once.)
    pub fn set_global_maintenance(&mut self, on: bool) {
        let area = Arc::make_mut(&mut self.landed);
        let mut block = area.global.clone().unwrap_or_default();
        block.set_maintenance(on);
        area.global = Ok(block);
    }

    /// Stale reads from now on need the area's earlier versions.
    pub fn keep_area_history(&mut self) {
        self.keep_area_history = true;
    }

    /// A rollback is scheduled: keep each host's earlier slots from now on.
    pub fn keep_slot_history(&mut self) {
        self.keep_slot_history = true;
    }

    /// The area as a reader sees it now (shared, not copied).
    pub fn area(&self) -> Arc<Area> {
        Arc::clone(&self.landed)
    }

    /// The area as it was at `at` (as far back as the undo log goes).
    pub fn area_as_of(&self, at: Millis) -> Arc<Area> {
        if self.area_undo.back().is_none_or(|u| u.at <= at) {
            return self.area();
        }
        let mut area = (*self.landed).clone();
        for undo in self.area_undo.iter().rev().take_while(|u| u.at > at) {
            match &undo.replaced {
                Some(slot) => area.hosts.insert(undo.host, slot.clone()),
                None => area.hosts.remove(&undo.host),
            };
        }
        Arc::new(area)
    }

    /// The landed slot of host `id`.
    pub fn slot(&self, id: HostId) -> Option<&Result<HostSlot, SlotError>> {
        self.landed.hosts.get(&id)
    }

    /// The lease state host `id`'s newest intact landed slot publishes.
    pub fn landed_lease(&self, id: HostId) -> Option<(LeaseKind, u64)> {
        self.effective.get(&id).map(|e| (e.kind, e.epoch))
    }

    /// Advances every VM's timed phase (a frozen host's VM stands still).
    pub fn advance_vms(&mut self) {
        let now = self.now;
        let frozen: Vec<HostId> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.frozen(now))
            .map(|(id, _)| *id)
            .collect();
        let finished: Vec<HostId> = self
            .vms
            .iter_mut()
            .filter(|(host, _)| !frozen.contains(host))
            .filter_map(|(host, vm)| (!vm.advance(now)).then_some(*host))
            .collect();
        for host in finished {
            self.vms.remove(&host);
            self.note(&host_name(host), "engine VM shut down");
        }
    }

    /// The host's VM resumes after a freeze of `by`.
    pub fn delay_vm(&mut self, host: HostId, by: u64) {
        if let Some(vm) = self.vms.get_mut(&host) {
            vm.delay(by);
        }
    }

    /// Hosts on which an engine VM runs (booting, up, paused or shutting
    /// down), not counting a frozen host's, which runs nothing while frozen.
    pub fn running_vms(&self) -> Vec<HostId> {
        self.vms
            .iter()
            .filter(|(host, vm)| vm.running() && !self.host(**host).frozen(self.now))
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
                    && !self.host(**host).frozen(self.now)
            })
            .map(|(host, _)| *host)
            .collect()
    }
}

/// A record for a host that never wrote one (a hostile writer's invention).
fn hostile_record(host: HostId) -> HostRecord {
    HostRecord {
        parse_version: METADATA_PARSE_VERSION,
        feature_version: METADATA_FEATURE_VERSION,
        host_ts: 1,
        host_id: host,
        score: 3400,
        engine_status:
            r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "forged"}"#.into(),
        hostname: format!("forged{host}"),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 1,
    }
}

pub fn host_name(id: HostId) -> String {
    format!("host{id}")
}

/// `   612.000` seconds since the start of the simulation.
pub fn fmt_time(t: Millis) -> String {
    format!("{:>5}.{:03}", t.as_millis() / 1000, t.as_millis() % 1000)
}

/// `12.345 s`.
pub fn fmt_duration(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}
