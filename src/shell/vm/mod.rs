//! Engine VM drivers: the real implementations of
//! [`VmDriver`](crate::shell::VmDriver) that the daemon hands to the agent loop.
//!
//! - [`process`]: the engine VM is a configured command run as a detached
//!   process (the lab's engine payload, or any wrapper that runs a VM in the
//!   foreground). Needs nothing but Linux `/proc`.
//! - `libvirt` (later): a libvirt domain, behind a cargo feature so that the
//!   default build needs no libvirt headers.
//!
//! [`EngineVm`] is the one the daemon runs: whichever driver the configuration
//! chose, with every action, its outcome and every change of the VM's state
//! logged (one line each, with the reason when there is one).

pub mod process;

pub use process::{ConfigProblem, ProcessVm, ProcessVmConfig, ProcessVmConfigError};

use crate::core::{LocalVm, VmAction};
use crate::shell::agent_loop::VmDriver;

/// The driver behind an [`EngineVm`].
#[derive(Debug)]
pub enum Driver {
    Process(ProcessVm),
}

/// The daemon's engine VM: one driver, logged.
#[derive(Debug)]
pub struct EngineVm {
    driver: Driver,
    /// The state the last `status()` saw, to log changes only.
    last: Option<LocalVm>,
}

impl EngineVm {
    pub fn new(driver: Driver) -> EngineVm {
        EngineVm { driver, last: None }
    }

    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The driver's name as `vm_driver` spells it.
    pub fn kind(&self) -> &'static str {
        match &self.driver {
            Driver::Process(_) => "process",
        }
    }

    /// The pid of the process that runs the VM, when known (for the CPU
    /// monitor, which leaves the engine VM's own load out).
    pub fn vm_pid(&self) -> Option<u32> {
        match &self.driver {
            Driver::Process(vm) => vm.vm_pid(),
        }
    }

    fn take_error(&mut self) -> Option<String> {
        match &mut self.driver {
            Driver::Process(vm) => vm.take_error(),
        }
    }

    fn inner(&mut self) -> &mut dyn VmDriver {
        match &mut self.driver {
            Driver::Process(vm) => vm,
        }
    }
}

/// How an action reads in the log.
pub fn describe(action: VmAction) -> String {
    match action {
        VmAction::Start {
            paused: false,
            epoch,
        } => format!("start (epoch {epoch})"),
        VmAction::Start {
            paused: true,
            epoch,
        } => format!("start paused (epoch {epoch})"),
        VmAction::Shutdown => "graceful shutdown".into(),
        VmAction::PowerOff => "power-off".into(),
        VmAction::RunRecovery => "engine recovery command".into(),
    }
}

/// How a state reads in the log: the VM manager's words.
pub fn state_name(vm: LocalVm) -> String {
    match vm {
        LocalVm::QueryFailed => "unknown (query failed)".into(),
        LocalVm::NotPresent => "not present".into(),
        LocalVm::Present {
            status,
            down_reason: Some(reason),
        } => format!("{} ({reason:?})", status.as_str()),
        LocalVm::Present { status, .. } => status.as_str().into(),
    }
}

impl VmDriver for EngineVm {
    fn status(&mut self) -> LocalVm {
        let now = self.inner().status();
        if let Some(e) = self.take_error() {
            tracing::warn!("engine VM ({}): {e}", self.kind());
        }
        if self.last != Some(now) {
            match self.last {
                None => tracing::info!("engine VM: {}", state_name(now)),
                Some(before) => tracing::info!(
                    "engine VM: {} -> {}",
                    state_name(before),
                    state_name(now)
                ),
            }
            self.last = Some(now);
        }
        now
    }

    fn act(&mut self, action: VmAction) -> bool {
        let what = describe(action);
        tracing::debug!("engine VM {what}: asking the {} driver", self.kind());
        let ok = self.inner().act(action);
        let why = self.take_error();
        match (ok, why) {
            (true, None) => tracing::info!("engine VM {what}: done"),
            (true, Some(note)) => tracing::warn!("engine VM {what}: done, but {note}"),
            (false, Some(e)) => tracing::warn!("engine VM {what} failed: {e}"),
            (false, None) => tracing::warn!("engine VM {what} failed (no reason given)"),
        }
        ok
    }
}
