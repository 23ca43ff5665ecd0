//! The decision core, one loop at a time (`docs/compat.md` section 5,
//! `docs/architecture.md`, "Deliberate improvements").
//!
//! Table rows start from a situation reached through real loops from a cold
//! start ([`reach`]), change what the next loop observes, and check the state
//! after that step and the VM actions after a successful and after a failed
//! publish. Host 2 is under test between peers 1 and 3, so both directions of
//! the tie-break show. Every slot goes through the real codec. Loops are
//! `loop_ms` apart; NOWAIT transitions are followed inside one step.

use std::{
    borrow::ToOwned,
    string::{String, ToString},
    vec::Vec,
};

use super::*;
use crate::classify::{DownReason, REASON_NOT_ON_HOST};
use crate::metadata::{
    ExtraContext, GlobalBlock, Health, HostSlot, LeaseKind, LeaseState, METADATA_FEATURE_VERSION,
    METADATA_PARSE_VERSION, SlotError, StateMetadata, build_extra, decode_host_slot,
    encode_host_slot,
};
use crate::score::{ForcedZero, ZeroReason};
use State as S;

const ME: HostId = 2;
/// How long each publish takes.
const WRITE_MS: u64 = 50;
const WALL_UNIX: i64 = 1_700_000_000;
const NONE: &[VmAction] = &[];
const START1: &[VmAction] = &[start(false, 1)];
const SHUTDOWN: &[VmAction] = &[VmAction::Shutdown];
const POWEROFF: &[VmAction] = &[VmAction::PowerOff];

const fn start(paused: bool, epoch: u64) -> VmAction {
    VmAction::Start { paused, epoch }
}

/// The shell's report that `action` failed.
fn failed(action: VmAction) -> ActionResult {
    ActionResult { action, ok: false }
}

fn present(status: VmManagerStatus) -> LocalVm {
    LocalVm::Present {
        status,
        down_reason: None,
    }
}

fn up_good() -> EngineStatus {
    EngineStatus::new(VmStatus::Up, Health::Good, "Up", None)
}

fn lease(kind: LeaseKind, epoch: u64) -> LeaseState {
    LeaseState { kind, epoch }
}

/// One peer as it publishes itself.
#[derive(Clone, Debug)]
struct PeerSpec {
    score: u32,
    status: EngineStatus,
    lease: LeaseState,
    /// Gateway probes that succeeded, of 5; `None`: `unknown` (no result yet).
    gateway_ok: Option<u32>,
    local_maintenance: bool,
    /// Its `host-ts` moves on every read; false: frozen (a dead agent).
    beating: bool,
    host_ts: u64,
    /// The highest lease epoch it reports having seen.
    epoch_seen: u64,
    /// Its write sequence, moving with `host_ts`; `None`: publishes none.
    seq: Option<u64>,
    /// Its lease timings as published; `None`: publishes none.
    lease_timings: Option<String>,
    /// More extra lines it publishes (fencing keys), in order.
    extra: Vec<(&'static str, String)>,
}

impl Default for PeerSpec {
    /// Alive, engine not there, a little worse than a perfect host.
    fn default() -> Self {
        PeerSpec {
            score: 2400,
            status: EngineStatus::new(
                VmStatus::Down,
                Health::Bad,
                "unknown",
                Some(REASON_NOT_ON_HOST),
            ),
            lease: lease(LeaseKind::None, 0),
            gateway_ok: Some(5),
            local_maintenance: false,
            beating: true,
            host_ts: 0,
            epoch_seen: 0,
            seq: None,
            lease_timings: None,
            extra: Vec::new(),
        }
    }
}

/// A slot as another reader would see it: encoded, then decoded.
fn through_codec(id: HostId, record: &HostRecord, extra: &Extra) -> HostSlot {
    let bytes = encode_host_slot(id, record, extra).expect("encodable slot");
    decode_host_slot(id, &bytes[..])
        .expect("decodable slot")
        .expect("non-empty slot")
}

fn peer_slot(id: HostId, peer: &PeerSpec) -> HostSlot {
    let record = HostRecord {
        parse_version: METADATA_PARSE_VERSION,
        feature_version: METADATA_FEATURE_VERSION,
        host_ts: peer.host_ts,
        host_id: id,
        score: peer.score,
        engine_status: peer.status.to_json(),
        hostname: format!("host{id}"),
        local_maintenance: peer.local_maintenance,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 0,
    };
    let ctx = ExtraContext {
        wall_now_unix: WALL_UNIX,
        utc_offset_secs: 0,
        state: StateMetadata {
            maintenance: peer.local_maintenance,
            state: "EngineDown".into(),
            stopped: false,
            timeout_unix: None,
        },
        lease: Some(peer.lease),
    };
    let mut extra = build_extra(&record, &ctx);
    extra.push(EPOCH_SEEN_KEY, peer.epoch_seen.to_string());
    let gateway = peer
        .gateway_ok
        .map_or_else(|| "unknown".to_owned(), |ok| format!("{ok}/5"));
    extra.push(GATEWAY_KEY, gateway);
    if let Some(timings) = &peer.lease_timings {
        extra.push(LEASE_TIMINGS_KEY, timings.clone());
    }
    for (key, value) in &peer.extra {
        extra.push(key, value.as_str());
    }
    if let Some(seq) = peer.seq {
        extra.push(crate::metadata::SEQ_KEY, seq.to_string());
    }
    through_codec(id, &record, &extra)
}

/// What one loop produced.
struct Outcome {
    decision: Decision,
    actions: Vec<VmAction>,
    /// The step's log, then the publish's (fencing).
    log: Vec<String>,
}

impl Outcome {
    fn logged(&self, text: &str) -> bool {
        self.log.iter().any(|line| line.contains(text))
    }

    fn published_lease(&self) -> LeaseState {
        let lease = self.decision.extra.lease().expect("valid lease keys");
        lease.expect("a lease state is always published")
    }
}

/// Host 2's core and everything around it that one loop observes.
#[derive(Clone)]
struct Rig {
    cfg: CoreConfig,
    agent: Agent,
    /// Time of the next loop.
    now: Millis,
    peers: BTreeMap<HostId, PeerSpec>,
    /// Slots read as they are, whatever the peers above publish (torn,
    /// forged, late): they win over `peers` for their host.
    raw_peers: BTreeMap<HostId, Result<HostSlot, SlotError>>,
    global_maintenance: bool,
    /// Our own slot as stored: the last successful publish.
    own: Option<HostSlot>,
    own_torn: bool,
    vm: LocalVm,
    sensors: Sensors,
    local_maintenance: bool,
    read_ok: bool,
    publish_ok: bool,
    requests: Vec<Request>,
    results: Vec<ActionResult>,
    /// The fence report the next step observes.
    fence: Option<FenceReport>,
}

impl Rig {
    fn config() -> CoreConfig {
        CoreConfig::new(ME, "host2", Timings::reference())
    }

