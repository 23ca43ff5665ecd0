//! A broken configuration rule as the core states it, before the configuration
//! module ties it to a file's line, and the seconds it is worded in.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Longest duration any timer accepts: one day. Bounds arithmetic on timers and
/// catches values written in the wrong unit (milliseconds where seconds are meant).
pub const DURATION_MAX_MS: u64 = 86_400_000;

/// A problem found by a `violations()` check, before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Every key involved, the one to blame first.
    pub keys: Vec<&'static str>,
    /// Lowercase message naming every key in `keys`.
    pub message: String,
}

impl Violation {
    /// A violation of the rule on `keys` (at least one), the one to blame first.
    pub fn new(keys: &[&'static str], message: String) -> Self {
        assert!(!keys.is_empty(), "a violation names at least one key");
        Violation {
            keys: keys.to_vec(),
            message,
        }
    }
}

/// Milliseconds as the seconds a file would hold: `10`, `0.5`, `0.125`.
pub fn format_secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        return (ms / 1000).to_string();
    }
    let text = format!("{}.{:03}", ms / 1000, ms % 1000);
    text.trim_end_matches('0').to_string()
}
