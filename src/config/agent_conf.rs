//! `agent.conf`: the score penalties (`[score]`, `reference/ovirt-compat.md`
//! section 4), and ours: every timer of the state machine and the lease
//! (`[timing]`, DESIGN.md "The engine VM lease") and the engine recovery command
//! (`[recovery]`).
//!
//! Durations are written in seconds (`0.5` allowed, millisecond precision) and held
//! in milliseconds, the unit of the core's monotonic time.

use super::ConfFile;
use super::document::{KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors};
use super::values::{
    DURATION_MAX_MS, Fields, Violation, errors_from, format_secs, parse_number, parse_secs_ms,
    parse_u32_in,
};

/// Section of the score penalties.
pub const SCORE_SECTION: &str = "score";
/// Section of the timers (ours).
pub const TIMING_SECTION: &str = "timing";
/// Section of the engine recovery command (ours).
pub const RECOVERY_SECTION: &str = "recovery";
/// Section of the Prometheus metrics (ours).
pub const METRICS_SECTION: &str = "metrics";

/// Largest `base-score`: the best score a host record can carry
/// ([`crate::metadata::SCORE_MAX`]); the record encoder refuses anything above it.
pub const BASE_SCORE_MAX: u32 = crate::metadata::SCORE_MAX;
/// Largest value of any count in `[timing]` (retries, probes, restarts).
pub const TIMING_COUNT_MAX: u32 = 100;
/// Most words in the recovery command.
pub const RECOVERY_ARGS_MAX: usize = 64;

/// `[score]`: penalties subtracted from `base-score` (`reference/ovirt-compat.md`
/// section 4). Must be equal on all hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreConf {
    /// Ours: the score of a perfect host (`base-score`), 3400 in the reference.
    pub base_score: u32,
    /// Configuration not on shared storage.
    pub not_uptodate_config_penalty: u32,
    /// Full penalty when every gateway probe fails.
    pub network_score_penalty: u32,
    /// Management bridge down.
    pub mgmt_bridge_score_penalty: u32,
    /// Full penalty at CPU load >= `cpu_load_penalty_max`.
    pub cpu_load_score_penalty: u32,
    /// Load (0..1) below which the CPU penalty is 0.
    pub cpu_load_penalty_min: f64,
    /// Load (0..1) from which the CPU penalty is full.
    pub cpu_load_penalty_max: f64,
    /// Free memory below the engine VM's size.
    pub free_memory_score_penalty: u32,
    /// Per failed start attempt.
    pub engine_retry_score_penalty: u32,
}

impl Default for ScoreConf {
    fn default() -> Self {
        ScoreConf {
            base_score: 3400,
            not_uptodate_config_penalty: 1000,
            network_score_penalty: 1600,
            mgmt_bridge_score_penalty: 600,
            cpu_load_score_penalty: 1000,
            cpu_load_penalty_min: 0.4,
            cpu_load_penalty_max: 0.9,
            free_memory_score_penalty: 400,
            engine_retry_score_penalty: 50,
        }
    }
}

/// A penalty key and its field.
struct PenaltySpec {
    key: &'static str,
    get: fn(&ScoreConf) -> u32,
    set: fn(&mut ScoreConf, u32),
}

const PENALTIES: &[PenaltySpec] = &[
    PenaltySpec {
        key: "not-uptodate-config-penalty",
        get: |s| s.not_uptodate_config_penalty,
        set: |s, v| s.not_uptodate_config_penalty = v,
    },
    PenaltySpec {
        key: "network-score-penalty",
        get: |s| s.network_score_penalty,
        set: |s, v| s.network_score_penalty = v,
    },
    PenaltySpec {
        key: "mgmt-bridge-score-penalty",
        get: |s| s.mgmt_bridge_score_penalty,
        set: |s, v| s.mgmt_bridge_score_penalty = v,
    },
    PenaltySpec {
        key: "cpu-load-score-penalty",
        get: |s| s.cpu_load_score_penalty,
        set: |s, v| s.cpu_load_score_penalty = v,
    },
    PenaltySpec {
        key: "free-memory-score-penalty",
        get: |s| s.free_memory_score_penalty,
        set: |s, v| s.free_memory_score_penalty = v,
    },
    PenaltySpec {
        key: "engine-retry-score-penalty",
        get: |s| s.engine_retry_score_penalty,
        set: |s, v| s.engine_retry_score_penalty = v,
    },
];

