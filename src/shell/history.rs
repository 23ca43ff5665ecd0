//! Writes this host's events to its ring file on the shared storage
//! (`metadata::history`), off the agent's loop: the loop hands each event
//! to a writer thread through a bounded queue and never waits for the
//! storage. A storage that hangs or fails holds the events back (at most a
//! ring's worth, the oldest dropped first, and said) until it answers again.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::metadata::HostId;
use crate::metadata::history::{
    Event, EventKind, HISTORY_DIR, RECORD_BYTES, RING_BYTES, RING_RECORDS, decode_ring, encode,
    record_offset, ring_file_name,
};

/// The ring file of host `id`, in the directory holding the volume.
pub fn ring_path(volume_dir: &std::path::Path, id: HostId) -> PathBuf {
    volume_dir.join(HISTORY_DIR).join(ring_file_name(id))
}

/// Events queued for the writer at most.
const QUEUE: usize = RING_RECORDS;
/// How often the writer tries again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// What the loop sends: an event without its number (the writer numbers).
type Pending = (i64, EventKind, String);

/// The handle the agent records events through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct History {
    queue: SyncSender<Pending>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The writer thread, to wait for at the end.
pub struct HistoryWriter {
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

impl History {
    /// Starts the writer of host `id`'s ring file at `path`, beside the
    /// metadata `volume` (written only while that is there: the storage is
    /// mounted).
    pub fn start(
        path: PathBuf,
        id: HostId,
        volume: PathBuf,
    ) -> std::io::Result<(History, HistoryWriter)> {
        let (queue, events) = mpsc::sync_channel(QUEUE);
        let (finished, done) = mpsc::sync_channel(1);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let lost = std::sync::Arc::clone(&dropped);
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                Ring::new(path, id, volume).run(&events, &lost);
                let _ = finished.send(());
            })?;
        Ok((
            History { queue, dropped },
            HistoryWriter {
                thread: Some(thread),
                done,
            },
        ))
    }

    /// Records an event now; never waits (a full queue drops it, counted).
    pub fn record(&self, kind: EventKind, text: impl Into<String>) {
        let event = (unix_ms(), kind, text.into());
        match self.queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

impl HistoryWriter {
    /// Waits at most `limit` for the queued events to be written (after
    /// every [`History`] handle was dropped); a storage that hangs is left
    /// behind, its thread with it.
    pub fn finish(mut self, limit: Duration) -> bool {
        let finished = self.done.recv_timeout(limit).is_ok();
        if finished && let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        finished
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The writer's side: the file, the next number, what waits to be written.
struct Ring {
    path: PathBuf,
    id: HostId,
    /// The metadata volume: the storage is mounted while it is there.
    volume: PathBuf,
    file: Option<File>,
    next_seq: Option<u64>,
    waiting: std::collections::VecDeque<Pending>,
    /// Events dropped from the queue so far, and how many of them were said.
    said_dropped: u64,
    /// Events dropped here while the storage held them back (not yet said).
    held_dropped: u64,
}

impl Ring {
    fn new(path: PathBuf, id: HostId, volume: PathBuf) -> Ring {
        Ring {
            path,
            id,
            volume,
            file: None,
            next_seq: None,
            waiting: std::collections::VecDeque::new(),
            said_dropped: 0,
            held_dropped: 0,
        }
    }

    fn run(&mut self, events: &Receiver<Pending>, dropped: &std::sync::atomic::AtomicU64) {
        let mut open = true;
        while open || !self.waiting.is_empty() {
            match events.recv_timeout(RETRY) {
                Ok(event) => self.hold(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            while let Ok(event) = events.try_recv() {
                self.hold(event);
            }
            let lost = dropped.load(std::sync::atomic::Ordering::Relaxed);
            let unsaid = lost - self.said_dropped + std::mem::take(&mut self.held_dropped);
            if unsaid > 0 {
                let text = format!(
                    "{unsaid} event(s) not recorded: the shared storage was too slow for them"
                );
                self.said_dropped = lost;
                self.hold((unix_ms(), EventKind::Storage, text));
            }
            if self.flush().is_err() && !open {
                // Stopping, and the storage fails: what is left is lost.
                return;
            }
        }
    }

    /// Keeps an event for the next write, dropping the oldest beyond a ring.
    fn hold(&mut self, event: Pending) {
        if self.waiting.len() >= RING_RECORDS {
            self.waiting.pop_front();
            self.held_dropped += 1;
        }
        self.waiting.push_back(event);
    }

    /// Writes what waits, in order; stops at the first failure (the file is
    /// opened again on the next try).
    fn flush(&mut self) -> std::io::Result<()> {
        while let Some((unix_ms, kind, text)) = self.waiting.front().cloned() {
            let seq = match self.next_seq {
                Some(seq) => seq,
                None => match self.first_seq() {
                    Ok(seq) => seq,
                    Err(e) => {
                        self.file = None;
                        return Err(e);
                    }
                },
            };
            let event = Event {
                host_id: self.id,
                seq,
                unix_ms,
                kind,
                text,
            };
            let file = self.file()?;
            let written = file.write_all_at(&encode(&event), record_offset(seq));
            if let Err(e) = written {
                self.file = None;
                return Err(e);
            }
            self.next_seq = Some(seq.saturating_add(1));
            self.waiting.pop_front();
        }
        Ok(())
    }

    /// The ring file, opened (and made) as carefully as the slot: only on the
    /// mounted storage (beside the metadata volume, which an empty mount
    /// point lacks), never through a symbolic link (a writer of the shared
    /// storage could point one at a file of this host's), a regular file of
    /// at most a ring's size; opened again when the path names another file
    /// now (a remount).
    fn file(&mut self) -> std::io::Result<&File> {
        use std::os::unix::fs::MetadataExt as _;
        let current = std::fs::symlink_metadata(&self.path).ok();
        if let (Some(open), Some(now)) = (&self.file, &current)
            && let Ok(held) = open.metadata()
            && (held.dev(), held.ino()) != (now.dev(), now.ino())
        {
            self.file = None;
        }
        if self.file.is_none() {
            let refuse = |why: String| std::io::Error::other(why);
            let dir = self
                .path
                .parent()
                .ok_or_else(|| refuse("the ring file has no directory".into()))?;
            if !self.volume.exists() {
                return Err(refuse(format!(
                    "{}: not there (the storage is not mounted)",
                    self.volume.display()
                )));
            }
            match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(refuse(format!(
                        "{}: not a directory (a symbolic link?): not used",
                        dir.display()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(dir)?,
                Err(e) => return Err(e),
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_DSYNC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&self.path)?;
            let meta = file.metadata()?;
            if !meta.is_file() || meta.len() > RING_BYTES as u64 {
                return Err(refuse(format!(
                    "{}: not a ring file (not a regular file of at most {RING_BYTES} bytes): \
                     not used",
                    self.path.display()
                )));
            }
            if meta.len() < RING_BYTES as u64 {
                file.set_len(RING_BYTES as u64)?;
            }
            self.file = Some(file);
        }
        self.file
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no ring file"))
    }

    /// The number after the newest event in the ring (0 for a new ring), so
    /// that numbers keep growing across agent restarts.
    fn first_seq(&mut self) -> std::io::Result<u64> {
        let mut bytes = vec![0u8; RING_BYTES];
        let file = self.file()?;
        let mut read = 0;
        while read < bytes.len() {
            match file.read_at(&mut bytes[read..], read as u64)? {
                0 => break,
                n => read += n,
            }
        }
        bytes.truncate(read - read % RECORD_BYTES);
        let next = decode_ring(self.id, &bytes).last().map_or(0, |e| e.seq + 1);
        self.next_seq = Some(next);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &std::path::Path, id: HostId) -> Vec<Event> {
        decode_ring(id, &std::fs::read(path).unwrap())
    }

    #[test]
    fn events_land_in_order_and_numbers_grow_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history/host-3.ring");
        let volume = dir.path().join("hosted-engine.metadata");
        std::fs::write(&volume, b"").unwrap();
        let (history, writer) = History::start(path.clone(), 3, volume.clone()).unwrap();
        history.record(EventKind::Agent, "ovirt-ha-agent started");
        history.record(EventKind::Lease, "claiming the engine VM lease (epoch 1)");
        drop(history);
        assert!(writer.finish(Duration::from_secs(10)));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RING_BYTES as u64);
        let (history, writer) = History::start(path.clone(), 3, volume).unwrap();
        history.record(EventKind::Agent, "ovirt-ha-agent started again");
        drop(history);
        assert!(writer.finish(Duration::from_secs(10)));
        let events = read(&path, 3);
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert_eq!(events[1].kind, EventKind::Lease);
        assert_eq!(events[2].text, "ovirt-ha-agent started again");
    }

    #[test]
    fn events_wait_while_the_storage_is_away() {
        let dir = tempfile::tempdir().unwrap();
        // No volume yet (an empty mount point): nothing is written, not
        // even the directory, until it is there.
        let volume = dir.path().join("hosted-engine.metadata");
        let path = dir.path().join("history/host-1.ring");
        let (history, writer) = History::start(path.clone(), 1, volume.clone()).unwrap();
        history.record(EventKind::Storage, "storage failure: gone");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!dir.path().join("history").exists());
        std::fs::write(&volume, b"").unwrap();
        history.record(EventKind::Storage, "storage available again");
        drop(history);
        assert!(writer.finish(Duration::from_secs(10)));
        let texts: Vec<String> = read(&path, 1).into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["storage failure: gone", "storage available again"]);
    }

    /// A writer of the shared storage plants the ring file, or its
    /// directory, as a symbolic link to a file of this host's: never
    /// followed, the file untouched.
    #[test]
    fn a_planted_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("hosted-engine.metadata");
        std::fs::write(&volume, b"").unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"root's\n").unwrap();
        let history_dir = dir.path().join("history");
        std::fs::create_dir(&history_dir).unwrap();
        let path = history_dir.join("host-1.ring");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let (history, writer) = History::start(path.clone(), 1, volume.clone()).unwrap();
        history.record(EventKind::Agent, "started");
        drop(history);
        writer.finish(Duration::from_millis(1500));
        assert_eq!(std::fs::read(&victim).unwrap(), b"root's\n");
        // The directory as a link.
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_dir(&history_dir).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &history_dir).unwrap();
        let (history, writer) = History::start(path, 1, volume).unwrap();
        history.record(EventKind::Agent, "started");
        drop(history);
        writer.finish(Duration::from_millis(1500));
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
