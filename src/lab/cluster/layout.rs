//! What a lab is (`lab.json`) and where everything of it lives.
//!
//! ```text
//! <lab>/lab.json                    this description (written first, read by every verb)
//! <lab>/supervisor.{pid,log,sock}   the supervisor
//! <lab>/supervisor-state.json       its latest view (power, faults), for a dead supervisor
//! <lab>/storage/<sdUUID>/ha_agent/hosted-engine.metadata   the shared metadata volume
//! <lab>/storage/<sdUUID>/engine.canary                     the engine payloads' canary
//! <lab>/ns/                         (netns) the hosts' persistent mount namespaces
//! <lab>/hostN/                      host N's root (HE_CONFIG_ROOT):
//!     etc/ovirt-hosted-engine/hosted-engine.conf
//!     etc/ovirt-hosted-engine-ha/agent.conf
//!     var/lib/ovirt-hosted-engine-ha/{ha.conf,broker.conf,engine-vm.json,engine-vm.log}
//!     run/ovirt-hosted-engine-ha/agent.sock
//!     rhev/data-center/mnt/he-lab:_storage   the storage's mount point (a symlink
//!                                            under isolation none, a bind mount
//!                                            inside the host's mount namespace under netns)
//!     var/lib/ovirt-hosted-engine-ha/lease-keeper.{pid,lock,ready}   the lease keeper's
//!     watchdog  agent.log  agent.pid  engine.control  storage.blocked  env
//!     vm-port.lock            (netns) locked by the engine payload while its port exists
//!     engine-vm.json.wedged   the VM state file while `vm-manager-wedge` holds it
//!     etc/ovirt-hosted-engine-ha/fencing/hostM.password   (--fencing) host M's BMC password
//! (--fencing, see `fencing.rs`:)
//! <lab>/storage/<sdUUID>/ha_agent/fencing.conf   the cluster's fence devices, one per host
//! <lab>/bmc/{bmc.emu,lab.password}  the BMCs' command file; the lab's own BMC user's password
//! <lab>/bmc/hostN/                  host N's BMC: lan.conf, state/, password, ipmi_sim.{pid,log},
//!                                   off-request (from its power sentinel)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{
    ConfigPaths, FENCING_CONF_NAME, HA_AGENT_DIR, METADATA_FILE, Timings, vdsm_mount_name,
};

/// Version of `lab.json`.
pub const SPEC_VERSION: u32 = 1;
/// The lab's description, in the lab directory.
pub const SPEC_FILE: &str = "lab.json";
/// Most hosts in one lab (host ids are also the last octet of addresses).
pub const HOSTS_MAX: u16 = 32;
/// The storage as `hosted-engine.conf` names it (an NFS-like export).
pub const STORAGE_SPEC: &str = "he-lab:/storage";
/// The engine VM's id in `hosted-engine.conf`.
pub const VM_ID: &str = "he-lab-engine";
/// The environment variable that overrides the default lab directory.
pub const DIR_VAR: &str = "HE_LAB_DIR";

/// How hosts are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Plain processes on loopback addresses; no root needed.
    None,
    /// A network and a mount namespace per host, a bridged switch (root).
    Netns,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::None => "none",
            Isolation::Netns => "netns",
        }
    }

    /// `netns` for root, `none` otherwise.
    pub fn default_for_user() -> Isolation {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            Isolation::Netns
        } else {
            Isolation::None
        }
    }
}

