//! The ready-made [`Handler`]: the state the agent loop leaves for the socket
//! after each tick, the bounded queue of VM requests it takes back (with
//! their deadlines, `queue.rs`), and the daemon's callbacks for what the loop
//! does not own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::queue::{RequestQueue, VmRequest};
use super::{Handler, lock};
use crate::clock::SystemClock;
use crate::core::agent::{EPOCH_SEEN_KEY, LEASE_TIMINGS_KEY};
use crate::core::{Agent, Millis, Phase, ScoreBreakdown, State};
use crate::metadata::{Area, HostId, HostSlot, LEASE_EPOCH_KEY, SEQ_KEY};
use crate::proto::{
    self, AgentStatus, ErrorCode, HostStatus, LeasePhase, LeasePhaseView, Liveliness,
    MaintenanceMode, RemoteError, StatusReply, Taken, TimingsMismatch, Transition, UnreadableSlot,
};
use crate::shell::agent_loop::Clock;

/// The maintenance callback: writes `ha.conf` and/or the global block (the
/// daemon's, it owns the metadata store and the configuration paths).
pub type MaintenanceFn = Box<dyn Fn(MaintenanceMode) -> Result<(), String> + Send + Sync>;
/// The liveliness callback: a fresh probe; `Err` only when it cannot be made
/// (no `fqdn` configured), an unreachable engine is `Ok` with `up: false`.
pub type LivelinessFn = Box<dyn Fn() -> Result<Liveliness, String> + Send + Sync>;

/// The [`Handler`] the daemon uses: the loop's latest snapshot, a bounded
/// queue of VM requests, the last transitions, and the two callbacks. Cheap to
/// clone (one `Arc`); every clone is the same state.
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<SharedInner>,
}

struct SharedInner {
    state: Mutex<LoopState>,
    requests: RequestQueue,
    maintenance: MaintenanceFn,
    /// One maintenance change at a time (each is a read-modify-write).
    maintenance_lock: Mutex<()>,
    liveliness: LivelinessFn,
}

#[derive(Default)]
struct LoopState {
    status: Option<(StatusReply, Instant)>,
    transitions: VecDeque<Transition>,
}

impl SharedState {
    pub fn new(maintenance: MaintenanceFn, liveliness: LivelinessFn) -> SharedState {
        SharedState {
            inner: Arc::new(SharedInner {
                state: Mutex::new(LoopState::default()),
                requests: RequestQueue::default(),
                maintenance,
                maintenance_lock: Mutex::new(()),
                liveliness,
            }),
        }
    }

    /// The loop's latest view (each tick).
    pub fn update(&self, status: StatusReply) {
        lock(&self.inner.state).status = Some((status, Instant::now()));
    }

    /// VM requests queued since the last call whose deadline has not
    /// passed, oldest first (each tick, before stepping the core); the
    /// callers of these are told that the loop has them. Requests whose
    /// deadline has passed are dropped, a warning each: their callers have
    /// given up (an agent stopped with SIGSTOP resumes with them queued).
    pub fn take_requests(&self) -> Vec<crate::core::Request> {
        self.inner.requests.take(boottime())
    }

    /// Whether VM requests wait: the daemon may cut its wait between ticks
    /// short, so that an operator's request does not wait a whole loop.
    pub fn has_requests(&self) -> bool {
        self.inner.requests.has_queued()
    }

    /// Remembers a transition; the oldest goes beyond
    /// [`proto::TRANSITIONS_MAX`].
    pub fn push_transition(&self, transition: Transition) {
        let mut state = lock(&self.inner.state);
        if state.transitions.len() == proto::TRANSITIONS_MAX {
            state.transitions.pop_front();
        }
        state.transitions.push_back(transition);
    }

    /// [`SharedState::push_transition`] stamped with the daemon's clocks now
    /// (for `DaemonEvents::transition`).
    pub fn record_transition(&self, from: State, to: State) {
        let mut clock = SystemClock::new();
        let monotonic_ms = clock.now().as_millis();
        let (wall_unix, _) = clock.wall();
        self.push_transition(Transition {
            from: from.name().to_owned(),
            to: to.name().to_owned(),
            monotonic_ms,
            wall_unix,
        });
    }
}

