//! `hosted-engine --vm-status`: the reference's text and JSON byte for byte
//! (`docs/compat.md` section 7), from the local agent and, with the
//! agent down, from the shared storage; the table and `--explain`.
//!
//! The expected outputs are written out by hand from section 7's rules (the
//! first host block is section 7's own example, verbatim).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hosted_engine::metadata::{
    Extra, GlobalBlock, HostRecord, SLOT_SIZE, decode_area, encode_host_slot,
};
use hosted_engine::proto::{
    self, AgentStatus, HostStatus, LeasePhase, LeasePhaseView, Reply, ReplyFrame, ScoreView,
    StatusReply, Taken,
};
use hosted_engine::shell::store::{MetadataStore, init_volume};
use std::time::Duration;

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
const IO: Duration = Duration::from_secs(5);

/// Section 7's example host, as its agent published it.
const EXAMPLE_EXTRA: &str = "metadata_parse_version=1
metadata_feature_version=1
timestamp=5555 (Mon Mar  9 10:15:42 2026)
host-id=1
score=3400
vm_conf_refresh_time=5500 (Mon Mar  9 10:14:47 2026)
conf_on_shared_storage=True
maintenance=False
state=EngineUp
stopped=False
";

const EXAMPLE_BLOCK: &str = "

--== Host host1.example.com (id: 1) status ==--

Host ID                            : 1
Host timestamp                     : 5555
Score                              : 3400
Engine status                      : {\"vm\": \"up\", \"health\": \"good\", \"detail\": \"Up\"}
Hostname                           : host1.example.com
Local maintenance                  : False
stopped                            : False
crc32                              : cc739fec
conf_on_shared_storage             : True
local_conf_timestamp               : 5500
Status up-to-date                  : True
Extra metadata (valid at timestamp):
\tmetadata_parse_version=1
\tmetadata_feature_version=1
\ttimestamp=5555 (Mon Mar  9 10:15:42 2026)
\thost-id=1
\tscore=3400
\tvm_conf_refresh_time=5500 (Mon Mar  9 10:14:47 2026)
\tconf_on_shared_storage=True
\tmaintenance=False
\tstate=EngineUp
\tstopped=False
";

/// Host 2 of the second reference CRC vector, down on its host, stale.
const HOST2_EXTRA: &str = "metadata_parse_version=1
metadata_feature_version=1
timestamp=15253 (Mon Mar  6 21:29:16 2023)
host-id=2
score=3400
vm_conf_refresh_time=15253 (Mon Mar  6 21:29:16 2023)
conf_on_shared_storage=True
maintenance=False
state=EngineDown
stopped=False
";

const HOST2_STALE_BLOCK: &str = "

--== Host on20-host01 (id: 2) status ==--

Host ID                            : 2
Host timestamp                     : 15253
Score                              : 3400
Engine status                      : unknown stale-data
Hostname                           : on20-host01
Local maintenance                  : False
stopped                            : False
crc32                              : 231e0e5c
conf_on_shared_storage             : True
local_conf_timestamp               : 15253
Status up-to-date                  : False
Extra metadata (valid at timestamp):
\tmetadata_parse_version=1
\tmetadata_feature_version=1
\ttimestamp=15253 (Mon Mar  6 21:29:16 2023)
\thost-id=2
\tscore=3400
\tvm_conf_refresh_time=15253 (Mon Mar  6 21:29:16 2023)
\tconf_on_shared_storage=True
\tmaintenance=False
\tstate=EngineDown
\tstopped=False
";

fn record(id: u16, ts: u64, engine: &str, hostname: &str, conf_ts: u64) -> HostRecord {
    HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts: ts,
        host_id: id,
        score: 3400,
        engine_status: engine.to_owned(),
        hostname: hostname.to_owned(),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: conf_ts,
    }
}

const UP: &str = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;
const DOWN: &str = r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#;

fn extra_of(text: &str) -> Extra {
    let mut extra = Extra::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap();
        extra.push(k, v);
    }
    extra
}

/// The host's status as an agent reports it: decoded from real slot bytes.
fn host_status(id: u16, rec: &HostRecord, extra: &str, live: bool) -> HostStatus {
    let bytes = encode_host_slot(id, rec, &extra_of(extra)).unwrap();
    let mut area = vec![0u8; SLOT_SIZE * (usize::from(id) + 1)];
    area[SLOT_SIZE * usize::from(id)..].copy_from_slice(&bytes[..]);
    let decoded = decode_area(&area);
    let slot = decoded.hosts[&id].as_ref().unwrap();
    HostStatus::from_slot(id, slot, live, Some(0))
}

fn status_reply(hosts: Vec<HostStatus>, global_maintenance: bool) -> StatusReply {
    StatusReply {
        taken: Taken {
            monotonic_ms: 1,
            wall_unix: 1,
        },
        age_ms: 0,
        global_maintenance,
        agent: AgentStatus {
            host_id: 1,
            hostname: "host1.example.com".into(),
            state: "EngineUp".into(),
            score: ScoreView {
                score: 3400,
                base: 3400,
                penalties: Vec::new(),
                zero_reason: None,
                summary: "3400 = 3400".into(),
            },
            lease: LeasePhaseView {
                phase: LeasePhase::Holding,
                epoch: 3,
                last_renewal_ms: Some(1),
            },
            has_history: true,
            adopted: true,
            lease_timings_mismatch: None,
        },
        hosts,
        unreadable: Vec::new(),
        more_from: None,
        storage_trouble: None,
        global_unreadable: None,
    }
}

