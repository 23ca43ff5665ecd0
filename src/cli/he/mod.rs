//! `hosted-engine`: the operator's command (`docs/compat.md`
//! sections 6, 7 and 8).
//!
//! - [`spec`]: the command surface as data (parser, help, man page, completions).
//! - [`view`], [`render`], [`hostfacts`], [`pyjson`]: `--vm-status` and its
//!   renderings.
//! - [`actions`]: the commands that go through the local agent or act on this
//!   host (VM, maintenance, liveliness, storage, console).
//! - [`admin`]: configuration keys and the shared metadata's housekeeping.
//! - [`deploy`]: `--deploy` and `--deploy --add-host`.
//! - [`history`]: `--history`, the cluster's events.
//!
//! Below the command modules, and importing none of them (nor this one):
//! [`failure`] (exit codes, [`Failure`]), [`ctx`] ([`Ctx`], notes on stderr),
//! [`shared_metadata`] (the metadata volume read once), [`shared_conf`] (the
//! cluster's configuration beside it), [`shared_storage`] (bounded
//! operations on the shared storage) and [`host_id`] (host id claims). This
//! module only parses and dispatches: no command module imports it.

mod actions;
mod admin;
mod ctx;
mod deploy;
mod failure;
mod fencing;
pub mod history;
mod host_id;
pub mod hostfacts;
mod local_vm;
pub mod pyjson;
pub mod render;
mod shared_conf;
mod shared_metadata;
mod shared_storage;
pub mod spec;
pub mod view;

use std::ffi::OsString;

use crate::config::{ConfigPathArgs, ConfigPaths};
pub use ctx::{Ctx, warn, write_stderr};
use failure::Outcome;
pub use failure::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, Failure, FailureKind, NOT_DEPLOYED};
use spec::{CommandId, Invocation, ParseError};

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
    (is_command(args, CommandId::VmStatus) || is_command(args, CommandId::History))
        && (args.iter().any(|a| a == "--json" || a == "--format=json")
            || args
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "json"))
}

/// Whether the first of `args` names command `id`.
fn is_command(args: &[String], id: CommandId) -> bool {
    args.first()
        .and_then(|c| spec::find(c))
        .is_some_and(|c| c.id == id)
}

/// Prints a failure (JSON on stdout under `--json`) and returns its code.
/// [`NOT_DEPLOYED`] (the message of every [`FailureKind::NotDeployed`]) goes
/// to stdout as the reference prints it (scripts grep for it there); every
/// other message to stderr.
fn report(failure: &Failure, json: bool) -> i32 {
    if json {
        let _ = super::write_stdout(&render::json_error(failure.kind.as_str(), &failure.message));
    } else if failure.kind == FailureKind::NotDeployed {
        let _ = super::write_stdout(&format!("{NOT_DEPLOYED}\n"));
    } else {
        write_stderr(&format!("{}\n", failure.message));
    }
    failure.code()
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
        ParseError::MissingValue("mode", _) if is_command(args, CommandId::SetMaintenance) => {
            report(
                &Failure::new(
                    FailureKind::Usage,
                    "You must specify a maintenance mode with --mode",
                ),
                json,
            )
        }
        ParseError::UnknownCommand(_) => {
            write_stderr(&format!("{e}\n{}", spec::usage()));
            EXIT_FAILURE
        }
        // The command was found (only the errors above come before its
        // lookup): its synopsis follows the error, or JSON says it.
        other => match spec::find(&args[0]) {
            Some(command) if !json => {
                write_stderr(&format!("{other}\nUsage: {}\n", command.synopsis()));
                EXIT_FAILURE
            }
            _ => report(&Failure::new(FailureKind::Usage, other.to_string()), json),
        },
    }
}

/// Runs the parsed command. The match is exhaustive: every command of the
/// table ([`spec::COMMANDS`]) has its handler here.
fn dispatch(ctx: &Ctx, inv: &Invocation) -> Outcome {
    if let Some(target) = inv.value("remote") {
        return actions::remote(inv, target);
    }
    match inv.command.id {
        CommandId::Deploy => deploy::deploy(ctx, inv),
        CommandId::VmStatus => actions::vm_status(ctx, inv),
        CommandId::History => history::history(ctx, inv),
        CommandId::VmStart => actions::vm_start(ctx, inv, false),
        CommandId::VmStartPaused => actions::vm_start(ctx, inv, true),
        CommandId::VmShutdown => actions::vm_stop(ctx, inv, false),
        CommandId::VmPoweroff => actions::vm_stop(ctx, inv, true),
        CommandId::SetMaintenance => actions::set_maintenance(ctx, inv),
        CommandId::CheckLiveliness => actions::check_liveliness(ctx),
        CommandId::CheckDeployed => check_deployed(ctx),
        CommandId::CheckFencing => fencing::check_fencing(ctx, inv, actions::table_layout()),
        CommandId::ConnectStorage => actions::connect_storage(ctx),
        CommandId::DisconnectStorage => actions::disconnect_storage(ctx),
        CommandId::Console => actions::console(ctx),
        CommandId::AddConsolePassword => actions::add_console_password(ctx, inv),
        CommandId::SetSharedConfig => admin::set_shared_config(ctx, inv),
        CommandId::GetSharedConfig => admin::get_shared_config(ctx, inv),
        CommandId::ReinitializeLockspace => admin::reinitialize_lockspace(ctx, inv),
        CommandId::CleanMetadata => admin::clean_metadata(ctx, inv),
    }
}

/// `--check-deployed`: deployed means `hosted-engine.conf` names the engine VM
/// (`vmid`), as in the reference.
fn check_deployed(ctx: &Ctx) -> Outcome {
    const DEPLOYED: &str = "The hosted engine has been deployed\n";
    const NOT: &str = "The hosted engine has not been deployed\n";
    match ctx.deployed_conf() {
        Ok(_) => Ok(super::answer("hosted-engine", DEPLOYED, EXIT_OK)),
        Err(f) if f.kind == FailureKind::NotDeployed => {
            Ok(super::answer("hosted-engine", NOT, EXIT_FAILURE))
        }
        Err(f) => Err(f),
    }
}
