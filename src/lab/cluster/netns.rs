//! `--isolation netns` (root): every host is a network namespace plus a mount
//! namespace, the switch is a bridge in a namespace of its own.
//!
//! ```text
//!  switch ns hel-<id>-sw:  br0 10.77.0.1/24 (the gateway) -- ports h1, h2, ...
//!                                                             |  (veth)
//!  host ns hel-<id>-hN:    eth0 -- ovirtmgmt 10.77.0.(10+N)/24 -- vnet0 (veth) -- the
//!                                                                 engine payload's own
//!                                                                 ns: eth0 10.77.0.100/24
//! ```
//!
//! Each host's mount namespace is kept by bind-mounting its nsfs file at
//! `<lab>/ns/hostN.mnt` (under a private bind mount of `<lab>/ns`); in it, `/sys`
//! is the host's own sysfs (so the agent's bridge check sees `ovirtmgmt`), and
//! the shared storage (a tmpfs at `<lab>/storage`) is bind-mounted at the host's
//! mount point. Processes enter a host with `setns(2)` on both namespaces.
//!
//! An engine VM's port (`vnet0`) is removed by the lab once no payload holds
//! it ([`reap_vm_port`]): a killed VM's namespace may outlive it.
//!
//! With `--fencing`, the hosts' BMCs sit on a management network of their
//! own, as a real site's do, so that a fault of the hosts' data network
//! (`host-network-down`, `partition`) leaves every BMC reachable:
//!
//! ```text
//!  management ns hel-<id>-mg:  br0, holding every BMC's address 10.78.0.(100+N)/24
//!                              (each host's ipmi_sim listens there on 623/udp)
//!                              -- ports m1, m2, ... (veth)
//!  host ns hel-<id>-hN:        mgmt0 10.78.0.(10+N)/24, a second interface beside eth0
//! ```
//!
//! The BMCs (`ipmi_sim` and the power sentinels it runs) live in the
//! management namespace ([`MgmtNs`]), the lab's own `ipmitool` calls too;
//! a host's fence agent reaches another host's BMC through its `mgmt0`, which
//! no fault takes down.
//!
//! Faults: a host's network goes down with its links (`eth0`, `ovirtmgmt`); a
//! partition moves the listed hosts' switch ports to a second bridge without the
//! gateway; `umount -l` of the mount point for a storage loss; for read-only
//! storage the mount point becomes a lower-only overlay of the storage (a plain
//! read-only remount is refused while the agent holds the volume open for
//! writing; the overlay is a different device, so the agent's check that the
//! path still names its open file fails and its reopen for writing gets EROFS).

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::layout::{LabSpec, NETNS_SUBNET};
use crate::lab::cmd;
use crate::lab::engine::HOST_PORT;

/// The management bridge inside each host's network namespace.
pub const NETNS_BRIDGE: &str = "ovirtmgmt";
/// The switch's bridge (carries the gateway address).
const SWITCH_BRIDGE: &str = "br0";
/// The bridge of the partitioned hosts (no gateway on it).
const PARTITION_BRIDGE: &str = "br1";
/// Each host's uplink inside its namespace.
const UPLINK: &str = "eth0";
/// The management network's subnet (the BMCs, each host's `mgmt0`).
pub const MGMT_SUBNET: &str = "10.78.0";
/// Each host's interface on the management network.
pub const MGMT_LINK: &str = "mgmt0";
/// The management network's bridge, in its namespace.
const MGMT_BRIDGE: &str = "br0";
/// The storage tmpfs's size.
const STORAGE_SIZE: &str = "256m";
/// The empty second layer of the read-only overlay.
const OVERLAY_EMPTY: &str = "ro-empty";

/// The namespace names of a lab with id `id` and `hosts` hosts.
pub fn names(id: &str, hosts: u16) -> (String, Vec<String>) {
    let switch = format!("hel-{id}-sw");
    let hosts = (1..=hosts).map(|h| format!("hel-{id}-h{h}")).collect();
    (switch, hosts)
}

