//! The engine status carried in field 5 of a host record
//! (`docs/compat.md` section 3).
//!
//! The reference writes it with Python's `json.dumps` (`", "` and `": "` separators,
//! ASCII only), key order `vm`, `health`, `detail`, then the optional `reason`.
//! [`EngineStatus::to_json`] reproduces those bytes exactly; [`EngineStatus::parse`]
//! accepts any key order, because older Python writers emitted dict order.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::string::ToString;

use core::fmt;

use alloc::borrow::Cow;

/// The `vm` key: where the engine VM is from this host's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VmStatus {
    Up,
    Down,
    DownUnexpected,
    DownMissing,
    Unknown,
}

impl VmStatus {
    pub const ALL: [VmStatus; 5] = [
        VmStatus::Up,
        VmStatus::Down,
        VmStatus::DownUnexpected,
        VmStatus::DownMissing,
        VmStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VmStatus::Up => "up",
            VmStatus::Down => "down",
            VmStatus::DownUnexpected => "down_unexpected",
            VmStatus::DownMissing => "down_missing",
            VmStatus::Unknown => "unknown",
        }
    }

    pub fn from_str_exact(s: &str) -> Option<VmStatus> {
        VmStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The `health` key: whether the engine answers its liveliness check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Good,
    Bad,
    Unknown,
}

impl Health {
    pub const ALL: [Health; 3] = [Health::Good, Health::Bad, Health::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Good => "good",
            Health::Bad => "bad",
            Health::Unknown => "unknown",
        }
    }

    pub fn from_str_exact(s: &str) -> Option<Health> {
        Health::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One host's view of the engine VM.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EngineStatus {
    pub vm: VmStatus,
    pub health: Health,
    /// The VM manager's status string (`Up`, `Paused`, ...) or `unknown`.
    pub detail: String,
    pub reason: Option<String>,
}

/// Why a stored engine-status string could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineStatusError {
    #[error("engine status is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("engine status key {key:?} is missing or not a string")]
    MissingKey { key: &'static str },
    #[error("engine status key {key:?} has unknown value {value:?}")]
    UnknownValue { key: &'static str, value: String },
}

impl EngineStatus {
    pub fn new(vm: VmStatus, health: Health, detail: &str, reason: Option<&str>) -> Self {
        EngineStatus {
            vm,
            health,
            detail: detail.to_owned(),
            reason: reason.map(str::to_owned),
        }
    }

    /// The reference's compact JSON, byte for byte (`json.dumps` default spacing,
    /// `ensure_ascii`).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        out.push_str("{\"vm\": ");
        push_py_json_string(&mut out, self.vm.as_str());
        out.push_str(", \"health\": ");
        push_py_json_string(&mut out, self.health.as_str());
        out.push_str(", \"detail\": ");
        push_py_json_string(&mut out, &self.detail);
        if let Some(reason) = &self.reason {
            out.push_str(", \"reason\": ");
            push_py_json_string(&mut out, reason);
        }
        out.push('}');
        out
    }

    /// Parses a stored engine status in any key order; unknown extra keys are ignored.
    pub fn parse(text: &str) -> Result<EngineStatus, EngineStatusError> {
        /// The wire form; unknown keys are ignored. Borrowed where the JSON
        /// string has no escapes (the common case), so parsing allocates little.
        #[derive(serde::Deserialize)]
        struct Wire<'a> {
            #[serde(borrow)]
            vm: Option<Cow<'a, str>>,
            #[serde(borrow)]
            health: Option<Cow<'a, str>>,
            #[serde(borrow)]
            detail: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            reason: Option<Cow<'a, str>>,
        }
        let wire: Wire<'_> = serde_json::from_str(text)
            .map_err(|e| EngineStatusError::NotAnObject(e.to_string()))?;
        let vm_text = wire.vm.ok_or(EngineStatusError::MissingKey { key: "vm" })?;
        let vm =
            VmStatus::from_str_exact(&vm_text).ok_or_else(|| EngineStatusError::UnknownValue {
                key: "vm",
                value: vm_text.to_string(),
            })?;
        let health_text = wire
            .health
            .ok_or(EngineStatusError::MissingKey { key: "health" })?;
        let health = Health::from_str_exact(&health_text).ok_or_else(|| {
            EngineStatusError::UnknownValue {
                key: "health",
                value: health_text.to_string(),
            }
        })?;
        let detail = wire
            .detail
            .ok_or(EngineStatusError::MissingKey { key: "detail" })?
            .into_owned();
        Ok(EngineStatus {
            vm,
            health,
            detail,
            reason: wire.reason.map(Cow::into_owned),
        })
    }

    /// Rank used to pick the best engine (section 3): higher is better.
    /// unknown 0; any down 1; up but Paused 2; up with bad health 3; up and good 4.
    pub fn rank(&self) -> u8 {
        match (self.vm, self.health) {
            (VmStatus::Unknown, _) => 0,
            (VmStatus::Down | VmStatus::DownUnexpected | VmStatus::DownMissing, _) => 1,
            (VmStatus::Up, _) if self.detail == "Paused" => 2,
            (VmStatus::Up, Health::Good) => 4,
            (VmStatus::Up, _) => 3,
        }
    }
}

