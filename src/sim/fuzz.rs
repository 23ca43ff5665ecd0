//! Seeded fault fuzzing: a random (but seed-determined) schedule of overlapping
//! faults for one simulated hour, then everything healed, then a bounded wait
//! for exactly one healthy engine, on the reference's timings or on ours, with
//! power fencing or without. A failing seed replays identically with `he-lab
//! sim run --seed <n>` (plus `--timings default` for ours, `--fencing` for
//! fencing).

use super::fencing::{DeviceMode, SimFencing};
use super::{Command, Sim, SimParams, fmt_time};
use crate::config::Timings;
use crate::core::{FenceConf, LeaseDefect, Millis};
use crate::metadata::HostId;

/// Which timings a seed (or a scenario's `option timings`) runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FuzzTimings {
    /// The reference's ([`Timings::reference`]), as the scenarios.
    #[default]
    Reference,
    /// The project's defaults ([`Timings::default`]).
    Default,
}

impl FuzzTimings {
    /// `params` with these timings and the watchdog [`SimParams::new`] sets
    /// for them (the longest the lease allows).
    pub fn apply(self, params: SimParams) -> SimParams {
        let timings = match self {
            FuzzTimings::Reference => Timings::reference(),
            FuzzTimings::Default => Timings::default(),
        };
        SimParams {
            watchdog_ms: Some(SimParams::watchdog_for(&timings)),
            timings,
            ..params
        }
    }

    /// The replay option, empty for the reference.
    fn replay_arg(self) -> &'static str {
        match self {
            FuzzTimings::Reference => "",
            FuzzTimings::Default => " --timings default",
        }
    }
}

/// Length of the faulty phase.
pub const FAULT_PHASE_MS: u64 = 3_600_000;
/// After healing, one healthy engine must run within this bound: the longest
/// chain is a retry-penalised cluster (score 0 for `retry-window`, 600 s), an
/// `EngineUnexpectedlyDown` hold (560 s), a lease expiry (60 s), settle (15 s),
/// a host reboot (30 s), agent history (60 s) and the engine's boot (60 s).
pub const HEAL_BOUND_MS: u64 = 1_800_000;

/// SplitMix64: small, fast, and enough for schedules (not for secrets).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The schedule of one seed on `timings`: parameters and timed commands.
///
/// Per seed: 2 to 5 hosts, a watchdog timeout anywhere in the range the lease
/// allows, each host's clock off by up to 0.2 %, a VM manager that takes up
/// to 3 s to start a VM, and for half the seeds an engine VM whose graceful
/// shutdown takes 1 to 60 s instead of 5 (from a stream of its own). Then 4 to 16 faults, some of them correlated on one
/// host (a wedged host: storage and VM manager together; a stall and a
/// pause; a reconnect's late writes followed by a storage loss), bounded
/// where the lease's proof needs it (`core::lease`; [`Bounds`]: a whole-host
/// freeze or suspend short enough for the holder to fence in time, stale
/// reads within what the settle time leaves, garbage over a slot for less
/// than lease-fail).
pub fn schedule_for(seed: u64, timings: FuzzTimings) -> (SimParams, Vec<(Millis, Command)>) {
    schedule_with(seed, timings, false)
}

/// As [`schedule_for`], with power fencing when `fencing`: the same schedule,
/// and on top of it, drawn from a second stream of the seed, a fence-after
/// anywhere in its allowed range and every host's fence device with its own
/// latency (up to 10 s) and faults (failing, hanging, powering off without
/// confirming it), changing a few times.
///
/// Never a device that lies: when the lied-about host is alive, cut off from
/// the storage and with no engine answering, nothing is left to catch the lie
/// (docs/agent.md, "Power fencing"); the scenarios cover the lies a witness
/// catches.
pub fn schedule_with(
    seed: u64,
    timings: FuzzTimings,
    fencing: bool,
) -> (SimParams, Vec<(Millis, Command)>) {
    let (mut params, mut commands) = schedule_without_fencing(seed, timings);
    if fencing {
        fence_devices(seed, &mut params, &mut commands);
    }
    (params, commands)
}

