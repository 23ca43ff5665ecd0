//! The host key check: the known hosts files read (bounded), the server's key
//! compared per key type, `@revoked` keys refused, and with accept-new the key
//! of a host that has none appended.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ssh2::{CheckResult, KnownHostFileKind, MethodType, Session};

use super::error::{RemoteError, Step, os_reason};
use super::local_user::home_dir;
use super::target::Target;
use super::{HostKey, HostKeyPolicy, KNOWN_HOSTS_MAX_BYTES, Options};

/// The known hosts files: the user's (read, appended to) and maybe the system's.
pub(super) struct KnownHostsFiles {
    user: PathBuf,
    system: Option<PathBuf>,
}

impl KnownHostsFiles {
    pub(super) fn new(options: &Options) -> Result<KnownHostsFiles, RemoteError> {
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
pub(super) struct KnownKeys {
    by_type: BTreeMap<String, ssh2::KnownHosts>,
    revoked: Vec<String>,
}

impl KnownKeys {
    pub(super) fn load(
        session: &Session,
        files: &KnownHostsFiles,
    ) -> Result<KnownKeys, RemoteError> {
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
    pub(super) fn prefer_known_types(&self, session: &Session, target: &Target) {
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
pub(super) fn verify_host_key(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
