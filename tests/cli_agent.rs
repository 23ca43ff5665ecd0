//! `hosted-engine`'s agent commands run as a process against an agent: a fake
//! one on the agent's socket (`--vm-start` trusts only a publish made after its
//! request), then a real `ovirt-ha-agent` running `he-lab engine` as the engine
//! VM, through maintenance, shutdown, start, the agent stopping, and the
//! housekeeping after.

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::he::{HE_BIN, Host, IO, Ran, UP, json_of, now_unix};
use hosted_engine::metadata::{Extra, HostRecord, SLOT_SIZE, decode_area, encode_host_slot};
use hosted_engine::proto;
use hosted_engine::shell::store::{MetadataStore, init_volume};

const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
/// What `--vm-shutdown` and `--vm-poweroff` say outside global maintenance.
const NOT_GLOBAL_WARNING: &str = "hosted-engine: the cluster is not in global maintenance: the \
    agents will start the engine VM again, here or on another host (hosted-engine \
    --set-maintenance --mode=global first to keep it down)\n";

/// CLOCK_BOOTTIME in milliseconds: the agent's clock (snapshots, deadlines).
fn boottime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) },
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
            lease_timings_mismatch: None,
        },
        hosts: vec![proto::HostStatus::from_slot(1, slot, true, Some(0))],
        unreadable: Vec::new(),
        more_from: None,
        storage_trouble: None,
        global_unreadable: None,
    }
}

