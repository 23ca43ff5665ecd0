//! Running a fence agent (`fence_ipmilan`, `fence_redfish`, ... of the
//! `fence-agents` package) through the standard fence-agent interface, one
//! bounded call at a time.
//!
//! The interface, as fence-agents 4.12.1 has it (`docs/fence-agents.md`,
//! sections 2 and 3, checked against a real `fence_ipmilan`):
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
//! Only a fence agent is run (a program named `fence_*`: any other program,
//! `/bin/sh` say, would take every option line for a command), and only one
//! that no other user can change ([`crate::trust::check_program`]); it is
//! started by its absolute path, in a clean environment (an inherited
//! `PCMK_service=pacemaker-fenced` would turn every timeout of the agent off).
//! An agent that ends without reading all its input never read its action:
//! whatever its exit status says, it is no answer.
//!
//! Every call is bounded: the agent runs in a process group of its own, and the
//! whole group gets SIGKILL when the timeout passes (fence_ipmilan runs
//! `ipmitool`, which must not outlive it). The group is killed after a normal
//! exit too, before the agent is reaped, so that nothing it left behind keeps
//! running or holds its output open. Output is read on threads, at most
//! [`OUTPUT_MAX_BYTES`] of each stream kept, so a chatty agent never blocks.
//!
//! The password never leaves the agent's stdin: it is not in the argv, the
//! environment, a log line, an error or a `Debug` output. An error line of the
//! agent that repeats it has it redacted, and a line that names a password at
//! all (`password`, `passwd`, ipmitool's ` -P `) is withheld whole, since the
//! agent may print the password escaped or quoted; a line cut by the output's
//! bound is dropped, since it may begin with a part of it.

use std::fmt;
use std::io::{self, PipeReader, PipeWriter, Read, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{FenceDevice, Password, is_fence_agent_name, read_password_file};
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
/// The agent's whole environment. `PATH` for the programs it runs (fence
/// agents find `ipmitool` and the like by absolute paths of their own, but
/// a shell-script agent may not); `LANG` so that its messages are in
/// English and its Python reads UTF-8; `PYTHONWARNINGS` because
/// fence-agents 4.12 on Python 3.11 print two `DeprecationWarning` lines
/// about `pipes` on every run, which would bury the `ERROR:` lines
/// (`docs/fence-agents.md`, section 1). Nothing else is inherited: above
/// all not `PCMK_service=pacemaker-fenced`, which turns every timeout of the
/// agent off (section 2).
const AGENT_ENV: [(&str, &str); 3] = [
    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ("LANG", "C.UTF-8"),
    ("PYTHONWARNINGS", "ignore::DeprecationWarning"),
];
/// What a line of the agent's output that names a password becomes in a
/// message: it may hold the password in a form that [`redact`] cannot
/// recognise (escaped, quoted, cut).
const WITHHELD: &str = "<a line withheld: it may show a secret>";
/// Words that make a line of the agent's output withheld, lower case:
/// `password` and `passwd` (the option's names), ` -p ` (ipmitool's password
/// option, in the command line that `verbose=1` prints).
const SECRET_WORDS: [&str; 3] = ["password", "passwd", " -p "];
/// What an agent that ended without reading all its input is told it did.
const UNREAD_INPUT: &str = "exited without reading its input";

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
    /// Powered on (`status` exit 0, or an `on` that succeeded).
    On,
    /// Powered off (`status` exit 2, or an `off` that succeeded: the agent
    /// saw the device report off).
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
    /// The program is not there (not on `PATH`, or no such file).
    Missing,
    /// The program is not run: it is no fence agent (its name is not
    /// `fence_*`), or another user than root (and us) could change it. The
    /// text says which, and what to do.
    Untrusted(String),
    /// The program could not be started (not executable, say).
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
            FenceError::Missing => f.write_str(
                "cannot run it: no such program (is the fence-agents package installed?)",
            ),
            FenceError::Untrusted(why) | FenceError::PasswordFile(why) => {
                write!(f, "not run: {why}")
            }
            FenceError::Spawn(e) => write!(f, "cannot run it: {e}"),
            FenceError::TimedOut(limit) => {
                write!(f, "no answer within {}: killed it", took_text(*limit))
            }
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
        write!(f, " ({})", took_text(self.took))
    }
}

