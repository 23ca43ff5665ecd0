//! The `libvirt` engine VM driver (issue 4, item 3), behind the cargo feature
//! `libvirt` (the `virt` crate links libvirt).
//!
//! - **The domain** is created from an XML file on the shared storage
//!   (`vm_xml`) as a *transient* domain, as vdsm does: it exists on a host only
//!   while it runs, so no host keeps a definition that `virsh start` or
//!   libvirt's autostart could start behind the lease's back. It is found by
//!   its UUID, which must be `vmid`: a domain whose XML names another UUID is
//!   destroyed before it ran and the start fails saying so.
//! - **Fencing token:** every start creates the domain paused, writes the lease
//!   epoch and host id into the domain's metadata (`<he:lease epoch=".."
//!   host-id=".."/>` in the [`METADATA_NS`] namespace, `virsh metadata <name>
//!   --uri urn:ovirt-hosted-engine:lease`), and only then lets it run, so no
//!   guest instruction runs without it.
//! - **Stops never block the loop:** a graceful shutdown asks for an ACPI
//!   power-button press and returns; every later `status()`/`act()` checks the
//!   grace period and destroys the domain once it has passed. The shutdown is
//!   recorded in the metadata (`stopping="1"`) so that a restarted agent keeps
//!   the grace going instead of forgetting it.
//! - **Bounded:** libvirt is called from one worker thread; every call waits at
//!   most `call_timeout` for it. A call that does not answer in time fails (the
//!   status reads `QueryFailed`), and no new call is made until it has answered.
//!
//! What the VM manager would say (`docs/compat.md` section 3):
//!
//! | libvirt | status |
//! |---|---|
//! | no domain with our UUID, or shut off, never seen running or after our stop | `NotPresent` |
//! | running, blocked | `Up` |
//! | paused, pmsuspended | `Paused` |
//! | shutdown asked by us (until gone), or shutting down | `PoweringDown` |
//! | crashed (kept by `on_crash=preserve`) | `Down`, reason `Other` |
//! | gone or shut off without our stop (qemu killed, guest powered off by itself) | `Down`, reason `Other`, until the next Start or PowerOff |
//! | libvirtd unreachable, or no answer in time | `QueryFailed` |

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::error::ErrorNumber;

use crate::core::{DownReason, LocalVm, VmAction, VmManagerStatus};
use crate::shell::agent_loop::{VmDriver, VmError};

/// The namespace of the lease element in the domain's metadata.
pub const METADATA_NS: &str = "urn:ovirt-hosted-engine:lease";
/// The prefix of that element (`<he:lease .../>`).
const METADATA_KEY: &str = "he";
/// Largest domain XML read from the shared storage.
pub const XML_BYTES_MAX: u64 = 1024 * 1024;
/// Default bound on one libvirt call: well under the lease's renewal slack,
/// as the loop waits for it.
pub const CALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// How long a power-off waits for the domain to be gone.
const POWEROFF_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

/// Configuration of the `libvirt` driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtVmConfig {
    /// The libvirt connection, e.g. `qemu:///system`.
    pub uri: String,
    /// The domain XML, on the shared storage; read at every start.
    pub xml: PathBuf,
    /// The domain's UUID (`vmid`): how the domain is found.
    pub uuid: String,
    /// Time between the ACPI shutdown request and the destroy.
    pub shutdown_grace: Duration,
    /// Bound on one libvirt call.
    pub call_timeout: Duration,
    /// Written into the metadata with the epoch, when set.
    pub host_id: Option<u16>,
    /// The engine-service recovery command; `None`: recovery always fails.
    pub recovery_argv: Option<Vec<String>>,
    /// The recovery command is killed after this long.
    pub recovery_timeout: Duration,
    /// The recovery command's stdout and stderr are appended here.
    pub log_file: PathBuf,
}

/// What libvirt says about the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Gone,
    /// Defined but shut off (a persistent definition someone else made).
    Off,
    Running,
    Paused,
    ShuttingDown,
    Crashed,
    Starting,
}

/// One look at the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Look {
    found: Found,
    /// The domain's name (for its pid file), when it exists.
    name: Option<String>,
    /// Our metadata says a graceful shutdown was asked.
    stopping: bool,
}

