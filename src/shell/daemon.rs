//! `ovirt-ha-agent` as a daemon: the configuration turned into the agent loop's
//! real I/O (metadata volume, VM driver, monitors, clock, log), the loop run until
//! SIGTERM/SIGINT, then the AgentStopped slot published; and the lease keeper
//! it leaves behind when it stops holding the lease over a running VM
//! ([`keeper`]), built from the same pieces.

pub mod keeper;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::agent_loop::{AgentLoop, Clock, Events, Io, Monitors, VmDriver, Watchdog};
use super::fence::DeviceFencer;
use super::history::History;
use super::maintenance::{MaintenanceTarget, set_maintenance};
use super::monitors::check_liveliness;
use super::monitors::{MonitorConfig, MonitorSet};
use super::notify::Notifier;
use super::server::{Server, SharedState, status_snapshot};
use super::signals;
use super::storage::{FileStorage, StorageConfig};
use super::system::{TRANSITION_TARGET, log_core_line};
use super::vm::EngineVm;
use super::watchdog::{HostWatchdog, NoWatchdog, open_configured};
use crate::clock::SystemClock;
use crate::config::{
    ConfFile, Config, ConfigPaths, FencingConf, HaConf, WATCHDOG_NONE_ACK_KEY, format_secs,
};
use crate::core::agent::Floors;
use crate::core::{CoreConfig, Millis, Request, Sensors, State};
use crate::metadata::history::EventKind;
use crate::proto::Liveliness;
use crate::shell::history::ring_path;

/// How long one wait slice lasts: the stop flag is checked this often.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// Where the highest lease epoch is kept, in the state directory.
const EPOCH_FILE: &str = "lease-epoch";

/// The persisted floors (`<epoch> <seq>`; an older agent wrote the epoch
/// alone); zeros when there are none (a warning when unreadable).
fn read_floors(path: &std::path::Path) -> Floors {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Floors::default();
    };
    match parse_floors(&text) {
        Some(floors) => floors,
        None => {
            tracing::warn!(
                "{}: not a lease epoch and write sequence, ignored",
                path.display()
            );
            Floors::default()
        }
    }
}

/// `<epoch> [<seq>]`.
fn parse_floors(text: &str) -> Option<Floors> {
    let mut words = text.split_whitespace();
    let epoch = words.next()?.parse().ok()?;
    let seq = match words.next() {
        Some(word) => word.parse().ok()?,
        None => 0,
    };
    words.next().is_none().then_some(Floors { epoch, seq })
}

/// Bound on one run of the storage connect command.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The monitors plus the local maintenance flag read from `ha.conf`.
pub struct HostMonitors {
    set: MonitorSet,
    ha_conf: std::path::PathBuf,
    local_maintenance: bool,
    /// Why the gateway test cannot run, as last logged (issue 16: said once,
    /// and shown in the status, rather than an "unknown" for ever).
    gateway_cannot_run: Option<String>,
}

impl HostMonitors {
    /// Logs the gateway test's inability to run when it begins or its reason
    /// changes, and its end.
    fn note_gateway(&mut self) {
        let now = self.set.gateway_cannot_run();
        if now == self.gateway_cannot_run {
            return;
        }
        match &now {
            Some(why) => tracing::error!(
                "the network test cannot run: {why}; the network part of the score stays \
                 unknown (no penalty) until it can"
            ),
            None => tracing::info!("the network test runs again"),
        }
        self.gateway_cannot_run = now;
    }
}

impl Monitors for HostMonitors {
    fn sensors(&mut self) -> Sensors {
        self.note_gateway();
        self.set.sensors()
    }

    fn local_maintenance(&mut self) -> bool {
        match HaConf::load(&self.ha_conf) {
            Ok(ha) => self.local_maintenance = ha.local_maintenance,
            // Keep the last known value: a half-edited file must not flip it.
            Err(e) => tracing::warn!("{e}; local maintenance stays {}", self.local_maintenance),
        }
        self.local_maintenance
    }

    fn engine_starting(&mut self) {
        self.set.engine_starting();
    }
}

