//! The `process` engine VM driver against real processes: start, pause, adoption
//! after an agent restart, crashes, pid reuse, graceful and forced stops, the
//! recovery command. Every process a test starts is killed when its [`Lab`] drops,
//! also when the test fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hosted_engine::core::{DownReason, LocalVm, VmAction, VmManagerStatus};
use hosted_engine::shell::VmDriver;
use hosted_engine::shell::vm::{ConfigProblem, ProcessVm, ProcessVmConfig};

const UP: LocalVm = present(VmManagerStatus::Up);
const PAUSED: LocalVm = present(VmManagerStatus::Paused);
const POWERING_DOWN: LocalVm = present(VmManagerStatus::PoweringDown);
const CRASHED: LocalVm = LocalVm::Present {
    status: VmManagerStatus::Down,
    down_reason: Some(DownReason::Other),
};
/// Longest any test waits for a process to change.
const WAIT_MAX: Duration = Duration::from_secs(5);

const fn present(status: VmManagerStatus) -> LocalVm {
    LocalVm::Present {
        status,
        down_reason: None,
    }
}

fn start(epoch: u64) -> VmAction {
    VmAction::Start {
        paused: false,
        epoch,
    }
}

/// The fields of `/proc/<pid>/stat` the tests look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: u8,
    pgrp: i32,
    session: i32,
    start_ticks: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let bytes = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = String::from_utf8_lossy(&bytes[close + 1..]).into_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.as_bytes()[0],
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// The process exists and is not a zombie.
fn running(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.state, b'Z' | b'X'))
}

fn kill(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string()
}

/// Polls `done` until it holds; fails the test after [`WAIT_MAX`].
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_with(what, done, String::new);
}

/// [`wait_for`], with more to say when it fails.
fn wait_for_with(what: &str, mut done: impl FnMut() -> bool, mut why: impl FnMut() -> String) {
    let deadline = Instant::now() + WAIT_MAX;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT_MAX:?} {}",
            why()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the driver reports `want`.
fn wait_status(vm: &mut ProcessVm, want: LocalVm) {
    let last = std::cell::Cell::new(None);
    let pid = vm.vm_pid();
    wait_for_with(
        &format!("status {want:?}"),
        || {
            last.set(Some(vm.status()));
            last.get() == Some(want)
        },
        || {
            let stat = pid.and_then(|p| stat(p as i32));
            format!("(last {:?}, pid {pid:?}, {stat:?})", last.get())
        },
    );
}

/// A shell payload that runs `on_term` on SIGTERM (an empty one ignores it),
/// says "engine up" on stdout and creates `ready` once its trap is set. It forks
/// nothing after that: a shell caught by SIGSTOP in the middle of a (v)fork reads
/// as `D`, not `T`.
fn payload(on_term: &str, ready: &Path) -> String {
    let ready = ready.display();
    format!("trap '{on_term}' TERM\necho engine up\n/bin/sleep 1000 &\n: > {ready}\nwait\n")
}

/// A temp dir with the driver's files, and the processes to kill at the end.
struct Lab {
    dir: tempfile::TempDir,
    pids: Vec<(i32, u64)>,
}

