//! The commands that go through the local agent or act on this host.
//!
//! VM actions go through the agent, which carries them out under the engine VM
//! lease; with the agent down they are refused (`--force` stops the local VM
//! directly: stopping can never make the engine run twice, starting could).

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::ctx::{Ctx, warn, write_stderr};
use super::failure::{EXIT_FAILURE, EXIT_OK, Failure, FailureKind, Outcome};
use super::render;
use super::view::{self, ClusterView};
use crate::cli::remote;
use crate::clock::SystemClock;
use crate::config::{HostedEngineConf, Timings};
use crate::core::{State, VmAction};
use crate::proto::{AgentStatus, ClientError, ErrorCode, MaintenanceMode, Reply, Request};
use crate::shell::{Clock, VmDriver};

use super::spec::Invocation;

/// How long `--set-maintenance` waits for the agent's acknowledgement (it
/// writes `ha.conf` and the metadata, each bounded by the storage timeout).
const AGENT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack on top of a tick's worst case in [`vm_request_window`].
const VM_REQUEST_SLACK: Duration = Duration::from_secs(3);

/// How long the agent's loop has to take a VM request (`--vm-start`,
/// `--vm-shutdown`, `--vm-poweroff`): its deadline. The agent answers only
/// once its loop has taken the request, and never acts on it after this, so
/// a command that gives up can say that nothing was done.
///
/// The loop takes requests at the start of each tick, and a waiting request
/// cuts the pause between ticks short (the daemon polls `has_requests`): a
/// request waits for the rest of the tick under way, milliseconds on a healthy
/// host, but on stalled storage a read and a write of up to storage-timeout
/// each, plus the VM action of that tick. So: two storage timeouts, one loop
/// (for an agent that sleeps out its pause), and 3 s of slack, which on the
/// default timings is 2 + 2 x 5 + 3 = 15 s (23 s on the reference's 10 s
/// loop); never less than the 10 s these requests had before, nor more than
/// the deadline the agent honours.
fn vm_request_window(timings: &Timings) -> Duration {
    let tick_ms = timings
        .loop_ms
        .saturating_add(timings.storage_timeout_ms.saturating_mul(2));
    let window = Duration::from_millis(tick_ms).saturating_add(VM_REQUEST_SLACK);
    let most = crate::proto::DEADLINE_MAX.saturating_sub(crate::proto::REPLY_MARGIN);
    window.clamp(AGENT_CALL_TIMEOUT, most)
}

/// Why a VM request to the local agent failed.
#[derive(Debug)]
enum VmCallError {
    /// The agent answered with a refusal (forbidden, queue full, ...).
    Refused(ClientError),
    /// The deadline passed before the agent's loop took the request: the
    /// agent said so (`expired`), or did not answer by then (stopped, hung).
    /// Either way it never acts on it.
    NotTaken(Duration),
    /// No agent to ask (not running, no permission) or a broken answer.
    Unreachable(ClientError),
}

impl std::fmt::Display for VmCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmCallError::Refused(e) | VmCallError::Unreachable(e) => write!(f, "{e}"),
            VmCallError::NotTaken(window) => write!(
                f,
                "did not take the request within {} s (is it paused or hung?)",
                window.as_secs()
            ),
        }
    }
}

/// Sends a VM request to the local agent, whose loop has `window` to take it
/// (the call waits [`crate::proto::REPLY_MARGIN`] longer for the answer).
fn call_vm(ctx: &Ctx, request: &Request, window: Duration) -> Result<(), VmCallError> {
    match ctx.call(request, window.saturating_add(crate::proto::REPLY_MARGIN)) {
        Ok(_) => Ok(()),
        Err(ClientError::Timeout { .. })
        | Err(ClientError::Remote {
            code: ErrorCode::Expired,
            ..
        }) => Err(VmCallError::NotTaken(window)),
        Err(e @ ClientError::Remote { .. }) => Err(VmCallError::Refused(e)),
        Err(e) => Err(VmCallError::Unreachable(e)),
    }
}

/// The failure of a VM request the agent did not take in time; `force`, the
/// action `--force` would do instead.
fn not_taken(window: Duration, force: Option<&str>) -> Failure {
    let mut message = format!(
        "The local ovirt-ha-agent {}: nothing was done",
        VmCallError::NotTaken(window)
    );
    if let Some(verb) = force {
        message.push_str(&format!(
            ". Pass --force to {verb} the engine VM on this host directly."
        ));
    }
    Failure::new(FailureKind::Expired, message)
}

/// Output formats of `--vm-status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Table,
    OpenMetrics,
}

