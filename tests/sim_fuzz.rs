//! Seeded fault fuzzing of the whole cluster in the simulator.
//!
//! `HE_SIM_SEEDS=N` sets how many seeds each of the two main tests runs
//! (default 200): one on the reference's timings (`he-lab sim fuzz`; its
//! 10,000-seed run is in BENCHMARKS.md), one on ours (`Timings::default()`).

use hosted_engine::config::Timings;
use hosted_engine::core::{LeaseDefect, Millis};
use hosted_engine::sim::fuzz::{FAULT_PHASE_MS, HEAL_BOUND_MS, run_seed, schedule_for};
use hosted_engine::sim::{Sim, SimParams};

fn seeds() -> u64 {
    std::env::var("HE_SIM_SEEDS")
        .ok()
        .map(|v| v.parse().expect("HE_SIM_SEEDS is a number"))
        .unwrap_or(200)
}

#[test]
fn random_fault_schedules_break_no_invariant() {
    let mut failures = Vec::new();
    for seed in 0..seeds() {
        let outcome = run_seed(seed, None);
        if !outcome.passed() {
            failures.push(outcome.failure_line());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same schedules (same seeds) with the project's default timings instead of
/// the reference's: a 2 s loop, the lease free after 40 s. The watchdog fires
/// as `SimParams::new` sets it for the reference, a loop after lease-fail
/// (22 + 2 s after the last renewal, power-off 10 s: off before lease-dead
/// 40 s). Returns the failure line of a seed that broke an invariant or did
/// not end with exactly one healthy engine.
fn run_seed_on_defaults(seed: u64) -> Option<String> {
    let (reference, commands) = schedule_for(seed);
    let timings = Timings::default();
    let watchdog_ms = timings.lease_fail_ms + timings.loop_ms;
    assert!(watchdog_ms + timings.poweroff_timeout_ms < timings.lease_dead_ms);
    let params = SimParams {
        timings,
        watchdog_ms: Some(watchdog_ms),
        ..SimParams::new(reference.hosts)
    };
    let mut sim = Sim::new(params);
    for (at, command) in commands {
        sim.schedule(at, command);
    }
    let end = Millis(FAULT_PHASE_MS + HEAL_BOUND_MS);
    sim.run_until(end);
    let world = sim.world();
    let healthy = world.healthy_engines();
    let running = world.running_vms().len();
    let why = world.violations.first().cloned().or_else(|| {
        (healthy.len() != 1 || running != 1).then(|| {
            format!("after healing: healthy engines on {healthy:?}, {running} VM(s) running")
        })
    })?;
    Some(format!(
        "seed {seed} failed on the default timings: {why}\n\
         reproduce: cargo test --test sim_fuzz default_timings (the seed's schedule: \
         he-lab sim run --seed {seed})"
    ))
}

#[test]
fn random_fault_schedules_break_no_invariant_on_the_default_timings() {
    let failures: Vec<String> = (0..seeds()).filter_map(run_seed_on_defaults).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The checkers must be able to fail: with a deliberately broken lease the
/// fuzzer finds a violation within 1,000 seeds.
fn first_failing_seed(defect: LeaseDefect) -> Option<u64> {
    (0..1000).find(|&seed| !run_seed(seed, Some(defect)).violations.is_empty())
}

#[test]
fn a_lease_that_expires_at_once_is_caught() {
    let seed = first_failing_seed(LeaseDefect::ExpireImmediately);
    assert!(
        seed.is_some(),
        "no seed caught the ExpireImmediately defect"
    );
}

#[test]
fn a_lease_that_skips_the_settle_wait_is_caught() {
    let seed = first_failing_seed(LeaseDefect::SkipSettle);
    assert!(seed.is_some(), "no seed caught the SkipSettle defect");
}