/// A deployed host's configuration under `dir`, its metadata volume at
/// `dir/volume`.
fn deploy(dir: &Path) -> PathBuf {
    let volume = dir.join("volume");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(
        dir.join("hosted-engine.conf"),
        format!(
            "fqdn=engine.invalid\nvmid=3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41\nhost_id=1\n\
             storage={}\ndomainType=dir\nmetadata_path={}\nvm_command=/bin/true\n\
             network_test=none\n",
            dir.display(),
            volume.display()
        ),
    )
    .unwrap();
    init_volume(&volume, false, IO).unwrap();
    volume
}

fn hosted_engine(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(HE_BIN);
    cmd.args(args).env("HE_CONFIG_ROOT", dir);
    for var in common::PATH_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HE_CONF", dir.join("hosted-engine.conf"))
        .env("HE_RUNTIME_DIR", dir.join("run"))
        .env("HE_STATE_DIR", dir.join("state"));
    cmd.output().unwrap()
}

/// Answers `count` requests on the agent socket of `dir` with `reply`.
fn fake_agent(dir: &Path, reply: StatusReply, count: usize) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(proto::socket_path(&dir.join("run"))).unwrap();
    // Never wait forever: a client that does not come is a failed test, not
    // a hung one.
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    std::thread::spawn(move || {
        for _ in 0..count {
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(std::time::Instant::now() < deadline, "no client came");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            let mut line = Vec::new();
            BufReader::new(&stream)
                .read_until(b'\n', &mut line)
                .unwrap();
            let frame = proto::parse_request(line.strip_suffix(b"\n").unwrap()).unwrap();
            let answer = ReplyFrame::success(frame.id, Reply::Status(Box::new(reply.clone())));
            (&stream).write_all(&answer.encode()).unwrap();
        }
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn example_and_stale_host2() -> Vec<HostStatus> {
    vec![
        host_status(
            1,
            &record(1, 5555, UP, "host1.example.com", 5500),
            EXAMPLE_EXTRA,
            true,
        ),
        host_status(
            2,
            &record(2, 15253, DOWN, "on20-host01", 15253),
            HOST2_EXTRA,
            false,
        ),
    ]
}

#[test]
fn text_from_the_agent_matches_the_reference_layout() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let agent = fake_agent(
        dir.path(),
        status_reply(example_and_stale_host2(), false),
        1,
    );
    let out = hosted_engine(dir.path(), &["--vm-status"]);
    agent.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{EXAMPLE_BLOCK}{HOST2_STALE_BLOCK}")
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn global_maintenance_banner_before_the_first_host_and_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let hosts = example_and_stale_host2();
    let agent = fake_agent(dir.path(), status_reply(hosts[..1].to_vec(), true), 1);
    let out = hosted_engine(dir.path(), &["--vm-status"]);
    agent.join().unwrap();
    let banner = "\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n\n";
    assert_eq!(
        text(&out.stdout),
        format!("{banner}{EXAMPLE_BLOCK}{banner}")
    );
}

#[test]
fn json_from_the_agent_matches_the_reference_shape() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let agent = fake_agent(dir.path(), status_reply(example_and_stale_host2(), true), 2);
    let expected = concat!(
        r#"{"1": {"host-id": 1, "host-ts": 5555, "score": 3400, "#,
        r#""engine-status": {"vm": "up", "health": "good", "detail": "Up"}, "#,
        r#""hostname": "host1.example.com", "maintenance": false, "stopped": false, "#,
        r#""crc32": "cc739fec", "conf_on_shared_storage": true, "local_conf_timestamp": 5500, "#,
        r#""extra": "metadata_parse_version=1\nmetadata_feature_version=1\n"#,
        r#"timestamp=5555 (Mon Mar  9 10:15:42 2026)\nhost-id=1\nscore=3400\n"#,
        r#"vm_conf_refresh_time=5500 (Mon Mar  9 10:14:47 2026)\nconf_on_shared_storage=True\n"#,
        r#"maintenance=False\nstate=EngineUp\nstopped=False\n", "live-data": true}, "#,
        r#""2": {"host-id": 2, "host-ts": 15253, "score": 3400, "#,
        r#""engine-status": {"vm": "down", "health": "bad", "detail": "unknown", "#,
        r#""reason": "vm not running on this host"}, "#,
        r#""hostname": "on20-host01", "maintenance": false, "stopped": false, "#,
        r#""crc32": "231e0e5c", "conf_on_shared_storage": true, "local_conf_timestamp": 15253, "#,
        r#""extra": "metadata_parse_version=1\nmetadata_feature_version=1\n"#,
        r#"timestamp=15253 (Mon Mar  6 21:29:16 2023)\nhost-id=2\nscore=3400\n"#,
        r#"vm_conf_refresh_time=15253 (Mon Mar  6 21:29:16 2023)\nconf_on_shared_storage=True\n"#,
        r#"maintenance=False\nstate=EngineDown\nstopped=False\n", "live-data": false}, "#,
        r#""global_maintenance": true}"#,
        "\n"
    );
    for args in [
        &["--vm-status", "--json"][..],
        &["--vm-status", "--format=json"],
    ] {
        let out = hosted_engine(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected);
    }
    agent.join().unwrap();
}

