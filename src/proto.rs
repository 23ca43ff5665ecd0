//! The control socket's protocol, shared by `ovirt-ha-agent` (the server,
//! `shell::server`) and `hosted-engine` (the client, [`call`]).
//!
//! A Unix stream socket (`<runtime_dir>/agent.sock`, mode 0660). Each message is
//! one JSON object on one line: at most [`REQUEST_LINE_MAX_BYTES`] per request
//! and [`REPLY_LINE_MAX_BYTES`] per reply, every one carrying
//! its protocol version (2; the agent still answers version 1). Every request
//! carries a deadline ([`RequestFrame::deadline_ms`]): the agent never acts on
//! a request whose caller has given up. `docs/protocol.md` documents every
//! message with an example;
//! the field names here are that document's and do not change within a version.
//! Names the reference's `--vm-status --json` uses (`docs/compat.md`
//! section 7) are kept exactly, underscores included; our own names are
//! kebab-case.

mod client;
mod frame;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::State;
use crate::core::score::{ScoreBreakdown, ZeroReason};
use crate::metadata::{EngineStatus, Health, HostId, HostSlot, LeaseKind, VmStatus};

pub use client::{ClientError, call, status};
pub(crate) use client::{LineReader, ReadLine, connect_unix, is_timeout, os_reason, send_all};
pub(crate) use frame::too_long_message;
pub use frame::{
    ErrorCode, Rejected, RemoteError, ReplyFrame, RequestFrame, decode_reply, parse_request,
};

/// The protocol version this build's client speaks, and the newest its server
/// answers. Version 2 added the request deadline (`deadline-ms`), the
/// `expired` error, and VM requests answered once the agent's loop has taken
/// them (version 1: once queued).
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest version the server still answers (in that version: a
/// version-1 client gets `busy` where version 2 says `expired`).
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;
/// The deadline of a request that carries none (every version-1 client's),
/// counted from its receipt: the old `hosted-engine` waited 10 s for an
/// answer, and this leaves its answer a second to reach it.
pub const DEADLINE_DEFAULT: Duration = Duration::from_secs(9);
/// The latest deadline the agent honours, counted from receipt: a later one
/// counts as this (a VM request holds a connection and a queue place until
/// the loop takes it or its deadline passes).
pub const DEADLINE_MAX: Duration = Duration::from_secs(60);
/// How much earlier than it gives up waiting [`call`] sets a request's
/// deadline: an answer the agent sends at the deadline still reaches it.
pub const REPLY_MARGIN: Duration = Duration::from_secs(1);
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
    /// This agent's live view of every host: of the hosts from `from-host`
    /// on (all without it), as many as fit in [`STATUS_PAGE_BYTES`]; the
    /// reply's `more-from` names the first host left for the next page.
    Status {
        #[serde(rename = "from-host", default, skip_serializing_if = "Option::is_none")]
        from_host: Option<HostId>,
    },
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
    /// `status` from the first host (the whole view, or its first page).
    pub const STATUS: Request = Request::Status { from_host: None };

    /// The `kind` tag, which the reply's result repeats.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Status { .. } => "status",
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

/// `--set-maintenance --mode=<global|local|none>` (`docs/compat.md`
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
    /// This is one page of the view: the hosts (and unreadable slots) from
    /// this id on are on the next one (`status` with `from-host`).
    #[serde(rename = "more-from", default, skip_serializing_if = "Option::is_none")]
    pub more_from: Option<HostId>,
    /// The shared storage is failing this agent: the hosts above are what
    /// it last read. Omitted while it works (and by older agents).
    #[serde(
        rename = "storage-trouble",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_trouble: Option<StorageTroubleView>,
    /// Slot 0 (the global maintenance flag) does not read: then
    /// `global_maintenance` is the agent's last known value. Omitted when it
    /// reads (and by older agents).
    #[serde(
        rename = "global-unreadable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub global_unreadable: Option<String>,
}

/// The most bytes of host entries one `status` reply carries (half of
/// [`REPLY_LINE_MAX_BYTES`]): a volume of 2,000 hosts with maximal extra text
/// (about 8 MB of JSON) comes in pages, never in a reply over the limit.
pub const STATUS_PAGE_BYTES: usize = REPLY_LINE_MAX_BYTES / 2;