/// The fencing part of [`schedule_with`].
fn fence_devices(seed: u64, params: &mut SimParams, commands: &mut Vec<(Millis, Command)>) {
    const MODES: [DeviceMode; 4] = [
        DeviceMode::Fails,
        DeviceMode::Hangs,
        DeviceMode::Unconfirmed,
        DeviceMode::Works,
    ];
    let mut rng = Rng::new(seed ^ 0x6665_6e63_6500_0000);
    let t = &params.timings;
    let mut fencing = SimFencing::for_timings(t);
    let floor = FenceConf::default_fence_after_ms(&Timings {
        // The smallest the rules allow: the default is one choice of many.
        ..t.clone()
    })
    .min(2 * t.loop_ms)
    .max((2 * t.loop_ms + t.storage_timeout_ms).saturating_sub(t.lease_settle_ms));
    fencing.fence_after_ms = rng.range(floor, t.lease_dead_ms - 1);
    fencing.call_timeout_ms = rng.range(1_000, 30_000);
    params.fencing = Some(fencing);
    let mut changes = Vec::new();
    for host in 1..=params.hosts {
        changes.push((
            Millis::ZERO,
            Command::FenceLatency(host, rng.range(100, 10_000)),
        ));
        // Mostly working devices: a broken one only falls back to the lease.
        let mode = if rng.range(0, 2) == 0 {
            MODES[rng.range(0, 3) as usize]
        } else {
            DeviceMode::Works
        };
        changes.push((Millis::ZERO, Command::FenceDevice(host, mode)));
    }
    for _ in 0..rng.range(0, 4) {
        let at = Millis::from_secs(rng.range(60, FAULT_PHASE_MS / 1000 - 1));
        let host = rng.range(1, u64::from(params.hosts)) as HostId;
        changes.push((
            at,
            Command::FenceDevice(host, MODES[rng.range(0, 3) as usize]),
        ));
    }
    commands.extend(changes);
    commands.sort_by_key(|(t, _)| *t);
}

fn schedule_without_fencing(
    seed: u64,
    timings: FuzzTimings,
) -> (SimParams, Vec<(Millis, Command)>) {
    let mut rng = Rng::new(seed);
    let hosts = rng.range(2, 5) as u16;
    let mut params = timings.apply(SimParams::new(hosts));
    let (dog_min, dog_max) = params.timings.watchdog_range_ms();
    params.watchdog_ms = Some(rng.range(dog_min, dog_max));
    params.vm_start_ms = rng.range(0, 3_000);
    // The engine VM's graceful shutdown: mostly the usual 5 s, else up to a
    // minute (a hand-over then waits for it after its settle). From a
    // generator of its own: the faults each seed draws stay the same.
    let mut shutdown = Rng::new(seed ^ 0x7368_7574_646f_776e);
    if shutdown.range(0, 2) == 0 {
        params.shutdown_ms = shutdown.range(1_000, 60_000);
    }
    for host in 1..=hosts {
        params
            .clock_ppm
            .insert(host, rng.range(0, 4_000) as i64 - 2_000);
    }
    let bounds = Bounds::of(&params);
    let mut commands = Vec::new();
    let faults = rng.range(4, 16);
    for _ in 0..faults {
        let at = Millis::from_secs(rng.range(60, FAULT_PHASE_MS / 1000 - 1));
        let lasts = rng.range(5, 900) * 1000;
        let host = rng.range(1, u64::from(hosts)) as HostId;
        for (offset, command) in fault_pair(&mut rng, host, lasts, &bounds) {
            let when = at + offset;
            if when.as_millis() < FAULT_PHASE_MS {
                commands.push((when, command));
            }
        }
    }
    commands.push((Millis(FAULT_PHASE_MS), Command::Heal));
    commands.push((Millis(FAULT_PHASE_MS), Command::GlobalMaintenance(false)));
    for host in 1..=hosts {
        commands.push((
            Millis(FAULT_PHASE_MS),
            Command::LocalMaintenance(host, false),
        ));
    }
    commands.sort_by_key(|(t, _)| *t);
    (params, commands)
}