/// The management network's namespace of lab `id` (`--fencing`).
pub fn mgmt_name(id: &str) -> String {
    format!("hel-{id}-mg")
}

/// The last octet of host `id`'s BMC's address on the management network.
pub fn bmc_octet(id: u16) -> u32 {
    100 + u32::from(id)
}

/// Whether this process may build a netns lab, and if not, why.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("--isolation netns needs root".into());
    }
    for program in ["ip", "unshare", "mount", "umount"] {
        cmd::run_argv(&["sh", "-c", &format!("command -v {program}")])
            .map_err(|_| format!("--isolation netns needs the {program} program"))?;
    }
    Ok(())
}

/// A host's namespaces, open for `setns(2)`.
pub struct HostNs {
    net: File,
    mnt: File,
}

impl HostNs {
    pub fn open(spec: &LabSpec, id: u16) -> io::Result<HostNs> {
        let (_, hosts) = spec
            .netns_names()
            .ok_or_else(|| io::Error::other("not a netns lab"))?;
        let name = &hosts[usize::from(id - 1)];
        let net_path = Path::new("/run/netns").join(name);
        let net = File::open(&net_path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", net_path.display())))?;
        let mnt_path = spec.mnt_ns_file(id);
        let mnt = File::open(&mnt_path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", mnt_path.display())))?;
        Ok(HostNs { net, mnt })
    }

    /// Whether this host's network namespace has a link named `name` (looked
    /// up from a thread of its own that enters it: no program to run).
    pub fn has_link(&self, name: &str) -> io::Result<bool> {
        let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
        let fd = self.net.as_raw_fd();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: setns(2) on this thread only, with a descriptor
                    // `self` holds for the scope's length.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // SAFETY: if_nametoindex(3) reads a NUL-terminated name.
                    Ok(unsafe { libc::if_nametoindex(name.as_ptr()) } != 0)
                })
                .join()
                .map_err(|_| io::Error::other("the lookup thread panicked"))?
        })
    }

    /// Makes `command` run inside this host (network and mount namespace), in
    /// `cwd` when given (else `/`).
    pub fn enter(&self, command: &mut Command, cwd: Option<&Path>) {
        let (net, mnt) = (self.net.as_raw_fd(), self.mnt.as_raw_fd());
        let cwd = std::ffi::CString::new(
            cwd.unwrap_or(Path::new("/"))
                .as_os_str()
                .as_encoded_bytes()
                .to_vec(),
        )
        .unwrap_or_else(|_| c"/".to_owned());
        // SAFETY: setns(2) and chdir(2) are async-signal-safe; the descriptors
        // live in `self`, which the caller keeps until the spawn returns, and
        // survive the fork (close-on-exec only acts at exec). The forked child is
        // single-threaded, as entering a mount namespace requires.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(net, libc::CLONE_NEWNET) != 0
                    || libc::setns(mnt, libc::CLONE_NEWNS) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // Entering a mount namespace moves to its root; come back.
                if libc::chdir(cwd.as_ptr()) != 0 {
                    libc::chdir(c"/".as_ptr());
                }
                Ok(())
            });
        }
    }
}

/// The management network's namespace, open for `setns(2)`: where the BMCs
/// run and the lab talks to them from.
pub struct MgmtNs {
    net: File,
}

impl MgmtNs {
    pub fn open(spec: &LabSpec) -> io::Result<MgmtNs> {
        let path = Path::new("/run/netns").join(mgmt_name(&spec.id));
        let net = File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(MgmtNs { net })
    }

    /// Makes `command` run on the management network (its network
    /// namespace only: it sees the lab's files as the lab does).
    pub fn enter(&self, command: &mut Command) {
        let net = self.net.as_raw_fd();
        // SAFETY: setns(2) is async-signal-safe; the descriptor lives in
        // `self`, which the caller keeps until the spawn returns.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(net, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Runs `argv` inside host `id`.
pub fn run_in_host(spec: &LabSpec, id: u16, argv: &[&str]) -> Result<String, String> {
    let ns = HostNs::open(spec, id).map_err(|e| e.to_string())?;
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]);
    ns.enter(&mut command, None);
    let out = cmd::run(&mut command, cmd::COMMAND_TIMEOUT);
    drop(ns);
    out
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    cmd::run_argv(&argv).map_err(anyhow::Error::msg)?;
    Ok(())
}

