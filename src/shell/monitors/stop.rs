//! A stop flag that sleepers can wait on: every wait of a monitor goes through
//! it, so that stopping wakes them at once instead of after their timeout.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a blocking call (connect, read, child wait) runs before it looks
/// at the stop flag and its deadline again: the bound on how late a stop is seen.
pub const SLICE_MS: u64 = 50;

/// A stop flag with a condition variable.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `deadline` or until stopped; `true` when stopped.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits `ms` milliseconds or until stopped; `true` when stopped.
    pub fn sleep_ms(&self, ms: u64) -> bool {
        self.wait_until(deadline_in(ms))
    }
}

/// Deadlines further away than this are cut to it, so that adding a configured
/// duration to the clock can never overflow (one day).
pub const DEADLINE_MAX_MS: u64 = 24 * 3600 * 1000;

/// The instant `ms` milliseconds from now (at most [`DEADLINE_MAX_MS`]).
pub fn deadline_in(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms.min(DEADLINE_MAX_MS))
}

/// How long the next blocking step may take: the time left until `deadline`,
/// at most [`SLICE_MS`]; `None` once the deadline has passed.
pub fn next_slice(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    Some(left.min(Duration::from_millis(SLICE_MS)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wait_returns_false_at_the_deadline() {
        let stop = Stop::new();
        let started = Instant::now();
        assert!(!stop.sleep_ms(30));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn stop_wakes_a_long_wait() {
        let stop = Arc::new(Stop::new());
        let waiter = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || stop.sleep_ms(60_000))
        };
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        stop.stop();
        assert!(waiter.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(stop.is_stopped());
        assert!(stop.sleep_ms(60_000), "a stopped flag never waits");
    }

    #[test]
    fn slices_are_short_and_end_at_the_deadline() {
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(next_slice(far), Some(Duration::from_millis(SLICE_MS)));
        assert_eq!(next_slice(Instant::now()), None);
    }
}
