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
//! (`docs/compat.md` section 3):
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

mod config;
pub(crate) mod procfs;
mod state;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::core::{DownReason, LocalVm, VmAction, VmManagerStatus};
use crate::shell::agent_loop::{VmDriver, VmError};

pub use config::{
    ARGS_MAX, ConfigProblem, DURATION_MAX, ENV_MAX, ProcessVmConfig, ProcessVmConfigError,
    RECOVERY_TIMEOUT_DEFAULT, SHUTDOWN_GRACE_DEFAULT,
};
use procfs::{BOOT_ID_PATH, parse_boot_id, read_stat, stat_path};
use state::{Record, STATE_VERSION, parse_record, read_bounded, with_suffix, write_record};

/// How long a power-off waits for the killed process to be gone.
pub const POWEROFF_WAIT: Duration = Duration::from_secs(2);
/// How long a paused start waits for the process to show as stopped.
const PAUSE_WAIT: Duration = Duration::from_secs(1);
/// Pause between two looks at a process we wait for.
const POLL: Duration = Duration::from_millis(10);
/// Most killed recovery commands kept for reaping.
const STRAGGLERS_MAX: usize = 8;
/// The agent's own service plumbing, which the VM must not inherit (it would
/// otherwise notify systemd or claim socket-activated fds in the agent's name).
const AGENT_ONLY_ENV: [&str; 5] = [
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
];

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

    /// Runs `action`; a failure's words stay in `last_error` too, for the
    /// caller that logs them.
    fn act(&mut self, action: VmAction) -> Result<(), VmError> {
        if let Err(e) = self.refresh() {
            self.last_error = Some(e.clone());
            return Err(VmError::Unreachable(e));
        }
        let ok = match action {
            VmAction::Start { paused, epoch } => self.start(paused, epoch),
            VmAction::Shutdown => self.shutdown(),
            VmAction::PowerOff => self.power_off(),
            VmAction::RunRecovery => self.run_recovery(),
        };
        if ok {
            return Ok(());
        }
        let why = self.last_error.clone();
        Err(VmError::Failed(
            why.unwrap_or_else(|| "failed (no reason given)".into()),
        ))
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
