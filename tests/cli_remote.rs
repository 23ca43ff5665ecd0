//! `hosted-engine --remote`'s SSH transport (`cli::remote`) against a real
//! `sshd` on loopback: output and exit codes, argv quoting, every host key
//! verdict (known, hashed, unknown, accept-new, changed, other type), key and
//! agent authentication, and every wait bounded (refused port, a server that
//! never speaks, one that drips or streams bytes forever, a command that
//! outlives the timeout).
//!
//! Each test starts its own `sshd` (root only: it logs users in) with its own
//! host keys and `authorized_keys` in a temporary directory; without root or
//! sshd the test says it skips, and fails under `HE_REQUIRE_PRIVILEGED=1` (CI).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hosted_engine::cli::remote::{
    HostKeyPolicy, Options, Output, RemoteError, Step, Target, run, shell_quote,
};

const SSHD: &str = "/usr/sbin/sshd";
const SSHD_START_ATTEMPTS: usize = 5;
const READY_POLLS: usize = 200;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether an sshd can be started here (see [`common::require`]).
fn sshd_available() -> bool {
    common::require("root (to run sshd on loopback)", root())
        && common::require(
            "/usr/sbin/sshd and ssh-keygen (apt-get install openssh-server)",
            Path::new(SSHD).is_file() && in_path("ssh-keygen"),
        )
}

