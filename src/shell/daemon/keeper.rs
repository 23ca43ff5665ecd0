//! The lease keeper: `ovirt-ha-agent --keep-lease` (docs/agent.md, "The lease
//! keeper").
//!
//! When the agent stops cleanly while its engine VM runs and its lease is
//! held (an upgrade, a restart), it starts a keeper and exits. The keeper is
//! the same agent loop with `CoreConfig::keeper` set: it renews the lease
//! every loop, pets the watchdog, fences (powers the VM off) when it cannot
//! renew or another host superseded it, and exits once the VM is down and the
//! lease released. Its slot says `lease-keeper=1`, so the lease expires by
//! silence like any other: when the host dies, the keeper dies with it and
//! the others take over. The agent, back, asks the keeper to stop (SIGTERM)
//! and takes the lease over from its slot.
//!
//! Hand-overs keep the watchdog counting: the agent closes the device without
//! the magic close before it starts the keeper, which opens it again; the
//! keeper does the same before it exits for the returning agent. A hang on
//! either side resets the host as it would the agent's.
//!
//! Files in the state directory: `lease-keeper.lock` (an exclusive `flock`
//! the keeper holds while it runs), `lease-keeper.pid`, and
//! `lease-keeper.ready` (written once the keeper has published the lease).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Common, build_common, open_watchdog};
use crate::clock::SystemClock;
use crate::config::{Config, ConfigPaths, Timings, lock_exclusive};
use crate::core::{CoreConfig, Sensors};
use crate::shell::agent_loop::{AgentLoop, Io, Monitors};
use crate::shell::signals;
use crate::shell::system::TRANSITION_TARGET;

/// The keeper's files, beside the agent's state.
const LOCK_NAME: &str = "lease-keeper";
const PID_NAME: &str = "lease-keeper.pid";
const READY_NAME: &str = "lease-keeper.ready";
/// How often a waiting side looks again.
const POLL: Duration = Duration::from_millis(100);

/// The keeper's monitors: none. It decides nothing that needs them.
struct NoMonitors;

impl Monitors for NoMonitors {
    fn sensors(&mut self) -> Sensors {
        Sensors::default()
    }

    fn local_maintenance(&mut self) -> bool {
        false
    }

    fn engine_starting(&mut self) {}
}

/// How long one side waits for the other: two slow loops (a read and a write
/// each into the storage timeout) and a few seconds to start a process.
fn hand_over_bound(timings: &Timings) -> Duration {
    let slow_loop_ms = timings.loop_ms + 2 * timings.storage_timeout_ms;
    Duration::from_millis(2 * slow_loop_ms + 5_000)
}

