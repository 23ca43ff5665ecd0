//! Time as the shell reads it: the [`Clock`] the agent loop takes (the
//! simulator has its own), and the system's, [`SystemClock`]. A leaf of the
//! crate, so that the control socket's client (`proto`) and the shell share
//! one clock without depending on each other.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::Millis;

/// Time: the monotonic clock for decisions, the wall clock for display.
pub trait Clock {
    /// The monotonic clock, counting time the host spent suspended
    /// (`CLOCK_BOOTTIME`): a host frozen past its lease must see it at once.
    fn now(&mut self) -> Millis;
    /// Unix seconds and the local offset from UTC.
    fn wall(&mut self) -> (i64, i32);
}

/// The monotonic clock, counting suspend (`CLOCK_BOOTTIME`): a host that was
/// suspended (or a guest host that was paused) past its lease sees at once that
/// it is overdue. Its origin is the host's boot, so published `host-ts` values
/// read like the reference's (seconds since boot) and keep growing across
/// agent restarts. The command line reads the same clock (request deadlines).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock
    }
}

/// `CLOCK_BOOTTIME` now.
fn boottime_now() -> Millis {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME) failed");
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Millis(secs.saturating_mul(1000).saturating_add(nanos / 1_000_000))
}

/// The local time zone's offset from UTC now, in seconds.
pub fn utc_offset_secs(unix: i64) -> i32 {
    let t: libc::time_t = unix;
    // SAFETY: localtime_r fills the tm we own from a time_t we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    } else {
        0
    }
}

impl Clock for SystemClock {
    fn now(&mut self) -> Millis {
        boottime_now()
    }

    fn wall(&mut self) -> (i64, i32) {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        (unix, utc_offset_secs(unix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_monotonic_and_far_from_zero() {
        let mut clock = SystemClock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        let (unix, offset) = clock.wall();
        assert!(unix > 1_600_000_000);
        assert!(offset.abs() <= 14 * 3600);
    }
}