impl ScoreConf {
    /// Every key of `[score]`.
    pub fn keys() -> Vec<&'static str> {
        let mut keys = vec!["base-score", "cpu-load-penalty-min", "cpu-load-penalty-max"];
        keys.extend(PENALTIES.iter().map(|p| p.key));
        keys
    }

    fn read(f: &mut Fields<'_>) -> Self {
        let mut score = ScoreConf::default();
        let s = SCORE_SECTION;
        let parse_score = |raw: &str| parse_u32_in(raw, 0, BASE_SCORE_MAX);
        // Any whole number parses; `violations` names the allowed range and why.
        let parse_base = |raw: &str| parse_u32_in(raw, 0, u32::MAX);
        score.base_score = f.or(s, "base-score", score.base_score, parse_base);
        for spec in PENALTIES {
            let value = f.or(s, spec.key, (spec.get)(&score), parse_score);
            (spec.set)(&mut score, value);
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

    /// Every broken rule: base-score in 1..=[`BASE_SCORE_MAX`], each penalty within
    /// 0..=base-score, and 0 <= cpu-load-penalty-min < cpu-load-penalty-max <= 1.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        if !(1..=BASE_SCORE_MAX).contains(&self.base_score) {
            let message = format!(
                "base-score ({}) must be in 1..={BASE_SCORE_MAX} (the most a host record carries)",
                self.base_score
            );
            found.push(Violation::new(&["base-score"], message));
        }
        for spec in PENALTIES {
            let penalty = (spec.get)(self);
            if penalty > self.base_score {
                let message = format!(
                    "{} ({penalty}) must not exceed base-score ({})",
                    spec.key, self.base_score
                );
                found.push(Violation::new(&[spec.key, "base-score"], message));
            }
        }
        let (min, max) = (self.cpu_load_penalty_min, self.cpu_load_penalty_max);
        for (key, value) in [("cpu-load-penalty-min", min), ("cpu-load-penalty-max", max)] {
            if !(0.0..=1.0).contains(&value) {
                found.push(Violation::new(
                    &[key],
                    format!("{key} ({value}) must be in 0..=1"),
                ));
            }
        }
        if min >= max {
            let message = format!(
                "cpu-load-penalty-min ({min}) must be less than cpu-load-penalty-max ({max})"
            );
            found.push(Violation::new(
                &["cpu-load-penalty-min", "cpu-load-penalty-max"],
                message,
            ));
        }
        found
    }
}

/// Every timer and count of the agent (`[timing]`). The pure core takes it by
/// value. `Default` is ours ([`Timings::default`]: a 2 s loop, the lease free
/// 40 s after its holder fell silent); [`Timings::reference`] is the reference's
/// (`reference/ovirt-compat.md` sections 4, 5 and 10). Each field's doc names
/// its key and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timings {
    /// One agent loop (`loop-secs`, 2; the reference's 10).
    pub loop_ms: u64,
    /// A peer whose heartbeat has not changed for this long is stale, and an
    /// agent watches this long before it acts (`host-alive-timeout-secs`, 12 =
    /// 6 loops, as the reference's 60).
    pub host_alive_timeout_ms: u64,
    /// Longest wait for a starting engine to become healthy
    /// (`engine-starting-timeout-secs`, 600).
    pub engine_starting_timeout_ms: u64,
    /// How long the VM may be seen elsewhere-or-nowhere before acting
    /// (`engine-maybe-away-timeout-secs`, 10 = 5 loops; the reference's 40).
    pub engine_maybe_away_timeout_ms: u64,
    /// Score 0 after the VM died unexpectedly (`engine-unexpectedly-down-secs`, 560).
    pub engine_unexpectedly_down_ms: u64,
    /// Longest wait for a stopping engine VM (`engine-stop-timeout-secs`, 300).
    pub engine_stop_timeout_ms: u64,
    /// Bad health tolerated before the engine is restarted
    /// (`bad-health-timeout-secs`, 60; the reference's 300).
    pub bad_health_timeout_ms: u64,
    /// Window in which failed start attempts count (`retry-window-secs`, 600).
    pub retry_window_ms: u64,
    /// Failed starts within the window before the score drops to 0
    /// (`start-retries-max`, 3).
    pub start_retries_max: u32,
    /// Ours: restarts on the same host after a VM crash before handing over
    /// (`local-restart-attempts`, 1; 0 = the reference's behaviour).
    pub local_restart_attempts_max: u32,
    /// Guest shutdown grace before power-off (`vm-shutdown-grace-secs`, 120).
    pub vm_shutdown_grace_ms: u64,
    /// Longest a forced power-off may take (`poweroff-timeout-secs`, 10).
    pub poweroff_timeout_ms: u64,
    /// Bound on one metadata read or write (`storage-timeout-secs`, 5).
    pub storage_timeout_ms: u64,
    /// Bound on one engine health request (`liveliness-timeout-secs`, 10; the
    /// reference's 20).
    pub liveliness_timeout_ms: u64,
    /// Probes per gateway test (`gateway-probes`, 5).
    pub gateway_probe_count: u32,
    /// Pause between gateway probes (`gateway-probe-interval-secs`, 0.5).
    pub gateway_probe_interval_ms: u64,
    /// Wait between publishing a lease claim and deciding it
    /// (`lease-settle-secs`, 8; the reference's equivalent 15).
    pub lease_settle_ms: u64,
    /// A holder that cannot publish for this long powers its VM off
    /// (`lease-fail-secs`, 22; the reference's equivalent 30).
    pub lease_fail_ms: u64,
    /// A holder silent for this long is presumed fenced (`lease-dead-secs`, 40;
    /// the reference's equivalent 60).
    pub lease_dead_ms: u64,
    /// Safety margin in the lease inequality (`lease-margin-secs`, 5).
    pub lease_margin_ms: u64,
}

