//! `he-lab sim ...`: run a scenario file or a fuzz seed, or fuzz many seeds.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::core::LeaseDefect;
use crate::sim::fuzz::{FAULT_PHASE_MS, FuzzTimings, HEAL_BOUND_MS, run_seed_with, schedule_with};
use crate::sim::scenario::Scenario;

/// Most seeds one `fuzz` run takes (a limit on everything).
pub const FUZZ_SEEDS_MAX: u64 = 10_000_000;

/// A lease defect planted on purpose, to see the checkers fail (see
/// `core::LeaseDefect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// Win a lease claim without the settle re-read.
    SkipSettle,
    /// Treat other hosts' leases as expired at once.
    ExpireImmediately,
    /// Publish `none` when fencing, before the VM is confirmed down.
    ReleaseBeforeDown,
    /// Take a slot whose write sequence went back (a late write) for news.
    IgnoreSequence,
    /// Take any epoch from storage and add to it wrapping.
    UncheckedEpoch,
    /// Power fencing (with --fencing): take the lease whatever the fence's
    /// outcome.
    TakeUnconfirmedFence,
    /// Power fencing (with --fencing): fence a holder whether it is silent
    /// or not.
    FencePublishing,
    /// Hand-over: take the lease as soon as a claim made to take it over
    /// settles, while the holder's engine VM may still shut down.
    TakeOverEarly,
}

impl From<Defect> for LeaseDefect {
    fn from(d: Defect) -> LeaseDefect {
        match d {
            Defect::SkipSettle => LeaseDefect::SkipSettle,
            Defect::ExpireImmediately => LeaseDefect::ExpireImmediately,
            Defect::ReleaseBeforeDown => LeaseDefect::ReleaseBeforeDown,
            Defect::IgnoreSequence => LeaseDefect::IgnoreSequence,
            Defect::UncheckedEpoch => LeaseDefect::UncheckedEpoch,
            Defect::TakeUnconfirmedFence => LeaseDefect::TakeUnconfirmedFence,
            Defect::FencePublishing => LeaseDefect::FencePublishing,
            Defect::TakeOverEarly => LeaseDefect::TakeOverEarly,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run one scenario file, or one fuzz seed, and print its log. Exit 1 when an
    /// invariant broke or a check failed.
    Run {
        /// A scenario file (see tests/scenarios/).
        #[arg(long, conflicts_with = "seed", required_unless_present = "seed")]
        scenario: Option<PathBuf>,
        /// A fuzz seed to replay.
        #[arg(long)]
        seed: Option<u64>,
        /// The timings a seed runs on (a scenario sets its own).
        #[arg(
            long,
            value_enum,
            default_value = "reference",
            conflicts_with = "scenario"
        )]
        timings: FuzzTimings,
        /// Replay a seed of `fuzz --fencing`: every host with a fence device.
        #[arg(long, conflicts_with = "scenario")]
        fencing: bool,
        /// Break the lease on purpose (to see the checkers fail).
        #[arg(long, value_enum)]
        defect: Option<Defect>,
    },
    /// Run seeds FROM..FROM+SEEDS of the fault fuzzer: each one simulated hour of
    /// random overlapping faults, then everything healed and a bounded wait for
    /// exactly one healthy engine. Exit 1 when any seed fails.
    Fuzz {
        /// How many seeds.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// The timings every seed runs on.
        #[arg(long, value_enum, default_value = "reference")]
        timings: FuzzTimings,
        /// Power fencing: every host with a fence device, drawn from the seed
        /// (fence-after, latency, devices that fail, hang or do not confirm).
        #[arg(long)]
        fencing: bool,
        /// Break the lease on purpose (to see the checkers fail).
        #[arg(long, value_enum)]
        defect: Option<Defect>,
    },
}

/// Runs a `sim` command; `Ok(false)` when the simulation found a failure.
pub fn run(command: SimCommand, out: &mut dyn Write) -> anyhow::Result<bool> {
    match command {
        SimCommand::Run {
            scenario: Some(path),
            defect,
            ..
        } => run_scenario(&path, defect.map(Into::into), out),
        SimCommand::Run {
            seed: Some(seed),
            timings,
            fencing,
            defect,
            ..
        } => run_one_seed(seed, (timings, fencing), defect.map(Into::into), out),
        SimCommand::Run { .. } => anyhow::bail!("give --scenario FILE or --seed N"),
        SimCommand::Fuzz {
            seeds,
            from,
            timings,
            fencing,
            defect,
        } => fuzz(seeds, from, (timings, fencing), defect.map(Into::into), out),
    }
}

fn run_scenario(
    path: &PathBuf,
    defect: Option<LeaseDefect>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut scenario =
        Scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    scenario.params.lease_defect = defect;
    let outcome = scenario.run();
    out.write_all(outcome.log.as_bytes())?;
    let passed = outcome.passed();
    writeln!(
        out,
        "{}: {}",
        path.display(),
        if passed { "passed" } else { "FAILED" }
    )?;
    Ok(passed)
}

fn run_one_seed(
    seed: u64,
    (timings, fencing): (FuzzTimings, bool),
    defect: Option<LeaseDefect>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (params, commands) = schedule_with(seed, timings, fencing);
    writeln!(out, "seed {seed}: {} hosts", params.hosts)?;
    for (at, command) in &commands {
        writeln!(out, "schedule {} {command}", crate::sim::fmt_time(*at))?;
    }
    let outcome = run_seed_with(seed, defect, timings, fencing);
    for line in &outcome.log {
        writeln!(out, "{line}")?;
    }
    if outcome.passed() {
        writeln!(out, "seed {seed}: passed")?;
    } else {
        writeln!(out, "{}", outcome.failure_line())?;
    }
    Ok(outcome.passed())
}

fn fuzz(
    seeds: u64,
    from: u64,
    (timings, fencing): (FuzzTimings, bool),
    defect: Option<LeaseDefect>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    anyhow::ensure!(
        (1..=FUZZ_SEEDS_MAX).contains(&seeds),
        "--seeds must be in 1..={FUZZ_SEEDS_MAX}"
    );
    let end = from
        .checked_add(seeds)
        .context("--from + --seeds overflows")?;
    let started = Instant::now();
    let mut failed = 0u64;
    let mut host_hours = 0f64;
    let hours = (FAULT_PHASE_MS + HEAL_BOUND_MS) as f64 / 3_600_000.0;
    for seed in from..end {
        let outcome = run_seed_with(seed, defect, timings, fencing);
        host_hours += f64::from(schedule_with(seed, timings, fencing).0.hosts) * hours;
        if !outcome.passed() {
            failed += 1;
            writeln!(out, "{}", outcome.failure_line())?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "fuzz: seeds {from}..{end}: {} passed, {failed} failed in {secs:.1} s ({:.0} simulated host-hours/s)",
        seeds - failed,
        host_hours / secs.max(1e-9)
    )?;
    Ok(failed == 0)
}