/// A duration as this module shows one, in seconds with two decimals:
/// `0.08 s`, `2.13 s`, `20.10 s`, `30.00 s`. The log line's time and a
/// timeout's limit alike, and `--check-fencing`'s table, so that the one
/// number reads the same everywhere.
pub fn took_text(took: Duration) -> String {
    format!("{:.2} s", took.as_secs_f64())
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

/// The call itself: the program, the password, the input, the agent, its
/// verdict.
fn call(device: &FenceDevice, action: FenceAction, timeout: Duration) -> Result<Power, FenceError> {
    let program = trusted_program(&device.agent)?;
    let password = match &device.password_file {
        Some(path) => Some(read_password_file(path).map_err(FenceError::PasswordFile)?),
        None => None,
    };
    let input = Input::new(device, password.as_ref(), action);
    let deadline = Instant::now() + timeout;
    let (mut child, stdin) = spawn(&program).map_err(FenceError::Spawn)?;
    let pipes = match Pipes::start(&mut child, stdin, input) {
        Ok(pipes) => pipes,
        Err(e) => {
            stop(child, Instant::now() + DRAIN_WAIT);
            return Err(FenceError::Spawn(e));
        }
    };
    let ended = ended_by(&child, deadline);
    let drain_by = Instant::now() + DRAIN_WAIT;
    let status = stop(child, drain_by);
    let output = pipes.collect(drain_by);
    let in_time = ended.map_err(|e| FenceError::Failed {
        code: None,
        message: format!("cannot wait for it: {e}"),
    })?;
    judge(action, timeout, in_time, status, &output, password.as_ref())
}

/// Where `agent` is, absolute, when it may be run: a fence agent (its file
/// name `fence_[a-z0-9_]+`), a name found on `PATH` or an absolute path, that
/// passes [`crate::trust::check_program`]. Checked before the password file
/// is read: an untrusted program gets nothing.
fn trusted_program(agent: &str) -> Result<PathBuf, FenceError> {
    let name = agent.rsplit('/').next().unwrap_or(agent);
    if !is_fence_agent_name(name) {
        return Err(FenceError::Untrusted(format!(
            "{agent:?} is not a fence agent: only programs named fence_<name> (lower case \
             letters, digits, _) are run, since each option line goes to it"
        )));
    }
    // `FencingConf` refuses a relative path; one made in code is still not
    // run, as it would be found from wherever we happen to be.
    if agent.contains('/') && !agent.starts_with('/') {
        return Err(FenceError::Untrusted(format!(
            "{agent:?} is neither a program name looked up on PATH nor an absolute path"
        )));
    }
    match crate::trust::check_program(Path::new(agent)) {
        // A relative directory on PATH finds a relative path: made absolute
        // against our working directory, where the check looked.
        Ok(Some(found)) => std::path::absolute(&found)
            .map_err(|e| FenceError::Untrusted(format!("{}: {e}", found.display()))),
        Ok(None) => Err(FenceError::Missing),
        Err(e) => Err(FenceError::Untrusted(e.to_string())),
    }
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

/// Our ends of the agent's stdin: the one we write its input to, and a
/// second read end, which nobody reads. With it open, the pipe outlives
/// an agent that exits without reading, so that what it left unread can be
/// counted ([`unread_bytes`]); without it, such an agent would show only
/// when its exit raced our writing and won (a broken pipe).
struct Stdin {
    writer: PipeWriter,
    probe: PipeReader,
}

/// Starts `program` (an absolute path): no arguments, its own process
/// group, `/` as its working directory (so a hung mount where we happen to
/// be cannot stall it), [`AGENT_ENV`] as its whole environment.
fn spawn(program: &Path) -> io::Result<(Child, Stdin)> {
    // Both ends close on exec: no other child inherits them.
    let (read, writer) = io::pipe()?;
    let probe = read.try_clone()?;
    // The command, and with it our copy of `read`, is dropped at the `;`.
    let child = Command::new(program)
        .env_clear()
        .envs(AGENT_ENV)
        .current_dir("/")
        .stdin(read)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    Ok((child, Stdin { writer, probe }))
}

/// The threads that feed the agent's stdin and read its stdout and stderr.
struct Pipes {
    fed: Receiver<io::Result<()>>,
    probe: PipeReader,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

/// How the agent's input went.
#[derive(Debug)]
enum Fed {
    /// All written, all read.
    Read,
    /// The agent ended without reading all of it, the action last: a part
    /// was left in the pipe, or the pipe broke, or the writing never ended.
    Unread,
    /// Writing it failed for another reason.
    Failed(io::Error),
}

/// What the agent said, and whether it read its input.
struct Output {
    input: Fed,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Pipes {
    fn start(child: &mut Child, stdin: Stdin, input: Input) -> io::Result<Pipes> {
        let missing = || io::Error::other("a pipe to the agent is missing");
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        let writer = stdin.writer;
        Ok(Pipes {
            fed: on_thread("fence-stdin", move || feed(writer, input))?,
            probe: stdin.probe,
            stdout: on_thread("fence-stdout", move || read_tail(stdout))?,
            stderr: on_thread("fence-stderr", move || read_tail(stderr))?,
        })
    }

    /// Everything the threads got by `until`: the agent's process group is
    /// dead by now, so only a process that left the group (a daemon it
    /// started) can keep a pipe open, and then its thread is left behind.
    fn collect(self, until: Instant) -> Output {
        let left = || until.saturating_duration_since(Instant::now());
        Output {
            input: fed(&self.fed, self.probe, until),
            stdout: self.stdout.recv_timeout(left()).unwrap_or_default(),
            stderr: self.stderr.recv_timeout(left()).unwrap_or_default(),
        }
    }
}

/// How the agent's input went, its process group dead: nobody reads its
/// stdin any more. The writer is waited for while the pipe is empty (it ends,
/// or fills the pipe); then what is in the pipe stays unread, and closing the
/// probe breaks the pipe for a writer still blocked on it. (Counted before
/// the writer ended, a write just after the count would go unseen.)
fn fed(fed: &Receiver<io::Result<()>>, probe: PipeReader, until: Instant) -> Fed {
    let written = loop {
        let left = until.saturating_duration_since(Instant::now());
        match fed.recv_timeout(POLL.min(left)) {
            Ok(result) => break Some(result),
            Err(mpsc::RecvTimeoutError::Timeout)
                if unread_bytes(&probe) == 0 && Instant::now() < until => {}
            Err(_) => break None,
        }
    };
    let unread = unread_bytes(&probe) > 0;
    drop(probe);
    match written {
        Some(Ok(())) if !unread => Fed::Read,
        Some(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => Fed::Failed(e),
        _ => Fed::Unread,
    }
}

/// How many bytes are in the pipe behind `probe`, that is, written and not
/// read; 0 when that cannot be told.
fn unread_bytes(probe: &PipeReader) -> usize {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD on a pipe's read end stores one int at the pointer,
    // which is valid for the call.
    let result = unsafe { libc::ioctl(probe.as_raw_fd(), libc::FIONREAD, &mut count) };
    if result == -1 {
        return 0;
    }
    usize::try_from(count).unwrap_or(0)
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
/// agent that exits without reading can make this fail with a broken pipe
/// ([`Fed::Unread`]). SIGPIPE is blocked on this thread, so that a program
/// which restored SIGPIPE's default (to end quietly in a closed `| head`) is
/// not killed by it.
fn feed(mut stdin: PipeWriter, input: Input) -> io::Result<()> {
    block_sigpipe();
    stdin.write_all(&input.0)
}

/// Blocks SIGPIPE on the calling thread, whatever the process's disposition
/// of it: a write to a pipe nobody reads then fails with `EPIPE` instead.
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

/// Reads `pipe` to its end, keeping the last [`OUTPUT_MAX_BYTES`] at most,
/// from the first whole line in them: a line cut at its front may begin
/// with a part of a password, which nothing could recognise.
fn read_tail(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut cut_in_a_line = false;
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                // Dropping the front in large steps keeps this linear.
                if kept.len() > 2 * OUTPUT_MAX_BYTES {
                    cut_in_a_line = keep_last(&mut kept);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > OUTPUT_MAX_BYTES {
        cut_in_a_line = keep_last(&mut kept);
    }
    if cut_in_a_line {
        let line_end = kept
            .iter()
            .position(|&b| b == b'\n')
            .map_or(kept.len(), |at| at + 1);
        kept.drain(..line_end);
    }
    kept
}

/// Drops the front of `kept` but its last [`OUTPUT_MAX_BYTES`]; whether
/// that cut a line (the last byte dropped was not its end).
fn keep_last(kept: &mut Vec<u8>) -> bool {
    let cut = kept.len() - OUTPUT_MAX_BYTES;
    let in_a_line = kept[cut - 1] != b'\n';
    kept.drain(..cut);
    in_a_line
}

/// Waits until the agent has ended, or `deadline` passed; whether it ended.
/// The agent is not reaped (`WNOWAIT`): while it is a zombie, its pid (and so
/// its process group's id) cannot be reused, so [`stop`] cannot kill a
/// stranger's group.
/// An error of `waitid` (the agent no child of ours any more: a bug) is
/// returned as it is.
fn ended_by(child: &Child, deadline: Instant) -> io::Result<bool> {
    let pid: libc::id_t = child.id();
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills in; zeroed, its
        // si_pid reads 0 when no child has changed state (WNOHANG).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid(2) on our own child, with a valid siginfo_t.
        let result = unsafe { libc::waitid(libc::P_PID, pid, &mut info, flags) };
        if result == -1 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        // SAFETY: the union member of an exited child, read after waitid.
        if result == 0 && unsafe { info.si_pid() } != 0 {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
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
    // It did not read its action: whatever it did, it is no answer (an
    // `off` that exits 0 would be taken for a host confirmed off).
    match &output.input {
        Fed::Read => {}
        Fed::Unread => {
            let message = UNREAD_INPUT.to_string();
            return Err(FenceError::Failed { code, message });
        }
        Fed::Failed(e) => {
            let message = format!("its input could not be written: {e}");
            return Err(FenceError::Failed { code, message });
        }
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
/// control characters, the password redacted and a line that names one
/// withheld.
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
    let mut reasons: Vec<&str> = lines()
        .filter_map(|line| Some((line, reason(line)?)))
        .filter(|(_, r)| !r.is_empty() && *r != USAGE_HINT)
        .map(|(line, r)| if names_secret(line) { WITHHELD } else { r })
        .take(MESSAGE_LINES_MAX)
        .collect();
    reasons.dedup();
    let message = if reasons.is_empty() {
        let last = last_line(&stderr).or_else(|| last_line(&stdout));
        let shown = last.map(|line| if names_secret(line) { WITHHELD } else { line });
        shown.unwrap_or_default().to_string()
    } else {
        reasons.join("; ")
    };
    bounded(&redact(&message, password))
}

/// The last line of `text` that is not blank, trimmed.
fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// Whether `line` names a password ([`SECRET_WORDS`], in any case), and so
/// may show one in a form that [`redact`] misses.
fn names_secret(line: &str) -> bool {
    // Padded, so that a trimmed line's `-P` at either end counts.
    let line = format!(" {} ", line.to_ascii_lowercase());
    SECRET_WORDS.iter().any(|word| line.contains(word))
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

mod background;

pub use background::DeviceFencer;

#[cfg(test)]
mod tests;
