//! [`RemoteError`], the [`Step`] a failure happened in, and the words for
//! libssh2's and the system's errors: lowercase, one phrase, object first.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ssh2::ErrorCode;

use super::HostKey;

// libssh2's error codes (`libssh2.h`); `ssh2` exposes them only as numbers.
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
pub(super) const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

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
/// [`Target`](super::Target)'s `user@host:port`.
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
    /// [`Options::validate`](super::Options::validate) failed.
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
    /// The command wrote more than
    /// [`Options::output_max_bytes`](super::Options::output_max_bytes).
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

pub(super) fn ssh_reason(code: ErrorCode, message: &str) -> String {
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

pub(super) fn lowercase(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An I/O error as one lowercase phrase: `no route to host`.
pub(super) fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text
        .find(" (os error")
        .map_or(text.as_str(), |at| &text[..at]);
    lowercase(text)
}

pub(super) fn is_timeout(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT)
    )
}

/// A failure that ends the session (timeout, closed connection), not just a key.
pub(super) fn is_fatal(e: &ssh2::Error) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
