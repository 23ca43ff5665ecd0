//! One host's decision core: what it saw in, what to publish and do out.
//!
//! Each loop the shell calls [`Agent::step`] with one [`Observation`] and gets a
//! [`Decision`]: the slot to publish, log lines and notifications. It publishes
//! the slot, then calls [`Agent::after_publish`] with the outcome and gets the VM
//! actions to run now. That split is the ordering rule of the lease: a VM start is
//! only ever handed out after the publish that renewed a held lease succeeded in
//! the same loop; stops and power-offs are handed out whatever the outcome,
//! because stopping the engine is always safe.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

mod handover;
mod logic;
mod power_fence;
mod publish;
mod substate;

pub use handover::{HANDOVER_KEY, TAKEOVER_KEY};
pub use publish::published_dead_ms;

use alloc::collections::BTreeMap;

use crate::classify::{LocalVm, VmManagerStatus, best_engine, classify};
use crate::fence::{
    FENCE_TARGET_KEY, FENCE_TRIED_KEY, FENCED_KEY, FenceConf, FenceOrder, FenceProof, FenceReport,
    FenceTarget,
};
use crate::lease::{Lease, LeaseDefect, LeaseTimings, Phase};
use crate::liveness::PeerLiveness;
use crate::metadata::{
    Area, EPOCH_PLAUSIBLE_MAX, EngineStatus, Extra, HostId, HostRecord, HostSlot, LEASE_EPOCH_KEY,
    LEASE_KEY, SEQ_KEY, SEQ_PLAUSIBLE_MAX, VmStatus, lease_from,
};
use crate::score::ScoreBreakdown;
use crate::state::State;
use crate::time::Millis;
use crate::{ScoreConf, Timings};
use logic::Verdict;
use substate::{BadHealth, ManualStart, OwnSlot, StartIntent};

/// Our extra key: the gateway test result, `<ok>/<total>` or `unknown`, so that
/// every host can tell a cluster-wide network outage from its own.
pub const GATEWAY_KEY: &str = "gateway";
/// Our extra key: the highest lease epoch this host has seen anywhere, so that a
/// host whose own slot was lost never reuses an epoch.
pub const EPOCH_SEEN_KEY: &str = "lease-epoch-seen";
/// Our extra key: the score breakdown in one line.
pub const SCORE_DETAIL_KEY: &str = "score-detail";
/// Our extra key, `1` in the slot of a host whose agent stopped cleanly while
/// its engine VM ran, and whose lease keeper renews the lease meanwhile
/// ([`CoreConfig::keeper`]). Such a lease expires by silence like any other
/// (the keeper dies with its host); a stopped holder's slot without it (an
/// older agent, or a keeper that could not start) is never expired by
/// silence.
pub const KEEPER_KEY: &str = "lease-keeper";
/// Our extra key: the lease timings this host runs on,
/// `<lease-fail>/<lease-dead>/<lease-settle>/<claim window>` in ms. Claims are
/// only sound among hosts that agree on them (see [`Agent::timing_mismatch`]).
pub const LEASE_TIMINGS_KEY: &str = "lease-timings";
/// A new agent's write sequence starts this far above the highest its
/// predecessors may have used: no agent publishes that often (2^32 loops of
/// 2 s are 272 years), so a write of an earlier agent that lands late never
/// reads as news (`metadata::SEQ_KEY`).
pub const SEQ_RESTART_GAP: u64 = 1 << 32;
/// Our extra key: this host's watchdog timeout in seconds, or `none` for a
/// host that runs without one (acknowledged in its configuration): such a host
/// is unfenced, and status says so.
pub const WATCHDOG_KEY: &str = "watchdog";
/// NOWAIT transitions followed within one step at most (the reference's chains
/// are at most three long; more means a loop in the table).
const NOWAIT_CHAIN_MAX: usize = 8;
/// Failed start times remembered (the retry rule needs a handful).
const FAILED_STARTS_MAX: usize = 16;
/// Most hosts whose implausible values one read logs by name.
const IMPLAUSIBLE_LINES_MAX: usize = 8;

/// What the core needs to know about its host that does not change.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreConfig {
    pub host_id: HostId,
    pub hostname: String,
    pub score: ScoreConf,
    pub timings: Timings,
    pub engine_memory_mib: u64,
    pub conf_on_shared_storage: bool,
    /// Whether an engine-service recovery command is configured (improvement 2).
    pub recovery_configured: bool,
    /// Test-only: a deliberate lease defect (see [`LeaseDefect`]); `None` always
    /// outside the simulator's checker tests.
    pub lease_defect: Option<LeaseDefect>,
    /// The highest lease epoch this host persisted locally (see
    /// `Events::persist_epoch`): epochs never go back even when the host's own
    /// slot is lost and no other host remembers it.
    pub epoch_floor: u64,
    /// This host's watchdog timeout; `None`: no watchdog (published as
    /// [`WATCHDOG_KEY`]`=none`).
    pub watchdog_timeout_ms: Option<u64>,
    /// The first write sequence the previous agent on this host used, as it
    /// persisted it (see [`Floors`]): ours starts [`SEQ_RESTART_GAP`] above.
    pub seq_floor: u64,
    /// Run as the lease keeper of a cleanly stopped agent: in AgentStopped,
    /// renew the lease this host holds while its engine VM runs, fence as
    /// the agent would, and nothing else (no state machine, no starts, no
    /// requests). Done ([`Agent::keeper_done`]) once there is nothing left to
    /// keep. The agent, back, takes the lease over (docs/agent.md, "The lease
    /// keeper").
    pub keeper: bool,
    /// Power fencing (`fencing.conf`): `None` when this host fences nobody.
    pub fencing: Option<FenceConf>,
}

/// What an agent keeps on the host's local disk so that it never goes back,
/// even when the host's own slot is lost: the highest lease epoch seen, and the
/// first write sequence this agent uses (its successor starts above it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Floors {
    pub epoch: u64,
    pub seq: u64,
}

/// The engine VM's memory when `hosted-engine.conf` does not say
/// (`engine_memory_mib`).
pub const DEFAULT_ENGINE_MEMORY_MIB: u64 = 4096;

impl CoreConfig {
    /// A host with the reference's score settings, `timings`, a 4096 MiB engine
    /// VM, configuration on shared storage, no recovery command, no epoch floor.
    pub fn new(host_id: HostId, hostname: impl Into<String>, timings: Timings) -> CoreConfig {
        CoreConfig {
            host_id,
            hostname: hostname.into(),
            score: ScoreConf::default(),
            timings,
            engine_memory_mib: DEFAULT_ENGINE_MEMORY_MIB,
            conf_on_shared_storage: true,
            recovery_configured: false,
            lease_defect: None,
            epoch_floor: 0,
            watchdog_timeout_ms: None,
            seq_floor: 0,
            keeper: false,
            fencing: None,
        }
    }
}