fn args(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs a program that must succeed; returns its stdout.
fn must(program: &str, argv: &[&str]) -> String {
    let out = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh key pair without passphrase at `path` (and `path.pub`).
fn keygen(path: &Path, kind: &str) {
    let mut argv = vec!["-q", "-t", kind, "-N", "", "-C", "test", "-f"];
    argv.push(path.to_str().unwrap());
    if kind == "rsa" {
        argv.extend(["-b", "2048"]);
    }
    must("ssh-keygen", &argv);
}

/// `type base64` of a public key file (the comment dropped).
fn public_key(path: &Path) -> String {
    let text = fs::read_to_string(path.with_extension("pub")).unwrap();
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    fields.join(" ")
}

/// `SHA256:...` of a public key, as `ssh-keygen -l` prints it.
fn fingerprint(path: &Path) -> String {
    let pub_path = path.with_extension("pub");
    let line = must("ssh-keygen", &["-l", "-f", pub_path.to_str().unwrap()]);
    line.split_whitespace().nth(1).unwrap().to_owned()
}

/// An sshd on 127.0.0.1 with an Ed25519 and an ECDSA host key, accepting the
/// client key `client` for root; killed when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Sshd {
    fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        for (name, kind) in [("host_ed25519", "ed25519"), ("host_ecdsa", "ecdsa")] {
            keygen(&dir.path().join(name), kind);
        }
        keygen(&dir.path().join("client"), "ed25519");
        keygen(&dir.path().join("stranger"), "ed25519");
        let client = fs::read_to_string(dir.path().join("client.pub")).unwrap();
        fs::write(dir.path().join("authorized_keys"), client).unwrap();
        // sshd's privilege separation directory (a fresh container lacks it).
        fs::create_dir_all("/run/sshd").unwrap();
        let mut last_log = String::new();
        for _ in 0..SSHD_START_ATTEMPTS {
            let port = common::free_port();
            let mut child = spawn_sshd(dir.path(), port);
            if wait_listening(&mut child, dir.path(), port) {
                return Sshd { dir, port, child };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default();
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn target(&self) -> Target {
        Target::new("root", "127.0.0.1", self.port).unwrap()
    }

    /// A known hosts file holding the given host keys of this server, as
    /// `[127.0.0.1]:port type base64`.
    fn known_hosts(&self, name: &str, keys: &[&str]) -> PathBuf {
        let mut text = String::from("# written by the test\n");
        for key in keys {
            let line = format!(
                "[127.0.0.1]:{} {}\n",
                self.port,
                public_key(&self.path(key))
            );
            text.push_str(&line);
        }
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// Options that trust the Ed25519 host key and log in with the client key.
    fn options(&self) -> Options {
        Options {
            identity: Some(self.path("client")),
            known_hosts: Some(self.known_hosts("known_hosts", &["host_ed25519"])),
            host_key_policy: HostKeyPolicy::Strict,
            agent_socket: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            output_max_bytes: 16 * 1024 * 1024,
        }
    }

    fn run(&self, options: &Options, argv: &[&str]) -> Result<Output, RemoteError> {
        run(&self.target(), options, &args(argv))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sshd(dir: &Path, port: u16) -> Child {
    let d = dir.display();
    let config = format!(
        "ListenAddress 127.0.0.1\n\
         HostKey {d}/host_ed25519\n\
         HostKey {d}/host_ecdsa\n\
         PidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         StrictModes no\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         LogLevel VERBOSE\n"
    );
    let config_path = dir.join("sshd_config");
    fs::write(&config_path, config).unwrap();
    let log = fs::File::create(dir.join("sshd.log")).unwrap();
    Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config_path)
        .args(["-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("sshd starts")
}

/// Whether our sshd listens on `port`: it wrote its pid file (after binding)
/// and the port answers. False once it exited (e.g. the port was taken by
/// another test's sshd, which must not be mistaken for ours).
fn wait_listening(child: &mut Child, dir: &Path, port: u16) -> bool {
    let pid = child.id().to_string();
    for _ in 0..READY_POLLS {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let written = fs::read_to_string(dir.join("sshd.pid")).unwrap_or_default();
        if written.trim() == pid && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Asserts the error's variant (by `matches`) and shows sshd's log if not.
fn expect_err(sshd: &Sshd, result: Result<Output, RemoteError>, want: &str) -> RemoteError {
    match result {
        Ok(out) => panic!("expected {want}, got {out:?}\nsshd log:\n{}", sshd.log()),
        Err(e) => e,
    }
}

fn ok(sshd: &Sshd, result: Result<Output, RemoteError>) -> Output {
    result.unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()))
}

#[test]
fn runs_a_command_and_returns_stdout_stderr_and_the_exit_code() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let out = ok(
        &sshd,
        sshd.run(
            &sshd.options(),
            &["sh", "-c", "echo out; echo err >&2; exit 0"],
        ),
    );
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.signal, None);
    // stdin is empty, not a wait.
    let out = ok(&sshd, sshd.run(&sshd.options(), &["cat"]));
    assert_eq!((out.stdout.len(), out.exit_code), (0, 0));
}

#[test]
fn exit_codes_and_signals_are_passed_through() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let options = sshd.options();
    for code in [1, 2, 3, 126, 128, 255] {
        let out = ok(
            &sshd,
            sshd.run(&options, &["sh", "-c", &format!("exit {code}")]),
        );
        assert_eq!(out.exit_code, code);
    }
    let out = ok(&sshd, sshd.run(&options, &["sh", "-c", "kill -TERM $$"]));
    assert_eq!((out.exit_code, out.signal.as_deref()), (143, Some("TERM")));
}

#[test]
fn a_missing_remote_command_is_a_clear_error() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let e = expect_err(
        &sshd,
        sshd.run(&sshd.options(), &["no-such-command-x"]),
        "not found",
    );
    let message = e.to_string();
    assert!(
        matches!(e, RemoteError::CommandNotFound { .. }),
        "{message}"
    );
    assert!(
        message.contains("no-such-command-x: command not found on the remote host"),
        "{message}"
    );
}

#[test]
fn argv_survives_the_remote_shell() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let tricky = [
        "two words",
        "it's",
        "\"double\"",
        "$HOME",
        "${PATH}",
        "a;echo pwned",
        "`id`",
        "$(id)",
        "*",
        "~",
        "",
        "back\\slash",
        "line\nbreak",
        "A=b",
        "-n",
        "| cat",
        "&",
        "#",
    ];
    let mut argv = vec!["printf", "%s\\0"];
    argv.extend(tricky);
    let out = ok(&sshd, sshd.run(&sshd.options(), &argv));
    let want: Vec<u8> = tricky
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&want)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What was sent is also what a local shell makes of it.
    assert!(
        shell_quote(&args(&argv))
            .unwrap()
            .contains("'a;echo pwned'")
    );
}

#[test]
fn a_hashed_known_hosts_entry_is_accepted() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let options = sshd.options();
    let known_hosts = options.known_hosts.clone().unwrap();
    must("ssh-keygen", &["-H", "-f", known_hosts.to_str().unwrap()]);
    let text = fs::read_to_string(&known_hosts).unwrap();
    assert!(
        text.contains("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert_eq!(ok(&sshd, sshd.run(&options, &["true"])).exit_code, 0);
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    // A file that knows other hosts only, and a file that does not exist.
    let other = fs::read_to_string(sshd.path("host_ed25519.pub")).unwrap();
    fs::write(sshd.path("others"), format!("[127.0.0.2]:22 {other}")).unwrap();
    for file in ["others", "absent"] {
        options.known_hosts = Some(sshd.path(file));
        let e = expect_err(&sshd, sshd.run(&options, &["true"]), "unknown host key");
        let message = e.to_string();
        let RemoteError::UnknownHostKey { key, .. } = &e else {
            panic!("{message}");
        };
        let file = if key.key_type == "ssh-ed25519" {
            "host_ed25519"
        } else {
            "host_ecdsa"
        };
        assert_eq!(key.fingerprint, fingerprint(&sshd.path(file)), "{message}");
        assert!(message.contains(&key.to_string()), "{message}");
        assert!(
            message.contains("StrictHostKeyChecking=accept-new"),
            "{message}"
        );
    }
    assert!(
        !sshd.path("absent").exists(),
        "strict mode wrote a known hosts file"
    );
}

#[test]
fn accept_new_adds_an_unknown_key_and_strict_passes_afterwards() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    let known_hosts = sshd.path("new/.ssh/known_hosts");
    options.known_hosts = Some(known_hosts.clone());
    options.host_key_policy = HostKeyPolicy::AcceptNew;
    assert_eq!(ok(&sshd, sshd.run(&options, &["true"])).exit_code, 0);
    let text = fs::read_to_string(&known_hosts).unwrap();
    let prefix = format!("[127.0.0.1]:{} ", sshd.port);
    let added: Vec<&str> = text.lines().collect();
    assert_eq!(added.len(), 1, "{text}");
    let key = added[0]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{text}"));
    let on_host = [
        public_key(&sshd.path("host_ed25519")),
        public_key(&sshd.path("host_ecdsa")),
    ];
    assert!(
        on_host.iter().any(|k| k == key),
        "{key} is none of {on_host:?}"
    );
    options.host_key_policy = HostKeyPolicy::Strict;
    assert_eq!(ok(&sshd, sshd.run(&options, &["true"])).exit_code, 0);
    assert_eq!(
        fs::read_to_string(&known_hosts).unwrap(),
        text,
        "a known key is not re-added"
    );
}

#[test]
fn accept_new_keeps_a_last_line_without_newline_intact() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    let path = sshd.path("no_newline");
    fs::write(
        &path,
        "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyXX",
    )
    .unwrap();
    options.known_hosts = Some(path.clone());
    options.host_key_policy = HostKeyPolicy::AcceptNew;
    ok(&sshd, sshd.run(&options, &["true"]));
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("OtherKeyXX") && lines[1].starts_with("[127.0.0.1]:"));
}

