//! The control socket's protocol, shared by `ovirt-ha-agent` (the server,
//! `shell::server`) and `hosted-engine` (the client, [`call`]).
//!
//! A Unix stream socket (`<runtime_dir>/agent.sock`, mode 0660). Each message is
//! one JSON object on one line: at most [`REQUEST_LINE_MAX_BYTES`] per request
//! and [`REPLY_LINE_MAX_BYTES`] per reply, every one carrying
//! `"version": 1`. `docs/protocol.md` documents every message with an example;
//! the field names here are that document's and do not change within a version.
//! Names the reference's `--vm-status --json` uses (`reference/ovirt-compat.md`
//! section 7) are kept exactly, underscores included; our own names are
//! kebab-case.

mod client;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::score::{ScoreBreakdown, ZeroReason};
use crate::metadata::{EngineStatus, HostId, HostSlot};

pub use client::{ClientError, call};
pub(crate) use client::{LineReader, ReadLine, connect_unix, is_timeout, os_reason, send_all};

/// The only protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The socket's file name inside the runtime directory.
pub const SOCKET_NAME: &str = "agent.sock";
/// The socket's permissions: root and the socket's group.
pub const SOCKET_MODE: u32 = 0o660;
/// Longest request line, without its newline.
pub const REQUEST_LINE_MAX_BYTES: usize = 64 * 1024;
/// Longest reply line, without its newline.
pub const REPLY_LINE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Most state transitions the agent keeps and a `transitions` reply carries.
pub const TRANSITIONS_MAX: usize = 100;

/// `<runtime_dir>/agent.sock`.
pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

/// What a client asks (the `request` member of a request line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Request {
    /// This agent's live view of every host.
    Status,
    /// `--set-maintenance --mode=...` (root only).
    SetMaintenance { mode: MaintenanceMode },
    /// `--vm-start` / `--vm-start-paused` (root only): queued for the loop,
    /// which starts the VM only under the lease.
    VmStart {
        #[serde(default)]
        paused: bool,
    },
    /// `--vm-shutdown` (root only): queued for the loop.
    VmShutdown,
    /// `--vm-poweroff` (root only): queued for the loop.
    VmPoweroff,
    /// `--check-liveliness`: a fresh probe of the engine's health page.
    CheckLiveliness,
    /// The last state transitions, oldest first; at most `limit`, at most
    /// [`TRANSITIONS_MAX`].
    Transitions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
}

impl Request {
    /// The `kind` tag, which the reply's result repeats.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::SetMaintenance { .. } => "set-maintenance",
            Request::VmStart { .. } => "vm-start",
            Request::VmShutdown => "vm-shutdown",
            Request::VmPoweroff => "vm-poweroff",
            Request::CheckLiveliness => "check-liveliness",
            Request::Transitions { .. } => "transitions",
        }
    }

    /// Whether the request changes anything (only root may send it).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Request::SetMaintenance { .. }
                | Request::VmStart { .. }
                | Request::VmShutdown
                | Request::VmPoweroff
        )
    }

    /// The VM request the agent loop takes, for the `vm-*` kinds.
    pub fn vm_request(&self) -> Option<crate::core::Request> {
        match *self {
            Request::VmStart { paused } => Some(crate::core::Request::StartVm { paused }),
            Request::VmShutdown => Some(crate::core::Request::ShutdownVm),
            Request::VmPoweroff => Some(crate::core::Request::PowerOffVm),
            _ => None,
        }
    }

    /// A client timeout that fits the request: `status` is answered from memory
    /// (3 s, issue 5), `set-maintenance` writes `ha.conf` and the metadata (each
    /// bounded by the storage timeout), `check-liveliness` waits for the
    /// reference's 20 s HTTP probe.
    pub fn default_timeout(&self) -> Duration {
        match self {
            Request::SetMaintenance { .. } => Duration::from_secs(15),
            Request::CheckLiveliness => Duration::from_secs(25),
            _ => Duration::from_secs(3),
        }
    }
}