/// The loop's reports in the daemon: log lines through `tracing`,
/// transitions to the control socket's history and the mail notifier,
/// operator requests from the control socket, the epoch floor to a file.
pub struct DaemonEvents {
    requests: Vec<Request>,
    /// Where transitions are recorded and mailed (set once the socket runs).
    transitions: Option<TransitionSink>,
    /// Where the highest lease epoch is persisted (atomically).
    epoch_file: std::path::PathBuf,
    /// State transitions since the start (for the metrics).
    transitions_total: u64,
    /// Where events go for the cluster history (set once it runs).
    history: Option<History>,
}

/// Where a state transition goes: the control socket's history and a mail.
struct TransitionSink {
    shared: SharedState,
    notifier: std::rc::Rc<Notifier>,
    hostname: String,
}

impl DaemonEvents {
    /// Queues an operator request for the next tick.
    pub fn push_request(&mut self, request: Request) {
        self.requests.push(request);
    }
}

impl Events for DaemonEvents {
    fn log(&mut self, _now: Millis, line: &str) {
        log_core_line(line);
        if let Some(history) = &self.history {
            history.record(EventKind::of_line(line), line);
        }
    }

    fn transition(&mut self, _now: Millis, from: State, to: State) {
        self.transitions_total += 1;
        // The core's transitions come with their reasons through `log`; the
        // agent's own stop does not.
        if to == State::AgentStopped
            && let Some(history) = &self.history
        {
            history.record(
                EventKind::Transition,
                format!(
                    "{} -> {}: the agent stops (SIGTERM)",
                    from.name(),
                    to.name()
                ),
            );
        }
        if let Some(sink) = &self.transitions {
            sink.shared.record_transition(from, to);
            // Queued for the mail worker; a dead mail server never delays the loop.
            sink.notifier
                .transition(&sink.hostname, from.name(), to.name());
        }
    }

    fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    fn persist_floors(&mut self, floors: Floors) {
        let path = &self.epoch_file;
        let text = format!("{} {}\n", floors.epoch, floors.seq);
        if let Err(e) = crate::config::write_atomic(path, text.as_bytes(), 0o644) {
            tracing::warn!(
                "{}: cannot persist the lease epoch {} and write sequence {}: {e}",
                path.display(),
                floors.epoch,
                floors.seq
            );
        }
    }
}

/// The system's host name, for the slot when `hostname` is not configured.
fn system_hostname() -> String {
    crate::shell::system::hostname().unwrap_or_else(|_| "localhost".into())
}

/// The agent's I/O in the daemon.
type DaemonIo = Io<FileStorage, EngineVm, HostMonitors, SystemClock, DaemonEvents, HostWatchdog>;
/// The agent loop in the daemon.
type DaemonLoop =
    AgentLoop<FileStorage, EngineVm, HostMonitors, SystemClock, DaemonEvents, HostWatchdog>;

/// The configured watchdog, opened (and so armed: the first loop pets or
/// releases it), with its timeout in ms (`None`: no watchdog, acknowledged).
pub(super) fn open_watchdog(config: &Config) -> anyhow::Result<(HostWatchdog, Option<u64>)> {
    let (dog, timeout_ms) = open_configured(&config.hosted_engine, &config.agent.timings)?;
    if let (false, Some(path)) = (dog.releasable(), dog.path()) {
        tracing::info!(
            target: TRANSITION_TARGET,
            "{}: nowayout (or unknown): the watchdog stays armed and petted even \
             with nothing at stake",
            path.display()
        );
    }
    Ok((dog, timeout_ms))
}

/// The start line, and a warning when this host runs without a watchdog
/// (acknowledged in its configuration, and so said at every start).
fn log_start(core: &CoreConfig, io: &DaemonIo, level: impl std::fmt::Display) {
    let watchdog = match (io.watchdog.path(), core.watchdog_timeout_ms) {
        (Some(path), Some(ms)) => format!("watchdog {} ({} s)", path.display(), format_secs(ms)),
        _ => "no watchdog".to_owned(),
    };
    tracing::info!(
        target: TRANSITION_TARGET,
        "ovirt-ha-agent starting: host id {}, metadata {}, engine VM driver {}, {watchdog}, log \
         level {level}",
        core.host_id,
        io.storage.volume().display(),
        io.vm.kind(),
    );
    if core.watchdog_timeout_ms.is_none() {
        tracing::warn!(
            target: TRANSITION_TARGET,
            "this host is unfenced (watchdog_device=none, {WATCHDOG_NONE_ACK_KEY}=yes): if this \
             agent hangs while it holds the engine VM lease, nothing resets the host, and \
             another host starts a second engine VM beside this one"
        );
    }
}

