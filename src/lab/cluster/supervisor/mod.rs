//! The supervisor (`he-lab supervise`, started detached by `he-lab up`): runs
//! each host's `ovirt-ha-agent` as systemd would, emulates the hosts' hardware
//! watchdogs, runs the loopback network (isolation none) and applies faults.
//!
//! - **Restart=always:** an agent that exits is started again after
//!   [`RESTART_DELAY`]; more than [`START_LIMIT`] starts within
//!   [`START_LIMIT_WINDOW`] and it is given up (systemd's start limit) until heal.
//! - **Watchdog:** each agent's `watchdog_device` is a plain file. The supervisor
//!   empties it before each start; the agent's open arms it (counted as a pet, as
//!   opening `/dev/watchdog` starts its timer), every write pets it (the file's
//!   size and mtime change), and a write that leaves `V` as its last byte is the
//!   magic close that disarms it (an agent with nothing at stake, or a clean
//!   stop); a later write arms it again. A write that leaves `!` last is the
//!   agent expiring it (`Watchdog::expire`: a real device's one-second
//!   timeout): the host is powered off at once. Armed and not petted for the profile's watchdog
//!   timeout: the host is powered off (agent, lease keeper and engine payload
//!   SIGKILLed) and stays off until heal. An agent that crashed without the
//!   magic close leaves it armed, so its restarted successor has to pet in
//!   time; an agent that stopped cleanly while holding the lease closes it
//!   without the magic close too, and its lease keeper (`--keep-lease`, same
//!   stand-in file) pets it from then on.
//! - **Lease keepers** are not the supervisor's children (the agent starts
//!   them, in a process group of their own): it finds them through
//!   [`super::truth::scan_keepers`] and kills them with their host, and all of
//!   them when it stops (after SIGTERMing the agents, which makes a holder's
//!   agent leave one).
//! - **A third party** on the metadata volume (the slot faults) runs on
//!   threads of its own ([`slots`]), stopped by heal and at the stop.
//! - **Dead VMs' ports** (netns): every half second a host's engine VM port
//!   that no payload holds is removed (`netns::reap_vm_port`).
//! - **BMCs** (`--fencing`, [`crate::lab::cluster::fencing`]): every host's
//!   `ipmi_sim`, started before the hosts boot, stopped after the agents;
//!   each turn a power sentinel's off-request (a power-off through the BMC)
//!   powers its host off, a sentinel that appears powers it on, and the
//!   lab's own power changes are passed on to the BMC (`bmc.rs` runs them,
//!   `power.rs` wires them to the hosts).
//! - **Faults** are applied by `apply.rs` and undone by `heal.rs`, both on
//!   the hosts as `rig.rs` runs them; the loop here only serves the control
//!   socket, keeps the record of faults and writes the state file.
//! - **Records:** its own pid (`supervisor.pid`), each agent's (`hostN/agent.pid`),
//!   each BMC's (`bmc/hostN/ipmi_sim.pid`), all with the process start time,
//!   and its view (`supervisor-state.json`):
//!   `he-lab down` finds everything even after this process was SIGKILLed.

mod apply;
mod bmc;
mod heal;
mod log;
mod power;
mod rig;
pub mod slots;
mod wedge;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::control::{self, CtlReply, CtlRequest, FaultRecord, SupervisorView};
use super::faults::{Fault, hosts_text};
use super::layout::{self, LabSpec};
use super::procs;
use crate::lab::engine::wall_ms;
use crate::shell::signals;
use log::log;
use rig::Rig;

pub use rig::{AGENT_STOP_WAIT, RESTART_DELAY, START_LIMIT, START_LIMIT_WINDOW};

/// One turn of the supervisor's loop.
const TICK: Duration = Duration::from_millis(100);
/// How often the state file is rewritten even without a change.
const STATE_EVERY: Duration = Duration::from_secs(1);
/// Most control connections served in one turn.
const REQUESTS_PER_TICK_MAX: usize = 16;

pub struct Supervisor {
    /// The hosts, their network and the slot writers: what faults act on.
    /// Before `control`, so that it is dropped first, as it always was.
    rig: Rig,
    control: UnixListener,
    /// The faults injected since the last heal.
    faults: Vec<FaultRecord>,
    state_saved: Option<(Instant, String)>,
}

