//! What `--vm-status` shows, gathered from the local agent or, when it does not
//! answer, from the shared storage itself.
//!
//! The agent's view is the truth about liveness: it watched each host's
//! heartbeat change on its own monotonic clock (`docs/compat.md`
//! section 2). Without the agent there is no history to watch, so freshness is
//! judged from the wall-clock time our agents publish in their extra text
//! (`wall-clock=`): a host whose last publish is at most `host_alive_timeout`
//! old (either way, allowing for clocks that disagree) counts as live. This
//! needs the hosts' clocks in step (NTP), which the note on stderr says.

use std::path::Path;
use std::time::Duration;

use crate::metadata::{HostId, decode_area};
use crate::proto::{
    self, AgentStatus, ClientError, HostStatus, StatusReply, StorageTroubleView, UnreadableSlot,
};
use crate::shell::store::MetadataStore;

/// How long `--vm-status` waits for the local agent.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the view came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The local agent answered; its snapshot was `age_ms` old.
    Agent { age_ms: u64 },
    /// Read from the shared storage because the agent did not answer (`why`).
    Storage { why: String },
}

/// Everything the renderers need.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterView {
    pub source: Source,
    /// As known; see `global_unreadable`.
    pub global_maintenance: bool,
    /// Why slot 0 (the global maintenance flag) did not read: then
    /// `global_maintenance` is the agent's last known value (or false with
    /// the agent down), not what the storage says.
    pub global_unreadable: Option<String>,
    /// The shared storage is failing the local agent: the hosts are what it
    /// last read.
    pub storage_trouble: Option<StorageTroubleView>,
    /// Ascending host id.
    pub hosts: Vec<HostStatus>,
    pub unreadable: Vec<UnreadableSlot>,
    /// The local agent's own state, when it answered.
    pub agent: Option<AgentStatus>,
    /// This host's id (the agent's, or `hosted-engine.conf`'s), when known.
    pub local_host_id: Option<HostId>,
    /// Things the operator should know, for stderr (one line each).
    pub notes: Vec<String>,
}

impl ClusterView {
    /// The agent's answer. A peer that is not live while the agent has not
    /// watched long enough is unknown yet, not stale (an agent older than
    /// the `unknown-yet` field says only `has-history`).
    pub fn from_agent(mut status: StatusReply) -> ClusterView {
        let own = status.agent.host_id;
        if !status.agent.has_history {
            for h in status.hosts.iter_mut().filter(|h| h.host_id != own) {
                h.unknown_yet |= !h.live_data;
            }
        }
        let unknown: Vec<String> = status
            .hosts
            .iter()
            .filter(|h| h.unknown_yet && !h.live_data)
            .map(|h| h.host_id.to_string())
            .collect();
        let mut notes = Vec::new();
        if !unknown.is_empty() {
            // The reference's text and JSON show these hosts as stale (its
            // parsers know no third shape): say here what that means.
            notes.push(format!(
                "the local agent has not watched host(s) {} for host_alive_timeout yet (it \
                 started, or its reads came back, recently): unknown yet, neither live nor \
                 stale, although shown as stale-data / live-data false",
                unknown.join(", ")
            ));
        }
        ClusterView {
            source: Source::Agent {
                age_ms: status.age_ms,
            },
            global_maintenance: status.global_maintenance,
            global_unreadable: status.global_unreadable,
            storage_trouble: status.storage_trouble,
            hosts: status.hosts,
            unreadable: status.unreadable,
            local_host_id: Some(own),
            agent: Some(status.agent),
            notes,
        }
    }

    /// The area at `volume` read directly, liveness judged at `now_unix` with
    /// `alive_timeout_ms`; `local_host_id` is this host's.
    pub fn from_storage(
        volume: &Path,
        io_timeout: Duration,
        (alive_timeout_ms, now_unix): (u64, i64),
        local_host_id: HostId,
        why: String,
    ) -> Result<ClusterView, String> {
        let mut store = MetadataStore::open(volume, io_timeout);
        let bytes = store
            .read_area()
            .map_err(|e| format!("reading the shared metadata {}: {e}", volume.display()))?;
        let area = decode_area(&bytes);
        let mut notes = vec![format!(
            "the local agent is not answering ({why}); status read from the shared storage, \
             freshness judged from each host's published wall-clock time (clocks must be in \
             step)"
        )];
        let mut hosts = Vec::new();
        let mut unreadable = Vec::new();
        let mut without_clock = Vec::new();
        for (&id, slot) in &area.hosts {
            match slot {
                Ok(slot) => {
                    let (live, silent_ms) = match slot.extra.wall_clock() {
                        Some(wall) => freshness(wall, now_unix, alive_timeout_ms),
                        None => {
                            without_clock.push(id.to_string());
                            (false, None)
                        }
                    };
                    hosts.push(HostStatus::from_slot(id, slot, live, silent_ms));
                }
                Err(e) => unreadable.push(UnreadableSlot {
                    host_id: id,
                    error: e.to_string(),
                }),
            }
        }
        if !without_clock.is_empty() {
            notes.push(format!(
                "host(s) {} publish no wall-clock time (an older agent): shown as stale",
                without_clock.join(", ")
            ));
        }
        let (global_maintenance, global_unreadable) = match area.global_maintenance() {
            Ok(on) => (on, None),
            Err(e) => (false, Some(format!("slot 0: {e}"))),
        };
        Ok(ClusterView {
            source: Source::Storage { why },
            global_maintenance,
            global_unreadable,
            storage_trouble: None,
            hosts,
            unreadable,
            agent: None,
            local_host_id: Some(local_host_id),
            notes,
        })
    }

    pub fn host(&self, id: u16) -> Option<&HostStatus> {
        self.hosts.iter().find(|h| h.host_id == id)
    }
}

/// Whether a publish at `wall` is fresh at `now` (both Unix seconds), and how
/// long ago it was. A time in the future beyond the timeout is a clock out of
/// step: not fresh.
pub fn freshness(wall: i64, now: i64, alive_timeout_ms: u64) -> (bool, Option<u64>) {
    let age_ms = now.saturating_sub(wall).max(0).saturating_mul(1000);
    let ahead_ms = wall.saturating_sub(now).saturating_mul(1000);
    let limit = i64::try_from(alive_timeout_ms).unwrap_or(i64::MAX);
    let live = age_ms <= limit && ahead_ms <= limit;
    (live, u64::try_from(age_ms).ok())
}

/// Asks the agent at `socket` for its status (every page of it).
pub fn agent_status(socket: &Path, timeout: Duration) -> Result<StatusReply, ClientError> {
    proto::status(socket, timeout)
}

#[cfg(test)]
mod tests {
    use super::freshness;

    #[test]
    fn freshness_allows_skew_both_ways_up_to_the_timeout() {
        assert_eq!(freshness(100, 160, 60_000), (true, Some(60_000)));
        assert_eq!(freshness(100, 161, 60_000), (false, Some(61_000)));
        assert_eq!(freshness(160, 100, 60_000), (true, Some(0)));
        assert_eq!(freshness(161, 100, 60_000), (false, Some(0)));
    }
}
