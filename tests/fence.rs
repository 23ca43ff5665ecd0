//! Running fence agents (`shell::fence`) against fake ones, shell scripts
//! that record what they were given and answer as a scenario says, and once
//! against the real `fence_ipmilan` (fence-agents): the stdin interface, the
//! exit codes, the bound on every call (the whole process group killed), a
//! chatty or deaf agent, and a password that never shows.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use hosted_engine::config::FenceDevice;
use hosted_engine::shell::fence::{self, FenceAction, FenceError, FenceRun, Power};

/// Held for writing while a script is written, for reading while an agent is
/// started: a process forked while a script is still open for writing keeps it
/// open until it execs, and running that script then fails with "text file
/// busy".
static FORKS: RwLock<()> = RwLock::new(());

/// Records the argument count, `PYTHONWARNINGS` and stdin beside the script.
const READ: &str = r#"here=$(dirname "$0")
echo "$#" > "$here/argc"
printf '%s' "$PYTHONWARNINGS" > "$here/env"
cat > "$here/stdin""#;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A fake fence agent `fence_fake` in `dir` running `body`.
fn agent(dir: &Path, body: &str) -> PathBuf {
    let _writing = FORKS.write().unwrap();
    let path = dir.join("fence_fake");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn device(agent: &Path, password_file: Option<PathBuf>) -> FenceDevice {
    FenceDevice {
        host_id: 2,
        agent: agent.display().to_string(),
        options: vec![
            ("ip".into(), "10.0.0.12".into()),
            ("username".into(), "admin".into()),
            ("lanplus".into(), "1".into()),
        ],
        password_file,
    }
}

fn call(device: &FenceDevice, action: FenceAction, timeout: Duration) -> FenceRun {
    let _forking = FORKS.read().unwrap();
    fence::run(device, action, timeout)
}

fn recorded(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

fn password_file(dir: &Path, mode: u32) -> PathBuf {
    let path = dir.join("host2.password");
    fs::write(&path, "s3cret\nnot this line\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn status_reads_the_options_the_password_and_the_action_last_with_no_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(dir.path(), &format!("{READ}\necho 'Status: ON'\nexit 0"));
    let device = device(&script, Some(password_file(dir.path(), 0o600)));
    let run = call(&device, FenceAction::Status, TIMEOUT);
    assert_eq!(run.outcome.as_ref().unwrap(), &Power::On, "{run}");
    assert_eq!(
        recorded(dir.path(), "stdin"),
        "ip=10.0.0.12\nusername=admin\nlanplus=1\npassword=s3cret\naction=status\n"
    );
    assert_eq!(recorded(dir.path(), "argc"), "0\n");
    assert_eq!(recorded(dir.path(), "env"), "ignore::DeprecationWarning");
    assert_eq!((run.program.as_str(), run.host_id), ("fence_fake", 2));
    let line = run.to_string();
    assert!(
        line.starts_with("fence_fake status of host 2: on ("),
        "{line}"
    );
    assert!(line.ends_with(" s)"), "{line}");
    for shown in [line, format!("{run:?}")] {
        assert!(
            !shown.contains("s3cret") && !shown.contains("10.0.0.12"),
            "{shown}"
        );
    }
}

#[test]
fn exit_codes_give_the_power_or_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(
        dir.path(),
        &format!("{READ}\nexit \"$(cat \"$here/code\")\""),
    );
    let device = device(&script, None);
    let cases = [
        (FenceAction::Status, 0, Ok(Power::On)),
        (FenceAction::Status, 2, Ok(Power::Off)),
        (FenceAction::Off, 0, Ok(Power::Off)),
        (FenceAction::On, 0, Ok(Power::On)),
        (FenceAction::Status, 1, Err(Some(1))),
        (FenceAction::Off, 2, Err(Some(2))),
        (FenceAction::On, 5, Err(Some(5))),
    ];
    for (action, code, expected) in cases {
        fs::write(dir.path().join("code"), code.to_string()).unwrap();
        let run = call(&device, action, TIMEOUT);
        let got = match run.outcome {
            Ok(power) => Ok(power),
            Err(FenceError::Failed { code, .. }) => Err(code),
            Err(e) => panic!("{action} exit {code}: {e}"),
        };
        assert_eq!(got, expected, "{action} exit {code}");
        let stdin = recorded(dir.path(), "stdin");
        assert!(stdin.ends_with(&format!("\naction={action}\n")), "{stdin}");
    }
}

#[test]
fn off_succeeds_and_a_failure_says_the_agents_error() {
    let dir = tempfile::tempdir().unwrap();
    let off = agent(dir.path(), &format!("{READ}\necho 'Success: Powered OFF'"));
    let run_off = call(&device(&off, None), FenceAction::Off, TIMEOUT);
    assert_eq!(run_off.outcome.unwrap(), Power::Off);
    assert!(recorded(dir.path(), "stdin").ends_with("lanplus=1\naction=off\n"));
    let failing = agent(
        dir.path(),
        &format!(
            "{READ}\necho 'fence_fake:5: DeprecationWarning: noise' >&2\n\
             echo '2026-12-07 11:13:59,501 ERROR: Connection timed out' >&2\n\
             echo >&2\nexit 1"
        ),
    );
    let run = call(&device(&failing, None), FenceAction::Off, TIMEOUT);
    match &run.outcome {
        Err(FenceError::Failed { code, message }) => {
            assert_eq!((*code, message.as_str()), (Some(1), "Connection timed out"));
        }
        other => panic!("{other:?}"),
    }
    let line = run.to_string();
    assert!(
        line.starts_with("fence_fake off of host 2: failed: Connection timed out ("),
        "{line}"
    );
}

/// Whether `pid` runs (a zombie does not).
fn running(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X'))
}

fn pid_in(dir: &Path, name: &str) -> i32 {
    recorded(dir, name).trim().parse().unwrap()
}

#[test]
fn a_hung_agent_is_killed_with_its_whole_process_group_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // The grandchild keeps the agent's stdout open, as a hung ipmitool would.
    let script = agent(
        dir.path(),
        &format!(
            "{READ}\necho $$ > \"$here/leader\"\nsleep 60 &\necho $! > \"$here/grandchild\"\n\
             echo started > \"$here/ready\"\nsleep 60"
        ),
    );
    let limit = Duration::from_millis(700);
    let started = Instant::now();
    let run = call(&device(&script, None), FenceAction::Off, limit);
    let took = started.elapsed();
    assert!(
        matches!(run.outcome, Err(FenceError::TimedOut(d)) if d == limit),
        "{run}"
    );
    assert!(
        run.to_string()
            .contains(": no answer within 0.7 s: killed it ("),
        "{run}"
    );
    assert!(
        took >= limit && took < limit + Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        recorded(dir.path(), "ready"),
        "started\n",
        "the agent had run"
    );
    for name in ["leader", "grandchild"] {
        let pid = pid_in(dir.path(), name);
        // SIGKILL is delivered at once, but let the kernel finish.
        let until = Instant::now() + Duration::from_secs(5);
        while running(pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(pid), "the {name} {pid} still runs");
    }
}

#[test]
fn a_chatty_agent_neither_blocks_nor_floods_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(
        dir.path(),
        &format!(
            "{READ}\nhead -c 3000000 /dev/zero | tr '\\0' x\n\
             head -c 3000000 /dev/zero | tr '\\0' y >&2\n\
             echo >&2\necho 'ERROR: Failed: too chatty' >&2\nexit 1"
        ),
    );
    let run = call(&device(&script, None), FenceAction::Status, TIMEOUT);
    match &run.outcome {
        Err(FenceError::Failed {
            code: Some(1),
            message,
        }) => assert_eq!(message, "too chatty"),
        other => panic!("{other:?}"),
    }
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    // An agent whose only line is huge: the message stays one bounded line.
    let long = agent(
        dir.path(),
        &format!("{READ}\nhead -c 200000 /dev/zero | tr '\\0' z\nexit 1"),
    );
    let run = call(&device(&long, None), FenceAction::Status, TIMEOUT);
    let line = run.to_string();
    assert!(
        line.len() < 700 && line.contains("failed: zzz"),
        "{}",
        line.len()
    );
}

