//! The lease hand-over's rules, checked against ground truth when they are
//! acted on (the protocol: `crates/core/src/lease.rs`, "Hand-over"):
//!
//! - a claim made to take the lease over (`lease-takeover`) is made only
//!   from a holder whose newest write hands that epoch over
//!   (`lease-handover`), or that no longer holds;
//! - such a claim is not judged against that holder's hold
//!   (`WorldState::check_claim`): it takes nothing while the holder holds;
//! - the `held` that follows it lands only once the holder's hold is gone:
//!   released, or older than a sound reader's lease-dead.
//!
//! Two engine VMs at once is the simulator's general invariant, checked
//! after every event as always.

use std::collections::BTreeMap;

use super::world::{WorldState, fmt_duration, host_name};
use crate::core::FenceTarget;
use crate::metadata::HostId;

/// The claims made to take the lease over: (claimer, epoch) -> the holder.
#[derive(Clone, Debug, Default)]
pub struct Takeovers {
    claims: BTreeMap<(HostId, u64), FenceTarget>,
}

impl WorldState {
    /// A claim made to take the lease over from `from` landed.
    pub(super) fn note_takeover_claim(&mut self, claimer: HostId, epoch: u64, from: FenceTarget) {
        if let Some(e) = self.effective(from.host)
            && e.kind.holds()
            && !(e.handover && e.epoch == from.epoch)
        {
            self.violation(format!(
                "{} claims to take the lease (epoch {epoch}) over from {}, whose {} (epoch {}) \
                 hands nothing over",
                host_name(claimer),
                host_name(from.host),
                e.kind.as_str(),
                e.epoch
            ));
        }
        self.takeovers.claims.insert((claimer, epoch), from);
    }

    /// Whether `claimer`'s claim of `epoch` was made to take the lease over
    /// from `host`.
    pub(super) fn claim_takes_over(&self, claimer: HostId, epoch: u64, host: HostId) -> bool {
        self.takeovers
            .claims
            .get(&(claimer, epoch))
            .is_some_and(|from| from.host == host)
    }

    /// A `held` landed after a claim made to take the lease over: the
    /// holder's hold must be gone, released or older than a sound reader's
    /// lease-dead (a powered-off holder's too: no host fences it meanwhile).
    pub(super) fn check_takeover_take(&mut self, taker: HostId, epoch: u64, live_for: u64) {
        let Some(from) = self.takeovers.claims.get(&(taker, epoch)).copied() else {
            return;
        };
        let Some(e) = self.effective(from.host) else {
            return;
        };
        if e.kind.holds() && self.now.since(e.landed_at) < live_for {
            self.violation(format!(
                "{} takes the lease (epoch {epoch}) over from {}, whose {} (epoch {}) was \
                 written {} ago",
                host_name(taker),
                host_name(from.host),
                e.kind.as_str(),
                e.epoch,
                fmt_duration(self.now.since(e.landed_at))
            ));
        }
    }
}
