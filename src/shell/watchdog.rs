//! A hardware watchdog (`/dev/watchdog`-style device): petted after every loop
//! that renewed the lease (or holds none), so that a hung agent (stopped, wedged
//! in the kernel) gets its host reset before other hosts may expire its lease.
//! Its timeout must be shorter than `lease-dead` minus the power-off time.
//!
//! Linux watchdog devices: any write pets; writing `V` just before closing
//! ("magic close") disarms the device, which a clean stop does. A crashed agent
//! never writes it, so the device fires. The path is configurable so that tests
//! and the lab can use a plain file as a stand-in.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An open watchdog device.
pub struct Watchdog {
    path: PathBuf,
    file: Option<File>,
}

impl Watchdog {
    /// Opens (and so arms) the device.
    pub fn open(path: &Path) -> io::Result<Watchdog> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Watchdog {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pets the device (keeps the host alive for another timeout).
    pub fn pet(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => {
                file.write_all(b"\n")?;
                file.flush()
            }
            None => Err(io::Error::other("watchdog already disarmed")),
        }
    }

    /// Magic close: disarms the device (clean stop only).
    pub fn disarm(&mut self) -> io::Result<()> {
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
    fn pets_then_magic_close_on_a_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = Watchdog::open(&path).unwrap();
        dog.pet().unwrap();
        dog.pet().unwrap();
        dog.disarm().unwrap();
        assert!(dog.pet().is_err(), "no pets after the magic close");
        assert_eq!(std::fs::read(&path).unwrap(), b"\n\nV");
    }

    #[test]
    fn a_missing_device_names_its_path() {
        let err = Watchdog::open(Path::new("/no/such/watchdog"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such/watchdog"), "{err}");
    }
}
