//! The hosts' BMCs as the supervisor runs them (`--fencing`; the design is
//! [`crate::lab::cluster::fencing`]'s): each host's `ipmi_sim`, started
//! before the hosts boot and stopped with the supervisor, what the
//! supervisor knows of it, and `ipmitool` as the lab's own BMC user. How
//! they are wired to the hosts' power, faulted and healed is `power.rs`'s.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::log::log;
use crate::lab::bmc::{self, find_program};
use crate::lab::cluster::fencing::{self, LAB_USER};
use crate::lab::cluster::isolation::{Backend, BmcAddr};
use crate::lab::cluster::layout::LabSpec;
use crate::lab::cluster::netns::MgmtNs;
use crate::lab::cluster::procs::{self, ProcId};
use crate::lab::cmd;

/// How long the BMCs may take to answer after they start.
const READY_LIMIT: Duration = Duration::from_secs(10);
/// Bound on one `ipmitool` call the lab waits for (one try of a second for
/// the session, one for the command, and a retry of each).
pub(super) const IPMITOOL_TIMEOUT: Duration = Duration::from_secs(6);
/// How long a killed power sentinel may take to be gone.
const SENTINEL_GONE_WAIT: Duration = Duration::from_secs(2);

/// A fault a BMC can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BmcFault {
    /// `bmc-unreachable`: ipmi_sim stopped (SIGSTOP).
    Unreachable,
    /// `bmc-wrong-credentials`: the fence agents' password changed.
    WrongCredentials,
    /// `bmc-lies`: a power-off through the BMC reads off, the host stays on.
    Lies,
}

impl BmcFault {
    pub(super) fn verb(self) -> &'static str {
        match self {
            BmcFault::Unreachable => "bmc-unreachable",
            BmcFault::WrongCredentials => "bmc-wrong-credentials",
            BmcFault::Lies => "bmc-lies",
        }
    }
}

/// One host's BMC.
pub(super) struct Bmc {
    pub(super) sim: Child,
    pub(super) sim_id: ProcId,
    pub(super) addr: BmcAddr,
    /// The fence agents' password (`admin`), as `fencing.conf`'s hosts have it.
    pub(super) password: String,
    /// Its power as last seen: a power sentinel alive.
    pub(super) on: bool,
    /// A power-on the lab asked of it: since when, and its `ipmitool` while
    /// that runs.
    pub(super) powering_on: Option<(Instant, Option<Child>)>,
    /// ipmi_sim exited (said once; its host's power is left alone).
    pub(super) gone: bool,
    pub(super) unreachable: bool,
    pub(super) wrong_credentials: bool,
    pub(super) lies: bool,
}

/// Every host's BMC, by host id.
pub(super) struct Bmcs {
    pub(super) list: Vec<Bmc>,
    pub(super) lab_password: String,
    /// The network the BMCs sit on (netns: the management namespace).
    pub(super) net: Option<MgmtNs>,
    pub(super) tool: PathBuf,
}

impl Bmcs {
    /// Starts every host's BMC (powered off) and waits until each answers.
    pub(super) fn start(spec: &LabSpec, backend: &dyn Backend) -> anyhow::Result<Bmcs> {
        let sim = find_program("ipmi_sim").context("no ipmi_sim (the openipmi package)")?;
        let tool = find_program("ipmitool").context("no ipmitool")?;
        let mut bmcs = Bmcs {
            list: Vec::new(),
            lab_password: fencing::lab_password(spec)?,
            net: backend.bmc_net(spec)?,
            tool,
        };
        for id in spec.host_ids() {
            match bmcs.spawn(spec, backend, &sim, id) {
                Ok(bmc) => bmcs.list.push(bmc),
                Err(e) => {
                    bmcs.stop_all();
                    return Err(e);
                }
            }
        }
        if let Err(e) = bmcs.wait_ready(spec) {
            bmcs.stop_all();
            return Err(e);
        }
        Ok(bmcs)
    }

