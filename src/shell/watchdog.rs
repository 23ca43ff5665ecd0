//! A hardware watchdog (`/dev/watchdog`-style device), armed only while this
//! host has something at stake (a lease claimed or held, or the engine VM
//! here): armed before such a publish (nothing is published when it cannot
//! be), then petted after every loop until the lease is overdue, so that a
//! hung agent (stopped, wedged in the kernel) gets its host reset before other
//! hosts may start the engine: its timeout must lie within
//! `Timings::watchdog_range_ms` (docs/operations.md 3.4), which the agent
//! checks at start, setting a device's timeout when it lies outside
//! ([`open_configured`]). A host with nothing at stake disarms it: a stall
//! there endangers nobody and must not reset the host (sanlock, too, arms the
//! watchdog only while it holds leases). A device with `nowayout` cannot be
//! disarmed: it is petted throughout.
//!
//! Linux watchdog devices: opening arms, any write pets; writing `V` just before
//! closing ("magic close") disarms the device, which a clean stop does. A
//! crashed agent never writes it, so the device fires. The path is configurable
//! so that tests and the lab can use a plain file as a stand-in; a stand-in has
//! no timeout to ask, so `watchdog_timeout_secs` gives it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use super::agent_loop::{Watchdog, WatchdogError};
use super::system::TRANSITION_TARGET;
use crate::config::{HostedEngineConf, Timings, WatchdogSetting, format_secs};
use crate::core::Millis;

/// `linux/watchdog.h`: `WDIOC_GETTIMEOUT` = `_IOR('W', 7, int)`, the timeout
/// in seconds.
const WDIOC_GETTIMEOUT: libc::Ioctl = libc::_IOR::<libc::c_int>(b'W' as u32, 7);
/// `linux/watchdog.h`: `WDIOC_SETTIMEOUT` = `_IOWR('W', 6, int)`: sets the
/// timeout in seconds (and writes back the one the device took).
const WDIOC_SETTIMEOUT: libc::Ioctl = libc::_IOWR::<libc::c_int>(b'W' as u32, 6);

