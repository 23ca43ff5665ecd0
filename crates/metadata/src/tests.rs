//! Codec tests: the reference vectors, refusals, per-slot errors, and properties.

use std::{
    borrow::ToOwned,
    boxed::Box,
    string::{String, ToString},
    vec::Vec,
};

use proptest::prelude::*;

use super::*;

/// The three verified vectors of `docs/compat.md` section 1:
/// (record with CRC placeholder, expected CRC, host id, host-ts, engine status, hostname).
const VECTORS: [(&str, u32, u16, u64, &str, &str); 3] = [
    (
        r#"1|1|15233|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|on20-host02|0|0|00000000|1|15233"#,
        0x460020d4,
        1,
        15233,
        r#"{"vm": "up", "health": "good", "detail": "Up"}"#,
        "on20-host02",
    ),
    (
        r#"1|1|15253|2|3400|{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}|on20-host01|0|0|00000000|1|15253"#,
        0x231e0e5c,
        2,
        15253,
        r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#,
        "on20-host01",
    ),
    (
        r#"1|1|10187|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|host1.ovirt.local|0|0|00000000|1|10187"#,
        0xa1c1f3b9,
        1,
        10187,
        r#"{"vm": "up", "health": "good", "detail": "Up"}"#,
        "host1.ovirt.local",
    ),
];

fn record(host_id: HostId, host_ts: u64, status: &str, hostname: &str) -> HostRecord {
    HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts,
        host_id,
        score: 3400,
        engine_status: status.to_owned(),
        hostname: hostname.to_owned(),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: host_ts,
    }
}

fn sample_slot(host_id: HostId) -> Box<[u8; SLOT_SIZE]> {
    let rec = record(host_id, 100 + u64::from(host_id), VECTORS[0].4, "host");
    let mut extra = Extra::new();
    extra.push("state", "EngineDown");
    extra.push(LEASE_KEY, "none");
    extra.push(LEASE_EPOCH_KEY, "0");
    encode_host_slot(host_id, &rec, &extra).unwrap()
}

#[test]
fn reference_crc_vectors_reproduce() {
    for (text, crc, ..) in VECTORS {
        assert_eq!(crc32fast::hash(text.as_bytes()), crc, "{text}");
    }
}

#[test]
fn records_built_from_vector_fields_encode_to_the_vector_bytes() {
    for (text, crc, host_id, host_ts, status, hostname) in VECTORS {
        let rec = record(host_id, host_ts, status, hostname);
        assert_eq!(rec.crc32(), crc);
        let expected = text.replace("00000000", &format!("{crc:08x}"));
        assert_eq!(rec.encode().unwrap(), expected);
        // The typed engine status writes the very same JSON bytes.
        assert_eq!(EngineStatus::parse(status).unwrap().to_json(), status);
    }
}

#[test]
fn vector_records_decode_with_their_crc() {
    for (text, crc, host_id, host_ts, status, hostname) in VECTORS {
        let stored = text.replace("00000000", &format!("{crc:08x}"));
        let decoded = decode_record(u32::from(host_id), &stored).unwrap();
        assert_eq!(decoded.crc32, Some(crc));
        assert_eq!(decoded.field_count, 12);
        assert_eq!(decoded.record, record(host_id, host_ts, status, hostname));
    }
}

#[test]
fn older_writers_records_are_read() {
    let seven = r#"1|1|500|3|2400|{"vm": "down", "health": "bad", "detail": "unknown"}|old-host"#;
    let decoded = decode_record(3, seven).unwrap();
    assert_eq!(decoded.field_count, 7);
    assert_eq!(decoded.crc32, None);
    assert_eq!(decoded.record.score, 2400);
    assert!(!decoded.record.local_maintenance);
    let nine = format!("{seven}|1|1");
    let decoded = decode_record(3, &nine).unwrap();
    assert!(decoded.record.local_maintenance && decoded.record.stopped);
    // Ten fields carry a CRC over the ten fields as written.
    let ten_zeroed = format!("{nine}|00000000");
    let crc = crc32fast::hash(ten_zeroed.as_bytes());
    let ten = format!("{nine}|{crc:08x}");
    assert_eq!(decode_record(3, &ten).unwrap().crc32, Some(crc));
    let bad = format!("{nine}|{:08x}", crc ^ 1);
    assert!(matches!(
        decode_record(3, &bad),
        Err(SlotError::CrcMismatch { .. })
    ));
}

