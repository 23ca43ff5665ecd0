//! `hosted-engine --remote [user@]host[:port]`: runs one command on another host
//! over SSH (libssh2, through the `ssh2` crate) and hands back its output, for the
//! command line to render locally.
//!
//! Security is OpenSSH's, in its strict form: the server's host key must be in
//! `known_hosts` (an unknown key is refused unless the policy is
//! [`HostKeyPolicy::AcceptNew`]; a changed key is always refused), and only public
//! keys authenticate (the ssh-agent first, then identity files). Nothing asks a
//! question: the command line runs unattended, so every refusal is an error that
//! says what to do.
//!
//! Deliberate differences from `ssh(1)`: a host known only under other key types
//! is refused even with accept-new (OpenSSH would offer to add the new type),
//! `@cert-authority` lines are ignored (host certificates are not supported), and
//! a key marked `@revoked` is refused for every host. Like libssh2, a `host` line
//! also vouches for a key seen on `[host]:port`. Keys added by accept-new are
//! written unhashed.
//!
//! Every wait is bounded: name resolution and the TCP connect by
//! [`Options::connect_timeout`], everything after (key exchange, authentication,
//! the command, its output, the close) by [`Options::timeout`], one deadline for
//! all. An ssh-agent that accepts the connection and never answers is the one
//! wait libssh2 does not let us bound.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, CheckResult, ErrorCode, KnownHostFileKind, MethodType, Session};

/// The default SSH port.
pub const DEFAULT_PORT: u16 = 22;
/// [`Output::exit_code`] of a command killed by a signal the server named but
/// this module has no number for, as `ssh(1)` reports a lost command.
pub const EXIT_SIGNAL_UNKNOWN: i32 = 255;
/// [`Output::exit_code`] the remote shell gives a command it cannot find;
/// [`run`] turns it into [`RemoteError::CommandNotFound`].
pub const EXIT_COMMAND_NOT_FOUND: i32 = 127;
/// The longest command line [`shell_quote`] produces (well inside the 256 KiB
/// an SSH packet may carry).
pub const COMMAND_MAX_BYTES: usize = 128 * 1024;
/// The largest `known_hosts` file read.
pub const KNOWN_HOSTS_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// The longest timeout [`Options::validate`] accepts (libssh2 takes a `u32` of ms).
pub const TIMEOUT_MAX: Duration = Duration::from_secs(24 * 3600);
/// How many agent keys are offered at most (servers stop after `MaxAuthTries`,
/// 6 by default, anyway).
const AGENT_KEYS_MAX: usize = 16;
/// How many resolved addresses are tried at most.
const ADDRESSES_MAX: usize = 8;
/// Read buffer for the command's output.
const READ_CHUNK_BYTES: usize = 32 * 1024;

// libssh2's error codes (`libssh2.h`); `ssh2` exposes them only as numbers.
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

/// Where to run: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    user: String,
    host: String,
    port: u16,
}

/// Which unknown host keys are trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only keys already in `known_hosts` (`StrictHostKeyChecking=yes`).
    #[default]
    Strict,
    /// A host with no key in `known_hosts` gets the one it offers appended there
    /// (`StrictHostKeyChecking=accept-new`); a changed key is still refused.
    AcceptNew,
}

/// How to connect. [`Options::default`] follows the environment: the agent from
/// `SSH_AUTH_SOCK`, keys and `known_hosts` under `$HOME/.ssh`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The private key to offer after the agent's; `None`: `~/.ssh/id_ed25519`,
    /// `id_ecdsa` and `id_rsa`, those that exist. Encrypted keys need the agent.
    pub identity: Option<PathBuf>,
    /// The known hosts file, read and (with [`HostKeyPolicy::AcceptNew`])
    /// appended to; `None`: `~/.ssh/known_hosts`, with the system-wide
    /// `/etc/ssh/ssh_known_hosts` also read.
    pub known_hosts: Option<PathBuf>,
    /// Whether an unknown host key may be added.
    pub host_key_policy: HostKeyPolicy,
    /// The ssh-agent's socket; `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// Bound on name resolution plus the TCP connect.
    pub connect_timeout: Duration,
    /// Bound on everything after the TCP connect, the command included.
    pub timeout: Duration,
    /// The most bytes kept of each of stdout and stderr; more is an error.
    pub output_max_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            identity: None,
            known_hosts: None,
            host_key_policy: HostKeyPolicy::Strict,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            output_max_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Options {
    /// Every broken rule, in one message.
    pub fn validate(&self) -> Result<(), RemoteError> {
        let mut broken = Vec::new();
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
        ] {
            if value < Duration::from_millis(1) || value > TIMEOUT_MAX {
                broken.push(format!(
                    "{name} must be between 1 ms and {} s",
                    TIMEOUT_MAX.as_secs()
                ));
            }
        }
        if self.output_max_bytes == 0 {
            broken.push("output_max_bytes must be at least 1".to_owned());
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(RemoteError::BadOptions(broken.join("; ")))
        }
    }
}

/// What the remote command answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit status; killed by a signal: 128 + the signal's number (the shell's
    /// convention, e.g. 143 for TERM), or [`EXIT_SIGNAL_UNKNOWN`].
    pub exit_code: i32,
    /// The signal that killed it, as the server names it (`TERM`, no `SIG`).
    pub signal: Option<String>,
}

/// A server's host key as `ssh-keygen -l` names it; shows as
/// `ssh-ed25519 SHA256:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The key's type, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:` and the unpadded base64 of the key's SHA-256.
    pub fingerprint: String,
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key_type, self.fingerprint)
    }
}

/// The step a failure happened in, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Looking the host name up.
    Resolving,
    /// The TCP connect.
    Connecting,
    /// The SSH key exchange and the host key check.
    KeyExchange,
    /// Logging in.
    Authenticating,
    /// Starting the command and reading its output.
    Running,
    /// Waiting for the exit status and the close.
    Closing,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Resolving => "resolving the host name",
            Step::Connecting => "connecting",
            Step::KeyExchange => "exchanging keys",
            Step::Authenticating => "authenticating",
            Step::Running => "running the command",
            Step::Closing => "waiting for the exit status",
        })
    }
}

