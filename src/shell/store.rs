//! The metadata volume on shared storage: one read of the whole area, one write of
//! one whole slot, each bounded by a deadline.
//!
//! Shared storage can hang (an NFS server gone, a FUSE daemon stopped). A thread
//! blocked in the kernel cannot be cancelled, so every operation runs on one
//! dedicated I/O thread per store while the caller waits at most its deadline.
//! An operation that overran its deadline may still be blocked there; until it
//! returns, further calls fail at once with [`StoreError::Stalled`] instead of
//! queueing behind it. So a hung volume costs one thread, never an unbounded queue.
//!
//! Durability: the volume is opened with `O_DIRECT | O_DSYNC` so that a write has
//! reached the storage (and a read bypasses this host's page cache, seeing other
//! hosts' writes) before the call returns. Filesystems that refuse `O_DIRECT`
//! (tmpfs before Linux 6.6, some FUSE), at open or at the first I/O, get
//! `O_DSYNC` alone, with the page cache dropped before each read. Since few test
//! machines have such a filesystem, the unit tests below inject that refusal.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread;
use std::time::Duration;

use crate::deadline::{self, Overrun};
use crate::metadata::{AREA_SIZE, HOST_ID_MAX, SLOT_SIZE, slot_offset};

/// Alignment `O_DIRECT` needs for buffers, offsets and lengths on every
/// filesystem we meet (the logical block size is at most 4096).
const DIRECT_ALIGN: usize = 4096;

/// A zeroed heap buffer aligned for `O_DIRECT`.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for AlignedBuf {}
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (`len` > 0).
    pub fn zeroed(len: usize) -> AlignedBuf {
        assert!(len > 0, "aligned buffer of zero bytes");
        let layout = Layout::from_size_align(len, DIRECT_ALIGN).expect("buffer layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }

    pub fn from_slice(bytes: &[u8]) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(bytes.len());
        buf.copy_from_slice(bytes);
        buf
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, DIRECT_ALIGN).expect("buffer layout");
        // SAFETY: allocated in `zeroed` with this very layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised bytes for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

/// What the store was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Init,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Init => "init",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage did not answer within the deadline. The operation is not
    /// cancelled (a thread blocked in the kernel cannot be): it is still pending
    /// on the I/O thread, and **a timed-out write may still land later**, after
    /// the caller has moved on. Treat the slot's content as unknown, not as
    /// unchanged; further calls answer [`StoreError::Stalled`] until the pending
    /// operation returns.
    #[error("{path}: {op} timed out after {} ms", after.as_millis())]
    Timeout {
        path: String,
        op: Op,
        after: Duration,
    },
    #[error("{path}: {op} refused: an earlier operation is still blocked on the storage")]
    Stalled { path: String, op: Op },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: Op,
        #[source]
        source: io::Error,
    },
    #[error("{path}: the volume is smaller than the {AREA_SIZE}-byte metadata area")]
    TooSmall { path: String },
    #[error("{path}: the volume already holds metadata; refusing to overwrite it without force")]
    NotEmpty { path: String },
    #[error("slot {slot} is out of range 0..={HOST_ID_MAX}")]
    BadSlot { slot: u32 },
}

impl StoreError {
    /// Whether the storage did not answer in time (as opposed to answering badly).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout { .. } | StoreError::Stalled { .. }
        )
    }
}

/// The I/O a store performs, on its own thread. A test may supply a backend that
/// stalls or fails; the daemon uses [`FileBackend`].
pub trait VolumeBackend: Send + 'static {
    /// Fills `buf` (exactly [`AREA_SIZE`] bytes) from offset 0.
    fn read_area(&mut self, buf: &mut AlignedBuf) -> io::Result<()>;
    /// Writes `buf` (exactly one slot) at `offset`, durably.
    fn write_slot(&mut self, offset: u64, buf: &AlignedBuf) -> io::Result<()>;
}