impl Lab {
    fn new() -> Self {
        Lab {
            dir: tempfile::tempdir().unwrap(),
            pids: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state_file(&self) -> PathBuf {
        self.path("state/engine-vm.json")
    }

    fn config(&self, argv: &[&str]) -> ProcessVmConfig {
        let argv = argv.iter().map(|a| a.to_string()).collect();
        ProcessVmConfig::new(argv, self.state_file(), self.path("log/engine-vm.log"))
    }

    /// A shell script payload, run as `/bin/sh <script>`.
    fn script(&self, body: &str) -> ProcessVmConfig {
        let path = self.path("vm.sh");
        fs::write(&path, body).unwrap();
        self.config(&["/bin/sh", path.to_str().unwrap()])
    }

    /// Starts the VM and remembers its process for the cleanup.
    fn start(&mut self, vm: &mut ProcessVm, action: VmAction) -> i32 {
        assert!(vm.act(action).is_ok(), "start: {:?}", vm.last_error());
        let pid = vm.vm_pid().expect("a started VM has a pid") as i32;
        self.pids.push((pid, stat(pid).unwrap().start_ticks));
        pid
    }

    fn read_log(&self) -> String {
        fs::read_to_string(self.path("log/engine-vm.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(text) = fs::read_to_string(self.state_file())
            && let Ok(rec) = serde_json::from_str::<serde_json::Value>(&text)
            && let (Some(pid), Some(ticks)) = (rec["pid"].as_i64(), rec["start_ticks"].as_u64())
        {
            self.pids.push((pid as i32, ticks));
        }
        for &(pid, ticks) in &self.pids {
            // A VM is a session of its own: everything in it goes, its leader
            // (when it is still that process) last.
            let leader = stat(pid).is_some_and(|s| s.start_ticks == ticks);
            for member in session_members(pid) {
                if member != pid || leader {
                    // SAFETY: kill(2) has no memory effects.
                    unsafe { libc::kill(member, libc::SIGKILL) };
                }
            }
            if leader {
                let deadline = Instant::now() + WAIT_MAX;
                while running(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut status = 0;
                // SAFETY: waitpid(2) with WNOHANG never blocks.
                unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            }
        }
    }
}

/// Every process whose session id is `sid`.
fn session_members(sid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|s| s.session == sid))
        .collect()
}

/// Fails the test if anything of the VM `sid` still runs.
fn assert_session_gone(sid: i32) {
    wait_for("the VM's session to empty", || {
        session_members(sid).into_iter().all(|p| !running(p))
    });
}

#[test]
fn a_started_vm_runs_detached_with_its_epoch_then_pauses_and_powers_off() {
    let mut lab = Lab::new();
    let mut cfg = lab.config(&["/bin/sleep", "1000"]);
    cfg.host_id = Some(3);
    cfg.env = vec![("HE_EXTRA".into(), "x y".into())];
    let mut vm = ProcessVm::new(cfg).unwrap();
    assert_eq!(vm.status(), LocalVm::NotPresent);
    let pid = lab.start(&mut vm, start(7));
    assert_eq!(vm.status(), UP);

    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
    for want in ["HE_LEASE_EPOCH=7", "HE_HOST_ID=3", "HE_EXTRA=x y"] {
        assert!(
            vars.contains(&want.as_bytes()),
            "{want} not in the VM's environment"
        );
    }
    // Its own session and process group: it survives the agent's.
    let s = stat(pid).unwrap();
    assert_eq!((s.session, s.pgrp), (pid, pid));
    let stdin = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(stdin, Path::new("/dev/null"));
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );

    // A second start is refused while it runs.
    assert!(vm.act(start(8)).is_err());
    assert!(vm.last_error().unwrap().contains("already runs"));
    assert_eq!(vm.vm_pid(), Some(pid as u32));

    kill(pid, libc::SIGSTOP);
    wait_status(&mut vm, PAUSED);
    kill(pid, libc::SIGCONT);
    wait_status(&mut vm, UP);

    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.last_error());
    assert!(!running(pid), "the VM process survived the power-off");
    assert_session_gone(pid);
    assert_eq!(vm.status(), LocalVm::NotPresent);
    assert!(!lab.state_file().exists());
}

#[test]
fn a_paused_start_reads_paused_and_powers_off_while_stopped() {
    let mut lab = Lab::new();
    let mut vm = ProcessVm::new(lab.config(&["/bin/sleep", "1000"])).unwrap();
    let pid = lab.start(
        &mut vm,
        VmAction::Start {
            paused: true,
            epoch: 1,
        },
    );
    assert_eq!(vm.status(), PAUSED);
    assert_eq!(stat(pid).unwrap().state, b'T');
    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.last_error());
    assert!(!running(pid));
    assert_eq!(vm.status(), LocalVm::NotPresent);
}