    fn spawn(
        &self,
        spec: &LabSpec,
        backend: &dyn Backend,
        sim: &std::path::Path,
        id: u16,
    ) -> anyhow::Result<Bmc> {
        let _ = std::fs::remove_file(spec.off_request(id));
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.bmc_log(id))
            .with_context(|| format!("opening {}", spec.bmc_log(id).display()))?;
        let mut command = bmc::ipmi_sim_command(
            sim,
            &fencing::lan_conf_file(spec, id),
            &fencing::emu_file(spec),
            &fencing::state_dir(spec, id),
        );
        command
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .current_dir(spec.bmc_dir(id));
        if let Some(net) = &self.net {
            net.enter(&mut command);
        }
        let child = command
            .spawn()
            .with_context(|| format!("host{id}'s BMC: {}", sim.display()))?;
        let sim_id = procs::proc_id(child.id() as i32).unwrap_or(ProcId {
            pid: child.id() as i32,
            start_ticks: 0,
        });
        procs::write_pid_file(&spec.bmc_pid(id), sim_id)?;
        let addr = backend.bmc_addr(spec, id)?;
        log(&format!(
            "host{id}: BMC started (ipmi_sim pid {}, {}:{})",
            sim_id.pid, addr.ip, addr.port
        ));
        Ok(Bmc {
            sim: child,
            sim_id,
            addr,
            password: fencing::admin_password(spec, id)?,
            on: false,
            powering_on: None,
            gone: false,
            unreachable: false,
            wrong_credentials: false,
            lies: false,
        })
    }

    /// Waits at most [`READY_LIMIT`] for every BMC to answer a power status.
    fn wait_ready(&mut self, spec: &LabSpec) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_LIMIT;
        let mut waiting: Vec<u16> = spec.host_ids().collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for id in waiting {
                let index = usize::from(id - 1);
                if let Ok(Some(status)) = self.list[index].sim.try_wait() {
                    anyhow::bail!(
                        "host{id}'s BMC (ipmi_sim) exited ({status}); see {}",
                        spec.bmc_log(id).display()
                    );
                }
                let mut command = self.ipmitool(id);
                command.args(["chassis", "power", "status"]);
                let answered = cmd::run(&mut command, IPMITOOL_TIMEOUT)
                    .is_ok_and(|out| bmc::chassis_power(&out).is_some());
                if !answered {
                    still.push(id);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the BMCs of {} did not answer within {} s (see their ipmi_sim.log)",
                crate::lab::cluster::faults::hosts_text(&waiting),
                READY_LIMIT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// `ipmitool` to host `id`'s BMC as the lab's own user, on the BMCs'
    /// network; the caller adds the command.
    pub(super) fn ipmitool(&self, id: u16) -> Command {
        let b = &self.list[usize::from(id - 1)];
        let mut command = bmc::ipmitool(
            &self.tool,
            &b.addr.ip,
            b.addr.port,
            LAB_USER,
            &self.lab_password,
        );
        if let Some(net) = &self.net {
            net.enter(&mut command);
        }
        command
    }

    /// Runs `args` of `ipmitool` on host `id`'s BMC and waits for it.
    pub(super) fn run_ipmitool(&self, id: u16, args: &[&str]) -> Result<String, String> {
        let mut command = self.ipmitool(id);
        command.args(args);
        cmd::run(&mut command, IPMITOOL_TIMEOUT).map_err(|e| redact(&e))
    }

    /// Kills every BMC and what it runs, and the lab's `ipmitool` calls.
    pub(super) fn stop_all(&mut self) {
        for b in &mut self.list {
            if let Some((_, Some(mut child))) = b.powering_on.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = procs::signal_group_verified(b.sim_id, libc::SIGCONT);
            let _ = procs::signal_group_verified(b.sim_id, libc::SIGKILL);
            let _ = b.sim.kill();
            let _ = b.sim.wait();
        }
    }
}

/// `ipmitool user set password` takes the password as an argument: an error
/// that repeats the command line must not show it.
fn redact(error: &str) -> String {
    match error.find(" user set password ") {
        Some(at) => format!("{}user set password ...", &error[..at + 1]),
        None => error.to_string(),
    }
}

/// SIGKILL to each of a BMC's power sentinels, and a wait (bounded) until
/// they are gone: a sentinel seen alive a moment after would read as the
/// BMC's power coming back.
pub(super) fn kill_sentinels(sentinels: &[ProcId]) {
    for s in sentinels {
        let _ = procs::signal_verified(*s, libc::SIGKILL);
    }
    let left = procs::wait_gone(sentinels, SENTINEL_GONE_WAIT);
    if !left.is_empty() {
        log(&format!(
            "power sentinels {:?} outlived SIGKILL for {} s",
            left.iter().map(|p| p.pid).collect::<Vec<_>>(),
            SENTINEL_GONE_WAIT.as_secs()
        ));
    }
}