/// The metadata volume as a file (or block device) path.
///
/// Separate read and write descriptors, opened on first use and dropped after any
/// error so that the next call opens the path again (the storage may have been
/// remounted underneath it).
pub struct FileBackend {
    path: PathBuf,
    /// Whether to try `O_DIRECT` at all (it is still dropped where refused).
    try_direct: bool,
    reader: Option<OpenVolume>,
    writer: Option<OpenVolume>,
    faults: DirectFaults,
}

/// Refusals of `O_DIRECT` that tests inject, since the filesystems that really
/// refuse it are rare on test machines. Never set outside tests.
#[derive(Debug, Default)]
struct DirectFaults {
    /// An open with `O_DIRECT` fails with EINVAL.
    refuse_open: bool,
    /// I/O on a descriptor opened with `O_DIRECT` fails with EINVAL.
    refuse_io: bool,
    /// How many refusals were injected, so a test can tell the path was taken.
    refused_opens: usize,
    refused_ios: usize,
}

impl DirectFaults {
    fn einval() -> io::Error {
        io::Error::from_raw_os_error(libc::EINVAL)
    }

    fn open(&mut self, direct: bool) -> io::Result<()> {
        if direct && self.refuse_open {
            self.refused_opens += 1;
            return Err(Self::einval());
        }
        Ok(())
    }

    fn io(&mut self, volume: &OpenVolume) -> io::Result<()> {
        if volume.direct && self.refuse_io {
            self.refused_ios += 1;
            return Err(Self::einval());
        }
        Ok(())
    }
}

struct OpenVolume {
    file: File,
    direct: bool,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        FileBackend::with_direct_io(path, true)
    }

    /// With `try_direct` false the page-cache path is used from the start, for
    /// storage known to mishandle `O_DIRECT`.
    pub fn with_direct_io(path: impl Into<PathBuf>, try_direct: bool) -> FileBackend {
        FileBackend {
            path: path.into(),
            try_direct,
            reader: None,
            writer: None,
            faults: DirectFaults::default(),
        }
    }

    /// Reads from offset 0 into `buf` until it is full or the volume ends, through
    /// the same descriptor as [`VolumeBackend::read_area`] (`O_DIRECT` where the
    /// storage takes it). Returns the bytes read.
    fn read_up_to(&mut self, buf: &mut AlignedBuf) -> io::Result<usize> {
        with_volume(
            &mut self.reader,
            &self.path,
            (false, self.try_direct),
            &mut self.faults,
            |volume| {
                let mut filled = 0;
                while filled < buf.len() {
                    match volume.file.read_at(&mut buf[filled..], filled as u64)? {
                        0 => break,
                        n => filled += n,
                    }
                }
                Ok(filled)
            },
        )
    }
}

fn open_volume(
    path: &Path,
    write: bool,
    direct: bool,
    faults: &mut DirectFaults,
) -> io::Result<OpenVolume> {
    let mut options = OpenOptions::new();
    options.read(!write).write(write);
    let mut flags = libc::O_DSYNC;
    if direct {
        flags |= libc::O_DIRECT;
    }
    options.custom_flags(flags);
    match faults.open(direct).and_then(|()| options.open(path)) {
        Ok(file) => Ok(OpenVolume { file, direct }),
        // EINVAL: this filesystem does not do O_DIRECT (tmpfs, some FUSE).
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
            open_volume(path, write, false, faults)
        }
        Err(e) => Err(e),
    }
}

/// Whether `path` (following symlinks) is still the file `open` refers to.
fn same_file(path: &Path, open: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let now = std::fs::metadata(path)?;
    let held = open.metadata()?;
    Ok(now.dev() == held.dev() && now.ino() == held.ino())
}

