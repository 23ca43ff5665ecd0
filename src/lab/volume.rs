//! `he-lab volume ...` and the foundation-stage `he-lab demo`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::metadata::{
    Area, EngineStatus, ExtraContext, GlobalBlock, Health, HostRecord, HostSlot, LeaseKind,
    LeaseState, SlotError, StateMetadata, VmStatus, build_extra, decode_area, encode_host_slot,
};
use crate::shell::store::{MetadataStore, init_volume};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// One line per slot.
    Text,
    /// One JSON object: `global` and `hosts` keyed by host id.
    Json,
}

pub fn init(
    path: &Path,
    force: bool,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    init_volume(path, force, timeout)?;
    writeln!(out, "{}: metadata volume initialised", path.display())?;
    Ok(())
}

/// Reads the volume once and writes every non-empty slot to `out`.
pub fn dump_volume(
    path: &Path,
    format: DumpFormat,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut store = MetadataStore::open(path, timeout);
    let area = decode_area(&store.read_area()?);
    let result = match format {
        DumpFormat::Text => write_text(&area, out),
        DumpFormat::Json => writeln!(out, "{}", area_json(&area)),
    };
    match result {
        // A closed pipe (`| head`) is a clean end, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the dump"),
    }
}

fn lease_text(slot: &HostSlot) -> String {
    match slot.extra.lease() {
        Ok(Some(lease)) => format!("{}/{}", lease.kind.as_str(), lease.epoch),
        Ok(None) => "-".into(),
        Err(e) => format!("invalid ({e})"),
    }
}

/// Extra values may hold any byte but a line break: show one with control or
/// non-ASCII characters quoted and escaped, so that a forged slot cannot send
/// terminal escapes to the operator's screen.
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        value.into()
    } else {
        format!("{value:?}").into()
    }
}

fn write_text(area: &Area, out: &mut dyn Write) -> std::io::Result<()> {
    match &area.global {
        Ok(global) => {
            let maintenance = match global.maintenance() {
                Ok(on) => on.to_string(),
                Err(e) => format!("invalid ({e})"),
            };
            writeln!(out, "global: maintenance={maintenance}")?;
        }
        Err(e) => writeln!(out, "global: invalid: {e}")?,
    }
    if area.hosts.is_empty() {
        writeln!(out, "no host slots")?;
    }
    for (id, slot) in &area.hosts {
        match slot {
            Ok(slot) => writeln!(
                out,
                "host {id}: {} ts={} score={} state={} lease={} engine={}",
                slot.record.hostname,
                slot.record.host_ts,
                slot.record.score,
                shown(slot.extra.get("state").unwrap_or("-")),
                lease_text(slot),
                slot.record.engine_status,
            )?,
            Err(e) => writeln!(out, "host {id}: invalid: {e}")?,
        }
    }
    Ok(())
}

fn slot_error_json(e: &SlotError) -> Value {
    json!({ "error": e.to_string() })
}

fn area_json(area: &Area) -> Value {
    let global = match &area.global {
        Ok(global) => {
            let entries: Map<String, Value> = global
                .entries()
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Value::Object(entries)
        }
        Err(e) => slot_error_json(e),
    };
    let hosts: Map<String, Value> = area
        .hosts
        .iter()
        .map(|(id, slot)| {
            let value = match slot {
                Ok(slot) => json!({
                    "host-id": slot.record.host_id,
                    "host-ts": slot.record.host_ts,
                    "score": slot.record.score,
                    "engine-status": slot.record.engine_status,
                    "hostname": slot.record.hostname,
                    "maintenance": slot.record.local_maintenance,
                    "stopped": slot.record.stopped,
                    "crc32": slot.crc32.map(|c| format!("{c:08x}")),
                    "sealed": slot.sealed,
                    "extra": slot.extra.to_text(),
                }),
                Err(e) => slot_error_json(e),
            };
            (id.to_string(), value)
        })
        .collect();
    json!({ "global": global, "hosts": hosts })
}

/// One demo host's publication.
struct DemoHost {
    id: u16,
    state: &'static str,
    status: EngineStatus,
    lease: LeaseState,
}

/// What a host without the engine VM publishes.
fn away_status() -> EngineStatus {
    EngineStatus::new(
        VmStatus::Down,
        Health::Bad,
        "unknown",
        Some("vm not running on this host"),
    )
}