/// The three reference CRC vectors' records, as a reference agent wrote them
/// (record only, no extra text), read straight from the storage with the agent
/// down: shown with their CRCs, and stale (a reference agent publishes no wall
/// clock, so freshness cannot be judged). Vectors 1 and 3 are both host 1's:
/// two volumes.
#[test]
fn reference_records_from_the_storage_with_the_agent_down() {
    let v1 = r#"1|1|15233|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|on20-host02|0|0|460020d4|1|15233"#;
    let v2 = r#"1|1|15253|2|3400|{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}|on20-host01|0|0|231e0e5c|1|15253"#;
    let v3 = r#"1|1|10187|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|host1.ovirt.local|0|0|a1c1f3b9|1|10187"#;
    for area in [&[(1u16, v1), (2, v2)][..], &[(1, v3)]] {
        let dir = tempfile::tempdir().unwrap();
        let volume = deploy(dir.path());
        let mut store = MetadataStore::open(&volume, IO);
        for (id, record) in area {
            let mut slot = [0u8; SLOT_SIZE];
            slot[..record.len()].copy_from_slice(record.as_bytes());
            store.write_slot(*id, &slot).unwrap();
        }
        let out = hosted_engine(dir.path(), &["--vm-status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let mut expected = String::new();
        for (id, record) in area {
            let f: Vec<&str> = record.split('|').collect();
            // Section 7's rules applied to the record's fields by hand.
            expected.push_str(&format!(
                "\n\n--== Host {host} (id: {id}) status ==--\n\n\
                 Host ID                            : {id}\n\
                 Host timestamp                     : {ts}\n\
                 Score                              : {score}\n\
                 Engine status                      : unknown stale-data\n\
                 Hostname                           : {host}\n\
                 Local maintenance                  : False\n\
                 stopped                            : False\n\
                 crc32                              : {crc}\n\
                 conf_on_shared_storage             : True\n\
                 local_conf_timestamp               : {conf}\n\
                 Status up-to-date                  : False\n",
                host = f[6],
                ts = f[2],
                score = f[4],
                crc = f[9],
                conf = f[11],
            ));
        }
        assert_eq!(stdout, expected);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("the local agent is not answering"),
            "{stderr}"
        );
        assert!(stderr.contains("publish no wall-clock time"), "{stderr}");

        let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (id, record) in area {
            let f: Vec<&str> = record.split('|').collect();
            let host = &json[id.to_string()];
            assert_eq!(host["crc32"], f[9]);
            assert_eq!(
                host["engine-status"],
                serde_json::from_str::<serde_json::Value>(f[5]).unwrap()
            );
            assert_eq!(host["live-data"], false);
            // No extra text: no `extra` key, as the reference leaves it out.
            assert!(host.get("extra").is_none(), "{host}");
        }
        assert_eq!(json["global_maintenance"], false);
    }
}

/// With the agent down, a host whose published wall-clock time is fresh is
/// live, one whose time is old is stale, and the global flag is read from
/// slot 0.
#[test]
fn agent_down_freshness_from_the_published_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let volume = deploy(dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut store = MetadataStore::open(&volume, IO);
    for (id, wall) in [(1u16, now), (2, now - 3600)] {
        let extra = format!(
            "{}wall-clock={wall}\n",
            EXAMPLE_EXTRA.replace("host-id=1", &format!("host-id={id}"))
        );
        let bytes = encode_host_slot(
            id,
            &record(id, 5555, UP, &format!("h{id}"), 5500),
            &extra_of(&extra),
        )
        .unwrap();
        store.write_slot(id, &bytes).unwrap();
    }
    let mut global = GlobalBlock::new();
    global.set_maintenance(true);
    store.write_slot(0, &global.encode().unwrap()).unwrap();
    let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["1"]["live-data"], true);
    assert_eq!(json["2"]["live-data"], false);
    assert_eq!(json["global_maintenance"], true);
    assert!(text(&out.stderr).contains("not answering"));
}

#[test]
fn table_fits_eighty_columns_and_explain_names_the_next_starter() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let mut hosts = example_and_stale_host2();
    hosts[0].hostname = "a-rather-long-host-name-for-a-table.lab.example.com".into();
    let agent = fake_agent(dir.path(), status_reply(hosts, false), 2);
    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(
        table.contains("EngineUp") && table.contains("stale"),
        "{table}"
    );
    let out = hosted_engine(dir.path(), &["--vm-status", "--explain"]);
    agent.join().unwrap();
    let explained = text(&out.stdout);
    assert!(
        explained.contains("Next start:\n  none: the engine VM runs on host 1"),
        "{explained}"
    );
    assert!(explained.contains("Engine VM lease:\n"), "{explained}");
}

