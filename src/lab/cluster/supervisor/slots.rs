//! A third party on the shared metadata volume: the slot faults
//! (`slot-garbage`, `slot-wipe`, `slot-hostile`, `late-write`). The
//! supervisor writes a host's slot through the same store the agents use
//! ([`MetadataStore`]: one whole 4096-byte slot, durably, bounded), from the
//! lab's own view of the storage, so that every host reads what was written
//! whatever its isolation. Writes that go on (garbage every
//! [`GARBAGE_EVERY`]) or come later (a late write) run on threads of their
//! own, so that the supervisor's loop (its emulated watchdogs) never waits on
//! the storage; `heal` and the supervisor's stop end them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::log::log;
use crate::core::agent::EPOCH_SEEN_KEY;
use crate::metadata::{Extra, SEQ_KEY, SLOT_SIZE, decode_host_slot, encode_host_slot, slot_offset};
use crate::shell::store::MetadataStore;

/// How often `slot-garbage` writes its garbage again.
pub const GARBAGE_EVERY: Duration = Duration::from_millis(100);
/// Bound on one read or write of the volume.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most slot writers running at once.
const WRITERS_MAX: usize = 32;
/// How often a waiting writer looks whether it was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The epoch `slot-hostile` publishes as seen: the largest there is.
pub const HOSTILE_EPOCH_SEEN: u64 = u64::MAX;

/// The slot writers running now.
pub(super) struct SlotWriters {
    volume: PathBuf,
    stop: Arc<AtomicBool>,
    running: Vec<(String, JoinHandle<()>)>,
}

/// Bytes that are never a slot: not zero (that reads as an empty slot), not
/// text a record could parse (every byte has its high bit set, so it is not
/// even UTF-8).
pub fn garbage() -> Box<[u8; SLOT_SIZE]> {
    let mut bytes = Box::new([0u8; SLOT_SIZE]);
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7) | 0x80;
    }
    bytes
}

/// `slot`'s bytes as they lie on the volume now.
pub fn read_slot(volume: &Path, slot: u16) -> Result<Box<[u8; SLOT_SIZE]>, String> {
    let mut store = MetadataStore::open(volume, STORE_TIMEOUT);
    let area = store.read_area().map_err(|e| e.to_string())?;
    let start = usize::try_from(slot_offset(slot)).map_err(|e| e.to_string())?;
    let bytes = area
        .get(start..start + SLOT_SIZE)
        .ok_or_else(|| format!("slot {slot}: beyond the metadata area"))?;
    let mut slot_bytes = Box::new([0u8; SLOT_SIZE]);
    slot_bytes.copy_from_slice(bytes);
    Ok(slot_bytes)
}

/// Writes `bytes` as `slot`, as a host writes its own: whole and durably.
pub fn write_slot(volume: &Path, slot: u16, bytes: &[u8; SLOT_SIZE]) -> Result<(), String> {
    MetadataStore::open(volume, STORE_TIMEOUT)
        .write_slot(slot, bytes)
        .map_err(|e| e.to_string())
}

/// A forged copy of host `slot`'s current slot, with valid checksums: the
/// same record and extra text but `lease-epoch-seen` the largest epoch there
/// is, written as the host's next publish would be (its `host-ts` and write
/// sequence one further), so that readers take it in rather than skip it as
/// the publish they read already or as a late write.
pub fn hostile_copy(slot: u16, bytes: &[u8; SLOT_SIZE]) -> Result<Box<[u8; SLOT_SIZE]>, String> {
    let current = decode_host_slot(slot, bytes)
        .map_err(|e| format!("host{slot}'s slot does not read: {e}"))?
        .ok_or_else(|| format!("host{slot}'s slot is empty: nothing to copy"))?;
    let mut record = current.record.clone();
    record.host_ts = record.host_ts.saturating_add(1);
    let mut extra = Extra::new();
    for (key, value) in current.extra.entries() {
        if key != EPOCH_SEEN_KEY && key != SEQ_KEY {
            extra.push(key, value);
        }
    }
    if let Some(seq) = current.extra.seq() {
        extra.push(SEQ_KEY, seq.saturating_add(1).to_string());
    }
    extra.push(EPOCH_SEEN_KEY, HOSTILE_EPOCH_SEEN.to_string());
    encode_host_slot(slot, &record, &extra).map_err(|e| format!("host{slot}: {e}"))
}

impl SlotWriters {
    pub fn new(volume: PathBuf) -> SlotWriters {
        SlotWriters {
            volume,
            stop: Arc::new(AtomicBool::new(false)),
            running: Vec::new(),
        }
    }

    pub fn volume(&self) -> &Path {
        &self.volume
    }

    /// Writes garbage over host `slot`'s slot now and every
    /// [`GARBAGE_EVERY`] for `span`.
    pub fn garbage(&mut self, slot: u16, span: Duration) -> Result<(), String> {
        let volume = self.volume.clone();
        let name = format!("slot-garbage host{slot}");
        let bytes = garbage();
        self.spawn(name.clone(), move |stop| {
            let mut store = MetadataStore::open(&volume, STORE_TIMEOUT);
            let end = Instant::now() + span;
            let mut failures = 0u64;
            while Instant::now() < end && !stop.load(Ordering::SeqCst) {
                if let Err(e) = store.write_slot(slot, &bytes) {
                    failures += 1;
                    if failures == 1 {
                        log(&format!("{name}: {e}"));
                    }
                }
                sleep_unless_stopped(stop, GARBAGE_EVERY.min(end - Instant::now().min(end)));
            }
            log(&format!("{name}: ended"));
        })
    }

