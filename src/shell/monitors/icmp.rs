//! The gateway's ping, sent natively: one ICMP (or ICMPv6) echo request and
//! its reply, with no `ping` program and no process per probe (issue 16).
//!
//! Two kinds of socket can send it. A datagram ICMP socket ("ping socket")
//! needs no privilege when the caller's group is in
//! `net.ipv4.ping_group_range` (which also covers ICMPv6); the kernel fills
//! in the identifier and the checksum and hands this socket only the replies
//! to it. A raw socket needs `CAP_NET_RAW` (root); it sees every ICMP message
//! the host receives, so a reply counts only with our identifier, sequence
//! number and payload. The datagram socket is tried first, then the raw one;
//! when neither opens the test cannot run, and says why.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use super::net::io_text;
use super::stop::{Stop, next_slice};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// The ICMP header: type, code, checksum, identifier, sequence number.
const HEADER_BYTES: usize = 8;
/// What follows the header: a marker and the sender's process id, so that a
/// raw socket tells our replies from other programs'.
const PAYLOAD: &[u8; 8] = b"he-ping\0";
/// The largest message read (a reply with an IPv4 header and options fits).
const RECEIVE_BYTES: usize = 1024;

/// Which kind of socket sends the echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoSocket {
    /// `SOCK_DGRAM`: allowed by `net.ipv4.ping_group_range`.
    Datagram,
    /// `SOCK_RAW`: needs `CAP_NET_RAW`.
    Raw,
}

/// An open ICMP socket for one address family.
pub struct Pinger {
    fd: OwnedFd,
    kind: EchoSocket,
    v6: bool,
    /// The identifier a raw socket's requests carry (a datagram socket's is
    /// the kernel's).
    ident: u16,
}

impl Pinger {
    /// A socket that can ping `target`'s family: a datagram one, else a raw
    /// one. `Err` says why neither can be had.
    pub fn open(target: IpAddr) -> Result<Pinger, String> {
        let datagram = Pinger::open_kind(target, EchoSocket::Datagram);
        let datagram_error = match datagram {
            Ok(pinger) => return Ok(pinger),
            Err(e) => e,
        };
        Pinger::open_kind(target, EchoSocket::Raw).map_err(|raw_error| {
            let denied = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
            // SAFETY: getegid(2) cannot fail.
            let gid = unsafe { libc::getegid() };
            let ping_hint = match denied(&datagram_error) {
                true => format!("; group {gid} is not in net.ipv4.ping_group_range"),
                false => String::new(),
            };
            let raw_hint = match denied(&raw_error) {
                true => "; it needs root or CAP_NET_RAW",
                false => "",
            };
            format!(
                "cannot send an ICMP echo: a ping socket is refused ({}{ping_hint}) and a raw \
                 socket too ({}{raw_hint})",
                io_text(&datagram_error),
                io_text(&raw_error)
            )
        })
    }

    /// A socket of `kind` for `target`'s family.
    pub fn open_kind(target: IpAddr, kind: EchoSocket) -> io::Result<Pinger> {
        let v6 = target.is_ipv6();
        let (domain, protocol) = match v6 {
            false => (libc::AF_INET, libc::IPPROTO_ICMP),
            true => (libc::AF_INET6, libc::IPPROTO_ICMPV6),
        };
        let ty = match kind {
            EchoSocket::Datagram => libc::SOCK_DGRAM,
            EchoSocket::Raw => libc::SOCK_RAW,
        };
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        static NEXT_IDENT: AtomicU16 = AtomicU16::new(0);
        let ident =
            (std::process::id() as u16).wrapping_add(NEXT_IDENT.fetch_add(1, Ordering::Relaxed));
        Ok(Pinger {
            fd,
            kind,
            v6,
            ident,
        })
    }

    pub fn kind(&self) -> EchoSocket {
        self.kind
    }

    /// Sends echo request `seq` to `target` and waits for its reply until
    /// `deadline` (or until stopped).
    pub fn echo(
        &self,
        to: SocketAddr,
        seq: u16,
        deadline: Instant,
        stop: &Stop,
    ) -> Result<(), String> {
        let target = to.ip();
        let request = echo_request(self.v6, self.ident, seq);
        send_to(&self.fd, &request, to).map_err(|e| format!("ping {target}: {}", io_text(&e)))?;
        let mut buf = [0u8; RECEIVE_BYTES];
        loop {
            if stop.is_stopped() {
                return Err(format!("ping {target}: stopped"));
            }
            let Some(slice) = next_slice(deadline) else {
                return Err(format!("ping {target}: no reply in time"));
            };
            if !readable(&self.fd, slice).map_err(|e| format!("ping {target}: {}", io_text(&e)))? {
                continue;
            }
            let (n, from) = recv_from(&self.fd, &mut buf)
                .map_err(|e| format!("ping {target}: {}", io_text(&e)))?;
            if from != Some(target) {
                continue;
            }
            let message = match (self.kind, self.v6) {
                // A raw IPv4 socket hands over the IP header too.
                (EchoSocket::Raw, false) => strip_ipv4_header(&buf[..n]),
                _ => Some(&buf[..n]),
            };
            let ident = match self.kind {
                EchoSocket::Raw => Some(self.ident),
                // The kernel chose it and delivers only this socket's replies.
                EchoSocket::Datagram => None,
            };
            if message.is_some_and(|m| is_reply(m, self.v6, ident, seq)) {
                return Ok(());
            }
        }
    }
}

