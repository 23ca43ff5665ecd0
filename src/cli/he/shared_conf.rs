//! The cluster's configuration kept on the shared storage, beside the
//! metadata volume (`ha_agent/`): the first host's `--deploy` writes it, every
//! `--deploy --add-host` copies it, and `--get-shared-config` /
//! `--set-shared-config --type=he_shared` read and change its
//! `hosted-engine.conf`. A leaf of `hosted-engine`'s modules.

use std::path::{Path, PathBuf};

/// The cluster's copy of `hosted-engine.conf`, beside the metadata volume (the
/// file `--get-shared-config --type=he_shared` reads).
pub const SHARED_HE_CONF: &str = "hosted-engine.conf";
/// The cluster's `agent.conf`: every host must run the same timings, since the
/// lease's safety rests on them.
pub const SHARED_AGENT_CONF: &str = "agent.conf";
/// The engine VM's libvirt domain XML, for every host.
pub const SHARED_VM_XML: &str = "engine-vm.xml";

/// The cluster's `hosted-engine.conf` of the metadata volume at `volume`: in
/// the same directory.
pub fn he_conf_beside(volume: &Path) -> PathBuf {
    volume.parent().unwrap_or(volume).join(SHARED_HE_CONF)
}
