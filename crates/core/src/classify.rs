//! Engine status classification (`docs/compat.md` section 3): what
//! this host publishes about the engine VM, from what the VM manager says about
//! the local VM and what the engine's liveliness check said.
//!
//! The reference remembers its last VM state (`up`, `down`, `down_unexpected`,
//! `down_missing`; it starts at `down` and never remembers `unknown`). Here that
//! memory is the caller's previous classification, passed in, so the function
//! stays pure.

use core::fmt;

use crate::metadata::{EngineStatus, Health, HostId, VmStatus};

/// `detail` when the VM manager gave no status.
pub const DETAIL_UNKNOWN: &str = "unknown";
/// The exact reason strings of section 3.
pub const REASON_NOT_ON_HOST: &str = "vm not running on this host";
pub const REASON_QUERY_FAILED: &str = "failed to getVmStats";
pub const REASON_LOCKED: &str = "Storage of VM is locked. Is another host already starting the VM?";
pub const REASON_MIGRATED_AWAY: &str = "VM migrated away successfully";
pub const REASON_BAD_VM_STATUS: &str = "bad vm status";
pub const REASON_LIVELINESS_FAILED: &str = "failed liveliness check";

/// The VM manager's status of the local engine VM, with the reference's
/// strings (section 3, `detail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VmManagerStatus {
    Up,
    Down,
    Paused,
    WaitForLaunch,
    PoweringUp,
    PoweringDown,
    MigrationSource,
    MigrationDestination,
    RebootInProgress,
    RestoringState,
    SavingState,
}

impl VmManagerStatus {
    pub const ALL: [VmManagerStatus; 11] = [
        VmManagerStatus::Up,
        VmManagerStatus::Down,
        VmManagerStatus::Paused,
        VmManagerStatus::WaitForLaunch,
        VmManagerStatus::PoweringUp,
        VmManagerStatus::PoweringDown,
        VmManagerStatus::MigrationSource,
        VmManagerStatus::MigrationDestination,
        VmManagerStatus::RebootInProgress,
        VmManagerStatus::RestoringState,
        VmManagerStatus::SavingState,
    ];

    /// The reference's string, exactly (it becomes the published `detail`).
    pub fn as_str(self) -> &'static str {
        match self {
            VmManagerStatus::Up => "Up",
            VmManagerStatus::Down => "Down",
            VmManagerStatus::Paused => "Paused",
            VmManagerStatus::WaitForLaunch => "WaitForLaunch",
            VmManagerStatus::PoweringUp => "Powering up",
            VmManagerStatus::PoweringDown => "Powering down",
            VmManagerStatus::MigrationSource => "Migration Source",
            VmManagerStatus::MigrationDestination => "Migration Destination",
            VmManagerStatus::RebootInProgress => "RebootInProgress",
            VmManagerStatus::RestoringState => "Restoring state",
            VmManagerStatus::SavingState => "Saving State",
        }
    }

    /// Parses a status string. Case is ignored because older reference versions
    /// published the `detail` lowercased (`powering up`); the exact strings are
    /// distinct without case, so nothing becomes ambiguous.
    pub fn parse(text: &str) -> Option<VmManagerStatus> {
        VmManagerStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    fn class(self) -> StatusClass {
        match self {
            // The reference treats an incoming migration like Down: the engine
            // still runs on the source host, and calling the copy here "up" would
            // show two engines up during a migration.
            VmManagerStatus::Down | VmManagerStatus::MigrationDestination => StatusClass::Down,
            VmManagerStatus::Paused
            | VmManagerStatus::WaitForLaunch
            | VmManagerStatus::RestoringState
            | VmManagerStatus::PoweringUp => StatusClass::UpNotRunning,
            VmManagerStatus::Up
            | VmManagerStatus::PoweringDown
            | VmManagerStatus::MigrationSource
            | VmManagerStatus::RebootInProgress
            | VmManagerStatus::SavingState => StatusClass::Running,
        }
    }
}

impl fmt::Display for VmManagerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How section 3 treats a VM manager status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatusClass {
    /// Not running here.
    Down,
    /// Reported as `up` with bad health and `bad vm status`.
    UpNotRunning,
    /// Running: health comes from the liveliness check.
    Running,
}

/// Why a Down VM went down, as far as the VM manager says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// Its disk lock is held by another host (it lost a start race).
    LockHeldElsewhere,
    /// It migrated to another host successfully.
    MigratedAway,
    Other,
}

