//! The hosts as the supervisor runs them: each one's agent (started,
//! restarted, given up as systemd would), its emulated watchdog, its power,
//! and the live side of the lab's isolation. The supervisor's loop drives it
//! turn by turn; the fault verbs and heal act on it.

use std::collections::{BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use super::bmc::Bmcs;
use super::log::log;
use super::slots::SlotWriters;
use crate::lab::cluster::control::{HostView, Power};
use crate::lab::cluster::isolation::{self, Backend, LiveNet};
use crate::lab::cluster::layout::LabSpec;
use crate::lab::cluster::loopnet::NetState;
use crate::lab::cluster::procs::{self, ProcId};
use crate::lab::cluster::truth;
use crate::shell::watchdog::EXPIRE_BYTE;

/// Pause before an exited agent is started again (systemd's RestartSec).
pub const RESTART_DELAY: Duration = Duration::from_millis(500);
/// Starts within [`START_LIMIT_WINDOW`] after which restarts are given up.
pub const START_LIMIT: usize = 5;
pub const START_LIMIT_WINDOW: Duration = Duration::from_secs(10);
/// How long stopping agents get after SIGTERM before SIGKILL.
pub const AGENT_STOP_WAIT: Duration = Duration::from_secs(10);
/// How often the hosts' bridges are cleared of dead engine VMs' ports (netns).
const REAP_EVERY: Duration = Duration::from_millis(500);

/// The emulated hardware watchdog of one host.
struct Dog {
    armed: bool,
    /// The file's (mtime, size) at the last look.
    seen: Option<(SystemTime, u64)>,
    last_pet: Instant,
}

/// One host as the supervisor runs it.
pub(super) struct HostRun {
    pub id: u16,
    pub agent: Option<Child>,
    pub agent_id: Option<ProcId>,
    /// Powered off, and why.
    pub off: Option<String>,
    pub restart_at: Option<Instant>,
    starts: VecDeque<Instant>,
    starts_total: u32,
    pub failed: bool,
    last_exit: Option<String>,
    pub paused_until: Option<Instant>,
    /// The watchdog does not count while the pause lasts (`agent-pause-unfenced`).
    pub unfenced: bool,
    /// Stopped by `agent-stop`: not restarted until `agent-start` or heal.
    pub agent_stopped: bool,
    dog: Dog,
    pub net_down: bool,
}

impl HostRun {
    /// Host `id` before its first boot.
    fn new(id: u16, now: Instant) -> HostRun {
        HostRun {
            id,
            agent: None,
            agent_id: None,
            off: Some("not started".into()),
            restart_at: None,
            starts: VecDeque::new(),
            starts_total: 0,
            failed: false,
            last_exit: None,
            paused_until: None,
            unfenced: false,
            agent_stopped: false,
            dog: Dog {
                armed: false,
                seen: None,
                last_pet: now,
            },
            net_down: false,
        }
    }
}

/// Every host of the lab, their network and the third-party slot writers.
pub(super) struct Rig {
    pub(super) spec: LabSpec,
    pub(super) hosts: Vec<HostRun>,
    pub(super) partition: BTreeSet<u16>,
    /// Hosts whose VM manager `vm-manager-wedge` wedged.
    pub(super) wedged: BTreeSet<u16>,
    /// Third-party writers on the metadata volume (slot faults).
    pub(super) slots: SlotWriters,
    /// What differs between the isolations, picked once from `lab.json`.
    pub(super) backend: &'static dyn Backend,
    net: Box<dyn LiveNet>,
    pub(super) dog_timeout: Duration,
    reaped_at: Instant,
    /// The hosts' BMCs (`--fencing`).
    pub(super) bmcs: Option<Bmcs>,
}

impl Rig {
    /// Every host off (the caller boots them); the network running, and with
    /// `--fencing` every host's BMC, answering and powered off.
    pub(super) fn new(spec: LabSpec) -> anyhow::Result<Rig> {
        let backend = isolation::backend(spec.isolation);
        let net = backend.start(&spec)?;
        let bmcs = if spec.fencing {
            Some(Bmcs::start(&spec, backend).context("starting the BMCs")?)
        } else {
            None
        };
        let now = Instant::now();
        let hosts = spec.host_ids().map(|id| HostRun::new(id, now)).collect();
        Ok(Rig {
            dog_timeout: Duration::from_millis(spec.profile.watchdog_timeout_ms()),
            slots: SlotWriters::new(spec.volume()),
            spec,
            hosts,
            partition: BTreeSet::new(),
            wedged: BTreeSet::new(),
            backend,
            net,
            reaped_at: now,
            bmcs,
        })
    }

    pub(super) fn host_mut(&mut self, id: u16) -> &mut HostRun {
        &mut self.hosts[usize::from(id - 1)]
    }

    /// `host`, or the host that runs the engine payload.
    pub(super) fn target(&self, host: Option<u16>) -> Result<u16, String> {
        if let Some(host) = host {
            return Ok(host);
        }
        let hosts: BTreeSet<u16> = truth::scan_payloads(&self.spec.id)
            .into_iter()
            .map(|p| p.host)
            .collect();
        match hosts.len() {
            1 => Ok(*hosts.first().expect("one host")),
            0 => Err("no engine VM runs: name a host".into()),
            _ => Err(format!(
                "engine VMs run on several hosts ({hosts:?}): name one"
            )),
        }
    }

    /// Removes the ports dead engine VMs left on the hosts' bridges (netns).
    pub(super) fn reap_vm_ports(&mut self, now: Instant) {
        if now.duration_since(self.reaped_at) < REAP_EVERY {
            return;
        }
        self.reaped_at = now;
        for id in self.spec.host_ids() {
            match self.net.reap_vm_port(&self.spec, id) {
                Ok(true) => log(&format!(
                    "host{id}: removed the port a dead engine VM left on its bridge"
                )),
                Ok(false) => {}
                Err(e) => log(&format!("host{id}: dead engine VM's port: {e}")),
            }
        }
    }

    /// Reaps, restarts, resumes and watches one host's agent.
    pub(super) fn step_host(&mut self, id: u16, now: Instant) {
        let watchdog = self.spec.watchdog(id);
        let h = self.host_mut(id);
        if h.off.is_some() {
            return;
        }
        if let Some(child) = h.agent.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            h.agent = None;
            h.agent_id = None;
            h.paused_until = None;
            h.last_exit = Some(status.to_string());
            if std::fs::read(&watchdog).is_ok_and(|b| b.last() == Some(&b'V')) {
                h.dog.armed = false;
            }
            if h.agent_stopped {
                log(&format!(
                    "host{id}: agent exited ({status}); stopped by agent-stop: not restarting"
                ));
            } else {
                h.restart_at = Some(now + RESTART_DELAY);
                log(&format!("host{id}: agent exited ({status}); restarting"));
            }
        }
        if h.agent.is_none()
            && !h.failed
            && !h.agent_stopped
            && h.restart_at.is_some_and(|at| at <= now)
        {
            self.start_agent(id, now);
        }
        let h = self.host_mut(id);
        if let Some(until) = h.paused_until
            && until <= now
        {
            h.paused_until = None;
            h.unfenced = false;
            if let Some(agent) = h.agent_id {
                let _ = procs::signal_verified(agent, libc::SIGCONT);
                log(&format!("host{id}: agent continued (SIGCONT)"));
            }
        }
        self.watch_dog(id, now);
    }

    fn watch_dog(&mut self, id: u16, now: Instant) {
        let timeout = self.dog_timeout;
        let path = self.spec.watchdog(id);
        let seen = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let h = self.host_mut(id);
        if seen != h.dog.seen {
            // A write: a magic close disarms, anything else pets (and arms
            // again after a magic close, as opening the device does).
            h.dog.seen = seen;
            let last = last_byte(&path);
            h.dog.armed = last != Some(b'V');
            h.dog.last_pet = now;
            if last == Some(EXPIRE_BYTE) {
                log(&format!(
                    "host{id}: watchdog expired by its agent: powering the host off"
                ));
                self.power_off(id, "watchdog");
                return;
            }
        }
        if h.unfenced {
            // Suspended: it counts afresh once the pause ends.
            h.dog.last_pet = now;
        }
        if !h.dog.armed {
            return;
        }
        let idle = now.duration_since(h.dog.last_pet);
        if idle > timeout {
            log(&format!(
                "host{id}: watchdog not petted for {} ms: powering the host off",
                idle.as_millis()
            ));
            self.power_off(id, "watchdog");
        }
    }

    fn start_agent(&mut self, id: u16, now: Instant) {
        let h = &mut self.hosts[usize::from(id - 1)];
        h.restart_at = None;
        while h
            .starts
            .front()
            .is_some_and(|t| now.duration_since(*t) > START_LIMIT_WINDOW)
        {
            h.starts.pop_front();
        }
        if h.starts.len() >= START_LIMIT {
            h.failed = true;
            log(&format!(
                "host{id}: agent started {START_LIMIT} times within {} s: giving up until heal",
                START_LIMIT_WINDOW.as_secs()
            ));
            return;
        }
        match self.spawn_agent(id) {
            Ok((child, agent_id)) => {
                let seen = std::fs::metadata(self.spec.watchdog(id))
                    .ok()
                    .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
                let h = self.host_mut(id);
                h.agent = Some(child);
                h.agent_id = Some(agent_id);
                h.starts.push_back(now);
                h.starts_total += 1;
                h.dog = Dog {
                    armed: true,
                    seen,
                    last_pet: now,
                };
                log(&format!("host{id}: agent started (pid {})", agent_id.pid));
            }
            Err(e) => {
                log(&format!("host{id}: cannot start the agent: {e:#}"));
                let h = self.host_mut(id);
                h.starts.push_back(now);
                h.restart_at = Some(now + RESTART_DELAY);
            }
        }
    }

    fn spawn_agent(&self, id: u16) -> anyhow::Result<(Child, ProcId)> {
        let spec = &self.spec;
        // Emptied so that its content is this agent's pets and magic close only.
        std::fs::write(spec.watchdog(id), b"")?;
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.agent_log(id))
            .with_context(|| format!("opening {}", spec.agent_log(id).display()))?;
        let mut command = Command::new(&spec.agent_bin);
        for var in crate::config::PATH_ENV_VARS {
            command.env_remove(var);
        }
        command
            .envs(spec.host_env(id))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .current_dir(spec.host_root(id))
            .process_group(0);
        self.net.enter(id, &mut command, &spec.host_root(id));
        let child = command
            .spawn()
            .with_context(|| format!("{}", spec.agent_bin.display()))?;
        let agent_id = procs::proc_id(child.id() as i32).unwrap_or(ProcId {
            pid: child.id() as i32,
            start_ticks: 0,
        });
        procs::write_pid_file(&spec.agent_pid(id), agent_id)?;
        Ok((child, agent_id))
    }

    /// Powers host `id` off: its agent, its lease keeper and its engine
    /// payloads SIGKILLed, no restart.
    pub(super) fn power_off(&mut self, id: u16, reason: &str) {
        let payloads = self.payloads_on(id);
        let agent_file = self.spec.agent_pid(id);
        // A keeper leads a process group of its own (it outlives its agent by
        // design), but never its host.
        for (_, keeper) in truth::scan_keepers(&self.spec)
            .into_iter()
            .filter(|(host, _)| *host == id)
        {
            let _ = procs::signal_group_verified(keeper, libc::SIGKILL);
            log(&format!(
                "host{id}: lease keeper (pid {}) killed",
                keeper.pid
            ));
        }
        let h = self.host_mut(id);
        if let Some(agent) = h.agent_id {
            // The agent leads its process group: helpers (ping, mount) die too.
            let _ = procs::signal_group_verified(agent, libc::SIGKILL);
        }
        if let Some(mut child) = h.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        h.agent_id = None;
        h.off = Some(reason.to_string());
        h.restart_at = None;
        h.paused_until = None;
        h.unfenced = false;
        h.dog.armed = false;
        let _ = std::fs::remove_file(agent_file);
        for p in payloads {
            let _ = procs::signal_group_verified(p, libc::SIGKILL);
        }
        self.sync_net();
        self.bmc_follow_off(id);
        log(&format!("host{id}: powered off ({reason})"));
    }

    /// Boots host `id`: its agent starts at once (and its BMC powers on).
    pub(super) fn power_on(&mut self, id: u16, now: Instant) {
        let h = self.host_mut(id);
        h.off = None;
        h.failed = false;
        h.starts.clear();
        h.restart_at = Some(now);
        self.sync_net();
        self.bmc_follow_on(id, now);
    }

    /// The engine payloads running on host `id`.
    pub(super) fn payloads_on(&self, id: u16) -> Vec<ProcId> {
        truth::scan_payloads(&self.spec.id)
            .into_iter()
            .filter(|p| p.host == id)
            .map(|p| p.proc)
            .collect()
    }

    /// Tells the network what the faults allow.
    pub(super) fn sync_net(&mut self) {
        let down: BTreeSet<u16> = self
            .hosts
            .iter()
            .filter(|h| h.net_down)
            .map(|h| h.id)
            .collect();
        let off: BTreeSet<u16> = self
            .hosts
            .iter()
            .filter(|h| h.off.is_some())
            .map(|h| h.id)
            .collect();
        let partition = self.partition.clone();
        self.net.sync(NetState {
            down,
            off,
            partition,
        });
    }

    /// `mounted`, `unmounted` or `read-only`, plus `, blocked`.
    pub(super) fn storage_state(&self, id: u16) -> String {
        let state = self.backend.storage_state(&self.spec, id);
        if self.spec.storage_block(id).exists() {
            format!("{state}, blocked")
        } else {
            state.to_string()
        }
    }

    /// What the supervisor tells of each host.
    pub(super) fn host_views(&self, now: Instant) -> Vec<HostView> {
        self.hosts
            .iter()
            .map(|h| HostView {
                id: h.id,
                power: if h.off.is_some() {
                    Power::Off
                } else {
                    Power::On
                },
                off_reason: h.off.clone(),
                agent: h.agent_id,
                agent_starts: h.starts_total,
                agent_failed: h.failed,
                agent_stopped: h.agent_stopped,
                last_exit: h.last_exit.clone(),
                paused_ms_left: h
                    .paused_until
                    .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                watchdog_idle_ms: h
                    .dog
                    .armed
                    .then(|| now.duration_since(h.dog.last_pet).as_millis() as u64),
                watchdog_suspended: h.unfenced,
                network_up: !h.net_down && !self.partition.contains(&h.id),
                storage: self.storage_state(h.id),
                bmc: self.bmc_view(h.id),
            })
            .collect()
    }

    /// Stops every agent (SIGTERM, then SIGKILL after [`AGENT_STOP_WAIT`]),
    /// then kills every lease keeper (a holder's agent leaves one when it
    /// stops) and every engine payload.
    pub(super) fn shutdown(&mut self) {
        self.slots.stop_all();
        for h in &mut self.hosts {
            if let Some(agent) = h.agent_id {
                if h.paused_until.take().is_some() {
                    let _ = procs::signal_verified(agent, libc::SIGCONT);
                }
                let _ = procs::signal_verified(agent, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + AGENT_STOP_WAIT;
        for h in &mut self.hosts {
            let Some(mut child) = h.agent.take() else {
                continue;
            };
            loop {
                match child.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Ok(None) => {
                        log(&format!("host{}: agent ignored SIGTERM: SIGKILL", h.id));
                        if let Some(agent) = h.agent_id {
                            let _ = procs::signal_group_verified(agent, libc::SIGKILL);
                        }
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => break,
                }
            }
            h.agent_id = None;
        }
        for (host, keeper) in truth::scan_keepers(&self.spec) {
            let _ = procs::signal_group_verified(keeper, libc::SIGKILL);
            log(&format!(
                "host{host}: lease keeper (pid {}) killed",
                keeper.pid
            ));
        }
        for p in truth::scan_payloads(&self.spec.id) {
            let _ = procs::signal_group_verified(p.proc, libc::SIGKILL);
        }
        if let Some(bmcs) = &mut self.bmcs {
            bmcs.stop_all();
            log("BMCs stopped");
        }
    }
}

/// The last byte of `path`, read without reading the whole file (it grows by
/// one byte per pet).
fn last_byte(path: &Path) -> Option<u8> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::End(-1)).ok()?;
    let mut byte = [0u8; 1];
    file.read_exact(&mut byte).ok()?;
    Some(byte[0])
}
