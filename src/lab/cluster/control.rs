//! The supervisor's control socket (`<lab>/supervisor.sock`): one JSON request
//! per line, one JSON reply per line, then the connection closes.
//!
//! Requests: `{"op":"view"}`, `{"op":"fault","fault":{"verb":"vm-kill","host":2}}`,
//! `{"op":"heal"}`. Replies: `{"reply":"view","view":{...}}`,
//! `{"reply":"done","message":"..."}`, `{"reply":"error","message":"..."}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::faults::Fault;
use super::procs::ProcId;

/// Longest request or reply line.
pub const LINE_MAX_BYTES: u64 = 1 << 20;
/// How long a view may take.
pub const VIEW_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a fault or heal may take (namespace commands included).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum CtlRequest {
    View,
    Fault { fault: Fault },
    Heal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum CtlReply {
    View { view: SupervisorView },
    Done { message: String },
    Error { message: String },
}

/// Whether a host is powered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    On,
    Off,
}

/// The supervisor's view of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    pub id: u16,
    pub power: Power,
    /// Why the host is off (`host-crash`, `watchdog`, `fenced through its BMC`).
    pub off_reason: Option<String>,
    /// The agent process, while one runs.
    pub agent: Option<ProcId>,
    /// Agent starts so far (1 + restarts).
    pub agent_starts: u32,
    /// Restarts were given up (too many in a short time, as systemd's start limit).
    pub agent_failed: bool,
    /// Stopped by `agent-stop`: not restarted until `agent-start` or heal.
    #[serde(default)]
    pub agent_stopped: bool,
    /// How the last agent process ended.
    pub last_exit: Option<String>,
    /// A pause (SIGSTOP) in force, with the time left.
    pub paused_ms_left: Option<u64>,
    /// Time since the watchdog was last petted; `None` while disarmed.
    pub watchdog_idle_ms: Option<u64>,
    /// The watchdog does not count (`agent-pause-unfenced`).
    #[serde(default)]
    pub watchdog_suspended: bool,
    /// The host's network is up (not down by a fault, not cut off).
    pub network_up: bool,
    /// `mounted`, `unmounted`, `read-only`; `blocked` when reconnecting is refused.
    pub storage: String,
    /// Its BMC (`--fencing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<BmcView>,
}

/// The supervisor's view of one host's BMC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcView {
    /// Where it listens (`fencing.conf`'s `ip` and `ipport`).
    pub address: String,
    /// Its `ipmi_sim`.
    pub pid: i32,
    /// Its power as it reports it (its power sentinel runs): the host's,
    /// unless it lies.
    pub power: Power,
    /// `unreachable`, `wrong-credentials`, `lies` (its faults), `gone`.
    pub faults: Vec<String>,
}

/// A fault injected since the last heal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub verb: String,
    pub hosts: Vec<u16>,
    pub at_unix_ms: u64,
    pub detail: String,
}

/// What the supervisor knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorView {
    pub pid: i32,
    pub updated_unix_ms: u64,
    pub watchdog_timeout_ms: u64,
    pub hosts: Vec<HostView>,
    pub faults: Vec<FaultRecord>,
}

/// Sends one request and reads its reply.
pub fn call(socket: &Path, request: &CtlRequest, timeout: Duration) -> anyhow::Result<CtlReply> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (is the lab's supervisor running? `he-lab status` tells)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(stream)
        .take(LINE_MAX_BYTES)
        .read_line(&mut reply)
        .map_err(|e| anyhow::anyhow!("{}: no reply: {e}", socket.display()))?;
    serde_json::from_str(&reply)
        .map_err(|e| anyhow::anyhow!("{}: bad reply: {e}", socket.display()))
}

/// Reads one request from a connection the supervisor accepted.
pub fn read_request(stream: &UnixStream) -> Result<CtlRequest, String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(stream)
        .take(LINE_MAX_BYTES)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("bad request: {e}"))
}

/// Writes the reply.
pub fn write_reply(mut stream: &UnixStream, reply: &CtlReply) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if let Ok(mut line) = serde_json::to_vec(reply) {
        line.push(b'\n');
        let _ = stream.write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_shape() {
        let text = serde_json::to_string(&CtlRequest::Fault {
            fault: Fault::VmKill { host: Some(2) },
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"op":"fault","fault":{"verb":"vm-kill","host":2}}"#
        );
        let back: CtlRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back,
            CtlRequest::Fault {
                fault: Fault::VmKill { host: Some(2) }
            }
        );
        assert_eq!(
            serde_json::to_string(&CtlRequest::Heal).unwrap(),
            r#"{"op":"heal"}"#
        );
    }
}