/// The agents' timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Every timer short (a loop per second, the lease expires after 7 s), every
    /// lease rule kept: for tests and the demo.
    Fast,
    /// The project's defaults (`Timings::default()`: a 2 s loop, the lease
    /// expires after 40 s).
    Default,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fast => "fast",
            Profile::Default => "default",
        }
    }

    /// The agents' `[timing]`.
    pub fn timings(self) -> Timings {
        match self {
            Profile::Default => Timings::default(),
            Profile::Fast => Timings {
                loop_ms: 1_000,
                host_alive_timeout_ms: 3_000,
                storage_timeout_ms: 1_000,
                lease_settle_ms: 2_000,
                lease_fail_ms: 3_000,
                poweroff_timeout_ms: 1_000,
                lease_margin_ms: 1_000,
                lease_dead_ms: 7_000,
                engine_starting_timeout_ms: 60_000,
                engine_maybe_away_timeout_ms: 4_000,
                engine_unexpectedly_down_ms: 10_000,
                engine_stop_timeout_ms: 10_000,
                bad_health_timeout_ms: 4_000,
                retry_window_ms: 60_000,
                vm_shutdown_grace_ms: 2_000,
                liveliness_timeout_ms: 1_000,
                gateway_probe_count: 3,
                gateway_probe_interval_ms: 200,
                ..Timings::default()
            },
        }
    }

    /// How long the engine payload takes to shut down after SIGTERM, as a guest
    /// would: long enough for the agents to see and publish `Powering down`
    /// (more than one loop), well inside `vm-shutdown-grace` so that a graceful
    /// stop is not turned into a power-off. Fast: 1.5 s (grace 2 s); default: 5 s,
    /// two and a half loops (grace 120 s; a real engine VM takes longer, and its
    /// shutdown adds to test-plan cases 1, 2 and 4 one for one).
    pub fn guest_shutdown_ms(self) -> u64 {
        match self {
            Profile::Fast => 1_500,
            Profile::Default => 5_000,
        }
    }

    /// The emulated watchdog's timeout: a host whose agent has not petted for
    /// this long is powered off. The same rule as a real host's: the longest
    /// the lease allows, `Timings::watchdog_range_ms`'s maximum, `lease-dead +
    /// lease-settle - lease-fail - storage-timeout - lease-margin` (a live
    /// agent stops petting once its lease is overdue, `lease-fail` after its
    /// last renewal, and no other host starts the engine VM before
    /// `lease-dead + lease-settle` after it). The agents' configuration names
    /// it as `watchdog_timeout_secs` of their stand-in device. Fast: 4 s;
    /// default: 16 s.
    pub fn watchdog_timeout_ms(self) -> u64 {
        self.timings().watchdog_range_ms().1
    }
}

/// The network plan: addresses and namespace names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NetPlan {
    /// Loopback addresses `127.<a>.<b>.x`, all on one port:
    /// `.N` host N's view of the engine (a relay run by the supervisor),
    /// `.50+N` host N's gateway, `.100+N` the engine payload when it runs on host N.
    Loopback { prefix: [u8; 2], port: u16 },
    /// Namespaces `hel-<id>-sw` (the switch, whose bridge holds the gateway
    /// address) and `hel-<id>-hN`; subnet `10.77.0.0/24`.
    Netns { switch: String, hosts: Vec<String> },
}

/// The netns subnet's first three octets.
pub const NETNS_SUBNET: &str = "10.77.0";
/// The netns engine VM address (`.100`).
pub const NETNS_VM_OCTET: u8 = 100;

/// `lab.json`: everything a verb needs to find and drive a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSpec {
    pub version: u32,
    /// Six hex digits, unique per lab; marks its processes and namespaces.
    pub id: String,
    pub dir: PathBuf,
    pub hosts: u16,
    pub isolation: Isolation,
    pub profile: Profile,
    /// The `he-lab` binary (supervisor, payload, storage helper).
    pub lab_bin: PathBuf,
    /// The `ovirt-ha-agent` binary.
    pub agent_bin: PathBuf,
    /// The storage domain's id.
    pub sd_uuid: String,
    /// The management bridge the agents check (`bridge=`).
    pub bridge: String,
    pub net: NetPlan,
    /// A BMC per host (`ipmi_sim`) and the cluster's `fencing.conf`
    /// (`he-lab up --fencing`).
    #[serde(default)]
    pub fencing: bool,
}

impl LabSpec {
    /// Host ids, 1..=hosts.
    pub fn host_ids(&self) -> impl Iterator<Item = u16> + use<> {
        1..=self.hosts
    }