/// The pieces an agent and a lease keeper both run on: the core's
/// configuration, the metadata volume, the engine VM driver and the events.
pub(super) struct Common {
    pub core: CoreConfig,
    pub storage: FileStorage,
    pub vm: EngineVm,
    pub events: DaemonEvents,
}

/// Builds the [`Common`] pieces from the configuration.
pub(super) fn build_common(config: &Config, paths: &ConfigPaths) -> anyhow::Result<Common> {
    let he = &config.hosted_engine;
    let timings = &config.agent.timings;
    let volume = he.metadata_volume_path()?;
    let hostname = he.hostname.clone().unwrap_or_else(system_hostname);
    let floors = read_floors(&paths.state_dir.join(EPOCH_FILE));
    let core = CoreConfig {
        score: config.agent.score.clone(),
        engine_memory_mib: he.engine_memory_mib,
        recovery_configured: config.agent.recovery.command.is_some(),
        epoch_floor: floors.epoch,
        seq_floor: floors.seq,
        ..CoreConfig::new(he.host_id, hostname, timings.clone())
    };
    std::fs::create_dir_all(&paths.state_dir)
        .with_context(|| format!("creating {}", paths.state_dir.display()))?;
    let vm = super::vm::from_config(config, paths)
        .map_err(|e| anyhow::anyhow!("engine VM driver: {e}"))?;
    let storage = FileStorage::open(StorageConfig {
        volume,
        connect_argv: he.storage_connect_command.clone(),
        io_timeout: Duration::from_millis(timings.storage_timeout_ms),
        connect_timeout: CONNECT_TIMEOUT,
        connect_backoff: Duration::from_millis(timings.loop_ms),
    });
    let events = DaemonEvents {
        requests: Vec::new(),
        transitions: None,
        epoch_file: paths.state_dir.join(EPOCH_FILE),
        transitions_total: 0,
        history: None,
    };
    Ok(Common {
        core,
        storage,
        vm,
        events,
    })
}

/// Builds every piece of the agent from the configuration.
fn build(
    config: &Config,
    paths: &ConfigPaths,
    vm_pid: &Arc<AtomicU32>,
) -> anyhow::Result<(CoreConfig, DaemonIo)> {
    let he = &config.hosted_engine;
    let timings = &config.agent.timings;
    let Common {
        mut core,
        storage,
        vm,
        events,
    } = build_common(config, paths)?;
    let pid = Arc::clone(vm_pid);
    let set = MonitorSet::start(
        MonitorConfig::new(he, timings),
        Arc::new(move || Some(pid.load(Ordering::Relaxed)).filter(|p| *p != 0)),
    )
    .map_err(|e| anyhow::anyhow!("monitors: {e}"))?;
    let monitors = HostMonitors {
        set,
        ha_conf: paths.ha_conf.clone(),
        local_maintenance: false,
        gateway_cannot_run: None,
    };
    // A lease keeper left by the previous agent hands the lease back first
    // (and with it the watchdog device).
    keeper::take_over(&paths.state_dir, timings);
    // Opened last: an open device is armed, and a later step failing here
    // would leave it so.
    let (watchdog, watchdog_timeout_ms) = open_watchdog(config)?;
    core.watchdog_timeout_ms = watchdog_timeout_ms;
    let io = Io {
        storage,
        vm,
        monitors,
        clock: SystemClock::new(),
        events,
        watchdog,
    };
    Ok((core, io))
}

