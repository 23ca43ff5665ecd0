//! The real lab: N `ovirt-ha-agent` processes on one machine sharing one storage
//! directory, each with its own configuration, socket, logs and (under netns)
//! namespaces; a supervisor that restarts them and emulates their watchdogs; the
//! engine payload as the VM; fault injection; ground truth.
//!
//! The library API is what tests drive:
//!
//! ```no_run
//! # use hosted_engine::lab::cluster::*;
//! # fn main() -> anyhow::Result<()> {
//! let dir = std::path::PathBuf::from("/tmp/my-lab");
//! let lab = Lab::up(&LabOptions::new(3, dir).isolation(Isolation::None))?;
//! let truth = lab.wait_until("one engine", std::time::Duration::from_secs(90), |t| {
//!     t.single_engine_host().is_some()
//! })?;
//! lab.fault(Fault::VmKill { host: None })?;
//! lab.heal()?;
//! assert!(lab.canary_check()?.ok());
//! lab.down()?; // or drop it: Drop tears the lab down too
//! # Ok(()) }
//! ```
//!
//! `he-lab down` (and [`teardown`]) work from the lab directory's records alone,
//! also after `he-lab` or the supervisor were SIGKILLed: pid files with start
//! times, the lab id every lab process carries in its environment, the
//! namespace names derived from that id, and the mount table. That includes
//! the hosts' lease keepers (`ovirt-ha-agent --keep-lease`, which a holder's
//! agent leaves when it stops cleanly, in a process group of its own): found
//! by their pid files and by `/proc` ([`truth::scan_keepers`]), killed with
//! their host (a power-off) and by `down`. With `--fencing` it includes each
//! host's BMC (`ipmi_sim`) and the power sentinel it runs ([`fencing`]),
//! found by their pid files and killed by `down` as well.

pub mod config;
pub mod control;
pub mod deploy;
pub mod faults;
pub mod fencing;
pub mod isolation;
pub mod layout;
pub mod loopnet;
pub mod netns;
pub mod procs;
pub mod supervisor;
pub mod truth;

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use control::{BmcView, FaultRecord, HostView, Power, SupervisorView};
pub use faults::Fault;
pub use isolation::{HostCommand, host_command};
pub use layout::{HOSTS_MAX, Isolation, LabSpec, Profile, default_dir};
pub use truth::{GroundTruth, HostTruth, Payload, ground_truth};

use crate::lab::canary::{self, CanaryReport};
use control::{CtlReply, CtlRequest};
use layout::SPEC_VERSION;
use procs::ProcId;

/// Default bound on `up` waiting for every agent's socket.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `down` waits for the supervisor to stop its agents.
const SUPERVISOR_STOP_WAIT: Duration = Duration::from_secs(15);
/// How long `down` waits for orphaned agents after SIGTERM.
const ORPHAN_STOP_WAIT: Duration = Duration::from_secs(5);
/// Bytes of the supervisor's log shown when `up` fails.
const LOG_TAIL_BYTES: u64 = 4000;

/// How to start a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub hosts: u16,
    pub dir: PathBuf,
    pub isolation: Isolation,
    pub profile: Profile,
    /// The `he-lab` binary (supervisor, engine payload, storage helper).
    pub lab_bin: PathBuf,
    /// The `ovirt-ha-agent` binary.
    pub agent_bin: PathBuf,
    /// Bound on waiting for every agent to answer on its socket.
    pub ready_timeout: Duration,
    /// Configure the hosts through `hosted-engine --deploy` and
    /// `--deploy --add-host` instead of the lab's own writer.
    pub deploy: bool,
    /// A BMC per host (`ipmi_sim`) wired to the lab's power, and the
    /// cluster's `fencing.conf`: the agents fence ([`fencing`]).
    pub fencing: bool,
}

impl LabOptions {
    /// `hosts` hosts in `dir`, isolation `netns` for root and `none` otherwise,
    /// the fast profile, binaries next to the running executable.
    pub fn new(hosts: u16, dir: impl Into<PathBuf>) -> LabOptions {
        let exe = std::env::current_exe().unwrap_or_default();
        let bin_dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
        // A test binary lives in target/<profile>/deps; the binaries one up.
        let bin_dir = if bin_dir.ends_with("deps") {
            bin_dir.parent().unwrap_or(&bin_dir).to_path_buf()
        } else {
            bin_dir
        };
        LabOptions {
            hosts,
            dir: dir.into(),
            isolation: Isolation::default_for_user(),
            profile: Profile::Fast,
            lab_bin: bin_dir.join("he-lab"),
            agent_bin: bin_dir.join("ovirt-ha-agent"),
            ready_timeout: READY_TIMEOUT,
            deploy: false,
            fencing: false,
        }
    }