/// A request to the worker thread.
#[derive(Debug, Clone, Copy)]
enum Call {
    Look,
    Start { paused: bool, epoch: u64 },
    Shutdown,
    Destroy,
}

/// The worker's answer: a look, or a done action with an optional remark
/// (something that went wrong without failing the action).
#[derive(Debug)]
enum Answer {
    Look(Look),
    Done(Option<String>),
}

type Reply = Result<Answer, String>;

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    No,
    /// Shutdown asked; destroy at this instant.
    Term(Instant),
    Destroyed,
}

/// What this driver believes about its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    Nothing,
    Alive(Stop),
    /// Gone without our stop: reads Down until Start or PowerOff.
    Crashed,
}

/// The `libvirt` driver. Dropping it leaves the domain running.
#[derive(Debug)]
pub struct LibvirtVm {
    cfg: LibvirtVmConfig,
    worker: Option<Sender<(Call, Sender<Reply>)>>,
    /// The answer to a call that timed out, still awaited.
    pending: Option<Receiver<Reply>>,
    vm: Tracked,
    found: Found,
    name: Option<String>,
    last_error: Option<String>,
}

impl LibvirtVm {
    /// A driver for `cfg`. Does no I/O: libvirt is first called by `status()`.
    pub fn new(cfg: LibvirtVmConfig) -> Result<LibvirtVm, String> {
        let mut problems = Vec::new();
        if !crate::config::is_uuid(&cfg.uuid) {
            problems.push(format!("uuid: {:?} is not a UUID", cfg.uuid));
        }
        if !cfg.xml.is_absolute() {
            problems.push(format!(
                "xml: {} is not an absolute path",
                cfg.xml.display()
            ));
        }
        for (what, value) in [
            ("shutdown_grace", cfg.shutdown_grace),
            ("call_timeout", cfg.call_timeout),
            ("recovery_timeout", cfg.recovery_timeout),
        ] {
            if value.is_zero() || value > super::process::DURATION_MAX {
                problems.push(format!(
                    "{what}: {value:?} must be greater than 0 and at most one day"
                ));
            }
        }
        if cfg.recovery_argv.as_ref().is_some_and(|a| a.is_empty()) {
            problems.push("recovery_argv: is empty".into());
        }
        if !problems.is_empty() {
            return Err(format!("engine VM libvirt driver: {}", problems.join("; ")));
        }
        Ok(LibvirtVm {
            cfg,
            worker: None,
            pending: None,
            vm: Tracked::Nothing,
            found: Found::Gone,
            name: None,
            last_error: None,
        })
    }

    pub fn config(&self) -> &LibvirtVmConfig {
        &self.cfg
    }

