//! `--set-maintenance` as the agent carries it out (`docs/compat.md`
//! section 6): global in slot 0 of the shared volume, local in `ha.conf`; the
//! modes are exclusive, setting one clears the others.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::HaConf;
use crate::metadata::decode_area;
use crate::proto::MaintenanceMode;
use crate::shell::store::MetadataStore;

/// The reference's refusal of local maintenance under a running engine VM.
pub const LOCAL_REFUSED: &str = "Unable to enter local maintenance mode: the engine VM is running \
on the current host, please migrate it before entering local maintenance mode.";

/// Where maintenance is kept.
#[derive(Clone, Debug)]
pub struct MaintenanceTarget {
    pub volume: PathBuf,
    pub ha_conf: PathBuf,
    pub io_timeout: Duration,
}

/// Sets `mode`. `vm_runs_here` refuses local maintenance, as the reference does.
pub fn set_maintenance(
    target: &MaintenanceTarget,
    mode: MaintenanceMode,
    vm_runs_here: bool,
) -> Result<(), String> {
    if mode == MaintenanceMode::Local && vm_runs_here {
        return Err(LOCAL_REFUSED.into());
    }
    set_global(
        &target.volume,
        target.io_timeout,
        mode == MaintenanceMode::Global,
    )?;
    let local = mode == MaintenanceMode::Local;
    // A host whose agent never ran has no state directory yet.
    if let Some(dir) = target.ha_conf.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    HaConf::update(&target.ha_conf, |conf| {
        conf.local_maintenance = local;
        conf.local_maintenance_manual = local;
    })
    .map_err(|e| e.to_string())
}

/// Read-modify-write of the global block in slot 0, keeping every other key.
fn set_global(volume: &Path, timeout: Duration, on: bool) -> Result<(), String> {
    let mut store = MetadataStore::open(volume, timeout);
    let area = decode_area(&store.read_area().map_err(|e| e.to_string())?);
    let mut global = area
        .global
        .map_err(|e| format!("{}: slot 0 is unreadable: {e}", volume.display()))?;
    if global.maintenance().ok() == Some(on) {
        return Ok(());
    }
    global.set_maintenance(on);
    let bytes = global.encode().map_err(|e| e.to_string())?;
    store.write_slot(0, &bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfFile;
    use crate::shell::store::init_volume;

    #[test]
    fn modes_are_exclusive_and_local_is_refused_under_the_vm() {
        let dir = tempfile::tempdir().unwrap();
        let target = MaintenanceTarget {
            volume: dir.path().join("v"),
            ha_conf: dir.path().join("ha.conf"),
            io_timeout: Duration::from_secs(5),
        };
        init_volume(&target.volume, false, target.io_timeout).unwrap();
        let global = |t: &MaintenanceTarget| {
            let mut store = MetadataStore::open(&t.volume, t.io_timeout);
            let area = decode_area(&store.read_area().unwrap());
            area.global.unwrap().maintenance().unwrap()
        };
        let local = |t: &MaintenanceTarget| HaConf::load(&t.ha_conf).unwrap().local_maintenance;

        set_maintenance(&target, MaintenanceMode::Global, false).unwrap();
        assert!(global(&target) && !local(&target));
        set_maintenance(&target, MaintenanceMode::Local, false).unwrap();
        assert!(!global(&target) && local(&target));
        assert!(
            HaConf::load(&target.ha_conf)
                .unwrap()
                .local_maintenance_manual
        );
        set_maintenance(&target, MaintenanceMode::None, false).unwrap();
        assert!(!global(&target) && !local(&target));
        let err = set_maintenance(&target, MaintenanceMode::Local, true).unwrap_err();
        assert_eq!(err, LOCAL_REFUSED);
        assert!(!local(&target));
    }

    #[test]
    fn a_host_whose_agent_never_ran_gets_its_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let target = MaintenanceTarget {
            volume: dir.path().join("v"),
            ha_conf: dir.path().join("var/lib/he/ha.conf"),
            io_timeout: Duration::from_secs(5),
        };
        init_volume(&target.volume, false, target.io_timeout).unwrap();
        set_maintenance(&target, MaintenanceMode::Local, false).unwrap();
        assert!(HaConf::load(&target.ha_conf).unwrap().local_maintenance);
    }
}
