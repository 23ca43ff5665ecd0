//! `agent.conf`: the score penalties (`[score]`, `docs/compat.md` section 4),
//! and ours: every timer of the state machine and the lease (`[timing]`,
//! `docs/architecture.md`, "The engine VM lease"), the engine recovery command
//! (`[recovery]`) and the metrics (`[metrics]`). The core owns the score's and
//! the timers' types and rules ([`ScoreConf`], [`Timings`]); this module reads
//! the file into them.
//!
//! Durations are written in seconds (`0.5` allowed, millisecond precision) and held
//! in milliseconds, the unit of the core's monotonic time.

use super::ConfFile;
use super::document::{KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors};
use super::values::{
    DURATION_MAX_MS, Fields, Violation, errors_from, format_secs, parse_number, parse_secs_ms,
    parse_u32_in, violation_error,
};
use crate::core::PenaltyKind;
pub use crate::core::score_conf::{BASE_SCORE_MAX, ScoreConf};
use crate::core::timings::{COUNTS, TIMERS};
pub use crate::core::timings::{TIMING_COUNT_MAX, Timings};

/// Section of the score penalties.
pub const SCORE_SECTION: &str = "score";
/// Section of the timers (ours).
pub const TIMING_SECTION: &str = "timing";
/// Section of the engine recovery command (ours).
pub const RECOVERY_SECTION: &str = "recovery";
/// Section of the Prometheus metrics (ours).
pub const METRICS_SECTION: &str = "metrics";

/// Most words in the recovery command.
pub const RECOVERY_ARGS_MAX: usize = 64;
/// `[score]` into the core's [`ScoreConf`], defaults for what is not set.
fn read_score(f: &mut Fields<'_>) -> ScoreConf {
    let mut score = ScoreConf::default();
    let s = SCORE_SECTION;
    let parse_score = |raw: &str| parse_u32_in(raw, 0, BASE_SCORE_MAX);
    // Any whole number parses; `violations` names the allowed range and why.
    let parse_base = |raw: &str| parse_u32_in(raw, 0, u32::MAX);
    score.base_score = f.or(s, "base-score", score.base_score, parse_base);
    for kind in PenaltyKind::ALL {
        let value = f.or(s, kind.conf_key(), score.penalty(kind), parse_score);
        score.set_penalty(kind, value);
    }
    score.cpu_load_penalty_min = f.or(
        s,
        "cpu-load-penalty-min",
        score.cpu_load_penalty_min,
        parse_number,
    );
    score.cpu_load_penalty_max = f.or(
        s,
        "cpu-load-penalty-max",
        score.cpu_load_penalty_max,
        parse_number,
    );
    score
}

/// `[timing]` into the core's [`Timings`], defaults for what is not set.
fn read_timings(f: &mut Fields<'_>) -> Timings {
    let mut timings = Timings::default();
    for spec in TIMERS {
        let value = f.or(
            TIMING_SECTION,
            spec.key,
            (spec.get)(&timings),
            parse_secs_ms,
        );
        (spec.set)(&mut timings, value);
    }
    for spec in COUNTS {
        let parse = |raw: &str| parse_u32_in(raw, spec.min, TIMING_COUNT_MAX);
        let value = f.or(TIMING_SECTION, spec.key, (spec.get)(&timings), parse);
        (spec.set)(&mut timings, value);
    }
    timings
}

/// `[recovery]` (ours): a command that restarts only the engine service when the
/// engine is unhealthy while its VM runs, tried before restarting the whole VM
/// (`docs/architecture.md`, "Deliberate improvements", 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConf {
    /// `command`: run on this host, split on whitespace into argv, no shell (for
    /// quoting or pipes, point it at a script). `None`: no recovery step.
    pub command: Option<Vec<String>>,
    /// `timeout-secs` (default 120): the command is killed after this long.
    pub timeout_ms: u64,
}

