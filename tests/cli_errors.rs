//! Every `hosted-engine` command run as a process on its error paths
//! (`docs/compat.md` sections 6 and 8): not deployed, bad command
//! lines, the agent down, the agent accepting and never answering, `--json`
//! errors, a closed stdout. Each test sets up its host with
//! [`common::he::Host`].

mod common;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::he::{Host, Ran, VMID, json_of, now_unix};
use hosted_engine::cli::he::spec;
use hosted_engine::proto;

const NOT_DEPLOYED: &str = "You must run deploy first\n";
/// Every command that needs a deployed host, with the arguments it needs.
const DEPLOYED_COMMANDS: &[&[&str]] = &[
    &["--vm-status"],
    &["--vm-start"],
    &["--vm-start-paused"],
    &["--vm-shutdown"],
    &["--vm-poweroff"],
    &["--set-maintenance", "--mode=global"],
    &["--check-liveliness"],
    &["--connect-storage"],
    &["--disconnect-storage"],
    &["--console"],
    &["--add-console-password", "--password=secret"],
    &["--set-shared-config", "fqdn", "x.example"],
    &["--get-shared-config", "fqdn"],
    &["--reinitialize-lockspace"],
    &["--clean-metadata"],
];

#[test]
fn commands_that_need_a_deployed_host_say_run_deploy_first() {
    let bare = Host::bare();
    let no_vmid = Host::bare();
    no_vmid.write_conf("");
    for host in [&bare, &no_vmid] {
        for args in DEPLOYED_COMMANDS {
            let ran = host.he(args);
            // On stdout, as the reference prints it (scripts grep it there).
            assert_eq!(ran.stdout, NOT_DEPLOYED, "{args:?}: {ran:?}");
            assert_eq!((ran.code, ran.stderr.as_str()), (Some(1), ""), "{args:?}");
        }
        let ran = host.he(&["--check-deployed"]);
        assert_eq!(ran.stdout, "The hosted engine has not been deployed\n");
        assert_eq!((ran.code, ran.stderr.as_str()), (Some(1), ""));
        let ran = host.he(&["--vm-status", "--json"]);
        assert_eq!(ran.code, Some(1));
        assert_eq!(json_of(&ran)["error"], "You must run deploy first");
    }
    let host = Host::deployed();
    let ran = host.he(&["--check-deployed"]);
    assert_eq!(ran.stdout, "The hosted engine has been deployed\n");
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""));
    // A configuration that cannot be read is neither answer: exit 2.
    std::fs::write(host.conf(), "fqdn=engine.invalid\nhost_id=many\n").unwrap();
    let ran = host.he(&["--check-deployed"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(2), ""), "{ran:?}");
    assert!(ran.stderr.contains("hosted-engine.conf"), "{ran:?}");
    // --check-liveliness without an fqdn: exit 2 with a message
    // (`docs/compat.md` section 3).
    std::fs::write(host.conf(), format!("vmid={VMID}\nhost_id=1\n")).unwrap();
    let ran = host.he(&["--check-liveliness"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(2), ""), "{ran:?}");
    assert!(ran.stderr.contains("fqdn"), "{ran:?}");
}

#[test]
fn set_maintenance_needs_a_valid_mode() {
    let host = Host::deployed();
    let missing = "You must specify a maintenance mode with --mode\n";
    for args in [
        &["--set-maintenance"][..],
        &["--set-maintenance", "--mode"],
        &["--set-maintenance", "--mode="],
    ] {
        let ran = host.he(args);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{args:?}");
        let want = if args[1..] == ["--mode="] {
            "Invalid value '' for --mode\n"
        } else {
            missing
        };
        assert_eq!(ran.stderr, want, "{args:?}");
    }
    for args in [
        &["--set-maintenance", "--mode=bogus"][..],
        &["--set-maintenance", "--mode", "bogus"],
    ] {
        let ran = host.he(args);
        assert_eq!(ran.stderr, "Invalid value 'bogus' for --mode\n", "{args:?}");
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    }
    // Nothing was written.
    assert_eq!(host.area().global.unwrap().maintenance(), Ok(false));
    assert!(!host.path("state/ha.conf").exists());
}

