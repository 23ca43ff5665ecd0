//! Name resolution and the TCP connect, both within
//! [`Options::connect_timeout`](super::Options::connect_timeout).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::deadline::{self, Overrun};

use super::error::{RemoteError, Step, os_reason};
use super::target::Target;

/// How many resolved addresses are tried at most.
const ADDRESSES_MAX: usize = 8;

/// Resolves and connects within `timeout`, trying each address in turn.
pub(super) fn connect(target: &Target, timeout: Duration) -> Result<TcpStream, RemoteError> {
    let deadline = Instant::now() + timeout;
    let name = target.to_string();
    let timed_out = |step| RemoteError::Timeout {
        target: name.clone(),
        step,
        timeout,
    };
    let addresses = resolve(target, deadline).map_err(|e| match e {
        None => timed_out(Step::Resolving),
        Some(reason) => RemoteError::Resolve {
            target: name.clone(),
            reason,
        },
    })?;
    let mut last = None;
    for address in addresses.iter().take(ADDRESSES_MAX) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(address, left) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => RemoteError::Refused {
            target: name,
            port: target.port,
        },
        Some(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            RemoteError::Network {
                target: name,
                step: Step::Connecting,
                reason: os_reason(&e),
            }
        }
        _ => timed_out(Step::Connecting),
    })
}

/// The host's addresses; `Err(None)` when `deadline` passes first. The system
/// resolver has no timeout of ours, so it runs on a thread left behind if late.
fn resolve(target: &Target, deadline: Instant) -> Result<Vec<SocketAddr>, Option<String>> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let query = (target.host.clone(), target.port);
    let left = deadline.saturating_duration_since(Instant::now());
    let answer = deadline::run("ssh-resolve", left, move || {
        query.to_socket_addrs().map(Iterator::collect::<Vec<_>>)
    });
    match answer {
        Ok(Ok(addresses)) if addresses.is_empty() => Err(Some("no address".into())),
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) | Err(Overrun::Spawn(e)) => Err(Some(os_reason(&e))),
        Err(Overrun::Panicked) => Err(Some("the resolver panicked".into())),
        Err(Overrun::Late(_)) => Err(None),
    }
}
