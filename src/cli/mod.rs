//! The `hosted-engine` and `ovirt-ha-agent` command lines.
//!
//! Foundation stage: `hosted-engine --check-deployed` and `ovirt-ha-agent
//! --check-config` are real; the rest of the reference surface
//! (`reference/ovirt-compat.md` section 8) arrives with the agent.

use std::io::{self, Write};

use clap::Parser;

use crate::config::{ConfFile, Config, ConfigPathArgs, ConfigPaths, ErrorKind, HostedEngineConf};

/// `hosted-engine` exit codes.
pub const EXIT_OK: i32 = 0;
/// The command failed, or answered "no" (e.g. not deployed).
pub const EXIT_FAILURE: i32 = 1;
/// The configuration could not be read.
pub const EXIT_CONFIG: i32 = 2;

const USAGE: &str = "\
Usage: hosted-engine [--help] <command> [<command-args>]
    --check-deployed
        Tell whether the hosted engine has been deployed on this host
        (exit 0: deployed, 1: not deployed, 2: configuration unreadable)

Configuration paths follow HE_CONFIG_ROOT, HE_CONF, HE_AGENT_CONF, HE_HA_CONF,
HE_BROKER_CONF, HE_RUNTIME_DIR and HE_STATE_DIR when set.

The other commands of the reference (--vm-status, --vm-start, --set-maintenance,
...) are not part of this build yet.
";

/// Configuration paths from the environment only (the reference command line has
/// no path options).
#[derive(Debug, Parser)]
#[command(name = "hosted-engine", no_binary_name = true)]
struct EnvPaths {
    #[command(flatten)]
    paths: ConfigPathArgs,
}

/// The paths named by the environment. An environment variable clap cannot take
/// is a configuration error for the caller to report, never a panic.
fn env_paths() -> Result<ConfigPaths, clap::Error> {
    let parsed = EnvPaths::try_parse_from(std::iter::empty::<String>())?;
    Ok(ConfigPaths::resolve(&parsed.paths))
}

/// `hosted-engine`'s entry point; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return EXIT_FAILURE;
    };
    match command.as_str() {
        "--help" | "-h" => answer("hosted-engine", USAGE, EXIT_OK),
        "--check-deployed" => match env_paths() {
            Ok(paths) => check_deployed(&paths),
            Err(e) => {
                // clap's rendering ends with a hint about `--help`, which means
                // nothing for an environment variable: keep only the first line.
                let rendered = e.to_string();
                let first = rendered.lines().next().unwrap_or("bad environment");
                let message = first.strip_prefix("error: ").unwrap_or(first);
                eprintln!("hosted-engine: environment: {message}");
                EXIT_CONFIG
            }
        },
        other => {
            eprintln!("Invalid option '{other}'");
            eprint!("{USAGE}");
            EXIT_FAILURE
        }
    }
}

/// `--check-deployed`: deployed means `hosted-engine.conf` names the engine VM
/// (`vmid`), as in the reference.
fn check_deployed(paths: &ConfigPaths) -> i32 {
    const DEPLOYED: &str = "The hosted engine has been deployed\n";
    const NOT_DEPLOYED: &str = "The hosted engine has not been deployed\n";
    match HostedEngineConf::load(&paths.he_conf) {
        Ok(conf) if conf.is_deployed() => answer("hosted-engine", DEPLOYED, EXIT_OK),
        Ok(_) => answer("hosted-engine", NOT_DEPLOYED, EXIT_FAILURE),
        Err(errors) if errors.has_kind(ErrorKind::NotFound) => {
            answer("hosted-engine", NOT_DEPLOYED, EXIT_FAILURE)
        }
        Err(errors) => {
            eprintln!("hosted-engine: {errors}");
            EXIT_CONFIG
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "ovirt-ha-agent",
    version,
    about = "The hosted-engine HA agent: keeps the engine VM running on one host of the cluster",
    long_about = "The hosted-engine HA agent: reads the shared metadata, scores this host, \
                  takes the engine VM lease and starts, stops or keeps the engine VM, \
                  publishing its own slot every loop. Runs in the foreground until SIGTERM or \
                  SIGINT, then publishes AgentStopped and exits (the engine VM keeps running). \
                  The engine VM is driven by the driver that `vm_driver` in \
                  hosted-engine.conf names: `process` (default; `vm_command`) or `libvirt` \
                  (`vm_xml`, `libvirt_uri`; in builds with the `libvirt` feature).",
    after_help = "Logging: one line per event on stderr: with a syslog priority prefix \
                  (<3> error, <4> warning, <5> state transition, <6> info, <7> debug) when \
                  stderr is the journal (JOURNAL_STREAM), with a UTC time stamp otherwise. \
                  HE_LOG sets the level: off, error, warn, info (default), debug (adds a \
                  line per loop), trace.\n\n\
                  Exit codes: 0 stopped cleanly / configuration valid, 1 configuration \
                  invalid or the agent failed, 2 bad command line."
)]
struct AgentArgs {
    /// Load and validate every configuration file, print any problems (one per
    /// line, file:line: key: message) and exit.
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    paths: ConfigPathArgs,
}

/// `ovirt-ha-agent`'s entry point; returns the exit code.
pub fn agent_main() -> i32 {
    let args = match AgentArgs::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let paths = ConfigPaths::resolve(&args.paths);
    if !args.check_config {
        return match crate::shell::daemon::run(&paths) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("ovirt-ha-agent: {e:#}");
                EXIT_FAILURE
            }
        };
    }
    match Config::load(&paths) {
        Ok(config) => {
            let text = format!(
                "configuration valid: {} (host id {}), metadata volume {}\n",
                paths.he_conf.display(),
                config.hosted_engine.host_id,
                config
                    .hosted_engine
                    .metadata_volume_path()
                    .map_or_else(|e| format!("unknown ({e})"), |p| p.display().to_string())
            );
            answer("ovirt-ha-agent", &text, EXIT_OK)
        }
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("ovirt-ha-agent: {error}");
            }
            EXIT_FAILURE
        }
    }
}

/// Writes `text` to stdout through its lock. A closed pipe (`| head`, `| true`)
/// is not an error: nobody is reading, so it counts as written (STYLE.md: a
/// broken pipe is a clean exit).
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints a command's answer and returns its exit code; if stdout fails for any
/// reason but a closed pipe, says so on stderr and fails instead (never report an
/// answer that was not delivered).
fn answer(program: &str, text: &str, code: i32) -> i32 {
    match write_stdout(text) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("{program}: stdout: {e}");
            EXIT_FAILURE
        }
    }
}