/// The monitors' latest values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sensors {
    pub liveliness_ok: Option<bool>,
    pub gateway_probes_ok: Option<u32>,
    pub bridge_up: Option<bool>,
    pub cpu_load: Option<f64>,
    pub free_memory_mib: Option<u64>,
}

/// An operator's request through the agent's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `--vm-start` / `--vm-start-paused`: through the lease, like any start.
    StartVm { paused: bool },
    /// `--vm-shutdown`.
    ShutdownVm,
    /// `--vm-poweroff`.
    PowerOffVm,
}

/// Something the shell does to the engine VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmAction {
    /// Start the VM, handing it the lease epoch (the fencing token).
    Start { paused: bool, epoch: u64 },
    /// Graceful shutdown (the guest gets its grace period).
    Shutdown,
    /// Forced power-off.
    PowerOff,
    /// Run the configured engine-service recovery command.
    RunRecovery,
}

/// How a [`VmAction`] ended, reported in the next observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionResult {
    pub action: VmAction,
    pub ok: bool,
}

/// Everything one loop observed. `area` is `None` when the metadata read failed.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// When the metadata read started, on the monotonic clock.
    pub now: Millis,
    /// Wall clock (Unix seconds) and its offset from UTC: shown in the metadata,
    /// never used to decide.
    pub wall_unix: i64,
    pub utc_offset_secs: i32,
    pub area: Option<&'a Area>,
    pub local_vm: LocalVm,
    pub sensors: Sensors,
    pub local_maintenance: bool,
    pub requests: Vec<Request>,
    pub results: Vec<ActionResult>,
    /// The report of a fence this host ran, once it ended.
    pub fence: Option<FenceReport>,
}

/// What one step decided.
#[must_use = "a decision carries the slot to publish and the step's log, which the core no longer \
              keeps; publish it (when `publish` says so), then call `Agent::after_publish`"]
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub record: HostRecord,
    pub extra: Extra,
    pub score: ScoreBreakdown,
    /// State transitions of this step, in order (for notifications).
    pub transitions: Vec<(State, State)>,
    pub log: Vec<String>,
    /// Wait this long before the next loop (0 after a NOWAIT chain that ended in
    /// a state that wants to run again at once).
    pub next_loop_ms: u64,
    /// Whether to publish the slot at all: not before our own slot was read, so
    /// that a restarted agent never overwrites its predecessor's lease or epoch.
    pub publish: bool,
    /// A fence to begin now (power fencing): the shell runs it in the
    /// background and reports it in a later observation.
    pub fence: Option<FenceOrder>,
}

/// One peer as read from its slot.
#[derive(Clone, Debug, PartialEq)]
struct Peer {
    /// `(host-ts, crc32)` of the publish this view was read from.
    fingerprint: (u64, Option<u32>),
    /// How many distinct publishes of this peer we have read: a score lead is
    /// confirmed only on publishes read after it was first seen.
    publishes: u64,
    score: u32,
    status: Option<EngineStatus>,
    /// The engine status as published, to parse only when it changes.
    status_raw: String,
    local_maintenance: bool,
    stopped: bool,
    /// The peer's gateway test as it published it.
    gateway: PeerGateway,
    /// The highest write sequence read from it (`None`: it publishes none):
    /// a read carrying this or less is a late write, not news.
    seq: Option<u64>,
    /// Its [`LEASE_TIMINGS_KEY`] as published (`None`: not published).
    lease_timings: Option<String>,
}

/// A peer's gateway test result as published in its [`GATEWAY_KEY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerGateway {
    /// Some probes succeeded.
    Up,
    /// Every probe failed (`0/N`).
    Down,
    /// Its monitor has no result yet (`unknown`, or a value we cannot read).
    Unknown,
    /// No such key: a host that does not publish it (the reference's agent).
    NotPublished,
}

impl PeerGateway {
    /// The value of a published [`GATEWAY_KEY`]: `<ok>/<total>` or `unknown`.
    fn parse(value: &str) -> PeerGateway {
        let ok = value
            .split_once('/')
            .and_then(|(ok, _)| ok.parse::<u32>().ok());
        match ok {
            Some(0) => PeerGateway::Down,
            Some(_) => PeerGateway::Up,
            None => PeerGateway::Unknown,
        }
    }
}

/// Facts of one step, computed once before the state logic.
struct Facts {
    status: EngineStatus,
    /// The VM runs here in a state other than Down.
    vm_here: bool,
    /// The VM manager could not be queried.
    vm_unknown: bool,
    /// The best engine: host and rank (rank >= 2 means it is up).
    best: Option<(HostId, u8)>,
    history: bool,
    /// The metadata was read in this step. Claims and settle decisions need a
    /// fresh read: a stale view could miss a rival's claim.
    fresh: bool,
    global_maintenance: bool,
    local_maintenance: bool,
    /// Alive peers, by id.
    alive: Vec<(HostId, AlivePeer)>,
}

/// The keys of a peer's extra text that [`Agent::ingest_slot`] takes in,
/// found in one pass over its lines (a slot is read for several keys on every
/// publish of every peer): the first line of each, as [`Extra::get`] finds
/// it, but the last of the gateway and the lease timings, and every epoch
/// seen (the first here, and whether more follow).
#[derive(Clone, Copy, Debug, Default)]
struct PeerKeys<'a> {
    seq: Option<&'a str>,
    lease: Option<&'a str>,
    lease_epoch: Option<&'a str>,
    keeper: Option<&'a str>,
    gateway: Option<&'a str>,
    lease_timings: Option<&'a str>,
    epoch_seen: Option<&'a str>,
    more_epochs_seen: bool,
    /// Its [`FENCE_TRIED_KEY`] and [`FENCE_TARGET_KEY`], and whether it
    /// publishes any [`FENCED_KEY`].
    fence_tried: Option<&'a str>,
    fence_target: Option<&'a str>,
    fenced: bool,
    /// Its [`HANDOVER_KEY`] and [`TAKEOVER_KEY`].
    handover: Option<&'a str>,
    takeover: Option<&'a str>,
}