impl Handler for SharedState {
    fn status(&self) -> Result<StatusReply, RemoteError> {
        let state = lock(&self.inner.state);
        let Some((status, at)) = &state.status else {
            return Err(RemoteError::new(
                ErrorCode::Busy,
                "the agent has not completed its first loop yet",
            ));
        };
        let mut status = status.clone();
        status.age_ms = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(status)
    }

    fn vm_request(&self, vm: VmRequest) -> Result<(), RemoteError> {
        let ticket = self.inner.requests.push(vm)?;
        self.inner.requests.wait(ticket, &boottime)
    }

    fn set_maintenance(&self, mode: MaintenanceMode) -> Result<(), RemoteError> {
        let _one_at_a_time = lock(&self.inner.maintenance_lock);
        (self.inner.maintenance)(mode).map_err(|e| RemoteError::new(ErrorCode::Failed, e))
    }

    fn check_liveliness(&self) -> Result<Liveliness, RemoteError> {
        (self.inner.liveliness)().map_err(|e| RemoteError::new(ErrorCode::Failed, e))
    }

    fn transitions(&self, limit: usize) -> Vec<Transition> {
        let state = lock(&self.inner.state);
        let skip = state.transitions.len().saturating_sub(limit);
        state.transitions.iter().skip(skip).cloned().collect()
    }
}

/// The agent's clock now (`CLOCK_BOOTTIME`), the one request deadlines are on.
fn boottime() -> Millis {
    SystemClock::new().now()
}

/// The `status` answer from the loop's state after a tick: `area` is the last
/// area read successfully (liveness ages on the core's clock even while reads
/// fail), `score` the last step's breakdown, `now` the core's monotonic time.
/// Longest error text of an unreadable slot in a status reply: a slot's
/// error can quote a whole field a writer filled.
const UNREADABLE_ERROR_MAX: usize = 256;