/// The table and `--explain` show each host's watchdog as its slot publishes
/// it: the timeout, or `none`, which they call unfenced; a slot without the
/// key (an older agent, the reference's) says so in --explain. The
/// reference's text and JSON are untouched (the key is in the extra text, as
/// any other).
#[test]
fn table_and_explain_show_an_unfenced_host() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let mut hosts = example_and_stale_host2();
    let fenced = format!("{EXAMPLE_EXTRA}watchdog=16\n");
    hosts[0] = host_status(
        1,
        &record(1, 5555, UP, "host1.example.com", 5500),
        &fenced,
        true,
    );
    let unfenced = HOST2_EXTRA.replace("host-id=2", "host-id=3") + "watchdog=none\n";
    hosts.push(host_status(
        3,
        &record(3, 15253, DOWN, "host3.example.com", 15253),
        &unfenced,
        true,
    ));
    let agent = fake_agent(dir.path(), status_reply(hosts, false), 3);
    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(
        table.ends_with(
            "+\nWatchdog: 16 s (host 1), not published (host 2)\n\
             host 3 (host3.example.com): watchdog: none (unfenced: a hung agent here can run\n  \
             a second engine VM)\n"
        ),
        "{table}"
    );
    assert_eq!(table.matches("unfenced").count(), 1, "{table}");

    let out = hosted_engine(dir.path(), &["--vm-status", "--explain"]);
    let explained = text(&out.stdout);
    for (host, watchdog) in [
        (1, "watchdog: 16 s timeout"),
        (2, "watchdog: not published (an older agent)"),
        (
            3,
            "watchdog: none (unfenced: a hung agent here can run a second engine VM)",
        ),
    ] {
        let block = explained
            .split(&format!("  host {host} ("))
            .nth(1)
            .and_then(|rest| rest.split("\n  host ").next())
            .unwrap_or_default();
        assert!(
            block.contains(&format!("\n    {watchdog}")),
            "host {host}: {explained}"
        );
    }
    // The reference's text shows the key as extra text, nothing more.
    let out = hosted_engine(dir.path(), &["--vm-status"]);
    agent.join().unwrap();
    let reference = text(&out.stdout);
    assert!(reference.contains("\n\twatchdog=none\n"), "{reference}");
    assert!(!reference.contains("unfenced"), "{reference}");
}

/// A host block's extra text: the reference's lines for host `id` in
/// `state`, then ours.
fn extra_with(id: u16, state: &str, stopped: bool, ours: &str) -> String {
    let stopped = if stopped { "True" } else { "False" };
    format!(
        "metadata_parse_version=1\nmetadata_feature_version=1\nhost-id={id}\nscore=3400\n\
         maintenance=False\nstate={state}\nstopped={stopped}\n{ours}"
    )
}

/// What `--explain` says under "Scores:" about host `id`.
fn explained_host(explained: &str, id: u16) -> String {
    explained
        .split(&format!("\n  host {id} ("))
        .nth(1)
        .and_then(|rest| rest.split("\n  host ").next())
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_owned()
}

/// The table's body rows, each cell's wrapped lines joined, without
/// whitespace (a cell wraps in words or, too long, anywhere).
fn table_rows(table: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    // Not on a terminal: ASCII, the header ruled off with `=`.
    let body = table.split_once("=+\n").map_or("", |(_, body)| body);
    for line in body.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.split_whitespace().collect())
            .collect();
        match rows.last_mut() {
            Some(row) if cells[0].is_empty() => {
                for (cell, more) in row.iter_mut().zip(cells) {
                    cell.push_str(&more);
                }
            }
            _ => rows.push(cells),
        }
    }
    rows
}

const TIMINGS_A: &str = "22000/40000/8000/7000";
const TIMINGS_B: &str = "3000/7000/2000/2000";

