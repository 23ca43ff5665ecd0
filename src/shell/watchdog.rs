//! A hardware watchdog (`/dev/watchdog`-style device), armed only while this
//! host has something at stake (a lease claimed or held, or the engine VM
//! here): armed before such a publish (nothing is published when it cannot
//! be), then petted after every loop until the lease is overdue, so that a
//! hung agent (stopped, wedged in the kernel) gets its host reset before other
//! hosts may start the engine: its timeout must be shorter than `lease-dead +
//! lease-settle - lease-fail` (docs/operations.md). A host with nothing at
//! stake disarms it: a stall there endangers nobody and must not reset the host
//! (sanlock, too, arms the watchdog only while it holds leases). A device with
//! `nowayout` cannot be disarmed: it is petted throughout.
//!
//! Linux watchdog devices: opening arms, any write pets; writing `V` just before
//! closing ("magic close") disarms the device, which a clean stop does. A
//! crashed agent never writes it, so the device fires. The path is configurable
//! so that tests and the lab can use a plain file as a stand-in.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use super::agent_loop::{Watchdog, WatchdogError};
use crate::core::Millis;

/// A watchdog device; armed while open.
pub struct WatchdogDevice {
    path: PathBuf,
    file: Option<File>,
    /// Whether a magic close disarms it: not on a device with `nowayout`,
    /// which keeps counting after any close (the agent then never releases it
    /// and keeps petting, stake or not).
    releasable: bool,
}

impl WatchdogDevice {
    /// Opens (and so arms) the device: the agent's first loop pets or
    /// releases it.
    pub fn open(path: &Path) -> io::Result<WatchdogDevice> {
        let file = Self::open_device(path)?;
        let releasable = releasable(path, &file);
        Ok(WatchdogDevice {
            path: path.to_path_buf(),
            file: Some(file),
            releasable,
        })
    }

    fn open_device(path: &Path) -> io::Result<File> {
        // Append: on a stand-in file every open writes after what is there
        // (a real device ignores it).
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the device is armed (open).
    pub fn armed(&self) -> bool {
        self.file.is_some()
    }

    /// Whether [`Watchdog::release`] disarms it (no `nowayout`).
    pub fn releasable(&self) -> bool {
        self.releasable
    }

    /// Arms the device (opens it again after a release). Fails when it cannot
    /// be opened, e.g. another program took it meanwhile: the caller must then
    /// not take on anything the watchdog should guard.
    pub fn arm(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(Self::open_device(&self.path)?);
        }
        Ok(())
    }

    /// Pets the device (keeps the host alive for another timeout), arming it
    /// first when it was released.
    pub fn pet(&mut self) -> io::Result<()> {
        self.arm()?;
        let file = self.file.as_mut().expect("armed above");
        file.write_all(b"\n")?;
        file.flush()
    }

    /// Magic close: disarms the device (nothing at stake, or a clean stop);
    /// `Ok(false)` when it cannot be disarmed (`nowayout`): it is petted
    /// instead. Releasing a released device does nothing.
    pub fn release(&mut self) -> io::Result<bool> {
        if !self.releasable {
            self.pet()?;
            return Ok(false);
        }
        if let Some(mut file) = self.file.take() {
            file.write_all(b"V")?;
            file.flush()?;
        }
        Ok(true)
    }
}

impl Watchdog for WatchdogDevice {
    fn arm(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        WatchdogDevice::arm(self).map_err(|e| WatchdogError(e.to_string()))
    }

    fn pet(&mut self, _now: Millis) {
        // A failed pet shows as the host's reset, which is the point.
        if let Err(e) = WatchdogDevice::pet(self) {
            tracing::warn!("{}: cannot pet the watchdog: {e}", self.path.display());
        }
    }

    fn release(&mut self, _now: Millis) {
        if let Err(e) = WatchdogDevice::release(self) {
            tracing::warn!("{}: cannot disarm the watchdog: {e}", self.path.display());
        }
    }
}

/// No watchdog at all. A host without one is unfenced: an agent paused past
/// `lease-dead` runs its engine VM beside the next holder's. Used only where
/// the configuration acknowledges that on purpose (and by tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoWatchdog;

impl Watchdog for NoWatchdog {
    fn arm(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        Ok(())
    }

