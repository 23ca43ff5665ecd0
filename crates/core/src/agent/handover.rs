//! The lease hand-over in the agent: the holder that stops its engine VM to
//! give the engine away says so, and the host that would start it next
//! claims the lease while the VM shuts down, so that the settle runs
//! meanwhile instead of after the release. The protocol and why it is safe:
//! `crate::lease`, "Hand-over".

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::ToString;

use super::Agent;
use super::logic::Verdict;
use crate::fence::FenceTarget;
use crate::lease::{Phase, Succession};
use crate::metadata::{Extra, HostId, LeaseKind};
use crate::state::State;

/// Our extra key, published by a holder that shuts its engine VM down to
/// give the engine away (`EngineStop`, `EngineForceStop`): the lease epoch
/// it hands over.
pub const HANDOVER_KEY: &str = "lease-handover";
/// Our extra key, published while a host claims the lease to take it over
/// from a holder that hands it over, and while it waits for that holder to
/// let go: `<host>/<epoch>`, the holder and the epoch it hands over.
pub const TAKEOVER_KEY: &str = "lease-takeover";

impl Agent {
    /// The epoch this host hands over: it holds the lease and shuts its
    /// engine VM down, not as a self-fence (then the others must wait its
    /// lease out: it may not be able to tell them when the VM is down).
    pub(super) fn handing_over(&self) -> Option<u64> {
        let stopping = matches!(self.state, State::EngineStop | State::EngineForceStop);
        match self.lease.phase() {
            Phase::Holding { epoch } if stopping && !self.fencing => Some(epoch),
            _ => None,
        }
    }

    /// The holder handing the lease over that this host may claim it from
    /// (`Lease::takeover_target`), when fencing does not come first.
    pub(super) fn takeover_candidate(&self) -> Option<FenceTarget> {
        self.lease.takeover_target(self.now, &self.liveness)
    }

    /// Claims the lease to take it over from `from` (from EngineStart).
    pub(super) fn claim_to_take_over(&mut self, from: FenceTarget) {
        let claim = self.lease.claim_to_take_over(self.now, from);
        self.say(format!(
            "host {} hands the engine VM lease over (epoch {}): claiming it (epoch {}) while its \
             engine VM shuts down",
            from.host, from.epoch, claim.epoch
        ));
    }

    /// We won the claim to take the lease over from `from`, which still
    /// holds it.
    pub(super) fn note_takeover_won(&mut self, epoch: u64, from: FenceTarget) {
        self.say(format!(
            "won the claim to take the lease over from host {} (its epoch {}; ours {epoch}): \
             waiting for it to release the lease",
            from.host, from.epoch
        ));
    }

    /// Waits on a hand-over we won (from EngineStart): start once the
    /// holder let go; back to EngineDown if the hand-over ended without us,
    /// at once, so that a holder fallen silent is claimed from to fence it
    /// in this same step.
    pub(super) fn succeed(&mut self, from: FenceTarget) -> Verdict {
        let none = BTreeSet::new();
        let devices: &BTreeSet<HostId> = self
            .cfg
            .fencing
            .as_ref()
            .map_or(&none, |fencing| &fencing.devices);
        match self.lease.succeed(self.now, &self.liveness, devices) {
            Succession::Waiting => self.stay(),
            Succession::Won { epoch } => {
                let released = self
                    .lease
                    .peer_state(from.host)
                    .is_some_and(|state| state.kind == LeaseKind::None);
                let silent = self.liveness.silent_for(self.now, from.host).unwrap_or(0);
                self.say(if released {
                    format!(
                        "host {} released the engine VM lease (epoch {}): taking it over",
                        from.host, from.epoch
                    )
                } else {
                    format!(
                        "host {}'s engine VM lease (epoch {}) expired after {} s of silence: \
                         taking it over",
                        from.host,
                        from.epoch,
                        silent / 1000
                    )
                });
                self.start_vm(epoch, "lease taken over")
            }
            Succession::GaveUp { reason } => {
                let to_down =
                    self.give_up_start(format!("hand-over of the engine VM lease ended: {reason}"));
                Verdict::nowait(to_down.to, to_down.reason)
            }
        }
    }

    /// Our hand-over keys: the epoch we hand over, or the holder our claim
    /// takes the lease over from.
    pub(super) fn push_handover_keys(&self, extra: &mut Extra) {
        if let Some(epoch) = self.handing_over() {
            extra.push(HANDOVER_KEY, epoch.to_string());
        }
        match self.lease.phase() {
            Phase::Claiming {
                takeover: Some(from),
                ..
            }
            | Phase::Succeeding { from, .. } => extra.push(TAKEOVER_KEY, from.to_value()),
            _ => {}
        }
    }
}
