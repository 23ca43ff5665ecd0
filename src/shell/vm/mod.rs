//! Engine VM drivers: the real implementations of
//! [`VmDriver`](crate::shell::VmDriver) that the daemon hands to the agent loop.
//!
//! - [`process`]: the engine VM is a configured command run as a detached
//!   process (the lab's engine payload, or any wrapper that runs a VM in the
//!   foreground). Needs nothing but Linux `/proc`.
//! - `libvirt` (cargo feature `libvirt`): a libvirt domain defined from an XML
//!   file on the shared storage, through the `virt` crate, so that the default
//!   build needs no libvirt headers.
//!
//! [`EngineVm`] is the one the daemon runs: whichever driver the configuration
//! chose, with every action, its outcome and every change of the VM's state
//! logged (one line each, with the reason when there is one).

#[cfg(feature = "libvirt")]
pub mod libvirt;
pub mod process;

#[cfg(feature = "libvirt")]
pub use libvirt::{LibvirtVm, LibvirtVmConfig};
pub use process::{ConfigProblem, ProcessVm, ProcessVmConfig, ProcessVmConfigError};

use std::time::Duration;

use crate::config::{Config, ConfigPaths};
use crate::core::{LocalVm, VmAction};
use crate::shell::agent_loop::{VmDriver, VmError};

/// The driver behind an [`EngineVm`].
#[derive(Debug)]
pub enum Driver {
    Process(ProcessVm),
    #[cfg(feature = "libvirt")]
    Libvirt(LibvirtVm),
}

/// The daemon's engine VM: one driver, logged.
#[derive(Debug)]
pub struct EngineVm {
    driver: Driver,
    /// The state the last `status()` saw, to log changes only.
    last: Option<LocalVm>,
    /// Where the VM's changes and actions go for the cluster history.
    history: Option<crate::shell::history::History>,
}

impl EngineVm {
    pub fn new(driver: Driver) -> EngineVm {
        EngineVm {
            driver,
            last: None,
            history: None,
        }
    }

    /// Records the VM's state changes and actions in the cluster history too.
    pub fn set_history(&mut self, history: crate::shell::history::History) {
        self.history = Some(history);
    }

    fn record(&self, text: String) {
        if let Some(history) = &self.history {
            history.record(crate::metadata::history::EventKind::Vm, text);
        }
    }

    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The driver's name as `vm_driver` spells it.
    pub fn kind(&self) -> &'static str {
        match &self.driver {
            Driver::Process(_) => "process",
            #[cfg(feature = "libvirt")]
            Driver::Libvirt(_) => "libvirt",
        }
    }

    /// The pid of the process that runs the VM, when known (for the CPU
    /// monitor, which leaves the engine VM's own load out).
    pub fn vm_pid(&self) -> Option<u32> {
        match &self.driver {
            Driver::Process(vm) => vm.vm_pid(),
            #[cfg(feature = "libvirt")]
            Driver::Libvirt(vm) => vm.vm_pid(),
        }
    }

    fn take_error(&mut self) -> Option<String> {
        match &mut self.driver {
            Driver::Process(vm) => vm.take_error(),
            #[cfg(feature = "libvirt")]
            Driver::Libvirt(vm) => vm.take_error(),
        }
    }

    fn inner(&mut self) -> &mut dyn VmDriver {
        match &mut self.driver {
            Driver::Process(vm) => vm,
            #[cfg(feature = "libvirt")]
            Driver::Libvirt(vm) => vm,
        }
    }
}

/// Where the `process` driver records its VM, in the state directory.
pub const PROCESS_STATE_FILE: &str = "engine-vm.json";
/// Where the VM's (process driver) or the recovery command's output goes, in
/// the state directory.
pub const VM_LOG_FILE: &str = "engine-vm.log";

