//! `he-lab engine`: the engine VM payload, the process the `process` driver runs
//! as the engine VM.
//!
//! - Serves the engine's health page (`DB Up!Welcome to Health Status!`).
//! - Appends a canary line to a file on the shared storage when it boots, every
//!   100 ms and when it shuts down ([`crate::lab::canary`]): host, boot id, the
//!   lease epoch the agent passed in `HE_LEASE_EPOCH`, a sequence number, the wall
//!   time. The file is opened once and kept, as a VM keeps its disk open: a lazy
//!   unmount of the storage does not stop the writes.
//! - SIGTERM is the guest's shutdown: it prints the console's shutdown prompt,
//!   stops serving, keeps running (and writing its canary) for `--shutdown-secs`
//!   as a guest's shutdown takes a while (the VM manager says `Powering down`
//!   meanwhile, as in the test plan's status sequence), then writes its last
//!   canary line and exits.
//! - Faults inside the VM come from a control file (`--control`), read every
//!   100 ms; its words, one or more:
//!   - `network-down`: the VM's network stops (test plan case 1). Alone
//!     (`--isolation none`) it stops listening; with its own network namespace
//!     (`--vm-address`) its link goes down.
//!   - `engine-stop`: the engine service stops while the VM runs (case 2): the
//!     web server in front of it answers `503 Service Unavailable`.
//!   - `db-down`: the engine runs but its database does not: `500 DB Down!...`.
//!   - `ignore-shutdown`: the guest ignores shutdown requests: SIGTERM is
//!     ignored (only SIGKILL, a power-off, ends it), as a hung guest ignores
//!     ACPI shutdown (`he-lab fault vm-manager-wedge`).
//!
//!   A boot starts with no fault (the file is emptied), as a rebooted VM would.
//! - With `--vm-address CIDR --vm-bridge BRIDGE` (root) it is a VM on the host's
//!   bridge: its own network namespace, a veth into the bridge, its own address,
//!   which exists exactly as long as the process: it unplugs itself when it
//!   shuts down, and `--vm-port-lock` lets the lab unplug it after a SIGKILL
//!   ([`vmnet`]).

mod ids;
mod vmnet;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::canary::{CANARY_INTERVAL_MS, CanaryLine};
use crate::shell::signals;

pub use ids::boot_id;
pub use vmnet::{HOST_PORT, VmNet};

/// The body the real engine answers on its health page.
pub const HEALTH_BODY: &str = "DB Up!Welcome to Health Status!";
/// The body when the engine runs but its database does not.
pub const DB_DOWN_BODY: &str = "DB Down!Welcome to Health Status!";
/// The health page's path.
pub const HEALTH_PATH: &str = "/ovirt-engine/services/health";
/// The environment variable through which the process driver passes the epoch.
pub const EPOCH_VAR: &str = "HE_LEASE_EPOCH";
/// Control file words (see the module documentation).
pub const FAULT_NETWORK_DOWN: &str = "network-down";
pub const FAULT_ENGINE_STOP: &str = "engine-stop";
pub const FAULT_DB_DOWN: &str = "db-down";
pub const FAULT_IGNORE_SHUTDOWN: &str = "ignore-shutdown";
/// Bound on reading one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line or header line accepted.
const LINE_MAX: usize = 8192;
/// Most requests served at once; more are dropped.
const CONNECTIONS_MAX: usize = 16;
/// How often the control file is looked at.
const CONTROL_POLL: Duration = Duration::from_millis(CANARY_INTERVAL_MS);
/// Longest wait for the canary's last line at shutdown (the storage may hang).
const CANARY_STOP_WAIT: Duration = Duration::from_secs(2);
/// Largest control file read.
const CONTROL_MAX_BYTES: u64 = 4096;

const NETWORK_DOWN: u8 = 1;
const ENGINE_STOP: u8 = 2;
const DB_DOWN: u8 = 4;
const IGNORE_SHUTDOWN: u8 = 8;