/// Ours: the reference's timings where they are about the engine VM itself
/// (boot, stop, retries: slow for a real engine whatever the agent does), and a
/// faster agent where they are about the agent and the lease, every relation of
/// [`Timings::violations`] kept:
///
/// - `loop-secs` 2: an engine VM crash is seen and the VM restarted within a
///   loop, healthy and published within two more (6 s plus the boot; the
///   reference moves it to another host in about a minute). Each loop reads the
///   metadata area once: 5 times the reference's storage reads and agent CPU
///   (BENCHMARKS.md: idle CPU and memory).
/// - `storage-timeout-secs` 5 and `poweroff-timeout-secs` 10: the reference's,
///   and libvirt's own wait for a destroyed QEMU to exit is up to 15 s. Shorter
///   would cut into real storage and real VMs.
/// - `lease-fail-secs` 22: a holder renews every loop and one write may take
///   storage-timeout, so a storage stall of up to lease-fail - loop -
///   storage-timeout = 15 s never makes a healthy holder fence itself, whenever
///   in the loop it starts: the reference's tolerance (30 - 10 - 5 = 15 s).
/// - `lease-dead-secs` 40 > 22 + 10 + 2 + 5 = 39: the inequality, with the
///   reference's 5 s margin. `lease-settle-secs` 8 >= storage-timeout + loop = 7.
///   A host crash: at worst lease-dead + loop (the last renewal read late) +
///   loop + settle + 3 loops = 58 s plus the boot to a healthy engine elsewhere
///   (the reference: about 5 minutes).
/// - `bad-health-timeout-secs` 60: 30 loops of bad health, as the reference's
///   300 s are 30 of its loops; long enough to ride out a slow health page or a
///   quick engine service restart, short enough that an engine whose service
///   crashed (test plan cases 1 and 2) is restarted after a minute, not five.
///   A site whose engine service takes longer to start (or with a `[recovery]`
///   command that restarts it) should set it above that time.
impl Default for Timings {
    fn default() -> Self {
        Timings {
            loop_ms: 2_000,
            host_alive_timeout_ms: 12_000,
            engine_maybe_away_timeout_ms: 10_000,
            bad_health_timeout_ms: 60_000,
            liveliness_timeout_ms: 10_000,
            lease_settle_ms: 8_000,
            lease_fail_ms: 22_000,
            lease_dead_ms: 40_000,
            ..Timings::reference()
        }
    }
}