#[test]
fn a_restarted_driver_adopts_the_vm_and_sees_it_crash() {
    let mut lab = Lab::new();
    let cfg = lab.config(&["/bin/sleep", "1000"]);
    let mut first = ProcessVm::new(cfg.clone()).unwrap();
    let pid = lab.start(&mut first, start(4));
    drop(first);

    let mut second = ProcessVm::new(cfg.clone()).unwrap();
    assert_eq!(second.status(), UP);
    assert_eq!(second.vm_pid(), Some(pid as u32), "adopted, not restarted");
    assert!(
        second.act(start(5)).is_err(),
        "a second VM next to the adopted one"
    );

    kill(pid, libc::SIGKILL);
    wait_status(&mut second, CRASHED);
    assert!(!running(pid), "the crashed VM was not reaped");
    assert_eq!(second.status(), CRASHED, "a crash stays listed");
    assert!(
        second.act(VmAction::Shutdown).is_err(),
        "nothing to shut down"
    );
    assert_eq!(second.status(), CRASHED);

    let restarted = lab.start(&mut second, start(6));
    assert_ne!(restarted, pid);
    assert_eq!(second.status(), UP);
    assert!(second.act(VmAction::PowerOff).is_ok());
    assert_eq!(second.status(), LocalVm::NotPresent);
}

#[test]
fn power_off_clears_a_crashed_vm() {
    let mut lab = Lab::new();
    let mut vm = ProcessVm::new(lab.config(&["/bin/sleep", "1000"])).unwrap();
    let pid = lab.start(&mut vm, start(1));
    kill(pid, libc::SIGKILL);
    wait_status(&mut vm, CRASHED);
    assert!(lab.state_file().exists(), "the crash is kept on disk");
    assert!(vm.act(VmAction::PowerOff).is_ok());
    assert_eq!(vm.status(), LocalVm::NotPresent);
    assert!(!lab.state_file().exists());
}

fn write_state(lab: &Lab, pid: i32, start_ticks: u64, boot_id: &str) {
    let rec = serde_json::json!({
        "version": 1, "pid": pid, "start_ticks": start_ticks,
        "boot_id": boot_id, "epoch": 3, "stopping": false,
    });
    fs::create_dir_all(lab.state_file().parent().unwrap()).unwrap();
    fs::write(lab.state_file(), rec.to_string()).unwrap();
}

#[test]
fn a_reused_pid_or_another_boot_is_not_adopted() {
    let lab = Lab::new();
    let me = std::process::id() as i32;
    let my_ticks = stat(me).unwrap().start_ticks;
    for (ticks, boot) in [(my_ticks + 1, boot_id()), (my_ticks, "another-boot".into())] {
        write_state(&lab, me, ticks, &boot);
        let mut vm = ProcessVm::new(lab.config(&["/bin/sleep", "1000"])).unwrap();
        assert_eq!(vm.status(), LocalVm::NotPresent);
        assert_eq!(vm.vm_pid(), None);
        assert!(!lab.state_file().exists(), "a stale state file is removed");
        // Stopping "it" must not touch this test process (it would die here).
        assert!(vm.act(VmAction::Shutdown).is_err());
        assert!(vm.act(VmAction::PowerOff).is_ok());
        assert!(running(me));
    }
}

#[test]
fn a_graceful_shutdown_lets_the_vm_exit_on_sigterm() {
    let mut lab = Lab::new();
    let marker = lab.path("bye");
    let ready = lab.path("ready");
    let on_term = format!("sleep 0.3; echo bye > {}; exit 0", marker.display());
    let cfg = lab.script(&payload(&on_term, &ready));
    let mut vm = ProcessVm::new(cfg).unwrap();
    let pid = lab.start(&mut vm, start(2));
    wait_for("the payload's trap", || ready.exists());
    assert!(vm.act(VmAction::Shutdown).is_ok(), "{:?}", vm.last_error());
    assert_eq!(vm.status(), POWERING_DOWN);
    assert!(vm.act(VmAction::Shutdown).is_ok(), "asking twice is fine");
    wait_status(&mut vm, LocalVm::NotPresent);
    assert!(!running(pid));
    assert_session_gone(pid);
    assert!(marker.exists(), "the VM did not exit by itself");
    assert!(!lab.state_file().exists());
    assert!(
        lab.read_log().contains("engine up"),
        "log: {:?}",
        lab.read_log()
    );
}

