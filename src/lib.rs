//! hosted-engine: high availability for a self-hosted engine VM.
//!
//! A compatible successor of oVirt's Hosted Engine HA. The crate is one library
//! shared by three binaries (`hosted-engine`, `ovirt-ha-agent`, `he-lab`),
//! around two `no_std` crates: the byte-exact metadata codec
//! (`crates/metadata`) and the pure decision core above it (`crates/core`),
//! which the I/O shell here drives. `docs/architecture.md` is the map.

pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod docs;
pub mod lab;
pub mod proto;
pub mod shell;
pub mod sim;
pub mod trust;

/// The pure decision core, its own `no_std` crate (`crates/core`).
pub use hosted_engine_core as core;
/// The metadata codec, its own `no_std` crate (`crates/metadata`); its I/O
/// store is [`shell::store`].
pub use hosted_engine_metadata as metadata;

/// `ovirt-ha-agent`'s entry point; returns the process exit code.
pub fn agent_main() -> i32 {
    cli::agent_main()
}
