//! The engine VM lease: mutual exclusion through single-writer slots
//! (docs/agent.md, "The engine VM lease").
//!
//! Every host publishes its own lease state (`none`, `claim`, `held`,
//! `fencing`, with an epoch) in its own slot and reads everyone else's. The
//! rules:
//!
//! - **Blocked:** another host's `claim`, `held` or `fencing` blocks us until
//!   that host publishes `none` or its heartbeat has been still for
//!   `lease_dead` on our clock (the longer of ours and its published one). A
//!   torn, unreadable or emptied slot never reads as free: a host we knew
//!   keeps its last valid state and ages in silence; a slot we never read
//!   validly blocks like a hold until it has been silent for `lease_dead`
//!   ([`Lease::observe_unreadable`]).
//! - **Claim:** publish `claim` with `epoch = highest epoch seen + 1`. The claim
//!   counts only if the write finished within `claim_window` of the start of the
//!   read that informed it; a claim whose read-to-write took longer is abandoned,
//!   because a peer that claimed meanwhile might not have been visible to us.
//! - **Settle:** at least `lease_settle` after our claim was written, read again.
//!   Any unexpired hold elsewhere, or an unexpired `claim` with a lower
//!   `(epoch, host id)`, means we lost: withdraw. Otherwise we won.
//!   Why this is safe: a peer that claimed without seeing our claim read before
//!   our write finished, and (its claim being sound) finished its own write within
//!   `claim_window` after that read, so before our settle read, as long as
//!   `lease_settle >= claim_window`. The `(epoch, id)` order is total, so of two
//!   claims that see each other exactly one wins. The read-back of our `held`
//!   publish checks the same again before the VM is started.
//! - **Hold:** the winner publishes `held` and only then may start the VM. Every
//!   successful publish renews; renewal time is the *start* of the write (the
//!   earliest moment other hosts can have seen it change). A write that starts
//!   `lease_fail` or more after the last renewal renews nothing (the agent
//!   stalled between its read and its write: others may have moved on). A
//!   publish that a read shows did not land intact takes back every renewal
//!   after the last confirmed one until a later publish reads back intact.
//! - **Self-fence:** a holder that has not renewed for `lease_fail` must power
//!   its VM off, and a holder superseded by a higher epoch too. It keeps
//!   publishing `fencing` (a hold, to every other host) until its VM is
//!   *confirmed* down: the lease is never given up over a VM that may still
//!   run. Meanwhile it does not pet its watchdog, so a host that cannot stop
//!   its VM is reset. An engine VM that runs here under no lease of ours
//!   (one the agent found running and waits to claim for, or powers off) is
//!   published as `fencing` as well ([`Lease::guard`]).
//! - **Release:** after the VM is confirmed down, publish `none`.
//!
//! - **Power fencing** (when configured): a host whose device this host can
//!   run and that is the *only* host blocking the lease, silent on the
//!   storage for `fence_after`, may be fenced instead of waited out
//!   ([`Lease::fence_target`]). We claim as above, with the silent holder
//!   left out of the settle check only while it stays silent; the winner
//!   (`Evicting`, still published as `claim`, so every other host stays
//!   blocked) has the shell power the holder off and ask its device until
//!   it says off. Only a confirmed off of a holder whose heartbeat did not
//!   change since the settle gives us the lease at once
//!   ([`Lease::fence_done`]); its lease then counts as expired while it
//!   stays silent at that epoch. Why this is safe: a host that is powered
//!   off runs no VM, and a holder that published since the settle is a
//!   rival again. A fence that fails, times out or is not believed gives the
//!   claim up, and that epoch is never fenced again, by anyone (the tried
//!   epochs are published): the holder's lease expires by silence as
//!   without fencing. If it expires while the fence still runs, the claim,
//!   long settled, wins as an ordinary one ([`Lease::evicting_expired`]).
//!   A holder that publishes is never fenced: it shows a change at least
//!   every `2 x loop + storage_timeout`, and `fence_after` is at least that
//!   (`FenceConf::violations`).
//!
//! - **Hand-over**: a holder that stops its VM to give the engine away
//!   (`EngineStop`, `EngineForceStop`) says so in its slot (`lease-handover`
//!   with its epoch). The host that would start the engine next may claim
//!   while that holder is the *only* host blocking the lease, with the
//!   handing-over holder left out of the settle check only while it still
//!   hands over at that epoch ([`Lease::takeover_target`]). The winner
//!   (`Succeeding`, still published as `claim`, with `lease-takeover`, so
//!   every other host stays blocked) takes the lease once nothing but its own
//!   claim stands: the holder published `none` (its VM is confirmed down),
//!   or its lease expired by silence, or it was fenced ([`Lease::succeed`]).
//!   Why this is safe: the winner never holds while the holder's hold
//!   stands, by the same test as every other take (`rival`), and no third
//!   host can claim meanwhile, as after any settled claim. What it saves: the
//!   settle runs while the holder's VM shuts down, not after it. The holder
//!   does not take the claim for a superseding one (it would power its VM
//!   off at once instead of shutting it down); a holder that stops handing
//!   over (it publishes without the key while it still holds) makes the
//!   claimer give up, and so does one silent for `fence_after` while this
//!   host can fence it (the fence then comes by a claim of its own).
//!
//! The epoch is a fencing token: it never goes back, and the VM driver hands it to
//! the VM so that a checker can prove it. Epochs read from storage above
//! [`EPOCH_PLAUSIBLE_MAX`] are refused (a hostile or broken writer), so no
//! `+ 1` can wrap.
//!
//! # The watchdog
//!
//! The self-fence covers an agent that runs; a hung agent (stopped, wedged in
//! the kernel) and a wedged VM manager are covered by the watchdog, and the
//! lease is only as safe as its timeout `W`. Let `T` be the start of the
//! holder's last renewal whose write landed intact (a write that returned OK
//! did: `shell::Storage::write_slot`).
//!
//! - The holder pets only while its lease is not overdue, so its last pet is
//!   before `T + lease_fail`, and the host is reset, its VM with it, before
//!   `T + lease_fail + W`.
//! - A peer stamps the change it saw with the start of the read that saw it,
//!   and a read takes at most `storage_timeout`: it saw `T`'s write no earlier
//!   than `T - storage_timeout`, expires the lease `lease_dead` later, then
//!   claims and settles: no other VM starts before
//!   `T - storage_timeout + lease_dead + lease_settle`.
//! - So `W <= lease_dead + lease_settle - lease_fail - storage_timeout -
//!   lease_margin` (the margin for clock rates), the maximum of
//!   `Timings::watchdog_range_ms`. Its minimum, `loop + 2 x storage_timeout`,
//!   keeps a healthy host whose read and write both run into the storage
//!   timeout from being reset.
//!
//! A host without a watchdog is unfenced: an agent paused past `lease_dead`
//! runs its VM beside the next holder's until it resumes. The agent runs
//! without one only when its configuration acknowledges that.
//!
//! A whole-host freeze stops the watchdog too (a paused host VM, a suspend),
//! and its countdown goes on from where it stood: the reset comes the length
//! of the freeze later than promised. Its clock (`CLOCK_BOOTTIME`) counts a
//! suspend: resumed, the holder finds its lease overdue and powers its VM
//! off; should that fail, or should its VM manager have been failing
//! already (then before its first read), the agent sees a whole watchdog
//! timeout gone since its last pet by its own clock and expires the
//! watchdog, which resets the host within a second (`shell::AgentLoop`,
//! `Watchdog::expire`). Either way its VM is gone within a loop, a power-off
//! and a second of the resume, so a suspend is safe if it ends that long
//! before `T + lease_dead + lease_settle - storage_timeout - margin`: with
//! the holder renewing until the suspend began, a suspend of up to
//! `lease_dead + lease_settle - storage_timeout - margin - poweroff - loop -
//! 1 s` (less a loop of renewal age). A freeze that stops the clock too leaves the
//! holder believing its lease younger by the whole freeze: if it cannot
//! publish when it resumes, it fences `lease_fail` after its last renewal by
//! its own clock, so that is safe only up to the same sum less `lease_fail`.
//! Beyond these, no lease on shared storage helps: the VM resumes before its
//! agent can see that another host took over (docs/agent.md, "What the lease
//! cannot cover").

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use alloc::collections::{BTreeMap, BTreeSet};