impl<'a> PeerKeys<'a> {
    fn of(extra: &'a Extra) -> PeerKeys<'a> {
        let mut keys = PeerKeys::default();
        for (key, value) in extra.entries() {
            let first = match key {
                SEQ_KEY => &mut keys.seq,
                LEASE_KEY => &mut keys.lease,
                LEASE_EPOCH_KEY => &mut keys.lease_epoch,
                KEEPER_KEY => &mut keys.keeper,
                EPOCH_SEEN_KEY => {
                    keys.more_epochs_seen |= keys.epoch_seen.is_some();
                    &mut keys.epoch_seen
                }
                GATEWAY_KEY => {
                    keys.gateway = Some(value);
                    continue;
                }
                LEASE_TIMINGS_KEY => {
                    keys.lease_timings = Some(value);
                    continue;
                }
                FENCE_TRIED_KEY => &mut keys.fence_tried,
                FENCE_TARGET_KEY => &mut keys.fence_target,
                HANDOVER_KEY => &mut keys.handover,
                TAKEOVER_KEY => &mut keys.takeover,
                FENCED_KEY => {
                    keys.fenced = true;
                    continue;
                }
                _ => continue,
            };
            first.get_or_insert(value);
        }
        keys
    }

    /// As [`Extra::seq`].
    fn seq(&self) -> Option<u64> {
        self.seq?.parse().ok()
    }

    /// As [`Extra::lease`].
    fn lease(&self) -> Result<Option<crate::metadata::LeaseState>, crate::metadata::SlotError> {
        lease_from(self.lease, self.lease_epoch)
    }
}

/// What a step's decisions read of an alive peer (a copy, taken once a step:
/// cheaper than cloning [`Peer`] with its texts).
#[derive(Clone, Copy, Debug)]
struct AlivePeer {
    publishes: u64,
    score: u32,
    local_maintenance: bool,
    stopped: bool,
    gateway: PeerGateway,
    /// It publishes lease timings other than ours.
    other_timings: bool,
}

/// What we have read of a peer since a gap in our reads. The first new
/// publish we read may be a write that landed late, from an agent of that
/// host killed while its write hung, covering newer ones we never saw; each
/// agent has at most one write in flight, and a later agent of the host
/// numbers its writes from [`SEQ_RESTART_GAP`] above the first an earlier one
/// persisted, further than any agent ever counts. So
/// what the peer says counts again once we read a publish that follows the
/// first from the same agent: one of a live agent, and so in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rewatch {
    /// No new publish read yet.
    Awaiting,
    /// A new publish read, with its write sequence.
    Read(Option<u64>),
}

impl Rewatch {
    /// Whether a new publish with write sequence `seq` (above every one read
    /// before) makes what the peer says count again.
    fn believes(self, seq: Option<u64>) -> bool {
        match (self, seq) {
            (Rewatch::Awaiting, _) => false,
            (Rewatch::Read(Some(first)), Some(seq)) => {
                seq.wrapping_sub(first) < SEQ_RESTART_GAP / 2
            }
            // A host without write sequences (the reference agent) has no
            // late writes we could tell apart.
            (Rewatch::Read(_), _) => true,
        }
    }
}

/// One host's decision core.
#[derive(Clone, Debug)]
pub struct Agent {
    cfg: CoreConfig,
    state: State,
    entered: Millis,
    liveness: PeerLiveness,
    lease: Lease,
    /// Whether our own slot has been read (lease and epoch adopted), with
    /// the first write sequence this agent uses.
    own_slot: OwnSlot,
    /// The VM must go down before anything else: power it off every loop, no
    /// watchdog pets, until it is confirmed down (a self-fence, a superseded
    /// lease, a VM running here before our own slot could be read).
    ///
    /// Independent of `stop_sent`, which belongs to one stint in a state: a
    /// fence outlives the state changes an action result forces meanwhile,
    /// and may begin without a power-off handed out yet (a lease adopted
    /// while being given up), while a stop state's stop is sent without any
    /// fence.
    fencing: bool,
    /// The write sequence of our latest publication.
    seq: u64,
    /// The implausible epochs read from each host's slot (refused, logged
    /// once each, shown in status).
    implausible: BTreeMap<HostId, u64>,
    /// Hosts whose implausible values this step's read logged, and those it
    /// left out past [`IMPLAUSIBLE_LINES_MAX`].
    implausible_logged: (usize, usize),
    /// The first peer found publishing lease timings other than ours (logged
    /// once each time it changes).
    mismatch: Option<HostId>,
    /// Our lease timings as published ([`LEASE_TIMINGS_KEY`]), made once.
    timings_text: String,
    /// When our last successful read of the metadata started.
    last_read: Option<Millis>,
    /// Peers that block the lease as unknown after a gap in our reads, with
    /// what we have read of them since (see `Agent::note_read`).
    rewatching: BTreeMap<HostId, Rewatch>,
    /// A keeper's last step saw the engine VM confirmed down here (only a
    /// keeper's step sets it; [`Agent::keeper_done`] reads it).
    keeper_vm_down: bool,
    peers: BTreeMap<HostId, Peer>,
    /// Global maintenance as last read from the metadata: the cluster's, so
    /// independent of anything this host decides.
    global_maintenance: bool,
    /// The last classification other than `unknown` (classification history).
    last_status: Option<EngineStatus>,
    failed_starts: Vec<Millis>,
    local_restarts: Vec<Millis>,
    /// Why the start under way was asked for beyond the score: an operator's
    /// request, a local restart after a crash, or both.
    start: StartIntent,
    /// The stretch of bad health under way (EngineUpBadHealth).
    bad_health: BadHealth,
    /// Peers whose score leads ours by enough to move the engine, each with
    /// its publish count when the lead was first seen (migration hysteresis:
    /// see `Agent::confirmed_lead`). Empty outside EngineUp/EngineUpBadHealth.
    leads: BTreeMap<HostId, u64>,
    /// The shutdown or power-off of this stint in a state was handed out
    /// (EngineStop, EngineForceStop, a fence): not again until the state is
    /// entered anew. Cleared on every state change (see `Agent::enter`);
    /// independent of `fencing` (see there).
    stop_sent: bool,
    pending: Vec<VmAction>,
    /// A start held back until our `held` publish reads back intact.
    awaiting_readback: Option<VmAction>,
    /// A fence to hand out with this step's decision.
    fence_order: Option<FenceOrder>,
    /// When the fence under way was handed out (the core stops waiting for
    /// its report after `FenceConf::timeout_ms` and a loop).
    fence_since: Option<Millis>,
    /// An off reported while an engine still answered its health page, and
    /// when: believed once the engine stops answering, within
    /// `Agent::off_confirm_ms` (`Agent::take_fence_report`).
    fence_off: Option<(FenceReport, Millis)>,
    /// Holders that kept their lease against a claim we made to fence them
    /// (host -> its lease epoch then): slow, not dead, and claimed again only
    /// while no engine answers its health page (`Agent::fence_candidate`).
    fence_lost: BTreeMap<HostId, u64>,
    /// The fences we confirmed, published while their host stays silent.
    proofs: BTreeMap<HostId, FenceProof>,
    /// A peer's proof that it fenced this host, once logged.
    told_fenced: Option<FenceTarget>,
    last_host_ts: u64,
    started_ts: u64,
    started_at: Millis,
    now: Millis,
    log: Vec<String>,
}