    pub fn host_name(id: u16) -> String {
        format!("host{id}")
    }

    pub fn spec_file(&self) -> PathBuf {
        self.dir.join(SPEC_FILE)
    }
    pub fn supervisor_pid(&self) -> PathBuf {
        self.dir.join("supervisor.pid")
    }
    pub fn supervisor_log(&self) -> PathBuf {
        self.dir.join("supervisor.log")
    }
    pub fn supervisor_socket(&self) -> PathBuf {
        self.dir.join("supervisor.sock")
    }
    pub fn supervisor_state(&self) -> PathBuf {
        self.dir.join("supervisor-state.json")
    }
    /// The shared storage as the lab itself sees it.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.join("storage")
    }
    pub fn domain_dir(&self) -> PathBuf {
        self.storage_dir().join(&self.sd_uuid)
    }
    pub fn volume(&self) -> PathBuf {
        self.domain_dir().join(HA_AGENT_DIR).join(METADATA_FILE)
    }
    pub fn canary(&self) -> PathBuf {
        self.domain_dir().join(CANARY_FILE)
    }
    pub fn ns_dir(&self) -> PathBuf {
        self.dir.join("ns")
    }
    pub fn mnt_ns_file(&self, id: u16) -> PathBuf {
        self.ns_dir().join(format!("host{id}.mnt"))
    }

    pub fn host_root(&self, id: u16) -> PathBuf {
        self.dir.join(Self::host_name(id))
    }
    pub fn paths(&self, id: u16) -> ConfigPaths {
        ConfigPaths::under_root(&self.host_root(id))
    }
    pub fn mnt_root(&self, id: u16) -> PathBuf {
        self.host_root(id).join("rhev/data-center/mnt")
    }
    /// Where host `id` mounts the storage.
    pub fn mount_point(&self, id: u16) -> PathBuf {
        self.mnt_root(id).join(vdsm_mount_name(STORAGE_SPEC))
    }
    /// The canary as host `id` (and its payload) reaches it.
    pub fn host_canary(&self, id: u16) -> PathBuf {
        self.mount_point(id).join(&self.sd_uuid).join(CANARY_FILE)
    }
    pub fn watchdog(&self, id: u16) -> PathBuf {
        self.host_root(id).join("watchdog")
    }
    pub fn agent_log(&self, id: u16) -> PathBuf {
        self.host_root(id).join("agent.log")
    }
    pub fn agent_pid(&self, id: u16) -> PathBuf {
        self.host_root(id).join("agent.pid")
    }
    /// The pid file of host `id`'s lease keeper (`ovirt-ha-agent --keep-lease`,
    /// `shell::daemon::keeper`), a bare pid, present while one runs.
    pub fn keeper_pid(&self, id: u16) -> PathBuf {
        self.paths(id).state_dir.join(KEEPER_PID_FILE)
    }
    /// Where `vm-manager-wedge` keeps host `id`'s engine VM state file while
    /// a directory stands in its place.
    pub fn wedged_vm_state(&self, id: u16) -> PathBuf {
        self.host_root(id).join("engine-vm.json.wedged")
    }
    /// The `process` driver's engine VM state file of host `id`.
    pub fn vm_state(&self, id: u16) -> PathBuf {
        self.paths(id)
            .state_dir
            .join(crate::shell::vm::PROCESS_STATE_FILE)
    }
    pub fn vm_log(&self, id: u16) -> PathBuf {
        self.paths(id).state_dir.join("engine-vm.log")
    }
    pub fn control(&self, id: u16) -> PathBuf {
        self.host_root(id).join("engine.control")
    }
    /// The engine VM's port lock of host `id` (`vm-port.lock` is what is
    /// locked): held by the payload whose port is on the host's bridge.
    pub fn vm_port_lock(&self, id: u16) -> PathBuf {
        self.host_root(id).join("vm-port")
    }
    /// Present while host `id`'s storage must not be reconnected.
    pub fn storage_block(&self, id: u16) -> PathBuf {
        self.host_root(id).join("storage.blocked")
    }
    pub fn env_file(&self, id: u16) -> PathBuf {
        self.host_root(id).join("env")
    }
    pub fn agent_socket(&self, id: u16) -> PathBuf {
        crate::proto::socket_path(&self.paths(id).runtime_dir)
    }
    /// The cluster's `fencing.conf`, beside the metadata volume, as the lab
    /// itself reaches it.
    pub fn fencing_conf(&self) -> PathBuf {
        self.volume().with_file_name(FENCING_CONF_NAME)
    }
    /// Host `id`'s directory for its fence devices' password files.
    pub fn fencing_dir(&self, id: u16) -> PathBuf {
        self.paths(id).fencing_secrets_dir()
    }
    /// The BMCs' files (`--fencing`).
    pub fn bmc_root(&self) -> PathBuf {
        self.dir.join("bmc")
    }
    /// Host `id`'s BMC's directory.
    pub fn bmc_dir(&self, id: u16) -> PathBuf {
        self.bmc_root().join(Self::host_name(id))
    }
    /// Host `id`'s BMC's pid file (`ipmi_sim`, with its start time).
    pub fn bmc_pid(&self, id: u16) -> PathBuf {
        self.bmc_dir(id).join("ipmi_sim.pid")
    }
    /// What host `id`'s BMC and its power sentinel print.
    pub fn bmc_log(&self, id: u16) -> PathBuf {
        self.bmc_dir(id).join("ipmi_sim.log")
    }
    /// Written by host `id`'s power sentinel when its BMC powers it off.
    pub fn off_request(&self, id: u16) -> PathBuf {
        self.bmc_dir(id).join("off-request")
    }

    /// The environment of host `id`'s processes (agent, `he-lab exec`).
    pub fn host_env(&self, id: u16) -> Vec<(String, String)> {
        let paths = self.paths(id);
        let mut env = vec![(
            "HE_CONFIG_ROOT".to_string(),
            self.host_root(id).display().to_string(),
        )];
        for (name, path) in [
            ("HE_CONF", &paths.he_conf),
            ("HE_AGENT_CONF", &paths.agent_conf),
            ("HE_HA_CONF", &paths.ha_conf),
            ("HE_BROKER_CONF", &paths.broker_conf),
            ("HE_RUNTIME_DIR", &paths.runtime_dir),
            ("HE_STATE_DIR", &paths.state_dir),
        ] {
            env.push((name.to_string(), path.display().to_string()));
        }
        env.push((super::procs::LAB_ID_VAR.to_string(), self.id.clone()));
        env
    }

    /// Loopback addressing (isolation none): host `id`'s view of the engine.
    pub fn loop_addr(&self, last: u8) -> Option<String> {
        match &self.net {
            NetPlan::Loopback { prefix, port } => {
                Some(format!("127.{}.{}.{last}:{port}", prefix[0], prefix[1]))
            }
            NetPlan::Netns { .. } => None,
        }
    }

    /// The netns names: the switch, then host `id`'s.
    pub fn netns_names(&self) -> Option<(&str, &[String])> {
        match &self.net {
            NetPlan::Netns { switch, hosts } => Some((switch, hosts)),
            NetPlan::Loopback { .. } => None,
        }
    }

    /// Reads `<dir>/lab.json`.
    /// Every lab command comes through here: the directory must be one that
    /// only the caller (or root) can change, all the way up
    /// ([`crate::trust`]), since what it holds tells the caller what
    /// to run (the hosts' configurations name commands).
    pub fn load(dir: &Path) -> anyhow::Result<LabSpec> {
        let path = dir.join(SPEC_FILE);
        if dir.exists() {
            crate::trust::check_dir(dir)?;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("{}: no lab here (he-lab up first)", dir.display())
            } else {
                anyhow::anyhow!("{}: {e}", path.display())
            }
        })?;
        let spec: LabSpec =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        anyhow::ensure!(
            spec.version == SPEC_VERSION,
            "{}: version {} (this he-lab knows {SPEC_VERSION})",
            path.display(),
            spec.version
        );
        anyhow::ensure!(
            (1..=HOSTS_MAX).contains(&spec.hosts),
            "{}: {} hosts",
            path.display(),
            spec.hosts
        );
        Ok(spec)
    }

    /// Writes `lab.json` atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(&self.spec_file(), text.as_bytes())
    }

    /// The host a `host` argument names: `2`, `host2`.
    pub fn parse_host(&self, raw: &str) -> anyhow::Result<u16> {
        let id = parse_host_arg(raw)?;
        anyhow::ensure!(
            (1..=self.hosts).contains(&id),
            "{raw}: this lab has hosts 1..={}",
            self.hosts
        );
        Ok(id)
    }
}

