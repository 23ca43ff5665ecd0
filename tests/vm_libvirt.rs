//! The `libvirt` engine VM driver against a real `libvirtd` and a real small
//! guest: a Debian kernel and a busybox initramfs built by
//! `scripts/libvirt-guest build`, run under QEMU's software emulation (TCG, no
//! KVM needed). The guest's init runs busybox `acpid`, so libvirt's graceful
//! shutdown (the ACPI power button) really powers it off; a second XML without
//! ACPI shows the grace-then-destroy path.
//!
//! Needs root, a running libvirtd (`scripts/libvirt-guest daemons`) and the
//! guest; CI provides all three (`.ci/run`), elsewhere the tests skip saying so.
#![cfg(feature = "libvirt")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hosted_engine::core::{DownReason, LocalVm, VmAction, VmManagerStatus};
use hosted_engine::shell::VmDriver;
use hosted_engine::shell::vm::libvirt::{LibvirtVm, LibvirtVmConfig, METADATA_NS, attribute};
use virt::connect::Connect;

use common::libvirt::URI;
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
/// Booting the guest under TCG takes a few seconds; a loaded CI machine more.
const BOOT_LIMIT: Duration = Duration::from_secs(90);

/// One guest at a time: libvirt relabels the shared kernel and initramfs for
/// each domain, and two machines' worth of TCG on 2 cores is slow.
static SERIAL: Mutex<()> = Mutex::new(());

/// The guest's kernel and initramfs directory, or `None` (skipped, said why).
fn guest() -> Option<PathBuf> {
    common::libvirt::test_guest(false)
}