impl Agent {
    /// A core starting at `now`. It learns its own lease and epoch from its
    /// first successful read of its own slot, and publishes nothing before that:
    /// a restarted agent must never overwrite the epoch (or the held lease) its
    /// predecessor published.
    ///
    /// Panics on timings that break the lease safety rules: the daemon validates
    /// its configuration before it gets here, so this is a programmer error.
    pub fn new(cfg: CoreConfig, now: Millis) -> Agent {
        assert!(cfg.host_id >= 1, "host id 0");
        let broken: Vec<String> = cfg
            .timings
            .violations()
            .into_iter()
            .map(|v| v.message)
            .collect();
        assert!(broken.is_empty(), "unsafe timings: {}", broken.join("; "));
        if let Some(fencing) = &cfg.fencing {
            let broken: Vec<String> = fencing
                .violations(&cfg.timings)
                .into_iter()
                .map(|v| v.message)
                .collect();
            assert!(broken.is_empty(), "unsafe fencing: {}", broken.join("; "));
        }
        let mut timings = LeaseTimings::from_timings(&cfg.timings);
        timings.defect = cfg.lease_defect;
        timings.fence_after_ms = cfg.fencing.as_ref().map(|f| f.fence_after_ms);
        let mut lease = Lease::new(cfg.host_id, timings);
        let floor_plausible = lease.note_epoch_seen(cfg.epoch_floor);
        let mut agent = Agent {
            liveness: PeerLiveness::new(now),
            lease,
            own_slot: OwnSlot::Unread,
            fencing: false,
            seq: 0,
            implausible: BTreeMap::new(),
            implausible_logged: (0, 0),
            mismatch: None,
            timings_text: publish::lease_timings(&cfg.timings),
            last_read: None,
            rewatching: BTreeMap::new(),
            keeper_vm_down: false,
            state: if cfg.keeper {
                State::AgentStopped
            } else {
                State::StartState
            },
            entered: now,
            peers: BTreeMap::new(),
            global_maintenance: false,
            last_status: None,
            failed_starts: Vec::new(),
            local_restarts: Vec::new(),
            start: StartIntent::default(),
            bad_health: BadHealth::default(),
            leads: BTreeMap::new(),
            stop_sent: false,
            pending: Vec::new(),
            awaiting_readback: None,
            fence_order: None,
            fence_since: None,
            fence_off: None,
            fence_lost: BTreeMap::new(),
            proofs: BTreeMap::new(),
            told_fenced: None,
            last_host_ts: 0,
            started_ts: now.as_secs(),
            started_at: now,
            now,
            log: Vec::new(),
            cfg,
        };
        if !floor_plausible {
            agent.say(format!(
                "the persisted lease epoch {} is implausible (above {}): ignored",
                agent.cfg.epoch_floor,
                crate::metadata::EPOCH_PLAUSIBLE_MAX
            ));
        }
        agent
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn liveness(&self) -> &PeerLiveness {
        &self.liveness
    }

    fn say(&mut self, line: String) {
        self.log.push(line);
    }

    /// One loop: ingest the observation, run the state machine, build the slot.
    pub fn step(&mut self, obs: &Observation<'_>) -> Decision {
        assert!(obs.now >= self.now, "monotonic time went back");
        self.now = obs.now;
        self.pending.clear();
        self.awaiting_readback = None;
        if let Some(area) = obs.area {
            self.note_read(obs.now);
            if self.adopted() {
                let token = own_token(area, self.cfg.host_id);
                self.catch_up_seq(token);
                self.lease.read_own(token);
            }
            self.adopt(area, &obs.local_vm);
            self.ingest(area);
        }
        self.take_results(&obs.results);
        let facts = self.facts(obs);
        self.take_fence_report(obs);
        self.lease.guard(facts.vm_here, facts.vm_unknown);
        if self.fencing {
            if facts.vm_here || facts.vm_unknown {
                return self.keep_fencing(obs, &facts);
            }
            self.fencing = false;
            if let Phase::Fencing { epoch } = self.lease.phase() {
                self.lease.release();
                self.say(format!(
                    "self-fence complete: the engine VM is down, lease epoch {epoch} released"
                ));
            } else {
                self.say("self-fence complete: the engine VM is down".into());
            }
        }
        if !self.adopted() && (facts.vm_here || facts.vm_unknown) && !self.stop_sent {
            // We cannot tell whether the running VM is covered by a lease we
            // still renew; another host may take the lease soon. Fence, and keep
            // at it (no watchdog pets) until the VM is down.
            self.fencing = true;
            self.force_stop("engine VM runs here but our own slot is unreadable".into());
        }
        if self.cfg.keeper {
            return self.keeper_step(obs, &facts);
        }
        // Kept current for status, not only when a claim is tried.
        self.timing_mismatch(&facts);
        self.take_requests(obs, &facts);
        let mut transitions = Vec::new();
        let mut nowait = self.run_states(obs, &facts, &mut transitions);
        self.reconcile_lease(&facts);
        if matches!(
            self.lease.phase(),
            Phase::Claiming { .. } | Phase::Evicting { .. } | Phase::Succeeding { .. }
        ) {
            nowait = false;
        }
        let score = self.score(obs);
        let (record, extra) = self.publication(obs, &facts, &score);
        Decision {
            record,
            extra,
            score,
            transitions,
            log: core::mem::take(&mut self.log),
            next_loop_ms: if nowait { 0 } else { self.fence_pace() },
            publish: self.adopted(),
            fence: self.fence_order.take(),
        }
    }

    /// A fence under way whose VM is not confirmed down: powering it off is
    /// the only action, every loop; the slot keeps saying `fencing`.
    fn keep_fencing(&mut self, obs: &Observation<'_>, facts: &Facts) -> Decision {
        self.say("self-fence: the engine VM is still running, powering it off again".into());
        if self.state != State::EngineForceStop {
            self.enter(State::EngineForceStop);
        }
        self.stop_sent = true;
        self.pending.push(VmAction::PowerOff);
        self.plain_decision(obs, facts)
    }

    /// A step's decision without transitions, a full loop before the next.
    fn plain_decision(&mut self, obs: &Observation<'_>, facts: &Facts) -> Decision {
        let score = self.score(obs);
        let (record, extra) = self.publication(obs, facts, &score);
        Decision {
            record,
            extra,
            score,
            transitions: Vec::new(),
            log: core::mem::take(&mut self.log),
            next_loop_ms: self.cfg.timings.loop_ms,
            publish: self.adopted(),
            fence: self.fence_order.take(),
        }
    }

    /// Reports how the publish of this step's slot went; returns the VM actions
    /// to run now. `started`/`ended` bracket the write on the monotonic clock.
    ///
    /// A start is handed out only under a held lease that a read showed intact
    /// and renewed within `lease_fail`. Right after winning a claim the `held`
    /// publish is not confirmed yet: then [`Agent::wants_readback`] asks the shell
    /// to read once more, and [`Agent::readback`] hands the start out.
    #[must_use = "the VM actions (stops and the self-fence's power-off among them) must be run"]
    pub fn after_publish(&mut self, started: Millis, ended: Millis, ok: bool) -> Vec<VmAction> {
        self.lease.published(started, ended, ok, self.seq);
        let mut actions = core::mem::take(&mut self.pending);
        if let Some(index) = actions
            .iter()
            .position(|a| matches!(a, VmAction::Start { .. }))
        {
            let start = actions.remove(index);
            if ok && self.lease.valid(ended) {
                actions.insert(index, start);
            } else if ok && matches!(self.lease.phase(), Phase::Holding { .. }) {
                self.awaiting_readback = Some(start);
            }
        }
        if self.lease.must_fence(ended) {
            // Self-fence: the lease can no longer be renewed, and others will
            // take it after lease_dead; the VM must be down before then.
            self.say(format!(
                "self-fence: lease epoch {} not renewed for {} ms, powering the engine VM off \
                 (the lease stays ours until it is down)",
                self.lease.epoch(),
                self.cfg.timings.lease_fail_ms
            ));
            self.lease.fence();
            self.fencing = true;
            self.say(format!(
                "{} -> {}: self-fence",
                self.state,
                State::EngineForceStop
            ));
            self.enter(State::EngineForceStop);
            self.stop_sent = true;
            if !actions.contains(&VmAction::PowerOff) {
                actions.push(VmAction::PowerOff);
            }
        }
        actions
    }

    /// Whether a self-fence is under way: the VM must go down before anything
    /// else, and the watchdog must not be petted meanwhile.
    pub fn fencing(&self) -> bool {
        self.fencing
    }

    /// Whether a start waits for a read that confirms our `held` publish.
    pub fn wants_readback(&self) -> bool {
        self.awaiting_readback.is_some()
    }

    /// The read asked for by [`Agent::wants_readback`] (`None`: it failed).
    /// Returns the start when our `held` publish read back intact.
    #[must_use = "the start is handed out once: dropped, the engine VM is not started"]
    pub fn readback(&mut self, area: Option<&Area>, now: Millis) -> Vec<VmAction> {
        let Some(start) = self.awaiting_readback.take() else {
            return Vec::new();
        };
        if let Some(area) = area {
            self.lease.read_own(own_token(area, self.cfg.host_id));
            self.ingest(area);
        }
        if !self.lease.valid(now) {
            self.say("our held lease did not read back intact: not starting".into());
            return Vec::new();
        }
        // What the settle read showed may have changed since: a hold or an
        // earlier claim elsewhere, or a slot that may hide one, means a rule
        // was broken somewhere; never start beside it.
        if let Some(rival) = self
            .lease
            .rival(self.now, &self.liveness, self.lease.epoch())
        {
            self.lease.release();
            self.start.end();
            self.say(format!(
                "our held lease read back, but {}: not starting, lease released",
                rival.describe()
            ));
            self.transition_quiet(State::EngineDown);
            return Vec::new();
        }
        vec![start]
    }

    /// Whether a start handed out by [`Agent::after_publish`] or
    /// [`Agent::readback`] may still run at `now`: the loop asks right before
    /// it runs one, so that an agent that stalled in between does not start a
    /// VM under a lease that lapsed meanwhile.
    pub fn start_still_valid(&self, now: Millis) -> bool {
        self.lease.valid(now)
    }

    /// A keeper's step: the lease and the fence, nothing else.
    fn keeper_step(&mut self, obs: &Observation<'_>, facts: &Facts) -> Decision {
        if let Some((host, state)) = self.lease.superseded_by() {
            let epoch = self.lease.epoch();
            if facts.vm_here || facts.vm_unknown {
                self.lease.fence();
                self.keeper_power_off(format!(
                    "lease epoch {epoch} superseded by host {host} (epoch {}): powering the \
                     engine VM off",
                    state.epoch
                ));
            } else {
                self.lease.release();
            }
        } else if let Phase::Holding { epoch } = self.lease.phase()
            && !facts.vm_here
            && !facts.vm_unknown
        {
            self.lease.release();
            self.say(format!(
                "the engine VM is down: lease epoch {epoch} released, nothing left to keep"
            ));
        } else if self.lease.phase() == Phase::Idle && (facts.vm_here || facts.vm_unknown) {
            // A VM here under no lease of ours (another host moved past our
            // epoch while the agent stopped): a keeper claims nothing, so it
            // powers the VM off, every loop until it is down.
            self.keeper_power_off(
                "the engine VM runs here under no lease of ours: powering it off".into(),
            );
        }
        self.keeper_vm_down = !facts.vm_here && !facts.vm_unknown;
        self.plain_decision(obs, facts)
    }

    /// A keeper's power-off, retried every loop until the VM is down (the
    /// fence of [`Agent::step`]).
    fn keeper_power_off(&mut self, why: String) {
        self.fencing = true;
        self.stop_sent = true;
        self.pending.push(VmAction::PowerOff);
        self.say(why);
    }

    /// Whether a keeper has nothing left to keep: our own slot read, no lease
    /// held or being given up, no fence under way. (It has just published
    /// `none`.)
    pub fn keeper_done(&self) -> bool {
        self.cfg.keeper
            && self.adopted()
            && !self.fencing
            && self.keeper_vm_down
            && self.lease.phase() == Phase::Idle
    }

    /// Whether this core has read its own slot and may publish.
    pub fn adopted(&self) -> bool {
        self.own_slot.adopted()
    }

    /// Log lines produced by [`Agent::after_publish`] (fencing).
    #[must_use = "the lines are taken out of the core: dropped, they are lost"]
    pub fn drain_log(&mut self) -> Vec<String> {
        core::mem::take(&mut self.log)
    }

    /// The slot to publish when the agent stops cleanly (AgentStopped: score 0,
    /// `stopped=1`). The lease stays as it is: a VM left running keeps its lease.
    ///
    /// Only a held lease over a VM that runs here stays (and then other hosts
    /// never expire it by silence); a claim, or a hold without the VM, is
    /// released, so that a stopped agent never blocks the cluster for nothing.
    #[must_use = "the core now says AgentStopped: the slot that tells the other hosts must be \
                  published"]
    pub fn stopped_publication(
        &mut self,
        now: Millis,
        wall_unix: i64,
        utc_offset_secs: i32,
        vm_running: bool,
    ) -> (HostRecord, Extra) {
        self.now = self.now.max(now);
        let stake = matches!(
            self.lease.phase(),
            Phase::Holding { .. } | Phase::Fencing { .. }
        );
        if !(vm_running && stake) {
            self.lease.release();
            self.lease.guard(false, false);
        }
        self.enter(State::AgentStopped);
        let status = self
            .last_status
            .clone()
            .unwrap_or_else(|| classify(&LocalVm::NotPresent, None, None));
        let record = self.record(0, &status);
        let extra = self.extra(
            &record,
            (wall_unix, utc_offset_secs),
            "unknown",
            "agent stopped",
        );
        (record, extra)
    }
}

/// The token (write sequence) of the publish our own slot holds, if it is
/// intact and plausible.
fn own_token(area: &Area, me: HostId) -> Option<u64> {
    match area.hosts.get(&me) {
        Some(Ok(slot)) => slot.extra.seq().filter(|seq| *seq <= SEQ_PLAUSIBLE_MAX),
        _ => None,
    }
}

/// Pieces of `step`, in the order it runs them.
impl Agent {
    /// Learns our own lease from our slot on the first fresh read. A held lease
    /// under a VM that runs here (or whose state is unknown) is kept: the agent
    /// restarted under a running VM (test plan case 7). A torn own slot is not
    /// adopted; we wait for a readable one. Our write sequence starts above
    /// every one an earlier agent here may have used.
    fn adopt(&mut self, area: &Area, local_vm: &LocalVm) {
        if self.adopted() {
            return;
        }
        // An unreadable own slot is waited out for lease_dead: by then no other
        // host can still count on a lease we might have held.
        let waited_out = self.now.since(self.started_at) >= self.cfg.timings.lease_dead_ms;
        let (own, own_seq) = match area.hosts.get(&self.cfg.host_id) {
            None => (None, None),
            Some(Ok(slot)) => match slot.extra.lease() {
                Ok(lease) => (lease, slot.extra.seq()),
                Err(_) if waited_out => (None, slot.extra.seq()),
                Err(_) => return,
            },
            Some(Err(_)) if waited_out => (None, None),
            Some(Err(_)) => return,
        };
        // A forged, implausible sequence in our slot is nobody's: ours
        // continues from what is plausible.
        let seq_first = own_seq
            .filter(|seq| *seq <= SEQ_PLAUSIBLE_MAX)
            .unwrap_or(0)
            .max(self.cfg.seq_floor.min(SEQ_PLAUSIBLE_MAX))
            .saturating_add(SEQ_RESTART_GAP);
        self.seq = seq_first;
        if let Some(own) = own
            && !self.lease.plausible(own.epoch)
        {
            self.say(format!(
                "our own slot carries an implausible lease epoch {} (above {}): ignored",
                own.epoch,
                crate::metadata::EPOCH_PLAUSIBLE_MAX
            ));
        }
        let running = match local_vm {
            LocalVm::QueryFailed => true,
            LocalVm::Present { status, .. } => *status != VmManagerStatus::Down,
            LocalVm::NotPresent => false,
        };
        // A held lease is only ours to keep if no other host has moved past its
        // epoch while we were away.
        let own_epoch = own.map_or(0, |l| l.epoch);
        // (An implausible epoch is nobody's: a hostile slot must not make us
        // drop a lease we hold.)
        let fenced = self.proof_of_our_fence(area);
        if let Some((by, proof)) = &fenced {
            self.note_fenced_me(*by, proof);
        }
        let fenced = fenced.is_some_and(|(_, proof)| proof.target.epoch >= own_epoch);
        let overtaken = fenced
            || area.hosts.iter().any(|(id, slot)| {
                *id != self.cfg.host_id
                    && slot
                        .as_ref()
                        .ok()
                        .and_then(|s| s.extra.lease().ok().flatten())
                        .is_some_and(|l| {
                            l.kind != crate::metadata::LeaseKind::None
                                && l.epoch > own_epoch
                                && self.lease.plausible(l.epoch)
                        })
            });
        self.lease.adopt(own, running && !overtaken);
        self.own_slot = OwnSlot::Adopted { seq_first };
        match self.lease.phase() {
            Phase::Holding { epoch } => self.say(format!(
                "engine VM runs here: keeping the lease (epoch {epoch})"
            )),
            Phase::Fencing { epoch } => {
                self.fencing = true;
                self.say(format!(
                    "engine VM runs here under a lease being given up (epoch {epoch}): \
                     powering it off"
                ));
            }
            Phase::Idle
            | Phase::Claiming { .. }
            | Phase::Evicting { .. }
            | Phase::Succeeding { .. } => {}
        }
    }