use super::fence::FenceTarget;
use super::liveness::PeerLiveness;
use super::time::Millis;
use crate::Timings;
use crate::metadata::{EPOCH_PLAUSIBLE_MAX, HostId, LeaseKind, LeaseState};

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
    /// Longest gap after a renewal that a new write may still renew: one that
    /// starts later may land after another host expired the lease
    /// (`lease_dead - 2 x storage_timeout`: it lands within one storage
    /// timeout, and a peer stamps what it saw up to one read early).
    pub renew_gap_max_ms: u64,
    /// A holder silent this long may be fenced (`fence-after-secs`); `None`:
    /// this host runs no fencing.
    pub fence_after_ms: Option<u64>,
    /// Test-only: a deliberate defect, to prove that the simulator's checkers
    /// catch a broken lease. Always `None` outside those tests.
    pub defect: Option<LeaseDefect>,
}

/// Deliberate lease defects for the checker's own tests: each removes one
/// line of defence, and the simulator's fuzzer must find the harm it does
/// (`tests/sim_fuzz.rs`).
///
/// Expiring a silent holder early (at `lease_fail`, even at half of it) is not
/// among them: no host tries to start while a peer that reported its engine up
/// is still alive (60 s), and the settle delay and the watchdog add margin, so
/// the fuzzer rightly finds no violation for those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseDefect {
    /// Win a claim at once, on the read that informed it: no settle re-read.
    SkipSettle,
    /// Treat another host's claim or hold as expired at once, without waiting
    /// `lease_dead` of silence.
    ExpireImmediately,
    /// Publish `none` as soon as the holder decides to fence, before its VM is
    /// confirmed down (issue 13, hole 1); also over a VM that runs here under
    /// no lease of ours ([`Lease::guard`]).
    ReleaseBeforeDown,
    /// Take a slot whose write sequence went back for news (a write that
    /// landed late, over newer ones: hole 4).
    IgnoreSequence,
    /// Take any epoch from storage, and add to it wrapping (hole 5).
    UncheckedEpoch,
    /// Power fencing: take the lease whatever the fence's outcome, as if
    /// every fence were confirmed.
    TakeUnconfirmedFence,
    /// Power fencing: fence the only blocker whether it is silent or not.
    FencePublishing,
    /// Hand-over: take the lease as soon as a claim made to take it over
    /// settles, without waiting for the holder to release it.
    TakeOverEarly,
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
            renew_gap_max_ms: t.lease_dead_ms.saturating_sub(2 * t.storage_timeout_ms),
            fence_after_ms: None,
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
        /// The silent holder this claim is made to fence, if any.
        fence: Option<FenceTarget>,
        /// The holder handing the lease over that this claim is made to
        /// succeed, if any.
        takeover: Option<FenceTarget>,
    },
    /// We won a claim made to fence `target`, and its fence runs: published
    /// as `claim` (a block to every other host) until the fence is confirmed
    /// (then we hold the lease) or fails (then we withdraw). `quiet_since` is
    /// when we last saw the target's heartbeat change: the fence counts only
    /// if it has not changed since.
    Evicting {
        epoch: u64,
        target: FenceTarget,
        quiet_since: Millis,
    },
    /// We won a claim made to take the lease over from `from`, which hands
    /// it over (its VM shuts down): published as `claim` (a block to every
    /// other host) until `from` no longer holds (then we hold the lease), or
    /// stops handing over (then we withdraw).
    Succeeding { epoch: u64, from: FenceTarget },
    /// We hold the lease under `epoch`.
    Holding { epoch: u64 },
    /// We gave the lease up (self-fence, superseded) but our VM is not
    /// confirmed down: published as `fencing`, a hold to every other host.
    Fencing { epoch: u64 },
}