fn format_of(inv: &Invocation) -> Result<Format, Failure> {
    let named = match inv.value("format") {
        None => None,
        Some("text") => Some(Format::Text),
        Some("json") => Some(Format::Json),
        Some("table") => Some(Format::Table),
        Some("openmetrics") => Some(Format::OpenMetrics),
        Some(other) => {
            return Err(Failure::new(
                FailureKind::Usage,
                format!("Invalid value '{other}' for --format (text, json, table or openmetrics)"),
            ));
        }
    };
    match (inv.flag("json"), named) {
        (true, Some(f)) if f != Format::Json => Err(Failure::new(
            FailureKind::Usage,
            "--json and --format=<other than json> contradict each other",
        )),
        (true, _) => Ok(Format::Json),
        (false, named) => Ok(named.unwrap_or(Format::Text)),
    }
}

/// `--watch[=<secs>]`: the refresh interval, if watching.
fn watch_interval(inv: &Invocation) -> Result<Option<Duration>, Failure> {
    if !inv.flag("watch") {
        return Ok(None);
    }
    let Some(text) = inv.value("watch") else {
        return Ok(Some(Duration::from_secs(2)));
    };
    match text.parse::<f64>() {
        Ok(secs) if (0.1..=86_400.0).contains(&secs) => Ok(Some(Duration::from_secs_f64(secs))),
        _ => Err(Failure::new(
            FailureKind::Usage,
            format!("Invalid value '{text}' for --watch (seconds, 0.1 to 86400)"),
        )),
    }
}

/// Gathers the view: the agent's, or the shared storage's when it does not
/// answer.
pub fn gather(ctx: &Ctx, he: &HostedEngineConf) -> Result<ClusterView, Failure> {
    let why = match view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT) {
        Ok(status) => return Ok(ClusterView::from_agent(status)),
        Err(e) => e.to_string(),
    };
    let timings = ctx.timings();
    let volume = he
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    ClusterView::from_storage(
        &volume,
        Duration::from_millis(timings.storage_timeout_ms),
        (timings.host_alive_timeout_ms, now),
        he.host_id,
        why.clone(),
    )
    .map_err(|e| {
        Failure::new(
            FailureKind::Unavailable,
            format!("the local agent: {why}; {e}"),
        )
    })
}

/// `--vm-status`.
pub fn vm_status(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let format = format_of(inv)?;
    if format == Format::OpenMetrics && inv.flag("explain") {
        return Err(Failure::new(
            FailureKind::Usage,
            "--explain is text and --format=openmetrics is for Prometheus: not both",
        ));
    }
    if format == Format::Json && inv.flag("explain") {
        // The reference's JSON has host ids and global_maintenance as its
        // only keys (parsers iterate over them): no room for text or more.
        return Err(Failure::new(
            FailureKind::Usage,
            "--explain is text and --json is the reference's JSON: not both; use \
             --format=table --explain",
        ));
    }
    let interval = watch_interval(inv)?;
    let he = ctx.deployed_conf()?;
    let redraw = interval.is_some()
        && matches!(format, Format::Text | Format::Table)
        && std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let view = gather(ctx, &he)?;
        let mut out = String::new();
        if redraw {
            // Home and clear: the status is redrawn in place.
            out.push_str("\x1b[H\x1b[2J");
        }
        if let Some(every) = interval.filter(|_| matches!(format, Format::Text | Format::Table)) {
            // When this refresh is (JSON lines stay pure JSON).
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            out.push_str(&format!(
                "Every {} s; refreshed {} (Ctrl-C to stop)\n",
                every.as_secs_f64(),
                &super::history::local_time(now_ms)[..19]
            ));
        }
        out.push_str(&match format {
            Format::Text => render::text(&view),
            Format::Json => render::json(&view),
            Format::Table => render::table(&view, table_layout()),
            Format::OpenMetrics => render::openmetrics(&view),
        });
        if inv.flag("explain") {
            out.push_str(&render::explain(&view));
        }
        if first || redraw {
            for line in render::warnings(&view) {
                warn(&line);
            }
        }
        first = false;
        let read = write_refresh(&out)?;
        let Some(interval) = interval.filter(|_| read) else {
            return Ok(EXIT_OK);
        };
        std::thread::sleep(interval);
    }
}

/// How to draw the table: for the terminal stdout is (its width, box
/// drawing), else plain 80-column ASCII.
pub(super) fn table_layout() -> render::TableLayout {
    if !std::io::stdout().is_terminal() {
        return render::TableLayout::PLAIN;
    }
    // SAFETY: TIOCGWINSZ fills the winsize we own; the result is checked.
    let columns = unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &raw mut size) == 0 && size.ws_col > 0)
            .then_some(size.ws_col)
    };
    render::TableLayout::terminal(columns)
}

