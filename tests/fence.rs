//! Running fence agents (`shell::fence`) against fake ones, shell scripts
//! that record what they were given and answer as a scenario says, and once
//! against the real `fence_ipmilan` (fence-agents): the stdin interface, the
//! exit codes, the bound on every call (the whole process group killed), a
//! chatty or deaf agent, a password that never shows, and the checks before
//! anything runs (only a `fence_*` program that no other user can change,
//! in a clean environment).
//!
//! The fake agents are in a fresh temporary directory of ours (mode 0700,
//! under the sticky `/tmp`), which passes the trust check, and are named
//! `fence_*`, as the runner requires.

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

/// The failure's exit code and message, or a panic saying what came instead.
fn failure(run: &FenceRun) -> (Option<i32>, &str) {
    match &run.outcome {
        Err(FenceError::Failed { code, message }) => (*code, message.as_str()),
        other => panic!("not a failure: {other:?} ({run})"),
    }
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
    // Long enough for a loaded machine to start the script and let it write
    // `ready`, which shows that the agent did run.
    let limit = Duration::from_secs(3);
    let started = Instant::now();
    let run = call(&device(&script, None), FenceAction::Off, limit);
    let took = started.elapsed();
    assert!(
        matches!(run.outcome, Err(FenceError::TimedOut(d)) if d == limit),
        "{run}"
    );
    assert!(
        run.to_string()
            .contains(": no answer within 3.00 s: killed it ("),
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
        assert_dies(dir.path(), name);
    }
}

/// Asserts that the process whose pid is in the file `name` is dead, or
/// dies within a few seconds (SIGKILL is delivered at once, but let the
/// kernel finish).
fn assert_dies(dir: &Path, name: &str) {
    let pid = pid_in(dir, name);
    let until = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(pid), "the {name} {pid} still runs");
}

#[test]
fn an_agent_that_fails_at_once_is_not_waited_for_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    // Its background child holds the agent's stdout and stderr open.
    let script = agent(
        dir.path(),
        &format!(
            "{READ}\nsleep 60 &\necho $! > \"$here/background\"\n\
             echo 'ERROR: x' >&2\nexit 1"
        ),
    );
    let run = call(&device(&script, None), FenceAction::Off, TIMEOUT);
    assert_eq!(failure(&run), (Some(1), "x"));
    assert!(run.took < Duration::from_secs(5), "{run}");
    assert_dies(dir.path(), "background");
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
    // An agent whose only line is huge (but whole: under the bound of the
    // output kept): the message stays one bounded line.
    let long = agent(
        dir.path(),
        &format!("{READ}\nhead -c 60000 /dev/zero | tr '\\0' z\nexit 1"),
    );
    let run = call(&device(&long, None), FenceAction::Status, TIMEOUT);
    let line = run.to_string();
    assert!(
        line.len() < 700 && line.contains("failed: zzz"),
        "{}",
        line.len()
    );
}

/// SIGPIPE's default disposition for the whole process while it lives; the
/// one before put back when it is dropped, even by a failing test's panic.
struct SigpipeDefault(libc::sighandler_t);

impl SigpipeDefault {
    fn set() -> SigpipeDefault {
        // SAFETY: signal(2) with a valid signal and handler.
        SigpipeDefault(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) })
    }
}

impl Drop for SigpipeDefault {
    fn drop(&mut self) {
        // SAFETY: as in `set`, putting back what was there.
        unsafe { libc::signal(libc::SIGPIPE, self.0) };
    }
}

const UNREAD: &str = "exited without reading its input";

