//! File I/O for configuration files: bounded reads, atomic replacement, and a
//! sidecar `flock` that serialises read-modify-write cycles between processes.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::document::{FILE_SIZE_MAX_BYTES, KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors, ErrorKind};

/// How long an update waits for another updater's lock before giving up. Updates
/// hold the lock for one small read and write, so waiting this long means the holder
/// is stuck, and the caller should say so rather than hang.
pub const LOCK_TIMEOUT_MS: u64 = 10_000;

/// Longest pause between two attempts to take a busy lock.
const LOCK_RETRY_PAUSE_MAX_MS: u64 = 50;

/// Makes temporary file names unique between threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_error(path: &Path, what: &str, error: &io::Error) -> ConfigError {
    // std's messages start with a capital; ours are lowercase.
    let text = error.to_string();
    let mut chars = text.chars();
    let text = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    };
    ConfigError::new(ErrorKind::Io, path, format!("{what}: {text}"))
}

/// The file's bytes, `None` when it does not exist. Refuses files over
/// [`FILE_SIZE_MAX_BYTES`] before reading them.
pub fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, "cannot open", &e)),
    };
    let too_large = || {
        let message = format!("file is larger than {FILE_SIZE_MAX_BYTES} bytes");
        ConfigError::new(ErrorKind::TooLarge, path, message)
    };
    let len_bytes = file
        .metadata()
        .map_err(|e| io_error(path, "cannot stat", &e))?
        .len();
    if len_bytes > FILE_SIZE_MAX_BYTES as u64 {
        return Err(too_large());
    }
    // The size can change between stat and read (or be 0 for special files), so
    // the read itself is bounded too.
    let mut bytes = Vec::with_capacity(len_bytes as usize);
    file.take(FILE_SIZE_MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, "cannot read", &e))?;
    if bytes.len() > FILE_SIZE_MAX_BYTES {
        return Err(too_large());
    }
    Ok(Some(bytes))
}

/// Reads and parses a document. A missing file is an error when `required`, an
/// empty document (all defaults) otherwise.
pub fn read_document(
    path: &Path,
    syntax: Syntax,
    required: bool,
) -> Result<KvDocument, ConfigError> {
    match read_bounded(path)? {
        Some(bytes) => KvDocument::parse_bytes(path, syntax, &bytes),
        None if required => Err(ConfigError::new(
            ErrorKind::NotFound,
            path,
            "file does not exist",
        )),
        None => Ok(KvDocument::new(path, syntax)),
    }
}

/// Replaces `path` with `contents` so that every reader sees either the old or the
/// new file, never a mix or a truncated one, even across a crash: write a temporary
/// file in the same directory, fsync it, rename it over `path`, fsync the directory.
///
/// An existing file's permission bits (and, when allowed, owner) are kept; a new
/// file gets `new_file_mode`.
pub fn write_atomic(path: &Path, contents: &[u8], new_file_mode: u32) -> Result<(), ConfigError> {
    let dir = parent_dir(path);
    let Some(name) = path.file_name() else {
        return Err(ConfigError::new(ErrorKind::Io, path, "not a file path"));
    };
    let existing = fs::metadata(path).ok();
    let mode = existing
        .as_ref()
        .map_or(new_file_mode, |m| m.permissions().mode() & 0o7777);
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    temp_name.push(format!(".tmp.{}.{unique}", std::process::id()));
    let temp = dir.join(temp_name);
    let written = write_temp(&temp, contents, mode, existing.as_ref())
        .map_err(|e| io_error(&temp, "cannot write", &e))
        .and_then(|()| fs::rename(&temp, path).map_err(|e| io_error(path, "cannot replace", &e)));
    if let Err(error) = written {
        // Best effort: the temporary file is hidden and uniquely named, so a
        // leftover one harms nothing but space.
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(&dir, "cannot sync directory", &e))
}