    /// What to keep on the local disk before this step's publish (see
    /// [`Floors`]); `None` before our own slot was adopted.
    pub fn floors(&self) -> Option<Floors> {
        match self.own_slot {
            OwnSlot::Adopted { seq_first } => Some(Floors {
                epoch: self.lease.highest_epoch(),
                seq: seq_first,
            }),
            OwnSlot::Unread => None,
        }
    }

    fn ingest(&mut self, area: &Area) {
        self.implausible_logged = (0, 0);
        self.ingest_slots(area);
        let (_, left_out) = self.implausible_logged;
        if left_out > 0 {
            self.say(format!(
                "{left_out} more hosts publish implausible values: refused (not listed)"
            ));
        }
    }

    fn ingest_slots(&mut self, area: &Area) {
        if let Ok(global) = &area.global
            && let Ok(on) = global.maintenance()
        {
            self.global_maintenance = on;
        }
        let me = self.cfg.host_id;
        for (&id, slot) in &area.hosts {
            if id == me {
                continue;
            }
            match slot {
                Ok(slot) => self.ingest_slot(id, slot),
                // A slot that cannot be read keeps its host's last valid view
                // (it ages in silence); one never read intact blocks the lease.
                Err(_) => self.lease.observe_unreadable(self.now, id),
            }
        }
        // An emptied slot is silence, not a release: it is forgotten only once
        // its host has been silent for lease-dead (an operator's
        // --clean-metadata waits that long, too).
        let dead_ms = self.cfg.timings.lease_dead_ms;
        let gone: Vec<HostId> = self
            .peers
            .keys()
            .filter(|id| !area.hosts.contains_key(id))
            .filter(|id| {
                self.liveness
                    .silent_for(self.now, **id)
                    .is_none_or(|silent| silent >= dead_ms)
            })
            .copied()
            .collect();
        for id in gone {
            self.peers.remove(&id);
            self.leads.remove(&id);
            self.liveness.forget(id);
            self.lease.forget(id);
            self.implausible.remove(&id);
            self.rewatching.remove(&id);
        }
    }

