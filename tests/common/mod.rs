//! Helpers shared by the integration tests.
// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

pub mod bmc;
pub mod he;
pub mod lab;
pub mod libvirt;

/// The variable CI sets to turn every skip into a failure.
pub const REQUIRE_VAR: &str = "HE_REQUIRE_PRIVILEGED";

/// Whether a test may use something that is not on every machine (root, a
/// program, a filesystem). Returns `available`. When it is not available, the
/// test must not pass silently: with `HE_REQUIRE_PRIVILEGED=1` (set by CI) this
/// panics naming `what`; otherwise it prints `skipped: needs <what>` to stderr
/// and returns false, so that the caller skips that part visibly.
pub fn require(what: &str, available: bool) -> bool {
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    match decide(what, available, required) {
        Ok(run) => run,
        Err(message) => panic!("{message}"),
    }
}

/// [`require`]'s decision: `Ok(true)` run, `Ok(false)` skip (said on stderr),
/// `Err` the failure message.
pub fn decide(what: &str, available: bool, required: bool) -> Result<bool, String> {
    if available {
        return Ok(true);
    }
    if required {
        return Err(format!(
            "this test needs {what} ({REQUIRE_VAR}=1 turns the skip into a failure)"
        ));
    }
    eprintln!("skipped: needs {what}");
    Ok(false)
}

/// The per-file path variables (`config::PATH_ENV_VARS`), all but
/// `HE_CONFIG_ROOT`, which comes first there: tests that set a config root
/// remove these so the caller's shell cannot leak in.
pub const PATH_VARS: &[&str] = match hosted_engine::config::PATH_ENV_VARS.split_first() {
    Some((first, rest)) if matches!(first.as_bytes(), b"HE_CONFIG_ROOT") => rest,
    _ => panic!("PATH_ENV_VARS must start with HE_CONFIG_ROOT"),
};

/// Waits for `child` at most `limit`; after that kills (and reaps) it and
/// returns `None`, for the caller to fail with what it was waiting for.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `agent.conf` for real agents in tests: every timer short, every lease rule
/// kept (`Timings::violations` checks it).
pub const FAST_AGENT_CONF: &str = "[timing]
loop-secs = 1
host-alive-timeout-secs = 3
storage-timeout-secs = 1
lease-settle-secs = 2
lease-fail-secs = 3
poweroff-timeout-secs = 1
lease-margin-secs = 1
lease-dead-secs = 7
engine-starting-timeout-secs = 60
engine-maybe-away-timeout-secs = 4
engine-unexpectedly-down-secs = 10
engine-stop-timeout-secs = 10
bad-health-timeout-secs = 10
retry-window-secs = 60
vm-shutdown-grace-secs = 2
liveliness-timeout-secs = 1
";

/// `hosted-engine.conf` lines for a host without a watchdog, acknowledged
/// (the agent refuses to start without either).
pub const NO_WATCHDOG: &str = "watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n";

/// The longest watchdog timeout [`FAST_AGENT_CONF`]'s timings allow, in
/// seconds: lease-dead 7 + settle 2 - lease-fail 3 - storage-timeout 1 -
/// margin 1 (`Timings::watchdog_range_ms`, 3..4 s).
pub const FAST_WATCHDOG_SECS: u32 = 4;

/// `hosted-engine.conf` lines for a plain file at `path` standing in for
/// the watchdog device, with a timeout [`FAST_AGENT_CONF`] allows; creates
/// the file.
pub fn stand_in_watchdog(path: &std::path::Path) -> String {
    std::fs::write(path, b"").unwrap();
    format!(
        "watchdog_device={}\nwatchdog_timeout_secs={FAST_WATCHDOG_SECS}\n",
        path.display()
    )
}

/// [`FAST_AGENT_CONF`] with some keys given other values.
pub fn fast_agent_conf_with(changes: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for line in FAST_AGENT_CONF.lines() {
        let key = line.split(" = ").next().unwrap_or("");
        match changes.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => text.push_str(&format!("{k} = {v}\n")),
            None => text.push_str(&format!("{line}\n")),
        }
    }
    text
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The uid tests run unprivileged clients as (`nobody`).
pub const NOBODY: u32 = 65534;

/// A command that runs the ignored test `test` of the running test binary as
/// uid [`NOBODY`], keeping gid 0 (so that it may use a socket of mode 0660,
/// as an operator in the socket's group), stdout and stderr piped. The binary
/// is linked (or copied) into `dir` first, since the build directory may be
/// out of that user's reach (a clone under /root); `dir` and the directories
/// above it must let the group through.
pub fn as_nobody(dir: &std::path::Path, test: &str) -> std::process::Command {
    let exe = dir.join(format!("{test}-as-nobody"));
    let own = std::env::current_exe().unwrap();
    if !exe.exists() {
        std::fs::hard_link(&own, &exe)
            .or_else(|_| std::fs::copy(&own, &exe).map(drop))
            .unwrap();
    }
    let mut command = std::process::Command::new(&exe);
    command
        .args(["--exact", test, "--ignored", "--nocapture"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setuid is async-signal-safe; nothing else runs in the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// A small deterministic generator for the fuzzing tests (xorshift64).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
