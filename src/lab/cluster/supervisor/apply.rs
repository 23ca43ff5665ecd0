//! Injecting a fault: each verb of [`Fault`] done to the hosts the
//! supervisor runs (what each does under either isolation is tabled in
//! `src/lab/cluster/faults.rs`). Undoing them is [`super::heal`]'s.

use std::collections::BTreeSet;

use super::bmc::BmcFault;
use super::rig::Rig;
use super::slots::{GARBAGE_EVERY, HOSTILE_EPOCH_SEEN, hostile_copy, read_slot, write_slot};
use super::wedge;
use crate::core::agent::EPOCH_SEEN_KEY;
use crate::lab::cluster::faults::{Fault, seconds};
use crate::lab::cluster::layout;
use crate::lab::cluster::procs;
use crate::lab::engine::{
    FAULT_DB_DOWN, FAULT_ENGINE_STOP, FAULT_IGNORE_SHUTDOWN, FAULT_NETWORK_DOWN,
};
use crate::metadata::SLOT_SIZE;

/// One applied fault: the hosts it hit and what it did.
pub(super) struct Applied {
    pub hosts: Vec<u16>,
    pub detail: String,
}

impl Rig {
    /// Injects `fault`; the message says what happened.
    pub(super) fn apply(&mut self, fault: &Fault) -> Result<Applied, String> {
        if let Some(host) = fault.host() {
            self.check_host(host)?;
        }
        match fault {
            Fault::EngineNetworkDown { host } => self.vm_fault(*host, FAULT_NETWORK_DOWN),
            Fault::EngineStop { host } => self.vm_fault(*host, FAULT_ENGINE_STOP),
            Fault::EngineDbDown { host } => self.vm_fault(*host, FAULT_DB_DOWN),
            Fault::VmKill { host } => self.vm_kill(*host),
            Fault::HostNetworkDown { host } => {
                let host = self.target(*host)?;
                self.network_down(&[host])
            }
            Fault::AllNetworkDown => {
                let all: Vec<u16> = self.spec.host_ids().collect();
                self.network_down(&all)
            }
            Fault::StorageUnmount { host } => self.storage_unmount(*host, false),
            Fault::StorageLost { host } => self.storage_unmount(*host, true),
            Fault::StorageReadonly { host } => self.storage_readonly(*host),
            Fault::HostCrash { host } => {
                let host = self.target(*host)?;
                self.power_off(host, "host-crash");
                Ok(one(
                    host,
                    "powered off (agent and engine VM killed) until heal",
                ))
            }
            Fault::AgentKill { host } => self.agent_kill(*host),
            Fault::AgentPause { secs, host } => self.agent_pause(*secs, *host, false),
            Fault::AgentPauseUnfenced { secs, host } => self.agent_pause(*secs, *host, true),
            Fault::Partition { hosts } => self.partition(hosts),
            Fault::AgentStop { host } => self.agent_stop(*host),
            Fault::AgentStart { host } => self.agent_start(*host),
            Fault::VmManagerWedge { host } => self.vm_manager_wedge(*host),
            Fault::SlotGarbage { secs, host } => self.slot_garbage(*secs, *host),
            Fault::SlotWipe { host } => self.slot_wipe(*host),
            Fault::SlotHostile { host } => self.slot_hostile(*host),
            Fault::LateWrite { secs, host } => self.late_write(*secs, *host),
            Fault::BmcUnreachable { host } => self.bmc_apply(BmcFault::Unreachable, *host),
            Fault::BmcWrongCredentials { host } => {
                self.bmc_apply(BmcFault::WrongCredentials, *host)
            }
            Fault::BmcLies { host } => self.bmc_apply(BmcFault::Lies, *host),
        }
    }

    /// A fault of a host's BMC (`--fencing`, given in `power.rs`).
    fn bmc_apply(&mut self, fault: BmcFault, host: Option<u16>) -> Result<Applied, String> {
        let (host, detail) = self.bmc_fault(fault, host)?;
        Ok(one(host, &detail))
    }