    /// Takes in one intact peer slot, unless it is a late write (its write
    /// sequence did not move past what we read from that host before).
    fn ingest_slot(&mut self, id: HostId, slot: &HostSlot) {
        let fingerprint = (slot.record.host_ts, slot.crc32);
        let known = self.peers.get(&id);
        if known.is_some_and(|peer| peer.fingerprint == fingerprint) {
            // The same publish as last time (host-ts changes on every one).
            self.liveness.observe(self.now, id, slot.record.host_ts);
            return;
        }
        let keys = PeerKeys::of(&slot.extra);
        let seq = keys.seq();
        if let Some(seq) = seq.filter(|seq| *seq > SEQ_PLAUSIBLE_MAX) {
            // Forged: taking it in would make every later write of this host
            // read as old. Its plausible epochs are still learnt (knowing a
            // higher epoch never hurts: the next claim goes above it).
            let before = self.implausible.get(&id).copied();
            self.note_implausible(id, seq, "write sequence", SEQ_PLAUSIBLE_MAX, before);
            self.lease.observe_unreadable(self.now, id);
            let lease_epoch = keys.lease().ok().flatten().map(|l| l.epoch);
            let seen = keys.epoch_seen.and_then(|v| v.parse().ok());
            for epoch in lease_epoch.into_iter().chain(seen) {
                self.lease.note_epoch_seen(epoch);
            }
            return;
        }
        if let Some(peer) = self.peers.get(&id) {
            let late = matches!((peer.seq, seq), (Some(seen), Some(now)) if now <= seen);
            if late && self.lease_defect() != Some(LeaseDefect::IgnoreSequence) {
                return;
            }
        }
        if !self.peers.contains_key(&id) {
            // A host we read for the first time (since we started, or since
            // its slot came back): what we read may be a late write, as
            // after a gap in our reads.
            self.rewatching.entry(id).or_insert(Rewatch::Awaiting);
        }
        self.liveness.observe(self.now, id, slot.record.host_ts);
        self.ingest_peer(id, slot, fingerprint, &keys);
        if let Some(rewatch) = self.rewatching.get(&id) {
            if rewatch.believes(seq) {
                self.rewatching.remove(&id);
            } else {
                self.rewatching.insert(id, Rewatch::Read(seq));
                self.lease.observe_unknown(self.now, id);
            }
        }
    }