impl Default for RecoveryConf {
    fn default() -> Self {
        RecoveryConf {
            command: None,
            timeout_ms: 120_000,
        }
    }
}

impl RecoveryConf {
    /// Every key of `[recovery]`.
    pub fn keys() -> Vec<&'static str> {
        vec!["command", "timeout-secs"]
    }

    fn read(f: &mut Fields<'_>) -> Self {
        let defaults = RecoveryConf::default();
        RecoveryConf {
            command: f.value(RECOVERY_SECTION, "command", parse_argv),
            timeout_ms: f.or(
                RECOVERY_SECTION,
                "timeout-secs",
                defaults.timeout_ms,
                parse_secs_ms,
            ),
        }
    }

    /// Every broken rule.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        if self.timeout_ms == 0 || self.timeout_ms > DURATION_MAX_MS {
            let message = format!(
                "timeout-secs ({}) must be greater than 0",
                format_secs(self.timeout_ms)
            );
            found.push(Violation::new(&["timeout-secs"], message));
        }
        if let Some(argv) = &self.command
            && (argv.is_empty() || argv.len() > RECOVERY_ARGS_MAX)
        {
            let message = format!("command must have 1..={RECOVERY_ARGS_MAX} words");
            found.push(Violation::new(&["command"], message));
        }
        found
    }
}

fn parse_argv(raw: &str) -> Result<Vec<String>, String> {
    let argv: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
    if argv.len() > RECOVERY_ARGS_MAX {
        return Err(format!("command has more than {RECOVERY_ARGS_MAX} words"));
    }
    Ok(argv)
}

/// `[metrics]` (ours): Prometheus metrics the ecosystem's way, without a
/// port of our own: a file for node_exporter's textfile collector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConf {
    /// `textfile`: where to write the metrics every loop (atomically), an
    /// absolute path ending in `.prom` in node_exporter's
    /// `--collector.textfile.directory`. `None` (the default): no metrics.
    pub textfile: Option<std::path::PathBuf>,
}

impl MetricsConf {
    /// Every key of `[metrics]`.
    pub fn keys() -> Vec<&'static str> {
        vec!["textfile"]
    }

    fn read(f: &mut Fields<'_>) -> Self {
        MetricsConf {
            textfile: f.value(METRICS_SECTION, "textfile", |raw| {
                let path = std::path::PathBuf::from(raw);
                if !path.is_absolute() || path.extension().is_none_or(|e| e != "prom") {
                    return Err(format!(
                        "{raw:?} is not an absolute path ending in .prom (node_exporter's \
                         textfile collector reads only those)"
                    ));
                }
                Ok(path)
            }),
        }
    }
}

/// The parsed `agent.conf`. Fields are a read-only view of the document; change
/// the file through [`ConfFile::edit`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConf {
    /// `[score]`.
    pub score: ScoreConf,
    /// `[timing]`.
    pub timings: Timings,
    /// `[recovery]`.
    pub recovery: RecoveryConf,
    /// `[metrics]`.
    pub metrics: MetricsConf,
    doc: KvDocument,
}

impl ConfFile for AgentConf {
    const SYNTAX: Syntax = Syntax::Ini;
    // Every key has a default, so a host without the file runs with the defaults.
    const REQUIRED: bool = false;

    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors> {
        let mut f = Fields::new(&doc);
        let score = read_score(&mut f);
        let timings = read_timings(&mut f);
        let recovery = RecoveryConf::read(&mut f);
        let metrics = MetricsConf::read(&mut f);
        f.finish()?;
        let conf = AgentConf {
            score,
            timings,
            recovery,
            metrics,
            doc,
        };
        conf.validate()?;
        Ok(conf)
    }

    fn document(&self) -> &KvDocument {
        &self.doc
    }

