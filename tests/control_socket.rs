//! The agent's control socket against a real Unix socket in a temporary
//! directory: the protocol (`docs/protocol.md`), the server's limits and the
//! blocking client `hosted-engine` uses.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hosted_engine::config::Timings;
use hosted_engine::core::{Agent, CoreConfig, LocalVm, Millis, Observation, Sensors};
use hosted_engine::metadata::{Area, GlobalBlock, decode_host_slot, encode_host_slot};
use hosted_engine::proto::{
    self, ClientError, ErrorCode, Liveliness, MaintenanceMode, Reply, Request, StatusReply,
    Transition, call,
};
use hosted_engine::shell::server::{
    self, Handler, Server, ServerLimits, SharedState, status_snapshot,
};
use serde_json::Value;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The environment variable that turns `child_client` into the client of a
/// test that runs it as another user.
const CHILD_SOCKET_VAR: &str = "HE_CONTROL_SOCKET_CHILD";
/// Set: the child client holds connections instead (`hold_connections`).
const CHILD_HOLD_VAR: &str = "HE_CONTROL_SOCKET_CHILD_HOLD";
/// Connections the holding child tries to open.
const HOLD_TRIES: usize = 10;
/// How long it holds them.
const HOLD_FOR: Duration = Duration::from_secs(2);

/// A server over a [`SharedState`] whose callbacks record what they were asked.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    state: SharedState,
    maintenance: Arc<Mutex<Vec<MaintenanceMode>>>,
    server: Server,
}

fn fixture() -> Fixture {
    fixture_with(ServerLimits::default(), Duration::ZERO)
}

/// The default limits but for the per-user ones, which would make a test that
/// opens many connections depend on whether it runs as root (their own tests
/// set them).
fn any_user(limits: ServerLimits) -> ServerLimits {
    ServerLimits {
        reserved_for_root: 0,
        per_user_max: limits.connections_max,
        ..limits
    }
}

/// `liveliness_delay`: how long each liveliness probe takes.
fn fixture_with(limits: ServerLimits, liveliness_delay: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = proto::socket_path(dir.path());
    let maintenance = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&maintenance);
    let state = SharedState::new(
        Box::new(move |mode| {
            if mode == MaintenanceMode::Local {
                // As the daemon refuses while the engine VM runs here.
                return Err(
                    "Unable to enter local maintenance mode: the engine VM is running \
                            on the current host, please migrate it before entering local \
                            maintenance mode."
                        .into(),
                );
            }
            seen.lock().unwrap().push(mode);
            Ok(())
        }),
        Box::new(move || {
            thread::sleep(liveliness_delay);
            Ok(Liveliness {
                up: true,
                message: "DB Up!Welcome to Health Status!".into(),
            })
        }),
    );
    let handler: Arc<dyn Handler> = Arc::new(state.clone());
    let server = Server::start_with(&path, handler, limits).unwrap();
    Fixture {
        _dir: dir,
        path,
        state,
        maintenance,
        server,
    }
}

fn core_config(id: u16) -> CoreConfig {
    CoreConfig::new(id, format!("host{id}.example.com"), Timings::reference())
}

/// Two real cores publishing into one area for 90 s of their time (longer than
/// `host_alive_timeout`, so each sees the other alive), then host 1's status.
fn cluster_status() -> StatusReply {
    let mut agents = [
        Agent::new(core_config(1), Millis::ZERO),
        Agent::new(core_config(2), Millis::ZERO),
    ];
    let mut area = Area {
        global: Ok(GlobalBlock::new()),
        hosts: BTreeMap::new(),
    };
    let mut score = None;
    let mut now = Millis::ZERO;
    for tick in 0..10u64 {
        now = Millis::from_secs(tick * 10);
        for agent in &mut agents {
            let obs = Observation {
                now,
                wall_unix: 1_773_000_000 + i64::try_from(now.as_secs()).unwrap(),
                utc_offset_secs: 0,
                area: Some(&area),
                local_vm: LocalVm::NotPresent,
                sensors: Sensors::default(),
                local_maintenance: false,
                requests: Vec::new(),
                results: Vec::new(),
                fence: None,
            };
            let decision = agent.step(&obs);
            let id = agent.config().host_id;
            if decision.publish {
                let bytes = encode_host_slot(id, &decision.record, &decision.extra).unwrap();
                let slot = decode_host_slot(id, &bytes[..]).unwrap().unwrap();
                area.hosts.insert(id, Ok(slot));
            }
            // A status fixture: no VM here, nothing for the actions to do.
            let _ = agent.after_publish(now, now, decision.publish);
            if id == 1 {
                score = Some(decision.score);
            }
        }
    }
    status_snapshot(&agents[0], Some(&area), &score.unwrap(), now, 1_773_000_090)
}

