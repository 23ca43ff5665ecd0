//! The one deadline of everything after the TCP connect
//! ([`Options::timeout`](super::Options::timeout)): each blocking libssh2 call
//! gets the time left, and a libssh2 error becomes a [`RemoteError`] naming the
//! step. libssh2's timeout is per wait, restarted by every byte that arrives,
//! so a server that keeps sending (a slow drip, an endless stream) would hold
//! a call forever: [`HangUp`] shuts the socket down when the deadline passes,
//! whatever libssh2 is doing.

use std::cell::Cell;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ssh2::Session;

use super::error::{RemoteError, Step, is_timeout, ssh_reason};
use super::target::Target;

/// The one deadline of everything after the TCP connect.
pub(super) struct Deadline {
    pub(super) target: String,
    timeout: Duration,
    at: Instant,
    /// The step of the last call the deadline was asked about: the one a
    /// hang-up interrupts.
    step: Cell<Step>,
}

impl Deadline {
    pub(super) fn start(target: &Target, timeout: Duration) -> Deadline {
        Deadline {
            target: target.to_string(),
            timeout,
            at: Instant::now() + timeout,
            step: Cell::new(Step::KeyExchange),
        }
    }

    /// When it passes.
    pub(super) fn at(&self) -> Instant {
        self.at
    }

    /// The step under way (the last one asked about).
    pub(super) fn step(&self) -> Step {
        self.step.get()
    }

    /// Milliseconds left (at least 1), or the timeout error.
    pub(super) fn left_ms(&self, step: Step) -> Result<u32, RemoteError> {
        self.step.set(step);
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out(step));
        }
        Ok(u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1))
    }

    /// Bounds the session's next blocking call by the time left.
    pub(super) fn arm(&self, session: &Session, step: Step) -> Result<(), RemoteError> {
        session.set_timeout(self.left_ms(step)?);
        Ok(())
    }

    pub(super) fn timed_out(&self, step: Step) -> RemoteError {
        RemoteError::Timeout {
            target: self.target.clone(),
            step,
            timeout: self.timeout,
        }
    }

    /// A libssh2 error as a [`RemoteError`].
    pub(super) fn ssh(&self, step: Step, e: &ssh2::Error) -> RemoteError {
        if is_timeout(e) {
            return self.timed_out(step);
        }
        RemoteError::Ssh {
            target: self.target.clone(),
            step,
            reason: ssh_reason(e.code(), e.message()),
        }
    }
}

/// Shuts the connection down when the deadline passes (a thread that waits
/// for it), so that no libssh2 call outlives it; dropped in time, it does
/// nothing.
pub(super) struct HangUp {
    stop: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangUp {
    /// Arms it on a handle of the connection's socket.
    pub(super) fn arm(socket: &TcpStream, at: Instant) -> std::io::Result<HangUp> {
        let socket = socket.try_clone()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fired);
        let thread = std::thread::Builder::new()
            .name("ssh-deadline".into())
            .spawn(move || {
                let left = at.saturating_duration_since(Instant::now());
                if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(left) {
                    flag.store(true, Ordering::SeqCst);
                    let _ = socket.shutdown(Shutdown::Both);
                }
            })?;
        Ok(HangUp {
            stop: Some(stop),
            fired,
            thread: Some(thread),
        })
    }

    /// Whether it hung up.
    pub(super) fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for HangUp {
    fn drop(&mut self) {
        // Disconnecting the channel wakes the thread at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