impl Timings {
    /// The reference's (oVirt's) timings: a 10 s loop, peers stale after 60 s.
    /// The simulator's scenarios run on these, so that their expected logs read
    /// on the reference's time base.
    pub fn reference() -> Timings {
        Timings {
            loop_ms: 10_000,
            host_alive_timeout_ms: 60_000,
            engine_starting_timeout_ms: 600_000,
            engine_maybe_away_timeout_ms: 40_000,
            engine_unexpectedly_down_ms: 560_000,
            engine_stop_timeout_ms: 300_000,
            bad_health_timeout_ms: 300_000,
            retry_window_ms: 600_000,
            start_retries_max: 3,
            local_restart_attempts_max: 1,
            vm_shutdown_grace_ms: 120_000,
            poweroff_timeout_ms: 10_000,
            storage_timeout_ms: 5_000,
            liveliness_timeout_ms: 20_000,
            gateway_probe_count: 5,
            gateway_probe_interval_ms: 500,
            lease_settle_ms: 15_000,
            lease_fail_ms: 30_000,
            lease_dead_ms: 60_000,
            lease_margin_ms: 5_000,
        }
    }
}

/// A timer key and its field.
struct TimerSpec {
    key: &'static str,
    get: fn(&Timings) -> u64,
    set: fn(&mut Timings, u64),
}

macro_rules! timer {
    ($key:literal, $field:ident) => {
        TimerSpec {
            key: $key,
            get: |t| t.$field,
            set: |t, v| t.$field = v,
        }
    };
}

const TIMERS: &[TimerSpec] = &[
    timer!("loop-secs", loop_ms),
    timer!("host-alive-timeout-secs", host_alive_timeout_ms),
    timer!("engine-starting-timeout-secs", engine_starting_timeout_ms),
    timer!(
        "engine-maybe-away-timeout-secs",
        engine_maybe_away_timeout_ms
    ),
    timer!("engine-unexpectedly-down-secs", engine_unexpectedly_down_ms),
    timer!("engine-stop-timeout-secs", engine_stop_timeout_ms),
    timer!("bad-health-timeout-secs", bad_health_timeout_ms),
    timer!("retry-window-secs", retry_window_ms),
    timer!("vm-shutdown-grace-secs", vm_shutdown_grace_ms),
    timer!("poweroff-timeout-secs", poweroff_timeout_ms),
    timer!("storage-timeout-secs", storage_timeout_ms),
    timer!("liveliness-timeout-secs", liveliness_timeout_ms),
    timer!("gateway-probe-interval-secs", gateway_probe_interval_ms),
    timer!("lease-settle-secs", lease_settle_ms),
    timer!("lease-fail-secs", lease_fail_ms),
    timer!("lease-dead-secs", lease_dead_ms),
    timer!("lease-margin-secs", lease_margin_ms),
];

/// A count key, its field and its range.
struct CountSpec {
    key: &'static str,
    min: u32,
    get: fn(&Timings) -> u32,
    set: fn(&mut Timings, u32),
}

const COUNTS: &[CountSpec] = &[
    CountSpec {
        key: "start-retries-max",
        min: 1,
        get: |t| t.start_retries_max,
        set: |t, v| t.start_retries_max = v,
    },
    CountSpec {
        key: "local-restart-attempts",
        min: 0,
        get: |t| t.local_restart_attempts_max,
        set: |t, v| t.local_restart_attempts_max = v,
    },
    CountSpec {
        key: "gateway-probes",
        min: 1,
        get: |t| t.gateway_probe_count,
        set: |t, v| t.gateway_probe_count = v,
    },
];

