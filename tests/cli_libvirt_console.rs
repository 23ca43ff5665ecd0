//! `hosted-engine --add-console-password` and `--console` with
//! `vm_driver=libvirt`, against a real `libvirtd` and the small real guest of
//! `tests/vm_libvirt.rs` (`scripts/libvirt-guest`), run as processes.
//!
//! The test domains are oVirt's engine VM in small: a serial console on a pty
//! (what `virsh console` attaches to) and, for the password, a VNC graphics
//! device defined with an expired password, as vdsm defines it (QEMU accepts a
//! password later only on a display started with one). The password is read
//! back from the live domain (`virsh dumpxml --security-info`); a `virsh`
//! wrapper first in `PATH` records how the command called it, the mode of the
//! file it handed over, and that file's text.
//!
//! Needs root, a running libvirtd (`scripts/libvirt-guest daemons`) and the
//! guest; CI provides all three (`.ci/run`), elsewhere the tests skip saying so.
#![cfg(feature = "libvirt")]

mod common;

use common::he::Ran;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HE_BIN: &str = env!("CARGO_BIN_EXE_hosted-engine");
use common::libvirt::URI;
/// Booting the guest under TCG takes a few seconds; a loaded CI machine more.
const BOOT_LIMIT: Duration = Duration::from_secs(90);
/// How long a console may take to end once it should.
const END_LIMIT: Duration = Duration::from_secs(15);
/// How long `--add-console-password` makes a password valid.
const VALID_SECS: i64 = 2 * 3600;

/// One guest at a time (as in tests/vm_libvirt.rs).
static SERIAL: Mutex<()> = Mutex::new(());

/// The guest's kernel and initramfs directory, or `None` (skipped, said why).
fn guest() -> Option<PathBuf> {
    common::libvirt::test_guest(true)
}

fn virsh(args: &[&str]) -> Ran {
    let ran: Ran = Command::new("virsh")
        .args(["-c", URI])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(ran.code, Some(0), "virsh {args:?}: {ran:?}");
    ran
}

/// The program `virsh` as `PATH` finds it, before the tests put their
/// wrapper first.
fn real_virsh() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("virsh"))
        .find(|p| p.is_file())
        .expect("virsh in PATH")
}

/// A running transient domain of the guest, paused until resumed (so that the
/// console sees the boot), and a host configuration naming it as the engine
/// VM. Destroyed when dropped.
struct Engine {
    dir: tempfile::TempDir,
    name: String,
    uuid: String,
}

