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
//! An unprivileged local user (uid 65534 in the socket's group) abuses the
//! holder's control socket in every way at once while root's requests are
//! answered in time and the holder's loop keeps its pace; and plants the
//! lab directory and links under the names of the directories `he-lab`
//! makes in shared temporary space, which no command uses.
//!
//! The other adversaries have their tests beside their subjects (see
//! docs/security.md): the control socket's limits (`tests/control_socket.rs`),
//! SSH servers that misbehave (`tests/cli_remote.rs`), a planted `--dir`
//! (`tests/lab_cluster.rs`), configuration and programs others can change
//! (`tests/config.rs`).

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::XorShift;
use hosted_engine::lab::cluster::{Isolation, Lab, LabOptions, Profile};
use hosted_engine::metadata::{
    EXTRA_SIZE, Extra, HOST_ID_MAX, HostId, HostRecord, LEASE_EPOCH_KEY, LEASE_KEY, RECORD_SIZE,
    SEQ_KEY, SLOT_SIZE, decode_host_slot, encode_host_slot, slot_offset,
};
use hosted_engine::proto::{self, Reply, Request};

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

/// One test at a time: each runs labs, and the loop's pace is measured.
static SERIAL: Mutex<()> = Mutex::new(());

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

/// Runs `command` with no input and its output piped, reading both streams
/// meanwhile (a full pipe must not stall it), for at most `limit`: its exit,
/// stdout and stderr; `None` when it ran longer (it is killed).
fn run_collected(
    command: &mut std::process::Command,
    limit: Duration,
) -> Option<(std::process::ExitStatus, Vec<u8>, Vec<u8>)> {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let collect = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let status = common::wait_or_kill(&mut child, limit)?;
    Some((status, stdout.join().unwrap(), stderr.join().unwrap()))
}