/// A fake agent: answers every request on the agent's socket with
/// `answer(frame)` (a result or an error), one connection at a time, until
/// dropped.
struct FakeAgent {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeAgent {
    fn start(
        runtime_dir: &Path,
        mut answer: impl FnMut(&proto::RequestFrame) -> Result<proto::Reply, proto::RemoteError>
        + Send
        + 'static,
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
                let reply = match answer(&frame) {
                    Ok(result) => proto::ReplyFrame::success(frame.id, result),
                    Err(error) => proto::ReplyFrame::failure(frame.id, error),
                };
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
    let frozen = boottime_ms();
    let mut started = false;
    let agent = FakeAgent::start(&host.runtime(), move |frame| match &frame.request {
        proto::Request::Status { .. } => {
            Ok(proto::Reply::Status(Box::new(snapshot(frozen, 5, started))))
        }
        proto::Request::VmStart { paused } => {
            started = true;
            Ok(proto::Reply::VmStart { paused: *paused })
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
    let _agent = FakeAgent::start(&host.runtime(), move |frame| match &frame.request {
        proto::Request::Status { .. } => {
            loops += 1;
            Ok(proto::Reply::Status(Box::new(snapshot(
                boottime_ms(),
                loops,
                started,
            ))))
        }
        proto::Request::VmStart { paused } => {
            started = true;
            Ok(proto::Reply::VmStart { paused: *paused })
        }
        other => panic!("unexpected {other:?}"),
    });
    let ran = host.he(&["--vm-start"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "VM in WaitForLaunch\n", "")
    );
}

/// A VM request the agent did not take by its deadline (it answers
/// `expired`): the command fails and says that nothing was done; `--force`
/// then acts directly. Every VM request carries a deadline 10 s ahead (the
/// floor; these timings would give 6 s).
#[test]
fn a_vm_request_the_agent_did_not_take_fails_saying_nothing_was_done() {
    let host = Host::deployed();
    let etc = host.path("etc/ovirt-hosted-engine-ha");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("agent.conf"), common::FAST_AGENT_CONF).unwrap();
    let windows = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&windows);
    // The engine VM runs here for the stops (a stop with none here is
    // refused before it is sent), not for the start.
    let vm_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let up = Arc::clone(&vm_up);
    let _agent = FakeAgent::start(&host.runtime(), move |frame| {
        if frame.request == proto::Request::STATUS {
            return Ok(proto::Reply::Status(Box::new(snapshot(
                boottime_ms(),
                5,
                up.load(std::sync::atomic::Ordering::SeqCst),
            ))));
        }
        let deadline = frame.deadline_ms.expect("a deadline");
        seen.lock()
            .unwrap()
            .push(deadline.saturating_sub(boottime_ms()));
        Err(proto::RemoteError::new(
            proto::ErrorCode::Expired,
            format!("{}: withdrawn, nothing was done", frame.request.kind()),
        ))
    });
    let ran = host.he(&["--vm-poweroff"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (
            Some(1),
            "",
            "The local ovirt-ha-agent did not take the request within 10 s (is it paused or \
             hung?): nothing was done. Pass --force to power off the engine VM on this host \
             directly.\n"
        )
    );
    vm_up.store(false, std::sync::atomic::Ordering::SeqCst);
    let ran = host.he(&["--vm-start"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (
            Some(1),
            "",
            "The local ovirt-ha-agent did not take the request within 10 s (is it paused or \
             hung?): nothing was done\n"
        )
    );
    vm_up.store(true, std::sync::atomic::Ordering::SeqCst);
    let ran = host.he(&["--vm-shutdown", "--force"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stderr.starts_with(
            "hosted-engine: the local agent did not take the request within 10 s (is it paused \
             or hung?); --force: acting on the engine VM directly\n"
        ),
        "{ran:?}"
    );
    let windows = windows.lock().unwrap().clone();
    assert_eq!(windows.len(), 3);
    for ms in windows {
        assert!((9_000..=10_000).contains(&ms), "deadline {ms} ms ahead");
    }
}

/// One host running a real `ovirt-ha-agent` with `he-lab engine` as its VM;
/// kills the agent and the VM when dropped.
struct LiveHost {
    dir: tempfile::TempDir,
    agent: Option<Child>,
}

impl LiveHost {
    fn start() -> LiveHost {
        LiveHost::start_with(common::FAST_AGENT_CONF)
    }

    /// With `agent_conf` as its `agent.conf`.
    fn start_with(agent_conf: &str) -> LiveHost {
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
        let watchdog = common::stand_in_watchdog(&root.join("watchdog"));
        std::fs::write(
            etc_he.join("hosted-engine.conf"),
            format!(
                "fqdn=127.0.0.1:{port}\nvmid=he\nhost_id=1\nstorage={}\ndomainType=dir\n\
                 network_test=none\nbridge=lo\nhostname=host1.lab\n\
                 vm_command={LAB} engine --listen 127.0.0.1:{port}\n{watchdog}",
                shared.display(),
            ),
        )
        .unwrap();
        std::fs::write(etc_ha.join("agent.conf"), agent_conf).unwrap();
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

    /// Sends `signal` to the agent process.
    fn signal_agent(&self, signal: libc::c_int) {
        let pid = self.agent.as_ref().expect("the agent runs").id();
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
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

    fn store(&self) -> MetadataStore {
        let volume = self
            .dir
            .path()
            .join("shared/ha_agent/hosted-engine.metadata");
        MetadataStore::open(volume, IO)
    }

    /// Publishes host `id`'s slot as another host's agent would, last at
    /// `wall` (Unix seconds), with `extra` lines after the state.
    fn publish_peer(&self, id: u16, wall: i64, extra: &[(&str, &str)]) {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100,
            host_id: id,
            score: 3400,
            engine_status: r#"{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}"#.into(),
            hostname: format!("host{id}.lab"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100,
        };
        let mut lines = Extra::new();
        lines.push("state", "EngineDown");
        lines.push("wall-clock", wall.to_string());
        for (key, value) in extra {
            lines.push(*key, *value);
        }
        let bytes = encode_host_slot(id, &record, &lines).unwrap();
        self.store().write_slot(id, &bytes).unwrap();
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

    // Shut down through the agent: silent (in global maintenance, no
    // warning); it returns once the VM is down and published (issue 16).
    let ran = host.he(&["--vm-shutdown"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", "")
    );
    assert_eq!(host.vm_pid(), None, "{}", logs(&host));
    let ran = host.he(&["--vm-status", "--json"]);
    assert_ne!(json_of(&ran)["1"]["engine-status"]["vm"], "up", "{ran:?}");
    // Nothing to stop now: VDSM's words, exit 1 (it said nothing and exited
    // 0 before, while the agent logged the failure).
    for stop in ["--vm-poweroff", "--vm-shutdown"] {
        let ran = host.he(&[stop]);
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
            (
                Some(1),
                "",
                "Virtual machine does not exist: {'vmId': 'he'}\n"
            ),
            "{stop}"
        );
    }
    // Local maintenance returns once this host's slot shows it on the shared
    // storage; a start is then refused at once, saying why.
    let ran = host.he(&["--set-maintenance", "--mode=local"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
    let ran = host.he(&["--vm-status", "--json"]);
    assert_eq!(json_of(&ran)["1"]["maintenance"], true, "{ran:?}");
    wait_for("LocalMaintenance", Duration::from_secs(20), || {
        agent_state(&host).as_deref() == Some("LocalMaintenance")
    });
    let ran = host.he(&["--vm-start"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.starts_with("This host is in local maintenance"),
        "{ran:?}"
    );
    let ran = host.he(&["--set-maintenance", "--mode=global"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
    let ran = host.he(&["--vm-status", "--json"]);
    assert_eq!(json_of(&ran)["1"]["maintenance"], false, "{ran:?}");
    wait_for("GlobalMaintenance again", Duration::from_secs(20), || {
        agent_state(&host).as_deref() == Some("GlobalMaintenance")
    });
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

/// The agent's own state as `--vm-status --json` shows it (a loop behind).
fn agent_state(host: &LiveHost) -> Option<String> {
    let ran = host.he(&["--vm-status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).ok()?;
    let extra = json["1"]["extra"].as_str()?.to_owned();
    let state = extra.lines().find_map(|l| l.strip_prefix("state="))?;
    Some(state.to_owned())
}

/// Issue 13, item 7, as reproduced on the lab: `--vm-poweroff` against an
/// agent stopped with SIGSTOP fails, and the agent, resumed after the
/// command gave up, must not power the engine VM off anyway.
#[test]
fn a_request_the_caller_gave_up_on_is_never_carried_out() {
    if !common::require(
        "root (the agent takes VM requests from root only)",
        is_root(),
    ) {
        return;
    }
    // The fast timings, but a lease that outlasts the pause: resumed within
    // lease-fail-secs, the agent keeps its VM for its own reasons.
    let conf =
        common::fast_agent_conf_with(&[("lease-fail-secs", "20"), ("lease-dead-secs", "25")]);
    let host = LiveHost::start_with(&conf);
    wait_for("EngineUp", Duration::from_secs(60), || {
        agent_state(&host).as_deref() == Some("EngineUp") && host.vm_pid().is_some()
    });
    let vm = host.vm_pid();
    let logs = |host: &LiveHost| format!("agent log:\n{}", host.log());

    host.signal_agent(libc::SIGSTOP);
    let started = Instant::now();
    let ran = host.he(&["--vm-poweroff"]);
    let waited = started.elapsed();
    host.signal_agent(libc::SIGCONT);
    // The window: 10 s on these timings (never less), and 1 s for the answer.
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr.starts_with(
            "The local ovirt-ha-agent did not take the request within 10 s (is it paused or \
             hung?): nothing was done. Pass --force to power off"
        ),
        "{ran:?}"
    );

    // Resumed, the agent reads the request from its socket and refuses it;
    // a few loops later the engine VM still runs, and the agent is EngineUp.
    wait_for(
        "the agent to refuse the request",
        Duration::from_secs(10),
        || host.log().contains("refused vm-poweroff: read "),
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(host.vm_pid(), vm, "{}", logs(&host));
    assert_eq!(
        agent_state(&host).as_deref(),
        Some("EngineUp"),
        "{}",
        logs(&host)
    );
    assert!(
        host.log().contains("its caller has given up"),
        "{}",
        logs(&host)
    );

    // A live agent takes the same request at once; the command returns once
    // the VM is gone, warning that the cluster will start it again (not in
    // global maintenance).
    let ran = host.he(&["--vm-poweroff"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", NOT_GLOBAL_WARNING),
        "{}",
        logs(&host)
    );
    assert_eq!(host.vm_pid(), None, "{}", logs(&host));
}

/// Issue 13 with a real agent: right after it starts, a host it has not
/// watched for host_alive_timeout yet is unknown yet in the table, not
/// stale (the reference's text keeps stale-data, stderr says why), and
/// stale once watched that long without a change. `--clean-metadata` of a
/// silent holder's slot goes by the agent's view of its silence: a slot
/// whose wall-clock time is an hour old is still refused until the agent
/// has seen it silent for lease-dead.
#[test]
fn a_restarted_agent_calls_unwatched_hosts_unknown_yet_and_guards_their_lease() {
    // A watch long enough to look at the status inside it on a busy machine.
    let conf = common::fast_agent_conf_with(&[("host-alive-timeout-secs", "6")]);
    let host = LiveHost::start_with(&conf);
    let hour_ago = now_unix() - 3600;
    host.publish_peer(2, hour_ago, &[("lease", "none"), ("lease-epoch", "1")]);
    host.publish_peer(3, hour_ago, &[("lease", "held"), ("lease-epoch", "1")]);
    let started = Instant::now();
    let table = |host: &LiveHost| host.he(&["--vm-status", "--format=table"]);
    wait_for("the agent's first status", Duration::from_secs(20), || {
        let ran = table(&host);
        ran.code == Some(0) && !ran.stderr.contains("not answering") && ran.stdout.contains("host3")
    });
    let ran = table(&host);
    let before = started.elapsed();
    if before < Duration::from_secs(5) {
        let mut rows = ran
            .stdout
            .lines()
            .filter(|l| l.contains("host2") || l.contains("host3"));
        assert!(
            rows.all(|l| l.contains("| unknown")) && !ran.stdout.contains("| stale "),
            "{ran:?}"
        );
        assert!(
            ran.stderr
                .contains("has not watched host(s) 2, 3 for host_alive_timeout yet"),
            "{ran:?}"
        );
        let text = host.he(&["--vm-status"]);
        assert!(text.stdout.contains("unknown stale-data"), "{text:?}");
        // The agent has watched host 3 for less than lease-dead (7 s): its
        // hour-old wall clock does not count.
        let ran = host.he(&["--clean-metadata", "--host-id=3"]);
        assert_eq!(ran.code, Some(1), "{ran:?}");
        assert!(
            ran.stderr
                .contains("(as the local agent sees it): by the lease-dead rule")
                && ran.stderr.contains("only after 7 s of silence"),
            "{ran:?}"
        );
    } else {
        eprintln!("the status came {before:?} after the start: the early checks are skipped");
    }
    wait_for("hosts 2 and 3 to go stale", Duration::from_secs(30), || {
        let ran = table(&host);
        ran.stdout.matches("| stale ").count() == 2 && !ran.stdout.contains("unknown yet")
    });
    wait_for(
        "host 3's slot to be cleanable",
        Duration::from_secs(30),
        || host.he(&["--clean-metadata", "--host-id=3"]).code == Some(0),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "cleaned before lease-dead: {:?}",
        started.elapsed()
    );
}

/// Issue 16: `--no-wait` returns once the agent took the request, without
/// waiting for an outcome this agent never shows (its snapshots stand
/// still); without it the same commands wait and fail saying so.
#[test]
fn no_wait_returns_once_the_request_is_taken() {
    let host = Host::deployed();
    let etc = host.path("etc/ovirt-hosted-engine-ha");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("agent.conf"), common::FAST_AGENT_CONF).unwrap();
    let frozen = boottime_ms();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_up = Arc::clone(&up);
    let _agent = FakeAgent::start(&host.runtime(), move |frame| match &frame.request {
        proto::Request::Status { .. } => Ok(proto::Reply::Status(Box::new(snapshot(
            frozen,
            5,
            seen_up.load(std::sync::atomic::Ordering::SeqCst),
        )))),
        proto::Request::VmStart { paused } => Ok(proto::Reply::VmStart { paused: *paused }),
        proto::Request::VmPoweroff => Ok(proto::Reply::VmPoweroff),
        other => panic!("unexpected {other:?}"),
    });
    for (args, vm_up) in [
        (&["--vm-start", "--no-wait"][..], false),
        (&["--vm-start-paused", "--no-wait"], false),
        (&["--vm-poweroff", "--no-wait"], true),
    ] {
        up.store(vm_up, std::sync::atomic::Ordering::SeqCst);
        let begun = Instant::now();
        let ran = host.he(args);
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
            (Some(0), "", ""),
            "{args:?}"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            begun.elapsed()
        );
    }
    let ran = host.he(&["--vm-poweroff"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("the engine VM still runs on this host ")
            && ran
                .stderr
                .contains("after the agent took the vm-poweroff request (agent state"),
        "{ran:?}"
    );
}
