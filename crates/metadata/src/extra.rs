//! The human-readable "extra" text of a host slot: bytes `[512, 4096)`
//! (`docs/compat.md` section 1).
//!
//! `key=value` lines, each ending in `\n`. The reference keys come first in the
//! reference order; our own keys (wall clock, lease) follow. Readers of the
//! reference format ignore keys they do not know.
//!
//! Deliberate difference: our writer ends the text with `extra-crc32=<hex>`, the
//! CRC-32 of the record text followed by every extra line before it. The record's
//! own CRC covers only the record, but the lease state lives here, so a torn write
//! that mixes a new record with old extra text (or the reverse) must be detected,
//! never read as a valid lease state.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::string::ToString;
use alloc::vec::Vec;

use super::record::{EncodeError, HostRecord};
use super::{EXTRA_SIZE, SlotError};

/// Key of the checksum line our writer appends last.
pub const EXTRA_CRC_KEY: &str = "extra-crc32";
/// How the seal line starts when it is not the first line (a test keeps it in
/// step with [`EXTRA_CRC_KEY`]).
const SEAL_LINE_START: &str = "\nextra-crc32=";
/// Our key: the writer's wall clock (Unix seconds) when it wrote the slot. Display
/// data for readers without the agent's liveness view; never used for control.
pub const WALL_CLOCK_KEY: &str = "wall-clock";
/// Our keys: the engine VM lease state and its epoch (the fencing token).
pub const LEASE_KEY: &str = "lease";
pub const LEASE_EPOCH_KEY: &str = "lease-epoch";
/// Our key: the writer's write sequence, one higher on every publish and never
/// reused (across agent restarts too). A reader that saw sequence `n` of a host
/// takes a later read carrying `n` or less for what it is: an older write that
/// landed late (a write abandoned after a storage timeout, landing after a
/// newer one), never news.
pub const SEQ_KEY: &str = "seq";
/// The highest write sequence a reader takes from storage: 2^30 agent restarts
/// (each starts 2^32 above the last). Above it was not written by a sound
/// agent: the slot is not taken in, and cannot block its host's later writes.
pub const SEQ_PLAUSIBLE_MAX: u64 = 1 << 62;
/// The highest lease epoch a reader takes from storage: one claim a second for
/// nearly nine million years. Anything above was not written by a sound agent
/// (a hostile or broken writer, or a value near `u64::MAX` that a `+ 1` would
/// wrap): it is refused, never adopted, never persisted.
pub const EPOCH_PLAUSIBLE_MAX: u64 = 1 << 48;
/// Most lines an extra text can hold (each line is at least `k=\n`).
const EXTRA_LINES_MAX: usize = EXTRA_SIZE / 3;

/// The extra text as ordered `key=value` pairs, and, from text the reference
/// wrote, any line without `=` kept where it stood.
///
/// Held as the text itself (every line ending in `\n`) and where each line's
/// parts lie in it: a slot is decoded on every read and built on every
/// publish, and one string and one index do for what a pair of strings per
/// line did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// The lines, each followed by `\n`.
    text: String,
    lines: Vec<Line>,
}

/// One line of [`Extra::text`]: `text[start..end]`, its key ending at `eq`
/// (where its `=` is), or no `=` at all (a raw line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line {
    start: usize,
    eq: Option<usize>,
    end: usize,
}

impl Extra {
    pub fn new() -> Self {
        Extra::default()
    }

    /// An empty extra text with room for `bytes` of text in `lines` lines.
    pub fn with_capacity(bytes: usize, lines: usize) -> Self {
        Extra {
            text: String::with_capacity(bytes),
            lines: Vec::with_capacity(lines),
        }
    }

