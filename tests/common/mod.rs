//! Helpers shared by the integration tests.
// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

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

/// The per-file path variables (`ConfigPathArgs`), all but `HE_CONFIG_ROOT`:
/// tests that set a config root remove these so the caller's shell cannot leak in.
pub const PATH_VARS: [&str; 6] = [
    "HE_CONF",
    "HE_AGENT_CONF",
    "HE_HA_CONF",
    "HE_BROKER_CONF",
    "HE_RUNTIME_DIR",
    "HE_STATE_DIR",
];
