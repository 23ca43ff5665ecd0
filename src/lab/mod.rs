//! `he-lab`: the developer's and operator's bench for a cluster on one machine.
//!
//! - The real lab ([`cluster`]): `up`, `down`, `status`, `fault`, `heal`, `logs`,
//!   `exec`, `canary-check`: real `ovirt-ha-agent` processes sharing one storage
//!   directory, supervised like systemd would, with the engine payload
//!   (`engine`) as the VM, an emulated watchdog, and fault injection.
//! - The shared metadata volume tools (`volume init|fill|dump`).
//! - `demo` ([`demo`]): a three-host lab, its status table, the engine VM killed
//!   and the recovery narrated as it happens, then everything torn down.
//! - The simulator (`sim run`, `sim fuzz`).

pub mod bench;
pub mod bmc;
pub mod canary;
pub mod cluster;
mod cluster_cmd;
mod cmd;
pub mod demo;
pub mod engine;
#[cfg(test)]
mod layering;
pub mod plan;
mod sim_cmd;
mod volume;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use volume::{DumpFormat, dump_volume};

/// Exit codes of `he-lab`.
pub const EXIT_OK: i32 = 0;
/// The command failed (the message says why).
pub const EXIT_FAILURE: i32 = 1;
/// The command line was wrong.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "he-lab",
    version,
    about = "A hosted-engine cluster on one machine: the real lab with fault injection, shared \
             metadata tools, the simulator and the demo",
    after_help = "The lab directory is --dir, else $HE_LAB_DIR, else $XDG_RUNTIME_DIR/he-lab, else \
                  /tmp/he-lab-<uid>. It must be owned by you or root and writable by no one \
                  else, nor may any directory above it be (sticky ones like /tmp aside), and \
                  it is not a symbolic link: every lab command refuses it otherwise, as \
                  another user could change what the lab runs; `up` makes a new one mode 0700.\n\
                  Exit codes: 0 success, 1 failure (for `sim`: an invariant broke or a check \
                  failed; for `canary-check`: the canary shows two engines at once or an epoch \
                  going back), 2 bad command line; `exec` exits with its command's code (128 + \
                  signal when killed, 126 when it cannot run); `demo` exits 130 when \
                  interrupted (Ctrl-C), after tearing its lab down."
)]
pub struct LabArgs {
    /// The lab's directory (for the lab verbs).
    #[arg(long, global = true, env = "HE_LAB_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start a three-host lab (no root needed), show its status table, kill the
    /// engine VM and narrate the recovery as it happens with the time it took,
    /// then restore and tear everything down (also on Ctrl-C). Uses its own
    /// directory under $TMPDIR (not --dir) and removes it.
    Demo {
        /// none (loopback, no root) or netns (root: network namespaces).
        #[arg(long, value_enum, default_value = "none")]
        isolation: cluster::Isolation,
        /// A simulated BMC per host and the agents fencing through them (as
        /// `up --fencing`); then, after the engine VM's kill, the engine's
        /// host crashes and another host fences it through its BMC (needs
        /// the openipmi, fence-agents and ipmitool packages).
        #[arg(long)]
        fencing: bool,
    },
    /// For each test-plan case, the time from the fault to a healthy engine on a
    /// real three-host lab (a fresh lab per run): median and worst of --runs,
    /// next to what the lease timings allow. A Markdown section on stdout,
    /// progress on stderr. Uses its own directory under $TMPDIR (not --dir).
    BenchFailover {
        /// The agents' timings.
        #[arg(long, value_enum, default_value = "fast")]
        profile: cluster::Profile,
        /// netns (root) or none [default: netns for root, none otherwise].
        #[arg(long, value_enum)]
        isolation: Option<cluster::Isolation>,
        /// Runs per case.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// Test plan cases to measure, e.g. `1,3,6` [default: 1 to 8].
        #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=8))]
        cases: Vec<u8>,
        /// Labs with a simulated BMC per host, the agents fencing through them
        /// (as `up --fencing`).
        #[arg(long)]
        fencing: bool,
    },
    /// Work with a shared metadata volume file.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// The deterministic cluster simulator: scenarios and fault fuzzing.
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// The engine VM payload for the `process` driver: serves the engine's
    /// health page (`DB Up!Welcome to Health Status!`) until SIGTERM, appends a
    /// canary line to --canary every 100 ms, obeys faults in --control.
    Engine {
        /// Address and port to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The canary file on the shared storage.
        #[arg(long, value_name = "FILE")]
        canary: Option<PathBuf>,
        /// The host name written in canary lines [default: host<HE_HOST_ID>].
        #[arg(long)]
        host: Option<String>,
        /// Faults inside the VM: network-down, engine-stop, db-down (emptied at boot).
        #[arg(long, value_name = "FILE")]
        control: Option<PathBuf>,
        /// The lab this payload belongs to (how the lab finds it).
        #[arg(long)]
        lab_id: Option<String>,
        /// A network namespace of its own with this address (root), e.g. 10.77.0.100/24.
        #[arg(long, value_name = "CIDR", requires = "vm_bridge")]
        vm_address: Option<String>,
        /// The host bridge its veth joins.
        #[arg(long, value_name = "BRIDGE", requires = "vm_address")]
        vm_bridge: Option<String>,
        /// Held locked (FILE.lock) while the VM's port on the bridge exists, so
        /// that the lab removes the port of a VM that was killed.
        #[arg(long, value_name = "FILE", requires = "vm_address")]
        vm_port_lock: Option<PathBuf>,
        /// Seconds the guest takes to shut down after SIGTERM (up to 600).
        #[arg(long, default_value_t = 0.0, value_name = "SECS")]
        shutdown_secs: f64,
    },
    /// Start a lab: N hosts' agents on shared storage, supervised, with the
    /// engine payload as the VM; returns once every agent answers.
    Up {
        /// How many hosts.
        #[arg(long, default_value_t = 3)]
        hosts: u16,
        /// netns (root: namespaces, bridges, mounts) or none (loopback, no root)
        /// [default: netns for root, none otherwise].
        #[arg(long, value_enum)]
        isolation: Option<cluster::Isolation>,
        /// The agents' timings.
        #[arg(long, value_enum, default_value = "fast")]
        profile: cluster::Profile,
        /// Configure the hosts as an operator would: `hosted-engine --deploy` on
        /// host1, then `hosted-engine --deploy --add-host` on the others at once.
        #[arg(long)]
        deploy: bool,
        /// A simulated BMC per host (OpenIPMI's ipmi_sim, wired to the host's
        /// power) and the cluster's fencing.conf: the agents power a silent
        /// holder off through its BMC with fence_ipmilan. Needs the openipmi,
        /// fence-agents and ipmitool packages.
        #[arg(long)]
        fencing: bool,
    },
    /// Stop everything of a lab and remove it (also after a crash of he-lab or
    /// its supervisor).
    Down {
        /// Keep the directory (configuration, logs, storage).
        #[arg(long)]
        keep: bool,
    },
    /// The lab's ground truth: agents, lease keepers, engine payloads, power, faults.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inject a fault into a running lab; a verb given no host acts on the host
    /// running the engine VM.
    Fault {
        #[command(subcommand)]
        fault: cluster::Fault,
    },
    /// Undo every fault: networks up, storage back, slot writers stopped, VM
    /// managers unwedged, paused agents resumed, stopped agents started, BMCs
    /// answering truthfully with the right password, powered-off hosts booted.
    Heal,
    /// Show the supervisor's, agents' and engine payloads' logs.
    Logs {
        /// Only this host's (`2` or `host2`).
        host: Option<String>,
        /// Only the last N lines of each.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Run a command as a lab host (its configuration; under netns its namespaces).
    Exec {
        /// The host (`2` or `host2`).
        host: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Check an engine canary file: no two payloads at once, epochs never back.
    CanaryCheck {
        /// The canary file [default: the lab's].
        file: Option<PathBuf>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// (internal) The lab's supervisor, started by `up`.
    #[command(hide = true)]
    Supervise,
    /// (internal) The agents' storage connect command.
    #[command(hide = true)]
    StorageConnect {
        #[arg(long)]
        host: u16,
    },
    /// (internal) A host's power sentinel, what its BMC's power-on runs.
    #[command(hide = true)]
    PowerSentinel {
        #[arg(long)]
        host: u16,
    },
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Build a three-host shared metadata volume in a temporary directory through
    /// the real codec and store, read it back and show each host's slot; removes
    /// the directory afterwards.
    Demo,
    /// Create a zeroed metadata volume (4096 x 2001 bytes); refuses to wipe one
    /// that holds metadata unless --force.
    Init {
        /// Path of the volume file.
        path: std::path::PathBuf,
        /// Wipe the metadata area even if it holds host slots.
        #[arg(long)]
        force: bool,
        /// Give up after this many seconds if the storage does not answer.
        #[arg(long, default_value_t = 30.0)]
        timeout_secs: f64,
    },
    /// Write static host slots (hosts whose agents are not running), e.g. to
    /// make a 250-host area for a benchmark.
    Fill {
        /// Path of the volume file.
        path: std::path::PathBuf,
        /// First host id to write.
        #[arg(long, default_value_t = 1)]
        from: u16,
        /// How many host slots to write.
        #[arg(long)]
        count: u16,
        /// Give up after this many seconds if the storage does not answer.
        #[arg(long, default_value_t = 10.0)]
        timeout_secs: f64,
    },
    /// Decode every slot of a volume and show it, or the slot's own error.
    Dump {
        /// Path of the volume file.
        path: std::path::PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
        format: DumpFormat,
        /// Give up after this many seconds if the storage does not answer.
        #[arg(long, default_value_t = 10.0)]
        timeout_secs: f64,
    },
}

/// `he-lab`'s entry point; returns the exit code. (`src/bin/he-lab.rs` runs
/// the other two programs when called by their names.)
pub fn main() -> i32 {
    let args = match LabArgs::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match run(args) {
        Ok(code) => code,
        // Nobody reads our output any more (`| head`): a clean end.
        Err(e) if is_broken_pipe(&e) => EXIT_OK,
        Err(e) => {
            eprintln!("he-lab: {e:#}");
            EXIT_FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(args: LabArgs) -> anyhow::Result<i32> {
    let dir = args.dir.clone().unwrap_or_else(cluster::default_dir);
    // Verbs that do not print through a held stdout lock (they run threads or
    // other programs that write to it).
    match args.command {
        LabCommand::Engine {
            listen,
            canary,
            host,
            control,
            lab_id: _,
            vm_address,
            vm_bridge,
            vm_port_lock,
            shutdown_secs,
        } => {
            anyhow::ensure!(
                shutdown_secs.is_finite()
                    && (0.0..=engine::SHUTDOWN_MAX.as_secs_f64()).contains(&shutdown_secs),
                "--shutdown-secs must be a number of seconds in [0, 600], not {shutdown_secs}"
            );
            let opts = engine::EngineOptions {
                shutdown: std::time::Duration::from_secs_f64(shutdown_secs),
                listen,
                canary,
                host,
                control,
                vm_net: vm_address
                    .zip(vm_bridge)
                    .map(|(cidr, bridge)| engine::VmNet {
                        cidr,
                        bridge,
                        port_lock: vm_port_lock,
                    }),
            };
            engine::run(&opts)?;
            return Ok(EXIT_OK);
        }
        LabCommand::Supervise => {
            cluster::supervisor::run(&dir)?;
            return Ok(EXIT_OK);
        }
        LabCommand::Exec { host, command } => return cluster_cmd::exec(&dir, &host, &command),
        LabCommand::PowerSentinel { host } => {
            cluster::fencing::sentinel(&dir, host)?;
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    let mut out = std::io::stdout().lock();
    let mut code = EXIT_OK;
    match args.command {
        LabCommand::Demo { isolation, fencing } => {
            let opts = demo::DemoOptions {
                isolation,
                dir: None,
                fencing,
            };
            if demo::run(&opts, &mut out)? == demo::Outcome::Interrupted {
                code = demo::EXIT_INTERRUPTED;
            }
        }
        LabCommand::Volume(VolumeCommand::Demo) => volume::demo(&mut out)?,
        LabCommand::BenchFailover {
            profile,
            isolation,
            runs,
            cases,
            fencing,
        } => {
            let opts = bench::BenchOptions {
                profile,
                isolation: isolation.unwrap_or_else(cluster::Isolation::default_for_user),
                fencing,
                runs,
                cases: if cases.is_empty() {
                    plan::CASES.iter().map(|c| c.number).collect()
                } else {
                    cases
                },
            };
            bench::run(&opts, &mut out, &mut std::io::stderr())?;
        }
        LabCommand::Volume(VolumeCommand::Init {
            path,
            force,
            timeout_secs,
        }) => volume::init(&path, force, secs(timeout_secs)?, &mut out)?,
        LabCommand::Volume(VolumeCommand::Fill {
            path,
            from,
            count,
            timeout_secs,
        }) => volume::fill(&path, from, count, secs(timeout_secs)?, &mut out)?,
        LabCommand::Volume(VolumeCommand::Dump {
            path,
            format,
            timeout_secs,
        }) => dump_volume(&path, format, secs(timeout_secs)?, &mut out)?,
        LabCommand::Up {
            hosts,
            isolation,
            profile,
            deploy,
            fencing,
        } => {
            let opts = cluster_cmd::UpOptions {
                hosts,
                isolation,
                profile,
                deploy,
                fencing,
            };
            cluster_cmd::up(dir, &opts, &mut out)?;
        }
        LabCommand::Down { keep } => cluster_cmd::down(&dir, keep, &mut out)?,
        LabCommand::Status { json } => cluster_cmd::status(&dir, json, &mut out)?,
        LabCommand::Fault { fault } => cluster_cmd::fault(&dir, fault, &mut out)?,
        LabCommand::Heal => cluster_cmd::heal(&dir, &mut out)?,
        LabCommand::Logs { host, tail } => {
            cluster_cmd::logs(&dir, host.as_deref(), tail, &mut out)?;
        }
        LabCommand::CanaryCheck { file, json } => {
            if !cluster_cmd::canary_check(&dir, file, json, &mut out)? {
                code = EXIT_FAILURE;
            }
        }
        LabCommand::StorageConnect { host } => cluster_cmd::storage_connect(&dir, host, &mut out)?,
        LabCommand::Engine { .. }
        | LabCommand::Supervise
        | LabCommand::Exec { .. }
        | LabCommand::PowerSentinel { .. } => {
            unreachable!("handled above")
        }
        LabCommand::Sim(command) => {
            let passed = sim_cmd::run(command, &mut out)?;
            std::io::Write::flush(&mut out)?;
            anyhow::ensure!(passed, "the simulation found a failure (see above)");
        }
    }
    // Stdout is line-buffered: flush a partial last line here so that a failure
    // to write it is reported rather than lost at exit.
    std::io::Write::flush(&mut out)?;
    Ok(code)
}

fn secs(value: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value <= 3600.0,
        "--timeout-secs must be a number of seconds in (0, 3600], not {value}"
    );
    Ok(std::time::Duration::from_secs_f64(value))
}