    fn known_keys() -> Vec<(&'static str, &'static str)> {
        let score = ScoreConf::keys().into_iter().map(|k| (SCORE_SECTION, k));
        let timing = Timings::keys().into_iter().map(|k| (TIMING_SECTION, k));
        let recovery = RecoveryConf::keys()
            .into_iter()
            .map(|k| (RECOVERY_SECTION, k));
        let metrics = MetricsConf::keys()
            .into_iter()
            .map(|k| (METRICS_SECTION, k));
        score.chain(timing).chain(recovery).chain(metrics).collect()
    }

    fn validate(&self) -> Result<(), ConfigErrors> {
        let sections = [
            (SCORE_SECTION, self.score.violations()),
            (TIMING_SECTION, self.timings.violations()),
            (RECOVERY_SECTION, self.recovery.violations()),
        ];
        let errors: Vec<ConfigError> = sections
            .into_iter()
            .flat_map(|(section, found)| {
                found
                    .into_iter()
                    .map(move |v| violation_error(v, &self.doc, section))
            })
            .collect();
        errors_from(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_rules() {
        assert_eq!(Timings::default().violations(), vec![]);
        assert_eq!(Timings::reference().violations(), vec![]);
        assert_eq!(ScoreConf::default().violations(), vec![]);
        assert_eq!(RecoveryConf::default().violations(), vec![]);
    }

    #[test]
    fn base_score_fits_the_record() {
        // The record encoder refuses a score above SCORE_MAX, so a base score above
        // it would make every write of a perfect host fail.
        let max = crate::metadata::SCORE_MAX;
        let at_max = ScoreConf {
            base_score: max,
            ..ScoreConf::default()
        };
        assert_eq!(at_max.violations(), vec![]);
        for base_score in [0, max + 1, 100_000] {
            let found = ScoreConf {
                base_score,
                ..ScoreConf::default()
            }
            .violations();
            assert!(
                found.iter().any(|v| v.keys == ["base-score"]),
                "{base_score}: {found:?}"
            );
        }
    }

    #[test]
    fn lease_inequality_is_strict() {
        let mut timings = Timings {
            lease_dead_ms: 55_000,
            ..Timings::reference()
        };
        let found = timings.violations();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].keys[0], "lease-dead-secs");
        assert_eq!(
            found[0].message,
            "lease-dead-secs (55) must exceed lease-fail-secs + poweroff-timeout-secs + loop-secs + \
             lease-margin-secs (30 + 10 + 10 + 5 = 55)"
        );
        timings.lease_dead_ms = 55_001;
        assert_eq!(timings.violations(), vec![]);
    }

    #[test]
    fn settle_and_fail_bounds() {
        let timings = Timings {
            lease_settle_ms: 14_999,
            lease_fail_ms: 15_000,
            lease_dead_ms: 120_000,
            ..Timings::reference()
        };
        let keys: Vec<_> = timings
            .violations()
            .into_iter()
            .map(|v| v.keys[0])
            .collect();
        assert_eq!(keys, vec!["lease-fail-secs", "lease-settle-secs"]);
    }

    /// The figures `impl Default for Timings` argues with.
    #[test]
    fn defaults_meet_the_recovery_targets_and_tolerate_a_storage_stall() {
        let t = Timings::default();
        // The inequality holds, by a second beyond the margin.
        let fenced = t.lease_fail_ms + t.poweroff_timeout_ms + t.loop_ms + t.lease_margin_ms;
        assert_eq!((t.lease_dead_ms, fenced), (40_000, 39_000));
        // A host crash: the last renewal read up to a loop late, lease-dead,
        // a loop to see it free and claim, settle, a loop to win and start, a
        // loop for a fresh health reading, a loop for the others to read it;
        // within 60 s + boot (the lab's bench-failover bound for case 6).
        let host_crash = t.lease_dead_ms + t.lease_settle_ms + 5 * t.loop_ms;
        assert_eq!(host_crash, 58_000);
        // An engine VM crash: seen and restarted within a loop, healthy and
        // published within two more; within 10 s + boot.
        assert!(3 * t.loop_ms <= 10_000);
        // A storage stall a healthy holder survives wherever it starts in the
        // loop: the reference's 15 s.
        let stall = |t: &Timings| t.lease_fail_ms - t.loop_ms - t.storage_timeout_ms;
        assert_eq!(stall(&t), 15_000);
        assert_eq!(stall(&t), stall(&Timings::reference()));
        // Bad health is tolerated for as many loops as in the reference.
        let r = Timings::reference();
        assert_eq!(
            t.bad_health_timeout_ms / t.loop_ms,
            r.bad_health_timeout_ms / r.loop_ms
        );
    }