    pub fn fencing(mut self, fencing: bool) -> Self {
        self.fencing = fencing;
        self
    }

    pub fn deploy(mut self, deploy: bool) -> Self {
        self.deploy = deploy;
        self
    }

    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    pub fn binaries(mut self, lab_bin: impl Into<PathBuf>, agent_bin: impl Into<PathBuf>) -> Self {
        self.lab_bin = lab_bin.into();
        self.agent_bin = agent_bin.into();
        self
    }
}

/// A running lab. Dropping a lab made by [`Lab::up`] tears it down (as
/// [`Lab::down`]); one attached with [`Lab::open`] is left running.
pub struct Lab {
    spec: LabSpec,
    supervisor: Option<Child>,
    owned: bool,
    keep_dir: bool,
    down: bool,
}

impl Lab {
    /// Builds and starts a lab; returns once every agent answers on its socket.
    /// On failure everything started is torn down again.
    pub fn up(opts: &LabOptions) -> anyhow::Result<Lab> {
        let spec = prepare(opts)?;
        let mut lab = Lab {
            spec,
            supervisor: None,
            owned: true,
            keep_dir: false,
            down: false,
        };
        match lab.start(opts) {
            Ok(()) => Ok(lab),
            Err(e) => {
                let tail = match log_tail(&lab.spec.supervisor_log()) {
                    Some(tail) => format!("\nthe supervisor's log ends with:\n{tail}"),
                    None => String::new(),
                };
                let _ = lab.teardown_now();
                Err(anyhow::anyhow!("{e:#}{tail}"))
            }
        }
    }

    /// Attaches to the lab in `dir` (it keeps running when this is dropped).
    pub fn open(dir: &Path) -> anyhow::Result<Lab> {
        Ok(Lab {
            spec: LabSpec::load(dir)?,
            supervisor: None,
            owned: false,
            keep_dir: false,
            down: false,
        })
    }

    /// Leaves the lab running past this value (its supervisor runs detached);
    /// `he-lab down` or [`Lab::open`] find it again.
    pub fn detach(mut self) -> LabSpec {
        self.owned = false;
        // Not waited for: it outlives us and init reaps it.
        self.supervisor = None;
        self.spec.clone()
    }

    /// Keeps the directory (logs, configuration, storage) when torn down.
    pub fn keep_dir(&mut self, keep: bool) {
        self.keep_dir = keep;
    }

    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    pub fn dir(&self) -> &Path {
        &self.spec.dir
    }

