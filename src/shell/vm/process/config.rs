//! Configuration of the `process` driver and its validation.

use std::path::PathBuf;
use std::time::Duration;

/// Default time between SIGTERM and SIGKILL, as the reference's shutdown wait.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(120);
/// Default limit on the recovery command (`agent.conf` `[recovery] timeout-secs`).
pub const RECOVERY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Longest grace or timeout accepted: one day, as every timer in the configuration.
pub const DURATION_MAX: Duration = Duration::from_secs(86_400);
/// Most words in a command line (the VM's or the recovery command's).
pub const ARGS_MAX: usize = 256;
/// Most extra environment variables.
pub const ENV_MAX: usize = 64;
/// Set by the driver; the configured environment may not override them.
const RESERVED_ENV: [&str; 2] = ["HE_LEASE_EPOCH", "HE_HOST_ID"];

/// Configuration of the `process` driver. Start from [`ProcessVmConfig::new`]
/// (defaults) and check with [`ProcessVmConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessVmConfig {
    /// The engine VM command: program and arguments, no shell. The program is an
    /// absolute path or a bare name looked up in `PATH`.
    pub argv: Vec<String>,
    /// Where the running VM is recorded, e.g. `<state_dir>/engine-vm.json`.
    pub state_file: PathBuf,
    /// The VM's stdout and stderr are appended here (and the recovery command's).
    pub log_file: PathBuf,
    /// Time between SIGTERM and SIGKILL on a graceful shutdown.
    pub shutdown_grace: Duration,
    /// Extra environment for the VM and the recovery command.
    pub env: Vec<(String, String)>,
    /// Passed as `HE_HOST_ID` when set.
    pub host_id: Option<u16>,
    /// The engine-service recovery command; `None`: recovery always fails.
    pub recovery_argv: Option<Vec<String>>,
    /// The recovery command is killed after this long.
    pub recovery_timeout: Duration,
}

impl ProcessVmConfig {
    /// A configuration with the default grace, timeout and no extras.
    pub fn new(argv: Vec<String>, state_file: PathBuf, log_file: PathBuf) -> Self {
        ProcessVmConfig {
            argv,
            state_file,
            log_file,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            env: Vec::new(),
            host_id: None,
            recovery_argv: None,
            recovery_timeout: RECOVERY_TIMEOUT_DEFAULT,
        }
    }

    /// Every broken rule, all at once.
    pub fn validate(&self) -> Result<(), ProcessVmConfigError> {
        let mut problems = argv_problems("argv", &self.argv);
        if let Some(argv) = &self.recovery_argv {
            problems.extend(argv_problems("recovery_argv", argv));
        }
        for (what, path) in [
            ("state_file", &self.state_file),
            ("log_file", &self.log_file),
        ] {
            if !path.is_absolute() || path.file_name().is_none() {
                problems.push(ConfigProblem::NotAbsoluteFile {
                    what,
                    path: path.clone(),
                });
            }
        }
        if self.state_file == self.log_file {
            problems.push(ConfigProblem::SameFile(self.state_file.clone()));
        }
        for (what, value) in [
            ("shutdown_grace", self.shutdown_grace),
            ("recovery_timeout", self.recovery_timeout),
        ] {
            if value.is_zero() || value > DURATION_MAX {
                problems.push(ConfigProblem::Duration { what, value });
            }
        }
        problems.extend(env_problems(&self.env));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ProcessVmConfigError { problems })
        }
    }
}

fn argv_problems(what: &'static str, argv: &[String]) -> Vec<ConfigProblem> {
    let mut found = Vec::new();
    if argv.is_empty() || argv.len() > ARGS_MAX {
        found.push(ConfigProblem::ArgCount {
            what,
            count: argv.len(),
        });
    }
    if argv.iter().any(|a| a.contains('\0')) {
        found.push(ConfigProblem::NulByte(what));
    }
    if let Some(program) = argv.first()
        && (program.is_empty() || (program.contains('/') && !program.starts_with('/')))
    {
        found.push(ConfigProblem::Program {
            what,
            program: program.clone(),
        });
    }
    found
}

fn env_problems(env: &[(String, String)]) -> Vec<ConfigProblem> {
    let mut found = Vec::new();
    if env.len() > ENV_MAX {
        found.push(ConfigProblem::EnvCount(env.len()));
    }
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            found.push(ConfigProblem::EnvName(name.clone()));
        } else if RESERVED_ENV.contains(&name.as_str()) {
            found.push(ConfigProblem::EnvReserved(name.clone()));
        }
    }
    found
}

/// One broken rule of a [`ProcessVmConfig`]; messages name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("{what}: must have 1..={ARGS_MAX} words, has {count}")]
    ArgCount { what: &'static str, count: usize },
    #[error("{0}: contains a NUL byte")]
    NulByte(&'static str),
    #[error(
        "{what}: program {program:?} must be an absolute path or a bare name looked up in PATH"
    )]
    Program { what: &'static str, program: String },
    #[error("{what}: {path:?} is not an absolute file path")]
    NotAbsoluteFile { what: &'static str, path: PathBuf },
    #[error("state_file and log_file: both are {0:?}")]
    SameFile(PathBuf),
    #[error("{what}: {value:?} must be greater than 0 and at most one day")]
    Duration { what: &'static str, value: Duration },
    #[error("env: {0} variables, at most {ENV_MAX}")]
    EnvCount(usize),
    #[error("env: {0:?} is not a valid variable (empty, '=' or NUL)")]
    EnvName(String),
    #[error("env: {0} is set by the driver itself")]
    EnvReserved(String),
}

/// Every broken rule of a [`ProcessVmConfig`], displayed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("engine VM process driver: {}", join(&self.problems))]
pub struct ProcessVmConfigError {
    pub problems: Vec<ConfigProblem>,
}

fn join(problems: &[ConfigProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}
