//! One call that may block in the kernel (a hung NFS server, the system
//! resolver), run on a thread of its own while the caller waits at most a
//! deadline.
//!
//! A thread blocked in the kernel cannot be cancelled: a late one is left
//! behind, its result dropped when it finally returns. Callers that could pile
//! such threads up (one per loop, say) need a bound of their own, as the
//! metadata store's single I/O thread and the monitors' resolver count are.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// Why [`run`] has no result.
#[derive(Debug)]
pub enum Overrun {
    /// No thread could be started.
    Spawn(io::Error),
    /// The call did not return within the deadline; it may still be running.
    Late(Duration),
    /// The call panicked (the panic message went to stderr).
    Panicked,
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overrun::Spawn(e) => write!(f, "cannot start a thread: {e}"),
            Overrun::Late(limit) => write!(f, "no answer within {} ms", limit.as_millis()),
            Overrun::Panicked => f.write_str("the call panicked"),
        }
    }
}

/// Runs `op` on a thread named `name` and waits at most `timeout` for it.
pub fn run<T: Send + 'static>(
    name: &str,
    timeout: Duration,
    op: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Overrun> {
    let (reply, answer) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The caller may have stopped waiting: nobody to tell then.
            let _ = reply.send(op());
        })
        .map_err(Overrun::Spawn)?;
    answer.recv_timeout(timeout).map_err(|e| match e {
        RecvTimeoutError::Timeout => Overrun::Late(timeout),
        // The thread ended without an answer: only a panic does that.
        RecvTimeoutError::Disconnected => Overrun::Panicked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_call_returns_its_value_on_a_named_thread() {
        let name = run("deadline-test", Duration::from_secs(5), || {
            thread::current().name().map(str::to_owned)
        });
        assert_eq!(name.unwrap().as_deref(), Some("deadline-test"));
    }

    #[test]
    fn a_panicking_call_is_told_apart_from_a_late_one() {
        let result = run("deadline-test", Duration::from_secs(60), || -> u8 {
            panic!("deliberate, in a test")
        });
        assert!(matches!(result, Err(Overrun::Panicked)));
    }

    #[test]
    fn a_late_call_is_left_behind_at_the_deadline() {
        let (release, wait) = mpsc::channel::<()>();
        let result = run("deadline-test", Duration::from_millis(100), move || {
            let _ = wait.recv();
            7
        });
        assert!(matches!(result, Err(Overrun::Late(d)) if d == Duration::from_millis(100)));
        // (Without the deadline this test would never get here.) The thread left
        // behind ends when its call does; its result is dropped.
        release.send(()).unwrap();
    }
}