/// A bound on one host entry's JSON that needs no writing: every byte of
/// its texts escaped to six (`\u0001`), and room for the rest.
fn host_json_bound(host: &HostStatus) -> usize {
    let texts = host.extra.len()
        + host.hostname.len()
        + host.state.as_ref().map_or(0, String::len)
        + host.engine_status.detail.len()
        + host.engine_status.reason.as_ref().map_or(0, String::len);
    6 * texts + 2048
}

/// The same for an unreadable slot's entry.
fn unreadable_json_bound(slot: &UnreadableSlot) -> usize {
    6 * slot.error.len() + 64
}

/// One entry's JSON, measured.
fn json_len<T: Serialize>(entry: &T) -> usize {
    serde_json::to_vec(entry).map_or(usize::MAX, |json| json.len() + 1)
}

impl StatusReply {
    /// The page of this view that starts at host `from` (the first without
    /// it): its hosts and unreadable slots from `from` on, in host-id order,
    /// as many as fit in [`STATUS_PAGE_BYTES`] of JSON (one at least), and
    /// `more_from` naming the first host of the next page.
    pub fn page(mut self, from: Option<HostId>) -> StatusReply {
        let from = from.unwrap_or(0);
        self.hosts.retain(|h| h.host_id >= from);
        self.unreadable.retain(|u| u.host_id >= from);
        self.more_from = None;
        let bound: usize = self.hosts.iter().map(host_json_bound).sum::<usize>()
            + self
                .unreadable
                .iter()
                .map(unreadable_json_bound)
                .sum::<usize>();
        if bound <= STATUS_PAGE_BYTES {
            return self;
        }
        // Both lists in host-id order, measured, until the page is full.
        let mut entries: Vec<(HostId, usize)> = self
            .hosts
            .iter()
            .map(|h| (h.host_id, 0))
            .chain(self.unreadable.iter().map(|u| (u.host_id, 1)))
            .collect();
        entries.sort_unstable();
        let (mut hosts, mut slots) = (self.hosts.iter(), self.unreadable.iter());
        let mut used = 0usize;
        for (index, &(id, kind)) in entries.iter().enumerate() {
            let size = if kind == 0 {
                hosts.next().map_or(0, json_len)
            } else {
                slots.next().map_or(0, json_len)
            };
            used = used.saturating_add(size);
            if index > 0 && used > STATUS_PAGE_BYTES {
                self.hosts.retain(|h| h.host_id < id);
                self.unreadable.retain(|u| u.host_id < id);
                self.more_from = Some(id);
                break;
            }
        }
        self
    }
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
    /// call any peer alive (`docs/compat.md` section 2).
    pub has_history: bool,
    /// Whether the agent has read its own slot (it publishes only after that).
    pub adopted: bool,
    /// A live peer that publishes other lease timings than this agent: it
    /// makes no claim until they agree. Omitted when there is none (and by
    /// agents older than the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_timings_mismatch: Option<TimingsMismatch>,
}

impl AgentStatus {
    /// `state` as a [`State`]; `None` for a name this build does not know
    /// (the wire keeps the name as it came, for display).
    pub fn known_state(&self) -> Option<State> {
        State::from_name(&self.state)
    }
}

/// A peer on other lease timings (`<lease-fail>/<lease-dead>/<lease-settle>/<claim
/// window>` in ms, the slots' `lease-timings` values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TimingsMismatch {
    pub host_id: HostId,
    /// What the peer publishes.
    pub theirs: String,
    /// What this agent publishes; `None` when its own slot does not read.
    pub ours: Option<String>,
}

/// How the score came about (`core::score::ScoreBreakdown`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScoreView {
    pub score: u32,
    pub base: u32,
    /// In the order of `docs/compat.md` section 4; 0 points means
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
/// (section 7); `state`, `lease`, `silent-ms`, `unknown-yet` and
/// `implausible-epoch` are ours.
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
    /// Neither live nor stale: this agent has not watched the host for
    /// `host_alive_timeout` yet (it started, or its reads came back after a
    /// gap, less than that ago). `live-data` is false meanwhile.
    #[serde(rename = "unknown-yet", default, skip_serializing_if = "is_false")]
    pub unknown_yet: bool,
    /// An implausible epoch or write sequence its slot carries, which this
    /// agent refuses (an epoch above `metadata::EPOCH_PLAUSIBLE_MAX`, a
    /// sequence above `metadata::SEQ_PLAUSIBLE_MAX`).
    #[serde(
        rename = "implausible-epoch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub implausible_epoch: Option<u64>,
    /// How many fields the host's record has when fewer than the 12 of
    /// today's writers (an older agent's): the reference shows only the
    /// fields a record has. Omitted for a whole record (and by older agents).
    #[serde(
        rename = "record-fields",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub record_fields: Option<u8>,
}