#[test]
fn command_line_errors_usage_and_help() {
    // No configuration at all: none of this needs one.
    let host = Host::bare();
    let usage = spec::usage();
    let ran = host.he(&["--bogus"]);
    assert_eq!(ran.stderr, format!("Invalid option '--bogus'\n{usage}"));
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    let ran = host.he(&[]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert_eq!(ran.stderr, usage);
    for help in ["--help", "-h"] {
        let ran = host.he(&[help]);
        assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""));
        assert_eq!(ran.stdout, usage);
    }
    assert!(usage.starts_with("Usage: hosted-engine [--help | --version] <command>"));
    assert!(usage.contains("Exit codes: 0"), "{usage}");
    for line in usage.lines() {
        assert!(line.len() <= 80, "usage line too long: {line:?}");
    }
    for command in spec::COMMANDS {
        let ran = host.he(&[command.name, "--help"]);
        assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
        assert_eq!(ran.stdout, command.help_text(), "{}", command.name);
        assert!(
            ran.stdout
                .starts_with(&format!("Usage: hosted-engine {}", command.name))
        );
    }
    // An unknown option after a command: the reference wording, then that
    // command's synopsis.
    let ran = host.he(&["--vm-status", "--bogus"]);
    let synopsis = spec::find("--vm-status").unwrap().synopsis();
    assert_eq!(
        ran.stderr,
        format!("Invalid option '--bogus'\nUsage: {synopsis}\n")
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    for (args, message) in [
        (&["--get-shared-config"][..], "Missing argument <key>"),
        (
            &["--check-deployed", "extra"],
            "Unexpected argument 'extra'",
        ),
        (
            &["--vm-poweroff", "--mode=global"],
            "Invalid option '--mode=global'",
        ),
        (
            &["--vm-status", "--json=yes"],
            "Option --json takes no value",
        ),
    ] {
        let ran = host.he(args);
        assert_eq!(ran.code, Some(1), "{args:?}");
        assert!(ran.stderr.starts_with(&format!("{message}\n")), "{ran:?}");
    }
}

