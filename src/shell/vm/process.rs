//! The `process` engine VM driver (issue 4, item 3): the engine VM is a
//! configured command (argv, no shell).
//!
//! - **Detached:** the VM runs in its own session (`setsid`), with stdin from
//!   `/dev/null`, stdout and stderr appended to a log file and `/` as its working
//!   directory, so that it survives an agent crash and restart (test plan case 7).
//!   The service unit must not kill it with the agent (`KillMode=process`).
//! - **Re-adopted** after an agent restart through a state file recording its pid,
//!   its start time (field 22 of `/proc/<pid>/stat`) and the boot id, so that a
//!   reused pid is never mistaken for our VM. The file is replaced atomically.
//! - **Fencing token:** the lease epoch reaches the VM as `HE_LEASE_EPOCH`, the
//!   host id as `HE_HOST_ID` (when configured).
//! - **Stops never block the loop:** a graceful shutdown sends SIGTERM and returns;
//!   every later `status()`/`act()` checks the grace period and sends SIGKILL
//!   itself once it has passed. Power-off (SIGKILL) waits at most
//!   [`POWEROFF_WAIT`] for the process to go.
//!
//! What the VM manager would say, as the agent loop expects it
//! (`reference/ovirt-compat.md` section 3):
//!
//! | process | status |
//! |---|---|
//! | no state file, or gone after our stop | `NotPresent` |
//! | running | `Up` (boot progress is unknown here: health comes from the liveliness monitor) |
//! | stopped (state `T`, SIGSTOP) | `Paused` |
//! | SIGTERM sent, still alive | `PoweringDown` |
//! | gone without our stop (crash, outside kill -9) | `Down`, reason `Other`, until the next Start or PowerOff |
//! | `/proc` unreadable | `QueryFailed` |
//!
//! The VM is its process group: signals go to the whole group, and a group that
//! outlives its leader is killed when the leader's zombie is reaped.
//!
//! A process that was already gone when this driver read its state file (the VM
//! died while no agent watched, the pid was reused, the host rebooted) reads as
//! `NotPresent`: only a process seen alive can be seen crashing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::core::{DownReason, LocalVm, VmAction, VmManagerStatus};
use crate::shell::agent_loop::VmDriver;

/// Default time between SIGTERM and SIGKILL, as the reference's shutdown wait.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(120);
/// Default limit on the recovery command (`agent.conf` `[recovery] timeout-secs`).
pub const RECOVERY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Longest grace or timeout accepted: one day, as every timer in the configuration.
pub const DURATION_MAX: Duration = Duration::from_secs(86_400);
/// Most words in a command line (the VM's or the recovery command's).
pub const ARGS_MAX: usize = 256;
/// Most extra environment variables.
pub const ENV_MAX: usize = 64;
/// How long a power-off waits for the killed process to be gone.
pub const POWEROFF_WAIT: Duration = Duration::from_secs(2);
/// How long a paused start waits for the process to show as stopped.
const PAUSE_WAIT: Duration = Duration::from_secs(1);
/// Pause between two looks at a process we wait for.
const POLL: Duration = Duration::from_millis(10);
/// Most killed recovery commands kept for reaping.
const STRAGGLERS_MAX: usize = 8;
/// A state file is a few hundred bytes; anything larger is corrupt.
const STATE_FILE_BYTES_MAX: u64 = 4096;
const STATE_VERSION: u32 = 1;
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";
/// Set by the driver; the configured environment may not override them.
const RESERVED_ENV: [&str; 2] = ["HE_LEASE_EPOCH", "HE_HOST_ID"];
/// The agent's own service plumbing, which the VM must not inherit (it would
/// otherwise notify systemd or claim socket-activated fds in the agent's name).
const AGENT_ONLY_ENV: [&str; 5] = [
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
];

/// Makes temporary file names unique between threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Configuration of the `process` driver. Start from [`ProcessVmConfig::new`]
/// (defaults) and check with [`ProcessVmConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessVmConfig {
    /// The engine VM command: program and arguments, no shell. The program is an
    /// absolute path or a bare name looked up in `PATH`.
    pub argv: Vec<String>,
    /// Where the running VM is recorded, e.g. `<state_dir>/engine-vm.json`.
    pub state_file: PathBuf,
    /// The VM's stdout and stderr are appended here (and the recovery command's).
    pub log_file: PathBuf,
    /// Time between SIGTERM and SIGKILL on a graceful shutdown.
    pub shutdown_grace: Duration,
    /// Extra environment for the VM and the recovery command.
    pub env: Vec<(String, String)>,
    /// Passed as `HE_HOST_ID` when set.
    pub host_id: Option<u16>,
    /// The engine-service recovery command; `None`: recovery always fails.
    pub recovery_argv: Option<Vec<String>>,
    /// The recovery command is killed after this long.
    pub recovery_timeout: Duration,
}

