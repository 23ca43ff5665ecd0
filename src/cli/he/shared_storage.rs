//! Operations on the shared storage, each bounded in time: a hung NFS
//! server must not hang the command. A leaf of `hosted-engine`'s modules.

use std::path::Path;
use std::time::Duration;

use super::failure::{Failure, FailureKind};
use crate::config::write_atomic;
use crate::deadline::{self, Overrun};

/// Bound on a file of the shared storage being written (a hung NFS server).
const SHARED_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `op` on the shared storage on its own thread, waiting at most
/// [`SHARED_WRITE_TIMEOUT`]: a hung server must not hang the command.
pub fn on_storage<T: Send + 'static>(
    path: &Path,
    op: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    match deadline::run("deploy-storage", SHARED_WRITE_TIMEOUT, op) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::new(
            FailureKind::Storage,
            format!("{}: {e}", path.display()),
        )),
        Err(Overrun::Spawn(e)) => Err(Failure::new(
            FailureKind::Io,
            format!("spawning a thread: {e}"),
        )),
        Err(Overrun::Panicked) => Err(Failure::new(
            FailureKind::Io,
            format!("{}: the storage operation panicked", path.display()),
        )),
        Err(Overrun::Late(after)) => Err(Failure::new(
            FailureKind::Storage,
            format!(
                "{}: the storage did not answer within {} s",
                path.display(),
                after.as_secs()
            ),
        )),
    }
}

/// Writes `bytes` to `path` on the shared storage (atomically, mode 0644),
/// bounded.
pub fn shared_write(path: &Path, bytes: Vec<u8>) -> Result<(), Failure> {
    let target = path.to_path_buf();
    on_storage(path, move || {
        write_atomic(&target, &bytes, 0o644).map_err(|e| std::io::Error::other(e.to_string()))
    })
}
