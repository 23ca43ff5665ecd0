//! The host score (`docs/compat.md` section 4).
//!
//! `score = max(0, base - penalties)`, or 0 when the state forces it or when too
//! many starts failed recently. Every observation comes in as a plain value in
//! [`ScoreInputs`]; the shell gathers them, the state machine decides whether the
//! current state forces 0 and whether free memory counts. The result is a
//! [`ScoreBreakdown`] that says which penalty took how many points and why, so
//! the same value feeds the published score, the log and `--explain`.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::string::ToString;
use alloc::vec::Vec;

use core::fmt;

use super::time::Millis;
use crate::{ScoreConf, Timings};

/// A state that publishes score 0 whatever the host looks like
/// (`docs/compat.md` section 4, "States that force score 0").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForcedZero {
    StartState,
    // Spelled as the reference's state name, which operators see in logs.
    ReinitializeFSM,
    LocalMaintenance,
    EngineUnexpectedlyDown,
    AgentStopped,
}

impl ForcedZero {
    /// The reference's state name.
    pub fn as_str(self) -> &'static str {
        match self {
            ForcedZero::StartState => "StartState",
            ForcedZero::ReinitializeFSM => "ReinitializeFSM",
            ForcedZero::LocalMaintenance => "LocalMaintenance",
            ForcedZero::EngineUnexpectedlyDown => "EngineUnexpectedlyDown",
            ForcedZero::AgentStopped => "AgentStopped",
        }
    }
}

/// Why the score is 0 regardless of the penalties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZeroReason {
    /// The state machine's current state forces 0.
    Forced(ForcedZero),
    /// More than `start_retries_max` failed starts within `retry_window_ms`:
    /// give a less suited host its chance.
    TooManyFailedStarts,
}

impl fmt::Display for ZeroReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZeroReason::Forced(state) => write!(f, "forced by state {}", state.as_str()),
            ZeroReason::TooManyFailedStarts => f.write_str("too many failed starts"),
        }
    }
}

/// The penalties, in the order of the table in `docs/compat.md`
/// section 4, which is also the order of [`ScoreBreakdown::penalties`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PenaltyKind {
    NotUptodateConfig,
    Network,
    MgmtBridge,
    CpuLoad,
    FreeMemory,
    EngineRetry,
}

impl PenaltyKind {
    pub const ALL: [PenaltyKind; 6] = [
        PenaltyKind::NotUptodateConfig,
        PenaltyKind::Network,
        PenaltyKind::MgmtBridge,
        PenaltyKind::CpuLoad,
        PenaltyKind::FreeMemory,
        PenaltyKind::EngineRetry,
    ];

    /// Short name used in [`ScoreBreakdown::summary`].
    pub fn name(self) -> &'static str {
        match self {
            PenaltyKind::NotUptodateConfig => "config",
            PenaltyKind::Network => "network",
            PenaltyKind::MgmtBridge => "bridge",
            PenaltyKind::CpuLoad => "cpu",
            PenaltyKind::FreeMemory => "memory",
            PenaltyKind::EngineRetry => "retry",
        }
    }

    /// The `agent.conf` `[score]` key that sets the full penalty.
    pub fn conf_key(self) -> &'static str {
        match self {
            PenaltyKind::NotUptodateConfig => "not-uptodate-config-penalty",
            PenaltyKind::Network => "network-score-penalty",
            PenaltyKind::MgmtBridge => "mgmt-bridge-score-penalty",
            PenaltyKind::CpuLoad => "cpu-load-score-penalty",
            PenaltyKind::FreeMemory => "free-memory-score-penalty",
            PenaltyKind::EngineRetry => "engine-retry-score-penalty",
        }
    }
}

/// One entry of the breakdown.
///
/// Invariant: an entry has 0 points exactly when its observation is unknown (the
/// monitor has no result yet). Known observations that cost nothing get no entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Penalty {
    pub kind: PenaltyKind,
    pub points: u32,
    /// Why, in operator words ("gateway: 2 of 5 probes failed").
    pub detail: String,
}

