//! The pure decision core: scoring, engine-status classification, peer liveness,
//! the engine VM lease, and (to come) the state machine.
//!
//! No I/O, no clock reads, no randomness, no threads, no environment: time comes
//! in as [`Millis`], results go out as values. `tests/core_purity.rs` fails if
//! this directory mentions any of them.

pub mod lease;
pub mod liveness;
pub mod time;

pub use lease::{Blocker, ClaimOutcome, Lease, LeaseTimings, Phase};
pub use liveness::{PeerLiveness, PeerView};
pub use time::Millis;
