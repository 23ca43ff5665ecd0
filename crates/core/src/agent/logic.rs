//! Each state's own logic (`docs/compat.md` section 5) with the deliberate
//! improvements (`docs/architecture.md`), and the lease bookkeeping around it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Agent, AlivePeer, Facts, Observation, PeerGateway, VmAction};
use crate::classify::VmManagerStatus;
use crate::lease::{Blocker, ClaimOutcome, Phase};
use crate::metadata::{Health, HostId, VmStatus};
use crate::state::State;

/// The score lead that makes a running engine move to a better host (section 5).
const SCORE_LEAD_TO_MIGRATE: u32 = 800;
/// Publishes of a leading peer, read after its lead was first seen and each
/// still showing it, that confirm the lead (see [`Agent::confirmed_lead`]).
const LEAD_CONFIRM_PUBLISHES: u64 = 2;

/// A peer whose score leads ours by enough to move the engine there, as
/// confirmed by [`Agent::confirmed_lead`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lead {
    host: HostId,
    /// Its score, as its last publish read showed it.
    score: u32,
}

/// What a state's logic (or a guard before it) decided in one step.
#[must_use = "a verdict not acted on loses the transition its state decided"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The next state: the current one to stay.
    pub(super) to: State,
    /// Why, for the log line `<from> -> <to>: <reason>` (empty to stay, which
    /// logs nothing).
    pub(super) reason: String,
    /// NOWAIT (the reference's name): run the next state's logic at once, in
    /// this step, rather than a loop later.
    pub(super) nowait: bool,
}

impl Verdict {
    /// Go to `to`, and run its logic in this step too (NOWAIT).
    pub(super) fn nowait(to: State, reason: impl Into<String>) -> Verdict {
        Verdict {
            to,
            reason: reason.into(),
            nowait: true,
        }
    }

    /// Go to `to`; its logic runs from the next loop on.
    pub(super) fn wait(to: State, reason: impl Into<String>) -> Verdict {
        Verdict {
            to,
            reason: reason.into(),
            nowait: false,
        }
    }
}

impl Agent {
    pub(super) fn stay(&self) -> Verdict {
        Verdict::wait(self.state, String::new())
    }

    pub(super) fn logic(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        match self.state {
            State::StartState => Verdict::nowait(State::ReinitializeFSM, "agent started"),
            State::ReinitializeFSM if facts.vm_here => {
                Verdict::nowait(State::EngineStarting, "engine VM runs on this host")
            }
            State::ReinitializeFSM => {
                Verdict::nowait(State::EngineDown, "engine VM not on this host")
            }
            State::EngineDown => self.engine_down(obs, facts),
            State::EngineStart => self.engine_start(obs, facts),
            State::EngineStarting => self.engine_starting(obs, facts),
            State::EngineUp | State::EngineUpBadHealth => self.engine_up(obs, facts),
            State::EngineMaybeAway => self.engine_maybe_away(facts),
            State::EngineUnexpectedlyDown if facts.status.vm == VmStatus::Up => {
                Verdict::wait(State::EngineUp, "engine VM up again here")
            }
            State::EngineUnexpectedlyDown => self.stay(),
            State::EngineStop => self.engine_stop(facts),
            State::EngineForceStop => self.engine_force_stop(facts),
            State::GlobalMaintenance => self.global_maintenance(facts),
            State::LocalMaintenance if !facts.local_maintenance => {
                Verdict::nowait(State::ReinitializeFSM, "local maintenance cleared")
            }
            State::UnknownLocalVmState if !facts.vm_unknown => {
                Verdict::nowait(State::ReinitializeFSM, "local VM state known again")
            }
            State::LocalMaintenance | State::UnknownLocalVmState | State::AgentStopped => {
                self.stay()
            }
        }
    }