/// Runs `op` on the descriptor in `slot`, opening it first. When `O_DIRECT` was
/// accepted at open but the I/O itself refuses it (EINVAL), retries once without.
fn with_volume<T>(
    slot: &mut Option<OpenVolume>,
    path: &Path,
    (write, try_direct): (bool, bool),
    faults: &mut DirectFaults,
    mut op: impl FnMut(&OpenVolume) -> io::Result<T>,
) -> io::Result<T> {
    // The path must still name the file we hold open: after `umount -l` or a
    // remount, an old descriptor keeps working on storage nobody else sees.
    if let Some(open) = slot.as_ref() {
        match same_file(path, &open.file) {
            Ok(true) => {}
            Ok(false) => *slot = None,
            Err(e) => {
                *slot = None;
                return Err(e);
            }
        }
    }
    if slot.is_none() {
        *slot = Some(open_volume(path, write, try_direct, faults)?);
    }
    let volume = slot.as_ref().expect("opened above");
    let result = match faults.io(volume).and_then(|()| op(volume)) {
        Err(e) if volume.direct && e.raw_os_error() == Some(libc::EINVAL) => {
            let buffered = open_volume(path, write, false, faults)?;
            let retried = op(&buffered);
            *slot = Some(buffered);
            retried
        }
        other => other,
    };
    if result.is_err() {
        *slot = None;
    }
    result
}

impl VolumeBackend for FileBackend {
    fn read_area(&mut self, buf: &mut AlignedBuf) -> io::Result<()> {
        with_volume(
            &mut self.reader,
            &self.path,
            (false, self.try_direct),
            &mut self.faults,
            |volume| {
                if !volume.direct {
                    // Without O_DIRECT, drop cached pages first so that other hosts'
                    // writes are seen. Advisory: a failure here is not an I/O error.
                    // SAFETY: plain syscall on a descriptor we own.
                    unsafe {
                        libc::posix_fadvise(
                            volume.file.as_raw_fd(),
                            0,
                            AREA_SIZE as libc::off_t,
                            libc::POSIX_FADV_DONTNEED,
                        );
                    }
                }
                volume.file.read_exact_at(buf, 0)
            },
        )
    }

    fn write_slot(&mut self, offset: u64, buf: &AlignedBuf) -> io::Result<()> {
        with_volume(
            &mut self.writer,
            &self.path,
            (true, self.try_direct),
            &mut self.faults,
            |volume| {
                volume.file.write_all_at(buf, offset)?;
                if !volume.direct {
                    // O_DSYNC already makes the write durable; fdatasync is for
                    // filesystems that ignore the flag on buffered writes.
                    volume.file.sync_data()?;
                }
                Ok(())
            },
        )
    }
}

enum Job {
    Read {
        reply: SyncSender<io::Result<AlignedBuf>>,
    },
    Write {
        offset: u64,
        data: AlignedBuf,
        reply: SyncSender<io::Result<()>>,
    },
}

/// The metadata volume of one host's agent: reads the area, writes its slots,
/// every call bounded by `timeout`. Single caller by design (`&mut self`).
pub struct MetadataStore {
    name: String,
    timeout: Duration,
    jobs: SyncSender<Job>,
    busy: Arc<AtomicBool>,
}

impl MetadataStore {
    /// A store over the volume file at `path`. Nothing is opened until the first call.
    pub fn open(path: impl AsRef<Path>, timeout: Duration) -> MetadataStore {
        let path = path.as_ref();
        MetadataStore::with_backend(path.display().to_string(), FileBackend::new(path), timeout)
    }

