//! Seeded fault fuzzing of the whole cluster in the simulator.
//!
//! `HE_SIM_SEEDS=N` sets how many seeds the reference-timings test runs
//! (default 200, 100 in a debug build); the default-timings one runs a fifth
//! as many (each of its simulated hours has five times the loops). The
//! 100,000-seed runs of both are in BENCHMARKS.md (`scripts/bench`); CI runs
//! this file once more in release with more seeds. The same counts run once
//! more with power fencing (`--fencing`: every host with a fence device,
//! drawn from the seed).

use hosted_engine::config::Timings;
use hosted_engine::core::LeaseDefect;
use hosted_engine::sim::fuzz::{FuzzTimings, run_seed, run_seed_on, run_seed_with};
use hosted_engine::sim::scenario::Scenario;

fn seeds() -> u64 {
    std::env::var("HE_SIM_SEEDS")
        .ok()
        .map(|v| v.parse().expect("HE_SIM_SEEDS is a number"))
        .unwrap_or(if cfg!(debug_assertions) { 100 } else { 200 })
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

/// Seeds of the reference timings that once failed, each for its own
/// reason (issue 13): 26803, 30163 and 39102 a restarted agent that said
/// `none` over its running VM while it waited to claim for it; 56874 a claim
/// judged against a holder's write that a third party erased a second after
/// it landed, before any reader could see it (a checker that was too strict).
/// And 68417 of the default timings: a holder without storage and with a
/// wedged VM manager, suspended for 23 s just before its lease was overdue,
/// waited out the rest of its watchdog's timeout after the resume while
/// another host started the engine (scenario hole1-suspended-wedged-holder).
/// And 16494, 28398, 69854, 85442, 94797, 97457: the simulator's watchdog,
/// expired by an agent whose power-off had hung, counted its second from the
/// end of that power-off and so fired later than it was already due: a
/// lease keeper's host lived on past its reset beside a second engine.
#[test]
fn seeds_that_once_failed_pass() {
    for seed in [
        26803, 30163, 39102, 56874, 16494, 28398, 69854, 85442, 94797, 97457,
    ] {
        let outcome = run_seed(seed, None);
        assert!(outcome.passed(), "{}", outcome.failure_line());
    }
    let outcome = run_seed_on(68417, None, FuzzTimings::Default);
    assert!(outcome.passed(), "{}", outcome.failure_line());
}

/// The same seeds with the project's default timings instead of the
/// reference's: a 2 s loop, the lease free after 40 s, the watchdog anywhere
/// in 12..16 s. A failing seed prints its replay command
/// (`he-lab sim run --seed N --timings default`).
#[test]
fn random_fault_schedules_break_no_invariant_on_the_default_timings() {
    let t = Timings::default();
    assert_eq!(t.watchdog_range_ms(), (12_000, 16_000));
    let failures: Vec<String> = (0..(seeds() / 5).max(20))
        .map(|seed| run_seed_on(seed, None, FuzzTimings::Default))
        .filter(|outcome| !outcome.passed())
        .map(|outcome| outcome.failure_line())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The checkers must be able to fail: with a deliberately broken lease the
/// fuzzer finds a violation within 2,000 seeds (issue 13's planted defects:
/// each one a hole this project had, or a rule it relies on).
fn first_failing_seed(defect: LeaseDefect) -> Option<u64> {
    (0..2000).find(|&seed| !run_seed(seed, Some(defect)).violations.is_empty())
}

fn caught(defect: LeaseDefect) {
    let seed = first_failing_seed(defect);
    assert!(
        seed.is_some(),
        "no seed of 2,000 caught the {defect:?} defect"
    );
}

#[test]
fn a_lease_that_expires_at_once_is_caught() {
    caught(LeaseDefect::ExpireImmediately);
}

#[test]
fn a_lease_that_skips_the_settle_wait_is_caught() {
    caught(LeaseDefect::SkipSettle);
}

/// Hole 1: the lease given up before the VM is confirmed down.
#[test]
fn a_lease_released_before_its_vm_is_down_is_caught() {
    caught(LeaseDefect::ReleaseBeforeDown);
}

/// Hole 4: a late write of a slot taken for news.
#[test]
fn a_late_write_taken_for_news_is_caught() {
    caught(LeaseDefect::IgnoreSequence);
}

/// Hole 5: an epoch from storage taken as it is, and wrapped.
#[test]
fn an_unchecked_epoch_is_caught() {
    caught(LeaseDefect::UncheckedEpoch);
}

/// Hand-over: the lease taken as soon as a claim made to take it over
/// settles, while the holder's engine VM may still shut down. The seeds draw
/// slow shutdowns, so the fuzzer finds it; the slow-shutdown scenario shows
/// it too: sound, host 2 waits for host 1's release (the scenario passes, as
/// its golden log shows); with the defect it holds while host 1 still does.
#[test]
fn a_takeover_before_the_holder_released_is_caught() {
    caught(LeaseDefect::TakeOverEarly);
    let text = include_str!("scenarios/handover-slow-shutdown.scn");
    let mut scenario = Scenario::parse(text).unwrap();
    assert!(
        scenario.run().passed(),
        "the scenario fails without the defect"
    );
    scenario.params.lease_defect = Some(LeaseDefect::TakeOverEarly);
    let outcome = scenario.run();
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.contains("host2 takes the lease (epoch 2) over from host1")),
        "the TakeOverEarly defect was not caught: {:?}",
        outcome.violations
    );
}

