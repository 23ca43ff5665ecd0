//! The cluster history (issue 16): each host keeps its recent events on the
//! shared storage, next to the metadata volume, so that "why did the engine
//! move?" is answered from any host, with the agent down, and after the host
//! that knew is dead.
//!
//! One ring file per host, `history/host-<id>.ring` beside the volume:
//! [`RING_RECORDS`] records of [`RECORD_BYTES`] bytes; event `seq` goes to
//! record `seq % RING_RECORDS`, so the file holds the last
//! [`RING_RECORDS`] events and never grows. A record is one line of text,
//! NUL-padded:
//!
//! ```text
//! he-event 1|<host id>|<seq>|<unix ms>|<kind>|<text>|<crc32 of everything before it, hex>
//! ```
//!
//! The text has no `|`, no line break and no control character (each becomes
//! a space) and is cut to fit. Decoding is per record and total: a torn,
//! foreign or corrupted record is skipped, never a reason to lose the others.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::HostId;

/// Events a ring keeps.
pub const RING_RECORDS: usize = 512;
/// Bytes of one record.
pub const RECORD_BYTES: usize = 256;
/// Bytes of a ring file.
pub const RING_BYTES: usize = RING_RECORDS * RECORD_BYTES;
/// The directory of the ring files, beside the metadata volume.
pub const HISTORY_DIR: &str = "history";
const MAGIC: &str = "he-event 1";

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// The agent started or stopped.
    Agent,
    /// A state transition, with its reason.
    Transition,
    /// The engine VM lease: claims, wins, renewal failures, expiries, releases.
    Lease,
    /// The engine VM: starts, stops, crashes, with the driver's words.
    Vm,
    /// Self-fences and watchdog resets.
    Fence,
    /// An operator's request through the control socket, accepted or refused.
    Request,
    /// Maintenance changes.
    Maintenance,
    /// The shared storage lost or back.
    Storage,
    /// A penalty that appeared or went, with the score.
    Score,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Agent,
        EventKind::Transition,
        EventKind::Lease,
        EventKind::Vm,
        EventKind::Fence,
        EventKind::Request,
        EventKind::Maintenance,
        EventKind::Storage,
        EventKind::Score,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Agent => "agent",
            EventKind::Transition => "transition",
            EventKind::Lease => "lease",
            EventKind::Vm => "vm",
            EventKind::Fence => "fence",
            EventKind::Request => "request",
            EventKind::Maintenance => "maintenance",
            EventKind::Storage => "storage",
            EventKind::Score => "score",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind of one of the agent's log lines (the core's and the loop's
    /// words): a transition (`A -> B: why`), else by what it talks about.
    pub fn of_line(line: &str) -> EventKind {
        let lower = line.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        let head = line.split(':').next().unwrap_or("");
        if head.contains(" -> ")
            && head
                .split(" -> ")
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            EventKind::Transition
        } else if has(&["watchdog", "self-fence", "fencing", "fenced", "reset"]) {
            EventKind::Fence
        } else if has(&["manual ", "requested", "request "]) {
            EventKind::Request
        } else if has(&["maintenance"]) {
            EventKind::Maintenance
        } else if has(&["lease", "claim"]) {
            EventKind::Lease
        } else if lower.starts_with("engine vm") {
            EventKind::Vm
        } else if has(&["storage"]) {
            EventKind::Storage
        } else if has(&["engine vm", "vm "]) {
            EventKind::Vm
        } else {
            EventKind::Agent
        }
    }
}

/// One event of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub host_id: HostId,
    /// The host's event number: it only grows, across agent restarts.
    pub seq: u64,
    /// When, by the host's wall clock (Unix milliseconds).
    pub unix_ms: i64,
    pub kind: EventKind,
    pub text: String,
}

/// The name of host `id`'s ring file, in [`HISTORY_DIR`] beside the volume.
pub fn ring_file_name(id: HostId) -> String {
    format!("host-{id}.ring")
}

/// Where `seq`'s record goes in a ring file.
pub fn record_offset(seq: u64) -> u64 {
    (seq % RING_RECORDS as u64) * RECORD_BYTES as u64
}

/// `text` made safe for a record: no `|`, line break or control character.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c == '|' || c.is_control() { ' ' } else { c })
        .collect()
}

/// The record of `event`, its text cut (at a character) to fit.
pub fn encode(event: &Event) -> [u8; RECORD_BYTES] {
    let head = format!(
        "{MAGIC}|{}|{}|{}|{}|",
        event.host_id,
        event.seq,
        event.unix_ms,
        event.kind.name()
    );
    // The CRC and its separator: 9 bytes; a NUL pad of at least one.
    let room = RECORD_BYTES - head.len() - 10;
    let mut text = clean(&event.text);
    if text.len() > room {
        let mut cut = room.saturating_sub(3);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    let body = format!("{head}{text}");
    let line = format!("{body}|{:08x}", crc32fast::hash(body.as_bytes()));
    let mut record = [0u8; RECORD_BYTES];
    record[..line.len()].copy_from_slice(line.as_bytes());
    record
}

/// The event in one record, if it is a whole and valid one of host `id`.
pub fn decode(id: HostId, record: &[u8]) -> Option<Event> {
    let end = record.iter().position(|&b| b == 0).unwrap_or(record.len());
    let line = core::str::from_utf8(&record[..end]).ok()?;
    let (body, crc) = line.rsplit_once('|')?;
    if crc.len() != 8 || u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body.as_bytes()) {
        return None;
    }
    let mut fields = body.splitn(6, '|');
    if fields.next()? != MAGIC {
        return None;
    }
    let host_id: HostId = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let unix_ms = fields.next()?.parse().ok()?;
    let kind = EventKind::parse(fields.next()?)?;
    let text = fields.next()?;
    if host_id != id || text.chars().any(char::is_control) {
        return None;
    }
    Some(Event {
        host_id,
        seq,
        unix_ms,
        kind,
        text: text.to_owned(),
    })
}

