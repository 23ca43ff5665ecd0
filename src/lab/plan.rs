//! The test plan (`seed/hosted-engine-ha-test-plan.en.md`) on a real lab: the
//! fault each of its eight cases injects, and a [`Follower`] that records what an
//! operator would see (`hosted-engine --vm-status --json` run as a lab host) next
//! to the lab's ground truth, sample by sample, with the time since the fault.
//!
//! The end-to-end tests (`tests/e2e_test_plan.rs`), `he-lab bench-failover` and
//! `he-lab demo` are built on it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::cluster::{Fault, GroundTruth, Lab, LabSpec, procs::ProcId};
use super::engine::HEALTH_BODY;

/// Bound on one `hosted-engine --vm-status` (it bounds its own storage reads).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two rounds of samples.
const SAMPLE_PAUSE: Duration = Duration::from_millis(100);
/// Pause between two statuses within a round.
pub const STATUS_PAUSE: Duration = Duration::from_millis(250);
/// Most samples one follower keeps (about an hour of following).
pub const SAMPLES_MAX: usize = 20_000;

/// One case of the test plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCase {
    pub number: u8,
    /// The fault, as the plan names it.
    pub title: &'static str,
    /// The `he-lab fault` verb that causes it.
    pub verb: &'static str,
    /// The plan's expected result, in short.
    pub expected: &'static str,
}

/// The eight cases, in the plan's order.
pub const CASES: [PlanCase; 8] = [
    PlanCase {
        number: 1,
        title: "network failure inside the engine VM",
        verb: "engine-network-down",
        expected: "the VM is restarted on another host",
    },
    PlanCase {
        number: 2,
        title: "engine service crash",
        verb: "engine-stop",
        expected: "the VM is restarted on another host",
    },
    PlanCase {
        number: 3,
        title: "engine VM crash",
        verb: "vm-kill",
        expected: "the VM is restarted on the same host first",
    },
    PlanCase {
        number: 4,
        title: "network failure of the host running the VM",
        verb: "host-network-down",
        expected: "the VM is restarted (locally if possible, else on another host)",
    },
    PlanCase {
        number: 5,
        title: "storage failure",
        verb: "storage-unmount",
        expected: "the storage is mounted again, the VM is not restarted",
    },
    PlanCase {
        number: 6,
        title: "host crash",
        verb: "host-crash",
        expected: "the VM is restarted on another host",
    },
    PlanCase {
        number: 7,
        title: "crash of the host's VM manager service (the agent)",
        verb: "agent-kill",
        expected: "the engine keeps running",
    },
    PlanCase {
        number: 8,
        title: "all hosts lose their network",
        verb: "all-network-down",
        expected: "no host restarts the VM",
    },
];

/// The plan's case `number` (1..=8).
pub fn case(number: u8) -> Option<&'static PlanCase> {
    CASES.iter().find(|c| c.number == number)
}

/// The fault that causes case `number` on `holder` (the host running the engine).
pub fn fault_for(number: u8, holder: u16) -> Option<Fault> {
    let host = Some(holder);
    Some(match number {
        1 => Fault::EngineNetworkDown { host },
        2 => Fault::EngineStop { host },
        3 => Fault::VmKill { host },
        4 => Fault::HostNetworkDown { host },
        5 => Fault::StorageUnmount { host },
        6 => Fault::HostCrash { host },
        7 => Fault::AgentKill { host },
        8 => Fault::AllNetworkDown,
        _ => return None,
    })
}

/// One host as `hosted-engine --vm-status --json` shows it: what an operator
/// observes, set against the ground truth (the agent's own per-host record is
/// [`crate::proto::HostStatus`], a different thing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedHost {
    pub id: u16,
    pub hostname: String,
    /// The agent's state (`state=` of the extra text), empty when missing.
    pub state: String,
    pub score: u64,
    /// `engine-status`: `vm`, `health`, `detail`, `reason`.
    pub vm: String,
    pub health: String,
    pub detail: String,
    pub reason: Option<String>,
    /// `live-data`: the slot's heartbeat is recent.
    pub live: bool,
    /// `lease=` and `lease-epoch=` of the extra text.
    pub lease: String,
    pub epoch: Option<u64>,
    /// `gateway=` of the extra text: gateway probes that answered, e.g. `3/3`.
    pub gateway: Option<String>,
}

impl ObservedHost {
    /// `{"health": "good", "vm": "up", "detail": "Up"}` on a live slot.
    pub fn engine_good(&self) -> bool {
        self.live && self.vm == "up" && self.health == "good"
    }

    /// Every gateway probe answered (`gateway=3/3`).
    pub fn gateway_ok(&self) -> bool {
        self.gateway
            .as_deref()
            .and_then(|g| g.split_once('/'))
            .is_some_and(|(ok, all)| ok == all && ok != "0")
    }

