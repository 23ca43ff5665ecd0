//! Simulated fence devices: one per host, with latency, failures, hangs and
//! lies, driven by the agents' fence orders (the [`Fencer`] of
//! [`SimHost`]), and the fencing rules checked against ground truth when
//! they are acted on:
//!
//! - a fence begins only against a host that has not published for
//!   `fence-after + lease-settle` (less the slack of a stale read and a
//!   loop): silent when claimed from, and through the settle;
//! - no lease epoch is fenced twice (one fence per failover);
//! - a lease taken through a fence while the fenced holder's lease was still
//!   live is taken only over a host that is powered off.
//!
//! Two engine VMs at once is the simulator's general invariant, checked
//! after every event as always.

use std::collections::BTreeMap;
use std::fmt;

use super::io::SimHost;
use super::world::{WorldState, fmt_duration, host_name};
use crate::core::{FenceConf, FenceOrder, FenceOutcome, FenceReport, FenceTarget, Millis, Timings};
use crate::metadata::HostId;
use crate::shell::agent_loop::Fencer;

/// The program name the simulated devices report.
const SIM_AGENT: &str = "fence_sim";

/// How a simulated fence device behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceMode {
    /// Powers the host off and reports off.
    Works,
    /// Reports off and does nothing: the host stays on.
    Lies,
    /// Answers every call with an error (wrong credentials, say).
    Fails,
    /// Never answers: every call runs into its timeout.
    Hangs,
    /// Powers the host off, but no status call ever says off.
    Unconfirmed,
}

impl DeviceMode {
    pub const ALL: [DeviceMode; 5] = [
        DeviceMode::Works,
        DeviceMode::Lies,
        DeviceMode::Fails,
        DeviceMode::Hangs,
        DeviceMode::Unconfirmed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceMode::Works => "works",
            DeviceMode::Lies => "lies",
            DeviceMode::Fails => "fails",
            DeviceMode::Hangs => "hangs",
            DeviceMode::Unconfirmed => "unconfirmed",
        }
    }

    pub fn parse(text: &str) -> Option<DeviceMode> {
        DeviceMode::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for DeviceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cluster's fencing in a simulation: every host has a device that
/// works, and every agent may run every other host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFencing {
    /// `fence-after-secs`.
    pub fence_after_ms: u64,
    /// One fence-agent call's bound (`timeout-secs`).
    pub call_timeout_ms: u64,
    /// How long a device takes to answer a whole fence (off, then status).
    pub latency_ms: u64,
}

impl SimFencing {
    /// The defaults for `timings`: the agent's default fence-after
    /// ([`FenceConf::default_fence_after_ms`]), a 30 s call bound and a 2 s
    /// device.
    pub fn for_timings(timings: &Timings) -> SimFencing {
        SimFencing {
            fence_after_ms: FenceConf::default_fence_after_ms(timings),
            call_timeout_ms: 30_000,
            latency_ms: 2_000,
        }
    }
}

/// One host's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub mode: DeviceMode,
    pub latency_ms: u64,
}

/// A fence under way.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Job {
    by: HostId,
    process: u64,
    done_at: Millis,
    report: FenceReport,
    lines: Vec<String>,
}

/// The fence devices' state in the world.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenceWorld {
    pub devices: BTreeMap<HostId, Device>,
    jobs: Vec<Job>,
    /// Who fenced each (host, lease epoch).
    begun: BTreeMap<(HostId, u64), HostId>,
    /// Power-offs the devices carry out: (when, by, target).
    power_offs: Vec<(Millis, HostId, HostId)>,
    /// Claims made to fence: (claimer, epoch) -> target.
    claims: BTreeMap<(HostId, u64), FenceTarget>,
    /// Fences begun so far.
    pub count: usize,
}

impl FenceWorld {
    /// Every host's device working, when fencing is on.
    pub fn new(hosts: u16, fencing: Option<&SimFencing>) -> FenceWorld {
        let devices = fencing
            .map(|f| {
                (1..=hosts)
                    .map(|h| {
                        let device = Device {
                            mode: DeviceMode::Works,
                            latency_ms: f.latency_ms,
                        };
                        (h, device)
                    })
                    .collect()
            })
            .unwrap_or_default();
        FenceWorld {
            devices,
            ..FenceWorld::default()
        }
    }

    /// The device power-offs due, for the simulator to carry out.
    pub fn take_power_offs(&mut self) -> Vec<(Millis, HostId, HostId)> {
        std::mem::take(&mut self.power_offs)
    }
}

