//! Decoding the whole metadata area (issue: under 2 ms with 250 populated hosts),
//! and reading it from a volume file once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hosted_engine::metadata::{
    AREA_SIZE, ExtraContext, HostRecord, LeaseKind, LeaseState, SLOT_SIZE, StateMetadata,
    build_extra, decode_area, encode_host_slot, store::MetadataStore,
};

fn area_with_hosts(hosts: u16) -> Vec<u8> {
    let mut area = vec![0u8; AREA_SIZE];
    for id in 1..=hosts {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100_000 + u64::from(id),
            host_id: id,
            score: 3400,
            engine_status: r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#.into(),
            hostname: format!("host{id}.example.com"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100_000,
        };
        let ctx = ExtraContext {
            wall_now_unix: 1_780_000_000,
            utc_offset_secs: 0,
            state: StateMetadata {
                maintenance: false,
                state: "EngineDown".into(),
                stopped: false,
                timeout_unix: None,
            },
            lease: Some(LeaseState {
                kind: LeaseKind::None,
                epoch: 3,
            }),
        };
        let slot = encode_host_slot(id, &record, &build_extra(&record, &ctx)).unwrap();
        let start = usize::from(id) * SLOT_SIZE;
        area[start..start + SLOT_SIZE].copy_from_slice(&slot[..]);
    }
    area
}

fn decode(c: &mut Criterion) {
    for hosts in [3u16, 64, 250, 2000] {
        let area = area_with_hosts(hosts);
        assert_eq!(decode_area(&area).hosts.len(), usize::from(hosts));
        c.bench_function(&format!("decode_area/{hosts}_hosts"), |b| {
            b.iter(|| decode_area(black_box(&area)))
        });
    }
}

fn read_and_decode(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("he-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hosted-engine.metadata");
    std::fs::write(&path, area_with_hosts(250)).unwrap();
    let mut store = MetadataStore::open(&path, Duration::from_secs(5));
    c.bench_function("read_and_decode/250_hosts_file", |b| {
        b.iter(|| decode_area(&store.read_area().unwrap()).hosts.len())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, decode, read_and_decode);
criterion_main!(benches);