impl ProcessVmConfig {
    /// A configuration with the default grace, timeout and no extras.
    pub fn new(argv: Vec<String>, state_file: PathBuf, log_file: PathBuf) -> Self {
        ProcessVmConfig {
            argv,
            state_file,
            log_file,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            env: Vec::new(),
            host_id: None,
            recovery_argv: None,
            recovery_timeout: RECOVERY_TIMEOUT_DEFAULT,
        }
    }

    /// Every broken rule, all at once.
    pub fn validate(&self) -> Result<(), ProcessVmConfigError> {
        let mut problems = argv_problems("argv", &self.argv);
        if let Some(argv) = &self.recovery_argv {
            problems.extend(argv_problems("recovery_argv", argv));
        }
        for (what, path) in [
            ("state_file", &self.state_file),
            ("log_file", &self.log_file),
        ] {
            if !path.is_absolute() || path.file_name().is_none() {
                problems.push(ConfigProblem::NotAbsoluteFile {
                    what,
                    path: path.clone(),
                });
            }
        }
        if self.state_file == self.log_file {
            problems.push(ConfigProblem::SameFile(self.state_file.clone()));
        }
        for (what, value) in [
            ("shutdown_grace", self.shutdown_grace),
            ("recovery_timeout", self.recovery_timeout),
        ] {
            if value.is_zero() || value > DURATION_MAX {
                problems.push(ConfigProblem::Duration { what, value });
            }
        }
        problems.extend(env_problems(&self.env));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ProcessVmConfigError { problems })
        }
    }
}

fn argv_problems(what: &'static str, argv: &[String]) -> Vec<ConfigProblem> {
    let mut found = Vec::new();
    if argv.is_empty() || argv.len() > ARGS_MAX {
        found.push(ConfigProblem::ArgCount {
            what,
            count: argv.len(),
        });
    }
    if argv.iter().any(|a| a.contains('\0')) {
        found.push(ConfigProblem::NulByte(what));
    }
    if let Some(program) = argv.first()
        && (program.is_empty() || (program.contains('/') && !program.starts_with('/')))
    {
        found.push(ConfigProblem::Program {
            what,
            program: program.clone(),
        });
    }
    found
}

fn env_problems(env: &[(String, String)]) -> Vec<ConfigProblem> {
    let mut found = Vec::new();
    if env.len() > ENV_MAX {
        found.push(ConfigProblem::EnvCount(env.len()));
    }
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            found.push(ConfigProblem::EnvName(name.clone()));
        } else if RESERVED_ENV.contains(&name.as_str()) {
            found.push(ConfigProblem::EnvReserved(name.clone()));
        }
    }
    found
}

