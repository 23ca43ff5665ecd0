//! Every `hosted-engine` command run as a process, its error paths first
//! (`reference/ovirt-compat.md` sections 6 and 8): not deployed, bad command
//! lines, the agent down, the agent accepting and never answering, `--json`
//! errors, a closed stdout; then the configuration keys, the metadata
//! housekeeping, and the agent commands against a real `ovirt-ha-agent` running
//! `he-lab engine` as the engine VM.
//!
//! Each test deploys a host configuration in a temporary directory (the paths
//! through `HE_CONF`, `HE_RUNTIME_DIR`, `HE_STATE_DIR`, as `tests/cli_status.rs`
//! does) with its metadata volume at `shared/ha_agent/hosted-engine.metadata`.

mod common;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hosted_engine::cli::he::spec;
use hosted_engine::metadata::store::{MetadataStore, init_volume};
use hosted_engine::metadata::{Area, Extra, HostRecord, SLOT_SIZE, decode_area, encode_host_slot};
use hosted_engine::proto;

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
const IO: Duration = Duration::from_secs(5);
const VMID: &str = "3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41";
const NOT_DEPLOYED: &str = "You must run deploy first\n";
const UP: &str = r#"{"vm": "up", "health": "good", "detail": "Up"}"#;
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

/// A process's outcome, as text.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// One host's configuration in a temporary directory.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// Nothing deployed: no hosted-engine.conf.
    fn bare() -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        Host { dir }
    }

    /// A deployed host (host id 1) with an empty metadata volume.
    fn deployed() -> Host {
        let host = Host::bare();
        host.write_conf(&format!("vmid={VMID}\n"));
        std::fs::create_dir_all(host.volume().parent().unwrap()).unwrap();
        init_volume(&host.volume(), false, IO).unwrap();
        host
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn conf(&self) -> PathBuf {
        self.path("hosted-engine.conf")
    }

    fn volume(&self) -> PathBuf {
        self.path("shared/ha_agent/hosted-engine.metadata")
    }

    fn runtime(&self) -> PathBuf {
        self.path("run")
    }

    fn write_conf(&self, extra: &str) {
        let text = format!(
            "fqdn=engine.invalid\nhost_id=1\nstorage={}\ndomainType=dir\nvm_command=/bin/true\n\
             network_test=none\n{extra}",
            self.path("shared").display()
        );
        std::fs::write(self.conf(), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(HE_BIN);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("HE_CONFIG_ROOT", self.dir.path())
            .env("HE_CONF", self.conf())
            .env("HE_RUNTIME_DIR", self.runtime())
            .env("HE_STATE_DIR", self.path("state"))
            .env_remove("OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD")
            .stdin(Stdio::null());
        cmd
    }

    fn he(&self, args: &[&str]) -> Ran {
        self.command(args).output().unwrap().into()
    }

    fn store(&self) -> MetadataStore {
        MetadataStore::open(self.volume(), IO)
    }

    fn area(&self) -> Area {
        decode_area(&self.store().read_area().unwrap())
    }

    /// Publishes host `id`'s slot as our agent does: its wall clock `wall`
    /// (None: a writer that publishes none), `stopped`, and a lease state.
    fn publish(&self, id: u16, wall: Option<i64>, stopped: bool, lease: Option<(&str, u64)>) {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100,
            host_id: id,
            score: if stopped { 0 } else { 3400 },
            engine_status: UP.to_owned(),
            hostname: format!("host{id}.example"),
            local_maintenance: false,
            stopped,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100,
        };
        let mut extra = Extra::new();
        extra.push("host-id", id.to_string());
        let state = if stopped { "AgentStopped" } else { "EngineUp" };
        extra.push("state", state);
        if let Some(wall) = wall {
            extra.push("wall-clock", wall.to_string());
        }
        if let Some((kind, epoch)) = lease {
            extra.push("lease", kind);
            extra.push("lease-epoch", epoch.to_string());
        }
        let bytes = encode_host_slot(id, &record, &extra).unwrap();
        self.store().write_slot(id, &bytes).unwrap();
    }

    fn set_global_maintenance(&self, on: bool) {
        let mut global = hosted_engine::metadata::GlobalBlock::new();
        global.set_maintenance(on);
        self.store()
            .write_slot(0, &global.encode().unwrap())
            .unwrap();
    }
}

