//! The engine payload as a VM on the host's bridge (`--isolation netns`, root):
//! the payload moves itself into a network namespace of its own, with a veth
//! pair whose other end (`vnet0`, as libvirt would name it) is a port of the
//! host's management bridge, and takes the engine's address there.
//!
//! The engine's address must be reachable exactly while a payload runs, as a
//! VM's tap device goes with its QEMU. The namespace has no name and no other
//! process, but it does not always end with the payload: the kernel frees it
//! only once nothing refers to it any more (an open namespace file, a process
//! that entered it, a socket; and then asynchronously), and until then its veth
//! pair stays, the host-side end plugged into the bridge, and its address
//! answers ARP. A host then resolves the engine's address to the dead VM on
//! its own bridge, and the engine that legitimately started on another host
//! fails that host's health check. So the port does not wait for the kernel:
//!
//! - a payload that shuts down deletes its link itself (`ip link del eth0`
//!   deletes the pair) as its last act;
//! - a payload holds a lock (`--vm-port-lock`, an `flock` the kernel drops the
//!   moment the process dies, however it dies) while its port exists: the lab's
//!   supervisor removes a host's port that no payload holds
//!   ([`crate::lab::cluster::netns::reap_vm_port`]), within half a second of a
//!   SIGKILL (the agent's power-off, the lab's own kills), and a payload that
//!   boots takes the lock before it removes a stale port and makes its own.
//!
//! Each boot has a new MAC address and announces it with a gratuitous ARP, so
//! that the hosts and the switch learn where the engine now is at once, as QEMU
//! does after a migration.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use super::ids::boot_id;
use crate::config::{FileLock, lock_exclusive};
use crate::lab::cmd;

/// The host-side end of the VM's veth pair.
pub const HOST_PORT: &str = "vnet0";
/// The VM's interface inside its namespace.
pub const VM_IFACE: &str = "eth0";

/// Where the VM plugs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmNet {
    /// The VM's address with its prefix, e.g. `10.77.0.100/24`.
    pub cidr: String,
    /// The host's bridge, e.g. `ovirtmgmt`.
    pub bridge: String,
    /// Locked (`<file>.lock`) while this VM's port exists (see the module
    /// documentation).
    pub port_lock: Option<PathBuf>,
}

/// How long a booting VM waits for its port's lock (the lab holds it for
/// the moment it takes to remove a dead VM's port).
const PORT_LOCK_WAIT_MS: u64 = 5_000;

/// The VM's link, once attached.
#[derive(Debug)]
pub struct VmLink {
    ip: Ipv4Addr,
    mac: [u8; 6],
    /// Held until the process ends (the kernel releases it, however it ends).
    _port_lock: Option<FileLock>,
}

/// Creates the VM's namespace and link. Must run before the process starts any
/// thread (a network namespace belongs to the thread that enters it, and threads
/// inherit it from their creator).
pub fn attach(net: &VmNet) -> anyhow::Result<VmLink> {
    let ip: Ipv4Addr = net
        .cidr
        .split_once('/')
        .map_or(net.cidr.as_str(), |(ip, _)| ip)
        .parse()
        .with_context(|| format!("{}: not an IPv4 address/prefix", net.cidr))?;
    // Before the stale port goes: no other VM of this host is between its
    // port and its end (the lab's supervisor removes ports under this lock).
    let port_lock = match &net.port_lock {
        Some(path) => Some(
            lock_exclusive(path, PORT_LOCK_WAIT_MS)
                .map_err(|e| anyhow::anyhow!("the VM's port lock: {e}"))?,
        ),
        None => None,
    };
    let host_ns = File::open("/proc/self/ns/net").context("/proc/self/ns/net")?;
    // SAFETY: unshare(2) of the calling (only) thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error()).context("unshare(CLONE_NEWNET) (needs root)");
    }
    let mac = random_mac();
    let pid = std::process::id().to_string();
    // A port left by a VM that died mid-boot; normally there is none.
    let _ = in_ns(&host_ns, &["ip", "link", "del", HOST_PORT]);
    let mac_text = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    in_ns(
        &host_ns,
        &[
            "ip", "link", "add", HOST_PORT, "type", "veth", "peer", "name", VM_IFACE, "address",
            &mac_text, "netns", &pid,
        ],
    )?;
    in_ns(
        &host_ns,
        &["ip", "link", "set", HOST_PORT, "master", &net.bridge, "up"],
    )?;
    for argv in [
        vec!["ip", "link", "set", "lo", "up"],
        vec!["ip", "addr", "add", &net.cidr, "dev", VM_IFACE],
        vec!["ip", "link", "set", VM_IFACE, "up"],
    ] {
        cmd::run_argv(&argv).map_err(anyhow::Error::msg)?;
    }
    let link = VmLink {
        ip,
        mac,
        _port_lock: port_lock,
    };
    announce(&link);
    Ok(link)
}