/// One broken rule of a [`ProcessVmConfig`]; messages name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("{what}: must have 1..={ARGS_MAX} words, has {count}")]
    ArgCount { what: &'static str, count: usize },
    #[error("{0}: contains a NUL byte")]
    NulByte(&'static str),
    #[error(
        "{what}: program {program:?} must be an absolute path or a bare name looked up in PATH"
    )]
    Program { what: &'static str, program: String },
    #[error("{what}: {path:?} is not an absolute file path")]
    NotAbsoluteFile { what: &'static str, path: PathBuf },
    #[error("state_file and log_file: both are {0:?}")]
    SameFile(PathBuf),
    #[error("{what}: {value:?} must be greater than 0 and at most one day")]
    Duration { what: &'static str, value: Duration },
    #[error("env: {0} variables, at most {ENV_MAX}")]
    EnvCount(usize),
    #[error("env: {0:?} is not a valid variable (empty, '=' or NUL)")]
    EnvName(String),
    #[error("env: {0} is set by the driver itself")]
    EnvReserved(String),
}

/// Every broken rule of a [`ProcessVmConfig`], displayed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("engine VM process driver: {}", join(&self.problems))]
pub struct ProcessVmConfigError {
    pub problems: Vec<ConfigProblem>,
}

fn join(problems: &[ConfigProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// The state file: which process is our VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    version: u32,
    pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: clock ticks since boot.
    start_ticks: u64,
    boot_id: String,
    epoch: u64,
    /// A graceful shutdown was asked: its end is not a crash.
    stopping: bool,
}

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    No,
    /// SIGTERM sent; SIGKILL follows at this instant.
    Term(Instant),
    Killed,
}

/// What this driver believes about its VM after the latest look.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tracked {
    Nothing,
    Alive {
        rec: Record,
        stop: Stop,
        paused: bool,
        /// The process leads its own process group: signals go to the group, so
        /// that helpers the VM spawned stop with it.
        group: bool,
    },
    /// Gone without our stop; the state file is kept until Start or PowerOff.
    Crashed,
}

/// What `/proc` says about a recorded process.
enum Probe {
    Gone,
    Alive { stopped: bool, group: bool },
}

/// The `process` driver. Dropping it leaves the VM running (it is meant to
/// outlive the agent).
#[derive(Debug)]
pub struct ProcessVm {
    cfg: ProcessVmConfig,
    boot_id: Option<String>,
    /// The state file has been read (it is read once, on the first call).
    loaded: bool,
    vm: Tracked,
    last_error: Option<String>,
    /// Recovery commands killed at their timeout that have not been reaped yet.
    stragglers: Vec<Child>,
}

impl ProcessVm {
    /// A driver for `cfg`. Does no I/O: the state file is read on the first
    /// `status()` or `act()`.
    pub fn new(cfg: ProcessVmConfig) -> Result<Self, ProcessVmConfigError> {
        cfg.validate()?;
        Ok(ProcessVm {
            cfg,
            boot_id: None,
            loaded: false,
            vm: Tracked::Nothing,
            last_error: None,
            stragglers: Vec::new(),
        })
    }

    pub fn config(&self) -> &ProcessVmConfig {
        &self.cfg
    }

    /// The pid of our VM process as of the latest look, while it runs.
    pub fn vm_pid(&self) -> Option<u32> {
        match &self.vm {
            Tracked::Alive { rec, .. } => u32::try_from(rec.pid).ok(),
            _ => None,
        }
    }

    /// The latest problem (a failed action, a corrupt state file, an unreadable
    /// `/proc`), kept until the next one or [`ProcessVm::take_error`].
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The latest problem, cleared: for a caller that logs each one once.
    pub fn take_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    fn fail(&mut self, message: String) -> bool {
        self.last_error = Some(message);
        false
    }

    /// Reads the state file once, then looks at the process: notices its end,
    /// reaps it, and sends SIGKILL once a graceful shutdown's grace has passed.
    fn refresh(&mut self) -> Result<(), String> {
        self.reap_stragglers(Duration::ZERO);
        if !self.loaded {
            self.vm = self.load()?;
            self.loaded = true;
        }
        let (pid, start_ticks, mut stop) = match &self.vm {
            Tracked::Alive { rec, stop, .. } => (rec.pid, rec.start_ticks, *stop),
            _ => return Ok(()),
        };
        match probe(pid, start_ticks)? {
            Probe::Gone if stop == Stop::No => self.vm = Tracked::Crashed,
            Probe::Gone => {
                self.vm = Tracked::Nothing;
                self.remove_state_file();
            }
            Probe::Alive { stopped, group } => {
                if let Stop::Term(kill_at) = stop
                    && Instant::now() >= kill_at
                {
                    match signal(pid, group, libc::SIGKILL) {
                        Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                            return Err(format!("engine VM pid {pid}: cannot kill: {e}"));
                        }
                        _ => stop = Stop::Killed,
                    }
                }
                if let Tracked::Alive {
                    stop: s,
                    paused,
                    group: g,
                    ..
                } = &mut self.vm
                {
                    (*s, *paused, *g) = (stop, stopped, group);
                }
            }
        }
        Ok(())
    }

    /// What the state file names: a live process of ours, or nothing.
    fn load(&mut self) -> Result<Tracked, String> {
        let path = self.cfg.state_file.clone();
        let Some(bytes) = read_bounded(&path).map_err(|e| format!("{}: {e}", path.display()))?
        else {
            return Ok(Tracked::Nothing);
        };
        let rec = match parse_record(&bytes) {
            Ok(rec) => rec,
            Err(why) => {
                self.quarantine(&why);
                return Ok(Tracked::Nothing);
            }
        };
        let stale = rec.boot_id != self.boot_id()?;
        let found = if stale {
            Probe::Gone
        } else {
            probe(rec.pid, rec.start_ticks)?
        };
        match found {
            Probe::Gone => {
                self.remove_state_file();
                Ok(Tracked::Nothing)
            }
            Probe::Alive { stopped, group } => {
                // The deadline of a shutdown asked before a restart is lost with
                // the old agent's clock: the grace starts again.
                let stop = if rec.stopping {
                    Stop::Term(Instant::now() + self.cfg.shutdown_grace)
                } else {
                    Stop::No
                };
                Ok(Tracked::Alive {
                    rec,
                    stop,
                    paused: stopped,
                    group,
                })
            }
        }
    }

    /// Moves a corrupt state file aside (one copy kept) and reports it.
    fn quarantine(&mut self, why: &str) {
        let path = &self.cfg.state_file;
        let copy = with_suffix(path, ".corrupt");
        let moved = match fs::rename(path, &copy) {
            Ok(()) => format!("moved to {}", copy.display()),
            Err(e) => format!("cannot move it to {}: {e}", copy.display()),
        };
        self.last_error = Some(format!(
            "{}: corrupt state file ({why}); {moved}; the engine VM reads as not present",
            path.display()
        ));
    }

    fn remove_state_file(&mut self) {
        let path = &self.cfg.state_file;
        if let Err(e) = fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            self.last_error = Some(format!("{}: cannot remove: {e}", path.display()));
        }
    }

    fn boot_id(&mut self) -> Result<String, String> {
        if let Some(id) = &self.boot_id {
            return Ok(id.clone());
        }
        let id = read_bounded(Path::new(BOOT_ID_PATH))
            .ok()
            .flatten()
            .and_then(|bytes| parse_boot_id(&bytes))
            .ok_or_else(|| format!("{BOOT_ID_PATH}: cannot read the boot id"))?;
        self.boot_id = Some(id.clone());
        Ok(id)
    }

    fn start(&mut self, paused: bool, epoch: u64) -> bool {
        match &self.vm {
            Tracked::Alive { rec, .. } => {
                let pid = rec.pid;
                return self.fail(format!("engine VM already runs (pid {pid})"));
            }
            Tracked::Crashed => {
                self.vm = Tracked::Nothing;
                self.remove_state_file();
            }
            Tracked::Nothing => {}
        }
        match self.spawn_vm(paused, epoch) {
            Ok(()) => true,
            Err(message) => self.fail(message),
        }
    }

    fn spawn_vm(&mut self, paused: bool, epoch: u64) -> Result<(), String> {
        let boot_id = self.boot_id()?;
        let log = open_log(&self.cfg.log_file)?;
        let mut command = vm_command(&self.cfg, epoch, log)?;
        let program = &self.cfg.argv[0];
        let child = command
            .spawn()
            .map_err(|e| format!("{program}: cannot start the engine VM: {e}"))?;
        // Reaped by pid with waitpid, like an adopted one; `Child` is not kept.
        let pid = i32::try_from(child.id()).map_err(|_| "pid out of range".to_string())?;
        drop(child);
        let rec = match read_stat(pid) {
            Ok(Some(stat)) => Record {
                version: STATE_VERSION,
                pid,
                start_ticks: stat.start_ticks,
                boot_id,
                epoch,
                stopping: false,
            },
            _ => {
                kill_now(pid);
                return Err(format!("engine VM pid {pid}: cannot read its start time"));
            }
        };
        if paused {
            let _ = signal(pid, true, libc::SIGSTOP);
            wait_until(
                PAUSE_WAIT,
                || matches!(read_stat(pid), Ok(Some(s)) if s.state == b'T'),
            );
        }
        if let Err(e) = write_record(&self.cfg.state_file, &rec) {
            // A VM that a restarted agent could not find would be a second VM
            // waiting to happen: better no VM.
            kill_now(pid);
            let path = self.cfg.state_file.display();
            return Err(format!("{path}: cannot record the engine VM: {e}"));
        }
        self.vm = Tracked::Alive {
            rec,
            stop: Stop::No,
            paused,
            group: true,
        };
        Ok(())
    }

    fn shutdown(&mut self) -> bool {
        let grace = self.cfg.shutdown_grace;
        let Tracked::Alive {
            rec, stop, group, ..
        } = &mut self.vm
        else {
            return self.fail("no engine VM to shut down".into());
        };
        if *stop != Stop::No {
            return true;
        }
        // ESRCH: it ended meanwhile, which the next look reports as a stop.
        match signal(rec.pid, *group, libc::SIGTERM) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => {
                let message = format!("engine VM pid {}: cannot send SIGTERM: {e}", rec.pid);
                return self.fail(message);
            }
        }
        // A paused VM cannot act on SIGTERM until it runs again.
        let _ = signal(rec.pid, *group, libc::SIGCONT);
        *stop = Stop::Term(Instant::now() + grace);
        rec.stopping = true;
        let rec = rec.clone();
        if let Err(e) = write_record(&self.cfg.state_file, &rec) {
            let path = self.cfg.state_file.display();
            self.last_error = Some(format!("{path}: cannot record the shutdown: {e}"));
        }
        true
    }

    fn power_off(&mut self) -> bool {
        let (pid, start_ticks, group) = match &mut self.vm {
            Tracked::Nothing => return true,
            Tracked::Crashed => {
                self.vm = Tracked::Nothing;
                self.remove_state_file();
                return true;
            }
            Tracked::Alive {
                rec, stop, group, ..
            } => {
                *stop = Stop::Killed;
                (rec.pid, rec.start_ticks, *group)
            }
        };
        if let Err(e) = signal(pid, group, libc::SIGKILL)
            && e.raw_os_error() != Some(libc::ESRCH)
        {
            return self.fail(format!("engine VM pid {pid}: cannot kill: {e}"));
        }
        let gone = wait_until(POWEROFF_WAIT, || {
            matches!(probe(pid, start_ticks), Ok(Probe::Gone))
        });
        if !gone {
            let waited = POWEROFF_WAIT;
            return self.fail(format!(
                "engine VM pid {pid}: still there {waited:?} after SIGKILL"
            ));
        }
        self.vm = Tracked::Nothing;
        self.remove_state_file();
        true
    }

    fn run_recovery(&mut self) -> bool {
        let Some(argv) = self.cfg.recovery_argv.clone() else {
            return self.fail("no recovery command configured".into());
        };
        let mut child = match open_log(&self.cfg.log_file)
            .and_then(|log| recovery_command(&self.cfg, &argv, log))
            .and_then(|mut c| c.spawn().map_err(|e| format!("{}: {e}", argv[0])))
        {
            Ok(child) => child,
            Err(e) => return self.fail(format!("recovery command: cannot start: {e}")),
        };
        let deadline = Instant::now() + self.cfg.recovery_timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return true,
                Ok(Some(status)) => {
                    return self.fail(format!("recovery command: {}: {status}", argv[0]));
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                outcome => {
                    // Its own process group: whatever it started goes too.
                    if let Ok(pid) = i32::try_from(child.id()) {
                        let _ = signal(pid, true, libc::SIGKILL);
                    }
                    self.stragglers.push(child);
                    self.reap_stragglers(POWEROFF_WAIT);
                    let why = match outcome {
                        Err(e) => format!("cannot wait for it: {e}"),
                        _ => format!("killed after {:?}", self.cfg.recovery_timeout),
                    };
                    return self.fail(format!("recovery command: {}: {why}", argv[0]));
                }
            }
        }
    }

    /// Reaps killed recovery commands, waiting at most `limit` in all. One that
    /// does not go (stuck in the kernel) is retried on later calls without
    /// waiting; past [`STRAGGLERS_MAX`] the oldest are left to init.
    fn reap_stragglers(&mut self, limit: Duration) {
        let mut stragglers = std::mem::take(&mut self.stragglers);
        wait_until(limit, || {
            stragglers.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
            stragglers.is_empty()
        });
        let excess = stragglers.len().saturating_sub(STRAGGLERS_MAX);
        stragglers.drain(..excess);
        self.stragglers = stragglers;
    }
}