/// `--set-maintenance --mode=<global|local|none>` (`reference/ovirt-compat.md`
/// section 6: the modes are exclusive, setting one clears the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceMode {
    Global,
    Local,
    None,
}

impl MaintenanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceMode::Global => "global",
            MaintenanceMode::Local => "local",
            MaintenanceMode::None => "none",
        }
    }

    /// The `--mode` value, exactly as the reference accepts it.
    pub fn from_str_exact(s: &str) -> Option<MaintenanceMode> {
        [
            MaintenanceMode::Global,
            MaintenanceMode::Local,
            MaintenanceMode::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// What the agent answers (the `result` member of a successful reply); its
/// `kind` is the request's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    /// Boxed: by far the largest answer.
    Status(Box<StatusReply>),
    /// Maintenance set (`ha.conf` and/or the global block written).
    SetMaintenance {
        mode: MaintenanceMode,
    },
    /// Queued: the loop takes it at its next tick; follow `status` for the effect.
    VmStart {
        paused: bool,
    },
    VmShutdown,
    VmPoweroff,
    CheckLiveliness(Liveliness),
    Transitions {
        transitions: Vec<Transition>,
    },
}

impl Reply {
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Status(_) => "status",
            Reply::SetMaintenance { .. } => "set-maintenance",
            Reply::VmStart { .. } => "vm-start",
            Reply::VmShutdown => "vm-shutdown",
            Reply::VmPoweroff => "vm-poweroff",
            Reply::CheckLiveliness(_) => "check-liveliness",
            Reply::Transitions { .. } => "transitions",
        }
    }
}

/// The agent's live view. `hosts` in ascending host id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// When the agent's loop took this snapshot.
    pub taken: Taken,
    /// How old the snapshot was when answered: a large value means the loop
    /// is stuck although the socket still answers.
    #[serde(rename = "age-ms", default)]
    pub age_ms: u64,
    /// The reference's name (section 7).
    pub global_maintenance: bool,
    /// This agent itself.
    pub agent: AgentStatus,
    pub hosts: Vec<HostStatus>,
    /// Slots that could not be decoded (bad CRC, torn), in ascending host id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableSlot>,
}

/// A point in time on both clocks: the agent's monotonic clock (decisions) and
/// the wall clock (display only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Taken {
    pub monotonic_ms: u64,
    pub wall_unix: i64,
}

/// This agent's own state, score and lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AgentStatus {
    pub host_id: HostId,
    pub hostname: String,
    /// The state machine's state, by its reference name (`EngineUp`, ...).
    pub state: String,
    pub score: ScoreView,
    pub lease: LeasePhaseView,
    /// Whether the agent has watched long enough (`host_alive_timeout`) to
    /// call any peer alive (`reference/ovirt-compat.md` section 2).
    pub has_history: bool,
    /// Whether the agent has read its own slot (it publishes only after that).
    pub adopted: bool,
}

/// How the score came about (`core::score::ScoreBreakdown`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScoreView {
    pub score: u32,
    pub base: u32,
    /// In the order of `reference/ovirt-compat.md` section 4; 0 points means
    /// the observation is unknown yet.
    pub penalties: Vec<PenaltyView>,
    pub zero_reason: Option<ZeroReasonView>,
    /// One line, e.g. `3400 - network 320 = 3080`.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PenaltyView {
    /// `config`, `network`, `bridge`, `cpu`, `memory` or `retry`.
    pub kind: String,
    /// The `agent.conf` `[score]` key of the full penalty.
    pub conf_key: String,
    pub points: u32,
    pub detail: String,
}

/// Why the score is 0 whatever the penalties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ZeroReasonView {
    ForcedByState { state: String },
    TooManyFailedStarts,
}