/// Every lease state the agents know, as the table and `--explain` show it:
/// a holder fencing, a stopped agent whose keeper keeps its lease, a stopped
/// holder without one, an implausible epoch (refused, with the value), a
/// lease state that does not parse, and a host on other lease timings (with
/// both values, and the local agent's claims blocked by it).
#[test]
fn table_and_explain_say_what_the_lease_knows() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let implausible = hosted_engine::metadata::EPOCH_PLAUSIBLE_MAX + 1;
    let timings = |t: &str| format!("lease-timings={t}\n");
    let specs: [(u16, &str, bool, String); 6] = [
        (
            1,
            "EngineForceStop",
            false,
            format!("lease=fencing\nlease-epoch=5\n{}", timings(TIMINGS_A)),
        ),
        (
            2,
            "AgentStopped",
            true,
            format!(
                "lease=held\nlease-epoch=4\n{}lease-keeper=1\n",
                timings(TIMINGS_A)
            ),
        ),
        (
            3,
            "EngineDown",
            false,
            format!("lease=claim\nlease-epoch={implausible}\n"),
        ),
        (
            4,
            "EngineDown",
            false,
            format!("lease=none\nlease-epoch=3\n{}", timings(TIMINGS_B)),
        ),
        (
            5,
            "AgentStopped",
            true,
            "lease=held\nlease-epoch=2\n".to_owned(),
        ),
        (
            6,
            "EngineDown",
            false,
            "lease=taken\nlease-epoch=1\n".to_owned(),
        ),
    ];
    let hosts: Vec<HostStatus> = specs
        .iter()
        .map(|(id, state, stopped, ours)| {
            let mut rec = record(*id, 100, DOWN, &format!("host{id}"), 100);
            rec.stopped = *stopped;
            host_status(*id, &rec, &extra_with(*id, state, *stopped, ours), true)
        })
        .collect();
    let mut reply = status_reply(hosts, false);
    reply.agent.lease_timings_mismatch = Some(proto::TimingsMismatch {
        host_id: 4,
        theirs: TIMINGS_B.into(),
        ours: Some(TIMINGS_A.into()),
    });
    let agent = fake_agent(dir.path(), reply, 2);

    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    let cells: Vec<String> = table_rows(&table)
        .into_iter()
        .map(|row| row[7].clone())
        .collect();
    assert_eq!(
        cells,
        ["fencing5", "held4", "refused", "-", "held2", "?"],
        "{table}"
    );
    // The notes under the table, unwrapped.
    let notes = table.rsplit('┘').next().unwrap().replace("\n  ", " ");
    for expected in [
        "host 1 (host1): lease fencing (epoch 5): giving the lease up while its engine VM is \
         not confirmed down yet; a hold to every other host until it is\n",
        "host 2 (host2): agent stopped, lease kept by its keeper (held, epoch 4)\n",
        &format!(
            "host 3 (host3): implausible lease epoch {implausible} refused (above 281474976710656: \
             not written by a sound agent); "
        ),
        &format!(
            "host 4 (host4): on other lease timings: {TIMINGS_B} against this host's \
             {TIMINGS_A} (lease-fail/lease-dead/settle/claim window in ms): no claims while it \
             is live, until they agree\n"
        ),
        "host 5 (host5): agent stopped with the lease held (epoch 2) and no keeper: it never \
         expires by silence",
        "host 6 (host6): unreadable lease state (lease=taken): ",
    ] {
        assert!(notes.contains(expected), "{expected}\n{table}");
    }
    // Host 3 publishes no lease timings: nothing to compare.
    assert_eq!(notes.matches("other lease timings").count(), 1, "{table}");

    let out = hosted_engine(dir.path(), &["--vm-status", "--explain"]);
    agent.join().unwrap();
    let explained = text(&out.stdout);
    assert!(
        explained_host(&explained, 1).contains("\n    lease fencing (epoch 5): giving"),
        "{explained}"
    );
    assert!(
        explained_host(&explained, 2)
            .contains("\n    agent stopped, lease kept by its keeper (held, epoch 4)"),
        "{explained}"
    );
    assert!(
        explained_host(&explained, 3).contains(&format!(
            "\n    implausible lease epoch {implausible} refused"
        )),
        "{explained}"
    );
    assert!(
        explained_host(&explained, 4).contains(&format!(
            "\n    on other lease timings: {TIMINGS_B} against this host's \
             {TIMINGS_A}"
        )),
        "{explained}"
    );
    let lease = explained
        .split("Engine VM lease:\n")
        .nth(1)
        .unwrap_or_default();
    for expected in [
        "  held by host 1 (host1), epoch 5, fencing: giving it up while its engine VM is not \
         confirmed down yet (a hold until it is)\n",
        "  held by host 2 (host2), epoch 4, kept by its lease keeper (agent stopped)\n",
        &format!("  host 3 (host3): lease state refused (implausible lease-epoch {implausible})\n"),
        "  held by host 5 (host5), epoch 2, its agent stopped with no keeper (never expires by \
         silence)\n",
        "  host 6 (host6): lease state unreadable (lease=taken)\n",
        &format!(
            "  claims: none from this host: host 4 runs on other lease timings ({TIMINGS_B} against this host's {TIMINGS_A}, "
        ),
    ] {
        assert!(lease.contains(expected), "{expected}\n{explained}");
    }
    assert!(
        explained.contains("Next start:\n  none yet: host 1 (host1) is fencing"),
        "{explained}"
    );
}

