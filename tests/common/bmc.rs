//! Simulated BMCs for the power fencing tests (`tests/fence_agents.rs`): one
//! OpenIPMI `ipmi_sim` per host on 127.0.0.1, spoken to by the real
//! `fence_ipmilan` (fence-agents) over IPMI 2.0 (lanplus). Power on runs the
//! BMC's *host*, a script that records its pid and becomes `sleep infinity`;
//! power off kills it, so whether that process lives is the ground truth a
//! test compares with what the BMC says. docs/fence-agents.md holds the facts
//! behind every choice made here; what the lab's BMCs (`he-lab up --fencing`)
//! share with this harness (the command file, `lan.conf`, how ipmi_sim and
//! ipmitool are run) is the library's `hosted_engine::lab::bmc`.
//!
//! ```ignore
//! if !common::bmc::programs_present() {
//!     return;
//! }
//! let bmcs = Bmcs::start(1, &BmcOptions::default());
//! let ran = bmcs[0].fence("on", &[]);
//! assert_eq!(ran.code, Some(0), "{ran:?}");
//! assert!(bmcs[0].wait_host_running(true, Duration::from_secs(5)));
//! ```

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use hosted_engine::lab::bmc::{BmcUser, LanConf, chassis_power, ipmi_sim_command, ipmitool};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most BMCs one [`Bmcs`] starts (each costs a process and two ports).
pub const BMCS_MAX: usize = 8;
/// How long a BMC may take to answer after its start: up in well under a
/// second on an idle machine, more on a loaded CI machine.
pub const READY_LIMIT: Duration = Duration::from_secs(10);
/// Starts of one BMC before giving up (a new pair of ports each time).
pub const START_ATTEMPTS: usize = 3;
/// How long a fence agent run may take before it is killed and the test
/// fails: above the agent's own worst case with the default timeouts
/// (power_timeout 20 polls after power_wait).
pub const FENCE_LIMIT: Duration = Duration::from_secs(60);
/// ipmi_sim's 1-second ticks between its SIGTERM and its SIGKILL of a host
/// that did not die (`kill_wait`; 0 would mean never).
pub const KILL_WAIT_TICKS: u32 = 2;

/// The host behind a BMC: what power on runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The tracked process is the payload itself (`exec`): power off kills
    /// the host.
    Honest,
    /// A bash wrapper runs the payload in the background and waits: power
    /// off kills only the wrapper, so the BMC reports off while the host
    /// keeps running (fault (c) in docs/fence-agents.md).
    Leaky,
}

/// What every BMC of a [`Bmcs`] is given.
#[derive(Clone, Debug)]
pub struct BmcOptions {
    pub host: Host,
    /// The IPMI user (user 2, administrator): letters and digits, at most
    /// 16 bytes.
    pub username: String,
    /// Its password: letters and digits, at most 20 bytes (IPMI 2.0).
    pub password: String,
    /// Powered on from the start (`startnow true`); otherwise off, as
    /// ipmi_sim always is after a start.
    pub powered_on: bool,
}

impl Default for BmcOptions {
    fn default() -> BmcOptions {
        BmcOptions {
            host: Host::Honest,
            username: "admin".to_string(),
            password: "secret".to_string(),
            powered_on: false,
        }
    }
}

pub use hosted_engine::lab::bmc::find_program;

/// Whether `ipmi_sim`, `fence_ipmilan` and `ipmitool` are all here. Each one
/// missing is said on stderr naming its Debian package (the test then
/// returns), or fails the test under `HE_REQUIRE_PRIVILEGED=1`
/// ([`super::require`]).
pub fn programs_present() -> bool {
    // All three asked, so that a skip names every missing package.
    let sim = super::require("openipmi (ipmi_sim)", find_program("ipmi_sim").is_some());
    let agent = super::require(
        "fence-agents (fence_ipmilan)",
        find_program("fence_ipmilan").is_some(),
    );
    let tool = super::require("ipmitool", find_program("ipmitool").is_some());
    sim && agent && tool
}

/// `N` simulated BMCs, each with its own ports, directory and host; all of
/// them (and their hosts) are killed when this is dropped.
pub struct Bmcs {
    // Dropped first: the processes go before their directory.
    bmcs: Vec<Bmc>,
    dir: tempfile::TempDir,
}