    /// A store over any backend; `name` appears in errors.
    pub fn with_backend(
        name: impl Into<String>,
        backend: impl VolumeBackend,
        timeout: Duration,
    ) -> MetadataStore {
        // Capacity 1: at most one job waits while another runs; more means stalled.
        let (jobs, queue) = mpsc::sync_channel(1);
        let busy = Arc::new(AtomicBool::new(false));
        let worker_busy = Arc::clone(&busy);
        thread::Builder::new()
            .name("metadata-io".into())
            .spawn(move || io_worker(backend, queue, worker_busy))
            .expect("spawn the metadata I/O thread");
        MetadataStore {
            name: name.into(),
            timeout,
            jobs,
            busy,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether an earlier call is still blocked on the storage (it timed out
    /// for its caller but has not returned): a write of it may still land.
    pub fn stalled(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Reads the whole area (slot 0 and every host slot) in one read.
    pub fn read_area(&mut self) -> Result<AlignedBuf, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(Op::Read, Job::Read { reply }, answer)
            .map_err(|e| self.too_small(e))
    }

    /// Writes `bytes` as slot `slot` (0 = global), durably, in one write.
    pub fn write_slot(&mut self, slot: u16, bytes: &[u8; SLOT_SIZE]) -> Result<(), StoreError> {
        if slot > HOST_ID_MAX {
            return Err(StoreError::BadSlot {
                slot: u32::from(slot),
            });
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job::Write {
            offset: slot_offset(slot),
            data: AlignedBuf::from_slice(bytes),
            reply,
        };
        self.submit(Op::Write, job, answer)
    }

    fn submit<T>(
        &self,
        op: Op,
        job: Job,
        answer: Receiver<io::Result<T>>,
    ) -> Result<T, StoreError> {
        let stalled = || StoreError::Stalled {
            path: self.name.clone(),
            op,
        };
        if self.busy.load(Ordering::Acquire) {
            return Err(stalled());
        }
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(stalled()),
            Err(TrySendError::Disconnected(_)) => {
                panic!("metadata I/O thread exited while its store is alive")
            }
        }
        match answer.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(|source| StoreError::Io {
                path: self.name.clone(),
                op,
                source,
            }),
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Timeout {
                path: self.name.clone(),
                op,
                after: self.timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("metadata I/O thread dropped a job without answering")
            }
        }
    }

    fn too_small(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
                StoreError::TooSmall {
                    path: self.name.clone(),
                }
            }
            other => other,
        }
    }
}

fn io_worker(mut backend: impl VolumeBackend, queue: Receiver<Job>, busy: Arc<AtomicBool>) {
    // Ends when the store is dropped (the sender goes away).
    while let Ok(job) = queue.recv() {
        busy.store(true, Ordering::Release);
        match job {
            Job::Read { reply } => {
                let mut buf = AlignedBuf::zeroed(AREA_SIZE);
                let result = backend.read_area(&mut buf).map(|()| buf);
                busy.store(false, Ordering::Release);
                // The caller may have given up waiting; that is fine.
                let _ = reply.send(result);
            }
            Job::Write {
                offset,
                data,
                reply,
            } => {
                let result = backend.write_slot(offset, &data);
                busy.store(false, Ordering::Release);
                let _ = reply.send(result);
            }
        }
    }
}

/// Creates (or, with `force`, wipes) a metadata volume at `path`: the whole area
/// zeroed, durably. Refuses a volume whose area holds any non-zero byte unless
/// `force`. A larger file or a block device keeps its size; only the area is
/// written. Bounded by `timeout` like every other storage call (a timed-out init
/// may still complete later, as with [`StoreError::Timeout`]).
pub fn init_volume(path: &Path, force: bool, timeout: Duration) -> Result<(), StoreError> {
    let owned = path.to_path_buf();
    init_with_deadline(path, timeout, move || {
        init_blocking(&owned, force, &mut FileBackend::new(&owned))
    })
}

