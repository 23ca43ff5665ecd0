//! The blocking client of the control socket, and the line I/O the server
//! shares with it: every step bounded by one deadline, no SIGPIPE, lines read
//! without ever buffering more than the limit allows.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{
    ErrorCode, PROTOCOL_VERSION, REPLY_LINE_MAX_BYTES, REPLY_MARGIN, REQUEST_LINE_MAX_BYTES, Reply,
    Request, RequestFrame, StatusReply, decode_reply, too_long_message,
};
use crate::clock::{Clock, SystemClock};

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No socket, or nobody listens on it.
    #[error("{}: {reason} (is ovirt-ha-agent running?)", socket.display())]
    NotRunning { socket: PathBuf, reason: String },
    /// The deadline passed while connecting, sending or waiting for the reply.
    #[error("{}: no answer within {}", socket.display(), duration_text(*timeout))]
    Timeout { socket: PathBuf, timeout: Duration },
    /// Any other I/O error (e.g. permission denied on the socket).
    #[error("{}: {reason}", socket.display())]
    Io { socket: PathBuf, reason: String },
    /// The agent's answer broke the protocol.
    #[error("{}: protocol error: {message}", socket.display())]
    Protocol { socket: PathBuf, message: String },
    /// The agent answered with an error.
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
}

fn duration_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// An I/O error as one lowercase phrase: `connection refused`.
pub(crate) fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) || e.raw_os_error() == Some(libc::EINPROGRESS)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The deadline [`call`] gives a request it waits `timeout` for: that much
/// later on the agent's clock (`CLOCK_BOOTTIME`; the socket is local, so the
/// agent reads the same clock), less [`REPLY_MARGIN`] (at most half the
/// timeout) for the answer to come back.
fn request_deadline_ms(timeout: Duration) -> u64 {
    let ahead = timeout.saturating_sub(REPLY_MARGIN.min(timeout / 2));
    let ahead_ms = u64::try_from(ahead.as_millis()).unwrap_or(u64::MAX);
    (SystemClock::new().now() + ahead_ms).as_millis()
}

/// Sends `request` to the agent at `socket` and waits for its reply; connect,
/// send and receive together take at most `timeout`. The request carries its
/// deadline: an agent that reads it late, or whose loop does not take a VM
/// request in time, does nothing and answers `expired`.
///
/// Waiting runs on `CLOCK_MONOTONIC` (`Instant`), the deadline on
/// `CLOCK_BOOTTIME`: they differ only while the host is suspended, when the
/// agent's deadline passes first, so the client never gives up before the
/// agent does.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Reply, ClientError> {
    let deadline = Instant::now() + timeout;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let protocol = |message: String| ClientError::Protocol {
        socket: socket.to_owned(),
        message,
    };
    let timed_out = || ClientError::Timeout {
        socket: socket.to_owned(),
        timeout,
    };
    let io_error = |e: &io::Error| ClientError::Io {
        socket: socket.to_owned(),
        reason: os_reason(e),
    };
    let frame = RequestFrame {
        version: PROTOCOL_VERSION,
        id,
        deadline_ms: Some(request_deadline_ms(timeout)),
        request: request.clone(),
    };
    let mut line = serde_json::to_vec(&frame).map_err(|e| protocol(e.to_string()))?;
    if line.len() > REQUEST_LINE_MAX_BYTES {
        return Err(protocol(too_long_message()));
    }
    line.push(b'\n');
    let stream = connect_unix(socket, deadline).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ClientError::NotRunning {
            socket: socket.to_owned(),
            reason: os_reason(&e),
        },
        _ if is_timeout(&e) => timed_out(),
        _ => io_error(&e),
    })?;
    match send_all(&stream, &line, deadline) {
        Ok(()) => {}
        Err(e) if is_timeout(&e) => return Err(timed_out()),
        // The agent may have answered (busy) and closed before reading: read on.
        Err(e) if is_closed(&e) => {}
        Err(e) => return Err(io_error(&e)),
    }
    let mut reader = LineReader::new(REPLY_LINE_MAX_BYTES);
    let reply = match reader.read_line(&stream, deadline) {
        Ok(ReadLine::Line(reply)) => reply,
        Ok(ReadLine::Eof) => return Err(protocol("the agent closed the connection".into())),
        Ok(ReadLine::TooLong) => return Err(protocol("reply too long".into())),
        Err(e) if is_timeout(&e) => return Err(timed_out()),
        Err(e) => return Err(io_error(&e)),
    };
    let frame = decode_reply(&reply).map_err(protocol)?;
    // An error about a line whose id the agent could not read carries id 0.
    let unattributed_error = frame.id == 0 && !frame.ok;
    if frame.id != id && !unattributed_error {
        return Err(protocol(format!(
            "reply to request {} instead of {id}",
            frame.id
        )));
    }
    match (frame.result, frame.error) {
        (_, Some(e)) => Err(ClientError::Remote {
            code: e.code,
            message: e.message,
        }),
        (Some(result), None) if result.kind() == request.kind() => Ok(result),
        (Some(result), None) => Err(protocol(format!(
            "{} reply to a {} request",
            result.kind(),
            request.kind()
        ))),
        (None, None) => Err(protocol("reply without result".into())),
    }
}
/// Most times [`status`] starts over because the agent's view changed
/// between its pages.
const STATUS_RESTARTS_MAX: usize = 3;

