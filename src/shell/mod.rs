//! The I/O shell around the pure core: the agent loop and its traits (which the
//! simulator implements too), and the daemon's real implementations: the
//! metadata volume, the `process` VM driver, the monitors, the clock and log,
//! and running a fence agent (`fence`).
//! The socket, notifications, watchdog and libvirt driver come next.

pub mod agent_loop;
pub mod daemon;
pub mod fence;
pub mod history;
pub mod maintenance;
pub mod metrics;
pub mod monitors;
pub mod notify;
pub mod server;
pub mod signals;
pub mod storage;
pub mod store;
pub mod system;
pub mod vm;
pub mod watchdog;

pub use agent_loop::{AgentLoop, Clock, Events, Io, Monitors, Storage, VmDriver};