fn mount_cmd(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["mount"];
    argv.extend_from_slice(args);
    cmd::run_argv(&argv).map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Mounts the storage tmpfs at `<lab>/storage` (before the volume is made).
pub fn create_storage(spec: &LabSpec) -> anyhow::Result<()> {
    let dir = spec.storage_dir();
    std::fs::create_dir_all(&dir)?;
    let dir = dir.display().to_string();
    mount_cmd(&[
        "-t",
        "tmpfs",
        "-o",
        &format!("size={STORAGE_SIZE},mode=0755"),
        &format!("he-lab-{}", spec.id),
        &dir,
    ])
}

/// Builds the switch, the hosts, their links and mount namespaces.
pub fn create(spec: &LabSpec) -> anyhow::Result<()> {
    let (switch, hosts) = spec.netns_names().context("not a netns lab")?;
    ip(&["netns", "add", switch])?;
    ip(&["-n", switch, "link", "set", "lo", "up"])?;
    ip(&["-n", switch, "link", "add", SWITCH_BRIDGE, "type", "bridge"])?;
    let gateway = format!("{NETNS_SUBNET}.1/24");
    ip(&["-n", switch, "addr", "add", &gateway, "dev", SWITCH_BRIDGE])?;
    ip(&["-n", switch, "link", "set", SWITCH_BRIDGE, "up"])?;
    for (index, name) in hosts.iter().enumerate() {
        let id = index as u16 + 1;
        create_host(switch, name, id)?;
    }
    let ns_dir = spec.ns_dir();
    std::fs::create_dir_all(ns_dir.join(OVERLAY_EMPTY))?;
    let ns_text = ns_dir.display().to_string();
    // nsfs files can be bind-mounted only onto a private mount.
    mount_cmd(&["--bind", &ns_text, &ns_text])?;
    mount_cmd(&["--make-private", &ns_text])?;
    for id in spec.host_ids() {
        create_mount_ns(spec, id)?;
    }
    if spec.fencing {
        create_mgmt(spec, hosts)?;
    }
    Ok(())
}

/// The management network (see the module documentation): its namespace
/// and bridge with every BMC's address, and each host's `mgmt0` on it.
fn create_mgmt(spec: &LabSpec, hosts: &[String]) -> anyhow::Result<()> {
    let mgmt = mgmt_name(&spec.id);
    ip(&["netns", "add", &mgmt])?;
    ip(&["-n", &mgmt, "link", "set", "lo", "up"])?;
    ip(&["-n", &mgmt, "link", "add", MGMT_BRIDGE, "type", "bridge"])?;
    for id in spec.host_ids() {
        let address = format!("{MGMT_SUBNET}.{}/24", bmc_octet(id));
        ip(&["-n", &mgmt, "addr", "add", &address, "dev", MGMT_BRIDGE])?;
    }
    ip(&["-n", &mgmt, "link", "set", MGMT_BRIDGE, "up"])?;
    for (index, name) in hosts.iter().enumerate() {
        let id = index as u16 + 1;
        let port = format!("m{id}");
        ip(&[
            "-n", &mgmt, "link", "add", &port, "type", "veth", "peer", "name", MGMT_LINK, "netns",
            name,
        ])?;
        ip(&[
            "-n",
            &mgmt,
            "link",
            "set",
            &port,
            "master",
            MGMT_BRIDGE,
            "up",
        ])?;
        let address = format!("{MGMT_SUBNET}.{}/24", 10 + u32::from(id));
        ip(&["-n", name, "addr", "add", &address, "dev", MGMT_LINK])?;
        ip(&["-n", name, "link", "set", MGMT_LINK, "up"])?;
    }
    Ok(())
}

fn create_host(switch: &str, name: &str, id: u16) -> anyhow::Result<()> {
    let port = format!("h{id}");
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    ip(&[
        "-n", switch, "link", "add", &port, "type", "veth", "peer", "name", UPLINK, "netns", name,
    ])?;
    ip(&[
        "-n",
        switch,
        "link",
        "set",
        &port,
        "master",
        SWITCH_BRIDGE,
        "up",
    ])?;
    ip(&["-n", name, "link", "add", NETNS_BRIDGE, "type", "bridge"])?;
    ip(&[
        "-n",
        name,
        "link",
        "set",
        UPLINK,
        "master",
        NETNS_BRIDGE,
        "up",
    ])?;
    let address = format!("{NETNS_SUBNET}.{}/24", 10 + u32::from(id));
    ip(&["-n", name, "addr", "add", &address, "dev", NETNS_BRIDGE])?;
    ip(&["-n", name, "link", "set", NETNS_BRIDGE, "up"])
}

fn create_mount_ns(spec: &LabSpec, id: u16) -> anyhow::Result<()> {
    let file = spec.mnt_ns_file(id);
    File::create(&file).with_context(|| format!("creating {}", file.display()))?;
    cmd::run_argv(&[
        "unshare",
        &format!("--mount={}", file.display()),
        "--propagation",
        "private",
        "true",
    ])
    .map_err(anyhow::Error::msg)?;
    // sysfs shows the network namespace of whoever mounts it: the host's.
    run_in_host(spec, id, &["mount", "-t", "sysfs", "sysfs", "/sys"])
        .map_err(anyhow::Error::msg)?;
    storage_mount(spec, id).map_err(anyhow::Error::msg)
}

/// Host `id`'s uplink and bridge up or down (`service network stop`).
pub fn set_host_link(spec: &LabSpec, id: u16, up: bool) -> Result<(), String> {
    let (_, hosts) = spec.netns_names().ok_or("not a netns lab")?;
    let name = &hosts[usize::from(id - 1)];
    let state = if up { "up" } else { "down" };
    // Down: the bridge first, as the network service stops it; up: the reverse.
    let order = if up {
        [UPLINK, NETNS_BRIDGE]
    } else {
        [NETNS_BRIDGE, UPLINK]
    };
    for link in order {
        cmd::run_argv(&["ip", "-n", name, "link", "set", link, state])?;
    }
    Ok(())
}

/// Moves the switch ports of `hosts` to a bridge without the gateway (empty:
/// everyone back on the main bridge).
pub fn set_partition(spec: &LabSpec, hosts: &BTreeSet<u16>) -> Result<(), String> {
    let (switch, _) = spec.netns_names().ok_or("not a netns lab")?;
    if !hosts.is_empty() {
        // Exists already after an earlier partition: that is fine.
        let _ = cmd::run_argv(&[
            "ip",
            "-n",
            switch,
            "link",
            "add",
            PARTITION_BRIDGE,
            "type",
            "bridge",
        ]);
        cmd::run_argv(&["ip", "-n", switch, "link", "set", PARTITION_BRIDGE, "up"])?;
    }
    for id in spec.host_ids() {
        let bridge = if hosts.contains(&id) {
            PARTITION_BRIDGE
        } else {
            SWITCH_BRIDGE
        };
        let port = format!("h{id}");
        cmd::run_argv(&["ip", "-n", switch, "link", "set", &port, "master", bridge])?;
    }
    if hosts.is_empty() {
        let _ = cmd::run_argv(&["ip", "-n", switch, "link", "del", PARTITION_BRIDGE]);
    }
    Ok(())
}

/// What is mounted at host `id`'s mount point: `None` nothing, else the
/// filesystem type (`tmpfs` for the storage, `overlay` when read-only).
pub fn storage_mount_type(spec: &LabSpec, id: u16) -> Result<Option<String>, String> {
    let table = run_in_host(spec, id, &["cat", "/proc/self/mountinfo"])?;
    Ok(mount_type_at(&table, &spec.mount_point(id)))
}

/// The type of the topmost mount at `point` in a mountinfo table.
pub fn mount_type_at(mountinfo: &str, point: &Path) -> Option<String> {
    let wanted = point.display().to_string();
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            (unescape(mount_point) == wanted).then(|| fstype.to_string())
        })
        .next_back()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `umount -l` of host `id`'s storage (test plan case 5).
