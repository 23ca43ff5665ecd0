//! Network calls bounded by a deadline and interruptible by a [`Stop`]: name
//! resolution in a helper thread, a non-blocking connect polled in slices,
//! reads and writes with short socket timeouts.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::stop::{Stop, next_slice};

/// Resolver threads that may be alive at once, across all monitors. `getaddrinfo`
/// cannot be interrupted, so a thread whose caller gave up lingers until the
/// system resolver returns; this bounds how many can pile up.
pub const RESOLVERS_MAX: usize = 4;
/// Addresses of one name tried in turn.
pub const ADDRESSES_MAX: usize = 4;
/// Longest host name accepted (DNS limit).
pub const HOST_LENGTH_MAX: usize = 253;

static RESOLVERS_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address into a
/// host and a port (`default_port` when none is given).
pub fn split_host_port(spec: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = |why: &str| Err(format!("{spec:?}: {why}"));
    if spec.is_empty() || spec.len() > HOST_LENGTH_MAX + 8 {
        return bad("not a host name");
    }
    if spec.parse::<Ipv6Addr>().is_ok() {
        return Ok((spec.to_owned(), default_port));
    }
    let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return bad("unclosed '['");
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return bad("junk after ']'"),
            },
        }
    } else {
        match spec.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (spec, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(raw) => match raw.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return bad("not a port (1..=65535)"),
        },
    };
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if host.is_empty() || host.len() > HOST_LENGTH_MAX || host.starts_with('-') {
        return bad("not a host name");
    }
    if !host.chars().all(legal) {
        return bad("not a host name");
    }
    Ok((host.to_owned(), port))
}

/// An IPv6 literal with a zone (`fe80::1%eth0`, or a zone index), which
/// the resolver does not take: `None` when `host` is not one.
fn scoped_v6(host: &str, port: u16) -> Option<Result<SocketAddr, String>> {
    let (address, zone) = host.split_once('%')?;
    let ip = address.parse::<std::net::Ipv6Addr>().ok()?;
    let scope = match zone.parse::<u32>() {
        Ok(index) => index,
        Err(_) => {
            let Ok(name) = std::ffi::CString::new(zone) else {
                return Some(Err(format!("{host}: bad interface name")));
            };
            // SAFETY: a NUL-terminated string we own.
            match unsafe { libc::if_nametoindex(name.as_ptr()) } {
                0 => return Some(Err(format!("{host}: no interface {zone:?}"))),
                index => index,
            }
        }
    };
    Some(Ok(SocketAddr::V6(std::net::SocketAddrV6::new(
        ip, port, 0, scope,
    ))))
}

/// The addresses of `host`, resolved within `deadline`. Address literals need no
/// resolver; names go through the system resolver in a helper thread.
pub fn resolve(
    host: &str,
    port: u16,
    deadline: Instant,
    stop: &Stop,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if let Some(addr) = scoped_v6(host, port) {
        return addr.map(|a| vec![a]);
    }
    if RESOLVERS_ALIVE.fetch_add(1, Ordering::SeqCst) >= RESOLVERS_MAX {
        RESOLVERS_ALIVE.fetch_sub(1, Ordering::SeqCst);
        return Err(format!(
            "{host}: not resolved: {RESOLVERS_MAX} earlier look-ups still hang"
        ));
    }
    let (send, receive) = mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("mon-resolver".into())
        .spawn(move || {
            let found = (name.as_str(), port).to_socket_addrs().map(Vec::from_iter);
            RESOLVERS_ALIVE.fetch_sub(1, Ordering::SeqCst);
            // The caller may have given up; nobody listening is fine.
            let _ = send.send(found);
        });
    if let Err(e) = spawned {
        RESOLVERS_ALIVE.fetch_sub(1, Ordering::SeqCst);
        return Err(format!("{host}: cannot start a resolver: {}", io_text(&e)));
    }
    loop {
        if stop.is_stopped() {
            return Err(format!("{host}: stopped"));
        }
        let Some(slice) = next_slice(deadline) else {
            return Err(format!("{host}: name not resolved in time"));
        };
        match receive.recv_timeout(slice) {
            Ok(Ok(addrs)) if addrs.is_empty() => return Err(format!("{host}: no address")),
            Ok(Ok(addrs)) => return Ok(addrs),
            Ok(Err(e)) => return Err(format!("{host}: {}", io_text(&e))),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!("{host}: resolver failed"));
            }
        }
    }
}

/// Resolves `host` and connects to the first address that answers, all within
/// `deadline`. The stream is in blocking mode.
pub fn connect(host: &str, port: u16, deadline: Instant, stop: &Stop) -> Result<TcpStream, String> {
    let addrs = resolve(host, port, deadline, stop)?;
    let mut last = String::new();
    for addr in addrs.iter().take(ADDRESSES_MAX) {
        match connect_addr(addr, deadline, stop) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
        if stop.is_stopped() || next_slice(deadline).is_none() {
            break;
        }
    }
    Err(last)
}

