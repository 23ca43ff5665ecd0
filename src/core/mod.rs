//! The pure decision core: scoring, engine-status classification, peer liveness,
//! the engine VM lease, and the state machine that ties them together
//! ([`Agent`]).
//!
//! No I/O, no clock reads, no randomness, no threads, no environment: time comes
//! in as [`Millis`], results go out as values. `tests/core_purity.rs` fails if
//! this directory mentions any of them.

pub mod agent;
pub mod classify;
pub mod lease;
pub mod liveness;
pub mod score;
pub mod state;
pub mod time;

pub use agent::{
    ActionResult, Agent, CoreConfig, Decision, Observation, Request, Sensors, VmAction,
};
pub use classify::{DownReason, LocalVm, VmManagerStatus, best_engine, classify};
pub use lease::{Blocker, ClaimOutcome, Lease, LeaseDefect, LeaseTimings, Phase};
pub use liveness::{PeerLiveness, PeerView};
pub use score::{
    ForcedZero, Penalty, PenaltyKind, ScoreBreakdown, ScoreInputs, ZeroReason, compute,
};
pub use state::State;
pub use time::Millis;