/// Limits on faults, from the timings (see [`schedule_for`]).
struct Bounds {
    /// Longest whole-host freeze with the host's clock stopped, in seconds.
    freeze_secs: u64,
    /// Longest suspend (the host's clock counts it), in seconds.
    suspend_secs: u64,
    /// Stalest read, in ms.
    stale_ms: u64,
    /// Longest garbage over a slot, in seconds.
    garbage_secs: u64,
}

impl Bounds {
    fn of(params: &SimParams) -> Bounds {
        let t = &params.timings;
        let secs = |ms: u64| (ms / 1000).max(1);
        // No other host starts the engine before lease-dead + settle after
        // the holder's last renewal, less a read. A suspended holder (its
        // clock counts the suspend) sees its lease overdue at once when it
        // resumes and powers its VM off, or, when that fails, expires its
        // watchdog: it needs a loop and a power-off (and the watchdog's
        // second). Drawn at any moment, a suspend may come on top of a
        // holder's storage outage and end later than that allows (the
        // agent's prompt reset is then safe as long as reads are fresh). A
        // frozen one whose clock stood still believes its lease younger by
        // the whole freeze, and may not be able to tell anyone (its storage
        // gone): it fences lease-fail after its last renewal *by its clock*.
        let before_a_start = (t.lease_dead_ms + t.lease_settle_ms)
            .saturating_sub(t.storage_timeout_ms + t.lease_margin_ms);
        let fence = t.poweroff_timeout_ms + t.loop_ms + super::world::EXPIRED_DOG_MS;
        Bounds {
            freeze_secs: secs(before_a_start.saturating_sub(fence + t.lease_fail_ms)),
            suspend_secs: secs(before_a_start.saturating_sub(fence)),
            stale_ms: params.stale_read_max_ms(),
            // Silence a peer sees while garbage covers a slot, well inside
            // lease-dead (and inside lease-fail, so a holder does not fence).
            garbage_secs: secs(
                t.lease_fail_ms
                    .saturating_sub(2 * t.loop_ms + t.storage_timeout_ms),
            ),
        }
    }
}

