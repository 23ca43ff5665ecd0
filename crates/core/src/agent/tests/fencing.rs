//! Power fencing in the agent (`crate::lease`, "Power fencing"): host 2's
//! core, with fencing on, finds the holder silent, claims the lease to fence
//! it, hands the fence out, and acts on the shell's report; a holder keeps
//! its lease against a claim made to fence it; a fenced host that comes back
//! drops its lease.
//!
//! The fencing rigs run on the default timings (2 s loops, lease-dead 40 s,
//! settle 8 s, fence-after 10 s): host 1 holds epoch 4 with its engine up
//! and stops publishing after t=12, so its lease expires at t=52.

use std::{string::ToString, vec::Vec};

use super::*;
use crate::fence::FenceOutcome;

/// The rigs' fence-after (longer than the default, so that the timeline
/// below has room: claim at 22, order at 32).
const FENCE_AFTER_MS: u64 = 10_000;

/// Host 1's hold, the one fenced.
const HOLDER: FenceTarget = FenceTarget { host: 1, epoch: 4 };
/// Our claim to fence it.
const ORDER: FenceOrder = FenceOrder {
    target: HOLDER,
    epoch: 5,
};
const FENCE_AGENT: &str = "fence_ipmilan";
/// When the fence is handed out (the claim made at 22 settles at 32).
const ORDERED_AT: u64 = 32;
/// When host 1's lease expires by silence: its last change seen at 12.
const LEASE_DEAD_AT: u64 = 52;

/// Fencing on, host 1's device ours, each fence call bounded by `timeout_ms`.
fn fencing(timeout_ms: u64) -> Option<FenceConf> {
    Some(FenceConf {
        fence_after_ms: FENCE_AFTER_MS,
        timeout_ms,
        devices: [1].into(),
    })
}

/// Host 2 down with a full history at t=14; host 1 holds epoch 4 with its
/// engine up, but no engine answers its health page (here), and host 1's
/// heartbeat stops from now on (last change seen at 12).
fn silent_holder(fencing: Option<FenceConf>) -> Rig {
    silent_holder_on(fencing, Timings::default())
}

/// [`silent_holder`] on `timings`.
fn silent_holder_on(fencing: Option<FenceConf>, timings: Timings) -> Rig {
    let mut cfg = CoreConfig::new(ME, "host2", timings);
    cfg.fencing = fencing;
    let mut rig = Rig::new(cfg);
    rig.peer(1).lease = lease(LeaseKind::Held, 4);
    rig.peer(1).status = up_good();
    rig.peer(1).seq = Some(100);
    rig.sick();
    rig.run(7); // 0..12
    assert_eq!(rig.agent.state(), S::EngineDown);
    assert_eq!(rig.now, Millis::from_secs(14));
    rig.peer(1).beating = false;
    rig
}

/// The rig of [`silent_holder`] run (and checked) up to the fence order at
/// [`ORDERED_AT`]; the next loop is at 34.
fn fence_ordered(timeout_ms: u64) -> Rig {
    order_fence_of(silent_holder(fencing(timeout_ms)))
}

/// A [`silent_holder`] rig run (and checked) up to the fence order.
fn order_fence_of(mut rig: Rig) -> Rig {
    for out in rig.run(4) {
        // 14..20: host 1 silent for less than fence-after.
        assert_eq!(rig.agent.state(), S::EngineDown, "{:?}", out.log);
        assert_eq!(out.decision.fence, None);
    }
    let out = rig.step(); // 22: silent for 10 s
    assert_eq!(
        out.decision.transitions,
        [(S::EngineDown, S::EngineStart)],
        "{:?}",
        out.log
    );
    assert!(out.logged(
        "host 1 holds the engine VM lease (epoch 4) but has been silent for 10 s: claiming \
         the lease (epoch 5) to fence it"
    ));
    assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
    assert_eq!(out.decision.extra.get(FENCE_TARGET_KEY), Some("1/4"));
    assert_eq!(out.decision.fence, None);
    for out in rig.run(4) {
        // 24..30: settling (written at 22.05, settle 8 s).
        assert_eq!(rig.agent.state(), S::EngineStart, "{:?}", out.log);
        assert_eq!(out.decision.fence, None);
        assert_eq!(out.actions, NONE);
    }
    let out = rig.step(); // 32
    assert_eq!(out.decision.fence, Some(ORDER), "{:?}", out.log);
    assert!(
        out.logged("won the claim to fence host 1 (its lease epoch 4; ours 5): powering it off")
    );
    assert_eq!(rig.agent.state(), S::EngineStart);
    assert!(matches!(
        rig.agent.lease().phase(),
        Phase::Evicting {
            epoch: 5,
            target: HOLDER,
            ..
        }
    ));
    // Still a claim (a block) to every other host, naming its target.
    assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
    assert_eq!(out.decision.extra.get(FENCE_TARGET_KEY), Some("1/4"));
    assert_eq!(out.actions, NONE);
    assert_eq!(rig.now, Millis::from_secs(ORDERED_AT + 2));
    rig
}