/// The state the control socket answers from, with the maintenance and
/// liveliness callbacks it runs on its own threads.
fn control_state(
    config: &Config,
    paths: &ConfigPaths,
    volume: &std::path::Path,
    vm_pid: &Arc<AtomicU32>,
    history: History,
) -> SharedState {
    let target = MaintenanceTarget {
        volume: volume.to_path_buf(),
        ha_conf: paths.ha_conf.clone(),
        io_timeout: Duration::from_millis(config.agent.timings.storage_timeout_ms),
    };
    let pid = Arc::clone(vm_pid);
    let fqdn = config.hosted_engine.fqdn.clone();
    let timeout_ms = config.agent.timings.liveliness_timeout_ms;
    SharedState::new(
        Box::new(move |mode| {
            let result = set_maintenance(&target, mode, pid.load(Ordering::Relaxed) != 0);
            let text = match &result {
                Ok(()) => format!(
                    "maintenance set to {} by an operator on this host",
                    mode.as_str()
                ),
                Err(e) => format!("maintenance {} refused: {e}", mode.as_str()),
            };
            history.record(EventKind::Maintenance, text);
            result
        }),
        Box::new(move || {
            Ok(match check_liveliness(&fqdn, timeout_ms) {
                Ok(true) => Liveliness {
                    up: true,
                    message: "Hosted Engine is up!".into(),
                },
                Ok(false) => Liveliness {
                    up: false,
                    message: "Hosted Engine is not up!".into(),
                },
                Err(e) => Liveliness {
                    up: false,
                    message: e,
                },
            })
        }),
    )
}

/// The agent stops with its engine VM running and its lease held: a lease
/// keeper renews the lease meanwhile (`shell::daemon::keeper`). The watchdog is
/// closed without the magic close first (it keeps counting; the keeper opens
/// it again). `true` once the keeper published the lease; `false` when it
/// could not start: then the slot keeps saying the agent stopped cleanly (a
/// parked lease, never expired by silence), published again in case the
/// keeper wrote over it, and the watchdog is opened again to be disarmed by
/// the caller.
fn hand_over_lease(agent: &mut DaemonLoop, paths: &ConfigPaths, config: &Config) -> bool {
    let device = std::mem::replace(&mut agent.io_mut().watchdog, HostWatchdog::None(NoWatchdog));
    drop(device);
    match keeper::hand_over(&paths.state_dir, &config.agent.timings) {
        Ok(started) => {
            tracing::info!(
                target: TRANSITION_TARGET,
                "ovirt-ha-agent stopped: AgentStopped published; the lease keeper (pid {}) \
                 renews the lease while the engine VM runs",
                started.pid
            );
            true
        }
        Err(why) => {
            tracing::warn!(
                target: TRANSITION_TARGET,
                "{why}: the lease stays parked (nobody expires it while this agent is away)"
            );
            if let Err(e) = agent.stop() {
                tracing::warn!("AgentStopped not published again: {e}");
            }
            match open_watchdog(config) {
                Ok((dog, _)) => agent.io_mut().watchdog = dog,
                Err(e) => tracing::warn!("cannot open the watchdog again to disarm it: {e:#}"),
            }
            false
        }
    }
}

/// Waits (bounded) for the history writer when the agent's run ends.
struct WriterGuard {
    writer: Option<super::history::HistoryWriter>,
    limit: Duration,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take()
            && !writer.finish(self.limit)
        {
            tracing::warn!("history: the last events may not be written (the storage is slow)");
        }
    }
}

/// Score events for the history: a penalty that appears or goes, with the
/// score's arithmetic (not every change of a penalty's size).
#[derive(Default)]
struct ScoreEvents {
    /// The penalties that cost points after the last loop.
    costing: Option<Vec<&'static str>>,
}

impl ScoreEvents {
    fn after_loop(&mut self, agent: &DaemonLoop, history: &History) {
        let Some(score) = agent.last_score() else {
            return;
        };
        let now: Vec<&'static str> = score
            .penalties
            .iter()
            .filter(|p| p.points > 0)
            .map(|p| p.kind.name())
            .collect();
        if let Some(before) = &self.costing
            && *before != now
        {
            let details: Vec<String> = score
                .penalties
                .iter()
                .filter(|p| p.points > 0)
                .map(|p| p.detail.clone())
                .collect();
            let why = match details.is_empty() {
                true => "no penalty".to_owned(),
                false => details.join("; "),
            };
            history.record(
                EventKind::Score,
                format!("score {}: {why} ({})", score.score, score.summary()),
            );
        }
        self.costing = Some(now);
    }
}