/// What the VM manager says about the local engine VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalVm {
    /// The VM manager could not be asked, or gave no usable answer.
    QueryFailed,
    /// The VM manager does not know the VM on this host.
    NotPresent,
    /// `down_reason` matters only when `status` is Down.
    Present {
        status: VmManagerStatus,
        down_reason: Option<DownReason>,
    },
}

impl LocalVm {
    /// Whether the VM is confirmed not running here (absent, or Down); a
    /// failed query confirms nothing.
    pub fn confirmed_down(&self) -> bool {
        matches!(
            self,
            LocalVm::NotPresent
                | LocalVm::Present {
                    status: VmManagerStatus::Down,
                    ..
                }
        )
    }
}

/// Classifies the local engine VM (`docs/compat.md` section 3).
///
/// `previous` is this host's previous classification: pass the latest one whose
/// `vm` was not `unknown`, as the reference never remembers `unknown`. `None` (or
/// an `unknown` previous) reads as the reference's initial state, `down`, so an
/// agent that starts next to a Down VM does not call it unexpected.
///
/// `liveliness_ok` is the engine's latest liveliness result; `None` (no check
/// finished yet) counts as failed, as the reference reports bad health until a
/// check passes. It is ignored unless the VM is running.
///
/// Remembered states, as in the reference: `down_missing` and `down_unexpected`
/// stay while the VM stays away or Down, so a state machine that steps less often
/// than the VM is classified cannot miss that the VM died.
pub fn classify(
    vm: &LocalVm,
    previous: Option<&EngineStatus>,
    liveliness_ok: Option<bool>,
) -> EngineStatus {
    let remembered = remembered_vm(previous);
    match *vm {
        LocalVm::QueryFailed => EngineStatus::new(
            VmStatus::Unknown,
            Health::Unknown,
            DETAIL_UNKNOWN,
            Some(REASON_QUERY_FAILED),
        ),
        LocalVm::NotPresent => {
            let vm = match remembered {
                VmStatus::Up => VmStatus::DownMissing,
                other => other,
            };
            EngineStatus::new(vm, Health::Bad, DETAIL_UNKNOWN, Some(REASON_NOT_ON_HOST))
        }
        LocalVm::Present {
            status,
            down_reason,
        } => classify_present(status, down_reason, remembered, liveliness_ok),
    }
}

/// The reference's remembered VM state: never `unknown`, `down` at first.
fn remembered_vm(previous: Option<&EngineStatus>) -> VmStatus {
    match previous.map(|p| p.vm) {
        None | Some(VmStatus::Unknown) => VmStatus::Down,
        Some(vm) => vm,
    }
}

fn classify_present(
    status: VmManagerStatus,
    down_reason: Option<DownReason>,
    remembered: VmStatus,
    liveliness_ok: Option<bool>,
) -> EngineStatus {
    let detail = status.as_str();
    let up_bad = |reason| EngineStatus::new(VmStatus::Up, Health::Bad, detail, Some(reason));
    let down_because =
        |reason| EngineStatus::new(VmStatus::Down, Health::Bad, detail, Some(reason));
    if status == VmManagerStatus::Down {
        match down_reason {
            Some(DownReason::LockHeldElsewhere) => return down_because(REASON_LOCKED),
            Some(DownReason::MigratedAway) => return down_because(REASON_MIGRATED_AWAY),
            Some(DownReason::Other) | None => {}
        }
    }
    match status.class() {
        StatusClass::Down => {
            // "Was not down before" is the reference's test `state != down`: a
            // previous down_missing or down_unexpected gives down_unexpected.
            let vm = match remembered {
                VmStatus::Down => VmStatus::Down,
                _ => VmStatus::DownUnexpected,
            };
            EngineStatus::new(vm, Health::Bad, detail, Some(REASON_BAD_VM_STATUS))
        }
        StatusClass::UpNotRunning => up_bad(REASON_BAD_VM_STATUS),
        StatusClass::Running if liveliness_ok == Some(true) => {
            EngineStatus::new(VmStatus::Up, Health::Good, detail, None)
        }
        StatusClass::Running => up_bad(REASON_LIVELINESS_FAILED),
    }
}

