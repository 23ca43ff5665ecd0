//! `he-lab`: the developer's and operator's bench for a cluster on one machine.
//!
//! What exists today: the shared metadata volume tools (`volume init`, `volume
//! dump`), `demo`, which builds a three-host whiteboard in a temporary directory
//! through the real codec and store and shows what each host published, and the
//! simulator (`sim run`, `sim fuzz`). The supervised multi-agent lab, its faults
//! and the engine payload come with the agent daemon.

pub mod engine;
mod sim_cmd;
mod volume;

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
    about = "A hosted-engine cluster on one machine: shared metadata tools, the simulator and the demo",
    after_help = "Exit codes: 0 success, 1 failure (for `sim`: an invariant broke or a check \
                  failed), 2 bad command line."
)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build a three-host shared metadata volume in a temporary directory through
    /// the real codec and store, read it back and show each host's slot; removes
    /// the directory afterwards.
    Demo,
    /// Work with a shared metadata volume file.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// The deterministic cluster simulator: scenarios and fault fuzzing.
    #[command(subcommand)]
    Sim(sim_cmd::SimCommand),
    /// A stand-in engine VM for the `process` driver: serves the engine's health
    /// page (`DB Up!Welcome to Health Status!`) until SIGTERM.
    Engine {
        /// Address and port to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
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

/// `he-lab`'s entry point; returns the exit code.
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
        Ok(()) => EXIT_OK,
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

fn run(args: LabArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.command {
        LabCommand::Demo => volume::demo(&mut out)?,
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
        LabCommand::Engine { listen } => engine::run(&listen, &mut out)?,
        LabCommand::Sim(command) => {
            let passed = sim_cmd::run(command, &mut out)?;
            std::io::Write::flush(&mut out)?;
            anyhow::ensure!(passed, "the simulation found a failure (see above)");
        }
    }
    // Stdout is line-buffered: flush a partial last line here so that a failure
    // to write it is reported rather than lost at exit.
    std::io::Write::flush(&mut out)?;
    Ok(())
}

fn secs(value: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value <= 3600.0,
        "--timeout-secs must be a number of seconds in (0, 3600], not {value}"
    );
    Ok(std::time::Duration::from_secs_f64(value))
}
