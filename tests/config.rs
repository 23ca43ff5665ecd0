//! Integration tests of the configuration files: every error names file:line (and
//! key), defaults, write-back that keeps comments and unknown keys, the lease
//! inequality, concurrent `ha.conf` updates, path resolution, metadata paths, and
//! the example files under `packaging/etc/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use clap::{CommandFactory, Parser};
use hosted_engine::config::{
    AgentConf, BrokerConf, ConfFile, Config, ConfigErrors, ConfigPathArgs, ConfigPaths, DomainType,
    ErrorKind, FENCE_TIMEOUT_DEFAULT_MS, FILE_SIZE_MAX_BYTES, FencingConf, HaConf,
    HostedEngineConf, LINE_LENGTH_MAX_BYTES, NetworkTest, ScoreConf, Timings, WatchdogSetting,
};

/// A deployed NFS host, every line numbered in the comments of the tests below.
const HE_NFS: &str = "\
# written by deploy
fqdn=engine.example.com
vmid=3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41
host_id=1
storage=192.168.1.1:/exports/he
domainType=nfs
sdUUID=9c1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b
gateway=192.168.1.254
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn errors_of<T: ConfFile + std::fmt::Debug>(path: &Path) -> ConfigErrors {
    T::load(path).expect_err("the file must be refused")
}

fn lines(errors: &ConfigErrors) -> Vec<String> {
    errors.as_slice().iter().map(|e| e.to_string()).collect()
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/etc")
        .join(name)
}

// ---- hosted-engine.conf errors ----

#[test]
fn he_conf_bad_host_id_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = HE_NFS.replace("host_id=1", "host_id=abc");
    let path = write(dir.path(), "hosted-engine.conf", &text);
    let errors = errors_of::<HostedEngineConf>(&path);
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{}:4: host_id: \"abc\" is not a host id (1..=2000)",
            path.display()
        )]
    );
    let error = &errors.as_slice()[0];
    assert_eq!(
        (error.kind, error.line, error.key.as_deref()),
        (ErrorKind::Value, Some(4), Some("host_id"))
    );
}

#[test]
fn he_conf_syntax_and_duplicate_errors_name_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.conf",
        &format!("{HE_NFS}this line has no equals sign\n"),
    );
    assert_eq!(
        lines(&errors_of::<HostedEngineConf>(&path)),
        vec![format!(
            "{}:9: expected key=value, found \"this line has no equals sign\"",
            path.display()
        )]
    );
    let path = write(dir.path(), "b.conf", &format!("{HE_NFS}host_id=2\n"));
    assert_eq!(
        lines(&errors_of::<HostedEngineConf>(&path)),
        vec![format!(
            "{}:9: host_id: key set twice (first on line 4, again on line 9)",
            path.display()
        )]
    );
}

#[test]
fn he_conf_reports_every_bad_value_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = HE_NFS
        .replace("host_id=1", "host_id=2001")
        .replace("domainType=nfs", "domainType=ceph")
        .replace("gateway=192.168.1.254", "tcp_t_port=70000");
    let path = write(dir.path(), "hosted-engine.conf", &text);
    let errors = errors_of::<HostedEngineConf>(&path);
    let p = path.display();
    assert_eq!(
        lines(&errors),
        vec![
            format!("{p}:4: host_id: \"2001\" is not a host id (1..=2000)"),
            format!(
                "{p}:6: domainType: \"ceph\" is not a storage kind (nfs, nfs3, nfs4, glusterfs, posixfs, iscsi, fc, dir)"
            ),
            format!("{p}:8: tcp_t_port: \"70000\" is not a port (1..=65535)"),
        ]
    );
}

#[test]
fn he_conf_missing_required_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "hosted-engine.conf", "# nothing yet\nvmid=\n");
    let errors = errors_of::<HostedEngineConf>(&path);
    let keys: Vec<_> = errors
        .as_slice()
        .iter()
        .map(|e| e.key.clone().unwrap())
        .collect();
    assert_eq!(keys, vec!["fqdn", "host_id", "storage", "domainType"]);
    assert!(
        errors
            .as_slice()
            .iter()
            .all(|e| e.kind == ErrorKind::Missing && e.line.is_none())
    );
    assert_eq!(
        lines(&errors)[0],
        format!("{}: fqdn: required key is missing", path.display())
    );
}

#[test]
fn he_conf_empty_required_key_is_named_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = HE_NFS.replace("fqdn=engine.example.com", "fqdn=");
    let path = write(dir.path(), "hosted-engine.conf", &text);
    let errors = errors_of::<HostedEngineConf>(&path);
    assert_eq!(
        lines(&errors),
        vec![format!("{}:2: fqdn: required key is empty", path.display())]
    );
    let error = &errors.as_slice()[0];
    assert_eq!(error.kind, ErrorKind::Missing);
    assert_eq!(error.line, Some(2));
}

#[test]
fn he_conf_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosted-engine.conf");
    let errors = errors_of::<HostedEngineConf>(&path);
    assert!(errors.has_kind(ErrorKind::NotFound));
    assert_eq!(
        lines(&errors),
        vec![format!("{}: file does not exist", path.display())]
    );
}

#[test]
fn he_conf_relation_errors_name_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = format!("{HE_NFS}network_test=tcp\ntcp_t_address=192.168.1.10\n");
    let path = write(dir.path(), "tcp.conf", &tcp);
    let errors = errors_of::<HostedEngineConf>(&path);
    let error = &errors.as_slice()[0];
    assert_eq!(error.kind, ErrorKind::Relation);
    assert_eq!(
        error.keys,
        vec!["network_test", "tcp_t_address", "tcp_t_port"]
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}:9: network_test=tcp needs both tcp_t_address and tcp_t_port (1..=65535)",
            path.display()
        )
    );

    let no_sd = HE_NFS.replace("sdUUID=9c1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b\n", "");
    let path = write(dir.path(), "nosd.conf", &no_sd);
    let error = errors_of::<HostedEngineConf>(&path).as_slice()[0].clone();
    assert_eq!(error.keys, vec!["sdUUID", "domainType"]);
    assert_eq!(
        error.to_string(),
        format!(
            "{}:6: sdUUID is required when domainType is nfs",
            path.display()
        )
    );

    let no_gateway = HE_NFS.replace("gateway=192.168.1.254\n", "");
    let path = write(dir.path(), "nogw.conf", &no_gateway);
    let error = errors_of::<HostedEngineConf>(&path).as_slice()[0].clone();
    assert_eq!(error.keys, vec!["network_test", "gateway"]);
    assert!(
        error
            .to_string()
            .contains("network_test=ping needs gateway"),
        "{error}"
    );

    let relative_dir = HE_NFS.replace("domainType=nfs", "domainType=dir");
    let path = write(dir.path(), "dir.conf", &relative_dir);
    let error = errors_of::<HostedEngineConf>(&path).as_slice()[0].clone();
    assert_eq!(error.keys, vec!["storage", "domainType"]);
    assert!(
        error
            .to_string()
            .contains(":5: storage (\"192.168.1.1:/exports/he\") must be an absolute"),
        "{error}"
    );
}

