//! Running a fence agent (`fence_ipmilan`, `fence_redfish`, ... of the
//! `fence-agents` package) through the standard fence-agent interface, one
//! bounded call at a time.
//!
//! The interface, as fence-agents 4.12.1 has it (`/work/notes/fencing.md`,
//! sections 4 and 5, checked against a real `fence_ipmilan`):
//! - The program runs with **no arguments**: with any argument it ignores its
//!   stdin. It reads `key=value` lines on stdin until end of file: the
//!   device's options in the order of `fencing.conf`, then `password=...` from
//!   the device's password file, then `action=...` last. A fence agent given
//!   no action reboots the host, so the action is always written, and written
//!   by us ([`crate::config::FencingConf`] refuses one in the file).
//! - It exits **0** for success (and for `status`, power on), **2** only for
//!   `status` with power off, and **1** for every failure (the library's other
//!   error codes are never the exit status). The reason is in an `ERROR:`
//!   line on stderr (`<date> ERROR: Connection timed out`,
//!   `ERROR: Failed: Timed out waiting to power OFF`).
//!
//! Every call is bounded: the agent runs in a process group of its own, and the
//! whole group gets SIGKILL when the timeout passes (fence_ipmilan runs
//! `ipmitool`, which must not outlive it). The group is killed after a normal
//! exit too, before the agent is reaped, so that nothing it left behind keeps
//! running or holds its output open. Output is read on threads, at most
//! [`OUTPUT_MAX_BYTES`] of each stream kept, so a chatty agent never blocks.
//!
//! The password never leaves the agent's stdin: it is not in the argv, the
//! environment, a log line, an error or a `Debug` output (an error line of the
//! agent that repeats it has it redacted).

use std::fmt;
use std::io::{self, Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{FenceDevice, Password, format_secs, read_password_file};
use crate::metadata::HostId;

/// Most bytes kept of each of the agent's stdout and stderr: the last ones,
/// where a fence agent writes its verdict. The rest is read and dropped.
pub const OUTPUT_MAX_BYTES: usize = 64 * 1024;
/// The exit status of `action=status` when the power is off.
pub const EXIT_STATUS_OFF: i32 = 2;
/// How often the agent is checked for its end while it runs. Its answer
/// takes 70 ms at best (a status over IPMI), so a 10 ms poll costs nothing.
const POLL: Duration = Duration::from_millis(10);
/// After its process group was killed, how long the agent may take to be
/// reaped and its pipes to close (a process stuck in the kernel ignores even
/// SIGKILL for a while); after that it is left to a reaper thread.
pub const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Most `ERROR:` lines of the agent put into one failure message.
const MESSAGE_LINES_MAX: usize = 4;
/// Longest failure message, so that one log line stays one line.
const MESSAGE_MAX_BYTES: usize = 512;
/// The fence agents' last error line after a usage error: no news to us.
const USAGE_HINT: &str = "Please use '-h' for usage";

/// What a fence agent is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAction {
    /// Report the power state (exit 0: on, 2: off).
    Status,
    /// Power off, and wait until the device reports off.
    Off,
    /// Power on.
    On,
}

impl FenceAction {
    /// The `action=` value of the fence-agent interface.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Status => "status",
            FenceAction::Off => "off",
            FenceAction::On => "on",
        }
    }
}

impl fmt::Display for FenceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host's power, as its fence device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
}

impl Power {
    /// `on` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Power::On => "on",
            Power::Off => "off",
        }
    }
}

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a fence-agent call has no answer. Its text follows
/// `<program> <action> of host <N>: ` in a log line ([`FenceRun`]).
#[derive(Debug)]
pub enum FenceError {
    /// The program could not be started (not installed, not executable).
    Spawn(io::Error),
    /// The device's password file is unusable; the text names the file and
    /// says why (never what is in it). The agent was not run.
    PasswordFile(String),
    /// No answer within the timeout: the agent's process group was killed.
    TimedOut(Duration),
    /// The agent answered with a failure.
    Failed {
        /// Its exit status; `None` when a signal (not ours) ended it.
        code: Option<i32>,
        /// Its `ERROR:` lines, or else its last line; passwords redacted.
        message: String,
    },
}