#[test]
fn a_changed_host_key_is_refused_even_with_accept_new() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    keygen(&sshd.path("impostor"), "ed25519");
    let mut options = sshd.options();
    let known_hosts = sshd.known_hosts("changed", &["impostor"]);
    let before = fs::read_to_string(&known_hosts).unwrap();
    options.known_hosts = Some(known_hosts.clone());
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        options.host_key_policy = policy;
        let e = expect_err(&sshd, sshd.run(&options, &["true"]), "changed host key");
        let message = e.to_string();
        assert!(
            matches!(e, RemoteError::HostKeyChanged { .. }),
            "{policy:?}: {message}"
        );
        assert!(message.contains("HOST KEY CHANGED"), "{message}");
        assert!(
            message.contains(&fingerprint(&sshd.path("host_ed25519"))),
            "{message}"
        );
        let remove = format!("ssh-keygen -R '[127.0.0.1]:{}'", sshd.port);
        assert!(message.contains(&remove), "{message}");
    }
    assert_eq!(fs::read_to_string(&known_hosts).unwrap(), before);
}

#[test]
fn the_server_is_asked_for_the_key_type_known_for_it() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    // Known by ECDSA only: without asking for ECDSA first, the server's
    // Ed25519 key would look unknown.
    options.known_hosts = Some(sshd.known_hosts("ecdsa_only", &["host_ecdsa"]));
    assert_eq!(ok(&sshd, sshd.run(&options, &["true"])).exit_code, 0);
}