impl VmDriver for ProcessVm {
    fn status(&mut self) -> LocalVm {
        if let Err(e) = self.refresh() {
            self.last_error = Some(e);
            return LocalVm::QueryFailed;
        }
        let status = match &self.vm {
            Tracked::Nothing => return LocalVm::NotPresent,
            Tracked::Crashed => {
                return LocalVm::Present {
                    status: VmManagerStatus::Down,
                    down_reason: Some(DownReason::Other),
                };
            }
            Tracked::Alive { stop, .. } if *stop != Stop::No => VmManagerStatus::PoweringDown,
            Tracked::Alive { paused: true, .. } => VmManagerStatus::Paused,
            Tracked::Alive { .. } => VmManagerStatus::Up,
        };
        LocalVm::Present {
            status,
            down_reason: None,
        }
    }

    fn act(&mut self, action: VmAction) -> bool {
        if let Err(e) = self.refresh() {
            return self.fail(e);
        }
        match action {
            VmAction::Start { paused, epoch } => self.start(paused, epoch),
            VmAction::Shutdown => self.shutdown(),
            VmAction::PowerOff => self.power_off(),
            VmAction::RunRecovery => self.run_recovery(),
        }
    }
}

/// The VM's command: detached in its own session, epoch in its environment.
fn vm_command(cfg: &ProcessVmConfig, epoch: u64, log: File) -> Result<Command, String> {
    let mut command = Command::new(&cfg.argv[0]);
    command.args(&cfg.argv[1..]);
    plumb(&mut command, cfg, log)?;
    command.env("HE_LEASE_EPOCH", epoch.to_string());
    // SAFETY: the closure runs in the forked child before exec and calls only
    // setsid(2), which is async-signal-safe; building the error allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(command)
}

