//! Power fencing in the lab (`he-lab up --fencing`): a BMC per host, and the
//! cluster's `fencing.conf` that lets every agent power any other host off
//! through it with the real `fence_ipmilan`.
//!
//! - **The BMCs** are OpenIPMI's `ipmi_sim` ([`crate::lab::bmc`]), one per
//!   host, started and stopped by the supervisor (`supervisor/bmc.rs`) and
//!   recorded in `<lab>/bmc/hostN/ipmi_sim.pid` (pid and start time); like
//!   every process of the lab they carry the lab's mark in their environment,
//!   so `he-lab down` finds and kills them from the records alone
//!   ([`kill_bmcs`]). Where they listen is the isolation's choice
//!   (`Backend::bmc_addr`): under netns a management network that no fault
//!   of the hosts' network touches, under none the lab's own loopback block.
//! - **The power wiring.** A BMC's power-on runs the host's *power
//!   sentinel* (`he-lab power-sentinel`, [`sentinel`]), a small process that
//!   stands for the host's power supply: the BMC reads on exactly while the
//!   sentinel lives. The supervisor watches it each turn: a sentinel that
//!   appears while the host is off powers the host on; one that is gone while
//!   the host is on powers it off ("fenced through its BMC"). A power-off
//!   through the BMC is a handshake, so that the BMC never reports off
//!   before the host is: ipmi_sim SIGTERMs the sentinel, which writes
//!   `off-request` and waits; the supervisor powers the host off as
//!   `host-crash` does (agent, lease keeper and engine payload killed, off
//!   until heal or a BMC power-on), then kills the sentinel, and only then
//!   does ipmi_sim read off. The other way round, the lab's own power changes
//!   reach the BMC as a real server's power reaches its BMC: a power loss
//!   (`host-crash`, a watchdog reset) kills the sentinel, so the BMC reads
//!   off at once; a boot (`up`, heal) powers the BMC on through `ipmitool`
//!   as the lab's own BMC user.
//! - **Credentials.** Each BMC has two administrators: user 2, `admin`, the
//!   fence agents' (a password of its own per BMC), and user 3, `lab`, the
//!   lab's own (one password for every BMC, in `<lab>/bmc/lab.password`), so
//!   that `bmc-wrong-credentials`, which changes user 2's password, leaves
//!   the lab able to undo it.
//! - **`fencing.conf`** beside the metadata volume names each host's BMC
//!   ([`fencing_conf_text`]); each host's fencing directory holds every BMC's
//!   password file, named bare in the file. `fence-after-secs` is left to
//!   the default but on the fast profile, whose `lease-dead` (7 s) is hardly
//!   above the default fence-after (6 s): fencing would save nothing.

use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::isolation;
use super::layout::{self, LabSpec, Profile};
use super::procs::{self, ProcId};
use crate::config::{FencingConf, format_secs};
use crate::lab::bmc::{self, BMC_EMU, BmcUser, LanConf};

/// The fence agents' IPMI user (user 2) on every BMC.
pub const ADMIN_USER: &str = "admin";
/// The lab's own IPMI user (user 3) on every BMC.
pub const LAB_USER: &str = "lab";
/// `fence-after-secs` on the fast profile (well below its lease-dead of 7 s,
/// and within the rules of `FenceConf::violations`).
pub const FAST_FENCE_AFTER_MS: u64 = 4_000;
/// ipmi_sim's ticks between its SIGTERM of a power sentinel (a power-off
/// through the BMC) and its SIGKILL: time for the supervisor to power the
/// host off first. The supervisor takes a tenth of a second; this only
/// bounds a sentinel that nobody answers.
pub const KILL_WAIT_TICKS: u32 = 10;
/// How often a power sentinel looks for its SIGTERM.
const SENTINEL_POLL: Duration = Duration::from_millis(20);
/// How long a power sentinel waits to be killed once it asked for the
/// power-off (ipmi_sim kills it after [`KILL_WAIT_TICKS`] anyway).
const SENTINEL_WAIT_MAX: Duration = Duration::from_secs(60);
/// The BMCs' command file, in [`LabSpec::bmc_root`].
const EMU_FILE: &str = "bmc.emu";
/// The lab's own BMC user's password, in [`LabSpec::bmc_root`].
const LAB_PASSWORD_FILE: &str = "lab.password";
/// Host N's BMC's `admin` password, in its [`LabSpec::bmc_dir`].
const PASSWORD_FILE: &str = "password";

