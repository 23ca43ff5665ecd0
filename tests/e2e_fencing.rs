//! Power fencing on a real lab (issue 17): `he-lab up --fencing` gives each
//! host a simulated BMC (OpenIPMI's `ipmi_sim`) wired to the lab's power,
//! and the agents a `fencing.conf` naming them; the real `fence_ipmilan`
//! powers hosts off through them. On the default timings (loop 2 s,
//! fence-after 6 s, lease-settle 8 s, lease-dead 40 s), three hosts:
//!
//! - the wiring: every agent starts with fencing on and `--check-config`
//!   passes; a power-off through a host's BMC powers the lab host off, a
//!   power-on powers it on, and the BMC reads the lab's own power;
//! - a crashed holder is fenced through its BMC and the engine is back on
//!   another host well before lease-dead, let alone lease-dead + settle; so
//!   is a hung one, which its BMC powers off for real;
//! - a holder whose BMC does not answer, or refuses the password, is waited
//!   out as without fencing (the lease expires by silence);
//! - a BMC that lies (reports the power off, leaves the host on) is not
//!   believed while the holder's engine goes on answering after the off:
//!   one engine throughout.
//!
//! Each engine payload's disk canary is checked (never two engines, epochs
//! never back), and so is every sample's ground truth. Under root the lab runs
//! with `--isolation netns` (the BMCs on their management network), else
//! `--isolation none`; the openipmi, fence-agents and ipmitool packages are
//! needed. Without them (or root's netns programs, as root) each test says
//! so on stderr and skips, or fails under `HE_REQUIRE_PRIVILEGED=1` (CI).

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hosted_engine::config::{ConfFile, FencingConf, read_password_file};
use hosted_engine::lab::bmc::find_program;
use hosted_engine::lab::cluster::{
    Fault, HostView, Isolation, Lab, LabOptions, Power, Profile, netns,
};
use hosted_engine::lab::plan::{Follower, Sample};

const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const HOSTED_ENGINE: &str = env!("CARGO_BIN_EXE_hosted-engine");
/// Bound on a cold start electing and booting the engine (the default
/// profile waits a host-alive timeout and a settle first).
const ENGINE_UP: Duration = Duration::from_secs(180);
/// Bound on a failover, the lease-dead path included (generous for a
/// loaded machine).
const RECOVERY: Duration = Duration::from_secs(150);
/// Bound on a lab host's power following its BMC.
const POWER: Duration = Duration::from_secs(15);
/// The supervisor's reason for a host powered off through its BMC.
const FENCED_REASON: &str = "fenced through its BMC";

/// Labs are heavy (three agents each) and the machine may be small: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// netns as root (the BMCs on a management network), none otherwise; `None`
/// when something needed is missing (said on stderr).
fn isolation() -> Option<Isolation> {
    if !common::bmc::programs_present() {
        return None;
    }
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        return Some(Isolation::None);
    }
    common::require(
        "the ip, unshare and mount programs (--isolation netns as root)",
        netns::available().is_ok(),
    )
    .then_some(Isolation::Netns)
}

/// A fresh three-host lab with fencing on the default timings.
fn lab_up(dir: &Path, isolation: Isolation) -> Lab {
    eprintln!("lab isolation: {}", isolation.as_str());
    Lab::up(
        &LabOptions::new(3, dir.join("lab"))
            .isolation(isolation)
            .profile(Profile::Default)
            .fencing(true)
            .binaries(LAB, AGENT),
    )
    .unwrap()
}

fn logs(lab: &Lab) -> String {
    common::lab::logs(lab, 6000)
}

/// `result`'s value, or a panic with the error and the lab's logs.
fn check<T>(lab: &Lab, result: anyhow::Result<T>) -> T {
    common::lab::check(lab, result, 6000)
}

fn fault(lab: &Lab, fault: Fault) {
    let said = check(lab, lab.fault(fault));
    eprintln!("{said}");
}

/// Another host than `host`.
fn other(host: u16) -> u16 {
    host % 3 + 1
}

/// The lease-dead of the default profile.
fn lease_dead() -> Duration {
    Duration::from_millis(Profile::Default.timings().lease_dead_ms)
}

/// Where each host's agent log ends now: what a later look reads from.
fn log_marks(lab: &Lab) -> Vec<usize> {
    lab.spec()
        .host_ids()
        .map(|id| common::lab::agent_log(lab, id).len())
        .collect()
}