impl fmt::Display for EngineStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Appends `s` as a JSON string the way Python's `json.dumps` does with its defaults:
/// short escapes for `"` `\` and the common control characters, `\u00XX` for the
/// other control characters, and `\uXXXX` (surrogate pairs above the BMP) for every
/// non-ASCII character.
///
/// Deliberate difference: `|` and DEL are escaped too (`\u007c`, `\u007f`). Python
/// writes them raw, and a raw `|` splits the record's fields, corrupting the slot;
/// escaped, the JSON still decodes to the same text.
pub fn push_py_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f || c == '|' => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn reference_spacing_and_key_order() {
        let up = EngineStatus::new(VmStatus::Up, Health::Good, "Up", None);
        assert_eq!(
            up.to_json(),
            r#"{"vm": "up", "health": "good", "detail": "Up"}"#
        );
        let down = EngineStatus::new(
            VmStatus::Down,
            Health::Bad,
            "unknown",
            Some("vm not running on this host"),
        );
        assert_eq!(
            down.to_json(),
            r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#
        );
    }

    #[test]
    fn parse_accepts_python2_dict_order() {
        let text = r#"{"reason": "failed liveliness check", "health": "bad", "vm": "up", "detail": "powering down"}"#;
        let status = EngineStatus::parse(text).unwrap();
        assert_eq!(status.vm, VmStatus::Up);
        assert_eq!(status.health, Health::Bad);
        assert_eq!(status.detail, "powering down");
        assert_eq!(status.reason.as_deref(), Some("failed liveliness check"));
    }

    #[test]
    fn parse_rejects_unknown_values_and_shapes() {
        assert!(matches!(
            EngineStatus::parse(r#"{"vm": "sideways", "health": "good", "detail": "Up"}"#),
            Err(EngineStatusError::UnknownValue { key: "vm", .. })
        ));
        assert!(matches!(
            EngineStatus::parse(r#"{"vm": "up", "detail": "Up"}"#),
            Err(EngineStatusError::MissingKey { key: "health" })
        ));
        assert!(EngineStatus::parse("[1]").is_err());
        assert!(EngineStatus::parse("not json").is_err());
    }

    #[test]
    fn python_escapes() {
        let mut out = String::new();
        push_py_json_string(&mut out, "a\"b\\c\n\u{1}é😀\u{7f}|");
        let expected = r#""a\"b\\c\n\u0001\u00e9\ud83d\ude00\u007f\u007c""#;
        assert_eq!(out, expected);
    }

    #[test]
    fn rank_table() {
        let cases = [
            (VmStatus::Unknown, Health::Unknown, "unknown", 0),
            (VmStatus::Down, Health::Bad, "unknown", 1),
            (VmStatus::DownUnexpected, Health::Bad, "Down", 1),
            (VmStatus::DownMissing, Health::Bad, "unknown", 1),
            (VmStatus::Up, Health::Bad, "Paused", 2),
            (VmStatus::Up, Health::Bad, "Up", 3),
            (VmStatus::Up, Health::Good, "Up", 4),
        ];
        for (vm, health, detail, rank) in cases {
            let status = EngineStatus::new(vm, health, detail, None);
            assert_eq!(status.rank(), rank, "{status}");
        }
    }
}
