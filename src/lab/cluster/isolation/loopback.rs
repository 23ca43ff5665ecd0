//! `--isolation none`: plain processes sharing the machine's network stack
//! and file system, no root needed. The network is the supervisor's relays on
//! loopback addresses ([`crate::lab::cluster::loopnet`]), so that a network
//! fault is a change of what the relays allow; a host's view of the storage
//! is a symlink at its mount point.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::backend::{Backend, BmcAddr, EngineNet, LiveNet, PLAN_DISAGREES};
use crate::lab::cluster::layout::{LabSpec, NetPlan};
use crate::lab::cluster::loopnet::{self, LoopNet, NetState, Plan};
use crate::lab::cluster::netns::{HostNs, MgmtNs};
use crate::shell::monitors::{HealthAnswer, Stop, check_health};

/// Why `storage-readonly` cannot be done here.
const NO_READONLY: &str = "storage-readonly needs --isolation netns: without a mount namespace \
                           one host cannot be given a read-only view of files the others keep \
                           writing";

/// `--isolation none`.
pub(super) struct Loopback;

impl Backend for Loopback {
    fn available(&self) -> Result<(), String> {
        Ok(())
    }

    fn plan(&self, id: &str, hosts: u16) -> anyhow::Result<NetPlan> {
        pick_loopback(id, hosts)
    }

    fn bridge(&self) -> String {
        loopback_bridge()
    }

    /// The storage is a plain directory of the lab's.
    fn create_storage(&self, _spec: &LabSpec) -> anyhow::Result<()> {
        Ok(())
    }

    fn create_hosts(&self, spec: &LabSpec) -> anyhow::Result<()> {
        for id in spec.host_ids() {
            storage_link(spec, id).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    fn engine_net(&self, spec: &LabSpec, id: u16) -> anyhow::Result<EngineNet> {
        let NetPlan::Loopback { prefix, port } = &spec.net else {
            bail!(PLAN_DISAGREES);
        };
        let [a, b] = prefix;
        // The engine's name is this host's view of it: a relay that reaches
        // the payload wherever it runs, while the network allows.
        Ok(EngineNet {
            fqdn: format!("127.{a}.{b}.{id}:{port}"),
            network_test: format!(
                "network_test=tcp\ntcp_t_address=127.{a}.{b}.{}\ntcp_t_port={port}\n",
                50 + u32::from(id)
            ),
            vm_args: format!(" --listen 127.{a}.{b}.{}:{port}", 100 + u32::from(id)),
        })
    }

    fn env_note(&self) -> Option<&'static str> {
        None
    }

    fn start(&self, spec: &LabSpec) -> anyhow::Result<Box<dyn LiveNet>> {
        let NetPlan::Loopback { prefix, port } = &spec.net else {
            bail!(PLAN_DISAGREES);
        };
        let net = LoopNet::start(Plan {
            prefix: *prefix,
            port: *port,
            hosts: spec.hosts,
        })
        .context("starting the loopback network")?;
        Ok(Box::new(Relays(net)))
    }

    /// A host is its environment alone.
    fn enter(
        &self,
        _spec: &LabSpec,
        _id: u16,
        _command: &mut Command,
        _cwd: Option<&Path>,
    ) -> anyhow::Result<Option<HostNs>> {
        Ok(None)
    }

    /// At the payload's own address: there is no network to be outside of.
    fn probe_health(
        &self,
        spec: &LabSpec,
        host: u16,
        timeout_ms: u64,
    ) -> Option<Result<HealthAnswer, String>> {
        let addr = spec.loop_addr(100 + host as u8)?;
        Some(check_health(&addr, timeout_ms, &Stop::new()))
    }

    /// The relays follow the supervisor's [`LiveNet::sync`]; nothing to do
    /// here.
    fn set_host_network(&self, _spec: &LabSpec, _id: u16, _up: bool) -> Result<(), String> {
        Ok(())
    }

    /// As [`Backend::set_host_network`].
    fn set_partition(&self, _spec: &LabSpec, _hosts: &BTreeSet<u16>) -> Result<(), String> {
        Ok(())
    }

    /// The symlink goes (the agent's connect command puts it back).
    fn unmount_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String> {
        let link = spec.mount_point(id);
        std::fs::remove_file(&link).map_err(|e| format!("{}: {e}", link.display()))
    }

    fn readonly_possible(&self) -> Result<(), String> {
        Err(NO_READONLY.into())
    }

    fn storage_readonly(&self, _spec: &LabSpec, _id: u16) -> Result<(), String> {
        Err(NO_READONLY.into())
    }

    fn restore_storage(&self, spec: &LabSpec, id: u16) -> Result<(), String> {
        storage_link(spec, id)
    }

    fn storage_state(&self, spec: &LabSpec, id: u16) -> &'static str {
        if std::fs::symlink_metadata(spec.mount_point(id)).is_ok() {
            "mounted"
        } else {
            "unmounted"
        }
    }