#[test]
fn an_agent_that_does_not_read_its_input_is_not_believed_whatever_its_exit() {
    let dir = tempfile::tempdir().unwrap();
    // Exit 0 for `off` would be a host confirmed off; 2 for `status`, off.
    let mut device = device(
        &agent(dir.path(), "echo 'Success: Powered OFF'\nexit 0"),
        None,
    );
    let run = call(&device, FenceAction::Off, TIMEOUT);
    assert_eq!(failure(&run), (Some(0), UNREAD));
    assert!(
        run.to_string()
            .contains(": failed (exit status 0): exited without reading its input ("),
        "{run}"
    );
    device.agent = agent(dir.path(), "exit 2").display().to_string();
    let run = call(&device, FenceAction::Status, TIMEOUT);
    assert_eq!(failure(&run), (Some(2), UNREAD));
    // One that reads a part of it did not read the action, which comes last.
    device.agent = agent(dir.path(), "read -r first\nexit 0")
        .display()
        .to_string();
    let run = call(&device, FenceAction::Off, TIMEOUT);
    assert_eq!(failure(&run), (Some(0), UNREAD));
}

#[test]
fn an_agent_that_does_not_read_a_large_input_is_not_believed_nor_kills_us() {
    // With SIGPIPE's default restored, as a command line piping into `head`
    // may have it: the writer must see EPIPE, not die of it.
    let _sigpipe = SigpipeDefault::set();
    let dir = tempfile::tempdir().unwrap();
    let mut device = device(&agent(dir.path(), "exit 0"), None);
    // More than a pipe holds, so that the writer is still writing.
    device.options = (0..100)
        .map(|i| (format!("option{i}"), "v".repeat(4000)))
        .collect();
    let run = call(&device, FenceAction::Status, TIMEOUT);
    assert_eq!(failure(&run), (Some(0), UNREAD));
    device.agent = agent(dir.path(), "echo 'ERROR: bad input' >&2\nexit 1")
        .display()
        .to_string();
    let run = call(&device, FenceAction::Off, TIMEOUT);
    assert_eq!(failure(&run), (Some(1), UNREAD));
    // One that reads it all is believed.
    device.agent = agent(dir.path(), "cat > /dev/null\nexit 0")
        .display()
        .to_string();
    let run = call(&device, FenceAction::Off, TIMEOUT);
    assert_eq!(run.outcome.unwrap(), Power::Off);
}

#[test]
fn a_missing_program_is_said_to_be_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("fence_none");
    for agent in [
        missing.display().to_string(),
        "fence_no_such_agent_here".into(),
    ] {
        let mut device = device(&missing, None);
        device.agent = agent;
        let run = call(&device, FenceAction::Status, TIMEOUT);
        assert!(matches!(run.outcome, Err(FenceError::Missing)), "{run:?}");
        let line = run.to_string();
        assert!(
            line.contains(
                " status of host 2: cannot run it: no such program (is the fence-agents \
                 package installed?) ("
            ),
            "{line}"
        );
    }
}

/// A script in `dir` named `name` that leaves a file `ran` when it runs.
fn marking_script(dir: &Path, name: &str) -> PathBuf {
    let _writing = FORKS.write().unwrap();
    let path = dir.join(name);
    let body = "#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\ncat > /dev/null\n";
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_program_not_named_like_a_fence_agent_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = marking_script(dir.path(), "agent.sh");
    for agent in [script.display().to_string(), "/bin/sh".into(), "sh".into()] {
        let mut device = device(&script, Some(password_file(dir.path(), 0o600)));
        device.agent = agent.clone();
        let run = call(&device, FenceAction::Off, TIMEOUT);
        let Err(FenceError::Untrusted(why)) = &run.outcome else {
            panic!("{agent}: {run:?}");
        };
        assert!(
            why.starts_with(&format!(
                "{agent:?} is not a fence agent: only programs named fence_"
            )),
            "{why}"
        );
        assert!(run.to_string().contains(": not run: "), "{run}");
    }
    assert!(!dir.path().join("ran").exists(), "the program ran");
}

