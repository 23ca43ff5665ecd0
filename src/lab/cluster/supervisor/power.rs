//! The power wiring between the lab's hosts and their BMCs (`--fencing`;
//! the design is [`crate::lab::cluster::fencing`]'s), turn by turn: a power
//! sentinel's off-request powers its host off (unless its BMC lies), a
//! sentinel that appears powers its host on, one that is lost powers it
//! off; the lab's own power changes are passed on to the BMC; and the BMC
//! faults (`bmc-unreachable`, `bmc-wrong-credentials`, `bmc-lies`) are
//! given and healed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::bmc::{Bmc, BmcFault, IPMITOOL_TIMEOUT, kill_sentinels};
use super::log::log;
use super::rig::Rig;
use crate::lab::cluster::control::{BmcView, Power};
use crate::lab::cluster::fencing::{self, ADMIN_USER};
use crate::lab::cluster::procs;

/// The reason of a host powered off through its BMC.
pub const FENCED_REASON: &str = "fenced through its BMC";
/// How long a BMC may take to power on when the lab asks it to (an
/// `ipmitool` call of at most a few seconds, then its power sentinel).
const POWER_ON_WAIT: Duration = Duration::from_secs(10);
/// The fence agents' user's number on every BMC.
const ADMIN_USER_NUMBER: &str = "2";

impl Rig {
    fn bmc(&mut self, id: u16) -> Option<&mut Bmc> {
        self.bmcs
            .as_mut()
            .map(|bmcs| &mut bmcs.list[usize::from(id - 1)])
    }

    /// One turn of host `id`'s BMC: its power sentinel's off-request, or its
    /// power gone or back, switches the lab host (see [`crate::lab::cluster::fencing`]).
    pub(super) fn watch_bmc(&mut self, id: u16, now: Instant) {
        let off_request = self.spec.off_request(id);
        let host_on = self.hosts[usize::from(id - 1)].off.is_none();
        let Some(b) = self.bmc(id) else { return };
        if b.gone {
            return;
        }
        if let Ok(Some(status)) = b.sim.try_wait() {
            b.gone = true;
            log(&format!(
                "host{id}: its BMC (ipmi_sim pid {}) exited ({status}): the host's power is \
                 left as it is",
                b.sim_id.pid
            ));
            return;
        }
        if let Some((_, Some(child))) = &mut b.powering_on
            && let Ok(Some(status)) = child.try_wait()
        {
            if !status.success() {
                log(&format!(
                    "host{id}: asking its BMC to power on failed ({status})"
                ));
            }
            b.powering_on = b.powering_on.take().map(|(since, _)| (since, None));
        }
        let sentinels = fencing::sentinels(b.sim_id);
        if procs::read_pid_file(&off_request).is_some() {
            let _ = std::fs::remove_file(&off_request);
            if host_on && !b.lies {
                log(&format!(
                    "host{id}: its BMC was told to power it off: powering the host off"
                ));
                self.power_off(id, FENCED_REASON);
                return;
            }
            if host_on {
                log(&format!(
                    "host{id}: its BMC was told to power it off and will say it did, but it lies \
                     (bmc-lies): the host stays on"
                ));
            }
            kill_sentinels(&sentinels);
            b.on = false;
            return;
        }
        let alive = !sentinels.is_empty();
        if alive == b.on {
            match &b.powering_on {
                Some(_) if alive => b.powering_on = None,
                Some((since, None)) if now.duration_since(*since) > POWER_ON_WAIT => {
                    // Asked again while it stays so (a stopped BMC once
                    // heal continues it; a lying one is left off).
                    let again = host_on && !b.unreachable && !b.lies;
                    log(&format!(
                        "host{id}: its BMC did not power on within {} s: it reads off while the \
                         host runs{}",
                        POWER_ON_WAIT.as_secs(),
                        if again { "; asking again" } else { "" }
                    ));
                    b.powering_on = None;
                    if again {
                        self.bmc_follow_on(id, now);
                    }
                }
                _ => {}
            }
            return;
        }
        b.on = alive;
        if alive {
            b.powering_on = None;
            if !host_on {
                log(&format!(
                    "host{id}: powered on through its BMC (power sentinel pid {})",
                    sentinels[0].pid
                ));
                self.power_on(id, now);
            }
            return;
        }
        // Its power went without an off-request: the sentinel was killed
        // (ipmi_sim's own SIGKILL, or someone's).
        if !host_on {
            return;
        }
        if b.lies {
            log(&format!(
                "host{id}: its BMC's power went off; it lies (bmc-lies): the host stays on"
            ));
        } else {
            log(&format!(
                "host{id}: its BMC's power went off: powering the host off"
            ));
            self.power_off(id, FENCED_REASON);
        }
    }