fn write_temp(
    temp: &Path,
    contents: &[u8],
    mode: u32,
    existing: Option<&fs::Metadata>,
) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(temp)?;
    // The umask may have cleared bits that the file had; restore them exactly.
    file.set_permissions(Permissions::from_mode(mode))?;
    if let Some(old) = existing {
        let new = file.metadata()?;
        if (old.uid(), old.gid()) != (new.uid(), new.gid()) {
            // Root editing a file owned by the agent's user must not take it away
            // from that user. Without the privilege the chown fails and the file
            // belongs to the writer, which is all an unprivileged writer can do.
            match std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid())) {
                Err(e) if e.kind() != io::ErrorKind::PermissionDenied => return Err(e),
                _ => {}
            }
        }
    }
    file.write_all(contents)?;
    file.sync_all()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The lock file of `path`: `<path>.lock`. The lock lives beside the file, not on
/// it, because an atomic rename replaces the file's inode and with it any lock
/// held on it.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive `flock` on a sidecar lock file, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Takes the exclusive lock for `path`, waiting at most `timeout_ms`.
pub fn lock_exclusive(path: &Path, timeout_ms: u64) -> Result<FileLock, ConfigError> {
    let lock = lock_path(path);
    let file = open_lock_file(&lock).map_err(|e| io_error(&lock, "cannot open lock file", &e))?;
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let mut pause_ms = 1;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io_error(&lock, "cannot lock", &e)),
        }
        if Instant::now() >= deadline {
            let message = format!("still locked by another updater after {timeout_ms} ms");
            return Err(ConfigError::new(ErrorKind::Io, &lock, message));
        }
        std::thread::sleep(Duration::from_millis(pause_ms));
        pause_ms = (pause_ms * 2).min(LOCK_RETRY_PAUSE_MAX_MS);
    }
}

fn open_lock_file(lock: &Path) -> io::Result<File> {
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(lock);
    match created {
        // `flock` needs only an open descriptor: a lock file created by another
        // user (root's command, the agent's user) is still usable read-only.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(lock),
        other => other,
    }
}

/// Read-modify-write of one file under its lock: reads the document, lets `edit`
/// change it (and check the result), and writes it back atomically only when the
/// text changed. Concurrent editors of the same file are serialised, so none loses
/// another's change; readers need no lock because every write is atomic.
pub fn locked_edit<R>(
    path: &Path,
    syntax: Syntax,
    required: bool,
    new_file_mode: u32,
    edit: impl FnOnce(&mut KvDocument) -> Result<R, ConfigErrors>,
) -> Result<R, ConfigErrors> {
    let _lock = lock_exclusive(path, LOCK_TIMEOUT_MS)?;
    let mut doc = read_document(path, syntax, required)?;
    let before = doc.render();
    let result = edit(&mut doc)?;
    let after = doc.render();
    if after != before {
        write_atomic(path, after.as_bytes(), new_file_mode)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_as_none_or_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.conf");
        assert_eq!(read_bounded(&path).unwrap(), None);
        let error = read_document(&path, Syntax::Flat, true).unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound);
        let doc = read_document(&path, Syntax::Flat, false).unwrap();
        assert_eq!(doc.render(), "");
    }

    #[test]
    fn oversized_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.conf");
        let file = File::create(&path).unwrap();
        file.set_len(FILE_SIZE_MAX_BYTES as u64 + 1).unwrap();
        assert_eq!(read_bounded(&path).unwrap_err().kind, ErrorKind::TooLarge);
    }

    #[test]
    fn atomic_write_keeps_mode_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ha.conf");
        write_atomic(&path, b"a=1\n", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"a=2\n", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a=2\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("ha.conf")]);
    }

    #[test]
    fn failed_write_reports_the_path() {
        let path = Path::new("/nonexistent-dir-for-test/ha.conf");
        let error = write_atomic(path, b"x", 0o644).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Io);
        assert!(
            error.to_string().contains("/nonexistent-dir-for-test/"),
            "{error}"
        );
    }

    #[test]
    fn busy_lock_times_out_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ha.conf");
        let held = lock_exclusive(&path, 1_000).unwrap();
        let error = lock_exclusive(&path, 30).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Io);
        assert!(
            error.to_string().contains("ha.conf.lock: still locked"),
            "{error}"
        );
        drop(held);
        assert!(lock_exclusive(&path, 30).is_ok());
    }
}