/// `fence-after-secs` as the agents of a lab on `profile` run it.
pub fn fence_after_ms(profile: Profile) -> u64 {
    match profile {
        Profile::Fast => FAST_FENCE_AFTER_MS,
        Profile::Default => crate::core::FenceConf::default_fence_after_ms(&profile.timings()),
    }
}

/// The name of host `id`'s BMC password file in every host's fencing
/// directory (`fencing.conf` names it bare).
pub fn password_file_name(id: u16) -> String {
    format!("{}.password", LabSpec::host_name(id))
}

/// The BMCs' command file.
pub fn emu_file(spec: &LabSpec) -> std::path::PathBuf {
    spec.bmc_root().join(EMU_FILE)
}

/// The BMCs' `lan.conf` of host `id`.
pub fn lan_conf_file(spec: &LabSpec, id: u16) -> std::path::PathBuf {
    spec.bmc_dir(id).join("lan.conf")
}

/// The state directory of host `id`'s BMC (`ipmi_sim -s`).
pub fn state_dir(spec: &LabSpec, id: u16) -> std::path::PathBuf {
    spec.bmc_dir(id).join("state")
}

/// Host `id`'s BMC's `admin` password, as the lab keeps it.
pub fn admin_password(spec: &LabSpec, id: u16) -> anyhow::Result<String> {
    read_secret(&spec.bmc_dir(id).join(PASSWORD_FILE))
}

/// The lab's own BMC user's password.
pub fn lab_password(spec: &LabSpec) -> anyhow::Result<String> {
    read_secret(&spec.bmc_root().join(LAB_PASSWORD_FILE))
}

fn read_secret(path: &Path) -> anyhow::Result<String> {
    let password = crate::config::read_password_file(path).map_err(anyhow::Error::msg)?;
    Ok(password.expose().to_string())
}

/// A fresh password: 16 random hex digits (IPMI takes letters and digits).
pub fn random_password() -> String {
    crate::lab::engine::boot_id()
        .chars()
        .take(bmc::PASSWORD_MAX_BYTES)
        .collect()
}

/// Writes everything fencing needs before the supervisor starts, once the
/// metadata volume's directory exists: the BMCs' files, `fencing.conf`, and
/// every host's password files; then checks that each host's agent will
/// take them as they are.
pub fn write_files(spec: &LabSpec) -> anyhow::Result<()> {
    let missing = bmc::missing_programs();
    anyhow::ensure!(
        missing.is_empty(),
        "--fencing needs {} (apt-get install --no-install-recommends openipmi fence-agents \
         ipmitool)",
        missing.join(", ")
    );
    private_dir(&spec.bmc_root())?;
    write(&emu_file(spec), BMC_EMU, 0o644)?;
    let lab_password = random_password();
    write(
        &spec.bmc_root().join(LAB_PASSWORD_FILE),
        &format!("{lab_password}\n"),
        0o600,
    )?;
    let mut passwords = Vec::new();
    for id in spec.host_ids() {
        private_dir(&spec.bmc_dir(id))?;
        private_dir(&state_dir(spec, id))?;
        let password = random_password();
        write(
            &spec.bmc_dir(id).join(PASSWORD_FILE),
            &format!("{password}\n"),
            0o600,
        )?;
        write(
            &lan_conf_file(spec, id),
            &lan_conf_text(spec, id, &password, &lab_password)?,
            0o600,
        )?;
        passwords.push(password);
    }
    write(&spec.fencing_conf(), &fencing_conf_text(spec)?, 0o600)?;
    for id in spec.host_ids() {
        private_dir(&spec.fencing_dir(id))?;
        for (other, password) in spec.host_ids().zip(&passwords) {
            let path = spec.fencing_dir(id).join(password_file_name(other));
            write(&path, &format!("{password}\n"), 0o600)?;
        }
    }
    check(spec)
}

/// Checks that every host's agent takes the lab's `fencing.conf` and its
/// password files, as it reads them at its start.
pub fn check(spec: &LabSpec) -> anyhow::Result<()> {
    let timings = spec.profile.timings();
    for id in spec.host_ids() {
        let loaded =
            FencingConf::load_for_agent(&spec.fencing_conf(), &timings, &spec.fencing_dir(id))
                .map_err(|e| {
                    anyhow::anyhow!("host{id}: the lab wrote a fencing.conf the agent refuses: {e}")
                })?;
        anyhow::ensure!(
            loaded.is_some_and(|conf| conf.devices.len() == usize::from(spec.hosts)),
            "host{id}: {} does not read back with a device per host",
            spec.fencing_conf().display()
        );
    }
    Ok(())
}