    /// The lab powered host `id` off: its BMC reads off at once, as a real
    /// one does after a power loss (its sentinel killed; a power-on the lab
    /// asked for is waited for first, so that it cannot bring a sentinel up
    /// after this).
    pub(super) fn bmc_follow_off(&mut self, id: u16) {
        let off_request = self.spec.off_request(id);
        let Some(b) = self.bmc(id) else { return };
        if let Some((_, Some(mut child))) = b.powering_on.take() {
            let deadline = Instant::now() + IPMITOOL_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_sentinels(&fencing::sentinels(b.sim_id));
        b.on = false;
        let _ = std::fs::remove_file(off_request);
    }

    /// The lab powered host `id` on: its BMC is powered on too (through
    /// `ipmitool`, its sentinel comes up a moment later).
    pub(super) fn bmc_follow_on(&mut self, id: u16, now: Instant) {
        let Some(bmcs) = self.bmcs.as_ref() else {
            return;
        };
        let b = &bmcs.list[usize::from(id - 1)];
        if b.on || b.gone || b.powering_on.is_some() {
            return;
        }
        let mut command = bmcs.ipmitool(id);
        command
            .args(["chassis", "power", "on"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let spawned = command.spawn();
        let Some(b) = self.bmc(id) else { return };
        match spawned {
            Ok(child) => b.powering_on = Some((now, Some(child))),
            Err(e) => log(&format!("host{id}: cannot ask its BMC to power on: {e}")),
        }
    }

    /// Gives host `host`'s BMC (the engine's host when none is named)
    /// `fault`; the host and what was done.
    pub(super) fn bmc_fault(
        &mut self,
        fault: BmcFault,
        host: Option<u16>,
    ) -> Result<(u16, String), String> {
        if self.bmcs.is_none() {
            return Err(format!(
                "{}: this lab's hosts have no BMCs (start it with `he-lab up --fencing`)",
                fault.verb()
            ));
        }
        let host = self.target(host)?;
        let b = self.bmc(host).expect("a lab with BMCs has one per host");
        if b.gone {
            return Err(format!("host{host}: its BMC (ipmi_sim) is gone"));
        }
        let pid = b.sim_id.pid;
        let detail = match fault {
            BmcFault::Unreachable => {
                procs::signal_verified(b.sim_id, libc::SIGSTOP).map_err(|e| e.to_string())?;
                b.unreachable = true;
                format!(
                    "its BMC (ipmi_sim pid {pid}) stopped (SIGSTOP): fence agents get no answer \
                     until heal"
                )
            }
            BmcFault::WrongCredentials => {
                if b.unreachable {
                    return Err(format!(
                        "host{host}: its BMC is unreachable (bmc-unreachable): heal first"
                    ));
                }
                let wrong = fencing::random_password();
                let bmcs = self.bmcs.as_ref().expect("checked above");
                bmcs.run_ipmitool(
                    host,
                    &["user", "set", "password", ADMIN_USER_NUMBER, &wrong],
                )?;
                let b = self.bmc(host).expect("a lab with BMCs has one per host");
                b.wrong_credentials = true;
                format!(
                    "its BMC refuses the password fencing.conf gives for {ADMIN_USER} (changed \
                     on the BMC) until heal"
                )
            }
            BmcFault::Lies => {
                b.lies = true;
                "its BMC powers nothing off: asked to, it reports off while the host runs on"
                    .to_string()
            }
        };
        Ok((host, detail))
    }

    /// Undoes every BMC fault; once no BMC lies, powers on the BMCs of hosts
    /// that run while their BMC reads off.
    pub(super) fn heal_bmcs(&mut self, done: &mut Vec<String>, problems: &mut Vec<String>) {
        let Some(bmcs) = self.bmcs.as_mut() else {
            return;
        };
        let mut healed = Vec::new();
        for id in 1..=bmcs.list.len() as u16 {
            let b = &mut bmcs.list[usize::from(id - 1)];
            let mut fixed = false;
            if std::mem::take(&mut b.unreachable) {
                let _ = procs::signal_verified(b.sim_id, libc::SIGCONT);
                fixed = true;
            }
            fixed |= std::mem::take(&mut b.lies);
            if b.wrong_credentials {
                let password = b.password.clone();
                match bmcs.run_ipmitool(
                    id,
                    &["user", "set", "password", ADMIN_USER_NUMBER, &password],
                ) {
                    Ok(_) => {
                        bmcs.list[usize::from(id - 1)].wrong_credentials = false;
                        fixed = true;
                    }
                    Err(e) => problems.push(format!("host{id}'s BMC password: {e}")),
                }
            }
            if fixed {
                healed.push(id);
            }
        }
        if !healed.is_empty() {
            done.push(format!(
                "BMC faults undone on {}",
                crate::lab::cluster::faults::hosts_text(&healed)
            ));
        }
        let now = Instant::now();
        for id in self.spec.host_ids() {
            if self.hosts[usize::from(id - 1)].off.is_none() {
                self.bmc_follow_on(id, now);
            }
        }
    }

    /// What the supervisor tells of host `id`'s BMC.
    pub(super) fn bmc_view(&self, id: u16) -> Option<BmcView> {
        let b = &self.bmcs.as_ref()?.list[usize::from(id - 1)];
        let faults = [
            (b.unreachable, "unreachable"),
            (b.wrong_credentials, "wrong-credentials"),
            (b.lies, "lies"),
            (b.gone, "gone"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect();
        Some(BmcView {
            address: format!("{}:{}", b.addr.ip, b.addr.port),
            pid: b.sim_id.pid,
            power: if b.on { Power::On } else { Power::Off },
            faults,
        })
    }
}