    /// A cold start at time 0: empty own slot, no VM, a perfect host.
    fn new(cfg: CoreConfig) -> Rig {
        Rig {
            agent: Agent::new(cfg.clone(), Millis::ZERO),
            cfg,
            now: Millis::ZERO,
            peers: [(1, PeerSpec::default()), (3, PeerSpec::default())].into(),
            raw_peers: BTreeMap::new(),
            global_maintenance: false,
            own: None,
            own_torn: false,
            vm: LocalVm::NotPresent,
            sensors: Sensors {
                liveliness_ok: Some(true),
                gateway_probes_ok: Some(5),
                bridge_up: Some(true),
                cpu_load: Some(0.0),
                free_memory_mib: Some(16_384),
            },
            local_maintenance: false,
            read_ok: true,
            publish_ok: true,
            requests: Vec::new(),
            results: Vec::new(),
            fence: None,
        }
    }

    fn peer(&mut self, id: HostId) -> &mut PeerSpec {
        self.peers.get_mut(&id).expect("peer 1 or 3")
    }

    fn area(&mut self) -> Area {
        let mut global = GlobalBlock::new();
        global.set_maintenance(self.global_maintenance);
        let global = GlobalBlock::decode(&global.encode().expect("global block")[..]);
        let mut hosts = BTreeMap::new();
        for (&id, peer) in &mut self.peers {
            peer.host_ts += u64::from(peer.beating);
            if peer.beating {
                peer.seq = peer.seq.map(|seq| seq + 1);
            }
            hosts.insert(id, Ok(peer_slot(id, peer)));
        }
        for (&id, slot) in &self.raw_peers {
            hosts.insert(id, slot.clone());
        }
        if self.own_torn {
            let torn = SlotError::Torn {
                stored: 1,
                computed: 2,
            };
            hosts.insert(ME, Err(torn));
        } else if let Some(own) = &self.own {
            hosts.insert(ME, Ok(own.clone()));
        }
        Area { global, hosts }
    }

    /// One loop as the shell runs it: read, step, publish, after_publish.
    fn step(&mut self) -> Outcome {
        let area = self.read_ok.then(|| self.area());
        let obs = Observation {
            now: self.now,
            wall_unix: WALL_UNIX,
            utc_offset_secs: 0,
            area: area.as_ref(),
            local_vm: self.vm,
            sensors: self.sensors.clone(),
            local_maintenance: self.local_maintenance,
            requests: std::mem::take(&mut self.requests),
            results: std::mem::take(&mut self.results),
            fence: self.fence.take(),
        };
        let decision = self.agent.step(&obs);
        let written = decision.publish && self.publish_ok;
        let mut actions = self
            .agent
            .after_publish(self.now, self.now + WRITE_MS, written);
        if written {
            self.own = Some(through_codec(ME, &decision.record, &decision.extra));
            self.own_torn = false;
        }
        if self.agent.wants_readback() {
            // As the shell does: one more read to see our `held` publish intact.
            let area = self.read_ok.then(|| self.area());
            let now = self.now + 2 * WRITE_MS;
            actions.extend(self.agent.readback(area.as_ref(), now));
        }
        let mut log = decision.log.clone();
        log.extend(self.agent.drain_log());
        self.now = self.now + self.cfg.timings.loop_ms;
        Outcome {
            decision,
            actions,
            log,
        }
    }

    fn run(&mut self, loops: usize) -> Vec<Outcome> {
        (0..loops).map(|_| self.step()).collect()
    }

    /// The actions of each of the next `loops` loops.
    fn actions(&mut self, loops: usize) -> Vec<Vec<VmAction>> {
        self.run(loops).into_iter().map(|o| o.actions).collect()
    }

    /// Loops until `secs`, asserting that the state does not change meanwhile.
    fn wait_until(&mut self, secs: u64) {
        let state = self.agent.state();
        while self.now < Millis::from_secs(secs) {
            let out = self.step();
            assert_eq!(self.agent.state(), state, "while waiting: {:?}", out.log);
        }
        assert_eq!(self.now, Millis::from_secs(secs), "not a loop boundary");
    }

    /// The agent process restarts; storage, VM and peers stay as they are.
    fn restart(&mut self) {
        self.agent = Agent::new(self.cfg.clone(), self.now);
    }

    fn vm_up(&mut self) {
        self.vm = present(VmManagerStatus::Up);
        self.sensors.liveliness_ok = Some(true);
    }

    fn sick(&mut self) {
        self.sensors.liveliness_ok = Some(false);
    }

    fn crash(&mut self) {
        self.vm = present(VmManagerStatus::Down);
    }