/// Why a remote command did not run or its answer is missing. `target` is the
/// [`Target`]'s `user@host:port`.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The `[user@]host[:port]` text is malformed.
    #[error("remote target {spec:?}: {reason} (expected [user@]host[:port])")]
    BadTarget {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`Options::validate`] failed.
    #[error("remote options: {0}")]
    BadOptions(String),
    /// The command cannot be sent (empty, a NUL byte, too long).
    #[error("remote command: {0}")]
    BadCommand(String),
    /// The host name does not resolve.
    #[error("{target}: cannot resolve the host name: {reason}")]
    Resolve {
        /// `user@host:port`.
        target: String,
        /// The resolver's answer.
        reason: String,
    },
    /// Nothing listens on the port.
    #[error("{target}: connection refused (is sshd running and listening on port {port}?)")]
    Refused {
        /// `user@host:port`.
        target: String,
        /// The port refused.
        port: u16,
    },
    /// A step did not finish within its timeout.
    #[error("{target}: no answer within {} while {step}", duration_text(*timeout))]
    Timeout {
        /// `user@host:port`.
        target: String,
        /// What was being waited for.
        step: Step,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// A network failure other than a refusal or a timeout (no route, reset).
    #[error("{target}: {reason} (while {step})")]
    Network {
        /// `user@host:port`.
        target: String,
        /// Where it happened.
        step: Step,
        /// The system's reason, lowercase.
        reason: String,
    },
    /// The SSH conversation failed (e.g. no common algorithm, server closed).
    #[error("{target}: ssh failed while {step}: {reason}")]
    Ssh {
        /// `user@host:port`.
        target: String,
        /// Where it happened.
        step: Step,
        /// libssh2's reason.
        reason: String,
    },
    /// The server's key is in no known hosts file (and the policy is strict).
    #[error(
        "{target}: unknown host key {key} (not in {}); if that is the host's key (on the \
         host: ssh-keygen -lf /etc/ssh/ssh_host_{}_key.pub), accept it once with the \
         accept-new host key policy, or with: {accept_command}",
        known_hosts.display(),
        key_file_kind(&key.key_type)
    )]
    UnknownHostKey {
        /// `user@host:port`.
        target: String,
        /// The key offered.
        key: Box<HostKey>,
        /// The file it would be added to.
        known_hosts: PathBuf,
        /// An `ssh` command that adds it.
        accept_command: String,
    },
    /// The server offers a key that differs from the known one: an attack or a
    /// reinstalled host. Never accepted. (The one message that shouts.)
    #[error(
        "{target}: HOST KEY CHANGED: the server offers {key}, but {} holds another {} key \
         for it; refusing to connect. Someone may be intercepting the connection (man in \
         the middle), or the host was reinstalled; only if you know it was, remove the old \
         key with: ssh-keygen -R '{pattern}' -f {}",
        known_hosts.display(),
        key.key_type,
        known_hosts.display()
    )]
    HostKeyChanged {
        /// `user@host:port`.
        target: String,
        /// The key offered.
        key: Box<HostKey>,
        /// The host's name in known hosts (`host` or `[host]:port`).
        pattern: String,
        /// The file holding the old key (the user's file when several are read).
        known_hosts: PathBuf,
    },
    /// The host is known, but only with keys of other types than the one offered.
    #[error(
        "{target}: the server offers host key {key}, but {} knows this host only by {} \
         keys; refusing (the host may have dropped that key type, or it is not the host \
         you know)",
        known_hosts.display(),
        known_types.join(", ")
    )]
    HostKeyTypeUnknown {
        /// `user@host:port`.
        target: String,
        /// The key offered.
        key: Box<HostKey>,
        /// The types known for this host.
        known_types: Vec<String>,
        /// The user's known hosts file.
        known_hosts: PathBuf,
    },
    /// The offered key is marked `@revoked`.
    #[error("{target}: host key {key} is marked @revoked; refusing")]
    HostKeyRevoked {
        /// `user@host:port`.
        target: String,
        /// The key offered.
        key: Box<HostKey>,
    },
    /// A known hosts file could not be read or appended to.
    #[error("{}: cannot {action} known hosts: {reason}", path.display())]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// `read` or `add to`.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// No key was accepted.
    #[error(
        "{target}: authentication failed (tried {}); is the public key in the \
         user's ~/.ssh/authorized_keys on that host?",
        tried.join("; ")
    )]
    AuthFailed {
        /// `user@host:port`.
        target: String,
        /// Each method or key tried and what happened.
        tried: Vec<String>,
    },
    /// The remote shell did not find the program (exit status 127).
    #[error(
        "{target}: {program}: command not found on the remote host (is it installed \
         there and in the user's PATH?){}",
        remote_said(stderr)
    )]
    CommandNotFound {
        /// `user@host:port`.
        target: String,
        /// The program (`argv[0]`).
        program: String,
        /// What the remote shell wrote to stderr.
        stderr: String,
    },
    /// The command wrote more than [`Options::output_max_bytes`].
    #[error("{target}: the command's {stream} passed {limit} bytes; stopped reading")]
    OutputTooLarge {
        /// `user@host:port`.
        target: String,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The limit.
        limit: usize,
    },
}

fn duration_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn remote_said(stderr: &str) -> String {
    let line = stderr.trim().lines().last().unwrap_or("");
    if line.is_empty() {
        String::new()
    } else {
        let short: String = line.chars().take(200).collect();
        format!("; the remote shell said: {short}")
    }
}

/// `ssh-ed25519` -> `ed25519`, as in `/etc/ssh/ssh_host_ed25519_key.pub`.
fn key_file_kind(key_type: &str) -> &str {
    match key_type {
        "ssh-rsa" => "rsa",
        "ssh-dss" => "dsa",
        t if t.starts_with("ecdsa-") => "ecdsa",
        t => t.strip_prefix("ssh-").unwrap_or(t),
    }
}