/// An echo request: header and [`PAYLOAD`] with our process id's low bytes;
/// the checksum is computed (the kernel recomputes it where it must).
pub fn echo_request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_BYTES + PAYLOAD.len());
    message.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    message.push(0);
    message.extend_from_slice(&[0, 0]);
    message.extend_from_slice(&ident.to_be_bytes());
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(PAYLOAD);
    if !v6 {
        let sum = checksum(&message);
        message[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    message
}

/// Whether `message` (an ICMP message, no IP header) is the echo reply to
/// our request `seq`; `ident`: the identifier to insist on (raw sockets).
pub fn is_reply(message: &[u8], v6: bool, ident: Option<u16>, seq: u16) -> bool {
    let reply = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    message.len() >= HEADER_BYTES + PAYLOAD.len()
        && message[0] == reply
        && message[1] == 0
        && ident.is_none_or(|i| message[4..6] == i.to_be_bytes())
        && message[6..8] == seq.to_be_bytes()
        && message[HEADER_BYTES..HEADER_BYTES + PAYLOAD.len()] == *PAYLOAD
}

/// The ICMP message inside an IPv4 packet, if it is one.
pub fn strip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header = usize::from(first & 0x0f) * 4;
    (header >= 20).then_some(())?;
    packet.get(header..)
}

/// The Internet checksum (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sockaddr(target: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match target {
        SocketAddr::V4(v4) => {
            let ip = *v4.ip();
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(ip.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), addr) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let ip = *v6.ip();
            let addr = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                // A link-local gateway (`fe80::1%eth0`) needs its interface.
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), addr) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn send_to(fd: &OwnedFd, message: &[u8], target: SocketAddr) -> io::Result<()> {
    let (addr, len) = sockaddr(target);
    // SAFETY: `message` and `addr` are live for the call; `len` is addr's size.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            libc::MSG_DONTWAIT,
            (&raw const addr).cast(),
            len,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` has something to read within `wait`.
fn readable(fd: &OwnedFd, wait: std::time::Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(wait.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one live pollfd.
    match unsafe { libc::poll(&raw mut poll, 1, ms) } {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// One datagram and the address it came from.
fn recv_from(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, Option<IpAddr>)> {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `buf` and `addr` are live and their sizes are passed.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&raw mut addr).cast(),
            &raw mut len,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok((0, None)),
            _ => Err(e),
        };
    }
    let from = match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for this family.
            let v4: libc::sockaddr_in = unsafe { std::ptr::read((&raw const addr).cast()) };
            Some(IpAddr::from(v4.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for this family.
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const addr).cast()) };
            Some(IpAddr::from(v6.sin6_addr.s6_addr))
        }
        _ => None,
    };
    Ok((n as usize, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071's example: 0x0001 0xf203 0xf4f5 0xf6f7 sums to 0xddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        let request = echo_request(false, 0x1234, 7);
        assert_eq!(
            checksum(&request),
            0,
            "a message with its checksum sums to zero"
        );
        assert_eq!(
            &request[..8],
            &[8, 0, request[2], request[3], 0x12, 0x34, 0, 7]
        );
    }

    #[test]
    fn only_our_reply_counts() {
        let mut reply = echo_request(false, 0x1234, 7);
        reply[0] = ECHO_REPLY_V4;
        assert!(is_reply(&reply, false, Some(0x1234), 7));
        assert!(is_reply(&reply, false, None, 7));
        assert!(
            !is_reply(&reply, false, Some(0x1235), 7),
            "another program's"
        );
        assert!(!is_reply(&reply, false, None, 8), "another probe's");
        assert!(!is_reply(&reply, true, None, 7), "not an ICMPv6 reply");
        assert!(!is_reply(&reply[..10], false, None, 7), "truncated");
        let request = echo_request(false, 0x1234, 7);
        assert!(
            !is_reply(&request, false, None, 7),
            "our own request, seen on loopback"
        );
        let mut v6 = echo_request(true, 1, 2);
        v6[0] = ECHO_REPLY_V6;
        assert!(is_reply(&v6, true, Some(1), 2));
        let mut packet = vec![0x45u8; 20];
        packet.extend_from_slice(&reply);
        assert_eq!(strip_ipv4_header(&packet), Some(&reply[..]));
        assert_eq!(strip_ipv4_header(&[0x41, 0, 0]), None);
        assert_eq!(strip_ipv4_header(&[]), None);
    }
}
