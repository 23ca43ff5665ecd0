//! Shared by the benchmarks: a metadata area populated like a real cluster's.

use hosted_engine::metadata::{
    AREA_SIZE, ExtraContext, HostRecord, LeaseKind, LeaseState, SLOT_SIZE, StateMetadata,
    build_extra, encode_host_slot,
};

/// An area whose hosts `first..=last` are sealed EngineDown slots with a lease
/// state; `host_ts_base + id` is each host's heartbeat.
pub fn area_with_hosts(first: u16, last: u16, host_ts_base: u64) -> Vec<u8> {
    let mut area = vec![0u8; AREA_SIZE];
    for id in first..=last {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: host_ts_base + u64::from(id),
            host_id: id,
            score: 3400,
            engine_status: r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#.into(),
            hostname: format!("host{id}.example.com"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 1,
        };
        let ctx = ExtraContext {
            wall_now_unix: 1_790_000_000,
            utc_offset_secs: 0,
            state: StateMetadata {
                maintenance: false,
                state: "EngineDown".into(),
                stopped: false,
                timeout_unix: None,
            },
            lease: Some(LeaseState {
                kind: LeaseKind::None,
                epoch: 1,
            }),
        };
        let slot = encode_host_slot(id, &record, &build_extra(&record, &ctx)).unwrap();
        let start = usize::from(id) * SLOT_SIZE;
        area[start..start + SLOT_SIZE].copy_from_slice(&slot[..]);
    }
    area
}
