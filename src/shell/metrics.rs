//! Prometheus metrics (issue 16), the ecosystem's way and without a port of
//! our own: the agent writes them every loop to a file for node_exporter's
//! textfile collector (`agent.conf` `[metrics] textfile`), and
//! `hosted-engine --vm-status --format=openmetrics` prints the cluster's part.
//!
//! Names follow Prometheus' naming guide: the `hosted_engine_` prefix, base
//! units (seconds), `_total` for counters, `_timestamp_seconds` for Unix
//! times, one label set per host (`host_id`, with `hostname` only on the
//! `_info` series, to join on). Every host's metrics are as *this* host sees
//! them (its agent's view of the shared storage): scrape every host and take
//! `max by (host_id)` for the cluster. docs/operations.md lists the alert
//! rules (`packaging/prometheus/hosted-engine.rules.yml`).

use std::fmt::Write as _;
use std::path::Path;

use crate::metadata::LeaseKind;
use crate::proto::{AgentStatus, HostStatus, LeaseView};

/// Which exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// The text format 0.0.4, which node_exporter's textfile collector reads.
    Text,
    /// OpenMetrics 1.0 (counters' families without `_total`, `# EOF`).
    OpenMetrics,
}

/// The cluster as one host sees it.
#[derive(Clone, Copy, Debug)]
pub struct ClusterFacts<'a> {
    pub hosts: &'a [HostStatus],
    /// `None`: slot 0 does not read.
    pub global_maintenance: Option<bool>,
    pub unreadable_slots: usize,
    /// The local agent, when it answered.
    pub agent: Option<&'a AgentStatus>,
    /// Whether this host's agent can use the shared storage (`None`: no agent).
    pub storage_ok: Option<bool>,
}

/// What only the agent itself knows about its own work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentFacts {
    /// State transitions since the agent started.
    pub transitions_total: u64,
    /// Times it began fencing its engine VM (gave its lease up with the VM not
    /// confirmed down) since it started.
    pub fencing_total: u64,
    /// The last loop, its read and its write of the shared storage.
    pub loop_seconds: f64,
    pub storage_read_seconds: Option<f64>,
    pub storage_write_seconds: Option<f64>,
    /// The last publish of this host's slot that landed, Unix seconds.
    pub last_publish_unix: Option<i64>,
    /// When this agent last saw the highest lease epoch rise (a failover, or
    /// the first start), Unix seconds; `None` before it saw one.
    pub last_failover_unix: Option<i64>,
}

