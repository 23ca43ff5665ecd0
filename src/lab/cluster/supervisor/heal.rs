//! `heal`: every fault undone, in one pass over the hosts the supervisor
//! runs.

use std::collections::BTreeSet;

use super::rig::Rig;
use super::wedge;
use crate::lab::cluster::faults::hosts_text;
use crate::lab::cluster::procs;

impl Rig {
    /// Undoes every fault; says what it did.
    pub(super) fn heal(&mut self) -> Result<String, String> {
        let mut done = Vec::new();
        let mut problems = Vec::new();
        let down: Vec<u16> = self
            .hosts
            .iter()
            .filter(|h| h.net_down)
            .map(|h| h.id)
            .collect();
        for &host in &down {
            if let Err(e) = self.backend.set_host_network(&self.spec, host, true) {
                problems.push(e);
            }
            self.host_mut(host).net_down = false;
        }
        if !down.is_empty() {
            done.push(format!("network up on {}", hosts_text(&down)));
        }
        if !self.partition.is_empty() {
            if let Err(e) = self.backend.set_partition(&self.spec, &BTreeSet::new()) {
                problems.push(e);
            }
            self.partition.clear();
            done.push("partition removed".into());
        }
        self.sync_net();
        let writers = self.slots.stop_all();
        if !writers.is_empty() {
            done.push(format!("stopped {}", writers.join(", ")));
        }
        self.heal_storage(&mut done, &mut problems);
        self.unwedge_all(&mut done, &mut problems);
        // Before the hosts boot: a booted host's BMC is powered on with it.
        self.heal_bmcs(&mut done, &mut problems);
        let mut cleared = Vec::new();
        for host in self.spec.host_ids() {
            let path = self.spec.control(host);
            if std::fs::read_to_string(&path).is_ok_and(|t| !t.trim().is_empty()) {
                cleared.push(host);
            }
            let _ = std::fs::write(path, b"");
        }
        if !cleared.is_empty() {
            done.push(format!(
                "engine VM faults cleared on {}",
                hosts_text(&cleared)
            ));
        }
        self.heal_processes(&mut done);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(if done.is_empty() {
            "nothing to heal".into()
        } else {
            done.join("; ")
        })
    }

    fn heal_storage(&mut self, done: &mut Vec<String>, problems: &mut Vec<String>) {
        let mut fixed = Vec::new();
        for host in self.spec.host_ids() {
            let _ = std::fs::remove_file(self.spec.storage_block(host));
            let before = self.storage_state(host);
            let result = self.backend.restore_storage(&self.spec, host);
            match result {
                Err(e) => problems.push(e),
                Ok(()) if before != "mounted" => fixed.push(host),
                Ok(()) => {}
            }
        }
        if !fixed.is_empty() {
            done.push(format!("storage mounted on {}", hosts_text(&fixed)));
        }
    }

    fn heal_processes(&mut self, done: &mut Vec<String>) {
        let now = std::time::Instant::now();
        let mut resumed = Vec::new();
        let mut started = Vec::new();
        let mut booted = Vec::new();
        for h in &mut self.hosts {
            if h.paused_until.take().is_some() {
                if let Some(agent) = h.agent_id {
                    let _ = procs::signal_verified(agent, libc::SIGCONT);
                }
                resumed.push(h.id);
            }
            h.unfenced = false;
            if std::mem::take(&mut h.agent_stopped) {
                if h.off.is_none() && h.agent.is_none() {
                    h.restart_at = Some(now);
                }
                started.push(h.id);
            }
            if h.off.is_some() || h.failed {
                booted.push(h.id);
            }
        }
        for &host in &booted {
            self.power_on(host, now);
        }
        if !resumed.is_empty() {
            done.push(format!("agent resumed on {}", hosts_text(&resumed)));
        }
        if !started.is_empty() {
            done.push(format!("stopped agent started on {}", hosts_text(&started)));
        }
        if !booted.is_empty() {
            done.push(format!("powered on {}", hosts_text(&booted)));
        }
    }

    /// Undoes every `vm-manager-wedge`.
    fn unwedge_all(&mut self, done: &mut Vec<String>, problems: &mut Vec<String>) {
        let hosts: Vec<u16> = std::mem::take(&mut self.wedged).into_iter().collect();
        for &host in &hosts {
            if let Err(e) = wedge::unwedge_state_file(&self.spec, host) {
                problems.push(e);
            }
            if let Err(e) = self.backend.unmask_vm_stats(&self.spec, host) {
                problems.push(e);
            }
        }
        if !hosts.is_empty() {
            done.push(format!("VM manager unwedged on {}", hosts_text(&hosts)));
        }
    }
}