#[test]
fn version_checks() {
    let rec = record(1, 5, VECTORS[0].4, "h");
    let text = rec.encode().unwrap();
    let too_new = text.replacen("1|1|", "2|2|", 1);
    assert!(matches!(
        decode_record(1, &too_new),
        Err(SlotError::TooNew { version: 2 })
    ));
    let too_old = text.replacen("1|1|", "0|0|", 1);
    assert!(matches!(
        decode_record(1, &too_old),
        Err(SlotError::TooOld { version: 0 })
    ));
}

/// `fields` joined by `|`, with a correct CRC in field 9 when there is one.
fn record_text_with_crc(fields: &[String]) -> String {
    let mut fields = fields.to_vec();
    if fields.len() > 9 {
        fields[9] = "00000000".into();
        let crc = crc32fast::hash(fields.join("|").as_bytes());
        fields[9] = format!("{crc:08x}");
    }
    fields.join("|")
}

#[test]
fn decode_refuses_text_fields_that_encode_refuses() {
    let good = record(1, 5, VECTORS[0].4, "h");
    let fields: Vec<String> = good
        .encode()
        .unwrap()
        .split('|')
        .map(str::to_owned)
        .collect();
    let with = |index: usize, value: &str| {
        let mut changed = fields.clone();
        changed[index] = value.to_owned();
        record_text_with_crc(&changed)
    };
    for hostname in ["\x1b[2Jevil\nline", "", "tab\there", "h\u{7f}", "héte"] {
        let text = with(6, hostname);
        assert!(
            matches!(
                decode_record(1, &text),
                Err(SlotError::BadField {
                    field: "hostname",
                    ..
                })
            ),
            "{hostname:?} accepted"
        );
    }
    let text = with(5, "{\"vm\": \"up\x1b[31m\"}");
    assert!(matches!(
        decode_record(1, &text),
        Err(SlotError::BadField {
            field: "engine status",
            ..
        })
    ));
    // The error shows the bytes escaped, never raw.
    let err = decode_record(1, &with(6, "\x1b[2Jevil\nline")).unwrap_err();
    assert_eq!(err.to_string(), r#"bad hostname "\u{1b}[2Jevil\nline""#);
    // A record naming host 0 in slot 0 is out of range, not a host.
    let mut zero = fields.clone();
    zero[3] = "0".into();
    assert!(matches!(
        decode_record(0, &record_text_with_crc(&zero)),
        Err(SlotError::BadField {
            field: "host id",
            ..
        })
    ));
    assert_eq!(decode_record(1, &with(6, "h")).unwrap().record, good);
}

#[test]
fn encode_refuses_versions_decode_would_refuse() {
    let good = record(1, 5, VECTORS[0].4, "h");
    for (parse_version, feature_version) in [(2, 2), (2, 1), (0, 0), (1, 0)] {
        let rec = HostRecord {
            parse_version,
            feature_version,
            ..good.clone()
        };
        assert!(
            matches!(rec.validate(), Err(EncodeError::BadVersion { .. })),
            "{parse_version}|{feature_version} accepted"
        );
        assert!(encode_host_slot(1, &rec, &Extra::new()).is_err());
    }
    // A newer feature version with parse version 1 is readable: allowed.
    let newer = HostRecord {
        feature_version: 5,
        ..good.clone()
    };
    let text = newer.encode().unwrap();
    assert_eq!(decode_record(1, &text).unwrap().record, newer);
    let oldest = HostRecord {
        parse_version: 0,
        ..good
    };
    let text = oldest.encode().unwrap();
    assert_eq!(decode_record(1, &text).unwrap().record, oldest);
}

#[test]
fn encode_refuses_what_would_corrupt() {
    let good = record(1, 5, VECTORS[0].4, "h");
    type Expect = fn(&EncodeError) -> bool;
    let cases: Vec<(HostRecord, Expect)> = vec![
        (
            HostRecord {
                hostname: "a|b".into(),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::BadHostname(_)),
        ),
        (
            HostRecord {
                hostname: "tab\there".into(),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::BadHostname(_)),
        ),
        (
            HostRecord {
                hostname: "héte".into(),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::BadHostname(_)),
        ),
        (
            HostRecord {
                hostname: String::new(),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::BadHostname(_)),
        ),
        (
            HostRecord {
                hostname: "h".repeat(480),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::RecordTooLong { .. }),
        ),
        (
            HostRecord {
                host_id: 0,
                ..good.clone()
            },
            |e| matches!(e, EncodeError::HostIdOutOfRange(0)),
        ),
        (
            HostRecord {
                host_id: 2001,
                ..good.clone()
            },
            |e| matches!(e, EncodeError::HostIdOutOfRange(2001)),
        ),
        (
            HostRecord {
                score: 3401,
                ..good.clone()
            },
            |e| matches!(e, EncodeError::ScoreTooHigh(3401)),
        ),
        (
            HostRecord {
                engine_status: "{|}".into(),
                ..good.clone()
            },
            |e| matches!(e, EncodeError::BadEngineStatus(_)),
        ),
    ];
    for (rec, expected) in cases {
        let err = encode_host_slot(rec.host_id.clamp(1, HOST_ID_MAX), &rec, &Extra::new())
            .expect_err(&format!("{rec:?} must be refused"));
        if rec.host_id == 0 || rec.host_id > HOST_ID_MAX {
            assert!(matches!(err, EncodeError::HostIdNotSlot { .. }), "{err}");
            assert!(expected(&rec.encode().unwrap_err()));
        } else {
            assert!(expected(&err), "{err}");
        }
    }
    assert!(matches!(
        encode_host_slot(2, &good, &Extra::new()),
        Err(EncodeError::HostIdNotSlot { record: 1, slot: 2 })
    ));
    assert!(matches!(
        encode_host_slot(0, &good, &Extra::new()),
        Err(EncodeError::HostIdOutOfRange(0))
    ));
}

#[test]
fn encode_refuses_oversized_or_broken_extra() {
    let good = record(1, 5, VECTORS[0].4, "h");
    let mut long = Extra::new();
    long.push("blob", "x".repeat(EXTRA_SIZE));
    assert!(matches!(
        encode_host_slot(1, &good, &long),
        Err(EncodeError::ExtraTooLong { .. })
    ));
    let mut newline = Extra::new();
    newline.push("k", "a\nb");
    assert!(matches!(
        encode_host_slot(1, &good, &newline),
        Err(EncodeError::BadExtraValue { .. })
    ));
    let mut eq_key = Extra::new();
    eq_key.push("a=b", "c");
    assert!(matches!(
        encode_host_slot(1, &good, &eq_key),
        Err(EncodeError::BadExtraKey(_))
    ));
    let mut forged = Extra::new();
    forged.push(EXTRA_CRC_KEY, "00000000");
    assert!(matches!(
        encode_host_slot(1, &good, &forged),
        Err(EncodeError::BadExtraKey(_))
    ));
    // The largest extra that fits is accepted (the checksum line takes 21 bytes).
    let mut fits = Extra::new();
    fits.push("blob", "x".repeat(EXTRA_SIZE - 21 - 6));
    encode_host_slot(1, &good, &fits).unwrap();
}

#[test]
fn reference_extra_layout() {
    let mut rec = record(1, 5555, VECTORS[0].4, "host1.example.com");
    rec.vm_conf_refresh_time = 5500;
    let ctx = ExtraContext {
        wall_now_unix: 1_773_051_342,
        utc_offset_secs: 0,
        state: StateMetadata {
            maintenance: false,
            state: "EngineUp".into(),
            stopped: false,
            timeout_unix: None,
        },
        lease: Some(LeaseState {
            kind: LeaseKind::Held,
            epoch: 4,
        }),
    };
    let extra = build_extra(&rec, &ctx);
    let expected = "metadata_parse_version=1\n\
        metadata_feature_version=1\n\
        timestamp=5555 (Mon Mar  9 10:15:42 2026)\n\
        host-id=1\n\
        score=3400\n\
        vm_conf_refresh_time=5500 (Mon Mar  9 10:14:47 2026)\n\
        conf_on_shared_storage=True\n\
        maintenance=False\n\
        state=EngineUp\n\
        stopped=False\n\
        wall-clock=1773051342\n\
        lease=held\n\
        lease-epoch=4\n";
    assert_eq!(extra.to_text(), expected);
    let slot = encode_host_slot(1, &rec, &extra).unwrap();
    let decoded = decode_host_slot(1, &slot[..]).unwrap().unwrap();
    assert!(decoded.sealed);
    assert_eq!(decoded.extra, extra);
    assert_eq!(decoded.extra.lease().unwrap().unwrap().epoch, 4);
    assert_eq!(decoded.extra.wall_clock(), Some(1_773_051_342));
}

#[test]
fn reference_written_slot_without_seal_reads() {
    let rec = record(4, 77, VECTORS[0].4, "ref-host");
    let mut slot = vec![0u8; SLOT_SIZE];
    let text = rec.encode().unwrap();
    slot[..text.len()].copy_from_slice(text.as_bytes());
    let extra = b"metadata_parse_version=1\nstate=EngineDown\n";
    slot[RECORD_SIZE..RECORD_SIZE + extra.len()].copy_from_slice(extra);
    let decoded = decode_host_slot(4, &slot).unwrap().unwrap();
    assert!(!decoded.sealed);
    assert_eq!(decoded.extra.get("state"), Some("EngineDown"));
    assert_eq!(decoded.extra.lease().unwrap(), None);
}

/// Host `id`'s slot with a valid record and `extra` as the extra bytes.
fn slot_with_extra(id: HostId, extra: &[u8]) -> Vec<u8> {
    let text = record(id, 77, VECTORS[0].4, "ref-host").encode().unwrap();
    let mut slot = vec![0u8; SLOT_SIZE];
    slot[..text.len()].copy_from_slice(text.as_bytes());
    slot[RECORD_SIZE..RECORD_SIZE + extra.len()].copy_from_slice(extra);
    slot
}

#[test]
fn unsealed_text_keeps_lines_without_equals() {
    let text = "metadata_parse_version=1\nsome note\nstate=EngineDown\n\nlast words";
    let decoded = decode_host_slot(4, &slot_with_extra(4, text.as_bytes()))
        .unwrap()
        .unwrap();
    assert!(!decoded.sealed);
    assert_eq!(decoded.extra.get("state"), Some("EngineDown"));
    assert_eq!(
        decoded.extra.raw_lines().collect::<Vec<_>>(),
        ["some note", "", "last words"]
    );
    assert_eq!(decoded.extra.entries().count(), 2);
    // Shown as it was (every line newline-terminated).
    assert_eq!(decoded.extra.to_text(), format!("{text}\n"));
    // Our writer does not write such lines back.
    let rec = record(4, 77, VECTORS[0].4, "ref-host");
    assert!(matches!(
        encode_host_slot(4, &rec, &decoded.extra),
        Err(EncodeError::BadExtraKey(line)) if line == "some note"
    ));
}

#[test]
fn sealed_text_is_read_strictly() {
    let rec = record(4, 77, VECTORS[0].4, "ref-host");
    let record_text = rec.encode().unwrap();
    let seal = |body: &str| {
        let crc = {
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(record_text.as_bytes());
            hasher.update(body.as_bytes());
            hasher.finalize()
        };
        format!("{body}{EXTRA_CRC_KEY}={crc:08x}\n")
    };
    // Correctly sealed: reads.
    let good = seal("state=EngineUp\n");
    let decoded = decode_host_slot(4, &slot_with_extra(4, good.as_bytes()))
        .unwrap()
        .unwrap();
    assert!(decoded.sealed);
    // A line without '=' under a matching seal is still refused.
    let bad = seal("state=EngineUp\nsome note\n");
    assert!(matches!(
        decode_host_slot(4, &slot_with_extra(4, bad.as_bytes())),
        Err(SlotError::BadExtra { line: Some(2), .. })
    ));
    // Our writer ends the seal line with a newline; without it the text is torn.
    let unterminated = good.strip_suffix('\n').unwrap();
    let err = decode_host_slot(4, &slot_with_extra(4, unterminated.as_bytes())).unwrap_err();
    assert!(
        matches!(err, SlotError::BadExtra { line: Some(2), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newline"), "{err}");
}

#[test]
fn torn_slot_is_detected() {
    // New record with the extra text of an older write: the seal no longer matches.
    let old = sample_slot(5);
    let mut newer = record(5, 999, VECTORS[0].4, "host");
    newer.score = 2000;
    let new = encode_host_slot(5, &newer, &Extra::new()).unwrap();
    let mut torn = old.clone();
    torn[..RECORD_SIZE].copy_from_slice(&new[..RECORD_SIZE]);
    assert!(matches!(
        decode_host_slot(5, &torn[..]),
        Err(SlotError::Torn { .. })
    ));
    // A lease state without the seal is refused too.
    let mut unsealed = old.clone();
    let tail = b"lease=held\nlease-epoch=9\n";
    unsealed[RECORD_SIZE..].fill(0);
    unsealed[RECORD_SIZE..RECORD_SIZE + tail.len()].copy_from_slice(tail);
    assert!(matches!(
        decode_host_slot(5, &unsealed[..]),
        Err(SlotError::BadExtra { .. })
    ));
    // A hole of zeros in the middle (a lost sector) is an error, not a short read.
    let mut holed = old.clone();
    holed[RECORD_SIZE + 4..RECORD_SIZE + 8].fill(0);
    assert!(matches!(
        decode_host_slot(5, &holed[..]),
        Err(SlotError::InteriorNul { .. })
    ));
}

#[test]
fn one_bad_slot_never_hides_the_others() {
    let mut area = vec![0u8; AREA_SIZE];
    let mut global = GlobalBlock::new();
    global.set_maintenance(true);
    area[..SLOT_SIZE].copy_from_slice(&global.encode().unwrap()[..]);
    for id in [1u16, 2, 3, 7, 2000] {
        let start = usize::from(id) * SLOT_SIZE;
        area[start..start + SLOT_SIZE].copy_from_slice(&sample_slot(id)[..]);
    }
    area[2 * SLOT_SIZE + 3] = 0xff; // not UTF-8
    area[3 * SLOT_SIZE + 30] ^= 1; // CRC mismatch (a digit of host-ts)
    // Slot 7 holds host 8's record.
    area[7 * SLOT_SIZE..8 * SLOT_SIZE].copy_from_slice(&sample_slot(8)[..]);
    let decoded = decode_area(&area);
    assert!(decoded.global.unwrap().maintenance().unwrap());
    assert_eq!(decoded.hosts.len(), 5);
    assert!(decoded.hosts[&1].is_ok());
    assert!(matches!(decoded.hosts[&2], Err(SlotError::NotUtf8 { .. })));
    assert!(matches!(
        decoded.hosts[&3],
        Err(SlotError::CrcMismatch { .. })
    ));
    assert!(matches!(
        decoded.hosts[&7],
        Err(SlotError::HostIdMismatch { record: 8 })
    ));
    assert!(decoded.hosts[&2000].is_ok());
}

#[test]
fn short_areas_decode_what_they_hold() {
    let slot = sample_slot(1);
    let mut area = vec![0u8; SLOT_SIZE + 100];
    area[SLOT_SIZE..].copy_from_slice(&slot[..100]);
    let decoded = decode_area(&area);
    assert!(matches!(
        decoded.hosts[&1],
        Err(SlotError::Truncated { len: 100 })
    ));
    assert!(decode_area(&[]).hosts.is_empty());
    assert!(decode_area(&[b'm'; 10]).global.is_err());
}

fn arb_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -{{}}~]{{0,{max}}}")).unwrap()
}

fn arb_engine_status() -> impl Strategy<Value = EngineStatus> {
    (
        prop::sample::select(VmStatus::ALL.to_vec()),
        prop::sample::select(Health::ALL.to_vec()),
        any::<String>().prop_map(|s| s.chars().take(20).collect::<String>()),
        prop::option::of("[a-z ]{0,40}"),
    )
        .prop_map(|(vm, health, detail, reason)| EngineStatus {
            vm,
            health,
            detail,
            reason,
        })
}

fn arb_record() -> impl Strategy<Value = HostRecord> {
    (
        (1..=HOST_ID_MAX, any::<u64>(), 0..=SCORE_MAX, any::<u64>()),
        arb_engine_status(),
        "[a-z0-9.-]{1,64}",
        any::<[bool; 3]>(),
    )
        .prop_map(
            |((host_id, host_ts, score, refresh), status, hostname, flags)| HostRecord {
                parse_version: 1,
                feature_version: 1,
                host_ts,
                host_id,
                score,
                engine_status: status.to_json(),
                hostname,
                local_maintenance: flags[0],
                stopped: flags[1],
                conf_on_shared_storage: flags[2],
                vm_conf_refresh_time: refresh,
            },
        )
}

fn arb_extra() -> impl Strategy<Value = Extra> {
    prop::collection::vec(("[a-z_-][ -<>-~]{0,15}", arb_text(40)), 0..30).prop_map(|pairs| {
        let mut extra = Extra::new();
        for (k, v) in pairs {
            if k != EXTRA_CRC_KEY {
                extra.push(k, v);
            }
        }
        extra
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn engine_status_round_trips(status in arb_engine_status()) {
        prop_assert_eq!(EngineStatus::parse(&status.to_json()).unwrap(), status);
    }

    #[test]
    fn valid_slots_round_trip(rec in arb_record(), extra in arb_extra()) {
        match encode_host_slot(rec.host_id, &rec, &extra) {
            Ok(bytes) => {
                let slot = decode_host_slot(rec.host_id, &bytes[..]).unwrap().unwrap();
                prop_assert_eq!(&slot.record, &rec);
                prop_assert_eq!(slot.crc32, Some(rec.crc32()));
                prop_assert_eq!(&slot.extra, &extra);
                prop_assert!(slot.sealed);
            }
            // The only refusal a well-formed record and extra may meet is size.
            Err(EncodeError::ExtraTooLong { .. } | EncodeError::RecordTooLong { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected refusal {}", e),
        }
    }

    #[test]
    fn global_blocks_round_trip(
        pairs in prop::collection::vec(("[a-z_-][ -<>-~]{0,15}", arb_text(40)), 0..20),
    ) {
        let mut block = GlobalBlock::new();
        for (k, v) in &pairs {
            block.set(k, v);
        }
        let bytes = block.encode().unwrap();
        prop_assert_eq!(GlobalBlock::decode(&bytes[..]).unwrap(), block);
    }

    #[test]
    fn arbitrary_slot_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..=SLOT_SIZE), id in 1..=HOST_ID_MAX) {
        let _ = decode_host_slot(id, &bytes);
        let _ = GlobalBlock::decode(&bytes);
    }

    #[test]
    fn mutated_valid_slots_never_panic(
        rec in arb_record(),
        flips in prop::collection::vec((0..SLOT_SIZE, any::<u8>()), 1..8),
    ) {
        let Ok(mut bytes) = encode_host_slot(rec.host_id, &rec, &Extra::new()) else {
            return Ok(());
        };
        for (at, value) in flips {
            bytes[at] = value;
        }
        let _ = decode_host_slot(rec.host_id, &bytes[..]);
    }
}

/// Text for a record field that is sometimes record text and sometimes not.
fn arb_field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_text(30),
        "[^|]{0,30}",
        arb_engine_status().prop_map(|status| status.to_json()),
    ]
}

/// A number as a writer might have stored it, mostly as ours would (small, no
/// leading zeros), sometimes with leading zeros or too many digits.
fn arb_digits(max_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u32..4).prop_map(|n| n.to_string()),
        2 => (0u64..5000).prop_map(|n| n.to_string()),
        1 => proptest::string::string_regex(&format!("[0-9]{{1,{max_len}}}")).unwrap(),
    ]
}

