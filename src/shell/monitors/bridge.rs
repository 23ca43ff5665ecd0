//! The management bridge's state (`docs/compat.md` section 4): up
//! when `/sys/class/net/<bridge>/operstate` says `up`.
//!
//! The reference asks vdsm, whose bridge state is the kernel's operstate, and
//! accepts `up` only; so do we. A device without carrier reporting (a dummy
//! device, some virtual bridges) reads `unknown` and therefore counts as down:
//! give the lab a bridge with a port that has carrier (e.g. a veth pair).
//! A missing device is down, as in the reference ("Bridge not found").

use std::io;
use std::path::Path;

use super::net::io_text;
use super::read_prefix;

/// The kernel's interface name limit (`IFNAMSIZ` - 1).
pub const BRIDGE_NAME_MAX: usize = 15;
/// Bytes of `operstate` read at most.
const OPERSTATE_MAX_BYTES: usize = 64;
/// The states the kernel reports (`Documentation/ABI/testing/sysfs-class-net`).
const KNOWN_STATES: &[&str] = &[
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

/// Whether `bridge` is up, from `<sys_root>/class/net/<bridge>/operstate`.
/// `Err` for a name that is not an interface name, an unreadable file or a
/// state the kernel does not report.
pub fn bridge_up(sys_root: &Path, bridge: &str) -> Result<bool, String> {
    let valid = !bridge.is_empty()
        && bridge.len() <= BRIDGE_NAME_MAX
        && !matches!(bridge, "." | "..")
        && !bridge.contains(['/', '\0'])
        && !bridge.chars().any(char::is_whitespace);
    if !valid {
        return Err(format!("{bridge:?} is not an interface name"));
    }
    let path = sys_root.join("class/net").join(bridge).join("operstate");
    let text = match read_prefix(&path, OPERSTATE_MAX_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{}: {}", path.display(), io_text(&e))),
    };
    parse_operstate(&text).map_err(|why| format!("{}: {why}", path.display()))
}

/// `up` is up; every other state the kernel reports is not.
pub fn parse_operstate(text: &str) -> Result<bool, String> {
    let state = text.trim();
    if KNOWN_STATES.contains(&state) {
        Ok(state == "up")
    } else {
        let shown: String = state.chars().take(20).collect();
        Err(format!("unexpected state {shown:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(parse_operstate("up\n"), Ok(true));
        for state in ["down\n", "unknown\n", "lowerlayerdown", "dormant"] {
            assert_eq!(parse_operstate(state), Ok(false), "{state}");
        }
        for junk in ["", "UP", "up and running", "\u{fffd}"] {
            assert!(parse_operstate(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn names_that_would_leave_the_directory_are_refused() {
        let root = Path::new("/nonexistent");
        for name in ["", ".", "..", "a/b", "../../etc", "sixteen-chars-xx", "a b"] {
            assert!(bridge_up(root, name).is_err(), "{name:?}");
        }
        assert_eq!(bridge_up(root, "ovirtmgmt"), Ok(false));
    }
}
