//! `he-lab demo`, the README's first command: a real three-host lab on this
//! machine (three `ovirt-ha-agent` processes on one shared metadata volume, the
//! engine payload as the VM), the status table, then the engine VM killed
//! (test plan case 3) and the recovery narrated as it happens, with the time it
//! took; with `--fencing`, the engine's host crashed next and fenced through
//! its simulated BMC; then the canary checked and everything torn down.
//!
//! - **One binary:** the agents and `hosted-engine` are this very `he-lab`, run
//!   under the names `ovirt-ha-agent` (a hard link, else a copy: a stopping
//!   holder's agent starts its lease keeper as itself, and a symlink would be
//!   resolved to `he-lab`) and `hosted-engine` (a symlink; see
//!   [`crate::lab::main`]): `cargo run --bin he-lab -- demo` builds nothing
//!   else and never runs a stale agent from an older build.
//! - **Nothing left behind:** everything lives in one directory under
//!   `$TMPDIR` (else `/tmp`), removed at the end; Ctrl-C (SIGINT) or SIGTERM
//!   tears the lab down too, as does a closed stdout (`he-lab demo | head`).
//! - **No root needed:** isolation `none` by default, also for root (the same
//!   demo everywhere, nothing changed on the machine); `--isolation netns`
//!   (root) runs it with network namespaces instead.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::cluster::{Fault, Isolation, Lab, LabOptions, LabSpec, Profile, procs};
use super::plan::{Follower, STATUS_TIMEOUT, Sample};
use crate::shell::signals;

/// The name under which `he-lab` is the agent.
pub const AGENT_NAME: &str = "ovirt-ha-agent";
/// The name under which `he-lab` is `hosted-engine`.
pub const HOSTED_ENGINE_NAME: &str = "hosted-engine";
/// Exit code of an interrupted demo (128 + SIGINT), after its teardown.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Bound on electing a host and booting the engine the first time.
const ENGINE_UP: Duration = Duration::from_secs(90);
/// Bound on the recovery after the kill.
const RECOVERY: Duration = Duration::from_secs(90);
/// Most bytes of an agent's log read at once.
const LOG_READ_MAX: u64 = 1 << 20;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub isolation: Isolation,
    /// Its directory [default: a fresh `$TMPDIR/he-lab-demo.XXXXXX`]; must not exist.
    pub dir: Option<PathBuf>,
    /// A BMC per host, the agents fencing through them (`up --fencing`).
    pub fencing: bool,
}

/// How the demo ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Ctrl-C or SIGTERM; the lab is torn down.
    Interrupted,
}

/// Runs the demo, writing its story to `out`.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    signals::install_stop_handlers().context("installing signal handlers")?;
    let started = Instant::now();
    let place = Workdir::create("he-lab-demo", opts.dir.clone())?;
    let result = show(opts, &place, started, out);
    // The lab is down by now (or dropped, which tears it down): remove the rest.
    let removed = place.remove();
    match result {
        Err(_) if signals::stop_requested() => {
            eprintln!("he-lab demo: interrupted; the lab is torn down");
            Ok(Outcome::Interrupted)
        }
        Err(e) => Err(e),
        Ok(()) => {
            removed?;
            writeln!(
                out,
                "\nDone in {:.0} s; {} removed, nothing left behind.",
                started.elapsed().as_secs_f64(),
                place.base.display()
            )?;
            Ok(Outcome::Done)
        }
    }
}