impl From<&ScoreBreakdown> for ScoreView {
    fn from(b: &ScoreBreakdown) -> ScoreView {
        ScoreView {
            score: b.score,
            base: b.base,
            penalties: b
                .penalties
                .iter()
                .map(|p| PenaltyView {
                    kind: p.kind.name().to_owned(),
                    conf_key: p.kind.conf_key().to_owned(),
                    points: p.points,
                    detail: p.detail.clone(),
                })
                .collect(),
            zero_reason: b.zero_reason.map(|r| match r {
                ZeroReason::Forced(state) => ZeroReasonView::ForcedByState {
                    state: state.as_str().to_owned(),
                },
                ZeroReason::TooManyFailedStarts => ZeroReasonView::TooManyFailedStarts,
            }),
            summary: b.summary(),
        }
    }
}

/// Where this agent is in the lease protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeasePhaseView {
    pub phase: LeasePhase,
    /// The current epoch (kept when idle: it never goes back).
    pub epoch: u64,
    /// Start of the last successful publish (a renewal), monotonic ms.
    pub last_renewal_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeasePhase {
    Idle,
    Claiming,
    Holding,
    /// Giving the lease up over a VM not confirmed down yet (still a hold).
    Fencing,
}

/// One host as this agent read it. The first twelve fields are the
/// reference's `--vm-status --json` fields with its names and meanings
/// (section 7); `state`, `lease` and `silent-ms` are ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    #[serde(rename = "host-id")]
    pub host_id: HostId,
    #[serde(rename = "host-ts")]
    pub host_ts: u64,
    pub score: u32,
    #[serde(rename = "engine-status")]
    pub engine_status: EngineStatusView,
    pub hostname: String,
    pub maintenance: bool,
    pub stopped: bool,
    /// 8 lowercase hex digits; `null` for the oldest writers' records.
    pub crc32: Option<String>,
    pub conf_on_shared_storage: bool,
    pub local_conf_timestamp: u64,
    /// The extra text, `key=value\n` lines.
    pub extra: String,
    /// Alive in this agent's view (its heartbeat changed within
    /// `host_alive_timeout`; for the agent's own host: it published within it).
    #[serde(rename = "live-data")]
    pub live_data: bool,
    /// The `state=` line of the extra text.
    #[serde(default)]
    pub state: Option<String>,
    /// The published lease state, when the host publishes one.
    #[serde(default)]
    pub lease: Option<LeaseView>,
    /// How long its heartbeat has been still in this agent's view.
    #[serde(rename = "silent-ms", default)]
    pub silent_ms: Option<u64>,
}

impl HostStatus {
    /// `slot` of host `id`, with liveness as the caller judged it.
    pub fn from_slot(
        id: HostId,
        slot: &HostSlot,
        live_data: bool,
        silent_ms: Option<u64>,
    ) -> HostStatus {
        let r = &slot.record;
        HostStatus {
            host_id: id,
            host_ts: r.host_ts,
            score: r.score,
            engine_status: EngineStatusView::from_raw(&r.engine_status),
            hostname: r.hostname.clone(),
            maintenance: r.local_maintenance,
            stopped: r.stopped,
            crc32: slot.crc32.map(|c| format!("{c:08x}")),
            conf_on_shared_storage: r.conf_on_shared_storage,
            local_conf_timestamp: r.vm_conf_refresh_time,
            extra: slot.extra.to_text(),
            live_data,
            state: slot.extra.get("state").map(str::to_owned),
            lease: slot.extra.lease().ok().flatten().map(|l| LeaseView {
                kind: l.kind.as_str().to_owned(),
                epoch: l.epoch,
            }),
            silent_ms,
        }
    }
}

/// The engine status object (`reference/ovirt-compat.md` section 3), keys in
/// the reference order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatusView {
    pub vm: String,
    pub health: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EngineStatusView {
    /// The published text parsed; text that does not parse reads as unknown,
    /// with the parse error as the reason.
    pub fn from_raw(raw: &str) -> EngineStatusView {
        match EngineStatus::parse(raw) {
            Ok(s) => EngineStatusView {
                vm: s.vm.as_str().to_owned(),
                health: s.health.as_str().to_owned(),
                detail: s.detail,
                reason: s.reason,
            },
            Err(e) => EngineStatusView {
                vm: "unknown".into(),
                health: "unknown".into(),
                detail: "unknown".into(),
                reason: Some(format!("unreadable engine status: {e}")),
            },
        }
    }
}