#[test]
fn a_host_known_only_by_a_key_type_it_lacks_is_refused() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    keygen(&sshd.path("old_rsa"), "rsa");
    let mut options = sshd.options();
    options.known_hosts = Some(sshd.known_hosts("rsa_only", &["old_rsa"]));
    options.host_key_policy = HostKeyPolicy::AcceptNew;
    let e = expect_err(&sshd, sshd.run(&options, &["true"]), "other key type");
    let message = e.to_string();
    let RemoteError::HostKeyTypeUnknown { known_types, .. } = &e else {
        panic!("{message}");
    };
    assert_eq!(known_types, &["ssh-rsa".to_owned()], "{message}");
}

#[test]
fn a_wrong_or_missing_key_fails_authentication_naming_what_was_tried() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    options.identity = Some(sshd.path("stranger"));
    let e = expect_err(&sshd, sshd.run(&options, &["true"]), "auth failure");
    let message = e.to_string();
    assert!(matches!(e, RemoteError::AuthFailed { .. }), "{message}");
    let stranger = sshd.path("stranger");
    let want = format!("{}: refused by the server", stranger.display());
    assert!(message.contains(&want), "{message}");
    assert!(message.contains("ssh-agent: none"), "{message}");
    options.identity = Some(sshd.path("absent_key"));
    let message = expect_err(&sshd, sshd.run(&options, &["true"]), "auth failure").to_string();
    assert!(message.contains("absent_key: no such file"), "{message}");
}

/// An `ssh-agent` holding the client key, killed when dropped.
struct Agent {
    socket: PathBuf,
    child: Child,
}

impl Agent {
    fn start(sshd: &Sshd) -> Agent {
        let socket = sshd.path("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        let agent = Agent { socket, child };
        for _ in 0..READY_POLLS {
            if agent.socket.exists() {
                break;
            }
            thread::sleep(Duration::from_millis(25));
        }
        let added = Command::new("ssh-add")
            .arg(sshd.path("client"))
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_agent_authenticates_before_any_key_file() {
    if !sshd_available()
        || !common::require(
            "ssh-agent and ssh-add",
            in_path("ssh-agent") && in_path("ssh-add"),
        )
    {
        return;
    }
    let sshd = Sshd::start();
    let agent = Agent::start(&sshd);
    let mut options = sshd.options();
    options.agent_socket = Some(agent.socket.clone());
    options.identity = Some(sshd.path("absent_key"));
    assert_eq!(ok(&sshd, sshd.run(&options, &["true"])).exit_code, 0);
    // A dead agent is reported, and the key file still tried.
    options.agent_socket = Some(sshd.path("no_agent.sock"));
    let message = expect_err(&sshd, sshd.run(&options, &["true"]), "auth failure").to_string();
    assert!(message.contains("no_agent.sock: unreachable"), "{message}");
}

#[test]
fn both_streams_are_read_together_without_stalling() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    // 3 MB on stderr first: more than the SSH window while stdout stays empty.
    let script = "head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero; echo end";
    let out = ok(&sshd, sshd.run(&sshd.options(), &["sh", "-c", script]));
    assert_eq!((out.stdout.len(), out.stderr.len()), (3_000_004, 3_000_000));
    assert!(out.stdout.ends_with(b"end\n"));
}

#[test]
fn output_beyond_the_limit_is_an_error() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    options.output_max_bytes = 1000;
    let e = expect_err(
        &sshd,
        sshd.run(&options, &["head", "-c", "5000", "/dev/zero"]),
        "too large",
    );
    assert!(
        matches!(
            e,
            RemoteError::OutputTooLarge {
                stream: "stdout",
                limit: 1000,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_command_that_outlives_the_timeout_is_cut_off() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let mut options = sshd.options();
    options.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let e = expect_err(&sshd, sshd.run(&options, &["sleep", "10"]), "timeout");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            e,
            RemoteError::Timeout {
                step: Step::Running,
                ..
            }
        ),
        "{e}"
    );
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert!(
        e.to_string()
            .contains("no answer within 2 s while running the command"),
        "{e}"
    );
}

#[test]
fn a_closed_port_is_refused_at_once() {
    let port = common::free_port();
    let target = Target::new("root", "127.0.0.1", port).unwrap();
    let options = Options {
        known_hosts: Some(PathBuf::from("/nonexistent/known_hosts")),
        agent_socket: None,
        ..Options::default()
    };
    let started = Instant::now();
    let e = run(&target, &options, &args(&["true"])).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(e, RemoteError::Refused { .. }), "{e}");
    let want = format!("root@127.0.0.1:{port}: connection refused (is sshd running");
    assert!(e.to_string().starts_with(&want), "{e}");
}

#[test]
fn a_server_that_never_speaks_times_out() {
    // Accepts (the kernel does, into the backlog) and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = Target::new("root", "127.0.0.1", port).unwrap();
    let options = Options {
        known_hosts: Some(PathBuf::from("/nonexistent/known_hosts")),
        agent_socket: None,
        timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let started = Instant::now();
    let e = run(&target, &options, &args(&["true"])).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            e,
            RemoteError::Timeout {
                step: Step::KeyExchange,
                ..
            }
        ),
        "{e}"
    );
    assert!(elapsed >= Duration::from_millis(900), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // The listener saw the connection: the wait was for words, not the connect.
    listener.set_nonblocking(true).unwrap();
    let mut accepted = listener.accept().expect("a connection").0;
    let mut banner = String::new();
    accepted.set_nonblocking(false).unwrap();
    accepted
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let _ = accepted.read_to_string(&mut banner);
    assert!(banner.starts_with("SSH-2.0-"), "{banner:?}");
}

/// What a misbehaving server does once a client connects.
type Behaviour = fn(&mut TcpStream) -> std::io::Result<()>;

/// A fake server on loopback that does `then` until the client hangs up;
/// returns its port.
fn misbehaving_server(then: Behaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = then(&mut conn);
    });
    port
}