/// `he-lab` as `to`, a hard link, else a copy. Not a symlink: a stopping
/// agent starts its lease keeper as `current_exe()`, which resolves symlinks,
/// and `he-lab` by its own name does not know `--keep-lease`; a hard link's
/// path is the one the kernel reports.
fn link_or_copy(exe: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::hard_link(exe, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(exe, to).map(|_| ())
}

/// A directory of its own for the demo or the benchmark: `bin/` (`he-lab` as
/// `ovirt-ha-agent`, a hard link or a copy, and as `hosted-engine`, a
/// symlink) and the labs.
pub(super) struct Workdir {
    pub(super) base: PathBuf,
}

impl Workdir {
    /// `dir` (it must not exist yet), else a fresh `$TMPDIR/<prefix>.XXXXXX`
    /// (mkdtemp: no one can have planted it).
    pub(super) fn create(prefix: &str, dir: Option<PathBuf>) -> anyhow::Result<Workdir> {
        let base = match dir {
            Some(dir) => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                dir
            }
            None => {
                let tmp = std::env::temp_dir();
                crate::trust::fresh_dir(&tmp, prefix)
                    .with_context(|| format!("creating a directory in {}", tmp.display()))?
            }
        };
        let place = Workdir { base };
        let made = (|| -> anyhow::Result<()> {
            let exe = std::env::current_exe().context("finding the he-lab program")?;
            std::fs::create_dir(place.bin_dir())?;
            let agent = place.bin(AGENT_NAME);
            link_or_copy(&exe, &agent).with_context(|| format!("{}", agent.display()))?;
            let he = place.bin(HOSTED_ENGINE_NAME);
            std::os::unix::fs::symlink(&exe, &he).with_context(|| format!("{}", he.display()))?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = place.remove();
            return Err(e);
        }
        Ok(place)
    }

    fn bin_dir(&self) -> PathBuf {
        self.base.join("bin")
    }

    pub(super) fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir().join(name)
    }

    fn lab_dir(&self) -> PathBuf {
        self.base.join("lab")
    }

    pub(super) fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(&self.base) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", self.base.display())),
        }
    }
}

