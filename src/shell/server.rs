//! The agent's control socket (`docs/protocol.md`, `crate::proto`).
//!
//! One accept thread and a thread per connection, at most
//! [`ServerLimits::connections_max`] at once (further clients get `busy` and are
//! closed), of which [`ServerLimits::reserved_for_root`] only root may use and
//! [`ServerLimits::per_user_max`] any other user at most: read-only requests
//! are open to others, who must not lock root out (issue 14). Every connection
//! has a deadline per request and per reply, and a bounded life
//! ([`ServerLimits::connection_life_max`]); a malformed, oversized or slow
//! request costs that connection only. The agent
//! loop never waits for the socket: the [`Handler`] answers from state the loop
//! left behind, and VM requests wait in a bounded queue for the next tick.
//!
//! Every request has a deadline (the client's `deadline-ms`, or
//! [`proto::DEADLINE_DEFAULT`] from its receipt): one read after it is refused
//! (`expired`), and a VM request is answered only once the loop has taken it,
//! or, when its deadline passes first, withdrawn and answered `expired`. So an
//! agent that was stopped (SIGSTOP) or stuck never acts on a request whose
//! caller has given up and been told it failed.
//!
//! The daemon's integration, with the ready-made [`SharedState`]:
//! build a `SharedState` (with the maintenance and liveliness callbacks), start
//! a [`Server`] with it as the handler, and each tick give it a snapshot
//! ([`status_snapshot`], [`SharedState::update`]) and drain
//! [`SharedState::take_requests`] into the loop's requests.

mod queue;
mod shared;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::clock::SystemClock;
use crate::core::Millis;
use crate::proto::{
    self, ErrorCode, LineReader, Liveliness, MaintenanceMode, ReadLine, RemoteError, Reply,
    ReplyFrame, Request, RequestFrame, StatusReply, Transition,
};
use crate::shell::Clock;

pub use queue::{REQUEST_QUEUE_MAX, VmRequest};
pub(crate) use shared::bounded;
pub use shared::{LivelinessFn, MaintenanceFn, SharedState, status_snapshot};

/// How long [`Server`]'s `Drop` waits for connection threads to end.
const DROP_WAIT: Duration = Duration::from_secs(2);
/// How long a stale-socket probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a `busy` reply may take to write (from the accept thread).
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// After an oversized request: how long and how much of the rest is read and
/// dropped before closing, so the client gets to read our error reply.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// What the agent answers with. Called from connection threads, concurrently;
/// each method must be bounded in time.
pub trait Handler: Send + Sync {
    /// The latest snapshot (`busy` before the first one).
    fn status(&self) -> Result<StatusReply, RemoteError>;
    /// Queues a VM request for the loop and returns once the loop has taken
    /// it; `busy` when the queue is full, `expired` (having made sure the
    /// loop never takes it) when its deadline passes first.
    fn vm_request(&self, vm: VmRequest) -> Result<(), RemoteError>;
    /// Sets the maintenance mode; returns when it is written.
    fn set_maintenance(&self, mode: MaintenanceMode) -> Result<(), RemoteError>;
    /// A fresh engine liveliness probe.
    fn check_liveliness(&self) -> Result<Liveliness, RemoteError>;
    /// The last `limit` transitions, oldest first.
    fn transitions(&self, limit: usize) -> Vec<Transition>;
}

/// The peer's credentials (`SO_PEERCRED`: as of its `connect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The connected peer's credentials.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the ucred we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// Whether a peer with `uid` (`None`: unknown) may send `request`: read-only
/// requests are open to whoever may open the socket (mode 0660), mutating ones
/// only to root.
pub fn authorize(request: &Request, uid: Option<u32>) -> Result<(), RemoteError> {
    if !request.is_mutating() || uid == Some(0) {
        return Ok(());
    }
    let who = uid.map_or_else(|| "an unknown user".to_owned(), |u| format!("uid {u}"));
    Err(RemoteError::new(
        ErrorCode::Forbidden,
        format!("{} is only allowed to root, not to {who}", request.kind()),
    ))
}

