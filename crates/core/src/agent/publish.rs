//! What this host publishes in its slot: the score and the record, then the
//! reference's extra text followed by our keys.

use alloc::format;
use alloc::string::String;
use alloc::string::ToString;

use super::{
    Agent, EPOCH_SEEN_KEY, Facts, GATEWAY_KEY, KEEPER_KEY, LEASE_TIMINGS_KEY, Observation,
    SCORE_DETAIL_KEY, WATCHDOG_KEY,
};
use crate::metadata::{
    EngineStatus, Extra, ExtraContext, HostRecord, METADATA_FEATURE_VERSION,
    METADATA_PARSE_VERSION, SCORE_MAX, SEQ_KEY, StateMetadata, build_extra,
};
use crate::score::{ScoreBreakdown, ScoreInputs, compute};
use crate::state::State;

impl Agent {
    /// The score this host would have in `state` with this observation.
    pub(super) fn score_in(&self, obs: &Observation<'_>, state: State) -> ScoreBreakdown {
        compute(
            &self.cfg.score,
            &self.cfg.timings,
            &ScoreInputs {
                now: self.now,
                conf_on_shared_storage: self.cfg.conf_on_shared_storage,
                gateway_probes_ok: obs.sensors.gateway_probes_ok,
                bridge_up: obs.sensors.bridge_up,
                cpu_load: obs.sensors.cpu_load,
                free_memory_mib: obs.sensors.free_memory_mib,
                engine_memory_mib: self.cfg.engine_memory_mib,
                free_memory_counts: state.counts_free_memory(),
                failed_starts: &self.failed_starts,
                forced_zero: state.forced_zero(),
            },
        )
    }

    pub(super) fn score(&self, obs: &Observation<'_>) -> ScoreBreakdown {
        self.score_in(obs, self.state)
    }

    /// The record for this publish; `host-ts` changes on every publish, since
    /// only its change tells the other hosts that we are alive, and so does
    /// the write sequence ([`SEQ_KEY`], in the extra text).
    pub(super) fn record(&mut self, score: u32, status: &EngineStatus) -> HostRecord {
        let host_ts = self.now.as_secs().max(self.last_host_ts + 1);
        self.last_host_ts = host_ts;
        self.seq = self.seq.saturating_add(1);
        HostRecord {
            parse_version: METADATA_PARSE_VERSION,
            feature_version: METADATA_FEATURE_VERSION,
            host_ts,
            host_id: self.cfg.host_id,
            score: score.min(SCORE_MAX),
            engine_status: status.to_json(),
            hostname: self.cfg.hostname.clone(),
            local_maintenance: self.state == State::LocalMaintenance,
            stopped: self.state == State::AgentStopped,
            conf_on_shared_storage: self.cfg.conf_on_shared_storage,
            vm_conf_refresh_time: self.started_ts,
        }
    }

    /// The reference's extra text, then the lease, the gateway result and the
    /// score breakdown.
    pub(super) fn extra(
        &self,
        record: &HostRecord,
        (wall_unix, utc_offset_secs): (i64, i32),
        gateway: &str,
        score_detail: &str,
    ) -> Extra {
        let timeout_unix = self.state.timeout_ms(&self.cfg.timings).map(|ms| {
            let left = ms.saturating_sub(self.now.since(self.entered)) / 1000;
            wall_unix.saturating_add(i64::try_from(left).unwrap_or(i64::MAX))
        });
        let ctx = ExtraContext {
            wall_now_unix: wall_unix,
            utc_offset_secs,
            state: StateMetadata {
                maintenance: self.state == State::LocalMaintenance,
                state: self.state.name().into(),
                stopped: self.state == State::AgentStopped,
                timeout_unix,
            },
            lease: Some(self.lease.published_state()),
        };
        let mut extra = build_extra(record, &ctx);
        extra.push(EPOCH_SEEN_KEY, self.lease.highest_epoch().to_string());
        extra.push(GATEWAY_KEY, gateway);
        extra.push(SCORE_DETAIL_KEY, score_detail);
        let watchdog = match self.cfg.watchdog_timeout_ms {
            Some(ms) => crate::violation::format_secs(ms),
            None => "none".into(),
        };
        extra.push(WATCHDOG_KEY, &watchdog);
        extra.push(LEASE_TIMINGS_KEY, self.timings_text.as_str());
        if self.cfg.keeper {
            extra.push(KEEPER_KEY, "1");
        }
        self.push_handover_keys(&mut extra);
        if self.cfg.fencing.is_some() {
            self.push_fence_keys(&mut extra);
        }
        extra.push(SEQ_KEY, self.seq.to_string());
        extra
    }

    pub(super) fn publication(
        &mut self,
        obs: &Observation<'_>,
        facts: &Facts,
        score: &ScoreBreakdown,
    ) -> (HostRecord, Extra) {
        let record = self.record(score.score, &facts.status);
        let gateway = match obs.sensors.gateway_probes_ok {
            Some(ok) => format!("{ok}/{}", self.cfg.timings.gateway_probe_count),
            None => "unknown".into(),
        };
        let extra = self.extra(
            &record,
            (obs.wall_unix, obs.utc_offset_secs),
            &gateway,
            &score.published(),
        );
        (record, extra)
    }
}

/// This host's [`LEASE_TIMINGS_KEY`] value: lease-fail, lease-dead, settle and
/// the claim window, in ms.
pub(super) fn lease_timings(t: &crate::Timings) -> String {
    let window = crate::LeaseTimings::from_timings(t).claim_window_ms;
    format!(
        "{}/{}/{}/{window}",
        t.lease_fail_ms, t.lease_dead_ms, t.lease_settle_ms
    )
}

/// The lease-dead of a published [`LEASE_TIMINGS_KEY`] value, when readable.
pub fn published_dead_ms(value: &str) -> Option<u64> {
    value.split('/').nth(1)?.parse().ok()
}