/// A raw connection for tests that speak the protocol by hand.
struct Raw {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Raw {
    fn connect(path: &Path) -> Raw {
        let stream = UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn reply_to(&mut self, line: &[u8]) -> Value {
        self.send(line);
        self.reply()
    }

    /// As [`Raw::reply_to`], for a server that may have answered and closed
    /// before reading (`busy`, the end of a connection's life): the write
    /// may fail, the answer is read all the same.
    fn ask(&mut self, line: &[u8]) -> Value {
        let _ = self.writer.write_all(line);
        self.reply()
    }

    /// The next reply line as JSON.
    fn reply(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "no reply line: {line:?}");
        serde_json::from_str(&line).unwrap()
    }

    /// Whether the server closed: end of stream (or a reset) within 5 s.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn error_code(reply: &Value) -> &str {
    assert_eq!(reply["ok"], false, "{reply}");
    reply["error"]["code"].as_str().unwrap()
}

fn remote_code(result: Result<Reply, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Remote { code, .. }) => code,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[test]
fn status_round_trip_carries_the_agents_live_view() {
    let f = fixture();
    let status = cluster_status();
    assert_eq!(status.hosts.len(), 2);
    assert!(status.hosts.iter().all(|h| h.live_data), "{status:?}");
    assert!(status.agent.has_history && status.agent.adopted);
    f.state.update(status.clone());

    let Reply::Status(got) = call(&f.path, &Request::STATUS, CALL_TIMEOUT).unwrap() else {
        panic!("not a status reply");
    };
    assert!(got.age_ms < 2_000, "age {}", got.age_ms);
    let mut expected = status;
    expected.age_ms = got.age_ms;
    assert_eq!(*got, expected);
    assert_eq!(got.agent.host_id, 1);
    assert_eq!(got.hosts[1].hostname, "host2.example.com");
    assert!(
        got.hosts[1].extra.contains("state="),
        "{}",
        got.hosts[1].extra
    );

    // The wire names are the documented ones: the reference's where it has
    // them (section 7), kebab-case for ours.
    let mut raw = Raw::connect(&f.path);
    // Each reply in its request's version: 1 (old clients) and 2.
    raw.send(b"{\"version\":1,\"id\":41,\"request\":{\"kind\":\"status\"}}\n");
    let reply = raw.reply();
    assert_eq!(
        (reply["version"].as_u64(), reply["id"].as_u64()),
        (Some(1), Some(41))
    );
    raw.send(b"{\"version\":2,\"id\":42,\"request\":{\"kind\":\"status\"}}\n");
    let reply = raw.reply();
    assert_eq!(
        (reply["version"].as_u64(), reply["id"].as_u64()),
        (Some(2), Some(42))
    );
    assert_eq!(reply["ok"], true);
    let result = &reply["result"];
    assert_eq!(result["kind"], "status");
    assert_eq!(result["global_maintenance"], false);
    assert!(result["taken"]["monotonic-ms"].is_u64());
    assert!(result["agent"]["score"]["penalties"].is_array());
    assert!(result["agent"]["lease"]["phase"].is_string());
    let host: Vec<&str> = result["hosts"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        host[..12],
        [
            "host-id",
            "host-ts",
            "score",
            "engine-status",
            "hostname",
            "maintenance",
            "stopped",
            "crc32",
            "conf_on_shared_storage",
            "local_conf_timestamp",
            "extra",
            "live-data",
        ]
    );
    assert!(result["hosts"][0]["engine-status"]["vm"].is_string());
}

#[test]
fn status_before_the_first_loop_is_busy() {
    let f = fixture();
    assert_eq!(
        remote_code(call(&f.path, &Request::STATUS, CALL_TIMEOUT)),
        ErrorCode::Busy
    );
}

#[test]
fn several_clients_are_served_at_once() {
    // Each liveliness probe takes 400 ms: served one after another, eight
    // would take 3.2 s.
    let f = fixture_with(
        any_user(ServerLimits::default()),
        Duration::from_millis(400),
    );
    f.state.update(cluster_status());
    let started = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let path = f.path.clone();
            thread::spawn(move || call(&path, &Request::CheckLiveliness, CALL_TIMEOUT))
        })
        .collect();
    // Status calls meanwhile are answered at once, on their own connections.
    for _ in 0..20 {
        let reply = call(&f.path, &Request::STATUS, CALL_TIMEOUT).unwrap();
        assert_eq!(reply.kind(), "status");
    }
    assert!(started.elapsed() < Duration::from_millis(400));
    for client in clients {
        let Reply::CheckLiveliness(l) = client.join().unwrap().unwrap() else {
            panic!("not a liveliness reply");
        };
        assert!(l.up);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1_600),
        "clients were served one by one: {:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_requests_get_bad_request_and_the_server_keeps_serving() {
    let f = fixture();
    f.state.update(cluster_status());
    let mut raw = Raw::connect(&f.path);
    for bad in [
        &b"{this is not json\n"[..],
        b"[1,2,3]\n",
        b"{\"version\":1,\"id\":5}\n",
        b"{\"version\":1,\"id\":6,\"request\":{\"kind\":\"reboot-everything\"}}\n",
        b"{\"version\":1,\"id\":7,\"request\":{\"kind\":\"set-maintenance\",\"mode\":\"sideways\"}}\n",
        b"\xff\xfe\n",
    ] {
        let reply = raw.reply_to(bad);
        assert_eq!(error_code(&reply), "bad-request", "{reply}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    // The ids that could be read are echoed.
    let reply = raw.reply_to(b"{\"version\":1,\"id\":6,\"request\":{\"kind\":\"nope\"}}\n");
    assert_eq!(reply["id"], 6);
    // The same connection, then a new one, still work.
    let reply = raw.reply_to(b"{\"version\":1,\"id\":8,\"request\":{\"kind\":\"status\"}}\n");
    assert_eq!(
        (reply["ok"].as_bool(), reply["id"].as_u64()),
        (Some(true), Some(8))
    );
    assert!(call(&f.path, &Request::STATUS, CALL_TIMEOUT).is_ok());
}

#[test]
fn an_oversized_request_gets_an_error_and_the_connection_closes() {
    let f = fixture();
    f.state.update(cluster_status());
    let mut raw = Raw::connect(&f.path);
    let mut line = vec![b'x'; proto::REQUEST_LINE_MAX_BYTES + 10];
    line.push(b'\n');
    // The server may close before taking all of it; the reply is what counts.
    let _ = raw.writer.write_all(&line);
    let reply = raw.reply();
    assert_eq!(error_code(&reply), "bad-request");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("longer than 65536 bytes"), "{message}");
    assert!(raw.closed(), "the connection must be closed");
    // A line of exactly the limit is read (and rejected only as bad JSON).
    let mut raw = Raw::connect(&f.path);
    let mut line = vec![b' '; proto::REQUEST_LINE_MAX_BYTES];
    line.push(b'x');
    line.remove(0);
    line.push(b'\n');
    let reply = raw.reply_to(&line);
    assert_eq!(error_code(&reply), "bad-request");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert!(call(&f.path, &Request::STATUS, CALL_TIMEOUT).is_ok());
}

