//! The lease hand-over's rules, checked against ground truth when they are
//! acted on (the protocol: `crates/core/src/lease.rs`, "Hand-over"):
//!
//! - a claim made to take the lease over (`lease-takeover`) is not judged
//!   against the hold of the holder it names (`WorldState::check_claim`):
//!   it takes nothing while that holder holds;
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
    /// A claim made to take the lease over from `from` landed. It is not
    /// judged here: what the holder published when the claim's read saw it
    /// may be gone from the storage since (a restarted agent of the holder
    /// no longer hands over), and the claim takes nothing. What counts is
    /// its `held` ([`WorldState::check_takeover_take`]).
    pub(super) fn note_takeover_claim(&mut self, claimer: HostId, epoch: u64, from: FenceTarget) {
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