/// `he-lab supervise`: runs the lab in `dir` until SIGTERM/SIGINT.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let spec = LabSpec::load(dir)?;
    signals::install_stop_handlers().context("installing signal handlers")?;
    let me = procs::proc_id(std::process::id() as i32).context("reading our own /proc entry")?;
    let mut sup = Supervisor::new(spec)?;
    let spec = &sup.rig.spec;
    procs::write_pid_file(&spec.supervisor_pid(), me)?;
    log(&format!(
        "started: {} hosts, isolation {}, profile {}, watchdog timeout {} ms",
        spec.hosts,
        spec.isolation.as_str(),
        spec.profile.as_str(),
        sup.rig.dog_timeout.as_millis()
    ));
    let now = Instant::now();
    for id in sup.rig.spec.host_ids() {
        sup.rig.power_on(id, now);
    }
    while !signals::stop_requested() {
        sup.tick();
        std::thread::sleep(TICK);
    }
    log("stopping");
    sup.rig.shutdown();
    let _ = std::fs::remove_file(sup.rig.spec.supervisor_socket());
    log("stopped");
    Ok(())
}

impl Supervisor {
    fn new(spec: LabSpec) -> anyhow::Result<Supervisor> {
        let socket = spec.supervisor_socket();
        let _ = std::fs::remove_file(&socket);
        let control =
            UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        control.set_nonblocking(true)?;
        Ok(Supervisor {
            rig: Rig::new(spec)?,
            control,
            faults: Vec::new(),
            state_saved: None,
        })
    }

    fn tick(&mut self) {
        self.serve_control();
        let now = Instant::now();
        for id in self.rig.spec.host_ids() {
            self.rig.step_host(id, now);
            self.rig.watch_bmc(id, now);
        }
        self.rig.reap_vm_ports(now);
        self.save_state(now);
    }

    fn serve_control(&mut self) {
        for _ in 0..REQUESTS_PER_TICK_MAX {
            let stream = match self.control.accept() {
                Ok((stream, _)) => stream,
                Err(_) => return,
            };
            let _ = stream.set_nonblocking(false);
            let reply = match control::read_request(&stream) {
                Err(message) => CtlReply::Error { message },
                Ok(request) => self.handle(request),
            };
            control::write_reply(&stream, &reply);
        }
    }

    fn handle(&mut self, request: CtlRequest) -> CtlReply {
        match request {
            CtlRequest::View => CtlReply::View {
                view: self.view(Instant::now()),
            },
            CtlRequest::Fault { fault } => self.fault(&fault),
            CtlRequest::Heal => self.heal(),
        }
    }

    /// Applies `fault` and keeps its record.
    fn fault(&mut self, fault: &Fault) -> CtlReply {
        match self.rig.apply(fault) {
            Ok(applied) => {
                let message = format!(
                    "{}: {}: {}",
                    fault.verb(),
                    hosts_text(&applied.hosts),
                    applied.detail
                );
                log(&format!("fault {message}"));
                if let Fault::AgentStart { .. } = fault {
                    // Undone, not added: the agent-stop record goes.
                    self.faults
                        .retain(|f| !(f.verb == "agent-stop" && f.hosts == applied.hosts));
                } else {
                    self.faults.push(FaultRecord {
                        verb: fault.verb().into(),
                        hosts: applied.hosts,
                        at_unix_ms: wall_ms(),
                        detail: applied.detail,
                    });
                }
                self.state_saved = None;
                CtlReply::Done { message }
            }
            Err(message) => {
                log(&format!("fault {} refused: {message}", fault.verb()));
                CtlReply::Error { message }
            }
        }
    }

    /// Undoes every fault; the record is emptied even when some undoing failed
    /// (what is left is in the error).
    fn heal(&mut self) -> CtlReply {
        let result = self.rig.heal();
        self.faults.clear();
        self.state_saved = None;
        match result {
            Ok(message) => {
                log(&format!("heal: {message}"));
                CtlReply::Done { message }
            }
            Err(message) => {
                log(&format!("heal incomplete: {message}"));
                CtlReply::Error { message }
            }
        }
    }

    fn view(&self, now: Instant) -> SupervisorView {
        let hosts = self.rig.host_views(now);
        SupervisorView {
            pid: std::process::id() as i32,
            updated_unix_ms: wall_ms(),
            watchdog_timeout_ms: self.rig.dog_timeout.as_millis() as u64,
            hosts,
            faults: self.faults.clone(),
        }
    }

    /// Writes the view for readers that find the supervisor dead.
    fn save_state(&mut self, now: Instant) {
        if self
            .state_saved
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) < STATE_EVERY)
        {
            return;
        }
        let Ok(text) = serde_json::to_string_pretty(&self.view(now)) else {
            return;
        };
        if let Err(e) = layout::write_atomic(&self.rig.spec.supervisor_state(), text.as_bytes()) {
            log(&format!("{e:#}"));
        }
        self.state_saved = Some((now, text));
    }
}
