//! `fencing.conf` (ours; the reference has no power fencing): the cluster's
//! fence devices, configured once beside the cluster's shared configuration
//! and read by every agent. For each host id, the fence agent that powers
//! that host off (`fence_ipmilan`, `fence_redfish`, `fence_virsh`, ... of the
//! `fence-agents` package) and the options it is given.
//!
//! ```text
//! [fencing]
//! fence-after-secs = 10
//! timeout-secs = 30
//! [host 1]
//! agent = fence_ipmilan
//! password-file = /etc/ovirt-hosted-engine-ha/fencing/host1.password
//! ip = 10.0.0.11
//! username = admin
//! lanplus = 1
//! cipher = 3
//! ```
//!
//! In a `[host N]` section `agent` and `password-file` are ours; every other
//! key is handed to the fence agent verbatim, as a `key=value` line on its
//! stdin (the fence-agents' stdin interface, `shell::fence`), in file order.
//! Passwords never appear in this file, on a command line or in a log: a
//! `password-file` holds one, in a file only root can read
//! ([`read_password_file`]), and `password`/`passwd` are refused here; so is
//! `action`, which is the agent's to choose (a fence agent given no action
//! reboots the host).
//!
//! Unlike the other files, an unknown section is an error: a misspelt
//! `[host 1]` would otherwise leave a host without fencing unnoticed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::ConfFile;
use super::document::{EntryRef, KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::he_conf::parse_host_id;
use super::values::{Fields, Violation, errors_from, format_secs, parse_secs_ms, violation_error};
use crate::core::Timings;
use crate::core::fence::FenceConf;
use crate::metadata::{HOST_ID_MAX, HostId};

/// Name of the fencing file, beside the cluster's shared configuration.
pub const FENCING_CONF_NAME: &str = "fencing.conf";
/// The cluster's `fencing.conf` beside the metadata volume `volume`, where
/// every host reads it.
pub fn fencing_conf_beside(volume: &Path) -> PathBuf {
    volume
        .parent()
        .unwrap_or(Path::new("/"))
        .join(FENCING_CONF_NAME)
}

/// Section of the cluster-wide fencing settings.
pub const FENCING_SECTION: &str = "fencing";
/// A host's section is `[host N]`, N its host id.
pub const HOST_SECTION_PREFIX: &str = "host";
/// `agent`: the fence agent's program.
pub const AGENT_KEY: &str = "agent";
/// `password-file`: where the fence device's password is.
pub const PASSWORD_FILE_KEY: &str = "password-file";

/// Default of `timeout-secs`, the bound on one fence-agent call: an `off`
/// takes fence_ipmilan its `power_wait` (2 s) plus up to `power_timeout` (20)
/// status polls a second apart, and an unreachable BMC its `power_timeout`
/// (20 s), so 30 s lets the agent report its own error first.
pub const FENCE_TIMEOUT_DEFAULT_MS: u64 = 30_000;
// fence_ipmilan's power_wait (2 s) and power_timeout (20 s) end first.
const _: () = assert!(FENCE_TIMEOUT_DEFAULT_MS > 2_000 + 20_000);
/// Longest `timeout-secs`: a fence that needs longer saves nothing against
/// waiting the lease out.
pub const FENCE_DURATION_MAX_MS: u64 = 300_000;
/// Most options in one host's section.
pub const FENCE_OPTIONS_MAX: usize = 64;
/// Largest password file read (its first line is the password).
pub const PASSWORD_FILE_MAX_BYTES: u64 = 4096;

/// One host's fence device: how to power that host off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDevice {
    /// The host it powers off (its `[host N]`).
    pub host_id: HostId,
    /// `agent`: a program name looked up on `PATH`, or an absolute path; run
    /// without arguments (any argument makes fence agents ignore stdin).
    pub agent: String,
    /// Every other key of the section, as written, in file order: each goes
    /// to the fence agent as a `key=value` line.
    pub options: Vec<(String, String)>,
    /// `password-file`: the first line of this file goes to the fence agent as
    /// `password=...` (see [`read_password_file`]).
    pub password_file: Option<PathBuf>,
}