/// Mostly `usual`, sometimes any stored number.
fn arb_mostly(usual: &'static str, max_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(usual.to_owned()), 1 => arb_digits(max_len)]
}

/// Record texts of 7..=13 fields over the field grammar, with a correct CRC
/// when there is a CRC field, so that decoding reaches every field check.
fn arb_record_text() -> impl Strategy<Value = (u32, String)> {
    let flag = || prop_oneof![Just("0".to_owned()), Just("1".to_owned()), arb_digits(3)];
    let fields = (
        (arb_mostly("1", 2), arb_mostly("1", 2), arb_digits(20)),
        (arb_mostly("7", 5), arb_digits(5)),
        (arb_field_text(), arb_field_text()),
        (flag(), flag(), Just(String::new()), flag(), arb_digits(20)),
        arb_digits(3),
        prop_oneof![3 => Just(RECORD_FIELDS), 1 => RECORD_FIELDS_MIN..=RECORD_FIELDS + 1],
    );
    fields.prop_map(
        |((parse, feature, ts), (host_id, score), (status, hostname), tail, future, count)| {
            let (maintenance, stopped, crc, conf, refresh) = tail;
            let mut fields = vec![parse, feature, ts, host_id, score, status, hostname];
            fields.extend([maintenance, stopped, crc, conf, refresh, future]);
            fields.truncate(count);
            (7, record_text_with_crc(&fields))
        },
    )
}