const BANNER: &[u8] = b"SSH-2.0-misbehaving\r\n";

/// Runs `true` on the server at `port` with a 1 s timeout, on a thread: the
/// error, or a failure if it has not returned 30 s later.
fn run_bounded(port: u16) -> RemoteError {
    let target = Target::new("root", "127.0.0.1", port).unwrap();
    let options = Options {
        known_hosts: Some(PathBuf::from("/nonexistent/known_hosts")),
        agent_socket: None,
        timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(run(&target, &options, &args(&["true"]))));
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(result) => result.unwrap_err(),
        Err(_) => panic!("--remote was still waiting 30 s after its 1 s deadline"),
    }
}

/// Issue 14: a server that never stops sending (or stops after its banner)
/// holds no wait past the deadline. libssh2's own timeout is checked only
/// when it has to wait: endless lines before a banner kept it reading for
/// ever at 100 % CPU (this test hung there before the wall-clock hang-up);
/// a steady stream of packets it discards (SSH_MSG_IGNORE, before the key
/// exchange), a packet dripped a byte at a time and a banner followed by
/// silence are bounded too.
#[test]
fn a_server_that_streams_or_drips_bytes_forever_times_out_at_the_deadline() {
    fn lines(conn: &mut TcpStream) -> std::io::Result<()> {
        let burst = b"not ssh at all\r\n".repeat(4096);
        loop {
            conn.write_all(&burst)?;
        }
    }
    // SSH_MSG_IGNORE with an empty string, 6 bytes of padding: 16 bytes.
    fn ignores(conn: &mut TcpStream) -> std::io::Result<()> {
        conn.write_all(BANNER)?;
        let packet = [0, 0, 0, 12, 6, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let burst = packet.repeat(4096);
        loop {
            conn.write_all(&burst)?;
        }
    }
    // A packet announced as 32,000 bytes, sent a byte every 20 ms.
    fn drip(conn: &mut TcpStream) -> std::io::Result<()> {
        conn.write_all(BANNER)?;
        conn.write_all(&[0, 0, 0x7d, 0x00])?;
        loop {
            conn.write_all(b"x")?;
            thread::sleep(Duration::from_millis(20));
        }
    }
    fn banner_only(conn: &mut TcpStream) -> std::io::Result<()> {
        conn.write_all(BANNER)?;
        thread::sleep(Duration::from_secs(60));
        Ok(())
    }
    let behaviours: [(&str, Behaviour); 4] = [
        ("lines instead of a banner", lines),
        ("ignore packets", ignores),
        ("drip", drip),
        ("banner only", banner_only),
    ];
    for (name, then) in behaviours {
        let e = run_bounded(misbehaving_server(then));
        assert!(
            matches!(
                e,
                RemoteError::Timeout {
                    step: Step::KeyExchange,
                    ..
                }
            ),
            "{name}: {e}"
        );
    }
}

#[test]
fn bad_options_are_refused_before_connecting() {
    let target = Target::new("root", "127.0.0.1", 1).unwrap();
    let options = Options {
        timeout: Duration::ZERO,
        ..Options::default()
    };
    let e = run(&target, &options, &args(&["true"])).unwrap_err();
    assert!(matches!(e, RemoteError::BadOptions(_)), "{e}");
    let e = run(&target, &Options::default(), &[]).unwrap_err();
    assert!(matches!(e, RemoteError::BadCommand(_)), "{e}");
}

// `hosted-engine ... --remote`: the command line end to end, the remote side a
// deployed host in a temporary directory whose `hosted-engine` is a wrapper
// script setting its configuration paths.

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");

/// A deployed host (agent down) with two hosts published: host 1 fresh, host
/// 2 silent for an hour. Returns the environment that points at it.
fn deploy_host(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    use hosted_engine::metadata::{Extra, HostRecord, encode_host_slot};
    use hosted_engine::shell::store::{MetadataStore, init_volume};
    let shared = dir.join("shared");
    let volume = shared.join("ha_agent/hosted-engine.metadata");
    fs::create_dir_all(volume.parent().unwrap()).unwrap();
    fs::create_dir_all(dir.join("run")).unwrap();
    fs::write(
        dir.join("hosted-engine.conf"),
        format!(
            "fqdn=engine.invalid\nvmid=he\nhost_id=1\nstorage={}\ndomainType=dir\n\
             vm_command=/bin/true\nnetwork_test=none\n",
            shared.display()
        ),
    )
    .unwrap();
    let io = Duration::from_secs(5);
    init_volume(&volume, false, io).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut store = MetadataStore::open(&volume, io);
    for (id, wall) in [(1u16, now), (2, now - 3600)] {
        let record = HostRecord {
            parse_version: 1,
            feature_version: 1,
            host_ts: 100 + u64::from(id),
            host_id: id,
            score: 3400,
            engine_status: r#"{"vm": "up", "health": "good", "detail": "Up"}"#.into(),
            hostname: format!("host{id}.example"),
            local_maintenance: false,
            stopped: false,
            conf_on_shared_storage: true,
            vm_conf_refresh_time: 100,
        };
        let mut extra = Extra::new();
        extra.push("state", "EngineUp");
        extra.push("wall-clock", wall.to_string());
        store
            .write_slot(id, &encode_host_slot(id, &record, &extra).unwrap())
            .unwrap();
    }
    vec![
        ("HE_CONFIG_ROOT", dir.to_owned()),
        ("HE_CONF", dir.join("hosted-engine.conf")),
        ("HE_RUNTIME_DIR", dir.join("run")),
        ("HE_STATE_DIR", dir.join("state")),
    ]
}

/// A script that runs the built `hosted-engine` with `env`.
fn wrapper(path: &Path, env: &[(&str, PathBuf)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mut script = String::from("#!/bin/sh\nunset HE_AGENT_CONF HE_HA_CONF HE_BROKER_CONF\n");
    for (name, value) in env {
        script.push_str(&format!("export {name}='{}'\n", value.display()));
    }
    script.push_str(&format!("exec '{HE_BIN}' \"$@\"\n"));
    fs::write(path, script).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// `hosted-engine` here, with `env` and no ssh-agent.
fn hosted_engine(args: &[&str], env: &[(&str, PathBuf)]) -> std::process::Output {
    let mut cmd = Command::new(HE_BIN);
    for var in common::PATH_VARS
        .iter()
        .chain(&["HE_CONFIG_ROOT", "SSH_AUTH_SOCK"])
    {
        cmd.env_remove(var);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn the_command_line_runs_read_only_commands_on_another_host() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let env = deploy_host(&sshd.path("host"));
    let program = wrapper(&sshd.path("he-wrapper"), &env);
    let known_hosts = sshd.known_hosts("known_hosts", &["host_ed25519", "host_ecdsa"]);
    let remote = |args: &[&str], known_hosts: &Path, extra: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.push(format!("--remote=root@127.0.0.1:{}", sshd.port));
        all.push(format!(
            "--remote-identity={}",
            sshd.path("client").display()
        ));
        all.push(format!("--remote-known-hosts={}", known_hosts.display()));
        all.push(format!("--remote-command={}", program.display()));
        all.extend(extra.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        hosted_engine(&all, &[])
    };
    for args in [
        &["--vm-status", "--json"][..],
        &["--vm-status"],
        &["--vm-status", "--format=table"],
        &["--check-deployed"],
        &["--get-shared-config", "fqdn", "--type=he_local"],
    ] {
        let local = hosted_engine(args, &env);
        let there = remote(args, &known_hosts, &[]);
        assert_eq!(
            there.status.code(),
            local.status.code(),
            "{args:?}: {}\nsshd log:\n{}",
            text(&there.stderr),
            sshd.log()
        );
        assert_eq!(text(&there.stdout), text(&local.stdout), "{args:?}");
        assert_eq!(text(&there.stderr), text(&local.stderr), "{args:?}");
    }
    // The remote host's answer, not ours: live host 1, stale host 2.
    let there = remote(&["--vm-status", "--json"], &known_hosts, &[]);
    let json: serde_json::Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(json["1"]["live-data"], true);
    assert_eq!(json["2"]["live-data"], false);
    assert!(text(&there.stderr).contains("the local agent is not answering"));

    // Its failures too, with their exit codes: a host not deployed.
    let bare: Vec<(&str, PathBuf)> = vec![
        ("HE_CONFIG_ROOT", sshd.path("bare")),
        ("HE_CONF", sshd.path("bare/hosted-engine.conf")),
    ];
    let bare_program = wrapper(&sshd.path("he-bare"), &bare);
    let mut args = vec![
        "--vm-status".to_owned(),
        "--json".to_owned(),
        format!("--remote=root@127.0.0.1:{}", sshd.port),
        format!("--remote-identity={}", sshd.path("client").display()),
        format!("--remote-known-hosts={}", known_hosts.display()),
    ];
    args.push(format!("--remote-command={}", bare_program.display()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let there = hosted_engine(&args, &[]);
    assert_eq!(there.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(json["error"], "You must run deploy first");

    // An unknown host key: refused with its fingerprint (as JSON under
    // --json), nothing run; accepted once with --remote-accept-new-host-key.
    let fingerprints = [
        fingerprint(&sshd.path("host_ed25519")),
        fingerprint(&sshd.path("host_ecdsa")),
    ];
    let unknown = sshd.path("empty_known_hosts");
    fs::write(&unknown, "").unwrap();
    let refused = remote(&["--vm-status"], &unknown, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let message = text(&refused.stderr);
    assert!(
        message.contains("unknown host key")
            && fingerprints.iter().any(|f| message.contains(f.as_str()))
            && message.contains("--remote-accept-new-host-key"),
        "{message}"
    );
    let refused = remote(&["--vm-status", "--json"], &unknown, &[]);
    assert_eq!(refused.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("unknown host key"),
        "{json}"
    );
    assert_eq!(fs::read_to_string(&unknown).unwrap(), "");
    let accepted = remote(
        &["--vm-status", "--json"],
        &unknown,
        &["--remote-accept-new-host-key"],
    );
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        text(&accepted.stderr)
    );
    assert_eq!(
        text(&accepted.stdout),
        text(&hosted_engine(&["--vm-status", "--json"], &env).stdout)
    );
    let added = fs::read_to_string(&unknown).unwrap();
    assert!(
        added.starts_with(&format!("[127.0.0.1]:{} ", sshd.port)),
        "{added}"
    );
    // Known now: strict passes.
    let again = remote(&["--check-deployed"], &unknown, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));

    // Watching into a pipe nobody reads ends (one remote run, then done).
    let mut all: Vec<String> = ["--vm-status", "--json", "--watch=0.2"]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    all.push(format!("--remote=root@127.0.0.1:{}", sshd.port));
    all.push(format!(
        "--remote-identity={}",
        sshd.path("client").display()
    ));
    all.push(format!("--remote-known-hosts={}", known_hosts.display()));
    all.push(format!("--remote-command={}", program.display()));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(HE_BIN)
        .args(&all)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("--watch --remote still running into a closed pipe");
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn mutating_commands_do_not_take_remote() {
    // Refused by the parser: no connection is even tried (nothing listens).
    let target = format!("--remote=root@127.0.0.1:{}", common::free_port());
    for args in [
        &["--vm-poweroff"][..],
        &["--vm-start"],
        &["--set-maintenance", "--mode=global"],
        &["--set-shared-config", "fqdn", "x"],
        &["--clean-metadata"],
    ] {
        let mut all = args.to_vec();
        all.push(&target);
        let out = hosted_engine(&all, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("Invalid option '{target}'\nUsage: hosted-engine ")),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// Issue 16: `--remote` honours the OpenSSH client configuration as `ssh`
/// does: a Host alias's HostName, Port, User and IdentityFile; what
/// `--remote` itself says wins; `--remote-ssh-config=none` reads none.
#[test]
fn an_ssh_config_alias_reaches_the_host_as_ssh_would() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start();
    let env = deploy_host(&sshd.path("host"));
    let program = wrapper(&sshd.path("he-wrapper"), &env);
    let known_hosts = sshd.known_hosts("known_hosts", &["host_ed25519", "host_ecdsa"]);
    let config = sshd.path("ssh_config");
    fs::write(
        &config,
        format!(
            "# an operator's ~/.ssh/config\nHost he-two he-2\n    HostName 127.0.0.1\n    \
             Port {}\n    User root\n    IdentityFile {}\nHost *\n    User nobody\n",
            sshd.port,
            sshd.path("client").display()
        ),
    )
    .unwrap();
    let remote = |target: &str, extra: &[&str]| {
        let mut all = vec![
            "--check-deployed".to_owned(),
            format!("--remote={target}"),
            format!("--remote-known-hosts={}", known_hosts.display()),
            format!("--remote-command={}", program.display()),
        ];
        all.extend(extra.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        hosted_engine(&all, &[])
    };
    let with_config = format!("--remote-ssh-config={}", config.display());
    let there = remote("he-two", &[&with_config]);
    assert_eq!(
        (there.status.code(), text(&there.stdout).as_str()),
        (Some(0), "The hosted engine has been deployed\n"),
        "{}\nsshd log:\n{}",
        text(&there.stderr),
        sshd.log()
    );
    // The command line wins: a user the server does not know fails, named.
    let there = remote("he-no-such-user@he-2", &[&with_config]);
    assert_eq!(there.status.code(), Some(1));
    assert!(
        text(&there.stderr).contains("he-no-such-user@127.0.0.1"),
        "{}",
        text(&there.stderr)
    );
    // A configuration others could change is refused, as ssh refuses it.
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).unwrap();
        let there = remote("he-two", &[&with_config]);
        assert_eq!(there.status.code(), Some(1));
        assert!(
            text(&there.stderr).contains("bad owner or permissions"),
            "{}",
            text(&there.stderr)
        );
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Without the configuration the alias is a name nobody resolves.
    let there = remote("he-two", &["--remote-ssh-config=none"]);
    assert_eq!(there.status.code(), Some(1));
    assert!(
        text(&there.stderr).contains("he-two"),
        "{}",
        text(&there.stderr)
    );
}

/// Issue 16: `--remote-timeout` bounds a server that never speaks, from the
/// command line.
#[test]
fn remote_timeout_bounds_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let out = hosted_engine(
        &[
            "--vm-status",
            &format!("--remote=root@127.0.0.1:{port}"),
            "--remote-known-hosts=/nonexistent/known_hosts",
            "--remote-ssh-config=none",
            "--remote-timeout=1",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        text(&out.stderr).contains("no answer within 1 s"),
        "{}",
        text(&out.stderr)
    );
    let bad = hosted_engine(
        &[
            "--vm-status",
            "--remote=root@127.0.0.1:22",
            "--remote-timeout=0",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).starts_with("Invalid value '0' for --remote-timeout"),
        "{}",
        text(&bad.stderr)
    );
    drop(listener);
}
