//! The cluster-wide block in slot 0 (`docs/compat.md` section 1).
//!
//! `key=value` text, NUL-padded to the slot size. The only key the reference knows
//! is `maintenance`. Deliberate difference: we separate keys with newlines (the
//! reference concatenates them), and keep every key we do not know.
//!
//! Whatever another writer left in the block is written back as it was: lines we
//! do not understand (no `=`, or a key we would not write) are kept verbatim, and
//! decoded entries are not re-validated. Only what a caller gives to
//! [`GlobalBlock::set`] is checked, so that setting global maintenance on a block
//! with foreign lines never fails. A block must also always have room for that
//! change (see [`GlobalBlock::encode`]).

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::record::EncodeError;
use super::{SLOT_SIZE, SlotError};

pub const GLOBAL_MAINTENANCE_KEY: &str = "maintenance";
const GLOBAL_LINES_MAX: usize = SLOT_SIZE / 2;

/// One stored line, in order: an entry (by index) or a line kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Entry(usize),
    Raw(String),
}

/// The decoded global block, keys in stored order.
#[derive(Clone, Debug, Default)]
pub struct GlobalBlock {
    /// The `key=value` lines whose key we could have written ourselves.
    entries: Vec<(String, String)>,
    /// Per entry: given through `set`, so checked before it is written.
    checked: Vec<bool>,
    /// Every line in stored order.
    lines: Vec<Line>,
}

/// Equal when they hold the same lines; how an entry got there does not matter.
impl PartialEq for GlobalBlock {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries && self.lines == other.lines
    }
}

impl Eq for GlobalBlock {}

/// The reference's boolean reading: first letter `t`, `y`, `1` is true and
/// `f`, `n`, `0` is false, case-insensitively.
pub fn parse_reference_bool(text: &str) -> Option<bool> {
    match text.trim().bytes().next()?.to_ascii_lowercase() {
        b't' | b'y' | b'1' => Some(true),
        b'f' | b'n' | b'0' => Some(false),
        _ => None,
    }
}

/// A key we would write: non-empty printable ASCII without `=`.
fn is_global_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=')
}

impl GlobalBlock {
    pub fn new() -> Self {
        GlobalBlock::default()
    }