fn now_unix() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(secs.as_secs()).unwrap()
}

fn json_of(ran: &Ran) -> serde_json::Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
}

#[test]
fn commands_that_need_a_deployed_host_say_run_deploy_first() {
    let bare = Host::bare();
    let no_vmid = Host::bare();
    no_vmid.write_conf("");
    for host in [&bare, &no_vmid] {
        for args in DEPLOYED_COMMANDS {
            let ran = host.he(args);
            assert_eq!(ran.stderr, NOT_DEPLOYED, "{args:?}: {ran:?}");
            assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{args:?}");
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
    // (`reference/ovirt-compat.md` section 3).
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
    assert!(usage.starts_with("Usage: hosted-engine [--help] <command>"));
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

#[test]
fn shared_config_round_trips_and_refusals() {
    let host = Host::deployed();
    let get = |args: &[&str]| {
        let mut all = vec!["--get-shared-config"];
        all.extend(args);
        host.he(&all)
    };
    let set = |args: &[&str]| {
        let mut all = vec!["--set-shared-config"];
        all.extend(args);
        host.he(&all)
    };
    // he_local: hosted-engine.conf.
    let ran = get(&["fqdn", "--type=he_local"]);
    assert_eq!(ran.stdout, "fqdn : engine.invalid, type : he_local\n");
    assert_eq!(ran.code, Some(0));
    let ran = set(&["fqdn", "engine2.example", "--type=he_local"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", "")
    );
    assert_eq!(
        get(&["fqdn"]).stdout,
        "fqdn : engine2.example, type : he_local\n"
    );
    assert!(
        std::fs::read_to_string(host.conf())
            .unwrap()
            .contains("fqdn=engine2.example\n")
    );
    // ha: ha.conf, created on first use.
    let ran = set(&["local_maintenance", "True", "--type=ha"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(
        get(&["local_maintenance"]).stdout,
        "local_maintenance : True, type : ha\n"
    );
    // broker: INI, keys as section.key.
    let ran = set(&["email.smtp-server", "mail.example", "--type=broker"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let ran = get(&["email.smtp-server", "--type=broker"]);
    assert_eq!(
        ran.stdout,
        "email.smtp-server : mail.example, type : broker\n"
    );
    let ran = set(&["email.smtp-server", "relay.example"]);
    assert_eq!(ran.code, Some(0), "found without --type: {ran:?}");
    let text = std::fs::read_to_string(host.path("state/broker.conf")).unwrap();
    assert!(
        text.contains("[email]\nsmtp-server=relay.example\n"),
        "{text}"
    );

    // A key in two files (he_shared, the copy beside the metadata volume).
    std::fs::copy(host.conf(), host.path("shared/ha_agent/hosted-engine.conf")).unwrap();
    let ran = get(&["host_id"]);
    assert_eq!(
        ran.stdout,
        "host_id : 1, type : he_local\nhost_id : 1, type : he_shared\n"
    );
    let ran = set(&["host_id", "2"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert!(ran.stderr.starts_with("Duplicate key host_id"), "{ran:?}");
    // Not found.
    let ran = get(&["no_such_key"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    assert!(
        ran.stderr.starts_with("Key no_such_key not found"),
        "{ran:?}"
    );
    let ran = set(&["no_such_key", "1"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("Key no_such_key not found"),
        "{ran:?}"
    );
    let ran = get(&["fqdn", "--type=bogus"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.starts_with("Invalid value 'bogus' for --type"),
        "{ran:?}"
    );

    // An invalid value is refused and the file left as it was.
    for (args, file) in [
        (&["host_id", "abc", "--type=he_local"][..], host.conf()),
        (
            &["local_maintenance", "maybe", "--type=ha"],
            host.path("state/ha.conf"),
        ),
        (
            &["email.smtp-port", "abc", "--type=broker"],
            host.path("state/broker.conf"),
        ),
    ] {
        let before = std::fs::read(&file).unwrap();
        let ran = set(args);
        assert_eq!(ran.code, Some(1), "{args:?}: {ran:?}");
        assert!(
            ran.stderr.contains("\"abc\"") || ran.stderr.contains("\"maybe\""),
            "{ran:?}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before, "{args:?}");
    }
}

#[test]
fn clean_metadata_refuses_an_active_host_unless_forced() {
    let host = Host::deployed();
    let now = now_unix();
    host.publish(2, Some(now), false, None); // fresh and running
    host.publish(3, Some(now), true, None); // stopped cleanly
    host.publish(4, Some(now - 3600), false, None); // silent for an hour
    host.publish(5, None, false, None); // publishes no clock: cannot tell
    let clean = |args: &[&str]| {
        let mut all = vec!["--clean-metadata"];
        all.extend(args);
        host.he(&all)
    };
    for id in ["2", "5"] {
        let ran = clean(&[&format!("--host-id={id}")]);
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
        assert!(ran.stderr.contains("looks active"), "{ran:?}");
        assert!(ran.stderr.contains("--force-cleanup"), "{ran:?}");
    }
    assert!(host.area().hosts.contains_key(&2));
    let ran = clean(&["--host-id=2", "--force-cleanup"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    for id in ["3", "4"] {
        let ran = clean(&["--host-id", id]);
        assert_eq!(ran.code, Some(0), "{ran:?}");
    }
    let area = host.area();
    assert_eq!(area.hosts.keys().copied().collect::<Vec<_>>(), [5]);
    let bytes = host.store().read_area().unwrap();
    assert!(
        bytes[2 * SLOT_SIZE..5 * SLOT_SIZE].iter().all(|&b| b == 0),
        "slots 2 to 4 zeroed"
    );
    // Nothing there: said, not an error. A bad id is refused.
    let ran = clean(&["--host-id=7"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("nothing to clean"), "{ran:?}");
    for bad in ["0", "2001", "abc"] {
        let ran = clean(&[&format!("--host-id={bad}")]);
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(
            ran.stderr
                .starts_with(&format!("Invalid value '{bad}' for --host-id")),
            "{ran:?}"
        );
    }
}

/// Lease states of every slot in the area: (host, kind, epoch).
fn leases(area: &Area) -> Vec<(u16, String, String)> {
    area.hosts
        .iter()
        .map(|(id, slot)| {
            let extra = &slot.as_ref().unwrap().extra;
            let get = |k: &str| extra.get(k).unwrap_or("-").to_owned();
            (*id, get("lease"), get("lease-epoch"))
        })
        .collect()
}

#[test]
fn reinitialize_lockspace_needs_global_maintenance_and_no_active_agent() {
    let host = Host::deployed();
    let now = now_unix();
    host.publish(1, Some(now), true, Some(("held", 7)));
    host.publish(2, Some(now), false, Some(("claim", 8)));
    host.publish(3, None, true, None);
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(
        ran.stderr,
        "Lockfile reset can be performed in global maintenance mode only.\n"
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""));
    host.set_global_maintenance(true);
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(
        ran.stderr,
        "Lockfile reset cannot be performed with an active agent.\n"
    );
    assert_eq!(ran.code, Some(1));
    let before = host.area();
    assert_eq!(
        leases(&before),
        [
            (1, "held".into(), "7".into()),
            (2, "claim".into(), "8".into()),
            (3, "-".into(), "-".into())
        ]
    );
    // --force: every claim cleared, epochs kept, everything else as it was.
    let ran = host.he(&["--reinitialize-lockspace", "--force"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let after = host.area();
    assert_eq!(
        leases(&after),
        [
            (1, "none".into(), "7".into()),
            (2, "none".into(), "8".into()),
            (3, "-".into(), "-".into())
        ]
    );
    for id in [1, 2] {
        let (a, b) = (
            after.hosts[&id].as_ref().unwrap(),
            before.hosts[&id].as_ref().unwrap(),
        );
        assert_eq!(a.record, b.record);
        assert!(a.sealed);
        assert_eq!(a.extra.get("wall-clock"), b.extra.get("wall-clock"));
        assert_eq!(a.extra.get("state"), b.extra.get("state"));
    }
    // Without --force once every agent has stopped (or fallen silent).
    host.publish(2, Some(now - 3600), false, Some(("held", 9)));
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(leases(&host.area())[1], (2, "none".into(), "9".into()));
}

/// CLOCK_MONOTONIC in milliseconds: the agent's clock.
fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
        0
    );
    u64::try_from(ts.tv_sec).unwrap() * 1000 + u64::try_from(ts.tv_nsec).unwrap() / 1_000_000
}

/// A status snapshot taken at `taken_ms` in which host 1 (this agent's) has
/// published `host_ts` with the engine VM `up` or not.
fn snapshot(taken_ms: u64, host_ts: u64, up: bool) -> proto::StatusReply {
    let engine = if up {
        UP
    } else {
        r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#
    };
    let record = HostRecord {
        parse_version: 1,
        feature_version: 1,
        host_ts,
        host_id: 1,
        score: 3400,
        engine_status: engine.to_owned(),
        hostname: "host1.example".into(),
        local_maintenance: false,
        stopped: false,
        conf_on_shared_storage: true,
        vm_conf_refresh_time: 1,
    };
    let mut area = vec![0u8; 2 * SLOT_SIZE];
    area[SLOT_SIZE..].copy_from_slice(&encode_host_slot(1, &record, &Extra::new()).unwrap()[..]);
    let decoded = decode_area(&area);
    let slot = decoded.hosts[&1].as_ref().unwrap();
    proto::StatusReply {
        taken: proto::Taken {
            monotonic_ms: taken_ms,
            wall_unix: now_unix(),
        },
        age_ms: 0,
        global_maintenance: true,
        agent: proto::AgentStatus {
            host_id: 1,
            hostname: "host1.example".into(),
            state: "GlobalMaintenance".into(),
            score: proto::ScoreView {
                score: 3400,
                base: 3400,
                penalties: Vec::new(),
                zero_reason: None,
                summary: "3400 = 3400".into(),
            },
            lease: proto::LeasePhaseView {
                phase: proto::LeasePhase::Idle,
                epoch: 1,
                last_renewal_ms: None,
            },
            has_history: true,
            adopted: true,
        },
        hosts: vec![proto::HostStatus::from_slot(1, slot, true, Some(0))],
        unreadable: Vec::new(),
    }
}

/// A fake agent: answers every request on the agent's socket with
/// `answer(request)`, one connection at a time, until dropped.
struct FakeAgent {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeAgent {
    fn start(
        runtime_dir: &Path,
        mut answer: impl FnMut(&proto::Request) -> proto::Reply + Send + 'static,
    ) -> FakeAgent {
        use std::io::{BufRead, BufReader, Write};
        let socket = proto::socket_path(runtime_dir);
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(IO)).unwrap();
                let mut line = Vec::new();
                if BufReader::new(&stream)
                    .read_until(b'\n', &mut line)
                    .is_err()
                {
                    continue;
                }
                let frame = proto::parse_request(line.strip_suffix(b"\n").unwrap()).unwrap();
                let reply = proto::ReplyFrame::success(frame.id, answer(&frame.request));
                let _ = (&stream).write_all(&reply.encode());
            }
        });
        FakeAgent {
            socket,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// `--vm-start` reports a launch only from a publish the agent made after it
/// took the request: the agent's own slot is a loop behind, and right after a
/// shutdown it still says "up".
#[test]
fn vm_start_trusts_only_a_slot_published_after_the_request() {
    let host = Host::deployed();
    let etc = host.path("etc/ovirt-hosted-engine-ha");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("agent.conf"), common::FAST_AGENT_CONF).unwrap();
    // An agent whose loop does not move on: every snapshot is the one taken
    // before the request, its slot (stale) saying "up" once asked to start.
    let frozen = monotonic_ms();
    let mut started = false;
    let agent = FakeAgent::start(&host.runtime(), move |request| match request {
        proto::Request::Status => proto::Reply::Status(Box::new(snapshot(frozen, 5, started))),
        proto::Request::VmStart { paused } => {
            started = true;
            proto::Reply::VmStart { paused: *paused }
        }
        other => panic!("unexpected {other:?}"),
    });
    let begun = Instant::now();
    let ran = host.he(&["--vm-start"]);
    assert!(
        begun.elapsed() < Duration::from_secs(30),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("VM failed to launch (agent state GlobalMaintenance"),
        "{ran:?}"
    );
    drop(agent);

    // A looping agent: each snapshot newer, each publish newer.
    let mut loops = 5;
    let mut started = false;
    let _agent = FakeAgent::start(&host.runtime(), move |request| match request {
        proto::Request::Status => {
            loops += 1;
            proto::Reply::Status(Box::new(snapshot(monotonic_ms(), loops, started)))
        }
        proto::Request::VmStart { paused } => {
            started = true;
            proto::Reply::VmStart { paused: *paused }
        }
        other => panic!("unexpected {other:?}"),
    });
    let ran = host.he(&["--vm-start"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "VM in WaitForLaunch\n", "")
    );
}

/// One host running a real `ovirt-ha-agent` with `he-lab engine` as its VM;
/// kills the agent and the VM when dropped.
struct LiveHost {
    dir: tempfile::TempDir,
    agent: Option<Child>,
}

impl LiveHost {
    fn start() -> LiveHost {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let shared = dir.path().join("shared");
        let volume = shared.join("ha_agent/hosted-engine.metadata");
        std::fs::create_dir_all(volume.parent().unwrap()).unwrap();
        init_volume(&volume, false, IO).unwrap();
        let root = dir.path().join("host1");
        let etc_he = root.join("etc/ovirt-hosted-engine");
        let etc_ha = root.join("etc/ovirt-hosted-engine-ha");
        std::fs::create_dir_all(&etc_he).unwrap();
        std::fs::create_dir_all(&etc_ha).unwrap();
        std::fs::write(root.join("watchdog"), b"").unwrap();
        std::fs::write(
            etc_he.join("hosted-engine.conf"),
            format!(
                "fqdn=127.0.0.1:{port}\nvmid=he\nhost_id=1\nstorage={}\ndomainType=dir\n\
                 network_test=none\nbridge=lo\nhostname=host1.lab\n\
                 vm_command={LAB} engine --listen 127.0.0.1:{port}\nwatchdog_device={}\n",
                shared.display(),
                root.join("watchdog").display()
            ),
        )
        .unwrap();
        std::fs::write(etc_ha.join("agent.conf"), common::FAST_AGENT_CONF).unwrap();
        let mut host = LiveHost { dir, agent: None };
        host.start_agent();
        host
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("host1")
    }

    fn start_agent(&mut self) {
        let log = std::fs::File::create(self.root().join("agent.log")).unwrap();
        let mut command = Command::new(AGENT);
        for var in common::PATH_VARS
            .iter()
            .chain(&["JOURNAL_STREAM", "HE_LOG", "NOTIFY_SOCKET"])
        {
            command.env_remove(var);
        }
        let child = command
            .env("HE_CONFIG_ROOT", self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agent = Some(child);
    }

    /// SIGTERM, and wait for the agent to publish AgentStopped and exit.
    fn stop_agent(&mut self) {
        let mut child = self.agent.take().expect("the agent runs");
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        wait_for("the agent to exit", Duration::from_secs(10), || {
            child.try_wait().unwrap().is_some()
        });
    }

    fn he(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::new(HE_BIN);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("HE_CONFIG_ROOT", self.root())
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("agent.log")).unwrap_or_default()
    }

    fn state(&self) -> Option<String> {
        let volume = self
            .dir
            .path()
            .join("shared/ha_agent/hosted-engine.metadata");
        let area = decode_area(&MetadataStore::open(volume, IO).read_area().ok()?);
        let slot = area.hosts.get(&1)?.as_ref().ok()?;
        slot.extra.get("state").map(str::to_owned)
    }

    /// The engine VM's process, when it runs.
    fn vm_pid(&self) -> Option<u32> {
        let file = self
            .root()
            .join("var/lib/ovirt-hosted-engine-ha/engine-vm.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
        let pid = u32::try_from(json["pid"].as_u64()?).ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }
}

impl Drop for LiveHost {
    fn drop(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.vm_pid() {
            // SAFETY: kill(2) of the engine VM process group our agent started.
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_real_agent_carries_out_the_commands() {
    // The agent takes mutating requests from root only (SO_PEERCRED).
    if !common::require(
        "root (the agent takes VM and maintenance requests from root only)",
        is_root(),
    ) {
        return;
    }
    let mut host = LiveHost::start();
    // The agent shows its own slot as it last read it, one loop behind the
    // storage: wait for its view.
    let agent_state = |host: &LiveHost| {
        let ran = host.he(&["--vm-status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&ran.stdout).ok()?;
        let extra = json["1"]["extra"].as_str()?.to_owned();
        let state = extra.lines().find_map(|l| l.strip_prefix("state="))?;
        Some(state.to_owned())
    };
    wait_for("EngineUp", Duration::from_secs(60), || {
        agent_state(&host).as_deref() == Some("EngineUp")
    });
    let logs = |host: &LiveHost| format!("agent log:\n{}", host.log());

    // Live data from the agent: no note about reading the storage.
    let ran = host.he(&["--vm-status", "--json"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(!ran.stderr.contains("not answering"), "{ran:?}");
    let json = json_of(&ran);
    assert_eq!(json["1"]["live-data"], true, "{ran:?}");
    assert_eq!(json["1"]["hostname"], "host1.lab");
    assert_eq!(json["1"]["engine-status"]["vm"], "up", "{ran:?}");
    assert_eq!(json["1"]["engine-status"]["health"], "good");
    assert!(
        json["1"]["extra"]
            .as_str()
            .unwrap()
            .contains("\nstate=EngineUp\n")
    );
    assert_eq!(json["global_maintenance"], false);
    let ran = host.he(&["--check-liveliness"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (Some(0), "Hosted Engine is up!\n")
    );

    // Local maintenance under the running VM: the agent refuses, with the
    // reference's words.
    let ran = host.he(&["--set-maintenance", "--mode=local"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (
            Some(1),
            "",
            "Unable to enter local maintenance mode: the engine VM is running on the current \
             host, please migrate it before entering local maintenance mode.\n"
        )
    );

    // Global maintenance through the agent: silent.
    let ran = host.he(&["--set-maintenance", "--mode=global"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", "")
    );
    wait_for("GlobalMaintenance", Duration::from_secs(20), || {
        agent_state(&host).as_deref() == Some("GlobalMaintenance")
    });
    let ran = host.he(&["--vm-status", "--json"]);
    assert_eq!(json_of(&ran)["global_maintenance"], true, "{ran:?}");
    // Refused under a running agent.
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (
            Some(1),
            "Lockfile reset cannot be performed with an active agent.\n"
        )
    );
    let ran = host.he(&["--clean-metadata"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("ovirt-ha-agent is running"), "{ran:?}");

    // Shut down through the agent: silent; the VM goes, and the engine is not up.
    let ran = host.he(&["--vm-shutdown"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", "")
    );
    wait_for("the VM to stop", Duration::from_secs(30), || {
        host.vm_pid().is_none()
    });
    // As an operator would: until --vm-status shows it down, --vm-start says
    // it exists (the agent's view of its own slot is a loop behind).
    wait_for(
        "the agent to see the VM down",
        Duration::from_secs(20),
        || {
            let ran = host.he(&["--vm-status", "--json"]);
            serde_json::from_str::<serde_json::Value>(&ran.stdout)
                .is_ok_and(|json| json["1"]["engine-status"]["vm"] != "up")
        },
    );
    let ran = host.he(&["--check-liveliness"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (Some(1), "Hosted Engine is not up!\n"),
        "{}",
        logs(&host)
    );
    // Started again through the agent (a manual start is allowed in global
    // maintenance), under the lease.
    let ran = host.he(&["--vm-start"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (Some(0), "VM in WaitForLaunch\n"),
        "{ran:?}\n{}",
        logs(&host)
    );
    assert!(host.vm_pid().is_some());

    // The agent stops; the VM keeps running. Stopping it now needs --force.
    host.stop_agent();
    assert!(host.vm_pid().is_some(), "{}", logs(&host));
    let ran = host.he(&["--vm-poweroff"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("--force"), "{ran:?}");
    // Local maintenance under the running VM: the reference's refusal.
    let ran = host.he(&["--set-maintenance", "--mode=local"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.ends_with(
            "Unable to enter local maintenance mode: the engine VM is running on the current \
             host, please migrate it before entering local maintenance mode.\n"
        ),
        "{ran:?}"
    );
    let ran = host.he(&["--vm-poweroff", "--force"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    wait_for("the VM to go", Duration::from_secs(10), || {
        host.vm_pid().is_none()
    });
    // From the storage now: the host says it stopped.
    let ran = host.he(&["--vm-status", "--json"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stderr.contains("not answering"), "{ran:?}");
    let json = json_of(&ran);
    assert_eq!(
        (
            json["1"]["stopped"].as_bool(),
            json["global_maintenance"].as_bool()
        ),
        (Some(true), Some(true))
    );
    // With every agent stopped in global maintenance, the housekeeping runs.
    let ran = host.he(&["--reinitialize-lockspace"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let ran = host.he(&["--clean-metadata"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(host.state(), None);
}