/// Whether `text` is what our encoder writes for these values: numbers without
/// leading zeros, flags 0 or 1.
fn is_canonical(text: &str) -> bool {
    let fields: Vec<&str> = text.split('|').collect();
    let number = |s: &str| s == "0" || !s.starts_with('0');
    let flag = |s: &str| s == "0" || s == "1";
    fields.len() == RECORD_FIELDS
        && [0, 1, 2, 3, 4, 11].iter().all(|&i| number(fields[i]))
        && [7, 8, 10].iter().all(|&i| flag(fields[i]))
}

/// Global block text: lines of every kind (ours, foreign, broken), sometimes
/// long enough to press against the slot size, with or without a final newline.
fn arb_global_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "maintenance=[01tfyn]?",
        "[a-z_-]{1,8}=[ -~]{0,20}",
        "[^\n\0]{0,20}",
        "=[ -~]{0,5}",
        "[a-z]{1,4}=[a-z]{0,1500}",
    ];
    let lines = prop::collection::vec(line, 0..12);
    let text = (lines, any::<bool>()).prop_map(|(lines, final_newline)| {
        let mut text = lines.join("\n");
        if final_newline {
            text.push('\n');
        }
        text.into_bytes()
    });
    prop_oneof![
        4 => text,
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// The non-blank lines of a block's text without its first maintenance entry,
/// and where that entry was.
fn other_lines(text: &str) -> (Vec<&str>, Option<usize>) {
    let mut lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
    let at = lines.iter().position(|l| {
        l.split_once('=')
            .is_some_and(|(k, _)| k == GLOBAL_MAINTENANCE_KEY)
    });
    if let Some(at) = at {
        lines.remove(at);
    }
    (lines, at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_decoded_global_block_takes_maintenance(text in arb_global_text(), on in any::<bool>()) {
        let mut slot = [0u8; SLOT_SIZE];
        let len = text.len().min(SLOT_SIZE);
        slot[..len].copy_from_slice(&text[..len]);
        let Ok(mut block) = GlobalBlock::decode(&slot) else {
            return Ok(());
        };
        block.set_maintenance(on);
        let encoded = block.encode();
        prop_assert!(encoded.is_ok(), "{:?}", encoded.err());
        let encoded = encoded.unwrap();
        let again = GlobalBlock::decode(&encoded[..]).unwrap();
        prop_assert_eq!(again.maintenance().unwrap(), on);
        let before = std::str::from_utf8(&slot[..len]).unwrap().trim_end_matches('\0');
        let after_len = encoded.iter().position(|&b| b == 0).unwrap_or(SLOT_SIZE);
        let after = std::str::from_utf8(&encoded[..after_len]).unwrap();
        let (old_lines, old_at) = other_lines(before);
        let (new_lines, new_at) = other_lines(after);
        prop_assert_eq!(old_lines, new_lines);
        if old_at.is_some() {
            prop_assert_eq!(old_at, new_at, "the maintenance line moved");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn whatever_decodes_is_writable((slot, text) in arb_record_text()) {
        if let Ok(decoded) = decode_record(slot, &text) {
            prop_assert!(
                decoded.record.validate().is_ok(),
                "decoded {:?} fails validation: {:?}",
                text,
                decoded.record.validate()
            );
            if is_canonical(&text) {
                prop_assert_eq!(decoded.record.encode().unwrap(), text);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn whole_random_areas_never_panic(seed in any::<u64>(), density in 0u8..=255) {
        // A cheap generator keeps 8 MB areas affordable: xorshift bytes, with
        // slots zeroed at random so that both empty and garbage slots occur.
        let mut state = seed | 1;
        let mut area = vec![0u8; AREA_SIZE];
        for chunk in area.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        for slot in area.chunks_mut(SLOT_SIZE) {
            if slot[1] < density {
                slot[0] = 0;
            }
        }
        let decoded = decode_area(&area);
        prop_assert!(decoded.hosts.values().all(|r| r.is_err()));
    }
}

#[test]
fn text_end_finds_the_last_non_nul_byte() {
    for len in 0..40usize {
        for last in 0..len {
            let mut part = vec![0u8; len];
            part[last] = b'x';
            assert_eq!(super::text_end(&part), last + 1, "len {len}, last {last}");
        }
        assert_eq!(super::text_end(&vec![0u8; len]), 0);
    }
}