/// Hosts the local agent has not watched for host_alive_timeout yet (it
/// started recently) are unknown yet in the table and `--explain`, not
/// stale; the reference's text and JSON keep the reference's shapes (stale
/// data, `live-data` false) and stderr says what they mean. An agent that
/// has watched long enough but not this host (the `unknown-yet` field) is
/// read the same way; a host it has watched and lost is stale.
#[test]
fn hosts_not_watched_long_enough_are_unknown_yet_not_stale() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let mut started = status_reply(example_and_stale_host2(), false);
    started.agent.has_history = false;
    let mut flagged = status_reply(example_and_stale_host2(), false);
    flagged.hosts[1].unknown_yet = true;
    for reply in [started, flagged] {
        let agent = fake_agent(dir.path(), reply, 4);
        let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let rows = table_rows(&table);
        assert_eq!(rows[1][4..6], ["unknownyet", "unknown"], "{table}");
        assert!(
            table.replace("\n  ", " ").contains(
                "Unknown yet: host 2 (the local agent has not watched it for host_alive_timeout \
                 yet: neither live nor stale)\n"
            ),
            "{table}"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("has not watched host(s) 2 for host_alive_timeout yet")
                && stderr.contains("unknown yet, neither live nor stale"),
            "{stderr}"
        );

        let out = hosted_engine(dir.path(), &["--vm-status", "--explain"]);
        let explained = text(&out.stdout);
        assert!(
            explained.contains("\n  host 2 (on20-host01, EngineDown, unknown yet): score 3400\n"),
            "{explained}"
        );
        assert!(
            explained_host(&explained, 2).contains("\n    unknown yet: the local agent has not"),
            "{explained}"
        );

        // The reference's shapes, byte for byte.
        let out = hosted_engine(dir.path(), &["--vm-status"]);
        assert_eq!(
            text(&out.stdout),
            format!("{EXAMPLE_BLOCK}{HOST2_STALE_BLOCK}")
        );
        assert!(text(&out.stderr).contains("unknown yet"));
        let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["2"]["live-data"], false);
        assert_eq!(json["2"].as_object().unwrap().len(), 12);
        agent.join().unwrap();
        std::fs::remove_file(proto::socket_path(&dir.path().join("run"))).unwrap();
    }
    // Watched and lost: stale, and no note.
    let agent = fake_agent(
        dir.path(),
        status_reply(example_and_stale_host2(), false),
        1,
    );
    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
    agent.join().unwrap();
    let table = text(&out.stdout);
    assert!(!table.contains("unknown yet"), "{table}");
    assert!(table.contains("stale"), "{table}");
    assert_eq!(text(&out.stderr), "");
}

/// Text read from a slot never reaches the terminal raw: a forged `state=`,
/// `watchdog=` or `score-detail=` with an ESC, an engine status whose reason
/// decodes to one. Each is shown escaped in the text, the table and
/// `--explain`; the JSON escapes them as JSON does.
#[test]
fn control_characters_from_a_slot_are_escaped_in_every_view() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let evil = "\x1b[2J\x1b]0;owned\x07";
    let extra = extra_with(
        2,
        &format!("EngineDown{evil}"),
        false,
        &format!("watchdog=16{evil}\nscore-detail=3400{evil}\nlease=none\nlease-epoch=1\n"),
    );
    let engine =
        r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "x\u001b[31my"}"#;
    let mut hosts = example_and_stale_host2();
    hosts[1] = host_status(
        2,
        &record(2, 15253, engine, "on20-host01", 15253),
        &extra,
        true,
    );
    let agent = fake_agent(dir.path(), status_reply(hosts, false), 4);
    let escaped = "\\u{1b}[2J\\u{1b}]0;owned\\u{7}";
    for (args, expected) in [
        (
            &["--vm-status"][..],
            format!("\tstate=EngineDown{escaped}\n"),
        ),
        (
            &["--vm-status", "--format=table"],
            format!("Watchdog: not published (host 1), 16{escaped} s (host 2)\n"),
        ),
        (
            &["--vm-status", "--explain"],
            format!("    watchdog: 16{escaped} s timeout\n"),
        ),
    ] {
        let out = hosted_engine(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(
            !shown.contains('\x1b') && !shown.contains('\x07'),
            "{args:?}: {shown:?}"
        );
        assert!(
            shown.contains(&expected),
            "{args:?}: {expected:?} in {shown}"
        );
        if args.contains(&"--format=table") {
            let state = &table_rows(&shown)[1][2];
            assert_eq!(*state, format!("EngineDown{escaped}"), "{shown}");
        }
        if args.contains(&"--explain") {
            assert!(shown.contains(&format!("    3400{escaped}\n")), "{shown}");
            assert!(shown.contains("    engine: x\\u{1b}[31my\n"), "{shown}");
        }
    }
    let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
    agent.join().unwrap();
    assert!(!out.stdout.contains(&0x1b));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["2"]["extra"].as_str().unwrap().contains(evil));
}

