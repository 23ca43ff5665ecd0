//! Power fencing as the core sees it: which hosts this host can power off,
//! when a silent holder may be fenced, the order handed to the shell, the
//! report it hands back, and the proof published afterwards
//! (docs/agent.md, "Power fencing").
//!
//! The protocol lives in the lease ([`crate::lease`], "Power fencing"); this
//! module holds its settings and the values that cross the core's boundary.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use alloc::collections::BTreeSet;

use crate::Timings;
use crate::metadata::HostId;
use crate::violation::{DURATION_MAX_MS, Violation, format_secs};

/// Default of `fence-after-secs`: a holder silent on the storage this long
/// may be claimed from to fence it. Three loops of the default timings:
/// a holder that publishes every loop, each write within its usual fraction
/// of a second, shows a change to every reader at least every two loops (its
/// loop, and the reader's). The fence itself comes only after the holder
/// stayed silent through the whole settle too (`lease-settle-secs` more, 14 s
/// in all), longer than any publishing host's gap (`2 x loop +
/// storage-timeout` = 9 s) and about as long as a storage stall a holder
/// survives without fencing (`lease-fail - loop - storage-timeout` = 15 s):
/// fencing hardly ever takes down a holder that would have kept its lease.
pub const FENCE_AFTER_DEFAULT_MS: u64 = 6_000;

/// Our extra key, published by a host that fences another and then holds
/// the lease: `<host>/<epoch>/<unix time>/<how>` (see [`FenceProof`]).
pub const FENCED_KEY: &str = "fenced";
/// Our extra key: the hosts' lease epochs whose fence was tried and failed
/// or was not believed, `<host>/<epoch>,...`: no host fences them again.
pub const FENCE_TRIED_KEY: &str = "fence-tried";
/// Our extra key, published while a host claims the lease to fence a silent
/// holder, and while its fence runs: `<host>/<epoch>`, the host and the lease
/// epoch it fences.
pub const FENCE_TARGET_KEY: &str = "fence-target";

/// The cluster's fencing, as this host runs it (`fencing.conf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceConf {
    /// `fence-after-secs`: a holder silent on the storage this long may be
    /// fenced.
    pub fence_after_ms: u64,
    /// The longest one whole fence may take, `off` and the `status` calls that
    /// confirm it, before the core stops waiting for its report (the shell
    /// bounds every call well within it).
    pub timeout_ms: u64,
    /// The hosts whose fence device this host may run.
    pub devices: BTreeSet<HostId>,
}

impl FenceConf {
    /// `fence-after-secs` when not set: [`FENCE_AFTER_DEFAULT_MS`], raised to
    /// what [`FenceConf::violations`] asks of `timings` (`2 x loop`, 20 s on
    /// the reference's timings).
    pub fn default_fence_after_ms(timings: &Timings) -> u64 {
        let gap = 2 * timings.loop_ms + timings.storage_timeout_ms;
        FENCE_AFTER_DEFAULT_MS
            .max(2 * timings.loop_ms)
            .max(gap.saturating_sub(timings.lease_settle_ms))
    }

    /// The whole fence's bound from one call's bound: the `off` call, then
    /// `status` calls until the same bound again.
    pub fn whole_fence_ms(call_timeout_ms: u64) -> u64 {
        call_timeout_ms.saturating_mul(2)
    }

    /// Why these settings are unsafe or useless with `timings`.
    ///
    /// - `fence-after-secs` at least `2 x loop`: one publish seen a loop late
    ///   is no reason to claim.
    /// - `fence-after-secs + lease-settle-secs` at least `2 x loop +
    ///   storage-timeout`: a holder that publishes shows a change to every
    ///   reader at least that often (its loop, one write, the reader's loop),
    ///   and a fence needs the holder silent that whole time, so a publishing
    ///   host is never fenced.
    /// - `fence-after-secs` below `lease-dead-secs`: otherwise the lease is
    ///   free before anyone may fence.
    pub fn violations(&self, timings: &Timings) -> Vec<Violation> {
        let mut found = Vec::new();
        let s = format_secs;
        if self.fence_after_ms == 0 || self.fence_after_ms > DURATION_MAX_MS {
            found.push(Violation::new(
                &["fence-after-secs"],
                format!(
                    "fence-after-secs ({}) must be greater than 0 and at most {}",
                    s(self.fence_after_ms),
                    s(DURATION_MAX_MS)
                ),
            ));
            return found;
        }
        let loops = 2 * timings.loop_ms;
        if self.fence_after_ms < loops {
            found.push(Violation::new(
                &["fence-after-secs", "loop-secs"],
                format!(
                    "fence-after-secs ({}) must be at least 2 x loop-secs ({}): one publish \
                     seen a loop late is no silence",
                    s(self.fence_after_ms),
                    s(loops)
                ),
            ));
        }
        let gap = 2 * timings.loop_ms + timings.storage_timeout_ms;
        if self.fence_after_ms + timings.lease_settle_ms < gap {
            found.push(Violation::new(
                &[
                    "fence-after-secs",
                    "lease-settle-secs",
                    "loop-secs",
                    "storage-timeout-secs",
                ],
                format!(
                    "fence-after-secs + lease-settle-secs ({}) must be at least 2 x loop-secs + \
                     storage-timeout-secs ({}): a host that publishes may look silent for \
                     that long",
                    s(self.fence_after_ms + timings.lease_settle_ms),
                    s(gap)
                ),
            ));
        }
        if self.fence_after_ms >= timings.lease_dead_ms {
            found.push(Violation::new(
                &["fence-after-secs", "lease-dead-secs"],
                format!(
                    "fence-after-secs ({}) must be below lease-dead-secs ({}): the lease is \
                     free by then",
                    s(self.fence_after_ms),
                    s(timings.lease_dead_ms)
                ),
            ));
        }
        found
    }
}

