//! The shared metadata volume ("whiteboard"), byte-exact with the reference
//! (`docs/compat.md` section 1).
//!
//! Geometry: 4096-byte slots; slot `N` at byte `N * 4096`; slot 0 is the global
//! block, slots 1..=2000 belong to the host with that id. A slot whose first byte is
//! NUL is empty. Every host writes only its own slot, always whole.
//!
//! Decoding is per slot and total: any input bytes give, for every non-empty slot,
//! either its contents or that slot's own error. One bad slot never hides another
//! (the reference decodes the whole area as one string and fails as a whole).

#![no_std]

extern crate alloc;
// Tests may use std (its prelude and macros); the code may not.
#[cfg(test)]
#[macro_use]
extern crate std;

mod engine_status;
mod extra;
mod global;
pub mod history;
mod record;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

pub use engine_status::{EngineStatus, EngineStatusError, Health, VmStatus, push_py_json_string};
pub use extra::{
    EPOCH_PLAUSIBLE_MAX, EXTRA_CRC_KEY, Extra, ExtraContext, LEASE_EPOCH_KEY, LEASE_KEY, LeaseKind,
    LeaseState, SEQ_KEY, SEQ_PLAUSIBLE_MAX, StateMetadata, WALL_CLOCK_KEY, build_extra,
    civil_from_days, civil_time, ctime, lease_from,
};
pub use global::{GLOBAL_MAINTENANCE_KEY, GlobalBlock, parse_reference_bool};
pub use record::{
    DecodedRecord, EncodeError, HostRecord, METADATA_FEATURE_VERSION, METADATA_PARSE_VERSION,
    RECORD_FIELDS, RECORD_FIELDS_MIN, decode_record,
};

/// Bytes in one slot.
pub const SLOT_SIZE: usize = 4096;
/// Bytes of a host slot that hold the record; the rest is extra text.
pub const RECORD_SIZE: usize = 512;
/// Bytes of a host slot that hold the extra text.
pub const EXTRA_SIZE: usize = SLOT_SIZE - RECORD_SIZE;
/// Highest host id, and so the number of host slots.
pub const HOST_ID_MAX: HostId = 2000;
/// Slots in the area: the global slot and one per host id.
pub const SLOT_COUNT: usize = HOST_ID_MAX as usize + 1;
/// Bytes a reader reads from offset 0.
pub const AREA_SIZE: usize = SLOT_SIZE * SLOT_COUNT;
/// The best score a host can publish.
pub const SCORE_MAX: u32 = 3400;

/// A host id, 1..=[`HOST_ID_MAX`]; also the index of the host's slot.
pub type HostId = u16;

/// Byte offset of slot `slot` in the volume.
pub fn slot_offset(slot: HostId) -> u64 {
    u64::from(slot) * SLOT_SIZE as u64
}

/// Why one slot could not be read. Always about that slot alone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("slot is cut short at {len} bytes")]
    Truncated { len: usize },
    #[error("slot text is not UTF-8 at byte {offset}")]
    NotUtf8 { offset: usize },
    #[error("slot text has a NUL byte at {offset} before its end (torn write?)")]
    InteriorNul { offset: usize },
    #[error("record has {found} fields, fewer than {RECORD_FIELDS_MIN}")]
    TooFewFields { found: usize },
    #[error("record has too many fields")]
    TooManyFields,
    #[error("metadata version {version} is too new for this reader ({METADATA_FEATURE_VERSION})")]
    TooNew { version: u32 },
    #[error("metadata version {version} is too old for this reader ({METADATA_PARSE_VERSION})")]
    TooOld { version: u32 },
    #[error("bad {field} {value:?}")]
    BadField { field: &'static str, value: String },
    #[error("crc32 mismatch: stored {stored:08x}, computed {computed:08x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record names host {record}, not the host of this slot")]
    HostIdMismatch { record: u32 },
    #[error("extra text{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    BadExtra { line: Option<usize>, reason: String },
    #[error("global block{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    BadGlobal { line: Option<usize>, reason: String },
    #[error(
        "extra text does not belong to the record (torn write): stored {stored:08x}, computed {computed:08x}"
    )]
    Torn { stored: u32, computed: u32 },
}

/// A decoded host slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSlot {
    pub record: HostRecord,
    /// The CRC stored in the record (absent in records of the oldest writers).
    pub crc32: Option<u32>,
    /// Fields in the stored record (7..=12 and more for future writers).
    pub field_count: usize,
    /// The extra text without our checksum line.
    pub extra: Extra,
    /// Whether the extra text carried our checksum and it matched, binding it to
    /// the record. Slots written by the reference are valid but not sealed.
    pub sealed: bool,
}

impl HostSlot {
    pub fn engine_status(&self) -> Result<EngineStatus, EngineStatusError> {
        EngineStatus::parse(&self.record.engine_status)
    }
}