    fn vm_gone(&mut self) {
        self.vm = LocalVm::NotPresent;
    }
}

/// Starting situations, each reached through real loops. The comment gives the
/// time of the next loop.
#[derive(Clone, Copy, Debug)]
enum At {
    /// Nothing run yet (t=0).
    Fresh,
    /// After the first loop, less than host_alive_timeout of history (t=10).
    DownYoung,
    /// EngineDown; the next loop has a full history (t=60).
    Down,
    /// Claim written at 60; settle not due (t=70).
    Claimed,
    /// Settle due at the next loop (t=80).
    Settled,
    /// Lease held (epoch 1), Start handed out at 80, VM powering up (t=90).
    Starting,
    /// Engine up and healthy here, lease held (t=100).
    Up,
    /// Bad health since 100 (t=110).
    UpBad,
    /// The VM crashed at 100 and is being restarted here (t=110).
    Restarting,
    /// The local restart failed at 110 (t=120).
    UnexpectedlyDown,
    /// The VM vanished at 100; lease released (t=110).
    MaybeAway,
    /// EngineStop since 120 (a peer's lead); VM still up, no Shutdown yet (t=130).
    Stop,
    /// The VM paused while stopping; PowerOff handed out at 130 (t=140).
    ForceStop,
    GlobalMaint,
    LocalMaint,
    Unknown,
}

impl At {
    fn state(self) -> State {
        match self {
            At::Fresh => S::StartState,
            At::DownYoung | At::Down => S::EngineDown,
            At::Claimed | At::Settled => S::EngineStart,
            At::Starting | At::Restarting => S::EngineStarting,
            At::Up => S::EngineUp,
            At::UpBad => S::EngineUpBadHealth,
            At::UnexpectedlyDown => S::EngineUnexpectedlyDown,
            At::MaybeAway => S::EngineMaybeAway,
            At::Stop => S::EngineStop,
            At::ForceStop => S::EngineForceStop,
            At::GlobalMaint => S::GlobalMaintenance,
            At::LocalMaint => S::LocalMaintenance,
            At::Unknown => S::UnknownLocalVmState,
        }
    }
}

fn reach(at: At) -> Rig {
    reach_with(Rig::config(), at)
}

fn reach_with(cfg: CoreConfig, at: At) -> Rig {
    let mut rig = match at {
        At::Fresh => return Rig::new(cfg),
        At::DownYoung => Rig::new(cfg),
        At::Down => {
            let mut rig = Rig::new(cfg);
            rig.run(5);
            rig
        }
        At::Claimed | At::GlobalMaint | At::LocalMaint | At::Unknown => reach_with(cfg, At::Down),
        At::Settled => reach_with(cfg, At::Claimed),
        At::Starting => reach_with(cfg, At::Settled),
        At::Up => reach_with(cfg, At::Starting),
        At::UpBad | At::Restarting | At::MaybeAway => reach_with(cfg, At::Up),
        At::UnexpectedlyDown => reach_with(cfg, At::Restarting),
        At::Stop => {
            // Every gateway probe fails here (1800) while peer 1 scores 3400.
            let mut rig = reach_with(cfg, At::Up);
            rig.sensors.gateway_probes_ok = Some(0);
            rig.peer(1).score = 3400;
            rig.wait_until(120);
            rig
        }
        At::ForceStop => reach_with(cfg, At::Stop),
    };
    match at {
        At::Up => rig.vm_up(),
        At::UpBad => rig.sick(),
        At::Restarting => rig.crash(),
        At::MaybeAway => rig.vm_gone(),
        At::ForceStop => rig.vm = present(VmManagerStatus::Paused),
        At::GlobalMaint => rig.global_maintenance = true,
        At::LocalMaint => rig.local_maintenance = true,
        At::Unknown => rig.vm = LocalVm::QueryFailed,
        _ => {}
    }
    let out = rig.step();
    assert_eq!(rig.agent.state(), at.state(), "{at:?}: {:?}", out.log);
    match at {
        // The shell ran the Start it was handed.
        At::Starting => rig.vm = present(VmManagerStatus::PoweringUp),
        At::Stop => {
            rig.sensors.gateway_probes_ok = Some(5);
            rig.peer(1).score = 2400;
        }
        _ => {}
    }
    rig
}

/// From a situation, change what the next loop observes; then the state after
/// the step, the actions after a successful and after a failed publish, and a
/// log fragment ("" for none). A row without a log fragment shows no transition.
type Row = (At, Setup, State, Actions, Actions, &'static str);
type Setup = fn(&mut Rig);
type Actions = &'static [VmAction];

fn check(table: &str, rows: &[Row]) {
    for (index, &(at, when, to, ok, failed, why)) in rows.iter().enumerate() {
        let mut rig = reach(at);
        when(&mut rig);
        let mut lost = rig.clone();
        lost.publish_ok = false;
        let out = rig.step();
        let out_lost = lost.step();
        let ctx = format!("{table} row {index} from {at:?}, log {:#?}", out.log);
        assert_eq!(rig.agent.state(), to, "{ctx}");
        assert_eq!(lost.agent.state(), to, "{ctx} (failed publish)");
        assert_eq!(out.actions, ok, "{ctx}");
        assert_eq!(out_lost.actions, failed, "{ctx} (failed publish)");
        if why.is_empty() {
            assert_eq!(out.decision.transitions, [], "{ctx}");
        } else {
            assert!(out.logged(why), "{ctx}: no {why:?}");
        }
    }
}

#[test]
fn guards_run_in_reference_order() {
    use LocalVm::QueryFailed;
    #[rustfmt::skip]
    check("guards", &[
        // Global maintenance before an unknown VM state before local maintenance.
        (At::Up, |r| { r.global_maintenance = true; r.vm = QueryFailed; r.local_maintenance = true; },
            S::GlobalMaintenance, NONE, NONE, "EngineUp -> GlobalMaintenance: global maintenance"),
        (At::Up, |r| { r.vm = QueryFailed; r.local_maintenance = true; },
            S::UnknownLocalVmState, NONE, NONE, "EngineUp -> UnknownLocalVmState: local VM state unknown"),
        (At::Up, |r| r.local_maintenance = true,
            S::LocalMaintenance, NONE, NONE, "EngineUp -> LocalMaintenance: local maintenance"),
        // The timeout first: MaybeAway times out, then global maintenance applies.
        (At::MaybeAway, |r| { r.wait_until(140); r.global_maintenance = true; },
            S::GlobalMaintenance, NONE, NONE, "EngineMaybeAway -> EngineUnexpectedlyDown: timeout after 40 s"),
        // The guards cut a claim short (withdrawn) and leave a starting VM alone.
        (At::Claimed, |r| r.global_maintenance = true,
            S::GlobalMaintenance, NONE, NONE, "engine VM lease claim withdrawn (epoch 1)"),
        (At::Starting, |r| r.global_maintenance = true,
            S::GlobalMaintenance, NONE, NONE, "EngineStarting -> GlobalMaintenance"),
        // Each stays while its condition holds...
        (At::GlobalMaint, |_| {}, S::GlobalMaintenance, NONE, NONE, ""),
        (At::LocalMaint, |_| {}, S::LocalMaintenance, NONE, NONE, ""),
        (At::Unknown, |_| {}, S::UnknownLocalVmState, NONE, NONE, ""),
        // ... and reinitializes when it clears (then on to a start: nothing better).
        (At::GlobalMaint, |r| r.global_maintenance = false,
            S::EngineStart, NONE, NONE, "GlobalMaintenance -> ReinitializeFSM: global maintenance cleared"),
        (At::LocalMaint, |r| r.local_maintenance = false,
            S::EngineStart, NONE, NONE, "LocalMaintenance -> ReinitializeFSM: local maintenance cleared"),
        (At::Unknown, |r| r.vm_gone(),
            S::EngineStart, NONE, NONE, "UnknownLocalVmState -> ReinitializeFSM: local VM state known again"),
    ]);
}

#[test]
fn start_state_and_engine_down() {
    #[rustfmt::skip]
    check("down", &[
        (At::Fresh, |_| {}, S::EngineDown, NONE, NONE, "ReinitializeFSM -> EngineDown: engine VM not on this host"),
        (At::Fresh, |r| r.vm = present(VmManagerStatus::PoweringUp),
            S::EngineStarting, NONE, NONE, "ReinitializeFSM -> EngineStarting: engine VM runs on this host"),
        // Less than host_alive_timeout of history: wait.
        (At::DownYoung, |_| {}, S::EngineDown, NONE, NONE, ""),
        // Nobody better: claim the lease (no VM action before it is won).
        (At::Down, |_| {}, S::EngineStart, NONE, NONE,
            "EngineDown -> EngineStart: no better host to start the engine VM (score 3400)"),
        // Equal scores: the lower host id goes first (improvement 5).
        (At::Down, |r| r.peer(1).score = 3400, S::EngineDown, NONE, NONE, ""),
        (At::Down, |r| r.peer(3).score = 3400, S::EngineStart, NONE, NONE, "claiming the engine VM lease (epoch 1)"),
        // A better score wins, unless that host is in local maintenance.
        (At::Down, |r| { r.sensors.bridge_up = Some(false); r.peer(3).score = 3000; },
            S::EngineDown, NONE, NONE, ""),
        (At::Down, |r| { r.sensors.bridge_up = Some(false); r.peer(3).score = 3000; r.peer(3).local_maintenance = true; },
            S::EngineStart, NONE, NONE, "(score 2800)"),
        // The best engine is up elsewhere.
        (At::Down, |r| r.peer(3).status = up_good(), S::EngineDown, NONE, NONE, ""),
        // No fresh metadata read: no decision to start.
        (At::Down, |r| r.read_ok = false, S::EngineDown, NONE, NONE, ""),
        // The engine VM turns up here.
        (At::Down, |r| r.vm_up(), S::EngineUp, NONE, NONE, "EngineDown -> EngineStarting: engine VM runs on this host"),
    ]);
}

#[test]
fn engine_start_claims_settles_and_starts_only_after_a_publish() {
    #[rustfmt::skip]
    check("start", &[
        // Settling: the claim is not decided before lease_settle.
        (At::Claimed, |_| {}, S::EngineStart, NONE, NONE, ""),
        // Won: the Start goes out only if this loop's publish (now `held`) landed.
        (At::Settled, |_| {}, S::EngineStarting, START1, NONE,
            "EngineStart -> EngineStarting: lease won (epoch 1), starting the engine VM"),
        // Never settled on a stale view.
        (At::Settled, |r| r.read_ok = false, S::EngineStart, NONE, NONE, ""),
        // Lost to a hold, or to a claim with a lower (epoch, host id); not to a higher one.
        (At::Settled, |r| r.peer(3).lease = lease(LeaseKind::Held, 1),
            S::EngineDown, NONE, NONE, "lost the engine VM lease: host 3 holds the lease (epoch 1)"),
        (At::Settled, |r| r.peer(1).lease = lease(LeaseKind::Claim, 1),
            S::EngineDown, NONE, NONE, "lost the engine VM lease: host 1 claims the lease (epoch 1)"),
        (At::Settled, |r| r.peer(3).lease = lease(LeaseKind::Claim, 1), S::EngineStarting, START1, NONE, "lease won"),
        // A held lease elsewhere keeps us waiting in EngineDown: no claim is made.
        (At::Down, |r| r.peer(1).lease = lease(LeaseKind::Held, 1),
            S::EngineDown, NONE, NONE, ""),
        // The VM is already here: take the lease for it, start nothing.
        (At::Settled, |r| r.vm = present(VmManagerStatus::PoweringUp),
            S::EngineStarting, NONE, NONE, "engine VM lease taken for the running VM (epoch 1)"),
    ]);
}

#[test]
fn engine_starting() {
    #[rustfmt::skip]
    check("starting", &[
        (At::Starting, |_| {}, S::EngineStarting, NONE, NONE, ""),
        (At::Starting, |r| r.vm_up(), S::EngineUp, NONE, NONE, "EngineStarting -> EngineUp: engine healthy"),
        (At::Starting, |r| { r.vm_up(); r.sick(); }, S::EngineStarting, NONE, NONE, ""),
        // The VM went away: forced off, then down (see failed_starts_lower_the_score).
        (At::Starting, |r| r.vm_gone(),
            S::EngineDown, NONE, NONE, "EngineStarting -> EngineForceStop: engine VM went down while starting"),
        (At::Starting, |r| r.wait_until(680),
            S::EngineStop, SHUTDOWN, SHUTDOWN, "EngineStarting -> EngineStop: timeout after 600 s"),
        // A local restart after a crash that fails hands the engine over.
        (At::Restarting, |_| {}, S::EngineUnexpectedlyDown, NONE, NONE,
            "EngineStarting -> EngineUnexpectedlyDown: local restart failed, handing the engine over"),
        (At::Restarting, |r| r.results.push(failed(START1[0])),
            S::EngineUnexpectedlyDown, NONE, NONE, "engine VM start failed"),
        (At::Restarting, |r| r.vm_up(), S::EngineUp, NONE, NONE, "engine healthy"),
    ]);
}

#[test]
fn engine_up() {
    #[rustfmt::skip]
    check("up", &[
        (At::Up, |_| {}, S::EngineUp, NONE, NONE, ""),
        // Crash: restart here under the held lease first (improvement 1).
        (At::Up, |r| r.crash(), S::EngineStarting, START1, NONE,
            "EngineUp -> EngineStart: engine VM crashed, restarting it on this host (attempt 1 of 1)"),
        // ... again once the last local restart left retry_window.
        (At::Up, |r| { r.crash(); r.step(); r.vm_up(); r.step(); r.wait_until(710); r.crash(); },
            S::EngineStarting, START1, NONE, "restarting it on this host (attempt 1 of 1)"),
        (At::Up, |r| r.vm_gone(),
            S::EngineMaybeAway, NONE, NONE, "EngineUp -> EngineMaybeAway: engine VM not running on this host"),
        (At::Up, |r| r.sick(),
            S::EngineUpBadHealth, NONE, NONE, "EngineUp -> EngineUpBadHealth: engine health bad: failed liveliness check"),
        // A better engine elsewhere; an equally good one is no reason to stop.
        (At::Up, |r| { r.sick(); r.peer(3).status = up_good(); },
            S::EngineStop, SHUTDOWN, SHUTDOWN, "EngineUp -> EngineStop: a better engine runs on host 3"),
        (At::Up, |r| r.peer(1).status = up_good(), S::EngineUp, NONE, NONE, ""),
        // An operator's shutdown in the same step: one Shutdown, not two.
        (At::Up, |r| { r.sick(); r.peer(3).status = up_good(); r.requests.push(Request::ShutdownVm); },
            S::EngineStop, SHUTDOWN, SHUTDOWN, "a better engine runs on host 3"),
        // A lead of 800 seen for one loop only does not move the engine.
        (At::Up, |r| { r.sensors.gateway_probes_ok = Some(0); r.peer(1).score = 3400; }, S::EngineUp, NONE, NONE, ""),
        // Another host took a newer epoch: our lease is gone, fence.
        (At::Up, |r| r.peer(3).lease = lease(LeaseKind::Held, 2),
            S::EngineForceStop, POWEROFF, POWEROFF, "lease epoch 1 superseded by host 3 (epoch 2)"),
    ]);
}

#[test]
fn engine_up_bad_health() {
    #[rustfmt::skip]
    check("bad health", &[
        (At::UpBad, |_| {}, S::EngineUpBadHealth, NONE, NONE, ""),
        (At::UpBad, |r| r.wait_until(390), S::EngineUpBadHealth, NONE, NONE, ""),
        (At::UpBad, |r| r.wait_until(400),
            S::EngineStop, SHUTDOWN, SHUTDOWN, "EngineUpBadHealth -> EngineStop: engine unhealthy for 300 s (failed liveliness check)"),
        (At::UpBad, |r| r.sensors.liveliness_ok = Some(true),
            S::EngineUp, NONE, NONE, "EngineUpBadHealth -> EngineUp: engine healthy again"),
        (At::UpBad, |r| r.crash(), S::EngineStarting, START1, NONE, "restarting it on this host"),
        // Every live host's gateway test fails: not the engine's fault (improvement 4).
        (At::UpBad, |r| {
            r.sensors.gateway_probes_ok = Some(0);
            for id in [1, 3] { r.peer(id).gateway_ok = Some(0); r.peer(id).score = 1800; }
            r.wait_until(700);
        }, S::EngineUpBadHealth, NONE, NONE, ""),
        // Only some gateways fail: the health timeout applies.
        (At::UpBad, |r| { r.sensors.gateway_probes_ok = Some(0); r.peer(1).gateway_ok = Some(0); r.wait_until(400); },
            S::EngineStop, SHUTDOWN, SHUTDOWN, "engine unhealthy for 300 s"),
    ]);
}

#[test]
fn engine_maybe_away_and_unexpectedly_down() {
    let migrated = |r: &mut Rig| {
        r.vm = LocalVm::Present {
            status: VmManagerStatus::Down,
            down_reason: Some(DownReason::MigratedAway),
        }
    };
    #[rustfmt::skip]
    check("away", &[
        (At::MaybeAway, |_| {}, S::EngineMaybeAway, NONE, NONE, ""),
        (At::MaybeAway, |r| r.vm_up(), S::EngineUp, NONE, NONE, "EngineMaybeAway -> EngineUp: engine VM runs here again"),
        // Without the lease (released when the VM vanished) a crash is not restarted here.
        (At::MaybeAway, |r| r.crash(),
            S::EngineUnexpectedlyDown, NONE, NONE, "EngineMaybeAway -> EngineUnexpectedlyDown: engine VM crashed"),
        (At::MaybeAway, migrated, S::EngineDown, NONE, NONE, "EngineMaybeAway -> EngineDown: engine VM down on this host"),
        (At::MaybeAway, |r| r.peer(3).status = up_good(),
            S::EngineDown, NONE, NONE, "EngineMaybeAway -> EngineDown: engine VM up on host 3"),
        (At::MaybeAway, |r| r.wait_until(140),
            S::EngineUnexpectedlyDown, NONE, NONE, "EngineMaybeAway -> EngineUnexpectedlyDown: timeout after 40 s"),
        (At::UnexpectedlyDown, |_| {}, S::EngineUnexpectedlyDown, NONE, NONE, ""),
        (At::UnexpectedlyDown, |r| r.vm_up(),
            S::EngineUp, NONE, NONE, "EngineUnexpectedlyDown -> EngineUp: engine VM up again here"),
        // After the timeout, down (and on to a claim: nothing better).
        (At::UnexpectedlyDown, |r| r.wait_until(670),
            S::EngineStart, NONE, NONE, "EngineUnexpectedlyDown -> EngineDown: timeout after 560 s"),
    ]);
}

#[test]
fn engine_stop_and_force_stop() {
    let shutdown_failed = |r: &mut Rig| r.results.push(failed(VmAction::Shutdown));
    #[rustfmt::skip]
    check("stop", &[
        // The shutdown went out in the loop that entered EngineStop (NOWAIT,
        // whatever the publish did: see engine_up's rows); once only.
        (At::Stop, |_| {}, S::EngineStop, NONE, NONE, ""),
        (At::Stop, |r| r.vm_gone(), S::EngineDown, NONE, NONE, "EngineStop -> EngineDown: engine VM stopped"),
        (At::Stop, |r| r.vm = present(VmManagerStatus::Paused),
            S::EngineForceStop, POWEROFF, POWEROFF, "EngineStop -> EngineForceStop: engine VM paused"),
        (At::Stop, |r| r.wait_until(420),
            S::EngineForceStop, POWEROFF, POWEROFF, "EngineStop -> EngineForceStop: timeout after 300 s"),
        // A failed shutdown reinitializes; the VM still runs, healthy.
        (At::Stop, shutdown_failed, S::EngineUp, NONE, NONE, "EngineStop -> ReinitializeFSM: action result"),
        // PowerOff once; down when the VM is gone; a failed one reinitializes.
        (At::ForceStop, |_| {}, S::EngineForceStop, NONE, NONE, ""),
        (At::ForceStop, |r| r.vm_gone(), S::EngineDown, NONE, NONE, "EngineForceStop -> EngineDown: engine VM is down"),
        (At::ForceStop, |r| r.results.push(failed(VmAction::PowerOff)), S::EngineStarting, NONE, NONE, "power-off failed"),
    ]);
}

#[test]
fn manual_requests() {
    #[rustfmt::skip]
    check("manual", &[
        (At::LocalMaint, |r| r.requests.push(Request::StartVm { paused: false }),
            S::LocalMaintenance, NONE, NONE, "refused manual start (paused=false): host in local maintenance"),
        (At::GlobalMaint, |r| r.requests.push(Request::StartVm { paused: false }),
            S::EngineStart, NONE, NONE, "GlobalMaintenance -> EngineStart: manual start in global maintenance"),
        // Taken at once; the claim waits for a full timeout of history.
        (At::DownYoung, |r| r.requests.push(Request::StartVm { paused: true }),
            S::EngineStart, NONE, NONE, "EngineDown -> EngineStart: manual start"),
        (At::Up, |r| r.requests.push(Request::StartVm { paused: false }),
            S::EngineUp, NONE, NONE, "manual start ignored: VM exists and its status is Up"),
        (At::Up, |r| r.requests.push(Request::ShutdownVm), S::EngineUp, SHUTDOWN, SHUTDOWN, "manual shutdown requested"),
        (At::Up, |r| r.requests.push(Request::PowerOffVm), S::EngineUp, POWEROFF, POWEROFF, "manual power-off requested"),
        (At::GlobalMaint, |r| r.requests.push(Request::ShutdownVm), S::GlobalMaintenance, SHUTDOWN, SHUTDOWN, ""),
    ]);
}

#[test]
fn failed_starts_lower_the_score() {
    // The VM vanished while starting: counted, forced off, back to EngineDown.
    let mut rig = reach(At::Starting);
    rig.vm_gone();
    let out = rig.step();
    let forced = [
        (S::EngineStarting, S::EngineForceStop),
        (S::EngineForceStop, S::EngineDown),
    ];
    assert_eq!(out.decision.transitions, forced);
    assert_eq!(out.decision.score.score, 3400 - 50);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle, "lease released");

    // The VM manager refuses the start: EngineDown with the retry count + 1,
    // which starts again at once under the held lease, until the count passes
    // start_retries_max (3) and the score drops to 0.
    let mut rig = reach(At::Starting);
    rig.vm_gone();
    for failures in 1..=4u32 {
        rig.results.push(failed(START1[0]));
        let out = rig.step();
        assert!(out.logged("engine VM start failed"), "{:?}", out.log);
        assert!(out.logged("EngineStarting -> EngineDown: action result"));
        if failures <= 3 {
            assert_eq!(out.actions, START1, "failure {failures}");
            assert_eq!(rig.agent.state(), S::EngineStarting);
            assert_eq!(out.decision.score.score, 3400 - 50 * failures);
        } else {
            assert_eq!(out.actions, NONE);
            assert_eq!(rig.agent.state(), S::EngineDown);
            assert_eq!(out.decision.score.score, 0);
            let zero = Some(ZeroReason::TooManyFailedStarts);
            assert_eq!(out.decision.score.zero_reason, zero);
            assert_eq!(rig.agent.lease().phase(), Phase::Idle);
        }
    }
}

#[test]
fn a_claim_whose_publish_failed_is_abandoned_and_made_again() {
    let mut rig = reach(At::Down);
    rig.publish_ok = false;
    let out = rig.step();
    assert!(out.logged("claiming the engine VM lease (epoch 1)"));
    assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 1));
    assert_eq!(rig.agent.state(), S::EngineStart);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle, "claim abandoned");
    // Claimed again under a new epoch, settled, started: never before.
    rig.publish_ok = true;
    assert_eq!(rig.actions(3), [vec![], vec![], vec![start(false, 2)]]);
}