/// Connects to one address: a non-blocking connect, then `poll` in slices so that
/// a stop or the deadline interrupts it.
pub fn connect_addr(
    addr: &SocketAddr,
    deadline: Instant,
    stop: &Stop,
) -> Result<TcpStream, String> {
    let fail = |e: &io::Error| format!("{addr}: {}", io_text(e));
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call; the result is checked before use.
    let fd = unsafe { libc::socket(family, kind, 0) };
    if fd < 0 {
        return Err(fail(&io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh socket that nothing else owns; the stream closes it.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (raw, len) = raw_addr(addr);
    // SAFETY: `raw` is a valid socket address of `len` bytes for `family`.
    let rc = unsafe { libc::connect(fd, (&raw as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(fail(&e));
        }
        wait_connected(&stream, deadline, stop).map_err(|why| format!("{addr}: {why}"))?;
    }
    stream.set_nonblocking(false).map_err(|e| fail(&e))?;
    Ok(stream)
}

fn wait_connected(stream: &TcpStream, deadline: Instant, stop: &Stop) -> Result<(), String> {
    loop {
        if stop.is_stopped() {
            return Err("stopped".into());
        }
        let Some(slice) = next_slice(deadline) else {
            return Err("no connection in time".into());
        };
        let mut poll = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let slice_ms = i32::try_from(slice.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut poll, 1, slice_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_text(&e));
        }
        if rc > 0 {
            return match stream.take_error() {
                Ok(None) => Ok(()),
                Ok(Some(e)) | Err(e) => Err(io_text(&e)),
            };
        }
    }
}

fn raw_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut raw: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut raw as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut raw as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (raw, len as libc::socklen_t)
}

/// Writes all of `bytes` within `deadline`.
pub fn write_all(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
    stop: &Stop,
    peer: &str,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let slice = step(deadline, stop, peer, "could not send")?;
        stream
            .set_write_timeout(Some(slice))
            .map_err(|e| format!("{peer}: {}", io_text(&e)))?;
        match stream.write(bytes) {
            Ok(0) => return Err(format!("{peer}: connection closed while sending")),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(format!("{peer}: {}", io_text(&e))),
        }
    }
    Ok(())
}

/// Reads what arrives within `deadline`; `Ok(0)` at the end of the stream.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    stop: &Stop,
    peer: &str,
) -> Result<usize, String> {
    loop {
        let slice = step(deadline, stop, peer, "no answer")?;
        stream
            .set_read_timeout(Some(slice))
            .map_err(|e| format!("{peer}: {}", io_text(&e)))?;
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(format!("{peer}: {}", io_text(&e))),
        }
    }
}

fn step(
    deadline: Instant,
    stop: &Stop,
    peer: &str,
    late: &str,
) -> Result<std::time::Duration, String> {
    if stop.is_stopped() {
        return Err(format!("{peer}: stopped"));
    }
    next_slice(deadline).ok_or_else(|| format!("{peer}: {late} in time"))
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// An I/O error as one lowercase phrase without the `(os error N)` suffix.
pub fn io_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn host_and_port_forms() {
        let split = |s| split_host_port(s, 80);
        assert_eq!(split("engine.lab"), Ok(("engine.lab".into(), 80)));
        assert_eq!(split("engine.lab:8080"), Ok(("engine.lab".into(), 8080)));
        assert_eq!(split("127.0.0.1:1"), Ok(("127.0.0.1".into(), 1)));
        assert_eq!(split("::1"), Ok(("::1".into(), 80)));
        assert_eq!(split("[::1]"), Ok(("::1".into(), 80)));
        assert_eq!(split("[::1]:443"), Ok(("::1".into(), 443)));
        for bad in [
            "",
            "host:",
            "host:0",
            "host:99999",
            "[::1",
            "[::1]x",
            "-oops",
            "a b",
            ":80",
        ] {
            assert!(split(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn connects_to_a_listener_and_reports_a_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(5);
        let stop = Stop::new();
        assert!(connect("127.0.0.1", port, deadline, &stop).is_ok());
        drop(listener);
        let refused = connect("127.0.0.1", port, deadline, &stop).unwrap_err();
        assert!(refused.contains("refused"), "{refused}");
    }

    #[test]
    fn names_resolve_through_the_system_resolver() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addrs = resolve("localhost", 7, deadline, &Stop::new()).unwrap();
        assert!(addrs.iter().all(|a| a.port() == 7 && a.ip().is_loopback()));
    }

    #[test]
    fn a_stopped_flag_ends_a_read_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Stop::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = connect("127.0.0.1", port, deadline, &stop).unwrap();
        stop.stop();
        let started = Instant::now();
        let err = read_some(&mut stream, &mut [0; 8], deadline, &stop, "peer").unwrap_err();
        assert_eq!(err, "peer: stopped");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn io_errors_read_as_one_lowercase_phrase() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_text(&e), "connection refused");
    }
}