#[test]
fn oversized_files_and_lines_are_refused_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosted-engine.conf");
    fs::write(&path, vec![b'#'; FILE_SIZE_MAX_BYTES + 1]).unwrap();
    let errors = errors_of::<HostedEngineConf>(&path);
    assert!(errors.has_kind(ErrorKind::TooLarge));
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{}: file is larger than {FILE_SIZE_MAX_BYTES} bytes",
            path.display()
        )]
    );
    let long = format!(
        "[email]\nsmtp-server={}\n",
        "x".repeat(LINE_LENGTH_MAX_BYTES)
    );
    let path = write(dir.path(), "broker.conf", &long);
    assert_eq!(
        lines(&errors_of::<BrokerConf>(&path)),
        vec![format!(
            "{}:2: line is longer than {LINE_LENGTH_MAX_BYTES} bytes",
            path.display()
        )]
    );
}

// ---- agent.conf errors ----

#[test]
fn agent_conf_bad_values_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "[score]\nnetwork-score-penalty=-5\n\n[timing]\nloop-secs=ten\nstart-retries-max=101\n";
    let path = write(dir.path(), "agent.conf", text);
    let p = path.display();
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![
            format!("{p}:2: network-score-penalty: \"-5\" is not a whole number in 0..=3400"),
            format!("{p}:5: loop-secs: \"ten\" is not a duration in seconds (e.g. 10 or 0.5)"),
            format!("{p}:6: start-retries-max: \"101\" is not a whole number in 1..=100"),
        ]
    );
    let path = write(dir.path(), "nosection.conf", "# c\nloop-secs=10\n");
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![format!(
            "{}:2: loop-secs: key=value before any [section]",
            path.display()
        )]
    );
}

#[test]
fn agent_conf_refuses_the_broken_lease_inequality() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "agent.conf",
        "[timing]\n# too short\nlease-dead-secs=38\n",
    );
    let errors = errors_of::<AgentConf>(&path);
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{}:3: lease-dead-secs (38) must exceed lease-fail-secs + poweroff-timeout-secs + loop-secs + \
             lease-margin-secs (22 + 10 + 2 + 5 = 39)",
            path.display()
        )]
    );
    let error = &errors.as_slice()[0];
    assert_eq!(error.kind, ErrorKind::Relation);
    assert_eq!(
        error.keys,
        vec![
            "lease-dead-secs",
            "lease-fail-secs",
            "poweroff-timeout-secs",
            "loop-secs",
            "lease-margin-secs"
        ]
    );

    // Broken by another key: the line is that of the first involved key in the file.
    let path = write(
        dir.path(),
        "poweroff.conf",
        "[timing]\npoweroff-timeout-secs=25.5\n",
    );
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![format!(
            "{}:2: lease-dead-secs (40) must exceed lease-fail-secs + poweroff-timeout-secs + loop-secs + \
             lease-margin-secs (22 + 25.5 + 2 + 5 = 54.5)",
            path.display()
        )]
    );
}

#[test]
fn agent_conf_base_score_is_at_most_what_a_record_carries() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "agent.conf", "[score]\nbase-score=3401\n");
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![format!(
            "{}:2: base-score: base-score (3401) must be in 1..=3400 (the most a host record carries)",
            path.display()
        )]
    );
    let path = write(dir.path(), "max.conf", "[score]\nbase-score=3400\n");
    assert_eq!(AgentConf::load(&path).unwrap().score.base_score, 3400);
}

#[test]
fn agent_conf_other_relations_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[score]\nbase-score=1000\nnetwork-score-penalty=1600\ncpu-load-penalty-min=0.9\n\
                cpu-load-penalty-max=0.4\n[timing]\nlease-settle-secs=10\nlease-fail-secs=12\n\
                loop-secs=0.5\nhost-alive-timeout-secs=0.5\n";
    let path = write(dir.path(), "agent.conf", text);
    let p = path.display();
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![
            format!("{p}:3: network-score-penalty (1600) must not exceed base-score (1000)"),
            format!(
                "{p}:4: cpu-load-penalty-min (0.9) must be less than cpu-load-penalty-max (0.4)"
            ),
            format!("{p}:10: host-alive-timeout-secs (0.5) must exceed loop-secs (0.5)"),
        ]
    );
    let path = write(
        dir.path(),
        "lease.conf",
        "[timing]\nlease-fail-secs=7\nlease-settle-secs=6.999\n",
    );
    let p = path.display();
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![
            format!(
                "{p}:2: lease-fail-secs (7) must exceed loop-secs + storage-timeout-secs (2 + 5 = 7)"
            ),
            format!(
                "{p}:3: lease-settle-secs (6.999) must be at least storage-timeout-secs + loop-secs (5 + 2 = 7)"
            ),
        ]
    );
    let path = write(dir.path(), "zero.conf", "[timing]\nlease-margin-secs=0\n");
    assert_eq!(
        lines(&errors_of::<AgentConf>(&path)),
        vec![format!(
            "{}:2: lease-margin-secs: lease-margin-secs (0) must be greater than 0 and at most 86400",
            path.display()
        )]
    );
}

// ---- ha.conf and broker.conf errors ----

#[test]
fn ha_conf_bad_boolean_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ha.conf",
        "# local\nlocal_maintenance=perhaps\n",
    );
    assert_eq!(
        lines(&errors_of::<HaConf>(&path)),
        vec![format!(
            "{}:2: local_maintenance: \"perhaps\" is not a boolean (true/false, yes/no, 1/0)",
            path.display()
        )]
    );
    let path = write(dir.path(), "sections.conf", "[maintenance]\n");
    assert_eq!(
        lines(&errors_of::<HaConf>(&path)),
        vec![format!(
            "{}:1: this file has no [sections]; expected key=value",
            path.display()
        )]
    );
}