/// The recovery command: its own process group, so a timeout kills all of it.
fn recovery_command(cfg: &ProcessVmConfig, argv: &[String], log: File) -> Result<Command, String> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).process_group(0);
    plumb(&mut command, cfg, log)?;
    Ok(command)
}

/// Standard streams, working directory and environment shared by both commands.
fn plumb(command: &mut Command, cfg: &ProcessVmConfig, log: File) -> Result<(), String> {
    let err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", cfg.log_file.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .current_dir("/");
    for name in AGENT_ONLY_ENV {
        command.env_remove(name);
    }
    command.envs(cfg.env.iter().map(|(k, v)| (k, v)));
    if let Some(id) = cfg.host_id {
        command.env("HE_HOST_ID", id.to_string());
    }
    Ok(())
}

fn open_log(path: &Path) -> Result<File, String> {
    let open = || {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
    };
    open().map_err(|e| format!("{}: cannot open the log: {e}", path.display()))
}

/// Sends `sig` to the process, or to its whole group when it leads one.
fn signal(pid: i32, group: bool, sig: libc::c_int) -> io::Result<()> {
    let target = if group { -pid } else { pid };
    // SAFETY: kill(2) has no memory effects; `pid` was checked to be ours.
    if unsafe { libc::kill(target, sig) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Kills a child we just started, and reaps it (bounded).
fn kill_now(pid: i32) {
    let _ = signal(pid, true, libc::SIGKILL);
    wait_until(POWEROFF_WAIT, || {
        reap(pid) || !Path::new(&stat_path(pid)).exists()
    });
}

/// Reaps `pid` if it is our exited child; `true` when it was reaped.
fn reap(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid(2) with WNOHANG never blocks; `status` is a valid int.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
}

/// Calls `done` every [`POLL`] until it says true or `limit` has passed.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Whether the process recorded as (`pid`, `start_ticks`) still exists. A zombie
/// is reaped (when it is our child) and reads as gone; so does another process
/// that reuses the pid.
fn probe(pid: i32, start_ticks: u64) -> Result<Probe, String> {
    let stat = match read_stat(pid)? {
        Some(stat) if stat.start_ticks == start_ticks => stat,
        _ => return Ok(Probe::Gone),
    };
    if matches!(stat.state, b'Z' | b'X' | b'x') {
        // While the zombie holds its pid, its group id names nobody else: what
        // the VM left behind (helpers that outlived a SIGTERM) goes with it.
        if stat.state == b'Z' && stat.pgrp == pid {
            let _ = signal(pid, true, libc::SIGKILL);
        }
        reap(pid);
        return Ok(Probe::Gone);
    }
    Ok(Probe::Alive {
        stopped: matches!(stat.state, b'T' | b't'),
        group: stat.pgrp == pid,
    })
}

/// The fields of `/proc/<pid>/stat` this driver uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: u8,
    pgrp: i32,
    session: i32,
    start_ticks: u64,
}

fn stat_path(pid: i32) -> String {
    format!("/proc/{pid}/stat")
}

/// `None` when there is no such process.
fn read_stat(pid: i32) -> Result<Option<Stat>, String> {
    let path = stat_path(pid);
    let bytes = match read_bounded(Path::new(&path)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    parse_stat(&bytes)
        .map(Some)
        .ok_or_else(|| format!("{path}: unexpected contents"))
}

/// Parses `pid (comm) state ppid pgrp session ... starttime ...`. The command
/// name may hold any byte, parentheses and spaces included: the fields start
/// after its last `)`.
fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    // Field 3 (state) is index 0 here, so field N is index N - 3.
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    let state = fields.first()?.as_bytes();
    if state.len() != 1 {
        return None;
    }
    Some(Stat {
        state: state[0],
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

fn parse_boot_id(bytes: &[u8]) -> Option<String> {
    let id = std::str::from_utf8(bytes).ok()?.trim();
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| id.to_string())
}

fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if rec.version != STATE_VERSION {
        return Err(format!("unknown version {}", rec.version));
    }
    if rec.pid <= 0 {
        return Err(format!("bad pid {}", rec.pid));
    }
    if parse_boot_id(rec.boot_id.as_bytes()).as_deref() != Some(rec.boot_id.as_str()) {
        return Err("bad boot id".into());
    }
    Ok(rec)
}

/// A small file's bytes, `None` when it does not exist; over
/// [`STATE_FILE_BYTES_MAX`] is an error.
fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(STATE_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STATE_FILE_BYTES_MAX {
        // Parsed as corrupt rather than refused: a state file this large is garbage.
        bytes.truncate(STATE_FILE_BYTES_MAX as usize);
    }
    Ok(Some(bytes))
}

/// Replaces the state file atomically: temp file, fsync, rename, fsync the
/// directory.
fn write_record(path: &Path, rec: &Record) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(rec).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir)?;
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = with_suffix(path, &format!(".tmp.{}.{unique}", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    File::open(dir)?.sync_all()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "42 (a) b (c)) S 1 42 43 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0\n";

    #[test]
    fn stat_parses_odd_command_names() {
        let stat = parse_stat(LINE.as_bytes()).unwrap();
        assert_eq!((stat.state, stat.pgrp, stat.session), (b'S', 42, 43));
        assert_eq!(stat.start_ticks, 98765);
        let invalid_utf8 = [&b"7 (\xff\xfe) T"[..], &LINE.as_bytes()[15..]].concat();
        assert_eq!(parse_stat(&invalid_utf8).unwrap().state, b'T');
    }

    #[test]
    fn stat_refuses_garbage() {
        let bad = [
            String::new(),
            "42 (x".into(),
            LINE[..30].into(),
            LINE.replace(") S ", ") SS "),
            LINE.replace(" 98765 ", " -5 "),
            LINE.replace(" 43 ", " x "),
        ];
        for line in &bad {
            assert_eq!(parse_stat(line.as_bytes()), None, "{line:?}");
        }
        assert_eq!(
            parse_stat(&LINE.replace("98765", "9").into_bytes())
                .unwrap()
                .start_ticks,
            9
        );
    }

    #[test]
    fn records_round_trip_and_refuse_nonsense() {
        let rec = Record {
            version: STATE_VERSION,
            pid: 12,
            start_ticks: 34,
            boot_id: "0b5e6f3c-1d2a-4a8e-9b1c-7f0e2d3c4b5a".into(),
            epoch: 9,
            stopping: false,
        };
        assert_eq!(
            parse_record(&serde_json::to_vec(&rec).unwrap()),
            Ok(rec.clone())
        );
        let breaks: [fn(&mut Record); 5] = [
            |r| r.version = 2,
            |r| r.pid = 0,
            |r| r.pid = -1,
            |r| r.boot_id.clear(),
            |r| r.boot_id = "a b".into(),
        ];
        for brk in breaks {
            let mut bad = rec.clone();
            brk(&mut bad);
            assert!(
                parse_record(&serde_json::to_vec(&bad).unwrap()).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_record(b"{\"pid\":1}").is_err());
        assert!(parse_record(b"\0\0\0").is_err());
    }
}