    fn lease_defect(&self) -> Option<LeaseDefect> {
        self.cfg.lease_defect
    }

    /// Takes in a peer's new publish.
    fn ingest_peer(
        &mut self,
        id: HostId,
        slot: &HostSlot,
        fingerprint: (u64, Option<u32>),
        keys: &PeerKeys<'_>,
    ) {
        // What this publish says afresh: an implausible value it no longer
        // carries is forgotten (noted again below if it still does).
        let refused = self.implausible.remove(&id);
        // A lease state we cannot understand keeps the last one we could: it
        // must never read as free.
        match keys.lease() {
            Ok(lease) => {
                if !self.lease.observe(self.now, id, lease) {
                    let epoch = lease.map_or(0, |l| l.epoch);
                    self.note_implausible(id, epoch, "lease epoch", EPOCH_PLAUSIBLE_MAX, refused);
                }
            }
            Err(_) => self.lease.observe_unreadable(self.now, id),
        }
        let kept = keys.keeper == Some("1");
        self.lease.observe_stopped(id, slot.record.stopped && !kept);
        if keys.more_epochs_seen {
            for (_, value) in slot.extra.entries().filter(|(k, _)| *k == EPOCH_SEEN_KEY) {
                self.note_epoch_seen_text(id, value, refused);
            }
        } else if let Some(value) = keys.epoch_seen {
            self.note_epoch_seen_text(id, value, refused);
        }
        if keys.fence_tried.is_some() || keys.fenced {
            self.ingest_fence_keys(id, &slot.extra, keys.fence_tried);
        }
        self.lease
            .observe_fence_target(id, keys.fence_target.and_then(FenceTarget::parse));
        let handover = keys.handover.and_then(|v| v.parse().ok());
        self.lease
            .observe_handover(id, handover.filter(|e| self.lease.plausible(*e)));
        let takeover = keys.takeover.and_then(FenceTarget::parse);
        self.lease
            .observe_takeover(id, takeover.filter(|t| self.lease.plausible(t.epoch)));
        let gateway = keys
            .gateway
            .map_or(PeerGateway::NotPublished, PeerGateway::parse);
        let lease_timings = keys.lease_timings;
        self.lease
            .observe_dead_ms(id, lease_timings.and_then(published_dead_ms));
        let record = &slot.record;
        let peer = self.peers.entry(id).or_insert_with(|| Peer {
            fingerprint,
            publishes: 0,
            score: record.score,
            status: slot.engine_status().ok(),
            status_raw: record.engine_status.clone(),
            local_maintenance: record.local_maintenance,
            stopped: record.stopped,
            gateway,
            seq: None,
            lease_timings: None,
        });
        // Engine statuses repeat from publish to publish: parse on change.
        if peer.status_raw != record.engine_status {
            peer.status = slot.engine_status().ok();
            peer.status_raw.clone_from(&record.engine_status);
        }
        peer.fingerprint = fingerprint;
        peer.publishes += 1;
        peer.score = record.score;
        peer.local_maintenance = record.local_maintenance;
        peer.stopped = record.stopped;
        peer.gateway = gateway;
        peer.seq = keys.seq().or(peer.seq);
        if peer.lease_timings.as_deref() != lease_timings {
            peer.lease_timings = lease_timings.map(str::to_owned);
        }
    }

    /// Learns an epoch a peer published as seen ([`EPOCH_SEEN_KEY`]); an
    /// implausible one is refused.
    fn note_epoch_seen_text(&mut self, id: HostId, value: &str, refused: Option<u64>) {
        if let Ok(seen) = value.parse()
            && !self.lease.note_epoch_seen(seen)
        {
            self.note_implausible(id, seen, "lease-epoch-seen", EPOCH_PLAUSIBLE_MAX, refused);
        }
    }

    /// Records an implausible value from `host`'s slot (above `limit`),
    /// logged when its last publish carried none (`before`): once while it
    /// keeps publishing such values, and at most [`IMPLAUSIBLE_LINES_MAX`]
    /// hosts a read, so that a writer who changes its forgeries every loop
    /// cannot flood the log.
    fn note_implausible(
        &mut self,
        host: HostId,
        value: u64,
        what: &str,
        limit: u64,
        before: Option<u64>,
    ) {
        self.implausible.insert(host, value);
        if before.is_some() {
            return;
        }
        let (logged, left_out) = &mut self.implausible_logged;
        if *logged >= IMPLAUSIBLE_LINES_MAX {
            *left_out += 1;
            return;
        }
        *logged += 1;
        self.say(format!(
            "host {host} publishes an implausible {what} {value} (above {limit}): refused"
        ));
    }

    /// A successful read at `now`. After a gap in our reads longer than a
    /// slow loop (one whose read and write both ran into the storage timeout),
    /// peers may have written what we never saw: their silence counts afresh
    /// from here, and each blocks the lease as unknown until we read a new
    /// publish of it. Otherwise a slot that reads empty, torn or rolled back
    /// right after our own storage came back would look like a holder silent
    /// for as long as we were away, or like the `none` we last read from it.
    fn note_read(&mut self, now: Millis) {
        let t = &self.cfg.timings;
        let gap_max = t.loop_ms + 2 * t.storage_timeout_ms;
        match self.last_read {
            // The watch begins with our first read, however late it comes.
            None => self.liveness.restart(now),
            Some(last) if now.since(last) > gap_max => {
                self.liveness.rewatch(now);
                // Any peer may have taken the lease while we were away: what
                // we knew of it holds again only once we read two new
                // publishes of one agent of it (see `Rewatch`); until then,
                // or until it has been silent for lease-dead, it blocks like
                // an unread slot.
                let peers: Vec<HostId> = self.peers.keys().copied().collect();
                for id in peers {
                    self.lease.observe_unknown(now, id);
                    self.rewatching.insert(id, Rewatch::Awaiting);
                }
                self.say(format!(
                    "metadata unread for {} s: silence counts afresh from now",
                    now.since(last) / 1000
                ));
            }
            Some(_) => {}
        }
        self.last_read = Some(now);
    }

