//! Issue 14's adversarial suite, against real processes: what a broken or
//! malicious writer on the shared storage can do to a live cluster. A
//! three-host lab (isolation none, fast profile) runs its engine while a
//! hostile-slot generator writes into every slot the lab's hosts do not use
//! (4..=2000): records with valid checksums and impossible values, huge and
//! wrapped epochs and write sequences, NULs, bytes that are not UTF-8,
//! control and terminal escape characters, `|` and `=` in values, deeply
//! nested JSON, random bytes, and 1,997 live-looking hosts at maximal size
//! whose heartbeats move. Meanwhile and after:
//!
//! - no agent panics, exits or restarts, and the engine neither moves nor
//!   boots again (the canary shows one boot);
//! - `hosted-engine --vm-status` in every format, and `--explain`, answer in
//!   time on every host, exit 0, and print no control character but the line
//!   break and the tab the reference's layout indents with (a terminal escape
//!   from a slot would reach the operator's screen).
//!
//! The other adversaries have their tests beside their subjects (see
//! docs/security.md): the control socket (`tests/control_socket.rs`), SSH
//! servers that misbehave (`tests/cli_remote.rs`), planted lab directories
//! (`tests/lab_cluster.rs`), configuration others can change (`tests/config.rs`).

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::XorShift;
use hosted_engine::lab::cluster::{Isolation, Lab, LabOptions, Profile};
use hosted_engine::metadata::{
    EXTRA_SIZE, Extra, HOST_ID_MAX, HostId, HostRecord, LEASE_EPOCH_KEY, LEASE_KEY, RECORD_SIZE,
    SEQ_KEY, SLOT_SIZE, encode_host_slot, slot_offset,
};

const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const HOSTED_ENGINE: &str = env!("CARGO_BIN_EXE_hosted-engine");
/// Bound on a cold start electing and booting the engine.
const ENGINE_UP: Duration = Duration::from_secs(120);
/// How long the generator writes.
const ATTACK: Duration = Duration::from_secs(20);
/// Bound on one `hosted-engine` run (its own timeouts are far shorter).
const CLI_BOUND: Duration = Duration::from_secs(30);
/// The lab's hosts; every other slot is the attacker's.
const LAB_HOSTS: u16 = 3;

/// A record with a valid checksum; `engine_status` and `hostname` as given.
/// In local maintenance: a forged host that is valid, live and scores the
/// most would rightly draw the engine to it (the shared storage's writers
/// are trusted with that much, docs/security.md); this suite is about what
/// a writer cannot do.
fn record(id: HostId, host_ts: u64, engine_status: &str, hostname: &str) -> HostRecord {
    HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts,
        host_id: id,
        score: 3400,
        engine_status: engine_status.to_owned(),
        hostname: hostname.to_owned(),
        local_maintenance: true,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: host_ts,
    }
}