    fn engine_down(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        let me = self.cfg.host_id;
        if facts.vm_here && facts.status.vm == VmStatus::Up {
            return Verdict::nowait(State::EngineStarting, "engine VM runs on this host");
        }
        // A silent holder we may fence is waited for no longer than
        // fence-after, even while its last publish still says its engine is
        // up; a holder that hands the lease over is not waited for either.
        let fence = self.fence_candidate(obs);
        let takeover = self.takeover_candidate();
        let leaving = fence.or(takeover).map(|target| target.host);
        if let Some((host, rank)) = facts.best
            && host != me
            && rank >= 2
            && leaving != Some(host)
        {
            return self.stay();
        }
        if !facts.fresh {
            return self.stay();
        }
        if self.start.manual.is_some() {
            return Verdict::nowait(State::EngineStart, "manual start");
        }
        if !facts.history {
            return self.stay();
        }
        let mine = self.score_in(obs, State::EngineDown).score;
        if mine == 0 {
            return self.stay();
        }
        // A lease another host holds or claims would only turn us back: wait
        // here, unless it is a silent holder we may fence or one that hands
        // the lease over.
        if let Err(Blocker::Taken { .. } | Blocker::Unreadable { .. }) =
            self.lease.may_claim(self.now, &self.liveness)
            && leaving.is_none()
        {
            return self.stay();
        }
        match better_candidate(me, mine, facts, leaving) {
            Some(_) => self.stay(),
            None => Verdict::nowait(
                State::EngineStart,
                format!("no better host to start the engine VM (score {mine})"),
            ),
        }
    }

    fn engine_start(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        if facts.vm_here {
            return Verdict::wait(State::EngineStarting, "engine VM already runs on this host");
        }
        if !facts.fresh && !matches!(self.lease.phase(), Phase::Holding { .. }) {
            return self.stay();
        }
        if !facts.history && self.lease.phase() == Phase::Idle {
            // A claim needs a full timeout of watching the others (a manual
            // start too): a holder we have not seen yet may be there.
            return self.stay();
        }
        match self.lease.phase() {
            Phase::Holding { epoch } => self.start_vm(epoch, "lease held"),
            Phase::Fencing { .. } | Phase::Evicting { .. } => self.stay(),
            Phase::Succeeding { from, .. } if facts.fresh => self.succeed(from),
            Phase::Succeeding { .. } => self.stay(),
            Phase::Idle => {
                if let Some(host) = self.timing_mismatch(facts) {
                    return self.give_up_start(format!(
                        "host {host} runs on other lease timings: not claiming"
                    ));
                }
                match self.lease.may_claim(self.now, &self.liveness) {
                    Ok(()) => {
                        for (host, state, silent) in
                            self.lease.expired_leases(self.now, &self.liveness)
                        {
                            self.say(format!(
                                "host {host}'s engine VM lease (epoch {}) expired after {} s of \
                                 silence",
                                state.epoch,
                                silent / 1000
                            ));
                        }
                        let claim = self.lease.claim(self.now);
                        self.say(format!(
                            "claiming the engine VM lease (epoch {})",
                            claim.epoch
                        ));
                        self.stay()
                    }
                    Err(Blocker::Taken { .. }) if let Some(target) = self.fence_candidate(obs) => {
                        self.claim_to_fence(target);
                        self.stay()
                    }
                    Err(Blocker::Taken { .. }) if let Some(from) = self.takeover_candidate() => {
                        self.claim_to_take_over(from);
                        self.stay()
                    }
                    Err(Blocker::Taken { host, state }) => self.give_up_start(format!(
                        "engine VM lease {} by host {host} (epoch {})",
                        if state.kind.holds() {
                            "held"
                        } else {
                            "claimed"
                        },
                        state.epoch
                    )),
                    Err(blocker @ Blocker::Unreadable { .. }) => {
                        self.give_up_start(format!("engine VM lease: {}", blocker.describe()))
                    }
                    Err(Blocker::NotIdle) => unreachable!("phase is Idle"),
                }
            }
            Phase::Claiming { fence, .. } => match self.lease.settle(self.now, &self.liveness) {
                ClaimOutcome::Pending => self.stay(),
                ClaimOutcome::Won { epoch } => self.start_vm(epoch, "lease won"),
                ClaimOutcome::Fence { epoch, target } => {
                    self.order_fence(epoch, target);
                    self.stay()
                }
                ClaimOutcome::TakeOver { epoch, from } => {
                    self.note_takeover_won(epoch, from);
                    self.stay()
                }
                ClaimOutcome::Lost { reason } => {
                    if let Some(target) = fence {
                        self.fence_lost.insert(target.host, target.epoch);
                    }
                    self.give_up_start(format!("lost the engine VM lease: {reason}"))
                }
            },
        }
    }