impl Timings {
    /// Every key of `[timing]`.
    pub fn keys() -> Vec<&'static str> {
        TIMERS
            .iter()
            .map(|t| t.key)
            .chain(COUNTS.iter().map(|c| c.key))
            .collect()
    }

    fn read(f: &mut Fields<'_>) -> Self {
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

    /// Every broken rule. Timings built in code (a lab's fast profile, the
    /// simulator) must pass this too; the agent refuses to start otherwise.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        for spec in TIMERS {
            let ms = (spec.get)(self);
            if ms == 0 || ms > DURATION_MAX_MS {
                let message = format!(
                    "{} ({}) must be greater than 0 and at most {}",
                    spec.key,
                    format_secs(ms),
                    format_secs(DURATION_MAX_MS)
                );
                found.push(Violation::new(&[spec.key], message));
            }
        }
        for spec in COUNTS {
            let count = (spec.get)(self);
            if !(spec.min..=TIMING_COUNT_MAX).contains(&count) {
                let message = format!(
                    "{} ({count}) must be in {}..={TIMING_COUNT_MAX}",
                    spec.key, spec.min
                );
                found.push(Violation::new(&[spec.key], message));
            }
        }
        if found.is_empty() {
            // The sums below are meaningful (and cannot overflow) only when every
            // timer is within its bounds.
            self.relation_violations(&mut found);
        }
        found
    }

    fn relation_violations(&self, found: &mut Vec<Violation>) {
        let s = format_secs;
        // Peers publish once per loop: a staleness limit not above one loop would
        // declare every healthy peer dead between two of its publishes.
        if self.host_alive_timeout_ms <= self.loop_ms {
            found.push(Violation::new(
                &["host-alive-timeout-secs", "loop-secs"],
                format!(
                    "host-alive-timeout-secs ({}) must exceed loop-secs ({})",
                    s(self.host_alive_timeout_ms),
                    s(self.loop_ms)
                ),
            ));
        }
        // A healthy holder renews once per loop, and one write may take up to
        // storage-timeout: a shorter lease-fail would make it fence itself.
        let renew_gap_ms = self.loop_ms + self.storage_timeout_ms;
        if self.lease_fail_ms <= renew_gap_ms {
            found.push(Violation::new(
                &["lease-fail-secs", "loop-secs", "storage-timeout-secs"],
                format!(
                    "lease-fail-secs ({}) must exceed loop-secs + storage-timeout-secs ({} + {} = {})",
                    s(self.lease_fail_ms),
                    s(self.loop_ms),
                    s(self.storage_timeout_ms),
                    s(renew_gap_ms)
                ),
            ));
        }
        // A claim is decided only after every competing claim published before
        // ours is visible: one worst-case write plus one loop of the slowest peer.
        let settle_min_ms = self.storage_timeout_ms + self.loop_ms;
        if self.lease_settle_ms < settle_min_ms {
            found.push(Violation::new(
                &["lease-settle-secs", "storage-timeout-secs", "loop-secs"],
                format!(
                    "lease-settle-secs ({}) must be at least storage-timeout-secs + loop-secs ({} + {} = {})",
                    s(self.lease_settle_ms),
                    s(self.storage_timeout_ms),
                    s(self.loop_ms),
                    s(settle_min_ms)
                ),
            ));
        }
        self.lease_dead_violation(found);
        self.renewal_landing_violation(found);
        self.watchdog_range_violation(found);
    }

    /// A renewal that starts just before lease-fail must still land before
    /// another host may expire the lease: it lands within one storage
    /// timeout, and a peer stamps what it saw up to one read early.
    fn renewal_landing_violation(&self, found: &mut Vec<Violation>) {
        let needed_ms = self.lease_fail_ms + 2 * self.storage_timeout_ms;
        if self.lease_dead_ms >= needed_ms {
            return;
        }
        let s = format_secs;
        found.push(Violation::new(
            &["lease-dead-secs", "lease-fail-secs", "storage-timeout-secs"],
            format!(
                "lease-dead-secs ({}) must be at least lease-fail-secs + 2 x storage-timeout-secs \
                 ({} + 2 x {} = {}), so that a renewal written just before lease-fail lands \
                 before any other host may expire the lease",
                s(self.lease_dead_ms),
                s(self.lease_fail_ms),
                s(self.storage_timeout_ms),
                s(needed_ms)
            ),
        ));
    }

    /// The range a watchdog's timeout must lie in, in ms (the proof is in
    /// `core::lease`, "The watchdog"):
    ///
    /// - at most `lease-dead + lease-settle - lease-fail - storage-timeout -
    ///   lease-margin`: a holder pets only while its lease is renewed within
    ///   `lease-fail`, and no other host can start the engine earlier than
    ///   `lease-dead + lease-settle` after the holder's last renewal, less one
    ///   read (a peer stamps a change with the start of the read that saw it);
    ///   the margin covers clock rates. A longer timeout lets a hung holder's
    ///   VM run beside the next one.
    /// - at least `loop + 2 x storage-timeout`: a loop whose read and write both
    ///   run into the storage timeout pets that late, and a healthy host must
    ///   not be reset for a slow storage.
    ///
    /// Meaningful only for timings without violations.
    pub fn watchdog_range_ms(&self) -> (u64, u64) {
        let min = self.loop_ms + 2 * self.storage_timeout_ms;
        let max = (self.lease_dead_ms + self.lease_settle_ms)
            .saturating_sub(self.lease_fail_ms + self.storage_timeout_ms + self.lease_margin_ms);
        (min, max)
    }

    /// Why a watchdog timeout of `timeout_ms` breaks
    /// [`Timings::watchdog_range_ms`], naming the bound, its sum and every key
    /// in it (e.g. `is longer than the lease allows (at most 16 s = ...)`);
    /// `None` when it lies within the range.
    pub fn watchdog_timeout_problem(&self, timeout_ms: u64) -> Option<String> {
        let (min, max) = self.watchdog_range_ms();
        let s = format_secs;
        if timeout_ms > max {
            return Some(format!(
                "is longer than the lease allows (at most {} s = lease-dead-secs {} + \
                 lease-settle-secs {} - lease-fail-secs {} - storage-timeout-secs {} - \
                 lease-margin-secs {}): a hung agent's host would be reset only after \
                 another host may have started the engine VM",
                s(max),
                s(self.lease_dead_ms),
                s(self.lease_settle_ms),
                s(self.lease_fail_ms),
                s(self.storage_timeout_ms),
                s(self.lease_margin_ms)
            ));
        }
        if timeout_ms < min {
            return Some(format!(
                "is shorter than a slow storage allows (at least {} s = loop-secs {} + 2 x \
                 storage-timeout-secs {}): a healthy host would be reset while its storage \
                 is slow",
                s(min),
                s(self.loop_ms),
                s(self.storage_timeout_ms)
            ));
        }
        None
    }

    /// Timings must leave room for a watchdog: see [`Timings::watchdog_range_ms`].
    fn watchdog_range_violation(&self, found: &mut Vec<Violation>) {
        let (min, max) = self.watchdog_range_ms();
        if max >= min {
            return;
        }
        let s = format_secs;
        found.push(Violation::new(
            &["lease-dead-secs", "lease-settle-secs", "lease-fail-secs", "storage-timeout-secs", "lease-margin-secs", "loop-secs"],
            format!(
                "lease-dead-secs + lease-settle-secs - lease-fail-secs - storage-timeout-secs - \
                 lease-margin-secs ({} + {} - {} - {} - {} = {}), the longest safe watchdog timeout, \
                 must be at least loop-secs + 2 x storage-timeout-secs ({} + 2 x {} = {}), the \
                 shortest that does not reset a host for a slow storage",
                s(self.lease_dead_ms),
                s(self.lease_settle_ms),
                s(self.lease_fail_ms),
                s(self.storage_timeout_ms),
                s(self.lease_margin_ms),
                s(max),
                s(self.loop_ms),
                s(self.storage_timeout_ms),
                s(min)
            ),
        ));
    }

    /// The safety rule of the lease (DESIGN.md "The engine VM lease"): another host
    /// may take the lease only after the holder has certainly fenced itself, i.e.
    /// noticed the failure (lease-fail), powered off (poweroff-timeout), with one
    /// loop of detection delay and a margin for clock rate differences.
    fn lease_dead_violation(&self, found: &mut Vec<Violation>) {
        let s = format_secs;
        let fenced_ms =
            self.lease_fail_ms + self.poweroff_timeout_ms + self.loop_ms + self.lease_margin_ms;
        if self.lease_dead_ms > fenced_ms {
            return;
        }
        found.push(Violation::new(
            &["lease-dead-secs", "lease-fail-secs", "poweroff-timeout-secs", "loop-secs", "lease-margin-secs"],
            format!(
                "lease-dead-secs ({}) must exceed lease-fail-secs + poweroff-timeout-secs + loop-secs + \
                 lease-margin-secs ({} + {} + {} + {} = {})",
                s(self.lease_dead_ms),
                s(self.lease_fail_ms),
                s(self.poweroff_timeout_ms),
                s(self.loop_ms),
                s(self.lease_margin_ms),
                s(fenced_ms)
            ),
        ));
    }
}

/// `[recovery]` (ours): a command that restarts only the engine service when the
/// engine is unhealthy while its VM runs, tried before restarting the whole VM
/// (DESIGN.md "Deliberate improvements", 2).
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
        let score = ScoreConf::read(&mut f);
        let timings = Timings::read(&mut f);
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
                    .map(move |v| v.into_error(&self.doc, section))
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