/// A valid slot of host `id` whose extra text is `lines`, padded with
/// filler lines to the most the slot holds.
fn maximal(id: HostId, host_ts: u64, engine_status: &str, lines: &[(&str, &str)]) -> Vec<u8> {
    let record = record(
        id,
        host_ts,
        engine_status,
        &format!("host{id}.hostile.example"),
    );
    let with = |fillers: usize| {
        let mut extra = Extra::new();
        for (key, value) in lines {
            extra.push(key, value);
        }
        for n in 0..fillers {
            extra.push(format!("filler{n}"), "x".repeat(60));
        }
        encode_host_slot(id, &record, &extra)
            .map(|b| b.to_vec())
            .ok()
    };
    // The most filler lines that still fit (a binary search: fits(lo), not hi).
    let (mut lo, mut hi) = (0, EXTRA_SIZE / 60 + 1);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if with(mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    with(lo).unwrap_or_else(|| vec![0; SLOT_SIZE])
}

/// One hostile slot for host `id` in round `round`.
fn hostile(rng: &mut XorShift, id: HostId, round: u64) -> Vec<u8> {
    let up = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;
    let ts = round + 1;
    match rng.below(9) {
        // Live-looking, maximal, claiming or holding with absurd epochs.
        0 => maximal(
            id,
            ts,
            up,
            &[
                ("state", "EngineUp"),
                (LEASE_KEY, "held"),
                (LEASE_EPOCH_KEY, "18446744073709551615"),
                (SEQ_KEY, "18446744073709551615"),
                ("lease-epoch-seen", "281474976710657"),
            ],
        ),
        1 => maximal(
            id,
            ts,
            up,
            &[
                (LEASE_KEY, "claim"),
                (LEASE_EPOCH_KEY, "1"),
                ("gateway", "5/5"),
                ("lease-timings", "1/1/1/1"),
            ],
        ),
        // Deeply nested JSON for an engine status.
        2 => {
            let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
            maximal(
                id,
                ts,
                &deep,
                &[(LEASE_KEY, "none"), (LEASE_EPOCH_KEY, "0")],
            )
        }
        // Terminal escapes, control characters, separators in values: the
        // encoder refuses them, so they are written raw over a valid slot.
        3 => {
            let mut bytes = maximal(id, ts, up, &[(LEASE_KEY, "none"), (LEASE_EPOCH_KEY, "0")]);
            let evil = b"state=\x1b[2J\x1b]0;owned\x07|a=b=c\r\n\x00lease=held\n";
            bytes[RECORD_SIZE..RECORD_SIZE + evil.len()].copy_from_slice(evil);
            bytes
        }
        // A record with a valid checksum and control characters in a field.
        4 => {
            let text = format!("1|1|{ts}|{id}|3400|{up}|host\x1b[31mred|0|0|00000000|1|{ts}");
            let mut bytes = vec![0u8; SLOT_SIZE];
            let crc = format!("{:08x}", crc32fast::hash(text.as_bytes()));
            let text = text.replace("00000000", &crc);
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            bytes
        }
        // Bytes that are not UTF-8, NULs inside.
        5 => {
            let mut bytes = maximal(id, ts, up, &[]);
            for i in (RECORD_SIZE..SLOT_SIZE).step_by(7) {
                bytes[i] = 0xff;
            }
            bytes[40] = 0;
            bytes
        }
        // Impossible values under a valid checksum: a score above 3400, a
        // host id not its slot's, a timestamp at the end of time.
        6 => {
            let other = if id == HOST_ID_MAX { id - 1 } else { id + 1 };
            let text = format!("1|1|18446744073709551615|{other}|999999|{up}|x|0|0|00000000|1|0");
            let crc = format!("{:08x}", crc32fast::hash(text.as_bytes()));
            let text = text.replace("00000000", &crc);
            let mut bytes = vec![0u8; SLOT_SIZE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            bytes
        }
        // Random bytes.
        7 => (0..SLOT_SIZE).map(|_| rng.next() as u8).collect(),
        // A `|` and `=` storm in the extra text of a valid record.
        _ => {
            let mut bytes = maximal(id, ts, up, &[(LEASE_KEY, "none")]);
            let storm: Vec<u8> = b"|=".iter().copied().cycle().take(EXTRA_SIZE - 1).collect();
            bytes[RECORD_SIZE..RECORD_SIZE + storm.len()].copy_from_slice(&storm);
            bytes
        }
    }
}

/// Writes one round of hostile slots over every slot but the lab's hosts'.
fn attack(volume: &Path, rng: &mut XorShift, round: u64) {
    let file = OpenOptions::new().write(true).open(volume).unwrap();
    for id in LAB_HOSTS + 1..=HOST_ID_MAX {
        let bytes = hostile(rng, id, round);
        file.write_all_at(&bytes[..SLOT_SIZE.min(bytes.len())], slot_offset(id))
            .unwrap();
    }
    file.sync_data().unwrap();
}

/// Runs `hosted-engine args` as host `id`: exit 0 within the bound, output
/// free of control characters but `\n` and `\t`.
fn status_is_clean(lab: &Lab, id: u16, args: &[&str]) {
    let mut command = lab.command(id, HOSTED_ENGINE).unwrap();
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    // Read both streams meanwhile: a full pipe must not stall the child.
    let collect = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let status = common::wait_or_kill(&mut child, CLI_BOUND).unwrap_or_else(|| {
        panic!("host{id}: hosted-engine {args:?} still running after {CLI_BOUND:?}")
    });
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "host{id}: hosted-engine {args:?}: {status:?}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    for (stream, bytes) in [("stdout", &stdout), ("stderr", &stderr)] {
        let bad = bytes
            .iter()
            .position(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f);
        assert!(
            bad.is_none(),
            "host{id}: hosted-engine {args:?}: control character {:#04x} on {stream} at byte {}",
            bad.map_or(0, |i| bytes[i]),
            bad.unwrap_or(0)
        );
    }
    eprintln!(
        "host{id}: hosted-engine {} ({} bytes) in {:?}",
        args.join(" "),
        stdout.len(),
        started.elapsed()
    );
}

#[test]
fn hostile_slots_change_nothing_in_a_live_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::up(
        &LabOptions::new(LAB_HOSTS, dir.path().join("lab"))
            .isolation(Isolation::None)
            .profile(Profile::Fast)
            .binaries(LAB, AGENT),
    )
    .unwrap();
    // Each agent's state transitions and engine VM lines (its log is full
    // of refused slots).
    let logs = |lab: &Lab| {
        (1..=LAB_HOSTS)
            .map(|id| {
                let lines: Vec<String> = common::lab::agent_log(lab, id)
                    .lines()
                    .filter(|l| l.contains(" -> ") || l.contains("engine VM"))
                    .map(str::to_owned)
                    .collect();
                format!("host{id}:\n{}", lines.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let truth = lab
        .wait_until("one healthy engine", ENGINE_UP, |t| {
            t.single_engine_host().is_some_and(|host| {
                lab.agent_status(host)
                    .is_ok_and(|s| s.agent.state == "EngineUp")
            })
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", logs(&lab)));
    let holder = truth.single_engine_host().unwrap();
    let starts: Vec<u32> = lab
        .view()
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.agent_starts)
        .collect();
    let volume = lab.spec().volume();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let began = Instant::now();
    let mut round = 0;
    while began.elapsed() < ATTACK {
        attack(&volume, &mut rng, round);
        round += 1;
        let t = lab.ground_truth();
        assert_eq!(
            (t.single_engine_host(), t.payload_count()),
            (Some(holder), 1),
            "round {round}: the engine moved or doubled\n{}",
            logs(&lab)
        );
        if round % 4 == 1 {
            status_is_clean(&lab, 1 + (round as u16 % LAB_HOSTS), &["--vm-status"]);
        }
    }
    for id in 1..=LAB_HOSTS {
        for args in [
            &["--vm-status"][..],
            &["--vm-status", "--json"],
            &["--vm-status", "--format=table", "--explain"],
        ] {
            status_is_clean(&lab, id, args);
        }
    }
    let view = lab.view().unwrap();
    let after: Vec<u32> = view.hosts.iter().map(|h| h.agent_starts).collect();
    assert_eq!(
        after,
        starts,
        "an agent exited or restarted\n{}",
        logs(&lab)
    );
    for id in 1..=LAB_HOSTS {
        let log = common::lab::agent_log(&lab, id);
        assert!(!log.contains("panicked"), "host{id} panicked:\n{log}");
    }
    let status = lab.agent_status(holder).unwrap();
    assert_eq!(status.agent.state, "EngineUp", "{}", logs(&lab));
    lab.heal().unwrap();
    let report = lab.canary_check().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.boots.len(), 1, "the engine booted again: {report}");
    eprintln!(
        "{round} rounds of {} hostile slots",
        HOST_ID_MAX - LAB_HOSTS
    );
    lab.down().unwrap();
}
