//! Running helper programs (`ip`, `mount`, `umount`, `unshare`) with a deadline
//! and one clear error line.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound on one helper command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Most bytes of a failed command's stderr kept for its error.
const STDERR_MAX_BYTES: usize = 2048;

/// Runs `command` to its end within `timeout`; its stdout on success, otherwise
/// `<program args>: <why>` (exit status and stderr, or the timeout).
pub fn run(command: &mut Command, timeout: Duration) -> Result<String, String> {
    let shown = shown(command);
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let pid = child.id();
    let (done, outcome) = mpsc::channel();
    // Waiting on its own thread drains both pipes while the deadline runs here.
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output: Output = match outcome.recv_timeout(timeout) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("{shown}: {e}")),
        Err(_) => {
            // Not reaped yet (the waiting thread still holds it): the pid is ours.
            // SAFETY: kill(2) of our own unreaped child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = outcome.recv();
            return Err(format!("{shown}: killed after {} ms", timeout.as_millis()));
        }
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = &output.stderr[..output.stderr.len().min(STDERR_MAX_BYTES)];
    let why = String::from_utf8_lossy(stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Err(format!(
        "{shown}: {}{}{why}",
        output.status,
        if why.is_empty() { "" } else { ": " }
    ))
}

/// `argv` as a [`Command`] run with [`COMMAND_TIMEOUT`].
pub fn run_argv<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
    run(Command::new(program).args(args), COMMAND_TIMEOUT)
}

fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_status_and_deadline() {
        assert_eq!(run_argv(&["echo", "hi"]).unwrap(), "hi\n");
        let err = run_argv(&["sh", "-c", "echo oops >&2; exit 3"]).unwrap_err();
        assert!(err.contains("exit status: 3: oops"), "{err}");
        let err = run(Command::new("sleep").arg("5"), Duration::from_millis(100)).unwrap_err();
        assert!(err.contains("killed after 100 ms"), "{err}");
        assert!(run_argv(&["/no/such/program"]).is_err());
    }
}