/// Runs `init` on its own thread and waits for it at most `timeout`.
fn init_with_deadline(
    path: &Path,
    timeout: Duration,
    init: impl FnOnce() -> Result<(), InitFailure> + Send + 'static,
) -> Result<(), StoreError> {
    let name = path.display().to_string();
    match deadline::run("metadata-init", timeout, init) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(InitFailure::NotEmpty)) => Err(StoreError::NotEmpty { path: name }),
        Ok(Err(InitFailure::Io(source))) | Err(Overrun::Spawn(source)) => Err(StoreError::Io {
            path: name,
            op: Op::Init,
            source,
        }),
        Err(Overrun::Panicked) => Err(StoreError::Io {
            path: name,
            op: Op::Init,
            source: io::Error::other("the init thread panicked"),
        }),
        Err(Overrun::Late(after)) => Err(StoreError::Timeout {
            path: name,
            op: Op::Init,
            after,
        }),
    }
}

#[derive(Debug)]
enum InitFailure {
    NotEmpty,
    Io(io::Error),
}

impl From<io::Error> for InitFailure {
    fn from(e: io::Error) -> Self {
        InitFailure::Io(e)
    }
}

/// Creates the file if needed, checks the area is empty (unless `force`) by a
/// read through `reader`, then zeroes the area durably.
fn init_blocking(path: &Path, force: bool, reader: &mut FileBackend) -> Result<(), InitFailure> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o660)
        .open(path)?;
    if !force {
        // Read as the agents do (O_DIRECT where the storage takes it): on a shared
        // LUN this host's page cache may hold a stale copy that misses metadata
        // another host wrote since, and wiping that would be the worst mistake.
        let mut existing = AlignedBuf::zeroed(AREA_SIZE);
        let filled = reader.read_up_to(&mut existing)?;
        if existing[..filled].iter().any(|&b| b != 0) {
            return Err(InitFailure::NotEmpty);
        }
    }
    zero_area(&file)?;
    file.sync_all()?;
    Ok(())
}