#[test]
fn broker_conf_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[email]\nsmtp-port=0\ndestination-emails=a@b, not an address\n[notify]\nstate_transition=(up\n";
    let path = write(dir.path(), "broker.conf", text);
    let errors = lines(&errors_of::<BrokerConf>(&path));
    let p = path.display();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors[0],
        format!("{p}:2: smtp-port: \"0\" is not a port (1..=65535)")
    );
    assert_eq!(
        errors[1],
        format!("{p}:3: destination-emails: \"not an address\" is not a mail address (user@host)")
    );
    assert!(
        errors[2].starts_with(&format!(
            "{p}:5: state_transition: \"(up\" is not a valid regular expression: "
        )),
        "{}",
        errors[2]
    );

    let text = "[email]\nsmtp-starttls=no\nsmtp-user=alerts\n";
    let path = write(dir.path(), "auth.conf", text);
    let errors = errors_of::<BrokerConf>(&path);
    let p = path.display();
    assert_eq!(
        lines(&errors),
        vec![
            format!("{p}:3: smtp-user and smtp-password must be set together"),
            format!(
                "{p}:3: smtp-user needs smtp-starttls=true (credentials are never sent in clear text)"
            ),
        ]
    );
    assert_eq!(
        errors.as_slice()[1].keys,
        vec!["smtp-user", "smtp-starttls"]
    );
}

// ---- defaults and the example files ----

#[test]
fn missing_optional_files_mean_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentConf::load(&dir.path().join("agent.conf")).unwrap();
    assert_eq!(agent.score, ScoreConf::default());
    assert_eq!(agent.timings, Timings::default());
    assert_eq!(agent.recovery.command, None);
    assert_eq!(agent.recovery.timeout_ms, 120_000);
    let ha = HaConf::load(&dir.path().join("ha.conf")).unwrap();
    assert!(!ha.local_maintenance && !ha.local_maintenance_manual);
    let broker = BrokerConf::load(&dir.path().join("broker.conf")).unwrap();
    assert_eq!(broker.email.smtp_server, "localhost");
    assert_eq!(broker.email.smtp_port, 25);
    assert_eq!(broker.email.source_email, "root@localhost");
    assert_eq!(broker.email.destination_emails, vec!["root@localhost"]);
    assert!(!broker.email.smtp_starttls);
    assert_eq!(broker.email.smtp_timeout_ms, 10_000);
    assert_eq!(
        broker.notify.state_transition.as_str(),
        "maintenance|start|stop|up|down"
    );
    assert!(broker.notify.wants("EngineUp", "LocalMaintenance"));
    assert!(
        broker.notify.wants("ENGINEDOWN", "enginestart"),
        "matching ignores case"
    );
    // Loading never creates files.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn default_values() {
    let s = ScoreConf::default();
    assert_eq!(
        (
            s.base_score,
            s.not_uptodate_config_penalty,
            s.network_score_penalty,
            s.mgmt_bridge_score_penalty
        ),
        (3400, 1000, 1600, 600)
    );
    assert_eq!(
        (
            s.cpu_load_score_penalty,
            s.free_memory_score_penalty,
            s.engine_retry_score_penalty
        ),
        (1000, 400, 50)
    );
    assert_eq!((s.cpu_load_penalty_min, s.cpu_load_penalty_max), (0.4, 0.9));
    // Ours: a faster agent and lease (see `impl Default for Timings`).
    let t = Timings::default();
    assert_eq!(
        (
            t.loop_ms,
            t.host_alive_timeout_ms,
            t.engine_maybe_away_timeout_ms,
            t.bad_health_timeout_ms,
            t.liveliness_timeout_ms
        ),
        (2_000, 12_000, 10_000, 60_000, 10_000)
    );
    assert_eq!(
        (
            t.lease_settle_ms,
            t.lease_fail_ms,
            t.lease_dead_ms,
            t.lease_margin_ms
        ),
        (8_000, 22_000, 40_000, 5_000)
    );
    // The reference's, about the engine VM and the storage.
    let r = Timings::reference();
    assert_eq!(
        Timings {
            loop_ms: r.loop_ms,
            host_alive_timeout_ms: r.host_alive_timeout_ms,
            engine_maybe_away_timeout_ms: r.engine_maybe_away_timeout_ms,
            bad_health_timeout_ms: r.bad_health_timeout_ms,
            liveliness_timeout_ms: r.liveliness_timeout_ms,
            lease_settle_ms: r.lease_settle_ms,
            lease_fail_ms: r.lease_fail_ms,
            lease_dead_ms: r.lease_dead_ms,
            ..t
        },
        r
    );
}

#[test]
fn reference_values() {
    let t = Timings::reference();
    assert_eq!(
        (
            t.loop_ms,
            t.host_alive_timeout_ms,
            t.engine_unexpectedly_down_ms
        ),
        (10_000, 60_000, 560_000)
    );
    assert_eq!(
        (
            t.retry_window_ms,
            t.start_retries_max,
            t.vm_shutdown_grace_ms
        ),
        (600_000, 3, 120_000)
    );
    assert_eq!(
        (t.gateway_probe_count, t.gateway_probe_interval_ms),
        (5, 500)
    );
    assert_eq!(
        (
            t.lease_settle_ms,
            t.lease_fail_ms,
            t.lease_dead_ms,
            t.lease_margin_ms
        ),
        (15_000, 30_000, 60_000, 5_000)
    );
    assert_eq!(
        (
            t.poweroff_timeout_ms,
            t.storage_timeout_ms,
            t.liveliness_timeout_ms,
            t.bad_health_timeout_ms
        ),
        (10_000, 5_000, 20_000, 300_000)
    );
}

#[test]
fn example_files_load_to_the_defaults() {
    let agent = AgentConf::load(&example("agent.conf")).unwrap();
    assert_eq!(agent.score, ScoreConf::default());
    assert_eq!(agent.timings, Timings::default());
    assert_eq!(agent.recovery, Default::default());
    assert_eq!(agent.unknown_keys(), vec![]);
    let broker = BrokerConf::load(&example("broker.conf")).unwrap();
    assert_eq!(broker.email, Default::default());
    assert_eq!(broker.notify, Default::default());
    assert_eq!(broker.unknown_keys(), vec![]);
    let he = HostedEngineConf::load(&example("hosted-engine.conf.example")).unwrap();
    assert_eq!(he.domain_type, DomainType::Nfs);
    assert_eq!(he.network_test, NetworkTest::Ping);
    assert_eq!(he.bridge, "ovirtmgmt");
    assert_eq!(
        he.metadata_volume_path().unwrap(),
        Path::new(
            "/rhev/data-center/mnt/192.168.1.1:_exports_he/9c1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b/ha_agent/hosted-engine.metadata"
        )
    );
    assert_eq!(he.unknown_keys(), vec![]);
    // The fencing example: the defaults, and two example hosts.
    let fencing = FencingConf::load(&example("fencing.conf.example")).unwrap();
    assert_eq!(fencing.timeout_ms, FENCE_TIMEOUT_DEFAULT_MS);
    let agents: Vec<_> = fencing
        .devices
        .values()
        .map(|d| (d.host_id, d.agent.as_str(), d.password_file.is_some()))
        .collect();
    assert_eq!(
        agents,
        vec![(1, "fence_ipmilan", true), (2, "fence_redfish", true)]
    );
    assert_eq!(fencing.unknown_keys(), vec![]);
}

