//! The daemon's log (its clock is `crate::clock`): the loop's reports as
//! `tracing` events, written one line per event on stderr by the subscriber in
//! [`log`] (with syslog priority prefixes that journald understands when it is
//! the reader).

pub mod log;

pub use log::{LOG_LEVEL_VAR, TRANSITION_TARGET, init_logging};

/// How a line of the core's log is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    /// `From -> To: reason`.
    Transition,
    /// Something went wrong (a failure, a refusal, a self-fence).
    Trouble,
    /// A decision and its reason (`claiming the engine VM lease (epoch 2)`).
    Decision,
}

/// The kind of a core log line. The core hands out text: a transition has the
/// form `From -> To: reason`, and trouble says so in words.
fn kind_of(line: &str) -> LineKind {
    let lower = line.to_ascii_lowercase();
    let trouble = ["self-fence", "fail", "refused", "lost", "cannot"]
        .iter()
        .any(|word| lower.contains(word));
    if line.contains(" -> ") {
        LineKind::Transition
    } else if trouble {
        LineKind::Trouble
    } else {
        LineKind::Decision
    }
}

/// Logs one line of the core's log at the level its kind deserves. A
/// transition always goes to [`log::TRANSITION_TARGET`] (a warning when its
/// reason is trouble, notice otherwise).
pub fn log_core_line(line: &str) {
    match kind_of(line) {
        LineKind::Transition
            if kind_of(line.split_once(": ").map_or("", |p| p.1)) == LineKind::Trouble =>
        {
            tracing::warn!(target: log::TRANSITION_TARGET, "{line}");
        }
        LineKind::Transition => tracing::info!(target: log::TRANSITION_TARGET, "{line}"),
        LineKind::Trouble => tracing::warn!("{line}"),
        LineKind::Decision => tracing::info!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lines_are_sorted_by_kind() {
        assert_eq!(kind_of("EngineUp -> EngineStop: x"), LineKind::Transition);
        assert_eq!(
            kind_of("EngineUp -> EngineStart: engine VM start failed"),
            LineKind::Transition
        );
        assert_eq!(kind_of("self-fence: lease"), LineKind::Trouble);
        assert_eq!(kind_of("storage failure: EIO"), LineKind::Trouble);
        assert_eq!(kind_of("engine VM power-off FAILED"), LineKind::Trouble);
        assert_eq!(kind_of("claiming the engine VM lease"), LineKind::Decision);
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

/// The system's host name (`gethostname(2)`).
pub fn hostname() -> std::io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}
