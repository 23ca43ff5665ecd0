//! Configuration: `hosted-engine.conf`, `agent.conf`, `ha.conf` and `broker.conf`
//! (`docs/compat.md` section 9), ours `fencing.conf` (the cluster's fence
//! devices), plus where they live.
//!
//! Every file is read into an order-preserving [`KvDocument`] and then into a typed
//! view with defaults and a `validate()` that names every broken rule. Errors name
//! the file, the line and the key ([`ConfigError`]). Keys we do not know are kept
//! and written back; writes are atomic, and read-modify-write cycles hold a sidecar
//! `flock` ([`ConfFile::edit`], [`HaConf::update`]).
//!
//! The example files under `packaging/etc/` document every key with its default;
//! a test keeps them in step with the code.

mod agent_conf;
mod broker_conf;
mod document;
mod error;
mod fencing_conf;
mod fsio;
mod ha_conf;
mod he_conf;
mod paths;
mod values;

use std::path::Path;

pub use agent_conf::{
    AgentConf, BASE_SCORE_MAX, RECOVERY_ARGS_MAX, RECOVERY_SECTION, RecoveryConf, SCORE_SECTION,
    ScoreConf, TIMING_COUNT_MAX, TIMING_SECTION, Timings,
};
pub use broker_conf::{
    BrokerConf, DEFAULT_STATE_TRANSITION, DESTINATION_EMAILS_MAX, EMAIL_SECTION, EmailConf,
    NOTIFY_SECTION, NotifyConf, SMTP_TIMEOUT_MAX_MS,
};
pub use document::{
    EntryRef, FILE_SIZE_MAX_BYTES, FLAT_SECTION, KvDocument, LINE_LENGTH_MAX_BYTES, Syntax,
    split_dotted_key,
};
pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use fencing_conf::{
    AGENT_KEY, FENCE_DURATION_MAX_MS, FENCE_OPTIONS_MAX, FENCE_TIMEOUT_DEFAULT_MS,
    FENCING_CONF_NAME, FENCING_SECTION, FenceDevice, FencingConf, HOST_SECTION_PREFIX,
    PASSWORD_FILE_KEY, PASSWORD_FILE_MAX_BYTES, Password, fencing_conf_beside, is_fence_agent_name,
    read_password_file,
};
pub use fsio::{FileLock, LOCK_TIMEOUT_MS, lock_exclusive, lock_path, read_bounded, write_atomic};
pub use ha_conf::{HaConf, LOCAL_MAINTENANCE, LOCAL_MAINTENANCE_MANUAL};
pub use he_conf::{
    DEFAULT_BRIDGE, DEFAULT_ENGINE_MEMORY_MIB, DEFAULT_MNT_ROOT, DomainType, HA_AGENT_DIR,
    HE_CONF_KEYS, HOST_ID_MAX, HostedEngineConf, METADATA_FILE, NetworkTest, VmDriverKind,
    WATCHDOG_NONE, WATCHDOG_NONE_ACK_KEY, WATCHDOG_NONE_ACK_VALUE, WatchdogSetting, is_uuid,
    storage_mount_point, vdsm_mount_name,
};
pub use paths::{
    BROKER_CONF_NAME, ConfigPathArgs, ConfigPaths, DEFAULT_AGENT_CONF, DEFAULT_HE_CONF,
    DEFAULT_RUNTIME_DIR, DEFAULT_STATE_DIR, HA_CONF_NAME, PATH_ENV_VARS,
};
pub use values::{DURATION_MAX_MS, Violation, format_bool, format_secs, parse_bool, parse_secs_ms};

/// What the configuration files have in common: a syntax, whether the file
/// must exist, a typed view built from a document, and validation.
pub trait ConfFile: Sized {
    /// Flat `key=value` or INI.
    const SYNTAX: Syntax;
    /// Whether a missing file is an error (otherwise it reads as all defaults).
    const REQUIRED: bool;
    /// Permission bits of the file when an edit creates it.
    const NEW_FILE_MODE: u32 = 0o644;

    /// The typed view of `doc`: every bad value, then (if all parsed) every broken
    /// relation, as errors naming file, line and key.
    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors>;

    /// The document the view was built from (comments and unknown keys included).
    fn document(&self) -> &KvDocument;

    /// Every `(section, key)` the typed view interprets (section `""` for flat
    /// files).
    fn known_keys() -> Vec<(&'static str, &'static str)>;

    /// Every broken rule between the typed values (already run by
    /// [`ConfFile::from_document`]; public for callers that build values in code).
    fn validate(&self) -> Result<(), ConfigErrors>;

    /// Reads and checks the file at `path`.
    fn load(path: &Path) -> Result<Self, ConfigErrors> {
        Self::from_document(fsio::read_document(path, Self::SYNTAX, Self::REQUIRED)?)
    }

    /// Parses and checks `text` as if read from `path`.
    fn parse(path: &Path, text: &str) -> Result<Self, ConfigErrors> {
        Self::from_document(KvDocument::parse(path, Self::SYNTAX, text)?)
    }

    /// Read-modify-write of the file under its lock: `change` edits the document
    /// (e.g. `doc.set("email", "smtp-port", "587")`), the result must load without
    /// errors, and only then is it written back atomically, every other line as it
    /// was. Returns the new typed view.
    fn edit(
        path: &Path,
        change: impl FnOnce(&mut KvDocument) -> Result<(), ConfigError>,
    ) -> Result<Self, ConfigErrors> {
        fsio::locked_edit(
            path,
            Self::SYNTAX,
            Self::REQUIRED,
            Self::NEW_FILE_MODE,
            |doc| {
                change(doc)?;
                Self::from_document(doc.clone())
            },
        )
    }