/// One metric family being written.
struct Writer {
    out: String,
    format: Exposition,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let typed = match (self.format, kind) {
            (Exposition::OpenMetrics, "counter") => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let _ = writeln!(self.out, "# HELP {typed} {help}");
        let _ = writeln!(self.out, "# TYPE {typed} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, raw)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape(raw));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A gauge family with one sample per host that has a value.
    fn per_host(
        &mut self,
        name: &str,
        help: &str,
        hosts: &[HostStatus],
        value: impl Fn(&HostStatus) -> Option<f64>,
    ) {
        self.family(name, "gauge", help);
        for h in hosts {
            if let Some(v) = value(h) {
                self.sample(name, &[("host_id", &h.host_id.to_string())], v);
            }
        }
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the formats want it: `\`, `"` and line breaks escaped,
/// the only escapes they know; any other control character (from a slot a
/// writer forged) becomes `?`, as one bad escape would make node_exporter
/// drop the whole file.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The watchdog timeout a slot's extra text publishes (0: `none`); `None`
/// when it publishes none (an older agent, the reference) or garbage.
fn watchdog_seconds(extra: &str) -> Option<f64> {
    let key = crate::core::agent::WATCHDOG_KEY;
    let value = extra
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))?;
    match value {
        "none" => Some(0.0),
        secs => secs
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0),
    }
}

/// Whether `h` publishes a lease it holds (held, or fencing its VM).
fn holds_lease(h: &HostStatus) -> bool {
    h.lease
        .as_ref()
        .and_then(LeaseView::lease_kind)
        .is_some_and(|kind| matches!(kind, LeaseKind::Held | LeaseKind::Fencing))
}

/// The metrics of `cluster` (and of the agent's own work, when given).
pub fn render(
    cluster: &ClusterFacts<'_>,
    agent: Option<&AgentFacts>,
    format: Exposition,
) -> String {
    let mut w = Writer {
        out: String::with_capacity(2048 + 512 * cluster.hosts.len()),
        format,
    };
    let hosts = cluster.hosts;
    w.family(
        "hosted_engine_host_info",
        "gauge",
        "A host publishing to the shared metadata (1), with its hostname.",
    );
    for h in hosts {
        let id = h.host_id.to_string();
        w.sample(
            "hosted_engine_host_info",
            &[("host_id", &id), ("hostname", &h.hostname)],
            1.0,
        );
    }
    w.per_host(
        "hosted_engine_host_score",
        "The host's published score (0 to 3400).",
        hosts,
        |h| Some(f64::from(h.score)),
    );
    w.per_host(
        "hosted_engine_host_up_to_date",
        "Whether the host's slot is live: it changed within host-alive-timeout (1) or is stale (0).",
        hosts,
        |h| Some(flag(h.live_data)),
    );
    w.per_host(
        "hosted_engine_host_local_maintenance",
        "Whether the host is in local maintenance.",
        hosts,
        |h| Some(flag(h.maintenance)),
    );
    w.family(
        "hosted_engine_host_state",
        "gauge",
        "The host agent's published state (1 for the state it is in).",
    );
    for h in hosts {
        if let Some(state) = &h.state {
            let id = h.host_id.to_string();
            w.sample(
                "hosted_engine_host_state",
                &[("host_id", &id), ("state", state)],
                1.0,
            );
        }
    }
    w.per_host(
        "hosted_engine_host_engine_vm_up",
        "Whether the host says the engine VM runs there.",
        hosts,
        |h| Some(flag(h.engine_status.vm_up())),
    );
    w.per_host(
        "hosted_engine_host_engine_health_good",
        "Whether the host says the engine VM runs there and its health page answers.",
        hosts,
        |h| Some(flag(h.engine_status.engine_healthy())),
    );
    w.per_host(
        "hosted_engine_host_lease_held",
        "Whether the host publishes that it holds the engine VM lease (held or fencing).",
        hosts,
        |h| Some(flag(holds_lease(h))),
    );
    w.per_host(
        "hosted_engine_host_watchdog_timeout_seconds",
        "The host's watchdog timeout; 0: it runs without one (unfenced).",
        hosts,
        |h| watchdog_seconds(&h.extra),
    );
    let live: Vec<&HostStatus> = hosts.iter().filter(|h| h.live_data).collect();
    w.single(
        "hosted_engine_engine_vm_running_hosts",
        "gauge",
        "Live hosts that say the engine VM runs there: 1 is right, 0 is an outage, more is \
         two engines.",
        live.iter().filter(|h| h.engine_status.vm_up()).count() as f64,
    );
    w.single(
        "hosted_engine_engine_health_good",
        "gauge",
        "Whether a live host runs the engine VM and its health page answers.",
        flag(live.iter().any(|h| h.engine_status.engine_healthy())),
    );
    w.single(
        "hosted_engine_lease_holders",
        "gauge",
        "Live hosts that publish that they hold the engine VM lease: more than 1 is a split \
         lease.",
        live.iter().filter(|h| holds_lease(h)).count() as f64,
    );
    let epoch = hosts
        .iter()
        .filter_map(|h| h.lease.as_ref().map(|l| l.epoch))
        .max()
        .unwrap_or(0);
    w.single(
        "hosted_engine_lease_epoch",
        "gauge",
        "The highest engine VM lease epoch published: it rises with every claim (failover).",
        epoch as f64,
    );
    if let Some(on) = cluster.global_maintenance {
        w.single(
            "hosted_engine_global_maintenance",
            "gauge",
            "Whether the cluster is in global maintenance (absent: slot 0 does not read).",
            flag(on),
        );
    }
    w.single(
        "hosted_engine_slots_unreadable",
        "gauge",
        "Slots of the shared metadata that do not read (bad checksum, torn).",
        cluster.unreadable_slots as f64,
    );
    if let Some(ok) = cluster.storage_ok {
        w.single(
            "hosted_engine_storage_ok",
            "gauge",
            "Whether this host's agent can read and write the shared storage.",
            flag(ok),
        );
    }
    if let Some(a) = cluster.agent {
        w.single(
            "hosted_engine_agent_score",
            "gauge",
            "This host's score as its agent computes it now.",
            f64::from(a.score.score),
        );
    }
    if let Some(facts) = agent {
        agent_metrics(&mut w, facts);
    }
    if format == Exposition::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

fn agent_metrics(w: &mut Writer, facts: &AgentFacts) {
    w.single(
        "hosted_engine_state_transitions_total",
        "counter",
        "State transitions of this host's agent since it started.",
        facts.transitions_total as f64,
    );
    w.single(
        "hosted_engine_lease_fencing_total",
        "counter",
        "Times this host's agent gave its lease up with its engine VM not confirmed down \
         (and fenced it) since it started.",
        facts.fencing_total as f64,
    );
    w.single(
        "hosted_engine_loop_duration_seconds",
        "gauge",
        "How long this host's agent's last loop took.",
        facts.loop_seconds,
    );
    if let Some(s) = facts.storage_read_seconds {
        w.single(
            "hosted_engine_storage_read_duration_seconds",
            "gauge",
            "How long the last read of the shared metadata took.",
            s,
        );
    }
    if let Some(s) = facts.storage_write_seconds {
        w.single(
            "hosted_engine_storage_write_duration_seconds",
            "gauge",
            "How long the last write of this host's slot took.",
            s,
        );
    }
    if let Some(t) = facts.last_publish_unix {
        w.single(
            "hosted_engine_last_publish_timestamp_seconds",
            "gauge",
            "When this host's slot was last written successfully.",
            t as f64,
        );
    }
    if let Some(t) = facts.last_failover_unix {
        w.single(
            "hosted_engine_last_failover_timestamp_seconds",
            "gauge",
            "When this host's agent last saw the lease epoch rise (a claim: a failover or a \
             start); time() minus it is the time since.",
            t as f64,
        );
    }
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a
/// rename), so that node_exporter never reads half a file. The temporary
/// file is made new (never an existing file, never through a link another
/// user planted in the directory), with a name no one can guess.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut random = [0u8; 8];
    // SAFETY: getrandom fills the 8 bytes of a buffer we own.
    let got = unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    if got != random.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    // Not `*.prom`: the collector must not read the temporary file.
    let temp = path.with_file_name(format!(".{name}.{:016x}.tmp", u64::from_ne_bytes(random)));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{EngineStatusView, LeaseView};

    fn host(id: u16, vm: &str, lease: &str, extra: &str) -> HostStatus {
        HostStatus {
            host_id: id,
            host_ts: 1,
            score: 3400,
            engine_status: EngineStatusView {
                vm: vm.into(),
                health: if vm == "up" { "good" } else { "bad" }.into(),
                detail: "Up".into(),
                reason: None,
            },
            hostname: format!("host{id}\"\\\n\u{1b}"),
            maintenance: false,
            stopped: false,
            crc32: None,
            conf_on_shared_storage: true,
            local_conf_timestamp: 1,
            extra: extra.into(),
            live_data: true,
            state: Some("EngineUp".into()),
            lease: Some(LeaseView {
                kind: lease.into(),
                epoch: u64::from(id),
            }),
            silent_ms: Some(0),
            unknown_yet: false,
            implausible_epoch: None,
            record_fields: None,
        }
    }

    #[test]
    fn two_engines_and_a_split_lease_show_and_labels_are_escaped() {
        let hosts = [
            host(1, "up", "held", "watchdog=16\n"),
            host(2, "up", "fencing", "watchdog=none\n"),
            host(3, "down", "none", ""),
        ];
        let cluster = ClusterFacts {
            hosts: &hosts,
            global_maintenance: Some(false),
            unreadable_slots: 1,
            agent: None,
            storage_ok: None,
        };
        let text = render(&cluster, None, Exposition::Text);
        for line in [
            "hosted_engine_engine_vm_running_hosts 2\n",
            "hosted_engine_lease_holders 2\n",
            "hosted_engine_lease_epoch 3\n",
            "hosted_engine_slots_unreadable 1\n",
            "hosted_engine_global_maintenance 0\n",
            "hosted_engine_host_watchdog_timeout_seconds{host_id=\"1\"} 16\n",
            "hosted_engine_host_watchdog_timeout_seconds{host_id=\"2\"} 0\n",
            "hosted_engine_host_info{host_id=\"1\",hostname=\"host1\\\"\\\\\\n?\"} 1\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert!(!text.contains("watchdog_timeout_seconds{host_id=\"3\"}"));
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("hosted_engine_storage_ok"));
    }

    #[test]
    fn counters_are_typed_by_family_in_openmetrics() {
        let cluster = ClusterFacts {
            hosts: &[],
            global_maintenance: None,
            unreadable_slots: 0,
            agent: None,
            storage_ok: Some(false),
        };
        let facts = AgentFacts {
            transitions_total: 7,
            loop_seconds: 0.25,
            ..AgentFacts::default()
        };
        let om = render(&cluster, Some(&facts), Exposition::OpenMetrics);
        assert!(
            om.contains("# TYPE hosted_engine_state_transitions counter\n"),
            "{om}"
        );
        assert!(
            om.contains("\nhosted_engine_state_transitions_total 7\n"),
            "{om}"
        );
        assert!(
            om.contains("hosted_engine_loop_duration_seconds 0.25\n"),
            "{om}"
        );
        assert!(om.contains("hosted_engine_storage_ok 0\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        assert!(
            !om.contains("hosted_engine_global_maintenance"),
            "unknown: absent"
        );
        let text = render(&cluster, Some(&facts), Exposition::Text);
        assert!(text.contains("# TYPE hosted_engine_state_transitions_total counter\n"));
    }
}