/// What the agent's metrics need from loop to loop (`shell::metrics`).
#[derive(Default)]
struct MetricsTracker {
    facts: super::metrics::AgentFacts,
    /// Whether the lease was being fenced after the last loop.
    fencing: bool,
    /// The highest epoch seen after the last loop (`None`: not adopted yet).
    highest_epoch: Option<u64>,
    /// Whether the last write of the textfile failed (said once).
    write_failed: bool,
}

impl MetricsTracker {
    fn after_loop(&mut self, agent: &DaemonLoop, took: Duration) {
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        let lease = agent.core().lease();
        let fencing = matches!(lease.phase(), crate::core::Phase::Fencing { .. });
        if fencing && !self.fencing {
            self.facts.fencing_total += 1;
        }
        self.fencing = fencing;
        // The epoch this agent learns at its start is no news; every rise
        // after it is a claim.
        let epoch = lease.highest_epoch();
        match self.highest_epoch {
            None if agent.core().adopted() => self.highest_epoch = Some(epoch),
            Some(seen) if epoch > seen => {
                self.facts.last_failover_unix = Some(wall());
                self.highest_epoch = Some(epoch);
            }
            _ => {}
        }
        self.facts.loop_seconds = took.as_secs_f64();
        let storage = &agent.io().storage;
        self.facts.storage_read_seconds = storage.last_read.map(|d| d.as_secs_f64());
        self.facts.storage_write_seconds = storage.last_write.map(|d| d.as_secs_f64());
        if agent.last_publish_ok() {
            self.facts.last_publish_unix = Some(wall());
        }
        self.facts.transitions_total = agent.io().events.transitions_total;
    }

    /// Writes the metrics of `status` (this loop's) to `path`.
    fn write(&mut self, path: &std::path::Path, status: &crate::proto::StatusReply) {
        let cluster = super::metrics::ClusterFacts {
            hosts: &status.hosts,
            global_maintenance: match status.global_unreadable {
                Some(_) => None,
                None => Some(status.global_maintenance),
            },
            unreadable_slots: status.unreadable.len(),
            agent: Some(&status.agent),
            storage_ok: Some(status.storage_trouble.is_none()),
        };
        let text = super::metrics::render(
            &cluster,
            Some(&self.facts),
            super::metrics::Exposition::Text,
        );
        match super::metrics::write_textfile(path, &text) {
            Ok(()) if self.write_failed => {
                self.write_failed = false;
                tracing::info!("{}: metrics written again", path.display());
            }
            Ok(()) => {}
            Err(e) if !self.write_failed => {
                self.write_failed = true;
                tracing::warn!("{}: cannot write the metrics: {e}", path.display());
            }
            Err(_) => {}
        }
    }
}

/// Hands the control socket this loop's view, and writes the metrics of it
/// when asked to (`metrics`: the textfile and the tracker).
fn publish_status(
    shared: &SharedState,
    agent: &mut DaemonLoop,
    metrics: Option<(&std::path::Path, &mut MetricsTracker)>,
) {
    let Some(score) = agent.last_score().cloned() else {
        return;
    };
    let now = agent.io_mut().clock.now();
    let (wall, _) = agent.io_mut().clock.wall();
    let mut snapshot = status_snapshot(agent.core(), agent.last_area(), &score, now, wall);
    if let Some(why) = &agent.io_mut().monitors.gateway_cannot_run {
        explain_unknown_network(&mut snapshot.agent.score, why);
    }
    snapshot.storage_trouble = agent.storage_trouble().map(|trouble| {
        let for_ms = now.since(trouble.since);
        crate::proto::StorageTroubleView {
            since_unix: wall.saturating_sub(i64::try_from(for_ms / 1000).unwrap_or(i64::MAX)),
            for_ms,
            error: super::server::bounded(trouble.error.clone()),
        }
    });
    if let Some((path, tracker)) = metrics {
        tracker.write(path, &snapshot);
    }
    shared.update(snapshot);
}

/// Says in the network penalty's detail why it is unknown: its test cannot
/// run (`why`).
fn explain_unknown_network(score: &mut crate::proto::ScoreView, why: &str) {
    for penalty in &mut score.penalties {
        if penalty.kind == "network" && penalty.points == 0 {
            penalty.detail = format!("gateway: unknown: the test cannot run: {why}");
        }
    }
}