/// What [`WatchdogDevice::expire`] writes to a stand-in file: the lab's
/// emulated watchdog resets the host when a write ends with it.
pub const EXPIRE_BYTE: u8 = b'!';
/// The longest timeout [`WatchdogDevice::expire`] tries (drivers refuse one
/// below their minimum, e.g. `iTCO_wdt` below 2 s).
const EXPIRE_SECS_MAX: u32 = 10;

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

    /// One of the timeout ioctls on the open device: `secs` in, the device's
    /// timeout out.
    fn timeout_ioctl(&self, request: libc::Ioctl, secs: u32) -> io::Result<u32> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("the device is not open"))?;
        let mut value = libc::c_int::try_from(secs).map_err(io::Error::other)?;
        // SAFETY: both requests take a pointer to one int, which outlives the
        // call; the descriptor is open (owned by `file`).
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), request, &mut value as *mut libc::c_int) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        u32::try_from(value)
            .map_err(|_| io::Error::other(format!("the device reports a timeout of {value} s")))
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

    /// Has the host reset as soon as the device can: its shortest timeout
    /// (`WDIOC_SETTIMEOUT` of 1 s, else of the next whole second the driver
    /// takes, up to [`EXPIRE_SECS_MAX`]; setting it restarts the countdown),
    /// never petted again. A stand-in file has no timeout to set: it gets
    /// [`EXPIRE_BYTE`], which the lab's emulated watchdog takes as a reset.
    pub fn expire(&mut self) -> io::Result<()> {
        self.arm()?;
        let file = self.file.as_mut().expect("armed above");
        if !file.metadata()?.file_type().is_char_device() {
            file.write_all(&[EXPIRE_BYTE])?;
            return file.flush();
        }
        let mut refused = io::Error::other("no timeout tried");
        for secs in 1..=EXPIRE_SECS_MAX {
            match self.set_timeout(secs) {
                Ok(()) => return Ok(()),
                Err(e) => refused = e,
            }
        }
        Err(refused)
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

/// A device's timeout as the agent's start needs it (a trait so that the rule
/// in [`settle_device_timeout`] is tested without a device).
pub trait DeviceTimeout {
    /// The timeout in seconds (`WDIOC_GETTIMEOUT`).
    fn get_timeout(&mut self) -> io::Result<u32>;
    /// Asks for `secs` (`WDIOC_SETTIMEOUT`); the device may round or refuse.
    fn set_timeout(&mut self, secs: u32) -> io::Result<()>;
}

impl DeviceTimeout for WatchdogDevice {
    fn get_timeout(&mut self) -> io::Result<u32> {
        self.timeout_ioctl(WDIOC_GETTIMEOUT, 0)
    }

    fn set_timeout(&mut self, secs: u32) -> io::Result<()> {
        self.timeout_ioctl(WDIOC_SETTIMEOUT, secs).map(drop)
    }
}

/// `ms` in whole seconds, rounded down (a device's timeout is whole seconds).
fn whole_secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// What the operator can do about a timeout the agent refuses.
fn timeout_advice(timings: &Timings) -> String {
    let (min, max) = timings.watchdog_range_ms();
    format!(
        "set it within {}..{} s with watchdog_timeout_secs in hosted-engine.conf (the agent \
         sets a device to it at start), or with the driver's option (e.g. softdog \
         soft_margin={}, iTCO_wdt heartbeat={})",
        format_secs(min),
        format_secs(max),
        whole_secs(max),
        whole_secs(max)
    )
}

/// The device's timeout at the agent's start: read; when it lies outside what
/// `timings` allow, or differs from `wanted` (`watchdog_timeout_secs`), set to
/// `wanted` or else the range's maximum, and read back (a device may round or
/// refuse). Returns the timeout and, when it was set or could not be, a line
/// for the log; `Err` is why the agent must not start.
pub fn settle_device_timeout(
    dev: &mut impl DeviceTimeout,
    path: &Path,
    wanted: Option<u32>,
    timings: &Timings,
) -> Result<(u32, Option<String>), String> {
    let path = path.display();
    let unreadable =
        |e: io::Error| format!("{path}: cannot read its timeout (WDIOC_GETTIMEOUT): {e}");
    let before = dev.get_timeout().map_err(unreadable)?;
    let fits = |secs: u32| {
        timings
            .watchdog_timeout_problem(u64::from(secs) * 1000)
            .is_none()
    };
    let target = wanted.unwrap_or_else(|| whole_secs(timings.watchdog_range_ms().1));
    if fits(before) && wanted.is_none_or(|w| w == before) {
        return Ok((before, None));
    }
    let refused = dev.set_timeout(target).err();
    let after = dev.get_timeout().map_err(unreadable)?;
    let how = match &refused {
        Some(e) => format!("the device refused {target} s (WDIOC_SETTIMEOUT: {e})"),
        None if after == target => format!("set from {before} s to {after} s"),
        None => format!("asked for {target} s, the device took {after} s (was {before} s)"),
    };
    match timings.watchdog_timeout_problem(u64::from(after) * 1000) {
        None => Ok((after, Some(format!("{path}: timeout {after} s: {how}")))),
        Some(problem) => Err(format!(
            "{path}: timeout {after} s {problem}; {how}; {}",
            timeout_advice(timings)
        )),
    }
}

/// A plain-file stand-in's timeout: `watchdog_timeout_secs`, required (there
/// is no device to ask) and within what `timings` allow.
pub fn stand_in_timeout(
    path: &Path,
    configured: Option<u32>,
    timings: &Timings,
) -> Result<u32, String> {
    let secs = configured.ok_or_else(|| {
        format!(
            "{}: a plain file stands in for the watchdog device, and has no timeout to ask: \
             watchdog_timeout_secs is required in hosted-engine.conf ({})",
            path.display(),
            timeout_advice(timings)
        )
    })?;
    match timings.watchdog_timeout_problem(u64::from(secs) * 1000) {
        None => Ok(secs),
        Some(problem) => Err(format!(
            "{}: timeout {secs} s (watchdog_timeout_secs) {problem}; {}",
            path.display(),
            timeout_advice(timings)
        )),
    }
}

/// This host's watchdog as `he` configures it, with its timeout in ms
/// (`None`: no watchdog, acknowledged). A device is opened (so armed: the
/// first loop pets or releases it) and its timeout settled; one the agent
/// refuses is disarmed again before the error (unless `nowayout`, which the
/// error then says). A stand-in's timeout is checked before it is opened.
pub fn open_configured(
    he: &HostedEngineConf,
    timings: &Timings,
) -> anyhow::Result<(HostWatchdog, Option<u64>)> {
    let path = match &he.watchdog_device {
        Some(WatchdogSetting::Device(path)) => path,
        Some(WatchdogSetting::None) => return Ok((HostWatchdog::None(NoWatchdog), None)),
        // Config::load_for_agent refuses this first, with the whole story.
        None => anyhow::bail!("{}: watchdog_device is not set", he.path().display()),
    };
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if meta.is_file() {
        let secs = stand_in_timeout(path, he.watchdog_timeout_secs, timings)
            .map_err(anyhow::Error::msg)?;
        let dog = WatchdogDevice::open(path)?;
        return Ok((HostWatchdog::Device(dog), Some(u64::from(secs) * 1000)));
    }
    let mut dog = WatchdogDevice::open(path)?;
    match settle_device_timeout(&mut dog, path, he.watchdog_timeout_secs, timings) {
        Ok((secs, note)) => {
            if let Some(note) = note {
                tracing::info!(target: TRANSITION_TARGET, "{note}");
            }
            Ok((HostWatchdog::Device(dog), Some(u64::from(secs) * 1000)))
        }
        Err(why) => match dog.release() {
            Ok(true) => Err(anyhow::Error::msg(why)),
            _ => Err(anyhow::anyhow!(
                "{why} (the device could not be disarmed: nowayout, or not known to allow \
                 it; a watchdog resets this host when its timeout runs out)"
            )),
        },
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

    fn expire(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        WatchdogDevice::expire(self).map_err(|e| WatchdogError(e.to_string()))
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

    fn expire(&mut self, _now: Millis) -> Result<(), WatchdogError> {
        Err(WatchdogError("there is no watchdog device".to_owned()))
    }
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

    fn expire(&mut self, now: Millis) -> Result<(), WatchdogError> {
        match self {
            HostWatchdog::Device(dog) => Watchdog::expire(dog, now),
            HostWatchdog::None(none) => none.expire(now),
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
    fn expiring_a_stand_in_arms_it_and_ends_it_with_the_expire_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = WatchdogDevice::open(&path).unwrap();
        Watchdog::release(&mut dog, Millis::ZERO);
        assert!(!dog.armed());
        Watchdog::expire(&mut dog, Millis::ZERO).unwrap();
        assert!(dog.armed());
        assert_eq!(std::fs::read(&path).unwrap().last(), Some(&EXPIRE_BYTE));
        assert!(
            NoWatchdog.expire(Millis::ZERO).is_err(),
            "no device cannot fire"
        );
    }

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

    /// A device whose timeout is `secs`; a set takes `takes(asked)` (e.g. a
    /// driver that rounds), or fails when that is `None`.
    struct FakeDevice {
        secs: u32,
        takes: fn(u32) -> Option<u32>,
        sets: Vec<u32>,
    }

    impl DeviceTimeout for FakeDevice {
        fn get_timeout(&mut self) -> io::Result<u32> {
            Ok(self.secs)
        }

        fn set_timeout(&mut self, secs: u32) -> io::Result<()> {
            self.sets.push(secs);
            let took = (self.takes)(secs).ok_or_else(|| io::Error::from_raw_os_error(22))?;
            self.secs = took;
            Ok(())
        }
    }

    fn device(secs: u32, takes: fn(u32) -> Option<u32>) -> FakeDevice {
        FakeDevice {
            secs,
            takes,
            sets: Vec::new(),
        }
    }

    const DEV: &str = "/dev/watchdog";

    #[test]
    fn a_device_timeout_within_the_range_is_kept() {
        let t = Timings::default();
        for secs in [12, 14, 16] {
            let mut dev = device(secs, Some);
            let got = settle_device_timeout(&mut dev, Path::new(DEV), None, &t);
            assert_eq!(got, Ok((secs, None)));
            assert!(dev.sets.is_empty(), "{secs}: set anyway");
        }
    }

    #[test]
    fn a_device_timeout_outside_the_range_is_set_to_its_maximum() {
        let t = Timings::default();
        for before in [60, 5] {
            let mut dev = device(before, Some);
            let (secs, note) = settle_device_timeout(&mut dev, Path::new(DEV), None, &t).unwrap();
            assert_eq!(secs, 16);
            assert_eq!(dev.sets, [16]);
            assert_eq!(
                note.as_deref(),
                Some(format!("/dev/watchdog: timeout 16 s: set from {before} s to 16 s").as_str())
            );
        }
        // A driver that rounds to a multiple of 5 lands inside the range too.
        let mut dev = device(60, |asked| Some(asked / 5 * 5));
        let (secs, note) = settle_device_timeout(&mut dev, Path::new(DEV), None, &t).unwrap();
        assert_eq!(secs, 15);
        assert!(
            note.unwrap()
                .ends_with("asked for 16 s, the device took 15 s (was 60 s)")
        );
    }

    #[test]
    fn a_configured_timeout_is_set_even_when_the_device_s_own_fits() {
        let t = Timings::default();
        let mut dev = device(16, Some);
        let got = settle_device_timeout(&mut dev, Path::new(DEV), Some(13), &t);
        assert_eq!(got.map(|(secs, _)| secs), Ok(13));
        assert_eq!(dev.sets, [13]);
        // Already there: nothing to set.
        let mut dev = device(13, Some);
        let got = settle_device_timeout(&mut dev, Path::new(DEV), Some(13), &t);
        assert_eq!(got, Ok((13, None)));
        assert!(dev.sets.is_empty());
    }

    #[test]
    fn a_device_that_keeps_a_timeout_the_lease_does_not_allow_is_refused() {
        let t = Timings::default();
        let mut dev = device(60, |_| None);
        let why = settle_device_timeout(&mut dev, Path::new(DEV), None, &t).unwrap_err();
        assert!(
            why.starts_with(
                "/dev/watchdog: timeout 60 s is longer than the lease allows (at most 16 s = \
                 lease-dead-secs 40 + lease-settle-secs 8 - lease-fail-secs 22 - \
                 storage-timeout-secs 5 - lease-margin-secs 5)"
            ),
            "{why}"
        );
        assert!(
            why.contains("; the device refused 16 s (WDIOC_SETTIMEOUT: "),
            "{why}"
        );
        assert!(
            why.ends_with(
                "set it within 12..16 s with watchdog_timeout_secs in hosted-engine.conf (the \
                 agent sets a device to it at start), or with the driver's option (e.g. softdog \
                 soft_margin=16, iTCO_wdt heartbeat=16)"
            ),
            "{why}"
        );
        // One that takes a value but not the one asked for, too short.
        let mut dev = device(60, |_| Some(10));
        let why = settle_device_timeout(&mut dev, Path::new(DEV), None, &t).unwrap_err();
        assert!(
            why.starts_with(
                "/dev/watchdog: timeout 10 s is shorter than a slow storage allows (at least \
                 12 s = loop-secs 2 + 2 x storage-timeout-secs 5)"
            ),
            "{why}"
        );
        assert!(
            why.contains("asked for 16 s, the device took 10 s (was 60 s)"),
            "{why}"
        );
    }

    #[test]
    fn an_unreadable_device_timeout_is_refused() {
        struct Mute;
        impl DeviceTimeout for Mute {
            fn get_timeout(&mut self) -> io::Result<u32> {
                Err(io::Error::from_raw_os_error(libc::ENOTTY))
            }
            fn set_timeout(&mut self, _secs: u32) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENOTTY))
            }
        }
        let why = settle_device_timeout(&mut Mute, Path::new(DEV), None, &Timings::default())
            .unwrap_err();
        assert!(
            why.starts_with("/dev/watchdog: cannot read its timeout (WDIOC_GETTIMEOUT): "),
            "{why}"
        );
    }

    /// linux/watchdog.h's numbers on the architectures with the generic
    /// ioctl layout (glibc types the request as an unsigned long).
    #[cfg(all(
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[test]
    fn the_ioctl_numbers_are_linux_s() {
        assert_eq!(WDIOC_GETTIMEOUT, 0x8004_5707);
        assert_eq!(WDIOC_SETTIMEOUT, 0xc004_5706);
    }

    fn he_conf(dir: &Path, watchdog: &str) -> HostedEngineConf {
        use crate::config::ConfFile as _;
        let text =
            format!("fqdn=e\nhost_id=1\nstorage=/s\ndomainType=dir\nnetwork_test=none\n{watchdog}");
        HostedEngineConf::parse(&dir.join("hosted-engine.conf"), &text).unwrap()
    }

    #[test]
    fn a_stand_in_takes_its_timeout_from_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let t = Timings::default();
        let device = format!("watchdog_device={}\n", path.display());
        let (dog, ms) = open_configured(
            &he_conf(dir.path(), &format!("{device}watchdog_timeout_secs=15\n")),
            &t,
        )
        .unwrap();
        assert_eq!(ms, Some(15_000));
        assert_eq!(dog.path(), Some(path.as_path()));
        // Without it: refused.
        let why = open_configured(&he_conf(dir.path(), &device), &t)
            .err()
            .unwrap()
            .to_string();
        assert!(
            why.contains(
                "a plain file stands in for the watchdog device, and has no timeout to ask: \
                 watchdog_timeout_secs is required"
            ),
            "{why}"
        );
        // Outside the range: refused too.
        let why = stand_in_timeout(&path, Some(20), &t).unwrap_err();
        assert!(
            why.starts_with(&format!(
                "{}: timeout 20 s (watchdog_timeout_secs) is longer than the lease allows \
                 (at most 16 s",
                path.display()
            )),
            "{why}"
        );
    }

    /// The real ioctl on a character device that is no watchdog: the kernel
    /// answers ENOTTY, and the agent refuses (naming the ioctl) instead of
    /// guessing a timeout.
    #[test]
    fn a_character_device_without_a_watchdog_timeout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let he = he_conf(dir.path(), "watchdog_device=/dev/null\n");
        let why = open_configured(&he, &Timings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            why.starts_with("/dev/null: cannot read its timeout (WDIOC_GETTIMEOUT): "),
            "{why}"
        );
        assert!(why.contains("(os error 25)"), "ENOTTY expected: {why}");
    }

    #[test]
    fn no_watchdog_only_where_the_configuration_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let t = Timings::default();
        let none = he_conf(
            dir.path(),
            "watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n",
        );
        let (dog, ms) = open_configured(&none, &t).unwrap();
        assert!(matches!(dog, HostWatchdog::None(NoWatchdog)));
        assert_eq!(ms, None);
        let unset = he_conf(dir.path(), "");
        let why = open_configured(&unset, &t).err().unwrap().to_string();
        assert!(why.ends_with("watchdog_device is not set"), "{why}");
        let missing = he_conf(dir.path(), "watchdog_device=/no/such/watchdog\n");
        let why = open_configured(&missing, &t).err().unwrap().to_string();
        assert!(why.starts_with("/no/such/watchdog: "), "{why}");
    }

    #[test]
    fn a_missing_device_names_its_path() {
        let err = WatchdogDevice::open(Path::new("/no/such/watchdog"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/no/such/watchdog"), "{err}");
    }
}