#[test]
fn only_alive_peers_hold_the_start_back() {
    for (beating, want) in [(true, S::EngineDown), (false, S::EngineStart)] {
        let mut rig = Rig::new(Rig::config());
        rig.peer(1).score = 3400; // would win the tie-break, if alive
        rig.peer(1).beating = beating;
        rig.run(7);
        assert_eq!(rig.agent.state(), want, "peer 1 beating: {beating}");
    }
}

#[test]
fn a_crash_is_restarted_here_once_then_handed_over() {
    let mut rig = reach(At::Up);
    rig.crash();
    let out = rig.step();
    let restart = [
        (S::EngineUp, S::EngineStart),
        (S::EngineStart, S::EngineStarting),
    ];
    assert_eq!(out.decision.transitions, restart);
    assert_eq!(out.actions, START1);
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 1 });
    rig.vm_up();
    rig.step();
    assert_eq!(rig.agent.state(), S::EngineUp);
    // A second crash within retry_window: no second local restart.
    rig.crash();
    let out = rig.step();
    assert!(out.logged("EngineUp -> EngineUnexpectedlyDown: engine VM crashed"));
    assert_eq!(out.actions, NONE);
    assert_eq!(out.decision.score.score, 0);
    let zero = Some(ZeroReason::Forced(ForcedZero::EngineUnexpectedlyDown));
    assert_eq!(out.decision.score.zero_reason, zero);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle, "handed over");
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 1));
}