/// Writes one answer (of several, under `--watch`) to stdout; false when
/// stdout is a closed pipe. Nobody reads any more: not an error
/// (`docs/architecture.md`, "House rules"), but the end of watching
/// (`--watch | head -1` must not run forever).
fn write_refresh(text: &str) -> Result<bool, Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::new(FailureKind::Io, format!("stdout: {e}"))),
    }
}

/// The local agent's status, refusing with a clear message when it is down.
fn agent_view(ctx: &Ctx) -> Result<ClusterView, Failure> {
    view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT)
        .map(ClusterView::from_agent)
        .map_err(|e| agent_down(&e))
}

fn agent_down(e: &ClientError) -> Failure {
    match e {
        ClientError::Remote { message, .. } => Failure::new(FailureKind::Refused, message.clone()),
        other => Failure::new(
            FailureKind::AgentDown,
            format!("The local ovirt-ha-agent is not answering: {other}"),
        ),
    }
}

/// `--vm-start` / `--vm-start-paused`: the agent starts the VM under the lease;
/// this waits (bounded) until it has launched.
pub fn vm_start(ctx: &Ctx, inv: &Invocation, paused: bool) -> Outcome {
    if let Some(conf) = inv.value("vm-conf") {
        return Err(Failure::new(
            FailureKind::Unsupported,
            format!(
                "--vm-conf={conf}: not supported; the engine VM's definition comes from \
                 hosted-engine.conf (vm_command, or the libvirt domain XML)"
            ),
        ));
    }
    ctx.deployed_conf()?;
    let before = agent_view(ctx)?;
    let me = before.agent.as_ref().map(|a| a.host_id);
    if let Some(h) = me.and_then(|id| before.host(id))
        && h.live_data
        && h.engine_status.vm_up()
    {
        return Err(Failure::new(
            FailureKind::Exists,
            format!("VM exists and its status is {}", h.engine_status.detail),
        ));
    }
    if let Some(h) = before
        .hosts
        .iter()
        .find(|h| Some(h.host_id) != me && h.live_data && h.engine_status.vm_up())
    {
        return Err(Failure::new(
            FailureKind::Exists,
            format!(
                "VM exists and its status is {} on host {} ({}): not starting it here",
                h.engine_status.detail, h.host_id, h.hostname
            ),
        ));
    }
    if before
        .agent
        .as_ref()
        .is_some_and(|a| a.known_state() == Some(State::LocalMaintenance))
    {
        return Err(Failure::new(
            FailureKind::Refused,
            "This host is in local maintenance: its agent does not start the engine VM here \
             (hosted-engine --set-maintenance --mode=none first)",
        ));
    }
    // The agent's clock is CLOCK_BOOTTIME, which this process shares.
    let sent_ms = SystemClock::new().now().as_millis();
    let timings = ctx.timings();
    let window = vm_request_window(&timings);
    call_vm(ctx, &Request::VmStart { paused }, window).map_err(|e| match e {
        VmCallError::NotTaken(window) => not_taken(window, None),
        VmCallError::Refused(e) | VmCallError::Unreachable(e) => agent_down(&e),
    })?;
    if inv.flag("no-wait") {
        return Ok(EXIT_OK);
    }
    // Three loops until a snapshot shows a publish made after the agent took
    // the request (see `AfterRequest`), one to claim, the settle time, one
    // to start, one to publish and one to read it back: then the VM shows as
    // launching.
    let wait = Duration::from_millis(
        timings.loop_ms * 7 + timings.lease_settle_ms + timings.storage_timeout_ms,
    );
    match await_own_slot(ctx, sent_ms, wait, |h| h.engine_status.vm_up()) {
        Ok(()) => {
            super::super::write_stdout("VM in WaitForLaunch\n")
                .map_err(|e| Failure::new(FailureKind::Io, format!("stdout: {e}")))?;
            Ok(EXIT_OK)
        }
        Err(last) => Err(Failure::new(
            FailureKind::StartFailed,
            format!(
                "VM failed to launch ({last} after {} s; see the agent's log)",
                wait.as_secs()
            ),
        )),
    }
}

/// Waits at most `wait` until the local agent's status shows this host's
/// slot, as published after a request sent at `sent_ms` (its monotonic
/// milliseconds) was taken, satisfying `done`. `Err`: what was seen last.
fn await_own_slot(
    ctx: &Ctx,
    sent_ms: u64,
    wait: Duration,
    done: impl Fn(&crate::proto::HostStatus) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    let mut after = AfterRequest::new(sent_ms);
    let mut last = String::from("no status yet");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200).min(wait));
        let Ok(status) = view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT) else {
            continue;
        };
        last = format!("agent state {}", status.agent.state);
        if let Some(t) = &status.storage_trouble {
            last.push_str(&format!(", shared storage failing: {}", t.error));
        }
        let own = status
            .hosts
            .iter()
            .find(|h| h.host_id == status.agent.host_id);
        if after.shows_the_request(status.taken.monotonic_ms, own.map(|h| h.host_ts))
            && own.is_some_and(&done)
        {
            return Ok(());
        }
    }
    Err(last)
}