impl FenceDevice {
    /// The fence agent's name for logs: the last component of `agent`.
    pub fn program(&self) -> &str {
        self.agent.rsplit('/').next().unwrap_or(&self.agent)
    }
}

/// The parsed `fencing.conf`. A missing file reads as no fence devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingConf {
    /// `fence-after-secs`: a lease holder silent on the storage this long may
    /// be fenced. `None` (not set): [`FenceConf::default_fence_after_ms`]
    /// ([`FencingConf::fence_after_ms`]).
    pub fence_after_ms: Option<u64>,
    /// `timeout-secs` (default [`FENCE_TIMEOUT_DEFAULT_MS`]): the bound on one
    /// fence-agent call, after which its whole process group is killed.
    pub timeout_ms: u64,
    /// Every `[host N]`, by host id.
    pub devices: BTreeMap<HostId, FenceDevice>,
    doc: KvDocument,
}

impl FencingConf {
    /// Every key of `[fencing]`.
    pub fn keys() -> Vec<&'static str> {
        vec!["fence-after-secs", "timeout-secs"]
    }

    /// `fence-after-secs` as this host runs it with `timings`: as set, or
    /// else [`FenceConf::default_fence_after_ms`] (6 s on the default
    /// timings, 20 s on the reference's).
    pub fn fence_after_ms(&self, timings: &Timings) -> u64 {
        self.fence_after_ms
            .unwrap_or_else(|| FenceConf::default_fence_after_ms(timings))
    }

    /// The core's view of this file for host `me`: when to fence, how long a
    /// fence may take, and the devices of every other host.
    pub fn core_conf(&self, me: HostId, timings: &Timings) -> FenceConf {
        FenceConf {
            fence_after_ms: self.fence_after_ms(timings),
            timeout_ms: self.timeout_ms,
            devices: self.devices.keys().copied().filter(|h| *h != me).collect(),
        }
    }

    /// `fence-after-secs` against this host's `agent.conf` timings
    /// ([`FenceConf::violations`]).
    pub fn timing_errors(&self, timings: &Timings) -> Vec<ConfigError> {
        let conf = self.core_conf(0, timings);
        conf.violations(timings)
            .into_iter()
            .map(|v| violation_error(v, &self.doc, FENCING_SECTION))
            .collect()
    }

    /// Resolves every password file given by its bare name to that file in
    /// `secrets_dir`, this host's own directory for them.
    pub fn in_secrets_dir(mut self, secrets_dir: &Path) -> FencingConf {
        for device in self.devices.values_mut() {
            if let Some(path) = &mut device.password_file
                && path.is_relative()
            {
                *path = secrets_dir.join(&*path);
            }
        }
        self
    }

    /// Loads this host's `fencing.conf` for the agent: `Ok(None)` when there
    /// is none, and every problem of the file, its timings against
    /// `timings`, its fence agents and password files otherwise
    /// ([`FencingConf::agent_errors`]). Nothing is fenced while any remains.
    pub fn load_for_agent(
        path: &Path,
        timings: &Timings,
        secrets_dir: &Path,
    ) -> Result<Option<FencingConf>, ConfigErrors> {
        if !path.exists() {
            return Ok(None);
        }
        let conf = FencingConf::load(path)?.in_secrets_dir(secrets_dir);
        let mut errors = conf.timing_errors(timings);
        errors.extend(conf.agent_errors(secrets_dir));
        errors_from(errors).map(|()| Some(conf))
    }

    /// Every broken rule between the values of `[fencing]`.
    pub fn violations(&self) -> Vec<Violation> {
        let mut bounded = vec![("timeout-secs", self.timeout_ms)];
        if let Some(ms) = self.fence_after_ms {
            bounded.push(("fence-after-secs", ms));
        }
        bounded
            .into_iter()
            .filter(|(_, ms)| *ms == 0 || *ms > FENCE_DURATION_MAX_MS)
            .map(|(key, ms)| {
                let message = format!(
                    "{key} ({}) must be greater than 0 and at most {}",
                    format_secs(ms),
                    format_secs(FENCE_DURATION_MAX_MS)
                );
                Violation::new(&[key], message)
            })
            .collect()
    }

    /// What only a host that runs the fence agents needs, read from the disk:
    /// this file and every fence agent trusted with root's power
    /// ([`crate::trust`]), every agent installed, every password file in
    /// `secrets_dir` (this host's own directory for them,
    /// [`super::ConfigPaths::fencing_secrets_dir`]: the shared file must not
    /// make root send any other file's first line to an address it names),
    /// readable and safe ([`read_password_file`]). Nothing is run before
    /// these are clear.
    pub fn agent_errors(&self, secrets_dir: &Path) -> Vec<ConfigError> {
        let file = self.doc.path();
        let mut errors = Vec::new();
        if file.exists()
            && let Err(e) = crate::trust::check_file(file)
        {
            let message = format!("not trusted with the fence agents root runs: {e}");
            errors.push(ConfigError::new(ErrorKind::Untrusted, file, message));
        }
        for device in self.devices.values() {
            errors.extend(self.program_error(device));
            if let Some(path) = &device.password_file
                && !path.starts_with(secrets_dir)
            {
                let line = self.line_of(device.host_id, PASSWORD_FILE_KEY);
                let message = format!(
                    "{} is not in {}, this host's directory for fence passwords",
                    path.display(),
                    secrets_dir.display()
                );
                let error = ConfigError::new(ErrorKind::Untrusted, file, message);
                errors.push(error.at_line(line).with_key(PASSWORD_FILE_KEY));
            } else if let Some(path) = &device.password_file
                && let Err(message) = read_password_file(path)
            {
                let line = self.line_of(device.host_id, PASSWORD_FILE_KEY);
                let error = ConfigError::new(ErrorKind::Untrusted, file, message);
                errors.push(error.at_line(line).with_key(PASSWORD_FILE_KEY));
            }
        }
        errors
    }

    /// The fence agent of `device` missing, or not trusted to run as root.
    fn program_error(&self, device: &FenceDevice) -> Option<ConfigError> {
        let (kind, message) = match crate::trust::check_program(Path::new(&device.agent)) {
            Ok(Some(_)) => return None,
            Ok(None) => (
                ErrorKind::Value,
                format!(
                    "{}: no such program (is the fence-agents package installed?)",
                    device.agent
                ),
            ),
            Err(e) => (
                ErrorKind::Untrusted,
                format!(
                    "the program {} is not trusted to run as root: {e}",
                    device.agent
                ),
            ),
        };
        let line = self.line_of(device.host_id, AGENT_KEY);
        let error = ConfigError::new(kind, self.doc.path(), message);
        Some(error.at_line(line).with_key(AGENT_KEY))
    }

    /// The line of `key` in the section of `host_id`.
    fn line_of(&self, host_id: HostId, key: &str) -> Option<usize> {
        self.doc
            .entries()
            .find(|e| host_section(e.section) == Ok(host_id) && e.key.eq_ignore_ascii_case(key))
            .and_then(|e| e.line)
    }
}