/// The agent's whole view (`status`), page after page (a view too large for
/// one reply comes in several: `more-from`), all within `timeout`. Pages of
/// one view carry the same `taken`; when the view changes midway, it starts
/// over (at most [`STATUS_RESTARTS_MAX`] times, then a protocol error).
pub fn status(socket: &Path, timeout: Duration) -> Result<StatusReply, ClientError> {
    let deadline = Instant::now() + timeout;
    let protocol = |message: String| ClientError::Protocol {
        socket: socket.to_owned(),
        message,
    };
    let page = |from_host| -> Result<StatusReply, ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout {
                socket: socket.to_owned(),
                timeout,
            });
        }
        match call(socket, &Request::Status { from_host }, left)? {
            Reply::Status(status) => Ok(*status),
            other => Err(protocol(format!(
                "asked for status, got a {} reply",
                other.kind()
            ))),
        }
    };
    'view: for _ in 0..=STATUS_RESTARTS_MAX {
        let mut view = page(None)?;
        while let Some(next) = view.more_from.take() {
            let last = view.hosts.last().map_or(0, |h| h.host_id);
            if next <= last {
                return Err(protocol(format!(
                    "status page after host {last} starts at host {next}"
                )));
            }
            let more = page(Some(next))?;
            if more.taken != view.taken {
                continue 'view;
            }
            view.hosts.extend(more.hosts);
            view.unreadable.extend(more.unreadable);
            view.more_from = more.more_from;
            view.age_ms = more.age_ms;
        }
        return Ok(view);
    }
    Err(protocol(format!(
        "the agent's view changed while it was read in pages, {} times",
        STATUS_RESTARTS_MAX + 1
    )))
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// Connects to a Unix stream socket by `deadline`. A listener whose backlog is
/// full (a hung agent) would block a plain `connect`; `SO_SNDTIMEO` bounds it
/// (Linux returns `EAGAIN` when it expires).
pub(crate) fn connect_unix(path: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: all-zero bytes are a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nothing else owns; the stream closes it.
    let stream = unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    loop {
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes.
        let rc = unsafe {
            libc::connect(
                fd,
                (&raw const addr).cast::<libc::sockaddr>(),
                len as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(stream);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Time left until `deadline`; a `TimedOut` error once it passed.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::from(io::ErrorKind::TimedOut))
    } else {
        Ok(left)
    }
}

/// Writes all of `bytes` by `deadline`, without SIGPIPE (a client that resets
/// SIGPIPE to its default for stdout must not die from a closed socket).
pub(crate) fn send_all(stream: &UnixStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n.unsigned_abs()..];
    }
    Ok(())
}

/// What [`LineReader::read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadLine {
    /// A line without its newline (a last line cut by end of stream counts).
    Line(Vec<u8>),
    /// End of stream with nothing pending.
    Eof,
    /// More than the limit without a newline.
    TooLong,
}

/// Reads newline-terminated lines of at most `limit` bytes, never buffering
/// more than `limit + 1` bytes of one line (checked before growing), and keeps
/// what follows a line for the next call.
pub(crate) struct LineReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    limit: usize,
}

impl LineReader {
    pub(crate) fn new(limit: usize) -> LineReader {
        LineReader {
            buf: Vec::new(),
            scanned: 0,
            limit,
        }
    }

    /// The next line, read by `deadline` (else a `TimedOut`/`WouldBlock` error).
    pub(crate) fn read_line(
        &mut self,
        mut stream: &UnixStream,
        deadline: Instant,
    ) -> io::Result<ReadLine> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + at;
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.truncate(end);
                self.scanned = 0;
                if line.len() > self.limit {
                    return Ok(ReadLine::TooLong);
                }
                return Ok(ReadLine::Line(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.limit {
                return Ok(ReadLine::TooLong);
            }
            let room = (self.limit + 1 - self.buf.len()).min(chunk.len());
            stream.set_read_timeout(Some(remaining(deadline)?))?;
            match stream.read(&mut chunk[..room]) {
                Ok(0) if self.buf.is_empty() => return Ok(ReadLine::Eof),
                Ok(0) => {
                    self.scanned = 0;
                    return Ok(ReadLine::Line(std::mem::take(&mut self.buf)));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_reasons_are_lowercase_phrases() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(os_reason(&e), "connection refused");
        let e = ClientError::NotRunning {
            socket: "/run/x/agent.sock".into(),
            reason: os_reason(&e),
        };
        assert_eq!(
            e.to_string(),
            "/run/x/agent.sock: connection refused (is ovirt-ha-agent running?)"
        );
        let t = ClientError::Timeout {
            socket: "/s".into(),
            timeout: Duration::from_secs(3),
        };
        assert_eq!(t.to_string(), "/s: no answer within 3 s");
    }
}
