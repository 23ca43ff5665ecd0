//! `hosted-engine` run as a process on the configuration keys
//! (`--get-shared-config`, `--set-shared-config`: `he_local`, `he_shared`,
//! `ha`, `broker`) and on the metadata housekeeping (`--clean-metadata`,
//! `--reinitialize-lockspace`), with no agent running and the other hosts'
//! slots written directly (see [`common::he::Host::publish`]).

mod common;

use common::he::{Host, now_unix};
use hosted_engine::metadata::{Area, SLOT_SIZE};

#[test]
fn shared_config_round_trips_and_refusals() {
    let host = Host::deployed();
    let get = |args: &[&str]| {
        let mut all = vec!["--get-shared-config"];
        all.extend(args);
        host.he(&all)
    };
    let set = |args: &[&str]| {
        let mut all = vec!["--set-shared-config"];
        all.extend(args);
        host.he(&all)
    };
    // he_local: hosted-engine.conf.
    let ran = get(&["fqdn", "--type=he_local"]);
    assert_eq!(ran.stdout, "fqdn : engine.invalid, type : he_local\n");
    assert_eq!(ran.code, Some(0));
    let ran = set(&["fqdn", "engine2.example", "--type=he_local"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", "")
    );
    assert_eq!(
        get(&["fqdn"]).stdout,
        "fqdn : engine2.example, type : he_local\n"
    );
    assert!(
        std::fs::read_to_string(host.conf())
            .unwrap()
            .contains("fqdn=engine2.example\n")
    );
    // ha: ha.conf, created on first use.
    let ran = set(&["local_maintenance", "True", "--type=ha"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(
        get(&["local_maintenance"]).stdout,
        "local_maintenance : True, type : ha\n"
    );
    // broker: INI, keys as section.key.
    let ran = set(&["email.smtp-server", "mail.example", "--type=broker"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let ran = get(&["email.smtp-server", "--type=broker"]);
    assert_eq!(
        ran.stdout,
        "email.smtp-server : mail.example, type : broker\n"
    );
    let ran = set(&["email.smtp-server", "relay.example"]);
    assert_eq!(ran.code, Some(0), "found without --type: {ran:?}");
    let text = std::fs::read_to_string(host.path("state/broker.conf")).unwrap();
    assert!(
        text.contains("[email]\nsmtp-server=relay.example\n"),
        "{text}"
    );

    // A key in two files (he_shared, the copy beside the metadata volume).
    std::fs::copy(host.conf(), host.path("shared/ha_agent/hosted-engine.conf")).unwrap();
    let ran = get(&["host_id"]);
    assert_eq!(
        ran.stdout,
        "host_id : 1, type : he_local\nhost_id : 1, type : he_shared\n"
    );
    let ran = set(&["host_id", "2"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert!(ran.stderr.starts_with("Duplicate key host_id"), "{ran:?}");
    // Not found.
    let ran = get(&["no_such_key"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert!(
        ran.stderr.starts_with("Key no_such_key not found"),
        "{ran:?}"
    );
    let ran = set(&["no_such_key", "1"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("Key no_such_key not found"),
        "{ran:?}"
    );
    let ran = get(&["fqdn", "--type=bogus"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("Invalid value 'bogus' for --type"),
        "{ran:?}"
    );

    // An invalid value is refused and the file left as it was.
    for (args, file) in [
        (&["host_id", "abc", "--type=he_local"][..], host.conf()),
        (
            &["local_maintenance", "maybe", "--type=ha"],
            host.path("state/ha.conf"),
        ),
        (
            &["email.smtp-port", "abc", "--type=broker"],
            host.path("state/broker.conf"),
        ),
    ] {
        let before = std::fs::read(&file).unwrap();
        let ran = set(args);
        assert_eq!(ran.code, Some(1), "{args:?}: {ran:?}");
        assert!(
            ran.stderr.contains("\"abc\"") || ran.stderr.contains("\"maybe\""),
            "{ran:?}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before, "{args:?}");
    }
}

#[test]
fn clean_metadata_refuses_an_active_host_unless_forced() {
    let host = Host::deployed();
    let now = now_unix();
    host.publish(2, Some(now), false, None); // fresh and running
    host.publish(3, Some(now), true, None); // stopped cleanly
    host.publish(4, Some(now - 3600), false, None); // silent for an hour
    host.publish(5, None, false, None); // publishes no clock: cannot tell
    let clean = |args: &[&str]| {
        let mut all = vec!["--clean-metadata"];
        all.extend(args);
        host.he(&all)
    };
    for id in ["2", "5"] {
        let ran = clean(&[&format!("--host-id={id}")]);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
        assert!(ran.stderr.contains("looks active"), "{ran:?}");
        assert!(ran.stderr.contains("--force-cleanup"), "{ran:?}");
    }
    assert!(host.area().hosts.contains_key(&2));
    let ran = clean(&["--host-id=2", "--force-cleanup"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    for id in ["3", "4"] {
        let ran = clean(&["--host-id", id]);
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
    let area = host.area();
    assert_eq!(area.hosts.keys().copied().collect::<Vec<_>>(), [5]);
    let bytes = host.store().read_area().unwrap();
    assert!(
        bytes[2 * SLOT_SIZE..5 * SLOT_SIZE].iter().all(|&b| b == 0),
        "slots 2 to 4 zeroed"
    );
    // Nothing there: said, not an error. A bad id is refused.
    let ran = clean(&["--host-id=7"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("nothing to clean"), "{ran:?}");
    for bad in ["0", "2001", "abc"] {
        let ran = clean(&[&format!("--host-id={bad}")]);
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(
            ran.stderr
                .starts_with(&format!("Invalid value '{bad}' for --host-id")),
            "{ran:?}"
        );
    }
}

/// Lease states of every slot in the area: (host, kind, epoch).
fn leases(area: &Area) -> Vec<(u16, String, String)> {
    area.hosts
        .iter()
        .map(|(id, slot)| {
            let extra = &slot.as_ref().unwrap().extra;
            let get = |k: &str| extra.get(k).unwrap_or("-").to_owned();
            (*id, get("lease"), get("lease-epoch"))
        })
        .collect()
}

#[test]
fn reinitialize_lockspace_needs_global_maintenance_and_no_active_agent() {
    let host = Host::deployed();
    let now = now_unix();
    host.publish(1, Some(now), true, Some(("held", 7)));
    host.publish(2, Some(now), false, Some(("claim", 8)));
    host.publish(3, None, true, None);
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(
        ran.stderr,
        "Lockfile reset can be performed in global maintenance mode only.\n"
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    host.set_global_maintenance(true);
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(
        ran.stderr,
        "Lockfile reset cannot be performed with an active agent.\n"
    );
    assert_eq!(ran.code, Some(1));
    let before = host.area();
    assert_eq!(
        leases(&before),
        [
            (1, "held".into(), "7".into()),
            (2, "claim".into(), "8".into()),
            (3, "-".into(), "-".into())
        ]
    );
    // --force: every claim cleared, epochs kept, everything else as it was.
    let ran = host.he(&["--reinitialize-lockspace", "--force"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let after = host.area();
    assert_eq!(
        leases(&after),
        [
            (1, "none".into(), "7".into()),
            (2, "none".into(), "8".into()),
            (3, "-".into(), "-".into())
        ]
    );
    for id in [1, 2] {
        let (a, b) = (
            after.hosts[&id].as_ref().unwrap(),
            before.hosts[&id].as_ref().unwrap(),
        );
        assert_eq!(a.record, b.record);
        assert!(a.sealed);
        assert_eq!(a.extra.get("wall-clock"), b.extra.get("wall-clock"));
        assert_eq!(a.extra.get("state"), b.extra.get("state"));
    }
    // Without --force once every agent has stopped (or fallen silent).
    host.publish(2, Some(now - 3600), false, Some(("held", 9)));
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(leases(&host.area())[1], (2, "none".into(), "9".into()));
}

/// Publishes host `id`'s slot, held by a running agent unless `stopped`,
/// with its wall clock `wall` and the extra `lines` after it.
fn publish_with(host: &Host, id: u16, wall: Option<i64>, stopped: bool, lines: &[(&str, &str)]) {
    host.publish(id, wall, stopped, None);
    let mut area = host.area();
    let slot = area.hosts.remove(&id).unwrap().unwrap();
    let mut extra = slot.extra.clone();
    for (key, value) in lines {
        extra.push(*key, *value);
    }
    let bytes = hosted_engine::metadata::encode_host_slot(id, &slot.record, &extra).unwrap();
    host.store().write_slot(id, &bytes).unwrap();
}

/// Issue 13: a slot that claims, holds or fences the engine VM lease is
/// cleaned only after lease-dead of silence (40 s on the defaults), not
/// after host-alive-timeout (12 s): its holder may run its engine VM until
/// lease-fail plus its power-off. A clean stop does not exempt it; a slot
/// that publishes a longer lease-dead gets that; --force-cleanup still
/// cleans (the operator has seen the host powered off).
#[test]
fn clean_metadata_waits_lease_dead_for_a_slot_with_the_lease() {
    let host = Host::deployed();
    let now = now_unix();
    let held = [("lease", "held"), ("lease-epoch", "7")];
    publish_with(&host, 2, Some(now - 20), false, &held);
    publish_with(
        &host,
        3,
        Some(now - 20),
        false,
        &[("lease", "fencing"), ("lease-epoch", "7")],
    );
    publish_with(
        &host,
        4,
        Some(now - 20),
        true,
        &[("lease", "claim"), ("lease-epoch", "8")],
    );
    publish_with(&host, 5, Some(now - 50), false, &held);
    publish_with(&host, 6, None, true, &held);
    let longer = [
        ("lease", "held"),
        ("lease-epoch", "7"),
        ("lease-timings", "30000/60000/15000/15000"),
    ];
    publish_with(&host, 7, Some(now - 50), false, &longer);
    publish_with(
        &host,
        8,
        Some(now - 20),
        false,
        &[("lease", "none"), ("lease-epoch", "7")],
    );
    let clean = |id: u16, force: bool| {
        let id = format!("--host-id={id}");
        let mut args = vec!["--clean-metadata", id.as_str()];
        if force {
            args.push("--force-cleanup");
        }
        host.he(&args)
    };
    for (id, kind, dead) in [
        (2, "held (epoch 7)", 40),
        (3, "fencing (epoch 7)", 40),
        (4, "claim (epoch 8)", 40),
        (7, "held (epoch 7)", 60),
    ] {
        let ran = clean(id, false);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
        for expected in [
            format!(
                "Host {id} (host{id}.example) publishes the engine VM lease as {kind} and has been silent for "
            ),
            " s (by the wall-clock time it published): by the lease-dead rule its slot is cleaned \
             only after "
                .to_owned(),
            format!(
                " {dead} s of silence (lease-dead-secs, the longer of this host's and its own)"
            ),
            "pass --force-cleanup.\n".to_owned(),
        ] {
            assert!(ran.stderr.contains(&expected), "{expected}\n{ran:?}");
        }
        assert!(host.area().hosts.contains_key(&id));
    }
    let ran = clean(6, false);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains(
            "its silence cannot be told (the local agent does not answer (",
        ) && ran.stderr.contains("and the slot carries no wall-clock time)")
            && ran.stderr.ends_with("may still run. If that host (or its engine VM) is powered off, pass --force-cleanup.\n"),
        "{ran:?}"
    );
    // Silent for lease-dead, or holding nothing: cleaned.
    for id in [5, 8] {
        let ran = clean(id, false);
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
    // The operator has seen them powered off.
    for id in [2, 3, 4, 6, 7] {
        let ran = clean(id, true);
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
    assert!(host.area().hosts.is_empty());
}

/// Issue 14/16: the SMTP password is never taken from the command line
/// (every user reads it in `ps`): `-` and the secret on stdin, which lands in
/// broker.conf, made readable by its owner only (saying so), so that the
/// agent, which refuses a secret others can read, uses it.
#[test]
fn the_smtp_password_comes_from_stdin_and_its_file_is_kept_private() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let host = Host::deployed();
    let broker = host.path("state/broker.conf");
    std::fs::create_dir_all(broker.parent().unwrap()).unwrap();
    std::fs::write(
        &broker,
        "[email]\nsmtp-server=mail.example\nsmtp-starttls=true\nsmtp-user=alerts\nsmtp-password=old\n",
    )
    .unwrap();
    std::fs::set_permissions(&broker, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = host.he(&[
        "--set-shared-config",
        "email.smtp-password",
        "hunter2",
        "--type=broker",
    ]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("email.smtp-password is a secret and is not taken from the command line")
            && ran
                .stderr
                .contains("give - as the value and the secret on stdin"),
        "{ran:?}"
    );
    assert!(
        !std::fs::read_to_string(&broker)
            .unwrap()
            .contains("hunter2")
    );
    let with_stdin = |input: &[u8]| -> common::he::Ran {
        let mut child = host
            .command(&[
                "--set-shared-config",
                "email.smtp-password",
                "-",
                "--type=broker",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap().into()
    };
    let ran = with_stdin(b"");
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("nothing on stdin"), "{ran:?}");
    let ran = with_stdin(b"hunter2\n");
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), ""), "{ran:?}");
    assert_eq!(
        ran.stderr,
        format!(
            "hosted-engine: {} holds a secret now: its mode changed from 0644 to 0600\n",
            broker.display()
        )
    );
    let text = std::fs::read_to_string(&broker).unwrap();
    assert!(text.contains("smtp-password=hunter2\n"), "{text}");
    let mode = std::fs::metadata(&broker).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Once private, nothing more to say.
    let ran = with_stdin(b"correct horse\r\n");
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
    assert!(
        std::fs::read_to_string(&broker)
            .unwrap()
            .contains("smtp-password=correct horse\n")
    );
}

/// Writes `events` (seq, unix ms, kind, text) into host `id`'s ring file
/// beside `host`'s metadata volume.
fn write_ring(host: &Host, id: u16, events: &[(u64, i64, &str, &str)]) -> std::path::PathBuf {
    use hosted_engine::metadata::history::{Event, EventKind, RING_BYTES, encode, record_offset};
    use hosted_engine::shell::history::ring_path;
    let path = ring_path(host.volume().parent().unwrap(), id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut ring = vec![0u8; RING_BYTES];
    for &(seq, unix_ms, kind, text) in events {
        let record = encode(&Event {
            host_id: id,
            seq,
            unix_ms,
            kind: EventKind::parse(kind).unwrap(),
            text: text.into(),
        });
        let at = record_offset(seq) as usize;
        ring[at..at + record.len()].copy_from_slice(&record);
    }
    std::fs::write(&path, ring).unwrap();
    path
}

/// Issue 16: `--history` merges every host's ring file into one timeline,
/// oldest first, with the agents down; filters by host and time; says which
/// files it could not read; skips corrupted records; never prints a control
/// character; `--json` is one JSON object.
#[test]
fn history_merges_every_hosts_events_in_time_order() {
    let host = Host::deployed();
    let base = (now_unix() - 3600) * 1000;
    write_ring(
        &host,
        1,
        &[
            (
                0,
                base,
                "transition",
                "EngineDown -> EngineStart: no better host",
            ),
            (
                1,
                base + 2_000,
                "lease",
                "claiming the engine VM lease (epoch 1)",
            ),
            (2, base + 600_000, "vm", "engine VM: Up -> not present"),
        ],
    );
    let two = write_ring(
        &host,
        2,
        &[
            (7, base + 1_000, "agent", "ovirt-ha-agent 0.1.0 started"),
            (
                8,
                base + 900_000,
                "lease",
                "host 1's engine VM lease (epoch 1) expired after 40 s of silence",
            ),
        ],
    );
    // A torn record in host 2's ring is skipped, the others kept.
    let mut bytes = std::fs::read(&two).unwrap();
    let at = hosted_engine::metadata::history::record_offset(8) as usize + 30;
    bytes[at] ^= 0x20;
    std::fs::write(&two, &bytes).unwrap();
    // Host 3's "ring" cannot be read.
    std::fs::create_dir(two.with_file_name("host-3.ring")).unwrap();
    let ran = host.he(&["--history"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let texts: Vec<&str> = lines
        .iter()
        .map(|l| l.split("  ").last().unwrap().trim())
        .collect();
    assert_eq!(
        texts,
        [
            "EngineDown -> EngineStart: no better host",
            "ovirt-ha-agent 0.1.0 started",
            "claiming the engine VM lease (epoch 1)",
            "engine VM: Up -> not present",
        ],
        "{}",
        ran.stdout
    );
    assert!(
        lines[1].contains("  host 2    agent       "),
        "{}",
        lines[1]
    );
    assert!(
        ran.stderr.contains("host 3's history is unreadable"),
        "{ran:?}"
    );

    let ran = host.he(&["--history", "--host=1", "--since=55m"]);
    assert_eq!(ran.stdout.lines().count(), 1, "{ran:?}");
    assert!(ran.stdout.contains("engine VM: Up -> not present"));
    let ran = host.he(&["--history", "--since=yesterday"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .starts_with("Invalid value 'yesterday' for --since"),
        "{ran:?}"
    );
    let ran = host.he(&["--history", "--host=9999"]);
    assert_eq!(ran.code, Some(1));

    let ran = host.he(&["--history", "--json", "--host=2"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "agent");
    assert_eq!(events[0]["seq"], 7);
    assert_eq!(events[0]["host-id"], 2);
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 0);
    let ran = host.he(&["--history", "--json", "--host=3"]);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(json["unreadable"][0]["host-id"], 3, "{ran:?}");
}
