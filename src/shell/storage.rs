//! The shared metadata volume as the agent loop's [`Storage`]: the deadline-bound
//! [`MetadataStore`] plus a connect command run at start and whenever the storage
//! is lost (test plan case 5: reconnect without touching the VM).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::agent_loop::{Storage, StorageError, StorageOp};
use crate::metadata::{Area, HostId, SLOT_SIZE, decode_area};
use crate::shell::store::{MetadataStore, Op, StoreError};

/// Most output of the connect command kept for the log.
const CONNECT_OUTPUT_MAX: usize = 4096;

/// How to reach the metadata volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    pub volume: PathBuf,
    /// Run (argv, no shell) at start and after a failure, e.g. a mount.
    pub connect_argv: Option<Vec<String>>,
    /// Bound on one read or write.
    pub io_timeout: Duration,
    /// Bound on one run of the connect command.
    pub connect_timeout: Duration,
    /// Least time between two runs of the connect command.
    pub connect_backoff: Duration,
}

/// The metadata volume on shared storage.
pub struct FileStorage {
    cfg: StorageConfig,
    store: MetadataStore,
    last_connect: Option<Instant>,
    /// What the last connect attempt said (for the log and the status).
    pub last_connect_result: Option<String>,
    /// How long the last read and the last write took (for the metrics).
    pub last_read: Option<Duration>,
    pub last_write: Option<Duration>,
}

impl FileStorage {
    /// Opens the store and runs the connect command once.
    pub fn open(cfg: StorageConfig) -> FileStorage {
        let store = MetadataStore::open(&cfg.volume, cfg.io_timeout);
        let mut storage = FileStorage {
            cfg,
            store,
            last_connect: None,
            last_connect_result: None,
            last_read: None,
            last_write: None,
        };
        storage.connect();
        storage
    }

    pub fn volume(&self) -> &Path {
        &self.cfg.volume
    }

    fn connect(&mut self) {
        let Some(argv) = self.cfg.connect_argv.clone() else {
            return;
        };
        if let Some(at) = self.last_connect
            && at.elapsed() < self.cfg.connect_backoff
        {
            return;
        }
        self.last_connect = Some(Instant::now());
        self.last_connect_result = Some(run_bounded(&argv, self.cfg.connect_timeout));
        // The store opens the volume again by itself when its path now names
        // another file (a remount). A store whose call is still blocked on the
        // storage is kept, never replaced: its write may still land, and a
        // second write in flight beside it could land first, to be overwritten
        // by the older one later (a late write: readers ignore it by its
        // sequence, but one that never read the newer write would learn an
        // old epoch). Until that call returns, every call answers that an
        // earlier one is still blocked: a holder fences, nobody claims.
        if !self.store.stalled() {
            self.store = MetadataStore::open(&self.cfg.volume, self.cfg.io_timeout);
        }
    }
}

impl Storage for FileStorage {
    fn read_area(&mut self) -> Result<Arc<Area>, StorageError> {
        let started = Instant::now();
        let read = self.store.read_area();
        self.last_read = Some(started.elapsed());
        Ok(Arc::new(decode_area(&read.map_err(storage_error)?)))
    }

    fn write_slot(&mut self, slot: HostId, bytes: &[u8; SLOT_SIZE]) -> Result<(), StorageError> {
        let started = Instant::now();
        let written = self.store.write_slot(slot, bytes);
        self.last_write = Some(started.elapsed());
        written.map_err(storage_error)
    }

    fn reconnect(&mut self) {
        self.connect();
    }
}

/// The store's error as the agent loop sees it (the message keeps the path).
fn storage_error(e: StoreError) -> StorageError {
    let op = |op: Op| match op {
        Op::Write => StorageOp::Write,
        Op::Read | Op::Init => StorageOp::Read,
    };
    match e {
        StoreError::Timeout { op: o, after, .. } => StorageError::Timeout {
            op: op(o),
            after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        },
        StoreError::Stalled { op: o, .. } => StorageError::Busy { op: op(o) },
        StoreError::Io { op: o, .. } => StorageError::Failed {
            op: op(o),
            reason: e.to_string(),
        },
        other => StorageError::Failed {
            op: StorageOp::Read,
            reason: other.to_string(),
        },
    }
}

