//! How a `hosted-engine` command fails: its exit codes, and [`Failure`], what
//! to print and the class `--json` names. A leaf: every command module uses
//! it, and it uses none of them.

/// `hosted-engine` exit codes (the man page lists them).
pub const EXIT_OK: i32 = 0;
/// The command failed, or answered "no" (e.g. not deployed, engine not up).
pub const EXIT_FAILURE: i32 = 1;
/// The configuration could not be read.
pub const EXIT_CONFIG: i32 = 2;

/// The reference's answer when `hosted-engine.conf` names no engine VM.
pub const NOT_DEPLOYED: &str = "You must run deploy first";

/// The class of a failure, which `--json` prints as `error-kind`
/// ([`FailureKind::as_str`]; docs/operations.md lists the JSON error shape).
/// Scripts match on these words: they never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// `systemctl enable --now` of the agent failed at the end of a deploy.
    Agent,
    /// The local agent is not answering.
    AgentDown,
    /// A key is in more than one configuration file.
    Ambiguous,
    /// A deploy answer is missing, invalid or contradicts the cluster's.
    Answers,
    /// The configuration could not be read (exit [`EXIT_CONFIG`]).
    Config,
    /// The engine VM's console could not be reached or changed.
    Console,
    /// A metadata slot could not be encoded.
    Encode,
    /// The engine VM runs already.
    Exists,
    /// The local agent did not take a VM request within its deadline.
    Expired,
    /// A local file, stdout or the terminal failed.
    Io,
    /// No engine VM runs here to stop.
    NoVm,
    /// `hosted-engine.conf` names no engine VM ([`NOT_DEPLOYED`]).
    NotDeployed,
    /// A configuration key is in none of the files.
    NotFound,
    /// The agent took a maintenance mode its slot does not show in time.
    NotPublished,
    /// The local agent answered with something else than asked.
    Protocol,
    /// The command is refused in the cluster's or the host's current state.
    Refused,
    /// `--remote` could not run the command on the other host.
    Remote,
    /// The engine VM did not launch.
    StartFailed,
    /// The engine VM did not stop.
    StopFailed,
    /// The shared storage failed.
    Storage,
    /// Neither the local agent nor the shared storage gave a status.
    Unavailable,
    /// Not supported here (an option, a storage type, a VM driver).
    Unsupported,
    /// The command line is wrong.
    Usage,
}

impl FailureKind {
    /// Every kind, for the tests.
    #[cfg(test)]
    const ALL: [FailureKind; 23] = [
        FailureKind::Agent,
        FailureKind::AgentDown,
        FailureKind::Ambiguous,
        FailureKind::Answers,
        FailureKind::Config,
        FailureKind::Console,
        FailureKind::Encode,
        FailureKind::Exists,
        FailureKind::Expired,
        FailureKind::Io,
        FailureKind::NoVm,
        FailureKind::NotDeployed,
        FailureKind::NotFound,
        FailureKind::NotPublished,
        FailureKind::Protocol,
        FailureKind::Refused,
        FailureKind::Remote,
        FailureKind::StartFailed,
        FailureKind::StopFailed,
        FailureKind::Storage,
        FailureKind::Unavailable,
        FailureKind::Unsupported,
        FailureKind::Usage,
    ];

    /// The kebab-case word `--json` prints as `error-kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Agent => "agent",
            FailureKind::AgentDown => "agent-down",
            FailureKind::Ambiguous => "ambiguous",
            FailureKind::Answers => "answers",
            FailureKind::Config => "config",
            FailureKind::Console => "console",
            FailureKind::Encode => "encode",
            FailureKind::Exists => "exists",
            FailureKind::Expired => "expired",
            FailureKind::Io => "io",
            FailureKind::NoVm => "no-vm",
            FailureKind::NotDeployed => "not-deployed",
            FailureKind::NotFound => "not-found",
            FailureKind::NotPublished => "not-published",
            FailureKind::Protocol => "protocol",
            FailureKind::Refused => "refused",
            FailureKind::Remote => "remote",
            FailureKind::StartFailed => "start-failed",
            FailureKind::StopFailed => "stop-failed",
            FailureKind::Storage => "storage",
            FailureKind::Unavailable => "unavailable",
            FailureKind::Unsupported => "unsupported",
            FailureKind::Usage => "usage",
        }
    }

    /// The exit code of a failure of this kind: [`EXIT_CONFIG`] for an
    /// unreadable configuration, [`EXIT_FAILURE`] for everything else.
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Config => EXIT_CONFIG,
            _ => EXIT_FAILURE,
        }
    }
}

/// Why a command failed: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The class `--json` names (`not-deployed`, `agent-down`, ...).
    pub kind: FailureKind,
    /// What went wrong, for stderr (or the JSON error's `error`).
    pub message: String,
}

impl Failure {
    /// A failure of class `kind`, said as `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The configuration could not be read.
    pub fn config(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Config, message)
    }

    /// The engine is not deployed on this host: the reference's
    /// [`NOT_DEPLOYED`].
    pub fn not_deployed() -> Failure {
        Failure::new(FailureKind::NotDeployed, NOT_DEPLOYED)
    }

    /// The exit code.
    pub fn code(&self) -> i32 {
        self.kind.exit_code()
    }
}

/// A command's result: its exit code, or why it failed.
pub type Outcome = Result<i32, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_distinct_kebab_case_words() {
        let words: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        for (i, word) in words.iter().enumerate() {
            assert!(
                word.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{word}"
            );
            assert!(!words[..i].contains(word), "{word} twice");
        }
    }

    #[test]
    fn only_an_unreadable_configuration_exits_2() {
        for kind in FailureKind::ALL {
            let expected = if kind == FailureKind::Config {
                EXIT_CONFIG
            } else {
                EXIT_FAILURE
            };
            assert_eq!(Failure::new(kind, "x").code(), expected, "{kind:?}");
        }
    }
}