impl Penalty {
    /// Whether this entry only reports an unknown observation.
    pub fn is_unknown(&self) -> bool {
        self.points == 0
    }
}

/// Everything the score depends on, gathered by the shell as plain values.
/// `None` means the monitor has no result yet: no penalty, but the breakdown
/// says "unknown" so operators see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreInputs<'a> {
    /// This host's monotonic time, for the retry window.
    pub now: Millis,
    /// The configuration was read from the shared storage.
    pub conf_on_shared_storage: bool,
    /// Gateway probes that succeeded, out of [`Timings::gateway_probe_count`].
    pub gateway_probes_ok: Option<u32>,
    pub bridge_up: Option<bool>,
    /// Time-weighted average CPU load, 0.0..=1.0, excluding the engine VM.
    pub cpu_load: Option<f64>,
    pub free_memory_mib: Option<u64>,
    /// The engine VM's memory size.
    pub engine_memory_mib: u64,
    /// False in EngineUp, EngineUpBadHealth and GlobalMaintenance, where the engine
    /// VM's own memory is not free (`docs/compat.md` section 4).
    pub free_memory_counts: bool,
    /// When start attempts failed, on this host's monotonic clock; only those
    /// within `retry_window_ms` of `now` count.
    pub failed_starts: &'a [Millis],
    /// Set by the state machine when its current state forces 0.
    pub forced_zero: Option<ForcedZero>,
}

/// The score and how it came about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreBreakdown {
    pub base: u32,
    /// In [`PenaltyKind`] order, at most one per kind.
    pub penalties: Vec<Penalty>,
    pub zero_reason: Option<ZeroReason>,
    pub score: u32,
}

