//! `vm-manager-wedge`: the host's VM manager wedges while its engine VM runs.
//! The agent's `process` driver can then neither query nor act on the VM, and
//! the VM itself ignores a shutdown (SIGTERM): only a power-off of the whole
//! host (its watchdog) ends it.
//!
//! The driver reads its state file once, at its start, and then follows the
//! VM through `/proc/<pid>/stat` (`shell::vm::process`). So the wedge is made
//! of the file system, never of the driver's code:
//!
//! - the state file is replaced by a directory: an agent that starts (again)
//!   cannot read it, and no record of a start or a stop can be written;
//! - under netns, `/dev/null` is bind-mounted over the VM's `/proc/<pid>/stat`
//!   in the host's mount namespace (the lab's own view is untouched): the
//!   running agent's every look at the VM fails (an empty stat line), so it
//!   reads the VM as unknown and does not signal it. Under isolation none
//!   there is no mount namespace of the host's own to do that in: a running
//!   agent still sees and can kill the VM (an agent restarted after the
//!   wedge, by `agent-kill`, cannot);
//! - the payload ignores SIGTERM (`ignore-shutdown` in its control file).
//!
//! Heal puts the state file back, removes the masks and clears the VM's faults.
//!
//! This module keeps the state file's part; the verb is in `apply.rs`, its
//! undoing in `heal.rs`, and the masks are the isolation backend's
//! (`Backend::mask_vm_stats`).

use crate::lab::cluster::layout::LabSpec;

/// Moves the state file aside and puts a directory in its place.
pub(super) fn wedge_state_file(spec: &LabSpec, host: u16) -> Result<(), String> {
    let path = spec.vm_state(host);
    let kept = spec.wedged_vm_state(host);
    if path.is_dir() {
        return Ok(());
    }
    match std::fs::rename(&path, &kept) {
        Ok(()) => {}
        // No record (yet): the directory alone wedges.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    std::fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The directory goes, the kept state file comes back.
pub(super) fn unwedge_state_file(spec: &LabSpec, host: u16) -> Result<(), String> {
    let path = spec.vm_state(host);
    if path.is_dir() {
        std::fs::remove_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let kept = spec.wedged_vm_state(host);
    match std::fs::rename(&kept, &path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", kept.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::cluster::layout::{Isolation, NetPlan, Profile, SPEC_VERSION};

    #[test]
    fn the_state_file_is_kept_aside_and_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LabSpec {
            version: SPEC_VERSION,
            id: "abcdef".into(),
            dir: dir.path().to_path_buf(),
            hosts: 1,
            isolation: Isolation::None,
            profile: Profile::Fast,
            lab_bin: "/bin/he-lab".into(),
            agent_bin: "/bin/ovirt-ha-agent".into(),
            sd_uuid: "sd".into(),
            bridge: "lo".into(),
            net: NetPlan::Loopback {
                prefix: [120, 7],
                port: 30000,
            },
            fencing: false,
        };
        let path = spec.vm_state(1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"pid\":1}\n").unwrap();
        wedge_state_file(&spec, 1).unwrap();
        assert!(path.is_dir());
        // Reading it fails as the driver's read does (a directory opens, but
        // does not read).
        assert!(std::fs::read(&path).is_err());
        wedge_state_file(&spec, 1).unwrap();
        unwedge_state_file(&spec, 1).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"pid\":1}\n");
        unwedge_state_file(&spec, 1).unwrap();
        std::fs::remove_file(&path).unwrap();
        wedge_state_file(&spec, 1).unwrap();
        unwedge_state_file(&spec, 1).unwrap();
        assert!(!path.exists());
    }
}
