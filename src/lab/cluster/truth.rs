//! The lab's ground truth: which processes really run (from `/proc`, never from
//! what the agents believe), where the engine payload runs, what the supervisor
//! did (power, faults), and what the engine's health page really answers.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::control::{self, CtlReply, CtlRequest, SupervisorView};
use super::isolation;
use super::layout::{Isolation, KEEPER_ARG, LabSpec};
use super::procs::{self, ProcId};

/// How long the health probe of a payload may take.
const HEALTH_TIMEOUT_MS: u64 = 1_000;

/// One running engine payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub host: u16,
    #[serde(flatten)]
    pub proc: ProcId,
    /// Stopped (SIGSTOP): a paused VM.
    pub paused: bool,
    /// The lease epoch its agent gave it (`None` when unreadable).
    pub epoch: Option<u64>,
}

/// Every engine payload of lab `lab_id` that runs now, by host then pid.
pub fn scan_payloads(lab_id: &str) -> Vec<Payload> {
    let mut found: Vec<Payload> = procs::all_pids()
        .into_iter()
        .filter_map(|pid| {
            let argv = procs::cmdline(pid)?;
            let host = payload_host(&argv, lab_id)?;
            let proc = procs::proc_id(pid)?;
            let state = procs::state_of(proc)?;
            let epoch =
                procs::environ_var(pid, crate::lab::engine::EPOCH_VAR).and_then(|e| e.parse().ok());
            Some(Payload {
                host,
                proc,
                paused: state == b'T',
                epoch,
            })
        })
        .collect();
    found.sort_by_key(|p| (p.host, p.proc));
    found
}

/// The host of a payload's argv (`he-lab engine --lab-id <id> --host hostN ...`).
pub fn payload_host(argv: &[String], lab_id: &str) -> Option<u16> {
    if argv.get(1).map(String::as_str) != Some("engine") {
        return None;
    }
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
    };
    if value("--lab-id")? != lab_id {
        return None;
    }
    value("--host")?.strip_prefix("host")?.parse().ok()
}

/// Every lease keeper (`ovirt-ha-agent --keep-lease`) of the lab that runs
/// now: (host, process), by host. Found through each host's pid file and, as
/// a keeper writes that file only once it runs and an orphan's may be stale
/// or gone, by scanning `/proc` for the argument with `HE_CONFIG_ROOT` one of
/// the lab's host roots (payloads are found the same way).
pub fn scan_keepers(spec: &LabSpec) -> Vec<(u16, ProcId)> {
    let roots: Vec<(u16, String)> = spec
        .host_ids()
        .map(|id| (id, spec.host_root(id).display().to_string()))
        .collect();
    let host_of = |pid: i32| -> Option<u16> {
        let argv = procs::cmdline(pid)?;
        if !argv.iter().skip(1).any(|a| a == KEEPER_ARG) {
            return None;
        }
        let root = procs::environ_var(pid, "HE_CONFIG_ROOT")?;
        roots.iter().find(|(_, r)| *r == root).map(|(id, _)| *id)
    };
    let from_files = spec.host_ids().filter_map(|id| {
        let text = std::fs::read_to_string(spec.keeper_pid(id)).ok()?;
        let pid: i32 = text.trim().parse().ok().filter(|p| *p > 0)?;
        (host_of(pid)? == id).then_some(pid)
    });
    let mut pids: Vec<i32> = from_files.chain(procs::all_pids()).collect();
    pids.sort_unstable();
    pids.dedup();
    let mut found: Vec<(u16, ProcId)> = pids
        .into_iter()
        .filter_map(|pid| {
            let host = host_of(pid)?;
            let proc = procs::proc_id(pid)?;
            procs::state_of(proc)?;
            Some((host, proc))
        })
        .collect();
    found.sort();
    found
}

/// One host's truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostTruth {
    pub id: u16,
    /// The agent process, when one runs.
    pub agent: Option<ProcId>,
    /// The agent is stopped (SIGSTOP).
    pub agent_paused: bool,
    /// The lease keeper (`ovirt-ha-agent --keep-lease`), when one runs: it
    /// renews the lease of a cleanly stopped agent while the engine VM runs.
    pub keeper: Option<ProcId>,
    /// The engine payloads on this host (more than one would be a bug).
    pub payloads: Vec<Payload>,
}