/// Computes the score (`docs/compat.md` section 4).
///
/// The penalties are listed even when the score is forced to 0, so an operator
/// sees what the host would score once the state allows it.
pub fn compute(conf: &ScoreConf, timings: &Timings, inputs: &ScoreInputs<'_>) -> ScoreBreakdown {
    let recent_failed_starts =
        count_recent(inputs.failed_starts, inputs.now, timings.retry_window_ms);
    let penalties: Vec<Penalty> = [
        config_penalty(conf, inputs.conf_on_shared_storage),
        network_penalty(conf, timings.gateway_probe_count, inputs.gateway_probes_ok),
        bridge_penalty(conf, inputs.bridge_up),
        cpu_penalty(conf, inputs.cpu_load),
        memory_penalty(conf, inputs),
        retry_penalty(conf, timings, recent_failed_starts),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(
        penalties.windows(2).all(|w| w[0].kind < w[1].kind),
        "penalties must follow the section 4 order, one per kind"
    );

    let zero_reason = match inputs.forced_zero {
        Some(state) => Some(ZeroReason::Forced(state)),
        None if recent_failed_starts > timings.start_retries_max => {
            Some(ZeroReason::TooManyFailedStarts)
        }
        None => None,
    };
    let mut breakdown = ScoreBreakdown {
        base: conf.base_score,
        penalties,
        zero_reason,
        score: 0,
    };
    if zero_reason.is_none() {
        breakdown.score = conf.base_score.saturating_sub(breakdown.penalty_total());
    }
    breakdown
}

impl ScoreBreakdown {
    /// Sum of all penalty points (before clamping at 0).
    pub fn penalty_total(&self) -> u32 {
        self.penalties
            .iter()
            .fold(0u32, |sum, p| sum.saturating_add(p.points))
    }

    /// One line for logs and `--explain`:
    /// `3400 - network 320 - bridge 600 = 2480`, followed by why the score is 0 or
    /// which observations are unknown, in parentheses, when that applies.
    pub fn summary(&self) -> String {
        self.line(" = ")
    }

    /// [`Self::summary`] as the slot's `score-detail` value publishes it:
    /// `3400 - network 320 -> 3080`. Every extra line is one `key=value`
    /// with no `=` in the value: consumers split on it (the oVirt system
    /// tests do `dict(line.split('='))`).
    pub fn published(&self) -> String {
        self.line(" -> ")
    }

    fn line(&self, equals: &str) -> String {
        use core::fmt::Write as _;
        // Writing to a String cannot fail.
        let mut line = self.base.to_string();
        for p in self.penalties.iter().filter(|p| !p.is_unknown()) {
            let _ = write!(line, " - {} {}", p.kind.name(), p.points);
        }
        let _ = write!(line, "{equals}{}", self.score);

        let mut notes = Vec::new();
        if let Some(reason) = self.zero_reason {
            notes.push(reason.to_string());
        } else if self.penalty_total() > self.base {
            notes.push("clamped at 0".to_owned());
        }
        let unknown: Vec<&str> = self
            .penalties
            .iter()
            .filter(|p| p.is_unknown())
            .map(|p| p.kind.name())
            .collect();
        if !unknown.is_empty() {
            notes.push(format!("unknown: {}", unknown.join(", ")));
        }
        if !notes.is_empty() {
            line.push_str(&format!(" ({})", notes.join("; ")));
        }
        line
    }
}

impl fmt::Display for ScoreBreakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// An entry for a known observation, or none if it costs nothing (see the
/// invariant on [`Penalty`]). The detail is written only for an entry: the
/// score is computed on every loop, and mostly nothing applies.
fn applied(kind: PenaltyKind, points: u32, detail: impl FnOnce() -> String) -> Option<Penalty> {
    (points > 0).then(|| Penalty {
        kind,
        points,
        detail: detail(),
    })
}

/// The zero-point entry of an observation the monitor has not produced yet.
fn unknown(kind: PenaltyKind, what: &str) -> Option<Penalty> {
    Some(Penalty {
        kind,
        points: 0,
        detail: format!("{what}: unknown (no result yet)"),
    })
}

fn config_penalty(conf: &ScoreConf, on_shared_storage: bool) -> Option<Penalty> {
    if on_shared_storage {
        return None;
    }
    applied(
        PenaltyKind::NotUptodateConfig,
        conf.not_uptodate_config_penalty,
        || "configuration is not on shared storage".to_owned(),
    )
}

/// `(1 - ok/total) * penalty` in integers: `penalty * failed / total`, exact where
/// the reference's float arithmetic is (320 per failed probe of 5 with 1600).
fn network_penalty(conf: &ScoreConf, probe_count: u32, ok: Option<u32>) -> Option<Penalty> {
    let kind = PenaltyKind::Network;
    let Some(ok) = ok else {
        return unknown(kind, "gateway");
    };
    if probe_count == 0 {
        // Configuration validation requires at least one probe; without any
        // there is nothing to judge, which is not the gateway's fault.
        return unknown(kind, "gateway (no probes configured)");
    }
    // A monitor cannot report more successes than probes; clamp rather than
    // let a bad count turn into a bonus.
    let failed = probe_count - ok.min(probe_count);
    let points = u64::from(conf.network_score_penalty) * u64::from(failed) / u64::from(probe_count);
    let points = u32::try_from(points).expect("at most network-score-penalty");
    applied(kind, points, || {
        format!("gateway: {failed} of {probe_count} probes failed")
    })
}

fn bridge_penalty(conf: &ScoreConf, bridge_up: Option<bool>) -> Option<Penalty> {
    match bridge_up {
        None => unknown(PenaltyKind::MgmtBridge, "management bridge"),
        Some(true) => None,
        Some(false) => applied(
            PenaltyKind::MgmtBridge,
            conf.mgmt_bridge_score_penalty,
            || "management bridge is down".to_owned(),
        ),
    }
}

fn cpu_penalty(conf: &ScoreConf, load: Option<f64>) -> Option<Penalty> {
    let Some(reported) = load else {
        return unknown(PenaltyKind::CpuLoad, "cpu load");
    };
    let load = clamp_load(reported);
    let (min, max) = (conf.cpu_load_penalty_min, conf.cpu_load_penalty_max);
    applied(PenaltyKind::CpuLoad, cpu_points(conf, load), || {
        let mut detail = format!("cpu load {load:.2} (penalty from {min:.2} to {max:.2})");
        if load.to_bits() != reported.to_bits() {
            detail.push_str(&format!("; reported {reported} read as {load:.2}"));
        }
        detail
    })
}

/// A load outside 0..=1 is a monitor fault; NaN reads as idle so a broken
/// monitor cannot push the engine off an otherwise good host.
fn clamp_load(load: f64) -> f64 {
    if load.is_nan() {
        0.0
    } else {
        load.clamp(0.0, 1.0)
    }
}

/// 0 at load <= min, full at >= max, linear between, rounded down, computed in
/// the reference's order (fraction first) so results match it point for point.
fn cpu_points(conf: &ScoreConf, load: f64) -> u32 {
    let (min, max) = (conf.cpu_load_penalty_min, conf.cpu_load_penalty_max);
    let full = conf.cpu_load_score_penalty;
    if load <= min {
        return 0;
    }
    if load >= max {
        return full;
    }
    let fraction = (load - min) / (max - min);
    // The product is not negative here, so the float-to-int `as`, which
    // truncates towards zero, rounds down (`floor` is std's, not core's); it
    // also saturates and maps NaN to 0, and min() keeps it <= full.
    ((fraction * f64::from(full)) as u32).min(full)
}

fn memory_penalty(conf: &ScoreConf, inputs: &ScoreInputs<'_>) -> Option<Penalty> {
    if !inputs.free_memory_counts {
        return None;
    }
    let Some(free_mib) = inputs.free_memory_mib else {
        return unknown(PenaltyKind::FreeMemory, "free memory");
    };
    if free_mib >= inputs.engine_memory_mib {
        return None;
    }
    applied(
        PenaltyKind::FreeMemory,
        conf.free_memory_score_penalty,
        || {
            format!(
                "free memory {free_mib} MiB is below the engine VM's {} MiB",
                inputs.engine_memory_mib
            )
        },
    )
}

/// Failed starts at most `window_ms` before `now` on the monotonic clock.
/// **Fix** (`docs/compat.md` section 4): the reference compared a
/// monotonic time with wall time, so its window never applied. A time after
/// `now` (cannot happen on one monotonic clock) counts as just now.
fn count_recent(failed_starts: &[Millis], now: Millis, window_ms: u64) -> u32 {
    let recent = failed_starts
        .iter()
        .filter(|&&t| now.since(t) <= window_ms)
        .count();
    u32::try_from(recent).unwrap_or(u32::MAX)
}

/// `count * engine-retry-score-penalty`; above `start_retries_max` the score
/// becomes 0 instead (see [`compute`]), and the entry says so.
fn retry_penalty(conf: &ScoreConf, timings: &Timings, count: u32) -> Option<Penalty> {
    let points = conf.engine_retry_score_penalty.saturating_mul(count);
    applied(PenaltyKind::EngineRetry, points, || {
        let window = secs_text(timings.retry_window_ms);
        let mut detail = format!("{count} failed starts in the last {window}");
        if count > timings.start_retries_max {
            detail.push_str(&format!(
                ", more than {}: score 0",
                timings.start_retries_max
            ));
        }
        detail
    })
}

/// `600s`, or `0.500s` when the duration is not whole seconds.
fn secs_text(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        Millis(ms).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{string::ToString, vec::Vec};

    const NOW: Millis = Millis(10_000_000);

    /// A healthy host: every monitor known and good, nothing failed.
    fn healthy() -> ScoreInputs<'static> {
        ScoreInputs {
            now: NOW,
            conf_on_shared_storage: true,
            gateway_probes_ok: Some(5),
            bridge_up: Some(true),
            cpu_load: Some(0.1),
            free_memory_mib: Some(16_384),
            engine_memory_mib: 4096,
            free_memory_counts: true,
            failed_starts: &[],
            forced_zero: None,
        }
    }

    fn run(inputs: &ScoreInputs<'_>) -> ScoreBreakdown {
        compute(&ScoreConf::default(), &Timings::reference(), inputs)
    }

    fn points_of(b: &ScoreBreakdown, kind: PenaltyKind) -> Option<u32> {
        b.penalties
            .iter()
            .find(|p| p.kind == kind)
            .map(|p| p.points)
    }

    #[test]
    fn healthy_host_scores_base() {
        let b = run(&healthy());
        assert_eq!(b.score, 3400);
        assert!(b.penalties.is_empty(), "{b:?}");
        assert_eq!(b.zero_reason, None);
        assert_eq!(b.summary(), "3400 = 3400");
        assert_eq!(b.published(), "3400 -> 3400");
    }

    #[test]
    fn config_and_bridge_take_their_full_penalty() {
        #[rustfmt::skip]
        let cases = [(true, Some(true), 3400), (false, Some(true), 2400),
                     (true, Some(false), 2800), (false, Some(false), 1800)];
        for (on_shared, bridge_up, score) in cases {
            let b = run(&ScoreInputs {
                conf_on_shared_storage: on_shared,
                bridge_up,
                ..healthy()
            });
            assert_eq!(b.score, score, "{}", b.summary());
        }
        let b = run(&ScoreInputs {
            conf_on_shared_storage: false,
            bridge_up: Some(false),
            ..healthy()
        });
        let details: Vec<&str> = b.penalties.iter().map(|p| p.detail.as_str()).collect();
        let expected = [
            "configuration is not on shared storage",
            "management bridge is down",
        ];
        assert_eq!(details, expected);
    }

    #[test]
    fn network_penalty_per_failed_probe() {
        // 320 per failed probe of 5 with 1600 (reference section 4).
        // (probes ok, points); 9 of 5 ok is clamped: no bonus.
        let cases = [
            (5, 0),
            (4, 320),
            (3, 640),
            (2, 960),
            (1, 1280),
            (0, 1600),
            (9, 0),
        ];
        for (ok, points) in cases {
            let b = run(&ScoreInputs {
                gateway_probes_ok: Some(ok),
                ..healthy()
            });
            let got = points_of(&b, PenaltyKind::Network).unwrap_or(0);
            assert_eq!(got, points, "ok={ok}");
            assert_eq!(b.score, 3400 - points, "ok={ok}");
        }
        let b = run(&ScoreInputs {
            gateway_probes_ok: Some(3),
            ..healthy()
        });
        assert_eq!(b.penalties[0].detail, "gateway: 2 of 5 probes failed");
    }

    #[test]
    fn network_penalty_rounds_down_with_other_probe_counts() {
        let timings = Timings {
            gateway_probe_count: 3,
            ..Timings::reference()
        };
        let cases = [(3, 0), (2, 533), (1, 1066), (0, 1600)];
        for (ok, points) in cases {
            let inputs = ScoreInputs {
                gateway_probes_ok: Some(ok),
                ..healthy()
            };
            let b = compute(&ScoreConf::default(), &timings, &inputs);
            assert_eq!(b.score, 3400 - points, "ok={ok}");
        }
        let no_probes = Timings {
            gateway_probe_count: 0,
            ..Timings::reference()
        };
        let b = compute(&ScoreConf::default(), &no_probes, &healthy());
        assert_eq!(b.score, 3400);
        assert!(b.penalties[0].is_unknown());
    }

    #[test]
    fn cpu_load_linear_between_min_and_max() {
        // (load, points); 0.41 gives 19.99..., rounded down as the reference does.
        #[rustfmt::skip]
        let cases = [
            (0.0, 0), (0.4, 0) /* exactly at min */, (0.41, 19), (0.65, 500) /* midway */,
            (0.8, 800), (0.9, 1000) /* exactly at max */, (1.0, 1000),
            (f64::NAN, 0), (-3.0, 0), (7.5, 1000), (f64::INFINITY, 1000),
        ];
        for (load, points) in cases {
            let b = run(&ScoreInputs {
                cpu_load: Some(load),
                ..healthy()
            });
            let got = points_of(&b, PenaltyKind::CpuLoad).unwrap_or(0);
            assert_eq!(got, points, "load {load}");
            assert_eq!(b.score, 3400 - points, "load {load}");
        }
        let b = run(&ScoreInputs {
            cpu_load: Some(0.65),
            ..healthy()
        });
        assert_eq!(
            b.penalties[0].detail,
            "cpu load 0.65 (penalty from 0.40 to 0.90)"
        );
        let b = run(&ScoreInputs {
            cpu_load: Some(7.5),
            ..healthy()
        });
        assert_eq!(
            b.penalties[0].detail,
            "cpu load 1.00 (penalty from 0.40 to 0.90); reported 7.5 read as 1.00"
        );
    }

    #[test]
    fn cpu_load_with_degenerate_range_is_a_step() {
        // Validation rejects min >= max; the core still must not divide by zero.
        let conf = ScoreConf {
            cpu_load_penalty_min: 0.5,
            cpu_load_penalty_max: 0.5,
            ..ScoreConf::default()
        };
        for (load, score) in [(0.5, 3400), (0.51, 2400), (0.2, 3400)] {
            let inputs = ScoreInputs {
                cpu_load: Some(load),
                ..healthy()
            };
            let b = compute(&conf, &Timings::reference(), &inputs);
            assert_eq!(b.score, score, "load {load}");
        }
    }

    #[test]
    fn free_memory_below_engine_size() {
        let cases = [
            // (free, counts, points)
            (Some(8192), true, None),
            (Some(4096), true, None), // equal is enough
            (Some(4095), true, Some(400)),
            (Some(0), true, Some(400)),
            (Some(0), false, None), // EngineUp, EngineUpBadHealth, GlobalMaintenance
            (None, true, Some(0)),  // unknown: listed, no points
            (None, false, None),
        ];
        for (free, counts, points) in cases {
            let b = run(&ScoreInputs {
                free_memory_mib: free,
                free_memory_counts: counts,
                ..healthy()
            });
            let label = format!("free {free:?} counts {counts}");
            assert_eq!(points_of(&b, PenaltyKind::FreeMemory), points, "{label}");
            assert_eq!(b.score, 3400 - points.unwrap_or(0), "{label}");
        }
    }

    #[test]
    fn retries_inside_and_outside_the_window() {
        let window = Timings::reference().retry_window_ms;
        let inside = NOW - window; // exactly at the edge: still counts
        let outside = NOW - (window + 1);
        let many = Some(ZeroReason::TooManyFailedStarts);
        #[rustfmt::skip]
        let cases: [(&[Millis], u32, Option<ZeroReason>); 9] = [
            (&[], 3400, None),
            (&[inside], 3350, None),
            (&[inside, NOW, NOW - 1], 3250, None),
            (&[inside, NOW, NOW - 1, NOW - 2], 0, many),
            (&[outside], 3400, None),
            (&[outside, outside, outside, outside], 3400, None),
            (&[outside, NOW, NOW, NOW], 3250, None),
            (&[outside, outside, NOW, NOW, NOW, NOW], 0, many),
            (&[NOW + 5], 3350, None), // later than now: counts as now
        ];
        for (starts, score, zero) in cases {
            let b = run(&ScoreInputs {
                failed_starts: starts,
                ..healthy()
            });
            assert_eq!(b.score, score, "{starts:?}: {}", b.summary());
            assert_eq!(b.zero_reason, zero, "{starts:?}");
        }
    }

    #[test]
    fn too_many_failed_starts_is_explained() {
        let starts = [NOW; 4];
        let b = run(&ScoreInputs {
            failed_starts: &starts,
            ..healthy()
        });
        let retry = &b.penalties[0];
        assert_eq!(retry.kind, PenaltyKind::EngineRetry);
        assert_eq!(retry.points, 200);
        assert_eq!(
            retry.detail,
            "4 failed starts in the last 600s, more than 3: score 0"
        );
        assert_eq!(b.summary(), "3400 - retry 200 = 0 (too many failed starts)");
    }

    #[test]
    fn forced_zero_keeps_the_penalties_visible() {
        let states = [
            ForcedZero::StartState,
            ForcedZero::ReinitializeFSM,
            ForcedZero::LocalMaintenance,
            ForcedZero::EngineUnexpectedlyDown,
            ForcedZero::AgentStopped,
        ];
        for state in states {
            let b = run(&ScoreInputs {
                forced_zero: Some(state),
                bridge_up: Some(false),
                ..healthy()
            });
            assert_eq!(b.score, 0);
            assert_eq!(b.zero_reason, Some(ZeroReason::Forced(state)));
            assert_eq!(points_of(&b, PenaltyKind::MgmtBridge), Some(600));
            let expected = format!("3400 - bridge 600 = 0 (forced by state {})", state.as_str());
            assert_eq!(b.summary(), expected);
        }
        // A forced state wins over the retry rule as the reason given.
        let starts = [NOW; 5];
        let b = run(&ScoreInputs {
            forced_zero: Some(ForcedZero::LocalMaintenance),
            failed_starts: &starts,
            ..healthy()
        });
        let reason = Some(ZeroReason::Forced(ForcedZero::LocalMaintenance));
        assert_eq!(b.zero_reason, reason);
    }

    #[test]
    fn combinations_clamp_at_zero_in_table_order() {
        let starts = [NOW, NOW];
        let b = run(&ScoreInputs {
            now: NOW,
            conf_on_shared_storage: false,
            gateway_probes_ok: Some(0),
            bridge_up: Some(false),
            cpu_load: Some(0.95),
            free_memory_mib: Some(100),
            engine_memory_mib: 4096,
            free_memory_counts: true,
            failed_starts: &starts,
            forced_zero: None,
        });
        let kinds: Vec<PenaltyKind> = b.penalties.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, PenaltyKind::ALL);
        assert_eq!(b.penalty_total(), 1000 + 1600 + 600 + 1000 + 400 + 100);
        assert_eq!(b.score, 0);
        assert_eq!(b.zero_reason, None);
        assert_eq!(
            b.summary(),
            "3400 - config 1000 - network 1600 - bridge 600 - cpu 1000 - memory 400 \
             - retry 100 = 0 (clamped at 0)"
        );

        let b = run(&ScoreInputs {
            gateway_probes_ok: Some(4),
            bridge_up: Some(false),
            ..healthy()
        });
        assert_eq!(b.summary(), "3400 - network 320 - bridge 600 = 2480");
        assert_eq!(b.to_string(), b.summary());
    }

    #[test]
    fn unknown_monitors_cost_nothing_but_show() {
        let b = run(&ScoreInputs {
            gateway_probes_ok: None,
            bridge_up: None,
            cpu_load: None,
            free_memory_mib: None,
            ..healthy()
        });
        assert_eq!(b.score, 3400);
        let rows: Vec<(PenaltyKind, u32, &str)> = b
            .penalties
            .iter()
            .map(|p| (p.kind, p.points, p.detail.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (PenaltyKind::Network, 0, "gateway: unknown (no result yet)"),
                (
                    PenaltyKind::MgmtBridge,
                    0,
                    "management bridge: unknown (no result yet)"
                ),
                (PenaltyKind::CpuLoad, 0, "cpu load: unknown (no result yet)"),
                (
                    PenaltyKind::FreeMemory,
                    0,
                    "free memory: unknown (no result yet)"
                ),
            ]
        );
        assert_eq!(
            b.summary(),
            "3400 = 3400 (unknown: network, bridge, cpu, memory)"
        );
    }

    #[test]
    fn zero_configured_penalty_adds_no_entry() {
        let conf = ScoreConf {
            mgmt_bridge_score_penalty: 0,
            ..ScoreConf::default()
        };
        let inputs = ScoreInputs {
            bridge_up: Some(false),
            ..healthy()
        };
        let b = compute(&conf, &Timings::reference(), &inputs);
        assert!(b.penalties.is_empty(), "{b:?}");
        assert_eq!(b.score, 3400);
    }

    #[test]
    fn kinds_name_their_conf_keys() {
        let keys = ScoreConf::keys();
        for kind in PenaltyKind::ALL {
            assert!(keys.contains(&kind.conf_key()), "{}", kind.conf_key());
        }
    }
}