/// Power fencing from the cluster's `fencing.conf`, read when the agent
/// starts: the core's part set in `core`, and the runner of the devices. No
/// file, or one with any problem (logged, each one), runs the agent without
/// fencing: the lease is as safe without it, only slower to free.
fn fencing(config: &Config, paths: &ConfigPaths, core: &mut CoreConfig) -> Option<DeviceFencer> {
    let path = match config.hosted_engine.fencing_conf_path() {
        Ok(path) => path,
        Err(e) => {
            tracing::warn!("power fencing off: {e}");
            return None;
        }
    };
    let timings = &config.agent.timings;
    match FencingConf::load_for_agent(&path, timings, &paths.fencing_secrets_dir()) {
        Ok(None) => {
            tracing::info!(
                "power fencing off: no {} (a silent holder's lease expires after \
                 lease-dead-secs)",
                path.display()
            );
            None
        }
        Ok(Some(conf)) => {
            let fencing = conf.core_conf(core.host_id, timings);
            tracing::info!(
                "power fencing on: {} fence device(s) of other hosts, a silent holder fenced \
                 after {} s, each fence-agent call bounded by {} s ({})",
                fencing.devices.len(),
                format_secs(fencing.fence_after_ms),
                format_secs(conf.timeout_ms),
                path.display()
            );
            core.fencing = Some(fencing);
            Some(DeviceFencer::new(
                conf.devices,
                Duration::from_millis(conf.timeout_ms),
            ))
        }
        Err(errors) => {
            for error in &errors.0 {
                tracing::error!("power fencing off: {error}");
            }
            None
        }
    }
}

