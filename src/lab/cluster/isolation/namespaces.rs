//! `--isolation netns` (root): every host a network and a mount namespace of
//! its own behind a bridged switch, the storage a tmpfs each host mounts
//! ([`crate::lab::cluster::netns`] has the details). A fault is done to the
//! host's links, mounts and switch ports.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::backend::{Backend, BmcAddr, EngineNet, LiveNet, PLAN_DISAGREES};
use crate::lab::bmc::IPMI_PORT;
use crate::lab::cluster::layout::{LabSpec, NETNS_SUBNET, NETNS_VM_OCTET, NetPlan};
use crate::lab::cluster::loopnet::NetState;
use crate::lab::cluster::netns::{self, HostNs, MGMT_SUBNET, MgmtNs, NETNS_BRIDGE};

/// The first TCP port of the BMCs' channel 15, on the management namespace's
/// loopback (host N's is this + N).
const SERIAL_PORT_BASE: u16 = 9000;
use crate::shell::monitors::{HealthAnswer, Stop, check_health};

/// What `env` adds: sourcing it does not enter the host's namespaces.
const ENV_NOTE: &str =
    "# Under netns, the host's namespaces matter too: use `he-lab exec` instead.\n";

/// `--isolation netns`.
pub(super) struct Namespaces;

impl Backend for Namespaces {
    fn available(&self) -> Result<(), String> {
        netns::available()
    }

    fn plan(&self, id: &str, hosts: u16) -> anyhow::Result<NetPlan> {
        let (switch, hosts) = netns::names(id, hosts);
        Ok(NetPlan::Netns { switch, hosts })
    }

    fn bridge(&self) -> String {
        NETNS_BRIDGE.into()
    }

    fn create_storage(&self, spec: &LabSpec) -> anyhow::Result<()> {
        netns::create_storage(spec)
    }

    fn create_hosts(&self, spec: &LabSpec) -> anyhow::Result<()> {
        for id in spec.host_ids() {
            let point = spec.mount_point(id);
            std::fs::create_dir_all(&point)
                .with_context(|| format!("creating {}", point.display()))?;
        }
        netns::create(spec)
    }

    fn engine_net(&self, spec: &LabSpec, id: u16) -> anyhow::Result<EngineNet> {
        if spec.netns_names().is_none() {
            bail!(PLAN_DISAGREES);
        }
        Ok(EngineNet {
            fqdn: format!("{NETNS_SUBNET}.{NETNS_VM_OCTET}"),
            network_test: format!("network_test=ping\ngateway={NETNS_SUBNET}.1\n"),
            vm_args: format!(
                " --listen 0.0.0.0:80 --vm-address {NETNS_SUBNET}.{NETNS_VM_OCTET}/24 \
                 --vm-bridge {NETNS_BRIDGE} --vm-port-lock {}",
                spec.vm_port_lock(id).display()
            ),
        })
    }

