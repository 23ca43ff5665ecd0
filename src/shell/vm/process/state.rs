//! The state file: which process is our VM, replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::procfs::parse_boot_id;

/// A state file is a few hundred bytes; anything larger is corrupt.
const STATE_FILE_BYTES_MAX: u64 = 4096;
pub(super) const STATE_VERSION: u32 = 1;

/// Makes temporary file names unique between threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The state file: which process is our VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) version: u32,
    pub(super) pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: clock ticks since boot.
    pub(super) start_ticks: u64,
    pub(super) boot_id: String,
    pub(super) epoch: u64,
    /// A graceful shutdown was asked: its end is not a crash.
    pub(super) stopping: bool,
}

pub(super) fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if rec.version != STATE_VERSION {
        return Err(format!("unknown version {}", rec.version));
    }
    if rec.pid <= 0 {
        return Err(format!("bad pid {}", rec.pid));
    }
    if parse_boot_id(rec.boot_id.as_bytes()).as_deref() != Some(rec.boot_id.as_str()) {
        return Err("bad boot id".into());
    }
    Ok(rec)
}

/// A small file's bytes, `None` when it does not exist; over
/// [`STATE_FILE_BYTES_MAX`] is an error.
pub(super) fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(STATE_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STATE_FILE_BYTES_MAX {
        // Parsed as corrupt rather than refused: a state file this large is garbage.
        bytes.truncate(STATE_FILE_BYTES_MAX as usize);
    }
    Ok(Some(bytes))
}

/// Replaces the state file atomically: temp file, fsync, rename, fsync the
/// directory.
pub(super) fn write_record(path: &Path, rec: &Record) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(rec).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir)?;
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = with_suffix(path, &format!(".tmp.{}.{unique}", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    File::open(dir)?.sync_all()
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_nonsense() {
        let rec = Record {
            version: STATE_VERSION,
            pid: 12,
            start_ticks: 34,
            boot_id: "0b5e6f3c-1d2a-4a8e-9b1c-7f0e2d3c4b5a".into(),
            epoch: 9,
            stopping: false,
        };
        assert_eq!(
            parse_record(&serde_json::to_vec(&rec).unwrap()),
            Ok(rec.clone())
        );
        let breaks: [fn(&mut Record); 5] = [
            |r| r.version = 2,
            |r| r.pid = 0,
            |r| r.pid = -1,
            |r| r.boot_id.clear(),
            |r| r.boot_id = "a b".into(),
        ];
        for brk in breaks {
            let mut bad = rec.clone();
            brk(&mut bad);
            assert!(
                parse_record(&serde_json::to_vec(&bad).unwrap()).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_record(b"{\"pid\":1}").is_err());
        assert!(parse_record(b"\0\0\0").is_err());
    }
}