#[test]
fn a_paused_vm_gets_to_act_on_sigterm() {
    let mut lab = Lab::new();
    let marker = lab.path("bye");
    let ready = lab.path("ready");
    let on_term = format!("echo bye > {}; exit 0", marker.display());
    let mut cfg = lab.script(&payload(&on_term, &ready));
    cfg.shutdown_grace = Duration::from_secs(60);
    let mut vm = ProcessVm::new(cfg).unwrap();
    let pid = lab.start(&mut vm, start(2));
    wait_for("the payload's trap", || ready.exists());
    kill(-pid, libc::SIGSTOP);
    wait_status(&mut vm, PAUSED);
    assert!(vm.act(VmAction::Shutdown).is_ok());
    wait_status(&mut vm, LocalVm::NotPresent);
    assert!(
        marker.exists(),
        "the paused VM never ran its SIGTERM handler"
    );
}

#[test]
fn a_vm_that_ignores_sigterm_is_killed_after_the_grace() {
    let mut lab = Lab::new();
    let ready = lab.path("ready");
    let mut cfg = lab.script(&payload("", &ready));
    let grace = Duration::from_millis(300);
    cfg.shutdown_grace = grace;
    let mut vm = ProcessVm::new(cfg).unwrap();
    let pid = lab.start(&mut vm, start(2));
    wait_for("the payload's trap", || ready.exists());
    let asked = Instant::now();
    assert!(vm.act(VmAction::Shutdown).is_ok());
    std::thread::sleep(grace / 2);
    assert_eq!(vm.status(), POWERING_DOWN);
    assert!(running(pid), "SIGKILL before the grace was over");
    wait_status(&mut vm, LocalVm::NotPresent);
    assert!(asked.elapsed() >= grace);
    assert!(!running(pid));
    assert_session_gone(pid);
}

#[test]
fn a_shutdown_survives_an_agent_restart() {
    let mut lab = Lab::new();
    let ready = lab.path("ready");
    let mut cfg = lab.script(&payload("", &ready));
    cfg.shutdown_grace = Duration::from_millis(300);
    let mut first = ProcessVm::new(cfg.clone()).unwrap();
    let pid = lab.start(&mut first, start(2));
    wait_for("the payload's trap", || ready.exists());
    assert!(first.act(VmAction::Shutdown).is_ok());
    drop(first);

    let mut second = ProcessVm::new(cfg).unwrap();
    assert_eq!(second.status(), POWERING_DOWN, "a stopping VM is not Up");
    wait_status(&mut second, LocalVm::NotPresent);
    assert!(!running(pid));
    assert_session_gone(pid);
}

#[test]
fn a_missing_program_fails_the_start() {
    let lab = Lab::new();
    let mut vm = ProcessVm::new(lab.config(&["/nonexistent/he-engine-vm"])).unwrap();
    assert!(vm.act(start(1)).is_err());
    let error = vm.last_error().unwrap();
    assert!(error.contains("/nonexistent/he-engine-vm"), "{error}");
    assert_eq!(vm.status(), LocalVm::NotPresent);
    assert!(!lab.state_file().exists());
}