    fn connect_storage(&self, spec: &LabSpec, id: u16) -> anyhow::Result<String> {
        storage_link(spec, id).map_err(anyhow::Error::msg)?;
        Ok(format!(
            "{} links to the storage",
            spec.mount_point(id).display()
        ))
    }

    /// No host has a mount namespace of its own to mask anything in.
    fn mask_vm_stats(
        &self,
        _spec: &LabSpec,
        _host: u16,
        _pids: &[i32],
    ) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    fn unmask_vm_stats(&self, _spec: &LabSpec, _host: u16) -> Result<(), String> {
        Ok(())
    }

    /// `127.<a>.<b>.(150+N)`, the lab's own loopback block, on the lab's
    /// port: UDP for IPMI, TCP for channel 15. No other program binds there,
    /// so no port picked at `up` can be taken before the supervisor starts
    /// the BMCs (ipmi_sim binds with `SO_REUSEADDR`: a second one on a port
    /// would start silently, docs/fence-agents.md).
    fn bmc_addr(&self, spec: &LabSpec, id: u16) -> anyhow::Result<BmcAddr> {
        let NetPlan::Loopback { prefix, port } = &spec.net else {
            bail!(PLAN_DISAGREES);
        };
        let [a, b] = prefix;
        let ip = format!("127.{a}.{b}.{}", 150 + u32::from(id));
        Ok(BmcAddr {
            serial_ip: ip.clone(),
            ip,
            port: *port,
            serial_port: *port,
        })
    }

    /// The lab's own: every host shares it.
    fn bmc_net(&self, _spec: &LabSpec) -> anyhow::Result<Option<MgmtNs>> {
        Ok(None)
    }

    /// Nothing outside the lab directory.
    fn teardown(&self, _spec: &LabSpec, _keep_dir: bool) -> Vec<String> {
        Vec::new()
    }
}

/// The supervisor's relays (see [`crate::lab::cluster::loopnet`]).
struct Relays(LoopNet);

impl LiveNet for Relays {
    fn sync(&self, state: NetState) {
        let NetState {
            down,
            off,
            partition,
        } = state;
        self.0.update(|s| {
            s.down = down;
            s.off = off;
            s.partition = partition;
        });
    }

    /// Every host shares the supervisor's network and mounts.
    fn enter(&self, _id: u16, _command: &mut Command, _cwd: &Path) {}

    /// An engine VM has no port of its own here.
    fn reap_vm_port(&self, _spec: &LabSpec, _id: u16) -> Result<bool, String> {
        Ok(false)
    }
}

/// Host `id`'s mount point is a symlink to the storage; makes it if it is
/// missing.
pub(super) fn storage_link(spec: &LabSpec, id: u16) -> Result<(), String> {
    let link = spec.mount_point(id);
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(());
    }
    std::os::unix::fs::symlink(spec.storage_dir(), &link)
        .map_err(|e| format!("{}: {e}", link.display()))
}

/// Loopback addresses no one uses: `127.<a>.<b>.0/24` and a port, from the id.
fn pick_loopback(id: &str, hosts: u16) -> anyhow::Result<NetPlan> {
    let seed = u64::from_str_radix(id, 16).unwrap_or(0) ^ u64::from(std::process::id());
    for attempt in 0..32u64 {
        let x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(attempt * 1442695040888963407);
        let prefix = [100 + (x >> 8) as u8 % 100, (x >> 16) as u8];
        let port = 20000 + ((x >> 32) % 40000) as u16;
        let plan = Plan {
            prefix,
            port,
            hosts,
        };
        if loopnet::plan_is_free(&plan) {
            return Ok(NetPlan::Loopback { prefix, port });
        }
    }
    bail!("no free loopback addresses and port found for the lab")
}

/// The bridge the agents check under isolation none: the first interface the
/// kernel reports `up` (every host shares it), else `lo` (which reads as down and
/// costs every host the same bridge penalty).
fn loopback_bridge() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter(|name| name.len() <= 15 && name != "lo")
        .find(|name| {
            std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"))
                .is_ok_and(|s| s.trim() == "up")
        })
        .unwrap_or_else(|| "lo".into())
}
