//! The metadata store against real files, a FIFO that never answers, and injected
//! backends that stall or fail.

mod common;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hosted_engine::metadata::{
    AREA_SIZE, Extra, HostRecord, LEASE_EPOCH_KEY, LEASE_KEY, SLOT_SIZE, SlotError, decode_area,
    encode_host_slot, slot_offset,
};
use hosted_engine::shell::store::{
    AlignedBuf, FileBackend, MetadataStore, Op, StoreError, VolumeBackend, init_volume,
};

const TIMEOUT: Duration = Duration::from_secs(5);

fn record(id: u16) -> HostRecord {
    HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts: 1000 + u64::from(id),
        host_id: id,
        score: 3400,
        engine_status: r#"{"vm": "up", "health": "good", "detail": "Up"}"#.into(),
        hostname: format!("host{id}"),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 1000,
    }
}

fn slot_bytes(id: u16) -> Box<[u8; SLOT_SIZE]> {
    let mut extra = Extra::new();
    extra.push("state", "EngineUp");
    extra.push(LEASE_KEY, "held");
    extra.push(LEASE_EPOCH_KEY, id.to_string());
    encode_host_slot(id, &record(id), &extra).unwrap()
}

/// Directories to try: the ordinary temp dir and, where it exists, tmpfs. Both
/// accept O_DIRECT on current kernels (tmpfs since Linux 6.6), so this exercises
/// the direct path on two filesystems; the fallback for storage that refuses
/// O_DIRECT is tested by fault injection in `src/shell/store.rs`.
fn volume_dirs() -> Vec<tempfile::TempDir> {
    let mut dirs = vec![tempfile::tempdir().unwrap()];
    if common::require("a tmpfs at /dev/shm", Path::new("/dev/shm").is_dir()) {
        dirs.push(tempfile::tempdir_in("/dev/shm").unwrap());
    }
    dirs
}

#[test]
fn a_missing_requirement_skips_visibly_or_fails_when_required() {
    assert_eq!(common::decide("x", true, true), Ok(true));
    assert_eq!(common::decide("x", false, false), Ok(false));
    let err = common::decide("a tmpfs at /dev/shm", false, true).unwrap_err();
    assert!(
        err.starts_with("this test needs a tmpfs at /dev/shm"),
        "{err}"
    );
}

#[test]
fn slots_1_7_2000_survive_a_corrupt_neighbour() {
    for dir in volume_dirs() {
        let path = dir.path().join("hosted-engine.metadata");
        init_volume(&path, false, TIMEOUT).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), AREA_SIZE as u64);
        let mut store = MetadataStore::open(&path, TIMEOUT);
        exercise_1_7_2000(&path, &mut store);
        // The page-cache path (storage without O_DIRECT) behaves the same.
        init_volume(&path, true, TIMEOUT).unwrap();
        let backend = FileBackend::with_direct_io(&path, false);
        let mut buffered = MetadataStore::with_backend("buffered", backend, TIMEOUT);
        exercise_1_7_2000(&path, &mut buffered);
    }
}

fn exercise_1_7_2000(path: &Path, store: &mut MetadataStore) {
    for id in [1u16, 7, 2000] {
        store.write_slot(id, &slot_bytes(id)).unwrap();
    }
    // Flip one hex digit of slot 7's stored CRC (field 9) behind the store's back.
    let mut bytes = std::fs::read(path).unwrap();
    let slot7 = slot_offset(7) as usize;
    let record_text = std::str::from_utf8(&bytes[slot7..slot7 + 200]).unwrap();
    let crc_at = record_text.match_indices('|').nth(8).unwrap().0 + 1;
    bytes[slot7 + crc_at] = if bytes[slot7 + crc_at] == b'0' {
        b'1'
    } else {
        b'0'
    };
    std::fs::write(path, &bytes).unwrap();

    let area = decode_area(&store.read_area().unwrap());
    assert_eq!(area.hosts.len(), 3, "{}", path.display());
    for id in [1u16, 2000] {
        let slot = area.hosts[&id].as_ref().unwrap();
        assert_eq!(slot.record, record(id));
        assert_eq!(slot.extra.lease().unwrap().unwrap().epoch, u64::from(id));
    }
    assert!(matches!(area.hosts[&7], Err(SlotError::CrcMismatch { .. })));
    // The global slot was never written: empty, no maintenance.
    assert!(!area.global.unwrap().maintenance().unwrap());
}

#[test]
fn write_touches_exactly_one_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume");
    std::fs::write(&path, vec![0xAAu8; AREA_SIZE + 3 * SLOT_SIZE]).unwrap();
    let mut store = MetadataStore::open(&path, TIMEOUT);
    store.write_slot(5, &slot_bytes(5)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let start = slot_offset(5) as usize;
    assert_eq!(&bytes[start..start + SLOT_SIZE], &slot_bytes(5)[..]);
    assert!(bytes[..start].iter().all(|&b| b == 0xAA));
    assert!(bytes[start + SLOT_SIZE..].iter().all(|&b| b == 0xAA));
}

