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
//!
//! The parts (private modules): `target` parses `[user@]host[:port]`, `command`
//! quotes the command line for the remote shell, `connect` resolves and
//! connects, `deadline` bounds every step after, `known_hosts` checks the
//! server's host key, `auth` logs in, `exec` runs the command and reads its
//! answer; `error` holds [`RemoteError`], and `local_user` the local user's name
//! and home directory. [`run`] strings them together.

mod auth;
mod command;
mod connect;
mod deadline;
mod error;
mod exec;
mod known_hosts;
mod local_user;
pub mod ssh_config;
mod target;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ssh2::Session;

pub use command::shell_quote;
pub use error::{RemoteError, Step};
pub use target::Target;

use auth::authenticate;
use connect::connect;
use deadline::{Deadline, HangUp};
use error::os_reason;
use exec::execute;
use known_hosts::{KnownHostsFiles, KnownKeys, verify_host_key};

/// The default SSH port.
pub const DEFAULT_PORT: u16 = 22;

/// Where `ssh_config` is read from by default: `~/.ssh/config` of the
/// effective user's home directory in the password database, as ssh reads
/// it.
pub fn default_ssh_config() -> Option<PathBuf> {
    local_user::passwd_home().map(|home| home.join(".ssh/config"))
}

/// Refuses a client configuration another user could have changed, as ssh
/// does ("Bad owner or permissions"): it must be owned by us or root and
/// writable by no one else.
fn check_config_owner(file: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = match std::fs::metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    if (meta.uid() != me && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: bad owner or permissions (uid {}, mode {:04o}): another user could change \
             where --remote goes",
            file.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// The target `spec` (`[user@]host[:port]`, `host` maybe an alias) as
/// `ssh spec` would reach it with the client configuration `config` (`None`:
/// none read): what the spec says first, then the configuration's `Host`
/// blocks, then the defaults (`$USER`, 22). Also the configuration's
/// `IdentityFile`, if any.
pub fn resolve(
    spec: &str,
    config: Option<&std::path::Path>,
) -> Result<(Target, Option<PathBuf>), RemoteError> {
    let (user, alias, port) = Target::split(spec)?;
    let found = match (
        config,
        local_user::passwd_home().or_else(local_user::home_dir),
    ) {
        (Some(file), Some(home)) => {
            check_config_owner(file).map_err(|reason| RemoteError::BadTarget {
                spec: spec.to_owned(),
                reason,
            })?;
            let me = local_user::default_user().unwrap_or_default();
            ssh_config::lookup(file, &alias, &home, &me, user.as_deref()).map_err(|reason| {
                RemoteError::BadTarget {
                    spec: spec.to_owned(),
                    reason: format!("ssh configuration: {reason}"),
                }
            })?
        }
        _ => ssh_config::HostConfig::default(),
    };
    let user = user
        .or(found.user)
        .or_else(local_user::default_user)
        .ok_or_else(|| RemoteError::BadTarget {
            spec: spec.to_owned(),
            reason: "cannot tell the user name ($USER unset); write user@host".into(),
        })?;
    let host = found.hostname.unwrap_or(alias);
    let target = Target::new(&user, &host, port.or(found.port).unwrap_or(DEFAULT_PORT))?;
    Ok((target, found.identity_file))
}
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
    let hang_up = HangUp::arm(&socket, deadline.at()).map_err(|e| RemoteError::Network {
        target: target.to_string(),
        step: Step::Connecting,
        reason: os_reason(&e),
    })?;
    let output = converse(
        target, options, &files, stream, &socket, &command, &deadline,
    )
    .map_err(|e| match hang_up.fired() {
        // Whatever libssh2 made of the closed socket: it was the deadline.
        true => deadline.timed_out(deadline.step()),
        false => e,
    })?;
    drop(hang_up);
    if output.exit_code == EXIT_COMMAND_NOT_FOUND && output.signal.is_none() {
        return Err(RemoteError::CommandNotFound {
            target: target.to_string(),
            program: argv[0].clone(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output)
}

/// Everything after the TCP connect: key exchange, host key, login, the
/// command, the goodbye.
fn converse(
    target: &Target,
    options: &Options,
    files: &KnownHostsFiles,
    stream: std::net::TcpStream,
    socket: &std::net::TcpStream,
    command: &str,
    deadline: &Deadline,
) -> Result<Output, RemoteError> {
    let mut session = Session::new().map_err(|e| deadline.ssh(Step::KeyExchange, &e))?;
    let known = KnownKeys::load(&session, files)?;
    known.prefer_known_types(&session, target);
    session.set_tcp_stream(stream);
    deadline.arm(&session, Step::KeyExchange)?;
    session
        .handshake()
        .map_err(|e| deadline.ssh(Step::KeyExchange, &e))?;
    verify_host_key(&session, target, options.host_key_policy, files, &known)?;
    authenticate(&session, target, options, deadline)?;
    let output = execute(&session, socket, command, options, deadline)?;
    // Best effort: the answer is complete whatever the goodbye does.
    if deadline.arm(&session, Step::Closing).is_ok() {
        let _ = session.disconnect(None, "done", None);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