    pub(super) fn start_vm(&mut self, epoch: u64, why: &str) -> Verdict {
        let paused = self.start.paused();
        self.pending.push(VmAction::Start { paused, epoch });
        Verdict::wait(
            State::EngineStarting,
            format!("{why} (epoch {epoch}), starting the engine VM"),
        )
    }

    pub(super) fn give_up_start(&mut self, why: String) -> Verdict {
        if self.start.end().manual.is_some() {
            self.say("manual start abandoned".into());
        }
        Verdict::wait(State::EngineDown, why)
    }

    fn engine_starting(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        if facts.vm_here {
            if facts.status.vm == VmStatus::Up && facts.status.health == Health::Good {
                self.start.end();
                return Verdict::wait(State::EngineUp, "engine healthy");
            }
            return self.stay();
        }
        if obs.local_vm.confirmed_down() {
            self.record_failed_start();
            if self.start.end().local_restart {
                return Verdict::wait(
                    State::EngineUnexpectedlyDown,
                    "local restart failed, handing the engine over",
                );
            }
            return Verdict::nowait(State::EngineForceStop, "engine VM went down while starting");
        }
        Verdict::wait(State::EngineMaybeAway, "engine VM not seen on this host")
    }

    fn engine_up(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        let me = self.cfg.host_id;
        match facts.status.vm {
            VmStatus::DownUnexpected => return self.crashed(),
            VmStatus::Down | VmStatus::DownMissing | VmStatus::Unknown => {
                return Verdict::wait(State::EngineMaybeAway, "engine VM not running on this host");
            }
            VmStatus::Up => {}
        }
        let my_rank = facts.status.rank();
        if let Some((host, rank)) = facts.best
            && host != me
            && rank > my_rank
        {
            return Verdict::nowait(
                State::EngineStop,
                format!("a better engine runs on host {host}"),
            );
        }
        let mine = self.score_in(obs, self.state).score;
        if let Some(Lead { host, score }) = self.confirmed_lead(obs, facts, mine) {
            return Verdict::nowait(
                State::EngineStop,
                format!("host {host} scores {score} against our {mine}, moving the engine"),
            );
        }
        if facts.status.health == Health::Good {
            if self.state == State::EngineUpBadHealth {
                return Verdict::wait(State::EngineUp, "engine healthy again");
            }
            return self.stay();
        }
        self.bad_health(obs, facts)
    }

    /// The peer that leads our score `mine` by [`SCORE_LEAD_TO_MIGRATE`] on
    /// [`LEAD_CONFIRM_PUBLISHES`] publishes read after the lead was first seen,
    /// each showing it; the first such peer by host id.
    ///
    /// The reference moves the engine on a lead seen once (section 5). Our own
    /// score is measured now, a peer's is as old as its last publish: when a
    /// fault hits every host at once (case 8) our score falls at once while the
    /// peers' slots still carry their scores from before it, for as long as
    /// they take to publish again (a loaded host, a slow write, a stalled
    /// agent). Counting our own loops cannot tell that apart from a real lead;
    /// only publishes made after the lead appeared can. A lead that lapses on
    /// any publish read starts the count again.
    fn confirmed_lead(&mut self, obs: &Observation<'_>, facts: &Facts, mine: u32) -> Option<Lead> {
        let lead = mine.saturating_add(SCORE_LEAD_TO_MIGRATE);
        let our_gateway_fails = obs.sensors.gateway_probes_ok == Some(0);
        let leading: Vec<(HostId, &AlivePeer)> = facts
            .alive
            .iter()
            .filter(|(_, p)| !p.local_maintenance && !p.stopped && p.score >= lead)
            .filter(|(_, p)| !our_gateway_fails || reaches_its_gateway(p))
            .map(|(host, p)| (*host, p))
            .collect();
        self.leads
            .retain(|host, _| leading.iter().any(|(id, _)| id == host));
        assert!(self.leads.len() <= facts.alive.len(), "one lead per peer");
        let mut confirmed = None;
        for (host, peer) in leading {
            let first = *self.leads.entry(host).or_insert(peer.publishes);
            assert!(peer.publishes >= first, "publish counts only grow");
            if confirmed.is_none() && peer.publishes - first >= LEAD_CONFIRM_PUBLISHES {
                confirmed = Some(Lead {
                    host,
                    score: peer.score,
                });
            }
        }
        if confirmed.is_some() {
            self.leads.clear();
        }
        confirmed
    }

