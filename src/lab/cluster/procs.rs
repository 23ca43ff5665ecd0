//! Processes of a lab, found and signalled safely.
//!
//! A process is named by its pid *and* its start time (field 22 of
//! `/proc/<pid>/stat`), so a pid that the kernel reused for another program is
//! never signalled: [`signal_verified`] opens a pidfd (which pins the process),
//! checks the start time through `/proc`, and only then signals through the pidfd.
//!
//! Every process a lab starts carries [`LAB_ID_VAR`] in its environment (the
//! agents inherit it from the supervisor, the engine payloads and the agents'
//! helpers from the agents), so that `he-lab down` finds all of them by scanning
//! `/proc` even after the supervisor and its records are gone.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The environment variable that marks every process of one lab.
pub const LAB_ID_VAR: &str = "HE_LAB_ID";
/// Most bytes read from one `/proc` file.
const PROC_FILE_MAX_BYTES: u64 = 256 * 1024;
/// Most processes a scan looks at (a limit on everything).
const SCAN_PROCESSES_MAX: usize = 1 << 20;

/// A process: pid plus start time, so that a reused pid never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: i32,
    /// Clock ticks after boot at which it started (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

pub use crate::shell::vm::process::procfs::{Stat, parse_stat};

/// Reads a small `/proc` file; `None` when the process (or file) is gone.
fn read_proc(path: &Path) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(PROC_FILE_MAX_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// The process's `stat`, `None` when there is no such process.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&read_proc(Path::new(&format!("/proc/{pid}/stat")))?)
}

/// The [`ProcId`] of a running pid.
pub fn proc_id(pid: i32) -> Option<ProcId> {
    stat(pid).map(|s| ProcId {
        pid,
        start_ticks: s.start_ticks,
    })
}

/// Whether `id` still names a live (not zombie) process.
pub fn alive(id: ProcId) -> bool {
    matches!(stat(id.pid), Some(s) if s.start_ticks == id.start_ticks && s.state != b'Z')
}

/// The state letter of `id` while it lives (`T`: stopped).
pub fn state_of(id: ProcId) -> Option<u8> {
    stat(id.pid)
        .filter(|s| s.start_ticks == id.start_ticks && s.state != b'Z')
        .map(|s| s.state)
}

/// A process's argv, `None` when unreadable (gone, a kernel thread, a zombie).
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    let bytes = read_proc(Path::new(&format!("/proc/{pid}/cmdline")))?;
    if bytes.is_empty() {
        return None;
    }
    Some(split_nul(&bytes))
}

/// One environment variable of a process (readable for our own processes, or
/// any as root); `None` when absent or unreadable.
pub fn environ_var(pid: i32, name: &str) -> Option<String> {
    let bytes = read_proc(Path::new(&format!("/proc/{pid}/environ")))?;
    let prefix = format!("{name}=");
    split_nul(&bytes)
        .into_iter()
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_owned))
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// Every pid in `/proc`, ascending.
pub fn all_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .take(SCAN_PROCESSES_MAX)
        .collect();
    pids.sort_unstable();
    pids
}

/// Every live process whose environment carries `HE_LAB_ID=<id>`, except this
/// process and its ancestors (a `he-lab down` run from inside the lab must not
/// kill the shell that runs it).
pub fn lab_processes(lab_id: &str) -> Vec<ProcId> {
    let spared = ancestors();
    all_pids()
        .into_iter()
        .filter(|pid| !spared.contains(pid))
        .filter(|&pid| environ_var(pid, LAB_ID_VAR).as_deref() == Some(lab_id))
        .filter_map(proc_id)
        .filter(|id| state_of(*id).is_some())
        .collect()
}

/// This process and its ancestors.
fn ancestors() -> Vec<i32> {
    let mut chain = vec![std::process::id() as i32];
    let mut pid = chain[0];
    // Bounded: a process tree is never deeper than this.
    for _ in 0..4096 {
        match stat(pid) {
            Some(s) if s.ppid > 0 => {
                chain.push(s.ppid);
                pid = s.ppid;
            }
            _ => break,
        }
    }
    chain
}

/// Sends `signal` to `id` if, and only if, it is still that process. `Ok(false)`
/// when it is gone (or its pid now belongs to another process).
pub fn signal_verified(id: ProcId, signal: libc::c_int) -> io::Result<bool> {
    // SAFETY: pidfd_open(2) with a pid and no flags; returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // The pidfd pins the process: if the start time matches now, the signal
    // below reaches this very process, never a successor with the same pid.
    if stat(id.pid).map(|s| s.start_ticks) != Some(id.start_ticks) {
        return Ok(false);
    }
    // SAFETY: pidfd_send_signal(2) on our descriptor, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// Sends `signal` to the process group `id` leads, after checking that `id` is
/// still that process (a group outlives neither check nor leader by design:
/// the lab's payloads lead their own session).
pub fn signal_group_verified(id: ProcId, signal: libc::c_int) -> io::Result<bool> {
    if !alive(id) {
        return Ok(false);
    }
    // SAFETY: kill(2) of a process group; the leader was verified just above.
    let rc = unsafe { libc::kill(-id.pid, signal) };
    if rc == 0 {
        return Ok(true);
    }
    // Not a group leader (or the group is gone): the process itself.
    signal_verified(id, signal)
}

/// Waits until none of `ids` is alive, at most `limit`. Returns those still alive.
pub fn wait_gone(ids: &[ProcId], limit: std::time::Duration) -> Vec<ProcId> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left: Vec<ProcId> = ids.iter().copied().filter(|id| alive(*id)).collect();
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Writes `<pid> <start ticks>` to `path` (a pid file that survives pid reuse).
pub fn write_pid_file(path: &Path, id: ProcId) -> io::Result<()> {
    std::fs::write(path, format!("{} {}\n", id.pid, id.start_ticks))
}

/// Reads a pid file written by [`write_pid_file`]; `None` when absent or bad.
pub fn read_pid_file(path: &Path) -> Option<ProcId> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse().ok()?;
    let start_ticks = words.next()?.parse().ok()?;
    (pid > 0).then_some(ProcId { pid, start_ticks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_after_the_last_parenthesis() {
        let line = b"42 (a) b) c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!((stat.state, stat.ppid, stat.start_ticks), (b'S', 7, 12345));
        assert_eq!(parse_stat(b"42 (x) SS 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = proc_id(std::process::id() as i32).unwrap();
        assert!(alive(me));
        let other = ProcId {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!alive(other));
        // A signal 0 to a wrong start time is refused, to the right one sent.
        assert!(!signal_verified(other, 0).unwrap());
        assert!(signal_verified(me, 0).unwrap());
    }

    #[test]
    fn pid_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let id = ProcId {
            pid: 12,
            start_ticks: 34,
        };
        write_pid_file(&path, id).unwrap();
        assert_eq!(read_pid_file(&path), Some(id));
        std::fs::write(&path, "junk").unwrap();
        assert_eq!(read_pid_file(&path), None);
    }
}