/// The lab's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    pub dir: String,
    pub id: String,
    pub isolation: Isolation,
    pub profile: super::layout::Profile,
    /// The supervisor process, when it runs.
    pub supervisor: Option<ProcId>,
    /// The supervisor's view: live, or its last saved one when it is dead.
    pub view: Option<SupervisorView>,
    /// `view` comes from the saved file (the supervisor did not answer).
    pub view_stale: bool,
    pub hosts: Vec<HostTruth>,
    /// Hosts running an engine payload, ascending.
    pub engine_hosts: Vec<u16>,
    /// What the engine's health page answers (first line of the body or the
    /// error), asked from the lab's vantage point: under netns from the
    /// switch (so a dead network shows), under none at the payload's own address.
    pub engine_health: Option<String>,
    /// Every process still carrying the lab's mark (agents, payloads, helpers,
    /// the supervisor, `he-lab exec` children).
    pub lab_processes: usize,
}

impl GroundTruth {
    /// Exactly one payload runs, on this host.
    pub fn single_engine_host(&self) -> Option<u16> {
        match self.engine_hosts.as_slice() {
            [host] if self.hosts[usize::from(*host - 1)].payloads.len() == 1 => Some(*host),
            _ => None,
        }
    }

    /// Payloads running in all.
    pub fn payload_count(&self) -> usize {
        self.hosts.iter().map(|h| h.payloads.len()).sum()
    }
}

/// Looks at the lab now. `probe_health` asks the engine's health page (up to a
/// second).
pub fn ground_truth(spec: &LabSpec, probe_health: bool) -> GroundTruth {
    let supervisor = procs::read_pid_file(&spec.supervisor_pid()).filter(|p| procs::alive(*p));
    let live = supervisor.and_then(|_| {
        match control::call(
            &spec.supervisor_socket(),
            &CtlRequest::View,
            control::VIEW_TIMEOUT,
        ) {
            Ok(CtlReply::View { view }) => Some(view),
            _ => None,
        }
    });
    let view_stale = live.is_none();
    let view = live.or_else(|| {
        let text = std::fs::read_to_string(spec.supervisor_state()).ok()?;
        serde_json::from_str(&text).ok()
    });
    let payloads = scan_payloads(&spec.id);
    let keepers = scan_keepers(spec);
    let hosts: Vec<HostTruth> = spec
        .host_ids()
        .map(|id| {
            let agent = procs::read_pid_file(&spec.agent_pid(id)).filter(|p| procs::alive(*p));
            HostTruth {
                id,
                agent,
                agent_paused: agent.and_then(procs::state_of) == Some(b'T'),
                keeper: keepers.iter().find(|(h, _)| *h == id).map(|(_, p)| *p),
                payloads: payloads.iter().filter(|p| p.host == id).cloned().collect(),
            }
        })
        .collect();
    let mut engine_hosts: Vec<u16> = payloads.iter().map(|p| p.host).collect();
    engine_hosts.dedup();
    let engine_health = match (probe_health, engine_hosts.first()) {
        (true, Some(&host)) => Some(probe(spec, host)),
        _ => None,
    };
    GroundTruth {
        dir: spec.dir.display().to_string(),
        id: spec.id.clone(),
        isolation: spec.isolation,
        profile: spec.profile,
        supervisor,
        view,
        view_stale,
        hosts,
        engine_hosts,
        engine_health,
        lab_processes: procs::lab_processes(&spec.id).len(),
    }
}

/// The health page's answer for the payload on `host`.
fn probe(spec: &LabSpec, host: u16) -> String {
    match isolation::backend(spec.isolation).probe_health(spec, host, HEALTH_TIMEOUT_MS) {
        None => "no address".into(),
        Some(Ok(a)) => a.first_line,
        Some(Err(e)) => format!("no answer: {e}"),
    }
}