/// Which of the agent's status snapshots show this host's slot as published
/// after the agent took a request sent at `sent_ms`.
///
/// The agent takes requests at the start of a loop; its snapshot, made at the
/// end of a loop, shows its own slot as read at the start of that loop, i.e.
/// as published one loop earlier. So the first snapshot taken after the
/// request ends a loop that may have begun before it; the next loop began
/// after that snapshot, took the request and published; the snapshot after
/// that one is the first to show that publish. Until then the own slot may
/// still say "up" for a VM that has since gone (as right after
/// `--vm-shutdown`), which must not read as a launch. The own slot must also
/// be newer than any seen before then (a failed read leaves an old area).
#[derive(Debug)]
struct AfterRequest {
    /// Distinct snapshots taken after `sent_ms` so far, and the last one's
    /// time (`sent_ms` before the first).
    snapshots: u32,
    last_taken_ms: u64,
    /// The newest own `host-ts` shown before the request's publish can show.
    stale_ts: Option<u64>,
}

impl AfterRequest {
    /// The snapshot that first can show a publish made after the request.
    const FIRST_FRESH_SNAPSHOT: u32 = 3;

    fn new(sent_ms: u64) -> AfterRequest {
        AfterRequest {
            snapshots: 0,
            last_taken_ms: sent_ms,
            stale_ts: None,
        }
    }

    /// Notes a snapshot taken at `taken_ms` showing the own slot's `host_ts`;
    /// whether that slot was published after the request was taken.
    fn shows_the_request(&mut self, taken_ms: u64, own_ts: Option<u64>) -> bool {
        if taken_ms > self.last_taken_ms {
            self.snapshots += 1;
            self.last_taken_ms = taken_ms;
        }
        if self.snapshots < Self::FIRST_FRESH_SNAPSHOT {
            self.stale_ts = self.stale_ts.max(own_ts);
            return false;
        }
        own_ts.is_some_and(|ts| self.stale_ts.is_none_or(|stale| ts > stale))
    }
}

/// `--vm-shutdown` / `--vm-poweroff`: through the agent, or directly with
/// `--force` when the agent is down or did not take the request. Silent on
/// success.
pub fn vm_stop(ctx: &Ctx, inv: &Invocation, power_off: bool) -> Outcome {
    let he = ctx.deployed_conf()?;
    let request = if power_off {
        Request::VmPoweroff
    } else {
        Request::VmShutdown
    };
    let verb = if power_off { "power off" } else { "shut down" };
    let timings = ctx.timings();
    // The agent's view first (when it answers): is there a VM here to stop,
    // and will the cluster start it again?
    check_before_stop(ctx, inv, &he)?;
    let sent_ms = SystemClock::new().now().as_millis();
    let window = vm_request_window(&timings);
    match call_vm(ctx, &request, window) {
        Ok(()) if inv.flag("no-wait") => Ok(EXIT_OK),
        Ok(()) => {
            // The request taken, the action run, the VM down (a shutdown
            // within its grace), then published and read back.
            let grace = if power_off {
                0
            } else {
                timings.vm_shutdown_grace_ms
            };
            let wait = Duration::from_millis(
                timings.loop_ms * 5
                    + timings.storage_timeout_ms * 2
                    + timings.poweroff_timeout_ms
                    + grace,
            );
            await_own_slot(ctx, sent_ms, wait, |h| !h.engine_status.vm_up())
                .map(|()| EXIT_OK)
                .map_err(|last| {
                    Failure::new(
                        FailureKind::StopFailed,
                        format!(
                            "the engine VM still runs on this host {} s after the agent took \
                             the {} request ({last}); see the agent's log",
                            wait.as_secs(),
                            request.kind()
                        ),
                    )
                })
        }
        Err(VmCallError::Refused(e)) => Err(agent_down(&e)),
        // The agent will not act on it: acting directly cannot double up.
        Err(e) if inv.flag("force") => force_stop(ctx, &e, power_off),
        Err(VmCallError::NotTaken(window)) => Err(not_taken(window, Some(verb))),
        Err(VmCallError::Unreachable(e)) => Err(Failure::new(
            FailureKind::AgentDown,
            format!(
                "The local ovirt-ha-agent is not answering: {e}. Start it, or pass --force to \
                 {verb} the engine VM on this host directly."
            ),
        )),
    }
}