#[test]
fn a_better_peer_takes_the_engine_only_after_two_publishes_show_its_lead() {
    // Every gateway probe fails here: 1800, so a lead means 2600.
    let states = |scores: &[u32], peer_in_local_maintenance: bool| {
        let mut rig = reach(At::Up);
        rig.sensors.gateway_probes_ok = Some(0);
        rig.peer(3).local_maintenance = peer_in_local_maintenance;
        let mut states = Vec::new();
        for &score in scores {
            rig.peer(3).score = score;
            let out = rig.step();
            states.push(rig.agent.state());
            if rig.agent.state() == S::EngineStop {
                let why = format!("host 3 scores {score} against our 1800, moving the engine");
                assert!(out.logged(&why), "{:?}", out.log);
            }
        }
        states
    };
    use S::{EngineStop as STOP, EngineUp as UP};
    assert_eq!(states(&[2600, 2600, 2600], false), [UP, UP, STOP]);
    assert_eq!(states(&[2599; 6], false), [UP; 6]);
    // A lapse of one loop starts the count again.
    assert_eq!(
        states(&[3400, 2400, 3400, 3400, 3400], false),
        [UP, UP, UP, UP, STOP]
    );
    assert_eq!(states(&[3400; 6], true), [UP; 6]);
}

/// Our gateway fails at t=110 (1800 here) while peer 3's slot, published
/// before, says 3400: a lead of 1600 points, on a slot that is not moving
/// (`beating` false; alive until t=160, 60 s after its last publish read).
fn lead_on_a_stale_slot() -> Rig {
    let mut rig = reach(At::Up);
    rig.peer(3).score = 3400;
    rig.step(); // t=100: peer 3 publishes 3400, we score 3400 too.
    rig.peer(3).beating = false;
    rig.sensors.gateway_probes_ok = Some(0);
    rig
}

