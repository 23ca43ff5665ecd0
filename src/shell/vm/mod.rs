//! Engine VM drivers: the real implementations of
//! [`VmDriver`](crate::shell::VmDriver) that the daemon hands to the agent loop.
//!
//! - [`process`]: the engine VM is a configured command run as a detached
//!   process (the lab's engine payload, or any wrapper that runs a VM in the
//!   foreground). Needs nothing but Linux `/proc`.
//! - `libvirt` (later): a libvirt domain, behind a cargo feature so that the
//!   default build needs no libvirt headers.

pub mod process;

pub use process::{ConfigProblem, ProcessVm, ProcessVmConfig, ProcessVmConfigError};
