use std::os::unix::fs::PermissionsExt as _;

use super::*;

const PATH: &str = "/etc/ovirt-hosted-engine/fencing.conf";

/// The layout of the module documentation; line numbers in the comments.
const TWO_HOSTS: &str = "\
[fencing]
timeout-secs = 20.5
[host 1]
agent = fence_ipmilan
password-file = /etc/ovirt-hosted-engine-ha/fencing/host1.password
ip = 10.0.0.11
username = admin
lanplus = 1
cipher = 3

[host 2]
agent = /usr/sbin/fence_redfish
ip=10.0.0.12
";

fn parse(text: &str) -> Result<FencingConf, ConfigErrors> {
    FencingConf::parse(Path::new(PATH), text)
}

/// The one error `text` gets, as printed.
fn refused(text: &str) -> ConfigError {
    let errors = parse(text).expect_err("the file must be refused");
    assert_eq!(errors.as_slice().len(), 1, "{errors}");
    errors.0.into_iter().next().unwrap()
}

fn pairs(options: &[(&str, &str)]) -> Vec<(String, String)> {
    options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_host_section_becomes_a_device_with_its_options_in_file_order() {
    let conf = parse(TWO_HOSTS).unwrap();
    assert_eq!(conf.timeout_ms, 20_500);
    assert_eq!(conf.devices.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        conf.devices[&1],
        FenceDevice {
            host_id: 1,
            agent: "fence_ipmilan".into(),
            options: pairs(&[
                ("ip", "10.0.0.11"),
                ("username", "admin"),
                ("lanplus", "1"),
                ("cipher", "3"),
            ]),
            password_file: Some("/etc/ovirt-hosted-engine-ha/fencing/host1.password".into()),
        }
    );
    let two = &conf.devices[&2];
    assert_eq!(two.program(), "fence_redfish");
    assert_eq!(conf.devices[&1].program(), "fence_ipmilan");
    assert_eq!(two.options, pairs(&[("ip", "10.0.0.12")]));
    assert_eq!(two.password_file, None);
    assert_eq!(conf.unknown_keys(), vec![]);
}

#[test]
fn no_file_or_an_empty_one_means_the_defaults_and_no_devices() {
    let dir = tempfile::tempdir().unwrap();
    let missing = FencingConf::load(&dir.path().join(FENCING_CONF_NAME)).unwrap();
    let empty = parse("").unwrap();
    for conf in [missing, empty] {
        assert_eq!(conf.timeout_ms, FENCE_TIMEOUT_DEFAULT_MS);
        assert!(conf.devices.is_empty());
    }
    let only_hosts = parse("[host 7]\nagent=fence_virsh\n").unwrap();
    assert_eq!(only_hosts.timeout_ms, 30_000);
    assert_eq!(only_hosts.devices[&7].options, vec![]);
}

#[test]
fn the_defaults_keep_their_rules() {
    let conf = parse("").unwrap();
    assert_eq!(conf.violations(), vec![]);
}

#[test]
fn action_and_passwords_are_refused_naming_file_line_and_key() {
    let cases = [
        (
            "action = off",
            "action",
            "the action is the agent's to choose",
        ),
        (
            "password = secret",
            "password",
            "a password is never written here",
        ),
        (
            "passwd=secret",
            "passwd",
            "a password is never written here",
        ),
        (
            "PASSWORD=secret",
            "PASSWORD",
            "a password is never written here",
        ),
        (
            "Action=reboot",
            "Action",
            "a fence agent given none reboots",
        ),
        (
            "password_file=/x",
            "password_file",
            "write it password-file",
        ),
    ];
    for (line, key, why) in cases {
        let text = format!("[host 3]\nagent=fence_ipmilan\n{line}\n");
        let e = refused(&text);
        assert_eq!(
            (e.kind, e.line, e.key.as_deref()),
            (ErrorKind::Value, Some(3), Some(key)),
            "{line}"
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{PATH}:3: {key}: not allowed in fencing.conf: ")),
            "{shown}"
        );
        assert!(shown.contains(why), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[test]
fn a_host_section_needs_an_agent() {
    let e = refused("[fencing]\ntimeout-secs=10\n\n[host 2]\nip=10.0.0.12\n");
    assert_eq!(
        e.to_string(),
        format!("{PATH}:4: agent: required key is missing in [host 2] (the fence agent to run)")
    );
    assert_eq!(e.kind, ErrorKind::Missing);
    let e = refused("[host 2]\nagent=\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Missing, Some(2)));
    assert_eq!(
        e.to_string(),
        format!("{PATH}:2: agent: required key is empty (the fence agent to run)")
    );
}

#[test]
fn the_agent_is_one_program_by_name_or_absolute_path() {
    for good in ["fence_ipmilan", "/usr/sbin/fence_ipmilan"] {
        let conf = parse(&format!("[host 1]\nagent={good}\n")).unwrap();
        assert_eq!(conf.devices[&1].agent, good);
    }
    let e = refused("[host 1]\nagent=fence_ipmilan -o status\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("agent")));
    assert!(e.message.contains("takes no arguments"), "{e}");
    for relative in ["sbin/fence_ipmilan", "./fence_ipmilan", "/usr/sbin/"] {
        let e = refused(&format!("[host 1]\nagent={relative}\n"));
        assert!(
            e.message
                .contains("neither a program name looked up on PATH"),
            "{relative}: {e}"
        );
    }
}

#[test]
fn the_password_file_is_an_absolute_path_or_a_name_in_the_hosts_own_directory() {
    for bad in ["sub/host1.password", "..", "/etc/", "./x"] {
        let e = refused(&format!(
            "[host 1]\nagent=fence_ipmilan\npassword-file={bad}\n"
        ));
        assert_eq!(
            e.to_string(),
            format!(
                "{PATH}:3: password-file: {bad:?} is neither an absolute path to a file nor a \
                 file name (in this host's fencing directory)"
            )
        );
    }
    let conf = parse(
        "[host 1]\nagent=fence_a\nPassword-File=/p\n[host 2]\nagent=fence_a\npassword-file=h2\n",
    )
    .unwrap();
    assert_eq!(conf.devices[&1].password_file, Some(PathBuf::from("/p")));
    assert_eq!(conf.devices[&2].password_file, Some(PathBuf::from("h2")));
    let resolved = conf.in_secrets_dir(Path::new("/etc/ovirt-hosted-engine-ha/fencing"));
    assert_eq!(
        resolved.devices[&1].password_file,
        Some(PathBuf::from("/p"))
    );
    assert_eq!(
        resolved.devices[&2].password_file,
        Some(PathBuf::from("/etc/ovirt-hosted-engine-ha/fencing/h2"))
    );
}

#[test]
fn unknown_sections_and_bad_host_ids_are_refused_on_their_line() {
    let expected = "(expected [fencing] or [host N], N a host id 1..=2000)";
    for (header, message) in [
        ("[hosts 1]", format!("unknown section [hosts 1] {expected}")),
        ("[host1]", format!("unknown section [host1] {expected}")),
        ("[Host 1]", format!("unknown section [Host 1] {expected}")),
        ("[email]", format!("unknown section [email] {expected}")),
        ("[host]", format!("unknown section [host] {expected}")),
        (
            "[host 0]",
            "[host 0]: \"0\" is not a host id (1..=2000)".into(),
        ),
        (
            "[host 2001]",
            "[host 2001]: \"2001\" is not a host id (1..=2000)".into(),
        ),
        (
            "[host x]",
            "[host x]: \"x\" is not a host id (1..=2000)".into(),
        ),
    ] {
        let e = refused(&format!("[fencing]\n{header}\nagent=fence_ipmilan\n"));
        assert_eq!(e.to_string(), format!("{PATH}:2: {message}"), "{header}");
        assert_eq!(e.kind, ErrorKind::Syntax);
    }
}

#[test]
fn one_host_has_one_section() {
    let e = refused("[host 1]\nagent=fence_a\n[host 01]\nagent=b\n");
    assert_eq!(
        e.to_string(),
        format!("{PATH}:3: host 1 has a second section [host 01] (first on line 1)")
    );
    assert_eq!(e.kind, ErrorKind::Duplicate);
    let e = refused("[host 1]\nagent=fence_a\n[host 1]\nagent=b\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Duplicate, Some(3)));
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let text = "\
[fencing]
timeout-secs = soon
[host 1]
action = off
[pdu]
[host 2]
agent = fence_virsh
passwd = x
";
    let errors = parse(text).unwrap_err();
    let lines: Vec<_> = errors.as_slice().iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![Some(2), Some(3), Some(4), Some(5), Some(8)],
        "{errors}"
    );
}

#[test]
fn durations_are_checked() {
    let e = refused("[fencing]\ntimeout-secs=0\n");
    assert_eq!(
        e.to_string(),
        format!("{PATH}:2: timeout-secs: timeout-secs (0) must be greater than 0 and at most 300")
    );
    let e = refused("[fencing]\ntimeout-secs=301\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("timeout-secs")));
    let e = refused("[fencing]\ntimeout-secs=6s\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Value, Some(2)));
}

#[test]
fn a_line_break_never_reaches_the_fence_agent() {
    // The document refuses a lone \r inside a line (a CRLF file is fine).
    let e = refused("[host 1]\nagent=fence_a\nip=10.0.0.1\rusername=root\n");
    assert_eq!((e.kind, e.line), (ErrorKind::Syntax, Some(3)));
    let crlf = parse("[host 1]\r\nagent=fence_a\r\nip=10.0.0.1\r\n").unwrap();
    assert_eq!(crlf.devices[&1].options, pairs(&[("ip", "10.0.0.1")]));
    // And the rule holds where the line is made.
    assert!(check_option_value("a\rb").is_err());
    assert!(check_option_value("a\nb").is_err());
    assert!(check_option_value("a b\t\"c\"").is_ok());
}

#[test]
fn options_are_bounded() {
    let mut text = String::from("[host 1]\nagent=fence_a\n");
    for i in 0..=FENCE_OPTIONS_MAX {
        text.push_str(&format!("option{i}=x\n"));
    }
    let e = refused(&text);
    assert_eq!((e.kind, e.line), (ErrorKind::TooLarge, Some(1)));
}

#[test]
fn unknown_keys_are_those_of_the_fencing_section_only() {
    let conf = parse("[fencing]\nfence-after=5\n[host 1]\nagent=fence_a\nbogus=1\n").unwrap();
    let unknown: Vec<_> = conf.unknown_keys().iter().map(|e| e.key).collect();
    assert_eq!(unknown, vec!["fence-after"]);
    assert_eq!(conf.devices[&1].options, pairs(&[("bogus", "1")]));
}

fn write_secret(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn a_password_is_the_first_line_of_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_secret(dir.path(), "a", b"s3cret\nsecond line\n", 0o600);
    assert_eq!(read_password_file(&plain).unwrap().expose(), "s3cret");
    let crlf = write_secret(dir.path(), "b", b"s3cret\r\n", 0o400);
    assert_eq!(read_password_file(&crlf).unwrap().expose(), "s3cret");
    let no_newline = write_secret(dir.path(), "c", b"pass word", 0o600);
    assert_eq!(
        read_password_file(&no_newline).unwrap().expose(),
        "pass word"
    );
}

#[test]
fn a_password_file_others_could_read_or_plant_is_refused_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let why = |name: &str, bytes: &[u8], mode: u32| {
        let path = write_secret(dir.path(), name, bytes, mode);
        let e = read_password_file(&path).unwrap_err();
        assert!(
            e.starts_with(&format!("password file {}", path.display())),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        e
    };
    let e = why("readable", b"s3cret\n", 0o644);
    assert!(
        e.ends_with("other users may read or change it (mode 0644): chmod 600 it"),
        "{e}"
    );
    let e = why("group", b"s3cret\n", 0o640);
    assert!(e.contains("(mode 0640)"), "{e}");
    let e = why("writable", b"s3cret\n", 0o606);
    assert!(e.contains("writable by others"), "{e}");
    assert!(why("empty", b"\ns3cret\n", 0o600).ends_with("its first line, the password, is empty"));
    assert!(why("nothing", b"", 0o600).ends_with("is empty"));
    assert!(why("spaced", b" s3cret\n", 0o600).contains("fence agents strip"));
    assert!(why("control", b"s3\x1bcret\n", 0o600).contains("control character"));
    assert!(why("binary", b"s3\xffcret\n", 0o600).ends_with("not utf-8 text"));
    let big = vec![b'x'; PASSWORD_FILE_MAX_BYTES as usize + 1];
    assert!(why("big", &big, 0o600).contains("larger than 4096 bytes"));
    // A link could point anywhere: refused, even to a good file.
    let good = write_secret(dir.path(), "good", b"s3cret\n", 0o600);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let e = read_password_file(&link).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    let e = read_password_file(&dir.path().join("none")).unwrap_err();
    assert!(e.contains("cannot check it"), "{e}");
    // In a directory others can change, someone could swap the file.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let inside = write_secret(&open, "p", b"s3cret\n", 0o600);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = read_password_file(&inside).unwrap_err();
    assert!(e.contains("writable by others"), "{e}");
    if unsafe { libc::geteuid() } == 0 {
        // Another user's file: as root, one given to uid 4242.
        let theirs = write_secret(dir.path(), "theirs", b"s3cret\n", 0o600);
        std::os::unix::fs::chown(&theirs, Some(4242), None).unwrap();
        let e = read_password_file(&theirs).unwrap_err();
        assert!(e.contains("owned by uid 4242"), "{e}");
    }
}

#[test]
fn a_password_never_shows_in_debug() {
    let password = first_line_password(b"s3cret\n").unwrap();
    assert_eq!(format!("{password:?}"), "Password(<redacted>)");
}

#[test]
fn agent_errors_name_missing_programs_and_bad_password_files() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("fencing");
    std::fs::create_dir(&secrets).unwrap();
    let good = write_secret(&secrets, "good", b"s3cret\n", 0o600);
    let bad = write_secret(&secrets, "bad", b"s3cret\n", 0o644);
    let elsewhere = write_secret(dir.path(), "elsewhere", b"s3cret\n", 0o600);
    let agent = dir.path().join("fence_ok");
    std::fs::write(&agent, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "[host 1]\nagent={a}\npassword-file={}\n[host 2]\nagent=/no/such/fence_x\n\
         [host 3]\nagent={a}\npassword-file={}\n[host 4]\nagent={a}\npassword-file={}\n",
        good.display(),
        bad.display(),
        elsewhere.display(),
        a = agent.display()
    );
    let path = dir.path().join(FENCING_CONF_NAME);
    std::fs::write(&path, &text).unwrap();
    let conf = FencingConf::load(&path).unwrap();
    let errors: Vec<_> = conf
        .agent_errors(&secrets)
        .into_iter()
        .map(|e| (e.kind, e.line, e.key))
        .collect();
    let password_file = Some("password-file".to_string());
    assert_eq!(
        errors,
        vec![
            (ErrorKind::Value, Some(5), Some("agent".to_string())),
            (ErrorKind::Untrusted, Some(8), password_file.clone()),
            (ErrorKind::Untrusted, Some(11), password_file),
        ]
    );
    let outside = conf.agent_errors(&secrets)[2].to_string();
    assert!(
        outside.contains("this host's directory for fence passwords"),
        "{outside}"
    );
    let shown = conf.agent_errors(&secrets)[0].to_string();
    assert!(
        shown.ends_with(
            "agent: /no/such/fence_x: no such program (is the fence-agents package installed?)"
        ),
        "{shown}"
    );
    // The file itself must be one only root can change: it names what root runs.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let conf = FencingConf::load(&path).unwrap();
    let first = &conf.agent_errors(&secrets)[0];
    assert_eq!((first.kind, first.line), (ErrorKind::Untrusted, None));
    assert!(
        first.message.contains("not trusted with the fence agents"),
        "{first}"
    );
}

/// Whoever can write the shared file must not get root to run a program of
/// their choosing, read or write a file of their choosing, or find a secret
/// in it: such keys are refused, whatever their case or `-`/`_` spelling.
#[test]
fn keys_that_run_programs_touch_files_or_hold_secrets_are_refused() {
    let keys = [
        "password_script",
        "Passwd-Script",
        "snmp_priv_passwd_script",
        "ipmitool_path",
        "ssh-path",
        "ssh_options",
        "identity_file",
        "debug_file",
        "verbose",
        "verbose_level",
        "hexadecimal_kg",
        "snmp_priv_passwd",
        "community",
        "client_secret",
    ];
    for key in keys {
        let e = refused(&format!("[host 1]\nagent=fence_a\n{key}=x\n"));
        assert_eq!((e.kind, e.line), (ErrorKind::Value, Some(3)), "{key}: {e}");
        assert!(e.to_string().contains("not allowed in fencing.conf"), "{e}");
    }
    let fine = parse("[host 1]\nagent=fence_a\nip=x\nipport=623\nlanplus=1\nssl_insecure=1\n");
    assert_eq!(fine.unwrap().devices[&1].options.len(), 4);
}

/// Only fence agents are run: each option line of the section goes to the
/// program, and `/bin/sh` would run every one of them.
#[test]
fn only_programs_named_fence_something_are_agents() {
    for agent in [
        "sh",
        "/bin/sh",
        "fence_",
        "Fence_ipmilan",
        "fence_ipmi-lan",
        "xfence_a",
    ] {
        let e = refused(&format!("[host 1]\nagent={agent}\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("agent")), "{e}");
        assert!(e.to_string().contains("is not a fence agent"), "{e}");
    }
    for agent in ["fence_ipmilan", "/usr/sbin/fence_redfish", "fence_ilo4_ssh"] {
        assert!(
            parse(&format!("[host 1]\nagent={agent}\n")).is_ok(),
            "{agent}"
        );
    }
    let e = refused("[host 1]\nagent=fence_a\npassword-file=/etc/x/../../root/key\n");
    assert!(e.to_string().contains("climbs out"), "{e}");
}

#[test]
fn fence_after_defaults_to_six_seconds_or_what_the_timings_need() {
    let conf = parse(TWO_HOSTS).unwrap();
    assert_eq!(conf.fence_after_ms, None);
    assert_eq!(conf.fence_after_ms(&Timings::default()), 6_000);
    // 2 x loop-secs on the reference's timings.
    assert_eq!(conf.fence_after_ms(&Timings::reference()), 20_000);
    let set = parse("[fencing]\nfence-after-secs = 14\n").unwrap();
    assert_eq!(set.fence_after_ms(&Timings::reference()), 14_000);
    let core = conf.core_conf(1, &Timings::default());
    assert_eq!(core.fence_after_ms, 6_000);
    assert_eq!(core.timeout_ms, 20_500);
    assert_eq!(core.devices.into_iter().collect::<Vec<_>>(), vec![2]);
}

#[test]
fn fence_after_is_checked_against_the_timings_on_its_line() {
    let text = "[fencing]\nfence-after-secs = 3\n";
    let conf = parse(text).unwrap();
    let errors = conf.timing_errors(&Timings::default());
    assert_eq!(errors.len(), 1, "{errors:?}");
    let shown = errors[0].to_string();
    assert!(shown.contains(&format!("{PATH}:2")), "{shown}");
    assert!(shown.contains("at least 2 x loop-secs (4)"), "{shown}");
    let late = parse("[fencing]\nfence-after-secs = 40\n").unwrap();
    let shown = late.timing_errors(&Timings::default())[0].to_string();
    assert!(shown.contains("below lease-dead-secs (40)"), "{shown}");
    // Below 2 x loop-secs, and with the settle below a publishing host's gap.
    assert_eq!(conf.timing_errors(&Timings::reference()).len(), 2);
    let zero = refused("[fencing]\nfence-after-secs = 0\n").to_string();
    assert!(
        zero.contains("fence-after-secs (0) must be greater than 0"),
        "{zero}"
    );
}

#[test]
fn the_agent_loads_no_file_as_no_fencing_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FENCING_CONF_NAME);
    let secrets = dir.path().join("fencing");
    let t = Timings::default();
    assert_eq!(
        FencingConf::load_for_agent(&path, &t, &secrets).unwrap(),
        None
    );
    std::fs::write(&path, "[fencing]\nfence-after-secs = 3\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let errors = FencingConf::load_for_agent(&path, &t, &secrets).unwrap_err();
    assert!(
        errors.to_string().contains("fence-after-secs (3)"),
        "{errors}"
    );
    std::fs::write(&path, "[host 2]\nagent = fence_no_such_agent_here\n").unwrap();
    let errors = FencingConf::load_for_agent(&path, &t, &secrets).unwrap_err();
    assert!(errors.to_string().contains("no such program"), "{errors}");
    std::fs::write(&path, "[fencing]\nfence-after-secs = 12\n").unwrap();
    let conf = FencingConf::load_for_agent(&path, &t, &secrets).unwrap();
    assert_eq!(conf.map(|c| c.fence_after_ms), Some(Some(12_000)));
}
