//! `he-lab demo`, the README's first command, run as a user would: it exits 0,
//! tells the recovery of the killed engine VM with the time it took, and leaves
//! no process and no file behind; also when interrupted with Ctrl-C (SIGINT)
//! or when its reader goes away (`he-lab demo | head`), and as a user without
//! root; with `--fencing`, a crashed host fenced through its BMC.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hosted_engine::lab::cluster::{procs, truth};

const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
/// Bound on a whole demo (it takes well under a minute; generous for a loaded
/// machine: the time is not what these tests check).
const DEMO_LIMIT: Duration = Duration::from_secs(300);

/// Demos are labs: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lab id the demo printed (`(id 3e8ed2)`).
fn lab_id(stdout: &str) -> String {
    let at = stdout.find("(id ").expect("the demo names its lab's id") + 4;
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

/// No process of lab `id` runs, and `tmp` is empty.
fn assert_nothing_left(id: &str, tmp: &Path) {
    assert!(!id.is_empty());
    assert!(
        procs::lab_processes(id).is_empty(),
        "lab processes left: {:?}",
        procs::lab_processes(id)
    );
    assert!(truth::scan_payloads(id).is_empty(), "engine VMs left");
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", tmp.display());
}

/// Waits for `child` within `limit`; kills it after that.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    common::wait_or_kill(child, limit)
        .unwrap_or_else(|| panic!("he-lab demo still runs after {} s", limit.as_secs()))
}

fn read_all(mut from: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    from.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Runs `command` (the demo) to its end within [`DEMO_LIMIT`].
fn run_bounded(command: &mut Command) -> Output {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || read_all(stdout));
    let err = std::thread::spawn(move || read_all(stderr));
    let status = wait_bounded(&mut child, DEMO_LIMIT);
    eprintln!("the demo took {:.1} s", started.elapsed().as_secs_f64());
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// The whole story of a demo of `steps` steps: the table, the kill, the
/// recovery with its time, the canary, the teardown.
fn assert_told_the_story(out: &Output, steps: u32) -> String {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let first = format!("[1/{steps}]");
    for told in [
        first.as_str(),
        "EngineStart -> EngineStarting: lease won (epoch 1)",
        "[truth] the engine's health page answers",
        "| ID | Hostname | State",
        "engine VM killed (pid",
        "engine VM crashed, restarting it on this host",
        "Recovered in ",
        "never two engine VMs at once, epochs never went back",
        "nothing left behind",
    ] {
        assert!(
            stdout.contains(told),
            "{told:?} not told:\n{stdout}\n{stderr}"
        );
    }
    // Why, from the cluster history: the crash and the restart, after the
    // recovery's table (issue 16).
    let why = stdout
        .find("Why? hosted-engine --history --since=")
        .unwrap_or_else(|| panic!("no history told:\n{stdout}"));
    let history = &stdout[why..];
    let crash = history.find("transition  EngineUp -> EngineStart: engine VM crashed");
    let up = history.find("transition  EngineStarting -> EngineUp: engine healthy");
    assert!(
        crash.is_some() && up.is_some() && crash < up,
        "the history does not explain the recovery in order:\n{history}"
    );
    // The time it took, as a number.
    let at = stdout.find("Recovered in ").unwrap() + "Recovered in ".len();
    let secs: f64 = stdout[at..].split(' ').next().unwrap().parse().unwrap();
    assert!(secs > 0.0, "{stdout}");
    stdout
}

#[test]
fn the_demo_kills_the_engine_vm_tells_the_recovery_and_leaves_nothing() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bounded(Command::new(LAB).arg("demo").env("TMPDIR", tmp.path()));
    let stdout = assert_told_the_story(&out, 5);
    assert_nothing_left(&lab_id(&stdout), tmp.path());
}

/// Reads the demo's stdout until a line contains `until`; what was read.
/// `he-lab demo --fencing` (issue 17): after the engine VM's kill, the
/// engine's host crashes, and another host fences it through its simulated
/// BMC and starts the engine without waiting for lease-dead.
#[test]
fn the_demo_with_fencing_fences_the_crashed_host() {
    let _serial = serial();
    if !common::bmc::programs_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Command::new(LAB)
            .args(["demo", "--fencing"])
            .env("TMPDIR", tmp.path()),
    );
    let stdout = assert_told_the_story(&out, 6);
    for told in [
        "[5/6] Crashing host",
        "to fence it",
        "fenced: powered off and confirmed off by fence_ipmilan",
        "was fenced, without waiting for lease-dead",
        "[6/6] Restoring",
    ] {
        assert!(stdout.contains(told), "{told:?} not told:\n{stdout}");
    }
    assert_nothing_left(&lab_id(&stdout), tmp.path());
}

fn read_until(reader: &mut impl BufRead, until: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the demo ended before {until:?}:\n{seen}");
        seen.push_str(&line);
        if line.contains(until) {
            return seen;
        }
    }
}

#[test]
fn ctrl_c_tears_the_demo_down() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(LAB)
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    // Interrupted with its lab up and its engine VM running.
    let seen = read_until(&mut reader, "[truth] engine VM process runs");
    // SAFETY: kill(2) of our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let rest = std::thread::spawn(move || std::io::read_to_string(reader));
    let status = wait_bounded(&mut child, DEMO_LIMIT);
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    let seen = seen + &rest.join().unwrap().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}\n{stderr}");
    assert!(
        stderr.contains("interrupted; the lab is torn down"),
        "{stderr}"
    );
    assert_nothing_left(&lab_id(&seen), tmp.path());
}

#[test]
fn a_reader_that_goes_away_tears_the_demo_down() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(LAB)
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let seen = read_until(&mut reader, "[truth] engine VM process runs");
    // `he-lab demo | head`: the reader is gone, the next line fails (EPIPE).
    drop(reader);
    let status = wait_bounded(&mut child, DEMO_LIMIT);
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    assert_nothing_left(&lab_id(&seen), tmp.path());
}

/// As root, the demo runs as `nobody` (`setpriv`) from a copy of `he-lab` that
/// user can run; as anyone else, as that user: no root needed either way.
#[test]
fn the_demo_needs_no_root() {
    let _serial = serial();
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let tmp = tempfile::tempdir().unwrap();
        let out = run_bounded(Command::new(LAB).arg("demo").env("TMPDIR", tmp.path()));
        let stdout = assert_told_the_story(&out, 5);
        assert_nothing_left(&lab_id(&stdout), tmp.path());
        return;
    }
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require("the setpriv program (util-linux) to run as nobody", setpriv) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("he-lab");
    std::fs::copy(LAB, &bin).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let nobody = 65534;
    std::os::unix::fs::chown(&tmp, Some(nobody), Some(nobody)).unwrap();
    let out = run_bounded(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(&bin)
            .arg("demo")
            .env("TMPDIR", &tmp)
            .current_dir(&tmp),
    );
    let stdout = assert_told_the_story(&out, 5);
    assert!(stdout.contains("isolation none"), "{stdout}");
    assert_nothing_left(&lab_id(&stdout), &tmp);
}