    fn pet(&mut self, _now: Millis) {}

    fn release(&mut self, _now: Millis) {}
}

/// The daemon's watchdog: a device, or none (acknowledged in the configuration).
pub enum HostWatchdog {
    Device(WatchdogDevice),
    None(NoWatchdog),
}

impl HostWatchdog {
    /// Whether a release really disarms it (a device without `nowayout`, or none).
    pub fn releasable(&self) -> bool {
        match self {
            HostWatchdog::Device(dog) => dog.releasable(),
            HostWatchdog::None(_) => true,
        }
    }

    /// The device's path, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            HostWatchdog::Device(dog) => Some(dog.path()),
            HostWatchdog::None(_) => None,
        }
    }
}

impl Watchdog for HostWatchdog {
    fn arm(&mut self, now: Millis) -> Result<(), WatchdogError> {
        match self {
            HostWatchdog::Device(dog) => Watchdog::arm(dog, now),
            HostWatchdog::None(none) => none.arm(now),
        }
    }

    fn pet(&mut self, now: Millis) {
        match self {
            HostWatchdog::Device(dog) => Watchdog::pet(dog, now),
            HostWatchdog::None(none) => none.pet(now),
        }
    }

    fn release(&mut self, now: Millis) {
        match self {
            HostWatchdog::Device(dog) => Watchdog::release(dog, now),
            HostWatchdog::None(none) => none.release(now),
        }
    }
}

/// Whether a magic close disarms the device at `path`: a plain file (a
/// stand-in) always; a device unless its `/sys/class/watchdog/<name>/nowayout`
/// says 1, or cannot be read (then it is never released, the safe side).
fn releasable(path: &Path, file: &File) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if meta.file_type().is_file() {
        return true;
    }
    if !meta.file_type().is_char_device() {
        return false;
    }
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = match resolved.file_name().and_then(|n| n.to_str()) {
        // `/dev/watchdog` is the legacy name of the first device.
        Some("watchdog") => "watchdog0".to_owned(),
        Some(name) => name.to_owned(),
        None => return false,
    };
    nowayout_allows_release(&std::fs::read_to_string(
        Path::new("/sys/class/watchdog").join(name).join("nowayout"),
    ))
}

/// A sysfs `nowayout` reading: only a clear `0` allows a release.
fn nowayout_allows_release(read: &io::Result<String>) -> bool {
    matches!(read, Ok(text) if text.trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_releases_and_arms_again_on_a_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = WatchdogDevice::open(&path).unwrap();
        assert!(dog.armed());
        dog.pet().unwrap();
        dog.pet().unwrap();
        dog.release().unwrap();
        assert!(!dog.armed());
        dog.release().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\n\nV", "one magic close");
        // Something at stake again: the next pet opens (arms) the device.
        dog.pet().unwrap();
        assert!(dog.armed());
        assert_eq!(std::fs::read(&path).unwrap(), b"\n\nV\n");
        // Arming alone opens without a write.
        dog.release().unwrap();
        dog.arm().unwrap();
        assert!(dog.armed());
        assert_eq!(std::fs::read(&path).unwrap(), b"\n\nV\nV");
    }

    #[test]
    fn only_a_clear_nowayout_0_allows_a_release() {
        assert!(nowayout_allows_release(&Ok("0\n".into())));
        assert!(!nowayout_allows_release(&Ok("1\n".into())));
        assert!(!nowayout_allows_release(&Err(io::Error::other("gone"))));
    }

    #[test]
    fn a_device_that_cannot_be_released_is_petted_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = WatchdogDevice::open(&path).unwrap();
        assert!(dog.releasable(), "a stand-in file is releasable");
        dog.releasable = false;
        assert!(!dog.release().unwrap());
        assert!(dog.armed());
        assert_eq!(std::fs::read(&path).unwrap(), b"\n");
    }

    #[test]
    fn arming_fails_when_the_device_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = WatchdogDevice::open(&path).unwrap();
        dog.release().unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(dog.arm().is_err());
        assert!(dog.pet().is_err());
        assert!(!dog.armed());
    }

    #[test]
    fn a_missing_device_names_its_path() {
        let err = WatchdogDevice::open(Path::new("/no/such/watchdog"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such/watchdog"), "{err}");
    }
}