/// `text` cut to [`UNREADABLE_ERROR_MAX`] bytes (at a character boundary),
/// marked when cut.
pub(crate) fn bounded(mut text: String) -> String {
    if text.len() > UNREADABLE_ERROR_MAX {
        let mut cut = UNREADABLE_ERROR_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

pub fn status_snapshot(
    core: &Agent,
    area: Option<&Area>,
    score: &ScoreBreakdown,
    now: Millis,
    wall_unix: i64,
) -> StatusReply {
    let cfg = core.config();
    let timeout_ms = cfg.timings.host_alive_timeout_ms;
    let last_renewal = core.lease().last_renewal();
    let mut hosts = Vec::new();
    let mut unreadable = Vec::new();
    for (&id, slot) in area.map(|a| &a.hosts).into_iter().flatten() {
        match slot {
            Ok(slot) if id == cfg.host_id => {
                // Our own heartbeat is our publishes, not a change we observe.
                let silent = last_renewal.map(|t| now.since(t));
                let live = silent.is_some_and(|s| s <= timeout_ms);
                hosts.push(HostStatus::from_slot(id, slot, live, silent));
            }
            Ok(slot) => hosts.push(peer_status(core, id, slot, now)),
            Err(e) => unreadable.push(UnreadableSlot {
                host_id: id,
                error: bounded(e.to_string()),
            }),
        }
    }
    let global = area.map(Area::global_maintenance);
    let global_unreadable = match &global {
        Some(Err(e)) => Some(bounded(format!("slot 0: {e}"))),
        _ => None,
    };
    let global_maintenance = match global {
        Some(Ok(on)) => on,
        _ => core.state() == State::GlobalMaintenance,
    };
    let phase = match core.lease().phase() {
        Phase::Idle => LeasePhase::Idle,
        Phase::Claiming { .. } | Phase::Evicting { .. } | Phase::Succeeding { .. } => {
            LeasePhase::Claiming
        }
        Phase::Holding { .. } => LeasePhase::Holding,
        Phase::Fencing { .. } => LeasePhase::Fencing,
    };
    StatusReply {
        taken: Taken {
            monotonic_ms: now.as_millis(),
            wall_unix,
        },
        age_ms: 0,
        global_maintenance,
        agent: AgentStatus {
            host_id: cfg.host_id,
            hostname: cfg.hostname.clone(),
            state: core.state().name().to_owned(),
            score: score.into(),
            lease: LeasePhaseView {
                phase,
                epoch: core.lease().epoch(),
                last_renewal_ms: last_renewal.map(Millis::as_millis),
            },
            has_history: core.liveness().has_history(now, timeout_ms),
            adopted: core.adopted(),
            lease_timings_mismatch: timings_mismatch(core, area),
        },
        hosts,
        unreadable,
        more_from: None,
        storage_trouble: None,
        global_unreadable,
    }
}

/// Peer `id` as the core sees it at `now`. A peer that is not live, but
/// whose silence the core cannot prove to be `host_alive_timeout` long (it
/// has not watched that long: it started, or its reads came back after a
/// gap, since), is unknown yet rather than stale: status must not flap to
/// stale on every agent restart.
fn peer_status(core: &Agent, id: HostId, slot: &HostSlot, now: Millis) -> HostStatus {
    let timeout_ms = core.config().timings.host_alive_timeout_ms;
    let live = core.liveness().is_alive(now, id, timeout_ms);
    let silent = core.liveness().silent_for(now, id);
    let mut host = HostStatus::from_slot(id, slot, live, silent);
    host.unknown_yet = !live && silent.is_some_and(|s| s < timeout_ms);
    // The core remembers the last implausible value of each host until the
    // host is forgotten: shown only while the slot still carries it.
    host.implausible_epoch = core
        .implausible_epochs()
        .get(&id)
        .copied()
        .filter(|value| carries(slot, *value));
    host
}

/// Whether `slot` carries `value` as a lease epoch, an epoch seen, or a
/// write sequence (the values the core checks for plausibility).
fn carries(slot: &HostSlot, value: u64) -> bool {
    [LEASE_EPOCH_KEY, EPOCH_SEEN_KEY, SEQ_KEY]
        .iter()
        .any(|key| slot.extra.get(key).and_then(|v| v.parse().ok()) == Some(value))
}

/// The live peer on other lease timings that blocks this agent's claims,
/// with both published values.
fn timings_mismatch(core: &Agent, area: Option<&Area>) -> Option<TimingsMismatch> {
    let host_id = core.lease_timings_mismatch()?;
    let published = |id: HostId| {
        let slot = area?.hosts.get(&id)?.as_ref().ok()?;
        slot.extra.get(LEASE_TIMINGS_KEY).map(str::to_owned)
    };
    Some(TimingsMismatch {
        host_id,
        theirs: published(host_id).unwrap_or_else(|| "unknown".to_owned()),
        ours: published(core.config().host_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::server::REQUEST_QUEUE_MAX;

    fn state() -> SharedState {
        SharedState::new(
            Box::new(|_| Ok(())),
            Box::new(|| {
                Ok(Liveliness {
                    up: true,
                    message: "DB Up!Welcome to Health Status!".into(),
                })
            }),
        )
    }

    #[test]
    fn transitions_keep_the_last_hundred_oldest_first() {
        let s = state();
        for i in 0..(proto::TRANSITIONS_MAX as u64 + 5) {
            s.push_transition(Transition {
                from: "EngineDown".into(),
                to: "EngineStart".into(),
                monotonic_ms: i,
                wall_unix: 0,
            });
        }
        let all = s.transitions(proto::TRANSITIONS_MAX);
        assert_eq!(all.len(), proto::TRANSITIONS_MAX);
        assert_eq!(all[0].monotonic_ms, 5);
        let last = s.transitions(2);
        assert_eq!(
            last.iter().map(|t| t.monotonic_ms).collect::<Vec<_>>(),
            [103, 104]
        );
        s.record_transition(State::EngineUp, State::EngineStop);
        let newest = s.transitions(1).pop().unwrap();
        assert_eq!(
            (newest.from.as_str(), newest.to.as_str()),
            ("EngineUp", "EngineStop")
        );
        assert!(newest.wall_unix > 1_600_000_000);
    }

    fn poweroff_within(ms: u64) -> VmRequest {
        VmRequest {
            request: crate::core::Request::PowerOffVm,
            kind: "vm-poweroff",
            deadline: boottime() + ms,
        }
    }

    /// `s`'s VM request `vm` on a server thread of its own.
    fn waiting(s: &SharedState, vm: VmRequest) -> std::thread::JoinHandle<Result<(), RemoteError>> {
        let s = s.clone();
        std::thread::spawn(move || s.vm_request(vm))
    }

    fn until_queued(s: &SharedState) {
        let give_up = Instant::now() + std::time::Duration::from_secs(10);
        while !s.has_requests() {
            assert!(Instant::now() < give_up, "the request was never queued");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_request_taken_before_its_deadline_is_answered_accepted() {
        let s = state();
        let caller = waiting(&s, poweroff_within(30_000));
        until_queued(&s);
        assert_eq!(s.take_requests(), [crate::core::Request::PowerOffVm]);
        assert_eq!(caller.join().unwrap(), Ok(()));
        assert!(!s.has_requests());
        assert!(s.take_requests().is_empty());
    }

    #[test]
    fn a_request_whose_deadline_passed_is_dropped_at_take_time() {
        // As after SIGCONT: the request sat in the queue past its deadline
        // while its server thread, stopped too, never withdrew it.
        let s = state();
        let ticket = s.inner.requests.push(poweroff_within(50)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(s.has_requests());
        assert!(s.take_requests().is_empty());
        assert!(!s.has_requests());
        let e = s.inner.requests.wait(ticket, &boottime).unwrap_err();
        assert_eq!(e.code, ErrorCode::Expired);
        assert!(e.message.contains("dropped it"), "{}", e.message);
    }

    #[test]
    fn a_request_not_taken_by_its_deadline_is_removed_and_reported() {
        let s = state();
        let started = Instant::now();
        let e = s.vm_request(poweroff_within(300)).unwrap_err();
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        assert_eq!(e.code, ErrorCode::Expired);
        assert!(e.message.contains("withdrawn"), "{}", e.message);
        assert!(!s.has_requests());
        assert!(s.take_requests().is_empty());
    }

    #[test]
    fn no_request_is_both_taken_and_reported_expired() {
        // The loop takes while deadlines pass: each request must end exactly
        // one way, as its caller is told.
        let s = state();
        let mut taken_total = 0;
        for round in 0..60u64 {
            let callers: Vec<_> = (0..4)
                .map(|i| waiting(&s, poweroff_within((round + i) % 6)))
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(round % 4));
            let taken = s.take_requests().len();
            // A caller queued after the take withdraws at its deadline.
            let accepted = callers
                .into_iter()
                .map(|c| c.join().unwrap())
                .filter(Result::is_ok)
                .count();
            assert_eq!(taken, accepted, "round {round}");
            taken_total += taken;
        }
        assert!(!s.has_requests());
        assert!(taken_total > 0, "no request was ever taken");
    }

    #[test]
    fn the_request_queue_is_bounded() {
        let s = state();
        let tickets: Vec<_> = (0..REQUEST_QUEUE_MAX)
            .map(|_| s.inner.requests.push(poweroff_within(30_000)).unwrap())
            .collect();
        let e = s.vm_request(poweroff_within(30_000)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Busy);
        assert_eq!(s.take_requests().len(), REQUEST_QUEUE_MAX);
        drop(tickets);
        let caller = waiting(&s, poweroff_within(30_000));
        until_queued(&s);
        assert_eq!(s.take_requests().len(), 1);
        assert_eq!(caller.join().unwrap(), Ok(()));
    }

    #[test]
    fn no_status_before_the_first_loop() {
        assert_eq!(state().status().unwrap_err().code, ErrorCode::Busy);
    }

    /// Host `id`'s slot publishing `host_ts` and the extra `lines`, through
    /// the codec.
    fn slot(id: HostId, host_ts: u64, lines: &[(&str, &str)]) -> HostSlot {
        let record = crate::metadata::HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts,
            host_id: id,
            score: 3400,
            engine_status: r#"{"vm": "down", "health": "bad", "detail": "unknown"}"#.into(),
            hostname: format!("host{id}"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 0,
        };
        let mut extra = crate::metadata::Extra::new();
        for (key, value) in lines {
            extra.push(*key, *value);
        }
        let bytes = crate::metadata::encode_host_slot(id, &record, &extra).unwrap();
        crate::metadata::decode_host_slot(id, &bytes[..])
            .unwrap()
            .unwrap()
    }

    /// A loop of `core` at `now` over `hosts`.
    fn step(core: &mut Agent, now: Millis, hosts: Vec<HostSlot>) -> (Area, ScoreBreakdown) {
        let area = Area {
            global: Ok(crate::metadata::GlobalBlock::new()),
            hosts: hosts
                .into_iter()
                .map(|s| (s.record.host_id, Ok(s)))
                .collect(),
        };
        let decision = core.step(&crate::core::Observation {
            now,
            wall_unix: 1_700_000_000,
            utc_offset_secs: 0,
            area: Some(&area),
            local_vm: crate::core::LocalVm::NotPresent,
            sensors: crate::core::Sensors::default(),
            local_maintenance: false,
            requests: Vec::new(),
            results: Vec::new(),
            fence: None,
        });
        // A status fixture: no VM here, nothing for the actions to do.
        let _ = core.after_publish(now, now + 10, true);
        (area, decision.score)
    }

    #[test]
    fn peers_are_unknown_yet_until_watched_and_refused_epochs_are_shown() {
        let timings = crate::config::Timings::default();
        let timeout = timings.host_alive_timeout_ms;
        let cfg = crate::core::CoreConfig::new(1, "host1", timings);
        let mut core = Agent::new(cfg, Millis::ZERO);
        let implausible = (crate::metadata::EPOCH_PLAUSIBLE_MAX + 1).to_string();
        let forged = [("lease", "held"), ("lease-epoch", implausible.as_str())];
        let mut now = Millis::ZERO;
        let mut ts = 0;
        while now.as_millis() <= 2 * timeout {
            // Host 2 beats; host 3 is frozen with a forged epoch.
            let (area, score) = step(&mut core, now, vec![slot(2, ts, &[]), slot(3, 7, &forged)]);
            let status = status_snapshot(&core, Some(&area), &score, now, 0);
            let host = |id| status.hosts.iter().find(|h| h.host_id == id).unwrap();
            let watched = now.as_millis() >= timeout;
            assert_eq!(status.agent.has_history, watched, "at {now:?}");
            // Before a full timeout of watching: neither live nor stale.
            assert_eq!(host(2).live_data, watched, "at {now:?}");
            assert_eq!(host(2).unknown_yet, !watched, "at {now:?}");
            // Host 3 never changed: unknown until its silence is a timeout
            // long, stale after.
            assert!(!host(3).live_data);
            assert_eq!(host(3).unknown_yet, !watched, "at {now:?}");
            assert_eq!(
                host(3).implausible_epoch,
                Some(crate::metadata::EPOCH_PLAUSIBLE_MAX + 1)
            );
            assert_eq!(host(2).implausible_epoch, None);
            assert_eq!(status.agent.lease_timings_mismatch, None);
            now = now + 2_000;
            ts += 2;
        }
        // Once host 3 publishes a sound epoch, the refusal is no longer shown.
        let (area, score) = step(&mut core, now, vec![slot(2, ts, &[]), slot(3, 8, &[])]);
        let status = status_snapshot(&core, Some(&area), &score, now, 0);
        assert_eq!(status.hosts[1].implausible_epoch, None);
        // The wire form carries the new fields only when they say something.
        let json = serde_json::to_string(&status).unwrap();
        assert!(!json.contains("unknown-yet"), "{json}");
        assert!(!json.contains("implausible-epoch"), "{json}");
        assert!(!json.contains("lease-timings-mismatch"), "{json}");
    }

    #[test]
    fn a_live_peer_on_other_lease_timings_is_shown_with_both_values() {
        let timings = crate::config::Timings::default();
        let cfg = crate::core::CoreConfig::new(1, "host1", timings);
        let mut core = Agent::new(cfg, Millis::ZERO);
        let ours = [("lease-timings", "22000/40000/8000/7000")];
        let theirs = [("lease-timings", "3000/7000/2000/2000")];
        let mut now = Millis::ZERO;
        for loop_no in 0..30u64 {
            let hosts = vec![slot(1, loop_no, &ours), slot(2, loop_no, &theirs)];
            let (area, score) = step(&mut core, now, hosts);
            let status = status_snapshot(&core, Some(&area), &score, now, 0);
            if let Some(mismatch) = status.agent.lease_timings_mismatch {
                assert_eq!(
                    mismatch,
                    TimingsMismatch {
                        host_id: 2,
                        theirs: "3000/7000/2000/2000".into(),
                        ours: Some("22000/40000/8000/7000".into()),
                    }
                );
                assert!(status.hosts[1].live_data);
                return;
            }
            now = now + 2_000;
        }
        panic!("the core never reported the mismatch");
    }
}