impl Target {
    /// Parses `[user@]host[:port]`; an IPv6 address with a port goes in brackets
    /// (`[::1]:2222`). The user defaults to `$USER`, then `$LOGNAME`, then the
    /// effective uid's name; the port to 22.
    pub fn parse(spec: &str) -> Result<Target, RemoteError> {
        Target::parse_with(spec, default_user)
    }

    /// A target from its parts, checked as [`Target::parse`] checks them.
    pub fn new(user: &str, host: &str, port: u16) -> Result<Target, RemoteError> {
        let spec = format!("{user}@{host}:{port}");
        let bad = |reason: &str| RemoteError::BadTarget {
            spec: spec.clone(),
            reason: reason.to_owned(),
        };
        check_user(user).map_err(bad)?;
        check_host(host).map_err(bad)?;
        if port == 0 {
            return Err(bad("port 0 is not a port (1-65535)"));
        }
        Ok(Target {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    fn parse_with(
        spec: &str,
        default_user: impl FnOnce() -> Option<String>,
    ) -> Result<Target, RemoteError> {
        let bad = |reason: String| RemoteError::BadTarget {
            spec: spec.to_owned(),
            reason,
        };
        let (user, rest) = match spec.split_once('@') {
            Some((user, rest)) => (user.to_owned(), rest),
            None => (
                default_user().ok_or_else(|| {
                    bad("cannot tell the user name ($USER unset); write user@host".into())
                })?,
                spec,
            ),
        };
        let (host, port) = split_host_port(rest).map_err(&bad)?;
        let port = match port {
            None => DEFAULT_PORT,
            Some(text) => match text.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(format!("bad port {text:?} (1-65535)"))),
            },
        };
        check_user(&user).map_err(|r| bad(r.into()))?;
        check_host(host).map_err(|r| bad(r.into()))?;
        Ok(Target {
            user,
            host: host.to_owned(),
            port,
        })
    }

    /// The remote user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as `known_hosts` names it: `host` on port 22, else `[host]:port`.
    pub fn known_hosts_pattern(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    /// `user@host:port`, IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected {after:?} after ']'")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => text
            .split_once(':')
            .map(|(h, p)| (h, Some(p)))
            .ok_or_else(String::new),
        _ if text.parse::<std::net::Ipv6Addr>().is_ok() => Ok((text, None)),
        _ => Err("an IPv6 address with a port goes in brackets: [::1]:2222".into()),
    }
}

fn check_user(user: &str) -> Result<(), &'static str> {
    if user.is_empty() {
        return Err("empty user name");
    }
    let bad = |c: char| c.is_control() || c.is_whitespace() || c == '@';
    if user.len() > 256 || user.chars().any(bad) {
        return Err("bad user name");
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty host name");
    }
    if host.len() > 253 {
        return Err("host name longer than 253 characters");
    }
    if host.starts_with('-') || host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("bad host name");
    }
    if host.contains(['@', '[', ']', '/']) {
        return Err("bad character in host name");
    }
    Ok(())
}

/// Quotes `argv` for the remote POSIX shell: words of safe characters stay as
/// they are, the others go in single quotes (a `'` becomes `'\''`), so that the
/// shell sees exactly `argv` — no expansion, no second command.
pub fn shell_quote(argv: &[String]) -> Result<String, RemoteError> {
    if argv.is_empty() {
        return Err(RemoteError::BadCommand("no command given".into()));
    }
    let mut line = String::new();
    for (i, arg) in argv.iter().enumerate() {
        if arg.contains('\0') {
            return Err(RemoteError::BadCommand(format!(
                "argument {} contains a NUL byte, which a command line cannot carry",
                i + 1
            )));
        }
        if i > 0 {
            line.push(' ');
        }
        quote_word(arg, &mut line);
        if line.len() > COMMAND_MAX_BYTES {
            return Err(RemoteError::BadCommand(format!(
                "longer than {COMMAND_MAX_BYTES} bytes"
            )));
        }
    }
    Ok(line)
}

fn quote_word(word: &str, line: &mut String) {
    // No `=` (a first word `A=b` would be an assignment) and no `~` (expanded).
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-_./:,+@%".contains(&b);
    if !word.is_empty() && word.bytes().all(safe) {
        line.push_str(word);
        return;
    }
    line.push('\'');
    for c in word.chars() {
        if c == '\'' {
            line.push_str("'\\''");
        } else {
            line.push(c);
        }
    }
    line.push('\'');
}

/// Runs `argv` as `target`'s user on its host and returns what it answered. An
/// exit status other than 0 is an [`Output`], except 127 (command not found),
/// which is [`RemoteError::CommandNotFound`].
pub fn run(target: &Target, options: &Options, argv: &[String]) -> Result<Output, RemoteError> {
    options.validate()?;
    let command = shell_quote(argv)?;
    let files = KnownHostsFiles::new(options)?;
    let stream = connect(target, options.connect_timeout)?;
    // A second handle on the socket, to poll it and to hang up.
    let socket = stream.try_clone().map_err(|e| RemoteError::Network {
        target: target.to_string(),
        step: Step::Connecting,
        reason: os_reason(&e),
    })?;
    let deadline = Deadline::start(target, options.timeout);
    let mut session = Session::new().map_err(|e| deadline.ssh(Step::KeyExchange, &e))?;
    let known = KnownKeys::load(&session, &files)?;
    known.prefer_known_types(&session, target);
    session.set_tcp_stream(stream);
    deadline.arm(&session, Step::KeyExchange)?;
    session
        .handshake()
        .map_err(|e| deadline.ssh(Step::KeyExchange, &e))?;
    verify_host_key(&session, target, options.host_key_policy, &files, &known)?;
    authenticate(&session, target, options, &deadline)?;
    let output = execute(&session, &socket, &command, options, &deadline)?;
    // Best effort: the answer is complete whatever the goodbye does.
    if deadline.arm(&session, Step::Closing).is_ok() {
        let _ = session.disconnect(None, "done", None);
    }
    if output.exit_code == EXIT_COMMAND_NOT_FOUND && output.signal.is_none() {
        return Err(RemoteError::CommandNotFound {
            target: target.to_string(),
            program: argv[0].clone(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output)
}

/// The one deadline of everything after the TCP connect.
struct Deadline {
    target: String,
    timeout: Duration,
    at: Instant,
}

impl Deadline {
    fn start(target: &Target, timeout: Duration) -> Deadline {
        Deadline {
            target: target.to_string(),
            timeout,
            at: Instant::now() + timeout,
        }
    }

    /// Milliseconds left (at least 1), or the timeout error.
    fn left_ms(&self, step: Step) -> Result<u32, RemoteError> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out(step));
        }
        Ok(u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1))
    }

    /// Bounds the session's next blocking call by the time left.
    fn arm(&self, session: &Session, step: Step) -> Result<(), RemoteError> {
        session.set_timeout(self.left_ms(step)?);
        Ok(())
    }

    fn timed_out(&self, step: Step) -> RemoteError {
        RemoteError::Timeout {
            target: self.target.clone(),
            step,
            timeout: self.timeout,
        }
    }

    /// A libssh2 error as a [`RemoteError`].
    fn ssh(&self, step: Step, e: &ssh2::Error) -> RemoteError {
        if is_timeout(e) {
            return self.timed_out(step);
        }
        RemoteError::Ssh {
            target: self.target.clone(),
            step,
            reason: ssh_reason(e.code(), e.message()),
        }
    }
}