    /// Entries the typed view does not interpret (kept and written back; the
    /// agent logs them once, as they are often typos).
    fn unknown_keys(&self) -> Vec<EntryRef<'_>> {
        let known = Self::known_keys();
        let syntax = Self::SYNTAX;
        self.document()
            .entries()
            .filter(|e| {
                !known.iter().any(|(section, key)| {
                    *section == e.section
                        && match syntax {
                            Syntax::Flat => *key == e.key,
                            Syntax::Ini => key.eq_ignore_ascii_case(e.key),
                        }
                })
            })
            .collect()
    }
}

/// All four files of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where they were read from.
    pub paths: ConfigPaths,
    /// `hosted-engine.conf`.
    pub hosted_engine: HostedEngineConf,
    /// `agent.conf`.
    pub agent: AgentConf,
    /// `ha.conf`.
    pub ha: HaConf,
    /// `broker.conf`.
    pub broker: BrokerConf,
}

impl Config {
    /// Loads every file; on failure returns the problems of all of them, so one
    /// run shows everything to fix.
    pub fn load(paths: &ConfigPaths) -> Result<Config, ConfigErrors> {
        Self::load_checked(paths, false)
    }

    /// [`Config::load`] plus what only the agent needs
    /// ([`HostedEngineConf::agent_errors`]: a watchdog, or its absence
    /// acknowledged): what `ovirt-ha-agent` and its `--check-config` load.
    pub fn load_for_agent(paths: &ConfigPaths) -> Result<Config, ConfigErrors> {
        Self::load_checked(paths, true)
    }

    fn load_checked(paths: &ConfigPaths, for_agent: bool) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let hosted_engine = keep(HostedEngineConf::load(&paths.he_conf), &mut errors);
        let he_end = errors.len();
        let agent = keep(AgentConf::load(&paths.agent_conf), &mut errors);
        let ha = keep(HaConf::load(&paths.ha_conf), &mut errors);
        let broker = keep(BrokerConf::load(&paths.broker_conf), &mut errors);
        if for_agent && let Some(he) = &hosted_engine {
            // In file order: hosted-engine.conf's problems first.
            let timings = agent.as_ref().map(|a| &a.timings);
            errors.splice(he_end..he_end, he.agent_errors(timings));
        }
        if for_agent {
            errors.extend(untrusted(&[&paths.he_conf, &paths.agent_conf]));
            if let Some(he) = &hosted_engine {
                let programs = [
                    ("vm_command", &he.vm_command),
                    ("storage_connect_command", &he.storage_connect_command),
                ];
                errors.extend(untrusted_programs(&paths.he_conf, &programs));
            }
            if let Some(agent) = &agent {
                let programs = [("[recovery] command", &agent.recovery.command)];
                errors.extend(untrusted_programs(&paths.agent_conf, &programs));
            }
            if broker
                .as_ref()
                .is_some_and(|b| b.email.smtp_password.is_some())
            {
                errors.extend(exposed_secret(&paths.broker_conf));
            }
        }
        match (hosted_engine, agent, ha, broker) {
            (Some(hosted_engine), Some(agent), Some(ha), Some(broker)) if errors.is_empty() => {
                Ok(Config {
                    paths: paths.clone(),
                    hosted_engine,
                    agent,
                    ha,
                    broker,
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// The agent runs what `hosted-engine.conf` (`vm_command`,
/// `storage_connect_command`) and `agent.conf` (`[recovery] command`) name,
/// as root: each must be a file that only root or the agent's user can
/// change, in directories that only they can change
/// ([`crate::trust`]). A missing file is reported by its load.
fn untrusted(files: &[&Path]) -> Vec<ConfigError> {
    files
        .iter()
        .filter(|file| file.exists())
        .filter_map(|file| {
            let e = crate::trust::check_file(file).err()?;
            Some(ConfigError::new(
                ErrorKind::Untrusted,
                file,
                format!("not trusted with the commands the agent runs: {e}"),
            ))
        })
        .collect()
}

/// The programs `file` names under `keys` that the agent must not run
/// (`crate::trust::check_program`): another user could change them.
fn untrusted_programs(file: &Path, keys: &[(&str, &Option<Vec<String>>)]) -> Vec<ConfigError> {
    keys.iter()
        .filter_map(|(key, argv)| {
            let program = argv.as_ref()?.first()?;
            let e = crate::trust::check_program(Path::new(program)).err()?;
            Some(ConfigError::new(
                ErrorKind::Untrusted,
                file,
                format!("{key}: the program {program} is not trusted to run as this user: {e}"),
            ))
        })
        .collect()
}

/// A file holding a secret (`broker.conf`'s `smtp-password`) that other users
/// can read: the agent does not use it, as `ssh` will not use such a key.
fn exposed_secret(file: &Path) -> Option<ConfigError> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = std::fs::metadata(file).ok()?.mode() & 0o7777;
    (mode & 0o044 != 0).then(|| {
        ConfigError::new(
            ErrorKind::Untrusted,
            file,
            format!(
                "holds smtp-password but other users can read it (mode {mode:04o}): \
                 chmod 600 it"
            ),
        )
    })
}

fn keep<T>(result: Result<T, ConfigErrors>, errors: &mut Vec<ConfigError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(ConfigErrors(found)) => {
            errors.extend(found);
            None
        }
    }
}