/// `fencing.conf`: a `fence_ipmilan` device per host on its BMC.
pub fn fencing_conf_text(spec: &LabSpec) -> anyhow::Result<String> {
    let backend = isolation::backend(spec.isolation);
    let mut text = String::from(
        "# he-lab: the cluster's fence devices, a simulated BMC (ipmi_sim) per host.\n\
         # Written by `he-lab up --fencing`; each host's password files are in its\n\
         # own fencing directory (password-file names them bare).\n\
         [fencing]\n",
    );
    if spec.profile == Profile::Fast {
        let _ = write!(
            text,
            "# The fast profile's lease-dead (7 s) is hardly above the default (6 s).\n\
             fence-after-secs = {}\n",
            format_secs(FAST_FENCE_AFTER_MS)
        );
    }
    for id in spec.host_ids() {
        let addr = backend.bmc_addr(spec, id)?;
        let _ = write!(
            text,
            "[host {id}]\n\
             agent = fence_ipmilan\n\
             password-file = {}\n\
             ip = {}\n\
             ipport = {}\n\
             username = {ADMIN_USER}\n\
             lanplus = 1\n\
             # ipmi_sim answers IPMI 2.0 sessions with cipher suites 0-3 only; without\n\
             # one, ipmitool first asks for the suites and every call takes 10-14 s longer.\n\
             cipher = 3\n\
             # The simulated BMC reads off only once the lab host is off: no settling.\n\
             power_wait = 0\n",
            password_file_name(id),
            addr.ip,
            addr.port,
        );
    }
    Ok(text)
}

/// Host `id`'s BMC's `lan.conf`: where it listens, its two administrators,
/// and its power sentinel as what power on runs.
pub fn lan_conf_text(
    spec: &LabSpec,
    id: u16,
    password: &str,
    lab_password: &str,
) -> anyhow::Result<String> {
    let addr = isolation::backend(spec.isolation).bmc_addr(spec, id)?;
    let name = LabSpec::host_name(id);
    let startcmd = format!(
        "{} power-sentinel --dir {} --host {id}",
        spec.lab_bin.display(),
        spec.dir.display()
    );
    let users = [
        BmcUser {
            number: 2,
            name: ADMIN_USER,
            password,
        },
        BmcUser {
            number: 3,
            name: LAB_USER,
            password: lab_password,
        },
    ];
    let conf = LanConf {
        name: &name,
        guid_index: u32::from(id),
        addr: &addr.ip,
        port: addr.port,
        serial_addr: &addr.serial_ip,
        serial_port: addr.serial_port,
        startcmd: &startcmd,
        startnow: false,
        kill_wait_ticks: KILL_WAIT_TICKS,
        users: &users,
    };
    conf.check().map_err(anyhow::Error::msg)?;
    Ok(conf.render())
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating {}: {e}", dir.display())),
    }
}

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    crate::config::write_atomic(path, text.as_bytes(), mode)
        .with_context(|| format!("writing {}", path.display()))
}