#[test]
fn a_lead_read_from_a_slot_published_before_it_appeared_does_not_move_the_engine() {
    // Test plan case 8 with lagging peers: the lead shows on the same stale
    // publish for five of our loops (the reference timing's two-loop rule
    // would have moved the engine on the third); never a stop.
    let mut rig = lead_on_a_stale_slot();
    for out in rig.run(5) {
        assert_eq!(rig.agent.state(), S::EngineUp, "{:?}", out.log);
        assert_eq!(out.actions, NONE);
    }
    // The peer publishes again, twice, each still showing the lead: confirmed.
    rig.peer(3).beating = true;
    let out = rig.step(); // t=160
    assert_eq!(rig.agent.state(), S::EngineUp, "{:?}", out.log);
    let out = rig.step(); // t=170
    assert_eq!(rig.agent.state(), S::EngineStop, "{:?}", out.log);
    assert!(
        out.logged(
            "EngineUp -> EngineStop: host 3 scores 3400 against our 1800, moving the engine"
        )
    );
    // The shutdown goes out in the same loop (NOWAIT), and the next loop at once.
    assert_eq!(out.actions, SHUTDOWN);
    assert_eq!(out.decision.next_loop_ms, 0);
}

#[test]
fn a_lead_that_lapses_on_a_fresh_publish_counts_again_from_there() {
    let mut rig = lead_on_a_stale_slot();
    rig.run(2); // t=110, 120: the stale lead.
    rig.peer(3).beating = true;
    rig.peer(3).score = 1800; // its fresh publish: the fault hit it too
    rig.step(); // t=130
    rig.peer(3).score = 3400; // a real lead from here on
    let mut states = Vec::new();
    for _ in 0..3 {
        rig.step(); // t=140, 150, 160
        states.push(rig.agent.state());
    }
    assert_eq!(states, [S::EngineUp, S::EngineUp, S::EngineStop]);
}

#[test]
fn while_our_gateway_fails_only_a_peer_that_reaches_its_own_takes_the_engine() {
    // Fresh publishes with a lead of 1600, our gateway failing: the peer's
    // gateway decides. Failing too (a cluster-wide outage) or not known yet
    // (its score then carries no network penalty): no move.
    for (gateway, want) in [
        (Some(0), S::EngineUp),
        (None, S::EngineUp),
        (Some(1), S::EngineStop),
    ] {
        let mut rig = reach(At::Up);
        rig.sensors.gateway_probes_ok = Some(0);
        rig.peer(3).score = 3400;
        rig.peer(3).gateway_ok = gateway;
        rig.run(6);
        assert_eq!(rig.agent.state(), want, "peer gateway {gateway:?}");
    }
    // Our gateway works (the lead comes from our bridge and CPU load): the
    // peer's gateway result does not matter, its score does.
    let mut rig = reach(At::Up);
    rig.sensors.bridge_up = Some(false);
    rig.sensors.cpu_load = Some(1.0);
    rig.peer(3).score = 3400;
    rig.peer(3).gateway_ok = None;
    rig.run(3);
    assert_eq!(rig.agent.state(), S::EngineStop);
}

