//! The machine-readable host record: bytes `[0, 512)` of a host slot
//! (`docs/compat.md` section 1).
//!
//! Twelve fields joined by `|`:
//! `parse|feature|host-ts|host-id|score|engine-status|hostname|maintenance|stopped|crc32|conf_on_shared_storage|vm_conf_refresh_time`.
//! Older writers wrote only the first 7..11 fields; readers accept them.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{HOST_ID_MAX, HostId, RECORD_SIZE, SCORE_MAX, SlotError};

/// The metadata parse and feature version this implementation reads and writes.
pub const METADATA_PARSE_VERSION: u32 = 1;
pub const METADATA_FEATURE_VERSION: u32 = 1;

/// Fields a reader needs at the least (older writers stopped at the hostname).
pub const RECORD_FIELDS_MIN: usize = 7;
/// Fields this implementation writes.
pub const RECORD_FIELDS: usize = 12;
/// More fields than this cannot come from any writer of parse version 1.
const RECORD_FIELDS_MAX: usize = 64;
const CRC_FIELD: usize = 9;
const CRC_PLACEHOLDER: &str = "00000000";

/// One host's record as its agent publishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRecord {
    pub parse_version: u32,
    pub feature_version: u32,
    /// The writer's monotonic seconds; only a *change* of it means anything.
    pub host_ts: u64,
    pub host_id: HostId,
    pub score: u32,
    /// The engine status as stored: compact JSON (see [`super::EngineStatus`]).
    /// Kept raw so that a record re-encodes to the bytes it was read from.
    pub engine_status: String,
    pub hostname: String,
    pub local_maintenance: bool,
    pub stopped: bool,
    pub conf_on_shared_storage: bool,
    /// `vm_conf_refresh_time`, shown as `local_conf_timestamp`; monotonic seconds.
    pub vm_conf_refresh_time: u64,
}

/// Why a record cannot be written. The reference would have written these and
/// corrupted its own slot (or a neighbour's); we refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("host id {0} is out of range 1..={HOST_ID_MAX}")]
    HostIdOutOfRange(u32),
    #[error("record of host {record} cannot be written to slot {slot}")]
    HostIdNotSlot { record: HostId, slot: u32 },
    #[error(
        "metadata versions parse {parse_version}, feature {feature_version} would not read back: \
         parse must be at most {METADATA_FEATURE_VERSION}, feature at least {METADATA_PARSE_VERSION}"
    )]
    BadVersion {
        parse_version: u32,
        feature_version: u32,
    },
    #[error("score {0} is above {SCORE_MAX}")]
    ScoreTooHigh(u32),
    #[error("hostname {0:?} must be non-empty printable ASCII without '|'")]
    BadHostname(String),
    #[error("engine status {0:?} must be printable ASCII without '|'")]
    BadEngineStatus(String),
    #[error("record is {len} bytes, more than the {RECORD_SIZE} a slot holds")]
    RecordTooLong { len: usize },
    #[error("extra text is {len} bytes, more than the {max} a slot holds")]
    ExtraTooLong { len: usize, max: usize },
    #[error("extra key {0:?} must be non-empty printable text without '=' or a line break")]
    BadExtraKey(String),
    #[error("extra value of {key:?} must not contain a line break or NUL")]
    BadExtraValue { key: String },
    #[error("global key {0:?} must be non-empty printable text without '=' or a line break")]
    BadGlobalKey(String),
    #[error("global value of {key:?} must not contain a line break or NUL")]
    BadGlobalValue { key: String },
    #[error(
        "global block is {len} bytes, more than the {max} that leave room for the maintenance key"
    )]
    GlobalTooLong { len: usize, max: usize },
}

fn is_record_text(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'|')
}

fn bool_field(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

impl HostRecord {
    /// Checks everything that would make the encoded record unreadable or misplaced.
    pub fn validate(&self) -> Result<(), EncodeError> {
        let id = u32::from(self.host_id);
        if id == 0 || id > u32::from(HOST_ID_MAX) {
            return Err(EncodeError::HostIdOutOfRange(id));
        }
        // The reader's rule (`decode_record`): a record that it would call too new
        // or too old must not be written.
        if self.parse_version > METADATA_FEATURE_VERSION
            || self.feature_version < METADATA_PARSE_VERSION
        {
            return Err(EncodeError::BadVersion {
                parse_version: self.parse_version,
                feature_version: self.feature_version,
            });
        }
        if self.score > SCORE_MAX {
            return Err(EncodeError::ScoreTooHigh(self.score));
        }
        if self.hostname.is_empty() || !is_record_text(&self.hostname) {
            return Err(EncodeError::BadHostname(self.hostname.clone()));
        }
        if !is_record_text(&self.engine_status) {
            return Err(EncodeError::BadEngineStatus(self.engine_status.clone()));
        }
        Ok(())
    }

    /// The twelve fields joined by `|` with the given CRC text in field 9,
    /// and where field 9 starts. One string sized up front: a record is
    /// encoded on every publish.
    fn join(&self, crc: &str) -> (String, usize) {
        use core::fmt::Write as _;
        let mut text = String::with_capacity(80 + self.engine_status.len() + self.hostname.len());
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|",
            self.parse_version,
            self.feature_version,
            self.host_ts,
            self.host_id,
            self.score,
            self.engine_status,
            self.hostname,
            bool_field(self.local_maintenance),
            bool_field(self.stopped),
        );
        let crc_at = text.len();
        let _ = write!(
            text,
            "{crc}|{}|{}",
            bool_field(self.conf_on_shared_storage),
            self.vm_conf_refresh_time,
        );
        (text, crc_at)
    }

    /// The CRC-32 of the record with field 9 set to `00000000` (section 1).
    pub fn crc32(&self) -> u32 {
        crc32fast::hash(self.join(CRC_PLACEHOLDER).0.as_bytes())
    }

    /// The record text as written to disk, CRC included. Validates first.
    pub fn encode(&self) -> Result<String, EncodeError> {
        self.validate()?;
        let (mut text, at) = self.join(CRC_PLACEHOLDER);
        if text.len() > RECORD_SIZE {
            return Err(EncodeError::RecordTooLong { len: text.len() });
        }
        // Field 9 is the only placeholder: put the CRC in its place.
        let crc = format!("{:08x}", crc32fast::hash(text.as_bytes()));
        text.replace_range(at..at + CRC_PLACEHOLDER.len(), &crc);
        Ok(text)
    }
}

