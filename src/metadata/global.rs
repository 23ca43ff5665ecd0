//! The cluster-wide block in slot 0 (`reference/ovirt-compat.md` section 1).
//!
//! `key=value` text, NUL-padded to the slot size. The only key the reference knows
//! is `maintenance`. Deliberate difference: we separate keys with newlines (the
//! reference concatenates them), and keep every key we do not know.

use super::record::EncodeError;
use super::{SLOT_SIZE, SlotError};

pub const GLOBAL_MAINTENANCE_KEY: &str = "maintenance";
const GLOBAL_LINES_MAX: usize = SLOT_SIZE / 2;

/// The decoded global block, keys in stored order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalBlock {
    entries: Vec<(String, String)>,
}

/// The reference's boolean reading: first letter `t`, `y`, `1` is true and
/// `f`, `n`, `0` is false, case-insensitively.
pub fn parse_reference_bool(text: &str) -> Option<bool> {
    match text.trim().bytes().next()?.to_ascii_lowercase() {
        b't' | b'y' | b'1' => Some(true),
        b'f' | b'n' | b'0' => Some(false),
        _ => None,
    }
}

impl GlobalBlock {
    pub fn new() -> Self {
        GlobalBlock::default()
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` in place, or appends it.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.entries.push((key.to_owned(), value.to_owned())),
        }
    }

    /// Whether the cluster is in global maintenance. A value that is neither true
    /// nor false reads as an error, so that no caller mistakes it for "off".
    pub fn maintenance(&self) -> Result<bool, SlotError> {
        match self.get(GLOBAL_MAINTENANCE_KEY) {
            None => Ok(false),
            Some(text) => parse_reference_bool(text).ok_or_else(|| SlotError::BadField {
                field: "maintenance",
                value: text.to_owned(),
            }),
        }
    }

    pub fn set_maintenance(&mut self, on: bool) {
        self.set(GLOBAL_MAINTENANCE_KEY, if on { "1" } else { "0" });
    }

    /// The slot bytes: newline-separated keys, NUL padding.
    pub fn encode(&self) -> Result<Box<[u8; SLOT_SIZE]>, EncodeError> {
        let mut text = String::new();
        for (key, value) in &self.entries {
            let key_ok =
                !key.is_empty() && key.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=');
            if !key_ok {
                return Err(EncodeError::BadGlobalKey(key.clone()));
            }
            if value.bytes().any(|b| b == b'\n' || b == b'\r' || b == 0) {
                return Err(EncodeError::BadGlobalValue { key: key.clone() });
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
            text.push('\n');
        }
        if text.len() > SLOT_SIZE {
            return Err(EncodeError::GlobalTooLong {
                len: text.len(),
                max: SLOT_SIZE,
            });
        }
        let mut slot = Box::new([0u8; SLOT_SIZE]);
        slot[..text.len()].copy_from_slice(text.as_bytes());
        Ok(slot)
    }

    /// Decodes slot 0. An empty slot is an empty block (no maintenance).
    pub fn decode(slot: &[u8]) -> Result<GlobalBlock, SlotError> {
        let text = super::slot_text(slot)?;
        let mut entries: Vec<(String, String)> = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if entries.len() >= GLOBAL_LINES_MAX {
                return Err(SlotError::BadExtra {
                    line: Some(index + 1),
                    reason: "too many lines".into(),
                });
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(SlotError::BadExtra {
                    line: Some(index + 1),
                    reason: "line without '='".into(),
                });
            };
            entries.push((key.to_owned(), value.to_owned()));
        }
        Ok(GlobalBlock { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_booleans() {
        for t in ["1", "True", "true", "yes", "Y", "t"] {
            assert_eq!(parse_reference_bool(t), Some(true), "{t}");
        }
        for f in ["0", "False", "no", "N", "f"] {
            assert_eq!(parse_reference_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_reference_bool(""), None);
        assert_eq!(parse_reference_bool("maybe"), None);
    }

    #[test]
    fn reference_written_block_reads() {
        let mut slot = [0u8; SLOT_SIZE];
        slot[..13].copy_from_slice(b"maintenance=1");
        let block = GlobalBlock::decode(&slot).unwrap();
        assert!(block.maintenance().unwrap());
    }

    #[test]
    fn set_keeps_unknown_keys_and_order() {
        let mut slot = [0u8; SLOT_SIZE];
        let text = b"future=x\nmaintenance=0\n";
        slot[..text.len()].copy_from_slice(text);
        let mut block = GlobalBlock::decode(&slot).unwrap();
        block.set_maintenance(true);
        let encoded = block.encode().unwrap();
        assert!(encoded.starts_with(b"future=x\nmaintenance=1\n\0"));
    }
}
