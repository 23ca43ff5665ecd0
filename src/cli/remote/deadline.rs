//! The one deadline of everything after the TCP connect
//! ([`Options::timeout`](super::Options::timeout)): each blocking libssh2 call
//! gets the time left, and a libssh2 error becomes a [`RemoteError`] naming the
//! step.

use std::time::{Duration, Instant};

use ssh2::Session;

use super::error::{RemoteError, Step, is_timeout, ssh_reason};
use super::target::Target;

/// The one deadline of everything after the TCP connect.
pub(super) struct Deadline {
    pub(super) target: String,
    timeout: Duration,
    at: Instant,
}

impl Deadline {
    pub(super) fn start(target: &Target, timeout: Duration) -> Deadline {
        Deadline {
            target: target.to_string(),
            timeout,
            at: Instant::now() + timeout,
        }
    }

    /// Milliseconds left (at least 1), or the timeout error.
    pub(super) fn left_ms(&self, step: Step) -> Result<u32, RemoteError> {
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