/// The canary's file name in the storage domain.
pub const CANARY_FILE: &str = "engine.canary";
/// The lease keeper's pid file in a host's state directory (`shell::daemon::keeper`
/// writes it; its constant there is private).
pub const KEEPER_PID_FILE: &str = "lease-keeper.pid";
/// The argument that makes `ovirt-ha-agent` a lease keeper.
pub const KEEPER_ARG: &str = "--keep-lease";

/// `2` or `host2` -> 2.
pub fn parse_host_arg(raw: &str) -> anyhow::Result<u16> {
    let digits = raw.strip_prefix("host").unwrap_or(raw);
    match digits.parse::<u16>() {
        Ok(id) if (1..=HOSTS_MAX).contains(&id) => Ok(id),
        _ => anyhow::bail!("{raw:?} is not a host (1..={HOSTS_MAX} or host1..host{HOSTS_MAX})"),
    }
}

/// The default lab directory: `$HE_LAB_DIR`, else `$XDG_RUNTIME_DIR/he-lab`,
/// else `/tmp/he-lab-<uid>`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(run).join("he-lab");
    }
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/he-lab-{uid}"))
}

/// Replaces `path` with `bytes` (temp file, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&temp, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_keep_every_lease_rule_and_the_watchdog_inequality() {
        for profile in [Profile::Fast, Profile::Default] {
            let t = profile.timings();
            assert!(
                t.violations().is_empty(),
                "{profile:?}: {:?}",
                t.violations()
            );
            let dog = profile.watchdog_timeout_ms();
            let (min, max) = t.watchdog_range_ms();
            assert!((min..=max).contains(&dog), "{profile:?}");
            assert_eq!(t.watchdog_timeout_problem(dog), None, "{profile:?}");
            // Written as watchdog_timeout_secs: whole seconds.
            assert_eq!(dog % 1000, 0, "{profile:?}");
        }
        for profile in [Profile::Fast, Profile::Default] {
            let t = profile.timings();
            let shutdown = profile.guest_shutdown_ms();
            assert!(shutdown > t.loop_ms && shutdown < t.vm_shutdown_grace_ms);
        }
        assert_eq!(Profile::Fast.watchdog_timeout_ms(), 4_000);
        assert_eq!(Profile::Default.watchdog_timeout_ms(), 16_000);
    }

    #[test]
    fn host_arguments() {
        assert_eq!(parse_host_arg("2").unwrap(), 2);
        assert_eq!(parse_host_arg("host3").unwrap(), 3);
        assert!(parse_host_arg("host0").is_err());
        assert!(parse_host_arg("x").is_err());
    }

    #[test]
    fn the_mount_point_is_vdsm_s_name_for_the_export() {
        let spec = LabSpec {
            version: SPEC_VERSION,
            id: "abcdef".into(),
            dir: "/lab".into(),
            hosts: 2,
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
        assert_eq!(
            spec.mount_point(2),
            Path::new("/lab/host2/rhev/data-center/mnt/he-lab:_storage")
        );
        assert_eq!(
            spec.volume(),
            Path::new("/lab/storage/sd/ha_agent/hosted-engine.metadata")
        );
        assert_eq!(spec.loop_addr(3).unwrap(), "127.120.7.3:30000");
        let back = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<LabSpec>(&back).unwrap(), spec);
    }
}