#[test]
fn the_recovery_command_runs_once_per_bad_health_episode() {
    let mut cfg = Rig::config();
    cfg.recovery_configured = true;
    let mut rig = reach_with(cfg, At::Up);
    rig.sick();
    let mut lost = rig.clone();
    lost.publish_ok = false;
    assert_eq!(lost.step().actions, [VmAction::RunRecovery]);
    let out = rig.step();
    assert_eq!(out.actions, [VmAction::RunRecovery]);
    assert!(out.logged("running the engine recovery command"));
    assert_eq!(rig.agent.state(), S::EngineUpBadHealth);
    for out in rig.run(3) {
        assert_eq!(out.actions, NONE);
    }
    rig.sensors.liveliness_ok = Some(true);
    rig.step();
    assert_eq!(rig.agent.state(), S::EngineUp);
    rig.sick();
    assert_eq!(rig.step().actions, [VmAction::RunRecovery]); // at 150
    // Still stopped after bad_health_timeout: the command did not help.
    rig.wait_until(450);
    rig.step();
    assert_eq!(rig.agent.state(), S::EngineStop);
}

#[test]
fn a_holder_that_cannot_publish_for_lease_fail_powers_its_vm_off() {
    let mut rig = reach(At::Up); // last renewal: the publish started at 90
    rig.publish_ok = false;
    for out in rig.run(2) {
        // 100 and 110: renewed less than 30 s ago.
        assert_eq!(out.actions, NONE);
        assert_eq!(rig.agent.state(), S::EngineUp);
    }
    let out = rig.step(); // 120
    assert_eq!(out.actions, POWEROFF);
    assert_eq!(rig.agent.state(), S::EngineForceStop);
    // The lease is not given up over a VM that may still run: `fencing`,
    // a hold to every other host, until the VM is confirmed down.
    assert_eq!(rig.agent.lease().phase(), Phase::Fencing { epoch: 1 });
    assert!(out.logged("self-fence: lease epoch 1 not renewed for 30000 ms"));
    assert!(out.logged("EngineUp -> EngineForceStop: self-fence"));
    assert!(rig.agent.fencing());
    // Storage back, the VM still reported running: the power-off is retried
    // every loop (and nothing else happens) until the VM is down, and the
    // slot keeps saying `fencing`.
    rig.publish_ok = true;
    for _ in 0..3 {
        let out = rig.step();
        assert_eq!(out.actions, POWEROFF);
        assert!(out.logged("powering it off again"));
        assert_eq!(out.published_lease(), lease(LeaseKind::Fencing, 1));
        assert_eq!(rig.agent.state(), S::EngineForceStop);
    }
    rig.vm_gone();
    let out = rig.step();
    assert_eq!(out.actions, NONE);
    assert!(out.logged("self-fence complete: the engine VM is down, lease epoch 1 released"));
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 1));
    assert!(!rig.agent.fencing());
    assert_eq!(rig.agent.state(), S::EngineDown);
}

#[test]
fn a_restarted_agent_keeps_the_lease_only_under_its_own_running_vm() {
    use LeaseKind::{Fencing, Held, None as Free};
    #[rustfmt::skip]
    let cases: [(Setup, State, Actions, LeaseKind, &str); 3] = [
        (|_| {}, S::EngineUp, NONE, Held, "engine VM runs here: keeping the lease (epoch 1)"),
        (|r| r.vm_gone(), S::EngineDown, NONE, Free, "ReinitializeFSM -> EngineDown"),
        // A peer moved past our epoch while we were away: not ours any more,
        // and powered off under `fencing` (a hold to the others) until down.
        (|r| r.peer(3).lease = lease(Held, 2), S::EngineForceStop, POWEROFF, Fencing,
            "engine VM runs here while host 3 holds the lease"),
    ];
    for (index, (when, to, actions, kind, why)) in cases.into_iter().enumerate() {
        let mut rig = reach(At::Up);
        rig.restart();
        when(&mut rig);
        let out = rig.step();
        let ctx = format!("case {index}: {:?}", out.log);
        assert!(out.decision.publish, "{ctx}");
        assert_eq!(rig.agent.state(), to, "{ctx}");
        assert_eq!(out.actions, actions, "{ctx}");
        assert!(out.logged(why), "{ctx}");
        // The epoch is kept whatever becomes of the lease: it never goes back.
        assert_eq!(out.published_lease(), lease(kind, 1), "{ctx}");
        assert_eq!(out.logged("keeping the lease"), kind == Held, "{ctx}");
    }
    // Kept: no restart and no stop later on.
    let mut rig = reach(At::Up);
    rig.restart();
    assert!(rig.run(8).iter().all(|out| out.actions.is_empty()));
    assert_eq!(rig.agent.state(), S::EngineUp);
    // Conservative: an adopted lease has no known renewal time, so a failed
    // first publish fences at once rather than after lease_fail.
    rig.restart();
    rig.publish_ok = false;
    assert_eq!(rig.step().actions, POWEROFF);
}

#[test]
fn nothing_is_published_before_the_own_slot_was_read_or_waited_out() {
    // VM not running: wait silently; the predecessor's slot stays as it was.
    let mut rig = reach(At::Up);
    let predecessor = rig.own.clone();
    rig.restart();
    rig.vm_gone();
    rig.read_ok = false;
    let out = rig.step();
    assert!(!out.decision.publish);
    assert_eq!(out.actions, NONE);
    assert_eq!(rig.own, predecessor);
    rig.read_ok = true;
    let out = rig.step();
    assert!(out.decision.publish);
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 1));

    // VM running: it cannot be covered by a lease we could renew; fence.
    let mut rig = reach(At::Up);
    rig.restart();
    rig.read_ok = false;
    let out = rig.step();
    assert!(!out.decision.publish);
    assert_eq!(out.actions, POWEROFF);
    assert!(out.logged("engine VM runs here but our own slot is unreadable"));
    assert_eq!(rig.agent.state(), S::EngineForceStop);

    // A torn own slot is waited out for lease_dead (60 s), then not adopted.
    let mut rig = reach(At::Up);
    rig.restart(); // at 100
    rig.vm_gone();
    rig.own_torn = true;
    let published: Vec<bool> = rig.run(7).iter().map(|o| o.decision.publish).collect();
    assert_eq!(published, [false, false, false, false, false, false, true]);
}

#[test]
fn the_epoch_never_goes_back_after_a_torn_own_slot() {
    // Epoch 2 held and the VM started under it (the first claim's publish failed).
    let mut rig = reach(At::Down);
    rig.publish_ok = false;
    rig.step();
    rig.publish_ok = true;
    assert_eq!(rig.actions(3), [vec![], vec![], vec![start(false, 2)]]);
    // The peers saw epoch 2 and say so in their slots.
    rig.peer(1).epoch_seen = 2;
    rig.peer(3).epoch_seen = 2;
    // The agent restarts (the VM never came up) and finds its own slot torn;
    // after lease_dead it publishes again, then claims and starts anew.
    rig.restart();
    rig.own_torn = true;
    let outs = rig.run(12);
    let epochs: Vec<u64> = outs
        .iter()
        .filter(|o| o.decision.publish)
        .map(|o| o.published_lease().epoch)
        .collect();
    assert!(outs.iter().any(|o| o.logged("starting the engine VM")));
    assert!(
        epochs.iter().all(|&epoch| epoch > 2),
        "published epochs {epochs:?}"
    );
}