/// A published lease state: `none`, `claim` or `held`, and its epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub kind: String,
    pub epoch: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UnreadableSlot {
    pub host_id: HostId,
    pub error: String,
}

/// The result of `check-liveliness` (`reference/ovirt-compat.md` section 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liveliness {
    pub up: bool,
    /// The health page's first line, or why there was no usable answer.
    pub message: String,
}

/// One state transition of this agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub monotonic_ms: u64,
    pub wall_unix: i64,
}

/// A request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    pub version: u32,
    /// Chosen by the client, echoed in the reply. 0 is best avoided: replies
    /// to lines whose id could not be read carry 0.
    pub id: u64,
    pub request: Request,
}

/// A reply line: `ok` with `result`, or not `ok` with `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyFrame {
    pub version: u32,
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RemoteError>,
}

impl ReplyFrame {
    pub fn success(id: u64, result: Reply) -> ReplyFrame {
        ReplyFrame {
            version: PROTOCOL_VERSION,
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn failure(id: u64, error: RemoteError) -> ReplyFrame {
        ReplyFrame {
            version: PROTOCOL_VERSION,
            id,
            ok: false,
            result: None,
            error: Some(error),
        }
    }

    /// The reply as one line with its newline. A reply over
    /// [`REPLY_LINE_MAX_BYTES`] becomes a `failed` error instead.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = serde_json::to_vec(self).map_err(|e| e.to_string());
        let mut line = match encoded {
            Ok(line) if line.len() <= REPLY_LINE_MAX_BYTES => line,
            Ok(line) => failure_line(
                self.id,
                format!(
                    "reply of {} bytes exceeds the {REPLY_LINE_MAX_BYTES}-byte limit",
                    line.len()
                ),
            ),
            Err(e) => failure_line(self.id, format!("cannot encode the reply: {e}")),
        };
        line.push(b'\n');
        line
    }
}

fn failure_line(id: u64, message: String) -> Vec<u8> {
    let frame = ReplyFrame::failure(id, RemoteError::new(ErrorCode::Failed, message));
    // A failure frame holds two short strings and numbers: it always encodes.
    serde_json::to_vec(&frame).unwrap_or_default()
}

/// Error codes. New codes need a new protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, missing or mistyped members, unknown kind, line
    /// too long.
    BadRequest,
    /// `version` is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// A mutating request from a peer that is not root.
    Forbidden,
    /// Too many clients, the request queue is full, or no status yet: retry.
    Busy,
    /// No complete request in time.
    Timeout,
    /// The agent tried and failed (the message says why).
    Failed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Failed => "failed",
        }
    }
}

/// An error the agent answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub code: ErrorCode,
    pub message: String,
}

impl RemoteError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RemoteError {
        RemoteError {
            code,
            message: message.into(),
        }
    }
}

/// A request line the server cannot take: the id to answer with (0 when it
/// could not be read) and the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub id: u64,
    pub error: RemoteError,
}

/// Parses one request line (without its newline). The version is checked
/// before the request itself, so a newer client's unknown kinds are answered
/// `unsupported-version`, not `bad-request`.
pub fn parse_request(line: &[u8]) -> Result<RequestFrame, Rejected> {
    let bad = |id, message: String| Rejected {
        id,
        error: RemoteError::new(ErrorCode::BadRequest, message),
    };
    if line.len() > REQUEST_LINE_MAX_BYTES {
        return Err(bad(0, too_long_message()));
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|e| bad(0, format!("request is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad(0, "request is not a JSON object".into()));
    };
    let id_value = map.get("id");
    let id = id_value.and_then(Value::as_u64).unwrap_or(0);
    let version = match map.get("version") {
        None => return Err(bad(id, format!("missing version ({})", supported()))),
        Some(v) => v.as_u64().ok_or_else(|| {
            bad(
                id,
                format!("version must be an unsigned integer ({})", supported()),
            )
        })?,
    };
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(Rejected {
            id,
            error: RemoteError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {version} is not supported ({})",
                    supported()
                ),
            ),
        });
    }
    match id_value {
        None => return Err(bad(0, "missing id".into())),
        Some(v) if v.as_u64().is_none() => {
            return Err(bad(0, "id must be an unsigned integer".into()));
        }
        Some(_) => {}
    }
    let request = map
        .get("request")
        .ok_or_else(|| bad(id, "missing request".into()))?;
    let request =
        Request::deserialize(request).map_err(|e| bad(id, format!("bad request: {e}")))?;
    Ok(RequestFrame {
        version: PROTOCOL_VERSION,
        id,
        request,
    })
}