impl ConfFile for FencingConf {
    const SYNTAX: Syntax = Syntax::Ini;
    // No file: no fence devices.
    const REQUIRED: bool = false;
    // No password in it, but the BMCs' addresses and user names are nobody
    // else's business.
    const NEW_FILE_MODE: u32 = 0o600;

    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors> {
        let mut f = Fields::new(&doc);
        let s = FENCING_SECTION;
        let timeout_ms = f.or(s, "timeout-secs", FENCE_TIMEOUT_DEFAULT_MS, parse_secs_ms);
        let fence_after_ms = f.value(s, "fence-after-secs", parse_secs_ms);
        let mut errors = f.finish().err().map_or_else(Vec::new, |e| e.0);
        let devices = read_devices(&doc, &mut errors);
        if !errors.is_empty() {
            // In line order, as an operator fixes them; whole-section errors
            // (no line) last.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            return Err(ConfigErrors(errors));
        }
        let conf = FencingConf {
            fence_after_ms,
            timeout_ms,
            devices,
            doc,
        };
        conf.validate()?;
        Ok(conf)
    }

    fn document(&self) -> &KvDocument {
        &self.doc
    }

    /// `[host N]` stands for every host's section.
    fn known_keys() -> Vec<(&'static str, &'static str)> {
        let fencing = Self::keys().into_iter().map(|k| (FENCING_SECTION, k));
        let host = [AGENT_KEY, PASSWORD_FILE_KEY].map(|k| ("host N", k));
        fencing.chain(host).collect()
    }