/// A fresh domain UUID for this run.
fn new_uuid(tag: u16) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:08x}-{tag:04x}-4000-8000-{:012x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

/// A guest's domain XML in a temp directory, and its serial console log.
struct Domain {
    dir: tempfile::TempDir,
    name: String,
    uuid: String,
}

impl Domain {
    fn new(guest: &Path, tag: u16, acpi: bool) -> Domain {
        let dir = tempfile::tempdir().unwrap();
        let uuid = new_uuid(tag);
        let name = format!("he-test-{}", &uuid[..13]);
        let domain = Domain { dir, name, uuid };
        domain.write_xml(guest, &domain.uuid, acpi);
        domain
    }

    fn xml(&self) -> PathBuf {
        self.dir.path().join("engine.xml")
    }

    fn console(&self) -> PathBuf {
        self.dir.path().join("console.log")
    }

    fn write_xml(&self, guest: &Path, uuid: &str, acpi: bool) {
        let features = if acpi { "<acpi/>" } else { "" };
        let devices = format!(
            "<serial type='file'><source path='{}'/><target port='0'/></serial>",
            self.console().display()
        );
        let xml = common::libvirt::domain_xml(&self.name, uuid, guest, features, &devices);
        std::fs::write(self.xml(), xml).unwrap();
    }

    fn driver(&self, grace: Duration) -> LibvirtVm {
        LibvirtVm::new(LibvirtVmConfig {
            uri: URI.into(),
            xml: self.xml(),
            uuid: self.uuid.clone(),
            shutdown_grace: grace,
            // The first domain after libvirtd's start probes QEMU first.
            call_timeout: Duration::from_secs(60),
            host_id: Some(1),
            recovery_argv: None,
            recovery_timeout: Duration::from_secs(5),
            log_file: self.dir.path().join("engine-vm.log"),
        })
        .unwrap()
    }

    fn console_text(&self) -> String {
        std::fs::read_to_string(self.console()).unwrap_or_default()
    }

    fn wait_booted(&self) {
        wait_for("the guest's init", BOOT_LIMIT, || {
            self.console_text().contains("he-guest: up")
        });
    }

    /// The lease element libvirt keeps in the running domain's metadata.
    fn lease(&self) -> Option<String> {
        let conn = Connect::open(Some(URI)).unwrap();
        let dom = conn.lookup_domain_by_uuid_string(&self.uuid).ok()?;
        let kind = virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
        dom.metadata(kind, Some(METADATA_NS), virt::sys::VIR_DOMAIN_AFFECT_LIVE)
            .ok()
    }

    /// libvirt's id of the running domain (changes with every start).
    fn id(&self) -> Option<u32> {
        let conn = Connect::open(Some(URI)).unwrap();
        let dom = conn.lookup_domain_by_uuid_string(&self.uuid).ok()?;
        dom.id()
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        if let Ok(conn) = Connect::open(Some(URI))
            && let Ok(dom) = conn.lookup_domain_by_uuid_string(&self.uuid)
        {
            let _ = dom.destroy();
        }
    }
}

fn wait_for(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    wait_or(what, limit, done, String::new);
}

/// Waits until `done`; on timeout fails with `context()` (e.g. a log).
fn wait_or(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_status(vm: &mut LibvirtVm, want: LocalVm, limit: Duration) {
    let mut last = None;
    let deadline = Instant::now() + limit;
    loop {
        let now = vm.status();
        if now == want {
            return;
        }
        if last != Some(now) {
            eprintln!("status {now:?} (waiting for {want:?})");
            last = Some(now);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {want:?}, still {now:?} ({:?})",
            vm.take_error()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn up() -> LocalVm {
    present(VmManagerStatus::Up)
}

fn present(status: VmManagerStatus) -> LocalVm {
    LocalVm::Present {
        status,
        down_reason: None,
    }
}

fn start(paused: bool, epoch: u64) -> VmAction {
    VmAction::Start { paused, epoch }
}

#[test]
fn start_acpi_shutdown_paused_start_and_destroy() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let domain = Domain::new(&guest, 1, true);
    let mut vm = domain.driver(Duration::from_secs(60));
    assert_eq!(vm.status(), LocalVm::NotPresent, "{:?}", vm.take_error());

    // Start: created from the XML, running, the lease epoch in its metadata.
    assert!(vm.act(start(false, 7)).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.take_error(), None);
    assert_eq!(vm.status(), up());
    let lease = domain.lease().expect("lease metadata");
    assert_eq!(attribute(&lease, "epoch"), Some("7"), "{lease}");
    assert_eq!(attribute(&lease, "host-id"), Some("1"), "{lease}");
    assert!(vm.vm_pid().is_some());
    domain.wait_booted();
    // A second start is refused while it runs.
    assert!(vm.act(start(false, 8)).is_err());
    assert!(vm.take_error().unwrap().contains("already runs"));

    // Graceful shutdown: the guest's acpid powers it off long before the grace.
    let asked = Instant::now();
    assert!(vm.act(VmAction::Shutdown).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.status(), present(VmManagerStatus::PoweringDown));
    wait_status(&mut vm, LocalVm::NotPresent, Duration::from_secs(30));
    assert!(asked.elapsed() < Duration::from_secs(30));
    assert!(
        domain
            .console_text()
            .contains("he-guest: power button, powering off"),
        "{}",
        domain.console_text()
    );

    // Start paused: created, never run.
    assert!(vm.act(start(true, 9)).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.status(), present(VmManagerStatus::Paused));
    let lease = domain.lease().expect("lease metadata");
    assert_eq!(attribute(&lease, "epoch"), Some("9"), "{lease}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!domain.console_text().contains("he-guest: up"));

    // Power off (destroy): gone at once.
    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.status(), LocalVm::NotPresent);
    assert_eq!(
        domain.id(),
        None,
        "a transient domain leaves nothing behind"
    );
    // Powering off nothing is fine.
    assert!(vm.act(VmAction::PowerOff).is_ok());
}

#[test]
fn a_guest_that_ignores_the_power_button_is_destroyed_after_the_grace() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    // No ACPI: the shutdown request reaches nobody.
    let domain = Domain::new(&guest, 2, false);
    let grace = Duration::from_secs(4);
    let mut vm = domain.driver(grace);
    assert!(vm.act(start(false, 3)).is_ok(), "{:?}", vm.take_error());
    domain.wait_booted();
    let asked = Instant::now();
    assert!(vm.act(VmAction::Shutdown).is_ok(), "{:?}", vm.take_error());
    let lease = domain.lease().expect("lease metadata");
    assert_eq!(attribute(&lease, "stopping"), Some("1"), "{lease}");
    assert_eq!(attribute(&lease, "epoch"), Some("3"), "{lease}");
    // An agent restarted meanwhile keeps the grace going (from its own start).
    drop(vm);
    let mut vm = domain.driver(grace);
    assert_eq!(vm.status(), present(VmManagerStatus::PoweringDown));
    std::thread::sleep(grace / 2);
    assert_eq!(vm.status(), present(VmManagerStatus::PoweringDown));
    wait_status(&mut vm, LocalVm::NotPresent, grace * 3);
    assert!(asked.elapsed() >= grace);
    assert!(!domain.console_text().contains("powering off"));
}

#[test]
fn a_killed_qemu_is_a_crash_and_a_restarted_driver_adopts_a_running_domain() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let domain = Domain::new(&guest, 3, true);
    let mut vm = domain.driver(Duration::from_secs(60));
    assert!(vm.act(start(false, 4)).is_ok(), "{:?}", vm.take_error());
    domain.wait_booted();
    let id = domain.id();

    // A new driver (an agent restart) adopts the running domain: no restart.
    drop(vm);
    let mut vm = domain.driver(Duration::from_secs(60));
    assert_eq!(vm.status(), up());
    assert_eq!(domain.id(), id);

    // QEMU killed behind libvirt's back: Down until the next Start or PowerOff.
    let pid = vm.vm_pid().expect("the qemu pid");
    // SAFETY: kill(2) of the QEMU process libvirt started for our domain.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let down = LocalVm::Present {
        status: VmManagerStatus::Down,
        down_reason: Some(DownReason::Other),
    };
    wait_status(&mut vm, down, Duration::from_secs(10));
    assert_eq!(vm.status(), down, "it stays Down");
    // Restart on the same host (the core's first answer to a crash).
    assert!(vm.act(start(false, 4)).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.status(), up());
    assert!(vm.act(VmAction::PowerOff).is_ok(), "{:?}", vm.take_error());
    assert_eq!(vm.status(), LocalVm::NotPresent);
}

#[test]
fn a_domain_xml_with_another_uuid_is_refused_before_it_runs() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let domain = Domain::new(&guest, 4, true);
    let other = new_uuid(5);
    domain.write_xml(&guest, &other, true);
    let mut vm = domain.driver(Duration::from_secs(60));
    assert!(vm.act(start(false, 1)).is_err());
    let e = vm.take_error().unwrap();
    assert!(e.contains("not vmid"), "{e}");
    assert_eq!(vm.status(), LocalVm::NotPresent);
    let conn = Connect::open(Some(URI)).unwrap();
    assert!(conn.lookup_domain_by_uuid_string(&other).is_err());
    // A missing XML file is a clear failure too.
    std::fs::remove_file(domain.xml()).unwrap();
    assert!(vm.act(start(false, 1)).is_err());
    let e = vm.take_error().unwrap();
    assert!(e.contains("engine.xml: cannot open"), "{e}");
}

