//! Power fencing in the agent: when to claim the lease to fence a silent
//! holder, the fence order and its report, and what the slot says about it.
//! The protocol and why it is safe: `crate::lease`, "Power fencing".

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Agent, Observation};
use crate::fence::{
    FENCE_TARGET_KEY, FENCE_TRIED_KEY, FENCED_KEY, FenceConf, FenceOrder, FenceOutcome, FenceProof,
    FenceTarget,
};
use crate::lease::Phase;
use crate::metadata::{Area, Extra, HostId};
use crate::violation::format_secs;

/// Most fenced epochs one slot publishes as tried (one per host at most).
const FENCE_TRIED_PUBLISHED_MAX: usize = 16;
/// The loop's pace while a fence runs: its report is taken in this soon
/// after it ends, not a whole loop later.
pub const FENCE_POLL_MS: u64 = 500;

impl Agent {
    /// The silent holder to claim the lease from by fencing it, if fencing
    /// is on and nothing speaks against it (`Lease::fence_target`). An
    /// engine that still answers its health page does not hold a first
    /// claim back: a crashed host's address answers no check only after
    /// `liveliness_timeout`, and a holder silent on the storage with its
    /// engine up self-fences soon anyway. It is the off that an answering
    /// engine must not contradict ([`Agent::take_fence_report`]). But a
    /// holder that kept its lease against a claim made to fence it is slow,
    /// not dead: it is claimed again only while no engine answers, so that
    /// slow storage does not make a claim every few loops.
    pub(super) fn fence_candidate(&self, obs: &Observation<'_>) -> Option<FenceTarget> {
        let fencing = self.cfg.fencing.as_ref()?;
        let target = self
            .lease
            .fence_target(self.now, &self.liveness, &fencing.devices)?;
        let slow = self.fence_lost.get(&target.host) == Some(&target.epoch);
        (!slow || obs.sensors.liveliness_ok != Some(true)).then_some(target)
    }

    /// How long an off reported while an engine answered its health page
    /// waits for it to stop answering before the off is not believed. The
    /// liveliness monitor measures every loop: a check answered just before
    /// the power went off, the next one at most a loop later running into
    /// `liveliness_timeout` against the dead address, and a loop to spare
    /// (the report itself comes after the off and a `status`).
    pub(super) fn off_confirm_ms(&self) -> u64 {
        let t = &self.cfg.timings;
        t.liveliness_timeout_ms + 2 * t.loop_ms
    }

    /// The wait before the next loop: a loop, but while a claim made to fence
    /// or to take over settles, no later than the moment it may be decided,
    /// and while the fence runs or the hand-over waits for the holder to let
    /// go, [`FENCE_POLL_MS`]: a failover through a fence or a hand-over is
    /// not held up by the loop's phase. (Only that one host runs faster, and
    /// only while it fences or takes over.)
    pub(super) fn fence_pace(&self) -> u64 {
        let loop_ms = self.cfg.timings.loop_ms;
        match self.lease.phase() {
            Phase::Evicting { .. } | Phase::Succeeding { .. } => loop_ms.min(FENCE_POLL_MS),
            Phase::Claiming {
                written: Some(written),
                confirmed: true,
                fence,
                takeover,
                ..
            } if fence.is_some() || takeover.is_some() => {
                let due = written.as_millis() + self.cfg.timings.lease_settle_ms;
                let left = due.saturating_sub(self.now.as_millis());
                loop_ms.min(left.max(FENCE_POLL_MS))
            }
            _ => loop_ms,
        }
    }

    /// Claims the lease to fence `target` (from EngineStart).
    pub(super) fn claim_to_fence(&mut self, target: FenceTarget) {
        let silent = self.liveness.silent_for(self.now, target.host).unwrap_or(0);
        // A silent claimant is fenced as a holder is: it may have won, or
        // claim for an engine VM that runs there.
        let verb = match self.lease.peer_state(target.host) {
            Some(state) if state.kind == crate::metadata::LeaseKind::Claim => "claims",
            _ => "holds",
        };
        let claim = self.lease.claim_to_fence(self.now, &self.liveness, target);
        self.say(format!(
            "host {} {verb} the engine VM lease (epoch {}) but has been silent for {} s: \
             claiming the lease (epoch {}) to fence it",
            target.host,
            target.epoch,
            format_secs(silent),
            claim.epoch
        ));
    }