    fn validate(&self) -> Result<(), ConfigErrors> {
        let errors = self
            .violations()
            .into_iter()
            .map(|v| violation_error(v, &self.doc, FENCING_SECTION))
            .collect();
        errors_from(errors)
    }

    /// Unknown keys of `[fencing]` only: every key of a host's section is
    /// meant for its fence agent.
    fn unknown_keys(&self) -> Vec<EntryRef<'_>> {
        let known = Self::keys();
        self.doc
            .entries()
            .filter(|e| e.section == FENCING_SECTION)
            .filter(|e| !known.iter().any(|k| k.eq_ignore_ascii_case(e.key)))
            .collect()
    }
}

/// The host id of a `[host N]` section name.
fn host_section(name: &str) -> Result<HostId, String> {
    let unknown = || {
        format!(
            "unknown section [{name}] (expected [{FENCING_SECTION}] or \
             [{HOST_SECTION_PREFIX} N], N a host id 1..={HOST_ID_MAX})"
        )
    };
    let rest = name.strip_prefix(HOST_SECTION_PREFIX).ok_or_else(unknown)?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(unknown());
    }
    parse_host_id(rest.trim()).map_err(|e| format!("[{name}]: {e}"))
}

/// Every `[host N]` section; a problem goes to `errors` and leaves its host out.
fn read_devices(doc: &KvDocument, errors: &mut Vec<ConfigError>) -> BTreeMap<HostId, FenceDevice> {
    let mut devices = BTreeMap::new();
    let mut headers: BTreeMap<HostId, Option<usize>> = BTreeMap::new();
    let section_error =
        |kind, line, message: String| ConfigError::new(kind, doc.path(), message).at_line(line);
    for (section, line) in doc.sections() {
        if section == FENCING_SECTION {
            continue;
        }
        let host_id = match host_section(section) {
            Ok(host_id) => host_id,
            Err(message) => {
                errors.push(section_error(ErrorKind::Syntax, line, message));
                continue;
            }
        };
        if let Some(first) = headers.insert(host_id, line) {
            let first = first.map_or(String::new(), |l| format!(" (first on line {l})"));
            let message = format!("host {host_id} has a second section [{section}]{first}");
            errors.push(section_error(ErrorKind::Duplicate, line, message));
            continue;
        }
        match read_device(doc, section, line, host_id) {
            Ok(device) => {
                devices.insert(host_id, device);
            }
            Err(found) => errors.extend(found),
        }
    }
    devices
}

