//! Request deadlines on the control socket (issue 13, item 7; `docs/protocol.md`,
//! "Deadlines"): a request read after its deadline is refused, a VM request is
//! answered only once the agent's loop has taken it, and one the loop does not
//! take in time is withdrawn and answered `expired`: never both.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hosted_engine::clock::SystemClock;
use hosted_engine::core::Request as Core;
use hosted_engine::proto::{self, ClientError, ErrorCode, Liveliness, Reply, Request, call};
use hosted_engine::shell::Clock;
use hosted_engine::shell::server::{REQUEST_QUEUE_MAX, Server, ServerLimits, SharedState};
use serde_json::Value;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    state: SharedState,
    _server: Server,
}

fn fixture_with(limits: ServerLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = proto::socket_path(dir.path());
    let state = SharedState::new(
        Box::new(|_| Ok(())),
        Box::new(|| {
            Ok(Liveliness {
                up: true,
                message: "DB Up!".into(),
            })
        }),
    );
    let server = Server::start_with(&path, Arc::new(state.clone()), limits).unwrap();
    Fixture {
        _dir: dir,
        path,
        state,
        _server: server,
    }
}

fn fixture() -> Fixture {
    fixture_with(ServerLimits::default())
}

/// The agent's clock (`CLOCK_BOOTTIME`), the one deadlines are on.
fn boottime_ms() -> u64 {
    SystemClock::new().now().as_millis()
}

/// The agent's loop as the daemon runs it: takes the VM requests every
/// 20 ms and keeps what it took, until dropped.
struct FakeLoop {
    stop: Arc<AtomicBool>,
    taken: Arc<Mutex<Vec<Core>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeLoop {
    fn start(state: &SharedState) -> FakeLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (state, stop, taken) = (state.clone(), Arc::clone(&stop), Arc::clone(&taken));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    taken.lock().unwrap().extend(state.take_requests());
                    thread::sleep(Duration::from_millis(20));
                }
            })
        };
        FakeLoop {
            stop,
            taken,
            thread: Some(thread),
        }
    }

    fn taken(&self) -> Vec<Core> {
        self.taken.lock().unwrap().clone()
    }
}

