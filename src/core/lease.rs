//! The engine VM lease: mutual exclusion through single-writer slots
//! (DESIGN.md, "The engine VM lease").
//!
//! Every host publishes its own lease state (`none`, `claim`, `held`, with an
//! epoch) in its own slot and reads everyone else's. The rules:
//!
//! - **Blocked:** another host's `claim` or `held` blocks us until that host
//!   publishes `none` or its heartbeat has been still for `lease_dead` on our
//!   clock. A torn or unreadable slot keeps its host's last valid state (the
//!   caller simply does not observe it), so it never reads as free.
//! - **Claim:** publish `claim` with `epoch = highest epoch seen + 1`. The claim
//!   counts only if the write finished within `claim_window` of the start of the
//!   read that informed it; a claim whose read-to-write took longer is abandoned,
//!   because a peer that claimed meanwhile might not have been visible to us.
//! - **Settle:** at least `lease_settle` after our claim was written, read again.
//!   Any unexpired `held` elsewhere, or an unexpired `claim` with a lower
//!   `(epoch, host id)`, means we lost: withdraw. Otherwise we won.
//!   Why this is safe: a peer that claimed without seeing our claim read before
//!   our write finished, and (its claim being sound) finished its own write within
//!   `claim_window` after that read, so before our settle read, as long as
//!   `lease_settle >= claim_window`. The `(epoch, id)` order is total, so of two
//!   claims that see each other exactly one wins.
//! - **Hold:** the winner publishes `held` and only then may start the VM. Every
//!   successful publish renews; renewal time is the *start* of the write (the
//!   earliest moment other hosts can have seen it change).
//! - **Self-fence:** a holder that has not renewed for `lease_fail` must power its
//!   VM off. Other hosts expire its lease only after `lease_dead` of silence, and
//!   `lease_dead > lease_fail + poweroff + loop + margin` (checked by
//!   `Timings::violations`), so the old VM is down before a new one may start.
//! - **Release:** after the VM is confirmed down, publish `none`.
//!
//! The epoch is a fencing token: it never goes back, and the VM driver hands it to
//! the VM so that a checker can prove it.

use std::collections::{BTreeMap, BTreeSet};

use super::liveness::PeerLiveness;
use super::time::Millis;
use crate::config::Timings;
use crate::metadata::{HostId, LeaseKind, LeaseState};

/// Unconfirmed publishes remembered (a read confirms them a loop later).
const UNCONFIRMED_MAX: usize = 8;

/// The lease timers, taken from [`Timings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    pub settle_ms: u64,
    pub fail_ms: u64,
    pub dead_ms: u64,
    /// Longest read-to-written time for a sound claim (must not exceed settle).
    pub claim_window_ms: u64,
    /// Test-only: a deliberate defect, to prove that the simulator's checkers
    /// catch a broken lease. Always `None` outside those tests.
    pub defect: Option<LeaseDefect>,
}

/// Deliberate lease defects for the checker's own tests.
///
/// Expiring a silent holder early (at `lease_fail`, even at half of it) is not
/// among them: no host tries to start while a peer that reported its engine up
/// is still alive (60 s), and the settle delay and the watchdog add margin, so
/// the fuzzer rightly finds no violation for those. The defects below remove
/// the last line of defence where the lease alone decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseDefect {
    /// Win a claim at once, on the read that informed it: no settle re-read.
    SkipSettle,
    /// Treat another host's claim or hold as expired at once, without waiting
    /// `lease_dead` of silence.
    ExpireImmediately,
}

impl LeaseTimings {
    pub fn from_timings(t: &Timings) -> LeaseTimings {
        LeaseTimings {
            settle_ms: t.lease_settle_ms,
            fail_ms: t.lease_fail_ms,
            dead_ms: t.lease_dead_ms,
            // One loop of work between the read and the write, plus the slowest
            // write the store allows; validate() keeps settle >= this sum.
            claim_window_ms: t.storage_timeout_ms.saturating_add(t.loop_ms),
            defect: None,
        }
    }
}