fn is_false(b: &bool) -> bool {
    !*b
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
            unknown_yet: false,
            implausible_epoch: None,
            record_fields: u8::try_from(slot.field_count)
                .ok()
                .filter(|n| usize::from(*n) < crate::metadata::RECORD_FIELDS),
        }
    }

    /// Whether the host's record has field `index` (0-based): every field
    /// of a whole record, only the first ones of an older writer's.
    pub fn has_field(&self, index: usize) -> bool {
        self.record_fields.is_none_or(|n| index < usize::from(n))
    }
}

/// The engine status object (`docs/compat.md` section 3), keys in
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
                vm: VmStatus::Unknown.as_str().into(),
                health: Health::Unknown.as_str().into(),
                detail: "unknown".into(),
                reason: Some(format!("unreadable engine status: {e}")),
            },
        }
    }

    /// `vm` as a [`VmStatus`]. The wire carries the word (`docs/compat.md`
    /// section 3: one of five), kept as it came so that the views show it; a word this
    /// build does not know reads as `None`, neither up nor down.
    pub fn vm_status(&self) -> Option<VmStatus> {
        VmStatus::from_str_exact(&self.vm)
    }

    /// Whether the host publishes the engine VM as running there (`up`).
    pub fn vm_up(&self) -> bool {
        self.vm_status() == Some(VmStatus::Up)
    }

    /// Whether the host publishes the engine VM as running there with its
    /// health page answering (`up` and `good`): a healthy engine.
    pub fn engine_healthy(&self) -> bool {
        self.vm_up() && Health::from_str_exact(&self.health) == Some(Health::Good)
    }

    /// Whether the host publishes the engine VM as not running there:
    /// `down`, `down_unexpected` or `down_missing` (`unknown` says neither).
    pub fn vm_down(&self) -> bool {
        matches!(
            self.vm_status(),
            Some(VmStatus::Down | VmStatus::DownUnexpected | VmStatus::DownMissing)
        )
    }
}

/// A published lease state: `none`, `claim`, `held` or `fencing`, and its
/// epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub kind: String,
    pub epoch: u64,
}

impl LeaseView {
    /// `kind` as a [`LeaseKind`]; `None` for a word this build does not know
    /// (the wire keeps it as it came, for display).
    pub fn lease_kind(&self) -> Option<LeaseKind> {
        LeaseKind::from_str_exact(&self.kind)
    }
}

/// Since when the shared storage fails an agent, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StorageTroubleView {
    /// The first failure, Unix seconds (the agent's wall clock).
    pub since_unix: i64,
    /// How long it has failed, as of the snapshot.
    pub for_ms: u64,
    /// The latest failure.
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UnreadableSlot {
    pub host_id: HostId,
    pub error: String,
}

/// The result of `check-liveliness` (`docs/compat.md` section 3).
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn engine(vm: &str) -> EngineStatusView {
        EngineStatusView {
            vm: vm.into(),
            health: "bad".into(),
            detail: "unknown".into(),
            reason: None,
        }
    }

    #[test]
    fn a_published_vm_is_up_down_or_neither() {
        assert!(engine("up").vm_up() && !engine("up").vm_down());
        for down in ["down", "down_unexpected", "down_missing"] {
            assert!(engine(down).vm_down() && !engine(down).vm_up(), "{down}");
        }
        for neither in ["unknown", "Up", "downstairs", ""] {
            assert!(
                !engine(neither).vm_up() && !engine(neither).vm_down(),
                "{neither}"
            );
        }
    }

    #[test]
    fn an_unparsable_engine_status_reads_as_unknown() {
        let view = EngineStatusView::from_raw("not json");
        assert_eq!(view.vm_status(), Some(VmStatus::Unknown));
        assert_eq!(
            (view.vm.as_str(), view.health.as_str()),
            ("unknown", "unknown")
        );
    }
}