/// Before a stop request, with the agent's view (when it answers): refuses
/// when no engine VM runs here, as the agent last published it, and warns
/// when the cluster will start it again.
fn check_before_stop(ctx: &Ctx, inv: &Invocation, he: &HostedEngineConf) -> Result<(), Failure> {
    let Ok(before) = view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT) else {
        return Ok(());
    };
    let before = ClusterView::from_agent(before);
    let own = before.agent.as_ref().and_then(|a| before.host(a.host_id));
    // `down`, `down_unexpected`, `down_missing`: not running here, as the
    // agent last published, in a state that runs no VM. Not said while the
    // storage fails (the slot may be old), nor with --force (which looks at
    // the VM itself).
    let quiet = before.agent.as_ref().is_some_and(runs_no_vm);
    if quiet
        && before.storage_trouble.is_none()
        && !inv.flag("force")
        && own.is_some_and(|h| h.engine_status.vm_down())
    {
        if let Some(h) = before
            .hosts
            .iter()
            .find(|h| h.live_data && h.engine_status.vm_up())
        {
            warn(&format!(
                "the engine VM runs on host {} ({}), not here",
                h.host_id,
                super::hostfacts::shown(&h.hostname)
            ));
        }
        return Err(Failure::new(
            FailureKind::NoVm,
            format!(
                "Virtual machine does not exist: {{'vmId': '{}'}}",
                he.vmid.as_deref().unwrap_or_default()
            ),
        ));
    }
    if !before.global_maintenance {
        warn(
            "the cluster is not in global maintenance: the agents will start the engine VM \
             again, here or on another host (hosted-engine --set-maintenance --mode=global \
             first to keep it down)",
        );
    }
    Ok(())
}

/// Whether the agent is in a state that runs no engine VM here.
fn runs_no_vm(agent: &AgentStatus) -> bool {
    matches!(
        agent.known_state(),
        Some(
            State::EngineDown
                | State::LocalMaintenance
                | State::GlobalMaintenance
                | State::ReinitializeFSM
        )
    )
}

/// `--force` with the agent down or not taking requests: the local engine VM
/// stopped directly.
fn force_stop(ctx: &Ctx, why: &VmCallError, power_off: bool) -> Outcome {
    let why = match why {
        VmCallError::NotTaken(_) => format!("the local agent {why}"),
        _ => format!("the local agent is not answering ({why})"),
    };
    warn(&format!("{why}; --force: acting on the engine VM directly"));
    let mut driver = local_driver(ctx)?;
    let action = if power_off {
        VmAction::PowerOff
    } else {
        VmAction::Shutdown
    };
    if !super::local_vm::runs_here(driver.as_mut()) {
        warn("the engine VM is not running on this host");
        return Ok(EXIT_OK);
    }
    driver.act(action).map(|()| EXIT_OK).map_err(|e| {
        Failure::new(
            FailureKind::StopFailed,
            format!(
                "the engine VM did not {}: {e}",
                if power_off { "power off" } else { "shut down" }
            ),
        )
    })
}

/// The engine VM driver of this host, for `--force` with the agent down.
fn local_driver(ctx: &Ctx) -> Result<Box<dyn VmDriver>, Failure> {
    ctx.trust_conf()?;
    let config =
        crate::config::Config::load(&ctx.paths).map_err(|e| Failure::config(e.to_string()))?;
    super::local_vm::driver(&config, &ctx.paths)
        .map_err(|e| Failure::config(format!("engine VM driver: {e}")))
}