#[test]
fn with_the_agent_down_vm_actions_refuse_and_status_reads_the_storage() {
    let host = Host::deployed();
    host.publish(1, Some(now_unix()), false, None);
    for args in [&["--vm-start"][..], &["--vm-start-paused"]] {
        let ran = host.he(args);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{args:?}");
        assert!(
            ran.stderr
                .starts_with("The local ovirt-ha-agent is not answering: ")
                && ran.stderr.contains("is ovirt-ha-agent running?"),
            "{ran:?}"
        );
    }
    for (command, verb) in [
        ("--vm-shutdown", "shut down"),
        ("--vm-poweroff", "power off"),
    ] {
        let ran = host.he(&[command]);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{command}");
        assert!(ran.stderr.contains("is not answering"), "{ran:?}");
        assert!(
            ran.stderr.contains(&format!("pass --force to {verb}")),
            "{ran:?}"
        );
        // --force with no VM on this host: nothing to do, said so.
        let ran = host.he(&[command, "--force"]);
        assert_eq!(ran.code, Some(0), "{ran:?}");
        assert!(ran.stderr.contains("not running on this host"), "{ran:?}");
    }
    let ran = host.he(&["--vm-status"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout
            .contains("--== Host host1.example (id: 1) status ==--"),
        "{ran:?}"
    );
    assert!(
        ran.stderr.contains("the local agent is not answering"),
        "{ran:?}"
    );
    // What this driver (process) cannot do is said, not attempted.
    for (args, says) in [
        (
            &["--vm-start", "--vm-conf=/tmp/vm.conf"][..],
            "not supported",
        ),
        (&["--console"], "has no console"),
        (
            &["--add-console-password", "--password=pw"],
            "has no VNC console",
        ),
    ] {
        let ran = host.he(args);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{args:?}");
        assert!(ran.stderr.contains(says), "{args:?}: {ran:?}");
    }
    // Storage commands: nothing mounted to disconnect, the volume readable.
    let ran = host.he(&["--connect-storage"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
    let ran = host.he(&["--disconnect-storage"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("is not a mount point"), "{ran:?}");
}

#[test]
fn with_the_agent_down_maintenance_is_written_directly() {
    // The state directory does not exist yet (the agent never ran here).
    let host = Host::deployed();
    let global = |host: &Host| {
        let ran = host.he(&["--vm-status", "--json"]);
        assert_eq!(ran.code, Some(0), "{ran:?}");
        json_of(&ran)["global_maintenance"].as_bool().unwrap()
    };
    let ha_conf = host.path("state/ha.conf");
    let ran = host.he(&["--set-maintenance", "--mode=global"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), ""), "{ran:?}");
    assert!(ran.stderr.contains("writing the maintenance mode directly"));
    assert!(global(&host));
    let ran = host.he(&["--set-maintenance", "--mode=local"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(!global(&host), "the modes are exclusive");
    let text = std::fs::read_to_string(&ha_conf).unwrap();
    assert!(
        text.contains("local_maintenance=True") && text.contains("local_maintenance_manual=True"),
        "{text}"
    );
    let ran = host.he(&["--set-maintenance", "--mode=none"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(!global(&host));
    let text = std::fs::read_to_string(&ha_conf).unwrap();
    assert!(!text.contains("=True"), "{text}");
    let ran = host.he(&["--set-maintenance", "--mode=global"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(global(&host));
    let ran = host.he(&["--set-maintenance", "--mode=none"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(!global(&host));
}

/// A Unix socket in the agent's place that accepts every connection and never
/// answers (a hung agent); closes everything when dropped.
struct HungAgent {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl HungAgent {
    fn start(runtime_dir: &Path) -> HungAgent {
        let listener = UnixListener::bind(proto::socket_path(runtime_dir)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held: Vec<UnixStream> = Vec::new();
            // Bounded even if the test forgets to stop it.
            let deadline = Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        HungAgent {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; how many connections it took.
    fn accepted(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for HungAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn an_agent_that_never_answers_is_waited_for_a_bounded_time() {
    let host = Host::deployed();
    // Stopped cleanly as far as the storage tells: only the socket says that
    // the agent runs.
    host.publish(1, Some(now_unix()), true, None);
    host.set_global_maintenance(true);
    let hung = HungAgent::start(&host.runtime());
    let bound = Duration::from_secs(20);
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let ran = host.he(args);
        assert!(
            started.elapsed() < bound,
            "{args:?} took {:?}",
            started.elapsed()
        );
        ran
    };
    for args in [&["--vm-status"][..], &["--vm-status", "--json"]] {
        let ran = timed(args);
        assert_eq!(ran.code, Some(0), "{ran:?}");
        assert!(
            ran.stderr.contains("the local agent is not answering")
                && ran.stderr.contains("no answer within"),
            "{ran:?}"
        );
    }
    assert_eq!(
        json_of(&timed(&["--vm-status", "--json"]))["1"]["live-data"],
        true
    );
    let ran = timed(&["--vm-start"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert!(
        ran.stderr.contains("not answering") && ran.stderr.contains("no answer within"),
        "{ran:?}"
    );
    // An agent that accepts and does not answer still runs: what must not run
    // under an agent is refused.
    let ran = timed(&["--reinitialize-lockspace"]);
    assert_eq!(
        ran.stderr,
        "Lockfile reset cannot be performed with an active agent.\n"
    );
    assert_eq!(ran.code, Some(1));
    let ran = timed(&["--clean-metadata", "--force-cleanup"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("ovirt-ha-agent is running"), "{ran:?}");
    let ran = timed(&["--disconnect-storage"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("stop it first"), "{ran:?}");
    assert!(host.area().hosts.contains_key(&1));
    assert!(hung.accepted() >= 7, "the commands did connect");
}

#[test]
fn every_vm_status_json_failure_is_one_json_object() {
    let host = Host::deployed();
    let bare = Host::bare();
    let unreadable = Host::deployed();
    std::fs::remove_file(unreadable.volume()).unwrap();
    let broken = Host::deployed();
    std::fs::write(broken.conf(), "fqdn=engine.invalid\nhost_id=many\n").unwrap();
    let cases: &[(&Host, &[&str], i32, &str)] = &[
        (&bare, &["--vm-status", "--json"], 1, "not-deployed"),
        (&bare, &["--vm-status", "--format=json"], 1, "not-deployed"),
        (
            &bare,
            &["--vm-status", "--format", "json"],
            1,
            "not-deployed",
        ),
        (&unreadable, &["--vm-status", "--json"], 1, "unavailable"),
        (&broken, &["--vm-status", "--json"], 2, "config"),
        (
            &host,
            &["--vm-status", "--json", "--format=bogus"],
            1,
            "usage",
        ),
        (
            &host,
            &["--vm-status", "--json", "--format=table"],
            1,
            "usage",
        ),
        (&host, &["--vm-status", "--json", "--watch=0"], 1, "usage"),
        (&host, &["--vm-status", "--json", "--bogus"], 1, "usage"),
        (
            &host,
            &["--vm-status", "--format", "json", "--bogus"],
            1,
            "usage",
        ),
        (&host, &["--vm-status", "--json", "extra"], 1, "usage"),
        (&host, &["--vm-status", "--json", "--json"], 1, "usage"),
        (
            &host,
            &["--vm-status", "--json", "--remote=a@b@c"],
            1,
            "remote",
        ),
    ];
    for (host, args, code, kind) in cases {
        let ran = host.he(args);
        assert_eq!(ran.code, Some(*code), "{args:?}: {ran:?}");
        assert_eq!(ran.stdout.lines().count(), 1, "{args:?}: {ran:?}");
        let json = json_of(&ran);
        let object = json.as_object().unwrap_or_else(|| panic!("{ran:?}"));
        assert!(
            object["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{ran:?}"
        );
        assert_eq!(object["error-kind"], *kind, "{args:?}: {ran:?}");
    }
}

/// Runs `args` with stdout (and with `stderr_too` stderr) a pipe nobody reads.
fn with_closed_stdout(host: &Host, args: &[&str], stderr_too: bool) -> Ran {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let stderr = if stderr_too {
        Stdio::from(writer.try_clone().unwrap())
    } else {
        Stdio::piped()
    };
    let child = host
        .command(args)
        .stdout(writer)
        .stderr(stderr)
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap().into()
}

#[test]
fn a_closed_stdout_is_a_clean_exit() {
    let host = Host::deployed();
    for id in 1..=3 {
        host.publish(id, Some(now_unix()), false, None);
    }
    for args in [
        &["--vm-status"][..],
        &["--vm-status", "--json"],
        &["--vm-status", "--format=table", "--explain"],
        &["--help"],
        &["--vm-status", "--help"],
        &["--check-deployed"],
        &["--get-shared-config", "fqdn"],
    ] {
        let ran = with_closed_stdout(&host, args, false);
        assert_eq!(ran.code, Some(0), "{args:?}: {ran:?}");
        assert!(!ran.stderr.contains("panicked"), "{args:?}: {ran:?}");
        // stderr closed as well (`2>&1 | head -1`): still no panic.
        let ran = with_closed_stdout(&host, args, true);
        assert_eq!(ran.code, Some(0), "{args:?} with stderr closed too");
    }
    // A failure keeps its code with both closed.
    for (args, code) in [(&["--bogus"][..], 1), (&[][..], 1), (&["--vm-start"], 1)] {
        assert_eq!(with_closed_stdout(&host, args, true).code, Some(code));
    }
}

#[test]
fn watching_into_a_closed_pipe_ends() {
    let host = Host::deployed();
    host.publish(1, Some(now_unix()), false, None);
    for args in [
        &["--vm-status", "--watch=0.1", "--json"][..],
        &["--vm-status", "--watch=0.1"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = host
            .command(args)
            .stdout(writer)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let status = status.unwrap_or_else(|| panic!("{args:?} still running into a closed pipe"));
        assert_eq!(status.code(), Some(0), "{args:?}");
    }
}

/// Issue 16: `--watch` says when each refresh was taken (text and table; the
/// JSON lines stay pure JSON).
#[test]
fn watching_shows_the_time_of_each_refresh() {
    use std::io::Read as _;
    let host = Host::deployed();
    host.publish(1, Some(now_unix()), false, None);
    for (args, stamped) in [
        (&["--vm-status", "--watch=0.2"][..], true),
        (&["--vm-status", "--watch=0.2", "--format=table"], true),
        (&["--vm-status", "--watch=0.2", "--json"], false),
    ] {
        let mut child = host
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        std::thread::sleep(Duration::from_millis(1500));
        let _ = child.kill();
        let _ = child.wait();
        let text = reader.join().unwrap();
        let stamps = text.matches("Every 0.2 s; refreshed ").count();
        if stamped {
            assert!(stamps >= 2, "{args:?}:\n{text}");
        } else {
            assert_eq!(stamps, 0, "{args:?}:\n{text}");
            assert!(
                text.lines()
                    .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
                "{text}"
            );
        }
    }
}