impl Bmcs {
    /// Starts `n` BMCs (1..=[`BMCS_MAX`]) and waits until each answers a
    /// power status; panics, with ipmi_sim's output, when one does not.
    /// Needs [`programs_present`].
    pub fn start(n: usize, options: &BmcOptions) -> Bmcs {
        assert!((1..=BMCS_MAX).contains(&n), "1..={BMCS_MAX} BMCs, not {n}");
        check_credential(&options.username, 16);
        check_credential(&options.password, 20);
        let sim = find_program("ipmi_sim").expect("ipmi_sim (check programs_present first)");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // ipmi_sim reads startcmd from a quoted string and passes it to sh.
        assert!(
            !root.to_string_lossy().contains(['"', '\'', ' ', '\\', '$']),
            "{}: no quotes, spaces or $ in a BMC's directory",
            root.display()
        );
        write_file(&root.join("bmc.emu"), BMC_EMU, 0o644);
        write_file(&root.join("honest-host"), HONEST_HOST, 0o755);
        write_file(&root.join("leaky-host"), LEAKY_HOST, 0o755);
        let bmcs = (1..=n)
            .map(|index| Bmc::start_retrying(&sim, root, index, options))
            .collect();
        Bmcs { bmcs, dir }
    }

    pub fn len(&self) -> usize {
        self.bmcs.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Bmc> {
        self.bmcs.iter()
    }

    /// The temporary directory holding every BMC's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl std::ops::Index<usize> for Bmcs {
    type Output = Bmc;
    fn index(&self, i: usize) -> &Bmc {
        &self.bmcs[i]
    }
}

/// One simulated BMC: an `ipmi_sim` process, leader of its own process group
/// (which its host joins), in `dir` (`lan.conf`, `state/`, `ipmi_sim.log`,
/// `host.pid`).
pub struct Bmc {
    child: Child,
    index: usize,
    port: u16,
    serial_port: u16,
    dir: PathBuf,
    username: String,
    password: String,
    host: Host,
}

/// What one fence agent run did.
#[derive(Debug)]
pub struct Fenced {
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the spawn to the exit.
    pub took: Duration,
}

impl Bmc {
    /// The UDP port of its IPMI LAN interface (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP port of its channel 15 (the VM serial interface): it must
    /// exist for power control; nothing needs to connect to it.
    pub fn serial_port(&self) -> u16 {
        self.serial_port
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn host_kind(&self) -> Host {
        self.host
    }

    /// ipmi_sim's pid, also its process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pid the last powered-on host wrote, if one was ever powered on.
    pub fn host_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("host.pid")).ok()?;
        text.trim().parse().ok()
    }

    /// Ground truth, whatever the BMC says: whether the host process lives
    /// (its pid from `host.pid`, alive and not a zombie in `/proc`, and
    /// still in this BMC's process group, so that a reused pid does not
    /// count).
    pub fn host_running(&self) -> bool {
        self.host_pid()
            .is_some_and(|pid| process_alive(pid) && process_group(pid) == Some(self.pid()))
    }

