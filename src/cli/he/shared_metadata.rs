//! The shared metadata volume read once, and what the commands that change
//! it (`--reinitialize-lockspace`, `--clean-metadata`, `--deploy`) judge from
//! it: which hosts may be active, how old a slot is. A leaf of
//! `hosted-engine`'s modules.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ctx::Ctx;
use super::failure::{Failure, FailureKind};
use super::view::freshness;
use crate::config::Timings;
use crate::metadata::{Area, HostId, HostSlot, SLOT_SIZE, decode_area};
use crate::shell::store::MetadataStore;

/// A shared metadata volume, read once.
pub struct Shared {
    store: MetadataStore,
    pub area: Area,
    alive_timeout_ms: u64,
    now_unix: i64,
}

/// The volume `hosted-engine.conf` names, read; refused when not deployed.
pub fn read_shared(ctx: &Ctx) -> Result<Shared, Failure> {
    let he = ctx.deployed_conf()?;
    let volume = he
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    Shared::read(&volume, &ctx.timings())
}

impl Shared {
    /// Reads the volume at `volume`, each call bounded by the storage timeout.
    pub fn read(volume: &Path, timings: &Timings) -> Result<Shared, Failure> {
        let mut store =
            MetadataStore::open(volume, Duration::from_millis(timings.storage_timeout_ms));
        let bytes = store.read_area().map_err(|e| {
            Failure::new(
                FailureKind::Storage,
                format!("reading the shared metadata {}: {e}", volume.display()),
            )
        })?;
        Ok(Shared {
            store,
            area: decode_area(&bytes),
            alive_timeout_ms: timings.host_alive_timeout_ms,
            now_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        })
    }

    /// Writes host `id`'s slot, bounded by the storage timeout.
    pub fn write_slot(&mut self, id: HostId, bytes: &[u8; SLOT_SIZE]) -> Result<(), Failure> {
        self.store
            .write_slot(id, bytes)
            .map_err(|e| Failure::new(FailureKind::Storage, format!("writing slot {id}: {e}")))
    }

    /// Hosts whose agent may be running: their slot is not `stopped` and its
    /// wall-clock time is fresh, or they publish none (we cannot tell).
    pub fn active_hosts(&self) -> Vec<HostId> {
        self.area
            .hosts
            .iter()
            .filter(|(_, slot)| match slot {
                Ok(slot) => !slot.record.stopped && self.fresh(slot.extra.wall_clock()),
                Err(_) => false,
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn fresh(&self, wall: Option<i64>) -> bool {
        wall.is_none_or(|w| freshness(w, self.now_unix, self.alive_timeout_ms).0)
    }

    /// How long ago `slot` was published by the wall clock it carries; 0 when
    /// it carries none (we cannot tell: take it as just published).
    pub fn age_ms(&self, slot: &HostSlot) -> u64 {
        slot.extra.wall_clock().map_or(0, |w| {
            u64::try_from(self.now_unix.saturating_sub(w).max(0))
                .unwrap_or(0)
                .saturating_mul(1000)
        })
    }
}