    fn start(&mut self, opts: &LabOptions) -> anyhow::Result<()> {
        build(&self.spec, opts.deploy)?;
        self.supervisor = Some(spawn_supervisor(&self.spec)?);
        self.wait_ready(opts.ready_timeout)
    }

    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(child) = self.supervisor.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the supervisor exited ({status})");
            }
            let waiting: Vec<u16> = self
                .spec
                .host_ids()
                .filter(|&id| {
                    crate::proto::call(
                        &self.spec.agent_socket(id),
                        &crate::proto::Request::STATUS,
                        Duration::from_secs(2),
                    )
                    .is_err()
                })
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            // `he-lab up` interrupted (Ctrl-C): the caller tears down.
            if crate::shell::signals::stop_requested() {
                bail!("interrupted");
            }
            if Instant::now() >= deadline {
                bail!(
                    "agents of {} did not answer on their sockets within {} s (see their agent.log)",
                    faults::hosts_text(&waiting),
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Injects a fault; returns what the supervisor did.
    pub fn fault(&self, fault: Fault) -> anyhow::Result<String> {
        self.ask(&CtlRequest::Fault { fault })
    }

    /// Undoes every fault.
    pub fn heal(&self) -> anyhow::Result<String> {
        self.ask(&CtlRequest::Heal)
    }

    fn ask(&self, request: &CtlRequest) -> anyhow::Result<String> {
        let reply = control::call(
            &self.spec.supervisor_socket(),
            request,
            control::ACTION_TIMEOUT,
        )?;
        match reply {
            CtlReply::Done { message } => Ok(message),
            CtlReply::Error { message } => Err(anyhow::anyhow!(message)),
            CtlReply::View { .. } => bail!("the supervisor answered a view"),
        }
    }

    /// The supervisor's live view.
    pub fn view(&self) -> anyhow::Result<SupervisorView> {
        match control::call(
            &self.spec.supervisor_socket(),
            &CtlRequest::View,
            control::VIEW_TIMEOUT,
        )? {
            CtlReply::View { view } => Ok(view),
            CtlReply::Error { message } => Err(anyhow::anyhow!(message)),
            CtlReply::Done { message } => bail!("unexpected reply: {message}"),
        }
    }

    /// The ground truth now, the engine's health page included.
    pub fn ground_truth(&self) -> GroundTruth {
        truth::ground_truth(&self.spec, true)
    }

    /// Polls the ground truth until `done` holds; the last truth, or an error
    /// naming `what` with the last truth seen.
    pub fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&GroundTruth) -> bool,
    ) -> anyhow::Result<GroundTruth> {
        let deadline = Instant::now() + limit;
        loop {
            let truth = self.ground_truth();
            if done(&truth) {
                return Ok(truth);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {} s waiting for {what}; last seen:\n{}",
                    limit.as_secs(),
                    truth::render_text(&truth, &[])
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Host `id`'s agent's own status (what it believes), from its socket.
    pub fn agent_status(&self, id: u16) -> anyhow::Result<crate::proto::StatusReply> {
        match crate::proto::call(
            &self.spec.agent_socket(id),
            &crate::proto::Request::STATUS,
            Duration::from_secs(3),
        )? {
            crate::proto::Reply::Status(status) => Ok(*status),
            other => bail!("host{id}: not a status reply: {other:?}"),
        }
    }

    /// A command that runs as host `id` (its environment; under netns inside its
    /// namespaces).
    pub fn command(&self, id: u16, program: impl AsRef<OsStr>) -> anyhow::Result<HostCommand> {
        host_command(&self.spec, id, program.as_ref(), None)
    }

    /// Checks the engine payloads' canary (see [`crate::lab::canary`]).
    pub fn canary_check(&self) -> anyhow::Result<CanaryReport> {
        let path = self.spec.canary();
        canary::check_file(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Stops everything and removes the lab (the directory unless kept).
    pub fn down(mut self) -> anyhow::Result<DownReport> {
        self.teardown_now()
    }

    fn teardown_now(&mut self) -> anyhow::Result<DownReport> {
        self.down = true;
        let report = teardown(&self.spec, self.keep_dir);
        if let Some(mut child) = self.supervisor.take() {
            // Reaps it (it is dead by now, or killed here).
            let _ = child.kill();
            let _ = child.wait();
        }
        report
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.owned && !self.down {
            let _ = self.teardown_now();
        }
    }
}

/// Validates the options and writes `lab.json` (first, so that `down` can
/// always clean up after it).
fn prepare(opts: &LabOptions) -> anyhow::Result<LabSpec> {
    anyhow::ensure!(
        (1..=HOSTS_MAX).contains(&opts.hosts),
        "--hosts {}: a lab has 1..={HOSTS_MAX} hosts",
        opts.hosts
    );
    let backend = isolation::backend(opts.isolation);
    backend.available().map_err(anyhow::Error::msg)?;
    let hosted_engine = opts.agent_bin.with_file_name("hosted-engine");
    let needed = [&opts.lab_bin, &opts.agent_bin]
        .into_iter()
        .chain(opts.deploy.then_some(&hosted_engine));
    for bin in needed {
        anyhow::ensure!(bin.is_file(), "{}: no such program", bin.display());
    }
    if opts.fencing {
        let missing = crate::lab::bmc::missing_programs();
        anyhow::ensure!(
            missing.is_empty(),
            "--fencing needs {} (apt-get install --no-install-recommends openipmi \
             fence-agents ipmitool)",
            missing.join(", ")
        );
    }
    let dir = claim_dir(&opts.dir)?;
    // vm_command and storage_connect_command are split on whitespace, a
    // BMC's startcmd is read quoted.
    for path in [&dir, &opts.lab_bin, &opts.agent_bin] {
        anyhow::ensure!(
            !path
                .to_string_lossy()
                .contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\\')),
            "{}: the lab's paths must not contain whitespace, quotes or backslashes",
            path.display()
        );
    }
    let id: String = crate::lab::engine::boot_id().chars().take(6).collect();
    let net = backend.plan(&id, opts.hosts)?;
    let bridge = backend.bridge();
    let spec = LabSpec {
        version: SPEC_VERSION,
        sd_uuid: format!("he-lab-{id}-sd"),
        id,
        dir,
        hosts: opts.hosts,
        isolation: opts.isolation,
        profile: opts.profile,
        lab_bin: absolute_program(&opts.lab_bin)?,
        agent_bin: absolute_program(&opts.agent_bin)?,
        bridge,
        net,
        fencing: opts.fencing,
    };
    spec.save()?;
    Ok(spec)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))
}

/// A program's path made absolute without resolving a symlink in its last
/// part: its name is part of what it is (`he-lab` as `ovirt-ha-agent`, see
/// [`crate::lab::main`]).
fn absolute_program(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a program's path", path.display()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok(absolute(dir)?.join(name))
}

/// Creates the lab directory, refusing one that holds anything.
fn claim_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join(layout::SPEC_FILE).exists() {
        bail!(
            "{}: a lab is there already (he-lab down --dir {} first)",
            dir.display(),
            dir.display()
        );
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // Private when we make it; one that exists must be ours and closed to
    // others, or a user who made it first could change what root runs.
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(anyhow::anyhow!("creating {}: {e}", dir.display())),
    }
    crate::trust::check_dir(dir)?;
    let dir = absolute(dir)?;
    let mut entries = std::fs::read_dir(&dir)?;
    if entries.next().is_some() {
        bail!(
            "{}: not empty; a lab needs a directory of its own",
            dir.display()
        );
    }
    Ok(dir)
}

/// Storage, configuration, namespaces. With `deploy`, the configuration and
/// the metadata volume come from `hosted-engine --deploy`, run as each host
/// once its namespaces (and so its view of the storage) exist.
fn build(spec: &LabSpec, deploy: bool) -> anyhow::Result<()> {
    let backend = isolation::backend(spec.isolation);
    backend.create_storage(spec)?;
    if deploy {
        // The storage exists; what is on it is deploy's.
        let storage = spec.storage_dir();
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("creating {}", storage.display()))?;
        for id in spec.host_ids() {
            config::prepare_host(spec, id)?;
        }
    } else {
        let ha_agent = spec.volume();
        let ha_agent = ha_agent.parent().expect("the volume is in a directory");
        std::fs::create_dir_all(ha_agent)
            .with_context(|| format!("creating {}", ha_agent.display()))?;
        crate::shell::store::init_volume(&spec.volume(), false, Duration::from_secs(10))
            .with_context(|| "initializing the metadata volume")?;
        for id in spec.host_ids() {
            config::write_host(spec, id)?;
        }
    }
    backend.create_hosts(spec)?;
    if deploy {
        deploy::deploy_hosts(spec)?;
    }
    if spec.fencing {
        fencing::write_files(spec)?;
    }
    Ok(())
}