    /// Bad health while the VM runs: recovery command first (improvement 2), no
    /// stop during a cluster-wide network outage (improvement 4), else stop after
    /// `bad_health_timeout`.
    fn bad_health(&mut self, obs: &Observation<'_>, facts: &Facts) -> Verdict {
        let reason = facts.status.reason.clone().unwrap_or_default();
        if self.state == State::EngineUp {
            self.bad_health.since = Some(self.now);
            self.run_recovery_once();
            return Verdict::wait(
                State::EngineUpBadHealth,
                format!("engine health bad: {reason}"),
            );
        }
        if cluster_network_outage(obs, facts) {
            if self.bad_health.since.is_some() {
                self.say(
                    "every live host's gateway test fails: not stopping the engine for bad health"
                        .into(),
                );
            }
            self.bad_health.since = None;
            return self.stay();
        }
        let since = *self.bad_health.since.get_or_insert(self.now);
        self.run_recovery_once();
        let timeout = self.cfg.timings.bad_health_timeout_ms;
        if self.now.since(since) >= timeout {
            // Counted like a failed start so that a healthier host is preferred
            // for the restart (test plan cases 1 and 2: "on another host").
            self.record_failed_start();
            return Verdict::nowait(
                State::EngineStop,
                format!("engine unhealthy for {} s ({reason})", timeout / 1000),
            );
        }
        self.stay()
    }

    fn run_recovery_once(&mut self) {
        if self.cfg.recovery_configured && !self.bad_health.recovery_ran {
            self.bad_health.recovery_ran = true;
            self.say("running the engine recovery command".into());
            self.pending.push(VmAction::RunRecovery);
        }
    }

    /// The engine VM died here: restart it here first while the lease is still
    /// ours and attempts remain (improvement 1, test plan case 3).
    fn crashed(&mut self) -> Verdict {
        let window = self.cfg.timings.retry_window_ms;
        let now = self.now;
        self.local_restarts.retain(|t| now.since(*t) <= window);
        let attempts = self.local_restarts.len() as u32;
        let max = self.cfg.timings.local_restart_attempts_max;
        let holding = matches!(self.lease.phase(), Phase::Holding { .. });
        if holding && attempts < max {
            self.local_restarts.push(now);
            self.start.local_restart = true;
            return Verdict::nowait(
                State::EngineStart,
                format!(
                    "engine VM crashed, restarting it on this host (attempt {} of {max})",
                    attempts + 1
                ),
            );
        }
        Verdict::wait(State::EngineUnexpectedlyDown, "engine VM crashed")
    }

    fn engine_maybe_away(&mut self, facts: &Facts) -> Verdict {
        let me = self.cfg.host_id;
        match facts.status.vm {
            VmStatus::Up => Verdict::wait(State::EngineUp, "engine VM runs here again"),
            VmStatus::DownUnexpected => self.crashed(),
            VmStatus::Down => Verdict::wait(State::EngineDown, "engine VM down on this host"),
            _ => match facts.best {
                Some((host, rank)) if host != me && rank >= 2 => {
                    Verdict::wait(State::EngineDown, format!("engine VM up on host {host}"))
                }
                _ => self.stay(),
            },
        }
    }

    /// Entered with NOWAIT from EngineUp/EngineUpBadHealth, so the shutdown
    /// goes out in the loop that decided it (the reference waits a loop first:
    /// 10 s of a failover spent doing nothing).
    fn engine_stop(&mut self, facts: &Facts) -> Verdict {
        if !facts.vm_here {
            return Verdict::wait(State::EngineDown, "engine VM stopped");
        }
        if facts.status.detail == VmManagerStatus::Paused.as_str() {
            return Verdict::nowait(State::EngineForceStop, "engine VM paused");
        }
        if !self.stop_sent {
            self.stop_sent = true;
            self.say("shutting the engine VM down".into());
            // An operator's shutdown request of this very step is the same one.
            if !self.pending.contains(&VmAction::Shutdown) {
                self.pending.push(VmAction::Shutdown);
            }
        }
        self.stay()
    }