/// The engine VM driver `hosted-engine.conf` asks for (`vm_driver`), built
/// from the configuration: for the daemon, and for `hosted-engine` commands
/// that act on the local VM with the agent down. Does no I/O.
pub fn from_config(config: &Config, paths: &ConfigPaths) -> Result<EngineVm, String> {
    let he = &config.hosted_engine;
    if he.vm_driver == crate::config::VmDriverKind::Libvirt {
        return libvirt_from_config(config, paths);
    }
    let Some(argv) = he.vm_command.clone() else {
        return Err(format!(
            "{}: no engine VM driver configured: set vm_command (vm_driver=process), or \
             vm_driver=libvirt with vm_xml",
            paths.he_conf.display()
        ));
    };
    let timings = &config.agent.timings;
    let vm = ProcessVm::new(ProcessVmConfig {
        argv,
        state_file: paths.state_dir.join(PROCESS_STATE_FILE),
        log_file: paths.state_dir.join(VM_LOG_FILE),
        shutdown_grace: Duration::from_millis(timings.vm_shutdown_grace_ms),
        env: Vec::new(),
        host_id: Some(he.host_id),
        recovery_argv: config.agent.recovery.command.clone(),
        recovery_timeout: Duration::from_millis(config.agent.recovery.timeout_ms),
    })
    .map_err(|e| e.to_string())?;
    Ok(EngineVm::new(Driver::Process(vm)))
}

#[cfg(feature = "libvirt")]
fn libvirt_from_config(config: &Config, paths: &ConfigPaths) -> Result<EngineVm, String> {
    let he = &config.hosted_engine;
    let conf = paths.he_conf.display();
    let xml = he
        .vm_xml
        .clone()
        .ok_or_else(|| format!("{conf}: vm_driver=libvirt needs vm_xml"))?;
    let uuid = he
        .vmid
        .clone()
        .ok_or_else(|| format!("{conf}: vm_driver=libvirt needs vmid (the domain's UUID)"))?;
    let timings = &config.agent.timings;
    let vm = LibvirtVm::new(LibvirtVmConfig {
        uri: he.libvirt_uri.clone(),
        xml,
        uuid,
        shutdown_grace: Duration::from_millis(timings.vm_shutdown_grace_ms),
        call_timeout: libvirt::CALL_TIMEOUT_DEFAULT,
        host_id: Some(he.host_id),
        recovery_argv: config.agent.recovery.command.clone(),
        recovery_timeout: Duration::from_millis(config.agent.recovery.timeout_ms),
        log_file: paths.state_dir.join(VM_LOG_FILE),
    })?;
    Ok(EngineVm::new(Driver::Libvirt(vm)))
}

#[cfg(not(feature = "libvirt"))]
fn libvirt_from_config(_config: &Config, paths: &ConfigPaths) -> Result<EngineVm, String> {
    // hosted-engine.conf's validation says so first, naming the line.
    Err(format!(
        "{}: vm_driver=libvirt: this build has no libvirt driver (build with \
         `cargo build --features libvirt`), or use vm_driver=process",
        paths.he_conf.display()
    ))
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
            let line = match self.last {
                None => format!("engine VM: {}", state_name(now)),
                Some(before) => format!("engine VM: {} -> {}", state_name(before), state_name(now)),
            };
            tracing::info!("{line}");
            self.record(line);
            self.last = Some(now);
        }
        now
    }

    fn act(&mut self, action: VmAction) -> Result<(), VmError> {
        let what = describe(action);
        tracing::debug!("engine VM {what}: asking the {} driver", self.kind());
        let result = self.inner().act(action);
        // The driver keeps a failure's words (or a note on a success) too.
        let note = self.take_error();
        let line = match (&result, note) {
            (Ok(()), None) => {
                let line = format!("engine VM {what}: done");
                tracing::info!("{line}");
                line
            }
            (Ok(()), Some(note)) => {
                let line = format!("engine VM {what}: done, but {note}");
                tracing::warn!("{line}");
                line
            }
            (Err(e), _) => {
                let line = format!("engine VM {what} failed: {e}");
                tracing::warn!("{line}");
                line
            }
        };
        self.record(line);
        result
    }
}