    /// The `key=value` lines, in order (lines without `=` are in
    /// [`Extra::raw_lines`]).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|line| {
            let eq = line.eq?;
            Some((&self.text[line.start..eq], &self.text[eq + 1..line.end]))
        })
    }

    /// Lines without `=` kept from unsealed (reference-written) text, in order.
    pub fn raw_lines(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(|line| line.eq.is_none())
            .map(|line| &self.text[line.start..line.end])
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        // Lengths first, bytes then: called for several keys on every slot read.
        let (text, key) = (self.text.as_bytes(), key.as_bytes());
        let line = self.lines.iter().find(|line| {
            line.eq
                .is_some_and(|eq| eq - line.start == key.len() && &text[line.start..eq] == key)
        })?;
        let eq = line.eq?;
        Some(&self.text[eq + 1..line.end])
    }

    /// Appends a line; keys may repeat (the text is shown as it is).
    pub fn push(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let start = self.text.len();
        self.text.push_str(key.as_ref());
        let eq = self.text.len();
        self.text.push('=');
        self.text.push_str(value.as_ref());
        self.end_line(start, Some(eq));
    }

    /// Appends a line without `=` (kept from the reference's text).
    fn push_raw(&mut self, line: &str) {
        let start = self.text.len();
        self.text.push_str(line);
        self.end_line(start, None);
    }

    fn end_line(&mut self, start: usize, eq: Option<usize>) {
        let end = self.text.len();
        self.text.push('\n');
        self.lines.push(Line { start, eq, end });
    }

    /// The text as shown by `--vm-status` (`key=value\n` per line, lines without
    /// `=` as they were).
    pub fn to_text(&self) -> String {
        self.text.clone()
    }

    /// The lease state our writer published, or `None` when the writer did not
    /// publish one (the reference, or a host that never took part).
    pub fn lease(&self) -> Result<Option<LeaseState>, SlotError> {
        lease_from(self.get(LEASE_KEY), self.get(LEASE_EPOCH_KEY))
    }

    /// The writer's write sequence ([`SEQ_KEY`]); `None` when it published
    /// none (the reference, or an older version of ours) or it is unreadable.
    pub fn seq(&self) -> Option<u64> {
        self.get(SEQ_KEY)?.parse().ok()
    }

    /// The writer's wall clock in Unix seconds, when it wrote one.
    pub fn wall_clock(&self) -> Option<i64> {
        self.get(WALL_CLOCK_KEY)?.parse().ok()
    }

    fn validate(&self) -> Result<(), EncodeError> {
        // Our writer only writes key=value lines (its reader refuses others in
        // sealed text): a line kept from another writer cannot be written back.
        if let Some(line) = self.raw_lines().next() {
            return Err(EncodeError::BadExtraKey(line.to_owned()));
        }
        for (key, value) in self.entries() {
            let key_ok =
                !key.is_empty() && key.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=');
            if !key_ok || key == EXTRA_CRC_KEY {
                return Err(EncodeError::BadExtraKey(key.to_owned()));
            }
            if value.bytes().any(|b| b == b'\n' || b == b'\r' || b == 0) {
                return Err(EncodeError::BadExtraValue {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The bytes written after the record: the lines, then our checksum line.
    pub(super) fn encode(&self, record_text: &str) -> Result<String, EncodeError> {
        self.validate()?;
        let mut text = String::with_capacity(self.text.len() + EXTRA_CRC_KEY.len() + 10);
        text.push_str(&self.text);
        let crc = extra_crc(record_text, &text);
        {
            use core::fmt::Write as _;
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{EXTRA_CRC_KEY}={crc:08x}");
        }
        if text.len() > EXTRA_SIZE {
            return Err(EncodeError::ExtraTooLong {
                len: text.len(),
                max: EXTRA_SIZE,
            });
        }
        Ok(text)
    }

    /// Parses extra text (NUL padding removed). Returns the entries without our
    /// checksum line and whether that line was present (and matched).
    ///
    /// Sealed text (with our checksum line) is ours and read strictly: every line
    /// `key=value`, the last one ending in a newline. Unsealed text comes from the
    /// reference, whose readers ignore what they do not understand, and is read
    /// leniently: a line without `=` is kept as it was, not an error.
    pub(super) fn decode(record_text: &str, text: &str) -> Result<(Extra, bool), SlotError> {
        // Some line's key is exactly EXTRA_CRC_KEY.
        let sealed = text.starts_with(&SEAL_LINE_START[1..]) || text.contains(SEAL_LINE_START);
        if sealed && !text.ends_with('\n') {
            return Err(SlotError::BadExtra {
                line: Some(text.split('\n').count()),
                reason: "sealed text does not end with a newline (torn write?)".into(),
            });
        }
        let mut extra = Extra {
            text: String::with_capacity(text.len() + 1),
            lines: Vec::with_capacity(text.bytes().filter(|&b| b == b'\n').count() + 1),
        };
        let mut checked = false;
        let mut consumed = 0usize;
        for (index, line) in lines_inclusive(text).enumerate() {
            let line_no = index + 1;
            if checked {
                return Err(SlotError::BadExtra {
                    line: Some(line_no),
                    reason: format!("text after {EXTRA_CRC_KEY}"),
                });
            }
            if extra.lines.len() >= EXTRA_LINES_MAX {
                return Err(SlotError::BadExtra {
                    line: Some(line_no),
                    reason: "too many lines".into(),
                });
            }
            let body = line.strip_suffix('\n').unwrap_or(line);
            match split_once_byte(body, b'=') {
                Some((key, value)) if key == EXTRA_CRC_KEY => {
                    verify_extra_crc(record_text, &text[..consumed], value, line_no)?;
                    checked = true;
                }
                Some((key, value)) => extra.push(key, value),
                None if sealed => {
                    return Err(SlotError::BadExtra {
                        line: Some(line_no),
                        reason: "line without '='".into(),
                    });
                }
                None => extra.push_raw(body),
            }
            consumed += line.len();
        }
        if !checked && extra.get(LEASE_KEY).is_some() {
            // Our writers always seal the lease state; unsealed means torn or forged.
            return Err(SlotError::BadExtra {
                line: None,
                reason: format!("lease state without {EXTRA_CRC_KEY}"),
            });
        }
        Ok((extra, checked))
    }
}

/// `text`'s lines, each with its `\n` (the last one may lack it). As
/// `str::split_inclusive('\n')`, byte by byte: a `char` pattern compares
/// through `memcmp` on every match, and slots are split on every read.
fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = rest
            .bytes()
            .position(|b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(len);
        rest = tail;
        Some(line)
    })
}

/// As `str::split_once` for one ASCII byte, byte by byte (see
/// [`lines_inclusive`]).
fn split_once_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    debug_assert!(byte.is_ascii());
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

fn extra_crc(record_text: &str, extra_text: &str) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(record_text.as_bytes());
    hasher.update(extra_text.as_bytes());
    hasher.finalize()
}

fn verify_extra_crc(
    record_text: &str,
    preceding: &str,
    stored: &str,
    line_no: usize,
) -> Result<(), SlotError> {
    let stored_value = (stored.len() == 8)
        .then(|| u32::from_str_radix(stored, 16).ok())
        .flatten()
        .ok_or_else(|| SlotError::BadExtra {
            line: Some(line_no),
            reason: format!("bad {EXTRA_CRC_KEY} {stored:?}"),
        })?;
    let computed = extra_crc(record_text, preceding);
    if computed != stored_value {
        return Err(SlotError::Torn {
            stored: stored_value,
            computed,
        });
    }
    Ok(())
}

/// Whether a host takes part in the engine VM lease (`docs/architecture.md`,
/// "The engine VM lease").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaseKind {
    None,
    Claim,
    Held,
    /// Given up, but the VM is not confirmed down yet (it is being powered
    /// off): to every other host as good as `held`.
    Fencing,
}