/// `--set-maintenance --mode=<mode>`.
pub fn set_maintenance(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let Some(text) = inv.value("mode") else {
        return Err(Failure::new(
            FailureKind::Usage,
            "You must specify a maintenance mode with --mode",
        ));
    };
    let Some(mode) = MaintenanceMode::from_str_exact(text) else {
        return Err(Failure::new(
            FailureKind::Usage,
            format!("Invalid value '{text}' for --mode"),
        ));
    };
    let he = ctx.deployed_conf()?;
    let local = mode == MaintenanceMode::Local;
    // Whether this host's slot shows the local flag wanted already (then
    // there is nothing to wait for).
    let published_already = view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT)
        .ok()
        .and_then(|s| {
            let own = s.hosts.iter().find(|h| h.host_id == s.agent.host_id)?;
            Some(own.maintenance == local)
        })
        .unwrap_or(false);
    let sent_ms = SystemClock::new().now().as_millis();
    match ctx.call(&Request::SetMaintenance { mode }, AGENT_CALL_TIMEOUT) {
        Ok(_) if published_already => Ok(EXIT_OK),
        // Slot 0 was written (durably) before the agent answered; the local
        // flag reaches the shared storage with this host's next publish.
        Ok(_) => {
            let timings = ctx.timings();
            let wait = Duration::from_millis(timings.loop_ms * 4 + timings.storage_timeout_ms * 2);
            await_own_slot(ctx, sent_ms, wait, |h| h.maintenance == local)
                .map(|()| EXIT_OK)
                .map_err(|last| {
                    Failure::new(
                        FailureKind::NotPublished,
                        format!(
                            "the agent took the maintenance mode, but this host's slot on the \
                             shared storage does not show local maintenance {} after {} s \
                             ({last})",
                            if local { "on" } else { "off" },
                            wait.as_secs()
                        ),
                    )
                })
        }
        Err(e @ ClientError::Remote { .. }) => Err(agent_down(&e)),
        Err(e) => {
            warn(&format!(
                "the local agent is not answering ({e}); writing the maintenance mode directly"
            ));
            if mode != MaintenanceMode::Global {
                warn(
                    "local maintenance is in ha.conf; this host's slot on the shared storage \
                     shows it once the agent runs again",
                );
            }
            let vm_runs_here = if mode == MaintenanceMode::Local {
                super::local_vm::runs_here(local_driver(ctx)?.as_mut())
            } else {
                false
            };
            let timings = ctx.timings();
            let target = crate::shell::maintenance::MaintenanceTarget {
                volume: he
                    .metadata_volume_path()
                    .map_err(|e| Failure::config(e.to_string()))?,
                ha_conf: ctx.paths.ha_conf.clone(),
                io_timeout: Duration::from_millis(timings.storage_timeout_ms),
            };
            crate::shell::maintenance::set_maintenance(&target, mode, vm_runs_here)
                .map(|()| EXIT_OK)
                .map_err(|e| Failure::new(FailureKind::Refused, e))
        }
    }
}

/// `--check-liveliness`: through the agent, or directly when it is down.
pub fn check_liveliness(ctx: &Ctx) -> Outcome {
    let he = ctx.deployed_conf()?;
    let up = match ctx.call(&Request::CheckLiveliness, Duration::from_secs(30)) {
        Ok(Reply::CheckLiveliness(l)) => l.up,
        Ok(other) => {
            return Err(Failure::new(
                FailureKind::Protocol,
                format!("asked for liveliness, got a {} reply", other.kind()),
            ));
        }
        Err(_) => {
            let timeout = ctx.timings().liveliness_timeout_ms;
            crate::shell::monitors::check_liveliness(&he.fqdn, timeout).unwrap_or(false)
        }
    };
    let (text, code) = if up {
        ("Hosted Engine is up!\n", EXIT_OK)
    } else {
        ("Hosted Engine is not up!\n", EXIT_FAILURE)
    };
    Ok(super::super::answer("hosted-engine", text, code))
}

/// `--connect-storage`: the connect command, then a read of the volume.
pub fn connect_storage(ctx: &Ctx) -> Outcome {
    let he = ctx.deployed_conf()?;
    let timings = ctx.timings();
    if let Some(argv) = &he.storage_connect_command {
        ctx.trust_conf()?;
        crate::shell::storage::run_checked(argv, CONNECT_TIMEOUT).map_err(|e| {
            Failure::new(
                FailureKind::Storage,
                format!("storage_connect_command: {e}"),
            )
        })?;
    }
    let volume = he
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    let mut store = crate::shell::store::MetadataStore::open(
        &volume,
        Duration::from_millis(timings.storage_timeout_ms),
    );
    store.read_area().map_err(|e| {
        Failure::new(
            FailureKind::Storage,
            format!(
                "the shared metadata {} cannot be read: {e}",
                volume.display()
            ),
        )
    })?;
    Ok(EXIT_OK)
}

/// How long `--connect-storage` lets the connect command run.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// `--disconnect-storage`: unmounts the storage's mount point.
pub fn disconnect_storage(ctx: &Ctx) -> Outcome {
    let he = ctx.deployed_conf()?;
    if ctx.agent_may_run() {
        return Err(Failure::new(
            FailureKind::Refused,
            "ovirt-ha-agent is running and uses the shared storage: stop it first",
        ));
    }
    if super::local_vm::runs_here(local_driver(ctx)?.as_mut()) {
        return Err(Failure::new(
            FailureKind::Refused,
            "the engine VM runs on this host and uses the shared storage: shut it down first",
        ));
    }
    let Some(mount_point) = he.storage_mount_point() else {
        return Err(Failure::new(
            FailureKind::Unsupported,
            format!(
                "storage of type {} is not a mounted file system: nothing to unmount",
                he.domain_type.as_str()
            ),
        ));
    };
    if !is_mount_point(&mount_point) {
        warn(&format!(
            "{} is not a mount point: nothing to disconnect",
            mount_point.display()
        ));
        return Ok(EXIT_OK);
    }
    let status = std::process::Command::new("umount")
        .arg(&mount_point)
        .status()
        .map_err(|e| Failure::new(FailureKind::Storage, format!("running umount: {e}")))?;
    if status.success() {
        Ok(EXIT_OK)
    } else {
        Err(Failure::new(
            FailureKind::Storage,
            format!("umount {} failed ({status})", mount_point.display()),
        ))
    }
}