/// `he-lab storage-connect`: the agents' storage connect command. Mounts host
/// `id`'s storage again unless a `storage-lost` fault forbids it.
pub fn storage_connect(dir: &Path, id: u16) -> anyhow::Result<String> {
    let spec = LabSpec::load(dir)?;
    anyhow::ensure!(
        (1..=spec.hosts).contains(&id),
        "host{id}: this lab has hosts 1..={}",
        spec.hosts
    );
    if spec.storage_block(id).exists() {
        bail!("host{id}: the storage cannot be reached (storage-lost fault; he-lab heal ends it)");
    }
    isolation::backend(spec.isolation).connect_storage(&spec, id)
}

fn spawn_supervisor(spec: &LabSpec) -> anyhow::Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.supervisor_log())
        .with_context(|| format!("opening {}", spec.supervisor_log().display()))?;
    let mut command = Command::new(&spec.lab_bin);
    command
        .arg("supervise")
        .arg("--dir")
        .arg(&spec.dir)
        .env(procs::LAB_ID_VAR, &spec.id)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .current_dir(&spec.dir);
    // SAFETY: setsid(2) is async-signal-safe. Its own session: the supervisor
    // outlives the terminal and the `he-lab up` that started it.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("starting {} supervise", spec.lab_bin.display()))
}

fn log_tail(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok().filter(|t| !t.is_empty())?;
    let start = text.len().saturating_sub(LOG_TAIL_BYTES as usize);
    Some(String::from_utf8_lossy(&text[start..]).into_owned())
}

/// What `down` did.
#[derive(Debug, Clone, Default)]
pub struct DownReport {
    /// Processes that had to be killed (beyond the supervisor's own stop).
    pub killed: usize,
    /// Things that could not be undone.
    pub problems: Vec<String>,
}