impl LeaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseKind::None => "none",
            LeaseKind::Claim => "claim",
            LeaseKind::Held => "held",
            LeaseKind::Fencing => "fencing",
        }
    }

    /// Whether another host must treat it as holding the lease.
    pub fn holds(self) -> bool {
        matches!(self, LeaseKind::Held | LeaseKind::Fencing)
    }

    pub fn from_str_exact(s: &str) -> Option<LeaseKind> {
        [
            LeaseKind::None,
            LeaseKind::Claim,
            LeaseKind::Held,
            LeaseKind::Fencing,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A host's published lease state: what it claims or holds, under which epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseState {
    pub kind: LeaseKind,
    pub epoch: u64,
}

/// The state metadata the reference appends, sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateMetadata {
    pub maintenance: bool,
    /// The state machine's state name, e.g. `EngineUp`.
    pub state: String,
    pub stopped: bool,
    /// Wall-clock Unix seconds at which the state's timeout fires, if it has one.
    pub timeout_unix: Option<i64>,
}

/// What the writer knows besides the record to build its extra text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraContext {
    /// The writer's wall clock now (Unix seconds) and its offset from UTC, used to
    /// show the monotonic timestamps as dates, as the reference does.
    pub wall_now_unix: i64,
    pub utc_offset_secs: i32,
    pub state: StateMetadata,
    pub lease: Option<LeaseState>,
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The extra text in the reference's order, then our keys.
pub fn build_extra(record: &HostRecord, ctx: &ExtraContext) -> Extra {
    // A monotonic timestamp stands for the wall time that was "now" when the
    // writer's monotonic clock read it.
    let wall_of = |mono: u64| -> i64 {
        let age = record.host_ts.saturating_sub(mono);
        ctx.wall_now_unix
            .saturating_sub(i64::try_from(age).unwrap_or(i64::MAX))
    };
    let show = |unix: i64| ctime(unix, ctx.utc_offset_secs);
    // `N (date)`, written once into one string.
    let stamped = |mono: u64| {
        use core::fmt::Write as _;
        let mut value = String::with_capacity(40);
        let _ = write!(value, "{mono} (");
        write_ctime(&mut value, wall_of(mono), ctx.utc_offset_secs);
        value.push(')');
        value
    };
    // Room for what an agent writes after these lines too (a slot is built on
    // every publish).
    let mut extra = Extra::with_capacity(1024, 24);
    extra.push("metadata_parse_version", record.parse_version.to_string());
    extra.push(
        "metadata_feature_version",
        record.feature_version.to_string(),
    );
    extra.push("timestamp", stamped(record.host_ts));
    extra.push("host-id", record.host_id.to_string());
    extra.push("score", record.score.to_string());
    extra.push("vm_conf_refresh_time", stamped(record.vm_conf_refresh_time));
    extra.push(
        "conf_on_shared_storage",
        py_bool(record.conf_on_shared_storage),
    );
    extra.push("maintenance", py_bool(ctx.state.maintenance));
    extra.push("state", ctx.state.state.clone());
    extra.push("stopped", py_bool(ctx.state.stopped));
    if let Some(timeout) = ctx.state.timeout_unix {
        extra.push("timeout", show(timeout));
    }
    extra.push(WALL_CLOCK_KEY, ctx.wall_now_unix.to_string());
    if let Some(lease) = ctx.lease {
        extra.push(LEASE_KEY, lease.kind.as_str());
        extra.push(LEASE_EPOCH_KEY, lease.epoch.to_string());
    }
    extra
}