impl fmt::Display for FenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FenceError::Spawn(e) => write!(f, "cannot run it: {e}"),
            FenceError::PasswordFile(why) => write!(f, "not run: {why}"),
            FenceError::TimedOut(limit) => write!(
                f,
                "no answer within {} s: killed it",
                format_secs(limit.as_millis().try_into().unwrap_or(u64::MAX))
            ),
            FenceError::Failed { code, message } => {
                f.write_str("failed")?;
                match code {
                    Some(1) => {}
                    Some(code) => write!(f, " (exit status {code})")?,
                    None => f.write_str(" (killed by a signal)")?,
                }
                match message.as_str() {
                    "" => f.write_str(" without a message"),
                    message => write!(f, ": {message}"),
                }
            }
        }
    }
}

impl std::error::Error for FenceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FenceError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// One fence-agent call and how it went; its `Display` is the log line
/// (`fence_ipmilan status of host 2: on (0.08 s)`), without options or
/// password.
#[derive(Debug)]
pub struct FenceRun {
    /// The fence agent's name (`fence_ipmilan`), without its directory.
    pub program: String,
    /// The host whose device it drove.
    pub host_id: HostId,
    /// What it was asked.
    pub action: FenceAction,
    /// The power it reported (for `off` and `on`: the power it switched to).
    pub outcome: Result<Power, FenceError>,
    /// From the start of the call (the password file read included) to its end.
    pub took: Duration,
}

impl fmt::Display for FenceRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (program, action, host) = (&self.program, self.action, self.host_id);
        write!(f, "{program} {action} of host {host}: ")?;
        match &self.outcome {
            Ok(power) => write!(f, "{power}")?,
            Err(e) => write!(f, "{e}")?,
        }
        write!(f, " ({})", seconds(self.took))
    }
}