/// The best engine status among hosts: the highest [`EngineStatus::rank`], ties
/// broken by the lowest host id.
///
/// The reference takes whichever host its dictionary yields first; a fixed
/// tie-break makes every host agree on the answer (`docs/architecture.md`,
/// "Deliberate improvements" 5). Rank 0 (`unknown`) can be the best when nothing is better;
/// the caller decides what that means. `None` only for no hosts at all.
pub fn best_engine<'a, I>(statuses: I) -> Option<(HostId, u8)>
where
    I: IntoIterator<Item = (HostId, &'a EngineStatus)>,
{
    let mut best: Option<(HostId, u8)> = None;
    for (id, status) in statuses {
        let rank = status.rank();
        let better = match best {
            None => true,
            Some((best_id, best_rank)) => rank > best_rank || (rank == best_rank && id < best_id),
        };
        if better {
            best = Some((id, rank));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use VmManagerStatus as S;
    use std::{string::ToString, vec::Vec};

    fn present(status: VmManagerStatus) -> LocalVm {
        LocalVm::Present {
            status,
            down_reason: None,
        }
    }

    fn down_with(reason: DownReason) -> LocalVm {
        LocalVm::Present {
            status: S::Down,
            down_reason: Some(reason),
        }
    }

    fn prev(vm: VmStatus) -> EngineStatus {
        EngineStatus::new(vm, Health::Bad, "x", None)
    }

    const UP: VmStatus = VmStatus::Up;
    const DOWN: VmStatus = VmStatus::Down;
    const UNEXPECTED: VmStatus = VmStatus::DownUnexpected;
    const MISSING: VmStatus = VmStatus::DownMissing;
    const UNKNOWN: VmStatus = VmStatus::Unknown;

    #[test]
    fn status_strings_round_trip() {
        let expected = [
            "Up",
            "Down",
            "Paused",
            "WaitForLaunch",
            "Powering up",
            "Powering down",
            "Migration Source",
            "Migration Destination",
            "RebootInProgress",
            "Restoring state",
            "Saving State",
        ];
        for (status, text) in S::ALL.into_iter().zip(expected) {
            assert_eq!(status.as_str(), text);
            assert_eq!(status.to_string(), text);
            assert_eq!(S::parse(text), Some(status));
            assert_eq!(S::parse(&text.to_lowercase()), Some(status));
        }
        for bad in ["", "up ", "PoweringUp", "Migrating", "unknown"] {
            assert_eq!(S::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn section_3_table() {
        use DownReason::{LockHeldElsewhere, MigratedAway, Other};
        use Health::{Bad as BAD, Good as GOOD, Unknown as NO_HEALTH};
        use LocalVm::{NotPresent as NP, QueryFailed as QF};
        let not_here = Some(REASON_NOT_ON_HOST);
        let query = Some(REASON_QUERY_FAILED);
        let locked = Some(REASON_LOCKED);
        let migrated = Some(REASON_MIGRATED_AWAY);
        let bad_status = Some(REASON_BAD_VM_STATUS);
        let liveliness = Some(REASON_LIVELINESS_FAILED);
        let (yes, no) = (Some(true), Some(false));
        #[rustfmt::skip]
        let rows = [
            // (local VM, previous vm, liveliness) -> (vm, health, detail, reason)
            // VM not on this host, was up before.
            (NP, Some(UP), None, MISSING, BAD, "unknown", not_here),
            // VM not on this host otherwise (nothing known, or unknown, reads as down).
            (NP, None, None, DOWN, BAD, "unknown", not_here),
            (NP, Some(DOWN), yes, DOWN, BAD, "unknown", not_here),
            (NP, Some(UNKNOWN), None, DOWN, BAD, "unknown", not_here),
            // ... the reference keeps a remembered down_missing / down_unexpected.
            (NP, Some(MISSING), None, MISSING, BAD, "unknown", not_here),
            (NP, Some(UNEXPECTED), None, UNEXPECTED, BAD, "unknown", not_here),
            // VM manager query failed, whatever came before.
            (QF, None, None, UNKNOWN, NO_HEALTH, "unknown", query),
            (QF, Some(UP), yes, UNKNOWN, NO_HEALTH, "unknown", query),
            // VM down because another host holds its lock.
            (down_with(LockHeldElsewhere), Some(UP), None, DOWN, BAD, "Down", locked),
            (down_with(LockHeldElsewhere), None, None, DOWN, BAD, "Down", locked),
            // VM down after migrating away.
            (down_with(MigratedAway), Some(UP), None, DOWN, BAD, "Down", migrated),
            // VM went Down (was not down before: the reference's `state != down`).
            (present(S::Down), Some(UP), None, UNEXPECTED, BAD, "Down", bad_status),
            (down_with(Other), Some(UP), None, UNEXPECTED, BAD, "Down", bad_status),
            (present(S::Down), Some(MISSING), None, UNEXPECTED, BAD, "Down", bad_status),
            (present(S::Down), Some(UNEXPECTED), None, UNEXPECTED, BAD, "Down", bad_status),
            // ... was down before, or nothing known.
            (present(S::Down), Some(DOWN), None, DOWN, BAD, "Down", bad_status),
            (present(S::Down), None, yes, DOWN, BAD, "Down", bad_status),
            (present(S::Down), Some(UNKNOWN), None, DOWN, BAD, "Down", bad_status),
            // An incoming migration is not the running engine (reference: like Down).
            (present(S::MigrationDestination), Some(DOWN), yes, DOWN, BAD, "Migration Destination", bad_status),
            (present(S::MigrationDestination), Some(UP), yes, UNEXPECTED, BAD, "Migration Destination", bad_status),
            // Paused, WaitForLaunch, Restoring state, Powering up.
            (present(S::Paused), Some(UP), yes, UP, BAD, "Paused", bad_status),
            (present(S::WaitForLaunch), None, None, UP, BAD, "WaitForLaunch", bad_status),
            (present(S::RestoringState), Some(DOWN), yes, UP, BAD, "Restoring state", bad_status),
            (present(S::PoweringUp), Some(DOWN), no, UP, BAD, "Powering up", bad_status),
            // Running, liveliness check fails, or has no result yet.
            (present(S::Up), Some(UP), no, UP, BAD, "Up", liveliness),
            (present(S::Up), None, None, UP, BAD, "Up", liveliness),
            (present(S::SavingState), Some(UP), None, UP, BAD, "Saving State", liveliness),
            // Running, liveliness check passes.
            (present(S::Up), Some(DOWN), yes, UP, GOOD, "Up", None),
            (present(S::PoweringDown), Some(UP), yes, UP, GOOD, "Powering down", None),
            (present(S::MigrationSource), Some(UP), yes, UP, GOOD, "Migration Source", None),
            (present(S::RebootInProgress), Some(UP), yes, UP, GOOD, "RebootInProgress", None),
            (present(S::SavingState), Some(UP), yes, UP, GOOD, "Saving State", None),
            // A down reason on a VM that is not Down is ignored.
            (LocalVm::Present { status: S::Up, down_reason: Some(MigratedAway) }, Some(UP), yes, UP, GOOD, "Up", None),
        ];
        for (vm, previous, live, want_vm, health, detail, reason) in rows {
            let previous = previous.map(prev);
            let got = classify(&vm, previous.as_ref(), live);
            let want = EngineStatus::new(want_vm, health, detail, reason);
            assert_eq!(got, want, "{vm:?} after {previous:?}, liveliness {live:?}");
        }
    }

    #[test]
    fn every_status_is_classified_once() {
        // Each VM manager status lands in exactly one row family of section 3.
        for status in S::ALL {
            let got = classify(&present(status), Some(&prev(UP)), Some(true));
            let expected_vm = match status {
                S::Down | S::MigrationDestination => UNEXPECTED,
                _ => UP,
            };
            assert_eq!(got.vm, expected_vm, "{status}");
            assert_eq!(got.detail, status.as_str());
        }
    }

    #[test]
    fn best_engine_highest_rank_then_lowest_host_id() {
        let up_good = EngineStatus::new(UP, Health::Good, "Up", None);
        let up_bad = EngineStatus::new(UP, Health::Bad, "Up", Some(REASON_LIVELINESS_FAILED));
        let paused = EngineStatus::new(UP, Health::Bad, "Paused", Some(REASON_BAD_VM_STATUS));
        let down = EngineStatus::new(DOWN, Health::Bad, "unknown", Some(REASON_NOT_ON_HOST));
        let unknown = EngineStatus::new(UNKNOWN, Health::Unknown, "unknown", None);
        type Case<'a> = (Vec<(HostId, &'a EngineStatus)>, Option<(HostId, u8)>);
        let cases: Vec<Case<'_>> = vec![
            (vec![], None),
            (vec![(3, &unknown)], Some((3, 0))),
            (vec![(1, &down), (2, &up_good), (3, &up_bad)], Some((2, 4))),
            (
                vec![(5, &up_good), (2, &up_good), (9, &up_good)],
                Some((2, 4)),
            ),
            (vec![(2, &up_good), (5, &up_good)], Some((2, 4))),
            (vec![(7, &paused), (4, &down), (1, &unknown)], Some((7, 2))),
            (vec![(7, &up_bad), (4, &paused), (6, &up_bad)], Some((6, 3))),
            (vec![(8, &down), (3, &down), (1, &unknown)], Some((3, 1))),
        ];
        for (hosts, want) in cases {
            assert_eq!(best_engine(hosts.iter().copied()), want, "{hosts:?}");
            // The answer does not depend on the order hosts are listed in.
            assert_eq!(best_engine(hosts.iter().rev().copied()), want, "{hosts:?}");
        }
    }
}