#[test]
fn a_manual_start_goes_through_the_lease() {
    let mut rig = reach(At::GlobalMaint); // t=70
    rig.requests.push(Request::StartVm { paused: false });
    let out = rig.step();
    assert_eq!(out.actions, NONE);
    assert_eq!(rig.agent.state(), S::EngineStart);
    assert!(matches!(rig.agent.lease().phase(), Phase::Claiming { .. }));
    assert_eq!(rig.actions(2), [vec![], START1.to_vec()]);
    // Starting, then up: global maintenance takes over again, the VM stays.
    rig.vm = present(VmManagerStatus::PoweringUp);
    rig.step();
    assert_eq!(rig.agent.state(), S::EngineStarting);
    rig.vm_up();
    rig.step();
    assert_eq!(rig.agent.state(), S::EngineUp);
    let out = rig.step();
    assert_eq!(rig.agent.state(), S::GlobalMaintenance);
    assert_eq!(out.actions, NONE);
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 1 });

    // Paused, right after the agent started: the claim waits for the history
    // an automatic start waits for too (a holder not seen yet may be there),
    // then goes through the lease.
    let mut rig = reach(At::DownYoung); // t=10
    rig.requests.push(Request::StartVm { paused: true });
    let before: Vec<_> = rig.run(5).into_iter().map(|o| o.actions).collect();
    assert!(before.iter().all(Vec::is_empty), "{before:?}");
    assert_eq!(rig.agent.state(), S::EngineStart);
    assert_eq!(
        rig.agent.lease().phase(),
        Phase::Idle,
        "no claim before 60 s"
    );
    assert_eq!(rig.actions(3), [vec![], vec![], vec![start(true, 1)]]);
}

#[test]
fn maintenance_is_published_as_the_reference_shows_it() {
    let out = reach(At::LocalMaint).step();
    assert_eq!(out.decision.score.score, 0);
    assert!(out.decision.record.local_maintenance);
    assert_eq!(out.decision.extra.get("maintenance"), Some("True"));
    assert_eq!(out.decision.extra.get("state"), Some("LocalMaintenance"));
    // Global maintenance keeps the score: it is the cluster's, not the host's.
    let out = reach(At::GlobalMaint).step();
    assert_eq!(out.decision.score.score, 3400);
    assert!(!out.decision.record.local_maintenance);
    assert_eq!(out.decision.extra.get("state"), Some("GlobalMaintenance"));
}

/// Issue 16: every extra line the agent publishes is one `key=value` with no
/// `=` in the value (consumers do `dict(line.split('='))`), also with
/// penalties in the score's arithmetic and in every state reached here.
#[test]
fn every_published_extra_line_splits_into_one_key_and_one_value() {
    for at in [At::DownYoung, At::LocalMaint, At::GlobalMaint] {
        let mut rig = reach(at);
        rig.sensors.cpu_load = Some(0.99);
        rig.sensors.gateway_probes_ok = Some(1);
        let out = rig.step();
        for line in out.decision.extra.raw_lines() {
            assert_eq!(line.matches('=').count(), 1, "{at:?}: {line:?}");
        }
        let detail = out.decision.extra.get("score-detail").unwrap();
        assert!(
            detail.contains(" - cpu ") && detail.contains(" -> "),
            "{detail}"
        );
    }
}

mod fencing;
mod handover;
mod safety;

/// One pass finds what `Extra::get` finds for each key (the first line), the
/// last gateway and lease timings, and every epoch seen.
#[test]
fn peer_keys_read_in_one_pass_agree_with_extra_get() {
    let mut extra = Extra::new();
    for (key, value) in [
        (LEASE_KEY, "held"),
        (LEASE_EPOCH_KEY, "7"),
        (GATEWAY_KEY, "1/5"),
        (SEQ_KEY, "42"),
        (LEASE_KEY, "none"),
        (SEQ_KEY, "43"),
        (KEEPER_KEY, "1"),
        (EPOCH_SEEN_KEY, "9"),
        (LEASE_TIMINGS_KEY, "a"),
        (GATEWAY_KEY, "5/5"),
        (LEASE_TIMINGS_KEY, "b"),
    ] {
        extra.push(key, value);
    }
    let keys = PeerKeys::of(&extra);
    assert_eq!(keys.seq(), extra.seq());
    assert_eq!(keys.lease(), extra.lease());
    assert_eq!(keys.keeper, extra.get(KEEPER_KEY));
    assert_eq!(keys.epoch_seen, Some("9"));
    assert!(!keys.more_epochs_seen);
    assert_eq!((keys.gateway, keys.lease_timings), (Some("5/5"), Some("b")));
    extra.push(EPOCH_SEEN_KEY, "10");
    assert!(PeerKeys::of(&extra).more_epochs_seen);
    let nothing = Extra::new();
    let empty = PeerKeys::of(&nothing);
    assert_eq!((empty.seq(), empty.lease()), (None, Ok(None)));
}

/// A writer who changes its forgeries every loop cannot flood the log:
/// implausible values are logged once a host while it keeps publishing such
/// values, at most `IMPLAUSIBLE_LINES_MAX` hosts by name a read, with the
/// rest counted; each line names the limit of its kind (2^62 for a write
/// sequence, 2^48 for an epoch).
#[test]
fn implausible_values_are_logged_once_a_host_and_a_few_hosts_a_read() {
    let mut agent = Agent::new(
        CoreConfig::new(1, "host1", Timings::default()),
        Millis::from_secs(1000),
    );
    let area = |ts: u64, seq: u64| Area {
        global: Ok(GlobalBlock::new()),
        hosts: (2..=21)
            .map(|id| {
                let spec = PeerSpec {
                    host_ts: ts,
                    seq: Some(seq),
                    ..PeerSpec::default()
                };
                (id, Ok(peer_slot(id, &spec)))
            })
            .collect(),
    };
    let mut step = |at: u64, area: &Area| {
        let obs = Observation {
            now: Millis::from_secs(at),
            wall_unix: WALL_UNIX,
            utc_offset_secs: 0,
            area: Some(area),
            local_vm: LocalVm::NotPresent,
            sensors: Sensors::default(),
            local_maintenance: false,
            requests: Vec::new(),
            results: Vec::new(),
            fence: None,
        };
        agent.step(&obs).log
    };
    let first = step(1000, &area(1, u64::MAX));
    let named: Vec<&String> = first
        .iter()
        .filter(|l| l.contains("publishes an implausible write sequence"))
        .collect();
    assert_eq!(named.len(), IMPLAUSIBLE_LINES_MAX, "{first:?}");
    assert!(
        named[0].contains(&format!("(above {SEQ_PLAUSIBLE_MAX}): refused")),
        "{first:?}"
    );
    assert!(
        first.iter().any(|l| l
            == &format!(
                "{} more hosts publish implausible values: refused (not listed)",
                20 - IMPLAUSIBLE_LINES_MAX
            )),
        "{first:?}"
    );
    // Other forgeries from the same hosts: nothing new to say.
    let second = step(1002, &area(2, u64::MAX - 1));
    assert!(
        !second.iter().any(|l| l.contains("implausible")),
        "{second:?}"
    );
}
