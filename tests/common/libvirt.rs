//! The real libvirt guest of the libvirt tests (scripts/libvirt-guest).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libvirt connection the tests use.
pub const URI: &str = "qemu:///system";

/// The guest's kernel and initramfs directory (built by `scripts/libvirt-guest
/// build`), or `None` (skipped, said why; a failure under
/// `HE_REQUIRE_PRIVILEGED=1`). Needs root and a running libvirtd, and with
/// `needs_virsh` a working `virsh`.
pub fn test_guest(needs_virsh: bool) -> Option<PathBuf> {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !super::require("root (libvirt's qemu:///system)", root) {
        return None;
    }
    let libvirtd = Path::new("/run/libvirt/libvirt-sock").exists()
        && (!needs_virsh
            || Command::new("virsh")
                .args(["-c", URI, "version"])
                .output()
                .is_ok_and(|o| o.status.success()));
    let what = if needs_virsh {
        "a running libvirtd and virsh (scripts/libvirt-guest daemons)"
    } else {
        "a running libvirtd (scripts/libvirt-guest daemons)"
    };
    if !super::require(what, libvirtd) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libvirt-guest");
    let built = Command::new(&script).arg("build").output();
    let dir = match &built {
        Ok(out) if out.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        }
        _ => None,
    };
    let why = match &built {
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => e.to_string(),
    };
    if !super::require(
        &format!("the test guest (scripts/libvirt-guest build: {why})"),
        dir.is_some(),
    ) {
        return None;
    }
    dir
}

/// The test guest's domain XML: 128 MiB, one vCPU, the guest's kernel and
/// initramfs from `guest`, destroyed on power-off, reboot and crash; `features`
/// and `devices` are inserted as they are (e.g. `<acpi/>`, a serial port).
pub fn domain_xml(name: &str, uuid: &str, guest: &Path, features: &str, devices: &str) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest}/vmlinuz</kernel>
    <initrd>{guest}/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline>
  </os>
  <features>{features}</features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    {devices}
    <memballoon model='none'/>
  </devices>
</domain>
",
        guest = guest.display(),
    )
}