impl Drop for FakeLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request line sent by hand, its reply line as JSON.
fn exchange(path: &Path, line: &str) -> Value {
    let mut stream = UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

fn until_queued(state: &SharedState) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !state.has_requests() {
        assert!(Instant::now() < give_up, "the request was never queued");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_request_read_after_its_deadline_is_refused_and_never_queued() {
    let f = fixture();
    // As an agent resumed after SIGSTOP finds it: sent 5 s ago, with the
    // caller's deadline long passed.
    let past = boottime_ms() - 5_000;
    let reply = exchange(
        &f.path,
        &format!(
            r#"{{"version":2,"id":21,"deadline-ms":{past},"request":{{"kind":"vm-poweroff"}}}}"#
        ),
    );
    assert_eq!(
        (&reply["version"], &reply["id"], &reply["ok"]),
        (&Value::from(2), &Value::from(21), &Value::from(false)),
        "{reply}"
    );
    assert_eq!(reply["error"]["code"], "expired", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("vm-poweroff: read 5.") && message.ends_with("nothing was done"),
        "{message}"
    );
    assert!(!f.state.has_requests());
    assert!(f.state.take_requests().is_empty());
    // Read-only requests too: nobody waits for the answer.
    let reply = exchange(
        &f.path,
        &format!(
            r#"{{"version":2,"id":22,"deadline-ms":{past},"request":{{"kind":"transitions"}}}}"#
        ),
    );
    assert_eq!(reply["error"]["code"], "expired", "{reply}");
    // A version-1 client knows no `expired`: it gets `busy`, in version 1.
    let reply = exchange(
        &f.path,
        &format!(
            r#"{{"version":1,"id":23,"deadline-ms":{past},"request":{{"kind":"vm-shutdown"}}}}"#
        ),
    );
    assert_eq!(
        (&reply["version"], &reply["error"]["code"]),
        (&Value::from(1), &Value::from("busy")),
        "{reply}"
    );
    assert!(f.state.take_requests().is_empty());
}

#[test]
fn a_vm_request_is_answered_only_once_the_loop_has_taken_it() {
    let f = fixture();
    let caller = {
        let path = f.path.clone();
        thread::spawn(move || call(&path, &Request::VmPoweroff, CALL_TIMEOUT))
    };
    until_queued(&f.state);
    thread::sleep(Duration::from_millis(100));
    assert!(!caller.is_finished(), "answered before the loop took it");
    assert_eq!(f.state.take_requests(), [Core::PowerOffVm]);
    assert_eq!(caller.join().unwrap().unwrap(), Reply::VmPoweroff);
}

#[test]
fn a_vm_request_the_loop_does_not_take_in_time_is_withdrawn() {
    let f = fixture();
    // No loop runs (it is stuck): the call's deadline is 0.75 s away.
    let timeout = Duration::from_millis(1_500);
    let started = Instant::now();
    let result = call(&f.path, &Request::VmShutdown, timeout);
    let took = started.elapsed();
    let Err(ClientError::Remote { code, message }) = result else {
        panic!("{result:?}");
    };
    assert_eq!(code, ErrorCode::Expired);
    assert!(
        message.starts_with("vm-shutdown: ") && message.contains("withdrawn"),
        "{message}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < timeout,
        "{took:?}"
    );
    // The loop, back, finds nothing: the caller was told nothing was done.
    assert!(!f.state.has_requests());
    assert!(f.state.take_requests().is_empty());
}

#[test]
fn an_old_client_without_a_deadline_is_still_served() {
    let f = fixture();
    let agent_loop = FakeLoop::start(&f.state);
    let reply = exchange(
        &f.path,
        r#"{"version":1,"id":31,"request":{"kind":"vm-start","paused":true}}"#,
    );
    assert_eq!(
        (&reply["version"], &reply["ok"], &reply["result"]["kind"]),
        (
            &Value::from(1),
            &Value::from(true),
            &Value::from("vm-start")
        ),
        "{reply}"
    );
    assert_eq!(agent_loop.taken(), [Core::StartVm { paused: true }]);
}

#[test]
fn a_full_request_queue_answers_busy() {
    // More connections than queue places, so that the queue fills first.
    let limits = ServerLimits {
        connections_max: REQUEST_QUEUE_MAX + 4,
        ..ServerLimits::default()
    };
    let f = fixture_with(limits);
    // Each caller tries again while the queue is full (a probe below may
    // hold a place for a moment), so that all of them end up queued.
    let callers: Vec<_> = (0..REQUEST_QUEUE_MAX)
        .map(|_| {
            let path = f.path.clone();
            thread::spawn(move || {
                // Bounded, and far longer than the probes below can hold a
                // place (0.1 s each, one at a time, with pauses between).
                for _ in 0..500 {
                    match call(&path, &Request::VmShutdown, Duration::from_secs(30)) {
                        Err(ClientError::Remote {
                            code: ErrorCode::Busy,
                            ..
                        }) => thread::sleep(Duration::from_millis(20)),
                        other => return other,
                    }
                }
                panic!("the queue never had room");
            })
        })
        .collect();
    // Until the queue is full, a probe is queued and withdrawn at its
    // deadline (0.1 s); once it is full, the probe is refused `busy`.
    let give_up = Instant::now() + Duration::from_secs(15);
    let busy = loop {
        assert!(Instant::now() < give_up, "the queue never filled");
        let deadline = boottime_ms() + 100;
        let reply = exchange(
            &f.path,
            &format!(
                r#"{{"version":2,"id":41,"deadline-ms":{deadline},"request":{{"kind":"vm-poweroff"}}}}"#
            ),
        );
        if reply["error"]["code"] == "busy" {
            break reply;
        }
        assert_eq!(reply["error"]["code"], "expired", "{reply}");
        // Leave the callers room to take the place the probe held.
        thread::sleep(Duration::from_millis(50));
    };
    let message = busy["error"]["message"].as_str().unwrap();
    assert!(message.contains("already wait"), "{message}");
    assert_eq!(
        f.state.take_requests(),
        vec![Core::ShutdownVm; REQUEST_QUEUE_MAX]
    );
    for caller in callers {
        assert_eq!(caller.join().unwrap().unwrap(), Reply::VmShutdown);
    }
    let _agent_loop = FakeLoop::start(&f.state);
    assert_eq!(
        call(&f.path, &Request::VmPoweroff, CALL_TIMEOUT).unwrap(),
        Reply::VmPoweroff
    );
}