/// Unplugs the VM, as its power-off does: deleting its end of the veth pair
/// deletes the host's end too, and the address goes with it, whatever still
/// keeps the namespace alive. Run by the payload's last thread of work, in
/// its own namespace.
pub fn detach(_link: &VmLink) -> Result<(), String> {
    cmd::run_argv(&["ip", "link", "del", VM_IFACE]).map(|_| ())
}

/// The VM's link up (with a fresh announcement) or down.
pub fn set_link(link: &VmLink, up: bool) -> Result<(), String> {
    let state = if up { "up" } else { "down" };
    cmd::run_argv(&["ip", "link", "set", VM_IFACE, state])?;
    if up {
        announce(link);
    }
    Ok(())
}

/// Runs `argv` in the network namespace `ns`.
fn in_ns(ns: &File, argv: &[&str]) -> anyhow::Result<()> {
    let fd = ns.as_raw_fd();
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]);
    // SAFETY: setns(2) is async-signal-safe; `fd` stays open across the fork
    // (close-on-exec only closes it at exec, after this runs).
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd::run(&mut command, cmd::COMMAND_TIMEOUT).map_err(anyhow::Error::msg)?;
    Ok(())
}

/// A locally administered unicast MAC address, random per boot.
fn random_mac() -> [u8; 6] {
    let id = boot_id();
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

/// Three gratuitous ARPs (best effort: a lost one costs an ARP timeout).
fn announce(link: &VmLink) {
    for _ in 0..3 {
        let _ = gratuitous_arp(VM_IFACE, link.ip, link.mac);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Broadcasts "who has `ip`? tell `ip`" from `mac` on `iface`.
fn gratuitous_arp(iface: &str, ip: Ipv4Addr, mac: [u8; 6]) -> anyhow::Result<()> {
    let name = CString::new(iface)?;
    // SAFETY: if_nametoindex(3) reads a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("{iface}: no such interface");
    }
    let arp = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: socket(2); the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(arp)) };
    if raw < 0 {
        return Err(io::Error::last_os_error()).context("AF_PACKET socket");
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let frame = arp_frame(ip, mac);
    // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = arp;
    addr.sll_ifindex = index as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: sendto(2) with a buffer and address that live across the call.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error()).context("sending a gratuitous ARP");
    }
    Ok(())
}

/// An Ethernet frame with an ARP request for `ip` from `ip` (padded to 60 bytes).
fn arp_frame(ip: Ipv4Addr, mac: [u8; 6]) -> [u8; 60] {
    let mut frame = [0u8; 60];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    // Ethernet, IPv4, 6-byte and 4-byte addresses, request.
    frame[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&ip.octets());
    frame[38..42].copy_from_slice(&ip.octets());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_frames_name_the_sender_as_target() {
        let frame = arp_frame(Ipv4Addr::new(10, 77, 0, 100), [2, 1, 2, 3, 4, 5]);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(&frame[28..32], &[10, 77, 0, 100]);
        assert_eq!(&frame[38..42], &[10, 77, 0, 100]);
        assert_eq!(&frame[32..38], &[0; 6]);
    }

    #[test]
    fn macs_are_local_unicast() {
        let mac = random_mac();
        assert_eq!(mac[0] & 0x03, 0x02);
    }
}
