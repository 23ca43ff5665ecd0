//! The test plan's eight cases end to end (`seed/hosted-engine-ha-test-plan.en.md`),
//! each on a fresh three-host lab with the fast profile: real agents, the engine
//! payload as the VM, real faults. Each test waits for a healthy engine, injects
//! its case's fault on the host running it, follows `hosted-engine --vm-status
//! --json` (run as a host the fault does not touch) next to the lab's ground
//! truth, and asserts the plan's expected result; then heals where the plan
//! restores, and checks the engine's disk canary (no two payloads wrote in
//! overlapping time, epochs never went back).
//!
//! `HE_E2E_FENCING=1` runs every case on labs with power fencing (`he-lab up
//! --fencing`: a simulated BMC per host, `fence_ipmilan`), as `.ci/run` does
//! once more after the plain run: the plan's results must not change, and
//! the canary must never see two engines.
//!
//! Isolation: `netns` as root (CI), `none` otherwise. As root without the `ip`,
//! `unshare` and `mount` programs the tests say so and fall back to `none`, or
//! fail under `HE_REQUIRE_PRIVILEGED=1`. Waits are bounded but generous: the
//! times themselves are `he-lab bench-failover`'s business, not the tests'.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hosted_engine::lab::cluster::{Fault, Isolation, Lab, LabOptions, netns, procs};
use hosted_engine::lab::plan::{Follower, Sample, after_leaving_engine_up, fault_for};

const LAB: &str = env!("CARGO_BIN_EXE_he-lab");
const AGENT: &str = env!("CARGO_BIN_EXE_ovirt-ha-agent");
const HOSTED_ENGINE: &str = env!("CARGO_BIN_EXE_hosted-engine");
/// Bound on a cold start electing and booting the engine.
const ENGINE_UP: Duration = Duration::from_secs(90);
/// Bound on a recovery (fast profile: seconds; generous for a loaded machine).
const RECOVERY: Duration = Duration::from_secs(90);
/// How long the tests watch that something does not happen (longer than the
/// fast profile's lease expiry plus settle: a takeover would show).
const QUIET: Duration = Duration::from_secs(10);
/// How long case 8's outage lasts: past the fast profile's bad-health timeout
/// (10 s), after which an engine that is merely unhealthy would be stopped.
const OUTAGE: Duration = Duration::from_secs(16);

/// Labs are heavy (three agents each) and the machine may be small: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn isolation() -> Isolation {
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root
        && common::require(
            "the ip, unshare and mount programs (--isolation netns as root)",
            netns::available().is_ok(),
        )
    {
        Isolation::Netns
    } else {
        Isolation::None
    }
}

/// Whether this run's labs fence (`HE_E2E_FENCING=1`).
fn fencing() -> bool {
    std::env::var("HE_E2E_FENCING").is_ok_and(|v| v == "1")
}

/// A fresh three-host lab (torn down when dropped, also on a failed assertion).
fn lab_up(dir: &Path) -> Lab {
    let isolation = isolation();
    let fencing = fencing();
    eprintln!(
        "lab isolation: {}, power fencing: {}",
        isolation.as_str(),
        if fencing { "on" } else { "off" }
    );
    Lab::up(
        &LabOptions::new(3, dir.join("lab"))
            .isolation(isolation)
            .fencing(fencing)
            .binaries(LAB, AGENT),
    )
    .unwrap()
}

fn logs(lab: &Lab) -> String {
    common::lab::logs(lab, 5000)
}

/// `result`'s value, or a panic with the error and the lab's logs.
fn check<T>(lab: &Lab, result: anyhow::Result<T>) -> T {
    common::lab::check(lab, result, 5000)
}

fn agent_log(lab: &Lab, host: u16) -> String {
    common::lab::agent_log(lab, host)
}

fn vm_log(lab: &Lab, host: u16) -> String {
    std::fs::read_to_string(lab.spec().vm_log(host)).unwrap_or_default()
}

/// Another host than `host` (the one to ask when `host` is faulted).
fn other(host: u16) -> u16 {
    host % 3 + 1
}

/// Waits for exactly one healthy engine whose own agent says `EngineUp` (a
/// fault during `EngineStarting` meets a different path of the state machine);
/// its host and the healthy sample.
fn engine_up(lab: &Lab, follower: &mut Follower) -> (u16, Sample) {
    let sample = check(
        lab,
        follower.until("one healthy engine", ENGINE_UP, |s| {
            s.healthy().is_some_and(|host| {
                lab.agent_status(host)
                    .is_ok_and(|st| st.agent.state == "EngineUp")
            })
        }),
    );
    (sample.healthy().unwrap(), sample)
}