fn show(
    opts: &DemoOptions,
    place: &Workdir,
    started: Instant,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let t = Profile::Fast.timings();
    // With fencing, a fifth step crashes the engine's host.
    let steps = if opts.fencing { 6 } else { 5 };
    writeln!(
        out,
        "he-lab demo: a hosted-engine cluster of three hosts on this machine, and what \
         happens when its engine VM crashes.\n"
    )?;
    writeln!(
        out,
        "[1/{steps}] Starting three ovirt-ha-agent processes on one shared metadata volume \
         (isolation {}, fast timings: a loop every {} s, a silent holder's lease is free \
         after {} s{})",
        opts.isolation.as_str(),
        t.loop_ms as f64 / 1000.0,
        t.lease_dead_ms as f64 / 1000.0,
        if opts.fencing {
            format!(
                "; power fencing: a simulated BMC per host, a silent holder powered off \
                 through it after {} s",
                super::cluster::fencing::fence_after_ms(Profile::Fast) as f64 / 1000.0
            )
        } else {
            String::new()
        }
    )?;
    let lab = Lab::up(
        &LabOptions::new(3, place.lab_dir())
            .isolation(opts.isolation)
            .profile(Profile::Fast)
            .fencing(opts.fencing)
            .binaries(std::env::current_exe()?, place.bin(AGENT_NAME)),
    )?;
    let spec = lab.spec().clone();
    writeln!(
        out,
        "      lab {} (id {}): the agents answer on their sockets after {:.1} s",
        spec.dir.display(),
        spec.id,
        started.elapsed().as_secs_f64()
    )?;
    let hosted_engine = place.bin(HOSTED_ENGINE_NAME);
    let mut follower = Follower::new(&lab, &hosted_engine, 2);
    let mut story = Story::new(&spec);

    writeln!(
        out,
        "\n[2/{steps}] The hosts agree on one host, which takes the engine VM lease and starts \
         the VM:"
    )?;
    let up = story.follow(&mut follower, out, "a healthy engine", ENGINE_UP, |s| {
        s.healthy().is_some()
    })?;
    let (holder, old) = up.payload().expect("a healthy sample has a payload");
    let observer = holder % 3 + 1;
    follower.observer = observer;

    writeln!(
        out,
        "\n[3/{steps}] hosted-engine --vm-status --format=table, run as host{observer}:"
    )?;
    table(&lab, observer, &hosted_engine, out)?;

    writeln!(
        out,
        "\n[4/{steps}] Killing the engine VM: kill -9 of its process on host{holder} (test plan \
         case 3, engine VM crash). Expected: restarted on the same host first."
    )?;
    follower.restart();
    story.restart();
    let fault_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let said = lab.fault(Fault::VmKill { host: Some(holder) })?;
    writeln!(out, "      he-lab fault {said}")?;
    let back = story.follow(
        &mut follower,
        out,
        "the engine back",
        RECOVERY,
        super::plan::after_leaving_engine_up(holder, |s| {
            s.healthy().is_some() && s.payload().is_some_and(|(_, p)| p != old)
        }),
    )?;
    let (host, _) = back.payload().expect("a healthy sample has a payload");
    let place_said = if host == holder {
        "on the same host: the agent still held the lease and restarted it (the reference \
         moved it to another host)"
    } else {
        "on another host"
    };
    writeln!(
        out,
        "      Recovered in {:.1} s: a healthy engine again on host{host}, {place_said}.",
        back.at.as_secs_f64()
    )?;
    table(&lab, observer, &hosted_engine, out)?;
    drop(follower);
    writeln!(
        out,
        "\n      Why? hosted-engine --history --since={fault_unix:.3}, run as host{observer} \
         (every host's events, from the shared storage):"
    )?;
    history(&lab, observer, &hosted_engine, fault_unix, out)?;
    if opts.fencing {
        crash_fenced(&lab, &hosted_engine, &mut story, host, out)?;
    }

    writeln!(out, "\n[{steps}/{steps}] Restoring and cleaning up")?;
    writeln!(out, "      he-lab heal: {}", lab.heal()?)?;
    let report = lab.canary_check()?;
    let boots = report.boots.len();
    if report.ok() {
        writeln!(
            out,
            "      engine disk canary: {} lines from {boots} boots; never two engine VMs at \
             once, epochs never went back",
            report.lines
        )?;
    } else {
        writeln!(out, "      engine disk canary: {report}")?;
    }
    let down = lab.down()?;
    let left = procs::lab_processes(&spec.id);
    anyhow::ensure!(left.is_empty(), "processes left behind: {left:?}");
    writeln!(
        out,
        "      lab stopped: agents, engine VM and supervisor ended{}",
        match down.killed {
            0 => String::new(),
            n => format!(" ({n} killed)"),
        }
    )?;
    anyhow::ensure!(report.ok(), "the engine canary shows a broken rule");
    Ok(())
}

/// With fencing, step 5: the engine's host `holder` crashes (test plan case
/// 6), another host powers it off through its BMC, has it confirmed off and
/// starts the engine without waiting for lease-dead.
fn crash_fenced(
    lab: &Lab,
    hosted_engine: &Path,
    story: &mut Story,
    holder: u16,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let t = Profile::Fast.timings();
    let observer = holder % 3 + 1;
    writeln!(
        out,
        "\n[5/6] Crashing host{holder}, the engine's host (test plan case 6: its power \
         off, every process of it gone). Expected: another host powers it off through its \
         BMC, has fence_ipmilan confirm it off, and starts the engine without waiting \
         for lease-dead ({} s).",
        t.lease_dead_ms as f64 / 1000.0
    )?;
    let mut follower = Follower::new(lab, hosted_engine, observer);
    story.restart();
    let said = lab.fault(Fault::HostCrash { host: Some(holder) })?;
    writeln!(out, "      he-lab fault {said}")?;
    let back = story.follow(
        &mut follower,
        out,
        "the engine on another host",
        RECOVERY,
        |s| s.healthy().is_some_and(|host| host != holder),
    )?;
    let fenced = lab.spec().host_ids().filter(|&id| id != holder).any(|id| {
        std::fs::read_to_string(lab.spec().agent_log(id))
            .is_ok_and(|log| log.contains(&format!("host {holder} fenced: powered off")))
    });
    writeln!(
        out,
        "      Recovered in {:.1} s: a healthy engine again on host{}, {}.",
        back.at.as_secs_f64(),
        back.healthy().unwrap_or(0),
        if fenced {
            format!("after host{holder} was fenced, without waiting for lease-dead")
        } else {
            "not through a fence (see the agents' lines above) but by the lease's expiry".into()
        }
    )?;
    table(lab, observer, hosted_engine, out)
}