/// Why we may not claim, or why a claim lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// `host` holds or claims it and has not been silent for `lease_dead`.
    Taken { host: HostId, state: LeaseState },
    /// `host`'s slot has never been read intact (or carries an implausible
    /// epoch) and has not been silent for `lease_dead`: it may hold the lease.
    Unreadable { host: HostId },
    /// We already claim or hold it.
    NotIdle,
}

impl Blocker {
    /// The blocker in words, for the log.
    pub fn describe(&self) -> String {
        match self {
            Blocker::Taken { host, state } => format!(
                "host {host} {} the lease (epoch {})",
                if state.kind.holds() {
                    "holds"
                } else {
                    "claims"
                },
                state.epoch
            ),
            Blocker::Unreadable { host } => {
                format!("host {host}'s slot has not been read intact and it may hold the lease")
            }
            Blocker::NotIdle => "we already claim or hold the lease".into(),
        }
    }
}

/// The outcome of a settle check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Not claiming, or the claim is not written yet, or settle has not passed.
    Pending,
    /// We won: publish `held` (the phase is now `Holding`).
    Won { epoch: u64 },
    /// We won a claim made to fence `target`: fence it now (the phase is now
    /// `Evicting`).
    Fence { epoch: u64, target: FenceTarget },
    /// We won a claim made to take the lease over from `from`, which still
    /// holds it: wait for it to let go (the phase is now `Succeeding`).
    TakeOver { epoch: u64, from: FenceTarget },
    /// We lost to `blocker` or the claim was unsound; back to idle (publish `none`).
    Lost { reason: String },
}

/// Where a hand-over we won stands ([`Lease::succeed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Succession {
    /// Not succeeding, or the holder still holds and hands over.
    Waiting,
    /// The holder let go: we hold the lease (the phase is now `Holding`).
    Won { epoch: u64 },
    /// The hand-over ended without us: back to idle (publish `none`).
    GaveUp { reason: String },
}

/// A publish not yet seen by a read of our own slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unconfirmed {
    /// Its write sequence.
    token: u64,
    /// When its write started.
    started: Millis,
    kind: LeaseKind,
    /// Whether the write reported success. One that failed (timed out) may
    /// still land; it renews only once a read shows it did.
    ok: bool,
}