#[test]
fn init_refuses_live_metadata_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume");
    init_volume(&path, false, TIMEOUT).unwrap();
    // A zeroed volume counts as empty: init again is fine.
    init_volume(&path, false, TIMEOUT).unwrap();
    let mut store = MetadataStore::open(&path, TIMEOUT);
    store.write_slot(3, &slot_bytes(3)).unwrap();
    let err = init_volume(&path, false, TIMEOUT).unwrap_err();
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("without force"));
    assert_eq!(decode_area(&store.read_area().unwrap()).hosts.len(), 1);
    init_volume(&path, true, TIMEOUT).unwrap();
    assert!(decode_area(&store.read_area().unwrap()).hosts.is_empty());
}

/// A fresh or wiped volume file is holes, so reading an unused slot costs no
/// storage I/O (the whole-area read stays cheap for every reader).
#[test]
fn init_makes_a_sparse_volume_where_the_file_system_has_holes() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume");
    let allocated = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
    let probe = dir.path().join("probe");
    std::fs::write(&probe, vec![1u8; 1 << 20]).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&probe)
        .unwrap();
    // SAFETY: fallocate on an open descriptor.
    let holes = unsafe {
        use std::os::fd::AsRawFd;
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            1 << 20,
        )
    } == 0;
    if !common::require("a file system with hole punching for the temp dir", holes) {
        return;
    }
    init_volume(&path, false, TIMEOUT).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), AREA_SIZE as u64);
    assert!(
        allocated(&path) < (AREA_SIZE / 8) as u64,
        "{}",
        allocated(&path)
    );
    std::fs::write(&path, vec![9u8; AREA_SIZE]).unwrap();
    init_volume(&path, true, TIMEOUT).unwrap();
    assert!(
        allocated(&path) < (AREA_SIZE / 8) as u64,
        "{}",
        allocated(&path)
    );
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn init_keeps_a_larger_volume_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume");
    let size = AREA_SIZE + 10 * SLOT_SIZE;
    std::fs::write(&path, vec![7u8; size]).unwrap();
    init_volume(&path, true, TIMEOUT).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), size);
    assert!(bytes[..AREA_SIZE].iter().all(|&b| b == 0));
    assert!(bytes[AREA_SIZE..].iter().all(|&b| b == 7));
}

#[test]
fn too_small_and_missing_volumes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::write(&small, [1u8; 100]).unwrap();
    let err = MetadataStore::open(&small, TIMEOUT)
        .read_area()
        .unwrap_err();
    assert!(matches!(err, StoreError::TooSmall { .. }), "{err}");

    let missing = dir.path().join("missing");
    let err = MetadataStore::open(&missing, TIMEOUT)
        .read_area()
        .unwrap_err();
    match err {
        StoreError::Io { op, source, .. } => {
            assert_eq!(op, Op::Read);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other}"),
    }
}

#[test]
fn slot_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(dir.path().join("v"), TIMEOUT);
    let err = store.write_slot(2001, &[1u8; SLOT_SIZE]).unwrap_err();
    assert!(matches!(err, StoreError::BadSlot { slot: 2001 }));
}

/// Unblocks a FIFO's blocked opener when dropped, so the I/O thread can finish.
struct FifoRelease(PathBuf);

impl Drop for FifoRelease {
    fn drop(&mut self) {
        // Opening the other end read-write never blocks and releases a blocked
        // reader; it then reads EOF (or an error) and returns.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0);
    }
}

#[test]
fn a_volume_that_never_answers_times_out_within_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: plain mkfifo(3) on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let _release = FifoRelease(path.clone());

    let deadline = Duration::from_millis(300);
    let mut store = MetadataStore::open(&path, deadline);
    let started = Instant::now();
    let err = store.read_area().unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, StoreError::Timeout { op: Op::Read, .. }),
        "{err}"
    );
    assert!(waited >= deadline, "returned early: {waited:?}");
    assert!(
        waited < deadline + Duration::from_secs(2),
        "hung: {waited:?}"
    );
    assert!(err.to_string().contains("timed out after 300 ms"), "{err}");
    // The open is still blocked: the next call refuses at once instead of queueing.
    let err = store.write_slot(1, &slot_bytes(1)).unwrap_err();
    assert!(
        matches!(err, StoreError::Stalled { op: Op::Write, .. }),
        "{err}"
    );
    assert!(err.is_timeout());
}

/// A backend whose reads block until the test lets them go, and can fail on demand.
struct GatedBackend {
    gate: mpsc::Receiver<io::Result<()>>,
}

