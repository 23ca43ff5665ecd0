//! `hosted-engine --deploy` and `--deploy --add-host` as processes, each host a
//! configuration root of its own (`HE_CONFIG_ROOT`) sharing one storage
//! directory (`domainType=dir`): what the first host writes, hosts added at
//! once never sharing an id, the refusals, answer files, and `--clean-metadata`
//! giving an id back. A whole lab deployed through these commands is in
//! tests/lab_cluster.rs.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hosted_engine::config::{ConfFile, ConfigPaths, HostedEngineConf, WatchdogSetting};
use hosted_engine::metadata::{
    Extra, HostRecord, SLOT_SIZE, WALL_CLOCK_KEY, decode_area, encode_host_slot,
};
use hosted_engine::shell::store::MetadataStore;

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
const IO: Duration = Duration::from_secs(5);
/// This host runs without a watchdog, on purpose (none of these tests runs
/// an agent).
const NO_WATCHDOG: [&str; 2] = [
    "--watchdog-device=none",
    "--watchdog-none-i-accept-split-brain",
];
/// The same as answer-file lines.
const NO_WATCHDOG_ANSWERS: &str = "watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n";

/// A cluster under construction: the storage and one root per host.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let site = Site {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(site.storage()).unwrap();
        site
    }

    fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn root(&self, host: &str) -> PathBuf {
        self.dir.path().join(host)
    }

    fn paths(&self, host: &str) -> ConfigPaths {
        ConfigPaths::under_root(&self.root(host))
    }

    /// `hosted-engine <args>` as `host`.
    fn run(&self, host: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(HE_BIN);
        cmd.args(args).env("HE_CONFIG_ROOT", self.root(host));
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    }

    fn storage_arg(&self) -> String {
        format!("--storage={}", self.storage().display())
    }

    /// The first host's deploy with `extra` options; must succeed.
    fn deploy_first(&self, extra: &[&str]) -> Output {
        let storage = self.storage_arg();
        let mut args = vec![
            "--deploy",
            &storage,
            "--domain-type=dir",
            "--fqdn=engine.example.com",
            "--network-test=none",
            "--vm-command=sleep 1000",
            "--hostname=host1",
            "--no-enable-agent",
        ];
        // A watchdog answer in `extra` replaces the default.
        if !extra.iter().any(|a| a.starts_with("--watchdog-device")) {
            args.extend_from_slice(&NO_WATCHDOG);
        }
        args.extend_from_slice(extra);
        let out = self.run("host1", &args);
        assert_ok(&out);
        out
    }

    fn add_host(&self, host: &str, extra: &[&str]) -> Output {
        let storage = self.storage_arg();
        let name = format!("--hostname={host}");
        let mut args = vec![
            "--deploy",
            "--add-host",
            &storage,
            "--domain-type=dir",
            &name,
            "--no-enable-agent",
        ];
        if !extra.iter().any(|a| a.starts_with("--watchdog-device")) {
            args.extend_from_slice(&NO_WATCHDOG);
        }
        args.extend_from_slice(extra);
        self.run(host, &args)
    }

    fn he_conf(&self, host: &str) -> HostedEngineConf {
        HostedEngineConf::load(&self.paths(host).he_conf).unwrap()
    }

    /// The one storage domain directory.
    fn domain(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.storage())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.remove(0)
    }

    fn ha_agent(&self) -> PathBuf {
        self.domain().join("ha_agent")
    }
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails with exit 1 and `needle` in stderr.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_first_host_writes_its_files_the_shared_copies_and_takes_id_1() {
    let site = Site::new();
    let out = site.deploy_first(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("as host 1 of the engine VM"), "{stdout}");
    assert!(
        stdout.contains("hosted-engine --deploy --add-host"),
        "{stdout}"
    );
    let he = site.he_conf("host1");
    assert_eq!(he.host_id, 1);
    assert_eq!(he.fqdn, "engine.example.com");
    assert_eq!(he.hostname.as_deref(), Some("host1"));
    let vmid = he.vmid.clone().unwrap();
    assert!(hosted_engine::config::is_uuid(&vmid), "{vmid}");
    // The volume is where the configuration says, zeroed.
    let volume = he.metadata_volume_path().unwrap();
    assert_eq!(volume.parent().unwrap(), site.ha_agent());
    let area = MetadataStore::open(&volume, IO).read_area().unwrap();
    assert!(area.iter().all(|&b| b == 0));
    // The shared copies and the claim.
    let shared = HostedEngineConf::load(&site.ha_agent().join("hosted-engine.conf")).unwrap();
    assert_eq!(shared.vmid.as_deref(), Some(vmid.as_str()));
    assert!(site.ha_agent().join("agent.conf").is_file());
    let claim = std::fs::read_to_string(site.ha_agent().join("host-ids/1")).unwrap();
    assert!(claim.starts_with("hostname=host1\n"), "{claim}");
    // Modes: broker.conf may carry mail credentials.
    let paths = site.paths("host1");
    assert_eq!(mode(&paths.broker_conf), 0o600);
    assert_eq!(mode(&paths.he_conf), 0o644);
    // The rest of the command surface sees a deployed host.
    assert_ok(&site.run("host1", &["--check-deployed"]));
    let got = site.run(
        "host1",
        &["--get-shared-config", "fqdn", "--type=he_shared"],
    );
    assert_ok(&got);
    assert!(String::from_utf8_lossy(&got.stdout).contains("engine.example.com"));
    // Deploying again is refused, and changes nothing.
    let again = site.run(
        "host1",
        &[
            "--deploy",
            &site.storage_arg(),
            "--fqdn=x",
            "--vm-command=x",
            NO_WATCHDOG[0],
            NO_WATCHDOG[1],
        ],
    );
    assert_refused(&again, "already deployed: host 1");
    assert_eq!(site.he_conf("host1").vmid.as_deref(), Some(vmid.as_str()));
}