    fn engine_force_stop(&mut self, facts: &Facts) -> Verdict {
        if !facts.vm_here {
            return Verdict::wait(State::EngineDown, "engine VM is down");
        }
        if !self.stop_sent {
            self.stop_sent = true;
            self.say("powering the engine VM off".into());
            self.pending.push(VmAction::PowerOff);
        }
        self.stay()
    }

    fn global_maintenance(&mut self, facts: &Facts) -> Verdict {
        if !facts.global_maintenance {
            return Verdict::nowait(State::ReinitializeFSM, "global maintenance cleared");
        }
        if self.start.manual.is_some() && !facts.vm_here && !facts.local_maintenance {
            return Verdict::nowait(State::EngineStart, "manual start in global maintenance");
        }
        self.stay()
    }

    /// Keeps the lease in step with the state and the VM after the state logic.
    pub(super) fn reconcile_lease(&mut self, facts: &Facts) {
        let stopping = matches!(self.state, State::EngineStop | State::EngineForceStop);
        if let Some((host, state)) = self.lease.superseded_by() {
            // Another host judged our lease expired and took a newer epoch (we
            // were silent too long, e.g. partitioned or restarted): step down,
            // holding on as `fencing` until our VM is confirmed down.
            let epoch = self.lease.epoch();
            if facts.vm_here || facts.vm_unknown {
                self.lease.fence();
                self.fencing = true;
                self.force_stop(format!(
                    "lease epoch {epoch} superseded by host {host} (epoch {})",
                    state.epoch
                ));
            } else {
                self.lease.release();
                self.say(format!(
                    "lease epoch {epoch} superseded by host {host} (epoch {}), released",
                    state.epoch
                ));
            }
            return;
        }
        match self.lease.phase() {
            Phase::Holding { epoch } => {
                if !self.state.wants_vm() && !facts.vm_here && !facts.vm_unknown {
                    self.lease.release();
                    self.say(format!("engine VM lease released (epoch {epoch})"));
                }
            }
            Phase::Claiming { .. } | Phase::Succeeding { .. }
                if self.state == State::EngineStart => {}
            Phase::Claiming { .. } if facts.vm_here && !stopping => {
                if facts.fresh {
                    self.settle_adoption();
                }
            }
            Phase::Claiming { epoch, .. } | Phase::Succeeding { epoch, .. } => {
                self.lease.release();
                self.say(format!("engine VM lease claim withdrawn (epoch {epoch})"));
            }
            Phase::Idle
                if facts.vm_here
                    && facts.fresh
                    && !stopping
                    && self.state != State::EngineStart =>
            {
                self.adopt_or_fence();
            }
            // A fence under way ends by its report (or the core's wait for
            // it): the target may be powered off whatever we do now.
            Phase::Idle | Phase::Fencing { .. } | Phase::Evicting { .. } => {}
        }
    }

    /// The first live peer that publishes lease timings other than ours: the
    /// settle rule is sound only among hosts that agree on the claim window
    /// and the settle time, so no claim is made against such a host (logged
    /// once, shown in status).
    pub(super) fn timing_mismatch(&mut self, facts: &Facts) -> Option<HostId> {
        let ours = &self.timings_text;
        let mismatch = facts
            .alive
            .iter()
            .find(|(_, p)| p.other_timings)
            .map(|(host, _)| {
                let theirs = self.peers.get(host).and_then(|p| p.lease_timings.clone());
                (*host, theirs.unwrap_or_default())
            });
        let host = mismatch.as_ref().map(|(host, _)| *host);
        if host != self.mismatch {
            self.mismatch = host;
            if let Some((host, theirs)) = mismatch {
                self.say(format!(
                    "host {host} runs on other lease timings ({theirs} against our {ours}, \
                     fail/dead/settle/claim window in ms): no claims until they agree"
                ));
            }
        }
        host
    }

    /// The peer found running on other lease timings, if any (for status).
    pub fn lease_timings_mismatch(&self) -> Option<HostId> {
        self.mismatch
    }