impl Engine {
    /// `graphics`: the domain's graphics element, if any.
    fn start(guest: &Path, tag: u16, graphics: &str) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let uuid = format!(
            "{:08x}-{tag:04x}-4000-8000-{:012x}",
            std::process::id(),
            nanos & 0xffff_ffff_ffff
        );
        let name = format!("he-console-{}", &uuid[..13]);
        let engine = Engine { dir, name, uuid };
        let devices = format!(
            "<serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    {graphics}"
        );
        let xml =
            common::libvirt::domain_xml(&engine.name, &engine.uuid, guest, "<acpi/>", &devices);
        std::fs::write(engine.xml(), xml).unwrap();
        let root = engine.root();
        let paths = hosted_engine::config::ConfigPaths::under_root(&root);
        std::fs::create_dir_all(paths.he_conf.parent().unwrap()).unwrap();
        let shared = engine.dir.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(
            &paths.he_conf,
            format!(
                "fqdn=engine.invalid\nvmid={uuid}\nhost_id=1\nstorage={shared}\ndomainType=dir\n\
                 network_test=none\nvm_driver=libvirt\nvm_xml={xml}\nlibvirt_uri={URI}\n",
                uuid = engine.uuid,
                shared = shared.display(),
                xml = engine.xml().display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(engine.tmp()).unwrap();
        std::fs::create_dir_all(engine.bin()).unwrap();
        // Records each call (its arguments; each file argument's mode, its
        // directory's mode and its text), then runs the real virsh.
        let wrapper = engine.bin().join("virsh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nlog={log}\necho \"argv $*\" >>\"$log\"\n\
                 for a in \"$@\"; do\n  if [ -f \"$a\" ]; then\n\
                 echo \"file $(stat -c %a \"$a\") dir $(stat -c %a \"$(dirname \"$a\")\") $a\" >>\"$log\"\n\
                 cat \"$a\" >>\"$log\"\n  fi\ndone\nexec {real} \"$@\"\n",
                log = engine.virsh_log().display(),
                real = real_virsh().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        virsh(&["create", &engine.xml().display().to_string(), "--paused"]);
        engine
    }

    fn xml(&self) -> PathBuf {
        self.dir.path().join("engine.xml")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("host1")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn virsh_log(&self) -> PathBuf {
        self.dir.path().join("virsh.log")
    }

    fn virsh_calls(&self) -> String {
        std::fs::read_to_string(self.virsh_log()).unwrap_or_default()
    }

    /// `hosted-engine` for this host, with the wrapper first in `PATH` and
    /// `TMPDIR` the test's.
    fn he(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(HE_BIN);
        for var in common::PATH_VARS {
            cmd.env_remove(var);
        }
        let path = std::env::join_paths(
            std::iter::once(self.bin())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        cmd.args(args)
            .env("HE_CONFIG_ROOT", self.root())
            .env("PATH", path)
            .env("TMPDIR", self.tmp())
            .env_remove("OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Ran {
        self.he(args).output().unwrap().into()
    }

    /// The live domain's `<graphics ...>` start tag, secrets included.
    fn live_graphics(&self) -> String {
        let xml = virsh(&["dumpxml", "--security-info", &self.uuid]).stdout;
        let start = xml.find("<graphics ").expect("a graphics element");
        let len = xml[start..].find('>').unwrap() + 1;
        xml[start..start + len].to_owned()
    }

    fn resume(&self) {
        virsh(&["resume", &self.uuid]);
    }

    fn destroy(&self) {
        virsh(&["destroy", &self.uuid]);
    }

    fn temp_entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("virsh")
            .args(["-c", URI, "destroy", &self.uuid])
            .stdin(Stdio::null())
            .output();
    }
}

/// An XML attribute's value in single quotes, as libvirt writes them.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}='"))? + name.len() + 3;
    let len = tag[start..].find('\'')?;
    Some(&tag[start..start + len])
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) as Unix time.
fn unix_of(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn now_unix() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// oVirt's way: a VNC display started with an expired password.
const VNC: &str = "<graphics type='vnc' port='-1' autoport='yes' passwd='initial' \
                   passwdValidTo='1970-01-01T00:00:01'/>";

#[test]
fn add_console_password_sets_a_temporary_vnc_password_on_the_live_domain() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let engine = Engine::start(&guest, 1, VNC);
    let before = engine.live_graphics();
    assert_eq!(attribute(&before, "passwd"), Some("initial"));

    let asked = now_unix();
    let ran = engine.run(&["--add-console-password", "--password=Pw-1234"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (Some(0), "", ""),
        "{ran:?}\n{}",
        engine.virsh_calls()
    );
    let live = engine.live_graphics();
    assert_eq!(attribute(&live, "passwd"), Some("Pw-1234"), "{live}");
    let valid_to = unix_of(attribute(&live, "passwdValidTo").expect("passwdValidTo"));
    assert!(
        (asked + VALID_SECS - 5..=now_unix() + VALID_SECS + 5).contains(&valid_to),
        "valid for two hours: {live}"
    );
    // The rest of the display as it was: same port, same listen address.
    for name in ["port", "autoport", "listen"] {
        assert_eq!(attribute(&live, name), attribute(&before, name), "{live}");
    }

    // The password went in a file only root could read, never on a command
    // line, and the file is gone.
    let calls = engine.virsh_calls();
    assert!(
        !calls
            .lines()
            .any(|l| l.starts_with("argv") && l.contains("Pw-1234")),
        "{calls}"
    );
    let files: Vec<&str> = calls.lines().filter(|l| l.starts_with("file ")).collect();
    assert_eq!(files.len(), 1, "{calls}");
    assert!(files[0].starts_with("file 600 dir 700 "), "{calls}");
    let file = PathBuf::from(files[0].splitn(5, ' ').nth(4).unwrap());
    assert!(file.starts_with(engine.tmp()), "under TMPDIR: {calls}");
    assert!(calls.contains("passwd='Pw-1234'"), "{calls}");
    assert!(
        calls
            .lines()
            .any(|l| l.starts_with("argv -c qemu:///system update-device") && l.ends_with("--live")),
        "{calls}"
    );
    assert_eq!(engine.temp_entries(), Vec::<PathBuf>::new());

    // From the environment, replacing the first.
    let ran: Ran = engine
        .he(&["--add-console-password"])
        .env("OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD", "Env-5678")
        .output()
        .unwrap()
        .into();
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""), "{ran:?}");
    let live = engine.live_graphics();
    assert_eq!(attribute(&live, "passwd"), Some("Env-5678"), "{live}");

    // Refused before virsh runs: a password the XML cannot carry, and none
    // at all (stdin is no terminal to ask on).
    let calls = engine.virsh_calls();
    let ran = engine.run(&["--add-console-password", "--password=it's"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (
            Some(1),
            "",
            "the password may not contain quotes, <, > or &\n"
        )
    );
    let ran = engine.run(&["--add-console-password"]);
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (
            Some(1),
            "",
            "no password: pass --password or set OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD\n"
        )
    );
    assert_eq!(engine.virsh_calls(), calls, "virsh not run");
    let live = engine.live_graphics();
    assert_eq!(attribute(&live, "passwd"), Some("Env-5678"), "{live}");
    assert_eq!(engine.temp_entries(), Vec::<PathBuf>::new());
}

#[test]
fn add_console_password_without_a_vnc_display_says_so() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let engine = Engine::start(&guest, 2, "");
    let ran = engine.run(&["--add-console-password", "--password=Pw-1234"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(1), ""), "{ran:?}");
    assert_eq!(
        ran.stderr,
        format!(
            "the engine VM's domain {} has no VNC display (<graphics type='vnc'>): no console \
             password to set\n",
            engine.uuid
        ),
        "{}",
        engine.virsh_calls()
    );
    assert!(!engine.virsh_calls().contains("update-device"));
    assert_eq!(engine.temp_entries(), Vec::<PathBuf>::new());
}

/// A pseudo-terminal: the child's end and ours, with what the child writes
/// collected in the background.
struct Pty {
    child_end: OwnedFd,
    ours: std::fs::File,
    seen: Arc<Mutex<String>>,
}

impl Pty {
    fn open() -> Pty {
        let (mut ours, mut theirs) = (-1, -1);
        // SAFETY: openpty(3) with valid out-pointers and no name, termios or size.
        let rc = unsafe {
            libc::openpty(
                &mut ours,
                &mut theirs,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here only.
        let (ours, child_end) = unsafe {
            (
                std::fs::File::from_raw_fd(ours),
                OwnedFd::from_raw_fd(theirs),
            )
        };
        let seen = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&seen);
        let mut reader = ours.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once every descriptor of the child's end is closed.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty {
            child_end,
            ours,
            seen,
        }
    }