fn ssh_reason(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::Session(
            LIBSSH2_ERROR_BANNER_RECV
            | LIBSSH2_ERROR_SOCKET_SEND
            | LIBSSH2_ERROR_SOCKET_DISCONNECT
            | LIBSSH2_ERROR_SOCKET_RECV,
        ) => format!("the server closed the connection ({})", lowercase(message)),
        _ => lowercase(message),
    }
}

fn lowercase(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An I/O error as one lowercase phrase: `no route to host`.
fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text
        .find(" (os error")
        .map_or(text.as_str(), |at| &text[..at]);
    lowercase(text)
}

/// Resolves and connects within `timeout`, trying each address in turn.
fn connect(target: &Target, timeout: Duration) -> Result<TcpStream, RemoteError> {
    let deadline = Instant::now() + timeout;
    let name = target.to_string();
    let timed_out = |step| RemoteError::Timeout {
        target: name.clone(),
        step,
        timeout,
    };
    let addresses = resolve(target, deadline).map_err(|e| match e {
        None => timed_out(Step::Resolving),
        Some(reason) => RemoteError::Resolve {
            target: name.clone(),
            reason,
        },
    })?;
    let mut last = None;
    for address in addresses.iter().take(ADDRESSES_MAX) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(address, left) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => RemoteError::Refused {
            target: name,
            port: target.port,
        },
        Some(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            RemoteError::Network {
                target: name,
                step: Step::Connecting,
                reason: os_reason(&e),
            }
        }
        _ => timed_out(Step::Connecting),
    })
}

/// The host's addresses; `Err(None)` when `deadline` passes first. The system
/// resolver has no timeout of ours, so it runs on a thread left behind if late.
fn resolve(target: &Target, deadline: Instant) -> Result<Vec<SocketAddr>, Option<String>> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let (tx, rx) = mpsc::channel();
    let query = (target.host.clone(), target.port);
    std::thread::Builder::new()
        .name("ssh-resolve".into())
        .spawn(move || {
            let answer = query.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(answer);
        })
        .map_err(|e| Some(os_reason(&e)))?;
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(addresses)) if addresses.is_empty() => Err(Some("no address".into())),
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(Some(os_reason(&e))),
        Err(_) => Err(None),
    }
}

/// The known hosts files: the user's (read, appended to) and maybe the system's.
struct KnownHostsFiles {
    user: PathBuf,
    system: Option<PathBuf>,
}

impl KnownHostsFiles {
    fn new(options: &Options) -> Result<KnownHostsFiles, RemoteError> {
        if let Some(path) = &options.known_hosts {
            return Ok(KnownHostsFiles {
                user: path.clone(),
                system: None,
            });
        }
        let home = home_dir().ok_or_else(|| {
            RemoteError::BadOptions(
                "no home directory ($HOME unset) to find ~/.ssh/known_hosts in; \
                 give the known hosts file"
                    .into(),
            )
        })?;
        Ok(KnownHostsFiles {
            user: home.join(".ssh/known_hosts"),
            system: Some(PathBuf::from("/etc/ssh/ssh_known_hosts")),
        })
    }
}

/// The known host keys, one libssh2 collection per key type (libssh2 compares
/// keys whatever their type, so a host known by RSA only would look "changed"
/// when it offers Ed25519), and the `@revoked` keys (base64).
struct KnownKeys {
    by_type: BTreeMap<String, ssh2::KnownHosts>,
    revoked: Vec<String>,
}

impl KnownKeys {
    fn load(session: &Session, files: &KnownHostsFiles) -> Result<KnownKeys, RemoteError> {
        let mut known = KnownKeys {
            by_type: BTreeMap::new(),
            revoked: Vec::new(),
        };
        for path in std::iter::once(&files.user).chain(&files.system) {
            if let Some(text) = read_known_hosts(path)? {
                known.add_lines(session, path, &text)?;
            }
        }
        Ok(known)
    }