    /// The VM runs here but we do not hold the lease (it was started outside the
    /// agent): take the lease if it is free, else power the VM off.
    fn adopt_or_fence(&mut self) {
        match self.lease.may_claim(self.now, &self.liveness) {
            Ok(()) => {
                let claim = self.lease.claim(self.now);
                self.say(format!(
                    "engine VM runs here without the lease: claiming it (epoch {})",
                    claim.epoch
                ));
            }
            Err(Blocker::Taken { host, .. }) => self.force_stop(format!(
                "engine VM runs here while host {host} holds the lease"
            )),
            // What that host says counts only from its next publish (we read
            // it for the first time, or after a gap in our reads, and this
            // may be a late write): wait for it rather than power off what
            // may be the only engine.
            Err(Blocker::Unreadable { host }) if self.rewatching.contains_key(&host) => {}
            Err(blocker @ Blocker::Unreadable { .. }) => {
                self.force_stop(format!("engine VM runs here while {}", blocker.describe()))
            }
            Err(Blocker::NotIdle) => unreachable!("phase is Idle"),
        }
    }

    fn settle_adoption(&mut self) {
        match self.lease.settle(self.now, &self.liveness) {
            // A claim for a running VM is never made to fence or take over.
            ClaimOutcome::Pending | ClaimOutcome::Fence { .. } | ClaimOutcome::TakeOver { .. } => {}
            ClaimOutcome::Won { epoch } => {
                self.say(format!(
                    "engine VM lease taken for the running VM (epoch {epoch})"
                ));
            }
            ClaimOutcome::Lost { reason } => {
                self.force_stop(format!("lost the lease for the running VM: {reason}"))
            }
        }
    }

    pub(super) fn force_stop(&mut self, why: String) {
        self.say(format!(
            "{} -> {}: {why}",
            self.state,
            State::EngineForceStop
        ));
        self.enter(State::EngineForceStop);
        self.stop_sent = true;
        if !self.pending.contains(&VmAction::PowerOff) {
            self.pending.push(VmAction::PowerOff);
        }
    }
}

/// The alive host that should start the engine before us, if any: a higher
/// score, or the same score and a lower host id (improvement 5: a deterministic
/// order instead of the reference's start race on equal scores).
///
/// Peers' scores here are as old as their last publish, like in
/// [`Agent::confirmed_lead`], but no running engine is at stake: a stale
/// higher score only holds our start back until that host publishes again (or
/// stops being alive), and a stale lower one at worst starts the engine on a
/// host the other would have beaten, which the lease keeps exclusive and which
/// moves later only on a lead confirmed by fresh publishes. So no freshness
/// rule here: it would only delay starts while the engine is down.
///
/// `silent` is a holder we may fence or one that hands the lease over: it
/// may still count as alive, but it will not start anything.
fn better_candidate(
    me: HostId,
    mine: u32,
    facts: &Facts,
    silent: Option<HostId>,
) -> Option<HostId> {
    facts
        .alive
        .iter()
        .filter(|(id, _)| Some(*id) != silent)
        .filter(|(_, p)| !p.local_maintenance && !p.stopped && p.score > 0)
        .find(|(id, p)| p.score > mine || (p.score == mine && *id < me))
        .map(|(id, _)| *id)
}

/// Every live host's gateway test fails, ours included (improvement 4).
fn cluster_network_outage(obs: &Observation<'_>, facts: &Facts) -> bool {
    obs.sensors.gateway_probes_ok == Some(0)
        && facts
            .alive
            .iter()
            .all(|(_, p)| p.gateway == PeerGateway::Down)
}

/// Whether a peer may take the engine from us while every probe of our own
/// gateway fails: only if its slot shows its gateway test passing. A host
/// whose gateway fails too (a cluster-wide outage, case 8), or whose gateway
/// monitor has no result yet (its score then carries no network penalty, e.g.
/// an agent just back from a stall), is no better place for the engine. A
/// peer that does not publish the key (the reference's agent) is taken at its
/// score, as the reference does.
fn reaches_its_gateway(peer: &AlivePeer) -> bool {
    matches!(peer.gateway, PeerGateway::Up | PeerGateway::NotPublished)
}
