//! Seeded fault fuzzing of the whole cluster in the simulator.
//!
//! `HE_SIM_SEEDS=N` sets how many seeds the main test runs (default 200; the
//! 10,000-seed run is `he-lab sim fuzz --seeds 10000`, see BENCHMARKS.md).

use hosted_engine::core::LeaseDefect;
use hosted_engine::sim::fuzz::run_seed;

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