/// Runs `hosted-engine args` as host `id`: exit 0 within the bound, output
/// free of control characters but `\n` and `\t`.
fn status_is_clean(lab: &Lab, id: u16, args: &[&str]) {
    let mut command = lab.command(id, HOSTED_ENGINE).unwrap();
    command.args(args);
    let started = Instant::now();
    let (status, stdout, stderr) = run_collected(&mut command, CLI_BOUND).unwrap_or_else(|| {
        panic!("host{id}: hosted-engine {args:?} still running after {CLI_BOUND:?}")
    });
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
    let _serial = lock(&SERIAL);
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

/// The variable that turns `abuser` into the unprivileged client of
/// `an_unprivileged_user_neither_locks_root_out_nor_slows_the_loop`: the
/// socket it abuses.
const ABUSE_SOCKET_VAR: &str = "HE_ADVERSARY_SOCKET";
/// How long the abuser abuses.
const ABUSE: Duration = Duration::from_secs(20);
/// Bound on one of root's requests while the socket is abused: the server's
/// answers take milliseconds; this leaves room for a loaded CI machine.
const ROOT_BOUND: Duration = Duration::from_secs(3);
/// Bound on the time between two writes of the holder's slot: its loop is
/// 1 s (fast profile) and its lease fails after 3 s without a write.
const PACE_BOUND: Duration = Duration::from_millis(2_500);

/// What the abuser sends as a status request and as a mutating one.
const STATUS_LINE: &[u8] = b"{\"version\":1,\"id\":1,\"request\":{\"kind\":\"status\"}}\n";
const POWEROFF_LINE: &[u8] = b"{\"version\":1,\"id\":2,\"request\":{\"kind\":\"vm-poweroff\"}}\n";

/// The outcome of one reply line: the reply's kind, its error code, or what
/// went wrong reading it.
fn outcome(stream: &mut std::os::unix::net::UnixStream) -> String {
    use std::io::BufRead as _;
    let mut line = Vec::new();
    let read = std::io::BufReader::new(stream).read_until(b'\n', &mut line);
    match (read, serde_json::from_slice::<serde_json::Value>(&line)) {
        (Ok(0), _) => "closed".to_owned(),
        (Err(e), _) => format!("read-error:{:?}", e.kind()),
        (Ok(_), Ok(v)) if v["ok"] == true => format!("ok:{}", v["result"]["kind"]),
        (Ok(_), Ok(v)) => format!("error:{}", v["error"]["code"].as_str().unwrap_or("?")),
        (Ok(_), Err(_)) => "not-json".to_owned(),
    }
}

/// One of the abuser's ways, run until `until`; `tally` counts outcomes.
fn abuse(way: &str, socket: &Path, until: Instant, tally: &Mutex<BTreeMap<String, u64>>) {
    use std::io::Write as _;
    use std::os::unix::net::UnixStream;
    let count = |what: String| *lock(tally).entry(format!("{way}:{what}")).or_default() += 1;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d ^ way.len() as u64);
    while Instant::now() < until {
        let Ok(mut stream) = UnixStream::connect(socket) else {
            count("connect-failed".to_owned());
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(15)));
        match way {
            // As fast as it can: a status, then a power-off, per connection.
            "flood" => {
                for line in [STATUS_LINE, POWEROFF_LINE] {
                    if stream.write_all(line).is_err() {
                        count("write-failed".to_owned());
                        break;
                    }
                    count(outcome(&mut stream));
                }
            }
            // A request a byte at a time, slower than any deadline.
            "drip" => {
                for &byte in STATUS_LINE {
                    if Instant::now() >= until || stream.write_all(&[byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                count(outcome(&mut stream));
            }
            // 5 MiB without a line break.
            "oversized" => {
                let chunk = vec![b'{'; 64 * 1024];
                for _ in 0..80 {
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                }
                count(outcome(&mut stream));
            }
            // Lines that are not requests.
            "malformed" => {
                let deep = format!("{}\n", "[".repeat(60_000));
                let random: Vec<u8> = (0..1000)
                    .map(|_| rng.next() as u8)
                    .filter(|&b| b != b'\n')
                    .chain([b'\n'])
                    .collect();
                let lines: [&[u8]; 6] = [
                    deep.as_bytes(),
                    &random,
                    b"\xff\xfe\x00\x01\n",
                    b"{\"version\":99,\"id\":1,\"request\":{\"kind\":\"status\"}}\n",
                    b"{\"version\":1,\"id\":1,\"request\":{\"kind\":\"vm-explode\"}}\n",
                    b"{\"version\":1,\"id\":1,\"request\":{\"kind\":\"status\",\"from-host\":-1}}\n",
                ];
                for line in lines {
                    if stream.write_all(line).is_err() {
                        count("write-failed".to_owned());
                        break;
                    }
                    let got = outcome(&mut stream);
                    let closed = got == "closed" || got.starts_with("read-error");
                    count(got);
                    if closed {
                        break;
                    }
                }
            }
            // A connection held without a word until the server ends it.
            _ => count(outcome(&mut stream)),
        }
    }
}

/// Whether this runs as root (else, outside CI, the test skips naming `why`).
fn as_root(why: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    common::require(why, unsafe { libc::geteuid() } == 0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Not a test: the unprivileged client of
/// `an_unprivileged_user_neither_locks_root_out_nor_slows_the_loop`, run in
/// a child process as uid 65534. Without its variable it does nothing.
/// Prints one `RESULT way:outcome=count` line per outcome.
#[test]
#[ignore = "helper run by an_unprivileged_user_neither_locks_root_out_nor_slows_the_loop"]
fn abuser() {
    let Some(socket) = std::env::var_os(ABUSE_SOCKET_VAR) else {
        return;
    };
    let socket = std::path::PathBuf::from(socket);
    let until = Instant::now() + ABUSE;
    let tally = Mutex::new(BTreeMap::new());
    let ways = [
        "flood",
        "flood",
        "flood",
        "drip",
        "oversized",
        "malformed",
        "hold",
        "hold",
    ];
    std::thread::scope(|scope| {
        for way in ways {
            let (socket, tally) = (&socket, &tally);
            scope.spawn(move || abuse(way, socket, until, tally));
        }
    });
    for (what, n) in lock(&tally).iter() {
        println!("RESULT {what}={n}");
    }
}

/// The holder's write sequence as its slot on `volume` says now.
fn slot_seq(volume: &Path, id: HostId) -> Option<u64> {
    let file = std::fs::File::open(volume).ok()?;
    let mut bytes = vec![0; SLOT_SIZE];
    file.read_exact_at(&mut bytes, slot_offset(id)).ok()?;
    decode_host_slot(id, &bytes).ok()??.extra.seq()
}

/// Polls host `id`'s slot until `until` and returns the longest time
/// between two changes of its write sequence.
fn longest_write_gap(volume: &Path, id: HostId, until: Instant) -> Duration {
    let (mut last, mut seen_at) = (slot_seq(volume, id), Instant::now());
    let mut longest = Duration::ZERO;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        let seq = slot_seq(volume, id);
        if seq != last {
            longest = longest.max(seen_at.elapsed());
            (last, seen_at) = (seq, Instant::now());
        }
    }
    longest.max(seen_at.elapsed())
}

/// Issue 14: an unprivileged local user in the socket's group floods the
/// holder's control socket (status and power-off requests as fast as it can
/// on three threads), drips a request a byte at a time, sends 5 MiB without
/// a line break and lines that are not requests, and holds connections
/// silently, for 20 s. Meanwhile root's status requests, `--vm-status` and
/// `--set-maintenance` are answered within their bound, the holder's HA loop
/// writes its slot at its pace, and the engine stays where it is: none of the
/// user's power-offs got through.
#[test]
fn an_unprivileged_user_neither_locks_root_out_nor_slows_the_loop() {
    let _serial = lock(&SERIAL);
    if !as_root("root (to run a client as uid 65534)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::up(
        &LabOptions::new(LAB_HOSTS, dir.path().join("lab"))
            .isolation(Isolation::None)
            .profile(Profile::Fast)
            .binaries(LAB, AGENT),
    )
    .unwrap();
    let truth = lab
        .wait_until("one healthy engine", ENGINE_UP, |t| {
            t.single_engine_host().is_some_and(|host| {
                lab.agent_status(host)
                    .is_ok_and(|s| s.agent.state == "EngineUp")
            })
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", common::lab::logs(&lab, 4000)));
    let holder = truth.single_engine_host().unwrap();
    let socket = lab.spec().agent_socket(holder);
    // The way to the socket must let its group through (as /run's does).
    for way in socket.ancestors().skip(1) {
        if way == dir.path().parent().unwrap() {
            break;
        }
        let mode = std::fs::metadata(way).unwrap().permissions().mode();
        std::fs::set_permissions(way, std::fs::Permissions::from_mode(mode | 0o010)).unwrap();
    }
    let volume = lab.spec().volume();
    let before = longest_write_gap(&volume, holder, Instant::now() + Duration::from_secs(5));
    let mut child = common::as_nobody(dir.path(), "abuser")
        .env(ABUSE_SOCKET_VAR, &socket)
        .spawn()
        .expect("running the test binary as uid 65534");
    let until = Instant::now() + ABUSE;
    let pace = std::thread::spawn({
        let volume = volume.clone();
        move || longest_write_gap(&volume, holder, until)
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut slowest = Duration::ZERO;
    let mut round = 0;
    while Instant::now() + Duration::from_secs(2) < until {
        let started = Instant::now();
        let reply = proto::call(&socket, &Request::STATUS, ROOT_BOUND);
        assert!(
            matches!(reply, Ok(Reply::Status(_))),
            "root's status request: {reply:?}"
        );
        slowest = slowest.max(started.elapsed());
        round += 1;
        if round % 5 == 0 {
            for args in [
                &["--vm-status", "--json"][..],
                &["--set-maintenance", "--mode=none"],
            ] {
                let started = Instant::now();
                let out = lab
                    .command(holder, HOSTED_ENGINE)
                    .unwrap()
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "root's hosted-engine {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let took = started.elapsed();
                assert!(
                    took < ROOT_BOUND,
                    "root's hosted-engine {args:?} took {took:?}"
                );
                slowest = slowest.max(took);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let during = pace.join().unwrap();
    let status = common::wait_or_kill(&mut child, ABUSE + Duration::from_secs(30))
        .expect("the abuser outlived its time");
    let out = child.wait_with_output().unwrap();
    let results = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.success(),
        "abuser: {results}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "abuse against host{holder}:\n{results}root: {round} status requests, slowest answer \
         {slowest:?}; longest time between the holder's writes {before:?} before, {during:?} \
         during"
    );
    assert!(
        !results.contains(":ok:\"vm-poweroff\""),
        "an unprivileged power-off got through:\n{results}"
    );
    assert!(results.contains("flood:error:forbidden"), "{results}");
    assert!(
        during <= PACE_BOUND,
        "the holder's loop lost its pace: {during:?} between writes"
    );
    let t = lab.ground_truth();
    assert_eq!(
        (t.single_engine_host(), t.payload_count()),
        (Some(holder), 1)
    );
    assert_eq!(lab.agent_status(holder).unwrap().agent.state, "EngineUp");
    let report = lab.canary_check().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.boots.len(), 1, "the engine booted again: {report}");
    lab.down().unwrap();
}

/// Every entry of `dir`: its name and, for a symbolic link, its target.
fn entries(dir: &Path) -> BTreeMap<String, Option<std::path::PathBuf>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_link(&path).ok())
        })
        .collect()
}

/// Runs `he-lab args` with `env`, `HE_LAB_DIR` unset; its exit and output.
fn he_lab(args: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let mut command = std::process::Command::new(LAB);
    command.args(args).env_remove("HE_LAB_DIR");
    for (key, value) in env {
        command.env(key, value);
    }
    let (status, stdout, stderr) = run_collected(&mut command, Duration::from_secs(180))
        .unwrap_or_else(|| panic!("he-lab {args:?} still running after 180 s"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), output)
}

/// Issue 14: another user plants what `he-lab` could use in shared temporary
/// space (a sticky directory every user may write, as /tmp): the default lab
/// directory (`$XDG_RUNTIME_DIR/he-lab`, as /tmp/he-lab-<uid> without it) as
/// a symbolic link to a directory of root's and as a directory of their own,
/// and symbolic links under every name the commands that make their own
/// directory in `$TMPDIR` (`demo`, `bench-failover`, `volume demo`) use or
/// once used. Every lab verb refuses the planted lab directory and changes
/// nothing in it or behind it (`down` least of all); the other commands run
/// as usual in fresh directories of their own, remove them, and leave every
/// planted entry and the directory they point to as they were.
#[test]
fn planted_temporary_directories_and_links_are_never_used() {
    let _serial = lock(&SERIAL);
    if !as_root("root (to plant files as another user)") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let shared = base.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = base.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"root's\n").unwrap();
    let plant = |name: &str| {
        let path = shared.join(name);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        std::os::unix::fs::lchown(&path, Some(common::NOBODY), Some(common::NOBODY)).unwrap();
    };
    plant("he-lab");
    let pid = std::process::id();
    for prefix in ["he-lab-demo", "he-lab-bench"] {
        plant(prefix);
        for n in pid..pid + 500 {
            plant(&format!("{prefix}-{n}"));
        }
    }
    let victim_before = entries(&victim);
    let xdg = [("XDG_RUNTIME_DIR", shared.as_path())];
    let lab_verbs: [&[&str]; 5] = [
        &["up", "--hosts", "1", "--isolation", "none"],
        &["status"],
        &["heal"],
        &["fault", "vm-kill"],
        &["down"],
    ];
    let lab_dir = shared.join("he-lab");
    for planted in ["a link", "a directory"] {
        if planted == "a directory" {
            std::fs::remove_file(&lab_dir).unwrap();
            std::fs::create_dir(&lab_dir).unwrap();
            std::fs::set_permissions(&lab_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::lchown(&lab_dir, Some(common::NOBODY), Some(common::NOBODY))
                .unwrap();
        }
        for args in lab_verbs {
            let (ok, output) = he_lab(args, &xdg);
            assert!(
                !ok,
                "he-lab {args:?} used {planted} another user planted:\n{output}"
            );
            assert!(
                output.contains(&lab_dir.display().to_string()),
                "he-lab {args:?} does not name the directory:\n{output}"
            );
            eprintln!("he-lab {args:?} refused {planted}: {}", output.trim());
        }
        assert_eq!(entries(&victim), victim_before, "behind {planted}");
    }
    assert!(entries(&lab_dir).is_empty());
    let planted = entries(&shared);
    let tmpdir = [("TMPDIR", shared.as_path())];
    let own_dirs: [&[&str]; 3] = [
        &["volume", "demo"],
        &["demo"],
        &[
            "bench-failover",
            "--cases",
            "1",
            "--runs",
            "1",
            "--isolation",
            "none",
        ],
    ];
    for args in own_dirs {
        let (ok, output) = he_lab(args, &tmpdir);
        assert!(ok, "he-lab {args:?}:\n{output}");
        assert_eq!(
            entries(&shared),
            planted,
            "he-lab {args:?} left or changed entries"
        );
        assert_eq!(
            entries(&victim),
            victim_before,
            "he-lab {args:?} wrote behind a link"
        );
    }
}
