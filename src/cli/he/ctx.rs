//! What every `hosted-engine` command needs ([`Ctx`]: the configuration's
//! paths, the local agent's socket) and its notes on stderr. A leaf: the
//! command modules use it, and it uses none of them.

use std::time::Duration;

use super::failure::Failure;
use super::view;
use crate::config::{AgentConf, ConfFile, ConfigPaths, ErrorKind, HostedEngineConf, Timings};
use crate::proto::{self, ClientError};

/// What every command needs: where the configuration is, and whether errors
/// are JSON.
pub struct Ctx {
    pub paths: ConfigPaths,
    pub json: bool,
}

impl Ctx {
    /// `hosted-engine.conf`, refusing when the engine is not deployed.
    pub fn deployed_conf(&self) -> Result<HostedEngineConf, Failure> {
        match HostedEngineConf::load(&self.paths.he_conf) {
            Ok(conf) if conf.is_deployed() => Ok(conf),
            Ok(_) => Err(Failure::not_deployed()),
            Err(errors) if errors.has_kind(ErrorKind::NotFound) => Err(Failure::not_deployed()),
            Err(errors) => Err(Failure::config(errors.to_string())),
        }
    }

    /// Refuses a `hosted-engine.conf` another user could have changed,
    /// before a command that runs or connects to what it names
    /// (`storage_connect_command`, the VM driver, `libvirt_uri`), as the agent
    /// does (`crate::trust`).
    pub fn trust_conf(&self) -> Result<(), Failure> {
        crate::trust::check_file(&self.paths.he_conf).map_err(|e| {
            Failure::config(format!(
                "{}: not trusted with the commands it names: {e}",
                self.paths.he_conf.display()
            ))
        })
    }

    /// `agent.conf`'s timings, or the defaults (with a note on stderr) when it
    /// cannot be read: a status command should not fail over a timing file.
    pub fn timings(&self) -> Timings {
        match AgentConf::load(&self.paths.agent_conf) {
            Ok(conf) => conf.timings,
            Err(errors) => {
                warn(&format!("{errors}; using the default timings"));
                Timings::default()
            }
        }
    }

    /// The local agent's socket.
    pub fn socket(&self) -> std::path::PathBuf {
        proto::socket_path(&self.paths.runtime_dir)
    }

    /// Whether this host's agent may be running. Only "no socket" or "nobody
    /// listens" says it is not: an agent that accepts and does not answer in
    /// time (hung, or busy on slow storage) still runs and still writes, so the
    /// commands that must not act under a running agent count it as running.
    pub fn agent_may_run(&self) -> bool {
        !matches!(
            self.call(&proto::Request::STATUS, view::AGENT_TIMEOUT),
            Err(ClientError::NotRunning { .. })
        )
    }

    /// `request` to the local agent.
    pub fn call(
        &self,
        request: &proto::Request,
        timeout: Duration,
    ) -> Result<proto::Reply, ClientError> {
        proto::call(&self.socket(), request, timeout)
    }
}

/// A note for the operator on stderr.
pub fn warn(message: &str) {
    write_stderr(&format!("hosted-engine: {message}\n"));
}

/// Writes `text` to stderr. Unlike `eprint!`, a failed write (stderr a closed
/// pipe, as in `hosted-engine --vm-status 2>&1 | head -1`) is ignored instead
/// of panicking: there is nobody left to tell (`docs/architecture.md`, "House
/// rules": a broken pipe is a clean exit).
pub fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