/// Runs the agent until SIGTERM/SIGINT. Configuration errors come back before
/// anything is started.
pub fn run(paths: &ConfigPaths) -> anyhow::Result<()> {
    let level = super::system::init_logging().map_err(|e| anyhow::anyhow!(e))?;
    let config = Config::load_for_agent(paths).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    signals::install_stop_handlers().context("installing signal handlers")?;
    // The engine VM's pid, for the CPU monitor (0: none).
    let vm_pid = Arc::new(AtomicU32::new(0));
    let (mut core, io) = build(&config, paths, &vm_pid)?;
    let fencer = fencing(&config, paths, &mut core);
    log_start(&core, &io, level);
    let mut io = io;
    // Shared by the loop (which logs lost mail) and the transition callback.
    let notifier = std::rc::Rc::new(
        super::notify::Notifier::from_conf(&config.broker, Default::default())
            .map_err(|e| anyhow::anyhow!("notifications: {e}"))?,
    );
    // The history first: everything after this is on record, and its writer
    // is waited for (bounded) last, after every handle is gone.
    // (Declared before every handle, so dropped after them all.)
    let mut writer_guard = WriterGuard {
        writer: None,
        limit: Duration::from_millis(config.agent.timings.storage_timeout_ms * 2),
    };
    let volume_dir = io
        .storage
        .volume()
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let (history, writer) = History::start(
        ring_path(volume_dir, core.host_id),
        core.host_id,
        io.storage.volume().to_path_buf(),
    )
    .context("starting the history writer")?;
    writer_guard.writer = Some(writer);
    history.record(
        EventKind::Agent,
        format!("ovirt-ha-agent {} started", env!("CARGO_PKG_VERSION")),
    );
    io.events.history = Some(history.clone());
    io.vm.set_history(history.clone());
    let shared = control_state(
        &config,
        paths,
        io.storage.volume(),
        &vm_pid,
        history.clone(),
    );
    std::fs::create_dir_all(&paths.runtime_dir)
        .with_context(|| format!("creating {}", paths.runtime_dir.display()))?;
    let socket = crate::proto::socket_path(&paths.runtime_dir);
    let _server = Server::start(&socket, Arc::new(shared.clone()))
        .with_context(|| format!("{}: cannot serve the control socket", socket.display()))?;
    io.events.transitions = Some(TransitionSink {
        shared: shared.clone(),
        notifier: std::rc::Rc::clone(&notifier),
        hostname: core.hostname.clone(),
    });
    let mut agent = AgentLoop::start(core, io);
    agent.keep_last_area(true);
    if let Some(fencer) = fencer {
        agent.set_fencer(Box::new(fencer));
    }
    let mut metrics = MetricsTracker::default();
    let mut score_events = ScoreEvents::default();
    let mut ready = false;
    // Mails given up or dropped so far (each new loss is logged once).
    let mut mail_losses = 0u64;
    while !signals::stop_requested() {
        for request in shared.take_requests() {
            let what = match request {
                Request::StartVm { paused: false } => "start the engine VM here (--vm-start)",
                Request::StartVm { paused: true } => {
                    "start the engine VM here, paused (--vm-start-paused)"
                }
                Request::ShutdownVm => "shut the engine VM here down (--vm-shutdown)",
                Request::PowerOffVm => "power the engine VM here off (--vm-poweroff)",
            };
            history.record(
                EventKind::Request,
                format!("an operator on this host asked to {what}"),
            );
            agent.io_mut().events.push_request(request);
        }
        let began = Instant::now();
        let wait = Duration::from_millis(agent.tick());
        score_events.after_loop(&agent, &history);
        // The metrics' bookkeeping only when they are written.
        let textfile = config.agent.metrics.textfile.as_deref();
        if textfile.is_some() {
            metrics.after_loop(&agent, began.elapsed());
        }
        publish_status(
            &shared,
            &mut agent,
            textfile.map(|path| (path, &mut metrics)),
        );
        tracing::debug!(
            "loop done: state {}, score {}, next loop in {} ms",
            agent.core().state().name(),
            agent.last_score().map_or(0, |s| s.score),
            wait.as_millis()
        );
        if !ready && agent.core().adopted() {
            // Ready once the first metadata read succeeded (our slot is known).
            ready = true;
            match super::system::sd_notify("READY=1") {
                Ok(told) => tracing::info!(
                    "ready: control socket bound, own slot read{}",
                    if told { " (told systemd)" } else { "" }
                ),
                Err(e) => tracing::warn!("sd_notify READY=1: {e}"),
            }
        }
        vm_pid.store(agent.io().vm.vm_pid().unwrap_or(0), Ordering::Relaxed);
        let mail = notifier.stats();
        if mail.failed + mail.dropped > mail_losses {
            mail_losses = mail.failed + mail.dropped;
            let why = notifier.last_error().unwrap_or_else(|| "queue full".into());
            tracing::warn!("notification mail lost: {why}");
        }
        let until = Instant::now() + wait;
        // An operator request cuts the wait short.
        while !signals::stop_requested() && !shared.has_requests() && Instant::now() < until {
            std::thread::sleep(WAIT_SLICE.min(until.saturating_duration_since(Instant::now())));
        }
    }
    tracing::info!("stop requested (SIGTERM or SIGINT): publishing AgentStopped");
    history.record(
        EventKind::Agent,
        "ovirt-ha-agent stopping (SIGTERM or SIGINT)",
    );
    let _ = super::system::sd_notify("STOPPING=1");
    let stopped = agent.stop();
    match &stopped {
        Ok(true) => {
            if hand_over_lease(&mut agent, paths, &config) {
                return Ok(());
            }
        }
        Ok(false) => tracing::info!(
            target: TRANSITION_TARGET,
            "ovirt-ha-agent stopped: AgentStopped published"
        ),
        Err(e) => tracing::warn!(
            target: TRANSITION_TARGET,
            "ovirt-ha-agent stopped without publishing AgentStopped: {e}"
        ),
    }
    // Disarm the watchdog only when no VM is left unaccounted for: an
    // AgentStopped slot tells the other hosts, or the VM is gone.
    let vm_gone = agent.io_mut().vm.status().confirmed_down();
    if stopped.is_ok() || vm_gone {
        let now = agent.io_mut().clock.now();
        let dog = &mut agent.io_mut().watchdog;
        dog.release(now);
        if let (false, Some(path)) = (dog.releasable(), dog.path()) {
            tracing::warn!(
                target: TRANSITION_TARGET,
                "{}: the watchdog cannot be disarmed (nowayout): this host will be reset \
                 when its timeout runs out",
                path.display()
            );
        }
    }
    Ok(())
}
