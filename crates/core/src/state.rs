//! The agent's states (`docs/compat.md` section 5) and what each one
//! implies for the score and the published metadata.

use core::fmt;

use super::score::ForcedZero;
use crate::Timings;

/// Every state of the reference state machine, with its reference name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    StartState,
    ReinitializeFSM,
    EngineDown,
    EngineStart,
    EngineStarting,
    EngineUp,
    EngineUpBadHealth,
    EngineMaybeAway,
    EngineUnexpectedlyDown,
    EngineStop,
    EngineForceStop,
    GlobalMaintenance,
    LocalMaintenance,
    UnknownLocalVmState,
    AgentStopped,
}

impl State {
    pub const ALL: [State; 15] = [
        State::StartState,
        State::ReinitializeFSM,
        State::EngineDown,
        State::EngineStart,
        State::EngineStarting,
        State::EngineUp,
        State::EngineUpBadHealth,
        State::EngineMaybeAway,
        State::EngineUnexpectedlyDown,
        State::EngineStop,
        State::EngineForceStop,
        State::GlobalMaintenance,
        State::LocalMaintenance,
        State::UnknownLocalVmState,
        State::AgentStopped,
    ];

    /// The name the reference publishes (`state=` in the extra text).
    pub fn name(self) -> &'static str {
        match self {
            State::StartState => "StartState",
            State::ReinitializeFSM => "ReinitializeFSM",
            State::EngineDown => "EngineDown",
            State::EngineStart => "EngineStart",
            State::EngineStarting => "EngineStarting",
            State::EngineUp => "EngineUp",
            State::EngineUpBadHealth => "EngineUpBadHealth",
            State::EngineMaybeAway => "EngineMaybeAway",
            State::EngineUnexpectedlyDown => "EngineUnexpectedlyDown",
            State::EngineStop => "EngineStop",
            State::EngineForceStop => "EngineForceStop",
            State::GlobalMaintenance => "GlobalMaintenance",
            State::LocalMaintenance => "LocalMaintenance",
            State::UnknownLocalVmState => "UnknownLocalVmState",
            State::AgentStopped => "AgentStopped",
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The state's own timeout (section 5), if it has one.
    pub fn timeout_ms(self, t: &Timings) -> Option<u64> {
        match self {
            State::EngineStarting => Some(t.engine_starting_timeout_ms),
            State::EngineMaybeAway => Some(t.engine_maybe_away_timeout_ms),
            State::EngineUnexpectedlyDown => Some(t.engine_unexpectedly_down_ms),
            State::EngineStop => Some(t.engine_stop_timeout_ms),
            _ => None,
        }
    }

    /// Where the state goes when its timeout fires.
    pub fn on_timeout(self) -> Option<State> {
        match self {
            State::EngineStarting => Some(State::EngineStop),
            State::EngineMaybeAway => Some(State::EngineUnexpectedlyDown),
            State::EngineUnexpectedlyDown => Some(State::EngineDown),
            State::EngineStop => Some(State::EngineForceStop),
            _ => None,
        }
    }

    /// States that publish score 0 (section 4).
    pub fn forced_zero(self) -> Option<ForcedZero> {
        match self {
            State::StartState => Some(ForcedZero::StartState),
            State::ReinitializeFSM => Some(ForcedZero::ReinitializeFSM),
            State::LocalMaintenance => Some(ForcedZero::LocalMaintenance),
            State::EngineUnexpectedlyDown => Some(ForcedZero::EngineUnexpectedlyDown),
            State::AgentStopped => Some(ForcedZero::AgentStopped),
            _ => None,
        }
    }

    /// Whether the free-memory penalty applies (section 4: not while the engine
    /// runs here or in global maintenance).
    pub fn counts_free_memory(self) -> bool {
        !matches!(
            self,
            State::EngineUp | State::EngineUpBadHealth | State::GlobalMaintenance
        )
    }

    /// Whether the maintenance guards (global, unknown VM state, local) run
    /// before this state's own logic.
    pub fn has_guards(self) -> bool {
        !matches!(
            self,
            State::StartState
                | State::GlobalMaintenance
                | State::LocalMaintenance
                | State::UnknownLocalVmState
                | State::AgentStopped
        )
    }

    /// States in which this host wants the engine VM to run here (and so keeps
    /// the lease even while the VM is momentarily down).
    pub fn wants_vm(self) -> bool {
        matches!(
            self,
            State::EngineStart | State::EngineStarting | State::EngineUp | State::EngineUpBadHealth
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(State::from_name(state.name()), Some(state));
        }
    }

    #[test]
    fn reference_timeouts() {
        let t = Timings::reference();
        let table = [
            (State::EngineStarting, 600_000, State::EngineStop),
            (
                State::EngineMaybeAway,
                40_000,
                State::EngineUnexpectedlyDown,
            ),
            (State::EngineUnexpectedlyDown, 560_000, State::EngineDown),
            (State::EngineStop, 300_000, State::EngineForceStop),
        ];
        for (state, ms, next) in table {
            assert_eq!(state.timeout_ms(&t), Some(ms), "{state}");
            assert_eq!(state.on_timeout(), Some(next), "{state}");
        }
        assert_eq!(State::EngineUp.timeout_ms(&t), None);
    }

    #[test]
    fn forced_zero_states() {
        let zero: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| s.forced_zero().is_some())
            .collect();
        assert_eq!(
            zero,
            [
                State::StartState,
                State::ReinitializeFSM,
                State::EngineUnexpectedlyDown,
                State::LocalMaintenance,
                State::AgentStopped
            ]
        );
    }
}