/// The reply to one request line from a peer with `uid`, read at `now` on
/// the agent's clock; in the request's protocol version.
pub fn answer(line: &[u8], uid: Option<u32>, now: Millis, handler: &dyn Handler) -> ReplyFrame {
    let frame = match proto::parse_request(line) {
        Ok(frame) => frame,
        Err(rejected) => return rejected.reply(),
    };
    let deadline = deadline_of(&frame, now);
    // Authorized first: only root's late requests are logged as refused.
    let result = authorize(&frame.request, uid)
        .and_then(|()| still_wanted(&frame.request, deadline, now))
        .and_then(|()| dispatch(&frame.request, deadline, handler));
    match result {
        Ok(reply) => ReplyFrame::success(frame.id, reply),
        Err(error) => ReplyFrame::failure(frame.id, error),
    }
    .in_version(frame.version)
}

/// A request's deadline: its own, or [`proto::DEADLINE_DEFAULT`] from `now`
/// for clients that send none; never more than [`proto::DEADLINE_MAX`] ahead.
pub fn deadline_of(frame: &RequestFrame, now: Millis) -> Millis {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let latest = now + ms(proto::DEADLINE_MAX);
    frame
        .deadline_ms
        .map_or(now + ms(proto::DEADLINE_DEFAULT), Millis)
        .min(latest)
}

/// Refuses a request read after its deadline: its caller has given up (the
/// agent was stopped or starved while the request sat in the socket).
fn still_wanted(request: &Request, deadline: Millis, now: Millis) -> Result<(), RemoteError> {
    if now < deadline {
        return Ok(());
    }
    let late = queue::secs_text(now.since(deadline));
    if request.is_mutating() {
        tracing::warn!(
            "refused {}: read {late} after its deadline, its caller has given up",
            request.kind()
        );
    } else {
        tracing::debug!("refused {}: read {late} after its deadline", request.kind());
    }
    Err(RemoteError::new(
        ErrorCode::Expired,
        format!(
            "{}: read {late} after its deadline (the agent was stopped or too busy to read \
             it); nothing was done",
            request.kind()
        ),
    ))
}

fn dispatch(
    request: &Request,
    deadline: Millis,
    handler: &dyn Handler,
) -> Result<Reply, RemoteError> {
    if let Some(vm) = request.vm_request() {
        handler.vm_request(VmRequest {
            request: vm,
            kind: request.kind(),
            deadline,
        })?;
    }
    Ok(match *request {
        Request::Status { from_host } => Reply::Status(Box::new(handler.status()?.page(from_host))),
        Request::SetMaintenance { mode } => {
            handler.set_maintenance(mode)?;
            Reply::SetMaintenance { mode }
        }
        Request::VmStart { paused } => Reply::VmStart { paused },
        Request::VmShutdown => Reply::VmShutdown,
        Request::VmPoweroff => Reply::VmPoweroff,
        Request::CheckLiveliness => Reply::CheckLiveliness(handler.check_liveliness()?),
        Request::Transitions { limit } => {
            let limit = limit.map_or(proto::TRANSITIONS_MAX, |l| {
                usize::try_from(l).map_or(proto::TRANSITIONS_MAX, |l| l.min(proto::TRANSITIONS_MAX))
            });
            Reply::Transitions {
                transitions: handler.transitions(limit),
            }
        }
    })
}

/// Bounds on the server's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once.
    pub connections_max: usize,
    /// Of those, how many only root may use.
    pub reserved_for_root: usize,
    /// Connections one user other than root may hold at once.
    pub per_user_max: usize,
    /// The longest a connection is served: it is closed after the first
    /// reply that ends past it, so no client holds a slot for ever.
    pub connection_life_max: Duration,
    /// Time for a complete request line, counted from when the server starts
    /// waiting for it (so also the idle timeout between requests).
    pub request_timeout: Duration,
    /// Time to write one reply.
    pub write_timeout: Duration,
    /// Requests served on one connection before it is closed.
    pub requests_per_connection_max: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            connections_max: 16,
            reserved_for_root: 4,
            per_user_max: 4,
            connection_life_max: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            requests_per_connection_max: 1000,
        }
    }
}