/// Power fencing on the reference's timings: the same schedules, with every
/// host's fence device, its latency, its faults and fence-after drawn from
/// the seed (`sim::fuzz::schedule_with`). A failing seed prints its replay
/// command (`he-lab sim run --seed N --fencing`).
#[test]
fn random_fault_schedules_with_fencing_break_no_invariant() {
    let failures: Vec<String> = (0..seeds())
        .map(|seed| run_seed_with(seed, None, FuzzTimings::Reference, true))
        .filter(|outcome| !outcome.passed())
        .map(|outcome| outcome.failure_line())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Power fencing on the project's default timings (a fifth as many seeds,
/// as without fencing).
#[test]
fn random_fault_schedules_with_fencing_break_no_invariant_on_the_default_timings() {
    let failures: Vec<String> = (0..(seeds() / 5).max(20))
        .map(|seed| run_seed_with(seed, None, FuzzTimings::Default, true))
        .filter(|outcome| !outcome.passed())
        .map(|outcome| outcome.failure_line())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Power fencing: a holder fenced although it publishes (fence-after
/// ignored) is caught within 2,000 seeds of the default timings with
/// fencing, by the rule checked when a fence begins.
#[test]
fn a_fence_of_a_publishing_holder_is_caught() {
    let defect = LeaseDefect::FencePublishing;
    let seed = (0..2000).find(|&seed| {
        !run_seed_with(seed, Some(defect), FuzzTimings::Default, true)
            .violations
            .is_empty()
    });
    assert!(
        seed.is_some(),
        "no seed of 2,000 caught the {defect:?} defect"
    );
}

/// Power fencing: a lease taken on a fence that did not confirm the holder
/// off is caught. The fuzzer meets this one rarely (seed 412 of the default
/// timings with fencing is the first), so a scenario proves it: a holder
/// alive without storage and with no engine answering, whose device fails.
/// Sound, the fencer withdraws and waits for lease-dead (the scenario passes,
/// as its golden log shows); with the defect it takes the lease at once
/// while the holder is powered on and its VM runs.
#[test]
fn a_lease_taken_on_an_unconfirmed_fence_is_caught() {
    let text = include_str!("scenarios/fence-device-fails-holder-alive.scn");
    let mut scenario = Scenario::parse(text).unwrap();
    assert!(
        scenario.run().passed(),
        "the scenario fails without the defect"
    );
    scenario.params.lease_defect = Some(LeaseDefect::TakeUnconfirmedFence);
    let outcome = scenario.run();
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.contains("takes the lease (epoch 2) from host1, which is powered on")),
        "the TakeUnconfirmedFence defect was not caught: {:?}",
        outcome.violations
    );
}

/// Seed 80878 of the default timings (found by the 100,000-seed run of
/// scripts/bench): a holder's write stalled for 367 s lands late, as news,
/// and its next write lands torn over it 0.4 s later, so the slot reads as
/// unreadable again. A sound reader keeps the holder's last valid state, long
/// expired, and may claim; the checker took the torn write for nothing and
/// judged the claim against the late hold. A torn write that leaves the slot
/// unreadable now erases the write before it, as a third party's garbage
/// does (`WorldState::erased`).
#[test]
fn a_late_hold_erased_by_a_torn_write_is_not_claimed_against() {
    let outcome = run_seed_on(80878, None, FuzzTimings::Default);
    assert!(outcome.passed(), "{}", outcome.failure_line());
}