/// C `ctime()` without the newline, e.g. `Mon Mar  6 21:29:16 2023`, for Unix
/// seconds shifted by `utc_offset_secs`.
pub fn ctime(unix: i64, utc_offset_secs: i32) -> String {
    let mut out = String::with_capacity(24);
    write_ctime(&mut out, unix, utc_offset_secs);
    out
}

/// [`ctime`], appended to `out`.
fn write_ctime(out: &mut String, unix: i64, utc_offset_secs: i32) {
    use core::fmt::Write as _;
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = unix.saturating_add(i64::from(utc_offset_secs));
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        year
    );
}

/// The civil date and time of day of `unix` seconds (already shifted to the
/// wanted zone): year, month, day, hour, minute, second.
pub fn civil_time(unix: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A lease state from the values of [`LEASE_KEY`] and [`LEASE_EPOCH_KEY`]
/// (`None` for the first: no lease published), as [`Extra::lease`] reads it.
pub fn lease_from(
    kind: Option<&str>,
    epoch: Option<&str>,
) -> Result<Option<LeaseState>, SlotError> {
    let Some(kind_text) = kind else {
        return Ok(None);
    };
    let kind = LeaseKind::from_str_exact(kind_text).ok_or_else(|| SlotError::BadExtra {
        line: None,
        reason: format!("unknown lease state {kind_text:?}"),
    })?;
    let epoch_text = epoch.unwrap_or("");
    let epoch = epoch_text.parse::<u64>().map_err(|_| SlotError::BadExtra {
        line: None,
        reason: format!("bad lease epoch {epoch_text:?}"),
    })?;
    Ok(Some(LeaseState { kind, epoch }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn seal_line_start_names_the_seal_key() {
        assert_eq!(SEAL_LINE_START, format!("\n{EXTRA_CRC_KEY}="));
    }

    #[test]
    fn byte_splitting_matches_the_standard_librarys() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a=b\nc\n",
            "ké=vé\n\nx=\u{1F600}=y",
            "=\n=",
            "no newline",
        ] {
            assert_eq!(
                lines_inclusive(text).collect::<Vec<_>>(),
                text.split_inclusive('\n').collect::<Vec<_>>(),
                "{text:?}"
            );
            for line in text.split('\n') {
                assert_eq!(
                    split_once_byte(line, b'='),
                    line.split_once('='),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn ctime_matches_c() {
        // Values checked against glibc ctime() with TZ=UTC.
        assert_eq!(ctime(0, 0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_678_138_156, 0), "Mon Mar  6 21:29:16 2023");
        assert_eq!(ctime(1_773_051_342, 0), "Mon Mar  9 10:15:42 2026");
        assert_eq!(ctime(951_782_400, 0), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime(-1, 0), "Wed Dec 31 23:59:59 1969");
        assert_eq!(ctime(1_678_138_156, 3600), "Mon Mar  6 22:29:16 2023");
    }

    #[test]
    fn lease_round_trip_and_errors() {
        let mut extra = Extra::new();
        extra.push(LEASE_KEY, "held");
        extra.push(LEASE_EPOCH_KEY, "7");
        assert_eq!(
            extra.lease().unwrap(),
            Some(LeaseState {
                kind: LeaseKind::Held,
                epoch: 7
            })
        );
        let mut bad = Extra::new();
        bad.push(LEASE_KEY, "maybe");
        assert!(bad.lease().is_err());
        assert_eq!(Extra::new().lease().unwrap(), None);
    }
}