/// Whether a file system is mounted at `path`, as this mount namespace's
/// table (`/proc/self/mountinfo`) says. Comparing the device with the parent
/// directory's misses a bind mount from the same file system (it then claimed
/// "nothing to disconnect" and left the storage mounted), so the device is
/// compared only when the table cannot be read. The path as configured is
/// looked up first: a hung NFS mount point is never touched when it is listed.
fn is_mount_point(path: &Path) -> bool {
    use std::io::Read;
    let mut table = Vec::new();
    let read = std::fs::File::open("/proc/self/mountinfo")
        .and_then(|f| f.take(MOUNTINFO_MAX).read_to_end(&mut table));
    if read.is_err() {
        return device_differs(path);
    }
    mountinfo_lists(&table, path)
        || std::fs::canonicalize(path).is_ok_and(|real| mountinfo_lists(&table, &real))
}

/// Most of the mount table read (a host with thousands of container mounts
/// has a few MiB).
const MOUNTINFO_MAX: u64 = 64 << 20;

/// Whether a mount table in `/proc/<pid>/mountinfo` format has a mount at
/// `path` (field 5, octal escapes undone: `\040` a space, ...).
fn mountinfo_lists(table: &[u8], path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    table
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .any(|field| std::ffi::OsStr::from_bytes(&unescape_octal(field)) == path.as_os_str())
}

/// A mount table field with its `\ooo` escapes undone.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match digits {
            Some(d) if field[i] == b'\\' => {
                let value = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// Whether `path`'s device differs from its parent's (or it is its own
/// parent): the mount test when the mount table cannot be read.
fn device_differs(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    match path.parent().map(std::fs::metadata) {
        Some(Ok(parent)) => parent.dev() != meta.dev() || parent.ino() == meta.ino(),
        _ => true,
    }
}

/// `--console`.
pub fn console(ctx: &Ctx) -> Outcome {
    ctx.deployed_conf()?;
    ctx.trust_conf()?;
    let config =
        crate::config::Config::load(&ctx.paths).map_err(|e| Failure::config(e.to_string()))?;
    let argv = super::local_vm::console_command(&config, &ctx.paths)
        .map_err(|e| Failure::new(FailureKind::Unsupported, e))?;
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(|e| Failure::new(FailureKind::Console, format!("running {}: {e}", argv[0])))?;
    Ok(if status.success() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// `--add-console-password`.
pub fn add_console_password(ctx: &Ctx, inv: &Invocation) -> Outcome {
    ctx.deployed_conf()?;
    ctx.trust_conf()?;
    let config =
        crate::config::Config::load(&ctx.paths).map_err(|e| Failure::config(e.to_string()))?;
    let password = match inv.value("password") {
        Some(p) => p.to_owned(),
        None => match std::env::var("OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD") {
            Ok(p) if !p.is_empty() => p,
            _ => prompt_password()?,
        },
    };
    super::local_vm::set_console_password(&config, &password)
        .map(|()| EXIT_OK)
        .map_err(|e| Failure::new(FailureKind::Console, e))
}

/// Reads a password from the terminal without echo.
fn prompt_password() -> Result<String, Failure> {
    use std::io::BufRead;
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            FailureKind::Usage,
            "no password: pass --password or set OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD",
        ));
    }
    write_stderr("Enter password: ");
    let echo = EchoOff::new();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    write_stderr("\n");
    read.map_err(|e| Failure::new(FailureKind::Io, format!("reading the password: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure::new(FailureKind::Usage, "empty password"));
    }
    Ok(password)
}

/// Terminal echo off for as long as it lives.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on stdin with a valid termios buffer.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
            }
        }
    }
}