    /// Runs `cmd` on the terminal as its controlling terminal, as a login
    /// shell would.
    fn spawn(&self, cmd: &mut Command) -> Child {
        let fd = self.child_end.as_raw_fd();
        let io = || Stdio::from(self.child_end.try_clone().unwrap());
        // SAFETY: setsid(2) and ioctl(TIOCSCTTY) are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.stdin(io()).stdout(io()).stderr(io()).spawn().unwrap()
    }

    fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    fn wait_for(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.seen().contains(text) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?} on the console:\n{}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        self.ours.write_all(bytes).unwrap();
    }
}

/// Waits (bounded) for `child` to exit.
fn ended(child: &mut Child, pty: &Pty) -> ExitStatus {
    common::wait_or_kill(child, END_LIMIT)
        .unwrap_or_else(|| panic!("the console did not end:\n{}", pty.seen()))
}

#[test]
fn the_console_is_the_domains_serial_console_and_always_ends() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let engine = Engine::start(&guest, 3, "");

    // No terminal (stdin /dev/null, as from cron or a script): virsh refuses
    // at once, and so does the command; nothing waits.
    let begun = Instant::now();
    let ran = engine.run(&["--console"]);
    assert!(begun.elapsed() < END_LIMIT, "{:?}", begun.elapsed());
    // (virsh writes an empty line to stdout on its way out.)
    assert_eq!((ran.code, ran.stdout.trim()), (Some(1), ""), "{ran:?}");
    assert!(
        ran.stderr
            .contains("Cannot run interactive console without a controlling TTY"),
        "{ran:?}"
    );
    assert!(
        engine
            .virsh_calls()
            .contains(&format!("argv -c {URI} console {}", engine.uuid)),
        "{}",
        engine.virsh_calls()
    );

    // On a terminal: attached before the guest runs, the whole boot shows;
    // the escape character (Ctrl-]) detaches, exit 0.
    let mut pty = Pty::open();
    let mut console = pty.spawn(&mut engine.he(&["--console"]));
    pty.wait_for("Escape character is ^]", END_LIMIT);
    engine.resume();
    pty.wait_for("he-guest: up", BOOT_LIMIT);
    pty.type_bytes(b"\x1d");
    let status = ended(&mut console, &pty);
    assert_eq!(status.code(), Some(0), "{}", pty.seen());
    drop(pty);

    // Attached again; the domain goes away: the console ends with it.
    let pty = Pty::open();
    let mut console = pty.spawn(&mut engine.he(&["--console"]));
    pty.wait_for("Escape character is ^]", END_LIMIT);
    engine.destroy();
    let status = ended(&mut console, &pty);
    assert_eq!(status.code(), Some(0), "{}", pty.seen());
    drop(pty);

    // No domain at all: virsh's error, exit 1, at once.
    let pty = Pty::open();
    let mut console = pty.spawn(&mut engine.he(&["--console"]));
    let status = ended(&mut console, &pty);
    assert_eq!(status.code(), Some(1), "{}", pty.seen());
    assert!(pty.seen().contains("error:"), "{}", pty.seen());
}