/// Host `id`'s agent log since `marks`.
fn log_since(lab: &Lab, marks: &[usize], id: u16) -> String {
    let text = common::lab::agent_log(lab, id);
    let from = marks[usize::from(id - 1)].min(text.len());
    text.get(from..).unwrap_or_default().to_string()
}

/// The first host whose agent log since `marks` holds `words`.
fn logged(lab: &Lab, marks: &[usize], words: &str) -> Option<u16> {
    lab.spec()
        .host_ids()
        .find(|id| log_since(lab, marks, *id).contains(words))
}

/// Says on stderr every agent's log lines since `marks` about fencing and
/// the lease (what a reader of the test's output wants to see happen).
fn show_fencing(lab: &Lab, marks: &[usize]) {
    for id in lab.spec().host_ids() {
        for line in log_since(lab, marks, id)
            .lines()
            .filter(|l| l.contains("fenc") || l.contains("lease (epoch"))
        {
            eprintln!("  host{id}: {line}");
        }
    }
}

/// The supervisor's view of host `id` in a sample.
fn view(s: &Sample, id: u16) -> Option<HostView> {
    s.truth
        .view
        .as_ref()?
        .hosts
        .get(usize::from(id - 1))
        .cloned()
}

/// Exactly one healthy engine whose own agent says `EngineUp`, every host's
/// slot live: its host; the follower then asks another host.
fn engine_up(lab: &Lab, f: &mut Follower, limit: Duration) -> u16 {
    let sample = check(
        lab,
        f.until("one healthy engine, every host live", limit, |s| {
            s.healthy().is_some_and(|host| {
                lab.spec()
                    .host_ids()
                    .all(|id| s.host(id).is_some_and(|h| h.live))
                    && lab
                        .agent_status(host)
                        .is_ok_and(|st| st.agent.state == "EngineUp")
            })
        }),
    );
    let holder = sample.healthy().unwrap();
    f.observer = other(holder);
    holder
}

/// No sample's ground truth showed two engine VMs.
fn assert_one_engine_throughout(lab: &Lab, f: &Follower) {
    for s in f.samples() {
        assert!(
            s.truth.payload_count() <= 1,
            "two engines at {:.1} s:\n{}\n{}",
            s.at.as_secs_f64(),
            f.timeline(),
            logs(lab)
        );
    }
}

fn assert_canary_clean(lab: &Lab) {
    let report = check(lab, lab.canary_check());
    assert!(report.ok(), "{report}\n{}", logs(lab));
    assert!(report.lines > 0, "the payloads wrote no canary line");
}