/// Runs `argv` with a deadline; returns one line describing the outcome.
pub fn run_bounded(argv: &[String], timeout: Duration) -> String {
    run_checked(argv, timeout).unwrap_or_else(|failed| failed)
}

/// Runs `argv` with a deadline: `Ok` with the outcome line when it exited with
/// status 0, `Err` with it otherwise (failed, killed at the deadline, or not
/// started).
pub fn run_checked(argv: &[String], timeout: Duration) -> Result<String, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("no command".into());
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Err(format!("{program}: {e}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let output = child
                    .wait_with_output()
                    .map(|o| o.stderr)
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&output[..output.len().min(CONNECT_OUTPUT_MAX)])
                    .trim()
                    .replace('\n', " ");
                let line = format!(
                    "{program}: {status}{}{text}",
                    if text.is_empty() { "" } else { ": " }
                );
                return if status.success() {
                    Ok(line)
                } else {
                    Err(line)
                };
            }
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program}: killed after {} ms",
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{program}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_commands_report_status_and_timeout() {
        let ok = run_bounded(&["true".into()], Duration::from_secs(5));
        assert!(ok.contains("exit status: 0"), "{ok}");
        let slow = run_bounded(&["sleep".into(), "5".into()], Duration::from_millis(200));
        assert!(slow.contains("killed after 200 ms"), "{slow}");
        let missing = run_bounded(&["/no/such/program".into()], Duration::from_secs(1));
        assert!(missing.contains("/no/such/program"), "{missing}");
    }

    /// Writes hang until the test lets them through.
    struct GatedWrites {
        gate: std::sync::mpsc::Receiver<()>,
    }

    impl crate::shell::store::VolumeBackend for GatedWrites {
        fn read_area(&mut self, _buf: &mut crate::shell::store::AlignedBuf) -> std::io::Result<()> {
            Ok(())
        }

        fn write_slot(
            &mut self,
            _offset: u64,
            _buf: &crate::shell::store::AlignedBuf,
        ) -> std::io::Result<()> {
            self.gate
                .recv()
                .map_err(|_| std::io::Error::other("gate closed"))
        }
    }

    /// A write that hangs may still land: until it returns, a reconnect keeps
    /// the store, which refuses every call (never a second write in flight
    /// beside it, which could land first and be overwritten by it).
    #[test]
    fn a_reconnect_keeps_a_store_whose_write_still_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("connected");
        let (release, gate) = std::sync::mpsc::channel();
        let cfg = StorageConfig {
            volume: dir.path().join("v"),
            connect_argv: Some(vec!["touch".into(), marker.display().to_string()]),
            io_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(5),
            connect_backoff: Duration::ZERO,
        };
        let store = MetadataStore::with_backend("gated", GatedWrites { gate }, cfg.io_timeout);
        let mut storage = FileStorage {
            cfg,
            store,
            last_connect: None,
            last_connect_result: None,
            last_read: None,
            last_write: None,
        };
        let slot = [0u8; SLOT_SIZE];
        let err = storage.write_slot(1, &slot).unwrap_err();
        assert!(matches!(err, StorageError::Timeout { .. }), "{err}");
        storage.reconnect();
        assert!(marker.exists(), "the connect command still runs");
        let err = storage.read_area().unwrap_err();
        assert!(matches!(err, StorageError::Busy { .. }), "{err}");
        assert!(matches!(
            storage.write_slot(1, &slot).unwrap_err(),
            StorageError::Busy { .. }
        ));
        // The hung write returns: the store answers again.
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while storage.read_area().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the store never answered again"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn reads_and_writes_through_the_store_and_reconnects() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("v");
        let marker = dir.path().join("connected");
        let cfg = StorageConfig {
            volume: volume.clone(),
            connect_argv: Some(vec!["touch".into(), marker.display().to_string()]),
            io_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            connect_backoff: Duration::ZERO,
        };
        crate::shell::store::init_volume(&volume, false, Duration::from_secs(5)).unwrap();
        let mut storage = FileStorage::open(cfg);
        assert!(marker.exists(), "connect command ran at open");
        let area = storage.read_area().unwrap();
        assert!(area.hosts.is_empty());
        std::fs::remove_file(&marker).unwrap();
        storage.reconnect();
        assert!(marker.exists(), "connect command ran again");
        assert!(
            storage
                .last_connect_result
                .as_deref()
                .unwrap()
                .contains("exit status: 0")
        );
    }
}
