//! `agent.conf`'s `[timing]` as the core takes it: every timer and count of the
//! state machine and the lease, their defaults (ours and the reference's), and
//! the rules between them, the lease's timing inequality among them. The
//! configuration module parses the file into [`Timings`] with [`TIMERS`] and
//! [`COUNTS`].
//!
//! Durations are held in milliseconds, the unit of the core's monotonic time.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::violation::{DURATION_MAX_MS, Violation, format_secs};

/// Largest value of any count in `[timing]` (retries, probes, restarts).
pub const TIMING_COUNT_MAX: u32 = 100;

/// Every timer and count of the agent (`[timing]`). The pure core takes it by
/// value. `Default` is ours ([`Timings::default`]: a 2 s loop, the lease free
/// 40 s after its holder fell silent); [`Timings::reference`] is the reference's
/// (`docs/compat.md` sections 4, 5 and 10). Each field's doc names
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
pub struct TimerSpec {
    /// The `[timing]` key (`loop-secs`).
    pub key: &'static str,
    /// The field's value, in ms.
    pub get: fn(&Timings) -> u64,
    /// Sets the field, in ms.
    pub set: fn(&mut Timings, u64),
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

/// Every timer of `[timing]`, in the order of its keys.
pub const TIMERS: &[TimerSpec] = &[
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

/// A count key, its field and its range (`min..=`[`TIMING_COUNT_MAX`]).
pub struct CountSpec {
    /// The `[timing]` key (`start-retries-max`).
    pub key: &'static str,
    /// The smallest value allowed.
    pub min: u32,
    /// The field's value.
    pub get: fn(&Timings) -> u32,
    /// Sets the field.
    pub set: fn(&mut Timings, u32),
}

/// Every count of `[timing]`, in the order of its keys.
pub const COUNTS: &[CountSpec] = &[
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

    /// The safety rule of the lease (`docs/architecture.md`, "The engine VM
    /// lease"): another host may take the lease only after the holder has
    /// certainly fenced itself, i.e. noticed the failure (lease-fail), powered
    /// off (poweroff-timeout), with one loop of detection delay and a margin for
    /// clock rate differences.
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