/// Runs the real `fence_ipmilan` as host `from` (its namespaces, its
/// password file) on host `target`'s device of the lab's `fencing.conf`,
/// with `action`: its exit code and output.
fn fence_by_hand(lab: &Lab, from: u16, target: u16, action: &str) -> (Option<i32>, String) {
    let spec = lab.spec();
    let conf = FencingConf::load(&spec.fencing_conf())
        .unwrap()
        .in_secrets_dir(&spec.fencing_dir(from));
    let device = &conf.devices[&target];
    let password = read_password_file(device.password_file.as_ref().unwrap()).unwrap();
    let mut input: String = device
        .options
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    input.push_str(&format!(
        "password={}\naction={action}\n",
        password.expose()
    ));
    let agent = find_program("fence_ipmilan").unwrap();
    let mut command = lab.command(from, agent).unwrap();
    command
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning")
        .env_remove("PCMK_service")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    // fence_ipmilan bounds itself (power_timeout, 20 s by default).
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Every agent runs with fencing on, as `--check-config` says it would; the
/// BMCs answer from a host (`hosted-engine --check-fencing`); a power-off
/// through `bystander`'s BMC powers it off as a crash would, a power-on
/// boots it, and its BMC reads what the lab's power is.
fn wiring(lab: &Lab, f: &mut Follower, observer: u16, bystander: u16) {
    for id in lab.spec().host_ids() {
        let log = common::lab::agent_log(lab, id);
        assert!(
            log.contains("power fencing on: 2 fence device(s) of other hosts"),
            "host{id}: {log}"
        );
        let mut command = lab.command(id, AGENT).unwrap();
        command.arg("--check-config");
        let out = command.output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("power fencing: 2 fence device(s)"),
            "host{id}: --check-config: {}\n{said}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut command = lab.command(observer, HOSTED_ENGINE).unwrap();
    command.args(["--check-fencing", "--json"]);
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "--check-fencing: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, said) = fence_by_hand(lab, observer, bystander, "off");
    assert_eq!(code, Some(0), "fence_ipmilan off: {said}\n{}", logs(lab));
    let off = check(
        lab,
        f.until("the bystander powered off through its BMC", POWER, |s| {
            view(s, bystander).is_some_and(|v| {
                v.power == Power::Off
                    && v.off_reason.as_deref() == Some(FENCED_REASON)
                    && v.agent.is_none()
                    && v.bmc.is_some_and(|b| b.power == Power::Off)
            })
        }),
    );
    assert!(off.truth.hosts[usize::from(bystander - 1)].agent.is_none());
    let (code, said) = fence_by_hand(lab, observer, bystander, "status");
    assert_eq!(code, Some(2), "fence_ipmilan status: {said}");
    let (code, said) = fence_by_hand(lab, observer, bystander, "on");
    assert_eq!(code, Some(0), "fence_ipmilan on: {said}\n{}", logs(lab));
    check(
        lab,
        f.until("the bystander booted through its BMC", POWER, |s| {
            view(s, bystander).is_some_and(|v| {
                v.power == Power::On
                    && v.agent.is_some()
                    && v.bmc.is_some_and(|b| b.power == Power::On)
            })
        }),
    );
}

/// A BMC fault of a host.
type BmcFaultOf = fn(Option<u16>) -> Fault;

/// After `host-crash` of `holder`: its BMC reads off, as after a power loss.
fn crashed_and_off(lab: &Lab, s: &Sample, holder: u16) {
    let v = view(s, holder).unwrap();
    assert_eq!(v.off_reason.as_deref(), Some("host-crash"), "{v:?}");
    let bmc = v.bmc.unwrap();
    assert_eq!(bmc.power, Power::Off, "{bmc:?}\n{}", logs(lab));
}

/// Heals and waits until every host is back and one healthy engine runs.
fn heal_and_settle(lab: &Lab, f: &mut Follower) -> u16 {
    let said = check(lab, lab.heal());
    eprintln!("healed: {said}");
    engine_up(lab, f, RECOVERY)
}

/// On one lab: a host crash fenced through a working BMC (fast, the BMC
/// reading off already after the power loss), a hung holder powered off
/// through its BMC (fast), and host crashes not fenced through an
/// unreachable BMC nor one that refuses the password (the lease-dead path).
/// Between them the lab is healed: the host boots and the next case hits
/// the engine's new host.
#[test]
fn a_crashed_or_hung_holder_is_fenced_through_its_bmc_or_waited_out_when_the_bmc_fails() {
    let _serial = serial();
    let Some(isolation) = isolation() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path(), isolation);
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let holder = engine_up(&lab, &mut f, ENGINE_UP);
    let observer = other(holder);
    let bystander = other(observer);
    wiring(&lab, &mut f, observer, bystander);
    let holder = engine_up(&lab, &mut f, RECOVERY);

    // 1. A working BMC: the crashed holder is fenced, the lease taken at once.
    let marks = log_marks(&lab);
    f.restart();
    fault(&lab, Fault::HostCrash { host: Some(holder) });
    let back = check(
        &lab,
        f.until("the engine healthy on another host", RECOVERY, |s| {
            s.healthy().is_some_and(|h| h != holder)
        }),
    );
    let took = back.at;
    let new = back.healthy().unwrap();
    eprintln!(
        "host crash with fencing: the engine healthy on host{new} {:.1} s after host{holder} \
         crashed (lease-dead {} s + settle {} s without fencing)",
        took.as_secs_f64(),
        lease_dead().as_secs(),
        Profile::Default.timings().lease_settle_ms / 1000
    );
    show_fencing(&lab, &marks);
    crashed_and_off(&lab, &back, holder);
    let fenced = format!("host {holder} fenced: powered off and confirmed off by fence_ipmilan");
    let fencer = log_since(&lab, &marks, new);
    assert!(fencer.contains(&fenced), "host{new}:\n{fencer}");
    assert!(
        took < lease_dead(),
        "the failover took {:.1} s, not less than lease-dead:\n{}",
        took.as_secs_f64(),
        f.timeline()
    );
    assert_one_engine_throughout(&lab, &f);
    let holder = heal_and_settle(&lab, &mut f);

    // 1b. A hung holder, still powered: its agent stopped with no watchdog
    // to reset the host, its engine's service down. Its BMC powers it off
    // for real (the supervisor's "fenced through its BMC": agent and engine
    // VM killed), and the lease is taken at once.
    let marks = log_marks(&lab);
    f.restart();
    fault(
        &lab,
        Fault::AgentPauseUnfenced {
            secs: 300.0,
            host: Some(holder),
        },
    );
    fault(&lab, Fault::EngineStop { host: Some(holder) });
    let back = check(
        &lab,
        f.until("the engine healthy on another host", RECOVERY, |s| {
            s.healthy().is_some_and(|h| h != holder)
        }),
    );
    let took = back.at;
    let new = back.healthy().unwrap();
    eprintln!(
        "hung holder with fencing: the engine healthy on host{new} {:.1} s after host{holder} \
         hung",
        took.as_secs_f64()
    );
    show_fencing(&lab, &marks);
    let v = view(&back, holder).unwrap();
    assert_eq!(v.off_reason.as_deref(), Some(FENCED_REASON), "{v:?}");
    assert_eq!(v.bmc.map(|b| b.power), Some(Power::Off));
    assert!(back.truth.hosts[usize::from(holder - 1)].agent.is_none());
    let fencer = log_since(&lab, &marks, new);
    let fenced = format!("host {holder} fenced: powered off and confirmed off by fence_ipmilan");
    assert!(fencer.contains(&fenced), "host{new}:\n{fencer}");
    assert!(took < lease_dead(), "{}", f.timeline());
    assert_one_engine_throughout(&lab, &f);
    let mut holder = heal_and_settle(&lab, &mut f);

    // 2 and 3. A BMC that does not answer, one that refuses the password:
    // the fence fails and the lease expires by silence.
    let bmc_faults: [(BmcFaultOf, &str); 2] = [
        (
            |host| Fault::BmcUnreachable { host },
            "Connection timed out",
        ),
        (
            |host| Fault::BmcWrongCredentials { host },
            "Unable to obtain correct plug status",
        ),
    ];
    for (bmc_fault, failure) in bmc_faults {
        let bmc_fault = bmc_fault(Some(holder));
        let verb = bmc_fault.verb();
        fault(&lab, bmc_fault);
        let marks = log_marks(&lab);
        f.restart();
        fault(&lab, Fault::HostCrash { host: Some(holder) });
        let back = check(
            &lab,
            f.until("the engine healthy on another host", RECOVERY, |s| {
                s.healthy().is_some_and(|h| h != holder)
            }),
        );
        let took = back.at;
        eprintln!(
            "host crash with {verb}: the engine healthy on host{} {:.1} s after host{holder} \
             crashed",
            back.healthy().unwrap(),
            took.as_secs_f64()
        );
        show_fencing(&lab, &marks);
        crashed_and_off(&lab, &back, holder);
        let failed = format!("fencing host {holder} failed after");
        let ran_out = format!("host {holder}'s lease (epoch ");
        let fell_back = logged(&lab, &marks, &failed).or_else(|| {
            logged(&lab, &marks, &ran_out)
                .filter(|id| log_since(&lab, &marks, *id).contains("expired while its fence ran"))
        });
        let Some(fencer) = fell_back else {
            panic!("no host says the fence failed:\n{}", logs(&lab));
        };
        let fencer_log = log_since(&lab, &marks, fencer);
        assert!(
            fencer_log.contains(failure) || fencer_log.contains("expired while its fence ran"),
            "host{fencer}:\n{fencer_log}"
        );
        let fenced = format!("host {holder} fenced: powered off and confirmed off");
        assert_eq!(logged(&lab, &marks, &fenced), None, "{}", logs(&lab));
        assert!(
            took > lease_dead(),
            "the engine came back after {:.1} s, before the lease expired:\n{}",
            took.as_secs_f64(),
            f.timeline()
        );
        assert_one_engine_throughout(&lab, &f);
        holder = heal_and_settle(&lab, &mut f);
    }
    assert_canary_clean(&lab);
    let timeline = f.timeline();
    drop(f);
    eprintln!("timeline of the last case:\n{timeline}");
    lab.down().unwrap();
}

/// A lying BMC (`bmc-lies`: asked to power the host off, it says it did and
/// leaves the host running) on a holder that is alive but silent on the
/// storage with its engine running: its agent stopped (SIGSTOP) with no
/// watchdog to reset the host (`agent-pause-unfenced`).
///
/// A peer claims the lease to fence the silent holder (an answering engine
/// holds no claim back) and wins the settle. The lying BMC reports the power
/// off, but the engine goes on answering its health page: the peer waits
/// for it to stop (liveliness-timeout + 2 loops), does not believe the off,
/// takes nothing, and the holder's engine keeps running alone. Heal resumes
/// the holder, its lease overdue by then (it fences itself: its engine
/// powered off, the lease released), and the engine is healthy again on one
/// host.
#[test]
fn a_lying_bmc_is_not_believed_while_the_engine_answers() {
    let _serial = serial();
    let Some(isolation) = isolation() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path(), isolation);
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let holder = engine_up(&lab, &mut f, ENGINE_UP);
    let engine = f.samples().last().and_then(Sample::payload).unwrap();
    let marks = log_marks(&lab);
    fault(&lab, Fault::BmcLies { host: Some(holder) });
    f.restart();
    fault(
        &lab,
        Fault::AgentPauseUnfenced {
            secs: 300.0,
            host: Some(holder),
        },
    );
    let claim = format!("host {holder} holds the engine VM lease");
    let claimed = check(
        &lab,
        f.until(
            "a peer claiming the lease to fence the holder, its engine answering",
            RECOVERY,
            |s| s.payload() != Some(engine) || logged(&lab, &marks, &claim).is_some(),
        ),
    );
    assert_eq!(
        claimed.payload(),
        Some(engine),
        "the holder's engine stopped before a peer claimed:\n{}",
        f.timeline()
    );
    eprintln!(
        "a peer claimed the lease to fence host{holder} {:.1} s after the pause",
        claimed.at.as_secs_f64()
    );
    let waits = "but an engine answers its health page: the off is believed only once it stops";
    let off = check(
        &lab,
        f.until(
            "the lying BMC's off, the engine answering",
            RECOVERY,
            |_| logged(&lab, &marks, waits).is_some(),
        ),
    );
    let not_believed = "but an engine still answers its health page";
    let seen = check(
        &lab,
        f.until("the lying BMC's off not believed", RECOVERY, |_| {
            logged(&lab, &marks, not_believed).is_some()
        }),
    );
    let fencer = logged(&lab, &marks, not_believed).unwrap();
    eprintln!(
        "host{fencer} heard host{holder}'s BMC say off {:.1} s after the pause, and did not \
         believe it {:.1} s after the pause",
        off.at.as_secs_f64(),
        seen.at.as_secs_f64()
    );
    let sup = std::fs::read_to_string(lab.spec().supervisor_log()).unwrap();
    assert!(
        sup.contains(&format!(
            "host{holder}: its BMC was told to power it off and will say it did, but it lies"
        )),
        "{sup}"
    );
    let now = lab.ground_truth();
    assert_eq!(
        now.single_engine_host(),
        Some(holder),
        "the holder's engine stopped:\n{}",
        f.timeline()
    );
    let fenced = format!("host {holder} fenced: powered off and confirmed off");
    assert_eq!(logged(&lab, &marks, &fenced), None, "{}", logs(&lab));
    check(
        &lab,
        f.during("the holder's engine alone", Duration::from_secs(2), |s| {
            s.payload() == Some(engine)
        }),
    );
    assert_one_engine_throughout(&lab, &f);
    let started = Instant::now();
    let said = check(&lab, lab.heal());
    eprintln!("healed: {said}");
    let back = engine_up(&lab, &mut f, RECOVERY);
    eprintln!(
        "the engine healthy on host{back} {:.1} s after heal",
        started.elapsed().as_secs_f64()
    );
    show_fencing(&lab, &marks);
    assert_one_engine_throughout(&lab, &f);
    assert_canary_clean(&lab);
    let timeline = f.timeline();
    drop(f);
    eprintln!("timeline:\n{timeline}");
    lab.down().unwrap();
}