fn report(outcome: FenceOutcome, took_ms: u64) -> Option<FenceReport> {
    Some(FenceReport {
        target: HOLDER,
        outcome,
        took_ms,
        agent: FENCE_AGENT.into(),
    })
}

/// The next loop's observation, with `area` read and the rig's fence report.
fn observation<'a>(rig: &mut Rig, area: &'a Area) -> Observation<'a> {
    Observation {
        now: rig.now,
        wall_unix: WALL_UNIX,
        utc_offset_secs: 0,
        area: Some(area),
        local_vm: rig.vm,
        sensors: rig.sensors.clone(),
        local_maintenance: false,
        requests: Vec::new(),
        results: Vec::new(),
        fence: rig.fence.take(),
    }
}

fn fence_keys(out: &Outcome) -> [Option<&str>; 3] {
    let extra = &out.decision.extra;
    [
        extra.get(FENCE_TARGET_KEY),
        extra.get(FENCED_KEY),
        extra.get(FENCE_TRIED_KEY),
    ]
}

/// The claim given up after the fence at 34 did not count: back down, `none`
/// published under the claim's epoch, host 1's epoch published as tried.
fn assert_given_up(rig: &Rig, out: &Outcome) {
    assert_eq!(rig.agent.state(), S::EngineDown, "{:?}", out.log);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle);
    assert!(out.logged("EngineStart -> EngineDown: engine VM lease held by host 1 (epoch 4)"));
    assert_eq!(out.actions, NONE);
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 5));
    assert_eq!(fence_keys(out), [None, None, Some("1/4")]);
}

/// From a fence given up at 34 on: no second fence of host 1's epoch, no
/// claim until its lease expires by silence, then an ordinary claim (epoch
/// 6) and a start under it.
fn assert_never_fenced_again(rig: &mut Rig) {
    while rig.now < Millis::from_secs(LEASE_DEAD_AT) {
        let out = rig.step();
        let ctx = format!("at {:?}: {:?}", out.decision.record.host_ts, out.log);
        assert_eq!(rig.agent.state(), S::EngineDown, "{ctx}");
        assert_eq!(out.decision.fence, None, "{ctx}");
        assert_eq!(out.published_lease(), lease(LeaseKind::None, 5), "{ctx}");
        assert_eq!(fence_keys(&out), [None, None, Some("1/4")], "{ctx}");
    }
    let out = rig.step(); // 52
    assert!(out.logged("host 1's engine VM lease (epoch 4) expired after 40 s of silence"));
    assert!(
        out.logged("claiming the engine VM lease (epoch 6)"),
        "{:?}",
        out.log
    );
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
    let outs = rig.run(5); // 54..62
    assert!(outs.iter().all(|o| o.decision.fence.is_none()));
    let actions: Vec<_> = outs.into_iter().map(|o| o.actions).collect();
    assert_eq!(
        actions,
        [vec![], vec![], vec![], vec![], vec![start(false, 6)]]
    );
}