/// How the payload runs.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Address and port to serve on.
    pub listen: String,
    /// The canary file on the shared storage.
    pub canary: Option<PathBuf>,
    /// The host name written in canary lines (default `host<HE_HOST_ID>`).
    pub host: Option<String>,
    /// The control file of faults inside the VM.
    pub control: Option<PathBuf>,
    /// Its own network namespace on the host's bridge (root).
    pub vm_net: Option<VmNet>,
    /// How long the guest takes to shut down after SIGTERM.
    pub shutdown: Duration,
}

/// Longest guest shutdown accepted.
pub const SHUTDOWN_MAX: Duration = Duration::from_secs(600);

/// Runs the payload until SIGTERM/SIGINT.
pub fn run(opts: &EngineOptions) -> anyhow::Result<()> {
    signals::install_stop_handlers().context("installing signal handlers")?;
    // Before any thread starts: a network namespace is per thread, and threads
    // started afterwards inherit this one's.
    let link = match &opts.vm_net {
        Some(net) => Some(vmnet::attach(net).context("attaching the VM to its bridge")?),
        None => None,
    };
    let ident = Ident {
        host: opts.host.clone().unwrap_or_else(default_host),
        boot: boot_id(),
        epoch: std::env::var(EPOCH_VAR).ok().and_then(|e| e.parse().ok()),
    };
    let log = Log {
        host: ident.host.clone(),
    };
    if let Some(control) = &opts.control {
        // A fresh boot: no fault inside the VM yet.
        let _ = std::fs::write(control, b"");
    }
    let epoch = ident
        .epoch
        .map_or_else(|| "-".to_string(), |e| e.to_string());
    log.say(&format!(
        "booted (boot id {}, lease epoch {epoch}, pid {})",
        ident.boot,
        std::process::id()
    ));
    let canary_stop = Arc::new(AtomicBool::new(false));
    let canary = opts.canary.clone().map(|path| {
        let stop = Arc::clone(&canary_stop);
        let (ident, log) = (ident.clone(), log.clone());
        std::thread::spawn(move || canary_loop(&path, &ident, &stop, &log))
    });
    let served = serve_until_stopped(opts, link.as_ref(), &log);
    log.say("VM is shutting down!");
    // The guest's services stop (nothing is served any more) while it still
    // runs and writes its disk; SIGKILL (a power-off) may end it sooner.
    std::thread::sleep(opts.shutdown.min(SHUTDOWN_MAX));
    canary_stop.store(true, Ordering::SeqCst);
    if let Some(thread) = canary {
        let deadline = Instant::now() + CANARY_STOP_WAIT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Powered off: its NIC goes now, not whenever the kernel frees the
    // namespace (vmnet's module documentation).
    if let Some(link) = &link
        && let Err(e) = vmnet::detach(link)
    {
        log.say(&format!("network: {e}"));
    }
    served
}

/// The accept loop with the control file's faults applied.
fn serve_until_stopped(
    opts: &EngineOptions,
    link: Option<&vmnet::VmLink>,
    log: &Log,
) -> anyhow::Result<()> {
    let mut listener = Some(bind(&opts.listen)?);
    log.say(&format!("serving {HEALTH_PATH} on {}", opts.listen));
    let faults = Arc::new(AtomicU8::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut control = ControlWatch::default();
    let mut next_poll = Instant::now();
    while !signals::stop_requested() {
        if Instant::now() >= next_poll {
            next_poll = Instant::now() + CONTROL_POLL;
            if let Some(path) = &opts.control
                && let Some(now) = control.changed(path)
            {
                let before = faults.swap(now, Ordering::SeqCst);
                apply_network(before, now, &mut listener, opts, link, log);
                apply_shutdown_ignored(before, now, log);
                log_faults(before, now, log);
            }
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                if busy.load(Ordering::SeqCst) >= CONNECTIONS_MAX {
                    continue;
                }
                busy.fetch_add(1, Ordering::SeqCst);
                let (faults, busy) = (Arc::clone(&faults), Arc::clone(&busy));
                std::thread::spawn(move || {
                    // A client that misbehaves costs one request, never the engine.
                    let _ = serve(stream, faults.load(Ordering::SeqCst));
                    busy.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("accepting a connection"),
        }
    }
    Ok(())
}

fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Network up or down inside the VM: the link of its own namespace, or (alone
/// on loopback) whether it listens at all.
fn apply_network(
    before: u8,
    now: u8,
    listener: &mut Option<TcpListener>,
    opts: &EngineOptions,
    link: Option<&vmnet::VmLink>,
    log: &Log,
) {
    let (was_down, down) = (before & NETWORK_DOWN != 0, now & NETWORK_DOWN != 0);
    if was_down == down {
        return;
    }
    if let Some(link) = link {
        if let Err(e) = vmnet::set_link(link, !down) {
            log.say(&format!("network: {e}"));
        }
        return;
    }
    if down {
        *listener = None;
    } else {
        match bind(&opts.listen) {
            Ok(l) => *listener = Some(l),
            Err(e) => log.say(&format!("network: {e:#}")),
        }
    }
}

/// A guest that ignores ACPI shutdown: SIGTERM is ignored by the kernel
/// (a SIGTERM that came before still counts); answered again once cleared.
fn apply_shutdown_ignored(before: u8, now: u8, log: &Log) {
    let (was, is) = (before & IGNORE_SHUTDOWN != 0, now & IGNORE_SHUTDOWN != 0);
    if was == is {
        return;
    }
    let result = if is {
        // SAFETY: signal(2) setting SIGTERM's disposition to ignore.
        match unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) } {
            libc::SIG_ERR => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        }
    } else {
        signals::install_stop_handlers()
    };
    if let Err(e) = result {
        log.say(&format!("shutdown requests: {e}"));
    }
}

fn log_faults(before: u8, now: u8, log: &Log) {
    let names = [
        (NETWORK_DOWN, "network stopped", "network started"),
        (
            ENGINE_STOP,
            "ovirt-engine service stopped",
            "ovirt-engine service started",
        ),
        (DB_DOWN, "engine database down", "engine database up"),
        (
            IGNORE_SHUTDOWN,
            "the guest ignores shutdown requests (SIGTERM) from now on",
            "the guest answers shutdown requests again",
        ),
    ];
    for (bit, on, off) in names {
        if (before ^ now) & bit != 0 {
            log.say(if now & bit != 0 { on } else { off });
        }
    }
}

/// Re-reads the control file when its modification time or size changed.
#[derive(Default)]
struct ControlWatch {
    seen: Option<(SystemTime, u64)>,
}

impl ControlWatch {
    /// The faults the file names, when it changed since the last look.
    fn changed(&mut self, path: &Path) -> Option<u8> {
        let meta = std::fs::metadata(path).ok();
        let key = meta.map(|m| (m.modified().unwrap_or(UNIX_EPOCH), m.len()));
        if key == self.seen {
            return None;
        }
        self.seen = key;
        let mut text = String::new();
        if let Ok(file) = File::open(path) {
            let _ = file.take(CONTROL_MAX_BYTES).read_to_string(&mut text);
        }
        Some(parse_control(&text))
    }
}

/// The fault bits a control file's words name; unknown words are ignored.
fn parse_control(text: &str) -> u8 {
    text.split_whitespace().fold(0, |bits, word| {
        bits | match word {
            FAULT_NETWORK_DOWN => NETWORK_DOWN,
            FAULT_ENGINE_STOP => ENGINE_STOP,
            FAULT_DB_DOWN => DB_DOWN,
            FAULT_IGNORE_SHUTDOWN => IGNORE_SHUTDOWN,
            _ => 0,
        }
    })
}

/// The answer to a request for `path` under `faults`.
fn answer(path: &str, faults: u8) -> (&'static str, &'static str) {
    if faults & ENGINE_STOP != 0 {
        // The web server runs, the engine behind it does not.
        return ("503 Service Unavailable", "Service Unavailable");
    }
    match path {
        HEALTH_PATH if faults & DB_DOWN != 0 => ("500 Internal Server Error", DB_DOWN_BODY),
        HEALTH_PATH => ("200 OK", HEALTH_BODY),
        _ => ("404 Not Found", "not found"),
    }
}

fn serve(stream: TcpStream, faults: u8) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(LINE_MAX as u64 * 64);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers up to the empty line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = answer(path, faults);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Who writes the canary lines.
#[derive(Debug, Clone)]
struct Ident {
    host: String,
    boot: String,
    epoch: Option<u64>,
}

fn default_host() -> String {
    match std::env::var("HE_HOST_ID") {
        Ok(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => format!("host{id}"),
        _ => "host".into(),
    }
}

/// Appends the canary until `stop`, then one last `shutdown` line.
fn canary_loop(path: &Path, ident: &Ident, stop: &AtomicBool, log: &Log) {
    let mut file: Option<File> = None;
    let mut seq = 0u64;
    let mut failing = false;
    let mut next = Instant::now();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if file.is_none() {
            match OpenOptions::new().append(true).create(true).open(path) {
                Ok(f) => file = Some(f),
                Err(e) if !failing => {
                    failing = true;
                    log.say(&format!("disk: {}: {e}", path.display()));
                }
                Err(_) => {}
            }
        }
        if let Some(f) = &mut file {
            let event = match (stopping, seq) {
                (true, _) => "shutdown",
                (false, 0) => "boot",
                _ => "tick",
            };
            let line = CanaryLine {
                wall_ms: wall_ms(),
                host: ident.host.clone(),
                boot: ident.boot.clone(),
                epoch: ident.epoch,
                seq,
                event: event.into(),
            };
            // Kept open as a VM keeps its disk; a failed write is retried next tick.
            match f
                .write_all(line.render().as_bytes())
                .and_then(|()| f.sync_data())
            {
                Ok(()) => {
                    seq += 1;
                    if failing {
                        failing = false;
                        log.say("disk: writes work again");
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    log.say(&format!("disk: {}: {e}", path.display()));
                }
                Err(_) => {}
            }
        }
        if stopping {
            return;
        }
        next += Duration::from_millis(CANARY_INTERVAL_MS);
        let now = Instant::now();
        if next <= now {
            // Fell behind (a slow disk): keep the rhythm from now on.
            next = now;
        } else {
            std::thread::sleep(next - now);
        }
    }
}

/// Wall-clock milliseconds (display and canary data only, never control).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The payload's console: lines on stdout (the driver's log file).
#[derive(Debug, Clone)]
struct Log {
    host: String,
}

impl Log {
    fn say(&self, text: &str) {
        let ms = wall_ms();
        let (secs, millis) = (ms / 1000, ms % 1000);
        let line = format!(
            "{:02}:{:02}:{:02}.{millis:03} engine VM on {}: {text}\n",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            self.host
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_words_and_answers() {
        assert_eq!(parse_control(""), 0);
        assert_eq!(parse_control("network-down\nengine-stop junk"), 3);
        assert_eq!(parse_control("ignore-shutdown"), IGNORE_SHUTDOWN);
        assert_eq!(answer(HEALTH_PATH, 0), ("200 OK", HEALTH_BODY));
        assert_eq!(answer(HEALTH_PATH, DB_DOWN).1, DB_DOWN_BODY);
        assert_eq!(
            answer(HEALTH_PATH, ENGINE_STOP).0,
            "503 Service Unavailable"
        );
        assert_eq!(answer("/x", 0).0, "404 Not Found");
    }
}