#[test]
fn an_agent_that_does_not_read_its_input_is_judged_by_its_exit() {
    // Even with SIGPIPE's default restored, as a command line piping into
    // `head` may have it: the writer must see EPIPE, not die of it.
    // SAFETY: signal(2) with a valid signal and handler.
    let before = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let dir = tempfile::tempdir().unwrap();
    let mut device = device(&agent(dir.path(), "exit 0"), None);
    // More than a pipe holds, so that the writer is still writing.
    device.options = (0..100)
        .map(|i| (format!("option{i}"), "v".repeat(4000)))
        .collect();
    let run_ok = call(&device, FenceAction::Status, TIMEOUT);
    assert_eq!(run_ok.outcome.unwrap(), Power::On);
    device.agent = agent(dir.path(), "echo 'ERROR: bad input' >&2\nexit 1")
        .display()
        .to_string();
    let run_failed = call(&device, FenceAction::Off, TIMEOUT);
    // SAFETY: as above, putting back what was there.
    unsafe { libc::signal(libc::SIGPIPE, before) };
    assert!(
        matches!(&run_failed.outcome, Err(FenceError::Failed { code: Some(1), message }) if message == "bad input"),
        "{run_failed}"
    );
}

#[test]
fn a_missing_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("fence_none");
    let run = call(&device(&missing, None), FenceAction::Status, TIMEOUT);
    assert!(matches!(run.outcome, Err(FenceError::Spawn(_))), "{run:?}");
    let line = run.to_string();
    assert!(
        line.starts_with("fence_none status of host 2: cannot run it: No such file or directory"),
        "{line}"
    );
}