#[test]
fn a_silent_holder_is_fenced_and_its_lease_taken_at_once() {
    let mut rig = fence_ordered(5_000);
    rig.fence = report(FenceOutcome::Off, 1_500);
    // The start waits for a publish of `held` that reads back intact.
    let mut lost = rig.clone();
    lost.publish_ok = false;
    assert_eq!(lost.step().actions, NONE);
    let mut unread = rig.clone();
    let area = unread.area();
    let obs = observation(&mut unread, &area);
    let decision = unread.agent.step(&obs);
    assert_eq!(decision.extra.lease(), Ok(Some(lease(LeaseKind::Held, 5))));
    let now = unread.now;
    assert_eq!(unread.agent.after_publish(now, now + WRITE_MS, true), NONE);
    assert!(unread.agent.wants_readback());

    let out = rig.step(); // 34
    assert!(
        out.logged(
            "host 1 fenced: powered off and confirmed off by fence_ipmilan in 1.5 s; taking \
             the engine VM lease (epoch 5) without waiting for lease-dead"
        ),
        "{:?}",
        out.log
    );
    assert!(out.logged("EngineStart -> EngineStarting: lease held (epoch 5)"));
    assert_eq!(out.actions, [start(false, 5)]);
    assert_eq!(rig.agent.state(), S::EngineStarting);
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 5 });
    assert_eq!(out.published_lease(), lease(LeaseKind::Held, 5));
    assert_eq!(out.decision.fence, None);
    // The proof, and the epoch never to be fenced again.
    let proof = format!("1/4/{WALL_UNIX}/fence_ipmilan off+status");
    assert_eq!(fence_keys(&out), [None, Some(proof.as_str()), Some("1/4")]);
    let parsed = FenceProof::parse(&proof).expect("a proof");
    assert_eq!(parsed.target, HOLDER);

    // The proof stays published while host 1 stays silent (past its
    // lease-dead too)...
    rig.vm = present(VmManagerStatus::PoweringUp);
    for out in rig.run(12) {
        // 36..58
        assert_eq!(fence_keys(&out)[1], Some(proof.as_str()), "{:?}", out.log);
        assert_eq!(out.published_lease(), lease(LeaseKind::Held, 5));
    }
    // ...and goes once it publishes again.
    rig.peer(1).beating = true;
    let out = rig.step();
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")], "{:?}", out.log);
    assert_eq!(out.published_lease(), lease(LeaseKind::Held, 5));
}

#[test]
fn a_failed_fence_gives_the_claim_up_and_is_never_retried() {
    let mut rig = fence_ordered(5_000);
    rig.fence = report(FenceOutcome::Failed("no route to the BMC".into()), 5_000);
    let out = rig.step(); // 34
    assert!(
        out.logged(
            "fencing host 1 failed after 5 s: no route to the BMC; host 1's lease (epoch 4) \
             expires by silence (lease-dead), and no host fences that epoch again"
        ),
        "{:?}",
        out.log
    );
    assert_given_up(&rig, &out);
    assert_never_fenced_again(&mut rig);
}

/// An engine that answers its health page holds no claim back (a crashed
/// host's address answers no check only after `liveliness_timeout`), but an
/// off reported while it answers is believed only once it stops answering.
#[test]
fn an_off_reported_while_an_engine_answers_is_believed_once_it_stops_answering() {
    let mut rig = silent_holder(fencing(5_000));
    rig.sensors.liveliness_ok = Some(true);
    let mut rig = order_fence_of(rig);
    rig.fence = report(FenceOutcome::Off, 1_000);
    let out = rig.step(); // 34
    assert!(
        out.logged(
            "fence_ipmilan says host 1 is off, but an engine answers its health page: the off \
             is believed only once it stops answering, within 14 s"
        ),
        "{:?}",
        out.log
    );
    for out in [out, rig.step()] {
        // 34, 36: still waiting, still a claim (a block) to every other host.
        assert!(!out.logged("host 1 fenced:"), "{:?}", out.log);
        assert!(matches!(rig.agent.lease().phase(), Phase::Evicting { .. }));
        assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
        assert_eq!(out.actions, NONE);
    }
    rig.sick();
    let out = rig.step(); // 38
    assert!(
        out.logged(
            "the engine stopped answering its health page 4 s after fence_ipmilan said host 1 \
             is off: the off is believed"
        ),
        "{:?}",
        out.log
    );
    assert!(out.logged(
        "host 1 fenced: powered off and confirmed off by fence_ipmilan in 1 s; taking the \
         engine VM lease (epoch 5) without waiting for lease-dead"
    ));
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 5 });
    assert_eq!(out.published_lease(), lease(LeaseKind::Held, 5));
}