/// Runs the lease keeper until it has nothing left to keep, or SIGTERM (the
/// agent is back).
pub fn run(paths: &ConfigPaths) -> anyhow::Result<()> {
    let level = crate::shell::system::init_logging().map_err(|e| anyhow::anyhow!(e))?;
    let config = Config::load_for_agent(paths).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    signals::install_stop_handlers().context("installing signal handlers")?;
    let state = &paths.state_dir;
    let _lock = lock_exclusive(&state.join(LOCK_NAME), 0)
        .map_err(|e| anyhow::anyhow!("another lease keeper runs: {e}"))?;
    let pid = std::process::id();
    write_file(&state.join(PID_NAME), &format!("{pid}\n"))?;
    let Common {
        core,
        storage,
        vm,
        events,
    } = build_common(&config, paths)?;
    let (watchdog, watchdog_timeout_ms) = open_watchdog(&config)?;
    let core = CoreConfig {
        keeper: true,
        watchdog_timeout_ms,
        ..core
    };
    tracing::info!(
        target: TRANSITION_TARGET,
        "lease keeper starting (pid {pid}): host id {}, log level {level}",
        core.host_id
    );
    let io = Io {
        storage,
        vm,
        monitors: NoMonitors,
        clock: SystemClock::new(),
        events,
        watchdog,
    };
    let mut keeper = AgentLoop::start(core, io);
    let mut ready = false;
    while !signals::stop_requested() {
        let wait = Duration::from_millis(keeper.tick());
        if keeper.core().keeper_done() {
            tracing::info!(
                target: TRANSITION_TARGET,
                "lease keeper exits: nothing left to keep"
            );
            break;
        }
        if !ready && keeper.core().adopted() && keeper.last_publish_ok() {
            ready = true;
            write_file(&state.join(READY_NAME), &format!("{pid}\n"))?;
            tracing::info!("lease keeper ready: the lease is renewed while the agent is away");
        }
        let until = Instant::now() + wait;
        while !signals::stop_requested() && Instant::now() < until {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
    if signals::stop_requested() {
        // The agent is back (or someone stopped us): its loop takes the lease
        // over from our slot. The watchdog is closed without the magic
        // close, so it keeps counting until the agent pets it.
        tracing::info!(
            target: TRANSITION_TARGET,
            "lease keeper stopped: the agent takes the lease over"
        );
    }
    let _ = std::fs::remove_file(state.join(READY_NAME));
    let _ = std::fs::remove_file(state.join(PID_NAME));
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::config::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A keeper the stopping agent started.
pub struct Started {
    pub pid: u32,
}

/// Starts a lease keeper for the lease the stopping agent leaves held (its
/// watchdog already closed without the magic close), and waits until it has
/// published the lease. `Err` says why it did not: the caller falls back to a
/// parked lease. The keeper is this program with the agent's own arguments
/// and `--keep-lease`, in a session of its own (the agent's unit stops only
/// its main process: `KillMode=process`).
pub fn hand_over(state: &Path, timings: &Timings) -> Result<Started, String> {
    let _ = std::fs::remove_file(state.join(READY_NAME));
    let mut child = spawn().map_err(|e| format!("cannot start the lease keeper: {e}"))?;
    let deadline = Instant::now() + hand_over_bound(timings);
    let ready = state.join(READY_NAME);
    loop {
        if ready.exists() {
            return Ok(Started { pid: child.id() });
        }
        match child.try_wait() {
            Ok(Some(status)) => return Err(format!("the lease keeper exited: {status}")),
            Ok(None) => {}
            Err(e) => return Err(format!("the lease keeper: {e}")),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the lease keeper did not publish the lease within {} s: killed",
                hand_over_bound(timings).as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The running program's own image: the file it was started from may have
/// been replaced or removed since (a package upgrade), and the keeper must
/// be this agent's code, not whatever is at that path now.
const SELF_EXE: &str = "/proc/self/exe";

/// This program again, with the agent's arguments and `--keep-lease`. Its
/// own argv[0] is kept: a program that runs as the agent under another name
/// (a link to a multi-call binary) is that program again.
fn spawn() -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    let exe = match std::path::Path::new(SELF_EXE).exists() {
        true => std::path::PathBuf::from(SELF_EXE),
        false => std::env::current_exe()?,
    };
    let mut args = std::env::args_os();
    let name = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let mut command = Command::new(exe);
    command
        .arg0(name)
        .args(args)
        .arg("--keep-lease")
        .stdin(Stdio::null())
        .process_group(0);
    command.spawn()
}

/// At the agent's start: a lease keeper still running for this host is asked
/// to stop (SIGTERM) and waited for, bounded, then killed; its lease is ours
/// again from its slot. Nothing to do when none runs.
pub fn take_over(state: &Path, timings: &Timings) {
    let lock = state.join(LOCK_NAME);
    if lock_exclusive(&lock, 0).is_ok() {
        return;
    }
    let pid = read_pid(&state.join(PID_NAME));
    let Some(pid) = pid else {
        tracing::warn!(
            "{}: a lease keeper holds its lock but left no pid: waiting for it",
            crate::config::lock_path(&lock).display()
        );
        wait_or_kill(&lock, None, timings);
        return;
    };
    tracing::info!(
        target: TRANSITION_TARGET,
        "lease keeper (pid {pid}) runs: asking it to hand the lease back"
    );
    signal(pid, libc::SIGTERM);
    wait_or_kill(&lock, Some(pid), timings);
}

fn wait_or_kill(lock: &Path, pid: Option<i32>, timings: &Timings) {
    let bound = hand_over_bound(timings);
    let waited = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    if lock_exclusive(lock, waited).is_ok() {
        return;
    }
    if let Some(pid) = pid {
        tracing::warn!(
            "lease keeper (pid {pid}) did not stop within {} s: killing it",
            bound.as_secs()
        );
        signal(pid, libc::SIGKILL);
        let _ = lock_exclusive(lock, 5_000);
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a pid read from our own state directory.
    unsafe {
        libc::kill(pid, signal);
    }
}