    /// One compact line: `h2 EngineUp 3400 up/good/Up held:2`.
    pub fn brief(&self) -> String {
        let reason = self
            .reason
            .as_deref()
            .map_or_else(String::new, |r| format!(" ({r})"));
        let stale = if self.live { "" } else { " stale" };
        let epoch = self.epoch.map_or_else(|| "-".into(), |e| e.to_string());
        format!(
            "h{} {} {} {}/{}/{}{reason} {}:{epoch}{stale}",
            self.id, self.state, self.score, self.vm, self.health, self.detail, self.lease
        )
    }
}

/// What `hosted-engine --vm-status --json` printed, by host id (not the
/// engine VM's state, [`crate::metadata::VmStatus`]).
pub type ObservedStatus = BTreeMap<u16, ObservedHost>;

/// Parses `hosted-engine --vm-status --json` (the reference's shape: one object
/// per host id, plus `global_maintenance`).
pub fn parse_vm_status(text: &str) -> Result<ObservedStatus, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text:.200}"))?;
    let object = value
        .as_object()
        .ok_or_else(|| format!("not a JSON object: {text:.200}"))?;
    let mut hosts = ObservedStatus::new();
    for (key, host) in object {
        let Ok(id) = key.parse::<u16>() else { continue };
        hosts.insert(id, parse_host(id, host)?);
    }
    Ok(hosts)
}

fn parse_host(id: u16, host: &serde_json::Value) -> Result<ObservedHost, String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let engine = &host["engine-status"];
    let extra = host["extra"].as_str().unwrap_or_default();
    let key = |name: &str| {
        extra
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Ok(ObservedHost {
        id,
        hostname: text(&host["hostname"]).unwrap_or_default(),
        state: key("state").unwrap_or_default(),
        score: host["score"]
            .as_u64()
            .ok_or_else(|| format!("host {id}: no score"))?,
        vm: text(&engine["vm"]).ok_or_else(|| format!("host {id}: no engine-status vm"))?,
        health: text(&engine["health"]).unwrap_or_default(),
        detail: text(&engine["detail"]).unwrap_or_default(),
        reason: text(&engine["reason"]),
        live: host["live-data"].as_bool().unwrap_or(false),
        lease: key("lease").unwrap_or_else(|| "-".into()),
        epoch: key("lease-epoch").and_then(|e| e.parse().ok()),
        gateway: key("gateway"),
    })
}

/// The `hosted-engine` binary next to the lab's `he-lab`.
pub fn hosted_engine_bin(spec: &LabSpec) -> PathBuf {
    spec.lab_bin.with_file_name("hosted-engine")
}

/// Runs `hosted-engine --vm-status --json` as host `id` of the lab.
pub fn vm_status(lab: &Lab, id: u16, hosted_engine: &Path) -> Result<ObservedStatus, String> {
    let mut command = lab
        .command(id, hosted_engine)
        .map_err(|e| format!("{e:#}"))?;
    command.args(["--vm-status", "--json"]);
    let out = super::cmd::run(&mut command, STATUS_TIMEOUT)?;
    parse_vm_status(&out)
}

/// One look at the lab.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Since the follower's clock started (the fault): when both the status
    /// and the ground truth had been taken.
    pub at: Duration,
    /// What the observing host's `hosted-engine --vm-status --json` said.
    pub status: Result<ObservedStatus, String>,
    pub truth: GroundTruth,
}

impl Sample {
    /// The one running engine payload: its host and process.
    pub fn payload(&self) -> Option<(u16, ProcId)> {
        let host = self.truth.single_engine_host()?;
        let payload = self.truth.hosts[usize::from(host - 1)].payloads.first()?;
        Some((host, payload.proc))
    }

    /// The engine's health page answers as it should (ground truth).
    pub fn health_page_ok(&self) -> bool {
        self.truth.engine_health.as_deref() == Some(HEALTH_BODY)
    }

    /// Host `id` in the observed status.
    pub fn host(&self, id: u16) -> Option<&ObservedHost> {
        self.status.as_ref().ok()?.get(&id)
    }

    /// A healthy engine: exactly one payload runs, its health page answers, and
    /// the observed status shows that host `EngineUp` with a good engine. The
    /// host, then.
    pub fn healthy(&self) -> Option<u16> {
        let (host, _) = self.payload()?;
        let status = self.host(host)?;
        (self.health_page_ok() && status.state == "EngineUp" && status.engine_good())
            .then_some(host)
    }

