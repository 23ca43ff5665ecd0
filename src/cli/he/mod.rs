//! `hosted-engine`: the operator's command (`reference/ovirt-compat.md`
//! sections 6, 7 and 8).
//!
//! - [`spec`]: the command surface as data (parser, help, man page, completions).
//! - [`view`], [`render`], [`hostfacts`], [`pyjson`]: `--vm-status` and its
//!   renderings.
//! - [`actions`]: the commands that go through the local agent or act on this
//!   host (VM, maintenance, liveliness, storage, console).
//! - [`admin`]: configuration keys and the shared metadata's housekeeping.

mod actions;
mod admin;
mod deploy;
pub mod history;
pub mod hostfacts;
mod local_vm;
pub mod pyjson;
pub mod render;
pub mod spec;
pub mod view;

use std::ffi::OsString;
use std::time::Duration;

use crate::config::{
    AgentConf, ConfFile, ConfigPathArgs, ConfigPaths, ErrorKind, HostedEngineConf, Timings,
};
use crate::proto::{self, ClientError};
use spec::{Invocation, ParseError};

/// `hosted-engine` exit codes (the man page lists them).
pub const EXIT_OK: i32 = 0;
/// The command failed, or answered "no" (e.g. not deployed, engine not up).
pub const EXIT_FAILURE: i32 = 1;
/// The configuration could not be read.
pub const EXIT_CONFIG: i32 = 2;

/// The reference's answer when `hosted-engine.conf` names no engine VM.
pub const NOT_DEPLOYED: &str = "You must run deploy first";

/// Why a command failed: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// A short kebab-case class for `--json` (`not-deployed`, `agent-down`, ...).
    pub kind: &'static str,
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    pub fn config(message: impl Into<String>) -> Failure {
        Failure {
            kind: "config",
            message: message.into(),
            code: EXIT_CONFIG,
        }
    }
}

type Outcome = Result<i32, Failure>;

/// What every command needs: where the configuration is, and whether errors
/// are JSON.
pub struct Ctx {
    pub paths: ConfigPaths,
    pub json: bool,
}

impl Ctx {
    /// `hosted-engine.conf`, refusing when the engine is not deployed.
    pub fn deployed_conf(&self) -> Result<HostedEngineConf, Failure> {
        match HostedEngineConf::load(&self.paths.he_conf) {
            Ok(conf) if conf.is_deployed() => Ok(conf),
            Ok(_) => Err(Failure::new("not-deployed", NOT_DEPLOYED)),
            Err(errors) if errors.has_kind(ErrorKind::NotFound) => {
                Err(Failure::new("not-deployed", NOT_DEPLOYED))
            }
            Err(errors) => Err(Failure::config(errors.to_string())),
        }
    }

    /// Refuses a `hosted-engine.conf` another user could have changed,
    /// before a command that runs or connects to what it names
    /// (`storage_connect_command`, the VM driver, `libvirt_uri`), as the agent
    /// does (`crate::trust`).
    pub fn trust_conf(&self) -> Result<(), Failure> {
        crate::trust::check_file(&self.paths.he_conf).map_err(|e| {
            Failure::config(format!(
                "{}: not trusted with the commands it names: {e}",
                self.paths.he_conf.display()
            ))
        })
    }

    /// `agent.conf`'s timings, or the defaults (with a note on stderr) when it
    /// cannot be read: a status command should not fail over a timing file.
    pub fn timings(&self) -> Timings {
        match AgentConf::load(&self.paths.agent_conf) {
            Ok(conf) => conf.timings,
            Err(errors) => {
                warn(&format!("{errors}; using the default timings"));
                Timings::default()
            }
        }
    }

    /// The local agent's socket.
    pub fn socket(&self) -> std::path::PathBuf {
        proto::socket_path(&self.paths.runtime_dir)
    }

    /// Whether this host's agent may be running. Only "no socket" or "nobody
    /// listens" says it is not: an agent that accepts and does not answer in
    /// time (hung, or busy on slow storage) still runs and still writes, so the
    /// commands that must not act under a running agent count it as running.
    pub fn agent_may_run(&self) -> bool {
        !matches!(
            self.call(&proto::Request::STATUS, view::AGENT_TIMEOUT),
            Err(ClientError::NotRunning { .. })
        )
    }

    /// `request` to the local agent.
    pub fn call(
        &self,
        request: &proto::Request,
        timeout: Duration,
    ) -> Result<proto::Reply, ClientError> {
        proto::call(&self.socket(), request, timeout)
    }
}

/// A note for the operator on stderr.
pub fn warn(message: &str) {
    write_stderr(&format!("hosted-engine: {message}\n"));
}

/// Writes `text` to stderr. Unlike `eprint!`, a failed write (stderr a closed
/// pipe, as in `hosted-engine --vm-status 2>&1 | head -1`) is ignored instead
/// of panicking: there is nobody left to tell (STYLE.md: a broken pipe is a
/// clean exit).
pub fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Configuration paths from the environment only (the reference command line
/// has no path options).
#[derive(Debug, clap::Parser)]
#[command(name = "hosted-engine", no_binary_name = true)]
struct EnvPaths {
    #[command(flatten)]
    paths: ConfigPathArgs,
}

/// The paths named by the environment. An environment variable clap cannot take
/// is a configuration error for the caller to report, never a panic.
fn env_paths() -> Result<ConfigPaths, Failure> {
    use clap::Parser;
    match EnvPaths::try_parse_from(std::iter::empty::<String>()) {
        Ok(parsed) => Ok(ConfigPaths::resolve(&parsed.paths)),
        Err(e) => {
            // clap's rendering ends with a hint about `--help`, which means
            // nothing for an environment variable: keep only the first line.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("bad environment");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            Err(Failure::config(format!("environment: {message}")))
        }
    }
}

/// `hosted-engine`'s entry point; returns the exit code.
pub fn main() -> i32 {
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut args = Vec::with_capacity(raw.len());
    for arg in raw {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(bad) => {
                write_stderr(&format!("Invalid option '{}'\n", bad.to_string_lossy()));
                write_stderr(&spec::usage());
                return EXIT_FAILURE;
            }
        }
    }
    run(&args)
}