/// `0.08 s`, `2.13 s`, `20.1 s`.
fn seconds(took: Duration) -> String {
    let secs = took.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// Runs `device`'s fence agent once for `action`, killing it (its whole
/// process group) after `timeout`. Never blocks much longer than `timeout`
/// (a process stuck in the kernel is waited for at most a further
/// [`DRAIN_WAIT`], then left to a reaper thread).
pub fn run(device: &FenceDevice, action: FenceAction, timeout: Duration) -> FenceRun {
    let started = Instant::now();
    let outcome = call(device, action, timeout);
    FenceRun {
        program: device.program().to_string(),
        host_id: device.host_id,
        action,
        outcome,
        took: started.elapsed(),
    }
}

/// The call itself: the password, the input, the agent, its verdict.
fn call(device: &FenceDevice, action: FenceAction, timeout: Duration) -> Result<Power, FenceError> {
    let password = match &device.password_file {
        Some(path) => Some(read_password_file(path).map_err(FenceError::PasswordFile)?),
        None => None,
    };
    let input = Input::new(device, password.as_ref(), action);
    let deadline = Instant::now() + timeout;
    let mut child = spawn(&device.agent).map_err(FenceError::Spawn)?;
    let pipes = match Pipes::start(&mut child, input) {
        Ok(pipes) => pipes,
        Err(e) => {
            stop(child, Instant::now() + DRAIN_WAIT);
            return Err(FenceError::Spawn(e));
        }
    };
    let in_time = ended_by(&child, deadline);
    let drain_by = Instant::now() + DRAIN_WAIT;
    let status = stop(child, drain_by);
    let output = pipes.collect(drain_by);
    judge(action, timeout, in_time, status, &output, password.as_ref())
}

/// What the agent reads on stdin. It holds the password, hence no `Debug`.
struct Input(Vec<u8>);

impl Input {
    /// The options in file order, the password, the action last.
    fn new(device: &FenceDevice, password: Option<&Password>, action: FenceAction) -> Input {
        let mut text = String::new();
        let mut line = |key: &str, value: &str| {
            text.push_str(key);
            text.push('=');
            text.push_str(value);
            text.push('\n');
        };
        for (key, value) in &device.options {
            // `FencingConf` refuses these; a device made in code with one is
            // a programmer's error, which must not become a second option.
            // (The value is not shown: it is the device's business.)
            assert!(
                !key.is_empty()
                    && !key.contains(['=', '\n', '\r'])
                    && !value.contains(['\n', '\r']),
                "fence option {key:?} would not be one key=value line"
            );
            line(key, value);
        }
        if let Some(password) = password {
            line("password", password.expose());
        }
        line("action", action.as_str());
        Input(text.into_bytes())
    }
}

/// Starts the agent: no arguments, its own process group, `/` as its working
/// directory (so a hung mount where we happen to be cannot stall it), and
/// Python's `DeprecationWarning` silenced (fence-agents 4.12 on Python 3.11
/// print two lines about `pipes` on every run, which would bury the
/// `ERROR:` lines). The rest of the environment is ours.
fn spawn(agent: &str) -> io::Result<Child> {
    Command::new(agent)
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// The threads that feed the agent's stdin and read its stdout and stderr.
struct Pipes {
    fed: Receiver<io::Result<()>>,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

/// What the agent said, and whether its input could be written.
struct Output {
    /// `Some` when writing its input failed for another reason than the agent
    /// closing its stdin.
    input_error: Option<io::Error>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Pipes {
    fn start(child: &mut Child, input: Input) -> io::Result<Pipes> {
        let missing = || io::Error::other("a pipe to the agent is missing");
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        Ok(Pipes {
            fed: on_thread("fence-stdin", move || feed(stdin, input))?,
            stdout: on_thread("fence-stdout", move || read_tail(stdout))?,
            stderr: on_thread("fence-stderr", move || read_tail(stderr))?,
        })
    }

    /// Everything the threads got by `until`: the agent's process group is
    /// dead by now, so only a process that left the group (a daemon it
    /// started) can keep a pipe open, and then its thread is left behind.
    fn collect(self, until: Instant) -> Output {
        let left = || until.saturating_duration_since(Instant::now());
        let input_error = match self.fed.recv_timeout(left()) {
            Ok(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => Some(e),
            _ => None,
        };
        Output {
            input_error,
            stdout: self.stdout.recv_timeout(left()).unwrap_or_default(),
            stderr: self.stderr.recv_timeout(left()).unwrap_or_default(),
        }
    }
}

/// Runs `work` on a named thread; its result comes on the receiver.
fn on_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<Receiver<T>> {
    let (done, result) = mpsc::sync_channel(1);
    thread::Builder::new().name(name.into()).spawn(move || {
        // Nobody waits any more after the drain: nothing to tell then.
        let _ = done.send(work());
    })?;
    Ok(result)
}

/// Writes the input and closes stdin (the agent reads until end of file). An
/// agent that exits without reading makes this fail with a broken pipe: its
/// exit status is its answer then, so that is no error of ours. SIGPIPE is
/// blocked on this thread, so that a program which restored SIGPIPE's default
/// (to end quietly in a closed `| head`) is not killed by it.
fn feed(mut stdin: std::process::ChildStdin, input: Input) -> io::Result<()> {
    block_sigpipe();
    stdin.write_all(&input.0)
}

fn block_sigpipe() {
    // SAFETY: a signal set on this thread's stack, initialised by
    // sigemptyset before use; pthread_sigmask changes this thread's mask only.
    // A SIGPIPE left pending on this thread is dropped when it ends.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Reads `pipe` to its end, keeping the last [`OUTPUT_MAX_BYTES`].
fn read_tail(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                // Dropping the front in large steps keeps this linear.
                if kept.len() > 2 * OUTPUT_MAX_BYTES {
                    kept.drain(..kept.len() - OUTPUT_MAX_BYTES);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > OUTPUT_MAX_BYTES {
        kept.drain(..kept.len() - OUTPUT_MAX_BYTES);
    }
    kept
}

/// Waits until the agent has ended, or `deadline` passed; whether it ended.
/// The agent is not reaped (`WNOWAIT`): while it is a zombie, its pid (and so
/// its process group's id) cannot be reused, so [`stop`] cannot kill a
/// stranger's group.
fn ended_by(child: &Child, deadline: Instant) -> bool {
    let pid: libc::id_t = child.id();
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills in; zeroed, its
        // si_pid reads 0 when no child has changed state (WNOHANG).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid(2) on our own child, with a valid siginfo_t.
        let result = unsafe { libc::waitid(libc::P_PID, pid, &mut info, flags) };
        if result == -1 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // Not ours to wait for any more: stop() reaps or gives up.
            return false;
        }
        // SAFETY: the union member of an exited child, read after waitid.
        if result == 0 && unsafe { info.si_pid() } != 0 {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// Kills the agent's whole process group (its own end, or its timeout, both
/// mean nothing of it is to run on) and reaps the agent, waiting at most
/// until `until`; an agent not dead by then is left to a thread that reaps
/// it when it dies. Its exit status, when it was reaped.
fn stop(mut child: Child, until: Instant) -> Option<ExitStatus> {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) of the process group our unreaped child leads (its
        // pid, hence the group's id, is not free for reuse until reaped).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => thread::sleep(POLL),
            Ok(None) => {
                let reaper = thread::Builder::new().name("fence-reaper".into());
                // Without a thread it stays a zombie; nothing more to do.
                let _ = reaper.spawn(move || child.wait());
                return None;
            }
            Err(_) => return None,
        }
    }
}

/// The agent's answer, by its exit status (fence-agents: 0 success or on,
/// 2 off for `status` only, 1 any failure).
fn judge(
    action: FenceAction,
    timeout: Duration,
    in_time: bool,
    status: Option<ExitStatus>,
    output: &Output,
    password: Option<&Password>,
) -> Result<Power, FenceError> {
    let status = match status {
        // An exit of its own, even one just past the deadline, is its answer.
        Some(status) if in_time || status.code().is_some() => status,
        _ => return Err(FenceError::TimedOut(timeout)),
    };
    let code = status.code();
    if let Some(e) = &output.input_error {
        // It may not have read the action: whatever it did, it is no answer.
        let message = format!("its input could not be written: {e}");
        return Err(FenceError::Failed { code, message });
    }
    match (action, code) {
        (FenceAction::Status, Some(0)) | (FenceAction::On, Some(0)) => Ok(Power::On),
        (FenceAction::Status, Some(EXIT_STATUS_OFF)) | (FenceAction::Off, Some(0)) => {
            Ok(Power::Off)
        }
        _ => Err(FenceError::Failed {
            code,
            message: failure_message(&output.stderr, &output.stdout, password),
        }),
    }
}

/// The agent's reason: its `ERROR:` and `Failed:` lines (stderr first), or
/// else its last line (stderr's, or stdout's); one line, bounded, without
/// control characters, the password redacted.
fn failure_message(stderr: &[u8], stdout: &[u8], password: Option<&Password>) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let stdout = String::from_utf8_lossy(stdout);
    let lines = || {
        stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
    };
    let reasons: Vec<&str> = lines()
        .filter_map(reason)
        .filter(|r| !r.is_empty() && *r != USAGE_HINT)
        .take(MESSAGE_LINES_MAX)
        .collect();
    let message = if reasons.is_empty() {
        last_line(&stderr)
            .or_else(|| last_line(&stdout))
            .unwrap_or_default()
            .to_string()
    } else {
        reasons.join("; ")
    };
    bounded(&redact(&message, password))
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The reason in one line of a fence agent: after `ERROR:` (its log format is
/// `<date> <time> ERROR: <message>`, or `ERROR:root:<message>` before its
/// logging is set up), or a line starting `Failed:`; without a `Failed:`
/// prefix, which the log line's "failed:" already says.
fn reason(line: &str) -> Option<&str> {
    let rest = match line.find("ERROR:") {
        Some(at) => line[at + "ERROR:".len()..].trim_start(),
        None => line.strip_prefix("Failed:")?,
    };
    let rest = rest.strip_prefix("root:").unwrap_or(rest);
    Some(rest.strip_prefix("Failed:").unwrap_or(rest).trim())
}

/// Every occurrence of the password replaced. Done before [`bounded`] cuts
/// the text, which could leave a part of it.
fn redact(text: &str, password: Option<&Password>) -> String {
    match password.map(Password::expose) {
        Some(secret) if !secret.is_empty() => text.replace(secret, "<redacted>"),
        _ => text.to_string(),
    }
}

/// At most [`MESSAGE_MAX_BYTES`], control characters (a terminal's escapes,
/// a `\r` that would hide the log line) made spaces.
fn bounded(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MESSAGE_MAX_BYTES {
        let mut cut = MESSAGE_MAX_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests;