#[test]
fn a_corrupt_state_file_reads_as_no_vm_and_is_kept_aside() {
    let mut lab = Lab::new();
    fs::create_dir_all(lab.state_file().parent().unwrap()).unwrap();
    fs::write(lab.state_file(), b"{\"pid\": 12, trailing garbage").unwrap();
    let mut vm = ProcessVm::new(lab.config(&["/bin/sleep", "1000"])).unwrap();
    assert_eq!(vm.status(), LocalVm::NotPresent);
    let error = vm.take_error().expect("the corruption is reported");
    assert!(error.contains("corrupt state file"), "{error}");
    let copy = lab.path("state/engine-vm.json.corrupt");
    assert_eq!(fs::read(copy).unwrap(), b"{\"pid\": 12, trailing garbage");
    assert!(!lab.state_file().exists());

    lab.start(&mut vm, start(1));
    assert_eq!(vm.status(), UP);
    assert!(vm.act(VmAction::PowerOff).is_ok());
}

#[test]
fn recovery_reports_its_exit_code_and_is_killed_at_its_timeout() {
    let lab = Lab::new();
    let run = |argv: Option<&[&str]>, timeout_ms: u64| {
        let mut cfg = lab.config(&["/bin/sleep", "1000"]);
        cfg.recovery_argv = argv.map(|a| a.iter().map(|s| s.to_string()).collect());
        cfg.recovery_timeout = Duration::from_millis(timeout_ms);
        let mut vm = ProcessVm::new(cfg).unwrap();
        let began = Instant::now();
        let ok = vm.act(VmAction::RunRecovery).is_ok();
        (ok, vm.take_error(), began.elapsed())
    };
    let (ok, error, _) = run(Some(&["/bin/sh", "-c", "echo recovered"]), 5000);
    assert!(ok, "{error:?}");
    assert!(lab.read_log().contains("recovered"));

    let (ok, error, _) = run(Some(&["/bin/sh", "-c", "exit 3"]), 5000);
    assert!(!ok);
    assert!(error.unwrap().contains("exit status: 3"));

    let (ok, error, took) = run(Some(&["/bin/sh", "-c", "sleep 30; sleep 30"]), 200);
    assert!(!ok);
    assert!(error.unwrap().contains("killed after"));
    assert!(took < Duration::from_secs(3), "took {took:?}");

    let (ok, error, _) = run(Some(&["/nonexistent/recover"]), 5000);
    assert!(!ok);
    assert!(error.unwrap().contains("cannot start"));

    let (ok, error, _) = run(None, 5000);
    assert!(!ok);
    assert!(error.unwrap().contains("no recovery command"));
}

#[test]
fn a_broken_configuration_names_every_problem() {
    let mut cfg = ProcessVmConfig::new(
        Vec::new(),
        PathBuf::from("state.json"),
        PathBuf::from("/var/log/vm.log"),
    );
    cfg.shutdown_grace = Duration::ZERO;
    cfg.env = vec![
        ("HE_LEASE_EPOCH".into(), "1".into()),
        ("A=B".into(), String::new()),
    ];
    cfg.recovery_argv = Some(vec!["bin/recover".into()]);
    let error = ProcessVm::new(cfg).unwrap_err();
    let p = &error.problems;
    assert!(p.contains(&ConfigProblem::ArgCount {
        what: "argv",
        count: 0
    }));
    assert!(p.iter().any(|x| matches!(
        x,
        ConfigProblem::NotAbsoluteFile {
            what: "state_file",
            ..
        }
    )));
    assert!(p.iter().any(|x| matches!(
        x,
        ConfigProblem::Duration {
            what: "shutdown_grace",
            ..
        }
    )));
    assert!(p.contains(&ConfigProblem::EnvReserved("HE_LEASE_EPOCH".into())));
    assert!(p.contains(&ConfigProblem::EnvName("A=B".into())));
    assert!(p.iter().any(|x| matches!(
        x,
        ConfigProblem::Program {
            what: "recovery_argv",
            ..
        }
    )));
    assert_eq!(p.len(), 6, "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("engine VM process driver: argv: must have"),
        "{text}"
    );

    let lab = Lab::new();
    assert_eq!(lab.config(&["/bin/sleep", "1"]).validate(), Ok(()));
    assert_eq!(lab.config(&["sleep", "1"]).validate(), Ok(()));
}
