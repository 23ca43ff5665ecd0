//! The parts of an [`Agent`](super::Agent)'s memory that go with its state or
//! its start: which flags may be set together is written in their types, and
//! each group is cleared in one place.

use crate::time::Millis;

/// Whether our own slot has been read, and what adopting it fixed.
///
/// A restarted agent must never overwrite the lease or the epoch its
/// predecessor published, so nothing is published before our own slot was
/// read ([`Agent::adopted`](super::Agent::adopted)); the first write sequence
/// exists only from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OwnSlot {
    /// Not read intact yet (and not waited out): we publish nothing.
    Unread,
    /// Read, its lease adopted.
    Adopted {
        /// The first write sequence this agent uses: above every one its
        /// predecessors on this host may have used (see
        /// [`Floors`](super::Floors)).
        seq_first: u64,
    },
}

impl OwnSlot {
    pub(super) fn adopted(self) -> bool {
        matches!(self, OwnSlot::Adopted { .. })
    }
}

/// An operator's start (`--vm-start`, `--vm-start-paused`) under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ManualStart {
    /// Start the VM paused (`--vm-start-paused`).
    pub(super) paused: bool,
}

/// Why the start under way was asked for, beyond the score.
///
/// The two are not exclusive: an operator's request is taken in any state
/// while the VM does not run here, outside local maintenance (also in the
/// step of a crash here, before the state logic decides the local restart),
/// and a local restart is only ended by the end of a start, not by a timeout
/// or a guard that leaves the start states. What they share is their end:
/// every place that ends a start (the engine up, the start failed, a start
/// given up) clears both, through [`StartIntent::end`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct StartIntent {
    /// An operator's start: it may bypass the score and global maintenance,
    /// and says whether to start paused.
    pub(super) manual: Option<ManualStart>,
    /// The start is a local restart after a crash (improvement 1): when it
    /// fails, the engine is handed over (EngineUnexpectedlyDown) rather than
    /// tried again here (EngineDown).
    pub(super) local_restart: bool,
}

impl StartIntent {
    /// Ends the start: returns why it was asked for, and forgets it.
    pub(super) fn end(&mut self) -> StartIntent {
        core::mem::take(self)
    }

    /// Whether the VM is to start paused (only an operator asks for that).
    pub(super) fn paused(self) -> bool {
        self.manual.is_some_and(|manual| manual.paused)
    }
}

/// One stretch of bad engine health while the VM runs here: set in the step
/// that enters EngineUpBadHealth and while in it, forgotten as a whole when
/// the state is left (see `Agent::enter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BadHealth {
    /// Since when health counts as bad towards `bad_health_timeout`; `None`
    /// while every live host's gateway test fails (improvement 4), so that the
    /// count starts afresh after such an outage.
    pub(super) since: Option<Millis>,
    /// The recovery command ran (improvement 2): at most once a stretch,
    /// whether or not an outage reset `since` meanwhile.
    pub(super) recovery_ran: bool,
}
