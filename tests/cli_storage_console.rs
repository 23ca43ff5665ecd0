//! `hosted-engine --connect-storage`, `--disconnect-storage` and `--console`
//! (process driver) run as processes against real things: the storage commands
//! against real mounts, made by the configured `storage_connect_command` in a
//! private mount namespace of the test's own (root; the mounts never reach the
//! machine's namespace), with a real `ovirt-ha-agent` and a real engine VM
//! process for the refusals; the console against the log of a real engine VM
//! process of the `process` driver.
//!
//! The storage is laid out as NFS is (`domainType=posixfs`): the "export" is a
//! directory holding `<sdUUID>/ha_agent/hosted-engine.metadata`, mounted at
//! `<mnt_root>/<vdsm mount name>`, the mount point `--disconnect-storage`
//! unmounts.

mod common;

use common::he::Ran;

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hosted_engine::config::ConfigPaths;
use hosted_engine::core::{LocalVm, VmAction};
use hosted_engine::metadata::GlobalBlock;
use hosted_engine::proto;
use hosted_engine::shell::VmDriver;
use hosted_engine::shell::store::{MetadataStore, init_volume};
use hosted_engine::shell::vm::{PROCESS_STATE_FILE, ProcessVm, ProcessVmConfig, VM_LOG_FILE};

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const IO: Duration = Duration::from_secs(5);
const VMID: &str = "5d0c8a1e-2b7f-4c3a-9e41-7a6b2c9d0f13";
const SD_UUID: &str = "a3e9c1d2-4f5b-4c6d-8e7f-9a0b1c2d3e4f";
/// Bound on every wait of these tests.
const WAIT_MAX: Duration = Duration::from_secs(30);

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_MAX;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills (SIGKILL) and reaps a child when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One line of a mount table (`/proc/<pid>/mountinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of its file system that is mounted (field 4).
    root: String,
    /// Where (field 5).
    point: PathBuf,
    fstype: String,
}

/// A mount table's lines. The paths these tests mount at hold no character
/// that the table escapes (space, tab, newline, backslash); `Host` checks.
fn mounts(table: &str) -> Vec<Mount> {
    table
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            Some(Mount {
                root: (*fields.get(3)?).to_owned(),
                point: PathBuf::from(fields.get(4)?),
                fstype: right.split(' ').next()?.to_owned(),
            })
        })
        .collect()
}

/// A private mount namespace, held by a `sleep` that `unshare` made its first
/// process; commands join it through `nsenter`. Everything mounted in it goes
/// with it when the holder is killed (on drop).
struct MountNs {
    holder: Killed,
}

impl MountNs {
    fn new() -> MountNs {
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let ns = MountNs {
            holder: Killed(holder),
        };
        // unshare execs sleep once the namespace is made: same pid, new namespace.
        let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let theirs = format!("/proc/{}/ns/mnt", ns.pid());
        wait_for("the new mount namespace", || {
            std::fs::read_link(&theirs).is_ok_and(|ns| ns != own)
        });
        ns
    }

    fn pid(&self) -> u32 {
        self.holder.0.id()
    }

    /// `program` to be run in the namespace.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", self.pid()))
            .arg("--mount")
            .arg("--")
            .arg(program);
        cmd
    }

    /// The namespace's mount table.
    fn mountinfo(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid())).unwrap()
    }

    /// The mounts at `point`, newest last.
    fn mounts_at(&self, point: &Path) -> Vec<Mount> {
        let found: Vec<Mount> = mounts(&self.mountinfo())
            .into_iter()
            .filter(|m| m.point == point)
            .collect();
        assert!(
            mounts(&std::fs::read_to_string("/proc/self/mountinfo").unwrap())
                .iter()
                .all(|m| m.point != point),
            "a mount of the test's namespace leaked into the machine's"
        );
        found
    }
}

/// A deployed host whose storage is an "export" directory mounted by the
/// connect command at the mount point the configuration derives.
struct Host {
    dir: tempfile::TempDir,
    ns: MountNs,
}

impl Host {
    /// `connect` is the connect command's script body (`sh`), with `$EXPORT`
    /// and `$MOUNT_POINT` set.
    fn new(connect: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().display().to_string();
        assert!(
            !text.contains([' ', '\t', '\n', '\\', '_']),
            "{text}: the tests' paths must read the same in mountinfo and in vdsm's naming"
        );
        let host = Host {
            dir,
            ns: MountNs::new(),
        };
        let volume = host
            .export()
            .join(SD_UUID)
            .join("ha_agent/hosted-engine.metadata");
        std::fs::create_dir_all(volume.parent().unwrap()).unwrap();
        init_volume(&volume, false, IO).unwrap();
        std::fs::create_dir_all(host.mount_point()).unwrap();
        host.write_script(
            "connect-storage",
            &format!(
                "EXPORT={}\nMOUNT_POINT={}\necho run >>{}\n{connect}",
                host.export().display(),
                host.mount_point().display(),
                host.path("connect-runs").display()
            ),
        );
        let paths = host.paths();
        std::fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
        std::fs::create_dir_all(paths.agent_conf.parent().unwrap()).unwrap();
        std::fs::write(
            &paths.he_conf,
            format!(
                "fqdn=engine.invalid\nvmid={VMID}\nhost_id=1\nstorage={export}\n\
                 domainType=posixfs\nsdUUID={SD_UUID}\nmnt_root={mnt}\nvm_command=/bin/sleep 600\n\
                 network_test=none\nbridge=lo\nhostname=host1.test\n\
                 storage_connect_command={connect}\n{}",
                common::NO_WATCHDOG,
                export = host.export().display(),
                mnt = host.path("mnt").display(),
                connect = host.path("connect-storage").display(),
            ),
        )
        .unwrap();
        std::fs::write(&paths.agent_conf, common::FAST_AGENT_CONF).unwrap();
        host
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn export(&self) -> PathBuf {
        self.path("export")
    }

    /// `<mnt_root>/<vdsm mount name of the export>`: `_` doubled, `/` made `_`
    /// (the paths hold no `_`, see `new`).
    fn mount_point(&self) -> PathBuf {
        let name = self.export().display().to_string().replace('/', "_");
        self.path("mnt").join(name)
    }

    fn volume_in_export(&self) -> PathBuf {
        self.export()
            .join(SD_UUID)
            .join("ha_agent/hosted-engine.metadata")
    }

    fn paths(&self) -> ConfigPaths {
        ConfigPaths::under_root(&self.path("host1"))
    }

    fn write_script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\nset -eu\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn connect_runs(&self) -> usize {
        std::fs::read_to_string(self.path("connect-runs"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `program` in the host's namespace with its configuration.
    fn command(&self, program: &str) -> Command {
        let mut cmd = self.ns.command(program);
        for var in common::PATH_VARS
            .iter()
            .chain(&["JOURNAL_STREAM", "HE_LOG", "NOTIFY_SOCKET"])
        {
            cmd.env_remove(var);
        }
        cmd.env("HE_CONFIG_ROOT", self.path("host1"))
            .stdin(Stdio::null());
        cmd
    }

    fn he(&self, args: &[&str]) -> Ran {
        self.command(HE_BIN).args(args).output().unwrap().into()
    }

    fn mounts(&self) -> Vec<Mount> {
        self.ns.mounts_at(&self.mount_point())
    }

    fn set_global_maintenance(&self) {
        let mut global = GlobalBlock::new();
        global.set_maintenance(true);
        MetadataStore::open(self.volume_in_export(), IO)
            .write_slot(0, &global.encode().unwrap())
            .unwrap();
    }

    /// The engine VM as the `process` driver runs it for this host.
    fn engine_vm(&self, argv: &[&str]) -> ProcessVm {
        let state = self.paths().state_dir;
        std::fs::create_dir_all(&state).unwrap();
        ProcessVm::new(ProcessVmConfig::new(
            argv.iter().map(|a| (*a).to_owned()).collect(),
            state.join(PROCESS_STATE_FILE),
            state.join(VM_LOG_FILE),
        ))
        .unwrap()
    }
}

fn assert_ran(ran: &Ran, code: i32, stderr: &str) {
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(code), "", stderr),
        "{ran:?}"
    );
}

/// The bind mount of the export at the mount point, as the table shows it.
fn assert_bind_of_export(found: &[Mount]) {
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].root.ends_with("/export"),
        "the export is what is mounted: {found:?}"
    );
}

#[test]
fn connect_and_disconnect_mount_and_unmount_the_storage() {
    if !common::require("root (mount namespaces and mounts)", is_root()) {
        return;
    }
    // Mounts the export unless it is mounted already, as a connect command
    // must: the agent runs it at start and whenever the storage is lost.
    let host = Host::new(
        "if mountpoint -q \"$MOUNT_POINT\"; then exit 0; fi\n\
         exec mount --bind \"$EXPORT\" \"$MOUNT_POINT\"",
    );
    let point = host.mount_point();
    let shown = point.display();
    let volume_at_mount = point.join(SD_UUID).join("ha_agent/hosted-engine.metadata");
    assert_eq!(host.mounts(), []);

    // Nothing mounted: nothing to disconnect, said so.
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(
        &ran,
        0,
        &format!("hosted-engine: {shown} is not a mount point: nothing to disconnect\n"),
    );

    // Connect: the command mounts, the volume under the mount point is read.
    let ran = host.he(&["--connect-storage"]);
    assert_ran(&ran, 0, "");
    assert_eq!(host.connect_runs(), 1);
    assert_bind_of_export(&host.mounts());
    // Again: the command runs again and, mounted already, changes nothing.
    let ran = host.he(&["--connect-storage"]);
    assert_ran(&ran, 0, "");
    assert_eq!(host.connect_runs(), 2);
    assert_bind_of_export(&host.mounts());

    // A running agent uses the storage: no disconnect under it.
    host.set_global_maintenance(); // the agent must not start the engine VM here
    let log = std::fs::File::create(host.path("agent.log")).unwrap();
    let mut agent = Killed(
        host.command(AGENT)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let socket = proto::socket_path(&host.paths().runtime_dir);
    wait_for("the agent to answer", || {
        proto::call(&socket, &proto::Request::STATUS, IO).is_ok()
    });
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(
        &ran,
        1,
        "ovirt-ha-agent is running and uses the shared storage: stop it first\n",
    );
    assert_bind_of_export(&host.mounts());
    // Connecting under it is fine (the agent runs the same command).
    let ran = host.he(&["--connect-storage"]);
    assert_ran(&ran, 0, "");
    assert_bind_of_export(&host.mounts());
    // SAFETY: kill(2) of the agent we spawned (nsenter execs it: same pid).
    unsafe { libc::kill(agent.0.id() as libc::pid_t, libc::SIGTERM) };
    wait_for("the agent to exit", || {
        agent.0.try_wait().unwrap().is_some()
    });
    let agent_log = std::fs::read_to_string(host.path("agent.log")).unwrap();
    assert!(agent.0.wait().unwrap().success(), "{agent_log}");

    // The engine VM runs here: no disconnect under it either.
    let mut vm = host.engine_vm(&["sleep", "600"]);
    assert!(
        vm.act(VmAction::Start {
            paused: false,
            epoch: 1
        })
        .is_ok()
    );
    assert!(matches!(vm.status(), LocalVm::Present { .. }));
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(
        &ran,
        1,
        "the engine VM runs on this host and uses the shared storage: shut it down first\n",
    );
    assert_bind_of_export(&host.mounts());
    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.take_error());

    // A process working in the storage keeps it busy: umount's failure is
    // reported, the storage stays mounted.
    // (nsenter's --wd opens the directory before it enters: cd inside.)
    let busy = Killed(
        host.ns
            .command("sh")
            .args(["-c", "cd \"$1\" && exec sleep 600", "sh"])
            .arg(&point)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let cwd = format!("/proc/{}/cwd", busy.0.id());
    wait_for("a process working in the storage", || {
        std::fs::read_link(&cwd).is_ok_and(|d| d == point)
    });
    let ran = host.he(&["--disconnect-storage"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(ran.stderr.contains("target is busy"), "{ran:?}");
    assert!(
        ran.stderr
            .ends_with(&format!("umount {shown} failed (exit status: 32)\n")),
        "{ran:?}"
    );
    assert_bind_of_export(&host.mounts());
    drop(busy);

    // Disconnect: unmounted, the volume no longer under the mount point, the
    // export's data untouched.
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(&ran, 0, "");
    assert_eq!(host.mounts(), []);
    let visible = host
        .ns
        .command("test")
        .arg("-e")
        .arg(&volume_at_mount)
        .status()
        .unwrap();
    assert_eq!(visible.code(), Some(1), "gone from the mount point");
    MetadataStore::open(host.volume_in_export(), IO)
        .read_area()
        .unwrap();
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(
        &ran,
        0,
        &format!("hosted-engine: {shown} is not a mount point: nothing to disconnect\n"),
    );

    // And connected again.
    let ran = host.he(&["--connect-storage"]);
    assert_ran(&ran, 0, "");
    assert_bind_of_export(&host.mounts());
}

#[test]
fn connect_reads_the_volume_through_what_the_command_mounted() {
    if !common::require("root (mount namespaces and mounts)", is_root()) {
        return;
    }
    // The wrong storage: an empty tmpfs where the export belongs.
    let host = Host::new("exec mount -t tmpfs he-test-empty \"$MOUNT_POINT\"");
    let point = host.mount_point();
    let ran = host.he(&["--connect-storage"]);
    let volume = point.join(SD_UUID).join("ha_agent/hosted-engine.metadata");
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr.starts_with(&format!(
            "the shared metadata {} cannot be read: ",
            volume.display()
        )),
        "{ran:?}"
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    let found = host.mounts();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].fstype, "tmpfs", "{found:?}");
    // It is still a mount, and is unmounted.
    let ran = host.he(&["--disconnect-storage"]);
    assert_ran(&ran, 0, "");
    assert_eq!(host.mounts(), []);
}

#[test]
fn a_failing_connect_command_fails_the_connect_with_its_words() {
    // No mount here: the command fails before mounting anything.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host1");
    let paths = ConfigPaths::under_root(&root);
    std::fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    let shared = dir.path().join("shared");
    let volume = shared.join("ha_agent/hosted-engine.metadata");
    std::fs::create_dir_all(volume.parent().unwrap()).unwrap();
    init_volume(&volume, false, IO).unwrap();
    let script = dir.path().join("connect-storage");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'mount.nfs: access denied by server' >&2\nexit 32\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = |connect: &Path| {
        std::fs::write(
            &paths.he_conf,
            format!(
                "fqdn=engine.invalid\nvmid={VMID}\nhost_id=1\nstorage={}\ndomainType=dir\n\
                 vm_command=/bin/true\nnetwork_test=none\nstorage_connect_command={}\n",
                shared.display(),
                connect.display()
            ),
        )
        .unwrap();
    };
    let he = |args: &[&str]| -> Ran {
        let mut cmd = Command::new(HE_BIN);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("HE_CONFIG_ROOT", &root)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    };
    conf(&script);
    let ran = he(&["--connect-storage"]);
    assert_ran(
        &ran,
        1,
        &format!(
            "storage_connect_command: {}: exit status: 32: mount.nfs: access denied by server\n",
            script.display()
        ),
    );
    let missing = dir.path().join("no-such-command");
    conf(&missing);
    let ran = he(&["--connect-storage"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr.starts_with(&format!(
            "storage_connect_command: {}: No such file or directory",
            missing.display()
        )),
        "{ran:?}"
    );
    // A hosted-engine.conf that another user could have changed: its
    // command is not run (issue 14).
    conf(&script);
    std::fs::set_permissions(&paths.he_conf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let ran = he(&["--connect-storage"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(2), ""), "{ran:?}");
    assert!(
        ran.stderr
            .contains("not trusted with the commands it names")
            && ran.stderr.contains("writable by others (mode 0666)")
            && !ran.stderr.contains("mount.nfs"),
        "{ran:?}"
    );
}

// ---- --console with the process driver ----

/// Collects a child's stdout in the background.
fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let into = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

#[test]
fn the_process_drivers_console_is_its_vms_log_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host1");
    let paths = ConfigPaths::under_root(&root);
    std::fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&paths.state_dir).unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let vm_script = dir.path().join("engine-vm");
    // 60 lines at boot, one more on SIGUSR1.
    std::fs::write(
        &vm_script,
        "#!/bin/sh\ntrap 'echo \"engine: poked\"' USR1\n\
         i=1; while [ $i -le 60 ]; do echo \"engine boot line $i\"; i=$((i+1)); done\n\
         while :; do sleep 0.1; done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&vm_script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &paths.he_conf,
        format!(
            "fqdn=engine.invalid\nvmid={VMID}\nhost_id=1\nstorage={}\ndomainType=dir\n\
             vm_command={}\nnetwork_test=none\n",
            shared.display(),
            vm_script.display()
        ),
    )
    .unwrap();
    let he = || {
        let mut cmd = Command::new(HE_BIN);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        cmd.arg("--console")
            .env("HE_CONFIG_ROOT", &root)
            .stdin(Stdio::null());
        cmd
    };

    // Before the VM ever ran: no log, no console, said so.
    let ran: Ran = he().output().unwrap().into();
    let log = paths.state_dir.join(VM_LOG_FILE);
    assert_ran(
        &ran,
        1,
        &format!(
            "the engine VM (process driver) has no console, and its output log {} does not exist\n",
            log.display()
        ),
    );

    // The engine VM as the agent's driver runs it.
    let mut vm = ProcessVm::new(ProcessVmConfig::new(
        vec![vm_script.display().to_string()],
        paths.state_dir.join(PROCESS_STATE_FILE),
        log.clone(),
    ))
    .unwrap();
    assert!(
        vm.act(VmAction::Start {
            paused: false,
            epoch: 1
        })
        .is_ok()
    );
    wait_for("the VM's boot lines", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("engine boot line 60\n"))
    });

    // Its own process group, so that a Ctrl-C can reach the whole of it as a
    // terminal's would.
    let mut console = Killed(
        he().process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = collect(console.0.stdout.take().unwrap());
    let err = collect(console.0.stderr.take().unwrap());
    let shown = || out.lock().unwrap().clone();
    wait_for("the last lines of the log", || {
        shown().contains("engine boot line 60\n")
    });
    // The last 50 lines, from the 11th.
    assert!(shown().starts_with("engine boot line 11\n"), "{}", shown());
    assert!(!shown().contains("engine boot line 10\n"), "{}", shown());
    // Followed: what the VM says next shows up.
    let pid = vm.vm_pid().expect("the VM runs");
    // SAFETY: kill(2) of the engine VM process this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) }, 0);
    wait_for("the VM's next line on the console", || {
        shown().ends_with("engine: poked\n")
    });
    assert!(console.0.try_wait().unwrap().is_none(), "still following");

    // Ctrl-C ends it, the follower with it: nothing of the group is left.
    let group = console.0.id() as libc::pid_t;
    // SAFETY: kill(2) of the process group this test made.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGINT) }, 0);
    wait_for("the console to end", || {
        console.0.try_wait().unwrap().is_some()
    });
    let status = console.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    wait_for("the whole group to be gone", || {
        // SAFETY: kill(2) with signal 0 only checks that the group exists.
        unsafe { libc::kill(-group, 0) != 0 }
    });
    assert_eq!(err.lock().unwrap().as_str(), "");
    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.take_error());
}