/// Any read-only command with `--remote`: run on the other host over SSH, its
/// answer shown here as it came (stdout, stderr, exit code). `--watch` is
/// carried out here, one remote run per refresh.
pub fn remote(inv: &Invocation, target_text: &str) -> Outcome {
    let config = match inv.value("remote-ssh-config") {
        Some("none") => None,
        Some(file) => Some(std::path::PathBuf::from(file)),
        None => remote::default_ssh_config(),
    };
    let (target, config_identity) = remote::resolve(target_text, config.as_deref())
        .map_err(|e| Failure::new(FailureKind::Remote, e.to_string()))?;
    let defaults = remote::Options::default();
    let timeout = match inv.value("remote-timeout") {
        None => defaults.timeout,
        Some(text) => match text.parse::<f64>() {
            Ok(secs) if (1.0..=86_400.0).contains(&secs) => Duration::from_secs_f64(secs),
            _ => {
                return Err(Failure::new(
                    FailureKind::Usage,
                    format!("Invalid value '{text}' for --remote-timeout (seconds, 1 to 86400)"),
                ));
            }
        },
    };
    let options = remote::Options {
        identity: inv
            .value("remote-identity")
            .map(Into::into)
            .or(config_identity),
        timeout,
        known_hosts: inv
            .value("remote-known-hosts")
            .map(Into::into)
            .or(defaults.known_hosts.clone()),
        host_key_policy: if inv.flag("remote-accept-new-host-key") {
            remote::HostKeyPolicy::AcceptNew
        } else {
            remote::HostKeyPolicy::Strict
        },
        ..defaults
    };
    let program = inv.value("remote-command").unwrap_or("hosted-engine");
    let mut argv = vec![program.to_owned()];
    let interval = watch_interval(inv)?;
    argv.extend(
        inv.to_remote_args()
            .into_iter()
            .filter(|a| a != "--watch" && !a.starts_with("--watch=")),
    );
    loop {
        let out = remote::run(&target, &options, &argv).map_err(|e| remote_failure(&e))?;
        let mut text = String::new();
        if interval.is_some() && std::io::stdout().is_terminal() && !inv.flag("json") {
            text.push_str("\x1b[H\x1b[2J");
        }
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        let read = write_refresh(&text)?;
        write_stderr(&String::from_utf8_lossy(&out.stderr));
        match interval {
            Some(interval) if out.exit_code == 0 && read => std::thread::sleep(interval),
            _ => return Ok(out.exit_code),
        }
    }
}

/// A failed `--remote` run; an unknown host key also names the option that
/// accepts it (the transport's message speaks of the policy, not the option).
fn remote_failure(e: &remote::RemoteError) -> Failure {
    let mut message = e.to_string();
    if matches!(e, remote::RemoteError::UnknownHostKey { .. }) {
        message.push_str(" (here: --remote-accept-new-host-key)");
    }
    Failure::new(FailureKind::Remote, message)
}

#[cfg(test)]
mod tests {
    use super::{AfterRequest, mountinfo_lists};
    use std::path::Path;

    #[test]
    fn mount_points_come_from_the_mount_table() {
        let table = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
            36 22 8:1 /srv/export /mnt/he rw,relatime - ext4 /dev/sda1 rw\n\
            37 22 0:44 / /mnt/with\\040space\\134x rw - tmpfs none rw\n";
        assert!(mountinfo_lists(table, Path::new("/")));
        // A bind mount from the same file system (same device) is listed.
        assert!(mountinfo_lists(table, Path::new("/mnt/he")));
        assert!(mountinfo_lists(table, Path::new("/mnt/with space\\x")));
        assert!(!mountinfo_lists(table, Path::new("/mnt")));
        assert!(!mountinfo_lists(table, Path::new("/srv/export")));
        assert!(!mountinfo_lists(
            table,
            Path::new("/mnt/with\\040space\\134x")
        ));
        assert!(!mountinfo_lists(b"", Path::new("/")));
    }

    #[test]
    fn a_launch_counts_only_from_a_publish_made_after_the_request() {
        // Sent at 1000 ms; snapshots every loop (1000 ms) from 1500 ms.
        let mut after = AfterRequest::new(1000);
        // Older snapshots, re-read snapshots and the two loops that cannot show
        // the request's publish: never, whatever the slot says.
        assert!(!after.shows_the_request(900, Some(9)));
        assert!(!after.shows_the_request(1500, Some(10)));
        assert!(!after.shows_the_request(1500, Some(10)));
        assert!(!after.shows_the_request(2500, Some(11)));
        // The third snapshot shows the publish of the loop that took it.
        assert!(after.shows_the_request(3500, Some(12)));

        // A failed read left the old area: the same slot again is not fresh.
        let mut after = AfterRequest::new(1000);
        assert!(!after.shows_the_request(1500, Some(10)));
        assert!(!after.shows_the_request(2500, Some(11)));
        assert!(!after.shows_the_request(3500, Some(11)));
        assert!(after.shows_the_request(4500, Some(13)));
        // No own slot at all: nothing to show.
        let mut after = AfterRequest::new(0);
        for taken in 1..10 {
            assert!(!after.shows_the_request(taken, None));
        }
    }
}