#[test]
fn a_program_another_user_could_change_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = marking_script(dir.path(), "fence_open");
    // The same program, trusted: it runs (so the refusals below are the
    // trust check's).
    let trusted = device(&script, None);
    assert_eq!(
        call(&trusted, FenceAction::Status, TIMEOUT)
            .outcome
            .unwrap(),
        Power::On
    );
    fs::remove_file(dir.path().join("ran")).unwrap();
    // Writable by others; then in a directory writable by others.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let in_open_dir = marking_script(&sub, "fence_open");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o757)).unwrap();
    for (program, open) in [(&script, &script), (&in_open_dir, &sub)] {
        let run = call(&device(program, None), FenceAction::Off, TIMEOUT);
        let Err(FenceError::Untrusted(why)) = &run.outcome else {
            panic!("{run:?}");
        };
        assert!(
            why.starts_with(&format!("{}: writable by others", open.display())),
            "{why}"
        );
        assert!(run.to_string().contains(": not run: "), "{run}");
    }
    assert!(!dir.path().join("ran").exists(), "the program ran");
    assert!(!sub.join("ran").exists(), "the program ran");
}

#[test]
fn the_agent_sees_no_variable_of_ours() {
    // This process has some to leak (cargo sets a few dozen).
    assert!(std::env::vars_os().count() > 3);
    let dir = tempfile::tempdir().unwrap();
    let script = agent(dir.path(), &format!("{READ}\nenv > \"$here/environment\""));
    let run = call(&device(&script, None), FenceAction::Status, TIMEOUT);
    assert_eq!(run.outcome.unwrap(), Power::On);
    let environment = recorded(dir.path(), "environment");
    // PWD, SHLVL and _ are the shell's own (dash exports PWD, bash all
    // three); PWD shows where the agent runs.
    assert!(
        environment
            .lines()
            .all(|l| l == "PWD=/" || !l.starts_with("PWD=")),
        "{environment}"
    );
    let mut seen: Vec<&str> = environment
        .lines()
        .filter(|l| {
            !["PWD=", "SHLVL=", "_="]
                .iter()
                .any(|own| l.starts_with(own))
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "LANG=C.UTF-8",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONWARNINGS=ignore::DeprecationWarning",
        ],
        "{environment}"
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
fn an_agent_that_shows_the_password_in_another_form_has_the_line_withheld() {
    let dir = tempfile::tempdir().unwrap();
    // Escaped, as a shell or a Python repr might print it (`s3\cret`).
    let script = agent(
        dir.path(),
        &format!(
            "{READ}\npw=$(sed -n 's/^password=//p' \"$here/stdin\" | sed 's/c/\\\\c/')\n\
             printf 'ERROR: Executing: ipmitool -I lanplus -U admin -P %s chassis power status\\n' \"$pw\" >&2\n\
             echo 'ERROR: Failed: Unable to obtain correct plug status' >&2\n\
             printf \"ERROR: bad PassWD '%s'\\n\" \"$pw\" >&2\nexit 1"
        ),
    );
    let run = call(
        &device(&script, Some(password_file(dir.path(), 0o600))),
        FenceAction::Status,
        TIMEOUT,
    );
    let withheld = "<a line withheld: it may show a secret>";
    assert_eq!(
        failure(&run),
        (
            Some(1),
            format!("{withheld}; Unable to obtain correct plug status; {withheld}").as_str()
        )
    );
    for shown in [run.to_string(), format!("{run:?}")] {
        assert!(!shown.contains("s3") && !shown.contains("\\c"), "{shown}");
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

/// The agent's background fencer (`DeviceFencer`): one fence is `off`, then
/// `status` until off, each call logged, reported once it ended.
mod background {
    use super::*;
    use std::collections::BTreeMap;

    use hosted_engine::core::{FenceOrder, FenceOutcome, FenceReport, FenceTarget};
    use hosted_engine::shell::agent_loop::Fencer;
    use hosted_engine::shell::fence::DeviceFencer;

    /// Answers `off` with exit 0, and `status` with what `status` holds
    /// (0 on, 2 off), counting the status calls.
    const BMC: &str = r#"here=$(dirname "$0")
action=$(sed -n 's/^action=//p')
case "$action" in
off) echo off >> "$here/calls"; exit "$(cat "$here/off")" ;;
status) echo status >> "$here/calls"; exit "$(cat "$here/status")" ;;
esac
exit 1"#;

    fn order() -> FenceOrder {
        FenceOrder {
            target: FenceTarget { host: 2, epoch: 7 },
            epoch: 8,
        }
    }

    /// Runs one fence with a call timeout and waits for its report.
    fn fence(dir: &Path, timeout: Duration) -> (Vec<String>, FenceReport) {
        let script = agent(dir, BMC);
        let mut fencer = DeviceFencer::new(BTreeMap::from([(2, device(&script, None))]), timeout);
        {
            let _forking = FORKS.read().unwrap();
            fencer.begin(order());
        }
        let mut lines = Vec::new();
        let deadline = Instant::now() + timeout * 3;
        while Instant::now() < deadline {
            let (more, report) = fencer.poll();
            lines.extend(more);
            if let Some(report) = report {
                return (lines, report);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no report within {:?}: {lines:?}", timeout * 3);
    }

    fn set(dir: &Path, off: i32, status: i32) {
        fs::write(dir.join("off"), off.to_string()).unwrap();
        fs::write(dir.join("status"), status.to_string()).unwrap();
    }

    #[test]
    fn off_then_a_status_that_says_off_is_a_confirmed_fence() {
        let dir = tempfile::tempdir().unwrap();
        set(dir.path(), 0, 2);
        let (lines, report) = fence(dir.path(), TIMEOUT);
        assert_eq!(report.outcome, FenceOutcome::Off, "{lines:?}");
        assert_eq!(report.target, order().target);
        assert_eq!(report.agent, "fence_fake");
        assert_eq!(recorded(dir.path(), "calls"), "off\nstatus\n");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("fence_fake off of host 2: off ("),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("fence_fake status of host 2: off ("),
            "{lines:?}"
        );
    }

    #[test]
    fn a_failed_off_is_a_failed_fence_and_no_status_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        set(dir.path(), 1, 2);
        let (lines, report) = fence(dir.path(), TIMEOUT);
        let FenceOutcome::Failed(why) = &report.outcome else {
            panic!("{report:?}");
        };
        assert!(why.starts_with("fence_fake off: failed"), "{why}");
        assert_eq!(recorded(dir.path(), "calls"), "off\n");
        assert_eq!(lines.len(), 1, "{lines:?}");
    }

    #[test]
    fn a_status_that_keeps_saying_on_is_no_confirmation_within_twice_the_call_bound() {
        let dir = tempfile::tempdir().unwrap();
        set(dir.path(), 0, 0);
        let started = Instant::now();
        let (lines, report) = fence(dir.path(), Duration::from_secs(2));
        let FenceOutcome::Failed(why) = &report.outcome else {
            panic!("{report:?}");
        };
        assert!(why.contains("off was not confirmed within 4.00 s"), "{why}");
        assert!(why.ends_with("status still says on"), "{why}");
        // Status asked about once a second, and the whole fence bounded.
        let statuses = recorded(dir.path(), "calls").matches("status").count();
        assert!((2..=5).contains(&statuses), "{statuses} status calls");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert!(
            lines.iter().all(|l| l.starts_with("fence_fake ")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_host_without_a_device_is_refused_at_once() {
        let mut fencer = DeviceFencer::new(BTreeMap::new(), TIMEOUT);
        fencer.begin(order());
        let (lines, report) = fencer.poll();
        assert!(lines.is_empty());
        assert_eq!(
            report.map(|r| r.outcome),
            Some(FenceOutcome::Failed("no fence device for host 2".into()))
        );
        assert_eq!(fencer.poll(), (Vec::new(), None));
    }
}