    fn add_lines(&mut self, session: &Session, path: &Path, text: &str) -> Result<(), RemoteError> {
        for (number, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().take(4).collect();
            match fields.as_slice() {
                [] => {}
                [first, ..] if first.starts_with('#') => {}
                ["@revoked", _, _, key, ..] => self.revoked.push((*key).to_owned()),
                [first, ..] if first.starts_with('@') => {}
                [_, key_type, _, ..] => {
                    let hosts = match self.by_type.entry((*key_type).to_owned()) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => e.insert(
                            session
                                .known_hosts()
                                .map_err(|e| known_hosts_error(path, "read", e.message().into()))?,
                        ),
                    };
                    // libssh2 rejects types it does not know (e.g. sk-*): skip
                    // the line, as ssh(1) skips what it cannot parse.
                    if let Err(e) = hosts.read_str(line.trim(), KnownHostFileKind::OpenSSH) {
                        tracing::debug!(
                            "{}:{}: line skipped: {}",
                            path.display(),
                            number + 1,
                            e.message()
                        );
                    }
                }
                _ => tracing::debug!("{}:{}: line skipped", path.display(), number + 1),
            }
        }
        Ok(())
    }

    /// The key types known for `target`: any entry for its name, whatever key.
    fn types_for(&self, target: &Target) -> Vec<String> {
        // A key no entry holds: the check answers Mismatch when the name is known.
        const NO_KEY: &[u8] = b"\0";
        self.by_type
            .iter()
            .filter(|(_, hosts)| {
                !matches!(
                    hosts.check_port(&target.host, target.port, NO_KEY),
                    CheckResult::NotFound
                )
            })
            .map(|(key_type, _)| key_type.clone())
            .collect()
    }

    /// Asks the server for a key type known for `target` first, as `ssh(1)`
    /// orders its host key algorithms.
    fn prefer_known_types(&self, session: &Session, target: &Target) {
        let known = self.types_for(target);
        let Ok(supported) = session.supported_algs(MethodType::HostKey) else {
            return;
        };
        let (first, rest): (Vec<&str>, Vec<&str>) = supported
            .into_iter()
            .partition(|alg| known.iter().any(|t| host_key_type_of(alg) == t));
        if first.is_empty() {
            return;
        }
        let prefs = [first, rest].concat().join(",");
        if let Err(e) = session.method_pref(MethodType::HostKey, &prefs) {
            tracing::debug!("host key preference {prefs:?} not taken: {}", e.message());
        }
    }
}

/// The key type (`known_hosts`'s second field) a host key algorithm signs with.
fn host_key_type_of(algorithm: &str) -> &str {
    match algorithm {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

/// The file's text, `None` when it does not exist.
fn read_known_hosts(path: &Path) -> Result<Option<String>, RemoteError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(known_hosts_error(path, "read", os_reason(&e))),
    };
    let mut bytes = Vec::new();
    file.take(KNOWN_HOSTS_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| known_hosts_error(path, "read", os_reason(&e)))?;
    if bytes.len() as u64 > KNOWN_HOSTS_MAX_BYTES {
        let reason = format!("larger than {KNOWN_HOSTS_MAX_BYTES} bytes");
        return Err(known_hosts_error(path, "read", reason));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn known_hosts_error(path: &Path, action: &'static str, reason: String) -> RemoteError {
    RemoteError::KnownHosts {
        path: path.to_owned(),
        action,
        reason,
    }
}

/// Checks the server's key against the known hosts; with accept-new, appends
/// the key of a host that has none.
fn verify_host_key(
    session: &Session,
    target: &Target,
    policy: HostKeyPolicy,
    files: &KnownHostsFiles,
    known: &KnownKeys,
) -> Result<(), RemoteError> {
    let no_key = || RemoteError::Ssh {
        target: target.to_string(),
        step: Step::KeyExchange,
        reason: "the server sent no usable host key".into(),
    };
    let (blob, _) = session.host_key().ok_or_else(no_key)?;
    let hash = session.host_key_hash(ssh2::HashType::Sha256);
    let key = Box::new(HostKey {
        key_type: key_type_name(blob).ok_or_else(no_key)?,
        fingerprint: format!("SHA256:{}", base64(hash.ok_or_else(no_key)?, false)),
    });
    let encoded = base64(blob, true);
    let name = target.to_string();
    if known.revoked.contains(&encoded) {
        return Err(RemoteError::HostKeyRevoked { target: name, key });
    }
    let check = known
        .by_type
        .get(&key.key_type)
        .map_or(CheckResult::NotFound, |hosts| {
            hosts.check_port(&target.host, target.port, blob)
        });
    let known_hosts = files.user.clone();
    match check {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(RemoteError::HostKeyChanged {
            target: name,
            key,
            pattern: target.known_hosts_pattern(),
            known_hosts,
        }),
        CheckResult::Failure => Err(RemoteError::Ssh {
            target: name,
            step: Step::KeyExchange,
            reason: "libssh2 could not check the known hosts".into(),
        }),
        CheckResult::NotFound => {
            let known_types = known.types_for(target);
            if !known_types.is_empty() {
                return Err(RemoteError::HostKeyTypeUnknown {
                    target: name,
                    key,
                    known_types,
                    known_hosts,
                });
            }
            if policy == HostKeyPolicy::Strict {
                return Err(RemoteError::UnknownHostKey {
                    target: name,
                    key,
                    accept_command: accept_command(target, &known_hosts),
                    known_hosts,
                });
            }
            let line = format!(
                "{} {} {encoded}\n",
                target.known_hosts_pattern(),
                key.key_type
            );
            append_known_host(&known_hosts, &line)?;
            tracing::info!("{name}: added host key {key} to {}", known_hosts.display());
            Ok(())
        }
    }
}

/// An `ssh` command line that adds the host's key (`-p`, not an `ssh://` URI:
/// OpenSSH 9.2 refuses a bracketed IPv6 address in one).
fn accept_command(target: &Target, known_hosts: &Path) -> String {
    format!(
        "ssh -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} -p {} {}@{} true",
        known_hosts.display(),
        target.port,
        target.user,
        target.host
    )
}

/// Appends one line, creating the file (and its directory, private) if needed.
fn append_known_host(path: &Path, line: &str) -> Result<(), RemoteError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let failed = |e: io::Error| known_hosts_error(path, "add to", os_reason(&e));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(failed)?;
    // A last line without its newline would swallow ours.
    let len = file.metadata().map_err(failed)?.len();
    let mut text = String::new();
    if len > 0 && !ends_with_newline(path)? {
        text.push('\n');
    }
    text.push_str(line);
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}

fn ends_with_newline(path: &Path) -> Result<bool, RemoteError> {
    use std::io::{Seek, SeekFrom};
    let failed = |e: io::Error| known_hosts_error(path, "add to", os_reason(&e));
    let mut file = std::fs::File::open(path).map_err(failed)?;
    file.seek(SeekFrom::End(-1)).map_err(failed)?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last).map_err(failed)?;
    Ok(last[0] == b'\n')
}

