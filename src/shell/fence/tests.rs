use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Command;

use super::*;

fn device() -> FenceDevice {
    FenceDevice {
        host_id: 2,
        agent: "/usr/sbin/fence_ipmilan".into(),
        options: vec![
            ("ip".into(), "10.0.0.12".into()),
            ("username".into(), "admin".into()),
            ("cipher".into(), "3".into()),
        ],
        password_file: Some(PathBuf::from("/etc/fencing/host2.password")),
    }
}

fn password(text: &str) -> Password {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    std::fs::write(&path, format!("{text}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    read_password_file(&path).unwrap()
}

fn exited(code: i32) -> Option<ExitStatus> {
    Some(ExitStatus::from_raw(code << 8))
}

fn output(stderr: &str, stdout: &str) -> Output {
    Output {
        input: Fed::Read,
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

#[test]
fn the_input_is_the_options_in_order_then_the_password_then_the_action() {
    let secret = password("s3cret");
    let input = Input::new(&device(), Some(&secret), FenceAction::Off);
    assert_eq!(
        String::from_utf8(input.0).unwrap(),
        "ip=10.0.0.12\nusername=admin\ncipher=3\npassword=s3cret\naction=off\n"
    );
    let input = Input::new(&device(), None, FenceAction::Status);
    assert!(input.0.ends_with(b"cipher=3\naction=status\n"));
}

#[test]
fn exit_statuses_mean_what_fence_agents_say() {
    let quiet = output("", "");
    let t = Duration::from_secs(30);
    let judged = |action, status| judge(action, t, true, status, &quiet, None);
    assert_eq!(judged(FenceAction::Status, exited(0)).unwrap(), Power::On);
    assert_eq!(judged(FenceAction::Status, exited(2)).unwrap(), Power::Off);
    assert_eq!(judged(FenceAction::Off, exited(0)).unwrap(), Power::Off);
    assert_eq!(judged(FenceAction::On, exited(0)).unwrap(), Power::On);
    for (action, code) in [
        (FenceAction::Status, 1),
        (FenceAction::Status, 3),
        (FenceAction::Off, 1),
        (FenceAction::Off, 2),
        (FenceAction::On, 2),
    ] {
        let e = judged(action, exited(code)).unwrap_err();
        assert!(
            matches!(e, FenceError::Failed { code: Some(c), .. } if c == code),
            "{action} {code}: {e:?}"
        );
    }
    let crashed = judged(
        FenceAction::Status,
        Some(ExitStatus::from_raw(libc::SIGSEGV)),
    );
    assert!(matches!(
        crashed,
        Err(FenceError::Failed { code: None, .. })
    ));
}

#[test]
fn a_late_agent_is_timed_out_unless_it_answered_on_its_own() {
    let quiet = output("", "");
    let t = Duration::from_millis(500);
    let killed = Some(ExitStatus::from_raw(libc::SIGKILL));
    let e = judge(FenceAction::Off, t, false, killed, &quiet, None).unwrap_err();
    assert!(matches!(e, FenceError::TimedOut(d) if d == t), "{e:?}");
    let e = judge(FenceAction::Off, t, false, None, &quiet, None).unwrap_err();
    assert!(matches!(e, FenceError::TimedOut(_)), "{e:?}");
    // Its exit raced our kill and won: that is its answer.
    let answered = judge(FenceAction::Off, t, false, exited(0), &quiet, None);
    assert_eq!(answered.unwrap(), Power::Off);
}

#[test]
fn an_input_that_could_not_be_written_is_no_answer() {
    let mut out = output("", "");
    out.input = Fed::Failed(io::Error::from_raw_os_error(libc::EIO));
    let t = Duration::from_secs(1);
    let e = judge(FenceAction::Status, t, true, exited(0), &out, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failed (exit status 0): its input could not be written"),
        "{e}"
    );
}

#[test]
fn an_agent_that_did_not_read_its_input_is_no_answer_whatever_its_exit() {
    let mut out = output("", "Success: Powered OFF\n");
    out.input = Fed::Unread;
    let t = Duration::from_secs(1);
    for (action, status) in [
        (FenceAction::Off, exited(0)),
        (FenceAction::Status, exited(2)),
        (FenceAction::On, exited(1)),
        (
            FenceAction::Status,
            Some(ExitStatus::from_raw(libc::SIGTERM)),
        ),
    ] {
        let e = judge(action, t, true, status, &out, None).unwrap_err();
        assert!(
            matches!(&e, FenceError::Failed { code, message }
                if *code == status.unwrap().code() && message == UNREAD_INPUT),
            "{action}: {e:?}"
        );
    }
    // A timeout still says what happened.
    let late = judge(FenceAction::Off, t, false, None, &out, None).unwrap_err();
    assert!(matches!(late, FenceError::TimedOut(_)), "{late:?}");
}

#[test]
fn a_child_that_cannot_be_waited_for_is_an_error_not_a_timeout() {
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    // Reaped: waitid(2) has nothing to wait for.
    let deadline = Instant::now() + Duration::from_secs(5);
    let e = ended_by(&child, deadline).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{e}");
}

#[test]
fn only_fence_agents_are_run() {
    for agent in [
        "/bin/sh",
        "sh",
        "fence_",
        "fence-ipmilan",
        "/usr/sbin/fence_IPMI",
        "/usr/sbin/fence_x/..",
        "/usr/sbin/fence_ipmilan/",
    ] {
        let e = trusted_program(agent).unwrap_err();
        assert!(
            matches!(&e, FenceError::Untrusted(why) if why.contains("is not a fence agent")),
            "{agent}: {e:?}"
        );
    }
    let e = trusted_program("sbin/fence_ipmilan").unwrap_err();
    assert!(
        e.to_string()
            .contains("neither a program name looked up on PATH"),
        "{e}"
    );
    assert!(matches!(
        trusted_program("fence_no_such_agent_here"),
        Err(FenceError::Missing)
    ));
}

#[test]
fn the_reason_is_the_agents_error_lines() {
    let ipmilan = "/usr/sbin/fence_ipmilan:5: DeprecationWarning: 'pipes' is deprecated\n  \
                   from pipes import quote\n2026-12-07 11:13:59,501 ERROR: Connection timed out\n\n\n";
    assert_eq!(
        failure_message(ipmilan.as_bytes(), b"", None),
        "Connection timed out"
    );
    let usage = "2026-12-07 11:12:39,328 ERROR: Failed: You have to enter fence address\n\n\
                 2026-12-07 11:12:39,329 ERROR: Please use '-h' for usage\n";
    assert_eq!(
        failure_message(usage.as_bytes(), b"", None),
        "You have to enter fence address"
    );
    let two = "ERROR:root:first\nWARNING:root:noise\n x ERROR: second \n";
    assert_eq!(failure_message(two.as_bytes(), b"", None), "first; second");
    assert_eq!(
        failure_message(b"", b"Failed: Timed out waiting to power OFF\n", None),
        "Timed out waiting to power OFF"
    );
    // No ERROR line: the last line, stderr's first.
    assert_eq!(
        failure_message(b"ipmitool: boom\n\n", b"Status: ?\n", None),
        "ipmitool: boom"
    );
    assert_eq!(failure_message(b"", b"one\ntwo\n \n", None), "two");
    assert_eq!(failure_message(b"", b"", None), "");
    let many = "ERROR: a\nERROR: b\nERROR: c\nERROR: d\nERROR: e\n";
    assert_eq!(failure_message(many.as_bytes(), b"", None), "a; b; c; d");
}

#[test]
fn the_reason_never_holds_the_password_nor_breaks_the_log_line() {
    let secret = password("s3cret");
    let leaky = "ERROR: login as admin:s3cret refused\n";
    assert_eq!(
        failure_message(leaky.as_bytes(), b"", Some(&secret)),
        "login as admin:<redacted> refused"
    );
    // Cut after redaction: no head of the password survives the cut.
    let long = format!("ERROR: {}s3cret\n", "x".repeat(MESSAGE_MAX_BYTES - 3));
    let message = failure_message(long.as_bytes(), b"", Some(&secret));
    assert!(!message.contains("s3c"), "{message}");
    assert!(message.ends_with("..."), "{message}");
    let escapes = failure_message(b"ERROR: a\x1b[2Jb\rc\n", b"", None);
    assert_eq!(escapes, "a [2Jb c");
    let wide = "é".repeat(MESSAGE_MAX_BYTES);
    assert!(bounded(&wide).len() <= MESSAGE_MAX_BYTES + 3);
    assert!(failure_message(b"\xff\xfe ERROR: bad bytes\n", b"", None).ends_with("bad bytes"));
}

#[test]
fn a_line_that_names_a_password_is_withheld_whole() {
    let secret = password("s3'cret");
    // Escaped or quoted, the password is not the exact text: the line goes.
    let verbose = "ERROR: Executing: /usr/bin/ipmitool -I lanplus -H 10.0.0.12 -U admin -P \
                   's3'\\''cret' chassis power status\n\
                   ERROR: Failed: Unable to obtain correct plug status\n\
                   ERROR: PASSWORD: s3\\'cret\nERROR: bad Passwd s3%27cret\n";
    let message = failure_message(verbose.as_bytes(), b"", Some(&secret));
    assert_eq!(
        message,
        format!("{WITHHELD}; Unable to obtain correct plug status; {WITHHELD}")
    );
    assert!(!message.contains("s3"), "{message}");
    // The last line, when it is the one shown.
    let message = failure_message(b"login with -p s3\\'cret\n", b"", Some(&secret));
    assert_eq!(message, WITHHELD);
    assert_eq!(
        failure_message(b"", b"Status: ?\npassword: s3\\'cret\n", None),
        WITHHELD
    );
    assert_eq!(failure_message(b"-P s3\\'cret\n", b"", None), WITHHELD);
    // Other lines are shown as they were.
    assert_eq!(
        failure_message(b"ERROR: port 9 -p-less pass word\n", b"", None),
        "port 9 -p-less pass word"
    );
}

#[test]
fn output_keeps_its_tail_from_its_first_whole_line() {
    // The line cut at its front (it could begin with a part of a password)
    // is dropped.
    let mut big = b"-P s3cret\n".repeat(3 * OUTPUT_MAX_BYTES / 10);
    big.extend_from_slice(b"ERROR: the end\n");
    let kept = read_tail(&big[..]);
    assert!(kept.len() <= OUTPUT_MAX_BYTES && kept.len() > OUTPUT_MAX_BYTES - 10);
    assert!(kept.starts_with(b"-P s3cret\n"), "{:?}", &kept[..20]);
    assert!(kept.ends_with(b"ERROR: the end\n"));
    let mut cut = vec![b'x'; 3 * OUTPUT_MAX_BYTES];
    cut.extend_from_slice(b"\nERROR: the end\n");
    assert_eq!(read_tail(&cut[..]), b"ERROR: the end\n");
    // Cut where a line ends: every line kept is whole.
    let mut whole = vec![b'x'; OUTPUT_MAX_BYTES];
    whole.push(b'\n');
    let tail = [b"y".repeat(OUTPUT_MAX_BYTES - 1), b"\n".to_vec()].concat();
    whole.extend_from_slice(&tail);
    assert_eq!(read_tail(&whole[..]), tail);
    // One line longer than the bound: nothing of it is whole.
    assert_eq!(read_tail(&vec![b'z'; 2 * OUTPUT_MAX_BYTES][..]), b"");
    assert_eq!(read_tail(&b"short"[..]), b"short");
}

#[test]
fn a_run_is_one_log_line_without_options_or_password() {
    let run = |action, outcome, took_ms| FenceRun {
        program: "fence_ipmilan".into(),
        host_id: 2,
        action,
        outcome,
        took: Duration::from_millis(took_ms),
    };
    assert_eq!(
        run(FenceAction::Status, Ok(Power::On), 80).to_string(),
        "fence_ipmilan status of host 2: on (0.08 s)"
    );
    let timed_out = FenceError::Failed {
        code: Some(1),
        message: "Connection timed out".into(),
    };
    assert_eq!(
        run(FenceAction::Off, Err(timed_out), 20_100).to_string(),
        "fence_ipmilan off of host 2: failed: Connection timed out (20.10 s)"
    );
    let cases = [
        (
            FenceError::TimedOut(Duration::from_millis(2_500)),
            "no answer within 2.50 s: killed it",
        ),
        (
            FenceError::Missing,
            "cannot run it: no such program (is the fence-agents package installed?)",
        ),
        (
            FenceError::Untrusted("\"sh\" is not a fence agent".into()),
            "not run: \"sh\" is not a fence agent",
        ),
        (
            FenceError::Spawn(io::Error::from_raw_os_error(libc::EACCES)),
            "cannot run it: Permission denied (os error 13)",
        ),
        (
            FenceError::PasswordFile("password file /p: not a regular file".into()),
            "not run: password file /p: not a regular file",
        ),
        (
            FenceError::Failed {
                code: Some(3),
                message: "x".into(),
            },
            "failed (exit status 3): x",
        ),
        (
            FenceError::Failed {
                code: None,
                message: String::new(),
            },
            "failed (killed by a signal) without a message",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
    assert_eq!(
        run(FenceAction::On, Ok(Power::On), 2_134).to_string(),
        "fence_ipmilan on of host 2: on (2.13 s)"
    );
}

#[test]
fn durations_read_the_same_everywhere() {
    for (ms, text) in [
        (0, "0.00 s"),
        (80, "0.08 s"),
        (2_134, "2.13 s"),
        (20_100, "20.10 s"),
        (30_000, "30.00 s"),
    ] {
        assert_eq!(took_text(Duration::from_millis(ms)), text);
    }
}

#[test]
#[should_panic(expected = "fence option \"ip\" would not be one key=value line")]
fn an_option_that_would_make_two_lines_is_a_programmers_error() {
    let mut device = device();
    device.options[0].1 = "10.0.0.12\naction=reboot".into();
    Input::new(&device, None, FenceAction::Status);
}
