//! What differs between the lab's two isolations, as two traits: [`Backend`]
//! for what is done to a lab from outside (building it, the fault verbs,
//! tearing it down) and [`LiveNet`] for the network side the supervisor keeps
//! while the lab runs. Everything else is the same for both.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::lab::cluster::layout::{LabSpec, NetPlan};
use crate::lab::cluster::loopnet::NetState;
use crate::lab::cluster::netns::{HostNs, MgmtNs};
use crate::shell::monitors::HealthAnswer;

/// Why a backend refuses a lab whose `lab.json` pairs its isolation with the
/// other one's network plan.
pub(super) const PLAN_DISAGREES: &str = "lab.json: isolation and network plan disagree";

/// How host `id`'s `hosted-engine.conf` reaches the engine and tests its
/// network.
pub struct EngineNet {
    /// The engine's address as the agents' `fqdn` names it.
    pub fqdn: String,
    /// The network test's lines (`network_test=` and what it needs).
    pub network_test: String,
    /// Appended to the engine payload's command line: where it listens.
    pub vm_args: String,
}

/// Where one host's BMC listens (`--fencing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcAddr {
    /// IPMI over LAN (UDP), as the hosts reach it: `fencing.conf`'s `ip` and
    /// `ipport`.
    pub ip: String,
    pub port: u16,
    /// Its channel 15 (TCP), which power control needs and nothing uses.
    pub serial_ip: String,
    pub serial_port: u16,
}

/// One isolation: `--isolation none` (`loopback.rs`) or `--isolation netns`
/// (`namespaces.rs`). Stateless: each method reads what it
/// needs from the lab's description, so that a verb run long after `up`
/// (`down`, `storage-connect`) finds the same backend as the supervisor.
pub trait Backend {
    /// Whether this process may build such a lab, and if not, why.
    fn available(&self) -> Result<(), String>;
    /// The addresses (and names) of lab `id` with `hosts` hosts.
    fn plan(&self, id: &str, hosts: u16) -> anyhow::Result<NetPlan>;
    /// The management bridge the agents check (`bridge=`).
    fn bridge(&self) -> String;
    /// The shared storage, before the metadata volume is made on it.
    fn create_storage(&self, spec: &LabSpec) -> anyhow::Result<()>;
    /// Each host's network and view of the storage, once the hosts'
    /// directories exist.
    fn create_hosts(&self, spec: &LabSpec) -> anyhow::Result<()>;
    /// How host `id`'s configuration names the engine and tests the network.
    fn engine_net(&self, spec: &LabSpec, id: u16) -> anyhow::Result<EngineNet>;
    /// A line for host `id`'s `env` file when sourcing it is not all it takes
    /// to act as the host.
    fn env_note(&self) -> Option<&'static str>;
    /// Starts the network side the supervisor keeps while the lab runs.
    fn start(&self, spec: &LabSpec) -> anyhow::Result<Box<dyn LiveNet>>;
    /// Makes `command` run as host `id`, in `cwd` when given (else here);
    /// what it returns must be kept until the command is spawned.
    fn enter(
        &self,
        spec: &LabSpec,
        id: u16,
        command: &mut Command,
        cwd: Option<&Path>,
    ) -> anyhow::Result<Option<HostNs>>;
    /// The engine's health page on `host`, asked from the lab's vantage
    /// point; `None` when the lab has no address for it.
    fn probe_health(
        &self,
        spec: &LabSpec,
        host: u16,
        timeout_ms: u64,
    ) -> Option<Result<HealthAnswer, String>>;
    /// Host `id`'s network up or down (`host-network-down`, heal).
    fn set_host_network(&self, spec: &LabSpec, id: u16, up: bool) -> Result<(), String>;
    /// `hosts` cut off from the others and the gateway (empty: no partition).
    fn set_partition(&self, spec: &LabSpec, hosts: &BTreeSet<u16>) -> Result<(), String>;
    /// Host `id` loses the storage (`storage-unmount`, `storage-lost`).
    fn unmount_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String>;
    /// Whether `storage-readonly` can be done at all, checked before its host
    /// is chosen.
    fn readonly_possible(&self) -> Result<(), String>;
    /// Host `id` sees the storage read-only.
    fn storage_readonly(&self, spec: &LabSpec, id: u16) -> Result<(), String>;
    /// Host `id`'s storage as it was before any fault.
    fn restore_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String>;
    /// `mounted`, `unmounted`, `read-only` or `unknown`.
    fn storage_state(&self, spec: &LabSpec, id: u16) -> &'static str;
    /// `he-lab storage-connect`'s work, run as host `id`: the storage
    /// reachable again; says what it did.
    fn connect_storage(&self, spec: &LabSpec, id: u16) -> anyhow::Result<String>;
    /// Hides each of `pids`' `/proc/<pid>/stat` from host `host`'s processes
    /// (`vm-manager-wedge`); the paths masked, none where no host has a view
    /// of its own.
    fn mask_vm_stats(&self, spec: &LabSpec, host: u16, pids: &[i32])
    -> Result<Vec<String>, String>;
    /// Undoes [`Backend::mask_vm_stats`] on host `host`.
    fn unmask_vm_stats(&self, spec: &LabSpec, host: u16) -> Result<(), String>;
    /// Where host `id`'s BMC listens (`--fencing`).
    fn bmc_addr(&self, spec: &LabSpec, id: u16) -> anyhow::Result<BmcAddr>;
    /// The network the BMCs sit on, for the lab's own processes on it (the
    /// BMCs themselves, its `ipmitool` calls); `None`: the lab's own network.
    fn bmc_net(&self, spec: &LabSpec) -> anyhow::Result<Option<MgmtNs>>;
    /// Undoes [`Backend::create_storage`] and [`Backend::create_hosts`] once
    /// every process is gone (the storage's files kept in the lab directory
    /// with `keep_dir`); what could not be undone.
    fn teardown(&self, spec: &LabSpec, keep_dir: bool) -> Vec<String>;
}

/// The network side of a running lab, owned by the supervisor.
pub trait LiveNet {
    /// Tells the network what the faults and the hosts' power allow now.
    fn sync(&self, state: NetState);
    /// Makes `command` (an agent) run inside host `id`, in `cwd`.
    fn enter(&self, id: u16, command: &mut Command, cwd: &Path);
    /// Removes host `id`'s engine VM port when no VM holds it; `Ok(true)`
    /// when one was removed.
    fn reap_vm_port(&self, spec: &LabSpec, id: u16) -> Result<bool, String>;
}