/// Where this host is in the lease protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not claiming, not holding.
    Idle,
    /// Claim decided from the read that started at `read_started`; `written` once
    /// the claim's publish succeeded, `confirmed` once a read showed it landed
    /// intact (so that every other host can see it).
    Claiming {
        epoch: u64,
        read_started: Millis,
        written: Option<Millis>,
        confirmed: bool,
    },
    /// We hold the lease under `epoch`.
    Holding { epoch: u64 },
}

/// Why we may not claim, or why a claim lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// `host` holds or claims it and has not been silent for `lease_dead`.
    Taken { host: HostId, state: LeaseState },
    /// We already claim or hold it.
    NotIdle,
}

/// The outcome of a settle check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Not claiming, or the claim is not written yet, or settle has not passed.
    Pending,
    /// We won: publish `held` (the phase is now `Holding`).
    Won { epoch: u64 },
    /// We lost to `blocker` or the claim was unsound; back to idle (publish `none`).
    Lost { reason: String },
}

/// One host's lease machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    me: HostId,
    timings: LeaseTimings,
    phase: Phase,
    /// Our current epoch (also published with `none`, so it never goes back).
    epoch: u64,
    /// Start of the last successful publish of our slot (as the write reported).
    last_renewal: Option<Millis>,
    /// Start of the last publish that a read of our own slot showed intact, and
    /// the lease kind it carried.
    confirmed: Option<(Millis, LeaseKind)>,
    /// Successful publishes not yet seen by a read: token, start, kind.
    unconfirmed: Vec<(u64, Millis, LeaseKind)>,
    /// Every other host's last *valid* lease state.
    peers: BTreeMap<HostId, LeaseState>,
    /// The highest epoch any host reported having seen: a restarted host whose
    /// own slot was unreadable learns from it the epoch it may have used.
    seen_floor: u64,
    /// Hosts whose agent stopped cleanly (`stopped=1`): their lease does not
    /// expire by silence.
    parked: BTreeSet<HostId>,
}