/// Runs `hosted-engine --history --since=<since>` as host `id` into `out`,
/// each line without its date (today's: the time says enough).
fn history(
    lab: &Lab,
    id: u16,
    hosted_engine: &Path,
    since: f64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let since = format!("--since={since:.3}");
    let args = ["--history", since.as_str()];
    show_run(lab, id, hosted_engine, &args, out, |line| {
        line.split_once(' ').map_or(line, |(_, rest)| rest)
    })
}

/// Runs `hosted-engine --vm-status --format=table` as host `id` into `out`.
fn table(lab: &Lab, id: u16, hosted_engine: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let args = ["--vm-status", "--format=table"];
    show_run(lab, id, hosted_engine, &args, out, |line| line)
}

/// Runs `hosted-engine args` as host `id` and writes its lines to `out`,
/// indented, blank ones left out, each as `tidy` makes it; its failure in
/// parentheses instead.
fn show_run(
    lab: &Lab,
    id: u16,
    hosted_engine: &Path,
    args: &[&str],
    out: &mut dyn Write,
    tidy: fn(&str) -> &str,
) -> anyhow::Result<()> {
    let mut command = lab.command(id, hosted_engine)?;
    command.args(args);
    match super::cmd::run(&mut command, STATUS_TIMEOUT) {
        Ok(text) => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                writeln!(out, "      {}", tidy(line))?;
            }
        }
        Err(e) => writeln!(out, "      ({e})")?,
    }
    Ok(())
}

/// What happened, told as it is seen: the agents' log lines that matter and
/// the ground truth's changes, with the time since the clock started.
struct Story {
    spec: LabSpec,
    /// How far each host's agent log has been told.
    offsets: Vec<u64>,
    payload: Option<(u16, procs::ProcId)>,
    health_ok: Option<bool>,
    start: Instant,
}

impl Story {
    fn new(spec: &LabSpec) -> Story {
        Story {
            spec: spec.clone(),
            offsets: vec![0; usize::from(spec.hosts)],
            payload: None,
            health_ok: None,
            start: Instant::now(),
        }
    }

    fn restart(&mut self) {
        self.start = Instant::now();
    }