/// Stops and removes the lab `spec` describes; works from its records alone.
/// Errs when something is left behind.
pub fn teardown(spec: &LabSpec, keep_dir: bool) -> anyhow::Result<DownReport> {
    let mut report = DownReport::default();
    stop_supervisor(spec);
    stop_orphaned_agents(spec);
    report.killed = stop_keepers(spec) + fencing::kill_bmcs(spec) + sweep(spec);
    let backend = isolation::backend(spec.isolation);
    report.problems.extend(backend.teardown(spec, keep_dir));
    let left = procs::lab_processes(&spec.id);
    if !left.is_empty() {
        let pids: Vec<String> = left.iter().map(|p| p.pid.to_string()).collect();
        report
            .problems
            .push(format!("processes left: {}", pids.join(" ")));
    }
    if !keep_dir
        && report.problems.is_empty()
        && let Err(e) = std::fs::remove_dir_all(&spec.dir)
    {
        report
            .problems
            .push(format!("removing {}: {e}", spec.dir.display()));
    }
    if report.problems.is_empty() {
        Ok(report)
    } else {
        bail!(
            "he-lab down left things behind: {}",
            report.problems.join("; ")
        )
    }
}

/// SIGTERM to a live supervisor (it stops its agents), SIGKILL after a bound.
fn stop_supervisor(spec: &LabSpec) {
    let Some(sup) = procs::read_pid_file(&spec.supervisor_pid()).filter(|p| procs::alive(*p))
    else {
        return;
    };
    let _ = procs::signal_verified(sup, libc::SIGTERM);
    if !procs::wait_gone(&[sup], SUPERVISOR_STOP_WAIT).is_empty() {
        let _ = procs::signal_verified(sup, libc::SIGKILL);
        procs::wait_gone(&[sup], Duration::from_secs(2));
    }
}

/// Agents whose supervisor died: SIGTERM, then SIGKILL of their groups.
fn stop_orphaned_agents(spec: &LabSpec) {
    let agents: Vec<ProcId> = spec
        .host_ids()
        .filter_map(|id| procs::read_pid_file(&spec.agent_pid(id)))
        .filter(|p| procs::alive(*p))
        .collect();
    for a in &agents {
        let _ = procs::signal_verified(*a, libc::SIGCONT);
        let _ = procs::signal_verified(*a, libc::SIGTERM);
    }
    for a in procs::wait_gone(&agents, ORPHAN_STOP_WAIT) {
        let _ = procs::signal_group_verified(a, libc::SIGKILL);
    }
}

/// SIGKILL of every lease keeper of the lab (a holder's agent that stopped
/// cleanly leaves one, in a process group of its own); returns how many. A
/// keeper fences when it cannot renew, so a lab being removed must not leave
/// one behind even for the sweep's moment.
fn stop_keepers(spec: &LabSpec) -> usize {
    let keepers: Vec<ProcId> = truth::scan_keepers(spec)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let killed = keepers
        .iter()
        .filter(|k| procs::signal_group_verified(**k, libc::SIGKILL).unwrap_or(false))
        .count();
    procs::wait_gone(&keepers, Duration::from_secs(2));
    killed
}

/// Kills whatever still carries the lab's mark; returns how many.
fn sweep(spec: &LabSpec) -> usize {
    let mut killed = 0;
    // Bounded: a process that survives SIGKILL this long is stuck in the kernel.
    for _ in 0..10 {
        let mut left = procs::lab_processes(&spec.id);
        left.extend(truth::scan_payloads(&spec.id).into_iter().map(|p| p.proc));
        left.sort();
        left.dedup();
        if left.is_empty() {
            break;
        }
        for p in &left {
            if procs::signal_verified(*p, libc::SIGKILL).unwrap_or(false) {
                killed += 1;
            }
        }
        procs::wait_gone(&left, Duration::from_secs(1));
    }
    killed
}

/// The log files of the lab (`host`: one host's only).
pub fn log_files(spec: &LabSpec, host: Option<u16>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if host.is_none() {
        files.push(spec.supervisor_log());
    }
    for id in spec.host_ids().filter(|id| host.is_none_or(|h| h == *id)) {
        files.push(spec.agent_log(id));
        files.push(spec.vm_log(id));
        if spec.fencing {
            files.push(spec.bmc_log(id));
        }
    }
    files
}
