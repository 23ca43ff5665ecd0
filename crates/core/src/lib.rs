//! The pure decision core: scoring, engine-status classification, peer liveness,
//! the engine VM lease, and the state machine that ties them together
//! ([`Agent`]).
//!
//! No I/O, no clock reads, no randomness, no threads, no environment: time comes
//! in as [`Millis`], results go out as values. The crate is `no_std` (with
//! `alloc`) and depends only on the metadata codec, itself `no_std`, so none
//! of them can be reached from here: the compiler keeps the core pure.
//! `tests/core_purity.rs` keeps it `no_std` and its dependency list short.

#![no_std]

extern crate alloc;
// Tests may use std (its prelude and macros); the code may not.
#[cfg(test)]
#[macro_use]
extern crate std;

/// The metadata codec, under the name the core's code uses for it.
pub use hosted_engine_metadata as metadata;

pub mod agent;
pub mod classify;
pub mod fence;
pub mod lease;
pub mod liveness;
pub mod score;
pub mod score_conf;
pub mod state;
pub mod time;
pub mod timings;
pub mod violation;

pub use agent::{
    ActionResult, Agent, CoreConfig, Decision, Observation, Request, Sensors, VmAction,
};
pub use classify::{DownReason, LocalVm, VmManagerStatus, best_engine, classify};
pub use fence::{FenceConf, FenceOrder, FenceOutcome, FenceProof, FenceReport, FenceTarget};
pub use lease::{Blocker, ClaimOutcome, Lease, LeaseDefect, LeaseTimings, Phase};
pub use liveness::{PeerLiveness, PeerView};
pub use score::{
    ForcedZero, Penalty, PenaltyKind, ScoreBreakdown, ScoreInputs, ZeroReason, compute,
};
pub use score_conf::ScoreConf;
pub use state::State;
pub use time::Millis;
pub use timings::Timings;
pub use violation::Violation;