    /// We won the claim to fence `target`: hand the fence out.
    pub(super) fn order_fence(&mut self, epoch: u64, target: FenceTarget) {
        self.fence_order = Some(FenceOrder { target, epoch });
        self.fence_since = Some(self.now);
        self.say(format!(
            "won the claim to fence host {} (its lease epoch {}; ours {epoch}): powering it off",
            target.host, target.epoch
        ));
    }

    /// Takes in this step's fence report, or waits on for it or for an
    /// answering engine to fall silent after an off, or gives up waiting, or
    /// finds the fenced holder's lease expired meanwhile; keeps the proofs
    /// to publish current.
    pub(super) fn take_fence_report(&mut self, obs: &Observation<'_>) {
        let waiting = match self.lease.phase() {
            Phase::Evicting { target, .. } => Some(target),
            _ => None,
        };
        if self
            .fence_off
            .as_ref()
            .is_some_and(|(report, _)| Some(report.target) != waiting)
        {
            self.fence_off = None;
        }
        if let Some(report) = &obs.fence {
            if waiting != Some(report.target) {
                self.say(format!(
                    "a fence of host {} ended after we stopped waiting for it ({}): ignored",
                    report.target.host,
                    describe(&report.outcome)
                ));
            } else {
                self.fence_since = None;
                let took = format_secs(report.took_ms);
                match &report.outcome {
                    FenceOutcome::Off if obs.sensors.liveliness_ok == Some(true) => {
                        self.say(format!(
                            "{} says host {} is off, but an engine answers its health page: \
                             the off is believed only once it stops answering, within {} s",
                            report.agent,
                            report.target.host,
                            format_secs(self.off_confirm_ms())
                        ));
                        self.fence_off = Some((report.clone(), self.now));
                    }
                    FenceOutcome::Off => {
                        self.fence_ended(obs, report.target, &report.agent, &took, Ok(()));
                    }
                    FenceOutcome::Failed(why) => {
                        let why = format!(
                            "fencing host {} failed after {took} s: {why}",
                            report.target.host
                        );
                        self.fence_ended(obs, report.target, &report.agent, &took, Err(why));
                    }
                }
            }
        } else if let Some(target) = waiting {
            self.fence_pending(obs, target);
        }
        let fenced = self.lease.fenced(self.now, &self.liveness);
        self.proofs
            .retain(|host, proof| fenced.contains(&proof.target) && *host == proof.target.host);
    }

    /// Still evicting `target` with no report this step: an off waiting for
    /// the engine to stop answering is believed once it does and not after
    /// [`Agent::off_confirm_ms`]; a fence whose report is overdue is given
    /// up; and the holder's lease may have expired by silence meanwhile.
    fn fence_pending(&mut self, obs: &Observation<'_>, target: FenceTarget) {
        if let Some((report, off_at)) = self.fence_off.clone() {
            let took = format_secs(report.took_ms);
            if obs.sensors.liveliness_ok != Some(true) {
                self.say(format!(
                    "the engine stopped answering its health page {} s after {} said host {} \
                     is off: the off is believed",
                    format_secs(self.now.since(off_at)),
                    report.agent,
                    target.host
                ));
                return self.fence_ended(obs, target, &report.agent, &took, Ok(()));
            }
            let bound = self.off_confirm_ms();
            if self.now.since(off_at) > bound {
                let why = format!(
                    "{} said host {} is off, but an engine still answers its health page {} s \
                     later: the off is not believed",
                    report.agent,
                    target.host,
                    format_secs(bound)
                );
                return self.fence_ended(obs, target, &report.agent, &took, Err(why));
            }
        } else if let (Some(since), Some(fencing)) = (self.fence_since, self.cfg.fencing.as_ref()) {
            let bound = FenceConf::whole_fence_ms(fencing.timeout_ms) + self.cfg.timings.loop_ms;
            if self.now.since(since) > bound {
                let why = format!(
                    "fencing host {} did not end within {} s",
                    target.host,
                    format_secs(bound)
                );
                return self.fence_ended(obs, target, "", "", Err(why));
            }
        }
        if self.lease.evicting_expired(self.now, &self.liveness) {
            self.fence_since = None;
            self.fence_off = None;
            self.say(format!(
                "host {}'s lease (epoch {}) expired while its fence ran: our claim (epoch {}) \
                 wins as an ordinary one",
                target.host,
                target.epoch,
                self.lease.epoch()
            ));
        }
    }