    /// The `key=value` lines, in stored order. Lines kept verbatim because they are
    /// not such pairs are in [`GlobalBlock::raw_lines`].
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// The lines kept verbatim (no `=`, or a key we would not write), in order.
    pub fn raw_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| match line {
            Line::Raw(text) => Some(text.as_str()),
            Line::Entry(_) => None,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` in place, or appends it. The key and value are checked when the
    /// block is encoded.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter().position(|(k, _)| k == key) {
            Some(index) => {
                self.entries[index].1 = value.to_owned();
                self.checked[index] = true;
            }
            None => {
                self.lines.push(Line::Entry(self.entries.len()));
                self.entries.push((key.to_owned(), value.to_owned()));
                self.checked.push(true);
            }
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

    /// The most bytes this block may encode to and still take any
    /// `set_maintenance`: that adds a `maintenance=N` line, or sets the existing
    /// value to one byte.
    fn len_max(&self) -> usize {
        match self.get(GLOBAL_MAINTENANCE_KEY) {
            Some(value) => (SLOT_SIZE + value.len()).saturating_sub(1).min(SLOT_SIZE),
            None => SLOT_SIZE - (GLOBAL_MAINTENANCE_KEY.len() + "=0\n".len()),
        }
    }

    /// The text as written: one line each, `\n`-terminated.
    fn text(&self) -> Result<String, EncodeError> {
        let mut text = String::new();
        for line in &self.lines {
            match line {
                Line::Raw(raw) => text.push_str(raw),
                Line::Entry(index) => {
                    let (key, value) = &self.entries[*index];
                    if self.checked[*index] {
                        if !is_global_key(key) {
                            return Err(EncodeError::BadGlobalKey(key.clone()));
                        }
                        if value.bytes().any(|b| b == b'\n' || b == b'\r' || b == 0) {
                            return Err(EncodeError::BadGlobalValue { key: key.clone() });
                        }
                    }
                    text.push_str(key);
                    text.push('=');
                    text.push_str(value);
                }
            }
            text.push('\n');
        }
        Ok(text)
    }

    /// The slot bytes: newline-separated lines, NUL padding. Refuses a key or value
    /// given through `set` that would not read back, and a block too long to leave
    /// room for a later `set_maintenance` (so that global maintenance can always
    /// be set on a block this writes).
    pub fn encode(&self) -> Result<Box<[u8; SLOT_SIZE]>, EncodeError> {
        let text = self.text()?;
        let max = self.len_max();
        if text.len() > max {
            return Err(EncodeError::GlobalTooLong {
                len: text.len(),
                max,
            });
        }
        let mut slot = Box::new([0u8; SLOT_SIZE]);
        slot[..text.len()].copy_from_slice(text.as_bytes());
        Ok(slot)
    }

    /// Decodes slot 0. An empty slot is an empty block (no maintenance). Blank
    /// lines are dropped; every other line is kept. Refuses a block that would
    /// have no room for `set_maintenance`, as [`GlobalBlock::encode`] does.
    pub fn decode(slot: &[u8]) -> Result<GlobalBlock, SlotError> {
        let text = super::slot_text(slot)?;
        let mut block = GlobalBlock::default();
        let mut encoded_len = 0;
        for (index, line) in text.split('\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if block.lines.len() >= GLOBAL_LINES_MAX {
                return Err(SlotError::BadGlobal {
                    line: Some(index + 1),
                    reason: "too many lines".into(),
                });
            }
            encoded_len += line.len() + 1;
            match line.split_once('=') {
                Some((key, value)) if is_global_key(key) => {
                    block.lines.push(Line::Entry(block.entries.len()));
                    block.entries.push((key.to_owned(), value.to_owned()));
                    block.checked.push(false);
                }
                _ => block.lines.push(Line::Raw(line.to_owned())),
            }
        }
        let max = block.len_max();
        if encoded_len > max {
            return Err(SlotError::BadGlobal {
                line: None,
                reason: format!(
                    "{encoded_len} bytes as written back, more than the {max} that leave room for the {GLOBAL_MAINTENANCE_KEY} key"
                ),
            });
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

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

    fn slot_of(text: &[u8]) -> [u8; SLOT_SIZE] {
        let mut slot = [0u8; SLOT_SIZE];
        slot[..text.len()].copy_from_slice(text);
        slot
    }

    #[test]
    fn foreign_lines_are_written_back_verbatim() {
        let text = "=junk\nkéy=1\nno equals sign\nfuture=x\r\nmaintenance=0\n";
        let mut block = GlobalBlock::decode(&slot_of(text.as_bytes())).unwrap();
        assert_eq!(
            block.raw_lines().collect::<Vec<_>>(),
            ["=junk", "kéy=1", "no equals sign"]
        );
        assert_eq!(block.get("future"), Some("x\r"));
        block.set_maintenance(true);
        let encoded = block.encode().unwrap();
        let expected = "=junk\nkéy=1\nno equals sign\nfuture=x\r\nmaintenance=1\n";
        assert_eq!(&encoded[..expected.len()], expected.as_bytes());
        assert!(encoded[expected.len()..].iter().all(|&b| b == 0));
        assert!(
            GlobalBlock::decode(&encoded[..])
                .unwrap()
                .maintenance()
                .unwrap()
        );
    }

    #[test]
    fn set_is_checked_at_encode() {
        for (key, value) in [("", "x"), ("kéy", "1"), ("a=b", "1"), ("k", "a\rb")] {
            let mut block = GlobalBlock::new();
            block.set(key, value);
            assert!(block.encode().is_err(), "{key:?}={value:?} accepted");
        }
        // A decoded value that `set` would refuse is fine until a caller sets it.
        let mut block = GlobalBlock::decode(&slot_of(b"k=a\rb\n")).unwrap();
        block.encode().unwrap();
        block.set("k", "a\rb");
        assert!(matches!(
            block.encode(),
            Err(EncodeError::BadGlobalValue { .. })
        ));
    }

    #[test]
    fn a_block_always_has_room_for_maintenance() {
        // Without a maintenance key, 14 bytes stay free for `maintenance=N\n`.
        let filler = |len: usize| format!("f={}\n", "x".repeat(len - 3));
        let room = SLOT_SIZE - "maintenance=0\n".len();
        let fits = filler(room);
        let mut block = GlobalBlock::decode(&slot_of(fits.as_bytes())).unwrap();
        block.set_maintenance(true);
        let encoded = block.encode().unwrap();
        assert_eq!(encoded[SLOT_SIZE - 1], b'\n');
        assert!(
            GlobalBlock::decode(&encoded[..])
                .unwrap()
                .maintenance()
                .unwrap()
        );

        let too_long = filler(room + 1);
        assert!(matches!(
            GlobalBlock::decode(&slot_of(too_long.as_bytes())),
            Err(SlotError::BadGlobal { line: None, .. })
        ));
        let mut block = GlobalBlock::new();
        block.set("f", &too_long[2..too_long.len() - 1]);
        assert!(matches!(
            block.encode(),
            Err(EncodeError::GlobalTooLong { len, max }) if len == room + 1 && max == room
        ));
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
