//! The daemon's clock and its log: the real monotonic clock for decisions, the
//! wall clock for display, and one log line per event on stderr, with syslog
//! priority prefixes that journald understands when it is the reader.

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::agent_loop::{Clock, Events};
use crate::core::{Millis, Request, State};

/// The monotonic clock since the agent started, plus an origin that keeps
/// published `host-ts` values well above 0.
pub struct SystemClock {
    origin: Instant,
    /// Seconds since boot at `origin` (CLOCK_MONOTONIC), so `host-ts` reads like
    /// the reference's (monotonic seconds) and keeps growing across restarts.
    base: Millis,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
            base: monotonic_now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

fn monotonic_now() -> Millis {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Millis::ZERO;
    }
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
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base + elapsed
    }

    fn wall(&mut self) -> (i64, i32) {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        (unix, utc_offset_secs(unix))
    }
}

/// Syslog priorities used in the log's prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// One line per event on stderr: `<6>message` under journald (it reads the
/// priority from the prefix), `message` with a UTC time stamp otherwise.
pub struct LogEvents {
    journald: bool,
    requests: Vec<Request>,
    /// Called when the loop is healthy enough to pet the watchdog.
    pub on_pet: Option<Box<dyn FnMut()>>,
    /// Called on every state transition (notifications).
    pub on_transition: Option<Box<dyn FnMut(State, State)>>,
    /// Where the highest lease epoch is persisted (atomically).
    pub epoch_file: Option<std::path::PathBuf>,
}

impl LogEvents {
    pub fn new() -> LogEvents {
        LogEvents {
            journald: std::env::var_os("JOURNAL_STREAM").is_some(),
            requests: Vec::new(),
            on_pet: None,
            on_transition: None,
            epoch_file: None,
        }
    }

    /// Queues an operator request for the next tick.
    pub fn push_request(&mut self, request: Request) {
        self.requests.push(request);
    }

    pub fn line(&self, priority: Priority, message: &str) {
        let mut err = std::io::stderr().lock();
        // A log line that cannot be written is lost; the agent goes on.
        let _ = if self.journald {
            writeln!(err, "<{}>{message}", priority as u8)
        } else {
            let (unix, _) = SystemClock::new().wall();
            writeln!(err, "{} {message}", crate::metadata::ctime(unix, 0))
        };
    }
}

impl Default for LogEvents {
    fn default() -> Self {
        LogEvents::new()
    }
}

/// The priority a loop log line deserves.
fn priority_of(line: &str) -> Priority {
    if line.contains("self-fence") || line.contains("failed") || line.contains("refused") {
        Priority::Warning
    } else if line.contains(" -> ") {
        Priority::Notice
    } else {
        Priority::Info
    }
}

impl Events for LogEvents {
    fn log(&mut self, _now: Millis, line: &str) {
        self.line(priority_of(line), line);
    }

    fn transition(&mut self, _now: Millis, from: State, to: State) {
        if let Some(notify) = &mut self.on_transition {
            notify(from, to);
        }
    }

    fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    fn pet_watchdog(&mut self, _now: Millis) {
        if let Some(pet) = &mut self.on_pet {
            pet();
        }
    }

    fn persist_epoch(&mut self, epoch: u64) {
        let Some(path) = &self.epoch_file else { return };
        if let Err(e) = crate::config::write_atomic(path, format!("{epoch}\n").as_bytes(), 0o644) {
            self.line(
                Priority::Warning,
                &format!("persisting the lease epoch: {e}"),
            );
        }
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

    #[test]
    fn priorities() {
        assert_eq!(priority_of("EngineUp -> EngineStop: x"), Priority::Notice);
        assert_eq!(priority_of("self-fence: lease"), Priority::Warning);
        assert_eq!(priority_of("claiming the engine VM lease"), Priority::Info);
    }
}

/// Tells systemd (`Type=notify`) something, e.g. `READY=1`, through the socket
/// named by `NOTIFY_SOCKET`. `Ok(false)` when not run by systemd.
pub fn sd_notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => sd_notify_to(&path, state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends `state` to the notification socket `path` (`@name`: abstract).
pub fn sd_notify_to(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(path))?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod notify_tests {
    use super::*;

    #[test]
    fn readiness_reaches_the_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sd_notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