    /// A fence under way ended: believed (`Ok`), or not, and why.
    fn fence_ended(
        &mut self,
        obs: &Observation<'_>,
        target: FenceTarget,
        agent: &str,
        took: &str,
        believed: Result<(), String>,
    ) {
        self.fence_since = None;
        self.fence_off = None;
        let off = believed.is_ok();
        let took_lease = self.lease.fence_done(self.now, &self.liveness, off);
        match believed {
            Ok(()) if took_lease => {
                self.proofs.insert(
                    target.host,
                    FenceProof {
                        target,
                        at_unix: obs.wall_unix,
                        agent: agent.into(),
                    },
                );
                self.say(format!(
                    "host {} fenced: powered off and confirmed off by {agent} in {took} s; \
                     taking the engine VM lease (epoch {}) without waiting for lease-dead",
                    target.host,
                    self.lease.epoch()
                ));
            }
            Ok(()) => self.say(format!(
                "host {} published while it was being fenced: the fence does not count, its \
                 lease (epoch {}) expires by silence",
                target.host, target.epoch
            )),
            Err(why) => self.say(format!(
                "{why}; host {}'s lease (epoch {}) expires by silence (lease-dead), and no host \
                 fences that epoch again",
                target.host, target.epoch
            )),
        }
    }

    /// Our fencing keys: the target of a claim made to fence, the proofs of
    /// the fences we confirmed, and the epochs whose fence did not count.
    pub(super) fn push_fence_keys(&self, extra: &mut Extra) {
        match self.lease.phase() {
            Phase::Claiming {
                fence: Some(target),
                ..
            }
            | Phase::Evicting { target, .. } => {
                extra.push(FENCE_TARGET_KEY, target.to_value());
            }
            _ => {}
        }
        for proof in self.proofs.values() {
            extra.push(FENCED_KEY, proof.to_value());
        }
        let tried: Vec<String> = self
            .lease
            .fence_tried()
            .take(FENCE_TRIED_PUBLISHED_MAX)
            .map(FenceTarget::to_value)
            .collect();
        if !tried.is_empty() {
            extra.push(FENCE_TRIED_KEY, tried.join(","));
        }
    }

    /// Takes in a peer's fencing keys: the epochs it fenced or tried to
    /// fence (never again: one fence per failover), and a proof that it
    /// fenced this host (logged once).
    pub(super) fn ingest_fence_keys(&mut self, id: HostId, extra: &Extra, tried: Option<&str>) {
        let proofs: Vec<FenceProof> = extra
            .entries()
            .filter(|(key, _)| *key == FENCED_KEY)
            .filter_map(|(_, value)| FenceProof::parse(value))
            .collect();
        let tried = tried
            .into_iter()
            .flat_map(|value| value.split(','))
            .filter_map(FenceTarget::parse);
        for target in tried.chain(proofs.iter().map(|proof| proof.target)) {
            if self.lease.plausible(target.epoch) {
                self.lease.note_fence_tried(target);
            }
        }
        if let Some(proof) = proofs.iter().find(|p| p.target.host == self.cfg.host_id) {
            self.note_fenced_me(id, proof);
        }
    }

    /// Logs, once per proof, that host `by` fenced this host.
    pub(super) fn note_fenced_me(&mut self, by: HostId, proof: &FenceProof) {
        if self.told_fenced == Some(proof.target) {
            return;
        }
        self.told_fenced = Some(proof.target);
        self.say(format!(
            "host {by} fenced this host (our lease epoch {}; powered off by {}, confirmed at \
             Unix time {}): that lease is gone",
            proof.target.epoch, proof.agent, proof.at_unix
        ));
    }

    /// The newest proof in the area that a peer fenced this host, and who.
    pub(super) fn proof_of_our_fence(&self, area: &Area) -> Option<(HostId, FenceProof)> {
        area.hosts
            .iter()
            .filter(|(id, _)| **id != self.cfg.host_id)
            .filter_map(|(id, slot)| {
                Some((
                    *id,
                    fenced_me(&slot.as_ref().ok()?.extra, self.cfg.host_id)?,
                ))
            })
            .filter(|(_, proof)| self.lease.plausible(proof.target.epoch))
            .max_by_key(|(_, proof)| proof.target.epoch)
    }
}

/// The proof in `extra` that its host fenced host `me`, if any.
fn fenced_me(extra: &Extra, me: HostId) -> Option<FenceProof> {
    extra
        .entries()
        .filter(|(key, _)| *key == FENCED_KEY)
        .filter_map(|(_, value)| FenceProof::parse(value))
        .find(|proof| proof.target.host == me)
}

/// A fence outcome in words.
fn describe(outcome: &FenceOutcome) -> String {
    match outcome {
        FenceOutcome::Off => "confirmed off".into(),
        FenceOutcome::Failed(why) => format!("failed: {why}"),
    }
}