    /// Follows the lab until `done`, telling each sample's news.
    fn follow(
        &mut self,
        follower: &mut Follower,
        out: &mut dyn Write,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Sample) -> bool,
    ) -> anyhow::Result<Sample> {
        let mut failed: Option<std::io::Error> = None;
        let sample = follower.until(what, limit, |s| {
            if failed.is_none()
                && let Err(e) = self.tell(s, out)
            {
                failed = Some(e);
            }
            failed.is_some() || done(s)
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        sample
    }

    /// Tells what `sample` shows that is new (at the sample's time), then the
    /// agents' new log lines (at the time they are read).
    fn tell(&mut self, sample: &Sample, out: &mut dyn Write) -> std::io::Result<()> {
        self.tell_truth(sample, out)?;
        for id in self.spec.host_ids() {
            for line in self.new_lines(id) {
                if let Some(text) = worth_telling(&line) {
                    let at = self.start.elapsed();
                    say(out, at, &format!("host{id}  {text}"))?;
                }
            }
        }
        Ok(())
    }

    fn tell_truth(&mut self, sample: &Sample, out: &mut dyn Write) -> std::io::Result<()> {
        let at = sample.at;
        let payload = sample.payload();
        if payload != self.payload {
            let news = match payload {
                Some((host, proc)) => {
                    let epoch = sample.truth.hosts[usize::from(host - 1)]
                        .payloads
                        .first()
                        .and_then(|p| p.epoch)
                        .map_or_else(|| "-".into(), |e| e.to_string());
                    format!(
                        "[truth] engine VM process runs on host{host} (pid {}, lease epoch {epoch})",
                        proc.pid
                    )
                }
                None if sample.truth.payload_count() > 1 => {
                    "[truth] more than one engine VM runs!".into()
                }
                None => "[truth] no engine VM process runs".into(),
            };
            say(out, at, &news)?;
            self.payload = payload;
        }
        // Health is news only while a VM runs (no VM already says it all).
        let health_ok = payload.is_some() && sample.health_page_ok();
        if payload.is_none() {
            self.health_ok = Some(false);
        } else if Some(health_ok) != self.health_ok {
            let news = if health_ok {
                format!(
                    "[truth] the engine's health page answers: {}",
                    super::engine::HEALTH_BODY
                )
            } else {
                "[truth] the engine's health page does not answer".into()
            };
            say(out, at, &news)?;
            self.health_ok = Some(health_ok);
        }
        Ok(())
    }

    /// The complete lines host `id`'s agent has logged since the last call.
    fn new_lines(&mut self, id: u16) -> Vec<String> {
        let offset = &mut self.offsets[usize::from(id - 1)];
        let Ok(mut file) = File::open(self.spec.agent_log(id)) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(*offset)).is_err()
            || file.take(LOG_READ_MAX).read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        *offset += end as u64 + 1;
        String::from_utf8_lossy(&bytes[..end])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One line of the story, `at` after the clock started.
fn say(out: &mut dyn Write, at: Duration, text: &str) -> std::io::Result<()> {
    writeln!(out, "      {:>5.1}s {text}", at.as_secs_f64())
}

/// An agent log line worth telling, without its time stamp: state changes,
/// VM state changes and actions, the lease.
fn worth_telling(line: &str) -> Option<&str> {
    let text = strip_time(line);
    let boring = [
        "StartState ->",
        "ReinitializeFSM ->",
        "ready:",
        "ovirt-ha-agent",
    ];
    if boring.iter().any(|b| text.starts_with(b)) {
        return None;
    }
    let telling = [
        " -> ",
        "lease",
        "engine VM start",
        "shutting",
        "powering",
        "fence",
    ];
    telling.iter().any(|t| text.contains(t)).then_some(text)
}

/// The agent's line without its UTC time stamp (`Fri Nov 27 20:10:31 2026 `).
fn strip_time(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..5 {
        let trimmed = rest.trim_start();
        match trimmed.find(' ') {
            Some(i) => rest = &trimmed[i..],
            None => return line,
        }
    }
    let year = line[..line.len() - rest.len()].trim_end();
    if year.len() >= 4 && year[year.len() - 4..].bytes().all(|b| b.is_ascii_digit()) {
        rest.trim_start()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_lines_are_told_without_their_time() {
        let line = "Fri Nov 27 20:10:31 2026 EngineUpBadHealth -> EngineStop: engine unhealthy";
        assert_eq!(
            worth_telling(line),
            Some("EngineUpBadHealth -> EngineStop: engine unhealthy")
        );
        assert_eq!(
            strip_time("Sat Nov  7 01:02:03 2026 claiming the engine VM lease (epoch 2)"),
            "claiming the engine VM lease (epoch 2)"
        );
        assert_eq!(
            worth_telling("Fri Nov 27 20:10:08 2026 StartState -> ReinitializeFSM: agent started"),
            None
        );
        assert_eq!(
            worth_telling("Fri Nov 27 20:10:08 2026 ready: control socket bound"),
            None
        );
        assert_eq!(
            worth_telling("Mon Dec  7 18:20:01 2026 fence_ipmilan off of host 1: off (0.20 s)"),
            Some("fence_ipmilan off of host 1: off (0.20 s)")
        );
        assert_eq!(strip_time("no time here"), "no time here");
        assert_eq!(
            worth_telling("<6>engine VM: Up -> Down"),
            Some("<6>engine VM: Up -> Down")
        );
    }
}