    fn env_note(&self) -> Option<&'static str> {
        Some(ENV_NOTE)
    }

    fn start(&self, spec: &LabSpec) -> anyhow::Result<Box<dyn LiveNet>> {
        let NetPlan::Netns { .. } = &spec.net else {
            bail!(PLAN_DISAGREES);
        };
        let namespaces = spec
            .host_ids()
            .map(|id| HostNs::open(spec, id))
            .collect::<io::Result<_>>()
            .context("opening the hosts' namespaces")?;
        Ok(Box::new(Open(namespaces)))
    }

    fn enter(
        &self,
        spec: &LabSpec,
        id: u16,
        command: &mut Command,
        cwd: Option<&Path>,
    ) -> anyhow::Result<Option<HostNs>> {
        let ns = HostNs::open(spec, id)?;
        let here = std::env::current_dir().ok();
        ns.enter(command, cwd.or(here.as_deref()));
        Ok(Some(ns))
    }

    /// From the switch, so that a dead network shows.
    fn probe_health(
        &self,
        spec: &LabSpec,
        _host: u16,
        timeout_ms: u64,
    ) -> Option<Result<HealthAnswer, String>> {
        Some(probe_from_switch(spec, timeout_ms))
    }

    fn set_host_network(&self, spec: &LabSpec, id: u16, up: bool) -> Result<(), String> {
        netns::set_host_link(spec, id, up)
    }

    fn set_partition(&self, spec: &LabSpec, hosts: &BTreeSet<u16>) -> Result<(), String> {
        netns::set_partition(spec, hosts)
    }

    fn unmount_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String> {
        netns::storage_unmount(spec, id)
    }

    fn readonly_possible(&self) -> Result<(), String> {
        Ok(())
    }

    fn storage_readonly(&self, spec: &LabSpec, id: u16) -> Result<(), String> {
        netns::storage_readonly(spec, id)
    }

    fn restore_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String> {
        netns::storage_restore(spec, id)
    }

    fn storage_state(&self, spec: &LabSpec, id: u16) -> &'static str {
        match netns::storage_mount_type(spec, id) {
            Ok(None) => "unmounted",
            Ok(Some(kind)) if kind == "overlay" => "read-only",
            Ok(Some(_)) => "mounted",
            Err(_) => "unknown",
        }
    }

    /// Run by the agent's connect command, inside the host's namespaces.
    fn connect_storage(&self, spec: &LabSpec, id: u16) -> anyhow::Result<String> {
        netns::connect_here(&spec.storage_dir(), &spec.mount_point(id)).map_err(anyhow::Error::msg)
    }

    /// `/dev/null` bind-mounted over each, in the host's mount namespace only.
    fn mask_vm_stats(
        &self,
        spec: &LabSpec,
        host: u16,
        pids: &[i32],
    ) -> Result<Vec<String>, String> {
        let mut masked = Vec::new();
        for pid in pids {
            let stat = format!("/proc/{pid}/stat");
            netns::run_in_host(spec, host, &["mount", "--bind", "/dev/null", &stat])?;
            masked.push(stat);
        }
        Ok(masked)
    }

    fn unmask_vm_stats(&self, spec: &LabSpec, host: u16) -> Result<(), String> {
        netns::unmask_stats(spec, host)
    }

    /// On the management network, port 623 as a real BMC's
    /// ([`netns`]'s module documentation).
    fn bmc_addr(&self, spec: &LabSpec, id: u16) -> anyhow::Result<BmcAddr> {
        if spec.netns_names().is_none() {
            bail!(PLAN_DISAGREES);
        }
        Ok(BmcAddr {
            ip: format!("{MGMT_SUBNET}.{}", netns::bmc_octet(id)),
            port: IPMI_PORT,
            serial_ip: "127.0.0.1".into(),
            serial_port: SERIAL_PORT_BASE + id,
        })
    }

    fn bmc_net(&self, spec: &LabSpec) -> anyhow::Result<Option<MgmtNs>> {
        let ns = MgmtNs::open(spec).context("opening the management network's namespace")?;
        Ok(Some(ns))
    }

    fn teardown(&self, spec: &LabSpec, keep_dir: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if keep_dir && let Err(e) = save_storage(spec) {
            problems.push(format!("keeping the storage: {e:#}"));
        }
        problems.extend(netns::teardown(spec));
        problems
    }
}

/// The hosts' namespaces, held open by the supervisor for its agents.
struct Open(Vec<HostNs>);

impl LiveNet for Open {
    /// The namespaces' links are changed by the fault verbs themselves.
    fn sync(&self, _state: NetState) {}

    fn enter(&self, id: u16, command: &mut Command, cwd: &Path) {
        self.0[usize::from(id - 1)].enter(command, Some(cwd));
    }

    fn reap_vm_port(&self, spec: &LabSpec, id: u16) -> Result<bool, String> {
        netns::reap_vm_port(spec, &self.0[usize::from(id - 1)], id)
    }
}

/// Asks the engine's address from inside the switch's namespace, on a thread of
/// its own (a network namespace belongs to a thread).
fn probe_from_switch(spec: &LabSpec, timeout_ms: u64) -> Result<HealthAnswer, String> {
    let (switch, _) = spec.netns_names().ok_or("not a netns lab")?;
    let path = format!("/run/netns/{switch}");
    let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let fqdn = format!("{NETNS_SUBNET}.{NETNS_VM_OCTET}");
    let thread = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: setns(2) on this thread only, with a descriptor we hold.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        check_health(&fqdn, timeout_ms, &Stop::new())
    });
    thread
        .join()
        .map_err(|_| "the probe thread panicked".to_string())?
}

/// Copies the storage tmpfs's files into the directory it covers, so that a
/// kept lab keeps its metadata and canary once the tmpfs is gone.
fn save_storage(spec: &LabSpec) -> anyhow::Result<()> {
    let saved = spec.dir.join("storage.saved");
    copy_tree(&spec.storage_dir(), &saved)?;
    netns::unmount_under(&spec.storage_dir());
    std::fs::remove_dir_all(spec.storage_dir())?;
    std::fs::rename(&saved, spec.storage_dir())?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