    /// Waits at most `limit` for [`Bmc::host_running`] to be `running`; says
    /// whether it came to be. (The host writes its pid a moment after power
    /// on; ipmi_sim kills it on its next 1-second tick after power off.)
    pub fn wait_host_running(&self, running: bool, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.host_running() == running {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The "unreachable BMC" fault: SIGSTOP to ipmi_sim alone (not its
    /// host). Its socket stays bound and never answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Ends [`Bmc::pause`]: SIGCONT; it answers again at once.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// The fence agent options that reach this BMC, without `action`:
    /// `ip`, `ipport`, `username`, `password`, `lanplus=1`, `cipher=3` (any
    /// other cipher choice makes ipmitool spend 10-14 s asking ipmi_sim for
    /// its cipher suites) and `power_wait=0`. fence_ipmilan's default
    /// power_wait of 2 s lets a real BMC settle before the agent polls the
    /// status; ipmi_sim reports off only once the host has been reaped, so
    /// here the wait protects nothing and costs 2 s per on or off (the agent
    /// still polls until the status is what it asked for). A test of the
    /// default removes the line.
    pub fn fence_options(&self) -> Vec<(String, String)> {
        let port = self.port.to_string();
        [
            ("ip", "127.0.0.1"),
            ("ipport", port.as_str()),
            ("username", self.username.as_str()),
            ("password", self.password.as_str()),
            ("lanplus", "1"),
            ("cipher", "3"),
            ("power_wait", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Runs the real `fence_ipmilan` on this BMC with [`Bmc::fence_options`],
    /// `action`, and `extra` (each replacing the option of its key, or
    /// added).
    pub fn fence(&self, action: &str, extra: &[(&str, &str)]) -> Fenced {
        let mut options = self.fence_options();
        for &(key, value) in [("action", action)].iter().chain(extra) {
            match options.iter_mut().find(|(k, _)| k == key) {
                Some(option) => option.1 = value.to_string(),
                None => options.push((key.to_string(), value.to_string())),
            }
        }
        run_fence_agent(&options)
    }

    /// What ipmi_sim printed (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ipmi_sim.log")).unwrap_or_default()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) has no memory preconditions; the pid is our
        // unreaped child, so it cannot have been reused.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Starts BMC `index` in `root/bmc<index>`, with new ports on each of
    /// [`START_ATTEMPTS`] tries.
    fn start_retrying(sim: &Path, root: &Path, index: usize, options: &BmcOptions) -> Bmc {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut bmc = match Bmc::spawn(sim, root, index, options) {
                Ok(bmc) => bmc,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            match bmc.wait_ready() {
                Ok(()) => return bmc,
                Err(e) => failures.push(format!("{e}\nipmi_sim's output:\n{}", bmc.log())),
            }
        }
        panic!(
            "BMC {index} did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// Writes `lan.conf` with new ports and spawns ipmi_sim (not yet ready).
    fn spawn(sim: &Path, root: &Path, index: usize, options: &BmcOptions) -> Result<Bmc, String> {
        let dir = root.join(format!("bmc{index}"));
        let state = dir.join("state");
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let _ = std::fs::remove_file(dir.join("host.pid"));
        let (port, serial_port) = (free_udp_port(), free_tcp_port());
        let script = root.join(match options.host {
            Host::Honest => "honest-host",
            Host::Leaky => "leaky-host",
        });
        let conf = lan_conf(index, port, serial_port, &script, &dir, options);
        write_file(&dir.join("lan.conf"), &conf, 0o644);
        let log = std::fs::File::create(dir.join("ipmi_sim.log")).unwrap();
        // -n: no console (without it, and stdin not a terminal, it aborts or
        // shuts down); its own process group, which its host joins, so that
        // one group kill ends both (ipmi_sim leaves its host running).
        let child = ipmi_sim_command(sim, &dir.join("lan.conf"), &root.join("bmc.emu"), &state)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", sim.display()))?;
        Ok(Bmc {
            child,
            index,
            port,
            serial_port,
            dir,
            username: options.username.clone(),
            password: options.password.clone(),
            host: options.host,
        })
    }

    /// Waits at most [`READY_LIMIT`] until ipmi_sim holds its UDP port
    /// alone and answers a power status through ipmitool.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        let who = format!(
            "ipmi_sim {} (BMC {}, udp {})",
            self.pid(),
            self.index,
            self.port
        );
        loop {
            if self.exited() {
                return Err(format!("{who} exited"));
            }
            // Two ipmi_sim on one port both start without a word
            // (SO_REUSEADDR), and the newer one gets the traffic: every
            // socket on the port must be this process's.
            let bound = udp_socket_inodes(self.port);
            let own = socket_inodes(self.pid());
            if let Some(other) = bound.iter().find(|inode| !own.contains(inode)) {
                return Err(format!(
                    "{who}: udp {} also held by socket {other}",
                    self.port
                ));
            }
            if !bound.is_empty() && self.answers() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{who} did not answer within {READY_LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One `chassis power status` through ipmitool, one try of one second.
    fn answers(&self) -> bool {
        let tool = find_program("ipmitool").expect("ipmitool");
        ipmitool(
            &tool,
            "127.0.0.1",
            self.port,
            &self.username,
            &self.password,
        )
        .args(["chassis", "power", "status"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && chassis_power(&String::from_utf8_lossy(&out.stdout)).is_some()
        })
    }

    /// Whether ipmi_sim has exited, without reaping it: its pid (and so the
    /// process group's id) stays ours until [`Drop`] waits for it.
    fn exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is valid; waitid(2) only writes it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (si_pid 0: no state change yet).
        rc == 0 && unsafe { info.si_pid() } != 0
    }
}

impl Drop for Bmc {
    /// Ends ipmi_sim and its host: SIGCONT (it may be paused) and SIGTERM to
    /// the group, up to 2 s for ipmi_sim to go, SIGKILL to the group for
    /// what is left (a leaky host, a stubborn one), then reaps ipmi_sim.
    fn drop(&mut self) {
        let group = -(self.pid() as libc::pid_t);
        // SAFETY: kill(2) has no memory preconditions; ipmi_sim is not reaped
        // before the end, so the group id cannot have been reused.
        unsafe {
            libc::kill(group, libc::SIGCONT);
            libc::kill(group, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Runs the real `fence_ipmilan` with no arguments and `options` as
/// `key=value` lines on stdin (its stdin protocol: any argument would make
/// it ignore stdin). `PYTHONWARNINGS` silences the `pipes` deprecation
/// warning it prints on every run; `PCMK_service` is removed, since it would
/// turn every timeout off. Killed (with its ipmitool) after
/// [`FENCE_LIMIT`], which fails the test.
pub fn run_fence_agent(options: &[(String, String)]) -> Fenced {
    let input: String = options
        .iter()
        .map(|(k, v)| {
            assert!(!format!("{k}{v}").contains('\n'), "no newline in {k}={v}");
            format!("{k}={v}\n")
        })
        .collect();
    let agent = find_program("fence_ipmilan").expect("fence_ipmilan (check programs_present)");
    let start = Instant::now();
    let mut child = Command::new(agent)
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .env_remove("PCMK_service")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    // A closed stdin (it exited early) is the run's outcome, seen below.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() >= FENCE_LIMIT {
            // SAFETY: kill(2); the group leader is our unreaped child.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            panic!("fence_ipmilan ran longer than {FENCE_LIMIT:?}, stdin:\n{input}");
        }
        // Fine enough for the timings the tests pin (tens of ms and up).
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    Fenced {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took,
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    proc_stat_fields(pid).is_some_and(|f| !matches!(f.first().map(String::as_str), Some("Z" | "X")))
}

/// Process `pid`'s process group, if it exists.
pub fn process_group(pid: u32) -> Option<u32> {
    proc_stat_fields(pid)?.get(2)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid,
/// pgrp, ...
fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Reads a pipe to its end on a thread.
fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Ports handed out by this test binary, never handed out twice: the kernel
/// may offer a port again as soon as the probing socket is closed.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A UDP port of 127.0.0.1 that was free a moment ago: one the kernel gave
/// a socket bound to port 0, that no socket holds now (`/proc/net/udp*`) and
/// that this binary did not hand out before. ipmi_sim binds with
/// SO_REUSEADDR, so a second holder would not stop it: [`Bmc::wait_ready`]
/// checks again once it runs.
fn free_udp_port() -> u16 {
    for _ in 0..100 {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if udp_socket_inodes(port).is_empty() && HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free UDP port in 100 tries");
}

/// A TCP port for a BMC's channel 15 (ipmi_sim fails to start, and is
/// started again, if someone took it meanwhile).
fn free_tcp_port() -> u16 {
    for _ in 0..100 {
        let port = super::free_port();
        if HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free TCP port in 100 tries");
}

/// The inodes of the UDP sockets (IPv4 and IPv6) bound to local `port`.
fn udp_socket_inodes(port: u16) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        // sl local_address rem_address st tx_queue:rx_queue tr:tm retrnsmt uid timeout inode
        for fields in text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
        {
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port)
                && let Some(inode) = fields.get(9).and_then(|i| i.parse().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// The inodes of the sockets process `pid` has open.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

fn check_credential(value: &str, max_bytes: usize) {
    if let Err(e) = hosted_engine::lab::bmc::check_credential(value, max_bytes) {
        panic!("{e}");
    }
}

fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub use hosted_engine::lab::bmc::BMC_EMU;

/// The honest host. ipmi_sim runs `/bin/sh -c "exec <startcmd>"`, so this
/// script's pid is the one it tracks and kills; `exec` keeps that pid for the
/// payload. The pid file is renamed into place, never read half written.
const HONEST_HOST: &str = r#"#!/bin/sh
# Honest host: the payload is exec'd, so power off kills the host itself.
dir=$1
echo $$ > "$dir/host.pid.new" && mv -f "$dir/host.pid.new" "$dir/host.pid"
exec sleep infinity
"#;

/// The leaky host: ipmi_sim tracks and kills the wrapper only; non-interactive
/// bash does not pass SIGTERM on to its background job, which outlives it.
const LEAKY_HOST: &str = r#"#!/bin/bash
# Leaky host: the payload runs in the background of this wrapper, so power
# off kills the wrapper and the host stays on.
dir=$1
sleep infinity &
echo $! > "$dir/host.pid.new" && mv -f "$dir/host.pid.new" "$dir/host.pid"
wait
"#;

/// BMC `index`'s `lan.conf` (docs/fence-agents.md shows one): IPMI LAN on
/// udp `port`, channel 15 on tcp `serial_port`, one administrator, power on
/// running `script dir`.
fn lan_conf(
    index: usize,
    port: u16,
    serial_port: u16,
    script: &Path,
    dir: &Path,
    options: &BmcOptions,
) -> String {
    let name = format!("bmc{index}");
    let startcmd = format!("{} {}", script.display(), dir.display());
    let users = [BmcUser {
        number: 2,
        name: &options.username,
        password: &options.password,
    }];
    let conf = LanConf {
        name: &name,
        guid_index: index as u32,
        addr: "127.0.0.1",
        port,
        serial_addr: "127.0.0.1",
        serial_port,
        startcmd: &startcmd,
        startnow: options.powered_on,
        kill_wait_ticks: KILL_WAIT_TICKS,
        users: &users,
    };
    conf.check().unwrap();
    conf.render()
}
