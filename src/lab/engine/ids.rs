//! The payload's random ids, in a module of their own: the payload and its
//! network (`vmnet.rs`, for its MAC address) both draw them, and the lab
//! names itself with one (`crate::lab::cluster`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A random id for this boot (the kernel's random UUID, without dashes).
pub fn boot_id() -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let id: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
    if id.len() >= 16 {
        return id;
    }
    // No /proc: time and pid are unique enough for one machine.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_differ() {
        assert_ne!(boot_id(), boot_id());
    }
}