/// Every valid event of host `id` in a ring file's bytes, oldest first (by
/// `seq`); a record whose position does not match its `seq` is stale or
/// foreign and skipped.
pub fn decode_ring(id: HostId, bytes: &[u8]) -> Vec<Event> {
    let mut events: Vec<Event> = bytes
        .chunks(RECORD_BYTES)
        .enumerate()
        .filter_map(|(index, record)| {
            let event = decode(id, record)?;
            (record_offset(event.seq) == (index * RECORD_BYTES) as u64).then_some(event)
        })
        .collect();
    events.sort_by_key(|e| e.seq);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, text: &str) -> Event {
        Event {
            host_id: 2,
            seq,
            unix_ms: 1_765_000_000_000 + seq as i64,
            kind: EventKind::Lease,
            text: text.into(),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_what_is_not_theirs() {
        let e = event(7, "claiming the engine VM lease (epoch 3)");
        let record = encode(&e);
        assert_eq!(decode(2, &record), Some(e.clone()));
        assert_eq!(decode(3, &record), None, "another host's");
        let mut torn = record;
        torn[20] ^= 1;
        assert_eq!(decode(2, &torn), None);
        assert_eq!(decode(2, &[0u8; RECORD_BYTES]), None);
        assert_eq!(decode(2, &[0xffu8; RECORD_BYTES]), None);
        // Separators and control characters in the text are spaces.
        let odd = encode(&event(8, "a|b\nc\u{1b}[2J"));
        assert_eq!(decode(2, &odd).unwrap().text, "a b c [2J");
        // A forged record with a valid checksum and a terminal escape in its
        // text is refused (the encoder never writes one).
        let body = "he-event 1|2|9|1765000000000|lease|\u{1b}[2Jowned";
        let forged = format!("{body}|{:08x}", crc32fast::hash(body.as_bytes()));
        let mut record = [0u8; RECORD_BYTES];
        record[..forged.len()].copy_from_slice(forged.as_bytes());
        assert_eq!(decode(2, &record), None);
        // A long text is cut at a character and marked.
        let long = encode(&event(9, &"é".repeat(400)));
        let text = decode(2, &long).unwrap().text;
        assert!(text.ends_with("...") && text.len() < RECORD_BYTES, "{text}");
    }

    #[test]
    fn a_ring_keeps_the_last_events_in_order() {
        let mut ring = vec![0u8; RING_BYTES];
        for seq in 0..(RING_RECORDS as u64 + 10) {
            let at = record_offset(seq) as usize;
            ring[at..at + RECORD_BYTES].copy_from_slice(&encode(&event(seq, "x")));
        }
        // A record copied to the wrong place (a torn rewrite) is skipped.
        let stale = encode(&event(3, "old"));
        ring[RECORD_BYTES * 20..RECORD_BYTES * 21].copy_from_slice(&stale);
        let events = decode_ring(2, &ring);
        assert_eq!(events.len(), RING_RECORDS - 1);
        assert_eq!(events.first().unwrap().seq, 10);
        assert_eq!(events.last().unwrap().seq, RING_RECORDS as u64 + 9);
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(decode_ring(2, &[1, 2, 3]).is_empty());
    }

    #[test]
    fn log_lines_get_their_kind() {
        for (line, kind) in [
            (
                "EngineDown -> EngineStart: no better host to start the engine VM",
                EventKind::Transition,
            ),
            ("claiming the engine VM lease (epoch 2)", EventKind::Lease),
            (
                "host 2's lease (epoch 3) expired after 40 s of silence",
                EventKind::Lease,
            ),
            ("engine VM start (epoch 1): done", EventKind::Vm),
            ("engine VM: Up -> not present", EventKind::Vm),
            ("engine VM lease released (epoch 1)", EventKind::Lease),
            ("self-fence: cannot renew the lease", EventKind::Fence),
            (
                "the watchdog's promise is broken: expiring it",
                EventKind::Fence,
            ),
            ("manual power-off requested", EventKind::Request),
            (
                "storage failure: read: Input/output error",
                EventKind::Storage,
            ),
            ("storage available again", EventKind::Storage),
            (
                "global maintenance set by the operator",
                EventKind::Maintenance,
            ),
            ("ovirt-ha-agent starting", EventKind::Agent),
        ] {
            assert_eq!(EventKind::of_line(line), kind, "{line}");
        }
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.name()), Some(kind));
        }
    }
}
