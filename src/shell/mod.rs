//! The I/O shell around the pure core. Today: the agent loop and its traits,
//! which the simulator implements; the daemon's real implementations (storage,
//! VM drivers, monitors, socket, notifier, watchdog) follow.

pub mod agent_loop;
pub mod monitors;
pub mod signals;
pub mod storage;
pub mod system;

pub use agent_loop::{AgentLoop, Clock, Events, Io, Monitors, Storage, VmDriver};