impl VolumeBackend for GatedBackend {
    fn read_area(&mut self, buf: &mut AlignedBuf) -> io::Result<()> {
        self.gate
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("gate closed")))?;
        buf[SLOT_SIZE..2 * SLOT_SIZE].copy_from_slice(&slot_bytes(1)[..]);
        Ok(())
    }

    fn write_slot(&mut self, _offset: u64, _buf: &AlignedBuf) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_backend_times_out_then_recovers() {
    let (open_gate, gate) = mpsc::channel();
    let mut store =
        MetadataStore::with_backend("gated", GatedBackend { gate }, Duration::from_millis(200));
    let err = store.read_area().unwrap_err();
    assert!(matches!(err, StoreError::Timeout { .. }), "{err}");
    assert!(matches!(
        store.read_area().unwrap_err(),
        StoreError::Stalled { .. }
    ));
    // The storage comes back: the stuck read finishes (its answer is discarded).
    open_gate.send(Ok(())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let area = loop {
        open_gate.send(Ok(())).unwrap();
        match store.read_area() {
            Ok(area) => break area,
            Err(StoreError::Stalled { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("store did not recover: {e}"),
        }
    };
    assert!(decode_area(&area).hosts[&1].is_ok());
    // An I/O failure is reported as such, with the operation named.
    open_gate
        .send(Err(io::Error::other("disk on fire")))
        .unwrap();
    // Drain any spare permits from the loop above first.
    let err = loop {
        match store.read_area() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        err.to_string().contains("gated: read: disk on fire"),
        "{err}"
    );
}

/// A backend whose writes block until the test lets them go; reads answer at once.
struct StallingWrites {
    gate: mpsc::Receiver<()>,
    landed: mpsc::Sender<u64>,
}

impl VolumeBackend for StallingWrites {
    fn read_area(&mut self, _buf: &mut AlignedBuf) -> io::Result<()> {
        Ok(())
    }

    fn write_slot(&mut self, offset: u64, _buf: &AlignedBuf) -> io::Result<()> {
        self.gate
            .recv()
            .map_err(|_| io::Error::other("gate closed"))?;
        let _ = self.landed.send(offset);
        Ok(())
    }
}

#[test]
fn a_stalled_write_times_out_then_refuses_and_may_still_land() {
    let (release, gate) = mpsc::channel();
    let (landed, writes) = mpsc::channel();
    let deadline = Duration::from_millis(200);
    let backend = StallingWrites { gate, landed };
    let mut store = MetadataStore::with_backend("stalling", backend, deadline);

    let started = Instant::now();
    let err = store.write_slot(3, &slot_bytes(3)).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, StoreError::Timeout { op: Op::Write, .. }),
        "{err}"
    );
    assert!(waited >= deadline, "returned early: {waited:?}");
    assert!(
        waited < deadline + Duration::from_secs(2),
        "hung: {waited:?}"
    );
    assert!(err.is_timeout());
    // While the write is blocked every call refuses at once, reads included.
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.read_area().unwrap_err();
        assert!(
            matches!(err, StoreError::Stalled { op: Op::Read, .. }),
            "{err}"
        );
        let err = store.write_slot(3, &slot_bytes(3)).unwrap_err();
        assert!(
            matches!(err, StoreError::Stalled { op: Op::Write, .. }),
            "{err}"
        );
        assert!(
            started.elapsed() < deadline,
            "a stalled store must not wait"
        );
    }
    // The timed-out write was not cancelled: it lands when the storage answers.
    assert!(writes.try_recv().is_err());
    release.send(()).unwrap();
    let offset = writes.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(offset, slot_offset(3));
    // Then the store works again.
    let deadline_at = Instant::now() + Duration::from_secs(10);
    loop {
        match store.read_area() {
            Ok(_) => break,
            Err(StoreError::Stalled { .. }) if Instant::now() < deadline_at => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("store did not recover: {e}"),
        }
    }
}

#[test]
fn a_path_that_no_longer_names_the_open_volume_is_reopened_or_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    init_volume(&path, false, TIMEOUT).unwrap();
    let mut store = MetadataStore::open(&path, TIMEOUT);
    store.write_slot(1, &slot_bytes(1)).unwrap();
    assert_eq!(decode_area(&store.read_area().unwrap()).hosts.len(), 1);
    // The storage goes away (as after `umount -l`): the open descriptor would
    // still work, but the path is gone, so the store must say so.
    let away = dir.path().join("away");
    std::fs::rename(&path, &away).unwrap();
    let err = store.read_area().unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(store.write_slot(2, &slot_bytes(2)).is_err());
    // A different volume appears at the path (a remount): it is the one used.
    init_volume(&path, false, TIMEOUT).unwrap();
    assert!(decode_area(&store.read_area().unwrap()).hosts.is_empty());
    store.write_slot(2, &slot_bytes(2)).unwrap();
    let area = decode_area(&store.read_area().unwrap());
    assert_eq!(area.hosts.keys().copied().collect::<Vec<_>>(), [2]);
}