    /// Writes `bytes` over host `slot`'s slot `after` from now (a write that
    /// was held up and lands over newer ones).
    pub fn late_write(
        &mut self,
        slot: u16,
        bytes: Box<[u8; SLOT_SIZE]>,
        after: Duration,
    ) -> Result<(), String> {
        let volume = self.volume.clone();
        let name = format!("late-write host{slot}");
        self.spawn(name.clone(), move |stop| {
            let due = Instant::now() + after;
            while Instant::now() < due && !stop.load(Ordering::SeqCst) {
                sleep_unless_stopped(stop, due.saturating_duration_since(Instant::now()));
            }
            if stop.load(Ordering::SeqCst) {
                log(&format!("{name}: cancelled"));
                return;
            }
            match write_slot(&volume, slot, &bytes) {
                Ok(()) => log(&format!("{name}: the copy landed over the newer slot")),
                Err(e) => log(&format!("{name}: {e}")),
            }
        })
    }

    fn spawn(
        &mut self,
        name: String,
        task: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<(), String> {
        self.running.retain(|(_, t)| !t.is_finished());
        if self.running.len() >= WRITERS_MAX {
            return Err(format!(
                "{WRITERS_MAX} slot writers run already (he-lab heal ends them)"
            ));
        }
        let stop = Arc::clone(&self.stop);
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || task(&stop))
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        self.running.push((name, thread));
        Ok(())
    }

    /// Stops every writer (garbage ends, late writes are dropped) and waits
    /// for them; the names of those that were running.
    pub fn stop_all(&mut self) -> Vec<String> {
        let stopped: Vec<String> = self
            .running
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .map(|(name, _)| name.clone())
            .collect();
        self.stop.store(true, Ordering::SeqCst);
        for (_, thread) in self.running.drain(..) {
            // Bounded: a writer looks at the flag every STOP_POLL, and its one
            // write in progress is bounded by STORE_TIMEOUT.
            let _ = thread.join();
        }
        self.stop = Arc::new(AtomicBool::new(false));
        stopped
    }
}

/// Sleeps `span` in short steps, returning early once `stop` is set.
fn sleep_unless_stopped(stop: &AtomicBool, span: Duration) {
    let end = Instant::now() + span;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(STOP_POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{HostRecord, decode_area};

    fn volume(dir: &Path) -> PathBuf {
        let path = dir.join("volume");
        crate::shell::store::init_volume(&path, false, STORE_TIMEOUT).unwrap();
        path
    }

    fn slot_of(host: u16, seq: u64) -> Box<[u8; SLOT_SIZE]> {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100,
            host_id: host,
            score: 3400,
            engine_status: r#"{"vm": "up", "health": "good", "detail": "Up"}"#.into(),
            hostname: format!("host{host}"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100,
        };
        let mut extra = Extra::new();
        extra.push("lease", "held");
        extra.push("lease-epoch", "3");
        extra.push(EPOCH_SEEN_KEY, "3");
        extra.push(SEQ_KEY, seq.to_string());
        encode_host_slot(host, &record, &extra).unwrap()
    }

    #[test]
    fn garbage_never_decodes_and_a_hostile_copy_does_with_the_largest_epoch() {
        assert!(decode_host_slot(2, &*garbage()).is_err());
        let forged = hostile_copy(2, &slot_of(2, 41)).unwrap();
        let slot = decode_host_slot(2, &*forged).unwrap().unwrap();
        assert!(slot.sealed);
        assert_eq!(slot.record.host_ts, 101);
        assert_eq!(slot.extra.seq(), Some(42));
        assert_eq!(slot.extra.get(EPOCH_SEEN_KEY), Some("18446744073709551615"));
        assert_eq!(slot.extra.get("lease-epoch"), Some("3"));
        assert!(hostile_copy(2, &Box::new([0u8; SLOT_SIZE])).is_err());
        assert!(hostile_copy(2, &garbage()).is_err());
    }

    #[test]
    fn writers_write_whole_slots_and_stop_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = volume(dir.path());
        write_slot(&path, 2, &slot_of(2, 7)).unwrap();
        let copy = read_slot(&path, 2).unwrap();
        assert_eq!(copy, slot_of(2, 7));
        let mut writers = SlotWriters::new(path.clone());
        writers.garbage(2, Duration::from_secs(60)).unwrap();
        writers
            .late_write(3, slot_of(3, 1), Duration::from_secs(60))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_slot(&path, 2).unwrap() != garbage() {
            assert!(Instant::now() < deadline, "no garbage written");
            std::thread::sleep(Duration::from_millis(20));
        }
        let stopped = writers.stop_all();
        assert_eq!(stopped.len(), 2, "{stopped:?}");
        // The late write was dropped; the garbage stays until its host writes.
        let area = read_slot(&path, 3).unwrap();
        assert!(area.iter().all(|&b| b == 0));
        write_slot(&path, 2, &slot_of(2, 8)).unwrap();
        std::thread::sleep(GARBAGE_EVERY * 3);
        let area = MetadataStore::open(&path, STORE_TIMEOUT)
            .read_area()
            .unwrap();
        assert!(matches!(decode_area(&area).hosts.get(&2), Some(Ok(_))));
        writers
            .late_write(3, slot_of(3, 1), Duration::ZERO)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_slot(&path, 3).unwrap() != slot_of(3, 1) {
            assert!(Instant::now() < deadline, "the late write never landed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