/// An engine that goes on answering after the off, for the liveliness
/// timeout and two loops (here 4 s + 2 x 2 s), means the device lied or
/// fenced the wrong host: the off is not believed.
#[test]
fn an_off_is_not_believed_while_an_engine_goes_on_answering() {
    let timings = Timings {
        liveliness_timeout_ms: 4_000,
        ..Timings::default()
    };
    let mut rig = silent_holder_on(fencing(5_000), timings);
    rig.sensors.liveliness_ok = Some(true);
    let mut rig = order_fence_of(rig);
    rig.fence = report(FenceOutcome::Off, 1_000);
    let mut outs = vec![rig.step()]; // 34
    outs.extend(rig.run(4)); // 36..42: up to 8 s after the off
    for out in &outs {
        assert!(matches!(rig.agent.lease().phase(), Phase::Evicting { .. }));
        assert!(!out.logged("host 1 fenced:"), "{:?}", out.log);
        assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
    }
    let out = rig.step(); // 44
    assert!(
        out.logged(
            "fence_ipmilan said host 1 is off, but an engine still answers its health page 8 s \
             later: the off is not believed; host 1's lease (epoch 4) expires by silence"
        ),
        "{:?}",
        out.log
    );
    assert_given_up(&rig, &out);
    rig.sick();
    assert_never_fenced_again(&mut rig);
}

/// A holder that publishes through a claim made to fence it is slow, not
/// dead: while an engine answers its health page it is not claimed again
/// (slow storage would otherwise bring a claim every few loops), and once
/// none answers, it is.
#[test]
fn a_holder_that_kept_its_lease_is_claimed_again_only_while_no_engine_answers() {
    let mut rig = silent_holder(fencing(5_000));
    rig.sensors.liveliness_ok = Some(true);
    rig.run(4); // 14..20
    let out = rig.step(); // 22
    assert!(
        out.logged("claiming the lease (epoch 5) to fence it"),
        "{:?}",
        out.log
    );
    rig.peer(1).beating = true;
    rig.step(); // 24: host 1 publishes, then falls silent again
    rig.peer(1).beating = false;
    let mut outs = rig.run(3); // 26..30
    let out = rig.step(); // 32
    assert!(
        out.logged("EngineStart -> EngineDown: lost the engine VM lease: host 1 holds the lease"),
        "{:?}",
        out.log
    );
    assert_eq!(out.decision.fence, None);
    outs.extend(rig.run(8)); // 34..48: silent for up to 24 s, an engine answers
    for out in &outs {
        assert!(!out.logged("to fence it"), "{:?}", out.log);
        assert_eq!(out.decision.fence, None);
    }
    assert_eq!(rig.agent.state(), S::EngineDown);
    rig.sick();
    let out = rig.step(); // 50
    assert!(
        out.logged(
            "host 1 holds the engine VM lease (epoch 4) but has been silent for 26 s: claiming \
             the lease (epoch 6) to fence it"
        ),
        "{:?}",
        out.log
    );
}

#[test]
fn an_off_of_a_holder_that_published_since_the_settle_does_not_count() {
    let mut rig = fence_ordered(5_000);
    // Host 1 publishes one more time (host-ts moves), then is silent again.
    rig.peer(1).beating = true;
    rig.step(); // 34
    rig.peer(1).beating = false;
    rig.fence = report(FenceOutcome::Off, 3_000);
    let out = rig.step(); // 36
    assert!(
        out.logged(
            "host 1 published while it was being fenced: the fence does not count, its lease \
             (epoch 4) expires by silence"
        ),
        "{:?}",
        out.log
    );
    assert_eq!(rig.agent.state(), S::EngineDown);
    assert_eq!(out.actions, NONE);
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 5));
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
}