/// The running socket server. Dropping it stops its threads and removes the
/// socket file (if it is still ours).
pub struct Server {
    path: PathBuf,
    /// `(dev, ino)` of the socket file we bound.
    identity: (u64, u64),
    shared: Arc<Shared>,
    wake: OwnedFd,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    conns: Mutex<Conns>,
    ended: Condvar,
    handler: Arc<dyn Handler>,
    limits: ServerLimits,
}

#[derive(Default)]
struct Conns {
    next: u64,
    /// Clones of the open connections, to shut them down on drop, and their
    /// peers' uids (`None`: unknown).
    open: BTreeMap<u64, (UnixStream, Option<u32>)>,
}

impl Conns {
    /// Why a new connection from `uid` cannot be served now, if it cannot.
    fn refusal(&self, uid: Option<u32>, limits: &ServerLimits) -> Option<String> {
        if self.open.len() >= limits.connections_max {
            return Some(format!(
                "too many clients ({} at once); try again",
                limits.connections_max
            ));
        }
        if uid == Some(0) {
            return None;
        }
        let others = self.open.values().filter(|(_, u)| *u != Some(0)).count();
        let shared = limits
            .connections_max
            .saturating_sub(limits.reserved_for_root);
        if others >= shared {
            return Some(format!(
                "too many clients ({shared} at once for users other than root, {} kept for \
                 root); try again",
                limits.reserved_for_root
            ));
        }
        let mine = self.open.values().filter(|(_, u)| *u == uid).count();
        if mine >= limits.per_user_max {
            let who = uid.map_or_else(|| "an unknown user".to_owned(), |u| format!("uid {u}"));
            return Some(format!(
                "too many connections from {who} ({} at once); try again",
                limits.per_user_max
            ));
        }
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the server down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{}: {}", path.display(), proto::os_reason(&e)),
    )
}

impl Server {
    /// Binds `path` with the default limits and serves `handler`.
    pub fn start(path: &Path, handler: Arc<dyn Handler>) -> io::Result<Server> {
        Server::start_with(path, handler, ServerLimits::default())
    }