    /// The pid of the QEMU process behind the domain, from libvirt's pid file
    /// (local `qemu:///system` only).
    pub fn vm_pid(&self) -> Option<u32> {
        if !matches!(self.vm, Tracked::Alive(_)) || self.cfg.uri != "qemu:///system" {
            return None;
        }
        let name = self.name.as_ref()?;
        let path = format!("/run/libvirt/qemu/{name}.pid");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// The latest problem, cleared: for a caller that logs each one once.
    pub fn take_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    fn fail(&mut self, message: String) -> bool {
        self.last_error = Some(message);
        false
    }

    /// Asks the worker, waiting at most `call_timeout`.
    fn call(&mut self, call: Call) -> Reply {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Err(TryRecvError::Empty) => {
                    return Err(format!(
                        "libvirt {}: an earlier call has not answered yet",
                        self.cfg.uri
                    ));
                }
                // Its answer is stale now; the look below is fresh.
                Ok(_) | Err(TryRecvError::Disconnected) => self.pending = None,
            }
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        let sent = self.worker().send((call, reply_tx.clone())).is_ok() || {
            // The worker is gone (it panicked): start another.
            self.worker = None;
            self.worker().send((call, reply_tx)).is_ok()
        };
        if !sent {
            return Err(format!("libvirt {}: no worker thread", self.cfg.uri));
        }
        match reply_rx.recv_timeout(self.cfg.call_timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                self.pending = Some(reply_rx);
                Err(format!(
                    "libvirt {}: no answer within {:?}",
                    self.cfg.uri, self.cfg.call_timeout
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.worker = None;
                Err(format!("libvirt {}: the worker thread died", self.cfg.uri))
            }
        }
    }

    fn worker(&mut self) -> &Sender<(Call, Sender<Reply>)> {
        let cfg = &self.cfg;
        self.worker.get_or_insert_with(|| spawn_worker(cfg.clone()))
    }

    fn look(&mut self) -> Result<Look, String> {
        match self.call(Call::Look)? {
            Answer::Look(look) => Ok(look),
            Answer::Done(_) => Err("libvirt worker: answered a look with an action".into()),
        }
    }

    /// Looks at the domain and updates what we believe: notices a crash,
    /// adopts a running domain, destroys one whose grace has passed.
    fn refresh(&mut self) -> Result<(), String> {
        let look = self.look()?;
        self.found = look.found;
        if look.name.is_some() {
            self.name = look.name.clone();
        }
        let present = !matches!(look.found, Found::Gone | Found::Off);
        self.vm = match (self.vm, present) {
            (Tracked::Alive(Stop::No), false) => Tracked::Crashed,
            (Tracked::Alive(_), false) => Tracked::Nothing,
            (Tracked::Nothing | Tracked::Crashed, true) => {
                // A domain we did not start here (an agent restart, or a late
                // answer to a start that timed out): ours to watch.
                if look.stopping {
                    Tracked::Alive(Stop::Term(Instant::now() + self.cfg.shutdown_grace))
                } else {
                    Tracked::Alive(Stop::No)
                }
            }
            (other, _) => other,
        };
        if let Tracked::Alive(Stop::Term(at)) = self.vm
            && Instant::now() >= at
        {
            self.destroy()?;
        }
        Ok(())
    }

    /// Destroys the domain and waits (bounded) until libvirt says it is gone.
    fn destroy(&mut self) -> Result<(), String> {
        self.vm = Tracked::Alive(Stop::Destroyed);
        self.call(Call::Destroy)?;
        let deadline = Instant::now() + POWEROFF_WAIT;
        loop {
            let look = self.look()?;
            self.found = look.found;
            if matches!(look.found, Found::Gone | Found::Off) {
                self.vm = Tracked::Nothing;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "libvirt domain {}: still there {POWEROFF_WAIT:?} after destroy",
                    self.cfg.uuid
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    fn start(&mut self, paused: bool, epoch: u64) -> bool {
        match self.vm {
            Tracked::Alive(_) => {
                let uuid = &self.cfg.uuid;
                return self.fail(format!("libvirt domain {uuid} already runs"));
            }
            Tracked::Crashed => self.vm = Tracked::Nothing,
            Tracked::Nothing => {}
        }
        match self.call(Call::Start { paused, epoch }) {
            Ok(answer) => {
                self.vm = Tracked::Alive(Stop::No);
                self.found = if paused {
                    Found::Paused
                } else {
                    Found::Running
                };
                if let Answer::Done(Some(remark)) = answer {
                    self.last_error = Some(remark);
                }
                true
            }
            Err(e) => self.fail(e),
        }
    }

    fn shutdown(&mut self) -> bool {
        match self.vm {
            Tracked::Alive(Stop::No) => {}
            Tracked::Alive(_) => return true,
            _ => return self.fail("no engine VM to shut down".into()),
        }
        match self.call(Call::Shutdown) {
            Ok(answer) => {
                self.vm = Tracked::Alive(Stop::Term(Instant::now() + self.cfg.shutdown_grace));
                if let Answer::Done(Some(remark)) = answer {
                    self.last_error = Some(remark);
                }
                true
            }
            Err(e) => self.fail(e),
        }
    }

    fn power_off(&mut self) -> bool {
        match self.vm {
            Tracked::Nothing => true,
            Tracked::Crashed => {
                self.vm = Tracked::Nothing;
                true
            }
            Tracked::Alive(_) => match self.destroy() {
                Ok(()) => true,
                Err(e) => self.fail(e),
            },
        }
    }

    fn run_recovery(&mut self) -> bool {
        let Some(argv) = self.cfg.recovery_argv.clone() else {
            return self.fail("no recovery command configured".into());
        };
        match run_recovery(&argv, self.cfg.recovery_timeout, &self.cfg.log_file) {
            Ok(()) => true,
            Err(e) => self.fail(format!("recovery command: {}: {e}", argv[0])),
        }
    }
}

impl VmDriver for LibvirtVm {
    fn status(&mut self) -> LocalVm {
        if let Err(e) = self.refresh() {
            self.last_error = Some(e);
            return LocalVm::QueryFailed;
        }
        let down = LocalVm::Present {
            status: VmManagerStatus::Down,
            down_reason: Some(DownReason::Other),
        };
        let status = match (self.vm, self.found) {
            (Tracked::Nothing, _) => return LocalVm::NotPresent,
            (Tracked::Crashed, _) | (_, Found::Crashed) => return down,
            (Tracked::Alive(Stop::Term(_) | Stop::Destroyed), _) | (_, Found::ShuttingDown) => {
                VmManagerStatus::PoweringDown
            }
            (_, Found::Paused) => VmManagerStatus::Paused,
            (_, Found::Starting) => VmManagerStatus::WaitForLaunch,
            _ => VmManagerStatus::Up,
        };
        LocalVm::Present {
            status,
            down_reason: None,
        }
    }

    /// Runs `action`; a failure's words stay in `last_error` too, for the
    /// caller that logs them.
    fn act(&mut self, action: VmAction) -> Result<(), VmError> {
        if let Err(e) = self.refresh() {
            self.last_error = Some(e.clone());
            return Err(VmError::Unreachable(e));
        }
        let ok = match action {
            VmAction::Start { paused, epoch } => self.start(paused, epoch),
            VmAction::Shutdown => self.shutdown(),
            VmAction::PowerOff => self.power_off(),
            VmAction::RunRecovery => self.run_recovery(),
        };
        if ok {
            return Ok(());
        }
        let why = self.last_error.clone();
        Err(VmError::Failed(
            why.unwrap_or_else(|| "failed (no reason given)".into()),
        ))
    }
}

// ---- the worker thread: the only one that calls libvirt ----

fn spawn_worker(cfg: LibvirtVmConfig) -> Sender<(Call, Sender<Reply>)> {
    let (tx, rx) = mpsc::channel::<(Call, Sender<Reply>)>();
    let spawned = std::thread::Builder::new()
        .name("libvirt".into())
        .spawn(move || {
            // libvirt's default handler prints every error on stderr; ours go
            // through the replies.
            virt::error::clear_error_callback();
            let mut worker = Worker { cfg, conn: None };
            for (call, reply) in rx {
                let answer = worker.handle(call);
                // The caller may have stopped waiting: nothing to do then.
                let _ = reply.send(answer);
            }
        });
    // Without a thread every call fails with "no worker thread".
    drop(spawned);
    tx
}

struct Worker {
    cfg: LibvirtVmConfig,
    conn: Option<Connect>,
}

impl Worker {
    fn handle(&mut self, call: Call) -> Reply {
        let result = match call {
            Call::Look => self.look().map(Answer::Look),
            Call::Start { paused, epoch } => self.start(paused, epoch).map(Answer::Done),
            Call::Shutdown => self.shutdown().map(Answer::Done),
            Call::Destroy => self.destroy().map(|()| Answer::Done(None)),
        };
        if result.is_err() {
            // Reconnect on the next call: the connection may be what broke
            // (libvirtd restarted).
            self.conn = None;
        }
        result
    }

    fn conn(&mut self) -> Result<&Connect, String> {
        if self.conn.is_none() {
            let conn = Connect::open(Some(&self.cfg.uri)).map_err(|e| {
                format!("libvirt {}: cannot connect: {}", self.cfg.uri, e.message())
            })?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("just connected"))
    }

    /// Our domain, `None` when libvirt has no domain with our UUID.
    fn domain(&mut self) -> Result<Option<Domain>, String> {
        let uuid = self.cfg.uuid.clone();
        match self.conn()?.lookup_domain_by_uuid_string(&uuid) {
            Ok(dom) => Ok(Some(dom)),
            Err(e) if e.code().is_known_and(|c| c == ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(format!("libvirt domain {uuid}: {}", e.message())),
        }
    }

    fn look(&mut self) -> Result<Look, String> {
        let Some(dom) = self.domain()? else {
            return Ok(Look {
                found: Found::Gone,
                name: None,
                stopping: false,
            });
        };
        let state = match dom.state() {
            Ok((state, _reason)) => state,
            // Gone between the lookup and the question (a transient domain
            // that just stopped).
            Err(e) if e.code().is_known_and(|c| c == ErrorNumber::NoDomain) => {
                return Ok(Look {
                    found: Found::Gone,
                    name: None,
                    stopping: false,
                });
            }
            Err(e) => return Err(self.failed("state", &e)),
        };
        let found = match state.unwrap_or(DomainState::NoState) {
            DomainState::Running | DomainState::Blocked => Found::Running,
            DomainState::Paused | DomainState::PMSuspended => Found::Paused,
            DomainState::Shutdown => Found::ShuttingDown,
            DomainState::Shutoff => Found::Off,
            DomainState::Crashed => Found::Crashed,
            DomainState::NoState => Found::Starting,
        };
        let stopping = found != Found::Off
            && read_lease(&dom).is_some_and(|lease| lease.contains("stopping=\"1\""));
        Ok(Look {
            found,
            name: dom.name().ok(),
            stopping,
        })
    }

    fn failed(&self, what: &str, e: &virt::error::Error) -> String {
        format!("libvirt domain {}: {what}: {}", self.cfg.uuid, e.message())
    }

    /// Creates the domain paused, checks its UUID, writes the lease into its
    /// metadata, then lets it run unless `paused`.
    fn start(&mut self, paused: bool, epoch: u64) -> Result<Option<String>, String> {
        let xml = read_xml(&self.cfg.xml)?;
        let flags = virt::sys::VIR_DOMAIN_START_PAUSED;
        let dom = self.conn()?.create_domain_xml(&xml, flags).map_err(|e| {
            format!(
                "{}: cannot create the domain: {}",
                self.cfg.xml.display(),
                e.message()
            )
        })?;
        let uuid = dom.uuid_string().unwrap_or_default();
        if !uuid.eq_ignore_ascii_case(&self.cfg.uuid) {
            let _ = dom.destroy();
            return Err(format!(
                "{}: the domain's <uuid> is {uuid:?}, not vmid {:?}: destroyed before it ran",
                self.cfg.xml.display(),
                self.cfg.uuid
            ));
        }
        let remark = write_lease(&dom, epoch, self.cfg.host_id, false)
            .err()
            .map(|e| format!("lease epoch {epoch} not written into the domain's metadata: {e}"));
        if !paused && let Err(e) = dom.resume() {
            let _ = dom.destroy();
            return Err(self.failed("cannot resume after creating it paused", &e));
        }
        Ok(remark)
    }

    /// Presses the ACPI power button (resuming a paused domain first, which
    /// could not react otherwise) and records the shutdown in the metadata.
    fn shutdown(&mut self) -> Result<Option<String>, String> {
        let Some(dom) = self.domain()? else {
            return Err(format!(
                "libvirt domain {}: not there to shut down",
                self.cfg.uuid
            ));
        };
        let mut remarks = Vec::new();
        if let Ok((state, _)) = dom.state()
            && state.is_known_and(|s| s == DomainState::Paused)
            && let Err(e) = dom.resume()
        {
            remarks.push(format!(
                "cannot resume it for the shutdown: {}",
                e.message()
            ));
        }
        dom.shutdown().map_err(|e| self.failed("shutdown", &e))?;
        let lease = read_lease(&dom).unwrap_or_default();
        let epoch = attribute(&lease, "epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        if let Err(e) = write_lease(&dom, epoch, self.cfg.host_id, true) {
            remarks.push(format!("shutdown not recorded in the metadata: {e}"));
        }
        Ok((!remarks.is_empty()).then(|| remarks.join("; ")))
    }

    fn destroy(&mut self) -> Result<(), String> {
        let Some(dom) = self.domain()? else {
            return Ok(());
        };
        match dom.destroy() {
            Ok(()) => Ok(()),
            // Not running (shut off meanwhile): nothing to destroy.
            Err(e)
                if e.code()
                    .is_known_and(|c| c == ErrorNumber::OperationInvalid) =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed("destroy", &e)),
        }
    }
}

/// The domain XML, bounded in size.
fn read_xml(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: cannot open: {e}"))?;
    let mut text = String::new();
    file.take(XML_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if text.len() as u64 > XML_BYTES_MAX {
        return Err(format!("{shown}: larger than {XML_BYTES_MAX} bytes"));
    }
    Ok(text)
}

/// The live lease element of the domain's metadata, if any.
fn read_lease(dom: &Domain) -> Option<String> {
    let kind = virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
    dom.metadata(kind, Some(METADATA_NS), virt::sys::VIR_DOMAIN_AFFECT_LIVE)
        .ok()
}

fn write_lease(
    dom: &Domain,
    epoch: u64,
    host_id: Option<u16>,
    stopping: bool,
) -> Result<(), String> {
    let host = host_id.map_or(String::new(), |id| format!(" host-id=\"{id}\""));
    let stopping = u8::from(stopping);
    let element = format!("<lease epoch=\"{epoch}\"{host} stopping=\"{stopping}\"/>");
    let kind = virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
    dom.set_metadata(
        kind,
        Some(&element),
        Some(METADATA_KEY),
        Some(METADATA_NS),
        virt::sys::VIR_DOMAIN_AFFECT_LIVE,
    )
    .map_err(|e| e.message().to_string())
}

/// The value of `name="..."` in an element's text.
pub fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

/// Runs the recovery command (argv, no shell, its own process group, output
/// appended to `log_file`), killing its whole group after `timeout`.
fn run_recovery(
    argv: &[String],
    timeout: Duration,
    log_file: &std::path::Path,
) -> Result<(), String> {
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(log_file)
        .map_err(|e| format!("{}: {e}", log_file.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .current_dir("/")
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(status.to_string()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            outcome => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: kill(2) of the process group of a child we started.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                }
                let reap_by = Instant::now() + POWEROFF_WAIT;
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < reap_by {
                    std::thread::sleep(POLL);
                }
                return Err(match outcome {
                    Err(e) => format!("cannot wait for it: {e}"),
                    _ => format!("killed after {timeout:?}"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LibvirtVmConfig {
        LibvirtVmConfig {
            uri: "test:///default".into(),
            xml: "/shared/engine.xml".into(),
            uuid: "3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41".into(),
            shutdown_grace: Duration::from_secs(2),
            call_timeout: Duration::from_secs(5),
            host_id: Some(1),
            recovery_argv: None,
            recovery_timeout: Duration::from_secs(5),
            log_file: "/tmp/engine-vm.log".into(),
        }
    }

    #[test]
    fn the_configuration_is_checked() {
        assert!(LibvirtVm::new(config()).is_ok());
        let bad = LibvirtVmConfig {
            uuid: "he".into(),
            xml: "engine.xml".into(),
            call_timeout: Duration::ZERO,
            ..config()
        };
        let e = LibvirtVm::new(bad).unwrap_err();
        assert!(e.contains("uuid: \"he\" is not a UUID"), "{e}");
        assert!(e.contains("xml: engine.xml is not an absolute path"), "{e}");
        assert!(e.contains("call_timeout"), "{e}");
    }

    #[test]
    fn lease_attributes() {
        let lease = "<he:lease xmlns:he=\"urn:ovirt-hosted-engine:lease\" epoch=\"12\" \
                     host-id=\"3\" stopping=\"1\"/>";
        assert_eq!(attribute(lease, "epoch"), Some("12"));
        assert_eq!(attribute(lease, "host-id"), Some("3"));
        assert_eq!(attribute(lease, "id"), None);
        assert_eq!(attribute("<lease/>", "epoch"), None);
    }

    #[test]
    fn an_unreachable_libvirt_reads_as_query_failed() {
        let cfg = LibvirtVmConfig {
            uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock".into(),
            ..config()
        };
        let mut vm = LibvirtVm::new(cfg).unwrap();
        assert_eq!(vm.status(), LocalVm::QueryFailed);
        let e = vm.take_error().unwrap();
        assert!(e.contains("cannot connect"), "{e}");
        assert!(
            vm.act(VmAction::Start {
                paused: false,
                epoch: 1
            })
            .is_err()
        );
    }
}