#[test]
fn an_unsupported_version_names_the_supported_one() {
    let f = fixture();
    f.state.update(cluster_status());
    let mut raw = Raw::connect(&f.path);
    let reply = raw.reply_to(b"{\"version\":3,\"id\":11,\"request\":{\"kind\":\"status\"}}\n");
    assert_eq!(error_code(&reply), "unsupported-version");
    // In the oldest version, which every client reads.
    assert_eq!(
        (reply["version"].as_u64(), reply["id"].as_u64()),
        (Some(1), Some(11))
    );
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("version 3") && message.contains("versions 1 to 2"),
        "{message}"
    );
}

#[test]
fn mutating_requests_from_root_are_queued_and_maintenance_is_set() {
    let f = fixture();
    // The agent's loop, taking requests every 20 ms: a VM request is
    // answered once the loop has it.
    let taken = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let agent_loop = {
        let (state, taken, stop) = (f.state.clone(), Arc::clone(&taken), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                taken.lock().unwrap().extend(state.take_requests());
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    for request in [
        Request::VmStart { paused: true },
        Request::VmShutdown,
        Request::VmPoweroff,
    ] {
        let reply = call(&f.path, &request, CALL_TIMEOUT).unwrap();
        assert_eq!(reply.kind(), request.kind());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    agent_loop.join().unwrap();
    use hosted_engine::core::Request as Core;
    assert_eq!(
        *taken.lock().unwrap(),
        [
            Core::StartVm { paused: true },
            Core::ShutdownVm,
            Core::PowerOffVm
        ]
    );
    let global = Request::SetMaintenance {
        mode: MaintenanceMode::Global,
    };
    assert_eq!(
        call(&f.path, &global, CALL_TIMEOUT).unwrap(),
        Reply::SetMaintenance {
            mode: MaintenanceMode::Global
        }
    );
    assert_eq!(*f.maintenance.lock().unwrap(), [MaintenanceMode::Global]);
    // A refusal comes back as `failed` with the daemon's words.
    let local = Request::SetMaintenance {
        mode: MaintenanceMode::Local,
    };
    match call(&f.path, &local, CALL_TIMEOUT) {
        Err(ClientError::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::Failed);
            assert!(message.starts_with("Unable to enter local maintenance mode"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_credential_check_forbids_mutation_to_other_users() {
    for request in [
        Request::VmStart { paused: false },
        Request::VmShutdown,
        Request::VmPoweroff,
        Request::SetMaintenance {
            mode: MaintenanceMode::None,
        },
    ] {
        assert!(server::authorize(&request, Some(0)).is_ok());
        let e = server::authorize(&request, Some(65534)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert_eq!(
            server::authorize(&request, None).unwrap_err().code,
            ErrorCode::Forbidden
        );
    }
    assert!(server::authorize(&Request::STATUS, Some(65534)).is_ok());
    // The credentials the server sees are the connecting process's.
    let f = fixture();
    let stream = UnixStream::connect(&f.path).unwrap();
    let cred = server::peer_credentials(&stream).unwrap();
    // SAFETY: getuid has no preconditions.
    assert_eq!(cred.uid, unsafe { libc::getuid() });
    assert_eq!(u32::try_from(cred.pid).unwrap(), std::process::id());
}

/// Not a test: the client half of `a_non_root_client_may_read_but_not_mutate`,
/// run in a child process as uid 65534. Without its variable it does nothing.
#[test]
#[ignore = "helper run by a_non_root_client_may_read_but_not_mutate"]
fn child_client() {
    let Some(socket) = std::env::var_os(CHILD_SOCKET_VAR) else {
        return;
    };
    let socket = PathBuf::from(socket);
    // SAFETY: getuid has no preconditions.
    println!("RESULT uid={}", unsafe { libc::getuid() });
    if std::env::var_os(CHILD_HOLD_VAR).is_some() {
        hold_connections(&socket);
        return;
    }
    for request in [Request::VmPoweroff, Request::STATUS] {
        let outcome = match call(&socket, &request, CALL_TIMEOUT) {
            Ok(reply) => format!("ok:{}", reply.kind()),
            Err(ClientError::Remote { code, .. }) => code.as_str().to_owned(),
            Err(e) => format!("error:{e}"),
        };
        println!("RESULT {}={outcome}", request.kind());
    }
}

/// The hold mode of `child_client`: opens [`HOLD_TRIES`] connections, asks
/// each for the status (busy or served), then holds them for [`HOLD_FOR`].
fn hold_connections(socket: &Path) {
    let mut held = Vec::new();
    let mut busy = 0;
    for _ in 0..HOLD_TRIES {
        let mut raw = Raw::connect(socket);
        let reply = raw.ask(b"{\"version\":1,\"id\":1,\"request\":{\"kind\":\"status\"}}\n");
        if reply["error"]["code"] == "busy" {
            busy += 1;
        } else {
            held.push(raw);
        }
    }
    println!("RESULT held={} busy={busy}", held.len());
    thread::sleep(HOLD_FOR);
}

/// Runs `child_client` as uid 65534 against `f`'s socket (in hold mode with
/// `hold`), starting it and returning it.
fn spawn_nobody_client(f: &Fixture, hold: bool) -> std::process::Child {
    // The socket's directory must let the group through.
    let dir = f.path.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)).unwrap();
    let mut child = common::as_nobody(dir, "child_client");
    child.env(CHILD_SOCKET_VAR, &f.path);
    if hold {
        child.env(CHILD_HOLD_VAR, "1");
    }
    child.spawn().expect("running the test binary as uid 65534")
}

/// The `RESULT` lines of a finished child client.
fn child_results(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(str::to_owned)
        .collect();
    assert!(
        !results.is_empty(),
        "child output:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

fn running_as_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    common::require(what, unsafe { libc::geteuid() } == 0)
}

#[test]
fn a_non_root_client_may_read_but_not_mutate() {
    if !running_as_root("root (to run a client as uid 65534)") {
        return;
    }
    let f = fixture();
    f.state.update(cluster_status());
    let results = child_results(spawn_nobody_client(&f, false));
    assert_eq!(
        results,
        ["uid=65534", "vm-poweroff=forbidden", "status=ok:status"]
    );
    assert!(
        f.state.take_requests().is_empty(),
        "a forbidden request was queued"
    );
}

/// Issue 14: a full volume's status (2,000 hosts, each with 3,584 bytes of
/// extra text that JSON escapes six-fold, some slots unreadable) never makes a
/// reply over the 4 MiB line limit: it comes in pages (`more-from`), and
/// `proto::status`, which `hosted-engine --vm-status` uses, puts them back
/// together, every host once and in order.
#[test]
fn a_full_volume_status_comes_in_pages_that_fit_the_reply_limit() {
    let f = fixture();
    let mut big = cluster_status();
    let template = big.hosts[0].clone();
    let extra: String = "\u{1}".repeat(hosted_engine::metadata::EXTRA_SIZE);
    big.hosts = (1..=2000u16)
        .filter(|id| id % 100 != 7)
        .map(|id| proto::HostStatus {
            host_id: id,
            extra: extra.clone(),
            ..template.clone()
        })
        .collect();
    big.unreadable = (1..=2000u16)
        .filter(|id| id % 100 == 7)
        .map(|id| proto::UnreadableSlot {
            host_id: id,
            error: format!("bad checksum in slot {id}"),
        })
        .collect();
    f.state.update(big.clone());
    let Reply::Status(first) = call(&f.path, &Request::STATUS, CALL_TIMEOUT).unwrap() else {
        panic!("not a status reply");
    };
    let next = first.more_from.expect("a first page, not the whole view");
    assert!(first.hosts.len() < big.hosts.len());
    assert_eq!(first.hosts.last().map(|h| h.host_id < next), Some(true));
    let whole = proto::status(&f.path, Duration::from_secs(30)).unwrap();
    assert_eq!(whole.more_from, None);
    assert_eq!(whole.hosts.len(), big.hosts.len());
    assert!(whole.hosts.iter().zip(&big.hosts).all(|(a, b)| a == b));
    assert_eq!(whole.unreadable, big.unreadable);
    // Unreadable slots count too: 2,000 of them, each error 3 KB that JSON
    // escapes six-fold.
    let mut broken = cluster_status();
    broken.hosts.clear();
    broken.unreadable = (1..=2000u16)
        .map(|id| proto::UnreadableSlot {
            host_id: id,
            error: "\u{1}".repeat(3000),
        })
        .collect();
    f.state.update(broken.clone());
    let whole = proto::status(&f.path, Duration::from_secs(30)).unwrap();
    assert_eq!(whole.unreadable, broken.unreadable);
    // A small view is one page, as before.
    f.state.update(cluster_status());
    let Reply::Status(small) = call(&f.path, &Request::STATUS, CALL_TIMEOUT).unwrap() else {
        panic!("not a status reply");
    };
    assert_eq!(small.more_from, None);
}

/// Issue 14: another user holding every connection it can get does not lock
/// root out: it gets no more than the slots not kept for root (and no more
/// than its own share), and root's requests are still served meanwhile.
#[test]
fn another_user_holding_connections_does_not_lock_root_out() {
    if !running_as_root("root (to run a client as uid 65534)") {
        return;
    }
    for (per_user_max, held) in [(10, 4), (3, 3)] {
        let limits = ServerLimits {
            connections_max: 6,
            reserved_for_root: 2,
            per_user_max,
            ..ServerLimits::default()
        };
        let f = fixture_with(limits, Duration::ZERO);
        f.state.update(cluster_status());
        let child = spawn_nobody_client(&f, true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while f.server.connections() < held && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(f.server.connections(), held);
        for _ in 0..2 {
            let reply = call(&f.path, &Request::STATUS, CALL_TIMEOUT).unwrap();
            assert_eq!(reply.kind(), "status");
        }
        let _root_held = [Raw::connect(&f.path), Raw::connect(&f.path)];
        let results = child_results(child);
        assert_eq!(
            results,
            [
                "uid=65534".to_owned(),
                format!("held={held} busy={}", HOLD_TRIES - held)
            ]
        );
    }
}

/// A connection is served for a bounded time, however busy its client keeps
/// it: then it gets a `timeout` error naming the limit and is closed.
#[test]
fn a_connection_is_closed_at_the_end_of_its_life() {
    let limits = ServerLimits {
        connection_life_max: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let f = fixture_with(limits, Duration::ZERO);
    f.state.update(cluster_status());
    let mut raw = Raw::connect(&f.path);
    let started = Instant::now();
    let ended = loop {
        let reply = raw.ask(b"{\"version\":1,\"id\":2,\"request\":{\"kind\":\"status\"}}\n");
        if reply["error"].is_object() {
            break reply;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(error_code(&ended), "timeout");
    let message = ended["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("connection open for 1 s"), "{ended}");
    assert!(raw.closed());
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn the_client_times_out_on_a_socket_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // Accepts and keeps every connection, never answering.
    let _acceptor = thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = call(&path, &Request::STATUS, timeout);
    let took = started.elapsed();
    assert!(
        matches!(&result, Err(ClientError::Timeout { .. })),
        "{result:?}"
    );
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(1),
        "{took:?}"
    );
    let message = result.unwrap_err().to_string();
    assert!(
        message.ends_with("silent.sock: no answer within 1 s"),
        "{message}"
    );
}

#[test]
fn the_client_times_out_on_a_listener_whose_backlog_is_full() {
    // A hung agent that does not even accept: with a backlog of 0, Linux
    // queues one connection; the next connect would block without a bound.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hung.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // SAFETY: listen(2) on our own listening socket.
    assert_eq!(
        unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 0) },
        0
    );
    let timeout = Duration::from_millis(300);
    for _ in 0..4 {
        let started = Instant::now();
        let result = call(&path, &Request::STATUS, timeout);
        assert!(
            matches!(result, Err(ClientError::Timeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < timeout + Duration::from_secs(1));
    }
}

#[test]
fn no_socket_means_the_agent_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let result = call(&path, &Request::STATUS, CALL_TIMEOUT);
    let Err(e @ ClientError::NotRunning { .. }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no such file or directory (is ovirt-ha-agent running?)",
            path.display()
        )
    );
    // A socket file nobody listens on any more.
    drop(UnixListener::bind(&path).unwrap());
    let e = call(&path, &Request::STATUS, CALL_TIMEOUT).unwrap_err();
    assert!(matches!(e, ClientError::NotRunning { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(": connection refused (is ovirt-ha-agent running?)")
    );
}

#[test]
fn start_removes_a_stale_socket_but_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let handler = || -> Arc<dyn Handler> {
        Arc::new(SharedState::new(
            Box::new(|_| Ok(())),
            Box::new(|| Err("no fqdn configured".into())),
        ))
    };
    // Stale: left behind by a dead agent.
    drop(UnixListener::bind(&path).unwrap());
    let server = Server::start(&path, handler()).unwrap();
    match call(&path, &Request::CheckLiveliness, CALL_TIMEOUT) {
        Err(ClientError::Remote { code, message }) => {
            assert_eq!(
                (code, message.as_str()),
                (ErrorCode::Failed, "no fqdn configured")
            );
        }
        other => panic!("{other:?}"),
    }
    // Live: a second agent must not steal it.
    let e = Server::start(&path, handler()).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(call(&path, &Request::Transitions { limit: None }, CALL_TIMEOUT).is_ok());
    drop(server);
    // Not a socket: left alone.
    std::fs::write(&path, "precious").unwrap();
    let e = Server::start(&path, handler()).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn the_socket_is_0660_and_drop_closes_and_removes_it() {
    let f = fixture();
    let mode = std::fs::metadata(&f.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o660, "mode {mode:o}");
    let mut idle = Raw::connect(&f.path);
    let deadline = Instant::now() + Duration::from_secs(2);
    while f.server.connections() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(f.server.connections(), 1);
    let path = f.path.clone();
    let started = Instant::now();
    drop(f.server);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!path.exists(), "socket file left behind");
    assert!(idle.closed(), "an idle connection must be closed by drop");
}

#[test]
fn clients_beyond_the_connection_limit_get_busy() {
    let limits = any_user(ServerLimits {
        connections_max: 2,
        ..ServerLimits::default()
    });
    let f = fixture_with(limits, Duration::ZERO);
    f.state.update(cluster_status());
    let _held = [Raw::connect(&f.path), Raw::connect(&f.path)];
    let deadline = Instant::now() + Duration::from_secs(2);
    while f.server.connections() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        remote_code(call(&f.path, &Request::STATUS, CALL_TIMEOUT)),
        ErrorCode::Busy
    );
    drop(_held);
    let deadline = Instant::now() + Duration::from_secs(2);
    while f.server.connections() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(call(&f.path, &Request::STATUS, CALL_TIMEOUT).is_ok());
}

#[test]
fn a_client_that_sends_nothing_is_timed_out() {
    let limits = ServerLimits {
        request_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let f = fixture_with(limits, Duration::ZERO);
    let mut raw = Raw::connect(&f.path);
    raw.send(b"{\"version\":1,");
    let started = Instant::now();
    let reply = raw.reply();
    assert_eq!(error_code(&reply), "timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(raw.closed());
}

#[test]
fn transitions_come_back_oldest_first_and_bounded() {
    let f = fixture();
    for (i, (from, to)) in [
        ("StartState", "ReinitializeFSM"),
        ("ReinitializeFSM", "EngineDown"),
        ("EngineDown", "EngineStart"),
    ]
    .into_iter()
    .enumerate()
    {
        f.state.push_transition(Transition {
            from: from.into(),
            to: to.into(),
            monotonic_ms: 1_000 * i as u64,
            wall_unix: 1_773_000_000,
        });
    }
    let Reply::Transitions { transitions } = call(
        &f.path,
        &Request::Transitions { limit: Some(2) },
        CALL_TIMEOUT,
    )
    .unwrap() else {
        panic!("not transitions");
    };
    let names: Vec<_> = transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(names, ["EngineDown", "EngineStart"]);
    let Reply::Transitions { transitions } = call(
        &f.path,
        &Request::Transitions {
            limit: Some(u32::MAX),
        },
        CALL_TIMEOUT,
    )
    .unwrap() else {
        panic!("not transitions");
    };
    assert_eq!(transitions.len(), 3);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let f = fixture();
    let mut raw = Raw::connect(&f.path);
    raw.send(
        b"{\"version\":1,\"id\":1,\"request\":{\"kind\":\"transitions\"}}\n\n\
          {\"version\":1,\"id\":2,\"request\":{\"kind\":\"check-liveliness\"}}\n",
    );
    let first = raw.reply();
    let second = raw.reply();
    assert_eq!(
        (first["id"].as_u64(), second["id"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(second["result"]["up"], true);
}

/// A fake agent that answers every request line with `reply` (with `{id}`
/// replaced by the request's id).
fn fake_agent(path: &Path, reply: &'static str) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let request: Value = serde_json::from_str(&line).unwrap();
            let answer = reply.replace("{id}", &request["id"].to_string());
            let _ = (&stream).write_all(answer.as_bytes());
        }
    });
}

#[test]
fn answers_that_break_the_protocol_are_protocol_errors() {
    let cases = [
        (
            "{\"version\":3,\"id\":{id},\"ok\":true,\"result\":{}}\n",
            "version 3",
        ),
        // A version-1 agent cannot have taken a version-2 request.
        (
            "{\"version\":1,\"id\":{id},\"ok\":true,\"result\":{\"kind\":\"vm-shutdown\"}}\n",
            "version 1",
        ),
        (
            "{\"version\":2,\"id\":999999,\"ok\":true,\"result\":{\"kind\":\"vm-shutdown\"}}\n",
            "reply to request 999999",
        ),
        (
            "{\"version\":2,\"id\":{id},\"ok\":true,\"result\":{\"kind\":\"vm-poweroff\"}}\n",
            "vm-poweroff reply to a vm-shutdown request",
        ),
        ("{\"version\":2,\"id\":{id},\"ok\":true}\n", "result"),
        ("not json\n", "not JSON"),
        ("", "closed the connection"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (reply, wanted)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("fake{i}.sock"));
        fake_agent(&path, reply);
        match call(&path, &Request::VmShutdown, CALL_TIMEOUT) {
            Err(e @ ClientError::Protocol { .. }) => {
                assert!(e.to_string().contains(wanted), "{e} (wanted {wanted:?})");
            }
            other => panic!("{reply:?}: {other:?}"),
        }
    }
}
