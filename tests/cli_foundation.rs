//! The three binaries as processes: exit codes, messages, and the volume tools.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const HOSTED_ENGINE: &str = env!("CARGO_BIN_EXE_hosted-engine");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const LAB: &str = env!("CARGO_BIN_EXE_he-lab");

/// Runs `bin` with a clean configuration environment rooted at `root`.
fn run(bin: &str, root: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(bin);
    for var in common::PATH_VARS {
        command.env_remove(var);
    }
    command
        .env("HE_CONFIG_ROOT", root)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_he_conf(root: &Path, body: &str) -> std::path::PathBuf {
    let path = root.join("etc/ovirt-hosted-engine/hosted-engine.conf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, body).unwrap();
    path
}

const DEPLOYED: &str = "fqdn=engine.lab\nvmid=1234\nhost_id=2\nstorage=/srv/he\n\
                        domainType=dir\nnetwork_test=none\nwatchdog_device=none\n\
                        watchdog_none_i_accept_split_brain=yes\n";

#[test]
fn hosted_engine_usage_and_unknown_commands() {
    let root = tempfile::tempdir().unwrap();
    let out = run(HOSTED_ENGINE, root.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Usage: hosted-engine"));

    let out = run(HOSTED_ENGINE, root.path(), &["--bogus"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Invalid option '--bogus'\nUsage:"));

    let out = run(HOSTED_ENGINE, root.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--check-deployed"));
}

#[test]
fn check_deployed_answers_from_hosted_engine_conf() {
    let root = tempfile::tempdir().unwrap();
    let out = run(HOSTED_ENGINE, root.path(), &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "The hosted engine has not been deployed\n"
    );

    write_he_conf(root.path(), DEPLOYED);
    let out = run(HOSTED_ENGINE, root.path(), &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "The hosted engine has been deployed\n");

    write_he_conf(root.path(), &DEPLOYED.replace("vmid=1234\n", ""));
    let out = run(HOSTED_ENGINE, root.path(), &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(1));

    let path = write_he_conf(root.path(), &DEPLOYED.replace("host_id=2", "host_id=abc"));
    let out = run(HOSTED_ENGINE, root.path(), &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3: host_id:", path.display())),
        "{stderr}"
    );
}

#[test]
fn empty_path_variables_count_as_not_given() {
    // `HE_CONF=` (and every other path variable set empty) falls back to the
    // default under HE_CONFIG_ROOT instead of failing to parse.
    let root = tempfile::tempdir().unwrap();
    write_he_conf(root.path(), DEPLOYED);
    let empty_everywhere = |bin: &str, args: &[&str]| {
        let mut command = Command::new(bin);
        for var in common::PATH_VARS {
            command.env(var, "");
        }
        command
            .env("HE_CONFIG_ROOT", root.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = empty_everywhere(HOSTED_ENGINE, &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "The hosted engine has been deployed\n");

    let out = empty_everywhere(AGENT, &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("configuration valid: "));

    // HE_CONF= alone, with no config root either: the reference default path.
    for bin in [HOSTED_ENGINE, AGENT] {
        let arg = if bin == AGENT {
            "--check-config"
        } else {
            "--check-deployed"
        };
        let out = Command::new(bin)
            .env_remove("HE_CONFIG_ROOT")
            .env("HE_CONF", "")
            .arg(arg)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{bin}: {stderr}");
        assert!(
            !stderr.contains("a value is required"),
            "{bin}: HE_CONF= refused: {stderr}"
        );
        assert_ne!(out.status.code(), Some(101), "{bin}: {stderr}");
    }
}

/// Issue 16: `--check-config` checks that the configured network test can
/// run: the ICMP echo needs root (a raw socket) or a group in
/// `net.ipv4.ping_group_range` (a ping socket). As root it can; as uid and
/// gid 65534 it can exactly when the range holds 65534, and otherwise says
/// why and fails.
#[test]
fn agent_check_config_says_whether_the_network_test_can_run() {
    // SAFETY: geteuid has no preconditions.
    if !common::require(
        "root (to run the agent as uid 65534)",
        unsafe { libc::geteuid() } == 0,
    ) {
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = DEPLOYED.replace("network_test=none", "network_test=ping\ngateway=127.0.0.1");
    let he_conf = write_he_conf(root.path(), &conf);
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let agent = root.path().join("ovirt-ha-agent");
    std::fs::copy(AGENT, &agent).unwrap();
    let mut command = Command::new(&agent);
    for var in common::PATH_VARS {
        command.env_remove(var);
    }
    command
        .env("HE_CONFIG_ROOT", root.path())
        .arg("--check-config");
    // SAFETY: setgid and setuid are async-signal-safe; nothing else runs.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::setgid(common::NOBODY) != 0 || libc::setuid(common::NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().unwrap();
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let bounds: Vec<u32> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let stderr = text(&out.stderr);
    if (bounds[0]..=bounds[1]).contains(&common::NOBODY) {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "ovirt-ha-agent: {}: network_test=ping: the test cannot run here: cannot send an \
                 ICMP echo: a ping socket is refused",
                he_conf.display()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    }
}

#[test]
fn agent_check_config_names_file_line_and_key() {
    let root = tempfile::tempdir().unwrap();
    write_he_conf(root.path(), DEPLOYED);
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("/srv/he/ha_agent/hosted-engine.metadata"));

    let agent_conf = root.path().join("etc/ovirt-hosted-engine-ha/agent.conf");
    std::fs::create_dir_all(agent_conf.parent().unwrap()).unwrap();
    std::fs::write(
        &agent_conf,
        "[timing]\nloop-secs = 10\nlease-dead-secs = 20\n",
    )
    .unwrap();
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("ovirt-ha-agent: {}:3:", agent_conf.display())),
        "{stderr}"
    );
    assert!(stderr.contains("lease-dead-secs"), "{stderr}");

    // The daemon refuses to start with the same broken configuration.
    let out = run(AGENT, root.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("lease-dead-secs"),
        "{}",
        text(&out.stderr)
    );
    // And without an engine VM driver.
    std::fs::remove_file(&agent_conf).unwrap();
    let out = run(AGENT, root.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no engine VM driver configured"),
        "{}",
        text(&out.stderr)
    );
    let out = run(AGENT, root.path(), &["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lab_volume_init_and_dump() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("v.metadata");
    let volume_arg = volume.to_str().unwrap();
    let out = run(LAB, dir.path(), &["volume", "init", volume_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = run(LAB, dir.path(), &["volume", "dump", volume_arg]);
    assert_eq!(
        text(&out.stdout),
        "global: maintenance=false\nno host slots\n"
    );

    // A slot with a broken CRC is reported as that slot's error in JSON.
    let mut bytes = std::fs::read(&volume).unwrap();
    let record =
        br#"1|1|5|1|3400|{"vm": "up", "health": "good", "detail": "Up"}|h|0|0|deadbeef|1|5"#;
    bytes[4096..4096 + record.len()].copy_from_slice(record);
    std::fs::write(&volume, &bytes).unwrap();
    let out = run(
        LAB,
        dir.path(),
        &["volume", "dump", "--format", "json", volume_arg],
    );
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = json["hosts"]["1"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("crc32 mismatch: stored deadbeef"),
        "{error}"
    );

    let out = run(LAB, dir.path(), &["volume", "init", volume_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("without force"));

    let out = run(
        LAB,
        dir.path(),
        &["volume", "dump", "--timeout-secs=0", volume_arg],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--timeout-secs"));
}

/// Runs `bin` with stdout on a pipe whose read end is already closed, as with
/// `bin | true`: every write to stdout fails with EPIPE.
fn run_into_closed_pipe(bin: &str, args: &[&str], configure: impl Fn(&mut Command)) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = Command::new(bin);
    configure(&mut command);
    command.args(args).stdout(writer).output().unwrap()
}

#[test]
fn a_closed_stdout_is_a_clean_exit() {
    let root = tempfile::tempdir().unwrap();
    write_he_conf(root.path(), DEPLOYED);
    let with_root = |command: &mut Command| {
        command
            .env("HE_CONFIG_ROOT", root.path())
            .env_remove("HE_CONF");
    };
    let cases: [(&str, &[&str], i32); 4] = [
        (HOSTED_ENGINE, &["--help"], 0),
        (HOSTED_ENGINE, &["--check-deployed"], 0),
        (AGENT, &["--check-config"], 0),
        (AGENT, &["--help"], 0),
    ];
    for (bin, args, code) in cases {
        let out = run_into_closed_pipe(bin, args, with_root);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{bin} {args:?}: {stderr}");
        assert_eq!(stderr, "", "{bin} {args:?}");
    }
}

#[test]
fn lab_demo_into_a_closed_pipe_exits_cleanly_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_into_closed_pipe(LAB, &["demo"], |command| {
        command.env("TMPDIR", tmp.path());
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // The volume tools too.
    let volume = tmp.path().join("v.metadata");
    let volume_arg = volume.to_str().unwrap();
    for args in [
        ["volume", "init", volume_arg],
        ["volume", "dump", volume_arg],
    ] {
        let out = run_into_closed_pipe(LAB, &args, |_| {});
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn lab_dump_never_prints_raw_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("v.metadata");
    let volume_arg = volume.to_str().unwrap();
    let out = run(LAB, dir.path(), &["volume", "init", volume_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut bytes = std::fs::read(&volume).unwrap();
    let status = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;
    let crc_valid = |id: u32, hostname: &str| {
        let zeroed = format!("1|1|5|{id}|3400|{status}|{hostname}|0|0|00000000|1|5");
        let crc = crc32fast::hash(zeroed.as_bytes());
        zeroed.replace("00000000", &format!("{crc:08x}"))
    };
    // Host 1: a CRC-valid record whose hostname carries a terminal escape.
    let evil = crc_valid(1, "\x1b[2Jevil\nline");
    bytes[4096..4096 + evil.len()].copy_from_slice(evil.as_bytes());
    // Host 2: a sound record with unsealed (reference-style) extra text whose
    // state value carries one.
    let good = crc_valid(2, "host2");
    bytes[2 * 4096..2 * 4096 + good.len()].copy_from_slice(good.as_bytes());
    let extra = b"state=\x1b[31mred\n";
    bytes[2 * 4096 + 512..2 * 4096 + 512 + extra.len()].copy_from_slice(extra);
    std::fs::write(&volume, &bytes).unwrap();

    let out = run(LAB, dir.path(), &["volume", "dump", volume_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(
        stdout.contains(r#"host 1: invalid: bad hostname "\u{1b}[2Jevil\nline""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"host 2: host2 ts=5 score=3400 state="\u{1b}[31mred""#),
        "{stdout}"
    );
}

#[test]
fn lab_volume_fill_writes_static_hosts_and_checks_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("v");
    let volume_arg = volume.to_str().unwrap();
    assert_eq!(
        run(LAB, dir.path(), &["volume", "init", volume_arg])
            .status
            .code(),
        Some(0)
    );
    let out = run(
        LAB,
        dir.path(),
        &[
            "volume", "fill", volume_arg, "--from", "4", "--count", "247",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(LAB, dir.path(), &["volume", "dump", volume_arg]);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("host ")).count(),
        247
    );
    assert!(stdout.contains("host 250: static250.lab"), "{stdout}");
    let out = run(
        LAB,
        dir.path(),
        &[
            "volume", "fill", volume_arg, "--from", "1990", "--count", "20",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("host ids must stay in 1..=2000"));
}

/// `--check-config` refuses a host without a watchdog and says why, what
/// qualifies and how to run without one on purpose; `none` needs the
/// acknowledgement, named on its line; a valid configuration names the
/// watchdog. `hosted-engine` still reads such a file.
#[test]
fn agent_check_config_requires_a_watchdog_or_its_acknowledged_absence() {
    let root = tempfile::tempdir().unwrap();
    let base = DEPLOYED.replace(
        "watchdog_device=none\nwatchdog_none_i_accept_split_brain=yes\n",
        "",
    );
    let path = write_he_conf(root.path(), &base);
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for words in [
        &format!(
            "ovirt-ha-agent: {}: watchdog_device: required by the agent",
            path.display()
        )[..],
        "a hardware watchdog (iTCO_wdt, ipmi_watchdog, ...) or the kernel's softdog \
         (modprobe softdog soft_margin=16), with a timeout of 12..16 s",
        "watchdog_device=none and watchdog_none_i_accept_split_brain=yes",
    ] {
        assert!(stderr.contains(words), "{words:?} not in: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // hosted-engine does not mind.
    let out = run(HOSTED_ENGINE, root.path(), &["--check-deployed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    write_he_conf(root.path(), &format!("{base}watchdog_device=none\n"));
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "ovirt-ha-agent: {}:7: watchdog_device=none runs this host unfenced",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("watchdog_none_i_accept_split_brain=yes"),
        "{stderr}"
    );

    write_he_conf(root.path(), DEPLOYED);
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(", no watchdog: this host is unfenced (acknowledged), "),
        "{}",
        text(&out.stdout)
    );
    write_he_conf(
        root.path(),
        &format!("{base}watchdog_device=/dev/watchdog\n"),
    );
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(
            ", watchdog /dev/watchdog (its timeout is read, and set if needed, when the agent \
             starts), "
        ),
        "{}",
        text(&out.stdout)
    );
}

/// Issue 16: every program answers `--version` (and `-V`) the same way:
/// its name and the package's version, exit 0.
#[test]
fn every_program_tells_its_version() {
    for (bin, name) in [
        (HOSTED_ENGINE, "hosted-engine"),
        (AGENT, "ovirt-ha-agent"),
        (LAB, "he-lab"),
    ] {
        for flag in ["--version", "-V"] {
            let out = Command::new(bin).arg(flag).output().unwrap();
            assert_eq!(
                (out.status.code(), text(&out.stdout)),
                (Some(0), format!("{name} {}\n", env!("CARGO_PKG_VERSION"))),
                "{name} {flag}: {}",
                text(&out.stderr)
            );
        }
    }
    // Not a command: with one after it, hosted-engine refuses it.
    let out = Command::new(HOSTED_ENGINE)
        .args(["--version", "--vm-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Issue 17: `--check-config` checks the cluster's `fencing.conf` (beside the
/// metadata volume) as the agent does when it starts, and says what it found.
#[test]
fn agent_check_config_checks_the_fencing_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let volume_dir = root.path().join("he");
    std::fs::create_dir(&volume_dir).unwrap();
    let volume = volume_dir.join("hosted-engine.metadata");
    write_he_conf(
        root.path(),
        &format!("{DEPLOYED}metadata_path={}\n", volume.display()),
    );
    let fencing = volume_dir.join("fencing.conf");
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let none = format!("no power fencing (no {})", fencing.display());
    assert!(stdout.contains(&none), "{stdout}");

    std::fs::write(
        &fencing,
        "[fencing]\nfence-after-secs = 12\n[host 1]\nagent=/bin/true\n",
    )
    .unwrap();
    std::fs::set_permissions(&fencing, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fence_<name>") || stderr.contains("fence agent"),
        "{stderr}"
    );

    std::fs::write(&fencing, "[fencing]\nfence-after-secs = 3\n").unwrap();
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", fencing.display()))
            && stderr.contains("fence-after-secs (3) must be at least"),
        "{stderr}"
    );

    std::fs::write(&fencing, "[fencing]\nfence-after-secs = 12\n").unwrap();
    let out = run(AGENT, root.path(), &["--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let on = format!(
        "power fencing: 0 fence device(s) of other hosts, fence-after 12 s ({})",
        fencing.display()
    );
    assert!(stdout.contains(&on), "{stdout}");
}