/// Every key the code knows is documented in its example file, set or commented.
#[test]
fn example_files_document_every_key() {
    fn check<T: ConfFile>(name: &str) {
        let text = fs::read_to_string(example(name)).unwrap();
        for (section, key) in T::known_keys() {
            let documented = text.lines().any(|line| {
                let line = line.trim_start_matches('#').trim_start();
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            assert!(documented, "{name}: [{section}] {key} is not documented");
        }
    }
    check::<HostedEngineConf>("hosted-engine.conf.example");
    check::<AgentConf>("agent.conf");
    check::<BrokerConf>("broker.conf");
    check::<FencingConf>("fencing.conf.example");
}

// ---- write-back ----

#[test]
fn edit_changes_one_line_and_keeps_comments_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let original =
        format!("{HE_NFS}# set by an older setup\nspUUID = 00000000-0000-0000-0000-000000000000\n");
    let path = write(dir.path(), "hosted-engine.conf", &original);
    let before = HostedEngineConf::load(&path).unwrap();
    let unknown: Vec<_> = before
        .unknown_keys()
        .iter()
        .map(|e| (e.key.to_string(), e.line))
        .collect();
    assert_eq!(unknown, vec![("spUUID".to_string(), Some(10))]);

    let after = HostedEngineConf::edit(&path, |doc| doc.set("", "host_id", "2")).unwrap();
    assert_eq!(after.host_id, 2);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        original.replace("host_id=1", "host_id=2")
    );

    let added = HostedEngineConf::edit(&path, |doc| doc.set("", "bridge", "br0")).unwrap();
    assert_eq!(added.bridge, "br0");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.ends_with("spUUID = 00000000-0000-0000-0000-000000000000\nbridge=br0\n"),
        "{text}"
    );
    assert!(text.starts_with("# written by deploy\n"));
}

#[test]
fn edit_that_breaks_the_file_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "hosted-engine.conf", HE_NFS);
    let errors = HostedEngineConf::edit(&path, |doc| doc.set("", "host_id", "0")).unwrap_err();
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{}:4: host_id: \"0\" is not a host id (1..=2000)",
            path.display()
        )]
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), HE_NFS);

    let agent = write(dir.path(), "agent.conf", "[timing]\nloop-secs=2.5\n");
    AgentConf::load(&agent).unwrap();
    assert!(AgentConf::edit(&agent, |doc| doc.set("timing", "lease-dead-secs", "39")).is_err());
    assert_eq!(
        fs::read_to_string(&agent).unwrap(),
        "[timing]\nloop-secs=2.5\n"
    );
}

#[test]
fn ini_edit_adds_sections_and_keeps_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let original =
        "; tuned for the lab\n[score]\n# mine\nnetwork-score-penalty = 1500\n\n[custom]\nfoo=bar\n";
    let path = write(dir.path(), "agent.conf", original);
    let conf = AgentConf::edit(&path, |doc| {
        doc.set("score", "network-score-penalty", "1200")?;
        doc.set("timing", "loop-secs", "2.5")
    })
    .unwrap();
    assert_eq!(conf.score.network_score_penalty, 1200);
    assert_eq!(conf.timings.loop_ms, 2_500);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "; tuned for the lab\n[score]\n# mine\nnetwork-score-penalty = 1200\n\n[custom]\nfoo=bar\n\n[timing]\nloop-secs=2.5\n"
    );
    assert_eq!(
        conf.unknown_keys().len(),
        1,
        "[custom] foo is kept as unknown"
    );
}

#[test]
fn broker_edit_creates_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.conf");
    let conf = BrokerConf::edit(&path, |doc| {
        doc.set("email", "smtp-starttls", "true")?;
        doc.set("email", "smtp-user", "alerts")?;
        doc.set("email", "smtp-password", "s3cret")
    })
    .unwrap();
    assert_eq!(conf.email.smtp_user.as_deref(), Some("alerts"));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "[email]\nsmtp-starttls=true\nsmtp-user=alerts\nsmtp-password=s3cret\n"
    );
}

// ---- ha.conf updates ----

#[test]
fn ha_conf_update_writes_flags_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ha.conf",
        "# local state\nlocal_maintenance=false\nnote=kept\n",
    );
    let was = HaConf::update(&path, |conf| {
        let was = conf.local_maintenance;
        conf.local_maintenance = true;
        conf.local_maintenance_manual = true;
        was
    })
    .unwrap();
    assert!(!was);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "# local state\nlocal_maintenance=True\nnote=kept\nlocal_maintenance_manual=True\n"
    );
    let conf = HaConf::load(&path).unwrap();
    assert!(conf.local_maintenance && conf.local_maintenance_manual);
    assert_eq!(conf.get("note"), Some("kept"));

    // A missing file is created only when something changes.
    let fresh = dir.path().join("fresh.conf");
    HaConf::update(&fresh, |_| ()).unwrap();
    assert!(!fresh.exists());
    HaConf::update(&fresh, |conf| conf.local_maintenance = true).unwrap();
    assert_eq!(
        fs::read_to_string(&fresh).unwrap(),
        "local_maintenance=True\n"
    );
}

/// Reads `path` until `done`, asserting that every read is a whole file; returns
/// the number of reads.
fn spawn_reader(
    path: PathBuf,
    header: &'static str,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<u32> {
    const READS_MAX: u32 = 1_000_000;
    thread::spawn(move || {
        let mut reads = 0;
        while !done.load(Ordering::SeqCst) && reads < READS_MAX {
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(header) && text.ends_with('\n'),
                "partial file seen: {text:?}"
            );
            HaConf::parse(&path, &text).unwrap();
            reads += 1;
        }
        reads
    })
}