pub fn storage_unmount(spec: &LabSpec, id: u16) -> Result<(), String> {
    let point = spec.mount_point(id).display().to_string();
    run_in_host(spec, id, &["umount", "-l", &point]).map(|_| ())
}

/// Mounts the storage at host `id`'s mount point unless it is mounted (the
/// storage itself or its read-only view). Run inside the host's namespaces by
/// the agent's connect command, and by the lab.
pub fn storage_mount(spec: &LabSpec, id: u16) -> Result<(), String> {
    if storage_mount_type(spec, id)?.is_some() {
        return Ok(());
    }
    let storage = spec.storage_dir().display().to_string();
    let point = spec.mount_point(id).display().to_string();
    run_in_host(spec, id, &["mount", "--bind", &storage, &point]).map(|_| ())
}

/// Host `id` sees the storage read-only (everyone else keeps writing).
pub fn storage_readonly(spec: &LabSpec, id: u16) -> Result<(), String> {
    let point = spec.mount_point(id).display().to_string();
    if storage_mount_type(spec, id)?.is_some() {
        run_in_host(spec, id, &["umount", "-l", &point])?;
    }
    let lower = format!(
        "lowerdir={}:{}",
        spec.storage_dir().display(),
        spec.ns_dir().join(OVERLAY_EMPTY).display()
    );
    run_in_host(
        spec,
        id,
        &["mount", "-t", "overlay", "-o", &lower, "he-lab-ro", &point],
    )
    .map(|_| ())
}