    #[test]
    fn the_watchdog_range_follows_the_lease_rules() {
        assert_eq!(Timings::default().watchdog_range_ms(), (12_000, 16_000));
        assert_eq!(Timings::reference().watchdog_range_ms(), (20_000, 35_000));
        // A quick power-off lets lease-dead shrink, but not the storage
        // timeout: no safe watchdog is then slow-storage proof.
        let timings = Timings {
            poweroff_timeout_ms: 1_000,
            lease_settle_ms: 7_000,
            lease_dead_ms: 33_000,
            ..Timings::default()
        };
        let found = timings.violations();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].keys[0], "lease-dead-secs");
        assert!(
            found[0].message.contains("(33 + 7 - 22 - 5 - 5 = 8)")
                && found[0].message.contains("(2 + 2 x 5 = 12)"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_renewal_just_before_lease_fail_must_land_before_lease_dead() {
        let mut timings = Timings {
            poweroff_timeout_ms: 1_000,
            lease_settle_ms: 15_000,
            lease_dead_ms: 31_000,
            ..Timings::default()
        };
        let found = timings.violations();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].message,
            "lease-dead-secs (31) must be at least lease-fail-secs + 2 x storage-timeout-secs \
             (22 + 2 x 5 = 32), so that a renewal written just before lease-fail lands before \
             any other host may expire the lease"
        );
        timings.lease_dead_ms = 32_000;
        assert_eq!(timings.violations(), vec![]);
    }

    #[test]
    fn a_watchdog_timeout_outside_the_range_names_the_bound_and_its_keys() {
        let t = Timings::default();
        assert_eq!(t.watchdog_timeout_problem(12_000), None);
        assert_eq!(t.watchdog_timeout_problem(16_000), None);
        let long = t.watchdog_timeout_problem(60_000).unwrap();
        assert!(
            long.starts_with(
                "is longer than the lease allows (at most 16 s = lease-dead-secs 40 + \
                 lease-settle-secs 8 - lease-fail-secs 22 - storage-timeout-secs 5 - \
                 lease-margin-secs 5)"
            ),
            "{long}"
        );
        let short = t.watchdog_timeout_problem(11_999).unwrap();
        assert!(
            short.starts_with(
                "is shorter than a slow storage allows (at least 12 s = loop-secs 2 + 2 x \
                 storage-timeout-secs 5)"
            ),
            "{short}"
        );
        let r = Timings::reference();
        assert_eq!(r.watchdog_timeout_problem(30_000), None);
        assert!(r.watchdog_timeout_problem(36_000).is_some());
    }

    #[test]
    fn zero_timer_is_named_and_skips_relations() {
        let timings = Timings {
            loop_ms: 0,
            ..Timings::default()
        };
        let found = timings.violations();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].keys, vec!["loop-secs"]);
    }

    #[test]
    fn every_timer_key_has_a_distinct_field() {
        let mut timings = Timings::default();
        for (i, spec) in TIMERS.iter().enumerate() {
            (spec.set)(&mut timings, 1_000_000 + i as u64);
        }
        for (i, spec) in TIMERS.iter().enumerate() {
            assert_eq!((spec.get)(&timings), 1_000_000 + i as u64, "{}", spec.key);
        }
    }
}