/// Injects case `number`'s fault on `holder` and starts the follower's clock;
/// the time of the fault (Unix milliseconds), for the history.
fn inject(lab: &Lab, follower: &mut Follower, number: u8, holder: u16) -> i64 {
    let fault = fault_for(number, holder).unwrap();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    follower.restart();
    let said = check(lab, lab.fault(fault));
    eprintln!("case {number}: {said}");
    at
}

/// Issue 16: the cluster history explains the recovery in order. Read as an
/// operator would on host `observer` (`hosted-engine --history --json
/// --since=<the fault>`), each of `steps` (a host and words of one of its
/// events) is found after the previous one. The agents write their events
/// off their loops: the history is read again for a while until it tells.
fn assert_history_explains(lab: &Lab, observer: u16, since_ms: i64, steps: &[(u16, &str)]) {
    let read = || -> Vec<(u16, String)> {
        let Ok(mut command) = lab.command(observer, HOSTED_ENGINE) else {
            return Vec::new();
        };
        let since = format!("--since={}.{:03}", since_ms / 1000, since_ms % 1000);
        let Ok(out) = command.args(["--history", "--json", &since]).output() else {
            return Vec::new();
        };
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        json["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let host = e["host-id"].as_u64().unwrap_or(0) as u16;
                (host, e["text"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    let tells = |events: &[(u16, String)]| -> Result<(), usize> {
        let mut from = 0;
        for (index, (host, words)) in steps.iter().enumerate() {
            match events[from..]
                .iter()
                .position(|(h, text)| h == host && text.contains(words))
            {
                Some(at) => from += at + 1,
                None => return Err(index),
            }
        }
        Ok(())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = read();
        match tells(&events) {
            Ok(()) => return,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(missing) => {
                let text: Vec<String> = events
                    .iter()
                    .map(|(h, t)| format!("host {h}: {t}"))
                    .collect();
                panic!(
                    "the history does not tell {:?} after the steps before it:\n{}",
                    steps[missing],
                    text.join("\n")
                );
            }
        }
    }
}

/// The canary is clean, and the engine's boots are as expected.
fn assert_canary_clean(lab: &Lab) -> hosted_engine::lab::canary::CanaryReport {
    let report = check(lab, lab.canary_check());
    assert!(report.ok(), "{report}\n{}", logs(lab));
    assert!(report.lines > 0, "the payloads wrote no canary line");
    report
}

fn end(lab: Lab, follower_timeline: String) {
    eprintln!("timeline:\n{follower_timeline}");
    lab.down().unwrap();
}

/// Cases 1 and 2: the engine goes unhealthy while its VM runs; the plan's
/// status sequence (bad health, powering down, up on another host) and a
/// graceful shutdown of the old VM (its console's shutdown prompt).
fn unhealthy_engine_moves(number: u8) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let (_, old) = before.payload().unwrap();
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, number, holder);
    let end_sample = check(
        &lab,
        f.until("the engine healthy on another host", RECOVERY, |s| {
            s.healthy().is_some_and(|h| h != holder)
        }),
    );
    let new_host = end_sample.healthy().unwrap();
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[
            (holder, "-> EngineStop: engine unhealthy"),
            // The hand-over: the claim while the holder's VM shuts down,
            // the start only after its release.
            (new_host, "hands the engine VM lease over"),
            (holder, "engine VM lease released"),
            (new_host, "starting the engine VM"),
            (new_host, "-> EngineUp: engine healthy"),
        ],
    );
    check(
        &lab,
        f.seen_in_order(&[
            (
                "the holder's engine up with bad health (failed liveliness check)",
                &|s| {
                    s.host(holder).is_some_and(|h| {
                        h.vm == "up"
                            && h.health == "bad"
                            && h.reason.as_deref() == Some("failed liveliness check")
                    })
                },
            ),
            // The plan's `"vm": "up", "detail": "powering down"`: the guest
            // shuts down gracefully (the payload takes 1.5 s).
            ("the holder's engine VM powering down", &|s| {
                s.host(holder)
                    .is_some_and(|h| h.vm == "up" && h.detail.eq_ignore_ascii_case("powering down"))
            }),
            ("the holder's engine VM down", &|s| {
                s.host(holder).is_some_and(|h| h.vm != "up")
            }),
            ("the engine up and good on another host", &|s| {
                s.healthy().is_some_and(|h| h != holder)
            }),
        ]),
    );
    // The holder stopped its VM for bad health: gracefully (a shutdown prompt
    // on the VM's console), before any other host started one.
    let log = agent_log(&lab, holder);
    assert!(log.contains("-> EngineStop: engine unhealthy"), "{log}");
    assert!(vm_log(&lab, holder).contains("VM is shutting down!"));
    assert!(!procs::alive(old));
    for s in f.samples() {
        assert!(
            s.truth.payload_count() <= 1,
            "two engines:\n{}",
            f.timeline()
        );
    }
    check(&lab, lab.heal());
    let report = assert_canary_clean(&lab);
    let boots = &report.boots[report.boots.len() - 2..];
    assert_eq!(boots[0].host, format!("host{holder}"));
    assert!(boots[0].shut_down, "the old VM was not shut down: {report}");
    assert_eq!(boots[1].host, format!("host{new_host}"));
    assert!(boots[1].epoch > boots[0].epoch, "{report}");
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_1_network_failure_inside_the_engine_vm_restarts_it_on_another_host() {
    unhealthy_engine_moves(1);
}

#[test]
fn case_2_engine_service_crash_restarts_the_vm_on_another_host() {
    unhealthy_engine_moves(2);
}

#[test]
fn case_3_engine_vm_crash_restarts_it_on_the_same_host_first() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let (_, old) = before.payload().unwrap();
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, 3, holder);
    // The holder restarts it (EngineStart, EngineStarting), then EngineUp again.
    let end_sample = check(
        &lab,
        f.until(
            "a new engine VM, healthy",
            RECOVERY,
            after_leaving_engine_up(holder, |s| {
                s.healthy().is_some() && s.payload().is_some_and(|(_, p)| p != old)
            }),
        ),
    );
    // The same host, not another one (where the reference failed this case).
    assert_eq!(end_sample.healthy(), Some(holder), "{}", f.timeline());
    for s in f.samples() {
        assert!(
            s.truth.engine_hosts.iter().all(|&h| h == holder),
            "the engine VM started elsewhere:\n{}",
            f.timeline()
        );
    }
    let log = agent_log(&lab, holder);
    assert!(
        log.contains("engine VM crashed, restarting it on this host"),
        "{log}"
    );
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[
            (holder, "engine VM: Up -> Down"),
            (holder, "engine VM crashed, restarting it on this host"),
            (holder, "-> EngineUp: engine healthy"),
        ],
    );
    // The status shows it: the holder back up and good, the others waiting.
    let status = end_sample.status.as_ref().unwrap();
    for (id, host) in status {
        if *id != holder {
            assert_eq!(host.state, "EngineDown", "{}", f.timeline());
        }
    }
    let report = assert_canary_clean(&lab);
    let boots = &report.boots[report.boots.len() - 2..];
    assert!(boots.iter().all(|b| b.host == format!("host{holder}")));
    assert!(!boots[0].shut_down, "the killed VM wrote a shutdown line");
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_4_network_failure_of_the_engine_host_restarts_it_on_another_host() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let holder_score = before.host(holder).unwrap().score;
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, 4, holder);
    // A host without its network cannot keep the engine reachable: it moves.
    let moved = check(
        &lab,
        f.until("the engine healthy on another host", RECOVERY, |s| {
            s.healthy().is_some_and(|h| h != holder)
        }),
    );
    let new_host = moved.healthy().unwrap();
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[
            (holder, "gateway"),
            (new_host, "hands the engine VM lease over"),
            (holder, "engine VM lease released"),
            (new_host, "starting the engine VM"),
            (new_host, "-> EngineUp: engine healthy"),
        ],
    );
    check(
        &lab,
        f.seen_in_order(&[
            ("the holder's score down (its gateway fails)", &|s| {
                s.host(holder).is_some_and(|h| h.score < holder_score)
            }),
            ("no engine VM on the holder any more", &|s| {
                !s.truth.engine_hosts.contains(&holder)
            }),
            ("the engine up and good on another host", &|s| {
                s.healthy().is_some_and(|h| h != holder)
            }),
        ]),
    );
    for s in f.samples() {
        assert!(
            s.truth.payload_count() <= 1,
            "two engines:\n{}",
            f.timeline()
        );
    }
    // Heal: the host's network and score come back; the engine stays put.
    check(&lab, lab.heal());
    let new = f.samples().last().unwrap().payload().unwrap();
    check(
        &lab,
        f.until("the healed host's score back", RECOVERY, |s| {
            s.host(holder)
                .is_some_and(|h| h.live && h.score >= holder_score)
        }),
    );
    check(
        &lab,
        f.during("the engine where it is", Duration::from_secs(3), |s| {
            s.payload() == Some(new)
        }),
    );
    assert_canary_clean(&lab);
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_5_storage_failure_remounts_it_and_the_engine_keeps_running() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let payload = before.payload().unwrap();
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, 5, holder);
    // Never restarted, never interrupted: the same payload answers its health
    // page in every sample while the agent mounts the storage again.
    let same_engine = |s: &Sample| s.payload() == Some(payload) && s.health_page_ok();
    check(
        &lab,
        f.until("the storage mounted again", RECOVERY, |s| {
            assert!(same_engine(s), "the engine was interrupted at {:?}", s.at);
            s.truth.view.as_ref().is_some_and(|v| {
                v.hosts[usize::from(holder - 1)].storage == "mounted"
                    && agent_log(&lab, holder).contains("storage available again")
            })
        }),
    );
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[
            (holder, "storage failure"),
            (holder, "storage available again"),
        ],
    );
    // Past the lease expiry: no other host takes the engine over.
    check(
        &lab,
        f.during("the same healthy engine VM", QUIET, same_engine),
    );
    check(
        &lab,
        f.until("the holder's status EngineUp and good", RECOVERY, |s| {
            assert!(same_engine(s), "the engine was interrupted at {:?}", s.at);
            s.healthy() == Some(holder)
        }),
    );
    let report = assert_canary_clean(&lab);
    assert_eq!(
        report.boots.len(),
        1,
        "the engine VM booted again: {report}"
    );
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_6_host_crash_restarts_the_engine_on_another_host() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, _) = engine_up(&lab, &mut f);
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, 6, holder);
    let end_sample = check(
        &lab,
        f.until("the engine healthy on another host", RECOVERY, |s| {
            s.healthy().is_some_and(|h| h != holder)
        }),
    );
    let new_host = end_sample.healthy().unwrap();
    if fencing() {
        // Fenced through its BMC instead of waited out.
        let fenced = format!("host {holder} fenced: powered off and confirmed off");
        assert_history_explains(
            &lab,
            new_host,
            fault_ms,
            &[
                (new_host, "to fence it"),
                (new_host, &fenced),
                (new_host, "-> EngineUp: engine healthy"),
            ],
        );
    } else {
        let expired = format!("host {holder}'s engine VM lease (epoch ");
        assert_history_explains(
            &lab,
            new_host,
            fault_ms,
            &[
                (new_host, &expired),
                (new_host, "claiming the engine VM lease"),
                (new_host, "-> EngineUp: engine healthy"),
            ],
        );
    }
    check(
        &lab,
        f.seen_in_order(&[
            ("the crashed host's slot stale", &|s| {
                s.host(holder).is_some_and(|h| !h.live)
            }),
            ("the engine up and good on another host", &|s| {
                s.healthy().is_some_and(|h| h != holder)
            }),
        ]),
    );
    // Heal boots the host; its agent comes back and leaves the engine alone.
    let new = end_sample.payload().unwrap();
    check(&lab, lab.heal());
    check(
        &lab,
        f.until("the host back, its agent publishing", RECOVERY, |s| {
            assert_eq!(s.payload(), Some(new), "the engine moved");
            s.host(holder)
                .is_some_and(|h| h.live && h.state == "EngineDown")
        }),
    );
    check(
        &lab,
        f.during("the engine where it is", Duration::from_secs(3), |s| {
            s.payload() == Some(new)
        }),
    );
    let report = assert_canary_clean(&lab);
    let boots = &report.boots[report.boots.len() - 2..];
    assert!(
        !boots[0].shut_down,
        "the crashed host's VM shut down cleanly"
    );
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_7_agent_crash_leaves_the_engine_running() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let payload = before.payload().unwrap();
    let old_agent = before.truth.hosts[usize::from(holder - 1)].agent.unwrap();
    f.observer = other(holder);
    let fault_ms = inject(&lab, &mut f, 7, holder);
    let same_engine = |s: &Sample| s.payload() == Some(payload) && s.health_page_ok();
    check(
        &lab,
        f.until("a new agent on the holder", RECOVERY, |s| {
            assert!(same_engine(s), "the engine was interrupted at {:?}", s.at);
            s.truth.hosts[usize::from(holder - 1)]
                .agent
                .is_some_and(|a| a != old_agent)
        }),
    );
    // The new agent adopts the running engine.
    check(
        &lab,
        f.until("the holder's new agent EngineUp", RECOVERY, |s| {
            assert!(same_engine(s), "the engine was interrupted at {:?}", s.at);
            s.healthy() == Some(holder)
                && lab
                    .agent_status(holder)
                    .is_ok_and(|st| st.agent.state == "EngineUp")
        }),
    );
    check(
        &lab,
        f.during("the same healthy engine VM", QUIET, same_engine),
    );
    let log = agent_log(&lab, holder);
    assert_eq!(
        log.matches("ovirt-ha-agent starting").count(),
        2,
        "the agent did not restart once: {log}"
    );
    let started = format!("ovirt-ha-agent {} started", env!("CARGO_PKG_VERSION"));
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[(holder, &started), (holder, "-> EngineUp")],
    );
    let report = assert_canary_clean(&lab);
    assert_eq!(
        report.boots.len(),
        1,
        "the engine VM booted again: {report}"
    );
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}