/// The type name a public key blob starts with (`string` in RFC 4253 terms).
fn key_type_name(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    let name = std::str::from_utf8(name).ok()?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())).then(|| name.to_owned())
}

/// Standard base64 (RFC 4648), with or without `=` padding.
fn base64(bytes: &[u8], pad: bool) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            text.push_str(&"=="[..3 - chunk.len()]);
        }
    }
    text
}

/// Logs in with the agent's keys, then the identity files.
fn authenticate(
    session: &Session,
    target: &Target,
    options: &Options,
    deadline: &Deadline,
) -> Result<(), RemoteError> {
    let step = Step::Authenticating;
    deadline.arm(session, step)?;
    let methods = match session.auth_methods(&target.user) {
        Ok(methods) => methods.to_owned(),
        Err(_) if session.authenticated() => return Ok(()),
        Err(e) => return Err(deadline.ssh(step, &e)),
    };
    let failed = |tried| RemoteError::AuthFailed {
        target: target.to_string(),
        tried,
    };
    if !methods.split(',').any(|m| m == "publickey") {
        let why = format!("nothing: the server offers only {methods}, and only keys are used");
        return Err(failed(vec![why]));
    }
    let mut tried = Vec::new();
    let attempts = offer_keys(session, &target.user, options, deadline, &mut tried);
    match attempts {
        Ok(true) => Ok(()),
        Ok(false) => {
            if options.identity.is_none() && tried.len() == 1 {
                tried.push("no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa)".into());
            }
            Err(failed(tried))
        }
        Err(e) if is_timeout(&e) => Err(deadline.ssh(step, &e)),
        Err(_) => {
            tried.push("then the server hung up (too many keys for its MaxAuthTries?)".into());
            Err(failed(tried))
        }
    }
}

/// Offers the agent's keys, then the identity files, noting each in `tried`:
/// `Ok(true)` once one is accepted, `Err` when the session is lost.
fn offer_keys(
    session: &Session,
    user: &str,
    options: &Options,
    deadline: &Deadline,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    match &options.agent_socket {
        Some(socket) => {
            if try_agent(session, user, socket, deadline, tried)? {
                return Ok(true);
            }
        }
        None => tried.push("ssh-agent: none (SSH_AUTH_SOCK unset)".to_owned()),
    }
    for path in identity_files(options) {
        if !path.exists() {
            if options.identity.is_some() {
                tried.push(format!("{}: no such file", path.display()));
            }
            continue;
        }
        arm(session, deadline)?;
        match session.userauth_pubkey_file(user, None, &path, None) {
            Ok(()) if session.authenticated() => return Ok(true),
            Ok(()) => tried.push(format!("{}: not enough for the server", path.display())),
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => tried.push(format!("{}: {}", path.display(), key_refusal(&e))),
        }
    }
    Ok(false)
}

/// [`Deadline::arm`] for code that speaks libssh2 errors.
fn arm(session: &Session, deadline: &Deadline) -> Result<(), ssh2::Error> {
    match deadline.left_ms(Step::Authenticating) {
        Ok(ms) => {
            session.set_timeout(ms);
            Ok(())
        }
        Err(_) => Err(ssh2::Error::new(
            ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT),
            "timed out",
        )),
    }
}

/// Offers the agent's keys; `Ok(true)` once one is accepted.
fn try_agent(
    session: &Session,
    user: &str,
    socket: &Path,
    deadline: &Deadline,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    let name = format!("ssh-agent {}", socket.display());
    let mut agent = match session.agent() {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!("{name}: {}", lowercase(e.message())));
            return Ok(false);
        }
    };
    let listed = agent
        .set_identity_path(socket)
        .and_then(|()| agent.connect())
        .and_then(|()| agent.list_identities())
        .and_then(|()| agent.identities());
    let identities = match listed {
        Ok(identities) => identities,
        Err(e) => {
            tried.push(format!("{name}: unreachable ({})", lowercase(e.message())));
            return Ok(false);
        }
    };
    let mut refused = 0;
    for identity in identities.iter().take(AGENT_KEYS_MAX) {
        arm(session, deadline)?;
        match agent.userauth(user, identity) {
            Ok(()) if session.authenticated() => {
                let _ = agent.disconnect();
                return Ok(true);
            }
            Err(e) if is_fatal(&e) => return Err(e),
            _ => refused += 1,
        }
    }
    let _ = agent.disconnect();
    tried.push(match refused {
        0 => format!("{name}: no keys"),
        n => format!("{name}: {n} key(s) refused"),
    });
    Ok(false)
}

fn is_timeout(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT)
    )
}

/// A failure that ends the session (timeout, closed connection), not just a key.
fn is_fatal(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(
            LIBSSH2_ERROR_TIMEOUT
                | LIBSSH2_ERROR_SOCKET_TIMEOUT
                | LIBSSH2_ERROR_SOCKET_SEND
                | LIBSSH2_ERROR_SOCKET_DISCONNECT
                | LIBSSH2_ERROR_SOCKET_RECV
        )
    )
}

fn key_refusal(e: &ssh2::Error) -> String {
    const LIBSSH2_ERROR_FILE: i32 = -16;
    const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
    const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
    match e.code() {
        ErrorCode::Session(
            LIBSSH2_ERROR_AUTHENTICATION_FAILED | LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED,
        ) => "refused by the server".into(),
        ErrorCode::Session(LIBSSH2_ERROR_FILE) => format!(
            "unusable ({}; an encrypted key needs ssh-agent)",
            lowercase(e.message())
        ),
        _ => lowercase(e.message()),
    }
}

/// The identity files to offer, in order.
fn identity_files(options: &Options) -> Vec<PathBuf> {
    if let Some(path) = &options.identity {
        return vec![path.clone()];
    }
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .collect()
}