#[test]
fn hosts_added_at_once_never_share_an_id() {
    const ROUNDS: usize = 3;
    const HOSTS: usize = 12;
    for round in 0..ROUNDS {
        let site = Site::new();
        site.deploy_first(&[]);
        let names: Vec<String> = (2..=HOSTS + 1).map(|i| format!("host{i}")).collect();
        // Every process waits at a barrier so that they claim at the same moment.
        let barrier = std::sync::Barrier::new(HOSTS);
        let outputs: Vec<Output> = std::thread::scope(|s| {
            let handles: Vec<_> = names
                .iter()
                .map(|name| {
                    let (site, barrier) = (&site, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        site.add_host(name, &[])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        outputs.iter().for_each(assert_ok);
        let mut ids: Vec<u16> = names.iter().map(|n| site.he_conf(n).host_id).collect();
        ids.sort_unstable();
        let expected: Vec<u16> = (2..=u16::try_from(HOSTS).unwrap() + 1).collect();
        assert_eq!(ids, expected, "round {round}: an id was handed out twice");
        // Each claim names the host that holds the id.
        for name in &names {
            let id = site.he_conf(name).host_id;
            let claim = std::fs::read_to_string(site.ha_agent().join(format!("host-ids/{id}")));
            assert!(claim.unwrap().starts_with(&format!("hostname={name}\n")));
        }
    }
}

#[test]
fn an_added_host_copies_the_cluster_configuration_and_keeps_its_own_keys() {
    let site = Site::new();
    let dir = site.dir.path();
    let agent_conf = dir.join("agent.conf");
    std::fs::write(&agent_conf, common::FAST_AGENT_CONF).unwrap();
    let agent_arg = format!("--agent-conf={}", agent_conf.display());
    site.deploy_first(&[&agent_arg]);
    let out = site.add_host("host2", &["--vm-command=sleep 2000"]);
    assert_ok(&out);
    let (first, second) = (site.he_conf("host1"), site.he_conf("host2"));
    assert_eq!(second.host_id, 2);
    assert_eq!(second.vmid, first.vmid);
    assert_eq!(second.sd_uuid, first.sd_uuid);
    assert_eq!(second.fqdn, first.fqdn);
    assert_eq!(second.hostname.as_deref(), Some("host2"));
    assert_eq!(
        second.vm_command,
        Some(vec!["sleep".to_owned(), "2000".to_owned()])
    );
    // Every host runs the cluster's timings.
    let copied = std::fs::read_to_string(site.paths("host2").agent_conf).unwrap();
    assert_eq!(copied, common::FAST_AGENT_CONF);
    // The identity cannot be answered differently, and timings cannot be chosen.
    let answers = dir.join("other-vm.conf");
    std::fs::write(&answers, "vmid=other\n").unwrap();
    let other = format!("--answer-file={}", answers.display());
    let vmid = first.vmid.clone().unwrap();
    assert_refused(
        &site.add_host("host3", &[&other]),
        &format!("vmid=other differs from the cluster's vmid={vmid}"),
    );
    assert_refused(
        &site.add_host("host3", &[&agent_arg]),
        "--agent-conf is for the first host",
    );
    assert!(!site.paths("host3").he_conf.exists());
    // A cluster without the shared agent.conf (deployed by hand): the
    // operator must name the timings the other hosts run.
    std::fs::remove_file(site.ha_agent().join("agent.conf")).unwrap();
    assert_refused(
        &site.add_host("host3", &[]),
        "agent.conf is missing: pass --agent-conf",
    );
    assert_ok(&site.add_host("host3", &[&agent_arg]));
    let copied = std::fs::read_to_string(site.paths("host3").agent_conf).unwrap();
    assert_eq!(copied, common::FAST_AGENT_CONF);
}

#[test]
fn a_volume_with_live_hosts_is_never_wiped_and_stale_ones_need_force() {
    let site = Site::new();
    site.deploy_first(&[]);
    let he = site.he_conf("host1");
    let volume = he.metadata_volume_path().unwrap();
    let sd = format!("--sd-uuid={}", he.sd_uuid.clone().unwrap());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = |host: &str, extra: &[&str]| {
        let storage = site.storage_arg();
        let mut args = vec![
            "--deploy",
            &storage,
            "--domain-type=dir",
            &sd,
            "--fqdn=engine.example.com",
            "--network-test=none",
            "--vm-command=sleep 1000",
            "--no-enable-agent",
            NO_WATCHDOG[0],
            NO_WATCHDOG[1],
        ];
        args.extend_from_slice(extra);
        site.run(host, &args)
    };
    // A host that holds the lease and whose agent stopped cleanly (its engine
    // VM may run on): never wiped, whatever its age, --force or not.
    write_slot_with_lease(&volume, 3, now - 3600, true, "held");
    assert_refused(
        &first("fresh", &["--force"]),
        "holds the engine VM lease of host 3",
    );
    // A live host: its slot was published just now.
    write_slot(&volume, 3, now, false);
    let out = first("fresh", &["--force"]);
    assert_refused(&out, "holds live hosts (host 3)");
    // The same host, stale: its slot is an hour old.
    write_slot(&volume, 3, now - 3600, false);
    assert_refused(
        &first("fresh", &[]),
        "holds hosts of an earlier deployment (host 3, none live): pass --force",
    );
    // Only claims, no slots (the agents never ran): --force too.
    write_slot_bytes(&volume, 3, &[0; SLOT_SIZE]);
    assert_refused(&first("fresh", &[]), "holds host id claims (host 1)");
    assert_ok(&first("fresh", &["--force"]));
    let area = MetadataStore::open(&volume, IO).read_area().unwrap();
    assert!(decode_area(&area).hosts.is_empty());
    assert_eq!(site.he_conf("fresh").host_id, 1);
}

fn write_slot(volume: &Path, id: u16, wall: u64, stopped: bool) {
    write_slot_with_lease(volume, id, wall, stopped, "none");
}

fn write_slot_with_lease(volume: &Path, id: u16, wall: u64, stopped: bool, lease: &str) {
    let record = HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts: 100,
        host_id: id,
        score: 3400,
        engine_status: r#"{"vm": "down", "health": "bad", "detail": "Down"}"#.to_owned(),
        hostname: format!("host{id}"),
        local_maintenance: false,
        stopped,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 100,
    };
    let mut extra = Extra::new();
    extra.push(WALL_CLOCK_KEY, wall.to_string());
    extra.push("lease", lease);
    extra.push("lease-epoch", "7");
    let bytes = encode_host_slot(id, &record, &extra).unwrap();
    write_slot_bytes(volume, id, &bytes);
}

fn write_slot_bytes(volume: &Path, id: u16, bytes: &[u8; SLOT_SIZE]) {
    MetadataStore::open(volume, IO)
        .write_slot(id, bytes)
        .unwrap();
}

#[test]
fn an_answer_file_repeats_a_dry_run_exactly() {
    let site = Site::new();
    let answers = site.dir.path().join("answers.conf");
    let generate = format!("--generate-answer={}", answers.display());
    let dry = site.deploy_first(&["--dry-run", &generate]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("Would deploy (dry run)"));
    // A dry run writes the answers and nothing else.
    assert!(!site.root("host1").exists());
    assert_eq!(std::fs::read_dir(site.storage()).unwrap().count(), 0);
    assert_eq!(mode(&answers), 0o600);
    let text = std::fs::read_to_string(&answers).unwrap();
    let vmid = text
        .lines()
        .find_map(|l| l.strip_prefix("vmid="))
        .unwrap()
        .to_owned();
    assert!(text.contains("enable_agent=no\n"), "{text}");
    let out = site.run(
        "host1",
        &["--deploy", &format!("--answer-file={}", answers.display())],
    );
    assert_ok(&out);
    assert_eq!(site.he_conf("host1").vmid.as_deref(), Some(vmid.as_str()));
}

#[test]
fn broker_answers_make_broker_conf() {
    let site = Site::new();
    let answers = site.dir.path().join("answers.conf");
    std::fs::write(
        &answers,
        "# mail off\nbroker.notify.state_transition=^$\nbroker.email.smtp-port=2525\n",
    )
    .unwrap();
    site.deploy_first(&[&format!("--answer-file={}", answers.display())]);
    let broker = std::fs::read_to_string(site.paths("host1").broker_conf).unwrap();
    assert!(
        broker.contains("[notify]\nstate_transition=^$\n"),
        "{broker}"
    );
    assert!(broker.contains("[email]\nsmtp-port=2525\n"), "{broker}");
}

#[test]
fn bad_answers_are_refused_with_their_reason() {
    let site = Site::new();
    let answers = site.dir.path().join("answers.conf");
    let answer_arg = format!("--answer-file={}", answers.display());
    let run_with = |text: &str| {
        std::fs::write(&answers, text).unwrap();
        site.run("h", &["--deploy", &answer_arg, "--no-enable-agent"])
    };
    assert_refused(
        &run_with("fqdn=a\nbogus=1\n"),
        "answers.conf:2: unknown answer \"bogus\"",
    );
    assert_refused(&run_with("host_id=4\n"), "host_id is not an answer");
    assert_refused(&run_with("broker.x=1\n"), "broker.<section>.<key>");
    assert_refused(&run_with("fqdn=a\n"), "missing answers: --storage");
    let storage = format!(
        "storage={}\n{NO_WATCHDOG_ANSWERS}",
        site.storage().display()
    );
    assert_refused(
        &run_with(&format!("{storage}fqdn=a\ndomainType=dir\n")),
        "missing answer: the engine VM",
    );
    assert_refused(
        &run_with(&format!(
            "storage=nfs.example.com:/he\nfqdn=a\nvm_command=x\nmnt_root=/nonexistent\n\
             {NO_WATCHDOG_ANSWERS}"
        )),
        "is not mounted at /nonexistent/nfs.example.com:_he",
    );
    assert_refused(
        &run_with(&format!(
            "{storage}domainType=dir\nfqdn=a\nvm_command=x\nnetwork_test=tcp\n"
        )),
        "network_test=tcp needs both tcp_t_address and tcp_t_port",
    );
    assert_refused(
        &run_with(&format!(
            "{storage}domainType=iscsi\nfqdn=a\nvm_command=x\n"
        )),
        "deploy supports file storage",
    );
    let missing = format!("--answer-file={}", site.dir.path().join("nope").display());
    assert_refused(
        &site.run("h", &["--deploy", &missing]),
        "no such answer file",
    );
    // Nothing was written by any of them.
    assert!(!site.root("h").exists());
    assert_eq!(std::fs::read_dir(site.storage()).unwrap().count(), 0);
    // --add-host with nothing deployed says so.
    assert_refused(
        &site.add_host("h", &[]),
        "no hosted-engine deployment under",
    );
}

#[cfg(not(feature = "libvirt"))]
#[test]
fn a_libvirt_engine_vm_needs_the_libvirt_build() {
    let site = Site::new();
    let xml = site.dir.path().join("engine.xml");
    std::fs::write(&xml, "<domain type='kvm'><name>engine</name></domain>\n").unwrap();
    let storage = site.storage_arg();
    let xml_arg = format!("--vm-xml={}", xml.display());
    let out = site.run(
        "h",
        &[
            "--deploy",
            &storage,
            "--domain-type=dir",
            "--fqdn=e",
            &xml_arg,
            "--network-test=none",
            NO_WATCHDOG[0],
            NO_WATCHDOG[1],
        ],
    );
    assert_refused(&out, "this build has no libvirt driver");
}

#[test]
fn clean_metadata_gives_the_id_back() {
    let site = Site::new();
    site.deploy_first(&[]);
    for host in ["host2", "host3"] {
        assert_ok(&site.add_host(host, &[]));
    }
    assert_eq!(site.he_conf("host3").host_id, 3);
    // Host 2 leaves before its agent ever ran: no slot, only its claim, which
    // goes only on purpose.
    assert_refused(
        &site.run("host1", &["--clean-metadata", "--host-id=2"]),
        "its id is claimed by host2",
    );
    assert!(site.ha_agent().join("host-ids/2").exists());
    assert_ok(&site.run(
        "host1",
        &["--clean-metadata", "--host-id=2", "--force-cleanup"],
    ));
    assert!(!site.ha_agent().join("host-ids/2").exists());
    assert_ok(&site.add_host("host4", &[]));
    assert_eq!(site.he_conf("host4").host_id, 2);
    // A slot in use keeps its id even without a claim (a host deployed by hand).
    let volume = site.he_conf("host1").metadata_volume_path().unwrap();
    write_slot(&volume, 4, 1, true);
    assert_ok(&site.add_host("host5", &[]));
    assert_eq!(site.he_conf("host5").host_id, 5);
}

/// Without --no-enable-agent, deploy ends with `systemctl enable --now
/// ovirt-ha-agent.service` (a stand-in systemctl on PATH records it); when that
/// fails the host stays configured and the exit code and message say what to run.
#[test]
fn deploy_enables_the_agent_and_says_so_when_it_cannot() {
    let site = Site::new();
    let bin = site.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let record = site.dir.path().join("systemctl.args");
    let systemctl = bin.join("systemctl");
    let script = |exit: u8| {
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexit {exit}\n",
            record.display()
        )
    };
    std::fs::write(&systemctl, script(0)).unwrap();
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let deploy = |host: &str, extra: &[&str]| {
        let storage = site.storage_arg();
        let mut cmd = Command::new(HE_BIN);
        cmd.args(["--deploy", &storage, "--domain-type=dir", "--hostname=h"])
            .args(NO_WATCHDOG)
            .args(extra)
            .env("HE_CONFIG_ROOT", site.root(host))
            .env("PATH", &path);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    };
    let first = [
        "--fqdn=engine.example.com",
        "--network-test=none",
        "--vm-command=sleep 1000",
    ];
    let out = deploy("host1", &first);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("systemctl enable --now"));
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "enable --now ovirt-ha-agent.service\n"
    );
    std::fs::write(&systemctl, script(1)).unwrap();
    let out = deploy("host2", &["--add-host"]);
    assert_refused(
        &out,
        "host 2 is configured, but the agent could not be enabled",
    );
    assert_eq!(site.he_conf("host2").host_id, 2);
}

/// A libvirt engine VM: the operator's domain XML goes to the storage and every
/// host's vm_xml names that copy as the host sees it.
#[cfg(feature = "libvirt")]
#[test]
fn a_libvirt_engine_vm_definition_is_shared_through_the_storage() {
    let site = Site::new();
    let xml = site.dir.path().join("engine.xml");
    let domain = "<domain type='kvm'><name>engine</name></domain>\n";
    std::fs::write(&xml, domain).unwrap();
    let storage = site.storage_arg();
    let xml_arg = format!("--vm-xml={}", xml.display());
    let out = site.run(
        "host1",
        &[
            "--deploy",
            &storage,
            "--domain-type=dir",
            "--fqdn=e",
            &xml_arg,
            "--network-test=none",
            "--no-enable-agent",
            NO_WATCHDOG[0],
            NO_WATCHDOG[1],
        ],
    );
    assert_ok(&out);
    let shared = site.ha_agent().join("engine-vm.xml");
    assert_eq!(std::fs::read_to_string(&shared).unwrap(), domain);
    assert_ok(&site.add_host("host2", &[]));
    for host in ["host1", "host2"] {
        let he = site.he_conf(host);
        assert_eq!(he.vm_driver.as_str(), "libvirt");
        assert_eq!(he.vm_xml.as_deref(), Some(shared.as_path()), "{host}");
    }
}

/// Every host answers its own watchdog: the agent refuses to start without
/// one, so deploy refuses to write a host without it; running unfenced needs
/// the acknowledgement; the timeout must be one the cluster's timings allow;
/// and an added host never takes the first host's watchdog answers (its
/// hardware may differ, and running unfenced is its own choice).
#[test]
fn every_host_answers_its_own_watchdog() {
    let site = Site::new();
    let storage = site.storage_arg();
    let first = |extra: &[&str]| {
        let mut args = vec![
            "--deploy",
            &storage,
            "--domain-type=dir",
            "--fqdn=engine.example.com",
            "--network-test=none",
            "--vm-command=sleep 1000",
            "--hostname=host1",
            "--no-enable-agent",
        ];
        args.extend_from_slice(extra);
        site.run("host1", &args)
    };
    assert_refused(&first(&[]), "missing answer: --watchdog-device");
    assert_refused(
        &first(&["--watchdog-device=none"]),
        "watchdog_device=none runs this host unfenced",
    );
    assert_refused(
        &first(&[
            "--watchdog-device=/dev/watchdog",
            "--watchdog-none-i-accept-split-brain",
        ]),
        "watchdog_none_i_accept_split_brain is only for watchdog_device=none \
         (watchdog_device is /dev/watchdog)",
    );
    // The default timings allow 12..16 s.
    assert_refused(
        &first(&[
            "--watchdog-device=/dev/watchdog",
            "--watchdog-timeout-secs=60",
        ]),
        "watchdog_timeout_secs: 60 s is longer than the lease allows (at most 16 s = \
         lease-dead-secs 40 + lease-settle-secs 8 - lease-fail-secs 22",
    );
    assert!(!site.root("host1").exists(), "a refused deploy wrote files");
    let out = first(&[
        "--watchdog-device=/dev/watchdog",
        "--watchdog-timeout-secs=15",
    ]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("  watchdog: /dev/watchdog (timeout 15 s)\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let he = site.he_conf("host1");
    assert_eq!(
        he.watchdog_device,
        Some(WatchdogSetting::Device("/dev/watchdog".into()))
    );
    assert_eq!(he.watchdog_timeout_secs, Some(15));
    // An added host answers for itself, and gets nothing of the first's.
    let storage_arg = site.storage_arg();
    let bare = site.run(
        "host2",
        &[
            "--deploy",
            "--add-host",
            &storage_arg,
            "--domain-type=dir",
            "--hostname=host2",
            "--no-enable-agent",
        ],
    );
    assert_refused(&bare, "missing answer: --watchdog-device");
    assert_ok(&site.add_host("host2", &[]));
    let second = site.he_conf("host2");
    assert_eq!(second.watchdog_device, Some(WatchdogSetting::None));
    assert!(second.watchdog_none_accepted);
    assert_eq!(second.watchdog_timeout_secs, None);
    assert_ok(&site.add_host("host3", &["--watchdog-device=/dev/watchdog1"]));
    let third = site.he_conf("host3");
    assert_eq!(
        third.watchdog_device,
        Some(WatchdogSetting::Device("/dev/watchdog1".into()))
    );
    assert_eq!(third.watchdog_timeout_secs, None);
    assert!(!third.watchdog_none_accepted);
}

/// Issue 17: `--fencing-conf` (first host) puts the cluster's fencing.conf
/// beside the metadata volume, `--fence-passwords` installs each host's
/// password files in its own fencing directory, and both are checked as the
/// agent checks them when it starts.
#[test]
fn deploy_takes_the_fencing_file_and_each_hosts_fence_passwords() {
    let site = Site::new();
    let stuff = site.dir.path().join("stuff");
    std::fs::create_dir(&stuff).unwrap();
    std::fs::set_permissions(&stuff, std::fs::Permissions::from_mode(0o700)).unwrap();
    let agent = stuff.join("fence_fake");
    std::fs::write(&agent, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = stuff.join("fencing.conf");
    let text = format!(
        "[host 1]\nagent={0}\npassword-file=host1.password\nip=10.0.0.11\n\
         [host 2]\nagent={0}\npassword-file=host2.password\nip=10.0.0.12\n",
        agent.display()
    );
    std::fs::write(&conf, &text).unwrap();
    let passwords = stuff.join("passwords");
    std::fs::create_dir(&passwords).unwrap();
    for host in ["host1", "host2"] {
        std::fs::write(passwords.join(format!("{host}.password")), "secret\n").unwrap();
    }
    let conf_arg = format!("--fencing-conf={}", conf.display());
    let passwords_arg = format!("--fence-passwords={}", passwords.display());

    // The first host: the file beside the volume, its passwords installed.
    let out = site.deploy_first(&[&conf_arg, &passwords_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("  fencing:  2 fence device(s), fence-after 6 s; 2 password file(s) in "),
        "{stdout}"
    );
    let shared = site.domain().join("ha_agent/fencing.conf");
    assert_eq!(std::fs::read_to_string(&shared).unwrap(), text);
    let secrets = site.paths("host1").fencing_secrets_dir();
    for host in ["host1", "host2"] {
        let file = secrets.join(format!("{host}.password"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let dir_mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    // An added host: the shared file, its own passwords.
    let out = site.add_host("host2", &[&passwords_arg]);
    assert_ok(&out);
    assert!(
        site.paths("host2")
            .fencing_secrets_dir()
            .join("host1.password")
            .exists()
    );
    // Without them it is refused before anything is written, naming them.
    let out = site.add_host("host3", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("host1.password (host 1), host2.password (host 2)"),
        "{stderr}"
    );
    assert!(!site.paths("host3").he_conf.exists());
    // The file is the first host's to give.
    let out = site.add_host("host3", &[&conf_arg, &passwords_arg]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--fencing-conf is for the first host"),
        "{stderr}"
    );
}

#[test]
fn deploy_refuses_a_fencing_file_the_timings_do_not_allow() {
    let site = Site::new();
    let conf = site.dir.path().join("fencing.conf");
    std::fs::write(&conf, "[fencing]\nfence-after-secs = 3\n").unwrap();
    let storage = site.storage_arg();
    let conf_arg = format!("--fencing-conf={}", conf.display());
    let out = site.run(
        "host1",
        &[
            "--deploy",
            &storage,
            "--domain-type=dir",
            "--fqdn=engine.example.com",
            "--network-test=none",
            "--vm-command=sleep 1000",
            "--no-enable-agent",
            NO_WATCHDOG[0],
            NO_WATCHDOG[1],
            &conf_arg,
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fence-after-secs (3) must be at least"),
        "{stderr}"
    );
    assert!(!site.paths("host1").he_conf.exists());
}