/// The truth as text.
pub fn render_text(truth: &GroundTruth, agents: &[(u16, Option<String>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lab {} (id {}, isolation {}, profile {}, {} hosts)",
        truth.dir,
        truth.id,
        truth.isolation.as_str(),
        truth.profile.as_str(),
        truth.hosts.len()
    );
    let _ = match (truth.supervisor, truth.view_stale) {
        (Some(p), false) => writeln!(out, "supervisor: pid {} running", p.pid),
        (Some(p), true) => writeln!(out, "supervisor: pid {} not answering", p.pid),
        (None, _) => writeln!(out, "supervisor: not running (he-lab down cleans up)"),
    };
    let _ = writeln!(
        out,
        "{:<6} {:<28} {:<34} {:<9} {:<10} {:<20} agent's view",
        "host", "power", "agent", "watchdog", "network", "storage"
    );
    for h in &truth.hosts {
        let view = truth
            .view
            .as_ref()
            .and_then(|v| v.hosts.iter().find(|v| v.id == h.id));
        let _ = writeln!(out, "{}", host_row(h, view, agents));
    }
    for v in truth.view.iter().flat_map(|v| &v.hosts) {
        let Some(bmc) = &v.bmc else { continue };
        let power = match bmc.power {
            super::control::Power::On => "on",
            super::control::Power::Off => "off",
        };
        let faults = if bmc.faults.is_empty() {
            String::new()
        } else {
            format!(" [{}]", bmc.faults.join(", "))
        };
        let _ = writeln!(
            out,
            "bmc of host{}: {} (ipmi_sim pid {}), says power {power}{faults}",
            v.id, bmc.address, bmc.pid
        );
    }
    let _ = match truth.engine_hosts.as_slice() {
        [] => writeln!(out, "engine VM: not running"),
        hosts => {
            let list: Vec<String> = truth
                .hosts
                .iter()
                .flat_map(|h| &h.payloads)
                .filter(|p| hosts.contains(&p.host))
                .map(|p| {
                    let epoch = p.epoch.map_or_else(|| "-".into(), |e| e.to_string());
                    let paused = if p.paused { ", paused" } else { "" };
                    format!("host{} (pid {}, epoch {epoch}{paused})", p.host, p.proc.pid)
                })
                .collect();
            writeln!(out, "engine VM: {}", list.join("; "))
        }
    };
    if let Some(health) = &truth.engine_health {
        let _ = writeln!(out, "engine health: {health}");
    }
    let faults = truth
        .view
        .as_ref()
        .map(|v| v.faults.as_slice())
        .unwrap_or(&[]);
    if faults.is_empty() {
        let _ = writeln!(out, "faults: none");
    }
    for f in faults {
        let _ = writeln!(
            out,
            "fault: {} on {}: {}",
            f.verb,
            super::faults::hosts_text(&f.hosts),
            f.detail
        );
    }
    out
}

fn host_row(
    h: &HostTruth,
    view: Option<&super::control::HostView>,
    agents: &[(u16, Option<String>)],
) -> String {
    let power = match view {
        Some(v) => match &v.off_reason {
            Some(why) => format!("off ({why})"),
            None => "on".into(),
        },
        None => "?".into(),
    };
    let agent = match (h.agent, h.agent_paused, view) {
        (Some(p), true, _) => format!("pid {} paused", p.pid),
        (Some(p), false, Some(v)) => format!("pid {} (start {})", p.pid, v.agent_starts),
        (Some(p), false, None) => format!("pid {}", p.pid),
        (None, _, Some(v)) if v.agent_failed => "failed".into(),
        (None, _, Some(v)) if v.agent_stopped => "stopped".into(),
        (None, _, _) => "-".into(),
    };
    let agent = match h.keeper {
        Some(k) => format!("{agent}, keeper {}", k.pid),
        None => agent,
    };
    let dog = view
        .and_then(|v| v.watchdog_idle_ms)
        .map_or_else(|| "-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
    let network = view.map_or("?", |v| if v.network_up { "up" } else { "down" });
    let storage = view.map_or("?", |v| v.storage.as_str());
    let said = agents
        .iter()
        .find(|(id, _)| *id == h.id)
        .and_then(|(_, s)| s.clone())
        .unwrap_or_else(|| "-".into());
    format!(
        "host{:<2} {power:<28} {agent:<34} {dog:<9} {network:<10} {storage:<20} {said}",
        h.id
    )
}

/// What host `id`'s agent says about itself (state and score), from its socket.
pub fn agent_says(spec: &LabSpec, id: u16) -> Option<String> {
    let reply = crate::proto::call(
        &spec.agent_socket(id),
        &crate::proto::Request::STATUS,
        Duration::from_millis(1500),
    )
    .ok()?;
    match reply {
        crate::proto::Reply::Status(s) => {
            Some(format!("{} score {}", s.agent.state, s.agent.score.score))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_known_by_their_argv() {
        let argv: Vec<String> = ["/x/he-lab", "engine", "--lab-id", "abc", "--host", "host3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(payload_host(&argv, "abc"), Some(3));
        assert_eq!(payload_host(&argv, "abd"), None);
        let mut other = argv.clone();
        other[1] = "sim".into();
        assert_eq!(payload_host(&other, "abc"), None);
    }
}
