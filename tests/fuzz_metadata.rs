//! A seeded mutational fuzzer for the slot decoder.
//!
//! cargo-fuzz needs a nightly toolchain, which this project's machines do not have;
//! this runs on stable in the ordinary test suite. It starts from valid slots and
//! mutates them (byte flips, NULs, field separators, digits, truncation), and in a
//! quarter of the cases repairs the record's CRC afterwards so that the fuzzer gets
//! past the checksum into the field parsers. Nothing may panic, and a slot that
//! decodes must describe the host of its slot index and pass the encoder's
//! validation.
//!
//! `HE_FUZZ_ITERATIONS` sets the number of cases (default 100 000);
//! `HE_FUZZ_SEED` replays one seed.

mod common;

use common::XorShift;
use hosted_engine::metadata::{
    Extra, GlobalBlock, HOST_ID_MAX, HostRecord, LEASE_EPOCH_KEY, LEASE_KEY, RECORD_SIZE,
    SLOT_SIZE, decode_area, decode_host_slot, encode_host_slot,
};

fn valid_slot(rng: &mut XorShift, id: u16) -> Vec<u8> {
    let record = HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts: rng.next() % 1_000_000,
        host_id: id,
        score: (rng.next() % 3401) as u32,
        engine_status:
            r#"{"vm": "up", "health": "bad", "detail": "Paused", "reason": "bad vm status"}"#.into(),
        hostname: format!("host-{}.example", rng.next() % 1000),
        local_maintenance: rng.next().is_multiple_of(2),
        stopped: rng.next().is_multiple_of(2),
        conf_on_shared_storage: true,
        vm_conf_refresh_time: rng.next() % 1_000_000,
    };
    let mut extra = Extra::new();
    extra.push("state", "EngineUp");
    extra.push(LEASE_KEY, ["none", "claim", "held"][rng.below(3)]);
    extra.push(LEASE_EPOCH_KEY, (rng.next() % 100).to_string());
    encode_host_slot(id, &record, &extra).unwrap().to_vec()
}

/// Recomputes field 9 of a mutated record so that the CRC check passes.
fn repair_crc(slot: &mut [u8]) {
    let limit = slot.len().min(RECORD_SIZE);
    let end = slot[..limit].iter().position(|&b| b == 0).unwrap_or(limit);
    let Ok(text) = std::str::from_utf8(&slot[..end]) else {
        return;
    };
    let mut fields: Vec<String> = text.split('|').map(str::to_owned).collect();
    if fields.len() < 10 {
        return;
    }
    fields[9] = "00000000".into();
    let crc = crc32fast::hash(fields.join("|").as_bytes());
    fields[9] = format!("{crc:08x}");
    let repaired = fields.join("|");
    if repaired.len() == end {
        slot[..end].copy_from_slice(repaired.as_bytes());
    }
}

fn mutate(rng: &mut XorShift, slot: &mut Vec<u8>) {
    const INTERESTING: &[u8] = b"|=\n\x0019-+ {}\"\\\xff\xc3\x80";
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(slot.len().max(1));
        match rng.below(6) {
            0 => slot[at] ^= 1 << rng.below(8),
            1 => slot[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => slot[at] = rng.next() as u8,
            3 => slot[at] = 0,
            4 => slot.truncate(at.max(1)),
            _ => {
                // Zero a "sector" as a lost write would.
                let start = at / 512 * 512;
                let end = (start + 512).min(slot.len());
                slot[start..end].fill(0);
            }
        }
        if slot.is_empty() {
            slot.push(b'1');
        }
    }
    if rng.below(4) == 0 {
        repair_crc(slot);
    }
}

fn run_seed(seed: u64) {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let id = 1 + rng.below(usize::from(HOST_ID_MAX)) as u16;
    let mut slot = valid_slot(&mut rng, id);
    mutate(&mut rng, &mut slot);
    let outcome = std::panic::catch_unwind(|| {
        if let Ok(Some(host)) = decode_host_slot(id, &slot) {
            assert_eq!(host.record.host_id, id, "decoded a record of another slot");
            // What decodes is what our encoder would write: never text it refuses.
            host.record.validate().expect("decoded record is writable");
            let _ = host.extra.lease();
            let _ = host.engine_status();
        }
        let _ = GlobalBlock::decode(&slot).map(|g| g.maintenance());
        let mut area = vec![0u8; 3 * SLOT_SIZE];
        let n = slot.len().min(SLOT_SIZE);
        area[SLOT_SIZE..SLOT_SIZE + n].copy_from_slice(&slot[..n]);
        let _ = decode_area(&area[..SLOT_SIZE + n]);
    });
    if outcome.is_err() {
        panic!(
            "slot decoder failed on seed {seed}\nreproduce: HE_FUZZ_SEED={seed} cargo test --test fuzz_metadata"
        );
    }
}

#[test]
fn mutated_slots_never_panic_the_decoder() {
    if let Ok(seed) = std::env::var("HE_FUZZ_SEED") {
        run_seed(seed.parse().expect("HE_FUZZ_SEED is a number"));
        return;
    }
    let iterations: u64 = std::env::var("HE_FUZZ_ITERATIONS")
        .ok()
        .map(|v| v.parse().expect("HE_FUZZ_ITERATIONS is a number"))
        .unwrap_or(100_000);
    for seed in 0..iterations {
        run_seed(seed);
    }
}

#[test]
fn crc_repair_reaches_the_field_parsers() {
    // The fuzzer is only worth its time if repaired slots get past the checksum:
    // check that a fair share of cases decode or fail *after* the CRC check.
    let mut past_crc = 0;
    for seed in 0..2000u64 {
        let mut rng = XorShift(seed | 1);
        let mut slot = valid_slot(&mut rng, 1);
        slot[20] = b'7';
        repair_crc(&mut slot);
        match decode_host_slot(1, &slot) {
            Err(hosted_engine::metadata::SlotError::CrcMismatch { .. }) => {}
            _ => past_crc += 1,
        }
    }
    assert!(past_crc > 1900, "only {past_crc} of 2000 got past the CRC");
}