#[test]
fn a_fence_that_does_not_end_within_its_bound_is_given_up() {
    let timeout_ms = 5_000;
    let bound = FenceConf::whole_fence_ms(timeout_ms) + Timings::default().loop_ms;
    let mut rig = fence_ordered(timeout_ms);
    let ordered = Millis::from_secs(ORDERED_AT);
    while rig.now.since(ordered) <= bound {
        let out = rig.step(); // 34..44
        assert!(
            matches!(rig.agent.lease().phase(), Phase::Evicting { .. }),
            "{:?}",
            out.log
        );
        assert_eq!(rig.agent.state(), S::EngineStart);
        assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
        assert_eq!(out.decision.fence, None, "one order only");
    }
    assert!(rig.now < Millis::from_secs(LEASE_DEAD_AT));
    let out = rig.step(); // 46
    let why = format!(
        "fencing host 1 did not end within {} s; host 1's lease (epoch 4) expires by silence",
        bound / 1000
    );
    assert!(out.logged(&why), "{:?}", out.log);
    assert_eq!(rig.agent.state(), S::EngineDown);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle);
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 5));
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
    // Its report, late, changes nothing.
    rig.fence = report(FenceOutcome::Off, 14_000);
    let out = rig.step(); // 48
    assert!(out.logged(
        "a fence of host 1 ended after we stopped waiting for it (confirmed off): ignored"
    ));
    assert_eq!(rig.agent.state(), S::EngineDown);
    assert_eq!(out.actions, NONE);
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
}

#[test]
fn a_fence_that_outlasts_the_holders_lease_ends_in_an_ordinary_win() {
    let mut rig = fence_ordered(30_000);
    while rig.now < Millis::from_secs(LEASE_DEAD_AT) {
        let out = rig.step(); // 34..50
        assert!(matches!(rig.agent.lease().phase(), Phase::Evicting { .. }));
        assert_eq!(out.actions, NONE);
    }
    let out = rig.step(); // 52
    assert!(
        out.logged(
            "host 1's lease (epoch 4) expired while its fence ran: our claim (epoch 5) wins as \
             an ordinary one"
        ),
        "{:?}",
        out.log
    );
    assert_eq!(out.actions, [start(false, 5)]);
    assert_eq!(rig.agent.state(), S::EngineStarting);
    assert_eq!(out.published_lease(), lease(LeaseKind::Held, 5));
    // No proof: nothing was confirmed off.
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
    rig.vm = present(VmManagerStatus::PoweringUp);
    rig.fence = report(FenceOutcome::Off, 22_000);
    let out = rig.step(); // 54
    assert!(out.logged("a fence of host 1 ended after we stopped waiting for it"));
    assert_eq!(fence_keys(&out), [None, None, Some("1/4")]);
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 5 });
}

/// Without fencing, or without host 1's device, the silent holder is waited
/// out as before: a claim (epoch 5) once its lease expires at 52, a start at
/// 62, never a fence order or a fencing key.
#[test]
fn without_fencing_a_silent_holder_is_waited_out() {
    let cases: [(&str, Option<FenceConf>); 2] = [
        ("no fencing", None),
        (
            "not our device",
            Some(FenceConf {
                devices: [3].into(),
                ..fencing(5_000).unwrap()
            }),
        ),
    ];
    for (case, conf) in cases {
        let mut rig = silent_holder(conf);
        let mut outs = Vec::new();
        while rig.now < Millis::from_secs(LEASE_DEAD_AT) {
            let out = rig.step(); // 14..50
            assert_eq!(rig.agent.state(), S::EngineDown, "{case}: {:?}", out.log);
            outs.push(out);
        }
        let out = rig.step(); // 52
        assert!(
            out.logged("claiming the engine VM lease (epoch 5)"),
            "{case}: {:?}",
            out.log
        );
        outs.push(out);
        outs.extend(rig.run(5)); // 54..62
        assert_eq!(
            outs.last().unwrap().actions,
            [start(false, 5)],
            "{case}: {:?}",
            outs.last().unwrap().log
        );
        for out in &outs {
            assert_eq!(out.decision.fence, None, "{case}");
            assert_eq!(fence_keys(out), [None, None, None], "{case}");
            assert!(!out.logged("fence"), "{case}: {:?}", out.log);
        }
    }
}

