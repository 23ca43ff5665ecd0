//! A hardware watchdog (`/dev/watchdog`-style device), armed only while this
//! host has something at stake (a lease claimed or held, or the engine VM
//! here) and then petted after every loop that renewed the lease, so that a
//! hung agent (stopped, wedged in the kernel) gets its host reset before other
//! hosts may expire its lease. Its timeout must be shorter than `lease-dead`
//! minus the power-off time. A host with nothing at stake disarms it: a stall
//! there endangers nobody and must not reset the host (sanlock, too, arms the
//! watchdog only while it holds leases).
//!
//! Linux watchdog devices: opening arms, any write pets; writing `V` just before
//! closing ("magic close") disarms the device, which a clean stop does. A
//! crashed agent never writes it, so the device fires. The path is configurable
//! so that tests and the lab can use a plain file as a stand-in.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A watchdog device; armed while open.
pub struct Watchdog {
    path: PathBuf,
    file: Option<File>,
}

impl Watchdog {
    /// Opens (and so arms) the device: the agent's first loop pets or
    /// releases it.
    pub fn open(path: &Path) -> io::Result<Watchdog> {
        let file = Self::open_device(path)?;
        Ok(Watchdog {
            path: path.to_path_buf(),
            file: Some(file),
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

    /// Pets the device (keeps the host alive for another timeout), arming it
    /// again first when it was released.
    pub fn pet(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(Self::open_device(&self.path)?),
        };
        file.write_all(b"\n")?;
        file.flush()
    }

    /// Magic close: disarms the device (nothing at stake, or a clean stop).
    /// Releasing a released device does nothing.
    pub fn release(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.write_all(b"V")?;
            file.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_releases_and_arms_again_on_a_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = Watchdog::open(&path).unwrap();
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
    }

    #[test]
    fn a_missing_device_names_its_path() {
        let err = Watchdog::open(Path::new("/no/such/watchdog"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such/watchdog"), "{err}");
    }
}