/// A host and the lease epoch it held (or claimed) when it was fenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FenceTarget {
    pub host: HostId,
    pub epoch: u64,
}

impl FenceTarget {
    /// As [`FENCE_TARGET_KEY`]'s value: `<host>/<epoch>`.
    pub fn to_value(self) -> String {
        format!("{}/{}", self.host, self.epoch)
    }

    /// Parses `<host>/<epoch>` (the start of [`FENCED_KEY`]'s value too).
    pub fn parse(value: &str) -> Option<FenceTarget> {
        let mut fields = value.split('/');
        let host = fields.next()?.parse().ok()?;
        let epoch = fields.next()?.parse().ok()?;
        Some(FenceTarget { host, epoch })
    }
}

/// What the core asks the shell to do: power `target.host` off through its
/// fence device, then ask the device until it says off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceOrder {
    pub target: FenceTarget,
    /// The lease epoch our claim took (logged with the fence).
    pub epoch: u64,
}

/// How a fence ended, as the shell saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceOutcome {
    /// `off` succeeded and a later `status` said off.
    Off,
    /// Anything else: `off` failed or timed out, or `status` never said off
    /// within the bound. The text says what happened.
    Failed(String),
}

/// The shell's report of a fence it ran, handed in with the next
/// observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceReport {
    pub target: FenceTarget,
    pub outcome: FenceOutcome,
    /// How long the whole fence took.
    pub took_ms: u64,
    /// The fence agent's program (`fence_ipmilan`), for the proof.
    pub agent: String,
}

/// A confirmed fence, as published by the host that then took the lease:
/// which host, which epoch, when, confirmed how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceProof {
    pub target: FenceTarget,
    /// Wall clock (Unix seconds) when the fence was confirmed (display only).
    pub at_unix: i64,
    /// The fence agent that confirmed it.
    pub agent: String,
}

impl FenceProof {
    /// As [`FENCED_KEY`]'s value: `<host>/<epoch>/<unix time>/<agent>
    /// off+status`.
    pub fn to_value(&self) -> String {
        format!(
            "{}/{}/{} off+status",
            self.target.to_value(),
            self.at_unix,
            self.agent
        )
    }

    /// Parses [`FENCED_KEY`]'s value; `None` when it is not one.
    pub fn parse(value: &str) -> Option<FenceProof> {
        let target = FenceTarget::parse(value)?;
        let mut fields = value.splitn(4, '/').skip(2);
        let at_unix = fields.next()?.parse().ok()?;
        let agent = fields.next()?.strip_suffix(" off+status")?;
        Some(FenceProof {
            target,
            at_unix,
            agent: agent.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(after_secs: u64) -> FenceConf {
        FenceConf {
            fence_after_ms: after_secs * 1000,
            timeout_ms: 30_000,
            devices: BTreeSet::new(),
        }
    }

    #[test]
    fn the_default_fits_the_default_timings() {
        let conf = FenceConf {
            fence_after_ms: FENCE_AFTER_DEFAULT_MS,
            ..conf(0)
        };
        assert_eq!(conf.violations(&Timings::default()), Vec::new());
    }

    #[test]
    fn fence_after_and_the_settle_must_outlast_a_publishing_host_before_lease_dead() {
        let t = Timings::default();
        let short = conf(3).violations(&t);
        assert_eq!(short.len(), 1);
        assert!(
            short[0].message.contains("at least 2 x loop-secs (4)"),
            "{short:?}"
        );
        assert!(conf(4).violations(&t).is_empty());
        let long = conf(40).violations(&t);
        assert_eq!(long.len(), 1);
        assert!(
            long[0].message.contains("below lease-dead-secs"),
            "{long:?}"
        );
        assert_eq!(conf(0).violations(&t).len(), 1);
        // A slow storage: the pair must still cover a publishing host's gap.
        let slow_storage = Timings {
            lease_settle_ms: 7_000,
            storage_timeout_ms: 9_000,
            ..Timings::default()
        };
        let gap = conf(4).violations(&slow_storage);
        assert!(
            gap.iter()
                .any(|v| v.message.contains("lease-settle-secs (11)")),
            "{gap:?}"
        );
        // The reference's timings: 20 s .. 60 s.
        assert!(conf(20).violations(&Timings::reference()).is_empty());
        assert_eq!(conf(19).violations(&Timings::reference()).len(), 1);
    }

    #[test]
    fn proofs_and_targets_read_back() {
        let proof = FenceProof {
            target: FenceTarget { host: 2, epoch: 7 },
            at_unix: 1_765_000_000,
            agent: "fence_ipmilan".into(),
        };
        let value = proof.to_value();
        assert_eq!(value, "2/7/1765000000/fence_ipmilan off+status");
        assert_eq!(FenceProof::parse(&value), Some(proof));
        assert_eq!(
            FenceTarget::parse("3/9"),
            Some(FenceTarget { host: 3, epoch: 9 })
        );
        for bad in ["", "3", "x/9", "3/9/x/a off+status", "3/9/1/agent"] {
            assert_eq!(FenceProof::parse(bad), None, "{bad}");
        }
    }
}