/// `he-lab power-sentinel`: host `host`'s power sentinel, what its BMC's
/// power-on runs (see the module documentation). Lives until killed; on
/// SIGTERM (the BMC powers the host off) it writes its `off-request` and
/// waits for the supervisor to power the host off and kill it.
pub fn sentinel(dir: &Path, host: u16) -> anyhow::Result<()> {
    let spec = LabSpec::load(dir)?;
    anyhow::ensure!(
        (1..=spec.hosts).contains(&host),
        "host{host}: this lab has hosts 1..={}",
        spec.hosts
    );
    crate::shell::signals::install_stop_handlers().context("installing signal handlers")?;
    let me = procs::proc_id(std::process::id() as i32).context("reading our own /proc entry")?;
    println!(
        "host{host}: power sentinel {}: the BMC powered the host on",
        me.pid
    );
    while !crate::shell::signals::stop_requested() {
        std::thread::sleep(SENTINEL_POLL);
    }
    let request = format!("{} {}\n", me.pid, me.start_ticks);
    layout::write_atomic(&spec.off_request(host), request.as_bytes())?;
    println!(
        "host{host}: power sentinel {}: the BMC powers the host off; waiting for the lab",
        me.pid
    );
    let deadline = Instant::now() + SENTINEL_WAIT_MAX;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The BMC of host `id` (`ipmi_sim`) from its pid file, while it runs.
pub fn bmc_process(spec: &LabSpec, id: u16) -> Option<ProcId> {
    procs::read_pid_file(&spec.bmc_pid(id)).filter(|p| procs::alive(*p))
}

/// The power sentinels host `id`'s BMC runs (its live children: one while
/// its power is on).
pub fn sentinels(bmc: ProcId) -> Vec<ProcId> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", bmc.pid)) else {
        return Vec::new();
    };
    let mut found: Vec<ProcId> = tasks
        .filter_map(|task| {
            let children = task.ok()?.path().join("children");
            std::fs::read_to_string(children).ok()
        })
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .filter_map(procs::proc_id)
        .filter(|child| procs::alive(*child))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Kills every BMC of the lab and what it runs (SIGCONT, as a BMC may be
/// stopped by `bmc-unreachable`, then SIGKILL of its process group, which its
/// power sentinel is in), from the records alone; how many were running.
pub fn kill_bmcs(spec: &LabSpec) -> usize {
    let bmcs: Vec<ProcId> = spec
        .host_ids()
        .filter_map(|id| bmc_process(spec, id))
        .collect();
    for b in &bmcs {
        let _ = procs::signal_group_verified(*b, libc::SIGCONT);
        let _ = procs::signal_group_verified(*b, libc::SIGKILL);
    }
    procs::wait_gone(&bmcs, Duration::from_secs(2));
    bmcs.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfFile;
    use crate::lab::cluster::layout::{Isolation, NetPlan, SPEC_VERSION};

    fn spec(dir: &Path, profile: Profile) -> LabSpec {
        LabSpec {
            version: SPEC_VERSION,
            id: "abc123".into(),
            dir: dir.to_path_buf(),
            hosts: 3,
            isolation: Isolation::None,
            profile,
            lab_bin: "/usr/bin/he-lab".into(),
            agent_bin: "/usr/bin/ovirt-ha-agent".into(),
            sd_uuid: "sd".into(),
            bridge: "lo".into(),
            net: NetPlan::Loopback {
                prefix: [120, 3],
                port: 31000,
            },
            fencing: true,
        }
    }

    #[test]
    fn fencing_conf_names_each_hosts_bmc_and_keeps_the_profiles_rules() {
        for profile in [Profile::Fast, Profile::Default] {
            let dir = tempfile::tempdir().unwrap();
            let spec = spec(dir.path(), profile);
            let text = fencing_conf_text(&spec).unwrap();
            let path = dir.path().join("fencing.conf");
            std::fs::write(&path, &text).unwrap();
            let conf = FencingConf::load(&path).unwrap();
            assert_eq!(conf.devices.len(), 3);
            let device = &conf.devices[&2];
            assert_eq!(device.agent, "fence_ipmilan");
            assert_eq!(
                device.password_file.as_deref(),
                Some(Path::new("host2.password"))
            );
            let option = |key: &str| {
                device
                    .options
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(option("ip"), Some("127.120.3.152"));
            assert_eq!(option("ipport"), Some("31000"));
            assert_eq!(option("cipher"), Some("3"));
            let timings = profile.timings();
            assert!(conf.timing_errors(&timings).is_empty(), "{profile:?}");
            assert_eq!(conf.fence_after_ms(&timings), fence_after_ms(profile));
        }
        assert_eq!(fence_after_ms(Profile::Default), 6_000);
    }

    #[test]
    fn lan_conf_runs_the_hosts_sentinel_with_two_administrators() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(dir.path(), Profile::Fast);
        let text = lan_conf_text(&spec, 3, "abc", "def").unwrap();
        assert!(text.contains("    addr 127.120.3.153 31000\n"), "{text}");
        assert!(text.contains(&format!(
            "  startcmd \"/usr/bin/he-lab power-sentinel --dir {} --host 3\"\n",
            dir.path().display()
        )));
        assert!(text.contains("user 2 true \"admin\" \"abc\""));
        assert!(text.contains("user 3 true \"lab\" \"def\""));
        let password = random_password();
        assert_eq!(password.len(), bmc::PASSWORD_MAX_BYTES);
        assert_ne!(password, random_password());
    }
}