/// Everything read from one area: the global block and each non-empty host slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub global: Result<GlobalBlock, SlotError>,
    pub hosts: BTreeMap<HostId, Result<HostSlot, SlotError>>,
}

impl Area {
    /// The global maintenance flag slot 0 holds, or why it cannot be told
    /// (the slot or its flag does not read).
    pub fn global_maintenance(&self) -> Result<bool, SlotError> {
        self.global
            .as_ref()
            .map_err(Clone::clone)
            .and_then(GlobalBlock::maintenance)
    }
}

/// Text of a slot part: trailing NUL padding removed; a NUL before the end or a
/// byte sequence that is not UTF-8 is an error (the part was torn or corrupted).
fn slot_text(part: &[u8]) -> Result<&str, SlotError> {
    let end = text_end(part);
    let body = &part[..end];
    // `contains` finds a byte with memchr; the position only for the error.
    if body.contains(&0) {
        let offset = body.iter().position(|&b| b == 0).unwrap_or_default();
        return Err(SlotError::InteriorNul { offset });
    }
    core::str::from_utf8(body).map_err(|e| SlotError::NotUtf8 {
        offset: e.valid_up_to(),
    })
}

/// One past the last non-NUL byte. Slots are mostly padding, so the padding is
/// skipped eight bytes at a time.
fn text_end(part: &[u8]) -> usize {
    let mut end = part.len();
    while end >= 8 {
        let word: [u8; 8] = part[end - 8..end].try_into().expect("eight bytes");
        if u64::from_ne_bytes(word) != 0 {
            break;
        }
        end -= 8;
    }
    part[..end]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1)
}

/// Encodes host `slot`'s record and extra text into the whole 4096 bytes.
pub fn encode_host_slot(
    slot: HostId,
    record: &HostRecord,
    extra: &Extra,
) -> Result<Box<[u8; SLOT_SIZE]>, EncodeError> {
    if slot == 0 || slot > HOST_ID_MAX {
        return Err(EncodeError::HostIdOutOfRange(u32::from(slot)));
    }
    if record.host_id != slot {
        return Err(EncodeError::HostIdNotSlot {
            record: record.host_id,
            slot: u32::from(slot),
        });
    }
    let record_text = record.encode()?;
    let extra_text = extra.encode(&record_text)?;
    let mut bytes = Box::new([0u8; SLOT_SIZE]);
    bytes[..record_text.len()].copy_from_slice(record_text.as_bytes());
    bytes[RECORD_SIZE..RECORD_SIZE + extra_text.len()].copy_from_slice(extra_text.as_bytes());
    Ok(bytes)
}

/// Decodes host slot `slot` (1..=2000). `Ok(None)` for an empty slot.
pub fn decode_host_slot(slot: HostId, bytes: &[u8]) -> Result<Option<HostSlot>, SlotError> {
    match bytes.first() {
        None | Some(0) => return Ok(None),
        Some(_) => {}
    }
    if bytes.len() < SLOT_SIZE {
        return Err(SlotError::Truncated { len: bytes.len() });
    }
    let record_text = slot_text(&bytes[..RECORD_SIZE])?;
    let decoded = decode_record(u32::from(slot), record_text)?;
    let extra_text = slot_text(&bytes[RECORD_SIZE..SLOT_SIZE]).map_err(|e| match e {
        SlotError::InteriorNul { offset } => SlotError::InteriorNul {
            offset: offset + RECORD_SIZE,
        },
        SlotError::NotUtf8 { offset } => SlotError::NotUtf8 {
            offset: offset + RECORD_SIZE,
        },
        other => other,
    })?;
    let (extra, sealed) = Extra::decode(record_text, extra_text)?;
    Ok(Some(HostSlot {
        record: decoded.record,
        crc32: decoded.crc32,
        field_count: decoded.field_count,
        extra,
        sealed,
    }))
}

/// Decodes a whole area (or as much of one as `bytes` holds). Never panics;
/// every slot's failure is that slot's own.
pub fn decode_area(bytes: &[u8]) -> Area {
    let head = &bytes[..SLOT_SIZE.min(bytes.len())];
    let global = if head.len() < SLOT_SIZE && head.first().is_some_and(|&b| b != 0) {
        Err(SlotError::Truncated { len: head.len() })
    } else {
        GlobalBlock::decode(head)
    };
    let mut hosts = BTreeMap::new();
    for id in 1..=HOST_ID_MAX {
        let start = usize::from(id) * SLOT_SIZE;
        let Some(rest) = bytes.get(start..) else {
            break;
        };
        let slot = &rest[..rest.len().min(SLOT_SIZE)];
        match decode_host_slot(id, slot) {
            Ok(None) => {}
            Ok(Some(host)) => {
                hosts.insert(id, Ok(host));
            }
            Err(e) => {
                hosts.insert(id, Err(e));
            }
        }
    }
    Area { global, hosts }
}

#[cfg(test)]
mod tests;
