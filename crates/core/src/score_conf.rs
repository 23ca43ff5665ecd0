//! `agent.conf`'s `[score]` as the core takes it: the penalties and their
//! rules (`docs/compat.md` section 4). The configuration module
//! parses the file into [`ScoreConf`]; the keys are the core's
//! ([`PenaltyKind::conf_key`]), so each is named once.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::metadata::SCORE_MAX;
use crate::score::PenaltyKind;
use crate::violation::Violation;

/// Largest `base-score`: the best score a host record can carry
/// ([`SCORE_MAX`]); the record encoder refuses anything above it.
pub const BASE_SCORE_MAX: u32 = SCORE_MAX;

/// `[score]`: penalties subtracted from `base-score` (`docs/compat.md`
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

impl ScoreConf {
    /// Every key of `[score]`.
    pub fn keys() -> Vec<&'static str> {
        let mut keys = vec!["base-score", "cpu-load-penalty-min", "cpu-load-penalty-max"];
        keys.extend(PenaltyKind::ALL.iter().map(|kind| kind.conf_key()));
        keys
    }

    /// The full penalty of `kind` (its [`PenaltyKind::conf_key`]).
    pub fn penalty(&self, kind: PenaltyKind) -> u32 {
        match kind {
            PenaltyKind::NotUptodateConfig => self.not_uptodate_config_penalty,
            PenaltyKind::Network => self.network_score_penalty,
            PenaltyKind::MgmtBridge => self.mgmt_bridge_score_penalty,
            PenaltyKind::CpuLoad => self.cpu_load_score_penalty,
            PenaltyKind::FreeMemory => self.free_memory_score_penalty,
            PenaltyKind::EngineRetry => self.engine_retry_score_penalty,
        }
    }

    /// Sets the full penalty of `kind`.
    pub fn set_penalty(&mut self, kind: PenaltyKind, points: u32) {
        let field = match kind {
            PenaltyKind::NotUptodateConfig => &mut self.not_uptodate_config_penalty,
            PenaltyKind::Network => &mut self.network_score_penalty,
            PenaltyKind::MgmtBridge => &mut self.mgmt_bridge_score_penalty,
            PenaltyKind::CpuLoad => &mut self.cpu_load_score_penalty,
            PenaltyKind::FreeMemory => &mut self.free_memory_score_penalty,
            PenaltyKind::EngineRetry => &mut self.engine_retry_score_penalty,
        };
        *field = points;
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
        for kind in PenaltyKind::ALL {
            let penalty = self.penalty(kind);
            if penalty > self.base_score {
                let message = format!(
                    "{} ({penalty}) must not exceed base-score ({})",
                    kind.conf_key(),
                    self.base_score
                );
                found.push(Violation::new(&[kind.conf_key(), "base-score"], message));
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
