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
    Event, EventKind, RECORD_BYTES, RING_BYTES, RING_RECORDS, decode_ring, encode, record_offset,
};

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
    /// Starts the writer of host `id`'s ring file at `path`.
    pub fn start(path: PathBuf, id: HostId) -> std::io::Result<(History, HistoryWriter)> {
        let (queue, events) = mpsc::sync_channel(QUEUE);
        let (finished, done) = mpsc::sync_channel(1);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let lost = std::sync::Arc::clone(&dropped);
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                Ring::new(path, id).run(&events, &lost);
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
    file: Option<File>,
    next_seq: Option<u64>,
    waiting: std::collections::VecDeque<Pending>,
    /// Events dropped so far, and how many of them were said.
    said_dropped: u64,
}

impl Ring {
    fn new(path: PathBuf, id: HostId) -> Ring {
        Ring {
            path,
            id,
            file: None,
            next_seq: None,
            waiting: std::collections::VecDeque::new(),
            said_dropped: 0,
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
            if lost > self.said_dropped {
                let text = format!(
                    "{} event(s) not recorded: the shared storage was too slow for them",
                    lost - self.said_dropped
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
        }
        self.waiting.push_back(event);
    }

    /// Writes what waits, in order; stops at the first failure (the file is
    /// opened again on the next try).
    fn flush(&mut self) -> std::io::Result<()> {
        while let Some((unix_ms, kind, text)) = self.waiting.front().cloned() {
            let seq = match self.next_seq {
                Some(seq) => seq,
                None => self.first_seq()?,
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
            self.next_seq = Some(seq + 1);
            self.waiting.pop_front();
        }
        Ok(())
    }

    fn file(&mut self) -> std::io::Result<&File> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_DSYNC)
                .open(&self.path)?;
            if file.metadata()?.len() < RING_BYTES as u64 {
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
        let (history, writer) = History::start(path.clone(), 3).unwrap();
        history.record(EventKind::Agent, "ovirt-ha-agent started");
        history.record(EventKind::Lease, "claiming the engine VM lease (epoch 1)");
        drop(history);
        assert!(writer.finish(Duration::from_secs(10)));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RING_BYTES as u64);
        let (history, writer) = History::start(path.clone(), 3).unwrap();
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
        // The ring's directory is a file for now: every write fails.
        let blocker = dir.path().join("history");
        std::fs::write(&blocker, b"").unwrap();
        let path = blocker.join("host-1.ring");
        let (history, writer) = History::start(path.clone(), 1).unwrap();
        history.record(EventKind::Storage, "storage failure: gone");
        std::thread::sleep(Duration::from_millis(300));
        std::fs::remove_file(&blocker).unwrap();
        history.record(EventKind::Storage, "storage available again");
        drop(history);
        assert!(writer.finish(Duration::from_secs(10)));
        let texts: Vec<String> = read(&path, 1).into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["storage failure: gone", "storage available again"]);
    }
}