/// With the agent down, the views judge the lease from the slots
/// themselves: an implausible epoch is refused, and a host on other lease
/// timings than this host's (host 1, `hosted-engine.conf`) is named.
#[test]
fn agent_down_views_judge_the_lease_from_the_slots() {
    let dir = tempfile::tempdir().unwrap();
    let volume = deploy(dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let implausible = hosted_engine::metadata::EPOCH_PLAUSIBLE_MAX + 7;
    let mut store = MetadataStore::open(&volume, IO);
    for (id, ours) in [
        (
            1u16,
            format!("lease=none\nlease-epoch=1\nlease-timings={TIMINGS_A}\n"),
        ),
        (
            2,
            format!("lease=held\nlease-epoch={implausible}\nlease-timings={TIMINGS_B}\n"),
        ),
    ] {
        let extra = extra_with(
            id,
            "EngineDown",
            false,
            &format!("wall-clock={now}\n{ours}"),
        );
        let bytes = encode_host_slot(
            id,
            &record(id, 100, DOWN, &format!("h{id}"), 100),
            &extra_of(&extra),
        )
        .unwrap();
        store.write_slot(id, &bytes).unwrap();
    }
    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let notes = table.replace("\n  ", " ");
    assert!(notes.contains("refused"), "{table}");
    assert!(
        notes.contains(&format!(
            "host 2 (h2): implausible lease epoch {implausible} refused"
        )),
        "{table}"
    );
    assert!(
        notes.contains(&format!(
            "host 2 (h2): on other lease timings: {TIMINGS_B} against this host's {TIMINGS_A}"
        )),
        "{table}"
    );
    let out = hosted_engine(dir.path(), &["--vm-status", "--explain"]);
    let explained = text(&out.stdout);
    // A refused epoch is not taken for the highest one published.
    assert!(
        explained.contains(&format!(
            "Engine VM lease:\n  host 2 (h2): lease state refused (implausible lease-epoch \
             {implausible})\n\n"
        )),
        "{explained}"
    );
}

/// Issue 16: what the status does not know is never silent. With the agent
/// down, a corrupted slot 0 and an unreadable peer slot: the reference's
/// JSON and text keep their shape (`global_maintenance` is there, the host
/// is absent) and stderr says that the flag is unknown and which host is
/// missing; the table and `--explain` say so in their own lines.
#[test]
fn unreadable_slots_and_an_unknown_global_flag_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let volume = deploy(dir.path());
    let mut store = MetadataStore::open(&volume, IO);
    let mut good = [0u8; SLOT_SIZE];
    let v1 = r#"1|1|15233|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|on20-host02|0|0|460020d4|1|15233"#;
    good[..v1.len()].copy_from_slice(v1.as_bytes());
    store.write_slot(1, &good).unwrap();
    let mut torn = good;
    torn[3] = b'9';
    store.write_slot(2, &torn).unwrap();
    store.write_slot(0, &[0xffu8; SLOT_SIZE]).unwrap();
    let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["global_maintenance"], false);
    assert!(json.get("2").is_none());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("hosted-engine: the global maintenance flag is unreadable (slot 0: ")
            && stderr.contains("global maintenance is unknown, shown as False"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hosted-engine: slot 2 is unreadable: ")
            && stderr.contains("host 2 is missing from the status"),
        "{stderr}"
    );
    let text_out = hosted_engine(dir.path(), &["--vm-status"]);
    assert_eq!(
        text(&text_out.stderr),
        stderr,
        "every format says the same on stderr"
    );
    let out = hosted_engine(dir.path(), &["--vm-status", "--format=table", "--explain"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("Global maintenance: unknown (slot 0: ")
            && shown.contains("host 2: slot unreadable ("),
        "{shown}"
    );
    assert!(!shown.contains("Shared storage"), "{shown}");
    assert!(
        shown.contains("\nNot known:\n  Global maintenance: unknown"),
        "{shown}"
    );
}

/// Issue 16: a host whose agent cannot use the shared storage says so on
/// stderr, with since when and the agent's error, in every format, and in
/// the table's and `--explain`'s own lines; the exit code stays 0 (the
/// status shown is what the agent last read).
#[test]
fn a_host_that_lost_its_storage_says_so() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let mut reply = status_reply(example_and_stale_host2(), false);
    let since = common::he::now_unix() - 42;
    reply.storage_trouble = Some(proto::StorageTroubleView {
        since_unix: since,
        for_ms: 42_000,
        error: "reading /srv/he/volume: Input/output error (os error 5)".into(),
    });
    let agent = fake_agent(dir.path(), reply, 3);
    for args in [
        &["--vm-status"][..],
        &["--vm-status", "--json"],
        &["--vm-status", "--format=table", "--explain"],
    ] {
        let out = hosted_engine(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("hosted-engine: this host cannot use the shared storage since ")
                && stderr.contains(
                    " (42 s): reading /srv/he/volume: Input/output error (os error 5); every \
                     host below is as this host last read it"
                ),
            "{args:?}: {stderr}"
        );
        if args.len() == 3 {
            let shown = text(&out.stdout);
            assert!(
                shown.contains("Shared storage: this host cannot use it since ")
                    && shown.contains("\nNot known:\n  Shared storage: "),
                "{shown}"
            );
        }
    }
    agent.join().unwrap();
}

/// Issue 16: `--json` output is always JSON: `--explain` (text) with it is
/// refused with a JSON error, exit 1.
#[test]
fn json_and_explain_together_are_refused_as_json() {
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    for args in [
        &["--vm-status", "--json", "--explain"][..],
        &["--vm-status", "--format=json", "--explain"],
    ] {
        let out = hosted_engine(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&out.stdout)));
        assert!(
            json["error"]
                .as_str()
                .unwrap()
                .contains("--format=table --explain"),
            "{json}"
        );
    }
}