/// Starts the command, reads stdout and stderr together until both end, then
/// collects the exit status.
fn execute(
    session: &Session,
    socket: &TcpStream,
    command: &str,
    options: &Options,
    deadline: &Deadline,
) -> Result<Output, RemoteError> {
    deadline.arm(session, Step::Running)?;
    let mut channel = session
        .channel_session()
        .map_err(|e| deadline.ssh(Step::Running, &e))?;
    let result = talk(session, &mut channel, socket, command, options, deadline);
    if result.is_err() {
        // Freeing the channel waits for the server's close, up to the session
        // timeout: a dead socket ends that wait at once.
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    result
}

fn talk(
    session: &Session,
    channel: &mut ssh2::Channel,
    socket: &TcpStream,
    command: &str,
    options: &Options,
    deadline: &Deadline,
) -> Result<Output, RemoteError> {
    let ssh = |step, e: ssh2::Error| deadline.ssh(step, &e);
    channel.exec(command).map_err(|e| ssh(Step::Running, e))?;
    // The command gets an empty stdin, never a wait for input.
    channel.send_eof().map_err(|e| ssh(Step::Running, e))?;
    session.set_blocking(false);
    let read = read_both(
        session,
        channel,
        socket.as_raw_fd(),
        options.output_max_bytes,
        deadline,
    );
    session.set_blocking(true);
    let (stdout, stderr) = read?;
    deadline.arm(session, Step::Closing)?;
    channel.wait_close().map_err(|e| ssh(Step::Closing, e))?;
    let status = channel.exit_status().map_err(|e| ssh(Step::Closing, e))?;
    let signal = channel
        .exit_signal()
        .map_err(|e| ssh(Step::Closing, e))?
        .exit_signal;
    let exit_code = match &signal {
        Some(name) => signal_number(name).map_or(EXIT_SIGNAL_UNKNOWN, |n| 128 + n),
        None => status,
    };
    Ok(Output {
        stdout,
        stderr,
        exit_code,
        signal,
    })
}

/// Reads both streams of a non-blocking channel until the server's EOF, so that
/// a command filling one stream while we wait on the other cannot stall.
fn read_both(
    session: &Session,
    channel: &ssh2::Channel,
    fd: RawFd,
    limit: usize,
    deadline: &Deadline,
) -> Result<(Vec<u8>, Vec<u8>), RemoteError> {
    let mut streams = [
        (Vec::new(), channel.stream(0)),
        (Vec::new(), channel.stderr()),
    ];
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        // Data comes before EOF: EOF seen before two empty reads means all read.
        let eof_before = channel.eof();
        let mut progressed = false;
        for (index, (buffer, stream)) in streams.iter_mut().enumerate() {
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => {
                    return Err(RemoteError::Ssh {
                        target: deadline.target.clone(),
                        step: Step::Running,
                        reason: lowercase(&e.to_string()),
                    });
                }
            };
            if buffer.len() + n > limit {
                return Err(RemoteError::OutputTooLarge {
                    target: deadline.target.clone(),
                    stream: ["stdout", "stderr"][index],
                    limit,
                });
            }
            buffer.extend_from_slice(&chunk[..n]);
            progressed |= n > 0;
        }
        if progressed || channel.eof() != eof_before {
            continue;
        }
        if eof_before {
            let [(stdout, _), (stderr, _)] = streams;
            return Ok((stdout, stderr));
        }
        wait_socket(session, fd, deadline)?;
    }
}

/// Waits until the socket is ready in the direction libssh2 is blocked on.
fn wait_socket(session: &Session, fd: RawFd, deadline: &Deadline) -> Result<(), RemoteError> {
    let events = match session.block_directions() {
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
    };
    let left_ms = deadline.left_ms(Step::Running)?;
    let mut poll_fd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let timeout = i32::try_from(left_ms).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, and its count; `fd` lives as long as the session.
    let rc = unsafe { libc::poll(&raw mut poll_fd, 1, timeout) };
    match rc {
        0 => Err(deadline.timed_out(Step::Running)),
        n if n > 0 => Ok(()),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(RemoteError::Network {
                    target: deadline.target.clone(),
                    step: Step::Running,
                    reason: os_reason(&e),
                })
            }
        }
    }
}

/// A signal's Linux number from its SSH name (RFC 4254 section 6.10).
fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "ABRT" => libc::SIGABRT,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        _ => return None,
    })
}

/// `$USER`, `$LOGNAME`, or the effective uid's name.
fn default_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty())
        .or_else(|| passwd_entry().map(|(name, _)| name))
}

/// `$HOME`, or the effective uid's home directory.
fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| passwd_entry().map(|(_, home)| home))
}