/// A record as read, with what the reader learned beyond its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    pub record: HostRecord,
    /// The CRC stored in field 9, when the writer wrote one (10 fields or more).
    pub crc32: Option<u32>,
    /// How many fields the writer wrote (7 for the oldest writers, 12 for ours).
    pub field_count: usize,
}

fn parse_u64(field: &'static str, text: &str) -> Result<u64, SlotError> {
    // Only plain decimal digits: a sign, spaces or an empty field are corruption.
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlotError::BadField {
            field,
            value: text.to_owned(),
        });
    }
    text.parse().map_err(|_| SlotError::BadField {
        field,
        value: text.to_owned(),
    })
}

fn parse_u32(field: &'static str, text: &str) -> Result<u32, SlotError> {
    let value = parse_u64(field, text)?;
    u32::try_from(value).map_err(|_| SlotError::BadField {
        field,
        value: text.to_owned(),
    })
}

/// Decodes the record text of slot `slot` (NUL padding already removed).
pub fn decode_record(slot: u32, text: &str) -> Result<DecodedRecord, SlotError> {
    let fields: Vec<&str> = text.split('|').take(RECORD_FIELDS_MAX + 1).collect();
    if fields.len() < RECORD_FIELDS_MIN {
        return Err(SlotError::TooFewFields {
            found: fields.len(),
        });
    }
    if fields.len() > RECORD_FIELDS_MAX {
        return Err(SlotError::TooManyFields);
    }
    let parse_version = parse_u32("parse version", fields[0])?;
    let feature_version = parse_u32("feature version", fields[1])?;
    if parse_version > METADATA_FEATURE_VERSION {
        return Err(SlotError::TooNew {
            version: parse_version,
        });
    }
    if feature_version < METADATA_PARSE_VERSION {
        return Err(SlotError::TooOld {
            version: feature_version,
        });
    }
    let crc32 = match fields.get(CRC_FIELD) {
        Some(stored) => Some(verify_crc(&fields, stored)?),
        None => None,
    };
    let host_id_value = parse_u32("host id", fields[3])?;
    if host_id_value != slot {
        return Err(SlotError::HostIdMismatch {
            record: host_id_value,
        });
    }
    let Some(host_id) = HostId::try_from(host_id_value)
        .ok()
        .filter(|id| (1..=HOST_ID_MAX).contains(id))
    else {
        return Err(SlotError::BadField {
            field: "host id",
            value: fields[3].to_owned(),
        });
    };
    let score = parse_u32("score", fields[4])?;
    if score > SCORE_MAX {
        return Err(SlotError::BadField {
            field: "score",
            value: fields[4].to_owned(),
        });
    }
    // The text fields obey the rule the encoder applies: what we would refuse to
    // write we refuse to read, so a forged or corrupted slot cannot carry control
    // characters (terminal escapes, line breaks) into `--vm-status` or logs.
    let engine_status = fields[5];
    if !is_record_text(engine_status) {
        return Err(SlotError::BadField {
            field: "engine status",
            value: engine_status.to_owned(),
        });
    }
    let hostname = fields[6];
    if hostname.is_empty() || !is_record_text(hostname) {
        return Err(SlotError::BadField {
            field: "hostname",
            value: hostname.to_owned(),
        });
    }
    let flag = |index: usize, name: &'static str| -> Result<bool, SlotError> {
        match fields.get(index) {
            Some(text) => Ok(parse_u64(name, text)? > 0),
            None => Ok(false),
        }
    };
    let record = HostRecord {
        parse_version,
        feature_version,
        host_ts: parse_u64("host-ts", fields[2])?,
        host_id,
        score,
        engine_status: engine_status.to_owned(),
        hostname: hostname.to_owned(),
        local_maintenance: flag(7, "maintenance")?,
        stopped: flag(8, "stopped")?,
        conf_on_shared_storage: flag(10, "conf_on_shared_storage")?,
        vm_conf_refresh_time: match fields.get(11) {
            Some(text) => parse_u64("vm_conf_refresh_time", text)?,
            None => 0,
        },
    };
    Ok(DecodedRecord {
        record,
        crc32,
        field_count: fields.len(),
    })
}

/// Checks the stored CRC against the fields as written (field 9 zeroed).
fn verify_crc(fields: &[&str], stored: &str) -> Result<u32, SlotError> {
    let stored_value = if stored.len() == 8 && stored.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(stored, 16).ok()
    } else {
        None
    };
    let Some(stored_value) = stored_value else {
        return Err(SlotError::BadField {
            field: "crc32",
            value: stored.to_owned(),
        });
    };
    let mut hasher = crc32fast::Hasher::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            hasher.update(b"|");
        }
        let bytes = if i == CRC_FIELD {
            CRC_PLACEHOLDER
        } else {
            field
        };
        hasher.update(bytes.as_bytes());
    }
    let computed = hasher.finalize();
    if computed != stored_value {
        return Err(SlotError::CrcMismatch {
            stored: stored_value,
            computed,
        });
    }
    Ok(stored_value)
}
