//! Host ids claimed on the shared storage: `ha_agent/host-ids/<id>`, created
//! exclusively, so two hosts deployed at once never take the same id
//! (`--deploy`); `--clean-metadata` gives an id back. A leaf of
//! `hosted-engine`'s modules.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind as IoErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::failure::{Failure, FailureKind};
use super::shared_storage::on_storage;
use crate::config::HOST_ID_MAX;
use crate::metadata::HostId;

/// Where host ids are claimed, one file per id.
pub const HOST_IDS_DIR: &str = "host-ids";

/// Claims `id` in `dir`: `Ok(false)` when another host holds it.
pub fn claim(dir: &Path, id: HostId, hostname: &str) -> Result<bool, Failure> {
    let path = dir.join(id.to_string());
    let text = format!("hostname={hostname}\nclaimed={}\n", utc_now());
    let target = path.clone();
    let created = on_storage(&path, move || {
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&target)
        {
            Ok(file) => file,
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e),
        };
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(true)
    })?;
    if created {
        let dir = dir.to_path_buf();
        on_storage(&dir.clone(), move || fs::File::open(&dir)?.sync_all())?;
    }
    Ok(created)
}

/// The lowest id that no slot uses and nobody has claimed, claimed.
pub fn claim_lowest_free(dir: &Path, taken: &[HostId], hostname: &str) -> Result<HostId, Failure> {
    // The claims there now, read once (bounded); a claim made meanwhile by
    // another host fails our exclusive create, and we try the next id.
    let claimed: Vec<HostId> = claims(dir)?.into_iter().map(|(id, _)| id).collect();
    for id in 1..=HOST_ID_MAX {
        if taken.contains(&id) || claimed.contains(&id) {
            continue;
        }
        if claim(dir, id, hostname)? {
            return Ok(id);
        }
    }
    Err(Failure::new(
        FailureKind::Refused,
        format!("every host id (1 to {HOST_ID_MAX}) is taken"),
    ))
}

/// The claims in `dir` (ids and files), none when it does not exist.
pub fn claims(dir: &Path) -> Result<Vec<(HostId, PathBuf)>, Failure> {
    let target = dir.to_path_buf();
    on_storage(dir, move || {
        let entries = match fs::read_dir(&target) {
            Ok(entries) => entries,
            Err(e) if e.kind() == IoErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found: Vec<(HostId, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let id = e.file_name().to_str()?.parse().ok()?;
                Some((id, e.path()))
            })
            .collect();
        found.sort();
        Ok(found)
    })
}

/// What host `id`'s claim file says (`hostname=...`), if it exists.
pub fn claim_text(volume: &Path, id: HostId) -> Result<Option<String>, Failure> {
    let Some(ha_agent) = volume.parent() else {
        return Ok(None);
    };
    let path = ha_agent.join(HOST_IDS_DIR).join(id.to_string());
    let target = path.clone();
    on_storage(&path, move || match fs::read_to_string(&target) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == IoErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })
}

/// Removes the claim file `path`, bounded; a missing one is fine.
pub fn remove_claim(path: &Path) -> Result<(), Failure> {
    let target = path.to_path_buf();
    on_storage(path, move || match fs::remove_file(&target) {
        Err(e) if e.kind() == IoErrorKind::NotFound => Ok(()),
        other => other,
    })
}

/// Removes host `id`'s claim under the volume's directory (for
/// `--clean-metadata`); a missing claim is fine.
pub fn release_claim(volume: &Path, id: HostId) -> Result<(), Failure> {
    let Some(ha_agent) = volume.parent() else {
        return Ok(());
    };
    remove_claim(&ha_agent.join(HOST_IDS_DIR).join(id.to_string()))
}

/// Now, as a claim file and `--deploy`'s header of `hosted-engine.conf` say
/// it: `ctime` in UTC.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format!("{} UTC", crate::metadata::ctime(secs, 0))
}