/// The effective uid's name and home directory from the password database.
fn passwd_entry() -> Option<(String, PathBuf)> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero bytes are a valid `passwd` (null pointers, zero ids).
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: the pointers are valid for the call; `buffer`'s length is passed.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &raw mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &raw mut result,
        )
    };
    if rc != 0 || result.is_null() || entry.pw_name.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success both point to NUL-terminated strings inside `buffer`.
    let (name, home) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
    let home = PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes()));
    Some((name.to_str().ok()?.to_owned(), home))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Target, RemoteError> {
        Target::parse_with(spec, || Some("me".into()))
    }

    fn parts(t: &Target) -> (&str, &str, u16) {
        (t.user(), t.host(), t.port())
    }

    #[test]
    fn parses_every_form() {
        let cases = [
            ("host", ("me", "host", 22)),
            ("root@host", ("root", "host", 22)),
            ("host:2222", ("me", "host", 2222)),
            ("root@10.0.0.1:2222", ("root", "10.0.0.1", 2222)),
            ("[::1]:2222", ("me", "::1", 2222)),
            ("root@[fe80::1]", ("root", "fe80::1", 22)),
            ("::1", ("me", "::1", 22)),
            ("h.example.com:65535", ("me", "h.example.com", 65535)),
        ];
        for (spec, want) in cases {
            let target = parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(parts(&target), want, "{spec}");
        }
    }

    #[test]
    fn rejects_bad_targets_with_a_reason() {
        let cases = [
            ("", "empty host name"),
            ("root@", "empty host name"),
            ("@host", "empty user name"),
            (":22", "empty host name"),
            ("host:", "bad port \"\""),
            ("host:0", "bad port \"0\""),
            ("host:65536", "bad port \"65536\""),
            ("host:ssh", "bad port \"ssh\""),
            ("[::1", "missing ']'"),
            ("[::1]x", "unexpected \"x\""),
            ("fe80::1:2222x", "in brackets"),
            ("a@b@c", "bad character"),
            ("-oProxyCommand=x", "bad host name"),
            ("host name", "bad host name"),
        ];
        for (spec, want) in cases {
            let message = parse(spec).expect_err(spec).to_string();
            assert!(message.contains(want), "{spec}: {message}");
            assert!(message.contains("[user@]host[:port]"), "{message}");
        }
    }

    #[test]
    fn the_user_defaults_and_fails_clearly_without_one() {
        let message = Target::parse_with("host", || None).unwrap_err().to_string();
        assert!(message.contains("cannot tell the user name"), "{message}");
        assert_eq!(parse("host").unwrap().user(), "me");
        assert!(Target::parse("host").is_ok_and(|t| !t.user().is_empty()));
    }

    #[test]
    fn displays_and_names_the_known_hosts_entry() {
        let t = parse("root@[::1]:2222").unwrap();
        assert_eq!(t.to_string(), "root@[::1]:2222");
        assert_eq!(t.known_hosts_pattern(), "[::1]:2222");
        let t = parse("root@host").unwrap();
        assert_eq!(t.to_string(), "root@host:22");
        assert_eq!(t.known_hosts_pattern(), "host");
        assert!(Target::new("root", "", 22).is_err());
        assert!(Target::new("root", "h", 0).is_err());
        assert_eq!(
            Target::new("root", "h", 2).unwrap(),
            parse("root@h:2").unwrap()
        );
    }

    fn quote(argv: &[&str]) -> String {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        shell_quote(&argv).unwrap()
    }

    #[test]
    fn quotes_for_a_posix_shell() {
        assert_eq!(
            quote(&["hosted-engine", "--vm-status"]),
            "hosted-engine --vm-status"
        );
        assert_eq!(quote(&["a b"]), "'a b'");
        assert_eq!(quote(&["it's"]), "'it'\\''s'");
        assert_eq!(quote(&[""]), "''");
        assert_eq!(
            quote(&["$HOME", "a;b", "`id`", "*", "~"]),
            "'$HOME' 'a;b' '`id`' '*' '~'"
        );
        assert_eq!(quote(&["A=b"]), "'A=b'");
        assert_eq!(quote(&["--mode=global"]), "'--mode=global'");
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        let argv: Vec<String> = [
            "a b",
            "it's",
            "$HOME",
            "a;echo pwned",
            "`id`",
            "",
            "\"",
            "\\",
            "x\ny",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut command = vec!["printf".to_owned(), "%s\\0".to_owned()];
        command.extend(argv.iter().cloned());
        let line = shell_quote(&command).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .expect("sh runs");
        let want: Vec<u8> = argv
            .iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        assert_eq!(out.stdout, want);
    }

    #[test]
    fn refuses_commands_it_cannot_send() {
        assert!(matches!(shell_quote(&[]), Err(RemoteError::BadCommand(_))));
        let nul = shell_quote(&["a\0b".to_owned()]).unwrap_err().to_string();
        assert!(nul.contains("NUL"), "{nul}");
        let long = shell_quote(&["x".repeat(COMMAND_MAX_BYTES + 1)]).unwrap_err();
        assert!(long.to_string().contains("longer than"), "{long}");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, want) in cases {
            assert_eq!(base64(plain.as_bytes(), true), want);
            assert_eq!(base64(plain.as_bytes(), false), want.trim_end_matches('='));
        }
        assert_eq!(base64(&[0xfb, 0xff], true), "+/8=");
    }

    #[test]
    fn reads_the_key_type_from_the_blob() {
        let mut blob = 11u32.to_be_bytes().to_vec();
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        assert_eq!(key_type_name(&blob).as_deref(), Some("ssh-ed25519"));
        assert_eq!(key_type_name(&blob[..8]), None);
        assert_eq!(key_type_name(&[0, 0, 0, 0]), None);
        assert_eq!(key_type_name(&[0xff, 0xff, 0xff, 0xff, b'a']), None);
    }

    #[test]
    fn options_validate_names_every_broken_rule() {
        assert!(Options::default().validate().is_ok());
        let options = Options {
            connect_timeout: Duration::ZERO,
            timeout: TIMEOUT_MAX + Duration::from_secs(1),
            output_max_bytes: 0,
            ..Options::default()
        };
        let message = options.validate().unwrap_err().to_string();
        for part in ["connect_timeout", "timeout must", "output_max_bytes"] {
            assert!(message.contains(part), "{message}");
        }
    }

    #[test]
    fn signals_map_to_the_shells_exit_codes() {
        assert_eq!(signal_number("TERM").map(|n| 128 + n), Some(143));
        assert_eq!(signal_number("KILL").map(|n| 128 + n), Some(137));
        assert_eq!(signal_number("WINCH"), None);
    }

    #[test]
    fn messages_read_well() {
        let e = RemoteError::Timeout {
            target: "root@h:22".into(),
            step: Step::KeyExchange,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(
            e.to_string(),
            "root@h:22: no answer within 5 s while exchanging keys"
        );
        let e = RemoteError::CommandNotFound {
            target: "root@h:22".into(),
            program: "hosted-engine".into(),
            stderr: "bash: line 1: hosted-engine: command not found\n".into(),
        };
        let message = e.to_string();
        assert!(
            message.starts_with("root@h:22: hosted-engine: command not found"),
            "{message}"
        );
        assert!(message.ends_with("said: bash: line 1: hosted-engine: command not found"));
        assert_eq!(key_file_kind("ecdsa-sha2-nistp256"), "ecdsa");
        assert_eq!(key_file_kind("ssh-ed25519"), "ed25519");
    }
}