    /// Our slot carries a write sequence above ours that we never wrote (a
    /// third party's): continue above it, or every reader would ignore our
    /// writes until ours caught up.
    fn catch_up_seq(&mut self, token: Option<u64>) {
        if let Some(seen) = token
            && seen > self.seq
        {
            self.say(format!(
                "our slot carries write sequence {seen}, above our {}, which we never wrote: \
                 continuing above it",
                self.seq
            ));
            self.seq = seen;
        }
    }

    /// Hosts whose slot carries an implausible epoch, with it (for status).
    pub fn implausible_epochs(&self) -> &BTreeMap<HostId, u64> {
        &self.implausible
    }

    fn take_results(&mut self, results: &[ActionResult]) {
        for result in results {
            if let VmAction::Start { .. } = result.action
                && !result.ok
            {
                self.say("engine VM start failed".into());
                self.record_failed_start();
                let to = if self.start.end().local_restart {
                    State::EngineUnexpectedlyDown
                } else {
                    State::EngineDown
                };
                self.transition_quiet(to);
            }
            if result.action == VmAction::Shutdown && !result.ok && self.state == State::EngineStop
            {
                self.say("graceful shutdown failed".into());
                self.transition_quiet(State::ReinitializeFSM);
            }
            if result.action == VmAction::PowerOff && !result.ok {
                self.say("power-off failed".into());
                self.transition_quiet(State::ReinitializeFSM);
            }
        }
    }

    fn record_failed_start(&mut self) {
        self.failed_starts.push(self.now);
        let window = self.cfg.timings.retry_window_ms;
        let now = self.now;
        self.failed_starts.retain(|t| now.since(*t) <= window);
        if self.failed_starts.len() > FAILED_STARTS_MAX {
            self.failed_starts.remove(0);
        }
    }

    fn facts(&mut self, obs: &Observation<'_>) -> Facts {
        let previous = self.last_status.clone();
        let status = classify(&obs.local_vm, previous.as_ref(), obs.sensors.liveliness_ok);
        if status.vm != VmStatus::Unknown {
            self.last_status = Some(status.clone());
        }
        let timeout = self.cfg.timings.host_alive_timeout_ms;
        let mut alive = Vec::with_capacity(self.peers.len());
        let mut statuses = Vec::with_capacity(self.peers.len() + 1);
        for (&id, peer) in &self.peers {
            if !self.liveness.is_alive(self.now, id, timeout) {
                continue;
            }
            alive.push((
                id,
                AlivePeer {
                    publishes: peer.publishes,
                    score: peer.score,
                    local_maintenance: peer.local_maintenance,
                    stopped: peer.stopped,
                    gateway: peer.gateway,
                    other_timings: peer
                        .lease_timings
                        .as_ref()
                        .is_some_and(|t| *t != self.timings_text),
                },
            ));
            if let Some(status) = &peer.status {
                statuses.push((id, status));
            }
        }
        statuses.push((self.cfg.host_id, &status));
        let best = best_engine(statuses);
        Facts {
            vm_here: matches!(obs.local_vm, LocalVm::Present { status, .. } if status != VmManagerStatus::Down),
            vm_unknown: matches!(obs.local_vm, LocalVm::QueryFailed),
            status,
            best,
            history: self.liveness.has_history(self.now, timeout),
            fresh: obs.area.is_some(),
            global_maintenance: self.global_maintenance,
            local_maintenance: obs.local_maintenance,
            alive,
        }
    }

    fn take_requests(&mut self, obs: &Observation<'_>, facts: &Facts) {
        for request in &obs.requests {
            match *request {
                Request::StartVm { paused } if facts.local_maintenance => {
                    self.say(format!(
                        "refused manual start (paused={paused}): host in local maintenance"
                    ));
                }
                Request::StartVm { .. } if facts.vm_here => {
                    self.say(format!(
                        "manual start ignored: VM exists and its status is {}",
                        facts.status.detail
                    ));
                }
                Request::StartVm { paused } => {
                    self.say(format!("manual start requested (paused={paused})"));
                    self.start.manual = Some(ManualStart { paused });
                }
                Request::ShutdownVm => {
                    self.say("manual shutdown requested".into());
                    self.pending.push(VmAction::Shutdown);
                }
                Request::PowerOffVm => {
                    self.say("manual power-off requested".into());
                    self.pending.push(VmAction::PowerOff);
                }
            }
        }
    }

    /// Runs the state machine: guards, then the state's logic, following NOWAIT
    /// transitions. Returns whether the last transition asked for no wait.
    fn run_states(
        &mut self,
        obs: &Observation<'_>,
        facts: &Facts,
        transitions: &mut Vec<(State, State)>,
    ) -> bool {
        let mut nowait = false;
        for _ in 0..NOWAIT_CHAIN_MAX {
            let from = self.state;
            let verdict = match self.guards(facts) {
                Some(verdict) => verdict,
                None => self.logic(obs, facts),
            };
            let to = verdict.to;
            if to == from {
                return nowait;
            }
            self.say(format!("{from} -> {to}: {}", verdict.reason));
            self.enter(to);
            transitions.push((from, to));
            nowait = verdict.nowait;
            if !nowait {
                return false;
            }
        }
        panic!("state machine looped more than {NOWAIT_CHAIN_MAX} times in one step");
    }

    fn enter(&mut self, to: State) {
        let from = self.state;
        self.state = to;
        self.entered = self.now;
        self.stop_sent = false;
        if !matches!(to, State::EngineUp | State::EngineUpBadHealth) {
            // A lead is confirmed within one stretch of running the engine.
            self.leads.clear();
        }
        if to != State::EngineUpBadHealth && from == State::EngineUpBadHealth {
            self.bad_health = BadHealth::default();
        }
    }

    /// A transition forced by an action result (logged, no notification chain).
    fn transition_quiet(&mut self, to: State) {
        if self.state != to {
            self.say(format!("{} -> {to}: action result", self.state));
            self.enter(to);
        }
    }

    /// Guards before a state's logic, in the reference order: timeout, global
    /// maintenance, local VM state unknown, local maintenance. A guard's
    /// transition is NOWAIT: the state it leads to decides in the same step.
    fn guards(&self, facts: &Facts) -> Option<Verdict> {
        if let (Some(timeout), Some(next)) = (
            self.state.timeout_ms(&self.cfg.timings),
            self.state.on_timeout(),
        ) && self.now.since(self.entered) >= timeout
        {
            return Some(Verdict::nowait(
                next,
                format!("timeout after {} s", timeout / 1000),
            ));
        }
        if !self.state.has_guards() {
            return None;
        }
        let manual = self.start.manual.is_some()
            && matches!(self.state, State::EngineStart | State::EngineStarting);
        if facts.global_maintenance && !manual {
            return Some(Verdict::nowait(
                State::GlobalMaintenance,
                "global maintenance",
            ));
        }
        if facts.vm_unknown {
            return Some(Verdict::nowait(
                State::UnknownLocalVmState,
                "local VM state unknown",
            ));
        }
        if facts.local_maintenance {
            return Some(Verdict::nowait(
                State::LocalMaintenance,
                "local maintenance",
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests;