/// What one key of a host's section is.
enum HostKey {
    Agent,
    PasswordFile,
    /// Refused, and why.
    Refused(&'static str),
    /// For the fence agent.
    Option,
}

/// Ours, refused or the fence agent's. Fence agents read `-` and `_` in a key
/// alike, and INI keys are read without case.
fn classify(key: &str) -> HostKey {
    let normal = key.to_ascii_lowercase().replace('_', "-");
    match normal.as_str() {
        "agent" => HostKey::Agent,
        "password-file" if key.eq_ignore_ascii_case(PASSWORD_FILE_KEY) => HostKey::PasswordFile,
        "password-file" => HostKey::Refused("write it password-file"),
        "action" => HostKey::Refused(
            "the action is the agent's to choose (status, off, on), never the file's: a fence \
             agent given none reboots the host",
        ),
        key if key.contains("passw") => HostKey::Refused(
            "a password is never written here: put it in a file only root can read and name \
             that file in password-file",
        ),
        key if key.contains("secret") || key == "hexadecimal-kg" || key == "community" => {
            HostKey::Refused(
                "a secret is never written here: this file is on the shared storage, which \
                 more people than root can read",
            )
        }
        key if key.ends_with("-script") || key.ends_with("-path") || key == "ssh-options" => {
            HostKey::Refused(
                "it names a program (or its arguments) the fence agent would run as root: \
                 whoever can write this shared file would run commands on every host",
            )
        }
        key if key.starts_with("debug") || key.starts_with("verbose") || key == "identity-file" => {
            HostKey::Refused(
                "it makes the fence agent write or read a file as root of the file's choosing, \
                 or log its command lines with the password",
            )
        }
        _ => HostKey::Option,
    }
}

/// One `[host N]` section, or every problem in it.
fn read_device(
    doc: &KvDocument,
    section: &str,
    header: Option<usize>,
    host_id: HostId,
) -> Result<FenceDevice, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let (mut agent, mut password_file, mut options) = (None, None, Vec::new());
    for entry in doc.entries().filter(|e| e.section == section) {
        let error = |kind, message: String| {
            ConfigError::new(kind, doc.path(), message)
                .at_line(entry.line)
                .with_key(entry.key)
        };
        let parsed = match classify(entry.key) {
            HostKey::Agent => parse_agent(entry.value).map(|a| agent = Some(a)),
            HostKey::PasswordFile => {
                parse_password_file(entry.value).map(|p| password_file = Some(p))
            }
            HostKey::Refused(why) => Err(format!("not allowed in fencing.conf: {why}")),
            HostKey::Option => check_option_value(entry.value)
                .map(|()| options.push((entry.key.to_string(), entry.value.to_string()))),
        };
        if let Err(message) = parsed {
            let empty_agent =
                matches!(classify(entry.key), HostKey::Agent) && entry.value.is_empty();
            let kind = if empty_agent {
                ErrorKind::Missing
            } else {
                ErrorKind::Value
            };
            errors.push(error(kind, message));
        }
    }
    let missing = |message: String| {
        ConfigError::new(ErrorKind::Missing, doc.path(), message)
            .at_line(header)
            .with_key(AGENT_KEY)
    };
    if agent.is_none() && !errors.iter().any(|e| e.key.as_deref() == Some(AGENT_KEY)) {
        let message = format!("required key is missing in [{section}] (the fence agent to run)");
        errors.push(missing(message));
    }
    if options.len() > FENCE_OPTIONS_MAX {
        let message = format!("[{section}] has more than {FENCE_OPTIONS_MAX} options");
        errors.push(ConfigError::new(ErrorKind::TooLarge, doc.path(), message).at_line(header));
    }
    match agent {
        Some(agent) if errors.is_empty() => Ok(FenceDevice {
            host_id,
            agent,
            options,
            password_file,
        }),
        _ => Err(errors),
    }
}

/// One program, by name on `PATH` or by absolute path, without arguments.
fn parse_agent(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("required key is empty (the fence agent to run)".into());
    }
    if raw.chars().any(char::is_whitespace) {
        return Err(format!(
            "{raw:?} is not one program: a fence agent takes no arguments here (it reads its \
             options on stdin: write them as keys of this section)"
        ));
    }
    if (raw.contains('/') && !raw.starts_with('/')) || raw.ends_with('/') {
        return Err(format!(
            "{raw:?} is neither a program name looked up on PATH nor an absolute path"
        ));
    }
    let name = raw.rsplit('/').next().unwrap_or(raw);
    if !is_fence_agent_name(name) {
        return Err(format!(
            "{raw:?} is not a fence agent: only programs named fence_<name> (lower case \
             letters, digits, _) are run, since each option line of this section goes to it"
        ));
    }
    Ok(raw.to_string())
}