    /// One line for a timeline.
    pub fn render(&self) -> String {
        let mut line = format!("{:>7.1}s ", self.at.as_secs_f64());
        match &self.status {
            Ok(hosts) => {
                let hosts: Vec<String> = hosts.values().map(ObservedHost::brief).collect();
                line.push_str(&hosts.join(" | "));
            }
            Err(e) => {
                let _ = write!(line, "vm-status failed: {e}");
            }
        }
        let engine: Vec<String> = self
            .truth
            .hosts
            .iter()
            .flat_map(|h| &h.payloads)
            .map(|p| format!("h{} pid {}", p.host, p.proc.pid))
            .collect();
        let health = match self.truth.engine_health.as_deref() {
            Some(HEALTH_BODY) => "healthy",
            Some(_) => "unhealthy",
            None => "-",
        };
        let _ = write!(line, " || engine: [{}] {health}", engine.join(", "));
        line
    }
}

/// `then`, once host `host`'s status has shown another state than `EngineUp`:
/// after a fault that the host's agent handles within a loop (a VM crash), its
/// slot still shows the `EngineUp` it published before the fault until its next
/// publish, which must not count as the recovery.
pub fn after_leaving_engine_up(
    host: u16,
    mut then: impl FnMut(&Sample) -> bool,
) -> impl FnMut(&Sample) -> bool {
    let mut left = false;
    move |s| {
        if s.host(host).is_some_and(|h| h.state != "EngineUp") {
            left = true;
        }
        left && then(s)
    }
}

/// One step of an expected sequence: what it is, and how a sample shows it.
pub type Step<'a> = (&'a str, &'a dyn Fn(&Sample) -> bool);

/// Follows a lab: samples of the observed status and the ground truth.
pub struct Follower<'a> {
    lab: &'a Lab,
    hosted_engine: PathBuf,
    /// The host whose `hosted-engine` is asked.
    pub observer: u16,
    start: Instant,
    samples: Vec<Sample>,
}