/// Issue 16: on a terminal the table fits the terminal's width and draws its
/// box with line-drawing characters; anywhere else (a pipe, as in the other
/// tests) it is 80 columns of ASCII. Run under a pseudo-terminal of 130
/// columns (`script`), where the long hostname no longer has to break.
#[test]
fn the_table_fits_the_terminal_and_is_ascii_elsewhere() {
    let has_script = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("script").is_file());
    if !common::require("script (package bsdutils)", has_script) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    deploy(dir.path());
    let mut hosts = example_and_stale_host2();
    hosts[0].hostname = "a-rather-long-host-name-for-a-table.lab.example.com".into();
    let agent = fake_agent(dir.path(), status_reply(hosts, false), 2);
    let piped = text(&hosted_engine(dir.path(), &["--vm-status", "--format=table"]).stdout);
    assert!(piped.starts_with("+") && !piped.contains('│'), "{piped}");
    assert!(piped.lines().all(|l| l.chars().count() <= 80), "{piped}");
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("stty cols 130; {HE_BIN} --vm-status --format=table"),
        "/dev/null",
    ])
    .env("HE_CONFIG_ROOT", dir.path());
    for var in common::PATH_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HE_CONF", dir.path().join("hosted-engine.conf"))
        .env("HE_RUNTIME_DIR", dir.path().join("run"))
        .env("HE_STATE_DIR", dir.path().join("state"));
    let out = cmd.output().unwrap();
    agent.join().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(shown.contains('│') && shown.contains('┆'), "{shown}");
    let widest = shown.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest > 80 && widest <= 130, "{widest} columns:\n{shown}");
    // The long hostname fits on one line at this width.
    assert!(
        shown.contains("a-rather-long-host-name-for-a-table.lab.example.com"),
        "{shown}"
    );
}

/// Issue 16: records older writers wrote with fewer fields (7 to 11) show
/// as the reference shows them: only the lines (and JSON keys) of the
/// fields the record has (maintenance from 8 fields, stopped from 9, crc32
/// from 10, conf_on_shared_storage and local_conf_timestamp only with all
/// 12), and no extra block without extra text; nothing else changes.
#[test]
fn records_with_fewer_fields_show_only_what_they_have() {
    let dir = tempfile::tempdir().unwrap();
    let volume = deploy(dir.path());
    let mut store = MetadataStore::open(&volume, IO);
    let up = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;
    let with_crc = |fields: &[&str]| {
        let zeroed: Vec<&str> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| if i == 9 { "00000000" } else { *f })
            .collect();
        let crc = format!("{:08x}", crc32fast::hash(zeroed.join("|").as_bytes()));
        let mut out: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        out[9] = crc;
        out.join("|")
    };
    let records = [
        (1u16, format!("1|1|100|1|3400|{up}|old7")),
        (2, format!("1|1|100|2|3400|{up}|old8|1")),
        (3, format!("1|1|100|3|3400|{up}|old9|0|1")),
        (
            4,
            with_crc(&["1", "1", "100", "4", "3400", up, "old10", "0", "0", "x"]),
        ),
        (
            5,
            with_crc(&[
                "1", "1", "100", "5", "3400", up, "old11", "0", "0", "x", "1",
            ]),
        ),
    ];
    for (id, record) in &records {
        let mut slot = [0u8; SLOT_SIZE];
        slot[..record.len()].copy_from_slice(record.as_bytes());
        store.write_slot(*id, &slot).unwrap();
    }
    let out = hosted_engine(dir.path(), &["--vm-status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let block = |id: u16| -> Vec<String> {
        let start = shown.find(&format!("(id: {id}) status ==--")).unwrap();
        shown[start..]
            .lines()
            .skip(2)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split(" :").next().unwrap().trim_end().to_owned())
            .collect()
    };
    let base = [
        "Host ID",
        "Host timestamp",
        "Score",
        "Engine status",
        "Hostname",
    ];
    let with = |more: &[&str]| -> Vec<String> {
        base.iter()
            .chain(more)
            .chain(&["Status up-to-date"])
            .map(|s| (*s).to_owned())
            .collect()
    };
    assert_eq!(block(1), with(&[]));
    assert_eq!(block(2), with(&["Local maintenance"]));
    assert_eq!(block(3), with(&["Local maintenance", "stopped"]));
    assert_eq!(block(4), with(&["Local maintenance", "stopped", "crc32"]));
    assert_eq!(block(5), with(&["Local maintenance", "stopped", "crc32"]));
    assert!(!shown.contains("Extra metadata"), "{shown}");
    assert!(
        shown.contains("Local maintenance                  : True\n"),
        "{shown}"
    );

    let out = hosted_engine(dir.path(), &["--vm-status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys =
        |id: &str| -> Vec<String> { json[id].as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys("1"),
        [
            "host-id",
            "host-ts",
            "score",
            "engine-status",
            "hostname",
            "live-data"
        ]
    );
    assert_eq!(
        keys("4"),
        [
            "host-id",
            "host-ts",
            "score",
            "engine-status",
            "hostname",
            "maintenance",
            "stopped",
            "crc32",
            "live-data"
        ]
    );
    assert_eq!(json["3"]["stopped"], true);
}