#[test]
fn case_8_all_hosts_lose_their_network_and_the_engine_is_not_restarted() {
    all_hosts_lose_their_network(None);
}

/// Case 8 while the other hosts publish late: their agents stall for 2.6 s
/// (a loaded host, a slow storage write) just as the network goes, so the
/// holder sees its own score fall while theirs still read as before the fault.
/// A score lead read from such stale slots is no better host: the engine must
/// stay. The core confirms a lead only on publishes a peer made after the lead
/// was first seen, and while its own gateway fails it moves the engine only
/// to a host whose slot shows a working gateway (a lead counted in its own
/// loops made the holder stop the engine here, then restart it on itself).
#[test]
fn case_8_with_lagging_peers_the_engine_is_not_restarted() {
    all_hosts_lose_their_network(Some(Duration::from_millis(2_600)));
}

/// Case 8; `peers_stall`: the other hosts' agents are stopped this long at the
/// fault (shorter than the fast profile's host-alive timeout, 3 s).
fn all_hosts_lose_their_network(peers_stall: Option<Duration>) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_up(dir.path());
    let mut f = Follower::new(&lab, HOSTED_ENGINE, 1);
    let (holder, before) = engine_up(&lab, &mut f);
    let payload = before.payload().unwrap();
    let scores: Vec<(u16, u64)> = before
        .status
        .as_ref()
        .unwrap()
        .values()
        .map(|h| (h.id, h.score))
        .collect();
    f.observer = other(holder);
    if let Some(stall) = peers_stall {
        for host in (1..=3).filter(|&h| h != holder) {
            check(
                &lab,
                lab.fault(Fault::AgentPause {
                    secs: stall.as_secs_f64(),
                    host: Some(host),
                }),
            );
        }
    }
    let fault_ms = inject(&lab, &mut f, 8, holder);
    // Past the bad-health timeout: the engine is unhealthy (no network), and
    // yet neither stopped nor started anywhere else.
    let not_stopped = |s: &Sample| {
        s.payload() == Some(payload)
            && s.host(holder)
                .is_none_or(|h| !matches!(h.state.as_str(), "EngineStop" | "EngineForceStop"))
    };
    check(
        &lab,
        f.during("the same engine VM running", OUTAGE, not_stopped),
    );
    check(
        &lab,
        f.seen_in_order(&[
            ("every host's score down", &|s| {
                scores
                    .iter()
                    .all(|(id, score)| s.host(*id).is_some_and(|h| h.score < *score))
            }),
            ("the holder's engine up with bad health", &|s| {
                s.host(holder)
                    .is_some_and(|h| h.vm == "up" && h.health == "bad")
            }),
        ]),
    );
    let log = agent_log(&lab, holder);
    assert!(
        log.contains("every live host's gateway test fails: not stopping the engine"),
        "{log}"
    );
    assert_history_explains(
        &lab,
        other(holder),
        fault_ms,
        &[(
            holder,
            "every live host's gateway test fails: not stopping the engine",
        )],
    );
    // Heal: the engine is healthy again where it ran, and stays there while
    // the hosts' gateways and scores come back (they do not all recover in the
    // same loop: a transient score lead must not move the engine).
    check(&lab, lab.heal());
    check(
        &lab,
        f.until("the engine healthy again after heal", RECOVERY, |s| {
            s.healthy() == Some(holder)
        }),
    );
    check(
        &lab,
        f.until("every host's gateway back", RECOVERY, |s| {
            scores
                .iter()
                .all(|(id, _)| s.host(*id).is_some_and(|h| h.gateway_ok()))
        }),
    );
    check(&lab, f.during("the same engine VM", QUIET, not_stopped));
    for s in f.samples() {
        assert_eq!(
            s.payload(),
            Some(payload),
            "the engine VM was restarted:\n{}\n{}",
            f.timeline(),
            logs(&lab)
        );
    }
    let report = assert_canary_clean(&lab);
    assert_eq!(
        report.boots.len(),
        1,
        "the engine VM booted again: {report}"
    );
    let timeline = f.timeline();
    drop(f);
    end(lab, timeline);
}