impl<'a> Follower<'a> {
    /// Follows `lab`, asking host `observer`'s `hosted-engine` (the binary).
    pub fn new(lab: &'a Lab, hosted_engine: impl Into<PathBuf>, observer: u16) -> Follower<'a> {
        Follower {
            lab,
            hosted_engine: hosted_engine.into(),
            observer,
            start: Instant::now(),
            samples: Vec::new(),
        }
    }

    /// Starts the clock again (at the fault) and forgets earlier samples.
    pub fn restart(&mut self) {
        self.start = Instant::now();
        self.samples.clear();
    }

    /// Time since the clock started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Every sample since the clock started.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Takes one round of samples: the ground truth once (its health probe may
    /// take a second) and, meanwhile, the observer's status every
    /// [`STATUS_PAUSE`], so that a state published for one agent loop is seen.
    /// Returns the index of the round's first sample.
    fn sample_round(&mut self) -> usize {
        let (lab, observer, start) = (self.lab, self.observer, self.start);
        let hosted_engine = self.hosted_engine.as_path();
        let (truth, truth_at, statuses) = std::thread::scope(|scope| {
            let truth = scope.spawn(|| (lab.ground_truth(), start.elapsed()));
            let mut statuses = Vec::new();
            loop {
                let status = vm_status(lab, observer, hosted_engine);
                statuses.push((start.elapsed(), status));
                if truth.is_finished() {
                    break;
                }
                std::thread::sleep(STATUS_PAUSE);
            }
            let (truth, truth_at) = truth.join().expect("the ground truth does not panic");
            (truth, truth_at, statuses)
        });
        let excess = (self.samples.len() + statuses.len()).saturating_sub(SAMPLES_MAX);
        if excess > 0 {
            // Keep the beginning (the fault) and the end.
            let middle = SAMPLES_MAX / 2;
            self.samples.drain(middle..middle + excess);
        }
        let first = self.samples.len();
        self.samples
            .extend(statuses.into_iter().map(|(at, status)| Sample {
                // Both halves seen by then: a time never earlier than the truth.
                at: at.max(truth_at),
                status,
                truth: truth.clone(),
            }));
        first
    }

    /// Takes one sample (a round's last) and returns it.
    pub fn sample(&mut self) -> &Sample {
        self.sample_round();
        self.samples.last().expect("a round has a sample")
    }

    /// Samples until `done` holds; that sample, or an error naming `what` with
    /// the timeline. Ctrl-C (SIGINT, once the stop handlers are installed) ends
    /// the wait with an error.
    pub fn until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Sample) -> bool,
    ) -> anyhow::Result<Sample> {
        let deadline = Instant::now() + limit;
        loop {
            let first = self.sample_round();
            if let Some(sample) = self.samples[first..].iter().find(|s| done(s)) {
                return Ok(sample.clone());
            }
            if crate::shell::signals::stop_requested() {
                bail!("interrupted while waiting for {what}");
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {} s waiting for {what}; timeline:\n{}",
                    limit.as_secs(),
                    self.timeline()
                );
            }
            std::thread::sleep(SAMPLE_PAUSE);
        }
    }

    /// Samples for `span`, checking `always` on each; the first sample that
    /// breaks it is an error naming `what`.
    pub fn during(
        &mut self,
        what: &str,
        span: Duration,
        mut always: impl FnMut(&Sample) -> bool,
    ) -> anyhow::Result<()> {
        let end = Instant::now() + span;
        while Instant::now() < end {
            let first = self.sample_round();
            if let Some(broken) = self.samples[first..].iter().find(|s| !always(s)) {
                bail!(
                    "{what} broke at {:.1} s; timeline:\n{}",
                    broken.at.as_secs_f64(),
                    self.timeline()
                );
            }
            if crate::shell::signals::stop_requested() {
                bail!("interrupted while checking {what}");
            }
            std::thread::sleep(SAMPLE_PAUSE);
        }
        Ok(())
    }

    /// The samples as text, one line each, consecutive repeats folded.
    pub fn timeline(&self) -> String {
        let mut out = String::new();
        let mut last = String::new();
        let mut repeats = 0;
        for sample in &self.samples {
            let line = sample.render();
            let body = line.split_once("s ").map_or("", |(_, b)| b).to_string();
            if body == last {
                repeats += 1;
                continue;
            }
            if repeats > 0 {
                let _ = writeln!(out, "          (same x{repeats})");
            }
            repeats = 0;
            last = body;
            let _ = writeln!(out, "{line}");
        }
        if repeats > 0 {
            let _ = writeln!(out, "          (same x{repeats})");
        }
        out
    }

    /// Checks that the observed statuses show `steps` in this order (each step
    /// on a later or the same sample as the one before); names the first step
    /// never seen.
    pub fn seen_in_order(&self, steps: &[Step<'_>]) -> anyhow::Result<()> {
        let mut from = 0;
        for (what, step) in steps {
            match self.samples[from..].iter().position(step) {
                Some(i) => from += i,
                None => bail!(
                    "never saw {what} (in this order); timeline:\n{}",
                    self.timeline()
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"1": {"host-id": 1, "host-ts": 11897, "score": 3400,
        "engine-status": {"vm": "up", "health": "good", "detail": "Up"}, "hostname": "host1",
        "maintenance": false, "stopped": false, "crc32": "28defeb6",
        "conf_on_shared_storage": true, "local_conf_timestamp": 11883,
        "extra": "metadata_parse_version=1\nhost-id=1\nscore=3400\nstate=EngineUp\nlease=held\nlease-epoch=2\nlease-epoch-seen=2\ngateway=3/3\n",
        "live-data": true},
      "2": {"host-id": 2, "host-ts": 11897, "score": 1200,
        "engine-status": {"vm": "up", "health": "bad", "detail": "Up", "reason": "failed liveliness check"},
        "hostname": "host2", "maintenance": false, "stopped": false, "crc32": "b1c56cdd",
        "conf_on_shared_storage": true, "local_conf_timestamp": 11883,
        "extra": "state=EngineUpBadHealth\n", "live-data": false},
      "global_maintenance": false}"#;

    #[test]
    fn the_json_status_parses_per_host() {
        let hosts = parse_vm_status(STATUS).unwrap();
        assert_eq!(hosts.len(), 2);
        let one = &hosts[&1];
        assert_eq!(one.state, "EngineUp");
        assert_eq!((one.lease.as_str(), one.epoch), ("held", Some(2)));
        assert!(one.engine_good() && one.gateway_ok());
        let two = &hosts[&2];
        assert_eq!(two.reason.as_deref(), Some("failed liveliness check"));
        assert_eq!(two.score, 1200);
        assert!(!two.live && !two.engine_good());
        assert_eq!(two.epoch, None);
        assert!(!two.gateway_ok());
        assert_eq!(
            two.brief(),
            "h2 EngineUpBadHealth 1200 up/bad/Up (failed liveliness check) -:- stale"
        );
        assert!(parse_vm_status("[]").is_err());
        assert!(parse_vm_status("{\"1\": {}}").is_err());
    }

    #[test]
    fn every_case_has_its_fault() {
        for case in &CASES {
            let fault = fault_for(case.number, 2).unwrap();
            assert_eq!(fault.verb(), case.verb);
            if case.number != 8 {
                assert_eq!(fault.host(), Some(2));
            }
        }
        assert!(fault_for(9, 1).is_none());
        assert_eq!(case(3).unwrap().verb, "vm-kill");
    }
}