/// Host 2 held epoch 1 under its running engine (reference timings) and its
/// agent restarts; host 3 publishes `proof` and holds `held`.
fn restarted_under(proof: &str, held: LeaseState) -> (Rig, Outcome) {
    let mut rig = reach(At::Up);
    rig.restart();
    rig.peer(3).lease = held;
    rig.peer(3).extra = vec![(FENCED_KEY, proof.to_string())];
    let out = rig.step();
    (rig, out)
}

#[test]
fn a_restarted_agent_fenced_at_its_epoch_drops_its_lease() {
    let fenced = "host 3 fenced this host (our lease epoch 1; powered off by fence_ipmilan, \
                  confirmed at Unix time 1700000000): that lease is gone";
    let proof = format!("2/1/{WALL_UNIX}/fence_ipmilan off+status");
    // As the fencer publishes it, holding the next epoch: powered off.
    let (_, out) = restarted_under(&proof, lease(LeaseKind::Held, 2));
    assert!(out.logged(fenced), "{:?}", out.log);
    assert!(!out.logged("keeping the lease"));
    assert_eq!(out.actions, POWEROFF);
    assert!(out.logged("engine VM runs here while host 3 holds the lease"));
    // The proof alone (its writer holds nothing any more) is enough: the
    // lease of epoch 1 is not kept, though a VM seems to run here.
    let (mut rig, out) = restarted_under(&proof, lease(LeaseKind::None, 2));
    assert!(out.logged(fenced), "{:?}", out.log);
    assert_eq!(out.log.iter().filter(|l| l.contains(fenced)).count(), 1);
    assert!(!out.logged("keeping the lease"));
    assert_ne!(rig.agent.lease().phase(), Phase::Holding { epoch: 1 });
    assert_ne!(out.published_lease(), lease(LeaseKind::Held, 1));
    // Logged once.
    for out in rig.run(3) {
        assert!(!out.logged("fenced this host"), "{:?}", out.log);
        assert_ne!(out.published_lease(), lease(LeaseKind::Held, 1));
    }
    // A proof of an older epoch of ours says nothing about this lease.
    let old = format!("2/0/{WALL_UNIX}/fence_ipmilan off+status");
    let (rig, out) = restarted_under(&old, lease(LeaseKind::None, 1));
    assert!(out.logged("engine VM runs here: keeping the lease (epoch 1)"));
    assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch: 1 });
    assert_eq!(out.published_lease(), lease(LeaseKind::Held, 1));
}

#[test]
fn a_holder_keeps_its_lease_against_a_claim_made_to_fence_it() {
    // Host 3 claims epoch 2 to fence us (we publish: it will lose its settle).
    let mut rig = reach(At::Up);
    rig.peer(3).lease = lease(LeaseKind::Claim, 2);
    rig.peer(3).extra = vec![(FENCE_TARGET_KEY, "2/1".into())];
    for out in rig.run(3) {
        assert_eq!(rig.agent.state(), S::EngineUp, "{:?}", out.log);
        assert_eq!(out.actions, NONE);
        assert_eq!(out.published_lease(), lease(LeaseKind::Held, 1));
    }
    // An ordinary claim of a higher epoch supersedes us, and so does one
    // made to fence another epoch.
    for target in [None, Some("2/0")] {
        let mut rig = reach(At::Up);
        rig.peer(3).lease = lease(LeaseKind::Claim, 2);
        if let Some(target) = target {
            rig.peer(3).extra = vec![(FENCE_TARGET_KEY, target.into())];
        }
        let out = rig.step();
        assert!(
            out.logged("lease epoch 1 superseded by host 3 (epoch 2)"),
            "{target:?}: {:?}",
            out.log
        );
        assert_eq!(out.actions, POWEROFF, "{target:?}");
    }
}

/// Host 3 tried host 1's epoch 3 long ago and still publishes it as tried;
/// our fence of epoch 4 fails. No second fence of epoch 4 may follow.
#[test]
fn an_older_tried_epoch_published_by_a_peer_does_not_bring_a_second_fence() {
    let mut rig = fence_ordered(5_000);
    rig.peer(3).extra = vec![(FENCE_TRIED_KEY, "1/3".into())];
    rig.fence = report(FenceOutcome::Failed("no route to the BMC".into()), 5_000);
    let out = rig.step(); // 34
    assert_given_up(&rig, &out);
    assert_never_fenced_again(&mut rig);
}