/// `fence_` and then lower case letters, digits and `_`, as every agent of
/// fence-agents is named.
pub fn is_fence_agent_name(name: &str) -> bool {
    name.strip_prefix("fence_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// An absolute path to a file, or a bare file name: that file in each host's
/// own directory for them (resolved by [`FencingConf::in_secrets_dir`]), so
/// that the one shared file serves hosts whose directories differ. Where an
/// absolute one may be is checked against that directory
/// ([`FencingConf::agent_errors`]).
fn parse_password_file(raw: &str) -> Result<PathBuf, String> {
    let bare = !raw.contains('/') && !raw.is_empty() && raw != "." && raw != "..";
    if !bare && (!raw.starts_with('/') || raw.ends_with('/')) {
        return Err(format!(
            "{raw:?} is neither an absolute path to a file nor a file name (in this host's \
             fencing directory)"
        ));
    }
    if raw.split('/').any(|part| part == "..") {
        return Err(format!("{raw:?} climbs out of its directory (..)"));
    }
    Ok(PathBuf::from(raw))
}

/// A value goes to the fence agent as one line: a line break in it would end
/// that line early and start another option (Python reads stdin with universal
/// newlines, so `\r` breaks a line too). The document's parser refuses both
/// already; this keeps the rule where the line is made.
fn check_option_value(value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r']) {
        return Err("value holds a line break, which would end the fence agent's line".into());
    }
    Ok(())
}

/// A fence device's password, read from its `password-file`. Never printed:
/// its `Debug` shows no character of it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password, for the one line that hands it to the fence agent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Reads a fence device's password: the first line of `path` (without its
/// line end). The file must be one that only root can read or change: owned
/// by root (or by the user running us, as [`crate::trust`] has it), no
/// permission for its group or others (mode 0600 or 0400), not a symbolic
/// link, in directories only root can change. Otherwise another user could
/// read the BMC's password, or plant one of theirs. Errors name the file and
/// say why, never what is in it.
pub fn read_password_file(path: &Path) -> Result<Password, String> {
    let shown = path.display();
    crate::trust::check_file(path).map_err(|e| format!("password file {e}"))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("password file {shown}: {e}"))?;
    // The opened file itself, so that a file swapped since the check is caught.
    let meta = file
        .metadata()
        .map_err(|e| format!("password file {shown}: {e}"))?;
    check_secret_file(&meta).map_err(|why| format!("password file {shown}: {why}"))?;
    let mut bytes = Vec::new();
    file.take(PASSWORD_FILE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("password file {shown}: {e}"))?;
    first_line_password(&bytes).map_err(|why| format!("password file {shown}: {why}"))
}

/// A regular file of root's (or ours) that no one else may read or change.
fn check_secret_file(meta: &std::fs::Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "owned by uid {}, not root: chown root it (the password must be root's alone)",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "other users may read or change it (mode {mode:04o}): chmod 600 it"
        ));
    }
    Ok(())
}

/// The password: the first line, without `\n` or `\r\n`.
fn first_line_password(bytes: &[u8]) -> Result<Password, String> {
    if bytes.len() as u64 > PASSWORD_FILE_MAX_BYTES {
        return Err(format!(
            "larger than {PASSWORD_FILE_MAX_BYTES} bytes: not a password file"
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8 text".to_string())?;
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err("its first line, the password, is empty".into());
    }
    if line.chars().any(char::is_control) {
        return Err("its first line holds a control character".into());
    }
    // Fence agents strip every line they read: such a password would not be
    // the one sent.
    if line.trim() != line {
        return Err("its first line starts or ends with a space, which fence agents strip".into());
    }
    Ok(Password(line.to_string()))
}

#[cfg(test)]
mod tests;