fn demo_hosts() -> [DemoHost; 3] {
    let away = away_status;
    let none = LeaseState {
        kind: LeaseKind::None,
        epoch: 1,
    };
    [
        DemoHost {
            id: 1,
            state: "EngineUp",
            status: EngineStatus::new(VmStatus::Up, Health::Good, "Up", None),
            lease: LeaseState {
                kind: LeaseKind::Held,
                epoch: 1,
            },
        },
        DemoHost {
            id: 2,
            state: "EngineDown",
            status: away(),
            lease: none,
        },
        DemoHost {
            id: 3,
            state: "EngineDown",
            status: away(),
            lease: none,
        },
    ]
}

/// The demo's temporary directory: removed when dropped, so that no way out of
/// the demo (an error, a closed stdout, a panic) leaves it behind.
struct DemoDir {
    path: PathBuf,
    removed: bool,
}

impl DemoDir {
    fn create() -> anyhow::Result<DemoDir> {
        // A fresh name (mkdtemp): a predictable one could be planted, as a
        // symbolic link to where the demo would then write.
        let tmp = std::env::temp_dir();
        let path = crate::trust::fresh_dir(&tmp, "he-lab-demo")
            .with_context(|| format!("creating a directory in {}", tmp.display()))?;
        Ok(DemoDir {
            path,
            removed: false,
        })
    }

    /// Removes the directory now, reporting a failure (drop cannot).
    fn remove(mut self) -> anyhow::Result<()> {
        self.removed = true;
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if !self.removed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes three hosts' slots, each through its own store as separate agents
/// would, then reads the area back once and shows it on `out`.
/// One host's slot as its agent would publish it.
fn host_slot(
    id: u16,
    hostname: &str,
    status: &EngineStatus,
    state: &str,
    lease: LeaseState,
    wall_now_unix: i64,
) -> anyhow::Result<Box<[u8; crate::metadata::SLOT_SIZE]>> {
    let record = HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts: 1000 + u64::from(id),
        host_id: id,
        score: 3400,
        engine_status: status.to_json(),
        hostname: hostname.to_owned(),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 1000,
    };
    let ctx = ExtraContext {
        wall_now_unix,
        utc_offset_secs: 0,
        state: StateMetadata {
            maintenance: false,
            state: state.into(),
            stopped: false,
            timeout_unix: None,
        },
        lease: Some(lease),
    };
    Ok(encode_host_slot(id, &record, &build_extra(&record, &ctx))?)
}

/// Writes `count` static host slots from host id `from` on (hosts whose agents
/// are not running: for benchmarks and tests of large areas).
pub fn fill(
    path: &Path,
    from: u16,
    count: u16,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let last = u32::from(from) + u32::from(count) - 1;
    anyhow::ensure!(
        from >= 1 && count >= 1 && last <= u32::from(crate::metadata::HOST_ID_MAX),
        "--from {from} --count {count}: host ids must stay in 1..={}",
        crate::metadata::HOST_ID_MAX
    );
    let mut store = MetadataStore::open(path, timeout);
    let away = away_status();
    let none = LeaseState {
        kind: LeaseKind::None,
        epoch: 0,
    };
    for id in from..=last as u16 {
        let slot = host_slot(id, &format!("static{id}.lab"), &away, "EngineDown", none, 0)?;
        store.write_slot(id, &slot)?;
    }
    writeln!(out, "{}: wrote host slots {from}..={last}", path.display())?;
    Ok(())
}

pub fn demo(out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = DemoDir::create()?;
    demo_in(&dir.path, out)?;
    dir.remove()
}

fn demo_in(dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(5);
    let path = dir.join("hosted-engine.metadata");
    init_volume(&path, false, timeout)?;
    writeln!(
        out,
        "he-lab demo: shared metadata volume {}",
        path.display()
    )?;
    let wall_now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for host in demo_hosts() {
        let slot = host_slot(
            host.id,
            &format!("host{}.lab", host.id),
            &host.status,
            host.state,
            host.lease,
            wall_now_unix,
        )?;
        MetadataStore::open(&path, timeout).write_slot(host.id, &slot)?;
        writeln!(
            out,
            "host{}.lab wrote slot {} ({}, lease {})",
            host.id,
            host.id,
            host.state,
            host.lease.kind.as_str()
        )?;
    }
    let mut global = GlobalBlock::new();
    global.set_maintenance(false);
    MetadataStore::open(&path, timeout).write_slot(0, &*global.encode()?)?;
    writeln!(out, "\nOne read of the whole area, decoded slot by slot:")?;
    dump_volume(&path, DumpFormat::Text, timeout, out)
}