/// A fault and, where it has one, its end `lasts` later.
fn fault_pair(rng: &mut Rng, h: HostId, lasts: u64, bounds: &Bounds) -> Vec<(u64, Command)> {
    use Command::*;
    let secs = lasts / 1000;
    let pair = |on: Command, off: Command| vec![(0, on), (lasts, off)];
    match rng.range(0, 38) {
        0 => vec![(0, VmKill)],
        1 => pair(EngineStop, EngineStart),
        2 => pair(EngineNetworkDown, EngineNetworkUp),
        3 => pair(HostNetworkDown(h), HostNetworkUp(h)),
        4 => pair(AllNetworkDown, AllNetworkUp),
        5 => pair(StorageBreak(h), StorageHeal(h)),
        6 => pair(StorageStall(h), StorageHeal(h)),
        7 => pair(
            StorageLatency(h, rng.range(100, 4000)),
            StorageLatency(h, 0),
        ),
        8 => vec![(0, StorageTear(h))],
        9 => pair(HostCrash(h), HostPowerOn(h)),
        10 => vec![(0, AgentKill(h))],
        11 => pair(AgentKillHold(h), AgentStart(h)),
        12 => vec![(0, AgentPause(h, secs.min(120)))],
        13 => pair(GlobalMaintenance(true), GlobalMaintenance(false)),
        14 => pair(LocalMaintenance(h, true), LocalMaintenance(h, false)),
        15 => vec![(0, StartFailures(h, rng.range(1, 4) as u32))],
        16 => pair(VmQueryFail(h, true), VmQueryFail(h, false)),
        17 => vec![(0, ClockJump(h, rng.range(0, 7200) as i64 - 3600))],
        18 => vec![(0, VmStartRequest(h, false))],
        19 => pair(StorageReadFail(h), StorageHeal(h)),
        20 => pair(StorageWriteFail(h), StorageHeal(h)),
        21 => pair(AgentStop(h), AgentStart(h)),
        22 => pair(PoweroffFail(h, true), PoweroffFail(h, false)),
        23 => vec![(0, VmShutdownRequest(h))],
        24 => vec![(0, AgentPauseMid(h, rng.range(1, 120)))],
        25 => vec![(0, HostFreeze(h, rng.range(1, bounds.freeze_secs)))],
        26 => vec![(0, HostSuspend(h, rng.range(1, bounds.suspend_secs)))],
        27 => pair(
            StorageStale(h, rng.range(0, bounds.stale_ms)),
            StorageStale(h, 0),
        ),
        28 => pair(StorageStallLate(h, rng.range(1, 600)), StorageHeal(h)),
        29 => vec![(0, SlotWipe(h))],
        30 => vec![(0, SlotGarbage(h, rng.range(1, bounds.garbage_secs)))],
        // Impossible values only: a forger of plausible slots (a write
        // sequence just ahead of the host's) is beyond what shared storage
        // can defend against (docs/agent.md, "What the lease cannot cover").
        31 => vec![(
            0,
            SlotHostile(h, super::Hostile::nth_impossible(rng.next_u64())),
        )],
        32 => vec![(0, SlotRollback(h, rng.range(1, 3000)))],
        33 => pair(PoweroffHang(h, true), PoweroffHang(h, false)),
        34 => wedged_host(rng, h, lasts),
        35 => {
            // A stall, and the agent stalls too, between its read and write.
            let pause = rng.range(1, 120);
            vec![
                (0, StorageStall(h)),
                (rng.range(0, lasts), AgentPauseMid(h, pause)),
                (lasts, StorageHeal(h)),
            ]
        }
        36 => {
            // A reconnect's late writes, then the storage is lost.
            let healed = rng.range(1, lasts);
            vec![
                (0, StorageStallLate(h, rng.range(1, 600))),
                (healed, StorageHeal(h)),
                (healed + rng.range(0, 30_000), StorageBreak(h)),
                (healed + lasts, StorageHeal(h)),
            ]
        }
        37 => {
            // The agent is killed while its writes hang; the new agent writes
            // on, and the old one's writes land late, over the newer ones.
            let healed = rng.range(1, lasts);
            vec![
                (0, StorageStallLate(h, rng.range(1, 600))),
                (rng.range(0, healed), AgentKill(h)),
                (healed, StorageHeal(h)),
            ]
        }
        _ => vec![(0, VmShutdownRequest(h))],
    }
}

/// Storage lost and the VM manager wedged on one host (libvirtd hung on
/// the same dead NFS): each comes back on its own time.
fn wedged_host(rng: &mut Rng, h: HostId, lasts: u64) -> Vec<(u64, Command)> {
    use Command::*;
    let storage_back = rng.range(1, lasts);
    let manager_back = rng.range(1, lasts);
    let power_off = if rng.range(0, 1) == 0 {
        (PoweroffFail(h, true), PoweroffFail(h, false))
    } else {
        (PoweroffHang(h, true), PoweroffHang(h, false))
    };
    vec![
        (0, StorageBreak(h)),
        (0, VmQueryFail(h, true)),
        (0, power_off.0),
        (storage_back, StorageHeal(h)),
        (manager_back, VmQueryFail(h, false)),
        (manager_back, power_off.1),
    ]
}

/// The verdict on one seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzOutcome {
    pub seed: u64,
    pub timings: FuzzTimings,
    /// Whether the seed ran with power fencing.
    pub fencing: bool,
    pub violations: Vec<String>,
    /// Why the healed cluster did not end with exactly one healthy engine.
    pub not_recovered: Option<String>,
    pub log: Vec<String>,
}