    fn check_host(&self, host: u16) -> Result<(), String> {
        if (1..=self.spec.hosts).contains(&host) {
            Ok(())
        } else {
            Err(format!(
                "host{host}: this lab has hosts 1..={}",
                self.spec.hosts
            ))
        }
    }

    /// A fault inside the engine VM running on `host`.
    fn vm_fault(&mut self, host: Option<u16>, word: &str) -> Result<Applied, String> {
        let host = self.target(host)?;
        let payloads = self.payloads_on(host);
        if payloads.is_empty() {
            return Err(format!("host{host} runs no engine VM"));
        }
        let path = self.spec.control(host);
        let mut words: BTreeSet<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        words.insert(word.to_string());
        let text = words.into_iter().collect::<Vec<_>>().join("\n") + "\n";
        layout::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())?;
        Ok(one(host, &format!("inside the engine VM: {word}")))
    }

    fn vm_kill(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let payloads = self.payloads_on(host);
        if payloads.is_empty() {
            return Err(format!("host{host} runs no engine VM"));
        }
        for p in &payloads {
            procs::signal_group_verified(*p, libc::SIGKILL)
                .map_err(|e| format!("engine VM pid {}: {e}", p.pid))?;
        }
        let pids: Vec<String> = payloads.iter().map(|p| p.pid.to_string()).collect();
        Ok(one(
            host,
            &format!("engine VM killed (pid {})", pids.join(", ")),
        ))
    }

    fn network_down(&mut self, hosts: &[u16]) -> Result<Applied, String> {
        for &host in hosts {
            self.backend.set_host_network(&self.spec, host, false)?;
            self.host_mut(host).net_down = true;
        }
        self.sync_net();
        Ok(Applied {
            hosts: hosts.to_vec(),
            detail: "network down".into(),
        })
    }

    fn partition(&mut self, hosts: &[u16]) -> Result<Applied, String> {
        for &host in hosts {
            self.check_host(host)?;
        }
        let set: BTreeSet<u16> = hosts.iter().copied().collect();
        self.backend.set_partition(&self.spec, &set)?;
        self.partition = set.clone();
        self.sync_net();
        Ok(Applied {
            hosts: set.into_iter().collect(),
            detail: "cut off from the other hosts and the gateway".into(),
        })
    }

    fn storage_unmount(&mut self, host: Option<u16>, block: bool) -> Result<Applied, String> {
        let host = self.target(host)?;
        if block {
            std::fs::write(self.spec.storage_block(host), b"storage-lost\n")
                .map_err(|e| e.to_string())?;
        }
        self.backend.unmount_storage(&self.spec, host)?;
        let detail = if block {
            "storage unmounted; reconnecting refused until heal"
        } else {
            "storage unmounted (umount -l)"
        };
        Ok(one(host, detail))
    }

    fn storage_readonly(&mut self, host: Option<u16>) -> Result<Applied, String> {
        self.backend.readonly_possible()?;
        let host = self.target(host)?;
        self.backend.storage_readonly(&self.spec, host)?;
        Ok(one(host, "storage read-only"))
    }

    fn agent_kill(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let h = self.host_mut(host);
        let Some(child) = h.agent.as_mut() else {
            return Err(format!("host{host}: no agent runs"));
        };
        let pid = child.id();
        child.kill().map_err(|e| format!("agent pid {pid}: {e}"))?;
        Ok(one(host, &format!("agent killed (pid {pid}); it restarts")))
    }

    /// SIGSTOP for `secs`; `unfenced`: the host's watchdog does not count
    /// meanwhile (it counts afresh from the SIGCONT).
    fn agent_pause(
        &mut self,
        secs: f64,
        host: Option<u16>,
        unfenced: bool,
    ) -> Result<Applied, String> {
        let span = seconds(secs)?;
        let host = self.target(host)?;
        let h = self.host_mut(host);
        let Some(agent) = h.agent_id else {
            return Err(format!("host{host}: no agent runs"));
        };
        procs::signal_verified(agent, libc::SIGSTOP).map_err(|e| e.to_string())?;
        h.paused_until = Some(std::time::Instant::now() + span);
        h.unfenced = unfenced;
        let detail = if unfenced {
            format!("agent stopped (SIGSTOP) for {secs} s, its watchdog suspended meanwhile")
        } else {
            format!("agent stopped (SIGSTOP) for {secs} s")
        };
        Ok(one(host, &detail))
    }

    /// SIGTERM, as `systemctl stop`: the agent publishes AgentStopped and,
    /// holding the lease with its engine VM running, leaves a lease keeper.
    fn agent_stop(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let h = self.host_mut(host);
        let Some(agent) = h.agent_id else {
            return Err(format!("host{host}: no agent runs"));
        };
        if h.paused_until.take().is_some() {
            let _ = procs::signal_verified(agent, libc::SIGCONT);
        }
        h.unfenced = false;
        procs::signal_verified(agent, libc::SIGTERM).map_err(|e| e.to_string())?;
        h.agent_stopped = true;
        Ok(one(
            host,
            &format!(
                "agent stopped (SIGTERM, pid {}); not restarted until agent-start or heal",
                agent.pid
            ),
        ))
    }

    fn agent_start(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let now = std::time::Instant::now();
        let h = self.host_mut(host);
        if !h.agent_stopped {
            return Err(format!(
                "host{host}: its agent was not stopped by agent-stop"
            ));
        }
        h.agent_stopped = false;
        if h.off.is_none() && h.agent.is_none() {
            h.restart_at = Some(now);
        }
        Ok(one(host, "agent started again"))
    }

    /// `vm-manager-wedge` (how, and why so: [`super::wedge`]).
    fn vm_manager_wedge(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let payloads = self.payloads_on(host);
        if payloads.is_empty() {
            return Err(format!("host{host} runs no engine VM"));
        }
        self.vm_fault(Some(host), FAULT_IGNORE_SHUTDOWN)?;
        self.wedged.insert(host);
        wedge::wedge_state_file(&self.spec, host)?;
        let pids: Vec<i32> = payloads.iter().map(|p| p.pid).collect();
        let masked = self.backend.mask_vm_stats(&self.spec, host, &pids)?;
        let seen = if masked.is_empty() {
            "the state file unreadable (an agent started from now on cannot find the VM)"
                .to_string()
        } else {
            format!(
                "the state file unreadable and {} masked in the host",
                masked.join(", ")
            )
        };
        Ok(one(
            host,
            &format!("VM manager wedged: {seen}; the engine VM ignores SIGTERM"),
        ))
    }

    fn slot_garbage(&mut self, secs: f64, host: Option<u16>) -> Result<Applied, String> {
        let span = seconds(secs)?;
        let host = self.target(host)?;
        self.slots.garbage(host, span)?;
        let every = GARBAGE_EVERY.as_millis();
        Ok(one(
            host,
            &format!("garbage over its metadata slot every {every} ms for {secs} s"),
        ))
    }

    fn slot_wipe(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        write_slot(self.slots.volume(), host, &[0u8; SLOT_SIZE])?;
        Ok(one(host, "its metadata slot zeroed (once)"))
    }

    fn slot_hostile(&mut self, host: Option<u16>) -> Result<Applied, String> {
        let host = self.target(host)?;
        let volume = self.slots.volume();
        let forged = hostile_copy(host, &*read_slot(volume, host)?)?;
        write_slot(volume, host, &forged)?;
        Ok(one(
            host,
            &format!(
                "a forged copy of its slot written (valid checksums, \
                 {EPOCH_SEEN_KEY}={HOSTILE_EPOCH_SEEN})"
            ),
        ))
    }

    fn late_write(&mut self, secs: f64, host: Option<u16>) -> Result<Applied, String> {
        let span = seconds(secs)?;
        let host = self.target(host)?;
        let copy = read_slot(self.slots.volume(), host)?;
        self.slots.late_write(host, copy, span)?;
        Ok(one(
            host,
            &format!("its metadata slot as it is now lands again in {secs} s"),
        ))
    }
}

fn one(host: u16, detail: &str) -> Applied {
    Applied {
        hosts: vec![host],
        detail: detail.to_string(),
    }
}