impl Lease {
    pub fn new(me: HostId, timings: LeaseTimings) -> Lease {
        assert!(
            timings.settle_ms >= timings.claim_window_ms,
            "lease settle shorter than the claim window"
        );
        assert!(
            timings.dead_ms > timings.fail_ms,
            "lease_dead <= lease_fail"
        );
        Lease {
            me,
            timings,
            phase: Phase::Idle,
            epoch: 0,
            last_renewal: None,
            confirmed: None,
            unconfirmed: Vec::new(),
            peers: BTreeMap::new(),
            seen_floor: 0,
            parked: BTreeSet::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn last_renewal(&self) -> Option<Millis> {
        self.last_renewal
    }

    /// The state to publish in our slot now.
    pub fn published_state(&self) -> LeaseState {
        let kind = match self.phase {
            Phase::Idle => LeaseKind::None,
            Phase::Claiming { .. } => LeaseKind::Claim,
            Phase::Holding { .. } => LeaseKind::Held,
        };
        LeaseState {
            kind,
            epoch: self.epoch,
        }
    }

    /// Adopts what our own slot said when the agent (re)started. A `held` lease
    /// with our VM still running is kept (the agent restarted under a running VM);
    /// anything else is dropped to `none`, keeping the epoch.
    pub fn adopt(&mut self, own: Option<LeaseState>, local_vm_running: bool) {
        let Some(own) = own else { return };
        self.epoch = self.epoch.max(own.epoch);
        self.phase = match own.kind {
            LeaseKind::Held if local_vm_running => Phase::Holding { epoch: own.epoch },
            _ => Phase::Idle,
        };
    }

    /// The other host whose published lease supersedes ours: it holds or claims
    /// a higher epoch, so it judged our lease expired. We must step down.
    pub fn superseded_by(&self) -> Option<(HostId, LeaseState)> {
        let Phase::Holding { epoch } = self.phase else {
            return None;
        };
        self.peers
            .iter()
            .find(|(_, s)| s.kind != LeaseKind::None && s.epoch > epoch)
            .map(|(h, s)| (*h, *s))
    }

    /// Records a valid read of another host's lease state (`None`: its writer
    /// publishes no lease, e.g. the reference agent, which counts as `none`).
    pub fn observe(&mut self, host: HostId, state: Option<LeaseState>) {
        if host == self.me {
            return;
        }
        let state = state.unwrap_or(LeaseState {
            kind: LeaseKind::None,
            epoch: 0,
        });
        self.peers.insert(host, state);
    }

    /// Records whether `host` published a clean agent stop (`stopped=1`). A host
    /// whose agent stopped cleanly while holding the lease left its engine VM
    /// running on purpose, with no agent to fence it: its lease never expires by
    /// silence. It stands until that agent returns, or an operator cleans the
    /// host's slot (`--clean-metadata`).
    pub fn observe_stopped(&mut self, host: HostId, stopped: bool) {
        if stopped {
            self.parked.insert(host);
        } else {
            self.parked.remove(&host);
        }
    }

    /// Forgets a host whose slot was cleaned (empty).
    pub fn forget(&mut self, host: HostId) {
        self.peers.remove(&host);
        self.parked.remove(&host);
    }

    /// The highest epoch we know of: ours, every host's, and what any host
    /// reported having seen. Published, so that epochs never go back even for a
    /// host that lost its own slot.
    pub fn highest_epoch(&self) -> u64 {
        self.peers
            .values()
            .map(|s| s.epoch)
            .fold(self.epoch.max(self.seen_floor), u64::max)
    }

    /// Records the highest epoch another host reported having seen.
    pub fn note_epoch_seen(&mut self, epoch: u64) {
        self.seen_floor = self.seen_floor.max(epoch);
    }

    /// The first other host whose claim or hold still stands at `now`.
    fn taken_by(&self, now: Millis, liveness: &PeerLiveness) -> Option<(HostId, LeaseState)> {
        self.peers
            .iter()
            .filter(|(_, state)| state.kind != LeaseKind::None)
            .find(|(host, _)| !self.expired(now, liveness, **host))
            .map(|(host, state)| (*host, *state))
    }

    /// Whether `host`'s heartbeat has been still for `lease_dead` on our clock.
    fn expired(&self, now: Millis, liveness: &PeerLiveness, host: HostId) -> bool {
        if self.parked.contains(&host) {
            return false;
        }
        let dead_ms = match self.timings.defect {
            Some(LeaseDefect::ExpireImmediately) => 0,
            _ => self.timings.dead_ms,
        };
        liveness
            .silent_for(now, host)
            .is_some_and(|silent| silent >= dead_ms)
    }

    /// Whether we may claim now.
    pub fn may_claim(&self, now: Millis, liveness: &PeerLiveness) -> Result<(), Blocker> {
        if self.phase != Phase::Idle {
            return Err(Blocker::NotIdle);
        }
        match self.taken_by(now, liveness) {
            Some((host, state)) => Err(Blocker::Taken { host, state }),
            None => Ok(()),
        }
    }

    /// Starts a claim decided from the read that started at `read_started`.
    /// Returns the state to publish. Call only after [`Lease::may_claim`] said yes.
    pub fn claim(&mut self, read_started: Millis) -> LeaseState {
        assert_eq!(self.phase, Phase::Idle, "claim while not idle");
        self.epoch = self.highest_epoch() + 1;
        self.phase = Phase::Claiming {
            epoch: self.epoch,
            read_started,
            written: None,
            confirmed: false,
        };
        if self.timings.defect == Some(LeaseDefect::SkipSettle) {
            self.phase = Phase::Holding { epoch: self.epoch };
        }
        self.published_state()
    }

    /// Reports the outcome of publishing our slot: the write started at `started`
    /// and ended (successfully or not) at `ended`; `token` identifies the publish
    /// when it is read back (the record's `host-ts`).
    pub fn published(&mut self, started: Millis, ended: Millis, ok: bool, token: u64) {
        if !ok {
            // A claim whose write failed may still land later; it is abandoned
            // here and overwritten by the next publish.
            if let Phase::Claiming { .. } = self.phase {
                self.phase = Phase::Idle;
            }
            return;
        }
        self.last_renewal = Some(started);
        if self.unconfirmed.len() >= UNCONFIRMED_MAX {
            self.unconfirmed.remove(0);
        }
        self.unconfirmed
            .push((token, started, self.published_state().kind));
        if let Phase::Claiming {
            epoch,
            read_started,
            written: None,
            ..
        } = self.phase
        {
            self.phase = if ended.since(read_started) <= self.timings.claim_window_ms {
                Phase::Claiming {
                    epoch,
                    read_started,
                    written: Some(ended),
                    confirmed: false,
                }
            } else {
                Phase::Idle
            };
        }
    }

    /// Records what a read of our own slot showed: the token (`host-ts`) of the
    /// publish it holds, or `None` when the slot was unreadable (torn) or empty.
    /// A publish that does not read back intact renewed nothing: other hosts
    /// cannot see it either.
    pub fn read_own(&mut self, token: Option<u64>) {
        if self.unconfirmed.is_empty() {
            return;
        }
        let found = token.and_then(|t| self.unconfirmed.iter().position(|(u, ..)| *u == t));
        let Some(index) = found else {
            // Our latest publishes did not land intact: back to what is known.
            self.unconfirmed.clear();
            self.last_renewal = self.confirmed.map(|(at, _)| at);
            if let Phase::Claiming { .. } = self.phase {
                self.phase = Phase::Idle;
            }
            return;
        };
        let (_, started, kind) = self.unconfirmed[index];
        self.unconfirmed.drain(..=index);
        self.confirmed = Some((started, kind));
        if let Phase::Claiming {
            epoch,
            read_started,
            written: Some(written),
            ..
        } = self.phase
            && kind == LeaseKind::Claim
        {
            self.phase = Phase::Claiming {
                epoch,
                read_started,
                written: Some(written),
                confirmed: true,
            };
        }
    }

    /// After the settle delay, decides a written claim against a fresh read.
    pub fn settle(&mut self, now: Millis, liveness: &PeerLiveness) -> ClaimOutcome {
        // Only a claim that read back intact is decided: a torn claim is
        // invisible to the others, who may claim meanwhile without seeing it.
        let Phase::Claiming {
            epoch,
            written: Some(written),
            confirmed: true,
            ..
        } = self.phase
        else {
            return ClaimOutcome::Pending;
        };
        let settle_ms = match self.timings.defect {
            Some(LeaseDefect::SkipSettle) => 0,
            _ => self.timings.settle_ms,
        };
        if now.since(written) < settle_ms {
            return ClaimOutcome::Pending;
        }
        let mine = (epoch, self.me);
        let rival = self
            .peers
            .iter()
            .filter(|(host, _)| !self.expired(now, liveness, **host))
            .find(|(host, state)| match state.kind {
                LeaseKind::Held => true,
                LeaseKind::Claim => (state.epoch, **host) < mine,
                LeaseKind::None => false,
            });
        if let Some((host, state)) = rival {
            let reason = format!(
                "host {host} {} the lease (epoch {})",
                if state.kind == LeaseKind::Held {
                    "holds"
                } else {
                    "claims"
                },
                state.epoch
            );
            self.phase = Phase::Idle;
            return ClaimOutcome::Lost { reason };
        }
        self.phase = Phase::Holding { epoch };
        ClaimOutcome::Won { epoch }
    }

    /// Gives the lease up (the VM is confirmed down, or a claim is withdrawn).
    pub fn release(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Whether we hold the lease firmly enough to start the VM under it: our
    /// `held` state read back intact, renewed within `lease_fail`.
    pub fn valid(&self, now: Millis) -> bool {
        matches!(self.phase, Phase::Holding { .. })
            && self.confirmed.is_some_and(|(renewed, kind)| {
                kind == LeaseKind::Held && now.since(renewed) < self.timings.fail_ms
            })
    }

    /// Whether we hold the lease but failed to renew it for `lease_fail`: our VM
    /// must be powered off now. (Renewals count from the write's own report, and
    /// are taken back when a read shows they did not land intact.)
    pub fn must_fence(&self, now: Millis) -> bool {
        matches!(self.phase, Phase::Holding { .. })
            && self
                .last_renewal
                .is_none_or(|renewed| now.since(renewed) >= self.timings.fail_ms)
    }
}

#[cfg(test)]
mod tests;