// ---- the whole agent with vm_driver=libvirt ----

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state_of(volume: &Path) -> Option<String> {
    use hosted_engine::metadata::decode_area;
    use hosted_engine::shell::store::MetadataStore;
    let mut store = MetadataStore::open(volume, Duration::from_secs(5));
    let area = decode_area(&store.read_area().ok()?);
    let slot = area.hosts.get(&1)?.as_ref().ok()?;
    slot.extra.get("state").map(str::to_owned)
}

#[test]
fn the_agent_runs_its_engine_as_a_libvirt_domain() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(guest) = guest() else { return };
    let domain = Domain::new(&guest, 6, true);
    let root = domain.dir.path().join("host1");
    let shared = domain.dir.path().join("shared");
    let volume = shared.join("ha_agent/hosted-engine.metadata");
    std::fs::create_dir_all(volume.parent().unwrap()).unwrap();
    hosted_engine::shell::store::init_volume(&volume, false, Duration::from_secs(5)).unwrap();
    // The guest has no network: the engine's health page is the lab's stand-in
    // on the host, so that the agent sees a healthy engine while the domain runs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _health = Killed(
        Command::new(LAB)
            .args(["engine", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let etc_he = root.join("etc/ovirt-hosted-engine");
    let etc_ha = root.join("etc/ovirt-hosted-engine-ha");
    std::fs::create_dir_all(&etc_he).unwrap();
    std::fs::create_dir_all(&etc_ha).unwrap();
    std::fs::write(
        etc_he.join("hosted-engine.conf"),
        format!(
            "fqdn=127.0.0.1:{port}\nvmid={uuid}\nhost_id=1\nstorage={shared}\ndomainType=dir\n\
             network_test=none\nbridge=lo\nhostname=host1.lab\nvm_driver=libvirt\n\
             vm_xml={xml}\nlibvirt_uri={URI}\n{}",
            common::NO_WATCHDOG,
            uuid = domain.uuid,
            shared = shared.display(),
            xml = domain.xml().display()
        ),
    )
    .unwrap();
    std::fs::write(
        etc_ha.join("agent.conf"),
        common::fast_agent_conf_with(&[
            ("engine-starting-timeout-secs", "120"),
            ("vm-shutdown-grace-secs", "20"),
        ]),
    )
    .unwrap();
    let log_path = root.join("agent.log");
    let run_agent = || {
        let mut command = Command::new(AGENT);
        for var in common::PATH_VARS {
            command.env_remove(var);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        Killed(
            command
                .env("HE_CONFIG_ROOT", &root)
                .env_remove("JOURNAL_STREAM")
                .env_remove("HE_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    };
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let check = Command::new(AGENT)
        .env("HE_CONFIG_ROOT", &root)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let mut agent = run_agent();
    let engine_up = || state_of(&volume).as_deref() == Some("EngineUp");
    wait_or("EngineUp", Duration::from_secs(120), engine_up, log);
    let id = domain.id().expect("the domain runs");
    let lease = domain.lease().expect("lease metadata");
    assert_eq!(attribute(&lease, "epoch"), Some("1"), "{lease}");
    assert!(log().contains("engine VM driver libvirt"), "{}", log());
    assert!(
        log().contains("engine VM start (epoch 1): done"),
        "{}",
        log()
    );

    // SIGTERM: AgentStopped published, the engine VM left running.
    // SAFETY: kill(2) of the agent we spawned.
    unsafe { libc::kill(agent.0.id() as libc::pid_t, libc::SIGTERM) };
    let exited = || agent.0.try_wait().unwrap().is_some();
    wait_or("the agent to exit", Duration::from_secs(15), exited, log);
    assert_eq!(state_of(&volume).as_deref(), Some("AgentStopped"));
    assert_eq!(domain.id(), Some(id), "{}", log());

    // Restarted, the agent adopts the running domain instead of starting one.
    let _agent = run_agent();
    wait_or("EngineUp again", Duration::from_secs(60), engine_up, log);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(domain.id(), Some(id), "the same domain: {}", log());
    assert_eq!(
        log().matches("engine VM start (epoch").count(),
        1,
        "{}",
        log()
    );
}
