//! Decoding the whole metadata area (issue: under 2 ms with 250 populated hosts),
//! and reading it from a volume file once.

#[path = "common.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hosted_engine::metadata::decode_area;
use hosted_engine::shell::store::MetadataStore;

fn decode(c: &mut Criterion) {
    for hosts in [3u16, 64, 250, 2000] {
        let area = common::area_with_hosts(1, hosts, 100_000);
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
    std::fs::write(&path, common::area_with_hosts(1, 250, 100_000)).unwrap();
    let mut store = MetadataStore::open(&path, Duration::from_secs(5));
    c.bench_function("read_and_decode/250_hosts_file", |b| {
        b.iter(|| decode_area(&store.read_area().unwrap()).hosts.len())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, decode, read_and_decode);
criterion_main!(benches);