/// Several updaters do read-modify-write cycles of different keys at once while a
/// reader keeps reading: no update is lost and no reader ever sees a partial file.
/// Each updater opens the lock file itself, so the `flock`s conflict exactly as
/// they would between processes (a lock belongs to an open file description).
#[test]
fn ha_conf_concurrent_updates_lose_nothing_and_are_never_partial() {
    const UPDATERS: usize = 6;
    const UPDATES_EACH: u32 = 25;
    let dir = tempfile::tempdir().unwrap();
    let header = "# managed by the concurrency test\n";
    let path = write(
        dir.path(),
        "ha.conf",
        &format!("{header}local_maintenance=False\n"),
    );
    let done = Arc::new(AtomicBool::new(false));

    let reader = spawn_reader(path.clone(), header, done.clone());
    let updaters: Vec<_> = (0..UPDATERS)
        .map(|index| {
            let path = path.clone();
            thread::spawn(move || {
                let key = format!("counter_{index}");
                for _ in 0..UPDATES_EACH {
                    HaConf::update(&path, |conf| {
                        let count: u32 = conf.get(&key).map_or(0, |v| v.parse().unwrap());
                        conf.set_raw(&key, &(count + 1).to_string()).unwrap();
                        if index == 0 {
                            conf.local_maintenance = !conf.local_maintenance;
                        }
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for updater in updaters {
        updater.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);

    let conf = HaConf::load(&path).unwrap();
    for index in 0..UPDATERS {
        assert_eq!(
            conf.get(&format!("counter_{index}")),
            Some(UPDATES_EACH.to_string().as_str())
        );
    }
    assert!(
        conf.local_maintenance,
        "an odd number of toggles from False"
    );
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["ha.conf", "ha.conf.lock"],
        "no temporary files left"
    );
}

// ---- paths ----

#[test]
fn config_root_places_every_default_path() {
    let args = ConfigPathArgs {
        config_root: Some("/lab/host1".into()),
        ..Default::default()
    };
    let paths = ConfigPaths::resolve(&args);
    assert_eq!(
        paths.he_conf,
        Path::new("/lab/host1/etc/ovirt-hosted-engine/hosted-engine.conf")
    );
    assert_eq!(
        paths.agent_conf,
        Path::new("/lab/host1/etc/ovirt-hosted-engine-ha/agent.conf")
    );
    assert_eq!(
        paths.ha_conf,
        Path::new("/lab/host1/var/lib/ovirt-hosted-engine-ha/ha.conf")
    );
    assert_eq!(
        paths.broker_conf,
        Path::new("/lab/host1/var/lib/ovirt-hosted-engine-ha/broker.conf")
    );
    assert_eq!(
        paths.runtime_dir,
        Path::new("/lab/host1/run/ovirt-hosted-engine-ha")
    );
    assert_eq!(
        paths.state_dir,
        Path::new("/lab/host1/var/lib/ovirt-hosted-engine-ha")
    );
}

#[test]
fn explicit_paths_win_over_the_config_root() {
    let args = ConfigPathArgs {
        config_root: Some("/lab/host1".into()),
        he_conf: Some("/tmp/he.conf".into()),
        state_dir: Some("/tmp/state".into()),
        broker_conf: Some("/tmp/broker.conf".into()),
        runtime_dir: Some("".into()),
        ..Default::default()
    };
    let paths = ConfigPaths::resolve(&args);
    assert_eq!(paths.he_conf, Path::new("/tmp/he.conf"));
    assert_eq!(
        paths.agent_conf,
        Path::new("/lab/host1/etc/ovirt-hosted-engine-ha/agent.conf")
    );
    assert_eq!(paths.state_dir, Path::new("/tmp/state"));
    assert_eq!(
        paths.ha_conf,
        Path::new("/tmp/state/ha.conf"),
        "ha.conf follows the state dir"
    );
    assert_eq!(paths.broker_conf, Path::new("/tmp/broker.conf"));
    assert_eq!(
        paths.runtime_dir,
        Path::new("/lab/host1/run/ovirt-hosted-engine-ha"),
        "empty = not given"
    );
}

#[derive(Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    paths: ConfigPathArgs,
}

#[test]
fn command_line_options_and_their_environment_variables() {
    let cli =
        TestCli::try_parse_from(["x", "--config-root", "/lab/h2", "--ha-conf", "/tmp/ha.conf"])
            .unwrap();
    let paths = ConfigPaths::resolve(&cli.paths);
    assert_eq!(paths.ha_conf, Path::new("/tmp/ha.conf"));
    assert_eq!(
        paths.he_conf,
        Path::new("/lab/h2/etc/ovirt-hosted-engine/hosted-engine.conf")
    );
    // The environment is checked through clap's definitions, not by changing this
    // process's environment under the other tests' feet.
    let command = TestCli::command();
    let mut wiring: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            Some((
                long.to_string(),
                arg.get_env()?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    wiring.sort();
    let expected = [
        ("agent-conf", "HE_AGENT_CONF"),
        ("broker-conf", "HE_BROKER_CONF"),
        ("config-root", "HE_CONFIG_ROOT"),
        ("ha-conf", "HE_HA_CONF"),
        ("he-conf", "HE_CONF"),
        ("runtime-dir", "HE_RUNTIME_DIR"),
        ("state-dir", "HE_STATE_DIR"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(wiring, expected);
}

#[test]
fn a_lab_tree_loads_as_one_config() {
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    let shared = root.path().join("shared");
    fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    fs::create_dir_all(&paths.state_dir).unwrap();
    let he = format!(
        "fqdn=engine.lab\nhost_id=3\nstorage={}\ndomainType=dir\nnetwork_test=none\n",
        shared.display()
    );
    fs::write(&paths.he_conf, he).unwrap();
    fs::write(&paths.ha_conf, "local_maintenance=True\n").unwrap();
    let config = Config::load(&paths).unwrap();
    assert_eq!(config.hosted_engine.host_id, 3);
    assert!(!config.hosted_engine.is_deployed());
    assert!(config.ha.local_maintenance);
    assert_eq!(config.agent.timings, Timings::default());
    assert_eq!(
        config.hosted_engine.metadata_volume_path().unwrap(),
        shared.join("ha_agent/hosted-engine.metadata")
    );
}

#[test]
fn config_load_reports_the_problems_of_every_file() {
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    fs::create_dir_all(paths.agent_conf.parent().unwrap()).unwrap();
    fs::create_dir_all(&paths.state_dir).unwrap();
    fs::write(&paths.agent_conf, "[timing]\nloop-secs=-1\n").unwrap();
    fs::write(&paths.broker_conf, "[email]\nsmtp-port=x\n").unwrap();
    let errors = Config::load(&paths).unwrap_err();
    assert_eq!(
        lines(&errors),
        vec![
            format!("{}: file does not exist", paths.he_conf.display()),
            format!(
                "{}:2: loop-secs: \"-1\" is not a duration in seconds (e.g. 10 or 0.5)",
                paths.agent_conf.display()
            ),
            format!(
                "{}:2: smtp-port: \"x\" is not a port (1..=65535)",
                paths.broker_conf.display()
            ),
        ]
    );
}

// ---- metadata volume path ----

fn he_with(domain_type: &str, storage: &str, extra: &str) -> HostedEngineConf {
    let text = format!(
        "fqdn=e\nhost_id=1\nnetwork_test=none\ndomainType={domain_type}\nstorage={storage}\n{extra}"
    );
    HostedEngineConf::parse(Path::new("/t/hosted-engine.conf"), &text).unwrap()
}

#[test]
fn metadata_volume_path_for_every_domain_type() {
    let sd = "sdUUID=9c1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b\n";
    let tail = "9c1a2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b/ha_agent/hosted-engine.metadata";
    let cases = [
        (
            "dir",
            "/srv/he",
            sd,
            format!("/srv/he/{tail}"),
            Some("/srv/he"),
        ),
        (
            "dir",
            "/srv/he",
            "",
            "/srv/he/ha_agent/hosted-engine.metadata".into(),
            Some("/srv/he"),
        ),
        (
            "nfs",
            "10.0.0.1:/exports/he",
            sd,
            format!("/rhev/data-center/mnt/10.0.0.1:_exports_he/{tail}"),
            Some("/rhev/data-center/mnt/10.0.0.1:_exports_he"),
        ),
        (
            "nfs3",
            "srv:/he_data",
            sd,
            format!("/rhev/data-center/mnt/srv:_he__data/{tail}"),
            Some("/rhev/data-center/mnt/srv:_he__data"),
        ),
        (
            "nfs4",
            "srv:/he/",
            sd,
            format!("/rhev/data-center/mnt/srv:_he/{tail}"),
            Some("/rhev/data-center/mnt/srv:_he"),
        ),
        (
            "posixfs",
            "/dev/sdb1",
            sd,
            format!("/rhev/data-center/mnt/_dev_sdb1/{tail}"),
            Some("/rhev/data-center/mnt/_dev_sdb1"),
        ),
        (
            "glusterfs",
            "gl1:/engine",
            sd,
            format!("/rhev/data-center/mnt/glusterSD/gl1:_engine/{tail}"),
            Some("/rhev/data-center/mnt/glusterSD/gl1:_engine"),
        ),
        (
            "iscsi",
            "10.0.0.2",
            sd,
            format!("/rhev/data-center/mnt/blockSD/{tail}"),
            None,
        ),
        (
            "fc",
            "fc-lun",
            sd,
            format!("/rhev/data-center/mnt/blockSD/{tail}"),
            None,
        ),
    ];
    for (kind, storage, extra, expected, mount) in cases {
        let conf = he_with(kind, storage, extra);
        assert_eq!(
            conf.metadata_volume_path().unwrap(),
            PathBuf::from(&expected),
            "{kind} {storage}"
        );
        assert_eq!(
            conf.storage_mount_point(),
            mount.map(PathBuf::from),
            "{kind} {storage}"
        );
    }
}

#[test]
fn metadata_path_override_and_mount_root() {
    let sd = "sdUUID=sd1\n";
    let conf = he_with(
        "nfs",
        "srv:/he",
        &format!("{sd}metadata_path=/explicit/he.metadata\n"),
    );
    assert_eq!(
        conf.metadata_volume_path().unwrap(),
        Path::new("/explicit/he.metadata")
    );
    let conf = he_with("glusterfs", "srv:/he", &format!("{sd}mnt_root=/lab/mnt\n"));
    assert_eq!(
        conf.metadata_volume_path().unwrap(),
        Path::new("/lab/mnt/glusterSD/srv:_he/sd1/ha_agent/hosted-engine.metadata")
    );
    let errors = HostedEngineConf::parse(
        Path::new("/t/he.conf"),
        "fqdn=e\nhost_id=1\nnetwork_test=none\ndomainType=dir\nstorage=/s\nsdUUID=../etc\nmetadata_path=rel\n",
    )
    .unwrap_err();
    assert_eq!(
        lines(&errors),
        vec![
            "/t/he.conf:6: sdUUID: \"../etc\" is not an id (letters, digits, '-', '_', '.')"
                .to_string(),
            "/t/he.conf:7: metadata_path: \"rel\" is not an absolute path".to_string(),
        ]
    );
}

#[test]
fn our_hosted_engine_conf_keys_parse_and_refuse_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosted-engine.conf");
    let base = "fqdn=engine.lab\nhost_id=1\nstorage=/srv/he\ndomainType=dir\nnetwork_test=none\n";
    let good = format!(
        "{base}hostname=h1.lab\nvm_command=/usr/bin/he-lab engine --port 8080\n\
         engine_memory_mib=2048\nstorage_connect_command=mount /srv/he\n"
    );
    let conf = HostedEngineConf::parse(&path, &good).unwrap();
    assert_eq!(conf.hostname.as_deref(), Some("h1.lab"));
    assert_eq!(
        conf.vm_command.as_deref().unwrap(),
        ["/usr/bin/he-lab", "engine", "--port", "8080"]
    );
    assert_eq!(conf.engine_memory_mib, 2048);
    assert_eq!(conf.storage_connect_command.as_ref().unwrap().len(), 2);
    let defaults = HostedEngineConf::parse(&path, base).unwrap();
    assert_eq!(defaults.engine_memory_mib, 4096);
    for (line, key) in [
        ("hostname=a|b", "hostname"),
        ("engine_memory_mib=12", "engine_memory_mib"),
    ] {
        let text = format!("{base}{line}\n");
        let err = HostedEngineConf::parse(&path, &text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:6: {key}:", path.display())),
            "{err}"
        );
    }
}

// ---- the watchdog ----

/// `watchdog_device=none` only with the acknowledgement, spelled exactly; the
/// acknowledgement only with `none`; a timeout only with a device. Each
/// error names its line.
#[test]
fn he_conf_watchdog_keys_name_the_line_of_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosted-engine.conf");
    let ack = "watchdog_none_i_accept_split_brain";
    let cases = [
        (
            "watchdog_device=none\n".to_owned(),
            ":9: watchdog_device=none runs this host unfenced: an agent that hangs while it \
             holds the engine VM lease is not reset",
        ),
        (
            format!("{ack}=yes\n"),
            ":9: watchdog_none_i_accept_split_brain is only for watchdog_device=none \
             (watchdog_device is not set)",
        ),
        (
            format!("watchdog_device=/dev/watchdog\n{ack}=yes\n"),
            ":10: watchdog_none_i_accept_split_brain is only for watchdog_device=none \
             (watchdog_device is /dev/watchdog)",
        ),
        (
            format!("watchdog_device=none\n{ack}=true\n"),
            ":10: watchdog_none_i_accept_split_brain: \"true\" is not the acknowledgement: only \
             watchdog_none_i_accept_split_brain=yes",
        ),
        (
            format!("watchdog_device=none\n{ack}=YES\n"),
            ":10: watchdog_none_i_accept_split_brain: \"YES\" is not the acknowledgement",
        ),
        (
            "watchdog_device=dev/watchdog\n".to_owned(),
            ":9: watchdog_device: \"dev/watchdog\" is not a watchdog device (an absolute path \
             such as /dev/watchdog, or none)",
        ),
        (
            format!("watchdog_device=none\n{ack}=yes\nwatchdog_timeout_secs=15\n"),
            ":11: watchdog_timeout_secs is the timeout of a watchdog device (watchdog_device is \
             none)",
        ),
        (
            "watchdog_device=/dev/watchdog\nwatchdog_timeout_secs=15000000\n".to_owned(),
            ":10: watchdog_timeout_secs: \"15000000\" is not a watchdog timeout in whole seconds \
             (1..=86400)",
        ),
    ];
    for (extra, expected) in cases {
        let text = format!("{HE_NFS}{extra}");
        let errors = HostedEngineConf::parse(&path, &text).unwrap_err();
        assert_eq!(errors.as_slice().len(), 1, "{extra}: {errors}");
        let line = errors.to_string();
        assert!(
            line.starts_with(&format!("{}{expected}", path.display())),
            "{extra}: {line}"
        );
    }
    let none =
        HostedEngineConf::parse(&path, &format!("{HE_NFS}watchdog_device=none\n{ack}=yes\n"))
            .unwrap();
    assert_eq!(none.watchdog_device, Some(WatchdogSetting::None));
    assert!(none.watchdog_none_accepted);
    let device = HostedEngineConf::parse(
        &path,
        &format!("{HE_NFS}watchdog_device=/dev/watchdog1\nwatchdog_timeout_secs=15\n"),
    )
    .unwrap();
    assert_eq!(
        device.watchdog_device,
        Some(WatchdogSetting::Device("/dev/watchdog1".into()))
    );
    assert_eq!(device.watchdog_timeout_secs, Some(15));
    assert!(!device.watchdog_none_accepted);
    // Not set: a valid file for every reader but the agent (below).
    let unset = HostedEngineConf::parse(&path, HE_NFS).unwrap();
    assert_eq!(unset.watchdog_device, None);
}

/// The agent (and its --check-config) refuses a host without a watchdog,
/// saying why and what qualifies, and a configured timeout its timings do not
/// allow; `hosted-engine` reads the same file without those rules.
#[test]
fn the_agent_needs_a_watchdog_or_its_absence_acknowledged() {
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    fs::create_dir_all(paths.agent_conf.parent().unwrap()).unwrap();
    let base = "fqdn=engine.lab\nhost_id=3\nstorage=/srv/he\ndomainType=dir\nnetwork_test=none\n";
    fs::write(&paths.he_conf, base).unwrap();
    assert!(Config::load(&paths).is_ok());
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert_eq!(errors.as_slice().len(), 1, "{errors}");
    let error = &errors.as_slice()[0];
    assert_eq!(error.kind, ErrorKind::Missing);
    let text = error.to_string();
    for words in [
        &format!(
            "{}: watchdog_device: required by the agent: a watchdog resets this host",
            paths.he_conf.display()
        )[..],
        "another host starts a second engine VM beside the hung one's (split brain)",
        "watchdog_device=/dev/watchdog",
        "a hardware watchdog (iTCO_wdt, ipmi_watchdog, ...)",
        "the kernel's softdog (modprobe softdog soft_margin=16)",
        "with a timeout of 12..16 s",
        "watchdog_device=none and watchdog_none_i_accept_split_brain=yes",
    ] {
        assert!(text.contains(words), "{words:?} not in: {text}");
    }
    // Reported with every other file's problems, in file order.
    fs::write(&paths.agent_conf, "[timing]\nloop-secs=x\n").unwrap();
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert_eq!(errors.as_slice().len(), 2, "{errors}");
    assert_eq!(errors.as_slice()[0].key.as_deref(), Some("watchdog_device"));
    assert_eq!(errors.as_slice()[1].key.as_deref(), Some("loop-secs"));
    let text = errors.as_slice()[0].to_string();
    assert!(
        text.contains("(modprobe softdog), with a timeout the timings of agent.conf allow"),
        "{text}"
    );
    fs::remove_file(&paths.agent_conf).unwrap();

    fs::write(
        &paths.he_conf,
        format!("{base}watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n"),
    )
    .unwrap();
    assert!(Config::load_for_agent(&paths).is_ok());
    // A configured timeout must lie within what the timings allow.
    let device = format!("{base}watchdog_device=/dev/watchdog\n");
    fs::write(&paths.he_conf, &device).unwrap();
    assert!(Config::load_for_agent(&paths).is_ok());
    fs::write(
        &paths.he_conf,
        format!("{device}watchdog_timeout_secs=30\n"),
    )
    .unwrap();
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{}:7: watchdog_timeout_secs: 30 s is longer than the lease allows (at most 16 s = \
             lease-dead-secs 40 + lease-settle-secs 8 - lease-fail-secs 22 - \
             storage-timeout-secs 5 - lease-margin-secs 5): a hung agent's host would be reset \
             only after another host may have started the engine VM",
            paths.he_conf.display()
        )]
    );
    // The reference's timings allow 20..35 s.
    fs::write(
        &paths.agent_conf,
        "[timing]\nloop-secs=10\nlease-fail-secs=30\nlease-dead-secs=60\nlease-settle-secs=15\n\
         host-alive-timeout-secs=60\n",
    )
    .unwrap();
    assert!(Config::load_for_agent(&paths).is_ok());
    fs::write(
        &paths.he_conf,
        format!("{device}watchdog_timeout_secs=12\n"),
    )
    .unwrap();
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert!(
        errors.to_string().contains(
            ":7: watchdog_timeout_secs: 12 s is shorter than a slow storage allows (at least \
             20 s = loop-secs 10 + 2 x storage-timeout-secs 5)"
        ),
        "{errors}"
    );
}

/// The agent runs the commands hosted-engine.conf and agent.conf name: it
/// refuses files that another user could have changed (issue 14), naming the
/// file, the directory to blame and its mode; `hosted-engine` still reads them.
#[test]
fn the_agent_refuses_configuration_others_can_change() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    let dir = paths.he_conf.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::create_dir_all(paths.agent_conf.parent().unwrap()).unwrap();
    fs::write(
        &paths.he_conf,
        "fqdn=engine.lab\nhost_id=3\nstorage=/srv/he\ndomainType=dir\nnetwork_test=none\n\
         watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n",
    )
    .unwrap();
    Config::load_for_agent(&paths).unwrap();
    let chmod = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(dir, 0o777);
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert_eq!(errors.as_slice().len(), 1, "{errors}");
    assert_eq!(errors.as_slice()[0].kind, ErrorKind::Untrusted);
    let text = errors.to_string();
    assert!(
        text.contains(&format!(
            "{}: not trusted with the commands the agent runs: {}: writable by others \
             (mode 0777)",
            paths.he_conf.display(),
            dir.display()
        )),
        "{text}"
    );
    assert!(Config::load(&paths).is_ok(), "other readers do not mind");
    chmod(dir, 0o755);
    chmod(&paths.he_conf, 0o666);
    let text = Config::load_for_agent(&paths).unwrap_err().to_string();
    assert!(
        text.contains("hosted-engine.conf: writable by others (mode 0666)"),
        "{text}"
    );
    chmod(&paths.he_conf, 0o644);
    fs::write(&paths.agent_conf, "[timing]\n").unwrap();
    chmod(&paths.agent_conf, 0o602);
    let text = Config::load_for_agent(&paths).unwrap_err().to_string();
    assert!(
        text.contains("agent.conf: writable by others (mode 0602)"),
        "{text}"
    );
    // Its own group may write (a user's private group under umask 002).
    chmod(&paths.agent_conf, 0o664);
    Config::load_for_agent(&paths).unwrap();
    chmod(&paths.agent_conf, 0o644);
    Config::load_for_agent(&paths).unwrap();
}

/// Issue 14: the agent does not run a program another user can change: the
/// first word of `vm_command`, `storage_connect_command` and `[recovery]
/// command`, found on `PATH` when it has no `/`, and what a link to it
/// resolves to. A program that is not there is left to fail when it runs.
#[test]
fn the_agent_refuses_to_run_programs_others_can_change() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    fs::create_dir_all(paths.agent_conf.parent().unwrap()).unwrap();
    let bin = root.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let program = bin.join("connect-storage");
    fs::write(&program, "#!/bin/sh\n").unwrap();
    let chmod = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(&program, 0o755);
    let he_conf = |vm: &str, connect: &str| {
        fs::write(
            &paths.he_conf,
            format!(
                "fqdn=engine.lab\nhost_id=3\nstorage=/srv/he\ndomainType=dir\nnetwork_test=none\n\
                 watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\nvm_driver=process\n\
                 vmid=he-vm\nvm_command={vm} --engine\nstorage_connect_command={connect} -v\n"
            ),
        )
        .unwrap();
    };
    he_conf("sh", &program.display().to_string());
    fs::write(
        &paths.agent_conf,
        format!("[recovery]\ncommand = {} x\n", program.display()),
    )
    .unwrap();
    Config::load_for_agent(&paths).unwrap();
    chmod(&program, 0o777);
    let errors = Config::load_for_agent(&paths).unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.as_slice().len(), 2, "{text}");
    assert!(
        errors
            .as_slice()
            .iter()
            .all(|e| e.kind == ErrorKind::Untrusted)
    );
    for (file, key) in [
        (&paths.he_conf, "storage_connect_command"),
        (&paths.agent_conf, "[recovery] command"),
    ] {
        assert!(
            text.contains(&format!(
                "{}: {key}: the program {} is not trusted to run as this user: {}: writable by \
                 others (mode 0777)",
                file.display(),
                program.display(),
                program.display()
            )),
            "{text}"
        );
    }
    assert!(Config::load(&paths).is_ok(), "only the agent runs them");
    // A link to it is no better; a program that is not there fails later.
    chmod(&program, 0o755);
    chmod(&bin, 0o757);
    let link = root.path().join("vm");
    std::os::unix::fs::symlink(&program, &link).unwrap();
    he_conf(&link.display().to_string(), "/no/such/connect");
    fs::write(&paths.agent_conf, "").unwrap();
    let text = Config::load_for_agent(&paths).unwrap_err().to_string();
    assert!(
        text.contains(&format!(
            "vm_command: the program {} is not trusted",
            link.display()
        )),
        "{text}"
    );
    chmod(&bin, 0o755);
    Config::load_for_agent(&paths).unwrap();
}

/// The agent does not use an SMTP password that other users can read, and
/// says why (issue 14); without a password the file may be readable.
#[test]
fn the_agent_refuses_an_smtp_password_others_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let paths = ConfigPaths::under_root(root.path());
    fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    fs::create_dir_all(paths.broker_conf.parent().unwrap()).unwrap();
    fs::write(
        &paths.he_conf,
        "fqdn=engine.lab\nhost_id=3\nstorage=/srv/he\ndomainType=dir\nnetwork_test=none\n\
         watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n",
    )
    .unwrap();
    let chmod = |mode: u32| {
        fs::set_permissions(&paths.broker_conf, fs::Permissions::from_mode(mode)).unwrap();
    };
    fs::write(&paths.broker_conf, "[email]\nsmtp-server=localhost\n").unwrap();
    chmod(0o644);
    Config::load_for_agent(&paths).unwrap();
    fs::write(
        &paths.broker_conf,
        "[email]\nsmtp-server=localhost\nsmtp-port=587\nsmtp-starttls=true\n\
         smtp-user=he\nsmtp-password=hunter2\n",
    )
    .unwrap();
    chmod(0o644);
    let errors = Config::load_for_agent(&paths).unwrap_err();
    assert_eq!(errors.as_slice().len(), 1, "{errors}");
    assert_eq!(errors.as_slice()[0].kind, ErrorKind::Untrusted);
    let text = errors.to_string();
    assert!(
        text.contains("holds smtp-password but other users can read it (mode 0644): chmod 600 it"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(Config::load(&paths).is_ok(), "hosted-engine still reads it");
    chmod(0o600);
    Config::load_for_agent(&paths).unwrap();
}

/// Issue 16: `[metrics] textfile` is off by default and takes only an
/// absolute path ending in `.prom` (node_exporter reads nothing else).
#[test]
fn the_metrics_textfile_must_be_an_absolute_prom_path() {
    let parse = |text: &str| AgentConf::parse(Path::new("agent.conf"), text);
    assert_eq!(parse("").unwrap().metrics.textfile, None);
    let ok = parse("[metrics]\ntextfile = /var/lib/prometheus/node-exporter/hosted_engine.prom\n")
        .unwrap();
    assert_eq!(
        ok.metrics.textfile.as_deref(),
        Some(Path::new(
            "/var/lib/prometheus/node-exporter/hosted_engine.prom"
        ))
    );
    for bad in ["metrics.prom", "/tmp/metrics.txt", "/tmp/prom"] {
        let e = parse(&format!("[metrics]\ntextfile = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agent.conf:2: textfile")
                && e.contains("not an absolute path ending in .prom"),
            "{bad}: {e}"
        );
    }
}