fn supported() -> String {
    format!("this agent speaks version {PROTOCOL_VERSION}")
}

pub(crate) fn too_long_message() -> String {
    format!("request line longer than {REQUEST_LINE_MAX_BYTES} bytes")
}
/// Parses a reply line; the version is checked first so that a newer agent's
/// answer is reported as such rather than as a shape error.
pub fn decode_reply(line: &[u8]) -> Result<ReplyFrame, String> {
    /// The frame with its result left undecoded: the version is checked
    /// before anything else is trusted, and a status result (by far the
    /// largest) is decoded straight into its struct instead of through the
    /// internally tagged enum, which would buffer the whole tree first.
    #[derive(Deserialize)]
    struct RawFrame<'a> {
        version: Option<u64>,
        id: Option<u64>,
        ok: Option<bool>,
        #[serde(borrow, default)]
        result: Option<&'a serde_json::value::RawValue>,
        #[serde(default)]
        error: Option<RemoteError>,
    }
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }
    let raw: RawFrame<'_> =
        serde_json::from_slice(line).map_err(|e| format!("reply is not JSON: {e}"))?;
    if raw.version != Some(u64::from(PROTOCOL_VERSION)) {
        return Err(format!(
            "the agent speaks protocol version {}, this client {PROTOCOL_VERSION}",
            raw.version
                .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        ));
    }
    let bad = |e: serde_json::Error| format!("bad reply: {e}");
    let (Some(id), Some(ok)) = (raw.id, raw.ok) else {
        return Err("bad reply: missing field `id` or `ok`".into());
    };
    let result = match raw.result {
        None => None,
        Some(r) => {
            let kind: Kind = serde_json::from_str(r.get()).map_err(bad)?;
            Some(if kind.kind == "status" {
                Reply::Status(Box::new(serde_json::from_str(r.get()).map_err(bad)?))
            } else {
                serde_json::from_str(r.get()).map_err(bad)?
            })
        }
    };
    let frame = ReplyFrame {
        version: PROTOCOL_VERSION,
        id,
        ok,
        result,
        error: raw.error,
    };
    match (frame.ok, &frame.result, &frame.error) {
        (true, Some(_), None) | (false, None, Some(_)) => Ok(frame),
        _ => Err("reply must carry result when ok, error otherwise".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(line: &str) -> Rejected {
        parse_request(line.as_bytes()).expect_err(line)
    }

    #[test]
    fn requests_parse_with_their_documented_shapes() {
        let cases = [
            (r#"{"kind":"status"}"#, Request::Status),
            (
                r#"{"kind":"set-maintenance","mode":"global"}"#,
                Request::SetMaintenance {
                    mode: MaintenanceMode::Global,
                },
            ),
            (
                r#"{"kind":"vm-start","paused":true}"#,
                Request::VmStart { paused: true },
            ),
            (r#"{"kind":"vm-start"}"#, Request::VmStart { paused: false }),
            (r#"{"kind":"vm-shutdown"}"#, Request::VmShutdown),
            (r#"{"kind":"vm-poweroff"}"#, Request::VmPoweroff),
            (r#"{"kind":"check-liveliness"}"#, Request::CheckLiveliness),
            (
                r#"{"kind":"transitions","limit":5}"#,
                Request::Transitions { limit: Some(5) },
            ),
        ];
        for (json, want) in cases {
            let line = format!(r#"{{"version":1,"id":7,"request":{json}}}"#);
            let frame = parse_request(line.as_bytes()).expect(json);
            assert_eq!(frame.id, 7);
            assert_eq!(frame.request, want);
            assert_eq!(frame.request.kind(), json.split('"').nth(3).unwrap());
            // And back: what we send is what we parse.
            let sent = serde_json::to_vec(&frame).unwrap();
            assert_eq!(parse_request(&sent).unwrap(), frame);
        }
    }

    #[test]
    fn bad_lines_are_rejected_with_the_right_code_and_id() {
        let r = rejected("{nope");
        assert_eq!((r.id, r.error.code), (0, ErrorCode::BadRequest));
        assert_eq!(rejected("[1]").error.code, ErrorCode::BadRequest);
        let r = rejected(r#"{"version":2,"id":9,"request":{"kind":"teleport"}}"#);
        assert_eq!((r.id, r.error.code), (9, ErrorCode::UnsupportedVersion));
        assert!(r.error.message.contains("version 1"), "{}", r.error.message);
        let r = rejected(r#"{"id":3,"request":{"kind":"status"}}"#);
        assert_eq!((r.id, r.error.code), (3, ErrorCode::BadRequest));
        let r = rejected(r#"{"version":1,"id":4,"request":{"kind":"teleport"}}"#);
        assert_eq!((r.id, r.error.code), (4, ErrorCode::BadRequest));
        let r = rejected(r#"{"version":1,"id":-1,"request":{"kind":"status"}}"#);
        assert_eq!((r.id, r.error.code), (0, ErrorCode::BadRequest));
        let r = rejected(
            r#"{"version":1,"id":5,"request":{"kind":"set-maintenance","mode":"sideways"}}"#,
        );
        assert_eq!((r.id, r.error.code), (5, ErrorCode::BadRequest));
        let long = vec![b' '; REQUEST_LINE_MAX_BYTES + 1];
        assert_eq!(
            parse_request(&long).unwrap_err().error.code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn replies_round_trip_and_must_be_consistent() {
        let ok = ReplyFrame::success(3, Reply::VmStart { paused: true });
        let line = ok.encode();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":1,\"id\":3,\"ok\":true,\"result\":{\"kind\":\"vm-start\",\"paused\":true}}\n"
        );
        assert_eq!(decode_reply(&line[..line.len() - 1]).unwrap(), ok);
        let err = ReplyFrame::failure(0, RemoteError::new(ErrorCode::Busy, "later"));
        let line = err.encode();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":1,\"id\":0,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"later\"}}\n"
        );
        assert!(decode_reply(br#"{"version":1,"id":1,"ok":true}"#).is_err());
        assert!(
            decode_reply(br#"{"version":2,"id":1,"ok":true}"#)
                .unwrap_err()
                .contains("version 2")
        );
    }

    #[test]
    fn an_oversized_reply_becomes_a_failure() {
        let big = Reply::Transitions {
            transitions: vec![
                Transition {
                    from: "x".repeat(1024),
                    to: String::new(),
                    monotonic_ms: 0,
                    wall_unix: 0,
                };
                REPLY_LINE_MAX_BYTES / 1024 + 1
            ],
        };
        let line = ReplyFrame::success(8, big).encode();
        let frame = decode_reply(&line[..line.len() - 1]).unwrap();
        assert_eq!(frame.id, 8);
        assert_eq!(frame.error.unwrap().code, ErrorCode::Failed);
    }

    #[test]
    fn maintenance_modes_are_the_reference_words() {
        for mode in ["global", "local", "none"] {
            assert_eq!(
                MaintenanceMode::from_str_exact(mode).unwrap().as_str(),
                mode
            );
        }
        assert_eq!(MaintenanceMode::from_str_exact("Global"), None);
    }
}
