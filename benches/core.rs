//! One agent loop step of the pure core in a 250-host cluster (issue: under
//! 50 µs of core time), and simulator throughput.

#[path = "common.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hosted_engine::config::Timings;
use hosted_engine::core::{Agent, CoreConfig, LocalVm, Millis, Observation, Sensors};
use hosted_engine::metadata::decode_area;
use hosted_engine::sim::fuzz::run_seed;

fn step_250(c: &mut Criterion) {
    let cfg = CoreConfig::new(1, "host1.example.com", Timings::default());
    let mut agent = Agent::new(cfg, Millis::from_secs(1000));
    // Two areas whose heartbeats differ, so every step observes 249 changes.
    let areas = [
        decode_area(&common::area_with_hosts(2, 250, 10)),
        decode_area(&common::area_with_hosts(2, 250, 20)),
    ];
    let mut now = Millis::from_secs(1000);
    let mut i = 0usize;
    c.bench_function("core_step/250_hosts", |b| {
        b.iter(|| {
            now = now + 10_000;
            i += 1;
            let obs = Observation {
                now,
                wall_unix: 1_790_000_000,
                utc_offset_secs: 0,
                area: Some(&areas[i % 2]),
                local_vm: LocalVm::NotPresent,
                sensors: Sensors {
                    liveliness_ok: Some(false),
                    gateway_probes_ok: Some(5),
                    bridge_up: Some(true),
                    cpu_load: Some(0.1),
                    free_memory_mib: Some(16_384),
                },
                local_maintenance: false,
                requests: Vec::new(),
                results: Vec::new(),
                fence: None,
            };
            let decision = agent.step(black_box(&obs));
            let actions = agent.after_publish(now, now + 5, true);
            black_box((decision, actions))
        })
    });
}

fn simulator(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    group.bench_function("fuzz_seed_0", |b| b.iter(|| run_seed(black_box(0), None)));
    group.finish();
}

criterion_group!(benches, step_250, simulator);
criterion_main!(benches);