/// Back to the plain storage mount (after read-only or an unmount).
pub fn storage_restore(spec: &LabSpec, id: u16) -> Result<(), String> {
    if storage_mount_type(spec, id)?.as_deref() == Some("overlay") {
        let point = spec.mount_point(id).display().to_string();
        run_in_host(spec, id, &["umount", "-l", &point])?;
    }
    storage_mount(spec, id)
}

/// The connect command's work inside the agent's own namespaces: mount the
/// storage at `point` if nothing is mounted there.
pub fn connect_here(storage: &Path, point: &Path) -> Result<String, String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    if let Some(kind) = mount_type_at(&table, point) {
        return Ok(format!("{} is mounted ({kind})", point.display()));
    }
    let (storage, point) = (storage.display().to_string(), point.display().to_string());
    cmd::run_argv(&["mount", "--bind", &storage, &point])?;
    Ok(format!("mounted {storage} at {point}"))
}

/// Unmounts every mask over a `/proc/<pid>/stat` in host `host` (those of a
/// VM that is gone went with its `/proc` entry).
pub fn unmask_stats(spec: &LabSpec, host: u16) -> Result<(), String> {
    let table = run_in_host(spec, host, &["cat", "/proc/self/mountinfo"])?;
    for point in stat_masks(&table) {
        run_in_host(spec, host, &["umount", &point])?;
    }
    Ok(())
}

/// The mount points of a mountinfo table that mask a process's stat file.
fn stat_masks(mountinfo: &str) -> Vec<String> {
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| is_stat_path(Path::new(point)))
        .map(str::to_owned)
        .collect();
    points.dedup();
    points
}

fn is_stat_path(path: &Path) -> bool {
    let mut parts = path.iter().map(|p| p.to_str().unwrap_or(""));
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("/"), Some("proc"), Some(pid), Some("stat"), None)
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    )
}