/// Runs `args` (without the program name); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let json = wants_json(args);
    let inv = match spec::parse(args) {
        Ok(inv) => inv,
        Err(e) => return refuse_command_line(args, e, json),
    };
    if inv.help {
        return super::answer("hosted-engine", &inv.command.help_text(), EXIT_OK);
    }
    let outcome = env_paths().and_then(|paths| {
        let ctx = Ctx { paths, json };
        dispatch(&ctx, &inv)
    });
    match outcome {
        Ok(code) => code,
        Err(failure) => report(&failure, json),
    }
}

/// Whether `args` ask `--vm-status` for JSON, so that even a command line the
/// parser refuses gets its error as JSON. `--format json` (the value as its own
/// argument, which the parser accepts) counts as much as `--format=json`.
fn wants_json(args: &[String]) -> bool {
    args.first()
        .is_some_and(|c| c == "--vm-status" || c == "--history")
        && (args.iter().any(|a| a == "--json" || a == "--format=json")
            || args
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "json"))
}

/// Prints a failure (JSON on stdout under `--json`) and returns its code.
/// [`NOT_DEPLOYED`] goes to stdout as the reference prints it (scripts grep
/// for it there); every other message to stderr.
fn report(failure: &Failure, json: bool) -> i32 {
    if json {
        let _ = super::write_stdout(&render::json_error(failure.kind, &failure.message));
    } else if failure.message == NOT_DEPLOYED {
        let _ = super::write_stdout(&format!("{NOT_DEPLOYED}\n"));
    } else {
        write_stderr(&format!("{}\n", failure.message));
    }
    failure.code
}

fn refuse_command_line(args: &[String], e: ParseError, json: bool) -> i32 {
    match e {
        ParseError::Empty => {
            write_stderr(&spec::usage());
            EXIT_FAILURE
        }
        ParseError::UnknownCommand(c) if c == "--help" || c == "-h" => {
            super::answer("hosted-engine", &spec::usage(), EXIT_OK)
        }
        ParseError::UnknownCommand(c) if (c == "--version" || c == "-V") && args.len() == 1 => {
            let version = format!("hosted-engine {}\n", env!("CARGO_PKG_VERSION"));
            super::answer("hosted-engine", &version, EXIT_OK)
        }
        ParseError::MissingValue("mode", _) if args[0] == "--set-maintenance" => report(
            &Failure::new("usage", "You must specify a maintenance mode with --mode"),
            json,
        ),
        ParseError::UnknownCommand(_) => {
            write_stderr(&format!("{e}\n{}", spec::usage()));
            EXIT_FAILURE
        }
        other => {
            let command = spec::find(&args[0]).expect("only unknown commands fail before lookup");
            if json {
                return report(&Failure::new("usage", other.to_string()), true);
            }
            write_stderr(&format!("{other}\nUsage: {}\n", command.synopsis()));
            EXIT_FAILURE
        }
    }
}

fn dispatch(ctx: &Ctx, inv: &Invocation) -> Outcome {
    if let Some(target) = inv.value("remote") {
        return actions::remote(inv, target);
    }
    match inv.command.name {
        "--deploy" => deploy::deploy(ctx, inv),
        "--vm-status" => actions::vm_status(ctx, inv),
        "--history" => history::history(ctx, inv),
        "--vm-start" => actions::vm_start(ctx, inv, false),
        "--vm-start-paused" => actions::vm_start(ctx, inv, true),
        "--vm-shutdown" => actions::vm_stop(ctx, inv, false),
        "--vm-poweroff" => actions::vm_stop(ctx, inv, true),
        "--set-maintenance" => actions::set_maintenance(ctx, inv),
        "--check-liveliness" => actions::check_liveliness(ctx),
        "--check-deployed" => check_deployed(ctx),
        "--connect-storage" => actions::connect_storage(ctx),
        "--disconnect-storage" => actions::disconnect_storage(ctx),
        "--console" => actions::console(ctx),
        "--add-console-password" => actions::add_console_password(ctx, inv),
        "--set-shared-config" => admin::set_shared_config(ctx, inv),
        "--get-shared-config" => admin::get_shared_config(ctx, inv),
        "--reinitialize-lockspace" => admin::reinitialize_lockspace(ctx, inv),
        "--clean-metadata" => admin::clean_metadata(ctx, inv),
        other => unreachable!("command {other} is in the table but not dispatched"),
    }
}

/// `--check-deployed`: deployed means `hosted-engine.conf` names the engine VM
/// (`vmid`), as in the reference.
fn check_deployed(ctx: &Ctx) -> Outcome {
    const DEPLOYED: &str = "The hosted engine has been deployed\n";
    const NOT: &str = "The hosted engine has not been deployed\n";
    match ctx.deployed_conf() {
        Ok(_) => Ok(super::answer("hosted-engine", DEPLOYED, EXIT_OK)),
        Err(f) if f.kind == "not-deployed" => Ok(super::answer("hosted-engine", NOT, EXIT_FAILURE)),
        Err(f) => Err(f),
    }
}