impl WorldState {
    /// Host `by`'s agent (process `process`) begins a fence.
    fn begin_fence(&mut self, by: HostId, process: u64, order: FenceOrder) {
        let target = order.target;
        let now = self.host_time(by);
        self.check_fence(by, target, now);
        self.fencing.count += 1;
        let name = host_name(target.host);
        let Some(fencing) = self.params.fencing.clone() else {
            return;
        };
        let device = self.fencing.devices.get(&target.host).copied();
        let whole = 2 * fencing.call_timeout_ms;
        let (latency, off, outcome) = match device {
            None => (0, false, FenceOutcome::Failed("no fence device".into())),
            Some(d) => match d.mode {
                DeviceMode::Works => (d.latency_ms, true, FenceOutcome::Off),
                DeviceMode::Lies => (d.latency_ms, false, FenceOutcome::Off),
                DeviceMode::Fails => (
                    d.latency_ms,
                    false,
                    FenceOutcome::Failed(format!(
                        "{SIM_AGENT} off: failed: Unable to connect/login to fencing device"
                    )),
                ),
                DeviceMode::Hangs => (
                    whole,
                    false,
                    FenceOutcome::Failed(format!(
                        "no answer within {}: killed it",
                        fmt_duration(fencing.call_timeout_ms)
                    )),
                ),
                DeviceMode::Unconfirmed => (
                    whole,
                    true,
                    FenceOutcome::Failed(format!(
                        "status did not say off within {}",
                        fmt_duration(whole)
                    )),
                ),
            },
        };
        if off {
            self.fencing
                .power_offs
                .push((now + latency / 2, by, target.host));
        }
        let lines = vec![format!(
            "{SIM_AGENT} off and status of {name}: {} ({})",
            match &outcome {
                FenceOutcome::Off => "off".to_owned(),
                FenceOutcome::Failed(why) => why.clone(),
            },
            fmt_duration(latency)
        )];
        self.fencing.jobs.push(Job {
            by,
            process,
            done_at: now + latency,
            report: FenceReport {
                target,
                outcome,
                took_ms: latency,
                agent: SIM_AGENT.into(),
            },
            lines,
        });
    }

    /// The rules a fence's beginning must keep (see the module).
    fn check_fence(&mut self, by: HostId, target: FenceTarget, now: Millis) {
        let Some(fencing) = self.params.fencing.clone() else {
            return;
        };
        let slack = self.params.stale_read_max_ms() + self.params.timings.loop_ms;
        let silence = fencing.fence_after_ms + self.params.timings.lease_settle_ms;
        if let Some(e) = self.effective(target.host)
            && now.since(e.visible_at) + slack < silence
        {
            self.violation(format!(
                "{} fences {}, which published {} ago (fence-after + settle {})",
                host_name(by),
                host_name(target.host),
                fmt_duration(now.since(e.visible_at)),
                fmt_duration(silence)
            ));
        }
        if let Some(first) = self.fencing.begun.insert((target.host, target.epoch), by) {
            self.violation(format!(
                "{}'s lease epoch {} is fenced twice, by {} and {}",
                host_name(target.host),
                target.epoch,
                host_name(first),
                host_name(by)
            ));
        }
    }

    /// A claim landed: remember what it was made to fence.
    pub(super) fn note_fence_claim(&mut self, claimer: HostId, epoch: u64, target: FenceTarget) {
        self.fencing.claims.insert((claimer, epoch), target);
    }

    /// Whether `claimer`'s claim of `epoch` was made to fence `host`.
    pub(super) fn claim_fences(&self, claimer: HostId, epoch: u64, host: HostId) -> bool {
        self.fencing
            .claims
            .get(&(claimer, epoch))
            .is_some_and(|target| target.host == host)
    }

    /// A `held` landed after a claim made to fence: while the fenced
    /// holder's lease is still live (its newest write younger than a sound
    /// reader's lease-dead), that holder must be powered off.
    pub(super) fn check_fenced_take(&mut self, taker: HostId, epoch: u64, live_for: u64) {
        let Some(target) = self.fencing.claims.get(&(taker, epoch)).copied() else {
            return;
        };
        let Some(e) = self.effective(target.host) else {
            return;
        };
        let live = e.kind.holds() && self.now.since(e.landed_at) < live_for;
        if live && self.host(target.host).powered {
            self.violation(format!(
                "{} takes the lease (epoch {epoch}) from {}, which is powered on, its lease \
                 written {} ago",
                host_name(taker),
                host_name(target.host),
                fmt_duration(self.now.since(e.landed_at))
            ));
        }
    }
}

impl Fencer for SimHost {
    fn begin(&mut self, order: FenceOrder) {
        self.world
            .borrow_mut()
            .begin_fence(self.host, self.process, order);
    }

    fn poll(&mut self) -> (Vec<String>, Option<FenceReport>) {
        let mut w = self.world.borrow_mut();
        let now = w.host_time(self.host);
        let Some(index) = w
            .fencing
            .jobs
            .iter()
            .position(|j| j.by == self.host && j.process == self.process && j.done_at <= now)
        else {
            return (Vec::new(), None);
        };
        let job = w.fencing.jobs.remove(index);
        (job.lines, Some(job.report))
    }
}
