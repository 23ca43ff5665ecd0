//! The command lines: `hosted-engine` ([`he`]), `ovirt-ha-agent` (here) and
//! the shared bits of their output; `he-lab`'s is in `crate::lab`.

pub mod he;
pub mod remote;

use std::io::{self, Write};

use clap::Parser;

use crate::config::{Config, ConfigPathArgs, ConfigPaths};

pub use he::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main};

#[derive(Debug, Parser)]
#[command(
    name = "ovirt-ha-agent",
    version,
    about = "The hosted-engine HA agent: keeps the engine VM running on one host of the cluster",
    long_about = "The hosted-engine HA agent: reads the shared metadata, scores this host, \
                  takes the engine VM lease and starts, stops or keeps the engine VM, \
                  publishing its own slot every loop. Runs in the foreground until SIGTERM or \
                  SIGINT, then publishes AgentStopped and exits (the engine VM keeps running, \
                  its lease renewed by a lease keeper, `--keep-lease`, until the agent is \
                  back or the VM is down). \
                  The engine VM is driven by the driver that `vm_driver` in \
                  hosted-engine.conf names: `process` (default; `vm_command`) or `libvirt` \
                  (`vm_xml`, `libvirt_uri`; in builds with the `libvirt` feature). \
                  It needs a watchdog device (`watchdog_device`: a hardware watchdog such as \
                  iTCO_wdt or ipmi_watchdog, or the kernel's softdog), whose timeout it reads \
                  at start, sets when it lies outside what the lease's timings allow, and \
                  refuses to start when it still does; it runs without one only when \
                  hosted-engine.conf says `watchdog_device=none` and \
                  `watchdog_none_i_accept_split_brain=yes` (the host is then unfenced).",
    after_help = "Logging: one line per event on stderr: with a syslog priority prefix \
                  (<3> error, <4> warning, <5> state transition, <6> info, <7> debug) when \
                  stderr is the journal (JOURNAL_STREAM), with a UTC time stamp otherwise. \
                  HE_LOG sets the level: off, error, warn, info (default), debug (adds a \
                  line per loop), trace.\n\n\
                  Exit codes: 0 stopped cleanly / configuration valid, 1 configuration \
                  invalid or the agent failed, 2 bad command line."
)]
pub(crate) struct AgentArgs {
    /// Load and validate every configuration file, print any problems (one per
    /// line, file:line: key: message) and exit.
    #[arg(long)]
    check_config: bool,
    /// Run as the lease keeper of this host's cleanly stopped agent (the agent
    /// starts it when it stops while its engine VM runs): renew the lease and
    /// pet the watchdog, power the VM off if the lease cannot be renewed, and
    /// hand the lease back to the agent when it starts again (SIGTERM).
    #[arg(long, conflicts_with = "check_config")]
    keep_lease: bool,
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
    if args.keep_lease {
        return match crate::shell::daemon::keeper::run(&paths) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("ovirt-ha-agent: lease keeper: {e:#}");
                EXIT_FAILURE
            }
        };
    }
    if !args.check_config {
        return match crate::shell::daemon::run(&paths) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("ovirt-ha-agent: {e:#}");
                EXIT_FAILURE
            }
        };
    }
    match Config::load_for_agent(&paths) {
        Ok(config) => {
            let gateway = crate::shell::monitors::GatewayTest::from_conf(&config.hosted_engine);
            if let Err(why) = crate::shell::monitors::check_runnable(&gateway) {
                eprintln!(
                    "ovirt-ha-agent: {}: network_test={}: the test cannot run here: {why}",
                    paths.he_conf.display(),
                    config.hosted_engine.network_test.as_str()
                );
                return EXIT_FAILURE;
            }
            let fencing = match fencing_summary(&config, &paths) {
                Ok(fencing) => fencing,
                Err(errors) => {
                    for error in &errors.0 {
                        eprintln!("ovirt-ha-agent: {error}");
                    }
                    return EXIT_FAILURE;
                }
            };
            let text = format!(
                "configuration valid: {} (host id {}), metadata volume {}, {}, {fencing}\n",
                paths.he_conf.display(),
                config.hosted_engine.host_id,
                config
                    .hosted_engine
                    .metadata_volume_path()
                    .map_or_else(|e| format!("unknown ({e})"), |p| p.display().to_string()),
                watchdog_summary(&config.hosted_engine)
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

/// Power fencing as `--check-config` reports it, after the checks the agent
/// makes when it starts (`FencingConf::load_for_agent`): the file, its
/// fence-after against this host's timings, its fence agents and password
/// files. Nothing is run.
fn fencing_summary(
    config: &Config,
    paths: &crate::config::ConfigPaths,
) -> Result<String, crate::config::ConfigErrors> {
    use crate::config::FencingConf;
    let path = config
        .hosted_engine
        .fencing_conf_path()
        .map_err(|e| crate::config::ConfigErrors(vec![e]))?;
    let timings = &config.agent.timings;
    Ok(
        match FencingConf::load_for_agent(&path, timings, &paths.fencing_secrets_dir())? {
            None => format!("no power fencing (no {})", path.display()),
            Some(conf) => {
                let fencing = conf.core_conf(config.hosted_engine.host_id, timings);
                format!(
                    "power fencing: {} fence device(s) of other hosts, fence-after {} s ({})",
                    fencing.devices.len(),
                    crate::config::format_secs(fencing.fence_after_ms),
                    path.display()
                )
            }
        },
    )
}

/// The watchdog as `--check-config` reports it (the device itself is not
/// opened: that would arm it).
fn watchdog_summary(he: &crate::config::HostedEngineConf) -> String {
    use crate::config::WatchdogSetting;
    match (&he.watchdog_device, he.watchdog_timeout_secs) {
        (Some(WatchdogSetting::Device(path)), Some(secs)) => {
            format!("watchdog {} (timeout {secs} s)", path.display())
        }
        (Some(WatchdogSetting::Device(path)), None) => format!(
            "watchdog {} (its timeout is read, and set if needed, when the agent starts)",
            path.display()
        ),
        _ => "no watchdog: this host is unfenced (acknowledged)".to_owned(),
    }
}

/// Writes `text` to stdout through its lock. A closed pipe (`| head`, `| true`)
/// is not an error: nobody is reading, so it counts as written
/// (`docs/architecture.md`, "House rules": a broken pipe is a clean exit).
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