/// One host's lease machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    me: HostId,
    timings: LeaseTimings,
    phase: Phase,
    /// Our current epoch (also published with `none`, so it never goes back).
    epoch: u64,
    /// Start of the last publish that renewed our lease, as far as we know.
    last_renewal: Option<Millis>,
    /// Start of the last publish that a read of our own slot showed intact, and
    /// the lease kind it carried.
    confirmed: Option<(Millis, LeaseKind)>,
    /// Publishes not yet seen by a read, oldest first.
    unconfirmed: Vec<Unconfirmed>,
    /// A read showed that a successful publish did not land intact: until a
    /// later one reads back, only confirmed publishes renew.
    disproven: bool,
    /// Every other host's last *valid* lease state.
    peers: BTreeMap<HostId, LeaseState>,
    /// Hosts whose slot we have never read intact, since when: they block
    /// like a hold until silent for `lease_dead`.
    unreadable: BTreeMap<HostId, Millis>,
    /// Each host's published `lease_dead` when longer than ours: its lease
    /// expires only after that much silence.
    dead_ms: BTreeMap<HostId, u64>,
    /// The highest epoch any host reported having seen: a restarted host whose
    /// own slot was unreadable learns from it the epoch it may have used.
    seen_floor: u64,
    /// Hosts whose agent stopped cleanly (`stopped=1`): their lease does not
    /// expire by silence.
    parked: BTreeSet<HostId>,
    /// An engine VM may run here that no lease of ours covers (we are about
    /// to claim for it, or powering it off): see [`Lease::guard`].
    guarding: bool,
    /// Hosts whose power-off we confirmed, with the epoch they held and when
    /// their heartbeat last changed before it: their lease counts as expired
    /// while they stay silent at that epoch.
    fenced: BTreeMap<HostId, (u64, Millis)>,
    /// Each host's lease epoch that was fenced, or whose fence failed or was
    /// not believed, here or by another host: never fenced again (one fence
    /// per failover); its lease expires by silence, unless we fenced it.
    fence_tried: BTreeMap<HostId, u64>,
    /// The target of each peer's claim made to fence (its `fence-target`).
    fencing_us: BTreeMap<HostId, FenceTarget>,
    /// While we claim to fence: when the target's silence began as we saw it
    /// at the claim. The fence counts only if it stays silent from there on.
    fence_quiet_since: Option<Millis>,
    /// The epoch each peer hands over (its `lease-handover`), if any.
    handing_over: BTreeMap<HostId, u64>,
    /// The holder each peer's claim is made to take over from (its
    /// `lease-takeover`).
    taking_over: BTreeMap<HostId, FenceTarget>,
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
        assert!(
            timings.renew_gap_max_ms >= timings.fail_ms,
            "a renewal before lease_fail could land after lease_dead"
        );
        Lease {
            me,
            timings,
            phase: Phase::Idle,
            epoch: 0,
            last_renewal: None,
            confirmed: None,
            unconfirmed: Vec::new(),
            disproven: false,
            peers: BTreeMap::new(),
            unreadable: BTreeMap::new(),
            dead_ms: BTreeMap::new(),
            seen_floor: 0,
            parked: BTreeSet::new(),
            guarding: false,
            fenced: BTreeMap::new(),
            fence_tried: BTreeMap::new(),
            fencing_us: BTreeMap::new(),
            fence_quiet_since: None,
            handing_over: BTreeMap::new(),
            taking_over: BTreeMap::new(),
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

    fn defect(&self, defect: LeaseDefect) -> bool {
        self.timings.defect == Some(defect)
    }

    /// Whether an epoch read from storage may be believed (see
    /// [`EPOCH_PLAUSIBLE_MAX`]).
    pub fn plausible(&self, epoch: u64) -> bool {
        epoch <= EPOCH_PLAUSIBLE_MAX || self.defect(LeaseDefect::UncheckedEpoch)
    }

    /// The state to publish in our slot now.
    pub fn published_state(&self) -> LeaseState {
        let kind = match self.phase {
            Phase::Idle if self.guarding && !self.defect(LeaseDefect::ReleaseBeforeDown) => {
                LeaseKind::Fencing
            }
            Phase::Idle => LeaseKind::None,
            Phase::Claiming { .. } | Phase::Evicting { .. } | Phase::Succeeding { .. } => {
                LeaseKind::Claim
            }
            Phase::Holding { .. } => LeaseKind::Held,
            Phase::Fencing { .. } => LeaseKind::Fencing,
        };
        LeaseState {
            kind,
            epoch: self.epoch,
        }
    }

    /// Adopts what our own slot said when the agent (re)started. A `held` lease
    /// with our VM still running is kept (the agent restarted under a running
    /// VM), a `fencing` one too (the power-off goes on); anything else is
    /// dropped to `none`, keeping the epoch. An implausible epoch is ignored
    /// (the caller logs it).
    pub fn adopt(&mut self, own: Option<LeaseState>, local_vm_running: bool) {
        let Some(own) = own.filter(|own| self.plausible(own.epoch)) else {
            return;
        };
        self.epoch = self.epoch.max(own.epoch);
        self.phase = match own.kind {
            LeaseKind::Held if local_vm_running => Phase::Holding { epoch: own.epoch },
            LeaseKind::Fencing if local_vm_running => Phase::Fencing { epoch: own.epoch },
            _ => Phase::Idle,
        };
    }

    /// The other host whose published lease supersedes ours: it holds or claims
    /// a higher epoch, so it judged our lease expired. We must step down.
    ///
    /// Not a claim made to fence us at our epoch: it judged us silent, not
    /// expired, and we publish; it loses its settle, or powers us off, and
    /// takes nothing before that is confirmed or our lease expired. Nor a
    /// claim made to take the lease over from us at our epoch: it takes
    /// nothing while we hold.
    pub fn superseded_by(&self) -> Option<(HostId, LeaseState)> {
        let Phase::Holding { epoch } = self.phase else {
            return None;
        };
        let me = FenceTarget {
            host: self.me,
            epoch,
        };
        let targets_us = |h: &HostId| {
            self.fencing_us.get(h) == Some(&me) || self.taking_over.get(h) == Some(&me)
        };
        self.peers
            .iter()
            .filter(|(h, s)| !(s.kind == LeaseKind::Claim && targets_us(h)))
            .find(|(_, s)| s.kind != LeaseKind::None && s.epoch > epoch)
            .map(|(h, s)| (*h, *s))
    }

    /// `host`'s last valid lease state, as we read it.
    pub fn peer_state(&self, host: HostId) -> Option<LeaseState> {
        self.peers.get(&host).copied()
    }

    /// Records the host a peer's claim is made to fence (its `fence-target`),
    /// if any.
    pub fn observe_fence_target(&mut self, host: HostId, target: Option<FenceTarget>) {
        record(&mut self.fencing_us, host, target);
    }

    /// Records the epoch a peer hands over (its `lease-handover`), if any.
    pub fn observe_handover(&mut self, host: HostId, epoch: Option<u64>) {
        record(&mut self.handing_over, host, epoch);
    }

    /// Records the holder a peer's claim is made to take over from (its
    /// `lease-takeover`), if any.
    pub fn observe_takeover(&mut self, host: HostId, target: Option<FenceTarget>) {
        record(&mut self.taking_over, host, target);
    }

    /// Records a valid read of another host's lease state (`None`: its writer
    /// publishes no lease, e.g. the reference agent, which counts as `none`).
    /// Returns `false`, recording nothing, for an implausible epoch: the host
    /// keeps its last valid state, or blocks as unreadable.
    pub fn observe(&mut self, now: Millis, host: HostId, state: Option<LeaseState>) -> bool {
        if host == self.me {
            return true;
        }
        let state = state.unwrap_or(LeaseState {
            kind: LeaseKind::None,
            epoch: 0,
        });
        if !self.plausible(state.epoch) {
            self.observe_unreadable(now, host);
            return false;
        }
        self.unreadable.remove(&host);
        self.peers.insert(host, state);
        true
    }

    /// Records a read of `host`'s slot that could not be understood (torn,
    /// garbage, an implausible epoch). A host with a last valid state keeps it;
    /// one never read intact blocks until silent for `lease_dead` from now.
    pub fn observe_unreadable(&mut self, now: Millis, host: HostId) {
        if host != self.me && !self.peers.contains_key(&host) {
            self.unreadable.entry(host).or_insert(now);
        }
    }

    /// Records that we cannot know `host`'s lease state now, whatever we knew
    /// before (our reads had a gap): it blocks like a hold until silent for
    /// `lease_dead`, or until a new publish of it is read ([`Lease::observe`]).
    pub fn observe_unknown(&mut self, now: Millis, host: HostId) {
        if host != self.me {
            self.unreadable.entry(host).or_insert(now);
        }
    }

    /// Records `host`'s published `lease_dead`: its lease expires only after
    /// the longer of ours and its own.
    pub fn observe_dead_ms(&mut self, host: HostId, dead_ms: Option<u64>) {
        match dead_ms {
            Some(ms) if ms > self.timings.dead_ms => {
                self.dead_ms.insert(host, ms);
            }
            _ => {
                self.dead_ms.remove(&host);
            }
        }
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

    /// Forgets a host whose slot was cleaned (empty) and has been silent for
    /// `lease_dead` (the caller checks).
    pub fn forget(&mut self, host: HostId) {
        // Its epoch stays known: epochs never go back.
        if let Some(state) = self.peers.remove(&host) {
            self.seen_floor = self.seen_floor.max(state.epoch);
        }
        self.unreadable.remove(&host);
        self.dead_ms.remove(&host);
        self.parked.remove(&host);
        self.handing_over.remove(&host);
        self.taking_over.remove(&host);
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

    /// Records the highest epoch another host reported having seen (or our own
    /// persisted floor). Returns `false`, recording nothing, when implausible.
    pub fn note_epoch_seen(&mut self, epoch: u64) -> bool {
        if !self.plausible(epoch) {
            return false;
        }
        self.seen_floor = self.seen_floor.max(epoch);
        true
    }

    /// The first other host whose claim or hold still stands at `now`, or
    /// whose unreadable slot may still hide one.
    fn taken_by(&self, now: Millis, liveness: &PeerLiveness) -> Option<Blocker> {
        let taken = self
            .peers
            .iter()
            .filter(|(_, state)| state.kind != LeaseKind::None)
            .find(|(host, _)| !self.expired(now, liveness, **host))
            .map(|(host, state)| Blocker::Taken {
                host: *host,
                state: *state,
            });
        taken.or_else(|| self.unreadable_blocker(now, liveness))
    }

    /// The first host never read intact that has not been silent for
    /// `lease_dead`.
    fn unreadable_blocker(&self, now: Millis, liveness: &PeerLiveness) -> Option<Blocker> {
        self.unreadable
            .iter()
            .find(|(host, since)| {
                let silent = liveness
                    .silent_for(now, **host)
                    .unwrap_or_else(|| now.since(**since))
                    .min(now.since(**since));
                silent < self.dead_for(**host)
            })
            .map(|(host, _)| Blocker::Unreadable { host: *host })
    }

    /// How long `host` must be silent before its lease expires.
    fn dead_for(&self, host: HostId) -> u64 {
        if self.defect(LeaseDefect::ExpireImmediately) {
            return 0;
        }
        self.dead_ms
            .get(&host)
            .copied()
            .unwrap_or(self.timings.dead_ms)
    }

    /// Whether `host`'s heartbeat has been still for `lease_dead` on our clock.
    fn expired(&self, now: Millis, liveness: &PeerLiveness, host: HostId) -> bool {
        if self.fenced_off(now, liveness, host) {
            return true;
        }
        if self.parked.contains(&host) {
            return false;
        }
        let dead_ms = self.dead_for(host);
        liveness
            .silent_for(now, host)
            .is_some_and(|silent| silent >= dead_ms)
    }

    /// The hosts whose published lease (held, claimed or fencing) has
    /// expired by silence, with that lease and how long they have been
    /// silent: what a claim now takes over (for the log and the history).
    pub fn expired_leases(
        &self,
        now: Millis,
        liveness: &PeerLiveness,
    ) -> Vec<(HostId, LeaseState, u64)> {
        self.peers
            .iter()
            .filter(|(_, state)| state.kind != LeaseKind::None)
            .filter(|(host, _)| self.expired(now, liveness, **host))
            .filter_map(|(host, state)| Some((*host, *state, liveness.silent_for(now, *host)?)))
            .collect()
    }

    /// Whether we may claim now.
    pub fn may_claim(&self, now: Millis, liveness: &PeerLiveness) -> Result<(), Blocker> {
        if self.phase != Phase::Idle {
            return Err(Blocker::NotIdle);
        }
        match self.taken_by(now, liveness) {
            Some(blocker) => Err(blocker),
            None => Ok(()),
        }
    }

    /// Starts a claim decided from the read that started at `read_started`.
    /// Returns the state to publish. Call only after [`Lease::may_claim`] said yes.
    pub fn claim(&mut self, read_started: Millis) -> LeaseState {
        self.claim_for(read_started, None, None)
    }

    /// Starts a claim made to take the lease over from `from`, which hands
    /// it over (see [`Lease::takeover_target`]), decided from the read that
    /// started at `read_started`.
    pub fn claim_to_take_over(&mut self, read_started: Millis, from: FenceTarget) -> LeaseState {
        self.claim_for(read_started, None, Some(from))
    }

    /// Starts a claim made to fence `target` (see [`Lease::fence_target`]),
    /// decided from the read that started at `read_started`.
    ///
    /// The caller passes the target's `liveness`: the fence will count only
    /// if the target stays silent from the silence seen now, through the
    /// whole settle, until the fence is confirmed.
    pub fn claim_to_fence(
        &mut self,
        read_started: Millis,
        liveness: &PeerLiveness,
        target: FenceTarget,
    ) -> LeaseState {
        self.fence_quiet_since = liveness.last_change_seen(read_started, target.host);
        self.claim_for(read_started, Some(target), None)
    }

    /// Whether `target` has stayed silent since our claim to fence it.
    fn quiet_since_claim(&self, now: Millis, liveness: &PeerLiveness, target: FenceTarget) -> bool {
        self.fence_quiet_since.is_some()
            && liveness.last_change_seen(now, target.host) == self.fence_quiet_since
    }

    fn claim_for(
        &mut self,
        read_started: Millis,
        fence: Option<FenceTarget>,
        takeover: Option<FenceTarget>,
    ) -> LeaseState {
        assert_eq!(self.phase, Phase::Idle, "claim while not idle");
        self.epoch = if self.defect(LeaseDefect::UncheckedEpoch) {
            self.highest_epoch().wrapping_add(1)
        } else {
            // Every epoch taken in is at most EPOCH_PLAUSIBLE_MAX.
            let next = self.highest_epoch() + 1;
            assert!(
                next <= EPOCH_PLAUSIBLE_MAX + 1,
                "implausible epoch taken in"
            );
            next
        };
        self.phase = Phase::Claiming {
            epoch: self.epoch,
            read_started,
            written: None,
            confirmed: false,
            fence,
            takeover,
        };
        if self.defect(LeaseDefect::SkipSettle) {
            self.phase = match (fence, takeover) {
                (Some(target), _) => Phase::Evicting {
                    epoch: self.epoch,
                    target,
                    quiet_since: read_started,
                },
                (None, Some(from)) => Phase::Succeeding {
                    epoch: self.epoch,
                    from,
                },
                (None, None) => Phase::Holding { epoch: self.epoch },
            };
        }
        self.published_state()
    }

    /// Reports the outcome of publishing our slot: the write started at `started`
    /// and ended (successfully or not) at `ended`; `token` identifies the publish
    /// when it is read back (the slot's write sequence).
    pub fn published(&mut self, started: Millis, ended: Millis, ok: bool, token: u64) {
        if self.unconfirmed.len() >= UNCONFIRMED_MAX {
            self.unconfirmed.remove(0);
        }
        self.unconfirmed.push(Unconfirmed {
            token,
            started,
            kind: self.published_state().kind,
            ok,
        });
        if !ok {
            // A claim whose write failed may still land later; it is abandoned
            // here and overwritten by the next publish.
            if let Phase::Claiming { .. } = self.phase {
                self.phase = Phase::Idle;
            }
            return;
        }
        // A hold whose last renewal is so old that this write may land after
        // another host expired it (the agent stalled between its read and its
        // write) is not renewed by it: the holder must fence.
        let lapsed = matches!(self.phase, Phase::Holding { .. })
            && self
                .last_renewal
                .is_some_and(|renewed| started.since(renewed) >= self.timings.renew_gap_max_ms);
        if !self.disproven && !lapsed {
            self.last_renewal = Some(started);
        }
        if let Phase::Claiming {
            epoch,
            read_started,
            written: None,
            fence,
            takeover,
            ..
        } = self.phase
        {
            self.phase = if ended.since(read_started) <= self.timings.claim_window_ms {
                Phase::Claiming {
                    epoch,
                    read_started,
                    written: Some(ended),
                    confirmed: false,
                    fence,
                    takeover,
                }
            } else {
                Phase::Idle
            };
        }
    }

    /// Records what a read of our own slot showed: the token (write sequence)
    /// of the publish it holds, or `None` when the slot was unreadable (torn)
    /// or empty. A publish that does not read back intact renewed nothing:
    /// other hosts cannot see it either. A later publish of ours in its place
    /// (one whose write timed out, landing late) proves at least as much: the
    /// others saw our slot change no earlier than it was written.
    pub fn read_own(&mut self, token: Option<u64>) {
        if self.unconfirmed.is_empty() {
            return;
        }
        let found = token.and_then(|t| self.unconfirmed.iter().rposition(|u| u.token <= t));
        let Some(index) = found else {
            // Our latest publishes did not land intact: back to what is known,
            // until a publish reads back again.
            self.unconfirmed.clear();
            self.disproven = true;
            self.last_renewal = self.confirmed.map(|(at, _)| at);
            if let Phase::Claiming { .. } = self.phase {
                self.phase = Phase::Idle;
            }
            return;
        };
        let Unconfirmed { started, kind, .. } = self.unconfirmed[index];
        self.unconfirmed.drain(..=index);
        self.confirmed = Some((started, kind));
        // Renewals count again from this proof on: the later, still
        // unconfirmed publishes that succeeded are as good as on the healthy
        // path.
        let latest_ok = self
            .unconfirmed
            .iter()
            .rev()
            .find(|u| u.ok)
            .map(|u| u.started);
        let renewed = if self.disproven {
            latest_ok
        } else {
            self.last_renewal
        };
        self.disproven = false;
        self.last_renewal = Some(renewed.map_or(started, |at| at.max(started)));
        if let Phase::Claiming {
            epoch,
            read_started,
            written: Some(written),
            fence,
            takeover,
            ..
        } = self.phase
            && kind == LeaseKind::Claim
        {
            self.phase = Phase::Claiming {
                epoch,
                read_started,
                written: Some(written),
                confirmed: true,
                fence,
                takeover,
            };
        }
    }

    /// The first unexpired rival of a claim or hold of `epoch`: a hold
    /// elsewhere, a claim ordered before ours, or a slot that may hide either.
    pub fn rival(&self, now: Millis, liveness: &PeerLiveness, epoch: u64) -> Option<Blocker> {
        self.rival_but(now, liveness, epoch, None)
    }

    /// As [`Lease::rival`], leaving out the hold of `spared`: the silent
    /// holder a claim of ours is made to fence while it may still be fenced,
    /// or the holder it is made to take over from while that still hands
    /// over ([`Lease::spared`]).
    fn rival_but(
        &self,
        now: Millis,
        liveness: &PeerLiveness,
        epoch: u64,
        spared: Option<HostId>,
    ) -> Option<Blocker> {
        let mine = (epoch, self.me);
        let rival = self
            .peers
            .iter()
            .filter(|(host, _)| spared != Some(**host))
            .filter(|(host, _)| !self.expired(now, liveness, **host))
            .find(|(host, state)| match state.kind {
                LeaseKind::Held | LeaseKind::Fencing => true,
                LeaseKind::Claim => (state.epoch, **host) < mine,
                LeaseKind::None => false,
            })
            .map(|(host, state)| Blocker::Taken {
                host: *host,
                state: *state,
            });
        rival.or_else(|| self.unreadable_blocker(now, liveness))
    }

    /// The holder a claim of ours may be judged without: the silent one it
    /// is made to fence while it may still be fenced, or the one it is made
    /// to take over from while that still hands over.
    fn spared(
        &self,
        now: Millis,
        liveness: &PeerLiveness,
        fence: Option<FenceTarget>,
        takeover: Option<FenceTarget>,
    ) -> Option<HostId> {
        let fenced = fence.filter(|target| {
            self.fenceable(now, liveness, *target) && self.quiet_since_claim(now, liveness, *target)
        });
        let handing = takeover.filter(|from| self.hands_over(*from));
        fenced.or(handing).map(|target| target.host)
    }

    /// Whether `from` still holds the lease at its epoch and says it hands
    /// it over.
    fn hands_over(&self, from: FenceTarget) -> bool {
        self.peers
            .get(&from.host)
            .is_some_and(|s| s.kind == LeaseKind::Held && s.epoch == from.epoch)
            && self.handing_over.get(&from.host) == Some(&from.epoch)
    }

    /// After the settle delay, decides a written claim against a fresh read.
    pub fn settle(&mut self, now: Millis, liveness: &PeerLiveness) -> ClaimOutcome {
        // Only a claim that read back intact is decided: a torn claim is
        // invisible to the others, who may claim meanwhile without seeing it.
        let Phase::Claiming {
            epoch,
            written: Some(written),
            confirmed: true,
            fence,
            takeover,
            ..
        } = self.phase
        else {
            return ClaimOutcome::Pending;
        };
        let settle_ms = if self.defect(LeaseDefect::SkipSettle) {
            0
        } else {
            self.timings.settle_ms
        };
        if now.since(written) < settle_ms {
            return ClaimOutcome::Pending;
        }
        let spared = self.spared(now, liveness, fence, takeover);
        if let Some(rival) = self.rival_but(now, liveness, epoch, spared) {
            self.phase = Phase::Idle;
            return ClaimOutcome::Lost {
                reason: rival.describe(),
            };
        }
        if let Some(from) = takeover
            && spared == Some(from.host)
            && !self.expired(now, liveness, from.host)
            && !self.defect(LeaseDefect::TakeOverEarly)
        {
            self.phase = Phase::Succeeding { epoch, from };
            return ClaimOutcome::TakeOver { epoch, from };
        }
        match fence {
            // Its lease expired meanwhile: an ordinary claim now, and won.
            Some(target)
                if self.fenceable(now, liveness, target)
                    && self.quiet_since_claim(now, liveness, target) =>
            {
                let quiet_since = liveness.last_change_seen(now, target.host).unwrap_or(now);
                self.phase = Phase::Evicting {
                    epoch,
                    target,
                    quiet_since,
                };
                ClaimOutcome::Fence { epoch, target }
            }
            _ => {
                self.phase = Phase::Holding { epoch };
                ClaimOutcome::Won { epoch }
            }
        }
    }

    /// The holder we may claim the lease to take over from: the *only* host
    /// that blocks us, readable, not parked, holding at the epoch it says it
    /// hands over (`lease-handover`: it shuts its VM down to give the engine
    /// away). A holder silent for `fence-after` that this host may fence
    /// ([`Lease::fence_target`]) is fenced rather than waited for.
    pub fn takeover_target(&self, now: Millis, liveness: &PeerLiveness) -> Option<FenceTarget> {
        if self.phase != Phase::Idle || self.unreadable_blocker(now, liveness).is_some() {
            return None;
        }
        let (host, state) = self.only_blocker(now, liveness)?;
        let from = FenceTarget {
            host,
            epoch: state.epoch,
        };
        (!self.parked.contains(&host) && self.hands_over(from)).then_some(from)
    }

    /// The one other host whose claim or hold stands, if exactly one does.
    fn only_blocker(&self, now: Millis, liveness: &PeerLiveness) -> Option<(HostId, LeaseState)> {
        let mut blockers = self
            .peers
            .iter()
            .filter(|(_, state)| state.kind != LeaseKind::None)
            .filter(|(host, _)| !self.expired(now, liveness, **host));
        let (host, state) = blockers.next()?;
        blockers.next().is_none().then_some((*host, *state))
    }

    /// Where the hand-over we won stands. We hold the lease once no rival
    /// is left (the holder published `none`, or its lease expired by
    /// silence, or it was fenced). We give up when another rival appears,
    /// when the holder stops handing over while it holds, and when it has
    /// been silent for `fence-after` and its device is among `devices`: a
    /// fence is faster than waiting out its lease.
    pub fn succeed(
        &mut self,
        now: Millis,
        liveness: &PeerLiveness,
        devices: &BTreeSet<HostId>,
    ) -> Succession {
        let Phase::Succeeding { epoch, from } = self.phase else {
            return Succession::Waiting;
        };
        let give_up = |lease: &mut Lease, reason: String| {
            lease.phase = Phase::Idle;
            Succession::GaveUp { reason }
        };
        if let Some(rival) = self.rival_but(now, liveness, epoch, Some(from.host)) {
            return give_up(self, rival.describe());
        }
        let held = self.peers.get(&from.host).is_some_and(|s| s.kind.holds())
            && !self.expired(now, liveness, from.host);
        if !held {
            self.phase = Phase::Holding { epoch };
            return Succession::Won { epoch };
        }
        if !self.hands_over(from) {
            return give_up(
                self,
                format!(
                    "host {} no longer hands the lease (epoch {}) over",
                    from.host, from.epoch
                ),
            );
        }
        if devices.contains(&from.host) && self.fenceable(now, liveness, from) {
            return give_up(
                self,
                format!(
                    "host {} fell silent while handing the lease (epoch {}) over",
                    from.host, from.epoch
                ),
            );
        }
        Succession::Waiting
    }

    /// The silent holder we may claim the lease to fence, when fencing is on:
    /// the *only* host that blocks us, readable, not parked, silent on the
    /// storage for `fence-after`, whose device we can run (`devices`), and
    /// whose epoch no host has tried to fence yet. Anything else (two
    /// blockers, a slot never read intact, a holder that publishes) is left
    /// to the ordinary expiry.
    pub fn fence_target(
        &self,
        now: Millis,
        liveness: &PeerLiveness,
        devices: &BTreeSet<HostId>,
    ) -> Option<FenceTarget> {
        self.timings.fence_after_ms?;
        if self.phase != Phase::Idle || self.unreadable_blocker(now, liveness).is_some() {
            return None;
        }
        let (host, state) = self.only_blocker(now, liveness)?;
        if !devices.contains(&host) {
            return None;
        }
        let target = FenceTarget {
            host,
            epoch: state.epoch,
        };
        self.fenceable(now, liveness, target).then_some(target)
    }

    /// Whether `target` may (still) be fenced: it publishes the lease state
    /// of that epoch, has been silent for `fence-after`, has not expired by
    /// silence (then there is nothing to fence), is not parked, and no host
    /// tried to fence that epoch before.
    fn fenceable(&self, now: Millis, liveness: &PeerLiveness, target: FenceTarget) -> bool {
        let Some(after) = self.timings.fence_after_ms else {
            return false;
        };
        let after = if self.defect(LeaseDefect::FencePublishing) {
            0
        } else {
            after
        };
        let same = self
            .peers
            .get(&target.host)
            .is_some_and(|state| state.kind != LeaseKind::None && state.epoch == target.epoch);
        same && !self.parked.contains(&target.host)
            && self
                .fence_tried
                .get(&target.host)
                .is_none_or(|tried| *tried < target.epoch)
            && liveness
                .silent_for(now, target.host)
                .is_some_and(|silent| silent >= after)
            && !self.expired(now, liveness, target.host)
    }

    /// Takes in the outcome of our fence: `off` when the shell confirmed the
    /// target powered off (and the caller found nothing that disproves it).
    /// A confirmed fence of a target that stayed silent since we decided it
    /// gives us the lease (`true`: we hold it now): the target's lease counts
    /// as expired while it stays silent at that epoch. Anything else gives
    /// the claim up (`false`), and that epoch is never fenced again: its
    /// lease expires by silence.
    pub fn fence_done(&mut self, now: Millis, liveness: &PeerLiveness, off: bool) -> bool {
        let Phase::Evicting {
            epoch,
            target,
            quiet_since,
        } = self.phase
        else {
            return false;
        };
        let still_quiet = liveness.last_change_seen(now, target.host) == Some(quiet_since)
            && self
                .peers
                .get(&target.host)
                .is_some_and(|state| state.epoch == target.epoch);
        self.note_fence_tried(target);
        let off = off || self.defect(LeaseDefect::TakeUnconfirmedFence);
        if off && still_quiet {
            self.fenced.insert(target.host, (target.epoch, quiet_since));
            self.phase = Phase::Holding { epoch };
            return true;
        }
        self.phase = Phase::Idle;
        false
    }

    /// While our fence runs, the holder's lease may expire by silence (a slow
    /// or dead fence device): our claim, settled long ago and seen by every
    /// host since, then wins as an ordinary one. Returns `true` when we hold
    /// the lease now.
    pub fn evicting_expired(&mut self, now: Millis, liveness: &PeerLiveness) -> bool {
        let Phase::Evicting { epoch, target, .. } = self.phase else {
            return false;
        };
        if !self.expired(now, liveness, target.host) || self.rival(now, liveness, epoch).is_some() {
            return false;
        }
        self.note_fence_tried(target);
        self.phase = Phase::Holding { epoch };
        true
    }

    /// Whether `host` is one we fenced, still silent at the epoch it held.
    fn fenced_off(&self, now: Millis, liveness: &PeerLiveness, host: HostId) -> bool {
        self.fenced.get(&host).is_some_and(|(epoch, quiet_since)| {
            liveness.last_change_seen(now, host) == Some(*quiet_since)
                && self.peers.get(&host).is_some_and(|s| s.epoch == *epoch)
        })
    }

    /// The hosts we fenced that are still silent at the epoch they held (the
    /// proofs to keep publishing).
    pub fn fenced(&self, now: Millis, liveness: &PeerLiveness) -> Vec<FenceTarget> {
        self.fenced
            .iter()
            .filter(|(host, _)| self.fenced_off(now, liveness, **host))
            .map(|(host, (epoch, _))| FenceTarget {
                host: *host,
                epoch: *epoch,
            })
            .collect()
    }

    /// Records that a fence of `target` was tried and did not count (here, or
    /// as another host published): that epoch is never fenced again.
    pub fn note_fence_tried(&mut self, target: FenceTarget) {
        // A host's epochs only grow: the highest tried covers every older one,
        // whatever order they are learnt in.
        let tried = self.fence_tried.entry(target.host).or_insert(target.epoch);
        *tried = (*tried).max(target.epoch);
    }

    /// Every host's epoch whose fence was tried and did not count, as far as
    /// we know (published, so that no other host tries it again).
    pub fn fence_tried(&self) -> impl Iterator<Item = FenceTarget> + '_ {
        self.fence_tried.iter().map(|(host, epoch)| FenceTarget {
            host: *host,
            epoch: *epoch,
        })
    }

    /// Says whether an engine VM may run here (the VM manager says it runs,
    /// or it did and cannot say now). While one does and we neither claim nor
    /// hold the lease (the agent waits to claim for a VM it found running, or
    /// powers one off that no lease covers), our slot says `fencing`, a hold
    /// to every other host: `none` would let another host start a second
    /// engine beside it. `none` again once the VM is seen down.
    pub fn guard(&mut self, vm_here: bool, vm_unknown: bool) {
        self.guarding = vm_here || (vm_unknown && self.guarding);
    }

    /// Gives the lease up: a claim withdrawn, or a hold or fence whose VM is
    /// confirmed down (or was never started).
    pub fn release(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Gives a hold up over a VM that may still run: `fencing` until
    /// [`Lease::release`] once the VM is confirmed down. (With the planted
    /// [`LeaseDefect::ReleaseBeforeDown`], released at once.)
    pub fn fence(&mut self) {
        let (Phase::Holding { epoch } | Phase::Fencing { epoch }) = self.phase else {
            return;
        };
        self.phase = if self.defect(LeaseDefect::ReleaseBeforeDown) {
            Phase::Idle
        } else {
            Phase::Fencing { epoch }
        };
    }

    /// Whether we hold the lease firmly enough to start the VM under it: our
    /// `held` state read back intact, renewed within `lease_fail`.
    pub fn valid(&self, now: Millis) -> bool {
        matches!(self.phase, Phase::Holding { .. })
            && self
                .last_renewal
                .is_some_and(|renewed| now.since(renewed) < self.timings.fail_ms)
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

/// Records what `host`'s last publish said under one key: `value`, or
/// nothing when it no longer carries the key.
fn record<T>(map: &mut BTreeMap<HostId, T>, host: HostId, value: Option<T>) {
    match value {
        Some(value) => {
            map.insert(host, value);
        }
        None => {
            map.remove(&host);
        }
    }
}

#[cfg(test)]
mod tests;