    /// Binds `path` (mode 0660; a stale socket file is removed only when
    /// nothing answers on it) and serves `handler` in its own threads.
    pub fn start_with(
        path: &Path,
        handler: Arc<dyn Handler>,
        limits: ServerLimits,
    ) -> io::Result<Server> {
        assert!(limits.connections_max >= 1, "a server without connections");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        }
        remove_stale(path)?;
        let listener = UnixListener::bind(path).map_err(|e| with_path(path, e))?;
        let setup = || -> io::Result<(u64, u64)> {
            fs::set_permissions(path, fs::Permissions::from_mode(proto::SOCKET_MODE))?;
            listener.set_nonblocking(true)?;
            let meta = fs::symlink_metadata(path)?;
            Ok((meta.dev(), meta.ino()))
        };
        let identity = match setup() {
            Ok(identity) => identity,
            Err(e) => {
                let _ = fs::remove_file(path);
                return Err(with_path(path, e));
            }
        };
        let (wake_rx, wake) = pipe().map_err(|e| with_path(path, e))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            conns: Mutex::new(Conns::default()),
            ended: Condvar::new(),
            handler,
            limits,
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("agent-sock".into())
            .spawn(move || accept_loop(&listener, &wake_rx, &for_thread));
        let accept = match accept {
            Ok(handle) => handle,
            Err(e) => {
                let _ = fs::remove_file(path);
                return Err(with_path(path, e));
            }
        };
        Ok(Server {
            path: path.to_owned(),
            identity,
            shared,
            wake,
            accept: Some(accept),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        lock(&self.shared.conns).open.len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // SAFETY: writes one byte from a live buffer to our own pipe.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let deadline = Instant::now() + DROP_WAIT;
        let mut conns = lock(&self.shared.conns);
        for (stream, _) in conns.open.values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // A thread still inside a slow handler call ends on its own later.
        while !conns.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            conns = self
                .shared
                .ended
                .wait_timeout(conns, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(conns);
        // Only our own socket: a successor may already have bound the path.
        if fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes a socket file nobody answers on; refuses to touch anything else.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_path(path, e)),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{}: exists and is not a socket", path.display()),
        ));
    }
    match proto::connect_unix(path, Instant::now() + PROBE_TIMEOUT) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{}: another process answers on this socket (is another ovirt-ha-agent running?)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(path, e)),
            _ => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if proto::is_timeout(&e) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{}: a process listens on this socket but does not accept",
                path.display()
            ),
        )),
        Err(e) => Err(with_path(path, e)),
    }
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn accept_loop(listener: &UnixListener, wake: &OwnedFd, shared: &Arc<Shared>) {
    let mut fds = [
        libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    while !shared.stop.load(Ordering::SeqCst) {
        // SAFETY: `fds` is a live array of two pollfd.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match listener.accept() {
            Ok((stream, _)) => admit(stream, shared),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors or memory: the pending connection stays
            // readable, so back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Takes a new connection into its own thread, or answers `busy`.
fn admit(stream: UnixStream, shared: &Arc<Shared>) {
    // Linux does not pass O_NONBLOCK on from the listener; be sure anyway.
    let _ = stream.set_nonblocking(false);
    let uid = peer_credentials(&stream).ok().map(|c| c.uid);
    let mut conns = lock(&shared.conns);
    if let Some(message) = conns.refusal(uid, &shared.limits) {
        drop(conns);
        refuse(&stream, RemoteError::new(ErrorCode::Busy, message));
        return;
    }
    let Ok(clone) = stream.try_clone() else {
        drop(conns);
        refuse(
            &stream,
            RemoteError::new(ErrorCode::Busy, "out of resources"),
        );
        return;
    };
    let id = conns.next;
    conns.next += 1;
    conns.open.insert(id, (clone, uid));
    drop(conns);
    let guard = ConnGuard {
        id,
        shared: Arc::clone(shared),
    };
    let spawned = thread::Builder::new()
        .name("agent-sock-conn".into())
        .spawn(move || serve(&stream, uid, &guard.shared));
    // On failure the closure, guard and stream included, is dropped: the slot
    // is freed and the client sees the connection close.
    drop(spawned);
}

/// Frees a connection's slot when its thread ends, however it ends.
struct ConnGuard {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.shared.conns).open.remove(&self.id);
        self.shared.ended.notify_all();
    }
}

/// One error reply (id 0: the request was not read), then close.
fn refuse(stream: &UnixStream, error: RemoteError) {
    let line = ReplyFrame::unattributed(error).encode();
    let _ = proto::send_all(stream, &line, Instant::now() + BUSY_WRITE_TIMEOUT);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Serves one connection: request lines in, reply lines out, until the client
/// closes, a limit is hit or the server stops.
fn serve(stream: &UnixStream, uid: Option<u32>, shared: &Shared) {
    let limits = shared.limits;
    let end_of_life = Instant::now() + limits.connection_life_max;
    let mut reader = LineReader::new(proto::REQUEST_LINE_MAX_BYTES);
    for _ in 0..limits.requests_per_connection_max {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if Instant::now() >= end_of_life {
            reply_and_close(stream, limits, life_over(limits));
            return;
        }
        let deadline = (Instant::now() + limits.request_timeout).min(end_of_life);
        let line = match reader.read_line(stream, deadline) {
            Ok(ReadLine::Line(line)) => line,
            Ok(ReadLine::Eof) => return,
            Ok(ReadLine::TooLong) => {
                let message = format!("{}; closing the connection", proto::too_long_message());
                reply_and_close(
                    stream,
                    limits,
                    RemoteError::new(ErrorCode::BadRequest, message),
                );
                linger(stream);
                return;
            }
            Err(e) if proto::is_timeout(&e) && Instant::now() >= end_of_life => {
                reply_and_close(stream, limits, life_over(limits));
                return;
            }
            Err(e) if proto::is_timeout(&e) => {
                let message = format!(
                    "no complete request within {} ms; closing the connection",
                    limits.request_timeout.as_millis()
                );
                reply_and_close(
                    stream,
                    limits,
                    RemoteError::new(ErrorCode::Timeout, message),
                );
                return;
            }
            Err(_) => return,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let now = SystemClock::new().now();
        let reply = answer(&line, uid, now, shared.handler.as_ref()).encode();
        if proto::send_all(stream, &reply, Instant::now() + limits.write_timeout).is_err() {
            return;
        }
    }
}

/// The error that ends a connection at [`ServerLimits::connection_life_max`].
fn life_over(limits: ServerLimits) -> RemoteError {
    let message = format!(
        "connection open for {} s, the most one is served; closing it (connect again)",
        limits.connection_life_max.as_secs()
    );
    RemoteError::new(ErrorCode::Timeout, message)
}

fn reply_and_close(stream: &UnixStream, limits: ServerLimits, error: RemoteError) {
    let line = ReplyFrame::unattributed(error).encode();
    let _ = proto::send_all(stream, &line, Instant::now() + limits.write_timeout);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Reads and drops what the client still sends (bounded), so that closing
/// with unread input does not reset the connection before it read our reply.
fn linger(mut stream: &UnixStream) {
    use std::io::Read;
    let deadline = Instant::now() + LINGER;
    let mut dropped = 0;
    let mut chunk = [0u8; 16 * 1024];
    while dropped < LINGER_MAX_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_may_mutate() {
        let mutating = [
            Request::SetMaintenance {
                mode: MaintenanceMode::Local,
            },
            Request::VmStart { paused: false },
            Request::VmShutdown,
            Request::VmPoweroff,
        ];
        for request in &mutating {
            assert_eq!(authorize(request, Some(0)), Ok(()));
            for uid in [Some(1), Some(65534), None] {
                let e = authorize(request, uid).unwrap_err();
                assert_eq!(e.code, ErrorCode::Forbidden, "{request:?} {uid:?}");
                assert!(e.message.contains(request.kind()), "{}", e.message);
            }
        }
        for request in [
            Request::STATUS,
            Request::CheckLiveliness,
            Request::Transitions { limit: None },
        ] {
            assert_eq!(authorize(&request, Some(65534)), Ok(()));
            assert_eq!(authorize(&request, None), Ok(()));
        }
    }

    #[test]
    fn deadlines_default_for_old_clients_and_are_bounded() {
        let frame = |deadline_ms| RequestFrame {
            version: 2,
            id: 1,
            deadline_ms,
            request: Request::VmPoweroff,
        };
        let now = Millis(100_000);
        assert_eq!(deadline_of(&frame(Some(103_000)), now), Millis(103_000));
        assert_eq!(deadline_of(&frame(Some(5)), now), Millis(5));
        assert_eq!(deadline_of(&frame(None), now), Millis(109_000));
        assert_eq!(deadline_of(&frame(Some(u64::MAX)), now), Millis(160_000));
        assert!(still_wanted(&Request::VmPoweroff, Millis(100_001), now).is_ok());
        let e = still_wanted(&Request::VmPoweroff, Millis(61_800), now).unwrap_err();
        assert_eq!(e.code, ErrorCode::Expired);
        assert!(
            e.message.starts_with("vm-poweroff: read 38.2 s after"),
            "{}",
            e.message
        );
    }
}