/// Zeroes the area. A regular file gets holes (punched, then extended to the
/// area's size): a read of an unused slot then costs no storage I/O, which
/// keeps reading the whole 8 MB area cheap for every reader. Where holes are
/// not available (a block device, a file system without hole punching) the
/// zeros are written.
fn zero_area(file: &File) -> std::io::Result<()> {
    let area = AREA_SIZE as u64;
    if file.metadata()?.file_type().is_file() {
        // SAFETY: fallocate on an open descriptor with in-range arguments.
        let punched = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                AREA_SIZE as libc::off_t,
            )
        } == 0;
        if punched {
            if file.metadata()?.len() < area {
                file.set_len(area)?;
            }
            return Ok(());
        }
    }
    file.write_all_at(&vec![0u8; AREA_SIZE], 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A volume whose host slot 3 holds a recognisable pattern.
    fn volume_with_pattern(dir: &Path) -> (PathBuf, AlignedBuf) {
        let path = dir.join("volume");
        std::fs::write(&path, vec![0u8; AREA_SIZE]).unwrap();
        let mut slot = AlignedBuf::zeroed(SLOT_SIZE);
        for (i, byte) in slot.iter_mut().enumerate() {
            *byte = (i % 251) as u8 + 1;
        }
        (path, slot)
    }

    /// Writes `slot` as slot 3 through `backend`, reads the area back through
    /// it, and checks the bytes, in the file and as read.
    fn write_and_read_back(backend: &mut FileBackend, path: &Path, slot: &AlignedBuf) {
        backend.write_slot(slot_offset(3), slot).unwrap();
        let on_disk = std::fs::read(path).unwrap();
        let at = slot_offset(3) as usize;
        assert_eq!(&on_disk[at..at + SLOT_SIZE], &slot[..]);
        let mut area = AlignedBuf::zeroed(AREA_SIZE);
        backend.read_area(&mut area).unwrap();
        assert_eq!(&area[at..at + SLOT_SIZE], &slot[..]);
        assert!(area[..at].iter().all(|&b| b == 0));
    }

    #[test]
    fn open_that_refuses_o_direct_falls_back_to_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (path, slot) = volume_with_pattern(dir.path());
        let mut backend = FileBackend::new(&path);
        backend.faults.refuse_open = true;
        write_and_read_back(&mut backend, &path, &slot);
        // Both descriptors were refused O_DIRECT once and opened without it.
        assert_eq!(backend.faults.refused_opens, 2);
        assert!(!backend.writer.as_ref().unwrap().direct);
        assert!(!backend.reader.as_ref().unwrap().direct);
        // The buffered descriptors are kept: no second refusal on the next call.
        write_and_read_back(&mut backend, &path, &slot);
        assert_eq!(backend.faults.refused_opens, 2);
    }

    #[test]
    fn io_that_refuses_o_direct_falls_back_to_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (path, slot) = volume_with_pattern(dir.path());
        let mut backend = FileBackend::new(&path);
        backend.faults.refuse_io = true;
        write_and_read_back(&mut backend, &path, &slot);
        assert_eq!(
            backend.faults.refused_ios,
            2,
            "the I/O refusal was never injected: does {} accept O_DIRECT at open? \
             (this test needs a temporary directory that does; set TMPDIR)",
            dir.path().display()
        );
        assert!(!backend.writer.as_ref().unwrap().direct);
        assert!(!backend.reader.as_ref().unwrap().direct);
        write_and_read_back(&mut backend, &path, &slot);
        assert_eq!(backend.faults.refused_ios, 2);
    }

    #[test]
    fn init_reads_the_area_through_the_direct_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        let mut contents = vec![0u8; AREA_SIZE];
        contents[AREA_SIZE - 1] = 1;
        std::fs::write(&path, &contents).unwrap();
        // The emptiness check goes through the backend: its O_DIRECT open is the
        // one refused here, and the fallback still sees the last byte.
        let mut reader = FileBackend::new(&path);
        reader.faults.refuse_open = true;
        let result = init_blocking(&path, false, &mut reader);
        assert!(matches!(result, Err(InitFailure::NotEmpty)));
        assert_eq!(reader.faults.refused_opens, 1);
        // A short file, zero or not, and a new file.
        for (len, byte, empty) in [(100, 0u8, true), (100, 7, false), (0, 0, true)] {
            std::fs::write(&path, vec![byte; len]).unwrap();
            let result = init_blocking(&path, false, &mut FileBackend::new(&path));
            assert_eq!(result.is_ok(), empty, "{len} bytes of {byte}");
        }
        std::fs::remove_file(&path).unwrap();
        init_blocking(&path, false, &mut FileBackend::new(&path)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), AREA_SIZE as u64);
    }

    #[test]
    fn init_that_blocks_times_out_within_its_deadline() {
        let (release, gate) = mpsc::channel::<()>();
        let (finished, done) = mpsc::channel();
        let deadline = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let result = init_with_deadline(Path::new("/stuck/volume"), deadline, move || {
            // Storage that does not answer until the test lets it.
            let _ = gate.recv();
            let _ = finished.send(());
            Ok(())
        });
        let waited = started.elapsed();
        match result {
            Err(StoreError::Timeout {
                op: Op::Init,
                after,
                path,
            }) => {
                assert_eq!(after, deadline);
                assert_eq!(path, "/stuck/volume");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(waited >= deadline, "returned early: {waited:?}");
        assert!(
            waited < deadline + Duration::from_secs(2),
            "hung: {waited:?}"
        );
        // The blocked init is still there and finishes once the storage answers.
        assert!(done.try_recv().is_err());
        release.send(()).unwrap();
        done.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn without_faults_o_direct_is_used_where_the_filesystem_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, slot) = volume_with_pattern(dir.path());
        let mut backend = FileBackend::new(&path);
        write_and_read_back(&mut backend, &path, &slot);
        assert_eq!(backend.faults.refused_opens + backend.faults.refused_ios, 0);
        // The page-cache path on request, without any refusal.
        let mut buffered = FileBackend::with_direct_io(&path, false);
        write_and_read_back(&mut buffered, &path, &slot);
        assert!(!buffered.writer.as_ref().unwrap().direct);
    }
}