impl FuzzOutcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.not_recovered.is_none()
    }

    /// One line for a failing seed, with the command that replays it.
    pub fn failure_line(&self) -> String {
        let why = self
            .violations
            .first()
            .cloned()
            .or_else(|| self.not_recovered.clone())
            .unwrap_or_default();
        format!(
            "seed {} failed: {why}\nreproduce: he-lab sim run --seed {}{}{}",
            self.seed,
            self.seed,
            self.timings.replay_arg(),
            if self.fencing { " --fencing" } else { "" }
        )
    }
}

/// Runs one seed on the reference's timings (optionally with a deliberate
/// lease defect).
pub fn run_seed(seed: u64, defect: Option<LeaseDefect>) -> FuzzOutcome {
    run_seed_on(seed, defect, FuzzTimings::Reference)
}

/// Runs one seed's schedule on `timings`.
pub fn run_seed_on(seed: u64, defect: Option<LeaseDefect>, timings: FuzzTimings) -> FuzzOutcome {
    run_seed_with(seed, defect, timings, false)
}

/// Runs one seed's schedule on `timings`, with power fencing when `fencing`
/// ([`schedule_with`]).
pub fn run_seed_with(
    seed: u64,
    defect: Option<LeaseDefect>,
    timings: FuzzTimings,
    fencing: bool,
) -> FuzzOutcome {
    // A panic (an assertion in the core, the loop or the simulator) fails the
    // seed, with its message, instead of ending the whole fuzz run.
    let run = std::panic::catch_unwind(|| run_seed_unguarded(seed, defect, timings, fencing));
    run.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        FuzzOutcome {
            seed,
            timings,
            fencing,
            violations: vec![format!("panicked: {message}")],
            not_recovered: None,
            log: Vec::new(),
        }
    })
}

fn run_seed_unguarded(
    seed: u64,
    defect: Option<LeaseDefect>,
    timings: FuzzTimings,
    fencing: bool,
) -> FuzzOutcome {
    let (mut params, commands) = schedule_with(seed, timings, fencing);
    params.lease_defect = defect;
    let mut sim = Sim::new(params);
    for (at, command) in commands {
        sim.schedule(at, command);
    }
    let end = Millis(FAULT_PHASE_MS + HEAL_BOUND_MS);
    sim.run_until(end);
    let world = sim.world();
    let healthy = world.healthy_engines();
    let running = world.running_vms().len();
    let not_recovered = if healthy.len() == 1 && running == 1 {
        None
    } else {
        Some(format!(
            "{} after healing: healthy engines on {healthy:?}, {running} VM(s) running",
            fmt_time(end)
        ))
    };
    FuzzOutcome {
        seed,
        timings,
        fencing,
        violations: world.violations.clone(),
        not_recovered,
        log: world.log.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_line_replays_on_the_same_timings() {
        let failed = |timings| FuzzOutcome {
            seed: 42,
            timings,
            fencing: false,
            violations: vec!["two engines".into()],
            not_recovered: None,
            log: Vec::new(),
        };
        assert!(
            failed(FuzzTimings::Default)
                .failure_line()
                .ends_with("reproduce: he-lab sim run --seed 42 --timings default")
        );
        assert!(
            failed(FuzzTimings::Reference)
                .failure_line()
                .ends_with("reproduce: he-lab sim run --seed 42")
        );
    }

    #[test]
    fn the_default_timings_replace_the_reference_and_the_watchdog_follows() {
        let params = FuzzTimings::Default.apply(SimParams::new(3));
        let t = Timings::default();
        assert_eq!(params.timings, t);
        assert_eq!(params.watchdog_ms, Some(t.watchdog_range_ms().1));
        assert_eq!(
            FuzzTimings::Reference.apply(SimParams::new(3)).timings,
            Timings::reference()
        );
    }
}
