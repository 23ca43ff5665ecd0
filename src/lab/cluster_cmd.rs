//! The `he-lab` verbs of the real lab: `up`, `down`, `status`, `fault`, `heal`,
//! `logs`, `exec`, `canary-check`, and the hidden `supervise` and
//! `storage-connect` the lab runs itself.

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::canary;
use super::cluster::{self, Fault, Isolation, Lab, LabOptions, LabSpec, Profile, truth};

/// Exit code of `exec` when the command cannot be started.
pub const EXIT_CANNOT_RUN: i32 = 126;

/// `he-lab up`'s options.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub hosts: u16,
    pub isolation: Option<Isolation>,
    pub profile: Profile,
    pub deploy: bool,
    pub fencing: bool,
}

/// `he-lab up`.
pub fn up(dir: PathBuf, up: &UpOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut opts = LabOptions::new(up.hosts, dir)
        .profile(up.profile)
        .deploy(up.deploy)
        .fencing(up.fencing);
    if let Some(isolation) = up.isolation {
        opts = opts.isolation(isolation);
    }
    // Ctrl-C while the agents come up tears down what was started.
    crate::shell::signals::install_stop_handlers().context("installing signal handlers")?;
    // The lab lives on after this command: its supervisor runs detached.
    let spec = Lab::up(&opts)?.detach();
    let dir = spec.dir.display();
    writeln!(
        out,
        "he-lab: {} hosts up in {dir} (id {}, isolation {}, profile {}{})",
        spec.hosts,
        spec.id,
        spec.isolation.as_str(),
        spec.profile.as_str(),
        if spec.fencing {
            ", power fencing: a BMC per host"
        } else {
            ""
        }
    )?;
    let flag = if spec.dir == cluster::default_dir() {
        String::new()
    } else {
        format!(" --dir {dir}")
    };
    writeln!(out, "  he-lab{flag} status")?;
    writeln!(
        out,
        "  he-lab{flag} exec host1 -- hosted-engine --vm-status"
    )?;
    writeln!(out, "  he-lab{flag} fault vm-kill; he-lab{flag} heal")?;
    if spec.fencing {
        writeln!(
            out,
            "  he-lab{flag} exec host1 -- hosted-engine --check-fencing   (fencing.conf: {})",
            spec.fencing_conf().display()
        )?;
    }
    writeln!(out, "  he-lab{flag} down")?;
    Ok(())
}

/// `he-lab down`.
pub fn down(dir: &Path, keep: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let spec = LabSpec::load(dir)?;
    let report = cluster::teardown(&spec, keep)?;
    let killed = match report.killed {
        0 => String::new(),
        n => format!(" ({n} processes killed)"),
    };
    if keep {
        writeln!(out, "he-lab: lab stopped{killed}; {} kept", dir.display())?;
    } else {
        writeln!(
            out,
            "he-lab: lab stopped and {} removed{killed}",
            dir.display()
        )?;
    }
    Ok(())
}

/// `he-lab status`.
pub fn status(dir: &Path, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let spec = LabSpec::load(dir)?;
    let truth = truth::ground_truth(&spec, true);
    if json {
        serde_json::to_writer_pretty(&mut *out, &truth)?;
        writeln!(out)?;
        return Ok(());
    }
    let agents: Vec<(u16, Option<String>)> = spec
        .host_ids()
        .map(|id| (id, truth::agent_says(&spec, id)))
        .collect();
    write!(out, "{}", truth::render_text(&truth, &agents))?;
    let recent = crate::cli::he::history::recent_lines(
        &spec.volume(),
        STATUS_EVENTS,
        std::time::Duration::from_secs(2),
    );
    if !recent.is_empty() {
        writeln!(
            out,
            "recent events (he-lab exec <id> -- hosted-engine --history for all):"
        )?;
        for line in recent {
            write!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// Events `he-lab status` shows from the cluster history.
const STATUS_EVENTS: usize = 8;

/// `he-lab fault`.
pub fn fault(dir: &Path, fault: Fault, out: &mut dyn Write) -> anyhow::Result<()> {
    let lab = Lab::open(dir)?;
    let message = lab.fault(fault)?;
    writeln!(out, "he-lab: {message}")?;
    Ok(())
}

/// `he-lab heal`.
pub fn heal(dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let lab = Lab::open(dir)?;
    let message = lab.heal()?;
    writeln!(out, "he-lab: healed: {message}")?;
    Ok(())
}

/// `he-lab logs`: every log file, or the last `tail` lines of each.
pub fn logs(
    dir: &Path,
    host: Option<&str>,
    tail: Option<usize>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let spec = LabSpec::load(dir)?;
    let host = host.map(|h| spec.parse_host(h)).transpose()?;
    for path in cluster::log_files(&spec, host) {
        writeln!(out, "==> {} <==", path.display())?;
        match read_log(&path, tail) {
            Ok(text) => out.write_all(text.as_bytes())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => writeln!(out, "(no log yet)")?,
            Err(e) => writeln!(out, "({e})")?,
        }
    }
    Ok(())
}

/// Most bytes of one log shown (its end).
const LOG_SHOWN_MAX_BYTES: u64 = 8 << 20;

fn read_log(path: &Path, tail: Option<usize>) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_SHOWN_MAX_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let Some(n) = tail else { return Ok(text) };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    Ok(lines[start..].iter().map(|l| format!("{l}\n")).collect())
}

/// `he-lab exec <host> -- cmd...`: the command's exit code (128 + signal when
/// it was killed, 126 when it cannot run).
pub fn exec(dir: &Path, host: &str, argv: &[OsString]) -> anyhow::Result<i32> {
    let spec = LabSpec::load(dir)?;
    let id = spec.parse_host(host)?;
    let (program, args) = argv.split_first().context("no command given")?;
    let mut command = cluster::host_command(&spec, id, program, None)?;
    command.args(args);
    let status = match command.status() {
        Ok(status) => status,
        Err(e) => {
            eprintln!("he-lab: {}: {e}", program.to_string_lossy());
            return Ok(EXIT_CANNOT_RUN);
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// `he-lab canary-check [FILE]`: whether the canary is clean.
pub fn canary_check(
    dir: &Path,
    file: Option<PathBuf>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let path = match file {
        Some(path) => path,
        None => LabSpec::load(dir)?.canary(),
    };
    let report =
        canary::check_file(&path).with_context(|| format!("reading {}", path.display()))?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}: {report}", path.display())?;
    }
    Ok(report.ok())
}

/// `he-lab storage-connect` (the agents' connect command).
pub fn storage_connect(dir: &Path, host: u16, out: &mut dyn Write) -> anyhow::Result<()> {
    let message = cluster::storage_connect(dir, host)?;
    writeln!(out, "{message}")?;
    Ok(())
}