#[test]
fn an_agent_that_repeats_the_password_has_it_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(
        dir.path(),
        &format!(
            "{READ}\necho \"ERROR: login refused for $(sed -n 's/^password=//p' \"$here/stdin\")\" >&2\n\
             exit 1"
        ),
    );
    let run = call(
        &device(&script, Some(password_file(dir.path(), 0o400))),
        FenceAction::Off,
        TIMEOUT,
    );
    assert!(recorded(dir.path(), "stdin").contains("\npassword=s3cret\n"));
    let line = run.to_string();
    assert!(
        line.contains("failed: login refused for <redacted> ("),
        "{line}"
    );
    for shown in [line, format!("{run:?}")] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

#[test]
fn an_unsafe_password_file_stops_the_call_before_the_agent_runs() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(dir.path(), &format!("{READ}\nexit 0"));
    let file = password_file(dir.path(), 0o644);
    let run = call(
        &device(&script, Some(file.clone())),
        FenceAction::Off,
        TIMEOUT,
    );
    let Err(FenceError::PasswordFile(why)) = &run.outcome else {
        panic!("{run:?}");
    };
    assert!(why.contains("(mode 0644): chmod 600 it"), "{why}");
    assert!(
        run.to_string()
            .contains(&format!(": not run: password file {}", file.display())),
        "{run}"
    );
    assert!(!dir.path().join("stdin").exists(), "the agent ran");
    assert!(!format!("{run:?}").contains("s3cret"));
}

#[test]
fn an_agent_killed_by_a_signal_of_its_own_failed() {
    let dir = tempfile::tempdir().unwrap();
    let script = agent(dir.path(), &format!("{READ}\nkill -KILL $$"));
    let run = call(&device(&script, None), FenceAction::Status, TIMEOUT);
    assert!(
        matches!(run.outcome, Err(FenceError::Failed { code: None, .. })),
        "{run:?}"
    );
    assert!(
        run.to_string().contains("failed (killed by a signal)"),
        "{run}"
    );
}

/// The real fence_ipmilan (fence-agents 4.12): an address where no BMC
/// answers, its own power_timeout shortened to 1 s; and no address at all.
#[test]
fn the_real_fence_ipmilan_reports_its_errors_through_the_interface() {
    let program = Path::new("/usr/sbin/fence_ipmilan");
    if !common::require(
        "fence_ipmilan (apt-get install fence-agents)",
        program.exists(),
    ) {
        return;
    }
    let mut device = device(program, None);
    device.options = [
        ("ip", "127.0.0.1"),
        ("ipport", "9"),
        ("username", "admin"),
        ("lanplus", "1"),
        ("cipher", "3"),
        ("power_timeout", "1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let unreachable = call(&device, FenceAction::Status, TIMEOUT);
    assert!(
        matches!(&unreachable.outcome, Err(FenceError::Failed { code: Some(1), message }) if message == "Connection timed out"),
        "{unreachable}"
    );
    assert!(unreachable.took < Duration::from_secs(10), "{unreachable}");
    device.options.retain(|(k, _)| k != "ip");
    let no_address = call(&device, FenceAction::Off, TIMEOUT);
    assert_eq!(
        no_address.to_string().split(" (").next().unwrap(),
        "fence_ipmilan off of host 2: failed: You have to enter fence address"
    );
}