/// Removes host `id`'s engine VM port when no engine VM holds it: a payload
/// that was killed (the agent's power-off, a host's) cannot unplug itself, and
/// its port must not keep answering for the engine's address until the kernel
/// frees its namespace ([`crate::lab::engine`]'s `vmnet`). The port lock is
/// taken for the removal, so a VM that boots meanwhile waits rather than lose
/// its new port. `Ok(true)` when a port was removed.
pub fn reap_vm_port(spec: &LabSpec, ns: &HostNs, id: u16) -> Result<bool, String> {
    // Held: a payload runs (or boots) on this host and owns the port.
    let Ok(_lock) = crate::config::lock_exclusive(&spec.vm_port_lock(id), 0) else {
        return Ok(false);
    };
    if !ns
        .has_link(HOST_PORT)
        .map_err(|e| format!("host{id}: {e}"))?
    {
        return Ok(false);
    }
    let (_, hosts) = spec.netns_names().ok_or("not a netns lab")?;
    let name = &hosts[usize::from(id - 1)];
    cmd::run_argv(&["ip", "-n", name, "link", "del", HOST_PORT])?;
    Ok(true)
}

/// Removes the lab's namespaces and every mount under its directory. Best
/// effort: returns what could not be undone.
pub fn teardown(spec: &LabSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let prefix = format!("hel-{}-", spec.id);
    let mut names: BTreeSet<String> = match spec.netns_names() {
        Some((switch, hosts)) => std::iter::once(switch.to_string())
            .chain(hosts.iter().cloned())
            .chain(spec.fencing.then(|| mgmt_name(&spec.id)))
            .collect(),
        None => BTreeSet::new(),
    };
    // Also any the registry does not know (a crash in the middle of `up`).
    names.extend(lab_netns(&prefix));
    for name in names {
        if Path::new("/run/netns").join(&name).exists()
            && let Err(e) = cmd::run_argv(&["ip", "netns", "del", &name])
        {
            problems.push(e);
        }
    }
    problems.extend(unmount_under(&spec.dir));
    problems
}

/// Named network namespaces whose names start with `prefix`.
pub fn lab_netns(prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Mount points at or under `dir` in this mount namespace, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(unescape))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// Lazily unmounts everything under `dir` (stacked mounts too).
pub fn unmount_under(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    // Bounded: each round removes at least one mount or gives up.
    for _ in 0..64 {
        let points = mounts_under(dir);
        if points.is_empty() {
            return problems;
        }
        let mut progress = false;
        for point in points {
            let c = std::ffi::CString::new(point.as_os_str().as_encoded_bytes().to_vec());
            let Ok(c) = c else { continue };
            // SAFETY: umount2(2) with a NUL-terminated path.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                progress = true;
            } else {
                let e = io::Error::last_os_error();
                problems.push(format!("umount {}: {e}", point.display()));
            }
        }
        if !progress {
            return problems;
        }
        problems.clear();
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lookups_take_the_topmost_mount_and_unescape() {
        let table = "36 35 0:30 / /lab/h/mnt rw - tmpfs he-lab rw\n\
                     37 36 0:31 / /lab/h/mnt rw - overlay he-lab-ro ro\n\
                     38 35 0:32 / /a\\040b rw - tmpfs x rw\n";
        assert_eq!(
            mount_type_at(table, Path::new("/lab/h/mnt")).as_deref(),
            Some("overlay")
        );
        assert_eq!(
            mount_type_at(table, Path::new("/a b")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(mount_type_at(table, Path::new("/lab")), None);
    }

    #[test]
    fn only_masks_over_a_process_stat_file_are_found() {
        let table = "36 35 0:30 / /proc rw - proc proc rw\n\
                     68 36 0:6 /null /proc/6583/stat rw - devtmpfs devtmpfs rw\n\
                     69 36 0:6 /null /proc/kcore rw - devtmpfs devtmpfs rw\n\
                     70 36 0:6 /null /proc/12/status rw - devtmpfs devtmpfs rw\n";
        assert_eq!(stat_masks(table), ["/proc/6583/stat"]);
        assert!(!is_stat_path(Path::new("/proc/self/stat")));
    }

    #[test]
    fn names_fit_the_kernel_limits() {
        let (switch, hosts) = names("abcdef", 32);
        assert_eq!(switch, "hel-abcdef-sw");
        assert_eq!(hosts[31], "hel-abcdef-h32");
        assert_eq!(mgmt_name("abcdef"), "hel-abcdef-mg");
        assert!(format!("m{}", crate::lab::cluster::layout::HOSTS_MAX).len() <= 15);
    }
}
